//! A real S3-compatible server on 127.0.0.1 for the tests: s3s-fs (from
//! crates.io, `scripts/deps --test` installs it), which keeps each object
//! as a file under its root (`<root>/<bucket>/<key>`). Stopped when
//! dropped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "imgx-test";
/// The secret key the server accepts.
pub const SECRET_KEY: &str = "imgx-test-secret-key";

/// s3s-fs serving `root` on a free port, with one bucket.
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    pub root: PathBuf,
}

impl S3Server {
    /// Starts the server with its data in `root` and creates `bucket`.
    pub fn start(root: &Path, bucket: &str) -> S3Server {
        std::fs::create_dir_all(root.join(bucket)).expect("bucket folder");
        let port = super::nginx::free_port();
        let log = std::fs::File::create(root.with_extension("log")).expect("s3s-fs log");
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("s3s-fs starts (scripts/deps --test installs it with cargo install)");
        let mut server = S3Server { child: Some(child), port, root: root.to_path_buf() };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(Ok(Some(status))) = server.child.as_mut().map(|c| c.try_wait()) {
                panic!("s3s-fs exited ({status})");
            }
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The `s3://` URL of `bucket/prefix` on this server.
    pub fn url(&self, bucket_and_prefix: &str) -> String {
        format!("s3://{bucket_and_prefix}?endpoint=http://127.0.0.1:{}&region=us-east-1", self.port)
    }

    /// The environment variables that hold the credentials.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()), ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into())]
    }

    /// Stops the server (its port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `$IMGX_TEST_S3S_FS`, else `s3s-fs` on the PATH, else cargo's bin folder.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("IMGX_TEST_S3S_FS").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|p| p.join("s3s-fs")).find(|p| p.is_file()))
        .unwrap_or_default();
    on_path.unwrap_or_else(|| {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .unwrap_or_default();
        home.join("bin/s3s-fs")
    })
}
