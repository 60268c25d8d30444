//! The evaluation cache: an unchanged description is not evaluated again.
//!
//! An evaluation's result (the requested step keys and every step's
//! serialisation) is stored in the store's SQLite database under a key that
//! hashes the request (file, attribute, arguments, search path, imgx's own
//! version and library). With it are the *observations* the evaluation made:
//! each file it read (with the content's hash), each directory listing,
//! file type and existence check, each imported path (with its object
//! hash), and each environment variable. A later request with the same key
//! re-checks every observation; if all still hold, the stored result is
//! used without evaluating.
//!
//! Re-checking a file compares its metadata (device, inode, size,
//! modification and change times) first and hashes it only if they differ.
//! An imported tree is re-checked the same way through a *fingerprint*: a
//! hash of every entry's relative path, type, mode and metadata, taken
//! before the import read the tree. An unchanged tree of thousands of files
//! then costs a listing and a `stat` per entry, not a read of its contents;
//! any change to a file (content, mode, owner: the change time moves), any
//! entry added, removed or renamed changes the fingerprint, and the tree is
//! hashed again.
//!
//! A fingerprint is not recorded when an entry's times are so recent that
//! the file system's coarse clock could give a later change the same
//! timestamp; such a tree is hashed at every check.

use imgx_builders::{Step, StepKey};
use imgx_lang::io::FileType;
use imgx_store::Store;
use imgx_store::hash::ObjectHash;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One thing an evaluation observed about the world.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// A file's content (hash), or that it could not be read.
    File { path: String, hash: Option<String>, stat: Option<Stat> },
    /// A directory's listing (hash of names and types), or that it could not be listed.
    Dir { path: String, hash: Option<String> },
    /// A path's type, or that it does not exist.
    FileType { path: String, ty: Option<String> },
    /// Whether a path exists.
    Exists { path: String, exists: bool },
    /// A path imported into the store as this object, with the fingerprint
    /// of its metadata taken before the import (see the module
    /// documentation), when one could be trusted.
    Import { path: String, object: String, fingerprint: Option<String> },
    /// An environment variable's value.
    Env { name: String, value: String },
}

/// The metadata that, when unchanged, lets a file's hash be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stat {
    fn of(path: &Path) -> Option<Stat> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(Stat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        })
    }

    fn to_json(self) -> Json {
        json!([self.dev, self.ino, self.size, self.mtime_ns.to_string(), self.ctime_ns.to_string()])
    }

    fn from_json(value: &Json) -> Option<Stat> {
        let items = value.as_array()?;
        Some(Stat {
            dev: items.first()?.as_u64()?,
            ino: items.get(1)?.as_u64()?,
            size: items.get(2)?.as_u64()?,
            mtime_ns: items.get(3)?.as_str()?.parse().ok()?,
            ctime_ns: items.get(4)?.as_str()?.parse().ok()?,
        })
    }
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn hash_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

fn listing_hash(entries: &[(Vec<u8>, FileType)]) -> String {
    let mut sorted: Vec<&(Vec<u8>, FileType)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = blake3::Hasher::new();
    for (name, ty) in sorted {
        hasher.update(name).update(&[0]).update(ty.nix_name().as_bytes()).update(&[0]);
    }
    hasher.finalize().to_hex().to_string()
}

impl Observation {
    /// A file read (`None` if it could not be read).
    pub fn file(path: &Path, content: Option<&[u8]>) -> Observation {
        Observation::File { path: text(path), hash: content.map(hash_bytes), stat: Stat::of(path) }
    }

    /// A directory listed.
    pub fn dir(path: &Path, entries: Option<&Vec<(Vec<u8>, FileType)>>) -> Observation {
        Observation::Dir { path: text(path), hash: entries.map(|e| listing_hash(e)) }
    }

    /// A path's type looked at.
    pub fn file_type(path: &Path, ty: Option<FileType>) -> Observation {
        Observation::FileType { path: text(path), ty: ty.map(|t| t.nix_name().to_string()) }
    }

    /// A path's existence checked.
    pub fn exists(path: &Path, exists: bool) -> Observation {
        Observation::Exists { path: text(path), exists }
    }

