//! A check's results for people (progress on standard error, the report
//! of what differs on standard output) and for tools (JSON events).

use super::driver::{CheckReporter, StepCheck, Verdict};
use super::explain::Difference;
use imgx_builders::{Step, StepKey};
use std::io::Write;

fn label(name: &str, kind: &str, key: &StepKey) -> String {
    format!("{name} ({kind}, {})", key.short())
}

/// One difference as indented text; a multi-line detail (a diff) goes
/// under its place.
fn difference_text(difference: &Difference) -> String {
    let place = if difference.place.is_empty() { "the output".to_string() } else { difference.place.clone() };
    let head = format!("  {place}: {}", difference.aspect.name());
    if difference.detail.contains('\n') {
        let body: Vec<String> = difference.detail.lines().map(|l| format!("      {l}")).collect();
        format!("{head}\n{}", body.join("\n"))
    } else {
        format!("{head}: {}", difference.detail)
    }
}

/// The report of one step that did not rebuild to its registered output.
pub fn step_text(check: &StepCheck) -> Option<String> {
    let title = label(&check.name, &check.kind, &check.key);
    match &check.verdict {
        Verdict::Same => None,
        Verdict::Failed { message } => Some(format!("{title} could not be checked: {message}")),
        Verdict::Differs { rebuilt, differences, kept, diffoscope } => {
            let mut text = format!("{title} rebuilt differently:\n");
            if let Some(registered) = &check.registered {
                text.push_str(&format!("  registered output: {registered}\n"));
            }
            text.push_str(&format!("  rebuilt output:    {rebuilt}\n"));
            for difference in differences {
                text.push_str(&difference_text(difference));
                text.push('\n');
            }
            if let Some(kept) = kept {
                text.push_str(&format!("  the rebuilt output is kept at {}\n", kept.display()));
                if let Some(folder) = kept.parent() {
                    text.push_str(&format!("  the rebuild's log is {}\n", folder.join("rebuild.log").display()));
                }
            }
            if let Some(diffoscope) = diffoscope {
                text.push_str("  diffoscope:\n");
                for line in diffoscope.lines() {
                    text.push_str(&format!("    {line}\n"));
                }
            }
            Some(text)
        }
    }
}

/// Progress as plain lines on standard error; each difference report on
/// standard output as soon as its step is done.
pub struct TextReporter;

impl CheckReporter for TextReporter {
    fn started(&self, key: &StepKey, step: &Step) {
        eprintln!("checking {}", label(&step.name, &step.kind, key));
    }

    fn finished(&self, check: &StepCheck) {
        if let Some(text) = step_text(check) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        }
    }
}

/// One JSON object per checked step on standard output.
pub struct JsonReporter;

/// The JSON event of one step's check.
pub fn step_event(check: &StepCheck) -> serde_json::Value {
    let (result, extra) = match &check.verdict {
        Verdict::Same => ("same", serde_json::json!({})),
        Verdict::Failed { message } => ("failed", serde_json::json!({ "error": message })),
        Verdict::Differs { rebuilt, differences, kept, diffoscope } => (
            "differs",
            serde_json::json!({
                "rebuilt": rebuilt.to_hex(),
                "differences": differences.iter().map(|d| serde_json::json!({
                    "place": d.place, "aspect": d.aspect.name(), "detail": d.detail,
                })).collect::<Vec<_>>(),
                "kept": kept.as_ref().map(|p| p.display().to_string()),
                "diffoscope": diffoscope,
            }),
        ),
    };
    let mut event = serde_json::json!({
        "event": "check",
        "step": { "name": check.name, "kind": check.kind, "key": check.key.to_hex() },
        "result": result,
        "registered": check.registered.map(|h| h.to_hex()),
    });
    if let (Some(target), serde_json::Value::Object(extra)) = (event.as_object_mut(), extra) {
        target.extend(extra);
    }
    event
}

impl CheckReporter for JsonReporter {
    fn started(&self, _key: &StepKey, _step: &Step) {}

    fn finished(&self, check: &StepCheck) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", step_event(check));
    }
}
