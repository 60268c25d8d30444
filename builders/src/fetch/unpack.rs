//! What to do with fetched bytes: the `unpack` choices, choosing one by
//! name or by content, decompressing into sparse files and converting
//! virtual-disk formats to raw.

use crate::builder::BuildError;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The `unpack` choices, after normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unpack {
    /// The output is the fetched file (`unpack = false`, the default).
    None,
    /// Chosen from the fetched bytes at build time (`true` or `"auto"`
    /// when no file name says what the bytes are).
    Auto,
    /// An xz-compressed file, decompressed.
    Xz,
    /// A zstd-compressed file, decompressed.
    Zst,
    /// A gzip-compressed file, decompressed.
    Gz,
    /// A tar archive, unpacked into a directory.
    Tar,
    /// A gzip-compressed tar archive.
    TarGz,
    /// An xz-compressed tar archive.
    TarXz,
    /// A zstd-compressed tar archive.
    TarZst,
    /// A qcow2 disk, converted to a raw disk image.
    Qcow2,
    /// A VMDK disk, converted to a raw disk image.
    Vmdk,
    /// An OCI image layout (a directory or a tar of one), whose layers are
    /// applied into a directory.
    Oci,
    /// A Debian binary package (`.deb`), whose files are unpacked into a
    /// directory (read with `dpkg-deb --fsys-tarfile`).
    Deb,
}

/// A compression a single file or a tar archive can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// xz (`xz -dc`).
    Xz,
    /// zstd (`zstd -dc`).
    Zst,
    /// gzip (`gzip -dc`).
    Gz,
}

impl Compression {
    /// The program that decompresses it.
    fn program(self) -> &'static str {
        match self {
            Compression::Xz => "xz",
            Compression::Zst => "zstd",
            Compression::Gz => "gzip",
        }
    }

    /// Recognises a compressed stream by its first bytes.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Compression::Xz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zst)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gz)
        } else {
            None
        }
    }
}

/// Every explicit choice, by the name `unpack` spells it.
const NAMED: [(&str, Unpack); 11] = [
    ("xz", Unpack::Xz),
    ("zst", Unpack::Zst),
    ("gz", Unpack::Gz),
    ("tar", Unpack::Tar),
    ("tar.gz", Unpack::TarGz),
    ("tar.xz", Unpack::TarXz),
    ("tar.zst", Unpack::TarZst),
    ("qcow2", Unpack::Qcow2),
    ("vmdk", Unpack::Vmdk),
    ("oci", Unpack::Oci),
    ("deb", Unpack::Deb),
];

/// File-name endings and what they mean, longest first.
const EXTENSIONS: [(&str, Unpack); 16] = [
    (".tar.gz", Unpack::TarGz),
    (".tar.xz", Unpack::TarXz),
    (".tar.zst", Unpack::TarZst),
    (".tar.zstd", Unpack::TarZst),
    (".tgz", Unpack::TarGz),
    (".txz", Unpack::TarXz),
    (".tzst", Unpack::TarZst),
    (".tar", Unpack::Tar),
    (".xz", Unpack::Xz),
    (".zst", Unpack::Zst),
    (".zstd", Unpack::Zst),
    (".gz", Unpack::Gz),
    (".qcow2", Unpack::Qcow2),
    (".vmdk", Unpack::Vmdk),
    (".oci", Unpack::Oci),
    (".deb", Unpack::Deb),
];

impl Unpack {
    /// Reads the `unpack` parameter: a Boolean or one of the names.
    pub fn from_param(value: Option<&serde_json::Value>) -> Result<Unpack, String> {
        match value {
            None | Some(serde_json::Value::Bool(false)) => Ok(Unpack::None),
            Some(serde_json::Value::Bool(true)) => Ok(Unpack::Auto),
            Some(serde_json::Value::String(name)) if name == "auto" => Ok(Unpack::Auto),
            Some(serde_json::Value::String(name)) if name == "none" => Ok(Unpack::None),
            Some(serde_json::Value::String(name)) => {
                NAMED.iter().find(|(n, _)| n == name).map(|(_, u)| *u).ok_or_else(|| {
                    let names: Vec<&str> = NAMED.iter().map(|(n, _)| *n).collect();
                    format!("unknown unpack '{name}' (expected false, true, \"auto\" or one of {})", names.join(", "))
                })
            }
            Some(_) => Err("'unpack' must be a Boolean or a string".into()),
        }
    }

