// SPDX-License-Identifier: GPL-2.0
//! The memory map: its bounds, its VMAs and the contents of pages.
//!
//! Written by the kernel's `mm.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

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
    /// The process whose memory this one starts from, as a copy-on-write
    /// copy like fork(2) makes (0: none): its parent, restored before it.
    /// Its anonymous VMAs are then that copy's, and its pages records
    /// with [`PAGES_SHARED`] name the pages it keeps from it.
    pub from: i32,
}

/// Most words an `auxv` record holds (the kernel's `AT_VECTOR_SIZE` is
/// 52 on x86_64).
pub const MAX_AUXV_WORDS: usize = 128;

/// Checks an `auxv` record's payload: pairs of words, at most
/// [`MAX_AUXV_WORDS`], the last pair `AT_NULL`.
pub fn check_auxv(p: &[u8]) -> Result<(), ErrorKind> {
    let bad = |v: usize| ErrorKind::BadField("auxiliary vector", v as i64);
    if p.is_empty() || p.len() % 16 != 0 || p.len() / 8 > MAX_AUXV_WORDS {
        return Err(bad(p.len()));
    }
    match p.get(p.len() - 16..p.len() - 8) {
        Some(k) if k == [0u8; 8] => Ok(()),
        _ => Err(bad(p.len())),
    }
}

/// Longest cgroup path a `cgroup` record holds (`PATH_MAX`, its NUL
/// left out).
pub const MAX_CGROUP_PATH: usize = 4095;
/// Most names a cgroup path below the job holds: a restart makes each
/// cgroup of the path.
pub const MAX_CGROUP_DEPTH: usize = 32;

/// Checks a `cgroup` record: a path below the job cgroup, `/` then at
/// most [`MAX_CGROUP_DEPTH`] names separated by single `/`, none empty,
/// `.` or `..` and none with a NUL, at most [`MAX_CGROUP_PATH`] bytes;
/// not `/` alone (a process in the job cgroup has no record).
pub fn check_cgroup_path(p: &[u8]) -> Result<(), ErrorKind> {
    let bad = Err(ErrorKind::BadField("cgroup path", p.len() as i64));
    let Some(rest) = p.strip_prefix(b"/") else {
        return bad;
    };
    if p.len() > MAX_CGROUP_PATH || p.contains(&0) {
        return bad;
    }
    if rest
        .split(|&c| c == b'/')
        .any(|name| name.is_empty() || name == b"." || name == b"..")
        || rest.split(|&c| c == b'/').count() > MAX_CGROUP_DEPTH
    {
        return bad;
    }
    Ok(())
}

/// The words of an `auxv` record [`check_auxv`] accepted.
pub fn auxv_words(p: &[u8]) -> impl Iterator<Item = u64> + '_ {
    p.chunks_exact(8).map(|w| {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        u64::from_le_bytes(b)
    })
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
        if m.from < 0 {
            return Err(ErrorKind::BadField("mm source", m.from.into()));
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
    from: i32,
    _: u32,
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
/// VMA kind: an attachment of a SysV shared memory segment (`shmat(2)`),
/// whole, at page offset 0: [`Vma::obj`] names its [`SysvShmObj`].
pub const VMA_SYSV_SHM: u32 = 6;

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
    /// For `VMA_SHMEM`: the [`ShmemObj`] or [`MemfdObj`] id; for
    /// `VMA_SYSV_SHM` the [`SysvShmObj`] id; else 0.
    pub obj: ObjId,
}

impl Vma {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (v, rest) = Self::read_fixed(p)?;
        let page = PAGE_SIZE as u64;
        if v.start >= v.end || v.start % page != 0 || v.end % page != 0 || v.end > USER_ADDR_END {
            return Err(ErrorKind::BadField("vma bounds", v.start as i64));
        }
        if v.kind > VMA_SYSV_SHM {
            return Err(ErrorKind::BadField("vma kind", v.kind.into()));
        }
        if matches!(v.kind, VMA_SHMEM | VMA_SYSV_SHM) != (v.obj != 0) {
            return Err(ErrorKind::BadField("vma shared memory", v.obj.into()));
        }
        if v.path_len > MAX_PATH_LEN || (v.kind == VMA_FILE) != (v.path_len > 0) {
            return Err(ErrorKind::BadField("vma path length", v.path_len.into()));
        }
        if v.kind == VMA_SYSV_SHM && v.pgoff != 0 {
            return Err(ErrorKind::BadField("vma SysV attachment", v.pgoff as i64));
        }
        Ok((v, tail(rest, v.path_len)?))
    }
}

layout!(Vma {
    start: u64,
    end: u64,
    pgoff: u64,
    flags: u64,
    kind: u32,
    path_len: u32,
    obj: ObjId,
    _: u32
});

/// [`PagesHeader::flags`]: no contents follow; the `nr` pages at `vaddr`
/// are the ones the process its memory comes from ([`MmHeader::from`]) has
/// there, shared copy-on-write as fork(2) leaves them.
pub const PAGES_SHARED: u32 = 1;

/// Head of a pages record: `nr` pages from `vaddr` on follow (none for
/// [`PAGES_SHARED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PagesHeader {
    pub vaddr: u64,
    pub nr: u32,
    /// `PAGES_*`.
    pub flags: u32,
}

impl PagesHeader {
    /// Payload length for `nr` pages.
    pub const fn payload_len(nr: u32) -> usize {
        Self::LEN + nr as usize * PAGE_SIZE
    }

    /// Whether the pages are the source's ([`PAGES_SHARED`]).
    pub const fn shared(&self) -> bool {
        self.flags & PAGES_SHARED != 0
    }

    /// Length of the contents that follow the header.
    pub const fn data_len(&self) -> usize {
        if self.shared() {
            0
        } else {
            self.nr as usize * PAGE_SIZE
        }
    }

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if h.nr == 0 || h.nr > MAX_PAGES_PER_RECORD {
            return Err(ErrorKind::BadField("nr pages", h.nr.into()));
        }
        let end = (h.nr as u64)
            .checked_mul(PAGE_SIZE as u64)
            .and_then(|l| h.vaddr.checked_add(l));
        if h.vaddr % PAGE_SIZE as u64 != 0 || end.map_or(true, |e| e > USER_ADDR_END) {
            return Err(ErrorKind::BadField("pages address", h.vaddr as i64));
        }
        if h.flags & !PAGES_SHARED != 0 {
            return Err(ErrorKind::BadField("pages flags", h.flags.into()));
        }
        if rest.len() != h.data_len() {
            return Err(ErrorKind::BadLength {
                len: p.len() as u32,
                expected: (Self::LEN + h.data_len()) as u32,
            });
        }
        Ok((h, rest))
    }
}

layout!(PagesHeader {
    vaddr: u64,
    nr: u32,
    flags: u32
});
