//! `imgx challenge OTHER [FILE]`: compares this store's realisations (step
//! key → output hash) with another's, and lists where they agree, where
//! they disagree, and what only one of them has built. The other side is a
//! local imgx store folder (one with a `db.sqlite`) or a binary cache
//! (`file://`, `http(s)://`, `s3://`, or a folder holding one), whose
//! manifests say which output it holds for a key. A cache cannot be
//! listed, so against one only the keys this store has (or the
//! description's) are compared. With a description, only its steps' keys
//! are compared.

use super::{EXIT_ERROR, EXIT_STORE, Failure, evaluate_targets, open_store};
use crate::cache::format::{MAX_MANIFEST_BYTES, Manifest, manifest_path};
use crate::cache::transport::{self, Transport};
use crate::cli::ChallengeArgs;
use imgx_store::Store;
use imgx_store::hash::ObjectHash;
use std::collections::{BTreeMap, BTreeSet};

/// How the two stores compare on one key.
enum Comparison {
    Agree(ObjectHash),
    Disagree { local: ObjectHash, other: ObjectHash },
    OnlyLocal(ObjectHash),
    OnlyOther(ObjectHash),
}

fn store_failure(error: impl std::fmt::Display) -> Failure {
    Failure::with_code(miette::miette!("{error}"), EXIT_STORE)
}

/// What the local store is compared with.
enum Other {
    /// Another local store.
    Store(Box<Store>),
    /// A binary cache, read through its manifests.
    Cache(Box<dyn Transport>),
}

impl Other {
    /// A store folder when it has a database, else a cache URL or folder.
    fn open(given: &str) -> Result<Other, Failure> {
        let path = std::path::Path::new(given);
        if path.join("db.sqlite").is_file() {
            return Store::open(path).map(|store| Other::Store(Box::new(store))).map_err(store_failure);
        }
        let is_url = given.contains("://");
        if !is_url && !path.join(crate::cache::format::INFO_FILE).is_file() {
            return Err(Failure::with_code(
                miette::miette!(
                    help = "give an imgx store folder, a binary cache folder, or a cache URL (file://, http://, https://, s3://)",
                    "{given} is neither an imgx store (it has no db.sqlite) nor a binary cache"
                ),
                EXIT_STORE,
            ));
        }
        let absolute = if is_url {
            given.to_owned()
        } else {
            std::path::absolute(path).map_err(store_failure)?.display().to_string()
        };
        transport::open(&absolute).map(Other::Cache).map_err(store_failure)
    }

    /// The keys it has realised, where it can list them.
    fn keys(&self) -> Result<Vec<String>, Failure> {
        match self {
            Other::Store(store) => {
                Ok(store.realisations().map_err(store_failure)?.into_iter().map(|r| r.key).collect())
            }
            Other::Cache(_) => Ok(Vec::new()),
        }
    }

    /// The output it holds for `key`, if any. A cache's manifest that
    /// cannot be read or is malformed is an error: a challenge must not
    /// pass over what it could not compare.
    fn output(&self, key: &str) -> Result<Option<ObjectHash>, Failure> {
        match self {
            Other::Store(store) => Ok(store.realisation(key).map_err(store_failure)?.map(|r| r.output)),
            Other::Cache(cache) => {
                let Some(bytes) = transport::get_small(cache.as_ref(), &manifest_path(key), MAX_MANIFEST_BYTES)
                    .map_err(store_failure)?
                else {
                    return Ok(None);
                };
                let manifest = Manifest::parse(&bytes, key).map_err(|e| {
                    store_failure(format!("the manifest of {key} in {} is unreadable: {e}", cache.url()))
                })?;
                Ok(manifest.output_hash())
            }
        }
    }

    /// The serialisation of the step behind `key`, where it keeps one.
    fn step(&self, key: &str) -> Option<String> {
        match self {
            Other::Store(store) => store.step(key).ok().flatten(),
            Other::Cache(_) => None,
        }
    }
}

