//! Every example under `examples/` builds, and builds to the same bytes:
//! each one is built twice, from two copies of the folder into two stores
//! that start empty, with different umasks, time zones and clocks (the
//! second build runs under `faketime`, half a day ahead), and every step's
//! output hash must be the same. The examples are found by listing the
//! folder, so a new one is covered without changing this file; one that
//! cannot be built here (a tool or a VM image is missing) fails the test.
//!
//! An example without steps (one that only shows the language) is
//! evaluated instead, under the same two settings, and must print the same.
//! Examples that are functions get their arguments from [`arguments`].
//! Each built example then passes `imgx build --check --check-deps --vary
//! all` in the first store: every step rebuilt once more, under other
//! umasks, time zones, locales, environments and CPU counts, must give the
//! same bytes.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::stderr;

/// How one of the two builds runs.
struct Setting {
    /// Folder of this setting's copy of the examples, and of its store.
    root: PathBuf,
    umask: &'static str,
    tz: &'static str,
    /// A `faketime -f` offset from the real clock, if any.
    clock: Option<&'static str>,
}

impl Setting {
    fn new(root: PathBuf, umask: &'static str, tz: &'static str, clock: Option<&'static str>) -> Setting {
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(&root).status();
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("mkdir");
        let copied = Command::new("cp").arg("-R").arg(examples_dir()).arg(root.join("examples")).status();
        assert!(copied.expect("cp runs").success(), "copying the examples");
        Setting { root, umask, tz, clock }
    }

    fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Runs imgx with `args` in this setting's copy of the examples.
    fn imgx(&self, args: &[&str]) -> Output {
        self.imgx_with_store(&self.store(), args)
    }

    /// Runs imgx with `args` in this setting's copy of the examples and
    /// another store: for what an example takes as its arguments, which
    /// must not be in the store whose steps are compared.
    fn imgx_with_store(&self, store: &Path, args: &[&str]) -> Output {
        let mut command = Command::new("sh");
        // sh -c 'umask …; exec "$@"' sh [faketime -f OFFSET] imgx ARGS…
        command.arg("-c").arg(format!("umask {}; exec \"$@\"", self.umask)).arg("sh");
        if let Some(offset) = self.clock {
            command.args(["faketime", "-f", offset]);
        }
        command
            .arg(env!("CARGO_BIN_EXE_imgx"))
            .args(args)
            .current_dir(self.root.join("examples"))
            .env("IMGX_STORE", store)
            .env("TZ", self.tz)
            .env("NO_COLOR", "1");
        command.output().expect("sh runs")
    }
}

impl Drop for Setting {
    fn drop(&mut self) {
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(&self.root).status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Every `examples/*.nix`, by file name, sorted.
fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .expect("examples/ is readable")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".nix"))
        .collect();
    names.sort();
    names
}

/// What one build of an example gave.
#[derive(Debug, PartialEq)]
enum Result {
    /// Every step's output: input key → (kind and name, output object).
    Built(BTreeMap<String, (String, String)>),
    /// An example without steps: what `imgx eval --strict` prints.
    Evaluated(String),
}

/// The command-line arguments an example takes, made in `setting`'s copy
/// of the examples: `derivative.nix` starts from hello's disk, and
/// `container.nix` from an OCI archive that `container/make-archive`
/// writes from the build VM's busybox package.
fn arguments(setting: &Setting, example: &str) -> Vec<String> {
    let examples = setting.root.join("examples");
    let (name, file) = match example {
        "derivative.nix" => {
            let store = setting.root.join("prerequisites");
            let output = setting.imgx_with_store(&store, &["build", "hello.nix", "-A", "image.raw", "-o", "hello.raw"]);
            assert!(output.status.success(), "hello.nix's disk, for derivative.nix: {}", stderr(&output));
            ("base", "hello.raw")
        }
        "container.nix" => {
            let busybox = std::fs::read_dir(support::vm_package_dir())
                .expect("the VM's packages (scripts/deps --test fetches them)")
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .find(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("busybox-static_")))
                .expect("a busybox-static package");
            let made = Command::new(examples.join("container").join("make-archive"))
                .arg(&busybox)
                .arg("oci.tar")
                .current_dir(&examples)
                .status();
            assert!(made.expect("python3 runs make-archive").success(), "container/make-archive");
            ("archive", "oci.tar")
        }
        _ => return Vec::new(),
    };
    let b3sum = Command::new("b3sum").arg("--no-names").arg(file).current_dir(&examples).output().expect("b3sum runs");
    assert!(b3sum.status.success(), "b3sum {file}");
    let hash = format!("blake3:{}", String::from_utf8_lossy(&b3sum.stdout).trim());
    ["--arg", name, &format!("./{file}"), "--argstr", "hash", &hash].map(str::to_string).to_vec()
}

