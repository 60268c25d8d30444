//! The scheduler: realises the steps a build asks for, in dependency
//! order, in parallel, building only what is missing.
//!
//! In the terms of incremental engines: a *key* is a step's input key
//! (known from its description alone) or its content key (known once its
//! input steps are realised). Keys are never invalidated; a realisation
//! maps a key to an output object forever. The check that cuts rebuilds
//! off is equality of content keys: an input rebuilt with identical output
//! leaves its dependents' content keys, and so their outputs, unchanged.
//! Builders are assumed deterministic (`imgx build --check` verifies it);
//! failures are never recorded, so a failed step is retried next time.
//!
//! 1. **Plan** (one thread): from the targets, follow inputs until a step
//!    whose input key is realised; everything above it is *pending*.
//! 2. **Execute** (`jobs` workers): a pending step runs when its pending
//!    inputs are done. It computes its content key; if that is realised
//!    the output is reused, otherwise the step is built under a per-key
//!    lock, so that a second imgx process waits and then reuses it. Under
//!    the lock and before building, the binary caches are asked for the
//!    step's output (`crate::cache::substitute`).

mod execute;
pub use execute::tail_lines;
pub mod report;

use imgx_builders::{Step, StepKey};
use imgx_store::Store;
use imgx_store::hash::ObjectHash;
use report::Reporter;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Condvar, Mutex};

/// How to build.
pub struct BuildOptions {
    /// How many steps may build at once.
    pub jobs: usize,
    /// Keep building independent steps after a failure.
    pub keep_going: bool,
    /// Keep the scratch output of a failed step and print where it is.
    pub keep_failed: bool,
    /// Binary caches to look in before building a step.
    pub substituters: Option<std::sync::Arc<crate::cache::substitute::Substituters>>,
}

/// What happened to a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its input key was already realised: nothing was done.
    Cached,
    /// Its content key was realised (an input was rebuilt identically).
    Reused,
    /// Its output was downloaded from a binary cache (or found in the
    /// store through a cache's manifest).
    Substituted,
    /// It was built.
    Built,
    /// Its builder failed.
    Failed(String),
    /// It was not attempted because an input failed or the build stopped.
    Skipped,
}

/// A step's result.
#[derive(Clone, Debug)]
pub struct StepResult {
    /// What happened.
    pub outcome: Outcome,
    /// Its output, when it has one.
    pub output: Option<ObjectHash>,
}

/// The results of one build.
#[derive(Default, Debug)]
pub struct BuildReport {
    /// Every step that was looked at.
    pub results: BTreeMap<StepKey, StepResult>,
}

impl BuildReport {
    /// Whether every requested step has an output.
    pub fn succeeded(&self, targets: &[StepKey]) -> bool {
        targets.iter().all(|t| self.results.get(t).is_some_and(|r| r.output.is_some()))
    }

    /// How many steps ended with `outcome`.
    pub fn count(&self, outcome: &Outcome) -> usize {
        self.results.values().filter(|r| &r.outcome == outcome).count()
    }
}

/// Why a build could not even start.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A step refers to a step the evaluation did not produce.
    #[error("step {0} refers to an input step that is unknown")]
    UnknownStep(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] imgx_store::StoreError),
}

/// The pending part of the graph after planning.
pub struct Plan {
    /// Steps already realised, with their outputs.
    pub cached: BTreeMap<StepKey, ObjectHash>,
    /// Steps that must be built or reused, in dependency order.
    pub pending: Vec<StepKey>,
}

/// Decides what is to do, looking only at input keys.
pub fn plan(store: &Store, steps: &BTreeMap<StepKey, Step>, targets: &[StepKey]) -> Result<Plan, ScheduleError> {
    let mut cached = BTreeMap::new();
    let mut pending = Vec::new();
    let mut visited = BTreeSet::new();
    // Iterative post-order walk, so that long chains do not recurse.
    let mut stack: Vec<(StepKey, bool)> = targets.iter().rev().map(|t| (*t, false)).collect();
    while let Some((key, inputs_done)) = stack.pop() {
        if inputs_done {
            pending.push(key);
            continue;
        }
        if !visited.insert(key) {
            continue;
        }
        if let Some(realisation) = store.realisation(&key.to_hex())? {
            cached.insert(key, realisation.output);
            continue;
        }
        let step = steps.get(&key).ok_or_else(|| ScheduleError::UnknownStep(key.to_hex()))?;
        stack.push((key, true));
        for input in step.input_steps() {
            if !visited.contains(&input) {
                stack.push((input, false));
            }
        }
    }
    Ok(Plan { cached, pending })
}

