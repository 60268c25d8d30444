//! Lowering of bindings: attribute sets, `rec`, `let` and `inherit`.
//!
//! Bindings are first collected into a [`PendingSet`], which merges nested
//! attribute paths (`a.b = 1; a.c = 2;`) exactly as Nix's parser does and
//! reports duplicates, and then lowered in the right scope.

use super::strings::{StrPart, string_parts};
use super::{Compiler, Scope};
use crate::error::ErrorKind;
use crate::ir::{AttrsExpr, DynamicAttr, Expr, StaticAttr};
use crate::source::Span;
use crate::symbol::Symbol;
use rnix::ast::{self, HasEntry};
use std::rc::Rc;

/// A set of bindings before lowering.
pub(super) struct PendingSet {
    pub(super) recursive: bool,
    pub(super) span: Span,
    pub(super) statics: Vec<PendingAttr>,
    pub(super) dynamics: Vec<PendingDynamic>,
}

pub(super) struct PendingAttr {
    pub(super) name: Symbol,
    pub(super) value: PendingValue,
    pub(super) span: Span,
}

pub(super) struct PendingDynamic {
    name: ast::Attr,
    value: PendingValue,
    pub(super) span: Span,
}

pub(super) enum PendingValue {
    /// `name = expr;`
    Ast(ast::Expr),
    /// `inherit name;`
    Inherit(Span),
    /// `inherit (from) name;`
    InheritFrom(ast::Expr, Span),
    /// A set built from attribute paths (`a.b = …;`) or merged literals.
    Nested(PendingSet),
}

impl PendingValue {
    /// Whether the value refers to the scope outside the bindings. Only a
    /// plain `inherit x;` does: Nix evaluates `inherit (e) x;` in the
    /// bindings' own scope.
    fn is_inherited(&self) -> bool {
        matches!(self, PendingValue::Inherit(_))
    }
}

impl<'a> Compiler<'a> {
    /// Collects the entries of a set or `let`, merging attribute paths.
    pub(super) fn collect_entries(&mut self, node: &impl HasEntry) -> PendingSet {
        let span = self.span(node);
        let mut set = PendingSet { recursive: false, span, statics: Vec::new(), dynamics: Vec::new() };
        for entry in node.entries() {
            match entry {
                ast::Entry::Inherit(inherit) => self.collect_inherit(&mut set, inherit),
                ast::Entry::AttrpathValue(binding) => {
                    let attrs: Vec<ast::Attr> = binding.attrpath().map(|p| p.attrs().collect()).unwrap_or_default();
                    let Some(value) = binding.value() else { continue };
                    if attrs.is_empty() {
                        continue;
                    }
                    self.insert_path(&mut set, &attrs, value, String::new());
                }
            }
        }
        set
    }

    fn collect_inherit(&mut self, set: &mut PendingSet, inherit: ast::Inherit) {
        let from = inherit.from().and_then(|f| f.expr());
        for attr in inherit.attrs() {
            let span = self.span(&attr);
            let Some(name) = self.static_name(&attr) else {
                self.error(ErrorKind::DynamicInInherit, span);
                continue;
            };
            if set.statics.iter().any(|a| a.name == name) {
                self.error(ErrorKind::DuplicateAttr(name.text()), span);
                continue;
            }
            let value = match &from {
                Some(from) => PendingValue::InheritFrom(from.clone(), span),
                None => PendingValue::Inherit(span),
            };
            set.statics.push(PendingAttr { name, value, span });
        }
    }

    /// Inserts `path = value` into `set`, creating or descending into
    /// nested sets as Nix's `addAttr` does.
    fn insert_path(&mut self, set: &mut PendingSet, path: &[ast::Attr], value: ast::Expr, prefix: String) {
        let whole = self.path_text(&prefix, path);
        let attr = &path[0];
        let span = self.span(attr);
        let Some(name) = self.static_name(attr) else {
            let value = if path.len() == 1 {
                PendingValue::Ast(value)
            } else {
                let mut nested = PendingSet { recursive: false, span, statics: Vec::new(), dynamics: Vec::new() };
                self.insert_path(&mut nested, &path[1..], value, format!("{prefix}${{…}}."));
                PendingValue::Nested(nested)
            };
            set.dynamics.push(PendingDynamic { name: attr.clone(), value, span });
            return;
        };
        let full_name = format!("{prefix}{name}");
        let existing = set.statics.iter().position(|a| a.name == name);
        if path.len() > 1 {
            let index = match existing {
                Some(index) => {
                    if !self.make_nested(&mut set.statics[index]) {
                        self.error(ErrorKind::DuplicateAttr(whole), span);
                        return;
                    }
                    index
                }
                None => {
                    let nested = PendingSet { recursive: false, span, statics: Vec::new(), dynamics: Vec::new() };
                    set.statics.push(PendingAttr { name, value: PendingValue::Nested(nested), span });
                    set.statics.len() - 1
                }
            };
            let PendingValue::Nested(nested) = &mut set.statics[index].value else { return };
            self.insert_path(nested, &path[1..], value, format!("{full_name}."));
            return;
        }
        match existing {
            None => set.statics.push(PendingAttr { name, value: PendingValue::Ast(value), span }),
            Some(index) => {
                let literal = match &value {
                    ast::Expr::AttrSet(literal) => Some(literal.clone()),
                    _ => None,
                };
                let mergeable = literal.is_some() && self.make_nested(&mut set.statics[index]);
                let (Some(literal), true) = (literal, mergeable) else {
                    self.error(ErrorKind::DuplicateAttr(full_name), span);
                    return;
                };
                let incoming = self.collect_entries(&literal);
                let PendingValue::Nested(target) = &mut set.statics[index].value else { return };
                for attr in incoming.statics {
                    if target.statics.iter().any(|a| a.name == attr.name) {
                        self.error(ErrorKind::DuplicateAttr(format!("{full_name}.{}", attr.name)), attr.span);
                    } else {
                        target.statics.push(attr);
                    }
                }
                target.dynamics.extend(incoming.dynamics);
            }
        }
    }

