//! Path arithmetic on strings, as the language sees paths: no file-system
//! access, no symlink resolution.

/// Normalises an absolute path: collapses `//`, removes `.` and resolves
/// `..` lexically; never ends in `/` unless it is `/`.
pub fn canonicalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for part in &parts {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Resolves `path` against the directory `base` unless it is absolute.
pub fn join(base: &str, path: &str) -> String {
    if path.starts_with('/') { canonicalize(path) } else { canonicalize(&format!("{base}/{path}")) }
}

/// `builtins.baseNameOf`: the last component, ignoring one trailing slash.
pub fn base_name(path: &str) -> &str {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// `builtins.dirOf`: everything before the last slash (`/` for top-level
/// entries, `.` when there is no slash).
pub fn dir_name(path: &str) -> &str {
    match path.rfind('/') {
        None => ".",
        Some(0) => "/",
        Some(i) => &path[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalize_collapses_dots_and_slashes() {
        assert_eq!(canonicalize("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(canonicalize("/.."), "/");
        assert_eq!(join("/x/y", "../z"), "/x/z");
    }

    #[test]
    fn base_and_dir_names() {
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(dir_name("/a/b"), "/a");
        assert_eq!(dir_name("/a"), "/");
        assert_eq!(dir_name("a"), ".");
    }
}