    /// The normalised name, as the fixed-output declaration records it.
    pub fn name(self) -> &'static str {
        match self {
            Unpack::None => "none",
            Unpack::Auto => "auto",
            other => NAMED.iter().find(|(_, u)| *u == other).map(|(n, _)| *n).unwrap_or("none"),
        }
    }

    /// What a file name's ending says the bytes are, if anything.
    pub fn from_file_name(name: &str) -> Option<Unpack> {
        let lower = name.to_ascii_lowercase();
        EXTENSIONS.iter().find(|(ending, _)| lower.ends_with(ending)).map(|(_, u)| *u)
    }

    /// The compression of a single compressed file or of a tar archive.
    pub fn compression(self) -> Option<Compression> {
        match self {
            Unpack::Xz | Unpack::TarXz => Some(Compression::Xz),
            Unpack::Zst | Unpack::TarZst => Some(Compression::Zst),
            Unpack::Gz | Unpack::TarGz => Some(Compression::Gz),
            _ => None,
        }
    }
}

/// Whether a 512-byte block is a POSIX (ustar) or GNU tar header.
fn is_tar_header(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

/// Reads up to `buffer.len()` bytes, fewer only at the end of the stream.
pub fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Chooses what to do with a fetched file from its content (for
/// `unpack = "auto"` without a telling file name). A pure function of the
/// bytes, which the declared hash fixes.
pub fn sniff(path: &Path, work: &Path) -> Result<Unpack, BuildError> {
    let meta = std::fs::metadata(path).map_err(|e| BuildError::io("reading", path, e))?;
    if meta.is_dir() {
        let layout = path.join("oci-layout").is_file() || path.join("index.json").is_file();
        return Ok(if layout { Unpack::Oci } else { Unpack::None });
    }
    let mut head = vec![0u8; 512];
    let mut file = File::open(path).map_err(|e| BuildError::io("opening", path, e))?;
    let n = read_full(&mut file, &mut head).map_err(|e| BuildError::io("reading", path, e))?;
    head.truncate(n);
    if let Some(compression) = Compression::sniff(&head) {
        let mut stream = Decompressor::spawn(compression, path, work)?;
        let mut inner = vec![0u8; 512];
        let n = read_full(&mut stream.stdout, &mut inner).unwrap_or(0);
        stream.abandon();
        let tar = is_tar_header(&inner[..n]);
        return Ok(match (compression, tar) {
            (Compression::Xz, true) => Unpack::TarXz,
            (Compression::Zst, true) => Unpack::TarZst,
            (Compression::Gz, true) => Unpack::TarGz,
            (Compression::Xz, false) => Unpack::Xz,
            (Compression::Zst, false) => Unpack::Zst,
            (Compression::Gz, false) => Unpack::Gz,
        });
    }
    Ok(if head.starts_with(b"!<arch>\ndebian-binary") {
        Unpack::Deb
    } else if head.starts_with(b"QFI\xfb") {
        Unpack::Qcow2
    } else if head.starts_with(b"KDMV") {
        Unpack::Vmdk
    } else if is_tar_header(&head) {
        Unpack::Tar
    } else {
        Unpack::None
    })
}

/// A decompressor running as a child process, reading a file and writing
/// the decompressed bytes to a pipe.
pub struct Decompressor {
    /// The decompressed bytes.
    pub stdout: ChildStdout,
    child: Child,
    program: &'static str,
    stderr_path: std::path::PathBuf,
}

impl Decompressor {
    /// Starts decompressing `path`; its error messages go to a file in `work`.
    pub fn spawn(compression: Compression, path: &Path, work: &Path) -> Result<Decompressor, BuildError> {
        Self::spawn_program(compression.program(), &["-dc".as_ref(), "--".as_ref(), path.as_os_str()], work)
    }

    /// Starts `dpkg-deb --fsys-tarfile` on a Debian package: the stream is
    /// the tar archive of its files, whatever compression the package uses.
    pub fn spawn_deb(path: &Path, work: &Path) -> Result<Decompressor, BuildError> {
        Self::spawn_program("dpkg-deb", &["--fsys-tarfile".as_ref(), path.as_os_str()], work)
    }

    /// Starts `program` with `args`, reading its standard output.
    fn spawn_program(
        program: &'static str,
        args: &[&std::ffi::OsStr],
        work: &Path,
    ) -> Result<Decompressor, BuildError> {
        let stderr_path = work.join(format!("{program}-{}.stderr", unique()));
        let stderr = File::create(&stderr_path).map_err(|e| BuildError::io("creating", &stderr_path, e))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| BuildError::Failed(format!("could not run {program} (is it installed?): {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| BuildError::Failed(format!("{program} has no output")))?;
        Ok(Decompressor { stdout, child, program, stderr_path })
    }

    /// Runs `read` on the decompressed bytes, then [`finish`](Self::finish)es.
    /// If `read` fails, the decompressor is stopped at once (not drained);
    /// its own error is reported instead when it had failed by itself (a
    /// corrupt stream is better told by it than by the reader's end of file).
    pub fn read_with<T>(
        mut self,
        read: impl FnOnce(&mut ChildStdout) -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        match read(&mut self.stdout) {
            Ok(value) => self.finish().map(|()| value),
            Err(error) => {
                let _ = self.child.kill();
                let status = self.child.wait();
                let message = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
                let _ = std::fs::remove_file(&self.stderr_path);
                match status {
                    Ok(status) if status.code().is_some_and(|code| code != 0) => {
                        Err(BuildError::Failed(format!("{} failed ({status}): {}", self.program, message.trim())))
                    }
                    _ => Err(error),
                }
            }
        }
    }

    /// Reads whatever is left (so the decompressor is not stopped by a
    /// closed pipe), waits for it and fails if it did.
    pub fn finish(mut self) -> Result<(), BuildError> {
        let drained = io::copy(&mut self.stdout, &mut io::sink());
        let status = self.child.wait().map_err(|e| BuildError::Failed(format!("waiting for a decompressor: {e}")))?;
        let program = self.program;
        let message = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let _ = std::fs::remove_file(&self.stderr_path);
        if !status.success() {
            return Err(BuildError::Failed(format!("{program} failed ({status}): {}", message.trim())));
        }
        drained.map_err(|e| BuildError::Failed(format!("reading the output of {program}: {e}")))?;
        Ok(())
    }

    /// Stops the decompressor without caring about its result.
    pub fn abandon(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// A name no other file in the work folder has.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The size of the zero blocks that are skipped (left as holes).
const HOLE_BLOCK: usize = 4096;

/// Copies `reader` into the new, empty file `out`, leaving every
/// block-aligned run of zeros of at least [`HOLE_BLOCK`] bytes as a hole.
/// Returns the length written.
pub fn write_sparse(reader: &mut impl Read, out: &File) -> io::Result<u64> {
    let mut buffer = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = read_full(reader, &mut buffer)?;
        if n == 0 {
            break;
        }
        let data = &buffer[..n];
        let block_end = |at: usize| (at + HOLE_BLOCK).min(n);
        let mut at = 0;
        while at < n {
            if data[at..block_end(at)].iter().all(|&b| b == 0) {
                at = block_end(at);
                continue;
            }
            let start = at;
            while at < n && !data[at..block_end(at)].iter().all(|&b| b == 0) {
                at = block_end(at);
            }
            out.write_all_at(&data[start..at], offset + start as u64)?;
        }
        offset += n as u64;
    }
    out.set_len(offset)?;
    Ok(offset)
}

/// Decompresses a single file into the sparse file `out`.
pub fn decompress(compression: Compression, from: &Path, out: &Path, work: &Path) -> Result<u64, BuildError> {
    let file = create_output(out)?;
    let stream = Decompressor::spawn(compression, from, work)?;
    // Registration syncs the output; no need to here.
    stream.read_with(|reader| write_sparse(reader, &file).map_err(|e| BuildError::io("writing", out, e)))
}

/// Creates the output file, readable by all.
pub fn create_output(out: &Path) -> Result<File, BuildError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(out)
        .map_err(|e| BuildError::io("creating", out, e))
}

/// Converts a qcow2 or VMDK disk to a raw, sparse disk image with
/// `qemu-img convert`, after refusing images that would read other files
/// of this machine (a backing file, an external data file, a VMDK whose
/// extents are separate files).
pub fn convert_disk(format: Unpack, from: &Path, out: &Path) -> Result<(), BuildError> {
    let format = match format {
        Unpack::Qcow2 => "qcow2",
        _ => "vmdk",
    };
    let mut head = [0u8; 4];
    let mut file = File::open(from).map_err(|e| BuildError::io("opening", from, e))?;
    let n = read_full(&mut file, &mut head).map_err(|e| BuildError::io("reading", from, e))?;
    let magic: &[u8] = if format == "qcow2" { b"QFI\xfb" } else { b"KDMV" };
    if head[..n] != *magic {
        return Err(BuildError::Failed(format!(
            "the fetched file is not a {} disk image{}",
            format,
            if format == "vmdk" { " with its data inside (a monolithic sparse or stream-optimised VMDK)" } else { "" }
        )));
    }
    let info = run_qemu_img(&["info", "--output=json", "-f", format], from, None)?;
    let info: serde_json::Value = serde_json::from_slice(&info)
        .map_err(|e| BuildError::Failed(format!("qemu-img info printed something unexpected: {e}")))?;
    if let Some(backing) = info.get("backing-filename").or_else(|| info.get("full-backing-filename")) {
        return Err(BuildError::Failed(format!(
            "the {format} image has a backing file ({backing}); imgx only converts self-contained images"
        )));
    }
    let data_file = info.pointer("/format-specific/data/data-file");
    if let Some(data_file) = data_file {
        return Err(BuildError::Failed(format!(
            "the {format} image keeps its data in another file ({data_file}); imgx only converts self-contained images"
        )));
    }
    run_qemu_img(&["convert", "-f", format, "-O", "raw"], from, Some(out))?;
    Ok(())
}

/// Runs `qemu-img ARGS FROM [OUT]` and returns what it printed.
fn run_qemu_img(args: &[&str], from: &Path, out: Option<&Path>) -> Result<Vec<u8>, BuildError> {
    let mut command = Command::new("qemu-img");
    command.args(args).arg(from);
    if let Some(out) = out {
        command.arg(out);
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BuildError::Failed(format!("could not run qemu-img (is qemu-utils installed?): {e}")))?;
    if !output.status.success() {
        return Err(BuildError::Failed(format!(
            "qemu-img {} failed ({}): {}",
            args[0],
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn names_and_extensions() {
        assert_eq!(Unpack::from_param(None), Ok(Unpack::None));
        assert_eq!(Unpack::from_param(Some(&serde_json::json!(true))), Ok(Unpack::Auto));
        assert_eq!(Unpack::from_param(Some(&serde_json::json!("tar.zst"))), Ok(Unpack::TarZst));
        assert!(Unpack::from_param(Some(&serde_json::json!("rar"))).unwrap_err().contains("unknown unpack"));
        assert!(Unpack::from_param(Some(&serde_json::json!(3))).is_err());
        for (name, unpack) in NAMED {
            assert_eq!(Unpack::from_param(Some(&serde_json::json!(name))), Ok(unpack));
            assert_eq!(unpack.name(), name);
        }
        assert_eq!(Unpack::from_file_name("debian.TAR.GZ"), Some(Unpack::TarGz));
        assert_eq!(Unpack::from_file_name("x.tgz"), Some(Unpack::TarGz));
        assert_eq!(Unpack::from_file_name("disk.raw.xz"), Some(Unpack::Xz));
        assert_eq!(Unpack::from_file_name("disk.qcow2"), Some(Unpack::Qcow2));
        assert_eq!(Unpack::from_file_name("disk.img"), None);
    }

    #[test]
    fn zero_blocks_become_holes() {
        let dir = std::env::temp_dir().join(format!("imgx-fetch-sparse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        let _ = std::fs::remove_file(&path);
        let mut data = vec![0u8; 8 << 20];
        data[100] = 1;
        data[5 << 20] = 2;
        data.extend_from_slice(&[0u8; 1000]);
        let file = create_output(&path).unwrap();
        assert_eq!(write_sparse(&mut &data[..], &file).unwrap(), data.len() as u64);
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        let meta = std::fs::metadata(&path).unwrap();
        assert!(meta.blocks() * 512 < 1 << 20, "{} blocks allocated", meta.blocks());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
