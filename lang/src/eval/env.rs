//! Run-time environments: the slots that compiled variables refer to.

use crate::ir::Slot;
use crate::value::Value;
use std::cell::RefCell;
use std::rc::Rc;

/// An environment frame and its parents. Cloning shares the frame.
#[derive(Clone)]
pub struct Env(Rc<EnvFrame>);

struct EnvFrame {
    slots: RefCell<Vec<Value>>,
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
        Env(Rc::new(EnvFrame { slots: RefCell::new(slots), parent: None }))
    }

    /// A child frame of `size` slots, all `null` until set.
    pub fn child(&self, size: usize) -> Env {
        Env(Rc::new(EnvFrame { slots: RefCell::new(vec![Value::Null; size]), parent: Some(self.clone()) }))
    }

    /// A child frame holding `slots`.
    pub fn child_with(&self, slots: Vec<Value>) -> Env {
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
}
