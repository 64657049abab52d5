// SPDX-License-Identifier: GPL-2.0

//! The coordinator of a tree restart: a process tree restored task by
//! task, all or nothing.
//!
//! C headers: [`include/linux/completion.h`](srctree/include/linux/completion.h),
//! [`include/linux/wait.h`](srctree/include/linux/wait.h).
//!
//! User space (`ckpt restart`, the coordinator) recreates every task of the
//! saved tree with its pid, session, process group and parent, and every
//! live task calls `restart(0, -1, 0)`: it waits until a context names it.
//! The coordinator then calls `restart(root, fd, 0)`, which
//!
//! 1. reads the image's header and forest, finds every task of the forest
//!    by pid and checks that user space built the tree as saved (thread
//!    group, session, process group, parent, zombies with their status)
//!    and that the caller may ptrace every task;
//! 2. registers the context, so that the waiting tasks find it and join;
//! 3. gives each live task its turn in image order: the task reads its own
//!    records from the one image stream and restores itself, then hands
//!    the turn back;
//! 4. reads the tail and lets every task return to user space at once.
//!
//! No task returns to user space before every task is restored. On any
//! error (a bad record, a task killed, the coordinator killed, a task
//! that never joins) the first failure is kept, every task of the tree is
//! killed, and the coordinator returns the failing task's errno; the
//! kernel log names the task and the record.
//!
//! Every wait is killable. A task that leaves its wait early (killed)
//! records a failure and signals the coordinator, so nothing waits for a
//! task that is gone.
//!
//! Locking: the registry of contexts is guarded by `ckpt_restart_lock` (a
//! mutex defined in kernel/checkpoint.c); tasks waiting for a context
//! sleep on `ckpt_restart_wq` until the registry's generation changes.
//! The image stream and the object table of a context are guarded by the
//! context's `stream` mutex, taken by one task at a time for its whole
//! turn (it sleeps in mmap, file and page-writing calls, and nests
//! outside `mmap_lock`, file locks and `siglock`). Neither lock is held
//! while waiting for another task.

use crate::image::{self, Item, PodRec, TaskEntry, POD_NEWIPC, POD_NEWUTS};
use crate::objhash::ObjTable;
use crate::reader::ImageReader;
use crate::restore::{self, bad, kill_current, Report};
use crate::wrap::file::FileRef;
use crate::wrap::sync::{Completion, WaitQueue};
use crate::wrap::task::{PidNs, TaskRef};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::c_int;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// How long the coordinator waits for the next task to join.
const JOIN_TIMEOUT_MS: u32 = 10_000;

/// One task of the forest.
struct Slot {
    row: TaskEntry,
    /// The recreated task; `None` for a zombie (it never runs again).
    task: Option<TaskRef>,
    /// Completed when it is this task's turn.
    turn: Completion,
    /// Set when the task joined (found the context).
    joined: AtomicBool,
}

/// The image stream and the objects created from it so far.
struct Stream {
    reader: ImageReader,
    objs: ObjTable,
}

/// A tree restart in progress.
#[pin_data]
pub(crate) struct RestartCtx {
    #[pin]
    stream: Mutex<Stream>,
    /// The forest, in image order. Its completions live in the vector's
    /// buffer, which never grows after they are initialised.
    slots: KVVec<Slot>,
    /// Completed once by every task that joins.
    joins: Completion,
    /// Completed by every task whose turn ended (or that left early).
    step: Completion,
    /// Completed for all when the tree is restored or has failed.
    done: Completion,
    /// The first failure's errno (0 for none); `failed` says where.
    errno: AtomicI32,
    #[pin]
    failed: Mutex<Report>,
    /// For a pod: its init and the pod record, whose namespaces are set
    /// up once every task has joined.
    pod: Option<(TaskRef, Pod)>,
}

impl RestartCtx {
    /// Keeps the first failure: task `pid`, after reading `record`.
    fn fail(&self, pid: i32, record: Option<(u32, u32, u64)>, e: Error) {
        let mut failed = self.failed.lock();
        if self
            .errno
            .compare_exchange(0, e.to_errno(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            *failed = Report { pid, record };
        }
    }

    fn failure(&self) -> Option<Error> {
        match self.errno.load(Ordering::Acquire) {
            0 => None,
            e => Some(Error::from_errno(e)),
        }
    }

    fn live(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| s.task.is_some())
    }

