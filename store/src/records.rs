//! The build records: step descriptions, realisations (which output a step
//! key produced), build logs and the evaluation cache.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::Store;
use crate::error::{IoContext, Result, SqlContext, StoreError};
use crate::fsutil::{exists, unix_now};
use crate::hash::ObjectHash;
use crate::layout::check_key;

/// That a step key was built, and into which object.
///
/// A step may be recorded under two keys: its input-addressed key (over
/// its inputs' keys, answerable without hashing anything) and its content
/// key (over its inputs' content hashes, for early cutoff). Both map to the
/// same output.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Realisation {
    /// The step key, 64 lowercase hexadecimal digits.
    pub key: String,
    /// The output object; it must be registered when the realisation is
    /// recorded.
    pub output: ObjectHash,
    /// When the build finished, in seconds since the Unix epoch.
    pub built_at: i64,
    /// How long the build took, in milliseconds.
    pub duration_ms: u64,
    /// The version of the builder that produced the output.
    pub builder_version: String,
}

/// A cached evaluation result.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EvalCacheEntry {
    /// What the evaluation read (a serialisation chosen by the caller, for
    /// example the files and their hashes), to check the entry is current.
    pub inputs: String,
    /// The result, serialised by the caller.
    pub result: String,
    /// When the entry was written, in seconds since the Unix epoch.
    pub created_at: i64,
}

impl Store {
    /// Records the canonical description of the step with this key. A key
    /// is a hash of its description, so recording it again is a no-op; a
    /// different description under the same key is reported as corruption.
    pub fn put_step(&self, key: &str, serialisation: &str) -> Result<()> {
        check_key(key)?;
        let db = &self.layout.db;
        let conn = self.db();
        conn.execute(
            "INSERT INTO steps (key, serialisation) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            (key, serialisation),
        )
        .sql("record a step in", db)?;
        let stored: String = conn
            .query_row("SELECT serialisation FROM steps WHERE key = ?1", [key], |row| row.get(0))
            .sql("read a step from", db)?;
        if stored != serialisation {
            return Err(StoreError::Corrupt {
                path: db.clone(),
                detail: format!("step {key} is recorded with a different description"),
            });
        }
        Ok(())
    }

    /// Records the description of a step whose key does not hash its whole
    /// description (a fixed-output step: its key covers only the declared
    /// output, so a step with another URL has the same key), replacing the
    /// one recorded before.
    pub fn replace_step(&self, key: &str, serialisation: &str) -> Result<()> {
        check_key(key)?;
        self.db()
            .execute(
                "INSERT INTO steps (key, serialisation) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET serialisation = excluded.serialisation",
                (key, serialisation),
            )
            .sql("record a step in", &self.layout.db)?;
        Ok(())
    }

    /// The description recorded for a step key.
    pub fn step(&self, key: &str) -> Result<Option<String>> {
        check_key(key)?;
        self.db()
            .query_row("SELECT serialisation FROM steps WHERE key = ?1", [key], |row| row.get(0))
            .optional()
            .sql("read a step from", &self.layout.db)
    }

    /// Records (or replaces) a realisation. Its output must be registered
    /// ([`StoreError::NoSuchObject`] otherwise). Hold a
    /// [`Store::build_guard`] from registration until here, so garbage
    /// collection cannot remove the output in between.
    pub fn put_realisation(&self, realisation: &Realisation) -> Result<()> {
        check_key(&realisation.key)?;
        let db = &self.layout.db;
        let mut conn = self.db();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .sql("begin recording a realisation in", db)?;
        let output = realisation.output.to_hex();
        let registered = tx
            .query_row("SELECT 1 FROM objects WHERE hash = ?1", [&output], |_| Ok(()))
            .optional()
            .sql("look up an object in", db)?
            .is_some();
        if !registered {
            return Err(StoreError::NoSuchObject { hash: realisation.output });
        }
        tx.execute(
            "INSERT INTO realisations (key, output, built_at, duration_ms, builder_version)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET output = excluded.output, built_at = excluded.built_at,
                 duration_ms = excluded.duration_ms, builder_version = excluded.builder_version",
            (
                &realisation.key,
                &output,
                realisation.built_at,
                i64::try_from(realisation.duration_ms).unwrap_or(i64::MAX),
                &realisation.builder_version,
            ),
        )
        .sql("record a realisation in", db)?;
        tx.commit().sql("commit a realisation to", db)
    }

