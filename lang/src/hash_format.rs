//! Hash algorithms and the textual encodings Nix uses for hashes.
//!
//! A digest can be written four ways:
//!
//! * base-16: lowercase hexadecimal (`2cf24dba…`);
//! * nix32: Nix's own base-32, with the alphabet
//!   `0123456789abcdfghijklmnpqrsvwxyz` (no `e`, `o`, `t`, `u`) and the
//!   digest read from its last bit backwards (`094qif9n…`);
//! * base-64: standard alphabet with `=` padding (`LPJNul+w…`);
//! * SRI: the algorithm's name, a dash and the base-64 form (`sha256-LPJNul+w…`).
//!
//! [`parse_any`] reads any of them, optionally prefixed by `ALGO:`, exactly
//! as Nix's `Hash::parseAny` does; the store layer reuses it for the hashes
//! given to fetchers.

use std::fmt;
use std::str::FromStr;

/// The characters of nix32, indexed by digit value.
const NIX32_CHARS: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// The characters of base-64, indexed by digit value.
const BASE64_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A hash algorithm Nix (or imgx, for BLAKE3) knows.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum HashAlgo {
    /// MD5 (16 bytes).
    Md5,
    /// SHA-1 (20 bytes).
    Sha1,
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-512 (64 bytes).
    Sha512,
    /// BLAKE3 with the default 32-byte output.
    Blake3,
}

impl HashAlgo {
    /// Every algorithm, in the order Nix lists them.
    pub const ALL: [HashAlgo; 5] =
        [HashAlgo::Blake3, HashAlgo::Md5, HashAlgo::Sha1, HashAlgo::Sha256, HashAlgo::Sha512];

    /// The algorithm's name as Nix writes it (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
            HashAlgo::Blake3 => "blake3",
        }
    }

    /// Looks an algorithm up by its name; fails with
    /// "unknown hash algorithm 'NAME'".
    pub fn parse(name: &str) -> Result<HashAlgo, HashFormatError> {
        HashAlgo::ALL
            .into_iter()
            .find(|algo| algo.name() == name)
            .ok_or_else(|| HashFormatError::UnknownAlgo(name.to_string()))
    }

    /// The digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 | HashAlgo::Blake3 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    /// Length of the digest in base-16.
    pub fn base16_len(self) -> usize {
        self.size() * 2
    }

    /// Length of the digest in nix32.
    pub fn nix32_len(self) -> usize {
        nix32_len(self.size())
    }

    /// Length of the digest in base-64, padding included.
    pub fn base64_len(self) -> usize {
        base64_len(self.size())
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgo {
    type Err = HashFormatError;

    fn from_str(name: &str) -> Result<HashAlgo, HashFormatError> {
        HashAlgo::parse(name)
    }
}

/// A textual encoding of a hash.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HashFormat {
    /// Lowercase hexadecimal.
    Base16,
    /// Nix's base-32.
    Nix32,
    /// Standard base-64 with padding.
    Base64,
    /// `ALGO-` followed by base-64.
    Sri,
}

impl HashFormat {
    /// Looks a format up by the name `convertHash` accepts: `base16`,
    /// `nix32` (or its old name `base32`), `base64` or `sri`.
    pub fn parse(name: &str) -> Result<HashFormat, HashFormatError> {
        match name {
            "base16" => Ok(HashFormat::Base16),
            "nix32" | "base32" => Ok(HashFormat::Nix32),
            "base64" => Ok(HashFormat::Base64),
            "sri" => Ok(HashFormat::Sri),
            other => Err(HashFormatError::UnknownFormat(other.to_string())),
        }
    }
}

impl FromStr for HashFormat {
    type Err = HashFormatError;

    fn from_str(name: &str) -> Result<HashFormat, HashFormatError> {
        HashFormat::parse(name)
    }
}

