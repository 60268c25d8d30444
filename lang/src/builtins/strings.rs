//! String functions: slicing, replacing, joining, regular expressions,
//! path-like names and `placeholder`.

use super::PrimOp;
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::eval::{CoerceMode, Vm};
use crate::regex::{Regex, SplitPiece};
use crate::value::{Context, NixStr, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "substring", arity: 3, run: substring },
    PrimOp { name: "stringLength", arity: 1, run: string_length },
    PrimOp { name: "replaceStrings", arity: 3, run: replace_strings },
    PrimOp { name: "concatStringsSep", arity: 2, run: concat_strings_sep },
    PrimOp { name: "match", arity: 2, run: regex_match },
    PrimOp { name: "split", arity: 2, run: regex_split },
    PrimOp { name: "toString", arity: 1, run: to_string },
    PrimOp { name: "baseNameOf", arity: 1, run: base_name_of },
    PrimOp { name: "dirOf", arity: 1, run: dir_of },
    PrimOp { name: "placeholder", arity: 1, run: placeholder },
];

/// Coerces a value to a string as interpolation does (sets with
/// `__toString`/`outPath`, paths imported), keeping its context.
pub(super) fn coerce_interpolated(vm: &mut Vm, value: &Value) -> EvalResult<Rc<NixStr>> {
    vm.coerce_to_string(value, CoerceMode::Interpolation, true)
}

/// Forces a string that must not have a context, as Nix's
/// `forceStringNoCtx` does.
pub(super) fn force_string_no_context(vm: &mut Vm, value: &Value) -> EvalResult<Rc<NixStr>> {
    let s = vm.force_string(value)?;
    match s.context().and_then(|context| context.iter().next()) {
        Some(first) => Err(EvalError::new(ErrorKind::Other(format!(
            "the string '{}' is not allowed to refer to a store path (such as '{first}')",
            s.to_str_lossy()
        )))),
        None => Ok(s),
    }
}

/// A string of `bytes` carrying the context of `source`.
fn with_context_of(bytes: &[u8], source: &NixStr) -> Value {
    match source.context() {
        Some(context) => Value::String(NixStr::with_context(bytes, context.clone())),
        None => Value::string(bytes),
    }
}

fn substring(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let start = vm.force_int(&args[0])?;
    let len = vm.force_int(&args[1])?;
    let s = coerce_interpolated(vm, &args[2])?;
    let Ok(start) = usize::try_from(start) else {
        return Err(EvalError::new(ErrorKind::Other("negative start position in 'substring'".into())));
    };
    let piece = substring_bytes(s.as_bytes(), start, len);
    if piece.len() == s.as_bytes().len() {
        return Ok(Value::String(s));
    }
    Ok(with_context_of(piece, &s))
}

/// The bytes from `start` on, at most `len` of them; a negative `len`
/// means "to the end" and a `start` past the end gives nothing.
fn substring_bytes(bytes: &[u8], start: usize, len: i64) -> &[u8] {
    let rest = bytes.get(start..).unwrap_or_default();
    match usize::try_from(len) {
        Ok(len) => rest.get(..len).unwrap_or(rest),
        Err(_) => rest,
    }
}

fn string_length(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let s = coerce_interpolated(vm, &args[0])?;
    Ok(Value::Int(i64::try_from(s.as_bytes().len()).unwrap_or(i64::MAX)))
}

fn replace_strings(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let from = vm.force_list(&args[0])?;
    let to = vm.force_list(&args[1])?;
    if from.len() != to.len() {
        return Err(EvalError::new(ErrorKind::Other(
            "'from' and 'to' arguments to 'replaceStrings' have different lengths".into(),
        )));
    }
    // Few patterns is the rule: keep them off the heap.
    let mut patterns: Few<Rc<NixStr>> = Few::new();
    let mut replacements: Few<Rc<NixStr>> = Few::new();
    for (pattern, replacement) in from.iter().zip(to.iter()) {
        patterns.push(vm.force_string(pattern)?);
        replacements.push(vm.force_string(replacement)?);
    }
    let input = vm.force_string(&args[2])?;
    if patterns.is_empty() {
        return Ok(Value::String(input));
    }
    let mut pattern_bytes: Few<&[u8]> = Few::new();
    let mut replacement_bytes: Few<&[u8]> = Few::new();
    for (pattern, replacement) in patterns.iter().zip(&replacements) {
        pattern_bytes.push(pattern.as_bytes());
        replacement_bytes.push(replacement.as_bytes());
    }
    let (bytes, used) = replace_bytes(input.as_bytes(), &pattern_bytes, &replacement_bytes);
    let mut context: Context = input.context().cloned().unwrap_or_default();
    for (replacement, _) in replacements.iter().zip(&used).filter(|(_, used)| **used) {
        if let Some(extra) = replacement.context() {
            context.extend(extra.iter().cloned());
        }
    }
    Ok(Value::String(NixStr::with_context(bytes, context)))
}

/// A short sequence, inline up to the usual number of `replaceStrings` patterns.
type Few<T> = smallvec::SmallVec<[T; 4]>;

