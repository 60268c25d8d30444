//! List functions.

use super::{PrimOp, lazy_apply};
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::Vm;
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Value};
use std::collections::{HashMap, HashSet};

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "map", arity: 2, run: map },
    PrimOp { name: "filter", arity: 2, run: filter },
    PrimOp { name: "foldl'", arity: 3, run: foldl },
    PrimOp { name: "genList", arity: 2, run: gen_list },
    PrimOp { name: "sort", arity: 2, run: sort },
    PrimOp { name: "partition", arity: 2, run: partition },
    PrimOp { name: "groupBy", arity: 2, run: group_by },
    PrimOp { name: "concatMap", arity: 2, run: concat_map },
    PrimOp { name: "elem", arity: 2, run: elem },
    PrimOp { name: "elemAt", arity: 2, run: elem_at },
    PrimOp { name: "head", arity: 1, run: head },
    PrimOp { name: "tail", arity: 1, run: tail },
    PrimOp { name: "length", arity: 1, run: length },
    PrimOp { name: "all", arity: 2, run: all },
    PrimOp { name: "any", arity: 2, run: any },
    PrimOp { name: "concatLists", arity: 1, run: concat_lists },
    PrimOp { name: "catAttrs", arity: 2, run: cat_attrs },
    PrimOp { name: "genericClosure", arity: 1, run: generic_closure },
];

fn map(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force(&args[0])?;
    let list = vm.force_list(&args[1])?;
    Ok(Value::list(list.iter().map(|item| lazy_apply(&function, item.clone())).collect()))
}

fn filter(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force_function(&args[0])?;
    let list = vm.force_list(&args[1])?;
    let mut kept = Vec::new();
    for item in list.iter() {
        let keep = vm.apply1(&function, item.clone())?;
        if vm.force_bool(&keep)? {
            kept.push(item.clone());
        }
    }
    if kept.len() == list.len() { Ok(Value::List(list)) } else { Ok(Value::list(kept)) }
}

fn foldl(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force_function(&args[0])?;
    let list = vm.force_list(&args[2])?;
    let mut accumulator = args[1].clone();
    for item in list.iter() {
        accumulator = vm.apply2(&function, accumulator, item.clone())?;
    }
    vm.force(&accumulator)
}

fn gen_list(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force(&args[0])?;
    let count = vm.force_int(&args[1])?;
    if count < 0 {
        return Err(EvalError::new(ErrorKind::Other(format!("cannot create list of size {count}"))));
    }
    // A size from user code may be absurd: fail as an error, not an abort.
    let mut items = Vec::new();
    items.try_reserve_exact(count as usize).map_err(|_| {
        EvalError::new(ErrorKind::Other(format!("out of memory: cannot create a list of {count} elements")))
    })?;
    items.extend((0..count).map(|i| lazy_apply(&function, Value::Int(i))));
    Ok(Value::list(items))
}

fn sort(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force_function(&args[0])?;
    let list = vm.force_list(&args[1])?;
    let mut items: Vec<Value> = Vec::with_capacity(list.len());
    for item in list.iter() {
        items.push(vm.force(item)?);
    }
    // `sort lessThan` compares directly instead of calling the built-in.
    if let Value::PrimOp(app) = &function
        && app.op.name == "lessThan"
        && app.args.is_empty()
    {
        if let Some(sorted) = sort_plain(&items) {
            return Ok(Value::list(sorted));
        }
        merge_sort(&mut items, &mut |a, b| Ok(vm.compare(a, b)? == std::cmp::Ordering::Less))?;
        return Ok(Value::list(items));
    }
    // A stable merge sort that can fail: the comparator is user code.
    merge_sort(&mut items, &mut |a, b| {
        let less = vm.apply2(&function, a.clone(), b.clone())?;
        vm.force_bool(&less)
    })?;
    Ok(Value::list(items))
}

