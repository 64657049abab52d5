// SPDX-License-Identifier: GPL-2.0
//! Parking: tasks that join their process group only once the whole tree
//! is built wait on a futex in a shared anonymous mapping, which every
//! process of the tree inherits from the coordinator, until the
//! coordinator releases them one by one; each then says whether its last
//! steps succeeded.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::libc;
use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};

use crate::forest::{Action, Pid, Plan};

/// Slot states in the shared mapping.
const WAITING: u32 = 0;
const RELEASED: u32 = 1;
const DONE: u32 = 2;
const FAILED: u32 = 3;

/// One `[state, errno, step]` slot per parked task, in a shared anonymous
/// mapping every process of the tree inherits.
pub(super) struct Parking {
    base: Option<NonNull<AtomicU32>>,
    len: usize,
    slots: HashMap<Pid, usize>,
}

impl Parking {
    pub(super) fn new(plan: &Plan) -> Result<Self> {
        let slots: HashMap<Pid, usize> = plan
            .coordinator
            .iter()
            .filter_map(|a| match a {
                Action::Release { pid } => Some(*pid),
                _ => None,
            })
            .enumerate()
            .map(|(i, pid)| (pid, i))
            .collect();
        let len = slots.len() * 3 * std::mem::size_of::<AtomicU32>();
        let Some(size) = NonZeroUsize::new(len) else {
            return Ok(Self {
                base: None,
                len: 0,
                slots,
            });
        };
        // SAFETY: a fresh shared anonymous mapping (zeroed: every slot
        // WAITING), unmapped only by `drop` in the coordinator.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .context("cannot map the parking slots")?;
        Ok(Self {
            base: Some(ptr.cast()),
            len,
            slots,
        })
    }

    pub(super) fn slot_of(&self, pid: Pid) -> Option<usize> {
        self.slots.get(&pid).copied()
    }

    /// Word `word` (0 state, 1 errno, 2 step) of slot `i`.
    fn word(&self, i: usize, word: usize) -> Option<&AtomicU32> {
        let base = self.base?;
        let at = i.checked_mul(3)?.checked_add(word)?;
        if (at + 1) * std::mem::size_of::<AtomicU32>() > self.len {
            return None;
        }
        // SAFETY: in bounds of the mapping, which lives as long as `self`
        // and holds only atomics.
        Some(unsafe { &*base.as_ptr().add(at) })
    }

    /// In a parked task: waits until released.
    pub(super) fn wait_release(&self, i: usize) {
        let Some(state) = self.word(i, 0) else {
            return;
        };
        while state.load(Ordering::SeqCst) == WAITING {
            futex_wait(state, WAITING, None);
        }
    }

    /// In a released task: its last steps succeeded.
    pub(super) fn done(&self, i: usize) {
        if let Some(state) = self.word(i, 0) {
            state.store(DONE, Ordering::SeqCst);
            futex_wake(state);
        }
    }

    /// In a released task: step `step` failed with `errno`.
    pub(super) fn failed(&self, i: usize, errno: Errno, step: usize) {
        if let (Some(state), Some(e), Some(s)) = (self.word(i, 0), self.word(i, 1), self.word(i, 2))
        {
            e.store(errno as u32, Ordering::SeqCst);
            s.store(u32::try_from(step).unwrap_or(u32::MAX), Ordering::SeqCst);
            state.store(FAILED, Ordering::SeqCst);
            futex_wake(state);
        }
    }

    /// In the coordinator: releases slot `i` and waits for its outcome;
    /// `Err(None)` on timeout, else the failing errno and step.
    pub(super) fn release(
        &self,
        i: usize,
        deadline: Instant,
    ) -> Result<(), Option<(Errno, usize)>> {
        let Some(state) = self.word(i, 0) else {
            return Err(None);
        };
        state.store(RELEASED, Ordering::SeqCst);
        futex_wake(state);
        loop {
            match state.load(Ordering::SeqCst) {
                DONE => return Ok(()),
                FAILED => {
                    let errno = self.word(i, 1).map_or(0, |w| w.load(Ordering::SeqCst));
                    let step = self.word(i, 2).map_or(0, |w| w.load(Ordering::SeqCst));
                    let errno = Errno::from_raw(errno as i32);
                    return Err(Some((errno, step as usize)));
                }
                _ => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(None);
            }
            futex_wait(state, RELEASED, Some(left));
        }
    }
}

impl Drop for Parking {
    fn drop(&mut self) {
        if let Some(base) = self.base {
            // SAFETY: unmaps exactly what `new` mapped; nothing refers to
            // it any more in this process.
            let _ = unsafe { munmap(base.cast(), self.len) };
        }
    }
}

/// Sleeps while `word` holds `expected` (or until `timeout`); shared
/// between processes (no FUTEX_PRIVATE_FLAG).
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().try_into().unwrap_or(i32::MAX.into()),
        tv_nsec: t.subsec_nanos().into(),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT on a live, aligned u32 with an optional relative
    // timeout that outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            0usize,
            0u32,
        )
    };
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live, aligned u32.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}