    /// A path imported into the store; `fingerprint` is what
    /// [`fingerprint`] gave before the import read the path.
    pub fn import(path: &Path, object: ObjectHash, fingerprint: Option<String>) -> Observation {
        Observation::Import { path: text(path), object: object.to_hex(), fingerprint }
    }

    /// An environment variable read.
    pub fn env(name: &str, value: &[u8]) -> Observation {
        Observation::Env { name: name.to_string(), value: String::from_utf8_lossy(value).into_owned() }
    }

    /// Whether the observation still holds; see [`Check`].
    fn check(&self) -> Check {
        let holds = |yes: bool| if yes { Check::Holds } else { Check::Changed };
        match self {
            Observation::File { path, hash, stat } => {
                let path = Path::new(path);
                let now = Stat::of(path);
                if stat.is_some() && now == *stat {
                    return Check::Holds;
                }
                if hash.is_some() && std::fs::read(path).ok().map(|b| hash_bytes(&b)) == *hash {
                    // The metadata taken before the read: a change made
                    // since shows at the next check.
                    return Check::Refreshed(Observation::File { path: text(path), hash: hash.clone(), stat: now });
                }
                // A file that could not be read holds while it still cannot be.
                holds(hash.is_none() && std::fs::read(path).is_err())
            }
            Observation::Dir { path, hash } => {
                let listing = imgx_lang::io::EvalIo::read_dir(&imgx_lang::StdIo, Path::new(path)).ok();
                holds(listing.map(|l| listing_hash(&l)) == *hash)
            }
            Observation::FileType { path, ty } => holds(
                imgx_lang::io::EvalIo::file_type(&imgx_lang::StdIo, Path::new(path))
                    .ok()
                    .map(|t| t.nix_name().to_string())
                    == *ty,
            ),
            Observation::Exists { path, exists } => holds(Path::new(path).exists() == *exists),
            Observation::Import { path, object, fingerprint } => {
                let path = Path::new(path);
                if fingerprint.is_some() && walk_fingerprint(path, None) == *fingerprint {
                    return Check::Holds;
                }
                // Taken before the hash reads the tree, as at the import.
                let now = crate::evalcache::fingerprint(path);
                if imgx_store::hash::hash_path(path).map(|h| h.to_hex()).ok().as_deref() != Some(object.as_str()) {
                    return Check::Changed;
                }
                Check::Refreshed(Observation::Import { path: text(path), object: object.clone(), fingerprint: now })
            }
            Observation::Env { name, value } => {
                let current = imgx_lang::io::EvalIo::get_env(&imgx_lang::StdIo, name);
                holds(String::from_utf8_lossy(&current) == value.as_str())
            }
        }
    }

    fn to_json(&self) -> Json {
        match self {
            Observation::File { path, hash, stat } => {
                json!({ "file": path, "hash": hash, "stat": stat.map(Stat::to_json) })
            }
            Observation::Dir { path, hash } => json!({ "dir": path, "hash": hash }),
            Observation::FileType { path, ty } => json!({ "type": path, "is": ty }),
            Observation::Exists { path, exists } => json!({ "exists": path, "is": exists }),
            Observation::Import { path, object, fingerprint } => {
                json!({ "import": path, "object": object, "fingerprint": fingerprint })
            }
            Observation::Env { name, value } => json!({ "env": name, "value": value }),
        }
    }

    fn from_json(value: &Json) -> Option<Observation> {
        let string = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let stat = || value.get("stat").and_then(Stat::from_json);
        if let Some(path) = string("file") {
            return Some(Observation::File { path, hash: string("hash"), stat: stat() });
        }
        if let Some(path) = string("dir") {
            return Some(Observation::Dir { path, hash: string("hash") });
        }
        if let Some(path) = string("type") {
            return Some(Observation::FileType { path, ty: string("is") });
        }
        if let Some(path) = string("exists") {
            return Some(Observation::Exists { path, exists: value.get("is")?.as_bool()? });
        }
        if let Some(path) = string("import") {
            return Some(Observation::Import { path, object: string("object")?, fingerprint: string("fingerprint") });
        }
        Some(Observation::Env { name: string("env")?, value: string("value")? })
    }
}

