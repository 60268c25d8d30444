//! Realising one step whose input steps are realised: reuse by content key,
//! or, under the key's lock, substitute from a binary cache or build and
//! register the output.

use super::report::{Failed, Reporter};
use super::{BuildOptions, Outcome, StepResult};
use imgx_builders::{BuildContext, InputRef, Step, StepKey, builder_for};
use imgx_store::hash::ObjectHash;
use imgx_store::{Realisation, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many lines of a failed step's log an error shows.
pub const LOG_TAIL_LINES: usize = 20;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn failed(message: String) -> StepResult {
    StepResult { outcome: Outcome::Failed(message), output: None }
}

/// Realises `step`, given the outputs of its input steps.
pub fn realise(
    store: &Store,
    key: &StepKey,
    step: &Step,
    inputs: &BTreeMap<StepKey, ObjectHash>,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> StepResult {
    match try_realise(store, key, step, inputs, options, reporter) {
        Ok(result) => result,
        Err(message) => {
            reporter.failed(key, step, &Failed { message: &message, ..Failed::default() });
            failed(message)
        }
    }
}

fn record(store: &Store, key: &StepKey, output: ObjectHash, duration: Duration, version: &str) -> Result<(), String> {
    store
        .put_realisation(&Realisation {
            key: key.to_hex(),
            output,
            built_at: now(),
            duration_ms: duration.as_millis() as u64,
            builder_version: version.to_string(),
        })
        .map_err(|e| e.to_string())
}

fn try_realise(
    store: &Store,
    key: &StepKey,
    step: &Step,
    inputs: &BTreeMap<StepKey, ObjectHash>,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<StepResult, String> {
    let builder = builder_for(&step.kind).ok_or_else(|| format!("no builder for step kind '{}'", step.kind))?;
    let content_key = step.content_key(inputs).ok_or("an input step has no output")?;
    let recorded = if step.fixed.is_some() {
        store.replace_step(&key.to_hex(), &step.serialise())
    } else {
        store.put_step(&key.to_hex(), &step.serialise())
    };
    recorded.map_err(|e| e.to_string())?;
    if let Some(existing) = store.realisation(&content_key.to_hex()).map_err(|e| e.to_string())? {
        record(store, key, existing.output, Duration::ZERO, &existing.builder_version)?;
        reporter.reused(key, step, &existing.output);
        return Ok(StepResult { outcome: Outcome::Reused, output: Some(existing.output) });
    }
    // One builder per content key across processes; a second imgx waits here
    // and then finds the first one's realisation.
    let _lock = store.lock_key(&content_key.to_hex()).map_err(|e| e.to_string())?;
    for candidate in [&content_key, key] {
        if let Some(existing) = store.realisation(&candidate.to_hex()).map_err(|e| e.to_string())? {
            record(store, key, existing.output, Duration::ZERO, &existing.builder_version)?;
            record(store, &content_key, existing.output, Duration::ZERO, &existing.builder_version)?;
            reporter.cached(key, step, &existing.output);
            return Ok(StepResult { outcome: Outcome::Cached, output: Some(existing.output) });
        }
    }

    if let Some(substituters) = &options.substituters {
        let started = Instant::now();
        let warn = |message: &str| reporter.warning(key, step, message);
        if let Some(found) = substituters.substitute(store, &[content_key.to_hex(), key.to_hex()], &warn) {
            let duration = started.elapsed();
            record(store, &content_key, found.output, duration, builder.version())?;
            record(store, key, found.output, duration, builder.version())?;
            reporter.substituted(key, step, &found.output, &found.cache, duration);
            return Ok(StepResult { outcome: Outcome::Substituted, output: Some(found.output) });
        }
    }

    reporter.started(key, step);
    let started = Instant::now();
    let scratch = store.scratch(&step.name).map_err(|e| e.to_string())?;
    let out = scratch.path().join("out");
    let work = scratch.path().join("work");
    std::fs::create_dir(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let mut input_paths: BTreeMap<InputRef, PathBuf> = BTreeMap::new();
    for input in &step.inputs {
        let object = match input {
            InputRef::Step(input_key) => *inputs.get(input_key).ok_or("an input step has no output")?,
            InputRef::Object(hash) => *hash,
        };
        input_paths.insert(*input, store.object_path(&object));
    }
    let mut log = LiveLog::new(reporter, key, step);
    let notice = |message: &str| reporter.notice(key, step, message);
    let (outcome, output_hash) = {
        let mut context = BuildContext {
            step,
            key: content_key,
            out: out.clone(),
            work,
            log: &mut log,
            inputs: &input_paths,
            notice: &notice,
            output_hash: None,
        };
        let outcome = builder.build(&mut context);
        (outcome, context.output_hash)
    };
    let log = log.finish();
    let duration = started.elapsed();
    let log_path: Option<PathBuf> = store.put_log(&key.to_hex(), &log).ok();
    if let Err(error) = outcome {
        let tail = tail_lines(&log, LOG_TAIL_LINES);
        let kept = if options.keep_failed {
            // The output itself if the builder got as far as creating it,
            // else the whole scratch folder with its work files.
            let has_output = out.symlink_metadata().is_ok();
            scratch.keep().ok().map(|folder| if has_output { out.clone() } else { folder })
        } else {
            None
        };
        let message = match &kept {
            Some(path) => format!("{error} (the failed output is kept at {})", path.display()),
            None => error.to_string(),
        };
        let report = Failed { message: &message, log_tail: &tail, log: log_path.as_deref(), kept: kept.as_deref() };
        reporter.failed(key, step, &report);
        return Ok(StepResult { outcome: Outcome::Failed(message), output: None });
    }
    let registered = match output_hash {
        Some(hash) => store.register_hashed(&out, hash),
        None => store.register(&out),
    };
    let info = registered.map_err(|e| e.to_string())?;
    record(store, &content_key, info.hash, duration, builder.version())?;
    record(store, key, info.hash, duration, builder.version())?;
    reporter.built(key, step, &info.hash, duration);
    Ok(StepResult { outcome: Outcome::Built, output: Some(info.hash) })
}

/// A step's log as its builder writes it: kept whole for the store, and
/// passed on to the reporter one complete line at a time, so that progress
/// displays show what a long step is doing while it does it.
struct LiveLog<'a> {
    reporter: &'a dyn Reporter,
    key: &'a StepKey,
    step: &'a Step,
    bytes: Vec<u8>,
    /// Where the line not yet passed on starts.
    line_start: usize,
}

impl<'a> LiveLog<'a> {
    fn new(reporter: &'a dyn Reporter, key: &'a StepKey, step: &'a Step) -> LiveLog<'a> {
        LiveLog { reporter, key, step, bytes: Vec::new(), line_start: 0 }
    }

    fn pass_on(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        self.reporter.log_line(self.key, self.step, text.trim_end_matches(['\n', '\r']));
    }

    /// Passes on a last line without a newline, and returns the whole log.
    fn finish(self) -> Vec<u8> {
        if self.line_start < self.bytes.len() {
            self.pass_on(&self.bytes[self.line_start..]);
        }
        self.bytes
    }
}

impl std::io::Write for LiveLog<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let searched_from = self.bytes.len();
        self.bytes.extend_from_slice(buf);
        let mut from = searched_from;
        while let Some(end) = self.bytes[from..].iter().position(|&b| b == b'\n') {
            let end = from + end + 1;
            self.pass_on(&self.bytes[self.line_start..end]);
            self.line_start = end;
            from = end;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The last `count` lines of a log.
pub fn tail_lines(log: &[u8], count: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(log);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].iter().map(|l| l.to_string()).collect()
}
