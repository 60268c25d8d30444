//! `disk { size; table; partitions; options ?; sourceDateEpoch ?; }`: a
//! partitioned, formatted and filled raw disk image, written without root
//! and without loop devices, the same bytes on every build.
//!
//! ```nix
//! builtins.step {
//!   kind = "disk"; name = "vm";
//!   size = "4G"; table = "gpt";            # or "mbr"
//!   partitions = [
//!     { label = "ESP"; type = "esp"; size = "100M"; fs = "vfat"; contents = esp; mount = "/boot/efi";
//!       options.mountOptions = "umask=0077"; }
//!     { label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = rootfs; mount = "/"; }
//!   ];
//! }
//! ```
//!
//! * **Sizes** are bytes or strings (`"512M"`, `"2G"`, `"100MiB"`, `"1.5G"`,
//!   `"1GB"` = 10⁹): see [`layout`]. Partitions start on 1 MiB boundaries;
//!   the last may take `size = "rest"`.
//! * **Types**: `esp`, `linux`, `linux-root-x86-64`, `swap`, `bios-boot`
//!   (GPT only), `xbootldr`, or a type GUID (GPT) / hex id like `"0x0c"` (MBR).
//! * **File systems**: `ext4` ([`ext4`]), `vfat` ([`vfat`]), `xfs` ([`xfs`],
//!   at least 300 MiB), `swap`, `none`. btrfs is refused: mkfs.btrfs 6.2
//!   can neither pin its UUIDs and times nor give `--rootdir` files to root.
//! * **`contents`**: a directory object (a `directory` step, an unpacked
//!   `fetch`, a path). Ownership, modes, extended attributes, special files
//!   and hard links come from its `.imgx-attributes` ([`attributes`]);
//!   everything else is root's.
//! * **`mount`**: a mount point (`"swap"` for a swap area). The partition
//!   mounted at `/` gets a generated `/etc/fstab` listing every mount by
//!   file-system UUID (it replaces one from the contents).
//! * **`options`** (per partition): `uuid` (file system; `XXXX-XXXX` for
//!   vfat), `partUuid` (GPT), `fsLabel` (default: `label`), `mountOptions`
//!   (default `defaults`, `sw` for swap), `hashSeed` (ext4), `fatSize`
//!   (12/16/32; an ESP of 64 MiB or more defaults to 32), `bootable` (MBR
//!   active flag / GPT legacy-BIOS-bootable). Disk-wide: `options.diskId`.
//!
//! Every identifier not given is derived from the step's key
//! ([`BuildContext::derived`]): the disk GUID (or MBR id), partition GUIDs,
//! file-system UUIDs, ext4 hash seeds, vfat volume ids. Every timestamp is
//! the step's source date. The tools run with a pinned environment
//! ([`tools`]).
//!
//! # How the image is written
//!
//! The output file is created as one hole of the disk's size. `sfdisk`
//! writes the table into it ([`sfdisk`]). ext4 is made in place with
//! `mkfs.ext4 -E offset=`; vfat, XFS and swap are made in a sparse file of
//! the partition's size and copied in at their offset, data blocks only
//! ([`sparse`]). Nothing is mounted; the result stays sparse.

pub mod attributes;
pub mod ext4;
pub mod inodes;
pub mod layout;
pub mod sfdisk;
pub mod sparse;
pub mod tools;
pub mod vfat;
pub mod xfs;

use crate::builder::{BuildContext, BuildError, Builder, ParamError};
use attributes::Tree;
use layout::{Fs, Layout, Partition, Table};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use tools::Tools;

/// Builds partitioned, formatted disk images.
pub struct DiskBuilder;

