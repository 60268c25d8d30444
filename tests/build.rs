//! `imgx build` end to end: the store, the step graph and the scheduler,
//! through the real binary, each test with its own empty store.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{Project, count_events, events, stderr};

/// A chain: leaf file -> tree containing it -> tree containing that, plus
/// an independent file; the top set builds `top` and `other`.
const CHAIN: &str = r#"
let
  imgx = import <imgx>;
  leaf = imgx.file { name = "leaf"; text = builtins.readFile ./leaf.txt; };
  middle = imgx.directory { name = "middle"; entries = { "etc/leaf" = leaf; }; };
  top = imgx.directory { name = "top"; entries = { "sub" = middle; "static" = ./static.txt; }; };
  other = imgx.file { name = "other"; text = "independent\n"; };
in { inherit top other; }
"#;

fn chain_project(name: &str) -> Project {
    let project = Project::new(name);
    project.write("default.nix", CHAIN);
    project.write("leaf.txt", "version 1\n");
    project.write("static.txt", "static\n");
    project
}

#[test]
fn first_build_builds_everything_and_links_results() {
    let project = chain_project("first");
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 4, "{counts:?}");
    // Targets come in attribute-name order, as nix-build orders them.
    assert_eq!(std::fs::read_to_string(project.dir.join("result")).expect("other"), "independent\n");
    let top = project.dir.join("result-2");
    assert!(std::fs::symlink_metadata(&top).expect("result link").file_type().is_symlink());
    let leaf = std::fs::read_to_string(top.join("sub/etc/leaf")).expect("leaf inside top");
    assert_eq!(leaf, "version 1\n");
    assert_eq!(std::fs::read_to_string(top.join("static")).expect("static file"), "static\n");
}

#[test]
fn a_second_build_does_nothing() {
    let project = chain_project("noop");
    assert!(project.build_events(&[]).0.status.success());
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 0, "{counts:?}");
    assert_eq!(events(&counts, "started"), 0, "{counts:?}");
    assert_eq!(events(&counts, "cached"), 2, "only the targets are looked at: {counts:?}");
}

#[test]
fn changing_a_leaf_rebuilds_exactly_its_ancestors() {
    let project = chain_project("leaf-change");
    assert!(project.build_events(&[]).0.status.success());
    project.write("leaf.txt", "version 2\n");
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 3, "leaf, middle and top rebuild, other does not: {counts:?}");
    assert_eq!(std::fs::read_to_string(project.dir.join("result-2/sub/etc/leaf")).expect("leaf"), "version 2\n");
}

