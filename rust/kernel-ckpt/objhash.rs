// SPDX-License-Identifier: GPL-2.0

//! The object hash: kernel objects shared between tasks are saved once.
//!
//! At checkpoint, [`ObjHash`] maps the address of a kernel object (a
//! `struct file`, a `struct pipe_inode_info`, the inode of shared memory)
//! to the id it was given when
//! it was first written; later references write only the id. Ids are
//! numbered from 1 in the order objects are written, which is the order a
//! reader meets them, so the image crate's parser can check that every
//! reference names an object written before it.
//!
//! At restart, [`ObjTable`] holds what the first reference created (an open
//! file, the two ends of a new pipe), indexed by id, so that every later
//! reference gets the same object: two descriptors in two processes that
//! shared one open file share one again, with one offset.
//!
//! The hash holds a reference on every file it has seen, so an address
//! cannot be freed and reused for another object while the checkpoint
//! runs (the pipe of a file lives as long as the file).

use crate::image::ObjId;
use crate::wrap::file::FileRef;
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use core::any::TypeId;
use kernel::prelude::*;

/// Puts `item` at `at` in the sorted vector `v` (where a failed binary
/// search said it belongs): appended, then rotated into its place.
pub(crate) fn insert_at<T>(
    v: &mut KVVec<T>,
    at: usize,
    item: T,
    flags: kernel::alloc::Flags,
) -> Result {
    v.push(item, flags)?;
    v.get_mut(at..).ok_or(EINVAL)?.rotate_right(1);
    Ok(())
}

/// Takes the last item out of `v`, as `Vec::pop` does.
pub(crate) fn pop<T>(v: &mut KVVec<T>) -> Option<T> {
    let len = v.len().checked_sub(1)?;
    // SAFETY: `len` is in bounds; the item is read out once and the length
    // shrunk right after, so it is neither dropped twice nor seen again.
    unsafe {
        let item = core::ptr::read(v.as_ptr().add(len));
        v.set_len(len);
        Some(item)
    }
}

/// The checkpoint side of a kind of shared object.
pub(crate) trait ObjOps: 'static {
    /// How the checkpoint holds one: a counted reference, or a pointer
    /// kept valid by one.
    type Ref;
    /// What its record needs of the objects it names, which are written
    /// before it (a pipe end's pipe).
    type Deps;

    /// Its key: the kernel object's address, which cannot be reused while
    /// the hash holds what [`ObjOps::hold`] returns. Keys of different
    /// kinds never meet: the hash keys each by its kind's type too.
    fn key(r: &Self::Ref) -> usize;

    /// Writes the objects it names that are not written yet.
    fn write_deps(w: &mut ImageWriter, objs: &mut ObjHash, r: &Self::Ref) -> Result<Self::Deps>;

    /// Writes its record (and its contents' records), with id `id`.
    fn write(w: &mut ImageWriter, r: &Self::Ref, id: ObjId, deps: Self::Deps) -> Result;

    /// What the hash keeps until the checkpoint ends, so that the key stays
    /// this object's (`None`: it lives as long as another held object).
    fn hold(r: Self::Ref) -> Option<FileRef>;
}

/// What an object record creates at restart, until every record naming it
/// has taken it.
pub(crate) enum Obj {
    /// An open file, installed by every descriptor that refers to it.
    File(FileRef),
    /// A new pipe's two ends until a file record takes each (an end no
    /// record takes is closed when the table goes away, as it was closed
    /// in the saved tree). `opened` is the first end a record took, the
    /// pipe's path for more open files of an end (a pipe end reopened
    /// through `/proc/PID/fd` is another open file of it).
    Pipe {
        read: Option<FileRef>,
        write: Option<FileRef>,
        opened: Option<FileRef>,
    },
    /// A new shmem file, mapped by every VMA that refers to it.
    Shmem(FileRef),
    /// A new memfd, opened by every file record and mapped by every VMA
    /// that names it; `seals` are added at the end of the image.
    Memfd { file: FileRef, seals: u32 },
    /// A FIFO opened for reading and writing, holding its pipe (and the
    /// bytes put back in it) while its open files are reopened by path.
    Fifo(FileRef),
    /// Two connected unix sockets until a file record takes each (an end
    /// no record takes is closed when the table goes away, as it was
    /// closed in the saved tree).
    UnixPair { ends: [Option<FileRef>; 2] },
    /// A deleted file made again (unlinked), opened by every file record
    /// that names it; its permission bits are set at the end of the image.
    Deleted { file: FileRef, mode: u32 },
    /// A new pty: its master until the master's file record takes it, and
    /// a file of the master kept to open the slave for each slave file
    /// record; `flags` (`PTY_*`) are set at the end of the image.
    Pty {
        master: Option<FileRef>,
        pty: FileRef,
        flags: u32,
    },
    /// The file of an object that is one file (an eventfd, a signalfd, a
    /// timerfd, an epoll set), made anew by its record, until its file record takes it;
    /// `kind` is the `FILE_*` kind of that file record.
    Made { file: Option<FileRef>, kind: u32 },
    /// A SysV segment made again, held until the restart ends; mapped by
    /// every VMA that names it (`do_shmat`).
    SysvShm(crate::sysvshm::ShmHold),
    /// A SysV object made again in the pod's IPC namespace (a semaphore
    /// set, a message queue), or a pod's tmpfs mounted again: nothing to
    /// keep.
    Ipc,
    /// A file of a pod's tmpfs made again, given its owner, mode and times
    /// at the end of the image (a regular file is open only while its
    /// contents are read: one at a time, not counted).
    Tmpfs(crate::tmpfs::TmpfsHold),
}