    /// The dotted text of a whole attribute path, for messages.
    fn path_text(&self, prefix: &str, path: &[ast::Attr]) -> String {
        let names: Vec<String> = path
            .iter()
            .map(|attr| match self.static_name(attr) {
                Some(name) => name.text(),
                None => "${…}".to_string(),
            })
            .collect();
        format!("{prefix}{}", names.join("."))
    }

    /// Turns an attribute whose value is a set literal into a nested set so
    /// that more attributes can be merged into it. False if it is not a set.
    fn make_nested(&mut self, attr: &mut PendingAttr) -> bool {
        match &attr.value {
            PendingValue::Nested(_) => true,
            PendingValue::Ast(ast::Expr::AttrSet(literal)) => {
                let literal = literal.clone();
                let mut nested = self.collect_entries(&literal);
                nested.recursive = literal.rec_token().is_some();
                attr.value = PendingValue::Nested(nested);
                true
            }
            _ => false,
        }
    }

    /// The name of an attribute if it is known without evaluation.
    pub(super) fn static_name(&self, attr: &ast::Attr) -> Option<Symbol> {
        let literal = |string: &ast::Str| {
            let parts = string_parts(string);
            let mut bytes = Vec::new();
            for part in parts {
                match part {
                    StrPart::Literal(b) => bytes.extend(b),
                    StrPart::Interpolation(_) => return None,
                }
            }
            Some(Symbol::intern(&bytes))
        };
        match attr {
            ast::Attr::Ident(ident) => Some(super::ident_name(ident)),
            ast::Attr::Str(string) => literal(string),
            ast::Attr::Dynamic(dynamic) => match dynamic.expr() {
                Some(ast::Expr::Str(string)) => literal(&string),
                _ => None,
            },
        }
    }

    /// Lowers a collected set.
    pub(super) fn lower_set(&mut self, mut set: PendingSet) -> Rc<Expr> {
        set.statics.sort_by(|a, b| a.name.cmp_name(b.name));
        let recursive = set.recursive;
        if recursive {
            let names = set.statics.iter().map(|a| a.name).collect();
            self.scopes.push(Scope::Static(names));
        }
        let statics = set
            .statics
            .into_iter()
            .map(|attr| StaticAttr {
                name: attr.name,
                value: self.pending_value(attr.value, attr.name, recursive),
                span: attr.span,
            })
            .collect();
        let dynamics = set
            .dynamics
            .into_iter()
            .map(|attr| DynamicAttr {
                name: self.dynamic_name(attr.name),
                value: self.pending_value(attr.value, Symbol::from_str("<dynamic>"), recursive),
                span: attr.span,
            })
            .collect();
        if recursive {
            self.scopes.pop();
        }
        Rc::new(Expr::Attrs(Rc::new(AttrsExpr { recursive, statics, dynamics, span: set.span })))
    }

    fn dynamic_name(&mut self, attr: ast::Attr) -> Rc<Expr> {
        match attr {
            ast::Attr::Ident(ident) => {
                Rc::new(Expr::Const(crate::value::Value::string(super::ident_name(&ident).bytes())))
            }
            ast::Attr::Str(string) => self.string(&string),
            ast::Attr::Dynamic(dynamic) => self.opt_expr(dynamic.expr()),
        }
    }

    /// Lowers the value of a binding. `in_own_scope` is true when the
    /// binding lives in a scope it creates (`let`, `rec`): inherited values
    /// then refer to the scope outside it.
    pub(super) fn pending_value(&mut self, value: PendingValue, name: Symbol, in_own_scope: bool) -> Rc<Expr> {
        if value.is_inherited() && in_own_scope {
            // Hide the innermost frame without changing depths.
            let hidden = self.scopes.replace_innermost(Scope::Static(Vec::new()));
            let lowered = self.inherited_value(value, name);
            self.scopes.replace_innermost(hidden);
            return lowered;
        }
        match value {
            PendingValue::Ast(ast::Expr::Lambda(lambda)) => Rc::new(Expr::Lambda(self.lambda(lambda, Some(name)))),
            PendingValue::Ast(expr) => self.expr(expr),
            PendingValue::Nested(set) => self.lower_set(set),
            inherited => self.inherited_value(inherited, name),
        }
    }

    fn inherited_value(&mut self, value: PendingValue, name: Symbol) -> Rc<Expr> {
        match value {
            PendingValue::Inherit(span) => self.variable_by_name(name, span),
            PendingValue::InheritFrom(from, span) => {
                let from = self.expr(from);
                Rc::new(Expr::Select {
                    expr: from,
                    path: Box::new([crate::ir::AttrKey::Static(name)]),
                    default: None,
                    span,
                })
            }
            _ => Rc::new(Expr::Const(crate::value::Value::Null)),
        }
    }

    fn variable_by_name(&mut self, name: Symbol, span: Span) -> Rc<Expr> {
        use super::scope::Resolution;
        match self.scopes.resolve(name, 0) {
            Resolution::Static(slot) => Rc::new(Expr::Var(slot, span)),
            Resolution::Global(value) => Rc::new(Expr::Const(value)),
            Resolution::With(depths) => Rc::new(Expr::WithVar { name, depths: depths.into_boxed_slice(), span }),
            Resolution::Undefined => {
                self.error(ErrorKind::UndefinedVariable(name), span);
                Rc::new(Expr::Const(crate::value::Value::Null))
            }
        }
    }
}
