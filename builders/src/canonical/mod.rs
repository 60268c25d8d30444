//! Making file systems that a kernel wrote reproducible, from the host.
//!
//! A `run` step boots a Linux VM on a copy of a disk image, mounts its file
//! systems, runs a script and unmounts them. The kernel leaves behind what
//! differs from one run to the next even when the script does the same:
//! times from the guest clock, random inode generation numbers, mount and
//! write times and counters in the superblock, journal contents and
//! sequence numbers, deleted inodes and freed blocks with stale bytes, FAT
//! directory-entry times. [`canonicalize_disk`] rewrites those, in place,
//! into values that depend only on what the file systems hold and on the
//! source date (`epoch`), so that two runs give the same bytes.
//!
//! The rules follow reproducible-builds practice: times later than the
//! epoch are clamped to it, earlier ones kept; what is random is zeroed;
//! what is free is made to read as zeros (holes, so the image stays
//! sparse). Every checksum covering a changed field is recomputed. Images
//! are untrusted input: every offset is checked, nothing panics, and a
//! problem is reported as a [`CanonicalizeError`] naming the partition.
//!
//! Handled: ext2/3/4 ([`canonicalize_ext4`]) and FAT12/16/32
//! ([`canonicalize_fat`]), found in GPT or MBR primary partitions or as a
//! whole image. Swap, XFS and unrecognised contents are left untouched
//! and reported as such; MBR logical partitions are not visited.

mod error;
mod ext4;
mod fat;
mod journal;
mod table;

pub(crate) use fat::civil_from_days;
pub use table::Entry;

pub use error::CanonicalizeError;
pub use table::TableKind;

use crate::fs::bytes::u16_at;
use crate::fs::ext4::{SUPERBLOCK_OFFSET, superblock};
use crate::fs::region::Region;
use std::fmt;
use std::fs::File;
use std::ops::Range;

/// What a partition was found to hold, by its magic numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSystem {
    /// ext2, ext3 or ext4 (superblock magic 0xEF53): canonicalized.
    Ext4,
    /// FAT12, FAT16 or FAT32 (a consistent BIOS parameter block):
    /// canonicalized.
    Fat,
    /// A Linux swap area: left untouched.
    Swap,
    /// XFS: left untouched.
    Xfs,
    /// Nothing recognised: left untouched.
    Unknown,
}

impl fmt::Display for FileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileSystem::Ext4 => "ext2/3/4",
            FileSystem::Fat => "FAT",
            FileSystem::Swap => "swap",
            FileSystem::Xfs => "XFS",
            FileSystem::Unknown => "unrecognised contents",
        })
    }
}

/// What canonicalizing one file system changed, for logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Entries changed: ext4 inodes in use, FAT directory entries.
    pub items_changed: u64,
    /// Free ext4 inode slots zeroed.
    pub items_cleared: u64,
    /// ext4 extent-tree and directory blocks whose checksums were
    /// recomputed.
    pub blocks_rewritten: u64,
    /// Bytes of free blocks, free clusters and journal punched out.
    pub bytes_punched: u64,
}

/// One partition of a canonicalized disk, and what was done to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalizedPartition {
    /// Its number in the partition table (1-based), 0 for an image
    /// without a table.
    pub number: u32,
    /// The bytes it spans in the image.
    pub range: Range<u64>,
    /// What it holds.
    pub file_system: FileSystem,
    /// What was changed, or `None` if it was left untouched.
    pub summary: Option<Summary>,
}

/// Canonicalizes every file system of a raw disk image in place (see the
/// module documentation), after the VM that changed it has exited. The
/// file must be open for reading and writing. Returns one record per
/// partition, in table order. Stops at the first error, which names the
/// partition; partitions before it have been canonicalized.
pub fn canonicalize_disk(image: &File, epoch: i64) -> Result<Vec<CanonicalizedPartition>, CanonicalizeError> {
    let (_, entries) = table::read_table(image)?;
    let mut done = Vec::with_capacity(entries.len());
    for entry in entries {
        let file_system = detect(image, entry.range.clone())?;
        let result = match file_system {
            FileSystem::Ext4 => canonicalize_ext4(image, entry.range.clone(), epoch).map(Some),
            FileSystem::Fat => canonicalize_fat(image, entry.range.clone(), epoch).map(Some),
            FileSystem::Swap | FileSystem::Xfs | FileSystem::Unknown => Ok(None),
        };
        let summary = result.map_err(|error| CanonicalizeError::InPartition {
            number: entry.number,
            start: entry.range.start,
            end: entry.range.end,
            file_system,
            error: Box::new(error),
        })?;
        done.push(CanonicalizedPartition { number: entry.number, range: entry.range, file_system, summary });
    }
    Ok(done)
}

/// What each partition of a raw disk image holds (one record per
/// partition in table order, the whole image as number 0 without a
/// table), without changing anything: the build VM loads only the file
/// system modules a disk needs.
pub fn file_systems(image: &File) -> Result<Vec<(Entry, FileSystem)>, CanonicalizeError> {
    let (_, entries) = table::read_table(image)?;
    entries
        .into_iter()
        .map(|entry| {
            let file_system = detect(image, entry.range.clone())?;
            Ok((entry, file_system))
        })
        .collect()
}

/// Canonicalizes the ext2/3/4 file system in bytes `range` of `image`:
/// clamps inode and superblock times, zeroes inode generations (with every
/// checksum they seed), zeroes free inodes, punches out free blocks and
/// empties the journal. Refuses, unchanged, a file system whose journal is
/// not empty ([`CanonicalizeError::JournalNotEmpty`]).
pub fn canonicalize_ext4(image: &File, range: Range<u64>, epoch: i64) -> Result<Summary, CanonicalizeError> {
    ext4::canonicalize(image, range, epoch)
}

/// Canonicalizes the FAT12/16/32 file system in bytes `range` of `image`:
/// clamps directory-entry times and punches out free clusters.
pub fn canonicalize_fat(image: &File, range: Range<u64>, epoch: i64) -> Result<Summary, CanonicalizeError> {
    fat::canonicalize(image, range, epoch)
}

/// Recognises what bytes `range` of `image` hold by magic numbers.
pub fn detect(image: &File, range: Range<u64>) -> Result<FileSystem, CanonicalizeError> {
    let region = Region::new(image, range);
    let mut head = vec![0u8; region.len().min(4096) as usize];
    region.read(0, &mut head, "the partition's first bytes")?;
    if head.len() >= SUPERBLOCK_OFFSET as usize + 0x3A
        && u16_at(&head, SUPERBLOCK_OFFSET as usize + superblock::MAGIC_OFFSET) == superblock::MAGIC
    {
        return Ok(FileSystem::Ext4);
    }
    if head.starts_with(b"XFSB") {
        return Ok(FileSystem::Xfs);
    }
    if head.len() == 4096 && (head.ends_with(b"SWAPSPACE2") || head.ends_with(b"SWAP-SPACE")) {
        return Ok(FileSystem::Swap);
    }
    if let Some(boot) = head.get(..512).and_then(|b| <&[u8; 512]>::try_from(b).ok())
        && fat::Bpb::parse(boot, region.len()).is_some()
    {
        return Ok(FileSystem::Fat);
    }
    Ok(FileSystem::Unknown)
}
