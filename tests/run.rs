//! `run` steps, for real: each test boots the build VM in QEMU (TCG where
//! KVM does not work) against disks built by the `disk` step, and inspects
//! the results without mounting them (debugfs, fsck.ext4).
//!
//! The build VM's packages must be in the package folder (`imgx vm fetch`,
//! or `scripts/deps --test`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Project, busybox_userland, stderr};

/// A GPT disk with an ESP (mounted at /boot/efi) and an ext4 root made
/// from `./tree`, as `base`.
const BASE_DISK: &str = r#"
  base = builtins.step {
    kind = "disk"; name = "base"; size = "256M"; table = "gpt";
    partitions = [
      { label = "ESP"; type = "esp"; size = "32M"; fs = "vfat"; mount = "/boot/efi"; }
      { label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = ./tree; mount = "/"; }
    ];
  };
"#;

/// Writes `default.nix`: `body` evaluated with `imgx` (the library) and
/// `base` (the disk above) in scope.
fn write_on_base(project: &Project, body: &str) {
    project.write("default.nix", &format!("let\n  imgx = import <imgx>;\n{BASE_DISK}\nin {body}\n"));
}

/// A project with a busybox userland in `tree/` and `body` on the base disk.
fn project_on_base(name: &str, body: &str) -> Project {
    let project = Project::new(name);
    busybox_userland(&project, "tree");
    write_on_base(&project, body);
    project
}

