// SPDX-License-Identifier: GPL-2.0

//! The restore of one task: the calling task becomes a checkpointed one.
//!
//! Like exec, a restore replaces the caller: its memory, registers and FPU
//! state become the saved ones, and the return to user space lands at the
//! checkpointed instruction with the checkpointed `rax` (the syscall's
//! return value). An interrupted system call (`-ERESTART*` in `rax`) is
//! restarted by the signal path.
//!
//! The task's records are read in one loop with one arm per record type
//! and no catch-all, so a new record type does not compile until it is
//! restored (their order is the image parser's to check, `TASK_RECORDS`).
//! Object records met on the way are restored by the reader through the
//! table of object kinds (`objects.rs`).
//!
//! Everything a task's records say is checked and opened before its old
//! address space is torn down (the point of no return: the first pages
//! record, or the end of the task). Files, mapped files, the executable
//! and the directories are opened with the credentials the task ends with
//! (from its task-misc record on); what needs a privilege of the caller
//! (a new root, a new executable) is checked with the caller's own.

use crate::image::{self, Item, MmHeader, TaskEntry, TaskMisc, Vma};
use crate::objhash::ObjTable;
use crate::reader::ImageReader;
use crate::wrap::creds::{CredsOverride, OpenCreds};
use crate::wrap::mm::MmRef;
use crate::{fdtable, mm, regs, signal};
use kernel::bindings;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// The `-ERESTART*` codes the signal path turns into a restarted call.
const RESTART_CODES: [i64; 4] = [-512, -513, -514, -516];

/// A copy of part of a record. Sizes come from the image (a payload may
/// be 16 MiB): the buffer may be vmalloc'ed.
fn copy(data: &[u8]) -> Result<KVVec<u8>> {
    let mut v = KVVec::new();
    v.extend_from_slice(data, GFP_KERNEL_ACCOUNT)?;
    Ok(v)
}

/// Logs `what` about a bad image and gives `-EINVAL`.
pub(crate) fn bad(what: &str) -> Error {
    ckpt_err!("restart: {}\n", what);
    EINVAL
}

/// Where a restart failed: `struct restart_report` of the uapi header.
#[derive(Clone, Copy, Default)]
pub(crate) struct Report {
    /// The task that failed (0: the image or the call itself).
    pub(crate) pid: i32,
    /// The record read last: index, type, byte offset.
    pub(crate) record: Option<(u32, u32, u64)>,
}

impl Report {
    /// `struct restart_report` for `errno`, as bytes.
    pub(crate) fn encode(&self, errno: i32) -> [u8; 24] {
        let (index, kind, offset) = self.record.unwrap_or((0, 0, 0));
        let mut out = [0u8; 24];
        let fields: [&[u8]; 5] = [
            &self.pid.to_ne_bytes(),
            &errno.to_ne_bytes(),
            &index.to_ne_bytes(),
            &kind.to_ne_bytes(),
            &offset.to_ne_bytes(),
        ];
        let mut at = 0;
        for f in fields {
            if let Some(dst) = out.get_mut(at..at + f.len()) {
                dst.copy_from_slice(f);
            }
            at += f.len();
        }
        out
    }
}

const _: () = assert!(core::mem::size_of::<bindings::restart_report>() == 24);

/// Reads header and forest of an image; the header's kernel release must
/// be this kernel's (the vdso is mapped from this kernel's image). Returns
/// the number of task rows that follow, and whether the image is of a
/// whole pid namespace (a pod: its pids are those seen inside it, and it
/// is restarted in a namespace of its own, through a coordinator).
pub(crate) fn read_head(r: &mut ImageReader) -> Result<(u32, bool)> {
    let (release, flags) = match r.next()? {
        Item::Header(h) => (h.release, h.flags),
        _ => return Err(bad("no header")),
    };
    let whole = flags & crate::image::CHECKPOINT_SUBTREE == 0;
    // SAFETY: `init_uts_ns` is static; the release never changes.
    let ours = unsafe { &*core::ptr::addr_of!(bindings::init_uts_ns.name.release) };
    if release.iter().zip(ours.iter()).any(|(a, b)| *a != *b) {
        return Err(bad("the image was written by another kernel release"));
    }
    match r.next()? {
        Item::Forest(f) => Ok((f.nr_tasks, whole)),
        _ => Err(bad("no forest")),
    }
}