struct Shared {
    ready: VecDeque<StepKey>,
    waiting_on: HashMap<StepKey, usize>,
    dependents: HashMap<StepKey, Vec<StepKey>>,
    outputs: BTreeMap<StepKey, ObjectHash>,
    report: BuildReport,
    running: usize,
    stopped: bool,
}

/// Realises `targets`: plans, then builds what is pending with `jobs` workers.
pub fn build(
    store: &Store,
    steps: &BTreeMap<StepKey, Step>,
    targets: &[StepKey],
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuildReport, ScheduleError> {
    let plan = plan(store, steps, targets)?;
    let mut report = BuildReport::default();
    for (key, output) in &plan.cached {
        let step = &steps[key];
        reporter.cached(key, step, output);
        report.results.insert(*key, StepResult { outcome: Outcome::Cached, output: Some(*output) });
    }
    let pending: BTreeSet<StepKey> = plan.pending.iter().copied().collect();
    let mut waiting_on = HashMap::new();
    let mut dependents: HashMap<StepKey, Vec<StepKey>> = HashMap::new();
    let mut ready = VecDeque::new();
    for key in &plan.pending {
        let inputs: Vec<StepKey> = steps[key].input_steps().filter(|i| pending.contains(i)).collect();
        for input in &inputs {
            dependents.entry(*input).or_default().push(*key);
        }
        if inputs.is_empty() {
            ready.push_back(*key);
        }
        waiting_on.insert(*key, inputs.len());
    }
    reporter.planned(plan.pending.len(), plan.cached.len());
    let shared = Mutex::new(Shared {
        ready,
        waiting_on,
        dependents,
        outputs: plan.cached.clone(),
        report,
        running: 0,
        stopped: false,
    });
    let wake = Condvar::new();
    let guard = store.build_guard()?;
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1).min(plan.pending.len().max(1)) {
            scope.spawn(|| worker(store, steps, options, reporter, &shared, &wake));
        }
    });
    drop(guard);
    let mut shared = shared.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    for key in &plan.pending {
        shared.report.results.entry(*key).or_insert(StepResult { outcome: Outcome::Skipped, output: None });
    }
    Ok(shared.report)
}

fn worker(
    store: &Store,
    steps: &BTreeMap<StepKey, Step>,
    options: &BuildOptions,
    reporter: &dyn Reporter,
    shared: &Mutex<Shared>,
    wake: &Condvar,
) {
    loop {
        let (key, inputs) = {
            let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if state.stopped && state.running == 0 {
                    wake.notify_all();
                    return;
                }
                if !state.stopped
                    && let Some(key) = state.ready.pop_front()
                {
                    state.running += 1;
                    let inputs: BTreeMap<StepKey, ObjectHash> =
                        steps[&key].input_steps().filter_map(|i| state.outputs.get(&i).map(|o| (i, *o))).collect();
                    break (key, inputs);
                }
                if state.running == 0 {
                    wake.notify_all();
                    return;
                }
                state = wake.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = execute::realise(store, &key, &steps[&key], &inputs, options, reporter);
        let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
        state.running -= 1;
        match result.output {
            Some(output) => {
                state.outputs.insert(key, output);
                for dependent in state.dependents.get(&key).cloned().unwrap_or_default() {
                    let remaining = state.waiting_on.get_mut(&dependent).map(|n| {
                        *n -= 1;
                        *n
                    });
                    if remaining == Some(0) {
                        state.ready.push_back(dependent);
                    }
                }
            }
            None => {
                if !options.keep_going {
                    state.stopped = true;
                }
            }
        }
        state.report.results.insert(key, result);
        wake.notify_all();
    }
}