/// Why a hash or a hash-related name could not be read. The messages are
/// Nix's.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum HashFormatError {
    /// An algorithm name that is not one of [`HashAlgo`]'s.
    #[error("unknown hash algorithm '{0}'")]
    UnknownAlgo(String),
    /// A format name that is not one of [`HashFormat`]'s.
    #[error("unknown hash format '{0}', expect 'base16', 'base32', 'base64', or 'sri'")]
    UnknownFormat(String),
    /// Neither the text nor the caller says which algorithm the hash is for.
    #[error("hash '{0}' does not include a type, nor is the type otherwise known from context")]
    MissingAlgo(String),
    /// The text's prefix names another algorithm than the caller's.
    #[error("hash '{hash}' should have type '{expected}'")]
    AlgoMismatch {
        /// The hash as given.
        hash: String,
        /// The algorithm the caller asked for.
        expected: HashAlgo,
    },
    /// A base-16 hash with a character that is not a hexadecimal digit.
    #[error("invalid base-16 hash '{0}'")]
    InvalidBase16(String),
    /// A nix32 hash with a foreign character or bits beyond the digest.
    #[error("invalid base-32 hash '{0}'")]
    InvalidNix32(String),
    /// A base-64 hash that is malformed or decodes to the wrong size.
    #[error("invalid base-64 hash '{0}'")]
    InvalidBase64(String),
    /// An SRI hash that is malformed or decodes to the wrong size.
    #[error("invalid SRI hash '{0}'")]
    InvalidSri(String),
    /// A hash whose length fits none of the encodings of its algorithm.
    #[error("hash '{hash}' has wrong length for hash algorithm '{algo}'")]
    WrongLength {
        /// The hash as given (without its prefix).
        hash: String,
        /// The algorithm it was read for.
        algo: HashAlgo,
    },
}

/// Hashes `bytes` with `algo`.
pub fn digest(algo: HashAlgo, bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match algo {
        HashAlgo::Md5 => md5::Md5::digest(bytes).to_vec(),
        HashAlgo::Sha1 => sha1::Sha1::digest(bytes).to_vec(),
        HashAlgo::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
        HashAlgo::Sha512 => sha2::Sha512::digest(bytes).to_vec(),
        HashAlgo::Blake3 => blake3::hash(bytes).as_bytes().to_vec(),
    }
}

/// Length of a digest of `size` bytes in nix32.
pub fn nix32_len(size: usize) -> usize {
    if size == 0 { 0 } else { (size * 8 - 1) / 5 + 1 }
}

/// Length of a digest of `size` bytes in padded base-64.
pub fn base64_len(size: usize) -> usize {
    size.div_ceil(3) * 4
}

/// Writes bytes as lowercase hexadecimal.
pub fn to_base16(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Writes bytes in nix32. The first character holds the highest bits of
/// the last byte; the bit string is read from its end in groups of five.
pub fn to_nix32(bytes: &[u8]) -> String {
    let len = nix32_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let bit = n * 5;
        let (i, j) = (bit / 8, bit % 8);
        let low = u16::from(bytes[i]) >> j;
        let high = bytes.get(i + 1).map_or(0, |&b| u16::from(b) << (8 - j));
        out.push(NIX32_CHARS[usize::from((low | high) & 0x1f)] as char);
    }
    out
}

