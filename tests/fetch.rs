//! The `fetch` step kind end to end, through the real binary: a real nginx
//! on 127.0.0.1 serves the downloads; Python's `tarfile` and `qemu-img`
//! make the archives and disk images.

mod support;

use imgx_lang::hash_format::{HashAlgo, digest, to_base16, to_sri};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::nginx::{self, Nginx};
use support::{Project, events, stderr};

/// nginx serving `<project>/www` (see `support::nginx`).
fn start_nginx(project: &Project) -> Nginx {
    Nginx::start(&project.dir.join("nginx"), &project.dir.join("www"))
}

/// Deterministic bytes that do not compress.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    to_sri(HashAlgo::Sha256, &digest(HashAlgo::Sha256, bytes))
}

/// A description with one fetch step whose URL is the argument `url`.
fn fetch_by_url(project: &Project, hash: &str, extra: &str) {
    project.write(
        "default.nix",
        &format!(
            "{{ url }}: builtins.step {{ kind = \"fetch\"; name = \"blob\"; inherit url; hash = \"{hash}\"; {extra} }}\n"
        ),
    );
}

fn build_url(project: &Project, url: &str) -> (Output, std::collections::BTreeMap<String, usize>) {
    project.build_events(&["--argstr", "url", url])
}

fn run(command: &mut Command) {
    let output = command.output().expect("runs");
    assert!(output.status.success(), "{command:?}: {}", stderr(&output));
}

fn python(script: &str, dir: &Path) {
    run(Command::new("python3").arg("-c").arg(script).current_dir(dir));
}

/// Every regular file in the store's objects, recursively.
fn object_files(store: &Path) -> Vec<PathBuf> {
    fn walk(path: &Path, found: &mut Vec<PathBuf>) {
        let Ok(meta) = std::fs::symlink_metadata(path) else { return };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), found);
            }
        } else if meta.is_file() {
            found.push(path.to_path_buf());
        }
    }
    let mut found = Vec::new();
    walk(&store.join("objects"), &mut found);
    found
}

#[test]
fn an_http_fetch_checks_its_hash_and_a_mirror_rebuilds_nothing() {
    let project = Project::new("fetch-http");
    let nginx = start_nginx(&project);
    let bytes = noise(300_000, 1);
    std::fs::create_dir_all(project.dir.join("www/a")).expect("mkdir");
    std::fs::write(project.dir.join("www/a/base.img"), &bytes).expect("write");
    std::fs::create_dir_all(project.dir.join("www/mirror")).expect("mkdir");
    std::fs::write(project.dir.join("www/mirror/base-copy.img"), &bytes).expect("write");
    fetch_by_url(&project, &sha256(&bytes), "");

    let (output, counts) = build_url(&project, &nginx.url("a/base.img"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1, "{counts:?}");
    assert_eq!(std::fs::read(project.dir.join("result")).expect("result"), bytes);

    let (output, counts) = build_url(&project, &nginx.url("mirror/base-copy.img"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 0, "another URL, same hash: nothing to build: {counts:?}");
    assert_eq!(events(&counts, "cached"), 1, "{counts:?}");
    assert!(!nginx.access_log().contains("/mirror/"), "the mirror is never asked: {}", nginx.access_log());
    // The download cache is gone once the step succeeded (only its lock file stays).
    let cache = project.store.join("cache/fetch");
    let folders = std::fs::read_dir(&cache).expect("cache").flatten().filter(|e| e.path().is_dir()).count();
    assert_eq!(folders, 0);
}

#[test]
fn a_wrong_hash_fails_with_both_hashes_and_registers_nothing() {
    let project = Project::new("fetch-mismatch");
    let nginx = start_nginx(&project);
    let bytes = noise(100_000, 2);
    std::fs::write(project.dir.join("www/blob.bin"), &bytes).expect("write");
    let declared = sha256(b"something else");
    fetch_by_url(&project, &declared, "");
    let url = nginx.url("blob.bin");
    let (output, counts) = build_url(&project, &url);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 0);
    let got = sha256(&bytes);
    let expected = format!("hash mismatch for {url}: declared {declared}, got {got}; use hash = \"{got}\";");
    assert!(stderr(&output).contains(&expected), "expected {expected:?} in:\n{}", stderr(&output));
    let verify = project.imgx(&["store", "verify"]);
    assert!(verify.status.success(), "{}{}", String::from_utf8_lossy(&verify.stdout), stderr(&verify));
    for file in object_files(&project.store) {
        assert_ne!(std::fs::read(&file).expect("read"), bytes, "{} holds the rejected bytes", file.display());
    }
    assert!(!project.dir.join("result").exists());

    // Pasting the fix makes it build.
    fetch_by_url(&project, &got, "");
    let (output, counts) = build_url(&project, &url);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1);
}

