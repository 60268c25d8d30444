//! The hash of an object computed from its bytes as they are written, for
//! writers that create an object themselves (the binary cache's unpacker)
//! and should not read it back to learn its name.
//!
//! These are the same encodings as [`hash_path`](super::hash_path) uses on
//! a tree that already exists (it is built from them), so both agree by
//! construction.

use rayon::prelude::*;

use super::{BLOCK_LEN, DIRECTORY_DOMAIN, EXECUTABLE_DOMAIN, FILE_DOMAIN, SYMLINK_DOMAIN, TAG_EXECUTABLE};
use super::{ObjectHash, feed_hole_blocks, len64};

/// Below this many bytes, a batch of blocks is hashed on the calling thread.
const PARALLEL_FROM: usize = 4 * BLOCK_LEN as usize;

/// `file(F)` of a file of known length, fed its data blocks in increasing
/// order; every block not fed is a hole (zeros).
#[derive(Debug)]
pub struct ContentHasher {
    outer: blake3::Hasher,
    len: u64,
    /// The first block not yet fed.
    next: u64,
}

impl ContentHasher {
    /// A hasher for a file of `len` bytes.
    pub fn new(len: u64) -> ContentHasher {
        let mut outer = blake3::Hasher::new();
        outer.update(FILE_DOMAIN);
        outer.update(&len.to_le_bytes());
        ContentHasher { outer, len, next: 0 }
    }

    /// The number of blocks of the file.
    fn blocks_total(&self) -> u64 {
        self.len.div_ceil(BLOCK_LEN)
    }

    /// Feeds the bytes of blocks `first, first + 1, …`: `data` is a whole
    /// number of blocks, except that it stops at the file's end. Blocks
    /// between the last ones fed and `first` are holes. Large batches are
    /// hashed in parallel on rayon's pool.
    ///
    /// # Panics
    /// If the blocks are not after the ones fed before, or reach past the
    /// file's end, or `data` does not end on a block boundary before the
    /// file's end: the caller's bookkeeping is wrong, and a hash from it
    /// would be too.
    pub fn blocks(&mut self, first: u64, data: &[u8]) {
        let count = len64(data.len()).div_ceil(BLOCK_LEN);
        let end = first * BLOCK_LEN + len64(data.len());
        assert!(first >= self.next, "blocks fed out of order");
        assert!(
            end <= self.len && (end == self.len || end.is_multiple_of(BLOCK_LEN)),
            "blocks that do not end on a block boundary or past the file"
        );
        if first > self.next {
            feed_hole_blocks(&mut self.outer, first - self.next, false, self.len);
        }
        let block = BLOCK_LEN as usize;
        if data.len() < PARALLEL_FROM {
            for chunk in data.chunks(block) {
                self.outer.update(blake3::hash(chunk).as_bytes());
            }
        } else {
            let digests: Vec<[u8; 32]> = data.par_chunks(block).map(|chunk| *blake3::hash(chunk).as_bytes()).collect();
            for digest in &digests {
                self.outer.update(digest);
            }
        }
        self.next = first + count;
    }

    /// Feeds the digests of blocks `first, first + 1, …`, each the
    /// [`block_digest`] of a whole block's bytes, for a writer that hashed
    /// the blocks itself (in parallel, or before the blocks in front of
    /// them were known). The same order rules hold as for
    /// [`ContentHasher::blocks`]; a short last block cannot be fed this way.
    ///
    /// # Panics
    /// If the blocks are not after the ones fed before, or reach past the
    /// file's last whole block.
    pub fn block_digests(&mut self, first: u64, digests: &[[u8; 32]]) {
        assert!(first >= self.next, "blocks fed out of order");
        let end = first + len64(digests.len());
        assert!(end * BLOCK_LEN <= self.len, "block digests past the file's last whole block");
        if first > self.next {
            feed_hole_blocks(&mut self.outer, first - self.next, false, self.len);
        }
        for digest in digests {
            self.outer.update(digest);
        }
        self.next = end;
    }

    /// `file(F)`: the remaining blocks are holes.
    pub fn finish(mut self) -> [u8; 32] {
        let total = self.blocks_total();
        if total > self.next {
            feed_hole_blocks(&mut self.outer, total - self.next, true, self.len);
        }
        *self.outer.finalize().as_bytes()
    }
}

/// The digest of one whole block (`BLOCK_LEN` bytes) of a file, as
/// [`ContentHasher::block_digests`] takes it.
pub fn block_digest(block: &[u8]) -> [u8; 32] {
    *blake3::hash(block).as_bytes()
}

