//! Turning values into strings: interpolation, `toString`, and `+`.

use super::Vm;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::print::format_float_to_string;
use crate::value::{NixStr, StringBuilder, Value};
use std::rc::Rc;

/// How permissive a string coercion is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CoerceMode {
    /// `"${x}"` and `+`: strings, paths, and sets with `__toString` or `outPath`.
    Interpolation,
    /// `toString x`: also numbers, Booleans, null and lists.
    ToString,
}

impl Vm {
    /// Coerces a value to a string. With `import_paths`, paths are passed to
    /// the I/O layer's `import_path` (as Nix copies them to the store).
    pub fn coerce_to_string(&mut self, value: &Value, mode: CoerceMode, import_paths: bool) -> EvalResult<Rc<NixStr>> {
        self.nested(|vm| vm.coerce_inner(value, mode, import_paths))
    }

    fn coerce_inner(&mut self, value: &Value, mode: CoerceMode, import_paths: bool) -> EvalResult<Rc<NixStr>> {
        let value = self.force(value)?;
        match &value {
            Value::String(s) => Ok(s.clone()),
            Value::Path(path) => {
                if import_paths {
                    let (text, context) = self.options.io.import_path(path).map_err(|e| {
                        EvalError::new(ErrorKind::Io {
                            action: "importing",
                            path: path.to_string(),
                            message: super::io_message(&e),
                        })
                    })?;
                    Ok(NixStr::with_context(text.into_bytes(), context))
                } else {
                    Ok(NixStr::new(path.as_bytes()))
                }
            }
            Value::Attrs(attrs) => {
                if let Some(function) = attrs.get(self.well_known.to_string) {
                    let function = self.force(&function.clone())?;
                    let result = self.call(function, value.clone(), None)?;
                    return self.coerce_to_string(&result, mode, import_paths);
                }
                if let Some(out_path) = attrs.get(self.well_known.out_path) {
                    let out_path = out_path.clone();
                    return self.coerce_to_string(&out_path, mode, import_paths);
                }
                Err(EvalError::new(ErrorKind::CannotCoerce("a set")))
            }
            Value::Int(n) if mode == CoerceMode::ToString => Ok(NixStr::new(format_int(*n).as_bytes())),
            Value::Float(f) if mode == CoerceMode::ToString => Ok(NixStr::new(format_float_to_string(*f).into_bytes())),
            Value::Bool(b) if mode == CoerceMode::ToString => Ok(NixStr::new(if *b { &b"1"[..] } else { b"" })),
            Value::Null if mode == CoerceMode::ToString => Ok(NixStr::new(&b""[..])),
            Value::List(items) if mode == CoerceMode::ToString => {
                let mut builder = StringBuilder::new();
                let items = items.clone();
                for (index, item) in items.iter().enumerate() {
                    let item = self.force(item)?;
                    let piece = self.coerce_to_string(&item, mode, import_paths)?;
                    // Nix separates elements with a space, except after an empty list.
                    if index > 0
                        && !matches!(items.get(index - 1).map(Value::peek), Some(Value::List(l)) if l.is_empty())
                    {
                        builder.push_bytes(b" ");
                    }
                    builder.push_str(&piece);
                }
                Ok(builder.finish())
            }
            other => Err(EvalError::new(ErrorKind::CannotCoerce(other.ty().describe()))),
        }
    }
}

/// Decimal digits of an integer in a stack buffer (no heap allocation).
pub(super) fn format_int(n: i64) -> ArrayString {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(n).as_bytes();
    let mut out = ArrayString { bytes: [0; 20], len: digits.len() as u8 };
    out.bytes[..digits.len()].copy_from_slice(digits);
    out
}

/// A short string on the stack: the at most 20 characters of an `i64`.
pub(super) struct ArrayString {
    bytes: [u8; 20],
    len: u8,
}

impl ArrayString {
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::format_int;

    #[test]
    fn integers_format_like_display() {
        for n in [0, 7, -7, 10, 1234567890, i64::MAX, i64::MIN] {
            assert_eq!(format_int(n).as_bytes(), n.to_string().as_bytes());
        }
    }
}
