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

use core::fmt;

#[macro_use]
#[path = "codec.rs"]
mod codec;
use codec::{Field, Reader, Writer};

#[path = "state.rs"]
mod state;
pub use state::*;

#[path = "order.rs"]
mod order;
pub use order::{task_order_text, Expected, Order, OutOfOrder, Step, Times, TASK_RECORDS};

/// x86_64 number of `checkpoint(2)` (the first free one after `mseal`).
pub const SYS_CHECKPOINT: i64 = 463;
/// x86_64 number of `restart(2)`.
pub const SYS_RESTART: i64 = 464;

/// `checkpoint(2)` flag: `pid` is the root of a subtree, not the init task
/// of its pid namespace (mirrors `include/uapi/linux/checkpoint.h`).
pub const CHECKPOINT_SUBTREE: u64 = 0x1;
/// Every flag `checkpoint(2)` knows; any other bit gives `-EINVAL`.
pub const CHECKPOINT_FLAGS_MASK: u64 = CHECKPOINT_SUBTREE;
/// Every flag `restart(2)` knows (none yet).
pub const RESTART_FLAGS_MASK: u64 = 0x0;
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
pub const IMAGE_VERSION: u32 = 3;

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
    /// [`PagesHeader`] + the contents of consecutive present pages.
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
    /// [`Tail`]: end of the image, with counts to detect truncation.
    Tail = 0x7fff_ffff, "tail";
}

impl RecordType {
    /// Whether this is the record of a shared object ([`ObjRecord`]): one
    /// that may appear anywhere after the forest table, before the first
    /// record that names it.
    pub const fn is_object(self) -> bool {
        match self {
            Self::File | Self::Pipe | Self::Shmem | Self::ShmemPages => true,
            Self::Header
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

/// The first record: identifies the image and the kernel that wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version, [`IMAGE_VERSION`].
    pub version: u32,
    /// Architecture code, [`ARCH_X86_64`].
    pub arch: u32,
    /// The flags `checkpoint(2)` was called with.
    pub flags: u64,
    /// `uname -r` of the checkpointing kernel, NUL padded.
    pub release: [u8; RELEASE_LEN],
}

impl Default for Header {
    fn default() -> Self {
        Self {
            version: 0,
            arch: 0,
            flags: 0,
            release: [0; RELEASE_LEN],
        }
    }
}

impl Header {
    /// The kernel release as text (up to the first NUL).
    pub fn release_str(&self) -> &str {
        c_str(&self.release)
    }

    fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (h, _) = Self::read_fixed(p)?;
        if h.version != IMAGE_VERSION {
            return Err(ErrorKind::UnsupportedVersion(h.version));
        }
        if h.arch != ARCH_X86_64 {
            return Err(ErrorKind::UnknownArch(h.arch));
        }
        if h.flags & !CHECKPOINT_FLAGS_MASK != 0 {
            return Err(ErrorKind::UnknownFlags(h.flags));
        }
        if !h.release.contains(&0) {
            return Err(ErrorKind::BadField("release", 0));
        }
        Ok(h)
    }
}

layout!(Header { _: [u8; 8] = MAGIC, version: u32, arch: u32, flags: u64, release: [u8; RELEASE_LEN], _: [u8; 3] });

/// The process forest table's head: how many task rows follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ForestHead {
    /// Number of [`TaskEntry`] records that follow, threads included.
    pub nr_tasks: u32,
    /// Pid of the root of the checkpointed tree, in the caller's namespace.
    pub root_pid: i32,
}

impl ForestHead {
    fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (f, _) = Self::read_fixed(p)?;
        if f.nr_tasks == 0 || f.nr_tasks > MAX_TASKS {
            return Err(ErrorKind::BadField("nr_tasks", f.nr_tasks.into()));
        }
        if f.root_pid <= 0 {
            return Err(ErrorKind::BadField("root_pid", f.root_pid.into()));
        }
        Ok(f)
    }
}

layout!(ForestHead {
    nr_tasks: u32,
    root_pid: i32
});

