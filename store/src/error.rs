//! The store's error type: every variant says what the store was doing and
//! on which path, so a report can point at the file and the action.

use std::io;
use std::path::{Path, PathBuf};

use crate::hash::ObjectHash;

/// The result type of the store's operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
///
/// The underlying error, where there is one, is the
/// [`source`](std::error::Error::source) and is not repeated in the message, so a
/// report that prints the chain (miette does) shows each cause once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("could not {action} {}", .path.display())]
    Io {
        /// What the store was doing, as a verb phrase ("rename", "fsync", …).
        action: &'static str,
        /// The file or directory it was doing it to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The device that holds the store is full (ENOSPC or EDQUOT, from the
    /// file system or from SQLite). A failed registration has removed its
    /// partial files and registered nothing.
    #[error("no space left on the device holding the store (while trying to {action} {})", .path.display())]
    NoSpace {
        /// What the store was doing.
        action: &'static str,
        /// The file or directory it was writing.
        path: PathBuf,
    },

    /// The metadata database reported an error.
    #[error("the store database {} failed while trying to {action}", .path.display())]
    Sqlite {
        /// What the store was doing.
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// The store's files or metadata contradict each other in a way the
    /// store cannot repair by itself.
    #[error("the store is corrupt at {}: {detail}", .path.display())]
    Corrupt {
        /// The file (or database) where the inconsistency was found.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// The database was written by a newer imgx whose schema this one does
    /// not know.
    #[error(
        "the store database {} has schema version {found}, newer than version {supported} that this imgx understands",
        .path.display()
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },

    /// A step or cache key that is not 64 lowercase hexadecimal digits.
    #[error("invalid key {key:?}: keys are 64 lowercase hexadecimal digits")]
    InvalidKey {
        /// The key as given.
        key: String,
    },

    /// `register` was given a path outside the store's scratch directory;
    /// only scratch areas (on the store's file system) can be registered.
    #[error("{} is not inside the store's scratch directory {}", .path.display(), .scratch.display())]
    NotInScratch {
        /// The path given.
        path: PathBuf,
        /// The scratch directory it should be under.
        scratch: PathBuf,
    },

    /// A file that is neither a regular file, a directory nor a symlink
    /// (a socket, FIFO or device node) cannot be stored.
    #[error("cannot store {}: only regular files, directories and symbolic links can be stored", .path.display())]
    UnsupportedFileType {
        /// The offending file.
        path: PathBuf,
    },

    /// An operation needs an object that is not registered (or whose file
    /// is gone).
    #[error("object {hash} is not in the store")]
    NoSuchObject {
        /// The object's hash.
        hash: ObjectHash,
    },

    /// A path that must be stored in the database as text is not UTF-8.
    #[error("{} is not valid UTF-8 and cannot be recorded in the store database", .path.display())]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },

    /// An output registered under an expected hash (a substituted object)
    /// turned out to have another content hash. It was removed and nothing
    /// was registered.
    #[error("{} has the content hash {actual}, not the expected {expected}", .path.display())]
    HashMismatch {
        /// The output that was to be registered.
        path: PathBuf,
        /// The hash it was expected to have.
        expected: ObjectHash,
        /// The hash it has.
        actual: ObjectHash,
    },

    /// No store location could be derived from the environment.
    #[error("cannot find a place for the store: set IMGX_STORE, XDG_DATA_HOME or HOME")]
    NoDefaultRoot,

    /// The operation takes the store-wide lock exclusively while this
    /// [`Store`](crate::Store) holds a build guard, so it would wait for
    /// itself forever.
    #[error("cannot {action} while this process holds a build guard on the store (it would wait for itself)")]
    WouldDeadlock {
        /// The operation refused ("collect garbage", …).
        action: &'static str,
    },
}

impl StoreError {
    /// Wraps an I/O error with what the store was doing and where. Running
    /// out of space becomes [`StoreError::NoSpace`].
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> StoreError {
        if is_no_space(&source) {
            StoreError::NoSpace { action, path: path.to_path_buf() }
        } else {
            StoreError::Io { action, path: path.to_path_buf(), source }
        }
    }

    /// Wraps a SQLite error; a full disk becomes [`StoreError::NoSpace`].
    pub(crate) fn sqlite(action: &'static str, path: &Path, source: rusqlite::Error) -> StoreError {
        if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            StoreError::NoSpace { action, path: path.to_path_buf() }
        } else {
            StoreError::Sqlite { action, path: path.to_path_buf(), source }
        }
    }

    /// Whether this error means the store's device is full.
    pub fn is_no_space(&self) -> bool {
        matches!(self, StoreError::NoSpace { .. })
    }
}

/// Whether an I/O error means "the device (or the user's quota) is full".
fn is_no_space(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
}

/// Adds the action and path to an `io::Result`.
pub(crate) trait IoContext<T> {
    /// Maps the error with [`StoreError::io`].
    fn at(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| StoreError::io(action, path, source))
    }
}

/// Adds the action and database path to a `rusqlite::Result`.
pub(crate) trait SqlContext<T> {
    /// Maps the error with [`StoreError::sqlite`].
    fn sql(self, action: &'static str, db: &Path) -> Result<T>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn sql(self, action: &'static str, db: &Path) -> Result<T> {
        self.map_err(|source| StoreError::sqlite(action, db, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_space_is_its_own_error() {
        let path = Path::new("/store/objects");
        let enospc = io::Error::from_raw_os_error(28);
        let error = StoreError::io("write", path, enospc);
        assert!(error.is_no_space());
        assert!(error.to_string().starts_with("no space left on the device holding the store"));
        let edquot = io::Error::from_raw_os_error(122);
        assert!(StoreError::io("write", path, edquot).is_no_space());
        let other = StoreError::io("write", path, io::Error::from_raw_os_error(5));
        assert!(!other.is_no_space());
        assert_eq!(other.to_string(), "could not write /store/objects");
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        assert!(StoreError::sqlite("record", path, full).is_no_space());
    }
}
