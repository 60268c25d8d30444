//! Runtime values of the Nix language.

mod attrs;
mod str_bytes;
mod string;
mod thunk;

pub use attrs::{Attr, Attrs};
pub(crate) use string::ShortBytes;
pub use string::{Context, ContextElement, IntoStrBytes, NixStr, StrBytes, StringBuilder};
pub use thunk::{Thunk, ThunkState};

use crate::builtins::PrimOp;
use crate::eval::Env;
use crate::ir::LambdaExpr;
use std::rc::Rc;

/// A Nix value. Containers (lists, attribute sets, environments) hold
/// values that may still be thunks; every other variant is evaluated.
#[derive(Clone, Debug)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A 64-bit integer; arithmetic that overflows is an error.
    Int(i64),
    /// A double-precision float.
    Float(f64),
    /// A string with its context.
    String(Rc<NixStr>),
    /// An absolute, normalised path. Behind one thin pointer (not an
    /// `Rc<str>`, whose pointer is two words) so that a value is 16 bytes:
    /// paths are rare, and every list element, attribute, environment slot
    /// and thunk holds values.
    Path(Rc<String>),
    /// An attribute set.
    Attrs(Rc<Attrs>),
    /// A list.
    List(Rc<Vec<Value>>),
    /// A user-defined function together with the environment it closes over.
    Lambda(Rc<Closure>),
    /// A built-in function, possibly applied to some of its arguments.
    PrimOp(Rc<PrimOpApp>),
    /// A suspended computation (only ever found inside containers).
    Thunk(Thunk),
}

/// A lambda expression closed over the environment it was created in.
#[derive(Debug)]
pub struct Closure {
    /// The function's code.
    pub lambda: Rc<LambdaExpr>,
    /// The environment its free variables come from.
    pub env: Env,
}

/// A built-in function and the arguments it has received so far.
#[derive(Debug)]
pub struct PrimOpApp {
    /// The built-in.
    pub op: &'static PrimOp,
    /// Arguments received so far (fewer than the built-in's arity).
    pub args: Vec<Value>,
}

/// The kinds of values, as `builtins.typeOf` names them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Type {
    /// `null`.
    Null,
    /// Booleans.
    Bool,
    /// Integers.
    Int,
    /// Floats.
    Float,
    /// Strings.
    String,
    /// Paths.
    Path,
    /// Attribute sets.
    Attrs,
    /// Lists.
    List,
    /// Functions of any kind.
    Lambda,
    /// A value not yet evaluated (never seen by users).
    Thunk,
}

impl Type {
    /// The name `builtins.typeOf` returns.
    pub fn type_of(self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Float => "float",
            Type::String => "string",
            Type::Path => "path",
            Type::Attrs => "set",
            Type::List => "list",
            Type::Lambda => "lambda",
            Type::Thunk => "thunk",
        }
    }

    /// The name used in error messages ("expected a set but found a list").
    pub fn describe(self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Bool => "a Boolean",
            Type::Int => "an integer",
            Type::Float => "a float",
            Type::String => "a string",
            Type::Path => "a path",
            Type::Attrs => "a set",
            Type::List => "a list",
            Type::Lambda => "a function",
            Type::Thunk => "a thunk",
        }
    }
}

impl Value {
    /// The value's type.
    pub fn ty(&self) -> Type {
        match self {
            Value::Null => Type::Null,
            Value::Bool(_) => Type::Bool,
            Value::Int(_) => Type::Int,
            Value::Float(_) => Type::Float,
            Value::String(_) => Type::String,
            Value::Path(_) => Type::Path,
            Value::Attrs(_) => Type::Attrs,
            Value::List(_) => Type::List,
            Value::Lambda(_) | Value::PrimOp(_) => Type::Lambda,
            Value::Thunk(_) => Type::Thunk,
        }
    }

    /// A string value without context.
    pub fn string(s: impl AsRef<[u8]>) -> Value {
        Value::String(NixStr::new(s.as_ref()))
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(items))
    }

    /// An attribute set value.
    pub fn attrs(attrs: Attrs) -> Value {
        Value::Attrs(Rc::new(attrs))
    }

    /// Whether the value is a function (lambda or built-in).
    pub fn is_function(&self) -> bool {
        matches!(self, Value::Lambda(_) | Value::PrimOp(_))
    }

    /// Whether the value is an attribute set that marks a derivation-like
    /// value (`type = "derivation"`), which printing abbreviates.
    pub fn is_derivation(&self) -> bool {
        match self {
            Value::Attrs(attrs) => matches!(
                attrs.get_str("type").map(Value::peek),
                Some(Value::String(s)) if s.as_bytes() == b"derivation"
            ),
            _ => false,
        }
    }

    /// Drops the value, checking inline for the kinds that own nothing.
    /// The compiler's drop of a `Value` is an out-of-line call even where
    /// the value is known to be an integer or a Boolean; on the hottest
    /// paths (arithmetic, conditions) that call is a noticeable cost.
    #[inline(always)]
    pub fn dispose(self) {
        match self {
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => std::mem::forget(self),
            other => drop(other),
        }
    }

    /// The value itself, or the evaluated value inside an already forced
    /// thunk; an unevaluated thunk stays as it is.
    pub fn peek(&self) -> Value {
        match self {
            Value::Thunk(thunk) => thunk.peek().unwrap_or_else(|| self.clone()),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Value;

    /// Every container holds values, so their size multiplies: a value is
    /// its tag and one word.
    #[test]
    fn a_value_is_two_words() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }
}
