//! Run-time environments: the slots that compiled variables refer to.

use crate::ir::Slot;
use crate::value::{ThunkState, Value};
use smallvec::SmallVec;
use std::cell::RefCell;
use std::rc::Rc;

/// Slots of one frame. Most frames are a call's single argument; two slots
/// inline keep a frame at 72 bytes (four made it 104, measurably slower in
/// call-heavy code), and larger frames keep their slots on the heap.
type Slots = SmallVec<[Value; 2]>;

/// An environment frame and its parents. Cloning shares the frame.
#[derive(Clone)]
pub struct Env(Rc<EnvFrame>);

struct EnvFrame {
    slots: RefCell<Slots>,
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
        Env(Rc::new(EnvFrame { slots: RefCell::new(Slots::from_vec(slots)), parent: None }))
    }

    /// A child frame of `size` slots, all `null` until set.
    pub fn child(&self, size: usize) -> Env {
        Env(Rc::new(EnvFrame {
            slots: RefCell::new(smallvec::smallvec![Value::Null; size]),
            parent: Some(self.clone()),
        }))
    }

    /// A child frame holding one slot (a plain `x: …` function's argument,
    /// a `with`'s namespace).
    pub fn child_with_one(&self, value: Value) -> Env {
        let mut slots = Slots::new();
        slots.push(value);
        Env(Rc::new(EnvFrame { slots: RefCell::new(slots), parent: Some(self.clone()) }))
    }

    /// Sets slot `index` of this frame.
    pub fn set(&self, index: usize, value: Value) {
        self.0.slots.borrow_mut()[index] = value;
    }

    /// The frame `depth` levels up.
    pub fn ancestor(&self, depth: u32) -> &Env {
        let mut env = self;
        for _ in 0..depth {
            env = env.0.parent.as_ref().unwrap_or(env);
        }
        env
    }

    /// The value in slot `index` of this frame.
    pub fn get(&self, index: usize) -> Value {
        self.0.slots.borrow()[index].clone()
    }

    /// The value a compiled variable refers to.
    pub fn lookup(&self, slot: Slot) -> Value {
        self.ancestor(slot.depth).get(slot.index as usize)
    }

    /// The value a variable refers to if it needs no evaluation: an
    /// evaluated value, or the result of an already forced thunk.
    pub fn lookup_evaluated(&self, slot: Slot) -> Option<Value> {
        let frame = self.ancestor(slot.depth);
        let slots = frame.0.slots.borrow();
        match slots.get(slot.index as usize)? {
            Value::Thunk(thunk) => match &*thunk.0.borrow() {
                ThunkState::Done(value) => Some(value.clone()),
                _ => None,
            },
            value => Some(value.clone()),
        }
    }
}
