//! Canonicalizing a FAT12/16/32 file system after a kernel wrote to it.
//!
//! Every directory is walked from the root (FAT12/16: the fixed root
//! region; FAT32: the root cluster's chain), following cluster chains
//! through the first FAT with loops refused. In every short entry (not a
//! long-name entry, not past the end marker) the creation date and time
//! (with its 10 ms field), the access date and the write date and time are
//! set to the epoch when later than it. Entries of deleted files (first
//! byte 0xE5) are included: deletion only marks them, so their times would
//! otherwise stay behind. DOS times are local times; Linux's vfat writes
//! UTC unless told otherwise, so they are read as UTC. Clusters free in
//! the FAT (entry 0) are punched out. The FSInfo sector is left as is.

use super::{CanonicalizeError, Summary};
use crate::fs::bytes::{get_u16, put_u16, u16_at, u32_at};
use crate::fs::region::Region;
use std::collections::HashSet;
use std::fs::File;
use std::ops::Range;

/// The size of a directory entry.
const ENTRY: usize = 32;
/// `ATTR_LONG_NAME`: the attribute bits of a long-name entry.
const ATTR_LONG_NAME: u8 = 0x0F;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
/// The first byte of a deleted entry.
const DELETED: u8 = 0xE5;
/// 1980-01-01, the first day DOS dates can express, in Unix seconds.
const DOS_EPOCH: i64 = 315_532_800;
/// 2107-12-31 23:59:58, the last time they can express.
const DOS_END: i64 = 4_354_819_198;

/// The FAT variant, by cluster count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatType {
    /// Fewer than 4085 clusters: 12-bit entries.
    Fat12,
    /// Fewer than 65525 clusters: 16-bit entries.
    Fat16,
    /// 28-bit entries, the root directory in a cluster chain.
    Fat32,
}

/// The BIOS parameter block, checked for consistency.
#[derive(Clone, Debug)]
pub struct Bpb {
    bytes_per_sector: u64,
    sectors_per_cluster: u64,
    /// The first FAT's first byte.
    fat_start: u64,
    /// Bytes in one FAT.
    fat_len: u64,
    /// The FAT12/16 root directory: (first byte, length).
    root_region: (u64, u64),
    /// The first byte of cluster 2.
    data_start: u64,
    /// Number of data clusters.
    clusters: u32,
    /// FAT32's root directory cluster.
    root_cluster: u32,
    /// The variant.
    pub fat_type: FatType,
}

impl Bpb {
    /// Reads the BPB from the boot sector; `None` if this is not a FAT
    /// boot sector or its numbers are inconsistent, or if it claims more
    /// than `len` bytes.
    pub fn parse(boot: &[u8; 512], len: u64) -> Option<Bpb> {
        if !(boot[0] == 0xEB || boot[0] == 0xE9) || boot[510..512] != [0x55, 0xAA] {
            return None;
        }
        let bytes_per_sector = u64::from(u16_at(boot, 11));
        let sectors_per_cluster = u64::from(boot[13]);
        let reserved = u64::from(u16_at(boot, 14));
        let fats = u64::from(boot[16]);
        let root_entries = u64::from(u16_at(boot, 17));
        let total = match u16_at(boot, 19) {
            0 => u64::from(u32_at(boot, 32)),
            n => u64::from(n),
        };
        let fat_sectors = match u16_at(boot, 22) {
            0 => u64::from(u32_at(boot, 36)),
            n => u64::from(n),
        };
        if ![512, 1024, 2048, 4096].contains(&bytes_per_sector)
            || !sectors_per_cluster.is_power_of_two()
            || reserved == 0
            || fats == 0
            || fat_sectors == 0
            || total.checked_mul(bytes_per_sector).is_none_or(|bytes| bytes > len)
        {
            return None;
        }
        let root_sectors = (root_entries * ENTRY as u64).div_ceil(bytes_per_sector);
        let data_sector = reserved + fats * fat_sectors + root_sectors;
        let clusters = total.checked_sub(data_sector)? / sectors_per_cluster;
        let fat_type = match clusters {
            0 => return None,
            1..4085 => FatType::Fat12,
            4085..65525 => FatType::Fat16,
            _ => FatType::Fat32,
        };
        if fat_type == FatType::Fat32 && (root_entries != 0 || u16_at(boot, 22) != 0) {
            return None;
        }
        let fat_len = fat_sectors * bytes_per_sector;
        let needed = match fat_type {
            FatType::Fat12 => (clusters + 2) * 3 / 2 + 1,
            FatType::Fat16 => (clusters + 2) * 2,
            FatType::Fat32 => (clusters + 2) * 4,
        };
        if fat_len < needed || clusters > u64::from(u32::MAX - 2) {
            return None;
        }
        Some(Bpb {
            bytes_per_sector,
            sectors_per_cluster,
            fat_start: reserved * bytes_per_sector,
            fat_len,
            root_region: ((reserved + fats * fat_sectors) * bytes_per_sector, root_sectors * bytes_per_sector),
            data_start: data_sector * bytes_per_sector,
            clusters: clusters as u32,
            root_cluster: u32_at(boot, 44),
            fat_type,
        })
    }

