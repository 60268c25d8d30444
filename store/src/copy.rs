//! Copies of store objects that keep holes as holes.
//!
//! [`copy_file`] first asks the file system for a reflink (the copy shares
//! the source's blocks until either is written: constant time, no space).
//! Where that is not possible (ext4, tmpfs, across file systems) it makes a
//! sparse copy: it walks the source's data extents with
//! `lseek(SEEK_DATA / SEEK_HOLE)`, copies only those (`copy_file_range`,
//! or `pread`/`pwrite` where that is unavailable), and sets the length so
//! that a trailing hole stays a hole. No zeros are ever written for a hole
//! and no hole is read. A copy has the same content, so the same
//! [`hash_file`](crate::hash::hash_file), as its source.
//!
//! Copies are not synced to disk: callers that need durability (the store,
//! before it registers an object) sync themselves. Owners and times are not
//! copied; permission bits are.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::Path;

use crate::hash::{at, data_extents, open_regular, unsupported_type};

/// How [`copy_file`] copied a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CopyMethod {
    /// A reflink: the copy shares the source's blocks (copy-on-write), made
    /// in constant time whatever the size.
    Reflink,
    /// A sparse copy: only the data extents were copied; holes stayed holes.
    Sparse,
}

/// Copies the regular file `from` (a symlink is followed) to the new path
/// `to`, with the same permission bits, and says how.
///
/// Tries a reflink (`FICLONE`, through `reflink_copy`) first; if the file
/// system cannot make one, copies the data extents only (see the [module
/// documentation](self)). `to` must not exist: an existing file is never
/// overwritten (the error has kind [`io::ErrorKind::AlreadyExists`]). On
/// error, no partial `to` is left behind. Errors name the paths involved.
pub fn copy_file(from: &Path, to: &Path) -> io::Result<CopyMethod> {
    let (source, meta) = open_regular(from)?;
    let dest = OpenOptions::new().write(true).create_new(true).mode(0o600).open(to).map_err(|e| at(to, e))?;
    let result = (|| {
        let method = if reflink_copy::reflink_file(&source, &dest).is_ok() {
            CopyMethod::Reflink
        } else {
            // No reflinks here (ext4, tmpfs, another file system). A failed
            // clone leaves the destination empty; truncate only if it did
            // not, since on ext4 a truncation to zero makes the close start
            // writing back the whole file (its `auto_da_alloc` heuristic).
            if dest.metadata().map_err(|e| at(to, e))?.len() != 0 {
                dest.set_len(0).map_err(|e| at(to, e))?;
            }
            sparse_copy(&source, &dest, meta.len()).map_err(|e| {
                io::Error::new(e.kind(), format!("copying {} to {}: {e}", from.display(), to.display()))
            })?;
            CopyMethod::Sparse
        };
        let mode = meta.permissions().mode() & 0o7777;
        dest.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| at(to, e))?;
        Ok(method)
    })();
    if result.is_err() {
        drop(dest);
        let _ = fs::remove_file(to);
    }
    result
}

/// Copies a store object: recreates the directory tree, symbolic link or
/// regular file at `from` as the new path `to`.
///
/// Directories are created with the source's permission bits (set after
/// their entries are copied, so read-only directories work), symlinks get
/// the same target (never followed), and regular files are copied with
/// [`copy_file`], keeping their permission bits and so the executable bit.
/// A FIFO, socket or device is an error naming its path. `to` must not
/// exist. On error, what was copied so far is left in place: copy into a
/// scratch location and remove it on failure.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from).map_err(|e| at(from, e))?;
    let file_type = meta.file_type();
    if file_type.is_file() {
        copy_file(from, to).map(drop)
    } else if file_type.is_symlink() {
        let target = fs::read_link(from).map_err(|e| at(from, e))?;
        symlink(&target, to).map_err(|e| at(to, e))
    } else if file_type.is_dir() {
        fs::create_dir(to).map_err(|e| at(to, e))?;
        for entry in fs::read_dir(from).map_err(|e| at(from, e))? {
            let entry = entry.map_err(|e| at(from, e))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        let mode = meta.permissions().mode() & 0o7777;
        fs::set_permissions(to, fs::Permissions::from_mode(mode)).map_err(|e| at(to, e))
    } else {
        Err(unsupported_type(from, file_type))
    }
}

/// Copies the data extents of the first `len` bytes of `source` into the
/// empty `dest` and gives it length `len`: the holes stay holes.
fn sparse_copy(source: &File, dest: &File, len: u64) -> io::Result<()> {
    for (start, end) in data_extents(source, len)? {
        copy_range(source, dest, start, end)?;
    }
    dest.set_len(len)
}

