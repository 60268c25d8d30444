//! Attribute sets: immutable maps from names to (possibly unevaluated) values.

use super::Value;
use crate::source::Span;
use crate::symbol::Symbol;
use rustc_hash::FxHashMap;
use std::cell::OnceCell;
use std::cmp::Ordering;
use std::rc::Rc;

/// Sets up to this size are searched linearly; larger ones get a hash index
/// on their first lookup.
const LINEAR_SEARCH_MAX: usize = 16;

/// Position of each name in a large set, built on the first lookup. Sets
/// with the same names in the same order (an update that only replaces
/// values, as overlays do) share one index, so it is built once for all.
type SharedIndex = Rc<OnceCell<FxHashMap<Symbol, u32>>>;

/// One attribute: its name, its value, and where it was defined (if known).
#[derive(Clone, Debug)]
pub struct Attr {
    /// The attribute's name.
    pub name: Symbol,
    /// Its value, often a thunk.
    pub value: Value,
    /// Where the attribute was defined, for `unsafeGetAttrPos` and errors.
    pub span: Option<Span>,
}

/// An attribute set, kept sorted by name bytes so that iteration order is
/// Nix's order and merging two sets is a linear merge.
#[derive(Clone, Debug, Default)]
pub struct Attrs {
    entries: Vec<Attr>,
    /// The index of a large set; `None` for a small one.
    index: Option<SharedIndex>,
}

impl Attrs {
    /// The empty set.
    pub fn new() -> Attrs {
        Attrs::default()
    }

    /// Builds a set from entries in any order; for duplicate names the first
    /// entry wins (as `listToAttrs` requires).
    pub fn from_unsorted(mut entries: Vec<Attr>) -> Attrs {
        Symbol::with_names(|names| entries.sort_by(|a, b| names.cmp(a.name, b.name)));
        entries.dedup_by(|later, earlier| later.name == earlier.name);
        Attrs::with_new_index(entries)
    }

    /// Builds a set from entries already sorted by name with no duplicates.
    pub fn from_sorted(entries: Vec<Attr>) -> Attrs {
        debug_assert!(entries.windows(2).all(|w| w[0].name.cmp_name(w[1].name) == Ordering::Less));
        Attrs::with_new_index(entries)
    }

    /// A set of sorted entries with an index of its own (not yet built)
    /// if it is large.
    fn with_new_index(entries: Vec<Attr>) -> Attrs {
        let index = (entries.len() > LINEAR_SEARCH_MAX).then(SharedIndex::default);
        Attrs { entries, index }
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The attributes in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Attr> {
        self.entries.iter()
    }

    /// The entries as a slice, in name order.
    pub fn entries(&self) -> &[Attr] {
        &self.entries
    }

    /// Finds an attribute by name.
    pub fn get_attr(&self, name: Symbol) -> Option<&Attr> {
        let Some(index) = &self.index else {
            return self.entries.iter().find(|a| a.name == name);
        };
        let index = index.get_or_init(|| {
            self.entries.iter().enumerate().map(|(position, attr)| (attr.name, position as u32)).collect()
        });
        index.get(&name).map(|&position| &self.entries[position as usize])
    }

    /// Finds an attribute's value by name.
    pub fn get(&self, name: Symbol) -> Option<&Value> {
        self.get_attr(name).map(|a| &a.value)
    }

    /// Finds an attribute's value by its textual name.
    pub fn get_str(&self, name: &str) -> Option<&Value> {
        self.get(Symbol::from_str(name))
    }

    /// `self // other`: attributes of `other` replace those of `self`.
    pub fn update(&self, other: &Attrs) -> Attrs {
        let (a, b) = (&self.entries, &other.entries);
        let mut merged = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        Symbol::with_names(|names| {
            while i < a.len() && j < b.len() {
                match names.cmp(a[i].name, b[j].name) {
                    Ordering::Less => {
                        merged.push(a[i].clone());
                        i += 1;
                    }
                    Ordering::Greater => {
                        merged.push(b[j].clone());
                        j += 1;
                    }
                    Ordering::Equal => {
                        merged.push(b[j].clone());
                        i += 1;
                        j += 1;
                    }
                }
            }
        });
        merged.extend_from_slice(&a[i..]);
        merged.extend_from_slice(&b[j..]);
        if merged.len() == a.len() {
            // Every name of `other` replaced one of `self`: the names and
            // their positions are those of `self`.
            return Attrs { entries: merged, index: self.index.clone() };
        }
        Attrs::with_new_index(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::{Attr, Attrs};
    use crate::symbol::Symbol;
    use crate::value::Value;

    fn attr(name: &[u8], value: i64) -> Attr {
        Attr { name: Symbol::intern(name), value: Value::Int(value), span: None }
    }

    /// Names sort by their bytes, including names that share their first
    /// eight bytes, contain zero bytes or end where another goes on; for a
    /// repeated name the first entry wins.
    #[test]
    fn unsorted_entries_are_ordered_by_name_bytes_first_entry_winning() {
        let names: [&[u8]; 10] =
            [b"m10", b"m9", b"abcdefghij", b"abcdefgh", b"abcdefghi", b"ab", b"ab\0", b"ab\0c", b"", b"\xff"];
        let mut entries: Vec<Attr> = names.iter().enumerate().map(|(i, name)| attr(name, i as i64)).collect();
        entries.push(attr(b"m9", 100));
        let set = Attrs::from_unsorted(entries);
        let mut expected: Vec<&[u8]> = names.to_vec();
        expected.sort();
        let got: Vec<Vec<u8>> = set.iter().map(|a| a.name.bytes().to_vec()).collect();
        assert_eq!(got, expected.iter().map(|n| n.to_vec()).collect::<Vec<_>>());
        assert!(matches!(set.get(Symbol::intern(b"m9")), Some(Value::Int(1))));
    }
}
