//! One module per command; each exposes `run(args) -> Result<(), Failure>`.

mod build;
mod challenge;
mod check;
mod eval;
mod graph;
mod key;
mod log;
mod push;
mod show_step;
mod store;
mod vm;

use crate::cli::{Cli, Command, TargetArgs};
use crate::session::{AutoArgs, Session, Source};
use imgx_builders::{Step, StepKey};
use imgx_store::Store;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Exit code for evaluation errors and bad input.
pub const EXIT_ERROR: u8 = 1;
/// Exit code when a step failed to build.
pub const EXIT_BUILD_FAILED: u8 = 3;
/// Exit code for bad command-line usage (as clap uses it).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the store could not be used.
pub const EXIT_STORE: u8 = 4;
/// Exit code when a host tool imgx relies on (apt, QEMU) is missing or
/// failed.
pub const EXIT_HOST_TOOL: u8 = 5;
/// Exit code when a binary cache could not be used (`imgx push`).
pub const EXIT_CACHE: u8 = 6;

/// Why a command failed, already rendered for the terminal, with its exit code.
pub struct Failure {
    /// `None` when what went wrong was printed already (by a child imgx).
    report: Option<miette::Report>,
    /// The process exit code.
    pub exit_code: u8,
}

impl Failure {
    /// A failure with exit code 1.
    pub fn new(report: miette::Report) -> Failure {
        Failure { report: Some(report), exit_code: EXIT_ERROR }
    }

    /// A failure with a given exit code.
    pub fn with_code(report: miette::Report, exit_code: u8) -> Failure {
        Failure { report: Some(report), exit_code }
    }

    /// A failure that was reported already: only its exit code is left.
    pub fn silent(exit_code: u8) -> Failure {
        Failure { report: None, exit_code }
    }

    /// Prints the report to standard error.
    pub fn print(&self) {
        if let Some(report) = &self.report {
            eprintln!("{report:?}");
        }
    }
}

/// Runs the chosen command.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Eval(args) => eval::run(args),
        Command::Build(args) => build::run(args),
        Command::Challenge(args) => challenge::run(args),
        Command::ShowStep(args) => show_step::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Log(args) => log::run(args),
        Command::Store(command) => store::run(command),
        Command::Key(command) => key::run(command),
        Command::Push(args) => push::run(args),
        Command::Vm(command) => vm::run(command),
    }
}

/// Opens the store at `$IMGX_STORE` (or the default place).
pub fn open_store() -> Result<Arc<Store>, Failure> {
    let root = Store::default_root().map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_STORE))?;
    let store = Store::open(&root).map_err(|e| {
        Failure::with_code(miette::miette!("cannot open the store at {}: {e}", root.display()), EXIT_STORE)
    })?;
    warn_about_recovery(store.recovery());
    Ok(Arc::new(store))
}

/// Tells the user what a crash cost the store: objects registered shortly
/// before it whose bytes never reached the disk. They are forgotten, so
/// the builds that need them run again.
fn warn_about_recovery(recovery: &imgx_store::RecoveryReport) {
    if !recovery.lost_anything() {
        return;
    }
    let lost = recovery.quarantined.len() + recovery.missing.len();
    eprintln!(
        "warning: the machine went down before {lost} store object(s) reached the disk; \
         they are forgotten and will be rebuilt when needed{}",
        match recovery.quarantined.first() {
            Some(first) => format!(" (the damaged copies are in {})", first.parent().unwrap_or(first).display()),
            None => String::new(),
        }
    );
}

/// Installs the bundled library under the store root and returns its folder.
pub fn stdlib_dir(root: &std::path::Path) -> Result<PathBuf, Failure> {
    crate::stdlib::install(root).map_err(|e| {
        Failure::with_code(
            miette::miette!("cannot install the standard library under {}: {e}", root.display()),
            EXIT_STORE,
        )
    })
}

/// The steps a description asks for, and the steps they need.
pub struct Evaluated {
    /// The requested steps.
    pub targets: Vec<StepKey>,
    /// The targets and every step they depend on, by input key (not the
    /// steps the evaluation created and nothing asked for).
    pub steps: BTreeMap<StepKey, Step>,
    /// Whether the result came from the evaluation cache.
    pub from_cache: bool,
}

