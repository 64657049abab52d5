// SPDX-License-Identifier: GPL-2.0

//! The process forest: every task of a subtree, in image order.
//!
//! C headers: [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h),
//! [`include/linux/sched/task.h`](srctree/include/linux/sched/task.h).
//!
//! Order: breadth first from the root; each thread group leader is followed
//! by its other threads, and every task comes after its parent. Restart reads
//! the stream once, front to back, so parents can be created before their
//! children.
//!
//! Locking: the tree is walked under `read_lock(&tasklist_lock)`, which keeps
//! every `children`/`sibling` list, every thread list and every
//! `real_parent`/`group_leader` pointer stable (they change only under the
//! write lock). Nothing sleeps or allocates under it: the vectors are sized
//! beforehand from `nr_threads`, and the walk restarts if the tree outgrew
//! them. References are taken under the lock; everything that may sleep
//! (permission checks, `wait_task_inactive`, `task_lock`) runs after it.

use crate::image::{TaskEntry, TASK_ROOT, TASK_THREAD, TASK_ZOMBIE};
use crate::wrap::sync::TasklistReadGuard;
use crate::wrap::task::{PidNs, TaskRef};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

/// The tasks of a subtree, each with a reference held.
pub(crate) struct FrozenTree {
    tasks: KVVec<TaskRef>,
    /// Each task's exec count, read by [`FrozenTree::check_access`].
    exec_ids: KVVec<u64>,
}

/// How many times the walk is retried when the tree grows under it.
const WALK_ATTEMPTS: usize = 4;

/// Outcome of one walk under the lock.
enum Walk {
    Complete,
    /// The tree had more tasks than the vector could hold.
    Overflow,
    /// The root is already being reaped.
    RootGone,
}

/// `-EOPNOTSUPP` for state of task `t` a restart cannot bring back yet,
/// the kernel log naming the task (pid and name) and `what`.
pub(crate) fn refuse(t: &TaskRef, what: core::fmt::Arguments<'_>) -> Error {
    let comm = t.comm();
    ckpt_err!(
        "checkpoint: pid {} ({}) {}: not supported\n",
        t.vpid(),
        crate::log::Shown(&comm),
        what
    );
    crate::wrap::errno::eopnotsupp()
}

