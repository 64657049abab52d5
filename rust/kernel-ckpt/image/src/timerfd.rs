// SPDX-License-Identifier: GPL-2.0
//! Timerfd objects.
//!
//! Written by the kernel's `timerfd.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// `TimerfdObj::flags`: `TFD_TIMER_ABSTIME`.
pub const TFD_TIMER_ABSTIME: u32 = 1;
/// `TimerfdObj::flags`: `TFD_TIMER_CANCEL_ON_SET`.
pub const TFD_TIMER_CANCEL_ON_SET: u32 = 2;

/// A timerfd (its `struct timerfd_ctx`), written once before its open
/// file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TimerfdObj {
    /// Object id.
    pub id: ObjId,
    /// The clock (`CLOCK_MONOTONIC`, `CLOCK_REALTIME`, `CLOCK_BOOTTIME`).
    pub clockid: i32,
    /// The flags of its last timerfd_settime(2) (`TFD_TIMER_*`).
    pub flags: u32,
    /// Expirations not read yet.
    pub ticks: u64,
    /// Nanoseconds to the next expiration; 0: disarmed.
    pub value_ns: i64,
    /// Nanoseconds between expirations; 0: one-shot.
    pub interval_ns: i64,
}

impl TimerfdObj {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (t, _) = Self::read_fixed(p)?;
        if !matches!(t.clockid, 0 | 1 | 7) {
            return Err(ErrorKind::BadField("timerfd clock", t.clockid.into()));
        }
        if t.flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
            return Err(ErrorKind::BadField("timerfd flags", t.flags.into()));
        }
        let max = TaskMisc::MAX_TIMER_NS as i64;
        if !(0..=max).contains(&t.value_ns) || !(0..=max).contains(&t.interval_ns) {
            return Err(ErrorKind::BadField("timerfd time", t.value_ns));
        }
        Ok(t)
    }
}

layout!(TimerfdObj {
    id: ObjId,
    clockid: i32,
    flags: u32,
    _: u32,
    ticks: u64,
    value_ns: i64,
    interval_ns: i64,
});
