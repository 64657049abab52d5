// SPDX-License-Identifier: GPL-2.0

//! Tasks: counted references and their accessors, the exec lock, the
//! calling task, and the caller's pid namespace.
//!
//! C headers: [`include/linux/sched.h`](srctree/include/linux/sched.h),
//! [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h),
//! [`include/linux/sched/jobctl.h`](srctree/include/linux/sched/jobctl.h),
//! [`include/linux/pid_namespace.h`](srctree/include/linux/pid_namespace.h).

use super::file::FileRef;
use super::path::PathRef;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;
use kernel::task::Task;
use kernel::types::ARef;

/// The calling task.
pub(crate) fn current() -> *mut bindings::task_struct {
    // SAFETY: always valid in process context, which every caller is in.
    unsafe { bindings::get_current() }
}

/// The calling task's soft limit `resource` (`RLIMIT_*`), as the kernel
/// reads it for its own checks (racily: only the task itself sets it);
/// `RLIM_INFINITY` is `u64::MAX`.
pub(crate) fn current_rlimit(resource: u32) -> u64 {
    let i = resource as usize;
    // SAFETY: current and its signal_struct are valid in process context.
    let rlim = unsafe { &(*(*current()).signal).rlim };
    rlim.get(i)
        .map_or(u64::MAX, |r| u64::try_from(r.rlim_cur).unwrap_or(u64::MAX))
}

/// A counted reference to a task: the kernel crate's `ARef<Task>`, with
/// the accessors kernel-ckpt needs.
#[derive(Clone)]
pub(crate) struct TaskRef(ARef<Task>);

impl TaskRef {
    /// Takes a new reference on `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a task that stays alive during this call (for
    /// example because `tasklist_lock` or RCU is held, or a reference is).
    pub(crate) unsafe fn get(ptr: NonNull<bindings::task_struct>) -> Self {
        // SAFETY: `Task` is a transparent wrapper of `task_struct`, and the
        // caller guarantees the task is alive: the shared reference is
        // valid for this call, and `ARef::from` takes a reference of its own.
        let task = unsafe { &*ptr.as_ptr().cast::<Task>() };
        Self(ARef::from(task))
    }

