//! Compile-time scopes: which names are bound where.

use crate::ir::Slot;
use crate::symbol::Symbol;
use crate::value::Value;
use std::collections::HashMap;

/// One environment frame as the compiler sees it.
pub(crate) enum Scope {
    /// A frame of named slots (let, rec, lambda, scopedImport's scope).
    Static(Vec<Symbol>),
    /// A `with` frame: slot 0 holds the namespace.
    With,
}

/// How a variable reference is resolved.
pub(crate) enum Resolution {
    /// A slot in an enclosing environment.
    Static(Slot),
    /// A global (a built-in or `true`/`false`/`null`/`builtins`).
    Global(Value),
    /// Looked up at run time in these `with` frames, innermost first.
    With(Vec<u32>),
    /// Not bound anywhere.
    Undefined,
}

/// The stack of scopes around the expression being compiled.
pub(crate) struct Scopes<'g> {
    frames: Vec<Scope>,
    globals: &'g HashMap<Symbol, Value>,
}

impl<'g> Scopes<'g> {
    pub(crate) fn new(globals: &'g HashMap<Symbol, Value>, outer: Vec<Scope>) -> Self {
        Scopes { frames: outer, globals }
    }

    pub(crate) fn push(&mut self, scope: Scope) {
        self.frames.push(scope);
    }

    pub(crate) fn pop(&mut self) {
        self.frames.pop();
    }

    /// Resolves `name`, ignoring the innermost `skip` frames (used by
    /// `inherit x;` inside `let` and `rec`, which refers to the outer `x`).
    /// Static bindings and globals win over `with`, as in Nix.
    pub(crate) fn resolve(&self, name: Symbol, skip: usize) -> Resolution {
        let mut withs = Vec::new();
        let usable = self.frames.len().saturating_sub(skip);
        for (position, frame) in self.frames[..usable].iter().enumerate().rev() {
            let depth = (self.frames.len() - 1 - position) as u32;
            match frame {
                Scope::Static(names) => {
                    if let Some(index) = names.iter().position(|&n| n == name) {
                        return Resolution::Static(Slot { depth, index: index as u32 });
                    }
                }
                Scope::With => withs.push(depth),
            }
        }
        if let Some(value) = self.globals.get(&name) {
            return Resolution::Global(value.clone());
        }
        if withs.is_empty() { Resolution::Undefined } else { Resolution::With(withs) }
    }
}

impl Scopes<'_> {
    /// Swaps the innermost frame for another, returning the old one.
    pub(crate) fn replace_innermost(&mut self, scope: Scope) -> Scope {
        let last = self.frames.last_mut().expect("a scope to replace");
        std::mem::replace(last, scope)
    }
}
