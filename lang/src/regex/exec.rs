//! Matching: a memoised replay of libstdc++'s depth-first (`__dfs_mode`)
//! executor in POSIX mode.
//!
//! libstdc++ explores paths depth-first: an alternative tries both branches,
//! a greedy repeat tries one more round and leaves the loop only if that
//! round reached no accepting state, and a loop body may be entered at most
//! twice at the same input position. Each accepting state reached replaces
//! the recorded result only if it ends strictly further. So the result is the
//! first path, in exploration order, among those ending furthest.
//!
//! The outcome of exploring a state therefore depends only on the state, the
//! position, and which loops were already entered at this position on the
//! current path (the "context"). Positions only grow along a path, so the
//! outcomes at position `p` need only those at `p + 1` with an empty context:
//! they are computed from the end of the input backwards, each position with
//! an explicit stack instead of recursion. Captures are kept as shared lists
//! of events, so no outcome is ever copied.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::rc::Rc;

use super::compile::{NONE, Op, Program};

/// A fast hasher for the small integer keys used here (FxHash-style).
#[derive(Default)]
struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A group boundary on a path, linked towards the accepting state.
struct Event {
    group: u32,
    is_end: bool,
    pos: usize,
    next: Events,
}

type Events = Option<Rc<Event>>;

impl Drop for Event {
    /// Unlinks long lists iteratively, so dropping cannot overflow the stack.
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(rc) = next {
            match Rc::try_unwrap(rc) {
                Ok(mut event) => next = event.next.take(),
                Err(_) => break,
            }
        }
    }
}

/// An accepting path: where it ends and the group boundaries it crossed.
#[derive(Clone)]
pub(super) struct Found {
    pub(super) end: usize,
    events: Events,
}

impl Found {
    /// The captures as libstdc++ leaves them: for each group (group 0 first),
    /// the last start and end recorded on the path.
    pub(super) fn captures(&self, groups: usize) -> Vec<Option<Range<usize>>> {
        let mut starts = vec![None; groups];
        let mut ends = vec![None; groups];
        let mut cursor = self.events.as_deref();
        while let Some(event) = cursor {
            let group = event.group as usize;
            if event.is_end {
                if let Some(end) = ends.get_mut(group) {
                    *end = Some(event.pos);
                }
            } else if let Some(start) = starts.get_mut(group) {
                *start = Some(event.pos);
            }
            cursor = event.next.as_deref();
        }
        starts.into_iter().zip(ends).map(|(start, end)| Some(start?..end?)).collect()
    }
}

/// The result of exploring from one state: `None` if no accepting state was
/// reached (libstdc++'s `_M_has_sol` stays false).
type Outcome = Option<Found>;

/// Prefers the later outcome only if it ends strictly further.
fn first_longest(first: Outcome, second: Outcome) -> Outcome {
    match (first, second) {
        (Some(a), Some(b)) if b.end > a.end => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    }
}

/// Sets of loops entered at the current position on the current path, each
/// with its entry count (1 or 2), interned as small ids. Id 0 is empty.
struct Contexts {
    lists: Vec<Vec<(u32, u8)>>,
    ids: FastMap<Vec<(u32, u8)>, u32>,
    bumped: FastMap<(u32, u32), u32>,
    restricted: FastMap<(u32, u32), u32>,
}

impl Contexts {
    fn new() -> Contexts {
        let mut ids = FastMap::default();
        ids.insert(Vec::new(), 0);
        Contexts { lists: vec![Vec::new()], ids, bumped: FastMap::default(), restricted: FastMap::default() }
    }

    /// Forgets every context but the empty one if many have piled up.
    /// Contexts mean the same at every position, so they are otherwise kept.
    fn trim(&mut self) {
        if self.lists.len() > 1 << 16 {
            self.lists.truncate(1);
            self.ids.retain(|_, id| *id == 0);
            self.bumped.clear();
            self.restricted.clear();
        }
    }

    /// How often loop `node` was entered in context `ctx`.
    fn count(&self, ctx: u32, node: u32) -> u8 {
        let list = &self.lists[ctx as usize];
        match list.binary_search_by_key(&node, |entry| entry.0) {
            Ok(i) => list[i].1,
            Err(_) => 0,
        }
    }

    /// The context after entering loop `node` once more.
    fn bump(&mut self, ctx: u32, node: u32) -> u32 {
        if let Some(&id) = self.bumped.get(&(ctx, node)) {
            return id;
        }
        let mut list = self.lists[ctx as usize].clone();
        match list.binary_search_by_key(&node, |entry| entry.0) {
            Ok(i) => list[i].1 += 1,
            Err(i) => list.insert(i, (node, 1)),
        }
        let id = self.intern(list);
        self.bumped.insert((ctx, node), id);
        id
    }

