//! The archive an object travels in: one stream for a file, a symlink or a
//! whole directory tree, that carries a file's data and not its holes.
//!
//! ```text
//! archive   = "imgx.archive.v1\n" node            (then the end of the stream)
//! node      = file | executable | symlink | directory
//! file      = 'f' le64(size) extent* le64(2^64-1)
//! executable= 'x' le64(size) extent* le64(2^64-1)
//! extent    = le64(offset) le64(length) byte[length]   (length > 0, increasing, inside size)
//! symlink   = 'l' le64(length) byte[length]            (the target, 1 to 4095 bytes, no NUL)
//! directory = 'd' le64(count) entry[count]
//! entry     = le64(length) byte[length] node           (the name: 1 to 255 bytes, no '/' or NUL,
//!                                                        not "." or "..", strictly increasing)
//! ```
//!
//! Packing reads only the data extents the file system reports
//! (`SEEK_DATA`/`SEEK_HOLE`) and also leaves out data blocks of 64 KiB that
//! are all zeros, so a 20 GiB image holding 1 GiB of data is about 1 GiB of
//! archive before compression. Everything not in an extent reads as zeros
//! and is unpacked as a hole. Entries are in byte order of their names and
//! only the owner execute bit of a mode is kept, the same things the
//! object hash covers, so the archive of an object is the same bytes on
//! every machine.
//!
//! Unpacking treats the stream as hostile: every length is checked before
//! it is used, names can only create entries directly inside the folder
//! being unpacked, entries are created exclusively (never through an
//! existing entry), the apparent size is bounded by what the manifest
//! declared, and a stream that ends early or goes on after the archive is
//! an error.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use imgx_store::ObjectHash;
use imgx_store::hash;

use super::block_writer::BlockWriter;

/// The first bytes of every archive.
pub const MAGIC: &[u8; 16] = b"imgx.archive.v1\n";
/// The zstd level archives are compressed with (zstd's default).
const ZSTD_LEVEL: i32 = 3;
/// The marker after a file's last extent.
const END_OF_EXTENTS: u64 = u64::MAX;
/// Blocks of this size that hold only zeros are left out.
const ZERO_BLOCK: usize = 64 * 1024;
/// How much of a file is read (or written) at once.
const PIECE: usize = 1024 * 1024;
/// The longest name an entry may have (Linux's `NAME_MAX`).
const MAX_NAME: u64 = 255;
/// The longest symlink target (Linux's `PATH_MAX` minus the terminator).
const MAX_TARGET: u64 = 4095;
/// How deep a directory tree may nest.
const MAX_DEPTH: usize = 256;

/// Why an archive could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading the stream or writing the tree failed.
    #[error("{action} {}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The operating system's (or the decompressor's) error.
        #[source]
        source: io::Error,
    },
    /// The stream is not a valid archive (truncated, out of order, a bad
    /// name or length).
    #[error("the archive is malformed: {0}")]
    Malformed(String),
    /// The archive unpacks to more bytes than its manifest declared.
    #[error("the archive unpacks to more than the {0} bytes its manifest declares")]
    TooLarge(u64),
}

/// What packing an object wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PackStats {
    /// The object's apparent size (holes counted).
    pub apparent: u64,
    /// The bytes of file data in the archive (holes and zero blocks not).
    pub data: u64,
}

/// Writes the archive of the object at `path` to `out`, compressed with
/// zstd on `threads` worker threads (with a content checksum, so that a
/// damaged stream is an error even before the object hash is checked).
pub fn write_compressed(path: &Path, out: impl Write, threads: u32) -> io::Result<PackStats> {
    let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
    encoder.include_checksum(true)?;
    if threads > 1 {
        encoder.multithread(threads)?;
    }
    let mut writer = BufWriter::with_capacity(PIECE, encoder);
    let stats = pack(path, &mut writer)?;
    let encoder = writer.into_inner().map_err(|e| e.into_error())?;
    encoder.finish()?.flush()?;
    Ok(stats)
}

/// Unpacks a zstd-compressed archive from `input` to `dest`, which must
/// not exist, refusing more than `limit` apparent bytes. Returns the hash
/// of what it wrote, computed on the way (see [`unpack`]).
pub fn read_compressed(input: impl Read, dest: &Path, limit: u64) -> Result<ObjectHash, ArchiveError> {
    let decoder = zstd::stream::read::Decoder::new(input).map_err(|source| ArchiveError::Io {
        action: "could not start decompressing to",
        path: dest.into(),
        source,
    })?;
    unpack(decoder, dest, limit)
}

