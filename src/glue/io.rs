//! File access for evaluations that build: like the host's, except that a
//! path interpolated into a string is imported into the store by content
//! and becomes an object placeholder carrying it in its context. Every
//! observation is recorded, so that the evaluation cache can tell later
//! whether anything the evaluation depended on has changed.

use crate::evalcache::Observation;
use imgx_builders::step::object_placeholder;
use imgx_lang::io::{EvalIo, FileType, StdIo};
use imgx_lang::value::Context;
use imgx_store::Store;
use imgx_store::hash::ObjectHash;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// [`EvalIo`] backed by the host's file system and the store.
pub struct StoreIo {
    host: StdIo,
    store: Arc<Store>,
    imported: RefCell<HashMap<String, ObjectHash>>,
    observations: RefCell<Vec<Observation>>,
}

impl StoreIo {
    /// File access that imports interpolated paths into `store`.
    pub fn new(store: Arc<Store>) -> StoreIo {
        StoreIo { host: StdIo, store, imported: RefCell::new(HashMap::new()), observations: RefCell::new(Vec::new()) }
    }

    /// Everything the evaluation observed so far.
    pub fn observations(&self) -> Vec<Observation> {
        self.observations.borrow().clone()
    }

    fn observe(&self, observation: Observation) {
        self.observations.borrow_mut().push(observation);
    }
}

impl EvalIo for StoreIo {
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let result = self.host.read_file(path);
        self.observe(Observation::file(path, result.as_ref().ok().map(|b| b.as_slice())));
        result
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, FileType)>> {
        let result = self.host.read_dir(path);
        self.observe(Observation::dir(path, result.as_ref().ok()));
        result
    }

    fn file_type(&self, path: &Path) -> io::Result<FileType> {
        let result = self.host.file_type(path);
        self.observe(Observation::file_type(path, result.as_ref().ok().copied()));
        result
    }

    fn path_exists(&self, path: &Path) -> bool {
        let exists = self.host.path_exists(path);
        self.observe(Observation::exists(path, exists));
        exists
    }

    fn import_path(&self, path: &str) -> io::Result<(String, Context)> {
        let cached = self.imported.borrow().get(path).copied();
        let hash = match cached {
            Some(hash) => hash,
            None => {
                // Before the import reads the path, so that a change made
                // while it is read is seen at the next check.
                let fingerprint = crate::evalcache::fingerprint(Path::new(path));
                let info = self.store.import(Path::new(path)).map_err(|e| io::Error::other(e.to_string()))?;
                self.imported.borrow_mut().insert(path.to_string(), info.hash);
                self.observe(Observation::import(Path::new(path), info.hash, fingerprint));
                info.hash
            }
        };
        let placeholder = object_placeholder(&hash);
        let mut context = Context::new();
        context.insert(placeholder.clone().into_boxed_str());
        Ok((placeholder, context))
    }

    fn get_env(&self, name: &str) -> Vec<u8> {
        let value = self.host.get_env(name);
        self.observe(Observation::env(name, &value));
        value
    }
}
