//! Byte-level comparison: which byte ranges of two files (or of the same
//! region of two files) differ, without reading what is a hole in both,
//! and a unified diff when both sides are short text.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::process::Command;

/// How many bytes are compared at a time.
const CHUNK: u64 = 1 << 20;
/// How many differing ranges a report lists.
pub const RANGE_LIMIT: usize = 8;
/// Files up to this size that hold UTF-8 without NUL bytes are diffed as text.
const TEXT_LIMIT: u64 = 256 * 1024;
/// How many lines of a unified diff a report shows.
const DIFF_LINES: usize = 60;

/// The differing byte ranges of a region, as far as they were counted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ranges {
    /// The first [`RANGE_LIMIT`] differing ranges, `(offset, length)`.
    pub first: Vec<(u64, u64)>,
    /// How many ranges differ in all.
    pub count: u64,
    /// How many bytes differ in all.
    pub bytes: u64,
    /// Where the range counted last ends, to join ranges across chunks.
    last_end: Option<u64>,
}

impl Ranges {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `3 ranges, 40 bytes: 0x400+16, 0x1000+8, 0x2000+16`.
    pub fn describe(&self) -> String {
        let shown: Vec<String> = self.first.iter().map(|(at, len)| format!("{at:#x}+{len}")).collect();
        let more = if self.count > self.first.len() as u64 { ", …" } else { "" };
        format!("{} range(s), {} byte(s): {}{more}", self.count, self.bytes, shown.join(", "))
    }

    fn add(&mut self, at: u64, len: u64) {
        self.bytes += len;
        let continues = self.last_end == Some(at);
        self.last_end = Some(at + len);
        if continues {
            // Still the range counted last; extend it if it is listed.
            if self.first.len() as u64 == self.count
                && let Some(last) = self.first.last_mut()
            {
                last.1 += len;
            }
            return;
        }
        self.count += 1;
        if self.first.len() < RANGE_LIMIT {
            self.first.push((at, len));
        }
    }
}

/// The offset of the first data at or after `from` in `file`, `end` when
/// there is none before it (holes read as zeros and need no reading).
#[allow(unsafe_code)]
fn next_data(file: &File, from: u64, end: u64) -> u64 {
    let Ok(offset) = libc::off_t::try_from(from) else { return end };
    // SAFETY: lseek on a file descriptor this function borrows; it changes
    // only the descriptor's offset, which positional reads ignore.
    let found = unsafe { libc::lseek(file.as_raw_fd(), offset, libc::SEEK_DATA) };
    if found < 0 {
        // ENXIO: no data after `from`; any other error: read everything.
        let enxio = std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
        return if enxio { end } else { from };
    }
    (found as u64).min(end)
}

/// Reads `buf.len()` bytes at `offset`, zeros past the end of the file.
fn read_padded(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    buf[done..].fill(0);
    Ok(())
}