/// Task flag: a thread that is not its thread group's leader.
pub const TASK_THREAD: u32 = 1 << 0;
/// Task flag: the task is a zombie; `exit_code` holds its wait status.
pub const TASK_ZOMBIE: u32 = 1 << 1;
/// Task flag: the root of the checkpointed tree.
pub const TASK_ROOT: u32 = 1 << 2;
/// Every task flag this version knows.
pub const TASK_FLAGS_MASK: u32 = TASK_THREAD | TASK_ZOMBIE | TASK_ROOT;

/// One row of the process forest. Pids are in the pid namespace of the
/// task that called `checkpoint(2)`; 0 means "outside that namespace".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TaskEntry {
    /// Thread id.
    pub pid: i32,
    /// Thread group id (the process id).
    pub tgid: i32,
    /// Process id of the real parent, or 0 if outside the namespace.
    pub ppid: i32,
    /// Session id.
    pub sid: i32,
    /// Process group id.
    pub pgid: i32,
    /// `TASK_*` flags.
    pub flags: u32,
    /// Wait status of a zombie (`exit_code`), else 0.
    pub exit_code: i32,
    /// Signal sent to the parent at exit (`exit_signal`), -1 for threads.
    pub exit_signal: i32,
    /// Command name, NUL padded.
    pub comm: [u8; COMM_LEN],
}

impl TaskEntry {
    /// The command name as text (up to the first NUL).
    pub fn comm_str(&self) -> &str {
        c_str(&self.comm)
    }

    /// Whether this row is a zombie.
    pub fn is_zombie(&self) -> bool {
        self.flags & TASK_ZOMBIE != 0
    }

    /// Whether this row is a non-leader thread.
    pub fn is_thread(&self) -> bool {
        self.flags & TASK_THREAD != 0
    }

    fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (t, _) = Self::read_fixed(p)?;
        for (name, v, min) in [
            ("pid", t.pid, 1),
            ("tgid", t.tgid, 1),
            ("ppid", t.ppid, 0),
            ("sid", t.sid, 0),
            ("pgid", t.pgid, 0),
        ] {
            if v < min {
                return Err(ErrorKind::BadField(name, v.into()));
            }
        }
        if t.flags & !TASK_FLAGS_MASK != 0 {
            return Err(ErrorKind::BadField("flags", t.flags.into()));
        }
        if !t.comm.contains(&0) {
            return Err(ErrorKind::BadField("comm", 0));
        }
        if (t.flags & TASK_THREAD != 0) == (t.pid == t.tgid) {
            return Err(ErrorKind::BadField("flags", t.flags.into()));
        }
        Ok(t)
    }
}

layout!(TaskEntry {
    pid: i32,
    tgid: i32,
    ppid: i32,
    sid: i32,
    pgid: i32,
    flags: u32,
    exit_code: i32,
    exit_signal: i32,
    comm: [u8; COMM_LEN],
});

/// The last record: lets a reader tell a complete image from a cut one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Tail {
    /// Number of records before the tail.
    pub nr_records: u32,
    /// Number of bytes before the tail record.
    pub bytes: u64,
}

impl Tail {
    fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        Ok(Self::read_fixed(p)?.0)
    }
}

layout!(Tail { _: [u8; 8] = TAIL_MAGIC, nr_records: u32, _: u32, bytes: u64 });

