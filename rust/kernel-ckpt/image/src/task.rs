// SPDX-License-Identifier: GPL-2.0
//! The odds and ends of a task: rseq, robust list, limits, ids, capabilities.
//!
//! Written by the kernel's `task.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// Number of resource limits (`RLIM_NLIMITS`).
pub const NLIMITS: usize = 16;

/// Per-task odds and ends: rseq registration, robust futex list,
/// clear_child_tid, parent-death signal, personality, and the process's
/// resource limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TaskMisc {
    pub rseq: u64,
    pub rseq_len: u32,
    pub rseq_sig: u32,
    pub robust_list: u64,
    pub clear_child_tid: u64,
    pub pdeath_signal: i32,
    pub personality: u32,
    /// `(soft, hard)` per resource.
    pub rlimits: [(u64, u64); NLIMITS],
    /// Real, effective, saved and filesystem uid, then the same gids.
    pub ids: [u32; 8],
    /// Value and interval in ns of ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
    pub itimers: [u64; 6],
    /// `MISC_*` flags of the task's process.
    pub flags: u32,
    /// Number of supplementary group ids that follow the fixed part.
    pub ngroups: u32,
    /// Capability sets: inheritable, permitted, effective, bounding,
    /// ambient (bit N is capability N).
    pub caps: [u64; 5],
    /// `SECBIT_*` securebits.
    pub securebits: u32,
}

/// The highest capability this format carries (`CAP_LAST_CAP` of 6.12).
pub const CAP_LAST_CAP: u32 = 40;
/// The capability bits that exist.
pub const CAP_VALID_MASK: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;
/// The securebits that exist (`SECURE_ALL_BITS | SECURE_ALL_LOCKS`).
pub const SECUREBITS_MASK: u32 = 0xff;

/// `TaskMisc::flags`: the process is a child subreaper
/// (`PR_SET_CHILD_SUBREAPER`).
pub const MISC_CHILD_SUBREAPER: u32 = 1;
/// `TaskMisc::flags`: the task set `PR_SET_NO_NEW_PRIVS`.
pub const MISC_NO_NEW_PRIVS: u32 = 2;
/// `TaskMisc::flags`: the process's memory is not dumpable
/// (`PR_SET_DUMPABLE` 0, or made so by a setuid exec): not traceable by
/// its own user.
pub const MISC_NOT_DUMPABLE: u32 = 4;
/// Every `MISC_*` flag.
pub const MISC_FLAGS: u32 = MISC_CHILD_SUBREAPER | MISC_NO_NEW_PRIVS | MISC_NOT_DUMPABLE;

impl TaskMisc {
    /// Most supplementary groups (the kernel's `NGROUPS_MAX`).
    pub const MAX_GROUPS: u32 = 65536;
    /// Longest timer value or interval accepted (about 146 years).
    pub const MAX_TIMER_NS: u64 = 1 << 62;

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (m, groups) = Self::read_fixed(p)?;
        if let Some(l) = m.rlimits.iter().find(|l| l.0 > l.1) {
            return Err(ErrorKind::BadField("rlimit", l.0 as i64));
        }
        if m.ids.contains(&u32::MAX) {
            return Err(ErrorKind::BadField("uid/gid", -1));
        }
        if let Some(&t) = m.itimers.iter().find(|&&t| t > Self::MAX_TIMER_NS) {
            return Err(ErrorKind::BadField("itimer", t as i64));
        }
        if m.flags & !MISC_FLAGS != 0 {
            return Err(ErrorKind::BadField("task flags", m.flags.into()));
        }
        if m.ngroups > Self::MAX_GROUPS {
            return Err(ErrorKind::BadField(
                "supplementary groups",
                m.ngroups.into(),
            ));
        }
        if let Some(&c) = m.caps.iter().find(|&&c| c & !CAP_VALID_MASK != 0) {
            return Err(ErrorKind::BadField("capabilities", c as i64));
        }
        if m.securebits & !SECUREBITS_MASK != 0 {
            return Err(ErrorKind::BadField("securebits", m.securebits.into()));
        }
        let [inheritable, permitted, effective, _, ambient] = m.caps;
        if effective & !permitted != 0 || ambient & !(permitted & inheritable) != 0 {
            return Err(ErrorKind::BadField("capabilities", effective as i64));
        }
        for a in [m.rseq, m.robust_list, m.clear_child_tid] {
            if a >= USER_ADDR_END {
                return Err(ErrorKind::BadField("user address", a as i64));
            }
        }
        if m.rseq != 0 && (!m.rseq.is_multiple_of(32) || m.rseq_len < 32) {
            return Err(ErrorKind::BadField("rseq", m.rseq as i64));
        }
        if !(0..=NSIG as i32).contains(&m.pdeath_signal) {
            return Err(ErrorKind::BadField("pdeath_signal", m.pdeath_signal.into()));
        }
        let groups = tail(groups, m.ngroups * 4)?;
        if groups.chunks_exact(4).any(|g| g == [0xff; 4]) {
            return Err(ErrorKind::BadField("supplementary group", -1));
        }
        Ok((m, groups))
    }
}

layout!(TaskMisc {
    rseq: u64,
    rseq_len: u32,
    rseq_sig: u32,
    robust_list: u64,
    clear_child_tid: u64,
    pdeath_signal: i32,
    personality: u32,
    rlimits: [(u64, u64); NLIMITS],
    ids: [u32; 8],
    itimers: [u64; 6],
    flags: u32,
    ngroups: u32,
    caps: [u64; 5],
    securebits: u32,
    _: u32,
});
