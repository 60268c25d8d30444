//! `run { vm; disk; script; files ?; workdir ?; memory ?; cpus ?; timeout ?;
//! network ?; hash ?; shell ? }`: a script run inside a disk image, in the
//! build VM.
//!
//! ```nix
//! builtins.step { kind = "run"; name = "motd"; vm = buildVm; disk = base;
//!                 script = "echo hello > /etc/motd"; }
//! ```
//!
//! The output is a new disk: a reflink (or sparse) copy of the input, which
//! is never touched, changed by the VM (see [`qemu`]). Inside, the VM's
//! init (`stdlib/vm/init`) finds the root file system by its `/etc/fstab`,
//! mounts what fstab lists, copies `files` and the `workdir` in ([`job`]),
//! and runs the script with the image's `/bin/sh` under `chroot`, or with
//! the VM's busybox and the image at `/mnt` when the image has no shell.
//! The script runs with `set -e`, as root, with a fixed environment
//! (`LC_ALL=C`, `TZ=UTC`, umask 022, hostname `imgx`, `SOURCE_DATE_EPOCH`)
//! and the clock starting at the step's source date.
//!
//! A script that fails, hangs past its timeout, or a VM that panics or
//! never boots fails the step with the reason and the log's last lines.
//!
//! Without `network = true` the VM has no network device. A step with a
//! network is impure: it must declare the hash of its output (`hash =
//! "imgx:<object hash>"`), which makes it a fixed-output step checked like
//! a fetch.

mod accel;
mod job;
mod qemu;
mod shell;

use crate::builder::{BuildContext, BuildError, Builder, ParamError, number_param};
use crate::image_format::ImageFormat;
use job::{Job, WORKDIR};
use qemu::{Outcome, VmRun};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

pub use accel::{Accel, accel};
pub use shell::{ShellError, VmShell, vm_shell};

/// Runs a script inside a disk image in the build VM.
pub struct RunBuilder;

/// Defaults of the VM's size and patience.
const DEFAULT_MEMORY_MIB: u64 = 1024;
const DEFAULT_CPUS: u64 = 1;
const DEFAULT_TIMEOUT_SECONDS: u64 = 1800;

/// How a network step spells the hash of its output: the store's object
/// hash, as `imgx build` prints it.
const HASH_PREFIX: &str = "imgx:";

/// The parameters, checked.
struct Params {
    vm: String,
    disk: String,
    script: String,
    files: Vec<(String, String)>,
    workdir: Option<String>,
    memory_mib: u64,
    cpus: u64,
    timeout: u64,
    network: bool,
    hash: Option<String>,
    vm_shell: bool,
}

fn string(params: &serde_json::Value, name: &str) -> Result<Option<String>, ParamError> {
    match params.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ParamError::at(name, format!("'{name}' must be a string, a path or a step"))),
    }
}

/// A destination inside the image: absolute, without `.` or `..`.
fn check_destination(path: &str) -> Result<(), String> {
    let ok = path.starts_with('/')
        && path.len() > 1
        && !path.contains('\n')
        && !path.contains('\t')
        && Path::new(path).components().skip(1).all(|c| matches!(c, Component::Normal(_)));
    if ok { Ok(()) } else { Err(format!("'{path}' must be an absolute path inside the image, without '.' or '..'")) }
}

impl Params {
    fn parse(params: &serde_json::Value) -> Result<Params, ParamError> {
        let required = |name: &str| -> Result<String, ParamError> {
            string(params, name)?.ok_or_else(|| ParamError::from(format!("a run step needs '{name}'")))
        };
        let vm = required("vm")?;
        let disk = required("disk")?;
        let script = required("script")?;
        let mut files = Vec::new();
        match params.get("files") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(map)) => {
                for (destination, source) in map {
                    check_destination(destination).map_err(|m| ParamError::at(format!("files.{destination}"), m))?;
                    let source = source.as_str().ok_or_else(|| {
                        ParamError::at(format!("files.{destination}"), "each file must be a path or a step")
                    })?;
                    files.push((destination.clone(), source.to_string()));
                }
            }
            Some(_) => return Err(ParamError::at("files", "'files' must be a set from paths in the image to files")),
        }
        let workdir = string(params, "workdir")?;
        let memory_mib = number_param(params, "memory", DEFAULT_MEMORY_MIB, (128, 1 << 20), "MiB")?;
        let cpus = number_param(params, "cpus", DEFAULT_CPUS, (1, 64), "CPUs")?;
        let timeout = number_param(params, "timeout", DEFAULT_TIMEOUT_SECONDS, (1, 7 * 24 * 3600), "seconds")?;
        let network = match params.get("network") {
            None | Some(serde_json::Value::Null) => false,
            Some(value) => {
                value.as_bool().ok_or_else(|| ParamError::at("network", "'network' must be true or false"))?
            }
        };
        let hash = string(params, "hash")?;
        match (&hash, network) {
            (None, true) => {
                return Err(ParamError::at(
                    "network",
                    "a step with network = true is impure and must declare the hash of its output: \
                     add hash = \"\"; and the first build prints the hash to paste",
                ));
            }
            (Some(_), false) => {
                return Err(ParamError::at("hash", "only steps with network = true declare the hash of their output"));
            }
            (Some(hash), true) if !hash.is_empty() => {
                let hex = hash.strip_prefix(HASH_PREFIX).unwrap_or("");
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ParamError::at(
                        "hash",
                        format!("'hash' must be \"{HASH_PREFIX}\" and the 64 hex digits of the output's object hash"),
                    ));
                }
            }
            _ => {}
        }
        let vm_shell = match string(params, "shell")?.as_deref() {
            None | Some("image") => false,
            Some("vm") => true,
            Some(other) => {
                return Err(ParamError::at("shell", format!("unknown shell '{other}': \"image\" or \"vm\"")));
            }
        };
        Ok(Params { vm, disk, script, files, workdir, memory_mib, cpus, timeout, network, hash, vm_shell })
    }
}