#[test]
fn an_input_rebuilt_identically_rebuilds_nothing_downstream() {
    let project = Project::new("cutoff");
    // The leaf's description changes (its name's case is normalised away),
    // but its output bytes do not: middle and top must be reused.
    project.write(
        "default.nix",
        r#"{ label ? "A" }:
let
  imgx = import <imgx>;
  leaf = imgx.file { name = "leaf-${label}"; text = "same bytes\n"; };
  top = imgx.directory { name = "top"; entries = { "x/y" = leaf; }; };
in top
"#,
    );
    assert!(project.build_events(&[]).0.status.success());
    let (output, counts) = project.build_events(&["--argstr", "label", "B"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1, "only the changed leaf builds: {counts:?}");
    assert_eq!(events(&counts, "cached-by-content"), 1, "top is reused by content: {counts:?}");
}

#[test]
fn touching_or_moving_an_unchanged_path_input_rebuilds_nothing() {
    let project = chain_project("touch");
    assert!(project.build_events(&[]).0.status.success());
    // Rewrite with the same content (new mtime), then move the project.
    project.write("static.txt", "static\n");
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 0, "{counts:?}");
    let moved = project.dir.join("moved");
    std::fs::create_dir_all(&moved).expect("mkdir");
    for name in ["default.nix", "leaf.txt", "static.txt"] {
        std::fs::copy(project.dir.join(name), moved.join(name)).expect("copy");
    }
    let output = project.command(&["build", "--json", "--no-out-link"]).current_dir(&moved).output().expect("runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&count_events(&output), "built"), 0);
}

#[test]
fn two_concurrent_builds_build_each_step_once() {
    let project = Project::new("concurrent");
    let mut text = String::from("let imgx = import <imgx>; in {\n");
    for i in 0..40 {
        text.push_str(&format!("  f{i} = imgx.file {{ name = \"f{i}\"; text = \"{i}\\n\"; }};\n"));
    }
    text.push_str("}\n");
    project.write("default.nix", &text);
    let first = project.command(&["build", "--json", "--no-out-link", "-j", "2"]).spawn_output();
    let second = project.command(&["build", "--json", "--no-out-link", "-j", "2"]).spawn_output();
    let (first, second) = (first.wait_with_output().expect("first"), second.wait_with_output().expect("second"));
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(second.status.success(), "{}", stderr(&second));
    let built = events(&count_events(&first), "built") + events(&count_events(&second), "built");
    assert_eq!(built, 40, "each of the 40 steps is built exactly once across both processes");
}

trait SpawnOutput {
    fn spawn_output(&mut self) -> std::process::Child;
}

impl SpawnOutput for Command {
    fn spawn_output(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("spawn")
    }
}

#[test]
fn a_killed_build_leaves_a_consistent_store() {
    let project = Project::new("killed");
    let mut text = String::from("let imgx = import <imgx>; in [\n");
    for i in 0..1500 {
        text.push_str(&format!("  (imgx.file {{ name = \"f{i}\"; text = builtins.concatStringsSep \"\" (builtins.genList (x: \"{i} \") 2000); }})\n"));
    }
    text.push_str("]\n");
    project.write("default.nix", &text);
    let mut child = project.command(&["build", "--json", "--no-out-link", "-j", "2"]).spawn_output();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = child.kill(); // SIGKILL
    let killed = child.wait_with_output().expect("wait");
    let built_before = events(&count_events(&killed), "built");
    assert!(built_before < 1500, "the kill must land mid-build (built {built_before} before it)");
    let verify = project.imgx(&["store", "verify"]);
    assert!(
        verify.status.success(),
        "verify after kill: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        stderr(&verify)
    );
    let (output, counts) = project.build_events(&["--no-out-link"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let done = events(&counts, "built") + events(&counts, "cached") + events(&counts, "cached-by-content");
    assert_eq!(done, 1500, "every step is realised after the restart: {counts:?}");
}

#[test]
fn a_failing_step_names_itself_and_exits_with_code_three() {
    let project = Project::new("step-fails");
    std::fs::create_dir_all(project.dir.join("somedir")).expect("mkdir");
    project.write("somedir/x", "x");
    project.write("default.nix", "(import <imgx>).file { name = \"wrong\"; source = ./somedir; }\n");
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let report = stderr(&output);
    assert!(report.contains("wrong"), "{report}");
    assert!(report.contains("must be a file"), "{report}");
    assert!(!project.dir.join("result").exists());
}

#[test]
fn invalid_layouts_are_rejected_at_evaluation() {
    let project = Project::new("failing");
    project.write(
        "default.nix",
        r#"let imgx = import <imgx>;
in imgx.directory { name = "tree"; entries = { "a" = imgx.file { name = "x"; text = "1"; }; "a/b" = imgx.file { name = "y"; text = "2"; }; }; }
"#,
    );
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(1), "invalid layouts are rejected at evaluation: {}", stderr(&output));
    assert!(stderr(&output).contains("lies inside entry"), "{}", stderr(&output));
}

#[test]
fn unknown_kinds_and_bad_parameters_point_at_the_description() {
    let project = Project::new("bad-params");
    project.write("default.nix", "builtins.step { kind = \"flie\"; name = \"x\"; }\n");
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("unknown step kind 'flie'"), "{}", stderr(&output));
    assert!(stderr(&output).contains("default.nix"), "{}", stderr(&output));
    project.write("default.nix", "(import <imgx>).file { name = \"x\"; text = \"a\"; source = ./default.nix; }\n");
    let output = project.imgx(&["build"]);
    assert!(stderr(&output).contains("give either 'text' or 'source'"), "{}", stderr(&output));
}

#[test]
fn show_step_graph_log_and_info() {
    let project = chain_project("inspect");
    let shown = project.imgx(&["show-step", "-A", "other"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("show-step prints JSON");
    let (key, step) = json.as_object().and_then(|o| o.iter().next()).expect("one step");
    assert_eq!(step["kind"], "file");
    assert_eq!(step["params"]["text"], "independent\n");
    assert!(!String::from_utf8_lossy(&shown.stdout).contains(project.dir.to_str().expect("utf-8")), "no host paths");

    let graph = project.imgx(&["graph"]);
    let dot = String::from_utf8_lossy(&graph.stdout);
    assert!(dot.starts_with("digraph"), "{dot}");
    assert_eq!(dot.matches("dirty").count(), 4, "{dot}");

    assert!(project.build_events(&[]).0.status.success());
    let graph = project.imgx(&["graph"]);
    let dot = String::from_utf8_lossy(&graph.stdout);
    assert_eq!(dot.matches("dirty").count(), 0, "{dot}");

    let log = project.imgx(&["log", key]);
    assert!(log.status.success(), "{}", stderr(&log));
    assert!(String::from_utf8_lossy(&log.stdout).contains("wrote 12 bytes"));

    let info = project.imgx(&["store", "info", "result"]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("kind:"), "{}", stderr(&info));
}

#[test]
fn gc_keeps_what_out_links_reach() {
    let project = chain_project("gc");
    assert!(project.build_events(&[]).0.status.success());
    std::fs::remove_file(project.dir.join("result")).expect("drop the out-link of `other`");
    let gc = project.imgx(&["store", "gc"]);
    assert!(gc.status.success(), "{}", stderr(&gc));
    let text = String::from_utf8_lossy(&gc.stdout);
    assert!(text.starts_with("deleted "), "{text}");
    assert!(!text.starts_with("deleted 0 "), "unreachable objects are deleted: {text}");
    assert_eq!(std::fs::read_to_string(project.dir.join("result-2/static")).expect("kept"), "static\n");
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1, "only the collected target is rebuilt: {counts:?}");
}

#[test]
fn a_full_disk_is_a_clear_error_and_registers_nothing() {
    // A store on a 2 MiB tmpfs; skipped (with a message) where mounting is not allowed.
    let project = Project::new("full");
    let mount_point = project.dir.join("small");
    std::fs::create_dir_all(&mount_point).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mount_point)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount_point.clone());
    project.write("default.nix", r#"(import <imgx>).file { name = "big"; text = builtins.concatStringsSep "" (builtins.genList (i: "0123456789abcdef") 400000); }"#);
    let output = project
        .command(&["build", "--no-out-link"])
        .env("IMGX_STORE", mount_point.join("store"))
        .output()
        .expect("runs");
    assert_ne!(output.status.code(), Some(0));
    let report = stderr(&output);
    assert!(report.contains("no space left"), "{report}");
    assert!(!report.contains("panicked"), "{report}");
    let objects = std::fs::read_dir(mount_point.join("store/objects")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(objects, 0, "nothing was registered");
    let _ = Path::new("");
}

fn evaluated_from_cache(output: &Output) -> Option<bool> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["event"] == "evaluated")
        .and_then(|event| event["cached"].as_bool())
}

