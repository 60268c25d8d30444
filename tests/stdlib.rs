//! The bundled library (`import <imgx>`): each function builds what it
//! documents, with the defaults it documents.

mod support;

use support::{Project, count_events, events, stderr};

fn sha256_sri(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    format!("sha256-{}", base64(&digest))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn file_and_directory() {
    let project = Project::new("stdlib-file-dir");
    project.write(
        "default.nix",
        r##"let imgx = import <imgx>; in
imgx.directory { name = "tree"; entries = {
  "bin/hello" = imgx.file { name = "hello"; text = "#!/bin/sh\necho hi\n"; executable = true; };
  "etc/motd" = imgx.file { name = "motd"; source = ./motd; };
}; }
"##,
    );
    project.write("motd", "welcome\n");
    let output = project.imgx(&["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let result = project.dir.join("result");
    assert_eq!(std::fs::read_to_string(result.join("etc/motd")).expect("motd"), "welcome\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(result.join("bin/hello")).expect("hello").permissions().mode();
    assert_ne!(mode & 0o100, 0, "executable = true gives an executable file");
}

#[test]
fn fetch_names_itself_after_its_source_and_convert_after_its_disk() {
    let project = Project::new("stdlib-fetch-convert");
    let disk: Vec<u8> = (0..(1024 * 1024)).map(|i| (i % 251) as u8).collect();
    std::fs::write(project.dir.join("base.raw"), &disk).expect("disk");
    project.write(
        "default.nix",
        &format!(
            r#"let imgx = import <imgx>; base = imgx.fetch {{ path = ./base.raw; hash = "{}"; }}; in
{{ inherit base; image = imgx.convert {{ disk = base; format = "qcow2"; }}; }}
"#,
            sha256_sri(&disk)
        ),
    );
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 2, "{counts:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(r#""name":"base.raw""#), "fetch is named after its path: {text}");
    assert!(text.contains(r#""name":"base.raw.qcow2""#), "convert is named after its disk: {text}");
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(project.dir.join("result-2"))
        .output()
        .expect("qemu-img runs");
    assert!(String::from_utf8_lossy(&info.stdout).contains(r#""format": "qcow2""#));
    let again = project.build_events(&[]);
    assert_eq!(events(&count_events(&again.0), "built"), 0);
}

#[test]
fn wrong_arguments_are_reported_at_the_call() {
    let project = Project::new("stdlib-wrong");
    project.write("default.nix", "(import <imgx>).file { name = \"x\"; txt = \"a\"; }\n");
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(1));
    let report = stderr(&output);
    assert!(report.contains("called with unexpected argument 'txt'"), "{report}");
    assert!(report.contains("did you mean 'text'?"), "{report}");
    assert!(report.contains("default.nix"), "{report}");
}
