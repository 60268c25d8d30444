//! The metadata database: connection settings, the schema and its
//! migrations.
//!
//! The schema version is SQLite's `PRAGMA user_version`. [`MIGRATIONS`] is
//! an ordered list; migration `i` takes the schema from version `i` to
//! `i + 1`. Opening applies the missing ones in a single `IMMEDIATE`
//! transaction, so concurrent openers serialise on SQLite's write lock and
//! each migration runs exactly once; a database newer than this build is
//! refused rather than misread.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, SqlContext, StoreError};

/// How long a connection waits for another process's write lock before it
/// gives up with `SQLITE_BUSY`. Writes are short (a few rows); a minute
/// covers a heavily loaded machine.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The schema migrations, oldest first. Never edit one that has shipped:
/// append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "
    CREATE TABLE objects (
        hash          TEXT PRIMARY KEY NOT NULL CHECK (length(hash) = 64),
        kind          TEXT NOT NULL CHECK (kind IN ('file', 'directory', 'symlink')),
        size          INTEGER NOT NULL CHECK (size >= 0),
        registered_at INTEGER NOT NULL
    );
    CREATE TABLE steps (
        key           TEXT PRIMARY KEY NOT NULL CHECK (length(key) = 64),
        serialisation TEXT NOT NULL
    );
    CREATE TABLE realisations (
        key             TEXT PRIMARY KEY NOT NULL CHECK (length(key) = 64),
        output          TEXT NOT NULL REFERENCES objects (hash) ON DELETE CASCADE,
        built_at        INTEGER NOT NULL,
        duration_ms     INTEGER NOT NULL CHECK (duration_ms >= 0),
        builder_version TEXT NOT NULL
    );
    CREATE INDEX realisations_by_output ON realisations (output);
    CREATE TABLE logs (
        key  TEXT PRIMARY KEY NOT NULL CHECK (length(key) = 64),
        path TEXT NOT NULL
    );
    CREATE TABLE roots (
        path       TEXT PRIMARY KEY NOT NULL,
        target     TEXT NOT NULL CHECK (length(target) = 64),
        kind       TEXT NOT NULL CHECK (kind IN ('outlink', 'explicit')),
        created_at INTEGER NOT NULL
    );
    CREATE INDEX roots_by_target ON roots (target);
    CREATE TABLE eval_cache (
        key        TEXT PRIMARY KEY NOT NULL CHECK (length(key) = 64),
        inputs     TEXT NOT NULL,
        result     TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    ",
    // 2: objects registered without waiting for the disk (see `durability`).
    "
    CREATE TABLE unsynced (
        hash          TEXT PRIMARY KEY NOT NULL REFERENCES objects (hash) ON DELETE CASCADE,
        boot_id       TEXT NOT NULL,
        registered_at INTEGER NOT NULL
    );
    CREATE INDEX unsynced_by_boot ON unsynced (boot_id, registered_at);
    ",
];

/// The schema version this build writes and understands.
pub(crate) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Opens (creating if needed) the database at `path`: a busy timeout so
/// several processes can share it, write-ahead logging so readers never
/// block the writer, full synchronisation, foreign keys on, and the schema
/// migrated to [`current_version`].
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).sql("open", path)?;
    conn.busy_timeout(BUSY_TIMEOUT).sql("set the busy timeout of", path)?;
    let mode = switch_to_wal(&conn, path)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("SQLite refused write-ahead logging (journal mode is {mode})"),
        });
    }
    // NORMAL in WAL mode keeps the database consistent through any crash;
    // a power loss may drop the last transactions, which only turns their
    // (already synced) objects into unregistered ones that are rebuilt or
    // adopted later. FULL would cost an fsync per transaction.
    conn.pragma_update(None, "synchronous", "NORMAL").sql("set synchronous mode of", path)?;
    conn.pragma_update(None, "foreign_keys", true).sql("enable foreign keys in", path)?;
    let mut conn = conn;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Puts the database in write-ahead-logging mode (which persists in the
/// file) and returns the mode in force. Switching needs an exclusive lock,
/// and SQLite answers "busy" at once, without waiting, when another
/// process opens the same new database at the same moment; so a busy
/// answer is retried until the busy timeout has passed.
fn switch_to_wal(conn: &Connection, path: &Path) -> Result<String> {
    let started = std::time::Instant::now();
    loop {
        let attempt = conn.query_row("PRAGMA journal_mode", [], |row| row.get::<_, String>(0)).and_then(|mode| {
            if mode.eq_ignore_ascii_case("wal") {
                Ok(mode)
            } else {
                conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            }
        });
        match attempt {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.sql("switch to WAL mode", path),
        }
    }
}

/// Reads `PRAGMA user_version`.
fn user_version(conn: &Connection, path: &Path) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0)).sql("read the schema version of", path)
}

/// Applies the migrations the database lacks. Idempotent: a database at
/// the current version is only read.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let supported = current_version();
    let check = |found: i64| {
        if found > supported {
            Err(StoreError::SchemaTooNew { path: path.to_path_buf(), found, supported })
        } else if found < 0 {
            Err(StoreError::Corrupt { path: path.to_path_buf(), detail: format!("negative schema version {found}") })
        } else {
            Ok(())
        }
    };
    let found = user_version(conn, path)?;
    check(found)?;
    if found == supported {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).sql("begin migrating", path)?;
    // Read again under the write lock: another process may have migrated.
    let found = user_version(&tx, path)?;
    check(found)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(sql).sql("migrate the schema of", path)?;
        tx.pragma_update(None, "user_version", index as i64 + 1).sql("record the schema version of", path)?;
    }
    tx.commit().sql("commit the migration of", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_refuse_newer_schemas() {
        let dir = std::env::temp_dir().join(crate::fsutil::unique_name("imgx-store-db-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let mut conn = open(&path).unwrap();
        assert_eq!(user_version(&conn, &path).unwrap(), current_version());
        migrate(&mut conn, &path).unwrap();
        drop(conn);
        let conn = open(&path).unwrap();
        assert_eq!(user_version(&conn, &path).unwrap(), current_version());
        conn.pragma_update(None, "user_version", current_version() + 1).unwrap();
        drop(conn);
        assert!(matches!(open(&path), Err(StoreError::SchemaTooNew { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