#[test]
fn http_errors_are_clear_and_quick() {
    let project = Project::new("fetch-errors");
    let nginx = start_nginx(&project);
    // Each case declares its own hash: the scheduler records one
    // description per key, so the same fixed-output key with another URL
    // after a failure is refused by the store (reported to the lead).
    fetch_by_url(&project, &sha256(b"404"), "");
    let missing = nginx.url("missing.img");
    let (output, _) = build_url(&project, &missing);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(&format!("fetching {missing} failed: the server answered 404 Not Found")), "{message}");

    fetch_by_url(&project, &sha256(b"refused"), "");
    let refused = format!("http://127.0.0.1:{}/base.img", nginx::free_port());
    let started = Instant::now();
    let (output, _) = build_url(&project, &refused);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(&format!("fetching {refused} failed: connection refused")), "{message}");
    assert!(elapsed < Duration::from_secs(10), "a refused connection took {elapsed:?}");
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let project = Project::new("fetch-resume");
    let nginx = start_nginx(&project);
    let bytes = noise(1_000_000, 3);
    std::fs::write(project.dir.join("www/big.bin"), &bytes).expect("write");
    fetch_by_url(&project, &sha256(&bytes), "");
    let url = nginx.url("slow/big.bin");

    let mut child = project
        .command(&["build", "--json", "--argstr", "url", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let cache = project.store.join("cache/fetch");
    let deadline = Instant::now() + Duration::from_secs(30);
    let partial_len = || -> u64 {
        std::fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| std::fs::metadata(entry.path().join("partial")).ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0)
    };
    while partial_len() < 100_000 {
        assert!(Instant::now() < deadline, "the download never started");
        assert!(child.try_wait().expect("wait").is_none(), "the build ended before it could be interrupted");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill"); // SIGKILL: a crash mid-transfer
    child.wait().expect("wait");
    let kept = partial_len();
    assert!(kept > 0 && kept < bytes.len() as u64, "kept {kept} bytes");

    let (output, counts) = build_url(&project, &url);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1);
    assert_eq!(std::fs::read(project.dir.join("result")).expect("result"), bytes);
    let log = nginx.access_log();
    let resumed = log.lines().any(|line| line.contains(" 206 range=bytes=") && !line.contains("range=bytes=0-"));
    assert!(resumed, "the second attempt asked for the rest with a Range request:\n{log}");
    let logs: String = std::fs::read_dir(project.store.join("logs"))
        .expect("logs")
        .flatten()
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .collect();
    assert!(logs.contains("resuming the download"), "the step log says it resumed:\n{logs}");
}

#[test]
fn file_urls_and_paths() {
    let project = Project::new("fetch-local");
    let bytes = noise(50_000, 4);
    std::fs::write(project.dir.join("local.bin"), &bytes).expect("write");
    let hash = sha256(&bytes);
    let url = format!("file://{}", project.dir.join("local.bin").display());
    project.write(
        "default.nix",
        &format!(
            r#"{{
  byUrl = builtins.step {{ kind = "fetch"; name = "by-url"; url = "{url}"; hash = "{hash}"; }};
  byPath = builtins.step {{ kind = "fetch"; name = "by-path"; path = ./local.bin; hash = "{hash}"; }};
}}
"#
        ),
    );
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Same declaration, same key: one step, built once.
    assert_eq!(events(&counts, "built"), 1, "{counts:?}");
    assert_eq!(std::fs::read(project.dir.join("result")).expect("byPath"), bytes);
    assert_eq!(std::fs::read(project.dir.join("result-2")).expect("byUrl"), bytes);

    // A path with the wrong hash fails like a download.
    project.write(
        "default.nix",
        "builtins.step { kind = \"fetch\"; path = ./local.bin; hash = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; }",
    );
    let (output, _) = project.build_events(&[]);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains(&format!("use hash = \"{hash}\";")), "{}", stderr(&output));
}

