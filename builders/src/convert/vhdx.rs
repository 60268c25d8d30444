//! VHDX: the GUIDs and sequence numbers qemu-img draws at random.
//!
//! Layout (little-endian; GUIDs in Microsoft's mixed-endian layout):
//!
//! ```text
//! 0      file identifier: "vhdxfile", creator (UTF-16, 512 bytes)
//! 64K    header 1   } "head", CRC-32C of the 4 KiB header, sequence number,
//! 128K   header 2   } FileWriteGuid, DataWriteGuid, LogGuid, log version,
//!                     version, log length, log offset
//! 192K   region table (and a copy at 256K): where the BAT and metadata are
//! 1M…    log, BAT, metadata (table + items), payload blocks
//! ```
//!
//! What differs between two runs of qemu-img, and what [`patch`] writes:
//! - both headers' **sequence numbers** (a random start): renumbered from 1,
//!   keeping which header is current;
//! - both headers' **FileWriteGuid** and **DataWriteGuid**: derived values;
//! - the headers' **checksums** over the above: recomputed;
//! - the **log**: qemu-img writes metadata updates through it, stamped with a
//!   random LogGuid, and on a clean close sets the headers' LogGuid to zero,
//!   which makes the log empty. Its stale sectors are zeroed;
//! - the **Page 83 GUID** (the virtual disk's id, a metadata item; the
//!   metadata table has no checksum): a derived value;
//! - the file identifier's **creator** ("QEMU v…", diagnostic only): `imgx`,
//!   so the output does not name the qemu version.
//!
//! The region tables are not touched (nothing in them is random), so their
//! checksums stand. The CRC-32C (Castagnoli) is computed here: it is a few
//! lines, so no crate is added for it.

use crate::builder::BuildError;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The identifiers written into the image.
pub(super) struct Ids {
    /// Both headers' FileWriteGuid.
    pub file_write: [u8; 16],
    /// Both headers' DataWriteGuid.
    pub data_write: [u8; 16],
    /// The Page 83 data (the virtual disk id).
    pub page83: [u8; 16],
}

const KIB: u64 = 1024;
const HEADERS: [u64; 2] = [64 * KIB, 128 * KIB];
const HEADER_SIZE: usize = 4096;
const REGION_TABLE: u64 = 192 * KIB;
const REGION_TABLE_SIZE: usize = 64 * 1024;
const LOG_SECTOR: usize = 4096;
/// 8B7CA206-4790-4B9A-B8FE-575F050F886E, the metadata region.
const METADATA_REGION: [u8; 16] =
    [0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b, 0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e];
/// BECA12AB-B2E6-4523-93EF-C309E000C746, the Page 83 data item.
const PAGE83_ITEM: [u8; 16] =
    [0xab, 0x12, 0xca, 0xbe, 0xe6, 0xb2, 0x23, 0x45, 0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46];

/// The CRC-32C table (reflected polynomial 0x82F63B78).
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32C (Castagnoli), as VHDX checksums use it.
pub(super) fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, b| CRC32C_TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8))
}

/// The checksum of a structure whose own checksum is at bytes 4..8.
fn structure_checksum(block: &[u8]) -> u32 {
    let mut copy = block.to_vec();
    copy[4..8].fill(0);
    crc32c(&copy)
}

fn le16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes[at..at + 2].try_into().expect("2 bytes"))
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn invalid(what: impl std::fmt::Display) -> BuildError {
    BuildError::Failed(format!("qemu-img wrote an unexpected VHDX: {what}"))
}

fn read(file: &File, image: &Path, at: u64, len: usize) -> Result<Vec<u8>, BuildError> {
    let mut buffer = vec![0u8; len];
    file.read_exact_at(&mut buffer, at).map_err(|e| BuildError::io("reading", image, e))?;
    Ok(buffer)
}

fn write(file: &File, image: &Path, at: u64, bytes: &[u8]) -> Result<(), BuildError> {
    file.write_all_at(bytes, at).map_err(|e| BuildError::io("writing", image, e))
}

