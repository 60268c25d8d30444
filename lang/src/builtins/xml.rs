//! `builtins.toXML`: the XML Nix 2.8 prints, byte for byte.
//!
//! Every element sits on its own line, indented by two spaces per level.
//! Attribute values escape `"`, `<`, `>`, `&` and line feeds; every other
//! byte, control characters included, is written as it is.

use super::PrimOp;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::Vm;
use crate::ir::Param;
use crate::print::format_float;
use crate::symbol::Symbol;
use crate::value::{Attrs, Closure, Context, NixStr, Value};
use std::collections::HashSet;

pub(super) const PRIMOPS: &[PrimOp] = &[PrimOp { name: "toXML", arity: 1, run: to_xml }];

/// How deeply values may nest before `toXML` gives up (a cyclic value
/// would otherwise print forever).
const MAX_DEPTH: usize = 10_000;

/// `toXML v`: the value, forced deeply, as XML. The result carries the
/// context of every string inside.
fn to_xml(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let mut writer = XmlWriter::new();
    writer.open("expr", &[]);
    write_value(vm, &args[0], &mut writer)?;
    writer.close();
    Ok(Value::String(NixStr::with_context(writer.out, writer.context)))
}

/// An XML attribute: its name and raw (unescaped) value.
type XmlAttr<'a> = (&'static str, &'a [u8]);

/// Nix's `XMLWriter` with indentation on, plus what `toXML` collects on the
/// way: the strings' context and the derivations already shown.
struct XmlWriter {
    out: Vec<u8>,
    open: Vec<&'static str>,
    context: Context,
    drvs_seen: HashSet<Vec<u8>>,
}

impl XmlWriter {
    /// A document with its XML declaration written.
    fn new() -> XmlWriter {
        let out = b"<?xml version='1.0' encoding='utf-8'?>\n".to_vec();
        XmlWriter { out, open: Vec::new(), context: Context::new(), drvs_seen: HashSet::new() }
    }

    /// Writes `<name attrs>` and enters it.
    fn open(&mut self, name: &'static str, attrs: &[XmlAttr<'_>]) {
        self.start_tag(name, attrs);
        self.out.extend_from_slice(b">\n");
        self.open.push(name);
    }

    /// Writes the closing tag of the innermost open element.
    fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            self.indent();
            self.out.extend_from_slice(b"</");
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b">\n");
        }
    }

    /// Writes `<name attrs />`.
    fn empty(&mut self, name: &'static str, attrs: &[XmlAttr<'_>]) {
        self.start_tag(name, attrs);
        self.out.extend_from_slice(b" />\n");
    }

    /// Writes the indentation, `<name` and the attributes (which the
    /// caller lists in name order, as Nix's `std::map` would).
    fn start_tag(&mut self, name: &'static str, attrs: &[XmlAttr<'_>]) {
        self.indent();
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        for (key, value) in attrs {
            self.out.push(b' ');
            self.out.extend_from_slice(key.as_bytes());
            self.out.extend_from_slice(b"=\"");
            escape_attr(value, &mut self.out);
            self.out.push(b'"');
        }
    }

    fn indent(&mut self) {
        self.out.resize(self.out.len() + 2 * self.open.len(), b' ');
    }
}

