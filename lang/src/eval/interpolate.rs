//! String interpolation (`"a${b}c"`), with `${toString n}` of an integer
//! written straight into the result, and short results that need no
//! evaluation (`"m${toString i}"` with `i` known) built on the stack.

use super::coerce::{ArrayString, format_int};
use super::{CoerceMode, Env, Vm, at, cheap_int_op};
use crate::error::EvalResult;
use crate::ir::Expr;
use crate::source::Span;
use crate::value::{NixStr, ShortBytes, StringBuilder, Value};
use smallvec::SmallVec;
use std::rc::Rc;

/// One evaluated part of an interpolated string.
enum Piece {
    /// A string (literal text or a coerced value).
    Str(Rc<NixStr>),
    /// The digits of `toString n`, not yet made into a string value.
    Digits(ArrayString),
}

impl Piece {
    fn bytes(&self) -> &[u8] {
        match self {
            Piece::Str(s) => s.as_bytes(),
            Piece::Digits(digits) => digits.as_bytes(),
        }
    }
}

impl Vm {
    /// Evaluates the parts of an interpolated string and concatenates them.
    #[inline(never)]
    pub(super) fn interpolate(&mut self, parts: &[Rc<Expr>], env: &Env, span: Span) -> EvalResult<Value> {
        if let Some(short) = short_interpolation(parts, env) {
            return Ok(Value::String(NixStr::new(short)));
        }
        let mut pieces: SmallVec<[Piece; 4]> = SmallVec::new();
        for part in parts {
            if let Some(n) = to_string_of_int(part, env) {
                pieces.push(Piece::Digits(format_int(n)));
                continue;
            }
            let value = self.eval(part, env)?;
            match value {
                Value::String(s) => pieces.push(Piece::Str(s)),
                other => pieces.push(Piece::Str(
                    self.coerce_to_string(&other, CoerceMode::Interpolation, true)
                        .map_err(|e| at(e, part.span().unwrap_or(span)))?,
                )),
            }
        }
        // One allocation of the exact size, none for a short result.
        if !pieces.iter().any(|piece| matches!(piece, Piece::Str(s) if s.has_context())) {
            return Ok(Value::String(NixStr::concat(pieces.iter().map(Piece::bytes))));
        }
        let length = pieces.iter().map(|p| p.bytes().len()).sum();
        let mut builder = StringBuilder::with_capacity(length);
        for piece in &pieces {
            match piece {
                Piece::Str(s) => builder.push_str(s),
                Piece::Digits(digits) => builder.push_bytes(digits.as_bytes()),
            }
        }
        Ok(Value::String(builder.finish()))
    }
}

/// The result of an interpolation whose parts need no evaluation (string
/// constants, evaluated string variables, `toString` of a known integer),
/// have no context, and together fit in a string's inline storage; `None`
/// otherwise, before anything has been evaluated.
fn short_interpolation(parts: &[Rc<Expr>], env: &Env) -> Option<ShortBytes> {
    let mut short = ShortBytes::new();
    for part in parts {
        let fits = match &**part {
            Expr::Const(Value::String(s)) if !s.has_context() => short.push(s.as_bytes()),
            Expr::Var(slot, _) => match env.lookup_evaluated(*slot)? {
                Value::String(s) if !s.has_context() => short.push(s.as_bytes()),
                _ => false,
            },
            _ => short.push_int(to_string_of_int(part, env)?),
        };
        if !fits {
            return None;
        }
    }
    Some(short)
}

/// The integer `n` when `part` is `toString n` (the built-in, not a
/// shadowing binding) and `n` is an integer needing no evaluation (a
/// constant, an evaluated variable, or arithmetic on those). Calling the
/// built-in would give exactly its decimal digits, without context, and
/// could not fail; anything else is left to the call.
fn to_string_of_int(part: &Expr, env: &Env) -> Option<i64> {
    let Expr::Apply { function, args, .. } = part else { return None };
    let (Expr::Const(Value::PrimOp(app)), [arg]) = (&**function, &**args) else { return None };
    if !app.args.is_empty() || app.op.name != "toString" {
        return None;
    }
    match &**arg {
        Expr::Const(Value::Int(n)) => Some(*n),
        Expr::Var(slot, _) => env.lookup_int(*slot),
        Expr::BinOp(op, lhs, rhs, _) => match cheap_int_op(*op, lhs, rhs, env)? {
            Value::Int(n) => Some(n),
            other => {
                other.dispose();
                None
            }
        },
        _ => None,
    }
}
