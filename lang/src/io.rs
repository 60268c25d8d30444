//! Everything the language may observe outside itself goes through [`EvalIo`].
//!
//! The evaluator never calls `std::fs` directly: the CLI chooses an
//! implementation, and the store layer later provides one that imports
//! interpolated paths into the store.

use crate::value::Context;
use std::io;
use std::path::Path;

/// The type of a directory entry, as `builtins.readDir` reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// Anything else (device, socket, fifo).
    Unknown,
}

impl FileType {
    /// The name Nix uses for this type.
    pub fn nix_name(self) -> &'static str {
        match self {
            FileType::Regular => "regular",
            FileType::Directory => "directory",
            FileType::Symlink => "symlink",
            FileType::Unknown => "unknown",
        }
    }
}

/// File-system access for the evaluator.
pub trait EvalIo {
    /// Reads a whole file.
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Lists a directory: names and types, in any order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, FileType)>>;
    /// The type of a path, not following a final symlink.
    fn file_type(&self, path: &Path) -> io::Result<FileType>;
    /// Whether a path exists (following symlinks).
    fn path_exists(&self, path: &Path) -> bool;
    /// What a path becomes when it is interpolated into a string: the text
    /// to insert and the context it carries. A store-backed implementation
    /// imports the path and returns the object's path.
    fn import_path(&self, path: &str) -> io::Result<(String, Context)>;
    /// An environment variable (`builtins.getEnv`); empty when unset.
    fn get_env(&self, name: &str) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        std::env::var_os(name).map(|v| v.as_bytes().to_vec()).unwrap_or_default()
    }
}

/// Direct access to the host's file system; interpolated paths stay host
/// paths and are recorded in the string's context.
#[derive(Default)]
pub struct StdIo;

fn file_type_of(meta: &std::fs::Metadata) -> FileType {
    let ft = meta.file_type();
    if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_dir() {
        FileType::Directory
    } else if ft.is_file() {
        FileType::Regular
    } else {
        FileType::Unknown
    }
}

impl EvalIo for StdIo {
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, FileType)>> {
        use std::os::unix::ffi::OsStrExt;
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let meta = std::fs::symlink_metadata(entry.path())?;
            entries.push((entry.file_name().as_bytes().to_vec(), file_type_of(&meta)));
        }
        Ok(entries)
    }

    fn file_type(&self, path: &Path) -> io::Result<FileType> {
        Ok(file_type_of(&std::fs::symlink_metadata(path)?))
    }

    fn path_exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn import_path(&self, path: &str) -> io::Result<(String, Context)> {
        std::fs::symlink_metadata(path)?;
        let mut context = Context::new();
        context.insert(path.into());
        Ok((path.to_string(), context))
    }
}
