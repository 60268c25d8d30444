//! Thunks: suspended computations that are evaluated at most once.

use super::Value;
use crate::eval::Env;
use crate::ir::Expr;
use std::cell::{Cell, OnceCell};
use std::rc::Rc;

/// What a thunk still has to do: evaluate an expression, perform an
/// application, or nothing while it is being evaluated (a black hole, so a
/// thunk that needs itself is reported as infinite recursion) or once done.
#[derive(Debug, Default)]
pub enum ThunkState {
    /// Not yet evaluated: an expression and the environment to evaluate it in.
    Suspended(Rc<Expr>, Env),
    /// A function application that has not been performed yet.
    Apply(Value, Value),
    /// Being evaluated right now, or evaluated (then the value is set).
    #[default]
    Blackhole,
}

/// A thunk's storage. The value sits in a cell of its own, set once, so
/// reading an evaluated thunk (by far the most frequent access) is one
/// check with no borrow flag to update; the pending work is taken out of
/// its cell while it runs.
struct ThunkCell {
    value: OnceCell<Value>,
    pending: Cell<ThunkState>,
}

impl std::fmt::Debug for ThunkCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value.get() {
            Some(value) => f.debug_tuple("Evaluated").field(value).finish(),
            None => f.write_str("Pending"),
        }
    }
}

/// A shared, lazily evaluated value.
#[derive(Clone, Debug)]
pub struct Thunk(Rc<ThunkCell>);

impl Thunk {
    fn with_state(state: ThunkState) -> Thunk {
        Thunk(Rc::new(ThunkCell { value: OnceCell::new(), pending: Cell::new(state) }))
    }

    /// A thunk for `expr` in `env`.
    pub fn suspended(expr: Rc<Expr>, env: Env) -> Thunk {
        Thunk::with_state(ThunkState::Suspended(expr, env))
    }

    /// A thunk for the application of `function` to `argument`.
    pub fn apply(function: Value, argument: Value) -> Thunk {
        Thunk::with_state(ThunkState::Apply(function, argument))
    }

    /// A thunk whose value is given later with [`Thunk::set_value`], for a
    /// value that contains itself (`builtins.builtins`). Forcing it before
    /// then reports infinite recursion.
    pub fn placeholder() -> Thunk {
        Thunk::with_state(ThunkState::Blackhole)
    }

    /// The value, if the thunk has been evaluated.
    #[inline]
    pub fn value(&self) -> Option<&Value> {
        self.0.value.get()
    }

    /// A copy of the value, if the thunk has been evaluated.
    pub fn peek(&self) -> Option<Value> {
        self.value().cloned()
    }

    /// Takes the pending work out, leaving a black hole in its place.
    pub(crate) fn take_pending(&self) -> ThunkState {
        self.0.pending.take()
    }

    /// Puts pending work back (after it failed, so that the error is raised
    /// again when the value is needed once more).
    pub(crate) fn restore_pending(&self, state: ThunkState) {
        self.0.pending.set(state);
    }

    /// Records the value. A thunk is evaluated at most once: while its work
    /// runs it is a black hole, so it cannot be finished twice.
    pub fn set_value(&self, value: Value) {
        let first = self.0.value.set(value).is_ok();
        debug_assert!(first, "a thunk was finished twice");
    }

    /// An address that identifies the thunk (for printing shared values).
    pub fn id(&self) -> usize {
        Rc::as_ptr(&self.0) as usize
    }

    /// Whether two thunks are the same cell.
    pub fn ptr_eq(&self, other: &Thunk) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}
