//! Verification: rehash every object and reconcile `objects/` with the
//! `objects` table.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use rusqlite::OptionalExtension;

use crate::Store;
use crate::error::{IoContext, Result, SqlContext};
use crate::fsutil::{exists, move_out, remove_tree, unique_name};
use crate::gc::parse_name;
use crate::hash::{self, ObjectHash};
use crate::object::ObjectKind;

/// What a verification found (and, when repairing, did).
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct VerifyReport {
    /// Registered objects that were rehashed.
    pub checked: u64,
    /// Registered objects whose content no longer hashes to their name, or
    /// whose kind changed, or that could not be read.
    pub corrupt: Vec<ObjectHash>,
    /// Where corrupt objects were moved (under `root/quarantine/`) when
    /// repairing; their rows and realisations are gone, so the next build
    /// that needs them rebuilds them.
    pub quarantined: Vec<PathBuf>,
    /// Entries of `objects/` without a row: left by an interrupted
    /// registration or collection, or foreign files.
    pub unregistered: Vec<PathBuf>,
    /// How many of those were removed (only when repairing).
    pub unregistered_removed: u64,
    /// Rows whose object file is missing. Their rows (and realisations) are
    /// always removed: they promise something the store does not have.
    pub missing: Vec<ObjectHash>,
}

/// Which repairs a verification makes besides reporting.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct VerifyOptions {
    /// Move corrupt objects to `root/quarantine/` and forget their rows and
    /// realisations, so that the next build that needs them rebuilds them.
    pub quarantine_corrupt: bool,
    /// Delete entries of `objects/` that have no row.
    pub remove_unregistered: bool,
}

impl VerifyReport {
    /// Whether nothing was wrong.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.unregistered.is_empty() && self.missing.is_empty()
    }
}

impl Store {
    /// Rehashes every registered object and reports the corrupt ones,
    /// unregistered entries of `objects/` and rows without objects (whose
    /// rows are removed). With `quarantine`, also repairs: corrupt objects
    /// move to `root/quarantine/` and lose their rows and realisations, and
    /// unregistered entries are deleted.
    ///
    /// Hashing runs without locks. Repairs take `gc.lock` exclusively (so
    /// no registration is half-way) and recheck each finding under it;
    /// while this store holds a build guard a repairing verify returns
    /// [`StoreError::WouldDeadlock`](crate::StoreError::WouldDeadlock).
    pub fn verify(&self, quarantine: bool) -> Result<VerifyReport> {
        self.verify_with(VerifyOptions { quarantine_corrupt: quarantine, remove_unregistered: quarantine })
    }

    /// [`Store::verify`] with each repair chosen on its own: `imgx store
    /// verify` quarantines corrupt objects (so that the next build replaces
    /// them) without deleting unregistered entries, which only
    /// `--quarantine` does.
    pub fn verify_with(&self, options: VerifyOptions) -> Result<VerifyReport> {
        let db = &self.layout.db;
        let objects = &self.layout.objects;
        let mut report = VerifyReport::default();

        // The listing comes before the rows: an object registered in
        // between is then seen with its row, never as unregistered.
        let mut entries = Vec::new();
        for entry in fs::read_dir(objects).at("list", objects)? {
            entries.push(entry.at("list", objects)?.file_name());
        }
        let rows: Vec<(String, String)> = {
            let conn = self.db();
            let mut statement =
                conn.prepare("SELECT hash, kind FROM objects ORDER BY hash").sql("list the objects in", db)?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).sql("list the objects in", db)?;
            rows.collect::<rusqlite::Result<_>>().sql("list the objects in", db)?
        };
        let mut malformed_rows = Vec::new();
        let mut registered = std::collections::HashSet::new();
        for (hex, kind) in &rows {
            let Some(hash) = parse_name(hex.as_ref()) else {
                malformed_rows.push(hex.clone());
                continue;
            };
            registered.insert(hash);
            let path = self.object_path(&hash);
            if !exists(&path) {
                report.missing.push(hash);
                continue;
            }
            report.checked += 1;
            if !self.is_intact(&hash, kind) {
                report.corrupt.push(hash);
            }
        }
        for name in entries {
            if !parse_name(&name).is_some_and(|hash| registered.contains(&hash)) {
                report.unregistered.push(objects.join(name));
            }
        }

