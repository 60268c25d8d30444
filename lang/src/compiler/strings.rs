//! Lowering of string literals: escapes and the indentation rules of `''` strings.
//!
//! rnix hands over the raw text between interpolations; this module applies
//! Nix's own lexer and indentation-stripping rules to it so that the result
//! is byte for byte what Nix produces.

use rnix::ast::{self, InterpolPart};
use rowan::ast::AstNode;

/// A piece of a string after lowering.
pub(crate) enum StrPart {
    /// Literal bytes.
    Literal(Vec<u8>),
    /// `${ … }`.
    Interpolation(ast::Interpol),
}

/// The parts of a string literal, escapes resolved and indentation stripped.
pub(crate) fn string_parts(node: &ast::Str) -> Vec<StrPart> {
    let indented =
        node.syntax().children_with_tokens().next().and_then(|t| t.into_token()).is_some_and(|t| t.text() == "''");
    if indented { indented_parts(node) } else { plain_parts(node) }
}

/// The literal pieces and interpolations of a string node. (rnix's own
/// `parts()` asserts on the shapes an erroneous tree can have.)
fn raw_parts(node: &ast::Str) -> Vec<InterpolPart<rnix::SyntaxToken>> {
    node.syntax()
        .children_with_tokens()
        .filter_map(|child| match child {
            rowan::NodeOrToken::Token(token) if token.kind() == rnix::SyntaxKind::TOKEN_STRING_CONTENT => {
                Some(InterpolPart::Literal(token))
            }
            rowan::NodeOrToken::Token(_) => None,
            rowan::NodeOrToken::Node(node) => ast::Interpol::cast(node).map(InterpolPart::Interpolation),
        })
        .collect()
}

fn plain_parts(node: &ast::Str) -> Vec<StrPart> {
    let mut parts = Vec::new();
    for part in raw_parts(node) {
        match part {
            InterpolPart::Literal(text) => push_literal(&mut parts, unescape_plain(text.text())),
            InterpolPart::Interpolation(interpol) => parts.push(StrPart::Interpolation(interpol)),
        }
    }
    parts
}

fn push_literal(parts: &mut Vec<StrPart>, bytes: Vec<u8>) {
    if let Some(StrPart::Literal(last)) = parts.last_mut() {
        last.extend_from_slice(&bytes);
    } else {
        parts.push(StrPart::Literal(bytes));
    }
}

