//! ext2/3/4 file systems, read without mounting through e2fsprogs:
//! `dumpe2fs -h` for the superblock, one `debugfs -f` session per
//! directory level for the listing, one for every inode's `stat` (times,
//! extended attributes, symlink targets) and one that `cat`s every regular
//! file (split by the sizes the listing gave). The file system is
//! addressed as `image?offset=N`, so no partition is copied out.

use super::{Aspect, Difference, ExplainError, bytes, run_tool, within};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Regular files up to this size are kept in memory for a text diff.
const KEEP_CONTENT: u64 = 256 * 1024;
/// File type bits of a mode.
const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// One file-system entry, by path.
#[derive(Debug, Default, Clone)]
struct Entry {
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    /// `ctime`, `atime`, `mtime`, `crtime` as debugfs prints them.
    times: BTreeMap<String, String>,
    xattrs: Vec<String>,
    link: Option<String>,
    /// A regular file's content hash and, when short, its bytes.
    content: Option<(blake3::Hash, Option<Vec<u8>>)>,
}

/// Runs one debugfs session over the file system at `spec`.
fn debugfs(spec: &str, commands: &str, work: &Path) -> Result<Vec<u8>, ExplainError> {
    let script = work.join("debugfs.commands");
    std::fs::write(&script, commands).map_err(|e| ExplainError::io("write", &script, e))?;
    run_tool("debugfs", Command::new("debugfs").arg("-f").arg(&script).arg(spec).env("TZ", "UTC"))
}

/// Splits a session's output at its `debugfs: COMMAND` echo lines.
fn sections(output: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(output);
    let mut found: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(command) = line.strip_prefix("debugfs: ") {
            found.push((command.to_string(), String::new()));
        } else if let Some((_, body)) = found.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    found
}

/// Every entry of the file system, by absolute path (`/` included).
fn list(spec: &str, work: &Path) -> Result<BTreeMap<String, Entry>, ExplainError> {
    let mut entries = BTreeMap::new();
    let mut level: Vec<(String, u64)> = vec![("/".to_string(), 2)];
    while !level.is_empty() {
        let commands: String = level.iter().map(|(_, ino)| format!("ls -p <{ino}>\n")).collect();
        let output = debugfs(spec, &commands, work)?;
        let by_ino: BTreeMap<String, String> = sections(&output).into_iter().collect();
        let mut next = Vec::new();
        for (dir, ino) in &level {
            let Some(body) = by_ino.get(&format!("ls -p <{ino}>")) else { continue };
            for line in body.lines() {
                // /inode/mode/uid/gid/name/size/
                let fields: Vec<&str> = line.split('/').collect();
                if fields.len() < 8 || !fields[0].is_empty() {
                    continue;
                }
                let name = fields[5..fields.len() - 2].join("/");
                let entry = Entry {
                    ino: fields[1].parse().unwrap_or(0),
                    mode: u32::from_str_radix(fields[2], 8).unwrap_or(0),
                    uid: fields[3].parse().unwrap_or(0),
                    gid: fields[4].parse().unwrap_or(0),
                    size: fields[fields.len() - 2].parse().unwrap_or(0),
                    ..Entry::default()
                };
                if name == "." && dir == "/" {
                    entries.insert("/".to_string(), entry);
                    continue;
                }
                if name == "." || name == ".." {
                    continue;
                }
                let path = if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") };
                if entry.mode & S_IFMT == S_IFDIR {
                    next.push((path.clone(), entry.ino));
                }
                entries.insert(path, entry);
            }
        }
        level = next;
    }
    Ok(entries)
}

/// Adds times, extended attributes and symlink targets from `stat`.
fn add_stats(spec: &str, entries: &mut BTreeMap<String, Entry>, work: &Path) -> Result<(), ExplainError> {
    let inodes: std::collections::BTreeSet<u64> = entries.values().map(|e| e.ino).collect();
    let commands: String = inodes.iter().map(|ino| format!("stat <{ino}>\n")).collect();
    let output = debugfs(spec, &commands, work)?;
    let by_ino: BTreeMap<String, String> = sections(&output).into_iter().collect();
    for entry in entries.values_mut() {
        let Some(body) = by_ino.get(&format!("stat <{}>", entry.ino)) else { continue };
        let mut in_xattrs = false;
        for line in body.lines() {
            let trimmed = line.trim_start();
            if in_xattrs {
                if line.starts_with("  ") {
                    entry.xattrs.push(trimmed.to_string());
                    continue;
                }
                in_xattrs = false;
            }
            if trimmed.starts_with("Extended attributes:") {
                in_xattrs = true;
            } else if let Some(target) = trimmed.strip_prefix("Fast link dest: ") {
                entry.link = Some(target.to_string());
            } else if let Some((name, value)) = trimmed.split_once(": ")
                && ["ctime", "atime", "mtime", "crtime", "dtime"].contains(&name)
            {
                entry.times.insert(name.to_string(), value.to_string());
            }
        }
    }
    Ok(())
}

