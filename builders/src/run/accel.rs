//! Choosing how QEMU runs the build VM: KVM where `/dev/kvm` really works,
//! software emulation (TCG) otherwise.
//!
//! `/dev/kvm` can exist and still hang the first time a virtual CPU runs
//! (nested virtualisation gone wrong), so its presence proves nothing. The
//! probe boots a one-sector disk under KVM whose code writes one byte to
//! the serial port: if the byte arrives within [`PROBE_TIMEOUT`], KVM
//! works. The answer holds until the host reboots, so it is kept in a
//! small file named after the boot ID, and asked once per process.
//! `IMGX_ACCEL=kvm` or `IMGX_ACCEL=tcg` skips the probe.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long KVM may take to run a boot sector.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// QEMU's accelerator, and why it was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accel {
    /// `kvm` or `tcg`, as `-accel` takes it.
    pub name: &'static str,
    /// Why, in words for the notice.
    pub reason: String,
}

/// A boot sector that writes `K` to COM1 and halts: `mov dx, 0x3f8;
/// mov al, 'K'; out dx, al; cli; hlt; jmp $-1`.
fn probe_sector() -> [u8; 512] {
    let code = [0xBA, 0xF8, 0x03, 0xB0, b'K', 0xEE, 0xFA, 0xF4, 0xEB, 0xFD];
    let mut sector = [0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector
}

/// The accelerator for this process, probed at most once.
pub fn accel(qemu: &Path) -> Accel {
    static CHOSEN: OnceLock<Accel> = OnceLock::new();
    CHOSEN.get_or_init(|| choose(qemu)).clone()
}

fn choose(qemu: &Path) -> Accel {
    match std::env::var("IMGX_ACCEL").as_deref() {
        Ok("kvm") => return Accel { name: "kvm", reason: "IMGX_ACCEL=kvm".into() },
        Ok("tcg") => return Accel { name: "tcg", reason: "IMGX_ACCEL=tcg".into() },
        _ => {}
    }
    let usable = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm");
    if let Err(error) = usable {
        return Accel { name: "tcg", reason: format!("/dev/kvm is not usable ({error})") };
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let cache = cache_file();
    if let Some(cache) = &cache
        && let Ok(text) = std::fs::read_to_string(cache)
        && let Some((id, answer)) = text.split_once('\n')
        && id == boot_id.trim()
    {
        return parse_cached(answer);
    }
    let (accel, answered) = probe(qemu);
    // A probe that could not run (QEMU missing, say) says nothing about
    // this boot's KVM, so only answers are kept.
    if answered && let Some(cache) = cache {
        let _ = std::fs::create_dir_all(cache.parent().unwrap_or(Path::new("/")));
        let _ = std::fs::write(&cache, format!("{}\n{}\t{}\n", boot_id.trim(), accel.name, accel.reason));
    }
    accel
}

fn parse_cached(answer: &str) -> Accel {
    let (name, reason) = answer.trim_end().split_once('\t').unwrap_or(("tcg", "cached answer"));
    Accel {
        name: if name == "kvm" { "kvm" } else { "tcg" },
        reason: format!("{reason} (as probed earlier since this boot)"),
    }
}

fn cache_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("imgx").join("kvm-probe"))
}

/// Runs the test boot: the accelerator, and whether the probe gave an
/// answer (rather than failing to run).
fn probe(qemu: &Path) -> (Accel, bool) {
    let dir = std::env::temp_dir().join(format!("imgx-kvm-probe-{}", std::process::id()));
    let result = run_probe(qemu, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(true) => (Accel { name: "kvm", reason: "/dev/kvm ran a test boot".into() }, true),
        Ok(false) => (
            Accel {
                name: "tcg",
                reason: format!("/dev/kvm did not run a test boot within {} s", PROBE_TIMEOUT.as_secs()),
            },
            true,
        ),
        Err(error) => (Accel { name: "tcg", reason: format!("the KVM test boot failed ({error})") }, false),
    }
}

fn run_probe(qemu: &Path, dir: &Path) -> std::io::Result<bool> {
    // A fresh folder of our own: create_dir fails rather than use whatever
    // (a link, say) already has this name.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir(dir)?;
    let disk = dir.join("probe.img");
    std::fs::write(&disk, probe_sector())?;
    let mut command = Command::new(qemu);
    crate::child::die_with_parent(&mut command);
    let mut child = command
        .args(["-accel", "kvm", "-nodefaults", "-no-user-config", "-display", "none", "-m", "16", "-serial", "stdio"])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=ide", disk.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        loop {
            match stdout.read(&mut byte) {
                Ok(1) if byte[0] == b'K' => {
                    let _ = sender.send(true);
                    return;
                }
                Ok(1) => continue,
                _ => {
                    let _ = sender.send(false);
                    return;
                }
            }
        }
    });
    let answered = receiver.recv_timeout(PROBE_TIMEOUT).unwrap_or(false);
    let _ = child.kill();
    // A virtual CPU stuck in the kernel can delay the exit; reap the
    // process without making the build wait for it.
    std::thread::spawn(move || child.wait());
    Ok(answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_sector_is_a_boot_sector() {
        let sector = probe_sector();
        assert_eq!(&sector[510..], &[0x55, 0xAA]);
        assert_eq!(sector[4], b'K');
    }

    #[test]
    fn cached_answers_are_read_back() {
        assert_eq!(parse_cached("kvm\t/dev/kvm ran a test boot").name, "kvm");
        assert_eq!(parse_cached("tcg\tslow").name, "tcg");
        assert_eq!(parse_cached("garbage").name, "tcg");
    }
}
