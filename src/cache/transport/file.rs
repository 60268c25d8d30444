//! A cache in a local (or mounted, shared) folder: `file:///path`.

use super::{Download, Transport, TransportError};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A cache folder. Files are written beside their final name and renamed
/// into place, so readers never see half a file.
pub struct FileTransport {
    url: String,
    root: PathBuf,
}

impl FileTransport {
    /// The cache in `root`, which is created on the first write.
    pub fn new(url: &str, root: &Path) -> FileTransport {
        FileTransport { url: url.trim_end_matches('/').to_owned(), root: root.to_path_buf() }
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    fn error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TransportError + 'a {
        move |source| TransportError::Io { action, path: path.display().to_string(), source }
    }

    /// Writes `path` through a temporary file beside it.
    fn write_with(&self, path: &str, write: impl FnOnce(&Path) -> io::Result<()>) -> Result<(), TransportError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let target = self.path(path);
        let parent = target.parent().unwrap_or(&self.root);
        fs::create_dir_all(parent).map_err(Self::error("create", parent))?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary =
            parent.join(format!(".{name}.{}-{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let written = write(&temporary).map_err(Self::error("write", &temporary));
        let renamed =
            written.and_then(|()| fs::rename(&temporary, &target).map_err(Self::error("rename into", &target)));
        if renamed.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        renamed
    }
}

impl Transport for FileTransport {
    fn url(&self) -> &str {
        &self.url
    }

    fn exists(&self, path: &str) -> Result<bool, TransportError> {
        let full = self.path(path);
        match fs::symlink_metadata(&full) {
            Ok(_) => Ok(true),
            // A missing cache folder holds nothing (and has no info file, so
            // substitution skips it).
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Self::error("inspect", &full)(e)),
        }
    }

    fn get(&self, path: &str) -> Result<Option<Download>, TransportError> {
        let full = self.path(path);
        match fs::File::open(&full) {
            Ok(file) => Ok(Some(Box::new(io::BufReader::with_capacity(1 << 20, file)))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::error("open", &full)(e)),
        }
    }

    fn put_bytes(&self, path: &str, bytes: &[u8]) -> Result<(), TransportError> {
        self.write_with(path, |temporary| fs::write(temporary, bytes))
    }

    fn put_file(&self, path: &str, source: &Path) -> Result<(), TransportError> {
        self.write_with(path, |temporary| imgx_store::copy::copy_file(source, temporary).map(drop))
    }
}
