//! `imgx vm shell`: the build VM booted by hand, with a disk mounted as a
//! `run` step would mount it and a shell on the terminal instead of a
//! script, for finding out why a step fails.
//!
//! The VM's init does everything a run step's boot does up to the script
//! (`IMGX_MODE=shell` in the job), then starts `sh` on the console: under
//! `chroot` in the image when it has a `/bin/sh`, else the VM's busybox
//! with the image at `/mnt`. Leaving the shell unmounts the image and
//! powers the VM off. The disk is attached with QEMU's `snapshot=on`, so
//! whatever is done in the shell is thrown away and the file is never
//! written.

use super::job::Job;
use super::qemu::{SocketDir, VmRun};
use crate::DEFAULT_SOURCE_DATE_EPOCH;
use crate::builder::BuildError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to boot for an interactive shell.
pub struct VmShell<'a> {
    /// The build VM: a `vm` step's output, with `kernel` and `initrd`.
    pub vm: &'a Path,
    /// The raw disk image to mount (never changed).
    pub disk: &'a Path,
    /// Memory, in MiB.
    pub memory_mib: u64,
    /// Virtual CPUs.
    pub cpus: u64,
    /// Use the VM's busybox even if the image has a shell.
    pub vm_shell: bool,
    /// The terminal type the shell gets (`TERM`).
    pub term: String,
}

/// Why the shell could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The VM folder lacks the kernel or the initramfs.
    #[error("{} is not a build VM: it has no kernel and initrd", .0.display())]
    NotAVm(PathBuf),
    /// The disk is missing or not a file.
    #[error("{} is not a disk image file", .0.display())]
    NotADisk(PathBuf),
    /// The disk is in a format QEMU must not be told is raw.
    #[error("{} is a {format} image; the build VM takes raw disks (convert it to raw first)", .path.display())]
    NotRaw {
        /// The disk.
        path: PathBuf,
        /// What it is.
        format: &'static str,
    },
    /// Preparing or running QEMU failed.
    #[error(transparent)]
    Vm(#[from] BuildError),
}

/// Boots the build VM with `shell.disk` mounted and a shell on this
/// process's terminal (or standard input and output), and waits until the
/// VM powers off. Returns QEMU's exit status.
pub fn vm_shell(shell: &VmShell<'_>) -> Result<std::process::ExitStatus, ShellError> {
    let (kernel, initrd) = (shell.vm.join("kernel"), shell.vm.join("initrd"));
    if !kernel.is_file() || !initrd.is_file() {
        return Err(ShellError::NotAVm(shell.vm.to_path_buf()));
    }
    if !shell.disk.is_file() {
        return Err(ShellError::NotADisk(shell.disk.to_path_buf()));
    }
    let format = crate::image_format::ImageFormat::detect(shell.disk)?;
    if !format.is_raw_disk() {
        return Err(ShellError::NotRaw { path: shell.disk.to_path_buf(), format: format.name() });
    }
    let folder = SocketDir::new().map_err(|e| BuildError::io("creating", &std::env::temp_dir(), e))?;
    let job_path = folder.0.join("job.tar");
    let epoch = DEFAULT_SOURCE_DATE_EPOCH;
    Job {
        script: String::new(),
        files: Vec::new(),
        workdir: None,
        epoch,
        network: false,
        survey: super::survey(shell.disk)?,
        vm_shell: shell.vm_shell,
        interactive: Some(shell.term.clone()),
    }
    .write(&job_path)?;
    let qemu = super::qemu_binary();
    let accel = super::accel(&qemu);
    super::accel_notice(&accel, &|message| eprintln!("imgx: {message}"));
    let date = super::job::utc_date(epoch);
    let run = VmRun {
        qemu: &qemu,
        accel: &accel,
        kernel: &kernel,
        initrd: &initrd,
        disk: shell.disk,
        job: &job_path,
        memory_mib: shell.memory_mib,
        cpus: shell.cpus,
        timeout: Duration::MAX,
        network: false,
        date: &date,
    };
    Ok(run.interactive()?)
}
