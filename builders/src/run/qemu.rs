//! Booting the build VM in QEMU for one job, streaming what it prints, and
//! telling how it ended.
//!
//! QEMU gets the VM's kernel and initramfs, the disk as `/dev/vda`, the job
//! archive as `/dev/vdb`, the console on the first serial port, and three
//! virtio-serial ports for the script's stdout, its stderr and the init's
//! one-line result. Each of those four is a Unix socket QEMU connects to,
//! read by a thread of ours, so output streams into the step's log as it
//! is printed and the three kinds stay apart. No network device exists
//! unless asked for, the clock starts at the step's source date, and the
//! QEMU process dies with the thread that started it.

use super::accel::Accel;
use crate::builder::BuildError;
use crate::child::die_with_parent;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

/// How many console lines an error about the VM shows.
const CONSOLE_TAIL: usize = 25;

/// One boot of the build VM.
pub struct VmRun<'a> {
    /// The `qemu-system-x86_64` to run.
    pub qemu: &'a Path,
    /// KVM or TCG.
    pub accel: &'a Accel,
    /// The VM's kernel image.
    pub kernel: &'a Path,
    /// The VM's initramfs.
    pub initrd: &'a Path,
    /// The disk the job changes (raw).
    pub disk: &'a Path,
    /// The job archive.
    pub job: &'a Path,
    /// Memory, in MiB.
    pub memory_mib: u64,
    /// Virtual CPUs.
    pub cpus: u64,
    /// How long the whole boot may take.
    pub timeout: Duration,
    /// Whether the VM gets a network interface (QEMU's user-mode network).
    pub network: bool,
    /// The date the VM's clock starts at (`YYYY-MM-DD hh:mm:ss`, UTC).
    pub date: &'a str,
}

/// How a boot ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The script ran and exited with this status.
    Exited(i32),
    /// The init could not set up the script (its message).
    InitFailed(String),
    /// The timeout passed; the VM was killed.
    TimedOut,
    /// The kernel panicked (its panic line).
    Panicked(String),
    /// QEMU stopped (or could not start) before the init reported a result.
    Stopped(String),
}

/// What a boot printed besides the log: the console's last lines, for
/// errors about the VM itself.
pub struct Finished {
    /// How it ended.
    pub outcome: Outcome,
    /// The last lines of the console.
    pub console_tail: Vec<String>,
}

/// The four channels from the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    Console,
    Stdout,
    Stderr,
    Status,
}

const CHANNELS: [(Channel, &str); 4] =
    [(Channel::Console, "console"), (Channel::Stdout, "out"), (Channel::Stderr, "err"), (Channel::Status, "status")];

enum Event {
    Data(Channel, Vec<u8>),
    Closed,
}

/// A private temporary folder (for the sockets, whose paths must be short:
/// 108 bytes, wherever the store is), removed when dropped.
pub(super) struct SocketDir(pub(super) PathBuf);

impl SocketDir {
    pub(super) fn new() -> std::io::Result<SocketDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("imgx-vm-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)?;
        Ok(SocketDir(dir))
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl VmRun<'_> {
    /// The kernel command line: a quiet console, a panic stops the VM at
    /// once (QEMU runs with `-no-reboot`), and nothing is set up that the
    /// VM does not use (ACPI, more serial ports), which matters under
    /// emulation.
    fn append() -> &'static str {
        "console=ttyS0 panic=-1 oops=panic quiet loglevel=4 rdinit=/init acpi=off 8250.nr_uarts=1 tsc=reliable no_timer_check mitigations=off"
    }