/// Writes the uncompressed archive of the object at `path` to `out`.
pub fn pack(path: &Path, out: &mut impl Write) -> io::Result<PackStats> {
    out.write_all(MAGIC)?;
    let mut stats = PackStats::default();
    pack_node(path, out, &mut stats)?;
    Ok(stats)
}

fn at(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

fn pack_node(path: &Path, out: &mut impl Write, stats: &mut PackStats) -> io::Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| at(path, e))?;
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        let target = fs::read_link(path).map_err(|e| at(path, e))?;
        let target = target.as_os_str().as_bytes();
        out.write_all(b"l")?;
        out.write_all(&(target.len() as u64).to_le_bytes())?;
        out.write_all(target)?;
        stats.apparent += target.len() as u64;
    } else if file_type.is_dir() {
        let mut entries: Vec<(Vec<u8>, PathBuf)> = fs::read_dir(path)
            .map_err(|e| at(path, e))?
            .map(|entry| entry.map(|e| (e.file_name().as_bytes().to_vec(), e.path())))
            .collect::<io::Result<_>>()
            .map_err(|e| at(path, e))?;
        entries.sort();
        out.write_all(b"d")?;
        out.write_all(&(entries.len() as u64).to_le_bytes())?;
        for (name, child) in entries {
            out.write_all(&(name.len() as u64).to_le_bytes())?;
            out.write_all(&name)?;
            pack_node(&child, out, stats)?;
        }
    } else if file_type.is_file() {
        pack_file(path, &meta, out, stats).map_err(|e| at(path, e))?;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file, symlink or directory", path.display()),
        ));
    }
    Ok(())
}

fn pack_file(path: &Path, meta: &fs::Metadata, out: &mut impl Write, stats: &mut PackStats) -> io::Result<()> {
    let file = File::open(path)?;
    let len = meta.len();
    let executable = meta.permissions().mode() & 0o100 != 0;
    out.write_all(if executable { b"x" } else { b"f" })?;
    out.write_all(&len.to_le_bytes())?;
    stats.apparent += len;
    let mut buf = vec![0u8; PIECE];
    for (start, end) in imgx_store::hash::data_extents(&file, len)? {
        let mut pos = start;
        while pos < end {
            let n = usize::try_from(end - pos).unwrap_or(PIECE).min(PIECE);
            let piece = &mut buf[..n];
            file.read_exact_at(piece, pos)?;
            let mut i = 0;
            while i < n {
                let block = i..(i + ZERO_BLOCK).min(n);
                if is_zero(&piece[block.clone()]) {
                    i = block.end;
                    continue;
                }
                let run = i;
                while i < n {
                    let block = i..(i + ZERO_BLOCK).min(n);
                    if is_zero(&piece[block.clone()]) {
                        break;
                    }
                    i = block.end;
                }
                out.write_all(&(pos + run as u64).to_le_bytes())?;
                out.write_all(&((i - run) as u64).to_le_bytes())?;
                out.write_all(&piece[run..i])?;
                stats.data += (i - run) as u64;
            }
            pos += n as u64;
        }
    }
    out.write_all(&END_OF_EXTENTS.to_le_bytes())
}

/// Whether a block is all zeros, 16 bytes at a time.
fn is_zero(block: &[u8]) -> bool {
    let (words, rest) = block.as_chunks::<16>();
    words.iter().all(|w| u128::from_ne_bytes(*w) == 0) && rest.iter().all(|&b| b == 0)
}

/// Unpacks an uncompressed archive from `input` to `dest`, which must not
/// exist, refusing more than `limit` apparent bytes.
///
/// Returns the object hash of the tree it wrote, computed from the bytes
/// as they were written ([`BlockWriter`], [`hash::DirectoryHasher`]), so
/// that the caller can check it against the name it expects and register
/// the tree without reading it back.
pub fn unpack(input: impl Read, dest: &Path, limit: u64) -> Result<ObjectHash, ArchiveError> {
    let mut unpacker = Unpacker { input, budget: limit, limit };
    let mut magic = [0u8; 16];
    unpacker.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(ArchiveError::Malformed("it does not start with the archive's magic bytes".into()));
    }
    let (tag, node) = unpacker.node(dest, 0)?;
    let mut extra = [0u8; 1];
    loop {
        match unpacker.input.read(&mut extra) {
            Ok(0) => return Ok(hash::object_hash(tag, node)),
            Ok(_) => return Err(ArchiveError::Malformed("there are bytes after the end of the archive".into())),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(ArchiveError::Io { action: "could not read the archive for", path: dest.into(), source });
            }
        }
    }
}