impl FrozenTree {
    /// Collects the subtree rooted at the thread group of `root`.
    pub(crate) fn collect(root: &TaskRef) -> Result<Self> {
        for _ in 0..WALK_ATTEMPTS {
            // SAFETY: `nr_threads` is a plain int updated under tasklist_lock;
            // a racy read is only a capacity estimate.
            let nr = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(bindings::nr_threads)) };
            let cap = usize::try_from(nr).unwrap_or(0).saturating_add(64);
            let mut tasks = KVVec::with_capacity(cap, GFP_KERNEL)?;
            let walk = {
                let _guard = TasklistReadGuard::lock();
                // SAFETY: tasklist_lock is held for reading.
                unsafe { walk(root, &mut tasks) }
            };
            // `tasks` (and the references in it) is dropped outside the lock.
            match walk {
                Walk::Complete => {
                    return Ok(Self {
                        tasks,
                        exec_ids: KVVec::new(),
                    })
                }
                Walk::Overflow => continue,
                Walk::RootGone => return Err(ESRCH),
            }
        }
        Err(EAGAIN)
    }

    /// The tasks, in image order (root first).
    pub(crate) fn tasks(&self) -> &[TaskRef] {
        &self.tasks
    }

    /// `-EPERM` unless the caller may attach to every task. Each task's
    /// exec count is read first: a task that execs after this check is
    /// found out when its state is read ([`FrozenTree::exec_id`]).
    pub(crate) fn check_access(&mut self) -> Result {
        let mut ids = KVVec::with_capacity(self.tasks.len(), GFP_KERNEL)?;
        for t in self.tasks.iter() {
            ids.push(t.self_exec_id(), GFP_KERNEL)?;
            if !t.may_checkpoint() {
                return Err(EPERM);
            }
        }
        self.exec_ids = ids;
        Ok(())
    }

    /// The exec count of the `i`th task when its access was checked.
    pub(crate) fn exec_id(&self, i: usize) -> Option<u64> {
        self.exec_ids.get(i).copied()
    }

    /// `-EBUSY` unless every task is frozen by the cgroup v2 freezer or is
    /// a zombie (a zombie never runs again).
    pub(crate) fn check_frozen(&self) -> Result {
        for t in self.tasks.iter() {
            if t.exit_state() == bindings::EXIT_ZOMBIE as i32 {
                continue;
            }
            if !t.is_frozen() {
                return Err(EBUSY);
            }
        }
        Ok(())
    }

    /// `-EOPNOTSUPP` if two processes (not threads of one) share their
    /// memory or signal handlers (clone with `CLONE_VM` without
    /// `CLONE_THREAD`; handlers cannot be shared without the memory): each
    /// is saved with its process and would come back unshared. An open
    /// file table or fs context shared between processes of the tree is
    /// carried (`fdtable::dump`); one shared with a task outside it is
    /// refused.
    pub(crate) fn check_sharing(&self) -> Result {
        // Each task's objects, read once (zeros for a task that exited).
        let mut ptrs = KVVec::with_capacity(self.tasks.len(), GFP_KERNEL)?;
        for t in self.tasks.iter() {
            crate::wrap::task::killable()?;
            let p = if t.exit_state() != 0 {
                [0; 4]
            } else {
                shared_ptrs(t)
            };
            ptrs.push(p, GFP_KERNEL)?;
        }
        let mut seen: KVVec<(usize, &'static str, usize)> =
            KVVec::with_capacity(self.tasks.len().saturating_mul(4), GFP_KERNEL)?;
        for (i, (t, p)) in self.tasks.iter().zip(ptrs.iter()).enumerate() {
            if !t.is_group_leader() || t.exit_state() != 0 {
                continue;
            }
            for (k, (&ptr, what)) in p.iter().zip(SHARED).enumerate() {
                if ptr == 0 || k == SHARED_FILES || k == SHARED_FS {
                    continue;
                }
                if let Some((_, _, j)) = seen.iter().find(|(q, _, _)| *q == ptr) {
                    let pid = |k: usize| self.tasks.get(k).map_or(0, |t| t.vpid());
                    ckpt_err!(
                        "checkpoint: processes {} and {} share their {}: not supported\n",
                        pid(*j),
                        pid(i),
                        what
                    );
                    return Err(crate::wrap::errno::eopnotsupp());
                }
                seen.push((ptr, what, i), GFP_KERNEL)?;
            }
        }
        self.check_outside_sharing(&ptrs)
    }

    /// `-EOPNOTSUPP` if a task runs in another pid namespace than `ns`
    /// (the caller's, or the namespace of a whole-namespace checkpoint):
    /// pids are saved as `ns` sees them, and the task's own view of its
    /// pid (getpid(2)) would change at restart.
    pub(crate) fn check_pid_ns(&self, ns: &PidNs) -> Result {
        for t in self.tasks.iter() {
            crate::wrap::task::killable()?;
            // A task reaped meanwhile has no namespace left to compare.
            if t.pid_ns()
                .is_ok_and(|theirs| theirs.as_ptr() != ns.as_ptr())
            {
                return Err(refuse(
                    t,
                    format_args!("runs in a nested pid namespace (its pids would change)"),
                ));
            }
        }
        Ok(())
    }

    /// For a whole-namespace checkpoint: `-EOPNOTSUPP` if a task of `ns`
    /// is not in the tree (one that joined the namespace with `setns(2)`,
    /// `nsenter`, whose parent is outside): the image would not be the
    /// whole namespace.
    pub(crate) fn check_whole_ns(&self, ns: &PidNs) -> Result {
        let mut ours = KVVec::with_capacity(self.tasks.len(), GFP_KERNEL)?;
        for t in self.tasks.iter() {
            ours.push(t.as_ptr() as usize, GFP_KERNEL)?;
        }
        ours.sort_unstable();
        let mut nr = 1;
        loop {
            crate::wrap::task::killable()?;
            // SAFETY: the namespace is referenced; the helper walks its
            // pids under RCU.
            let next = unsafe { bindings::ckpt_pid_ns_next_task(ns.as_ptr(), nr) };
            if next <= 0 {
                return Ok(());
            }
            // Gone since: nothing to save of it.
            if let Ok(t) = TaskRef::find_in(next, ns) {
                if ours.binary_search(&(t.as_ptr() as usize)).is_err() {
                    return Err(refuse(
                        &t,
                        format_args!(
                            "of the pid namespace does not descend from its init (it joined with setns or nsenter)"
                        ),
                    ));
                }
            }
            nr = next.checked_add(1).ok_or(EINVAL)?;
        }
    }

    /// `-EOPNOTSUPP` if a process's open file table, fs context or
    /// handlers are also held by a task outside the tree (the
    /// `CLONE_FILES`/`CLONE_FS`/`CLONE_SIGHAND` child of a process of the
    /// tree that is not itself in it): its user count is more than the
    /// tasks of the tree that hold it. (Memory shared that way is refused
    /// by `mm::unsupported`.)
    /// `ptrs` holds each task's objects ([`shared_ptrs`], zeros for a
    /// task that exited).
    fn check_outside_sharing(&self, ptrs: &[[usize; 4]]) -> Result {
        // The objects of every live task, one sorted list per kind.
        let mut held: [KVVec<usize>; 3] = [KVVec::new(), KVVec::new(), KVVec::new()];
        for p in ptrs.iter() {
            for (list, ptr) in held.iter_mut().zip(p.iter().skip(1)) {
                if *ptr != 0 {
                    list.push(*ptr, GFP_KERNEL)?;
                }
            }
        }
        for list in held.iter_mut() {
            list.sort_unstable();
        }
        for (t, p) in self.tasks.iter().zip(ptrs.iter()) {
            crate::wrap::task::killable()?;
            if !t.is_group_leader() || t.exit_state() != 0 {
                continue;
            }
            let mut users = [0u32; 3];
            // SAFETY: the task is referenced; the helper reads the counts
            // under its task_lock into the three slots.
            unsafe { bindings::ckpt_task_sharers(t.as_ptr(), users.as_mut_ptr()) };
            for (((list, ptr), users), what) in held
                .iter()
                .zip(p.iter().skip(1))
                .zip(users)
                .zip(SHARED.iter().skip(1))
            {
                let start = list.partition_point(|p| p < ptr);
                let end = list.partition_point(|p| p <= ptr);
                let in_tree = end - start;
                if *ptr != 0 && users as usize > in_tree {
                    ckpt_err!(
                        "checkpoint: pid {} ({}) shares its {} with a process outside the tree: not supported\n",
                        t.vpid(),
                        crate::log::Shown(&t.comm()),
                        what
                    );
                    return Err(crate::wrap::errno::eopnotsupp());
                }
            }
        }
        Ok(())
    }

    /// `-EOPNOTSUPP` for state a restart cannot bring back yet and that
    /// must not be dropped silently (a seccomp filter, another namespace,
    /// a socket, a locked file, mlockall…), checked before
    /// anything is written. The kernel log names the task, the object and
    /// the reason.
    ///
    /// `pod`: the init of a pid namespace saved whole, whose UTS and IPC
    /// namespaces every task must share (else the caller's).
    pub(crate) fn check_supported(&self, pod: Option<&TaskRef>) -> Result {
        // A pod's own IPC namespace is saved with its SysV segments; the
        // tree's attachments of the caller's are saved with the tree.
        let sysv = true;
        for t in self.tasks.iter() {
            crate::wrap::task::killable()?;
            if t.exit_state() != 0 {
                continue;
            }
            if let Some(why) = t.unsupported(pod) {
                return Err(refuse(t, format_args!("{why}")));
            }
            if !t.is_group_leader() {
                continue;
            }
            match crate::mm::unsupported(t, sysv)? {
                Some((why, 0)) => return Err(refuse(t, format_args!("{why}"))),
                Some((why, addr)) => {
                    return Err(refuse(t, format_args!("{why} (the mapping at {addr:#x})")))
                }
                None => {}
            }
            if let Some((fd, why, path)) = crate::fdtable::unsupported(t)? {
                let path = crate::log::Shown(&path);
                return Err(refuse(t, format_args!("fd {fd} ({path}) {why}")));
            }
            if let Some(why) = crate::fdtable::dirs_unsupported(t)? {
                return Err(refuse(t, format_args!("{why}")));
            }
        }
        if let Some((i, fd, path)) = crate::unix::check_peers(&self.tasks)? {
            let t = self.tasks.get(i).ok_or(EINVAL)?;
            let path = crate::log::Shown(&path);
            return Err(refuse(
                t,
                format_args!(
                    "fd {fd} ({path}) is a unix socket whose peer is open outside the tree"
                ),
            ));
        }
        Ok(())
    }

    /// The forest table: one row per task, pids as seen in `ns`.
    pub(crate) fn rows(&self, ns: &PidNs) -> Result<KVVec<TaskEntry>> {
        let mut rows = KVVec::with_capacity(self.tasks.len(), GFP_KERNEL)?;
        for (i, t) in self.tasks.iter().enumerate() {
            let zombie = t.exit_state() == bindings::EXIT_ZOMBIE as i32;
            let mut flags = 0;
            if i == 0 {
                flags |= TASK_ROOT;
            }
            if !t.is_group_leader() {
                flags |= TASK_THREAD;
            }
            if zombie {
                flags |= TASK_ZOMBIE;
            }
            rows.push(
                TaskEntry {
                    pid: t.pid_in(bindings::pid_type_PIDTYPE_PID, ns),
                    tgid: t.pid_in(bindings::pid_type_PIDTYPE_TGID, ns),
                    ppid: 0,
                    sid: t.pid_in(bindings::pid_type_PIDTYPE_SID, ns),
                    pgid: t.pid_in(bindings::pid_type_PIDTYPE_PGID, ns),
                    flags,
                    exit_code: if zombie { t.exit_code() } else { 0 },
                    exit_signal: t.exit_signal(),
                    comm: t.comm(),
                },
                GFP_KERNEL,
            )?;
        }
        // The parent can exit and the task be reparented at any time (the
        // root's parent is outside the frozen tree): read under RCU.
        for (row, t) in rows.iter_mut().zip(self.tasks.iter()) {
            row.ppid = t.parent_tgid_in(ns);
        }
        Ok(rows)
    }
}

