// SPDX-License-Identifier: GPL-2.0
//! Pidfd objects.
//!
//! Written by the kernel's `pidfd.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// `PidfdObj::flags`: it refers to a thread (`PIDFD_THREAD`), not to a
/// process.
pub const PIDFD_IS_THREAD: u32 = 1;

/// A pidfd (`pidfd_open(2)`, `clone(CLONE_PIDFD)`), written once before
/// its open file: the task it refers to, which is a task of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PidfdObj {
    /// Object id.
    pub id: ObjId,
    /// The task's pid (a process's for a process pidfd), as the image's
    /// rows number it.
    pub pid: i32,
    /// `PIDFD_IS_THREAD`.
    pub flags: u32,
}

impl PidfdObj {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (o, _) = Self::read_fixed(p)?;
        if o.pid <= 0 {
            return Err(ErrorKind::BadField("pidfd pid", o.pid.into()));
        }
        if o.flags & !PIDFD_IS_THREAD != 0 {
            return Err(ErrorKind::BadField("pidfd flags", o.flags.into()));
        }
        Ok(o)
    }
}

layout!(PidfdObj {
    id: ObjId,
    pid: i32,
    flags: u32,
    _: u32,
});
