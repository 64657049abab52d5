// SPDX-License-Identifier: GPL-2.0
//! Per-task state records and object records: what follows the forest
//! table. Their order is [`crate::TASK_RECORDS`] (`order.rs`).
//!
//! A thread group's memory map, files and handlers are written once, with
//! its leader; other threads carry registers, FPU state, their odds and
//! ends and their signal state only.

use super::codec::{tail, Field, Reader, Writer};
use super::ErrorKind;

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

/// Begins one task's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TaskState {
    /// The task's pid (as in the forest table).
    pub pid: i32,
}

impl TaskState {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (t, _) = Self::read_fixed(p)?;
        if t.pid <= 0 {
            return Err(ErrorKind::BadField("pid", t.pid.into()));
        }
        Ok(t)
    }
}

layout!(TaskState { pid: i32, _: u32 });

/// Names of the [`Regs`] fields, in order (`struct user_regs_struct`).
pub const REG_NAMES: [&str; 27] = [
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
    "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs",
    "gs",
];

/// General-purpose registers as `struct user_regs_struct` (NT_PRSTATUS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Regs(pub [u64; 27]);

impl Regs {
    fn get(&self, name: &str) -> u64 {
        let i = REG_NAMES.iter().position(|n| *n == name).unwrap_or(0);
        self.0.get(i).copied().unwrap_or(0)
    }

    /// Instruction pointer.
    pub fn ip(&self) -> u64 {
        self.get("rip")
    }

    /// Stack pointer.
    pub fn sp(&self) -> u64 {
        self.get("rsp")
    }

    /// `rax`: for a task stopped in a system call, its return value so far
    /// (an `-ERESTART*` code).
    pub fn ax(&self) -> u64 {
        self.get("rax")
    }

    /// The system call number, or `u64::MAX` (-1) outside a system call.
    pub fn orig_ax(&self) -> u64 {
        self.get("orig_rax")
    }

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        Ok(Self::read_fixed(p)?.0)
    }
}

layout!(Regs { 0: [u64; 27] });

/// Head of an xstate record; the XSAVE buffer follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct XstateHeader {
    /// `xstate_bv` of the buffer: the state components present.
    pub xfeatures: u64,
    /// Size of the XSAVE buffer that follows.
    pub size: u32,
}

impl XstateHeader {
    /// The legacy FXSAVE area plus the XSAVE header.
    pub const MIN_SIZE: u32 = 512 + 64;

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if !(Self::MIN_SIZE..=MAX_XSTATE_SIZE).contains(&h.size) {
            return Err(ErrorKind::BadField("xstate size", h.size.into()));
        }
        Ok((h, tail(rest, h.size)?))
    }
}

layout!(XstateHeader { xfeatures: u64, size: u32, _: u32 });

/// The bounds of a memory map (`struct mm_struct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MmHeader {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    /// Start of the vdso text (`mm->context.vdso`), 0 if none.
    pub vdso: u64,
    /// Number of [`Vma`] records that follow.
    pub nr_vmas: u32,
    /// Length of the executable's path, which follows (0: none).
    pub exe_len: u32,
}

impl MmHeader {
    /// Most VMAs in one map (the default `vm.max_map_count` is 65530).
    pub const MAX_VMAS: u32 = 1 << 20;

    fn fields(&self) -> [u64; 12] {
        [
            self.start_code,
            self.end_code,
            self.start_data,
            self.end_data,
            self.start_brk,
            self.brk,
            self.start_stack,
            self.arg_start,
            self.arg_end,
            self.env_start,
            self.env_end,
            self.vdso,
        ]
    }

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (m, rest) = Self::read_fixed(p)?;
        if let Some(v) = m.fields().into_iter().find(|&v| v > USER_ADDR_END) {
            return Err(ErrorKind::BadField("mm address", v as i64));
        }
        if m.nr_vmas > Self::MAX_VMAS {
            return Err(ErrorKind::BadField("nr_vmas", m.nr_vmas.into()));
        }
        if m.exe_len > MAX_PATH_LEN {
            return Err(ErrorKind::BadField("exe path length", m.exe_len.into()));
        }
        let exe = tail(rest, m.exe_len)?;
        if m.start_brk > m.brk {
            return Err(ErrorKind::BadField("brk", m.brk as i64));
        }
        Ok((m, exe))
    }
}

