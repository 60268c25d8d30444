//! imgx's Nix-language evaluator.
//!
//! Text goes in, values come out:
//!
//! ```text
//! source ──rnix──▶ syntax tree ──compiler──▶ ir::Expr ──eval::Vm──▶ Value ──print──▶ text
//! ```
//!
//! * [`compiler`] lowers rnix's lossless syntax tree into a small expression
//!   tree ([`ir`]) with every variable resolved to an environment slot, so
//!   evaluation never looks names up by string except through `with`.
//! * [`eval::Vm`] evaluates lazily: containers hold [`value::Thunk`]s that
//!   are forced at most once; a thunk that needs itself is reported as
//!   infinite recursion. The Rust stack grows on demand, so deep recursion
//!   in user code is bounded by `max_call_depth`, not by the thread's stack.
//! * [`builtins`] holds the built-in functions, grouped by topic.
//! * All file-system access goes through [`io::EvalIo`]; this crate never
//!   touches the store. The store layer supplies an implementation that
//!   imports interpolated paths.
//!
//! Errors are [`error::EvalError`] values that render as miette reports with
//! source snippets and the chain of frames that led to them.

pub mod builtins;
mod compiler;
pub mod error;
pub mod eval;
pub mod hash_format;
pub mod io;
pub mod ir;
pub mod path;
pub mod print;
mod regex;
pub mod source;
pub mod symbol;
pub mod value;

pub use error::{ErrorKind, EvalError, EvalResult};
pub use eval::{EvalOptions, Library, SearchPathEntry, Vm, with_evaluation_stack};
pub use io::{EvalIo, FileType, StdIo};
pub use value::Value;
