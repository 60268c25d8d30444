//! Strict binary operators: arithmetic, concatenation, update, comparison.

use super::{Vm, type_error};
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::ir::BinOp;
use crate::path::join;
use crate::value::{NixStr, StringBuilder, Value};
use std::cmp::Ordering;
use std::rc::Rc;

/// Integer arithmetic and comparison without overflow or division by zero,
/// the common case, decided without building errors; `None` otherwise.
#[inline]
pub(crate) fn int_fast_path(op: BinOp, a: i64, b: i64) -> Option<Value> {
    Some(match op {
        BinOp::Add => Value::Int(a.checked_add(b)?),
        BinOp::Sub => Value::Int(a.checked_sub(b)?),
        BinOp::Mul => Value::Int(a.checked_mul(b)?),
        // `None` for a zero divisor and for the one overflowing quotient.
        BinOp::Div => Value::Int(a.checked_div(b)?),
        BinOp::Less => Value::Bool(a < b),
        BinOp::LessEq => Value::Bool(a <= b),
        BinOp::Greater => Value::Bool(a > b),
        BinOp::GreaterEq => Value::Bool(a >= b),
        BinOp::Eq => Value::Bool(a == b),
        BinOp::NotEq => Value::Bool(a != b),
        _ => return None,
    })
}

impl Vm {
    /// Applies a strict binary operator to two forced values.
    pub fn binop(&mut self, op: BinOp, lhs: Value, rhs: Value) -> EvalResult<Value> {
        match op {
            BinOp::Add => self.add(lhs, rhs),
            BinOp::Sub | BinOp::Mul | BinOp::Div => self.arith(op, lhs, rhs),
            BinOp::Concat => match (&lhs, &rhs) {
                (Value::List(a), Value::List(b)) => {
                    if a.is_empty() {
                        return Ok(rhs);
                    }
                    if b.is_empty() {
                        return Ok(lhs);
                    }
                    let mut items = Vec::with_capacity(a.len() + b.len());
                    items.extend(a.iter().cloned());
                    items.extend(b.iter().cloned());
                    Ok(Value::list(items))
                }
                (Value::List(_), other) | (other, _) => Err(type_error("a list", other)),
            },
            BinOp::Update => match (&lhs, &rhs) {
                (Value::Attrs(a), Value::Attrs(b)) => {
                    if b.is_empty() {
                        return Ok(lhs);
                    }
                    if a.is_empty() {
                        return Ok(rhs);
                    }
                    Ok(Value::attrs(a.update(b)))
                }
                (Value::Attrs(_), other) | (other, _) => Err(type_error("a set", other)),
            },
            BinOp::Eq => Ok(Value::Bool(self.equal(&lhs, &rhs)?)),
            BinOp::NotEq => Ok(Value::Bool(!self.equal(&lhs, &rhs)?)),
            BinOp::Less => Ok(Value::Bool(self.compare(&lhs, &rhs)? == Ordering::Less)),
            BinOp::LessEq => Ok(Value::Bool(self.compare(&lhs, &rhs)? != Ordering::Greater)),
            BinOp::Greater => Ok(Value::Bool(self.compare(&lhs, &rhs)? == Ordering::Greater)),
            BinOp::GreaterEq => Ok(Value::Bool(self.compare(&lhs, &rhs)? != Ordering::Less)),
        }
    }

    fn add(&mut self, lhs: Value, rhs: Value) -> EvalResult<Value> {
        match (&lhs, &rhs) {
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => self.arith(BinOp::Add, lhs, rhs),
            (Value::Path(base), _) => {
                let piece = self.coerce_to_string(&rhs, super::CoerceMode::Interpolation, false)?;
                if piece.has_context() {
                    return Err(EvalError::new(ErrorKind::Other(
                        "a string that refers to a store path cannot be appended to a path".into(),
                    )));
                }
                let text = format!("{base}{}", piece.to_str_lossy());
                Ok(Value::Path(Rc::from(join("/", &text))))
            }
            (Value::String(s), _) => {
                let piece = self.coerce_to_string(&rhs, super::CoerceMode::Interpolation, true)?;
                if !s.has_context() && !piece.has_context() {
                    return Ok(Value::String(NixStr::concat([s.as_bytes(), piece.as_bytes()].into_iter())));
                }
                let mut builder = StringBuilder::new();
                builder.push_str(s);
                builder.push_str(&piece);
                Ok(Value::String(builder.finish()))
            }
            (Value::Int(_) | Value::Float(_), other) => Err(EvalError::new(ErrorKind::Other(format!(
                "cannot add {} to {}",
                other.ty().describe(),
                lhs.ty().describe()
            )))),
            // Anything else is string concatenation, if both sides coerce.
            _ => {
                let left = self.coerce_to_string(&lhs, super::CoerceMode::Interpolation, true)?;
                let right = self.coerce_to_string(&rhs, super::CoerceMode::Interpolation, true)?;
                let mut builder = StringBuilder::new();
                builder.push_str(&left);
                builder.push_str(&right);
                Ok(Value::String(builder.finish()))
            }
        }
    }

    /// Integer and float arithmetic with Nix's promotion rules; integer
    /// overflow and division by zero are errors.
    pub fn arith(&mut self, op: BinOp, lhs: Value, rhs: Value) -> EvalResult<Value> {
        match (&lhs, &rhs) {
            (Value::Int(a), Value::Int(b)) => {
                let (a, b) = (*a, *b);
                let (result, verb, symbol) = match op {
                    BinOp::Add => (a.checked_add(b), "adding", "+"),
                    BinOp::Sub => (a.checked_sub(b), "subtracting", "-"),
                    BinOp::Mul => (a.checked_mul(b), "multiplying", "*"),
                    _ => {
                        if b == 0 {
                            return Err(EvalError::new(ErrorKind::DivisionByZero));
                        }
                        (a.checked_div(b), "dividing", "/")
                    }
                };
                result
                    .map(Value::Int)
                    .ok_or_else(|| EvalError::new(ErrorKind::IntegerOverflow(format!("{verb} {a} {symbol} {b}"))))
            }
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                let a = as_float(&lhs);
                let b = as_float(&rhs);
                Ok(Value::Float(match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    _ => {
                        if b == 0.0 {
                            return Err(EvalError::new(ErrorKind::DivisionByZero));
                        }
                        a / b
                    }
                }))
            }
            (Value::Int(_) | Value::Float(_), other) | (other, _) => Err(type_error("an integer", other)),
        }
    }
}

fn as_float(value: &Value) -> f64 {
    match value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => 0.0,
    }
}