/// Copies bytes `[start, end)` of `source` to the same offsets of `dest`.
fn copy_range(source: &File, dest: &File, mut start: u64, end: u64) -> io::Result<()> {
    while start < end {
        match copy_file_range(source, dest, start, end - start) {
            Ok(0) => return Err(short_source()),
            Ok(copied) => start += copied,
            Err(e) if copy_file_range_unsupported(&e) => return copy_range_buffered(source, dest, start, end),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn copy_range_buffered(source: &File, dest: &File, mut start: u64, end: u64) -> io::Result<()> {
    const BUFFER_LEN: u64 = 8 * 1024 * 1024;
    let mut buf = vec![0u8; (end - start).min(BUFFER_LEN) as usize];
    while start < end {
        let n = (end - start).min(BUFFER_LEN) as usize;
        source
            .read_exact_at(&mut buf[..n], start)
            .map_err(|e| if e.kind() == io::ErrorKind::UnexpectedEof { short_source() } else { e })?;
        dest.write_all_at(&buf[..n], start)?;
        start += n as u64;
    }
    Ok(())
}

fn short_source() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the source became shorter while it was copied")
}

/// Errors of `copy_file_range` that mean "not here, copy by hand".
fn copy_file_range_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOSYS | libc::EXDEV | libc::EOPNOTSUPP | libc::EINVAL | libc::EPERM | libc::ETXTBSY)
    )
}

