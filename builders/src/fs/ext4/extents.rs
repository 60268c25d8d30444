//! Extent trees: walking them, and the checksum tail of their blocks.

use super::Geometry;
use crate::canonical::CanonicalizeError;
use crate::fs::bytes::{put_u32, u16_at, u32_at};
use crate::fs::crc32c::crc32c;
use crate::fs::region::Region;

/// `eh_magic` of every extent-tree node.
pub const EXTENT_MAGIC: u16 = 0xF30A;
/// The kernel never builds deeper trees.
const MAX_DEPTH: u16 = 5;
/// Extents longer than this are unwritten (preallocated) ones.
const INIT_MAX_LEN: u16 = 32768;

/// One leaf extent: `len` blocks from logical block `logical` at physical
/// block `physical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// The first logical block.
    pub logical: u32,
    /// The number of blocks.
    pub len: u32,
    /// The first physical block.
    pub physical: u64,
    /// Allocated but never written: reads as zeros.
    pub unwritten: bool,
}

/// Sees a tree block below the root (its block number, its bytes) and
/// says whether it changed the bytes.
pub type NodeVisitor<'a> = dyn FnMut(u64, &mut [u8]) -> Result<bool, CanonicalizeError> + 'a;
/// Sees a leaf extent.
pub type ExtentVisitor<'a> = dyn FnMut(Extent) -> Result<(), CanonicalizeError> + 'a;

fn malformed(problem: String) -> CanonicalizeError {
    CanonicalizeError::Malformed(format!("ext4 extent tree: {problem}"))
}

/// A node's header: (entries, max entries, depth), checked against the
/// node's size.
fn header(node: &[u8]) -> Result<(usize, usize, u16), CanonicalizeError> {
    if node.len() < 12 || u16_at(node, 0) != EXTENT_MAGIC {
        return Err(malformed("a node without the extent magic number".into()));
    }
    let (entries, max, depth) = (usize::from(u16_at(node, 2)), usize::from(u16_at(node, 4)), u16_at(node, 6));
    if entries > max || 12 + max * 12 > node.len() || depth > MAX_DEPTH {
        return Err(malformed(format!("a node claims {entries} of {max} entries at depth {depth}")));
    }
    Ok((entries, max, depth))
}

/// Walks the tree rooted in an inode's `i_block` (60 bytes). `node` sees
/// every tree block below the root, with its block number, and returns
/// whether it changed the bytes (then they are written back); `extent`
/// sees every leaf extent in order.
pub fn walk(
    fs: &Region<'_>,
    geo: &Geometry,
    root: &[u8],
    node: &mut NodeVisitor<'_>,
    extent: &mut ExtentVisitor<'_>,
) -> Result<(), CanonicalizeError> {
    // A tree can name the same block many times; no real tree has more
    // nodes than the file system has blocks.
    let mut budget = geo.blocks_count;
    walk_node(fs, geo, root, None, &mut budget, node, extent)
}

fn walk_node(
    fs: &Region<'_>,
    geo: &Geometry,
    data: &[u8],
    expected_depth: Option<u16>,
    budget: &mut u64,
    node: &mut NodeVisitor<'_>,
    extent: &mut ExtentVisitor<'_>,
) -> Result<(), CanonicalizeError> {
    let (entries, _, depth) = header(data)?;
    if expected_depth.is_some_and(|d| d != depth) {
        return Err(malformed(format!("a node at depth {depth} where {expected_depth:?} was expected")));
    }
    for i in 0..entries {
        let e = &data[12 + i * 12..24 + i * 12];
        if depth == 0 {
            let raw_len = u16_at(e, 4);
            let (len, unwritten) =
                if raw_len > INIT_MAX_LEN { (raw_len - INIT_MAX_LEN, true) } else { (raw_len, false) };
            let physical = (u64::from(u16_at(e, 6)) << 32) | u64::from(u32_at(e, 8));
            extent(Extent { logical: u32_at(e, 0), len: u32::from(len), physical, unwritten })?;
        } else {
            let child = u64::from(u32_at(e, 4)) | (u64::from(u16_at(e, 8)) << 32);
            *budget = budget.checked_sub(1).ok_or_else(|| malformed("more nodes than blocks".into()))?;
            let offset = geo.block_offset(child).ok_or_else(|| malformed(format!("a node at block {child}")))?;
            let mut block = fs.read_vec(offset, geo.block_size as usize, "an ext4 extent block")?;
            walk_node(fs, geo, &block, Some(depth - 1), budget, node, extent)?;
            if node(child, &mut block)? {
                fs.write(offset, &block, "an ext4 extent block")?;
            }
        }
    }
    Ok(())
}

/// Recomputes the checksum tail of a tree block (after its `eh_max`
/// entries) from the owning inode's seed.
pub fn set_tail(inode_seed: u32, block: &mut [u8]) -> Result<(), CanonicalizeError> {
    let (_, max, _) = header(block)?;
    let tail = 12 + max * 12;
    if tail + 4 > block.len() {
        return Err(malformed(format!("no room for the checksum after {max} entries")));
    }
    let crc = crc32c(inode_seed, &block[..tail]);
    put_u32(block, tail, crc);
    Ok(())
}