layout!(MmHeader {
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    start_brk: u64,
    brk: u64,
    start_stack: u64,
    arg_start: u64,
    arg_end: u64,
    env_start: u64,
    env_end: u64,
    vdso: u64,
    nr_vmas: u32,
    exe_len: u32,
});

/// VMA kind: anonymous memory (private or shared).
pub const VMA_ANON: u32 = 0;
/// VMA kind: a file mapping; the path follows the record.
pub const VMA_FILE: u32 = 1;
/// VMA kind: the vdso text.
pub const VMA_VDSO: u32 = 2;
/// VMA kind: the vvar data of the vdso (never saved, remapped).
pub const VMA_VVAR: u32 = 3;
/// VMA kind: another special mapping (not restorable).
pub const VMA_SPECIAL: u32 = 4;
/// VMA kind: shared memory with no name left (`MAP_SHARED|MAP_ANONYMOUS`,
/// or a deleted tmpfs file): [`Vma::obj`] names its [`ShmemObj`], whose
/// contents are saved once however many VMAs and processes map it.
pub const VMA_SHMEM: u32 = 5;

/// `vm_flags` bits kernel-ckpt interprets (`include/linux/mm.h`).
pub const VM_READ: u64 = 0x1;
pub const VM_WRITE: u64 = 0x2;
pub const VM_EXEC: u64 = 0x4;
pub const VM_SHARED: u64 = 0x8;
pub const VM_GROWSDOWN: u64 = 0x100;
pub const VM_MAYWRITE: u64 = 0x20;
pub const VM_LOCKED: u64 = 0x2000;
pub const VM_DONTCOPY: u64 = 0x2_0000;
pub const VM_WIPEONFORK: u64 = 0x0200_0000;
pub const VM_DONTDUMP: u64 = 0x0400_0000;
pub const VM_HUGEPAGE: u64 = 0x2000_0000;
pub const VM_NOHUGEPAGE: u64 = 0x4000_0000;

/// One virtual memory area; a file's path (no NUL) follows the fixed part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    /// Offset in the file, in pages.
    pub pgoff: u64,
    /// `vm_flags`.
    pub flags: u64,
    /// `VMA_*`.
    pub kind: u32,
    /// Length of the path that follows.
    pub path_len: u32,
    /// For `VMA_SHMEM`: the [`ShmemObj`] id; else 0.
    pub obj: ObjId,
}

impl Vma {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (v, rest) = Self::read_fixed(p)?;
        let page = PAGE_SIZE as u64;
        if v.start >= v.end || v.start % page != 0 || v.end % page != 0 || v.end > USER_ADDR_END {
            return Err(ErrorKind::BadField("vma bounds", v.start as i64));
        }
        if v.kind > VMA_SHMEM {
            return Err(ErrorKind::BadField("vma kind", v.kind.into()));
        }
        if (v.kind == VMA_SHMEM) != (v.obj != 0) {
            return Err(ErrorKind::BadField("vma shared memory", v.obj.into()));
        }
        if v.path_len > MAX_PATH_LEN || (v.kind == VMA_FILE) != (v.path_len > 0) {
            return Err(ErrorKind::BadField("vma path length", v.path_len.into()));
        }
        Ok((v, tail(rest, v.path_len)?))
    }
}

layout!(Vma { start: u64, end: u64, pgoff: u64, flags: u64, kind: u32, path_len: u32, obj: ObjId, _: u32 });

/// Shared memory (a shmem file with no name left), written once before
/// the first VMA that maps it; its contents follow in [`ShmemPages`]
/// records (pages never written are holes, not saved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShmemObj {
    /// Object id.
    pub id: ObjId,
    /// Size in bytes, a multiple of the page size.
    pub size: u64,
}

impl ShmemObj {
    /// Largest size accepted (the user address space).
    pub const MAX_SIZE: u64 = USER_ADDR_END;

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (o, _) = Self::read_fixed(p)?;
        if o.size == 0 || o.size % PAGE_SIZE as u64 != 0 || o.size > Self::MAX_SIZE {
            return Err(ErrorKind::BadField("shared memory size", o.size as i64));
        }
        Ok(o)
    }
}

layout!(ShmemObj { id: ObjId, _: u32, size: u64 });

