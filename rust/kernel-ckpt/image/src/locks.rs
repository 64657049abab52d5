// SPDX-License-Identifier: GPL-2.0
//! File lock records.
//!
//! Written by the kernel's `locks.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// `FileLockRec::kind`: a POSIX record lock (`fcntl(F_SETLK)`), owned by
/// the process's descriptor table.
pub const LOCK_POSIX: u32 = 1;
/// `FileLockRec::kind`: an open file description lock (`F_OFD_SETLK`),
/// owned by the open file.
pub const LOCK_OFD: u32 = 2;
/// `FileLockRec::kind`: a `flock(2)` lock, owned by the open file.
pub const LOCK_FLOCK: u32 = 3;
/// `FileLockRec::kind`: a lease (`F_SETLEASE`), owned by the open file;
/// `fd` is the descriptor its break signal names.
pub const LOCK_LEASE: u32 = 4;
/// `FileLockRec::lock_type`: shared (`F_RDLCK`, `LOCK_SH`).
pub const LOCK_READ: u32 = 0;
/// `FileLockRec::lock_type`: exclusive (`F_WRLCK`, `LOCK_EX`).
pub const LOCK_WRITE: u32 = 1;
/// `FileLockRec::end` of a lock that runs to the end of the file, however
/// long it grows (`OFFSET_MAX`).
pub const LOCK_TO_EOF: i64 = i64::MAX;

/// One lock a process holds: its POSIX locks, and the OFD and flock(2)
/// locks of its open files (each open file's once in the image). Follows
/// the process's fd records; restart sets it again before any task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileLockRec {
    /// The [`FileObj`] the lock is set through.
    pub file: ObjId,
    /// `LOCK_POSIX`, `LOCK_OFD`, `LOCK_FLOCK` or `LOCK_LEASE`.
    pub kind: u32,
    /// `LOCK_READ` or `LOCK_WRITE`.
    pub lock_type: u32,
    /// A lease's descriptor (the `si_fd` of its break signal); 0 for the
    /// other kinds.
    pub fd: u32,
    /// First byte (0 for flock).
    pub start: i64,
    /// Last byte, included, or `LOCK_TO_EOF` (0 for flock).
    pub end: i64,
}

impl FileLockRec {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (l, _) = Self::read_fixed(p)?;
        if !matches!(l.kind, LOCK_POSIX | LOCK_OFD | LOCK_FLOCK | LOCK_LEASE) {
            return Err(ErrorKind::BadField("lock kind", l.kind.into()));
        }
        if !matches!(l.lock_type, LOCK_READ | LOCK_WRITE) {
            return Err(ErrorKind::BadField("lock type", l.lock_type.into()));
        }
        let range_ok = if matches!(l.kind, LOCK_FLOCK | LOCK_LEASE) {
            l.start == 0 && l.end == 0
        } else {
            0 <= l.start && l.start <= l.end
        };
        if !range_ok {
            return Err(ErrorKind::BadField("lock range", l.start));
        }
        if (l.kind != LOCK_LEASE && l.fd != 0) || l.fd >= FilesHeader::MAX_FDS {
            return Err(ErrorKind::BadField("lock fd", l.fd.into()));
        }
        Ok(l)
    }
}

layout!(FileLockRec {
    file: ObjId,
    kind: u32,
    lock_type: u32,
    fd: u32,
    start: i64,
    end: i64,
});
