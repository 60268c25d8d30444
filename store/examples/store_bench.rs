//! A small command-line front end to imgx-store's hashing and copying, for
//! `scripts/bench/store.sh`.
//!
//! ```text
//! store_bench hash FILE         imgx's hash of a file (hash_file), in hex
//! store_bench hash-path PATH    imgx's hash of a file, symlink or tree (hash_path)
//! store_bench hash-dense FILE   the same format computed naively, reading every byte (a cross-check)
//! store_bench b3 FILE           the plain BLAKE3 of the bytes, as b3sum prints it, reading no hole
//!                               (holes are hashed from zeros in memory: what b3sum compatibility costs)
//! store_bench copy FROM TO      copy_file; prints `reflink` or `sparse`
//! store_bench copy-tree FROM TO copy_tree
//! ```

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::ExitCode;

use imgx_store::copy::{CopyMethod, copy_file, copy_tree};
use imgx_store::hash::{ObjectHash, hash_file, hash_path};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args[..] {
        ["hash", file] => hash_file(Path::new(file)).map(|h| println!("{h}")),
        ["hash-path", path] => hash_path(Path::new(path)).map(|h| println!("{h}")),
        ["hash-dense", file] => hash_dense(Path::new(file)).map(|h| println!("{h}")),
        ["b3", file] => plain_blake3(Path::new(file)).map(|h| println!("{h}")),
        ["copy", from, to] => copy_file(Path::new(from), Path::new(to)).map(|method| {
            println!(
                "{}",
                match method {
                    CopyMethod::Reflink => "reflink",
                    CopyMethod::Sparse => "sparse",
                }
            )
        }),
        ["copy-tree", from, to] => copy_tree(Path::new(from), Path::new(to)),
        _ => {
            eprintln!(
                "usage: store_bench hash FILE | hash-path PATH | hash-dense FILE | b3 FILE | copy FROM TO | copy-tree FROM TO"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// imgx's file hash, computed from every byte in order (holes included), as
/// the format in `imgx_store::hash` describes it.
fn hash_dense(path: &Path) -> io::Result<ObjectHash> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut outer = blake3::Hasher::new();
    outer.update(b"imgx.file.v1");
    outer.update(&len.to_le_bytes());
    let mut block = vec![0u8; 65536];
    loop {
        let mut filled = 0;
        while filled < block.len() {
            match file.read(&mut block[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        outer.update(blake3::hash(&block[..filled]).as_bytes());
    }
    Ok(ObjectHash(*outer.finalize().as_bytes()))
}

/// The standard BLAKE3 hash of a file's bytes (what `b3sum` prints). Data
/// extents are read; holes are not read but, as standard BLAKE3 requires,
/// hashed as zeros from memory: every chunk's chaining value depends on its
/// position, so no work can be saved on them.
fn plain_blake3(path: &Path) -> io::Result<ObjectHash> {
    const STEP: u64 = 16 << 20;
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let zeros = vec![0u8; STEP as usize];
    let mut buf = vec![0u8; STEP as usize];
    let mut hasher = blake3::Hasher::new();
    let mut pos = 0;
    while pos < len {
        let data = seek(&file, pos, libc::SEEK_DATA)?.unwrap_or(len).min(len);
        while pos < data {
            let n = (data - pos).min(STEP);
            hasher.update_rayon(&zeros[..n as usize]);
            pos += n;
        }
        if pos >= len {
            break;
        }
        let hole = seek(&file, pos, libc::SEEK_HOLE)?.unwrap_or(len).min(len);
        while pos < hole {
            let n = (hole - pos).min(STEP) as usize;
            file.read_exact_at(&mut buf[..n], pos)?;
            hasher.update_rayon(&buf[..n]);
            pos += n as u64;
        }
    }
    Ok(ObjectHash(*hasher.finalize().as_bytes()))
}

/// `lseek(fd, offset, whence)`; `None` for `ENXIO`.
#[allow(unsafe_code)]
fn seek(file: &File, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    let offset = libc::off_t::try_from(offset).map_err(|_| io::Error::other("offset out of range"))?;
    // SAFETY: no pointers are passed; the descriptor is open while `file` is
    // borrowed, and reads are positional, so the moved offset is unused.
    let result = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
    match u64::try_from(result) {
        Ok(position) => Ok(Some(position)),
        Err(_) => {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENXIO) { Ok(None) } else { Err(err) }
        }
    }
}
