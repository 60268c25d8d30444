//! The ext4 canonicalizer against file systems made and changed by
//! e2fsprogs: two images that differ only in times later than the epoch,
//! inode generations, stale bytes of deleted files and journal history
//! must become the same bytes, and stay valid for `e2fsck`.

mod support;

use imgx_builders::canonical::{CanonicalizeError, FileSystem, canonicalize_disk};
use std::fs::File;
use std::path::{Path, PathBuf};
use support::{Scratch, contains, open_rw, output, run, tool};

/// 2023-11-14 22:13:20 UTC.
const EPOCH: i64 = 1_700_000_000;
const EPOCH_HEX: &str = "0x6553f100:00000000";
/// 2020-01-01 00:00:00 UTC, earlier than the epoch.
const EARLIER_HEX: &str = "0x5e0be100";

fn debugfs(image: &Path, fake_time: u64, commands: &str) {
    let script = image.with_extension("cmds");
    std::fs::write(&script, commands).unwrap();
    let out = output(
        tool("debugfs").env("E2FSPROGS_FAKE_TIME", fake_time.to_string()).arg("-w").arg("-f").arg(&script).arg(image),
    );
    let errors: Vec<_> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("debugfs ") && !l.starts_with("Allocated inode"))
        .map(str::to_string)
        .collect();
    assert!(errors.is_empty(), "debugfs: {errors:?}");
}

fn stat(image: &Path, path: &str) -> String {
    run(tool("debugfs").arg("-R").arg(format!("stat {path}")).arg(image), &[])
}

/// What differs between two otherwise equal images.
struct Variant {
    name: &'static str,
    /// The clock of every change (later than the epoch).
    fake_time: u64,
    /// Base of the inode generations given out.
    generation: u32,
    /// The byte deleted files were filled with.
    stale: u8,
    /// How many transactions went through the journal.
    transactions: usize,
}

const A: Variant =
    Variant { name: "a", fake_time: 1_800_000_000, generation: 0x1234_5678, stale: b'A', transactions: 1 };
const B: Variant =
    Variant { name: "b", fake_time: 1_900_000_017, generation: 0x0BAD_CAFE, stale: b'B', transactions: 3 };

fn stale_bytes(variant: &Variant) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < 50_000 {
        bytes.extend_from_slice(b"STALE-");
        bytes.push(variant.stale);
    }
    bytes
}

/// A 32 MiB ext4 image: a directory with a file, a file with earlier
/// times, a hashed directory, a file with a two-level extent tree, and a
/// deleted file and directory, all with the variant's times and
/// generations; then journal transactions, replayed by e2fsck.
fn make_ext4(dir: &Path, variant: &Variant) -> PathBuf {
    let image = dir.join(format!("{}.img", variant.name));
    File::create(&image).unwrap().set_len(32 << 20).unwrap();
    run(
        tool("mkfs.ext4")
            .env("E2FSPROGS_FAKE_TIME", "1600000000")
            .args(["-q", "-F", "-b", "4096", "-I", "256", "-U", "0d8f5a2e-1c55-4b3e-9e1a-3c5d7f9b1a2c"])
            .args(["-E", "hash_seed=5e3b1c7a-9d24-4f6e-8a1b-2c3d4e5f6a7b,lazy_itable_init=0"])
            .args(["-O", "metadata_csum,64bit,extent,flex_bg,dir_index,has_journal"])
            .arg(&image),
        &[],
    );
    let data = dir.join("data");
    std::fs::write(&data, b"some contents\n".repeat(1000)).unwrap();
    let frag = dir.join("frag");
    std::fs::write(&frag, vec![7u8; 64 * 4096]).unwrap();
    let stale = dir.join(format!("stale-{}", variant.name));
    std::fs::write(&stale, stale_bytes(variant)).unwrap();
    let g = variant.generation;
    let mut cmds = String::new();
    cmds += &format!("mkdir /dir\nwrite {} /dir/file\nwrite {} /old\n", data.display(), data.display());
    for field in ["atime", "mtime", "ctime", "crtime"] {
        cmds += &format!("sif /old {field} 20200101000000\n");
    }
    cmds += &format!("sif /dir/file generation {g}\nsif /dir generation {}\nsif /old generation {}\n", g + 1, g + 2);
    cmds += "mkdir /big\n";
    for i in 0..150 {
        cmds += &format!("write {} /big/an-entry-with-a-rather-long-name-{i:03}\n", data.display());
    }
    cmds += &format!("write {} /frag\n", frag.display());
    for block in (1..48).step_by(2) {
        cmds += &format!("punch /frag {block} {block}\n");
    }
    cmds += &format!("sif /frag generation {}\n", g + 3);
    cmds += &format!("write {} /gone\nrm /gone\nmkdir /gonedir\nrmdir /gonedir\n", stale.display());
    debugfs(&image, variant.fake_time, &cmds);
    // Index /big (a hash tree), then give it a generation.
    run(tool("e2fsck").env("E2FSPROGS_FAKE_TIME", variant.fake_time.to_string()).arg("-fyD").arg(&image), &[1]);
    debugfs(&image, variant.fake_time, &format!("sif /big generation {}\n", g + 4));
    let mut journal = String::new();
    for _ in 0..variant.transactions {
        journal += &format!("jo -c\njw -b 7000,7001 {}\njc\n", stale.display());
    }
    debugfs(&image, variant.fake_time, &journal);
    run(tool("e2fsck").env("E2FSPROGS_FAKE_TIME", variant.fake_time.to_string()).arg("-fy").arg(&image), &[1]);
    image
}

