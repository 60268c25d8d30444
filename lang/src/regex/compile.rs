//! Pattern compiler: a transcription of libstdc++'s `_Scanner` and
//! `_Compiler` for `regex_constants::extended`. It builds the same automaton
//! (same states, same order, same cloning of bounded repeats), so that the
//! matcher can replay libstdc++'s search and the 100000-state limit trips on
//! the same patterns.

use std::collections::BTreeMap;

use super::RegexError;
use super::bracket::{self, BracketBuilder, ByteSet};

/// Marks a missing transition.
pub(super) const NONE: u32 = u32::MAX;

/// libstdc++'s `_GLIBCXX_REGEX_STATE_LIMIT`.
const STATE_LIMIT: usize = 100_000;

/// Characters with a special meaning outside brackets in an ERE.
const SPECIAL: &[u8] = b".[\\()*+?{|^$";

/// What a state does.
#[derive(Clone, Debug)]
pub(super) enum Op {
    /// Consume one byte from the set.
    Match(ByteSet),
    /// Record the start of a group.
    GroupStart(u32),
    /// Record the end of a group.
    GroupEnd(u32),
    /// `^`: only at the start of the input.
    LineBegin,
    /// `$`: only at the end of the input.
    LineEnd,
    /// Try `alt` (the left branch), then `next`.
    Alternative,
    /// Greedy loop: try `alt` (one more round), and `next` only if that found nothing.
    Repeat,
    /// The pattern has matched.
    Accept,
    /// No-op placeholder, removed after compilation.
    Dummy,
}

/// One automaton state.
#[derive(Clone, Debug)]
pub(super) struct State {
    pub(super) op: Op,
    pub(super) next: u32,
    pub(super) alt: u32,
}

impl State {
    fn has_alt(&self) -> bool {
        matches!(self.op, Op::Alternative | Op::Repeat)
    }
}

/// A compiled pattern.
#[derive(Clone, Debug)]
pub(super) struct Program {
    /// The states; state 0 starts group 0 (the whole match).
    pub(super) states: Vec<State>,
    /// Number of groups, not counting group 0.
    pub(super) groups: usize,
    /// For each state, its strongly connected component if that has a
    /// cycle (the state lies inside a loop), else `NONE`.
    pub(super) cycle: Vec<u32>,
}

/// Compiles an ERE the way `std::regex(pattern, std::regex::extended)` does.
pub(super) fn compile(pattern: &[u8]) -> Result<Program, RegexError> {
    Compiler::new(pattern)?.run()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Eof,
    OrdChar,
    AnyChar,
    LineBegin,
    LineEnd,
    Star,
    Plus,
    Opt,
    Or,
    GroupOpen,
    GroupClose,
    BracketBegin,
    BracketNegBegin,
    BracketEnd,
    BracketDash,
    IntervalBegin,
    IntervalEnd,
    DupCount,
    Comma,
    CollSymbol,
    EquivClass,
    CharClass,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Bracket,
    Brace,
}

/// Tokenizer with one token of lookahead, like `_Scanner`.
struct Scanner<'a> {
    pat: &'a [u8],
    pos: usize,
    mode: Mode,
    at_bracket_start: bool,
    token: Tok,
    token_start: usize,
    value: Vec<u8>,
}

impl<'a> Scanner<'a> {
    fn new(pat: &'a [u8]) -> Result<Self, RegexError> {
        let mut scanner = Scanner {
            pat,
            pos: 0,
            mode: Mode::Normal,
            at_bracket_start: false,
            token: Tok::Eof,
            token_start: 0,
            value: Vec::new(),
        };
        scanner.advance()?;
        Ok(scanner)
    }

    fn error(&self, message: &str) -> RegexError {
        RegexError::new(message, self.token_start)
    }

    fn set(&mut self, token: Tok, value: u8) {
        self.token = token;
        self.value.clear();
        self.value.push(value);
    }

