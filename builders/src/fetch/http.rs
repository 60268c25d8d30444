//! Downloads over HTTP and HTTPS: timeouts on every phase, retries with
//! backoff, resumption from a partial file, progress in the step log.
//!
//! The download goes to `partial` in a cache folder named by the declared
//! hash (see [`super`]; `<folder>.lock` beside it keeps two builds out of
//! each other's way), so an interrupted attempt, even one whose process
//! was killed, is resumed by the next with a `Range` request. Once all
//! bytes are there and their hash is the declared one, `partial` becomes
//! `complete`; a `complete` file found at the start is rehashed and used
//! as it is. If a resumed download ends with the wrong hash (the file
//! changed on the server, say), it is downloaded once more from the start
//! before the step fails.

use super::hash::{DeclaredHash, StreamHasher, mismatch};
use crate::builder::BuildError;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long establishing a connection (and resolving the host) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long any read or write may wait without progress.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Retries after a connection error or a 5xx answer that made no
/// progress; an attempt that received bytes does not count. A timeout
/// without progress is final (a minute is long enough to wait once).
const RETRIES: u32 = 3;
/// An upper bound on attempts, progress or not.
const MAX_ATTEMPTS: u32 = 30;
/// The first backoff; each further one doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// How often a progress line is written.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// A verified download in the cache, locked until dropped.
pub struct Download {
    /// The complete file, whose hash is the declared one.
    pub path: PathBuf,
    dir: PathBuf,
    _lock: File,
}

