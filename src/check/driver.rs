//! Runs a check: rebuilds each chosen step in dependency order, compares
//! the new output's hash with the registered one, and explains a
//! difference.

use super::explain::{Difference, explain};
use super::rebuild::rebuild;
use super::vary::Variations;
use imgx_builders::{Step, StepKey};
use imgx_store::Store;
use imgx_store::hash::ObjectHash;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How to check.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Check every step of the closure, not only the requested ones.
    pub deps: bool,
    /// Keep the rebuilt output of a step that differs, and say where.
    pub keep: bool,
    /// Hand a differing pair to diffoscope.
    pub diffoscope: bool,
    /// What to vary in the rebuilds.
    pub variations: Variations,
}

/// What a step's check found.
#[derive(Debug)]
pub enum Verdict {
    /// The rebuilt output is the registered one, bit for bit.
    Same,
    /// The rebuilt output differs.
    Differs {
        /// Its hash.
        rebuilt: ObjectHash,
        /// How it differs.
        differences: Vec<Difference>,
        /// Where it was kept (`--keep`).
        kept: Option<PathBuf>,
        /// What diffoscope said, or why it did not run (`--diffoscope`).
        diffoscope: Option<String>,
    },
    /// The rebuild failed.
    Failed {
        /// Why, with the end of the rebuild's log.
        message: String,
    },
}

/// One step's check.
#[derive(Debug)]
pub struct StepCheck {
    /// The step's input key.
    pub key: StepKey,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its registered output, if it has one.
    pub registered: Option<ObjectHash>,
    /// What the check found.
    pub verdict: Verdict,
}

/// Receives a check's progress.
pub trait CheckReporter {
    /// A step's rebuild starts.
    fn started(&self, key: &StepKey, step: &Step);
    /// A step's check is done.
    fn finished(&self, check: &StepCheck);
}

/// How many lines of a failed rebuild's log its message shows.
const LOG_TAIL: usize = 15;

/// Checks `keys` (in dependency order) one after the other, holding the
/// store's build guard, so that garbage collection cannot remove the
/// registered outputs being rebuilt from or compared with.
pub fn check(
    store: &Store,
    steps: &BTreeMap<StepKey, Step>,
    keys: &[StepKey],
    options: &CheckOptions,
    reporter: &dyn CheckReporter,
) -> Result<Vec<StepCheck>, imgx_store::StoreError> {
    let _guard = store.build_guard()?;
    let mut results = Vec::new();
    for key in keys {
        let Some(step) = steps.get(key) else { continue };
        reporter.started(key, step);
        let result = check_one(store, key, step, options);
        reporter.finished(&result);
        results.push(result);
    }
    Ok(results)
}

fn check_one(store: &Store, key: &StepKey, step: &Step, options: &CheckOptions) -> StepCheck {
    let mut result = StepCheck {
        key: *key,
        name: step.name.clone(),
        kind: step.kind.clone(),
        registered: None,
        verdict: Verdict::Same,
    };
    let (registered, registered_by) = match store.realisation(&key.to_hex()) {
        Ok(Some(realisation)) => (realisation.output, realisation.builder_version),
        Ok(None) => {
            result.verdict = Verdict::Failed { message: "it has no registered output to compare with".into() };
            return result;
        }
        Err(error) => {
            result.verdict = Verdict::Failed { message: error.to_string() };
            return result;
        }
    };
    result.registered = Some(registered);
    let mut log = Vec::new();
    let notice = |_: &str| {};
    let rebuilt = match rebuild(store, step, &options.variations, &mut log, &notice) {
        Ok(rebuilt) => rebuilt,
        Err(error) => {
            let tail = crate::scheduler::tail_lines(&log, LOG_TAIL);
            let mut message = format!("the rebuild failed: {error}");
            for line in tail {
                message.push_str(&format!("\n  | {line}"));
            }
            result.verdict = Verdict::Failed { message };
            return result;
        }
    };
    if rebuilt.hash == registered {
        return result;
    }
    let registered_path = store.object_path(&registered);
    let work = rebuilt.scratch.path().join("explain");
    let differences = match std::fs::create_dir(&work) {
        Ok(()) => explain(&registered_path, &rebuilt.out, &work),
        Err(error) => vec![Difference::new(
            "",
            super::explain::Aspect::Unexplained,
            format!("cannot create {}: {error}", work.display()),
        )],
    };
    let _ = std::fs::remove_dir_all(&work);
    let mut differences = differences;
    if let Some(builder) = imgx_builders::builder_for(&step.kind)
        && builder.version() != registered_by
    {
        differences.insert(
            0,
            Difference::new(
                "",
                super::explain::Aspect::Builder,
                format!(
                    "the registered output was built by {registered_by} and the rebuild by {}, \
                     which may write other bytes for the same step",
                    builder.version()
                ),
            ),
        );
    }
    let diffoscope = options.diffoscope.then(|| run_diffoscope(&registered_path, &rebuilt.out));
    let rebuilt_hash = rebuilt.hash;
    let kept = if options.keep {
        // The rebuild's log goes with the kept output (the step's own log
        // stays the one of the build that registered it).
        let _ = std::fs::write(rebuilt.scratch.path().join("rebuild.log"), &log);
        let out_name = rebuilt.out.file_name().map(|n| n.to_owned()).unwrap_or_default();
        rebuilt.scratch.keep().ok().map(|folder| folder.join(out_name))
    } else {
        None
    };
    result.verdict = Verdict::Differs { rebuilt: rebuilt_hash, differences, kept, diffoscope };
    result
}

/// diffoscope's text report of the two outputs, or why there is none.
fn run_diffoscope(registered: &std::path::Path, rebuilt: &std::path::Path) -> String {
    let output = std::process::Command::new("diffoscope")
        .args(["--text", "-", "--no-progress"])
        .arg(registered)
        .arg(rebuilt)
        .stdin(std::process::Stdio::null())
        .output();
    match output {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            "diffoscope is not installed (Debian package diffoscope); the explanation above is imgx's own".into()
        }
        Err(error) => format!("diffoscope could not run: {error}"),
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            if text.trim().is_empty() {
                format!("diffoscope found nothing to show: {}", String::from_utf8_lossy(&output.stderr).trim())
            } else {
                text
            }
        }
    }
}
