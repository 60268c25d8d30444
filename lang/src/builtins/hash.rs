//! Hashing built-ins: `hashString`, `hashFile` and `convertHash`. The
//! encodings themselves live in [`crate::hash_format`].

use super::PrimOp;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::Vm;
use crate::hash_format::{self, HashAlgo, HashFormat, HashFormatError};
use crate::value::{Attrs, Value};
use std::path::Path;

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "hashString", arity: 2, run: hash_string },
    PrimOp { name: "hashFile", arity: 2, run: hash_file },
    PrimOp { name: "convertHash", arity: 1, run: convert_hash },
];

/// Turns a hash-format error into an evaluation error with the same message.
fn hash_error(error: HashFormatError) -> Box<EvalError> {
    EvalError::new(ErrorKind::Other(error.to_string()))
}

/// Forces a value to a string and reads it as a hash algorithm's name.
fn force_algo(vm: &mut Vm, value: &Value) -> EvalResult<HashAlgo> {
    let name = vm.force_string(value)?;
    HashAlgo::parse(&name.to_str_lossy()).map_err(hash_error)
}

/// `hashString algo s`: the digest of the string's bytes in lowercase
/// hexadecimal. The string's context is dropped.
fn hash_string(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let algo = force_algo(vm, &args[0])?;
    let text = vm.force_string(&args[1])?;
    Ok(Value::string(hash_format::to_base16(&hash_format::digest(algo, text.as_bytes()))))
}

/// `hashFile algo path`: the digest of the file's contents in lowercase
/// hexadecimal.
fn hash_file(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let algo = force_algo(vm, &args[0])?;
    let path = vm.force_path(&args[1])?;
    let bytes = vm.options.io.read_file(Path::new(&path)).map_err(|error| {
        let message = match error.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            _ => error.to_string(),
        };
        EvalError::new(ErrorKind::Io { action: "reading", path: path.clone(), message })
    })?;
    Ok(Value::string(hash_format::to_base16(&hash_format::digest(algo, &bytes))))
}

/// Forces the string-valued attribute `name` of `attrs`, if present and
/// not `null`.
fn optional_string(vm: &mut Vm, attrs: &Attrs, name: &str) -> EvalResult<Option<String>> {
    let Some(value) = attrs.get_str(name).cloned() else {
        return Ok(None);
    };
    match vm.force(&value)? {
        Value::Null => Ok(None),
        _ => Ok(Some(vm.force_string(&value)?.to_str_lossy().into_owned())),
    }
}

/// Forces the string-valued attribute `name` of `attrs`, which must exist.
fn required_string(vm: &mut Vm, attrs: &Attrs, name: &str) -> EvalResult<String> {
    let Some(value) = attrs.get_str(name).cloned() else {
        return Err(EvalError::new(ErrorKind::AttrMissing { name: name.to_string(), suggestion: None }));
    };
    Ok(vm.force_string(&value)?.to_str_lossy().into_owned())
}

/// `convertHash { hash; toHashFormat; hashAlgo ? null; }`: re-encodes a
/// hash given in any format (see [`hash_format::parse_any`]).
fn convert_hash(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let attrs = vm.force_attrs(&args[0])?;
    let hash = required_string(vm, &attrs, "hash")?;
    let algo =
        optional_string(vm, &attrs, "hashAlgo")?.map(|name| HashAlgo::parse(&name)).transpose().map_err(hash_error)?;
    let format = HashFormat::parse(&required_string(vm, &attrs, "toHashFormat")?).map_err(hash_error)?;
    let (algo, bytes) = hash_format::parse_any(&hash, algo).map_err(hash_error)?;
    Ok(Value::string(hash_format::format_hash(algo, &bytes, format)))
}
