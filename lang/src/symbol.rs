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
        INTERNER.with(|cell| {
            let interner = cell.borrow();
            interner.names[self.0 as usize].cmp(&interner.names[other.0 as usize])
        })
    }

    /// Runs `f` with a function from symbols to their names, borrowing the
    /// interner once for many comparisons (sorting, merging sets).
    pub fn with_names<R>(f: impl FnOnce(&Names<'_>) -> R) -> R {
        INTERNER.with(|cell| f(&Names(&cell.borrow().names)))
    }

    /// Runs `f` on the name's bytes without cloning them.
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        INTERNER.with(|cell| f(&cell.borrow().names[self.0 as usize]))
    }
}

/// The interner's names, borrowed once (see [`Symbol::with_names`]).
pub struct Names<'a>(&'a [Rc<[u8]>]);

impl Names<'_> {
    /// The name of a symbol.
    pub fn get(&self, symbol: Symbol) -> &[u8] {
        &self.0[symbol.0 as usize]
    }
}

impl std::fmt::Display for Symbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}