impl Obj {
    /// How many open files it holds: they count against the caller's
    /// `RLIMIT_NOFILE`.
    pub(crate) fn files(&self) -> usize {
        match self {
            Obj::Pipe {
                read,
                write,
                opened,
            } => {
                usize::from(read.is_some())
                    + usize::from(write.is_some())
                    + usize::from(opened.is_some())
            }
            Obj::Made { file, .. } => usize::from(file.is_some()),
            Obj::Ipc | Obj::Tmpfs(_) => 0,
            Obj::UnixPair { ends } => ends.iter().filter(|e| e.is_some()).count(),
            Obj::Pty { master, .. } => 1 + usize::from(master.is_some()),
            Obj::File(_)
            | Obj::Shmem(_)
            | Obj::Fifo(_)
            | Obj::Memfd { .. }
            | Obj::Deleted { .. }
            | Obj::SysvShm(_) => 1,
        }
    }
}

/// Checkpoint side: object address → id.
pub(crate) struct ObjHash {
    /// Sorted by key for binary search.
    ids: KVVec<((TypeId, usize), ObjId)>,
    /// Keeps every file seen alive until the image is written.
    held: KVVec<FileRef>,
    last: ObjId,
    /// Addresses marked by [`ObjHash::first_visit`], sorted.
    visited: KVVec<usize>,
    /// Objects a check before the first record found wholly in the tree
    /// (the ptys whose every open file is), by key, sorted, each with an
    /// open file of the tree that holds it.
    in_tree: KVVec<(usize, FileRef)>,
    /// The connections waiting in the tree's listening unix sockets, by
    /// key, sorted, each with its listener's file.
    pending: KVVec<(usize, FileRef)>,
    /// The descriptor tables and fs contexts written so far, by address,
    /// sorted, each with the pid and the leader of the process whose
    /// records hold it. A table is not held: a later process with a table
    /// at the same address shares it only if that leader still has it.
    tables: KVVec<(usize, i32, TaskRef)>,
    /// The objects whose dependencies are being written, innermost last.
    writing: KVVec<(TypeId, usize)>,
    /// The pid namespace whose pids the image holds.
    pid_ns: Option<PidNs>,
    /// The TCP connections written (established or closing, open or
    /// waiting to be accepted), each held with its state as saved:
    /// checked again at the end of the image (`crate::inet::check_same`).
    tcp: KVVec<(crate::inet::Sk, kernel::bindings::ckpt_tcp)>,
    /// The TCP listeners whose queues were written, each held with the
    /// connections it held in order (which `tcp` holds): checked again at
    /// the end of the image (`crate::inet::check_same`).
    queues: KVVec<(crate::inet::Sk, KVVec<*mut kernel::bindings::sock>)>,
    /// The TCP sockets written whose connect(2) was under way (SYN_SENT),
    /// each held with its initial sequence number: checked again at the
    /// end of the image (`crate::inet::check_same`).
    syn_sent: KVVec<(crate::inet::Sk, u32)>,
}

impl ObjHash {
    pub(crate) fn new() -> Self {
        Self {
            ids: KVVec::new(),
            held: KVVec::new(),
            last: 0,
            visited: KVVec::new(),
            in_tree: KVVec::new(),
            pending: KVVec::new(),
            tables: KVVec::new(),
            writing: KVVec::new(),
            pid_ns: None,
            tcp: KVVec::new(),
            queues: KVVec::new(),
            syn_sent: KVVec::new(),
        }
    }

    /// Notes the established connection `file` saved as `st`.
    pub(crate) fn add_tcp(
        &mut self,
        sk: crate::inet::Sk,
        st: kernel::bindings::ckpt_tcp,
    ) -> Result {
        self.tcp.push((sk, st), GFP_KERNEL)?;
        Ok(())
    }

