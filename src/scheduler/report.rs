//! How a build reports progress: plain timestamped lines, JSON lines for
//! tools, or a live display on a terminal.

use imgx_builders::{Step, StepKey};
use imgx_store::hash::ObjectHash;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Receives a build's events. Called from several worker threads.
pub trait Reporter: Sync {
    /// Planning is done: `pending` steps to build or reuse, `cached` done already.
    fn planned(&self, pending: usize, cached: usize);
    /// A step's input key was realised already (or another process built it).
    fn cached(&self, key: &StepKey, step: &Step, output: &ObjectHash);
    /// A step's content key was realised: its output is reused.
    fn reused(&self, key: &StepKey, step: &Step, output: &ObjectHash);
    /// A step's output came from a binary cache at `cache`.
    fn substituted(&self, key: &StepKey, step: &Step, output: &ObjectHash, cache: &str, duration: Duration);
    /// Something went wrong that imgx worked around (a binary cache that
    /// did not answer or whose manifest or object was refused).
    fn warning(&self, key: &StepKey, step: &Step, message: &str);
    /// A step's builder starts.
    fn started(&self, key: &StepKey, step: &Step);
    /// A step was built.
    fn built(&self, key: &StepKey, step: &Step, output: &ObjectHash, duration: Duration);
    /// A step failed, with the end of its log and where the whole log is.
    fn failed(&self, key: &StepKey, step: &Step, failure: &Failed<'_>);
    /// A running step's builder wrote a line to its log (without the
    /// newline). Ignored unless the reporter shows logs live.
    fn log_line(&self, _key: &StepKey, _step: &Step, _line: &str) {}
    /// A running step has something to say beyond its log: that it is
    /// impure, how the build VM runs.
    fn notice(&self, key: &StepKey, step: &Step, message: &str);
}

/// What a reporter says about a failed step.
#[derive(Default)]
pub struct Failed<'a> {
    /// Why it failed.
    pub message: &'a str,
    /// The last lines of its log.
    pub log_tail: &'a [String],
    /// Where its whole log is stored.
    pub log: Option<&'a Path>,
    /// Where its unfinished output was kept (`--keep-failed`), for
    /// looking at what the builder left behind.
    pub kept: Option<&'a Path>,
}

/// One JSON object per line on standard output, for tools.
pub struct JsonReporter {
    out: Mutex<std::io::Stdout>,
}

impl JsonReporter {
    /// Reports to standard output.
    pub fn new() -> JsonReporter {
        JsonReporter { out: Mutex::new(std::io::stdout()) }
    }

    fn emit(&self, event: &str, key: &StepKey, step: &Step, extra: serde_json::Value) {
        let mut object = serde_json::json!({
            "event": event,
            "step": { "name": step.name, "kind": step.kind, "key": key.to_hex() },
        });
        if let (Some(target), serde_json::Value::Object(extra)) = (object.as_object_mut(), extra) {
            target.extend(extra);
        }
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{object}");
    }
}

impl Default for JsonReporter {
    fn default() -> Self {
        JsonReporter::new()
    }
}

