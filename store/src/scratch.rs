//! Scratch directories: private build areas under `root/scratch`, on the
//! store's file system so a finished output is renamed, not copied, into
//! `objects/`.
//!
//! Each scratch directory `scratch/<name>` has a lock file
//! `scratch/<name>.lock`, created and locked *before* the directory and
//! held for the directory's whole life. A process that dies releases the
//! lock, so [`cleanup_stale`] (run by `Store::open`) removes exactly the
//! directories whose lock nobody holds. A directory kept for inspection
//! (`--keep-failed`) trades its lock file for a `<name>.kept` marker and is
//! never removed automatically.
//!
//! The race between a creator and a cleaner: the cleaner may lock and
//! delete a lock file in the instant between its creation and the
//! creator's lock. The creator therefore checks, once it holds the lock,
//! that the lock file it locked is still the one at that path, and starts
//! over with a new name if not. The directory is created only after that
//! check, so a directory always has a live lock file while it is in use.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::Store;
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{exists, remove_tree, unique_name};
use crate::lock::{sibling_lock_path, try_lock_exclusive};

/// A fresh, private directory under `root/scratch`. It is removed (with
/// everything in it) when dropped, unless [`Scratch::keep`] is called.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    lock_path: PathBuf,
    /// The locked lock file; `None` once kept.
    lock: Option<File>,
}

impl Scratch {
    /// The directory. Builders write their output anywhere inside it and
    /// pass that path to [`Store::register`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory after this value is dropped (for
    /// `--keep-failed`): it is marked with `<name>.kept` and never removed
    /// by the store; the user deletes it. Returns its path.
    pub fn keep(mut self) -> Result<PathBuf> {
        let marker = marker_path(&self.path, "kept");
        fs::write(&marker, b"").at("write the keep marker", &marker)?;
        // The marker exists before the lock file goes: a cleaner that finds
        // no lock file always finds the marker.
        let _ = fs::remove_file(&self.lock_path);
        self.lock = None;
        Ok(self.path.clone())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.lock.is_some() {
            // Best effort: whatever is left is removed by the next
            // `Store::open`, since the lock is released below.
            let _ = remove_tree(&self.path);
            let _ = fs::remove_file(&self.lock_path);
        }
    }
}

impl Store {
    /// Creates a fresh scratch directory; `purpose` (for example the step
    /// kind) becomes part of its name, which helps when one is kept.
    pub fn scratch(&self, purpose: &str) -> Result<Scratch> {
        create(&self.layout.scratch, purpose)
    }
}

/// `<path>.<suffix>`.
fn marker_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates a locked scratch directory under `dir`.
pub(crate) fn create(dir: &Path, purpose: &str) -> Result<Scratch> {
    loop {
        let path = dir.join(unique_name(purpose));
        let lock_path = sibling_lock_path(&path);
        let file = match OpenOptions::new().read(true).write(true).create_new(true).open(&lock_path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(StoreError::io("create the lock file", &lock_path, error)),
        };
        file.lock().at("lock", &lock_path)?;
        let ours = match (file.metadata(), fs::symlink_metadata(&lock_path)) {
            (Ok(locked), Ok(current)) => locked.dev() == current.dev() && locked.ino() == current.ino(),
            _ => false,
        };
        if !ours {
            continue;
        }
        if let Err(error) = fs::create_dir(&path) {
            let _ = fs::remove_file(&lock_path);
            return Err(StoreError::io("create the scratch directory", &path, error));
        }
        return Ok(Scratch { path, lock_path, lock: Some(file) });
    }
}

/// Removes what crashed processes left in the scratch directory `dir`:
/// every scratch directory whose lock file nobody holds (or that has no
/// lock file and no keep marker), and orphaned lock files and markers.
/// Directories held by live processes and kept ones are left alone.
///
/// Only listing `dir` can fail: an entry that cannot be removed (say, one
/// owned by another user) is skipped and tried again next time, since it
/// must not stop the store from opening.
pub(crate) fn cleanup_stale(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).at("list", dir)? {
        let entry = entry.at("list", dir)?;
        let _ = cleanup_entry(&entry.path(), &entry.file_name());
    }
    Ok(())
}

/// [`cleanup_stale`] for one entry.
fn cleanup_entry(path: &Path, name: &OsStr) -> Result<()> {
    match suffix(name) {
        Some("lock") => {
            let file = match File::open(path) {
                Ok(file) => file,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(error) => return Err(StoreError::io("open the lock file", path, error)),
            };
            if try_lock_exclusive(&file, path)? {
                let dir = path.with_extension("");
                remove_tree(&dir).at("remove the stale scratch directory", &dir)?;
                remove_tree(path).at("remove the stale lock file", path)?;
            }
        }
        Some("kept") => {
            if !exists(&path.with_extension("")) {
                remove_tree(path).at("remove the orphaned keep marker", path)?;
            }
        }
        _ => {
            // Checked in this order: a kept directory loses its lock file
            // only after its marker exists.
            if exists(&sibling_lock_path(path)) || exists(&marker_path(path, "kept")) {
                return Ok(());
            }
            remove_tree(path).at("remove the stale scratch directory", path)?;
        }
    }
    Ok(())
}

/// The suffix of a lock file or marker name (`lock`, `kept`), if any.
/// Scratch names contain no dots, so the last extension is the suffix.
fn suffix(name: &OsStr) -> Option<&str> {
    Path::new(name).extension().and_then(OsStr::to_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(unique_name(name));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn scratch_is_removed_on_drop_and_kept_on_request() {
        let dir = temp_dir("imgx-scratch-test");
        let scratch = create(&dir, "build").unwrap();
        let path = scratch.path().to_path_buf();
        fs::write(path.join("file"), b"x").unwrap();
        drop(scratch);
        assert!(!path.exists());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);

        let kept = create(&dir, "failed").unwrap().keep().unwrap();
        assert!(kept.is_dir());
        cleanup_stale(&dir).unwrap();
        assert!(kept.is_dir(), "a kept scratch directory survives cleanup");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cleanup_removes_only_unlocked_directories() {
        let dir = temp_dir("imgx-scratch-test");
        let live = create(&dir, "live").unwrap();
        // A crashed process: its directory and unlocked lock file remain.
        let dead = dir.join("dead-1-0-0");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join("data"), b"x").unwrap();
        fs::write(sibling_lock_path(&dead), b"").unwrap();
        // A directory without any lock file (its cleanup was interrupted).
        let orphan = dir.join("orphan-1-0-0");
        fs::create_dir(&orphan).unwrap();
        cleanup_stale(&dir).unwrap();
        assert!(live.path().is_dir());
        assert!(!dead.exists() && !sibling_lock_path(&dead).exists());
        assert!(!orphan.exists());
        drop(live);
        fs::remove_dir_all(&dir).unwrap();
    }
}
