//! Explaining how a rebuilt output differs from the registered one, in the
//! terms of what the object is: entries of a directory, partitions of a
//! disk, files and metadata of an ext4 or vfat file system, the guest's
//! view of a converted image, or lines and bytes of a plain file.
//!
//! Every reader here works on image files without mounting them (sfdisk,
//! debugfs, dumpe2fs, mtools, qemu-img). When a tool is missing or an
//! image cannot be read, the explanation says so and falls back to byte
//! ranges: a difference is never hidden because it could not be explained.

mod bytes;
mod container;
mod disk;
mod ext4;
mod tree;
mod vfat;

use std::path::{Path, PathBuf};

/// What about a thing differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aspect {
    /// Only the rebuilt output has it.
    Added,
    /// Only the registered output has it.
    Removed,
    /// It is a different kind of thing (file, directory, symlink…).
    Type,
    /// Its bytes (a file's content, a symlink's target).
    Content,
    /// Its permission bits.
    Mode,
    /// Its owner or group.
    Owner,
    /// Its access, change, modification or creation time.
    Times,
    /// Its extended attributes.
    Xattrs,
    /// A disk's partition table.
    Table,
    /// A file system's own metadata (UUID, hash seed, superblock times).
    FsMetadata,
    /// A converted image's container (header, tables), not the guest's disk.
    Container,
    /// Bytes this explanation cannot attribute to anything above.
    Bytes,
    /// A limit of the explanation (a tool missing, an unreadable image).
    Unexplained,
    /// The registered output came from another version of the step's
    /// builder, which may write other bytes for the same step.
    Builder,
}

impl Aspect {
    /// The word reports and JSON events use.
    pub fn name(self) -> &'static str {
        match self {
            Aspect::Added => "added",
            Aspect::Removed => "removed",
            Aspect::Type => "type",
            Aspect::Content => "content",
            Aspect::Mode => "mode",
            Aspect::Owner => "owner",
            Aspect::Times => "timestamps",
            Aspect::Xattrs => "xattrs",
            Aspect::Table => "partition table",
            Aspect::FsMetadata => "file-system metadata",
            Aspect::Container => "container",
            Aspect::Bytes => "bytes",
            Aspect::Unexplained => "unexplained",
            Aspect::Builder => "builder",
        }
    }
}

/// One difference between the registered and the rebuilt output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// Where: `partition 2 (root, ext4): /etc/stamp`, `etc/motd`, or empty
    /// for the object itself.
    pub place: String,
    /// What differs.
    pub aspect: Aspect,
    /// How, in a line or a few (a unified diff for text).
    pub detail: String,
}

impl Difference {
    /// A difference at `place`.
    pub fn new(place: impl Into<String>, aspect: Aspect, detail: impl Into<String>) -> Difference {
        Difference { place: place.into(), aspect, detail: detail.into() }
    }
}

/// Why a part of an explanation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A host tool is missing or failed.
    #[error("{tool}: {message}")]
    Tool {
        /// The tool's name.
        tool: &'static str,
        /// What went wrong, with its standard error.
        message: String,
    },
}

impl ExplainError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> ExplainError {
        ExplainError::Io { action, path: path.to_path_buf(), source }
    }
}

/// Runs a host tool and returns its standard output, or an error with its
/// standard error.
fn run_tool(tool: &'static str, command: &mut std::process::Command) -> Result<Vec<u8>, ExplainError> {
    let output = command
        .env("LC_ALL", "C")
        .env("MTOOLS_SKIP_CHECK", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| ExplainError::Tool { tool, message: format!("cannot run it ({e})") })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ExplainError::Tool { tool, message: stderr.trim().lines().last().unwrap_or("failed").to_string() });
    }
    Ok(output.stdout)
}

/// Joins a place and a part of it: `partition 2 (root)` and `/etc/x`
/// give `partition 2 (root): /etc/x`.
fn within(place: &str, part: &str) -> String {
    if place.is_empty() { part.to_string() } else { format!("{place}: {part}") }
}

/// Explains how the object at `rebuilt` differs from the one at
/// `registered`. `work` is an empty folder for conversions and extracted
/// files, removed by the caller.
pub fn explain(registered: &Path, rebuilt: &Path, work: &Path) -> Vec<Difference> {
    let mut found = Vec::new();
    explain_at("", registered, rebuilt, work, &mut found);
    if found.is_empty() {
        found.push(Difference::new(
            "",
            Aspect::Unexplained,
            "the objects hash differently but no difference was found by this explanation",
        ));
    }
    found
}

/// [`explain`] for a thing at `place` inside the outputs.
fn explain_at(place: &str, registered: &Path, rebuilt: &Path, work: &Path, found: &mut Vec<Difference>) {
    let kinds = (std::fs::symlink_metadata(registered), std::fs::symlink_metadata(rebuilt));
    let (Ok(a), Ok(b)) = kinds else {
        found.push(Difference::new(place, Aspect::Unexplained, "cannot inspect one of the two outputs"));
        return;
    };
    let kind = |m: &std::fs::Metadata| {
        if m.is_dir() {
            "directory"
        } else if m.file_type().is_symlink() {
            "symlink"
        } else {
            "file"
        }
    };
    if kind(&a) != kind(&b) {
        found.push(Difference::new(place, Aspect::Type, format!("{} → {}", kind(&a), kind(&b))));
        return;
    }
    match kind(&a) {
        "directory" => tree::compare(place, registered, rebuilt, work, found),
        "symlink" => {
            let (ta, tb) = (std::fs::read_link(registered).ok(), std::fs::read_link(rebuilt).ok());
            if ta != tb {
                found.push(Difference::new(place, Aspect::Content, format!("target {ta:?} → {tb:?}")));
            }
        }
        _ => explain_file(place, registered, rebuilt, work, found),
    }
}

/// Explains two files: as converted images, disks, file systems or plain
/// files, by what the rebuilt one is.
fn explain_file(place: &str, registered: &Path, rebuilt: &Path, work: &Path, found: &mut Vec<Difference>) {
    let explained = match imgx_builders::ImageFormat::detect(rebuilt) {
        Ok(imgx_builders::ImageFormat::Raw) => disk::explain_raw(place, registered, rebuilt, work, found),
        Ok(format) => container::compare(place, format, registered, rebuilt, work, found),
        Err(error) => Err(ExplainError::Tool { tool: "imgx", message: error.to_string() }),
    };
    if let Err(error) = explained {
        found.push(Difference::new(place, Aspect::Unexplained, format!("cannot look inside: {error}")));
        plain_file(place, registered, rebuilt, found);
    }
}

/// Two plain files: a unified diff for text, byte ranges otherwise.
fn plain_file(place: &str, registered: &Path, rebuilt: &Path, found: &mut Vec<Difference>) {
    match bytes::describe_files(registered, rebuilt) {
        Ok(detail) => found.push(Difference::new(place, Aspect::Content, detail)),
        Err(error) => found.push(Difference::new(place, Aspect::Unexplained, format!("cannot read: {error}"))),
    }
}
