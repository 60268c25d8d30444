//! Deferred durability: registration publishes an object without waiting
//! for the disk to take it, and the store makes it durable later.
//!
//! A builder's output is usually a freshly written image that sits in the
//! page cache. Waiting for the disk before publishing it (an fsync) costs
//! as long as writing the whole image out, often longer than the builder
//! that wrote it, and the kernel writes it back on its own within about
//! half a minute anyway.
//!
//! Crash safety is kept this way. Registration records, in the same
//! transaction as the `objects` row, an `unsynced` row naming the kernel's
//! boot id (`/proc/sys/kernel/random/boot_id`). Until the machine goes down,
//! the page cache holds the object's bytes, so every reader sees it
//! complete; only a kernel crash or a power loss can lose them, and both
//! change the boot id. So, when a store is opened ([`Store::catch_up`]):
//!
//! - rows of another boot are checked: each of their objects is rehashed,
//!   its bytes now coming from the disk. An intact one loses its `unsynced`
//!   row. A missing or corrupt one is forgotten (its row and its
//!   realisations) and moved to `quarantine/`, so that the next build that
//!   needs it builds it again;
//! - once a row of this boot is older than [`SETTLE_AFTER`], by which time
//!   the kernel has normally written its object back, one `syncfs(2)` of the
//!   store's file system makes every object registered before it durable,
//!   and their rows go. That costs a journal commit rather than a write of
//!   the data.
//!
//! Where no boot id can be read, registration fsyncs every object before
//! publishing it ([`Durability::Immediate`]).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::error::{IoContext, Result, SqlContext};
use crate::fsutil::{exists, unix_now};
use crate::hash::ObjectHash;
use crate::{Store, gc::parse_name};

/// How long after its registration an object of this boot is made durable
/// by a `syncfs(2)` at the next open. The kernel writes dirty pages back
/// once they are 30 seconds old (`vm.dirty_expire_centisecs`), checking
/// every 5 seconds; twice that leaves the sync nothing to wait for on a
/// machine that is not writing faster than its disk.
pub(crate) const SETTLE_AFTER: Duration = Duration::from_secs(60);

/// How long opening a store tries for the lock to check an earlier boot's
/// objects before it waits for it.
const RECOVERY_PATIENCE: Duration = Duration::from_secs(2);

/// How the store makes a registered object durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Registration leaves the object to the page cache and records it as
    /// unsynced during the boot with this id.
    Deferred(String),
    /// Registration fsyncs every file and directory before publishing.
    Immediate,
}

impl Durability {
    /// Deferred under this boot's id, or immediate where none can be read.
    pub(crate) fn of_this_boot() -> Durability {
        boot_id().map_or(Durability::Immediate, |id| Durability::Deferred(id.to_owned()))
    }
}

/// The kernel's id of the running boot, read once per process.
fn boot_id() -> Option<&'static str> {
    static BOOT_ID: OnceLock<Option<String>> = OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
            let id = id.trim();
            (!id.is_empty() && id.len() <= 64).then(|| id.to_owned())
        })
        .as_deref()
}

/// What opening the store found of objects that a crash may have damaged:
/// those registered during an earlier boot and never synced.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct RecoveryReport {
    /// How many were rehashed and found intact.
    pub intact: u64,
    /// Objects whose content had not reached the disk: forgotten, with
    /// their realisations, and moved to these paths under `quarantine/`.
    pub quarantined: Vec<PathBuf>,
    /// Objects that were gone altogether; their rows were removed.
    pub missing: Vec<ObjectHash>,
}

impl RecoveryReport {
    /// Whether anything was lost.
    pub fn lost_anything(&self) -> bool {
        !self.quarantined.is_empty() || !self.missing.is_empty()
    }
}

impl Store {
    /// Checks the objects of earlier boots and settles old ones of this
    /// boot, as the [module documentation](self) describes. Runs at open.
    pub(crate) fn catch_up(&self) -> Result<RecoveryReport> {
        let Durability::Deferred(boot) = &self.durability else {
            return Ok(RecoveryReport::default());
        };
        let report = self.recover_other_boots(boot)?;
        let oldest = unix_now().saturating_sub(SETTLE_AFTER.as_secs() as i64);
        self.settle(boot, oldest)?;
        Ok(report)
    }

    /// How many registered objects are not yet known to be on the disk.
    pub fn unsynced_count(&self) -> Result<u64> {
        let db = &self.layout.db;
        self.db()
            .query_row("SELECT count(*) FROM unsynced", [], |row| row.get::<_, i64>(0))
            .sql("count the unsynced objects in", db)
            .map(|count| count.max(0) as u64)
    }