    /// Steps 2 to 4 of the module doc, once registered.
    fn run(&self) -> Result {
        let live = self.live().count();
        for _ in 0..live {
            if !self.joins.wait_killable_timeout(JOIN_TIMEOUT_MS)? {
                for s in self.live() {
                    if !s.joined.load(Ordering::Acquire) {
                        ckpt_err!(
                            "restart: pid {} did not call restart(2) within {} ms\n",
                            s.row.pid,
                            JOIN_TIMEOUT_MS
                        );
                    }
                }
                return Err(crate::wrap::errno::etimedout());
            }
        }
        if let Some(e) = self.failure() {
            return Err(e);
        }
        // Every task has joined: a process has the threads of its rows,
        // and no other that would run its code while it is restored
        // (each thread row's task is in its leader's thread group, checked
        // when it joined: the sums are equal only if each count is).
        let mut threads = 0usize;
        for s in self.live().filter(|s| !s.row.is_thread()) {
            crate::wrap::task::killable()?;
            let have = s.task.as_ref().map_or(0, |t| t.nr_threads());
            threads = threads.saturating_add(usize::try_from(have).unwrap_or(0));
        }
        let rows = self.live().count();
        if threads != rows {
            ckpt_err!(
                "restart: the tree's processes have {} threads, its image {} (threads no row names, io_uring or vhost workers?)\n",
                threads,
                rows
            );
            self.fail(0, None, EINVAL);
            return Err(EINVAL);
        }
        // The namespaces are the tree's only now, and every task must be
        // in its init's.
        if let Some((init, pod)) = &self.pod {
            let strays = self.live().find(|s| {
                s.task.as_ref().is_some_and(|t| {
                    // SAFETY: both tasks are referenced; the helper
                    // compares their namespaces under their task_locks.
                    !unsafe { bindings::ckpt_task_same_ns(t.as_ptr(), init.as_ptr()) }
                })
            });
            if let Some(s) = strays {
                ckpt_err!(
                    "restart: pid {} of the pod is not in its init's UTS, IPC, cgroup, mount and network namespaces\n",
                    s.row.pid
                );
                self.fail(s.row.pid, None, EINVAL);
                return Err(EINVAL);
            }
            if let Err(e) = restore_pod_ns(init, pod) {
                self.fail(1, None, e);
                return Err(e);
            }
        }
        for s in self.live() {
            if let Some(e) = self.failure() {
                return Err(e);
            }
            s.turn.complete();
            self.step.wait_killable()?;
        }
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let mut st = self.stream.lock();
        let Stream { reader, objs } = &mut *st;
        if let Err(e) = restore::read_tail(reader, objs) {
            self.fail(0, reader.last(), e);
            return Err(e);
        }
        // Pipe ends no descriptor took are closed now, as they were.
        st.objs = ObjTable::new();
        // A task killed while the tail was read.
        self.failure().map_or(Ok(()), Err)
    }

    /// Kills every task of the tree and releases them from their waits.
    fn abort(&self, e: Error) {
        self.fail(0, None, e);
        for s in self.live() {
            if let Some(t) = &s.task {
                t.kill();
            }
            s.turn.complete_all();
        }
        self.done.complete_all();
    }
}

/// The contexts waiting for their tasks (a free entry is `None`).
struct Registry(UnsafeCell<KVec<Option<Arc<RestartCtx>>>>);

// SAFETY: the vector is only touched with `ckpt_restart_lock` held.
unsafe impl Sync for Registry {}

static REGISTRY: Registry = Registry(UnsafeCell::new(KVec::new()));

/// Bumped whenever a context is registered; waiting tasks look again.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Holds `ckpt_restart_lock` and gives access to the registry.
struct RegistryGuard(());

