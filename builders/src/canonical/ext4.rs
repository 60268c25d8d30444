//! Canonicalizing an ext2/3/4 file system after a kernel wrote to it.
//!
//! In order, and only once the journal is known to be empty (so that a
//! file system that was not unmounted cleanly is refused unchanged):
//!
//! 1. every inode in use: times later than the epoch become the epoch
//!    (nanoseconds zero), earlier ones stay; `i_generation` (random on
//!    every kernel allocation) becomes 0, and with `metadata_csum` every
//!    checksum seeded by it is recomputed: the inode's, its extent-tree
//!    blocks', its directory blocks' (leaf tails and hash-tree tails);
//! 2. every free inode slot is zeroed (deletion leaves `dtime` and stale
//!    fields behind), except in groups whose inode table was never used
//!    (`INODE_UNINIT`);
//! 3. every block free in a block bitmap is punched out, so deleted data
//!    reads as zeros and takes no space;
//! 4. the journal is emptied ([`super::journal`]);
//! 5. the superblock's mount, write and check times are clamped, its
//!    count of kilobytes written zeroed, its checksum recomputed.
//!
//! Extended-attribute value inodes (`EA_INODE_FL`) keep their time fields,
//! which hold a hash and a reference count.

/// `EXT4_INDEX_FL`: the directory has a hash-tree index.
const INDEX_FL: u32 = 0x1000;

use super::journal::Journal;
use super::{CanonicalizeError, Summary};
use crate::fs::bytes::{put_u32, u16_at, u32_at};
use crate::fs::ext4::groups::{BLOCK_UNINIT, INODE_UNINIT};
use crate::fs::ext4::inode::{self, BLOCK, BLOCK_LEN, EA_INODE_FL, EXTENTS_FL, FLAGS, GENERATION, INLINE_DATA_FL};
use crate::fs::ext4::superblock::{INCOMPAT_RECOVER, RO_COMPAT_BIGALLOC};
use crate::fs::ext4::{Geometry, GroupDesc, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, dir, extents};
use crate::fs::region::Region;
use std::fs::File;
use std::ops::Range;

/// `RO_COMPAT_GDT_CSUM`: group descriptors have checksums and the
/// `*_UNINIT` flags mean something.
const RO_COMPAT_GDT_CSUM: u32 = 0x10;
/// Superblock time fields: (32-bit seconds, high byte).
const SUPERBLOCK_TIMES: [(usize, usize); 3] = [(0x2C, 0x275), (0x30, 0x274), (0x40, 0x277)];
/// `s_kbytes_written`.
const KBYTES_WRITTEN: usize = 0x178;
/// `s_checksum`.
const SUPERBLOCK_CHECKSUM: usize = 0x3FC;
/// How many bytes of inode table are read at once.
const TABLE_CHUNK: usize = 1 << 20;

/// Canonicalizes the ext2/3/4 file system in bytes `range` of `image`.
pub fn canonicalize(image: &File, range: Range<u64>, epoch: i64) -> Result<Summary, CanonicalizeError> {
    let fs = Region::new(image, range);
    let mut sb = [0u8; SUPERBLOCK_SIZE];
    fs.read(SUPERBLOCK_OFFSET, &mut sb, "the ext4 superblock")?;
    let geo = Geometry::parse(&sb)?;
    if geo.ro_compat & RO_COMPAT_BIGALLOC != 0 {
        return Err(CanonicalizeError::Unsupported("ext4 bigalloc".into()));
    }
    if geo.blocks_count.checked_mul(geo.block_size).is_none_or(|len| len > fs.len()) {
        return Err(CanonicalizeError::Malformed(format!(
            "ext4: {} blocks of {} bytes do not fit in the partition's {} bytes",
            geo.blocks_count,
            geo.block_size,
            fs.len()
        )));
    }
    let groups = GroupDesc::read_all(&fs, &geo)?;
    let pass = Pass { fs, geo: &geo, groups: &groups };
    let journal = match geo.journal_inum {
        0 => None,
        ino => Some(Journal::open(&fs, &geo, &pass.read_inode(ino)?, geo.incompat & INCOMPAT_RECOVER != 0)?),
    };
    let mut summary = Summary::default();
    pass.inodes(epoch, &mut summary)?;
    pass.free_blocks(&mut summary)?;
    if let Some(journal) = journal {
        summary.bytes_punched += journal.reset(&fs, &geo)?;
    }
    superblock(&fs, &geo, &mut sb, epoch)?;
    Ok(summary)
}

