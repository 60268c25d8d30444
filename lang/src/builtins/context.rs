//! String contexts: inspecting, discarding and adding the store objects a
//! string refers to.
//!
//! Context elements use Nix's encoding: `/store/path` for a plain path,
//! `=/store/x.drv` for a derivation and all its outputs (a "deep"
//! dependency), and `!out!/store/x.drv` for one output of a derivation.

use super::PrimOp;
use super::strings::{coerce_interpolated, force_string_no_context};
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::Vm;
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Context, ContextElement, NixStr, Value};
use std::collections::BTreeMap;

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "hasContext", arity: 1, run: has_context },
    PrimOp { name: "getContext", arity: 1, run: get_context },
    PrimOp { name: "unsafeDiscardStringContext", arity: 1, run: unsafe_discard_string_context },
    PrimOp { name: "unsafeDiscardOutputDependency", arity: 1, run: unsafe_discard_output_dependency },
    PrimOp { name: "appendContext", arity: 2, run: append_context },
    PrimOp { name: "addDrvOutputDependencies", arity: 1, run: add_drv_output_dependencies },
];

/// The store directory, as `builtins.storeDir` reports it.
const STORE_DIR: &str = "/imgx/store";

/// One decoded context element.
#[derive(Debug, PartialEq, Eq)]
enum ContextItem<'a> {
    /// A store path (source or output) the string refers to.
    Path(&'a str),
    /// A derivation and, transitively, all its outputs (`=drv`).
    AllOutputs(&'a str),
    /// One output of a derivation (`!output!drv`).
    Output {
        /// The derivation's path.
        drv: &'a str,
        /// The output's name.
        output: &'a str,
    },
}

/// Decodes an element of Nix's context encoding.
fn decode(element: &str) -> ContextItem<'_> {
    if let Some(drv) = element.strip_prefix('=') {
        return ContextItem::AllOutputs(drv);
    }
    if let Some(rest) = element.strip_prefix('!')
        && let Some((output, drv)) = rest.split_once('!')
    {
        return ContextItem::Output { drv, output };
    }
    ContextItem::Path(element)
}

/// Whether a path names a derivation file.
fn is_derivation(path: &str) -> bool {
    path.ends_with(".drv")
}

/// Whether `path` is a store path: directly inside the store directory,
/// named by a 32-character nix-base32 hash, a dash and a valid name
/// (Nix 2.8 still accepts names that start with a dot).
fn is_store_path(path: &str) -> bool {
    let canonical = crate::path::canonicalize(path);
    let Some(base) = canonical.strip_prefix(STORE_DIR).and_then(|rest| rest.strip_prefix('/')) else {
        return false;
    };
    let (Some(hash), Some(name)) = (base.get(..32), base.get(32..).and_then(|rest| rest.strip_prefix('-'))) else {
        return false;
    };
    let hash_ok = hash.bytes().all(|b| (b.is_ascii_digit() || b.is_ascii_lowercase()) && !b"eotu".contains(&b));
    let name_ok = !name.is_empty()
        && name.len() <= 211
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._?=".contains(&b));
    hash_ok && name_ok
}

fn has_context(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    Ok(Value::Bool(vm.force_string(&args[0])?.has_context()))
}

/// What `getContext` reports about one store path.
#[derive(Default)]
struct ContextInfo<'a> {
    path: bool,
    all_outputs: bool,
    outputs: Vec<&'a str>,
}

/// Groups a context by store path, in Nix's (sorted) order.
fn group_context(context: &Context) -> BTreeMap<&str, ContextInfo<'_>> {
    let mut grouped: BTreeMap<&str, ContextInfo<'_>> = BTreeMap::new();
    for element in context {
        match decode(element) {
            ContextItem::Path(path) => grouped.entry(path).or_default().path = true,
            ContextItem::AllOutputs(drv) => grouped.entry(drv).or_default().all_outputs = true,
            ContextItem::Output { drv, output } => grouped.entry(drv).or_default().outputs.push(output),
        }
    }
    grouped
}

/// The attribute set `getContext` gives for one store path.
fn info_attrs(info: &ContextInfo<'_>) -> Value {
    let mut entries = Vec::new();
    let mut add = |name: &str, value: Value| entries.push(Attr { name: Symbol::from_str(name), value, span: None });
    if info.all_outputs {
        add("allOutputs", Value::Bool(true));
    }
    if !info.outputs.is_empty() {
        add("outputs", Value::list(info.outputs.iter().map(Value::string).collect()));
    }
    if info.path {
        add("path", Value::Bool(true));
    }
    Value::attrs(Attrs::from_sorted(entries))
}

