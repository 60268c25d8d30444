//! `imgx build`: evaluate, plan, build what is missing, link the results.

use super::{EXIT_BUILD_FAILED, EXIT_STORE, Failure, evaluate_targets, open_store};
use crate::cli::BuildArgs;
use crate::scheduler::{self, BuildOptions, Outcome};
use imgx_store::Store;
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
        return dry_run(&store, &evaluated);
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

fn dry_run(store: &Store, evaluated: &super::Evaluated) -> Result<(), Failure> {
    let plan = scheduler::plan(store, &evaluated.steps, &evaluated.targets)
        .map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_STORE))?;
    if plan.pending.is_empty() {
        println!("nothing to build: all {} step(s) are cached", plan.cached.len());
        return Ok(());
    }
    println!("these {} step(s) will be built (or reused if an input is rebuilt identically):", plan.pending.len());
    for key in &plan.pending {
        let step = &evaluated.steps[key];
        println!("  {} ({}, {})", step.name, step.kind, key.short());
    }
    if !plan.cached.is_empty() {
        println!("{} step(s) are cached", plan.cached.len());
    }
    Ok(())
}