    /// The established connections saved, with their states.
    /// Notes the queue of listener `sk` as written: the connections
    /// `socks`, in order.
    pub(crate) fn add_queue(
        &mut self,
        sk: crate::inet::Sk,
        socks: KVVec<*mut kernel::bindings::sock>,
    ) -> Result {
        self.queues.push((sk, socks), GFP_KERNEL)?;
        Ok(())
    }

    /// Notes the TCP socket `sk`, written connecting, with its initial
    /// sequence number `isn`.
    pub(crate) fn add_syn_sent(&mut self, sk: crate::inet::Sk, isn: u32) -> Result {
        self.syn_sent.push((sk, isn), GFP_KERNEL)?;
        Ok(())
    }

    /// The sockets written connecting ([`ObjHash::add_syn_sent`]).
    pub(crate) fn syn_sent(&self) -> &[(crate::inet::Sk, u32)] {
        &self.syn_sent
    }

    /// The listeners' queues written ([`ObjHash::add_queue`]).
    pub(crate) fn queues(&self) -> &[(crate::inet::Sk, KVVec<*mut kernel::bindings::sock>)] {
        &self.queues
    }

    pub(crate) fn tcp(&self) -> &[(crate::inet::Sk, kernel::bindings::ckpt_tcp)] {
        &self.tcp
    }

    /// Sets the pid namespace whose pids the image holds: the caller's,
    /// or the pod's for an image of a whole namespace.
    pub(crate) fn set_pid_ns(&mut self, ns: PidNs) {
        self.pid_ns = Some(ns);
    }

    /// The pid namespace whose pids the image holds (`-EINVAL` if unset).
    pub(crate) fn pid_ns(&self) -> Result<&PidNs> {
        self.pid_ns.as_ref().ok_or(EINVAL)
    }

    /// The process whose records hold the descriptor table (`k` is
    /// `forest::SHARED_FILES`) or fs context (`SHARED_FS`) at `key` (its
    /// address), or `None` if it is new: then process `pid`, whose leader
    /// is `task`, writes it. `-EBUSY` if the process that wrote a table at
    /// that address has another one now (the first was freed while the
    /// tree was thawed, and its address reused).
    pub(crate) fn table_holder(
        &mut self,
        key: usize,
        k: usize,
        pid: i32,
        task: &TaskRef,
    ) -> Result<Option<i32>> {
        match self.tables.binary_search_by_key(&key, |(a, _, _)| *a) {
            Ok(i) => {
                let (_, holder, t) = self.tables.get(i).ok_or(EINVAL)?;
                if crate::forest::shared_ptrs(t).get(k) != Some(&key) {
                    ckpt_err!(
                        "checkpoint: the descriptor table or fs context of pid {} changed while the image was written\n",
                        holder
                    );
                    return Err(EBUSY);
                }
                Ok(Some(*holder))
            }
            Err(at) => {
                insert_at(&mut self.tables, at, (key, pid, task.clone()), GFP_KERNEL)?;
                Ok(None)
            }
        }
    }

    /// Records the connections waiting to be accepted by the tree's
    /// listeners: their keys (sorted) and each one's listener.
    pub(crate) fn set_pending(&mut self, pending: KVVec<(usize, FileRef)>) {
        self.pending = pending;
    }

    /// The listener of the waiting connection with key `key`.
    pub(crate) fn pending_listener(&self, key: usize) -> Option<FileRef> {
        let i = self.pending.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        self.pending.get(i).map(|(_, f)| f.clone_ref())
    }

    /// The id of the object of kind `K` with key `key`, if it was written.
    pub(crate) fn id_by_key<K: ObjOps>(&self, key: usize) -> Option<ObjId> {
        self.lookup(TypeId::of::<K>(), key)
    }

    /// Records the objects found wholly in the tree: their keys (sorted)
    /// and a file of the tree that holds each.
    pub(crate) fn set_in_tree(&mut self, objs: KVVec<(usize, FileRef)>) {
        self.in_tree = objs;
    }

    /// The file that holds the object with key `key`, if it was found
    /// wholly in the tree.
    pub(crate) fn in_tree(&self, key: usize) -> Option<FileRef> {
        let i = self.in_tree.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        self.in_tree.get(i).map(|(_, f)| f.clone_ref())
    }

    /// The files that hold the objects found wholly in the tree.
    pub(crate) fn in_tree_files(&self) -> impl Iterator<Item = &FileRef> {
        self.in_tree.iter().map(|(_, f)| f)
    }

