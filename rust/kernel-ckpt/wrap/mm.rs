// SPDX-License-Identifier: GPL-2.0

//! Memory maps: counted references and the mmap lock.
//!
//! C headers: [`include/linux/sched/mm.h`](srctree/include/linux/sched/mm.h),
//! [`include/linux/mmap_lock.h`](srctree/include/linux/mmap_lock.h).

use super::task::{current, TaskRef};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

/// `VM_UFFD_MISSING | VM_UFFD_WP`: memory registered with a userfaultfd.
const VM_UFFD: u64 = 0x0000_0200 | 0x0000_1000;

/// A reference on an `mm_struct`'s users.
///
/// # Invariants
///
/// `self.0` is a valid mm on which this object holds one `mm_users`
/// reference (from `get_task_mm`, or a copy's from `ckpt_dup_mm`),
/// dropped with `mmput`, or for a copy no task runs in (`self.1`) with
/// `ckpt_put_mm_copy`.
pub(crate) struct MmRef(NonNull<bindings::mm_struct>, bool);

impl MmRef {
    /// The task's mm as `mm_access` gives it to a tracer: `-EACCES`
    /// unless the caller may attach to the task (checked under the task's
    /// exec lock, so the mm is the one of the program that was checked),
    /// `-ESRCH` for a task without one.
    pub(crate) fn access(task: &TaskRef) -> Result<Self> {
        // SAFETY: the task is valid; `mm_access` takes the exec lock and
        // returns a referenced mm or an ERR_PTR (never NULL).
        let mm = kernel::error::from_err_ptr(unsafe {
            bindings::mm_access(task.as_ptr(), bindings::PTRACE_MODE_ATTACH_REALCREDS)
        })?;
        // INVARIANT: a non-error result carries a reference.
        NonNull::new(mm).map(|m| Self(m, false)).ok_or(ESRCH)
    }

    /// A copy of this mm for the calling task, made as fork(2) makes a
    /// child's (`dup_mm`): private pages shared copy-on-write (the pages
    /// of this mm are write-protected so that its next write copies),
    /// `MADV_DONTFORK` memory left out, `MADV_WIPEONFORK` memory empty.
    /// Its memory cgroup owner is the caller until it is dropped. `-ENOMEM`
    /// if it cannot be made (or the caller was killed while waiting for
    /// the mmap lock).
    pub(crate) fn fork_copy(&self) -> Result<Self> {
        // SAFETY: the mm is referenced; `dup_mm` takes its mmap write lock
        // and returns a new mm with one reference, or NULL.
        let copy = unsafe { bindings::ckpt_dup_mm(self.as_ptr()) };
        // INVARIANT: a non-NULL result carries a reference; no task runs
        // in it.
        NonNull::new(copy).map(|m| Self(m, true)).ok_or(ENOMEM)
    }

    /// A copy of this mm as [`fork_copy`](Self::fork_copy) makes it,
    /// without its executable (which would be denied writes meanwhile):
    /// for reading its private pages as they are now while its process
    /// runs on. `-ENOMEM` if it cannot be made (or on a fatal signal).
    pub(crate) fn snapshot(&self) -> Result<Self> {
        // SAFETY: the mm is referenced; the helper copies it as `dup_mm`
        // does (under its mmap write lock) and drops the copy's executable,
        // returning it with one reference, or NULL.
        let copy = unsafe { bindings::ckpt_snapshot_mm(self.as_ptr()) };
        // INVARIANT: a non-NULL result carries a reference; no task runs
        // in it.
        NonNull::new(copy).map(|m| Self(m, true)).ok_or(ENOMEM)
    }

    /// Gives up the reference without dropping it: the caller owns it
    /// (and for a copy, must drop it with `ckpt_put_mm_copy`, or give it
    /// to a task).
    pub(crate) fn into_raw(self) -> *mut bindings::mm_struct {
        let mm = self.as_ptr();
        core::mem::forget(self);
        mm
    }