/// A UUID (RFC 4122 version 4 layout) from derived bytes, lowercase.
fn uuid_from(bytes: &[u8; 32]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// A vfat volume id as blkid and fstab spell it: `ABCD-1234`.
fn volume_id_text(id: u32) -> String {
    format!("{:04X}-{:04X}", id >> 16, id & 0xffff)
}

/// The identifiers of one partition's file system.
struct FsIds {
    /// The UUID (`ABCD-1234` for vfat), as fstab uses it; empty for none.
    uuid: String,
    /// ext4's hash seed.
    hash_seed: String,
    /// vfat's volume id.
    volume_id: u32,
}

fn fs_ids(ctx: &BuildContext<'_>, partition: &Partition) -> FsIds {
    let n = partition.index + 1;
    let derived_u32 = |purpose: &str| {
        let bytes = ctx.derived(purpose);
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    };
    let volume_id = match partition.options.uuid.as_deref().and_then(layout::parse_volume_id) {
        Some(id) => id,
        None => derived_u32(&format!("partition {n} vfat volume id")),
    };
    let uuid = match partition.fs {
        Fs::Vfat => volume_id_text(volume_id),
        Fs::None => String::new(),
        _ => partition
            .options
            .uuid
            .clone()
            .unwrap_or_else(|| uuid_from(&ctx.derived(&format!("partition {n} file-system uuid")))),
    };
    let hash_seed = partition
        .options
        .hash_seed
        .clone()
        .unwrap_or_else(|| uuid_from(&ctx.derived(&format!("partition {n} ext4 hash seed"))));
    FsIds { uuid, hash_seed, volume_id }
}

/// The generated `/etc/fstab`, if any partition has a mount point.
fn fstab(layout: &Layout, ids: &[FsIds]) -> Option<String> {
    let mut lines: Vec<(String, String)> = Vec::new();
    for (partition, ids) in layout.partitions.iter().zip(ids) {
        let Some(mount) = &partition.mount else { continue };
        let line = if partition.fs == Fs::Swap {
            let options = partition.options.mount_options.as_deref().unwrap_or("sw");
            format!("UUID={} none swap {options} 0 0", ids.uuid)
        } else {
            let options = partition.options.mount_options.as_deref().unwrap_or("defaults");
            let pass = match (partition.fs, mount.as_str()) {
                (Fs::Xfs, _) => 0,
                (_, "/") => 1,
                _ => 2,
            };
            format!("UUID={} {mount} {} {options} 0 {pass}", ids.uuid, partition.fs.name())
        };
        // Mount points in path order (a parent before its children), swap last.
        let key = if partition.fs == Fs::Swap { format!("\u{10ffff}{}", partition.index) } else { mount.clone() };
        lines.push((key, line));
    }
    if lines.is_empty() {
        return None;
    }
    lines.sort();
    let mut text = String::from("# Generated by imgx from the disk's partitions.\n");
    text.push_str("# <file system> <mount point> <type> <options> <dump> <pass>\n");
    for (_, line) in lines {
        text.push_str(&line);
        text.push('\n');
    }
    Some(text)
}

fn swap(
    tools: &Tools,
    log: &mut dyn Write,
    work: &Path,
    disk: &File,
    partition: &Partition,
    uuid: &str,
) -> Result<(), BuildError> {
    let what = partition.describe();
    let image = work.join(format!("part-{}.swap", partition.index + 1));
    let file = File::create(&image).map_err(|e| BuildError::io("creating", &image, e))?;
    file.set_len(partition.len).map_err(|e| BuildError::io("sizing", &image, e))?;
    drop(file);
    let mut mkswap = tools.command("mkswap")?;
    mkswap.args(["-q", "-U", uuid]);
    if !partition.fs_label().is_empty() {
        mkswap.arg("-L").arg(partition.fs_label());
    }
    mkswap.arg(&image);
    tools.run(log, &what, &mut mkswap, None)?;
    let source = File::open(&image).map_err(|e| BuildError::io("reading", &image, e))?;
    sparse::copy_into(&source, disk, partition.start)
        .map_err(|e| BuildError::io("copying into the disk", &image, e))?;
    std::fs::remove_file(&image).map_err(|e| BuildError::io("removing", &image, e))
}

impl Builder for DiskBuilder {
    fn kind(&self) -> &'static str {
        "disk"
    }

    fn version(&self) -> &'static str {
        "disk-1"
    }

    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        layout::parse(params).map(|_| ())
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError> {
        let layout = layout::parse(&ctx.step.params).map_err(|error| match error.at {
            Some(at) => BuildError::InvalidParams(format!("{at}: {}", error.message)),
            None => BuildError::InvalidParams(error.message),
        })?;
        let epoch = ctx.source_date_epoch();
        let work = ctx.work.clone();
        std::fs::create_dir_all(&work).map_err(|e| BuildError::io("creating", &work, e))?;
        let tools = Tools::new(&work, epoch)?;

        writeln!(ctx.log, "identifiers not given are derived from key {}", ctx.key.to_hex()).ok();
        let disk_id = layout.disk_id.clone().unwrap_or_else(|| match layout.table {
            Table::Gpt => uuid_from(&ctx.derived("disk guid")),
            Table::Mbr => {
                let bytes = ctx.derived("disk mbr id");
                format!("0x{:08x}", u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]).max(1))
            }
        });
        let part_uuids: Vec<String> = layout
            .partitions
            .iter()
            .map(|p| {
                p.options
                    .part_uuid
                    .clone()
                    .unwrap_or_else(|| uuid_from(&ctx.derived(&format!("partition {} guid", p.index + 1))))
            })
            .collect();
        let ids: Vec<FsIds> = layout.partitions.iter().map(|p| fs_ids(ctx, p)).collect();
        let mut contents = Vec::with_capacity(layout.partitions.len());
        for partition in &layout.partitions {
            contents.push(match &partition.contents {
                Some(text) => {
                    let (placeholder, inside) = layout::split_contents(text).map_err(BuildError::InvalidParams)?;
                    let base = ctx.input_path(placeholder)?;
                    Some(if inside.is_empty() { base.to_path_buf() } else { base.join(inside) })
                }
                None => None,
            });
        }

        let out = ctx.out.clone();
        let disk = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&out)
            .map_err(|e| BuildError::io("creating", &out, e))?;
        disk.set_len(layout.size).map_err(|e| BuildError::io("sizing", &out, e))?;
        writeln!(
            ctx.log,
            "disk: {} ({} bytes), {:?}, id {disk_id}",
            layout::human(layout.size),
            layout.size,
            layout.table
        )
        .ok();
        sfdisk::write(
            &tools,
            ctx.log,
            &out,
            &layout,
            &sfdisk::TableIds { disk_id: &disk_id, part_uuids: &part_uuids },
        )?;

        let fstab = fstab(&layout, &ids);
        // The partitions are independent (disjoint ranges of the disk), so
        // they are made at once, each logging into its own buffer.
        let results: Vec<(Vec<u8>, Result<(), BuildError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = layout
                .partitions
                .iter()
                .zip(&ids)
                .zip(&contents)
                .map(|((partition, ids), root)| {
                    let (tools, work, out, disk, fstab) = (&tools, &work, &out, &disk, &fstab);
                    scope.spawn(move || {
                        let mut log = Vec::new();
                        let part = Partitioned { tools, work, out, disk, epoch };
                        let result = part.make(&mut log, partition, ids, root.as_deref(), fstab.as_deref());
                        (log, result)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        (Vec::new(), Err(BuildError::Failed("a partition's thread panicked".into())))
                    })
                })
                .collect()
        });
        let mut first_error = None;
        for (log, result) in results {
            ctx.log.write_all(&log).ok();
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// What every partition's maker shares.
struct Partitioned<'a> {
    tools: &'a Tools,
    work: &'a Path,
    out: &'a Path,
    disk: &'a File,
    epoch: i64,
}

