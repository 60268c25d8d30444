//! Reproducibility checks: `imgx build --check` rebuilds realised steps and
//! explains how an output differs; `imgx challenge` compares two stores;
//! `imgx store verify` finds an object whose bytes changed, and the next
//! build replaces it. Real tools throughout (debugfs, mtools, sfdisk,
//! qemu-img; QEMU for run steps, whose VM packages `imgx vm fetch` gets).

mod support;

use std::path::{Path, PathBuf};
use support::{Project, busybox_userland, events, stderr};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The JSON events of a `--json` run with the given `event` name.
fn json_events(output: &std::process::Output, event: &str) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| e["event"] == event)
        .collect()
}

/// Step name → (input key, output) of the steps a `--json` build reported.
fn outputs(output: &std::process::Output) -> std::collections::BTreeMap<String, (String, String)> {
    stdout(output)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| e["output"].is_string())
        .map(|e| {
            let name = e["step"]["name"].as_str().unwrap_or("?").to_string();
            let key = e["step"]["key"].as_str().unwrap_or("?").to_string();
            (name, (key, e["output"].as_str().unwrap_or("?").to_string()))
        })
        .collect()
}

/// Points the realisation of `key` at `output`, as a store holds it when a
/// builder started to write other bytes without a new version, or when the
/// output came from another machine: what `--check` exists to find.
fn repoint(store: &Path, key: &str, output: &str) {
    let db = rusqlite::Connection::open(store.join("db.sqlite")).expect("open the database");
    let changed = db
        .execute("UPDATE realisations SET output = ?1 WHERE key = ?2", [output, key])
        .expect("update the realisation");
    assert_eq!(changed, 1, "realisation of {key}");
}

/// A disk with a vfat ESP and an ext4 root holding `motd`, converted to qcow2.
fn disk_description(motd: &str) -> String {
    format!(
        r#"let
  imgx = import <imgx>;
  root = imgx.directory {{ name = "rootfs"; entries."etc/motd" = imgx.file {{ name = "motd"; text = "{motd}\n"; }}; }};
  esp = imgx.directory {{ name = "esp"; entries."loader/loader.conf" = imgx.file {{ name = "loader.conf"; text = "timeout 3\n"; }}; }};
  disk = imgx.disk {{
    name = "disk"; size = "64M"; table = "gpt";
    partitions = [
      {{ label = "ESP"; type = "esp"; size = "33M"; fs = "vfat"; contents = esp; mount = "/boot/efi"; }}
      {{ label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = root; mount = "/"; }}
    ];
  }};
in {{
  inherit disk;
  qcow2 = imgx.convert {{ inherit disk; format = "qcow2"; }};
  packed = imgx.convert {{ inherit disk; format = "qcow2"; name = "packed"; options.compress = true; }};
}}
"#
    )
}

#[test]
fn a_deterministic_build_passes_the_check_with_every_variation() {
    let project = Project::new("check-same");
    project.write("default.nix", &disk_description("hello"));
    let output = project.imgx(&["build", "--check", "--check-deps", "--vary", "all"]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("every output rebuilt bit for bit"), "{text}");
    assert!(text.contains("umask, tz, locale, env"), "the variations are named: {text}");
    assert_eq!(text.lines().count(), 1, "one summary line: {text}");
}

