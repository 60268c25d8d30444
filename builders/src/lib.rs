//! The step kinds of imgx.
//!
//! Each step kind (fetch, partition, run, convert, file) is a builder that
//! turns the realised inputs of a step into its output inside a scratch
//! folder of the store. Builders arrive with the store and step graph.
