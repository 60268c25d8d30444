//! Registration: turning a finished output in a scratch directory into an
//! immutable, durable, recorded object. The order of the steps is the
//! crash-safety argument of the crate documentation.

use std::fs::{self, File, Metadata};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::durability::Durability;
use crate::error::{IoContext, Result, SqlContext, StoreError};
use crate::fsutil::{exists, fsync_dir, move_out, remove_tree, unix_now};
use crate::hash::{self, ObjectHash};
use crate::object::{ObjectInfo, ObjectKind};
use crate::{Store, copy};

/// How registration learns an object's name.
#[derive(Clone, Copy)]
enum Naming<'a> {
    /// Hash the frozen output.
    Computed,
    /// Hash it, and refuse anything but this.
    Expected(&'a ObjectHash),
    /// Its writer hashed it: take this.
    Known(ObjectHash),
}

/// An output that is frozen (read-only) and hashed (and synced, where
/// durability is immediate), but not yet in `objects/`.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub source: PathBuf,
    pub hash: ObjectHash,
    pub kind: ObjectKind,
    pub size: u64,
}

impl Store {
    /// Registers the file, directory or symlink at `path`, which must be
    /// inside one of this store's scratch directories (see
    /// [`Store::scratch`]); it is moved, not copied.
    ///
    /// The steps, in order: make every file read-only (`0444`, or `0555`
    /// when the owner execute bit was set) and every directory `0555`;
    /// hash the frozen tree ([`hash::hash_path`]); then, under the
    /// database's write lock, discard it if that object is registered
    /// already, else rename it to `objects/<hex>` and insert its row (and
    /// its `unsynced` row) in one transaction. It does not wait for the
    /// disk: the crate documentation's crash-safety section says how the
    /// store makes objects durable later, and why a crash at any point is
    /// harmless. The store-wide lock is held shared throughout, so garbage
    /// collection cannot run in between.
    ///
    /// If a step before the rename fails, the partial output is removed and
    /// nothing is registered. If a later step fails, the object stays in
    /// `objects/` without a row: unregistered garbage, invisible to
    /// lookups, removed by [`Store::gc`] or a repairing [`Store::verify`]
    /// (or replaced by the next identical build).
    pub fn register(&self, path: &Path) -> Result<ObjectInfo> {
        self.register_named(path, Naming::Computed)
    }

    /// Registers the output at `path` as [`Store::register`] does, but only
    /// if its content hash, computed as part of registration, is
    /// `expected`. Otherwise the output is removed and
    /// [`StoreError::HashMismatch`] returned, with nothing registered.
    ///
    /// This is how content that comes from elsewhere enters the store when
    /// its writer did not hash it: the hash is checked on the frozen tree,
    /// after which nothing can change it, and before the object is
    /// published, so a wrong byte never becomes visible.
    pub fn register_expected(&self, path: &Path, expected: &ObjectHash) -> Result<ObjectInfo> {
        self.register_named(path, Naming::Expected(expected))
    }

    /// Registers the output at `path` as [`Store::register`] does, under
    /// `hash`, which its writer computed from the bytes it wrote (with
    /// [`hash::ContentHasher`], [`hash::DirectoryHasher`] and
    /// [`hash::symlink_hash`]), so that a large output is not read back
    /// only to learn its name.
    ///
    /// The binary cache's unpacker registers downloads this way: it hashes
    /// every block on its way to the disk and compares the result with the
    /// manifest's before it calls this. The output must not have been
    /// changed since it was written; `imgx store verify` rehashes objects
    /// and finds one that was.
    pub fn register_hashed(&self, path: &Path, hash: ObjectHash) -> Result<ObjectInfo> {
        self.register_named(path, Naming::Known(hash))
    }

    /// Registration, with the object's name found as `naming` says.
    fn register_named(&self, path: &Path, naming: Naming<'_>) -> Result<ObjectInfo> {
        self.check_in_scratch(path)?;
        let _guard = self.shared_store_lock()?;
        let known = match naming {
            Naming::Known(hash) => Some(hash),
            Naming::Computed | Naming::Expected(_) => None,
        };
        let prepared = match self.prepare(path, known) {
            Ok(prepared) => prepared,
            Err(error) => {
                let _ = remove_tree(path);
                return Err(error);
            }
        };
        if let Naming::Expected(expected) = naming
            && prepared.hash != *expected
        {
            let _ = remove_tree(path);
            return Err(StoreError::HashMismatch {
                path: path.to_path_buf(),
                expected: *expected,
                actual: prepared.hash,
            });
        }
        self.publish(&prepared)
    }

