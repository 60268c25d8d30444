//! Growing the Rust stack for recursion that user code drives, at the cost
//! of one comparison when there is room.
//!
//! Every function call and every forced thunk may recurse. Asking `stacker`
//! each time how much stack remains costs a thread-local lookup and a call
//! into assembly; instead the evaluator remembers a range of stack
//! addresses known to be safe (inside the current stack segment, above its
//! red zone) and compares the address of a local variable with it. Only
//! outside that range does it ask `stacker`, which either reports room (the
//! range is then widened or learned anew: the stack may have moved to a
//! segment that other code added) or runs the rest on a new segment.

use super::Vm;

/// Stack that must remain before evaluating a function body or a thunk:
/// enough for the deepest expression nesting the parser accepts.
const STACK_RED_ZONE: usize = 1024 * 1024;

/// How much stack to add when the red zone is reached.
const STACK_SEGMENT: usize = 16 * 1024 * 1024;

/// Stack addresses `low..low + span` seen to be in one stack segment with at
/// least [`STACK_RED_ZONE`] bytes below them. Empty (`span` 0) until the
/// first check learns it, and again on entering a new segment.
#[derive(Clone, Copy, Default)]
pub(super) struct SafeStack {
    low: usize,
    span: usize,
}

impl Vm {
    /// Runs `f` with at least [`STACK_RED_ZONE`] bytes of stack.
    #[inline(always)]
    pub(super) fn with_stack<R>(&mut self, f: impl FnOnce(&mut Vm) -> R) -> R {
        let marker = 0u8;
        let position = std::ptr::addr_of!(marker) as usize;
        if position.wrapping_sub(self.safe_stack.low) < self.safe_stack.span {
            f(self)
        } else {
            self.with_stack_slow(position, f)
        }
    }

    #[cold]
    #[inline(never)]
    fn with_stack_slow<R>(&mut self, position: usize, f: impl FnOnce(&mut Vm) -> R) -> R {
        match stacker::remaining_stack() {
            Some(remaining) if remaining > STACK_RED_ZONE => {
                // The stack grows downwards on every platform imgx runs on.
                let low = position.saturating_sub(remaining) + STACK_RED_ZONE;
                let known = self.safe_stack;
                let top = if known.low == low { (known.low + known.span).max(position + 1) } else { position + 1 };
                self.safe_stack = SafeStack { low, span: top - low };
                f(self)
            }
            _ => {
                let outer = std::mem::take(&mut self.safe_stack);
                let mut result = None;
                stacker::grow(STACK_SEGMENT, || result = Some(f(self)));
                self.safe_stack = outer;
                result.unwrap_or_else(|| unreachable!("stacker::grow runs the closure"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::{EvalOptions, Vm};
    use crate::io::StdIo;
    use crate::value::Value;
    use std::path::Path;
    use std::rc::Rc;

    /// Evaluates `text` on a thread with a 2 MiB stack, to an integer.
    fn eval_on_small_stack(text: &'static str) -> Result<i64, String> {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let mut vm = Vm::new(EvalOptions::new(Rc::new(StdIo)));
                let value = vm.eval_source("<test>", text, Path::new("/")).map_err(|e| format!("{:?}", e.kind))?;
                match value {
                    Value::Int(n) => Ok(n),
                    other => Err(format!("{other:?}")),
                }
            })
            .expect("thread starts")
            .join()
            .expect("no panic")
    }

    /// A deep recursion runs on many segments the evaluator adds and leaves.
    #[test]
    fn deep_recursion_on_a_small_thread_stack_grows_segments() {
        let text = "let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 20000";
        assert_eq!(eval_on_small_stack(text), Ok(20000));
    }

    /// `deepSeq` grows the stack itself; thunks forced on its segments are
    /// checked against those segments, not the one the evaluator knew.
    #[test]
    fn recursion_inside_segments_added_by_other_code() {
        let text = "let deep = n: if n == 0 then [] else [ (deep (n - 1)) ]; \
                    f = n: if n == 0 then 0 else 1 + f (n - 1); \
                    nest = n: if n == 0 then [ (f 3000) ] else [ (nest (n - 1)) ]; \
                    in builtins.deepSeq [ (deep 3000) (nest 3000) ] 1";
        assert_eq!(eval_on_small_stack(text), Ok(1));
    }
}