/// `symlink(t)`: the hash of a symbolic link with the target bytes `target`.
pub fn symlink_hash(target: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(SYMLINK_DOMAIN);
    hasher.update(&len64(target.len()).to_le_bytes());
    hasher.update(target);
    *hasher.finalize().as_bytes()
}

/// `directory`: fed its entries in increasing byte order of their names.
#[derive(Debug)]
pub struct DirectoryHasher(blake3::Hasher);

impl DirectoryHasher {
    /// A hasher for a directory of `count` entries.
    pub fn new(count: u64) -> DirectoryHasher {
        let mut hasher = blake3::Hasher::new();
        hasher.update(DIRECTORY_DOMAIN);
        hasher.update(&count.to_le_bytes());
        DirectoryHasher(hasher)
    }

    /// Feeds one entry: its tag ([`TAG_FILE`](super::TAG_FILE) and the
    /// others), its name and its hash (the content hash for files of either
    /// tag).
    pub fn entry(&mut self, tag: u8, name: &[u8], hash: &[u8; 32]) {
        self.0.update(&[tag]);
        self.0.update(&len64(name.len()).to_le_bytes());
        self.0.update(name);
        self.0.update(hash);
    }

    /// The directory's hash.
    pub fn finish(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// The hash that names a whole object whose top node has `tag` and the
/// node hash `hash`: an executable file's content hash is wrapped as
/// `executable(F)`, every other node is named by its own hash.
pub fn object_hash(tag: u8, hash: [u8; 32]) -> ObjectHash {
    if tag == TAG_EXECUTABLE {
        let mut hasher = blake3::Hasher::new();
        hasher.update(EXECUTABLE_DOMAIN);
        hasher.update(&hash);
        ObjectHash(*hasher.finalize().as_bytes())
    } else {
        ObjectHash(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::TempDir;
    use super::super::{hash_file, hash_path};
    use super::*;
    use std::fs;
    use std::os::unix::fs::FileExt;

    #[test]
    fn streamed_blocks_hash_like_the_file_on_disk() {
        let dir = TempDir::new("stream");
        let len = 40 * BLOCK_LEN + 1234;
        let path = dir.join("sparse");
        let file = fs::File::create(&path).unwrap();
        file.set_len(len).unwrap();
        let mut hasher = ContentHasher::new(len);
        // One block, then a parallel batch of 8 after a hole, then the short tail.
        let one = vec![7u8; BLOCK_LEN as usize];
        file.write_all_at(&one, 2 * BLOCK_LEN).unwrap();
        hasher.blocks(2, &one);
        let batch: Vec<u8> = (0..8 * BLOCK_LEN).map(|i| (i % 251) as u8).collect();
        file.write_all_at(&batch, 10 * BLOCK_LEN).unwrap();
        hasher.blocks(10, &batch);
        let tail = vec![9u8; 1234];
        file.write_all_at(&tail, 40 * BLOCK_LEN).unwrap();
        hasher.blocks(40, &tail);
        assert_eq!(hasher.finish(), hash_file(&path).unwrap().0);

        let holes_only = ContentHasher::new(len);
        let empty = dir.join("empty");
        fs::File::create(&empty).unwrap().set_len(len).unwrap();
        assert_eq!(holes_only.finish(), hash_file(&empty).unwrap().0);
    }

    #[test]
    fn a_tree_hashes_like_hash_path() {
        let dir = TempDir::new("stream-tree");
        let tree = dir.join("tree");
        fs::create_dir(&tree).unwrap();
        fs::write(tree.join("a"), b"alpha").unwrap();
        std::os::unix::fs::symlink("a", tree.join("b")).unwrap();
        let mut a = ContentHasher::new(5);
        a.blocks(0, b"alpha");
        let mut directory = DirectoryHasher::new(2);
        directory.entry(super::super::TAG_FILE, b"a", &a.finish());
        directory.entry(super::super::TAG_SYMLINK, b"b", &symlink_hash(b"a"));
        assert_eq!(object_hash(super::super::TAG_DIRECTORY, directory.finish()), hash_path(&tree).unwrap());
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn blocks_out_of_order_are_a_bug() {
        let mut hasher = ContentHasher::new(4 * BLOCK_LEN);
        hasher.blocks(2, &[0; BLOCK_LEN as usize]);
        hasher.blocks(1, &[0; BLOCK_LEN as usize]);
    }
}
