//! The user's cache settings: `$XDG_CONFIG_HOME/imgx/config.toml` (else
//! `~/.config/imgx/config.toml`), merged with command-line flags.
//!
//! ```toml
//! substituters = ["https://cache.example.org/imgx", "file:///mnt/team-cache"]
//! trusted-public-keys = ["cache.example.org-1:…base64…"]
//! ```

use super::sign::{KeyError, PublicKey};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    /// The file is not valid TOML of the expected shape.
    #[error("{} is not a valid imgx configuration", .0.display())]
    Parse(PathBuf, #[source] Box<toml::de::Error>),
    /// A trusted key (from the file or a flag) is malformed.
    #[error("the trusted key {0:?} is neither `name:base64` nor a file holding one")]
    Key(String, #[source] KeyError),
}

/// The settings of `config.toml` that imgx reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Cache URLs to substitute from.
    #[serde(default)]
    pub substituters: Vec<String>,
    /// Keys whose signatures make a manifest acceptable.
    #[serde(default)]
    pub trusted_public_keys: Vec<String>,
}

/// Where the configuration file is, if a home or config folder is known.
pub fn config_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|home| home.join(".config")))?;
    Some(base.join("imgx").join("config.toml"))
}

impl Config {
    /// Reads the configuration file; a missing file is an empty
    /// configuration.
    pub fn load() -> Result<Config, ConfigError> {
        match config_path() {
            Some(path) => Config::load_from(&path),
            None => Ok(Config::default()),
        }
    }

    /// Reads a configuration file; a missing file is an empty one, and so
    /// is one in a folder this process may not search (another user's
    /// home, when `HOME` was kept across a change of user): it cannot be
    /// this process's configuration. A file that is there but unreadable
    /// is an error.
    pub fn load_from(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e)
                if e.kind() == std::io::ErrorKind::PermissionDenied
                    && std::fs::metadata(path).is_err_and(|m| m.kind() == std::io::ErrorKind::PermissionDenied) =>
            {
                return Ok(Config::default());
            }
            Err(e) => return Err(ConfigError::Read(path.to_path_buf(), e)),
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse(path.to_path_buf(), Box::new(e)))
    }
}

/// Parses a trusted key given as `name:base64`, or as the path of a file
/// holding one (such as the `NAME.public` that `imgx key generate` writes).
pub fn parse_trusted_key(text: &str) -> Result<PublicKey, ConfigError> {
    match PublicKey::parse(text) {
        Ok(key) => Ok(key),
        Err(error) => match std::fs::read_to_string(text) {
            Ok(contents) => PublicKey::parse(&contents).map_err(|e| ConfigError::Key(text.to_owned(), e)),
            Err(_) => Err(ConfigError::Key(text.to_owned(), error)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_kebab_case_toml_and_typos_are_errors() {
        let config: Config =
            toml::from_str("substituters = [\"file:///c\"]\ntrusted-public-keys = [\"k:AAAA\"]\n").unwrap();
        assert_eq!(config.substituters, vec!["file:///c"]);
        assert_eq!(config.trusted_public_keys, vec!["k:AAAA"]);
        assert!(toml::from_str::<Config>("substituter = []\n").is_err());
    }
}
