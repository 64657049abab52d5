// SPDX-License-Identifier: GPL-2.0
//! POSIX timers of a process (`timer_create(2)`).
//!
//! Written by the kernel's `posix_timers.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// [`PosixTimer::flags`]: its signal is pending (queued, not delivered
/// yet); [`PosixTimer::si_overrun`] is the overrun it carries.
pub const PTIMER_PENDING: u32 = 1;
/// [`PosixTimer::flags`]: a `CLOCK_REALTIME` timer armed with
/// `TIMER_ABSTIME` (it follows changes of the clock).
pub const PTIMER_ABSTIME: u32 = 2;

/// `sigev_notify`: `SIGEV_SIGNAL`.
pub const SIGEV_SIGNAL: i32 = 0;
/// `sigev_notify`: `SIGEV_NONE`.
pub const SIGEV_NONE: i32 = 1;
/// `sigev_notify`: `SIGEV_THREAD` (the kernel treats it as a signal to the
/// process).
pub const SIGEV_THREAD: i32 = 2;
/// `sigev_notify`: `SIGEV_THREAD_ID` (with `SIGEV_SIGNAL`): a signal to
/// one thread.
pub const SIGEV_THREAD_ID: i32 = 4;

/// Most timers one record holds (the kernel's limit is the owner's
/// `RLIMIT_SIGPENDING`: a process past it is refused at checkpoint).
pub const MAX_POSIX_TIMERS: u32 = 1 << 16;

/// The POSIX timers of a process, after its sighand record; its
/// [`PosixTimer`]s follow, by ascending id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PosixTimers {
    /// The id the process's next `timer_create(2)` tries first.
    pub next_id: i32,
    /// How many [`PosixTimer`]s follow.
    pub nr: u32,
}

layout!(PosixTimers {
    next_id: i32,
    nr: u32
});

/// One POSIX timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PosixTimer {
    /// Its id (`timer_t`), as `timer_create(2)` returned it.
    pub id: i32,
    /// Its clock as the process named it (a negative id encodes a CPU
    /// clock by pid).
    pub clock: i32,
    /// `sigev_notify`: [`SIGEV_SIGNAL`], [`SIGEV_NONE`], [`SIGEV_THREAD`]
    /// or [`SIGEV_THREAD_ID`]` | `[`SIGEV_SIGNAL`].
    pub notify: i32,
    /// The signal it sends (none for [`SIGEV_NONE`]).
    pub signo: i32,
    /// `sigev_value`, as the process gave it.
    pub value: u64,
    /// The thread it signals ([`SIGEV_THREAD_ID`]), as the image's tasks
    /// see it; else 0.
    pub thread: i32,
    /// `PTIMER_*`.
    pub flags: u32,
    /// Nanoseconds to its next expiry, or with [`PTIMER_ABSTIME`] the
    /// `CLOCK_REALTIME` time of it; 0: disarmed.
    pub value_ns: i64,
    /// Nanoseconds between expiries; 0: one-shot.
    pub interval_ns: i64,
    /// Expiries missed since the last signal was queued (-1: none yet).
    pub overrun: i64,
    /// What `timer_getoverrun(2)` returns.
    pub overrun_last: i64,
    /// The overrun count of its pending signal ([`PTIMER_PENDING`]).
    pub si_overrun: i32,
    /// A CPU clock's task: the thread (per-thread clock) or process whose
    /// CPU time it counts, as the image's tasks see it; else 0.
    pub cpu_pid: i32,
}

layout!(PosixTimer {
    id: i32,
    clock: i32,
    notify: i32,
    signo: i32,
    value: u64,
    thread: i32,
    flags: u32,
    value_ns: i64,
    interval_ns: i64,
    overrun: i64,
    overrun_last: i64,
    si_overrun: i32,
    cpu_pid: i32
});

/// Clock ids a timer keeps, but for CPU clocks by pid (the kernel stores
/// a timer of `CLOCK_PROCESS_CPUTIME_ID` or `CLOCK_THREAD_CPUTIME_ID` as
/// the CPU clock of pid 0).
const TIMER_CLOCKS: [i32; 6] = [0, 1, 7, 8, 9, 11];

