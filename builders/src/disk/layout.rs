//! The parameters of a `disk` step: parsing, validation and the placement
//! of partitions.
//!
//! Everything that can be known without building the contents is checked
//! here, at evaluation time, and every error names the attribute it is
//! about (`partitions[1].size`), so the evaluator points at the place where
//! it is written. The builder parses the same parameters again at build
//! time, so the layout it writes is exactly the one that was validated.
//!
//! # Sizes
//!
//! A size is an integer (bytes) or a string: digits, an optional fraction
//! and an optional unit, with optional spaces before the unit. Units are
//! case-insensitive and follow util-linux: `K`, `M`, `G`, `T` and `KiB`,
//! `MiB`, `GiB`, `TiB` are powers of 1024; `KB`, `MB`, `GB`, `TB` are powers
//! of 1000; `B` or no unit is bytes. `"512M"`, `"2G"`, `"100MiB"`,
//! `"1.5G"` and `1073741824` are sizes; the result must be a whole number
//! of 512-byte sectors.
//!
//! # Placement
//!
//! Partitions are laid out in the order they are listed. Each starts at
//! the next 1 MiB boundary (the first at 1 MiB) and is exactly as large as
//! its `size`; `size = "rest"` (last partition only) takes what is left up
//! to the end of the usable space (before the backup GPT), rounded down to
//! a whole MiB.

use crate::builder::ParamError;
use serde_json::Value;

/// Bytes in a sector: the unit of partition tables.
pub const SECTOR: u64 = 512;
/// Partitions start on 1 MiB boundaries.
pub const ALIGN: u64 = 1 << 20;
/// Sectors at the end of a GPT disk taken by the backup table and header.
const GPT_BACKUP_SECTORS: u64 = 33;

/// The partition table format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// A GUID partition table (with a protective MBR).
    Gpt,
    /// A classic MBR ("dos") table, at most four primary partitions.
    Mbr,
}

/// What a partition is formatted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fs {
    /// ext4, populated with `mkfs.ext4 -d` and fixed up with `debugfs`.
    Ext4,
    /// FAT (12, 16 or 32), populated with mtools.
    Vfat,
    /// XFS, populated from a protofile.
    Xfs,
    /// A swap area.
    Swap,
    /// Left empty (holes).
    None,
}

impl Fs {
    /// The name used in parameters and in `/etc/fstab`.
    pub fn name(self) -> &'static str {
        match self {
            Fs::Ext4 => "ext4",
            Fs::Vfat => "vfat",
            Fs::Xfs => "xfs",
            Fs::Swap => "swap",
            Fs::None => "none",
        }
    }

    /// The longest label (in bytes) the file system stores.
    fn label_limit(self) -> Option<usize> {
        match self {
            Fs::Ext4 | Fs::Swap => Some(16),
            Fs::Xfs => Some(12),
            Fs::Vfat => Some(11),
            Fs::None => None,
        }
    }

    /// The smallest partition the file system can be made in, in bytes.
    fn minimum(self) -> u64 {
        match self {
            Fs::Ext4 | Fs::Vfat => 1 << 20,
            // xfsprogs 6.1 refuses file systems smaller than 300 MiB.
            Fs::Xfs => 300 << 20,
            // mkswap needs ten pages.
            Fs::Swap => 40 << 10,
            Fs::None => SECTOR,
        }
    }
}

/// A partition's size as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartSize {
    /// This many bytes.
    Bytes(u64),
    /// The rest of the disk.
    Rest,
}

/// Per-partition `options`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartOptions {
    /// `partUuid`: the GPT partition GUID.
    pub part_uuid: Option<String>,
    /// `uuid`: the file system's UUID (a vfat volume id as `XXXX-XXXX`).
    pub uuid: Option<String>,
    /// `fsLabel`: the file-system label, if not the partition label.
    pub fs_label: Option<String>,
    /// `mountOptions`: the fstab options (default `defaults`).
    pub mount_options: Option<String>,
    /// `hashSeed`: ext4's directory hash seed.
    pub hash_seed: Option<String>,
    /// `fatSize`: 12, 16 or 32.
    pub fat_size: Option<u8>,
    /// `bootable`: the MBR active flag, or GPT's legacy-BIOS-bootable bit.
    pub bootable: bool,
}

