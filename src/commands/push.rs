//! `imgx push CACHE [FILE|--all]`, and the substituters `imgx build` uses:
//! the two ends of a binary cache.

use super::{EXIT_CACHE, EXIT_ERROR, EXIT_USAGE, Failure, evaluate_targets, open_store};
use crate::cache::config::{Config, parse_trusted_key};
use crate::cache::describe;
use crate::cache::push::{self, Progress, human};
use crate::cache::sign::SecretKey;
use crate::cache::substitute::Substituters;
use crate::cache::transport;
use crate::cli::{PushArgs, SubstituteArgs};
use imgx_builders::StepKey;
use imgx_store::{ObjectHash, Realisation, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::sync::Arc;

pub fn run(args: PushArgs) -> Result<(), Failure> {
    let key_text = std::fs::read_to_string(&args.key).map_err(|e| {
        Failure::with_code(miette::miette!("cannot read the key file {}: {e}", args.key.display()), EXIT_USAGE)
    })?;
    let key = SecretKey::parse(&key_text)
        .map_err(|e| Failure::with_code(miette::miette!("{}: {}", args.key.display(), describe(&e)), EXIT_USAGE))?;
    let transport = transport::open(&args.cache).map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_USAGE))?;
    let store = open_store()?;
    let realisations = if args.all {
        store.realisations().map_err(|e| Failure::with_code(miette::miette!("{e}"), super::EXIT_STORE))?
    } else {
        description_realisations(&store, &args)?
    };
    let progress = Bar::new();
    let report =
        push::push(&store, transport.as_ref(), &key, &realisations, args.priority, &progress).map_err(|e| {
            Failure::with_code(miette::miette!("cannot push to {}: {}", args.cache, describe(&e)), EXIT_CACHE)
        })?;
    progress.finish();
    eprintln!(
        "pushed {} object(s) ({} of data, {} compressed) and {} manifest(s) to {}; {} object(s) and {} manifest(s) were there",
        report.objects_uploaded,
        human(report.data_bytes),
        human(report.compressed_bytes),
        report.manifests_uploaded,
        args.cache,
        report.objects_present,
        report.manifests_present,
    );
    if !report.failures.is_empty() {
        return Err(Failure::with_code(
            miette::miette!("{} item(s) could not be pushed:\n{}", report.failures.len(), report.failures.join("\n")),
            EXIT_CACHE,
        ));
    }
    Ok(())
}

/// The realisations of a description's steps: each step's input key and
/// content key. Steps not built yet are an error naming them.
fn description_realisations(store: &Arc<Store>, args: &PushArgs) -> Result<Vec<Realisation>, Failure> {
    let evaluated = evaluate_targets(&args.target, store)?;
    let store_error = |e: imgx_store::StoreError| Failure::with_code(miette::miette!("{e}"), super::EXIT_STORE);
    let mut outputs: BTreeMap<StepKey, ObjectHash> = BTreeMap::new();
    let mut realisations = Vec::new();
    let mut missing = Vec::new();
    for (key, step) in &evaluated.steps {
        match store.realisation(&key.to_hex()).map_err(store_error)? {
            Some(realisation) => {
                outputs.insert(*key, realisation.output);
                realisations.push(realisation);
            }
            None => missing.push(format!("{} ({})", step.name, key.short())),
        }
    }
    if !missing.is_empty() {
        return Err(Failure::with_code(
            miette::miette!(
                help = "build them first with `imgx build`",
                "{} step(s) are not built:\n{}",
                missing.len(),
                missing.join("\n")
            ),
            EXIT_ERROR,
        ));
    }
    let mut seen: BTreeSet<String> = realisations.iter().map(|r| r.key.clone()).collect();
    for step in evaluated.steps.values() {
        let Some(content_key) = step.content_key(&outputs) else { continue };
        let hex = content_key.to_hex();
        if seen.insert(hex.clone())
            && let Some(realisation) = store.realisation(&hex).map_err(store_error)?
        {
            realisations.push(realisation);
        }
    }
    Ok(realisations)
}

/// The substituters of a build: the configuration file's (unless
/// `--no-substituters`) after the flags', trusting the keys of both.
/// `None` when there are none.
pub fn substituters(args: &SubstituteArgs) -> Result<Option<Arc<Substituters>>, Failure> {
    let config = Config::load().map_err(|e| Failure::with_code(miette::miette!("{}", describe(&e)), EXIT_USAGE))?;
    let mut urls = args.substituters.clone();
    if !args.no_substituters {
        urls.extend(config.substituters.iter().cloned());
    }
    if urls.is_empty() {
        return Ok(None);
    }
    let mut trusted = Vec::new();
    for text in args.trusted_keys.iter().chain(&config.trusted_public_keys) {
        trusted.push(
            parse_trusted_key(text).map_err(|e| Failure::with_code(miette::miette!("{}", describe(&e)), EXIT_USAGE))?,
        );
    }
    if trusted.is_empty() {
        eprintln!("warning: substituters are configured but no key is trusted, so nothing is substituted");
        return Ok(None);
    }
    let substituters =
        Substituters::new(&urls, trusted).map_err(|e| Failure::with_code(miette::miette!("{e}"), EXIT_USAGE))?;
    Ok(Some(Arc::new(substituters)))
}

/// A push's progress on standard error: a bar on a terminal, a line per
/// item otherwise.
struct Bar {
    bar: Option<indicatif::ProgressBar>,
}

impl Bar {
    fn new() -> Bar {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
            bar.set_style(
                indicatif::ProgressStyle::with_template("push [{bar:30}] {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        Bar { bar }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn start(&self, items: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(items);
        }
    }

    fn done(&self, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(message.to_owned());
            }
            None => eprintln!("{message}"),
        }
    }
}