    /// Freezes the output at `path` as registration would (read-only
    /// files, `0555` directories) and hashes it, without syncing, moving or
    /// recording it: the hash it would be registered under. `imgx build
    /// --check` compares a rebuilt output with the registered one this
    /// way, without adding an object to the store.
    pub fn seal(&self, path: &Path) -> Result<ObjectHash> {
        self.check_in_scratch(path)?;
        let meta = fs::symlink_metadata(path).at("inspect", path)?;
        freeze(path, &meta, true, None)?;
        hash::hash_path(path).at("hash", path)
    }

    /// Copies a file, directory tree or symlink from anywhere (outside the
    /// store) into a scratch directory with [`copy::copy_file`] or
    /// [`copy::copy_tree`] (reflinks or sparse copies, never dense) and
    /// registers the copy. The original is not touched.
    ///
    /// Content that is already a registered object is not copied again: the
    /// original is hashed first, and an object with that hash is the
    /// result. Hashing reads the tree once, where a copy writes every file
    /// of it, so importing an unchanged tree again (at every
    /// evaluation that is not answered by the evaluation cache) costs a
    /// read, not a copy.
    pub fn import(&self, path: &Path) -> Result<ObjectInfo> {
        let meta = fs::symlink_metadata(path).at("inspect", path)?;
        let kind = ObjectKind::of(meta.file_type())
            .ok_or_else(|| StoreError::UnsupportedFileType { path: path.to_path_buf() })?;
        let hash = hash::hash_path(path).at("hash", path)?;
        if let Some(info) = self.object_info(&hash)? {
            return Ok(info);
        }
        let scratch = self.scratch("import")?;
        let copy = scratch.path().join("object");
        match kind {
            ObjectKind::File => copy::copy_file(path, &copy).map(drop),
            ObjectKind::Directory => copy::copy_tree(path, &copy),
            ObjectKind::Symlink => fs::read_link(path).and_then(|target| std::os::unix::fs::symlink(target, &copy)),
        }
        .at("copy into the store", path)?;
        self.register(&copy)
    }

    /// Refuses paths outside `root/scratch`: only those are on the store's
    /// file system (so the rename into `objects/` is atomic) and private
    /// to a build.
    fn check_in_scratch(&self, path: &Path) -> Result<()> {
        let not_in_scratch =
            || StoreError::NotInScratch { path: path.to_path_buf(), scratch: self.layout.scratch.clone() };
        let absolute = std::path::absolute(path).at("resolve", path)?;
        let (Some(parent), Some(_)) = (absolute.parent(), absolute.file_name()) else {
            return Err(not_in_scratch());
        };
        let parent = parent.canonicalize().at("resolve", parent)?;
        if parent.starts_with(&self.layout.scratch) { Ok(()) } else { Err(not_in_scratch()) }
    }

    /// Freezes and hashes the output at `path` (steps 2 and 3 of the crate
    /// documentation's crash-safety argument), and syncs it where
    /// durability is immediate.
    ///
    /// Syncing and hashing then run at the same time, on another thread:
    /// one waits for the disk, the other for the CPU, and a large output
    /// that its builder did not sync costs the longer of the two instead of
    /// their sum. A `known` hash (one the output's writer computed) is
    /// taken instead of computed.
    pub(crate) fn prepare(&self, path: &Path, known: Option<ObjectHash>) -> Result<Prepared> {
        let meta = fs::symlink_metadata(path).at("inspect", path)?;
        let mut to_sync = Vec::new();
        let syncing = self.durability == Durability::Immediate;
        let (kind, size) = freeze(path, &meta, true, syncing.then_some(&mut to_sync))?;
        // Hashed after freezing: the hash describes the tree exactly as it
        // will sit in `objects/` (modes included), which is what `verify`
        // rehashes later.
        let (hash, synced) = std::thread::scope(|scope| {
            let syncer = (!to_sync.is_empty()).then(|| scope.spawn(|| sync_all(&to_sync)));
            let hash = match known {
                Some(hash) => Ok(hash),
                None => hash::hash_path(path).at("hash", path),
            };
            let synced = syncer.map_or(Ok(()), |syncer| {
                syncer.join().unwrap_or_else(|_| {
                    Err(StoreError::io("fsync", path, std::io::Error::other("the syncing thread stopped")))
                })
            });
            (hash, synced)
        });
        synced?;
        Ok(Prepared { source: path.to_path_buf(), hash: hash?, kind, size })
    }