/// One partition, validated and placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Its position in `partitions` (0-based).
    pub index: usize,
    /// `label`: the GPT partition name and the default file-system label.
    pub label: String,
    /// `type` as written.
    pub type_name: String,
    /// The type for sfdisk: a GUID (GPT) or a hex byte (MBR).
    pub type_id: String,
    /// The size as written.
    pub size: PartSize,
    /// The file system.
    pub fs: Fs,
    /// `contents`: the placeholder of a directory object.
    pub contents: Option<String>,
    /// `mount`: where the partition is mounted (`swap` for swap areas).
    pub mount: Option<String>,
    /// `options`.
    pub options: PartOptions,
    /// The first byte of the partition on the disk.
    pub start: u64,
    /// Its length in bytes.
    pub len: u64,
}

impl Partition {
    /// How the partition is named in messages: `partition 2 ("root")`.
    pub fn describe(&self) -> String {
        format!("partition {} (\"{}\")", self.index + 1, self.label)
    }

    /// The file-system label: `options.fsLabel`, else the partition label.
    pub fn fs_label(&self) -> &str {
        self.options.fs_label.as_deref().unwrap_or(&self.label)
    }
}

/// A whole disk, validated and placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The disk's size in bytes.
    pub size: u64,
    /// The partition table format.
    pub table: Table,
    /// `options.diskId`: the GPT disk GUID or the MBR disk identifier.
    pub disk_id: Option<String>,
    /// The partitions, in order.
    pub partitions: Vec<Partition>,
}

/// The partition types known by name: (name, GPT type GUID, MBR type).
const TYPES: &[(&str, &str, Option<&str>)] = &[
    ("esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", Some("ef")),
    ("linux", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", Some("83")),
    ("linux-root-x86-64", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", Some("83")),
    ("swap", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", Some("82")),
    ("bios-boot", "21686148-6449-6E6F-744E-656564454649", None),
    ("xbootldr", "BC13C2FF-59E6-4262-A352-B275FD6F7172", Some("ea")),
];

const TOP_LEVEL: &[&str] = &["size", "table", "partitions", "options", "sourceDateEpoch"];
const PARTITION_KEYS: &[&str] = &["label", "type", "size", "fs", "contents", "mount", "options"];
/// The latest time every file system the disk step writes can record:
/// ext4's 34-bit seconds end in 2446 (XFS's big timestamps go further).
const MAX_SOURCE_DATE_EPOCH: i64 = 0x3_7FFF_FFFF;

const OPTION_KEYS: &[&str] = &["partUuid", "uuid", "fsLabel", "mountOptions", "hashSeed", "fatSize", "bootable"];

/// Parses a size (see the [module documentation](self)).
pub fn parse_size(value: &Value) -> Result<u64, String> {
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(bytes) if bytes > 0 => Ok(bytes),
            _ => Err(format!("size {n} is not a positive whole number of bytes")),
        },
        Value::String(text) => parse_size_text(text),
        other => Err(format!("a size must be an integer (bytes) or a string like \"512M\", not {}", json_kind(other))),
    }
}

fn parse_size_text(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "'{text}' is not a size: write bytes as an integer, or a number with a unit: \
             K/M/G/T or KiB/MiB/GiB/TiB (powers of 1024), KB/MB/GB/TB (powers of 1000)"
        )
    };
    let trimmed = text.trim();
    let number_end = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_end);
    let unit = unit.trim_start().to_ascii_lowercase();
    let multiplier: u128 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || fraction.contains('.') || fraction.len() > 12 {
        return Err(bad());
    }
    let whole: u128 = whole.parse().map_err(|_| bad())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction_value: u128 = if fraction.is_empty() { 0 } else { fraction.parse().map_err(|_| bad())? };
    let too_large = || format!("'{text}' is too large");
    let total = whole
        .checked_mul(scale)
        .and_then(|v| v.checked_add(fraction_value))
        .and_then(|v| v.checked_mul(multiplier))
        .ok_or_else(too_large)?;
    if total % scale != 0 {
        return Err(format!("'{text}' is not a whole number of bytes"));
    }
    let bytes = u64::try_from(total / scale).map_err(|_| too_large())?;
    if bytes == 0 {
        return Err(format!("size '{text}' is zero"));
    }
    Ok(bytes)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a Boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a set",
    }
}

/// Whether `text` is a GUID: 8-4-4-4-12 hexadecimal digits.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses a vfat volume id, `XXXX-XXXX` or eight hex digits.
pub fn parse_volume_id(text: &str) -> Option<u32> {
    let digits: String = text.chars().filter(|&c| c != '-').collect();
    let dash_ok = !text.contains('-') || (text.len() == 9 && text.as_bytes()[4] == b'-');
    if digits.len() != 8 || !dash_ok {
        return None;
    }
    u32::from_str_radix(&digits, 16).ok()
}

