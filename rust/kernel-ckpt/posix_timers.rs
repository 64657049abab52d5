// SPDX-License-Identifier: GPL-2.0

//! POSIX timers of a process (`timer_create(2)`): id, clock, how it
//! notifies (signal, value, thread), time left and interval, overrun
//! counts, and a signal of its still pending.
//!
//! C header: [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h)
//! (`kernel/time/posix-timers.c`).
//!
//! Saved in a `posix-timers` record after the sighand record of a process
//! that has any. The pending signal of a timer is its own preallocated
//! siginfo, not a copy: the pending queues saved with the signals leave it
//! out, and restart queues the timer's own again, so that its delivery
//! re-arms an interval timer and reports its overruns as before.
//!
//! Restart creates each timer again in the restored process with its id
//! and the checks of `timer_create(2)` (the clock, the signal, the thread,
//! `RLIMIT_SIGPENDING`, `CAP_WAKE_ALARM` for an alarm clock), arms it with
//! the time it had left as `timer_settime(2)` would, and sets the id the
//! next `timer_create(2)` tries first. It runs after the handlers and the
//! pending signals are back, with the caller's credentials.

use crate::image::{PosixTimer, PosixTimers, RecordType};
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// Checkpoint: writes the `posix-timers` record of `task`'s process
/// (`task` leads it and is frozen) if it has timers; pids as `ns` sees
/// them.
pub(crate) fn dump(w: &mut ImageWriter, task: &TaskRef, ns: &PidNs) -> Result {
    let mut room = 8usize;
    loop {
        let mut out: KVVec<bindings::ckpt_posix_timer> = KVVec::with_capacity(room, GFP_KERNEL)?;
        let max = i32::try_from(room).map_err(|_| E2BIG)?;
        let mut next_id = 0;
        // SAFETY: the task is referenced and frozen; `out` has room for
        // `max` entries, which the helper fills (under the siglock, then
        // each timer's lock) and counts.
        let n = unsafe {
            bindings::ckpt_posix_timers_get(
                task.as_ptr(),
                ns.as_ptr(),
                out.as_mut_ptr(),
                max,
                &mut next_id,
            )
        };
        let n = usize::try_from(to_result(n).map(|_| n)?).map_err(|_| EINVAL)?;
        if n > room {
            // More than there was room for: again, with room for all.
            room = n;
            continue;
        }
        if n == 0 {
            return Ok(());
        }
        // SAFETY: the helper initialized the first `n` entries.
        unsafe { out.set_len(n) };
        let head = PosixTimers {
            next_id,
            nr: u32::try_from(n).map_err(|_| E2BIG)?,
        };
        let len = PosixTimers::LEN + n * PosixTimer::LEN;
        w.begin_record(RecordType::PosixTimers, len)?;
        w.payload(&head.encode())?;
        for t in out.iter() {
            w.payload(&from_c(t).encode())?;
        }
        return w.end_record(len);
    }
}

fn from_c(t: &bindings::ckpt_posix_timer) -> PosixTimer {
    PosixTimer {
        id: t.id,
        clock: t.clock,
        notify: t.notify,
        signo: t.signo,
        value: t.value,
        thread: t.thread,
        flags: t.flags,
        value_ns: t.value_ns,
        interval_ns: t.interval_ns,
        overrun: t.overrun,
        overrun_last: t.overrun_last,
        si_overrun: t.sig_overrun,
        cpu_pid: t.cpu_pid,
    }
}

/// A `posix-timers` record read, until it is applied.
pub(crate) struct Saved {
    next_id: i32,
    timers: KVVec<PosixTimer>,
}

impl Saved {
    /// The record's head and its timers' bytes (checked by the parser).
    pub(crate) fn new(head: PosixTimers, bytes: &[u8]) -> Result<Self> {
        let mut timers = KVVec::with_capacity(head.nr as usize, GFP_KERNEL)?;
        for t in PosixTimers::timers(bytes) {
            crate::wrap::task::killable()?;
            timers.push(t, GFP_KERNEL)?;
        }
        Ok(Self {
            next_id: head.next_id,
            timers,
        })
    }

    /// Creates the timers again in the calling process (its leader, after
    /// its handlers and pending signals), with `timer_create(2)`'s and
    /// `timer_settime(2)`'s checks; the kernel log names a timer refused.
    pub(crate) fn apply(&self, pid: i32) -> Result {
        for t in self.timers.iter() {
            crate::wrap::task::killable()?;
            let c = bindings::ckpt_posix_timer {
                id: t.id,
                clock: t.clock,
                notify: t.notify,
                signo: t.signo,
                value: t.value,
                thread: t.thread,
                flags: t.flags,
                value_ns: t.value_ns,
                interval_ns: t.interval_ns,
                overrun: t.overrun,
                overrun_last: t.overrun_last,
                sig_overrun: t.si_overrun,
                cpu_pid: t.cpu_pid,
            };
            // SAFETY: `c` is valid; the helper acts on current's process.
            to_result(unsafe { bindings::ckpt_posix_timer_set(&c) }).map_err(|e| {
                ckpt_err!(
                    "restart: pid {}: cannot create POSIX timer {} (clock {}) again (error {})\n",
                    pid,
                    t.id,
                    t.clock,
                    e.to_errno()
                );
                e
            })?;
        }
        // SAFETY: acts on current's process under the timers' hash lock.
        unsafe { bindings::ckpt_posix_timer_next_id(self.next_id) };
        Ok(())
    }
}
