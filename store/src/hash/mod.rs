//! Content hashes of store objects, computed without reading holes.
//!
//! Store objects are often multi-GiB raw disk images that are mostly holes,
//! so a file's hash must cost time in proportion to its *data*, not its
//! apparent size. [`hash_file`] finds the data extents with
//! `lseek(SEEK_DATA / SEEK_HOLE)`, reads and hashes only those, and stands in
//! a constant for every block that lies entirely in a hole.
//!
//! # Why this is not the plain BLAKE3 hash of the bytes
//!
//! Plain BLAKE3 (what `b3sum FILE` prints) cannot skip holes. Its leaves are
//! 1 KiB chunks, and each chunk is compressed with its own index (the chunk
//! counter) as an input, so two all-zero chunks at different offsets have
//! different chaining values, and so do all-zero subtrees. There is no
//! position-independent "zero subtree" value to cache: hashing a 16 GiB hole
//! with plain BLAKE3 means 16 Mi chunk compressions, which is as much CPU
//! work as hashing 16 GiB of data (about 8 s on two cores here), even when
//! not a byte is read from the disk. The format below hashes per 64 KiB
//! block instead, and a block's digest does not depend on where the block
//! is, so all hole blocks share one precomputed digest.
//!
//! # The format, version 1
//!
//! This is a format: changing anything here changes every hash in every
//! store. `BLAKE3(x)` is the standard, unkeyed 32-byte BLAKE3 hash of the
//! byte string `x`; `‖` is concatenation; `le64(n)` is `n` as 8 bytes,
//! little-endian. The domain strings are ASCII, without a terminator; they
//! differ in their sixth byte, so no encoding is a prefix of another kind's.
//!
//! **Regular file content** of `n` bytes, cut into `k = ⌈n / 65536⌉` blocks
//! `B₀ … Bₖ₋₁` of 65536 bytes (the last one shorter when `n` is not a
//! multiple of 65536):
//!
//! ```text
//! file(F) = BLAKE3("imgx.file.v1" ‖ le64(n) ‖ BLAKE3(B₀) ‖ … ‖ BLAKE3(Bₖ₋₁))
//! ```
//!
//! Holes read as zeros, so a file's hash does not depend on which of its
//! zeros are holes. It can be recomputed with standard tools (this reads the
//! holes, so it is only a cross-check):
//!
//! ```sh
//! { printf imgx.file.v1; perl -e 'print pack("Q<", $ARGV[0])' "$(stat -c %s F)"
//!   split -b 65536 --filter='b3sum --raw' F; } | b3sum
//! ```
//!
//! **Symbolic link** with target bytes `t` (not followed):
//!
//! ```text
//! symlink(t) = BLAKE3("imgx.symlink.v1" ‖ le64(len(t)) ‖ t)
//! ```
//!
//! **Directory** with entries `e₁ … eₘ`, sorted by the bytes of their names
//! (`.` and `..` are not entries):
//!
//! ```text
//! directory = BLAKE3("imgx.directory.v1" ‖ le64(m) ‖ entry(e₁) ‖ … ‖ entry(eₘ))
//! entry(e)  = tag ‖ le64(len(name)) ‖ name ‖ hash
//! ```
//!
//! | entry | tag | hash (32 bytes) |
//! |---|---|---|
//! | regular file, owner execute bit clear | `f` (0x66) | `file(e)` |
//! | regular file, owner execute bit set | `x` (0x78) | `file(e)` |
//! | symbolic link | `l` (0x6c) | `symlink(target)` |
//! | directory | `d` (0x64) | `directory(e)` |
//!
//! The owner execute bit is the only mode bit that counts, so the umask,
//! owners and times of the files never change a hash.
//!
//! **A whole path** ([`hash_path`]): a directory hashes as `directory`, a
//! symlink as `symlink`, a regular file without the owner execute bit as
//! `file`, and one with it as
//!
//! ```text
//! executable(F) = BLAKE3("imgx.executable.v1" ‖ file(F))
//! ```
//!
//! so that an executable and a plain file with the same bytes are different
//! store objects. Anything else (a FIFO, a socket, a device) is an error.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;

mod stream;

pub use stream::{ContentHasher, DirectoryHasher, block_digest, object_hash, symlink_hash};