#[test]
fn an_unchanged_description_is_not_evaluated_again() {
    let project = chain_project("eval-cache");
    project.write(
        "default.nix",
        &CHAIN.replace("\"independent\\n\"", "\"independent ${builtins.getEnv \"IMGX_TEST_FLAVOUR\"}\\n\""),
    );
    let build = |flavour: &str| {
        let output = project.command(&["build", "--json"]).env("IMGX_TEST_FLAVOUR", flavour).output().expect("runs");
        assert!(output.status.success(), "{}", stderr(&output));
        (evaluated_from_cache(&output), count_events(&output))
    };
    assert_eq!(build("a").0, Some(false), "first evaluation");
    assert_eq!(build("a").0, Some(true), "nothing changed");
    // A file the evaluation read changes: evaluate again.
    project.write("leaf.txt", "version 2\n");
    let (cached, counts) = build("a");
    assert_eq!(cached, Some(false), "leaf.txt changed");
    assert_eq!(events(&counts, "built"), 3, "{counts:?}");
    assert_eq!(build("a").0, Some(true));
    // Rewriting a file with the same bytes keeps the cache valid.
    project.write("leaf.txt", "version 2\n");
    assert_eq!(build("a").0, Some(true), "same content, new mtime");
    // An environment variable the evaluation read changes.
    let (cached, counts) = build("b");
    assert_eq!(cached, Some(false), "IMGX_TEST_FLAVOUR changed");
    assert_eq!(events(&counts, "built"), 1, "{counts:?}");
    // A file only imported (static.txt) changes.
    project.write("static.txt", "changed\n");
    assert_eq!(build("b").0, Some(false), "an imported path changed");
    let output = project.imgx(&["build", "--json", "--no-eval-cache"]);
    assert_eq!(evaluated_from_cache(&output), Some(false));
}

