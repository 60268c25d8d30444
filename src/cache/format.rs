//! The layout of a binary cache: which file holds what, the cache's info
//! file, and the signed realisation manifests. `docs/cache-format.md` is
//! the description for people; this module is the one for the program.
//!
//! Every name that comes from a cache (a manifest's key and output) is
//! checked to be 64 lowercase hexadecimal digits before a path or URL is
//! formed from it.

use imgx_store::{ObjectHash, ObjectKind};
use serde::{Deserialize, Serialize};

/// The format version this imgx reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The priority a new cache gets: lower numbers are asked first.
pub const DEFAULT_PRIORITY: u32 = 50;
/// The name of the cache's info file.
pub const INFO_FILE: &str = "imgx-cache-info";
/// Manifests larger than this are refused unread (a real one is well
/// under a kilobyte).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// Why a file read from a cache is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The info file is malformed.
    #[error("the cache's {INFO_FILE} is malformed: {0}")]
    Info(String),
    /// The cache is in a format this imgx does not know.
    #[error("the cache has format version {0}; this imgx reads version {FORMAT_VERSION}")]
    Version(u32),
    /// A manifest is not valid JSON of the expected shape.
    #[error("the manifest is malformed: {0}")]
    Manifest(String),
}

/// The path of the manifest of a step key, relative to the cache's root.
/// The key must be valid ([`is_key`]); the callers check it first.
pub fn manifest_path(key: &str) -> String {
    format!("realisations/{key}.json")
}

/// The path of an object's archive, relative to the cache's root.
pub fn object_path(hash: &ObjectHash) -> String {
    format!("objects/{}.archive.zst", hash.to_hex())
}

/// Whether `name` is a step key or object hash as a cache may name them:
/// exactly 64 lowercase hexadecimal digits, so that it can never be a
/// path with a separator or a `..` in it.
pub fn is_key(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses an object hash from a cache: exactly 64 lowercase hexadecimal
/// digits.
pub fn parse_hash(name: &str) -> Option<ObjectHash> {
    if is_key(name) { ObjectHash::from_hex(name) } else { None }
}

/// The contents of `imgx-cache-info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheInfo {
    /// The format version of everything in the cache.
    pub format: u32,
    /// Where the cache comes among substituters: lower is asked first.
    pub priority: u32,
}

impl CacheInfo {
    /// Renders the file: `Key: value` lines.
    pub fn render(&self) -> String {
        format!("Format: {}\nPriority: {}\n", self.format, self.priority)
    }

    /// Parses the file. Unknown keys are ignored, so later versions may add
    /// some; a missing `Format` or a version other than
    /// [`FORMAT_VERSION`] is an error.
    pub fn parse(text: &str) -> Result<CacheInfo, FormatError> {
        let mut format = None;
        let mut priority = DEFAULT_PRIORITY;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(FormatError::Info(format!("the line {line:?} is not `Key: value`")));
            };
            let number =
                || value.trim().parse::<u32>().map_err(|_| FormatError::Info(format!("{name} is not a number")));
            match name.trim() {
                "Format" => format = Some(number()?),
                "Priority" => priority = number()?,
                _ => {}
            }
        }
        let format = format.ok_or_else(|| FormatError::Info("it has no `Format:` line".into()))?;
        if format != FORMAT_VERSION {
            return Err(FormatError::Version(format));
        }
        Ok(CacheInfo { format, priority })
    }
}

/// A realisation manifest: that a step key has an output, signed.
///
/// Stored as JSON at [`manifest_path`]. Only the fields in
/// [`Manifest::fingerprint`] are signed; that is everything but the
/// signatures themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT_VERSION`].
    pub format: u32,
    /// The step key (64 lowercase hexadecimal digits).
    pub key: String,
    /// The output object's content hash (64 lowercase hexadecimal digits).
    pub output: String,
    /// `file`, `directory` or `symlink`.
    pub kind: String,
    /// The output's apparent size in bytes, as the store counts it; an
    /// archive that unpacks to more is refused.
    pub size: u64,
    /// Objects the output needs beside itself. imgx objects are
    /// self-contained, so this is empty; the field is signed so that a
    /// later version can use it without a new format.
    #[serde(default)]
    pub references: Vec<String>,
    /// Signatures over the fingerprint: `name:base64`.
    #[serde(default)]
    pub signatures: Vec<String>,
}