fn parse_mbr_type(text: &str) -> Option<String> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if hex.is_empty() || hex.len() > 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let value = u8::from_str_radix(hex, 16).ok()?;
    (value != 0).then(|| format!("{value:02x}"))
}

fn check_mount(mount: &str) -> Result<(), String> {
    if !mount.starts_with('/') {
        return Err(format!("mount point '{mount}' must be an absolute path"));
    }
    if mount.len() > 1 && mount.ends_with('/') {
        return Err(format!("mount point '{mount}' must not end with '/'"));
    }
    if mount.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
        return Err(format!("mount point '{mount}' may not contain spaces, backslashes or control characters"));
    }
    if mount.len() > 1 && mount[1..].split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(format!("mount point '{mount}' must be a normal path (no '//', '.' or '..')"));
    }
    Ok(())
}

fn string_at<'a>(value: &'a Value, at: &str, what: &str) -> Result<&'a str, ParamError> {
    value.as_str().ok_or_else(|| ParamError::at(at, format!("{what} must be a string, not {}", json_kind(value))))
}

fn parse_options(value: &Value, at: &str, table: Table, fs: Fs) -> Result<PartOptions, ParamError> {
    let map = value
        .as_object()
        .ok_or_else(|| ParamError::at(at, format!("'options' must be a set, not {}", json_kind(value))))?;
    let mut options = PartOptions::default();
    for (key, value) in map {
        let here = format!("{at}.{key}");
        let text = || string_at(value, &here, &format!("'options.{key}'"));
        match key.as_str() {
            "partUuid" => {
                let guid = text()?;
                if table != Table::Gpt {
                    return Err(ParamError::at(
                        &here,
                        "'partUuid' is for GPT disks; an MBR partition's id derives from the disk id",
                    ));
                }
                if !is_guid(guid) {
                    return Err(ParamError::at(&here, format!("'{guid}' is not a GUID (8-4-4-4-12 hex digits)")));
                }
                options.part_uuid = Some(guid.to_ascii_lowercase());
            }
            "uuid" => {
                let uuid = text()?;
                match fs {
                    Fs::Vfat if parse_volume_id(uuid).is_none() => {
                        return Err(ParamError::at(
                            &here,
                            format!("'{uuid}' is not a vfat volume id (XXXX-XXXX, hex)"),
                        ));
                    }
                    Fs::Ext4 | Fs::Xfs | Fs::Swap if !is_guid(uuid) => {
                        return Err(ParamError::at(&here, format!("'{uuid}' is not a UUID (8-4-4-4-12 hex digits)")));
                    }
                    Fs::None => {
                        return Err(ParamError::at(&here, "a partition with fs = \"none\" has no file-system UUID"));
                    }
                    _ => {}
                }
                options.uuid = Some(uuid.to_ascii_lowercase());
            }
            "fsLabel" => options.fs_label = Some(text()?.to_string()),
            "mountOptions" => {
                let mount_options = text()?;
                if mount_options.is_empty() || mount_options.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ParamError::at(
                        &here,
                        "'mountOptions' must be non-empty, without spaces (\"defaults,noatime\")",
                    ));
                }
                options.mount_options = Some(mount_options.to_string());
            }
            "hashSeed" => {
                let seed = text()?;
                if fs != Fs::Ext4 {
                    return Err(ParamError::at(&here, "'hashSeed' is for ext4 partitions"));
                }
                if !is_guid(seed) {
                    return Err(ParamError::at(&here, format!("'{seed}' is not a UUID (8-4-4-4-12 hex digits)")));
                }
                options.hash_seed = Some(seed.to_ascii_lowercase());
            }
            "fatSize" => {
                if fs != Fs::Vfat {
                    return Err(ParamError::at(&here, "'fatSize' is for vfat partitions"));
                }
                match value.as_u64() {
                    Some(size @ (12 | 16 | 32)) => options.fat_size = Some(size as u8),
                    _ => return Err(ParamError::at(&here, "'fatSize' must be 12, 16 or 32")),
                }
            }
            "bootable" => {
                options.bootable =
                    value.as_bool().ok_or_else(|| ParamError::at(&here, "'bootable' must be a Boolean"))?;
            }
            _ => {
                return Err(ParamError::at(
                    &here,
                    format!("unknown partition option '{key}' (known: {})", OPTION_KEYS.join(", ")),
                ));
            }
        }
    }
    Ok(options)
}