/// How far back from now a timestamp must lie to be trusted: file systems
/// stamp changes with a clock that advances in ticks (at most 10 ms with
/// the kernel's slowest tick rate), so a change made right after a
/// fingerprint was taken could carry a timestamp equal to one it recorded.
const RECENT_NS: i128 = 100_000_000;

/// The fingerprint of the file, symlink or tree at `path`: a hash over every
/// entry's path relative to it, and its type, mode, owner, device, inode,
/// size and modification and change times, in sorted order. `None` if
/// anything cannot be read, or if an entry was changed too recently to be
/// trusted (see [`RECENT_NS`]).
///
/// Take it *before* reading what it describes: a change made while the
/// contents are read then shows in the change time at the next check.
pub fn fingerprint(path: &Path) -> Option<String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos() as i128;
    walk_fingerprint(path, Some(now - RECENT_NS))
}

/// [`fingerprint`], refusing entries changed at or after `trusted_before`
/// (nanoseconds since the epoch) when it is given.
fn walk_fingerprint(path: &Path, trusted_before: Option<i128>) -> Option<String> {
    fn entry(
        hasher: &mut blake3::Hasher,
        path: &Path,
        relative: &[u8],
        meta: &std::fs::Metadata,
        trusted_before: Option<i128>,
    ) -> Option<()> {
        let mtime = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
        let ctime = meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128;
        if trusted_before.is_some_and(|limit| mtime.max(ctime) >= limit) {
            return None;
        }
        hasher.update(&(relative.len() as u64).to_le_bytes()).update(relative);
        for field in [meta.mode() as u64, meta.uid() as u64, meta.gid() as u64, meta.dev(), meta.ino(), meta.size()] {
            hasher.update(&field.to_le_bytes());
        }
        hasher.update(&mtime.to_le_bytes()).update(&ctime.to_le_bytes());
        if meta.is_dir() {
            let mut children: Vec<(std::ffi::OsString, std::fs::Metadata)> = Vec::new();
            for child in std::fs::read_dir(path).ok()? {
                let child = child.ok()?;
                children.push((child.file_name(), child.metadata().ok()?));
            }
            children.sort_by(|a, b| a.0.cmp(&b.0));
            hasher.update(&(children.len() as u64).to_le_bytes());
            for (name, meta) in children {
                use std::os::unix::ffi::OsStrExt;
                let mut child_relative = relative.to_vec();
                child_relative.push(b'/');
                child_relative.extend_from_slice(name.as_bytes());
                entry(hasher, &path.join(&name), &child_relative, &meta, trusted_before)?;
            }
        }
        Some(())
    }
    let meta = std::fs::symlink_metadata(path).ok()?;
    let mut hasher = blake3::Hasher::new_derive_key("imgx evaluation cache tree fingerprint v1");
    entry(&mut hasher, path, b"", &meta, trusted_before)?;
    Some(hasher.finalize().to_hex().to_string())
}

/// What re-checking an observation found.
enum Check {
    /// It holds, by its metadata or because it needs none.
    Holds,
    /// It holds, but only the content's hash showed it (the metadata
    /// changed: a `touch`, a `chmod`, a checkout): this is the observation
    /// with the current metadata, so the next check is quick again.
    Refreshed(Observation),
    /// It no longer holds.
    Changed,
}

/// A cached evaluation result.
pub struct Cached {
    /// The requested steps.
    pub targets: Vec<StepKey>,
    /// Every step, by input key.
    pub steps: BTreeMap<StepKey, Step>,
}