/// Head of a shared memory contents record: `nr` pages of object `id`
/// from byte `offset` on follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShmemPagesHeader {
    pub id: ObjId,
    pub nr: u32,
    pub offset: u64,
}

impl ShmemPagesHeader {
    pub(crate) fn decode(p: &[u8], size: u64) -> Result<(Self, &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if h.nr == 0 || h.nr > MAX_PAGES_PER_RECORD {
            return Err(ErrorKind::BadField("shared memory pages", h.nr.into()));
        }
        let end = h.offset.checked_add(u64::from(h.nr) * PAGE_SIZE as u64);
        if h.offset % PAGE_SIZE as u64 != 0 || end.is_none_or(|e| e > size) {
            return Err(ErrorKind::BadField("shared memory offset", h.offset as i64));
        }
        Ok((h, tail(rest, h.nr * PAGE_SIZE as u32)?))
    }
}

layout!(ShmemPagesHeader {
    id: ObjId,
    nr: u32,
    offset: u64
});

/// Head of a pages record: `nr` pages from `vaddr` on follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PagesHeader {
    pub vaddr: u64,
    pub nr: u32,
}

impl PagesHeader {
    /// Payload length for `nr` pages.
    pub const fn payload_len(nr: u32) -> usize {
        Self::LEN + nr as usize * PAGE_SIZE
    }

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if h.nr == 0 || h.nr > MAX_PAGES_PER_RECORD {
            return Err(ErrorKind::BadField("nr pages", h.nr.into()));
        }
        let end = (h.nr as u64)
            .checked_mul(PAGE_SIZE as u64)
            .and_then(|l| h.vaddr.checked_add(l));
        if h.vaddr % PAGE_SIZE as u64 != 0 || end.is_none_or(|e| e > USER_ADDR_END) {
            return Err(ErrorKind::BadField("pages address", h.vaddr as i64));
        }
        if rest.len() != h.nr as usize * PAGE_SIZE {
            return Err(ErrorKind::BadLength {
                len: p.len() as u32,
                expected: Self::payload_len(h.nr) as u32,
            });
        }
        Ok((h, rest))
    }
}

layout!(PagesHeader { vaddr: u64, nr: u32, _: u32 });

/// Head of a task's open files: `nr_fds` [`Fd`] records follow, each
/// after the [`FileObj`] (and [`PipeObj`]) it is the first to refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FilesHeader {
    /// Number of [`Fd`] records that follow.
    pub nr_fds: u32,
    /// The file mode creation mask.
    pub umask: u32,
    /// Length of the working directory's path, which follows.
    pub cwd_len: u32,
    /// Length of the root directory's path, which follows the cwd.
    pub root_len: u32,
}

impl FilesHeader {
    /// Most open files in one table (the kernel's `NR_OPEN` is 1 << 20).
    pub const MAX_FDS: u32 = 1 << 20;

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8], &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if h.nr_fds > Self::MAX_FDS {
            return Err(ErrorKind::BadField("nr_fds", h.nr_fds.into()));
        }
        if h.umask & !0o777 != 0 {
            return Err(ErrorKind::BadField("umask", h.umask.into()));
        }
        if h.cwd_len == 0 || h.cwd_len > MAX_PATH_LEN {
            return Err(ErrorKind::BadField("cwd length", h.cwd_len.into()));
        }
        if h.root_len == 0 || h.root_len > MAX_PATH_LEN {
            return Err(ErrorKind::BadField("root length", h.root_len.into()));
        }
        let rest = tail(rest, h.cwd_len + h.root_len)?;
        let (cwd, root) = rest.split_at(h.cwd_len as usize);
        Ok((h, cwd, root))
    }
}

layout!(FilesHeader {
    nr_fds: u32,
    umask: u32,
    cwd_len: u32,
    root_len: u32
});

/// File kind: a regular file, reopened by path.
pub const FILE_REG: u32 = 0;
/// File kind: a character device (`/dev/null`, a tty), reopened by path.
pub const FILE_CHR: u32 = 1;
/// File kind: a directory, reopened by path.
pub const FILE_DIR: u32 = 2;
/// File kind: a named pipe (FIFO; not restorable yet).
pub const FILE_FIFO: u32 = 3;
/// File kind: a socket (not restorable yet).
pub const FILE_SOCK: u32 = 4;
/// File kind: anything else (anon inodes, block devices…; not restorable).
pub const FILE_OTHER: u32 = 5;
/// File kind: one end of an anonymous pipe ([`FileObj::pipe`] names it).
pub const FILE_PIPE: u32 = 6;