impl RegistryGuard {
    fn lock() -> Self {
        // SAFETY: a statically initialised mutex (DEFINE_MUTEX).
        unsafe { bindings::mutex_lock(core::ptr::addr_of_mut!(bindings::ckpt_restart_lock)) };
        Self(())
    }

    fn contexts(&mut self) -> &mut KVec<Option<Arc<RestartCtx>>> {
        // SAFETY: the lock is held while the guard lives, and the guard is
        // borrowed mutably, so this is the only reference.
        unsafe { &mut *REGISTRY.0.get() }
    }
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        // SAFETY: the lock is held by this guard.
        unsafe { bindings::mutex_unlock(core::ptr::addr_of_mut!(bindings::ckpt_restart_lock)) };
    }
}

/// Where tasks wait for a context naming them.
fn registry_wq() -> WaitQueue {
    // SAFETY: `ckpt_restart_wq` is a static wait queue of kernel/checkpoint.c
    // (DECLARE_WAIT_QUEUE_HEAD).
    unsafe { WaitQueue::from_static(core::ptr::addr_of_mut!(bindings::ckpt_restart_wq)) }
}

fn register(ctx: &Arc<RestartCtx>) -> Result {
    let mut g = RegistryGuard::lock();
    let v = g.contexts();
    match v.iter_mut().find(|c| c.is_none()) {
        Some(free) => *free = Some(ctx.clone()),
        None => v.push(Some(ctx.clone()), GFP_KERNEL)?,
    }
    drop(g);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    registry_wq().wake_up_all();
    Ok(())
}

fn unregister(ctx: &Arc<RestartCtx>) {
    let mut g = RegistryGuard::lock();
    let gone = g
        .contexts()
        .iter_mut()
        .find(|c| c.as_ref().is_some_and(|c| Arc::ptr_eq(c, ctx)))
        .and_then(Option::take);
    // The reference is dropped after the lock (the last drop may sleep).
    drop(g);
    drop(gone);
}

/// The context naming the caller, which joins it: (context, slot index).
fn find_mine() -> Option<(Arc<RestartCtx>, usize)> {
    let me = crate::wrap::task::current();
    let mut g = RegistryGuard::lock();
    for ctx in g.contexts().iter().flatten() {
        for (i, s) in ctx.slots.iter().enumerate() {
            if s.task.as_ref().is_some_and(|t| t.as_ptr() == me)
                && !s.joined.swap(true, Ordering::AcqRel)
            {
                return Some((ctx.clone(), i));
            }
        }
    }
    None
}

/// Sleeps (killably) until the registry's generation is no longer `gen`.
fn wait_generation(gen: u64) -> Result {
    registry_wq().wait_killable_until(|| GENERATION.load(Ordering::Acquire) != gen)
}

/// `restart(0, -1, 0)`: waits for the context that names the caller,
/// restores the caller in its turn and returns its saved `rax` once the
/// whole tree is restored.
pub(crate) fn restart_task() -> Result<i64> {
    let (ctx, i) = loop {
        let gen = GENERATION.load(Ordering::Acquire);
        if let Some(found) = find_mine() {
            break found;
        }
        wait_generation(gen)?;
    };
    // Before any task's turn: see `block_all`.
    crate::signal::block_all();
    ctx.joins.complete();
    let slot = ctx.slots.get(i).ok_or(EINVAL)?;
    let pid = slot.row.pid;
    if let Err(e) = slot.turn.wait_killable() {
        ctx.fail(pid, None, e);
        ctx.step.complete();
        return Err(e);
    }
    if let Some(e) = ctx.failure() {
        kill_current();
        return Err(e);
    }
    let mut past = false;
    let (result, record) = {
        let mut st = ctx.stream.lock();
        let Stream { reader, objs } = &mut *st;
        let r = restore::restore_current(reader, objs, &slot.row, &mut past);
        (r, reader.last())
    };
    let resume = match result {
        Ok(resume) => resume,
        Err(e) => {
            ckpt_err!(
                "restart: pid {} failed to restore ({}): killing the tree\n",
                pid,
                e.to_errno()
            );
            ctx.fail(pid, record, e);
            ctx.step.complete();
            kill_current();
            return Err(e);
        }
    };
    ctx.step.complete();
    let waited = ctx.done.wait_killable();
    if let Err(e) = waited {
        // Killed after its turn: the tree is not whole any more.
        ctx.fail(pid, None, e);
    }
    if let Some(e) = waited.err().or_else(|| ctx.failure()) {
        kill_current();
        return Err(e);
    }
    Ok(resume.finish())
}