/// One `copy_file_range` call from `source` at `offset` to `dest` at the
/// same offset; how many bytes it copied.
#[allow(unsafe_code)]
fn copy_file_range(source: &File, dest: &File, offset: u64, len: u64) -> io::Result<u64> {
    let mut in_offset = libc::loff_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset out of range"))?;
    let mut out_offset = in_offset;
    // At most 1 GiB per call, well within ssize_t.
    let len = len.min(1 << 30) as usize;
    // SAFETY: both descriptors stay open while `source` and `dest` are
    // borrowed; the two offset pointers point to live, exclusively borrowed
    // locals, which the kernel reads and updates. No buffer is passed.
    let copied =
        unsafe { libc::copy_file_range(source.as_raw_fd(), &mut in_offset, dest.as_raw_fd(), &mut out_offset, len, 0) };
    u64::try_from(copied).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::tests::{TempDir, noise, sparse_file};
    use crate::hash::{hash_file, hash_path};
    use std::os::unix::fs::MetadataExt;

    fn allocated(path: &Path) -> u64 {
        fs::metadata(path).unwrap().blocks() * 512
    }

    #[test]
    fn sparse_file_copy_keeps_content_holes_and_mode() {
        let dir = TempDir::new("copy-sparse");
        let from = dir.join("from");
        let a = noise(10_000, 1);
        let b = noise(300_000, 2);
        let len = (64 << 20) + 123;
        sparse_file(&from, len, &[(4097, &a), (20 << 20, &b), (40 << 20, &a)]);
        fs::set_permissions(&from, fs::Permissions::from_mode(0o751)).unwrap();
        let to = dir.join("to");
        let method = copy_file(&from, &to).unwrap();
        assert_eq!(fs::read(&from).unwrap(), fs::read(&to).unwrap());
        assert_eq!(fs::metadata(&to).unwrap().len(), len);
        assert_eq!(fs::metadata(&to).unwrap().permissions().mode() & 0o7777, 0o751);
        assert_eq!(hash_file(&to).unwrap(), hash_file(&from).unwrap());
        if method == CopyMethod::Sparse {
            // Only the data was written: the trailing hole and the holes
            // in between are still holes.
            assert!(allocated(&to) <= allocated(&from), "{} > {}", allocated(&to), allocated(&from));
            assert!(allocated(&to) < 2 << 20, "{}", allocated(&to));
        }
    }

    #[test]
    fn empty_hole_only_and_dense_files() {
        let dir = TempDir::new("copy-kinds");
        // (name, length, data at offset 0)
        let cases = [
            ("empty", 0, vec![]),
            ("hole", 1 << 30, vec![]),
            ("tiny", 3, b"abc".to_vec()),
            ("dense", 5_000_000, noise(5_000_000, 3)),
        ];
        for (name, len, data) in cases {
            let from = dir.join(name);
            sparse_file(&from, len, &[(0, &data)]);
            fs::set_permissions(&from, fs::Permissions::from_mode(0o640)).unwrap();
            let to = dir.join(&format!("{name}.copy"));
            copy_file(&from, &to).unwrap();
            assert_eq!(fs::metadata(&to).unwrap().len(), len, "{name}");
            assert_eq!(fs::metadata(&to).unwrap().permissions().mode() & 0o7777, 0o640, "{name}");
            assert_eq!(hash_file(&to).unwrap(), hash_file(&from).unwrap(), "{name}");
            if name == "hole" {
                assert!(allocated(&to) <= 64 << 10, "{}", allocated(&to));
            }
        }
    }

    #[test]
    fn buffered_fallback_copies_the_same() {
        let dir = TempDir::new("copy-buffered");
        let from = dir.join("from");
        let data = noise(20 << 20, 5);
        sparse_file(&from, 30 << 20, &[(5, &data)]);
        let source = File::open(&from).unwrap();
        let to = dir.join("to");
        let dest = File::create(&to).unwrap();
        copy_range_buffered(&source, &dest, 5, 5 + data.len() as u64).unwrap();
        dest.set_len(30 << 20).unwrap();
        assert_eq!(fs::read(&from).unwrap(), fs::read(&to).unwrap());
        // Asking for more than the source has is an error.
        let err = copy_range_buffered(&source, &dest, 29 << 20, 31 << 20).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn existing_destination_is_not_overwritten() {
        let dir = TempDir::new("copy-exists");
        let from = dir.join("from");
        let to = dir.join("to");
        fs::write(&from, b"new").unwrap();
        fs::write(&to, b"old").unwrap();
        let err = copy_file(&from, &to).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&to).unwrap(), b"old");
    }

    #[test]
    fn copy_errors_leave_nothing_and_name_paths() {
        let dir = TempDir::new("copy-errors");
        let to = dir.join("to");
        let err = copy_file(&dir.join("missing"), &to).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(!to.exists());
        let err = copy_file(&dir.0, &to).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(!to.exists());
        // A FIFO is an error, not a hang waiting for a writer.
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let err = copy_file(&fifo, &to).unwrap_err();
        assert!(err.to_string().contains("fifo: is not a regular file"), "{err}");
        assert!(!to.exists());
    }

    #[test]
    fn tree_copy_keeps_structure_links_and_executable_bits() {
        let dir = TempDir::new("copy-tree");
        let from = dir.join("from");
        fs::create_dir_all(from.join("sub/deeper")).unwrap();
        sparse_file(&from.join("disk.img"), 256 << 20, &[(100 << 20, &noise(50_000, 6))]);
        fs::write(from.join("run.sh"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(from.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(from.join("sub/deeper/plain"), b"plain").unwrap();
        fs::set_permissions(from.join("sub/deeper/plain"), fs::Permissions::from_mode(0o600)).unwrap();
        symlink("../run.sh", from.join("sub/link")).unwrap();
        symlink("/nonexistent/target", from.join("dangling")).unwrap();
        fs::create_dir(from.join("empty")).unwrap();
        fs::set_permissions(from.join("sub/deeper"), fs::Permissions::from_mode(0o555)).unwrap();
        let to = dir.join("to");
        copy_tree(&from, &to).unwrap();
        assert_eq!(hash_path(&to).unwrap(), hash_path(&from).unwrap());
        assert_eq!(fs::read_link(to.join("sub/link")).unwrap(), Path::new("../run.sh"));
        assert_eq!(fs::read_link(to.join("dangling")).unwrap(), Path::new("/nonexistent/target"));
        let mode = |p: &str| fs::symlink_metadata(to.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("run.sh"), 0o755);
        assert_eq!(mode("sub/deeper/plain"), 0o600);
        assert_eq!(mode("sub/deeper"), 0o555);
        assert!(to.join("empty").is_dir());
        assert!(allocated(&to.join("disk.img")) < 4 << 20);
        // A symlink or a file as the whole object.
        copy_tree(&from.join("sub/link"), &dir.join("link-copy")).unwrap();
        assert_eq!(fs::read_link(dir.join("link-copy")).unwrap(), Path::new("../run.sh"));
        copy_tree(&from.join("run.sh"), &dir.join("run-copy")).unwrap();
        assert_eq!(hash_path(&dir.join("run-copy")).unwrap(), hash_path(&from.join("run.sh")).unwrap());
        // The destination must not exist.
        assert_eq!(copy_tree(&from, &to).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn tree_copy_rejects_special_files() {
        let dir = TempDir::new("copy-special");
        let from = dir.join("from");
        fs::create_dir(&from).unwrap();
        let socket = from.join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = copy_tree(&from, &dir.join("to")).unwrap_err();
        assert!(err.to_string().contains(&socket.display().to_string()), "{err}");
    }
}
