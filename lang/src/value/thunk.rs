//! Thunks: suspended computations that are evaluated at most once.

use super::Value;
use crate::eval::Env;
use crate::ir::Expr;
use std::cell::RefCell;
use std::rc::Rc;

/// The life of a thunk: suspended, being evaluated (a black hole, so a thunk
/// that needs itself is reported as infinite recursion), or done.
#[derive(Debug)]
pub enum ThunkState {
    /// Not yet evaluated: an expression and the environment to evaluate it in.
    Suspended(Rc<Expr>, Env),
    /// A function application that has not been performed yet.
    Apply(Value, Value),
    /// Being evaluated right now.
    Blackhole,
    /// Evaluated to weak head normal form.
    Done(Value),
}

/// A shared, mutable cell holding a lazily evaluated value.
#[derive(Clone, Debug)]
pub struct Thunk(pub Rc<RefCell<ThunkState>>);

impl Thunk {
    /// A thunk for `expr` in `env`.
    pub fn suspended(expr: Rc<Expr>, env: Env) -> Thunk {
        Thunk(Rc::new(RefCell::new(ThunkState::Suspended(expr, env))))
    }

    /// A thunk for the application of `function` to `argument`.
    pub fn apply(function: Value, argument: Value) -> Thunk {
        Thunk(Rc::new(RefCell::new(ThunkState::Apply(function, argument))))
    }

    /// The value, if the thunk has been evaluated.
    pub fn peek(&self) -> Option<Value> {
        match &*self.0.borrow() {
            ThunkState::Done(value) => Some(value.clone()),
            _ => None,
        }
    }

    /// Whether two thunks are the same cell.
    pub fn ptr_eq(&self, other: &Thunk) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}