impl Reporter for JsonReporter {
    fn planned(&self, pending: usize, cached: usize) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({ "event": "planned", "step": null, "pending": pending, "cached": cached })
        );
    }

    fn cached(&self, key: &StepKey, step: &Step, output: &ObjectHash) {
        self.emit("cached", key, step, serde_json::json!({ "output": output.to_hex() }));
    }

    fn reused(&self, key: &StepKey, step: &Step, output: &ObjectHash) {
        self.emit("cached", key, step, serde_json::json!({ "output": output.to_hex(), "via": "content" }));
    }

    fn substituted(&self, key: &StepKey, step: &Step, output: &ObjectHash, cache: &str, duration: Duration) {
        self.emit(
            "substituted",
            key,
            step,
            serde_json::json!({
                "output": output.to_hex(),
                "cache": cache,
                "duration_ms": duration.as_millis() as u64,
            }),
        );
    }

    fn warning(&self, key: &StepKey, step: &Step, message: &str) {
        self.emit("warning", key, step, serde_json::json!({ "message": message }));
    }

    fn started(&self, key: &StepKey, step: &Step) {
        self.emit("started", key, step, serde_json::json!({}));
    }

    fn notice(&self, key: &StepKey, step: &Step, message: &str) {
        self.emit("notice", key, step, serde_json::json!({ "message": message }));
    }

    fn built(&self, key: &StepKey, step: &Step, output: &ObjectHash, duration: Duration) {
        self.emit(
            "built",
            key,
            step,
            serde_json::json!({ "output": output.to_hex(), "duration_ms": duration.as_millis() as u64 }),
        );
    }

    fn failed(&self, key: &StepKey, step: &Step, failure: &Failed<'_>) {
        self.emit(
            "failed",
            key,
            step,
            serde_json::json!({
                "error": failure.message,
                "log_tail": failure.log_tail,
                "log": failure.log.map(|p| p.display().to_string()),
                "kept": failure.kept.map(|p| p.display().to_string()),
            }),
        );
    }

    fn log_line(&self, key: &StepKey, step: &Step, line: &str) {
        self.emit("log", key, step, serde_json::json!({ "line": line }));
    }
}

/// Plain lines with a timestamp on standard error, for logs and CI.
pub struct PlainReporter {
    out: Mutex<std::io::Stderr>,
    print_logs: bool,
}

impl PlainReporter {
    /// Reports to standard error; with `print_logs` (`-L`), builders' log
    /// lines too, each after its step's name.
    pub fn new(print_logs: bool) -> PlainReporter {
        PlainReporter { out: Mutex::new(std::io::stderr()), print_logs }
    }

    fn line(&self, text: String) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let (h, m, s) = ((now / 3600) % 24, (now / 60) % 60, now % 60);
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "[{h:02}:{m:02}:{s:02}] {text}");
    }
}

impl Default for PlainReporter {
    fn default() -> Self {
        PlainReporter::new(false)
    }
}

fn label(key: &StepKey, step: &Step) -> String {
    format!("{} ({}, {})", step.name, step.kind, key.short())
}

impl Reporter for PlainReporter {
    fn planned(&self, pending: usize, cached: usize) {
        if pending > 0 {
            self.line(format!("{pending} steps to build or reuse, {cached} cached"));
        }
    }

    fn cached(&self, _key: &StepKey, _step: &Step, _output: &ObjectHash) {}

    fn reused(&self, key: &StepKey, step: &Step, _output: &ObjectHash) {
        self.line(format!("reused {} (an input was rebuilt with the same output)", label(key, step)));
    }

    fn substituted(&self, key: &StepKey, step: &Step, _output: &ObjectHash, cache: &str, duration: Duration) {
        self.line(format!("substituted {} from {cache} in {:.1} s", label(key, step), duration.as_secs_f64()));
    }

    fn warning(&self, key: &StepKey, step: &Step, message: &str) {
        self.line(format!("warning: {}: {message}", label(key, step)));
    }

    fn started(&self, key: &StepKey, step: &Step) {
        self.line(format!("building {}", label(key, step)));
    }

    fn notice(&self, key: &StepKey, step: &Step, message: &str) {
        self.line(format!("note: {}: {message}", label(key, step)));
    }

    fn built(&self, key: &StepKey, step: &Step, _output: &ObjectHash, duration: Duration) {
        self.line(format!("built {} in {:.1} s", label(key, step), duration.as_secs_f64()));
    }

    fn failed(&self, key: &StepKey, step: &Step, failure: &Failed<'_>) {
        self.line(format!("failed {}: {}", label(key, step), failure.message));
        // With -L the log was printed as it was written.
        if !self.print_logs {
            for line in failure.log_tail {
                self.line(format!("  | {line}"));
            }
        }
        if let Some(log) = failure.log {
            self.line(format!("  full log: {}", log.display()));
        }
        if let Some(kept) = failure.kept {
            self.line(format!("  kept output: {}", kept.display()));
        }
    }

