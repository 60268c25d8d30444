//! The `convert` step kind through the real binary: every format and
//! subformat is valid by qemu-img's own tools, has the source's content,
//! stays sparse, and comes out byte for byte the same from two empty stores
//! at different times and umasks.

mod support;

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{Project, count_events, events, stderr};

const MIB: u64 = 1 << 20;

/// Whether qemu-img is installed; the tests say so and pass when it is not.
fn have_qemu_img() -> bool {
    let found = Command::new("qemu-img").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: qemu-img is not installed");
    }
    found
}

fn qemu_img(args: &[&str], dir: &Path) -> Output {
    Command::new("qemu-img").args(args).current_dir(dir).output().expect("qemu-img runs")
}

/// Bytes that neither compress to nothing nor repeat (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A sparse raw disk of `size` bytes with data at a few places: a boot
/// sector, text that compresses well, noise that does not, data straddling
/// a cluster boundary at an odd sector, and the last sector.
fn write_disk(path: &Path, size: u64) {
    let file = std::fs::File::create(path).expect("create disk");
    file.set_len(size).expect("size the disk");
    let text = "imgx converts this disk\n".repeat(4000);
    let writes: [(u64, Vec<u8>); 5] = [
        (0, noise(446, 1).into_iter().chain([0x55, 0xaa]).collect()),
        (MIB + 7 * 512, text.into_bytes()),
        (5 * MIB, noise(300_000, 2)),
        (17 * MIB - 3 * 512, noise(9 * 512, 3)),
        (size - 512, vec![0xee; 512]),
    ];
    for (offset, bytes) in writes {
        file.write_all_at(&bytes, offset).expect("write disk data");
    }
}

/// A conversion: the attribute (out-links follow attribute order), the
/// `builtins.step` arguments, qemu-img's name for the format, and the
/// virtual size expected for an input of `size` bytes.
struct Case {
    attr: &'static str,
    args: &'static str,
    format: &'static str,
    fixed_vhd: bool,
}

const CASES: [Case; 8] = [
    Case { attr: "a_raw", args: r#"format = "raw";"#, format: "raw", fixed_vhd: false },
    Case { attr: "b_qcow2", args: r#"format = "qcow2";"#, format: "qcow2", fixed_vhd: false },
    Case {
        attr: "c_qcow2_compressed",
        args: r#"format = "qcow2"; options.compress = true;"#,
        format: "qcow2",
        fixed_vhd: false,
    },
    Case { attr: "d_vmdk", args: r#"format = "vmdk";"#, format: "vmdk", fixed_vhd: false },
    Case {
        attr: "e_vmdk_stream",
        args: r#"format = "vmdk"; options.subformat = "streamOptimized";"#,
        format: "vmdk",
        fixed_vhd: false,
    },
    Case { attr: "f_vhd", args: r#"format = "vhd";"#, format: "vpc", fixed_vhd: false },
    Case {
        attr: "g_vhd_fixed",
        args: r#"format = "vhd"; options.subformat = "fixed";"#,
        format: "vpc",
        fixed_vhd: true,
    },
    Case { attr: "h_vhdx", args: r#"format = "vhdx";"#, format: "vhdx", fixed_vhd: false },
];

impl Case {
    fn virtual_size(&self, size: u64) -> u64 {
        if self.fixed_vhd { size.div_ceil(MIB) * MIB } else { size }
    }
}

/// An attribute set with one conversion of `./disk.raw` per case.
fn all_conversions() -> String {
    let mut text = String::from("{\n");
    for case in &CASES {
        text.push_str(&format!(
            "  {} = builtins.step {{ kind = \"convert\"; name = \"{}\"; disk = ./disk.raw; {} }};\n",
            case.attr, case.attr, case.args
        ));
    }
    text.push_str("}\n");
    text
}

/// The out-link of the `index`th target (0-based).
fn result(project: &Project, index: usize) -> PathBuf {
    project.dir.join(if index == 0 { "result".to_string() } else { format!("result-{}", index + 1) })
}

/// Runs `imgx build --json` under umask 077.
fn build_with_umask_077(project: &Project) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("umask 077 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_imgx"))
        .args(["build", "--json"])
        .current_dir(&project.dir)
        .env("IMGX_STORE", &project.store)
        .env("NO_COLOR", "1")
        .output()
        .expect("imgx runs")
}

/// qemu-img info, check and compare of one converted image.
fn assert_valid(project: &Project, case: &Case, image: &Path, input_size: u64) {
    let path = image.to_str().expect("utf-8");
    let info = qemu_img(&["info", "-f", case.format, "--output=json", path], &project.dir);
    assert!(info.status.success(), "{}: {}", case.attr, stderr(&info));
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("info is JSON");
    assert_eq!(info["format"], case.format, "{}", case.attr);
    assert_eq!(info["virtual-size"].as_u64(), Some(case.virtual_size(input_size)), "{}", case.attr);
    if case.fixed_vhd {
        assert_eq!(info["virtual-size"].as_u64().expect("size") % MIB, 0, "Azure: a whole number of MiB");
        let len = std::fs::metadata(image).expect("stat").len();
        assert_eq!(len, case.virtual_size(input_size) + 512, "a fixed VHD is its data and a footer");
    }
    if case.attr.starts_with("e_") {
        assert_eq!(info["format-specific"]["data"]["create-type"], "streamOptimized");
    }
    if !matches!(case.format, "raw" | "vpc") {
        let check = qemu_img(&["check", "-f", case.format, path], &project.dir);
        assert!(
            check.status.success(),
            "{}: qemu-img check: {}{}",
            case.attr,
            String::from_utf8_lossy(&check.stdout),
            stderr(&check)
        );
    }
    let compare = qemu_img(&["compare", "-f", "raw", "-F", case.format, "disk.raw", path], &project.dir);
    assert!(
        compare.status.success(),
        "{}: qemu-img compare: {}{}",
        case.attr,
        String::from_utf8_lossy(&compare.stdout),
        stderr(&compare)
    );
    assert!(String::from_utf8_lossy(&compare.stdout).contains("Images are identical"), "{}", case.attr);
}

fn blake3_of(path: &Path) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path).expect("open")).expect("read");
    hasher.finalize().to_hex().to_string()
}

