//! `imgx build --check`: after the build (which builds what was missing),
//! rebuild the requested steps, or with `--check-deps` their whole
//! closure, and compare. Variations of the whole process (umask, time
//! zone, locale, environment, clock) need a child imgx started with them;
//! it gets the evaluated steps in a plan file, so it does not evaluate
//! again (an evaluation reading the varied environment would describe
//! other steps).

use super::{EXIT_BUILD_FAILED, EXIT_ERROR, EXIT_STORE, EXIT_USAGE, Evaluated, Failure};
use crate::check::driver::{self, CheckOptions, StepCheck, Verdict};
use crate::check::order;
use crate::check::report::{JsonReporter, TextReporter};
use crate::check::vary::Variations;
use crate::cli::BuildArgs;
use imgx_builders::{Step, StepKey};
use imgx_store::Store;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

fn variations(args: &BuildArgs) -> Result<Variations, Failure> {
    Variations::parse(&args.check.vary).map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_USAGE))
}

/// Checks what `evaluated` asks for; its steps are all realised.
pub fn run(args: &BuildArgs, store: &Arc<Store>, evaluated: &Evaluated) -> Result<(), Failure> {
    let variations = variations(args)?;
    if !variations.needs_child() {
        return check_and_report(args, store, &evaluated.steps, &evaluated.targets, &variations);
    }
    let store_failure = |e: &dyn std::fmt::Display| Failure::with_code(miette::miette!("{e}"), EXIT_STORE);
    let scratch = store.scratch("check-plan").map_err(|e| store_failure(&e))?;
    let plan = scratch.path().join("plan.json");
    // The varied TMPDIR is a fresh folder beside the usual one, not in the
    // store: its path stays short, as Unix socket paths under it must be.
    let tmp = std::env::temp_dir().join(format!("imgx-vary-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)
        .map_err(|e| Failure::new(miette::miette!("cannot create {} for the varied TMPDIR: {e}", tmp.display())))?;
    std::fs::write(&plan, write_plan(&evaluated.steps, &evaluated.targets)).map_err(|e| store_failure(&e))?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(miette::miette!("cannot find the imgx binary to start with the variations: {e}")))?;
    let mut child_args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    child_args.push("--check-plan".into());
    child_args.push(plan.into_os_string());
    let status = variations
        .child_command(&exe, &child_args, &tmp)
        .env("IMGX_STORE", store.root())
        .status()
        .map_err(|e| Failure::new(miette::miette!("cannot start imgx with the variations: {e}")));
    let _ = std::fs::remove_dir_all(&tmp);
    drop(scratch);
    let status = status?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(Failure::silent(u8::try_from(code).unwrap_or(EXIT_ERROR))),
        None => Err(Failure::new(miette::miette!("the imgx running the check was killed ({status})"))),
    }
}

/// The child's side of [`run`]: checks the steps of a plan file.
pub fn run_planned(args: &BuildArgs, store: &Arc<Store>, plan: &Path) -> Result<(), Failure> {
    let variations = variations(args)?;
    let text = std::fs::read_to_string(plan)
        .map_err(|e| Failure::new(miette::miette!("cannot read the check plan {}: {e}", plan.display())))?;
    let (steps, targets) = read_plan(&text)
        .ok_or_else(|| Failure::new(miette::miette!("the check plan {} is malformed", plan.display())))?;
    check_and_report(args, store, &steps, &targets, &variations)
}

fn write_plan(steps: &BTreeMap<StepKey, Step>, targets: &[StepKey]) -> String {
    let steps: serde_json::Map<String, serde_json::Value> =
        steps.iter().map(|(key, step)| (key.to_hex(), serde_json::Value::String(step.serialise()))).collect();
    serde_json::json!({ "targets": targets.iter().map(|t| t.to_hex()).collect::<Vec<_>>(), "steps": steps }).to_string()
}

fn read_plan(text: &str) -> Option<(BTreeMap<StepKey, Step>, Vec<StepKey>)> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut steps = BTreeMap::new();
    for (key, serialisation) in value.get("steps")?.as_object()? {
        steps.insert(StepKey::from_hex(key)?, Step::parse(serialisation.as_str()?)?);
    }
    let targets = value
        .get("targets")?
        .as_array()?
        .iter()
        .map(|t| t.as_str().and_then(StepKey::from_hex))
        .collect::<Option<_>>()?;
    Some((steps, targets))
}

fn check_and_report(
    args: &BuildArgs,
    store: &Store,
    steps: &BTreeMap<StepKey, Step>,
    targets: &[StepKey],
    variations: &Variations,
) -> Result<(), Failure> {
    let options = CheckOptions {
        deps: args.check.check_deps,
        keep: args.check.keep,
        diffoscope: args.check.diffoscope,
        variations: variations.clone(),
    };
    let keys = order::to_check(steps, targets, options.deps);
    let results = if args.json {
        driver::check(store, steps, &keys, &options, &JsonReporter)
    } else {
        driver::check(store, steps, &keys, &options, &TextReporter)
    }
    .map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_STORE))?;
    summarise(&results, variations, args.json)
}

fn summarise(results: &[StepCheck], variations: &Variations, json: bool) -> Result<(), Failure> {
    let differing: Vec<&StepCheck> = results.iter().filter(|r| matches!(r.verdict, Verdict::Differs { .. })).collect();
    let failed: Vec<&StepCheck> = results.iter().filter(|r| matches!(r.verdict, Verdict::Failed { .. })).collect();
    let label = |r: &StepCheck| format!("{} ({}, {})", r.name, r.kind, r.key.short());
    if json {
        let first =
            differing.first().map(|r| serde_json::json!({ "name": r.name, "kind": r.kind, "key": r.key.to_hex() }));
        let event = serde_json::json!({
            "event": "checked",
            "step": null,
            "checked": results.len(),
            "same": results.len() - differing.len() - failed.len(),
            "differ": differing.len(),
            "failed": failed.len(),
            "first": first,
            "varied": variations.chosen.iter().map(|v| v.name()).collect::<Vec<_>>(),
        });
        println!("{event}");
    }
    if let Some(first) = differing.first() {
        let mut text = format!(
            "{} of {} checked step(s) rebuilt differently; the first in dependency order is {}",
            differing.len(),
            results.len(),
            label(first)
        );
        if !failed.is_empty() {
            text.push_str(&format!(", and {} could not be rebuilt", failed.len()));
        }
        return Err(Failure::with_code(
            miette::miette!(
                help = "`--keep` keeps the rebuilt output; `--diffoscope` compares the two with diffoscope",
                "{text}"
            ),
            EXIT_ERROR,
        ));
    }
    if let Some(first) = failed.first() {
        return Err(Failure::with_code(
            miette::miette!(
                "{} of {} step(s) could not be rebuilt; the first is {}",
                failed.len(),
                results.len(),
                label(first)
            ),
            EXIT_BUILD_FAILED,
        ));
    }
    if !json {
        println!(
            "checked {} step(s): every output rebuilt bit for bit (varied: {})",
            results.len(),
            variations.describe()
        );
    }
    Ok(())
}
