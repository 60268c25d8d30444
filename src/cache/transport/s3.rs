//! A cache in an S3-compatible object store:
//! `s3://bucket/prefix?endpoint=http://host:port&region=eu-west-1`.
//!
//! Through the `object_store` crate (Apache Arrow's, used by DataFusion
//! and Delta Lake among others), which speaks S3 with its request signing,
//! retries and multipart uploads. Credentials come from the usual
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`, …); the URL's
//! `endpoint` and `region` override them. The crate is asynchronous; this
//! transport drives it from a small runtime of its own, so the rest of
//! imgx stays blocking.

use super::{Download, Transport, TransportError};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long retries of one request may go on: a cache that does not
/// answer is given up quickly, and the step built locally.
const RETRY_TIMEOUT: Duration = Duration::from_secs(15);
/// The size of the parts of a multipart upload.
const PART: usize = 16 * 1024 * 1024;

/// A cache in a bucket, under a prefix.
pub struct S3Transport {
    url: String,
    /// `s3://bucket/prefix`, to name objects in messages.
    location: String,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    runtime: tokio::runtime::Runtime,
}

impl S3Transport {
    /// Parses `s3://bucket[/prefix][?endpoint=URL&region=NAME]` and sets up
    /// the client (nothing is sent yet).
    pub fn new(url: &str) -> Result<S3Transport, TransportError> {
        let invalid = |why: &str| TransportError::InvalidUrl { url: url.to_owned(), why: why.to_owned() };
        let rest = url.strip_prefix("s3://").ok_or_else(|| invalid("it does not start with s3://"))?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(invalid("it names no bucket"));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let mut allow_http = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("endpoint", endpoint)) => {
                    allow_http = endpoint.starts_with("http://");
                    builder = builder.with_endpoint(endpoint);
                }
                Some(("region", region)) => builder = builder.with_region(region),
                _ => return Err(invalid(&format!("{pair:?} is not endpoint=… or region=…"))),
            }
        }
        let retry = RetryConfig { max_retries: 2, retry_timeout: RETRY_TIMEOUT, ..RetryConfig::default() };
        // Client options replace the builder's, allow_http included: set
        // together.
        let options = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout_disabled();
        let store = builder.with_retry(retry).with_client_options(options).build().map_err(|e| TransportError::S3 {
            action: "configure",
            url: url.to_owned(),
            source: Box::new(e),
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("imgx-s3")
            .enable_all()
            .build()
            .map_err(|source| TransportError::Io { action: "start the S3 client for", path: url.to_owned(), source })?;
        let prefix = prefix.trim_matches('/').to_owned();
        let location = if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
        Ok(S3Transport { url: url.to_owned(), location, store: Arc::new(store), prefix, runtime })
    }

    fn object(&self, path: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(path)
        } else {
            ObjectPath::from(format!("{}/{path}", self.prefix))
        }
    }

    fn error(&self, action: &'static str, path: &str) -> impl FnOnce(object_store::Error) -> TransportError {
        let url = format!("{}/{path}", self.location);
        move |source| TransportError::S3 { action, url, source: Box::new(source) }
    }
}

impl Transport for S3Transport {
    fn url(&self) -> &str {
        &self.url
    }

    fn exists(&self, path: &str) -> Result<bool, TransportError> {
        match self.runtime.block_on(self.store.head(&self.object(path))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error("look up", path)(e)),
        }
    }

    fn get(&self, path: &str) -> Result<Option<Download>, TransportError> {
        match self.runtime.block_on(self.store.get(&self.object(path))) {
            Ok(result) => Ok(Some(Box::new(StreamReader {
                runtime: self.runtime.handle().clone(),
                stream: result.into_stream(),
                chunk: Vec::new(),
                at: 0,
            }))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("download", path)(e)),
        }
    }

    fn put_bytes(&self, path: &str, bytes: &[u8]) -> Result<(), TransportError> {
        let payload = PutPayload::from(bytes.to_vec());
        self.runtime.block_on(self.store.put(&self.object(path), payload)).map_err(self.error("upload", path))?;
        Ok(())
    }

    fn put_file(&self, path: &str, source: &Path) -> Result<(), TransportError> {
        let io_error = |source_error| TransportError::Io {
            action: "read",
            path: source.display().to_string(),
            source: source_error,
        };
        let mut file = std::fs::File::open(source).map_err(io_error)?;
        let mut writer = BufWriter::with_capacity(self.store.clone(), self.object(path), PART);
        let uploaded: Result<(), TransportError> = self.runtime.block_on(async {
            let mut buf = vec![0u8; PART];
            loop {
                let n = file.read(&mut buf).map_err(io_error)?;
                if n == 0 {
                    break;
                }
                writer.write_all(&buf[..n]).await.map_err(|e| TransportError::Io {
                    action: "upload",
                    path: format!("{}/{path}", self.location),
                    source: e,
                })?;
            }
            writer.shutdown().await.map_err(|e| TransportError::Io {
                action: "finish uploading",
                path: format!("{}/{path}", self.location),
                source: e,
            })
        });
        if uploaded.is_err() {
            let _ = self.runtime.block_on(writer.abort());
        }
        uploaded
    }
}

/// An object's bytes as a blocking reader over the client's stream.
struct StreamReader {
    runtime: tokio::runtime::Handle,
    stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.runtime.block_on(self.stream.next()) {
                Some(Ok(bytes)) => {
                    self.chunk = bytes.to_vec();
                    self.at = 0;
                }
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
