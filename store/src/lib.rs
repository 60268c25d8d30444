//! The content-addressed store of imgx.
//!
//! Objects (files and directory trees) are named by their blake3 hash and
//! described in SQLite metadata. This crate knows nothing about the Nix
//! language; it only stores, hashes and copies bytes. It is filled in by the
//! store and scheduler work that builds on the evaluator.