impl PosixTimer {
    /// Whether its clock counts CPU time (of a process or a thread).
    pub fn is_cpu(&self) -> bool {
        self.clock < 0
    }

    /// Whether its CPU clock is a thread's.
    pub fn is_thread_cpu(&self) -> bool {
        self.clock < 0 && self.clock & 4 != 0
    }

    fn check(&self) -> Result<(), ErrorKind> {
        let bad = |what, v: i64| Err(ErrorKind::BadField(what, v));
        if self.id < 0 {
            return bad("POSIX timer id", self.id.into());
        }
        // A negative clock id is a CPU clock by pid: bits 0-1 the kind
        // (0 to 2), bit 2 per thread.
        if self.clock >= 0 && !TIMER_CLOCKS.contains(&self.clock)
            || self.clock < 0 && self.clock & 3 == 3
        {
            return bad("POSIX timer clock", self.clock.into());
        }
        if self.is_cpu() != (self.cpu_pid > 0) || self.cpu_pid < 0 {
            return bad("POSIX timer CPU clock task", self.cpu_pid.into());
        }
        let signals = match self.notify {
            SIGEV_NONE => false,
            SIGEV_SIGNAL | SIGEV_THREAD => true,
            n if n == SIGEV_THREAD_ID | SIGEV_SIGNAL => {
                if self.thread <= 0 {
                    return bad("POSIX timer thread", self.thread.into());
                }
                true
            }
            n => return bad("POSIX timer notification", n.into()),
        };
        // (A timer without a signal keeps the number it was given.)
        if signals && !(1..=64).contains(&self.signo) {
            return bad("POSIX timer signal", self.signo.into());
        }
        if self.notify != SIGEV_THREAD_ID | SIGEV_SIGNAL && self.thread != 0 {
            return bad("POSIX timer thread", self.thread.into());
        }
        if self.flags & !(PTIMER_PENDING | PTIMER_ABSTIME) != 0
            || self.flags & PTIMER_PENDING != 0 && !signals
            || self.flags & PTIMER_ABSTIME != 0 && self.clock != 0
        {
            return bad("POSIX timer flags", self.flags.into());
        }
        if self.value_ns < 0 || self.interval_ns < 0 {
            return bad("POSIX timer time", self.value_ns.min(self.interval_ns));
        }
        let int_max = i64::from(i32::MAX);
        if !(-1..=int_max).contains(&self.overrun)
            || !(0..=int_max).contains(&self.overrun_last)
            || self.si_overrun < 0
        {
            return bad("POSIX timer overrun", self.overrun);
        }
        Ok(())
    }
}

impl PosixTimers {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if h.next_id < 0 {
            return Err(ErrorKind::BadField("next POSIX timer id", h.next_id.into()));
        }
        if h.nr == 0 || h.nr > MAX_POSIX_TIMERS {
            return Err(ErrorKind::BadField("POSIX timers", h.nr.into()));
        }
        let len =
            h.nr.checked_mul(PosixTimer::LEN as u32)
                .ok_or(ErrorKind::BadField("POSIX timers", h.nr.into()))?;
        let all = tail(rest, len)?;
        let mut last = -1;
        for t in all.chunks_exact(PosixTimer::LEN) {
            let (t, _) = PosixTimer::read_fixed(t)?;
            t.check()?;
            if t.id <= last {
                return Err(ErrorKind::BadField("POSIX timer id order", t.id.into()));
            }
            last = t.id;
        }
        Ok((h, all))
    }

    /// The timers of a record [`PosixTimers::decode`] accepted.
    pub fn timers(b: &[u8]) -> impl Iterator<Item = PosixTimer> + '_ {
        b.chunks_exact(PosixTimer::LEN)
            .filter_map(|t| PosixTimer::read_fixed(t).ok().map(|(t, _)| t))
    }
}