/// Looks the request up; returns the result if every observation still holds.
pub fn lookup(store: &Store, request_key: &str) -> Option<Cached> {
    let entry = store.eval_cache(request_key).ok()??;
    let (inputs, result) = (entry.inputs, entry.result);
    let mut observations: Vec<Json> = serde_json::from_str(&inputs).ok()?;
    let mut refreshed = false;
    for observation in &mut observations {
        match Observation::from_json(observation)?.check() {
            Check::Holds => {}
            Check::Refreshed(current) => {
                let current = current.to_json();
                // Rewritten only when it says something new, so that a
                // lookup of an unchanged entry writes nothing.
                if current != *observation {
                    *observation = current;
                    refreshed = true;
                }
            }
            Check::Changed => return None,
        }
    }
    if refreshed {
        let _ = store.put_eval_cache(request_key, &Json::Array(observations).to_string(), &result);
    }
    let result: Json = serde_json::from_str(&result).ok()?;
    let targets =
        result["targets"].as_array()?.iter().map(|t| StepKey::from_hex(t.as_str()?)).collect::<Option<_>>()?;
    let mut steps = BTreeMap::new();
    for (key, serialisation) in result["steps"].as_object()? {
        steps.insert(StepKey::from_hex(key)?, Step::parse(serialisation.as_str()?)?);
    }
    Some(Cached { targets, steps })
}

/// Stores an evaluation's result (its targets and their closure) with
/// what it observed.
pub fn store_result(
    store: &Store,
    request_key: &str,
    observations: &[Observation],
    targets: &[StepKey],
    steps: &BTreeMap<StepKey, Step>,
) {
    let closure: serde_json::Map<String, Json> =
        steps.iter().map(|(key, step)| (key.to_hex(), Json::String(step.serialise()))).collect();
    let mut unique: Vec<Json> = Vec::new();
    for observation in observations {
        let value = observation.to_json();
        if !unique.contains(&value) {
            unique.push(value);
        }
    }
    let result = json!({
        "targets": targets.iter().map(|t| t.to_hex()).collect::<Vec<_>>(),
        "steps": Json::Object(closure),
    });
    let _ = store.put_eval_cache(request_key, &Json::Array(unique).to_string(), &result.to_string());
}

/// The key of a request: everything besides the observations that decides
/// an evaluation's result.
pub fn request_key(parts: &[&str]) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("imgx evaluation cache v1");
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes()).update(&[0]);
    for (_, text) in crate::stdlib::FILES {
        hasher.update(blake3::hash(text.as_bytes()).as_bytes());
    }
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes()).update(part.as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tree(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("imgx-fingerprint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc/deep")).expect("mkdir");
        std::fs::write(dir.join("etc/deep/file"), b"one").expect("write");
        std::fs::write(dir.join("top"), b"top").expect("write");
        std::os::unix::fs::symlink("top", dir.join("link")).expect("symlink");
        dir
    }

    fn settle() {
        std::thread::sleep(std::time::Duration::from_nanos(RECENT_NS as u64 + 20_000_000));
    }

    #[test]
    fn a_tree_changed_just_now_gets_no_fingerprint() {
        let dir = tree("recent");
        assert_eq!(fingerprint(&dir), None);
        settle();
        assert!(fingerprint(&dir).is_some());
        std::fs::write(dir.join("etc/deep/file"), b"two").expect("write");
        assert_eq!(fingerprint(&dir), None, "a file inside was just written");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn any_change_inside_a_tree_changes_its_fingerprint() {
        let dir = tree("changes");
        settle();
        let mut seen = vec![fingerprint(&dir).expect("a settled tree has a fingerprint")];
        assert_eq!(walk_fingerprint(&dir, None), seen[0].clone().into(), "stable while nothing changes");
        let changes: Vec<Box<dyn Fn()>> = vec![
            // Same length, deep inside.
            Box::new(|| std::fs::write(dir.join("etc/deep/file"), b"two").expect("write")),
            Box::new(|| {
                std::fs::set_permissions(dir.join("top"), std::fs::Permissions::from_mode(0o700)).expect("chmod")
            }),
            Box::new(|| std::fs::write(dir.join("etc/new"), b"").expect("write")),
            Box::new(|| std::fs::rename(dir.join("etc/new"), dir.join("etc/renamed")).expect("rename")),
            Box::new(|| {
                std::fs::remove_file(dir.join("link")).expect("rm");
                std::os::unix::fs::symlink("etc", dir.join("link")).expect("symlink");
            }),
        ];
        for change in changes {
            change();
            let now = walk_fingerprint(&dir, None).expect("readable");
            assert!(!seen.contains(&now), "a change left the fingerprint as it was");
            seen.push(now);
        }
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
