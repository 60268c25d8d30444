//! Inode fields, timestamps and the inode checksum.

use crate::fs::bytes::{put_u16, put_u32, u16_at, u32_at};
use crate::fs::crc32c::crc32c;

/// `i_mode`.
pub const MODE: usize = 0x0;
/// `i_flags`.
pub const FLAGS: usize = 0x20;
/// `i_block`: the extent tree's root, or block map, or inline data.
pub const BLOCK: usize = 0x28;
/// The size of `i_block`.
pub const BLOCK_LEN: usize = 60;
/// `i_generation`.
pub const GENERATION: usize = 0x64;
/// `i_extra_isize`: how much of the inode past 128 bytes is in use.
pub const EXTRA_ISIZE: usize = 0x80;
/// The directory type bits of `i_mode`.
pub const S_IFDIR: u16 = 0o040000;
/// `EXT4_EXTENTS_FL`: `i_block` holds an extent tree.
pub const EXTENTS_FL: u32 = 0x80000;
/// `EXT4_EA_INODE_FL`: an inode holding an extended attribute's value,
/// whose time fields hold its hash and reference count instead of times.
pub const EA_INODE_FL: u32 = 0x200000;
/// `EXT4_INLINE_DATA_FL`.
pub const INLINE_DATA_FL: u32 = 0x10000000;

/// One timestamp: the seconds field and, in large inodes, the field with
/// two more epoch bits and the nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct TimeField {
    /// The 32-bit seconds (`i_atime`, …); `i_crtime` only exists in the
    /// extra space of large inodes.
    pub seconds: usize,
    /// The `_extra` field.
    pub extra: usize,
}

/// `atime`, `ctime`, `mtime` and `crtime`, with their `_extra` fields.
pub const TIMES: [TimeField; 4] = [
    TimeField { seconds: 0x8, extra: 0x8C },
    TimeField { seconds: 0xC, extra: 0x84 },
    TimeField { seconds: 0x10, extra: 0x88 },
    TimeField { seconds: 0x90, extra: 0x94 },
];

/// Whether an inode's extra space (`i_extra_isize`) reaches up to byte
/// `end` (exclusive).
pub fn has_extra(inode: &[u8], end: usize) -> bool {
    inode.len() > 128 && 128 + usize::from(u16_at(inode, EXTRA_ISIZE)) >= end && end <= inode.len()
}

/// The 32-bit seconds and the `_extra` value that encode `epoch` with zero
/// nanoseconds.
pub fn encode_time(epoch: i64) -> (u32, u32) {
    let low = epoch as i32;
    let extra = (((epoch - i64::from(low)) >> 32) & 3) as u32;
    (low as u32, extra)
}

/// Decodes seconds since 1970 from the seconds field and its `_extra`
/// field, as the kernel does: the low 32 bits are signed, the two epoch
/// bits add multiples of 2^32.
pub fn decode_time(seconds: u32, extra: Option<u32>) -> i64 {
    let base = i64::from(seconds as i32);
    base + (i64::from(extra.unwrap_or(0) & 3) << 32)
}

/// Sets every timestamp of the inode later than `epoch` to `epoch` with
/// zero nanoseconds; earlier ones stay as they are. Returns whether
/// anything changed.
pub fn clamp_times(inode: &mut [u8], epoch: i64) -> bool {
    let (low, extra) = encode_time(epoch);
    let mut changed = false;
    for field in TIMES {
        let has_seconds = field.seconds < 128 || has_extra(inode, field.seconds + 4);
        if !has_seconds {
            continue;
        }
        let has_extra_field = has_extra(inode, field.extra + 4);
        let old_extra = has_extra_field.then(|| u32_at(inode, field.extra));
        let seconds = decode_time(u32_at(inode, field.seconds), old_extra);
        let nanoseconds = old_extra.map_or(0, |extra| extra >> 2);
        // Later than the epoch, to the nanosecond: a guest whose clock
        // starts at the epoch writes times within its first second.
        if seconds > epoch || (seconds == epoch && nanoseconds != 0) {
            put_u32(inode, field.seconds, low);
            if has_extra_field {
                put_u32(inode, field.extra, extra);
            }
            changed = true;
        }
    }
    changed
}

/// The seed of everything an inode owns: CRC-32C of the inode number and
/// generation, chained from the file system's seed.
pub fn inode_seed(fs_seed: u32, ino: u32, generation: u32) -> u32 {
    crc32c(crc32c(fs_seed, &ino.to_le_bytes()), &generation.to_le_bytes())
}

/// Recomputes the inode's own checksum (`i_checksum_lo`, and
/// `i_checksum_hi` when the extra space holds it).
pub fn set_checksum(fs_seed: u32, ino: u32, inode: &mut [u8]) {
    let has_hi = has_extra(inode, 0x84);
    put_u16(inode, 0x7C, 0);
    if has_hi {
        put_u16(inode, 0x82, 0);
    }
    let seed = inode_seed(fs_seed, ino, u32_at(inode, GENERATION));
    let crc = crc32c(seed, inode);
    put_u16(inode, 0x7C, crc as u16);
    if has_hi {
        put_u16(inode, 0x82, (crc >> 16) as u16);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_the_epoch_bits() {
        for t in [0i64, 1, -1, 1_700_000_000, i64::from(i32::MAX) + 1, (1 << 33) + 5, -(1 << 31)] {
            let (low, extra) = encode_time(t);
            assert_eq!(decode_time(low, Some(extra)), t, "{t}");
        }
    }

    #[test]
    fn later_times_are_clamped_and_earlier_kept() {
        let mut inode = vec![0u8; 256];
        put_u16(&mut inode, EXTRA_ISIZE, 32);
        put_u32(&mut inode, 0x8, 2_000); // atime: later
        put_u32(&mut inode, 0x8C, 123 << 2); // with nanoseconds
        put_u32(&mut inode, 0x10, 500); // mtime: earlier
        put_u32(&mut inode, 0x88, 7 << 2);
        put_u32(&mut inode, 0x90, 1_000); // crtime: equal
        assert!(clamp_times(&mut inode, 1_000));
        assert_eq!((u32_at(&inode, 0x8), u32_at(&inode, 0x8C)), (1_000, 0));
        assert_eq!((u32_at(&inode, 0x10), u32_at(&inode, 0x88)), (500, 7 << 2));
        assert_eq!(u32_at(&inode, 0x90), 1_000);
        assert!(!clamp_times(&mut inode, 1_000));
    }
}
