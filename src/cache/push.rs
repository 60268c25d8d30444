//! Pushing: uploading step outputs and their signed manifests to a cache.
//!
//! Objects go first and manifests after them, so a reader that finds a
//! manifest finds its object. Whatever the cache has already (by
//! `HEAD`/existence) is skipped. Objects are packed ([`super::archive`])
//! into a scratch file of the store and uploaded in parallel on rayon's
//! pool; each archive is compressed by zstd's own worker threads.

use super::archive;
use super::describe;
use super::format::{self, CacheInfo, DEFAULT_PRIORITY, FORMAT_VERSION, INFO_FILE, MAX_MANIFEST_BYTES, Manifest};
use super::sign::SecretKey;
use super::transport::{self, Transport, TransportError};
use imgx_store::{ObjectHash, Realisation, Store};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Why a push could not start.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The cache cannot be reached or written.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The cache holds a malformed info file or another format.
    #[error(transparent)]
    Format(#[from] format::FormatError),
}

/// What a push did.
#[derive(Debug, Default)]
pub struct PushReport {
    /// Objects uploaded.
    pub objects_uploaded: usize,
    /// Objects the cache had already.
    pub objects_present: usize,
    /// Manifests uploaded.
    pub manifests_uploaded: usize,
    /// Manifests the cache had already.
    pub manifests_present: usize,
    /// Bytes of file data packed (holes not counted).
    pub data_bytes: u64,
    /// Bytes uploaded for objects, after compression.
    pub compressed_bytes: u64,
    /// What could not be pushed, one message each.
    pub failures: Vec<String>,
}

/// Receives a push's progress (from several threads).
pub trait Progress: Sync {
    /// How many objects and manifests there are to look at.
    fn start(&self, items: u64);
    /// One object or manifest is done; `message` says what happened.
    fn done(&self, message: &str);
}

/// Pushes `realisations` (and their outputs) from `store` to `transport`,
/// signing manifests with `key`. A cache without an info file gets one
/// with `priority` (default [`DEFAULT_PRIORITY`]).
pub fn push(
    store: &Store,
    transport: &dyn Transport,
    key: &SecretKey,
    realisations: &[Realisation],
    priority: Option<u32>,
    progress: &dyn Progress,
) -> Result<PushReport, PushError> {
    match transport::get_small(transport, INFO_FILE, MAX_MANIFEST_BYTES)? {
        Some(bytes) => {
            CacheInfo::parse(&String::from_utf8_lossy(&bytes))?;
        }
        None => {
            let info = CacheInfo { format: FORMAT_VERSION, priority: priority.unwrap_or(DEFAULT_PRIORITY) };
            transport.put_bytes(INFO_FILE, info.render().as_bytes())?;
        }
    }
    let outputs: BTreeSet<ObjectHash> = realisations.iter().map(|r| r.output).collect();
    progress.start((outputs.len() + realisations.len()) as u64);
    let report = Mutex::new(PushReport::default());
    let update = |change: &dyn Fn(&mut PushReport)| change(&mut report.lock().unwrap_or_else(|p| p.into_inner()));
    let threads = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2);

    let pushed: BTreeSet<ObjectHash> = outputs
        .par_iter()
        .filter_map(|hash| match push_object(store, transport, hash, threads) {
            Ok(None) => {
                update(&|r| r.objects_present += 1);
                progress.done(&format!("{hash}: the cache has it"));
                Some(*hash)
            }
            Ok(Some(stats)) => {
                update(&|r| {
                    r.objects_uploaded += 1;
                    r.data_bytes += stats.data;
                    r.compressed_bytes += stats.compressed;
                });
                progress.done(&format!(
                    "uploaded {hash} ({} of data, {} compressed)",
                    human(stats.data),
                    human(stats.compressed)
                ));
                Some(*hash)
            }
            Err(why) => {
                let message = format!("could not push the object {hash}: {why}");
                progress.done(&message);
                update(&|r| r.failures.push(message.clone()));
                None
            }
        })
        .collect();

    realisations.par_iter().for_each(|realisation| {
        if !pushed.contains(&realisation.output) {
            progress.done(&format!("skipped the manifest of {}: its object was not pushed", realisation.key));
            return;
        }
        match push_manifest(store, transport, key, realisation) {
            Ok(false) => {
                update(&|r| r.manifests_present += 1);
                progress.done(&format!("{}: the cache has its manifest", realisation.key));
            }
            Ok(true) => {
                update(&|r| r.manifests_uploaded += 1);
                progress.done(&format!("uploaded the manifest of {}", realisation.key));
            }
            Err(why) => {
                let message = format!("could not push the manifest of {}: {why}", realisation.key);
                progress.done(&message);
                update(&|r| r.failures.push(message.clone()));
            }
        }
    });
    let mut report = report.into_inner().unwrap_or_else(|p| p.into_inner());
    report.failures.sort();
    Ok(report)
}

/// Sizes of one uploaded object.
struct Uploaded {
    data: u64,
    compressed: u64,
}

/// Uploads one object unless the cache has it; `None` if it had.
fn push_object(
    store: &Store,
    transport: &dyn Transport,
    hash: &ObjectHash,
    threads: u32,
) -> Result<Option<Uploaded>, String> {
    let path = format::object_path(hash);
    if transport.exists(&path).map_err(|e| describe(&e))? {
        return Ok(None);
    }
    let info = store.object_info(hash).map_err(|e| describe(&e))?.ok_or("it is not in the store")?;
    let scratch = store.scratch("push").map_err(|e| describe(&e))?;
    let packed = scratch.path().join("archive.zst");
    let file = std::fs::File::create(&packed).map_err(|e| format!("{}: {e}", packed.display()))?;
    let stats = archive::write_compressed(&info.path, std::io::BufWriter::new(file), threads)
        .map_err(|e| format!("packing {}: {e}", info.path.display()))?;
    let compressed = std::fs::metadata(&packed).map(|m| m.len()).unwrap_or(0);
    transport.put_file(&path, &packed).map_err(|e| describe(&e))?;
    Ok(Some(Uploaded { data: stats.data, compressed }))
}

/// Uploads one signed manifest unless the cache has it; whether it did.
fn push_manifest(
    store: &Store,
    transport: &dyn Transport,
    key: &SecretKey,
    realisation: &Realisation,
) -> Result<bool, String> {
    let path = format::manifest_path(&realisation.key);
    if transport.exists(&path).map_err(|e| describe(&e))? {
        return Ok(false);
    }
    let info =
        store.object_info(&realisation.output).map_err(|e| describe(&e))?.ok_or("its output is not in the store")?;
    let mut manifest = Manifest::new(&realisation.key, &info.hash, info.kind, info.size);
    manifest.signatures.push(key.sign(&manifest.fingerprint()));
    transport.put_bytes(&path, manifest.render().as_bytes()).map_err(|e| describe(&e))?;
    Ok(true)
}

/// A byte count for messages: bytes, KiB, MiB or GiB.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}
