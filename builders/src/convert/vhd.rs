//! VHD (qemu's `vpc`): the footer's timestamp and unique id.
//!
//! A VHD ends with a 512-byte footer (big-endian fields): `conectix`,
//! features, version, data offset, **timestamp** (offset 24, seconds since
//! 2000-01-01 UTC), creator application (`qem2`: qemu with `force_size`),
//! creator version and host, original and current size, geometry, disk type
//! (2 fixed, 3 dynamic), **checksum** (offset 64: the one's complement of
//! the byte sum of the footer without it) and **unique id** (offset 68, 16
//! bytes). qemu-img fills the timestamp from the clock and the id at random.
//! A dynamic VHD also starts with a copy of the footer; its dynamic header
//! (at the footer's data offset) holds only parent fields, which are zero
//! without a parent, and is left alone.
//!
//! qemu-img has no checker for VHDs, so [`verify`] checks what the patch
//! relies on and what Azure requires of a fixed disk.

use crate::builder::BuildError;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

const FOOTER: u64 = 512;
const COOKIE: &[u8; 8] = b"conectix";
const TIMESTAMP: usize = 24;
const CURRENT_SIZE: usize = 48;
const DISK_TYPE: usize = 60;
const CHECKSUM: usize = 64;
const UNIQUE_ID: usize = 68;
const DYNAMIC_COOKIE: &[u8; 8] = b"cxsparse";
/// 2000-01-01T00:00:00Z, the epoch of VHD timestamps, in Unix time.
const VHD_EPOCH: i64 = 946_684_800;

/// The footer timestamp for a `sourceDateEpoch`: seconds since 2000,
/// clamped to the field (dates before 2000, such as the default 1980, are 0).
pub(super) fn timestamp(source_date_epoch: i64) -> u32 {
    u32::try_from((source_date_epoch - VHD_EPOCH).max(0)).unwrap_or(u32::MAX)
}

/// The footer checksum: the one's complement of the sum of its bytes, the
/// checksum field counted as zero.
fn checksum(footer: &[u8; 512]) -> u32 {
    let sum = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(CHECKSUM..CHECKSUM + 4).contains(i))
        .fold(0u32, |sum, (_, b)| sum.wrapping_add(u32::from(*b)));
    !sum
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn be64(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn invalid(what: impl std::fmt::Display) -> BuildError {
    BuildError::Failed(format!("qemu-img wrote an unexpected VHD: {what}"))
}

/// Reads the footer at the end of the file, checking cookie and checksum.
fn read_footer(file: &File, image: &Path) -> Result<(u64, [u8; 512]), BuildError> {
    let len = file.metadata().map_err(|e| BuildError::io("inspecting", image, e))?.len();
    if len < FOOTER || !len.is_multiple_of(FOOTER) {
        return Err(invalid(format!("its length {len} is not a whole number of sectors")));
    }
    let mut footer = [0u8; 512];
    file.read_exact_at(&mut footer, len - FOOTER).map_err(|e| BuildError::io("reading the footer of", image, e))?;
    if &footer[..8] != COOKIE {
        return Err(invalid("no footer at its end"));
    }
    if be32(&footer, CHECKSUM) != checksum(&footer) {
        return Err(invalid("the footer's checksum is wrong"));
    }
    Ok((len, footer))
}

/// Sets the timestamp and unique id of the footer, and of its copy at the
/// start of a dynamic VHD, and recomputes their checksums.
pub(super) fn patch(image: &Path, timestamp: u32, unique_id: [u8; 16]) -> Result<(), BuildError> {
    let file =
        OpenOptions::new().read(true).write(true).open(image).map_err(|e| BuildError::io("opening", image, e))?;
    let (len, original) = read_footer(&file, image)?;
    let mut footer = original;
    footer[TIMESTAMP..TIMESTAMP + 4].copy_from_slice(&timestamp.to_be_bytes());
    footer[UNIQUE_ID..UNIQUE_ID + 16].copy_from_slice(&unique_id);
    let sum = checksum(&footer);
    footer[CHECKSUM..CHECKSUM + 4].copy_from_slice(&sum.to_be_bytes());
    let dynamic = be32(&original, DISK_TYPE) == 3;
    if dynamic {
        let mut copy = [0u8; 512];
        file.read_exact_at(&mut copy, 0).map_err(|e| BuildError::io("reading the footer copy of", image, e))?;
        if copy != original {
            return Err(invalid("the footer's copy at the start differs from the footer"));
        }
        file.write_all_at(&footer, 0).map_err(|e| BuildError::io("writing the footer copy of", image, e))?;
    }
    file.write_all_at(&footer, len - FOOTER).map_err(|e| BuildError::io("writing the footer of", image, e))
}

/// Checks the patched image: a valid footer (and copy and dynamic header
/// for a dynamic VHD) of the right type and current size; a fixed VHD is
/// exactly that size plus its footer.
pub(super) fn verify(image: &Path, virtual_size: u64, fixed: bool) -> Result<(), BuildError> {
    let file = File::open(image).map_err(|e| BuildError::io("opening", image, e))?;
    let (len, footer) = read_footer(&file, image)?;
    let disk_type = be32(&footer, DISK_TYPE);
    if disk_type != if fixed { 2 } else { 3 } {
        return Err(invalid(format!("disk type {disk_type}")));
    }
    if be64(&footer, CURRENT_SIZE) != virtual_size {
        return Err(invalid(format!("its current size is {}, not {virtual_size}", be64(&footer, CURRENT_SIZE))));
    }
    if fixed {
        if len != virtual_size + FOOTER {
            return Err(invalid(format!("a fixed disk of {virtual_size} bytes is {len} bytes long")));
        }
        if !virtual_size.is_multiple_of(1 << 20) {
            return Err(invalid("a fixed disk's size is not a whole number of MiB"));
        }
        return Ok(());
    }
    let mut copy = [0u8; 512];
    file.read_exact_at(&mut copy, 0).map_err(|e| BuildError::io("reading the footer copy of", image, e))?;
    if copy != footer {
        return Err(invalid("the footer's copy differs from the footer"));
    }
    let mut header = [0u8; 1024];
    file.read_exact_at(&mut header, be64(&footer, 16))
        .map_err(|e| BuildError::io("reading the dynamic header of", image, e))?;
    let sum = header
        .iter()
        .enumerate()
        .filter(|(i, _)| !(36..40).contains(i))
        .fold(0u32, |s, (_, b)| s.wrapping_add(u32::from(*b)));
    if &header[..8] != DYNAMIC_COOKIE || be32(&header, 36) != !sum {
        return Err(invalid("its dynamic header is missing or its checksum is wrong"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_count_from_2000_and_clamp() {
        assert_eq!(timestamp(VHD_EPOCH + 5), 5);
        assert_eq!(timestamp(crate::builder::DEFAULT_SOURCE_DATE_EPOCH), 0);
        assert_eq!(timestamp(i64::MAX), u32::MAX);
    }

    #[test]
    fn checksum_ignores_its_own_field() {
        let mut footer = [0u8; 512];
        footer[..8].copy_from_slice(COOKIE);
        let sum = checksum(&footer);
        assert_eq!(sum, !(b"conectix".iter().map(|b| u32::from(*b)).sum::<u32>()));
        footer[CHECKSUM..CHECKSUM + 4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(checksum(&footer), sum);
    }
}
