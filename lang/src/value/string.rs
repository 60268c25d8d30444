//! Nix strings: byte strings that carry a context.

pub(crate) use super::str_bytes::ShortBytes;
pub use super::str_bytes::{IntoStrBytes, StrBytes};
use std::collections::BTreeSet;
use std::rc::Rc;

/// One element of a string's context, in Nix's own encoding: a plain path
/// (`/store/...`), all outputs of a step (`=key`), or one output (`!out!key`).
pub type ContextElement = Box<str>;

/// The set of store objects and steps a string refers to. Kept sorted so
/// that printing and hashing are deterministic.
pub type Context = BTreeSet<ContextElement>;

/// A string value. Nix strings are bytes, usually but not always UTF-8, and
/// remember which store objects went into them (their context).
#[derive(Debug, PartialEq)]
pub struct NixStr {
    bytes: StrBytes,
    context: Option<Box<Context>>,
}

impl NixStr {
    /// A string without context, from borrowed bytes (copied) or an owned
    /// buffer (taken over).
    #[inline]
    pub fn new(bytes: impl IntoStrBytes) -> Rc<NixStr> {
        Rc::new(NixStr { bytes: bytes.into_str_bytes(), context: None })
    }

    /// A string with the given context (empty contexts are not stored).
    pub fn with_context(bytes: impl IntoStrBytes, context: Context) -> Rc<NixStr> {
        let context = if context.is_empty() { None } else { Some(Box::new(context)) };
        Rc::new(NixStr { bytes: bytes.into_str_bytes(), context })
    }

    /// The concatenation of `pieces` without context, written once into a
    /// string of the exact size (interpolation, `+`).
    #[inline]
    pub fn concat<'a>(pieces: impl Iterator<Item = &'a [u8]> + Clone) -> Rc<NixStr> {
        Rc::new(NixStr { bytes: StrBytes::concat(pieces), context: None })
    }

    /// The bytes of the string.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The string as text, replacing bytes that are not UTF-8.
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.as_bytes())
    }

    /// The context, empty when the string refers to nothing.
    pub fn context(&self) -> Option<&Context> {
        self.context.as_deref()
    }

    /// Whether the string has any context.
    pub fn has_context(&self) -> bool {
        self.context.is_some()
    }
}

/// Accumulates string pieces and their contexts, as interpolation and
/// concatenation do.
#[derive(Default)]
pub struct StringBuilder {
    bytes: Vec<u8>,
    context: Context,
}

impl StringBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        StringBuilder { bytes: Vec::with_capacity(bytes), context: Context::new() }
    }

    /// Appends raw bytes without context.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Appends a string value, keeping its context.
    pub fn push_str(&mut self, s: &NixStr) {
        self.bytes.extend_from_slice(s.as_bytes());
        if let Some(context) = s.context() {
            self.context.extend(context.iter().cloned());
        }
    }

    /// Adds context elements.
    pub fn add_context(&mut self, context: &Context) {
        self.context.extend(context.iter().cloned());
    }

    /// The bytes accumulated so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Finishes the string.
    pub fn finish(self) -> Rc<NixStr> {
        NixStr::with_context(StrBytes::from_vec(self.bytes), self.context)
    }
}