#[test]
fn a_disk_that_rebuilds_differently_is_explained_by_partition_and_file() {
    let project = Project::new("check-disk");
    project.write("other.nix", &disk_description("built elsewhere"));
    project.write("default.nix", &disk_description("hello"));
    let other = project.imgx(&["build", "--json", "--no-out-link", "other.nix"]);
    assert!(other.status.success(), "{}", stderr(&other));
    let mine = project.imgx(&["build", "--json", "--no-out-link"]);
    assert!(mine.status.success(), "{}", stderr(&mine));
    let (other, mine) = (outputs(&other), outputs(&mine));
    // This description's disk is registered with the other one's bytes.
    repoint(&project.store, &mine["disk"].0, &other["disk"].1);

    let output = project.imgx(&["build", "--check", "--check-deps", "--keep", "--diffoscope"]);
    assert_eq!(output.status.code(), Some(1), "{}{}", stdout(&output), stderr(&output));
    let (report, error) = (stdout(&output), stderr(&output));
    assert!(error.contains("the first in dependency order is disk (disk,"), "{error}");
    assert!(report.contains("disk (disk, "), "{report}");
    // The partition table's identifiers, each file system's own metadata,
    // and the file whose content differs, with a diff.
    assert!(report.contains("table: partition table: id:"), "{report}");
    assert!(report.contains("partition 1 (ESP): boot sector: file-system metadata: serial number"), "{report}");
    assert!(report.contains("partition 2 (root): superblock: file-system metadata: Filesystem UUID"), "{report}");
    assert!(report.contains("Directory Hash Seed"), "{report}");
    assert!(report.contains("partition 2 (root): /etc/motd: content"), "{report}");
    assert!(report.contains("-built elsewhere") && report.contains("+hello"), "{report}");
    // The qcow2 rebuilt from the registered (other) disk differs from its
    // own registered output in what the guest sees.
    assert!(report.contains("guest disk (from qcow2): content"), "{report}");
    let kept = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("the rebuilt output is kept at "))
        .map(PathBuf::from)
        .expect("--keep says where");
    assert!(kept.is_file(), "{} exists", kept.display());
    let diffoscope = std::process::Command::new("diffoscope").arg("--version").output().is_ok();
    if !diffoscope {
        assert!(report.contains("diffoscope is not installed"), "{report}");
    }

    // The same as JSON events, one per checked step.
    let json = project.imgx(&["build", "--check", "--json", "-A", "disk"]);
    assert_eq!(json.status.code(), Some(1), "{}", stderr(&json));
    let checks = json_events(&json, "check");
    assert_eq!(checks.len(), 1, "only the requested step without --check-deps");
    assert_eq!(checks[0]["result"], "differs");
    let differences = checks[0]["differences"].as_array().expect("differences");
    assert!(
        differences.iter().any(|d| d["place"] == "partition 2 (root): /etc/motd" && d["aspect"] == "content"),
        "{differences:?}"
    );
    let summary = json_events(&json, "checked");
    assert_eq!(summary[0]["differ"], 1);
    assert_eq!(summary[0]["first"]["name"], "disk");
}