    /// The id of object `r` of kind `K`, written now with the objects it
    /// names (first) if it is new.
    pub(crate) fn id_of<K: ObjOps>(&mut self, w: &mut ImageWriter, r: K::Ref) -> Result<ObjId> {
        let key = K::key(&r);
        let kind = TypeId::of::<K>();
        if let Some(id) = self.lookup(kind, key) {
            return Ok(id);
        }
        // An object being written names itself through the objects it
        // names (which nothing should let happen): refused, not followed
        // around the loop.
        if self.writing.contains(&(kind, key)) {
            ckpt_err!(
                "checkpoint: an object names itself through the objects it names: not supported\n"
            );
            return Err(crate::wrap::errno::eopnotsupp());
        }
        self.writing.push((kind, key), GFP_KERNEL)?;
        let deps = K::write_deps(w, self, &r);
        let depth = self.writing.len().saturating_sub(1);
        // SAFETY: shrinks the vector by its last element, pushed above (its
        // dependencies pushed and removed their own), a plain `Copy` pair
        // with nothing to drop.
        unsafe { self.writing.set_len(depth) };
        let deps = deps?;
        let id = self.insert(kind, key)?;
        K::write(w, &r, id, deps)?;
        if let Some(file) = K::hold(r) {
            self.hold(file)?;
        }
        Ok(id)
    }

    /// A new id for an object of kind `K` with key `key` that nothing
    /// else names (a pod mount's file), which the caller writes now.
    pub(crate) fn fresh<K: 'static>(&mut self, key: usize) -> Result<ObjId> {
        self.insert(TypeId::of::<K>(), key)
    }

    /// Whether object `r` of kind `K` was written already.
    pub(crate) fn has<K: ObjOps>(&self, r: &K::Ref) -> bool {
        self.lookup(TypeId::of::<K>(), K::key(r)).is_some()
    }

    /// Whether this is the first call for `addr` (a held object's
    /// address): state written once per object without a record of its own
    /// (the locks of an open file).
    pub(crate) fn first_visit(&mut self, addr: usize) -> Result<bool> {
        match self.visited.binary_search(&addr) {
            Ok(_) => Ok(false),
            Err(at) => {
                insert_at(&mut self.visited, at, addr, GFP_KERNEL)?;
                Ok(true)
            }
        }
    }

    /// The id of the object at `addr`, if it was written already.
    fn lookup(&self, kind: TypeId, addr: usize) -> Option<ObjId> {
        self.ids
            .binary_search_by(|(k, _)| k.cmp(&(kind, addr)))
            .ok()
            .and_then(|i| self.ids.get(i))
            .map(|(_, id)| *id)
    }

    /// Gives the object at `addr` the next id; the caller writes it now.
    fn insert(&mut self, kind: TypeId, addr: usize) -> Result<ObjId> {
        let key = (kind, addr);
        let at = match self.ids.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(_) => return Err(EEXIST),
            Err(at) => at,
        };
        let id = self.last.checked_add(1).ok_or(E2BIG)?;
        insert_at(&mut self.ids, at, (key, id), GFP_KERNEL)?;
        self.last = id;
        Ok(id)
    }

    /// Keeps `file` referenced until the checkpoint ends.
    fn hold(&mut self, file: FileRef) -> Result {
        self.held.push(file, GFP_KERNEL)?;
        Ok(())
    }
}

/// Restart side: id → object.
///
/// Every object holds open files until the restart ends; they count
/// against the caller's `RLIMIT_NOFILE`, as if the caller held them as
/// descriptors, so an image cannot make the kernel hold more files than
/// its caller could open.
pub(crate) struct ObjTable {
    objs: KVVec<Obj>,
    /// Files a kind opened on the way to the one it needed, which a later
    /// object may take (ptys below a saved pty number): by path and
    /// number. Closed with the table.
    spares: KVVec<(KVec<u8>, u32, Option<FileRef>)>,
    /// The pids of every task the restart restores (zombies included),
    /// sorted: the tasks a pidfd may refer to.
    pids: KVVec<i32>,
    /// The process groups the restart makes, sorted: the groups a signal
    /// owner of the image may be.
    pgrps: KVVec<i32>,
    /// The session leaders the restart restores (live tasks whose pid is
    /// their session id), sorted: the sessions a controlling terminal may
    /// be given to.
    leaders: KVVec<i32>,
    /// The processes restored so far (their leaders, by pid as the image
    /// numbers them), sorted: a process restored later may use one's
    /// descriptor table or fs context.
    restored: KVVec<(i32, TaskRef)>,
    /// Deleted files are made again in the restoring task's working
    /// directory (`RESTART_DELETED_HERE`).
    deleted_here: bool,
    /// Whether a process's open credentials are in force (from its
    /// task-misc record to its first pages record): the only place an
    /// object that opens or makes a path may be restored.
    task_creds: bool,
    /// Open files held by `objs`, and how many the caller may hold.
    files: usize,
    max_files: usize,
    /// The pod mount whose files are being read.
    tmpfs: crate::tmpfs::Restoring,
    /// TCP connections made in repair mode, resumed at the end of the
    /// image (their peers may come later in it).
    repairing: KVVec<crate::inet::Repairing>,
    /// TCP connections waiting to be accepted, each with its listener, in
    /// the order they wait: put in their listeners' queues once resumed.
    pending_inet: KVVec<(FileRef, FileRef)>,
    /// TCP sockets whose connect(2) was under way, with the address and
    /// port they connect to and their object ids: connected again last.
    connecting: KVVec<(FileRef, [u8; 16], u32, ObjId)>,
}

