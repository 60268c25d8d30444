//! Printing values as `nix-instantiate --eval` prints them.

use crate::value::Value;
use std::collections::HashSet;
use std::rc::Rc;

/// Prints a value in Nix's syntax. Unevaluated thunks print as `<CODE>`;
/// a non-empty set or list met a second time prints as `«repeated»`.
pub fn print_value(value: &Value) -> String {
    String::from_utf8_lossy(&print_value_bytes(value)).into_owned()
}

/// Like [`print_value`], as raw bytes (strings need not be UTF-8).
pub fn print_value_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    print_into(value, None, &mut out, &mut seen);
    out
}

/// What makes a container "the same" for `«repeated»`, following Nix 2.8's
/// memory layout: a set is its attribute storage; a list of three or more
/// elements is its element array; a list of one or two elements lives inside
/// its value cell, so only the same cell (here, the same thunk) repeats.
fn identity(value: &Value, cell: Option<usize>) -> Option<usize> {
    match value {
        Value::Attrs(attrs) if !attrs.is_empty() => Some(Rc::as_ptr(attrs) as usize),
        Value::List(items) if items.len() > 2 => Some(Rc::as_ptr(items) as usize),
        Value::List(items) if !items.is_empty() => cell,
        _ => None,
    }
}

fn print_element(value: &Value, out: &mut Vec<u8>, seen: &mut HashSet<usize>) {
    match value {
        Value::Thunk(thunk) => match thunk.peek() {
            Some(inner) => print_into(&inner, Some(thunk.id()), out, seen),
            None => out.extend_from_slice(b"<CODE>"),
        },
        other => print_into(other, None, out, seen),
    }
}

fn print_into(value: &Value, cell: Option<usize>, out: &mut Vec<u8>, seen: &mut HashSet<usize>) {
    if let Some(key) = identity(value, cell)
        && !seen.insert(key)
    {
        out.extend_from_slice("«repeated»".as_bytes());
        return;
    }
    stacker::maybe_grow(64 * 1024, 1024 * 1024, || match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Float(f) => out.extend_from_slice(format_float(*f).as_bytes()),
        Value::String(s) => escape_string(s.as_bytes(), out),
        Value::Path(p) => out.extend_from_slice(p.as_bytes()),
        Value::Attrs(attrs) => {
            out.extend_from_slice(b"{ ");
            for attr in attrs.iter() {
                attr.name.with_bytes(|name| print_attr_name(name, out));
                out.extend_from_slice(b" = ");
                print_element(&attr.value, out, seen);
                out.extend_from_slice(b"; ");
            }
            out.push(b'}');
        }
        Value::List(items) => {
            out.extend_from_slice(b"[ ");
            for item in items.iter() {
                print_element(item, out, seen);
                out.push(b' ');
            }
            out.push(b']');
        }
        Value::Lambda(_) => out.extend_from_slice(b"<LAMBDA>"),
        Value::PrimOp(app) => out.extend_from_slice(if app.args.is_empty() { b"<PRIMOP>" } else { b"<PRIMOP-APP>" }),
        Value::Thunk(_) => out.extend_from_slice(b"<CODE>"),
    })
}

/// Writes an attribute name: bare when it is a valid identifier, quoted
/// otherwise (and `if`, the one keyword Nix 2.8 quotes), with every `$`
/// escaped as Nix does in names.
fn print_attr_name(name: &[u8], out: &mut Vec<u8>) {
    if is_identifier(name) && name != b"if" {
        out.extend_from_slice(name);
        return;
    }
    out.push(b'"');
    for &b in name {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'$' => out.extend_from_slice(b"\\$"),
            other => out.push(other),
        }
    }
    out.push(b'"');
}

/// Whether a name can be written without quotes.
pub fn is_identifier(name: &[u8]) -> bool {
    let Some(&first) = name.first() else { return false };
    if first.is_ascii_digit() || first == b'-' || first == b'\'' {
        return false;
    }
    name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'\'')
}

/// Writes a string literal with Nix's escapes.
pub fn escape_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                out.extend_from_slice(b"\\${");
                i += 1;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out.push(b'"');
}

/// Formats a float as C++'s `ostream << double` does (`%g`, 6 significant digits).
pub fn format_float(f: f64) -> String {
    format_g(f, 6)
}

/// Formats a float as `toString` does (C's `%f`: six decimals).
pub fn format_float_to_string(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf".into() } else { "inf".into() };
    }
    format!("{f:.6}")
}

/// C's `%.{precision}g`.
pub fn format_g(f: f64, precision: usize) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let precision = precision.max(1);
    let scientific = format!("{:.*e}", precision - 1, f);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = strip_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
        strip_zeros(&format!("{f:.decimals$}")).to_string()
    }
}

fn strip_zeros(text: &str) -> &str {
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_cpp_streams() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e10), "1e+10");
        assert_eq!(format_float(1.5e-7), "1.5e-07");
        assert_eq!(format_float(100000.0), "100000");
        assert_eq!(format_float(1000000.0), "1e+06");
        assert_eq!(format_float(1.23456789), "1.23457");
        assert_eq!(format_float(-2.5), "-2.5");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(0.00001), "1e-05");
    }

    #[test]
    fn strings_escape_dollar_brace() {
        let mut out = Vec::new();
        escape_string(b"a\"${b}$c\n", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"\${b}$c\n""#);
    }
}