/// Reads the tail (and the object records before it): the image must end
/// here.
pub(crate) fn read_tail(r: &mut ImageReader, objs: &mut ObjTable) -> Result {
    match r.next_after_objects(objs)? {
        Item::Tail(_) => objs.finish(),
        _ => Err(bad("records after the last task")),
    }
}

/// How a restored task goes back to user space.
pub(crate) struct Resume {
    ax: i64,
    orig_ax: i64,
    comm: [u8; image::COMM_LEN],
    pid: i32,
    /// Job control ([`image::TaskMisc::stop`]).
    stop: u32,
    /// The process's interval timers (leaders), armed at the end.
    itimers: Option<[u64; 6]>,
    /// The process's POSIX timers, made in the turn, armed at the end.
    timers: Option<crate::posix_timers::Saved>,
}

impl Resume {
    /// Last steps in the restored task, right before the return, once the
    /// whole tree is back: its name, its process's POSIX timers armed, and
    /// the signal path for an interrupted call. Returns the saved rax.
    pub(crate) fn finish(self) -> i64 {
        if let Some(it) = &self.itimers {
            crate::task::restore_itimers(it, self.pid);
        }
        if let Some(t) = &self.timers {
            t.arm(self.pid);
        }
        crate::task::enter_stop(self.stop);
        // SAFETY: current is valid; `comm` is NUL-terminated (checked by
        // the decoder) and copied under task_lock.
        unsafe {
            bindings::__set_task_comm(
                crate::wrap::task::current(),
                self.comm.as_ptr().cast(),
                false,
            )
        };
        if self.orig_ax >= 0 && RESTART_CODES.contains(&self.ax) {
            // SAFETY: sets current's TIF_SIGPENDING: the exit path then runs
            // the signal code, which restarts the interrupted call.
            unsafe { bindings::ckpt_set_sigpending() };
        }
        self.ax
    }
}

/// A task's records as they are read, until the point of no return.
struct Gathered {
    started: bool,
    regs: Option<image::Regs>,
    xstate: Option<KVVec<u8>>,
    restart_block: Option<image::RestartBlock>,
    misc: Option<(TaskMisc, KVec<u32>)>,
    /// How it is scheduled (none in images written before the record).
    sched: Option<crate::sched::Saved>,
    signals: Option<(image::Signals, KVVec<u8>)>,
    /// The process part (thread group leaders only).
    mm: Option<(MmHeader, KVVec<u8>)>,
    vmas: KVVec<(Vma, KVVec<u8>)>,
    map: Option<mm::PreparedMap>,
    /// The auxiliary vector (images written before it existed have none).
    auxv: Option<KVec<u64>>,
    /// Whether its cgroup record was read.
    cgroup_seen: bool,
    /// The processes whose descriptor table and fs context it uses.
    share: Option<fdtable::SharedWith>,
    files: Option<fdtable::Prepared>,
    /// POSIX locks taken again, released if the restart fails first.
    locks: crate::locks::Held,
    /// Signal owners, set with the task's own credentials at the end.
    owners: KVec<crate::fown::Owner>,
    /// Leases, taken with the task's own credentials at the end.
    leases: KVec<crate::locks::Lease>,
    /// Message queue notifications, registered with the task's own
    /// credentials at the end.
    notifies: KVec<crate::image::MqNotifyRec>,
    /// `SEM_UNDO` adjustments (set id, bytes), given back with the task's
    /// own credentials at the end.
    undos: KVec<(i32, KVVec<u8>)>,
    undo_ids: KVVec<i32>,
    sighand: Option<KVVec<u8>>,
    /// The process's POSIX timers (leaders that have any).
    timers: Option<crate::posix_timers::Saved>,
}

