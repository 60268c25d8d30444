//! Hashing built-ins and hash formats.

use super::PrimOp;

pub(super) const PRIMOPS: &[PrimOp] = &[];