/// Checks that user space recreated the task of `row` as saved: its pids
/// as `ns` (the image's namespace) numbers them, and the root as the
/// child of the coordinator (`me_tgid` in `caller`, its namespace).
fn check_task(
    t: &TaskRef,
    row: &TaskEntry,
    ns: &PidNs,
    caller: &PidNs,
    me_tgid: i32,
    in_image: bool,
) -> Result {
    let pid = row.pid;
    let mismatch = |what: &str, got: i32, want: i32| {
        ckpt_err!(
            "restart: pid {} was recreated with {} {}, the image says {}\n",
            pid,
            what,
            got,
            want
        );
        EINVAL
    };
    if !t.may_checkpoint() {
        ckpt_err!("restart: no ptrace access to pid {}\n", pid);
        return Err(EPERM);
    }
    let zombie = t.exit_state() == bindings::EXIT_ZOMBIE as i32;
    if zombie != row.is_zombie() || (!zombie && t.exit_state() != 0) {
        return Err(mismatch(
            "exit state",
            t.exit_state(),
            i32::from(row.is_zombie()),
        ));
    }
    if zombie && t.exit_code() != row.exit_code {
        return Err(mismatch("exit code", t.exit_code(), row.exit_code));
    }
    if t.is_group_leader() == row.is_thread() {
        return Err(mismatch(
            "thread flag",
            i32::from(!t.is_group_leader()),
            i32::from(row.is_thread()),
        ));
    }
    for (what, ty, want) in [
        ("tgid", bindings::pid_type_PIDTYPE_TGID, row.tgid),
        ("sid", bindings::pid_type_PIDTYPE_SID, row.sid),
        ("pgid", bindings::pid_type_PIDTYPE_PGID, row.pgid),
    ] {
        let got = t.pid_in(ty, ns);
        if got != want {
            return Err(mismatch(what, got, want));
        }
    }
    // The root's parent is the coordinator; a task whose saved parent is
    // in the image has it again; an orphan's parent is whoever reaps
    // orphans here.
    if row.flags & crate::image::TASK_ROOT != 0 {
        let got = t.parent_tgid_in(caller);
        if got != me_tgid {
            return Err(mismatch("parent", got, me_tgid));
        }
        return Ok(());
    }
    let want_parent = if in_image { Some(row.ppid) } else { None };
    if let Some(want) = want_parent {
        let got = t.parent_tgid_in(ns);
        if got != want {
            return Err(mismatch("parent", got, want));
        }
    }
    Ok(())
}

