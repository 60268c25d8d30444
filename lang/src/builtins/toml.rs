//! `builtins.fromTOML`.

use super::PrimOp;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::Vm;
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Value};

pub(super) const PRIMOPS: &[PrimOp] = &[PrimOp { name: "fromTOML", arity: 1, run: from_toml }];

/// An error in the form Nix 2.8 reports every `fromTOML` failure.
fn toml_error(message: &str) -> Box<EvalError> {
    EvalError::new(ErrorKind::Other(format!("while parsing a TOML string: {message}")))
}

/// `fromTOML s`: tables become sets, arrays lists, and scalars the
/// corresponding Nix values. Dates and times are rejected, as in Nix 2.8.
fn from_toml(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let text = vm.force_string(&args[0])?;
    let text = std::str::from_utf8(text.as_bytes()).map_err(|e| toml_error(&format!("invalid UTF-8: {e}")))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| toml_error(&describe_error(text, &e)))?;
    table_to_value(table)
}

/// The parser's message followed by the line and column it points at.
fn describe_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    let Some(start) = error.span().map(|span| span.start.min(text.len())) else {
        return message.to_string();
    };
    let before = text.get(..start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{message} at line {line}, column {column}")
}

/// Converts a table into a set.
fn table_to_value(table: toml::Table) -> EvalResult<Value> {
    let mut entries = Vec::with_capacity(table.len());
    for (key, value) in table {
        entries.push(Attr { name: Symbol::from_str(&key), value: toml_to_value(value)?, span: None });
    }
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

/// Converts one TOML value.
fn toml_to_value(value: toml::Value) -> EvalResult<Value> {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, || match value {
        toml::Value::String(s) => Ok(Value::string(until_nul(&s))),
        toml::Value::Integer(n) => Ok(Value::Int(n)),
        toml::Value::Float(f) => Ok(Value::Float(f)),
        toml::Value::Boolean(b) => Ok(Value::Bool(b)),
        toml::Value::Datetime(_) => Err(toml_error("Dates and times are not supported")),
        toml::Value::Array(items) => Ok(Value::list(items.into_iter().map(toml_to_value).collect::<EvalResult<_>>()?)),
        toml::Value::Table(table) => table_to_value(table),
    })
}

/// A string up to its first NUL: Nix's strings end there.
fn until_nul(s: &str) -> &str {
    s.split('\0').next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use crate::eval::{EvalOptions, Vm};
    use crate::io::StdIo;
    use crate::print::print_value;
    use std::path::Path;
    use std::rc::Rc;

    fn eval(source: &str) -> Result<String, String> {
        let mut vm = Vm::new(EvalOptions::new(Rc::new(StdIo)));
        let value = vm.eval_source("test", source, Path::new("/")).map_err(|e| e.kind.to_string())?;
        let value = vm.force_deep(&value).map_err(|e| e.kind.to_string())?;
        Ok(print_value(&value))
    }

    #[test]
    fn converts_nested_tables_and_arrays() {
        let source = r#"fromTOML "[[a.b]]\nc = [1, 2.5, \"x\", true]\n[d]\ne = { f = -0.5 }""#;
        assert_eq!(
            eval(source).as_deref(),
            Ok(r#"{ a = { b = [ { c = [ 1 2.5 "x" true ]; } ]; }; d = { e = { f = -0.5; }; }; }"#)
        );
    }

    #[test]
    fn rejects_dates_and_bad_syntax() {
        let date = eval(r#"builtins.fromTOML "d = 1979-05-27T07:32:00Z""#);
        assert_eq!(date, Err("while parsing a TOML string: Dates and times are not supported".to_string()));
        let bad = eval(r#"builtins.fromTOML "a = \n b""#).unwrap_err();
        assert!(bad.starts_with("while parsing a TOML string: "), "{bad}");
        assert!(bad.contains(" at line "), "{bad}");
    }

    #[test]
    fn strings_end_at_nul_like_nix() {
        assert_eq!(eval(r#"builtins.fromTOML "a = \"x\\u0000y\"""#).as_deref(), Ok(r#"{ a = "x"; }"#));
    }
}
