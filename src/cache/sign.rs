//! Signing keys and signatures, in the shape Nix uses for its binary
//! caches: a key is `name:base64`, a signature `name:base64`, and the name
//! says which trusted key to check a signature with.
//!
//! - secret key: `name:` + base64 of 64 bytes (the ed25519 seed, then the
//!   public key), as `nix-store --generate-binary-cache-key` writes;
//! - public key: `name:` + base64 of the 32-byte ed25519 public key;
//! - signature: `name:` + base64 of the 64-byte ed25519 signature of a
//!   fingerprint string ([`super::format::Manifest::fingerprint`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::io::Read;

/// Why a key could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not `name:base64` with a valid name.
    #[error("{what} is not `name:base64` (the name must be non-empty, without `:` or white space)")]
    Shape {
        /// Which kind of key was expected.
        what: &'static str,
    },
    /// The base64 part does not decode to a key of the right length.
    #[error("the {what} named {name:?} is not valid base64 of a {len}-byte ed25519 key")]
    Bytes {
        /// Which kind of key was expected.
        what: &'static str,
        /// The key's name.
        name: String,
        /// The length the key must have.
        len: usize,
    },
    /// The secret key's two halves do not belong together.
    #[error("the secret key {0:?} is corrupt: its public half does not match its seed")]
    Mismatch(String),
    /// The system's random source failed.
    #[error("cannot read random bytes for a new key from /dev/urandom")]
    Random(#[source] std::io::Error),
}

/// A key that signs manifests when pushing.
pub struct SecretKey {
    name: String,
    key: SigningKey,
}

/// A key a signature is checked against: one that a build trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

/// Splits `name:base64` and decodes the base64 part.
fn split(text: &str, what: &'static str) -> Result<(String, Vec<u8>), KeyError> {
    let (name, data) = text.trim().split_once(':').ok_or(KeyError::Shape { what })?;
    if !valid_name(name) {
        return Err(KeyError::Shape { what });
    }
    let bytes = STANDARD.decode(data).map_err(|_| KeyError::Bytes { what, name: name.into(), len: 0 })?;
    Ok((name.to_owned(), bytes))
}

/// Whether a key name can be written as `name:…` and read back.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(':') && !name.chars().any(char::is_whitespace)
}

impl SecretKey {
    /// A new key named `name`, from the system's random source.
    pub fn generate(name: &str) -> Result<SecretKey, KeyError> {
        if !valid_name(name) {
            return Err(KeyError::Shape { what: "a key name" });
        }
        let mut seed = [0u8; 32];
        std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)).map_err(KeyError::Random)?;
        Ok(SecretKey { name: name.to_owned(), key: SigningKey::from_bytes(&seed) })
    }

    /// Parses `name:base64(seed ‖ public key)`.
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        const WHAT: &str = "secret key";
        let (name, bytes) = split(text, WHAT)?;
        let bytes: [u8; 64] =
            bytes.try_into().map_err(|_| KeyError::Bytes { what: WHAT, name: name.clone(), len: 64 })?;
        let key = SigningKey::from_keypair_bytes(&bytes).map_err(|_| KeyError::Mismatch(name.clone()))?;
        Ok(SecretKey { name, key })
    }

    /// The key as text, for the secret key file.
    pub fn render(&self) -> String {
        format!("{}:{}", self.name, STANDARD.encode(self.key.to_keypair_bytes()))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey { name: self.name.clone(), key: self.key.verifying_key() }
    }

    /// Signs a fingerprint: `name:base64(signature)`.
    pub fn sign(&self, fingerprint: &str) -> String {
        let signature = self.key.sign(fingerprint.as_bytes());
        format!("{}:{}", self.name, STANDARD.encode(signature.to_bytes()))
    }
}

impl PublicKey {
    /// Parses `name:base64(public key)`.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        const WHAT: &str = "public key";
        let (name, bytes) = split(text, WHAT)?;
        let invalid = || KeyError::Bytes { what: WHAT, name: name.clone(), len: 32 };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| invalid())?;
        Ok(PublicKey { name, key })
    }

    /// The key as text, for the public key file and for `--trusted-key`.
    pub fn render(&self) -> String {
        format!("{}:{}", self.name, STANDARD.encode(self.key.to_bytes()))
    }
}

/// Whether one of `signatures` is a valid signature of `fingerprint` by one
/// of the `trusted` keys. Signatures by unknown names, malformed ones and
/// ones that do not verify are ignored; strict verification refuses
/// malleable signatures and weak keys.
pub fn verify(trusted: &[PublicKey], fingerprint: &str, signatures: &[String]) -> bool {
    signatures.iter().any(|signature| {
        let Some((name, data)) = signature.split_once(':') else { return false };
        let Some(key) = trusted.iter().find(|k| k.name == name) else { return false };
        let Ok(bytes) = STANDARD.decode(data) else { return false };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes) else { return false };
        key.key.verify_strict(fingerprint.as_bytes(), &Signature::from_bytes(&bytes)).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_signatures_verify_only_with_the_right_key() {
        let secret = SecretKey::generate("cache.example-1").unwrap();
        let again = SecretKey::parse(&secret.render()).unwrap();
        assert_eq!(again.public(), secret.public());
        let public = PublicKey::parse(&secret.public().render()).unwrap();
        let signature = secret.sign("fingerprint");
        assert!(verify(std::slice::from_ref(&public), "fingerprint", std::slice::from_ref(&signature)));
        assert!(!verify(std::slice::from_ref(&public), "fingerprinT", std::slice::from_ref(&signature)));
        let other = SecretKey::generate("cache.example-1").unwrap();
        assert!(!verify(&[other.public()], "fingerprint", std::slice::from_ref(&signature)));
        assert!(!verify(&[], "fingerprint", &[signature]));
    }

    #[test]
    fn malformed_keys_are_errors() {
        assert!(PublicKey::parse("no-colon").is_err());
        assert!(PublicKey::parse(":AAAA").is_err());
        assert!(PublicKey::parse("name:AAAA").is_err());
        assert!(SecretKey::parse("name:!!").is_err());
        assert!(SecretKey::generate("two words").is_err());
    }
}