impl ObjTable {
    pub(crate) fn new() -> Self {
        // The caller's own soft limit, as the fd allocator reads it.
        let max_files = usize::try_from(crate::wrap::task::current_rlimit(
            kernel::bindings::RLIMIT_NOFILE,
        ))
        .unwrap_or(usize::MAX);
        Self {
            objs: KVVec::new(),
            spares: KVVec::new(),
            leaders: KVVec::new(),
            pids: KVVec::new(),
            pgrps: KVVec::new(),
            restored: KVVec::new(),
            deleted_here: false,
            task_creds: false,
            files: 0,
            max_files,
            tmpfs: Default::default(),
            repairing: KVVec::new(),
            pending_inet: KVVec::new(),
            connecting: KVVec::new(),
        }
    }

    /// The pod mount whose files are being read.
    pub(crate) fn tmpfs(&mut self) -> &mut crate::tmpfs::Restoring {
        &mut self.tmpfs
    }

    /// The file of a pod mount with id `id`.
    pub(crate) fn tmpfs_hold(&mut self, id: ObjId) -> Result<&mut crate::tmpfs::TmpfsHold> {
        match self.get_mut(id)? {
            Obj::Tmpfs(t) => Ok(t),
            _ => {
                ckpt_err!("restart: object {} is not a file of a pod mount\n", id);
                Err(EINVAL)
            }
        }
    }

    /// Counts `n` more open files held, against the caller's
    /// `RLIMIT_NOFILE` (`EMFILE` beyond it).
    fn count_files(&mut self, n: usize) -> Result {
        self.files = self.files.saturating_add(n);
        if self.files > self.max_files {
            ckpt_err!(
                "restart: the image holds more open files than RLIMIT_NOFILE ({})\n",
                self.max_files
            );
            return Err(EMFILE);
        }
        Ok(())
    }

    /// Adds the object with id `id`, which must be the next one (the image
    /// parser checked the order already; this keeps the table honest).
    pub(crate) fn add(&mut self, id: ObjId, obj: Obj) -> Result {
        if usize::try_from(id).ok() != self.objs.len().checked_add(1) {
            ckpt_err!("restart: object {} out of order\n", id);
            return Err(EINVAL);
        }
        self.count_files(obj.files())?;
        self.objs.push(obj, GFP_KERNEL_ACCOUNT)?;
        Ok(())
    }

    /// Says whether a process's open credentials are in force.
    pub(crate) fn set_task_creds(&mut self, on: bool) {
        self.task_creds = on;
    }

    /// Whether a process's open credentials are in force.
    pub(crate) fn task_creds(&self) -> bool {
        self.task_creds
    }

    /// Makes deleted files again in the restoring task's working directory
    /// (`RESTART_DELETED_HERE`), or where they were.
    pub(crate) fn set_deleted_here(&mut self, here: bool) {
        self.deleted_here = here;
    }

    /// Whether deleted files are made again in the restoring task's
    /// working directory.
    pub(crate) fn deleted_here(&self) -> bool {
        self.deleted_here
    }

    /// Records that the calling task restored process `pid` (it is its
    /// leader), past its point of no return.
    pub(crate) fn add_restored(&mut self, pid: i32) -> Result {
        let at = match self.restored.binary_search_by_key(&pid, |(p, _)| *p) {
            Ok(_) => return Err(EEXIST),
            Err(at) => at,
        };
        insert_at(
            &mut self.restored,
            at,
            (pid, TaskRef::current_ref()),
            GFP_KERNEL_ACCOUNT,
        )?;
        Ok(())
    }

