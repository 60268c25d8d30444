//! The content-addressed store of imgx.
//!
//! Every build step's output is an *object*: a file, a directory tree or a
//! symlink (often a multi-GiB sparse disk image), named by the blake3-based
//! hash of its content ([`hash::hash_path`]). SQLite holds the metadata:
//! which objects are registered, which step key produced which object,
//! build logs, garbage-collection roots and the evaluation cache. The store
//! knows nothing of the Nix language; step keys and serialisations are
//! opaque strings to it.
//!
//! # On-disk layout
//!
//! ```text
//! root/                   $IMGX_STORE, $XDG_DATA_HOME/imgx or ~/.local/share/imgx
//!   objects/<hex>         one object per entry, read-only (files 0444/0555, dirs 0555)
//!   scratch/<name>/       build areas (same file system as objects/, so registering is a rename)
//!   scratch/<name>.lock   held (flock) by the process owning scratch/<name> while it lives
//!   scratch/<name>.kept   marks a scratch directory kept for inspection (--keep-failed)
//!   logs/<key>.log        build logs, one per step key
//!   locks/<key>.lock      per-key build locks (flock; never deleted)
//!   quarantine/<hex>-…    objects that failed verification, kept for inspection
//!   gc.lock               flock: shared by builders, exclusive during gc and repairs
//!   db.sqlite             metadata (WAL mode, so also db.sqlite-wal and db.sqlite-shm)
//! ```
//!
//! The schema (version 2, `PRAGMA user_version`):
//!
//! ```text
//! objects      (hash PK, kind 'file'|'directory'|'symlink', size apparent bytes, registered_at unix s)
//! steps        (key PK, serialisation)
//! realisations (key PK, output → objects ON DELETE CASCADE, built_at, duration_ms, builder_version)
//! logs         (key PK, path relative to the root)
//! roots        (path PK, target hash, kind 'outlink'|'explicit', created_at)
//! eval_cache   (key PK, inputs, result, created_at)
//! unsynced     (hash PK → objects ON DELETE CASCADE, boot_id, registered_at)  (version 2)
//! ```
//!
//! Keys and hashes are 64 lowercase hexadecimal digits. Roots name a hash
//! without a foreign key, so a root survives the quarantine of its object
//! and protects the rebuilt one.
//!
//! # Crash safety
//!
//! The invariant: **every row in `objects` names a complete object in
//! `objects/`, and one whose bytes may not have reached the disk has an
//! `unsynced` row naming the boot that registered it.** A process that
//! dies loses nothing the kernel holds, so within one boot an object is
//! complete from the moment it is published; only a kernel crash or a
//! power loss can lose unsynced bytes, and both end the boot. Opening the
//! store rehashes the unsynced objects of earlier boots and forgets
//! (quarantines) the damaged ones before anything can use them, and syncs
//! this boot's objects once they are a minute old (the `durability`
//! module; where the boot id cannot be read, every object is fsynced
//! before it is published instead). Everything else that a crash can leave
//! behind is garbage that is never visible through the API and is removed
//! later. [`Store::register`] keeps the invariant as follows; a crash can
//! happen between any two steps.
//!
//! 1. The builder wrote its output inside a [`Scratch`] directory, whose
//!    lock file the process holds. A crash here leaves an unlocked scratch
//!    directory, which the next [`Store::open`] (or [`Store::gc`]) removes.
//! 2. Every file is made read-only, then every directory (bottom-up) made
//!    `0555`, except the top directory, which must stay owner-writable to
//!    be moved. Still only scratch.
//! 3. The frozen tree is hashed (modes included, as they will be in
//!    `objects/`, which is what `verify` rehashes). Still only scratch.
//! 4. Under SQLite's write lock (an `IMMEDIATE` transaction, so no other
//!    registration comes in between): if the object has a row already, the
//!    new copy is discarded. Otherwise an entry of the same name without a
//!    row (from an interrupted registration, perhaps cut short by a crash)
//!    is moved aside, never adopted, and the tree is renamed to
//!    `objects/<hex>` (`rename(2)` is atomic) and a top directory made
//!    `0555`. A crash now leaves an object without a row: unregistered, so
//!    lookups ignore it; `gc` and `verify(true)` delete it, and the next
//!    registration of the same content replaces it.
//! 5. The same transaction inserts the `objects` row and the `unsynced`
//!    row (SQLite in WAL mode, `synchronous = NORMAL`: a power loss may
//!    undo the last transactions but never corrupts the database, and an
//!    undone registration only leaves an unregistered entry behind). Only
//!    now is the object visible, and it is complete.
//!
//! Removal runs the other way round, so it never breaks the invariant
//! either: [`Store::gc`] deletes rows first (in one transaction), then
//! renames each object out of `objects/` before removing its tree, so a
//! crash leaves unregistered objects or trash in `scratch/`, never
//! a half-deleted `objects/<hex>` under a row.
//! [`Store::verify`] moves corrupt objects out after deleting their rows.
//! Logs are written next to their final name and renamed into place, so a
//! reader sees the old log or the whole new one; they are not fsynced (a
//! log lost to a power failure is only a missing log).
//!
//! # Concurrency
//!
//! Several processes share a store. SQLite runs in WAL mode with a busy
//! timeout. Per-key locks ([`Store::lock_key`]) make two processes build a
//! step once: the second waits, then finds the realisation. The store-wide
//! `gc.lock` is held shared by builders ([`Store::build_guard`]) and by
//! every registration, and exclusively by `gc` and repairs, so garbage
//! collection never deletes what a running build uses or has just
//! registered but not yet rooted. All locks are `flock(2)` locks, which the
//! kernel releases when a process dies. A [`Store`] is `Send + Sync`; its
//! database connection sits behind a mutex held only for single queries or
//! short transactions, never during hashing or copying.

