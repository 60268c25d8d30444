//! POSIX extended regular expressions with the exact behaviour of Nix 2.8's
//! `builtins.match` and `builtins.split`, which use libstdc++'s `std::regex`
//! with `std::regex::extended`.
//!
//! Patterns and inputs are bytes: `.` matches one byte, and character
//! classes follow the "C" locale. The compiler builds the same automaton as
//! libstdc++ and the matcher replays libstdc++'s depth-first search with
//! memoisation, so results (including which span a group reports when a
//! match is ambiguous) agree with Nix, while the cost stays proportional to
//! the input length for ordinary patterns.

mod bracket;
mod compile;
mod exec;

use std::fmt;
use std::ops::Range;

/// Message prefix of the error for a pattern whose automaton is too large.
const TOO_LARGE: &str = "memory limit exceeded: the pattern needs more than 100000 automaton states";

/// A compiled POSIX ERE.
#[derive(Clone, Debug)]
pub struct Regex {
    program: compile::Program,
}

/// Why a pattern did not compile (message in plain words, byte offset in the pattern).
///
/// Nix reports every such pattern as "invalid regular expression", except
/// one whose compiled form exceeds libstdc++'s size limit (for instance
/// `a{100000}`): its message starts with "memory limit exceeded", and Nix
/// reports "memory limit exceeded by regular expression".
#[derive(Debug, Clone, PartialEq)]
pub struct RegexError {
    /// What is wrong, in plain words.
    pub message: String,
    /// Byte offset in the pattern where the problem was found.
    pub offset: usize,
}

impl RegexError {
    fn new(message: &str, offset: usize) -> RegexError {
        RegexError { message: message.to_owned(), offset }
    }
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for RegexError {}

impl Regex {
    /// Compiles `pattern` as `std::regex(pattern, std::regex::extended)` would,
    /// rejecting the same patterns.
    ///
    /// # Errors
    ///
    /// A [`RegexError`] for every pattern libstdc++ rejects: unbalanced
    /// parentheses, a quantifier with nothing before it, a bad interval or
    /// bracket expression, a backslash before an ordinary character, a NUL
    /// byte, or an automaton over libstdc++'s size limit.
    pub fn new(pattern: &[u8]) -> Result<Regex, RegexError> {
        Ok(Regex { program: compile::compile(pattern)? })
    }

    /// Number of capture groups (not counting the whole match).
    #[must_use]
    pub fn group_count(&self) -> usize {
        self.program.groups
    }

    /// `builtins.match`: the whole input must match. Some(groups) with one entry per group,
    /// None for a group that did not participate.
    #[must_use]
    pub fn match_full(&self, input: &[u8]) -> Option<Vec<Option<Range<usize>>>> {
        let found = exec::match_full(&self.program, input)?;
        let mut groups = found.captures(self.program.groups + 1);
        groups.remove(0);
        Some(groups)
    }

    /// `builtins.split`'s search: the first match starting at or after `start`, as Nix/libstdc++ finds it
    /// (leftmost, then longest per POSIX); element 0 is the whole match, then one entry per group.
    ///
    /// As in `builtins.split`, `^` matches only at position 0 of `input`.
    #[must_use]
    #[allow(dead_code)] // Part of the API even where only `split` is called.
    pub fn find_at(&self, input: &[u8], start: usize) -> Option<Vec<Option<Range<usize>>>> {
        if start > input.len() {
            return None;
        }
        let table = exec::SearchTable::new(&self.program, input, start, false);
        let (_, found) = table.search(start)?;
        Some(found.captures(self.program.groups + 1))
    }
}

/// One element of `builtins.split`'s result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitPiece {
    /// Input between two matches (or before the first, or after the last).
    Text(Range<usize>),
    /// The groups of one match (not the whole match), `None` for a group
    /// that did not participate.
    Groups(Vec<Option<Range<usize>>>),
}

