//! The lowered program: what the evaluator runs.
//!
//! The compiler turns rnix's syntax tree into this small tree, resolving
//! every variable to a place (an environment slot, an enclosing `with`, or
//! a global), folding literal strings, merging nested attribute paths and
//! resolving relative paths. Evaluating it needs no syntax tree.

use crate::source::Span;
use crate::symbol::Symbol;
use crate::value::Value;
use std::rc::Rc;

/// Where a statically bound variable lives: `depth` environments up, slot `index`.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// How many parent links to follow.
    pub depth: u32,
    /// The slot within that environment.
    pub index: u32,
}

/// An attribute name in a select, `?`, or set: known at compile time or computed.
#[derive(Debug)]
pub enum AttrKey {
    /// A literal name.
    Static(Symbol),
    /// `${expr}` or an interpolated string.
    Dynamic(Rc<Expr>),
}

/// Binary operators that evaluate both operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `++`
    Concat,
    /// `//`
    Update,
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Less,
    /// `<=`
    LessEq,
    /// `>`
    Greater,
    /// `>=`
    GreaterEq,
}

/// Operators that evaluate their right operand only when needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicOp {
    /// `&&`
    And,
    /// `||`
    Or,
    /// `->`
    Implies,
}

/// The lowered expression tree.
#[derive(Debug)]
pub enum Expr {
    /// A value known at compile time: numbers, literal strings, paths, globals.
    Const(Value),
    /// A statically bound variable.
    Var(Slot, Span),
    /// A variable looked up at run time in the enclosing `with` scopes,
    /// innermost first (`depths` lists those scopes' environments).
    WithVar {
        /// The variable's name.
        name: Symbol,
        /// Environment depths of the enclosing `with` frames, innermost first.
        depths: Box<[u32]>,
        /// Where the variable is used.
        span: Span,
    },
    /// `e.a.b` or `e.a.b or default`.
    Select {
        /// The set being selected from.
        expr: Rc<Expr>,
        /// The attribute path.
        path: Box<[AttrKey]>,
        /// The `or` fallback.
        default: Option<Rc<Expr>>,
        /// The whole selection.
        span: Span,
    },
    /// `e ? a.b`.
    HasAttr {
        /// The tested value.
        expr: Rc<Expr>,
        /// The attribute path.
        path: Box<[AttrKey]>,
        /// The whole test.
        span: Span,
    },
    /// An attribute set literal (plain or `rec`).
    Attrs(Rc<AttrsExpr>),
    /// A list literal.
    List(Box<[Rc<Expr>]>),
    /// `let … in body`: a new environment holding the bindings.
    Let {
        /// The bindings, one per environment slot.
        bindings: Box<[Rc<Expr>]>,
        /// The body, evaluated in the new environment.
        body: Rc<Expr>,
    },
    /// `with namespace; body`: a new environment whose slot 0 holds the namespace.
    With {
        /// The namespace expression.
        namespace: Rc<Expr>,
        /// The body.
        body: Rc<Expr>,
    },
    /// A function.
    Lambda(Rc<LambdaExpr>),
    /// A function applied to one or more arguments.
    Apply {
        /// The function.
        function: Rc<Expr>,
        /// The arguments, applied left to right.
        args: Box<[Rc<Expr>]>,
        /// The whole application.
        span: Span,
    },
    /// `if cond then a else b`.
    If {
        /// The condition.
        cond: Rc<Expr>,
        /// Taken when true.
        then: Rc<Expr>,
        /// Taken when false.
        otherwise: Rc<Expr>,
        /// The condition's place.
        span: Span,
    },
    /// `assert cond; body`.
    Assert {
        /// The asserted condition.
        cond: Rc<Expr>,
        /// The body.
        body: Rc<Expr>,
        /// The condition's place.
        span: Span,
        /// The condition as Nix shows it in the failure message.
        text: Rc<str>,
    },
    /// `!e`.
    Not(Rc<Expr>, Span),
    /// `-e`.
    Negate(Rc<Expr>, Span),
    /// A strict binary operator.
    BinOp(BinOp, Rc<Expr>, Rc<Expr>, Span),
    /// A lazy logical operator.
    Logic(LogicOp, Rc<Expr>, Rc<Expr>, Span),
    /// A string with interpolations: the parts are concatenated.
    Interpolate(Box<[Rc<Expr>]>, Span),
    /// A path with interpolations: the parts are concatenated and resolved
    /// against `base` (the directory of the file) when relative.
    PathInterpolate {
        /// The parts.
        parts: Box<[Rc<Expr>]>,
        /// The directory relative paths are resolved against.
        base: Rc<str>,
        /// Where the path is written.
        span: Span,
    },
    /// `<name/sub>`, looked up in the search path at run time.
    SearchPath(Rc<str>, Span),
}

