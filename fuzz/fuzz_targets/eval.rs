//! Fuzz target: parse + evaluate + deep-force + print arbitrary source text.
//!
//! The only acceptable outcomes are `Ok` or `Err`; any panic is a bug in the
//! evaluator. Inputs that legitimately run forever or allocate without bound
//! (`builtins.genList (x: x) 1000000000`) are cut off by libFuzzer's
//! `-timeout=` and `-rss_limit_mb=`, not here.

#![no_main]

use imgx_lang::value::{Context, ThunkState};
use imgx_lang::{EvalIo, EvalOptions, FileType, Value, Vm};
use libfuzzer_sys::fuzz_target;
use std::io;
use std::path::Path;
use std::rc::Rc;

/// A file system with nothing in it and an empty environment: the fuzzer
/// never touches the host.
struct NoIo;

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no file access while fuzzing")
}

impl EvalIo for NoIo {
    fn read_file(&self, _path: &Path) -> io::Result<Vec<u8>> {
        Err(not_found())
    }
    fn read_dir(&self, _path: &Path) -> io::Result<Vec<(Vec<u8>, FileType)>> {
        Err(not_found())
    }
    fn file_type(&self, _path: &Path) -> io::Result<FileType> {
        Err(not_found())
    }
    fn path_exists(&self, _path: &Path) -> bool {
        false
    }
    fn import_path(&self, _path: &str) -> io::Result<(String, Context)> {
        Err(not_found())
    }
    /// No host environment either: every variable is unset, so results do
    /// not depend on where the fuzzer runs.
    fn get_env(&self, _name: &str) -> Vec<u8> {
        Vec::new()
    }
}

/// Breaks the reference cycle `builtins.builtins` → `builtins` that every
/// [`Vm`] creates (lang/src/builtins/mod.rs, `globals`), so that the fuzzer's
/// memory does not grow by ~20 KiB per input. Cycles made by user code
/// (recursive functions, `rec` sets) still leak: run with `-detect_leaks=0`.
fn break_builtins_cycle(vm: &mut Vm) {
    let Ok(Value::Attrs(set)) = vm.eval_source("«fuzz-cleanup»", "builtins", Path::new("/")) else { return };
    if let Some(Value::Thunk(cell)) = set.get_str("builtins") {
        *cell.0.borrow_mut() = ThunkState::Done(Value::Null);
    }
}

/// `IMGX_FUZZ_SHOW=1` prints each outcome to stderr (for triage, e.g. when
/// re-running a single artifact).
fn show() -> bool {
    std::env::var_os("IMGX_FUZZ_SHOW").is_some()
}

/// Parses, evaluates, deep-forces and prints one input, or renders its error.
fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut options = EvalOptions::new(Rc::new(NoIo));
    options.max_call_depth = 2_000;
    // `builtins.trace` / `warn` would flood the fuzzer's output.
    options.trace = Rc::new(|_| {});
    let mut vm = Vm::new(options);
    let result =
        vm.eval_source("«fuzz»", &text, Path::new("/nonexistent/fuzz")).and_then(|value| vm.force_deep(&value));
    match result {
        Ok(value) => {
            let printed = imgx_lang::print::print_value(&value);
            if show() {
                eprintln!("ok: {printed}");
            }
            std::hint::black_box(printed);
        }
        Err(error) => {
            let report = error.to_report(&vm.sources);
            let rendered = format!("{report:?}");
            if show() {
                eprintln!("error: {rendered}");
            }
            std::hint::black_box(rendered);
        }
    }
    break_builtins_cycle(&mut vm);
}

fuzz_target!(|data: &[u8]| {
    // Like the CLI (src/commands/eval.rs), evaluate on a thread with
    // `EVALUATION_STACK` bytes of stack. `IMGX_FUZZ_MAIN_STACK=1` runs on
    // libFuzzer's own thread (8 MiB) instead, which exposes recursion that
    // only the big stack hides (e.g. dropping deeply nested values).
    if std::env::var_os("IMGX_FUZZ_MAIN_STACK").is_some() {
        run(data);
    } else {
        imgx_lang::with_evaluation_stack(|| run(data)).expect("cannot start the evaluation thread");
    }
});
