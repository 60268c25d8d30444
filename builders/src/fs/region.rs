//! A byte range of an image file (one partition), with bounds-checked
//! reads, writes and hole punching.
//!
//! Every offset a file system gives is relative to its own start and must
//! stay inside its partition: a damaged or hostile image must not make the
//! canonicalizer read or change bytes of another partition.

use crate::canonical::CanonicalizeError;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// Bytes `start..start + len` of an image file.
#[derive(Clone, Copy)]
pub struct Region<'a> {
    file: &'a File,
    start: u64,
    len: u64,
}

impl<'a> Region<'a> {
    /// The bytes `range` of `file`.
    pub fn new(file: &'a File, range: Range<u64>) -> Region<'a> {
        Region { file, start: range.start, len: range.end.saturating_sub(range.start) }
    }

    /// The length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    fn check(&self, offset: u64, len: u64, what: &str) -> Result<u64, CanonicalizeError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(self.start + offset),
            _ => Err(CanonicalizeError::Malformed(format!(
                "{what} at bytes {offset}..+{len} lies beyond the end of the file system ({} bytes)",
                self.len
            ))),
        }
    }

    /// Fills `buf` from `offset`; `what` names the structure for errors.
    pub fn read(&self, offset: u64, buf: &mut [u8], what: &str) -> Result<(), CanonicalizeError> {
        let at = self.check(offset, buf.len() as u64, what)?;
        self.file.read_exact_at(buf, at).map_err(|error| CanonicalizeError::io("reading", at, buf.len() as u64, error))
    }

    /// Reads `len` bytes from `offset`.
    pub fn read_vec(&self, offset: u64, len: usize, what: &str) -> Result<Vec<u8>, CanonicalizeError> {
        self.check(offset, len as u64, what)?;
        let mut buf = vec![0u8; len];
        self.read(offset, &mut buf, what)?;
        Ok(buf)
    }

    /// Writes `buf` at `offset`.
    pub fn write(&self, offset: u64, buf: &[u8], what: &str) -> Result<(), CanonicalizeError> {
        let at = self.check(offset, buf.len() as u64, what)?;
        self.file.write_all_at(buf, at).map_err(|error| CanonicalizeError::io("writing", at, buf.len() as u64, error))
    }

    /// Makes `len` bytes from `offset` read as zeros, as a hole where the
    /// host file system can punch one, else by writing zeros.
    pub fn punch(&self, offset: u64, len: u64, what: &str) -> Result<(), CanonicalizeError> {
        if len == 0 {
            return Ok(());
        }
        let at = self.check(offset, len, what)?;
        match punch_hole(self.file, at, len) {
            Ok(()) => Ok(()),
            Err(error) if error.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                let zeros = vec![0u8; 1 << 20];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(zeros.len() as u64);
                    self.file
                        .write_all_at(&zeros[..n as usize], at + done)
                        .map_err(|error| CanonicalizeError::io("zeroing", at + done, n, error))?;
                    done += n;
                }
                Ok(())
            }
            Err(error) => Err(CanonicalizeError::io("punching a hole of", at, len, error)),
        }
    }
}

#[allow(unsafe_code)]
fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    // SAFETY: fallocate on a valid descriptor takes no pointers; it only
    // changes the file's contents, which this process owns for writing.
    let result = unsafe {
        libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, offset, len)
    };
    if result == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