    /// Moves a prepared output to `objects/<hex>` and records it (steps 4
    /// and 5 of the crate documentation's crash-safety argument), all under
    /// the database's write lock, so that no other registration of the same
    /// content comes in between.
    ///
    /// If the object is registered already, the output is discarded. An
    /// unregistered entry of the same name (left by a registration that a
    /// crash interrupted, and perhaps cut short by it) is moved aside and
    /// replaced, never adopted. Where durability is deferred, the
    /// `unsynced` row goes in with the `objects` row; where it is
    /// immediate, the entry is fsynced before the row is written.
    pub(crate) fn publish(&self, prepared: &Prepared) -> Result<ObjectInfo> {
        let db = &self.layout.db;
        let target = self.object_path(&prepared.hash);
        let info = ObjectInfo { hash: prepared.hash, kind: prepared.kind, size: prepared.size, path: target.clone() };
        let hex = prepared.hash.to_hex();
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).sql("begin registering in", db)?;
        let registered = tx
            .query_row("SELECT 1 FROM objects WHERE hash = ?1", [&hex], |_| Ok(()))
            .optional()
            .sql("look up an object in", db)?
            .is_some();
        if registered {
            drop(tx);
            // Scratch cleanup removes the copy if this fails.
            let _ = remove_tree(&prepared.source);
            return Ok(info);
        }
        let mut replaced = None;
        if exists(&target) {
            let trash = self.scratch("replaced")?;
            move_out(&target, &trash.path().join("stale")).at("move aside", &target)?;
            replaced = Some(trash);
        }
        if let Err(error) = fs::rename(&prepared.source, &target) {
            let _ = remove_tree(&prepared.source);
            return Err(StoreError::io("move into the store", &prepared.source, error));
        }
        if prepared.kind == ObjectKind::Directory {
            // Only now: moving a directory to another parent needs write
            // permission on it (for its `..` entry).
            fs::set_permissions(&target, fs::Permissions::from_mode(0o555)).at("make read-only", &target)?;
        }
        if self.durability == Durability::Immediate {
            if prepared.kind == ObjectKind::Directory {
                fsync_dir(&target).at("fsync", &target)?;
            }
            fsync_dir(&self.layout.objects).at("fsync", &self.layout.objects)?;
        }
        let now = unix_now();
        tx.execute(
            "INSERT INTO objects (hash, kind, size, registered_at) VALUES (?1, ?2, ?3, ?4)",
            (&hex, prepared.kind.as_str(), i64::try_from(prepared.size).unwrap_or(i64::MAX), now),
        )
        .sql("record an object in", db)?;
        if let Durability::Deferred(boot) = &self.durability {
            // A row left by a tool that deleted the object's row without
            // SQLite's foreign keys on is replaced.
            tx.execute(
                "INSERT INTO unsynced (hash, boot_id, registered_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (hash) DO UPDATE SET boot_id = excluded.boot_id, registered_at = excluded.registered_at",
                (&hex, boot, now),
            )
            .sql("record an unsynced object in", db)?;
        }
        tx.commit().sql("commit a registration to", db)?;
        drop(conn);
        // The replaced entry goes with its scratch directory.
        drop(replaced);
        Ok(info)
    }
}

/// Makes the tree at `path` read-only, bottom-up, and lists in `to_sync`
/// (if given: only immediate durability needs it) what must be fsynced to
/// make it durable ([`sync_all`]): files become
/// `0444` (`0555` if the owner execute bit was set, the one mode bit the
/// hash covers); directories become `0555` once their entries are done;
/// symlinks have no mode of their own and are made durable by their
/// directory's fsync. Setuid, setgid and sticky bits are dropped. The `top`
/// directory stays writable by its owner until [`Store::publish`] has moved
/// it. Returns the kind and the apparent size (see [`ObjectInfo::size`]).
fn freeze(
    path: &Path,
    meta: &Metadata,
    top: bool,
    mut to_sync: Option<&mut Vec<PathBuf>>,
) -> Result<(ObjectKind, u64)> {
    let kind =
        ObjectKind::of(meta.file_type()).ok_or_else(|| StoreError::UnsupportedFileType { path: path.to_path_buf() })?;
    let set_mode =
        |mode: u32| fs::set_permissions(path, fs::Permissions::from_mode(mode)).at("change the mode of", path);
    match kind {
        ObjectKind::Symlink => {
            let target = fs::read_link(path).at("read the symlink", path)?;
            Ok((kind, target.as_os_str().len() as u64))
        }
        ObjectKind::File => {
            set_mode(if meta.permissions().mode() & 0o100 != 0 { 0o555 } else { 0o444 })?;
            if let Some(to_sync) = to_sync {
                to_sync.push(path.to_path_buf());
            }
            Ok((kind, meta.len()))
        }
        ObjectKind::Directory => {
            // A builder may have left a directory unreadable to its owner.
            if meta.permissions().mode() & 0o700 != 0o700 {
                set_mode(0o755)?;
            }
            let mut size = 0u64;
            for entry in fs::read_dir(path).at("list", path)? {
                let child = entry.at("list", path)?.path();
                let child_meta = fs::symlink_metadata(&child).at("inspect", &child)?;
                size = size.saturating_add(freeze(&child, &child_meta, false, to_sync.as_deref_mut())?.1);
            }
            set_mode(if top { 0o755 } else { 0o555 })?;
            if let Some(to_sync) = to_sync {
                to_sync.push(path.to_path_buf());
            }
            Ok((kind, size))
        }
    }
}

