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
    /// Build the steps a description asks for.
    Build(BuildArgs),
    /// Print the canonical serialisation of steps as JSON.
    ShowStep(TargetArgs),
    /// Compare this store's step outputs with another store's: agreements,
    /// disagreements, and keys only one of them has built.
    Challenge(ChallengeArgs),
    /// Write the step graph as Graphviz DOT, marking cached and dirty steps.
    Graph(TargetArgs),
    /// Print the build log of a step (by key, or the steps of a description).
    Log(LogArgs),
    /// Inspect and maintain the store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Signing keys for binary caches.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Upload step outputs and signed manifests to a binary cache.
    Push(PushArgs),
    /// The build VM that run steps boot: fetch its packages, or open a shell in it.
    #[command(subcommand)]
    Vm(VmCommand),
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

/// What to evaluate to find steps: shared by build, show-step and graph.
#[derive(Args, Debug)]
pub struct TargetArgs {
    /// The description (default: ./default.nix, else ./image.nix).
    pub file: Option<PathBuf>,
    /// Select an attribute of the result (`a.b.c`).
    #[arg(short = 'A', long = "attr", value_name = "ATTRPATH")]
    pub attr: Option<String>,
    /// Pass `name = EXPR` to a description that is a function.
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "EXPR"])]
    pub arg: Vec<String>,
    /// Pass `name = "VALUE"` to a description that is a function.
    #[arg(long = "argstr", num_args = 2, value_names = ["NAME", "VALUE"])]
    pub argstr: Vec<String>,
    /// Add a search-path entry for `<name>` lookups (`name=path` or `path`).
    #[arg(short = 'I', value_name = "PATH")]
    pub include: Vec<String>,
    /// Evaluate even if an unchanged description's result is cached.
    #[arg(long)]
    pub no_eval_cache: bool,
}

/// Arguments of `imgx build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// What to build.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Name of the symlink to the output (`result`; more targets get `-2`, `-3`…).
    #[arg(short = 'o', long = "out-link", default_value = "result")]
    pub out_link: PathBuf,
    /// Do not create an out-link.
    #[arg(long)]
    pub no_out_link: bool,
    /// How many steps may build at once (default: the number of CPUs).
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
    /// Show what would be built, substituted from a binary cache or reused, without building or downloading.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep building independent steps after a failure.
    #[arg(long)]
    pub keep_going: bool,
    /// Keep the output of a failed step and print where it is.
    #[arg(long)]
    pub keep_failed: bool,
    /// Report progress as one JSON object per line on standard output.
    #[arg(long)]
    pub json: bool,
    /// Print the steps' build logs as they are written, each line after
    /// its step's name.
    #[arg(short = 'L', long)]
    pub print_build_logs: bool,
    /// Reproducibility checks.
    #[command(flatten)]
    pub check: CheckArgs,
    /// Binary caches to substitute from.
    #[command(flatten)]
    pub substitute: SubstituteArgs,
}

/// `imgx build --substituter … --trusted-key …`: where to look for steps'
/// outputs before building them (added to those of
/// `~/.config/imgx/config.toml`).
#[derive(Args, Debug, Default)]
pub struct SubstituteArgs {
    /// A binary cache to download steps' outputs from (file:///path,
    /// http://…, https://…, s3://bucket/prefix?endpoint=…&region=…); may be
    /// given more than once.
    #[arg(long = "substituter", value_name = "URL")]
    pub substituters: Vec<String>,
    /// A public key (`name:base64`, or a file holding one) whose
    /// signatures are trusted; may be given more than once.
    #[arg(long = "trusted-key", value_name = "KEY")]
    pub trusted_keys: Vec<String>,
    /// Ignore the substituters of the configuration file.
    #[arg(long)]
    pub no_substituters: bool,
}

/// `imgx key …`.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Write a new ed25519 key pair: NAME.secret (for `imgx push --key`)
    /// and NAME.public (for `--trusted-key` and `trusted-public-keys`).
    Generate {
        /// The key's name, recorded in every signature (for example
        /// `cache.example.org-1`).
        name: String,
        /// The folder to write the two files into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// Arguments of `imgx push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// The cache: file:///path, http://…, https://… or s3://bucket/prefix?endpoint=…&region=….
    pub cache: String,
    /// The steps of this description (with their dependencies) are pushed.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Push every realisation in the store instead of a description's steps.
    #[arg(long, conflicts_with = "file")]
    pub all: bool,
    /// The secret key file that signs the manifests (from `imgx key generate`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The priority a new cache is given (lower is asked first; default 50).
    #[arg(long)]
    pub priority: Option<u32>,
}

