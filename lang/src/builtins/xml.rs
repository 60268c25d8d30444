//! `builtins.toXML`.

use super::PrimOp;

pub(super) const PRIMOPS: &[PrimOp] = &[];
