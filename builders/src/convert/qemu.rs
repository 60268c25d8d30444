//! Running `qemu-img`: the conversion itself, and the checks of its result.
//!
//! The input is always opened with `-f raw` (never probed: a raw image
//! whose first sector looks like another format must not be read as one),
//! the output format is always named, and every option that shapes the
//! output's bytes is spelled out rather than left to qemu-img's defaults.
//! Writes stay in order (no `-W`), which is what makes the allocation order
//! of qcow2, VMDK and VHDX clusters, and so their bytes, the same on every
//! run.

use super::Target;
use crate::builder::BuildError;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The program; found on `PATH`.
const QEMU_IMG: &str = "qemu-img";

/// Runs qemu-img with `args`, logging the command line and its output.
fn run(log: &mut dyn Write, args: &[&OsStr]) -> Result<Output, BuildError> {
    let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    writeln!(log, "$ {QEMU_IMG} {}", shown.join(" ")).ok();
    let output = Command::new(QEMU_IMG).args(args).env("LC_ALL", "C").output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BuildError::Failed(format!(
                "{QEMU_IMG} was not found on PATH; the convert step needs it (Debian: apt-get install qemu-utils)"
            ))
        } else {
            BuildError::Failed(format!("could not run {QEMU_IMG}: {e}"))
        }
    })?;
    log.write_all(&output.stdout).ok();
    log.write_all(&output.stderr).ok();
    Ok(output)
}

/// Runs qemu-img and fails unless it exits with 0.
fn run_ok(log: &mut dyn Write, what: &str, args: &[&OsStr]) -> Result<Output, BuildError> {
    let output = run(log, args)?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(BuildError::Failed(format!("{QEMU_IMG} {what} failed ({}): {message}", output.status)));
    }
    Ok(output)
}

/// Logs qemu-img's version: it decides the bytes of qcow2, VMDK and VHDX
/// layouts, so a log of a build says which one wrote it. qemu-img is asked
/// once per process; later conversions log the same lines.
pub(super) fn version(log: &mut dyn Write) -> Result<(), BuildError> {
    static ASKED: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(lines) = ASKED.get() {
        log.write_all(lines).ok();
        return Ok(());
    }
    let mut lines = Vec::new();
    let asked = run_ok(&mut lines, "--version", &["--version".as_ref()]);
    log.write_all(&lines).ok();
    if asked?.stdout.is_empty() {
        return Err(BuildError::Failed(format!("{QEMU_IMG} --version printed nothing")));
    }
    let _ = ASKED.set(lines);
    Ok(())
}

/// The `-o` creation options of a target.
fn create_options(target: Target) -> &'static str {
    match target {
        Target::Raw => "",
        Target::Qcow2 { compress: false } => "compat=1.1,cluster_size=65536,refcount_bits=16",
        Target::Qcow2 { compress: true } => "compat=1.1,cluster_size=65536,refcount_bits=16,compression_type=zlib",
        Target::Vmdk { stream: false } => "subformat=monolithicSparse",
        Target::Vmdk { stream: true } => "subformat=streamOptimized",
        // force_size: the virtual size is the input's (or the rounded-up
        // size), not a CHS geometry's approximation of it.
        Target::Vhd { fixed: false } => "subformat=dynamic,force_size=on",
        Target::Vhd { fixed: true } => "subformat=fixed,force_size=on",
        Target::Vhdx => "subformat=dynamic",
    }
}

/// Writes `input` (raw) as `output` in the target format, `virtual_size`
/// bytes large (the input's size, or more for a fixed VHD).
pub(super) fn convert(
    log: &mut dyn Write,
    target: Target,
    input: &Path,
    output: &Path,
    virtual_size: u64,
) -> Result<(), BuildError> {
    let format = target.qemu_format();
    let options = create_options(target);
    let mut args: Vec<&OsStr> = vec!["convert".as_ref(), "-f".as_ref(), "raw".as_ref(), "-O".as_ref(), format.as_ref()];
    if let Target::Vhd { fixed: true } = target {
        // The virtual size may exceed the input's (rounded up to a MiB), so
        // create the image at that size, then convert into it. It is fresh
        // (all zeros, all holes), so zero blocks are skipped as usual.
        let size = virtual_size.to_string();
        let create: Vec<&OsStr> = vec![
            "create".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            format.as_ref(),
            "-o".as_ref(),
            options.as_ref(),
            output.as_os_str(),
            size.as_ref(),
        ];
        run_ok(log, "create", &create)?;
        args.extend(["-n".as_ref(), "--target-is-zero".as_ref()] as [&OsStr; 2]);
    } else if !options.is_empty() {
        args.extend(["-o".as_ref(), options.as_ref()] as [&OsStr; 2]);
    }
    if let Target::Qcow2 { compress: true } = target {
        args.push("-c".as_ref());
    }
    args.extend([input.as_os_str(), output.as_os_str()]);
    run_ok(log, "convert", &args)?;
    Ok(())
}

/// `qemu-img check`, where the format has a checker (qcow2, VMDK, VHDX);
/// any corruption, leak or error fails the step.
pub(super) fn check(log: &mut dyn Write, target: Target, image: &Path) -> Result<(), BuildError> {
    if matches!(target, Target::Raw | Target::Vhd { .. }) {
        writeln!(log, "{}: qemu-img has no checker for this format", target.qemu_format()).ok();
        return Ok(());
    }
    let args: Vec<&OsStr> = vec![
        "check".as_ref(),
        "-f".as_ref(),
        target.qemu_format().as_ref(),
        "--output=json".as_ref(),
        image.as_os_str(),
    ];
    let output = run(log, &args)?;
    let report: Option<serde_json::Value> = serde_json::from_slice(&output.stdout).ok();
    let count = |field: &str| report.as_ref().and_then(|r| r.get(field)).and_then(|v| v.as_u64()).unwrap_or(0);
    let problems = count("corruptions") + count("leaks") + count("check-errors");
    if !output.status.success() || report.is_none() || problems != 0 {
        return Err(BuildError::Failed(format!(
            "the converted image is invalid: qemu-img check ({}) reports {} corruptions, {} leaks, {} errors: {}",
            output.status,
            count("corruptions"),
            count("leaks"),
            count("check-errors"),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// `qemu-img info`: the image must open as the target format with the
/// expected virtual size (and, for VMDK, the expected subformat).
pub(super) fn info(log: &mut dyn Write, target: Target, image: &Path, virtual_size: u64) -> Result<(), BuildError> {
    let format = target.qemu_format();
    let args: Vec<&OsStr> =
        vec!["info".as_ref(), "-f".as_ref(), format.as_ref(), "--output=json".as_ref(), image.as_os_str()];
    let output = run_ok(log, "info", &args)?;
    let info: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| BuildError::Failed(format!("qemu-img info printed no JSON: {e}")))?;
    let invalid = |what: String| BuildError::Failed(format!("the converted image is invalid: {what}"));
    if info["format"] != format {
        return Err(invalid(format!("qemu-img info says its format is {}, not {format}", info["format"])));
    }
    if info["virtual-size"].as_u64() != Some(virtual_size) {
        return Err(invalid(format!(
            "qemu-img info says its virtual size is {}, not {virtual_size}",
            info["virtual-size"]
        )));
    }
    if let Target::Vmdk { stream } = target {
        let expected = if stream { "streamOptimized" } else { "monolithicSparse" };
        let found = &info["format-specific"]["data"]["create-type"];
        if found != expected {
            return Err(invalid(format!("qemu-img info says it is a {found} VMDK, not {expected}")));
        }
    }
    Ok(())
}