    /// The leader of process `pid`, if this restart restored it already.
    pub(crate) fn restored(&self, pid: i32) -> Option<&TaskRef> {
        let i = self.restored.binary_search_by_key(&pid, |(p, _)| *p).ok()?;
        self.restored.get(i).map(|(_, t)| t)
    }

    /// Records the session leaders the restart restores.
    pub(crate) fn set_leaders(&mut self, mut leaders: KVVec<i32>) {
        leaders.sort_unstable();
        self.leaders = leaders;
    }

    /// Records the pids of the tasks the restart restores.
    pub(crate) fn set_pids(&mut self, mut pids: KVVec<i32>) {
        pids.sort_unstable();
        self.pids = pids;
    }

    /// Records the process groups the restart makes.
    pub(crate) fn set_pgrps(&mut self, mut pgrps: KVVec<i32>) {
        pgrps.sort_unstable();
        self.pgrps = pgrps;
    }

    /// Whether the restart makes process group `pgid`.
    pub(crate) fn restores_pgrp(&self, pgid: i32) -> bool {
        self.pgrps.binary_search(&pgid).is_ok()
    }

    /// Whether the restart restores the task with pid `pid`.
    pub(crate) fn restores_pid(&self, pid: i32) -> bool {
        self.pids.binary_search(&pid).is_ok()
    }

    /// Whether the restart restores the leader of session `sid`.
    pub(crate) fn restores_leader(&self, sid: i32) -> bool {
        self.leaders.binary_search(&sid).is_ok()
    }

    /// Keeps `file`, number `nr` of the kind opened at `path`, for later.
    pub(crate) fn add_spare(&mut self, path: &[u8], nr: u32, file: FileRef) -> Result {
        self.count_files(1)?;
        let mut p = KVec::new();
        p.extend_from_slice(path, GFP_KERNEL)?;
        self.spares.push((p, nr, Some(file)), GFP_KERNEL_ACCOUNT)?;
        Ok(())
    }

    /// How many spare files were kept (taken ones included).
    pub(crate) fn spares(&self) -> usize {
        self.spares.len()
    }

    /// Takes the spare file number `nr` opened at `path`, if there is one.
    pub(crate) fn take_spare(&mut self, path: &[u8], nr: u32) -> Option<FileRef> {
        let f = self
            .spares
            .iter_mut()
            .find(|(p, n, f)| *n == nr && f.is_some() && p.as_slice() == path)?
            .2
            .take()?;
        self.files = self.files.saturating_sub(1);
        Some(f)
    }

    /// A file of the master of the pty `id`.
    pub(crate) fn pty(&mut self, id: ObjId) -> Result<&FileRef> {
        match self.get_mut(id)? {
            Obj::Pty { pty, .. } => Ok(pty),
            _ => {
                ckpt_err!("restart: object {} is not a pty\n", id);
                Err(EINVAL)
            }
        }
    }

    /// Takes the master of the pty `id` for its file record.
    pub(crate) fn take_pty_master(&mut self, id: ObjId) -> Result<FileRef> {
        let master = match self.get_mut(id)? {
            Obj::Pty { master, .. } => master.take(),
            _ => {
                ckpt_err!("restart: object {} is not a pty\n", id);
                return Err(EINVAL);
            }
        };
        let master = master.ok_or_else(|| {
            ckpt_err!("restart: the master of pty {} has two open files\n", id);
            EINVAL
        })?;
        // The master moves to a file object, which counts it again.
        self.files = self.files.saturating_sub(1);
        Ok(master)
    }

    fn get_mut(&mut self, id: ObjId) -> Result<&mut Obj> {
        let i = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .ok_or(EINVAL)?;
        self.objs.get_mut(i).ok_or(EINVAL)
    }

    /// The open file with id `id`.
    pub(crate) fn file(&mut self, id: ObjId) -> Result<&FileRef> {
        match self.get_mut(id)? {
            Obj::File(f) => Ok(f),
            _ => {
                ckpt_err!("restart: object {} is not an open file\n", id);
                Err(EINVAL)
            }
        }
    }

    /// The shared memory file with id `id` (a memfd's and a deleted
    /// file's too: their contents are written the same way).
    pub(crate) fn shmem(&mut self, id: ObjId) -> Result<&FileRef> {
        match self.get_mut(id)? {
            Obj::Shmem(f) | Obj::Memfd { file: f, .. } | Obj::Deleted { file: f, .. } => Ok(f),
            Obj::SysvShm(h) => Ok(h.file()),
            Obj::Tmpfs(t) if t.file().is_some() => t.file().ok_or(EINVAL),
            _ => {
                ckpt_err!("restart: object {} is not shared memory\n", id);
                Err(EINVAL)
            }
        }
    }

