// SPDX-License-Identifier: GPL-2.0
//! Eventfd objects.
//!
//! Written by the kernel's `eventfd.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// `EventfdObj::flags`: `EFD_SEMAPHORE` (a read takes 1, not the whole
/// count).
pub const EFD_SEMAPHORE: u32 = 1;
/// `EventfdObj::flags`: `EFD_NONBLOCK` as created (`O_NONBLOCK`).
pub const EFD_NONBLOCK: u32 = 0o4000;
/// `EventfdObj::flags`: `EFD_CLOEXEC` as created (`O_CLOEXEC`).
pub const EFD_CLOEXEC: u32 = 0o2000000;

/// An eventfd (its `struct eventfd_ctx`), written once before its open
/// file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EventfdObj {
    /// Object id.
    pub id: ObjId,
    /// The flags it was created with (`EFD_*`).
    pub flags: u32,
    /// The count: what a read returns (or 1 of it, in semaphore mode).
    pub count: u64,
}

impl EventfdObj {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (e, _) = Self::read_fixed(p)?;
        if e.flags & !(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC) != 0 {
            return Err(ErrorKind::BadField("eventfd flags", e.flags.into()));
        }
        // A write never takes the count to u64::MAX.
        if e.count == u64::MAX {
            return Err(ErrorKind::BadField("eventfd count", -1));
        }
        Ok(e)
    }
}

layout!(EventfdObj {
    id: ObjId,
    flags: u32,
    count: u64
});