/// `imgx build --check …`: rebuild what is realised and compare.
#[derive(Args, Debug, Default)]
pub struct CheckArgs {
    /// Rebuild the requested steps in a scratch area (steps not built yet
    /// are built first) and compare each output with the registered one.
    /// Exit 1, naming the first step that differs, if any does.
    #[arg(long)]
    pub check: bool,
    /// With --check: check every step the requested ones need, not only them.
    #[arg(long, requires = "check")]
    pub check_deps: bool,
    /// With --check: keep a rebuilt output that differs, and print where.
    #[arg(long, requires = "check")]
    pub keep: bool,
    /// With --check: what the rebuild varies: all, none, or a comma-separated
    /// list of umask, tz, locale, env, time, order, cpus.
    #[arg(long, requires = "check", value_name = "LIST")]
    pub vary: Vec<String>,
    /// With --check: also hand the two outputs of a differing step to diffoscope.
    #[arg(long, requires = "check")]
    pub diffoscope: bool,
    /// The steps to check, written by the imgx that varies the environment
    /// for the imgx it starts.
    #[arg(long, requires = "check", hide = true, value_name = "FILE")]
    pub check_plan: Option<PathBuf>,
}

/// Arguments of `imgx challenge`.
#[derive(Args, Debug)]
pub struct ChallengeArgs {
    /// The other side: a local imgx store's folder, or a binary cache (a
    /// folder, file://, http(s):// or s3:// URL).
    pub cache: String,
    /// Only the steps of this description (default: every key either store has).
    #[command(flatten)]
    pub target: TargetArgs,
    /// List agreements too, not only disagreements and one-sided keys.
    #[arg(short, long)]
    pub verbose: bool,
    /// One JSON object per key on standard output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `imgx log`.
#[derive(Args, Debug)]
pub struct LogArgs {
    /// A step key (or a prefix of one), or a description file.
    pub step: Option<String>,
    /// Select an attribute of the description (`a.b.c`).
    #[arg(short = 'A', long = "attr", value_name = "ATTRPATH")]
    pub attr: Option<String>,
}

/// `imgx store …`.
#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Delete every object no out-link or explicit root refers to.
    Gc,
    /// Rehash every object and report those whose content changed. Corrupt
    /// objects are moved to the store's quarantine folder and forgotten, so
    /// the next build replaces them.
    Verify {
        /// Also delete entries of the objects folder that are not registered
        /// (left by an interrupted registration).
        #[arg(long, conflicts_with = "report_only")]
        quarantine: bool,
        /// Only report: leave corrupt objects registered and in place.
        #[arg(long)]
        report_only: bool,
    },
    /// Describe a store object (by path or hash) or a step (by key).
    Info {
        /// A path into the store, an object hash, or a step key.
        what: String,
    },
}

/// `imgx vm …`.
#[derive(Subcommand, Debug)]
pub enum VmCommand {
    /// Download the Debian packages of the build VM and of the library's boot
    /// helpers (kernel, busybox, systemd-boot, GRUB) with apt into the folder
    /// the bundled library reads ($IMGX_VM_PACKAGES, else
    /// $XDG_CACHE_HOME/imgx/vm, else ~/.cache/imgx/vm).
    Fetch {
        /// Download the current packages even if some are there already.
        #[arg(long)]
        update: bool,
    },
    /// Boot the build VM with a disk mounted as a run step mounts it, and
    /// open a shell in it on this terminal. The disk is never changed.
    Shell(VmShellArgs),
}

/// Arguments of `imgx vm shell`.
#[derive(Args, Debug)]
pub struct VmShellArgs {
    /// A raw disk image (default: ./result, if it is a file).
    pub disk: Option<PathBuf>,
    /// The VM's memory in MiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(128..=1_048_576))]
    pub memory: u64,
    /// The VM's CPUs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub cpus: u64,
    /// Use the VM's busybox with the image at /mnt even if the image has a shell.
    #[arg(long)]
    pub busybox: bool,
    /// Add a search-path entry for `<name>` lookups, such as `imgx=PATH` for another library.
    #[arg(short = 'I', value_name = "PATH")]
    pub include: Vec<String>,
}
