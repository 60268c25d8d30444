//! The `disk` step kind end to end, through the real binary: partition
//! tables, file systems and their contents, inspected without mounting
//! (`sfdisk -J`, `fsck`, `debugfs`, `mdir`, `xfs_db`), built without root,
//! and bit for bit the same across stores, times and umasks.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{Project, count_events, events, stderr};

/// `makedev(1, 3)`: `/dev/null`.
const DEV_NULL: u64 = (1 << 8) | 3;

const ROOT_PART_UUID: &str = "0b9c3c1e-6d3e-4c7a-9a55-0123456789ab";

/// A GPT disk: an ESP, a swap area and an ext4 root filled from `./tree`.
const GPT_DISK: &str = r#"builtins.step {
  kind = "disk"; name = "vm";
  size = "1G"; table = "gpt";
  partitions = [
    { label = "ESP"; type = "esp"; size = "100M"; fs = "vfat";
      # A directory inside a directory step's output.
      contents = "${builtins.step { kind = "directory"; name = "boot"; entries.boot = ./esp; }}/boot";
      mount = "/boot/efi"; options.mountOptions = "umask=0077"; }
    { label = "swap"; type = "swap"; size = "16M"; fs = "swap"; mount = "swap"; }
    { label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = ./tree;
      mount = "/"; options.partUuid = "0b9c3c1e-6d3e-4c7a-9a55-0123456789ab"; }
  ];
}
"#;

