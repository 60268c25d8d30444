//! Where a cache lives: a folder, an HTTP server or an S3 bucket, behind one trait, so
//! that the format, pushing and substitution do not care which.
//!
//! Paths handed to a transport are relative to the cache's root and made
//! only by [`super::format`] from checked names.

mod file;
mod http;
mod s3;

pub use file::FileTransport;
pub use http::HttpTransport;
pub use s3::S3Transport;

use std::io::Read;
use std::path::Path;

/// Why a transport operation failed (a missing file is not a failure: see
/// [`Transport::get`]).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The URL names no transport imgx has.
    #[error("{0:?} is not a cache URL imgx knows: use file:///path, http://…, https://… or s3://bucket/prefix")]
    Unsupported(String),
    /// A cache URL of a known kind is malformed.
    #[error("the cache URL {url:?} is malformed: {why}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// An S3 request failed (after the client's retries).
    #[error("could not {action} {url}")]
    S3 {
        /// What was being done.
        action: &'static str,
        /// The object's URL.
        url: String,
        /// The client's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A local file operation failed.
    #[error("could not {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP request failed before an answer (connection refused, DNS,
    /// timeout, TLS).
    #[error("{method} {url} failed")]
    Http {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The client's error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The server answered with an unexpected status.
    #[error("{method} {url} answered {status}")]
    Status {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
}

/// A stream of a file's bytes from a cache.
pub type Download = Box<dyn Read + Send>;

/// A cache's storage: read, test and write files by relative path.
pub trait Transport: Send + Sync {
    /// The cache's URL, for messages.
    fn url(&self) -> &str;
    /// Whether the file exists.
    fn exists(&self, path: &str) -> Result<bool, TransportError>;
    /// The file's bytes as a stream, or `None` if it does not exist.
    fn get(&self, path: &str) -> Result<Option<Download>, TransportError>;
    /// Writes a file from memory, replacing any file there; a reader sees
    /// the old file or the whole new one where the storage allows.
    fn put_bytes(&self, path: &str, bytes: &[u8]) -> Result<(), TransportError>;
    /// Writes a file from a local file, as [`Transport::put_bytes`].
    fn put_file(&self, path: &str, source: &Path) -> Result<(), TransportError>;
}

/// Opens the transport a cache URL names: `file:///path` (or an absolute
/// path), `http://…`, `https://…` or `s3://bucket/prefix?endpoint=…&region=…`.
pub fn open(url: &str) -> Result<Box<dyn Transport>, TransportError> {
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(TransportError::Unsupported(url.to_owned()));
        }
        return Ok(Box::new(FileTransport::new(url, Path::new(path))));
    }
    if url.starts_with('/') {
        return Ok(Box::new(FileTransport::new(url, Path::new(url))));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(Box::new(HttpTransport::new(url)));
    }
    if url.starts_with("s3://") {
        return Ok(Box::new(S3Transport::new(url)?));
    }
    Err(TransportError::Unsupported(url.to_owned()))
}

/// Reads a whole (small) file from a cache, refusing more than `limit`
/// bytes; `None` if it does not exist.
pub fn get_small(transport: &dyn Transport, path: &str, limit: u64) -> Result<Option<Vec<u8>>, TransportError> {
    let Some(reader) = transport.get(path)? else { return Ok(None) };
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes).map_err(|source| TransportError::Io {
        action: "read",
        path: format!("{}/{path}", transport.url()),
        source,
    })?;
    if bytes.len() as u64 > limit {
        return Err(TransportError::Io {
            action: "read",
            path: format!("{}/{path}", transport.url()),
            source: std::io::Error::other(format!("it is larger than {limit} bytes")),
        });
    }
    Ok(Some(bytes))
}
