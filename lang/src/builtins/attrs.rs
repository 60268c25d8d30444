//! Attribute-set functions.

use super::{PrimOp, lazy_apply};
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::Vm;
use crate::ir::Param;
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Value};
use std::collections::{HashMap, HashSet};

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "attrNames", arity: 1, run: attr_names },
    PrimOp { name: "attrValues", arity: 1, run: attr_values },
    PrimOp { name: "getAttr", arity: 2, run: get_attr },
    PrimOp { name: "hasAttr", arity: 2, run: has_attr },
    PrimOp { name: "removeAttrs", arity: 2, run: remove_attrs },
    PrimOp { name: "listToAttrs", arity: 1, run: list_to_attrs },
    PrimOp { name: "mapAttrs", arity: 2, run: map_attrs },
    PrimOp { name: "intersectAttrs", arity: 2, run: intersect_attrs },
    PrimOp { name: "zipAttrsWith", arity: 2, run: zip_attrs_with },
    PrimOp { name: "functionArgs", arity: 1, run: function_args },
    PrimOp { name: "unsafeGetAttrPos", arity: 2, run: unsafe_get_attr_pos },
];

fn attr_names(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let attrs = vm.force_attrs(&args[0])?;
    Ok(Value::list(attrs.iter().map(|a| Value::string(a.name.bytes())).collect()))
}

fn attr_values(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let attrs = vm.force_attrs(&args[0])?;
    Ok(Value::list(attrs.iter().map(|a| a.value.clone()).collect()))
}

fn name_arg(vm: &mut Vm, value: &Value) -> EvalResult<Symbol> {
    Ok(Symbol::intern(vm.force_string(value)?.as_bytes()))
}

fn get_attr(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let name = name_arg(vm, &args[0])?;
    let attrs = vm.force_attrs(&args[1])?;
    match attrs.get(name) {
        Some(value) => vm.force(value),
        None => {
            let names: Vec<String> = attrs.iter().map(|a| a.name.text()).collect();
            let wanted = name.text();
            let suggestion = crate::error::suggest(&wanted, names.iter().map(String::as_str));
            Err(EvalError::new(ErrorKind::AttrMissing { name: wanted, suggestion }))
        }
    }
}

fn has_attr(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let name = name_arg(vm, &args[0])?;
    let attrs = vm.force_attrs(&args[1])?;
    Ok(Value::Bool(attrs.get(name).is_some()))
}

fn remove_attrs(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let attrs = vm.force_attrs(&args[0])?;
    let names = vm.force_list(&args[1])?;
    let mut removed = HashSet::new();
    for name in names.iter() {
        removed.insert(name_arg(vm, name)?);
    }
    let kept: Vec<Attr> = attrs.iter().filter(|a| !removed.contains(&a.name)).cloned().collect();
    if kept.len() == attrs.len() {
        return Ok(Value::Attrs(attrs));
    }
    Ok(Value::attrs(Attrs::from_sorted(kept)))
}

fn list_to_attrs(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let list = vm.force_list(&args[0])?;
    let name_key = Symbol::from_str("name");
    let value_key = Symbol::from_str("value");
    let mut entries = Vec::with_capacity(list.len());
    for item in list.iter() {
        let pair = vm.force_attrs(item)?;
        let name = pair
            .get(name_key)
            .cloned()
            .ok_or_else(|| EvalError::new(ErrorKind::AttrMissing { name: "name".into(), suggestion: None }))?;
        let name = name_arg(vm, &name)?;
        let value = pair
            .get(value_key)
            .cloned()
            .ok_or_else(|| EvalError::new(ErrorKind::AttrMissing { name: "value".into(), suggestion: None }))?;
        entries.push(Attr { name, value, span: None });
    }
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

fn map_attrs(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force(&args[0])?;
    let attrs = vm.force_attrs(&args[1])?;
    let entries = attrs
        .iter()
        .map(|attr| {
            let partial = lazy_apply(&function, Value::string(attr.name.bytes()));
            Attr { name: attr.name, value: lazy_apply(&partial, attr.value.clone()), span: attr.span }
        })
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(entries)))
}

fn intersect_attrs(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let left = vm.force_attrs(&args[0])?;
    let right = vm.force_attrs(&args[1])?;
    let kept = right.iter().filter(|a| left.get(a.name).is_some()).cloned().collect();
    Ok(Value::attrs(Attrs::from_sorted(kept)))
}

fn zip_attrs_with(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force(&args[0])?;
    let sets = vm.force_list(&args[1])?;
    let mut collected: HashMap<Symbol, Vec<Value>> = HashMap::new();
    for set in sets.iter() {
        let attrs = vm.force_attrs(set)?;
        for attr in attrs.iter() {
            collected.entry(attr.name).or_default().push(attr.value.clone());
        }
    }
    let entries = collected
        .into_iter()
        .map(|(name, values)| {
            let partial = lazy_apply(&function, Value::string(name.bytes()));
            Attr { name, value: lazy_apply(&partial, Value::list(values)), span: None }
        })
        .collect();
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

fn function_args(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    match vm.force(&args[0])? {
        Value::Lambda(closure) => match &closure.lambda.param {
            Param::Ident(_) => Ok(Value::attrs(Attrs::new())),
            Param::Formals { formals, .. } => Ok(Value::attrs(Attrs::from_unsorted(
                formals
                    .iter()
                    .map(|f| Attr { name: f.name, value: Value::Bool(f.default.is_some()), span: None })
                    .collect(),
            ))),
        },
        Value::PrimOp(_) => Ok(Value::attrs(Attrs::new())),
        _ => Err(EvalError::new(ErrorKind::Other("'functionArgs' requires a function".into()))),
    }
}

fn unsafe_get_attr_pos(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let name = name_arg(vm, &args[0])?;
    let attrs = vm.force_attrs(&args[1])?;
    let Some(span) = attrs.get_attr(name).and_then(|a| a.span) else { return Ok(Value::Null) };
    let file = vm.sources.get(span.file);
    let (line, column) = vm.sources.line_column(span.file, span.start);
    let attr = |name: &str, value: Value| Attr { name: Symbol::from_str(name), value, span: None };
    Ok(Value::attrs(Attrs::from_unsorted(vec![
        attr("column", Value::Int(column as i64)),
        attr("file", Value::string(&file.name)),
        attr("line", Value::Int(line as i64)),
    ])))
}
