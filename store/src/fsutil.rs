//! Small file-system helpers shared by the store's modules: directory
//! fsync, removal of read-only trees, allocated sizes, unique names.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Flushes a directory's entries to disk, so that a rename or creation
/// inside it survives a crash.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes a file, symlink or directory tree, first making directories
/// writable (objects are read-only). A path that is already gone is not an
/// error, so two cleaners may race.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    let result = if meta.is_dir() {
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o700))?;
        }
        for entry in fs::read_dir(path)? {
            remove_tree(&entry?.path())?;
        }
        fs::remove_dir(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Renames `path` (an object, perhaps a read-only directory) to `to`.
/// Moving a directory to another parent needs write permission on it (for
/// its `..` entry), so a directory is made owner-writable first.
pub(crate) fn move_out(path: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() && meta.permissions().mode() & 0o200 == 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.permissions().mode() | 0o200))?;
    }
    fs::rename(path, to)
}

/// The bytes a file or tree occupies on disk (`st_blocks * 512`, not the
/// apparent size: images are sparse). Hard links inside the tree count
/// once.
pub(crate) fn allocated_bytes(path: &Path) -> io::Result<u64> {
    fn walk(path: &Path, seen: &mut HashSet<(u64, u64)>) -> io::Result<u64> {
        let meta = fs::symlink_metadata(path)?;
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            return Ok(0);
        }
        let mut total = meta.blocks() * 512;
        if meta.is_dir() {
            for entry in fs::read_dir(path)? {
                total += walk(&entry?.path(), seen)?;
            }
        }
        Ok(total)
    }
    walk(path, &mut HashSet::new())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> i64 {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// A name no other call, thread or live process produces: the purpose
/// (reduced to `[A-Za-z0-9_-]`, at most 32 characters), the process id, the
/// time in nanoseconds and a per-process counter.
pub(crate) fn unique_name(purpose: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let purpose: String = purpose
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(32)
        .collect();
    let purpose = if purpose.is_empty() { "scratch".to_owned() } else { purpose };
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{purpose}-{}-{nanos:x}-{count}", std::process::id())
}

/// Whether something (a file, directory or symlink, dangling or not) exists
/// at `path`. Errors other than "not found" count as existing, so callers
/// never delete metadata because of, say, a permission error.
pub(crate) fn exists(path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(_) => true,
        Err(error) => error.kind() != io::ErrorKind::NotFound,
    }
}