struct Unpacker<R> {
    input: R,
    /// Apparent bytes still allowed.
    budget: u64,
    limit: u64,
}

/// The error for a failed read of the stream.
fn read_error(e: io::Error) -> ArchiveError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => malformed("it ends early (truncated)"),
        _ => ArchiveError::Io { action: "could not read the archive", path: PathBuf::new(), source: e },
    }
}

fn malformed(what: impl Into<String>) -> ArchiveError {
    ArchiveError::Malformed(what.into())
}

fn io_at<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ArchiveError + 'a {
    move |source| ArchiveError::Io { action, path: path.to_path_buf(), source }
}

impl<R: Read> Unpacker<R> {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ArchiveError> {
        self.input.read_exact(buf).map_err(read_error)
    }

    fn u64(&mut self) -> Result<u64, ArchiveError> {
        let mut bytes = [0u8; 8];
        self.read_exact(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn bytes(&mut self, len: u64) -> Result<Vec<u8>, ArchiveError> {
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|_| malformed("a length is too large"))?];
        self.read_exact(&mut bytes)?;
        Ok(bytes)
    }

    fn charge(&mut self, bytes: u64) -> Result<(), ArchiveError> {
        self.budget = self.budget.checked_sub(bytes).ok_or(ArchiveError::TooLarge(self.limit))?;
        Ok(())
    }