    fn advance(&mut self) -> Result<(), RegexError> {
        self.token_start = self.pos;
        let Some(&c) = self.pat.get(self.pos) else {
            self.token = Tok::Eof;
            return Ok(());
        };
        self.pos += 1;
        match self.mode {
            Mode::Normal => self.scan_normal(c),
            Mode::Bracket => self.scan_in_bracket(c),
            Mode::Brace => self.scan_in_brace(c),
        }
    }

    fn scan_normal(&mut self, c: u8) -> Result<(), RegexError> {
        if c != 0 && !SPECIAL.contains(&c) {
            self.set(Tok::OrdChar, c);
            return Ok(());
        }
        self.token = match c {
            b'\\' => return self.scan_escape(),
            b'(' => Tok::GroupOpen,
            b')' => Tok::GroupClose,
            b'[' => {
                self.mode = Mode::Bracket;
                self.at_bracket_start = true;
                if self.pat.get(self.pos) == Some(&b'^') {
                    self.pos += 1;
                    Tok::BracketNegBegin
                } else {
                    Tok::BracketBegin
                }
            }
            b'{' => {
                self.mode = Mode::Brace;
                Tok::IntervalBegin
            }
            b'^' => Tok::LineBegin,
            b'$' => Tok::LineEnd,
            b'.' => Tok::AnyChar,
            b'*' => Tok::Star,
            b'+' => Tok::Plus,
            b'?' => Tok::Opt,
            b'|' => Tok::Or,
            _ => return Err(self.error("NUL byte in pattern")),
        };
        Ok(())
    }

    /// A backslash outside brackets: only the special characters may be
    /// escaped (libstdc++ is built with `__STRICT_ANSI__` here).
    fn scan_escape(&mut self) -> Result<(), RegexError> {
        let Some(&c) = self.pat.get(self.pos) else {
            return Err(self.error("trailing backslash"));
        };
        if c == 0 || !SPECIAL.contains(&c) {
            return Err(self.error("backslash before an ordinary character"));
        }
        self.pos += 1;
        self.set(Tok::OrdChar, c);
        Ok(())
    }

    fn scan_in_bracket(&mut self, c: u8) -> Result<(), RegexError> {
        if c == b'-' {
            self.token = Tok::BracketDash;
        } else if c == b'[' {
            let (token, delimiter) = match self.pat.get(self.pos) {
                None => return Err(self.error("unterminated '[['")),
                Some(b'.') => (Tok::CollSymbol, b'.'),
                Some(b':') => (Tok::CharClass, b':'),
                Some(b'=') => (Tok::EquivClass, b'='),
                Some(_) => (Tok::OrdChar, 0),
            };
            if token == Tok::OrdChar {
                self.set(Tok::OrdChar, b'[');
            } else {
                self.pos += 1;
                self.token = token;
                self.eat_class(delimiter)?;
            }
        } else if c == b']' && !self.at_bracket_start {
            self.token = Tok::BracketEnd;
            self.mode = Mode::Normal;
        } else {
            self.set(Tok::OrdChar, c);
        }
        self.at_bracket_start = false;
        Ok(())
    }

    /// Reads the name of `[:name:]`, `[.name.]` or `[=name=]`.
    fn eat_class(&mut self, delimiter: u8) -> Result<(), RegexError> {
        let rest = &self.pat[self.pos..];
        let len = rest.iter().position(|&b| b == delimiter).unwrap_or(rest.len());
        self.value = rest[..len].to_vec();
        self.pos += len;
        let closed = self.pat.get(self.pos) == Some(&delimiter) && self.pat.get(self.pos + 1) == Some(&b']');
        if !closed {
            return Err(self.error("unterminated character class or collating element"));
        }
        self.pos += 2;
        Ok(())
    }

    fn scan_in_brace(&mut self, c: u8) -> Result<(), RegexError> {
        if c.is_ascii_digit() {
            let rest = &self.pat[self.pos..];
            let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            self.value.clear();
            self.value.push(c);
            self.value.extend_from_slice(&rest[..len]);
            self.pos += len;
            self.token = Tok::DupCount;
        } else if c == b',' {
            self.token = Tok::Comma;
        } else if c == b'}' {
            self.token = Tok::IntervalEnd;
            self.mode = Mode::Normal;
        } else {
            return Err(self.error("unexpected character in an interval"));
        }
        Ok(())
    }
}

