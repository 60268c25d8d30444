//! The jbd2 journal inside an ext4 file system: checking that it is empty
//! and resetting it to the state any clean unmount leaves.
//!
//! A journal's contents depend on how many transactions the kernel
//! committed (one every few seconds of wall time) and where the log
//! wrapped; its superblock's `s_sequence` counts those transactions. Once
//! the journal is empty (`s_start == 0`), none of that is ever read again:
//! the blocks after the journal superblock are punched out and the next
//! sequence is set to 1. All jbd2 integers are big-endian.

use crate::canonical::CanonicalizeError;
use crate::fs::bytes::{be32_at, put_be32, u32_at};
use crate::fs::crc32c::crc32c;
use crate::fs::ext4::Geometry;
use crate::fs::ext4::extents::{self, Extent};
use crate::fs::ext4::inode::{BLOCK, BLOCK_LEN, EXTENTS_FL, FLAGS};
use crate::fs::region::Region;

const JBD2_MAGIC: u32 = 0xC03B_3998;
const SUPERBLOCK_V1: u32 = 3;
const SUPERBLOCK_V2: u32 = 4;
const S_SEQUENCE: usize = 0x18;
const S_START: usize = 0x1C;
const S_FEATURE_INCOMPAT: usize = 0x28;
const S_CHECKSUM: usize = 0xFC;
const INCOMPAT_CSUM_V2: u32 = 0x8;
const INCOMPAT_CSUM_V3: u32 = 0x10;
/// `sizeof(journal_superblock_t)`, what its checksum covers.
const SUPERBLOCK_LEN: usize = 1024;

/// An internal journal, located and checked to be empty.
pub struct Journal {
    /// The journal inode's extents.
    extents: Vec<Extent>,
    /// The journal superblock's byte offset in the file system.
    superblock: u64,
}

fn malformed(problem: String) -> CanonicalizeError {
    CanonicalizeError::Malformed(format!("ext4 journal: {problem}"))
}

impl Journal {
    /// Finds the journal of inode `journal_inode` (its bytes) and checks
    /// that it holds no transaction; changes nothing.
    pub fn open(
        fs: &Region<'_>,
        geo: &Geometry,
        journal_inode: &[u8],
        needs_recovery: bool,
    ) -> Result<Journal, CanonicalizeError> {
        if u32_at(journal_inode, FLAGS) & EXTENTS_FL == 0 {
            return Err(CanonicalizeError::Unsupported("an ext4 journal mapped by indirect blocks (ext3)".into()));
        }
        let mut found = Vec::new();
        extents::walk(fs, geo, &journal_inode[BLOCK..BLOCK + BLOCK_LEN], &mut |_, _| Ok(false), &mut |e| {
            found.push(e);
            Ok(())
        })?;
        let first = found
            .iter()
            .find(|e| e.logical == 0 && e.len > 0)
            .ok_or_else(|| malformed("no block 0 (the journal superblock)".into()))?;
        let superblock = geo
            .block_offset(first.physical)
            .ok_or_else(|| malformed(format!("superblock at block {}", first.physical)))?;
        let sb = fs.read_vec(superblock, SUPERBLOCK_LEN, "the jbd2 superblock")?;
        let blocktype = be32_at(&sb, 4);
        if be32_at(&sb, 0) != JBD2_MAGIC || !(blocktype == SUPERBLOCK_V1 || blocktype == SUPERBLOCK_V2) {
            return Err(malformed("no jbd2 superblock in the journal's first block".into()));
        }
        let (start, sequence) = (be32_at(&sb, S_START), be32_at(&sb, S_SEQUENCE));
        if start != 0 || needs_recovery {
            return Err(CanonicalizeError::JournalNotEmpty { start, sequence, needs_recovery });
        }
        Ok(Journal { extents: found, superblock })
    }

    /// Punches out every journal block after the superblock and sets the
    /// next sequence to 1, with the superblock's checksum recomputed when
    /// the journal has checksums. Returns the bytes punched.
    pub fn reset(&self, fs: &Region<'_>, geo: &Geometry) -> Result<u64, CanonicalizeError> {
        let mut punched = 0;
        for e in &self.extents {
            let (mut physical, mut len) = (e.physical, u64::from(e.len));
            if e.logical == 0 {
                physical += 1;
                len -= 1;
            }
            if len == 0 {
                continue;
            }
            if physical.checked_add(len).is_none_or(|end| end > geo.blocks_count) {
                return Err(malformed(format!("an extent of {len} blocks at block {physical}")));
            }
            fs.punch(physical * geo.block_size, len * geo.block_size, "ext4 journal blocks")?;
            punched += len * geo.block_size;
        }
        let mut sb = fs.read_vec(self.superblock, SUPERBLOCK_LEN, "the jbd2 superblock")?;
        put_be32(&mut sb, S_SEQUENCE, 1);
        let v2 = be32_at(&sb, 4) == SUPERBLOCK_V2;
        if v2 && be32_at(&sb, S_FEATURE_INCOMPAT) & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0 {
            put_be32(&mut sb, S_CHECKSUM, 0);
            let crc = crc32c(!0, &sb);
            put_be32(&mut sb, S_CHECKSUM, crc);
        }
        fs.write(self.superblock, &sb, "the jbd2 superblock")?;
        Ok(punched)
    }
}
