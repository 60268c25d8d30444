//! Binary caches: sharing step outputs between stores, so that a step one
//! machine built is downloaded, not built, by the next.
//!
//! The layout of a cache and its archive and signature formats are
//! described in `docs/cache-format.md`. One job per module:
//!
//! - [`format`]: the cache's files (info file, realisation manifests,
//!   object archives) and the checks on names read from a cache;
//! - [`archive`]: the sparse-aware archive of an object, compressed with
//!   zstd;
//! - [`sign`]: ed25519 keys and signatures in `name:base64` form;
//! - [`transport`]: where a cache lives (`file://`, `http(s)://`);
//! - [`config`]: the user's substituters and trusted keys;
//! - [`push`]: uploading objects and signed manifests;
//! - [`substitute`]: finding a step's output in a cache during a build,
//!   checking it, and registering it.

pub mod archive;
mod block_writer;
pub mod config;
pub mod format;
pub mod push;
pub mod sign;
pub mod substitute;
pub mod transport;

/// An error and its causes, one after the other, for a one-line warning.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
