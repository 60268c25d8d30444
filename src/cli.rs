//! The command-line grammar.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Build disk images from declarative descriptions written in the Nix language.
#[derive(Parser, Debug)]
#[command(name = "imgx", version, about, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// imgx's commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Evaluate a Nix-language file or expression and print the result.
    Eval(EvalArgs),
}

/// Arguments of `imgx eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The file to evaluate (a directory means its default.nix).
    #[arg(conflicts_with = "expr", required_unless_present = "expr")]
    pub file: Option<PathBuf>,
    /// Evaluate this expression instead of a file.
    #[arg(long, short = 'E')]
    pub expr: Option<String>,
    /// Evaluate the result deeply, not just to its outermost constructor.
    #[arg(long)]
    pub strict: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Add a search-path entry for `<name>` lookups (`name=path` or `path`).
    #[arg(short = 'I', value_name = "PATH")]
    pub include: Vec<String>,
    /// Select an attribute of the result (`a.b.c`).
    #[arg(short = 'A', long = "attr", value_name = "ATTRPATH")]
    pub attr: Option<String>,
}