/// The size of the blocks whose digests make up a file's hash. Public for
/// writers that hash a file as they write it ([`ContentHasher`]).
pub const BLOCK_LEN: u64 = 64 * 1024;
/// How many blocks one task reads and hashes (256 KiB: it stays in cache).
const UNIT_BLOCKS: u64 = 4;
/// How many units of data are hashed before their digests are fed in order
/// (256 MiB; few in tests, so that they cross windows).
const WINDOW_UNITS: usize = if cfg!(test) { 16 } else { 1024 };

const FILE_DOMAIN: &[u8] = b"imgx.file.v1";
const EXECUTABLE_DOMAIN: &[u8] = b"imgx.executable.v1";
const SYMLINK_DOMAIN: &[u8] = b"imgx.symlink.v1";
const DIRECTORY_DOMAIN: &[u8] = b"imgx.directory.v1";

/// The entry tag of a regular file without the owner execute bit.
pub const TAG_FILE: u8 = b'f';
/// The entry tag of a regular file with the owner execute bit.
pub const TAG_EXECUTABLE: u8 = b'x';
/// The entry tag of a symbolic link.
pub const TAG_SYMLINK: u8 = b'l';
/// The entry tag of a directory.
pub const TAG_DIRECTORY: u8 = b'd';

/// The owner execute bit, the only mode bit that is part of a hash.
const OWNER_EXECUTE: u32 = 0o100;

/// The 32-byte hash that names a store object (see the [module
/// documentation](self) for how it is computed).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ObjectHash(pub [u8; 32]);

impl ObjectHash {
    /// The hash as 64 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(DIGITS[usize::from(byte >> 4)] as char);
            out.push(DIGITS[usize::from(byte & 0xf)] as char);
        }
        out
    }

    /// Parses exactly 64 hexadecimal digits (either case); `None` for
    /// anything else, including surrounding white space.
    pub fn from_hex(s: &str) -> Option<ObjectHash> {
        fn digit(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let s = s.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(ObjectHash(out))
    }
}

impl std::fmt::Display for ObjectHash {
    /// Writes the hash as 64 lowercase hexadecimal digits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Hashes the content of a regular file (`file(F)` in the [module
/// documentation](self)); a symlink is followed.
///
/// Only the data extents are read: holes cost one precomputed 32-byte digest
/// per 64 KiB block and no I/O. Blocks holding data are read and hashed in
/// parallel on rayon's thread pool, a few blocks per task. Errors name the
/// path.
pub fn hash_file(path: &Path) -> io::Result<ObjectHash> {
    let (file, meta) = open_regular(path)?;
    hash_open_file(&file, meta.len()).map(ObjectHash).map_err(|e| at(path, e))
}

/// Hashes a store object: a regular file, a symbolic link (not followed) or
/// a directory tree, as the [module documentation](self) describes.
///
/// A regular file without the owner execute bit hashes as [`hash_file`]
/// does; one with it hashes as `executable(F)`, which differs. The children
/// of a directory are hashed in parallel. A FIFO, socket or device anywhere
/// in the tree is an error naming its path, as is any I/O error.
pub fn hash_path(path: &Path) -> io::Result<ObjectHash> {
    let meta = fs::symlink_metadata(path).map_err(|e| at(path, e))?;
    let (tag, hash) = hash_node(path, &meta)?;
    Ok(object_hash(tag, hash))
}

/// Opens a regular file for reading (following symlinks) and returns it with
/// its metadata; anything else is an `InvalidInput` error. The open does not
/// block, so a FIFO is an error rather than a hang. Errors name the path.
pub(crate) fn open_regular(path: &Path) -> io::Result<(File, fs::Metadata)> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(|e| at(path, e))?;
    let meta = file.metadata().map_err(|e| at(path, e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a directory" } else { "not a regular file" };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{}: is {what}", path.display())));
    }
    // Reads of a regular file ignore O_NONBLOCK; clear it all the same.
    set_blocking(&file).map_err(|e| at(path, e))?;
    Ok((file, meta))
}

/// Clears `O_NONBLOCK` on an open file.
#[allow(unsafe_code)]
fn set_blocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl(F_GETFL / F_SETFL) takes and returns integers only, on a
    // descriptor that stays open while `file` is borrowed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Adds `path` to an error's message, keeping its kind.
pub(crate) fn at(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

/// The error for a file type that cannot be a store object.
pub(crate) fn unsupported_type(path: &Path, file_type: fs::FileType) -> io::Error {
    let what = if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else {
        "of an unknown file type"
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{}: is {what}; a store object holds only regular files, symbolic links and directories",
            path.display()
        ),
    )
}

