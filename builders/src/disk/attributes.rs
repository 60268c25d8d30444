//! What goes into a file system: a directory object read with its
//! `.imgx-attributes`, plus the files imgx generates (`/etc/fstab`).
//!
//! # The `.imgx-attributes` convention
//!
//! A directory object cannot carry owners, most mode bits, extended
//! attributes or device nodes: the store keeps only the owner execute bit,
//! and an unprivileged builder cannot create devices or give files away.
//! So a builder that knows the real metadata (an unpacked tarball or OCI
//! image) writes it as data, in a file `.imgx-attributes` at the top of the
//! object: JSON lines, sorted by path, one per entry it describes:
//!
//! ```text
//! {"path":"etc/shadow","uid":0,"gid":42,"mode":416,"xattrs":{"user.x":"<base64>"}}
//! {"path":"dev/null","type":"char","rdev":259,"uid":0,"gid":0,"mode":438}
//! {"path":"usr/bin/perl5.36","type":"hardlink","target":"usr/bin/perl","uid":0,"gid":0,"mode":493}
//! ```
//!
//! * `mode` is the permission bits, with set-user-ID, set-group-ID and
//!   sticky (higher bits, if present, are ignored); `uid`/`gid` default to 0.
//! * `"type":"char"|"block"|"fifo"` (with `rdev`, Linux's `dev_t` encoding,
//!   for devices) describes a special file that is recorded but not
//!   present in the object; the parent directory must be.
//! * `"type":"hardlink","target":…` makes `path` a hard link to `target`
//!   (a regular file); a file present at `path` is replaced by the link.
//! * Other types (`file`, `dir`, `symlink`) are accepted and ignored.
//!
//! The file itself is never copied into an image.
//!
//! # Entries nobody describes
//!
//! They belong to root (0:0), with the modes the store can vouch for:
//! directories 0755, regular files 0755 if their owner execute bit is set
//! (the only mode bit a store object keeps) and 0644 otherwise, symbolic
//! links 0777. The store's read-only 0444/0555 is an artefact of storage,
//! not a mode anyone chose.

use crate::builder::BuildError;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub use crate::ATTRIBUTES_FILE;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file of this many bytes.
    File(u64),
    /// A symbolic link with this target.
    Symlink(String),
    /// A character device (`dev_t`).
    Char(u64),
    /// A block device (`dev_t`).
    Block(u64),
    /// A named pipe.
    Fifo,
    /// A hard link to the regular file at this path.
    Hardlink(String),
}

/// Where an entry's bytes come from, for the file-system writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Present in the directory object; a bulk copy (`mkfs.ext4 -d`) puts it in.
    Tree,
    /// Present in the directory object but replaced (by a generated file
    /// or a hard link): a bulk copy puts the old one in, which must go.
    Replaced,
    /// Not in the directory object: each writer creates it.
    Added,
}

/// One entry of a file system to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative path with `/` separators; `""` is the top directory.
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Extended attributes to set, by name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Extended attributes the host file has (a bulk copy copies them).
    pub host_xattrs: Vec<String>,
    /// The file on the host, for directories, files and symlinks.
    pub host: Option<PathBuf>,
    /// Where it comes from.
    pub origin: Origin,
}

impl Entry {
    /// The entry's name in its directory.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }

    /// The path of its directory (`""` for the top).
    pub fn parent(&self) -> &str {
        self.path.rfind('/').map(|cut| &self.path[..cut]).unwrap_or("")
    }

    /// The absolute path inside the file system.
    pub fn absolute(&self) -> String {
        format!("/{}", self.path)
    }

    /// The file-type bits of `st_mode` for the entry.
    pub fn type_bits(&self) -> u32 {
        match self.kind {
            Kind::Dir => 0o040000,
            Kind::File(_) | Kind::Hardlink(_) => 0o100000,
            Kind::Symlink(_) => 0o120000,
            Kind::Char(_) => 0o020000,
            Kind::Block(_) => 0o060000,
            Kind::Fifo => 0o010000,
        }
    }
}

/// Linux's `major()` of a `dev_t`.
pub fn major(rdev: u64) -> u64 {
    ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)
}

/// Linux's `minor()` of a `dev_t`.
pub fn minor(rdev: u64) -> u64 {
    (rdev & 0xff) | ((rdev >> 12) & !0xff)
}

