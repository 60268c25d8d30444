//! Runs the language conformance corpus in `tests/lang/` through the real
//! `imgx eval --strict` binary.
//!
//! * `eval-okay-NAME.nix` must print exactly `eval-okay-NAME.exp`.
//! * `eval-fail-NAME.nix` must exit with code 1 and an error containing the
//!   text of `eval-fail-NAME.exp-err`, without panicking.
//!
//! Every case runs; the test fails at the end with the list of failures.

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lang")
}

fn cases(prefix: &str) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/lang exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && name.ends_with(".nix")
        })
        .collect();
    cases.sort();
    cases
}

fn run_imgx(case: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_imgx"))
        .args(["eval", "--strict"])
        .arg(case.file_name().expect("case has a name"))
        .current_dir(corpus_dir())
        .env_remove("IMGX_PATH")
        .env("NO_COLOR", "1")
        .output()
        .expect("imgx runs")
}

fn expectation(case: &Path, extension: &str) -> String {
    let path = case.with_extension(extension);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn okay_cases_print_what_nix_prints() {
    let cases = cases("eval-okay-");
    assert!(!cases.is_empty(), "the corpus has okay cases");
    let mut failures = Vec::new();
    for case in &cases {
        let output = run_imgx(case);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let expected = expectation(case, "exp");
        if !output.status.success() || stdout != expected {
            failures.push(format!(
                "{}\n  expected: {}\n  got:      {}\n  stderr:   {}",
                case.file_name().unwrap_or_default().to_string_lossy(),
                expected.trim_end(),
                stdout.trim_end(),
                String::from_utf8_lossy(&output.stderr).lines().take(6).collect::<Vec<_>>().join("\n            "),
            ));
        }
    }
    println!("{} passed, {} failed", cases.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "{} of {} okay cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn fail_cases_fail_with_the_expected_error() {
    let cases = cases("eval-fail-");
    assert!(!cases.is_empty(), "the corpus has fail cases");
    let mut failures = Vec::new();
    for case in &cases {
        let output = run_imgx(case);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = expectation(case, "exp-err");
        let expected = expected.trim();
        let panicked = stderr.contains("panicked");
        if output.status.code() != Some(1) || panicked || !stderr.contains(expected) {
            failures.push(format!(
                "{}\n  expected an error containing: {expected}\n  exit: {:?}\n  stderr: {}",
                case.file_name().unwrap_or_default().to_string_lossy(),
                output.status.code(),
                stderr.lines().take(8).collect::<Vec<_>>().join("\n          "),
            ));
        }
    }
    println!("{} passed, {} failed", cases.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "{} of {} fail cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
