//! The declared hash of a fetch: parsing, its canonical spelling, and
//! hashing bytes as they stream past.

use imgx_lang::hash_format::{self, HashAlgo, HashFormatError};
use sha2::Digest;

/// A hash a step declares for the bytes it fetches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredHash {
    /// The algorithm: SHA-256, SHA-512 or BLAKE3.
    pub algo: HashAlgo,
    /// The digest.
    pub digest: Vec<u8>,
}

impl DeclaredHash {
    /// Reads a hash in any encoding Nix accepts (`sha256-<base64>`,
    /// `sha256:<nix32 or hex>`, `blake3:<hex>`, `blake3-<base64>`), for the
    /// algorithms strong enough to pin a download.
    pub fn parse(text: &str) -> Result<DeclaredHash, String> {
        let (algo, digest) = hash_format::parse_any(text, None).map_err(|error| match error {
            HashFormatError::MissingAlgo(_) => format!(
                "hash '{text}' does not say its algorithm; write it as SRI (\"sha256-…\", \"sha512-…\") \
                 or as \"blake3:<hex>\""
            ),
            other => other.to_string(),
        })?;
        match algo {
            HashAlgo::Sha256 | HashAlgo::Sha512 | HashAlgo::Blake3 => Ok(DeclaredHash { algo, digest }),
            HashAlgo::Md5 | HashAlgo::Sha1 => {
                Err(format!("{algo} is too weak to pin a download; use sha256, sha512 or blake3"))
            }
        }
    }

    /// The canonical spelling: SRI for SHA-2, `blake3:<hex>` for BLAKE3.
    pub fn canonical(&self) -> String {
        canonical(self.algo, &self.digest)
    }

    /// A name for files about this hash (the download cache's folder):
    /// `<algo>-<hex>`, safe in a path.
    pub fn file_name(&self) -> String {
        format!("{}-{}", self.algo.name(), hash_format::to_base16(&self.digest))
    }

    /// A hasher of the same algorithm.
    pub fn hasher(&self) -> StreamHasher {
        StreamHasher::new(self.algo)
    }
}

/// The canonical spelling of a digest (see [`DeclaredHash::canonical`]).
pub fn canonical(algo: HashAlgo, digest: &[u8]) -> String {
    match algo {
        HashAlgo::Blake3 => format!("blake3:{}", hash_format::to_base16(digest)),
        _ => hash_format::to_sri(algo, digest),
    }
}

/// The error of fetched bytes whose hash is not the declared one: both
/// hashes, and the line to paste into the step.
pub fn mismatch(what: &str, declared: &DeclaredHash, actual: &[u8]) -> crate::builder::BuildError {
    let got = canonical(declared.algo, actual);
    crate::builder::BuildError::Failed(format!(
        "hash mismatch for {what}: declared {}, got {got}; use hash = \"{got}\";",
        declared.canonical()
    ))
}

/// A hash computed over bytes fed to it piece by piece.
pub enum StreamHasher {
    /// SHA-256.
    Sha256(Box<sha2::Sha256>),
    /// SHA-512.
    Sha512(Box<sha2::Sha512>),
    /// BLAKE3.
    Blake3(Box<blake3::Hasher>),
}

impl StreamHasher {
    /// A fresh hasher for `algo` (SHA-256 for the algorithms a fetch refuses).
    pub fn new(algo: HashAlgo) -> StreamHasher {
        match algo {
            HashAlgo::Sha512 => StreamHasher::Sha512(Box::default()),
            HashAlgo::Blake3 => StreamHasher::Blake3(Box::default()),
            _ => StreamHasher::Sha256(Box::default()),
        }
    }

    /// The algorithm.
    pub fn algo(&self) -> HashAlgo {
        match self {
            StreamHasher::Sha256(_) => HashAlgo::Sha256,
            StreamHasher::Sha512(_) => HashAlgo::Sha512,
            StreamHasher::Blake3(_) => HashAlgo::Blake3,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            StreamHasher::Sha256(h) => h.update(bytes),
            StreamHasher::Sha512(h) => h.update(bytes),
            StreamHasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Vec<u8> {
        match self {
            StreamHasher::Sha256(h) => h.finalize().to_vec(),
            StreamHasher::Sha512(h) => h.finalize().to_vec(),
            StreamHasher::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }

    /// Feeds everything `reader` yields; returns how many bytes that was.
    pub fn update_reader(&mut self, reader: &mut impl std::io::Read) -> std::io::Result<u64> {
        let mut buffer = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            self.update(&buffer[..n]);
            total += n as u64;
        }
    }
}

/// The digest of a whole file, with `algo`.
pub fn hash_file(algo: HashAlgo, path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut hasher = StreamHasher::new(algo);
    hasher.update_reader(&mut std::fs::File::open(path)?)?;
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_and_canonicalises() {
        let sri = "sha256-LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564=";
        let hash = DeclaredHash::parse(sri).unwrap();
        assert_eq!(hash.canonical(), sri);
        let hex = hash_format::to_base16(&hash.digest);
        assert_eq!(DeclaredHash::parse(&format!("sha256:{hex}")).unwrap(), hash);
        let nix32 = hash_format::to_nix32(&hash.digest);
        assert_eq!(DeclaredHash::parse(&format!("sha256:{nix32}")).unwrap(), hash);
        let blake = DeclaredHash::parse(&format!("blake3:{}", "ab".repeat(32))).unwrap();
        assert_eq!(blake.canonical(), format!("blake3:{}", "ab".repeat(32)));
        assert!(DeclaredHash::parse("md5-1B2M2Y8AsgTpgAmY7PhCfg==").unwrap_err().contains("too weak"));
        assert!(DeclaredHash::parse("abc").unwrap_err().contains("algorithm"));
        assert!(DeclaredHash::parse("sha256-abc").is_err());
    }

    #[test]
    fn streams_the_same_digest_as_one_shot() {
        for algo in [HashAlgo::Sha256, HashAlgo::Sha512, HashAlgo::Blake3] {
            let mut hasher = StreamHasher::new(algo);
            hasher.update(b"hello ");
            hasher.update(b"world");
            assert_eq!(hasher.finish(), hash_format::digest(algo, b"hello world"));
        }
    }
}
