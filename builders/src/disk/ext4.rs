//! ext4: `mkfs.ext4 -E offset=… -d DIR` straight into the disk file, then
//! a pass over the inode tables and one batched `debugfs -w -f CMDS` for
//! everything `-d` gets wrong.
//!
//! `mkfs.ext4 -d` (e2fsprogs 1.47.0) copies a directory without privileges,
//! in sorted order (`scandir` with `alphasort`, which `LC_ALL=C` makes
//! byte order), but gives every file the host's owner, mode bits, times
//! and extended attributes. `-U`, `-E hash_seed=`, `root_owner=0:0` and
//! `E2FSPROGS_FAKE_TIME` pin the rest of what it writes, and
//! `lazy_journal_init=1` leaves the journal as the hole it already is
//! (the disk file starts as one hole, so it reads as zeros: 64 MiB less to
//! write, hash and convert for a 4 GiB file system). Then:
//!
//! 1. [`inodes`] sets, in one pass, every copied inode's owner, group and
//!    mode (recorded in `.imgx-attributes`, else root's and the defaults)
//!    and its four times (`atime`, `mtime`, `ctime`, `crtime`, nanoseconds
//!    zero) to the source date; inodes about to be removed get owner 0:0
//!    and the source date too, so nothing of the host stays in free inodes.
//!    (One `debugfs sif` per field did the same at ~25 µs a command:
//!    1.7 s for 9,000 files, more than `mkfs.ext4 -d` itself.)
//! 2. One debugfs session removes `/.imgx-attributes` and the files that
//!    are replaced (by a generated `/etc/fstab`, or by a hard link); creates
//!    what the object could not hold: missing directories (`mkdir`),
//!    generated files (`write`), special files (`mknod`), hard links (`ln`),
//!    and gives those their owners, modes and times (`sif`); sets link
//!    counts of hard-linked files; removes the host's extended attributes
//!    and sets the recorded ones (`ea_rm`, `ea_set -f`). It is skipped when
//!    there is nothing to do.
//!
//! debugfs exits with status 0 even when a command fails, so its error
//! output is checked: anything but its version banner fails the step.
//! Removing a file frees its blocks without zeroing them; the bytes left
//! behind are the same on every build.

use super::attributes::{Kind, Origin, Tree, major, minor};
use super::inodes;
use super::layout::{Partition, human};
use super::tools::Tools;
use crate::builder::BuildError;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// imgx's `mke2fs.conf`: e2fsprogs 1.47.0's defaults, pinned so that the
/// host's `/etc/mke2fs.conf` cannot change an image.
pub const MKE2FS_CONF: &str = "[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384

[fs_types]
	ext3 = {
		features = has_journal
	}
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	small = {
		blocksize = 1024
		inode_ratio = 4096
	}
	floppy = {
		blocksize = 1024
		inode_ratio = 8192
	}
	big = {
		inode_ratio = 32768
	}
	huge = {
		inode_ratio = 65536
	}
	news = {
		inode_ratio = 4096
	}
	largefile = {
		inode_ratio = 1048576
		blocksize = -1
	}
	largefile4 = {
		inode_ratio = 4194304
		blocksize = -1
	}
";

/// The identifiers of one ext4 file system.
pub struct Ext4Ids<'a> {
    /// The file-system UUID.
    pub uuid: &'a str,
    /// The directory hash seed.
    pub hash_seed: &'a str,
}

/// A debugfs argument: double-quoted, with `"` doubled.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// What an ext4 file system is filled with: the folder `mkfs.ext4 -d`
/// copies, and how to read the [`Tree`] of its entries (with the generated
/// files), which the passes after mkfs need.
pub struct Contents<'a> {
    /// The contents folder, if there is one.
    pub root: Option<&'a Path>,
    /// Reads the tree, logging what it found.
    pub read: &'a dyn Fn(&mut dyn Write) -> Result<Tree, BuildError>,
}