/// `restart(root, fd, 0)`: restores the tree saved in the image read from
/// `fd`, whose tasks user space recreated and which wait in restart(2).
pub(crate) fn coordinate(root: i32, fd: c_int, deleted_here: bool, report: &mut Report) -> Result {
    let file = FileRef::fget(fd)?;
    if !file.is_readable() {
        return Err(EBADF);
    }
    let caller = PidNs::current()?;
    let me_tgid = caller.current_nr(bindings::pid_type_PIDTYPE_TGID);
    let mut reader = ImageReader::new(file);
    let (rows, pod) = read_rows(&mut reader).inspect_err(|_| report.record = reader.last())?;
    // The namespace whose pids the image holds: the caller's, or for a
    // pod the new one whose init is `root`.
    let (ns, pod) = match pod {
        None => {
            if rows.first().map(|r| r.pid) != Some(root) {
                ckpt_err!("restart: the image's root is not pid {}\n", root);
                return Err(ESRCH);
            }
            (PidNs::current()?, None)
        }
        Some(rec) => {
            let init = TaskRef::find_by_vpid(root)?;
            let ns = init.pid_ns()?;
            if !init.is_pidns_init() || !ns.is_child_of(&caller) {
                ckpt_err!(
                    "restart: the image is of a whole pid namespace, and pid {} is not the init of a child pid namespace of the caller's\n",
                    root
                );
                return Err(EINVAL);
            }
            if rows.first().map(|r| r.pid) != Some(1) {
                return Err(bad("the root of a whole pid namespace is not pid 1"));
            }
            (ns, Some((init, rec)))
        }
    };
    // Sorted pids: each task once, and parents found in O(log n).
    let mut pids = KVVec::with_capacity(rows.len(), GFP_KERNEL_ACCOUNT)?;
    for row in rows.iter() {
        pids.push(row.pid, GFP_KERNEL_ACCOUNT)?;
    }
    pids.sort_unstable();
    if let Some(w) = pids.windows(2).find(|w| w.first() == w.get(1)) {
        ckpt_err!(
            "restart: bad image: pid {} has two rows in the forest\n",
            w.first().copied().unwrap_or(0)
        );
        return Err(EINVAL);
    }
    let me = crate::wrap::task::current();
    let mut slots = KVVec::with_capacity(rows.len(), GFP_KERNEL_ACCOUNT)?;
    for row in rows.iter() {
        crate::wrap::task::killable()?;
        let t = TaskRef::find_in(row.pid, &ns).inspect_err(|_| {
            ckpt_err!("restart: pid {} of the image was not recreated\n", row.pid);
        })?;
        if t.as_ptr() == me {
            return Err(bad("the coordinator cannot be a task of the tree"));
        }
        let parent_in_image = pids.binary_search(&row.ppid).is_ok();
        // Found in `ns`, but numbered there only if not in a namespace
        // below it: the task resolves the image's pids in its own.
        if !row.is_zombie() && !t.in_pid_ns(&ns) {
            ckpt_err!(
                "restart: pid {} of the image was recreated in another pid namespace\n",
                row.pid
            );
            return Err(EINVAL);
        }
        check_task(&t, row, &ns, &caller, me_tgid, parent_in_image)?;
        slots.push(
            Slot {
                row: *row,
                task: (!row.is_zombie()).then_some(t),
                turn: Completion::uninit(),
                joined: AtomicBool::new(false),
            },
            GFP_KERNEL_ACCOUNT,
        )?;
    }
    if let Some((init, _)) = &pod {
        // The pod's init is the coordinator's own child, pid 1 of the
        // namespace, and the task of the root's slot.
        let is_root = slots
            .first()
            .is_some_and(|s| s.task.as_ref().is_some_and(|t| t.as_ptr() == init.as_ptr()));
        if !is_root || init.parent_tgid_in(&caller) != me_tgid {
            ckpt_err!(
                "restart: pid {} is not pid 1 of its namespace or not the caller's child\n",
                root
            );
            return Err(EINVAL);
        }
    }
    for s in slots.iter() {
        // SAFETY: the vector is complete: its buffer no longer moves, and
        // nothing else sees the completions yet.
        unsafe { s.turn.init() };
    }
    // The sessions whose leader is restored: the only ones a controlling
    // terminal of the image may be given to (check_task checked each
    // task's pid and session).
    let mut objs = ObjTable::new();
    objs.set_deleted_here(deleted_here);
    let mut leaders = KVVec::new();
    let mut pids = KVVec::with_capacity(slots.len(), GFP_KERNEL)?;
    let mut pgrps = KVVec::with_capacity(slots.len(), GFP_KERNEL)?;
    for s in slots.iter() {
        if s.task.is_some() && !s.row.is_thread() && s.row.pid == s.row.sid {
            leaders.push(s.row.pid, GFP_KERNEL)?;
        }
        pids.push(s.row.pid, GFP_KERNEL)?;
        pgrps.push(s.row.pgid, GFP_KERNEL)?;
    }
    objs.set_leaders(leaders);
    // And the tasks a pidfd of the image may refer to, the groups a signal
    // owner may be.
    objs.set_pids(pids);
    objs.set_pgrps(pgrps);
    let ctx = Arc::pin_init(
        pin_init!(RestartCtx {
            stream <- new_mutex!(Stream { reader, objs }),
            slots,
            joins: Completion::uninit(),
            step: Completion::uninit(),
            done: Completion::uninit(),
            errno: AtomicI32::new(0),
            failed <- new_mutex!(Report::default()),
            pod,
        }),
        GFP_KERNEL,
    )?;
    // SAFETY: the context is not shared yet, and its allocation is pinned.
    unsafe {
        ctx.joins.init();
        ctx.step.init();
        ctx.done.init();
    }
    register(&ctx)?;
    let result = ctx.run();
    unregister(&ctx);
    match result {
        Ok(()) => {
            // Before the call returns and the caller may use the file
            // again (a task, not the caller, may drop the reader last).
            ctx.stream.lock().reader.give_back_pos();
            ctx.done.complete_all();
            Ok(())
        }
        Err(e) => {
            // The first failure was recorded where it happened (a task's
            // record, the tail); anything else (a time-out, the
            // coordinator killed) has no record.
            ctx.abort(e);
            let errno = ctx.failure().unwrap_or(e);
            *report = *ctx.failed.lock();
            ckpt_err!(
                "restart: the tree of pid {} failed (pid {}, error {}): every task killed\n",
                root,
                report.pid,
                errno.to_errno()
            );
            Err(errno)
        }
    }
}

