//! `testBoot { disk; firmware; expect; timeout ?; memory ? }`: boots a
//! finished image in QEMU and succeeds only when an expected line appears
//! on its serial console.
//!
//! ```nix
//! builtins.step { kind = "testBoot"; name = "boots"; disk = image;
//!                 firmware = "uefi"; expect = "login:"; }
//! ```
//!
//! The disk (raw, qcow2, vmdk, vhd or vhdx, told apart by magic) is a
//! virtio disk with `snapshot=on`, so what the guest writes goes to a
//! throw-away overlay and the input is never changed. `bios` boots it with
//! QEMU's SeaBIOS; `uefi` with OVMF (Debian package `ovmf`), its code
//! read-only and a copy of its variable store in the work folder. The first
//! serial port is QEMU's standard output, read as it is printed: each line
//! goes to the log, and as soon as one contains `expect` QEMU is killed and
//! the output, a text file, is that line (escape sequences and carriage
//! returns removed). The output is the verdict, not the transcript, so that
//! it is the same on every boot (a console carries timings): the whole
//! console is the step's log (`imgx log`). A timeout, or QEMU
//! stopping first, fails the step with what was expected and the console's
//! last lines. The accelerator is the build VM's (KVM when it works).

use crate::builder::{BuildContext, BuildError, Builder, ParamError, number_param};
use crate::child::die_with_parent;
use crate::image_format::ImageFormat;
use crate::run::{accel, accel_notice, qemu_binary};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Boots a disk image and waits for a line on its serial console.
pub struct BootTestBuilder;

/// OVMF's firmware code, as Debian's `ovmf` package installs it.
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
/// The variable store template that goes with [`OVMF_CODE`].
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

const DEFAULT_TIMEOUT_SECONDS: u64 = 120;
const DEFAULT_MEMORY_MIB: u64 = 1024;
/// How many console lines a failure shows.
const CONSOLE_TAIL: usize = 25;

/// Which firmware boots the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Firmware {
    Bios,
    Uefi,
}

/// The parameters, checked.
struct Params {
    disk: String,
    firmware: Firmware,
    expect: String,
    timeout: u64,
    memory_mib: u64,
}

impl Params {
    fn parse(params: &serde_json::Value) -> Result<Params, ParamError> {
        let string = |name: &str| -> Result<String, ParamError> {
            match params.get(name) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                None | Some(serde_json::Value::Null) => {
                    Err(ParamError::from(format!("a testBoot step needs '{name}'")))
                }
                Some(_) => Err(ParamError::at(name, format!("'{name}' must be a string"))),
            }
        };
        let disk = string("disk")?;
        let firmware = match string("firmware")?.as_str() {
            "bios" => Firmware::Bios,
            "uefi" => Firmware::Uefi,
            other => {
                return Err(ParamError::at("firmware", format!("unknown firmware '{other}': \"uefi\" or \"bios\"")));
            }
        };
        let expect = string("expect")?;
        if expect.trim().is_empty() {
            return Err(ParamError::at("expect", "'expect' must not be empty: every console would match it"));
        }
        if expect.contains(['\n', '\r']) {
            return Err(ParamError::at(
                "expect",
                "'expect' is matched within one console line, so it cannot contain a line break",
            ));
        }
        let timeout = number_param(params, "timeout", DEFAULT_TIMEOUT_SECONDS, (1, 24 * 3600), "seconds")?;
        let memory_mib = number_param(params, "memory", DEFAULT_MEMORY_MIB, (32, 1 << 20), "MiB")?;
        Ok(Params { disk, firmware, expect, timeout, memory_mib })
    }
}

/// A console line as text for the log and the transcript: lossy UTF-8
/// without ANSI escape sequences and control characters (but tabs).
fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final byte (@ to ~); else ESC and one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// How the wait for the expected line ended.
enum Ending {
    Matched,
    TimedOut,
    Exited(String),
}

