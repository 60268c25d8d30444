//! `convert { disk; format; options ? }`: a raw disk image in another
//! format (raw, qcow2, vmdk, vhd, vhdx), byte for byte reproducible.
//!
//! ```nix
//! builtins.step { kind = "convert"; name = "azure"; disk = ./disk.raw;
//!                 format = "vhd"; options.subformat = "fixed"; }
//! ```
//!
//! An uncompressed qcow2 image is written by imgx itself ([`qcow2`]), in
//! one pass that also hashes it, so that the store registers it without
//! reading it back. `qemu-img convert` writes the others (see [`qemu`]).
//! Of its formats, raw and compressed qcow2 come out the same on every
//! run; the others carry random
//! identifiers and times, which the format's patcher overwrites with values
//! derived from the step's key and `sourceDateEpoch`, recomputing any
//! checksum they are covered by:
//!
//! | format | fields                                                      | module   |
//! |--------|-------------------------------------------------------------|----------|
//! | vmdk   | the descriptor's `CID`                                      | [`vmdk`] |
//! | vhd    | footer (and copy): timestamp, unique id, checksum           | [`vhd`]  |
//! | vhdx   | creator, header sequence numbers, GUIDs and CRC-32C, stale  | [`vhdx`] |
//! |        | log sectors, Page 83 GUID                                   |          |
//!
//! The patched image is then checked with `qemu-img check` (where the
//! format has a checker) and `qemu-img info` (format and virtual size), so a
//! broken image fails the step instead of reaching the store. Holes stay
//! holes: qemu-img skips zero blocks, and the patchers rewrite only sectors
//! that already hold data.

mod qcow2;
mod qemu;
mod vhd;
mod vhdx;
mod vmdk;

use crate::builder::{BuildContext, BuildError, Builder, ParamError};
use crate::image_format::ImageFormat;
use crate::step::InputRef;
use std::os::unix::fs::PermissionsExt;

/// Converts a raw disk image into another image format.
pub struct ConvertBuilder;

/// A disk's size must be a whole number of these.
const SECTOR: u64 = 512;

/// Azure requires fixed VHDs whose virtual size is a whole number of MiB.
const MIB: u64 = 1 << 20;

/// The formats, as `format` spells them.
const FORMATS: &str = "raw, qcow2, vmdk, vhd or vhdx";

/// What to write: a format and the options that shape its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// A raw image, as sparse as qemu-img's zero detection makes it.
    Raw,
    /// qcow2, with zlib-compressed clusters if `compress`.
    Qcow2 {
        /// `options.compress`.
        compress: bool,
    },
    /// VMDK, `monolithicSparse` or (if `stream`) `streamOptimized`.
    Vmdk {
        /// `options.subformat = "streamOptimized"`.
        stream: bool,
    },
    /// VHD (qemu's `vpc`), dynamic or fixed.
    Vhd {
        /// `options.subformat = "fixed"`.
        fixed: bool,
    },
    /// VHDX, dynamic.
    Vhdx,
}