#[test]
fn a_corrupted_object_is_reported_and_rebuilt() {
    let project = chain_project("corrupt");
    assert!(project.build_events(&[]).0.status.success());
    let object = std::fs::canonicalize(project.dir.join("result")).expect("out-link target");
    let _ = Command::new("chmod").arg("u+w").arg(&object).status();
    let mut bytes = std::fs::read(&object).expect("read object");
    bytes[0] ^= 0xff;
    std::fs::write(&object, &bytes).expect("flip a byte");
    let verify = project.imgx(&["store", "verify", "--report-only"]);
    assert_eq!(verify.status.code(), Some(4), "{}", stderr(&verify));
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(report.contains("corrupt:"), "{report}");
    let repair = project.imgx(&["store", "verify", "--quarantine"]);
    assert_eq!(repair.status.code(), Some(4), "it still reports what it found");
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1, "the corrupted output is rebuilt: {counts:?}");
    assert_eq!(std::fs::read_to_string(project.dir.join("result")).expect("rebuilt"), "independent\n");
    let verify = project.imgx(&["store", "verify"]);
    assert!(verify.status.success());
    // Registration did not wait for the disk; verify says so.
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(report.contains("not yet confirmed on the disk"), "{report}");
}

#[test]
fn a_change_deep_inside_an_imported_tree_is_seen_by_the_evaluation_cache() {
    let project = Project::new("eval-cache-tree");
    project.write("default.nix", "(import <imgx>).directory { name = \"top\"; entries.\"opt\" = ./tree; }\n");
    project.write("tree/a/b/c.txt", "one\n");
    project.write("tree/d.txt", "d\n");
    // Old enough for the tree's metadata to be trusted.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let build = || {
        let output = project.imgx(&["build", "--json"]);
        assert!(output.status.success(), "{}", stderr(&output));
        evaluated_from_cache(&output)
    };
    assert_eq!(build(), Some(false));
    assert_eq!(build(), Some(true), "nothing changed");
    // The same length, three directories down: only the file's own times change.
    project.write("tree/a/b/c.txt", "two\n");
    assert_eq!(build(), Some(false), "a file inside the tree changed");
    assert_eq!(std::fs::read_to_string(project.dir.join("result/opt/a/b/c.txt")).expect("read"), "two\n");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(build(), Some(true));
    project.write("tree/a/new.txt", "");
    assert_eq!(build(), Some(false), "a file was added inside the tree");
}

#[test]
fn a_touched_tree_is_hashed_once_and_then_checked_by_its_metadata_again() {
    let project = Project::new("eval-cache-touch");
    project.write("default.nix", "(import <imgx>).directory { name = \"top\"; entries.\"opt\" = ./tree; }\n");
    project.write("tree/a.txt", "a\n");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(project.imgx(&["build"]).status.success());
    let inputs = || {
        let db = project.store.join("db.sqlite");
        let output = Command::new("sqlite3").arg(&db).arg("SELECT inputs FROM eval_cache").output().expect("sqlite3");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let recorded = inputs();
    assert!(recorded.contains("\"fingerprint\":\""), "{recorded}");
    // New metadata, same content: answered by hashing, then recorded anew.
    let status = Command::new("chmod").arg("-R").arg("u+w").arg(project.dir.join("tree")).status();
    assert!(status.expect("chmod").success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let output = project.imgx(&["build", "--json"]);
    assert_eq!(evaluated_from_cache(&output), Some(true), "{}", stderr(&output));
    let refreshed = inputs();
    assert_ne!(refreshed, recorded, "the observations were not brought up to date");
    let output = project.imgx(&["build", "--json"]);
    assert_eq!(evaluated_from_cache(&output), Some(true));
    assert_eq!(inputs(), refreshed, "a check by metadata changes nothing");
}