#[test]
fn bad_parameters_are_reported_at_evaluation() {
    let project = Project::new("fetch-params");
    for (params, expected) in [
        ("url = \"ftp://x/y\"; hash = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\";", "http://"),
        ("url = \"http://x/y\"; hash = \"sha256-abc\";", "hash"),
        ("url = \"http://x/y\"; hash = \"md5-1B2M2Y8AsgTpgAmY7PhCfg==\";", "too weak"),
        (
            "url = \"http://x/y\"; path = ./default.nix; hash = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\";",
            "not both",
        ),
        (
            "url = \"http://x/y.rar\"; hash = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; unpack = \"rar\";",
            "unknown unpack",
        ),
    ] {
        project.write("default.nix", &format!("builtins.step {{ kind = \"fetch\"; {params} }}\n"));
        let output = project.imgx(&["build", "--no-out-link"]);
        assert_eq!(output.status.code(), Some(1), "{params}: {}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{params}: {}", stderr(&output));
    }
}

/// 8 MiB of mostly zeros, as a raw disk image would be.
fn disk_like() -> Vec<u8> {
    let mut bytes = vec![0u8; 8 << 20];
    bytes[..4096].copy_from_slice(&noise(4096, 5));
    bytes[(5 << 20)..(5 << 20) + 10_000].copy_from_slice(&noise(10_000, 6));
    bytes
}

fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").blocks() * 512
}

#[test]
fn compressed_files_are_decompressed_sparsely() {
    let project = Project::new("fetch-decompress");
    let nginx = start_nginx(&project);
    let bytes = disk_like();
    let www = project.dir.join("www");
    for (tool, ext) in [("xz", "xz"), ("zstd", "zst"), ("gzip", "gz")] {
        let raw = www.join(format!("disk-{ext}.raw"));
        std::fs::write(&raw, &bytes).expect("write");
        run(Command::new(tool).arg("-q").arg(&raw));
        assert!(www.join(format!("disk-{ext}.raw.{ext}")).exists(), "{tool} made its file");
    }
    let compressed = |ext: &str| std::fs::read(www.join(format!("disk-{ext}.raw.{ext}"))).expect("read");
    let (xz, zst, gz) = (compressed("xz"), compressed("zst"), compressed("gz"));
    std::fs::write(project.dir.join("disk.gz"), &gz).expect("write");
    let zst_url = format!("file://{}", www.join("disk-zst.raw.zst").display());
    project.write(
        "default.nix",
        &format!(
            r#"{{ base }}: {{
  a-xz = builtins.step {{ kind = "fetch"; name = "xz"; url = "${{base}}/disk-xz.raw.xz"; hash = "{}"; unpack = true; }};
  b-zst = builtins.step {{ kind = "fetch"; name = "zst"; url = "{zst_url}"; hash = "{}"; unpack = "zst"; }};
  c-gz = builtins.step {{ kind = "fetch"; name = "gz"; path = ./disk.gz; hash = "{}"; unpack = "auto"; }};
}}
"#,
            sha256(&xz),
            sha256(&zst),
            sha256(&gz)
        ),
    );
    let (output, counts) = project.build_events(&["--argstr", "base", nginx.url("").trim_end_matches('/')]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 3, "{counts:?}");
    for result in ["result", "result-2", "result-3"] {
        let path = project.dir.join(result);
        assert!(std::fs::read(&path).expect("result") == bytes, "{result} has the original bytes");
        assert!(allocated(&path) < (1 << 20), "{result} is sparse: {} bytes allocated", allocated(&path));
    }
}

