//! `imgx challenge STORE [FILE]`: compares this store's realisations (step
//! key → output hash) with another store's, and lists where they agree,
//! where they disagree, and what only one of them has built. The other
//! store is a local imgx store folder (binary caches come later); with a
//! description, only its steps' keys are compared.

use super::{EXIT_ERROR, EXIT_STORE, Failure, evaluate_targets, open_store};
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

pub fn run(args: ChallengeArgs) -> Result<(), Failure> {
    let local = open_store()?;
    if !args.cache.join("db.sqlite").is_file() {
        return Err(Failure::with_code(
            miette::miette!("{} is not an imgx store (it has no db.sqlite)", args.cache.display()),
            EXIT_STORE,
        ));
    }
    let other = Store::open(&args.cache).map_err(store_failure)?;
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
        keys.extend(other.realisations().map_err(store_failure)?.into_iter().map(|r| r.key));
        keys
    };
    let mut comparisons = Vec::new();
    for key in &keys {
        let mine = local.realisation(key).map_err(store_failure)?.map(|r| r.output);
        let theirs = other.realisation(key).map_err(store_failure)?.map(|r| r.output);
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
                .or_else(|| other.step(key).ok().flatten())
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
        args.cache.display()
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
