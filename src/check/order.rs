//! Which steps a check rebuilds, in dependency order.

use imgx_builders::{Step, StepKey};
use std::collections::{BTreeMap, BTreeSet};

/// Every step `targets` need, inputs before the steps that use them (and
/// targets in the order given). Keys the evaluation did not produce are
/// skipped: the build before the check has already refused them.
pub fn closure(steps: &BTreeMap<StepKey, Step>, targets: &[StepKey]) -> Vec<StepKey> {
    let mut order = Vec::new();
    let mut visited = BTreeSet::new();
    // Iterative post-order walk, so that long chains do not recurse.
    let mut stack: Vec<(StepKey, bool)> = targets.iter().rev().map(|t| (*t, false)).collect();
    while let Some((key, inputs_done)) = stack.pop() {
        if inputs_done {
            order.push(key);
            continue;
        }
        if !visited.insert(key) {
            continue;
        }
        let Some(step) = steps.get(&key) else { continue };
        stack.push((key, true));
        let inputs: Vec<StepKey> = step.input_steps().collect();
        for input in inputs.into_iter().rev() {
            if !visited.contains(&input) {
                stack.push((input, false));
            }
        }
    }
    order
}

/// The steps to check: the whole closure with `deps`, else only the
/// targets; either way in dependency order.
pub fn to_check(steps: &BTreeMap<StepKey, Step>, targets: &[StepKey], deps: bool) -> Vec<StepKey> {
    let targets_set: BTreeSet<StepKey> = targets.iter().copied().collect();
    closure(steps, targets).into_iter().filter(|key| deps || targets_set.contains(key)).collect()
}