/// `Fd::fd_flags`: close-on-exec is set.
pub const FD_CLOEXEC: u32 = 1;

/// `FileObj::flags`: the file was deleted (its path ends in " (deleted)").
pub const FILE_DELETED: u32 = 1;

/// Object ids are numbered from 1 in the order the objects are written;
/// a record refers to an object written before it.
pub type ObjId = u32;

/// An open file (`struct file`), written once where it is first referred
/// to; its path follows the fixed part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileObj {
    /// Object id.
    pub id: ObjId,
    /// `FILE_*`.
    pub kind: u32,
    /// The open file's `f_flags` (`O_ACCMODE`, `O_APPEND`, `O_NONBLOCK`…).
    pub f_flags: u32,
    /// `FILE_DELETED`.
    pub flags: u32,
    /// The file position.
    pub pos: i64,
    /// For `FILE_PIPE`: the [`PipeObj`] id; else 0.
    pub pipe: ObjId,
    /// Length of the path that follows.
    pub path_len: u32,
}

impl FileObj {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (f, rest) = Self::read_fixed(p)?;
        if f.kind > FILE_PIPE {
            return Err(ErrorKind::BadField("file kind", f.kind.into()));
        }
        if f.flags & !FILE_DELETED != 0 {
            return Err(ErrorKind::BadField("file flags", f.flags.into()));
        }
        if f.pos < 0 {
            return Err(ErrorKind::BadField("file position", f.pos));
        }
        if (f.kind == FILE_PIPE) != (f.pipe != 0) {
            return Err(ErrorKind::BadField("file pipe", f.pipe.into()));
        }
        if f.path_len == 0 || f.path_len > MAX_PATH_LEN {
            return Err(ErrorKind::BadField("file path length", f.path_len.into()));
        }
        Ok((f, tail(rest, f.path_len)?))
    }
}

layout!(FileObj {
    id: ObjId,
    kind: u32,
    f_flags: u32,
    flags: u32,
    pos: i64,
    pipe: ObjId,
    path_len: u32
});

/// An anonymous pipe (`struct pipe_inode_info`), written once before the
/// first file of either end; the bytes in flight follow, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PipeObj {
    /// Object id.
    pub id: ObjId,
    /// Capacity in bytes (`F_GETPIPE_SZ`): a power of two number of pages.
    pub capacity: u32,
    /// Number of bytes in flight that follow (at most `capacity`).
    pub data_len: u32,
}

impl PipeObj {
    /// Largest capacity accepted (the data must fit in one record).
    pub const MAX_CAPACITY: u32 = 8 << 20;

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (o, rest) = Self::read_fixed(p)?;
        if o.capacity < PAGE_SIZE as u32
            || o.capacity > Self::MAX_CAPACITY
            || !o.capacity.is_power_of_two()
        {
            return Err(ErrorKind::BadField("pipe capacity", o.capacity.into()));
        }
        if o.data_len > o.capacity {
            return Err(ErrorKind::BadField("pipe data length", o.data_len.into()));
        }
        Ok((o, tail(rest, o.data_len)?))
    }
}

layout!(PipeObj { id: ObjId, capacity: u32, data_len: u32, _: u32 });

/// One open file descriptor: its number, flags and the file it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Fd {
    /// The descriptor number.
    pub fd: u32,
    /// `FD_*` flags.
    pub fd_flags: u32,
    /// The [`FileObj`] id.
    pub file: ObjId,
}

impl Fd {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (f, _) = Self::read_fixed(p)?;
        if f.fd >= FilesHeader::MAX_FDS {
            return Err(ErrorKind::BadField("fd", f.fd.into()));
        }
        if f.fd_flags & !FD_CLOEXEC != 0 {
            return Err(ErrorKind::BadField("fd flags", f.fd_flags.into()));
        }
        Ok(f)
    }
}

layout!(Fd { fd: u32, fd_flags: u32, file: ObjId, _: u32 });

