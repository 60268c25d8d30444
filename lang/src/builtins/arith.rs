//! Arithmetic, bit operations and numeric comparison.

use super::PrimOp;
use crate::error::EvalResult;
use crate::eval::{Vm, type_error};
use crate::ir::BinOp;
use crate::value::Value;

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "add", arity: 2, run: add },
    PrimOp { name: "sub", arity: 2, run: sub },
    PrimOp { name: "mul", arity: 2, run: mul },
    PrimOp { name: "div", arity: 2, run: div },
    PrimOp { name: "bitAnd", arity: 2, run: bit_and },
    PrimOp { name: "bitOr", arity: 2, run: bit_or },
    PrimOp { name: "bitXor", arity: 2, run: bit_xor },
    PrimOp { name: "lessThan", arity: 2, run: less_than },
    PrimOp { name: "ceil", arity: 1, run: ceil },
    PrimOp { name: "floor", arity: 1, run: floor },
];

fn arith(vm: &mut Vm, op: BinOp, args: &[Value]) -> EvalResult<Value> {
    let a = vm.force(&args[0])?;
    let b = vm.force(&args[1])?;
    vm.arith(op, a, b)
}

fn add(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    arith(vm, BinOp::Add, args)
}

fn sub(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    arith(vm, BinOp::Sub, args)
}

fn mul(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    arith(vm, BinOp::Mul, args)
}

fn div(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    arith(vm, BinOp::Div, args)
}

fn bits(vm: &mut Vm, args: &[Value], f: fn(i64, i64) -> i64) -> EvalResult<Value> {
    let a = vm.force_int(&args[0])?;
    let b = vm.force_int(&args[1])?;
    Ok(Value::Int(f(a, b)))
}

fn bit_and(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    bits(vm, args, |a, b| a & b)
}

fn bit_or(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    bits(vm, args, |a, b| a | b)
}

fn bit_xor(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    bits(vm, args, |a, b| a ^ b)
}

fn less_than(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let ordering = vm.compare(&args[0], &args[1])?;
    Ok(Value::Bool(ordering == std::cmp::Ordering::Less))
}

fn round(vm: &mut Vm, value: &Value, f: fn(f64) -> f64) -> EvalResult<Value> {
    match vm.force(value)? {
        Value::Int(n) => Ok(Value::Int(n)),
        Value::Float(x) => Ok(Value::Int(f(x) as i64)),
        other => Err(type_error("a float", &other)),
    }
}

fn ceil(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    round(vm, &args[0], f64::ceil)
}

fn floor(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    round(vm, &args[0], f64::floor)
}