/// The recorded metadata of `./tree`, sorted by path.
fn attributes(with_xattrs: bool) -> String {
    let xattrs = if with_xattrs { r#","xattrs":{"user.note":"aW1neA=="}"# } else { "" };
    [
        r#"{"path":"bin/tool-link","type":"hardlink","target":"bin/tool","uid":0,"gid":0,"mode":493}"#.to_string(),
        format!(r#"{{"path":"dev/null","type":"char","rdev":{DEV_NULL},"uid":0,"gid":0,"mode":438}}"#),
        format!(r#"{{"path":"etc/shadow","uid":0,"gid":42,"mode":416{xattrs}}}"#),
        r#"{"path":"home/user","uid":1000,"gid":1000,"mode":488}"#.to_string(),
        r#"{"path":"tmp","type":"dir","uid":0,"gid":0,"mode":1023}"#.to_string(),
    ]
    .join("\n")
        + "\n"
}

/// Writes the root tree (with `.imgx-attributes`) and the ESP tree.
fn write_trees(project: &Project, with_xattrs: bool) {
    project.write("tree/etc/motd", "hello from imgx\n");
    project.write("tree/etc/shadow", "root:*:19000:0:99999:7:::\n");
    project.write("tree/bin/tool", "#!/bin/sh\necho tool\n");
    project.write("tree/bin/tool-link", "#!/bin/sh\necho tool\n");
    project.write("tree/home/user/.profile", "PS1='$ '\n");
    project.write("tree/etc/fstab", "# replaced by the generated one\n");
    std::fs::create_dir_all(project.dir.join("tree/dev")).expect("mkdir");
    std::fs::create_dir_all(project.dir.join("tree/tmp")).expect("mkdir");
    std::os::unix::fs::symlink("motd", project.dir.join("tree/etc/issue")).expect("symlink");
    set_mode(&project.dir.join("tree/bin/tool"), 0o755);
    set_mode(&project.dir.join("tree/bin/tool-link"), 0o755);
    project.write("tree/.imgx-attributes", &attributes(with_xattrs));
    project.write("esp/EFI/BOOT/BOOTX64.EFI", "not really an EFI binary\n");
    project.write("esp/loader/loader.conf", "timeout 3\n");
    project.write("esp/loader/entries/debian.conf", "title Debian\noptions console=ttyS0\n");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// Runs `imgx build --json` as an unprivileged user with `umask 077`:
/// as `nobody` through setpriv when the tests run as root (the project
/// folder is given to nobody first), else as the current user.
fn build_unprivileged(project: &Project) -> Output {
    let imgx = env!("CARGO_BIN_EXE_imgx");
    let script = "umask 077; exec \"$0\" build --json";
    let mut command = if is_root() {
        let status = Command::new("chown").args(["-R", "nobody:nogroup"]).arg(&project.dir).status().expect("chown");
        assert!(status.success());
        let mut command = Command::new("setpriv");
        command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "sh", "-c", script, imgx]);
        command
    } else {
        let mut command = Command::new("sh");
        command.args(["-c", script, imgx]);
        command
    };
    command.current_dir(&project.dir).env("IMGX_STORE", &project.store).env("NO_COLOR", "1");
    command.output().expect("imgx runs")
}

/// The output object and the key its identifiers derive from (the
/// content key, which the step's log names) of the one step built.
fn built_in(project: &Project, output: &Output) -> (String, String) {
    let (object, input_key) = built(output);
    let log = std::fs::read_to_string(project.store.join("logs").join(format!("{input_key}.log"))).expect("the log");
    let marker = "derived from key ";
    let key = log.lines().find_map(|l| Some(l[l.find(marker)? + marker.len()..].trim().to_string())).expect("key");
    (object, key)
}

/// The output object and the input key of the one step built.
fn built(output: &Output) -> (String, String) {
    assert!(output.status.success(), "the build fails: {}", stderr(output));
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if event["event"] == "built" && event["step"]["kind"] == "disk" {
            let key = event["step"]["key"].as_str().expect("key").to_string();
            return (event["output"].as_str().expect("output").to_string(), key);
        }
    }
    panic!("no step was built: {}", String::from_utf8_lossy(&output.stdout));
}

/// What `ctx.derived(purpose)` gives the step with this key, as a UUID.
fn derived_uuid(key: &str, purpose: &str) -> String {
    let key: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).expect("hex")).collect();
    let mut hasher = blake3::Hasher::new_derive_key("imgx derived value");
    hasher.update(&key).update(purpose.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn derived_volume_id(key: &str, purpose: &str) -> String {
    let key: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).expect("hex")).collect();
    let mut hasher = blake3::Hasher::new_derive_key("imgx derived value");
    hasher.update(&key).update(purpose.as_bytes());
    let b = hasher.finalize();
    let id = u32::from_le_bytes([b.as_bytes()[0], b.as_bytes()[1], b.as_bytes()[2], b.as_bytes()[3]]);
    format!("{:04X}-{:04X}", id >> 16, id & 0xffff)
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program).args(args).env("MTOOLS_SKIP_CHECK", "1").output().unwrap_or_else(|e| {
        panic!("{program} cannot run: {e}");
    });
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn ok(program: &str, args: &[&str]) -> String {
    let (success, text) = run(program, args);
    assert!(success, "{program} {args:?} fails:\n{text}");
    text
}

/// The partition table as `sfdisk -J` reports it.
fn table(disk: &Path) -> serde_json::Value {
    let text = ok("sfdisk", &["-J", disk.to_str().expect("utf-8")]);
    serde_json::from_str::<serde_json::Value>(&text).expect("sfdisk -J prints JSON")["partitiontable"].clone()
}

/// Copies partition `index` out of the disk, sparsely, into its own file.
fn extract(disk: &Path, table: &serde_json::Value, index: usize, to: &Path) -> PathBuf {
    let partition = &table["partitions"][index];
    let (start, size) = (partition["start"].as_u64().expect("start"), partition["size"].as_u64().expect("size"));
    ok(
        "dd",
        &[
            &format!("if={}", disk.display()),
            &format!("of={}", to.display()),
            "bs=512",
            &format!("skip={start}"),
            &format!("count={size}"),
            "conv=sparse",
            "status=none",
        ],
    );
    ok("truncate", &["-s", &(size * 512).to_string(), to.to_str().expect("utf-8")]);
    to.to_path_buf()
}

/// `debugfs -R 'stat PATH'` of an ext4 image.
fn ext4_stat(image: &Path, path: &str) -> String {
    ok("debugfs", &["-R", &format!("stat {path}"), image.to_str().expect("utf-8")])
}

fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("stat").blocks() * 512
}

