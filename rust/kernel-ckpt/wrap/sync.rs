// SPDX-License-Identifier: GPL-2.0

//! Locks and waits kernel-ckpt takes that the kernel crate does not wrap:
//! `tasklist_lock` and completions.
//!
//! C headers: [`include/linux/sched/task.h`](srctree/include/linux/sched/task.h),
//! [`include/linux/completion.h`](srctree/include/linux/completion.h).

use kernel::bindings;
use kernel::prelude::*;
use kernel::types::Opaque;

/// Holds `read_lock(&tasklist_lock)` while it lives.
pub(crate) struct TasklistReadGuard(());

impl TasklistReadGuard {
    /// Takes the lock for reading.
    pub(crate) fn lock() -> Self {
        // SAFETY: `tasklist_lock` is a static rwlock, always initialised.
        unsafe { bindings::read_lock(core::ptr::addr_of_mut!(bindings::tasklist_lock)) };
        Self(())
    }
}

impl Drop for TasklistReadGuard {
    fn drop(&mut self) {
        // SAFETY: the lock is held by this guard.
        unsafe { bindings::read_unlock(core::ptr::addr_of_mut!(bindings::tasklist_lock)) };
    }
}

/// A `struct completion`.
///
/// # Invariants
///
/// Initialised by [`Completion::init`] before any other use, and never
/// moved after that.
pub(crate) struct Completion(Opaque<bindings::completion>);

// SAFETY: a completion is a wait queue and a counter under its own lock;
// it is made to be used from any task.
unsafe impl Send for Completion {}
// SAFETY: as above.
unsafe impl Sync for Completion {}

impl Completion {
    /// Storage for a completion, initialised later by [`Completion::init`].
    pub(crate) const fn uninit() -> Self {
        Self(Opaque::uninit())
    }

    /// # Safety
    ///
    /// Called once, before the completion is shared, where it then stays.
    pub(crate) unsafe fn init(&self) {
        // SAFETY: the caller guarantees exclusive, pinned storage.
        unsafe { bindings::ckpt_init_completion(self.0.get()) };
    }

    /// Wakes one waiter (or the next one to wait).
    pub(crate) fn complete(&self) {
        // SAFETY: initialised by the type invariant.
        unsafe { bindings::complete(self.0.get()) };
    }

    /// Wakes every waiter, now and later.
    pub(crate) fn complete_all(&self) {
        // SAFETY: initialised by the type invariant.
        unsafe { bindings::complete_all(self.0.get()) };
    }

    /// Waits until completed; `-EINTR` if the caller is being killed.
    pub(crate) fn wait_killable(&self) -> Result {
        // SAFETY: initialised by the type invariant; the wait is killable.
        match unsafe { bindings::wait_for_completion_killable(self.0.get()) } {
            0 => Ok(()),
            _ => Err(EINTR),
        }
    }

    /// Waits at most `ms`; `Ok(false)` on time-out.
    pub(crate) fn wait_killable_timeout(&self, ms: u32) -> Result<bool> {
        // SAFETY: plain conversion.
        let jiffies = unsafe { bindings::__msecs_to_jiffies(ms) };
        // SAFETY: initialised by the type invariant; the wait is killable.
        let r = unsafe { bindings::wait_for_completion_killable_timeout(self.0.get(), jiffies) };
        match r {
            0 => Ok(false),
            r if r > 0 => Ok(true),
            _ => Err(EINTR),
        }
    }
}

/// A wait queue defined by the C side.
///
/// # Invariants
///
/// `self.0` is an initialised wait queue that lives as long as the kernel.
pub(crate) struct WaitQueue(*mut bindings::wait_queue_head);

impl WaitQueue {
    /// # Safety
    ///
    /// `wq` must be a statically defined, initialised wait queue
    /// (`DECLARE_WAIT_QUEUE_HEAD`).
    pub(crate) unsafe fn from_static(wq: *mut bindings::wait_queue_head) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self(wq)
    }

    /// Wakes every task waiting (`wake_up_all`).
    pub(crate) fn wake_up_all(&self) {
        // SAFETY: an initialised wait queue by the type invariant.
        unsafe { bindings::__wake_up(self.0, bindings::TASK_NORMAL, 0, core::ptr::null_mut()) };
    }

    /// Sleeps until `cond` holds, as `wait_event_killable` does; `-EINTR`
    /// once the caller has a fatal signal pending. `cond` is checked after
    /// the caller is queued, so a wake-up between the two is not lost.
    pub(crate) fn wait_killable_until(&self, mut cond: impl FnMut() -> bool) -> Result {
        // SAFETY: an all-zero entry is valid storage for init_wait.
        let mut entry: bindings::wait_queue_entry = unsafe { core::mem::zeroed() };
        // SAFETY: `entry` lives on this stack until finish_wait below.
        unsafe { bindings::init_wait(&mut entry) };
        let result = loop {
            // SAFETY: the entry is initialised; the queue is valid by the
            // type invariant. Returns non-zero when a fatal signal is
            // pending (TASK_KILLABLE).
            let r = unsafe {
                bindings::prepare_to_wait_event(
                    self.0,
                    &mut entry,
                    bindings::TASK_KILLABLE as kernel::ffi::c_int,
                )
            };
            if cond() {
                break Ok(());
            }
            if r != 0 {
                break Err(EINTR);
            }
            // SAFETY: the task state was set by prepare_to_wait_event.
            unsafe { bindings::schedule() };
        };
        // SAFETY: the entry was queued by prepare_to_wait_event above.
        unsafe { bindings::finish_wait(self.0, &mut entry) };
        result
    }
}
