//! The bytes of a string value, kept inside the value when they are few.
//!
//! Most strings an evaluation makes are short (attribute names, numbers,
//! small interpolations). Storing their bytes inline makes each of them one
//! allocation (the shared string) instead of two, and one pointer less to
//! follow when they are read.

/// Strings up to this many bytes are stored inline: with the length byte
/// and the variant's tag, the inline form is as large as the heap form's
/// pointer and length, so nothing is spent on the longer ones.
const INLINE_CAPACITY: usize = 22;

/// Immutable bytes, inline up to [`INLINE_CAPACITY`] and boxed beyond.
/// Opaque outside this module; equality compares the bytes.
#[derive(Clone)]
pub struct StrBytes(Repr);

/// The two forms of [`StrBytes`]. A given content always has the same form.
#[derive(Clone)]
enum Repr {
    /// Short contents: the first `len` bytes of `bytes`; the rest are zero.
    Inline { len: u8, bytes: [u8; INLINE_CAPACITY] },
    /// Longer contents, exactly sized.
    Heap(Box<[u8]>),
}

impl StrBytes {
    /// A copy of `bytes`.
    #[inline]
    pub(crate) fn copy_from(bytes: &[u8]) -> StrBytes {
        StrBytes::concat(std::iter::once(bytes))
    }

    /// The concatenation of `pieces` (walked twice: once for the length),
    /// written once into storage of the exact size.
    #[inline]
    pub(crate) fn concat<'a>(pieces: impl Iterator<Item = &'a [u8]> + Clone) -> StrBytes {
        let len: usize = pieces.clone().map(<[u8]>::len).sum();
        if len <= INLINE_CAPACITY {
            let mut bytes = [0u8; INLINE_CAPACITY];
            let mut at = 0;
            for piece in pieces {
                bytes[at..at + piece.len()].copy_from_slice(piece);
                at += piece.len();
            }
            StrBytes(Repr::Inline { len: len as u8, bytes })
        } else {
            let mut heap = Vec::with_capacity(len);
            for piece in pieces {
                heap.extend_from_slice(piece);
            }
            StrBytes(Repr::Heap(heap.into_boxed_slice()))
        }
    }

    /// Takes over a buffer: short contents are copied inline, longer ones
    /// keep the buffer (shrunk to its length).
    pub(crate) fn from_vec(bytes: Vec<u8>) -> StrBytes {
        if bytes.len() <= INLINE_CAPACITY {
            StrBytes::copy_from(&bytes)
        } else {
            StrBytes(Repr::Heap(bytes.into_boxed_slice()))
        }
    }

    /// The contents.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Heap(bytes) => bytes,
        }
    }
}

/// Bytes gathered on the stack for a string that fits inline, which then
/// becomes a [`StrBytes`] without another copy (short interpolations).
pub(crate) struct ShortBytes {
    len: u8,
    bytes: [u8; INLINE_CAPACITY],
}

impl ShortBytes {
    /// No bytes yet.
    #[inline]
    pub(crate) fn new() -> ShortBytes {
        ShortBytes { len: 0, bytes: [0; INLINE_CAPACITY] }
    }

    /// Appends `piece`, or returns `false` (leaving the contents as they
    /// were) when the result would not fit inline.
    #[inline]
    #[must_use]
    pub(crate) fn push(&mut self, piece: &[u8]) -> bool {
        let at = self.len as usize;
        let Some(end) = at.checked_add(piece.len()).filter(|&end| end <= INLINE_CAPACITY) else { return false };
        self.bytes[at..end].copy_from_slice(piece);
        self.len = end as u8;
        true
    }

    /// Appends the decimal digits of `n` (as `toString` writes them), or
    /// returns `false` (leaving the contents as they were) when they would
    /// not fit inline.
    #[inline]
    #[must_use]
    pub(crate) fn push_int(&mut self, n: i64) -> bool {
        self.push(itoa::Buffer::new().format(n).as_bytes())
    }
}

