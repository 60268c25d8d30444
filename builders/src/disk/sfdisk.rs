//! Writing the partition table into the disk file with `sfdisk`.
//!
//! sfdisk reads a script on stdin and writes the table into the file: no
//! loop device, no kernel involvement (`--no-reread --no-tell-kernel`),
//! and nothing wiped (`--wipe never --wipe-partitions never`). Every start
//! and size is given in sectors, as [`layout`](super::layout) placed them,
//! and every identifier is given, so the table is the same on every run.

use super::layout::{Layout, SECTOR, Table};
use super::tools::Tools;
use crate::builder::BuildError;
use std::io::Write;
use std::path::Path;

/// The identifiers a table carries.
pub struct TableIds<'a> {
    /// The GPT disk GUID, or the MBR disk identifier (`0x…`).
    pub disk_id: &'a str,
    /// Each partition's GPT GUID (unused on MBR).
    pub part_uuids: &'a [String],
}

/// The sfdisk script for a layout.
pub fn script(layout: &Layout, ids: &TableIds<'_>) -> String {
    let mut text = String::new();
    match layout.table {
        Table::Gpt => text.push_str("label: gpt\n"),
        Table::Mbr => text.push_str("label: dos\n"),
    }
    text.push_str(&format!("label-id: {}\nunit: sectors\nsector-size: {SECTOR}\n\n", ids.disk_id));
    for (partition, uuid) in layout.partitions.iter().zip(ids.part_uuids) {
        let mut line =
            format!("start={}, size={}, type={}", partition.start / SECTOR, partition.len / SECTOR, partition.type_id);
        match layout.table {
            Table::Gpt => {
                line.push_str(&format!(", uuid={uuid}, name=\"{}\"", partition.label));
                if partition.options.bootable {
                    line.push_str(", attrs=\"LegacyBIOSBootable\"");
                }
            }
            Table::Mbr => {
                if partition.options.bootable {
                    line.push_str(", bootable");
                }
            }
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Writes the table of `layout` into `disk`.
pub fn write(
    tools: &Tools,
    log: &mut dyn Write,
    disk: &Path,
    layout: &Layout,
    ids: &TableIds<'_>,
) -> Result<(), BuildError> {
    let script = script(layout, ids);
    writeln!(log, "partition table:\n{}", script.trim_end()).ok();
    let mut command = tools.command("sfdisk")?;
    command.args(["--no-reread", "--no-tell-kernel", "--wipe", "never", "--wipe-partitions", "never", "-q"]).arg(disk);
    tools.run(log, "writing the partition table", &mut command, Some(script.as_bytes()))?;
    Ok(())
}