impl Gathered {
    fn new() -> Self {
        Self {
            started: false,
            regs: None,
            xstate: None,
            restart_block: None,
            misc: None,
            sched: None,
            signals: None,
            mm: None,
            vmas: KVVec::new(),
            map: None,
            auxv: None,
            cgroup_seen: false,
            share: None,
            files: None,
            locks: crate::locks::Held::new(),
            owners: KVec::new(),
            leases: KVec::new(),
            notifies: KVec::new(),
            undos: KVec::new(),
            undo_ids: KVVec::new(),
            sighand: None,
            timers: None,
        }
    }
}

/// A record's value that the order guarantees, or `-EINVAL`.
fn need<T>(v: Option<T>, what: &str) -> Result<T> {
    v.ok_or_else(|| bad(what))
}

/// The part of a task's restore after its records are checked: the state
/// that is set only once nothing can fail for lack of a record.
struct Committed {
    /// A leader's memory kept from its source, whose pages records the
    /// rest of its records apply.
    kept: Option<mm::Kept>,
    regs: image::Regs,
    xstate: KVVec<u8>,
    restart_block: image::RestartBlock,
    misc: TaskMisc,
    groups: KVec<u32>,
    sched: Option<crate::sched::Saved>,
    signals: image::Signals,
    sig_infos: KVVec<u8>,
    sighand: Option<KVVec<u8>>,
    timers: Option<crate::posix_timers::Saved>,
    owners: KVec<crate::fown::Owner>,
    leases: KVec<crate::locks::Lease>,
    notifies: KVec<crate::image::MqNotifyRec>,
    undos: KVec<(i32, KVVec<u8>)>,
}

/// The point of no return: checks what needs the caller's privileges,
/// replaces the caller's memory map and descriptors (for a leader), and
/// keeps what is set at the end.
///
/// Not inlined, and its result on the heap: `restore_current`'s frame
/// stays small under the image reader's calls (a kernel stack is 16 KiB).
#[inline(never)]
fn commit(
    g: &mut Gathered,
    objs: &mut ObjTable,
    row: &TaskEntry,
    past: &mut bool,
) -> Result<KBox<Committed>> {
    let leader = !row.is_thread();
    let (misc, groups) = need(g.misc.take(), "no task-misc record")?;
    let (signals, sig_infos) = need(g.signals.take(), "no signal state")?;
    let (sighand, kept) = if leader {
        let (h, _) = need(g.mm.take(), "no memory map")?;
        let map = need(g.map.take(), "no memory map")?;
        let files = need(g.files.take(), "no open files record")?;
        let sighand = need(g.sighand.take(), "no handlers")?;
        files.check_root()?;
        map.check_exe()?;
        // The process the memory starts from: restored before this one
        // in this restart, by the same caller from the same image.
        let source = match h.from {
            0 => None,
            from => {
                let Some(task) = objs.restored(from).filter(|_| from == row.ppid) else {
                    ckpt_err!(
                        "restart: pid {}'s memory starts from pid {}'s, which is not its parent restored before it\n",
                        row.pid,
                        from
                    );
                    return Err(EINVAL);
                };
                Some(MmRef::of_task(task).ok_or(ESRCH)?)
            }
        };
        // Point of no return: the old address space goes away.
        *past = true;
        let kept = mm::restore_map(&h, &map, g.auxv.as_deref(), source.as_ref())?;
        drop(source);
        files.install(objs)?;
        // Installed: the locks' table has their files open. Until here a
        // failure releases them.
        g.locks.keep();
        // A process restored later may share this one's tables.
        objs.add_restored(row.pid)?;
        (Some(sighand), Some(kept))
    } else {
        // Its process's leader came first: its tables are the ones to
        // follow.
        if objs.restored(row.tgid).is_none() {
            return Err(bad("a thread's records come before its process's"));
        }
        *past = true;
        fdtable::follow_leader()?;
        (None, None)
    };
    let c = Committed {
        kept,
        regs: need(g.regs.take(), "no registers")?,
        xstate: need(g.xstate.take(), "no FPU state")?,
        restart_block: need(g.restart_block.take(), "no restart block")?,
        misc,
        groups,
        sched: g.sched.take(),
        signals,
        sig_infos,
        sighand,
        timers: g.timers.take(),
        owners: core::mem::take(&mut g.owners),
        leases: core::mem::take(&mut g.leases),
        notifies: core::mem::take(&mut g.notifies),
        undos: core::mem::take(&mut g.undos),
    };
    Ok(KBox::new(c, GFP_KERNEL_ACCOUNT)?)
}

