// SPDX-License-Identifier: GPL-2.0
//! Signal owner records.
//!
//! Written by the kernel's `fown.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// `FileOwnerRec::owner_type`: a thread (`F_OWNER_TID`).
pub const OWNER_TID: u32 = 0;
/// `FileOwnerRec::owner_type`: a process (`F_OWNER_PID`, `F_SETOWN` of a
/// positive pid).
pub const OWNER_PID: u32 = 1;
/// `FileOwnerRec::owner_type`: a process group (`F_OWNER_PGRP`, `F_SETOWN`
/// of a negative pid).
pub const OWNER_PGRP: u32 = 2;
/// The largest signal number (`_NSIG`).
pub const MAX_SIGNUM: u32 = 64;

/// How an open file signals its I/O: its signal owner (`F_SETOWN`,
/// `F_SETOWN_EX`), the signal sent (`F_SETSIG`) and whether `O_ASYNC` is
/// on, with the descriptor SIGIO reports. Once per open file, after the
/// fd records of the first process that names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileOwnerRec {
    /// The [`FileObj`].
    pub file: ObjId,
    /// The descriptor `O_ASYNC` was set through (the signal's `si_fd`), or
    /// -1 if `O_ASYNC` is off.
    pub async_fd: i32,
    /// The owner's pid (a thread's, a process's or a group's, as the
    /// image's rows number them), or 0 for none.
    pub pid: i32,
    /// `OWNER_TID`, `OWNER_PID` or `OWNER_PGRP`.
    pub owner_type: u32,
    /// The signal sent, or 0 for SIGIO.
    pub signum: u32,
}

impl FileOwnerRec {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (o, _) = Self::read_fixed(p)?;
        if o.async_fd < -1 || o.async_fd >= FilesHeader::MAX_FDS as i32 {
            return Err(ErrorKind::BadField("owner async fd", o.async_fd.into()));
        }
        if o.pid < 0 {
            return Err(ErrorKind::BadField("owner pid", o.pid.into()));
        }
        if o.owner_type > OWNER_PGRP {
            return Err(ErrorKind::BadField("owner type", o.owner_type.into()));
        }
        if o.signum > MAX_SIGNUM {
            return Err(ErrorKind::BadField("owner signal", o.signum.into()));
        }
        Ok(o)
    }
}

layout!(FileOwnerRec {
    file: ObjId,
    async_fd: i32,
    pid: i32,
    owner_type: u32,
    signum: u32,
    _: u32,
});