    /// Whether `task` still runs in this mm (an exec replaces it).
    pub(crate) fn is_of(&self, task: &TaskRef) -> bool {
        // SAFETY: the task is valid; `mm` is only compared, under task_lock.
        unsafe {
            bindings::task_lock(task.as_ptr());
            let same = (*task.as_ptr()).mm == self.as_ptr();
            bindings::task_unlock(task.as_ptr());
            same
        }
    }

    /// The calling task's mm.
    pub(crate) fn of_current() -> Option<Self> {
        // SAFETY: current is valid; as in `of`.
        let mm = unsafe { bindings::get_task_mm(current()) };
        // INVARIANT: a non-NULL result carries a reference.
        NonNull::new(mm).map(|m| Self(m, false))
    }

    /// The mm of `task` (a restored process), if it has one.
    pub(crate) fn of_task(task: &TaskRef) -> Option<Self> {
        // SAFETY: the task is valid; `get_task_mm` takes task_lock and
        // returns a referenced mm or NULL.
        let mm = unsafe { bindings::get_task_mm(task.as_ptr()) };
        // INVARIANT: a non-NULL result carries a reference.
        NonNull::new(mm).map(|m| Self(m, false))
    }

    /// Whether `[start, end)` is covered, without a gap, by anonymous
    /// private mappings (no file, no special mapping, no userfaultfd)
    /// whose flags are `flags` in the bits of `mask`.
    pub(crate) fn anon_covers(&self, start: u64, end: u64, flags: u64, mask: u64) -> bool {
        let _guard = self.read_lock();
        let mut at = start;
        while at < end {
            // SAFETY: the mmap lock is held: the VMA tree and the VMAs'
            // fields are stable, and the VMA is only read.
            let ok = unsafe {
                let vma = bindings::find_vma(self.as_ptr(), at as usize);
                if vma.is_null() {
                    return false;
                }
                let b = &(*vma).__bindgen_anon_1.__bindgen_anon_1;
                let vflags = (*vma).__bindgen_anon_2.vm_flags as u64;
                let ok = b.vm_start as u64 <= at
                    && (*vma).vm_file.is_null()
                    && (*vma).vm_ops.is_null()
                    && vflags & VM_UFFD == 0
                    && vflags & mask == flags & mask;
                at = b.vm_end as u64;
                ok
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// The raw pointer, valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut bindings::mm_struct {
        self.0.as_ptr()
    }

    /// Whether one VMA of this mm spans exactly `[start, end)`.
    pub(crate) fn has_vma(&self, start: u64, end: u64) -> bool {
        let _guard = self.read_lock();
        // SAFETY: the mmap lock is held: the VMA tree and the VMA's bounds
        // are stable, and the VMA is only read.
        unsafe {
            let vma = bindings::find_vma(self.as_ptr(), start as usize);
            if vma.is_null() {
                return false;
            }
            let b = &(*vma).__bindgen_anon_1.__bindgen_anon_1;
            b.vm_start as u64 == start && b.vm_end as u64 == end
        }
    }

    /// Takes `mmap_read_lock` until the guard is dropped.
    pub(crate) fn read_lock(&self) -> MmapReadGuard<'_> {
        // SAFETY: the mm is valid; may sleep, no spinlock is held by callers.
        unsafe { bindings::mmap_read_lock(self.as_ptr()) };
        MmapReadGuard(self)
    }
}

impl Drop for MmRef {
    fn drop(&mut self) {
        if self.1 {
            // SAFETY: this object owns one `mm_users` reference on a copy
            // no task runs in.
            unsafe { bindings::ckpt_put_mm_copy(self.as_ptr()) };
        } else {
            // SAFETY: this object owns one `mm_users` reference.
            unsafe { bindings::mmput(self.as_ptr()) };
        }
    }
}

/// Holds `mmap_read_lock` of an mm while it lives.
pub(crate) struct MmapReadGuard<'a>(&'a MmRef);

impl Drop for MmapReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked by this guard.
        unsafe { bindings::mmap_read_unlock(self.0.as_ptr()) };
    }
}
