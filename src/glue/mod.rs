//! Where the language meets the store: the `builtins.step` primitive, path
//! imports, and the registry of steps an evaluation produced.
//!
//! The evaluator stays store-agnostic; this module plugs into it through
//! `EvalOptions::extra_primops`, `EvalOptions::host` and the `EvalIo` trait.

mod io;
mod step_primop;

pub use io::StoreIo;
pub use step_primop::{STEP_PRIMOPS, step_of_value};

use imgx_builders::{Step, StepKey};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The steps created while evaluating, by input key.
#[derive(Default)]
pub struct StepRegistry {
    steps: RefCell<BTreeMap<StepKey, Step>>,
}

impl StepRegistry {
    /// Records a step (idempotent: the key determines the step).
    pub fn insert(&self, key: StepKey, step: Step) {
        self.steps.borrow_mut().entry(key).or_insert(step);
    }

    /// All steps recorded so far.
    pub fn all(&self) -> BTreeMap<StepKey, Step> {
        self.steps.borrow().clone()
    }
}
