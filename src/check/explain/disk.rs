//! Raw disks: the partition table (from `sfdisk -J`), then each partition
//! whose bytes differ, explained by its file system; a bare file system
//! (no table) is explained directly, and anything else as a plain file.

use super::{Aspect, Difference, ExplainError, bytes, ext4, vfat, within};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

/// One partition, as sfdisk describes it.
#[derive(Debug, Clone, PartialEq)]
struct Partition {
    /// Byte offset.
    start: u64,
    /// Byte length.
    size: u64,
    /// The rest of sfdisk's description (type, uuid, name, attrs), for
    /// comparing.
    fields: serde_json::Map<String, serde_json::Value>,
}

/// A partition table, as sfdisk describes it.
#[derive(Debug)]
struct Table {
    /// `label`, `id`, `first-lba`, … without the partitions.
    header: serde_json::Map<String, serde_json::Value>,
    partitions: Vec<Partition>,
}

/// The table of `disk`, or `None` when sfdisk finds none.
fn read_table(disk: &Path) -> Option<Table> {
    let output = Command::new("sfdisk").arg("-J").arg(disk).env("LC_ALL", "C").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    let table = json.get("partitiontable")?.as_object()?;
    let sector = table.get("sectorsize").and_then(|v| v.as_u64()).unwrap_or(512);
    let mut header = table.clone();
    header.remove("partitions");
    // The device path names the file, which differs between the two.
    header.remove("device");
    let mut partitions = Vec::new();
    for entry in table.get("partitions").and_then(|p| p.as_array()).into_iter().flatten() {
        let mut fields = entry.as_object()?.clone();
        let start = fields.remove("start").and_then(|v| v.as_u64())? * sector;
        let size = fields.remove("size").and_then(|v| v.as_u64())? * sector;
        fields.remove("node");
        partitions.push(Partition { start, size, fields });
    }
    Some(Table { header, partitions })
}

/// What file system starts at `offset` of `image`, by its magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    /// ext2, ext3 or ext4.
    Ext,
    /// FAT12, FAT16 or FAT32.
    Fat,
    /// Something else.
    Unknown,
}

/// Recognises the file system at `offset` of `image`.
pub fn fs_kind(image: &Path, offset: u64) -> FsKind {
    let Ok(file) = std::fs::File::open(image) else { return FsKind::Unknown };
    let mut boot = [0u8; 1082];
    if file.read_exact_at(&mut boot, offset).is_err() {
        return FsKind::Unknown;
    }
    if boot[1080..1082] == [0x53, 0xef] {
        return FsKind::Ext;
    }
    if boot[510..512] == [0x55, 0xaa] && (&boot[54..57] == b"FAT" || &boot[82..87] == b"FAT32") {
        return FsKind::Fat;
    }
    FsKind::Unknown
}

/// Explains two raw images: disks by table and partition, bare file
/// systems by their files, anything else by bytes.
pub fn explain_raw(
    place: &str,
    registered: &Path,
    rebuilt: &Path,
    work: &Path,
    found: &mut Vec<Difference>,
) -> Result<(), ExplainError> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).map_err(|e| ExplainError::io("inspect", p, e));
    let (size_a, size_b) = (size(registered)?, size(rebuilt)?);
    match (read_table(registered), read_table(rebuilt)) {
        (Some(a), Some(b)) => {
            if size_a != size_b {
                found.push(Difference::new(place, Aspect::Table, format!("disk size {size_a} → {size_b} bytes")));
            }
            compare_disks(place, registered, rebuilt, &a, &b, work, found)
        }
        (None, None) => {
            let kind = fs_kind(rebuilt, 0);
            if kind != FsKind::Unknown && kind == fs_kind(registered, 0) {
                return compare_fs(place, kind, registered, rebuilt, 0, size_b, work, found);
            }
            super::plain_file(place, registered, rebuilt, found);
            Ok(())
        }
        (a, b) => {
            let says = |t: &Option<Table>| if t.is_some() { "a partition table" } else { "no partition table" };
            found.push(Difference::new(place, Aspect::Table, format!("{} → {}", says(&a), says(&b))));
            super::plain_file(place, registered, rebuilt, found);
            Ok(())
        }
    }
}

