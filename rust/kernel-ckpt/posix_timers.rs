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
//! Restart, in the process's leader's turn, deletes the timers the
//! restarting process had, then creates each saved one again with its id
//! and the checks of `timer_create(2)` (the clock, the signal, the thread,
//! `RLIMIT_SIGPENDING`, `CAP_WAKE_ALARM` for an alarm clock), with the
//! caller's credentials, and sets the id the next `timer_create(2)` tries
//! first. Once the whole tree is back, right before the leader returns to
//! user space, it arms each with the time it had left as
//! `timer_settime(2)` would (an absolute one at its wall-clock time) and
//! queues its pending signal: no timer runs, and no timer signal can end a
//! process, while the rest of the tree is restored. The timers of a
//! process are made by its leader while no thread of it runs user code,
//! so no other `timer_create(2)` can take a saved id meanwhile.

use crate::image::{PosixTimer, PosixTimers, RecordType, MAX_POSIX_TIMERS};
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// The timers of `task`'s process (`task` leads it and is frozen), pids
/// as `ns` sees them, and the id its next `timer_create(2)` tries first;
/// `None` if it has none. A timer a restart cannot make again is refused
/// (`-EOPNOTSUPP`, named in the kernel log).
fn read(task: &TaskRef, ns: &PidNs) -> Result<Option<(i32, KVVec<bindings::ckpt_posix_timer>)>> {
    let mut room = 8usize;
    // The count read first may grow only if the process ran meanwhile:
    // a few tries, then `-EBUSY`.
    for _ in 0..4 {
        crate::wrap::task::killable()?;
        let mut out: KVVec<bindings::ckpt_posix_timer> = KVVec::with_capacity(room, GFP_KERNEL)?;
        let max = i32::try_from(room).map_err(|_| E2BIG)?;
        let mut next_id = 0;
        let mut why: *const kernel::ffi::c_char = core::ptr::null();
        // SAFETY: the task is referenced and frozen, the namespace
        // referenced; `out` has room for `max` entries, which the helper
        // fills (under the siglock, then each timer's lock) and counts.
        let n = unsafe {
            bindings::ckpt_posix_timers_get(
                task.as_ptr(),
                ns.as_ptr(),
                out.as_mut_ptr(),
                max,
                &mut next_id,
                &mut why,
            )
        };
        if n < 0 {
            return Err(match crate::wrap::task::static_str(why) {
                Some(why) => crate::forest::refuse(task, format_args!("{why}")),
                None => Error::from_errno(n),
            });
        }
        let n = usize::try_from(n).map_err(|_| EINVAL)?;
        if n > room {
            room = n;
            continue;
        }
        if n == 0 {
            return Ok(None);
        }
        // SAFETY: the helper initialized the first `n` entries.
        unsafe { out.set_len(n) };
        return Ok(Some((next_id, out)));
    }
    Err(EBUSY)
}

/// Checkpoint, before anything is written: refuses the tree if a process
/// has a timer a restart cannot make again.
pub(crate) fn check(tasks: &[TaskRef], ns: &PidNs) -> Result {
    for t in tasks.iter() {
        if t.exit_state() == 0 && t.is_group_leader() {
            read(t, ns)?;
        }
    }
    Ok(())
}

/// Checkpoint: writes the `posix-timers` record of `task`'s process
/// (`task` leads it and is frozen) if it has timers; pids as `ns` sees
/// them.
pub(crate) fn dump(w: &mut ImageWriter, task: &TaskRef, ns: &PidNs) -> Result {
    let Some((next_id, timers)) = read(task, ns)? else {
        return Ok(());
    };
    let nr = u32::try_from(timers.len()).map_err(|_| E2BIG)?;
    if nr > MAX_POSIX_TIMERS {
        return Err(E2BIG);
    }
    let head = PosixTimers { next_id, nr };
    let len = PosixTimer::LEN
        .checked_mul(timers.len())
        .and_then(|n| n.checked_add(PosixTimers::LEN))
        .ok_or(E2BIG)?;
    w.begin_record(RecordType::PosixTimers, len)?;
    w.payload(&head.encode())?;
    for t in timers.iter() {
        w.payload(&from_c(t).encode())?;
    }
    w.end_record(len)
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

fn to_c(t: &PosixTimer) -> bindings::ckpt_posix_timer {
    bindings::ckpt_posix_timer {
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
    }
}

/// Restart: deletes the POSIX timers the calling process had (its
/// leader's turn, before its pending signals are flushed: their queued
/// signals go with them).
pub(crate) fn drop_all() {
    // SAFETY: acts on current's process, as exec does.
    unsafe { bindings::ckpt_posix_timers_drop() };
}

/// A `posix-timers` record read, until it is applied: its timers as the
/// C side takes them, made once for both steps.
pub(crate) struct Saved {
    next_id: i32,
    timers: KVVec<bindings::ckpt_posix_timer>,
}

impl Saved {
    /// The record's head and its timers' bytes (checked by the parser).
    pub(crate) fn new(head: PosixTimers, bytes: &[u8]) -> Result<Self> {
        let mut timers = KVVec::with_capacity(head.nr as usize, GFP_KERNEL_ACCOUNT)?;
        for t in PosixTimers::timers(bytes) {
            crate::wrap::task::killable()?;
            timers.push(to_c(&t), GFP_KERNEL_ACCOUNT)?;
        }
        Ok(Self {
            next_id: head.next_id,
            timers,
        })
    }

    /// Creates the timers again, disarmed, in the calling process (its
    /// leader, in its turn), with `timer_create(2)`'s checks; the kernel
    /// log names a timer refused.
    pub(crate) fn create(&self, pid: i32) -> Result {
        for t in self.timers.iter() {
            crate::wrap::task::killable()?;
            // SAFETY: a valid record; the helper acts on current's process.
            to_result(unsafe { bindings::ckpt_posix_timer_create(t) }).inspect_err(|e| {
                ckpt_err!(
                    "restart: pid {}: cannot create POSIX timer {} (clock {}) again (error {})\n",
                    pid,
                    t.id,
                    t.clock,
                    e.to_errno()
                );
            })?;
        }
        // SAFETY: acts on current's process under the timers' hash lock.
        unsafe { bindings::ckpt_posix_timer_next_id(self.next_id) };
        Ok(())
    }

    /// Arms the timers [`Saved::create`] made and queues their pending
    /// signals: once the whole tree is back, right before the leader
    /// returns to user space. Nothing can be undone there: a timer that
    /// cannot be armed (none should) is named in the kernel log and left
    /// disarmed.
    pub(crate) fn arm(&self, pid: i32) {
        for t in self.timers.iter() {
            // SAFETY: a valid record of a timer of current's process.
            let r = unsafe { bindings::ckpt_posix_timer_arm(t) };
            if r < 0 {
                ckpt_err!(
                    "restart: pid {}: POSIX timer {} left disarmed (error {})\n",
                    pid,
                    t.id,
                    r
                );
            }
        }
    }
}