/// Hashes one node of a tree: its entry tag and its hash (the content hash
/// for files of either tag).
fn hash_node(path: &Path, meta: &fs::Metadata) -> io::Result<(u8, [u8; 32])> {
    let file_type = meta.file_type();
    if file_type.is_file() {
        // The mode and length from the open file, in case the path was
        // replaced since it was listed.
        let (file, meta) = open_regular(path)?;
        let tag = if meta.permissions().mode() & OWNER_EXECUTE != 0 { TAG_EXECUTABLE } else { TAG_FILE };
        Ok((tag, hash_open_file(&file, meta.len()).map_err(|e| at(path, e))?))
    } else if file_type.is_symlink() {
        let target = fs::read_link(path).map_err(|e| at(path, e))?;
        Ok((TAG_SYMLINK, symlink_hash(target.as_os_str().as_bytes())))
    } else if file_type.is_dir() {
        Ok((TAG_DIRECTORY, hash_directory(path)?))
    } else {
        Err(unsupported_type(path, file_type))
    }
}

fn hash_directory(path: &Path) -> io::Result<[u8; 32]> {
    let mut children: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| at(path, e))? {
        let entry = entry.map_err(|e| at(path, e))?;
        children.push((entry.file_name().as_bytes().to_vec(), entry.path()));
    }
    children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let hashes = children
        .par_iter()
        .map(|(_, child)| {
            let meta = fs::symlink_metadata(child).map_err(|e| at(child, e))?;
            hash_node(child, &meta)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut hasher = DirectoryHasher::new(len64(children.len()));
    for ((name, _), (tag, hash)) in children.iter().zip(&hashes) {
        hasher.entry(*tag, name, hash);
    }
    Ok(hasher.finish())
}

fn len64(len: usize) -> u64 {
    // usize is at most 64 bits on every target std supports.
    len as u64
}

// --- file content ---------------------------------------------------------------------------

/// 64 KiB of zeros: the content of a hole block.
static ZEROS: [u8; BLOCK_LEN as usize] = [0; BLOCK_LEN as usize];

/// `BLAKE3(64 KiB of zeros)` repeated 32768 times (1 MiB), to feed long runs
/// of hole blocks into the outer hasher without a per-block call.
fn zero_digests() -> &'static [u8] {
    static DIGESTS: OnceLock<Vec<u8>> = OnceLock::new();
    DIGESTS.get_or_init(|| blake3::hash(&ZEROS).as_bytes().repeat(32 * 1024))
}

/// Hashes the first `len` bytes of an open regular file: `file(F)`.
///
/// The file is cut into runs of hole blocks and units of a few blocks that
/// hold data. The units of a window are read and hashed in parallel, each
/// rayon task reading one unit into a small buffer of its own and hashing it
/// right away, while it is still in the CPU's cache; then the window's
/// digests are fed to the outer hasher in order.
fn hash_open_file(file: &File, len: u64) -> io::Result<[u8; 32]> {
    let extents = data_extents(file, len)?;
    let mut outer = blake3::Hasher::new();
    outer.update(FILE_DOMAIN);
    outer.update(&len.to_le_bytes());
    let mut window = Window { file, extents: &extents, len, pieces: Vec::new(), units: 0 };
    // Blocks before `next` are in the window or were fed.
    let mut next = 0;
    let mut rest = &extents[..];
    while let Some(&(start, end)) = rest.first() {
        // A group: the extents whose blocks touch or overlap, so that every
        // block in [first, last) holds some data.
        let first = start / BLOCK_LEN;
        let mut last = end.div_ceil(BLOCK_LEN);
        let mut count = 1;
        while let Some(&(start, end)) = rest.get(count) {
            if start / BLOCK_LEN > last {
                break;
            }
            last = last.max(end.div_ceil(BLOCK_LEN));
            count += 1;
        }
        if first > next {
            window.pieces.push(Piece::Holes(first - next, false));
        }
        let mut unit = first;
        while unit < last {
            let unit_end = (unit + UNIT_BLOCKS).min(last);
            window.pieces.push(Piece::Data(unit, unit_end));
            window.units += 1;
            if window.units == WINDOW_UNITS {
                window.flush(&mut outer)?;
            }
            unit = unit_end;
        }
        next = last;
        rest = &rest[count..];
    }
    let blocks = len.div_ceil(BLOCK_LEN);
    if blocks > next {
        window.pieces.push(Piece::Holes(blocks - next, true));
    }
    window.flush(&mut outer)?;
    Ok(*outer.finalize().as_bytes())
}