    /// The part of `ctx` that can still matter in the cycle `cycle` (see
    /// `Program::cycle`): a loop entry is consulted again at this position
    /// only if the path can come back to it, which needs a common cycle.
    fn restrict(&mut self, ctx: u32, cycle: u32, cycles: &[u32]) -> u32 {
        if ctx == 0 || cycle == NONE {
            return 0;
        }
        if let Some(&id) = self.restricted.get(&(ctx, cycle)) {
            return id;
        }
        let list: Vec<(u32, u8)> = self.lists[ctx as usize]
            .iter()
            .filter(|entry| cycles.get(entry.0 as usize) == Some(&cycle))
            .copied()
            .collect();
        let id = self.intern(list);
        self.restricted.insert((ctx, cycle), id);
        id
    }

    fn intern(&mut self, list: Vec<(u32, u8)>) -> u32 {
        if let Some(&id) = self.ids.get(&list) {
            return id;
        }
        let id = u32::try_from(self.lists.len()).unwrap_or(u32::MAX);
        self.ids.insert(list.clone(), id);
        self.lists.push(list);
        id
    }
}

/// Outcomes already computed at one position.
#[derive(Default)]
struct Memo {
    plain: Vec<Option<Outcome>>,
    touched: Vec<u32>,
    in_context: FastMap<(u32, u32), Outcome>,
}

impl Memo {
    fn with_states(count: usize) -> Memo {
        Memo { plain: vec![None; count], ..Memo::default() }
    }

    fn clear(&mut self) {
        for id in self.touched.drain(..) {
            self.plain[id as usize] = None;
        }
        self.in_context.clear();
    }

    fn get(&self, state: u32, ctx: u32) -> Option<&Outcome> {
        if ctx == 0 { self.plain.get(state as usize)?.as_ref() } else { self.in_context.get(&(state, ctx)) }
    }

    fn put(&mut self, state: u32, ctx: u32, outcome: &Outcome) {
        if ctx != 0 {
            self.in_context.insert((state, ctx), outcome.clone());
        } else if let Some(slot) = self.plain.get_mut(state as usize) {
            if slot.is_none() {
                self.touched.push(state);
            }
            *slot = Some(outcome.clone());
        }
    }
}

/// A pending step of the depth-first exploration.
enum Frame {
    /// Waiting for the path after a group boundary.
    Boundary { state: u32, ctx: u32, group: u32, is_end: bool },
    /// Waiting for the left branch of an alternative.
    Left { state: u32, ctx: u32 },
    /// Waiting for the right branch, with the left one's outcome.
    Right { state: u32, ctx: u32, left: Outcome },
    /// Waiting for one more round of a loop.
    More { state: u32, ctx: u32 },
    /// Waiting for the path leaving a loop.
    Less { state: u32, ctx: u32 },
}

enum Step {
    Call(u32, u32),
    Return(Outcome),
}

/// What an accepting state at the current position counts as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AcceptRule {
    /// Any accepting state (`regex_search`).
    Anywhere,
    /// Only at the end of the input (`regex_match`).
    AtEnd,
    /// Not at the current position (`match_not_null` when searching from it).
    NotHere,
}

/// One backward sweep over the input.
struct Sweep<'a> {
    program: &'a Program,
    input: &'a [u8],
    rule: AcceptRule,
    pos: usize,
    /// Outcomes at `pos + 1`, empty context.
    ahead: Memo,
    /// Outcomes at `pos`.
    here: Memo,
    /// Outcomes at `pos` for a not-null attempt.
    scratch: Memo,
    contexts: Contexts,
    frames: Vec<Frame>,
}