    /// Unpacks one node to `path` and returns its entry tag and hash.
    fn node(&mut self, path: &Path, depth: usize) -> Result<(u8, [u8; 32]), ArchiveError> {
        let mut tag = [0u8; 1];
        self.read_exact(&mut tag)?;
        match tag[0] {
            b'f' => Ok((hash::TAG_FILE, self.file(path, false)?)),
            b'x' => Ok((hash::TAG_EXECUTABLE, self.file(path, true)?)),
            b'l' => {
                let len = self.u64()?;
                if len == 0 || len > MAX_TARGET {
                    return Err(malformed(format!("a symlink target has the length {len}")));
                }
                self.charge(len)?;
                let target = self.bytes(len)?;
                if target.contains(&0) {
                    return Err(malformed("a symlink target contains a NUL byte"));
                }
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), path)
                    .map_err(io_at("could not create the symlink", path))?;
                Ok((hash::TAG_SYMLINK, hash::symlink_hash(&target)))
            }
            b'd' => {
                if depth >= MAX_DEPTH {
                    return Err(malformed(format!("directories nest deeper than {MAX_DEPTH}")));
                }
                let count = self.u64()?;
                fs::create_dir(path).map_err(io_at("could not create the directory", path))?;
                let mut directory = hash::DirectoryHasher::new(count);
                let mut previous: Option<Vec<u8>> = None;
                for _ in 0..count {
                    let len = self.u64()?;
                    if len == 0 || len > MAX_NAME {
                        return Err(malformed(format!("an entry name has the length {len}")));
                    }
                    let name = self.bytes(len)?;
                    if name.contains(&b'/') || name.contains(&0) || name == b"." || name == b".." {
                        return Err(malformed(format!(
                            "the entry name {:?} is not allowed",
                            String::from_utf8_lossy(&name)
                        )));
                    }
                    if previous.as_ref().is_some_and(|p| *p >= name) {
                        return Err(malformed("directory entries are not in strictly increasing order"));
                    }
                    let (tag, child) = self.node(&path.join(OsStr::from_bytes(&name)), depth + 1)?;
                    directory.entry(tag, &name, &child);
                    previous = Some(name);
                }
                Ok((hash::TAG_DIRECTORY, directory.finish()))
            }
            other => Err(malformed(format!("unknown entry tag {other:#04x}"))),
        }
    }

    /// Unpacks a file's extents to `path` and returns its content hash.
    fn file(&mut self, path: &Path, executable: bool) -> Result<[u8; 32], ArchiveError> {
        let size = self.u64()?;
        self.charge(size)?;
        let mut writer = BlockWriter::create(path, size, executable).map_err(io_at("could not create", path))?;
        let mut end = 0u64;
        loop {
            let offset = self.u64()?;
            if offset == END_OF_EXTENTS {
                return writer.finish().map_err(io_at("could not write", path));
            }
            let len = self.u64()?;
            let stop = offset.checked_add(len).filter(|&stop| len > 0 && offset >= end && stop <= size);
            let Some(stop) = stop else {
                return Err(malformed(format!(
                    "an extent ({len} bytes at {offset}) is empty, out of order or past the file's {size} bytes"
                )));
            };
            let mut pos = offset;
            while pos < stop {
                let room = writer.space(pos, stop - pos).map_err(io_at("could not write", path))?;
                let n = room.len() as u64;
                self.input.read_exact(room).map_err(read_error)?;
                writer.commit();
                pos += n;
            }
            end = stop;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("imgx-archive-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sample_tree(dir: &Path) -> PathBuf {
        let tree = dir.join("tree");
        fs::create_dir_all(tree.join("sub/empty")).unwrap();
        fs::write(tree.join("a"), b"alpha").unwrap();
        fs::write(tree.join("sub/run"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(tree.join("sub/run"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("../a", tree.join("sub/link")).unwrap();
        let sparse = File::create(tree.join("disk.img")).unwrap();
        sparse.set_len(64 << 20).unwrap();
        sparse.write_all_at(b"boot", 0).unwrap();
        sparse.write_all_at(&[0u8; 300_000], 1 << 20).unwrap();
        sparse.write_all_at(b"end", (64 << 20) - 3).unwrap();
        tree
    }

    #[test]
    fn a_tree_round_trips_with_its_hash_and_holes() {
        let dir = temp("round-trip");
        let tree = sample_tree(&dir);
        let mut packed = Vec::new();
        let stats = pack(&tree, &mut packed).unwrap();
        assert!(stats.data < 200_000, "holes and zero blocks are left out: {stats:?}");
        assert!(packed.len() < 200_000);
        let mut again = Vec::new();
        pack(&tree, &mut again).unwrap();
        assert_eq!(packed, again, "the archive is canonical");

        let out = dir.join("out");
        let written = unpack(&packed[..], &out, stats.apparent).unwrap();
        let hash = imgx_store::hash::hash_path;
        assert_eq!(hash(&out).unwrap(), hash(&tree).unwrap());
        assert_eq!(written, hash(&tree).unwrap(), "the hash computed while unpacking");
        use std::os::unix::fs::MetadataExt;
        let blocks = fs::metadata(out.join("disk.img")).unwrap().blocks();
        assert!(blocks * 512 < 1 << 20, "the unpacked image is sparse ({blocks} blocks)");

        let mut compressed = Vec::new();
        write_compressed(&tree, &mut compressed, 2).unwrap();
        let out2 = dir.join("out2");
        read_compressed(&compressed[..], &out2, stats.apparent).unwrap();
        assert_eq!(hash(&out2).unwrap(), hash(&tree).unwrap());

        let out3 = dir.join("out3");
        let too_small = unpack(&packed[..], &out3, stats.apparent - 1);
        assert!(matches!(too_small, Err(ArchiveError::TooLarge(_))), "{too_small:?}");
        let truncated = read_compressed(&compressed[..compressed.len() - 10], &dir.join("out4"), u64::MAX);
        assert!(truncated.is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A large sparse file (written on the writing thread) with extents at
    /// unaligned offsets, some sharing a block, one crossing runs, data in
    /// the last short block, and a lone executable: unpacked where direct
    /// writes work and on tmpfs, where they do not.
    #[test]
    fn large_sparse_files_unpack_with_their_hash() {
        let mut roots = vec![temp("large")];
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            let dir = shm.join(format!("imgx-archive-test-{}-large", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            roots.push(dir);
        }
        for dir in roots {
            let tree = dir.join("tree");
            fs::create_dir(&tree).unwrap();
            let size = (200 << 20) + 12345;
            let image = File::create(tree.join("image")).unwrap();
            image.set_len(size).unwrap();
            let noise = |n: usize, seed: u64| -> Vec<u8> {
                let mut x = seed;
                (0..n)
                    .map(|_| {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        (x >> 33) as u8 | 1
                    })
                    .collect()
            };
            for (i, (at, len)) in [(4096, 100), (70_000, 5000), (8 << 20, 9 << 20), (100 << 20, 1), (size - 300, 300)]
                .into_iter()
                .enumerate()
            {
                image.write_all_at(&noise(len, i as u64), at).unwrap();
            }
            let exe = File::create(tree.join("run")).unwrap();
            exe.set_len(20 << 20).unwrap();
            exe.write_all_at(b"#!/bin/sh\n", 0).unwrap();
            fs::set_permissions(tree.join("run"), fs::Permissions::from_mode(0o755)).unwrap();
            let expected = imgx_store::hash::hash_path(&tree).unwrap();

            let mut compressed = Vec::new();
            let stats = write_compressed(&tree, &mut compressed, 2).unwrap();
            let out = dir.join("out");
            let written = read_compressed(&compressed[..], &out, stats.apparent).unwrap();
            assert_eq!(written, expected, "{}", dir.display());
            assert_eq!(imgx_store::hash::hash_path(&out).unwrap(), expected, "{}", dir.display());
            assert_eq!(fs::metadata(out.join("image")).unwrap().len(), size);
            use std::os::unix::fs::MetadataExt;
            let blocks = fs::metadata(out.join("image")).unwrap().blocks();
            assert!(blocks * 512 < 20 << 20, "the unpacked image stays sparse ({blocks} blocks)");

            let lone = dir.join("lone");
            let written = unpack_file_alone(&tree.join("run"), &lone);
            assert_eq!(written, imgx_store::hash::hash_path(&tree.join("run")).unwrap());
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    fn unpack_file_alone(source: &Path, dest: &Path) -> ObjectHash {
        let mut packed = Vec::new();
        let stats = pack(source, &mut packed).unwrap();
        unpack(&packed[..], dest, stats.apparent).unwrap()
    }

    fn archive(body: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(body);
        bytes
    }

    fn entry(name: &[u8], node: &[u8]) -> Vec<u8> {
        let mut bytes = (name.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(node);
        bytes
    }

    fn empty_file() -> Vec<u8> {
        let mut bytes = b"f".to_vec();
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&END_OF_EXTENTS.to_le_bytes());
        bytes
    }

    fn dir_of(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = b"d".to_vec();
        bytes.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for e in entries {
            bytes.extend_from_slice(e);
        }
        bytes
    }

    #[test]
    fn hostile_archives_are_refused_without_writing_outside() {
        let dir = temp("hostile");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("dot-dot", archive(&dir_of(&[entry(b"..", &empty_file())]))),
            ("slash", archive(&dir_of(&[entry(b"a/b", &empty_file())]))),
            ("duplicate", archive(&dir_of(&[entry(b"a", &empty_file()), entry(b"a", &empty_file())]))),
            ("unsorted", archive(&dir_of(&[entry(b"b", &empty_file()), entry(b"a", &empty_file())]))),
            ("trailing", {
                let mut a = archive(&empty_file());
                a.push(0);
                a
            }),
            ("extent past the end", {
                let mut f = b"f".to_vec();
                f.extend_from_slice(&4u64.to_le_bytes());
                f.extend_from_slice(&2u64.to_le_bytes());
                f.extend_from_slice(&4u64.to_le_bytes());
                f.extend_from_slice(b"abcd");
                f.extend_from_slice(&END_OF_EXTENTS.to_le_bytes());
                archive(&f)
            }),
            (
                "symlink then through it",
                archive(&dir_of(&[
                    entry(b"a", &{
                        let mut l = b"l".to_vec();
                        l.extend_from_slice(&4u64.to_le_bytes());
                        l.extend_from_slice(b"/tmp");
                        l
                    }),
                    entry(b"a", &dir_of(&[entry(b"x", &empty_file())])),
                ])),
            ),
            ("bad magic", b"not an archive..".to_vec()),
            ("truncated", archive(&dir_of(&[entry(b"a", &empty_file())]))[..30].to_vec()),
        ];
        for (name, bytes) in cases {
            let out = dir.join(name.replace(' ', "-"));
            let result = unpack(&bytes[..], &out, 1 << 20);
            assert!(result.is_err(), "{name}: accepted");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
