//! Reading the file system and the environment.

use super::PrimOp;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::Vm;
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Value};
use std::path::Path;

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "readFile", arity: 1, run: read_file },
    PrimOp { name: "readDir", arity: 1, run: read_dir },
    PrimOp { name: "readFileType", arity: 1, run: read_file_type },
    PrimOp { name: "pathExists", arity: 1, run: path_exists },
    PrimOp { name: "getEnv", arity: 1, run: get_env },
    PrimOp { name: "findFile", arity: 2, run: find_file },
];

fn io_error(action: &'static str, path: &str, error: std::io::Error) -> Box<EvalError> {
    EvalError::new(ErrorKind::Io { action, path: path.to_string(), message: crate::eval::io_message(&error) })
}

fn read_file(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let path = vm.force_path(&args[0])?;
    let bytes = vm.options.io.read_file(Path::new(&path)).map_err(|e| io_error("reading", &path, e))?;
    Ok(Value::string(bytes))
}

fn read_dir(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let path = vm.force_path(&args[0])?;
    let entries = vm.options.io.read_dir(Path::new(&path)).map_err(|e| io_error("reading directory", &path, e))?;
    let attrs = entries
        .into_iter()
        .map(|(name, ty)| Attr { name: Symbol::intern(&name), value: Value::string(ty.nix_name()), span: None })
        .collect();
    Ok(Value::attrs(Attrs::from_unsorted(attrs)))
}

fn read_file_type(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let path = vm.force_path(&args[0])?;
    let ty = vm.options.io.file_type(Path::new(&path)).map_err(|e| io_error("getting the type of", &path, e))?;
    Ok(Value::string(ty.nix_name()))
}

fn path_exists(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let path = vm.force_path(&args[0])?;
    Ok(Value::Bool(vm.options.io.path_exists(Path::new(&path))))
}

fn get_env(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let name = vm.force_string(&args[0])?;
    Ok(Value::string(vm.options.io.get_env(&name.to_str_lossy())))
}

/// `builtins.findFile searchPath name`: the `<name>` lookup with an explicit
/// search path (a list of `{ prefix ? ""; path; }`).
fn find_file(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let entries = vm.force_list(&args[0])?;
    let name = vm.force_string(&args[1])?.to_str_lossy().into_owned();
    for entry in entries.iter() {
        let attrs = vm.force_attrs(entry)?;
        let prefix = match attrs.get_str("prefix") {
            Some(prefix) => vm.force_string(&prefix.clone())?.to_str_lossy().into_owned(),
            None => String::new(),
        };
        let path = attrs.get_str("path").cloned().ok_or_else(|| {
            EvalError::new(ErrorKind::Other("attribute 'path' missing in a search path entry".into()))
        })?;
        let path =
            vm.coerce_to_string(&path, crate::eval::CoerceMode::Interpolation, false)?.to_str_lossy().into_owned();
        let rest = if prefix.is_empty() {
            Some(name.as_str())
        } else if name == prefix {
            Some("")
        } else {
            name.strip_prefix(&format!("{prefix}/"))
        };
        let Some(rest) = rest else { continue };
        let candidate = if rest.is_empty() { path.clone() } else { format!("{path}/{rest}") };
        if vm.options.io.path_exists(Path::new(&candidate)) {
            return Ok(Value::Path(std::rc::Rc::from(crate::path::canonicalize(&candidate))));
        }
    }
    Err(EvalError::new(ErrorKind::Other(format!(
        "file '{name}' was not found in the Nix search path (add it with -I or $IMGX_PATH)"
    ))))
}