impl<'a> Sweep<'a> {
    fn new(program: &'a Program, input: &'a [u8], rule: AcceptRule) -> Sweep<'a> {
        let states = program.states.len();
        Sweep {
            program,
            input,
            rule,
            pos: input.len(),
            ahead: Memo::with_states(states),
            here: Memo::with_states(states),
            scratch: Memo::with_states(states),
            contexts: Contexts::new(),
            frames: Vec::new(),
        }
    }

    /// Moves to position `pos` (one before the previous one, or the end) and
    /// computes the outcomes of `roots`, the states the byte before `pos`
    /// can lead to.
    fn enter(&mut self, pos: usize, roots: &[u32]) {
        std::mem::swap(&mut self.ahead, &mut self.here);
        self.here.clear();
        self.contexts.trim();
        self.pos = pos;
        for &root in roots {
            let mut memo = std::mem::take(&mut self.here);
            self.explore(root, self.rule, &mut memo);
            self.here = memo;
        }
    }

    /// Explores from the start state at the current position.
    fn start(&mut self, not_null: bool) -> Outcome {
        if not_null {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            let outcome = self.explore(0, AcceptRule::NotHere, &mut scratch);
            self.scratch = scratch;
            return outcome;
        }
        let mut memo = std::mem::take(&mut self.here);
        let outcome = self.explore(0, self.rule, &mut memo);
        self.here = memo;
        outcome
    }

    /// The depth-first exploration from `root`, memoised in `memo`.
    fn explore(&mut self, root: u32, rule: AcceptRule, memo: &mut Memo) -> Outcome {
        let base = self.frames.len();
        let mut step = Step::Call(root, 0);
        loop {
            step = match step {
                Step::Call(state, ctx) => self.call(state, ctx, rule, memo),
                Step::Return(outcome) if self.frames.len() == base => {
                    // The root may be a state that is not memoised on the way.
                    memo.put(root, 0, &outcome);
                    return outcome;
                }
                Step::Return(outcome) => match self.frames.pop() {
                    Some(frame) => self.resume(frame, outcome, memo),
                    None => return outcome,
                },
            }
        }
    }

    /// Starts exploring `state` in context `ctx`.
    fn call(&mut self, id: u32, ctx: u32, rule: AcceptRule, memo: &Memo) -> Step {
        let Some(state) = self.program.states.get(id as usize) else {
            return Step::Return(None);
        };
        let at_end = self.pos == self.input.len();
        // These do not depend on the context: no need to look it up.
        match &state.op {
            Op::Match(bytes) => {
                let outcome = match self.input.get(self.pos) {
                    Some(&b) if bytes.contains(b) => self.ahead.get(state.next, 0).cloned().flatten(),
                    _ => None,
                };
                return Step::Return(outcome);
            }
            Op::Accept => return Step::Return(self.accept(rule, at_end)),
            _ => {}
        }
        let cycle = self.program.cycle.get(id as usize).copied().unwrap_or(NONE);
        let ctx = self.contexts.restrict(ctx, cycle, &self.program.cycle);
        if let Some(outcome) = memo.get(id, ctx) {
            return Step::Return(outcome.clone());
        }
        match &state.op {
            Op::Match(_) | Op::Accept => Step::Return(None),
            Op::LineBegin if self.pos != 0 => Step::Return(None),
            Op::LineEnd if !at_end => Step::Return(None),
            Op::LineBegin | Op::LineEnd | Op::Dummy => Step::Call(state.next, ctx),
            Op::GroupStart(group) | Op::GroupEnd(group) => {
                self.frames.push(Frame::Boundary {
                    state: id,
                    ctx,
                    group: *group,
                    is_end: matches!(state.op, Op::GroupEnd(_)),
                });
                Step::Call(state.next, ctx)
            }
            Op::Alternative => {
                self.frames.push(Frame::Left { state: id, ctx });
                Step::Call(state.alt, ctx)
            }
            Op::Repeat => {
                if self.contexts.count(ctx, id) >= 2 {
                    return Step::Call(state.next, ctx);
                }
                let inner = self.contexts.bump(ctx, id);
                self.frames.push(Frame::More { state: id, ctx });
                Step::Call(state.alt, inner)
            }
        }
    }

    /// Continues a pending frame with the outcome of its child.
    fn resume(&mut self, frame: Frame, outcome: Outcome, memo: &mut Memo) -> Step {
        let (state, ctx, outcome) = match frame {
            Frame::Boundary { state, ctx, group, is_end } => {
                let pos = self.pos;
                let outcome = outcome.map(|found| Found {
                    end: found.end,
                    events: Some(Rc::new(Event { group, is_end, pos, next: found.events })),
                });
                (state, ctx, outcome)
            }
            Frame::Left { state, ctx } => {
                self.frames.push(Frame::Right { state, ctx, left: outcome });
                return Step::Call(self.next_of(state), ctx);
            }
            Frame::Right { state, ctx, left } => (state, ctx, first_longest(left, outcome)),
            Frame::More { state, ctx } => {
                if outcome.is_none() {
                    self.frames.push(Frame::Less { state, ctx });
                    return Step::Call(self.next_of(state), ctx);
                }
                (state, ctx, outcome)
            }
            Frame::Less { state, ctx } => (state, ctx, outcome),
        };
        memo.put(state, ctx, &outcome);
        Step::Return(outcome)
    }

    fn next_of(&self, id: u32) -> u32 {
        self.program.states.get(id as usize).map_or(NONE, |s| s.next)
    }

    /// `_M_handle_accept`.
    fn accept(&self, rule: AcceptRule, at_end: bool) -> Outcome {
        let counts = match rule {
            AcceptRule::Anywhere => true,
            AcceptRule::AtEnd => at_end,
            AcceptRule::NotHere => false,
        };
        counts.then_some(Found { end: self.pos, events: None })
    }
}