/// The namespaces of a restarted pod, whose init is `init`: the ones the
/// pod had of its own must be new ones (not the caller's), the others the
/// caller's, as `ckpt restart` makes them; its UTS namespace gets the
/// saved names, as sethostname(2) and setdomainname(2) inside it would,
/// and its network namespace's loopback its state, as `ip link set lo`.
fn restore_pod_ns(init: &TaskRef, pod: &Pod) -> Result {
    let rec = &pod.rec;
    let own = init.ns_own()?;
    for (what, theirs, ours) in [
        (
            "UTS",
            rec.flags & POD_NEWUTS != 0,
            own & bindings::CKPT_OWN_UTS != 0,
        ),
        (
            "IPC",
            rec.flags & POD_NEWIPC != 0,
            own & bindings::CKPT_OWN_IPC != 0,
        ),
        (
            "cgroup",
            rec.flags & crate::image::POD_NEWCGROUP != 0,
            own & bindings::CKPT_OWN_CGROUP != 0,
        ),
        (
            "mount",
            rec.flags & crate::image::POD_NEWNS != 0,
            own & bindings::CKPT_OWN_MNT != 0,
        ),
        (
            "network",
            rec.flags & crate::image::POD_NEWNET != 0,
            own & bindings::CKPT_OWN_NET != 0,
        ),
    ] {
        if theirs != ours {
            ckpt_err!(
                "restart: the pod had {} {} namespace, its new init has {}\n",
                if theirs {
                    "its own"
                } else {
                    "its checkpointer's"
                },
                what,
                if ours { "a new one" } else { "the caller's" }
            );
            return Err(EINVAL);
        }
    }
    if rec.flags & POD_NEWUTS != 0 {
        init.set_uts_names(&rec.nodename, &rec.domainname)
            .inspect_err(|e| {
                ckpt_err!(
                    "restart: cannot set the pod's host name ({})\n",
                    e.to_errno()
                )
            })?;
    }
    if let Some(i) = &pod.ipc {
        let s = bindings::ckpt_ipc_sysctls {
            shmmax: i.shmmax,
            shmall: i.shmall,
            shmmni: i.shmmni,
            shm_rmid_forced: i.shm_rmid_forced,
            msgmax: i.msgmax,
            msgmnb: i.msgmnb,
            msgmni: i.msgmni,
            sem: i.sem,
            mq: i.mq,
            next_id: i.next_id,
            pad: 0,
        };
        // SAFETY: the init is referenced; the helper takes a reference on
        // its IPC namespace and sets the values as its sysctl files would,
        // with their permission and bounds.
        to_result(unsafe { bindings::ckpt_ipc_sysctls_set(init.as_ptr(), &s) }).inspect_err(
            |e| {
                ckpt_err!(
                    "restart: cannot set the pod's kernel.shm*, msg*, sem, *_next_id and fs.mqueue sysctls ({}): they are set by the IPC namespace's root user (the *_next_id ones with CAP_CHECKPOINT_RESTORE over it)\n",
                    e.to_errno()
                )
            },
        )?;
    }
    if let Some(n) = &pod.net {
        // The new namespace holds what a new one holds, as `ckpt restart`
        // makes it, before its loopback is set.
        let (mut flags, mut mtu) = (0u32, 0u32);
        // SAFETY: the init is referenced; the helper takes a reference on
        // its network namespace under task_lock and reads it under RCU.
        let why = unsafe { bindings::ckpt_netns_check(init.as_ptr(), &mut flags, &mut mtu) };
        if !why.is_null() {
            // SAFETY: a static NUL-terminated string from the helper.
            let why = unsafe { kernel::str::CStr::from_char_ptr(why) };
            ckpt_err!(
                "restart: the pod's new network namespace {}: it must be a new one\n",
                why
            );
            return Err(EINVAL);
        }
        // SAFETY: the init is referenced; the helper takes a reference on
        // its network namespace and changes its loopback device under
        // rtnl_lock, as ip link set lo would (CAP_NET_ADMIN over it).
        to_result(unsafe { bindings::ckpt_netns_set_lo(init.as_ptr(), n.lo_flags, n.lo_mtu) })
            .inspect_err(|e| {
                ckpt_err!(
                    "restart: cannot set the pod's loopback device up {} with MTU {} (error {}; it takes CAP_NET_ADMIN over its network namespace)\n",
                    n.lo_flags & crate::image::LO_UP != 0,
                    n.lo_mtu,
                    e.to_errno()
                )
            })?;
        // SAFETY: the init is referenced; the helper takes a reference on
        // its network namespace and sets the range under its seqlock, as
        // writing the sysctl would (CAP_NET_ADMIN over it).
        to_result(unsafe {
            bindings::ckpt_netns_ping_set(init.as_ptr(), n.ping_gid_low, n.ping_gid_high)
        })
        .inspect_err(|e| {
            ckpt_err!(
                "restart: cannot set the pod's net.ipv4.ping_group_range to {} {} (error {}; it takes CAP_NET_ADMIN over its network namespace, and groups of the caller's user namespace)\n",
                n.ping_gid_low,
                n.ping_gid_high,
                e.to_errno()
            )
        })?;
    }
    Ok(())
}

