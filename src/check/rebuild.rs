//! Rebuilding one realised step into a scratch folder, from the registered
//! outputs of its inputs, without registering anything: the output is
//! frozen and hashed as registration would ([`Store::seal`]) and compared
//! by the caller.

use super::vary::{Variation, Variations, copy_reversed, vary_cpus};
use imgx_builders::{BuildContext, InputRef, Step, StepKey, builder_for};
use imgx_store::hash::ObjectHash;
use imgx_store::{Scratch, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Why a step could not be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// No builder knows the kind.
    #[error("no builder for step kind '{0}'")]
    UnknownKind(String),
    /// An input step has no registered output.
    #[error("input step {0} has no registered output")]
    InputMissing(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] imgx_store::StoreError),
    /// Preparing the inputs failed.
    #[error("preparing the inputs: {0}")]
    Inputs(std::io::Error),
    /// The builder failed (the log holds the details).
    #[error("{0}")]
    Build(#[from] imgx_builders::BuildError),
}

/// A rebuilt output, in its scratch folder (removed when this is dropped,
/// unless kept).
pub struct Rebuilt {
    /// The scratch folder holding the output and the build's work files.
    pub scratch: Scratch,
    /// The output.
    pub out: PathBuf,
    /// Its hash, as it would be registered.
    pub hash: ObjectHash,
}

/// The registered outputs of `step`'s input steps.
pub fn input_outputs(store: &Store, step: &Step) -> Result<BTreeMap<StepKey, ObjectHash>, RebuildError> {
    let mut outputs = BTreeMap::new();
    for input in step.input_steps() {
        let realisation =
            store.realisation(&input.to_hex())?.ok_or_else(|| RebuildError::InputMissing(input.to_hex()))?;
        outputs.insert(input, realisation.output);
    }
    Ok(outputs)
}

/// Rebuilds `step` from the registered outputs of its inputs, applying the
/// per-step variations, with the builder's log going to `log`.
pub fn rebuild(
    store: &Store,
    step: &Step,
    variations: &Variations,
    log: &mut dyn std::io::Write,
    notice: &dyn Fn(&str),
) -> Result<Rebuilt, RebuildError> {
    let builder = builder_for(&step.kind).ok_or_else(|| RebuildError::UnknownKind(step.kind.clone()))?;
    let outputs = input_outputs(store, step)?;
    let content_key = step.content_key(&outputs).ok_or_else(|| RebuildError::InputMissing(step.name.clone()))?;
    let scratch = store.scratch(&format!("check-{}", step.kind))?;
    let out = scratch.path().join("out");
    let work = scratch.path().join("work");
    std::fs::create_dir(&work).map_err(RebuildError::Inputs)?;
    let mut inputs: BTreeMap<InputRef, PathBuf> = BTreeMap::new();
    for (index, input) in step.inputs.iter().enumerate() {
        let object = match input {
            InputRef::Step(key) => *outputs.get(key).ok_or_else(|| RebuildError::InputMissing(key.to_hex()))?,
            InputRef::Object(hash) => *hash,
        };
        let mut path = store.object_path(&object);
        if variations.has(Variation::Order) && path.is_dir() {
            let copy = scratch.path().join(format!("input-{index}"));
            copy_reversed(&path, &copy).map_err(RebuildError::Inputs)?;
            path = copy;
        }
        inputs.insert(*input, path);
    }
    let varied = if variations.has(Variation::Cpus) { vary_cpus(step) } else { None };
    let built = varied.as_ref().unwrap_or(step);
    // The rebuilt output is hashed by the store (`seal`), whatever its
    // builder computed: the check is independent of the builder's hash.
    let mut context = BuildContext {
        step: built,
        key: content_key,
        out: out.clone(),
        work,
        log,
        inputs: &inputs,
        notice,
        output_hash: None,
    };
    builder.build(&mut context)?;
    let hash = store.seal(&out)?;
    Ok(Rebuilt { scratch, out, hash })
}
