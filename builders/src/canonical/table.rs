//! Reading the partition table: GPT (header at LBA 1), MBR (four primary
//! entries; a protective MBR means GPT), or none (the whole file is one
//! file system).

use super::CanonicalizeError;
use super::fat::Bpb;
use crate::fs::bytes::u32_at;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// Which kind of partition table an image has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// A GUID partition table.
    Gpt,
    /// An MBR (DOS) table.
    Mbr,
    /// No table: the image is one file system.
    None,
}

/// One partition: its number in the table (1-based; 0 without a table)
/// and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The number.
    pub number: u32,
    /// The bytes it spans.
    pub range: Range<u64>,
    /// Its PARTUUID as the kernel and fstab spell it (lower case): the
    /// GPT entry's unique GUID, or the MBR disk signature and number
    /// (`1234abcd-01`); `None` without a table.
    pub uuid: Option<String>,
}

/// A GPT GUID in its text form (the first three fields little-endian).
fn guid_text(bytes: &[u8]) -> String {
    let hex = |range: &[u8]| range.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let rev = |range: &[u8]| hex(&range.iter().rev().copied().collect::<Vec<u8>>());
    format!(
        "{}-{}-{}-{}-{}",
        rev(&bytes[0..4]),
        rev(&bytes[4..6]),
        rev(&bytes[6..8]),
        hex(&bytes[8..10]),
        hex(&bytes[10..16])
    )
}

const MBR_PROTECTIVE: u8 = 0xEE;
/// At most this many GPT entries are read (the usual array holds 128).
const MAX_GPT_ENTRIES: u64 = 4096;

fn malformed(problem: String) -> CanonicalizeError {
    CanonicalizeError::Malformed(format!("partition table: {problem}"))
}

fn read(file: &File, offset: u64, len: usize, file_len: u64) -> Result<Vec<u8>, CanonicalizeError> {
    if offset.checked_add(len as u64).is_none_or(|end| end > file_len) {
        return Err(malformed(format!("{len} bytes at byte {offset} lie past the end of the image")));
    }
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset).map_err(|e| CanonicalizeError::io("reading", offset, len as u64, e))?;
    Ok(buf)
}

/// Reads the partition table of `file`.
pub fn read_table(file: &File) -> Result<(TableKind, Vec<Entry>), CanonicalizeError> {
    let len = file.metadata().map_err(|e| CanonicalizeError::io("inspecting", 0, 0, e))?.len();
    let whole = || Ok((TableKind::None, vec![Entry { number: 0, range: 0..len, uuid: None }]));
    if len < 512 {
        return whole();
    }
    let mbr = read(file, 0, 512, len)?;
    for sector in [512u64, 4096] {
        if len >= sector * 2 && read(file, sector, 8, len)? == b"EFI PART" {
            return Ok((TableKind::Gpt, gpt(file, sector, len)?));
        }
    }
    let boot: &[u8; 512] = mbr.as_slice().try_into().expect("512 bytes were read");
    if mbr[510..512] != [0x55, 0xAA] || Bpb::parse(boot, len).is_some() {
        return whole();
    }
    let entries: Vec<&[u8]> = (0..4).map(|i| &mbr[446 + 16 * i..462 + 16 * i]).collect();
    if entries.iter().any(|e| e[0] & 0x7F != 0) {
        // Not an MBR's status bytes: a boot sector of something else.
        return whole();
    }
    if entries.iter().any(|e| e[4] == MBR_PROTECTIVE) {
        return Err(malformed("a protective MBR but no GPT header".into()));
    }
    let mut found = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let (start, sectors) = (u64::from(u32_at(e, 8)), u64::from(u32_at(e, 12)));
        if e[4] == 0 || sectors == 0 {
            continue;
        }
        let range = start * 512..(start + sectors) * 512;
        if range.end > len {
            return Err(malformed(format!("MBR partition {} ends at byte {}, past the image's end", i + 1, range.end)));
        }
        let uuid = Some(format!("{:08x}-{:02x}", u32_at(&mbr, 440), i + 1));
        found.push(Entry { number: i as u32 + 1, range, uuid });
    }
    Ok((TableKind::Mbr, found))
}

fn gpt(file: &File, sector: u64, len: u64) -> Result<Vec<Entry>, CanonicalizeError> {
    let header = read(file, sector, 92, len)?;
    let entries_lba = u64::from(u32_at(&header, 0x48)) | (u64::from(u32_at(&header, 0x4C)) << 32);
    let count = u64::from(u32_at(&header, 0x50));
    let size = u64::from(u32_at(&header, 0x54));
    if !(128..=4096).contains(&size) || size % 8 != 0 || count > MAX_GPT_ENTRIES {
        return Err(malformed(format!("GPT header: {count} entries of {size} bytes")));
    }
    let array_offset = entries_lba.checked_mul(sector).ok_or_else(|| malformed("GPT entries' LBA".into()))?;
    let array = read(file, array_offset, (count * size) as usize, len)?;
    let mut found = Vec::new();
    for (i, e) in array.chunks_exact(size as usize).enumerate() {
        if e[..16].iter().all(|&b| b == 0) {
            continue;
        }
        let first = u64::from(u32_at(e, 32)) | (u64::from(u32_at(e, 36)) << 32);
        let last = u64::from(u32_at(e, 40)) | (u64::from(u32_at(e, 44)) << 32);
        let range = first.checked_mul(sector).zip(last.checked_add(1).and_then(|l| l.checked_mul(sector)));
        match range {
            Some((start, end)) if first <= last && end <= len => {
                found.push(Entry { number: i as u32 + 1, range: start..end, uuid: Some(guid_text(&e[16..32])) })
            }
            _ => return Err(malformed(format!("GPT partition {} spans LBA {first}..={last}", i + 1))),
        }
    }
    Ok(found)
}
