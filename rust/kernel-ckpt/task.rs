// SPDX-License-Identifier: GPL-2.0

//! Counted references to tasks and the task state kernel-ckpt reads.
//!
//! C headers: [`include/linux/sched.h`](srctree/include/linux/sched.h),
//! [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h),
//! [`include/linux/sched/jobctl.h`](srctree/include/linux/sched/jobctl.h).

use crate::image::{TaskMisc, CAP_VALID_MASK, MISC_NO_NEW_PRIVS};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// A reference to a `task_struct`.
///
/// # Invariants
///
/// `self.0` points to a valid `task_struct` on which this object holds one
/// reference (taken with `get_task_struct`), released on drop.
pub(crate) struct TaskRef(NonNull<bindings::task_struct>);

// SAFETY: a task reference may be taken and dropped on any CPU or thread;
// `get_task_struct`/`put_task_struct` are atomic.
unsafe impl Send for TaskRef {}
// SAFETY: shared references only read the task through functions that
// take the locks they need.
unsafe impl Sync for TaskRef {}

impl TaskRef {
    /// Takes a new reference on `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a task that stays alive during this call (for
    /// example because `tasklist_lock` or RCU is held, or a reference is).
    pub(crate) unsafe fn get(ptr: NonNull<bindings::task_struct>) -> Self {
        // SAFETY: the caller guarantees `ptr` is a live task.
        unsafe { bindings::get_task_struct(ptr.as_ptr()) };
        // INVARIANT: the reference was just taken.
        Self(ptr)
    }

    /// Looks up `pid` in the pid namespace of the calling task.
    pub(crate) fn find_by_vpid(pid: bindings::pid_t) -> Result<Self> {
        if pid <= 0 {
            return Err(ESRCH);
        }
        // SAFETY: `find_get_task_by_vpid` takes the RCU read lock itself and
        // returns a task with a reference taken, or NULL.
        let ptr = unsafe { bindings::find_get_task_by_vpid(pid) };
        // INVARIANT: a non-NULL result carries a reference.
        NonNull::new(ptr).map(Self).ok_or(ESRCH)
    }

    /// The raw pointer, valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut bindings::task_struct {
        self.0.as_ptr()
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

    /// The task's active pid namespace (NULL once it is reaped).
    pub(crate) fn active_pid_ns(&self) -> *mut bindings::pid_namespace {
        // SAFETY: the task is valid and referenced; the namespace is only
        // compared.
        unsafe { bindings::task_active_pid_ns(self.as_ptr()) }
    }

    /// Whether the task is the init task (child reaper) of its own active
    /// pid namespace.
    pub(crate) fn is_pidns_init(&self) -> bool {
        // SAFETY: the task is valid and referenced; its active pid namespace
        // lives at least as long as its pid, and `child_reaper` is only
        // compared, never dereferenced.
        unsafe {
            let ns = bindings::task_active_pid_ns(self.as_ptr());
            !ns.is_null() && core::ptr::read_volatile(&(*ns).child_reaper) == self.as_ptr()
        }
    }

    /// Whether the task is parked by the cgroup v2 freezer and off the CPU.
    ///
    /// `task->frozen` alone is not enough: it is also set for a task stopped
    /// by a signal, traced, or waiting for a vfork child. A task counts as
    /// frozen only in the freezer trap (`JOBCTL_TRAP_FREEZE`), sleeping
    /// interruptibly and freezable, not traced and not exiting. These fields
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
            bindings::cgroup_task_frozen(t)
                && jobctl & u64::from(bindings::JOBCTL_TRAP_FREEZE) != 0
                && state == want
                && ptrace == 0
                && flags & bindings::PF_EXITING == 0
        };
        // SAFETY: locked above with the same flags.
        unsafe { bindings::unlock_task_sighand(t, &mut irqflags) };
        // SAFETY: the task is valid; may sleep, and no lock is held here.
        parked && unsafe { bindings::wait_task_inactive(t, bindings::TASK_INTERRUPTIBLE) } != 0
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

    /// How many times the task has exec'd (`self_exec_id`).
    pub(crate) fn self_exec_id(&self) -> u64 {
        // SAFETY: the task is valid; a plain read.
        unsafe { bindings::ckpt_self_exec_id(self.as_ptr()) }
    }

    /// What a restart could not bring back of this task (its own state:
    /// seccomp, namespaces, POSIX timers, perf events…), as a phrase for
    /// the kernel log, or `None`.
    pub(crate) fn unsupported(&self) -> Option<&'static str> {
        // SAFETY: the task is valid; the helper takes the locks it needs
        // and returns NULL or a static NUL-terminated string.
        static_str(unsafe { bindings::ckpt_task_unsupported(self.as_ptr()) })
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

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this object owns one reference.
        unsafe { bindings::put_task_struct(self.as_ptr()) };
    }
}