/// `builtins.split`: the input cut at every match of `re`, alternating text
/// and match groups, exactly as Nix 2.8 iterates with `std::sregex_iterator`.
///
/// After an empty match, the next match is first sought at the same position
/// but must be non-empty; failing that, the search resumes one byte later.
#[must_use]
pub fn split(re: &Regex, input: &[u8]) -> Vec<SplitPiece> {
    let groups = re.program.groups + 1;
    let table = exec::SearchTable::new(&re.program, input, 0, true);
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut next = table.search(0);
    while let Some((start, found)) = next {
        let end = found.end;
        pieces.push(SplitPiece::Text(text_start..start));
        let mut captures = found.captures(groups);
        captures.remove(0);
        pieces.push(SplitPiece::Groups(captures));
        text_start = end;
        next = if start != end {
            table.search(end)
        } else if end == input.len() {
            None
        } else if let Some(found) = table.retry(end) {
            Some((end, found))
        } else {
            table.search(end + 1)
        };
    }
    pieces.push(SplitPiece::Text(text_start..input.len()));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which builtin a case exercises.
    #[derive(Clone, Copy, Debug)]
    enum Kind {
        /// `builtins.match`
        M,
        /// `builtins.split`
        S,
    }
    use Kind::{M, S};

    /// One oracle case; see `CASES`.
    type Case = (Kind, &'static [u8], &'static [u8], &'static [u8]);

    /// (builtin, pattern, input, what Nix 2.8 prints for
    /// `builtins.match pattern input` or `builtins.split pattern input`).
    /// `ERROR:invalid` stands for "invalid regular expression" and
    /// `ERROR:memory` for "memory limit exceeded by regular expression".
    /// Every expectation was produced by Debian's Nix 2.8.0.
    const CASES: &[Case] = &[
        (M, b"abc", b"abc", b"[ ]"),
        (M, b"abc", b"abd", b"null"),
        (M, b"abc", b"abcd", b"null"),
        (M, b"a.c", b"abc", b"[ ]"),
        (M, b".", b"", b"null"),
        (M, b".", b"\n", b"[ ]"),
        (M, b"a.c", b"a\nc", b"[ ]"),
        (M, b"", b"", b"[ ]"),
        (M, b"", b"a", b"null"),
        (M, b"a", b"a", b"[ ]"),
        (M, b"[abc]+", b"cabbage", b"null"),
        (M, b"[abc]+", b"cab", b"[ ]"),
        (M, b"[^abc]+", b"xyz", b"[ ]"),
        (M, b"[^abc]+", b"xaz", b"null"),
        (M, b"[]a]+", b"]a]", b"[ ]"),
        (M, b"[^]a]+", b"bcd", b"[ ]"),
        (M, b"[^]a]+", b"b]d", b"null"),
        (M, b"[a-]+", b"a-a", b"[ ]"),
        (M, b"[-a]+", b"-a", b"[ ]"),
        (M, b"[a-c-]+", b"b-c", b"[ ]"),
        (M, b"[--0]+", b"-./0", b"[ ]"),
        (M, b"[!--]+", b"!+-", b"[ ]"),
        (M, b"[a-z0-9_]+", b"ab_09z", b"[ ]"),
        (M, b"[[]", b"[", b"[ ]"),
        (M, b"[[a]+", b"a[a", b"[ ]"),
        (M, b"[\\]+", b"\\\\", b"[ ]"),
        (M, b"[.]", b".", b"[ ]"),
        (M, b"[.]", b"a", b"null"),
        (M, b"[*+?]+", b"*+?", b"[ ]"),
        (M, b"[$^]+", b"^$", b"[ ]"),
        (M, b"[^^]", b"^", b"null"),
        (M, b"[a^]+", b"^a", b"[ ]"),
        (M, b"[]-a]+", b"]^_a", b"[ ]"),
        (M, b"[[.hyphen.]]", b"-", b"[ ]"),
        (M, b"[[.a.]-c]+", b"abc", b"[ ]"),
        (M, b"[[.space.]]", b" ", b"[ ]"),
        (M, b"[[=a=]]+", b"aA", b"[ ]"),
        (M, b"[[=A=]]+", b"aAb", b"null"),
        (M, b"[[:ALPHA:]]+", b"aZ", b"[ ]"),
        (M, b"[a-a]", b"a", b"[ ]"),
        (M, b"[[:alpha:][:digit:]]+", b"a1b2", b"[ ]"),
        (M, b"[^[:alpha:]]+", b"12 !", b"[ ]"),
        (M, b"[[:alpha:]-]+", b"a-b", b"[ ]"),
        (M, b"[a-z-0]", b"a", b"ERROR:invalid"),
        (M, b"[z-a]", b"a", b"ERROR:invalid"),
        (M, b"[a", b"a", b"ERROR:invalid"),
        (M, b"[[:foo:]]", b"a", b"ERROR:invalid"),
        (M, b"[[:alpha:]", b"a", b"ERROR:invalid"),
        (M, b"[[:alpha:]-z]", b"a", b"ERROR:invalid"),
        (M, b"[a-[:alpha:]]", b"a", b"ERROR:invalid"),
        (M, b"[]", b"a", b"ERROR:invalid"),
        (M, b"[^]", b"a", b"ERROR:invalid"),
        (M, b"[[.-.]]", b"-", b"ERROR:invalid"),
        (M, b"[[.ab.]]", b"a", b"ERROR:invalid"),
        (M, b"[[=foo=]]", b"a", b"ERROR:invalid"),
        (M, b"[a--]", b"a", b"ERROR:invalid"),
        (M, b"[[", b"a", b"ERROR:invalid"),
        (M, b"[[:alpha:]]]", b"a]", b"[ ]"),
        (M, b"[[:alpha:]]+", b"abcXYZ", b"[ ]"),
        (M, b"[[:digit:]]+", b"0123456789", b"[ ]"),
        (M, b"[[:space:]]+", b" \t\n\x0d\x0b\x0c", b"[ ]"),
        (M, b"[[:upper:]]+", b"ABC", b"[ ]"),
        (M, b"[[:upper:]]+", b"AbC", b"null"),
        (M, b"[[:lower:]]+", b"abc", b"[ ]"),
        (M, b"[[:alnum:]]+", b"a1B2", b"[ ]"),
        (M, b"[[:punct:]]+", b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", b"[ ]"),
        (M, b"[[:punct:]]", b"a", b"null"),
        (M, b"[[:xdigit:]]+", b"09afAF", b"[ ]"),
        (M, b"[[:xdigit:]]", b"g", b"null"),
        (M, b"[[:blank:]]+", b" \t", b"[ ]"),
        (M, b"[[:blank:]]", b"\n", b"null"),
        (M, b"[[:cntrl:]]+", b"\x01\x1f\x7f", b"[ ]"),
        (M, b"[[:print:]]+", b" a~", b"[ ]"),
        (M, b"[[:print:]]", b"\x7f", b"null"),
        (M, b"[[:graph:]]+", b"a~!", b"[ ]"),
        (M, b"[[:graph:]]", b" ", b"null"),
        (M, b"[[:d:]]+", b"12", b"[ ]"),
        (M, b"[[:w:]]+", b"a_1", b"[ ]"),
        (M, b"[[:s:]]+", b" \t", b"[ ]"),
        (M, b"[[:alpha:]]", b"\xc3\xa9", b"null"),
        (M, b"^a", b"a", b"[ ]"),
        (M, b"a$", b"a", b"[ ]"),
        (M, b"^$", b"", b"[ ]"),
        (M, b"a^b", b"ab", b"null"),
        (M, b"a$b", b"ab", b"null"),
        (M, b"(^a)", b"a", b"[ \"a\" ]"),
        (M, b"(a|^b)c", b"bc", b"[ \"b\" ]"),
        (M, b"^*", b"a", b"ERROR:invalid"),
        (M, b"$*", b"a", b"ERROR:invalid"),
        (M, b"^+a", b"a", b"ERROR:invalid"),
        (M, b"(^)*a", b"a", b"[ \"\" ]"),
        (M, b"x$|y", b"y", b"[ ]"),
        (M, b"(a|ab)(c|bcd)(d*)", b"abcd", b"[ \"a\" \"bcd\" \"\" ]"),
        (M, b"(a*)*", b"aaa", b"[ \"\" ]"),
        (M, b"(a*)*", b"", b"[ \"\" ]"),
        (M, b"(a*)*", b"b", b"null"),
        (M, b"(a*)+", b"aaa", b"[ \"\" ]"),
        (M, b"(a*)+", b"", b"[ \"\" ]"),
        (M, b"(a|b)*", b"ab", b"[ \"b\" ]"),
        (M, b"((a)|b)*", b"ab", b"[ \"b\" \"a\" ]"),
        (M, b"((a)|b)*", b"ba", b"[ \"a\" \"a\" ]"),
        (M, b"(a|ab)(bc|c)", b"abc", b"[ \"a\" \"bc\" ]"),
        (M, b"(a+|b+)*", b"aabba", b"[ \"a\" ]"),
        (M, b"(a?)((ab)?)(b?)", b"ab", b"[ \"a\" \"\" null \"b\" ]"),
        (M, b"()", b"", b"[ \"\" ]"),
        (M, b"(|a)", b"a", b"[ \"a\" ]"),
        (M, b"(a|)", b"a", b"[ \"a\" ]"),
        (M, b"(|a)+", b"aa", b"[ \"\" ]"),
        (M, b"a||b", b"b", b"[ ]"),
        (M, b"(a)|b", b"b", b"[ null ]"),
        (M, b"((a)(b))?", b"", b"[ null null null ]"),
        (M, b"x(a|b|c)*y", b"xabcy", b"[ \"c\" ]"),
        (M, b"(a|b|c)", b"c", b"[ \"c\" ]"),
        (M, b"((a*)b)*", b"abab", b"[ \"ab\" \"a\" ]"),
        (M, b"(a*)(a*)", b"aaa", b"[ \"aaa\" \"\" ]"),
        (M, b"(a*?)", b"aa", b"[ \"aa\" ]"),
        (M, b"(a|aa)*", b"aaa", b"[ \"a\" ]"),
        (M, b"(aa|a)*", b"aaa", b"[ \"a\" ]"),
        (M, b"(a|aa)(a|aa)", b"aaa", b"[ \"a\" \"aa\" ]"),
        (M, b"(ab|a)(bc|c)?", b"abc", b"[ \"ab\" \"c\" ]"),
        (M, b"((a|b)*)c", b"abac", b"[ \"aba\" \"a\" ]"),
        (M, b"(a*)b(a*)", b"aabaa", b"[ \"aa\" \"aa\" ]"),
        (M, b"(.*)(.*)", b"abc", b"[ \"abc\" \"\" ]"),
        (M, b"(.*)c(.*)", b"abcdcf", b"[ \"abcd\" \"f\" ]"),
        (
            M,
            b"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)",
            b"abcdefghijk",
            b"[ \"a\" \"b\" \"c\" \"d\" \"e\" \"f\" \"g\" \"h\" \"i\" \"j\" \"k\" ]",
        ),
        (M, b"((((a))))", b"a", b"[ \"a\" \"a\" \"a\" \"a\" ]"),
        (M, b"(a)|(b)|(c)", b"b", b"[ null \"b\" null ]"),
        (M, b"(a(b)?)+", b"aba", b"[ \"a\" \"b\" ]"),
        (M, b"(a(b)?)+", b"aab", b"[ \"ab\" \"b\" ]"),
        (M, b"(()|a)+", b"aa", b"[ \"\" \"\" ]"),
        (M, b"(a|())+", b"aa", b"[ \"\" \"\" ]"),
        (M, b"(a*|b)*", b"ab", b"[ \"\" ]"),
        (M, b"(a*|b)*c", b"abc", b"[ \"\" ]"),
        (M, b"a*", b"", b"[ ]"),
        (M, b"a*", b"aaa", b"[ ]"),
        (M, b"a+", b"", b"null"),
        (M, b"a+", b"aa", b"[ ]"),
        (M, b"a?", b"", b"[ ]"),
        (M, b"a?", b"aa", b"null"),
        (M, b"a**", b"aa", b"[ ]"),
        (M, b"a+*", b"aa", b"[ ]"),
        (M, b"a?*", b"aa", b"[ ]"),
        (M, b"a*?", b"aa", b"[ ]"),
        (M, b"(ab){2}", b"abab", b"[ \"ab\" ]"),
        (M, b"(ab){2}", b"ab", b"null"),
        (M, b"(ab){2,}", b"ababab", b"[ \"ab\" ]"),
        (M, b"(ab){1,2}", b"ab", b"[ \"ab\" ]"),
        (M, b"(ab){1,2}", b"ababab", b"null"),
        (M, b"a{0}", b"", b"[ ]"),
        (M, b"a{0,0}", b"", b"[ ]"),
        (M, b"(a){0}", b"", b"[ null ]"),
        (M, b"(a){0}b", b"b", b"[ null ]"),
        (M, b"a{2,1}", b"a", b"ERROR:invalid"),
        (M, b"a{,2}", b"a", b"ERROR:invalid"),
        (M, b"a{1", b"a", b"ERROR:invalid"),
        (M, b"a{x}", b"a", b"ERROR:invalid"),
        (M, b"a{1}{2}", b"aa", b"[ ]"),
        (M, b"{1}a", b"a", b"ERROR:invalid"),
        (M, b"a{ 1}", b"a", b"ERROR:invalid"),
        (M, b"a{1,2}?", b"", b"[ ]"),
        (M, b"(a|b){3}", b"aba", b"[ \"a\" ]"),
        (M, b"(a|b){2,3}", b"ab", b"[ \"b\" ]"),
        (M, b"(a*){2}", b"aa", b"[ \"\" ]"),
        (M, b"(a*){2,3}", b"a", b"[ \"\" ]"),
        (M, b"a{1,}b", b"aaab", b"[ ]"),
        (M, b"a{1,}", b"", b"null"),
        (M, b"(a{2})*", b"aaaa", b"[ \"aa\" ]"),
        (M, b"a{3}", b"aa", b"null"),
        (M, b"a{4294967297}", b"a", b"[ ]"),
        (M, b"a{2147483648}", b"", b"[ ]"),
        (M, b"a{2147483648}", b"a", b"null"),
        (M, b"a{100000}", b"a", b"ERROR:memory"),
        (M, b"a{99998}", b"a", b"ERROR:memory"),
        (M, b"a{0,}", b"aa", b"[ ]"),
        (M, b"a{01}", b"a", b"[ ]"),
        (M, b"a{1,1}", b"a", b"[ ]"),
        (M, b"a{}", b"a", b"ERROR:invalid"),
        (M, b"a{1,2,3}", b"a", b"ERROR:invalid"),
        (M, b"a}", b"a}", b"[ ]"),
        (M, b"a]", b"a]", b"[ ]"),
        (M, b"}", b"}", b"[ ]"),
        (M, b"(a){2}", b"aa", b"[ \"a\" ]"),
        (M, b"\\.", b".", b"[ ]"),
        (M, b"\\.", b"a", b"null"),
        (M, b"\\*", b"*", b"[ ]"),
        (M, b"\\\\", b"\\", b"[ ]"),
        (M, b"\\(", b"(", b"[ ]"),
        (M, b"\\)", b")", b"[ ]"),
        (M, b"\\[", b"[", b"[ ]"),
        (M, b"\\{", b"{", b"[ ]"),
        (M, b"\\|", b"|", b"[ ]"),
        (M, b"\\^", b"^", b"[ ]"),
        (M, b"\\$", b"$", b"[ ]"),
        (M, b"\\+", b"+", b"[ ]"),
        (M, b"\\?", b"?", b"[ ]"),
        (M, b"\\]", b"]", b"ERROR:invalid"),
        (M, b"\\}", b"}", b"ERROR:invalid"),
        (M, b"\\d", b"1", b"ERROR:invalid"),
        (M, b"\\w", b"a", b"ERROR:invalid"),
        (M, b"\\s", b" ", b"ERROR:invalid"),
        (M, b"\\n", b"n", b"ERROR:invalid"),
        (M, b"\\1", b"1", b"ERROR:invalid"),
        (M, b"(a)\\1", b"aa", b"ERROR:invalid"),
        (M, b"a\\", b"a", b"ERROR:invalid"),
        (M, b"\\-", b"-", b"ERROR:invalid"),
        (M, b"\\/", b"/", b"ERROR:invalid"),
        (M, b"\\a", b"a", b"ERROR:invalid"),
        (M, b"[\\n]+", b"\\n", b"[ ]"),
        (M, b"(", b"", b"ERROR:invalid"),
        (M, b")", b"", b"ERROR:invalid"),
        (M, b"a)", b"a", b"ERROR:invalid"),
        (M, b"(a", b"a", b"ERROR:invalid"),
        (M, b"*a", b"a", b"ERROR:invalid"),
        (M, b"+a", b"a", b"ERROR:invalid"),
        (M, b"?a", b"a", b"ERROR:invalid"),
        (M, b"|*", b"", b"ERROR:invalid"),
        (M, b"a|*b", b"b", b"ERROR:invalid"),
        (M, b"(*a)", b"a", b"ERROR:invalid"),
        (M, b"(|*)", b"", b"ERROR:invalid"),
        (M, b"a(", b"a", b"ERROR:invalid"),
        (M, b"())", b"", b"ERROR:invalid"),
        (M, b"(()", b"", b"ERROR:invalid"),
        (M, b"a|", b"a", b"[ ]"),
        (M, b"|a", b"a", b"[ ]"),
        (M, b"|", b"", b"[ ]"),
        (M, b"(|)", b"", b"[ \"\" ]"),
        (M, b"([0-9]+)\\.([0-9]+)(\\.([0-9]+))?", b"1.2", b"[ \"1\" \"2\" null null ]"),
        (M, b"([0-9]+)\\.([0-9]+)(\\.([0-9]+))?", b"1.2.3", b"[ \"1\" \"2\" \".3\" \"3\" ]"),
        (M, b"(.*)-([0-9].*)", b"hello-2.10", b"[ \"hello\" \"2.10\" ]"),
        (M, b"(.*)-([0-9].*)", b"foo-bar-1.0-rc1", b"[ \"foo-bar\" \"1.0-rc1\" ]"),
        (M, b"[[:space:]]*(.*[^[:space:]])[[:space:]]*", b"  hi there  ", b"[ \"hi there\" ]"),
        (M, b"([^/]*)/(.*)", b"a/b/c", b"[ \"a\" \"b/c\" ]"),
        (M, b"(.*)\\.nix", b"default.nix", b"[ \"default\" ]"),
        (M, b"[a-zA-Z0-9_-]+", b"foo-bar_1", b"[ ]"),
        (M, b"^(.*)$", b"line", b"[ \"line\" ]"),
        (M, b"(.*)foo(.*)", b"xxfooyyfoozz", b"[ \"xxfooyy\" \"zz\" ]"),
        (M, b"([^=]+)=(.*)", b"key=val=ue", b"[ \"key\" \"val=ue\" ]"),
        (M, b"(.*/)?([^/]*)", b"/nix/store/abc-foo", b"[ \"/nix/store/\" \"abc-foo\" ]"),
        (M, b"([a-z]+)(-([a-z]+))*", b"abc-def-gh", b"[ \"abc\" \"-gh\" \"gh\" ]"),
        (M, b"(lib|lib64)/(.*)", b"lib64/x.so", b"[ \"lib64\" \"x.so\" ]"),
        (M, b"[[:alpha:]_][[:alnum:]_']*", b"foo_bar'", b"[ ]"),
        (M, b"https?://([^/]+)(/.*)?", b"https://example.org/a/b", b"[ \"example.org\" \"/a/b\" ]"),
        (M, b"([0-9]+)(\\.[0-9]+)*([a-z]*)", b"10.2.3pre", b"[ \"10\" \".3\" \"pre\" ]"),
        (M, b"(.*)\n", b"abc\n", b"[ \"abc\" ]"),
        (M, b"a\tb", b"a\tb", b"[ ]"),
        (M, b"\xc3\xa9", b"\xc3\xa9", b"[ ]"),
        (M, b".", b"\xc3\xa9", b"null"),
        (M, b"..", b"\xc3\xa9", b"[ ]"),
        (M, b"[^a]+", b"\xc3\xa9", b"[ ]"),
        (M, b"[\xc3\xa0-\xc3\xa9]+", b"\xc3\xa0\xc3\xa9", b"[ ]"),
        (M, b"[a-\xc3\xa9]", b"a", b"ERROR:invalid"),
        (M, b"(.)(.)", b"\xc3\xa9", b"[ \"\xc3\" \"\xa9\" ]"),
        (M, b"[\xc3\xa9]+", b"\xc3\xa9\xc3\xa9", b"[ ]"),
        (S, b"a*", b"baac", b"[ \"\" [ ] \"b\" [ ] \"\" [ ] \"c\" [ ] \"\" ]"),
        (S, b"", b"ab", b"[ \"\" [ ] \"a\" [ ] \"b\" [ ] \"\" ]"),
        (S, b"", b"", b"[ \"\" [ ] \"\" ]"),
        (S, b"(a)|b", b"abc", b"[ \"\" [ \"a\" ] \"\" [ null ] \"c\" ]"),
        (S, b"(a)|(c)", b"abc", b"[ \"\" [ \"a\" null ] \"b\" [ null \"c\" ] \"\" ]"),
        (S, b",", b"a,b,,c", b"[ \"a\" [ ] \"b\" [ ] \"\" [ ] \"c\" ]"),
        (S, b"(,)", b"a,b", b"[ \"a\" [ \",\" ] \"b\" ]"),
        (S, b"b*", b"abc", b"[ \"\" [ ] \"a\" [ ] \"\" [ ] \"c\" [ ] \"\" ]"),
        (S, b"x*", b"", b"[ \"\" [ ] \"\" ]"),
        (S, b"a|b*", b"abba", b"[ \"\" [ ] \"\" [ ] \"\" [ ] \"\" [ ] \"\" ]"),
        (S, b"^a", b"aaa", b"[ \"\" [ ] \"aa\" ]"),
        (S, b"a$", b"aaa", b"[ \"aa\" [ ] \"\" ]"),
        (S, b"$", b"ab", b"[ \"ab\" [ ] \"\" ]"),
        (S, b"^", b"ab", b"[ \"\" [ ] \"ab\" ]"),
        (S, b"(a*)*", b"aab", b"[ \"\" [ \"\" ] \"\" [ \"\" ] \"b\" [ \"\" ] \"\" ]"),
        (S, b"[[:space:]]+", b"a b  c", b"[ \"a\" [ ] \"b\" [ ] \"c\" ]"),
        (S, b"(a)(b)?", b"ab a", b"[ \"\" [ \"a\" \"b\" ] \" \" [ \"a\" null ] \"\" ]"),
        (S, b"a?", b"bab", b"[ \"\" [ ] \"b\" [ ] \"\" [ ] \"b\" [ ] \"\" ]"),
        (S, b"(a|ab)(c|bcd)(d*)", b"xabcdx", b"[ \"x\" [ \"a\" \"bcd\" \"\" ] \"x\" ]"),
        (S, b"(a*)+", b"baab", b"[ \"\" [ \"\" ] \"b\" [ \"\" ] \"\" [ \"\" ] \"b\" [ \"\" ] \"\" ]"),
        (S, b"a*?", b"baa", b"[ \"\" [ ] \"b\" [ ] \"\" [ ] \"\" ]"),
        (S, b"(^)", b"ab", b"[ \"\" [ \"\" ] \"ab\" ]"),
        (S, b"(^|,)", b"a,b", b"[ \"\" [ \"\" ] \"a\" [ \",\" ] \"b\" ]"),
        (S, b"($|,)", b"a,b", b"[ \"a\" [ \",\" ] \"b\" [ \"\" ] \"\" ]"),
        (S, b"b|$", b"ab", b"[ \"a\" [ ] \"\" [ ] \"\" ]"),
        (S, b"(a|)", b"ab", b"[ \"\" [ \"a\" ] \"\" [ \"\" ] \"b\" [ \"\" ] \"\" ]"),
        (S, b"(|a)", b"ab", b"[ \"\" [ \"a\" ] \"\" [ \"\" ] \"b\" [ \"\" ] \"\" ]"),
        (S, b"a|", b"ab", b"[ \"\" [ ] \"\" [ ] \"b\" [ ] \"\" ]"),
        (S, b"[^a]*", b"xaay", b"[ \"\" [ ] \"\" [ ] \"a\" [ ] \"a\" [ ] \"\" [ ] \"\" ]"),
        (S, b"(b*)", b"abba", b"[ \"\" [ \"\" ] \"a\" [ \"bb\" ] \"\" [ \"\" ] \"a\" [ \"\" ] \"\" ]"),
        (S, b"(a*)(b*)", b"abab", b"[ \"\" [ \"a\" \"b\" ] \"\" [ \"a\" \"b\" ] \"\" [ \"\" \"\" ] \"\" ]"),
        (S, b"x", b"aaa", b"[ \"aaa\" ]"),
        (S, b"a", b"aaa", b"[ \"\" [ ] \"\" [ ] \"\" [ ] \"\" ]"),
        (S, b"aa", b"aaaaa", b"[ \"\" [ ] \"\" [ ] \"a\" ]"),
        (S, b"(.)", b"abc", b"[ \"\" [ \"a\" ] \"\" [ \"b\" ] \"\" [ \"c\" ] \"\" ]"),
        (S, b"(.)*", b"abc", b"[ \"\" [ \"c\" ] \"\" [ null ] \"\" ]"),
        (S, b"(a)*", b"baab", b"[ \"\" [ null ] \"b\" [ \"a\" ] \"\" [ null ] \"b\" [ null ] \"\" ]"),
        (
            S,
            b"((a)|b)*",
            b"abxba",
            b"[ \"\" [ \"b\" \"a\" ] \"\" [ null null ] \"x\" [ \"a\" \"a\" ] \"\" [ null null ] \"\" ]",
        ),
        (S, b"\\.", b"1.2.3", b"[ \"1\" [ ] \"2\" [ ] \"3\" ]"),
        (S, b"(-)|(\\.)", b"1-2.3", b"[ \"1\" [ \"-\" null ] \"2\" [ null \".\" ] \"3\" ]"),
        (S, b"[[:digit:]]+", b"ab12cd345", b"[ \"ab\" [ ] \"cd\" [ ] \"\" ]"),
        (S, b"\xc3\xa9", b"a\xc3\xa9b", b"[ \"a\" [ ] \"b\" ]"),
        (S, b".", b"\xc3\xa9", b"[ \"\" [ ] \"\" [ ] \"\" ]"),
        (S, b"^a|b", b"aab", b"[ \"\" [ ] \"a\" [ ] \"\" ]"),
        (S, b"(^a)*", b"aab", b"[ \"\" [ \"a\" ] \"\" [ null ] \"a\" [ null ] \"b\" [ null ] \"\" ]"),
        (S, b"(a|^)", b"ba", b"[ \"\" [ \"\" ] \"b\" [ \"a\" ] \"\" ]"),
        (S, b"a*", b"aaa", b"[ \"\" [ ] \"\" [ ] \"\" ]"),
        (S, b"a*", b"", b"[ \"\" [ ] \"\" ]"),
        (S, b"()", b"ab", b"[ \"\" [ \"\" ] \"a\" [ \"\" ] \"b\" [ \"\" ] \"\" ]"),
        (S, b"a{0}", b"ab", b"[ \"\" [ ] \"a\" [ ] \"b\" [ ] \"\" ]"),
        (M, b"a{99993}", b"", b"null"),
        (M, b"a{99994}", b"", b"ERROR:memory"),
        (M, b"(a|b){0,11109}", b"", b"[ null ]"),
        (M, b"(a|b){0,11110}", b"", b"ERROR:memory"),
        (M, b"((a)*b?){1,2}{3998}", b"", b"[ \"\" null ]"),
        (M, b"((a)*b?){1,2}{3999}", b"", b"ERROR:memory"),
        (M, b"a*{49996}", b"", b"[ ]"),
        (M, b"a*{49997}", b"", b"ERROR:memory"),
        (M, b"a$", b"a\n", b"null"),
        (M, b"^a", b"\na", b"null"),
        (M, b"[^a]", b"\n", b"[ ]"),
        (M, b"a\nb", b"a\nb", b"[ ]"),
        (S, b"^a", b"a\na", b"[ \"\" [ ] \"\\na\" ]"),
        (S, b"a$", b"a\na", b"[ \"a\\n\" [ ] \"\" ]"),
        (S, b"\n", b"x\ny\n", b"[ \"x\" [ ] \"y\" [ ] \"\" ]"),
        (M, b"(a*|b)*c", b"abac", b"[ \"\" ]"),
        (M, b"(((a|b)*)*)*c", b"abab", b"null"),
        (M, b"((a*)*|b)*", b"abba", b"[ \"\" \"\" ]"),
        (S, b"(a*|b)*", b"abcab", b"[ \"\" [ \"\" ] \"\" [ \"\" ] \"c\" [ \"\" ] \"\" [ \"\" ] \"\" ]"),
        (M, b"(a|b)*(b)", b"abab", b"[ \"a\" \"b\" ]"),
        (M, b"(a?)*", b"aa", b"[ \"\" ]"),
        (M, b"(a?)+", b"", b"[ \"\" ]"),
        (M, b"(a?){2,3}", b"a", b"[ \"\" ]"),
        (M, b"(a|ab|abc)*", b"abcab", b"[ \"ab\" ]"),
        (M, b"(ab|abc|a)(c?)", b"abc", b"[ \"ab\" \"c\" ]"),
        (S, b"(a|ab)(c|bcd)?", b"abcdabc", b"[ \"\" [ \"a\" \"bcd\" ] \"\" [ \"ab\" \"c\" ] \"\" ]"),
    ];

    /// A string as Nix prints it.
    fn print_string(out: &mut Vec<u8>, s: &[u8]) {
        out.push(b'"');
        for (i, &b) in s.iter().enumerate() {
            match b {
                b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'$' if s.get(i + 1) == Some(&b'{') => out.extend_from_slice(b"\\$"),
                _ => out.push(b),
            }
        }
        out.push(b'"');
    }

    /// A list of groups as Nix prints it.
    fn print_groups(out: &mut Vec<u8>, input: &[u8], groups: &[Option<Range<usize>>]) {
        out.extend_from_slice(b"[ ");
        for group in groups {
            match group {
                Some(range) => print_string(out, &input[range.clone()]),
                None => out.extend_from_slice(b"null"),
            }
            out.push(b' ');
        }
        out.push(b']');
    }

    /// What Nix would print for the builtin applied to `pattern` and `input`.
    fn nix_result(kind: Kind, pattern: &[u8], input: &[u8]) -> Vec<u8> {
        let re = match Regex::new(pattern) {
            Ok(re) => re,
            Err(e) if e.message.starts_with("memory limit exceeded") => {
                return b"ERROR:memory".to_vec();
            }
            Err(_) => return b"ERROR:invalid".to_vec(),
        };
        let mut out = Vec::new();
        match kind {
            M => match re.match_full(input) {
                Some(groups) => print_groups(&mut out, input, &groups),
                None => out.extend_from_slice(b"null"),
            },
            S => {
                out.extend_from_slice(b"[ ");
                for piece in split(&re, input) {
                    match piece {
                        SplitPiece::Text(range) => print_string(&mut out, &input[range]),
                        SplitPiece::Groups(groups) => print_groups(&mut out, input, &groups),
                    }
                    out.push(b' ');
                }
                out.push(b']');
            }
        }
        out
    }

    #[test]
    fn agrees_with_nix() {
        let mut failures = Vec::new();
        for &(kind, pattern, input, expected) in CASES {
            let got = nix_result(kind, pattern, input);
            if got != expected {
                failures.push(format!(
                    "{kind:?} {:?} {:?}: nix {:?}, got {:?}",
                    String::from_utf8_lossy(pattern),
                    String::from_utf8_lossy(input),
                    String::from_utf8_lossy(expected),
                    String::from_utf8_lossy(&got),
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn group_count_and_find_at() {
        let re = Regex::new(b"(a|ab)(c|bcd)(d*)").unwrap();
        assert_eq!(re.group_count(), 3);
        assert_eq!(re.find_at(b"xabcd", 0), Some(vec![Some(1..5), Some(1..2), Some(2..5), Some(5..5)]));
        assert_eq!(re.find_at(b"xabcd", 2), None);
        assert_eq!(re.find_at(b"xabcd", 6), None);
        let caret = Regex::new(b"^a|b").unwrap();
        assert_eq!(caret.find_at(b"aab", 0), Some(vec![Some(0..1)]));
        assert_eq!(caret.find_at(b"aab", 1), Some(vec![Some(2..3)]));
        let empty = Regex::new(b"x*").unwrap();
        assert_eq!(empty.find_at(b"ab", 2), Some(vec![Some(2..2)]));
    }

    #[test]
    fn errors_are_reported_in_plain_words() {
        let error = Regex::new(b"(ab").unwrap_err();
        assert_eq!(error.offset, 3);
        assert!(error.to_string().contains("unmatched '('"), "{error}");
        let error = Regex::new(b"ab[c").unwrap_err();
        assert_eq!(error.offset, 4);
        let error = Regex::new(b"a{2,1}").unwrap_err();
        assert!(error.message.contains("interval"), "{error}");
        let error = Regex::new(b"a{99994}").unwrap_err();
        assert!(error.message.starts_with("memory limit exceeded"), "{error}");
    }

    #[test]
    fn large_inputs_finish_quickly() {
        let n = 100_000;
        let mut text = vec![b'x'; n / 2];
        text.extend_from_slice(b"foo");
        text.extend(vec![b'y'; n / 2]);
        let re = Regex::new(b"(.*)foo(.*)").unwrap();
        assert_eq!(re.match_full(&text), Some(vec![Some(0..n / 2), Some(n / 2 + 3..n + 3)]));

        let words: Vec<u8> = b"hello world ".iter().cycle().take(n).copied().collect();
        let re = Regex::new(b"[a-z]+").unwrap();
        let runs = words.split(|&b| b == b' ').filter(|w| !w.is_empty()).count();
        assert_eq!(split(&re, &words).len(), 2 * runs + 1);

        let mut ab: Vec<u8> = b"ab".iter().cycle().take(n).copied().collect();
        ab.push(b'c');
        let re = Regex::new(b"(a|b)*c").unwrap();
        assert_eq!(re.match_full(&ab), Some(vec![Some(n - 1..n)]));
        assert_eq!(re.find_at(&ab, 0).map(|g| g[0].clone()), Some(Some(0..n + 1)));
    }

    #[test]
    fn deep_nesting_and_long_patterns_do_not_overflow() {
        let depth = 20_000;
        let mut pattern = vec![b'('; depth];
        pattern.push(b'a');
        pattern.extend(vec![b')'; depth]);
        let re = Regex::new(&pattern).unwrap();
        let groups = re.match_full(b"a").unwrap();
        assert_eq!(groups.len(), depth);
        assert!(groups.iter().all(|g| *g == Some(0..1)));

        let long = vec![b'a'; 90_000];
        let re = Regex::new(&long).unwrap();
        assert_eq!(re.match_full(&long), Some(vec![]));
    }

    #[test]
    fn random_patterns_never_panic() {
        const PIECES: &[&[u8]] = &[
            b"a",
            b"b",
            b"(",
            b")",
            b"|",
            b"*",
            b"+",
            b"?",
            b"{",
            b"}",
            b",",
            b"1",
            b"0",
            b"[",
            b"]",
            b"^",
            b"$",
            b".",
            b"\\",
            b"-",
            b"[:alpha:]",
            b"[.",
            b"=]",
            b"\xc3",
            b"\0",
            b"{2}",
            b"{0,3}",
            b"{1,}",
            b"[^",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..3000 {
            let mut pattern = Vec::new();
            for _ in 0..next(10) {
                pattern.extend_from_slice(PIECES[next(PIECES.len())]);
            }
            let input: Vec<u8> = (0..next(20)).map(|_| b"ab-.\n\xff"[next(6)]).collect();
            if let Ok(re) = Regex::new(&pattern) {
                let _ = re.match_full(&input);
                let _ = re.find_at(&input, next(input.len() + 1));
                let _ = split(&re, &input);
            }
        }
    }
}