    /// The unsynced objects of boots other than `boot`.
    fn other_boots_rows(&self, boot: &str) -> Result<Vec<(String, String)>> {
        let db = &self.layout.db;
        let conn = self.db();
        let mut statement = conn
            .prepare("SELECT u.hash, o.kind FROM unsynced u JOIN objects o ON o.hash = u.hash WHERE u.boot_id <> ?1")
            .sql("list the unsynced objects in", db)?;
        let rows = statement
            .query_map([boot], |row| Ok((row.get(0)?, row.get(1)?)))
            .sql("list the unsynced objects in", db)?;
        rows.collect::<rusqlite::Result<_>>().sql("list the unsynced objects in", db)
    }

    /// Rehashes the unsynced objects of other boots, under the exclusive
    /// store lock. Another process opening the store at the same time may
    /// be doing it already, so the lock is first only tried, and the rows
    /// looked up again, until they are gone or the lock is ours: nobody
    /// waits for a build that holds the lock shared only to find that there
    /// is nothing left to check. After [`RECOVERY_PATIENCE`], it waits.
    fn recover_other_boots(&self, boot: &str) -> Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        let started = Instant::now();
        loop {
            if self.other_boots_rows(boot)?.is_empty() {
                return Ok(report);
            }
            let lock = if started.elapsed() < RECOVERY_PATIENCE {
                self.try_exclusive_store_lock()?
            } else {
                Some(self.exclusive_store_lock("check the objects an earlier boot left unsynced")?)
            };
            if let Some(_lock) = lock {
                for (hex, kind) in self.other_boots_rows(boot)? {
                    self.recover(&hex, &kind, &mut report)?;
                }
                return Ok(report);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Checks one object of an earlier boot and keeps, forgets or
    /// quarantines it.
    fn recover(&self, hex: &str, kind: &str, report: &mut RecoveryReport) -> Result<()> {
        let db = &self.layout.db;
        let Some(hash) = parse_name(hex.as_ref()) else {
            self.db().execute("DELETE FROM objects WHERE hash = ?1", [hex]).sql("delete a malformed row from", db)?;
            return Ok(());
        };
        let path = self.object_path(&hash);
        if !exists(&path) {
            self.db().execute("DELETE FROM objects WHERE hash = ?1", [hex]).sql("delete a missing object from", db)?;
            report.missing.push(hash);
            return Ok(());
        }
        if self.is_intact(&hash, kind) {
            self.db().execute("DELETE FROM unsynced WHERE hash = ?1", [hex]).sql("settle an object in", db)?;
            report.intact += 1;
        } else if let Some(destination) = self.quarantine(&hash)? {
            report.quarantined.push(destination);
        }
        Ok(())
    }

    /// If an object of this boot was registered at or before `oldest` (unix
    /// seconds), makes every object of this boot registered so far durable
    /// with one `syncfs(2)` and drops their rows. A failed sync leaves the
    /// rows in place: the objects are then checked after the next reboot.
    pub(crate) fn settle(&self, boot: &str, oldest: i64) -> Result<()> {
        let db = &self.layout.db;
        let due: Option<i64> = self
            .db()
            .query_row(
                "SELECT 1 FROM unsynced WHERE boot_id = ?1 AND registered_at <= ?2 LIMIT 1",
                (boot, oldest),
                |row| row.get(0),
            )
            .optional()
            .sql("look for unsynced objects in", db)?;
        if due.is_none() {
            return Ok(());
        }
        // Rows written before the sync starts name objects whose bytes were
        // all written before it: the row comes after the rename, which
        // comes after the builder finished.
        let started = unix_now();
        if sync_file_system(&self.layout.objects).is_err() {
            return Ok(());
        }
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).sql("begin settling in", db)?;
        tx.execute("DELETE FROM unsynced WHERE boot_id = ?1 AND registered_at < ?2", (boot, started))
            .sql("settle objects in", db)?;
        tx.commit().sql("commit settling to", db)
    }
}

/// `syncfs(2)` on the file system holding `path`: returns once everything
/// written to it before the call is on the disk.
#[allow(unsafe_code)]
fn sync_file_system(path: &std::path::Path) -> Result<()> {
    let dir = File::open(path).at("open", path)?;
    // SAFETY: syncfs takes a descriptor that `dir` keeps open.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
        return Err(crate::StoreError::io("sync the file system of", path, io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Realisation;
    use crate::fsutil::{remove_tree, unique_name};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn register(store: &Store, content: &[u8]) -> crate::ObjectInfo {
        let scratch = store.scratch("test").unwrap();
        let output = scratch.path().join("out");
        fs::write(&output, content).unwrap();
        store.register(&output).unwrap()
    }

    fn realise(store: &Store, key: char, output: &ObjectHash) {
        let realisation = Realisation {
            key: key.to_string().repeat(64),
            output: *output,
            built_at: 0,
            duration_ms: 0,
            builder_version: "test".into(),
        };
        store.put_realisation(&realisation).unwrap();
    }

    fn deferred(boot: &str) -> Durability {
        Durability::Deferred(boot.to_owned())
    }

    #[test]
    fn registration_defers_the_sync_and_a_later_open_settles_it() {
        let root = std::env::temp_dir().join(unique_name("imgx-store-settle-test"));
        let store = Store::open_with(&root, deferred("boot-a")).unwrap();
        let info = register(&store, b"deferred");
        assert_eq!(store.unsynced_count().unwrap(), 1);
        // Not yet due: nothing registered before the cut-off.
        store.settle("boot-a", unix_now() - 3600).unwrap();
        assert_eq!(store.unsynced_count().unwrap(), 1);
        // Due: one syncfs, and rows registered before it go. (The row's
        // second must have passed for it to count as written before.)
        std::thread::sleep(Duration::from_millis(1100));
        store.settle("boot-a", unix_now()).unwrap();
        assert_eq!(store.unsynced_count().unwrap(), 0);
        assert!(store.has_object(&info.hash).unwrap());
        drop(store);

        // Immediate durability records nothing to settle.
        let store = Store::open_with(&root, Durability::Immediate).unwrap();
        register(&store, b"immediate");
        assert_eq!(store.unsynced_count().unwrap(), 0);
        drop(store);
        remove_tree(&root).unwrap();
    }

    #[test]
    fn opening_after_a_reboot_checks_what_the_earlier_boot_left_unsynced() {
        let root = std::env::temp_dir().join(unique_name("imgx-store-recover-test"));
        let store = Store::open_with(&root, deferred("boot-a")).unwrap();
        let intact = register(&store, b"reached the disk");
        let damaged = register(&store, b"lost in the crash");
        let vanished = register(&store, b"never renamed durably");
        realise(&store, 'a', &intact.hash);
        realise(&store, 'b', &damaged.hash);
        realise(&store, 'c', &vanished.hash);
        // What a power loss can do to bytes that were still in the cache.
        fs::set_permissions(&damaged.path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&damaged.path, vec![0u8; 17]).unwrap();
        fs::set_permissions(&damaged.path, fs::Permissions::from_mode(0o444)).unwrap();
        fs::remove_file(&vanished.path).unwrap();
        drop(store);

        // The same boot trusts its page cache: nothing is checked.
        let store = Store::open_with(&root, deferred("boot-a")).unwrap();
        assert_eq!(store.recovery(), &RecoveryReport::default());
        assert_eq!(store.unsynced_count().unwrap(), 3);
        drop(store);

        let store = Store::open_with(&root, deferred("boot-b")).unwrap();
        let report = store.recovery().clone();
        assert_eq!(report.intact, 1);
        assert_eq!(report.missing, vec![vanished.hash]);
        assert_eq!(report.quarantined.len(), 1);
        assert!(report.quarantined[0].starts_with(root.join("quarantine")));
        assert!(report.lost_anything());
        assert_eq!(store.unsynced_count().unwrap(), 0);
        assert!(store.has_object(&intact.hash).unwrap());
        assert!(!store.has_object(&damaged.hash).unwrap());
        assert!(!store.has_object(&vanished.hash).unwrap());
        assert!(!damaged.path.exists(), "the damaged object was moved out");
        assert!(store.realisation(&"a".repeat(64)).unwrap().is_some());
        assert_eq!(store.realisation(&"b".repeat(64)).unwrap(), None, "a realisation of lost bytes is forgotten");
        assert_eq!(store.realisation(&"c".repeat(64)).unwrap(), None);
        assert!(store.verify(false).unwrap().is_clean());

        // Rebuilding the lost content registers it again.
        let rebuilt = register(&store, b"lost in the crash");
        assert_eq!(rebuilt.hash, damaged.hash);
        assert_eq!(fs::read(&rebuilt.path).unwrap(), b"lost in the crash");
        drop(store);
        let store = Store::open_with(&root, deferred("boot-c")).unwrap();
        assert!(!store.recovery().lost_anything());
        assert_eq!(store.recovery().intact, 1);
        drop(store);
        remove_tree(&root).unwrap();
    }
}
