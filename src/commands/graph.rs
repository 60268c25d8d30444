//! `imgx graph`: the step graph as Graphviz DOT.

use super::{EXIT_STORE, Failure, evaluate_targets, open_store};
use crate::cli::TargetArgs;
use imgx_builders::StepKey;
use std::collections::BTreeSet;

pub fn run(args: TargetArgs) -> Result<(), Failure> {
    let store = open_store()?;
    let evaluated = evaluate_targets(&args, &store)?;
    let plan = crate::scheduler::plan(&store, &evaluated.steps, &evaluated.targets)
        .map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_STORE))?;
    let dirty: BTreeSet<StepKey> = plan.pending.iter().copied().collect();
    // The closure of the targets, including steps below cached ones.
    let mut closure = BTreeSet::new();
    let mut stack: Vec<StepKey> = evaluated.targets.clone();
    while let Some(key) = stack.pop() {
        if closure.insert(key)
            && let Some(step) = evaluated.steps.get(&key)
        {
            stack.extend(step.input_steps());
        }
    }
    println!("digraph imgx {{");
    println!("  rankdir=BT;");
    println!("  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\"];");
    for key in &closure {
        let Some(step) = evaluated.steps.get(key) else { continue };
        let (state, color) = if dirty.contains(key) {
            ("dirty", "#f4c7a1")
        } else if plan.cached.contains_key(key) {
            ("cached", "#b8e0b8")
        } else {
            ("cached below", "#e0e0e0")
        };
        println!(
            "  \"{}\" [label=\"{}\\n{} · {} · {}\", fillcolor=\"{color}\"];",
            key.to_hex(),
            escape(&step.name),
            escape(&step.kind),
            key.short(),
            state
        );
        for input in step.input_steps() {
            println!("  \"{}\" -> \"{}\";", input.to_hex(), key.to_hex());
        }
    }
    println!("}}");
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