/// The outputs of the steps built, by step name, from `--json` events.
fn built_outputs(stdout: &[u8]) -> std::collections::BTreeMap<String, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "built" || event["event"] == "cached")
        .map(|event| {
            (
                event["step"]["name"].as_str().unwrap_or("?").to_string(),
                event["output"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// The byte range of partition `number` (1-based), from `sfdisk -J`.
fn partition(disk: &Path, number: usize) -> (u64, u64) {
    let output = Command::new("sfdisk").arg("-J").arg(disk).output().expect("sfdisk runs");
    let table: serde_json::Value = serde_json::from_slice(&output.stdout).expect("sfdisk JSON");
    let entry = &table["partitiontable"]["partitions"][number - 1];
    (entry["start"].as_u64().expect("start") * 512, entry["size"].as_u64().expect("size") * 512)
}

/// Copies a partition out of a disk into its own file, for debugfs and fsck.
fn extract(disk: &Path, number: usize, into: &Path) {
    let (start, size) = partition(disk, number);
    let status = Command::new("dd")
        .arg(format!("if={}", disk.display()))
        .arg(format!("of={}", into.display()))
        .args(["bs=1M", "iflag=skip_bytes,count_bytes", "conv=sparse", "status=none"])
        .arg(format!("skip={start}"))
        .arg(format!("count={size}"))
        .status()
        .expect("dd runs");
    assert!(status.success());
}

fn debugfs(image: &Path, request: &str) -> String {
    let output = Command::new("debugfs").args(["-R", request]).arg(image).output().expect("debugfs runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn object(project: &Project, hash: &str) -> PathBuf {
    project.store.join("objects").join(hash)
}

/// The image the main test builds: files, a work directory, stdout and
/// stderr, the network interfaces the script sees, the clock.
fn write_motd_project(project: &Project) {
    busybox_userland(project, "tree");
    project.write("motd", "welcome\n");
    project.write("app/build.sh", "echo built-in-workdir > /etc/built\npwd > /etc/workdir-was\n");
    write_on_base(
        project,
        r#"imgx.run {
  name = "motd"; disk = base;
  files."/etc/motd" = ./motd;
  workdir = ./app;
  script = ''
    sh build.sh
    echo "to stdout"
    echo "to stderr" >&2
    ls /sys/class/net > /etc/interfaces
    echo esp > /boot/efi/marker.txt
  '';
}"#,
    );
}

#[test]
fn a_run_step_changes_a_copy_of_the_disk_reproducibly() {
    let project = Project::new("run-motd");
    write_motd_project(&project);
    let output = project.imgx(&["build", "--json"]);
    assert!(output.status.success(), "the build fails: {}", stderr(&output));
    let outputs = built_outputs(&output.stdout);
    let (base, disk) = (object(&project, &outputs["base"]), object(&project, &outputs["motd"]));

    // The input disk is untouched: its bytes still hash to its name.
    let verify = project.imgx(&["store", "verify"]);
    assert!(verify.status.success(), "store verify: {}", stderr(&verify));
    assert_ne!(outputs["base"], outputs["motd"]);

    let root = project.dir.join("root.img");
    extract(&disk, 2, &root);
    let fsck = Command::new("fsck.ext4").arg("-fn").arg(&root).output().expect("fsck runs");
    assert!(fsck.status.success(), "fsck: {}", String::from_utf8_lossy(&fsck.stdout));
    assert_eq!(debugfs(&root, "cat /etc/motd"), "welcome\n");
    assert_eq!(debugfs(&root, "cat /etc/built"), "built-in-workdir\n");
    assert_eq!(debugfs(&root, "cat /etc/workdir-was"), "/tmp/imgx-workdir\n");
    assert!(!debugfs(&root, "ls /tmp").contains("imgx-workdir"), "the work directory is removed");
    assert_eq!(debugfs(&root, "cat /etc/interfaces"), "lo\n", "no network device without network = true");
    let motd = debugfs(&root, "stat /etc/motd");
    assert!(motd.contains("User:     0   Group:     0"), "{motd}");
    assert!(motd.contains("Mode:  0644"), "{motd}");

    let esp = project.dir.join("esp.img");
    extract(&disk, 1, &esp);
    let mtype = Command::new("mtype")
        .args(["-i"])
        .arg(&esp)
        .arg("::marker.txt")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .expect("mtype runs");
    assert_eq!(String::from_utf8_lossy(&mtype.stdout), "esp\n", "fstab's /boot/efi is mounted");
    let fsck = Command::new("fsck.vfat").arg("-n").arg(&esp).output().expect("fsck.vfat runs");
    assert!(fsck.status.success(), "fsck.vfat: {}", String::from_utf8_lossy(&fsck.stdout));

    // The log keeps the script's output and the VM's messages apart.
    let log = project.imgx(&["log"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.lines().any(|l| l == "to stdout"), "{log}");
    assert!(log.lines().any(|l| l == "to stderr"), "{log}");
    assert!(log.lines().any(|l| l.starts_with("[vm] imgx-vm: root file system: /dev/vda2")), "{log}");

    // The output stays sparse.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&disk).expect("disk");
    assert!(meta.blocks() * 512 < meta.len() / 4, "the output disk is sparse");
    assert!(base.exists());

    // A second build in an empty store gives the same bytes.
    let again = Project::new("run-motd-again");
    write_motd_project(&again);
    let output = again.imgx(&["build", "--json"]);
    assert!(output.status.success(), "the second build fails: {}", stderr(&output));
    assert_eq!(built_outputs(&output.stdout)["motd"], outputs["motd"], "two runs of the step give the same disk");
}

#[test]
fn a_failing_script_fails_the_step_with_its_status_and_log() {
    let project = project_on_base(
        "run-fails",
        r#"imgx.run { name = "breaks"; disk = base; script = ''
  echo "last words before failing"
  exit 3
''; }"#,
    );
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(3), "a failed step exits with 3: {}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("breaks"), "{text}");
    assert!(text.contains("the script exited with status 3"), "{text}");
    assert!(text.contains("last words before failing"), "the log's tail is shown: {text}");
    assert!(text.contains("full log: "), "{text}");
}

#[test]
fn a_script_past_its_timeout_is_stopped_and_leaves_no_process() {
    let project = project_on_base(
        "run-timeout",
        r#"imgx.run { name = "sleeps"; disk = base; timeout = 10; script = "sleep 3600"; }"#,
    );
    // The VM is a step of its own: build it first, so the timing below is
    // the run step's alone.
    project.write("vm.nix", "(import <imgx>).vm\n");
    let vm = project.imgx(&["build", "vm.nix"]);
    assert!(vm.status.success(), "the VM builds: {}", stderr(&vm));
    let started = Instant::now();
    let output = project.imgx(&["build"]);
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("timed out"), "{text}");
    assert!(took < Duration::from_secs(90), "the timeout is kept (took {took:?})");
    let store = project.store.to_string_lossy().into_owned();
    let left = Command::new("pgrep").args(["-f", &store]).output().expect("pgrep runs");
    assert!(left.stdout.is_empty(), "no process is left behind: {}", String::from_utf8_lossy(&left.stdout));
}

#[test]
fn an_image_without_a_shell_runs_the_script_with_the_vms_busybox() {
    let project = Project::new("run-no-shell");
    project.write("data/readme", "data only\n");
    project.write(
        "default.nix",
        r#"let
  imgx = import <imgx>;
  data = builtins.step {
    kind = "disk"; name = "data"; size = "64M"; table = "mbr";
    partitions = [ { label = "data"; type = "linux"; size = "rest"; fs = "ext4"; contents = ./data; } ];
  };
in imgx.run { name = "stamp"; disk = data; script = ''
  test "$IMGX_ROOT" = /mnt
  test "$(pwd)" = /mnt
  cat readme > copy
  date +%s > clock
''; }
"#,
    );
    let output = project.imgx(&["build", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let disk = object(&project, &built_outputs(&output.stdout)["stamp"]);
    let data = project.dir.join("data.img");
    extract(&disk, 1, &data);
    assert_eq!(debugfs(&data, "cat /copy"), "data only\n");
    let clock: i64 = debugfs(&data, "cat /clock").trim().parse().expect("the script wrote the date");
    assert!((315_532_800..315_532_800 + 60).contains(&clock), "the clock starts at SOURCE_DATE_EPOCH: {clock}");
}

#[test]
fn a_network_step_must_declare_its_output_hash() {
    let project = Project::new("run-network");
    busybox_userland(&project, "tree");
    project.write("tree/etc/resolv.conf", "nameserver 192.0.2.1\n");
    let write = |hash: &str| {
        let script = "ls /sys/class/net > /etc/interfaces; cat /etc/resolv.conf > /etc/resolv-seen";
        let body = format!(
            r#"imgx.run {{ name = "online"; disk = base; network = true; hash = "{hash}"; script = "{script}"; }}"#
        );
        write_on_base(&project, &body);
    };
    write_on_base(&project, r#"imgx.run { disk = base; network = true; script = "true"; }"#);
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(1), "an undeclared hash is an evaluation error");
    assert!(stderr(&output).contains("must declare the hash"), "{}", stderr(&output));

    write("");
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("note: online") && text.contains("impure"), "imgx build says the step is impure: {text}");
    let hash = text
        .split("use hash = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the error gives the hash to paste: {text}"))
        .to_string();
    write(&hash);
    let output = project.imgx(&["build", "--json"]);
    assert!(output.status.success(), "with the printed hash the step builds: {}", stderr(&output));
    let disk = object(&project, &built_outputs(&output.stdout)["online"]);
    let root = project.dir.join("root.img");
    extract(&disk, 2, &root);
    assert_eq!(debugfs(&root, "cat /etc/interfaces"), "eth0\nlo\n");
    assert_eq!(debugfs(&root, "cat /etc/resolv-seen"), "nameserver 10.0.2.3\n", "the script resolves through QEMU");
    assert_eq!(debugfs(&root, "cat /etc/resolv.conf"), "nameserver 192.0.2.1\n", "the image's own file is kept");
}

#[test]
fn a_vm_that_panics_or_cannot_start_the_job_is_reported_with_its_console() {
    let project = Project::new("run-broken-vm");
    busybox_userland(&project, "tree");
    // An init that exits at once: the kernel panics ("Attempted to kill init").
    project.write("bad-init", "#!/bin/sh\necho init giving up\nexit 1\n");
    write_on_base(
        &project,
        r#"{
  panics = imgx.run { name = "panics"; disk = base; script = "true"; timeout = 120;
    vm = imgx.mkVm { init = ./bad-init; }; };
  noDisks = imgx.run { name = "no-disks"; disk = base; script = "true"; timeout = 120;
    vm = imgx.mkVm { modules = [ ]; }; };
}"#,
    );
    let output = project.imgx(&["build", "-A", "panics"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("kernel panicked"), "{text}");
    assert!(text.contains("Attempted to kill init"), "the console is shown: {text}");

    // Without its virtio modules the VM sees no disk and no port to report on.
    let output = project.imgx(&["build", "-A", "noDisks"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("stopped before the script finished"), "{text}");
    assert!(text.contains("the disks or ports did not appear"), "the console is shown: {text}");
}

#[test]
fn fstab_lines_may_name_partitions_by_partuuid_and_partlabel() {
    let project = Project::new("run-partuuid");
    busybox_userland(&project, "tree");
    // The image's own fstab, as Debian's cloud images write it: no mount
    // attributes, so the disk step leaves it alone.
    project.write(
        "tree/etc/fstab",
        "PARTLABEL=root / ext4 defaults 0 1\n\
         PARTUUID=0B9C3C1E-6D3E-4C7A-9A55-0123456789AB /boot/efi vfat defaults 0 2\n\
         PARTLABEL=data /srv ext4 defaults 0 2\n",
    );
    project.write(
        "default.nix",
        r#"let
  imgx = import <imgx>;
  disk = builtins.step {
    kind = "disk"; name = "cloudlike"; size = "128M"; table = "gpt";
    partitions = [
      { label = "ESP"; type = "esp"; size = "32M"; fs = "vfat";
        options.partUuid = "0b9c3c1e-6d3e-4c7a-9a55-0123456789ab"; }
      { label = "data"; type = "linux"; size = "16M"; fs = "ext4"; }
      { label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = ./tree; }
    ];
  };
in imgx.run { name = "mounts"; inherit disk; script = ''
  echo esp > /boot/efi/marker.txt
  echo data > /srv/marker
''; }
"#,
    );
    let output = project.imgx(&["build", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let disk = object(&project, &built_outputs(&output.stdout)["mounts"]);
    let esp = project.dir.join("esp.img");
    extract(&disk, 1, &esp);
    let mtype = Command::new("mtype")
        .arg("-i")
        .arg(&esp)
        .arg("::marker.txt")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .expect("mtype runs");
    assert_eq!(String::from_utf8_lossy(&mtype.stdout), "esp\n", "the PARTUUID line was mounted");
    let data = project.dir.join("data.img");
    extract(&disk, 2, &data);
    assert_eq!(debugfs(&data, "cat /marker"), "data\n", "the PARTLABEL line was mounted");
}
