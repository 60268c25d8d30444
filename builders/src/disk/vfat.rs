//! vfat: `mkfs.vfat --invariant` in a sparse file of the partition's size,
//! filled with mtools, then copied into the disk sparsely.
//!
//! `--invariant` fixes what mkfs.fat would take from the clock or from
//! randomness, `-i` sets the volume id (derived from the step key), `-h`
//! records the partition's first sector as the hidden-sector count, as a
//! partitioning tool would. mtools writes every timestamp from
//! `SOURCE_DATE_EPOCH` and needs `MTOOLS_SKIP_CHECK=1` on a bare file
//! system image.
//!
//! The tree is written in a fixed order, never through `mcopy -s` (which
//! follows the host's directory order): one `mmd` creates every directory,
//! parents first, in byte order of their paths; then each directory's
//! files are copied in byte order of their names. That order decides
//! directory entries, short-name aliases (`~1`) and cluster allocation, so
//! it is the same everywhere. Neither `-m` (it would copy the host's
//! modification times, which differ between stores) nor `-p` (the store's
//! read-only files would all get the read-only attribute) is used.
//!
//! FAT has no owners, modes, extended attributes, links or special files:
//! recorded owners and modes are dropped (the log says how many), hard
//! links become copies, and symbolic links or special files fail the step.

use super::attributes::{Kind, Tree};
use super::layout::{Partition, human};
use super::sparse;
use super::tools::Tools;
use crate::builder::BuildError;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Characters a FAT long name may not contain.
const FORBIDDEN: &[char] = &['"', '*', '/', ':', '<', '>', '?', '\\', '|'];

/// Arguments per mtools invocation, to stay far below the kernel's limit.
const BATCH: usize = 400;

/// Makes the vfat file system of `partition` inside `disk`, filled with `tree`.
#[allow(clippy::too_many_arguments)]
pub fn make(
    tools: &Tools,
    log: &mut dyn Write,
    work: &Path,
    disk: &File,
    partition: &Partition,
    volume_id: u32,
    tree: &Tree,
    is_esp: bool,
) -> Result<(), BuildError> {
    let what = partition.describe();
    let plan = plan(tree).map_err(|message| BuildError::Failed(format!("{what}: {message}")))?;
    super::attributes::check_fits(&what, tree, partition.len)?;
    let image = work.join(format!("part-{}.vfat", partition.index + 1));
    let file = File::create(&image).map_err(|e| BuildError::io("creating", &image, e))?;
    file.set_len(partition.len).map_err(|e| BuildError::io("sizing", &image, e))?;
    drop(file);
    let mut mkfs = tools.command("mkfs.vfat")?;
    mkfs.arg("--invariant").arg("-i").arg(format!("{volume_id:08X}"));
    mkfs.arg("-h").arg((partition.start / 512).to_string());
    if !partition.fs_label().is_empty() {
        mkfs.arg("-n").arg(partition.fs_label());
    }
    // The UEFI specification asks for FAT32 on system partitions; it needs
    // 65525 clusters, which is comfortable from 64 MiB on.
    let fat_size = partition.options.fat_size.or((is_esp && partition.len >= 64 << 20).then_some(32));
    if let Some(size) = fat_size {
        mkfs.arg("-F").arg(size.to_string());
    }
    mkfs.arg(&image);
    tools.run(log, &what, &mut mkfs, None)?;
    let dropped = tree.entries.iter().filter(|e| e.uid != 0 || e.gid != 0 || !e.xattrs.is_empty()).count();
    if dropped > 0 {
        writeln!(log, "{what}: vfat cannot hold owners or extended attributes; {dropped} recorded ones are dropped")
            .ok();
    }
    let image_arg = {
        let mut arg = OsString::from("-i");
        arg.push(&image);
        arg
    };
    for batch in plan.dirs.chunks(BATCH) {
        let mut mmd = tools.command("mmd")?;
        mmd.arg(&image_arg).args(batch.iter().map(|d| format!("::/{d}")));
        tools.run(log, &what, &mut mmd, None)?;
    }
    for (dir, files) in &plan.files {
        // Files whose host name is their name go in batches; others one by one.
        let (same, renamed): (Vec<_>, Vec<_>) =
            files.iter().partition(|(name, host)| host.file_name().is_some_and(|n| n == name.as_str()));
        for batch in same.chunks(BATCH) {
            let mut mcopy = tools.command("mcopy")?;
            mcopy.arg(&image_arg).args(batch.iter().map(|(_, host)| host)).arg(format!("::/{dir}"));
            tools.run(log, &what, &mut mcopy, None)?;
        }
        for (name, host) in renamed {
            let target = if dir.is_empty() { format!("::/{name}") } else { format!("::/{dir}/{name}") };
            let mut mcopy = tools.command("mcopy")?;
            mcopy.arg(&image_arg).arg(host).arg(target);
            tools.run(log, &what, &mut mcopy, None)?;
        }
    }
    let source = File::open(&image).map_err(|e| BuildError::io("reading", &image, e))?;
    let written = sparse::copy_into(&source, disk, partition.start)
        .map_err(|e| BuildError::io("copying into the disk", &image, e))?;
    writeln!(log, "{what}: vfat copied into the disk at {} ({} of data)", partition.start, human(written)).ok();
    std::fs::remove_file(&image).map_err(|e| BuildError::io("removing", &image, e))?;
    Ok(())
}

/// What mtools must do: directories to make, and files to copy by directory.
struct Plan {
    dirs: Vec<String>,
    files: BTreeMap<String, Vec<(String, PathBuf)>>,
}

fn plan(tree: &Tree) -> Result<Plan, String> {
    let mut dirs = Vec::new();
    let mut files: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    let mut names: BTreeMap<(String, String), String> = BTreeMap::new();
    for entry in tree.entries.iter().filter(|e| !e.path.is_empty()) {
        let name = entry.name();
        if name.chars().any(|c| FORBIDDEN.contains(&c) || c.is_control()) || name.len() > 255 {
            return Err(format!(
                "'{}' cannot be a name on vfat (no \" * : < > ? \\ | or control characters)",
                entry.path
            ));
        }
        if let Some(other) = names.insert((entry.parent().to_string(), name.to_lowercase()), entry.path.clone()) {
            return Err(format!("'{other}' and '{}' are the same name on vfat, which ignores case", entry.path));
        }
        match &entry.kind {
            Kind::Dir => dirs.push(entry.path.clone()),
            Kind::File(_) => {
                let host = entry.host.clone().ok_or_else(|| format!("'{}' has no content", entry.path))?;
                files.entry(entry.parent().to_string()).or_default().push((name.to_string(), host));
            }
            Kind::Hardlink(target) => {
                let host = tree
                    .get(target)
                    .and_then(|t| t.host.clone())
                    .ok_or_else(|| format!("'{}' links to '{target}', which has no content", entry.path))?;
                files.entry(entry.parent().to_string()).or_default().push((name.to_string(), host));
            }
            Kind::Symlink(_) => return Err(format!("'{}' is a symbolic link, which vfat cannot hold", entry.path)),
            Kind::Char(_) | Kind::Block(_) | Kind::Fifo => {
                return Err(format!("'{}' is a special file, which vfat cannot hold", entry.path));
            }
        }
    }
    Ok(Plan { dirs, files })
}
