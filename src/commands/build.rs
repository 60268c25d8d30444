//! `imgx build`: evaluate, plan, build what is missing, link the results.

use super::{EXIT_BUILD_FAILED, EXIT_STORE, Failure, evaluate_targets, open_store};
use crate::cache::substitute::Substituters;
use crate::cli::BuildArgs;
use crate::scheduler::{self, BuildOptions, Outcome};
use imgx_builders::StepKey;
use imgx_store::{ObjectHash, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn run(args: BuildArgs) -> Result<(), Failure> {
    let store = open_store()?;
    if let Some(plan) = &args.check.check_plan {
        return super::check::run_planned(&args, &store, plan);
    }
    let evaluated = evaluate_targets(&args.target, &store)?;
    if args.json {
        let event = serde_json::json!({
            "event": "evaluated",
            "step": null,
            "cached": evaluated.from_cache,
            "steps": evaluated.steps.len(),
            "targets": evaluated.targets.iter().map(|t| t.to_hex()).collect::<Vec<_>>(),
        });
        println!("{event}");
    }
    if args.dry_run {
        let substituters = super::push::substituters(&args.substitute)?;
        return dry_run(&store, &evaluated, substituters.as_deref());
    }
    let report = build_all(&store, &evaluated, &args)?;
    if args.check.check {
        return super::check::run(&args, &store, &evaluated);
    }
    for (index, target) in evaluated.targets.iter().enumerate() {
        let Some(output) = report.results.get(target).and_then(|r| r.output) else { continue };
        let object = store.object_path(&output);
        if !args.no_out_link {
            let link = out_link_name(&args.out_link, index);
            link_result(&store, &link, &output)?;
        }
        if !args.json {
            println!("{}", object.display());
        }
    }
    Ok(())
}

/// Builds what is missing; a failed step is an error naming it.
fn build_all(
    store: &std::sync::Arc<Store>,
    evaluated: &super::Evaluated,
    args: &BuildArgs,
) -> Result<scheduler::BuildReport, Failure> {
    let options = BuildOptions {
        jobs: args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
        keep_going: args.keep_going,
        keep_failed: args.keep_failed,
        substituters: super::push::substituters(&args.substitute)?,
    };
    let report = super::run_build(store, evaluated, &options, args.json, args.print_build_logs)?;
    let failed: Vec<String> = report
        .results
        .iter()
        .filter_map(|(key, result)| match &result.outcome {
            Outcome::Failed(message) => {
                let name = evaluated.steps.get(key).map(|s| s.name.as_str()).unwrap_or("?");
                Some(format!("{name} ({}): {message}", key.short()))
            }
            _ => None,
        })
        .collect();
    if !failed.is_empty() || !report.succeeded(&evaluated.targets) {
        let skipped = report.count(&Outcome::Skipped);
        let mut text = format!("{} step(s) failed", failed.len());
        if skipped > 0 {
            text.push_str(&format!(", {skipped} not attempted"));
        }
        text.push_str(":\n");
        text.push_str(&failed.join("\n"));
        return Err(Failure::with_code(
            miette::miette!(help = "`imgx log KEY` shows a step's whole log", "{text}"),
            EXIT_BUILD_FAILED,
        ));
    }
    Ok(report)
}

/// `result`, `result-2`, `result-3`, … as nix-build names them.
fn out_link_name(base: &Path, index: usize) -> PathBuf {
    if index == 0 {
        return base.to_path_buf();
    }
    let mut name = base.as_os_str().to_owned();
    name.push(format!("-{}", index + 1));
    PathBuf::from(name)
}

/// Points `link` at the output and registers it as a GC root.
fn link_result(store: &Store, link: &Path, output: &imgx_store::hash::ObjectHash) -> Result<(), Failure> {
    let absolute = std::path::absolute(link).map_err(|e| Failure::new(miette::miette!("{}: {e}", link.display())))?;
    store.create_out_link(&absolute, output).map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_STORE))
}

/// What a build would do, without building: which steps are built, which
/// are reused because their content key is realised here, and which a
/// binary cache has (from its signed manifests; nothing is downloaded).
/// Outputs found this way make the content keys of later steps known, as
/// they would be during the build.
fn dry_run(store: &Store, evaluated: &super::Evaluated, substituters: Option<&Substituters>) -> Result<(), Failure> {
    let plan = scheduler::plan(store, &evaluated.steps, &evaluated.targets)
        .map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_STORE))?;
    if plan.pending.is_empty() {
        println!("nothing to build: all {} step(s) are cached", plan.cached.len());
        return Ok(());
    }
    let mut known: BTreeMap<StepKey, ObjectHash> = plan.cached.clone();
    let (mut built, mut reused, mut substituted) = (Vec::new(), Vec::new(), Vec::new());
    // Whether a step to build waits for an input that is built too: it may
    // then be reused, if that input comes out identical to an earlier build.
    let mut may_be_reused = false;
    let warn = |message: &str| eprintln!("warning: {message}");
    for key in &plan.pending {
        let step = &evaluated.steps[key];
        let content_key =
            if step.input_steps().all(|input| known.contains_key(&input)) { step.content_key(&known) } else { None };
        let realised = match &content_key {
            Some(content_key) => store
                .realisation(&content_key.to_hex())
                .map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_STORE))?,
            None => None,
        };
        if let Some(realisation) = realised {
            known.insert(*key, realisation.output);
            reused.push(key);
            continue;
        }
        let keys: Vec<String> = content_key.iter().chain([key]).map(StepKey::to_hex).collect();
        match substituters.and_then(|caches| caches.query(&keys, &warn)) {
            Some(found) => {
                known.insert(*key, found.output);
                substituted.push((key, found.cache));
            }
            None => {
                may_be_reused |= content_key.is_none();
                built.push(key);
            }
        }
    }
    let describe = |key: &StepKey| {
        let step = &evaluated.steps[key];
        format!("{} ({}, {})", step.name, step.kind, key.short())
    };
    if !built.is_empty() {
        let hedge = if may_be_reused { " (or reused if an input is rebuilt identically)" } else { "" };
        println!("these {} step(s) will be built{hedge}:", built.len());
        for key in built {
            println!("  {}", describe(key));
        }
    }
    if !substituted.is_empty() {
        println!("these {} step(s) will be substituted:", substituted.len());
        for (key, cache) in substituted {
            println!("  {} from {cache}", describe(key));
        }
    }
    if !reused.is_empty() {
        println!("these {} step(s) will be reused (an identical build of their inputs is recorded):", reused.len());
        for key in reused {
            println!("  {}", describe(key));
        }
    }
    if !plan.cached.is_empty() {
        println!("{} step(s) are cached", plan.cached.len());
    }
    Ok(())
}