/// Size of a saved siginfo (`struct kernel_siginfo` on x86_64).
pub const SIGINFO_LEN: usize = 48;
/// Most queued siginfos saved for one pending set.
pub const MAX_SIGINFOS: u32 = 1 << 16;
/// Number of signals (`_NSIG`).
pub const NSIG: usize = 64;

/// Checks a list of raw siginfos against the pending mask they belong to.
fn check_infos(mask: u64, nr: u32, infos: &[u8]) -> Result<(), ErrorKind> {
    if nr > MAX_SIGINFOS {
        return Err(ErrorKind::BadField("pending siginfos", nr.into()));
    }
    if infos.len() != nr as usize * SIGINFO_LEN {
        return Err(ErrorKind::BadLength {
            len: infos.len() as u32,
            expected: nr * SIGINFO_LEN as u32,
        });
    }
    for info in infos.chunks_exact(SIGINFO_LEN) {
        let mut b = [0u8; 4];
        b.copy_from_slice(info.get(..4).ok_or(ErrorKind::Short)?);
        let signo = i32::from_le_bytes(b);
        if !(1..=NSIG as i32).contains(&signo) || mask & (1u64 << (signo - 1)) == 0 {
            return Err(ErrorKind::BadField("pending signal", signo.into()));
        }
    }
    Ok(())
}

/// A task's own signal state: blocked mask, alternate stack, and its
/// private pending signals; `nr_info` siginfos follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Signals {
    pub blocked: u64,
    pub ss_sp: u64,
    pub ss_size: u64,
    pub ss_flags: u32,
    pub nr_info: u32,
    /// Pending signals (bit `n - 1` for signal `n`).
    pub pending: u64,
}

impl Signals {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (s, infos) = Self::read_fixed(p)?;
        check_infos(s.pending, s.nr_info, infos)?;
        Ok((s, infos))
    }
}

layout!(Signals {
    blocked: u64,
    ss_sp: u64,
    ss_size: u64,
    ss_flags: u32,
    nr_info: u32,
    pending: u64
});

/// One signal's disposition (`struct sigaction` as the kernel keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SigAction {
    /// `SIG_DFL` (0), `SIG_IGN` (1) or the handler's address.
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// A process's signal handlers and its shared pending signals; `nr_info`
/// siginfos follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighand {
    /// Signal `n`'s action is `actions[n - 1]`.
    pub actions: [SigAction; NSIG],
    pub shared_pending: u64,
    pub nr_info: u32,
}

impl Sighand {
    /// Length of the fixed part.
    pub const LEN: usize = NSIG * 32 + 16;

    /// Length of the encoded handlers at the start of the payload.
    const ACTIONS_LEN: usize = NSIG * SigAction::LEN;
    /// Length of the fixed part after the handlers.
    pub const TAIL_LEN: usize = 16;

    /// Encodes the fixed part.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        for (a, dst) in self
            .actions
            .iter()
            .zip(out.chunks_exact_mut(SigAction::LEN))
        {
            dst.copy_from_slice(&a.encode());
        }
        if let Some(dst) = out.get_mut(Self::ACTIONS_LEN..) {
            dst.copy_from_slice(&Self::encode_tail(self.shared_pending, self.nr_info));
        }
        out
    }

    /// Encodes what follows the handlers: the shared pending mask and the
    /// number of siginfos (a writer can stream the handlers one by one
    /// with [`SigAction::encode`] and then this, without the whole
    /// 2 KiB structure on its stack).
    pub fn encode_tail(shared_pending: u64, nr_info: u32) -> [u8; Self::TAIL_LEN] {
        SighandTail {
            shared_pending,
            nr_info,
        }
        .encode()
    }

    /// Decodes a sighand payload (as [`Item::Sighand`](crate::Item) holds
    /// it, already checked): the handlers and the shared siginfos.
    pub fn parse(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let mut actions = [SigAction::default(); NSIG];
        for (a, got) in actions.iter_mut().zip(Self::actions(p)) {
            *a = got?;
        }
        let (shared_pending, nr_info, infos) = Self::decode(p)?;
        Ok((
            Self {
                actions,
                shared_pending,
                nr_info,
            },
            infos,
        ))
    }

    /// The handlers of a sighand payload, signal 1 first, each checked.
    pub fn actions(p: &[u8]) -> impl Iterator<Item = Result<SigAction, ErrorKind>> + '_ {
        let actions = p.get(..Self::ACTIONS_LEN).unwrap_or(&[]);
        let short = (actions.len() < Self::ACTIONS_LEN).then_some(Err(ErrorKind::Short));
        actions
            .chunks_exact(SigAction::LEN)
            .map(SigAction::decode)
            .chain(short)
    }

    /// Checks a sighand payload without building the handler table (the
    /// kernel decodes on a small stack): the shared pending mask, the
    /// number of siginfos and the siginfos.
    pub(crate) fn decode(p: &[u8]) -> Result<(u64, u32, &[u8]), ErrorKind> {
        for a in Self::actions(p) {
            a?;
        }
        let rest = p.get(Self::ACTIONS_LEN..).ok_or(ErrorKind::Short)?;
        let (t, infos) = SighandTail::read_fixed(rest)?;
        check_infos(t.shared_pending, t.nr_info, infos)?;
        Ok((t.shared_pending, t.nr_info, infos))
    }

    /// The shared pending mask and siginfos of a checked payload.
    pub fn pending(p: &[u8]) -> Result<(u64, &[u8]), ErrorKind> {
        let (mask, _, infos) = Self::decode(p)?;
        Ok((mask, infos))
    }
}