#![deny(missing_docs)]

pub mod copy;
mod db;
mod durability;
mod error;
mod fsutil;
mod gc;
pub mod hash;
mod layout;
mod lock;
mod object;
mod records;
mod register;
mod roots;
mod scratch;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

pub use crate::durability::RecoveryReport;
pub use crate::error::{Result, StoreError};
pub use crate::gc::GcReport;
pub use crate::hash::ObjectHash;
pub use crate::lock::{KeyLock, SharedLock};
pub use crate::object::{ObjectInfo, ObjectKind};
pub use crate::records::{EvalCacheEntry, Realisation};
pub use crate::roots::{Root, RootKind};
pub use crate::scratch::Scratch;
pub use crate::verify::{VerifyOptions, VerifyReport};

use crate::durability::Durability;
use crate::layout::Layout;

/// An open store. Cheap operations only touch SQLite; the expensive ones
/// (registration, import, gc, verify) hash or copy files.
#[derive(Debug)]
pub struct Store {
    layout: Layout,
    db: Mutex<Connection>,
    /// How many [`Store::build_guard`]s this store has handed out and not
    /// yet seen dropped.
    build_guards: Arc<AtomicUsize>,
    /// How registration makes objects durable.
    durability: Durability,
    /// What opening found of objects an earlier boot left unsynced.
    recovery: RecoveryReport,
}

impl Store {
    /// Opens the store at `root`, creating its directories and database if
    /// missing, migrating an older schema, removing scratch directories
    /// that no live process holds, checking the objects that an earlier
    /// boot registered and never synced ([`Store::recovery`]) and syncing
    /// this boot's older ones (see the crate documentation's "Crash
    /// safety").
    pub fn open(root: &Path) -> Result<Store> {
        Store::open_with(root, Durability::of_this_boot())
    }

    /// [`Store::open`] with the durability chosen by the caller: tests
    /// pretend to be another boot with it.
    pub(crate) fn open_with(root: &Path, durability: Durability) -> Result<Store> {
        let layout = Layout::create(root)?;
        let connection = db::open(&layout.db)?;
        scratch::cleanup_stale(&layout.scratch)?;
        let mut store = Store {
            layout,
            db: Mutex::new(connection),
            build_guards: Arc::new(AtomicUsize::new(0)),
            durability,
            recovery: RecoveryReport::default(),
        };
        store.recovery = store.catch_up()?;
        Ok(store)
    }

    /// What opening the store found of objects registered during an
    /// earlier boot and never synced: a crash may have lost their bytes.
    /// Callers tell the user about [`RecoveryReport::lost_anything`].
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The store location from the environment: `$IMGX_STORE`, else
    /// `$XDG_DATA_HOME/imgx`, else `$HOME/.local/share/imgx` (empty
    /// variables count as unset).
    pub fn default_root() -> Result<PathBuf> {
        layout::default_root()
    }

    /// The store's root directory (absolute, symlinks resolved).
    pub fn root(&self) -> &Path {
        &self.layout.root
    }

    /// The database connection. A panic while it was held cannot leave a
    /// transaction open (transactions roll back when dropped), so a
    /// poisoned mutex is safe to use.
    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
