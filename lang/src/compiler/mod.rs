//! Lowering: rnix syntax tree → [`crate::ir::Expr`].
//!
//! Parse errors and static errors (undefined variables, duplicate
//! attributes, bad literals) are all collected, not just the first.

mod bindings;
mod scope;
mod show;
mod strings;

pub(crate) use scope::Scope;

use crate::error::{CompileError, ErrorKind};
use crate::ir::{AttrKey, BinOp, Expr, LambdaExpr, LogicOp, Param};
use crate::path::{canonicalize, join};
use crate::source::{FileId, Span};
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Value};
use rnix::ast::{self, AstToken, BinOpKind, HasEntry, UnaryOpKind};
use rowan::ast::AstNode;
use scope::{Resolution, Scopes};
use std::collections::HashMap;
use std::rc::Rc;
use strings::StrPart;

/// How many syntax errors of one file are shown; the rest are counted.
const MAX_SYNTAX_ERRORS: usize = 20;

/// What the compiler needs to know about the file it compiles.
pub(crate) struct CompileInput<'a> {
    pub text: &'a str,
    pub file: FileId,
    /// The file's name as `__curPos` reports it.
    pub file_name: &'a str,
    /// The directory relative paths are resolved against.
    pub base_dir: &'a str,
    /// `$HOME`, for `~/` paths.
    pub home: Option<&'a str>,
    pub globals: &'a HashMap<Symbol, Value>,
    /// Frames around the file (scopedImport's scope), outermost first.
    pub outer: Vec<Scope>,
}

/// Parses and lowers a source text.
pub(crate) fn compile(input: CompileInput<'_>) -> Result<Rc<Expr>, Vec<CompileError>> {
    let parse = rnix::Root::parse(input.text);
    let mut errors: Vec<CompileError> = parse.errors().iter().map(|e| parse_error(e, input.file, input.text)).collect();
    if !errors.is_empty() {
        // A tree with errors has holes; lowering it would only add noise.
        if errors.len() > MAX_SYNTAX_ERRORS {
            let more = errors.len() - MAX_SYNTAX_ERRORS;
            let last = errors[MAX_SYNTAX_ERRORS].span;
            errors.truncate(MAX_SYNTAX_ERRORS);
            errors.push(CompileError {
                kind: ErrorKind::Syntax(format!("and {more} more syntax errors after this point")),
                span: last,
            });
        }
        return Err(errors);
    }
    let root = parse.tree();
    let mut compiler = Compiler {
        file: input.file,
        file_name: input.file_name,
        base_dir: input.base_dir,
        home: input.home,
        text: input.text,
        scopes: Scopes::new(input.globals, input.outer),
        errors: Vec::new(),
    };
    let expr = match root.expr() {
        Some(expr) => compiler.expr(expr),
        None => Rc::new(Expr::Const(Value::Null)),
    };
    errors = compiler.errors;
    if errors.is_empty() { Ok(expr) } else { Err(errors) }
}

fn parse_error(error: &rnix::ParseError, file: FileId, text: &str) -> CompileError {
    use rnix::ParseError as P;
    let len = text.len();
    let at_end = Span { file, start: len as u32, end: len as u32 };
    let span = |r: &rnix::TextRange| Span { file, start: r.start().into(), end: r.end().into() };
    let (message, place) = match error {
        P::Unexpected(range) => ("unexpected input".to_string(), span(range)),
        P::UnexpectedExtra(range) => ("unexpected input after the expression".to_string(), span(range)),
        P::UnexpectedWanted(got, range, wanted) => {
            (format!("unexpected {}, expected {}", describe_kind(*got), describe_kinds(wanted)), span(range))
        }
        P::UnexpectedDoubleBind(range) => ("a pattern may be bound only once".to_string(), span(range)),
        P::UnexpectedEOF => ("unexpected end of file".to_string(), at_end),
        P::UnexpectedEOFWanted(wanted) => {
            (format!("unexpected end of file, expected {}", describe_kinds(wanted)), at_end)
        }
        P::DuplicatedArgs(range, name) => (format!("duplicate formal function argument '{name}'"), span(range)),
        P::RecursionLimitExceeded => ("expression nested too deeply to parse".to_string(), at_end),
        other => (format!("{other}"), at_end),
    };
    // rnix reports `./dir/` as an invalid token; say what is wrong with it.
    let token = text.get(place.start as usize..place.end as usize).unwrap_or("");
    let message = if token.contains('/') && token.ends_with('/') && !token.contains(char::is_whitespace) {
        format!("path has a trailing slash: '{token}'")
    } else {
        message
    };
    CompileError { kind: ErrorKind::Syntax(message), span: place }
}

