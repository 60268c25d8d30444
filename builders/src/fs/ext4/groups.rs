//! Group descriptors: where each group's bitmaps and inode table are, and
//! which parts the kernel has not initialised.

use super::Geometry;
use super::superblock::INCOMPAT_META_BG;
use crate::canonical::CanonicalizeError;
use crate::fs::bytes::{u16_at, u32_at};
use crate::fs::region::Region;

/// `INODE_UNINIT`: the group's inode bitmap and table were never used.
pub const INODE_UNINIT: u16 = 0x1;
/// `BLOCK_UNINIT`: the group's block bitmap was never written.
pub const BLOCK_UNINIT: u16 = 0x2;

/// One group's descriptor, as far as it is read here.
#[derive(Clone, Debug)]
pub struct GroupDesc {
    /// The block bitmap's block.
    pub block_bitmap: u64,
    /// The inode bitmap's block.
    pub inode_bitmap: u64,
    /// The inode table's first block.
    pub inode_table: u64,
    /// `bg_flags`.
    pub flags: u16,
}

impl GroupDesc {
    /// Reads every group descriptor (the table right after the superblock's
    /// block).
    pub fn read_all(fs: &Region<'_>, geo: &Geometry) -> Result<Vec<GroupDesc>, CanonicalizeError> {
        if geo.incompat & INCOMPAT_META_BG != 0 {
            return Err(CanonicalizeError::Unsupported("ext4 meta_bg group descriptors".into()));
        }
        let len = u64::from(geo.groups) * geo.desc_size as u64;
        if len > fs.len() {
            return Err(CanonicalizeError::Malformed(format!("ext4: {} group descriptors", geo.groups)));
        }
        let table = fs.read_vec((geo.first_data_block + 1) * geo.block_size, len as usize, "ext4 group descriptors")?;
        let high = geo.desc_size >= 64;
        let descs = table
            .chunks_exact(geo.desc_size)
            .map(|d| {
                let hi32 = |at: usize| if high { u64::from(u32_at(d, at)) << 32 } else { 0 };
                GroupDesc {
                    block_bitmap: u64::from(u32_at(d, 0x0)) | hi32(0x20),
                    inode_bitmap: u64::from(u32_at(d, 0x4)) | hi32(0x24),
                    inode_table: u64::from(u32_at(d, 0x8)) | hi32(0x28),
                    flags: u16_at(d, 0x12),
                }
            })
            .collect();
        Ok(descs)
    }
}