#[test]
fn a_gpt_disk_is_partitioned_formatted_and_filled_without_root() {
    let project = Project::new("disk-gpt");
    write_trees(&project, true);
    project.write("default.nix", GPT_DISK);
    let output = build_unprivileged(&project);
    let (object, key) = built_in(&project, &output);
    let disk = project.store.join("objects").join(&object);
    let tmp = project.dir.join("inspect");
    std::fs::create_dir_all(&tmp).expect("mkdir");

    // The table: GPT, types, places, sizes and the derived or given GUIDs.
    let table = table(&disk);
    assert_eq!(table["label"], "gpt");
    assert_eq!(table["id"].as_str().expect("id").to_lowercase(), derived_uuid(&key, "disk guid"));
    let parts = table["partitions"].as_array().expect("partitions");
    assert_eq!(parts.len(), 3);
    let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().expect("type")).collect();
    assert_eq!(
        types,
        [
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
        ]
    );
    let starts: Vec<u64> = parts.iter().map(|p| p["start"].as_u64().expect("start")).collect();
    let sizes: Vec<u64> = parts.iter().map(|p| p["size"].as_u64().expect("size")).collect();
    assert_eq!(starts, [2048, 206848, 239616]);
    assert_eq!(&sizes[..2], [204800, 32768]);
    assert_eq!(starts[2] + sizes[2], 1023 * 2048, "the rest, up to the last whole MiB before the backup GPT");
    let names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["ESP", "swap", "root"]);
    assert_eq!(parts[0]["uuid"].as_str().expect("uuid").to_lowercase(), derived_uuid(&key, "partition 1 guid"));
    assert_eq!(parts[2]["uuid"].as_str().expect("uuid").to_lowercase(), ROOT_PART_UUID);

    // The image stays sparse: a 1 GiB disk with a few MiB of data.
    let allocated = allocated_bytes(&disk);
    assert_eq!(std::fs::metadata(&disk).expect("stat").len(), 1 << 30);
    assert!(allocated < 32 << 20, "the disk is not sparse: {allocated} bytes allocated");

    // The ESP: clean, with the files, under the derived volume id.
    let esp = extract(&disk, &table, 0, &tmp.join("esp.img"));
    assert!(allocated_bytes(&esp) < 8 << 20);
    ok("fsck.vfat", &["-n", esp.to_str().expect("utf-8")]);
    let listing = ok("mdir", &["-i", esp.to_str().expect("utf-8"), "-/", "::"]);
    for name in ["BOOTX64  EFI", "loader.conf", "debian.conf", "1980-01-01"] {
        assert!(listing.contains(name), "mdir does not show {name}:\n{listing}");
    }
    let esp_id = derived_volume_id(&key, "partition 1 vfat volume id");
    assert!(listing.contains(&format!("Serial Number is {esp_id}")), "{listing}");

    // The swap area.
    let swap = extract(&disk, &table, 1, &tmp.join("swap.img"));
    let swap_uuid = derived_uuid(&key, "partition 2 file-system uuid");
    let blkid = ok("blkid", &["-o", "export", swap.to_str().expect("utf-8")]);
    assert!(blkid.contains("TYPE=swap") && blkid.contains(&format!("UUID={swap_uuid}")), "{blkid}");

    // The root: clean, root-owned unless recorded otherwise, whoever built it.
    let root = extract(&disk, &table, 2, &tmp.join("root.img"));
    let root_str = root.to_str().expect("utf-8");
    ok("e2fsck", &["-fn", root_str]);
    let root_uuid = derived_uuid(&key, "partition 3 file-system uuid");
    let superblock = ok("dumpe2fs", &["-h", root_str]);
    assert!(superblock.contains(&root_uuid), "{superblock}");
    assert!(superblock.contains("Filesystem volume name:   root"), "{superblock}");
    let motd = ext4_stat(&root, "/etc/motd");
    assert!(motd.contains("Type: regular    Mode:  0644"), "{motd}");
    assert!(
        motd.contains("User:     0   Group:     0"),
        "the store's files belong to the builder, not to root: {motd}"
    );
    assert!(motd.contains("mtime: 0x12cea600:00000000"), "times are the source date (1980-01-01): {motd}");
    assert!(motd.contains("crtime: 0x12cea600:00000000"), "{motd}");
    let shadow = ext4_stat(&root, "/etc/shadow");
    assert!(shadow.contains("Mode:  0640") && shadow.contains("Group:    42"), "{shadow}");
    assert!(shadow.contains("user.note (4) = \"imgx\""), "{shadow}");
    let home = ext4_stat(&root, "/home/user");
    assert!(home.contains("Type: directory    Mode:  0750") && home.contains("User:  1000   Group:  1000"), "{home}");
    let tmp_dir = ext4_stat(&root, "/tmp");
    assert!(tmp_dir.contains("Mode:  01777"), "{tmp_dir}");
    let null = ext4_stat(&root, "/dev/null");
    assert!(null.contains("Type: character special    Mode:  0666"), "{null}");
    assert!(null.contains("Device major/minor number: 01:03"), "{null}");
    let tool = ext4_stat(&root, "/bin/tool");
    assert!(tool.contains("Mode:  0755") && tool.contains("Links: 2"), "{tool}");
    let inode = |stat: &str| stat.split_whitespace().nth(1).map(str::to_string);
    assert_eq!(inode(&tool), inode(&ext4_stat(&root, "/bin/tool-link")), "a hard link shares the inode");
    assert!(ext4_stat(&root, "/etc/issue").contains("Type: symlink"));
    let top = ok("debugfs", &["-R", "ls /", root_str]);
    assert!(!top.contains(".imgx-attributes"), "the attributes file stays out of the image: {top}");

    // The generated fstab lists every mount by file-system UUID.
    let fstab = ok("debugfs", &["-R", "cat /etc/fstab", root_str]);
    let lines: Vec<&str> = fstab.lines().filter(|l| l.starts_with("UUID=")).collect();
    assert_eq!(
        lines,
        [
            format!("UUID={root_uuid} / ext4 defaults 0 1"),
            format!("UUID={esp_id} /boot/efi vfat umask=0077 0 2"),
            format!("UUID={swap_uuid} none swap sw 0 0"),
        ],
        "{fstab}"
    );
}