fn describe_kinds(kinds: &[rnix::SyntaxKind]) -> String {
    let names: Vec<String> = kinds.iter().map(|k| describe_kind(*k)).collect();
    match names.len() {
        0 => "something else".to_string(),
        1 => names[0].clone(),
        _ => format!("one of {}", names.join(", ")),
    }
}

fn describe_kind(kind: rnix::SyntaxKind) -> String {
    use rnix::SyntaxKind::*;
    let text = match kind {
        TOKEN_SEMICOLON => "';'",
        TOKEN_COLON => "':'",
        TOKEN_COMMA => "','",
        TOKEN_DOT => "'.'",
        TOKEN_ASSIGN => "'='",
        TOKEN_L_BRACE => "'{'",
        TOKEN_R_BRACE => "'}'",
        TOKEN_L_BRACK => "'['",
        TOKEN_R_BRACK => "']'",
        TOKEN_L_PAREN => "'('",
        TOKEN_R_PAREN => "')'",
        TOKEN_IN => "'in'",
        TOKEN_THEN => "'then'",
        TOKEN_ELSE => "'else'",
        TOKEN_IDENT => "an identifier",
        TOKEN_STRING_START | TOKEN_STRING_END => "a string",
        TOKEN_INTERPOL_START => "'${'",
        TOKEN_INTERPOL_END => "'}'",
        TOKEN_ERROR => "an invalid token",
        NODE_ATTRPATH => "an attribute path",
        other => return format!("{other:?}").to_lowercase().replace("token_", "").replace("node_", ""),
    };
    text.to_string()
}

struct Compiler<'a> {
    file: FileId,
    file_name: &'a str,
    base_dir: &'a str,
    home: Option<&'a str>,
    text: &'a str,
    scopes: Scopes<'a>,
    errors: Vec<CompileError>,
}

impl<'a> Compiler<'a> {
    fn span(&self, node: &impl AstNode<Language = rnix::NixLanguage>) -> Span {
        let range = node.syntax().text_range();
        Span { file: self.file, start: range.start().into(), end: range.end().into() }
    }

    fn error(&mut self, kind: ErrorKind, span: Span) {
        self.errors.push(CompileError { kind, span });
    }

    fn konst(value: Value) -> Rc<Expr> {
        Rc::new(Expr::Const(value))
    }

    fn opt_expr(&mut self, expr: Option<ast::Expr>) -> Rc<Expr> {
        match expr {
            Some(expr) => self.expr(expr),
            None => Self::konst(Value::Null),
        }
    }

