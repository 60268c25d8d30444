//! Version strings: `compareVersions`, `splitVersion` and `parseDrvName`,
//! with Nix's component rules.

use super::PrimOp;
use super::strings::force_string_no_context;
use crate::error::EvalResult;
use crate::eval::Vm;
use crate::symbol::Symbol;
use crate::value::{Attr, Attrs, Value};
use std::cmp::Ordering;

pub(super) const PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "compareVersions", arity: 2, run: compare_versions_primop },
    PrimOp { name: "splitVersion", arity: 1, run: split_version_primop },
    PrimOp { name: "parseDrvName", arity: 1, run: parse_drv_name_primop },
];

fn compare_versions_primop(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let left = force_string_no_context(vm, &args[0])?;
    let right = force_string_no_context(vm, &args[1])?;
    Ok(Value::Int(match compare_versions(left.as_bytes(), right.as_bytes()) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }))
}

fn split_version_primop(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let version = force_string_no_context(vm, &args[0])?;
    Ok(Value::list(split_version(version.as_bytes()).into_iter().map(Value::string).collect()))
}

fn parse_drv_name_primop(vm: &mut Vm, args: &[Value]) -> EvalResult<Value> {
    let full = force_string_no_context(vm, &args[0])?;
    let (name, version) = parse_drv_name(full.as_bytes());
    Ok(Value::attrs(Attrs::from_sorted(vec![
        Attr { name: Symbol::from_str("name"), value: Value::string(name), span: None },
        Attr { name: Symbol::from_str("version"), value: Value::string(version), span: None },
    ])))
}

/// Whether a byte separates version components.
fn is_separator(byte: u8) -> bool {
    byte == b'.' || byte == b'-'
}

/// Takes the next component off `rest`: separators are skipped, then the
/// longest run of digits, or of bytes that are neither digits nor
/// separators. Returns an empty component at the end.
fn next_component<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let skipped = rest.iter().position(|&b| !is_separator(b)).unwrap_or(rest.len());
    let (_, tail) = rest.split_at(skipped);
    let length = if tail.first().is_some_and(u8::is_ascii_digit) {
        tail.iter().position(|b| !b.is_ascii_digit())
    } else {
        tail.iter().position(|&b| b.is_ascii_digit() || is_separator(b))
    }
    .unwrap_or(tail.len());
    let (component, remainder) = tail.split_at(length);
    *rest = remainder;
    component
}

/// A component's numeric value, as C++'s `string2Int<int>` reads it
/// (digits only, within 32 bits).
fn component_number(component: &[u8]) -> Option<i32> {
    std::str::from_utf8(component).ok()?.parse().ok()
}

/// Nix's order of components: numbers numerically, the empty component
/// before numbers, `pre` before everything else, then strings before
/// numbers, and strings by bytes.
fn component_less(left: &[u8], right: &[u8]) -> bool {
    let (left_number, right_number) = (component_number(left), component_number(right));
    match (left_number, right_number) {
        (Some(a), Some(b)) => a < b,
        (_, Some(_)) if left.is_empty() => true,
        _ if left == b"pre" && right != b"pre" => true,
        _ if right == b"pre" => false,
        (_, Some(_)) => true,
        (Some(_), _) => false,
        _ => left < right,
    }
}

/// `builtins.compareVersions`: compares component by component.
fn compare_versions(left: &[u8], right: &[u8]) -> Ordering {
    let (mut left, mut right) = (left, right);
    while !left.is_empty() || !right.is_empty() {
        let a = next_component(&mut left);
        let b = next_component(&mut right);
        if component_less(a, b) {
            return Ordering::Less;
        }
        if component_less(b, a) {
            return Ordering::Greater;
        }
    }
    Ordering::Equal
}

/// `builtins.splitVersion`: the components, without separators.
fn split_version(version: &[u8]) -> Vec<&[u8]> {
    let mut rest = version;
    let mut components = Vec::new();
    while !rest.is_empty() {
        let component = next_component(&mut rest);
        if component.is_empty() {
            break;
        }
        components.push(component);
    }
    components
}

/// `builtins.parseDrvName`: the version starts after the first `-` that is
/// followed by something other than an ASCII letter.
fn parse_drv_name(full: &[u8]) -> (&[u8], &[u8]) {
    let split = full.windows(2).position(|pair| matches!(pair, [b'-', next] if !next.is_ascii_alphabetic()));
    match split {
        Some(dash) => (full.get(..dash).unwrap_or_default(), full.get(dash + 1..).unwrap_or_default()),
        None => (full, b""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare_versions(a.as_bytes(), b.as_bytes())
    }

    #[test]
    fn versions_compare_numerically_by_component() {
        assert_eq!(cmp("1.0", "2.3"), Ordering::Less);
        assert_eq!(cmp("2.3", "2.3"), Ordering::Equal);
        assert_eq!(cmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(cmp("3.1", "2.3"), Ordering::Greater);
    }

    #[test]
    fn versions_special_components() {
        assert_eq!(cmp("2.3pre1", "2.3"), Ordering::Less);
        assert_eq!(cmp("2.3", "2.3.1"), Ordering::Less);
        assert_eq!(cmp("2.3a", "2.3"), Ordering::Greater);
        assert_eq!(cmp("2.3pre1", "2.3a"), Ordering::Less);
        assert_eq!(cmp("", "1"), Ordering::Less);
        assert_eq!(cmp("1.0", "1"), Ordering::Greater);
        assert_eq!(cmp("1.0pre", "1.0"), Ordering::Less);
        assert_eq!(cmp("2.0rc1", "2.0"), Ordering::Greater);
        assert_eq!(cmp("1.0pre2", "1.0pre10"), Ordering::Less);
        assert_eq!(cmp("1.", "1"), Ordering::Equal);
    }

    #[test]
    fn numbers_beyond_32_bits_compare_as_strings() {
        // "3000000000" is not an int, so it sorts as a string: before numbers.
        assert_eq!(cmp("3000000000", "2"), Ordering::Less);
        assert_eq!(cmp("10000000000", "9000000000"), Ordering::Less);
    }

    #[test]
    fn split_version_drops_separators() {
        let split = |s: &'static str| -> Vec<&str> {
            split_version(s.as_bytes()).into_iter().map(|c| std::str::from_utf8(c).unwrap_or("?")).collect()
        };
        assert_eq!(split("1.2.3"), ["1", "2", "3"]);
        assert_eq!(split("2.3pre1"), ["2", "3", "pre", "1"]);
        assert_eq!(split("1.2-rc3"), ["1", "2", "rc", "3"]);
        assert_eq!(split("a.b_c"), ["a", "b_c"]);
        assert_eq!(split("10..20"), ["10", "20"]);
        assert!(split("").is_empty());
        assert!(split("...").is_empty());
    }

    #[test]
    fn drv_names_split_at_the_first_dash_before_a_non_letter() {
        let parse = |s: &'static str| {
            let (name, version) = parse_drv_name(s.as_bytes());
            (String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(version).into_owned())
        };
        assert_eq!(parse("nix-0.12pre12876"), ("nix".into(), "0.12pre12876".into()));
        assert_eq!(parse("a-b-c-1.0-beta"), ("a-b-c".into(), "1.0-beta".into()));
        assert_eq!(parse("foo-bar"), ("foo-bar".into(), "".into()));
        assert_eq!(parse("foo-"), ("foo-".into(), "".into()));
        assert_eq!(parse("x--1"), ("x".into(), "-1".into()));
        assert_eq!(parse("foo"), ("foo".into(), "".into()));
    }
}
