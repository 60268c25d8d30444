//! `builtins.toJSON` and `builtins.fromJSON`.

use super::PrimOp;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::{CoerceMode, Vm};
use crate::print::format_float;
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Context, Value};

pub(super) const PRIMOPS: &[PrimOp] =
    &[PrimOp { name: "toJSON", arity: 1, run: to_json }, PrimOp { name: "fromJSON", arity: 1, run: from_json }];

fn to_json(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let mut context = Context::new();
    let mut out = Vec::new();
    write_json(vm, &args[0], true, &mut out, &mut context)?;
    Ok(Value::String(crate::value::NixStr::with_context(out, context)))
}

/// Serialises a value as compact JSON, as `builtins.toJSON` does. Paths
/// are imported through the I/O layer when `import_paths` is set.
pub fn value_to_json(vm: &mut Vm, value: &Value, import_paths: bool) -> EvalResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut context = Context::new();
    write_json(vm, value, import_paths, &mut out, &mut context)?;
    Ok(out)
}

fn write_json(
    vm: &mut Vm,
    value: &Value,
    import_paths: bool,
    out: &mut Vec<u8>,
    context: &mut Context,
) -> EvalResult<()> {
    let value = vm.force(value)?;
    vm.nested(|vm| match &value {
        Value::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Value::Bool(b) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
            Ok(())
        }
        Value::Int(n) => {
            out.extend_from_slice(n.to_string().as_bytes());
            Ok(())
        }
        Value::Float(f) => {
            out.extend_from_slice(format_float(*f).as_bytes());
            Ok(())
        }
        Value::String(s) => {
            if let Some(c) = s.context() {
                context.extend(c.iter().cloned());
            }
            escape_json(s.as_bytes(), out);
            Ok(())
        }
        Value::Path(_) => {
            let s = vm.coerce_to_string(&value, CoerceMode::Interpolation, import_paths)?;
            if let Some(c) = s.context() {
                context.extend(c.iter().cloned());
            }
            escape_json(s.as_bytes(), out);
            Ok(())
        }
        Value::Attrs(attrs) => {
            if attrs.get(vm.well_known.to_string).is_some() {
                let s = vm.coerce_to_string(&value, CoerceMode::Interpolation, import_paths)?;
                if let Some(c) = s.context() {
                    context.extend(c.iter().cloned());
                }
                escape_json(s.as_bytes(), out);
                return Ok(());
            }
            if let Some(out_path) = attrs.get(vm.well_known.out_path) {
                let out_path = out_path.clone();
                return write_json(vm, &out_path, import_paths, out, context);
            }
            out.push(b'{');
            for (index, attr) in attrs.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                escape_json(&attr.name.bytes(), out);
                out.push(b':');
                write_json(vm, &attr.value, import_paths, out, context).map_err(|e| {
                    crate::eval::frame(e, format!("while evaluating attribute '{}'", attr.name), attr.span)
                })?;
            }
            out.push(b'}');
            Ok(())
        }
        Value::List(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_json(vm, item, import_paths, out, context)?;
            }
            out.push(b']');
            Ok(())
        }
        Value::Lambda(_) | Value::PrimOp(_) => {
            Err(EvalError::new(ErrorKind::Other("cannot convert a function to JSON".into())))
        }
        Value::Thunk(_) => Err(EvalError::new(ErrorKind::Other("internal error: unforced value in JSON".into()))),
    })
}

fn escape_json(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=31 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            other => out.push(other),
        }
    }
    out.push(b'"');
}

fn from_json(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let text = vm.force_string(&args[0])?;
    let parsed: serde_json::Value = serde_json::from_slice(text.as_bytes())
        .map_err(|e| EvalError::new(ErrorKind::Other(format!("parse error: syntax error while parsing JSON: {e}"))))?;
    json_to_value(parsed)
}

/// Converts parsed JSON into a Nix value: numbers written without a
/// fraction or exponent are integers (and must fit in 64 bits).
pub(crate) fn json_to_value(json: serde_json::Value) -> EvalResult<Value> {
    Ok(match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                let number: f64 = text.parse().unwrap_or(f64::INFINITY);
                if !number.is_finite() {
                    return Err(EvalError::new(ErrorKind::Other(format!(
                        "number overflow while parsing JSON: '{text}'"
                    ))));
                }
                Value::Float(number)
            } else {
                Value::Int(text.parse().map_err(|_| {
                    EvalError::new(ErrorKind::Other(format!("number overflow while parsing JSON: '{text}'")))
                })?)
            }
        }
        serde_json::Value::String(s) => Value::string(s),
        serde_json::Value::Array(items) => {
            Value::list(items.into_iter().map(json_to_value).collect::<EvalResult<Vec<Value>>>()?)
        }
        serde_json::Value::Object(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (key, value) in map {
                entries.push(Attr { name: Symbol::from_str(&key), value: json_to_value(value)?, span: None });
            }
            Value::attrs(Attrs::from_unsorted(entries))
        }
    })
}
