//! The build VM from the command line: `imgx vm fetch` with the host's
//! apt, `imgx vm shell` booting QEMU for real with commands fed on its
//! console, and what `imgx build` shows of a run step: its log lines live
//! (`--json`, `-L`) and, with `--keep-failed`, the disk a failed script
//! left behind.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{Project, busybox_userland, stderr};

fn debs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".deb"));
    names.sort();
    names
}

fn ok(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A busybox userland with `/etc/marker`, in `tree/`, and a description
/// of an ext4 disk holding it plus run steps on that disk.
fn busybox_project(name: &str) -> Project {
    let project = Project::new(name);
    busybox_userland(&project, "tree");
    project.write("tree/etc/marker", "marker-from-the-image\n");
    project.write(
        "default.nix",
        r#"let
  imgx = import <imgx>;
  base = builtins.step {
    kind = "disk"; name = "base"; size = "40M"; table = "gpt";
    partitions = [ { label = "root"; type = "linux"; size = "rest"; fs = "ext4"; contents = ./tree; mount = "/"; } ];
  };
in {
  inherit base;
  vm = imgx.vm;
  partial = imgx.run {
    name = "partial"; disk = base; memory = 256; timeout = 600;
    script = "echo writing-the-partial-file; echo partial > /etc/partial; exit 4";
  };
}
"#,
    );
    project
}

fn events(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn fetch_downloads_the_packages_once_with_apt() {
    let project = Project::new("vm-fetch");
    let dir = project.dir.join("packages");
    let fetch = |extra: &[&str]| {
        let mut args = vec!["vm", "fetch"];
        args.extend_from_slice(extra);
        project.command(&args).env("IMGX_VM_PACKAGES", &dir).output().expect("imgx runs")
    };
    let first = fetch(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let names = debs(&dir);
    assert!(names.iter().any(|n| n.starts_with("busybox-static_")), "{names:?}");
    let kernel = names.iter().find(|n| n.starts_with("linux-image-")).unwrap_or_else(|| panic!("{names:?}"));
    assert!(kernel.contains("-cloud-amd64_"), "the concrete cloud kernel, not the metapackage: {kernel}");
    let ok = Command::new("dpkg-deb").arg("--info").arg(dir.join(kernel)).output().expect("dpkg-deb");
    assert!(ok.status.success(), "a real package: {}", String::from_utf8_lossy(&ok.stderr));
    let modified = std::fs::metadata(dir.join(kernel)).and_then(|m| m.modified()).expect("mtime");

    let second = fetch(&[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stderr(&second).contains("already"), "{}", stderr(&second));
    assert_eq!(debs(&dir), names, "a second fetch downloads nothing");
    assert_eq!(std::fs::metadata(dir.join(kernel)).and_then(|m| m.modified()).expect("mtime"), modified);
}

#[test]
fn fetch_without_apt_names_the_command_and_fails_with_its_exit_code() {
    let project = Project::new("vm-fetch-no-apt");
    let empty = project.dir.join("empty-path");
    std::fs::create_dir_all(&empty).expect("dir");
    let output = project
        .command(&["vm", "fetch", "--update"])
        .env("IMGX_VM_PACKAGES", project.dir.join("packages"))
        .env("PATH", &empty)
        .output()
        .expect("imgx runs");
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    let report = stderr(&output);
    assert!(report.contains("apt-cache depends linux-image-cloud-amd64"), "{report}");
    assert!(!report.contains("panicked"), "{report}");
}

#[test]
fn shell_without_a_disk_is_a_usage_error() {
    let project = Project::new("vm-shell-no-disk");
    let output = project.imgx(&["vm", "shell"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("./result is not a disk image file"), "{}", stderr(&output));
}

/// Reads a child's standard output on a thread, chunk by chunk.
fn reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Collects output into `seen` until it contains `text`, or panics after
/// `timeout` with what was seen.
fn wait_for(receiver: &mpsc::Receiver<Vec<u8>>, seen: &mut String, text: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !seen.contains(text) {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => panic!("no {text:?} within {timeout:?}; the console showed:\n{seen}"),
        }
    }
}

fn sha256(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).expect("read the disk")).to_vec()
}

#[test]
fn shell_boots_the_vm_with_the_image_mounted_and_never_writes_the_disk() {
    let project = busybox_project("vm-shell");
    let built = project.imgx(&["build", "-A", "base"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let disk = project.dir.join("result");
    let before = sha256(&disk);

    // No DISK argument: ./result is the default.
    let mut child = project
        .command(&["vm", "shell", "--memory", "256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("imgx runs");
    let console = reader(child.stdout.take().expect("stdout"));
    let errors = reader(child.stderr.take().expect("stderr"));
    let mut stdin = child.stdin.take().expect("stdin");
    let mut seen = String::new();
    let finish = |child: &mut std::process::Child| {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(&console, &mut seen, "exit to power off", Duration::from_secs(300));
        assert!(seen.contains("chrooted"), "the image has /bin/sh, so the shell runs in it:\n{seen}");
        stdin
            .write_all(b"cat /etc/marker; echo scribble > /etc/scribble; sync; echo done-$((6 * 7))\n")
            .expect("write to the console");
        wait_for(&console, &mut seen, "done-42", Duration::from_secs(120));
        stdin.write_all(b"exit\n").expect("write to the console");
    }));
    if result.is_err() {
        let _ = child.kill();
    }
    let status = finish(&mut child);
    let mut errors_text = String::new();
    while let Ok(bytes) = errors.recv_timeout(Duration::from_millis(100)) {
        errors_text.push_str(&String::from_utf8_lossy(&bytes));
    }
    if let Err(panic) = result {
        eprintln!("imgx's standard error:\n{errors_text}");
        std::panic::resume_unwind(panic);
    }
    while let Ok(bytes) = console.recv_timeout(Duration::from_millis(100)) {
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
    let status = status.unwrap_or_else(|| panic!("the VM did not power off after exit:\n{seen}\n{errors_text}"));
    assert!(status.success(), "imgx vm shell: {status}\n{errors_text}");
    assert!(seen.contains("marker-from-the-image"), "the image's file on the console:\n{seen}");
    assert!(seen.contains("the shell exited with status 0"), "{seen}");
    assert_eq!(sha256(&disk), before, "the disk is unchanged, though the shell wrote to it");
}

#[test]
fn a_failed_run_step_streams_its_log_and_keeps_its_disk() {
    let project = busybox_project("vm-keep-failed");
    let output = project.imgx(&["build", "--json", "--keep-failed", "-A", "partial"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let events = events(&output);
    let position = |pred: &dyn Fn(&serde_json::Value) -> bool| events.iter().position(pred);
    let failed = position(&|e| e["event"] == "failed" && e["step"]["name"] == "partial").expect("a failed event");
    let line = |text: &'static str| {
        move |e: &serde_json::Value| {
            e["event"] == "log"
                && e["step"]["name"] == "partial"
                && e["line"].as_str().is_some_and(|l| l.contains(text))
        }
    };
    let script_line = position(&line("writing-the-partial-file")).expect("the script's output as a log event");
    let console_line = position(&line("[vm] imgx-vm: running the script")).expect("the VM's console as log events");
    assert!(console_line < script_line && script_line < failed, "log events come as the step runs, before it fails");
    assert!(events[failed]["error"].as_str().is_some_and(|e| e.contains("status 4")), "{}", events[failed]);

    let kept = PathBuf::from(events[failed]["kept"].as_str().expect("the kept path in the failed event"));
    assert!(kept.is_file(), "the failed disk is kept at {}", kept.display());
    assert!(stderr(&output).contains(&kept.display().to_string()), "the report names it: {}", stderr(&output));
    let table: serde_json::Value =
        serde_json::from_str(&ok("sfdisk", &["-J", kept.to_str().expect("utf-8")])).expect("sfdisk -J");
    let partition = &table["partitiontable"]["partitions"][0];
    let (start, size) = (partition["start"].as_u64().expect("start"), partition["size"].as_u64().expect("size"));
    let root = project.dir.join("root.ext4");
    ok(
        "dd",
        &[
            &format!("if={}", kept.display()),
            &format!("of={}", root.display()),
            "bs=512",
            &format!("skip={start}"),
            &format!("count={size}"),
            "conv=sparse",
            "status=none",
        ],
    );
    let partial = ok("debugfs", &["-R", "cat /etc/partial", root.to_str().expect("utf-8")]);
    assert_eq!(partial.trim(), "partial", "the script's write is on the kept disk");

    // Without --keep-failed nothing is kept.
    let again = project.imgx(&["build", "--json", "-A", "partial"]);
    assert_eq!(again.status.code(), Some(3));
    let failed = self::events(&again).into_iter().find(|e| e["event"] == "failed").expect("failed");
    assert!(failed["kept"].is_null(), "{failed}");
}

#[test]
fn print_build_logs_prints_each_line_after_its_step_name() {
    let project = busybox_project("vm-print-logs");
    let quiet = project.imgx(&["build", "-A", "vm", "--no-out-link"]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("build-vm> "), "no log lines without -L: {}", stderr(&quiet));
    let store = project.store.clone();
    std::fs::remove_dir_all(&store).expect("a fresh store");
    let loud = project.imgx(&["build", "-A", "vm", "--no-out-link", "-L"]);
    assert!(loud.status.success(), "{}", stderr(&loud));
    let report = stderr(&loud);
    assert!(report.contains("build-vm> kernel 6."), "{report}");
    assert!(report.contains("build-vm> modules in load order: "), "{report}");
}