/// Nix's `replaceStrings` scan: at each position the first pattern that
/// matches is replaced and the scan continues after it; an empty pattern
/// matches at every position, including the end, and consumes one byte.
/// Returns the result and, per pattern, whether it was used.
fn replace_bytes(input: &[u8], from: &[&[u8]], to: &[&[u8]]) -> (Vec<u8>, Few<bool>) {
    let mut out = Vec::with_capacity(input.len());
    let mut used: Few<bool> = smallvec::smallvec![false; from.len()];
    // Bytes that can start a match; runs of other bytes are copied at once.
    let has_empty = from.iter().any(|pattern| pattern.is_empty());
    let mut starts = [false; 256];
    for pattern in from {
        if let Some(&first) = pattern.first() {
            starts[first as usize] = true;
        }
    }
    let mut position = 0;
    while position <= input.len() {
        if !has_empty {
            let run_start = position;
            while position < input.len() && !starts[input[position] as usize] {
                position += 1;
            }
            out.extend_from_slice(&input[run_start..position]);
            if position == input.len() {
                break;
            }
        }
        let rest = input.get(position..).unwrap_or_default();
        let hit = from.iter().zip(to).zip(used.iter_mut()).find(|((pattern, _), _)| rest.starts_with(pattern));
        let consumed = match hit {
            Some(((pattern, replacement), used)) => {
                out.extend_from_slice(replacement);
                *used = true;
                pattern.len()
            }
            None => 0,
        };
        if consumed == 0 {
            out.extend(rest.first());
            position += 1;
        } else {
            position += consumed;
        }
    }
    (out, used)
}

fn concat_strings_sep(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let separator = vm.force_string(&args[0])?;
    let list = vm.force_list(&args[1])?;
    let mut builder = crate::value::StringBuilder::new();
    if let Some(context) = separator.context() {
        builder.add_context(context);
    }
    for (index, item) in list.iter().enumerate() {
        if index > 0 {
            builder.push_bytes(separator.as_bytes());
        }
        let piece = coerce_interpolated(vm, item)?;
        builder.push_str(&piece);
    }
    Ok(Value::String(builder.finish()))
}

/// How many compiled patterns the cache holds before it starts over.
const REGEX_CACHE_LIMIT: usize = 1024;

thread_local! {
    /// Compiled patterns by their text: `match` and `split` are called in
    /// loops with the same few patterns.
    static REGEX_CACHE: RefCell<HashMap<Box<[u8]>, Rc<Regex>>> = RefCell::new(HashMap::new());
}

/// The error Nix reports for a pattern that does not compile.
fn regex_error(pattern: &NixStr, error: &crate::regex::RegexError) -> Box<EvalError> {
    let what = if error.message.starts_with("memory limit exceeded") { "memory limit exceeded by" } else { "invalid" };
    EvalError::new(ErrorKind::Other(format!("{what} regular expression '{}'", pattern.to_str_lossy())))
}

/// Compiles a pattern (POSIX extended syntax), or takes it from the cache.
fn compiled_regex(pattern: &NixStr) -> EvalResult<Rc<Regex>> {
    let key = pattern.as_bytes();
    if let Some(regex) = REGEX_CACHE.with(|cache| cache.borrow().get(key).cloned()) {
        return Ok(regex);
    }
    let regex = Rc::new(Regex::new(key).map_err(|error| regex_error(pattern, &error))?);
    REGEX_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= REGEX_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key.into(), regex.clone());
    });
    Ok(regex)
}

/// The list of a match's groups: strings without context, `null` for a
/// group that did not take part.
fn group_list(input: &[u8], groups: &[Option<Range<usize>>]) -> Value {
    Value::list(
        groups
            .iter()
            .map(|group| match group.clone().and_then(|range| input.get(range)) {
                Some(bytes) => Value::string(bytes),
                None => Value::Null,
            })
            .collect(),
    )
}

fn regex_match(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let pattern = force_string_no_context(vm, &args[0])?;
    let regex = compiled_regex(&pattern)?;
    let input = vm.force_string(&args[1])?;
    match regex.match_full(input.as_bytes()) {
        Some(groups) => {
            debug_assert_eq!(groups.len(), regex.group_count(), "one entry per group");
            Ok(group_list(input.as_bytes(), &groups))
        }
        None => Ok(Value::Null),
    }
}

fn regex_split(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let pattern = force_string_no_context(vm, &args[0])?;
    let regex = compiled_regex(&pattern)?;
    let input = vm.force_string(&args[1])?;
    let pieces = crate::regex::split(&regex, input.as_bytes());
    // Without a match Nix returns the input itself, context and all.
    if pieces.len() <= 1 {
        return Ok(Value::list(vec![Value::String(input)]));
    }
    let bytes = input.as_bytes();
    let items = pieces
        .iter()
        .map(|piece| match piece {
            SplitPiece::Text(range) => Value::string(bytes.get(range.clone()).unwrap_or_default()),
            SplitPiece::Groups(groups) => group_list(bytes, groups),
        })
        .collect();
    Ok(Value::list(items))
}

