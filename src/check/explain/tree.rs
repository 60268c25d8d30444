//! Directory objects: entries only one side has, entries of another kind,
//! executable bits, symlink targets, and files whose content differs, each
//! explained as a file (a disk image inside a tree is explained as a disk).
//! The attributes file (`.imgx-attributes`, JSON lines by path) is
//! compared line by line, so a changed owner or mode names its path.

use super::{Aspect, Difference, explain_at, within};
use imgx_builders::ATTRIBUTES_FILE;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The names in a directory, sorted; empty if it cannot be read.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// Compares two directory trees.
pub fn compare(place: &str, registered: &Path, rebuilt: &Path, work: &Path, found: &mut Vec<Difference>) {
    let (a, b) = (names(registered), names(rebuilt));
    for name in a.union(&b) {
        let here = within(place, name);
        let (old, new) = (registered.join(name), rebuilt.join(name));
        match (a.contains(name), b.contains(name)) {
            (true, false) => found.push(Difference::new(here, Aspect::Removed, "only in the registered output")),
            (false, true) => found.push(Difference::new(here, Aspect::Added, "only in the rebuilt output")),
            _ => {
                let (Ok(meta_a), Ok(meta_b)) = (std::fs::symlink_metadata(&old), std::fs::symlink_metadata(&new))
                else {
                    continue;
                };
                if meta_a.is_file() && meta_b.is_file() {
                    let exec = |m: &std::fs::Metadata| m.permissions().mode() & 0o100 != 0;
                    if exec(&meta_a) != exec(&meta_b) {
                        let word = |x: bool| if x { "executable" } else { "not executable" };
                        found.push(Difference::new(
                            &here,
                            Aspect::Mode,
                            format!("{} → {}", word(exec(&meta_a)), word(exec(&meta_b))),
                        ));
                    }
                    if same_content(&old, &new) {
                        continue;
                    }
                    if place.is_empty() && name == ATTRIBUTES_FILE {
                        attributes(&old, &new, found);
                        continue;
                    }
                }
                if meta_a.is_dir() && meta_b.is_dir() {
                    compare(&here, &old, &new, work, found);
                } else {
                    explain_at(&here, &old, &new, work, found);
                }
            }
        }
    }
}

/// Whether two files hold the same bytes (by their store hash, which
/// skips holes).
fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(ha), Ok(hb)) = (imgx_store::hash::hash_file(a), imgx_store::hash::hash_file(b)) else { return false };
    ha == hb
}

/// The attributes file by path: which entries' recorded owners, modes,
/// xattrs or types differ.
fn attributes(old: &Path, new: &Path, found: &mut Vec<Difference>) {
    let read = |p: &Path| -> BTreeMap<String, String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let path = serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("path").and_then(|p| p.as_str()).map(str::to_string))
                    .unwrap_or_else(|| line.to_string());
                (path, line.to_string())
            })
            .collect()
    };
    let (a, b) = (read(old), read(new));
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for path in paths {
        let (x, y) = (a.get(path), b.get(path));
        if x == y {
            continue;
        }
        let aspect = match (x, y) {
            (Some(_), None) => Aspect::Removed,
            (None, Some(_)) => Aspect::Added,
            _ => Aspect::Mode,
        };
        let detail = format!(
            "recorded attributes {} → {}",
            x.map(String::as_str).unwrap_or("(none)"),
            y.map(String::as_str).unwrap_or("(none)")
        );
        found.push(Difference::new(format!("{path} (in {ATTRIBUTES_FILE})"), aspect, detail));
    }
}
