// SPDX-License-Identifier: GPL-2.0
//! The kernel-ckpt image format.
//!
//! One `#![no_std]`, `core`-only definition of the image, compiled into the
//! kernel (`kernel/ckpt/ckpt.rs` includes this file with `#[path]`) and into
//! the host tools (`ckpt inspect`, the test suite), so that writer and reader
//! cannot drift apart.
//!
//! An image is a stream of records, written in order so that it can be read
//! from a pipe:
//!
//! ```text
//! header → forest → task × nr_tasks → tail
//! ```
//!
//! Each record is `{type: u32, len: u32, payload[len]}` in little-endian
//! byte order, followed by zero bytes up to the next multiple of 8.
//!
//! Decoding never panics, whatever the input: every access is bounds
//! checked, all arithmetic on image data is checked, and every error names
//! the record (index and type) and the byte offset where it was found.

#![no_std]
#![forbid(unsafe_code)]

#[macro_use]
#[path = "codec.rs"]
mod codec;
use codec::Writer;

#[path = "order.rs"]
mod order;
pub use order::{task_order_text, Expected, Order, OutOfOrder, Step, Times, TASK_RECORDS};

// The record layouts, each in a file named like the kernel file that
// writes it.
#[path = "checkpoint.rs"]
mod checkpoint;
#[path = "deleted.rs"]
mod deleted;
#[path = "epoll.rs"]
mod epoll;
#[path = "eventfd.rs"]
mod eventfd;
#[path = "fdtable.rs"]
mod fdtable;
#[path = "fifo.rs"]
mod fifo;
#[path = "forest.rs"]
mod forest;
#[path = "fown.rs"]
mod fown;
#[path = "inet.rs"]
mod inet;
#[path = "inotify.rs"]
mod inotify;
#[path = "locks.rs"]
mod locks;
#[path = "memfd.rs"]
mod memfd;
#[path = "mm.rs"]
mod mm;
#[path = "open_file.rs"]
mod open_file;
#[path = "packet.rs"]
mod packet;
#[path = "pidfd.rs"]
mod pidfd;
#[path = "pipe.rs"]
mod pipe;
#[path = "pod.rs"]
mod pod;
#[path = "posix_mq.rs"]
mod posix_mq;
#[path = "posix_timers.rs"]
mod posix_timers;
#[path = "pty.rs"]
mod pty;
#[path = "regs.rs"]
mod regs;
#[path = "shmem.rs"]
mod shmem;
#[path = "signal.rs"]
mod signal;
#[path = "signalfd.rs"]
mod signalfd;
#[path = "task.rs"]
mod task;
#[path = "timerfd.rs"]
mod timerfd;
#[path = "unix.rs"]
mod unix;
#[path = "writer.rs"]
mod writer;
pub use checkpoint::*;
pub use deleted::*;
pub use epoll::*;
pub use eventfd::*;
pub use fdtable::*;
pub use fifo::*;
pub use forest::*;
pub use fown::*;
pub use inet::*;
pub use inotify::*;
pub use locks::*;
pub use memfd::*;
pub use mm::*;
pub use open_file::*;
pub use packet::*;
pub use pidfd::*;
pub use pipe::*;
pub use pod::*;
pub use posix_mq::*;
pub use posix_timers::*;
pub use pty::*;
pub use regs::*;
pub use shmem::*;
pub use signal::*;
pub use signalfd::*;
pub use task::*;
pub use timerfd::*;
pub use unix::*;
pub use writer::*;

#[path = "error.rs"]
mod error;
pub use error::*;
#[path = "parser.rs"]
mod parser;
pub use parser::*;

/// x86_64 number of `checkpoint(2)` (the first free one after `mseal`).
pub const SYS_CHECKPOINT: i64 = 463;
/// x86_64 number of `restart(2)`.
pub const SYS_RESTART: i64 = 464;

