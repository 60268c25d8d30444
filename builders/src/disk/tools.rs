//! Running the host's file-system tools with a pinned environment.
//!
//! Every tool runs with an empty environment except: `PATH` (the host's,
//! plus the `sbin` directories, where unprivileged users' `PATH` often
//! lacks them), `TZ=UTC`, `LC_ALL=C`, `SOURCE_DATE_EPOCH` and
//! `E2FSPROGS_FAKE_TIME` (the step's source date), `MKE2FS_CONFIG` (imgx's
//! own copy of the defaults, so the host's `/etc/mke2fs.conf` cannot change
//! the result), `MTOOLS_SKIP_CHECK=1` and `MTOOLSRC=/dev/null` (no host
//! mtools configuration), and `HOME` (the work directory). Stdin is empty
//! unless a script is given. Each command line and its output go to the
//! step's log.

use crate::builder::BuildError;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The tools of a build, with their environment.
pub struct Tools {
    env: Vec<(&'static str, OsString)>,
    search: Vec<PathBuf>,
}

/// The Debian package that holds a tool, for "not found" messages.
fn package_of(tool: &str) -> &'static str {
    match tool {
        "mkfs.ext4" | "debugfs" => "e2fsprogs",
        "mkfs.vfat" => "dosfstools",
        "mmd" | "mcopy" => "mtools",
        "mkfs.xfs" | "xfs_db" => "xfsprogs",
        "sfdisk" => "fdisk (util-linux)",
        "mkswap" => "util-linux",
        _ => "the package that provides it",
    }
}

/// Quotes an argument for the log when it needs it.
fn shell_word(word: &std::ffi::OsStr) -> String {
    let text = word.to_string_lossy();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%".contains(&b)) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

impl Tools {
    /// The environment for a step with this source date, writing its
    /// private configuration files into `work`.
    pub fn new(work: &Path, source_date_epoch: i64) -> Result<Tools, BuildError> {
        let mke2fs_conf = work.join("mke2fs.conf");
        std::fs::write(&mke2fs_conf, super::ext4::MKE2FS_CONF)
            .map_err(|e| BuildError::io("writing", &mke2fs_conf, e))?;
        let mut search: Vec<PathBuf> =
            std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
        for extra in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            let extra = PathBuf::from(extra);
            if !search.contains(&extra) {
                search.push(extra);
            }
        }
        let path = std::env::join_paths(&search).unwrap_or_default();
        let epoch = source_date_epoch.to_string();
        let env = vec![
            ("PATH", path),
            ("TZ", "UTC".into()),
            ("LC_ALL", "C".into()),
            ("LANG", "C".into()),
            ("SOURCE_DATE_EPOCH", epoch.clone().into()),
            ("E2FSPROGS_FAKE_TIME", epoch.into()),
            ("MKE2FS_CONFIG", mke2fs_conf.into_os_string()),
            ("MTOOLS_SKIP_CHECK", "1".into()),
            ("MTOOLSRC", "/dev/null".into()),
            ("HOME", work.as_os_str().to_owned()),
        ];
        Ok(Tools { env, search })
    }

    /// A command for `tool`, found in the search path, with the pinned
    /// environment.
    pub fn command(&self, tool: &str) -> Result<Command, BuildError> {
        let program = self.search.iter().map(|dir| dir.join(tool)).find(|p| p.is_file()).ok_or_else(|| {
            BuildError::Failed(format!("{tool} is not installed (it is in the {} package)", package_of(tool)))
        })?;
        let mut command = Command::new(program);
        command.env_clear().envs(self.env.iter().map(|(k, v)| (k, v)));
        Ok(command)
    }

    /// Runs a command, logging it; a failure names `what` it was for and
    /// carries the tool's messages.
    pub fn run(
        &self,
        log: &mut dyn Write,
        what: &str,
        command: &mut Command,
        stdin: Option<&[u8]>,
    ) -> Result<Output, BuildError> {
        let mut line = String::from("$ ");
        line.push_str(&Path::new(command.get_program()).file_name().map(shell_word).unwrap_or_default());
        for arg in command.get_args() {
            line.push(' ');
            line.push_str(&shell_word(arg));
        }
        writeln!(log, "{line}").ok();
        command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let program = Path::new(command.get_program()).file_name().map(|n| n.to_string_lossy().into_owned());
        let program = program.unwrap_or_default();
        let started = std::time::Instant::now();
        let mut child =
            command.spawn().map_err(|e| BuildError::Failed(format!("{what}: could not run {program}: {e}")))?;
        let writer = match (stdin, child.stdin.take()) {
            (Some(bytes), Some(mut pipe)) => {
                let bytes = bytes.to_vec();
                Some(std::thread::spawn(move || pipe.write_all(&bytes)))
            }
            _ => None,
        };
        let output =
            child.wait_with_output().map_err(|e| BuildError::Failed(format!("{what}: {program} failed: {e}")))?;
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        writeln!(log, "  ({program}: {:.2} s)", started.elapsed().as_secs_f64()).ok();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        for text in [&stdout, &stderr] {
            let text = text.trim_end();
            if !text.is_empty() {
                // Long outputs (debugfs echoes every command) are cut.
                let shown: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
                writeln!(log, "{shown}").ok();
                if text.lines().count() > 40 {
                    writeln!(log, "[… {} more lines]", text.lines().count() - 40).ok();
                }
            }
        }
        if !output.status.success() {
            let message = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
            return Err(BuildError::Failed(format!("{what}: {program} failed ({}): {message}", output.status)));
        }
        Ok(output)
    }
}