/// The forest table of an image, after its header and forest records, and
/// the pod record of an image of a whole pid namespace.
fn read_rows(reader: &mut ImageReader) -> Result<(KVVec<TaskEntry>, Option<Pod>)> {
    let (nr, whole) = restore::read_head(reader)?;
    // Grown row by row: `nr` is the image's (up to 4 million).
    let mut rows = KVVec::new();
    for _ in 0..nr {
        match reader.next()? {
            Item::Task(t) => rows.push(t, GFP_KERNEL_ACCOUNT)?,
            _ => return Err(bad("task row missing")),
        }
    }
    if !whole {
        return Ok((rows, None));
    }
    let rec = match reader.next()? {
        Item::Pod(p) => p,
        _ => return Err(bad("the pod record of a whole pid namespace is missing")),
    };
    let ipc = if rec.flags & POD_NEWIPC != 0 {
        match reader.next()? {
            Item::PodIpc(i) => Some(i),
            _ => return Err(bad("the pod-ipc record of a pod is missing")),
        }
    } else {
        None
    };
    let net = if rec.flags & crate::image::POD_NEWNET != 0 {
        match reader.next()? {
            Item::PodNet(n) => Some(n),
            _ => return Err(bad("the pod-net record of a pod is missing")),
        }
    } else {
        None
    };
    Ok((rows, Some(Pod { rec, ipc, net })))
}

/// A pod's records: its namespaces, the sysctls of its own IPC namespace,
/// the loopback device of its own network namespace.
struct Pod {
    rec: PodRec,
    ipc: Option<image::PodIpcRec>,
    net: Option<image::PodNetRec>,
}