impl Download {
    /// Removes the cache folder (once the output is made), still under
    /// the lock, so no other build is filling it meanwhile.
    pub fn remove(self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Downloads `url` into the cache folder `dir` and checks it against
/// `hash`. The folder is locked (by `<dir>.lock`, beside it, never
/// removed) for as long as the returned [`Download`] lives: two steps with
/// the same hash and different unpacking share it.
pub fn download(url: &str, hash: &DeclaredHash, dir: &Path, log: &mut dyn Write) -> Result<Download, BuildError> {
    fs::create_dir_all(dir).map_err(|e| BuildError::io("creating", dir, e))?;
    let mut lock_path = dir.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let lock = File::create(&lock_path).map_err(|e| BuildError::io("creating", &lock_path, e))?;
    lock.lock().map_err(|e| BuildError::io("locking", &lock_path, e))?;
    // Whoever held the lock may have finished and removed the folder.
    fs::create_dir_all(dir).map_err(|e| BuildError::io("creating", dir, e))?;
    let found = |path: PathBuf| Ok(Download { path, dir: dir.to_path_buf(), _lock: lock });
    let complete = dir.join("complete");
    if complete.is_file() {
        let digest =
            super::hash::hash_file(hash.algo, &complete).map_err(|e| BuildError::io("reading", &complete, e))?;
        if digest == hash.digest {
            writeln!(log, "using the complete download kept from an earlier attempt").ok();
            return found(complete);
        }
        fs::remove_file(&complete).map_err(|e| BuildError::io("removing", &complete, e))?;
    }
    let partial = dir.join("partial");
    let agent = http_agent(CONNECT_TIMEOUT, IO_TIMEOUT);
    for pass in 0..2 {
        let (digest, resumed) = transfer(&agent, url, &partial, hash, log)?;
        if digest == hash.digest {
            fs::rename(&partial, &complete).map_err(|e| BuildError::io("renaming", &partial, e))?;
            return found(complete);
        }
        fs::remove_file(&partial).map_err(|e| BuildError::io("removing", &partial, e))?;
        if resumed && pass == 0 {
            writeln!(log, "the resumed download has the wrong hash; downloading it again from the start").ok();
            continue;
        }
        return Err(mismatch(url, hash, &digest));
    }
    unreachable!("the second pass returns")
}

/// imgx's HTTP client (for fetches and for binary caches): `connect`
/// bounds name resolution and connecting, `io` every request, response
/// and read or write; status codes are responses, not errors, so that
/// callers can tell a 404 from a dead server.
pub fn http_agent(connect: Duration, io: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_resolve(Some(connect))
        .timeout_connect(Some(connect))
        .timeout_send_request(Some(io))
        .timeout_recv_response(Some(io))
        .timeout_per_read(Some(io))
        .timeout_per_write(Some(io))
        .http_status_as_error(false)
        .user_agent(concat!("imgx/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The partial file and the hash of what it holds.
struct Partial<'a> {
    path: &'a Path,
    file: File,
    hasher: StreamHasher,
    len: u64,
    /// Whether some of its bytes came before the current connection.
    resumed: bool,
}

impl Partial<'_> {
    /// Empties the file, to download from the start.
    fn reset(&mut self) -> Result<(), BuildError> {
        self.file.set_len(0).map_err(|e| BuildError::io("truncating", self.path, e))?;
        self.file.seek(SeekFrom::Start(0)).map_err(|e| BuildError::io("seeking in", self.path, e))?;
        self.hasher = StreamHasher::new(self.hasher.algo());
        self.len = 0;
        self.resumed = false;
        Ok(())
    }
}

/// Why an attempt ended early.
enum Stop {
    /// Worth retrying; says whether bytes were received.
    Retry(String, bool),
    /// Not worth retrying.
    Fatal(String),
}

/// Fills the partial file to the end, retrying; returns the digest of the
/// whole and whether it was resumed.
fn transfer(
    agent: &ureq::Agent,
    url: &str,
    path: &Path,
    hash: &DeclaredHash,
    log: &mut dyn Write,
) -> Result<(Vec<u8>, bool), BuildError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| BuildError::io("opening", path, e))?;
    let mut hasher = hash.hasher();
    let len = hasher.update_reader(&mut &file).map_err(|e| BuildError::io("reading", path, e))?;
    file.seek(SeekFrom::Start(len)).map_err(|e| BuildError::io("seeking in", path, e))?;
    if len > 0 {
        writeln!(log, "resuming the download of {url} at {} (kept from an interrupted attempt)", bytes(len)).ok();
    }
    let mut partial = Partial { path, file, hasher, len, resumed: len > 0 };
    let mut attempts = 0;
    let mut failures = 0;
    loop {
        attempts += 1;
        match attempt(agent, url, &mut partial, log) {
            Ok(()) => break,
            Err(Stop::Fatal(message)) => return Err(BuildError::Failed(message)),
            Err(Stop::Retry(message, progressed)) => {
                failures = if progressed { 0 } else { failures + 1 };
                if failures > RETRIES || attempts >= MAX_ATTEMPTS {
                    return Err(BuildError::Failed(format!("{message} (gave up after {attempts} attempts)")));
                }
                let delay = FIRST_BACKOFF * 2u32.pow(failures.saturating_sub(1));
                writeln!(log, "attempt {attempts}: {message}; retrying in {:.1} s", delay.as_secs_f64()).ok();
                std::thread::sleep(delay);
            }
        }
    }
    partial.file.sync_all().map_err(|e| BuildError::io("syncing", path, e))?;
    let resumed = partial.resumed;
    Ok((partial.hasher.finish(), resumed))
}

/// What a `Content-Range` header says: `(first byte, total)`.
fn content_range(value: &str) -> Option<(Option<u64>, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = total.trim().parse().ok();
    let first = if range.trim() == "*" { None } else { Some(range.split_once('-')?.0.trim().parse().ok()?) };
    Some((first, total))
}

/// One request: appends what the server sends to the partial file.
fn attempt(agent: &ureq::Agent, url: &str, partial: &mut Partial<'_>, log: &mut dyn Write) -> Result<(), Stop> {
    let offset = partial.len;
    let mut request = agent.get(url);
    if offset > 0 {
        request = request.header("Range", format!("bytes={offset}-"));
    }
    let response = request.call().map_err(|e| classify(url, e))?;
    let status = response.status();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let length: Option<u64> = header("content-length").and_then(|v| v.trim().parse().ok());
    let range = header("content-range").as_deref().and_then(content_range);
    let reason = status.canonical_reason().unwrap_or("");
    let fatal = |message: String| Stop::Fatal(message);
    let io = |e: BuildError| Stop::Fatal(e.to_string());
    let total = match status.as_u16() {
        200 => {
            if offset > 0 {
                writeln!(log, "the server sent the whole file instead of the rest; starting over").ok();
                partial.reset().map_err(io)?;
            }
            length
        }
        206 => match range {
            Some((Some(first), total)) if first == offset => {
                partial.resumed = partial.resumed || offset > 0;
                total.or(length.map(|l| l + offset))
            }
            _ => {
                partial.reset().map_err(io)?;
                return Err(Stop::Retry(format!("{url}: the server answered a range that was not asked for"), false));
            }
        },
        416 if offset > 0 => {
            if let Some((None, Some(total))) = range
                && total == offset
            {
                // Everything was there already.
                return Ok(());
            }
            partial.reset().map_err(io)?;
            return Err(Stop::Retry(format!("{url}: the server refused to resume; starting over"), false));
        }
        408 | 429 | 500..=599 => {
            return Err(Stop::Retry(
                format!("fetching {url} failed: the server answered {} {reason}", status.as_u16()),
                false,
            ));
        }
        code => return Err(fatal(format!("fetching {url} failed: the server answered {code} {reason}"))),
    };
    let mut body = response.into_body().into_reader();
    let mut buffer = vec![0u8; 256 * 1024];
    let started = Instant::now();
    let mut last = started;
    let at_start = partial.len;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let progressed = partial.len > at_start;
                let message = format!("fetching {url} failed while reading: {error}");
                if error.kind() == std::io::ErrorKind::TimedOut && !progressed {
                    return Err(Stop::Fatal(message));
                }
                return Err(Stop::Retry(message, progressed));
            }
        };
        partial.file.write_all(&buffer[..n]).map_err(|e| Stop::Fatal(format!("writing the download: {e}")))?;
        partial.hasher.update(&buffer[..n]);
        partial.len += n as u64;
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            writeln!(log, "{}", progress_line(partial.len, total, partial.len - at_start, started.elapsed())).ok();
        }
    }
    if let Some(total) = total
        && partial.len != total
    {
        let progressed = partial.len > at_start;
        return Err(Stop::Retry(
            format!("{url}: the connection closed after {} of {}", bytes(partial.len), bytes(total)),
            progressed,
        ));
    }
    let elapsed = started.elapsed();
    writeln!(
        log,
        "downloaded {url}: {} in {:.1} s ({}/s)",
        bytes(partial.len),
        elapsed.as_secs_f64(),
        bytes(rate(partial.len - at_start, elapsed))
    )
    .ok();
    Ok(())
}

