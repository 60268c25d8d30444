//! `imgx log`: print a step's build log.

use super::{Failure, evaluate_targets, open_store};
use crate::cli::{LogArgs, TargetArgs};
use std::path::PathBuf;

pub fn run(args: LogArgs) -> Result<(), Failure> {
    let store = open_store()?;
    let keys: Vec<String> = match &args.step {
        Some(text) if text.len() >= 6 && text.chars().all(|c| c.is_ascii_hexdigit()) && args.attr.is_none() => {
            let matches = logged_keys_with_prefix(&store, text);
            match matches.len() {
                0 => return Err(Failure::new(miette::miette!("no step has a key starting with {text}"))),
                1 => matches,
                n => {
                    return Err(Failure::new(miette::miette!(
                        "{n} steps have keys starting with {text}; give more digits"
                    )));
                }
            }
        }
        file => {
            let target = TargetArgs {
                file: file.as_ref().map(PathBuf::from),
                attr: args.attr.clone(),
                arg: Vec::new(),
                argstr: Vec::new(),
                include: Vec::new(),
                no_eval_cache: false,
            };
            evaluate_targets(&target, &store)?.targets.iter().map(|k| k.to_hex()).collect()
        }
    };
    for key in keys {
        let Some(path) = store.log_path(&key).map_err(|e| Failure::new(miette::miette!("{e}")))? else {
            return Err(Failure::new(miette::miette!("step {key} has no log: it has not been built here")));
        };
        let log = std::fs::read(&path).map_err(|e| Failure::new(miette::miette!("reading {}: {e}", path.display())))?;
        use std::io::Write;
        let _ = std::io::stdout().write_all(&log);
    }
    Ok(())
}

/// Keys of the steps that have a log and start with `prefix`.
fn logged_keys_with_prefix(store: &imgx_store::Store, prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(store.root().join("logs")) else { return Vec::new() };
    let mut keys: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".log")).map(str::to_string))
        .filter(|key| key.starts_with(prefix))
        .collect();
    keys.sort();
    keys
}
