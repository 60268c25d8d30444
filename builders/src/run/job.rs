//! The job archive: what a `run` step hands the build VM.
//!
//! A tar archive attached to the VM as its second disk, which the VM's
//! init unpacks with busybox `tar` (see `stdlib/vm/init` for the layout).
//! Entries are written in a fixed order with owner root, the step's source
//! date as their time and modes reduced to 0755 or 0644, so the archive,
//! like everything else the VM sees, depends only on the step.

use crate::ATTRIBUTES_FILE;
use crate::builder::BuildError;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What the VM is asked to do.
pub struct Job<'a> {
    /// The text given to the image's (or the VM's) `/bin/sh -c`.
    pub script: String,
    /// Files and trees copied into the image first: (destination, source).
    pub files: Vec<(String, &'a Path)>,
    /// A tree copied to [`WORKDIR`] for the script and removed afterwards.
    pub workdir: Option<&'a Path>,
    /// `SOURCE_DATE_EPOCH`, which the VM's clock is set to.
    pub epoch: i64,
    /// Whether the VM has a network interface.
    pub network: bool,
    /// The disk's file systems and partition UUIDs.
    pub survey: super::Survey,
    /// Whether the script runs with the VM's busybox even if the image has
    /// a shell.
    pub vm_shell: bool,
    /// For `imgx vm shell`: the terminal type (`TERM`) of an interactive
    /// shell on the console, which replaces the script.
    pub interactive: Option<String>,
}

/// Where a step's `workdir` is copied to inside the image: a fixed name,
/// so that what removing it leaves behind does not vary.
pub const WORKDIR: &str = "/tmp/imgx-workdir";

impl Job<'_> {
    /// Writes the archive to `path`.
    pub fn write(&self, path: &Path) -> Result<(), BuildError> {
        let file = fs::File::create(path).map_err(|e| BuildError::io("creating", path, e))?;
        let mut archive = tar::Builder::new(std::io::BufWriter::new(file));
        let io = |e| BuildError::io("writing", path, e);
        let mut env = format!(
            "IMGX_DATE='{}'\nIMGX_EPOCH={}\nIMGX_NETWORK={}\nIMGX_FILESYSTEMS='{}'\nIMGX_PARTUUIDS='{}'\nIMGX_WORKDIR={WORKDIR}\nIMGX_SHELL={}\n",
            utc_date(self.epoch),
            self.epoch,
            u8::from(self.network),
            self.survey.file_systems.join(" "),
            self.survey.part_uuids.iter().map(|(uuid, n)| format!("{uuid}=/dev/vda{n}")).collect::<Vec<_>>().join(" "),
            if self.vm_shell { "vm" } else { "image" }
        );
        match &self.interactive {
            Some(term) => env.push_str(&format!("IMGX_MODE=shell\nIMGX_TERM={}\n", terminal_type(term))),
            None => env.push_str("IMGX_MODE=script\n"),
        }
        self.add_bytes(&mut archive, "env", 0o644, env.as_bytes()).map_err(io)?;
        self.add_bytes(&mut archive, "script", 0o644, self.script.as_bytes()).map_err(io)?;
        if !self.files.is_empty() {
            let mut list = String::new();
            for (index, (destination, source)) in self.files.iter().enumerate() {
                list.push_str(&format!("{index}\t{destination}\n"));
                self.add_tree(&mut archive, &format!("files/{index}"), source)?;
            }
            self.add_bytes(&mut archive, "files.list", 0o644, list.as_bytes()).map_err(io)?;
        }
        if let Some(workdir) = self.workdir {
            self.add_tree(&mut archive, "workdir", workdir)?;
        }
        let mut out = archive.into_inner().map_err(io)?;
        out.flush().map_err(io)
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.epoch.max(0) as u64);
        header.set_size(size);
        header
    }

    fn add_bytes<W: Write>(
        &self,
        archive: &mut tar::Builder<W>,
        name: &str,
        mode: u32,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        let mut header = self.header(tar::EntryType::Regular, mode, bytes.len() as u64);
        archive.append_data(&mut header, name, bytes)
    }

    /// Adds a file, or a tree with everything under it in name order.
    fn add_tree<W: Write>(&self, archive: &mut tar::Builder<W>, name: &str, source: &Path) -> Result<(), BuildError> {
        let metadata = fs::symlink_metadata(source).map_err(|e| BuildError::io("reading", source, e))?;
        let io = |e| BuildError::io("archiving", source, e);
        if metadata.file_type().is_symlink() {
            let target = fs::read_link(source).map_err(io)?;
            let mut header = self.header(tar::EntryType::Symlink, 0o777, 0);
            archive.append_link(&mut header, name, &target).map_err(io)?;
        } else if metadata.is_dir() {
            let mut header = self.header(tar::EntryType::Directory, 0o755, 0);
            archive.append_data(&mut header, name, std::io::empty()).map_err(io)?;
            let mut entries: Vec<_> = fs::read_dir(source).map_err(io)?.collect::<Result<Vec<_>, _>>().map_err(io)?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let child = entry.file_name();
                if child == ATTRIBUTES_FILE {
                    continue;
                }
                self.add_tree(archive, &format!("{name}/{}", child.to_string_lossy()), &entry.path())?;
            }
        } else {
            let mode = if metadata.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            let mut header = self.header(tar::EntryType::Regular, mode, metadata.len());
            let file = fs::File::open(source).map_err(io)?;
            archive.append_data(&mut header, name, file).map_err(io)?;
        }
        Ok(())
    }
}

/// A `TERM` value safe to write into the job's shell variables, else
/// `vt100`, which every terminal emulator understands.
fn terminal_type(term: &str) -> &str {
    let safe = !term.is_empty()
        && term.len() <= 64
        && term.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'));
    if safe { term } else { "vt100" }
}

/// `YYYY-MM-DD hh:mm:ss` in UTC, as busybox `date -s` takes it.
pub fn utc_date(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let seconds = epoch.rem_euclid(86_400);
    let (year, month, day) = crate::canonical::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00");
        assert_eq!(utc_date(315_532_800), "1980-01-01 00:00:00");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14 22:13:20");
    }

    #[test]
    fn terminal_types_cannot_inject_shell_code() {
        assert_eq!(terminal_type("xterm-256color"), "xterm-256color");
        assert_eq!(terminal_type("x'; reboot; '"), "vt100");
        assert_eq!(terminal_type(""), "vt100");
    }
}