#[test]
fn a_qcow2_image_becomes_a_sparse_raw_disk() {
    let project = Project::new("fetch-qcow2");
    let nginx = start_nginx(&project);
    let raw = project.dir.join("disk.raw");
    let mut bytes = vec![0u8; 64 << 20];
    bytes[..8192].copy_from_slice(&noise(8192, 7));
    bytes[(40 << 20)..(40 << 20) + 65536].copy_from_slice(&noise(65536, 8));
    std::fs::write(&raw, &bytes).expect("write");
    let qcow2 = project.dir.join("www/disk.qcow2");
    std::fs::create_dir_all(qcow2.parent().expect("parent")).expect("mkdir");
    run(Command::new("qemu-img").args(["create", "-q", "-f", "qcow2"]).arg(&qcow2).arg("64M"));
    std::fs::remove_file(&qcow2).expect("rm");
    run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&raw).arg(&qcow2));
    let image = std::fs::read(&qcow2).expect("qcow2");
    assert!(image.starts_with(b"QFI\xfb"));
    fetch_by_url(&project, &sha256(&image), "unpack = true;");
    let (output, counts) = build_url(&project, &nginx.url("disk.qcow2"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1);
    let result = project.dir.join("result");
    assert!(std::fs::read(&result).expect("result") == bytes, "the raw disk has the same content");
    assert_eq!(std::fs::metadata(&result).expect("meta").len(), 64 << 20);
    assert!(allocated(&result) < (4 << 20), "sparse: {} bytes allocated", allocated(&result));
}

/// The lines of a tree's `.imgx-attributes`, parsed.
fn attributes(tree: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(tree.join(".imgx-attributes")).expect(".imgx-attributes");
    text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

fn attribute<'a>(lines: &'a [serde_json::Value], path: &str) -> Option<&'a serde_json::Value> {
    lines.iter().find(|line| line["path"] == path)
}

