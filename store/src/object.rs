//! What an object is and how to look one up.

use std::fmt;
use std::path::PathBuf;

use rusqlite::OptionalExtension;

use crate::Store;
use crate::error::{Result, SqlContext, StoreError};
use crate::fsutil::exists;
use crate::hash::ObjectHash;

/// The kind of file system entry at the top of an object.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ObjectKind {
    /// A regular file (a disk image, a kernel, …).
    File,
    /// A directory tree.
    Directory,
    /// A symbolic link.
    Symlink,
}

impl ObjectKind {
    /// The name stored in the database: `file`, `directory` or `symlink`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::File => "file",
            ObjectKind::Directory => "directory",
            ObjectKind::Symlink => "symlink",
        }
    }

    /// Parses [`ObjectKind::as_str`]'s output.
    pub fn parse(name: &str) -> Option<ObjectKind> {
        match name {
            "file" => Some(ObjectKind::File),
            "directory" => Some(ObjectKind::Directory),
            "symlink" => Some(ObjectKind::Symlink),
            _ => None,
        }
    }

    /// The kind of a file type; `None` for sockets, FIFOs and devices.
    pub(crate) fn of(file_type: std::fs::FileType) -> Option<ObjectKind> {
        if file_type.is_symlink() {
            Some(ObjectKind::Symlink)
        } else if file_type.is_dir() {
            Some(ObjectKind::Directory)
        } else if file_type.is_file() {
            Some(ObjectKind::File)
        } else {
            None
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ObjectInfo {
    /// Its content hash, which is also its name.
    pub hash: ObjectHash,
    /// File, directory or symlink.
    pub kind: ObjectKind,
    /// Apparent size in bytes: a file's length, the sum of the lengths of
    /// the regular files and symlink targets in a directory tree, a
    /// symlink's target length. A sparse image counts its holes.
    pub size: u64,
    /// Where it is: `root/objects/<hex>`. Read-only.
    pub path: PathBuf,
}

impl Store {
    /// The path an object has (or would have) in the store:
    /// `root/objects/<hex>`. It may not exist; see [`Store::has_object`].
    pub fn object_path(&self, hash: &ObjectHash) -> PathBuf {
        self.layout.object(hash)
    }

    /// The object's metadata, if it is registered and its file exists.
    pub fn object_info(&self, hash: &ObjectHash) -> Result<Option<ObjectInfo>> {
        let db = &self.layout.db;
        let row: Option<(String, i64)> = self
            .db()
            .query_row("SELECT kind, size FROM objects WHERE hash = ?1", [hash.to_hex()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
            .sql("look up an object in", db)?;
        let Some((kind, size)) = row else { return Ok(None) };
        let path = self.object_path(hash);
        if !exists(&path) {
            return Ok(None);
        }
        let corrupt = |detail: String| StoreError::Corrupt { path: db.clone(), detail };
        let kind =
            ObjectKind::parse(&kind).ok_or_else(|| corrupt(format!("object {hash} has the unknown kind {kind:?}")))?;
        let size = u64::try_from(size).map_err(|_| corrupt(format!("object {hash} has the negative size {size}")))?;
        Ok(Some(ObjectInfo { hash: *hash, kind, size, path }))
    }

    /// Whether the object is registered and its file exists.
    pub fn has_object(&self, hash: &ObjectHash) -> Result<bool> {
        Ok(self.object_info(hash)?.is_some())
    }
}