/// Adds every regular file's content (and slow symlinks' targets), from one session of `cat`s whose
/// output is read as it comes (a root file system can hold gigabytes) and
/// cut by the sizes the listing gave: each file is hashed, and kept when
/// short.
fn add_contents(spec: &str, entries: &mut BTreeMap<String, Entry>, work: &Path) -> Result<(), ExplainError> {
    use std::io::{BufRead, Read};
    // Regular files, and symlinks whose target is not in the inode (a
    // "slow" symlink keeps it in a data block, as a file would).
    let read = |e: &Entry| e.mode & S_IFMT == S_IFREG || (e.mode & S_IFMT == S_IFLNK && e.link.is_none());
    let files: Vec<String> = entries.iter().filter(|(_, e)| read(e)).map(|(path, _)| path.clone()).collect();
    if files.is_empty() {
        return Ok(());
    }
    let commands: String =
        files.iter().filter_map(|path| entries.get(path)).map(|e| format!("cat <{}>\n", e.ino)).collect();
    let script = work.join("debugfs.cat");
    std::fs::write(&script, commands).map_err(|e| ExplainError::io("write", &script, e))?;
    let tool_error = |message: String| ExplainError::Tool { tool: "debugfs", message };
    let mut child = Command::new("debugfs")
        .arg("-f")
        .arg(&script)
        .arg(spec)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| tool_error(format!("cannot run it ({e})")))?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        return Err(tool_error("no output".into()));
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, stdout);
    let mut result = Ok(());
    let mut buffer = vec![0u8; 1 << 20];
    for path in &files {
        let Some(entry) = entries.get_mut(path) else { continue };
        let mut header = Vec::new();
        let expected = format!("debugfs: cat <{}>\n", entry.ino);
        if reader.read_until(b'\n', &mut header).is_err() || header != expected.as_bytes() {
            result = Err(tool_error(format!("its output for {path} was not understood")));
            break;
        }
        let mut hasher = blake3::Hasher::new();
        let mut kept = (entry.size <= KEEP_CONTENT).then(Vec::new);
        let mut left = entry.size;
        while left > 0 {
            let n = buffer.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if let Err(error) = reader.read_exact(&mut buffer[..n]) {
                result = Err(tool_error(format!("its output for {path} ended early ({error})")));
                break;
            }
            hasher.update(&buffer[..n]);
            if let Some(kept) = kept.as_mut() {
                kept.extend_from_slice(&buffer[..n]);
            }
            left -= n as u64;
        }
        if result.is_err() {
            break;
        }
        entry.content = Some((hasher.finalize(), kept));
    }
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// `dumpe2fs -h`: the superblock's fields, in order.
fn superblock(spec: &str) -> Result<Vec<(String, String)>, ExplainError> {
    let output = run_tool("dumpe2fs", Command::new("dumpe2fs").arg("-h").arg(spec).env("TZ", "UTC"))?;
    Ok(String::from_utf8_lossy(&output)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect())
}

/// Compares the ext file systems at `offset` of both images.
pub fn compare(
    place: &str,
    registered: &Path,
    rebuilt: &Path,
    offset: u64,
    work: &Path,
    found: &mut Vec<Difference>,
) -> Result<(), ExplainError> {
    let spec = |image: &Path| format!("{}?offset={offset}", image.display());
    let (spec_a, spec_b) = (spec(registered), spec(rebuilt));
    let (super_a, super_b) = (superblock(&spec_a)?, superblock(&spec_b)?);
    let old: BTreeMap<&String, &String> = super_a.iter().map(|(k, v)| (k, v)).collect();
    for (key, value) in &super_b {
        match old.get(key) {
            Some(previous) if *previous == value => {}
            previous => found.push(Difference::new(
                within(place, "superblock"),
                Aspect::FsMetadata,
                format!("{key}: {} → {value}", previous.map(|p| p.as_str()).unwrap_or("(none)")),
            )),
        }
    }
    let mut a = list(&spec_a, work)?;
    let mut b = list(&spec_b, work)?;
    add_stats(&spec_a, &mut a, work)?;
    add_stats(&spec_b, &mut b, work)?;
    add_contents(&spec_a, &mut a, work)?;
    add_contents(&spec_b, &mut b, work)?;
    compare_entries(place, &a, &b, work, found);
    Ok(())
}

fn kind_name(mode: u32) -> &'static str {
    match mode & S_IFMT {
        S_IFDIR => "directory",
        S_IFREG => "file",
        S_IFLNK => "symlink",
        0o020_000 => "character device",
        0o060_000 => "block device",
        0o010_000 => "fifo",
        0o140_000 => "socket",
        _ => "entry",
    }
}

