// SPDX-License-Identifier: GPL-2.0
//! Reading an image: raw records, the decoded items, and the parser that
//! checks each record against the ones before it.

use super::codec::Reader;
use super::*;

/// One raw record: type code and payload, where it was found.
#[derive(Clone, Copy, Debug)]
pub struct RawRecord<'a> {
    /// Raw type code.
    pub kind: u32,
    /// Payload, without padding.
    pub payload: &'a [u8],
    /// Index in the stream.
    pub index: u32,
    /// Byte offset of the `{type, len}` prefix.
    pub offset: u64,
}

/// Splits a buffer into raw records, checking lengths and padding only.
pub struct RawRecords<'a> {
    buf: &'a [u8],
    pos: usize,
    index: u32,
}

impl<'a> RawRecords<'a> {
    /// Iterates over the records of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            index: 0,
        }
    }

    /// Byte offset of the next record.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn next_record(&mut self) -> Result<RawRecord<'a>, DecodeError> {
        let offset = self.pos;
        let err = |record_type, kind| DecodeError {
            index: self.index,
            offset: offset as u64,
            record_type,
            kind,
        };
        let rest = self.buf.get(offset..).unwrap_or(&[]);
        let mut r = Reader::new(rest);
        let kind = r.u32().ok_or(err(None, ErrorKind::Truncated))?;
        let len = r.u32().ok_or(err(Some(kind), ErrorKind::Truncated))?;
        if len > MAX_PAYLOAD_LEN {
            return Err(err(Some(kind), ErrorKind::Oversized(len)));
        }
        // len <= 16 MiB, so none of this can overflow a usize.
        let len = len as usize;
        let pad = padding(len);
        let start = offset
            .checked_add(RECORD_HEADER_LEN)
            .ok_or(err(Some(kind), ErrorKind::Truncated))?;
        let end = start
            .checked_add(len)
            .ok_or(err(Some(kind), ErrorKind::Truncated))?;
        let next = end
            .checked_add(pad)
            .ok_or(err(Some(kind), ErrorKind::Truncated))?;
        let payload = self
            .buf
            .get(start..end)
            .ok_or(err(Some(kind), ErrorKind::Truncated))?;
        let padding = self
            .buf
            .get(end..next)
            .ok_or(err(Some(kind), ErrorKind::Truncated))?;
        if padding.iter().any(|&b| b != 0) {
            return Err(err(Some(kind), ErrorKind::BadPadding));
        }
        let rec = RawRecord {
            kind,
            payload,
            index: self.index,
            offset: offset as u64,
        };
        self.pos = next;
        self.index = self.index.saturating_add(1);
        Ok(rec)
    }
}

impl<'a> Iterator for RawRecords<'a> {
    type Item = Result<RawRecord<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let r = self.next_record();
        if r.is_err() {
            // Stop after the first error: nothing after it can be trusted.
            self.pos = self.buf.len();
        }
        Some(r)
    }
}