#[test]
fn ext4_images_differing_in_times_generations_and_stale_data_become_identical() {
    let scratch = Scratch::new("ext4");
    let a = make_ext4(&scratch.0, &A);
    let b = make_ext4(&scratch.0, &B);
    let (before_a, before_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_ne!(before_a, before_b);
    assert!(contains(&before_a, b"STALE-A"), "the deleted file's data is still in the image");
    assert!(stat(&a, "/big").contains("Flags: 0x81000"), "/big is a hashed directory:\n{}", stat(&a, "/big"));
    assert!(stat(&a, "/frag").contains("(ETB0)"), "/frag has an extent block:\n{}", stat(&a, "/frag"));

    for image in [&a, &b] {
        let done = canonicalize_disk(&open_rw(image), EPOCH).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].number, done[0].file_system), (0, FileSystem::Ext4));
        let summary = done[0].summary.unwrap();
        assert!(summary.items_changed > 150 && summary.items_cleared >= 1, "{summary:?}");
        assert!(summary.blocks_rewritten >= 3 && summary.bytes_punched > 0, "{summary:?}");
        run(tool("e2fsck").arg("-fn").arg(image), &[]);
    }
    let (after_a, after_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(after_a == after_b, "the canonical images differ");
    assert!(!contains(&after_a, b"STALE-"), "stale data survived");

    let file = stat(&a, "/dir/file");
    for field in ["ctime", " atime", " mtime", "crtime"] {
        assert!(file.contains(&format!("{field}: {EPOCH_HEX}")), "{field} clamped:\n{file}");
    }
    assert!(file.contains("Generation: 0 "), "{file}");
    let old = stat(&a, "/old");
    for field in [" atime", " mtime", "crtime"] {
        assert!(old.contains(&format!("{field}: {EARLIER_HEX}")), "{field} kept:\n{old}");
    }
    let journal = run(tool("dumpe2fs").arg("-h").arg(&a), &[]);
    assert!(journal.contains("Journal sequence:         0x00000001"), "{journal}");
    assert!(journal.contains("Last write time:          Tue Nov 14 22:13:20 2023"), "{journal}");

    // A second pass finds nothing left to change.
    let again = canonicalize_disk(&open_rw(&a), EPOCH).unwrap();
    let summary = again[0].summary.unwrap();
    assert_eq!((summary.items_changed, summary.items_cleared, summary.blocks_rewritten), (0, 0, 0), "{summary:?}");
    assert!(std::fs::read(&a).unwrap() == after_a);
}

#[test]
fn an_ext4_journal_with_transactions_is_refused_and_left_unchanged() {
    let scratch = Scratch::new("ext4-dirty");
    let image = scratch.0.join("dirty.img");
    File::create(&image).unwrap().set_len(16 << 20).unwrap();
    run(tool("mkfs.ext4").args(["-q", "-F", "-b", "4096"]).arg(&image), &[]);
    let data = scratch.0.join("data");
    std::fs::write(&data, vec![1u8; 4096]).unwrap();
    debugfs(&image, 1_800_000_000, &format!("jo\njw -b 3000 {}\njc\n", data.display()));
    let before = std::fs::read(&image).unwrap();
    match canonicalize_disk(&open_rw(&image), EPOCH) {
        Err(CanonicalizeError::InPartition { number: 0, file_system: FileSystem::Ext4, error, .. }) => {
            assert!(matches!(*error, CanonicalizeError::JournalNotEmpty { start: 1, .. }), "{error}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(std::fs::read(&image).unwrap() == before, "a refused image was changed");
}

/// A small PRNG, so that the damage below is the same on every run.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn damaged_ext4_images_give_errors_not_panics() {
    let scratch = Scratch::new("ext4-damaged");
    let image = scratch.0.join("good.img");
    File::create(&image).unwrap().set_len(8 << 20).unwrap();
    run(tool("mkfs.ext4").args(["-q", "-F", "-b", "1024", "-E", "lazy_itable_init=0"]).arg(&image), &[]);
    let data = scratch.0.join("data");
    std::fs::write(&data, vec![3u8; 30_000]).unwrap();
    let mut cmds = String::from("mkdir /d\n");
    for i in 0..40 {
        cmds += &format!("write {} /d/file-{i}\nsif /d/file-{i} generation {}\n", data.display(), i + 1);
    }
    debugfs(&image, 1_800_000_000, &cmds);
    let good = std::fs::read(&image).unwrap();
    let damaged = scratch.0.join("damaged.img");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut refused = 0;
    for round in 0..150 {
        let mut bytes = good.clone();
        // Damage the metadata: superblock, group descriptors, bitmaps,
        // inode tables and the first directory blocks.
        for _ in 0..1 + round % 4 {
            // Every other round hits the superblock's geometry fields.
            let span = if round % 2 == 0 { 0x6C } else { 600 * 1024 };
            let base = if round % 2 == 0 { 1024 } else { 0 };
            let at = base + (xorshift(&mut state) % span) as usize;
            bytes[at] ^= (xorshift(&mut state) % 255 + 1) as u8;
        }
        std::fs::write(&damaged, &bytes).unwrap();
        if canonicalize_disk(&open_rw(&damaged), EPOCH).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 0, "no damage was noticed");
}
