//! An evaluation session as the commands need it: the evaluator wired to
//! the store (path imports, `builtins.step`, `<imgx>`), the file to read,
//! `-A`, `--arg` and `--argstr`, and the steps the result asks for.

use crate::glue::{STEP_PRIMOPS, StepRegistry, StoreIo, step_of_value};
use imgx_builders::{Step, StepKey};
use imgx_lang::eval::SearchPathEntry;
use imgx_lang::ir::Param;
use imgx_lang::symbol::Symbol;
use imgx_lang::value::{Attr, Attrs, Value};
use imgx_lang::{ErrorKind, EvalError, EvalOptions, EvalResult, Library, StdIo, Vm};
use imgx_store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

/// What to evaluate.
pub enum Source {
    /// A file (or a directory's `default.nix`).
    File(PathBuf),
    /// An expression given on the command line.
    Expr(String),
}

impl Source {
    /// The file given, or `./default.nix`, or `./image.nix`.
    pub fn file_or_default(file: Option<PathBuf>) -> Result<Source, String> {
        if let Some(file) = file {
            return Ok(Source::File(file));
        }
        for candidate in ["default.nix", "image.nix"] {
            if Path::new(candidate).exists() {
                return Ok(Source::File(PathBuf::from(candidate)));
            }
        }
        Err("no file given, and neither ./default.nix nor ./image.nix exists".into())
    }
}

/// Arguments passed to a description that is a function (`--arg`, `--argstr`).
/// As `nix-build` does, `imgx build` calls a description that is a function
/// with formal arguments even when no argument is given (so defaults apply);
/// `imgx eval`, like `nix-instantiate --eval`, only when arguments are given.
#[derive(Default)]
pub struct AutoArgs {
    /// Call the description even without arguments.
    pub always: bool,
    /// `--arg name expr`: evaluated.
    pub exprs: Vec<(String, String)>,
    /// `--argstr name value`: passed as strings.
    pub strings: Vec<(String, String)>,
}

/// An evaluator connected to the store.
pub struct Session {
    /// The evaluator.
    pub vm: Vm,
    registry: Rc<StepRegistry>,
    store_io: Option<Rc<StoreIo>>,
}

/// The search path: `-I` flags, `$IMGX_PATH`, then `<imgx>` for the stdlib.
pub fn search_path(includes: &[String], stdlib: Option<&Path>) -> Vec<SearchPathEntry> {
    let mut entries: Vec<SearchPathEntry> = includes.iter().map(|i| SearchPathEntry::parse(i)).collect();
    if let Ok(env) = std::env::var("IMGX_PATH") {
        entries.extend(env.split(':').filter(|s| !s.is_empty()).map(SearchPathEntry::parse));
    }
    if let Some(stdlib) = stdlib {
        entries.push(SearchPathEntry { prefix: "imgx".into(), path: stdlib.to_path_buf() });
    }
    entries
}

impl Session {
    /// A session; with a store, interpolated paths are imported into it.
    pub fn new(includes: &[String], store: Option<Arc<Store>>, stdlib: Option<&Path>) -> Session {
        let store_io = store.map(|store| Rc::new(StoreIo::new(store)));
        let io: Rc<dyn imgx_lang::EvalIo> = match &store_io {
            Some(store_io) => store_io.clone(),
            None => Rc::new(StdIo),
        };
        let registry = Rc::new(StepRegistry::default());
        let mut options = EvalOptions::new(io);
        options.search_path = search_path(includes, stdlib);
        // Errors raised inside the bundled library are the caller's mistake.
        options.libraries =
            stdlib.map(|dir| Library { dir: dir.to_path_buf(), name: Rc::from("stdlib") }).into_iter().collect();
        options.extra_primops = STEP_PRIMOPS.to_vec();
        options.host = Some(registry.clone());
        Session { vm: Vm::new(options), registry, store_io }
    }

    /// What the evaluation observed of files and the environment (with a store).
    pub fn observations(&self) -> Vec<crate::evalcache::Observation> {
        self.store_io.as_ref().map(|io| io.observations()).unwrap_or_default()
    }

