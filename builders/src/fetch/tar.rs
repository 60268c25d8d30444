//! Unpacking tar archives into a directory object without privileges:
//! ownership, modes, extended attributes and special files are kept as
//! data in `.imgx-attributes` (see the [module documentation](super)),
//! never applied to the host's files.

use crate::builder::BuildError;
use imgx_lang::hash_format::to_base64;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use crate::ATTRIBUTES_FILE;

/// What an entry is, when that is not told by the file on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Special {
    /// A regular file, directory or symbolic link, present on disk as such.
    None,
    /// A character device, recorded only.
    Char(u64),
    /// A block device, recorded only.
    Block(u64),
    /// A FIFO, recorded only.
    Fifo,
    /// A hard link to another entry (the file on disk is a link to it).
    Hardlink(String),
}

/// One line of `.imgx-attributes`: the real metadata of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// The owner.
    pub uid: u64,
    /// The group.
    pub gid: u64,
    /// The permission bits, with set-user-ID, set-group-ID and sticky.
    pub mode: u32,
    /// Extended attributes, by name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Whether the entry is a special file or a hard link.
    pub special: Special,
}

impl Attributes {
    /// The JSON line for the entry at `path`.
    fn json_line(&self, path: &str) -> String {
        let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        let mut line = format!("{{\"path\":{}", quote(path));
        match &self.special {
            Special::None => {}
            Special::Char(rdev) => line.push_str(&format!(",\"type\":\"char\",\"rdev\":{rdev}")),
            Special::Block(rdev) => line.push_str(&format!(",\"type\":\"block\",\"rdev\":{rdev}")),
            Special::Fifo => line.push_str(",\"type\":\"fifo\""),
            Special::Hardlink(target) => line.push_str(&format!(",\"type\":\"hardlink\",\"target\":{}", quote(target))),
        }
        line.push_str(&format!(",\"uid\":{},\"gid\":{},\"mode\":{}", self.uid, self.gid, self.mode));
        if !self.xattrs.is_empty() {
            let pairs: Vec<String> = self
                .xattrs
                .iter()
                .map(|(name, value)| format!("{}:{}", quote(name), quote(&to_base64(value))))
                .collect();
            line.push_str(&format!(",\"xattrs\":{{{}}}", pairs.join(",")));
        }
        line.push('}');
        line
    }
}

/// The attributes of a directory created only because an entry lies in it.
fn implicit_directory() -> Attributes {
    Attributes { uid: 0, gid: 0, mode: 0o755, xattrs: BTreeMap::new(), special: Special::None }
}

/// Linux's `makedev`.
pub fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}

/// A directory being filled from archives, with the attributes of its entries.
pub struct Tree {
    root: PathBuf,
    records: BTreeMap<String, Attributes>,
    /// Paths the current layer created (for opaque whiteouts).
    layer: BTreeSet<String>,
    /// How many entries were applied.
    pub entries: u64,
}

/// Turns an archive entry's path into a relative path of normal
/// components, refusing absolute paths and `..`. `None` for the top.
pub fn normalise(raw: &[u8]) -> Result<Option<String>, String> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| format!("archive entry '{}' has a name that is not UTF-8", String::from_utf8_lossy(raw)))?;
    if text.starts_with('/') {
        return Err(format!("archive entry '{text}' has an absolute path; imgx refuses it (path traversal)"));
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("archive entry '{text}' contains '..'; imgx refuses it (path traversal)")),
            normal => parts.push(normal),
        }
    }
    Ok(if parts.is_empty() { None } else { Some(parts.join("/")) })
}

