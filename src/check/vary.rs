//! What `--check` can vary between the build and the rebuild, as
//! reprotest does, so that a builder that depends on something it must not
//! shows it on one machine:
//!
//! - `umask`: the rebuild runs with another umask (0077, or 0002 when the
//!   build's was already strict);
//! - `tz`: another time zone (`TZ`, UTC+14 or UTC-12);
//! - `locale`: another locale (`LC_ALL`, `LANG`, `LANGUAGE`);
//! - `env`: variables a builder must not pass on to its tools
//!   (`SOURCE_DATE_EPOCH`, `E2FSPROGS_FAKE_TIME`, `TMPDIR`, a random one);
//! - `time`: the host clock 37 hours ahead (`faketime`, when installed);
//! - `order`: every directory input is copied, its entries created in
//!   reverse order of their names, so builders that list it see another
//!   order on file systems that keep creation order;
//! - `cpus`: run steps' build VM gets another number of CPUs (1 ↔ 2).
//!
//! The first five change the process: the rebuilds run in a child `imgx`
//! started with them. The last two are applied to each step's rebuild.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// One thing to vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variation {
    /// The umask.
    Umask,
    /// The time zone.
    Tz,
    /// The locale.
    Locale,
    /// Environment variables builders must not pass on.
    Env,
    /// The host clock.
    Time,
    /// The creation order of directory inputs' entries.
    Order,
    /// The build VM's CPUs.
    Cpus,
}

impl Variation {
    /// Every variation, in the order `--vary all` lists them.
    pub const ALL: [Variation; 7] = [
        Variation::Umask,
        Variation::Tz,
        Variation::Locale,
        Variation::Env,
        Variation::Time,
        Variation::Order,
        Variation::Cpus,
    ];

    /// The name `--vary` takes.
    pub fn name(self) -> &'static str {
        match self {
            Variation::Umask => "umask",
            Variation::Tz => "tz",
            Variation::Locale => "locale",
            Variation::Env => "env",
            Variation::Time => "time",
            Variation::Order => "order",
            Variation::Cpus => "cpus",
        }
    }

    /// Whether it changes the whole process (and so needs a child imgx).
    pub fn is_process_wide(self) -> bool {
        matches!(self, Variation::Umask | Variation::Tz | Variation::Locale | Variation::Env | Variation::Time)
    }
}

/// A `--vary` value that names nothing known.
#[derive(Debug, thiserror::Error)]
pub enum VaryError {
    /// An unknown name.
    #[error("unknown variation '{0}': expected all, none or a list of umask, tz, locale, env, time, order, cpus")]
    Unknown(String),
    /// `time` was asked for by name, and faketime is missing.
    #[error("`--vary time` needs faketime (Debian package faketime), which is not installed")]
    NoFaketime,
}

/// The variations of one check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variations {
    /// What is varied.
    pub chosen: BTreeSet<Variation>,
    /// What `all` included but cannot be varied here, with the reason.
    pub skipped: Vec<(Variation, &'static str)>,
}

