//! Run-time environments: the slots that compiled variables refer to.

use crate::ir::Slot;
use crate::value::Value;
use smallvec::SmallVec;
use std::cell::OnceCell;
use std::rc::Rc;

/// Slots of one frame. Most frames are a call's single argument; two slots
/// inline keep a frame at 48 bytes (four made it larger and measurably
/// slower in call-heavy code), and larger frames keep their slots on the
/// heap. Each slot is set once, right after the frame is made (`let` and
/// `rec` bindings refer to their own frame, so it must exist first); a
/// set-once cell is read without a borrow flag to update.
type Slots = SmallVec<[OnceCell<Value>; 2]>;

/// An environment frame and its parents. Cloning shares the frame.
#[derive(Clone)]
pub struct Env(Rc<EnvFrame>);

struct EnvFrame {
    slots: Slots,
    parent: Option<Env>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env(..)")
    }
}

impl Env {
    /// The outermost environment, holding `slots`.
    pub fn root(slots: Vec<Value>) -> Env {
        Env(Rc::new(EnvFrame { slots: slots.into_iter().map(OnceCell::from).collect(), parent: None }))
    }

    /// A child frame of `size` slots, each to be set once with [`Env::set`].
    pub fn child(&self, size: usize) -> Env {
        let mut slots = Slots::new();
        slots.resize_with(size, OnceCell::new);
        Env(Rc::new(EnvFrame { slots, parent: Some(self.clone()) }))
    }

    /// A child frame holding one slot (a plain `x: …` function's argument,
    /// a `with`'s namespace).
    pub fn child_with_one(&self, value: Value) -> Env {
        let mut slots = Slots::new();
        slots.push(OnceCell::from(value));
        Env(Rc::new(EnvFrame { slots, parent: Some(self.clone()) }))
    }

    /// Sets slot `index` of this frame, which must not be set yet.
    pub fn set(&self, index: usize, value: Value) {
        let first = self.0.slots[index].set(value).is_ok();
        debug_assert!(first, "environment slot {index} set twice");
    }

    /// The frame `depth` levels up.
    pub fn ancestor(&self, depth: u32) -> &Env {
        let mut env = self;
        for _ in 0..depth {
            env = env.0.parent.as_ref().unwrap_or(env);
        }
        env
    }

    /// The value in slot `index` of this frame (`null` while not set).
    pub fn get(&self, index: usize) -> Value {
        self.0.slots[index].get().cloned().unwrap_or(Value::Null)
    }

    /// The value a compiled variable refers to.
    pub fn lookup(&self, slot: Slot) -> Value {
        self.ancestor(slot.depth).get(slot.index as usize)
    }

    /// The value a variable refers to if it needs no evaluation: an
    /// evaluated value, or the result of an already forced thunk. Inlined
    /// into its callers: it is the most frequent step of evaluation.
    #[inline(always)]
    pub fn lookup_evaluated(&self, slot: Slot) -> Option<Value> {
        let frame = self.ancestor(slot.depth);
        match frame.0.slots.get(slot.index as usize)?.get()? {
            Value::Thunk(thunk) => thunk.value().cloned(),
            value => Some(value.clone()),
        }
    }

    /// The integer a variable refers to if it is one and needs no
    /// evaluation, read in place (arithmetic operands, `toString` of an
    /// integer), with no copy of the value to make and drop.
    #[inline(always)]
    pub fn lookup_int(&self, slot: Slot) -> Option<i64> {
        let frame = self.ancestor(slot.depth);
        match frame.0.slots.get(slot.index as usize)?.get()? {
            Value::Int(n) => Some(*n),
            Value::Thunk(thunk) => match thunk.value()? {
                Value::Int(n) => Some(*n),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    /// One frame is allocated per call: its size is part of every call.
    #[test]
    fn a_frame_with_two_inline_slots_is_six_words() {
        assert_eq!(std::mem::size_of::<super::EnvFrame>(), 48);
    }
}
