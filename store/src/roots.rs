//! Garbage-collection roots: the objects that [`Store::gc`] keeps.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::Store;
use crate::error::{IoContext, Result, SqlContext, StoreError};
use crate::fsutil::{unique_name, unix_now};
use crate::hash::ObjectHash;

/// What kind of root a path is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RootKind {
    /// A symlink outside the store (such as `./result`) pointing at
    /// `root/objects/<hex>`. It protects its target only while the symlink
    /// still exists and still points there; otherwise `gc` drops the root.
    OutLink,
    /// A root by name alone: its target is kept until [`Store::remove_root`].
    Explicit,
}

impl RootKind {
    /// The name stored in the database: `outlink` or `explicit`.
    pub fn as_str(self) -> &'static str {
        match self {
            RootKind::OutLink => "outlink",
            RootKind::Explicit => "explicit",
        }
    }

    /// Parses [`RootKind::as_str`]'s output.
    pub fn parse(name: &str) -> Option<RootKind> {
        match name {
            "outlink" => Some(RootKind::OutLink),
            "explicit" => Some(RootKind::Explicit),
            _ => None,
        }
    }
}

/// A recorded root.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Root {
    /// The out-link's path, or the explicit root's name, made absolute.
    pub path: PathBuf,
    /// The object it keeps.
    pub target: ObjectHash,
    /// Out-link or explicit.
    pub kind: RootKind,
    /// When it was recorded, in seconds since the Unix epoch.
    pub created_at: i64,
}

impl Store {
    /// Records `link` as a root keeping `target`, replacing any earlier
    /// root at the same path. The target must be in the store.
    ///
    /// `link` is made absolute with its parent directory's symlinks
    /// resolved (when the parent exists), so the same out-link reached
    /// through different paths is one root. For [`RootKind::OutLink`] the
    /// caller creates the symlink (or uses [`Store::create_out_link`]);
    /// until it exists and points at the object, the root does not protect
    /// it, so hold a [`Store::build_guard`] across both.
    pub fn add_root(&self, link: &Path, target: &ObjectHash, kind: RootKind) -> Result<()> {
        if !self.has_object(target)? {
            return Err(StoreError::NoSuchObject { hash: *target });
        }
        let path = normalise_root_path(link)?;
        let text = path.to_str().ok_or_else(|| StoreError::NonUtf8Path { path: path.clone() })?;
        self.db()
            .execute(
                "INSERT INTO roots (path, target, kind, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (path) DO UPDATE SET target = excluded.target, kind = excluded.kind,
                     created_at = excluded.created_at",
                (text, target.to_hex(), kind.as_str(), unix_now()),
            )
            .sql("record a root in", &self.layout.db)?;
        Ok(())
    }

    /// Forgets the root at `link` (normalised as in [`Store::add_root`]);
    /// the symlink itself, if any, is left alone. Returns whether there was
    /// such a root.
    pub fn remove_root(&self, link: &Path) -> Result<bool> {
        let path = normalise_root_path(link)?;
        let text = path.to_str().ok_or_else(|| StoreError::NonUtf8Path { path: path.clone() })?;
        let removed = self
            .db()
            .execute("DELETE FROM roots WHERE path = ?1", [text])
            .sql("remove a root from", &self.layout.db)?;
        Ok(removed > 0)
    }

    /// Every recorded root, sorted by path.
    pub fn roots(&self) -> Result<Vec<Root>> {
        let db = &self.layout.db;
        let conn = self.db();
        let mut statement = conn
            .prepare("SELECT path, target, kind, created_at FROM roots ORDER BY path")
            .sql("list the roots in", db)?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get(3)?))
            })
            .sql("list the roots in", db)?;
        let mut roots = Vec::new();
        for row in rows {
            let (path, target, kind, created_at) = row.sql("list the roots in", db)?;
            let corrupt = || StoreError::Corrupt {
                path: db.clone(),
                detail: format!("root {path:?} has the malformed target {target:?} or kind {kind:?}"),
            };
            let hash = ObjectHash::from_hex(&target).ok_or_else(corrupt)?;
            let kind = RootKind::parse(&kind).ok_or_else(corrupt)?;
            roots.push(Root { path: PathBuf::from(path), target: hash, kind, created_at });
        }
        Ok(roots)
    }

    /// Points the symlink `link` at `target`'s object path, atomically
    /// replacing an older symlink there, and records it as an out-link
    /// root. Refuses to replace anything that is not a symlink.
    pub fn create_out_link(&self, link: &Path, target: &ObjectHash) -> Result<()> {
        let _guard = self.shared_store_lock()?;
        match fs::symlink_metadata(link) {
            Ok(meta) if !meta.file_type().is_symlink() => {
                let error = io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a symlink");
                return Err(StoreError::io("replace", link, error));
            }
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                return Err(StoreError::io("inspect", link, error));
            }
            _ => {}
        }
        // The root first: should the symlink never appear, the root is
        // stale and `gc` drops it; the other order could leave a symlink
        // whose object `gc` deletes.
        self.add_root(link, target, RootKind::OutLink)?;
        let parent = match link.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temporary = parent.join(format!(".{}", unique_name("imgx-out-link")));
        std::os::unix::fs::symlink(self.object_path(target), &temporary).at("create the symlink", &temporary)?;
        if let Err(error) = fs::rename(&temporary, link) {
            let _ = fs::remove_file(&temporary);
            return Err(StoreError::io("create the out-link", link, error));
        }
        Ok(())
    }
}

/// The form in which a root's path is recorded: absolute, with the parent
/// directory canonicalised when it exists (the link itself is not resolved).
fn normalise_root_path(link: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(link).at("resolve", link)?;
    if let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name())
        && let Ok(parent) = parent.canonicalize()
    {
        return Ok(parent.join(name));
    }
    Ok(absolute)
}

/// Whether the out-link at `link` is a symlink pointing at `object` (an
/// absolute, canonical object path), directly or by a relative path.
pub(crate) fn out_link_points_at(link: &Path, object: &Path) -> bool {
    let Ok(target) = fs::read_link(link) else { return false };
    let target = match link.parent() {
        Some(parent) if target.is_relative() => parent.join(target),
        _ => target,
    };
    let (Some(name), Some(parent)) = (target.file_name(), target.parent()) else { return false };
    Some(name) == object.file_name()
        && parent.canonicalize().is_ok_and(|parent| Some(parent.as_path()) == object.parent())
}