/// Makes the ext4 file system of `partition` inside `disk`, filled with
/// `contents`.
///
/// mkfs reads the contents folder itself, so it starts at once, and the
/// tree is read (one `statx` and `llistxattr` per entry: 0.2–0.9 s for
/// 9,000 entries) while it runs. Whether the contents fit is known only
/// then: if they do not, that is the error, whatever mkfs said.
#[allow(clippy::too_many_arguments)]
pub fn make(
    tools: &Tools,
    log: &mut dyn Write,
    work: &Path,
    disk: &Path,
    disk_file: &File,
    partition: &Partition,
    ids: &Ext4Ids<'_>,
    contents: Contents<'_>,
    epoch: i64,
) -> Result<(), BuildError> {
    let what = partition.describe();
    let disk_text = disk.to_str().filter(|t| !t.contains('?')).ok_or_else(|| {
        BuildError::Failed(format!("{what}: the path {} cannot be given to e2fsprogs", disk.display()))
    })?;
    let mut mkfs = tools.command("mkfs.ext4")?;
    mkfs.args(["-q", "-F", "-L", partition.fs_label(), "-U", ids.uuid, "-E"])
        .arg(format!("offset={},hash_seed={},root_owner=0:0,lazy_journal_init=1", partition.start, ids.hash_seed));
    if let Some(root) = contents.root {
        mkfs.arg("-d").arg(root);
    }
    mkfs.arg(disk).arg(format!("{}k", partition.len / 1024));
    let (tree, (mkfs_log, made)) = std::thread::scope(|scope| {
        let mkfs = scope.spawn(|| {
            let mut log = Vec::new();
            let made = tools.run(&mut log, &what, &mut mkfs, None);
            (log, made)
        });
        let tree = (contents.read)(log);
        let made =
            mkfs.join().unwrap_or_else(|_| (Vec::new(), Err(BuildError::Failed(format!("{what}: mkfs stopped")))));
        (tree, made)
    });
    log.write_all(&mkfs_log).ok();
    let tree = tree?;
    let (bytes, count) = super::attributes::check_fits(&what, &tree, partition.len)?;
    made.map_err(|error| {
        let text = error.to_string();
        if text.contains("Could not allocate") || text.contains("No free space") || text.contains("Not enough space") {
            BuildError::Failed(format!(
                "{what}: the contents ({} of data in {count} entries) do not fit in ext4 of {}: {text}",
                human(bytes),
                human(partition.len)
            ))
        } else {
            error
        }
    })?;
    if contents.root.is_some() {
        let started = std::time::Instant::now();
        let (inodes, blocks) =
            fix_copied_inodes(disk_file, partition.start..partition.start + partition.len, &tree, epoch)
                .map_err(|e| BuildError::Failed(format!("{what}: setting owners, modes and times: {e}")))?;
        let seconds = started.elapsed().as_secs_f64();
        writeln!(log, "{what}: owners, modes and times of {inodes} inodes set ({blocks} blocks, {seconds:.2} s)").ok();
    }
    let commands = fixups(&tree, work, epoch)?;
    if commands.is_empty() {
        return Ok(());
    }
    let script = work.join(format!("debugfs-{}.cmds", partition.index + 1));
    std::fs::write(&script, &commands).map_err(|e| BuildError::io("writing", &script, e))?;
    writeln!(log, "debugfs: {} commands in {}", commands.lines().count(), script.display()).ok();
    let mut debugfs = tools.command("debugfs")?;
    debugfs.arg("-w").arg("-f").arg(&script).arg(format!("{disk_text}?offset={}", partition.start));
    let output = tools.run(log, &what, &mut debugfs, None)?;
    let problems: Vec<String> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with("debugfs "))
        .take(20)
        .map(str::to_string)
        .collect();
    if !problems.is_empty() {
        return Err(BuildError::Failed(format!(
            "{what}: debugfs could not apply the attributes:\n{}",
            problems.join("\n")
        )));
    }
    Ok(())
}

/// Gives every inode `mkfs.ext4 -d` copied from the tree its recorded (or
/// default) owner, group and mode and the source date, in one pass over
/// the inode tables ([`inodes`]). Inodes about to be removed (the
/// attributes file, replaced files) get owner 0:0 and the source date too,
/// so that nothing of the host survives in free inodes. Returns the number
/// of inodes and of inode-table blocks written.
fn fix_copied_inodes(
    disk: &File,
    partition: std::ops::Range<u64>,
    tree: &Tree,
    epoch: i64,
) -> std::io::Result<(usize, usize)> {
    let mut fs = inodes::Ext4::open(disk, partition)?;
    let mut dirs: BTreeMap<String, u32> = BTreeMap::new();
    dirs.insert(String::new(), inodes::ROOT_INODE);
    let mut listings: BTreeMap<u32, BTreeMap<Vec<u8>, u32>> = BTreeMap::new();
    let mut lookup = |fs: &mut inodes::Ext4<'_>, parent: u32, name: &str| -> std::io::Result<u32> {
        if let std::collections::btree_map::Entry::Vacant(e) = listings.entry(parent) {
            let listing = fs.list(parent)?;
            e.insert(listing);
        }
        listings[&parent].get(name.as_bytes()).copied().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("'{name}' is not in the file system"))
        })
    };
    let mut count = 0;
    let neutral = inodes::Change { uid: 0, gid: 0, mode: None };
    if tree.has_attributes_file {
        let ino = lookup(&mut fs, inodes::ROOT_INODE, super::attributes::ATTRIBUTES_FILE)?;
        fs.set(ino, neutral, epoch)?;
        count += 1;
    }
    for entry in &tree.entries {
        if entry.origin == Origin::Added {
            continue;
        }
        let ino = if entry.path.is_empty() {
            inodes::ROOT_INODE
        } else {
            let parent = *dirs.get(entry.parent()).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("no directory for '{}'", entry.path))
            })?;
            lookup(&mut fs, parent, entry.name())?
        };
        if entry.kind == Kind::Dir {
            dirs.insert(entry.path.clone(), ino);
        }
        let change = match entry.origin {
            Origin::Replaced => neutral,
            _ => inodes::Change { uid: entry.uid, gid: entry.gid, mode: Some(entry.mode) },
        };
        fs.set(ino, change, epoch)?;
        count += 1;
    }
    let blocks = fs.flush()?;
    Ok((count, blocks))
}