        // Rows without objects go in any case.
        {
            let conn = self.db();
            for hash in &report.missing {
                if !exists(&self.object_path(hash)) {
                    conn.execute("DELETE FROM objects WHERE hash = ?1", [hash.to_hex()])
                        .sql("delete a missing object from", db)?;
                }
            }
            for hex in &malformed_rows {
                conn.execute("DELETE FROM objects WHERE hash = ?1", [hex]).sql("delete a malformed row from", db)?;
            }
        }
        if options.quarantine_corrupt || options.remove_unregistered {
            self.repair(&mut report, options)?;
        }
        Ok(report)
    }

    /// Quarantines corrupt objects and deletes unregistered entries, under
    /// the exclusive store lock.
    fn repair(&self, report: &mut VerifyReport, options: VerifyOptions) -> Result<()> {
        let _lock = self.exclusive_store_lock("repair the store")?;
        let db = &self.layout.db;
        let corrupt = if options.quarantine_corrupt { report.corrupt.clone() } else { Vec::new() };
        for hash in &corrupt {
            if let Some(destination) = self.quarantine(hash)? {
                report.quarantined.push(destination);
            }
        }
        if !options.remove_unregistered {
            return Ok(());
        }
        let trash = self.scratch("verify")?;
        for path in &report.unregistered {
            let name = path.file_name().unwrap_or_default();
            let registered_now = match parse_name(name) {
                Some(hash) => self
                    .db()
                    .query_row("SELECT 1 FROM objects WHERE hash = ?1", [hash.to_hex()], |_| Ok(()))
                    .optional()
                    .sql("look up an object in", db)?
                    .is_some(),
                None => false,
            };
            if registered_now || !exists(path) {
                continue;
            }
            let moved = trash.path().join(name);
            move_out(path, &moved).at("move out of the store", path)?;
            remove_tree(&moved).at("delete", &moved)?;
            report.unregistered_removed += 1;
        }
        Ok(())
    }

    /// Whether the object named `hash` is still what its row says: of the
    /// `kind` recorded, and hashing to its name. A read error (a bad
    /// sector) counts as corruption, not as a failure of the caller.
    pub(crate) fn is_intact(&self, hash: &ObjectHash, kind: &str) -> bool {
        let path = self.object_path(hash);
        let kind_matches =
            fs::symlink_metadata(&path).is_ok_and(|meta| ObjectKind::of(meta.file_type()) == ObjectKind::parse(kind));
        kind_matches && hash::hash_path(&path).ok() == Some(*hash)
    }

    /// Forgets a corrupt object (its row, and with it its realisations) and
    /// moves it to `root/quarantine/`, returning where it went; `None` if
    /// it is gone already. The caller holds the exclusive store lock.
    pub(crate) fn quarantine(&self, hash: &ObjectHash) -> Result<Option<PathBuf>> {
        let path = self.object_path(hash);
        if !exists(&path) {
            return Ok(None);
        }
        let destination = self.layout.quarantine.join(format!("{hash}-{}", unique_name("quarantined")));
        self.db()
            .execute("DELETE FROM objects WHERE hash = ?1", [hash.to_hex()])
            .sql("delete a corrupt object from", &self.layout.db)?;
        move_out(&path, &destination).at("quarantine", &path)?;
        if fs::symlink_metadata(&destination).is_ok_and(|meta| meta.is_dir()) {
            let _ = fs::set_permissions(&destination, fs::Permissions::from_mode(0o555));
        }
        Ok(Some(destination))
    }
}