impl Target {
    /// Reads `format` and `options`, reporting a mistake at the attribute
    /// where it is written.
    fn from_params(params: &serde_json::Value) -> Result<Target, ParamError> {
        let format = match params.get("format") {
            None => return Err(format!("a convert step needs 'format' ({FORMATS})").into()),
            Some(value) => value
                .as_str()
                .ok_or_else(|| ParamError::at("format", format!("'format' must be a string ({FORMATS})")))?,
        };
        let allowed: &[&str] = match format {
            "raw" | "vhdx" => &[],
            "qcow2" => &["compress"],
            "vmdk" | "vhd" => &["subformat"],
            "vpc" => return Err(ParamError::at("format", "unknown format 'vpc': qemu's 'vpc' is called 'vhd' here")),
            other => return Err(ParamError::at("format", format!("unknown format '{other}' (known: {FORMATS})"))),
        };
        let empty = serde_json::Map::new();
        let options = match params.get("options") {
            None => &empty,
            Some(value) => value.as_object().ok_or_else(|| {
                ParamError::at("options", format!("'options' must be a set of options for format '{format}'"))
            })?,
        };
        for key in options.keys() {
            if !allowed.contains(&key.as_str()) {
                let takes = if allowed.is_empty() {
                    "it takes no options".to_string()
                } else {
                    format!("it takes: {}", allowed.join(", "))
                };
                return Err(ParamError::at(
                    format!("options.{key}"),
                    format!("format '{format}' has no option '{key}' ({takes})"),
                ));
            }
        }
        let subformat = |choices: &[&str]| -> Result<usize, ParamError> {
            let Some(value) = options.get("subformat") else { return Ok(0) };
            let wanted = value.as_str().ok_or_else(|| {
                ParamError::at(
                    "options.subformat",
                    format!("'options.subformat' must be a string: {}", choices.join(" or ")),
                )
            })?;
            choices.iter().position(|c| *c == wanted).ok_or_else(|| {
                ParamError::at(
                    "options.subformat",
                    format!("unknown {format} subformat '{wanted}' (known: {})", choices.join(", ")),
                )
            })
        };
        Ok(match format {
            "raw" => Target::Raw,
            "vhdx" => Target::Vhdx,
            "qcow2" => {
                let compress = match options.get("compress") {
                    None => false,
                    Some(value) => value
                        .as_bool()
                        .ok_or_else(|| ParamError::at("options.compress", "'options.compress' must be a Boolean"))?,
                };
                Target::Qcow2 { compress }
            }
            "vmdk" => Target::Vmdk { stream: subformat(&["monolithicSparse", "streamOptimized"])? == 1 },
            _ => Target::Vhd { fixed: subformat(&["dynamic", "fixed"])? == 1 },
        })
    }

    /// The name qemu-img knows the format by.
    fn qemu_format(self) -> &'static str {
        match self {
            Target::Raw => "raw",
            Target::Qcow2 { .. } => "qcow2",
            Target::Vmdk { .. } => "vmdk",
            Target::Vhd { .. } => "vpc",
            Target::Vhdx => "vhdx",
        }
    }

    /// The usual file name extension.
    fn extension(self) -> &'static str {
        match self {
            Target::Raw => "raw",
            Target::Qcow2 { .. } => "qcow2",
            Target::Vmdk { .. } => "vmdk",
            Target::Vhd { .. } => "vhd",
            Target::Vhdx => "vhdx",
        }
    }

    /// The virtual size of the output for an input of `input` bytes: the
    /// same, except fixed VHDs, rounded up to a whole MiB.
    fn virtual_size(self, input: u64) -> u64 {
        match self {
            Target::Vhd { fixed: true } => input.div_ceil(MIB) * MIB,
            _ => input,
        }
    }
}

/// The name qemu-img writes the image under; VMDK records it in its
/// descriptor, so it comes from the step (its name is part of the key), not
/// from the scratch folder.
fn image_file_name(step_name: &str, extension: &str) -> String {
    let safe = !step_name.is_empty()
        && !step_name.starts_with('.')
        && step_name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    let base = if safe { step_name } else { "disk" };
    if base.ends_with(&format!(".{extension}")) { base.to_string() } else { format!("{base}.{extension}") }
}