    fn cluster_len(&self) -> u64 {
        self.bytes_per_sector * self.sectors_per_cluster
    }

    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_start + u64::from(cluster - 2) * self.cluster_len()
    }

    /// Whether `cluster` names a data cluster.
    fn valid(&self, cluster: u32) -> bool {
        cluster >= 2 && cluster - 2 < self.clusters
    }

    /// The FAT entry of `cluster` (which must be valid).
    fn entry(&self, fat: &[u8], cluster: u32) -> u32 {
        let c = cluster as usize;
        match self.fat_type {
            FatType::Fat12 => {
                let v = u32::from(u16_at(fat, c + c / 2));
                if c % 2 == 1 { v >> 4 } else { v & 0xFFF }
            }
            FatType::Fat16 => u32::from(u16_at(fat, c * 2)),
            FatType::Fat32 => u32_at(fat, c * 4) & 0x0FFF_FFFF,
        }
    }

    fn end_of_chain(&self, value: u32) -> bool {
        value
            >= match self.fat_type {
                FatType::Fat12 => 0xFF8,
                FatType::Fat16 => 0xFFF8,
                FatType::Fat32 => 0x0FFF_FFF8,
            }
    }
}

fn malformed(problem: String) -> CanonicalizeError {
    CanonicalizeError::Malformed(format!("FAT: {problem}"))
}

/// Canonicalizes the FAT file system in bytes `range` of `image`.
pub fn canonicalize(image: &File, range: Range<u64>, epoch: i64) -> Result<Summary, CanonicalizeError> {
    let fs = Region::new(image, range);
    let mut boot = [0u8; 512];
    fs.read(0, &mut boot, "the FAT boot sector")?;
    let bpb = Bpb::parse(&boot, fs.len()).ok_or_else(|| malformed("no valid BIOS parameter block".into()))?;
    let fat = fs.read_vec(bpb.fat_start, bpb.fat_len as usize, "the first FAT")?;
    let walk = Walk { fs, bpb: &bpb, fat: &fat, stamp: Stamp::new(epoch) };
    let mut summary = Summary::default();
    let mut seen = HashSet::new();
    let mut pending = Vec::new();
    if bpb.fat_type == FatType::Fat32 {
        pending.push(bpb.root_cluster);
    } else {
        let (offset, len) = bpb.root_region;
        let mut root = fs.read_vec(offset, len as usize, "the FAT root directory")?;
        if walk.entries(&mut root, &mut pending, &mut summary) {
            fs.write(offset, &root, "the FAT root directory")?;
        }
    }
    while let Some(start) = pending.pop() {
        let chain = walk.chain(start, &mut seen)?;
        let mut dir = Vec::with_capacity(chain.len() * bpb.cluster_len() as usize);
        for &cluster in &chain {
            dir.extend(fs.read_vec(bpb.cluster_offset(cluster), bpb.cluster_len() as usize, "a FAT directory")?);
        }
        if walk.entries(&mut dir, &mut pending, &mut summary) {
            for (&cluster, data) in chain.iter().zip(dir.chunks(bpb.cluster_len() as usize)) {
                fs.write(bpb.cluster_offset(cluster), data, "a FAT directory")?;
            }
        }
    }
    walk.punch_free(&mut summary)?;
    Ok(summary)
}

/// The walk over one file system's directories.
struct Walk<'a> {
    fs: Region<'a>,
    bpb: &'a Bpb,
    fat: &'a [u8],
    stamp: Stamp,
}

