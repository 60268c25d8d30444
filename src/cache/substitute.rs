//! Substitution: before a step is built, its output is looked for in the
//! configured caches, in priority order. A manifest is used only if one of
//! its signatures verifies with a trusted key; its object is downloaded
//! into a scratch folder and unpacked, hashing every byte on its way to the
//! disk, and registered only if that content hash is the one the manifest
//! names (`Store::register_hashed`), so nothing is ever half-registered and
//! no wrong byte reaches the store.
//!
//! Anything that goes wrong (a missing or bad signature, a damaged or
//! truncated object, a wrong hash, a cache that does not answer) is a
//! warning, and the step is built locally. A cache that cannot be reached
//! is not asked again during the same build.

use super::archive;
use super::describe;
use super::format::{self, CacheInfo, INFO_FILE, MAX_MANIFEST_BYTES, Manifest};
use super::sign::{self, PublicKey};
use super::transport::{self, Transport, TransportError};
use imgx_store::{ObjectHash, Store};
use std::io::Read;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// The caches a build substitutes from, with the keys it trusts.
pub struct Substituters {
    caches: Vec<Cache>,
    trusted: Vec<PublicKey>,
    /// Indices into `caches` by priority, found on first use.
    order: OnceLock<Vec<usize>>,
}

struct Cache {
    transport: Box<dyn Transport>,
    dead: AtomicBool,
}

/// A step output found in a cache and registered.
#[derive(Clone, Debug)]
pub struct Substituted {
    /// The output object.
    pub output: ObjectHash,
    /// The URL of the cache it came from.
    pub cache: String,
}

/// Why one cache could not give one key's output.
enum Miss {
    /// The cache cannot be reached: skip it from now on.
    Dead(String),
    /// This manifest was refused.
    Rejected(String),
    /// This object was refused (damaged, wrong hash, missing): another
    /// manifest of the same cache naming it is not followed again in this
    /// lookup.
    BadObject(ObjectHash, String),
}

impl Substituters {
    /// Substituters at `urls` (in the order given, before priorities),
    /// trusting `trusted`. An unsupported URL is an error.
    pub fn new(urls: &[String], trusted: Vec<PublicKey>) -> Result<Substituters, TransportError> {
        let caches = urls
            .iter()
            .map(|url| Ok(Cache { transport: transport::open(url)?, dead: AtomicBool::new(false) }))
            .collect::<Result<_, TransportError>>()?;
        Ok(Substituters { caches, trusted, order: OnceLock::new() })
    }