/// The QEMU binary: `IMGX_QEMU`, or `qemu-system-x86_64` from `PATH`.
pub(crate) fn qemu_binary() -> PathBuf {
    std::env::var_os("IMGX_QEMU").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"))
}

/// Says once per process which accelerator QEMU uses, and why.
pub(crate) fn accel_notice(accel: &Accel, notice: &dyn Fn(&str)) {
    static SAID: OnceLock<()> = OnceLock::new();
    SAID.get_or_init(|| {
        let how = if accel.name == "kvm" { "KVM" } else { "TCG (software emulation, slower)" };
        notice(&format!("QEMU runs with {how}: {}", accel.reason));
    });
}

/// What the VM's init needs to know about a disk before it boots.
pub(crate) struct Survey {
    /// The kinds of file system on it (`ext4`, `vfat`, `xfs`; `unknown`
    /// when the table could not be read): the VM loads only the modules
    /// these need.
    pub file_systems: Vec<&'static str>,
    /// Each partition's PARTUUID and number, which the kernel does not
    /// show the init, for fstab lines that name partitions by it.
    pub part_uuids: Vec<(String, u32)>,
}

/// Reads a disk's partition table and recognises its file systems.
pub(crate) fn survey(disk: &Path) -> Result<Survey, BuildError> {
    use crate::canonical::FileSystem;
    let file = std::fs::File::open(disk).map_err(|e| BuildError::io("opening", disk, e))?;
    let found = match crate::canonical::file_systems(&file) {
        Ok(found) => found,
        // A table this reader does not understand: the VM loads everything.
        Err(_) => return Ok(Survey { file_systems: vec!["unknown"], part_uuids: Vec::new() }),
    };
    let part_uuids = found.iter().filter_map(|(entry, _)| Some((entry.uuid.clone()?, entry.number))).collect();
    let mut names: Vec<&'static str> = found
        .into_iter()
        .filter_map(|(_, fs)| match fs {
            FileSystem::Ext4 => Some("ext4"),
            FileSystem::Fat => Some("vfat"),
            FileSystem::Xfs => Some("xfs"),
            // Nothing the optional modules serve: an empty partition, or a
            // file system whose module the VM always loads.
            FileSystem::Swap | FileSystem::Unknown => None,
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    Ok(Survey { file_systems: names, part_uuids })
}

/// Removes what the guest kernel leaves behind that depends on time or
/// chance rather than on the script (see [`crate::canonical`]), so that
/// the same step gives the same bytes.
fn canonicalize(disk: &Path, epoch: i64, log: &mut dyn std::io::Write) -> Result<(), BuildError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk)
        .map_err(|e| BuildError::io("opening", disk, e))?;
    let partitions = crate::canonical::canonicalize_disk(&file, epoch)
        .map_err(|e| BuildError::Failed(format!("cannot make the output reproducible: {e}")))?;
    for partition in partitions {
        let what = match &partition.summary {
            Some(summary) => format!(
                "{} items changed, {} cleared, {} blocks rewritten, {} bytes of free space punched",
                summary.items_changed, summary.items_cleared, summary.blocks_rewritten, summary.bytes_punched
            ),
            None => "left as is".to_string(),
        };
        writeln!(log, "canonical: partition {} ({}): {what}", partition.number, partition.file_system).ok();
    }
    // Registering the output syncs it.
    Ok(())
}