/// Appends `t` with a new reference, if there is room without allocating.
///
/// # Safety
///
/// `t` must be a live task (tasklist_lock held).
unsafe fn push(tasks: &mut KVVec<TaskRef>, t: *mut bindings::task_struct) -> Option<()> {
    if tasks.len() >= tasks.capacity() {
        return None;
    }
    let t = NonNull::new(t)?;
    // SAFETY: the caller guarantees `t` is live.
    let r = unsafe { TaskRef::get(t) };
    // There is capacity, so this does not allocate (nor sleep).
    tasks.push(r, GFP_ATOMIC).ok()
}

/// Whether `t` is being reaped (and must not be saved).
///
/// # Safety
///
/// `t` must be a live task.
unsafe fn is_dead(t: *mut bindings::task_struct) -> bool {
    // SAFETY: an int field of a live task.
    unsafe { core::ptr::read_volatile(&(*t).exit_state) == bindings::EXIT_DEAD as i32 }
}

/// Breadth-first walk from the root's thread group leader.
///
/// # Safety
///
/// `tasklist_lock` must be held for reading.
unsafe fn walk(root: &TaskRef, tasks: &mut KVVec<TaskRef>) -> Walk {
    // SAFETY: (the whole function) under tasklist_lock every task reached through
    // `group_leader`, the thread list and the `children` lists is live, and
    // the lists do not change.
    unsafe {
        let leader = (*root.as_ptr()).group_leader;
        if leader.is_null() || is_dead(leader) {
            return Walk::RootGone;
        }
        if push(tasks, leader).is_none() {
            return Walk::Overflow;
        }
        let sibling_off = core::mem::offset_of!(bindings::task_struct, sibling);
        let mut i = 0;
        while let Some(t) = tasks.get(i).map(TaskRef::as_ptr) {
            if bindings::thread_group_leader(t) {
                let mut th = bindings::next_thread(t);
                while th != t {
                    if !is_dead(th) && push(tasks, th).is_none() {
                        return Walk::Overflow;
                    }
                    th = bindings::next_thread(th);
                }
            }
            // `children` links thread group leaders through their `sibling`.
            let head = core::ptr::addr_of_mut!((*t).children);
            let mut pos = (*head).next;
            while pos != head {
                let child = pos
                    .cast::<u8>()
                    .sub(sibling_off)
                    .cast::<bindings::task_struct>();
                if !is_dead(child) && push(tasks, child).is_none() {
                    return Walk::Overflow;
                }
                pos = (*pos).next;
            }
            i += 1;
        }
        Walk::Complete
    }
}

/// Where [`shared_ptrs`] puts the open file table and the fs context.
pub(crate) const SHARED_FILES: usize = 1;
pub(crate) const SHARED_FS: usize = 2;

/// What [`shared_ptrs`] returns, in order, as the kernel log names it.
const SHARED: [&str; 4] = [
    "memory (CLONE_VM)",
    "open file table (CLONE_FILES)",
    "filesystem context (CLONE_FS)",
    "signal handlers (CLONE_SIGHAND)",
];

/// The addresses of a task's mm, file table, fs context and handlers (0
/// for one it has not), only to be compared.
pub(crate) fn shared_ptrs(t: &TaskRef) -> [usize; 4] {
    let p = t.as_ptr();
    // SAFETY: the task is referenced; `mm`, `files` and `fs` change only
    // under task_lock (held here), and `sighand` only by the task itself
    // in exec (a frozen task, or at restart current or a task waiting in
    // restart(2)).
    unsafe {
        bindings::task_lock(p);
        let r = [
            (*p).mm as usize,
            (*p).files as usize,
            (*p).fs as usize,
            (*p).sighand as usize,
        ];
        bindings::task_unlock(p);
        r
    }
}