impl Partitioned<'_> {
    /// Makes one partition's file system, with its contents and, for the
    /// root, the generated fstab.
    fn make(
        &self,
        log: &mut dyn Write,
        partition: &Partition,
        ids: &FsIds,
        root: Option<&Path>,
        fstab: Option<&str>,
    ) -> Result<(), BuildError> {
        let what = partition.describe();
        writeln!(
            log,
            "{what}: {} at {} ({}), fs {} {}",
            partition.type_name,
            partition.start,
            layout::human(partition.len),
            partition.fs.name(),
            ids.uuid
        )
        .ok();
        if partition.fs == Fs::None {
            return Ok(());
        }
        let work = self.work.join(format!("partition-{}", partition.index + 1));
        std::fs::create_dir_all(&work).map_err(|e| BuildError::io("creating", &work, e))?;
        let read_tree = |log: &mut dyn Write| self.read_tree(log, partition, &work, root, fstab);
        let (tools, disk, epoch) = (self.tools, self.disk, self.epoch);
        match partition.fs {
            Fs::Ext4 => {
                let ext4_ids = ext4::Ext4Ids { uuid: &ids.uuid, hash_seed: &ids.hash_seed };
                let tree = ext4::Contents { root, read: &read_tree };
                ext4::make(tools, log, &work, self.out, disk, partition, &ext4_ids, tree, epoch)
            }
            Fs::Vfat => {
                let is_esp = partition.type_name == "esp";
                let tree = read_tree(log)?;
                vfat::make(tools, log, &work, disk, partition, ids.volume_id, &tree, is_esp)
            }
            Fs::Xfs => {
                let tree = read_tree(log)?;
                xfs::make(tools, log, &work, disk, partition, &ids.uuid, &tree, epoch)
            }
            Fs::Swap => swap(tools, log, &work, disk, partition, &ids.uuid),
            Fs::None => Ok(()),
        }
    }

    /// Reads the partition's contents (`root`, or nothing) and adds the
    /// generated fstab to the root file system's.
    fn read_tree(
        &self,
        log: &mut dyn Write,
        partition: &Partition,
        work: &Path,
        root: Option<&Path>,
        fstab: Option<&str>,
    ) -> Result<Tree, BuildError> {
        let what = partition.describe();
        let started = std::time::Instant::now();
        let mut tree = match root {
            Some(root) => Tree::read(root).map_err(|e| BuildError::Failed(format!("{what}: {e}")))?,
            None => Tree::empty(),
        };
        if root.is_some() {
            let (bytes, count) = tree.usage(4096);
            let seconds = started.elapsed().as_secs_f64();
            writeln!(log, "{what}: contents: {count} entries, {} ({seconds:.2} s to read)", layout::human(bytes)).ok();
        }
        if partition.mount.as_deref() == Some("/")
            && let Some(text) = fstab
        {
            let path = work.join("fstab");
            std::fs::write(&path, text).map_err(|e| BuildError::io("writing", &path, e))?;
            tree.add_file("etc/fstab", &path, text.len() as u64)
                .map_err(|e| BuildError::Failed(format!("{what}: {e}")))?;
            writeln!(log, "{what}: /etc/fstab:\n{}", text.trim_end()).ok();
        }
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_well_formed() {
        let uuid = uuid_from(&[0xab; 32]);
        assert_eq!(uuid, "abababab-abab-4bab-abab-abababababab");
        assert!(layout::is_guid(&uuid));
        assert_eq!(volume_id_text(0x1234_abcd), "1234-ABCD");
    }

    #[test]
    fn fstab_lists_mounts_in_path_order_with_swap_last() {
        let layout = layout::parse(&serde_json::json!({
            "size": "2G", "table": "gpt", "partitions": [
                { "label": "swap", "type": "swap", "size": "64M", "fs": "swap", "mount": "swap" },
                { "label": "ESP", "type": "esp", "size": "100M", "fs": "vfat", "mount": "/boot/efi",
                  "options": { "mountOptions": "umask=0077" } },
                { "label": "data", "type": "linux", "size": "400M", "fs": "xfs", "mount": "/srv" },
                { "label": "root", "type": "linux-root-x86-64", "size": "rest", "fs": "ext4", "mount": "/" },
            ]
        }))
        .expect("valid");
        let ids: Vec<FsIds> = ["S", "E", "X", "R"]
            .iter()
            .map(|u| FsIds { uuid: u.to_string(), hash_seed: String::new(), volume_id: 0 })
            .collect();
        let text = fstab(&layout, &ids).expect("fstab");
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "UUID=R / ext4 defaults 0 1",
                "UUID=E /boot/efi vfat umask=0077 0 2",
                "UUID=X /srv xfs defaults 0 0",
                "UUID=S none swap sw 0 0",
            ]
        );
    }
}
