//! Byte sets and the bracket-expression vocabulary (character classes,
//! collating names, equivalence classes) as libstdc++'s `regex_traits<char>`
//! sees them in the classic "C" locale.

use super::RegexError;

/// A set of bytes, one bit per byte value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ByteSet([u64; 4]);

impl ByteSet {
    /// The set holding every byte for which `pred` is true.
    pub(super) fn from_fn(pred: impl Fn(u8) -> bool) -> ByteSet {
        let mut set = ByteSet::default();
        for b in 0..=u8::MAX {
            if pred(b) {
                set.insert(b);
            }
        }
        set
    }

    /// The set holding only `b`.
    pub(super) fn single(b: u8) -> ByteSet {
        let mut set = ByteSet::default();
        set.insert(b);
        set
    }

    /// Adds `b` to the set.
    pub(super) fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    /// Whether `b` is in the set.
    pub(super) fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    /// Adds every member of `other`.
    pub(super) fn union_with(&mut self, other: &ByteSet) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine |= theirs;
        }
    }

    /// The bytes not in the set.
    pub(super) fn complement(&self) -> ByteSet {
        ByteSet(self.0.map(|word| !word))
    }
}

/// POSIX `.`: libstdc++ matches every byte except NUL.
pub(super) fn any_byte() -> ByteSet {
    ByteSet::from_fn(|b| b != 0)
}

/// The members of a named character class (`[:name:]`), or `None` for an
/// unknown name. Names are case-insensitive, and libstdc++ also accepts the
/// one-letter names `d`, `w` and `s`.
pub(super) fn class_members(name: &[u8]) -> Option<ByteSet> {
    let lower = name.to_ascii_lowercase();
    let pred: fn(u8) -> bool = match lower.as_slice() {
        b"d" | b"digit" => |b| b.is_ascii_digit(),
        b"w" => |b| b.is_ascii_alphanumeric() || b == b'_',
        b"s" | b"space" => |b| matches!(b, b' ' | b'\t'..=b'\r'),
        b"alnum" => |b| b.is_ascii_alphanumeric(),
        b"alpha" => |b| b.is_ascii_alphabetic(),
        b"blank" => |b| b == b' ' || b == b'\t',
        b"cntrl" => |b| b < 0x20 || b == 0x7f,
        b"graph" => |b| b.is_ascii_graphic(),
        b"lower" => |b| b.is_ascii_lowercase(),
        b"print" => |b| (0x20..0x7f).contains(&b),
        b"punct" => |b| b.is_ascii_punctuation(),
        b"upper" => |b| b.is_ascii_uppercase(),
        b"xdigit" => |b| b.is_ascii_hexdigit(),
        _ => return None,
    };
    Some(ByteSet::from_fn(pred))
}

/// libstdc++'s collating-element names, indexed by the byte they stand for.
const COLLATE_NAMES: [&str; 128] = [
    "NUL",
    "SOH",
    "STX",
    "ETX",
    "EOT",
    "ENQ",
    "ACK",
    "alert",
    "backspace",
    "tab",
    "newline",
    "vertical-tab",
    "form-feed",
    "carriage-return",
    "SO",
    "SI",
    "DLE",
    "DC1",
    "DC2",
    "DC3",
    "DC4",
    "NAK",
    "SYN",
    "ETB",
    "CAN",
    "EM",
    "SUB",
    "ESC",
    "IS4",
    "IS3",
    "IS2",
    "IS1",
    "space",
    "exclamation-mark",
    "quotation-mark",
    "number-sign",
    "dollar-sign",
    "percent-sign",
    "ampersand",
    "apostrophe",
    "left-parenthesis",
    "right-parenthesis",
    "asterisk",
    "plus-sign",
    "comma",
    "hyphen",
    "period",
    "slash",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "colon",
    "semicolon",
    "less-than-sign",
    "equals-sign",
    "greater-than-sign",
    "question-mark",
    "commercial-at",
    "A",
    "B",
    "C",
    "D",
    "E",
    "F",
    "G",
    "H",
    "I",
    "J",
    "K",
    "L",
    "M",
    "N",
    "O",
    "P",
    "Q",
    "R",
    "S",
    "T",
    "U",
    "V",
    "W",
    "X",
    "Y",
    "Z",
    "left-square-bracket",
    "backslash",
    "right-square-bracket",
    "circumflex",
    "underscore",
    "grave-accent",
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "k",
    "l",
    "m",
    "n",
    "o",
    "p",
    "q",
    "r",
    "s",
    "t",
    "u",
    "v",
    "w",
    "x",
    "y",
    "z",
    "left-curly-bracket",
    "vertical-line",
    "right-curly-bracket",
    "tilde",
    "DEL",
];

/// The byte named by a collating element (`[.name.]`, `[=name=]`).
pub(super) fn collating_byte(name: &[u8]) -> Option<u8> {
    let index = COLLATE_NAMES.iter().position(|n| n.as_bytes() == name)?;
    u8::try_from(index).ok()
}

/// Accumulates the members of one bracket expression, in the order and with
/// the checks of libstdc++'s `_BracketMatcher`.
#[derive(Default)]
pub(super) struct BracketBuilder {
    members: ByteSet,
}

impl BracketBuilder {
    /// Adds one byte.
    pub(super) fn add_byte(&mut self, b: u8) {
        self.members.insert(b);
    }

    /// Adds the range `low-high`. Like libstdc++ (where `char` is signed),
    /// bytes compare as signed values, so `[a-\xff]` is an empty-range error.
    pub(super) fn add_range(&mut self, low: u8, high: u8, offset: usize) -> Result<(), RegexError> {
        let (low, high) = (signed(low), signed(high));
        if low > high {
            return Err(RegexError::new("range end is before range start", offset));
        }
        self.members.union_with(&ByteSet::from_fn(|b| (low..=high).contains(&signed(b))));
        Ok(())
    }

    /// Adds a named class such as `alpha`.
    pub(super) fn add_class(&mut self, name: &[u8], offset: usize) -> Result<(), RegexError> {
        let members = class_members(name).ok_or_else(|| RegexError::new("unknown character class name", offset))?;
        self.members.union_with(&members);
        Ok(())
    }

    /// Adds an equivalence class `[=name=]`: in the "C" locale, the named byte
    /// in either case.
    pub(super) fn add_equivalence(&mut self, name: &[u8], offset: usize) -> Result<(), RegexError> {
        let b = collating_byte(name).ok_or_else(|| RegexError::new("unknown equivalence class name", offset))?;
        let key = b.to_ascii_lowercase();
        self.members.union_with(&ByteSet::from_fn(|c| c.to_ascii_lowercase() == key));
        Ok(())
    }

    /// The finished set, complemented for `[^...]`.
    pub(super) fn finish(&self, negated: bool) -> ByteSet {
        if negated { self.members.complement() } else { self.members }
    }
}

/// A byte reinterpreted as a signed `char`.
fn signed(b: u8) -> i8 {
    i8::from_ne_bytes([b])
}
