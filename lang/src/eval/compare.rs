//! Equality and ordering of values.

use super::Vm;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::value::Value;
use std::cmp::Ordering;
use std::rc::Rc;

impl Vm {
    /// `==`: deep structural equality. Functions are never equal, except
    /// that two container elements referring to the very same value are
    /// (Nix compares element pointers first).
    pub fn equal(&mut self, lhs: &Value, rhs: &Value) -> EvalResult<bool> {
        self.nested(|vm| vm.equal_inner(lhs, rhs))
    }

    /// Equality of two container elements: the very same value is equal to
    /// itself without being looked at (so `[ f ] == [ f ]` holds for a
    /// function `f`), as Nix compares element pointers first.
    pub fn equal_elements(&mut self, lhs: &Value, rhs: &Value) -> EvalResult<bool> {
        if same_value(lhs, rhs) {
            return Ok(true);
        }
        self.equal(lhs, rhs)
    }

    fn equal_inner(&mut self, lhs: &Value, rhs: &Value) -> EvalResult<bool> {
        let lhs = self.force(lhs)?;
        let rhs = self.force(rhs)?;
        Ok(match (&lhs, &rhs) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => (*a as f64) == *b,
            (Value::String(a), Value::String(b)) => a.as_bytes() == b.as_bytes(),
            (Value::Path(a), Value::Path(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                if Rc::ptr_eq(a, b) {
                    return Ok(true);
                }
                if a.len() != b.len() {
                    return Ok(false);
                }
                for (x, y) in a.iter().zip(b.iter()) {
                    if !self.equal_elements(x, y)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Attrs(a), Value::Attrs(b)) => {
                if Rc::ptr_eq(a, b) {
                    return Ok(true);
                }
                // Derivation-like sets compare by their output path.
                if lhs.is_derivation()
                    && rhs.is_derivation()
                    && let (Some(x), Some(y)) = (a.get(self.well_known.out_path), b.get(self.well_known.out_path))
                {
                    let (x, y) = (x.clone(), y.clone());
                    return self.equal(&x, &y);
                }
                if a.len() != b.len() {
                    return Ok(false);
                }
                for (x, y) in a.iter().zip(b.iter()) {
                    if x.name != y.name {
                        return Ok(false);
                    }
                    if !self.equal_elements(&x.value, &y.value)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => false,
        })
    }

    /// `<` and friends: numbers, strings, paths, and lists (lexicographically).
    pub fn compare(&mut self, lhs: &Value, rhs: &Value) -> EvalResult<Ordering> {
        self.nested(|vm| vm.compare_inner(lhs, rhs))
    }

    fn compare_inner(&mut self, lhs: &Value, rhs: &Value) -> EvalResult<Ordering> {
        let lhs = self.force(lhs)?;
        let rhs = self.force(rhs)?;
        match (&lhs, &rhs) {
            (Value::Int(a), Value::Int(b)) => Ok(a.cmp(b)),
            (Value::Float(a), Value::Float(b)) => Ok(a.partial_cmp(b).unwrap_or(Ordering::Greater)),
            (Value::Int(a), Value::Float(b)) => Ok((*a as f64).partial_cmp(b).unwrap_or(Ordering::Greater)),
            (Value::Float(a), Value::Int(b)) => Ok(a.partial_cmp(&(*b as f64)).unwrap_or(Ordering::Greater)),
            (Value::String(a), Value::String(b)) => Ok(a.as_bytes().cmp(b.as_bytes())),
            (Value::Path(a), Value::Path(b)) => Ok(a.as_bytes().cmp(b.as_bytes())),
            (Value::List(a), Value::List(b)) => {
                for (x, y) in a.iter().zip(b.iter()) {
                    if self.equal(x, y)? {
                        continue;
                    }
                    return self.compare(x, y);
                }
                Ok(a.len().cmp(&b.len()))
            }
            _ => Err(EvalError::new(ErrorKind::Incomparable(lhs.ty().describe(), rhs.ty().describe()))),
        }
    }
}

/// Whether two values are the same object (same thunk or same container).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Thunk(x), Value::Thunk(y)) => x.ptr_eq(y),
        (Value::Attrs(x), Value::Attrs(y)) => Rc::ptr_eq(x, y),
        (Value::List(x), Value::List(y)) => Rc::ptr_eq(x, y),
        (Value::Lambda(x), Value::Lambda(y)) => Rc::ptr_eq(x, y),
        (Value::PrimOp(x), Value::PrimOp(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}
