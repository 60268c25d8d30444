//! Shows an expression the way Nix's `Expr::show` does, for messages such as
//! `assertion '(x == 1)' failed` that users compare with Nix's.
//!
//! Nix desugars some operators before showing them (`a - b` is
//! `(__sub a b)`, `a < b` is `(__lessThan a b)`), and this module follows
//! the same spelling.

use super::strings::{StrPart, string_parts};
use crate::print::{escape_string, format_float};
use rnix::ast::{self, AstToken, BinOpKind, HasEntry, UnaryOpKind};
use rowan::ast::AstNode;

/// The Nix rendering of an expression.
pub(crate) fn show(expr: &ast::Expr) -> String {
    let mut out = String::new();
    write_expr(expr, &mut out);
    out
}

fn write_opt(expr: Option<ast::Expr>, out: &mut String) {
    if let Some(expr) = expr {
        write_expr(&expr, out);
    }
}

fn write_string_literal(bytes: &[u8], out: &mut String) {
    let mut escaped = Vec::new();
    escape_string(bytes, &mut escaped);
    out.push_str(&String::from_utf8_lossy(&escaped));
}

fn write_expr(expr: &ast::Expr, out: &mut String) {
    match expr {
        ast::Expr::Literal(literal) => match literal.kind() {
            ast::LiteralKind::Float(f) => match f.value() {
                Ok(v) => out.push_str(&format_float(v)),
                Err(_) => out.push_str(f.syntax().text()),
            },
            ast::LiteralKind::Integer(i) => out.push_str(i.syntax().text()),
            ast::LiteralKind::Uri(u) => write_string_literal(u.syntax().text().as_bytes(), out),
        },
        ast::Expr::Ident(ident) => out.push_str(&ident.syntax().text().to_string()),
        ast::Expr::Str(string) => write_str(string, out),
        ast::Expr::Paren(paren) => write_opt(paren.expr(), out),
        ast::Expr::Select(select) => {
            out.push('(');
            write_opt(select.expr(), out);
            out.push_str(").");
            write_attrpath(select.attrpath(), out);
            if let Some(default) = select.default_expr() {
                out.push_str(" or (");
                write_expr(&default, out);
                out.push(')');
            }
        }
        ast::Expr::HasAttr(has) => {
            out.push_str("((");
            write_opt(has.expr(), out);
            out.push_str(") ? ");
            write_attrpath(has.attrpath(), out);
            out.push(')');
        }
        ast::Expr::List(list) => {
            out.push_str("[ ");
            for item in list.items() {
                out.push('(');
                write_expr(&item, out);
                out.push_str(") ");
            }
            out.push(']');
        }
        ast::Expr::AttrSet(set) => {
            if set.rec_token().is_some() {
                out.push_str("rec ");
            }
            out.push_str("{ ");
            write_entries(set, out);
            out.push('}');
        }
        ast::Expr::LetIn(let_in) => {
            out.push_str("(let ");
            write_entries(let_in, out);
            out.push_str("in ");
            write_opt(let_in.body(), out);
            out.push(')');
        }
        ast::Expr::With(with) => {
            out.push_str("(with ");
            write_opt(with.namespace(), out);
            out.push_str("; ");
            write_opt(with.body(), out);
            out.push(')');
        }
        ast::Expr::IfElse(if_else) => {
            out.push_str("(if ");
            write_opt(if_else.condition(), out);
            out.push_str(" then ");
            write_opt(if_else.body(), out);
            out.push_str(" else ");
            write_opt(if_else.else_body(), out);
            out.push(')');
        }
        ast::Expr::Assert(assert) => {
            out.push_str("assert ");
            write_opt(assert.condition(), out);
            out.push_str("; ");
            write_opt(assert.body(), out);
        }
        ast::Expr::Apply(apply) => {
            let mut args = Vec::new();
            let mut current = apply.clone();
            let function = loop {
                args.push(current.argument());
                match current.lambda() {
                    Some(ast::Expr::Apply(inner)) => current = inner,
                    other => break other,
                }
            };
            out.push('(');
            write_opt(function, out);
            for arg in args.into_iter().rev() {
                out.push(' ');
                write_opt(arg, out);
            }
            out.push(')');
        }
        ast::Expr::Lambda(lambda) => write_lambda(lambda, out),
        ast::Expr::UnaryOp(unary) => match unary.operator() {
            Some(UnaryOpKind::Invert) => {
                out.push_str("(! ");
                write_opt(unary.expr(), out);
                out.push(')');
            }
            _ => {
                out.push_str("(__sub 0 ");
                write_opt(unary.expr(), out);
                out.push(')');
            }
        },
        ast::Expr::BinOp(binop) => write_binop(binop, out),
        ast::Expr::CurPos(_) => out.push_str("__curPos"),
        other => out.push_str(&other.syntax().text().to_string()),
    }
}