fn parse_partition(value: &Value, index: usize, table: Table) -> Result<Partition, ParamError> {
    let at = format!("partitions[{index}]");
    let map = value.as_object().ok_or_else(|| {
        ParamError::at(
            &at,
            format!("a partition must be a set {{ label; type; size; fs; … }}, not {}", json_kind(value)),
        )
    })?;
    for key in map.keys() {
        if !PARTITION_KEYS.contains(&key.as_str()) {
            return Err(ParamError::at(
                format!("{at}.{key}"),
                format!("unknown partition attribute '{key}' (known: {})", PARTITION_KEYS.join(", ")),
            ));
        }
    }
    let required =
        |key: &str| map.get(key).ok_or_else(|| ParamError::at(&at, format!("partition {} has no '{key}'", index + 1)));
    let label = string_at(required("label")?, &format!("{at}.label"), "'label'")?.to_string();
    if label.chars().any(|c| c.is_control() || c == '"') {
        return Err(ParamError::at(format!("{at}.label"), "a label may not contain '\"' or control characters"));
    }
    if label.encode_utf16().count() > 36 {
        return Err(ParamError::at(
            format!("{at}.label"),
            format!("label '{label}' is longer than GPT's 36 characters"),
        ));
    }
    let fs_at = format!("{at}.fs");
    let fs = match string_at(required("fs")?, &fs_at, "'fs'")? {
        "ext4" => Fs::Ext4,
        "vfat" | "fat" | "fat32" => Fs::Vfat,
        "xfs" => Fs::Xfs,
        "swap" => Fs::Swap,
        "none" => Fs::None,
        "btrfs" => {
            return Err(ParamError::at(
                fs_at,
                "btrfs is not supported: mkfs.btrfs (btrfs-progs 6.2) writes random device and chunk-tree \
                 UUIDs and the host's clock, and with --rootdir the files belong to the user running imgx, \
                 so the image could be neither reproducible nor root-owned; use ext4 or xfs",
            ));
        }
        other => {
            return Err(ParamError::at(
                fs_at,
                format!("unknown file system '{other}' (known: ext4, vfat, xfs, swap, none)"),
            ));
        }
    };
    let type_at = format!("{at}.type");
    let type_name = string_at(required("type")?, &type_at, "'type'")?.to_string();
    let named = TYPES.iter().find(|(name, _, _)| *name == type_name);
    let type_id = match (table, named) {
        (Table::Gpt, Some((_, guid, _))) => guid.to_string(),
        (Table::Mbr, Some((_, _, Some(id)))) => id.to_string(),
        (Table::Mbr, Some((name, _, None))) => {
            return Err(ParamError::at(
                type_at,
                format!(
                    "type '{name}' exists only on GPT disks (on MBR, GRUB uses the gap before the first partition)"
                ),
            ));
        }
        (Table::Gpt, None) if is_guid(&type_name) => type_name.to_ascii_uppercase(),
        (Table::Mbr, None) if parse_mbr_type(&type_name).is_some() => parse_mbr_type(&type_name).unwrap_or_default(),
        (_, None) => {
            let names: Vec<&str> = TYPES.iter().map(|(name, _, _)| *name).collect();
            let or = if table == Table::Gpt { "a type GUID" } else { "an MBR type in hex (\"0x83\")" };
            return Err(ParamError::at(
                type_at,
                format!("unknown partition type '{type_name}' (known: {}, or {or})", names.join(", ")),
            ));
        }
    };
    let size_at = format!("{at}.size");
    let size = match required("size")? {
        Value::String(text) if text == "rest" => PartSize::Rest,
        other => PartSize::Bytes(parse_size(other).map_err(|message| ParamError::at(&size_at, message))?),
    };
    if let PartSize::Bytes(bytes) = size {
        if bytes % SECTOR != 0 {
            return Err(ParamError::at(size_at, format!("size {bytes} is not a whole number of 512-byte sectors")));
        }
        if bytes < fs.minimum() {
            return Err(ParamError::at(
                size_at,
                format!("{} needs at least {}, but the partition has {}", fs.name(), human(fs.minimum()), human(bytes)),
            ));
        }
    }
    let options = match map.get("options") {
        Some(value) => parse_options(value, &format!("{at}.options"), table, fs)?,
        None => PartOptions::default(),
    };
    let contents = match map.get("contents") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let here = format!("{at}.contents");
            let text = string_at(value, &here, "'contents'")?;
            split_contents(text).map_err(|message| ParamError::at(&here, message))?;
            if matches!(fs, Fs::None | Fs::Swap) {
                return Err(ParamError::at(
                    here,
                    format!("a partition with fs = \"{}\" cannot hold contents", fs.name()),
                ));
            }
            Some(text.to_string())
        }
    };
    let mount = match map.get("mount") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let here = format!("{at}.mount");
            let mount = string_at(value, &here, "'mount'")?;
            match fs {
                Fs::None => return Err(ParamError::at(here, "a partition with fs = \"none\" cannot be mounted")),
                Fs::Swap if mount != "swap" => {
                    return Err(ParamError::at(here, "a swap partition's mount is \"swap\" (listed in /etc/fstab)"));
                }
                Fs::Swap => {}
                _ => check_mount(mount).map_err(|message| ParamError::at(&here, message))?,
            }
            Some(mount.to_string())
        }
    };
    let partition =
        Partition { index, label, type_name, type_id, size, fs, contents, mount, options, start: 0, len: 0 };
    if let Some(limit) = fs.label_limit() {
        let fs_label = partition.fs_label();
        let label_at =
            if partition.options.fs_label.is_some() { format!("{at}.options.fsLabel") } else { format!("{at}.label") };
        if fs_label.len() > limit {
            return Err(ParamError::at(
                label_at,
                format!(
                    "label '{fs_label}' is longer than the {limit} bytes a {} label holds; \
                     set options.fsLabel to a shorter one",
                    fs.name()
                ),
            ));
        }
        if fs == Fs::Vfat && !fs_label.bytes().all(|b| (0x20..0x7f).contains(&b) && !b"\"*+,./:;<=>?[\\]|".contains(&b))
        {
            return Err(ParamError::at(
                label_at,
                format!(
                    "'{fs_label}' cannot be a vfat label (ASCII letters, digits, spaces and -_!#$%&'()@^`{{}}~ only)"
                ),
            ));
        }
    }
    Ok(partition)
}