/// The pid namespace of the calling task.
///
/// # Invariants
///
/// `self.0` is the active pid namespace of `current`, which cannot change
/// while the current task runs this system call, so it stays valid as long
/// as this object (which never leaves the syscall) lives.
pub(crate) struct PidNs(NonNull<bindings::pid_namespace>);

impl PidNs {
    /// The caller's active pid namespace.
    pub(crate) fn current() -> Result<Self> {
        // SAFETY: `current` is valid for the duration of the system call.
        let ns = unsafe { bindings::task_active_pid_ns(bindings::get_current()) };
        // INVARIANT: see the type's invariant. NULL only for a task whose pid
        // is already detached, which cannot be a task in a system call.
        NonNull::new(ns).map(Self).ok_or(ESRCH)
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

/// The supplementary groups of `task` (current for the caller's own), as
/// seen from the caller's user namespace.
fn groups_of(task: *mut bindings::task_struct) -> Result<KVec<u32>> {
    for _ in 0..4 {
        // SAFETY: the task is valid; with no room the helper only counts.
        let n = unsafe { bindings::ckpt_task_groups(task, core::ptr::null_mut(), 0) };
        let n = usize::try_from(n).map_err(|_| EINVAL)?;
        let mut v = KVec::from_elem(0u32, n, GFP_KERNEL)?;
        // SAFETY: `v` has room for `n` gids; the helper reads the task's
        // credentials under RCU.
        let got = unsafe { bindings::ckpt_task_groups(task, v.as_mut_ptr(), n as i32) };
        if usize::try_from(got).ok() == Some(n) {
            return Ok(v);
        }
        // The task changed its groups meanwhile (it can't while frozen).
    }
    Err(EAGAIN)
}

/// Reads the odds and ends of a stopped task: rseq registration, robust
/// list, clear_child_tid, parent-death signal, personality, its process's
/// resource limits and flags, and its supplementary groups (returned as
/// the bytes that follow the record's fixed part).
pub(crate) fn misc(task: &TaskRef) -> Result<(TaskMisc, KVec<u8>)> {
    let groups = groups_of(task.as_ptr())?;
    let mut bytes = KVec::with_capacity(groups.len() * 4, GFP_KERNEL)?;
    for g in groups.iter() {
        bytes.extend_from_slice(&g.to_le_bytes(), GFP_KERNEL)?;
    }
    let mut m = misc_fixed(task);
    m.ngroups = u32::try_from(groups.len()).map_err(|_| E2BIG)?;
    Ok((m, bytes))
}

fn misc_fixed(task: &TaskRef) -> TaskMisc {
    let t = task.as_ptr();
    let mut m = TaskMisc::default();
    // SAFETY: the task is valid and stopped: these fields only change by
    // the task itself (or, for the limits, under task_lock of its leader,
    // taken here).
    unsafe {
        m.rseq = (*t).rseq as u64;
        m.rseq_len = (*t).rseq_len;
        m.rseq_sig = (*t).rseq_sig;
        m.robust_list = (*t).robust_list as u64;
        m.clear_child_tid = (*t).clear_child_tid as u64;
        m.pdeath_signal = (*t).pdeath_signal;
        m.personality = (*t).personality;
        let leader = (*t).group_leader;
        bindings::task_lock(leader);
        for (dst, src) in m.rlimits.iter_mut().zip((*(*t).signal).rlim.iter()) {
            *dst = (src.rlim_cur as u64, src.rlim_max as u64);
        }
        bindings::task_unlock(leader);
        bindings::ckpt_task_ids(t, m.ids.as_mut_ptr());
        bindings::ckpt_task_caps(t, m.caps.as_mut_ptr(), &mut m.securebits);
        if bindings::ckpt_no_new_privs(t) {
            m.flags |= MISC_NO_NEW_PRIVS;
        }
        if bindings::ckpt_task_dumpable(t) == 0 {
            m.flags |= crate::image::MISC_NOT_DUMPABLE;
        }
        bindings::ckpt_itimers_get(t, m.itimers.as_mut_ptr());
        if bindings::ckpt_is_child_subreaper(t) {
            m.flags |= crate::image::MISC_CHILD_SUBREAPER;
        }
    }
    m
}

/// The gids of a task-misc record's tail.
pub(crate) fn parse_groups(bytes: &[u8]) -> Result<KVec<u32>> {
    let mut v = KVec::with_capacity(bytes.len() / 4, GFP_KERNEL)?;
    for g in bytes.chunks_exact(4) {
        let mut b = [0u8; 4];
        b.copy_from_slice(g);
        v.push(u32::from_le_bytes(b), GFP_KERNEL)?;
    }
    Ok(v)
}

/// Whether `a` and `b` hold the same gids, in any order.
fn same_groups(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().all(|g| b.contains(g)) && b.iter().all(|g| a.contains(g))
}

/// Before the point of no return: restart never raises a hard limit above
/// the caller's own unless the caller may (CAP_SYS_RESOURCE), as
/// setrlimit(2) would refuse, and never takes ids or supplementary groups
/// the caller could not take with setresuid(2)/setresgid(2)/setgroups(2).
pub(crate) fn check_misc(m: &TaskMisc, groups: &[u32]) -> Result {
    // setgroups(2) needs CAP_SETGID: without it, only the caller's own
    // supplementary groups can be taken.
    // SAFETY: current is valid; capable() only reads current's creds.
    let ours = groups_of(unsafe { bindings::get_current() })?;
    if !same_groups(groups, &ours) && !unsafe { bindings::capable(bindings::CAP_SETGID as i32) } {
        ckpt_err!("restart: the saved supplementary groups are not the caller's to take\n");
        return Err(EPERM);
    }
    let mut ours = [0u32; 8];
    // SAFETY: current is valid; the helper reads its ids under RCU.
    unsafe { bindings::ckpt_task_ids(bindings::get_current(), ours.as_mut_ptr()) };
    for (caps, range) in [(bindings::CAP_SETUID, 0..4), (bindings::CAP_SETGID, 4..8)] {
        // SAFETY: capable() only reads current's credentials.
        let may = unsafe { bindings::capable(caps as i32) };
        let saved = m.ids.get(range.clone()).unwrap_or(&[]);
        let have = ours.get(range.start..range.start + 3).unwrap_or(&[]);
        if !may && saved.iter().any(|id| !have.contains(id)) {
            ckpt_err!("restart: the saved uids/gids are not the caller's to take\n");
            return Err(EPERM);
        }
    }
    // SAFETY: current and its signal_struct are valid; a racy read of the
    // caller's own limits is what setrlimit compares against too.
    let ours = unsafe { &(*(*bindings::get_current()).signal).rlim };
    // SAFETY: a sysctl, read as setrlimit(2) reads it.
    let nr_open = u64::from(unsafe {
        core::ptr::read_volatile(core::ptr::addr_of!(bindings::sysctl_nr_open))
    });
    for (i, ((cur, max), have)) in m.rlimits.iter().zip(ours.iter()).enumerate() {
        // SAFETY: the LSM hook setrlimit(2) calls, for current.
        let r = unsafe { bindings::ckpt_may_setrlimit(i as u32, *cur, *max) };
        if r != 0 {
            ckpt_err!(
                "restart: resource limit {} refused by the security module\n",
                i
            );
            return Err(Error::from_errno(r));
        }
        // SAFETY: capable() only reads current's credentials.
        if *max > have.rlim_max as u64
            && !unsafe { bindings::capable(bindings::CAP_SYS_RESOURCE as i32) }
        {
            ckpt_err!(
                "restart: resource limit {} above the caller's hard limit\n",
                i
            );
            return Err(EPERM);
        }
        if i == bindings::RLIMIT_NOFILE as usize && *max > nr_open {
            ckpt_err!("restart: RLIMIT_NOFILE above fs.nr_open\n");
            return Err(EPERM);
        }
    }
    check_caps(m)
}

/// `CAP_SETPCAP`, and the securebits that matter here.
const CAP_SETPCAP: u32 = 8;
const SECURE_ALL_LOCKS: u32 = 0xaa;
const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;

/// The saved capability sets and securebits are ones the caller could
/// give itself: capset(2) (permitted only shrinks; inheritable grows only
/// within the caller's permitted set, or its bounding set with
/// CAP_SETPCAP), `PR_CAPBSET_DROP` (the bounding set only shrinks, with
/// CAP_SETPCAP), `PR_CAP_AMBIENT_RAISE` and `PR_SET_SECUREBITS` (with
/// CAP_SETPCAP, never changing a locked bit). The decoder already checked
/// that effective ⊆ permitted and ambient ⊆ permitted ∩ inheritable.
fn check_caps(m: &TaskMisc) -> Result {
    let mut ours = [0u64; 5];
    let mut our_bits = 0u32;
    // SAFETY: current is valid; the helper reads its credentials under RCU.
    unsafe { bindings::ckpt_task_caps(bindings::get_current(), ours.as_mut_ptr(), &mut our_bits) };
    let [inh, perm, _, bset, ambient] = m.caps;
    let [o_inh, o_perm, o_eff, o_bset, _] = ours;
    let setpcap = o_eff & (1 << CAP_SETPCAP) != 0;
    let deny = |what: &str, extra: u64| {
        ckpt_err!(
            "restart: the saved {} capabilities {:#x} are not the caller's to grant (it has {:#x})\n",
            what,
            extra,
            match what {
                "permitted" => o_perm,
                "bounding" => o_bset,
                _ => o_inh,
            }
        );
        EPERM
    };
    if perm & !o_perm != 0 {
        return Err(deny("permitted", perm));
    }
    let inh_limit = if setpcap {
        o_inh | o_bset
    } else {
        o_inh | o_perm
    };
    if inh & !(inh_limit & (o_inh | o_bset)) != 0 {
        return Err(deny("inheritable", inh));
    }
    if bset & !o_bset != 0 || (bset != o_bset && !setpcap) {
        return Err(deny("bounding", bset));
    }
    if ambient != 0 && our_bits & SECBIT_NO_CAP_AMBIENT_RAISE != 0 {
        return Err(deny("ambient", ambient));
    }
    let changed = our_bits ^ m.securebits;
    let locks = our_bits & SECURE_ALL_LOCKS;
    if changed != 0 && (!setpcap || (locks >> 1) & changed != 0 || locks & !m.securebits != 0) {
        ckpt_err!(
            "restart: the saved securebits {:#x} are not the caller's to set (it has {:#x})\n",
            m.securebits,
            our_bits
        );
        return Err(EPERM);
    }
    Ok(())
}

/// Credentials that a restored task's files are opened with: the
/// caller's, with the filesystem ids, supplementary groups and effective
/// capabilities the task ends with (so root restarting a user's process
/// gives it no file that user could not open).
///
/// # Invariants
///
/// `self.0` is a valid cred on which this object holds one reference.
pub(crate) struct OpenCreds(NonNull<bindings::cred>);

/// While it lives, current acts with an [`OpenCreds`]' credentials.
pub(crate) struct CredsOverride(*const bindings::cred);

impl OpenCreds {
    /// Builds them from a task-misc record checked by [`check_misc`].
    pub(crate) fn new(m: &TaskMisc, groups: &[u32]) -> Result<Self> {
        let n = i32::try_from(groups.len()).map_err(|_| EINVAL)?;
        // SAFETY: `groups` holds `n` gids; the helper returns a new cred
        // with one reference, or an ERR_PTR.
        let c = kernel::error::from_err_ptr(unsafe {
            bindings::ckpt_open_creds(m.ids[3], m.ids[7], groups.as_ptr(), n, m.caps[2]).cast_mut()
        })?;
        // INVARIANT: a non-error result carries a reference.
        NonNull::new(c).map(Self).ok_or(ENOMEM)
    }

    /// Acts with these credentials until the guard is dropped.
    pub(crate) fn apply(&self) -> CredsOverride {
        // SAFETY: the cred is valid; override_creds takes its own
        // reference and returns current's previous subjective creds.
        CredsOverride(unsafe { bindings::override_creds(self.0.as_ptr()) })
    }
}

impl Drop for OpenCreds {
    fn drop(&mut self) {
        // SAFETY: this object owns one reference.
        unsafe { bindings::ckpt_put_cred(self.0.as_ptr()) };
    }
}

impl Drop for CredsOverride {
    fn drop(&mut self) {
        // SAFETY: `self.0` is what override_creds returned, on this task.
        unsafe { bindings::revert_creds(self.0) };
    }
}

/// Takes the saved supplementary groups, uids and gids, with the checks
/// of setgroups(2), setresgid(2) and setresuid(2) (gids first: setting them needs the privileges the uids
/// may give away). The filesystem ids follow the effective ones.
pub(crate) fn restore_ids(m: &TaskMisc, groups: &[u32]) -> Result {
    let [uid, euid, suid, _, gid, egid, sgid, _] = m.ids;
    // SAFETY: current is valid.
    let ours = groups_of(unsafe { bindings::get_current() })?;
    if !same_groups(groups, &ours) {
        let n = i32::try_from(groups.len()).map_err(|_| EINVAL)?;
        // SAFETY: `groups` holds `n` gids; setgroups(2) for current, with
        // its permission check.
        to_result(unsafe { bindings::ckpt_set_groups(groups.as_ptr(), n) })?;
    }
    // SAFETY: plain system call bodies acting on current.
    unsafe {
        to_result(bindings::__sys_setresgid(gid, egid, sgid) as i32)?;
        to_result(bindings::__sys_setresuid(uid, euid, suid) as i32)?;
    }
    // setresuid(2) adjusted the capabilities for the new uids; the saved
    // ones (checked by `check_caps` against the caller's) replace them.
    let caps = m.caps.map(|c| c & CAP_VALID_MASK);
    // SAFETY: five values; the helper commits new credentials for current.
    to_result(unsafe { bindings::ckpt_set_caps(caps.as_ptr(), m.securebits) })?;
    if m.flags & MISC_NO_NEW_PRIVS != 0 {
        // SAFETY: sets a flag of current that can never be cleared.
        unsafe { bindings::ckpt_set_no_new_privs() };
    }
    // commit_creds() clears the parent-death signal and resets the
    // dumpable mode when the ids change: both are set after them. Either
    // dumpable mode is one prctl(PR_SET_DUMPABLE) gives any process.
    // SAFETY: current's own field; the helper sets current's mm's mode.
    unsafe {
        (*bindings::get_current()).pdeath_signal = m.pdeath_signal;
        bindings::ckpt_set_dumpable(m.flags & crate::image::MISC_NOT_DUMPABLE == 0);
    }
    Ok(())
}

/// Arms the calling task's interval timers with the time they had left.
pub(crate) fn restore_itimers(m: &TaskMisc) -> Result {
    // SAFETY: six valid values; the C side arms current's timers as
    // setitimer(2) does.
    to_result(unsafe { bindings::ckpt_itimers_set(m.itimers.as_ptr()) })
}

/// Sets the odds and ends on the calling task (and, for a thread group
/// leader, its process's resource limits).
pub(crate) fn restore_misc(m: &TaskMisc, leader: bool) {
    // SAFETY: current is valid; its own fields, and the limits of its
    // process under task_lock of the group leader, as setrlimit(2)
    // writes them.
    unsafe {
        let cur = bindings::get_current();
        (*cur).robust_list = m.robust_list as usize as *mut _;
        (*cur).clear_child_tid = m.clear_child_tid as usize as *mut _;
        (*cur).personality = m.personality;
        (*cur).rseq = m.rseq as usize as *mut _;
        (*cur).rseq_len = m.rseq_len;
        (*cur).rseq_sig = m.rseq_sig;
        // The rseq area's cpu fields are refreshed on the way out.
        bindings::rseq_set_notify_resume(cur);
        if !leader {
            return;
        }
        let lead = (*cur).group_leader;
        bindings::task_lock(lead);
        for (dst, (soft, hard)) in (*(*cur).signal).rlim.iter_mut().zip(m.rlimits.iter()) {
            dst.rlim_cur = *soft as usize;
            dst.rlim_max = *hard as usize;
        }
        bindings::task_unlock(lead);
        // As setrlimit(2) does: a finite CPU limit arms the process timer.
        let (cpu, _) = m
            .rlimits
            .get(bindings::RLIMIT_CPU as usize)
            .copied()
            .unwrap_or((0, 0));
        if cpu != u64::MAX {
            bindings::update_rlimit_cpu(cur, cpu as usize);
        }
    }
}