/// A decoded record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// The header.
    Header(Header),
    /// The forest table's head.
    Forest(ForestHead),
    /// One task row.
    Task(TaskEntry),
    /// Begins a live task's state.
    TaskState(TaskState),
    /// Its registers.
    Regs(Regs),
    /// Its FPU state: header and XSAVE buffer.
    Xstate(XstateHeader, &'a [u8]),
    /// How its interrupted system call resumes.
    RestartBlock(RestartBlock),
    /// rseq, robust list, limits and more, and the supplementary gids
    /// (`u32` each, little endian).
    TaskMisc(TaskMisc, &'a [u8]),
    /// Its signal state and private pending siginfos.
    Signals(Signals, &'a [u8]),
    /// The process's handlers and shared pending siginfos (leaders only);
    /// decode them with [`Sighand::parse`].
    Sighand(&'a [u8]),
    /// Its memory map (thread group leaders only) and executable's path.
    Mm(MmHeader, &'a [u8]),
    /// One VMA and its file's path (empty if anonymous).
    Vma(Vma, &'a [u8]),
    /// A shared memory object.
    Shmem(ShmemObj),
    /// Contents of a shared memory object.
    ShmemPages(ShmemPagesHeader, &'a [u8]),
    /// A private tmpfs mount of a pod and its mount point.
    PodMount(PodMountObj, &'a [u8]),
    /// A file of the pod's tmpfs mount before it, its path and a link's
    /// target.
    TmpfsFile(TmpfsFileObj, &'a [u8], &'a [u8]),
    /// An eventfd object.
    Eventfd(EventfdObj),
    /// A signalfd object.
    Signalfd(SignalfdObj),
    /// A named pipe object, the bytes in flight and its path.
    Fifo(FifoObj, &'a [u8], &'a [u8]),
    /// A timerfd object.
    Timerfd(TimerfdObj),
    /// An epoll set and its items' bytes ([`EpollObj::items`]).
    Epoll(EpollObj, &'a [u8]),
    /// Two connected unix sockets and their queued messages.
    UnixPair(UnixPairObj, [UnixEndData<'a>; 2]),
    /// A unix socket on its own, with its name and queued datagrams.
    UnixSock(UnixSockObj, UnixEndData<'a>),
    /// A connection waiting to be accepted, with its client's state.
    UnixPending(UnixPendingObj, UnixEndData<'a>),
    /// A TCP, UDP or UDP-Lite socket, its options, and its connection or
    /// its queued datagrams.
    InetSock(InetSockObj, InetSockData<'a>),
    /// A TCP connection waiting in a listener's queue, as an `InetSock`.
    InetPending(InetPendingObj, InetSockObj, InetSockData<'a>),
    /// A packet socket, its options, filter and queued frames.
    PacketSock(PacketSockObj, PacketSockData<'a>),
    /// A memfd and its name (its contents follow as shmem pages).
    Memfd(MemfdObj, &'a [u8]),
    /// A pty, its ptmx path and its two sides.
    Pty(PtyObj, &'a [u8], [PtySideData<'a>; 2]),
    /// A deleted file and its path (its contents follow as shmem pages).
    DeletedFile(DeletedFileObj, &'a [u8]),
    /// A pidfd.
    Pidfd(PidfdObj),
    /// An inotify instance, its watches' and its events' bytes
    /// ([`InotifyObj::watches`], [`InotifyObj::events`]).
    Inotify(InotifyObj, &'a [u8], &'a [u8]),
    /// The open files' head, the working directory and the root.
    Files(FilesHeader, &'a [u8], &'a [u8]),
    /// An open file object and its path.
    File(FileObj, &'a [u8]),
    /// A pipe object and the bytes in flight.
    Pipe(PipeObj, &'a [u8]),
    /// One open file descriptor.
    Fd(Fd),
    /// A lock the process holds.
    FileLock(FileLockRec),
    /// How an open file signals its I/O.
    FileOwner(FileOwnerRec),
    /// The process's controlling terminal.
    Ctty(CttyRec),
    /// The processes whose descriptor table or fs context it uses.
    Share(ShareRec),
    /// The namespaces of a whole-namespace image.
    Pod(PodRec),
    /// The sysctls of a pod's own IPC namespace.
    PodIpc(PodIpcRec),
    /// The loopback device of a pod's own network namespace.
    PodNet(PodNetRec),
    /// How a task is scheduled, and its CPU affinity mask's bytes.
    TaskSched(TaskSched, &'a [u8]),
    /// The process's auxiliary vector's bytes ([`auxv_words`]).
    Auxv(&'a [u8]),
    /// The process's cgroup below its tree's job cgroup
    /// ([`check_cgroup_path`]).
    Cgroup(&'a [u8]),
    /// A process's POSIX timers and their bytes
    /// ([`PosixTimers::timers`]).
    PosixTimers(PosixTimers, &'a [u8]),
    /// A SysV shared memory segment (its contents follow).
    SysvShm(SysvShmObj),
    /// A SysV semaphore set and its semaphores' bytes
    /// ([`SysvSemObj::values`]).
    SysvSem(SysvSemObj, &'a [u8]),
    /// A SysV message queue and its messages' bytes
    /// ([`SysvMsgObj::messages`]).
    SysvMsg(SysvMsgObj, &'a [u8]),
    /// A POSIX message queue, its name and its messages' bytes
    /// ([`PosixMqObj::messages`]).
    PosixMq(PosixMqObj, &'a [u8], &'a [u8]),
    /// A message queue notification of the process.
    MqNotify(MqNotifyRec),
    /// A process's `SEM_UNDO` adjustments on one set, and their bytes
    /// ([`SemUndoRec::adjustments`]).
    SemUndo(SemUndoRec, &'a [u8]),
    /// Consecutive pages' contents.
    Pages(PagesHeader, &'a [u8]),
    /// Ends a task's state.
    TaskEnd,
    /// The tail.
    Tail(Tail),
}

/// The record of a shared object: it may appear anywhere after the forest
/// table, and is written before the first record that names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjRecord<'a> {
    /// An open file object and its path.
    File(FileObj, &'a [u8]),
    /// A pipe object and the bytes in flight.
    Pipe(PipeObj, &'a [u8]),
    /// A shared memory object.
    Shmem(ShmemObj),
    /// Contents of the shared memory object written last.
    ShmemPages(ShmemPagesHeader, &'a [u8]),
    /// A private tmpfs mount of a pod and its mount point.
    PodMount(PodMountObj, &'a [u8]),
    /// A file of the pod's tmpfs mount before it, its path and a link's
    /// target.
    TmpfsFile(TmpfsFileObj, &'a [u8], &'a [u8]),
    /// An eventfd.
    Eventfd(EventfdObj),
    /// A signalfd.
    Signalfd(SignalfdObj),
    /// A named pipe, the bytes in flight and its path.
    Fifo(FifoObj, &'a [u8], &'a [u8]),
    /// A timerfd.
    Timerfd(TimerfdObj),
    /// An epoll set and its items' bytes ([`EpollObj::items`]).
    Epoll(EpollObj, &'a [u8]),
    /// Two connected unix sockets and their queued messages.
    UnixPair(UnixPairObj, [UnixEndData<'a>; 2]),
    /// A unix socket on its own, with its name and queued datagrams.
    UnixSock(UnixSockObj, UnixEndData<'a>),
    /// A connection waiting to be accepted, with its client's state.
    UnixPending(UnixPendingObj, UnixEndData<'a>),
    /// A TCP, UDP or UDP-Lite socket, its options, and its connection or
    /// its queued datagrams.
    InetSock(InetSockObj, InetSockData<'a>),
    /// A TCP connection waiting in a listener's queue, as an `InetSock`.
    InetPending(InetPendingObj, InetSockObj, InetSockData<'a>),
    /// A packet socket, its options, filter and queued frames.
    PacketSock(PacketSockObj, PacketSockData<'a>),
    /// A memfd and its name (its contents follow as shmem pages).
    Memfd(MemfdObj, &'a [u8]),
    /// A pty, its ptmx path and its two sides.
    Pty(PtyObj, &'a [u8], [PtySideData<'a>; 2]),
    /// A deleted file and its path (its contents follow as shmem pages).
    DeletedFile(DeletedFileObj, &'a [u8]),
    /// A pidfd.
    Pidfd(PidfdObj),
    /// An inotify instance, its watches' and its events' bytes
    /// ([`InotifyObj::watches`], [`InotifyObj::events`]).
    Inotify(InotifyObj, &'a [u8], &'a [u8]),
    /// A SysV shared memory segment of a pod.
    SysvShm(SysvShmObj),
    /// A SysV semaphore set of a pod and its semaphores' bytes.
    SysvSem(SysvSemObj, &'a [u8]),
    /// A SysV message queue of a pod and its messages' bytes.
    SysvMsg(SysvMsgObj, &'a [u8]),
    /// A POSIX message queue of a pod, its name and its messages' bytes.
    PosixMq(PosixMqObj, &'a [u8], &'a [u8]),
}

impl<'a> Item<'a> {
    /// The object record this item is, or `None` for the other records.
    pub fn object(self) -> Option<ObjRecord<'a>> {
        match self {
            Item::File(f, path) => Some(ObjRecord::File(f, path)),
            Item::Pipe(p, data) => Some(ObjRecord::Pipe(p, data)),
            Item::Shmem(s) => Some(ObjRecord::Shmem(s)),
            Item::ShmemPages(h, data) => Some(ObjRecord::ShmemPages(h, data)),
            Item::Eventfd(e) => Some(ObjRecord::Eventfd(e)),
            Item::Signalfd(s) => Some(ObjRecord::Signalfd(s)),
            Item::Fifo(f, data, path) => Some(ObjRecord::Fifo(f, data, path)),
            Item::Timerfd(t) => Some(ObjRecord::Timerfd(t)),
            Item::Epoll(e, items) => Some(ObjRecord::Epoll(e, items)),
            Item::UnixPair(u, ends) => Some(ObjRecord::UnixPair(u, ends)),
            Item::UnixSock(u, end) => Some(ObjRecord::UnixSock(u, end)),
            Item::UnixPending(u, end) => Some(ObjRecord::UnixPending(u, end)),
            Item::InetSock(s, opts) => Some(ObjRecord::InetSock(s, opts)),
            Item::InetPending(p, s, d) => Some(ObjRecord::InetPending(p, s, d)),
            Item::PacketSock(s, d) => Some(ObjRecord::PacketSock(s, d)),
            Item::Memfd(m, name) => Some(ObjRecord::Memfd(m, name)),
            Item::Pty(t, path, sides) => Some(ObjRecord::Pty(t, path, sides)),
            Item::DeletedFile(d, path) => Some(ObjRecord::DeletedFile(d, path)),
            Item::Pidfd(p) => Some(ObjRecord::Pidfd(p)),
            Item::Inotify(o, w, e) => Some(ObjRecord::Inotify(o, w, e)),
            Item::SysvShm(o) => Some(ObjRecord::SysvShm(o)),
            Item::SysvSem(o, v) => Some(ObjRecord::SysvSem(o, v)),
            Item::SysvMsg(o, m) => Some(ObjRecord::SysvMsg(o, m)),
            Item::PosixMq(o, n, m) => Some(ObjRecord::PosixMq(o, n, m)),
            Item::PodMount(m, path) => Some(ObjRecord::PodMount(m, path)),
            Item::TmpfsFile(f, path, target) => Some(ObjRecord::TmpfsFile(f, path, target)),
            Item::Header(_)
            | Item::Forest(_)
            | Item::Task(_)
            | Item::TaskState(_)
            | Item::Regs(_)
            | Item::Xstate(..)
            | Item::RestartBlock(_)
            | Item::TaskMisc(..)
            | Item::Signals(..)
            | Item::Sighand(_)
            | Item::Mm(..)
            | Item::Vma(..)
            | Item::Auxv(_)
            | Item::Cgroup(_)
            | Item::Files(..)
            | Item::Fd(_)
            | Item::FileLock(_)
            | Item::FileOwner(_)
            | Item::MqNotify(_)
            | Item::SemUndo(..)
            | Item::Ctty(_)
            | Item::Share(_)
            | Item::Pod(_)
            | Item::PodIpc(_)
            | Item::PodNet(_)
            | Item::TaskSched(..)
            | Item::PosixTimers(..)
            | Item::Pages(..)
            | Item::TaskEnd
            | Item::Tail(_) => None,
        }
    }
}

/// Checks record order and counts, one raw record at a time: the decoder
/// for a stream read piecewise (the kernel reads images this way).
///
/// The order is [`Order`]'s ([`TASK_RECORDS`] for a task's records);
/// the parser adds what needs the decoded records: counts, object ids
/// (every reference names an object defined before it), pages in address
/// order, and the tail's totals.
#[derive(Clone, Copy, Debug)]
pub struct Parser {
    order: Order,
    /// Objects defined so far: ids `1..=objects` may be referred to.
    objects: u32,
    /// The shared memory object written last and its size: its contents
    /// follow it.
    shmem: Option<(ObjId, u64)>,
    /// The lowest address the next pages record of the task may start at
    /// (they are written in order).
    pages_next: u64,
    /// Whether the header says the image is of a subtree (`None` before
    /// the header): a pod record is only in one of a whole namespace.
    subtree: Option<bool>,
    /// Task rows read so far.
    rows: u32,
    /// Whether the pod record says the pod has an IPC namespace of its
    /// own, whose SysV segments the image may hold.
    pod_ipc: bool,
    /// The pod has a mount namespace of its own ([`POD_NEWNS`]).
    pod_mnt: bool,
    /// The pod mount points seen, by index in [`POD_MOUNT_POINTS`].
    pod_mounts: u8,
    /// Whether the files of a pod mount may follow, and whether its root
    /// directory was read.
    tmpfs_root: Option<bool>,
    /// A pod with its own IPC namespace: its pod-ipc record is next.
    need_pod_ipc: bool,
    /// A pod with its own network namespace whose `pod-net` record is yet
    /// to come (after its `pod-ipc` record).
    need_pod_net: bool,
    /// Whether a task's records began (SysV objects come before).
    tasks_began: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser expecting the header.
    pub const fn new() -> Self {
        Self {
            order: Order::new(),
            objects: 0,
            shmem: None,
            pages_next: 0,
            subtree: None,
            rows: 0,
            pod_ipc: false,
            pod_mnt: false,
            pod_mounts: 0,
            tmpfs_root: None,
            need_pod_ipc: false,
            need_pod_net: false,
            tasks_began: false,
        }
    }

    /// Whether the tail was read: the image is complete.
    pub fn is_done(&self) -> bool {
        self.order.is_done()
    }

    /// A new object must take the next id.
    fn define(&mut self, what: &'static str, id: ObjId) -> Result<(), ErrorKind> {
        if Some(id) != self.objects.checked_add(1) {
            return Err(ErrorKind::BadField(what, id.into()));
        }
        self.objects = id;
        Ok(())
    }

    /// A reference must name an object defined before it.
    fn check_ref(&self, what: &'static str, id: ObjId) -> Result<(), ErrorKind> {
        if id == 0 || id > self.objects {
            return Err(ErrorKind::BadField(what, id.into()));
        }
        Ok(())
    }

    /// Every descriptor in flight in a unix socket's messages names an
    /// open file written before the socket.
    fn check_in_flight(&self, end: &UnixEndData<'_>) -> Result<(), ErrorKind> {
        for f in end.fds() {
            self.check_ref("unix descriptor in flight", f.file)?;
        }
        Ok(())
    }

    /// Decodes the next record of the stream.
    pub fn feed<'a>(&mut self, rec: RawRecord<'a>) -> Result<Item<'a>, ErrorKind> {
        let kind = RecordType::from_u32(rec.kind).ok_or(ErrorKind::UnknownType(rec.kind))?;
        if self.order.is_done() {
            return Err(ErrorKind::TrailingData);
        }
        // Whether it fits here, before its payload is looked at: a record
        // out of place is reported as such, whatever it holds.
        let out_of_order = |e: OutOfOrder| {
            if e.too_many_tasks {
                ErrorKind::BadField("task states", 0)
            } else {
                ErrorKind::Unexpected {
                    found: kind,
                    expected: e.expected,
                }
            }
        };
        let mut probe = self.order;
        probe.feed(kind, None).map_err(out_of_order)?;
        let p = rec.payload;
        let exact = |len: usize| {
            if p.len() == len {
                Ok(())
            } else {
                Err(ErrorKind::BadLength {
                    len: u32::try_from(p.len()).unwrap_or(u32::MAX),
                    expected: len as u32,
                })
            }
        };
        // Every record type is decoded here, with no catch-all: a new type
        // does not compile until it is decoded.
        if self.need_pod_ipc && kind != RecordType::PodIpc {
            return Err(ErrorKind::BadField("pod without its pod-ipc record", 0));
        }
        if !self.need_pod_ipc && self.need_pod_net && kind != RecordType::PodNet {
            return Err(ErrorKind::BadField("pod without its pod-net record", 0));
        }
        // A pod mount's files follow it, nothing else between.
        if !matches!(
            kind,
            RecordType::PodMount | RecordType::TmpfsFile | RecordType::ShmemPages
        ) {
            self.tmpfs_root = None;
        }
        let (item, count) = match kind {
            RecordType::Header => {
                exact(Header::LEN)?;
                let h = Header::decode(p)?;
                self.subtree = Some(h.flags & CHECKPOINT_SUBTREE != 0);
                (Item::Header(h), None)
            }
            RecordType::Forest => {
                exact(ForestHead::LEN)?;
                let f = ForestHead::decode(p)?;
                (Item::Forest(f), Some(f.nr_tasks))
            }
            RecordType::Task => {
                exact(TaskEntry::LEN)?;
                let t = TaskEntry::decode(p)?;
                // The first row is the root's, and only it.
                if (t.flags & TASK_ROOT != 0) != (self.rows == 0) {
                    return Err(ErrorKind::BadField("root flag of task", t.pid.into()));
                }
                self.rows = self.rows.saturating_add(1);
                (Item::Task(t), None)
            }
            RecordType::TaskState => {
                self.tasks_began = true;
                exact(TaskState::LEN)?;
                self.pages_next = 0;
                (Item::TaskState(TaskState::decode(p)?), None)
            }
            RecordType::Regs => {
                exact(Regs::LEN)?;
                (Item::Regs(Regs::decode(p)?), None)
            }
            RecordType::Xstate => {
                let (h, data) = XstateHeader::decode(p)?;
                (Item::Xstate(h, data), None)
            }
            RecordType::RestartBlock => {
                exact(RestartBlock::LEN)?;
                (Item::RestartBlock(RestartBlock::decode(p)?), None)
            }
            RecordType::TaskMisc => {
                let (m, groups) = TaskMisc::decode(p)?;
                (Item::TaskMisc(m, groups), None)
            }
            RecordType::TaskSched => {
                let (s, mask) = TaskSched::decode(p)?;
                (Item::TaskSched(s, mask), None)
            }
            RecordType::PosixTimers => {
                let (h, timers) = PosixTimers::decode(p)?;
                (Item::PosixTimers(h, timers), None)
            }
            RecordType::Signals => {
                let (s, infos) = Signals::decode(p)?;
                (Item::Signals(s, infos), None)
            }
            RecordType::Sighand => {
                Sighand::decode(p)?;
                (Item::Sighand(p), None)
            }
            RecordType::Mm => {
                let (m, exe) = MmHeader::decode(p)?;
                (Item::Mm(m, exe), Some(m.nr_vmas))
            }
            RecordType::Vma => {
                let (v, path) = Vma::decode(p)?;
                if v.obj != 0 {
                    self.check_ref("vma shared memory", v.obj)?;
                }
                (Item::Vma(v, path), None)
            }
            RecordType::Auxv => {
                check_auxv(p)?;
                (Item::Auxv(p), None)
            }
            RecordType::Cgroup => {
                check_cgroup_path(p)?;
                (Item::Cgroup(p), None)
            }
            RecordType::Files => {
                let (h, cwd, root) = FilesHeader::decode(p)?;
                (Item::Files(h, cwd, root), Some(h.nr_fds))
            }
            RecordType::Fd => {
                exact(Fd::LEN)?;
                let f = Fd::decode(p)?;
                self.check_ref("fd file", f.file)?;
                (Item::Fd(f), None)
            }
            RecordType::FileLock => {
                exact(FileLockRec::LEN)?;
                let l = FileLockRec::decode(p)?;
                self.check_ref("lock file", l.file)?;
                (Item::FileLock(l), None)
            }
            RecordType::FileOwner => {
                exact(FileOwnerRec::LEN)?;
                let o = FileOwnerRec::decode(p)?;
                self.check_ref("owner file", o.file)?;
                (Item::FileOwner(o), None)
            }
            RecordType::SemUndo => {
                // Only on the sets of a pod's own IPC namespace.
                if !self.pod_ipc {
                    return Err(ErrorKind::BadField(
                        "SEM_UNDO adjustments outside a pod's own IPC namespace",
                        0,
                    ));
                }
                let (u, adj) = SemUndoRec::decode(p)?;
                (Item::SemUndo(u, adj), None)
            }
            RecordType::MqNotify => {
                exact(MqNotifyRec::LEN)?;
                (Item::MqNotify(MqNotifyRec::decode(p)?), None)
            }
            RecordType::Ctty => {
                exact(CttyRec::LEN)?;
                let c = CttyRec::decode(p)?;
                self.check_ref("controlling terminal", c.pty)?;
                (Item::Ctty(c), None)
            }
            RecordType::Share => {
                exact(ShareRec::LEN)?;
                (Item::Share(ShareRec::decode(p)?), None)
            }
            RecordType::Pod => {
                exact(PodRec::LEN)?;
                if self.subtree != Some(false) {
                    return Err(ErrorKind::BadField(
                        "pod record in an image of a subtree",
                        0,
                    ));
                }
                let pod = PodRec::decode(p)?;
                self.pod_ipc = pod.flags & POD_NEWIPC != 0;
                self.pod_mnt = pod.flags & POD_NEWNS != 0;
                self.need_pod_ipc = self.pod_ipc;
                self.need_pod_net = pod.flags & POD_NEWNET != 0;
                (Item::Pod(pod), None)
            }
            RecordType::PodIpc => {
                if p.len() != PodIpcRec::LEN_BEFORE_MQ && p.len() != PodIpcRec::LEN_BEFORE_NEXT_ID {
                    exact(PodIpcRec::LEN)?;
                }
                if !self.need_pod_ipc {
                    return Err(ErrorKind::BadField(
                        "pod-ipc record of a pod without its own IPC namespace",
                        0,
                    ));
                }
                self.need_pod_ipc = false;
                (Item::PodIpc(PodIpcRec::decode(p)?), None)
            }
            RecordType::PodNet => {
                exact(PodNetRec::LEN)?;
                if !self.need_pod_net {
                    return Err(ErrorKind::BadField(
                        "pod-net record of a pod without its own network namespace",
                        0,
                    ));
                }
                self.need_pod_net = false;
                (Item::PodNet(PodNetRec::decode(p)?), None)
            }
            RecordType::File => {
                let (f, path) = FileObj::decode(p)?;
                if f.obj != 0 {
                    self.check_ref("file object", f.obj)?;
                }
                self.define("file id", f.id)?;
                (Item::File(f, path), None)
            }
            RecordType::Pipe => {
                let (pipe, data) = PipeObj::decode(p)?;
                self.define("pipe id", pipe.id)?;
                (Item::Pipe(pipe, data), None)
            }
            RecordType::Shmem => {
                exact(ShmemObj::LEN)?;
                let s = ShmemObj::decode(p)?;
                self.define("shmem id", s.id)?;
                self.shmem = Some((s.id, s.size));
                (Item::Shmem(s), None)
            }
            RecordType::ShmemPages => {
                let Some((id, size)) = self.shmem else {
                    return Err(ErrorKind::Unexpected {
                        found: kind,
                        expected: self.order.expected(),
                    });
                };
                let (h, data) = ShmemPagesHeader::decode(p, size)?;
                if h.id != id {
                    return Err(ErrorKind::BadField("shmem pages id", h.id.into()));
                }
                (Item::ShmemPages(h, data), None)
            }
            RecordType::Eventfd => {
                exact(EventfdObj::LEN)?;
                let e = EventfdObj::decode(p)?;
                self.define("eventfd id", e.id)?;
                (Item::Eventfd(e), None)
            }
            RecordType::Signalfd => {
                exact(SignalfdObj::LEN)?;
                let s = SignalfdObj::decode(p)?;
                self.define("signalfd id", s.id)?;
                (Item::Signalfd(s), None)
            }
            RecordType::Fifo => {
                let (f, data, path) = FifoObj::decode(p)?;
                self.define("fifo id", f.id)?;
                (Item::Fifo(f, data, path), None)
            }
            RecordType::Timerfd => {
                exact(TimerfdObj::LEN)?;
                let t = TimerfdObj::decode(p)?;
                self.define("timerfd id", t.id)?;
                (Item::Timerfd(t), None)
            }
            RecordType::Epoll => {
                let (e, items) = EpollObj::decode(p)?;
                for item in EpollObj::items(items) {
                    self.check_ref("epoll item file", item?.file)?;
                }
                self.define("epoll id", e.id)?;
                (Item::Epoll(e, items), None)
            }
            RecordType::UnixPair => {
                let (u, ends) = UnixPairObj::decode(p)?;
                for e in ends.iter() {
                    self.check_in_flight(e)?;
                }
                self.define("unix pair id", u.id)?;
                (Item::UnixPair(u, ends), None)
            }
            RecordType::UnixSock => {
                let (u, end) = UnixSockObj::decode(p)?;
                self.check_in_flight(&end)?;
                self.define("unix socket id", u.id)?;
                (Item::UnixSock(u, end), None)
            }
            RecordType::InetSock => {
                let (s, opts) = InetSockObj::decode(p)?;
                self.define("inet socket id", s.id)?;
                (Item::InetSock(s, opts), None)
            }
            RecordType::PacketSock => {
                let (s, d) = PacketSockObj::decode(p)?;
                self.define("packet socket id", s.id)?;
                (Item::PacketSock(s, d), None)
            }
            RecordType::InetPending => {
                let (u, s, d) = InetPendingObj::decode(p)?;
                self.check_ref("inet pending listener", u.listener)?;
                self.define("inet pending id", s.id)?;
                (Item::InetPending(u, s, d), None)
            }
            RecordType::UnixPending => {
                let (u, end) = UnixPendingObj::decode(p)?;
                self.check_ref("unix pending listener", u.listener)?;
                self.check_in_flight(&end)?;
                self.define("unix pending id", u.id)?;
                (Item::UnixPending(u, end), None)
            }
            RecordType::SysvShm => {
                exact(SysvShmObj::LEN)?;
                // A pod's own IPC namespace's segments, or those a tree
                // attaches in its caller's: made by the first task restored
                // (a pod's init), before its own records.
                if self.tasks_began {
                    return Err(ErrorKind::BadField(
                        "SysV segment after the first task's records",
                        0,
                    ));
                }
                let o = SysvShmObj::decode(p)?;
                self.define("SysV segment id", o.id)?;
                // Its contents follow, as a shared memory object's do.
                self.shmem = Some((o.id, o.pages_size()));
                (Item::SysvShm(o), None)
            }
            RecordType::SysvMsg => {
                if !self.pod_ipc || self.tasks_began {
                    return Err(ErrorKind::BadField(
                        "SysV queue outside a pod's own IPC namespace",
                        0,
                    ));
                }
                let (o, msgs) = SysvMsgObj::decode(p)?;
                self.define("SysV queue id", o.id)?;
                (Item::SysvMsg(o, msgs), None)
            }
            RecordType::PosixMq => {
                // Queues belong to a pod's own IPC namespace too, made by
                // its init before its own records.
                if !self.pod_ipc || self.tasks_began {
                    return Err(ErrorKind::BadField(
                        "POSIX message queue outside a pod's own IPC namespace",
                        0,
                    ));
                }
                let (o, name, msgs) = PosixMqObj::decode(p)?;
                self.define("message queue id", o.id)?;
                (Item::PosixMq(o, name, msgs), None)
            }
            RecordType::SysvSem => {
                if !self.pod_ipc || self.tasks_began {
                    return Err(ErrorKind::BadField(
                        "SysV set outside a pod's own IPC namespace",
                        0,
                    ));
                }
                let (o, vals) = SysvSemObj::decode(p)?;
                self.define("SysV set id", o.id)?;
                (Item::SysvSem(o, vals), None)
            }
            RecordType::PodMount => {
                if !self.pod_mnt || self.tasks_began {
                    return Err(ErrorKind::BadField(
                        "pod mount outside a pod's own mount namespace",
                        0,
                    ));
                }
                let (m, path) = PodMountObj::decode(p)?;
                let bit = POD_MOUNT_POINTS
                    .iter()
                    .position(|&q| q == path)
                    .map_or(0, |i| 1u8 << i);
                if self.pod_mounts & bit != 0 {
                    return Err(ErrorKind::BadField("pod mount point twice", m.id.into()));
                }
                self.pod_mounts |= bit;
                self.define("pod mount id", m.id)?;
                self.tmpfs_root = Some(false);
                (Item::PodMount(m, path), None)
            }
            RecordType::TmpfsFile => {
                let Some(root) = self.tmpfs_root else {
                    return Err(ErrorKind::BadField("tmpfs file outside a pod mount", 0));
                };
                let (f, path, target) = TmpfsFileObj::decode(p)?;
                // The mount's root directory first, and only once.
                if path.is_empty() == root || (!root && f.kind != TMPFS_DIR) {
                    return Err(ErrorKind::BadField("tmpfs root directory", f.id.into()));
                }
                self.tmpfs_root = Some(true);
                if f.kind == TMPFS_LINK {
                    self.check_ref("tmpfs link", f.link)?;
                }
                self.define("tmpfs file id", f.id)?;
                // A regular file's contents follow, as a shared memory
                // object's do.
                self.shmem = Some((f.id, f.pages_size()));
                (Item::TmpfsFile(f, path, target), None)
            }
            RecordType::Memfd => {
                let (m, name) = MemfdObj::decode(p)?;
                self.define("memfd id", m.id)?;
                // Its contents follow, as a shared memory object's do.
                self.shmem = Some((m.id, m.pages_size()));
                (Item::Memfd(m, name), None)
            }
            RecordType::Pty => {
                let (t, path, sides) = PtyObj::decode(p)?;
                self.define("pty id", t.id)?;
                (Item::Pty(t, path, sides), None)
            }
            RecordType::DeletedFile => {
                let (d, path) = DeletedFileObj::decode(p)?;
                self.define("deleted file id", d.id)?;
                // Its contents follow, as a shared memory object's do.
                self.shmem = Some((d.id, d.pages_size()));
                (Item::DeletedFile(d, path), None)
            }
            RecordType::Pidfd => {
                exact(PidfdObj::LEN)?;
                let o = PidfdObj::decode(p)?;
                self.define("pidfd id", o.id)?;
                (Item::Pidfd(o), None)
            }
            RecordType::Inotify => {
                let (o, watches, events) = InotifyObj::decode(p)?;
                self.define("inotify id", o.id)?;
                (Item::Inotify(o, watches, events), None)
            }
            RecordType::Pages => {
                let (h, data) = PagesHeader::decode(p)?;
                if h.vaddr < self.pages_next {
                    return Err(ErrorKind::BadField("pages address", h.vaddr as i64));
                }
                self.pages_next = h.vaddr.saturating_add(u64::from(h.nr) * PAGE_SIZE as u64);
                (Item::Pages(h, data), None)
            }
            RecordType::TaskEnd => {
                exact(0)?;
                (Item::TaskEnd, None)
            }
            RecordType::Tail => {
                exact(Tail::LEN)?;
                let t = Tail::decode(p)?;
                if t.nr_records != rec.index || t.bytes != rec.offset {
                    return Err(ErrorKind::TailMismatch);
                }
                (Item::Tail(t), None)
            }
        };
        self.order.feed(kind, count).map_err(out_of_order)?;
        Ok(item)
    }
}

/// Decodes a whole image front to back, checking record order and counts.
///
/// Yields each record as an [`Item`], then `None`; after the first error it
/// yields that error and then `None`. An image that stops before its tail
/// yields [`ErrorKind::Truncated`].
pub struct ImageDecoder<'a> {
    raw: RawRecords<'a>,
    parser: Parser,
    failed: bool,
}

impl<'a> ImageDecoder<'a> {
    /// Reads the image in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            raw: RawRecords::new(buf),
            parser: Parser::new(),
            failed: false,
        }
    }
}

impl<'a> Iterator for ImageDecoder<'a> {
    type Item = Result<Item<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rec = match self.raw.next() {
            Some(Ok(rec)) => rec,
            Some(Err(e)) => {
                self.failed = true;
                return Some(Err(e));
            }
            None if self.parser.is_done() => return None,
            None => {
                self.failed = true;
                return Some(Err(DecodeError {
                    index: self.raw.index,
                    offset: self.raw.pos as u64,
                    record_type: None,
                    kind: ErrorKind::Truncated,
                }));
            }
        };
        match self.parser.feed(rec) {
            Ok(item) => Some(Ok(item)),
            Err(kind) => {
                self.failed = true;
                Some(Err(DecodeError {
                    index: rec.index,
                    offset: rec.offset,
                    record_type: Some(rec.kind),
                    kind,
                }))
            }
        }
    }
}
