//! One module per command; each exposes `run(args) -> Result<(), Failure>`.

mod eval;

use crate::cli::{Cli, Command};

/// Why a command failed, already rendered for the terminal, with its exit code.
pub struct Failure {
    report: miette::Report,
    /// The process exit code.
    pub exit_code: u8,
}

impl Failure {
    /// A failure with exit code 1.
    pub fn new(report: miette::Report) -> Failure {
        Failure { report, exit_code: 1 }
    }

    /// Prints the report to standard error.
    pub fn print(&self) {
        eprintln!("{:?}", self.report);
    }
}

/// Runs the chosen command.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Eval(args) => eval::run(args),
    }
}