impl IntoStrBytes for ShortBytes {
    #[inline]
    fn into_str_bytes(self) -> StrBytes {
        StrBytes(Repr::Inline { len: self.len, bytes: self.bytes })
    }
}

impl PartialEq for StrBytes {
    fn eq(&self, other: &StrBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::fmt::Debug for StrBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

/// Types that can become the bytes of a string: borrowed bytes are copied,
/// owned buffers taken over.
pub trait IntoStrBytes {
    /// Converts into the string's storage.
    fn into_str_bytes(self) -> StrBytes;
}

impl IntoStrBytes for &[u8] {
    #[inline]
    fn into_str_bytes(self) -> StrBytes {
        StrBytes::copy_from(self)
    }
}

impl<const N: usize> IntoStrBytes for &[u8; N] {
    #[inline]
    fn into_str_bytes(self) -> StrBytes {
        StrBytes::copy_from(self)
    }
}

impl IntoStrBytes for &str {
    #[inline]
    fn into_str_bytes(self) -> StrBytes {
        StrBytes::copy_from(self.as_bytes())
    }
}

impl IntoStrBytes for Vec<u8> {
    fn into_str_bytes(self) -> StrBytes {
        StrBytes::from_vec(self)
    }
}

impl IntoStrBytes for String {
    fn into_str_bytes(self) -> StrBytes {
        StrBytes::from_vec(self.into_bytes())
    }
}

impl IntoStrBytes for Box<[u8]> {
    fn into_str_bytes(self) -> StrBytes {
        if self.len() <= INLINE_CAPACITY { StrBytes::copy_from(&self) } else { StrBytes(Repr::Heap(self)) }
    }
}

impl IntoStrBytes for StrBytes {
    #[inline]
    fn into_str_bytes(self) -> StrBytes {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::{INLINE_CAPACITY, Repr, StrBytes};

    #[test]
    fn contents_survive_every_form() {
        for len in [0, 1, INLINE_CAPACITY - 1, INLINE_CAPACITY, INLINE_CAPACITY + 1, 1000] {
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(StrBytes::copy_from(&text).as_slice(), &text[..]);
            assert_eq!(StrBytes::from_vec(text.clone()).as_slice(), &text[..]);
            let (left, right) = text.split_at(len / 3);
            assert_eq!(StrBytes::concat([left, &b""[..], right].into_iter()).as_slice(), &text[..]);
            let inline = matches!(StrBytes::from_vec(text.clone()).0, Repr::Inline { .. });
            assert_eq!(inline, len <= INLINE_CAPACITY);
        }
    }

    #[test]
    fn short_bytes_fill_up_to_the_inline_capacity() {
        let mut short = super::ShortBytes::new();
        assert!(short.push(b"m"));
        assert!(short.push(&[b'9'; INLINE_CAPACITY - 1]));
        assert!(!short.push(b"x"));
        let bytes = super::IntoStrBytes::into_str_bytes(short);
        assert_eq!(bytes.as_slice().len(), INLINE_CAPACITY);
        assert_eq!(bytes, StrBytes::copy_from(bytes.as_slice()));
    }

    #[test]
    fn short_bytes_write_integers_as_to_string_does() {
        for n in [0, 7, 10, 99, 100, 4999, -1, -10, 123_456_789, i64::MAX, i64::MIN] {
            let mut short = super::ShortBytes::new();
            assert!(short.push(b"m"));
            assert!(short.push_int(n));
            let bytes = super::IntoStrBytes::into_str_bytes(short);
            assert_eq!(bytes.as_slice(), format!("m{n}").as_bytes());
        }
        let mut full = super::ShortBytes::new();
        assert!(full.push(b"0123456789"));
        assert!(!full.push_int(i64::MIN));
        assert!(full.push_int(i64::MAX / 10_000_000));
    }

    #[test]
    fn inline_form_is_no_larger_than_a_boxed_slice_and_its_tag() {
        assert_eq!(std::mem::size_of::<StrBytes>(), 24);
    }
}