/// Writes bytes in standard base-64 with `=` padding.
pub fn to_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(base64_len(bytes.len()));
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |acc, (k, &b)| acc | u32::from(b) << (16 - 8 * k));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(BASE64_CHARS[((group >> (18 - 6 * k)) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes a digest as an SRI hash: `ALGO-BASE64`.
pub fn to_sri(algo: HashAlgo, bytes: &[u8]) -> String {
    format!("{}-{}", algo.name(), to_base64(bytes))
}

/// Writes a digest in the given format (SRI includes the algorithm; the
/// others do not).
pub fn format_hash(algo: HashAlgo, bytes: &[u8], format: HashFormat) -> String {
    match format {
        HashFormat::Base16 => to_base16(bytes),
        HashFormat::Nix32 => to_nix32(bytes),
        HashFormat::Base64 => to_base64(bytes),
        HashFormat::Sri => to_sri(algo, bytes),
    }
}

/// Reads hexadecimal (either case) into bytes; `None` for an odd length
/// or a non-hexadecimal character.
pub fn from_base16(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    digits.chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// Reads nix32 into a digest of `size` bytes; `None` for a foreign
/// character, or when the text's length is not that of `size` bytes or
/// it sets bits beyond them.
pub fn from_nix32(text: &str, size: usize) -> Option<Vec<u8>> {
    if text.len() != nix32_len(size) {
        return None;
    }
    let mut bytes = vec![0u8; size];
    for (n, c) in text.bytes().rev().enumerate() {
        let digit = NIX32_CHARS.iter().position(|&d| d == c)? as u16;
        let bit = n * 5;
        let (i, j) = (bit / 8, bit % 8);
        bytes[i] |= (digit << j) as u8;
        let carry = digit >> (8 - j);
        match bytes.get_mut(i + 1) {
            Some(next) => *next |= carry as u8,
            None if carry != 0 => return None,
            None => {}
        }
    }
    Some(bytes)
}

/// Reads base-64 as Nix does: decoding stops at the first `=`, line feeds
/// are skipped; `None` for any other character outside the alphabet.
pub fn from_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        match c {
            b'=' => break,
            b'\n' => continue,
            _ => {}
        }
        let digit = BASE64_CHARS.iter().position(|&d| d == c)? as u32;
        acc = (acc << 6 | digit) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Reads a hash in any of Nix's encodings, as Nix's `Hash::parseAny`:
///
/// * `ALGO:DIGEST` — the digest in base-16, nix32 or base-64, told apart
///   by length;
/// * `ALGO-BASE64` — SRI;
/// * a bare digest, when `algo` says which algorithm it is for.
///
/// When both the text and `algo` name an algorithm they must agree.
pub fn parse_any(text: &str, algo: Option<HashAlgo>) -> Result<(HashAlgo, Vec<u8>), HashFormatError> {
    let (prefix, rest, is_sri) = match text.split_once(':') {
        Some((prefix, rest)) => (Some(prefix), rest, false),
        None => match text.split_once('-') {
            Some((prefix, rest)) => (Some(prefix), rest, true),
            None => (None, text, false),
        },
    };
    let parsed = prefix.map(HashAlgo::parse).transpose()?;
    let algo = match (parsed, algo) {
        (None, None) => return Err(HashFormatError::MissingAlgo(rest.to_string())),
        (Some(found), Some(wanted)) if found != wanted => {
            return Err(HashFormatError::AlgoMismatch { hash: text.to_string(), expected: wanted });
        }
        (Some(found), _) => found,
        (None, Some(wanted)) => wanted,
    };
    Ok((algo, parse_digest(rest, algo, is_sri)?))
}

/// Reads a digest without prefix for a known algorithm; the encoding is
/// chosen by the text's length, or base-64 for SRI.
fn parse_digest(text: &str, algo: HashAlgo, is_sri: bool) -> Result<Vec<u8>, HashFormatError> {
    let len = text.len();
    if !is_sri && len == algo.base16_len() {
        from_base16(text).ok_or_else(|| HashFormatError::InvalidBase16(text.to_string()))
    } else if !is_sri && len == algo.nix32_len() {
        from_nix32(text, algo.size()).ok_or_else(|| HashFormatError::InvalidNix32(text.to_string()))
    } else if is_sri || len == algo.base64_len() {
        let invalid = || {
            let text = text.to_string();
            if is_sri { HashFormatError::InvalidSri(text) } else { HashFormatError::InvalidBase64(text) }
        };
        from_base64(text).filter(|bytes| bytes.len() == algo.size()).ok_or_else(invalid)
    } else {
        Err(HashFormatError::WrongLength { hash: text.to_string(), algo })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    const HELLO_SHA256_NIX32: &str = "094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic";
    const HELLO_SHA256_BASE64: &str = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";

    fn hello() -> Vec<u8> {
        digest(HashAlgo::Sha256, b"hello")
    }

    #[test]
    fn encodes_known_vectors() {
        assert_eq!(to_base16(&hello()), HELLO_SHA256);
        assert_eq!(to_nix32(&hello()), HELLO_SHA256_NIX32);
        assert_eq!(to_base64(&hello()), HELLO_SHA256_BASE64);
        assert_eq!(to_sri(HashAlgo::Sha256, &hello()), format!("sha256-{HELLO_SHA256_BASE64}"));
        let sha1 = digest(HashAlgo::Sha1, b"hello");
        assert_eq!(to_nix32(&sha1), "9m1skbnr5i43n3yypvda5s65vhfwdx5a");
        assert_eq!(to_base64(&digest(HashAlgo::Md5, b"hello")), "XUFAKrxLKna5cZ2REBfFkg==");
    }

    #[test]
    fn base64_pads_like_the_rfc() {
        let cases =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")];
        for (plain, encoded) in cases {
            assert_eq!(to_base64(plain.as_bytes()), encoded);
            assert_eq!(from_base64(encoded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(from_base64("Zm9v\nYg"), Some(b"foob".to_vec()));
        assert_eq!(from_base64("Zm9v!"), None);
    }

    #[test]
    fn round_trips_every_algorithm_and_format() {
        for algo in HashAlgo::ALL {
            let bytes = digest(algo, b"round trip");
            assert_eq!(bytes.len(), algo.size());
            for text in [to_base16(&bytes), to_nix32(&bytes), to_base64(&bytes)] {
                assert_eq!(parse_any(&text, Some(algo)), Ok((algo, bytes.clone())), "{text}");
                assert_eq!(parse_any(&format!("{algo}:{text}"), None), Ok((algo, bytes.clone())), "{text}");
            }
            assert_eq!(parse_any(&to_sri(algo, &bytes), None), Ok((algo, bytes.clone())));
            assert_eq!(to_base16(&bytes).len(), algo.base16_len());
            assert_eq!(to_nix32(&bytes).len(), algo.nix32_len());
            assert_eq!(to_base64(&bytes).len(), algo.base64_len());
        }
    }

    #[test]
    fn nix32_round_trips_arbitrary_bytes() {
        for size in [1usize, 2, 5, 16, 20, 32, 64] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(from_nix32(&to_nix32(&bytes), size), Some(bytes));
            let all_ones = vec![0xffu8; size];
            assert_eq!(from_nix32(&to_nix32(&all_ones), size), Some(all_ones));
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse_any(HELLO_SHA256, None), Err(HashFormatError::MissingAlgo(HELLO_SHA256.into())));
        assert!(matches!(parse_any(&format!("md5:{HELLO_SHA256}"), None), Err(HashFormatError::WrongLength { .. })));
        assert!(matches!(
            parse_any(&format!("sha256:{HELLO_SHA256}"), Some(HashAlgo::Sha1)),
            Err(HashFormatError::AlgoMismatch { .. })
        ));
        assert_eq!(parse_any("sha3:abc", None), Err(HashFormatError::UnknownAlgo("sha3".into())));
        let bad_hex = HELLO_SHA256.replace('2', "g");
        assert_eq!(parse_any(&bad_hex, Some(HashAlgo::Sha256)), Err(HashFormatError::InvalidBase16(bad_hex)));
        let bad_nix32 = HELLO_SHA256_NIX32.replace('q', "e");
        assert_eq!(parse_any(&bad_nix32, Some(HashAlgo::Sha256)), Err(HashFormatError::InvalidNix32(bad_nix32)));
        // The first character of a sha256 in nix32 holds only one bit.
        let overflow = format!("z{}", &HELLO_SHA256_NIX32[1..]);
        assert_eq!(parse_any(&overflow, Some(HashAlgo::Sha256)), Err(HashFormatError::InvalidNix32(overflow)));
        assert_eq!(parse_any("sha256-Zm9v", None), Err(HashFormatError::InvalidSri("Zm9v".into())));
        assert_eq!(
            parse_any("", Some(HashAlgo::Md5)),
            Err(HashFormatError::WrongLength { hash: String::new(), algo: HashAlgo::Md5 })
        );
    }

    #[test]
    fn names_parse() {
        assert_eq!(HashAlgo::parse("blake3"), Ok(HashAlgo::Blake3));
        assert_eq!("sha512".parse::<HashAlgo>(), Ok(HashAlgo::Sha512));
        assert_eq!(HashFormat::parse("base32"), Ok(HashFormat::Nix32));
        assert!(HashFormat::parse("hex").is_err());
    }
}
