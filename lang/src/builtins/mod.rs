//! The built-in functions and constants (`builtins.*` and the globals).
//!
//! Each group of built-ins lives in its own module and exports a table of
//! [`PrimOp`]s; [`globals`] assembles them into the `builtins` set and the
//! names visible without a prefix.

mod arith;
mod attrs;
mod context;
mod control;
mod fs;
mod hash;
mod json;
mod lists;
mod strings;
mod toml;
mod types;
mod versions;
mod xml;

pub use json::value_to_json;

use crate::error::{EvalError, EvalResult};
use crate::eval::{EvalOptions, Vm, type_error};
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, NixStr, PrimOpApp, Thunk, Value};
use std::collections::HashMap;
use std::rc::Rc;

/// A built-in function: its name, how many arguments it takes, and its code.
/// Arguments arrive unevaluated; the code forces what it needs. They are
/// lent, not given: a call then needs no heap allocation to hold them.
pub struct PrimOp {
    /// The name under `builtins`.
    pub name: &'static str,
    /// How many arguments it takes before it runs.
    pub arity: usize,
    /// The implementation.
    pub run: fn(&mut Vm, &[Value]) -> EvalResult<Value>,
}

impl std::fmt::Debug for PrimOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrimOp({})", self.name)
    }
}

/// Names available without the `builtins.` prefix, besides `__name` for every built-in.
const UNPREFIXED: &[&str] = &[
    "abort",
    "baseNameOf",
    "dirOf",
    "fromTOML",
    "import",
    "isNull",
    "map",
    "placeholder",
    "removeAttrs",
    "scopedImport",
    "throw",
    "toString",
];

fn all_primops() -> impl Iterator<Item = &'static PrimOp> {
    [
        arith::PRIMOPS,
        attrs::PRIMOPS,
        context::PRIMOPS,
        control::PRIMOPS,
        fs::PRIMOPS,
        hash::PRIMOPS,
        json::PRIMOPS,
        lists::PRIMOPS,
        strings::PRIMOPS,
        toml::PRIMOPS,
        types::PRIMOPS,
        versions::PRIMOPS,
        xml::PRIMOPS,
    ]
    .into_iter()
    .flatten()
}

/// Builds the global scope: `builtins`, `true`, `false`, `null`, the
/// unprefixed built-ins and `__name` aliases.
pub fn globals(options: &EvalOptions) -> HashMap<Symbol, Value> {
    let mut entries: Vec<Attr> = Vec::new();
    let mut add = |name: &str, value: Value| entries.push(Attr { name: Symbol::from_str(name), value, span: None });
    for op in all_primops().chain(options.extra_primops.iter().copied()) {
        add(op.name, Value::PrimOp(Rc::new(PrimOpApp { op, args: Vec::new() })));
    }
    add("true", Value::Bool(true));
    add("false", Value::Bool(false));
    add("null", Value::Null);
    add("currentSystem", Value::string(&options.current_system));
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    add("currentTime", Value::Int(now));
    add("langVersion", Value::Int(6));
    add("nixVersion", Value::string("2.18.0"));
    add("storeDir", Value::string("/imgx/store"));
    let nix_path: Vec<Value> = options
        .search_path
        .iter()
        .map(|entry| {
            let attrs = Attrs::from_unsorted(vec![
                Attr {
                    name: Symbol::from_str("path"),
                    value: Value::string(entry.path.to_string_lossy().as_bytes()),
                    span: None,
                },
                Attr { name: Symbol::from_str("prefix"), value: Value::string(&entry.prefix), span: None },
            ]);
            Value::attrs(attrs)
        })
        .collect();
    add("nixPath", Value::list(nix_path));

    // `builtins.builtins` refers to the set itself.
    let cell = Thunk::placeholder();
    add("builtins", Value::Thunk(cell.clone()));
    let builtins = Value::attrs(Attrs::from_unsorted(entries));
    cell.set_value(builtins.clone());

    let Value::Attrs(set) = &builtins else { unreachable!("built above") };
    let mut globals = HashMap::new();
    for attr in set.iter() {
        let name = attr.name.text();
        if matches!(name.as_str(), "true" | "false" | "null" | "builtins") || UNPREFIXED.contains(&name.as_str()) {
            globals.insert(attr.name, attr.value.clone());
        }
        if name != "builtins" {
            globals.insert(Symbol::from_str(&format!("__{name}")), attr.value.clone());
        }
    }
    globals.insert(Symbol::from_str("builtins"), builtins);
    globals
}