/// The differing ranges of `len` bytes at `offset` in both files (past a
/// file's end it reads as zeros).
pub fn differing_ranges(a: &Path, b: &Path, offset: u64, len: u64) -> std::io::Result<Ranges> {
    let (fa, fb) = (File::open(a)?, File::open(b)?);
    let end = offset.saturating_add(len);
    let mut ranges = Ranges::default();
    let mut pos = offset;
    let (mut buf_a, mut buf_b) = (vec![0u8; CHUNK as usize], vec![0u8; CHUNK as usize]);
    while pos < end {
        let next = next_data(&fa, pos, end).min(next_data(&fb, pos, end));
        if next >= end {
            break;
        }
        pos = next;
        let n = CHUNK.min(end - pos) as usize;
        read_padded(&fa, &mut buf_a[..n], pos)?;
        read_padded(&fb, &mut buf_b[..n], pos)?;
        if buf_a[..n] != buf_b[..n] {
            let mut i = 0;
            while i < n {
                if buf_a[i] == buf_b[i] {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < n && buf_a[i] != buf_b[i] {
                    i += 1;
                }
                ranges.add(pos + start as u64, (i - start) as u64);
            }
        }
        pos += n as u64;
    }
    Ok(ranges)
}

/// Whether `bytes` read as text: UTF-8 without NUL.
fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// Describes how two plain files differ: a unified diff (at most
/// [`DIFF_LINES`] lines) for short text, else their sizes and the first
/// differing byte ranges.
pub fn describe_files(a: &Path, b: &Path) -> std::io::Result<String> {
    let (size_a, size_b) = (std::fs::metadata(a)?.len(), std::fs::metadata(b)?.len());
    if size_a <= TEXT_LIMIT && size_b <= TEXT_LIMIT {
        let (text_a, text_b) = (std::fs::read(a)?, std::fs::read(b)?);
        if is_text(&text_a) && is_text(&text_b) {
            return Ok(unified_diff(a, b).unwrap_or_else(|| "the texts differ".into()));
        }
    }
    let mut text = String::new();
    if size_a != size_b {
        text.push_str(&format!("size {size_a} → {size_b} bytes; "));
    }
    let ranges = differing_ranges(a, b, 0, size_a.min(size_b))?;
    if ranges.is_empty() {
        text.push_str("the common part is the same");
    } else {
        text.push_str(&format!("differing bytes: {}", ranges.describe()));
    }
    Ok(text)
}

/// Describes how two texts held in memory differ, as [`describe_files`]
/// does for files (a unified diff, through files in `scratch`).
pub fn describe_bytes(a: &[u8], b: &[u8], scratch: &Path) -> String {
    if is_text(a) && is_text(b) {
        let (pa, pb) = (scratch.join("registered.txt"), scratch.join("rebuilt.txt"));
        if std::fs::write(&pa, a).is_ok()
            && std::fs::write(&pb, b).is_ok()
            && let Some(diff) = unified_diff(&pa, &pb)
        {
            return diff;
        }
    }
    let common = a.len().min(b.len());
    let first = (0..common).find(|&i| a[i] != b[i]);
    match first {
        Some(at) => format!("{} → {} bytes, first difference at byte {at:#x}", a.len(), b.len()),
        None => format!("{} → {} bytes, one is a prefix of the other", a.len(), b.len()),
    }
}

/// `diff -u` of two text files, labelled registered and rebuilt, cut to
/// [`DIFF_LINES`] lines; `None` if diff cannot run.
fn unified_diff(a: &Path, b: &Path) -> Option<String> {
    let output = Command::new("diff")
        .args(["-u", "--label", "registered", "--label", "rebuilt"])
        .arg(a)
        .arg(b)
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    if output.status.code() != Some(1) {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let mut shown = lines[..lines.len().min(DIFF_LINES)].join("\n");
    if lines.len() > DIFF_LINES {
        shown.push_str(&format!("\n… ({} more diff lines)", lines.len() - DIFF_LINES));
    }
    Some(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_joined_across_chunks_and_counted_past_the_limit() {
        let dir = std::env::temp_dir().join(format!("imgx-bytes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (a, b) = (dir.join("a"), dir.join("b"));
        // 3 MiB, mostly holes; b differs across the first chunk boundary
        // and in 10 single bytes further on.
        let size = 3 * CHUNK;
        std::fs::File::create(&a).and_then(|f| f.set_len(size)).expect("a");
        let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&b).expect("b");
        file.set_len(size).expect("len");
        file.write_all_at(&[1u8; 8], CHUNK - 4).expect("write");
        for i in 0..10 {
            file.write_all_at(&[7], 2 * CHUNK + 100 * i).expect("write");
        }
        let ranges = differing_ranges(&a, &b, 0, size).expect("compare");
        assert_eq!(ranges.first[0], (CHUNK - 4, 8), "{ranges:?}");
        assert_eq!(ranges.count, 11);
        assert_eq!(ranges.bytes, 18);
        assert_eq!(ranges.first.len(), RANGE_LIMIT);
        assert!(differing_ranges(&a, &a, 0, size).expect("same").is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