/// A run of blocks of a file, in file order.
enum Piece {
    /// This many blocks that lie entirely in holes; `true` when they are the
    /// file's last blocks (the last one may be short).
    Holes(u64, bool),
    /// Blocks `[first, last)`, which hold data.
    Data(u64, u64),
}

/// The pieces of a file not yet fed to the outer hasher.
struct Window<'a> {
    file: &'a File,
    extents: &'a [(u64, u64)],
    len: u64,
    pieces: Vec<Piece>,
    /// How many of `pieces` are data.
    units: usize,
}

impl Window<'_> {
    /// Hashes the data pieces (in parallel) and feeds every piece's block
    /// digests to `outer`, in order.
    fn flush(&mut self, outer: &mut blake3::Hasher) -> io::Result<()> {
        let Window { file, extents, len, .. } = *self;
        let hash_unit = |buf: &mut Vec<u8>, (first, last): (u64, u64)| -> io::Result<Vec<[u8; 32]>> {
            read_range(file, extents, buf, first * BLOCK_LEN, (last * BLOCK_LEN).min(len), len)?;
            Ok(buf.chunks(BLOCK_LEN as usize).map(|block| *blake3::hash(block).as_bytes()).collect())
        };
        let units: Vec<(u64, u64)> = self
            .pieces
            .iter()
            .filter_map(|piece| match *piece {
                Piece::Data(first, last) => Some((first, last)),
                Piece::Holes(..) => None,
            })
            .collect();
        let digests = if units.len() <= 1 {
            // A small file: no hand-off to the thread pool.
            units.into_iter().map(|unit| hash_unit(&mut Vec::new(), unit)).collect::<io::Result<Vec<_>>>()?
        } else {
            units.into_par_iter().map_init(Vec::new, hash_unit).collect::<io::Result<Vec<_>>>()?
        };
        let mut digests = digests.iter();
        for piece in self.pieces.drain(..) {
            match piece {
                Piece::Holes(count, at_end) => feed_hole_blocks(outer, count, at_end, len),
                Piece::Data(..) => {
                    for digest in digests.next().into_iter().flatten() {
                        outer.update(digest);
                    }
                }
            }
        }
        self.units = 0;
        Ok(())
    }
}

/// Feeds the digests of `count` blocks that lie entirely in holes; `at_end`
/// when they are the file's last blocks.
fn feed_hole_blocks(outer: &mut blake3::Hasher, count: u64, at_end: bool, len: u64) {
    // The file's last block is short when `len` is not a multiple of 64 KiB.
    let short_tail = at_end && !len.is_multiple_of(BLOCK_LEN);
    let mut full = count - u64::from(short_tail);
    let digests = zero_digests();
    while full > 0 {
        let n = full.min((digests.len() / 32) as u64);
        let bytes = &digests[..n as usize * 32];
        if bytes.len() >= 256 * 1024 {
            outer.update_rayon(bytes);
        } else {
            outer.update(bytes);
        }
        full -= n;
    }
    if short_tail {
        outer.update(blake3::hash(&ZEROS[..(len % BLOCK_LEN) as usize]).as_bytes());
    }
}

/// Makes `buf` the bytes `[start, end)` of the file, reading only what the
/// sorted data `extents` cover and zero-filling the rest.
fn read_range(
    file: &File,
    extents: &[(u64, u64)],
    buf: &mut Vec<u8>,
    start: u64,
    end: u64,
    len: u64,
) -> io::Result<()> {
    buf.clear();
    buf.resize((end - start) as usize, 0);
    let first = extents.partition_point(|&(_, data_end)| data_end <= start);
    for &(data_start, data_end) in &extents[first..] {
        if data_start >= end {
            break;
        }
        let from = data_start.max(start);
        let to = data_end.min(end);
        let part = &mut buf[(from - start) as usize..(to - start) as usize];
        file.read_exact_at(part, from).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(
                    e.kind(),
                    format!("the file is shorter than the {len} bytes it had: it changed while hashed"),
                )
            } else {
                e
            }
        })?;
    }
    Ok(())
}

// --- data extents ---------------------------------------------------------------------------