/// Splits `contents` into the placeholder of its input and a path inside
/// it: `"${step}"` or `"${step}/usr/share"` (a directory inside a step's
/// output, such as one layer of an unpacked archive).
pub fn split_contents(text: &str) -> Result<(&str, &str), String> {
    let not_input = || "'contents' must be a directory: a step's output, a path, or a directory inside one".to_string();
    crate::step::InputRef::parse_placeholder(text).ok_or_else(not_input)?;
    let prefix = [crate::step::STEP_PLACEHOLDER, crate::step::OBJECT_PLACEHOLDER]
        .iter()
        .find(|p| text.starts_with(*p))
        .ok_or_else(not_input)?;
    let (placeholder, inside) = text.split_at(prefix.len() + 64);
    if !inside.is_empty() {
        let relative = inside.strip_prefix('/').ok_or_else(not_input)?;
        if relative.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(format!("'contents' names '{inside}' inside its input, which is not a normal relative path"));
        }
    }
    Ok((placeholder, inside.trim_start_matches('/')))
}

/// Sizes for messages: `100 MiB`, `1.5 GiB`, `4096 bytes`.
pub fn human(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, scale) in UNITS {
        if bytes >= scale {
            if bytes.is_multiple_of(scale) {
                return format!("{} {unit}", bytes / scale);
            }
            // Truncated, so that a size just under a limit never reads as the limit.
            let hundredths = (u128::from(bytes) * 100 / u128::from(scale)) as u64;
            return format!("{}.{:02} {unit}", hundredths / 100, hundredths % 100);
        }
    }
    format!("{bytes} bytes")
}

fn align_up(value: u64, to: u64) -> u64 {
    value.div_ceil(to) * to
}

