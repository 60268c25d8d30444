//! `directory { name; entries = { "etc/motd" = <file or tree>; … }; }`:
//! assembles files and trees into one directory tree.

use crate::builder::{BuildContext, BuildError, Builder, ParamError};
use std::path::{Component, Path};

/// Copies each entry's input to its relative path in a new tree.
pub struct DirectoryBuilder;

/// Checks that an entry path is relative, normal and non-empty.
fn check_entry_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("an entry path is empty".into());
    }
    if path.starts_with('/') {
        return Err(format!("entry path '{path}' must be relative"));
    }
    for component in Path::new(path).components() {
        if !matches!(component, Component::Normal(_)) {
            return Err(format!("entry path '{path}' may not contain '.' or '..'"));
        }
    }
    Ok(())
}

impl Builder for DirectoryBuilder {
    fn kind(&self) -> &'static str {
        "directory"
    }

    fn version(&self) -> &'static str {
        "directory-1"
    }

    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        let entries = params
            .get("entries")
            .and_then(|e| e.as_object())
            .ok_or("a directory needs 'entries', a set from relative paths to files or trees")?;
        let mut paths: Vec<&str> = Vec::new();
        for (path, value) in entries {
            check_entry_path(path).map_err(|message| ParamError::at(format!("entries.{path}"), message))?;
            if !value.is_string() {
                return Err(ParamError::at(
                    format!("entries.{path}"),
                    format!("entry '{path}' must be a path or a step"),
                ));
            }
            paths.push(path);
        }
        paths.sort();
        for pair in paths.windows(2) {
            if pair[1].starts_with(&format!("{}/", pair[0])) {
                return Err(ParamError::at(
                    format!("entries.{}", pair[1]),
                    format!("entry '{}' lies inside entry '{}'", pair[1], pair[0]),
                ));
            }
        }
        for key in params.as_object().into_iter().flat_map(|o| o.keys()) {
            if key != "entries" {
                return Err(ParamError::at(
                    key.clone(),
                    format!("unknown parameter '{key}' (a directory takes entries)"),
                ));
            }
        }
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError> {
        let out = ctx.out.clone();
        std::fs::create_dir(&out).map_err(|e| BuildError::io("creating", &out, e))?;
        let entries = ctx.step.params.get("entries").and_then(|e| e.as_object()).cloned().unwrap_or_default();
        for (path, value) in &entries {
            check_entry_path(path).map_err(BuildError::InvalidParams)?;
            let placeholder = value.as_str().unwrap_or_default();
            let from = ctx.input_path(placeholder)?.to_path_buf();
            let to = out.join(path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| BuildError::io("creating", parent, e))?;
            }
            let meta = std::fs::symlink_metadata(&from).map_err(|e| BuildError::io("reading", &from, e))?;
            if meta.is_dir() {
                imgx_store::copy::copy_tree(&from, &to).map_err(|e| BuildError::io("copying into", &to, e))?;
            } else {
                imgx_store::copy::copy_file(&from, &to).map_err(|e| BuildError::io("copying into", &to, e))?;
            }
            writeln!(ctx.log, "{path} <- {placeholder}").ok();
        }
        Ok(())
    }
}