#[test]
fn every_format_is_valid_identical_in_content_and_reproducible() {
    if !have_qemu_img() {
        return;
    }
    // A whole number of sectors, not of MiB: the fixed VHD is rounded up.
    let size = 64 * MIB + 3 * 512;
    let first = Project::new("convert-all-1");
    first.write("default.nix", &all_conversions());
    write_disk(&first.dir.join("disk.raw"), size);
    let (output, counts) = first.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), CASES.len(), "{counts:?}");
    for (index, case) in CASES.iter().enumerate() {
        assert_valid(&first, case, &result(&first, index), size);
    }

    // Another empty store, later, another umask, a freshly written input.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let second = Project::new("convert-all-2");
    second.write("default.nix", &all_conversions());
    write_disk(&second.dir.join("disk.raw"), size);
    let output = build_with_umask_077(&second);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&count_events(&output), "built"), CASES.len());
    let mut hashes = std::collections::BTreeSet::new();
    for (index, case) in CASES.iter().enumerate() {
        let (one, two) = (result(&first, index), result(&second, index));
        let object = |link: &Path| std::fs::read_link(link).expect("out-link").file_name().map(|n| n.to_owned());
        assert_eq!(object(&one), object(&two), "{}: the same store object in both stores", case.attr);
        assert_eq!(blake3_of(&one), blake3_of(&two), "{}: the same bytes", case.attr);
        assert_valid(&second, case, &two, size);
        hashes.insert(blake3_of(&one));
    }
    assert_eq!(hashes.len(), CASES.len(), "every format and subformat gives different bytes");
}

#[test]
fn vhd_footers_carry_the_source_date_and_a_key_derived_id() {
    if !have_qemu_img() {
        return;
    }
    let project = Project::new("convert-vhd-date");
    write_disk(&project.dir.join("disk.raw"), 8 * MIB);
    // 2000-01-01 + 1234 s; a second step differs only by name.
    project.write(
        "default.nix",
        r#"{
  a = builtins.step { kind = "convert"; name = "a"; disk = ./disk.raw; format = "vhd"; sourceDateEpoch = 946686034; };
  b = builtins.step { kind = "convert"; name = "b"; disk = ./disk.raw; format = "vhd"; sourceDateEpoch = 946686034; };
}
"#,
    );
    let output = project.imgx(&["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let footer = |link: &str| {
        let bytes = std::fs::read(project.dir.join(link)).expect("read vhd");
        bytes[bytes.len() - 512..].to_vec()
    };
    let (a, b) = (footer("result"), footer("result-2"));
    assert_eq!(&a[..8], b"conectix");
    assert_eq!(u32::from_be_bytes(a[24..28].try_into().expect("4 bytes")), 1234, "seconds since 2000");
    assert_ne!(a[68..84], b[68..84], "each step has its own unique id");
    assert_eq!(a[68 + 6] >> 4, 4, "a version 4 UUID");
}