    /// The QEMU command: its channels wired to sockets in `sockets`, or,
    /// without, the console to this process's terminal (or standard input
    /// and output) and the other ports to nothing, with the disk behind a
    /// throw-away overlay so that it is never written.
    fn command(&self, sockets: Option<&Path>) -> Command {
        let mut command = Command::new(self.qemu);
        let drive = |path: &Path, extra: &str| format!("file={},format=raw,if=virtio,{extra}", path.display());
        let disk_options = if sockets.is_some() { "cache=unsafe" } else { "snapshot=on" };
        command
            .args(["-accel", self.accel.name, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
            .args(["-m", &self.memory_mib.to_string(), "-smp", &self.cpus.to_string()])
            .arg("-kernel")
            .arg(self.kernel)
            .arg("-initrd")
            .arg(self.initrd)
            .args(["-append", Self::append()])
            .args(["-rtc", &format!("base={},clock=vm", self.date.replace(' ', "T"))])
            .args(["-drive", &drive(self.disk, disk_options)])
            .args(["-drive", &drive(self.job, "readonly=on")])
            .args(["-device", "virtio-serial-pci"]);
        for (channel, name) in CHANNELS {
            let backend = match (sockets, channel) {
                (Some(sockets), _) => {
                    format!("socket,id={name},path={}", sockets.join(format!("{name}.sock")).display())
                }
                // Ctrl-C goes to the VM's shell, not to QEMU.
                (None, Channel::Console) => format!("stdio,id={name},signal=off"),
                // Not the `null` backend: it never reports itself open, so
                // the guest's writes to the port would block forever.
                (None, _) => format!("file,id={name},path=/dev/null"),
            };
            command.args(["-chardev", &backend]);
            if channel == Channel::Console {
                command.args(["-serial", &format!("chardev:{name}")]);
            } else {
                command.args(["-device", &format!("virtserialport,chardev={name},name=imgx.{name}")]);
            }
        }
        if self.network {
            command.args(["-nic", "user,model=virtio-net-pci"]);
        } else {
            command.args(["-nic", "none"]);
        }
        if sockets.is_some() {
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        }
        die_with_parent(&mut command);
        command
    }

    /// Boots the VM with its console on this process's standard input and
    /// output, for a person at a terminal, and waits until it powers off.
    /// The disk is attached with `snapshot=on`: what the VM writes goes
    /// to a temporary overlay and the file is never changed.
    pub fn interactive(&self) -> Result<std::process::ExitStatus, BuildError> {
        let mut child = self.command(None).spawn().map_err(|e| {
            BuildError::Failed(format!("cannot start {} (Debian package qemu-system-x86): {e}", self.qemu.display()))
        })?;
        child.wait().map_err(|e| BuildError::Failed(format!("waiting for QEMU: {e}")))
    }

    /// Boots the VM, writes everything it prints to `log` (console lines
    /// marked `[vm]`), and returns how the boot ended.
    pub fn run(&self, log: &mut dyn Write) -> Result<Finished, BuildError> {
        let sockets = SocketDir::new().map_err(|e| BuildError::io("creating", &std::env::temp_dir(), e))?;
        let mut listeners = Vec::new();
        for (channel, name) in CHANNELS {
            let path = sockets.0.join(format!("{name}.sock"));
            let listener = UnixListener::bind(&path).map_err(|e| BuildError::io("listening on", &path, e))?;
            listener.set_nonblocking(true).map_err(|e| BuildError::io("listening on", &path, e))?;
            listeners.push((channel, listener));
        }
        let mut child = self.command(Some(&sockets.0)).spawn().map_err(|e| {
            BuildError::Failed(format!("cannot start {} (Debian package qemu-system-x86): {e}", self.qemu.display()))
        })?;
        let stderr = crate::child::collect_stderr(&mut child);
        let started = Instant::now();
        let (sender, receiver) = mpsc::channel();
        if let Err(stopped) = accept_all(&mut child, listeners, &sender, started + self.timeout) {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            let stopped = if stderr.trim().is_empty() { stopped } else { format!("{stopped}: {}", stderr.trim()) };
            return Ok(Finished { outcome: Outcome::Stopped(stopped), console_tail: Vec::new() });
        }
        drop(sender);
        let mut reader = Collector::new(log);
        let deadline = started + self.timeout;
        let mut timed_out = false;
        loop {
            match receiver.recv_timeout(Duration::from_millis(50)) {
                Ok(event) => reader.take(event),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if !timed_out && Instant::now() >= deadline {
                timed_out = true;
                let _ = child.kill();
            }
        }
        let status = child.wait().map_err(|e| BuildError::Failed(format!("waiting for QEMU: {e}")))?;
        let stderr = stderr.join().unwrap_or_default();
        reader.flush();
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            reader.line(Channel::Console, format!("qemu: {line}"));
        }
        let status_text = String::from_utf8_lossy(&reader.status).trim().to_string();
        let outcome = if timed_out {
            Outcome::TimedOut
        } else if let Some(code) = status_text.strip_prefix("exit ") {
            match code.trim().parse() {
                Ok(code) => Outcome::Exited(code),
                Err(_) => Outcome::InitFailed(format!("unreadable result '{status_text}'")),
            }
        } else if let Some(message) = status_text.strip_prefix("error ") {
            Outcome::InitFailed(message.to_string())
        } else if let Some(message) = reader.panic.take() {
            Outcome::Panicked(message)
        } else if !status.success() {
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            Outcome::Stopped(format!("QEMU exited with {status}: {last}"))
        } else {
            Outcome::Stopped("the VM powered off before the init reported a result".into())
        };
        Ok(Finished { outcome, console_tail: reader.console.into_iter().collect() })
    }
}

/// Waits until QEMU has connected to every socket, then starts a reader
/// thread for each. Returns why not, if QEMU stopped first.
fn accept_all(
    child: &mut Child,
    listeners: Vec<(Channel, UnixListener)>,
    sender: &Sender<Event>,
    deadline: Instant,
) -> Result<(), String> {
    let mut pending = listeners;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (channel, listener) in pending {
            match listener.accept() {
                Ok((stream, _)) => spawn_reader(channel, stream, sender.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => still.push((channel, listener)),
                Err(e) => return Err(format!("accepting QEMU's connection: {e}")),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("QEMU exited with {status} before the VM started"));
        }
        if Instant::now() >= deadline {
            return Err("QEMU did not connect its channels before the timeout".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn spawn_reader(channel: Channel, mut stream: UnixStream, sender: Sender<Event>) {
    let _ = stream.set_nonblocking(false);
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => {
                    let _ = sender.send(Event::Closed);
                    return;
                }
                Ok(n) => {
                    if sender.send(Event::Data(channel, buffer[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Splits the channels into lines and writes them to the log.
struct Collector<'a> {
    log: &'a mut dyn Write,
    partial: [Vec<u8>; 3],
    status: Vec<u8>,
    console: VecDeque<String>,
    /// The kernel's panic message, wherever it was in the console.
    panic: Option<String>,
}

impl<'a> Collector<'a> {
    fn new(log: &'a mut dyn Write) -> Collector<'a> {
        Collector { log, partial: Default::default(), status: Vec::new(), console: VecDeque::new(), panic: None }
    }

    fn take(&mut self, event: Event) {
        match event {
            Event::Data(Channel::Status, bytes) => self.status.extend_from_slice(&bytes),
            Event::Data(channel, bytes) => {
                let index = channel as usize;
                self.partial[index].extend_from_slice(&bytes);
                while let Some(end) = self.partial[index].iter().position(|&b| b == b'\n') {
                    let rest = self.partial[index].split_off(end + 1);
                    let line = std::mem::replace(&mut self.partial[index], rest);
                    let text = String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_string();
                    self.line(channel, text);
                }
            }
            Event::Closed => {}
        }
    }

    fn line(&mut self, channel: Channel, text: String) {
        if channel == Channel::Console {
            let _ = writeln!(self.log, "[vm] {text}");
            if self.panic.is_none() && text.contains("Kernel panic") {
                self.panic = Some(text.clone());
            }
            if self.console.len() == CONSOLE_TAIL {
                self.console.pop_front();
            }
            self.console.push_back(text);
        } else {
            let _ = writeln!(self.log, "{text}");
        }
    }

    fn flush(&mut self) {
        for (index, channel) in [Channel::Console, Channel::Stdout, Channel::Stderr].into_iter().enumerate() {
            if !self.partial[index].is_empty() {
                let line = std::mem::take(&mut self.partial[index]);
                self.line(channel, String::from_utf8_lossy(&line).trim_end().to_string());
            }
        }
    }
}