impl Builder for RunBuilder {
    fn kind(&self) -> &'static str {
        "run"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        Params::parse(params).map(|_| ())
    }

    fn fixed_output(&self, params: &serde_json::Value) -> Option<serde_json::Value> {
        let params = Params::parse(params).ok()?;
        params.network.then(|| serde_json::json!({ "hash": params.hash }))
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError> {
        let params = Params::parse(&ctx.step.params).map_err(|e| BuildError::InvalidParams(e.message))?;
        let vm = ctx.input_file("vm", &params.vm)?;
        let (kernel, initrd) = (vm.join("kernel"), vm.join("initrd"));
        if !kernel.is_file() || !initrd.is_file() {
            return Err(BuildError::InvalidParams(format!(
                "'vm' ({}) is not a build VM (a vm step's output)",
                params.vm
            )));
        }
        let input = ctx.input_file("disk", &params.disk)?;
        if !input.is_file() {
            return Err(BuildError::Failed(format!(
                "'disk' must be a raw disk image file, but {} is not a file",
                params.disk
            )));
        }
        let format = ImageFormat::detect(&input)?;
        if !format.is_raw_disk() {
            let format = format.name();
            return Err(BuildError::Failed(format!(
                "'disk' is a {format} image; a run step takes raw disks (fetch it with unpack = \"{format}\", or convert it to raw)"
            )));
        }
        let files = params
            .files
            .iter()
            .map(|(destination, source)| {
                Ok((destination.clone(), ctx.input_file(&format!("files.{destination}"), source)?))
            })
            .collect::<Result<Vec<(String, PathBuf)>, BuildError>>()?;
        let workdir = params.workdir.as_deref().map(|w| ctx.input_file("workdir", w)).transpose()?;

        let out = ctx.out.clone();
        imgx_store::copy::copy_file(&input, &out).map_err(|e| BuildError::io("copying the disk to", &out, e))?;
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| BuildError::io("making writable", &out, e))?;

        let epoch = ctx.source_date_epoch();
        let start_dir = if workdir.is_some() { WORKDIR } else { "/" };
        let job = Job {
            script: format!("set -e\ncd \"$IMGX_ROOT{start_dir}\"\n{}\n", params.script),
            files: files.iter().map(|(d, s)| (d.clone(), s.as_path())).collect(),
            workdir: workdir.as_deref(),
            epoch,
            network: params.network,
            survey: survey(&out)?,
            vm_shell: params.vm_shell,
            interactive: None,
        };
        let job_path = ctx.work.join("job.tar");
        job.write(&job_path)?;

        let qemu = qemu_binary();
        let accel = accel(&qemu);
        accel_notice(&accel, ctx.notice);
        writeln!(
            ctx.log,
            "build VM: {} ({}), {} MiB, {} CPU(s), timeout {} s",
            accel.name, accel.reason, params.memory_mib, params.cpus, params.timeout
        )
        .ok();
        if params.network {
            let what = "impure: the build VM has a network, so the output is checked against the declared hash";
            (ctx.notice)(what);
            writeln!(ctx.log, "{what}").ok();
        }
        let date = job::utc_date(epoch);
        let run = VmRun {
            qemu: &qemu,
            accel: &accel,
            kernel: &kernel,
            initrd: &initrd,
            disk: &out,
            job: &job_path,
            memory_mib: params.memory_mib,
            cpus: params.cpus,
            timeout: Duration::from_secs(params.timeout),
            network: params.network,
            date: &date,
        };
        let finished = run.run(ctx.log)?;
        let console = || finished.console_tail.join("\n");
        match &finished.outcome {
            Outcome::Exited(0) => {}
            Outcome::Exited(code) => return Err(BuildError::Failed(format!("the script exited with status {code}"))),
            Outcome::InitFailed(message) => {
                return Err(BuildError::Failed(format!("the build VM could not run the script: {message}")));
            }
            Outcome::TimedOut => {
                return Err(BuildError::Failed(format!(
                    "timed out: the script was still running after {} s (timeout = {};), and the VM was stopped",
                    params.timeout, params.timeout
                )));
            }
            Outcome::Panicked(message) => {
                return Err(BuildError::Failed(format!(
                    "the build VM's kernel panicked ({}); its console ended with:\n{}",
                    message.trim(),
                    console()
                )));
            }
            Outcome::Stopped(why) => {
                return Err(BuildError::Failed(format!(
                    "the build VM stopped before the script finished ({why}); its console ended with:\n{}",
                    console()
                )));
            }
        }
        canonicalize(&out, epoch, ctx.log)?;
        if let Some(declared) = params.hash.as_deref() {
            let actual = imgx_store::hash::hash_file(&out).map_err(|e| BuildError::io("hashing", &out, e))?;
            let actual = format!("{HASH_PREFIX}{}", actual.to_hex());
            if declared != actual {
                let declared = if declared.is_empty() { "none".to_string() } else { declared.to_string() };
                return Err(BuildError::Failed(format!(
                    "hash mismatch for the output of this network step: declared {declared}, got {actual}; use hash = \"{actual}\";"
                )));
            }
        }
        Ok(())
    }
}
