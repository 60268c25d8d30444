//! The `imgx` command line: parses arguments, runs one command, turns its
//! error into a miette report and an exit code.
//!
//! Only this crate knows about argv, the terminal and exit codes; the
//! library crates return typed errors.

mod allocator;
mod cache;
mod check;
mod cli;
mod commands;
mod evalcache;
mod glue;
mod scheduler;
mod session;
mod stdlib;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;
use std::process::ExitCode;

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    install_report_handler();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.exit_code)
        }
    }
}

/// Reports wrap to the terminal's width on a terminal, and not at all when
/// standard error is a file or a pipe (logs, tests, CI).
fn install_report_handler() {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let _ = miette::set_hook(Box::new(move |_| {
        let options = miette::MietteHandlerOpts::new().wrap_lines(terminal);
        let options = if terminal { options } else { options.color(false).unicode(false) };
        Box::new(options.build())
    }));
}

/// Evaluation touches many fresh pages; with transparent huge pages the
/// kernel zeroes 2 MiB for each first touch, which cost up to a fifth of an
/// evaluation's time in measurements. imgx's working sets are small enough
/// that 4 KiB pages are the better trade.
#[allow(unsafe_code)]
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and only sets
    // a flag on this process; failure (old kernels) is harmless and ignored.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
