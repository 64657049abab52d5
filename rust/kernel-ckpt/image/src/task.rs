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
    /// Job control: [`STOP_STOPPED`] and the stop signal (bits 0-7) of a
    /// task stopped in its process's group stop, and for a leader what
    /// its parent's `wait(2)` still has to report: the stop signal with
    /// `WUNTRACED` (bits 8-15, 0 once reported), a continue with
    /// `WCONTINUED` ([`STOP_CONTINUED`]).
    pub stop: u32,
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
/// [`TaskMisc::stop`]: the task is stopped in a group stop.
pub const STOP_STOPPED: u32 = 1 << 16;
/// [`TaskMisc::stop`]: the process was continued (`SIGCONT`) and its
/// parent's `wait(2)` with `WCONTINUED` has not reported it yet.
pub const STOP_CONTINUED: u32 = 1 << 17;
/// The signals that stop a process (`SIGSTOP`, `SIGTSTP`, `SIGTTIN`,
/// `SIGTTOU`).
pub const STOP_SIGNALS: [u32; 4] = [19, 20, 21, 22];

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
        if m.rseq != 0 && (m.rseq % 32 != 0 || m.rseq_len < 32) {
            return Err(ErrorKind::BadField("rseq", m.rseq as i64));
        }
        if !(0..=NSIG as i32).contains(&m.pdeath_signal) {
            return Err(ErrorKind::BadField("pdeath_signal", m.pdeath_signal.into()));
        }
        let (sig, code) = (m.stop & 0xff, (m.stop >> 8) & 0xff);
        let stop_ok = if m.stop & STOP_STOPPED != 0 {
            STOP_SIGNALS.contains(&sig) && m.stop & STOP_CONTINUED == 0
        } else {
            sig == 0 && code == 0
        };
        if m.stop & !(STOP_STOPPED | STOP_CONTINUED | 0xffff) != 0
            || !stop_ok
            || code != 0 && !STOP_SIGNALS.contains(&code)
        {
            return Err(ErrorKind::BadField("job control stop", m.stop.into()));
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
    stop: u32,
});

/// `SCHED_FLAG_RESET_ON_FORK`.
pub const SCHED_RESET_ON_FORK: u32 = 1;
/// [`TaskSched::proc_flags`]: transparent huge pages disabled for the
/// process (`PR_SET_THP_DISABLE`).
pub const SCHED_PROC_THP_DISABLE: u32 = 1;
/// Most CPUs an affinity mask in an image names (`NR_CPUS` at most 8192).
pub const MAX_AFFINITY_CPUS: u32 = 8192;

/// How a task is scheduled, and a process's odds and ends that go with
/// it: written after its task-misc record (images written before it
/// existed have none: such a task keeps its restarter's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TaskSched {
    /// `SCHED_*` policy (`sched_setattr(2)`).
    pub policy: u32,
    /// [`SCHED_RESET_ON_FORK`].
    pub flags: u32,
    /// Nice value, -20 to 19.
    pub nice: i32,
    /// Real-time priority, 0 to 99.
    pub rt_priority: u32,
    /// `SCHED_DEADLINE` runtime, deadline and period, in ns.
    pub dl_runtime: u64,
    pub dl_deadline: u64,
    pub dl_period: u64,
    /// Timer slack, in ns (`PR_SET_TIMERSLACK`).
    pub timer_slack_ns: u64,
    /// The process's `oom_score_adj`, -1000 to 1000 (leaders only).
    pub oom_score_adj: i32,
    /// `SCHED_PROC_*` flags of the process (leaders only).
    pub proc_flags: u32,
    /// Bits of the CPU affinity mask that follow, as 64-bit words.
    pub nr_cpus: u32,
    /// The process's `membarrier(2)` registrations, as the
    /// `MEMBARRIER_CMD_REGISTER_*` bits of [`MEMBARRIER_REGISTRATIONS`]
    /// (leaders only).
    pub membarrier: u32,
}

/// The `MEMBARRIER_CMD_REGISTER_*` commands: global expedited, private
/// expedited, with sync-core, with rseq.
pub const MEMBARRIER_REGISTRATIONS: u32 = (1 << 2) | (1 << 4) | (1 << 6) | (1 << 8);

impl TaskSched {
    /// `SCHED_DEADLINE`.
    pub const DEADLINE: u32 = 6;

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (s, rest) = Self::read_fixed(p)?;
        if !matches!(s.policy, 0..=3 | 5 | Self::DEADLINE) {
            return Err(ErrorKind::BadField("scheduling policy", s.policy.into()));
        }
        if s.flags & !SCHED_RESET_ON_FORK != 0 {
            return Err(ErrorKind::BadField("scheduling flags", s.flags.into()));
        }
        if !(-20..=19).contains(&s.nice) || s.rt_priority > 99 {
            return Err(ErrorKind::BadField("priority", s.nice.into()));
        }
        if !(-1000..=1000).contains(&s.oom_score_adj) {
            return Err(ErrorKind::BadField("oom_score_adj", s.oom_score_adj.into()));
        }
        if s.proc_flags & !SCHED_PROC_THP_DISABLE != 0 {
            return Err(ErrorKind::BadField("process flags", s.proc_flags.into()));
        }
        if s.membarrier & !MEMBARRIER_REGISTRATIONS != 0 {
            return Err(ErrorKind::BadField(
                "membarrier registrations",
                s.membarrier.into(),
            ));
        }
        if s.nr_cpus == 0 || s.nr_cpus > MAX_AFFINITY_CPUS {
            return Err(ErrorKind::BadField("affinity CPUs", s.nr_cpus.into()));
        }
        let mask = tail(rest, s.nr_cpus.div_ceil(64) * 8)?;
        if mask.iter().all(|&b| b == 0) {
            return Err(ErrorKind::BadField("affinity mask", 0));
        }
        Ok((s, mask))
    }
}

layout!(TaskSched {
    policy: u32,
    flags: u32,
    nice: i32,
    rt_priority: u32,
    dl_runtime: u64,
    dl_deadline: u64,
    dl_period: u64,
    timer_slack_ns: u64,
    oom_score_adj: i32,
    proc_flags: u32,
    nr_cpus: u32,
    membarrier: u32
});