    /// Evaluates the source, calls it with the auto-arguments if it is a
    /// function, and selects `attr`.
    pub fn evaluate(&mut self, source: &Source, attr: Option<&str>, auto_args: &AutoArgs) -> EvalResult<Value> {
        let cwd = std::env::current_dir()
            .map_err(|e| EvalError::new(ErrorKind::Other(format!("cannot read the current directory: {e}"))))?;
        let value = match source {
            Source::Expr(expr) => self.vm.eval_source("«string»", expr, &cwd)?,
            Source::File(file) => {
                let path = if file.is_absolute() { file.clone() } else { cwd.join(file) };
                self.vm.import_file(&path.to_string_lossy())?
            }
        };
        let value = self.auto_call(value, auto_args, &cwd)?;
        self.select(value, attr)
    }

    fn auto_call(&mut self, value: Value, auto_args: &AutoArgs, cwd: &Path) -> EvalResult<Value> {
        let value = self.vm.force(&value)?;
        if !auto_args.always && auto_args.exprs.is_empty() && auto_args.strings.is_empty() {
            return Ok(value);
        }
        let Value::Lambda(closure) = &value else { return Ok(value) };
        let Param::Formals { formals, ellipsis, .. } = &closure.lambda.param else { return Ok(value) };
        let mut entries = Vec::new();
        for (name, expr) in &auto_args.exprs {
            let argument = self.vm.eval_source(&format!("«--arg {name}»"), expr, cwd)?;
            entries.push(Attr { name: Symbol::from_str(name), value: argument, span: None });
        }
        for (name, text) in &auto_args.strings {
            entries.push(Attr { name: Symbol::from_str(name), value: Value::string(text), span: None });
        }
        if !*ellipsis {
            entries.retain(|attr| formals.iter().any(|f| f.name == attr.name));
        }
        let arguments = Value::attrs(Attrs::from_unsorted(entries));
        let result = self.vm.call(value.clone(), arguments, None)?;
        self.vm.force(&result)
    }

    fn select(&mut self, mut value: Value, path: Option<&str>) -> EvalResult<Value> {
        let Some(path) = path else { return Ok(value) };
        for name in path.split('.').filter(|s| !s.is_empty()) {
            let attrs = self.vm.force_attrs(&value)?;
            value = match attrs.get_str(name) {
                Some(next) => self.vm.force(&next.clone())?,
                None => {
                    let names: Vec<String> = attrs.iter().map(|a| a.name.text()).collect();
                    let suggestion = imgx_lang::error::suggest(name, names.iter().map(String::as_str));
                    return Err(EvalError::new(ErrorKind::AttrMissing { name: name.to_string(), suggestion }));
                }
            };
        }
        Ok(value)
    }

    /// The steps a value asks to build: the value itself if it is a step,
    /// else the steps among a list's elements or a set's attributes.
    pub fn targets(&mut self, value: &Value) -> EvalResult<Vec<StepKey>> {
        if let Some(key) = step_of_value(&mut self.vm, value)? {
            return Ok(vec![key]);
        }
        let members: Vec<Value> = match self.vm.force(value)? {
            Value::List(items) => items.iter().cloned().collect(),
            Value::Attrs(attrs) => attrs.iter().map(|a| a.value.clone()).collect(),
            other => {
                return Err(EvalError::new(ErrorKind::Other(format!(
                    "the description evaluates to {}, not to a step, a list of steps or a set of steps",
                    other.ty().describe()
                ))));
            }
        };
        let mut targets = Vec::new();
        for member in members {
            if let Some(key) = step_of_value(&mut self.vm, &member)? {
                targets.push(key);
            }
        }
        if targets.is_empty() {
            return Err(EvalError::new(ErrorKind::Other("the description contains no steps to build".into())));
        }
        Ok(targets)
    }

    /// Every step the evaluation created.
    pub fn steps(&self) -> BTreeMap<StepKey, Step> {
        self.registry.all()
    }
}
