//! Garbage collection: delete every object no root keeps.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;

use rusqlite::TransactionBehavior;

use crate::Store;
use crate::error::{IoContext, Result, SqlContext};
use crate::fsutil::{allocated_bytes, move_out, remove_tree};
use crate::hash::ObjectHash;
use crate::roots::{RootKind, out_link_points_at};
use crate::scratch::cleanup_stale;

/// What a garbage collection did.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct GcReport {
    /// Objects kept because a root reaches them.
    pub objects_kept: u64,
    /// Entries removed from `objects/` (registered objects and
    /// unregistered garbage alike).
    pub objects_deleted: u64,
    /// Disk space the deleted objects occupied (`st_blocks * 512`, so the
    /// holes of sparse images do not count). Blocks shared with other files
    /// through reflinks or hard links are counted but may not be freed.
    pub bytes_freed: u64,
    /// Out-link roots dropped because their symlink was gone or pointed
    /// elsewhere.
    pub roots_dropped: u64,
}

impl Store {
    /// Deletes every object that is not the target of an explicit root or
    /// of an out-link root whose symlink still points at it, with its
    /// `objects` row, the realisations that produced it and their logs.
    /// Stale out-link roots are dropped, and scratch directories left by
    /// dead processes are removed.
    ///
    /// Holds `gc.lock` exclusively throughout, so it waits for every
    /// [`Store::build_guard`] and registration, and none starts until it
    /// is done. Rows are deleted (in one transaction) before files: a crash
    /// in between leaves complete but unregistered objects, which the next
    /// collection removes. Each object is renamed out of `objects/` before
    /// its tree is removed, so `objects/<hex>` is never a half-deleted tree.
    ///
    /// Returns [`StoreError::WouldDeadlock`](crate::StoreError::WouldDeadlock)
    /// if this store holds a build guard.
    pub fn gc(&self) -> Result<GcReport> {
        let _lock = self.exclusive_store_lock("collect garbage")?;
        let db = &self.layout.db;
        let mut report = GcReport::default();

        // Liveness.
        let mut live = HashSet::new();
        let mut stale = Vec::new();
        for root in self.roots()? {
            let reachable = match root.kind {
                RootKind::Explicit => true,
                RootKind::OutLink => out_link_points_at(&root.path, &self.object_path(&root.target)),
            };
            if reachable {
                live.insert(root.target);
            } else {
                stale.push(root);
            }
        }

        // What is dead: every entry of `objects/` and every row that no
        // root reaches.
        let objects = &self.layout.objects;
        let mut dead_entries: Vec<OsString> = Vec::new();
        for entry in fs::read_dir(objects).at("list", objects)? {
            let name = entry.at("list", objects)?.file_name();
            if !parse_name(&name).is_some_and(|hash| live.contains(&hash)) {
                dead_entries.push(name);
            }
        }
        let mut conn = self.db();
        let rows: Vec<String> = {
            let mut statement = conn.prepare("SELECT hash FROM objects").sql("list the objects in", db)?;
            let rows = statement.query_map([], |row| row.get(0)).sql("list the objects in", db)?;
            rows.collect::<rusqlite::Result<_>>().sql("list the objects in", db)?
        };
        let dead_rows: Vec<String> = rows
            .into_iter()
            .filter(|hex| !ObjectHash::from_hex(hex).is_some_and(|hash| live.contains(&hash)))
            .collect();

        // Rows first, in one transaction.
        let tx =
            conn.transaction_with_behavior(TransactionBehavior::Immediate).sql("begin collecting garbage in", db)?;
        for root in &stale {
            let (Some(path), target) = (root.path.to_str(), root.target.to_hex()) else { continue };
            report.roots_dropped += tx
                .execute("DELETE FROM roots WHERE path = ?1 AND target = ?2", (path, target))
                .sql("drop a stale root from", db)? as u64;
        }
        let mut log_files: Vec<PathBuf> = Vec::new();
        for hex in &dead_rows {
            {
                let mut statement = tx
                    .prepare("SELECT l.path FROM logs l JOIN realisations r ON r.key = l.key WHERE r.output = ?1")
                    .sql("list the logs of an object in", db)?;
                let paths = statement.query_map([hex], |row| row.get::<_, String>(0)).sql("list logs in", db)?;
                for path in paths {
                    log_files.push(self.layout.root.join(path.sql("list logs in", db)?));
                }
            }
            tx.execute("DELETE FROM logs WHERE key IN (SELECT key FROM realisations WHERE output = ?1)", [hex])
                .sql("delete the logs of an object from", db)?;
            // Realisations go with the row (ON DELETE CASCADE).
            tx.execute("DELETE FROM objects WHERE hash = ?1", [hex]).sql("delete an object from", db)?;
        }
        tx.commit().sql("commit a garbage collection to", db)?;
        drop(conn);

        // Then files.
        let trash = self.scratch("gc")?;
        for name in dead_entries {
            let path = objects.join(&name);
            let bytes = allocated_bytes(&path).unwrap_or(0);
            let moved = trash.path().join(&name);
            move_out(&path, &moved).at("move out of the store", &path)?;
            remove_tree(&moved).at("delete", &moved)?;
            report.objects_deleted += 1;
            report.bytes_freed += bytes;
        }
        for path in log_files {
            remove_tree(&path).at("delete", &path)?;
        }
        drop(trash);
        report.objects_kept = live.iter().filter(|hash| crate::fsutil::exists(&self.object_path(hash))).count() as u64;
        cleanup_stale(&self.layout.scratch)?;
        Ok(report)
    }
}

/// The hash an entry of `objects/` is named after, if it is named exactly
/// as the store names objects (64 lowercase hex digits).
pub(crate) fn parse_name(name: &std::ffi::OsStr) -> Option<ObjectHash> {
    let name = name.to_str()?;
    ObjectHash::from_hex(name).filter(|hash| hash.to_hex() == name)
}
