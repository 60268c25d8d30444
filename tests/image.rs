//! The library's `image` function and its steps (`run`, `copy`, `files`,
//! `hostname`, `users`, `groups`, `units`, `busybox`, `bootloader`), and
//! `unpack`: what they write into an image, read back without mounting
//! (`sfdisk -J` for the layout, `debugfs` for the root file system), and
//! the errors they give for arguments that cannot work.
//!
//! The images are built by real run steps in the build VM, so these tests
//! need the VM's packages (`scripts/deps --test` downloads them).

mod support;

use std::path::Path;
use std::process::Command;
use support::{Project, stderr};

/// Runs a tool that must succeed; returns its standard output.
fn tool(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{program} {args:?} fails:\n{text}{}", String::from_utf8_lossy(&output.stderr));
    text
}

/// The root file system of a disk made by `layouts.uefi` (its second
/// partition), as debugfs opens it: `disk?offset=<bytes>`.
fn root_fs(disk: &Path) -> String {
    let table: serde_json::Value =
        serde_json::from_str(&tool("sfdisk", &["-J", disk.to_str().expect("utf-8")])).expect("sfdisk -J prints JSON");
    let start = table["partitiontable"]["partitions"][1]["start"].as_u64().expect("a second partition");
    format!("{}?offset={}", disk.display(), start * 512)
}

