//! Helpers shared by the integration tests: a project folder with its own
//! empty store, and the JSON events of `imgx build --json`.

#![allow(dead_code)]

pub mod nginx;
pub mod s3;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A temporary project folder with its own empty store, removed on drop.
pub struct Project {
    pub dir: PathBuf,
    pub store: PathBuf,
}

impl Project {
    pub fn new(name: &str) -> Project {
        let dir = std::env::temp_dir().join(format!("imgx-build-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("project dir");
        let store = dir.join("store");
        Project { dir, store }
    }

    pub fn write(&self, path: &str, text: &str) {
        let path = self.dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_imgx"));
        command.args(args).current_dir(&self.dir).env("IMGX_STORE", &self.store).env("NO_COLOR", "1");
        command
    }

    pub fn imgx(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("imgx runs")
    }

    /// Builds with --json and counts events by kind.
    pub fn build_events(&self, extra: &[&str]) -> (Output, BTreeMap<String, usize>) {
        let mut args = vec!["build", "--json"];
        args.extend_from_slice(extra);
        let output = self.imgx(&args);
        (output.clone(), count_events(&output))
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(&self.dir).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn count_events(output: &Output) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let name = event["event"].as_str().unwrap_or("?").to_string();
        let name = if event["via"] == "content" { format!("{name}-by-content") } else { name };
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn events(counts: &BTreeMap<String, usize>, name: &str) -> usize {
    counts.get(name).copied().unwrap_or(0)
}

/// The folder the bundled library reads the build VM's packages from, as
/// `imgx vm fetch` fills it (`scripts/deps --test` does too).
pub fn vm_package_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("IMGX_VM_PACKAGES").unwrap_or_else(|| {
        var("XDG_CACHE_HOME").unwrap_or_else(|| var("HOME").expect("HOME").join(".cache")).join("imgx").join("vm")
    })
}

/// Writes a busybox userland into `folder` of the project (every applet a
/// link to busybox, from the VM's busybox-static package), so that an
/// image made from it has a `/bin/sh` and run steps chroot into it.
pub fn busybox_userland(project: &Project, folder: &str) {
    let dir = vm_package_dir();
    let deb = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!("the build VM's packages are missing in {} ({e}): run `imgx vm fetch`", dir.display())
        })
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("busybox-static_")))
        .unwrap_or_else(|| panic!("no busybox-static package in {}: run `imgx vm fetch`", dir.display()));
    let tree = project.dir.join(folder);
    let status = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree).status().expect("dpkg-deb runs");
    assert!(status.success(), "dpkg-deb -x {}", deb.display());
    std::fs::create_dir_all(tree.join("etc")).expect("etc");
    let bin = tree.join("bin");
    let list = Command::new(bin.join("busybox")).arg("--list").output().expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| !a.is_empty() && *a != "busybox") {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
    }
}