fn to_string(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    Ok(Value::String(vm.coerce_to_string(&args[0], CoerceMode::ToString, false)?))
}

/// Applies a `&str` path function from [`crate::path`] to bytes that may
/// not be UTF-8. Path functions only look at `/`, so bytes are mapped one
/// to one onto the first 256 code points and back when they are not UTF-8.
fn map_path_bytes(bytes: &[u8], function: fn(&str) -> &str) -> Vec<u8> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return function(text).as_bytes().to_vec();
    }
    let widened: String = bytes.iter().map(|&b| char::from(b)).collect();
    function(&widened).chars().map(|c| u8::try_from(c).unwrap_or(b'?')).collect()
}

fn base_name_of(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let s = vm.coerce_to_string(&args[0], CoerceMode::Interpolation, false)?;
    let name = map_path_bytes(s.as_bytes(), crate::path::base_name);
    Ok(with_context_of(&name, &s))
}

fn dir_of(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let value = vm.force(&args[0])?;
    if let Value::Path(path) = &value {
        return Ok(Value::Path(Rc::new(crate::path::dir_name(path).to_string())));
    }
    let s = vm.coerce_to_string(&value, CoerceMode::Interpolation, false)?;
    let dir = map_path_bytes(s.as_bytes(), crate::path::dir_name);
    Ok(with_context_of(&dir, &s))
}

fn placeholder(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let output = force_string_no_context(vm, &args[0])?;
    Ok(Value::string(hash_placeholder(output.as_bytes())))
}

/// `/` followed by the nix-base32 SHA-256 of `nix-output:<name>`, the
/// placeholder Nix substitutes with an output's path at build time.
fn hash_placeholder(output: &[u8]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"nix-output:");
    hasher.update(output);
    format!("/{}", nix_base32(&hasher.finalize()))
}

/// Nix's base-32 encoding: its own alphabet (no e, o, u, t) and the bits
/// read from the end of the input.
fn nix_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";
    if bytes.is_empty() {
        return String::new();
    }
    let len = (bytes.len() * 8 - 1) / 5 + 1;
    (0..len)
        .rev()
        .map(|n| {
            let (byte, shift) = (n * 5 / 8, n * 5 % 8);
            let low = bytes.get(byte).map_or(0, |&b| u32::from(b) >> shift);
            let high = bytes.get(byte + 1).map_or(0, |&b| u32::from(b) << (8 - shift));
            char::from(ALPHABET[((low | high) & 0x1f) as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(input: &str, from: &[&str], to: &[&str]) -> String {
        let from: Vec<&[u8]> = from.iter().map(|s| s.as_bytes()).collect();
        let to: Vec<&[u8]> = to.iter().map(|s| s.as_bytes()).collect();
        String::from_utf8(replace_bytes(input.as_bytes(), &from, &to).0).expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn replace_scans_left_to_right_first_pattern_wins() {
        assert_eq!(replace("abcab", &["a", "b"], &["1", "2"]), "12c12");
        assert_eq!(replace("aab", &["ab", "a"], &["X", "Y"]), "YX");
        assert_eq!(replace("aaa", &["a"], &["aa"]), "aaaaaa");
        assert_eq!(replace("hello world", &["l"], &[""]), "heo word");
    }

    #[test]
    fn replace_empty_pattern_matches_everywhere_including_the_end() {
        assert_eq!(replace("abc", &[""], &["-"]), "-a-b-c-");
        assert_eq!(replace("", &[""], &["X"]), "X");
        assert_eq!(replace("abc", &["b", ""], &["B", "_"]), "_aB_c_");
    }

    #[test]
    fn replace_reports_which_patterns_were_used() {
        let (_, used) = replace_bytes(b"abc", &[b"x", b"b"], &[b"1", b"2"]);
        assert_eq!(&used[..], [false, true]);
    }

    #[test]
    fn substring_clamps_and_handles_negative_length() {
        assert_eq!(substring_bytes(b"hello", 1, 2), b"el");
        assert_eq!(substring_bytes(b"hello", 2, 100), b"llo");
        assert_eq!(substring_bytes(b"hello", 10, 2), b"");
        assert_eq!(substring_bytes(b"hello", 1, -1), b"ello");
        assert_eq!(substring_bytes(b"hello", 5, 1), b"");
    }

    #[test]
    fn placeholder_matches_nix() {
        assert_eq!(hash_placeholder(b"out"), "/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9");
    }

    #[test]
    fn nix_base32_of_short_inputs() {
        assert_eq!(nix_base32(&[]), "");
        assert_eq!(nix_base32(&[0xff]), "7z");
        assert_eq!(nix_base32(&[0x00, 0x01]), "0080");
    }

    #[test]
    fn path_functions_keep_non_utf8_bytes() {
        assert_eq!(map_path_bytes(b"/a/\xff\xfe", crate::path::base_name), b"\xff\xfe");
        assert_eq!(map_path_bytes(b"\xff/b", crate::path::dir_name), b"\xff");
    }
}