/// A fragment of the automaton: its first state and its last state, whose
/// `next` is still open.
#[derive(Clone, Copy)]
struct Seq {
    start: u32,
    end: u32,
}

impl Seq {
    fn single(id: u32) -> Seq {
        Seq { start: id, end: id }
    }
}

/// What the last item of a bracket expression was (libstdc++'s `_BracketState`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Nothing,
    Byte(u8),
    Class,
}

/// One open group while parsing (the outermost one is the whole pattern).
struct Frame {
    group_start: Option<u32>,
    alternatives: Option<Seq>,
    terms: Vec<Seq>,
}

impl Frame {
    fn new(group_start: Option<u32>) -> Frame {
        Frame { group_start, alternatives: None, terms: Vec::new() }
    }
}

/// What `term` found.
enum Term {
    Done(Seq),
    OpenGroup(u32),
    Nothing,
}

struct Compiler<'a> {
    scanner: Scanner<'a>,
    states: Vec<State>,
    value: Vec<u8>,
    value_start: usize,
    group_count: u32,
    open_groups: Vec<u32>,
}

impl<'a> Compiler<'a> {
    fn new(pattern: &'a [u8]) -> Result<Self, RegexError> {
        Ok(Compiler {
            scanner: Scanner::new(pattern)?,
            states: Vec::new(),
            value: Vec::new(),
            value_start: 0,
            group_count: 0,
            open_groups: Vec::new(),
        })
    }

    fn error_here(&self, message: &str) -> RegexError {
        self.scanner.error(message)
    }

    /// The error for a token that cannot continue the pattern here.
    fn unexpected_token(&self) -> RegexError {
        self.error_here(match self.scanner.token {
            Tok::Eof => "unmatched '('",
            Tok::GroupClose => "unmatched ')'",
            Tok::Star | Tok::Plus | Tok::Opt | Tok::IntervalBegin => "repetition operator with nothing to repeat",
            _ => "unexpected token",
        })
    }

    /// The byte of the last `OrdChar` token.
    fn byte(&self) -> u8 {
        self.value.first().copied().unwrap_or(0)
    }

    /// Consumes the current token if it is `token`, keeping its value.
    fn accept(&mut self, token: Tok) -> Result<bool, RegexError> {
        if self.scanner.token != token {
            return Ok(false);
        }
        self.value = std::mem::take(&mut self.scanner.value);
        self.value_start = self.scanner.token_start;
        self.scanner.advance()?;
        Ok(true)
    }

    fn insert(&mut self, op: Op) -> Result<u32, RegexError> {
        self.push_state(State { op, next: NONE, alt: NONE })
    }

    fn push_state(&mut self, state: State) -> Result<u32, RegexError> {
        self.states.push(state);
        if self.states.len() > STATE_LIMIT {
            return Err(RegexError::new(super::TOO_LARGE, self.scanner.token_start));
        }
        u32::try_from(self.states.len() - 1).map_err(|_| RegexError::new(super::TOO_LARGE, self.scanner.token_start))
    }

    fn insert_repeat(&mut self, next: u32, alt: u32) -> Result<u32, RegexError> {
        self.push_state(State { op: Op::Repeat, next, alt })
    }

    fn group_start(&mut self) -> Result<u32, RegexError> {
        let group = self.group_count;
        self.group_count += 1;
        self.open_groups.push(group);
        self.insert(Op::GroupStart(group))
    }

    fn group_end(&mut self) -> Result<u32, RegexError> {
        let group = self.open_groups.pop().unwrap_or(0);
        self.insert(Op::GroupEnd(group))
    }

    fn set_next(&mut self, id: u32, next: u32) {
        if let Some(state) = self.states.get_mut(id as usize) {
            state.next = next;
        }
    }

    fn append(&mut self, seq: &mut Seq, tail: Seq) {
        self.set_next(seq.end, tail.start);
        seq.end = tail.end;
    }

