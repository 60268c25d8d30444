//! Type inspection: `typeOf` and the `is*` family.

use super::PrimOp;
use crate::error::EvalResult;
use crate::eval::Vm;
use crate::value::{Type, Value};

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "typeOf", arity: 1, run: type_of },
    PrimOp { name: "isAttrs", arity: 1, run: |vm, args| is(vm, args, Type::Attrs) },
    PrimOp { name: "isList", arity: 1, run: |vm, args| is(vm, args, Type::List) },
    PrimOp { name: "isFunction", arity: 1, run: |vm, args| is(vm, args, Type::Lambda) },
    PrimOp { name: "isString", arity: 1, run: |vm, args| is(vm, args, Type::String) },
    PrimOp { name: "isInt", arity: 1, run: |vm, args| is(vm, args, Type::Int) },
    PrimOp { name: "isFloat", arity: 1, run: |vm, args| is(vm, args, Type::Float) },
    PrimOp { name: "isBool", arity: 1, run: |vm, args| is(vm, args, Type::Bool) },
    PrimOp { name: "isNull", arity: 1, run: |vm, args| is(vm, args, Type::Null) },
    PrimOp { name: "isPath", arity: 1, run: |vm, args| is(vm, args, Type::Path) },
];

fn type_of(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let value = vm.force(&args[0])?;
    Ok(Value::string(value.ty().type_of()))
}

fn is(vm: &mut Vm, args: &[Value], ty: Type) -> EvalResult<Value> {
    let value = vm.force(&args[0])?;
    Ok(Value::Bool(value.ty() == ty))
}
