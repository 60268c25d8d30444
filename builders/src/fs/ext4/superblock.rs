//! The superblock: validated geometry and feature flags.

use super::SUPERBLOCK_SIZE;
use crate::canonical::CanonicalizeError;
use crate::fs::bytes::{u16_at, u32_at};
use crate::fs::crc32c::crc32c;

/// `s_magic` of ext2, ext3 and ext4.
pub const MAGIC: u16 = 0xEF53;
/// Offset of `s_magic` in the superblock.
pub const MAGIC_OFFSET: usize = 0x38;
/// `INCOMPAT_RECOVER`: the journal needs replaying.
pub const INCOMPAT_RECOVER: u32 = 0x4;
/// `INCOMPAT_META_BG`: group descriptors spread over the disk.
pub const INCOMPAT_META_BG: u32 = 0x10;
/// `INCOMPAT_64BIT`: 64-bit block numbers and larger group descriptors.
pub const INCOMPAT_64BIT: u32 = 0x80;
/// `INCOMPAT_CSUM_SEED`: the checksum seed is stored, not derived.
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
/// `INCOMPAT_INLINE_DATA`: small files and directories inside the inode.
pub const INCOMPAT_INLINE_DATA: u32 = 0x8000;
/// `RO_COMPAT_BIGALLOC`: bitmaps count clusters, not blocks.
pub const RO_COMPAT_BIGALLOC: u32 = 0x200;
/// `RO_COMPAT_METADATA_CSUM`: metadata carries CRC-32C checksums.
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
/// `COMPAT_HAS_JOURNAL`.
pub const COMPAT_HAS_JOURNAL: u32 = 0x4;

/// The layout of one file system, from its superblock, checked for
/// consistency so that later arithmetic cannot overflow or index out of
/// bounds.
#[derive(Clone, Debug)]
pub struct Geometry {
    /// Bytes per block (1 KiB to 64 KiB).
    pub block_size: u64,
    /// Blocks in the file system.
    pub blocks_count: u64,
    /// The block holding the superblock (1 with 1 KiB blocks, else 0).
    pub first_data_block: u64,
    /// Blocks per group.
    pub blocks_per_group: u64,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// Inodes in the file system.
    pub inodes_count: u32,
    /// Bytes per inode-table slot.
    pub inode_size: usize,
    /// Bytes per group descriptor.
    pub desc_size: usize,
    /// Number of block groups.
    pub groups: u32,
    /// `s_feature_incompat`.
    pub incompat: u32,
    /// `s_feature_ro_compat`.
    pub ro_compat: u32,
    /// The `metadata_csum` seed, if metadata carries checksums.
    pub csum_seed: Option<u32>,
    /// The journal's inode (0: none, or an external journal).
    pub journal_inum: u32,
}

fn malformed(problem: impl Into<String>) -> CanonicalizeError {
    CanonicalizeError::Malformed(format!("ext4 superblock: {}", problem.into()))
}

impl Geometry {
    /// Reads the geometry from a superblock's 1024 bytes.
    pub fn parse(sb: &[u8; SUPERBLOCK_SIZE]) -> Result<Geometry, CanonicalizeError> {
        if u16_at(sb, MAGIC_OFFSET) != MAGIC {
            return Err(malformed("no ext2/3/4 magic number"));
        }
        let log_block_size = u32_at(sb, 0x18);
        if log_block_size > 6 {
            return Err(malformed(format!("block size 2^(10+{log_block_size}) is out of range")));
        }
        let block_size = 1024u64 << log_block_size;
        let rev_level = u32_at(sb, 0x4C);
        let inode_size = if rev_level == 0 { 128 } else { usize::from(u16_at(sb, 0x58)) };
        if inode_size < 128 || !inode_size.is_power_of_two() || inode_size as u64 > block_size {
            return Err(malformed(format!("inode size {inode_size} is not valid")));
        }
        let compat = u32_at(sb, 0x5C);
        let incompat = if rev_level == 0 { 0 } else { u32_at(sb, 0x60) };
        let ro_compat = if rev_level == 0 { 0 } else { u32_at(sb, 0x64) };
        let high = incompat & INCOMPAT_64BIT != 0;
        let blocks_count = u64::from(u32_at(sb, 0x4)) | if high { u64::from(u32_at(sb, 0x150)) << 32 } else { 0 };
        let first_data_block = u64::from(u32_at(sb, 0x14));
        let blocks_per_group = u64::from(u32_at(sb, 0x20));
        let inodes_per_group = u32_at(sb, 0x28);
        let inodes_count = u32_at(sb, 0x0);
        let bits_per_block = block_size * 8;
        if blocks_per_group == 0 || blocks_per_group > bits_per_block {
            return Err(malformed(format!("{blocks_per_group} blocks per group")));
        }
        if inodes_per_group == 0 || u64::from(inodes_per_group) > bits_per_block {
            return Err(malformed(format!("{inodes_per_group} inodes per group")));
        }
        if first_data_block > 1 || blocks_count <= first_data_block {
            return Err(malformed(format!("{blocks_count} blocks, the first at {first_data_block}")));
        }
        let groups = (blocks_count - first_data_block).div_ceil(blocks_per_group);
        let groups = u32::try_from(groups).map_err(|_| malformed(format!("{groups} block groups")))?;
        let slots = u64::from(groups) * u64::from(inodes_per_group);
        if slots < u64::from(inodes_count) || slots > u64::from(u32::MAX) {
            return Err(malformed(format!("{inodes_count} inodes in {groups} groups of {inodes_per_group}")));
        }
        let desc_size = if high { usize::from(u16_at(sb, 0xFE)) } else { 32 };
        if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
            return Err(malformed(format!("group descriptor size {desc_size}")));
        }
        let csum_seed = (ro_compat & RO_COMPAT_METADATA_CSUM != 0)
            .then(|| if incompat & INCOMPAT_CSUM_SEED != 0 { u32_at(sb, 0x270) } else { crc32c(!0, &sb[0x68..0x78]) });
        let journal_inum = if compat & COMPAT_HAS_JOURNAL != 0 { u32_at(sb, 0xE0) } else { 0 };
        Ok(Geometry {
            block_size,
            blocks_count,
            first_data_block,
            blocks_per_group,
            inodes_per_group,
            inodes_count,
            inode_size,
            desc_size,
            groups,
            incompat,
            ro_compat,
            csum_seed,
            journal_inum,
        })
    }

    /// The byte offset of block `block`, if the file system has it.
    pub fn block_offset(&self, block: u64) -> Option<u64> {
        (block < self.blocks_count).then(|| block * self.block_size)
    }

    /// Where inode `ino` lives: its group and its index in the group.
    pub fn inode_position(&self, ino: u32) -> Option<(u32, u32)> {
        let index = ino.checked_sub(1)?;
        let group = index / self.inodes_per_group;
        (ino <= self.inodes_count && group < self.groups).then_some((group, index % self.inodes_per_group))
    }

    /// The superblock checksum: CRC-32C of everything before `s_checksum`.
    pub fn superblock_checksum(sb: &[u8; SUPERBLOCK_SIZE]) -> u32 {
        crc32c(!0, &sb[..0x3FC])
    }
}