    fn run(mut self) -> Result<Program, RegexError> {
        let start = self.group_start()?;
        let body = self.parse_disjunctions()?;
        let mut whole = Seq::single(start);
        self.append(&mut whole, body);
        let end = self.group_end()?;
        self.append(&mut whole, Seq::single(end));
        let accept = self.insert(Op::Accept)?;
        self.append(&mut whole, Seq::single(accept));
        self.eliminate_dummies();
        let cycle = cycles(&self.states);
        Ok(Program { states: self.states, groups: self.group_count.saturating_sub(1) as usize, cycle })
    }

    /// Parses the whole pattern, keeping open groups on an explicit stack so
    /// deep nesting cannot exhaust the call stack.
    fn parse_disjunctions(&mut self) -> Result<Seq, RegexError> {
        let mut frames = vec![Frame::new(None)];
        loop {
            match self.term()? {
                Term::Done(seq) => push_term(&mut frames, seq),
                Term::OpenGroup(id) => frames.push(Frame::new(Some(id))),
                Term::Nothing => {
                    let Some(body) = self.end_alternative(&mut frames)? else {
                        continue;
                    };
                    match frames.pop().and_then(|frame| frame.group_start) {
                        None => {
                            if !self.accept(Tok::Eof)? {
                                return Err(self.unexpected_token());
                            }
                            return Ok(body);
                        }
                        Some(group_start) => {
                            let group = self.close_group(group_start, body)?;
                            let seq = self.quantifiers(group)?;
                            push_term(&mut frames, seq);
                        }
                    }
                }
            }
        }
    }

    /// Ends the current alternative of the innermost frame. Returns the
    /// frame's finished disjunction, or `None` if a `|` follows.
    fn end_alternative(&mut self, frames: &mut [Frame]) -> Result<Option<Seq>, RegexError> {
        let Some(frame) = frames.last_mut() else {
            return Err(self.error_here("internal error: no open group"));
        };
        let terms = std::mem::take(&mut frame.terms);
        let previous = frame.alternatives.take();
        let alternative = self.concatenate(&terms)?;
        let combined = match previous {
            None => alternative,
            Some(left) => self.alternation(left, alternative)?,
        };
        if self.accept(Tok::Or)? {
            if let Some(frame) = frames.last_mut() {
                frame.alternatives = Some(combined);
            }
            return Ok(None);
        }
        Ok(Some(combined))
    }

    /// Chains terms and closes the chain with a dummy (`_M_alternative`).
    fn concatenate(&mut self, terms: &[Seq]) -> Result<Seq, RegexError> {
        let dummy = self.insert(Op::Dummy)?;
        let mut tail = Seq::single(dummy);
        for term in terms.iter().rev() {
            let mut seq = *term;
            self.append(&mut seq, tail);
            tail = seq;
        }
        Ok(tail)
    }

    /// `left|right` (`_M_disjunction`).
    fn alternation(&mut self, left: Seq, right: Seq) -> Result<Seq, RegexError> {
        let end = self.insert(Op::Dummy)?;
        self.set_next(left.end, end);
        self.set_next(right.end, end);
        let id = self.push_state(State { op: Op::Alternative, next: right.start, alt: left.start })?;
        Ok(Seq { start: id, end })
    }

    fn close_group(&mut self, group_start: u32, body: Seq) -> Result<Seq, RegexError> {
        if !self.accept(Tok::GroupClose)? {
            return Err(self.unexpected_token());
        }
        let mut seq = Seq::single(group_start);
        self.append(&mut seq, body);
        let end = self.group_end()?;
        self.append(&mut seq, Seq::single(end));
        Ok(seq)
    }

    /// `_M_term`: an assertion, or an atom with its quantifiers.
    fn term(&mut self) -> Result<Term, RegexError> {
        if self.accept(Tok::LineBegin)? {
            return Ok(Term::Done(Seq::single(self.insert(Op::LineBegin)?)));
        }
        if self.accept(Tok::LineEnd)? {
            return Ok(Term::Done(Seq::single(self.insert(Op::LineEnd)?)));
        }
        let atom = if self.accept(Tok::AnyChar)? {
            self.insert(Op::Match(bracket::any_byte()))?
        } else if self.accept(Tok::OrdChar)? {
            let byte = self.byte();
            self.insert(Op::Match(ByteSet::single(byte)))?
        } else if self.accept(Tok::GroupOpen)? {
            return Ok(Term::OpenGroup(self.group_start()?));
        } else if self.accept(Tok::BracketNegBegin)? {
            self.bracket(true)?
        } else if self.accept(Tok::BracketBegin)? {
            self.bracket(false)?
        } else {
            return Ok(Term::Nothing);
        };
        Ok(Term::Done(self.quantifiers(Seq::single(atom))?))
    }

