//! Converted images (qcow2, vmdk, vhd, vhdx): both are converted back to
//! raw with `qemu-img convert` and compared as disks. When the raw disks
//! are the same, only the container differs (its header, tables or
//! identifiers) and the report says where, in the container's bytes.

use super::{Aspect, Difference, ExplainError, bytes, disk, run_tool, within};
use imgx_builders::ImageFormat;
use std::path::Path;
use std::process::Command;

/// qemu-img's name for a format.
fn qemu_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Raw => "raw",
        ImageFormat::Qcow2 => "qcow2",
        ImageFormat::Vmdk => "vmdk",
        ImageFormat::Vhd { .. } => "vpc",
        ImageFormat::Vhdx => "vhdx",
    }
}

fn to_raw(format: ImageFormat, image: &Path, raw: &Path) -> Result<(), ExplainError> {
    run_tool(
        "qemu-img",
        Command::new("qemu-img").args(["convert", "-f", qemu_name(format), "-O", "raw"]).arg(image).arg(raw),
    )
    .map(drop)
}

/// Compares two images in `format`: the guest's disks first, then the
/// container's own bytes.
pub fn compare(
    place: &str,
    format: ImageFormat,
    registered: &Path,
    rebuilt: &Path,
    work: &Path,
    found: &mut Vec<Difference>,
) -> Result<(), ExplainError> {
    if ImageFormat::detect(registered).ok() != Some(format) {
        found.push(Difference::new(
            place,
            Aspect::Container,
            format!("the rebuilt image is {}, the registered one is not", format.name()),
        ));
        return Ok(());
    }
    let id = blake3::hash(rebuilt.as_os_str().as_encoded_bytes()).to_hex();
    let (raw_a, raw_b) =
        (work.join(format!("registered-{}.raw", &id[..12])), work.join(format!("rebuilt-{}.raw", &id[..12])));
    to_raw(format, registered, &raw_a)?;
    to_raw(format, rebuilt, &raw_b)?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).map_err(|e| ExplainError::io("inspect", p, e));
    let (size_a, size_b) = (size(&raw_a)?, size(&raw_b)?);
    let guest = bytes::differing_ranges(&raw_a, &raw_b, 0, size_a.max(size_b))
        .map_err(|e| ExplainError::io("read", &raw_b, e))?;
    let result = if guest.is_empty() && size_a == size_b {
        let length = size(registered)?.max(size(rebuilt)?);
        let header = bytes::differing_ranges(registered, rebuilt, 0, length)
            .map_err(|e| ExplainError::io("read", rebuilt, e))?;
        found.push(Difference::new(
            within(place, &format!("{} container", format.name())),
            Aspect::Container,
            format!(
                "the guest sees the same disk; only the container's own bytes differ: {}",
                if header.is_empty() { "its length".to_string() } else { header.describe() }
            ),
        ));
        Ok(())
    } else {
        let here = within(place, &format!("guest disk (from {})", format.name()));
        found.push(Difference::new(&here, Aspect::Content, "the disk the guest sees differs"));
        disk::explain_raw(&here, &raw_a, &raw_b, work, found)
    };
    let _ = std::fs::remove_file(&raw_a);
    let _ = std::fs::remove_file(&raw_b);
    result
}
