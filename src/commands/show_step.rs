//! `imgx show-step`: the canonical serialisation of the requested steps.

use super::{Failure, evaluate_targets, open_store};
use crate::cli::TargetArgs;

pub fn run(args: TargetArgs) -> Result<(), Failure> {
    let store = open_store()?;
    let evaluated = evaluate_targets(&args, &store)?;
    let mut shown = serde_json::Map::new();
    for key in &evaluated.targets {
        let step = &evaluated.steps[key];
        let value: serde_json::Value = serde_json::from_str(&step.serialise()).unwrap_or(serde_json::Value::Null);
        shown.insert(key.to_hex(), value);
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(shown))
        .map_err(|e| Failure::new(miette::miette!("{e}")))?;
    println!("{text}");
    Ok(())
}