    /// Every realisation whose output is still registered, sorted by key:
    /// what `imgx challenge` compares with another store.
    pub fn realisations(&self) -> Result<Vec<Realisation>> {
        let db = &self.layout.db;
        let conn = self.db();
        let mut statement = conn
            .prepare(
                "SELECT r.key, r.output, r.built_at, r.duration_ms, r.builder_version
                 FROM realisations r JOIN objects o ON o.hash = r.output ORDER BY r.key",
            )
            .sql("list the realisations in", db)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })
            .sql("list the realisations in", db)?;
        let mut realisations = Vec::new();
        for row in rows {
            let (key, output, built_at, duration_ms, builder_version) = row.sql("list the realisations in", db)?;
            // A malformed row is reported by `realisation` for its key; a
            // listing skips it rather than failing as a whole.
            let Some(output) = ObjectHash::from_hex(&output) else { continue };
            let duration_ms = u64::try_from(duration_ms).unwrap_or(0);
            realisations.push(Realisation { key, output, built_at, duration_ms, builder_version });
        }
        Ok(realisations)
    }

    /// The realisation of a step key, if there is one whose output is still
    /// registered and present in `objects/`.
    pub fn realisation(&self, key: &str) -> Result<Option<Realisation>> {
        check_key(key)?;
        let db = &self.layout.db;
        let row: Option<(String, i64, i64, String)> = self
            .db()
            .query_row(
                "SELECT r.output, r.built_at, r.duration_ms, r.builder_version
                 FROM realisations r JOIN objects o ON o.hash = r.output WHERE r.key = ?1",
                [key],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .sql("read a realisation from", db)?;
        let Some((output, built_at, duration_ms, builder_version)) = row else { return Ok(None) };
        let output = ObjectHash::from_hex(&output).ok_or_else(|| StoreError::Corrupt {
            path: db.clone(),
            detail: format!("realisation {key} names the malformed output {output:?}"),
        })?;
        if !exists(&self.object_path(&output)) {
            return Ok(None);
        }
        let duration_ms = u64::try_from(duration_ms).unwrap_or(0);
        Ok(Some(Realisation { key: key.to_owned(), output, built_at, duration_ms, builder_version }))
    }

    /// Writes the build log of a step key to `root/logs/<key>.log`
    /// (replacing an older one) and records it. The file is written beside
    /// its final name and renamed into place, so a reader sees the old log
    /// or the whole new one. Returns the log's path.
    pub fn put_log(&self, key: &str, bytes: &[u8]) -> Result<PathBuf> {
        check_key(key)?;
        let path = self.layout.log(key);
        let temporary = self.layout.logs.join(format!(".{key}.{}.tmp", std::process::id()));
        let mut file = fs::File::create(&temporary).at("create", &temporary)?;
        file.write_all(bytes).at("write", &temporary)?;
        drop(file);
        fs::rename(&temporary, &path).at("move the log into place at", &path)?;
        // Recorded relative to the root, so a moved store keeps its logs.
        let relative = path.strip_prefix(&self.layout.root).unwrap_or(&path);
        let text = relative.to_str().ok_or_else(|| StoreError::NonUtf8Path { path: path.clone() })?;
        self.db()
            .execute(
                "INSERT INTO logs (key, path) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET path = excluded.path",
                (key, text),
            )
            .sql("record a log in", &self.layout.db)?;
        Ok(path)
    }

    /// The path of a step key's build log, if one is recorded and exists.
    pub fn log_path(&self, key: &str) -> Result<Option<PathBuf>> {
        check_key(key)?;
        let path: Option<String> = self
            .db()
            .query_row("SELECT path FROM logs WHERE key = ?1", [key], |row| row.get(0))
            .optional()
            .sql("look up a log in", &self.layout.db)?;
        Ok(path.map(|path| self.layout.root.join(path)).filter(|path| path.is_file()))
    }

    /// Records (or replaces) an evaluation-cache entry under `key`.
    pub fn put_eval_cache(&self, key: &str, inputs: &str, result: &str) -> Result<()> {
        check_key(key)?;
        self.db()
            .execute(
                "INSERT INTO eval_cache (key, inputs, result, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET inputs = excluded.inputs, result = excluded.result,
                     created_at = excluded.created_at",
                (key, inputs, result, unix_now()),
            )
            .sql("record an evaluation result in", &self.layout.db)?;
        Ok(())
    }

    /// The evaluation-cache entry under `key`, if any.
    pub fn eval_cache(&self, key: &str) -> Result<Option<EvalCacheEntry>> {
        check_key(key)?;
        self.db()
            .query_row("SELECT inputs, result, created_at FROM eval_cache WHERE key = ?1", [key], |row| {
                Ok(EvalCacheEntry { inputs: row.get(0)?, result: row.get(1)?, created_at: row.get(2)? })
            })
            .optional()
            .sql("read an evaluation result from", &self.layout.db)
    }
}
