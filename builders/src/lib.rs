//! The step kinds of imgx.
//!
//! A [`Step`] is what the language's `builtins.step` produces: a kind, a
//! name, parameters (JSON) and the inputs its parameters refer to. Its
//! canonical serialisation is hashed into keys ([`step`]). A [`Builder`]
//! turns a step's realised inputs into its output inside a scratch folder of
//! the store; [`builder_for`] finds the builder of a kind.
//!
//! **Architecture invariant:** builders know nothing about the Nix language
//! or the scheduler. They read parameters, resolve input placeholders to
//! paths, write one output, and log what they do.

mod boot_test;
mod builder;
pub mod canonical;
mod child;
mod convert;
mod directory;
mod disk;
mod fetch;
mod file;
mod fs;
mod image_format;
mod run;
pub mod step;
mod unpack;
mod vm;

/// The file at the top of a directory object that records its entries'
/// owners, modes, extended attributes and special types (JSON lines), for
/// trees whose metadata the host's files cannot carry.
pub const ATTRIBUTES_FILE: &str = ".imgx-attributes";

pub use builder::{BuildContext, BuildError, Builder, DEFAULT_SOURCE_DATE_EPOCH, ParamError, builder_for, builders};
pub use canonical::{
    CanonicalizeError, CanonicalizedPartition, canonicalize_disk, canonicalize_ext4, canonicalize_fat,
};
pub use fetch::http_agent;
pub use image_format::ImageFormat;
pub use run::{ShellError, VmShell, vm_shell};
pub use step::{InputRef, Step, StepKey};
