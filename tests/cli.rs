//! The `imgx eval` command line as a user meets it: exit codes, the shape
//! of error reports, search paths, JSON output and deep recursion.

use std::path::Path;
use std::process::{Command, Output};

fn imgx(args: &[&str]) -> Output {
    imgx_in(args, Path::new(env!("CARGO_MANIFEST_DIR")), &[])
}

fn imgx_in(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imgx"));
    command.args(args).current_dir(dir).env_remove("IMGX_PATH").env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("imgx runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn check_eval(expr: &str, expected: &str) {
    let output = imgx(&["eval", "--strict", "--expr", expr]);
    assert!(output.status.success(), "{expr}: {}", stderr(&output));
    assert_eq!(stdout(&output).trim_end(), expected, "{expr}");
}

fn check_error(expr: &str, expected_fragments: &[&str]) {
    let output = imgx(&["eval", "--strict", "--expr", expr]);
    assert_eq!(output.status.code(), Some(1), "{expr} should fail with exit code 1");
    let report = stderr(&output);
    assert!(!report.contains("panicked"), "{expr} panicked: {report}");
    for fragment in expected_fragments {
        assert!(report.contains(fragment), "{expr}: report lacks {fragment:?}:\n{report}");
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("imgx-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn all_syntax_errors_are_reported_with_their_places() {
    let dir = temp_dir("syntax");
    std::fs::write(dir.join("broken.nix"), "{\n  a = ;\n  b = 1 +;\n}\n").expect("write");
    let output = imgx_in(&["eval", "broken.nix"], &dir, &[]);
    assert_eq!(output.status.code(), Some(1));
    let report = stderr(&output);
    assert!(report.contains("broken.nix:2:"), "first error's line:\n{report}");
    assert!(report.contains("broken.nix:3:"), "second error's line:\n{report}");
    assert!(report.contains("syntax error"), "{report}");
}

#[test]
fn evaluation_errors_name_the_problem_and_the_place() {
    check_error("{ alpha = 1; }.alpah", &["attribute 'alpah' missing", "did you mean 'alpha'?", "«string»:1:"]);
    check_error("let f = { x, y }: x; in f { x = 1; }", &["called without required argument 'y'"]);
    check_error("({ x }: x) { x = 1; z = 2; }", &["called with unexpected argument 'z'"]);
    check_error("let x = x; in x", &["infinite recursion encountered"]);
    check_error("[ 1 ] // { }", &["value is a list while a set was expected"]);
    check_error("9223372036854775807 + 1", &["integer overflow"]);
    check_error("assert 1 == 2; 3", &["assertion '(1 == 2)' failed"]);
    check_error("undefinedThing", &["undefined variable 'undefinedThing'"]);
    check_error("builtins.length (builtins.genList (x: x) 223372036854775807)", &["out of memory"]);
}

#[test]
fn cyclic_values_and_self_returning_functors_end_in_an_error() {
    // Found by fuzzing: each once crashed or ran out of memory.
    for expr in [
        "let x = [ x ]; in toString x",
        "let x = { outPath = x; }; in \"${x}\"",
        "\"${{ __toString = s: s; }}\"",
        "{ __functor = s: s; } 1",
        "let x = { __functor = x; }; in x 1",
        "let x = [ x ]; y = [ y ]; in x == y",
        "let x = { a = x; }; y = { a = y; }; in x == y",
        "let x = [ x ]; y = [ y ]; in x < y",
        "let x = [ x ]; in builtins.toJSON x",
    ] {
        check_error(expr, &[]);
    }
}

#[test]
fn a_line_of_garbage_gives_a_bounded_report() {
    let garbage = format!("[ {}]", "\u{ff} ".repeat(2000));
    let output = imgx(&["eval", "--expr", &garbage]);
    assert_eq!(output.status.code(), Some(1));
    let report = stderr(&output);
    assert!(report.contains("more syntax errors"), "{}", &report[..report.len().min(2000)]);
    assert!(report.len() < 200_000, "the report stays small ({} bytes)", report.len());
}

#[test]
fn frames_show_how_evaluation_got_to_the_error() {
    let output = imgx(&["eval", "--expr", "let inner = x: x.missing; outer = y: inner y; in outer { }"]);
    let report = stderr(&output);
    assert!(report.contains("while calling function 'inner'"), "{report}");
    assert!(report.contains("while calling function 'outer'"), "{report}");
    let inner = report.find("function 'inner'").expect("inner frame");
    let outer = report.find("function 'outer'").expect("outer frame");
    assert!(inner < outer, "frames are innermost first:\n{report}");
}

#[test]
fn long_frame_chains_are_summarised() {
    let output = imgx(&[
        "eval",
        "--expr",
        "let f = n: if n == 0 then throw \"bottom\" else [ (f (n - 1)) ]; in builtins.deepSeq (f 200) 1",
    ]);
    let report = stderr(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(report.contains("bottom"), "{report}");
    assert!(report.lines().count() < 80, "a deep chain stays readable ({} lines):\n{report}", report.lines().count());
}

#[test]
fn recursion_a_hundred_thousand_calls_deep_evaluates() {
    check_eval("let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 100000", "100000");
}

#[test]
fn runaway_recursion_is_an_error_not_a_crash() {
    check_error("let f = x: f x; in f 1", &["stack overflow", "nested more than"]);
}

#[test]
fn json_output_follows_to_json() {
    let output = imgx(&["eval", "--json", "--expr", "{ b = [ 1 2.5 null ]; a = \"x\\ny\"; }"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim_end(), r#"{"a":"x\ny","b":[1,2.5,null]}"#);
}

#[test]
fn lazy_printing_shows_unevaluated_values_as_code() {
    let output = imgx(&["eval", "--expr", "{ a = 1 + 1; b = 2; }"]);
    assert_eq!(stdout(&output).trim_end(), "{ a = <CODE>; b = 2; }");
}

#[test]
fn attribute_selection_with_dash_a() {
    let output = imgx(&["eval", "-A", "x.y", "--expr", "{ x = { y = 42; }; }"]);
    assert_eq!(stdout(&output).trim_end(), "42");
    let output = imgx(&["eval", "-A", "x.z", "--expr", "{ x = { y = 42; }; }"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("attribute 'z' missing"));
}

#[test]
fn search_path_from_flags_and_environment() {
    let dir = temp_dir("search");
    std::fs::create_dir_all(dir.join("lib")).expect("mkdir");
    std::fs::write(dir.join("lib/default.nix"), "{ answer = 42; }").expect("write");
    let lib = dir.join("lib");
    let flag = format!("mylib={}", lib.display());
    let output = imgx_in(&["eval", "-I", &flag, "--expr", "(import <mylib>).answer"], &dir, &[]);
    assert_eq!(stdout(&output).trim_end(), "42", "{}", stderr(&output));
    let env_value = format!("mylib={}", lib.display());
    let output = imgx_in(&["eval", "--expr", "(import <mylib>).answer"], &dir, &[("IMGX_PATH", &env_value)]);
    assert_eq!(stdout(&output).trim_end(), "42", "{}", stderr(&output));
    let output = imgx_in(&["eval", "--expr", "<nothere>"], &dir, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("was not found in the Nix search path"));
}

#[test]
fn relative_paths_resolve_against_the_file() {
    let dir = temp_dir("relative");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("sub/data.txt"), "payload").expect("write");
    std::fs::write(dir.join("sub/main.nix"), "builtins.readFile ./data.txt").expect("write");
    let output = imgx_in(&["eval", "sub/main.nix"], &dir, &[]);
    assert_eq!(stdout(&output).trim_end(), "\"payload\"", "{}", stderr(&output));
}

#[test]
fn missing_file_is_a_clear_error() {
    let dir = temp_dir("missing");
    let output = imgx_in(&["eval", "nope.nix"], &dir, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("No such file or directory"), "{}", stderr(&output));
}

#[test]
fn bad_usage_exits_with_code_two() {
    let output = imgx(&["eval"]);
    assert_eq!(output.status.code(), Some(2));
    let output = imgx(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_main_example_evaluates() {
    let output = imgx(&["eval", "-A", "image.name", "examples/hello.nix"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "\"hello.qcow2\"");
}