/// Bytes per second.
fn rate(bytes: u64, elapsed: Duration) -> u64 {
    (bytes as f64 / elapsed.as_secs_f64().max(0.001)) as u64
}

/// `12.0 MiB of 100.0 MiB (12%), 5.1 MiB/s, about 17 s left`.
fn progress_line(done: u64, total: Option<u64>, this_run: u64, elapsed: Duration) -> String {
    let speed = rate(this_run, elapsed);
    match total {
        Some(total) if total > 0 => {
            let left = total
                .saturating_sub(done)
                .checked_div(speed)
                .map(|seconds| format!(", about {seconds} s left"))
                .unwrap_or_default();
            format!("{} of {} ({}%), {}/s{left}", bytes(done), bytes(total), done * 100 / total, bytes(speed))
        }
        _ => format!("{}, {}/s", bytes(done), bytes(speed)),
    }
}

/// A byte count for people.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Words for an error of the HTTP client, and whether to retry.
fn classify(url: &str, error: ureq::Error) -> Stop {
    use std::io::ErrorKind;
    match error {
        ureq::Error::HostNotFound => {
            Stop::Fatal(format!("fetching {url} failed: the host name could not be resolved (DNS lookup failed)"))
        }
        ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => {
            Stop::Retry(format!("fetching {url} failed: connection refused"), false)
        }
        // rustls reports a bad certificate or handshake as invalid data:
        // retrying cannot help.
        ureq::Error::Io(io) if io.kind() == ErrorKind::InvalidData => {
            Stop::Fatal(format!("fetching {url} failed: {io}"))
        }
        // A server that does not answer within a minute is not waited for
        // another three times; a stalled body after progress is retried.
        ureq::Error::Io(io) if io.kind() == ErrorKind::TimedOut => {
            Stop::Fatal(format!("fetching {url} failed: timed out ({io})"))
        }
        ureq::Error::Io(io) => Stop::Retry(format!("fetching {url} failed: {io}"), false),
        ureq::Error::Timeout(phase) => Stop::Fatal(format!("fetching {url} failed: timed out ({phase} timeout)")),
        ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => {
            Stop::Retry(format!("fetching {url} failed: {error}"), false)
        }
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => Stop::Fatal(format!("{url} is not a valid URL: {error}")),
        other => Stop::Fatal(format!("fetching {url} failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("bytes 100-199/1000"), Some((Some(100), Some(1000))));
        assert_eq!(content_range("bytes 100-199/*"), Some((Some(100), None)));
        assert_eq!(content_range("bytes */1000"), Some((None, Some(1000))));
        assert_eq!(content_range("items 1-2/3"), None);
    }

    #[test]
    fn client_errors_name_the_url() {
        let url = "http://example.invalid/x";
        let Stop::Fatal(message) = classify(url, ureq::Error::HostNotFound) else { panic!("DNS failures are final") };
        assert_eq!(
            message,
            "fetching http://example.invalid/x failed: the host name could not be resolved (DNS lookup failed)"
        );
        let refused = ureq::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        let Stop::Retry(message, false) = classify(url, refused) else { panic!("refusals are retried") };
        assert_eq!(message, "fetching http://example.invalid/x failed: connection refused");
        let timeout = classify(url, ureq::Error::Timeout(ureq::Timeout::Connect));
        assert!(matches!(timeout, Stop::Fatal(m) if m.contains("timed out (connect timeout)")));
    }

    #[test]
    fn progress_lines() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        let line = progress_line(25 << 20, Some(100 << 20), 25 << 20, Duration::from_secs(5));
        assert_eq!(line, "25.0 MiB of 100.0 MiB (25%), 5.0 MiB/s, about 15 s left");
    }
}
