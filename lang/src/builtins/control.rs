//! Evaluation control: import, errors, strictness, tracing.

use super::PrimOp;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::{CoerceMode, Vm};
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Value};

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "import", arity: 1, run: import },
    PrimOp { name: "scopedImport", arity: 2, run: scoped_import },
    PrimOp { name: "abort", arity: 1, run: abort },
    PrimOp { name: "throw", arity: 1, run: throw },
    PrimOp { name: "tryEval", arity: 1, run: try_eval },
    PrimOp { name: "seq", arity: 2, run: seq },
    PrimOp { name: "deepSeq", arity: 2, run: deep_seq },
    PrimOp { name: "trace", arity: 2, run: trace },
    PrimOp { name: "warn", arity: 2, run: warn },
    PrimOp { name: "addErrorContext", arity: 2, run: add_error_context },
];

fn import(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let path = vm.force_path(&args[0])?;
    vm.import_file(&path)
}

fn scoped_import(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let scope = vm.force_attrs(&args[0])?;
    let path = vm.force_path(&args[1])?;
    vm.scoped_import(&path, Some(scope))
}

fn message(vm: &mut Vm, value: &Value) -> EvalResult<String> {
    let text = vm.coerce_to_string(value, CoerceMode::Interpolation, false)?;
    Ok(text.to_str_lossy().into_owned())
}

fn abort(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let text = message(vm, &args[0])?;
    Err(EvalError::new(ErrorKind::Abort(text)))
}

fn throw(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let text = message(vm, &args[0])?;
    Err(EvalError::new(ErrorKind::Throw(text)))
}

fn try_eval(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let (success, value) = match vm.force(&args[0]) {
        Ok(value) => (true, value),
        Err(error) if error.is_catchable() => (false, Value::Bool(false)),
        Err(error) => return Err(error),
    };
    Ok(Value::attrs(Attrs::from_sorted(vec![
        Attr { name: Symbol::from_str("success"), value: Value::Bool(success), span: None },
        Attr { name: Symbol::from_str("value"), value, span: None },
    ])))
}

fn seq(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    vm.force(&args[0])?;
    vm.force(&args[1])
}

fn deep_seq(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    vm.force_deep(&args[0])?;
    vm.force(&args[1])
}

fn trace(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let value = vm.force_deep(&args[0])?;
    let text = match &value {
        Value::String(s) => s.to_str_lossy().into_owned(),
        other => crate::print::print_value(other),
    };
    (vm.options.trace)(&format!("trace: {text}"));
    vm.force(&args[1])
}

fn warn(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let text = vm.force_string(&args[0])?;
    (vm.options.trace)(&format!("evaluation warning: {}", text.to_str_lossy()));
    vm.force(&args[1])
}

fn add_error_context(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    match vm.force(&args[1]) {
        Ok(value) => Ok(value),
        Err(error) => {
            let context = match vm.coerce_to_string(&args[0], CoerceMode::Interpolation, false) {
                Ok(text) => text.to_str_lossy().into_owned(),
                Err(_) => return Err(error),
            };
            Err(crate::eval::frame(error, context, None))
        }
    }
}