impl Expr {
    /// The place of the expression, when it has one of its own.
    pub fn span(&self) -> Option<Span> {
        match self {
            Expr::Var(_, span)
            | Expr::WithVar { span, .. }
            | Expr::Select { span, .. }
            | Expr::HasAttr { span, .. }
            | Expr::Apply { span, .. }
            | Expr::If { span, .. }
            | Expr::Assert { span, .. }
            | Expr::Not(_, span)
            | Expr::Negate(_, span)
            | Expr::BinOp(_, _, _, span)
            | Expr::Logic(_, _, _, span)
            | Expr::Interpolate(_, span)
            | Expr::PathInterpolate { span, .. }
            | Expr::SearchPath(_, span) => Some(*span),
            Expr::Lambda(lambda) => Some(lambda.span),
            Expr::Attrs(attrs) => Some(attrs.span),
            _ => None,
        }
    }
}

/// An attribute set literal after lowering.
#[derive(Debug)]
pub struct AttrsExpr {
    /// `rec { … }`: the values are evaluated in a new environment whose slots
    /// are the static attributes, in the order of `statics`.
    pub recursive: bool,
    /// Attributes with literal names, sorted by name.
    pub statics: Vec<StaticAttr>,
    /// Attributes with computed names, in source order.
    pub dynamics: Vec<DynamicAttr>,
    /// The whole literal.
    pub span: Span,
}

/// An attribute whose name is known at compile time.
#[derive(Debug)]
pub struct StaticAttr {
    /// The name.
    pub name: Symbol,
    /// The value expression.
    pub value: Rc<Expr>,
    /// Where the name was written.
    pub span: Span,
}

/// An attribute whose name is computed (`${e} = v;`).
#[derive(Debug)]
pub struct DynamicAttr {
    /// The name expression; must evaluate to a string (or null to skip).
    pub name: Rc<Expr>,
    /// The value expression.
    pub value: Rc<Expr>,
    /// Where the name was written.
    pub span: Span,
}

/// A function's parameter.
#[derive(Debug)]
pub enum Param {
    /// `x: body`.
    Ident(Symbol),
    /// `{ a, b ? d, ... } @ x: body`.
    Formals {
        /// The formal arguments, in source order; each takes one slot.
        formals: Vec<Formal>,
        /// Whether `...` allows other attributes.
        ellipsis: bool,
        /// The `@` name, which takes the slot after the formals.
        at: Option<Symbol>,
    },
}

/// One formal argument.
#[derive(Debug)]
pub struct Formal {
    /// Its name.
    pub name: Symbol,
    /// Its default, evaluated lazily in the function's environment.
    pub default: Option<Rc<Expr>>,
}

/// A function literal.
#[derive(Debug)]
pub struct LambdaExpr {
    /// The name it was bound to (`f = x: …`), for error messages.
    pub name: Option<Symbol>,
    /// The parameter.
    pub param: Param,
    /// The body.
    pub body: Rc<Expr>,
    /// Slots in the environment a call creates.
    pub env_size: usize,
    /// Where the function is written.
    pub span: Span,
}