/// Fsyncs every file and directory that [`freeze`] listed, in its order
/// (a directory after its entries).
fn sync_all(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        File::open(path).and_then(|file| file.sync_all()).at("fsync", path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::unique_name;

    #[test]
    fn interrupted_registration_leaves_only_garbage_that_verify_removes() {
        let root = std::env::temp_dir().join(unique_name("imgx-store-register-test"));
        let store = Store::open(&root).unwrap();
        let scratch = store.scratch("test").unwrap();
        let output = scratch.path().join("out");
        fs::write(&output, b"interrupted").unwrap();

        // Every step up to the rename, then "crash" (drop everything).
        let prepared = store.prepare(&output, None).unwrap();
        fs::rename(&prepared.source, store.object_path(&prepared.hash)).unwrap();
        let hash = prepared.hash;
        drop(scratch);
        drop(store);

        let store = Store::open(&root).unwrap();
        assert!(store.object_path(&hash).exists(), "the object file was renamed into place");
        assert_eq!(store.object_info(&hash).unwrap(), None, "but it is not registered");
        let rows: i64 = store.db().query_row("SELECT count(*) FROM objects", [], |row| row.get(0)).unwrap();
        assert_eq!(rows, 0);

        let report = store.verify(false).unwrap();
        assert_eq!(report.unregistered, vec![store.object_path(&hash)]);
        assert!(store.object_path(&hash).exists(), "a report-only verify removes nothing");
        let report = store.verify(true).unwrap();
        assert_eq!(report.unregistered.len(), 1);
        assert_eq!(report.unregistered_removed, 1);
        assert!(!store.object_path(&hash).exists());
        assert!(store.verify(false).unwrap().is_clean());
        drop(store);
        remove_tree(&root).unwrap();
    }

    #[test]
    fn registering_with_an_expected_hash_refuses_other_content() {
        let root = std::env::temp_dir().join(unique_name("imgx-store-expected-test"));
        let store = Store::open(&root).unwrap();
        let scratch = store.scratch("test").unwrap();
        let output = scratch.path().join("out");
        fs::write(&output, b"expected").unwrap();
        let expected = hash::hash_path(&output).unwrap();
        fs::write(&output, b"tampered").unwrap();
        match store.register_expected(&output, &expected) {
            Err(StoreError::HashMismatch { expected: e, .. }) => assert_eq!(e, expected),
            other => panic!("expected a mismatch, got {other:?}"),
        }
        assert!(!output.exists(), "the refused output is removed");
        assert!(store.verify(false).unwrap().is_clean(), "nothing was published");

        fs::write(&output, b"expected").unwrap();
        let info = store.register_expected(&output, &expected).unwrap();
        assert_eq!(info.hash, expected);
        drop(scratch);
        drop(store);
        remove_tree(&root).unwrap();
    }

    #[test]
    fn registering_again_replaces_an_interrupted_entry() {
        let root = std::env::temp_dir().join(unique_name("imgx-store-replace-test"));
        let store = Store::open(&root).unwrap();
        let build = |store: &Store| {
            let scratch = store.scratch("test").unwrap();
            let tree = scratch.path().join("tree");
            fs::create_dir_all(tree.join("sub")).unwrap();
            fs::write(tree.join("sub/file"), b"content").unwrap();
            (scratch, tree)
        };
        let (scratch, tree) = build(&store);
        let prepared = store.prepare(&tree, None).unwrap();
        // Interrupted right after the rename, and cut short by a crash
        // that lost the file's bytes.
        let target = store.object_path(&prepared.hash);
        fs::rename(&prepared.source, &target).unwrap();
        drop(scratch);
        let file = target.join("sub/file");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&file, b"").unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;

        let (_scratch, tree) = build(&store);
        let info = store.register(&tree).unwrap();
        assert_eq!(info.hash, prepared.hash);
        assert_eq!(fs::read(info.path.join("sub/file")).unwrap(), b"content", "the entry was replaced, not adopted");
        assert_eq!(mode(&info.path), 0o555);
        assert!(store.verify(false).unwrap().is_clean());

        // Registered content is kept, and a second copy discarded.
        let (_scratch, tree) = build(&store);
        let again = store.register(&tree).unwrap();
        assert_eq!(again, info);
        assert!(!tree.exists(), "the second copy is removed");
        drop(store);
        remove_tree(&root).unwrap();
    }
}