fn compare_entries(
    place: &str,
    a: &BTreeMap<String, Entry>,
    b: &BTreeMap<String, Entry>,
    work: &Path,
    found: &mut Vec<Difference>,
) {
    let paths: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for path in paths {
        let here = within(place, path);
        let (old, new) = match (a.get(path), b.get(path)) {
            (Some(old), Some(new)) => (old, new),
            (Some(old), None) => {
                found.push(Difference::new(
                    here,
                    Aspect::Removed,
                    format!("{} only in the registered output", kind_name(old.mode)),
                ));
                continue;
            }
            (None, Some(new)) => {
                found.push(Difference::new(
                    here,
                    Aspect::Added,
                    format!("{} only in the rebuilt output", kind_name(new.mode)),
                ));
                continue;
            }
            (None, None) => continue,
        };
        if old.mode & S_IFMT != new.mode & S_IFMT {
            found.push(Difference::new(
                here,
                Aspect::Type,
                format!("{} → {}", kind_name(old.mode), kind_name(new.mode)),
            ));
            continue;
        }
        if old.mode & 0o7777 != new.mode & 0o7777 {
            found.push(Difference::new(
                &here,
                Aspect::Mode,
                format!("{:04o} → {:04o}", old.mode & 0o7777, new.mode & 0o7777),
            ));
        }
        if (old.uid, old.gid) != (new.uid, new.gid) {
            found.push(Difference::new(
                &here,
                Aspect::Owner,
                format!("{}:{} → {}:{}", old.uid, old.gid, new.uid, new.gid),
            ));
        }
        match (&old.content, &new.content) {
            (Some((hash_a, bytes_a)), Some((hash_b, bytes_b))) if hash_a != hash_b => {
                let detail = match (bytes_a, bytes_b) {
                    (Some(x), Some(y)) => bytes::describe_bytes(x, y, work),
                    _ => format!("{} → {} bytes", old.size, new.size),
                };
                found.push(Difference::new(&here, Aspect::Content, detail));
            }
            _ => {}
        }
        if old.link != new.link {
            found.push(Difference::new(&here, Aspect::Content, format!("target {:?} → {:?}", old.link, new.link)));
        }
        let times: Vec<String> = new
            .times
            .iter()
            .filter(|(name, value)| old.times.get(*name) != Some(value))
            .map(|(name, value)| {
                format!("{name} {} → {value}", old.times.get(name).map(String::as_str).unwrap_or("(none)"))
            })
            .collect();
        if !times.is_empty() {
            found.push(Difference::new(&here, Aspect::Times, times.join("; ")));
        }
        if old.xattrs != new.xattrs {
            found.push(Difference::new(
                &here,
                Aspect::Xattrs,
                format!("[{}] → [{}]", old.xattrs.join(", "), new.xattrs.join(", ")),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ext4 image made by mkfs.ext4 from a tree that `fill` writes.
    fn image(dir: &Path, name: &str, fill: impl Fn(&Path)) -> std::path::PathBuf {
        let tree = dir.join(format!("{name}-tree"));
        std::fs::create_dir_all(tree.join("etc")).expect("tree");
        fill(&tree);
        let image = dir.join(format!("{name}.img"));
        std::fs::File::create(&image).and_then(|f| f.set_len(16 << 20)).expect("image");
        let status = Command::new("mkfs.ext4")
            .args([
                "-q",
                "-U",
                "6b3f2f4e-8f0e-4b47-9d38-2f1a9e1c1111",
                "-E",
                "hash_seed=6b3f2f4e-8f0e-4b47-9d38-2f1a9e1c2222",
            ])
            .arg("-d")
            .arg(&tree)
            .arg(&image)
            .env("E2FSPROGS_FAKE_TIME", "315532800")
            .status()
            .expect("mkfs.ext4 runs");
        assert!(status.success());
        image
    }

    #[test]
    fn files_modes_and_slow_symlinks_are_named() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = std::env::temp_dir().join(format!("imgx-ext4-explain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let long = |c: &str| format!("/{}", c.repeat(80));
        let a = image(&dir, "a", |tree| {
            std::fs::write(tree.join("etc/motd"), "one\n").expect("motd");
            symlink(long("a"), tree.join("etc/slow")).expect("symlink");
        });
        let b = image(&dir, "b", |tree| {
            std::fs::write(tree.join("etc/motd"), "two\n").expect("motd");
            std::fs::set_permissions(tree.join("etc/motd"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
            symlink(long("b"), tree.join("etc/slow")).expect("symlink");
            std::fs::write(tree.join("etc/new"), "").expect("new");
        });
        let work = dir.join("work");
        std::fs::create_dir_all(&work).expect("work");
        let mut found = Vec::new();
        compare("", &a, &b, 0, &work, &mut found).expect("compares");
        let has = |place: &str, aspect: Aspect| found.iter().any(|d| d.place == place && d.aspect == aspect);
        assert!(has("/etc/motd", Aspect::Content), "{found:#?}");
        assert!(has("/etc/motd", Aspect::Mode), "{found:#?}");
        assert!(has("/etc/slow", Aspect::Content), "{found:#?}");
        assert!(has("/etc/new", Aspect::Added), "{found:#?}");
        assert!(!found.iter().any(|d| d.aspect == Aspect::FsMetadata && d.detail.contains("UUID")), "{found:#?}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