/// The first bytes of a purpose's derived value.
fn derived_array<const N: usize>(ctx: &BuildContext<'_>, purpose: &str) -> [u8; N] {
    let bytes = ctx.derived(purpose);
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// A random-looking (version 4, RFC 4122 variant) UUID from derived
/// bytes, in the big-endian byte order VHD stores.
fn uuid_big_endian(mut bytes: [u8; 16]) -> [u8; 16] {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

/// The same kind of UUID in Microsoft's mixed-endian GUID layout (the
/// first three fields little-endian), as VHDX stores it.
fn guid_mixed_endian(bytes: [u8; 16]) -> [u8; 16] {
    let mut guid = uuid_big_endian(bytes);
    guid[0..4].reverse();
    guid[4..6].reverse();
    guid[6..8].reverse();
    guid
}

impl Builder for ConvertBuilder {
    fn kind(&self) -> &'static str {
        "convert"
    }

    fn version(&self) -> &'static str {
        "convert-2"
    }

    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        match params.get("disk") {
            None => return Err("a convert step needs 'disk', a step or path whose output is a raw disk image".into()),
            Some(disk) => {
                let text = disk.as_str().ok_or_else(|| ParamError::at("disk", "'disk' must be a step or a path"))?;
                if InputRef::parse_placeholder(text).is_none() {
                    return Err(ParamError::at(
                        "disk",
                        format!("'disk' must be a step or a path (a raw disk image), not the string '{text}'"),
                    ));
                }
            }
        }
        Target::from_params(params)?;
        if let Some(epoch) = params.get("sourceDateEpoch")
            && !epoch.is_i64()
        {
            return Err(ParamError::at("sourceDateEpoch", "'sourceDateEpoch' must be an integer (seconds since 1970)"));
        }
        for key in params.as_object().into_iter().flat_map(|o| o.keys()) {
            if !matches!(key.as_str(), "disk" | "format" | "options" | "sourceDateEpoch") {
                return Err(ParamError::at(
                    key.clone(),
                    format!(
                        "unknown parameter '{key}' (a convert step takes disk, format, options and sourceDateEpoch)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError> {
        let target = Target::from_params(&ctx.step.params).map_err(|e| BuildError::InvalidParams(e.message))?;
        let disk = ctx.str_param("disk").ok_or_else(|| BuildError::InvalidParams("'disk' is missing".into()))?;
        let input = ctx.input_file("disk", disk)?;
        let meta = std::fs::metadata(&input).map_err(|e| BuildError::io("inspecting the disk", &input, e))?;
        if !meta.is_file() {
            return Err(BuildError::Failed(format!("'disk' must be a raw disk image file, but {disk} is not a file")));
        }
        let size = meta.len();
        if size == 0 || !size.is_multiple_of(SECTOR) {
            return Err(BuildError::Failed(format!(
                "'disk' is {size} bytes; a raw disk image must be a positive whole number of {SECTOR}-byte sectors"
            )));
        }
        // An image file would be converted as raw bytes, which is never
        // what was meant.
        let format = ImageFormat::detect(&input)?;
        if format != ImageFormat::Raw {
            return Err(BuildError::Failed(format!(
                "'disk' is a {} image, not a raw one; convert takes raw disk images",
                format.name()
            )));
        }
        let virtual_size = target.virtual_size(size);
        let image = ctx.work.join(image_file_name(&ctx.step.name, target.extension()));

        qemu::version(ctx.log)?;
        let mut written_hash = None;
        if target == (Target::Qcow2 { compress: false }) {
            let written =
                qcow2::write(&input, &image).map_err(|e| BuildError::io("writing the qcow2 image", &image, e))?;
            writeln!(ctx.log, "qcow2: written by imgx, {} data clusters of 64 KiB", written.data_clusters).ok();
            written_hash = Some(written.hash);
        } else {
            qemu::convert(ctx.log, target, &input, &image, virtual_size)?;
        }
        match target {
            Target::Raw | Target::Qcow2 { .. } => {
                writeln!(ctx.log, "{}: nothing to patch (written deterministically)", target.qemu_format()).ok();
            }
            Target::Vmdk { .. } => {
                let cid = u32::from_le_bytes(derived_array(ctx, "vmdk CID")) % 0xffff_fffe;
                vmdk::patch(&image, cid)?;
                writeln!(ctx.log, "vmdk: CID set to {cid:08x}").ok();
            }
            Target::Vhd { fixed } => {
                let timestamp = vhd::timestamp(ctx.source_date_epoch());
                let uuid = uuid_big_endian(derived_array(ctx, "vhd unique id"));
                vhd::patch(&image, timestamp, uuid)?;
                vhd::verify(&image, virtual_size, fixed)?;
                writeln!(ctx.log, "vhd: footer timestamp {timestamp}, unique id and checksum set").ok();
            }
            Target::Vhdx => {
                let ids = vhdx::Ids {
                    file_write: guid_mixed_endian(derived_array(ctx, "vhdx file write guid")),
                    data_write: guid_mixed_endian(derived_array(ctx, "vhdx data write guid")),
                    page83: guid_mixed_endian(derived_array(ctx, "vhdx page 83 guid")),
                };
                let zeroed = vhdx::patch(&image, &ids)?;
                writeln!(
                    ctx.log,
                    "vhdx: creator, header GUIDs, sequence numbers and checksums, Page 83 GUID set; {zeroed} stale log sectors zeroed"
                )
                .ok();
            }
        }
        std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| BuildError::io("setting the mode of", &image, e))?;
        // Two read-only looks at the image: at the same time.
        let (checked, inspected) = std::thread::scope(|scope| {
            let info = scope.spawn(|| {
                let mut log = Vec::new();
                let inspected = qemu::info(&mut log, target, &image, virtual_size);
                (log, inspected)
            });
            let checked = qemu::check(ctx.log, target, &image);
            let inspected = info.join().unwrap_or_else(|_| {
                (Vec::new(), Err(BuildError::Failed("the thread running qemu-img info stopped".into())))
            });
            (checked, inspected)
        });
        ctx.log.write_all(&inspected.0).ok();
        checked?;
        inspected.1?;
        let out = ctx.out.clone();
        std::fs::rename(&image, &out).map_err(|e| BuildError::io("moving the image to", &out, e))?;
        ctx.output_hash = written_hash;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_at(params: serde_json::Value) -> (Option<String>, String) {
        let error = ConvertBuilder.validate(&params).expect_err("invalid");
        (error.at, error.message)
    }

    const DISK: &str = "/imgx/objects/0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn accepts_every_format_and_subformat() {
        for (format, options) in [
            ("raw", json!({})),
            ("qcow2", json!({ "compress": true })),
            ("vmdk", json!({ "subformat": "streamOptimized" })),
            ("vmdk", json!({ "subformat": "monolithicSparse" })),
            ("vhd", json!({ "subformat": "fixed" })),
            ("vhd", json!({})),
            ("vhdx", json!({})),
        ] {
            let params = json!({ "disk": DISK, "format": format, "options": options });
            assert_eq!(ConvertBuilder.validate(&params), Ok(()), "{params}");
        }
        let params = json!({ "disk": DISK, "format": "vhd", "options": { "subformat": "fixed" } });
        assert_eq!(Target::from_params(&params), Ok(Target::Vhd { fixed: true }));
    }

    #[test]
    fn mistakes_are_reported_at_their_attribute() {
        let (at, message) = error_at(json!({ "disk": DISK, "format": "vdi" }));
        assert_eq!(at.as_deref(), Some("format"));
        assert!(message.contains("unknown format 'vdi'"), "{message}");
        let (at, message) = error_at(json!({ "disk": DISK, "format": "vhd", "options": { "subformat": "sparse" } }));
        assert_eq!(at.as_deref(), Some("options.subformat"));
        assert!(message.contains("dynamic, fixed"), "{message}");
        let (at, message) = error_at(json!({ "disk": DISK, "format": "raw", "options": { "compress": true } }));
        assert_eq!(at.as_deref(), Some("options.compress"));
        assert!(message.contains("takes no options"), "{message}");
        let (at, _) = error_at(json!({ "disk": DISK, "format": "qcow2", "options": { "compress": "yes" } }));
        assert_eq!(at.as_deref(), Some("options.compress"));
        let (at, _) = error_at(json!({ "disk": "/tmp/disk.raw", "format": "qcow2" }));
        assert_eq!(at.as_deref(), Some("disk"));
        let (at, _) = error_at(json!({ "disk": DISK, "format": "qcow2", "size": 3 }));
        assert_eq!(at.as_deref(), Some("size"));
        let (at, message) = error_at(json!({ "disk": DISK }));
        assert_eq!(at, None);
        assert!(message.contains("needs 'format'"), "{message}");
    }

    #[test]
    fn fixed_vhds_round_up_to_a_mebibyte() {
        assert_eq!(Target::Vhd { fixed: true }.virtual_size(MIB + 512), 2 * MIB);
        assert_eq!(Target::Vhd { fixed: true }.virtual_size(4 * MIB), 4 * MIB);
        assert_eq!(Target::Vhd { fixed: false }.virtual_size(MIB + 512), MIB + 512);
    }

    #[test]
    fn image_names_are_safe() {
        assert_eq!(image_file_name("azure", "vhd"), "azure.vhd");
        assert_eq!(image_file_name("disk.vmdk", "vmdk"), "disk.vmdk");
        assert_eq!(image_file_name("my \"disk\"", "vmdk"), "disk.vmdk");
        assert_eq!(image_file_name("..", "raw"), "disk.raw");
    }

    #[test]
    fn uuids_have_version_and_variant() {
        let uuid = uuid_big_endian([0xff; 16]);
        assert_eq!((uuid[6], uuid[8]), (0x4f, 0xbf));
        let guid = guid_mixed_endian([0xff; 16]);
        assert_eq!((guid[7], guid[8]), (0x4f, 0xbf));
    }
}