const ROOTFS_TARBALL: &str = r##"
import io, tarfile
def add(tar, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, link="", pax=None, dev=(0, 0)):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.linkname = kind, mode, uid, gid, link
    info.devmajor, info.devminor = dev
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if pax: info.pax_headers = pax
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open("www/rootfs.tar.gz", "w:gz", format=tarfile.PAX_FORMAT) as tar:
    add(tar, "./", tarfile.DIRTYPE, mode=0o755)
    add(tar, "./etc", tarfile.DIRTYPE, mode=0o755)
    add(tar, "./etc/shadow", data=b"root:*:19000::::::\n", mode=0o640, gid=42)
    add(tar, "./usr/bin/tool", data=b"#!/bin/sh\necho tool\n", mode=0o4755, uid=1000, gid=1000,
        pax={"SCHILY.xattr.user.note": "hello"})
    add(tar, "./usr/bin/tool-again", tarfile.LNKTYPE, link="usr/bin/tool")
    add(tar, "./bin", tarfile.SYMTYPE, link="usr/bin", mode=0o777)
    add(tar, "./dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
    add(tar, "./run/initctl", tarfile.FIFOTYPE, mode=0o600)
"##;

#[test]
fn a_tarball_unpacks_with_its_attributes_as_data() {
    let project = Project::new("fetch-tar");
    let nginx = start_nginx(&project);
    std::fs::create_dir_all(project.dir.join("www")).expect("mkdir");
    python(ROOTFS_TARBALL, &project.dir);
    let tarball = std::fs::read(project.dir.join("www/rootfs.tar.gz")).expect("tarball");
    fetch_by_url(&project, &sha256(&tarball), "unpack = true;");
    let (output, counts) = build_url(&project, &nginx.url("rootfs.tar.gz"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1);
    let tree = project.dir.join("result");
    assert_eq!(std::fs::read_to_string(tree.join("usr/bin/tool")).expect("tool"), "#!/bin/sh\necho tool\n");
    assert_eq!(std::fs::read_to_string(tree.join("usr/bin/tool-again")).expect("link"), "#!/bin/sh\necho tool\n");
    assert_eq!(std::fs::read_link(tree.join("bin")).expect("symlink"), PathBuf::from("usr/bin"));
    assert!(!tree.join("dev/null").exists(), "device nodes are recorded, not created");
    // Nothing was chowned or made set-user-ID on the host.
    let tool = std::fs::metadata(tree.join("usr/bin/tool")).expect("meta");
    assert_eq!(tool.mode() & 0o7000, 0, "no set-user-ID bit on the host");
    assert_eq!(tool.uid(), std::fs::metadata(&project.dir).expect("meta").uid());

    let lines = attributes(&tree);
    let paths: Vec<&str> = lines.iter().map(|l| l["path"].as_str().expect("path")).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "sorted by path");
    assert_eq!(
        paths,
        [
            "bin",
            "dev",
            "dev/null",
            "etc",
            "etc/shadow",
            "run",
            "run/initctl",
            "usr",
            "usr/bin",
            "usr/bin/tool",
            "usr/bin/tool-again"
        ]
    );
    let tool = attribute(&lines, "usr/bin/tool").expect("tool");
    assert_eq!(
        (tool["uid"].as_u64(), tool["gid"].as_u64(), tool["mode"].as_u64()),
        (Some(1000), Some(1000), Some(0o4755))
    );
    assert_eq!(tool["xattrs"]["user.note"], "aGVsbG8=", "the xattr, in base 64");
    assert!(tool.get("type").is_none());
    let shadow = attribute(&lines, "etc/shadow").expect("shadow");
    assert_eq!((shadow["gid"].as_u64(), shadow["mode"].as_u64()), (Some(42), Some(0o640)));
    let null = attribute(&lines, "dev/null").expect("null");
    assert_eq!((null["type"].as_str(), null["rdev"].as_u64()), (Some("char"), Some(259)));
    assert_eq!(attribute(&lines, "run/initctl").expect("fifo")["type"], "fifo");
    let again = attribute(&lines, "usr/bin/tool-again").expect("hard link");
    assert_eq!((again["type"].as_str(), again["target"].as_str()), (Some("hardlink"), Some("usr/bin/tool")));
    assert_eq!(again["uid"], 1000);
}

#[test]
fn a_tarball_escaping_its_directory_is_refused() {
    let project = Project::new("fetch-evil");
    let outside = project.dir.join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    python(
        &format!(
            r#"
import io, tarfile
def entry(tar, name, data=b"evil", link=None):
    info = tarfile.TarInfo(name)
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
    else:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if link is None else None)
with tarfile.open("dotdot.tar", "w") as tar:
    entry(tar, "etc/ok", b"fine")
    entry(tar, "../evil")
with tarfile.open("symlink.tar", "w") as tar:
    entry(tar, "escape", link="{outside}")
    entry(tar, "escape/evil")
"#,
            outside = outside.display()
        ),
        &project.dir,
    );
    for (name, expected) in [("dotdot", "'../evil'"), ("symlink", "under the symbolic link 'escape'")] {
        let tarball = std::fs::read(project.dir.join(format!("{name}.tar"))).expect("tar");
        project.write(
            "default.nix",
            &format!(
                "builtins.step {{ kind = \"fetch\"; path = ./{name}.tar; hash = \"{}\"; unpack = \"tar\"; }}\n",
                sha256(&tarball)
            ),
        );
        let (output, _) = project.build_events(&[]);
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains(expected) && message.contains("path traversal"), "{message}");
    }
    assert!(!project.dir.join("evil").exists() && !outside.join("evil").exists(), "nothing was written outside");
}

