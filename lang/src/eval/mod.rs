//! The evaluator: a tree-walking interpreter over [`crate::ir::Expr`] with
//! lazy thunks, black-holing for infinite recursion, and a growable stack
//! so that deep recursion in user code neither crashes nor needs a flag.

mod coerce;
mod compare;
mod env;
mod interpolate;
mod ops;
mod stack;

pub use coerce::CoerceMode;
pub use env::Env;

use crate::builtins;
use crate::compiler::{self, CompileInput, Scope};
use crate::error::{ErrorKind, EvalError, EvalResult, Frame, suggest};
use crate::io::EvalIo;
use crate::ir::{AttrKey, AttrsExpr, Expr, LambdaExpr, LogicOp, Param};
use crate::path::{canonicalize, join};
use crate::source::{SourceFile, SourceMap, Span};
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Closure, NixStr, PrimOpApp, Thunk, ThunkState, Type, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Stack reserved for the thread that evaluates. Only the pages actually
/// used are committed, and deep recursion then rarely needs `stacker` to
/// map (and unmap) extra segments, which is costly when it happens often.
pub const EVALUATION_STACK: usize = 1024 * 1024 * 1024;

/// Runs `f` on a thread with [`EVALUATION_STACK`] bytes of stack and
/// returns its result, or the error of creating the thread. A panic inside
/// `f` is resumed on the caller's thread.
pub fn with_evaluation_stack<R: Send>(f: impl FnOnce() -> R + Send) -> std::io::Result<R> {
    std::thread::scope(|scope| {
        let handle =
            std::thread::Builder::new().name("imgx-eval".into()).stack_size(EVALUATION_STACK).spawn_scoped(scope, f)?;
        match handle.join() {
            Ok(result) => Ok(result),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// One entry of the search path used by `<name>` lookups.
#[derive(Clone, Debug)]
pub struct SearchPathEntry {
    /// The name prefix (`nixpkgs` in `nixpkgs=/path`), empty for a bare directory.
    pub prefix: String,
    /// Where the prefix points.
    pub path: PathBuf,
}

impl SearchPathEntry {
    /// Parses `name=path` or `path`.
    pub fn parse(text: &str) -> SearchPathEntry {
        match text.split_once('=') {
            Some((prefix, path)) => SearchPathEntry { prefix: prefix.to_string(), path: PathBuf::from(path) },
            None => SearchPathEntry { prefix: String::new(), path: PathBuf::from(text) },
        }
    }
}

/// A folder of library code, such as the host's bundled library. An error
/// raised inside it is reported at the user's call into it, with the
/// library's own location as a note: the user's mistake is at the call.
#[derive(Clone, Debug)]
pub struct Library {
    /// The folder; every file under it belongs to the library.
    pub dir: PathBuf,
    /// The name error reports use for it ("stdlib").
    pub name: Rc<str>,
}

/// Settings of an evaluation.
pub struct EvalOptions {
    /// `<name>` lookups, in order.
    pub search_path: Vec<SearchPathEntry>,
    /// The deepest nesting of function calls allowed before failing with a
    /// clear error instead of exhausting memory.
    pub max_call_depth: usize,
    /// File-system access.
    pub io: Rc<dyn EvalIo>,
    /// Folders of library code (see [`Library`]).
    pub libraries: Vec<Library>,
    /// `builtins.currentSystem`.
    pub current_system: String,
    /// Where `builtins.trace` and `builtins.warn` write.
    pub trace: Rc<dyn Fn(&str)>,
    /// Built-ins the host adds under `builtins` (imgx's step primitive).
    /// The language itself knows nothing about them.
    pub extra_primops: Vec<&'static builtins::PrimOp>,
    /// State the host's built-ins share, reached through [`Vm::host`].
    pub host: Option<Rc<dyn std::any::Any>>,
}

impl EvalOptions {
    /// Options with the host's file system and no search path.
    pub fn new(io: Rc<dyn EvalIo>) -> EvalOptions {
        EvalOptions {
            search_path: Vec::new(),
            max_call_depth: 250_000,
            io,
            libraries: Vec::new(),
            current_system: "x86_64-linux".to_string(),
            trace: Rc::new(|message| eprintln!("{message}")),
            extra_primops: Vec::new(),
            host: None,
        }
    }
}

/// Symbols the evaluator itself looks for.
pub(crate) struct WellKnown {
    pub functor: Symbol,
    pub to_string: Symbol,
    pub out_path: Symbol,
}

/// An evaluation session: sources read, imports cached, built-ins bound.
pub struct Vm {
    /// Every source text read so far (for error reports).
    pub sources: SourceMap,
    /// The evaluation's settings.
    pub options: EvalOptions,
    pub(crate) globals: Rc<HashMap<Symbol, Value>>,
    pub(crate) well_known: WellKnown,
    imports: HashMap<String, Value>,
    depth: usize,
    safe_stack: stack::SafeStack,
}

impl Vm {
    /// A new evaluation session.
    pub fn new(options: EvalOptions) -> Vm {
        let globals = Rc::new(builtins::globals(&options));
        Vm {
            sources: SourceMap::default(),
            options,
            globals,
            well_known: WellKnown {
                functor: Symbol::from_str("__functor"),
                to_string: Symbol::from_str("__toString"),
                out_path: Symbol::from_str("outPath"),
            },
            imports: HashMap::new(),
            depth: 0,
            safe_stack: stack::SafeStack::default(),
        }
    }

    /// The host's shared state, if it is of type `T`.
    pub fn host<T: 'static>(&self) -> Option<Rc<T>> {
        self.options.host.clone()?.downcast::<T>().ok()
    }

    /// Evaluates an expression given as text; relative paths resolve
    /// against `base_dir`. The result is in weak head normal form.
    pub fn eval_source(&mut self, name: &str, text: &str, base_dir: &Path) -> EvalResult<Value> {
        let file = self.sources.add(name.to_string(), None, Rc::from(text));
        let base = canonicalize(&base_dir.to_string_lossy());
        let expr = self.compile(file, name, text, &base, Vec::new())?;
        let env = Env::root(Vec::new());
        self.eval(&expr, &env)
    }

    /// Evaluates a file (or a directory's `default.nix`), caching the result.
    pub fn import_file(&mut self, path: &str) -> EvalResult<Value> {
        self.scoped_import(path, None)
    }

    /// `import` and `scopedImport`: evaluates a file, with an optional scope
    /// of extra variables.
    pub(crate) fn scoped_import(&mut self, path: &str, scope: Option<Rc<Attrs>>) -> EvalResult<Value> {
        let mut path = canonicalize(path);
        if self.options.io.file_type(Path::new(&path)).ok() == Some(crate::io::FileType::Directory) {
            path = join(&path, "default.nix");
        }
        if scope.is_none()
            && let Some(value) = self.imports.get(&path)
        {
            return Ok(value.clone());
        }
        let bytes = self.options.io.read_file(Path::new(&path)).map_err(|e| {
            EvalError::new(ErrorKind::Io { action: "reading", path: path.clone(), message: io_message(&e) })
        })?;
        let text: Rc<str> = Rc::from(String::from_utf8_lossy(&bytes).as_ref());
        let library = self.library_of(&path);
        let file = self.sources.add_file(SourceFile {
            name: path.clone(),
            path: Some(PathBuf::from(&path)),
            text: text.clone(),
            library,
        });
        let base = crate::path::dir_name(&path).to_string();
        let (outer, slots) = match &scope {
            Some(attrs) => (
                vec![Scope::Static(attrs.iter().map(|a| a.name).collect())],
                attrs.iter().map(|a| a.value.clone()).collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let expr = self.compile(file, &path, &text, &base, outer)?;
        let env = Env::root(slots);
        let value = self.eval(&expr, &env)?;
        if scope.is_none() {
            self.imports.insert(path, value.clone());
        }
        Ok(value)
    }

    /// The name of the library `path` (absolute, normalised) belongs to.
    fn library_of(&self, path: &str) -> Option<Rc<str>> {
        self.options
            .libraries
            .iter()
            .find(|library| Path::new(path).starts_with(canonicalize(&library.dir.to_string_lossy())))
            .map(|library| library.name.clone())
    }

    fn compile(
        &mut self,
        file: crate::source::FileId,
        name: &str,
        text: &str,
        base: &str,
        outer: Vec<Scope>,
    ) -> EvalResult<Rc<Expr>> {
        let home = std::env::var("HOME").ok();
        let globals = self.globals.clone();
        compiler::compile(CompileInput {
            text,
            file,
            file_name: name,
            base_dir: base,
            home: home.as_deref(),
            globals: &globals,
            outer,
        })
        .map_err(EvalError::from_compile)
    }

    /// Evaluates `expr` in `env` to weak head normal form.
    ///
    /// The stack is not checked here but where recursion through user code
    /// happens (function calls and thunks), with a red zone large enough
    /// for the deepest expression the parser accepts.
    pub fn eval(&mut self, expr: &Expr, env: &Env) -> EvalResult<Value> {
        match expr {
            Expr::Const(value) => Ok(value.clone()),
            Expr::Var(slot, span) => match env.lookup_evaluated(*slot) {
                Some(value) => Ok(value),
                None => self.force_variable(env, *slot, *span),
            },
            Expr::Apply { function, args, span } if args.len() == 1 => {
                let function = self.eval_operand(function, env)?;
                let arg = self.make_argument(&args[0], env);
                self.call(function, arg, Some(*span))
            }
            Expr::If { cond, then, otherwise, span } => {
                let cond = self.eval_operand(cond, env)?;
                let branch = match &cond {
                    Value::Bool(true) => then,
                    Value::Bool(false) => otherwise,
                    other => return Err(EvalError::at(type_error_kind("a Boolean", other), *span)),
                };
                cond.dispose();
                self.eval(branch, env)
            }
            Expr::BinOp(op, lhs, rhs, span) => {
                let lhs = self.eval_operand(lhs, env)?;
                let rhs = self.eval_operand(rhs, env)?;
                if let (Value::Int(a), Value::Int(b)) = (&lhs, &rhs)
                    && let Some(result) = ops::int_fast_path(*op, *a, *b)
                {
                    lhs.dispose();
                    rhs.dispose();
                    return Ok(result);
                }
                self.binop_at(*op, lhs, rhs, *span)
            }
            _ => self.eval_other(expr, env),
        }
    }

    /// [`Vm::eval`] with constants and evaluated variables handled in place,
    /// saving a call for the most common operands.
    #[inline(always)]
    fn eval_operand(&mut self, expr: &Expr, env: &Env) -> EvalResult<Value> {
        match expr {
            Expr::Const(value) => Ok(value.clone()),
            Expr::Var(slot, _) => match env.lookup_evaluated(*slot) {
                Some(value) => Ok(value),
                None => self.eval(expr, env),
            },
            _ => self.eval(expr, env),
        }
    }

    #[inline(never)]
    fn force_variable(&mut self, env: &Env, slot: crate::ir::Slot, span: Span) -> EvalResult<Value> {
        let value = env.lookup(slot);
        self.force(&value).map_err(|e| at(e, span))
    }

    #[inline(never)]
    fn binop_at(&mut self, op: crate::ir::BinOp, lhs: Value, rhs: Value, span: Span) -> EvalResult<Value> {
        self.binop(op, lhs, rhs).map_err(|e| at(e, span))
    }

    /// The less frequent expression kinds, kept out of [`Vm::eval`] so that
    /// its stack frame stays small.
    #[inline(never)]
    fn eval_other(&mut self, expr: &Expr, env: &Env) -> EvalResult<Value> {
        match expr {
            // Handled by `eval` itself; listed for exhaustiveness.
            Expr::Const(_) | Expr::Var(..) | Expr::If { .. } | Expr::BinOp(..) => self.eval(expr, env),
            Expr::WithVar { name, depths, span } => self.with_lookup(*name, depths, env, *span),
            Expr::Select { expr, path, default, span } => self.select(expr, path, default.as_deref(), env, *span),
            Expr::HasAttr { expr, path, .. } => self.has_attr(expr, path, env),
            Expr::Attrs(attrs) => self.attrs(attrs, env),
            Expr::List(items) => Ok(Value::list(items.iter().map(|item| self.make_thunk(item, env)).collect())),
            Expr::Let { bindings, body } => {
                let inner = env.child(bindings.len());
                for (index, binding) in bindings.iter().enumerate() {
                    let value = self.make_binding_thunk(binding, &inner);
                    inner.set(index, value);
                }
                self.eval(body, &inner)
            }
            Expr::With { namespace, body } => {
                let namespace = self.make_thunk(namespace, env);
                let inner = env.child_with_one(namespace);
                self.eval(body, &inner)
            }
            Expr::Lambda(lambda) => Ok(Value::Lambda(Rc::new(Closure { lambda: lambda.clone(), env: env.clone() }))),
            Expr::Apply { function, args, span } => {
                let function = self.eval(function, env)?;
                if let [arg] = &**args {
                    let arg = self.make_thunk(arg, env);
                    return self.call(function, arg, Some(*span));
                }
                if let [first, second] = &**args {
                    let first = self.make_argument(first, env);
                    let second = self.make_argument(second, env);
                    return self.call2(function, first, second, Some(*span));
                }
                let args: Vec<Value> = args.iter().map(|arg| self.make_argument(arg, env)).collect();
                self.call_many(function, args, *span)
            }
            Expr::Assert { cond, body, span, text } => {
                let value = self.eval(cond, env)?;
                if self.expect_bool(&value, *span)? {
                    self.eval(body, env)
                } else {
                    Err(EvalError::at(ErrorKind::AssertionFailed(text.to_string()), *span))
                }
            }
            Expr::Not(operand, span) => {
                let value = self.eval(operand, env)?;
                Ok(Value::Bool(!self.expect_bool(&value, *span)?))
            }
            Expr::Negate(operand, span) => {
                let value = self.eval(operand, env)?;
                self.arith(crate::ir::BinOp::Sub, Value::Int(0), value).map_err(|e| at(e, *span))
            }
            Expr::Logic(op, lhs, rhs, span) => {
                let left = self.eval(lhs, env)?;
                let left = self.expect_bool(&left, lhs.span().unwrap_or(*span))?;
                let short = match op {
                    LogicOp::And => (!left).then_some(false),
                    LogicOp::Or => left.then_some(true),
                    LogicOp::Implies => (!left).then_some(true),
                };
                if let Some(result) = short {
                    return Ok(Value::Bool(result));
                }
                let right = self.eval(rhs, env)?;
                Ok(Value::Bool(self.expect_bool(&right, rhs.span().unwrap_or(*span))?))
            }
            Expr::Interpolate(parts, span) => self.interpolate(parts, env, *span),
            Expr::PathInterpolate { parts, base, span } => {
                let mut text = Vec::new();
                for part in parts.iter() {
                    let value = self.eval(part, env)?;
                    let piece =
                        self.coerce_to_string(&value, CoerceMode::Interpolation, false).map_err(|e| at(e, *span))?;
                    if piece.has_context() {
                        return Err(EvalError::at(
                            ErrorKind::Other(
                                "a string that refers to a store path cannot be appended to a path".into(),
                            ),
                            *span,
                        ));
                    }
                    text.extend_from_slice(piece.as_bytes());
                }
                let text = String::from_utf8_lossy(&text);
                Ok(Value::Path(Rc::from(join(base, &text))))
            }
            Expr::SearchPath(name, span) => self.find_in_search_path(name).map_err(|e| at(e, *span)),
        }
    }

    /// Turns an expression into a value without evaluating it: constants
    /// and variables are shared, everything else becomes a thunk.
    pub(crate) fn make_thunk(&self, expr: &Rc<Expr>, env: &Env) -> Value {
        match &**expr {
            Expr::Const(value) => value.clone(),
            Expr::Var(slot, _) => env.lookup(*slot),
            _ => Value::Thunk(Thunk::suspended(expr.clone(), env.clone())),
        }
    }

    /// Like [`Vm::make_thunk`], for a function argument: integer arithmetic
    /// on evaluated operands (`f (n - 1)`) is computed on the spot. That is
    /// unobservable except in the lazy printing of `imgx eval` without
    /// `--strict`, where such a value shows evaluated instead of `<CODE>`.
    fn make_argument(&self, expr: &Rc<Expr>, env: &Env) -> Value {
        if let Expr::BinOp(op, lhs, rhs, _) = &**expr
            && let Some(value) = cheap_int_op(*op, lhs, rhs, env)
        {
            return value;
        }
        self.make_thunk(expr, env)
    }

    /// Like [`Vm::make_thunk`], for a binding of an environment that is
    /// still being filled (`let`, `rec`, formal defaults): a variable of that
    /// same environment may not be set yet, so it is not shared but thunked.
    fn make_binding_thunk(&self, expr: &Rc<Expr>, env: &Env) -> Value {
        match &**expr {
            Expr::Var(slot, _) if slot.depth == 0 => Value::Thunk(Thunk::suspended(expr.clone(), env.clone())),
            _ => self.make_thunk(expr, env),
        }
    }

    /// Runs `f` one level deeper in a recursion that user data drives
    /// (comparing, coercing or serialising nested values, calling functors):
    /// the stack grows as needed, and a cyclic value or runaway recursion
    /// ends with an error at the call-depth limit instead of exhausting
    /// the stack or memory.
    pub fn nested<R>(&mut self, f: impl FnOnce(&mut Vm) -> EvalResult<R>) -> EvalResult<R> {
        if self.depth >= self.options.max_call_depth {
            return Err(EvalError::new(ErrorKind::StackOverflow(self.options.max_call_depth)));
        }
        self.depth += 1;
        let result = self.with_stack(f);
        self.depth -= 1;
        result
    }

    /// Forces a value to weak head normal form.
    pub fn force(&mut self, value: &Value) -> EvalResult<Value> {
        match value {
            Value::Thunk(thunk) => self.force_thunk(thunk),
            other => Ok(other.clone()),
        }
    }

    fn force_thunk(&mut self, thunk: &Thunk) -> EvalResult<Value> {
        if let Some(value) = thunk.value() {
            return Ok(value.clone());
        }
        self.with_stack(|vm| vm.evaluate_thunk(thunk))
    }

    fn evaluate_thunk(&mut self, thunk: &Thunk) -> EvalResult<Value> {
        let state = thunk.take_pending();
        let result = match &state {
            ThunkState::Suspended(expr, env) => self.eval(expr, env),
            ThunkState::Apply(function, argument) => {
                let function = self.force(function)?;
                self.call(function, argument.clone(), None)
            }
            ThunkState::Blackhole => Err(EvalError::new(ErrorKind::InfiniteRecursion)),
        };
        match result {
            Ok(value) => {
                thunk.set_value(value.clone());
                Ok(value)
            }
            Err(error) => {
                // Restore the thunk so that a caught error is raised again
                // when the value is needed once more.
                if !matches!(state, ThunkState::Blackhole) {
                    thunk.restore_pending(state);
                }
                Err(error)
            }
        }
    }

    /// Forces a value and everything inside it (`deepSeq`, `--strict`).
    pub fn force_deep(&mut self, value: &Value) -> EvalResult<Value> {
        let mut seen = std::collections::HashSet::new();
        let forced = self.force(value)?;
        self.force_deep_inner(&forced, &mut seen)?;
        Ok(forced)
    }

    fn force_deep_inner(&mut self, value: &Value, seen: &mut std::collections::HashSet<usize>) -> EvalResult<()> {
        stacker::maybe_grow(128 * 1024, 4 * 1024 * 1024, || {
            match value {
                Value::Attrs(attrs) => {
                    if !seen.insert(Rc::as_ptr(attrs) as usize) {
                        return Ok(());
                    }
                    for attr in attrs.iter() {
                        let forced = self.force(&attr.value).map_err(|e| {
                            frame(e, format!("while evaluating the attribute '{}'", attr.name), attr.span)
                        })?;
                        self.force_deep_inner(&forced, seen)?;
                    }
                }
                Value::List(items) => {
                    if !seen.insert(Rc::as_ptr(items) as usize) {
                        return Ok(());
                    }
                    for item in items.iter() {
                        let forced = self.force(item)?;
                        self.force_deep_inner(&forced, seen)?;
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }

    /// Applies a function to several arguments in turn.
    pub fn call_many(&mut self, mut function: Value, args: Vec<Value>, span: Span) -> EvalResult<Value> {
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            // A built-in that will be saturated by the arguments at hand is
            // called directly, without building partial applications.
            if let Value::PrimOp(app) = &function {
                let needed = app.op.arity - app.args.len();
                if needed > 1 && args.len() + 1 >= needed {
                    let mut collected: PrimOpArgs = app.args.iter().cloned().collect();
                    collected.push(arg);
                    for _ in 1..needed {
                        collected.extend(args.next());
                    }
                    function = self.run_primop(app.op, &collected).map_err(|e| at(e, span))?;
                    continue;
                }
            }
            if let Some(next) = args.peek()
                && let Some(inner) = curried_body(&function)
            {
                let inner = inner.clone();
                let next = next.clone();
                args.next();
                function = self.call_curried(&function, inner, arg, next, Some(span))?;
                continue;
            }
            function = self.call(function, arg, Some(span))?;
        }
        Ok(function)
    }

    /// Applies a (forced) function to two arguments in turn. A lambda
    /// `a: b: body` receives both without building the closure `b: body`.
    pub fn call2(&mut self, function: Value, a: Value, b: Value, span: Option<Span>) -> EvalResult<Value> {
        if let Some(inner) = curried_body(&function) {
            let inner = inner.clone();
            return self.call_curried(&function, inner, a, b, span);
        }
        let partial = self.call(function, a, span)?;
        self.call(partial, b, span)
    }

    /// Calls `inner`, the body of the lambda `function` (see
    /// [`curried_body`]), with `a` bound in the outer frame and `b` as its
    /// own argument. The outer call could not fail: its body only makes
    /// the closure this skips.
    fn call_curried(
        &mut self,
        function: &Value,
        inner: Rc<LambdaExpr>,
        a: Value,
        b: Value,
        span: Option<Span>,
    ) -> EvalResult<Value> {
        let Value::Lambda(outer) = function else { unreachable!("curried_body only accepts lambdas") };
        // The depth limit is checked by `call_lambda`.
        let closure = Closure { lambda: inner, env: outer.env.child_with_one(a) };
        self.call_lambda(&closure, b, span)
    }

    /// Applies a (forced) function to one argument.
    pub fn call(&mut self, function: Value, arg: Value, span: Option<Span>) -> EvalResult<Value> {
        match function {
            Value::Lambda(closure) => self.call_lambda(&closure, arg, span),
            other => self.call_other(other, arg, span),
        }
    }

    #[inline(never)]
    fn call_other(&mut self, function: Value, arg: Value, span: Option<Span>) -> EvalResult<Value> {
        match function {
            Value::Lambda(closure) => self.call_lambda(&closure, arg, span),
            Value::PrimOp(app) => {
                if app.args.len() + 1 < app.op.arity {
                    let mut args = Vec::with_capacity(app.op.arity);
                    args.extend(app.args.iter().cloned());
                    args.push(arg);
                    return Ok(Value::PrimOp(Rc::new(PrimOpApp { op: app.op, args })));
                }
                let result = if app.args.is_empty() {
                    self.run_primop(app.op, std::slice::from_ref(&arg))
                } else {
                    let mut args: PrimOpArgs = app.args.iter().cloned().collect();
                    args.push(arg);
                    self.run_primop(app.op, &args)
                };
                result.map_err(|e| at_opt(e, span))
            }
            Value::Attrs(attrs) if attrs.get(self.well_known.functor).is_some() => {
                let functor = attrs.get(self.well_known.functor).cloned().unwrap_or(Value::Null);
                let functor = self.force(&functor)?;
                self.nested(|vm| {
                    let partial = vm.call(functor, Value::Attrs(attrs), span)?;
                    vm.call(partial, arg, span)
                })
            }
            other => Err(at_opt(EvalError::new(ErrorKind::NotAFunction(other.ty().describe())), span)),
        }
    }

    fn run_primop(&mut self, op: &'static builtins::PrimOp, args: &[Value]) -> EvalResult<Value> {
        (op.run)(self, args).map_err(|e| match e.kind {
            // The message of `throw` and `abort` speaks for itself.
            ErrorKind::Throw(_) | ErrorKind::Abort(_) => e,
            _ => frame(e, format!("while calling the '{}' builtin", op.name), None),
        })
    }

    fn call_lambda(&mut self, closure: &Closure, arg: Value, span: Option<Span>) -> EvalResult<Value> {
        let lambda = &closure.lambda;
        if self.depth >= self.options.max_call_depth {
            return Err(at_opt(EvalError::new(ErrorKind::StackOverflow(self.options.max_call_depth)), span));
        }
        let env = match &lambda.param {
            Param::Ident(_) => closure.env.child_with_one(arg),
            Param::Formals { formals, ellipsis, at } => {
                let env = closure.env.child(lambda.env_size);
                let forced = self.force(&arg).map_err(|e| at_opt(e, span))?;
                let Value::Attrs(attrs) = &forced else {
                    return Err(at_opt(type_error("a set", &forced), span)
                        .pipe(|e| frame(e, format!("while calling {}", describe_lambda(lambda)), Some(lambda.span))));
                };
                if !ellipsis {
                    for attr in attrs.iter() {
                        if !formals.iter().any(|f| f.name == attr.name) {
                            let names: Vec<String> = formals.iter().map(|f| f.name.text()).collect();
                            let name = attr.name.text();
                            let suggestion = suggest(&name, names.iter().map(String::as_str));
                            return Err(at_opt(
                                EvalError::new(ErrorKind::UnexpectedArgument {
                                    function: describe_lambda(lambda),
                                    name,
                                    suggestion,
                                }),
                                span,
                            ));
                        }
                    }
                }
                for (index, formal) in formals.iter().enumerate() {
                    let value = match attrs.get(formal.name) {
                        Some(value) => value.clone(),
                        None => match &formal.default {
                            Some(default) => self.make_binding_thunk(default, &env),
                            None => {
                                return Err(at_opt(
                                    EvalError::new(ErrorKind::MissingArgument {
                                        function: describe_lambda(lambda),
                                        name: formal.name.text(),
                                    }),
                                    span,
                                ));
                            }
                        },
                    };
                    env.set(index, value);
                }
                if at.is_some() {
                    env.set(formals.len(), forced.clone());
                }
                env
            }
        };
        self.depth += 1;
        let result = self.with_stack(|vm| vm.eval(&lambda.body, &env));
        self.depth -= 1;
        result.map_err(|e| frame(e, format!("while calling {}", describe_lambda(lambda)), span))
    }

    #[inline(never)]
    fn with_lookup(&mut self, name: Symbol, depths: &[u32], env: &Env, span: Span) -> EvalResult<Value> {
        for &depth in depths {
            let namespace = env.ancestor(depth).get(0);
            let namespace = self.force(&namespace).map_err(|e| at(e, span))?;
            let Value::Attrs(attrs) = &namespace else {
                return Err(EvalError::at(type_error_kind("a set", &namespace), span));
            };
            if let Some(value) = attrs.get(name) {
                let value = value.clone();
                return self.force(&value).map_err(|e| at(e, span));
            }
        }
        Err(EvalError::at(ErrorKind::UndefinedVariable(name), span))
    }

    fn attr_name(&mut self, key: &AttrKey, env: &Env) -> EvalResult<Symbol> {
        match key {
            AttrKey::Static(name) => Ok(*name),
            AttrKey::Dynamic(expr) => {
                let value = self.eval(expr, env)?;
                let name = self.expect_string(&value)?;
                Ok(Symbol::intern(name.as_bytes()))
            }
        }
    }

    #[inline(never)]
    fn select(
        &mut self,
        expr: &Expr,
        path: &[AttrKey],
        default: Option<&Expr>,
        env: &Env,
        span: Span,
    ) -> EvalResult<Value> {
        let mut value = self.eval(expr, env)?;
        for key in path {
            let name = self.attr_name(key, env).map_err(|e| at(e, span))?;
            let attrs = match &value {
                Value::Attrs(attrs) => attrs.clone(),
                other => {
                    if let Some(default) = default {
                        return self.eval(default, env);
                    }
                    return Err(EvalError::at(type_error_kind("a set", other), span)
                        .pipe(|e| frame(e, format!("while selecting the attribute '{name}'"), Some(span))));
                }
            };
            match attrs.get(name) {
                Some(next) => {
                    let next = next.clone();
                    value = self.force(&next).map_err(|e| at(e, span))?;
                }
                None => {
                    if let Some(default) = default {
                        return self.eval(default, env);
                    }
                    let wanted = name.text();
                    let names: Vec<String> = attrs.iter().map(|a| a.name.text()).collect();
                    let suggestion = suggest(&wanted, names.iter().map(String::as_str));
                    return Err(EvalError::at(ErrorKind::AttrMissing { name: wanted, suggestion }, span));
                }
            }
        }
        Ok(value)
    }

    #[inline(never)]
    fn has_attr(&mut self, expr: &Expr, path: &[AttrKey], env: &Env) -> EvalResult<Value> {
        let mut value = self.eval(expr, env)?;
        for (position, key) in path.iter().enumerate() {
            let name = self.attr_name(key, env)?;
            let Value::Attrs(attrs) = &value else { return Ok(Value::Bool(false)) };
            match attrs.get(name) {
                // The last attribute's value is not needed, so not forced.
                Some(_) if position + 1 == path.len() => return Ok(Value::Bool(true)),
                Some(next) => {
                    let next = next.clone();
                    value = self.force(&next)?;
                }
                None => return Ok(Value::Bool(false)),
            }
        }
        Ok(Value::Bool(true))
    }

    #[inline(never)]
    fn attrs(&mut self, set: &AttrsExpr, env: &Env) -> EvalResult<Value> {
        let scope = if set.recursive { env.child(set.statics.len()) } else { env.clone() };
        let mut entries = Vec::with_capacity(set.statics.len() + set.dynamics.len());
        for (index, attr) in set.statics.iter().enumerate() {
            let value = if set.recursive {
                self.make_binding_thunk(&attr.value, &scope)
            } else {
                self.make_thunk(&attr.value, &scope)
            };
            if set.recursive {
                scope.set(index, value.clone());
            }
            entries.push(Attr { name: attr.name, value, span: Some(attr.span) });
        }
        if set.dynamics.is_empty() {
            return Ok(Value::attrs(Attrs::from_sorted(entries)));
        }
        for attr in &set.dynamics {
            let name = self.eval(&attr.name, &scope)?;
            if matches!(name, Value::Null) {
                continue;
            }
            let name = self.expect_string(&name).map_err(|e| at(e, attr.span))?;
            let name = Symbol::intern(name.as_bytes());
            if entries.iter().any(|a| a.name == name) {
                return Err(EvalError::at(ErrorKind::DuplicateDynamicAttr(name.text()), attr.span));
            }
            let value = self.make_thunk(&attr.value, &scope);
            entries.push(Attr { name, value, span: Some(attr.span) });
        }
        Ok(Value::attrs(Attrs::from_unsorted(entries)))
    }

    fn find_in_search_path(&mut self, name: &str) -> EvalResult<Value> {
        for entry in &self.options.search_path {
            let candidate = if entry.prefix.is_empty() {
                entry.path.join(name)
            } else if name == entry.prefix {
                entry.path.clone()
            } else if let Some(rest) = name.strip_prefix(&format!("{}/", entry.prefix)) {
                entry.path.join(rest)
            } else {
                continue;
            };
            if self.options.io.path_exists(&candidate) {
                let text = candidate.to_string_lossy();
                let absolute = if text.starts_with('/') {
                    canonicalize(&text)
                } else {
                    let cwd = std::env::current_dir().unwrap_or_default();
                    join(&cwd.to_string_lossy(), &text)
                };
                return Ok(Value::Path(Rc::from(absolute)));
            }
        }
        Err(EvalError::new(ErrorKind::Other(format!(
            "file '{name}' was not found in the Nix search path (add it with -I or $IMGX_PATH)"
        ))))
    }

    /// Requires a Boolean.
    pub fn expect_bool(&self, value: &Value, span: Span) -> EvalResult<bool> {
        match value {
            Value::Bool(b) => Ok(*b),
            other => Err(EvalError::at(type_error_kind("a Boolean", other), span)),
        }
    }

    /// Requires a string (not a path).
    pub fn expect_string(&self, value: &Value) -> EvalResult<Rc<NixStr>> {
        match value {
            Value::String(s) => Ok(s.clone()),
            other => Err(type_error("a string", other)),
        }
    }
}

/// The arguments of a saturated built-in call, on the stack for the usual
/// arities.
type PrimOpArgs = smallvec::SmallVec<[Value; 3]>;

/// Integer arithmetic or comparison whose operands are constants or
/// already evaluated variables, computed on the spot instead of thunked.
/// This is unobservable: the operation cannot fail, diverge or have an
/// effect, so evaluating it early gives exactly the value forcing would.
#[inline]
fn cheap_int_op(op: crate::ir::BinOp, lhs: &Expr, rhs: &Expr, env: &Env) -> Option<Value> {
    let operand = |expr: &Expr| match expr {
        Expr::Const(Value::Int(n)) => Some(*n),
        Expr::Var(slot, _) => env.lookup_int(*slot),
        _ => None,
    };
    ops::int_fast_path(op, operand(lhs)?, operand(rhs)?)
}

/// The inner lambda of a function `a: b: body` (plain first parameter,
/// body a lambda), which a call with two arguments can enter directly.
fn curried_body(function: &Value) -> Option<&Rc<LambdaExpr>> {
    match function {
        Value::Lambda(closure) => match (&closure.lambda.param, &*closure.lambda.body) {
            (Param::Ident(_), Expr::Lambda(inner)) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

/// A "value is X while Y was expected" error.
pub fn type_error(expected: &'static str, found: &Value) -> Box<EvalError> {
    EvalError::new(type_error_kind(expected, found))
}

fn type_error_kind(expected: &'static str, found: &Value) -> ErrorKind {
    ErrorKind::TypeMismatch { expected, found: found.ty().describe() }
}

/// Gives an error a place if it has none yet.
pub(crate) fn at(mut error: Box<EvalError>, span: Span) -> Box<EvalError> {
    if error.span.is_none() {
        error.span = Some(span);
    }
    error
}

fn at_opt(error: Box<EvalError>, span: Option<Span>) -> Box<EvalError> {
    match span {
        Some(span) => at(error, span),
        None => error,
    }
}

/// Adds a "while …" frame to an error.
pub(crate) fn frame(mut error: Box<EvalError>, message: String, span: Option<Span>) -> Box<EvalError> {
    if error.frames.len() < 1000 {
        error.frames.push(Frame { message, span });
    }
    error
}

fn describe_lambda(lambda: &LambdaExpr) -> String {
    match lambda.name {
        Some(name) => format!("function '{name}'"),
        None => "anonymous function".to_string(),
    }
}

pub(crate) fn io_message(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => error.to_string(),
    }
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}

impl<T> Pipe for T {}

impl Type {
    /// Whether values of this type can be ordered with `<`.
    pub fn is_ordered(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::String | Type::Path | Type::List)
    }
}