/// Clamps the superblock's times, zeroes `s_kbytes_written` and
/// recomputes its checksum; writes it if anything changed.
fn superblock(
    fs: &Region<'_>,
    geo: &Geometry,
    sb: &mut [u8; SUPERBLOCK_SIZE],
    epoch: i64,
) -> Result<(), CanonicalizeError> {
    let original = *sb;
    let epoch = epoch.clamp(0, (1 << 40) - 1);
    for (low, high) in SUPERBLOCK_TIMES {
        let time = i64::from(u32_at(sb, low)) | (i64::from(sb[high]) << 32);
        if time > epoch {
            put_u32(sb, low, epoch as u32);
            sb[high] = (epoch >> 32) as u8;
        }
    }
    sb[KBYTES_WRITTEN..KBYTES_WRITTEN + 8].fill(0);
    if geo.csum_seed.is_some() {
        let checksum = Geometry::superblock_checksum(sb);
        put_u32(sb, SUPERBLOCK_CHECKSUM, checksum);
    }
    if *sb != original {
        fs.write(SUPERBLOCK_OFFSET, sb, "the ext4 superblock")?;
    }
    Ok(())
}

/// One pass over a file system whose geometry is known.
struct Pass<'a> {
    fs: Region<'a>,
    geo: &'a Geometry,
    groups: &'a [GroupDesc],
}

