// SPDX-License-Identifier: GPL-2.0

//! `checkpoint(2)`: writes an image of a frozen process tree to a file.
//!
//! Errors, in the order they are checked: `-EINVAL` for unknown flags (or a
//! whole-namespace checkpoint of a task that is not the namespace's init),
//! `-EBADF` for an fd not open for writing, `-ESRCH` for a pid not in the
//! caller's pid namespace, `-EPERM` if the caller may not attach to some
//! task of the tree, `-EBUSY` if some task is not frozen, `-EOPNOTSUPP` if
//! two processes share what only threads of one process may share (their
//! memory or handlers), a process's leader
//! exited before its other threads, or a task holds state a restart
//! cannot bring back yet (`FrozenTree::check_supported`). Nothing is written
//! before all checks pass; each task is checked again when its state is
//! read (`dump_task`). The frozen tree itself is only read, never
//! changed: a failed checkpoint leaves it as it was.

use crate::forest::FrozenTree;
use crate::image::{self, ForestHead, Header, PodRec, RecordType, TaskEntry, TaskState};
use crate::objhash::ObjHash;
use crate::wrap::file::FileRef;
use crate::wrap::mm::MmRef;
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use crate::{fdtable, mm, regs, signal};
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_ulong};
use kernel::prelude::*;

/// The header record for this kernel.
fn header(flags: u64) -> Header {
    let mut release = [0u8; image::RELEASE_LEN];
    // SAFETY: `init_uts_ns` is a static; the release string never changes
    // after boot.
    let src = unsafe { &*core::ptr::addr_of!(bindings::init_uts_ns.name.release) };
    for (d, s) in release
        .iter_mut()
        .zip(src.iter())
        .take(image::RELEASE_LEN - 1)
    {
        *d = *s;
    }
    Header {
        version: image::IMAGE_VERSION,
        arch: image::ARCH_X86_64,
        // What the image is of and how it was taken;
        // CHECKPOINT_TCP_SILENT is about the tree after it.
        flags: flags & (image::CHECKPOINT_SUBTREE | image::CHECKPOINT_COW),
        release,
    }
}

/// The pod record of a whole-namespace checkpoint whose init is `root`
/// (pids in `ns`): which of its namespaces are not the caller's (`own`,
/// `CKPT_OWN_*`; its own mount namespace checked already), the names of
/// its UTS namespace, and its network namespace's loopback device if it
/// has its own. `-EOPNOTSUPP` for a SysV object that cannot be saved, a cgroup
/// namespace not rooted at its job cgroup or a network namespace with
/// more than its loopback, `-EPERM` for a SysV object the caller may not
/// read (the kernel log says which).
fn pod_record(root: &TaskRef, ns: &PidNs, own: u32) -> Result<(PodRec, Option<image::PodNetRec>)> {
    let mut rec = PodRec::default();
    let mut net = None;
    if own & bindings::CKPT_OWN_UTS != 0 {
        rec.flags |= image::POD_NEWUTS;
        (rec.nodename, rec.domainname) = root.uts_names()?;
    }
    if own & bindings::CKPT_OWN_IPC != 0 {
        crate::sysvshm::check(root, ns)?;
        crate::sysvsem::check(root, ns)?;
        crate::sysvmsg::check(root, ns)?;
        rec.flags |= image::POD_NEWIPC;
    }
    if own & bindings::CKPT_OWN_CGROUP != 0 {
        // SAFETY: the task is referenced; the helper takes a reference on
        // its cgroup namespace under task_lock and compares under the
        // cgroup locks.
        if !unsafe { bindings::ckpt_cgroup_ns_at_job(root.as_ptr()) } {
            return Err(crate::forest::refuse(
                root,
                format_args!(
                    "is the init of a pod whose cgroup namespace has another root than the pod's job cgroup (ckpt run --pod makes it the job)"
                ),
            ));
        }
        rec.flags |= image::POD_NEWCGROUP;
    }
    if own & bindings::CKPT_OWN_MNT != 0 {
        rec.flags |= image::POD_NEWNS;
    }
    if own & bindings::CKPT_OWN_NET != 0 {
        let (mut flags, mut mtu) = (0u32, 0u32);
        // SAFETY: the task is referenced; the helper takes a reference on
        // its network namespace under task_lock and reads its devices
        // under RCU.
        let why = unsafe { bindings::ckpt_netns_check(root.as_ptr(), &mut flags, &mut mtu) };
        if !why.is_null() {
            // SAFETY: a static NUL-terminated string from the helper.
            let why = unsafe { kernel::str::CStr::from_char_ptr(why) };
            return Err(crate::forest::refuse(
                root,
                format_args!("is the init of a pod whose network namespace {}", why),
            ));
        }
        rec.flags |= image::POD_NEWNET;
        let (mut low, mut high) = (0u32, 0u32);
        // SAFETY: the task is referenced; the helper takes a reference on
        // its network namespace under task_lock and reads the range under
        // its seqlock.
        let err = unsafe { bindings::ckpt_netns_ping_get(root.as_ptr(), &mut low, &mut high) };
        if err == -(bindings::EOVERFLOW as i32) {
            return Err(crate::forest::refuse(
                root,
                format_args!(
                    "is the init of a pod whose net.ipv4.ping_group_range names a group the caller's user namespace does not map"
                ),
            ));
        }
        to_result(err)?;
        net = Some(image::PodNetRec {
            lo_flags: flags,
            lo_mtu: mtu,
            ping_gid_low: low,
            ping_gid_high: high,
        });
    }
    Ok((rec, net))
}