    /// Takes over a reference the caller holds on `ptr`.
    ///
    /// # Safety
    ///
    /// The caller must own one reference on the valid task `ptr`.
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::task_struct>) -> Self {
        // SAFETY: the caller passes its reference on, which the `ARef`
        // owns from here; `Task` is a transparent wrapper of `task_struct`.
        Self(unsafe { ARef::from_raw(ptr.cast()) })
    }

    /// A new reference on the calling task.
    pub(crate) fn current_ref() -> Self {
        // SAFETY: current is alive while it runs this.
        unsafe { Self::get(NonNull::new_unchecked(current())) }
    }

    /// Whether the calling task may take this task's open file table or
    /// fs context: both in one user and one mount namespace.
    pub(crate) fn may_share_with_current(&self) -> bool {
        // SAFETY: the task is referenced; the helper takes its task_lock.
        unsafe { bindings::ckpt_may_share_with(self.as_ptr()) }
    }

    /// Makes the calling task use this task's open file table (`fs`
    /// true: its fs context) in place of its own, as a `CLONE_FILES`
    /// (`CLONE_FS`) child of it would. `-ESRCH` if this task has exited,
    /// `-EPERM` if the two are in different user or mount namespaces,
    /// `-EAGAIN` while an exec holds the fs context.
    pub(crate) fn share_table_with_current(&self, fs: bool) -> Result {
        // SAFETY: the task is referenced; the helpers take task_lock on
        // both tasks (and the fs lock) themselves, and drop current's old
        // table or context with the reference current held on it.
        kernel::error::to_result(unsafe {
            if fs {
                bindings::ckpt_share_fs(self.as_ptr())
            } else {
                bindings::ckpt_share_files(self.as_ptr())
            }
        })
    }

    /// Looks up `pid` in `ns`.
    pub(crate) fn find_in(pid: bindings::pid_t, ns: &PidNs) -> Result<Self> {
        if pid <= 0 {
            return Err(ESRCH);
        }
        // SAFETY: `ns` is referenced by its invariant; the helper takes the
        // RCU read lock and returns a referenced task or NULL.
        let ptr = NonNull::new(unsafe { bindings::ckpt_find_get_task_in(pid, ns.as_ptr()) })
            .ok_or(ESRCH)?;
        // SAFETY: the result carries a reference, which we take over.
        Ok(unsafe { Self::from_raw(ptr) })
    }

    /// Looks up `pid` in the pid namespace of the calling task.
    pub(crate) fn find_by_vpid(pid: bindings::pid_t) -> Result<Self> {
        if pid <= 0 {
            return Err(ESRCH);
        }
        // SAFETY: `find_get_task_by_vpid` takes the RCU read lock itself and
        // returns a task with a reference taken, or NULL.
        let ptr = NonNull::new(unsafe { bindings::find_get_task_by_vpid(pid) }).ok_or(ESRCH)?;
        // SAFETY: the result carries a reference, which we take over.
        Ok(unsafe { Self::from_raw(ptr) })
    }

    /// The raw pointer, valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut bindings::task_struct {
        // `Task` is a transparent wrapper of `task_struct`.
        core::ptr::from_ref::<Task>(&self.0).cast_mut().cast()
    }

    /// Number of the task's `ty` pid (PID, TGID, PGID, SID) as seen in `ns`;
    /// 0 if it has none there.
    pub(crate) fn pid_in(&self, ty: bindings::pid_type, ns: &PidNs) -> bindings::pid_t {
        // SAFETY: the task is valid by the type invariant, `ns` is a live
        // namespace by its invariant; the function takes RCU itself.
        unsafe { bindings::__task_pid_nr_ns(self.as_ptr(), ty, ns.as_ptr()) }
    }

    /// The thread group id of the task's parent as seen in `ns` (0 if the
    /// parent is outside it).
    pub(crate) fn parent_tgid_in(&self, ns: &PidNs) -> bindings::pid_t {
        // SAFETY: `real_parent` is RCU-protected: under rcu_read_lock it
        // points to a task that stays valid until the unlock; the pid
        // lookup takes RCU itself (nesting is fine).
        unsafe {
            bindings::rcu_read_lock();
            let parent = core::ptr::read_volatile(&(*self.as_ptr()).real_parent);
            let tgid =
                bindings::__task_pid_nr_ns(parent, bindings::pid_type_PIDTYPE_TGID, ns.as_ptr());
            bindings::rcu_read_unlock();
            tgid
        }
    }

    /// The task's pid in the caller's pid namespace (0 if outside it).
    pub(crate) fn vpid(&self) -> bindings::pid_t {
        PidNs::current().map_or(0, |ns| self.pid_in(bindings::pid_type_PIDTYPE_PID, &ns))
    }

    /// Whether this task leads its thread group.
    pub(crate) fn is_group_leader(&self) -> bool {
        // SAFETY: the task is valid; `group_leader` of a live task is valid.
        unsafe { bindings::thread_group_leader(self.as_ptr()) }
    }

    /// `exit_state` (`EXIT_ZOMBIE`, `EXIT_DEAD` or 0).
    pub(crate) fn exit_state(&self) -> i32 {
        // SAFETY: the task is valid; the field is an int written once at exit.
        unsafe { core::ptr::read_volatile(&(*self.as_ptr()).exit_state) }
    }

    /// `exit_code`: the wait status of a zombie.
    pub(crate) fn exit_code(&self) -> i32 {
        // SAFETY: as for `exit_state`.
        unsafe { core::ptr::read_volatile(&(*self.as_ptr()).exit_code) }
    }

    /// `exit_signal`: the signal sent to the parent at exit (-1 for threads).
    pub(crate) fn exit_signal(&self) -> i32 {
        // SAFETY: the task is valid; an int read.
        unsafe { core::ptr::read_volatile(&(*self.as_ptr()).exit_signal) }
    }

    /// The command name, NUL padded.
    pub(crate) fn comm(&self) -> [u8; crate::image::COMM_LEN] {
        let mut buf = [0u8; crate::image::COMM_LEN];
        // SAFETY: `buf` is a writable buffer of the given length; the task is
        // valid; `__get_task_comm` copies under `task_lock` and NUL pads.
        unsafe { bindings::__get_task_comm(buf.as_mut_ptr().cast(), buf.len(), self.as_ptr()) };
        buf
    }

    /// Whether the caller may checkpoint this task: the access a debugger
    /// needs to attach, checked against the caller's real credentials.
    pub(crate) fn may_checkpoint(&self) -> bool {
        // SAFETY: the task is valid; `ptrace_may_access` takes `task_lock`.
        unsafe {
            bindings::ptrace_may_access(self.as_ptr(), bindings::PTRACE_MODE_ATTACH_REALCREDS)
        }
    }

    /// Whether the task's active pid namespace is `ns` (false once it is
    /// reaped).
    pub(crate) fn in_pid_ns(&self, ns: &PidNs) -> bool {
        // SAFETY: the task is referenced; the helper reads its pid under
        // RCU and only compares the namespace.
        unsafe { bindings::ckpt_task_in_pid_ns(self.as_ptr(), ns.as_ptr()) }
    }

    /// A new reference on the task's active pid namespace; `-ESRCH` once
    /// it is reaped.
    pub(crate) fn pid_ns(&self) -> Result<PidNs> {
        // SAFETY: the task is referenced; the helper reads its pid under
        // RCU (a reaped task's pid is freed after a grace period) and
        // returns NULL or the namespace with a reference taken.
        let ns =
            NonNull::new(unsafe { bindings::ckpt_task_get_pid_ns(self.as_ptr()) }).ok_or(ESRCH)?;
        // INVARIANT: a reference is held on `ns`.
        Ok(PidNs(ns))
    }

    /// Which of the task's namespaces are not the caller's
    /// (`CKPT_OWN_UTS`, `CKPT_OWN_IPC`); `-ESRCH` past exit.
    pub(crate) fn ns_own(&self) -> Result<u32> {
        // SAFETY: the task is valid; the helper reads its nsproxy under
        // task_lock.
        let r = unsafe { bindings::ckpt_ns_own(self.as_ptr()) };
        kernel::error::to_result(r.min(0))?;
        Ok(r as u32)
    }

    /// The host and domain names of the task's UTS namespace, NUL padded.
    pub(crate) fn uts_names(&self) -> Result<([u8; 65], [u8; 65])> {
        let (mut node, mut domain) = ([0u8; 65], [0u8; 65]);
        // SAFETY: the task is valid; both buffers are
        // `__NEW_UTS_LEN + 1` bytes, which the helper fills under uts_sem.
        kernel::error::to_result(unsafe {
            bindings::ckpt_uts_get(
                self.as_ptr(),
                node.as_mut_ptr().cast(),
                domain.as_mut_ptr().cast(),
            )
        })?;
        Ok((node, domain))
    }

    /// Sets the host and domain names (NUL terminated) of the task's UTS
    /// namespace, which must not be the caller's (`-EINVAL`), as
    /// sethostname(2) would from inside it (`-EPERM`).
    pub(crate) fn set_uts_names(&self, node: &[u8; 65], domain: &[u8; 65]) -> Result {
        if !node.contains(&0) || !domain.contains(&0) {
            return Err(EINVAL);
        }
        // SAFETY: the task is valid; both names are NUL terminated within
        // their arrays, and the helper takes uts_sem.
        kernel::error::to_result(unsafe {
            bindings::ckpt_uts_set(self.as_ptr(), node.as_ptr().cast(), domain.as_ptr().cast())
        })
    }

    /// Whether the task is the init task (child reaper) of its own active
    /// pid namespace.
    pub(crate) fn is_pidns_init(&self) -> bool {
        self.pid_ns().is_ok_and(|ns| {
            // SAFETY: the namespace is referenced; `child_reaper` is only
            // compared, never dereferenced.
            unsafe { core::ptr::read_volatile(&(*ns.as_ptr()).child_reaper) == self.as_ptr() }
        })
    }

    /// Whether the task is parked by the cgroup v2 freezer and off the CPU.
    ///
    /// `task->frozen` alone is not enough: it is also set for a task stopped
    /// by a signal, traced, or waiting for a vfork child. A task counts as
    /// frozen only with the freezer's trap pending (`JOBCTL_TRAP_FREEZE`),
    /// not traced and not exiting, and either parked in the trap (sleeping
    /// interruptibly and freezable) or stopped in its process's group stop
    /// (`JOBCTL_STOPPED`, `TASK_STOPPED`: the freezer leaves it stopped,
    /// and its user state is as still as a parked task's). These fields
    /// change under `sighand->siglock`, which is held while they are read.
    /// Then `wait_task_inactive` makes sure it has scheduled out (`frozen` is
    /// set just before the task sleeps). May sleep.
    pub(crate) fn is_frozen(&self) -> bool {
        let t = self.as_ptr();
        let mut irqflags = 0;
        // SAFETY: the task is valid; a NULL result means it is past exit.
        let sighand = unsafe { bindings::lock_task_sighand(t, &mut irqflags) };
        if sighand.is_null() {
            return false;
        }
        let want = bindings::TASK_INTERRUPTIBLE | bindings::TASK_FREEZABLE;
        // SAFETY: `siglock` is held, so jobctl, frozen and the trap state are
        // stable; the reads are of plain integers of a valid task.
        let parked = unsafe {
            let jobctl = core::ptr::read_volatile(&(*t).jobctl) as u64;
            let state = core::ptr::read_volatile(&(*t).__state);
            let ptrace = core::ptr::read_volatile(&(*t).ptrace);
            let flags = core::ptr::read_volatile(&(*t).flags);
            let stopped = state == bindings::TASK_STOPPED
                && jobctl & u64::from(bindings::JOBCTL_STOPPED) != 0;
            let ok = bindings::cgroup_task_frozen(t)
                && jobctl & u64::from(bindings::JOBCTL_TRAP_FREEZE) != 0
                && (state == want || stopped)
                && ptrace == 0
                && flags & bindings::PF_EXITING == 0;
            ok.then_some(if stopped {
                bindings::__TASK_STOPPED
            } else {
                bindings::TASK_INTERRUPTIBLE
            })
        };
        // SAFETY: locked above with the same flags.
        unsafe { bindings::unlock_task_sighand(t, &mut irqflags) };
        // SAFETY: the task is valid; may sleep, and no lock is held here.
        parked.is_some_and(|state| unsafe { bindings::wait_task_inactive(t, state) } != 0)
    }
}