/// `checkpoint(2)` flag: `pid` is the root of a subtree, not the init task
/// of its pid namespace (mirrors `include/uapi/linux/checkpoint.h`).
pub const CHECKPOINT_SUBTREE: u64 = 0x1;
/// `checkpoint(2)` flag: once the image is written, put the tree's
/// established TCP connections in TCP repair mode (`CAP_NET_ADMIN` over
/// their network namespace), so that they close without a word to their
/// peers when the tree is killed next (`ckpt checkpoint --kill`).
pub const CHECKPOINT_TCP_SILENT: u64 = 0x2;
/// `checkpoint(2)` flag: take each process's memory as a copy-on-write
/// snapshot, as fork(2) copies it, and write nothing to the image until
/// every task's state is taken: the tree may be thawed as soon as the
/// image has data, and runs on while its pages are written. Not with
/// [`CHECKPOINT_TCP_SILENT`].
pub const CHECKPOINT_COW: u64 = 0x4;
/// Every flag `checkpoint(2)` knows; any other bit gives `-EINVAL`.
pub const CHECKPOINT_FLAGS_MASK: u64 = CHECKPOINT_SUBTREE | CHECKPOINT_TCP_SILENT | CHECKPOINT_COW;
/// `restart(2)` flag: make deleted files again as unnamed files in the
/// restoring task's working directory rather than where they were (for a
/// directory gone since; `ckpt restart --deleted-in DIR`).
pub const RESTART_DELETED_HERE: u64 = 0x1;
/// Every flag `restart(2)` knows; any other bit gives `-EINVAL`.
pub const RESTART_FLAGS_MASK: u64 = RESTART_DELETED_HERE;
/// `struct restart_report` of the uapi header: where `restart(2)` failed.
/// Its fourth argument points to one (or is NULL).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestartReport {
    /// The task that failed; 0 for the image or the call itself.
    pub pid: i32,
    /// The error, a negative errno.
    pub error: i32,
    /// Index of the record the task read last (0: none).
    pub record: u32,
    /// That record's type.
    pub record_type: u32,
    /// That record's byte offset in the image.
    pub offset: u64,
}

/// Version of the image format written and read here.
pub const IMAGE_VERSION: u32 = 6;

/// First eight bytes of the header record's payload.
pub const MAGIC: [u8; 8] = *b"KCKPTIMG";
/// First eight bytes of the tail record's payload.
pub const TAIL_MAGIC: [u8; 8] = *b"KCKPTEND";
/// Architecture code for x86_64.
pub const ARCH_X86_64: u32 = 1;

/// Records start at multiples of this many bytes.
pub const ALIGN: usize = 8;
/// Size of `{type, len}` in front of every payload.
pub const RECORD_HEADER_LEN: usize = 8;
/// Largest payload accepted; a larger `len` means a corrupt image.
pub const MAX_PAYLOAD_LEN: u32 = 16 << 20;
/// Largest number of tasks in one image (the kernel's `PID_MAX_LIMIT`).
pub const MAX_TASKS: u32 = 4 * 1024 * 1024;
/// Length of a task's command name, NUL included (`TASK_COMM_LEN`).
pub const COMM_LEN: usize = 16;
/// Length of the kernel release field of the header (`__NEW_UTS_LEN + 1`).
pub const RELEASE_LEN: usize = 65;

