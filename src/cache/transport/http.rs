//! A cache on an HTTP server: GET and HEAD to read, PUT to write. Any
//! server that stores what is PUT works; nginx does with its WebDAV module
//! (`dav_methods PUT; create_full_put_path on;`).

use super::{Download, Transport, TransportError};
use std::path::Path;
use std::time::Duration;

/// How long connecting may take: a cache that does not answer is skipped
/// quickly, and the step is built locally.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any read or write may wait without progress.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// A cache at an `http://` or `https://` URL, through ureq (the client the
/// `fetch` step kind uses too).
pub struct HttpTransport {
    url: String,
    agent: ureq::Agent,
}

impl HttpTransport {
    /// The cache at `url` (a trailing `/` is ignored).
    pub fn new(url: &str) -> HttpTransport {
        let agent = imgx_builders::http_agent(CONNECT_TIMEOUT, IO_TIMEOUT);
        HttpTransport { url: url.trim_end_matches('/').to_owned(), agent }
    }

    fn full(&self, path: &str) -> String {
        format!("{}/{path}", self.url)
    }
}

fn failed<'a>(method: &'static str, url: &'a str) -> impl FnOnce(ureq::Error) -> TransportError + 'a {
    move |source| TransportError::Http { method, url: url.to_owned(), source: Box::new(source) }
}

fn status(method: &'static str, url: &str, status: u16) -> TransportError {
    TransportError::Status { method, url: url.to_owned(), status }
}

impl Transport for HttpTransport {
    fn url(&self) -> &str {
        &self.url
    }

    fn exists(&self, path: &str) -> Result<bool, TransportError> {
        let url = self.full(path);
        let response = self.agent.head(&url).call().map_err(failed("HEAD", &url))?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            404 | 410 => Ok(false),
            code => Err(status("HEAD", &url, code)),
        }
    }

    fn get(&self, path: &str) -> Result<Option<Download>, TransportError> {
        let url = self.full(path);
        let response = self.agent.get(&url).call().map_err(failed("GET", &url))?;
        match response.status().as_u16() {
            200 => Ok(Some(Box::new(response.into_body().into_with_config().limit(u64::MAX).reader()))),
            404 | 410 => Ok(None),
            code => Err(status("GET", &url, code)),
        }
    }

    fn put_bytes(&self, path: &str, bytes: &[u8]) -> Result<(), TransportError> {
        let url = self.full(path);
        let response = self.agent.put(&url).send(bytes).map_err(failed("PUT", &url))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            code => Err(status("PUT", &url, code)),
        }
    }

    fn put_file(&self, path: &str, source: &Path) -> Result<(), TransportError> {
        let url = self.full(path);
        let file = std::fs::File::open(source).map_err(|source_error| TransportError::Io {
            action: "open",
            path: source.display().to_string(),
            source: source_error,
        })?;
        let response = self.agent.put(&url).send(file).map_err(failed("PUT", &url))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            code => Err(status("PUT", &url, code)),
        }
    }
}