    /// The SysV id of segment `id`, for its attachments.
    pub(crate) fn sysv_shm(&mut self, id: ObjId) -> Result<i32> {
        match self.get_mut(id)? {
            Obj::SysvShm(h) => Ok(h.shmid()),
            _ => {
                ckpt_err!("restart: object {} is not a SysV segment\n", id);
                Err(EINVAL)
            }
        }
    }

    /// The file to map shared memory `id` from: the object's own, or for
    /// a read-only mapping of a write-sealed memfd a read-only open file
    /// of it (a mapping of a writable file counts as a writer, and would
    /// stop the seal being added back).
    pub(crate) fn shmem_for_map(&mut self, id: ObjId, writable: bool) -> Result<FileRef> {
        // F_SEAL_WRITE, F_SEAL_FUTURE_WRITE.
        const WRITE_SEALS: u32 = 0x8 | 0x10;
        match self.get_mut(id)? {
            Obj::Memfd { file, seals } if !writable && *seals & WRITE_SEALS != 0 => {
                crate::memfd::open(file, kernel::bindings::O_RDONLY)
            }
            Obj::Shmem(f) | Obj::Memfd { file: f, .. } => Ok(f.clone_ref()),
            _ => {
                ckpt_err!("restart: object {} is not shared memory\n", id);
                Err(EINVAL)
            }
        }
    }

    /// The deleted file with id `id`.
    pub(crate) fn deleted(&mut self, id: ObjId) -> Result<&FileRef> {
        match self.get_mut(id)? {
            Obj::Deleted { file, .. } => Ok(file),
            _ => {
                ckpt_err!("restart: object {} is not a deleted file\n", id);
                Err(EINVAL)
            }
        }
    }

    /// Keeps the established connection `r` in repair mode until
    /// [`Self::finish`].
    /// A TCP connection `child` to put in the queue of `listener` at the
    /// end of the image (`crate::inet::enqueue`), after those before it:
    /// its file counts against `RLIMIT_NOFILE` until then.
    pub(crate) fn add_pending_inet(&mut self, listener: FileRef, child: FileRef) -> Result {
        self.count_files(1)?;
        self.pending_inet.push((listener, child), GFP_KERNEL)?;
        Ok(())
    }

    /// A TCP socket `file` to connect to `addr`, `port` at the end of the
    /// image (`crate::inet::connect_all`), after every queue is refilled.
    pub(crate) fn add_connecting(
        &mut self,
        file: FileRef,
        addr: [u8; 16],
        port: u32,
        id: ObjId,
    ) -> Result {
        self.connecting.push((file, addr, port, id), GFP_KERNEL)?;
        Ok(())
    }

    /// A TCP connection left in repair mode until the end of the image
    /// (`crate::inet::finish`).
    pub(crate) fn add_repairing(&mut self, r: crate::inet::Repairing) -> Result {
        self.repairing.push(r, GFP_KERNEL)?;
        Ok(())
    }

    /// The memfd with id `id`.
    pub(crate) fn memfd(&mut self, id: ObjId) -> Result<&FileRef> {
        match self.get_mut(id)? {
            Obj::Memfd { file, .. } => Ok(file),
            _ => {
                ckpt_err!("restart: object {} is not a memfd\n", id);
                Err(EINVAL)
            }
        }
    }

    /// The end of the image, before any task runs: what waited for every
    /// record (the seals of memfds, which would have stopped their
    /// contents being written or their mappings made).
    pub(crate) fn finish(&mut self) -> Result {
        for obj in self.objs.iter_mut() {
            if let Obj::Tmpfs(t) = obj {
                t.finish()?;
            }
            if let Obj::Pty { pty, flags, .. } = obj {
                crate::pty::finish(pty, *flags).inspect_err(|e| {
                    ckpt_err!(
                        "restart: cannot lock a pty again (flags {:#x}, error {})\n",
                        flags,
                        e.to_errno()
                    );
                })?;
            }
            if let Obj::Deleted { file, mode } = obj {
                crate::deleted::finish(file, *mode).inspect_err(|e| {
                    ckpt_err!(
                        "restart: cannot set the mode of a deleted file again ({:o}, error {})\n",
                        mode,
                        e.to_errno()
                    );
                })?;
            }
            if let Obj::Memfd { file, seals } = obj {
                crate::memfd::seal(file, *seals).inspect_err(|e| {
                    ckpt_err!(
                        "restart: cannot seal a memfd again (seals {:#x}, error {})\n",
                        seals,
                        e.to_errno()
                    );
                })?;
            }
        }
        // Last, what peers see: every socket is made, the connections
        // resume, the listeners' queues fill again, and the connects
        // under way start again.
        crate::inet::finish(&mut self.repairing)?;
        self.repairing = KVVec::new();
        crate::inet::enqueue(&self.pending_inet)?;
        self.pending_inet = KVVec::new();
        crate::inet::connect_all(&self.connecting)?;
        self.connecting = KVVec::new();
        Ok(())
    }