    /// The caches by priority. The first call reads every cache's info
    /// file; a cache without a readable one is dead.
    fn order(&self, warn: &dyn Fn(&str)) -> &[usize] {
        self.order.get_or_init(|| {
            let mut priorities = Vec::new();
            for (index, cache) in self.caches.iter().enumerate() {
                let url = cache.transport.url();
                let info = match transport::get_small(cache.transport.as_ref(), INFO_FILE, MAX_MANIFEST_BYTES) {
                    Ok(Some(bytes)) => CacheInfo::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| describe(&e)),
                    Ok(None) => Err(format!("it has no {INFO_FILE}")),
                    Err(e) => Err(describe(&e)),
                };
                match info {
                    Ok(info) => priorities.push((info.priority, index)),
                    Err(why) => {
                        cache.dead.store(true, Ordering::Relaxed);
                        warn(&format!("not substituting from {url}: {why}"));
                    }
                }
            }
            priorities.sort();
            priorities.into_iter().map(|(_, index)| index).collect()
        })
    }

    /// Looks for the output of any of `keys` (a step's content key, then
    /// its input key) in the caches, and registers it. `None` when no
    /// cache had an acceptable one; what was refused on the way is passed
    /// to `warn`.
    pub fn substitute(&self, store: &Store, keys: &[String], warn: &dyn Fn(&str)) -> Option<Substituted> {
        self.find(keys, warn, |cache, manifest, bad_objects| self.fetch(cache, store, manifest, bad_objects))
    }

    /// Which output a cache would give for any of `keys`, from its signed
    /// manifest, without downloading it: what `imgx build --dry-run`
    /// reports. The object itself is checked only when it is substituted.
    pub fn query(&self, keys: &[String], warn: &dyn Fn(&str)) -> Option<Substituted> {
        self.find(keys, warn, |cache, manifest, _| {
            Ok(manifest.output_hash().map(|output| Substituted { output, cache: cache.transport.url().to_owned() }))
        })
    }

    /// Asks the caches, by priority, for the trusted manifest of each of
    /// `keys` in turn, and gives each one found to `take` until it returns
    /// an output. Caches that cannot be reached are marked dead; refusals
    /// are passed to `warn`.
    fn find(
        &self,
        keys: &[String],
        warn: &dyn Fn(&str),
        mut take: impl FnMut(&Cache, Manifest, &[ObjectHash]) -> Result<Option<Substituted>, Miss>,
    ) -> Option<Substituted> {
        if self.caches.is_empty() {
            return None;
        }
        for &index in self.order(warn) {
            let cache = &self.caches[index];
            let mut bad_objects = Vec::new();
            for key in keys {
                if cache.dead.load(Ordering::Relaxed) {
                    break;
                }
                let found = self.manifest(cache, key).and_then(|manifest| match manifest {
                    Some(manifest) => take(cache, manifest, &bad_objects),
                    None => Ok(None),
                });
                match found {
                    Ok(Some(found)) => return Some(found),
                    Ok(None) => {}
                    // Several workers may find it dead at once: one warns.
                    Err(Miss::Dead(why)) if !cache.dead.swap(true, Ordering::Relaxed) => {
                        warn(&format!(
                            "the cache {} cannot be reached ({why}); it is not asked again in this build",
                            cache.transport.url()
                        ));
                    }
                    Err(Miss::Dead(_)) => {}
                    Err(Miss::Rejected(why)) => warn(&why),
                    Err(Miss::BadObject(output, why)) => {
                        bad_objects.push(output);
                        warn(&why);
                    }
                }
            }
        }
        None
    }

    /// The manifest of `key` in one cache, if it has one that a trusted key
    /// signed and that this imgx can use.
    fn manifest(&self, cache: &Cache, key: &str) -> Result<Option<Manifest>, Miss> {
        if !format::is_key(key) {
            return Ok(None);
        }
        let url = cache.transport.url();
        let short = &key[..12];
        let path = format::manifest_path(key);
        let Some(reader) = cache.transport.get(&path).map_err(|e| Miss::Dead(describe(&e)))? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        reader
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Miss::Rejected(format!("could not read the manifest of {short} from {url}: {e}")))?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(Miss::Rejected(format!("ignoring the manifest of {short} from {url}: it is too large")));
        }
        let manifest = Manifest::parse(&bytes, key)
            .map_err(|e| Miss::Rejected(format!("ignoring the manifest of {short} from {url}: {e}")))?;
        if !sign::verify(&self.trusted, &manifest.fingerprint(), &manifest.signatures) {
            return Err(Miss::Rejected(format!(
                "ignoring the manifest of {short} from {url}: it has no valid signature by a trusted key"
            )));
        }
        if !manifest.references.is_empty() {
            return Err(Miss::Rejected(format!(
                "ignoring the manifest of {short} from {url}: it names references, which this imgx cannot substitute"
            )));
        }
        Ok(Some(manifest))
    }

    /// Downloads, checks and registers the object a trusted manifest
    /// names; `bad_objects` were refused from this cache already (another
    /// cache's copy may be fine).
    fn fetch(
        &self,
        cache: &Cache,
        store: &Store,
        manifest: Manifest,
        bad_objects: &[ObjectHash],
    ) -> Result<Option<Substituted>, Miss> {
        let url = cache.transport.url();
        let Some(output) = manifest.output_hash() else { return Ok(None) };
        let found = || Ok(Some(Substituted { output, cache: url.to_owned() }));
        if matches!(store.object_info(&output), Ok(Some(_))) {
            return found();
        }
        if bad_objects.contains(&output) {
            return Ok(None);
        }
        let object = format::object_path(&output);
        let refuse = |why: String| Miss::BadObject(output, format!("not using the object {output} from {url}: {why}"));
        let reader = cache
            .transport
            .get(&object)
            .map_err(|e| refuse(describe(&e)))?
            .ok_or_else(|| refuse("the cache does not have it".into()))?;
        let scratch = store.scratch("substitute").map_err(|e| refuse(describe(&e)))?;
        let dest = scratch.path().join("out");
        let actual = archive::read_compressed(reader, &dest, manifest.size).map_err(|e| refuse(describe(&e)))?;
        if actual != output {
            return Err(refuse(format!("its content hash is {actual}: the download is damaged or was tampered with")));
        }
        match store.register_hashed(&dest, actual) {
            Ok(_) => found(),
            Err(e) => Err(refuse(describe(&e))),
        }
    }
}