/// Holds a task's `exec_update_lock` for reading: the task cannot pass
/// the point of exec where its credentials and memory change.
///
/// Lock order: taken before `mmap_lock`, `task_lock` and `siglock`, as
/// `mm_access` and the ptrace paths take it.
pub(crate) struct ExecGuard<'a>(&'a TaskRef);

impl TaskRef {
    /// Takes the task's exec lock for reading; `-EINTR` if the caller is
    /// killed while it waits.
    pub(crate) fn lock_exec(&self) -> Result<ExecGuard<'_>> {
        // SAFETY: the task is valid; its signal_struct (and the rwsem in
        // it) lives as long as any of its task references.
        let r =
            unsafe { bindings::down_read_killable(bindings::ckpt_exec_update_lock(self.as_ptr())) };
        if r != 0 {
            return Err(EINTR);
        }
        Ok(ExecGuard(self))
    }

    /// The first file open in the task's descriptor table at `*fd` or after
    /// it, with a reference; `*fd` is set to its descriptor. `None` past
    /// the last one.
    pub(crate) fn next_file(&self, fd: &mut u32) -> Option<FileRef> {
        // SAFETY: the task is valid; the lookup must run under RCU and
        // returns a file with a reference taken, or NULL.
        let f = unsafe {
            bindings::rcu_read_lock();
            let f = bindings::task_lookup_next_fdget_rcu(self.as_ptr(), fd);
            bindings::rcu_read_unlock();
            f
        };
        // SAFETY: a non-NULL result carries a reference, which `FileRef` owns.
        NonNull::new(f).map(|f| unsafe { FileRef::from_raw(f) })
    }

    /// Kills the task's whole thread group with a kernel SIGKILL (which
    /// needs no permission).
    pub(crate) fn kill(&self) {
        // SAFETY: the task is referenced; `priv = 1` marks the signal as
        // the kernel's.
        unsafe { bindings::send_sig(bindings::SIGKILL as kernel::ffi::c_int, self.as_ptr(), 1) };
    }

    /// The task's working directory, root directory and umask.
    pub(crate) fn fs(&self) -> Result<(PathRef, PathRef, u32)> {
        // SAFETY: the task is valid and referenced by `self`.
        unsafe { PathRef::task_fs(self.as_ptr()) }
    }

    /// How many live threads the task's process has.
    pub(crate) fn nr_threads(&self) -> i32 {
        // SAFETY: the task is referenced, so its signal_struct is valid; a
        // plain read of a counter.
        unsafe { core::ptr::read_volatile(&(*(*self.as_ptr()).signal).nr_threads) }
    }

    /// How many times the task has exec'd (`self_exec_id`).
    pub(crate) fn self_exec_id(&self) -> u64 {
        // SAFETY: the task is valid; a plain read.
        unsafe { bindings::ckpt_self_exec_id(self.as_ptr()) }
    }

    /// What a restart could not bring back of this task (its own state:
    /// seccomp, namespaces, perf events…), as a phrase for
    /// the kernel log, or `None`.
    /// `pod`: the init of a pid namespace saved whole, whose UTS and IPC
    /// namespaces (not the caller's) are the ones every task must share.
    pub(crate) fn unsupported(&self, pod: Option<&TaskRef>) -> Option<&'static str> {
        // SAFETY: the task is valid; the helper takes the locks it needs
        // and returns NULL or a static NUL-terminated string.
        static_str(unsafe {
            bindings::ckpt_task_unsupported(
                self.as_ptr(),
                pod.map_or(core::ptr::null_mut(), TaskRef::as_ptr),
            )
        })
    }
}