#[test]
fn a_converted_image_that_differs_only_in_its_container_is_told_apart() {
    let project = Project::new("check-container");
    project.write("default.nix", &disk_description("hello"));
    let built = project.imgx(&["build", "--json", "--no-out-link"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let built = outputs(&built);
    // The plain qcow2 registered with the compressed one's bytes: the same
    // guest disk in another container.
    repoint(&project.store, &built["disk.qcow2"].0, &built["packed"].1);
    let output = project.imgx(&["build", "--check", "-A", "qcow2"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(report.contains("qcow2 container: container: the guest sees the same disk"), "{report}");
    assert!(!report.contains("guest disk (from qcow2)"), "{report}");
    assert!(!report.contains("the registered output was built by"), "same builder version: {report}");

    // Registered by an older convert builder: the report says so first.
    let db = rusqlite::Connection::open(project.store.join("db.sqlite")).expect("open the database");
    db.execute("UPDATE realisations SET builder_version = 'convert-1' WHERE key = ?1", [&built["disk.qcow2"].0])
        .expect("update the realisation");
    let output = project.imgx(&["build", "--check", "-A", "qcow2"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(report.contains("the registered output was built by convert-1 and the rebuild by convert-2"), "{report}");
}

/// A run step on a GPT disk whose ext4 root holds a busybox userland.
fn run_project(name: &str, script: &str) -> Project {
    let project = Project::new(name);
    busybox_userland(&project, "tree");
    project.write(
        "default.nix",
        &format!(
            r#"let
  imgx = import <imgx>;
  base = builtins.step {{
    kind = "disk"; name = "base"; size = "128M"; table = "gpt";
    partitions = [ {{ label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = ./tree; mount = "/"; }} ];
  }};
in imgx.run {{ name = "stamp"; disk = base; script = ''{script}''; }}
"#
        ),
    );
    project
}

#[test]
fn a_nondeterministic_run_step_fails_the_check_naming_the_step_and_the_file() {
    let project =
        run_project("check-run-random", "date +%s%N > /etc/stamp; head -c8 /dev/urandom | od -An -tx1 >> /etc/stamp");
    let output = project.imgx(&["build", "--check", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}{}", stdout(&output), stderr(&output));
    assert!(stderr(&output).contains("the first in dependency order is stamp (run,"), "{}", stderr(&output));
    let checks = json_events(&output, "check");
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0]["step"]["name"], "stamp");
    assert_eq!(checks[0]["result"], "differs");
    let differences = checks[0]["differences"].as_array().expect("differences");
    let stamp = differences
        .iter()
        .find(|d| d["place"].as_str().is_some_and(|p| p.ends_with("/etc/stamp")))
        .unwrap_or_else(|| panic!("/etc/stamp is named: {differences:?}"));
    assert_eq!(stamp["aspect"], "content", "{stamp}");
    assert!(stamp["detail"].as_str().is_some_and(|d| d.contains("--- registered")), "a text diff: {stamp}");
}

#[test]
fn the_same_run_step_without_nondeterminism_passes_with_every_variation() {
    let project = run_project("check-run-fixed", "echo 1700000000 > /etc/stamp; echo 00 11 22 >> /etc/stamp");
    let output = project.imgx(&["build", "--check", "--vary", "all"]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("checked 1 step(s): every output rebuilt bit for bit"), "{}", stdout(&output));
}

#[test]
fn a_flipped_byte_is_reported_by_verify_and_the_next_build_replaces_the_object() {
    let project = Project::new("check-verify");
    project.write(
        "default.nix",
        "let imgx = import <imgx>; in imgx.directory { name = \"tree\"; entries.\"etc/motd\" = imgx.file { name = \"motd\"; text = \"hello\\n\"; }; }\n",
    );
    let (output, _) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let motd = std::fs::canonicalize(project.dir.join("result/etc/motd")).expect("motd");
    let object = std::fs::canonicalize(project.dir.join("result")).expect("out-link");
    let _ = std::process::Command::new("chmod").arg("-R").arg("u+w").arg(&object).status();
    let mut bytes = std::fs::read(&motd).expect("read");
    bytes[1] ^= 0x20;
    std::fs::write(&motd, &bytes).expect("flip a byte");

    let verify = project.imgx(&["store", "verify"]);
    assert_eq!(verify.status.code(), Some(4), "{}", stderr(&verify));
    let report = stdout(&verify);
    let name = object.file_name().expect("name").to_string_lossy().into_owned();
    assert!(report.contains(&format!("corrupt: {name}")), "{report}");
    assert!(report.contains("quarantined:"), "{report}");
    assert!(stderr(&verify).contains("the next build replaces them"), "{}", stderr(&verify));

    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1, "the tree is rebuilt, its file step is not: {counts:?}");
    assert_eq!(std::fs::read_to_string(project.dir.join("result/etc/motd")).expect("rebuilt"), "hello\n");
    assert!(project.imgx(&["store", "verify"]).status.success());
}

#[test]
fn challenge_lists_agreements_disagreements_and_one_sided_keys() {
    let project = Project::new("check-challenge");
    let description = |text: &str| {
        format!(
            "let imgx = import <imgx>; in {{ a = imgx.file {{ name = \"a\"; text = \"same\\n\"; }}; b = imgx.file {{ name = \"b\"; text = \"{text}\\n\"; }}; }}\n"
        )
    };
    project.write("default.nix", &description("b"));
    project.write("extra.nix", "(import <imgx>).file { name = \"extra\"; text = \"only here\\n\"; }\n");
    let other_store = project.dir.join("other-store");
    let build_other = project.command(&["build", "--json", "--no-out-link"]).env("IMGX_STORE", &other_store).output();
    let other = build_other.expect("runs");
    assert!(other.status.success(), "{}", stderr(&other));
    let mine = project.imgx(&["build", "--json", "--no-out-link"]);
    assert!(mine.status.success(), "{}", stderr(&mine));
    assert!(project.imgx(&["build", "--no-out-link", "extra.nix"]).status.success());

    let store_arg = other_store.to_string_lossy().into_owned();
    let agree = project.imgx(&["challenge", &store_arg, "default.nix"]);
    assert!(agree.status.success(), "{}{}", stdout(&agree), stderr(&agree));
    assert!(stdout(&agree).contains("2 key(s): 2 agree, 0 disagree"), "{}", stdout(&agree));

    // The other store's b came out differently.
    let mine = outputs(&mine);
    let (key_a, output_a) = &mine["a"];
    let (key_b, _) = &mine["b"];
    repoint(&other_store, key_b, output_a);
    let output = project.imgx(&["challenge", &store_arg, "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let results: Vec<serde_json::Value> = json_events(&output, "challenge");
    let result_of =
        |key: &str| results.iter().find(|e| e["key"] == key).map(|e| e["result"].as_str().unwrap_or("?").to_string());
    assert_eq!(result_of(key_a).as_deref(), Some("agree"));
    assert_eq!(result_of(key_b).as_deref(), Some("disagree"));
    assert!(results.iter().any(|e| e["result"] == "only-local" && e["step"] == "extra (file)"), "{results:?}");
    let text = project.imgx(&["challenge", &store_arg]);
    assert!(stdout(&text).contains("DISAGREE"), "{}", stdout(&text));
    assert!(stderr(&text).contains("have different outputs in the two stores"), "{}", stderr(&text));
}
