//! `file { name; text | source; executable ? false; }`: one file.

use crate::builder::{BuildContext, BuildError, Builder, ParamError};
use std::os::unix::fs::PermissionsExt;

/// Writes a file from literal text or copies it from an input.
pub struct FileBuilder;

impl Builder for FileBuilder {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn version(&self) -> &'static str {
        "file-1"
    }

    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        let text = params.get("text");
        let source = params.get("source");
        match (text, source) {
            (Some(_), Some(_)) => return Err("give either 'text' or 'source', not both".into()),
            (None, None) => return Err("a file needs 'text' or 'source'".into()),
            (Some(t), None) if !t.is_string() => return Err("'text' must be a string".into()),
            (None, Some(s)) if !s.is_string() => return Err("'source' must be a path or a step".into()),
            _ => {}
        }
        if let Some(executable) = params.get("executable")
            && !executable.is_boolean()
        {
            return Err(ParamError::at("executable", "'executable' must be a Boolean"));
        }
        for key in params.as_object().into_iter().flat_map(|o| o.keys()) {
            if !matches!(key.as_str(), "text" | "source" | "executable") {
                return Err(ParamError::at(
                    key.clone(),
                    format!("unknown parameter '{key}' (a file takes text, source and executable)"),
                ));
            }
        }
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError> {
        let out = ctx.out.clone();
        if let Some(text) = ctx.str_param("text") {
            std::fs::write(&out, text).map_err(|e| BuildError::io("writing", &out, e))?;
            writeln!(ctx.log, "wrote {} bytes", text.len()).ok();
        } else if let Some(source) = ctx.str_param("source") {
            let from = ctx.input_path(source)?.to_path_buf();
            if !from.is_file() {
                return Err(BuildError::Failed(format!("the source of a file must be a file, but {source} is not")));
            }
            let method =
                imgx_store::copy::copy_file(&from, &out).map_err(|e| BuildError::io("copying into", &out, e))?;
            writeln!(ctx.log, "copied {source} ({method:?})").ok();
        } else {
            return Err(BuildError::InvalidParams("a file needs 'text' or 'source'".into()));
        }
        let mode = if ctx.bool_param("executable", false) { 0o755 } else { 0o644 };
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(mode))
            .map_err(|e| BuildError::io("setting the mode of", &out, e))
    }
}
