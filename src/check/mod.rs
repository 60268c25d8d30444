//! `imgx build --check`: rebuild steps that are already realised and
//! compare each new output with the registered one.
//!
//! - `driver`: runs a check over the chosen steps.
//! - `order`: the steps to check, in dependency order.
//! - `rebuild`: one step rebuilt into a scratch folder, never registered.
//! - `vary`: what a check may vary that a build must not depend on.
//! - `explain`: how two outputs differ, in the terms of what they are.
//! - `report`: results for the terminal and as JSON events.
//!
//! Each step is rebuilt from the *registered* outputs of its inputs, so a
//! step is checked on its own: a difference is attributed to the first
//! step (in dependency order) whose builder gave other bytes, not to every
//! step downstream of it.

pub mod driver;
pub mod explain;
pub mod order;
pub mod rebuild;
pub mod report;
pub mod vary;