impl Pass<'_> {
    /// Whether the `*_UNINIT` group flags are meaningful.
    fn uninit_flags(&self) -> bool {
        self.geo.ro_compat & RO_COMPAT_GDT_CSUM != 0 || self.geo.csum_seed.is_some()
    }

    fn block_offset(&self, block: u64, what: &str) -> Result<u64, CanonicalizeError> {
        self.geo
            .block_offset(block)
            .ok_or_else(|| CanonicalizeError::Malformed(format!("ext4: {what} at block {block}, past the end")))
    }

    fn read_block(&self, block: u64, what: &str) -> Result<Vec<u8>, CanonicalizeError> {
        self.fs.read_vec(self.block_offset(block, what)?, self.geo.block_size as usize, what)
    }

    fn read_inode(&self, ino: u32) -> Result<Vec<u8>, CanonicalizeError> {
        let (group, index) = self
            .geo
            .inode_position(ino)
            .ok_or_else(|| CanonicalizeError::Malformed(format!("ext4: inode {ino} does not exist")))?;
        let table = self.block_offset(self.groups[group as usize].inode_table, "an inode table")?;
        let size = self.geo.inode_size;
        self.fs.read_vec(table + u64::from(index) * size as u64, size, "an inode")
    }

    /// Canonicalizes every inode slot that was ever used.
    fn inodes(&self, epoch: i64, summary: &mut Summary) -> Result<(), CanonicalizeError> {
        let geo = self.geo;
        let size = geo.inode_size;
        let per_chunk = (TABLE_CHUNK.max(geo.block_size as usize) / size) as u32;
        for (g, desc) in self.groups.iter().enumerate() {
            let first_ino = g as u32 * geo.inodes_per_group + 1;
            // The slots past `bg_itable_unused` are read too: e2fsck lowers
            // that mark over inodes freed at the end of the table, which
            // keep their stale fields.
            let used = geo.inodes_per_group.min(geo.inodes_count.saturating_sub(first_ino - 1));
            if self.uninit_flags() && desc.flags & INODE_UNINIT != 0 {
                continue;
            }
            if used == 0 {
                continue;
            }
            let bitmap = self.read_block(desc.inode_bitmap, "an inode bitmap")?;
            let table = self.block_offset(desc.inode_table, "an inode table")?;
            let mut index = 0;
            while index < used {
                let count = per_chunk.min(used - index);
                let offset = table + u64::from(index) * size as u64;
                let mut chunk = self.fs.read_vec(offset, count as usize * size, "an inode table")?;
                let original = chunk.clone();
                for (i, slot) in chunk.chunks_exact_mut(size).enumerate() {
                    let at = index as usize + i;
                    let ino = first_ino + at as u32;
                    if bitmap[at / 8] & (1 << (at % 8)) != 0 {
                        if self.inode(ino, slot, epoch, summary)? {
                            summary.items_changed += 1;
                        }
                    } else if slot.iter().any(|&b| b != 0) {
                        slot.fill(0);
                        summary.items_cleared += 1;
                    }
                }
                self.write_changed(offset, &original, &chunk)?;
                index += count;
            }
        }
        Ok(())
    }

    /// Writes the blocks of `new` that differ from `old`, so that untouched
    /// parts of a sparse image stay holes.
    fn write_changed(&self, offset: u64, old: &[u8], new: &[u8]) -> Result<(), CanonicalizeError> {
        let step = self.geo.block_size as usize;
        for (i, (a, b)) in old.chunks(step).zip(new.chunks(step)).enumerate() {
            if a != b {
                self.fs.write(offset + (i * step) as u64, b, "an inode table")?;
            }
        }
        Ok(())
    }

    /// Canonicalizes one inode in use; returns whether it changed.
    fn inode(&self, ino: u32, slot: &mut [u8], epoch: i64, summary: &mut Summary) -> Result<bool, CanonicalizeError> {
        let flags = u32_at(slot, FLAGS);
        let mut changed = flags & EA_INODE_FL == 0 && inode::clamp_times(slot, epoch);
        if u32_at(slot, GENERATION) != 0 {
            put_u32(slot, GENERATION, 0);
            changed = true;
            if let Some(seed) = self.geo.csum_seed {
                self.reseal_owned_blocks(ino, slot, inode::inode_seed(seed, ino, 0), summary)?;
            }
        }
        if changed && let Some(seed) = self.geo.csum_seed {
            inode::set_checksum(seed, ino, slot);
        }
        Ok(changed)
    }

    /// Recomputes the checksums of the blocks an inode owns (extent-tree
    /// blocks; directory blocks) from its new seed.
    fn reseal_owned_blocks(
        &self,
        ino: u32,
        slot: &[u8],
        seed: u32,
        summary: &mut Summary,
    ) -> Result<(), CanonicalizeError> {
        let flags = u32_at(slot, FLAGS);
        let is_dir = u16_at(slot, inode::MODE) & 0o170000 == inode::S_IFDIR;
        if flags & INLINE_DATA_FL != 0 {
            return Ok(());
        }
        if flags & EXTENTS_FL == 0 {
            if is_dir {
                return Err(CanonicalizeError::Unsupported(format!(
                    "ext4: directory inode {ino} is mapped by indirect blocks on a metadata_csum file system"
                )));
            }
            return Ok(());
        }
        let mut rewritten = 0;
        let mut dir_extents = Vec::new();
        extents::walk(
            &self.fs,
            self.geo,
            &slot[BLOCK..BLOCK + BLOCK_LEN],
            &mut |_, block| {
                extents::set_tail(seed, block)?;
                rewritten += 1;
                Ok(true)
            },
            &mut |e| {
                if is_dir && !e.unwritten {
                    dir_extents.push(e);
                }
                Ok(())
            },
        )
        .map_err(|e| match e {
            CanonicalizeError::Malformed(problem) => CanonicalizeError::Malformed(format!("inode {ino}: {problem}")),
            other => other,
        })?;
        for e in dir_extents {
            for block in e.physical..e.physical.saturating_add(u64::from(e.len)) {
                let offset = self.block_offset(block, "a directory block")?;
                let mut data = self.read_block(block, "a directory block")?;
                if dir::set_checksum(seed, &mut data, flags & INDEX_FL != 0) {
                    self.fs.write(offset, &data, "a directory block")?;
                    rewritten += 1;
                }
            }
        }
        summary.blocks_rewritten += rewritten;
        Ok(())
    }

    /// Punches out every block a block bitmap marks free.
    fn free_blocks(&self, summary: &mut Summary) -> Result<(), CanonicalizeError> {
        let geo = self.geo;
        for (g, desc) in self.groups.iter().enumerate() {
            if self.uninit_flags() && desc.flags & BLOCK_UNINIT != 0 {
                continue;
            }
            let bitmap = self.read_block(desc.block_bitmap, "a block bitmap")?;
            let first = geo.first_data_block + g as u64 * geo.blocks_per_group;
            let count = geo.blocks_per_group.min(geo.blocks_count - first);
            let mut run: Option<u64> = None;
            for i in 0..=count {
                let free = i < count && bitmap[(i / 8) as usize] & (1 << (i % 8)) == 0;
                match (free, run) {
                    (true, None) => run = Some(i),
                    (false, Some(start)) => {
                        let len = (i - start) * geo.block_size;
                        self.fs.punch((first + start) * geo.block_size, len, "free ext4 blocks")?;
                        summary.bytes_punched += len;
                        run = None;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