#[test]
fn a_stale_partial_download_is_thrown_away() {
    let project = Project::new("fetch-stale");
    let nginx = start_nginx(&project);
    let bytes = noise(200_000, 9);
    std::fs::write(project.dir.join("www/blob.bin"), &bytes).expect("write");
    let hash = sha256(&bytes);
    fetch_by_url(&project, &hash, "");
    // An earlier attempt left the first 1000 bytes of another file.
    let digest = digest(HashAlgo::Sha256, &bytes);
    let folder = project.store.join(format!("cache/fetch/sha256-{}", to_base16(&digest)));
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(folder.join("partial"), noise(1000, 10)).expect("write");
    let (output, counts) = build_url(&project, &nginx.url("blob.bin"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1);
    assert_eq!(std::fs::read(project.dir.join("result")).expect("result"), bytes);
    let log = nginx.access_log();
    assert!(log.contains("206 range=bytes=1000-") && log.contains("200 range=-"), "resumed, then started over:\n{log}");
}

const OCI_LAYOUT: &str = r##"
import gzip, hashlib, io, json, os, tarfile
def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), mtime=0)
def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs("layout/blobs/sha256", exist_ok=True)
    with open("layout/blobs/sha256/" + digest, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}
lower = layer([("etc", None), ("etc/a", b"a\n"), ("etc/b", b"b\n"), ("var", None), ("var/cache", None),
               ("var/cache/x", b"x\n"), ("var/cache/y", b"y\n")])
upper = layer([("etc/.wh.b", b""), ("etc/c", b"c\n"), ("var/cache/.wh..wh..opq", b""), ("var/cache/z", b"z\n")])
config = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode())
config["mediaType"] = "application/vnd.oci.image.config.v1+json"
layers = []
for data in (lower, upper):
    descriptor = blob(data)
    descriptor["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    layers.append(descriptor)
manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": config, "layers": layers}).encode())
manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
with open("layout/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
with open("layout/oci-layout", "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with tarfile.open("image.tar", "w") as tar:
    tar.add("layout", arcname=".")
"##;

#[test]
fn an_oci_layout_yields_the_merged_tree() {
    let project = Project::new("fetch-oci");
    python(OCI_LAYOUT, &project.dir);
    let image = std::fs::read(project.dir.join("image.tar")).expect("image.tar");
    project.write(
        "default.nix",
        &format!("builtins.step {{ kind = \"fetch\"; name = \"image\"; path = ./image.tar; hash = \"{}\"; unpack = \"oci\"; }}\n", sha256(&image)),
    );
    let (output, counts) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(events(&counts, "built"), 1);
    let tree = project.dir.join("result");
    let check = |tree: &Path| {
        assert_eq!(std::fs::read_to_string(tree.join("etc/a")).expect("a"), "a\n");
        assert_eq!(std::fs::read_to_string(tree.join("etc/c")).expect("c"), "c\n");
        assert!(!tree.join("etc/b").exists(), "whited out");
        let cache: Vec<String> = std::fs::read_dir(tree.join("var/cache"))
            .expect("var/cache")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(cache, ["z"], "the opaque directory holds only the upper layer's entries");
        let lines = attributes(tree);
        let paths: Vec<&str> = lines.iter().map(|l| l["path"].as_str().expect("path")).collect();
        assert_eq!(paths, ["etc", "etc/a", "etc/c", "var", "var/cache", "var/cache/z"]);
    };
    check(&tree);

    // The layout as a directory: its hash is the tree hash, which a first
    // build with a placeholder hash tells.
    project.write(
        "default.nix",
        &format!(
            "builtins.step {{ kind = \"fetch\"; name = \"image\"; path = ./layout; hash = \"blake3:{}\"; unpack = \"oci\"; }}\n",
            to_base16(&[0; 32])
        ),
    );
    let (output, _) = project.build_events(&[]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    let fix = message.split("use hash = \"").nth(1).and_then(|rest| rest.split('"').next()).expect("a fix to paste");
    assert!(fix.starts_with("blake3:"), "{message}");
    project.write(
        "default.nix",
        &format!("builtins.step {{ kind = \"fetch\"; name = \"image\"; path = ./layout; hash = \"{fix}\"; unpack = \"oci\"; }}\n"),
    );
    let (output, _) = project.build_events(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    check(&project.dir.join("result"));
}
