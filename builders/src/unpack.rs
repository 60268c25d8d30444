//! `unpack { source; format ? "auto"; }`: a file that is already here (an
//! imported path or another step's output) unpacked into a file or tree.
//!
//! ```nix
//! builtins.step { kind = "unpack"; name = "systemd-boot";
//!                 source = ./systemd-boot-efi_252_amd64.deb; format = "deb"; }
//! ```
//!
//! `fetch` unpacks what it downloads, but it is a fixed-output step and so
//! needs the hash of its bytes. An input that is already in the store has
//! a hash (its object's) that is part of this step's key, so nothing needs
//! declaring: the same bytes unpack to the same output, and other bytes
//! make another step.
//!
//! `format` takes the names `fetch`'s `unpack` takes (`"deb"`, `"tar.gz"`,
//! `"xz"`, `"qcow2"`, `"oci"`, …, see the fetch module); `"auto"` chooses
//! from the source's magic numbers. Trees keep owners and modes as data in
//! `.imgx-attributes`, as fetch's do.

use crate::builder::{BuildContext, BuildError, Builder, ParamError};
use crate::fetch::{Unpack, unpack_local};
use crate::step::InputRef;

/// Unpacks an input of the step.
pub struct UnpackBuilder;

/// The `format` parameter, read.
fn format(params: &serde_json::Value) -> Result<Unpack, ParamError> {
    match params.get("format") {
        None => Ok(Unpack::Auto),
        Some(value) => match Unpack::from_param(Some(value)) {
            Ok(Unpack::None) => Err(ParamError::at(
                "format",
                "an unpack step needs something to unpack; use a file step to copy a file",
            )),
            Ok(unpack) => Ok(unpack),
            Err(message) => Err(ParamError::at("format", message)),
        },
    }
}

impl Builder for UnpackBuilder {
    fn kind(&self) -> &'static str {
        "unpack"
    }

    fn version(&self) -> &'static str {
        "unpack-1"
    }

    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        for key in params.as_object().into_iter().flat_map(|o| o.keys()) {
            if !matches!(key.as_str(), "source" | "format") {
                return Err(ParamError::at(
                    key.clone(),
                    format!("unknown parameter '{key}' (an unpack step takes source and format)"),
                ));
            }
        }
        match params.get("source").and_then(|s| s.as_str()) {
            Some(source) if InputRef::parse_placeholder(source).is_some() => {}
            Some(_) => return Err(ParamError::at("source", "'source' must be a path (./x.deb) or a step")),
            None => return Err("an unpack step needs 'source', a path or a step".into()),
        }
        format(params).map(drop)
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError> {
        let unpack = format(&ctx.step.params).map_err(|e| BuildError::InvalidParams(e.message))?;
        let source = ctx.str_param("source").ok_or_else(|| BuildError::InvalidParams("'source' is missing".into()))?;
        let path = ctx.input_file("source", source)?;
        let (out, work) = (ctx.out.clone(), ctx.work.clone());
        unpack_local(unpack, &path, &out, &work, ctx.log)
    }
}