/// The entries of one file system, sorted by path (the top first).
#[derive(Debug, Default)]
pub struct Tree {
    /// The entries, sorted by path bytes.
    pub entries: Vec<Entry>,
    /// Whether the object has an `.imgx-attributes` file (which a bulk
    /// copy copies, and which must then be removed).
    pub has_attributes_file: bool,
    /// The extended attributes the host's `.imgx-attributes` has.
    pub attributes_xattrs: Vec<String>,
}

fn failed(message: String) -> BuildError {
    BuildError::Failed(message)
}

/// Whether a file or directory name can be written into a file system by
/// the tools imgx drives (debugfs command files, XFS protofiles).
fn check_name(path: &str) -> Result<(), String> {
    if path.contains('\n') || path.contains('\r') {
        return Err(format!(
            "'{}' has a line break in its name, which imgx cannot write into a file system",
            path.escape_debug()
        ));
    }
    Ok(())
}

/// Fails when `tree` needs more than `len` bytes of 4 KiB blocks: the
/// error every file system's maker gives, naming the partition (`what`),
/// before or instead of the tool's own. Returns the tree's usage (bytes
/// and entries) for the messages that follow.
pub fn check_fits(what: &str, tree: &Tree, len: u64) -> Result<(u64, u64), BuildError> {
    let (bytes, count) = tree.usage(4096);
    if bytes > len {
        return Err(failed(format!(
            "{what}: the contents ({} in {count} entries) do not fit in its {}",
            super::layout::human(bytes),
            super::layout::human(len)
        )));
    }
    Ok((bytes, count))
}