pub fn run(args: ChallengeArgs) -> Result<(), Failure> {
    let local = open_store()?;
    let other = Other::open(&args.cache)?;
    // Which keys, and the step names to show for them.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let keys: BTreeSet<String> = if args.target.file.is_some() || args.target.attr.is_some() {
        let evaluated = evaluate_targets(&args.target, &local)?;
        for (key, step) in &evaluated.steps {
            names.insert(key.to_hex(), format!("{} ({})", step.name, step.kind));
        }
        names.keys().cloned().collect()
    } else {
        let mut keys: BTreeSet<String> =
            local.realisations().map_err(store_failure)?.into_iter().map(|r| r.key).collect();
        keys.extend(other.keys()?);
        keys
    };
    let mut comparisons = Vec::new();
    for key in &keys {
        let mine = local.realisation(key).map_err(store_failure)?.map(|r| r.output);
        let theirs = other.output(key)?;
        let comparison = match (mine, theirs) {
            (Some(a), Some(b)) if a == b => Comparison::Agree(a),
            (Some(local), Some(other)) => Comparison::Disagree { local, other },
            (Some(a), None) => Comparison::OnlyLocal(a),
            (None, Some(b)) => Comparison::OnlyOther(b),
            (None, None) => continue,
        };
        if !names.contains_key(key) {
            let name = local
                .step(key)
                .ok()
                .flatten()
                .or_else(|| other.step(key))
                .and_then(|s| imgx_builders::Step::parse(&s))
                .map(|s| format!("{} ({})", s.name, s.kind))
                .unwrap_or_else(|| "(a content key)".into());
            names.insert(key.clone(), name);
        }
        comparisons.push((key.clone(), comparison));
    }
    let count = |f: fn(&Comparison) -> bool| comparisons.iter().filter(|(_, c)| f(c)).count();
    let agree = count(|c| matches!(c, Comparison::Agree(_)));
    let disagree = count(|c| matches!(c, Comparison::Disagree { .. }));
    let only_local = count(|c| matches!(c, Comparison::OnlyLocal(_)));
    let only_other = count(|c| matches!(c, Comparison::OnlyOther(_)));
    for (key, comparison) in &comparisons {
        let name = names.get(key).map(String::as_str).unwrap_or("?");
        if args.json {
            let (result, local, other) = match comparison {
                Comparison::Agree(h) => ("agree", Some(h), Some(h)),
                Comparison::Disagree { local, other } => ("disagree", Some(local), Some(other)),
                Comparison::OnlyLocal(h) => ("only-local", Some(h), None),
                Comparison::OnlyOther(h) => ("only-other", None, Some(h)),
            };
            let event = serde_json::json!({
                "event": "challenge", "key": key, "step": name, "result": result,
                "local": local.map(|h| h.to_hex()), "other": other.map(|h| h.to_hex()),
            });
            println!("{event}");
            continue;
        }
        let short = &key[..12];
        match comparison {
            Comparison::Agree(_) if !args.verbose => {}
            Comparison::Agree(h) => println!("agree       {short} {name}: {h}"),
            Comparison::Disagree { local, other } => {
                println!("DISAGREE    {short} {name}:\n  local: {local}\n  other: {other}")
            }
            Comparison::OnlyLocal(h) => println!("only local  {short} {name}: {h}"),
            Comparison::OnlyOther(h) => println!("only other  {short} {name}: {h}"),
        }
    }
    let summary = format!(
        "{} key(s): {agree} agree, {disagree} disagree, {only_local} only here, {only_other} only in {}",
        comparisons.len(),
        args.cache
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "event": "challenged", "keys": comparisons.len(), "agree": agree,
                "disagree": disagree, "only_local": only_local, "only_other": only_other })
        );
    } else {
        println!("{summary}");
    }
    if disagree > 0 {
        return Err(Failure::with_code(
            miette::miette!(
                help = "`imgx build --check` rebuilds a step here and explains how its output differs",
                "{disagree} step key(s) have different outputs in the two stores"
            ),
            EXIT_ERROR,
        ));
    }
    Ok(())
}