/// A disk with an XFS partition filled from `./tree` (without xattrs,
/// which XFS protofiles cannot carry: see `write_trees`).
const XFS_DISK: &str = r#"builtins.step {
  kind = "disk"; name = "data";
  size = "400M"; table = "gpt";
  partitions = [
    { label = "srv"; type = "linux"; size = "rest"; fs = "xfs"; contents = ./plain; }
  ];
}
"#;

/// The output objects of every step built, sorted.
fn outputs(output: &Output) -> Vec<String> {
    assert!(output.status.success(), "the build fails: {}", stderr(output));
    let mut found: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "built")
        .map(|event| event["output"].as_str().expect("output").to_string())
        .collect();
    found.sort();
    found
}

#[test]
fn the_same_disk_is_the_same_bytes_in_two_stores() {
    let first = Project::new("disk-repro-1");
    let second = Project::new("disk-repro-2");
    for project in [&first, &second] {
        write_trees(project, true);
        write_plain_tree(project);
        project.write("default.nix", &format!("{{ gpt = {GPT_DISK}; xfs = {XFS_DISK}; }}"));
    }
    let one = outputs(&first.imgx(&["build", "--json"]));
    assert_eq!(one.len(), 3, "the directory step and two disks");
    // Later, with another umask, as another user (when the tests run as
    // root), from store objects with other owners and times.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let two = outputs(&build_unprivileged(&second));
    assert_eq!(one, two, "two builds of the same disks differ");
    for object in &one {
        let (a, b) = (first.store.join("objects").join(object), second.store.join("objects").join(object));
        if a.is_dir() {
            continue; // the directory step's output: its hash covers it
        }
        ok("cmp", &[a.to_str().expect("utf-8"), b.to_str().expect("utf-8")]);
    }
    // And a rebuild in the same store is a no-op.
    let again = first.imgx(&["build", "--json"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(events(&count_events(&again), "built"), 0);
}

/// `./plain`: the tree without extended attributes, for XFS.
fn write_plain_tree(project: &Project) {
    project.write("plain/etc/motd", "hello from imgx\n");
    project.write("plain/etc/shadow", "root:*:19000:0:99999:7:::\n");
    project.write("plain/bin/tool", "#!/bin/sh\necho tool\n");
    project.write("plain/bin/tool-link", "#!/bin/sh\necho tool\n");
    project.write("plain/home/user/.profile", "PS1='$ '\n");
    std::fs::create_dir_all(project.dir.join("plain/dev")).expect("mkdir");
    std::fs::create_dir_all(project.dir.join("plain/tmp")).expect("mkdir");
    std::os::unix::fs::symlink("motd", project.dir.join("plain/etc/issue")).expect("symlink");
    set_mode(&project.dir.join("plain/bin/tool"), 0o755);
    project.write("plain/.imgx-attributes", &attributes(false));
}

#[test]
fn xfs_takes_owners_and_special_files_from_a_protofile() {
    let project = Project::new("disk-xfs");
    write_plain_tree(&project);
    project.write("default.nix", XFS_DISK);
    let (object, key) = built_in(&project, &build_unprivileged(&project));
    let disk = project.store.join("objects").join(&object);
    let table = table(&disk);
    let image = extract(&disk, &table, 0, &project.dir.join("srv.img"));
    let image = image.to_str().expect("utf-8");
    ok("xfs_repair", &["-n", image]);
    let blkid = ok("blkid", &["-o", "export", image]);
    assert!(blkid.contains(&format!("UUID={}", derived_uuid(&key, "partition 1 file-system uuid"))), "{blkid}");
    let inode = |path: &str| {
        ok(
            "xfs_db",
            &["-r", "-c", &format!("path {path}"), "-c", "print core.mode core.uid core.gid core.mtime.sec", image],
        )
    };
    let shadow = inode("/etc/shadow");
    assert!(shadow.contains("core.mode = 0100640") && shadow.contains("core.gid = 42"), "{shadow}");
    assert!(shadow.contains("Tue Jan  1 00:00:00 1980"), "{shadow}");
    assert!(inode("/tmp").contains("core.mode = 041777"));
    assert!(inode("/dev/null").contains("core.mode = 020666"));
    let home = inode("/home/user");
    assert!(home.contains("core.uid = 1000") && home.contains("core.mode = 040750"), "{home}");
    let motd = inode("/etc/motd");
    assert!(motd.contains("core.uid = 0") && motd.contains("core.mode = 0100644"), "{motd}");
}

#[test]
fn an_mbr_disk_with_a_fat_root_gets_its_fstab() {
    let project = Project::new("disk-mbr");
    project.write(
        "default.nix",
        r#"builtins.step {
  kind = "disk"; name = "sd";
  size = "200M"; table = "mbr"; options.diskId = "0x1234abcd";
  partitions = [
    { label = "BOOT"; type = "0x0c"; size = "64M"; fs = "vfat"; mount = "/"; options.bootable = true;
      options.uuid = "ABCD-0001"; }
    { label = "data"; type = "linux"; size = "rest"; fs = "ext4"; mount = "/data"; }
  ];
}
"#,
    );
    let (object, key) = built_in(&project, &project.imgx(&["build", "--json"]));
    let disk = project.store.join("objects").join(&object);
    let table = table(&disk);
    assert_eq!(table["label"], "dos");
    assert_eq!(table["id"], "0x1234abcd");
    assert_eq!(table["partitions"][0]["type"], "c");
    assert_eq!(table["partitions"][0]["bootable"], true);
    let boot = extract(&disk, &table, 0, &project.dir.join("boot.img"));
    let boot = boot.to_str().expect("utf-8");
    ok("fsck.vfat", &["-n", boot]);
    let fstab = ok("mtype", &["-i", boot, "::/etc/fstab"]);
    let data_uuid = derived_uuid(&key, "partition 2 file-system uuid");
    assert!(fstab.contains("UUID=ABCD-0001 / vfat defaults 0 1"), "{fstab}");
    assert!(fstab.contains(&format!("UUID={data_uuid} /data ext4 defaults 0 2")), "{fstab}");
    let data = extract(&disk, &table, 1, &project.dir.join("data.img"));
    ok("e2fsck", &["-fn", data.to_str().expect("utf-8")]);
}

#[test]
fn invalid_layouts_fail_at_evaluation_pointing_at_the_attribute() {
    let project = Project::new("disk-invalid");
    std::fs::create_dir_all(project.dir.join("tree")).expect("mkdir");
    // (partition lines, the line the report must point at, words of the message)
    let cases: &[(&str, usize, &str)] = &[
        (
            "{ label = \"a\"; type = \"linux\"; size = \"600M\"; fs = \"ext4\"; }\n    { label = \"b\"; type = \"linux\"; size = \"600M\"; fs = \"ext4\"; }",
            5,
            "does not fit",
        ),
        (
            "{ label = \"a\"; type = \"linux-root-x86-64\"; size = \"10M\"; fs = \"ext4\"; }\n    { label = \"b\"; type = \"linux-root-x86-64\"; size = \"10M\"; fs = \"ext4\"; }",
            5,
            "one root",
        ),
        (
            "{ label = \"a\"; type = \"linux\"; size = \"10M\"; fs = \"ext4\"; mount = \"/\"; }\n    { label = \"b\"; type = \"linux\"; size = \"10M\"; fs = \"ext4\"; mount = \"/\"; }",
            5,
            "both mounted at /",
        ),
        ("{ label = \"a\"; type = \"linux-root\"; size = \"10M\"; fs = \"ext4\"; }", 4, "unknown partition type"),
        ("{ label = \"a\"; type = \"linux\"; size = \"10M\"; fs = \"zfs\"; }", 4, "unknown file system"),
        (
            "{ label = \"a\"; type = \"linux\"; size = \"rest\"; fs = \"ext4\"; }\n    { label = \"b\"; type = \"linux\"; size = \"10M\"; fs = \"ext4\"; }",
            4,
            "only the last partition",
        ),
        (
            "{ label = \"a\"; type = \"swap\"; size = \"10M\"; fs = \"swap\"; contents = ./tree; }",
            4,
            "cannot hold contents",
        ),
        (
            "{ label = \"a\"; type = \"linux\"; size = \"10M\"; fs = \"none\"; contents = ./tree; }",
            4,
            "cannot hold contents",
        ),
        ("{ label = \"a\"; type = \"linux\"; size = \"ten megs\"; fs = \"ext4\"; }", 4, "is not a size"),
        ("{ label = \"a\"; type = \"linux\"; size = \"100M\"; fs = \"xfs\"; }", 4, "xfs needs at least 300 MiB"),
        ("{ label = \"a\"; type = \"linux\"; size = \"100M\"; fs = \"btrfs\"; }", 4, "btrfs is not supported"),
    ];
    for (partitions, line, words) in cases {
        project.write(
            "default.nix",
            &format!(
                "builtins.step {{\n  kind = \"disk\"; name = \"bad\"; size = \"1G\"; table = \"gpt\";\n  partitions = [\n    {partitions}\n  ];\n}}\n"
            ),
        );
        let output = project.imgx(&["build"]);
        let report = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "rejected at evaluation: {report}");
        assert!(report.contains(words), "the report names the problem ({words}): {report}");
        assert!(report.contains(&format!("default.nix:{line}:")), "the report points at line {line}: {report}");
    }
}

#[test]
fn contents_that_do_not_fit_fail_the_build_naming_the_partition() {
    let project = Project::new("disk-full");
    project.write("big/blob", &"x".repeat(3 << 20));
    project.write(
        "default.nix",
        r#"builtins.step {
  kind = "disk"; name = "small"; size = "8M"; table = "gpt";
  partitions = [ { label = "tiny"; type = "linux"; size = "2M"; fs = "ext4"; contents = ./big; } ];
}
"#,
    );
    let output = project.imgx(&["build"]);
    let report = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{report}");
    assert!(report.contains("partition 1 (\"tiny\")") && report.contains("do not fit"), "{report}");
}