    /// `_M_quantifier`, applied as long as quantifiers follow.
    fn quantifiers(&mut self, mut seq: Seq) -> Result<Seq, RegexError> {
        loop {
            seq = if self.accept(Tok::Star)? {
                let repeat = self.insert_repeat(NONE, seq.start)?;
                self.set_next(seq.end, repeat);
                Seq::single(repeat)
            } else if self.accept(Tok::Plus)? {
                let repeat = self.insert_repeat(NONE, seq.start)?;
                self.set_next(seq.end, repeat);
                Seq { start: seq.start, end: repeat }
            } else if self.accept(Tok::Opt)? {
                let end = self.insert(Op::Dummy)?;
                let repeat = self.insert_repeat(NONE, seq.start)?;
                self.set_next(seq.end, end);
                self.set_next(repeat, end);
                Seq { start: repeat, end }
            } else if self.accept(Tok::IntervalBegin)? {
                self.interval(seq)?
            } else {
                return Ok(seq);
            };
        }
    }

    /// `{n}`, `{n,}` and `{n,m}`: the atom is cloned once per round.
    fn interval(&mut self, atom: Seq) -> Result<Seq, RegexError> {
        if !self.accept(Tok::DupCount)? {
            return Err(self.error_here("interval without a count"));
        }
        let dummy = self.insert(Op::Dummy)?;
        let mut seq = Seq::single(dummy);
        let min = self.count_value();
        let mut unbounded = false;
        let mut extra = 0;
        if self.accept(Tok::Comma)? {
            if self.accept(Tok::DupCount)? {
                extra = self.count_value() - min;
            } else {
                unbounded = true;
            }
        }
        if !self.accept(Tok::IntervalEnd)? {
            return Err(self.error_here("unterminated interval"));
        }
        for _ in 0..min {
            let copy = self.clone_seq(atom)?;
            self.append(&mut seq, copy);
        }
        if unbounded {
            let copy = self.clone_seq(atom)?;
            let repeat = self.insert_repeat(NONE, copy.start)?;
            self.set_next(copy.end, repeat);
            self.append(&mut seq, Seq::single(repeat));
        } else {
            if extra < 0 {
                return Err(RegexError::new("interval maximum is below its minimum", self.value_start));
            }
            self.optional_rounds(&mut seq, atom, extra)?;
        }
        Ok(seq)
    }

    /// The `m - n` optional rounds of `{n,m}`, each nested in the previous.
    fn optional_rounds(&mut self, seq: &mut Seq, atom: Seq, rounds: i64) -> Result<(), RegexError> {
        let end = self.insert(Op::Dummy)?;
        let mut repeats = Vec::new();
        for _ in 0..rounds {
            let copy = self.clone_seq(atom)?;
            let repeat = self.insert_repeat(copy.start, end)?;
            repeats.push(repeat);
            self.append(seq, Seq { start: repeat, end: copy.end });
        }
        self.append(seq, Seq::single(end));
        for id in repeats {
            if let Some(state) = self.states.get_mut(id as usize) {
                std::mem::swap(&mut state.next, &mut state.alt);
            }
        }
        Ok(())
    }

    /// `_M_cur_int_value(10)`: accumulated in a `long`, returned as `int`.
    fn count_value(&self) -> i64 {
        let mut value: i64 = 0;
        for &digit in &self.value {
            value = value.wrapping_mul(10).wrapping_add(i64::from(digit.wrapping_sub(b'0')));
        }
        // Truncation to `int` is what libstdc++ does.
        i64::from(value as i32)
    }