/// Restores the calling task from its records, `task-state` to
/// `task-end`. `row` is its forest row; a thread group leader also
/// restores its process (memory, files, handlers), a thread only itself.
/// `*past` is set at the point of no return.
pub(crate) fn restore_current(
    r: &mut ImageReader,
    objs: &mut ObjTable,
    row: &TaskEntry,
    past: &mut bool,
) -> Result<Resume> {
    let leader = !row.is_thread();
    // On the heap, as the committed state: see `commit`.
    let mut gathered = KBox::new(Gathered::new(), GFP_KERNEL_ACCOUNT)?;
    let g: &mut Gathered = &mut gathered;
    // The task's final credentials, in force while its process part is
    // read (from its task-misc record to the point of no return).
    let mut acting: Option<(OpenCreds, CredsOverride)> = None;
    objs.set_task_creds(false);
    let mut done: Option<KBox<Committed>> = None;
    loop {
        let item = r.next_after_objects(objs)?;
        if !g.started && !matches!(item, Item::TaskState(_)) {
            return Err(bad("the task's records do not begin with its task-state"));
        }
        match item {
            Item::TaskState(t) => {
                if g.started || t.pid != row.pid {
                    return Err(bad("the task-state record is not the task's"));
                }
                g.started = true;
            }
            Item::Regs(saved) => {
                regs::validate(&saved)?;
                g.regs = Some(saved);
            }
            Item::Xstate(h, data) => {
                // SAFETY: `fpu_user_cfg` is set up at boot and read-only after.
                let max = unsafe { bindings::fpu_user_cfg.max_size };
                if h.size != max {
                    ckpt_err!(
                        "restart: xstate of {} bytes, this CPU's is {}\n",
                        h.size,
                        max
                    );
                    return Err(EINVAL);
                }
                g.xstate = Some(copy(data)?);
            }
            Item::RestartBlock(rb) => g.restart_block = Some(rb),
            Item::TaskMisc(m, groups) => {
                let groups = crate::task::parse_groups(groups)?;
                crate::task::check_misc(&m, &groups)?;
                if leader {
                    let creds = OpenCreds::new(&m, &groups)?;
                    let guard = creds.apply();
                    acting = Some((creds, guard));
                    objs.set_task_creds(true);
                }
                g.misc = Some((m, groups));
            }
            Item::TaskSched(s, mask) => {
                if g.sched.is_some() {
                    return Err(bad("two sched records for one task"));
                }
                g.sched = Some(crate::sched::Saved::new(s, mask)?);
            }
            Item::Signals(s, infos) => {
                signal::validate(&s)?;
                g.signals = Some((s, copy(infos)?));
            }
            Item::Mm(m, exe) => {
                if !leader {
                    return Err(bad("a thread's records hold a memory map"));
                }
                g.mm = Some((m, copy(exe)?));
            }
            Item::Vma(v, path) => g.vmas.push((v, copy(path)?), GFP_KERNEL_ACCOUNT)?,
            // Read by the restarting tool, which placed the process.
            Item::Cgroup(_) => {
                if g.cgroup_seen {
                    return Err(bad("a second cgroup record"));
                }
                g.cgroup_seen = true;
            }
            Item::Auxv(b) => {
                if g.auxv.is_some() {
                    return Err(bad("a second auxv record"));
                }
                let mut words = KVec::with_capacity(b.len() / 8, GFP_KERNEL_ACCOUNT)?;
                for w in image::auxv_words(b) {
                    words.push(w, GFP_KERNEL_ACCOUNT)?;
                }
                g.auxv = Some(words);
            }
            Item::Share(s) => {
                if !leader || g.share.is_some() {
                    return Err(bad("a share record that is not a process's only one"));
                }
                g.share = Some(fdtable::SharedWith::resolve(objs, &s, row.pid)?);
            }
            Item::Files(h, cwd, root) => {
                // The VMAs are complete: their files are opened now.
                let (m, exe) = need(g.mm.as_ref(), "no memory map")?;
                let vmas = core::mem::replace(&mut g.vmas, KVVec::new());
                g.map = Some(mm::prepare(m, exe, vmas, objs)?);
                let shared = g.share.take().unwrap_or_default();
                g.files = Some(fdtable::Prepared::new(&h, cwd, root, shared)?);
            }
            Item::Fd(fd) => need(g.files.as_mut(), "no open files record")?.add_fd(objs, &fd)?,
            Item::FileLock(l) => {
                let files = need(g.files.as_ref(), "no open files record")?;
                if files.shares_files() {
                    return Err(bad(
                        "a process using another's descriptor table has locks of its own",
                    ));
                }
                if l.kind == crate::image::LOCK_LEASE {
                    let lease = crate::locks::restore_lease(objs, files, &l)?;
                    g.leases.push(lease, GFP_KERNEL_ACCOUNT)?;
                } else {
                    crate::locks::restore(&mut g.locks, objs, files, &l)?;
                }
            }
            Item::FileOwner(o) => {
                let files = need(g.files.as_ref(), "no open files record")?;
                if files.shares_files() {
                    return Err(bad(
                        "a process using another's descriptor table has owner records",
                    ));
                }
                let owner = crate::fown::restore(
                    objs,
                    |fd, id| files.names(fd, id),
                    |id| files.names_file(id),
                    &o,
                )?;
                g.owners.push(owner, GFP_KERNEL_ACCOUNT)?;
            }
            Item::MqNotify(n) => {
                need(g.files.as_ref(), "no open files record")?;
                g.notifies.push(n, GFP_KERNEL_ACCOUNT)?;
            }
            Item::SemUndo(u, adj) => {
                // One record per set: the ids seen, sorted.
                match g.undo_ids.binary_search(&u.semid) {
                    Ok(_) => return Err(bad("two sem-undo records for one set")),
                    Err(at) => {
                        crate::objhash::insert_at(&mut g.undo_ids, at, u.semid, GFP_KERNEL_ACCOUNT)?
                    }
                }
                g.undos.push((u.semid, copy(adj)?), GFP_KERNEL_ACCOUNT)?;
            }
            Item::Ctty(c) => {
                if !leader {
                    return Err(bad("a thread's records hold a controlling terminal"));
                }
                crate::pty::restore_ctty(objs, &c, row.sid)?;
            }
            Item::Sighand(p) => g.sighand = Some(copy(p)?),
            Item::PosixTimers(h, timers) => {
                if g.timers.is_some() {
                    return Err(bad("a second posix-timers record"));
                }
                g.timers = Some(crate::posix_timers::Saved::new(h, timers)?);
            }
            Item::Pages(h, data) => {
                if !leader {
                    return Err(bad("a thread's records hold pages"));
                }
                let c = match &mut done {
                    Some(c) => c,
                    None => {
                        drop(acting.take());
                        objs.set_task_creds(false);
                        done.insert(commit(g, objs, row, past)?)
                    }
                };
                need(c.kept.as_mut(), "no memory map")?.pages(&h, data)?;
            }
            Item::TaskEnd => break,
            // The reader restores object records itself.
            Item::File(..)
            | Item::Pipe(..)
            | Item::Shmem(..)
            | Item::ShmemPages(..)
            | Item::Eventfd(..)
            | Item::Signalfd(..)
            | Item::Fifo(..)
            | Item::Timerfd(..)
            | Item::Epoll(..)
            | Item::UnixPair(..)
            | Item::UnixSock(..)
            | Item::UnixPending(..)
            | Item::InetSock(..)
            | Item::InetPending(..)
            | Item::PacketSock(..)
            | Item::Memfd(..)
            | Item::Pty(..)
            | Item::DeletedFile(..)
            | Item::Pidfd(..)
            | Item::Inotify(..)
            | Item::SysvShm(..)
            | Item::SysvSem(..)
            | Item::SysvMsg(..)
            | Item::PosixMq(..)
            | Item::PodMount(..)
            | Item::TmpfsFile(..) => {
                return Err(bad("an object record was not restored"));
            }
            Item::Header(_) | Item::Forest(_) | Item::Task(_) | Item::Tail(_) => {
                return Err(bad("the image ends inside a task"));
            }
            // The parser only takes it before the first task.
            Item::Pod(_) | Item::PodIpc(_) | Item::PodNet(_) => {
                return Err(bad("a pod record inside a task"))
            }
        }
    }
    drop(acting);
    objs.set_task_creds(false);
    let mut c = match done {
        Some(c) => c,
        None => commit(g, objs, row, past)?,
    };
    if let Some(kept) = c.kept.as_mut() {
        kept.finish()?;
    }
    regs::restore(&c.regs)?;
    regs::restore_xstate(&c.xstate)?;
    regs::restore_restart_block(&c.restart_block)?;
    crate::task::restore_misc(&c.misc, leader);
    crate::task::restore_stop(&c.misc, leader, row.pid)?;
    // With the caller's credentials, as everything up to the ids.
    if let Some(s) = &c.sched {
        s.apply(row.pid, leader)?;
    }
    signal::restore_task(&c.signals)?;
    // Whatever the restarting task was sent before (a child's exit) is not
    // the saved task's: only the saved signals are pending.
    if leader {
        // The restarting process's own timers, with their queued signals.
        crate::posix_timers::drop_all();
    }
    signal::flush_pending(leader);
    signal::restore_pending(c.signals.pending, &c.sig_infos, false)?;
    if let Some(sighand) = &c.sighand {
        signal::restore_handlers(sighand)?;
        if c.misc.flags & image::MISC_CHILD_SUBREAPER != 0 {
            // SAFETY: acts on current's own process; takes tasklist_lock
            // itself to mark the descendants.
            unsafe { bindings::ckpt_set_child_subreaper() };
        }
        let (mask, shared_infos) = signal::shared_pending(sighand)?;
        signal::restore_pending(mask, shared_infos, true)?;
        if let Some(t) = &c.timers {
            t.create(row.pid)?;
        }
    }
    // Credentials last: everything above ran with the caller's.
    crate::task::restore_ids(&c.misc, &c.groups)?;
    // Leases: as the file's owner (or with CAP_LEASE); a lease makes its
    // taker the file's signal owner, which the saved owner replaces.
    for l in c.leases.iter() {
        crate::locks::apply_lease(l)?;
    }
    // Signal owners keep the credentials of whoever set them.
    for o in c.owners.iter() {
        crate::fown::apply(o)?;
    }
    // As mq_notify(3) by the process itself, through its descriptor.
    for n in c.notifies.iter() {
        crate::posix_mq::apply_notify(n)?;
    }
    // As semop(2) with SEM_UNDO by the process itself.
    for (semid, adj) in c.undos.iter() {
        crate::wrap::task::killable()?;
        crate::sysvsem::apply_undo(*semid, adj)?;
    }
    Ok(Resume {
        ax: c.regs.ax() as i64,
        orig_ax: c.regs.orig_ax() as i64,
        comm: row.comm,
        pid: row.pid,
        stop: c.misc.stop,
        itimers: c.sighand.is_some().then_some(c.misc.itimers),
        timers: c.timers.take(),
    })
}

/// Kills the calling task: after the point of no return, or when its tree
/// failed, it must never return to user space.
pub(crate) fn kill_current() {
    // SAFETY: a fatal signal to current; it never returns to user space.
    unsafe { bindings::force_sig(bindings::SIGKILL as c_int) };
}
