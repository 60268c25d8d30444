//! Interned identifiers.
//!
//! Attribute names and variable names are compared far more often than they
//! are created, so each distinct name is stored once per thread and referred
//! to by a small integer.

use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::rc::Rc;

/// An interned name: equal names have equal symbols.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Symbol(u32);

#[derive(Default)]
struct Interner {
    names: Vec<Rc<[u8]>>,
    /// [`name_prefix`] of each name, which decides most comparisons of
    /// names without reading them (sorting and merging attribute sets).
    prefixes: Vec<u64>,
    ids: FxHashMap<Rc<[u8]>, u32>,
}

thread_local! {
    static INTERNER: RefCell<Interner> = RefCell::new(Interner::default());
}

impl Symbol {
    /// Interns `name` and returns its symbol.
    pub fn intern(name: &[u8]) -> Symbol {
        INTERNER.with(|cell| {
            let mut interner = cell.borrow_mut();
            if let Some(&id) = interner.ids.get(name) {
                return Symbol(id);
            }
            let id = interner.names.len() as u32;
            let rc: Rc<[u8]> = Rc::from(name);
            interner.names.push(rc.clone());
            interner.prefixes.push(name_prefix(name));
            interner.ids.insert(rc, id);
            Symbol(id)
        })
    }

    /// Interns a UTF-8 name.
    #[allow(clippy::should_implement_trait)] // Infallible, unlike `FromStr`.
    pub fn from_str(name: &str) -> Symbol {
        Symbol::intern(name.as_bytes())
    }

    /// The name's bytes.
    pub fn bytes(self) -> Rc<[u8]> {
        INTERNER.with(|cell| cell.borrow().names[self.0 as usize].clone())
    }

    /// The name as text (lossy for names that are not UTF-8).
    pub fn text(self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// Compares two symbols by the bytes of their names, the order in which
    /// Nix sorts attribute names.
    pub fn cmp_name(self, other: Symbol) -> std::cmp::Ordering {
        if self == other {
            return std::cmp::Ordering::Equal;
        }
        Symbol::with_names(|names| names.cmp(self, other))
    }

    /// Runs `f` with a function from symbols to their names, borrowing the
    /// interner once for many comparisons (sorting, merging sets).
    pub fn with_names<R>(f: impl FnOnce(&Names<'_>) -> R) -> R {
        INTERNER.with(|cell| {
            let interner = cell.borrow();
            f(&Names { names: &interner.names, prefixes: &interner.prefixes })
        })
    }

    /// Runs `f` on the name's bytes without cloning them.
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        INTERNER.with(|cell| f(&cell.borrow().names[self.0 as usize]))
    }
}

/// The interner's names, borrowed once (see [`Symbol::with_names`]).
pub struct Names<'a> {
    names: &'a [Rc<[u8]>],
    prefixes: &'a [u64],
}

impl Names<'_> {
    /// The name of a symbol.
    pub fn get(&self, symbol: Symbol) -> &[u8] {
        &self.names[symbol.0 as usize]
    }

    /// Compares two symbols by the bytes of their names (Nix's order of
    /// attribute names), reading the names only when their first eight
    /// bytes are the same.
    #[inline]
    pub fn cmp(&self, a: Symbol, b: Symbol) -> std::cmp::Ordering {
        if a == b {
            return std::cmp::Ordering::Equal;
        }
        let (a, b) = (a.0 as usize, b.0 as usize);
        self.prefixes[a].cmp(&self.prefixes[b]).then_with(|| self.names[a].cmp(&self.names[b]))
    }
}

/// The first eight bytes of a name, padded with zeros, as a big-endian
/// number: names whose prefixes differ are ordered as their prefixes are
/// (a zero byte of padding sorts like the end of a shorter name).
fn name_prefix(name: &[u8]) -> u64 {
    let mut prefix = [0u8; 8];
    let length = name.len().min(8);
    prefix[..length].copy_from_slice(&name[..length]);
    u64::from_be_bytes(prefix)
}

impl std::fmt::Display for Symbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}
