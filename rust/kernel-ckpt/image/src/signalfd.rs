// SPDX-License-Identifier: GPL-2.0
//! Signalfd objects.
//!
//! Written by the kernel's `signalfd.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// A signalfd (its `struct signalfd_ctx`), written once before its open
/// file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SignalfdObj {
    /// Object id.
    pub id: ObjId,
    /// The signals it reads, as signalfd(2) takes them (bit `n - 1` for
    /// signal `n`).
    pub mask: u64,
}

impl SignalfdObj {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        Ok(Self::read_fixed(p)?.0)
    }
}

layout!(SignalfdObj { id: ObjId, _: u32, mask: u64 });