/// The `kernel.shm*`, `msg*`, `sem` and `fs.mqueue` sysctls of the IPC namespace of
/// `root`, a pod's init.
fn ipc_sysctls(root: &TaskRef) -> Result<image::PodIpcRec> {
    // SAFETY: plain data, all zeros is valid.
    let mut s: bindings::ckpt_ipc_sysctls = unsafe { core::mem::zeroed() };
    // SAFETY: the task is referenced; the helper takes a reference on its
    // IPC namespace under task_lock and reads the values.
    to_result(unsafe { bindings::ckpt_ipc_sysctls_get(root.as_ptr(), &mut s) })?;
    Ok(image::PodIpcRec {
        shmmax: s.shmmax,
        shmall: s.shmall,
        shmmni: s.shmmni,
        shm_rmid_forced: s.shm_rmid_forced,
        msgmax: s.msgmax,
        msgmnb: s.msgmnb,
        msgmni: s.msgmni,
        sem: s.sem,
        mq: s.mq,
        next_id: s.next_id,
    })
}

/// `checkpoint(pid, fd, flags)`.
pub(crate) fn checkpoint(pid: bindings::pid_t, fd: c_int, flags: c_ulong) -> Result {
    let flags = flags as u64;
    if flags & !image::CHECKPOINT_FLAGS_MASK != 0 {
        return Err(EINVAL);
    }
    // Connections silenced for a kill must not move on after a thaw.
    let cow = flags & image::CHECKPOINT_COW != 0;
    if cow && flags & image::CHECKPOINT_TCP_SILENT != 0 {
        return Err(EINVAL);
    }
    let file = FileRef::fget(fd)?;
    if !file.is_writable() {
        return Err(EBADF);
    }
    let root = TaskRef::find_by_vpid(pid)?;
    let whole = flags & image::CHECKPOINT_SUBTREE == 0;
    if whole && !root.is_pidns_init() {
        return Err(EINVAL);
    }
    // The pids of the image: as the caller sees them, or for a whole
    // namespace (a pod) as the tasks inside do.
    let ns = if whole {
        root.pid_ns()?
    } else {
        PidNs::current()?
    };
    let mut forest = FrozenTree::collect(&root)?;
    forest.check_access()?;
    forest.check_frozen()?;
    forest.check_sharing()?;
    forest.check_pid_ns(&ns)?;
    if whole {
        forest.check_whole_ns(&ns)?;
    }
    // A pod's own mount namespace is compared with the caller's (and its
    // private tmpfs mounts found) before any file of it is looked up there.
    // Which of the pod's namespaces are its own (`CKPT_OWN_*`).
    let own = if whole { root.ns_own()? } else { 0 };
    let mounts = if own & bindings::CKPT_OWN_MNT != 0 {
        Some(crate::tmpfs::check(&root)?)
    } else {
        None
    };
    forest.check_supported(whole.then_some(&root))?;
    let (pod, pod_net) = if whole {
        let (rec, net) = pod_record(&root, &ns, own)?;
        (Some(rec), net)
    } else {
        (None, None)
    };
    let pod_ipc = pod
        .filter(|p| p.flags & image::POD_NEWIPC != 0)
        .map(|_| &root);
    crate::posix_mq::check(forest.tasks(), pod_ipc, &ns)?;
    // Outside a pod's own IPC namespace: the segments the tree attaches.
    if pod_ipc.is_none() {
        crate::sysvshm::check_attached(&root, &ns, forest.tasks())?;
    }
    crate::sysvsem::check_undo(forest.tasks(), pod_ipc.is_some())?;
    crate::cgroup::check(forest.tasks(), &root)?;
    let ptys = crate::pty::check(forest.tasks())?;
    crate::pidfd::check(forest.tasks())?;
    crate::posix_timers::check(forest.tasks(), &ns)?;
    crate::inotify::check(forest.tasks())?;
    crate::fown::check(forest.tasks(), &ns)?;
    // The waiting connections' sockets stay referenced until the end.
    let (pending, pending_held) = crate::unix::pending(forest.tasks())?;
    let rows = forest.rows(&ns)?;
    // A process whose leader exited while other threads run on has its
    // memory and files only in those threads: not saved yet (the image
    // keeps a process's state with its leader).
    if let Some(z) = rows
        .iter()
        .find(|z| z.is_zombie() && rows.iter().any(|t| t.is_thread() && t.tgid == z.pid))
    {
        ckpt_err!(
            "checkpoint: the leader of process {} exited while its threads run on: not supported\n",
            z.pid
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    // Nothing stops a thaw while the rows are read: check again, so that
    // an image never mixes states from before and after a thaw.
    forest.check_frozen()?;

    let mut w = if cow {
        ImageWriter::held(file, COW_HOLD_MAX)?
    } else {
        ImageWriter::new(file)?
    };
    w.record(RecordType::Header, &header(flags).encode())?;
    let nr_tasks = u32::try_from(rows.len()).map_err(|_| E2BIG)?;
    let root_pid = rows.first().map(|r| r.pid).ok_or(ESRCH)?;
    w.record(
        RecordType::Forest,
        &ForestHead { nr_tasks, root_pid }.encode(),
    )?;
    for row in rows.iter() {
        w.record(RecordType::Task, &row.encode())?;
    }
    let mut objs = ObjHash::new();
    objs.set_pid_ns(ns);
    if let Some(pod) = pod {
        w.record(RecordType::Pod, &pod.encode())?;
        if pod.flags & image::POD_NEWIPC != 0 {
            w.record(RecordType::PodIpc, &ipc_sysctls(&root)?.encode())?;
        }
        if let Some(net) = pod_net {
            w.record(RecordType::PodNet, &net.encode())?;
        }
        // The segments of its IPC namespace, attached or not.
        if pod.flags & image::POD_NEWIPC != 0 {
            crate::sysvshm::dump_all(&mut w, &mut objs, &root)?;
            crate::sysvsem::dump_all(&mut w, &mut objs, &root)?;
            crate::sysvmsg::dump_all(&mut w, &mut objs, &root)?;
            crate::posix_mq::dump_all(&mut w, &mut objs, &root, forest.tasks())?;
        }
        // The files of its private tmpfs mounts.
        if let Some(m) = &mounts {
            crate::tmpfs::dump(&mut w, &mut objs, m)?;
        }
    }
    if pod_ipc.is_none() {
        // The image's pids: the caller's, or a pod's that shares the
        // caller's IPC namespace.
        let ns = if whole {
            root.pid_ns()?
        } else {
            PidNs::current()?
        };
        crate::sysvshm::dump_attached(&mut w, &mut objs, &root, &ns, forest.tasks())?;
    }
    objs.set_in_tree(ptys);
    objs.set_pending(pending);
    // TCP listeners before the connections they accepted (their port).
    crate::inet::dump_listeners(&mut w, &mut objs, forest.tasks())?;
    let mut stops = KVec::with_capacity(rows.len(), GFP_KERNEL)?;
    let mut memories = Memories::new(&rows)?;
    // Copy-on-write: the memory snapshots whose pages are written once
    // the tree's state is taken, in image order.
    let mut owed = KVVec::new();
    for (i, (task, row)) in forest.tasks().iter().zip(rows.iter()).enumerate() {
        if !row.is_zombie() {
            let exec_id = forest.exec_id(i).ok_or(EINVAL)?;
            let at = Turn {
                index: i,
                row,
                exec_id,
            };
            let owe = cow.then_some(&mut owed);
            let stop = dump_task(&mut w, task, &root, at, &mut objs, &mut memories, owe)?;
            stops.push((task, row.pid, stop), GFP_KERNEL)?;
        }
    }
    // A stopped task of a frozen cgroup still takes SIGCONT: its job
    // control state must be the one each of its process's tasks saved.
    for (task, pid, stop) in stops.iter() {
        if crate::task::stop_of(task).ok() != Some(*stop) {
            ckpt_err!(
                "checkpoint: pid {} was continued or stopped while the image was written\n",
                pid
            );
            return Err(EBUSY);
        }
    }
    // The connections saved are still as saved: a consistent cut of them.
    crate::inet::check_same(&objs)?;
    if cow {
        // Every task's state is taken: what is written from here on comes
        // from the memory snapshots, and the tree may run again as soon as
        // the image has data. Its files, sockets and pipes are no longer
        // held (a pipe it closes must give its reader EOF, a socket its
        // FIN).
        drop(objs);
        drop(pending_held);
        w.release()?;
        memories.owed_only(&owed)?;
        for o in owed.into_iter() {
            o.write(&mut w, &mut memories)?;
        }
        return w.finish();
    }
    // Checked before the tail: a caller that may not silence them gets
    // EPERM and an image without its tail, which no restart takes.
    let silent = flags & image::CHECKPOINT_TCP_SILENT != 0;
    if silent {
        crate::inet::can_silence(&objs)?;
    }
    w.finish()?;
    if silent {
        crate::inet::silence(&objs)?;
    }
    Ok(())
}

/// Writes the state of one live, frozen task: registers, FPU state, signal
/// state and, for a thread group leader, its memory map, open files (each
/// shared open file and pipe once, through `objs`), handlers and memory
/// contents.
///
/// Access and the frozen state were checked for the whole tree before
/// anything was written, but a task's cgroup may be thawed while the
/// image is written (a stalled pipe gives all the time needed) and the
/// task exec another program. So both are checked again when the task's
/// state is read, under its exec lock, which is held until the task's
/// last record: the task cannot pass exec's point of no return meanwhile,
/// and the mm is taken with `mm_access` and must be the task's still.
/// A task whose access changed fails the call with `-EPERM`, one thawed
/// meanwhile or that exec'd since the access check (`exec_id`, its exec
/// count then) with `-EBUSY`.
///
/// A process's memory goes through `memories` ([`Memories::save`]). With
/// `owed` (a copy-on-write checkpoint) its pages are taken from a
/// copy-on-write snapshot of it and written later: the snapshot is added
/// to `owed`, unless its memory cannot be snapshotted
/// ([`mm::MapDump::snapshot`]) and is saved right away.
fn dump_task(
    w: &mut ImageWriter,
    task: &TaskRef,
    root: &TaskRef,
    at: Turn<'_>,
    objs: &mut ObjHash,
    memories: &mut Memories,
    owed: Option<&mut KVVec<Owed>>,
) -> Result<u32> {
    let Turn { row, exec_id, .. } = at;
    let mm = if row.is_thread() {
        None
    } else {
        Some(MmRef::access(task).map_err(|e| {
            if e == ESRCH {
                // No mm: the task was killed meanwhile (a fatal signal
                // ends a frozen task too).
                ckpt_err!(
                    "checkpoint: pid {} exited while the image was written\n",
                    row.pid
                );
                EBUSY
            } else {
                ckpt_err!("checkpoint: pid {}: no access to its memory now\n", row.pid);
                if e == EACCES {
                    EPERM
                } else {
                    e
                }
            }
        })?)
    };
    let _exec = task.lock_exec()?;
    if !task.may_checkpoint() {
        ckpt_err!(
            "checkpoint: pid {}: no ptrace access any more (exec'd?)\n",
            row.pid
        );
        return Err(EPERM);
    }
    if task.self_exec_id() != exec_id {
        ckpt_err!(
            "checkpoint: pid {} exec'd a program while the image was written\n",
            row.pid
        );
        return Err(EBUSY);
    }
    if !task.is_frozen() || mm.as_ref().is_some_and(|m| !m.is_of(task)) {
        ckpt_err!(
            "checkpoint: pid {} was thawed while the image was written\n",
            row.pid
        );
        return Err(EBUSY);
    }
    w.record(RecordType::TaskState, &TaskState { pid: row.pid }.encode())?;
    w.record(RecordType::Regs, &regs::regs(task)?.encode())?;
    let (xh, xstate) = regs::xstate(task)?;
    w.record_parts(RecordType::Xstate, &[&xh.encode(), &xstate])?;
    w.record(
        RecordType::RestartBlock,
        &regs::restart_block(task).encode(),
    )?;
    let (misc, groups) = crate::task::misc(task)?;
    w.record_parts(RecordType::TaskMisc, &[&misc.encode(), &groups])?;
    let stop = misc.stop;
    crate::sched::dump(w, task, !row.is_thread())?;
    signal::dump_task(w, task)?;
    if let Some(mm) = mm {
        let single = task.nr_threads() == 1;
        let mut map = match owed {
            // Its source is chosen once its parent's snapshot is saved.
            Some(_) => mm::dump_map(w, task, mm, objs, None)?,
            None => {
                let source = memories.source(row.ppid, single, mm.as_ptr());
                mm::dump_map(w, task, mm, objs, source.as_ref())?
            }
        };
        crate::cgroup::dump(w, task, root)?;
        crate::pty::dump_ctty(w, task, objs)?;
        fdtable::dump(w, task, row.pid, objs)?;
        crate::sysvsem::dump_undo(w, task)?;
        signal::dump_process(w, task)?;
        crate::posix_timers::dump(w, task, objs.pid_ns()?)?;
        match owed {
            Some(owed) if map.snapshot()? => {
                let o = Owed {
                    at: w.held_len(),
                    index: at.index,
                    pid: row.pid,
                    ppid: row.ppid,
                    single,
                    map,
                };
                owed.push(o, GFP_KERNEL)?;
            }
            // Saved now, on its own: its parent's pages are not saved yet.
            Some(_) => memories.save(w, at.index, row.pid, row.ppid, map, single, false)?,
            None => memories.save(w, at.index, row.pid, row.ppid, map, single, true)?,
        }
    }
    // Everything read above was read from a frozen task.
    if !task.is_frozen() {
        ckpt_err!(
            "checkpoint: pid {} was thawed while the image was written\n",
            row.pid
        );
        return Err(EBUSY);
    }
    w.record(RecordType::TaskEnd, &[])?;
    Ok(stop)
}

/// The most a copy-on-write checkpoint keeps in memory while the tree is
/// frozen: its records, and the contents it cannot take from a memory
/// snapshot (shared memory, pipes' and sockets' queues, the pages of a
/// process whose memory is not snapshotted). Past it, `-ENOBUFS`, and
/// nothing is written: `ckpt checkpoint` then saves the tree frozen.
const COW_HOLD_MAX: usize = 256 << 20;

/// One task's place in the checkpoint: its position among the tasks, its
/// row and its exec count when access was checked.
#[derive(Clone, Copy)]
struct Turn<'a> {
    index: usize,
    row: &'a TaskEntry,
    exec_id: u64,
}

/// The memory of the processes saved so far, by pid: which mm it was
/// (only compared), with the pages it saved still pinned while a child
/// of it is still to be saved, so that a child's pages that are still its
/// parent's are saved once, with the parent.
struct Memories {
    mms: KVVec<(i32, usize, Option<mm::SourcePages>)>,
    /// Each parent's last child, by position (sorted by parent, the last
    /// position of each parent last): the parent's pages are let go once
    /// it is saved.
    last_child: KVVec<(i32, usize)>,
}

/// The `(parent, position)` of each of `children`, sorted: the last
/// position of each parent last.
fn by_parent(
    n: usize,
    children: impl Iterator<Item = (i32, usize)>,
) -> Result<KVVec<(i32, usize)>> {
    let mut v = KVVec::with_capacity(n, GFP_KERNEL)?;
    for c in children {
        v.push(c, GFP_KERNEL)?;
    }
    v.sort_unstable();
    Ok(v)
}

impl Memories {
    fn new(rows: &[TaskEntry]) -> Result<Self> {
        let processes = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_zombie() && !r.is_thread())
            .map(|(i, r)| (r.ppid, i));
        Ok(Self {
            mms: KVVec::new(),
            last_child: by_parent(rows.len(), processes)?,
        })
    }

    /// For a copy-on-write checkpoint once the tree's state is taken: the
    /// processes saved from now on are those of `owed`, and only their
    /// children among them may start from their pages.
    fn owed_only(&mut self, owed: &[Owed]) -> Result {
        self.last_child = by_parent(owed.len(), owed.iter().map(|o| (o.ppid, o.index)))?;
        Ok(())
    }

    /// The position of the last child of `pid`.
    fn last_of(&self, pid: i32) -> Option<usize> {
        let end = self.last_child.partition_point(|&(p, _)| p <= pid);
        end.checked_sub(1)
            .and_then(|k| self.last_child.get(k))
            .filter(|&&(p, _)| p == pid)
            .map(|&(_, at)| at)
    }

    /// What a process whose parent is `ppid` may start its memory from:
    /// its parent's saved pages, if the parent kept them, unless the two
    /// share their memory (`mm`: CLONE_VM) or this process has threads (a
    /// restart switches a single thread to the copy of its parent's).
    fn source(
        &self,
        ppid: i32,
        single: bool,
        mm: *mut bindings::mm_struct,
    ) -> Option<mm::Source<'_>> {
        if !single {
            return None;
        }
        let at = self.mms.binary_search_by_key(&ppid, |(p, ..)| *p).ok()?;
        let (pid, parent, pages) = self.mms.get(at)?;
        if *parent == mm as usize {
            return None;
        }
        Some(mm::Source {
            pid: *pid,
            pages: pages.as_ref()?,
        })
    }

    /// Writes the pages of the map `map` of process `pid` (at `index`
    /// among the tasks) and drops its mm (a snapshot goes then). With
    /// `share`, a child of it still to be saved may start from the pages
    /// it saved, which stay pinned meanwhile, and it may start from its
    /// parent's; its parent's pages are let go if it is the parent's last
    /// child.
    #[allow(clippy::too_many_arguments)]
    fn save(
        &mut self,
        w: &mut ImageWriter,
        index: usize,
        pid: i32,
        ppid: i32,
        map: mm::MapDump,
        single: bool,
        share: bool,
    ) -> Result {
        if !share {
            mm::dump_pages(w, map, None, false)?;
            return Ok(());
        }
        let keep = self.last_of(pid).is_some_and(|at| at > index);
        let id = map.mm_ptr() as usize;
        let source = self.source(ppid, single, map.mm_ptr());
        let (mm, pages) = mm::dump_pages(w, map, source.as_ref(), keep)?;
        drop(mm);
        match self.mms.binary_search_by_key(&pid, |(p, ..)| *p) {
            Ok(_) => return Err(EINVAL),
            Err(at) => crate::objhash::insert_at(&mut self.mms, at, (pid, id, pages), GFP_KERNEL)?,
        }
        if self.last_of(ppid) == Some(index) {
            if let Ok(at) = self.mms.binary_search_by_key(&ppid, |(p, ..)| *p) {
                if let Some(entry) = self.mms.get_mut(at) {
                    // Its last child is saved: its pages are let go.
                    drop(entry.2.take());
                }
            }
        }
        Ok(())
    }
}

/// The pages of a process owed by a copy-on-write checkpoint: its map,
/// whose mm is a snapshot of its memory at the freeze, and where its
/// pages records go among the kept records (before its `TaskEnd`).
struct Owed {
    at: u64,
    index: usize,
    pid: i32,
    ppid: i32,
    single: bool,
    map: mm::MapDump,
}

impl Owed {
    /// Writes the kept records up to this process's pages, then its
    /// pages from its snapshot, through `memories` as any process's.
    fn write(self, w: &mut ImageWriter, memories: &mut Memories) -> Result {
        let Owed {
            at,
            index,
            pid,
            ppid,
            single,
            mut map,
        } = self;
        // Its mm record, still kept, names its source if it has one.
        if let Some(source) = memories.source(ppid, single, map.mm_ptr()) {
            mm::share_from(w, &mut map, &source)?;
        }
        w.release_to(at)?;
        memories.save(w, index, pid, ppid, map, single, true)
    }
}
