//! Writing initramfs archives: the "newc" cpio format the kernel unpacks
//! into its first root file system.
//!
//! Every field that could vary is fixed (owner root, time 0, inode numbers
//! counted from 1 in the order of writing), so the same files always give
//! the same bytes. The archive is left uncompressed: the kernel unpacks it
//! without a decompressor, which under software emulation is faster than
//! reading fewer bytes.

use std::io::{self, Write};

/// A newc archive being written.
pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_inode: u32,
}

/// `S_IFDIR`, `S_IFREG` and `S_IFLNK` as cpio stores them in `mode`.
const DIRECTORY: u32 = 0o040000;
const REGULAR: u32 = 0o100000;
const SYMLINK: u32 = 0o120000;

impl<W: Write> CpioWriter<W> {
    /// Starts an archive.
    pub fn new(out: W) -> CpioWriter<W> {
        CpioWriter { out, written: 0, next_inode: 1 }
    }

    /// Adds a directory (its parent must have been added before).
    pub fn directory(&mut self, path: &str, permissions: u32) -> io::Result<()> {
        self.entry(path, DIRECTORY | permissions, 2, &[])
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, permissions: u32, contents: &[u8]) -> io::Result<()> {
        self.entry(path, REGULAR | permissions, 1, contents)
    }

    /// Adds a symbolic link to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.entry(path, SYMLINK | 0o777, 1, target.as_bytes())
    }

    /// Ends the archive and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.next_inode = 0;
        self.entry("TRAILER!!!", 0, 1, &[])?;
        Ok(self.out)
    }

    fn entry(&mut self, path: &str, mode: u32, links: u32, data: &[u8]) -> io::Result<()> {
        let name_size = u32::try_from(path.len() + 1)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name too long for cpio"))?;
        let inode = self.next_inode;
        if inode != 0 {
            self.next_inode += 1;
        }
        let data_size = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("'{path}' is too large for cpio")))?;
        let fields = [inode, mode, 0, 0, links, 0, data_size, 0, 0, 0, 0, name_size, 0];
        let mut header = String::with_capacity(110);
        header.push_str("070701");
        for field in fields {
            header.push_str(&format!("{field:08X}"));
        }
        self.put(header.as_bytes())?;
        self.put(path.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Pads to the next multiple of four bytes, as newc requires after
    /// every name and every file's data.
    fn pad(&mut self) -> io::Result<()> {
        let padding = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..padding])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn archive_is_readable_by_cpio_and_stable() {
        let build = || {
            let mut writer = CpioWriter::new(Vec::new());
            writer.directory("bin", 0o755).unwrap();
            writer.file("bin/hello", 0o755, b"#!/bin/sh\necho hi\n").unwrap();
            writer.symlink("bin/sh", "hello").unwrap();
            writer.finish().unwrap()
        };
        let bytes = build();
        assert_eq!(bytes, build());
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.starts_with(b"070701"));
        let mut child = Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cpio (Debian package cpio) runs");
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{text}");
        assert!(text.contains("bin/hello"), "{text}");
        assert!(text.contains("bin/sh -> hello"), "{text}");
    }
}