/// Makes a VHDX written by qemu-img reproducible (see the module
/// documentation); returns how many stale log sectors it zeroed.
pub(super) fn patch(image: &Path, ids: &Ids) -> Result<usize, BuildError> {
    let file =
        OpenOptions::new().read(true).write(true).open(image).map_err(|e| BuildError::io("opening", image, e))?;

    // The file identifier's creator.
    if read(&file, image, 0, 8)? != b"vhdxfile" {
        return Err(invalid("no file identifier"));
    }
    let mut creator = [0u8; 512];
    for (i, unit) in "imgx".encode_utf16().enumerate() {
        creator[2 * i..2 * i + 2].copy_from_slice(&unit.to_le_bytes());
    }
    write(&file, image, 8, &creator)?;

    // The headers, as qemu-img left them.
    let mut headers = Vec::with_capacity(2);
    for offset in HEADERS {
        let header = read(&file, image, offset, HEADER_SIZE)?;
        if &header[..4] != b"head" || le32(&header, 4) != structure_checksum(&header) {
            return Err(invalid(format!("the header at {offset} is missing or its checksum is wrong")));
        }
        if header[48..64].iter().any(|b| *b != 0) {
            return Err(invalid("its log is not empty (a header has a LogGuid)"));
        }
        headers.push(header);
    }
    let (log_offset, log_length) = (le64(&headers[0], 72), u64::from(le32(&headers[0], 68)));
    if (log_offset, log_length) != (le64(&headers[1], 72), u64::from(le32(&headers[1], 68))) {
        return Err(invalid("its two headers place the log differently"));
    }

    // The log is empty (LogGuid is zero): zero the sectors qemu-img's
    // metadata updates left in it; the rest are holes and stay so.
    let mut zeroed = 0;
    let zeros = [0u8; LOG_SECTOR];
    let mut at = log_offset;
    while at < log_offset + log_length {
        let chunk = read(&file, image, at, 64 * 1024)?;
        for (i, sector) in chunk.chunks(LOG_SECTOR).enumerate() {
            if sector.iter().any(|b| *b != 0) {
                write(&file, image, at + (i * LOG_SECTOR) as u64, &zeros)?;
                zeroed += 1;
            }
        }
        at += chunk.len() as u64;
    }

    // Sequence numbers from 1, keeping their order; GUIDs; checksums.
    let sequences: Vec<u64> = headers.iter().map(|h| le64(h, 8)).collect();
    let lowest = *sequences.iter().min().expect("two headers");
    for ((offset, header), sequence) in HEADERS.iter().zip(&mut headers).zip(&sequences) {
        header[8..16].copy_from_slice(&(sequence - lowest + 1).to_le_bytes());
        header[16..32].copy_from_slice(&ids.file_write);
        header[32..48].copy_from_slice(&ids.data_write);
        let sum = structure_checksum(header);
        header[4..8].copy_from_slice(&sum.to_le_bytes());
        write(&file, image, *offset, header)?;
    }

    // The Page 83 GUID, found through the region table and metadata table.
    let regions = read(&file, image, REGION_TABLE, REGION_TABLE_SIZE)?;
    if &regions[..4] != b"regi" || le32(&regions, 4) != structure_checksum(&regions) {
        return Err(invalid("the region table is missing or its checksum is wrong"));
    }
    let entries = (le32(&regions, 8) as usize).min((REGION_TABLE_SIZE - 16) / 32);
    let metadata = (0..entries)
        .map(|i| &regions[16 + 32 * i..16 + 32 * (i + 1)])
        .find(|entry| entry[..16] == METADATA_REGION)
        .map(|entry| (le64(entry, 16), le32(entry, 24)))
        .ok_or_else(|| invalid("no metadata region"))?;
    let table = read(&file, image, metadata.0, 64 * 1024)?;
    if &table[..8] != b"metadata" {
        return Err(invalid("no metadata table"));
    }
    let items = usize::from(le16(&table, 10)).min(2047);
    let page83 = (1..=items)
        .map(|i| &table[32 * i..32 * (i + 1)])
        .find(|entry| entry[..16] == PAGE83_ITEM)
        .map(|entry| (u64::from(le32(entry, 16)), le32(entry, 20)))
        .ok_or_else(|| invalid("no Page 83 data in its metadata"))?;
    if page83.1 < 16 || page83.0 + 16 > u64::from(metadata.1) {
        return Err(invalid("its Page 83 data is not a GUID inside the metadata region"));
    }
    write(&file, image, metadata.0 + page83.0, &ids.page83)?;
    Ok(zeroed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn structure_checksums_skip_their_field() {
        let mut block = vec![7u8; 64];
        let sum = structure_checksum(&block);
        block[4..8].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(structure_checksum(&block), sum);
    }
}
