//! XFS: `mkfs.xfs -p PROTOFILE` in a sparse file of the partition's size,
//! times fixed with `xfs_db -x`, then copied into the disk sparsely.
//!
//! A protofile lists every entry with its type, mode, owner and group (and
//! device numbers, symlink targets, the host file to copy), so mkfs.xfs
//! creates files with the recorded ownership without any privilege.
//! xfsprogs 6.1 stamps every inode with the host clock, though, and its
//! protofile cannot express the sticky bit; so one `xfs_db -x` session then
//! writes every inode's mode and its four times (bigtime encoding:
//! nanoseconds since 1901-12-13T20:45:52Z) to the source date, including
//! the root, realtime bitmap and summary inodes, which `sb 0` names. With
//! `-m uuid=` and those fixes, two builds are identical.
//!
//! Limits of the protofile format, each a clear build error: names and
//! symlink targets cannot contain white space (it separates fields), a name
//! cannot be `$` (it ends a directory), and extended attributes cannot be
//! set. Hard links are written as copies (logged): the format has none.

use super::attributes::{Entry, Kind, Tree, major, minor};
use super::layout::{Partition, human};
use super::sparse;
use super::tools::Tools;
use crate::builder::BuildError;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Makes the XFS file system of `partition` inside `disk`, filled with `tree`.
#[allow(clippy::too_many_arguments)]
pub fn make(
    tools: &Tools,
    log: &mut dyn Write,
    work: &Path,
    disk: &File,
    partition: &Partition,
    uuid: &str,
    tree: &Tree,
    epoch: i64,
) -> Result<(), BuildError> {
    let what = partition.describe();
    let (bytes, count) = super::attributes::check_fits(&what, tree, partition.len)?;
    let image = work.join(format!("part-{}.xfs", partition.index + 1));
    let file = File::create(&image).map_err(|e| BuildError::io("creating", &image, e))?;
    file.set_len(partition.len).map_err(|e| BuildError::io("sizing", &image, e))?;
    drop(file);
    let mut mkfs = tools.command("mkfs.xfs")?;
    mkfs.args(["-q", "-f", "-m"])
        .arg(format!("uuid={uuid},crc=1,finobt=1,bigtime=1,inobtcount=1,reflink=1,rmapbt=0"))
        .args(["-i", "sparse=1"]);
    if !partition.fs_label().is_empty() {
        mkfs.arg("-L").arg(partition.fs_label());
    }
    let has_entries = tree.entries.len() > 1;
    if has_entries {
        let (text, copies) = protofile(tree).map_err(|message| BuildError::Failed(format!("{what}: {message}")))?;
        if copies > 0 {
            writeln!(log, "{what}: XFS protofiles have no hard links; {copies} are written as copies").ok();
        }
        let proto = work.join(format!("part-{}.proto", partition.index + 1));
        std::fs::write(&proto, text).map_err(|e| BuildError::io("writing", &proto, e))?;
        mkfs.arg("-p").arg(&proto);
    }
    mkfs.arg(&image);
    tools.run(log, &what, &mut mkfs, None).map_err(|error| {
        let text = error.to_string();
        if text.contains("No space left") || text.contains("ENOSPC") {
            BuildError::Failed(format!(
                "{what}: the contents ({} in {count} entries) do not fit in XFS of {}: {text}",
                human(bytes),
                human(partition.len)
            ))
        } else {
            error
        }
    })?;
    fix_inodes(tools, log, &what, &image, tree, epoch)?;
    let source = File::open(&image).map_err(|e| BuildError::io("reading", &image, e))?;
    let written = sparse::copy_into(&source, disk, partition.start)
        .map_err(|e| BuildError::io("copying into the disk", &image, e))?;
    writeln!(log, "{what}: XFS copied into the disk at {} ({} of data)", partition.start, human(written)).ok();
    std::fs::remove_file(&image).map_err(|e| BuildError::io("removing", &image, e))?;
    Ok(())
}

fn check_token(entry: &Entry, text: &str, what: &str) -> Result<(), String> {
    if text.is_empty() || text.chars().any(char::is_whitespace) {
        return Err(format!(
            "'{}': {what} '{text}' contains white space, which an XFS protofile cannot express",
            entry.path
        ));
    }
    Ok(())
}

/// The protofile for a tree, and how many hard links became copies.
fn protofile(tree: &Tree) -> Result<(String, usize), String> {
    let mut children: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for entry in tree.entries.iter().filter(|e| !e.path.is_empty()) {
        children.entry(entry.parent()).or_default().push(entry);
    }
    let root = tree.get("").ok_or("the tree has no top directory")?;
    let mut out = String::from("/dev/null\n0 0\n");
    writeln!(out, "{} {} {}", mode_string(root), root.uid, root.gid).ok();
    let mut copies = 0;
    write_dir(tree, &children, "", &mut out, &mut copies, 1)?;
    out.push_str("$\n");
    Ok((out, copies))
}