/// The console as read so far, split into lines.
struct Console {
    lines: Vec<String>,
    partial: Vec<u8>,
    /// The line that contained `expect`, once one has.
    matched: Option<String>,
}

impl Console {
    /// Adds bytes; logs each completed line; tells whether a line (or the
    /// unfinished last one) now contains `expect`.
    fn take(&mut self, bytes: &[u8], expect: &str, log: &mut dyn Write) -> bool {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let rest = self.partial.split_off(end + 1);
            let line = printable(&std::mem::replace(&mut self.partial, rest));
            let _ = writeln!(log, "{line}");
            if line.contains(expect) {
                self.matched = Some(line.clone());
                self.lines.push(line);
                return true;
            }
            self.lines.push(line);
        }
        let partial = printable(&self.partial);
        if partial.contains(expect) {
            self.matched = Some(partial);
            self.finish(log);
            return true;
        }
        false
    }

    /// Ends the unfinished last line, if any.
    fn finish(&mut self, log: &mut dyn Write) {
        if !self.partial.is_empty() {
            let line = printable(&std::mem::take(&mut self.partial));
            let _ = writeln!(log, "{line}");
            self.lines.push(line);
        }
    }

    fn tail(&self) -> String {
        let skip = self.lines.len().saturating_sub(CONSOLE_TAIL);
        let tail: Vec<&str> = self.lines[skip..].iter().map(String::as_str).collect();
        if tail.is_empty() { "(nothing)".to_string() } else { tail.join("\n") }
    }
}

impl BootTestBuilder {
    fn command(qemu: &Path, accel: &str, params: &Params, disk: &Path, format: &str, vars: Option<&Path>) -> Command {
        let mut command = Command::new(qemu);
        command.args(["-accel", accel, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]).args([
            "-m",
            &params.memory_mib.to_string(),
            "-nic",
            "none",
            "-serial",
            "stdio",
        ]);
        if let Some(vars) = vars {
            command
                .args(["-drive", &format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}")])
                .args(["-drive", &format!("if=pflash,format=raw,file={}", vars.display())]);
        }
        command
            .args(["-drive", &format!("file={},format={format},if=virtio,snapshot=on", disk.display())])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut command);
        command
    }
}

impl Builder for BootTestBuilder {
    fn kind(&self) -> &'static str {
        "testBoot"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        Params::parse(params).map(|_| ())
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError> {
        let params = Params::parse(&ctx.step.params).map_err(|e| BuildError::InvalidParams(e.message))?;
        let disk = ctx.input_file("disk", &params.disk)?;
        if !disk.is_file() {
            return Err(BuildError::Failed(format!(
                "'disk' must be a disk image file, but {} is not a file",
                params.disk
            )));
        }
        let format = ImageFormat::detect(&disk)?.qemu_name();
        let vars = match params.firmware {
            Firmware::Bios => None,
            Firmware::Uefi => {
                if !Path::new(OVMF_CODE).is_file() || !Path::new(OVMF_VARS).is_file() {
                    return Err(BuildError::Failed(format!(
                        "UEFI boots need OVMF ({OVMF_CODE} and {OVMF_VARS}): install the Debian package ovmf"
                    )));
                }
                let vars = ctx.work.join("OVMF_VARS.fd");
                std::fs::copy(OVMF_VARS, &vars).map_err(|e| BuildError::io("copying OVMF's variables to", &vars, e))?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&vars, std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| BuildError::io("making writable", &vars, e))?;
                Some(vars)
            }
        };
        let qemu = qemu_binary();
        let accel = accel(&qemu);
        accel_notice(&accel, ctx.notice);
        let firmware = if vars.is_some() { "UEFI (OVMF)" } else { "BIOS (SeaBIOS)" };
        writeln!(
            ctx.log,
            "boot test: {format} disk, {firmware}, {} ({}), {} MiB, waiting up to {} s for '{}'",
            accel.name, accel.reason, params.memory_mib, params.timeout, params.expect
        )
        .ok();