/// The fixed part of a sighand record after its handler table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct SighandTail {
    shared_pending: u64,
    nr_info: u32,
}

layout!(SighandTail { shared_pending: u64, nr_info: u32, _: u32 });

impl SigAction {
    fn decode(b: &[u8]) -> Result<Self, ErrorKind> {
        let (a, _) = Self::read_fixed(b)?;
        if a.handler >= USER_ADDR_END || a.restorer >= USER_ADDR_END {
            return Err(ErrorKind::BadField("signal handler", a.handler as i64));
        }
        Ok(a)
    }
}

layout!(SigAction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64
});

/// Restart block kind: nothing to resume (a restarted call gets `EINTR`).
pub const RESTART_NONE: u32 = 0;
/// Restart block kind: an interrupted relative nanosleep.
pub const RESTART_NANOSLEEP: u32 = 1;

/// How an interrupted system call that needs a restart block resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RestartBlock {
    /// `RESTART_*`.
    pub kind: u32,
    /// The sleep's clock (`CLOCK_*`).
    pub clockid: i32,
    /// `enum timespec_type` of the remaining-time pointer.
    pub ts_type: u32,
    /// User address the remaining time is written to, or 0.
    pub rmtp: u64,
    /// Time that was left to sleep.
    pub remaining_ns: i64,
}

impl RestartBlock {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (b, _) = Self::read_fixed(p)?;
        if b.kind > RESTART_NANOSLEEP {
            return Err(ErrorKind::BadField("restart block kind", b.kind.into()));
        }
        if !(0..=TaskMisc::MAX_TIMER_NS as i64).contains(&b.remaining_ns) || b.rmtp >= USER_ADDR_END
        {
            return Err(ErrorKind::BadField("restart block", b.remaining_ns));
        }
        Ok(b)
    }
}

layout!(RestartBlock { kind: u32, clockid: i32, ts_type: u32, _: u32, rmtp: u64, remaining_ns: i64 });

/// Number of resource limits (`RLIM_NLIMITS`).
pub const NLIMITS: usize = 16;

/// Per-task odds and ends: rseq registration, robust futex list,
/// clear_child_tid, parent-death signal, personality, and the process's
/// resource limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TaskMisc {
    pub rseq: u64,
    pub rseq_len: u32,
    pub rseq_sig: u32,
    pub robust_list: u64,
    pub clear_child_tid: u64,
    pub pdeath_signal: i32,
    pub personality: u32,
    /// `(soft, hard)` per resource.
    pub rlimits: [(u64, u64); NLIMITS],
    /// Real, effective, saved and filesystem uid, then the same gids.
    pub ids: [u32; 8],
    /// Value and interval in ns of ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
    pub itimers: [u64; 6],
    /// `MISC_*` flags of the task's process.
    pub flags: u32,
    /// Number of supplementary group ids that follow the fixed part.
    pub ngroups: u32,
    /// Capability sets: inheritable, permitted, effective, bounding,
    /// ambient (bit N is capability N).
    pub caps: [u64; 5],
    /// `SECBIT_*` securebits.
    pub securebits: u32,
}