/// Declares [`RecordType`] from one list: each type's code, name and
/// documentation, so that the code table, the names and the list of all
/// types cannot disagree.
macro_rules! record_types {
    ($($(#[$doc:meta])* $kind:ident = $code:literal, $name:literal;)*) => {
        /// The type of a record.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum RecordType {
            $($(#[$doc])* $kind = $code,)*
        }

        impl RecordType {
            /// Every record type, in code order.
            pub const ALL: &'static [RecordType] = &[$(Self::$kind),*];

            /// The record type for a raw type code, if it is known.
            pub fn from_u32(v: u32) -> Option<Self> {
                match v {
                    $($code => Some(Self::$kind),)*
                    _ => None,
                }
            }

            /// Lower-case name, as used in error messages and by `ckpt inspect`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$kind => $name,)*
                }
            }
        }
    };
}

record_types! {
    /// [`Header`]: magic, version, arch, flags, kernel release.
    Header = 1, "header";
    /// [`ForestHead`]: how many task records follow, and the root pid.
    Forest = 2, "forest";
    /// [`TaskEntry`]: one row of the process forest.
    Task = 3, "task";
    /// [`TaskState`]: begins the saved state of one live task.
    TaskState = 10, "task-state";
    /// [`Regs`]: general-purpose registers, fs/gs base.
    Regs = 11, "regs";
    /// [`XstateHeader`] + the task's FPU state in uabi XSAVE format.
    Xstate = 12, "xstate";
    /// [`MmHeader`]: the memory map's bounds; [`Vma`] records follow.
    Mm = 13, "mm";
    /// [`Vma`] + the mapped file's path.
    Vma = 14, "vma";
    /// [`PagesHeader`] + the contents of consecutive present pages, or
    /// none: pages shared with the process the memory comes from.
    Pages = 15, "pages";
    /// Ends the saved state of one task.
    TaskEnd = 16, "task-end";
    /// [`FilesHeader`] + the working directory: the open files follow.
    Files = 17, "files";
    /// [`Fd`]: one descriptor and the id of its open file.
    Fd = 18, "fd";
    /// [`Signals`] + siginfos: blocked, altstack, private pending signals.
    Signals = 19, "signals";
    /// [`Sighand`] + siginfos: handlers and shared pending signals.
    Sighand = 20, "sighand";
    /// [`RestartBlock`]: how an interrupted call resumes.
    RestartBlock = 21, "restart-block";
    /// [`TaskMisc`]: rseq, robust list, limits and more.
    TaskMisc = 22, "task-misc";
    /// [`FileObj`] + its path: an open file, written once.
    File = 23, "file";
    /// [`PipeObj`] + the bytes in flight: a pipe, written once.
    Pipe = 24, "pipe";
    /// [`ShmemObj`]: shared memory, written once.
    Shmem = 25, "shmem";
    /// [`ShmemPagesHeader`] + pages of a shared memory object.
    ShmemPages = 26, "shmem-pages";
    /// [`EventfdObj`]: an eventfd, written once.
    Eventfd = 27, "eventfd";
    /// [`SignalfdObj`]: a signalfd, written once.
    Signalfd = 28, "signalfd";
    /// [`FifoObj`] + the bytes in flight + its path: a named pipe, written
    /// once.
    Fifo = 29, "fifo";
    /// [`TimerfdObj`]: a timerfd, written once.
    Timerfd = 30, "timerfd";
    /// [`EpollObj`] + its [`EpollItem`]s: an epoll set, written once after
    /// the files it watches.
    Epoll = 31, "epoll";
    /// [`UnixPairObj`] + two [`UnixEnd`]s + their queued messages: two
    /// connected unix sockets, written once.
    UnixPair = 32, "unix-pair";
    /// [`UnixSockObj`] + a [`UnixEnd`] + its name and queued datagrams: a
    /// unix socket on its own, written once.
    UnixSock = 33, "unix-sock";
    /// [`FileLockRec`]: a lock a process holds, after its fd records.
    FileLock = 34, "file-lock";
    /// [`MemfdObj`] + its name: a memfd, written once; its contents follow
    /// in `shmem-pages` records.
    Memfd = 35, "memfd";
    /// [`PtyObj`] + two [`PtySide`]s + the ptmx path and the bytes queued
    /// to each side: a pty, written once.
    Pty = 36, "pty";
    /// [`CttyRec`]: a process's controlling terminal, before its files.
    Ctty = 37, "ctty";
    /// [`DeletedFileObj`] + its path: a deleted file still open, written
    /// once; its contents follow in `shmem-pages` records.
    DeletedFile = 38, "deleted-file";
    /// [`PidfdObj`]: a pidfd, written once.
    Pidfd = 39, "pidfd";
    /// [`InotifyObj`] + its [`InotifyWatch`]es with their paths + its
    /// queued [`InotifyEvent`]s with their names: an inotify instance,
    /// written once.
    Inotify = 40, "inotify";
    /// [`FileOwnerRec`]: how an open file signals its I/O (owner, signal,
    /// `O_ASYNC`), after the fd records of the first process naming it.
    FileOwner = 41, "file-owner";
    /// [`UnixPendingObj`] + the client's [`UnixEnd`] + what it sent: a
    /// connection waiting to be accepted, written once after its listener.
    UnixPending = 42, "unix-pending";
    /// [`ShareRec`]: the process whose descriptor table or fs context a
    /// process uses, before its files record.
    Share = 43, "share";
    /// [`PodRec`]: the namespaces of a whole-namespace image (which the
    /// pod had of its own, its host and domain names), once, right after
    /// the forest rows.
    Pod = 44, "pod";
    /// [`SysvShmObj`] + its contents in [`ShmemPages`](RecordType::ShmemPages) records: a SysV
    /// shared memory segment of a pod's IPC namespace, written once.
    SysvShm = 45, "sysv-shm";
    /// [`SysvSemObj`] + its [`SysvSemVal`]s: a SysV semaphore set of a
    /// pod's IPC namespace, written once.
    SysvSem = 46, "sysv-sem";
    /// [`SysvMsgObj`] + its messages: a SysV message queue of a pod's IPC
    /// namespace, written once.
    SysvMsg = 47, "sysv-msg";
    /// [`TaskSched`] + its CPU affinity mask: how a task is scheduled,
    /// after its task-misc record.
    TaskSched = 48, "sched";
    /// [`PosixTimers`] + its [`PosixTimer`]s: a process's POSIX timers,
    /// after its sighand record.
    PosixTimers = 49, "posix-timers";
    /// The process's auxiliary vector as `/proc/PID/auxv` shows it: pairs
    /// of 64-bit words, the last `AT_NULL`; after its VMA records.
    Auxv = 50, "auxv";
    /// [`PodIpcRec`]: the sysctls of a pod's own IPC namespace, right
    /// after the pod record.
    PodIpc = 51, "pod-ipc";
    /// [`PosixMqObj`] + its name + its messages: a POSIX message queue of
    /// a pod's IPC namespace, written once before the pod's tasks.
    PosixMq = 52, "posix-mq";
    /// [`MqNotifyRec`]: a message queue notification the process
    /// registered, after its fd records.
    MqNotify = 53, "mq-notify";
    /// [`SemUndoRec`] + its adjustments: a process's `SEM_UNDO`
    /// adjustments on one SysV semaphore set of its pod, after its fd
    /// records.
    SemUndo = 54, "sem-undo";
    /// The process's cgroup v2 path below its tree's job cgroup
    /// ([`check_cgroup_path`]), after its auxv record; none for a process
    /// in the job cgroup itself.
    Cgroup = 55, "cgroup";
    /// [`PodMountObj`] + its mount point: a private tmpfs mount of a pod
    /// with a mount namespace of its own, written once before the pod's
    /// tasks; its files follow.
    PodMount = 56, "pod-mount";
    /// [`TmpfsFileObj`] + its path + a link's target: a file of the
    /// private tmpfs mount before it, parents first; a regular file's
    /// contents follow in `shmem-pages` records.
    TmpfsFile = 57, "tmpfs-file";
    /// [`PodNetRec`]: the loopback device of a pod's own network
    /// namespace, after the pod record and its `pod-ipc` record.
    PodNet = 58, "pod-net";
    /// [`InetSockObj`] + its [`InetOpt`]s (+ its connection or its queued
    /// datagrams): a TCP, UDP or UDP-Lite socket of either family, written
    /// once.
    InetSock = 59, "inet-sock";
    /// [`InetPendingObj`] + an `inet-sock` payload: a TCP connection
    /// waiting to be accepted, right after its listener's record.
    InetPending = 60, "inet-pending";
    /// [`PacketSockObj`] + its [`InetOpt`]s, filter and queued frames: a
    /// packet socket, written once.
    PacketSock = 61, "packet-sock";
    /// [`Tail`]: end of the image, with counts to detect truncation.
    Tail = 0x7fff_ffff, "tail";
}

impl RecordType {
    /// Whether this is the record of a shared object ([`ObjRecord`]): one
    /// that may appear anywhere after the forest table, before the first
    /// record that names it.
    pub const fn is_object(self) -> bool {
        match self {
            Self::File
            | Self::Pipe
            | Self::Shmem
            | Self::ShmemPages
            | Self::Eventfd
            | Self::Signalfd
            | Self::Fifo
            | Self::Timerfd
            | Self::Epoll
            | Self::UnixPair
            | Self::UnixSock
            | Self::Memfd
            | Self::Pty
            | Self::DeletedFile
            | Self::Pidfd
            | Self::Inotify
            | Self::UnixPending
            | Self::SysvShm
            | Self::SysvSem
            | Self::SysvMsg
            | Self::PosixMq
            | Self::PodMount
            | Self::TmpfsFile
            | Self::InetSock
            | Self::InetPending
            | Self::PacketSock => true,
            Self::FileLock
            | Self::FileOwner
            | Self::MqNotify
            | Self::SemUndo
            | Self::Cgroup
            | Self::Share
            | Self::Pod
            | Self::PodIpc
            | Self::PodNet
            | Self::Ctty
            | Self::Header
            | Self::Forest
            | Self::Task
            | Self::TaskState
            | Self::Regs
            | Self::Xstate
            | Self::Mm
            | Self::Vma
            | Self::Pages
            | Self::TaskEnd
            | Self::Files
            | Self::Fd
            | Self::Signals
            | Self::Sighand
            | Self::RestartBlock
            | Self::TaskMisc
            | Self::TaskSched
            | Self::PosixTimers
            | Self::Auxv
            | Self::Tail => false,
        }
    }
}

/// Number of zero bytes that follow a payload of `len` bytes.
pub const fn padding(len: usize) -> usize {
    (ALIGN - len % ALIGN) % ALIGN
}

/// The 8-byte `{type, len}` prefix of a record.
pub fn record_header(kind: RecordType, len: u32) -> [u8; RECORD_HEADER_LEN] {
    let mut out = [0u8; RECORD_HEADER_LEN];
    let mut w = Writer::new(&mut out);
    w.u32(kind as u32);
    w.u32(len);
    out
}

/// Page size of the images' architecture.
pub const PAGE_SIZE: usize = 4096;
/// Most pages in one [`PagesHeader`] record (4 MiB).
pub const MAX_PAGES_PER_RECORD: u32 = 1024;
/// Largest XSAVE buffer accepted.
pub const MAX_XSTATE_SIZE: u32 = 64 * 1024;
/// Longest path of a mapped file.
pub const MAX_PATH_LEN: u32 = 4096;
/// Highest user address on x86_64 with 4-level page tables (`TASK_SIZE`).
pub const USER_ADDR_END: u64 = 0x7fff_ffff_f000;

/// Object ids are numbered from 1 in the order the objects are written;
/// a record refers to an object written before it.
pub type ObjId = u32;

fn c_str(b: &[u8]) -> &str {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let b = b.get(..end).unwrap_or(&[]);
    match core::str::from_utf8(b) {
        Ok(s) => s,
        // Not UTF-8 (a comm can hold any byte): show the valid prefix.
        Err(e) => core::str::from_utf8(b.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or(""),
    }
}

#[cfg(test)]
mod tests;