impl Manifest {
    /// An unsigned manifest for a realisation.
    pub fn new(key: &str, output: &ObjectHash, kind: ObjectKind, size: u64) -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            key: key.to_owned(),
            output: output.to_hex(),
            kind: kind.as_str().to_owned(),
            size,
            references: Vec::new(),
            signatures: Vec::new(),
        }
    }

    /// The string a signature covers:
    /// `imgx-realisation:1:<key>:<output>:<kind>:<size>:<references>`,
    /// references joined by commas (empty when there are none).
    pub fn fingerprint(&self) -> String {
        format!(
            "imgx-realisation:{}:{}:{}:{}:{}:{}",
            self.format,
            self.key,
            self.output,
            self.kind,
            self.size,
            self.references.join(",")
        )
    }

    /// The manifest as it is stored: pretty JSON with a final newline.
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses a manifest and checks that its names are well formed and that
    /// it is the one for `key`.
    pub fn parse(bytes: &[u8], key: &str) -> Result<Manifest, FormatError> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| FormatError::Manifest(e.to_string()))?;
        if manifest.format != FORMAT_VERSION {
            return Err(FormatError::Version(manifest.format));
        }
        if manifest.key != key {
            return Err(FormatError::Manifest(format!("it is for the key {:?}, not {key}", manifest.key)));
        }
        if parse_hash(&manifest.output).is_none() {
            return Err(FormatError::Manifest(format!("its output {:?} is not an object hash", manifest.output)));
        }
        if ObjectKind::parse(&manifest.kind).is_none() {
            return Err(FormatError::Manifest(format!("its kind {:?} is unknown", manifest.kind)));
        }
        if let Some(bad) = manifest.references.iter().find(|r| parse_hash(r).is_none()) {
            return Err(FormatError::Manifest(format!("its reference {bad:?} is not an object hash")));
        }
        Ok(manifest)
    }

    /// The output's hash (checked by [`Manifest::parse`]).
    pub fn output_hash(&self) -> Option<ObjectHash> {
        parse_hash(&self.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn names_are_lowercase_hex_of_the_right_length() {
        assert!(is_key(KEY));
        assert!(!is_key(&KEY.to_uppercase()));
        assert!(!is_key(&KEY[1..]));
        assert!(!is_key("../../../../../../../../../../../../../../../../../../../../etc/pw"));
        assert!(parse_hash(&format!("{}/", &KEY[1..])).is_none());
    }

    #[test]
    fn cache_info_round_trips_and_refuses_other_versions() {
        let info = CacheInfo { format: 1, priority: 30 };
        assert_eq!(CacheInfo::parse(&info.render()).unwrap(), info);
        assert_eq!(CacheInfo::parse("Format: 1\nLater: x\n").unwrap().priority, DEFAULT_PRIORITY);
        assert!(matches!(CacheInfo::parse("Format: 2\n"), Err(FormatError::Version(2))));
        assert!(CacheInfo::parse("Priority: 1\n").is_err());
    }

    #[test]
    fn manifests_are_checked_against_their_key() {
        let output = ObjectHash([7; 32]);
        let manifest = Manifest::new(KEY, &output, ObjectKind::File, 10);
        let text = manifest.render();
        assert_eq!(Manifest::parse(text.as_bytes(), KEY).unwrap(), manifest);
        let other = KEY.replace('0', "1");
        assert!(Manifest::parse(text.as_bytes(), &other).is_err());
        let evil = text.replace(&output.to_hex(), "../../etc/passwd");
        assert!(Manifest::parse(evil.as_bytes(), KEY).is_err());
        assert_eq!(manifest.fingerprint(), format!("imgx-realisation:1:{KEY}:{}:file:10:", output.to_hex()));
    }
}
