//! `builtins.step`: turns an attribute set into a step.
//!
//! ```nix
//! builtins.step { kind = "file"; name = "motd"; text = "hello\n"; }
//! ```
//!
//! Every attribute other than `kind` and `name` is a parameter. Parameters
//! are converted to JSON; the steps and store objects they refer to are
//! found through string context, never by looking at the text. The result
//! is a set `{ type = "step"; kind; name; key; outPath; }` whose `outPath`
//! is the step's placeholder carrying the step in its context, so that
//! using it anywhere makes the step an input.

use super::StepRegistry;
use imgx_builders::{InputRef, Step, StepKey, builder_for, builders};
use imgx_lang::builtins::PrimOp;
use imgx_lang::eval::CoerceMode;
use imgx_lang::symbol::Symbol;
use imgx_lang::value::{Attr, Attrs, Context, NixStr, Value};
use imgx_lang::{ErrorKind, EvalError, EvalResult, Vm};
use std::collections::BTreeSet;

/// The built-ins this module adds to the language.
pub static STEP_PRIMOPS: &[&PrimOp] = &[&PrimOp { name: "step", arity: 1, run: step }];

/// The context element that marks a step's output in a string.
fn output_context(key: &StepKey) -> String {
    format!("!out!{}", key.placeholder())
}

fn error(message: String) -> Box<EvalError> {
    EvalError::new(ErrorKind::Other(message))
}

fn step(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let attrs = vm.force_attrs(&args[0])?;
    let kind_value = attrs.get_str("kind").cloned().ok_or_else(|| error("a step needs a 'kind'".into()))?;
    let kind = vm.force_string(&kind_value)?.to_str_lossy().into_owned();
    let builder = builder_for(&kind).ok_or_else(|| {
        let known: Vec<&str> = builders().iter().map(|b| b.kind()).collect();
        error(format!("unknown step kind '{kind}' (known kinds: {})", known.join(", ")))
    })?;
    let name = match attrs.get_str("name") {
        Some(value) => vm.force_string(&value.clone())?.to_str_lossy().into_owned(),
        None => kind.clone(),
    };
    if name.is_empty() || name.contains('/') {
        return Err(error(format!("step name '{name}' must be non-empty and contain no '/'")));
    }
    let mut found = Found::default();
    let mut params = serde_json::Map::new();
    for attr in attrs.iter() {
        let key = attr.name.text();
        if key == "kind" || key == "name" {
            continue;
        }
        if let Some(span) = attr.span {
            found.spans.insert(key.clone(), span);
        }
        let value = to_param(vm, &attr.value, &mut found, &key)?;
        params.insert(key, value);
    }
    let inputs = found.inputs;
    let params = serde_json::Value::Object(params);
    if let Err(problem) = builder.validate(&params) {
        let message = format!("invalid {kind} step '{name}': {}", problem.message);
        // Point at the attribute that is wrong, where it is written.
        let span = problem.at.as_deref().and_then(|at| span_of(&found.spans, at));
        return Err(match span {
            Some(span) => EvalError::at(ErrorKind::Other(message), span),
            None => error(message),
        });
    }
    let fixed = builder.fixed_output(&params);
    let step = Step { kind: kind.clone(), name: name.clone(), params, inputs, fixed };
    let key = step.input_key();
    if let Some(registry) = vm.host::<StepRegistry>() {
        registry.insert(key, step);
    }
    Ok(step_value(&key, &kind, &name))
}

/// The value `builtins.step` returns for a step.
fn step_value(key: &StepKey, kind: &str, name: &str) -> Value {
    let mut context = Context::new();
    context.insert(output_context(key).into_boxed_str());
    let out_path = Value::String(NixStr::with_context(key.placeholder().into_bytes(), context));
    let attr = |name: &str, value: Value| Attr { name: Symbol::from_str(name), value, span: None };
    Value::attrs(Attrs::from_unsorted(vec![
        attr("type", Value::string("step")),
        attr("kind", Value::string(kind)),
        attr("name", Value::string(name)),
        attr("key", Value::string(key.to_hex())),
        attr("outPath", out_path),
    ]))
}

