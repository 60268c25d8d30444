//! `imgx eval`: evaluate and print, as `nix-instantiate --eval` does.

use super::Failure;
use crate::cli::EvalArgs;
use crate::session::{AutoArgs, Session, Source};
use imgx_store::Store;
use std::io::Write;

/// Evaluates on a thread with a large stack (see `with_evaluation_stack`).
pub fn run(args: EvalArgs) -> Result<(), Failure> {
    // `<imgx>` needs the library on disk. Paths that a string or a step
    // uses are imported into the store, as nix-instantiate --eval copies
    // them into Nix's; without a usable store they are left where they are
    // (and steps that take paths cannot be described).
    let stdlib = Store::default_root().ok().and_then(|root| super::stdlib_dir(&root).ok());
    let store = super::open_store().ok();
    imgx_lang::with_evaluation_stack(move || evaluate(args, store, stdlib))
        .map_err(|e| Failure::new(miette::miette!("cannot start the evaluation thread: {e}")))?
}

fn evaluate(
    args: EvalArgs,
    store: Option<std::sync::Arc<Store>>,
    stdlib: Option<std::path::PathBuf>,
) -> Result<(), Failure> {
    let mut session = Session::new(&args.include, store, stdlib.as_deref());
    let source = match (&args.expr, &args.file) {
        (Some(expr), _) => Source::Expr(expr.clone()),
        (None, Some(file)) => Source::File(file.clone()),
        (None, None) => return Err(Failure::new(miette::miette!("give a file or --expr"))),
    };
    let value = session.evaluate(&source, args.attr.as_deref(), &AutoArgs::default());
    let vm = &mut session.vm;
    let output = value.and_then(|value| {
        if args.json {
            let forced = vm.force_deep(&value)?;
            imgx_lang::builtins::value_to_json(vm, &forced, true)
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
        Err(error) => Err(Failure::new(error.to_report(&session.vm.sources))),
    }
}
