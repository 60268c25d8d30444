//! Evaluation errors and their rendering as miette diagnostics.

use crate::source::{SourceMap, Span};
use crate::symbol::Symbol;
use miette::{Diagnostic, NamedSource, SourceSpan};
use std::rc::Rc;

/// What went wrong. Each variant's message is written for the person who
/// wrote the Nix code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ErrorKind {
    /// The text does not parse.
    #[error("syntax error, {0}")]
    Syntax(String),
    /// A variable that no scope binds.
    #[error("undefined variable '{0}'")]
    UndefinedVariable(Symbol),
    /// An integer literal outside the 64-bit range.
    #[error("invalid integer '{0}': it does not fit in 64 bits")]
    InvalidInteger(String),
    /// `let ${x} = …;`
    #[error("dynamic attributes not allowed in let")]
    DynamicInLet,
    /// `inherit ${x};`
    #[error("dynamic attributes not allowed in inherit")]
    DynamicInInherit,
    /// The same attribute defined twice.
    #[error("attribute '{0}' already defined")]
    DuplicateAttr(String),
    /// A computed attribute name that is already defined.
    #[error("dynamic attribute '{0}' already defined")]
    DuplicateDynamicAttr(String),
    /// `throw msg`.
    #[error("{0}")]
    Throw(String),
    /// `abort msg`.
    #[error("evaluation aborted with the following error message: '{0}'")]
    Abort(String),
    /// An `assert` whose condition is false.
    #[error("assertion '{0}' failed")]
    AssertionFailed(String),
    /// A value that needs itself to be computed.
    #[error("infinite recursion encountered")]
    InfiniteRecursion,
    /// Selecting an attribute the set does not have.
    #[error("attribute '{name}' missing{}", suggestion_text(.suggestion))]
    AttrMissing {
        /// The missing name.
        name: String,
        /// A close existing name, if any.
        suggestion: Option<String>,
    },
    /// A value of the wrong type.
    #[error("value is {found} while {expected} was expected")]
    TypeMismatch {
        /// What was needed, e.g. "a set".
        expected: &'static str,
        /// What was found, e.g. "a list".
        found: &'static str,
    },
    /// Calling something that is not a function.
    #[error("attempt to call something which is not a function but {0}")]
    NotAFunction(&'static str),
    /// A required formal argument not supplied.
    #[error("{function} called without required argument '{name}'")]
    MissingArgument {
        /// The function, e.g. "function 'f'".
        function: String,
        /// The missing argument.
        name: String,
    },
    /// An argument the function does not accept.
    #[error("{function} called with unexpected argument '{name}'{}", suggestion_text(.suggestion))]
    UnexpectedArgument {
        /// The function, e.g. "function 'f'".
        function: String,
        /// The unexpected argument.
        name: String,
        /// A close accepted name, if any.
        suggestion: Option<String>,
    },
    /// 64-bit integer overflow.
    #[error("integer overflow in {0}")]
    IntegerOverflow(String),
    /// Division by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// A value that cannot become a string.
    #[error("cannot coerce {0} to a string")]
    CannotCoerce(&'static str),
    /// Ordering values that have no order.
    #[error("cannot compare {0} with {1}")]
    Incomparable(&'static str, &'static str),
    /// Too deep a recursion to continue.
    #[error("stack overflow: the evaluation is nested more than {0} calls deep (possible infinite recursion)")]
    StackOverflow(usize),
    /// A file that could not be read.
    #[error("{action} '{path}': {message}")]
    Io {
        /// What was being done ("reading", "opening directory").
        action: &'static str,
        /// The path involved.
        path: String,
        /// The system's message.
        message: String,
    },
    /// Anything else, in plain words.
    #[error("{0}")]
    Other(String),
}

fn suggestion_text(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(name) => format!("; did you mean '{name}'?"),
        None => String::new(),
    }
}

/// A static error found while compiling a file.
#[derive(Debug, Clone)]
pub struct CompileError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Where.
    pub span: Span,
}

/// One step of the chain that led to an error ("while calling 'f'").
#[derive(Debug, Clone)]
pub struct Frame {
    /// The description, starting with "while".
    pub message: String,
    /// Where it happened, if known.
    pub span: Option<Span>,
}