impl Walk<'_> {
    /// The clusters of the chain starting at `start`; a cluster met twice
    /// (in this chain or an earlier directory's) is an error.
    fn chain(&self, start: u32, seen: &mut HashSet<u32>) -> Result<Vec<u32>, CanonicalizeError> {
        let mut chain = Vec::new();
        let mut cluster = start;
        loop {
            if !self.bpb.valid(cluster) {
                return Err(malformed(format!("a directory's cluster chain names cluster {cluster}")));
            }
            if !seen.insert(cluster) {
                return Err(malformed(format!("cluster {cluster} is in two directories or loops")));
            }
            chain.push(cluster);
            let next = self.bpb.entry(self.fat, cluster);
            if self.bpb.end_of_chain(next) {
                return Ok(chain);
            }
            cluster = next;
        }
    }

    /// Clamps the times of a directory's entries; pushes subdirectories'
    /// first clusters on `pending`. Returns whether anything changed.
    fn entries(&self, dir: &mut [u8], pending: &mut Vec<u32>, summary: &mut Summary) -> bool {
        let mut changed = false;
        for entry in dir.chunks_exact_mut(ENTRY) {
            let attr = entry[11];
            match entry[0] {
                0x00 => break,
                _ if attr & 0x3F == ATTR_LONG_NAME => continue,
                first => {
                    if self.stamp.clamp(entry) {
                        changed = true;
                        summary.items_changed += 1;
                    }
                    let dot = entry[0] == b'.';
                    if first != DELETED && attr & ATTR_DIRECTORY != 0 && attr & ATTR_VOLUME_ID == 0 && !dot {
                        let high = if self.bpb.fat_type == FatType::Fat32 { u32::from(u16_at(entry, 20)) } else { 0 };
                        let cluster = (high << 16) | u32::from(u16_at(entry, 26));
                        if cluster != 0 {
                            pending.push(cluster);
                        }
                    }
                }
            }
        }
        changed
    }

    /// Punches out the data of every cluster whose FAT entry is 0.
    fn punch_free(&self, summary: &mut Summary) -> Result<(), CanonicalizeError> {
        let mut run: Option<u32> = None;
        let end = self.bpb.clusters + 2;
        for cluster in 2..=end {
            let free = cluster < end && self.bpb.entry(self.fat, cluster) == 0;
            match (free, run) {
                (true, None) => run = Some(cluster),
                (false, Some(start)) => {
                    let len = u64::from(cluster - start) * self.bpb.cluster_len();
                    self.fs.punch(self.bpb.cluster_offset(start), len, "free FAT clusters")?;
                    summary.bytes_punched += len;
                    run = None;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The epoch as DOS fields, and the comparisons against it.
struct Stamp {
    /// The epoch, inside the range DOS can express.
    epoch: i64,
    date: u16,
    time: u16,
    tenths: u8,
}

impl Stamp {
    fn new(epoch: i64) -> Stamp {
        let epoch = epoch.clamp(DOS_EPOCH, DOS_END);
        let (date, time) = to_dos(epoch);
        Stamp { epoch, date, time, tenths: ((epoch % 2) * 100) as u8 }
    }

    /// Clamps one short entry's times; returns whether any changed.
    fn clamp(&self, entry: &mut [u8]) -> bool {
        let mut changed = false;
        // Creation: date at 16, time at 14, hundredths at 13.
        if let Some(t) = from_dos(u16_at(entry, 16), u16_at(entry, 14))
            && t * 100 + i64::from(entry[13]) > self.epoch * 100
        {
            put_u16(entry, 16, self.date);
            put_u16(entry, 14, self.time);
            entry[13] = self.tenths;
            changed = true;
        }
        // Last access: a date only.
        if let Some(t) = from_dos(u16_at(entry, 18), 0)
            && t.div_euclid(86_400) > self.epoch.div_euclid(86_400)
        {
            put_u16(entry, 18, self.date);
            changed = true;
        }
        // Last write: date at 24, time at 22.
        if let Some(t) = get_u16(entry, 24).and_then(|date| from_dos(date, u16_at(entry, 22)))
            && t > self.epoch
        {
            put_u16(entry, 24, self.date);
            put_u16(entry, 22, self.time);
            changed = true;
        }
        changed
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01,
/// proleptic Gregorian.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Unix seconds of a DOS date and time, read as UTC; `None` for a date of
/// zero (not recorded) or a field out of range.
fn from_dos(date: u16, time: u16) -> Option<i64> {
    let (year, month, day) = (1980 + i64::from(date >> 9), i64::from((date >> 5) & 15), i64::from(date & 31));
    let (hour, minute, second) = (i64::from(time >> 11), i64::from((time >> 5) & 63), i64::from(time & 31) * 2);
    if !(1..=12).contains(&month) || day == 0 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// A DOS date and time (2-second resolution, rounded down) of Unix seconds
/// inside the DOS range.
fn to_dos(seconds: i64) -> (u16, u16) {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let date = (((year - 1980) << 9) | (month << 5) | day) as u16;
    let time = (((rest / 3600) << 11) | ((rest / 60 % 60) << 5) | (rest % 60 / 2)) as u16;
    (date, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times_round_trip() {
        for t in [DOS_EPOCH, 1_700_000_000, 951_782_400 /* 2000-02-29 */, DOS_END] {
            let (date, time) = to_dos(t);
            assert_eq!(from_dos(date, time), Some(t - t % 2), "{t}");
        }
        // 2024-03-15 12:34:56
        assert_eq!(to_dos(1_710_506_096), ((44 << 9) | (3 << 5) | 15, (12 << 11) | (34 << 5) | 28));
    }

    #[test]
    fn later_entry_times_are_clamped_and_earlier_kept() {
        let stamp = Stamp::new(1_700_000_001);
        let mut entry = [0u8; 32];
        let (later_date, later_time) = to_dos(1_800_000_000);
        let (earlier_date, earlier_time) = to_dos(1_600_000_000);
        put_u16(&mut entry, 16, later_date);
        put_u16(&mut entry, 14, later_time);
        entry[13] = 150;
        put_u16(&mut entry, 18, earlier_date);
        put_u16(&mut entry, 24, earlier_date);
        put_u16(&mut entry, 22, earlier_time);
        assert!(stamp.clamp(&mut entry));
        assert_eq!((u16_at(&entry, 16), u16_at(&entry, 14), entry[13]), (stamp.date, stamp.time, 100));
        assert_eq!(u16_at(&entry, 18), earlier_date);
        assert_eq!((u16_at(&entry, 24), u16_at(&entry, 22)), (earlier_date, earlier_time));
        assert!(!stamp.clamp(&mut entry));
    }
}