/// Parses and validates a `disk` step's parameters, and places the
/// partitions.
pub fn parse(params: &Value) -> Result<Layout, ParamError> {
    let map = params.as_object().ok_or("a disk's parameters must be a set")?;
    for key in map.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            return Err(ParamError::at(
                key.clone(),
                format!("unknown parameter '{key}' (a disk takes {})", TOP_LEVEL.join(", ")),
            ));
        }
    }
    let size = parse_size(map.get("size").ok_or("a disk needs a 'size' (\"4G\", or bytes)")?)
        .map_err(|message| ParamError::at("size", message))?;
    if size % SECTOR != 0 {
        return Err(ParamError::at("size", format!("disk size {size} is not a whole number of 512-byte sectors")));
    }
    let table = match map.get("table").ok_or("a disk needs a 'table', \"gpt\" or \"mbr\"")? {
        Value::String(t) if t == "gpt" => Table::Gpt,
        Value::String(t) if t == "mbr" => Table::Mbr,
        other => {
            return Err(ParamError::at("table", format!("'table' must be \"gpt\" or \"mbr\", not {other}")));
        }
    };
    if let Some(epoch) = map.get("sourceDateEpoch")
        && epoch.as_i64().is_none_or(|e| !(0..=MAX_SOURCE_DATE_EPOCH).contains(&e))
    {
        return Err(ParamError::at(
            "sourceDateEpoch",
            format!(
                "'sourceDateEpoch' must be a whole number of seconds from 0 to {MAX_SOURCE_DATE_EPOCH} (the year 2446, ext4's last)"
            ),
        ));
    }
    let mut disk_id = None;
    if let Some(options) = map.get("options") {
        let options = options.as_object().ok_or_else(|| ParamError::at("options", "'options' must be a set"))?;
        for (key, value) in options {
            let at = format!("options.{key}");
            match key.as_str() {
                "diskId" => {
                    let id = string_at(value, &at, "'options.diskId'")?;
                    let valid = match table {
                        Table::Gpt => is_guid(id),
                        Table::Mbr => {
                            let hex = id.strip_prefix("0x").unwrap_or(id);
                            hex.len() <= 8 && u32::from_str_radix(hex, 16).is_ok_and(|v| v != 0)
                        }
                    };
                    if !valid {
                        let want = if table == Table::Gpt {
                            "a GUID"
                        } else {
                            "a non-zero 32-bit hex number (\"0x1234abcd\")"
                        };
                        return Err(ParamError::at(at, format!("'{id}' is not {want}")));
                    }
                    disk_id = Some(id.to_ascii_lowercase());
                }
                _ => return Err(ParamError::at(at, format!("unknown disk option '{key}' (known: diskId)"))),
            }
        }
    }
    let list = map
        .get("partitions")
        .ok_or("a disk needs 'partitions', a list of { label; type; size; fs; … }")?
        .as_array()
        .ok_or_else(|| ParamError::at("partitions", "'partitions' must be a list"))?;
    if table == Table::Mbr && list.len() > 4 {
        return Err(ParamError::at(
            "partitions[4]",
            format!(
                "an MBR disk holds at most 4 (primary) partitions, and {} are listed; use table = \"gpt\"",
                list.len()
            ),
        ));
    }
    if table == Table::Gpt && list.len() > 128 {
        return Err(ParamError::at("partitions[128]", "a GPT disk holds at most 128 partitions"));
    }
    let total_sectors = size / SECTOR;
    if table == Table::Mbr && total_sectors > u64::from(u32::MAX) {
        return Err(ParamError::at("size", "an MBR disk can address at most 2 TiB; use table = \"gpt\""));
    }
    let usable_end = match table {
        Table::Gpt => total_sectors.saturating_sub(GPT_BACKUP_SECTORS + 1) * SECTOR,
        Table::Mbr => size,
    };
    let mut partitions = Vec::with_capacity(list.len());
    let mut next = ALIGN;
    let mut seen_root_type: Option<usize> = None;
    let mut mounts: Vec<(String, usize)> = Vec::new();
    let mut first_mount: Option<(String, usize)> = None;
    for (index, value) in list.iter().enumerate() {
        let mut partition = parse_partition(value, index, table)?;
        let at = format!("partitions[{index}]");
        if partition.type_name == "linux-root-x86-64" {
            if let Some(first) = seen_root_type {
                return Err(ParamError::at(
                    format!("{at}.type"),
                    format!(
                        "partitions {} and {} both have type linux-root-x86-64; a disk has one root",
                        first + 1,
                        index + 1
                    ),
                ));
            }
            seen_root_type = Some(index);
        }
        if let Some(mount) = &partition.mount
            && first_mount.is_none()
        {
            first_mount = Some((mount.clone(), index));
        }
        if let Some(mount) = &partition.mount
            && mount != "swap"
        {
            if let Some((_, first)) = mounts.iter().find(|(m, _)| m == mount) {
                return Err(ParamError::at(
                    format!("{at}.mount"),
                    format!("partitions {} and {} are both mounted at {mount}", first + 1, index + 1),
                ));
            }
            mounts.push((mount.clone(), index));
        }
        if partition.size == PartSize::Rest && index + 1 != list.len() {
            return Err(ParamError::at(format!("{at}.size"), "only the last partition can take size = \"rest\""));
        }
        let start = align_up(next, ALIGN);
        let len = match partition.size {
            PartSize::Bytes(bytes) => bytes,
            PartSize::Rest => {
                let room = usable_end.saturating_sub(start) / ALIGN * ALIGN;
                if room < partition.fs.minimum().max(ALIGN) {
                    return Err(ParamError::at(
                        format!("{at}.size"),
                        format!(
                            "no room is left for {} (it would start at {} of a {} disk); make the disk larger",
                            partition.describe(),
                            human(start),
                            human(size)
                        ),
                    ));
                }
                room
            }
        };
        let end = start.saturating_add(len);
        if end > usable_end {
            let tail = if table == Table::Gpt { " (the last 33 sectors hold the backup GPT)" } else { "" };
            return Err(ParamError::at(
                format!("{at}.size"),
                format!(
                    "{} does not fit: it would end at {}, but the disk's usable space ends at {}{tail}",
                    partition.describe(),
                    human(end),
                    human(usable_end)
                ),
            ));
        }
        partition.start = start;
        partition.len = len;
        next = end;
        partitions.push(partition);
    }
    if let Some((mount, index)) = first_mount
        && !mounts.iter().any(|(m, _)| m == "/")
    {
        let what =
            if mount == "swap" { "a swap area to list".to_string() } else { format!("{mount} is a mount point") };
        return Err(ParamError::at(
            format!("partitions[{index}].mount"),
            format!("{what}, but no partition is mounted at / to hold the /etc/fstab that lists it"),
        ));
    }
    Ok(Layout { size, table, disk_id, partitions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLACEHOLDER: &str = "/imgx/objects/0000000000000000000000000000000000000000000000000000000000000000";

    fn disk(partitions: Value) -> Value {
        json!({ "size": "1G", "table": "gpt", "partitions": partitions })
    }

    fn error_at(params: Value) -> (String, String) {
        let error = parse(&params).expect_err("must be rejected");
        (error.at.unwrap_or_default(), error.message)
    }

    #[test]
    fn sizes_parse_in_both_unit_systems() {
        assert_eq!(parse_size(&json!(4096)), Ok(4096));
        assert_eq!(parse_size(&json!("512M")), Ok(512 << 20));
        assert_eq!(parse_size(&json!("100MiB")), Ok(100 << 20));
        assert_eq!(parse_size(&json!("2G")), Ok(2 << 30));
        assert_eq!(parse_size(&json!("2 gib")), Ok(2 << 30));
        assert_eq!(parse_size(&json!("1.5G")), Ok(3 << 29));
        assert_eq!(parse_size(&json!("1MB")), Ok(1_000_000));
        assert_eq!(parse_size(&json!("4096")), Ok(4096));
        assert!(parse_size(&json!("0.1K")).unwrap_err().contains("whole number"));
        assert!(parse_size(&json!("12Q")).is_err());
        assert!(parse_size(&json!("")).is_err());
        assert!(parse_size(&json!("1.2.3M")).is_err());
        assert!(parse_size(&json!(-1)).is_err());
        assert!(parse_size(&json!(0)).is_err());
        assert!(parse_size(&json!("99999999999T")).is_err());
    }

    #[test]
    fn partitions_are_aligned_and_rest_fills_the_disk() {
        let layout = parse(&disk(json!([
            { "label": "ESP", "type": "esp", "size": "100M", "fs": "vfat", "mount": "/boot" },
            { "label": "odd", "type": "linux", "size": 1536, "fs": "none" },
            { "label": "root", "type": "linux-root-x86-64", "size": "rest", "fs": "ext4", "mount": "/" },
        ])))
        .expect("valid");
        let p = &layout.partitions;
        assert_eq!((p[0].start, p[0].len), (1 << 20, 100 << 20));
        assert_eq!(p[1].start, 101 << 20);
        assert_eq!(p[2].start, 102 << 20);
        // 1 GiB minus the backup GPT, rounded down to a MiB.
        assert_eq!(p[2].start + p[2].len, 1023 << 20);
        assert_eq!(p[0].type_id, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    }

    #[test]
    fn invalid_layouts_name_the_attribute() {
        let (at, message) = error_at(disk(json!([
            { "label": "a", "type": "linux", "size": "600M", "fs": "ext4" },
            { "label": "b", "type": "linux", "size": "600M", "fs": "ext4" },
        ])));
        assert_eq!(at, "partitions[1].size");
        assert!(message.contains("does not fit"), "{message}");

        let (at, _) = error_at(disk(json!([
            { "label": "a", "type": "linux", "size": "rest", "fs": "ext4" },
            { "label": "b", "type": "linux", "size": "10M", "fs": "ext4" },
        ])));
        assert_eq!(at, "partitions[0].size");

        let (at, message) = error_at(disk(json!([
            { "label": "a", "type": "linux-root-x86-64", "size": "10M", "fs": "ext4" },
            { "label": "b", "type": "linux-root-x86-64", "size": "10M", "fs": "ext4" },
        ])));
        assert_eq!(at, "partitions[1].type");
        assert!(message.contains("one root"), "{message}");

        let (at, _) = error_at(disk(json!([
            { "label": "a", "type": "linux", "size": "10M", "fs": "ext4", "mount": "/" },
            { "label": "b", "type": "linux", "size": "10M", "fs": "ext4", "mount": "/" },
        ])));
        assert_eq!(at, "partitions[1].mount");

        let (at, _) = error_at(disk(json!([{ "label": "a", "type": "linux-rot", "size": "10M", "fs": "ext4" }])));
        assert_eq!(at, "partitions[0].type");
        let (at, _) = error_at(disk(json!([{ "label": "a", "type": "linux", "size": "10M", "fs": "ext5" }])));
        assert_eq!(at, "partitions[0].fs");
        let (at, _) = error_at(disk(json!([{ "label": "a", "type": "linux", "size": "10M", "fs": "btrfs" }])));
        assert_eq!(at, "partitions[0].fs");
        let (at, _) = error_at(disk(
            json!([{ "label": "a", "type": "swap", "size": "10M", "fs": "swap", "contents": PLACEHOLDER }]),
        ));
        assert_eq!(at, "partitions[0].contents");
        let (at, _) = error_at(disk(
            json!([{ "label": "a", "type": "linux", "size": "10M", "fs": "none", "contents": PLACEHOLDER }]),
        ));
        assert_eq!(at, "partitions[0].contents");
        let (at, _) = error_at(disk(json!([{ "label": "a", "type": "linux", "size": "ten", "fs": "ext4" }])));
        assert_eq!(at, "partitions[0].size");
        let (at, _) = error_at(disk(json!([{ "label": "a", "type": "linux", "size": "10M", "fs": "xfs" }])));
        assert_eq!(at, "partitions[0].size");
        let (at, _) =
            error_at(disk(json!([{ "label": "a", "type": "linux", "size": "10M", "fs": "ext4", "contents": "/etc" }])));
        assert_eq!(at, "partitions[0].contents");
        let (at, _) =
            error_at(disk(json!([{ "label": "a", "type": "linux", "size": "10M", "fs": "ext4", "mount": "/boot" }])));
        assert_eq!(at, "partitions[0].mount");
        let (at, _) = error_at(disk(json!([
            { "label": "EFI System Partition", "type": "esp", "size": "10M", "fs": "vfat" }
        ])));
        assert_eq!(at, "partitions[0].label");
        let (at, _) = error_at(disk(
            json!([{ "label": "a", "type": "linux", "size": "10M", "fs": "ext4", "options": { "fatSize": 32 } }]),
        ));
        assert_eq!(at, "partitions[0].options.fatSize");
        let (at, _) = error_at(json!({ "size": "1G", "table": "gpt", "partitions": [], "colour": "red" }));
        assert_eq!(at, "colour");
        let (at, _) = error_at(json!({ "size": 1000, "table": "gpt", "partitions": [] }));
        assert_eq!(at, "size");
        let (at, _) =
            error_at(json!({ "size": "1G", "table": "gpt", "partitions": [], "sourceDateEpoch": 99_999_999_999_i64 }));
        assert_eq!(at, "sourceDateEpoch", "a date no file system records, which would overflow");
        assert!(parse_size(&json!("99999999999999999999999999999.5G")).is_err(), "no overflow on huge sizes");
    }

    #[test]
    fn contents_may_name_a_directory_inside_an_input() {
        let step = format!("/imgx/steps/{}", "ab".repeat(32));
        assert_eq!(split_contents(&step), Ok((step.as_str(), "")));
        let inside = format!("{step}/usr/share");
        assert_eq!(split_contents(&inside), Ok((step.as_str(), "usr/share")));
        assert!(split_contents(&format!("{step}/../x")).is_err());
        assert!(split_contents(&format!("{step}x")).is_err());
        assert!(split_contents("/etc").is_err());
    }

    #[test]
    fn mbr_has_its_own_rules() {
        let mbr = |partitions: Value| json!({ "size": "1G", "table": "mbr", "partitions": partitions });
        let layout = parse(&mbr(json!([
            { "label": "boot", "type": "0x0c", "size": "100M", "fs": "vfat" },
            { "label": "root", "type": "linux", "size": "rest", "fs": "ext4" },
        ])))
        .expect("valid");
        assert_eq!(layout.partitions[0].type_id, "0c");
        assert_eq!(layout.partitions[1].start + layout.partitions[1].len, 1 << 30);
        let (at, _) = error_at(mbr(json!([{ "label": "b", "type": "bios-boot", "size": "1M", "fs": "none" }])));
        assert_eq!(at, "partitions[0].type");
        let five: Vec<Value> =
            (0..5).map(|i| json!({ "label": format!("p{i}"), "type": "linux", "size": "10M", "fs": "none" })).collect();
        let (at, _) = error_at(mbr(Value::Array(five)));
        assert_eq!(at, "partitions[4]");
    }
}
