//! On-disk structures read and changed in image files, without mounting.
//!
//! Shared by the `disk` builder, which fixes up the inodes `mkfs.ext4 -d`
//! wrote, and by [`crate::canonical`], which makes a file system written by
//! a kernel reproducible. Everything here treats the image as untrusted:
//! every offset taken from the image is bounds-checked before it is used.

pub mod bytes;
pub mod crc32c;
pub mod ext4;
pub mod region;