    /// `_StateSeq::_M_clone`: copies the states reachable from `seq.start`.
    fn clone_seq(&mut self, seq: Seq) -> Result<Seq, RegexError> {
        let mut map = BTreeMap::new();
        let mut stack = vec![seq.start];
        while let Some(old) = stack.pop() {
            let Some(state) = self.states.get(old as usize).cloned() else {
                continue;
            };
            let new = self.push_state(state.clone())?;
            map.insert(old, new);
            if state.has_alt() && state.alt != NONE && !map.contains_key(&state.alt) {
                stack.push(state.alt);
            }
            if old != seq.end && state.next != NONE && !map.contains_key(&state.next) {
                stack.push(state.next);
            }
        }
        for &new in map.values() {
            let state = &mut self.states[new as usize];
            if let Some(&next) = map.get(&state.next) {
                state.next = next;
            }
            if let Some(&alt) = map.get(&state.alt).filter(|_| state.has_alt()) {
                state.alt = alt;
            }
        }
        let start = map.get(&seq.start).copied().unwrap_or(NONE);
        let end = map.get(&seq.end).copied().unwrap_or(NONE);
        Ok(Seq { start, end })
    }

    /// `_M_insert_bracket_matcher` and `_M_expression_term`.
    fn bracket(&mut self, negated: bool) -> Result<u32, RegexError> {
        let mut builder = BracketBuilder::default();
        let mut last = Last::Nothing;
        if self.accept(Tok::OrdChar)? {
            last = Last::Byte(self.byte());
        } else if self.accept(Tok::BracketDash)? {
            last = Last::Byte(b'-');
        }
        while self.bracket_term(&mut last, &mut builder)? {}
        if let Last::Byte(b) = last {
            builder.add_byte(b);
        }
        self.insert(Op::Match(builder.finish(negated)))
    }

    /// One item of a bracket expression; false at the closing `]`.
    fn bracket_term(&mut self, last: &mut Last, builder: &mut BracketBuilder) -> Result<bool, RegexError> {
        if self.accept(Tok::BracketEnd)? {
            return Ok(false);
        }
        if self.accept(Tok::CollSymbol)? {
            let b = bracket::collating_byte(&self.value)
                .ok_or_else(|| RegexError::new("unknown collating element", self.value_start))?;
            builder.add_byte(b);
            push_byte(last, builder, b);
        } else if self.accept(Tok::EquivClass)? {
            push_class(last, builder);
            builder.add_equivalence(&self.value, self.value_start)?;
        } else if self.accept(Tok::CharClass)? {
            push_class(last, builder);
            builder.add_class(&self.value, self.value_start)?;
        } else if self.accept(Tok::OrdChar)? {
            push_byte(last, builder, self.byte());
        } else if self.accept(Tok::BracketDash)? {
            return self.bracket_dash(last, builder);
        } else {
            return Err(self.error_here("unterminated bracket expression"));
        }
        Ok(true)
    }

    /// A `-` inside brackets: a range, or a literal dash before `]`.
    fn bracket_dash(&mut self, last: &mut Last, builder: &mut BracketBuilder) -> Result<bool, RegexError> {
        if self.accept(Tok::BracketEnd)? {
            push_byte(last, builder, b'-');
            return Ok(false);
        }
        let Last::Byte(low) = *last else {
            let message = if *last == Last::Class {
                "a character class cannot start a range"
            } else {
                "misplaced '-' in a bracket expression"
            };
            return Err(self.error_here(message));
        };
        let high = if self.accept(Tok::OrdChar)? {
            self.byte()
        } else if self.accept(Tok::BracketDash)? {
            b'-'
        } else {
            return Err(self.error_here("invalid end of a range"));
        };
        builder.add_range(low, high, self.value_start)?;
        *last = Last::Nothing;
        Ok(true)
    }