fn write_binop(binop: &ast::BinOp, out: &mut String) {
    let (lhs, rhs) = (binop.lhs(), binop.rhs());
    let call = |name: &str, a: Option<ast::Expr>, b: Option<ast::Expr>, out: &mut String| {
        out.push('(');
        out.push_str(name);
        out.push(' ');
        write_opt(a, out);
        out.push(' ');
        write_opt(b, out);
        out.push(')');
    };
    let infix = |op: &str, out: &mut String| {
        out.push('(');
        write_opt(binop.lhs(), out);
        out.push(' ');
        out.push_str(op);
        out.push(' ');
        write_opt(binop.rhs(), out);
        out.push(')');
    };
    match binop.operator() {
        Some(BinOpKind::Add) => infix("+", out),
        Some(BinOpKind::Sub) => call("__sub", lhs, rhs, out),
        Some(BinOpKind::Mul) => call("__mul", lhs, rhs, out),
        Some(BinOpKind::Div) => call("__div", lhs, rhs, out),
        Some(BinOpKind::Less) => call("__lessThan", lhs, rhs, out),
        Some(BinOpKind::More) => call("__lessThan", rhs, lhs, out),
        Some(BinOpKind::LessOrEq) => {
            out.push_str("(! ");
            call("__lessThan", rhs, lhs, out);
            out.push(')');
        }
        Some(BinOpKind::MoreOrEq) => {
            out.push_str("(! ");
            call("__lessThan", lhs, rhs, out);
            out.push(')');
        }
        Some(BinOpKind::PipeRight) => call_one(rhs, lhs, out),
        Some(BinOpKind::PipeLeft) => call_one(lhs, rhs, out),
        Some(op) => infix(
            match op {
                BinOpKind::Concat => "++",
                BinOpKind::Update => "//",
                BinOpKind::And => "&&",
                BinOpKind::Or => "||",
                BinOpKind::Implication => "->",
                BinOpKind::Equal => "==",
                _ => "!=",
            },
            out,
        ),
        None => out.push_str(&binop.syntax().text().to_string()),
    }
}

fn call_one(function: Option<ast::Expr>, arg: Option<ast::Expr>, out: &mut String) {
    out.push('(');
    write_opt(function, out);
    out.push(' ');
    write_opt(arg, out);
    out.push(')');
}

fn write_str(string: &ast::Str, out: &mut String) {
    let parts = string_parts(string);
    if let [StrPart::Literal(bytes)] = parts.as_slice() {
        return write_string_literal(bytes, out);
    }
    if parts.is_empty() {
        return out.push_str("\"\"");
    }
    out.push('(');
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            out.push_str(" + ");
        }
        match part {
            StrPart::Literal(bytes) => write_string_literal(bytes, out),
            StrPart::Interpolation(interpol) => write_opt(interpol.expr(), out),
        }
    }
    out.push(')');
}

fn write_attrpath(path: Option<ast::Attrpath>, out: &mut String) {
    let Some(path) = path else { return };
    for (index, attr) in path.attrs().enumerate() {
        if index > 0 {
            out.push('.');
        }
        match attr {
            ast::Attr::Ident(ident) => out.push_str(&ident.syntax().text().to_string()),
            ast::Attr::Str(string) => match string_parts(&string).as_slice() {
                [StrPart::Literal(bytes)] => out.push_str(&String::from_utf8_lossy(bytes)),
                _ => {
                    out.push_str("\"${");
                    write_str(&string, out);
                    out.push_str("}\"");
                }
            },
            ast::Attr::Dynamic(dynamic) => {
                out.push_str("\"${");
                write_opt(dynamic.expr(), out);
                out.push_str("}\"");
            }
        }
    }
}

fn write_entries(node: &impl HasEntry, out: &mut String) {
    for entry in node.entries() {
        match entry {
            ast::Entry::Inherit(inherit) => {
                for attr in inherit.attrs() {
                    out.push_str("inherit ");
                    out.push_str(&attr.syntax().text().to_string());
                    out.push_str(" ; ");
                }
            }
            ast::Entry::AttrpathValue(binding) => {
                write_attrpath(binding.attrpath(), out);
                out.push_str(" = ");
                write_opt(binding.value(), out);
                out.push_str("; ");
            }
        }
    }
}

fn write_lambda(lambda: &ast::Lambda, out: &mut String) {
    out.push('(');
    match lambda.param() {
        Some(ast::Param::IdentParam(ident)) => out.push_str(&ident.syntax().text().to_string()),
        Some(ast::Param::Pattern(pattern)) => {
            out.push_str("{ ");
            let mut first = true;
            for entry in pattern.pat_entries() {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                if let Some(ident) = entry.ident() {
                    out.push_str(&ident.syntax().text().to_string());
                }
                if let Some(default) = entry.default() {
                    out.push_str(" ? ");
                    write_expr(&default, out);
                }
            }
            if pattern.ellipsis_token().is_some() {
                if !first {
                    out.push_str(", ");
                }
                out.push_str("...");
            }
            out.push_str(" }");
            if let Some(bind) = pattern.pat_bind().and_then(|b| b.ident()) {
                out.push_str(" @ ");
                out.push_str(&bind.syntax().text().to_string());
            }
        }
        None => {}
    }
    out.push_str(": ");
    write_opt(lambda.body(), out);
    out.push(')');
}