fn c_str(b: &[u8]) -> &str {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let b = b.get(..end).unwrap_or(&[]);
    match core::str::from_utf8(b) {
        Ok(s) => s,
        // Not UTF-8 (a comm can hold any byte): show the valid prefix.
        Err(e) => core::str::from_utf8(b.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or(""),
    }
}

/// What is wrong with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The image ends inside this record (or before the tail).
    Truncated,
    /// The payload is shorter than its type's layout.
    Short,
    /// `len` does not match the type's layout.
    BadLength {
        /// The record's `len`.
        len: u32,
        /// The length its type has.
        expected: u32,
    },
    /// `len` is larger than [`MAX_PAYLOAD_LEN`].
    Oversized(u32),
    /// A padding or reserved byte is not zero.
    BadPadding,
    /// The header or tail magic is wrong.
    BadMagic,
    /// The image was written in a format version this reader does not know.
    UnsupportedVersion(u32),
    /// The image is for another architecture.
    UnknownArch(u32),
    /// The header carries unknown checkpoint flags.
    UnknownFlags(u64),
    /// A record type this version does not know.
    UnknownType(u32),
    /// A known record in the wrong place.
    Unexpected {
        /// The record type found.
        found: RecordType,
        /// What the stream needed at this point.
        expected: Expected,
    },
    /// A field holds an impossible value.
    BadField(&'static str, i64),
    /// The tail's counts disagree with the image.
    TailMismatch,
    /// Bytes follow the tail record.
    TrailingData,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated => write!(f, "image is truncated"),
            Self::Short => write!(f, "payload too short"),
            Self::BadLength { len, expected } => {
                write!(f, "payload length {len}, expected {expected}")
            }
            Self::Oversized(len) => {
                write!(
                    f,
                    "payload length {len} exceeds the limit of {MAX_PAYLOAD_LEN}"
                )
            }
            Self::BadPadding => write!(f, "non-zero padding"),
            Self::BadMagic => write!(f, "bad magic: not a kernel-ckpt image"),
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "format version {v}, this reader knows version {IMAGE_VERSION}"
                )
            }
            Self::UnknownArch(a) => write!(f, "unknown architecture code {a}"),
            Self::UnknownFlags(fl) => write!(f, "unknown checkpoint flags {fl:#x}"),
            Self::UnknownType(t) => write!(f, "unknown record type {t}"),
            Self::Unexpected { found, expected } => {
                write!(f, "unexpected {} record, expected {expected}", found.name())
            }
            Self::BadField(name, v) => write!(f, "invalid {name} ({v})"),
            Self::TailMismatch => write!(f, "tail counts do not match the image"),
            Self::TrailingData => write!(f, "data after the tail record"),
        }
    }
}

/// A decoding error: what, in which record, at which byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Index of the record (0 = header).
    pub index: u32,
    /// Byte offset of the record's start in the image.
    pub offset: u64,
    /// The record's raw type code, if it could be read.
    pub record_type: Option<u32>,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record #{}", self.index)?;
        if let Some(t) = self.record_type {
            match RecordType::from_u32(t) {
                Some(k) => write!(f, " ({})", k.name())?,
                None => write!(f, " (type {t})")?,
            }
        }
        write!(f, " at offset {}: {}", self.offset, self.kind)
    }
}

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
    /// The open files' head, the working directory and the root.
    Files(FilesHeader, &'a [u8], &'a [u8]),
    /// An open file object and its path.
    File(FileObj, &'a [u8]),
    /// A pipe object and the bytes in flight.
    Pipe(PipeObj, &'a [u8]),
    /// One open file descriptor.
    Fd(Fd),
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
}

impl<'a> Item<'a> {
    /// The object record this item is, or `None` for the other records.
    pub fn object(self) -> Option<ObjRecord<'a>> {
        match self {
            Item::File(f, path) => Some(ObjRecord::File(f, path)),
            Item::Pipe(p, data) => Some(ObjRecord::Pipe(p, data)),
            Item::Shmem(s) => Some(ObjRecord::Shmem(s)),
            Item::ShmemPages(h, data) => Some(ObjRecord::ShmemPages(h, data)),
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
            | Item::Files(..)
            | Item::Fd(_)
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
        let (item, count) = match kind {
            RecordType::Header => {
                exact(Header::LEN)?;
                (Item::Header(Header::decode(p)?), None)
            }
            RecordType::Forest => {
                exact(ForestHead::LEN)?;
                let f = ForestHead::decode(p)?;
                (Item::Forest(f), Some(f.nr_tasks))
            }
            RecordType::Task => {
                exact(TaskEntry::LEN)?;
                (Item::Task(TaskEntry::decode(p)?), None)
            }
            RecordType::TaskState => {
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
            RecordType::File => {
                let (f, path) = FileObj::decode(p)?;
                if f.pipe != 0 {
                    self.check_ref("file pipe", f.pipe)?;
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

#[cfg(test)]
mod tests;