/// `sort lessThan` of a list of only integers or only strings, where
/// comparing cannot fail: sorted natively (stably, so that equal strings
/// with different contexts keep their order). `None` for other lists.
fn sort_plain(items: &[Value]) -> Option<Vec<Value>> {
    match items.first()? {
        Value::Int(_) => {
            let mut ints = items
                .iter()
                .map(|item| match item {
                    Value::Int(n) => Some(*n),
                    _ => None,
                })
                .collect::<Option<Vec<i64>>>()?;
            // Equal integers are indistinguishable, so stability is moot.
            ints.sort_unstable();
            Some(ints.into_iter().map(Value::Int).collect())
        }
        Value::String(_) => {
            if !items.iter().all(|item| matches!(item, Value::String(_))) {
                return None;
            }
            let mut strings = items.to_vec();
            strings.sort_by(|a, b| match (a, b) {
                (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
                _ => std::cmp::Ordering::Equal,
            });
            Some(strings)
        }
        _ => None,
    }
}

/// Stable merge sort with a fallible "less than".
fn merge_sort(items: &mut Vec<Value>, less: &mut dyn FnMut(&Value, &Value) -> EvalResult<bool>) -> EvalResult<()> {
    let len = items.len();
    if len < 2 {
        return Ok(());
    }
    // Insertion-sort small runs, then merge them bottom-up.
    const RUN: usize = 16;
    for start in (0..len).step_by(RUN) {
        let end = (start + RUN).min(len);
        for i in start + 1..end {
            let mut j = i;
            while j > start && less(&items[j], &items[j - 1])? {
                items.swap(j, j - 1);
                j -= 1;
            }
        }
    }
    let mut width = RUN;
    let mut buffer: Vec<Value> = Vec::with_capacity(len);
    while width < len {
        buffer.clear();
        let mut start = 0;
        while start < len {
            let middle = (start + width).min(len);
            let end = (start + 2 * width).min(len);
            let (mut i, mut j) = (start, middle);
            while i < middle && j < end {
                if less(&items[j], &items[i])? {
                    buffer.push(items[j].clone());
                    j += 1;
                } else {
                    buffer.push(items[i].clone());
                    i += 1;
                }
            }
            buffer.extend_from_slice(&items[i..middle]);
            buffer.extend_from_slice(&items[j..end]);
            start = end;
        }
        std::mem::swap(items, &mut buffer);
        width *= 2;
    }
    Ok(())
}

fn partition(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force_function(&args[0])?;
    let list = vm.force_list(&args[1])?;
    let (mut right, mut wrong) = (Vec::new(), Vec::new());
    for item in list.iter() {
        let verdict = vm.apply1(&function, item.clone())?;
        if vm.force_bool(&verdict)? { right.push(item.clone()) } else { wrong.push(item.clone()) }
    }
    Ok(Value::attrs(Attrs::from_sorted(vec![
        Attr { name: Symbol::from_str("right"), value: Value::list(right), span: None },
        Attr { name: Symbol::from_str("wrong"), value: Value::list(wrong), span: None },
    ])))
}

fn group_by(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force_function(&args[0])?;
    let list = vm.force_list(&args[1])?;
    let mut groups: HashMap<Symbol, Vec<Value>> = HashMap::new();
    let mut order = Vec::new();
    for item in list.iter() {
        let key = vm.apply1(&function, item.clone())?;
        let key = Symbol::intern(vm.force_string(&key)?.as_bytes());
        groups
            .entry(key)
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(item.clone());
    }
    let entries = order
        .into_iter()
        .map(|name| Attr { name, value: Value::list(groups.remove(&name).unwrap_or_default()), span: None })
        .collect();
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

fn concat_map(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let function = vm.force_function(&args[0])?;
    let list = vm.force_list(&args[1])?;
    let mut out = Vec::new();
    for item in list.iter() {
        let result = vm.apply1(&function, item.clone())?;
        out.extend(vm.force_list(&result)?.iter().cloned());
    }
    Ok(Value::list(out))
}

fn elem(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let list = vm.force_list(&args[1])?;
    for item in list.iter() {
        if vm.equal_elements(&args[0], item)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn elem_at(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let list = vm.force_list(&args[0])?;
    let index = vm.force_int(&args[1])?;
    match usize::try_from(index).ok().and_then(|i| list.get(i)) {
        Some(item) => vm.force(item),
        None => Err(EvalError::new(ErrorKind::Other(format!(
            "list index {index} is out of bounds (the list has {} elements)",
            list.len()
        )))),
    }
}

fn head(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let list = vm.force_list(&args[0])?;
    match list.first() {
        Some(item) => vm.force(item),
        None => Err(EvalError::new(ErrorKind::Other(
            "list index 0 is out of bounds: 'head' called on an empty list".into(),
        ))),
    }
}

fn tail(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let list = vm.force_list(&args[0])?;
    if list.is_empty() {
        return Err(EvalError::new(ErrorKind::Other("'tail' called on an empty list".into())));
    }
    Ok(Value::list(list[1..].to_vec()))
}

fn length(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let list = vm.force_list(&args[0])?;
    Ok(Value::Int(list.len() as i64))
}

fn quantify(vm: &mut Vm, args: &[Value], wanted: bool) -> EvalResult<Value> {
    let function = vm.force_function(&args[0])?;
    let list = vm.force_list(&args[1])?;
    for item in list.iter() {
        let verdict = vm.apply1(&function, item.clone())?;
        if vm.force_bool(&verdict)? == wanted {
            return Ok(Value::Bool(wanted));
        }
    }
    Ok(Value::Bool(!wanted))
}

fn all(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    quantify(vm, args, false)
}

fn any(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    quantify(vm, args, true)
}

fn concat_lists(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let lists = vm.force_list(&args[0])?;
    let mut out = Vec::new();
    for list in lists.iter() {
        out.extend(vm.force_list(list)?.iter().cloned());
    }
    Ok(Value::list(out))
}

fn cat_attrs(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let name = Symbol::intern(vm.force_string(&args[0])?.as_bytes());
    let list = vm.force_list(&args[1])?;
    let mut out = Vec::new();
    for item in list.iter() {
        let attrs = vm.force_attrs(item)?;
        if let Some(value) = attrs.get(name) {
            out.push(value.clone());
        }
    }
    Ok(Value::list(out))
}

fn generic_closure(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let spec = vm.force_attrs(&args[0])?;
    let missing = |name: &str| EvalError::new(ErrorKind::Other(format!("attribute '{name}' required")));
    let start = spec.get_str("startSet").cloned().ok_or_else(|| missing("startSet"))?;
    let operator = spec.get_str("operator").cloned().ok_or_else(|| missing("operator"))?;
    let operator = vm.force_function(&operator)?;
    let mut queue: std::collections::VecDeque<Value> = vm.force_list(&start)?.iter().cloned().collect();
    let mut done: Vec<Value> = Vec::new();
    let mut seen_keys: Vec<Value> = Vec::new();
    let mut seen_fast: HashSet<KeyHash> = HashSet::new();
    let key_name = Symbol::from_str("key");
    while let Some(item) = queue.pop_front() {
        let attrs = vm.force_attrs(&item)?;
        let key = attrs.get(key_name).cloned().ok_or_else(|| missing("key"))?;
        let key = vm.force(&key)?;
        let hashed = KeyHash::of(&key);
        let already = match &hashed {
            Some(h) => !seen_fast.insert(h.clone()),
            None => {
                let mut found = false;
                for seen in &seen_keys {
                    if vm.equal(seen, &key)? {
                        found = true;
                        break;
                    }
                }
                if !found {
                    seen_keys.push(key.clone());
                }
                found
            }
        };
        if already {
            continue;
        }
        done.push(item.clone());
        let next = vm.apply1(&operator, item)?;
        queue.extend(vm.force_list(&next)?.iter().cloned());
    }
    Ok(Value::list(done))
}

/// A hashable form of simple keys, so `genericClosure` is not quadratic
/// for the usual string and integer keys.
#[derive(Clone, PartialEq, Eq, Hash)]
enum KeyHash {
    Int(i64),
    String(Vec<u8>),
    Path(String),
}

impl KeyHash {
    fn of(value: &Value) -> Option<KeyHash> {
        match value {
            Value::Int(n) => Some(KeyHash::Int(*n)),
            Value::String(s) => Some(KeyHash::String(s.as_bytes().to_vec())),
            Value::Path(p) => Some(KeyHash::Path(p.to_string())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Context, NixStr};

    fn ints(values: &[Value]) -> Vec<i64> {
        values.iter().map(|v| if let Value::Int(n) = v { *n } else { panic!("not an int") }).collect()
    }

    #[test]
    fn plain_sort_orders_integers() {
        let items: Vec<Value> = [3, -1, 2, 3, 0].into_iter().map(Value::Int).collect();
        assert_eq!(ints(&sort_plain(&items).expect("all integers")), [-1, 0, 2, 3, 3]);
    }

    #[test]
    fn plain_sort_keeps_equal_strings_in_order() {
        let tagged = |text: &str, tag: &str| {
            Value::String(NixStr::with_context(text.as_bytes(), Context::from([Box::from(tag)])))
        };
        let items = vec![tagged("b", "/1"), tagged("a", "/2"), tagged("b", "/3"), tagged("a", "/4")];
        let sorted = sort_plain(&items).expect("all strings");
        let tags: Vec<String> = sorted
            .iter()
            .map(|v| match v {
                Value::String(s) => s.context().and_then(|c| c.first()).map(|t| t.to_string()).unwrap_or_default(),
                _ => panic!("not a string"),
            })
            .collect();
        assert_eq!(tags, ["/2", "/4", "/1", "/3"]);
    }

    #[test]
    fn plain_sort_declines_mixed_lists() {
        assert!(sort_plain(&[Value::Int(1), Value::Float(0.5)]).is_none());
        assert!(sort_plain(&[Value::string("a"), Value::Int(1)]).is_none());
        assert!(sort_plain(&[Value::Null]).is_none());
    }
}
