//! The bundled library (`import <imgx>`): each function builds what it
//! documents, with the defaults it documents.

mod support;

use support::{Project, count_events, events, stderr};

fn sha256_sri(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    format!("sha256-{}", base64(&digest))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn file_and_directory() {
    let project = Project::new("stdlib-file-dir");
    project.write(
        "default.nix",
        r##"let imgx = import <imgx>; in
imgx.directory { name = "tree"; entries = {
  "bin/hello" = imgx.file { name = "hello"; text = "#!/bin/sh\necho hi\n"; executable = true; };
  "etc/motd" = imgx.file { name = "motd"; source = ./motd; };
}; }
"##,
    );
    project.write("motd", "welcome\n");
    let output = project.imgx(&["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let result = project.dir.join("result");
    assert_eq!(std::fs::read_to_string(result.join("etc/motd")).expect("motd"), "welcome\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(result.join("bin/hello")).expect("hello").permissions().mode();
    assert_ne!(mode & 0o100, 0, "executable = true gives an executable file");
}

#[test]
fn fetch_names_itself_after_its_source_and_convert_after_its_disk() {
    let project = Project::new("stdlib-fetch-convert");
    let disk: Vec<u8> = (0..(1024 * 1024)).map(|i| (i % 251) as u8).collect();
    std::fs::write(project.dir.join("base.raw"), &disk).expect("disk");
    project.write(
        "default.nix",
        &format!(
            r#"let imgx = import <imgx>; base = imgx.fetch {{ path = ./base.raw; hash = "{}"; }}; in
{{ inherit base; image = imgx.convert {{ disk = base; format = "qcow2"; }}; }}
"#,
            sha256_sri(&disk)
        ),
    );
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 2, "{counts:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(r#""name":"base.raw""#), "fetch is named after its path: {text}");
    assert!(text.contains(r#""name":"base.raw.qcow2""#), "convert is named after its disk: {text}");
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(project.dir.join("result-2"))
        .output()
        .expect("qemu-img runs");
    assert!(String::from_utf8_lossy(&info.stdout).contains(r#""format": "qcow2""#));
    let again = project.build_events(&[]);
    assert_eq!(events(&count_events(&again.0), "built"), 0);

    // The time a VHD is stamped with can be chosen, as for a disk.
    let vhd = |epoch: &str| {
        project.write(
            "default.nix",
            &format!(
                r#"(import <imgx>).convert {{ disk = ./base.raw; format = "vhd"; {epoch} }}
"#
            ),
        );
        let (output, _) = project.build_events(&[]);
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::read(project.dir.join("result")).expect("the vhd")
    };
    let (default, later) = (vhd(""), vhd("sourceDateEpoch = 1700000000;"));
    assert_eq!(default.len(), later.len());
    assert_ne!(default, later, "sourceDateEpoch reaches the convert step");
}

#[test]
fn wrong_arguments_are_reported_at_the_call() {
    let project = Project::new("stdlib-wrong");
    project.write("default.nix", "(import <imgx>).file { name = \"x\"; txt = \"a\"; }\n");
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(1));
    let report = stderr(&output);
    assert!(report.contains("called with unexpected argument 'txt'"), "{report}");
    assert!(report.contains("did you mean 'text'?"), "{report}");
    assert!(report.contains("default.nix"), "{report}");
}

/// Runs a tool that must succeed; returns its standard output.
fn tool(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{program} {args:?} fails:\n{text}{}", String::from_utf8_lossy(&output.stderr));
    text
}

/// Copies partition `index` (as `sfdisk -J` lists it) out of `disk`.
fn partition(disk: &std::path::Path, table: &serde_json::Value, index: usize, to: &std::path::Path) -> String {
    let part = &table["partitions"][index];
    let (start, size) = (part["start"].as_u64().expect("start"), part["size"].as_u64().expect("size"));
    let (input, output) = (format!("if={}", disk.display()), format!("of={}", to.display()));
    tool(
        "dd",
        &[&input, &output, "bs=512", &format!("skip={start}"), &format!("count={size}"), "conv=sparse", "status=none"],
    );
    tool("truncate", &["-s", &(size * 512).to_string(), to.to_str().expect("utf-8")]);
    to.to_str().expect("utf-8").to_string()
}

#[test]
fn disk_lays_out_formats_and_fills_partitions() {
    let project = Project::new("stdlib-disk");
    project.write("root/etc/motd", "built by imgx\n");
    project.write("root/usr/bin/hello", "#!/bin/sh\necho hello\n");
    project.write(
        "default.nix",
        r#"let imgx = import <imgx>;
  esp = imgx.directory { name = "esp"; entries."EFI/BOOT/BOOTX64.EFI" = imgx.file { name = "boot"; text = "efi\n"; }; };
in
imgx.disk {
  size = "64M"; table = "gpt";
  partitions = [
    { label = "ESP"; type = "esp"; size = "16M"; fs = "vfat"; contents = esp; mount = "/boot/efi"; }
    { label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = ./root; mount = "/"; }
  ];
}
"#,
    );
    let output = project.imgx(&["build", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(r#""kind":"disk","name":"disk""#), "the disk is named \"disk\" by default: {text}");
    let disk = project.dir.join("result");
    assert_eq!(std::fs::metadata(&disk).expect("result").len(), 64 << 20);

    let json = tool("sfdisk", &["-J", disk.to_str().expect("utf-8")]);
    let table =
        serde_json::from_str::<serde_json::Value>(&json).expect("sfdisk -J prints JSON")["partitiontable"].clone();
    assert_eq!(table["label"], "gpt");
    let names: Vec<&str> =
        table["partitions"].as_array().expect("list").iter().map(|p| p["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["ESP", "root"]);
    assert_eq!(table["partitions"][0]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_eq!(
        (table["partitions"][0]["start"].as_u64(), table["partitions"][0]["size"].as_u64()),
        (Some(2048), Some(32768))
    );
    assert_eq!(table["partitions"][1]["start"], 34816, "the root follows on the next MiB");

    let esp = partition(&disk, &table, 0, &project.dir.join("esp.img"));
    tool("fsck.vfat", &["-n", &esp]);
    assert_eq!(tool("mtype", &["-i", &esp, "::/EFI/BOOT/BOOTX64.EFI"]), "efi\n");

    let root = partition(&disk, &table, 1, &project.dir.join("root.img"));
    tool("e2fsck", &["-fn", &root]);
    assert_eq!(tool("debugfs", &["-R", "cat /etc/motd", &root]).lines().last(), Some("built by imgx"));
    let hello = tool("debugfs", &["-R", "stat /usr/bin/hello", &root]);
    assert!(hello.contains("User:     0   Group:     0") && hello.contains("Mode:  0644"), "{hello}");
    let fstab = tool("debugfs", &["-R", "cat /etc/fstab", &root]);
    let mounts: Vec<&str> =
        fstab.lines().filter(|l| l.starts_with("UUID=")).map(|l| l.split(' ').nth(1).unwrap_or("")).collect();
    assert_eq!(mounts, ["/", "/boot/efi"], "{fstab}");
}

#[test]
fn a_wrong_disk_parameter_is_reported_where_the_user_wrote_it() {
    let project = Project::new("stdlib-disk-wrong");
    // (the disk's text, the line the report must point at, words of the message)
    let cases = [
        (
            "size = \"1G\"; table = \"gpt\"; partitions = [\n  { label = \"a\"; type = \"linux\"; size = \"2G\"; fs = \"ext4\"; }\n];",
            3,
            "does not fit",
        ),
        (
            "size = \"1G\"; table = \"gpt\"; partitions = [\n  { label = \"a\"; type = \"linux\";\n    size = \"lots\"; fs = \"ext4\"; }\n];",
            4,
            "is not a size",
        ),
        ("size = \"1G\";\ntable = \"apm\"; partitions = [ ];", 3, "\"gpt\" or \"mbr\""),
        ("size = 1000; table = \"gpt\"; partitions = [ ];", 2, "512-byte sectors"),
    ];
    for (body, line, words) in cases {
        project.write("default.nix", &format!("(import <imgx>).disk {{\n{body}\n}}\n"));
        let output = project.imgx(&["build"]);
        let report = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "rejected at evaluation: {report}");
        assert!(report.contains(words), "the report names the problem ({words}): {report}");
        // The first source shown is the user's file, not the library's.
        let shown = report.lines().find(|l| l.contains(",-[")).unwrap_or_default();
        let expected = format!("{}:{line}:", project.dir.join("default.nix").display());
        assert!(shown.contains(&expected), "the report points at line {line} of the description: {report}");
    }
}

/// Evaluates `expr` strictly with imgx; returns its JSON, or the report.
fn eval_json(project: &Project, expr: &str) -> Result<serde_json::Value, String> {
    let output = project.imgx(&["eval", "--strict", "--json", "--expr", expr]);
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("eval --json prints JSON"))
    } else {
        Err(stderr(&output))
    }
}

/// Sizes the disk step accepts, with their bytes (see builders/src/disk/layout.rs).
const SIZES: &str =
    r#"[ 4096 "512M" "100MiB" "2G" "2 gib" "1.5G" "1MB" "4096" " 8k " "0.5M" "5." "1.25KB" "007M" "3 TiB" ]"#;
const SIZE_BYTES: [u64; 14] =
    [4096, 512 << 20, 100 << 20, 2 << 30, 2 << 30, 3 << 29, 1_000_000, 4096, 8192, 1 << 19, 5, 1250, 7 << 20, 3 << 40];

#[test]
fn sizes_parse_as_the_disk_step_reads_them() {
    let project = Project::new("stdlib-sizes");
    let parsed = eval_json(&project, &format!("map (import <imgx>).sizes.parse {SIZES}")).expect("sizes parse");
    let parsed: Vec<u64> = parsed.as_array().expect("a list").iter().map(|n| n.as_u64().expect("bytes")).collect();
    assert_eq!(parsed, SIZE_BYTES);
    let helpers =
        eval_json(&project, "with (import <imgx>).sizes; [ (kib 4) (mib 64) (gib 2) (tib 1) ]").expect("units");
    assert_eq!(helpers, serde_json::json!([4096, 64 << 20, 2u64 << 30, 1u64 << 40]));

    // (the size, words of the message)
    let cases = [
        (r#""0.1K""#, "'0.1K' is not a whole number of bytes"),
        (r#""12Q""#, "'12Q' is not a size: write bytes as an integer"),
        (r#""""#, "'' is not a size"),
        (r#""1.2.3M""#, "'1.2.3M' is not a size"),
        (r#"".5M""#, "'.5M' is not a size"),
        (r#""1.0000000000001M""#, "'1.0000000000001M' is not a size"),
        (r#""99999999999T""#, "'99999999999T' is too large"),
        (r#""0M""#, "size '0M' is zero"),
        ("(-1)", "size -1 is not a positive whole number of bytes"),
        ("0", "size 0 is not a positive whole number of bytes"),
        ("[ ]", "not a list"),
    ];
    for (size, words) in cases {
        let report = eval_json(&project, &format!("(import <imgx>).sizes.parse {size}")).expect_err(size);
        assert!(report.contains(words), "{size}: the report says {words}: {report}");
    }
}

/// Evaluates `expr` with Nix itself, where it is installed.
fn nix_json(expr: &str) -> Option<serde_json::Value> {
    let output = std::process::Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--expr", expr])
        .output()
        .ok()?;
    assert!(output.status.success(), "nix-instantiate fails: {}", stderr(&output));
    Some(serde_json::from_slice(&output.stdout).expect("nix-instantiate --json prints JSON"))
}

#[test]
fn helpers_give_the_same_results_under_nix() {
    let project = Project::new("stdlib-helpers-nix");
    let helpers = concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/helpers.nix");
    let body = format!(
        r#"{{
  sizes = map h.sizes.parse {SIZES};
  uefi = h.layouts.uefi {{ size = "64M"; espSize = "16M"; }};
  bios = h.layouts.bios {{ }};
  line = h.kernelCommandLine {{ console = [ "tty0" "ttyS0,115200" ]; extra = [ "quiet" ]; rw = false; }};
  fstab = h.fstab ((h.layouts.uefi {{ }}).partitions ++ [ {{ label = "swap"; fs = "swap"; mount = "swap"; }}
    {{ label = "data"; fs = "xfs"; mount = "/srv"; options.mountOptions = "noatime"; }} ]);
}}"#
    );
    let ours = eval_json(&project, &format!("let h = import <imgx>; in {body}")).expect("imgx evaluates");
    let Some(theirs) = nix_json(&format!("let h = import {helpers}; in {body}")) else {
        eprintln!("nix-instantiate is not installed; not compared");
        return;
    };
    assert_eq!(ours, theirs);
}

#[test]
fn fstab_names_partitions_by_label() {
    let project = Project::new("stdlib-fstab");
    let fstab = eval_json(
        &project,
        r#"let imgx = import <imgx>; in imgx.fstab ((imgx.layouts.uefi { }).partitions ++ [
          { label = "swap"; fs = "swap"; mount = "swap"; }
          { label = "data"; fs = "xfs"; mount = "/srv"; options.mountOptions = "noatime"; }
          { label = "scratch"; fs = "ext4"; } ])"#,
    )
    .expect("fstab evaluates");
    assert_eq!(
        fstab,
        "PARTLABEL=ESP /boot/efi vfat defaults 0 2\nPARTLABEL=root / ext4 defaults 0 1\n\
         PARTLABEL=swap none swap sw 0 0\nPARTLABEL=data /srv xfs noatime 0 2\n"
    );
    let report = eval_json(&project, r#"(import <imgx>).fstab { }"#).expect_err("a set is not a list");
    assert!(report.contains("fstab: takes a list of partitions"), "{report}");
}

#[test]
fn kernel_command_lines() {
    let project = Project::new("stdlib-cmdline");
    let line = |args: &str| eval_json(&project, &format!("(import <imgx>).kernelCommandLine {args}"));
    assert_eq!(line("{ }").expect("defaults"), "root=PARTLABEL=root rw console=ttyS0");
    assert_eq!(
        line(r#"{ root = "UUID=0f3a"; console = [ "tty0" "ttyS0,115200" ]; rw = false; extra = [ "quiet" "init=/bin/sh" ]; }"#)
            .expect("all arguments"),
        "root=UUID=0f3a ro console=tty0 console=ttyS0,115200 quiet init=/bin/sh"
    );
    assert_eq!(line(r#"{ console = "hvc0"; }"#).expect("one console"), "root=PARTLABEL=root rw console=hvc0");
    for (args, words) in [
        (r#"{ root = "PARTLABEL=my root"; }"#, "root 'PARTLABEL=my root' must be one word"),
        (r#"{ extra = [ 1 ]; }"#, "an extra parameter must be a string, not an integer"),
        (r#"{ extra = "quiet"; }"#, "extra must be a list of strings, not a string"),
    ] {
        let report = line(args).expect_err(args);
        assert!(report.contains(words), "{args}: the report says {words}: {report}");
    }
}

#[test]
fn layouts_make_the_partitions_they_document() {
    let project = Project::new("stdlib-layouts");
    project.write("root/etc/motd", "from a layout\n");
    project.write(
        "default.nix",
        r#"let imgx = import <imgx>; inherit (imgx) disk layouts; in
{
  uefi = disk (layouts.uefi { size = "64M"; espSize = "16M"; contents = ./root; } // { name = "uefi"; });
  bios = disk { name = "bios"; size = imgx.sizes.mib 64; inherit (layouts.bios { contents = ./root; }) table partitions; };
}
"#,
    );
    // (attribute, partition types, names)
    let expected = [
        ("uefi", ["C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"], ["ESP", "root"]),
        ("bios", ["21686148-6449-6E6F-744E-656564454649", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"], ["bios", "root"]),
    ];
    for (attr, types, names) in expected {
        let output = project.imgx(&["build", "-A", attr]);
        assert!(output.status.success(), "{}", stderr(&output));
        let disk = project.dir.join("result");
        assert_eq!(std::fs::metadata(&disk).expect("result").len(), 64 << 20);
        let json = tool("sfdisk", &["-J", disk.to_str().expect("utf-8")]);
        let table =
            serde_json::from_str::<serde_json::Value>(&json).expect("sfdisk -J prints JSON")["partitiontable"].clone();
        assert_eq!(table["label"], "gpt");
        let parts = table["partitions"].as_array().expect("list");
        let found: Vec<(&str, &str)> =
            parts.iter().map(|p| (p["type"].as_str().expect("type"), p["name"].as_str().expect("name"))).collect();
        assert_eq!(found, [(types[0], names[0]), (types[1], names[1])], "{attr}");
        if attr == "bios" {
            assert_eq!(parts[0]["size"], 2048, "the BIOS boot partition is 1 MiB");
        }
        let root = partition(&disk, &table, 1, &project.dir.join(format!("{attr}-root.img")));
        tool("e2fsck", &["-fn", &root]);
        assert_eq!(tool("debugfs", &["-R", "cat /etc/motd", &root]).lines().last(), Some("from a layout"));
        let fstab = tool("debugfs", &["-R", "cat /etc/fstab", &root]);
        assert!(fstab.lines().any(|l| l.starts_with("UUID=") && l.split(' ').nth(1) == Some("/")), "{fstab}");
    }
}

#[test]
fn a_wrong_layout_size_is_reported_with_its_name() {
    let project = Project::new("stdlib-layout-wrong");
    project
        .write("default.nix", "let imgx = import <imgx>; in\nimgx.disk (imgx.layouts.uefi {\n  size = \"6Q\";\n})\n");
    let report = stderr(&project.imgx(&["build", "--dry-run"]));
    assert!(report.contains("'6Q' is not a size"), "{report}");
    let shown = report.lines().find(|l| l.contains(",-[")).unwrap_or_default();
    let expected = format!("{}:3:", project.dir.join("default.nix").display());
    assert!(shown.contains(&expected), "the disk's size is reported where the user wrote it: {report}");

    project.write(
        "default.nix",
        "(import <imgx>).disk ((import <imgx>).layouts.bios { size = \"64M\"; } // { size = 0; })\n",
    );
    assert!(stderr(&project.imgx(&["build", "--dry-run"])).contains("not a positive whole number"));

    project.write("default.nix", "(import <imgx>).layouts.uefi { espSize = \"1.2.3M\"; }\n");
    let report = eval_json(&project, "import ./default.nix").expect_err("a bad ESP size");
    assert!(report.contains("layouts.uefi: espSize: '1.2.3M' is not a size"), "{report}");
}

/// Runs `imgx eval --strict` on the user file `main.nix` holding `text`,
/// which must fail; returns the report and the place its first snippet
/// shows (`path:line:column`).
fn eval_failure(project: &Project, text: &str) -> (String, String) {
    project.write("main.nix", text);
    let output = project.imgx(&["eval", "--strict", "main.nix"]);
    let report = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "an evaluation error: {report}");
    let shown = report.lines().find(|l| l.contains(",-[")).unwrap_or_default();
    let place = shown.split(",-[").nth(1).unwrap_or_default().trim_end_matches(']').to_string();
    (report, place)
}

#[test]
fn a_throw_inside_the_library_is_reported_at_the_users_call() {
    let project = Project::new("stdlib-error-throw");
    let main = project.dir.join("main.nix").display().to_string();
    let (report, place) =
        eval_failure(&project, "let imgx = import <imgx>;\nin {\n  size = imgx.sizes.parse \"12X\";\n}\n");
    assert!(report.contains("'12X' is not a size"), "{report}");
    assert_eq!(place, format!("{main}:3:10"), "the call to sizes.parse is shown: {report}");
    let note = report.lines().find(|l| l.contains("raised in the stdlib at")).unwrap_or_default();
    assert!(note.contains("helpers.nix:"), "the library's place is kept as a note: {report}");

    // A throw forced later, by the disk step reading a layout, is reported at
    // the user's call that led to it.
    let (report, place) = eval_failure(
        &project,
        "let imgx = import <imgx>;\nin\nimgx.disk (imgx.layouts.uefi {\n  espSize = \"12X\";\n})\n",
    );
    assert!(report.contains("espSize: '12X' is not a size"), "{report}");
    assert_eq!(place, format!("{main}:3:1"), "{report}");
    assert!(report.contains("raised in the stdlib at"), "{report}");
}

#[test]
fn argument_errors_of_library_functions_are_reported_at_the_users_call() {
    let project = Project::new("stdlib-error-arguments");
    let main = project.dir.join("main.nix").display().to_string();
    let (report, place) =
        eval_failure(&project, "let imgx = import <imgx>;\nin\nimgx.file {\n  nme = \"x\";\n  text = \"\";\n}\n");
    assert!(report.contains("unexpected argument 'nme'; did you mean 'name'?"), "{report}");
    assert_eq!(place, format!("{main}:3:1"), "{report}");

    let (report, place) = eval_failure(
        &project,
        "let imgx = import <imgx>;\nin\n{\n  d = imgx.disk { size = \"1G\"; table = \"gpt\"; };\n}\n",
    );
    assert!(report.contains("without required argument 'partitions'"), "{report}");
    assert_eq!(place, format!("{main}:4:7"), "{report}");
}
