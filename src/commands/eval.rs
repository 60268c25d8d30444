//! `imgx eval`: evaluate and print, as `nix-instantiate --eval` does.

use super::Failure;
use crate::cli::EvalArgs;
use imgx_lang::{EvalOptions, SearchPathEntry, StdIo, Value, Vm};
use std::io::Write;
use std::rc::Rc;

/// The search path from `-I` flags, then `$IMGX_PATH` (colon-separated).
pub fn search_path(includes: &[String]) -> Vec<SearchPathEntry> {
    let mut entries: Vec<SearchPathEntry> = includes.iter().map(|i| SearchPathEntry::parse(i)).collect();
    if let Ok(env) = std::env::var("IMGX_PATH") {
        entries.extend(env.split(':').filter(|s| !s.is_empty()).map(SearchPathEntry::parse));
    }
    entries
}

/// Evaluates on a thread with a large stack (see `with_evaluation_stack`).
pub fn run(args: EvalArgs) -> Result<(), Failure> {
    imgx_lang::with_evaluation_stack(move || evaluate(args))
        .map_err(|e| Failure::new(miette::miette!("cannot start the evaluation thread: {e}")))?
}

fn evaluate(args: EvalArgs) -> Result<(), Failure> {
    let mut options = EvalOptions::new(Rc::new(StdIo));
    options.search_path = search_path(&args.include);
    let mut vm = Vm::new(options);
    let cwd =
        std::env::current_dir().map_err(|e| Failure::new(miette::miette!("cannot read the current directory: {e}")))?;
    let result = match (&args.expr, &args.file) {
        (Some(expr), _) => vm.eval_source("«string»", expr, &cwd),
        (None, Some(file)) => {
            let path = if file.is_absolute() { file.clone() } else { cwd.join(file) };
            vm.import_file(&path.to_string_lossy())
        }
        (None, None) => unreachable!("clap requires a file or --expr"),
    };
    let value = result.and_then(|value| select(&mut vm, value, args.attr.as_deref()));
    let output = value.and_then(|value| {
        if args.json {
            let forced = vm.force_deep(&value)?;
            imgx_lang::builtins::value_to_json(&mut vm, &forced, true)
        } else if args.strict {
            let forced = vm.force_deep(&value)?;
            Ok(imgx_lang::print::print_value_bytes(&forced))
        } else {
            Ok(imgx_lang::print::print_value_bytes(&value))
        }
    });
    match output {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`imgx eval … | head`) is not an error.
            let _ = stdout.write_all(&bytes).and_then(|_| stdout.flush());
            Ok(())
        }
        Err(error) => Err(Failure::new(error.to_report(&vm.sources))),
    }
}

/// Follows `-A a.b.c` into the result.
fn select(vm: &mut Vm, mut value: Value, path: Option<&str>) -> imgx_lang::EvalResult<Value> {
    let Some(path) = path else { return Ok(value) };
    for name in path.split('.').filter(|s| !s.is_empty()) {
        let attrs = vm.force_attrs(&value)?;
        value = match attrs.get_str(name) {
            Some(next) => vm.force(&next.clone())?,
            None => {
                return Err(imgx_lang::EvalError::new(imgx_lang::ErrorKind::AttrMissing {
                    name: name.to_string(),
                    suggestion: None,
                }));
            }
        };
    }
    Ok(value)
}