/// Resolves the escapes of a `"…"` string: `\n`, `\r`, `\t`, and `\c` for
/// any other character; a carriage return (with or without a following
/// line feed) becomes a line feed, as Nix's lexer does.
fn unescape_plain(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => {
                out.push(escaped(bytes[i + 1]));
                i += 2;
            }
            b'\r' => {
                out.push(b'\n');
                i += if bytes.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn escaped(c: u8) -> u8 {
    match c {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        other => other,
    }
}

/// One token of an indented string as Nix's lexer produces it.
enum IndToken {
    /// Text; `indented` is false for escapes, whose leading whitespace
    /// does not count as indentation.
    Text {
        bytes: Vec<u8>,
        indented: bool,
    },
    Interpolation(ast::Interpol),
}

fn indented_parts(node: &ast::Str) -> Vec<StrPart> {
    let mut tokens = Vec::new();
    let mut first = true;
    for part in raw_parts(node) {
        match part {
            InterpolPart::Literal(text) => {
                let mut raw = text.text();
                if first {
                    // The opening `''` swallows spaces followed by a newline.
                    let spaces = raw.bytes().take_while(|&b| b == b' ').count();
                    if raw.as_bytes().get(spaces) == Some(&b'\n') {
                        raw = &raw[spaces + 1..];
                    }
                }
                lex_indented(raw, &mut tokens);
            }
            InterpolPart::Interpolation(interpol) => tokens.push(IndToken::Interpolation(interpol)),
        }
        first = false;
    }
    strip_indentation(tokens)
}

/// Splits raw indented-string text into Nix's tokens.
fn lex_indented(raw: &str, tokens: &mut Vec<IndToken>) {
    let bytes = raw.as_bytes();
    let mut text = Vec::new();
    let mut i = 0;
    let flush = |text: &mut Vec<u8>, tokens: &mut Vec<IndToken>| {
        if !text.is_empty() {
            tokens.push(IndToken::Text { bytes: std::mem::take(text), indented: true });
        }
    };
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        if c == b'\'' && next == Some(b'\'') {
            flush(&mut text, tokens);
            match bytes.get(i + 2).copied() {
                Some(b'$') => {
                    tokens.push(IndToken::Text { bytes: b"$".to_vec(), indented: false });
                    i += 3;
                }
                Some(b'\'') => {
                    tokens.push(IndToken::Text { bytes: b"''".to_vec(), indented: false });
                    i += 3;
                }
                Some(b'\\') => {
                    let rest = &raw[i + 3..];
                    let ch = rest.chars().next();
                    let escaped_bytes = match ch {
                        Some(ch) if ch.is_ascii() => vec![escaped(ch as u8)],
                        Some(ch) => ch.to_string().into_bytes(),
                        None => Vec::new(),
                    };
                    tokens.push(IndToken::Text { bytes: escaped_bytes, indented: false });
                    i += 3 + ch.map_or(0, char::len_utf8);
                }
                _ => {
                    // Cannot happen inside a well-formed string: `''` closes it.
                    text.extend_from_slice(b"''");
                    i += 2;
                }
            }
        } else if c == b'\'' && (next.is_none() || next == Some(b'$')) {
            flush(&mut text, tokens);
            tokens.push(IndToken::Text { bytes: b"'".to_vec(), indented: false });
            i += 1;
        } else if c == b'$' && (next.is_none() || next == Some(b'\'')) {
            flush(&mut text, tokens);
            tokens.push(IndToken::Text { bytes: b"$".to_vec(), indented: false });
            i += 1;
        } else {
            text.push(c);
            i += 1;
        }
    }
    flush(&mut text, tokens);
}

/// Nix's `stripIndentation`: find the smallest indentation of the lines
/// (whitespace-only lines do not count), remove it from every line, and
/// drop a final line that holds only spaces.
fn strip_indentation(tokens: Vec<IndToken>) -> Vec<StrPart> {
    let mut at_line_start = true;
    let mut min_indent = usize::MAX;
    let mut current = 0;
    for token in &tokens {
        match token {
            IndToken::Text { bytes, indented: true } => {
                for &b in bytes {
                    if at_line_start {
                        if b == b' ' {
                            current += 1;
                        } else if b == b'\n' {
                            current = 0;
                        } else {
                            at_line_start = false;
                            min_indent = min_indent.min(current);
                        }
                    } else if b == b'\n' {
                        at_line_start = true;
                        current = 0;
                    }
                }
            }
            _ => {
                if at_line_start {
                    at_line_start = false;
                    min_indent = min_indent.min(current);
                }
            }
        }
    }

    let mut parts = Vec::new();
    at_line_start = true;
    let mut dropped = 0;
    let count = tokens.len();
    for (position, token) in tokens.into_iter().enumerate() {
        match token {
            IndToken::Interpolation(interpol) => {
                at_line_start = false;
                dropped = 0;
                parts.push(StrPart::Interpolation(interpol));
            }
            IndToken::Text { bytes, .. } => {
                let mut out = Vec::with_capacity(bytes.len());
                for b in bytes {
                    if at_line_start {
                        if b == b' ' {
                            if dropped >= min_indent {
                                out.push(b);
                            }
                            dropped += 1;
                        } else if b == b'\n' {
                            dropped = 0;
                            out.push(b);
                        } else {
                            at_line_start = false;
                            dropped = 0;
                            out.push(b);
                        }
                    } else {
                        out.push(b);
                        if b == b'\n' {
                            at_line_start = true;
                        }
                    }
                }
                if position + 1 == count
                    && let Some(p) = out.iter().rposition(|&b| b == b'\n')
                    && out[p + 1..].iter().all(|&b| b == b' ')
                {
                    out.truncate(p + 1);
                }
                push_literal(&mut parts, out);
            }
        }
    }
    parts
}