        let mut child =
            Self::command(&qemu, accel.name, &params, &disk, format, vars.as_deref()).spawn().map_err(|e| {
                BuildError::Failed(format!("cannot start {} (Debian package qemu-system-x86): {e}", qemu.display()))
            })?;
        let stderr = crate::child::collect_stderr(&mut child);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(params.timeout);
        let (sender, receiver) = mpsc::channel::<Vec<u8>>();
        if let Some(mut stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 16 * 1024];
                while let Ok(n) = stdout.read(&mut buffer) {
                    if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                        return;
                    }
                }
            });
        }
        let mut console = Console { lines: Vec::new(), partial: Vec::new(), matched: None };
        let ending = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Ending::TimedOut;
            }
            match receiver.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(bytes) => {
                    if console.take(&bytes, &params.expect, ctx.log) {
                        break Ending::Matched;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().map_err(|e| BuildError::Failed(format!("waiting for QEMU: {e}")))?;
                    let stderr = stderr.join().unwrap_or_default();
                    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                        writeln!(ctx.log, "qemu: {line}").ok();
                    }
                    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
                    break Ending::Exited(format!("QEMU exited with {status}: {last}"));
                }
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        console.finish(ctx.log);
        let seconds = started.elapsed().as_secs_f64();
        match ending {
            Ending::Matched => {
                writeln!(ctx.log, "boot test: '{}' appeared after {seconds:.1} s", params.expect).ok();
                let matched = console.matched.as_deref().unwrap_or_default();
                std::fs::write(&ctx.out, format!("{matched}\n")).map_err(|e| BuildError::io("writing", &ctx.out, e))
            }
            Ending::TimedOut => Err(BuildError::Failed(format!(
                "timed out: '{}' did not appear on the serial console within {} s (timeout = {};); the console ended with:\n{}",
                params.expect,
                params.timeout,
                params.timeout,
                console.tail()
            ))),
            Ending::Exited(why) => Err(BuildError::Failed(format!(
                "'{}' did not appear on the serial console before QEMU stopped ({why}); the console ended with:\n{}",
                params.expect,
                console.tail()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_carriage_returns_are_removed() {
        assert_eq!(printable(b"\x1b[2J\x1b[01;01HBdsDxe: starting\r"), "BdsDxe: starting");
        assert_eq!(printable(b"a\tb\x1bc"), "a\tb");
    }

    #[test]
    fn a_match_in_an_unfinished_line_counts() {
        let mut console = Console { lines: Vec::new(), partial: Vec::new(), matched: None };
        let mut log = Vec::new();
        assert!(!console.take(b"first line\r\nIMGX-", "IMGX-BOOT-OK", &mut log));
        assert!(console.take(b"BOOT-OK", "IMGX-BOOT-OK", &mut log));
        assert_eq!(console.lines, ["first line", "IMGX-BOOT-OK"]);
    }

    #[test]
    fn parameters_are_checked() {
        let ok = serde_json::json!({ "disk": "/imgx/objects/x", "firmware": "bios", "expect": "ok" });
        assert!(Params::parse(&ok).is_ok());
        let bad = serde_json::json!({ "disk": "/imgx/objects/x", "firmware": "coreboot", "expect": "ok" });
        assert_eq!(Params::parse(&bad).err().and_then(|e| e.at).as_deref(), Some("firmware"));
        let bad = serde_json::json!({ "disk": "/imgx/objects/x", "firmware": "uefi", "expect": "" });
        assert_eq!(Params::parse(&bad).err().and_then(|e| e.at).as_deref(), Some("expect"));
        let bad = serde_json::json!({ "disk": "x", "firmware": "uefi", "expect": "a", "timeout": 0 });
        assert_eq!(Params::parse(&bad).err().and_then(|e| e.at).as_deref(), Some("timeout"));
    }
}