/// The key of a value made by `builtins.step`, if it is one.
pub fn step_of_value(vm: &mut Vm, value: &Value) -> EvalResult<Option<StepKey>> {
    let Value::Attrs(attrs) = vm.force(value)? else { return Ok(None) };
    let Some(ty) = attrs.get_str("type").cloned() else { return Ok(None) };
    if !matches!(vm.force(&ty)?, Value::String(s) if s.as_bytes() == b"step") {
        return Ok(None);
    }
    let Some(key) = attrs.get_str("key").cloned() else { return Ok(None) };
    let key = vm.force_string(&key)?;
    Ok(StepKey::from_hex(&key.to_str_lossy()))
}

/// What converting parameters finds: the inputs they refer to, and where
/// each attribute was written (by parameter path), for error reports.
#[derive(Default)]
struct Found {
    inputs: BTreeSet<InputRef>,
    spans: std::collections::HashMap<String, imgx_lang::source::Span>,
}

/// The place of the parameter at `path`, or of its closest enclosing one.
fn span_of(
    spans: &std::collections::HashMap<String, imgx_lang::source::Span>,
    path: &str,
) -> Option<imgx_lang::source::Span> {
    let mut candidate = path;
    loop {
        if let Some(span) = spans.get(candidate) {
            return Some(*span);
        }
        let cut = candidate.rfind(['.', '['])?;
        candidate = &candidate[..cut];
    }
}

/// Records the inputs a string's context names.
fn collect_context(text: &NixStr, inputs: &mut BTreeSet<InputRef>, at: &str) -> EvalResult<()> {
    for element in text.context().into_iter().flatten() {
        let reference = element.strip_prefix("!out!").unwrap_or(element);
        match InputRef::parse_placeholder(reference) {
            Some(input) => {
                inputs.insert(input);
            }
            None => {
                return Err(error(format!(
                    "parameter '{at}' refers to '{element}', which is neither a step nor a store object"
                )));
            }
        }
    }
    Ok(())
}

fn string_param(text: &NixStr, inputs: &mut BTreeSet<InputRef>, at: &str) -> EvalResult<serde_json::Value> {
    collect_context(text, inputs, at)?;
    match std::str::from_utf8(text.as_bytes()) {
        Ok(s) => Ok(serde_json::Value::String(s.to_string())),
        Err(_) => Err(error(format!("parameter '{at}' is not valid UTF-8"))),
    }
}

/// Converts a parameter to JSON, collecting the inputs it refers to.
fn to_param(vm: &mut Vm, value: &Value, found: &mut Found, at: &str) -> EvalResult<serde_json::Value> {
    let value = vm.force(value)?;
    Ok(match &value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(n) => serde_json::Value::from(*n),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| error(format!("parameter '{at}' is not a finite number")))?,
        Value::String(s) => string_param(s, &mut found.inputs, at)?,
        Value::Path(_) => {
            let imported = vm.coerce_to_string(&value, CoerceMode::Interpolation, true)?;
            string_param(&imported, &mut found.inputs, at)?
        }
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                out.push(to_param(vm, item, found, &format!("{at}[{index}]"))?);
            }
            serde_json::Value::Array(out)
        }
        Value::Attrs(attrs) => {
            if attrs.get_str("outPath").is_some() || attrs.get_str("__toString").is_some() {
                let text = vm.coerce_to_string(&value, CoerceMode::Interpolation, true)?;
                string_param(&text, &mut found.inputs, at)?
            } else {
                let mut map = serde_json::Map::new();
                for attr in attrs.iter() {
                    let name = attr.name.text();
                    let path = format!("{at}.{name}");
                    if let Some(span) = attr.span {
                        found.spans.insert(path.clone(), span);
                    }
                    let converted = to_param(vm, &attr.value, found, &path)?;
                    map.insert(name, converted);
                }
                serde_json::Value::Object(map)
            }
        }
        Value::Lambda(_) | Value::PrimOp(_) => {
            return Err(error(format!("parameter '{at}' is a function; steps take data")));
        }
        Value::Thunk(_) => return Err(error(format!("parameter '{at}' could not be evaluated"))),
    })
}