/// `std::regex_match`: the path through the whole input, if any.
pub(super) fn match_full(program: &Program, input: &[u8]) -> Outcome {
    let frontier = Frontier::new(program, input, 0, false);
    if !frontier.accepts_at_end {
        return None;
    }
    let mut sweep = Sweep::new(program, input, AcceptRule::AtEnd);
    for pos in (0..=input.len()).rev() {
        sweep.enter(pos, frontier.roots(pos));
    }
    sweep.start(false)
}

/// Which states can be active after consuming each byte, ignoring
/// priorities: a plain NFA simulation that tells the backward sweep which
/// outcomes are worth computing.
struct Frontier {
    from: usize,
    /// `states[offsets[i]..offsets[i + 1]]` are reachable at `from + i`.
    offsets: Vec<usize>,
    states: Vec<u32>,
    accepts_at_end: bool,
}

impl Frontier {
    /// Simulates from `from`, entering the start state there, or at every
    /// position if `search`.
    fn new(program: &Program, input: &[u8], from: usize, search: bool) -> Frontier {
        let count = program.states.len();
        let mut frontier = Frontier {
            from,
            offsets: Vec::with_capacity(input.len().saturating_sub(from) + 2),
            states: Vec::new(),
            accepts_at_end: false,
        };
        let mut seen = vec![usize::MAX; count];
        let mut queued = vec![usize::MAX; count];
        let mut current: Vec<u32> = Vec::new();
        let mut stack = Vec::new();
        for pos in from..=input.len() {
            frontier.offsets.push(frontier.states.len());
            frontier.states.extend_from_slice(&current);
            stack.append(&mut current);
            if search || pos == from {
                stack.push(0);
            }
            while let Some(id) = stack.pop() {
                let Some(state) = program.states.get(id as usize) else {
                    continue;
                };
                if std::mem::replace(&mut seen[id as usize], pos) == pos {
                    continue;
                }
                match &state.op {
                    Op::Match(bytes) => {
                        let consumed = input.get(pos).is_some_and(|&b| bytes.contains(b));
                        let next = state.next as usize;
                        if consumed && next < count && queued[next] != pos {
                            queued[next] = pos;
                            current.push(state.next);
                        }
                    }
                    Op::Accept => frontier.accepts_at_end |= pos == input.len(),
                    Op::LineBegin if pos != 0 => {}
                    Op::LineEnd if pos != input.len() => {}
                    Op::Alternative | Op::Repeat => stack.extend([state.next, state.alt]),
                    _ => stack.push(state.next),
                }
            }
            if current.is_empty() && !search {
                break;
            }
        }
        frontier.offsets.push(frontier.states.len());
        frontier
    }

    /// The states reachable right after consuming the byte before `pos`.
    fn roots(&self, pos: usize) -> &[u32] {
        let Some(i) = pos.checked_sub(self.from) else {
            return &[];
        };
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&start), Some(&end)) => self.states.get(start..end).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// What `regex_search` finds when it starts at each position.
pub(super) struct SearchTable {
    from: usize,
    /// For each position from `from` on: the match found by an attempt
    /// starting exactly there, and, for an empty one, what a not-null attempt
    /// there finds.
    attempts: Vec<(Outcome, Outcome)>,
}

impl SearchTable {
    /// Computes the attempts at every position from `from` to the end.
    pub(super) fn new(program: &Program, input: &[u8], from: usize, not_null: bool) -> SearchTable {
        let frontier = Frontier::new(program, input, from, true);
        let mut sweep = Sweep::new(program, input, AcceptRule::Anywhere);
        let mut attempts = Vec::with_capacity(input.len().saturating_sub(from) + 1);
        for pos in (from..=input.len()).rev() {
            sweep.enter(pos, frontier.roots(pos));
            let found = sweep.start(false);
            let empty = found.as_ref().is_some_and(|f| f.end == pos);
            let retry = if not_null && empty && pos < input.len() { sweep.start(true) } else { None };
            attempts.push((found, retry));
        }
        attempts.reverse();
        SearchTable { from, attempts }
    }

    /// The first match starting at or after `start`, with its start.
    pub(super) fn search(&self, start: usize) -> Option<(usize, &Found)> {
        let skip = start.checked_sub(self.from)?;
        self.attempts.iter().enumerate().skip(skip).find_map(|(i, (found, _))| Some((self.from + i, found.as_ref()?)))
    }

    /// The not-null match starting exactly at `pos` (`match_not_null |
    /// match_continuous`), after an empty match there.
    pub(super) fn retry(&self, pos: usize) -> Option<&Found> {
        let index = pos.checked_sub(self.from)?;
        self.attempts.get(index)?.1.as_ref()
    }
}
