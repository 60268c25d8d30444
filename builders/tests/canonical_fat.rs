//! The FAT canonicalizer against file systems made by mkfs.vfat and
//! changed by mtools at different times: directory-entry times later
//! than the epoch (deleted entries' too) and the stale clusters of deleted
//! files must not make two images differ.

mod support;

use imgx_builders::canonical::{FileSystem, canonicalize_disk};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Scratch, contains, open_rw, run, tool};

/// 2023-11-14 22:13:20 UTC.
const EPOCH: i64 = 1_700_000_000;

fn mtools(program: &str, when: u64) -> Command {
    let mut command = tool(program);
    command.env("MTOOLS_SKIP_CHECK", "1").env("SOURCE_DATE_EPOCH", when.to_string());
    command
}

/// A FAT image of `fat_bits` (12, 16, 32): a directory with a file, a
/// file with an earlier time, and a deleted file whose bytes name the
/// variant, all written at `when`.
fn make_fat(dir: &Path, name: &str, fat_bits: u32, when: u64) -> PathBuf {
    let image = dir.join(format!("{name}.img"));
    let size: u64 = match fat_bits {
        12 => 2 << 20,
        16 => 20 << 20,
        _ => 40 << 20,
    };
    File::create(&image).unwrap().set_len(size).unwrap();
    run(
        tool("mkfs.vfat")
            .env("SOURCE_DATE_EPOCH", "1600000000")
            .args(["-F", &fat_bits.to_string(), "-i", "12345678", "-n", "TEST"])
            .arg(&image),
        &[],
    );
    let i = image.to_str().unwrap();
    let data = dir.join("data");
    std::fs::write(&data, b"some contents\n".repeat(300)).unwrap();
    let old = dir.join("old");
    std::fs::write(&old, b"old\n").unwrap();
    run(tool("touch").args(["-d", "2020-01-01 00:00:00 UTC"]).arg(&old), &[]);
    let stale = dir.join(format!("stale-{name}"));
    std::fs::write(&stale, format!("STALE-{name}-").repeat(2000)).unwrap();
    run(mtools("mmd", when).args(["-i", i, "::/dir", "::/dir/sub"]), &[]);
    run(mtools("mcopy", when).args(["-i", i]).arg(&data).arg("::/dir/sub/file"), &[]);
    run(mtools("mcopy", when).args(["-m", "-i", i]).arg(&old).arg("::/old"), &[]);
    run(mtools("mcopy", when).args(["-i", i]).arg(&stale).arg("::/dir/gone"), &[]);
    run(mtools("mdel", when).args(["-i", i, "::/dir/gone"]), &[]);
    image
}

fn listing(image: &Path, path: &str) -> String {
    run(tool("mdir").env("MTOOLS_SKIP_CHECK", "1").args(["-i", image.to_str().unwrap(), path]), &[])
}

#[test]
fn fat_images_written_at_different_times_become_identical() {
    for bits in [12, 16, 32] {
        let scratch = Scratch::new(&format!("fat{bits}"));
        let a = make_fat(&scratch.0, "a", bits, 1_800_000_000);
        let b = make_fat(&scratch.0, "b", bits, 1_900_000_001);
        let (before_a, before_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert!(contains(&before_a, b"STALE-a-"), "FAT{bits}: the deleted file's bytes are in the image");
        assert_ne!(before_a, before_b);
        for image in [&a, &b] {
            let done = canonicalize_disk(&open_rw(image), EPOCH).unwrap();
            assert_eq!(done.len(), 1);
            assert_eq!(done[0].file_system, FileSystem::Fat, "FAT{bits}");
            let summary = done[0].summary.unwrap();
            assert!(summary.items_changed >= 6 && summary.bytes_punched > 0, "FAT{bits}: {summary:?}");
            run(tool("fsck.vfat").arg("-n").arg(image), &[]);
        }
        let (after_a, after_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert!(after_a == after_b, "FAT{bits}: the canonical images differ");
        assert!(!contains(&after_a, b"STALE-"), "FAT{bits}: stale data survived");
        let root = listing(&a, "::/");
        assert!(root.contains("2020-01-01   0:00"), "FAT{bits}: earlier time kept:\n{root}");
        assert!(root.contains("2023-11-14  22:13"), "FAT{bits}: later time clamped:\n{root}");
        let sub = listing(&a, "::/dir/sub");
        assert!(sub.contains("file") && sub.contains("2023-11-14  22:13"), "FAT{bits}:\n{sub}");
        assert!(!sub.contains("2027") && !sub.contains("2030"), "FAT{bits}:\n{sub}");
        let again = canonicalize_disk(&open_rw(&a), EPOCH).unwrap();
        assert_eq!(again[0].summary.unwrap().items_changed, 0, "FAT{bits}: a second pass changes nothing");
    }
}

#[test]
fn directory_loops_in_a_fat_are_reported() {
    let scratch = Scratch::new("fat-loop");
    let image = make_fat(&scratch.0, "loop", 16, 1_800_000_000);
    // Point /dir/sub's chain back at /dir's first cluster through its
    // entry in /dir: find the entry "SUB" and give it /dir's cluster.
    let mut bytes = std::fs::read(&image).unwrap();
    let dir_entry = bytes.windows(11).position(|w| w == b"DIR        ").expect("the entry of /dir");
    let dir_cluster = [bytes[dir_entry + 26], bytes[dir_entry + 27]];
    let sub_entry = bytes.windows(11).position(|w| w == b"SUB        ").expect("the entry of /dir/sub");
    bytes[sub_entry + 26..sub_entry + 28].copy_from_slice(&dir_cluster);
    std::fs::write(&image, &bytes).unwrap();
    let error = canonicalize_disk(&open_rw(&image), EPOCH).unwrap_err().to_string();
    assert!(error.contains("partition 0") && error.contains("cluster"), "{error}");
}
