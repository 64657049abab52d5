// SPDX-License-Identifier: GPL-2.0
//! Registers, FPU state and the restart block of a task.
//!
//! Written by the kernel's `regs.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// Names of the [`Regs`] fields, in order (`struct user_regs_struct`).
pub const REG_NAMES: [&str; 27] = [
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
    "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs",
    "gs",
];

/// General-purpose registers as `struct user_regs_struct` (NT_PRSTATUS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Regs(pub [u64; 27]);

impl Regs {
    fn get(&self, name: &str) -> u64 {
        let i = REG_NAMES.iter().position(|n| *n == name).unwrap_or(0);
        self.0.get(i).copied().unwrap_or(0)
    }

    /// Instruction pointer.
    pub fn ip(&self) -> u64 {
        self.get("rip")
    }

    /// Stack pointer.
    pub fn sp(&self) -> u64 {
        self.get("rsp")
    }

    /// `rax`: for a task stopped in a system call, its return value so far
    /// (an `-ERESTART*` code).
    pub fn ax(&self) -> u64 {
        self.get("rax")
    }

    /// The system call number, or `u64::MAX` (-1) outside a system call.
    pub fn orig_ax(&self) -> u64 {
        self.get("orig_rax")
    }

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        Ok(Self::read_fixed(p)?.0)
    }
}

layout!(Regs { 0: [u64; 27] });

/// Head of an xstate record; the XSAVE buffer follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct XstateHeader {
    /// `xstate_bv` of the buffer: the state components present.
    pub xfeatures: u64,
    /// Size of the XSAVE buffer that follows.
    pub size: u32,
}

impl XstateHeader {
    /// The legacy FXSAVE area plus the XSAVE header.
    pub const MIN_SIZE: u32 = 512 + 64;

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if !(Self::MIN_SIZE..=MAX_XSTATE_SIZE).contains(&h.size) {
            return Err(ErrorKind::BadField("xstate size", h.size.into()));
        }
        Ok((h, tail(rest, h.size)?))
    }
}

layout!(XstateHeader { xfeatures: u64, size: u32, _: u32 });

/// Restart block kind: nothing to resume (a restarted call gets `EINTR`).
pub const RESTART_NONE: u32 = 0;
/// Restart block kind: an interrupted relative nanosleep.
pub const RESTART_NANOSLEEP: u32 = 1;
/// Restart block kind: an interrupted poll(2) (with or without a timeout):
/// `rmtp` is its pollfd array, `clockid` the number of entries, and
/// `remaining_ns` -1 for no timeout.
pub const RESTART_POLL: u32 = 2;
/// Restart block kind: an interrupted futex wait with a timeout: `rmtp`
/// is the futex word's address, `clockid` the futex flags
/// ([`FUTEX_RESTART_FLAGS`]), `ts_type` the value waited on, `aux` the
/// bitset, `remaining_ns` the time that was left.
pub const RESTART_FUTEX: u32 = 3;
/// The futex flags a futex restart block may hold: a 32-bit word, shared
/// or private, on `CLOCK_REALTIME` or `CLOCK_MONOTONIC`.
pub const FUTEX_RESTART_FLAGS: i32 = 0x0003 | 0x0010 | 0x0020;

/// How an interrupted system call that needs a restart block resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RestartBlock {
    /// `RESTART_*`.
    pub kind: u32,
    /// The sleep's clock (`CLOCK_*`); for a poll, the number of pollfds.
    pub clockid: i32,
    /// `enum timespec_type` of the remaining-time pointer.
    pub ts_type: u32,
    /// User address the remaining time is written to, or 0; for a poll,
    /// the address of its pollfds.
    pub rmtp: u64,
    /// For a futex wait, its bitset; else 0.
    pub aux: u32,
    /// Time that was left to sleep (for a poll, -1 if it has no timeout).
    pub remaining_ns: i64,
}

impl RestartBlock {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (b, _) = Self::read_fixed(p)?;
        if b.kind > RESTART_FUTEX {
            return Err(ErrorKind::BadField("restart block kind", b.kind.into()));
        }
        let no_timeout = b.kind == RESTART_POLL && b.remaining_ns == -1;
        if !(no_timeout || (0..=TaskMisc::MAX_TIMER_NS as i64).contains(&b.remaining_ns))
            || b.rmtp >= USER_ADDR_END
        {
            return Err(ErrorKind::BadField("restart block", b.remaining_ns));
        }
        if b.kind == RESTART_POLL && (b.clockid < 0 || b.ts_type != 0) {
            return Err(ErrorKind::BadField("restart block poll", b.clockid.into()));
        }
        if b.kind == RESTART_FUTEX
            && (b.clockid & !FUTEX_RESTART_FLAGS != 0
                || b.clockid & 3 != 2
                || b.aux == 0
                || b.rmtp % 4 != 0)
        {
            return Err(ErrorKind::BadField("restart block futex", b.clockid.into()));
        }
        if b.kind != RESTART_FUTEX && b.aux != 0 {
            return Err(ErrorKind::BadField("restart block", b.aux.into()));
        }
        Ok(b)
    }
}

layout!(RestartBlock {
    kind: u32,
    clockid: i32,
    ts_type: u32,
    aux: u32,
    rmtp: u64,
    remaining_ns: i64
});
