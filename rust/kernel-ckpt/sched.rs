// SPDX-License-Identifier: GPL-2.0

//! How a task is scheduled: policy, real-time priority or deadline
//! parameters, nice value, `SCHED_RESET_ON_FORK`, timer slack and CPU
//! affinity; and for its process `oom_score_adj`, `PR_SET_THP_DISABLE` and
//! its `membarrier(2)` registrations.
//!
//! C header: [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h)
//! (`kernel/sched/syscalls.c`, `kernel/sys.c`).
//!
//! Saved in a `sched` record after the task-misc record. Restart sets them
//! with the caller's credentials still in force, through the checks of
//! `sched_setattr(2)` (a real-time policy or a lower nice value needs
//! `CAP_SYS_NICE` or the rlimits), `sched_setaffinity(2)` (within the
//! caller's cpuset; CPUs this machine does not have are left out),
//! `/proc/PID/oom_score_adj` (below the minimum only with
//! `CAP_SYS_RESOURCE`), `prctl(2)` and `membarrier(2)` (which needs no
//! privilege).

use crate::image::{RecordType, TaskSched, MAX_AFFINITY_CPUS, SCHED_PROC_THP_DISABLE};
use crate::wrap::task::TaskRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// Words of a saved affinity mask: every CPU this kernel may have, up to
/// the image's limit.
fn mask_words() -> usize {
    // SAFETY: a read of a variable set at boot.
    let cpus = unsafe { bindings::nr_cpu_ids };
    (cpus.min(MAX_AFFINITY_CPUS) as usize).div_ceil(64)
}

/// Checkpoint: writes the `sched` record of `task` (frozen); `leader`:
/// with its process's part.
pub(crate) fn dump(w: &mut ImageWriter, task: &TaskRef, leader: bool) -> Result {
    let words = mask_words();
    let mut mask = KVec::from_elem(0usize, words, GFP_KERNEL)?;
    // SAFETY: plain data, all zeros is valid.
    let mut s: bindings::ckpt_sched = unsafe { core::mem::zeroed() };
    let bits = u32::try_from(words * 64).map_err(|_| EINVAL)?;
    // SAFETY: the task is referenced; `mask` has room for `bits` bits; the
    // helper reads the affinity under the task's pi_lock.
    unsafe { bindings::ckpt_sched_get(task.as_ptr(), &mut s, mask.as_mut_ptr(), bits) };
    let (mut oom, mut proc_flags, mut membarrier) = (0, 0, 0);
    if leader {
        // SAFETY: the task is referenced and live (frozen): its signal
        // struct is valid; the THP helper takes its mm with a reference.
        unsafe {
            oom = bindings::ckpt_oom_score_adj(task.as_ptr());
            if bindings::ckpt_thp_disabled(task.as_ptr()) {
                proc_flags |= SCHED_PROC_THP_DISABLE;
            }
            membarrier = bindings::ckpt_membarrier_get(task.as_ptr()) as u32;
        }
    }
    let rec = TaskSched {
        policy: s.policy,
        flags: s.flags,
        nice: s.nice,
        rt_priority: s.rt_priority,
        dl_runtime: s.dl_runtime,
        dl_deadline: s.dl_deadline,
        dl_period: s.dl_period,
        timer_slack_ns: s.timer_slack_ns,
        oom_score_adj: oom,
        proc_flags,
        nr_cpus: bits,
        membarrier,
    };
    let mut bytes = KVec::with_capacity(words * 8, GFP_KERNEL)?;
    for word in mask.iter() {
        bytes.extend_from_slice(&(*word as u64).to_le_bytes(), GFP_KERNEL)?;
    }
    w.record_parts(RecordType::TaskSched, &[&rec.encode(), &bytes])
}

/// A `sched` record read, until it is applied.
pub(crate) struct Saved {
    rec: TaskSched,
    mask: KVec<usize>,
}

impl Saved {
    /// The record and its mask bytes (checked by the parser: a whole
    /// number of 64-bit words).
    pub(crate) fn new(rec: TaskSched, bytes: &[u8]) -> Result<Self> {
        let mut mask = KVec::with_capacity(bytes.len() / 8, GFP_KERNEL)?;
        for w in bytes.chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            mask.push(u64::from_le_bytes(b) as usize, GFP_KERNEL)?;
        }
        Ok(Self { rec, mask })
    }

    /// Schedules the calling task as saved (for a leader, its process's
    /// part too), with the checks of the calls that set each; the kernel
    /// log names what was refused.
    pub(crate) fn apply(&self, pid: i32, leader: bool) -> Result {
        let r = &self.rec;
        let s = bindings::ckpt_sched {
            policy: r.policy,
            flags: r.flags,
            nice: r.nice,
            rt_priority: r.rt_priority,
            dl_runtime: r.dl_runtime,
            dl_deadline: r.dl_deadline,
            dl_period: r.dl_period,
            timer_slack_ns: r.timer_slack_ns,
        };
        let bits = u32::try_from(self.mask.len() * 64).map_err(|_| EINVAL)?;
        let fail = |what: &str, e: Error| {
            ckpt_err!(
                "restart: pid {}: cannot set its {} (error {})\n",
                pid,
                what,
                e.to_errno()
            );
            e
        };
        // SAFETY: `s` is valid and `mask` holds `bits` bits; the helper
        // acts on current with the system calls' checks.
        to_result(unsafe { bindings::ckpt_sched_set(&s, self.mask.as_ptr(), bits) })
            .map_err(|e| fail("scheduling policy, nice value or CPU affinity", e))?;
        if leader {
            // SAFETY: acts on current's process, with /proc's check.
            to_result(unsafe { bindings::ckpt_set_oom_score_adj(r.oom_score_adj) })
                .map_err(|e| fail("oom_score_adj", e))?;
            if r.proc_flags & SCHED_PROC_THP_DISABLE != 0 {
                // SAFETY: current's own mm, as prctl(PR_SET_THP_DISABLE).
                unsafe { bindings::ckpt_set_thp_disable() };
            }
            // SAFETY: current's own mm, as membarrier(2) registers it.
            to_result(unsafe { bindings::ckpt_membarrier_set(r.membarrier as i32) })
                .map_err(|e| fail("membarrier registrations", e))?;
        }
        Ok(())
    }
}
