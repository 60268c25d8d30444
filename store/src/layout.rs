//! Where things live under the store's root, and where the root is.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};
use crate::hash::ObjectHash;

/// The paths of one store. Every path is absolute and has its symlinks
/// resolved (the root is canonicalised once it exists), so object paths can
/// be compared and written into out-links as they are.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The store's root directory.
    pub root: PathBuf,
    /// `root/objects`: one entry per object, named by its hash in hex.
    pub objects: PathBuf,
    /// `root/scratch`: build areas, on the same file system as `objects`.
    pub scratch: PathBuf,
    /// `root/logs`: build logs, `<key>.log`.
    pub logs: PathBuf,
    /// `root/locks`: per-key lock files, `<key>.lock`.
    pub locks: PathBuf,
    /// `root/quarantine`: objects that failed verification.
    pub quarantine: PathBuf,
    /// `root/db.sqlite`: the metadata database.
    pub db: PathBuf,
    /// `root/gc.lock`: shared by builders, exclusive during collection.
    pub gc_lock: PathBuf,
}

impl Layout {
    /// Creates the root and its directories where missing and returns the
    /// layout with a canonical root.
    pub fn create(root: &Path) -> Result<Layout> {
        fs::create_dir_all(root).at("create the store directory", root)?;
        let root = root.canonicalize().at("resolve the store directory", root)?;
        let layout = Layout {
            objects: root.join("objects"),
            scratch: root.join("scratch"),
            logs: root.join("logs"),
            locks: root.join("locks"),
            quarantine: root.join("quarantine"),
            db: root.join("db.sqlite"),
            gc_lock: root.join("gc.lock"),
            root,
        };
        for dir in [&layout.objects, &layout.scratch, &layout.logs, &layout.locks, &layout.quarantine] {
            fs::create_dir_all(dir).at("create the store directory", dir)?;
        }
        Ok(layout)
    }

    /// `objects/<hex>`.
    pub fn object(&self, hash: &ObjectHash) -> PathBuf {
        self.objects.join(hash.to_hex())
    }

    /// `logs/<key>.log`.
    pub fn log(&self, key: &str) -> PathBuf {
        self.logs.join(format!("{key}.log"))
    }

    /// `locks/<key>.lock`.
    pub fn key_lock(&self, key: &str) -> PathBuf {
        self.locks.join(format!("{key}.lock"))
    }
}

/// The store root chosen from the environment: `$IMGX_STORE`, else
/// `$XDG_DATA_HOME/imgx`, else `$HOME/.local/share/imgx`. Empty variables
/// count as unset, and a relative `XDG_DATA_HOME` is ignored, as the XDG
/// base-directory specification asks.
pub(crate) fn default_root() -> Result<PathBuf> {
    default_root_from(|name| std::env::var_os(name))
}

/// [`default_root`] with the environment passed in, for tests.
pub(crate) fn default_root_from(var: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let non_empty = |name: &str| var(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(store) = non_empty("IMGX_STORE") {
        return Ok(store);
    }
    if let Some(data) = non_empty("XDG_DATA_HOME").filter(|path| path.is_absolute()) {
        return Ok(data.join("imgx"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(home.join(".local/share/imgx"));
    }
    Err(StoreError::NoDefaultRoot)
}

/// Checks that a step or cache key is 64 lowercase hexadecimal digits. Keys
/// become file names (locks, logs), so this also keeps them from naming
/// anything outside the store.
pub(crate) fn check_key(key: &str) -> Result<()> {
    let valid = key.len() == 64 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid { Ok(()) } else { Err(StoreError::InvalidKey { key: key.to_owned() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| OsString::from(value))
    }

    #[test]
    fn default_root_prefers_imgx_store_then_xdg_then_home() {
        let all = [("IMGX_STORE", "/s"), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(default_root_from(env(&all)).unwrap(), PathBuf::from("/s"));
        let xdg = [("IMGX_STORE", ""), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(default_root_from(env(&xdg)).unwrap(), PathBuf::from("/x/imgx"));
        let relative_xdg = [("XDG_DATA_HOME", "x"), ("HOME", "/h")];
        assert_eq!(default_root_from(env(&relative_xdg)).unwrap(), PathBuf::from("/h/.local/share/imgx"));
        assert!(matches!(default_root_from(env(&[])), Err(StoreError::NoDefaultRoot)));
    }

    #[test]
    fn keys_are_64_lowercase_hex_digits() {
        assert!(check_key(&"0a".repeat(32)).is_ok());
        assert!(check_key(&"0A".repeat(32)).is_err());
        assert!(check_key("../../etc/passwd").is_err());
        assert!(check_key(&"0".repeat(63)).is_err());
    }
}
