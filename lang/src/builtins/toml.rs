//! `builtins.fromTOML`.

use super::PrimOp;

pub(super) const PRIMOPS: &[PrimOp] = &[];
