// SPDX-License-Identifier: GPL-2.0
//! The rows of the forest table: one task each, in the order restart creates them.
//!
//! Written by the kernel's `forest.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// Task flag: a thread that is not its thread group's leader.
pub const TASK_THREAD: u32 = 1 << 0;
/// Task flag: the task is a zombie; `exit_code` holds its wait status.
pub const TASK_ZOMBIE: u32 = 1 << 1;
/// Task flag: the root of the checkpointed tree.
pub const TASK_ROOT: u32 = 1 << 2;
/// Every task flag this version knows.
pub const TASK_FLAGS_MASK: u32 = TASK_THREAD | TASK_ZOMBIE | TASK_ROOT;

/// One row of the process forest. Pids are in the pid namespace of the
/// task that called `checkpoint(2)`; 0 means "outside that namespace".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TaskEntry {
    /// Thread id.
    pub pid: i32,
    /// Thread group id (the process id).
    pub tgid: i32,
    /// Process id of the real parent, or 0 if outside the namespace.
    pub ppid: i32,
    /// Session id.
    pub sid: i32,
    /// Process group id.
    pub pgid: i32,
    /// `TASK_*` flags.
    pub flags: u32,
    /// Wait status of a zombie (`exit_code`), else 0.
    pub exit_code: i32,
    /// Signal sent to the parent at exit (`exit_signal`), -1 for threads.
    pub exit_signal: i32,
    /// Command name, NUL padded.
    pub comm: [u8; COMM_LEN],
}

impl TaskEntry {
    /// The command name as text (up to the first NUL).
    pub fn comm_str(&self) -> &str {
        c_str(&self.comm)
    }

    /// Whether this row is a zombie.
    pub fn is_zombie(&self) -> bool {
        self.flags & TASK_ZOMBIE != 0
    }

    /// Whether this row is a non-leader thread.
    pub fn is_thread(&self) -> bool {
        self.flags & TASK_THREAD != 0
    }

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (t, _) = Self::read_fixed(p)?;
        for (name, v, min) in [
            ("pid", t.pid, 1),
            ("tgid", t.tgid, 1),
            ("ppid", t.ppid, 0),
            ("sid", t.sid, 0),
            ("pgid", t.pgid, 0),
        ] {
            if v < min {
                return Err(ErrorKind::BadField(name, v.into()));
            }
        }
        if t.flags & !TASK_FLAGS_MASK != 0 {
            return Err(ErrorKind::BadField("flags", t.flags.into()));
        }
        if !t.comm.contains(&0) {
            return Err(ErrorKind::BadField("comm", 0));
        }
        if (t.flags & TASK_THREAD != 0) == (t.pid == t.tgid) {
            return Err(ErrorKind::BadField("flags", t.flags.into()));
        }
        Ok(t)
    }
}

layout!(TaskEntry {
    pid: i32,
    tgid: i32,
    ppid: i32,
    sid: i32,
    pgid: i32,
    flags: u32,
    exit_code: i32,
    exit_signal: i32,
    comm: [u8; COMM_LEN],
});