/// Extended attribute names of a host file (not following symlinks).
#[allow(unsafe_code)]
fn host_xattr_names(path: &Path) -> Vec<String> {
    use std::ffi::CString;
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else { return Vec::new() };
    let mut buffer = vec![0u8; 4096];
    loop {
        // SAFETY: the path is NUL-terminated and the buffer is valid for
        // `buffer.len()` bytes.
        let n = unsafe { libc::llistxattr(c_path.as_ptr(), buffer.as_mut_ptr().cast(), buffer.len()) };
        if n >= 0 {
            buffer.truncate(n as usize);
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) && buffer.len() < 1 << 20 {
            buffer.resize(buffer.len() * 4, 0);
            continue;
        }
        return Vec::new();
    }
    buffer
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

/// Decodes standard base64 (with or without padding).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 || trimmed.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// The default permission bits of an entry nobody describes.
fn default_mode(kind: &Kind, host_mode: u32) -> u32 {
    match kind {
        Kind::Dir => 0o755,
        Kind::File(_) | Kind::Hardlink(_) if host_mode & 0o100 != 0 => 0o755,
        Kind::Symlink(_) => 0o777,
        _ => 0o644,
    }
}

impl Tree {
    /// A file system with nothing in it but its top directory.
    pub fn empty() -> Tree {
        Tree {
            entries: vec![Entry {
                path: String::new(),
                kind: Kind::Dir,
                uid: 0,
                gid: 0,
                mode: 0o755,
                xattrs: BTreeMap::new(),
                host_xattrs: Vec::new(),
                host: None,
                origin: Origin::Added,
            }],
            has_attributes_file: false,
            attributes_xattrs: Vec::new(),
        }
    }

    /// Reads a directory object and its `.imgx-attributes`.
    pub fn read(root: &Path) -> Result<Tree, BuildError> {
        let meta = fs::metadata(root).map_err(|e| BuildError::io("reading", root, e))?;
        if !meta.is_dir() {
            return Err(failed(format!("'contents' must be a directory, but {} is not one", root.display())));
        }
        let mut tree = Tree { entries: Vec::new(), has_attributes_file: false, attributes_xattrs: Vec::new() };
        tree.entries.push(Entry {
            path: String::new(),
            kind: Kind::Dir,
            uid: 0,
            gid: 0,
            mode: 0o755,
            xattrs: BTreeMap::new(),
            host_xattrs: host_xattr_names(root),
            host: Some(root.to_path_buf()),
            origin: Origin::Tree,
        });
        tree.walk(root, "")?;
        let attributes = root.join(ATTRIBUTES_FILE);
        if fs::symlink_metadata(&attributes).is_ok_and(|m| m.is_file()) {
            tree.has_attributes_file = true;
            tree.attributes_xattrs = host_xattr_names(&attributes);
            let text = fs::read_to_string(&attributes).map_err(|e| BuildError::io("reading", &attributes, e))?;
            tree.apply_attributes(&text)?;
        }
        tree.entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Ok(tree)
    }

    fn walk(&mut self, dir: &Path, prefix: &str) -> Result<(), BuildError> {
        let mut names: Vec<(Vec<u8>, PathBuf)> = Vec::new();
        for item in fs::read_dir(dir).map_err(|e| BuildError::io("listing", dir, e))? {
            let item = item.map_err(|e| BuildError::io("listing", dir, e))?;
            names.push((item.file_name().as_bytes().to_vec(), item.path()));
        }
        names.sort();
        for (name, host) in names {
            let name = String::from_utf8(name).map_err(|e| {
                failed(format!("'{}' has a name that is not UTF-8", String::from_utf8_lossy(e.as_bytes())))
            })?;
            if prefix.is_empty() && name == ATTRIBUTES_FILE {
                continue;
            }
            let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            check_name(&path).map_err(failed)?;
            let meta = fs::symlink_metadata(&host).map_err(|e| BuildError::io("reading", &host, e))?;
            let file_type = meta.file_type();
            let kind = if file_type.is_dir() {
                Kind::Dir
            } else if file_type.is_file() {
                Kind::File(meta.len())
            } else if file_type.is_symlink() {
                let target = fs::read_link(&host).map_err(|e| BuildError::io("reading", &host, e))?;
                let target = target
                    .to_str()
                    .ok_or_else(|| failed(format!("the symbolic link '{path}' has a target that is not UTF-8")))?
                    .to_string();
                Kind::Symlink(target)
            } else if file_type.is_char_device() {
                Kind::Char(meta.rdev())
            } else if file_type.is_block_device() {
                Kind::Block(meta.rdev())
            } else if file_type.is_fifo() {
                Kind::Fifo
            } else {
                return Err(failed(format!("'{path}' is a socket, which no file system image can hold")));
            };
            let mode = default_mode(&kind, meta.mode());
            let is_dir = kind == Kind::Dir;
            self.entries.push(Entry {
                path: path.clone(),
                kind,
                uid: 0,
                gid: 0,
                mode,
                xattrs: BTreeMap::new(),
                host_xattrs: host_xattr_names(&host),
                host: Some(host.clone()),
                origin: Origin::Tree,
            });
            if is_dir {
                self.walk(&host, &path)?;
            }
        }
        Ok(())
    }

    fn index_of(&self, path: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.path == path)
    }

    /// The entry at a path.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.index_of(path).map(|i| &self.entries[i])
    }

    fn apply_attributes(&mut self, text: &str) -> Result<(), BuildError> {
        let mut index: BTreeMap<String, usize> =
            self.entries.iter().enumerate().map(|(i, e)| (e.path.clone(), i)).collect();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |message: String| failed(format!("{ATTRIBUTES_FILE}, line {}: {message}", number + 1));
            let record: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
            let raw_path = record.get("path").and_then(|p| p.as_str()).ok_or_else(|| bad("no \"path\"".into()))?;
            let path = normalise(raw_path).map_err(bad)?;
            check_name(&path).map_err(bad)?;
            let number_field = |name: &str| -> Result<Option<u64>, BuildError> {
                match record.get(name) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(value) => value
                        .as_u64()
                        .map(Some)
                        .ok_or_else(|| bad(format!("\"{name}\" must be a non-negative integer"))),
                }
            };
            let id = |name: &str| -> Result<u32, BuildError> {
                let value = number_field(name)?.unwrap_or(0);
                u32::try_from(value).map_err(|_| bad(format!("\"{name}\" {value} does not fit in 32 bits")))
            };
            let uid = id("uid")?;
            let gid = id("gid")?;
            let mode = number_field("mode")?.map(|m| (m & 0o7777) as u32);
            let mut xattrs = BTreeMap::new();
            if let Some(map) = record.get("xattrs") {
                let map = map.as_object().ok_or_else(|| bad("\"xattrs\" must be an object".into()))?;
                for (name, value) in map {
                    let decoded = value
                        .as_str()
                        .and_then(decode_base64)
                        .ok_or_else(|| bad(format!("xattr '{name}' is not a base64 string")))?;
                    xattrs.insert(name.clone(), decoded);
                }
            }
            let kind = match record.get("type").and_then(|t| t.as_str()) {
                None | Some("file" | "regular" | "dir" | "directory" | "symlink") => None,
                Some("char") => {
                    Some(Kind::Char(number_field("rdev")?.ok_or_else(|| bad("a device needs \"rdev\"".into()))?))
                }
                Some("block") => {
                    Some(Kind::Block(number_field("rdev")?.ok_or_else(|| bad("a device needs \"rdev\"".into()))?))
                }
                Some("fifo") => Some(Kind::Fifo),
                Some("hardlink") => {
                    let target = record
                        .get("target")
                        .and_then(|t| t.as_str())
                        .ok_or_else(|| bad("a hard link needs a \"target\"".into()))?;
                    Some(Kind::Hardlink(normalise(target).map_err(bad)?))
                }
                Some(other) => return Err(bad(format!("unknown \"type\" '{other}'"))),
            };
            if path.is_empty() && kind.is_some() {
                return Err(bad("the top directory cannot be a special file or a hard link".into()));
            }
            match (index.get(&path).copied(), kind) {
                (Some(i), None) => {
                    let entry = &mut self.entries[i];
                    entry.uid = uid;
                    entry.gid = gid;
                    if let Some(mode) = mode {
                        entry.mode = mode;
                    }
                    entry.xattrs = xattrs;
                }
                (None, None) => {
                    return Err(bad(format!("'{path}' is described but is not in the directory")));
                }
                (existing, Some(kind)) => {
                    let parent = path.rfind('/').map(|cut| &path[..cut]).unwrap_or("");
                    if !index.get(parent).is_some_and(|&p| self.entries[p].kind == Kind::Dir) {
                        return Err(bad(format!("the directory of '{path}' is not in the directory object")));
                    }
                    let (host, host_xattrs, origin) = match existing {
                        Some(i) => {
                            let old = &self.entries[i];
                            if matches!(kind, Kind::Hardlink(_)) && !matches!(old.kind, Kind::File(_)) {
                                return Err(bad(format!(
                                    "'{path}' is a hard link but not a regular file in the directory"
                                )));
                            }
                            if !matches!(kind, Kind::Hardlink(_)) && old.kind == Kind::Dir {
                                return Err(bad(format!("'{path}' is a directory, not a special file")));
                            }
                            (old.host.clone(), old.host_xattrs.clone(), Origin::Replaced)
                        }
                        None => (None, Vec::new(), Origin::Added),
                    };
                    let mode = mode.unwrap_or_else(|| default_mode(&kind, 0));
                    let entry = Entry { path: path.clone(), kind, uid, gid, mode, xattrs, host_xattrs, host, origin };
                    match existing {
                        Some(i) => self.entries[i] = entry,
                        None => {
                            index.insert(path, self.entries.len());
                            self.entries.push(entry);
                        }
                    }
                }
            }
        }
        // Hard links must point at regular files.
        for entry in &self.entries {
            if let Kind::Hardlink(target) = &entry.kind
                && !index.get(target).is_some_and(|&t| matches!(self.entries[t].kind, Kind::File(_)))
            {
                return Err(failed(format!(
                    "{ATTRIBUTES_FILE}: '{}' is a hard link to '{target}', which is not a regular file in the directory",
                    entry.path
                )));
            }
        }
        Ok(())
    }

    /// Puts a generated file at `path` (replacing one from the object),
    /// root-owned, mode 0644, creating missing directories (0755).
    pub fn add_file(&mut self, path: &str, host: &Path, size: u64) -> Result<(), BuildError> {
        let mut parent = String::new();
        for part in path.split('/').collect::<Vec<_>>().split_last().map(|(_, dirs)| dirs.to_vec()).unwrap_or_default()
        {
            parent = if parent.is_empty() { part.to_string() } else { format!("{parent}/{part}") };
            match self.get(&parent) {
                Some(entry) if entry.kind == Kind::Dir => {}
                Some(_) => {
                    return Err(failed(format!("cannot write /{path}: /{parent} in the contents is not a directory")));
                }
                None => self.insert(Entry {
                    path: parent.clone(),
                    kind: Kind::Dir,
                    uid: 0,
                    gid: 0,
                    mode: 0o755,
                    xattrs: BTreeMap::new(),
                    host_xattrs: Vec::new(),
                    host: None,
                    origin: Origin::Added,
                }),
            }
        }
        let origin = match self.get(path) {
            None => Origin::Added,
            Some(entry) if matches!(entry.kind, Kind::File(_) | Kind::Symlink(_)) && entry.origin != Origin::Added => {
                Origin::Replaced
            }
            Some(entry) if entry.origin == Origin::Added => Origin::Added,
            Some(_) => return Err(failed(format!("cannot write /{path}: the contents have something else there"))),
        };
        if self.entries.iter().any(|e| e.kind == Kind::Hardlink(path.to_string())) {
            return Err(failed(format!("cannot replace /{path}: other entries are hard links to it")));
        }
        let entry = Entry {
            path: path.to_string(),
            kind: Kind::File(size),
            uid: 0,
            gid: 0,
            mode: 0o644,
            xattrs: BTreeMap::new(),
            host_xattrs: Vec::new(),
            host: Some(host.to_path_buf()),
            origin,
        };
        match self.index_of(path) {
            Some(i) => {
                // The bulk copy still brings the old file's xattrs; keep their names to strip.
                let old = std::mem::replace(&mut self.entries[i], entry);
                if origin == Origin::Replaced {
                    self.entries[i].host_xattrs = old.host_xattrs;
                }
            }
            None => self.insert(entry),
        }
        Ok(())
    }

    fn insert(&mut self, entry: Entry) {
        let at = self.entries.partition_point(|e| e.path.as_bytes() < entry.path.as_bytes());
        self.entries.insert(at, entry);
    }

    /// How many hard links point at each link target.
    pub fn link_counts(&self) -> BTreeMap<&str, u32> {
        let mut counts = BTreeMap::new();
        for entry in &self.entries {
            if let Kind::Hardlink(target) = &entry.kind {
                *counts.entry(target.as_str()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Bytes of file data and the number of entries: what the contents need
    /// at least, in `block`-sized blocks.
    pub fn usage(&self, block: u64) -> (u64, u64) {
        let mut bytes = 0;
        for entry in &self.entries {
            bytes += match &entry.kind {
                Kind::File(size) => size.div_ceil(block) * block,
                Kind::Dir => block,
                Kind::Symlink(target) if target.len() >= 60 => block,
                _ => 0,
            };
        }
        (bytes, self.entries.len() as u64)
    }
}

/// A path from `.imgx-attributes`, as a relative path of normal components.
fn normalise(raw: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("path '{raw}' contains '..'")),
            normal => parts.push(normal),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(decode_base64(""), Some(Vec::new()));
        assert_eq!(decode_base64("AQID"), Some(vec![1, 2, 3]));
        assert_eq!(decode_base64("A"), None);
        assert_eq!(decode_base64("a*=="), None);
    }

    #[test]
    fn device_numbers_split_like_linux() {
        // makedev(1, 3) and makedev(259, 70000).
        assert_eq!((major(259), minor(259)), (1, 3));
        let big = ((259 & 0xfff) << 8) | ((70000u64 & 0xffff_ff00) << 12) | (70000 & 0xff);
        assert_eq!((major(big), minor(big)), (259, 70000));
    }

    #[test]
    fn a_tree_reads_with_its_attributes() {
        let dir = std::env::temp_dir().join(format!("imgx-disk-attrs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc")).expect("mkdir");
        fs::create_dir_all(dir.join("dev")).expect("mkdir");
        fs::write(dir.join("etc/shadow"), "x").expect("write");
        fs::write(dir.join("etc/copy"), "x").expect("write");
        fs::write(
            dir.join(ATTRIBUTES_FILE),
            concat!(
                "{\"path\":\"dev/null\",\"type\":\"char\",\"rdev\":259,\"uid\":0,\"gid\":0,\"mode\":438}\n",
                "{\"path\":\"etc/copy\",\"type\":\"hardlink\",\"target\":\"etc/shadow\"}\n",
                "{\"path\":\"etc/shadow\",\"uid\":0,\"gid\":42,\"mode\":416,\"xattrs\":{\"user.a\":\"aGk=\"}}\n",
            ),
        )
        .expect("write");
        let tree = Tree::read(&dir).expect("reads");
        let paths: Vec<&str> = tree.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["", "dev", "dev/null", "etc", "etc/copy", "etc/shadow"]);
        let shadow = tree.get("etc/shadow").expect("shadow");
        assert_eq!((shadow.uid, shadow.gid, shadow.mode), (0, 42, 0o640));
        assert_eq!(shadow.xattrs.get("user.a"), Some(&b"hi".to_vec()));
        assert_eq!(tree.get("dev/null").expect("null").kind, Kind::Char(259));
        assert_eq!(tree.get("etc/copy").expect("copy").origin, Origin::Replaced);
        assert_eq!(tree.link_counts().get("etc/shadow"), Some(&1));
        assert!(tree.has_attributes_file);
        fs::write(dir.join(ATTRIBUTES_FILE), "{\"path\":\"etc/missing\",\"uid\":1}\n").expect("write");
        let error = Tree::read(&dir).expect_err("missing entry").to_string();
        assert!(error.contains("line 1") && error.contains("etc/missing"), "{error}");
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