/// The data extents of the first `len` bytes of an open file: sorted,
/// disjoint `(start, end)` byte ranges; everything else reads as zeros.
///
/// Uses `lseek(SEEK_DATA / SEEK_HOLE)`. Where the file system does not
/// support them (`EINVAL`), the whole file counts as data. Extents are as
/// fine as the file system reports them (usually its block size), so an
/// extent may include zeros that were written explicitly. Public for the
/// binary cache, whose archives carry a file's data extents and not its
/// holes.
pub fn data_extents(file: &File, len: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut extents = Vec::new();
    let mut pos = 0;
    while pos < len {
        let start = match seek(file, pos, libc::SEEK_DATA) {
            Ok(Some(start)) if start < len => start,
            Ok(_) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                extents.push((pos, len));
                break;
            }
            Err(e) => return Err(e),
        };
        let end = match seek(file, start, libc::SEEK_HOLE)? {
            Some(end) if end > start => end.min(len),
            _ => len,
        };
        extents.push((start, end));
        pos = end;
    }
    Ok(extents)
}

/// `lseek(fd, offset, whence)`; `None` for `ENXIO` (no data or hole at or
/// after `offset`).
#[allow(unsafe_code)]
fn seek(file: &File, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    let offset = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset out of range"))?;
    // SAFETY: lseek takes no pointers, and the descriptor stays open for as
    // long as `file` is borrowed. The offset it moves is not used elsewhere:
    // all reads and writes are positional (pread, pwrite, copy_file_range
    // with explicit offsets).
    let result = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
    match u64::try_from(result) {
        Ok(position) => Ok(Some(position)),
        Err(_) => {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENXIO) { Ok(None) } else { Err(err) }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system's temporary directory, removed on
    /// drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(name: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("imgx-store-test-{}-{n}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub(crate) fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            // A test may leave read-only directories behind.
            let _ = std::process::Command::new("chmod").arg("-R").arg("u+rwx").arg(&self.0).status();
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Writes a file of `len` bytes holding `data` at the given offsets and
    /// holes everywhere else.
    pub(crate) fn sparse_file(path: &Path, len: u64, data: &[(u64, &[u8])]) {
        let file = File::create(path).unwrap();
        file.set_len(len).unwrap();
        for (offset, bytes) in data {
            file.write_all_at(bytes, *offset).unwrap();
        }
        file.set_len(len).unwrap();
    }

    /// Deterministic pseudo-random bytes.
    pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    /// The format, computed the obvious way from the file's bytes.
    fn reference(bytes: &[u8]) -> ObjectHash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"imgx.file.v1");
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        for block in bytes.chunks(65536) {
            hasher.update(blake3::hash(block).as_bytes());
        }
        ObjectHash(*hasher.finalize().as_bytes())
    }

    fn check(dir: &TempDir, name: &str, len: u64, data: &[(u64, &[u8])]) {
        let path = dir.join(name);
        sparse_file(&path, len, data);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(hash_file(&path).unwrap(), reference(&bytes), "{name}");
        // The same bytes written densely (explicit zeros) hash the same.
        let dense = dir.join(&format!("{name}.dense"));
        fs::write(&dense, &bytes).unwrap();
        assert_eq!(hash_file(&dense).unwrap(), reference(&bytes), "{name} dense");
    }

    #[test]
    fn hex_round_trip() {
        let hash = ObjectHash(std::array::from_fn(|i| (i * 37 + 5) as u8));
        let hex = hash.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex, hex.to_lowercase());
        assert_eq!(hash.to_string(), hex);
        assert_eq!(ObjectHash::from_hex(&hex), Some(hash));
        assert_eq!(ObjectHash::from_hex(&hex.to_uppercase()), Some(hash));
        assert_eq!(ObjectHash::from_hex(&hex[1..]), None);
        assert_eq!(ObjectHash::from_hex(&format!("{hex}0")), None);
        assert_eq!(ObjectHash::from_hex(&format!(" {}", &hex[1..])), None);
        assert_eq!(ObjectHash::from_hex(&format!("g{}", &hex[1..])), None);
        assert_eq!(ObjectHash::from_hex(&format!("é{}", &hex[2..])), None);
        assert_eq!(format!("{}", ObjectHash([0xab; 32])), "ab".repeat(32));
    }

    #[test]
    fn known_values() {
        // Pinned: if these change, every store's hashes change.
        let dir = TempDir::new("known");
        let empty = dir.join("empty");
        fs::write(&empty, b"").unwrap();
        let mut expected = blake3::Hasher::new();
        expected.update(b"imgx.file.v1\0\0\0\0\0\0\0\0");
        assert_eq!(hash_file(&empty).unwrap().0, *expected.finalize().as_bytes());
        let abc = dir.join("abc");
        fs::write(&abc, b"abc").unwrap();
        let mut expected = blake3::Hasher::new();
        expected.update(b"imgx.file.v1\x03\0\0\0\0\0\0\0");
        expected.update(blake3::hash(b"abc").as_bytes());
        assert_eq!(hash_file(&abc).unwrap().0, *expected.finalize().as_bytes());
    }

    #[test]
    fn small_and_boundary_sizes() {
        let dir = TempDir::new("sizes");
        for len in
            [0u64, 1, 2, 63, 64, 65, 1023, 1024, 1025, 2048, 4095, 4096, 4097, 65535, 65536, 65537, 131072, 200_000]
        {
            let bytes = noise(len as usize, len);
            check(&dir, &format!("n{len}"), len, &[(0, &bytes)]);
        }
    }

    #[test]
    fn sparse_layouts() {
        let dir = TempDir::new("layouts");
        let a = noise(5000, 1);
        let b = noise(70_000, 2);
        let c = noise(4096, 3);
        // A hole only; holes at the start, middle and end; data not aligned
        // to 4 KiB; data crossing block boundaries; a short last block.
        check(&dir, "hole", 10 << 20, &[]);
        check(&dir, "hole-short-tail", (10 << 20) + 77, &[]);
        check(&dir, "start", 3 << 20, &[((3 << 20) - 5000, &a)]);
        check(&dir, "end", 3 << 20, &[(0, &a)]);
        check(&dir, "middle", 3 << 20, &[(0, &c), ((3 << 20) - 4096, &c)]);
        check(&dir, "unaligned", (5 << 20) + 123, &[(65536 - 17, &a), (1_000_001, &b), ((5 << 20) + 1, &c[..100])]);
        check(&dir, "tail-data", (1 << 20) + 10, &[((1 << 20) + 3, &c[..7])]);
        check(&dir, "adjacent", 1 << 20, &[(0, &b), (70_000, &b), (140_000, &a)]);
        // Many small extents: windows of units with holes between them.
        let pieces: Vec<(u64, &[u8])> =
            (0..300u64).map(|i| (i * 150_001 + (i % 7) * 4096, &a[..10 + i as usize])).collect();
        check(&dir, "fragmented", 300 * 150_001 + 999, &pieces);
    }

    #[test]
    fn data_across_batches() {
        // Data over several windows of blocks, with holes inside a group.
        let dir = TempDir::new("batches");
        let len = 40u64 << 20;
        let chunk = noise(3 << 20, 9);
        let data: Vec<(u64, &[u8])> =
            (0..12).map(|i| (i * (3 << 20) + i * 4096 + 11, &chunk[..(3 << 20) - 8192])).collect();
        check(&dir, "batches", len, &data);
    }

    #[test]
    fn holes_and_explicit_zeros_hash_alike() {
        let dir = TempDir::new("zeros");
        let data = noise(10_000, 4);
        let sparse = dir.join("sparse");
        sparse_file(&sparse, 8 << 20, &[(1 << 20, &data)]);
        let mut bytes = vec![0u8; 8 << 20];
        bytes[1 << 20..(1 << 20) + 10_000].copy_from_slice(&data);
        let dense = dir.join("dense");
        fs::write(&dense, &bytes).unwrap();
        // The same content with a different hole layout: zeros written into
        // what was a hole.
        let mixed = dir.join("mixed");
        sparse_file(&mixed, 8 << 20, &[(0, &vec![0; 300_000]), (1 << 20, &data), (5 << 20, &vec![0; 65536])]);
        let hash = hash_file(&sparse).unwrap();
        assert_eq!(hash_file(&dense).unwrap(), hash);
        assert_eq!(hash_file(&mixed).unwrap(), hash);
        assert_eq!(hash, reference(&bytes));
        let meta = fs::metadata(&sparse).unwrap();
        assert!(meta.blocks() * 512 < meta.len() / 2, "the test file system keeps no holes");
    }

    #[test]
    fn extents_skip_holes() {
        let dir = TempDir::new("extents");
        let path = dir.join("f");
        sparse_file(&path, 64 << 20, &[(1 << 20, &[1; 10]), ((32 << 20) + 5, &[2; 8192])]);
        let file = File::open(&path).unwrap();
        let extents = data_extents(&file, 64 << 20).unwrap();
        assert_eq!(extents.len(), 2, "{extents:?}");
        assert!(extents[0].0 <= 1 << 20 && extents[0].1 >= (1 << 20) + 10 && extents[0].1 <= 2 << 20, "{extents:?}");
        assert!(extents[1].0 <= (32 << 20) + 5 && extents[1].1 >= (32 << 20) + 8197, "{extents:?}");
        assert_eq!(data_extents(&file, 0).unwrap(), vec![]);
        // Clipped to the length asked for.
        assert!(data_extents(&file, (1 << 20) + 3).unwrap()[0].1 == (1 << 20) + 3);
    }

    #[test]
    fn file_errors() {
        let dir = TempDir::new("file-errors");
        let err = hash_file(&dir.0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&dir.0.display().to_string()), "{err}");
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let err = hash_file(&fifo).unwrap_err();
        assert!(err.to_string().contains("fifo: is not a regular file"), "{err}");
        let err = hash_path(&dir.0).unwrap_err();
        assert!(err.to_string().contains("fifo: is a FIFO"), "{err}");
        let missing = dir.join("missing");
        let err = hash_file(&missing).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn symlinks() {
        let dir = TempDir::new("symlinks");
        symlink("target-a", dir.join("a")).unwrap();
        symlink("target-a", dir.join("a2")).unwrap();
        symlink("target-b", dir.join("b")).unwrap();
        fs::write(dir.join("target-a"), b"target-a").unwrap();
        let a = hash_path(&dir.join("a")).unwrap();
        assert_eq!(hash_path(&dir.join("a2")).unwrap(), a);
        assert_ne!(hash_path(&dir.join("b")).unwrap(), a);
        // Not the hash of a file holding the target, nor of the target.
        assert_ne!(hash_path(&dir.join("target-a")).unwrap(), a);
        let mut expected = blake3::Hasher::new();
        expected.update(b"imgx.symlink.v1\x08\0\0\0\0\0\0\0target-a");
        assert_eq!(a.0, *expected.finalize().as_bytes());
        // hash_file follows the link.
        assert_eq!(hash_file(&dir.join("a")).unwrap(), hash_file(&dir.join("target-a")).unwrap());
        // A dangling link is fine.
        symlink("nowhere", dir.join("dangling")).unwrap();
        hash_path(&dir.join("dangling")).unwrap();
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A small tree; `modes` picks the permission bits as different umasks
    /// would, `order` the order in which entries are created.
    fn make_tree(root: &Path, modes: (u32, u32, u32), reverse: bool, sparse: bool) {
        let (file_mode, exec_mode, dir_mode) = modes;
        fs::create_dir(root).unwrap();
        let mut names = vec!["a", "b.sh", "sub", "link", "Z", "empty-dir"];
        if reverse {
            names.reverse();
        }
        let data = noise(100_000, 7);
        for name in names {
            let path = root.join(name);
            match name {
                "a" => {
                    if sparse {
                        sparse_file(&path, 4 << 20, &[(2 << 20, &data)]);
                    } else {
                        let mut bytes = vec![0; 4 << 20];
                        bytes[2 << 20..(2 << 20) + data.len()].copy_from_slice(&data);
                        fs::write(&path, bytes).unwrap();
                    }
                    set_mode(&path, file_mode);
                }
                "b.sh" => {
                    fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
                    set_mode(&path, exec_mode);
                }
                "sub" => {
                    fs::create_dir(&path).unwrap();
                    fs::write(path.join("inner"), b"inner").unwrap();
                    set_mode(&path.join("inner"), file_mode);
                    symlink("../a", path.join("up")).unwrap();
                    set_mode(&path, dir_mode);
                }
                "link" => symlink("sub/inner", &path).unwrap(),
                "Z" => {
                    fs::write(&path, b"").unwrap();
                    set_mode(&path, file_mode);
                }
                _ => {
                    fs::create_dir(&path).unwrap();
                    set_mode(&path, dir_mode);
                }
            }
        }
        set_mode(root, dir_mode);
    }

    #[test]
    fn directory_hash_ignores_umask_order_and_holes() {
        let dir = TempDir::new("tree");
        make_tree(&dir.join("one"), (0o644, 0o755, 0o755), false, true);
        make_tree(&dir.join("two"), (0o600, 0o700, 0o700), true, false);
        make_tree(&dir.join("three"), (0o664, 0o775, 0o2775), false, false);
        let one = hash_path(&dir.join("one")).unwrap();
        assert_eq!(hash_path(&dir.join("two")).unwrap(), one);
        assert_eq!(hash_path(&dir.join("three")).unwrap(), one);
        // The executable bit counts.
        set_mode(&dir.join("two/b.sh"), 0o600);
        assert_ne!(hash_path(&dir.join("two")).unwrap(), one);
        set_mode(&dir.join("two/b.sh"), 0o744);
        assert_eq!(hash_path(&dir.join("two")).unwrap(), one);
        // So do names, contents and types.
        fs::rename(dir.join("three/Z"), dir.join("three/z")).unwrap();
        assert_ne!(hash_path(&dir.join("three")).unwrap(), one);
        fs::rename(dir.join("three/z"), dir.join("three/Z")).unwrap();
        assert_eq!(hash_path(&dir.join("three")).unwrap(), one);
        fs::write(dir.join("three/Z"), b"x").unwrap();
        assert_ne!(hash_path(&dir.join("three")).unwrap(), one);
        fs::write(dir.join("three/Z"), b"").unwrap();
        fs::remove_dir(dir.join("three/empty-dir")).unwrap();
        fs::write(dir.join("three/empty-dir"), b"").unwrap();
        assert_ne!(hash_path(&dir.join("three")).unwrap(), one);
    }

    #[test]
    fn directory_encoding() {
        let dir = TempDir::new("encoding");
        let root = dir.join("root");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("b"), b"bee").unwrap();
        set_mode(&root.join("b"), 0o755);
        fs::write(root.join("a"), b"ay").unwrap();
        set_mode(&root.join("a"), 0o644);
        fs::create_dir(root.join("c")).unwrap();
        symlink("a", root.join("d")).unwrap();
        let file_a = hash_file(&root.join("a")).unwrap().0;
        let file_b = hash_file(&root.join("b")).unwrap().0;
        let dir_c = hash_path(&root.join("c")).unwrap().0;
        let link_d = hash_path(&root.join("d")).unwrap().0;
        let mut empty = blake3::Hasher::new();
        empty.update(b"imgx.directory.v1\0\0\0\0\0\0\0\0");
        assert_eq!(dir_c, *empty.finalize().as_bytes());
        let mut expected = blake3::Hasher::new();
        expected.update(b"imgx.directory.v1\x04\0\0\0\0\0\0\0");
        for (tag, name, hash) in [(b'f', "a", file_a), (b'x', "b", file_b), (b'd', "c", dir_c), (b'l', "d", link_d)] {
            expected.update(&[tag]);
            expected.update(&1u64.to_le_bytes());
            expected.update(name.as_bytes());
            expected.update(&hash);
        }
        assert_eq!(hash_path(&root).unwrap().0, *expected.finalize().as_bytes());
        // A top-level executable differs from the same bytes not executable.
        assert_eq!(hash_path(&root.join("a")).unwrap().0, file_a);
        let mut exec = blake3::Hasher::new();
        exec.update(b"imgx.executable.v1");
        exec.update(&file_b);
        assert_eq!(hash_path(&root.join("b")).unwrap().0, *exec.finalize().as_bytes());
    }

    #[test]
    fn non_utf8_names_sort_by_bytes() {
        use std::ffi::OsStr;
        let dir = TempDir::new("bytes");
        let root = dir.join("root");
        fs::create_dir(&root).unwrap();
        for name in [&b"\xff"[..], b"a", b"B", b"\xc3\xa9"] {
            fs::write(root.join(OsStr::from_bytes(name)), name).unwrap();
        }
        let hash = hash_path(&root).unwrap();
        let mut expected = blake3::Hasher::new();
        expected.update(b"imgx.directory.v1\x04\0\0\0\0\0\0\0");
        for name in [&b"B"[..], b"a", b"\xc3\xa9", b"\xff"] {
            expected.update(b"f");
            expected.update(&(name.len() as u64).to_le_bytes());
            expected.update(name);
            expected.update(&hash_file(&root.join(OsStr::from_bytes(name))).unwrap().0);
        }
        assert_eq!(hash.0, *expected.finalize().as_bytes());
    }

    #[test]
    fn unknown_types_are_errors_naming_the_path() {
        let dir = TempDir::new("socket");
        let root = dir.join("root");
        fs::create_dir_all(root.join("deep")).unwrap();
        let socket = root.join("deep/sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = hash_path(&root).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let message = err.to_string();
        assert!(message.contains(&socket.display().to_string()) && message.contains("socket"), "{message}");
        let err = hash_path(Path::new("/dev/null")).unwrap_err();
        assert!(err.to_string().contains("/dev/null: is a character device"), "{err}");
    }
}