/// Escapes an attribute value as Nix's `XMLWriter::writeAttrs` does.
fn escape_attr(value: &[u8], out: &mut Vec<u8>) {
    for &b in value {
        match b {
            b'"' => out.extend_from_slice(b"&quot;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            other => out.push(other),
        }
    }
}

/// Forces a value and writes it as one element (with its children).
fn write_value(vm: &mut Vm, value: &Value, writer: &mut XmlWriter) -> EvalResult<()> {
    if writer.open.len() > MAX_DEPTH {
        return Err(EvalError::new(ErrorKind::Other(format!(
            "toXML: the value is nested more than {MAX_DEPTH} levels deep (is it cyclic?)"
        ))));
    }
    let value = vm.force(value)?;
    stacker::maybe_grow(64 * 1024, 1024 * 1024, || match &value {
        Value::Attrs(attrs) => write_attrs_value(vm, attrs, writer),
        Value::List(items) => {
            writer.open("list", &[]);
            for item in items.iter() {
                write_value(vm, item, writer)?;
            }
            writer.close();
            Ok(())
        }
        Value::Lambda(closure) => {
            write_function(closure, writer);
            Ok(())
        }
        scalar => {
            write_scalar(scalar, writer);
            Ok(())
        }
    })
}

/// Writes a value that has no children (functions aside) as an empty
/// element; built-in functions show as `<unevaluated />`, as in Nix.
fn write_scalar(value: &Value, writer: &mut XmlWriter) {
    match value {
        Value::Null => writer.empty("null", &[]),
        Value::Bool(b) => writer.empty("bool", &[("value", if *b { b"true" } else { b"false" })]),
        Value::Int(n) => writer.empty("int", &[("value", n.to_string().as_bytes())]),
        Value::Float(f) => writer.empty("float", &[("value", format_float(*f).as_bytes())]),
        Value::String(s) => {
            if let Some(context) = s.context() {
                writer.context.extend(context.iter().cloned());
            }
            writer.empty("string", &[("value", s.as_bytes())]);
        }
        Value::Path(p) => writer.empty("path", &[("value", p.as_bytes())]),
        _ => writer.empty("unevaluated", &[]),
    }
}

/// Writes a set: `<derivation>` for derivations, `<attrs>` otherwise.
fn write_attrs_value(vm: &mut Vm, attrs: &Attrs, writer: &mut XmlWriter) -> EvalResult<()> {
    if !is_derivation(vm, attrs)? {
        writer.open("attrs", &[]);
        write_attrs(vm, attrs, writer)?;
        writer.close();
        return Ok(());
    }
    let drv_path = string_attr(vm, attrs, "drvPath")?;
    let out_path = string_attr(vm, attrs, "outPath")?;
    let mut xml_attrs: Vec<XmlAttr<'_>> = Vec::new();
    if let Some(drv_path) = &drv_path {
        xml_attrs.push(("drvPath", drv_path));
    }
    if let Some(out_path) = &out_path {
        xml_attrs.push(("outPath", out_path));
    }
    writer.open("derivation", &xml_attrs);
    // Nix shows a derivation's attributes only the first time its
    // `drvPath` is met, and never when it has none.
    let first_time = match drv_path {
        Some(path) if !path.is_empty() => writer.drvs_seen.insert(path),
        _ => false,
    };
    if first_time {
        write_attrs(vm, attrs, writer)?;
    } else {
        writer.empty("repeated", &[]);
    }
    writer.close();
    Ok(())
}

/// Whether a set is a derivation: its `type`, forced, is `"derivation"`.
fn is_derivation(vm: &mut Vm, attrs: &Attrs) -> EvalResult<bool> {
    let Some(ty) = attrs.get_str("type").cloned() else {
        return Ok(false);
    };
    Ok(matches!(vm.force(&ty)?, Value::String(s) if s.as_bytes() == b"derivation"))
}

/// The attribute `name`, forced, when it is a string.
fn string_attr(vm: &mut Vm, attrs: &Attrs, name: &str) -> EvalResult<Option<Vec<u8>>> {
    let Some(value) = attrs.get_str(name).cloned() else {
        return Ok(None);
    };
    match vm.force(&value)? {
        Value::String(s) => Ok(Some(s.as_bytes().to_vec())),
        _ => Ok(None),
    }
}

/// Writes each attribute as `<attr name="…">` around its value, in name order.
fn write_attrs(vm: &mut Vm, attrs: &Attrs, writer: &mut XmlWriter) -> EvalResult<()> {
    for attr in attrs.iter() {
        let name = attr.name.bytes();
        writer.open("attr", &[("name", &name)]);
        write_value(vm, &attr.value, writer)
            .map_err(|e| crate::eval::frame(e, format!("while evaluating attribute '{}'", attr.name), attr.span))?;
        writer.close();
    }
    Ok(())
}

/// Writes a lambda's parameter: `<varpat>` or `<attrspat>` listing the
/// formals in name order.
fn write_function(closure: &Closure, writer: &mut XmlWriter) {
    writer.open("function", &[]);
    match &closure.lambda.param {
        Param::Ident(name) => writer.empty("varpat", &[("name", &name.bytes())]),
        Param::Formals { formals, ellipsis, at } => {
            let at_name = at.map(Symbol::bytes);
            let mut xml_attrs: Vec<XmlAttr<'_>> = Vec::new();
            if *ellipsis {
                xml_attrs.push(("ellipsis", b"1"));
            }
            if let Some(at_name) = &at_name {
                xml_attrs.push(("name", at_name));
            }
            writer.open("attrspat", &xml_attrs);
            let mut names: Vec<Symbol> = formals.iter().map(|formal| formal.name).collect();
            names.sort_by(|a, b| a.cmp_name(*b));
            for name in names {
                writer.empty("attr", &[("name", &name.bytes())]);
            }
            writer.close();
        }
    }
    writer.close();
}

#[cfg(test)]
mod tests {
    use crate::eval::{EvalOptions, Vm};
    use crate::io::StdIo;
    use crate::value::Value;
    use std::path::Path;
    use std::rc::Rc;

    fn to_xml(expr: &str) -> String {
        let mut vm = Vm::new(EvalOptions::new(Rc::new(StdIo)));
        let source = format!("builtins.toXML ({expr})");
        match vm.eval_source("test", &source, Path::new("/")) {
            Ok(Value::String(s)) => s.to_str_lossy().into_owned(),
            Ok(other) => panic!("not a string: {other:?}"),
            Err(error) => panic!("{error:?}"),
        }
    }

    fn body(lines: &[&str]) -> String {
        let mut out = String::from("<?xml version='1.0' encoding='utf-8'?>\n<expr>\n");
        for line in lines {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("</expr>\n");
        out
    }

    #[test]
    fn escapes_attribute_values_like_nix() {
        assert_eq!(
            to_xml(r#""<a href=\"x\">&'\n\t""#),
            body(&["<string value=\"&lt;a href=&quot;x&quot;&gt;&amp;'&#xA;\t\" />"])
        );
    }

    #[test]
    fn shows_a_derivation_once() {
        let d = r#"{ type = "derivation"; drvPath = "/d"; outPath = "/o"; }"#;
        let xml = to_xml(&format!("let d = {d}; in [ d d ]"));
        assert_eq!(xml.matches("<attr name=\"drvPath\">").count(), 1);
        assert_eq!(xml.matches("<repeated />").count(), 1);
        assert!(xml.contains("<derivation drvPath=\"/d\" outPath=\"/o\">"));
    }

    #[test]
    fn functions_show_their_patterns() {
        assert_eq!(to_xml("builtins.map"), body(&["<unevaluated />"]));
        let xml = to_xml("{ z, a ? 1, ... }@all: a");
        assert!(
            xml.contains(
                "<attrspat ellipsis=\"1\" name=\"all\">\n      <attr name=\"a\" />\n      <attr name=\"z\" />"
            )
        );
    }

    #[test]
    fn cyclic_values_fail_instead_of_looping() {
        let mut vm = Vm::new(EvalOptions::new(Rc::new(StdIo)));
        let result = vm.eval_source("test", "let x = [ x ]; in builtins.toXML x", Path::new("/"));
        assert!(result.is_err());
    }
}