/// How a partition is named in reports: `partition 2 (root)`.
fn partition_place(place: &str, index: usize, partition: &Partition) -> String {
    let name = partition.fields.get("name").and_then(|v| v.as_str()).filter(|n| !n.is_empty());
    let part = match name {
        Some(name) => format!("partition {} ({name})", index + 1),
        None => format!("partition {}", index + 1),
    };
    within(place, &part)
}

fn compare_disks(
    place: &str,
    registered: &Path,
    rebuilt: &Path,
    a: &Table,
    b: &Table,
    work: &Path,
    found: &mut Vec<Difference>,
) -> Result<(), ExplainError> {
    for (key, value) in &b.header {
        let old = a.header.get(key);
        if old != Some(value) {
            let old = old.map(|v| v.to_string()).unwrap_or_else(|| "(none)".into());
            found.push(Difference::new(within(place, "table"), Aspect::Table, format!("{key}: {old} → {value}")));
        }
    }
    if a.partitions.len() != b.partitions.len() {
        found.push(Difference::new(
            within(place, "table"),
            Aspect::Table,
            format!("{} → {} partitions", a.partitions.len(), b.partitions.len()),
        ));
    }
    for (index, (pa, pb)) in a.partitions.iter().zip(&b.partitions).enumerate() {
        let here = partition_place(place, index, pb);
        let mut same_place = true;
        for (what, old, new) in [("start", pa.start, pb.start), ("size", pa.size, pb.size)] {
            if old != new {
                same_place = false;
                found.push(Difference::new(&here, Aspect::Table, format!("{what} {old} → {new} bytes")));
            }
        }
        for (key, value) in &pb.fields {
            let old = pa.fields.get(key);
            if old != Some(value) {
                let old = old.map(|v| v.to_string()).unwrap_or_else(|| "(none)".into());
                found.push(Difference::new(&here, Aspect::Table, format!("{key}: {old} → {value}")));
            }
        }
        if !same_place {
            continue;
        }
        let ranges = bytes::differing_ranges(registered, rebuilt, pb.start, pb.size)
            .map_err(|e| ExplainError::io("read", rebuilt, e))?;
        if ranges.is_empty() {
            continue;
        }
        let kind = fs_kind(rebuilt, pb.start);
        if kind == FsKind::Unknown || kind != fs_kind(registered, pb.start) {
            found.push(Difference::new(&here, Aspect::Bytes, format!("differing bytes: {}", ranges.describe())));
            continue;
        }
        let before = found.len();
        if let Err(error) = compare_fs(&here, kind, registered, rebuilt, pb.start, pb.size, work, found) {
            found.push(Difference::new(&here, Aspect::Unexplained, format!("cannot read its file system: {error}")));
        }
        if found.len() == before {
            found.push(Difference::new(
                &here,
                Aspect::Bytes,
                format!(
                    "no file or superblock field differs, but the file system's other blocks do \
                     (allocation, bitmaps, journal): {}",
                    ranges.describe()
                ),
            ));
        }
    }
    // Bytes outside every partition: the table itself, boot code, gaps.
    let mut outside = Vec::new();
    let mut at = 0;
    for partition in &b.partitions {
        if partition.start > at {
            outside.push((at, partition.start - at));
        }
        at = at.max(partition.start + partition.size);
    }
    let end = std::fs::metadata(rebuilt).map(|m| m.len()).unwrap_or(at);
    if end > at {
        outside.push((at, end - at));
    }
    for (offset, len) in outside {
        let ranges = bytes::differing_ranges(registered, rebuilt, offset, len)
            .map_err(|e| ExplainError::io("read", rebuilt, e))?;
        if !ranges.is_empty() {
            found.push(Difference::new(
                within(place, &format!("outside the partitions ({offset:#x}+{len})")),
                Aspect::Bytes,
                ranges.describe(),
            ));
        }
    }
    Ok(())
}

/// Explains one file system at `offset` in both images.
#[allow(clippy::too_many_arguments)]
fn compare_fs(
    place: &str,
    kind: FsKind,
    registered: &Path,
    rebuilt: &Path,
    offset: u64,
    size: u64,
    work: &Path,
    found: &mut Vec<Difference>,
) -> Result<(), ExplainError> {
    match kind {
        FsKind::Ext => ext4::compare(place, registered, rebuilt, offset, work, found),
        FsKind::Fat => vfat::compare(place, registered, rebuilt, offset, size, work, found),
        FsKind::Unknown => Ok(()),
    }
}