/// A string the kernel's C side returns from a string literal.
pub(crate) fn static_str(p: *const kernel::ffi::c_char) -> Option<&'static str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated literal, which lives as long as the kernel.
    let s = unsafe { core::ffi::CStr::from_ptr(p.cast()) };
    Some(s.to_str().unwrap_or("(not UTF-8)"))
}

impl Drop for ExecGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: taken for reading by `lock_exec`.
        unsafe { bindings::up_read(bindings::ckpt_exec_update_lock(self.0.as_ptr())) };
    }
}

/// Reschedules if needed; `-EINTR` once the caller has a fatal signal
/// pending. Every loop whose length comes from an image or from memory
/// calls it, so that SIGKILL always ends the call.
pub(crate) fn killable() -> Result {
    // SAFETY: both act on current only.
    unsafe {
        bindings::ckpt_cond_resched();
        if bindings::ckpt_fatal_signal_pending() {
            return Err(EINTR);
        }
    }
    Ok(())
}

/// A pid namespace: the calling task's, or another task's.
///
/// # Invariants
///
/// `self.0` is a pid namespace on which this object holds a reference.
pub(crate) struct PidNs(NonNull<bindings::pid_namespace>);

impl PidNs {
    /// The caller's active pid namespace.
    pub(crate) fn current() -> Result<Self> {
        // SAFETY: `current` is valid for the duration of the system call,
        // and so is its active pid namespace (NULL only for a task whose
        // pid is already detached, which cannot be one in a system call).
        let ns = NonNull::new(unsafe { bindings::ckpt_task_get_pid_ns(bindings::get_current()) })
            .ok_or(ESRCH)?;
        // INVARIANT: a reference is held.
        Ok(Self(ns))
    }

    /// Whether `self` is a child namespace of `parent`.
    pub(crate) fn is_child_of(&self, parent: &PidNs) -> bool {
        // SAFETY: both are referenced; `parent` never changes after the
        // namespace is created.
        unsafe { (*self.as_ptr()).parent == parent.as_ptr() }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::pid_namespace {
        self.0.as_ptr()
    }

    /// The calling task's `ty` pid (PID, TGID) as seen in this namespace.
    pub(crate) fn current_nr(&self, ty: bindings::pid_type) -> bindings::pid_t {
        // SAFETY: current is valid; the namespace is live by the type
        // invariant; the lookup takes RCU itself.
        unsafe { bindings::__task_pid_nr_ns(bindings::get_current(), ty, self.as_ptr()) }
    }
}

impl Drop for PidNs {
    fn drop(&mut self) {
        // SAFETY: the reference held by the type invariant is dropped.
        unsafe { bindings::ckpt_put_pid_ns(self.as_ptr()) };
    }
}