/// An evaluation error: its kind, where it happened, and how evaluation got there.
#[derive(Debug, Clone)]
pub struct EvalError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where it went wrong.
    pub span: Option<Span>,
    /// The frames leading to it, innermost first.
    pub frames: Vec<Frame>,
    /// Further errors reported together with this one (all parse errors of a file).
    pub also: Vec<CompileError>,
}

/// The result of anything that evaluates.
pub type EvalResult<T> = Result<T, Box<EvalError>>;

/// How many frames a report shows before summarising the rest.
const MAX_FRAMES_SHOWN: usize = 12;

impl EvalError {
    /// A new error without a place; callers up the stack add one.
    pub fn new(kind: ErrorKind) -> Box<EvalError> {
        Box::new(EvalError { kind, span: None, frames: Vec::new(), also: Vec::new() })
    }

    /// An error at a place.
    pub fn at(kind: ErrorKind, span: Span) -> Box<EvalError> {
        Box::new(EvalError { kind, span: Some(span), frames: Vec::new(), also: Vec::new() })
    }

    /// All compile errors of a file as one error.
    pub fn from_compile(mut errors: Vec<CompileError>) -> Box<EvalError> {
        let first = errors.remove(0);
        Box::new(EvalError { kind: first.kind, span: Some(first.span), frames: Vec::new(), also: errors })
    }

    /// Whether `builtins.tryEval` catches this error (only `throw` and failed assertions).
    pub fn is_catchable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throw(_) | ErrorKind::AssertionFailed(_))
    }

    /// Renders the error as a miette report with source snippets.
    pub fn to_report(&self, sources: &SourceMap) -> miette::Report {
        miette::Report::new(self.render(sources))
    }

    /// Where a report points: the error's own place, unless that is inside
    /// a library and a frame of the user's code led there; then the
    /// innermost such frame (the user's call), with the library's place
    /// returned as well.
    fn placement(&self, sources: &SourceMap) -> (Option<Span>, Option<(Rc<str>, Span)>) {
        if let Some(span) = self.span
            && let Some(library) = sources.library_of(span)
            && let Some(user) = self.frames.iter().filter_map(|f| f.span).find(|s| sources.library_of(*s).is_none())
        {
            return (Some(user), Some((library, span)));
        }
        (self.span, None)
    }

    fn render(&self, sources: &SourceMap) -> Rendered {
        let related: Vec<Rendered> =
            self.also.iter().map(|e| snippet(sources, e.kind.to_string(), Some(e.span), None)).collect();
        let (primary, library) = self.placement(sources);
        let mut notes: Vec<String> = Vec::new();
        if let Some((name, span)) = library {
            notes.push(format!("raised in the {name} at {}", location(sources, span)));
        }
        let mut previous: Option<&Frame> = None;
        let mut shown = 0;
        let mut hidden = 0;
        for frame in &self.frames {
            // Consecutive identical frames (deep recursion) are shown once.
            if previous.is_some_and(|f| f.message == frame.message && f.span == frame.span) {
                continue;
            }
            previous = Some(frame);
            if shown == MAX_FRAMES_SHOWN {
                hidden += 1;
                continue;
            }
            shown += 1;
            notes.push(match frame.span {
                Some(span) => format!("{}\n    at {}", frame.message, location(sources, span)),
                None => frame.message.clone(),
            });
        }
        if hidden > 0 {
            notes.push(format!("… and {hidden} more frames"));
        }
        if let ErrorKind::InfiniteRecursion = self.kind {
            notes.push("a value depends on itself; look for a binding that refers to its own name".to_string());
        }
        let help = if notes.is_empty() { None } else { Some(notes.join("\n")) };
        let mut rendered = snippet(sources, self.kind.to_string(), primary, help);
        rendered.related = related;
        rendered
    }

    /// The error as plain text: message, place, frames (for logs and tests).
    pub fn to_plain_text(&self, sources: &SourceMap) -> String {
        let mut text = format!("error: {}", self.kind);
        let (primary, library) = self.placement(sources);
        if let Some(span) = primary {
            text.push_str(&format!("\n  at {}", location(sources, span)));
        }
        if let Some((name, span)) = library {
            text.push_str(&format!("\n  raised in the {name} at {}", location(sources, span)));
        }
        for frame in &self.frames {
            text.push_str(&format!("\n  {}", frame.message));
        }
        text
    }
}