    fn expr(&mut self, node: ast::Expr) -> Rc<Expr> {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.expr_inner(node))
    }

    fn expr_inner(&mut self, node: ast::Expr) -> Rc<Expr> {
        match node {
            ast::Expr::Apply(apply) => self.apply(apply),
            ast::Expr::Assert(assert) => {
                let span = match assert.condition() {
                    Some(cond) => self.span(&cond),
                    None => self.span(&assert),
                };
                let text = assert.condition().map(|c| show::show(&c)).unwrap_or_default();
                let cond = self.opt_expr(assert.condition());
                let body = self.opt_expr(assert.body());
                Rc::new(Expr::Assert { cond, body, span, text: Rc::from(text) })
            }
            ast::Expr::Error(_) => Self::konst(Value::Null),
            ast::Expr::IfElse(if_else) => {
                let span = self.span(&if_else);
                let cond = self.opt_expr(if_else.condition());
                let then = self.opt_expr(if_else.body());
                let otherwise = self.opt_expr(if_else.else_body());
                Rc::new(Expr::If { cond, then, otherwise, span })
            }
            ast::Expr::Select(select) => {
                let span = self.span(&select);
                let expr = self.opt_expr(select.expr());
                let path = self.attrpath(select.attrpath());
                let default = select.default_expr().map(|d| self.expr(d));
                Rc::new(Expr::Select { expr, path, default, span })
            }
            ast::Expr::Str(string) => self.string(&string),
            ast::Expr::PathAbs(path) => self.path(path.parts(), self.span(&path)),
            ast::Expr::PathRel(path) => self.path(path.parts(), self.span(&path)),
            ast::Expr::PathHome(path) => self.path(path.parts(), self.span(&path)),
            ast::Expr::PathSearch(path) => {
                let span = self.span(&path);
                let text = path.content().map(|c| c.text().to_string()).unwrap_or_default();
                let name = text.trim_start_matches('<').trim_end_matches('>');
                Rc::new(Expr::SearchPath(Rc::from(name), span))
            }
            ast::Expr::Literal(literal) => self.literal(&literal),
            ast::Expr::Lambda(lambda) => Rc::new(Expr::Lambda(self.lambda(lambda, None))),
            ast::Expr::LegacyLet(legacy) => {
                let span = self.span(&legacy);
                let set = self.attrs_from_entries(&legacy, true, span);
                let body = Symbol::from_str("body");
                Rc::new(Expr::Select { expr: set, path: Box::new([AttrKey::Static(body)]), default: None, span })
            }
            ast::Expr::LetIn(let_in) => self.let_in(let_in),
            ast::Expr::List(list) => {
                let items: Vec<Rc<Expr>> = list.items().map(|item| self.expr(item)).collect();
                Rc::new(Expr::List(items.into_boxed_slice()))
            }
            ast::Expr::BinOp(binop) => self.binop(binop),
            ast::Expr::Paren(paren) => self.opt_expr(paren.expr()),
            ast::Expr::Root(root) => self.opt_expr(root.expr()),
            ast::Expr::AttrSet(set) => {
                let span = self.span(&set);
                let recursive = set.rec_token().is_some();
                self.attrs_from_entries(&set, recursive, span)
            }
            ast::Expr::UnaryOp(unary) => {
                let span = self.span(&unary);
                let operand = self.opt_expr(unary.expr());
                match unary.operator() {
                    Some(UnaryOpKind::Invert) => Rc::new(Expr::Not(operand, span)),
                    // `-x` is `0 - x`, so `-0.0` is `0.0`, as in Nix.
                    _ => Rc::new(Expr::Negate(operand, span)),
                }
            }
            ast::Expr::Ident(ident) => self.variable(&ident),
            ast::Expr::With(with) => {
                let namespace = self.opt_expr(with.namespace());
                self.scopes.push(Scope::With);
                let body = self.opt_expr(with.body());
                self.scopes.pop();
                Rc::new(Expr::With { namespace, body })
            }
            ast::Expr::HasAttr(has) => {
                let span = self.span(&has);
                let expr = self.opt_expr(has.expr());
                let path = self.attrpath(has.attrpath());
                Rc::new(Expr::HasAttr { expr, path, span })
            }
            ast::Expr::CurPos(pos) => {
                let span = self.span(&pos);
                self.cur_pos(span)
            }
        }
    }

    fn cur_pos(&self, span: Span) -> Rc<Expr> {
        let prefix = &self.text.as_bytes()[..span.start as usize];
        let line = prefix.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = prefix.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let column = prefix.len() - line_start + 1;
        let attr = |name: &str, value: Value| Attr { name: Symbol::from_str(name), value, span: None };
        Self::konst(Value::attrs(Attrs::from_unsorted(vec![
            attr("column", Value::Int(column as i64)),
            attr("file", Value::string(self.file_name)),
            attr("line", Value::Int(line as i64)),
        ])))
    }

    fn variable(&mut self, ident: &ast::Ident) -> Rc<Expr> {
        let span = self.span(ident);
        let name = ident_name(ident);
        match self.scopes.resolve(name, 0) {
            Resolution::Static(slot) => Rc::new(Expr::Var(slot, span)),
            Resolution::Global(value) => Self::konst(value),
            Resolution::With(depths) => Rc::new(Expr::WithVar { name, depths: depths.into_boxed_slice(), span }),
            Resolution::Undefined => {
                self.error(ErrorKind::UndefinedVariable(name), span);
                Self::konst(Value::Null)
            }
        }
    }

    fn literal(&mut self, literal: &ast::Literal) -> Rc<Expr> {
        let span = self.span(literal);
        match literal.kind() {
            ast::LiteralKind::Integer(int) => match int.value() {
                Ok(n) => Self::konst(Value::Int(n)),
                Err(_) => {
                    let text = int.syntax().text().to_string();
                    self.error(ErrorKind::InvalidInteger(text), span);
                    Self::konst(Value::Null)
                }
            },
            ast::LiteralKind::Float(float) => match float.value() {
                Ok(f) => Self::konst(Value::Float(f)),
                Err(_) => {
                    let text = float.syntax().text().to_string();
                    self.error(ErrorKind::Syntax(format!("invalid float '{text}'")), span);
                    Self::konst(Value::Null)
                }
            },
            ast::LiteralKind::Uri(uri) => Self::konst(Value::string(uri.syntax().text())),
        }
    }

    fn apply(&mut self, apply: ast::Apply) -> Rc<Expr> {
        let span = self.span(&apply);
        let mut args = Vec::new();
        let mut current = apply;
        let function = loop {
            args.push(current.argument());
            match current.lambda() {
                Some(ast::Expr::Apply(inner)) => current = inner,
                other => break other,
            }
        };
        let function = self.opt_expr(function);
        let args: Vec<Rc<Expr>> = args.into_iter().rev().map(|a| self.opt_expr(a)).collect();
        Rc::new(Expr::Apply { function, args: args.into_boxed_slice(), span })
    }

    fn binop(&mut self, binop: ast::BinOp) -> Rc<Expr> {
        let span = self.span(&binop);
        let lhs = self.opt_expr(binop.lhs());
        let rhs = self.opt_expr(binop.rhs());
        let Some(op) = binop.operator() else {
            return Self::konst(Value::Null);
        };
        let strict = |op| Rc::new(Expr::BinOp(op, lhs.clone(), rhs.clone(), span));
        let logic = |op| Rc::new(Expr::Logic(op, lhs.clone(), rhs.clone(), span));
        match op {
            BinOpKind::Concat => strict(BinOp::Concat),
            BinOpKind::Update => strict(BinOp::Update),
            BinOpKind::Add => strict(BinOp::Add),
            BinOpKind::Sub => strict(BinOp::Sub),
            BinOpKind::Mul => strict(BinOp::Mul),
            BinOpKind::Div => strict(BinOp::Div),
            BinOpKind::Equal => strict(BinOp::Eq),
            BinOpKind::NotEqual => strict(BinOp::NotEq),
            BinOpKind::Less => strict(BinOp::Less),
            BinOpKind::LessOrEq => strict(BinOp::LessEq),
            BinOpKind::More => strict(BinOp::Greater),
            BinOpKind::MoreOrEq => strict(BinOp::GreaterEq),
            BinOpKind::And => logic(LogicOp::And),
            BinOpKind::Or => logic(LogicOp::Or),
            BinOpKind::Implication => logic(LogicOp::Implies),
            BinOpKind::PipeRight => Rc::new(Expr::Apply { function: rhs, args: Box::new([lhs]), span }),
            BinOpKind::PipeLeft => Rc::new(Expr::Apply { function: lhs, args: Box::new([rhs]), span }),
        }
    }

    fn string(&mut self, node: &ast::Str) -> Rc<Expr> {
        let span = self.span(node);
        let parts = strings::string_parts(node);
        if parts.iter().all(|p| matches!(p, StrPart::Literal(_))) {
            let mut bytes = Vec::new();
            for part in parts {
                if let StrPart::Literal(b) = part {
                    bytes.extend(b);
                }
            }
            return Self::konst(Value::string(bytes));
        }
        let parts = self.parts(parts);
        Rc::new(Expr::Interpolate(parts, span))
    }

    fn parts(&mut self, parts: Vec<StrPart>) -> Box<[Rc<Expr>]> {
        parts
            .into_iter()
            .map(|part| match part {
                StrPart::Literal(bytes) => Self::konst(Value::string(bytes)),
                StrPart::Interpolation(interpol) => self.opt_expr(interpol.expr()),
            })
            .collect()
    }

    fn path(&mut self, parts: Vec<ast::InterpolPart<ast::PathContent>>, span: Span) -> Rc<Expr> {
        let literal_only = parts.iter().all(|p| matches!(p, ast::InterpolPart::Literal(_)));
        let mut lowered = Vec::new();
        for (index, part) in parts.into_iter().enumerate() {
            match part {
                ast::InterpolPart::Literal(content) => {
                    let mut text = content.text().to_string();
                    if index == 0
                        && let Some(rest) = text.strip_prefix("~/")
                    {
                        {
                            let Some(home) = self.home else {
                                self.error(ErrorKind::Other("cannot resolve '~/' : $HOME is not set".into()), span);
                                return Self::konst(Value::Null);
                            };
                            text = format!("{home}/{rest}");
                        }
                    }
                    lowered.push(StrPart::Literal(text.into_bytes()));
                }
                ast::InterpolPart::Interpolation(interpol) => lowered.push(StrPart::Interpolation(interpol)),
            }
        }
        if literal_only {
            let text: Vec<u8> = lowered
                .into_iter()
                .flat_map(|p| match p {
                    StrPart::Literal(b) => b,
                    StrPart::Interpolation(_) => Vec::new(),
                })
                .collect();
            let text = String::from_utf8_lossy(&text);
            let absolute = if text.starts_with('/') { canonicalize(&text) } else { join(self.base_dir, &text) };
            return Self::konst(Value::Path(Rc::from(absolute)));
        }
        let parts = self.parts(lowered);
        Rc::new(Expr::PathInterpolate { parts, base: Rc::from(self.base_dir), span })
    }

    fn attrpath(&mut self, path: Option<ast::Attrpath>) -> Box<[AttrKey]> {
        let Some(path) = path else { return Box::new([]) };
        path.attrs().map(|attr| self.attr_key(attr)).collect()
    }

    /// Lowers one attribute name; literal strings become static names.
    fn attr_key(&mut self, attr: ast::Attr) -> AttrKey {
        match attr {
            ast::Attr::Ident(ident) => AttrKey::Static(ident_name(&ident)),
            ast::Attr::Str(string) => match &*self.string(&string) {
                Expr::Const(Value::String(s)) => AttrKey::Static(Symbol::intern(s.as_bytes())),
                _ => AttrKey::Dynamic(self.string(&string)),
            },
            ast::Attr::Dynamic(dynamic) => {
                let expr = self.opt_expr(dynamic.expr());
                match &*expr {
                    Expr::Const(Value::String(s)) => AttrKey::Static(Symbol::intern(s.as_bytes())),
                    _ => AttrKey::Dynamic(expr),
                }
            }
        }
    }

    fn let_in(&mut self, let_in: ast::LetIn) -> Rc<Expr> {
        let span = self.span(&let_in);
        let pending = self.collect_entries(&let_in);
        if let Some(dynamic) = pending.dynamics.first() {
            self.error(ErrorKind::DynamicInLet, dynamic.span);
        }
        let names: Vec<Symbol> = pending.statics.iter().map(|a| a.name).collect();
        self.scopes.push(Scope::Static(names));
        let bindings: Vec<Rc<Expr>> =
            pending.statics.into_iter().map(|attr| self.pending_value(attr.value, attr.name, true)).collect();
        let body = self.opt_expr(let_in.body());
        self.scopes.pop();
        let _ = span;
        Rc::new(Expr::Let { bindings: bindings.into_boxed_slice(), body })
    }

    fn attrs_from_entries(&mut self, node: &impl HasEntry, recursive: bool, span: Span) -> Rc<Expr> {
        let mut pending = self.collect_entries(node);
        pending.recursive = recursive;
        pending.span = span;
        self.lower_set(pending)
    }

    /// Lowers a function literal; `name` is the attribute or variable it is bound to.
    fn lambda(&mut self, lambda: ast::Lambda, name: Option<Symbol>) -> Rc<LambdaExpr> {
        let span = self.span(&lambda);
        let (param, names) = match lambda.param() {
            Some(ast::Param::IdentParam(ident)) => {
                let name = ident.ident().map(|i| ident_name(&i)).unwrap_or(Symbol::from_str("_"));
                (None, vec![name])
            }
            Some(ast::Param::Pattern(pattern)) => {
                let mut names: Vec<Symbol> = Vec::new();
                let mut defaults = Vec::new();
                for entry in pattern.pat_entries() {
                    let formal = entry.ident().map(|i| ident_name(&i)).unwrap_or(Symbol::from_str("_"));
                    if names.contains(&formal) {
                        let span = self.span(&entry);
                        self.error(ErrorKind::Syntax(format!("duplicate formal function argument '{formal}'")), span);
                    }
                    names.push(formal);
                    defaults.push(entry.default());
                }
                let at = pattern.pat_bind().and_then(|b| b.ident()).map(|i| ident_name(&i));
                if let Some(at) = at {
                    if names.contains(&at) {
                        let span = self.span(&pattern);
                        self.error(ErrorKind::Syntax(format!("duplicate formal function argument '{at}'")), span);
                    }
                    names.push(at);
                }
                let ellipsis = pattern.ellipsis_token().is_some();
                (Some((defaults, ellipsis, at)), names)
            }
            None => (None, vec![Symbol::from_str("_")]),
        };
        self.scopes.push(Scope::Static(names.clone()));
        let param = match param {
            None => Param::Ident(names[0]),
            Some((defaults, ellipsis, at)) => Param::Formals {
                formals: defaults
                    .into_iter()
                    .zip(names.iter())
                    .map(|(default, &name)| crate::ir::Formal { name, default: default.map(|d| self.expr(d)) })
                    .collect(),
                ellipsis,
                at,
            },
        };
        let body = self.opt_expr(lambda.body());
        self.scopes.pop();
        Rc::new(LambdaExpr { name, param, body, env_size: names.len(), span })
    }
}

/// The name of an identifier node (`or` is a valid identifier in some places).
fn ident_name(ident: &ast::Ident) -> Symbol {
    match ident.ident_token() {
        Some(token) => Symbol::from_str(token.text()),
        None => Symbol::from_str(&ident.syntax().text().to_string()),
    }
}
