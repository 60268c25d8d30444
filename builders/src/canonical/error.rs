//! What can go wrong while canonicalizing.

use super::FileSystem;
use std::io;

/// Why an image could not be canonicalized. Nothing in an image makes the
/// canonicalizer panic: every inconsistency it meets is one of these.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalizeError {
    /// Reading, writing or punching the image file failed.
    #[error("{action} {len} bytes at byte {offset} of the image: {error}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where, in bytes from the start of the file.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// The system's error.
        error: io::Error,
    },
    /// A structure is not what its format allows; the message says which
    /// and how.
    #[error("{0}")]
    Malformed(String),
    /// A valid format feature that is not handled.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// The ext4 file system was not unmounted cleanly: its journal still
    /// holds transactions, or the superblock asks for recovery.
    #[error(
        "the ext4 journal is not empty (start block {start}, sequence {sequence}, needs_recovery {needs_recovery}): \
         the file system was not unmounted cleanly"
    )]
    JournalNotEmpty {
        /// The journal superblock's `s_start` (0 when empty).
        start: u32,
        /// The journal superblock's `s_sequence`.
        sequence: u32,
        /// Whether the ext4 superblock has `INCOMPAT_RECOVER` set.
        needs_recovery: bool,
    },
    /// An error inside one partition, with the partition named.
    #[error("partition {number} (bytes {start}..{end}, {file_system}): {error}")]
    InPartition {
        /// The partition's number in the table (1-based), 0 for an image
        /// without a table.
        number: u32,
        /// The partition's first byte.
        start: u64,
        /// The byte after the partition's last.
        end: u64,
        /// The file system found in it.
        file_system: FileSystem,
        /// What went wrong.
        error: Box<CanonicalizeError>,
    },
}

impl CanonicalizeError {
    /// An I/O error with where it happened.
    pub(crate) fn io(action: &'static str, offset: u64, len: u64, error: io::Error) -> CanonicalizeError {
        CanonicalizeError::Io { action, offset, len, error }
    }
}