/// The protofile's mode field: type, set-user-ID, set-group-ID, 3 octal digits.
fn mode_string(entry: &Entry) -> String {
    let kind = match entry.kind {
        Kind::Dir => 'd',
        Kind::File(_) | Kind::Hardlink(_) => '-',
        Kind::Symlink(_) => 'l',
        Kind::Char(_) => 'c',
        Kind::Block(_) => 'b',
        Kind::Fifo => 'p',
    };
    let setuid = if entry.mode & 0o4000 != 0 { 'u' } else { '-' };
    let setgid = if entry.mode & 0o2000 != 0 { 'g' } else { '-' };
    format!("{kind}{setuid}{setgid}{:03o}", entry.mode & 0o777)
}

fn write_dir(
    tree: &Tree,
    children: &BTreeMap<&str, Vec<&Entry>>,
    dir: &str,
    out: &mut String,
    copies: &mut usize,
    depth: usize,
) -> Result<(), String> {
    let indent = " ".repeat(depth);
    for entry in children.get(dir).map(Vec::as_slice).unwrap_or_default() {
        let name = entry.name();
        check_token(entry, name, "the name")?;
        if name == "$" {
            return Err(format!("'{}': an XFS protofile cannot hold a file named '$'", entry.path));
        }
        if !entry.xattrs.is_empty() {
            return Err(format!(
                "'{}' has extended attributes, which mkfs.xfs cannot set from a protofile (use ext4)",
                entry.path
            ));
        }
        let head = format!("{indent}{name} {} {} {}", mode_string(entry), entry.uid, entry.gid);
        match &entry.kind {
            Kind::Dir => {
                writeln!(out, "{head}").ok();
                write_dir(tree, children, &entry.path, out, copies, depth + 1)?;
                writeln!(out, "{indent}$").ok();
            }
            Kind::File(_) | Kind::Hardlink(_) => {
                let host = match &entry.kind {
                    Kind::Hardlink(target) => {
                        *copies += 1;
                        tree.get(target).and_then(|t| t.host.as_ref())
                    }
                    _ => entry.host.as_ref(),
                };
                let host = host
                    .and_then(|h| h.to_str())
                    .ok_or_else(|| format!("'{}' has no content mkfs.xfs can read", entry.path))?;
                check_token(entry, host, "the host path")?;
                writeln!(out, "{head} {host}").ok();
            }
            Kind::Symlink(target) => {
                check_token(entry, target, "the link target")?;
                writeln!(out, "{head} {target}").ok();
            }
            Kind::Char(rdev) | Kind::Block(rdev) => {
                writeln!(out, "{head} {} {}", major(*rdev), minor(*rdev)).ok();
            }
            Kind::Fifo => writeln!(out, "{head}").unwrap_or(()),
        }
    }
    Ok(())
}

/// Sets every inode's mode and times with one `xfs_db -x` session.
fn fix_inodes(
    tools: &Tools,
    log: &mut dyn Write,
    what: &str,
    image: &Path,
    tree: &Tree,
    epoch: i64,
) -> Result<(), BuildError> {
    let mut query = tools.command("xfs_db")?;
    query.args(["-r", "-c", "sb 0", "-c", "print rootino rbmino rsumino"]).arg(image);
    let output = tools.run(log, what, &mut query, None)?;
    let text = String::from_utf8_lossy(&output.stdout);
    let number = |field: &str| -> Result<u64, BuildError> {
        text.lines()
            .find_map(|line| line.strip_prefix(field)?.trim_start().strip_prefix('=')?.trim().parse().ok())
            .ok_or_else(|| BuildError::Failed(format!("{what}: xfs_db did not report {field}: {text}")))
    };
    let (root, bitmap, summary) = (number("rootino")?, number("rbmino")?, number("rsumino")?);
    // Bigtime: nanoseconds since the smallest 32-bit time, 2^31 s before 1970.
    let raw_time = (epoch as u64 + (1u64 << 31)) * 1_000_000_000;
    let mut commands = String::new();
    let times = |commands: &mut String| {
        for field in ["core.atime.sec", "core.mtime.sec", "core.ctime.sec", "v3.crtime.sec"] {
            writeln!(commands, "write {field} {raw_time}").ok();
        }
    };
    for inode in [bitmap, summary] {
        writeln!(commands, "inode {inode}").ok();
        times(&mut commands);
    }
    for entry in &tree.entries {
        if entry.path.is_empty() {
            writeln!(commands, "inode {root}").ok();
        } else {
            writeln!(commands, "path {}", entry.absolute()).ok();
        }
        writeln!(commands, "write core.mode 0{:o}", entry.type_bits() | entry.mode).ok();
        times(&mut commands);
    }
    let mut session = tools.command("xfs_db")?;
    session.arg("-x").arg(image);
    writeln!(log, "xfs_db: {} commands", commands.lines().count()).ok();
    let output = tools.run(log, what, &mut session, Some(commands.as_bytes()))?;
    let problems: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap_or("")
        .lines()
        .chain(std::str::from_utf8(&output.stderr).unwrap_or("").lines())
        .filter(|line| {
            let field = line.split(" = ").next().unwrap_or("");
            !(line.contains(" = ") && (field.starts_with("core.") || field.starts_with("v3.")))
        })
        .filter(|line| !line.trim().is_empty())
        .take(20)
        .collect();
    if !problems.is_empty() {
        return Err(BuildError::Failed(format!("{what}: xfs_db could not set the inodes:\n{}", problems.join("\n"))));
    }
    Ok(())
}
