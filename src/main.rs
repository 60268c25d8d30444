//! The `imgx` command line: parses arguments, runs one command, turns its
//! error into a miette report and an exit code.
//!
//! Only this crate knows about argv, the terminal and exit codes; the
//! library crates return typed errors.

mod cli;
mod commands;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.exit_code)
        }
    }
}
