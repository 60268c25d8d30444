//! Helpers shared by the canonicalizer's tests: scratch folders and host
//! tools run with a pinned environment.

#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A folder removed when the test ends.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh folder for test `name`.
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("imgx-canonical-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A host tool with an emptied environment (UTC, C locale).
pub fn tool(program: &str) -> Command {
    let mut command = Command::new(program);
    command.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("TZ", "UTC").env("LC_ALL", "C");
    command
}

/// Runs a command and returns its output, whatever its status.
pub fn output(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

/// Runs a command that must exit 0 or with one of `allowed`; returns its
/// standard output.
pub fn run(command: &mut Command, allowed: &[i32]) -> String {
    let out = output(command);
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || allowed.contains(&code),
        "{command:?} exited {code}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Opens an image for reading and writing.
pub fn open_rw(path: &Path) -> File {
    OpenOptions::new().read(true).write(true).open(path).unwrap()
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