/// Forcing helpers shared by the built-ins.
impl Vm {
    /// Forces a value and requires an integer.
    pub fn force_int(&mut self, value: &Value) -> EvalResult<i64> {
        match self.force(value)? {
            Value::Int(n) => Ok(n),
            other => Err(type_error("an integer", &other)),
        }
    }

    /// Forces a value and requires a Boolean.
    pub fn force_bool(&mut self, value: &Value) -> EvalResult<bool> {
        match self.force(value)? {
            Value::Bool(b) => Ok(b),
            other => Err(type_error("a Boolean", &other)),
        }
    }

    /// Forces a value and requires a string (paths are not accepted).
    pub fn force_string(&mut self, value: &Value) -> EvalResult<Rc<NixStr>> {
        match self.force(value)? {
            Value::String(s) => Ok(s),
            other => Err(type_error("a string", &other)),
        }
    }

    /// Forces a value and requires a set.
    pub fn force_attrs(&mut self, value: &Value) -> EvalResult<Rc<Attrs>> {
        match self.force(value)? {
            Value::Attrs(attrs) => Ok(attrs),
            other => Err(type_error("a set", &other)),
        }
    }

    /// Forces a value and requires a list.
    pub fn force_list(&mut self, value: &Value) -> EvalResult<Rc<Vec<Value>>> {
        match self.force(value)? {
            Value::List(items) => Ok(items),
            other => Err(type_error("a list", &other)),
        }
    }

    /// Forces a value and requires a function.
    pub fn force_function(&mut self, value: &Value) -> EvalResult<Value> {
        let forced = self.force(value)?;
        let is_functor = matches!(&forced, Value::Attrs(a) if a.get(self.well_known.functor).is_some());
        if forced.is_function() || is_functor { Ok(forced) } else { Err(type_error("a function", &forced)) }
    }

    /// Calls a function with one argument and forces the result.
    pub fn apply1(&mut self, function: &Value, arg: Value) -> EvalResult<Value> {
        let result = self.call(function.clone(), arg, None)?;
        self.force(&result)
    }

    /// Calls a function with two arguments and forces the result. A
    /// two-argument built-in runs directly, without a partial application.
    pub fn apply2(&mut self, function: &Value, a: Value, b: Value) -> EvalResult<Value> {
        if let Value::PrimOp(app) = function
            && app.args.is_empty()
            && app.op.arity == 2
        {
            let result = (app.op.run)(self, &[a, b])?;
            return self.force(&result);
        }
        let result = self.call2(function.clone(), a, b, None)?;
        self.force(&result)
    }

    /// Coerces to a path string: a path, or a string holding an absolute path.
    pub fn force_path(&mut self, value: &Value) -> EvalResult<String> {
        match self.force(value)? {
            Value::Path(p) => Ok(p.to_string()),
            Value::String(s) => {
                let text = s.to_str_lossy().into_owned();
                if text.starts_with('/') {
                    Ok(crate::path::canonicalize(&text))
                } else {
                    Err(EvalError::new(crate::error::ErrorKind::Other(format!(
                        "string '{text}' doesn't represent an absolute path"
                    ))))
                }
            }
            Value::Attrs(_) => {
                let s = self.coerce_to_string(value, crate::eval::CoerceMode::Interpolation, false)?;
                Ok(s.to_str_lossy().into_owned())
            }
            other => Err(type_error("a path", &other)),
        }
    }
}

/// A lazy application `f x`, as a value (used by `map`, `genList` and friends).
pub(crate) fn lazy_apply(function: &Value, arg: Value) -> Value {
    Value::Thunk(Thunk::apply(function.clone(), arg))
}
