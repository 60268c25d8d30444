//! Directory blocks: entries, and the checksums of leaf blocks
//! (`ext4_dir_entry_tail`) and hash-tree nodes (`dx_tail`).

use crate::fs::bytes::{put_u32, u16_at, u32_at};
use crate::fs::crc32c::crc32c;

/// The file-type byte of the tail that holds a leaf block's checksum.
const TAIL_FT: u8 = 0xDE;
/// The size of a leaf block's checksum tail.
const TAIL_LEN: usize = 12;

/// A directory entry's `rec_len`, decoded for the block size (64 KiB
/// blocks store 65536 as 0 or 65535).
pub fn rec_len(block: &[u8], at: usize) -> usize {
    let len = usize::from(u16_at(block, at + 4));
    if block.len() >= 65536 && (len == 65535 || len == 0) {
        return 65536;
    }
    (len & 65532) | ((len & 3) << 16)
}

/// The entries of a directory leaf block: (inode, name), deleted entries
/// (inode 0) left out. Stops at the first entry that does not fit.
pub fn entries(block: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= block.len() {
        let len = rec_len(block, at);
        if len < 8 || at + len > block.len() {
            break;
        }
        let name_len = usize::from(block[at + 6]);
        let ino = u32_at(block, at);
        if ino != 0
            && let Some(name) = block.get(at + 8..at + 8 + name_len)
        {
            out.push((ino, name));
        }
        at += len;
    }
    out
}

/// What kind of checksummed directory block this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirBlock {
    /// A leaf block with its checksum tail in the last 12 bytes.
    Leaf,
    /// A hash-tree root or interior node: `count_offset` is where its
    /// `limit` and `count` fields are (32 for the root, 8 for a node),
    /// `tail` where its `dx_tail` starts.
    Index {
        /// Where the `limit`/`count` pair is.
        count_offset: usize,
        /// How many entries are in use.
        count: usize,
        /// Where the `dx_tail` is.
        tail: usize,
    },
}

/// Recognises a hash-tree node by its fake directory entries (only in a
/// directory with the index flag: a block that was a leaf before the
/// directory was indexed keeps its old leaf tail, so an indexed
/// directory's blocks are tried as nodes first), or a leaf block by its
/// tail; `None` for a block with no room for a checksum.
pub fn classify(block: &[u8], indexed: bool) -> Option<DirBlock> {
    let size = block.len();
    if size < 1024 {
        return None;
    }
    if indexed && let Some(node) = index_node(block) {
        return Some(node);
    }
    let t = size - TAIL_LEN;
    if u32_at(block, t) == 0 && u16_at(block, t + 4) == TAIL_LEN as u16 && block[t + 6] == 0 && block[t + 7] == TAIL_FT
    {
        return Some(DirBlock::Leaf);
    }
    None
}

/// A hash-tree root (`.` and `..` entries, then the root info) or
/// interior node (one empty entry spanning the block).
fn index_node(block: &[u8]) -> Option<DirBlock> {
    let size = block.len();
    let count_offset = if rec_len(block, 0) == size {
        8
    } else if rec_len(block, 0) == 12 {
        if rec_len(block, 12) != size - 12 || u32_at(block, 24) != 0 || block[29] != 8 {
            return None;
        }
        32
    } else {
        return None;
    };
    let limit = usize::from(u16_at(block, count_offset));
    let count = usize::from(u16_at(block, count_offset + 2));
    let tail = count_offset + limit * 8;
    (count <= limit && tail + 8 <= size).then_some(DirBlock::Index { count_offset, count, tail })
}

/// Recomputes a directory block's checksum from its inode's seed
/// (`indexed`: the directory has the hash-tree index flag). Returns
/// `false` (and changes nothing) if the block has no checksum.
pub fn set_checksum(inode_seed: u32, block: &mut [u8], indexed: bool) -> bool {
    match classify(block, indexed) {
        Some(DirBlock::Leaf) => {
            let t = block.len() - TAIL_LEN;
            let crc = crc32c(inode_seed, &block[..t]);
            put_u32(block, t + 8, crc);
            true
        }
        Some(DirBlock::Index { count_offset, count, tail }) => {
            let mut crc = crc32c(inode_seed, &block[..count_offset + count * 8]);
            crc = crc32c(crc, &block[tail..tail + 4]);
            crc = crc32c(crc, &[0; 4]);
            put_u32(block, tail + 4, crc);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::bytes::put_u16;

    /// A hash-tree root as the kernel leaves it when it indexes a
    /// directory: the block's last 12 bytes still hold the tail of the
    /// leaf it was.
    fn root_with_stale_leaf_tail() -> Vec<u8> {
        let mut block = vec![0u8; 1024];
        put_u32(&mut block, 0, 2);
        put_u16(&mut block, 4, 12);
        block[6] = 1;
        block[8] = b'.';
        put_u32(&mut block, 12, 2);
        put_u16(&mut block, 16, 1012);
        block[18] = 2;
        block[20..22].copy_from_slice(b"..");
        block[29] = 8;
        put_u16(&mut block, 32, 123);
        put_u16(&mut block, 34, 1);
        put_u16(&mut block, 1016, 12);
        block[1019] = TAIL_FT;
        block
    }

    #[test]
    fn an_indexed_directory_root_is_a_node_despite_a_stale_leaf_tail() {
        let block = root_with_stale_leaf_tail();
        assert_eq!(classify(&block, true), Some(DirBlock::Index { count_offset: 32, count: 1, tail: 1016 }));
        assert_eq!(classify(&block, false), Some(DirBlock::Leaf));
    }
}