/// `file:line:column` of a span.
fn location(sources: &SourceMap, span: Span) -> String {
    let file = sources.get(span.file);
    let (line, column) = sources.line_column(span.file, span.start);
    format!("{}:{line}:{column}", file.name)
}

fn snippet(sources: &SourceMap, message: String, span: Option<Span>, help: Option<String>) -> Rendered {
    let (source, label) = match span {
        Some(span) => {
            let file = sources.get(span.file);
            let len = (span.end.saturating_sub(span.start)) as usize;
            (
                Some(NamedSource::new(file.name.clone(), file.text.to_string())),
                Some(SourceSpan::new((span.start as usize).into(), len)),
            )
        }
        None => (None, None),
    };
    Rendered { message, code: source, label, help, related: Vec::new() }
}

/// An error prepared for miette.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
struct Rendered {
    message: String,
    #[source_code]
    code: Option<NamedSource<String>>,
    #[label("here")]
    label: Option<SourceSpan>,
    #[help]
    help: Option<String>,
    #[related]
    related: Vec<Rendered>,
}

/// The closest of `candidates` to `name` by edit distance, if close enough
/// to be a plausible typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    if name.chars().count() < 3 {
        return None;
    }
    let limit = name.chars().count().div_ceil(3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c.to_string())
}

/// Edit distance counting insertions, deletions, substitutions and
/// transpositions of neighbours (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut table = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[i - 1][j] + 1).min(table[i][j - 1] + 1).min(table[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_but_not_unrelated_names() {
        assert_eq!(suggest("alpah", ["alpha", "beta"]), Some("alpha".to_string()));
        assert_eq!(suggest("pkgs", ["pkg", "lib"]), Some("pkg".to_string()));
        assert_eq!(suggest("x", ["y"]), None);
        assert_eq!(suggest("version", ["name", "src"]), None);
    }
}

#[cfg(test)]
mod library_tests {
    use crate::eval::{EvalOptions, Library, Vm};
    use crate::io::StdIo;
    use std::rc::Rc;

    /// Evaluates `user` (a file next to a library folder `lib` holding
    /// `library`) and returns the plain-text error.
    fn failure(name: &str, library: &str, user: &str) -> (String, String) {
        let dir = std::env::temp_dir().join(format!("imgx-lang-library-{}-{name}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).expect("folders");
        std::fs::write(dir.join("lib/default.nix"), library).expect("library");
        std::fs::write(dir.join("user.nix"), user).expect("user file");
        let mut options = EvalOptions::new(Rc::new(StdIo));
        options.libraries = vec![Library { dir: dir.join("lib"), name: Rc::from("testlib") }];
        let mut vm = Vm::new(options);
        let error = vm.import_file(&dir.join("user.nix").to_string_lossy()).expect_err("the call fails");
        let text = error.to_plain_text(&vm.sources);
        let _ = std::fs::remove_dir_all(&dir);
        (text, dir.display().to_string())
    }

    #[test]
    fn an_argument_error_inside_a_library_is_reported_at_the_users_call() {
        let (text, dir) = failure(
            "arguments",
            "rec { outer = args: inner args; inner = { a }: a; }\n",
            "let lib = import ./lib; in\n  lib.outer { b = 1; }\n",
        );
        assert!(text.contains("unexpected argument 'b'"), "{text}");
        assert!(text.contains(&format!("\n  at {dir}/user.nix:2:3\n")), "{text}");
        assert!(text.contains(&format!("raised in the testlib at {dir}/lib/default.nix:1:21")), "{text}");
    }

    #[test]
    fn an_error_in_the_users_own_code_keeps_its_place() {
        let (text, dir) =
            failure("own", "{ apply = f: f 1; }\n", "let lib = import ./lib; in\n  lib.apply (x: x + \"a\")\n");
        assert!(text.contains(&format!("\n  at {dir}/user.nix:2:17")), "{text}");
        assert!(!text.contains("raised in"), "{text}");
    }
}