/// The highest capability this format carries (`CAP_LAST_CAP` of 6.12).
pub const CAP_LAST_CAP: u32 = 40;
/// The capability bits that exist.
pub const CAP_VALID_MASK: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;
/// The securebits that exist (`SECURE_ALL_BITS | SECURE_ALL_LOCKS`).
pub const SECUREBITS_MASK: u32 = 0xff;

/// `TaskMisc::flags`: the process is a child subreaper
/// (`PR_SET_CHILD_SUBREAPER`).
pub const MISC_CHILD_SUBREAPER: u32 = 1;
/// `TaskMisc::flags`: the task set `PR_SET_NO_NEW_PRIVS`.
pub const MISC_NO_NEW_PRIVS: u32 = 2;
/// `TaskMisc::flags`: the process's memory is not dumpable
/// (`PR_SET_DUMPABLE` 0, or made so by a setuid exec): not traceable by
/// its own user.
pub const MISC_NOT_DUMPABLE: u32 = 4;
/// Every `MISC_*` flag.
pub const MISC_FLAGS: u32 = MISC_CHILD_SUBREAPER | MISC_NO_NEW_PRIVS | MISC_NOT_DUMPABLE;

impl TaskMisc {
    /// Most supplementary groups (the kernel's `NGROUPS_MAX`).
    pub const MAX_GROUPS: u32 = 65536;
    /// Longest timer value or interval accepted (about 146 years).
    pub const MAX_TIMER_NS: u64 = 1 << 62;

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (m, groups) = Self::read_fixed(p)?;
        if let Some(l) = m.rlimits.iter().find(|l| l.0 > l.1) {
            return Err(ErrorKind::BadField("rlimit", l.0 as i64));
        }
        if m.ids.contains(&u32::MAX) {
            return Err(ErrorKind::BadField("uid/gid", -1));
        }
        if let Some(&t) = m.itimers.iter().find(|&&t| t > Self::MAX_TIMER_NS) {
            return Err(ErrorKind::BadField("itimer", t as i64));
        }
        if m.flags & !MISC_FLAGS != 0 {
            return Err(ErrorKind::BadField("task flags", m.flags.into()));
        }
        if m.ngroups > Self::MAX_GROUPS {
            return Err(ErrorKind::BadField(
                "supplementary groups",
                m.ngroups.into(),
            ));
        }
        if let Some(&c) = m.caps.iter().find(|&&c| c & !CAP_VALID_MASK != 0) {
            return Err(ErrorKind::BadField("capabilities", c as i64));
        }
        if m.securebits & !SECUREBITS_MASK != 0 {
            return Err(ErrorKind::BadField("securebits", m.securebits.into()));
        }
        let [inheritable, permitted, effective, _, ambient] = m.caps;
        if effective & !permitted != 0 || ambient & !(permitted & inheritable) != 0 {
            return Err(ErrorKind::BadField("capabilities", effective as i64));
        }
        for a in [m.rseq, m.robust_list, m.clear_child_tid] {
            if a >= USER_ADDR_END {
                return Err(ErrorKind::BadField("user address", a as i64));
            }
        }
        if m.rseq != 0 && (!m.rseq.is_multiple_of(32) || m.rseq_len < 32) {
            return Err(ErrorKind::BadField("rseq", m.rseq as i64));
        }
        if !(0..=NSIG as i32).contains(&m.pdeath_signal) {
            return Err(ErrorKind::BadField("pdeath_signal", m.pdeath_signal.into()));
        }
        let groups = tail(groups, m.ngroups * 4)?;
        if groups.chunks_exact(4).any(|g| g == [0xff; 4]) {
            return Err(ErrorKind::BadField("supplementary group", -1));
        }
        Ok((m, groups))
    }
}

layout!(TaskMisc {
    rseq: u64,
    rseq_len: u32,
    rseq_sig: u32,
    robust_list: u64,
    clear_child_tid: u64,
    pdeath_signal: i32,
    personality: u32,
    rlimits: [(u64, u64); NLIMITS],
    ids: [u32; 8],
    itimers: [u64; 6],
    flags: u32,
    ngroups: u32,
    caps: [u64; 5],
    securebits: u32,
    _: u32,
});