/// Whether faketime can run.
fn faketime_works() -> bool {
    Command::new("faketime")
        .args(["-f", "+1h", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Variations {
    /// Parses `--vary` values: `all`, `none`, or names separated by commas
    /// (the flag may also be repeated).
    pub fn parse(values: &[String]) -> Result<Variations, VaryError> {
        let mut variations = Variations::default();
        let mut all = false;
        for name in values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => all = true,
                "none" => {}
                _ => {
                    let found = Variation::ALL.iter().find(|v| v.name() == name);
                    variations.chosen.insert(*found.ok_or_else(|| VaryError::Unknown(name.to_string()))?);
                }
            }
        }
        let faketime = (all || variations.chosen.contains(&Variation::Time)).then(faketime_works);
        if variations.chosen.contains(&Variation::Time) && faketime == Some(false) {
            return Err(VaryError::NoFaketime);
        }
        if all {
            for variation in Variation::ALL {
                if variation == Variation::Time && faketime == Some(false) {
                    variations.skipped.push((variation, "faketime is not installed"));
                } else {
                    variations.chosen.insert(variation);
                }
            }
        }
        Ok(variations)
    }

    /// Whether `variation` is chosen.
    pub fn has(&self, variation: Variation) -> bool {
        self.chosen.contains(&variation)
    }

    /// Whether the rebuilds need a child process.
    pub fn needs_child(&self) -> bool {
        self.chosen.iter().any(|v| v.is_process_wide())
    }

    /// `umask, tz` (or `nothing`), for the summary.
    pub fn describe(&self) -> String {
        if self.chosen.is_empty() {
            return "nothing".into();
        }
        let names: Vec<&str> = self.chosen.iter().map(|v| v.name()).collect();
        let mut text = names.join(", ");
        for (variation, why) in &self.skipped {
            text.push_str(&format!("; not {} ({why})", variation.name()));
        }
        text
    }

    /// The command that runs `exe args` with the process-wide variations;
    /// `tmp` is a private, empty folder for the varied `TMPDIR`.
    pub fn child_command(&self, exe: &Path, args: &[std::ffi::OsString], tmp: &Path) -> Command {
        let mut command = Command::new("sh");
        let umask = if self.has(Variation::Umask) { other_umask().to_string() } else { current_umask() };
        command.arg("-c").arg(format!("umask {umask}; exec \"$@\"")).arg("sh");
        if self.has(Variation::Time) {
            command.args(["faketime", "-f", "+37h"]);
        }
        command.arg(exe).args(args);
        if self.has(Variation::Tz) {
            let current = std::env::var("TZ").unwrap_or_default();
            command.env("TZ", if current == "Pacific/Kiritimati" { "Etc/GMT+12" } else { "Pacific/Kiritimati" });
        }
        if self.has(Variation::Locale) {
            let current = std::env::var("LC_ALL").or_else(|_| std::env::var("LANG")).unwrap_or_default();
            let other = if current == "C.UTF-8" { "C" } else { "C.UTF-8" };
            command.env("LC_ALL", other).env("LANG", other).env("LANGUAGE", "de:fr");
        }
        if self.has(Variation::Env) {
            let noise = blake3::hash(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
            command
                .env("SOURCE_DATE_EPOCH", "1")
                .env("E2FSPROGS_FAKE_TIME", "1")
                .env("TMPDIR", tmp)
                .env("IMGX_CHECK_NOISE", &noise.to_hex()[..16]);
        }
        command
    }
}

/// This process's umask, from `/proc/self/status` (reading it otherwise
/// means changing it).
fn current_umask() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").map(|v| v.trim().to_string())))
        .unwrap_or_else(|| "0022".into())
}

/// A umask that differs from the current one.
fn other_umask() -> &'static str {
    if current_umask() == "0077" { "0002" } else { "0077" }
}

/// For `cpus`: the step with another number of CPUs, if it is a run step
/// (the key it is built under stays the registered step's).
pub fn vary_cpus(step: &imgx_builders::Step) -> Option<imgx_builders::Step> {
    if step.kind != "run" {
        return None;
    }
    let mut varied = step.clone();
    let cpus = step.params.get("cpus").and_then(|v| v.as_u64()).unwrap_or(1);
    let other = if cpus == 1 { 2 } else { 1 };
    varied.params.as_object_mut()?.insert("cpus".into(), serde_json::Value::from(other));
    Some(varied)
}

/// For `order`: copies the directory `from` to `to` creating each folder's
/// entries in reverse order of their names (files as reflinks or sparse
/// copies), with the same modes.
pub fn copy_reversed(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(to)?;
    let mut names: Vec<std::ffi::OsString> =
        std::fs::read_dir(from)?.map(|e| e.map(|e| e.file_name())).collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names.iter().rev() {
        let (source, target) = (from.join(name), to.join(name));
        let meta = std::fs::symlink_metadata(&source)?;
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if meta.is_dir() {
            copy_reversed(&source, &target)?;
        } else {
            imgx_store::copy::copy_file(&source, &target)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(meta.permissions().mode()))?;
        }
    }
    let mode = std::fs::metadata(from)?.permissions().mode();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_takes_lists_repeats_and_rejects_unknown_names() {
        let parsed = Variations::parse(&["umask,tz".into(), "cpus".into()]).expect("parses");
        let names: Vec<&str> = parsed.chosen.iter().map(|v| v.name()).collect();
        assert_eq!(names, ["umask", "tz", "cpus"]);
        assert!(parsed.needs_child());
        let local = Variations::parse(&["order,cpus".into()]).expect("parses");
        assert!(!local.needs_child(), "order and cpus apply to each rebuild");
        assert!(Variations::parse(&["none".into()]).expect("parses").chosen.is_empty());
        assert!(
            matches!(Variations::parse(&["umask,colour".into()]), Err(VaryError::Unknown(name)) if name == "colour")
        );
    }

    #[test]
    fn only_run_steps_get_other_cpus() {
        let step = |kind: &str, params: serde_json::Value| imgx_builders::Step {
            kind: kind.into(),
            name: "x".into(),
            params,
            inputs: Default::default(),
            fixed: None,
        };
        assert!(vary_cpus(&step("disk", serde_json::json!({}))).is_none());
        let varied = vary_cpus(&step("run", serde_json::json!({ "script": "true" }))).expect("a run step");
        assert_eq!(varied.params["cpus"], 2);
        let varied = vary_cpus(&step("run", serde_json::json!({ "cpus": 4 }))).expect("a run step");
        assert_eq!(varied.params["cpus"], 1);
    }
}
