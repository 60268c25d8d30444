//! The canonicalizer on whole disks: partition tables are read, each
//! partition's file system is recognised and handled or left alone.

mod support;

use imgx_builders::canonical::{CanonicalizeError, FileSystem, canonicalize_disk};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use support::{Scratch, open_rw, run, tool};

const EPOCH: i64 = 1_700_000_000;
const MIB: u64 = 1 << 20;

/// Makes a file system in a file of `mib` MiB with `make`, then copies it
/// into `disk` at `start_mib`.
fn splice(disk: &Path, start_mib: u64, mib: u64, make: &mut dyn FnMut(&Path)) {
    let part = disk.with_extension(format!("part{start_mib}"));
    File::create(&part).unwrap().set_len(mib * MIB).unwrap();
    make(&part);
    let bytes = std::fs::read(&part).unwrap();
    open_rw(disk).write_all_at(&bytes, start_mib * MIB).unwrap();
}

/// A 40 MiB disk with a table from an sfdisk script: ext4 (changed at
/// `when`), FAT16 (changed at `when`) and swap.
fn make_disk(dir: &Path, name: &str, label: &str, when: u64) -> PathBuf {
    let disk = dir.join(format!("{name}.img"));
    File::create(&disk).unwrap().set_len(40 * MIB).unwrap();
    let (esp, linux, swap) = if label == "gpt" {
        (
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
            "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
        )
    } else {
        ("c", "83", "82")
    };
    let (id, uuids) = if label == "gpt" {
        (
            "6E1E3B7A-6C0D-4C1F-9B0E-2E8C1B2A3D4F",
            [
                "11111111-0000-4000-8000-000000000001",
                "11111111-0000-4000-8000-000000000002",
                "11111111-0000-4000-8000-000000000003",
            ]
            .map(|u| format!(", uuid={u}")),
        )
    } else {
        ("0x12345678", [(); 3].map(|()| String::new()))
    };
    let script = format!(
        "label: {label}\nlabel-id: {id}\nstart=2048, size=20480, type={esp}{}\nstart=22528, size=40960, type={linux}{}\nstart=63488, size=8192, type={swap}{}\n",
        uuids[0], uuids[1], uuids[2]
    );
    let script_path = dir.join(format!("{name}.sfdisk"));
    std::fs::write(&script_path, script).unwrap();
    run(tool("sh").arg("-c").arg(format!("sfdisk -q {} < {}", disk.display(), script_path.display())), &[]);
    let data = dir.join("data");
    std::fs::write(&data, b"contents\n".repeat(100)).unwrap();
    splice(&disk, 1, 10, &mut |part| {
        run(tool("mkfs.vfat").args(["-F", "16", "-i", "12345678"]).arg(part), &[]);
        run(
            tool("mcopy")
                .env("MTOOLS_SKIP_CHECK", "1")
                .env("SOURCE_DATE_EPOCH", when.to_string())
                .args(["-i", part.to_str().unwrap()])
                .arg(&data)
                .arg("::/file"),
            &[],
        );
    });
    splice(&disk, 11, 20, &mut |part| {
        run(
            tool("mkfs.ext4")
                .env("E2FSPROGS_FAKE_TIME", "1600000000")
                .args(["-q", "-F", "-b", "4096", "-U", "0d8f5a2e-1c55-4b3e-9e1a-3c5d7f9b1a2c"])
                .args(["-E", "hash_seed=5e3b1c7a-9d24-4f6e-8a1b-2c3d4e5f6a7b,lazy_itable_init=0"])
                .arg(part),
            &[],
        );
        let script = part.with_extension("cmds");
        std::fs::write(&script, format!("write {} /file\nsif /file generation {when}\n", data.display())).unwrap();
        run(
            tool("debugfs").env("E2FSPROGS_FAKE_TIME", when.to_string()).arg("-w").arg("-f").arg(&script).arg(part),
            &[],
        );
    });
    splice(&disk, 31, 4, &mut |part| {
        run(tool("mkswap").args(["-U", "3b1c7a5e-9d24-4f6e-8a1b-2c3d4e5f6a7b"]).arg(part), &[]);
    });
    disk
}

#[test]
fn gpt_and_mbr_disks_have_each_partition_handled_by_its_file_system() {
    for label in ["gpt", "dos"] {
        let scratch = Scratch::new(&format!("disk-{label}"));
        let a = make_disk(&scratch.0, "a", label, 1_800_000_000);
        let b = make_disk(&scratch.0, "b", label, 1_900_000_000);
        assert!(std::fs::read(&a).unwrap() != std::fs::read(&b).unwrap());
        for disk in [&a, &b] {
            let done = canonicalize_disk(&open_rw(disk), EPOCH).unwrap();
            let found: Vec<_> =
                done.iter().map(|p| (p.number, p.range.start, p.file_system, p.summary.is_some())).collect();
            assert_eq!(
                found,
                [
                    (1, MIB, FileSystem::Fat, true),
                    (2, 11 * MIB, FileSystem::Ext4, true),
                    (3, 31 * MIB, FileSystem::Swap, false)
                ],
                "{label}"
            );
        }
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "{label}: the disks differ");
    }
}

#[test]
fn a_partition_past_the_end_of_the_image_is_reported() {
    let scratch = Scratch::new("disk-short");
    let disk = make_disk(&scratch.0, "short", "dos", 1_800_000_000);
    open_rw(&disk).set_len(30 * MIB).unwrap();
    match canonicalize_disk(&open_rw(&disk), EPOCH) {
        Err(CanonicalizeError::Malformed(message)) => assert!(message.contains("partition 2"), "{message}"),
        other => panic!("expected a malformed table, got {other:?}"),
    }
}