    /// The FIFO with id `id`.
    pub(crate) fn fifo(&mut self, id: ObjId) -> Result<&FileRef> {
        match self.get_mut(id)? {
            Obj::Fifo(f) => Ok(f),
            _ => {
                ckpt_err!("restart: object {} is not a FIFO\n", id);
                Err(EINVAL)
            }
        }
    }

    /// Adds object `id`, one file made anew (by a kind's C helper), for
    /// the file record of kind `kind` (`FILE_*`) that takes it.
    pub(crate) fn add_made(&mut self, id: ObjId, file: FileRef, kind: u32) -> Result {
        self.add(
            id,
            Obj::Made {
                file: Some(file),
                kind,
            },
        )
    }

    /// The file of object `id`, one file made anew of kind `kind`, still
    /// waiting for its file record.
    pub(crate) fn made(&mut self, id: ObjId, kind: u32) -> Result<&FileRef> {
        match self.get_mut(id)? {
            Obj::Made {
                file: Some(file),
                kind: k,
            } if *k == kind => Ok(file),
            _ => {
                ckpt_err!(
                    "restart: object {} is not a file of kind {} not taken yet\n",
                    id,
                    kind
                );
                Err(EINVAL)
            }
        }
    }

    /// Takes the file of object `id`, one file made anew, for its file
    /// record of kind `kind` (`FILE_*`).
    pub(crate) fn take_made(&mut self, id: ObjId, kind: u32) -> Result<FileRef> {
        let file = match self.get_mut(id)? {
            Obj::Made { file, kind: k } if *k == kind => file.take(),
            _ => {
                ckpt_err!("restart: object {} is not of file kind {}\n", id, kind);
                return Err(EINVAL);
            }
        };
        let file = file.ok_or_else(|| {
            ckpt_err!("restart: object {} has two open files\n", id);
            EINVAL
        })?;
        // The file moves to a file object, which counts it again.
        self.files = self.files.saturating_sub(1);
        Ok(file)
    }

    /// Takes the unix socket `id` (a socket on its own, or end 0 or end 1
    /// of a pair) for its file record.
    pub(crate) fn take_unix(&mut self, id: ObjId, end1: bool) -> Result<FileRef> {
        if !end1 && matches!(self.get_mut(id)?, Obj::Made { .. }) {
            return self.take_made(id, crate::image::FILE_UNIX);
        }
        let end = match self.get_mut(id)? {
            Obj::UnixPair { ends: [e0, e1] } => {
                if end1 {
                    e1.take()
                } else {
                    e0.take()
                }
            }
            _ => {
                ckpt_err!("restart: object {} is not a unix socket pair\n", id);
                return Err(EINVAL);
            }
        };
        let end = end.ok_or_else(|| {
            ckpt_err!(
                "restart: end {} of unix socket pair {} is closed or has two open files\n",
                u8::from(end1),
                id
            );
            EINVAL
        })?;
        // The end moves to a file object, which counts it again.
        self.files = self.files.saturating_sub(1);
        Ok(end)
    }

    /// Takes one end of the pipe with id `id` for its file record; a
    /// second record of one end gets another open file of it, opened with
    /// the record's open flags `f_flags`.
    pub(crate) fn take_pipe_end(
        &mut self,
        id: ObjId,
        write: bool,
        f_flags: u32,
    ) -> Result<FileRef> {
        let (end, opened) = match self.get_mut(id)? {
            Obj::Pipe {
                read,
                write: w,
                opened,
            } => (if write { w.take() } else { read.take() }, opened),
            _ => {
                ckpt_err!("restart: object {} is not a pipe\n", id);
                return Err(EINVAL);
            }
        };
        match end {
            Some(end) => {
                if opened.is_none() {
                    *opened = Some(end.clone_ref());
                    self.files = self.files.saturating_add(1);
                }
                // The end moves to a file object, which counts it again.
                self.files = self.files.saturating_sub(1);
                Ok(end)
            }
            None => {
                let from = opened.as_ref().ok_or(EINVAL)?;
                crate::pipe::reopen(from, f_flags).inspect_err(|e| {
                    ckpt_err!(
                        "restart: cannot open end {} of pipe {} again (error {})\n",
                        if write { "write" } else { "read" },
                        id,
                        e.to_errno()
                    );
                })
            }
        }
    }
}
