//! Advisory file locks: one per step key (so concurrent imgx processes
//! build a step once) and the store-wide `gc.lock` (shared by builders,
//! exclusive during garbage collection and repairs).
//!
//! Locks are `flock(2)` locks taken through [`File::lock`] and friends.
//! They belong to an open file description, so two handles in one process
//! exclude each other just as two processes do, and the kernel releases
//! them when the process dies. Lock files are never deleted: removing a
//! lock file while another process waits on it would let a third process
//! lock a new file of the same name, and they are empty anyway.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Store;
use crate::error::{IoContext, Result, StoreError};
use crate::layout::check_key;

/// An exclusive lock on one step key, held until dropped.
///
/// A builder takes it before building a step and, once it holds it, looks
/// for a realisation again: a process that waited for another one's build
/// then finds the output instead of building it a second time.
#[derive(Debug)]
pub struct KeyLock {
    _file: File,
    key: String,
}

impl KeyLock {
    /// The key this lock is for.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A shared hold on the store-wide lock: while any exists, garbage
/// collection waits, so no object a build is using or about to register
/// disappears. Released when dropped.
#[derive(Debug)]
pub struct SharedLock {
    _file: File,
    /// The count of build guards of the [`Store`] it came from, if it is a
    /// build guard (and not the store's own short hold during `register`).
    held: Option<Arc<AtomicUsize>>,
}

impl Drop for SharedLock {
    fn drop(&mut self) {
        if let Some(held) = &self.held {
            held.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// An exclusive hold on the store-wide lock (garbage collection, repairs).
#[derive(Debug)]
pub(crate) struct ExclusiveLock {
    _file: File,
}

/// Opens (creating if needed) a lock file without truncating it.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).at("open the lock file", path)
}

/// Whether a lock attempt failed only because someone else holds the lock.
fn try_result(result: std::result::Result<(), TryLockError>, path: &Path) -> Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(error)) => Err(StoreError::io("lock", path, error)),
    }
}

/// Tries to take an exclusive lock on an open file without waiting.
pub(crate) fn try_lock_exclusive(file: &File, path: &Path) -> Result<bool> {
    try_result(file.try_lock(), path)
}

impl Store {
    /// Takes the exclusive lock for `key` (64 hex digits), waiting for any
    /// other holder, in this process or another, to release it.
    pub fn lock_key(&self, key: &str) -> Result<KeyLock> {
        check_key(key)?;
        let path = self.layout.key_lock(key);
        let file = open_lock_file(&path)?;
        file.lock().at("lock", &path)?;
        Ok(KeyLock { _file: file, key: key.to_owned() })
    }

    /// Takes the exclusive lock for `key` if nobody holds it; `None` if
    /// someone does.
    pub fn try_lock_key(&self, key: &str) -> Result<Option<KeyLock>> {
        check_key(key)?;
        let path = self.layout.key_lock(key);
        let file = open_lock_file(&path)?;
        Ok(try_lock_exclusive(&file, &path)?.then(|| KeyLock { _file: file, key: key.to_owned() }))
    }

    /// Takes a shared hold on the store-wide lock, waiting while a garbage
    /// collection runs. Builders hold one from before they look up their
    /// inputs until their output is registered and recorded (realisation,
    /// out-link root): garbage collection cannot start meanwhile, so it
    /// never deletes an object a build uses or has just registered.
    ///
    /// While this store holds a build guard, [`Store::gc`] and a repairing
    /// [`Store::verify`] return [`StoreError::WouldDeadlock`] instead of
    /// waiting for themselves.
    pub fn build_guard(&self) -> Result<SharedLock> {
        let mut lock = self.shared_store_lock()?;
        self.build_guards.fetch_add(1, Ordering::SeqCst);
        lock.held = Some(self.build_guards.clone());
        Ok(lock)
    }

    /// A shared hold on `gc.lock` that is not counted as a build guard.
    pub(crate) fn shared_store_lock(&self) -> Result<SharedLock> {
        let path = &self.layout.gc_lock;
        let file = open_lock_file(path)?;
        file.lock_shared().at("lock (shared)", path)?;
        Ok(SharedLock { _file: file, held: None })
    }

    /// Takes `gc.lock` exclusively, waiting for every build guard and
    /// registration to end; refuses if this store holds a build guard.
    pub(crate) fn exclusive_store_lock(&self, action: &'static str) -> Result<ExclusiveLock> {
        if self.build_guards.load(Ordering::SeqCst) > 0 {
            return Err(StoreError::WouldDeadlock { action });
        }
        let path = &self.layout.gc_lock;
        let file = open_lock_file(path)?;
        file.lock().at("lock", path)?;
        Ok(ExclusiveLock { _file: file })
    }

    /// Takes `gc.lock` exclusively if nobody holds it; `None` if someone
    /// does (or this store holds a build guard).
    pub(crate) fn try_exclusive_store_lock(&self) -> Result<Option<ExclusiveLock>> {
        if self.build_guards.load(Ordering::SeqCst) > 0 {
            return Ok(None);
        }
        let path = &self.layout.gc_lock;
        let file = open_lock_file(path)?;
        Ok(try_lock_exclusive(&file, path)?.then_some(ExclusiveLock { _file: file }))
    }
}

/// The path of a lock file next to `path`: `<path>.lock`.
pub(crate) fn sibling_lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
