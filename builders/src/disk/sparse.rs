//! Copying a partition image into the disk at its offset, sparsely.
//!
//! Only the source's data extents are read (`lseek(SEEK_DATA/SEEK_HOLE)`),
//! and of those only the 4 KiB blocks that are not all zeros are written:
//! the disk file starts as one hole, so a skipped block reads as zeros
//! without taking any space. No hole is ever read or written as zeros.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// The granularity of zero detection.
const BLOCK: usize = 4096;
/// How much is read at once.
const CHUNK: usize = 1 << 20;

#[allow(unsafe_code)]
fn seek(file: &File, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    // SAFETY: lseek on a valid descriptor has no memory effects.
    let result = unsafe { libc::lseek(file.as_raw_fd(), offset as libc::off_t, whence) };
    if result >= 0 {
        return Ok(Some(result as u64));
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::ENXIO) { Ok(None) } else { Err(error) }
}

/// The data extents of a file: `(start, length)` pairs.
pub fn data_extents(file: &File) -> io::Result<Vec<(u64, u64)>> {
    let len = file.metadata()?.len();
    let mut extents = Vec::new();
    let mut offset = 0;
    while offset < len {
        let Some(start) = seek(file, offset, libc::SEEK_DATA)? else { break };
        let end = seek(file, start, libc::SEEK_HOLE)?.unwrap_or(len).min(len);
        if end > start {
            extents.push((start, end - start));
        }
        offset = end;
    }
    Ok(extents)
}

/// Copies `source` into `dest` at byte `offset`, writing only non-zero
/// blocks of its data extents. Returns the bytes written.
pub fn copy_into(source: &File, dest: &File, offset: u64) -> io::Result<u64> {
    let mut buffer = vec![0u8; CHUNK];
    let mut written = 0;
    for (start, length) in data_extents(source)? {
        let mut position = start;
        let end = start + length;
        while position < end {
            let want = ((end - position) as usize).min(CHUNK);
            let chunk = &mut buffer[..want];
            source.read_exact_at(chunk, position)?;
            // Write runs of non-zero blocks.
            let mut run_start: Option<usize> = None;
            let mut at = 0;
            while at <= want {
                let block_end = (at + BLOCK).min(want);
                let is_data = at < want && chunk[at..block_end].iter().any(|&b| b != 0);
                match (is_data, run_start) {
                    (true, None) => run_start = Some(at),
                    (false, Some(begin)) => {
                        dest.write_all_at(&chunk[begin..at], offset + position + begin as u64)?;
                        written += (at - begin) as u64;
                        run_start = None;
                    }
                    _ => {}
                }
                if at == want {
                    break;
                }
                at = block_end;
            }
            position += want as u64;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn copies_data_and_keeps_holes() {
        let dir = std::env::temp_dir().join(format!("imgx-disk-sparse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let source_path = dir.join("part");
        let source =
            File::options().read(true).write(true).create(true).truncate(true).open(&source_path).expect("open");
        source.set_len(64 << 20).expect("size");
        source.write_all_at(b"start", 0).expect("write");
        source.write_all_at(&[0u8; 8192], 1 << 20).expect("zeros");
        source.write_all_at(b"middle", (32 << 20) + 5000).expect("write");
        let dest =
            File::options().read(true).write(true).create(true).truncate(true).open(dir.join("disk")).expect("open");
        dest.set_len(128 << 20).expect("size");
        let written = copy_into(&source, &dest, 1 << 20).expect("copy");
        assert_eq!(written, 2 * BLOCK as u64, "two blocks of data, zeros skipped");
        let mut check = [0u8; 6];
        dest.read_exact_at(&mut check[..5], 1 << 20).expect("read");
        assert_eq!(&check[..5], b"start");
        dest.read_exact_at(&mut check, (33 << 20) + 5000).expect("read");
        assert_eq!(&check, b"middle");
        assert!(dest.metadata().expect("meta").blocks() <= 16, "the copy stays sparse");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