/// The targets and the steps they depend on, directly or not.
fn closure(mut all: BTreeMap<StepKey, Step>, targets: &[StepKey]) -> BTreeMap<StepKey, Step> {
    let keys = crate::check::order::closure(&all, targets);
    keys.into_iter().filter_map(|key| all.remove(&key).map(|step| (key, step))).collect()
}

/// Evaluates a description (on the evaluation thread) and collects its steps.
pub fn evaluate_targets(args: &TargetArgs, store: &Arc<Store>) -> Result<Evaluated, Failure> {
    let source = Source::file_or_default(args.file.clone()).map_err(|e| Failure::new(miette::miette!("{e}")))?;
    evaluate_source(source, args, store)
}

/// [`evaluate_targets`] for a given source (a file or an expression),
/// with the rest of `args` (attribute, arguments, search path, cache).
pub fn evaluate_source(source: Source, args: &TargetArgs, store: &Arc<Store>) -> Result<Evaluated, Failure> {
    let request = request_key(args, &source);
    if !args.no_eval_cache
        && let Some(cached) = crate::evalcache::lookup(store, &request)
    {
        return Ok(Evaluated { targets: cached.targets, steps: cached.steps, from_cache: true });
    }
    let stdlib = stdlib_dir(store.root())?;
    let auto_args = AutoArgs { always: true, exprs: pairs(&args.arg), strings: pairs(&args.argstr) };
    let includes = args.include.clone();
    let attr = args.attr.clone();
    let store = store.clone();
    imgx_lang::with_evaluation_stack(move || {
        let mut session = Session::new(&includes, Some(store.clone()), Some(&stdlib));
        let result = session.evaluate(&source, attr.as_deref(), &auto_args).and_then(|value| session.targets(&value));
        match result {
            Ok(targets) => {
                let steps = closure(session.steps(), &targets);
                crate::evalcache::store_result(&store, &request, &session.observations(), &targets, &steps);
                Ok(Evaluated { targets, steps, from_cache: false })
            }
            Err(error) => Err(Failure::new(error.to_report(&session.vm.sources))),
        }
    })
    .map_err(|e| Failure::new(miette::miette!("cannot start the evaluation thread: {e}")))?
}

/// The evaluation cache's key for a request: what to evaluate and how,
/// and the binary doing it.
/// Builds what an evaluation asks for with the progress display the
/// output calls for (JSON events, a live terminal, or plain lines), and
/// clears the display before results are printed.
pub fn run_build(
    store: &Arc<Store>,
    evaluated: &Evaluated,
    options: &crate::scheduler::BuildOptions,
    json: bool,
    print_logs: bool,
) -> Result<crate::scheduler::BuildReport, Failure> {
    use crate::scheduler::report::{JsonReporter, PlainReporter, Reporter, TerminalReporter};
    use std::io::IsTerminal;
    let reporter: Box<dyn Reporter> = if json {
        Box::new(JsonReporter::new())
    } else if std::io::stderr().is_terminal() {
        Box::new(TerminalReporter::new(print_logs))
    } else {
        Box::new(PlainReporter::new(print_logs))
    };
    crate::scheduler::build(store, &evaluated.steps, &evaluated.targets, options, reporter.as_ref())
        .map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_STORE))
}

fn request_key(args: &TargetArgs, source: &Source) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let source_text = match source {
        Source::File(file) => format!("file:{}", cwd.join(file).display()),
        Source::Expr(expr) => format!("expr:{}:{expr}", cwd.display()),
    };
    let binary = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            format!("{}:{}:{}", m.size(), m.mtime(), m.mtime_nsec())
        })
        .unwrap_or_default();
    let imgx_path = std::env::var("IMGX_PATH").unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_default();
    let attr = args.attr.clone().unwrap_or_default();
    let mut parts: Vec<&str> = vec![&source_text, &binary, &imgx_path, &home, &attr];
    let includes = args.include.join("\0");
    let arg = args.arg.join("\0");
    let argstr = args.argstr.join("\0");
    parts.extend([includes.as_str(), arg.as_str(), argstr.as_str()]);
    crate::evalcache::request_key(&parts)
}

fn pairs(flat: &[String]) -> Vec<(String, String)> {
    flat.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0].clone(), c[1].clone())).collect()
}
