//! String functions, versions and string contexts.

use super::PrimOp;

pub(super) const PRIMOPS: &[PrimOp] = &[];