    /// `_NFA::_M_eliminate_dummy`.
    fn eliminate_dummies(&mut self) {
        let is_dummy = |states: &[State], id: u32| states.get(id as usize).is_some_and(|s| matches!(s.op, Op::Dummy));
        let skip = |states: &[State], mut id: u32| {
            for _ in 0..states.len() {
                if !is_dummy(states, id) {
                    break;
                }
                id = states[id as usize].next;
            }
            id
        };
        for i in 0..self.states.len() {
            let next = skip(&self.states, self.states[i].next);
            self.states[i].next = next;
            if self.states[i].has_alt() {
                let alt = skip(&self.states, self.states[i].alt);
                self.states[i].alt = alt;
            }
        }
    }
}

/// The successors of a state.
fn successors(state: &State) -> impl Iterator<Item = u32> {
    let alt = if state.has_alt() { state.alt } else { NONE };
    [state.next, alt].into_iter().filter(|&id| id != NONE)
}

/// Labels the states lying on a cycle with their strongly connected
/// component; other states get `NONE`.
fn cycles(states: &[State]) -> Vec<u32> {
    let mut tarjan = Tarjan {
        states,
        index: vec![NONE; states.len()],
        low: vec![0; states.len()],
        on_stack: vec![false; states.len()],
        stack: Vec::new(),
        calls: Vec::new(),
        component: vec![NONE; states.len()],
        counter: 0,
    };
    for root in 0..states.len() {
        if tarjan.index[root] == NONE {
            tarjan.run(u32::try_from(root).unwrap_or(NONE));
        }
    }
    tarjan.component
}

/// Tarjan's strongly-connected-components algorithm, without recursion.
struct Tarjan<'a> {
    states: &'a [State],
    index: Vec<u32>,
    low: Vec<u32>,
    on_stack: Vec<bool>,
    stack: Vec<u32>,
    /// The simulated call stack: a state and how many successors it has visited.
    calls: Vec<(u32, usize)>,
    component: Vec<u32>,
    counter: u32,
}

impl Tarjan<'_> {
    /// The `i`-th successor of `id`, if any.
    fn successor(&self, id: u32, i: usize) -> Option<u32> {
        let state = self.states.get(id as usize)?;
        successors(state).filter(|&t| (t as usize) < self.states.len()).nth(i)
    }

    fn visit(&mut self, v: u32) {
        self.index[v as usize] = self.counter;
        self.low[v as usize] = self.counter;
        self.counter += 1;
        self.stack.push(v);
        self.on_stack[v as usize] = true;
        self.calls.push((v, 0));
    }

    fn run(&mut self, root: u32) {
        self.visit(root);
        while let Some(&(v, visited)) = self.calls.last() {
            if let Some(w) = self.successor(v, visited) {
                if let Some(call) = self.calls.last_mut() {
                    call.1 += 1;
                }
                if self.index[w as usize] == NONE {
                    self.visit(w);
                } else if self.on_stack[w as usize] {
                    self.low[v as usize] = self.low[v as usize].min(self.index[w as usize]);
                }
                continue;
            }
            self.calls.pop();
            if let Some(&(parent, _)) = self.calls.last() {
                let low = self.low[parent as usize].min(self.low[v as usize]);
                self.low[parent as usize] = low;
            }
            if self.low[v as usize] == self.index[v as usize] {
                self.close_component(v);
            }
        }
    }

    /// Pops the component rooted at `v`, labelling it if it has a cycle.
    fn close_component(&mut self, v: u32) {
        let mut members = Vec::new();
        while let Some(w) = self.stack.pop() {
            self.on_stack[w as usize] = false;
            members.push(w);
            if w == v {
                break;
            }
        }
        let self_loop = (0..2).any(|i| self.successor(v, i) == Some(v));
        if members.len() > 1 || self_loop {
            for w in members {
                self.component[w as usize] = v;
            }
        }
    }
}

fn push_term(frames: &mut [Frame], seq: Seq) {
    if let Some(frame) = frames.last_mut() {
        frame.terms.push(seq);
    }
}

fn push_byte(last: &mut Last, builder: &mut BracketBuilder, b: u8) {
    if let Last::Byte(previous) = *last {
        builder.add_byte(previous);
    }
    *last = Last::Byte(b);
}

fn push_class(last: &mut Last, builder: &mut BracketBuilder) {
    if let Last::Byte(previous) = *last {
        builder.add_byte(previous);
    }
    *last = Last::Class;
}