fn get_context(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let s = vm.force_string(&args[0])?;
    let Some(context) = s.context() else { return Ok(Value::attrs(Attrs::new())) };
    let entries = group_context(context)
        .iter()
        .map(|(path, info)| Attr { name: Symbol::from_str(path), value: info_attrs(info), span: None })
        .collect();
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

fn unsafe_discard_string_context(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let s = coerce_interpolated(vm, &args[0])?;
    if !s.has_context() {
        return Ok(Value::String(s));
    }
    Ok(Value::string(s.as_bytes()))
}

fn unsafe_discard_output_dependency(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let s = coerce_interpolated(vm, &args[0])?;
    let Some(context) = s.context() else { return Ok(Value::String(s)) };
    let shallow: Context = context
        .iter()
        .map(|element| match decode(element) {
            ContextItem::AllOutputs(drv) => ContextElement::from(drv),
            _ => element.clone(),
        })
        .collect();
    Ok(Value::String(NixStr::with_context(s.as_bytes(), shallow)))
}

fn context_error(message: String) -> Box<EvalError> {
    EvalError::new(ErrorKind::Other(message))
}

/// An attribute name as Nix prints it in messages: bare when it is an
/// identifier, otherwise as a quoted string literal.
fn printed_name(name: &str) -> String {
    if crate::print::is_identifier(name.as_bytes()) {
        return name.to_string();
    }
    let mut quoted = Vec::new();
    crate::print::escape_string(name.as_bytes(), &mut quoted);
    String::from_utf8_lossy(&quoted).into_owned()
}

/// Forces an optional Boolean attribute of an `appendContext` entry.
fn flag(vm: &mut Vm, info: &Attrs, name: &str) -> EvalResult<bool> {
    match info.get_str(name) {
        Some(value) => vm.force_bool(value),
        None => Ok(false),
    }
}

/// Adds to `context` what one `appendContext` entry asks for.
fn append_entry(vm: &mut Vm, path: &str, info: &Value, context: &mut Context) -> EvalResult<()> {
    let printed = printed_name(path);
    if !is_store_path(path) {
        return Err(context_error(format!("Context key '{printed}' is not a store path")));
    }
    let info = vm.force_attrs(info)?;
    if flag(vm, &info, "path")? {
        context.insert(path.into());
    }
    if flag(vm, &info, "allOutputs")? {
        if !is_derivation(path) {
            return Err(context_error(format!(
                "Tried to add all-outputs context of {printed}, which is not a derivation, to a string"
            )));
        }
        context.insert(format!("={path}").into());
    }
    if let Some(outputs) = info.get_str("outputs") {
        let outputs = vm.force_list(outputs)?;
        if !outputs.is_empty() && !is_derivation(path) {
            return Err(context_error(format!(
                "Tried to add derivation output context of {printed}, which is not a derivation, to a string"
            )));
        }
        for output in outputs.iter() {
            let output = force_string_no_context(vm, output)?;
            context.insert(format!("!{}!{path}", output.to_str_lossy()).into());
        }
    }
    Ok(())
}

fn append_context(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let s = vm.force_string(&args[0])?;
    let additions = vm.force_attrs(&args[1])?;
    if additions.is_empty() {
        return Ok(Value::String(s));
    }
    let mut context = s.context().cloned().unwrap_or_default();
    for attr in additions.iter() {
        append_entry(vm, &attr.name.text(), &attr.value, &mut context)?;
    }
    Ok(Value::String(NixStr::with_context(s.as_bytes(), context)))
}

/// The deep (`=drv`) form of a string's only context element.
fn deep_dependency(element: &ContextElement) -> EvalResult<ContextElement> {
    match decode(element) {
        ContextItem::Path(path) if is_derivation(path) => Ok(format!("={path}").into()),
        ContextItem::Path(path) => Err(context_error(format!("path '{path}' is not a derivation"))),
        ContextItem::Output { output, .. } => Err(context_error(format!(
            "`addDrvOutputDependencies` can only act on derivations, not on a derivation output such as '{output}'"
        ))),
        ContextItem::AllOutputs(_) => Ok(element.clone()),
    }
}

fn add_drv_output_dependencies(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let s = coerce_interpolated(vm, &args[0])?;
    let elements: Vec<&ContextElement> = s.context().map(|c| c.iter().collect()).unwrap_or_default();
    let [element] = elements.as_slice() else {
        return Err(context_error(format!(
            "context of string '{}' must have exactly one element, but has {}",
            s.to_str_lossy(),
            elements.len()
        )));
    };
    let deep = deep_dependency(element)?;
    Ok(Value::String(NixStr::with_context(s.as_bytes(), Context::from([deep]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRV: &str = "/imgx/store/0123456789abcdfghijklmnpqrsvwxyz-hello.drv";

    #[test]
    fn decodes_the_three_element_kinds() {
        assert_eq!(decode("/imgx/store/x"), ContextItem::Path("/imgx/store/x"));
        assert_eq!(decode("=/d.drv"), ContextItem::AllOutputs("/d.drv"));
        assert_eq!(decode("!out!/d.drv"), ContextItem::Output { drv: "/d.drv", output: "out" });
    }

    #[test]
    fn store_paths_need_a_hash_and_a_name() {
        assert!(is_store_path(DRV));
        assert!(!is_store_path("/not/a/store/path"));
        assert!(!is_store_path("/imgx/store/0123456789abcdfghijklmnpqrsvwxyz"));
        assert!(!is_store_path("/imgx/store/0123456789abcdfghijklmnpqrsvwxye-x"));
        assert!(!is_store_path("/imgx/store/0123456789abcdfghijklmnpqrsvwxyz-a b"));
        assert!(!is_store_path("/imgx/store/0123456789abcdfghijklmnpqrsvwxyz-a/b"));
    }

    #[test]
    fn grouping_merges_kinds_per_path() {
        let context: Context =
            [format!("!dev!{DRV}"), format!("!out!{DRV}"), format!("={DRV}"), "/imgx/store/p".to_string()]
                .into_iter()
                .map(ContextElement::from)
                .collect();
        let grouped = group_context(&context);
        let info = grouped.get(DRV).expect("the derivation is grouped");
        assert!(info.all_outputs && !info.path);
        assert_eq!(info.outputs, ["dev", "out"]);
        assert!(grouped.get("/imgx/store/p").is_some_and(|i| i.path));
    }

    #[test]
    fn deep_dependency_only_for_derivations() {
        assert_eq!(deep_dependency(&ContextElement::from(DRV)).ok().as_deref(), Some(format!("={DRV}").as_str()));
        assert!(deep_dependency(&ContextElement::from("/imgx/store/p")).is_err());
        assert!(deep_dependency(&ContextElement::from(format!("!out!{DRV}"))).is_err());
    }
}
