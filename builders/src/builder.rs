//! The interface every step kind implements, and the registry of kinds.

use crate::step::{InputRef, Step, StepKey};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Why a build failed. Messages are written for the person who wrote the step.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The parameters are not what the kind accepts.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// A file-system operation failed.
    #[error("{action} '{}': {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The build ran and failed.
    #[error("{0}")]
    Failed(String),
}

impl BuildError {
    /// An I/O error with the action and path that led to it.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> BuildError {
        BuildError::Io { action, path: path.to_path_buf(), source }
    }
}

/// A parameter that a step kind does not accept, found at evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// Which parameter, as a path: `size`, `partitions[1].size`,
    /// `entries.etc/motd`. The evaluator points the error at the place
    /// where that attribute is written.
    pub at: Option<String>,
    /// What is wrong, in plain words.
    pub message: String,
}

impl ParamError {
    /// An error about one parameter.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> ParamError {
        ParamError { at: Some(path.into()), message: message.into() }
    }
}

impl From<String> for ParamError {
    fn from(message: String) -> ParamError {
        ParamError { at: None, message }
    }
}

impl From<&str> for ParamError {
    fn from(message: &str) -> ParamError {
        ParamError { at: None, message: message.to_string() }
    }
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A whole-number parameter within `range` (inclusive), `default` when
/// absent or null; the error names the parameter, its unit and the range.
pub(crate) fn number_param(
    params: &serde_json::Value,
    name: &str,
    default: u64,
    range: (u64, u64),
    unit: &str,
) -> Result<u64, ParamError> {
    match params.get(name) {
        None | Some(serde_json::Value::Null) => Ok(default),
        Some(value) => match value.as_u64() {
            Some(n) if n >= range.0 && n <= range.1 => Ok(n),
            _ => Err(ParamError::at(
                name,
                format!("'{name}' must be a whole number of {unit} from {} to {}", range.0, range.1),
            )),
        },
    }
}

/// The date every step sees as "now" unless it sets `sourceDateEpoch`:
/// 1980-01-01, the earliest date FAT file systems can record.
pub const DEFAULT_SOURCE_DATE_EPOCH: i64 = 315_532_800;

/// Everything a builder may use while building one step.
pub struct BuildContext<'a> {
    /// The step being built.
    pub step: &'a Step,
    /// Its content key (from which UUIDs, seeds and the like are derived):
    /// steps whose inputs have the same content get the same bytes, however
    /// those inputs were described.
    pub key: StepKey,
    /// Where the output must be created (a file or a directory); it does
    /// not exist yet and lies inside the store's scratch area.
    pub out: PathBuf,
    /// A private working directory, removed after the build.
    pub work: PathBuf,
    /// The build log.
    pub log: &'a mut dyn Write,
    /// Where each input's output object lives.
    pub inputs: &'a BTreeMap<InputRef, PathBuf>,
    /// Tells the person running the build something about this step
    /// beyond its log (that it is impure, how the build VM runs), shown
    /// above the progress display.
    pub notice: &'a dyn Fn(&str),
    /// The store's hash of the output, for a builder that computed it while
    /// writing the output ([`imgx_store::hash::ContentHasher`]): the output
    /// is then registered under it without being read back. `None` (as
    /// every build starts) has the store hash the output.
    pub output_hash: Option<imgx_store::ObjectHash>,
}

impl<'a> BuildContext<'a> {
    /// The path of the input a placeholder string refers to.
    pub fn input_path(&self, placeholder: &str) -> Result<&Path, BuildError> {
        let input = InputRef::parse_placeholder(placeholder).ok_or_else(|| {
            BuildError::InvalidParams(format!("'{placeholder}' does not refer to a step or a store object"))
        })?;
        self.inputs
            .get(&input)
            .map(PathBuf::as_path)
            .ok_or_else(|| BuildError::Failed(format!("input {placeholder} is not realised")))
    }

    /// The file or folder a path parameter names: a step's output or an
    /// imported object (`"${disk}"`), or something inside one
    /// (`"${tree}/disk.raw"`), never outside it.
    pub fn input_file(&self, param: &str, value: &str) -> Result<PathBuf, BuildError> {
        let input = InputRef::parse_placeholder(value).ok_or_else(|| {
            BuildError::InvalidParams(format!("'{param}' ('{value}') does not refer to a step or a store object"))
        })?;
        let placeholder = input.placeholder();
        let root = self.input_path(&placeholder)?.to_path_buf();
        let rest = &value[placeholder.len()..];
        let relative = rest.trim_start_matches('/');
        if relative.is_empty() {
            return Ok(root);
        }
        if !rest.starts_with('/') || !Path::new(relative).components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(BuildError::InvalidParams(format!(
                "'{param}' ('{value}') is not a path inside a step's output"
            )));
        }
        Ok(root.join(relative))
    }

    /// A string parameter.
    pub fn str_param(&self, name: &str) -> Option<&'a str> {
        self.step.params.get(name).and_then(|v| v.as_str())
    }

    /// The step's notion of "now" (`sourceDateEpoch`, else
    /// [`DEFAULT_SOURCE_DATE_EPOCH`]), for every timestamp it writes.
    pub fn source_date_epoch(&self) -> i64 {
        self.step.params.get("sourceDateEpoch").and_then(|v| v.as_i64()).unwrap_or(DEFAULT_SOURCE_DATE_EPOCH)
    }

    /// Bytes derived from the step's key for `purpose` ("disk uuid",
    /// "root fs uuid", …): the same step always gets the same UUIDs and
    /// seeds, and different steps or purposes get different ones.
    pub fn derived(&self, purpose: &str) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_derive_key("imgx derived value");
        hasher.update(&self.key.0).update(purpose.as_bytes());
        *hasher.finalize().as_bytes()
    }

    /// A Boolean parameter with a default.
    pub fn bool_param(&self, name: &str, default: bool) -> bool {
        self.step.params.get(name).and_then(|v| v.as_bool()).unwrap_or(default)
    }
}

/// A step kind.
pub trait Builder: Sync {
    /// The kind's name, as `builtins.step { kind = …; }` spells it.
    fn kind(&self) -> &'static str;

    /// Part of every realisation: a new version of a builder may produce
    /// different bytes, and records which one built an output.
    fn version(&self) -> &'static str;

    /// Checks the parameters at evaluation time, so that mistakes are
    /// reported at the place they were written, before anything runs.
    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError>;

    /// For a fixed-output kind, what the output is declared to be (see
    /// `Step::fixed`); `None` (the default) for ordinary kinds.
    fn fixed_output(&self, _params: &serde_json::Value) -> Option<serde_json::Value> {
        None
    }

    /// Builds the output at `ctx.out`.
    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError>;
}

/// Every step kind imgx knows.
pub fn builders() -> &'static [&'static dyn Builder] {
    &[
        &crate::file::FileBuilder,
        &crate::directory::DirectoryBuilder,
        &crate::convert::ConvertBuilder,
        &crate::fetch::FetchBuilder,
        &crate::unpack::UnpackBuilder,
        &crate::disk::DiskBuilder,
        &crate::vm::VmBuilder,
        &crate::run::RunBuilder,
        &crate::boot_test::BootTestBuilder,
    ]
}

/// The builder of a kind.
pub fn builder_for(kind: &str) -> Option<&'static dyn Builder> {
    builders().iter().copied().find(|b| b.kind() == kind)
}