/// Whether a path is `dir` itself or lies inside it.
fn within(path: &str, dir: &str) -> bool {
    path == dir || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

fn failed(message: String) -> BuildError {
    BuildError::Failed(message)
}

impl Tree {
    /// Creates the (empty) directory `root`.
    pub fn create(root: &Path) -> Result<Tree, BuildError> {
        fs::create_dir(root).map_err(|e| BuildError::io("creating", root, e))?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o755))
            .map_err(|e| BuildError::io("setting the mode of", root, e))?;
        Ok(Tree { root: root.to_path_buf(), records: BTreeMap::new(), layer: BTreeSet::new(), entries: 0 })
    }

    /// Starts a new layer (OCI): opaque whiteouts of the coming entries
    /// spare what this layer adds.
    pub fn begin_layer(&mut self) {
        self.layer.clear();
    }

    /// Applies every entry of a tar stream. With `whiteouts`, `.wh.NAME`
    /// entries delete `NAME` and `.wh..wh..opq` empties its directory of
    /// what earlier layers put there (OCI layers); without, they are files.
    pub fn apply<R: Read>(&mut self, reader: R, whiteouts: bool) -> Result<(), BuildError> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| failed(format!("reading the tar archive: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| failed(format!("reading the tar archive: {e}")))?;
            self.apply_entry(entry, whiteouts)?;
        }
        Ok(())
    }

    fn apply_entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>, whiteouts: bool) -> Result<(), BuildError> {
        use tar::EntryType;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader) {
            return Ok(());
        }
        let Some(path) = normalise(&entry.path_bytes()).map_err(failed)? else {
            // The top directory itself ("./"): the output's top.
            return Ok(());
        };
        if path == ATTRIBUTES_FILE {
            return Err(failed(format!("the archive contains '{ATTRIBUTES_FILE}', a name imgx reserves")));
        }
        let name = path.rsplit('/').next().unwrap_or(&path);
        if whiteouts && let Some(hidden) = name.strip_prefix(".wh.") {
            let parent = path.rfind('/').map(|cut| &path[..cut]).unwrap_or("");
            self.prepare_parent(&path)?;
            if hidden == ".wh..opq" {
                self.opaque(parent)?;
            } else if !hidden.starts_with(".wh.") {
                let victim = if parent.is_empty() { hidden.to_string() } else { format!("{parent}/{hidden}") };
                self.remove(&victim)?;
            }
            self.entries += 1;
            return Ok(());
        }
        let header = entry.header();
        let mut attributes = Attributes {
            uid: header.uid().map_err(|e| failed(format!("archive entry '{path}': {e}")))?,
            gid: header.gid().map_err(|e| failed(format!("archive entry '{path}': {e}")))?,
            mode: header.mode().map_err(|e| failed(format!("archive entry '{path}': {e}")))? & 0o7777,
            xattrs: BTreeMap::new(),
            special: Special::None,
        };
        let device = (header.device_major().ok().flatten(), header.device_minor().ok().flatten());
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        if let Some(extensions) = entry.pax_extensions().map_err(|e| failed(format!("archive entry '{path}': {e}")))? {
            for extension in extensions {
                let extension = extension.map_err(|e| failed(format!("archive entry '{path}': {e}")))?;
                let Ok(key) = extension.key() else { continue };
                let number = || extension.value().ok().and_then(|v| v.parse::<u64>().ok());
                if let Some(xattr) = key.strip_prefix("SCHILY.xattr.") {
                    attributes.xattrs.insert(xattr.to_string(), extension.value_bytes().to_vec());
                } else if key == "uid" {
                    attributes.uid = number().unwrap_or(attributes.uid);
                } else if key == "gid" {
                    attributes.gid = number().unwrap_or(attributes.gid);
                }
            }
        }
        self.prepare_parent(&path)?;
        let target = self.root.join(&path);
        match kind {
            EntryType::Directory => match fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    self.remove(&path)?;
                    make_dir(&target)?;
                }
                Err(_) => make_dir(&target)?,
            },
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.remove(&path)?;
                let host_mode = if attributes.mode & 0o111 != 0 { 0o755 } else { 0o644 };
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(host_mode)
                    .open(&target)
                    .map_err(|e| BuildError::io("creating", &target, e))?;
                std::io::copy(&mut entry, &mut file)
                    .map_err(|e| failed(format!("unpacking archive entry '{path}': {e}")))?;
                file.flush().map_err(|e| BuildError::io("writing", &target, e))?;
            }
            EntryType::Symlink => {
                let link = link.ok_or_else(|| failed(format!("symbolic link '{path}' has no target")))?;
                self.remove(&path)?;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&link), &target)
                    .map_err(|e| BuildError::io("creating the symbolic link", &target, e))?;
            }
            EntryType::Link => {
                let link = link.ok_or_else(|| failed(format!("hard link '{path}' has no target")))?;
                let Some(to) = normalise(&link).map_err(failed)? else {
                    return Err(failed(format!("hard link '{path}' points at the top directory")));
                };
                if to == path {
                    return Ok(());
                }
                self.check_no_symlink_ancestor(&to)?;
                let source = self.root.join(&to);
                match fs::symlink_metadata(&source) {
                    Ok(meta) if meta.is_file() => {}
                    _ => {
                        return Err(failed(format!(
                            "hard link '{path}' points at '{to}', which is no file in the tree"
                        )));
                    }
                }
                self.remove(&path)?;
                if fs::hard_link(&source, &target).is_err() {
                    fs::copy(&source, &target).map_err(|e| BuildError::io("copying into", &target, e))?;
                }
                let linked = self.records.get(&to).cloned();
                if let Some(linked) = linked {
                    attributes = Attributes { special: Special::None, ..linked };
                }
                attributes.special = Special::Hardlink(to);
            }
            EntryType::Char | EntryType::Block => {
                self.remove(&path)?;
                let rdev = makedev(u64::from(device.0.unwrap_or(0)), u64::from(device.1.unwrap_or(0)));
                attributes.special =
                    if matches!(kind, EntryType::Char) { Special::Char(rdev) } else { Special::Block(rdev) };
            }
            EntryType::Fifo => {
                self.remove(&path)?;
                attributes.special = Special::Fifo;
            }
            other => {
                return Err(failed(format!("archive entry '{path}' has a type imgx does not unpack ({other:?})")));
            }
        }
        self.layer.insert(path.clone());
        self.records.insert(path, attributes);
        self.entries += 1;
        Ok(())
    }

    /// Refuses a path that lies under a symbolic link of the tree, which
    /// would let an archive write outside the output.
    fn check_no_symlink_ancestor(&self, path: &str) -> Result<(), BuildError> {
        let mut at = self.root.clone();
        let mut walked = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            at.push(part);
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            if let Ok(meta) = fs::symlink_metadata(&at)
                && meta.file_type().is_symlink()
            {
                return Err(failed(format!(
                    "archive entry '{path}' lies under the symbolic link '{walked}'; imgx refuses it (path traversal)"
                )));
            }
        }
        Ok(())
    }

    /// Makes sure every directory above `path` exists (creating and
    /// recording missing ones) and none is a symbolic link.
    fn prepare_parent(&mut self, path: &str) -> Result<(), BuildError> {
        self.check_no_symlink_ancestor(path)?;
        let parts: Vec<&str> = path.split('/').collect();
        let mut walked = String::new();
        for part in &parts[..parts.len() - 1] {
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            let at = self.root.join(&walked);
            match fs::symlink_metadata(&at) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(failed(format!(
                        "archive entry '{path}' lies under '{walked}', which is not a directory"
                    )));
                }
                Err(_) => {
                    make_dir(&at)?;
                    self.records.entry(walked.clone()).or_insert_with(implicit_directory);
                }
            }
        }
        Ok(())
    }

    /// Removes an entry and everything under it, files and records.
    fn remove(&mut self, path: &str) -> Result<(), BuildError> {
        let at = self.root.join(path);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&at).map_err(|e| BuildError::io("removing", &at, e))?,
            Ok(_) => fs::remove_file(&at).map_err(|e| BuildError::io("removing", &at, e))?,
            Err(_) => {}
        }
        let doomed: Vec<String> = self
            .records
            .range(path.to_string()..)
            .take_while(|(p, _)| p.starts_with(path))
            .map(|(p, _)| p.clone())
            .collect();
        for victim in doomed {
            if within(&victim, path) {
                self.records.remove(&victim);
            }
        }
        Ok(())
    }

    /// An opaque whiteout: removes what earlier layers put in `dir`.
    fn opaque(&mut self, dir: &str) -> Result<(), BuildError> {
        let at = if dir.is_empty() { self.root.clone() } else { self.root.join(dir) };
        let Ok(listing) = fs::read_dir(&at) else { return Ok(()) };
        let mut names = Vec::new();
        for entry in listing {
            let entry = entry.map_err(|e| BuildError::io("listing", &at, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        for name in names {
            let child = if dir.is_empty() { name } else { format!("{dir}/{name}") };
            if child == ATTRIBUTES_FILE || self.layer.contains(&child) {
                continue;
            }
            // Keep what this layer already put below the child.
            let added_below = self.layer.range(format!("{child}/")..).next().is_some_and(|p| within(p, &child));
            if added_below {
                self.opaque(&child)?;
            } else {
                self.remove(&child)?;
            }
        }
        Ok(())
    }

    /// Writes `.imgx-attributes` (unless the tree is empty of entries).
    pub fn finish(self) -> Result<(), BuildError> {
        let path = self.root.join(ATTRIBUTES_FILE);
        let mut text = String::new();
        for (entry, attributes) in &self.records {
            text.push_str(&attributes.json_line(entry));
            text.push('\n');
        }
        fs::write(&path, text).map_err(|e| BuildError::io("writing", &path, e))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
            .map_err(|e| BuildError::io("setting the mode of", &path, e))
    }
}

/// Creates a directory the unprivileged builder can write into.
fn make_dir(path: &Path) -> Result<(), BuildError> {
    fs::create_dir(path).map_err(|e| BuildError::io("creating", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| BuildError::io("setting the mode of", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_traversal_refused() {
        assert_eq!(normalise(b"./etc/passwd"), Ok(Some("etc/passwd".into())));
        assert_eq!(normalise(b"etc//x/"), Ok(Some("etc/x".into())));
        assert_eq!(normalise(b"./"), Ok(None));
        assert!(normalise(b"../evil").unwrap_err().contains("path traversal"));
        assert!(normalise(b"a/../../evil").is_err());
        assert!(normalise(b"/etc/passwd").unwrap_err().contains("absolute"));
    }

    #[test]
    fn attribute_lines() {
        let mut xattrs = BTreeMap::new();
        xattrs.insert("user.x".to_string(), b"hi".to_vec());
        let line = Attributes { uid: 1000, gid: 42, mode: 0o4755, xattrs, special: Special::None }.json_line("bin/su");
        assert_eq!(line, r#"{"path":"bin/su","uid":1000,"gid":42,"mode":2541,"xattrs":{"user.x":"aGk="}}"#);
        let device =
            Attributes { uid: 0, gid: 0, mode: 0o666, xattrs: BTreeMap::new(), special: Special::Char(makedev(1, 3)) };
        assert_eq!(
            device.json_line("dev/null"),
            r#"{"path":"dev/null","type":"char","rdev":259,"uid":0,"gid":0,"mode":438}"#
        );
        assert!(within("a/b", "a") && within("a", "a") && !within("ab", "a"));
    }
}