#[test]
fn a_sparse_4_gib_disk_stays_small_in_every_format() {
    if !have_qemu_img() {
        return;
    }
    let size = 4096 * MIB;
    let project = Project::new("convert-sparse");
    project.write("default.nix", &all_conversions());
    write_disk(&project.dir.join("disk.raw"), size);
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), CASES.len(), "{counts:?}");
    for (index, case) in CASES.iter().enumerate() {
        let meta = std::fs::metadata(result(&project, index)).expect("stat");
        let allocated = meta.blocks() * 512;
        assert!(allocated < 16 * MIB, "{}: {allocated} bytes allocated for about 0.6 MiB of data", case.attr);
        if matches!(case.format, "raw" | "vpc") && (case.format == "raw" || case.fixed_vhd) {
            assert!(meta.len() >= size, "{}: apparent size {}", case.attr, meta.len());
        }
    }
    // Content, for the two formats whose holes are the point.
    for index in [0, 6] {
        assert_valid(&project, &CASES[index], &result(&project, index), size);
    }
}

#[test]
fn a_step_output_converts_and_mistakes_point_at_the_description() {
    if !have_qemu_img() {
        return;
    }
    let project = Project::new("convert-chain");
    write_disk(&project.dir.join("disk.raw"), 4 * MIB);
    project.write(
        "default.nix",
        r#"let raw = builtins.step { kind = "convert"; name = "raw"; disk = ./disk.raw; format = "raw"; };
in builtins.step { kind = "convert"; name = "disk"; disk = raw; format = "qcow2"; options.compress = true; }
"#,
    );
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 2, "{counts:?}");
    let compare = qemu_img(&["compare", "-f", "raw", "-F", "qcow2", "disk.raw", "result"], &project.dir);
    assert!(compare.status.success(), "{}", String::from_utf8_lossy(&compare.stdout));

    for (text, expected) in [
        (r#"format = "vdi";"#, "unknown format 'vdi'"),
        (
            r#"format = "vhd";
  options.subformat = "sparse";"#,
            "unknown vhd subformat 'sparse' (known: dynamic, fixed)",
        ),
        (
            r#"format = "raw";
  options.compress = true;"#,
            "format 'raw' has no option 'compress'",
        ),
        (
            r#"format = "vmdk";
  options.subformat = "monolithicFlat";"#,
            "unknown vmdk subformat 'monolithicFlat'",
        ),
    ] {
        project.write(
            "default.nix",
            &format!("builtins.step {{ kind = \"convert\"; name = \"x\"; disk = ./disk.raw;\n  {text} }}\n"),
        );
        let output = project.imgx(&["build"]);
        assert_eq!(output.status.code(), Some(1), "rejected at evaluation: {}", stderr(&output));
        let report = stderr(&output);
        assert!(report.contains(expected), "{report}");
        let line = if text.contains('\n') { 3 } else { 2 };
        assert!(report.contains(&format!("default.nix:{line}:")), "points at the attribute: {report}");
    }

    // An image file rather than a raw disk: not converted as raw bytes.
    std::fs::copy(project.dir.join("result"), project.dir.join("disk.qcow2")).expect("copy the qcow2 image");
    project.write("default.nix", "builtins.step { kind = \"convert\"; disk = ./disk.qcow2; format = \"vhd\"; }\n");
    let output = project.imgx(&["build", "--no-out-link"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("'disk' is a qcow2 image, not a raw one"), "{}", stderr(&output));

    // Not a disk image: the step fails with the reason, nothing is linked.
    project.write("odd.bin", "not a whole sector");
    project.write("default.nix", "builtins.step { kind = \"convert\"; disk = ./odd.bin; format = \"qcow2\"; }\n");
    std::fs::remove_file(project.dir.join("result")).expect("remove out-link");
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("whole number of 512-byte sectors"), "{}", stderr(&output));
    assert!(!project.dir.join("result").exists());
}