/// Runs one debugfs request against a file system; returns what it prints.
fn debugfs(fs: &str, request: &str) -> String {
    let output = Command::new("debugfs").args(["-R", request, fs]).output().expect("debugfs runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `debugfs stat`'s mode, owner and group of a path: "0600 1000 1000".
fn mode_and_owner(fs: &str, path: &str) -> String {
    let stat = debugfs(fs, &format!("stat {path}"));
    let field = |name: &str| -> String {
        let at = stat.find(name).unwrap_or_else(|| panic!("no {name} in the stat of {path}:\n{stat}"));
        stat[at + name.len()..].split_whitespace().next().expect("a value").to_string()
    };
    format!("{} {} {}", field("Mode:"), field("User:"), field("Group:"))
}

const ACCOUNTS_IMAGE: &str = r#"
let imgx = import <imgx>; in
imgx.image {
  name = "accounts";
  disk = imgx.layouts.uefi { size = "256M"; espSize = "32M"; };
  steps = [
    (imgx.busybox { })
    (imgx.copy ./app "/opt/app")
    (imgx.hostname "box-1")
    (imgx.groups { deploy = { gid = 2000; }; })
    (imgx.users {
      alice = { uid = 1000; extraGroups = [ "deploy" ]; sshKeys = [ "ssh-ed25519 AAAAC3Nza alice@laptop" ];
                passwordHash = "$6$salt$hash"; description = "Alice"; };
      root = { passwordHash = "$6$root$hash"; };
    })
    (imgx.files {
      "/etc/app.conf" = { text = "port = 80\n"; mode = "0600"; owner = "alice"; group = "deploy"; };
      "/etc/issue" = "Welcome\n";
    })
    (imgx.units {
      files."hello.service" = ''
        [Service]
        ExecStart=/bin/echo hello
        [Install]
        WantedBy=multi-user.target
      '';
      enable = [ "hello.service" ];
    })
    (imgx.run { name = "check"; script = "test -x /opt/app/start && grep -q alice /etc/passwd"; })
  ];
}
"#;

#[test]
fn image_steps_write_accounts_files_units_and_a_userland() {
    let project = Project::new("image-steps");
    project.write("default.nix", ACCOUNTS_IMAGE);
    project.write("app/start", "#!/bin/sh\necho app\n");
    Command::new("chmod").arg("+x").arg(project.dir.join("app/start")).status().expect("chmod");
    let output = project.imgx(&["build", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let fs = root_fs(&project.dir.join("result"));

    // busybox: the binary, its applets as links, init's files.
    assert!(debugfs(&fs, "stat /bin/sh").contains("Type: symlink"), "/bin/sh is a link");
    assert!(debugfs(&fs, "cat /etc/inittab").contains("::sysinit:/etc/init.d/rcS"));
    assert_eq!(mode_and_owner(&fs, "/etc/init.d/rcS"), "0755 0 0");
    assert_eq!(mode_and_owner(&fs, "/tmp"), "01777 0 0");

    // copy, hostname.
    assert_eq!(debugfs(&fs, "cat /opt/app/start"), "#!/bin/sh\necho app\n");
    assert_eq!(mode_and_owner(&fs, "/opt/app/start"), "0755 0 0");
    assert_eq!(debugfs(&fs, "cat /etc/hostname"), "box-1\n");
    assert!(debugfs(&fs, "cat /etc/hosts").contains("127.0.1.1\tbox-1"));

    // groups and users.
    let passwd = debugfs(&fs, "cat /etc/passwd");
    assert!(passwd.contains("alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"), "{passwd}");
    let group = debugfs(&fs, "cat /etc/group");
    assert!(group.contains("deploy:x:2000:alice\n") && group.contains("alice:x:1000:\n"), "{group}");
    let shadow = debugfs(&fs, "cat /etc/shadow");
    assert!(shadow.contains("alice:$6$salt$hash:3652:0:99999:7:::\n"), "{shadow}");
    assert!(shadow.contains("root:$6$root$hash:"), "{shadow}");
    assert_eq!(mode_and_owner(&fs, "/home/alice"), "0700 1000 1000");
    assert_eq!(debugfs(&fs, "cat /home/alice/.ssh/authorized_keys"), "ssh-ed25519 AAAAC3Nza alice@laptop\n");
    assert_eq!(mode_and_owner(&fs, "/home/alice/.ssh/authorized_keys"), "0600 1000 1000");

    // files with modes and owners.
    assert_eq!(debugfs(&fs, "cat /etc/app.conf"), "port = 80\n");
    assert_eq!(mode_and_owner(&fs, "/etc/app.conf"), "0600 1000 2000");
    assert_eq!(debugfs(&fs, "cat /etc/issue"), "Welcome\n");

    // units: installed and linked as systemctl enable links them.
    let link = debugfs(&fs, "stat /etc/systemd/system/multi-user.target.wants/hello.service");
    assert!(link.contains("Fast link dest: \"/etc/systemd/system/hello.service\""), "{link}");

    // Every step is its own step: the run steps carry the image's name.
    let built: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "built" && event["step"]["kind"] == "run")
        .map(|event| event["step"]["name"].as_str().unwrap_or("?").to_string())
        .collect();
    for step in ["busybox", "copy", "hostname", "groups", "users", "files", "units", "check"] {
        assert!(built.contains(&format!("accounts-{step}")), "a run step accounts-{step}: {built:?}");
    }
}

#[test]
fn grub_boots_an_image_under_uefi() {
    let project = Project::new("image-grub");
    project.write(
        "default.nix",
        r#"
let
  imgx = import <imgx>;
  system = imgx.image {
    name = "grub";
    disk = imgx.layouts.uefi { size = "256M"; espSize = "32M"; };
    steps = [
      (imgx.busybox { })
      (imgx.bootloader { loader = "grub"; title = "GRUB test"; })
      (imgx.run "echo 'booted by GRUB' > /etc/motd")
    ];
  };
in imgx.testBoot { disk = system; firmware = "uefi"; expect = "booted by GRUB"; timeout = 300; }
"#,
    );
    let output = project.imgx(&["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let console = String::from_utf8_lossy(&std::fs::read(project.dir.join("result")).expect("console")).into_owned();
    assert!(console.contains("booted by GRUB"), "{console}");
}

#[test]
fn unpack_reads_debian_packages_and_tarballs() {
    let project = Project::new("image-unpack");
    let deb = std::fs::read_dir(support::vm_package_dir())
        .expect("the VM's packages")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("systemd-boot-efi_")))
        .expect("systemd-boot-efi (imgx vm fetch downloads it)");
    std::fs::copy(&deb, project.dir.join("boot.deb")).expect("copy");
    tool("tar", &["-czf", project.dir.join("tree.tar.gz").to_str().expect("utf-8"), "-C", "/etc", "hostname"]);
    project.write(
        "default.nix",
        r#"
let imgx = import <imgx>; in
{
  deb = imgx.unpack { source = ./boot.deb; format = "deb"; };
  tarball = imgx.unpack { source = ./tree.tar.gz; };
}
"#,
    );
    let output = project.imgx(&["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let efi = project.dir.join("result/usr/lib/systemd/boot/efi/systemd-bootx64.efi");
    assert!(std::fs::read(&efi).expect("the loader is unpacked").starts_with(b"MZ"), "a PE image");
    let attributes = std::fs::read_to_string(project.dir.join("result/.imgx-attributes")).expect("attributes");
    assert!(attributes.contains("\"path\":\"usr/lib/systemd/boot/efi/systemd-bootx64.efi\""), "{attributes}");
    assert_eq!(
        std::fs::read(project.dir.join("result-2/hostname")).expect("unpacked"),
        std::fs::read("/etc/hostname").expect("/etc/hostname")
    );
    // The source's own hash is in the key: other bytes, another step.
    let before = project.imgx(&["show-step", "-A", "tarball"]);
    tool(
        "tar",
        &["-czf", project.dir.join("tree.tar.gz").to_str().expect("utf-8"), "-C", "/etc", "hostname", "os-release"],
    );
    let after = project.imgx(&["show-step", "-A", "tarball"]);
    assert_ne!(before.stdout, after.stdout, "the step follows its source");
}

/// Evaluates a description that must fail; returns the report.
fn evaluation_error(name: &str, text: &str) -> String {
    let project = Project::new(name);
    project.write("default.nix", text);
    let output = project.imgx(&["build", "--dry-run"]);
    assert_eq!(output.status.code(), Some(1), "{name} must fail at evaluation: {}", stderr(&output));
    stderr(&output)
}

#[test]
fn arguments_that_cannot_work_are_evaluation_errors() {
    let cases = [
        ("hostname", r#"imgx.hostname "no spaces allowed""#, "is not a host name"),
        (
            "mode",
            r#"imgx.files { "/etc/x" = { text = ""; mode = 644; }; }"#,
            "must be a string of three or four octal digits",
        ),
        ("relative", r#"imgx.copy ./app "opt/app""#, "must be an absolute path in the image"),
        ("user-key", r#"imgx.users { alice = { uuid = 1; }; }"#, "unknown attribute 'uuid'"),
        ("user-name", r#"imgx.users { "Alice!" = { }; }"#, "is not a user or group name"),
        ("unit", r#"imgx.units { enable = [ "hello" ]; }"#, "is not a unit name"),
        ("loader", r#"imgx.bootloader { loader = "lilo"; }"#, "is not one of \"systemd-boot\", \"grub\""),
        ("run", r#"imgx.run 42"#, "run takes a script"),
    ];
    for (name, step, message) in cases {
        let text = format!("let imgx = import <imgx>; in imgx.image {{ from = ./disk.img; steps = [ ({step}) ]; }}\n");
        let report = evaluation_error(&format!("image-error-{name}"), &text);
        assert!(report.contains(message), "{name}: {report}");
    }
    let report = evaluation_error(
        "image-error-step",
        "let imgx = import <imgx>; in imgx.image { from = ./disk.img; steps = [ imgx.hostname ]; }\n",
    );
    assert!(report.contains("steps element 0 is a function, not an image step"), "{report}");
    assert!(report.contains("did you leave out its argument?"), "{report}");
    let report = evaluation_error(
        "image-error-base",
        "let imgx = import <imgx>; in imgx.image { name = \"x\"; steps = [ ]; }\n",
    );
    assert!(report.contains("give `from` (a disk to start from) or `disk`"), "{report}");
}