    fn log_line(&self, _key: &StepKey, step: &Step, line: &str) {
        if self.print_logs {
            let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(out, "{}> {line}", step.name);
        }
    }
}

/// A live display on a terminal: an overall bar and one line per running
/// step with its elapsed time and the latest line of its log.
pub struct TerminalReporter {
    bars: indicatif::MultiProgress,
    overall: indicatif::ProgressBar,
    running: Mutex<std::collections::HashMap<StepKey, indicatif::ProgressBar>>,
    print_logs: bool,
}

impl TerminalReporter {
    /// A display on standard error; with `print_logs` (`-L`), builders'
    /// log lines are also printed above it as they are written.
    pub fn new(print_logs: bool) -> TerminalReporter {
        let bars = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
        let overall = bars.add(indicatif::ProgressBar::new(0));
        overall.set_style(
            indicatif::ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} steps {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.set_prefix("imgx");
        TerminalReporter { bars, overall, running: Mutex::new(std::collections::HashMap::new()), print_logs }
    }

    fn finish(&self, key: &StepKey, message: String) {
        if let Some(bar) = self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(key) {
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
        self.overall.inc(1);
        let _ = self.bars.println(message);
    }
}

impl Default for TerminalReporter {
    fn default() -> Self {
        TerminalReporter::new(false)
    }
}

impl Drop for TerminalReporter {
    fn drop(&mut self) {
        self.overall.finish_and_clear();
    }
}

impl Reporter for TerminalReporter {
    fn planned(&self, pending: usize, _cached: usize) {
        self.overall.set_length(pending as u64);
        if pending == 0 {
            self.overall.finish_and_clear();
        }
    }

    fn cached(&self, _key: &StepKey, _step: &Step, _output: &ObjectHash) {}

    fn reused(&self, key: &StepKey, step: &Step, _output: &ObjectHash) {
        self.finish(key, format!("  reused {} (inputs rebuilt identically)", label(key, step)));
    }

    fn substituted(&self, key: &StepKey, step: &Step, _output: &ObjectHash, cache: &str, duration: Duration) {
        self.finish(key, format!("  substituted {} from {cache} in {:.1} s", label(key, step), duration.as_secs_f64()));
    }

    fn warning(&self, key: &StepKey, step: &Step, message: &str) {
        self.bars.println(format!("  warning: {}: {message}", label(key, step))).ok();
    }

    fn started(&self, key: &StepKey, step: &Step) {
        let bar = self.bars.insert_before(&self.overall, indicatif::ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template("  {spinner} {prefix} {elapsed} {wide_msg:.dim}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label(key, step));
        bar.enable_steady_tick(Duration::from_millis(120));
        self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(*key, bar);
    }

    fn notice(&self, key: &StepKey, step: &Step, message: &str) {
        self.bars.println(format!("  note: {}: {message}", label(key, step))).ok();
    }

    fn built(&self, key: &StepKey, step: &Step, _output: &ObjectHash, duration: Duration) {
        self.finish(key, format!("  built {} in {:.1} s", label(key, step), duration.as_secs_f64()));
    }

    fn failed(&self, key: &StepKey, step: &Step, failure: &Failed<'_>) {
        let mut text = format!("  FAILED {}: {}", label(key, step), failure.message);
        if !self.print_logs {
            for line in failure.log_tail {
                text.push_str(&format!("\n    | {line}"));
            }
        }
        if let Some(log) = failure.log {
            text.push_str(&format!("\n    full log: {}", log.display()));
        }
        if let Some(kept) = failure.kept {
            text.push_str(&format!("\n    kept output: {}", kept.display()));
        }
        self.finish(key, text);
    }

    fn log_line(&self, key: &StepKey, step: &Step, line: &str) {
        if self.print_logs {
            let _ = self.bars.println(format!("{}> {line}", step.name));
        }
        if let Some(bar) = self.running.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            // Control characters would move the cursor under the display.
            let shown: String = line.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            bar.set_message(shown);
        }
    }
}