/// The debugfs commands that finish what [`fix_copied_inodes`] cannot do:
/// removals, new entries, link counts and extended attributes.
fn fixups(tree: &Tree, work: &Path, epoch: i64) -> Result<String, BuildError> {
    let mut out = String::new();
    // 1. Remove what the bulk copy brought but must not stay (already
    //    given neutral owners and times), with the host's attributes.
    let remove = |out: &mut String, path: &str, host_xattrs: &[String]| {
        let path = quote(path);
        if !host_xattrs.is_empty() {
            let names: Vec<String> = host_xattrs.iter().map(|n| quote(n)).collect();
            writeln!(out, "ea_rm {path} {}", names.join(" ")).ok();
        }
        writeln!(out, "rm {path}").ok();
    };
    if tree.has_attributes_file {
        remove(&mut out, &format!("/{}", super::attributes::ATTRIBUTES_FILE), &tree.attributes_xattrs);
    }
    for entry in tree.entries.iter().filter(|e| e.origin == Origin::Replaced) {
        remove(&mut out, &entry.absolute(), &entry.host_xattrs);
    }
    // 2. Create what it could not bring, parents first (entries are sorted).
    for entry in tree.entries.iter().filter(|e| e.origin != Origin::Tree && !e.path.is_empty()) {
        let cd = format!("cd {}\n", quote(&format!("/{}", entry.parent())));
        match &entry.kind {
            Kind::Dir => writeln!(out, "mkdir {}", quote(&entry.absolute())).unwrap_or(()),
            Kind::File(_) => {
                let host = entry.host.as_ref().and_then(|h| h.to_str()).ok_or_else(|| {
                    BuildError::Failed(format!("the file for /{} has a path debugfs cannot read", entry.path))
                })?;
                writeln!(out, "{cd}write {} {}", quote(host), quote(entry.name())).ok();
            }
            Kind::Char(rdev) | Kind::Block(rdev) => {
                let letter = if matches!(entry.kind, Kind::Char(_)) { 'c' } else { 'b' };
                writeln!(out, "{cd}mknod {} {letter} {} {}", quote(entry.name()), major(*rdev), minor(*rdev)).ok();
            }
            Kind::Fifo => writeln!(out, "{cd}mknod {} p", quote(entry.name())).unwrap_or(()),
            Kind::Hardlink(target) => {
                writeln!(out, "ln {} {}", quote(&format!("/{target}")), quote(&entry.absolute())).ok();
            }
            Kind::Symlink(target) => {
                writeln!(out, "{cd}symlink {} {}", quote(entry.name()), quote(target)).ok();
            }
        }
    }
    if !out.is_empty() {
        out.push_str("cd /\n");
    }
    // 3. Owners, modes and times of what debugfs created; link counts and
    //    extended attributes of everything.
    let links = tree.link_counts();
    let mut value_files = 0usize;
    for entry in &tree.entries {
        if matches!(entry.kind, Kind::Hardlink(_)) {
            continue;
        }
        let path = quote(&entry.absolute());
        if entry.origin != Origin::Tree {
            writeln!(out, "sif {path} uid {}", entry.uid).ok();
            writeln!(out, "sif {path} gid {}", entry.gid).ok();
            writeln!(out, "sif {path} mode 0{:o}", entry.type_bits() | entry.mode).ok();
            for field in ["atime", "mtime", "ctime", "crtime"] {
                writeln!(out, "sif {path} {field} @{epoch}").ok();
            }
        }
        if let Some(count) = links.get(entry.path.as_str()) {
            writeln!(out, "sif {path} links_count {}", count + 1).ok();
        }
        let stale: Vec<String> =
            entry.host_xattrs.iter().filter(|name| !entry.xattrs.contains_key(*name)).map(|n| quote(n)).collect();
        if !stale.is_empty() && entry.origin == Origin::Tree {
            writeln!(out, "ea_rm {path} {}", stale.join(" ")).ok();
        }
        for (name, value) in &entry.xattrs {
            value_files += 1;
            let file = work.join(format!("xattr-{value_files}"));
            std::fs::write(&file, value).map_err(|e| BuildError::io("writing", &file, e))?;
            let file = file.to_str().ok_or_else(|| BuildError::Failed("the work directory is not UTF-8".into()))?;
            writeln!(out, "ea_set -f {} {path} {}", quote(file), quote(name)).ok();
        }
    }
    Ok(out)
}
