//! ext2/3/4 on-disk structures: the superblock's geometry, group
//! descriptors, inodes and their checksums, extent trees, and directory
//! blocks' checksums.
//!
//! The layout is the one of the kernel's
//! `Documentation/filesystems/ext4`; every integer is little-endian.
//! Checksums (`metadata_csum`) are CRC-32C chained from a file-system
//! seed; inode-owned structures (the inode, its extent-tree blocks, its
//! directory blocks) chain from the inode's own seed, which covers the
//! inode number and `i_generation`, so changing a generation means
//! rewriting all of them.

pub mod dir;
pub mod extents;
pub mod groups;
pub mod inode;
pub mod superblock;

pub use groups::GroupDesc;
pub use superblock::Geometry;

/// Where the superblock starts, in bytes from the start of the file system.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
/// The superblock's size in bytes.
pub const SUPERBLOCK_SIZE: usize = 1024;
/// The root directory's inode number.
pub const ROOT_INODE: u32 = 2;