/// Rebuilds every step of an example that `setting` has built, varying
/// what a build must not depend on, and fails unless each output is the
/// same bytes again (`imgx build --check --check-deps --vary all`).
fn check(setting: &Setting, example: &str) {
    let mut args: Vec<String> =
        ["build", "--check", "--check-deps", "--vary", "all", "--no-out-link", example].map(str::to_string).to_vec();
    args.extend(arguments(setting, example));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = setting.imgx(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{example} fails the check:\n{stdout}{}", stderr(&output));
    assert!(stdout.contains("every output rebuilt bit for bit"), "{example}: {stdout}");
}

fn build(setting: &Setting, example: &str) -> Result {
    let mut args: Vec<String> = ["build", "--json", "--no-out-link", example].map(str::to_string).to_vec();
    args.extend(arguments(setting, example));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = setting.imgx(&args);
    let report = stderr(&output);
    if output.status.code() == Some(1) && report.contains("contains no steps to build") {
        let output = setting.imgx(&["eval", "--strict", example]);
        assert!(output.status.success(), "{example} does not evaluate: {}", stderr(&output));
        return Result::Evaluated(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    assert!(output.status.success(), "{example} does not build (umask {}): {report}", setting.umask);
    let mut steps = None;
    let mut outputs = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("--json prints JSON lines");
        if event["event"] == "evaluated" {
            steps = event["steps"].as_u64();
        }
        if let Some(object) = event["output"].as_str() {
            let step = &event["step"];
            let key = step["key"].as_str().expect("a step key").to_string();
            let what = format!("{} {}", step["kind"].as_str().unwrap_or("?"), step["name"].as_str().unwrap_or("?"));
            outputs.insert(key, (what, object.to_string()));
        }
    }
    let steps = steps.expect("an evaluated event");
    assert_eq!(outputs.len() as u64, steps, "{example}: every step reports its output: {outputs:?}");
    Result::Built(outputs)
}

#[test]
fn every_example_builds_to_the_same_bytes_twice() {
    let faketime = Command::new("faketime").args(["-f", "+1h", "true"]).status();
    assert!(
        faketime.is_ok_and(|status| status.success()),
        "faketime is needed to build at another time of day (scripts/deps --test installs it)"
    );
    let names = examples();
    assert!(names.iter().any(|name| name == "scratch.nix"), "examples/ is listed: {names:?}");
    let base = std::env::temp_dir().join(format!("imgx-examples-{}", std::process::id()));
    let mut built = 0;
    for name in &names {
        // Each example in stores of its own, so that every step it has is
        // built (and reported) here, not found from an earlier example.
        let folder = base.join(name.trim_end_matches(".nix"));
        let first = Setting::new(folder.join("a"), "022", "UTC", None);
        let second = Setting::new(folder.join("b"), "077", "Pacific/Kiritimati", Some("+12.5h"));
        let one = build(&first, name);
        let two = build(&second, name);
        assert_eq!(one, two, "{name} gave different outputs in two stores, at two times, with two umasks");
        if let Result::Built(outputs) = &one {
            built += outputs.len();
            check(&first, name);
        }
        // And every object in both stores is what its hash says.
        for setting in [&first, &second] {
            let output = setting.imgx(&["store", "verify"]);
            assert!(output.status.success(), "{}", stderr(&output));
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(text.contains(" 0 corrupt"), "{text}");
        }
    }
    assert!(built > 0, "no example built anything");
    let _ = std::fs::remove_dir_all(base);
}

/// The names of the steps a `--json` build built (not those it found).
fn built_steps(output: &Output) -> Vec<String> {
    let mut names: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "built")
        .map(|event| {
            format!(
                "{} {}",
                event["step"]["kind"].as_str().unwrap_or("?"),
                event["step"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    names.sort();
    names
}

#[test]
fn editing_hello_s_last_step_rebuilds_that_step_the_conversion_and_the_boot() {
    let project = support::Project::new("hello-edit");
    let source = std::fs::read_to_string(examples_dir().join("hello.nix")).expect("hello.nix");
    project.write("hello.nix", &source);
    let output = project.imgx(&["build", "--json", "hello.nix"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let first = built_steps(&output);
    for step in ["run hello-run", "convert hello.qcow2", "testBoot test-boot", "run hello-busybox", "disk hello"] {
        assert!(first.iter().any(|s| s == step), "the first build built {step}: {first:?}");
    }

    let last_step = "(imgx.run \"echo 'Hello from imgx!' > /etc/motd\")";
    assert!(source.contains(last_step), "hello.nix's last step is {last_step}");
    let edited =
        source.replace(last_step, "(imgx.run \"echo 'Hello from imgx!' > /etc/motd; echo edited >> /etc/motd\")");
    project.write("hello.nix", &edited);
    let output = project.imgx(&["build", "--json", "hello.nix"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        built_steps(&output),
        ["convert hello.qcow2", "run hello-run", "testBoot test-boot"],
        "only the edited step and what follows it rebuilt"
    );
    let console = std::fs::read(project.dir.join("result")).expect("the boot's console log");
    assert!(String::from_utf8_lossy(&console).contains("Hello from imgx!"), "the edited image boots");
}
