// SPDX-License-Identifier: GPL-2.0

//! Memory of a stopped task: its map (bounds and VMAs) and the contents of
//! the pages that exist.
//!
//! C headers: [`include/linux/mm.h`](srctree/include/linux/mm.h),
//! [`include/linux/mmap_lock.h`](srctree/include/linux/mmap_lock.h).
//!
//! Which pages are saved follows the core-dump rule: only pages that exist
//! (`FOLL_DUMP` skips holes and the shared zero page), and of a private file
//! mapping only the anonymous (copied-on-write) ones, since the rest is the
//! file's. vdso/vvar contents are never saved: restart maps them anew.
//!
//! Locking: the VMA list and the mm bounds are read under
//! `mmap_read_lock(mm)`; pages are pinned with `get_user_pages_remote`
//! under it, a batch at a time. The image is written with the lock dropped:
//! writing to a file can fault and take another mm's `mmap_lock`, so holding
//! the target's across the write would invert the lock order.

use crate::image::{
    self, MmHeader, PagesHeader, RecordType, Vma, MAX_PAGES_PER_RECORD, PAGE_SIZE, VMA_ANON,
    VMA_FILE, VMA_SHMEM, VMA_SPECIAL, VMA_SYSV_SHM, VMA_VDSO, VMA_VVAR,
};
use crate::objhash::{ObjHash, ObjTable};
use crate::shmem::Shmem;
use crate::wrap::file::FileRef;
use crate::wrap::mm::MmRef;
use crate::wrap::task::TaskRef;
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// `VM_IO | VM_PFNMAP`: mappings of device memory, whose pages are not
/// ordinary pages and are never saved.
const VM_IO_PFNMAP: u64 = 0x0000_4000 | 0x0000_0400;

/// A VMA as saved, with its file's path.
struct SavedVma {
    vma: Vma,
    path: KVec<u8>,
    /// For shared memory: its shmem file.
    shmem: Option<FileRef>,
    /// Whether it has an `anon_vma`: a private mapping without one has
    /// never had an anonymous page (the first one makes it), so there is
    /// nothing of its own to save and its pages are not walked (the text
    /// of a program, mapped by each of its processes).
    anon: bool,
}

/// Whether the contents of a VMA of this kind may hold saved pages: its
/// own (anonymous or copied-on-write) pages. Pages of a shared mapping of
/// shared memory are the object's, saved with it.
fn has_pages(v: &Vma) -> bool {
    let own = match v.kind {
        VMA_ANON | VMA_FILE => true,
        VMA_SHMEM => v.flags & image::VM_SHARED == 0,
        _ => false,
    };
    own && v.flags & VM_IO_PFNMAP == 0
}

/// The name of a special mapping (`[vdso]`, `[vvar]`), if `vma` is one.
///
/// # Safety
///
/// `vma` must be valid (mmap lock held).
unsafe fn special_name(vma: *mut bindings::vm_area_struct) -> Option<&'static [u8]> {
    // SAFETY: the caller holds the mmap lock; `vm_ops` is static data.
    let name = unsafe {
        let ops = (*vma).vm_ops;
        let f = ops.as_ref()?.name?;
        f(vma)
    };
    if name.is_null() {
        return None;
    }
    // SAFETY: special-mapping names are static NUL-terminated strings.
    Some(unsafe { core::ffi::CStr::from_ptr(name.cast()) }.to_bytes())
}

/// What a restart could not bring back of `task`'s memory (mlockall,
/// pinned pages, uprobes, a mapping with flags it cannot set, a special
/// or device mapping, a deleted file…): the phrase and the address of the
/// mapping concerned (0 for the memory as a whole). `sysv`: the task is in
/// a pod with an IPC namespace of its own, whose SysV segments are saved:
/// their whole attachments are carried.
pub(crate) fn unsupported(task: &TaskRef, sysv: bool) -> Result<Option<(&'static str, u64)>> {
    let mm = MmRef::access(task)?;
    let mut addr = 0usize;
    // SAFETY: the mm is referenced; the helper takes its mmap lock and
    // returns NULL or a static string.
    let why = crate::wrap::task::static_str(unsafe {
        bindings::ckpt_mm_unsupported(mm.as_ptr(), &mut addr, sysv)
    });
    Ok(why.map(|w| (w, addr as u64)))
}

/// Adds to `keys` (sorted, each once) the hash keys of the SysV segments
/// `task` (a leader) attaches.
pub(crate) fn sysv_keys(task: &TaskRef, keys: &mut KVVec<usize>) -> Result {
    let mm = MmRef::access(task)?;
    let m = mm.as_ptr();
    let _guard = mm.read_lock();
    let mut addr = 0usize;
    loop {
        crate::wrap::task::killable()?;
        // SAFETY: the mmap lock is held.
        let vma = unsafe { bindings::find_vma(m, addr) };
        if vma.is_null() {
            return Ok(());
        }
        // SAFETY: `vma` is valid under the mmap lock, and holds a reference
        // on its file.
        let (end, attached) = unsafe {
            let file = (*vma).vm_file;
            (
                (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end,
                if file.is_null() {
                    None
                } else {
                    crate::sysvshm::of_attachment(file)
                },
            )
        };
        if let Some((_, shmem)) = attached {
            let key = crate::sysvshm::key_of(&shmem);
            if let Err(at) = keys.binary_search(&key) {
                crate::objhash::insert_at(keys, at, key, GFP_KERNEL)?;
            }
        }
        addr = end;
    }
}

/// Reads the mm bounds and every VMA, under the mmap read lock.
fn read_map(mm: &MmRef) -> Result<(MmHeader, KVec<SavedVma>)> {
    let m = mm.as_ptr();
    let _guard = mm.read_lock();
    // SAFETY: the mmap lock is held: the fields and the VMA tree are stable.
    let mut header = unsafe {
        let a = &(*m).__bindgen_anon_1;
        MmHeader {
            start_code: a.start_code as u64,
            end_code: a.end_code as u64,
            start_data: a.start_data as u64,
            end_data: a.end_data as u64,
            start_brk: a.start_brk as u64,
            brk: a.brk as u64,
            start_stack: a.start_stack as u64,
            arg_start: a.arg_start as u64,
            arg_end: a.arg_end as u64,
            env_start: a.env_start as u64,
            env_end: a.env_end as u64,
            vdso: a.context.vdso as u64,
            nr_vmas: 0,
            exe_len: 0,
            from: 0,
        }
    };
    let mut vmas = KVec::new();
    let mut addr = 0usize;
    loop {
        // SAFETY: the mmap lock is held.
        let vma = unsafe { bindings::find_vma(m, addr) };
        if vma.is_null() {
            break;
        }
        // SAFETY: `vma` is valid under the mmap lock.
        let saved = unsafe {
            let bounds = &(*vma).__bindgen_anon_1.__bindgen_anon_1;
            let (start, end) = (bounds.vm_start, bounds.vm_end);
            let flags = (*vma).__bindgen_anon_2.vm_flags as u64;
            let file = (*vma).vm_file;
            let (mut kind, mut path) = match special_name(vma) {
                Some(b"[vdso]") => (VMA_VDSO, KVec::new()),
                Some(b"[vvar]") => (VMA_VVAR, KVec::new()),
                Some(_) => (VMA_SPECIAL, KVec::new()),
                None if file.is_null() => (VMA_ANON, KVec::new()),
                // SAFETY: the VMA holds a reference on its file.
                None => (VMA_FILE, crate::wrap::path::name_of(&(*file).f_path)?),
            };
            // Shared memory with no name left (MAP_SHARED|MAP_ANONYMOUS,
            // whose file is an unlinked "dev/zero", or a deleted tmpfs
            // file): its contents are saved as an object, once.
            let mut shmem = None;
            // SAFETY: the VMA holds a reference on its file while the mmap
            // lock is held.
            let attachment = if file.is_null() {
                None
            } else {
                crate::sysvshm::of_attachment(file)
            };
            if let Some((_, segment)) = attachment {
                // A SysV attachment: the segment, saved with its pod's IPC
                // namespace, is named by its shmem file.
                kind = VMA_SYSV_SHM;
                path = KVec::new();
                shmem = Some(segment);
            } else if kind == VMA_FILE
                && bindings::vma_is_shmem(vma)
                && path.ends_with(b" (deleted)")
            {
                kind = VMA_SHMEM;
                path = KVec::new();
                // SAFETY: the VMA holds a reference on its file; this
                // takes one more, owned by the FileRef.
                shmem = Some(FileRef::from_raw(
                    NonNull::new(bindings::ckpt_get_file(file)).ok_or(EINVAL)?,
                ));
            }
            addr = end;
            SavedVma {
                vma: Vma {
                    start: start as u64,
                    end: end as u64,
                    pgoff: (*vma).vm_pgoff as u64,
                    flags,
                    kind,
                    path_len: u32::try_from(path.len()).map_err(|_| EINVAL)?,
                    obj: 0,
                },
                path,
                shmem,
                anon: !(*vma).anon_vma.is_null(),
            }
        };
        vmas.push(saved, GFP_KERNEL)?;
    }
    header.nr_vmas = u32::try_from(vmas.len()).map_err(|_| E2BIG)?;
    Ok((header, vmas))
}

/// Pinned pages of one batch, with their addresses, released on drop.
struct Batch {
    addrs: KVec<u64>,
    pages: KVec<*mut bindings::page>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        for page in self.pages.iter() {
            // SAFETY: each page was pinned by `get_user_pages_remote`.
            unsafe { bindings::put_page(*page) };
        }
    }
}

/// What a process with children in the tree saved of its private
/// anonymous memory, kept until the checkpoint ends: the ranges of its
/// VMAs that a child's may come from, with their flags, and the pages it
/// saved there, still pinned. A child's VMA may come from it if these
/// ranges cover it with the same flags, as the restart's copy of the
/// restored parent will; a child's page there that is one of these pages
/// at the same address is saved as shared.
///
/// The same page holds what the parent's record saved: a page the child
/// maps too was shared by fork, and a shared anonymous page is never
/// written in place; our reference also keeps the kernel from reusing it
/// for a write of either process (it copies it first), from merging it
/// with KSM and from migrating or freeing it.
pub(crate) struct SourcePages {
    /// `(start, end, vm_flags)` of each VMA, in address order.
    ranges: KVVec<(u64, u64, u64)>,
    /// The pinned pages, batch by batch, in address order (each batch
    /// puts its pages when dropped).
    batches: KVVec<Batch>,
}

impl SourcePages {
    /// Whether `[start, end)` is covered without a gap by the saved
    /// ranges, each with `flags` in the bits of `mask`.
    fn covers(&self, start: u64, end: u64, flags: u64, mask: u64) -> bool {
        let mut at = start;
        let mut i = self.ranges.partition_point(|&(_, e, _)| e <= start);
        while at < end {
            match self.ranges.get(i) {
                Some(&(s, e, f)) if s <= at && f & mask == flags & mask => at = e,
                _ => return false,
            }
            i += 1;
        }
        true
    }

    /// The page saved at `addr`, if one was.
    fn page_at(&self, addr: u64) -> Option<*mut bindings::page> {
        let i = self
            .batches
            .partition_point(|b| b.addrs.last().is_some_and(|&l| l < addr));
        let b = self.batches.get(i)?;
        let j = b.addrs.binary_search(&addr).ok()?;
        b.pages.get(j).copied()
    }
}

impl Drop for SourcePages {
    fn drop(&mut self) {
        // Up to the pages of a whole large process: let others run
        // between batches.
        let batches = core::mem::replace(&mut self.batches, KVVec::new());
        for batch in batches.into_iter() {
            drop(batch);
            // SAFETY: a plain reschedule point; no lock is held here.
            unsafe { bindings::ckpt_cond_resched() };
        }
    }
}

/// The source of a process's memory at checkpoint: its parent, and what
/// the parent saved.
pub(crate) struct Source<'a> {
    pub(crate) pid: i32,
    pub(crate) pages: &'a SourcePages,
}

/// Pins the pages of `[start, end)` (within one VMA) that are to be saved:
/// present, and anonymous unless the whole VMA's contents count (`all`).
/// One `get_user_pages_remote` call takes every page up to the next hole;
/// a hole or the zero page (`-EFAULT` under `FOLL_DUMP` when it comes
/// first, as for a page past the end of a mapped file) is stepped over.
/// Any other failure (no memory to swap a page in, a poisoned page, which
/// `FOLL_HWPOISON` makes `-EHWPOISON`, a fatal signal) fails the
/// checkpoint with its errno, naming the address.
fn pin_batch(mm: &MmRef, start: u64, end: u64, all: bool) -> Result<Batch> {
    crate::wrap::task::killable()?;
    let nr = ((end - start) / PAGE_SIZE as u64) as usize;
    let mut batch = Batch {
        addrs: KVec::with_capacity(nr, GFP_KERNEL)?,
        pages: KVec::with_capacity(nr, GFP_KERNEL)?,
    };
    // What each call pins, before the anonymous ones are kept.
    let mut got_pages: KVec<*mut bindings::page> = KVec::with_capacity(nr, GFP_KERNEL)?;
    let _guard = mm.read_lock();
    let mut addr = start;
    while addr < end {
        let want = (end - addr) / PAGE_SIZE as u64;
        // SAFETY: the mmap lock is held (`locked` is NULL, so gup keeps it);
        // `got_pages` has room for `want` (at most `nr`) pages.
        let got = unsafe {
            bindings::get_user_pages_remote(
                mm.as_ptr(),
                addr as usize,
                want as usize,
                bindings::FOLL_FORCE | bindings::FOLL_DUMP | bindings::FOLL_HWPOISON,
                got_pages.as_mut_ptr(),
                core::ptr::null_mut(),
            )
        };
        match usize::try_from(got) {
            Ok(n) if n > 0 && n as u64 <= want => {
                // SAFETY: gup filled the first `n` entries with pinned
                // pages.
                let pinned = unsafe { core::slice::from_raw_parts(got_pages.as_ptr(), n) };
                for &page in pinned {
                    // SAFETY: `page` is pinned.
                    if all || unsafe { bindings::folio_test_anon_page(page) } {
                        // Capacity was reserved for every page of the batch.
                        batch.addrs.push(addr, GFP_ATOMIC)?;
                        batch.pages.push(page, GFP_ATOMIC)?;
                    } else {
                        // SAFETY: pinned just above.
                        unsafe { bindings::put_page(page) };
                    }
                    addr += PAGE_SIZE as u64;
                }
            }
            _ if got == EFAULT.to_errno() as isize => addr += PAGE_SIZE as u64,
            _ => {
                ckpt_err!(
                    "checkpoint: cannot read the page at {:#x} (error {})\n",
                    addr,
                    got
                );
                return Err(if got < 0 {
                    Error::from_errno(got as i32)
                } else {
                    EIO
                });
            }
        }
    }
    Ok(batch)
}

/// Writes runs of consecutive pinned pages as pages records, the pages
/// straight from themselves where the image file allows it. A run of
/// pages `shared` marks (the same pages the source of the memory maps at
/// the same addresses) is a record without contents.
fn write_batch(w: &mut ImageWriter, batch: &Batch, shared: &[bool]) -> Result {
    let is_shared = |i: usize| shared.get(i).copied().unwrap_or(false);
    let mut i = 0;
    while let Some(&vaddr) = batch.addrs.get(i) {
        // The run: pages at vaddr, vaddr + 4K, … (at most a record's
        // worth), all shared or none.
        let kind = is_shared(i);
        let mut n = 1usize;
        while n < MAX_PAGES_PER_RECORD as usize
            && is_shared(i + n) == kind
            && batch
                .addrs
                .get(i + n)
                .is_some_and(|&a| a == vaddr + (n * PAGE_SIZE) as u64)
        {
            n += 1;
        }
        let mut header = PagesHeader {
            vaddr,
            nr: n as u32,
            flags: 0,
        };
        if kind {
            header.flags = image::PAGES_SHARED;
            w.record(RecordType::Pages, &header.encode())?;
        } else {
            let len = PagesHeader::payload_len(header.nr);
            w.begin_record(RecordType::Pages, len)?;
            w.payload(&header.encode())?;
            w.payload_pages(batch.pages.get(i..i + n).ok_or(EINVAL)?)?;
            w.end_record(len)?;
        }
        i += n;
    }
    Ok(())
}

/// The `vm_flags` a VMA kept from the source of the memory at restart must
/// share with the saved one: what restart sets on a mapping it makes.
const INHERIT_MASK: u64 = image::VM_READ
    | image::VM_WRITE
    | image::VM_EXEC
    | image::VM_SHARED
    | image::VM_GROWSDOWN
    | image::VM_LOCKED
    | image::VM_DONTCOPY
    | image::VM_WIPEONFORK
    | image::VM_DONTDUMP
    | image::VM_HUGEPAGE
    | image::VM_NOHUGEPAGE;

/// Whether a VMA may come from the source of the memory at restart, with
/// the pages it shares with it: private anonymous memory that fork(2)
/// copies as it is (not `MADV_DONTFORK`, `MADV_WIPEONFORK` or locked,
/// whose copies fork leaves out, empty or unlocked).
fn inheritable(v: &Vma) -> bool {
    // Executable memory is mapped anew instead, through vm_mmap's checks
    // (the LSMs' execmem, MDWE), as any other restart maps it.
    v.kind == VMA_ANON
        && v.flags
            & (image::VM_SHARED
                | image::VM_EXEC
                | image::VM_LOCKED
                | image::VM_DONTCOPY
                | image::VM_WIPEONFORK)
            == 0
}

/// Fewest pages a process must share with its source for the restart to
/// start its memory from a copy of the source's: below, copying the
/// source's page tables and VMAs costs more than writing the pages (a
/// process of the tree bench shares 2 or 3 pages with its parent).
const INHERIT_MIN_PAGES: usize = 64;

/// Whether `mm` shares at least [`INHERIT_MIN_PAGES`] pages of the VMAs
/// that may come from `source` with it.
fn shares_any(mm: &MmRef, vmas: &[SavedVma], source: &Source<'_>) -> Result<bool> {
    let step = MAX_PAGES_PER_RECORD as u64 * PAGE_SIZE as u64;
    let mut shared = 0usize;
    for v in vmas
        .iter()
        .filter(|v| v.anon)
        .map(|v| &v.vma)
        .filter(|v| has_pages(v) && inheritable(v))
    {
        if !source.pages.covers(v.start, v.end, v.flags, INHERIT_MASK) {
            continue;
        }
        let mut start = v.start;
        while start < v.end {
            let end = v.end.min(start.saturating_add(step));
            let batch = pin_batch(mm, start, end, true)?;
            if !batch.addrs.is_empty() {
                shared += same_pages(&batch, source.pages)?
                    .iter()
                    .filter(|&&s| s)
                    .count();
                if shared >= INHERIT_MIN_PAGES {
                    return Ok(true);
                }
            }
            start = end;
        }
    }
    Ok(false)
}

/// For each page of `child`, whether the source saved the same page at
/// the same address.
fn same_pages(child: &Batch, source: &SourcePages) -> Result<KVec<bool>> {
    let mut out = KVec::with_capacity(child.addrs.len(), GFP_KERNEL)?;
    for (addr, page) in child.addrs.iter().zip(child.pages.iter()) {
        // Capacity was reserved for every page.
        out.push(source.page_at(*addr) == Some(*page), GFP_ATOMIC)?;
    }
    Ok(out)
}

/// A memory map being saved: the map is written first, the pages last.
pub(crate) struct MapDump {
    mm: MmRef,
    vmas: KVec<SavedVma>,
    /// Whether its memory starts from its source's at restart.
    from: bool,
    /// The mm record as written, and where (for a held writer, among the
    /// kept bytes): [`share_from`] sets its source later.
    header: MmHeader,
    at: u64,
}

/// `VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR`: memory registered with
/// a userfaultfd, whose copy by fork may send its monitor an event.
const VM_UFFD_ANY: u64 = 0x0000_0200 | 0x0000_1000 | (1 << 38);

impl MapDump {
    /// The mm its pages are taken from.
    pub(crate) fn mm_ptr(&self) -> *mut bindings::mm_struct {
        self.mm.as_ptr()
    }

    /// Takes the pages of this map from now on from a copy-on-write copy
    /// of its mm, made as fork(2) makes a child's: the copy keeps the
    /// pages as they are now while the process runs on and writes its
    /// own (each first write copies the page, as after a fork). `false`,
    /// with nothing changed, for memory whose copy by fork would not hold
    /// what is saved (`MADV_DONTFORK` or `MADV_WIPEONFORK` memory with
    /// pages of its own), would tell a userfaultfd monitor, or would show
    /// in the tree (a SysV attachment's count, time and last pid): its
    /// pages are then saved as the process has them now.
    ///
    /// Called while the process is frozen, under the caller's exec lock
    /// of it.
    pub(crate) fn snapshot(&mut self) -> Result<bool> {
        let odd = self.vmas.iter().any(|v| {
            let f = v.vma.flags;
            // A copy attaches a SysV segment: its attach count, time and
            // last pid would change where the tree sees them.
            v.vma.kind == VMA_SYSV_SHM
                || f & VM_UFFD_ANY != 0
                || (v.anon
                    && has_pages(&v.vma)
                    && f & (image::VM_DONTCOPY | image::VM_WIPEONFORK) != 0)
        });
        if odd {
            return Ok(false);
        }
        self.mm = self.mm.snapshot()?;
        Ok(true)
    }
}

/// Makes the process whose map `d` is start its memory from `source`'s at
/// restart if the two share at least [`INHERIT_MIN_PAGES`] pages, for a
/// map written by a held writer without a source: its mm record, still
/// kept, names the source then.
pub(crate) fn share_from(w: &mut ImageWriter, d: &mut MapDump, source: &Source<'_>) -> Result {
    if d.from || !shares_any(&d.mm, &d.vmas, source)? {
        return Ok(());
    }
    d.header.from = source.pid;
    let at =
        d.at.checked_add(image::RECORD_HEADER_LEN as u64)
            .ok_or(EINVAL)?;
    w.patch_held(at, &d.header.encode())?;
    d.from = true;
    Ok(())
}

/// Writes the memory map of `task` (a thread group leader): the mm record
/// and its VMAs, each shared memory object once (through `objs`) before
/// the first VMA that maps it. `-EINVAL` if it has no mm.
///
/// `from`: the process (its parent, saved before it) and what it saved,
/// whose memory the restart starts this one's from if the two share at
/// least [`INHERIT_MIN_PAGES`] pages.
pub(crate) fn dump_map(
    w: &mut ImageWriter,
    task: &TaskRef,
    mm: MmRef,
    objs: &mut ObjHash,
    from: Option<&Source<'_>>,
) -> Result<MapDump> {
    let (mut header, mut vmas) = read_map(&mm)?;
    if let Some(source) = from {
        if shares_any(&mm, &vmas, source)? {
            header.from = source.pid;
        }
    }
    // The executable is read as `/proc/PID/exe` reads it, under the
    // caller's exec lock of the task (held by checkpoint.rs).
    // SAFETY: the task is valid; the result is NULL or carries a reference.
    let exe = core::ptr::NonNull::new(unsafe { bindings::get_task_exe_file(task.as_ptr()) })
        // SAFETY: a non-NULL result carries a reference, which FileRef owns.
        .map(|f| unsafe { FileRef::from_raw(f) });
    let exe_path = match &exe {
        Some(f) => f.path_name()?,
        None => KVec::new(),
    };
    header.exe_len = u32::try_from(exe_path.len()).map_err(|_| EINVAL)?;
    let at = w.held_len();
    w.record_parts(RecordType::Mm, &[&header.encode(), &exe_path])?;
    for v in vmas.iter_mut() {
        if let Some(file) = v.shmem.take() {
            // A memfd's mapping names the memfd, which its open files name
            // too; a SysV attachment its segment, written with the pod;
            // other shared memory is an object of its own.
            v.vma.obj = if v.vma.kind == VMA_SYSV_SHM {
                let key = crate::sysvshm::key_of(&file);
                objs.id_by_key::<crate::sysvshm::SysvShm>(key).ok_or_else(|| {
                    ckpt_err!(
                        "checkpoint: pid {}: the SysV segment attached at {:#x} is not one of its pod's IPC namespace: not supported\n",
                        task.vpid(),
                        v.vma.start
                    );
                    crate::wrap::errno::eopnotsupp()
                })?
            } else if crate::memfd::is_memfd(&file) {
                objs.id_of::<crate::memfd::Memfd>(w, file)?
            } else {
                // A deleted tmpfs file also open as a file is two objects
                // of two kinds: they would come back as two files.
                if objs.has::<crate::deleted::DeletedFile>(&file) {
                    ckpt_err!(
                        "checkpoint: pid {}: a deleted file is both mapped shared and open: not supported\n",
                        task.vpid()
                    );
                    return Err(crate::wrap::errno::eopnotsupp());
                }
                objs.id_of::<Shmem>(w, file)?
            };
        }
        w.record_parts(RecordType::Vma, &[&v.vma.encode(), &v.path])?;
    }
    write_auxv(w, &mm)?;
    Ok(MapDump {
        mm,
        vmas,
        from: header.from != 0,
        header,
        at,
    })
}

/// Writes the `auxv` record of a frozen task's mm: its saved auxiliary
/// vector up to and with its `AT_NULL` pair, as `/proc/PID/auxv` reads it.
fn write_auxv(w: &mut ImageWriter, mm: &MmRef) -> Result {
    // SAFETY: the mm is referenced; `saved_auxv` is written only by exec
    // and prctl(PR_SET_MM) of a task of this mm, which is frozen (and
    // /proc reads it without a lock too).
    let saved = unsafe { (*mm.as_ptr()).__bindgen_anon_1.saved_auxv };
    let mut bytes = KVec::with_capacity(saved.len() * 8, GFP_KERNEL)?;
    for pair in saved.chunks_exact(2) {
        for word in pair {
            bytes.extend_from_slice(&(*word as u64).to_le_bytes(), GFP_KERNEL)?;
        }
        if pair.first() == Some(&0) {
            return w.record(RecordType::Auxv, &bytes);
        }
    }
    // No AT_NULL (the kernel always keeps one): nothing to say.
    Ok(())
}

/// Writes the contents of the pages of a map written by [`dump_map`], and
/// gives its mm back, with the pages of its private anonymous memory
/// still pinned if `keep` (a process with children in the tree).
///
/// `source`: the process named as the source of this one's memory (the
/// `from` of [`dump_map`]), frozen and saved before it. A page this mm
/// shares with it (the same page at the same address, as fork leaves them
/// until either writes) is saved as shared, without contents, in a VMA
/// the restart takes from the source's restored memory: private
/// anonymous memory the source maps at the same addresses with the same
/// flags. See [`SourcePages`] for why the same page has the contents the
/// source's own record saved.
pub(crate) fn dump_pages(
    w: &mut ImageWriter,
    d: MapDump,
    source: Option<&Source<'_>>,
    keep: bool,
) -> Result<(MmRef, Option<SourcePages>)> {
    let MapDump { mm, vmas, from, .. } = d;
    let source = source.filter(|_| from);
    let mut kept = None;
    if keep {
        let mut ranges = KVVec::new();
        for v in vmas.iter().map(|v| &v.vma).filter(|v| inheritable(v)) {
            ranges.push((v.start, v.end, v.flags), GFP_KERNEL)?;
        }
        kept = Some(SourcePages {
            ranges,
            batches: KVVec::new(),
        });
    }
    // A batch covers at most one record's worth of pages.
    let step = MAX_PAGES_PER_RECORD as u64 * PAGE_SIZE as u64;
    for v in vmas
        .iter()
        .filter(|v| v.anon)
        .map(|v| &v.vma)
        .filter(|v| has_pages(v))
    {
        let all = v.kind == VMA_ANON;
        let from = source
            .filter(|s| inheritable(v) && s.pages.covers(v.start, v.end, v.flags, INHERIT_MASK));
        let mut start = v.start;
        while start < v.end {
            let end = v.end.min(start.saturating_add(step));
            let batch = pin_batch(&mm, start, end, all)?;
            let shared = match from {
                Some(s) if !batch.addrs.is_empty() => same_pages(&batch, s.pages)?,
                _ => KVec::new(),
            };
            write_batch(w, &batch, &shared)?;
            match kept.as_mut() {
                // Only memory a child's may come from. A failed push drops
                // the batch, which puts its pages.
                Some(k) if inheritable(v) && !batch.addrs.is_empty() => {
                    k.batches.push(batch, GFP_KERNEL)?
                }
                _ => drop(batch),
            }
            start = end;
        }
    }
    Ok((mm, kept))
}

// Restart: rebuilding the calling task's memory.

/// A VMA to map at restart, with its file opened beforehand.
pub(crate) struct RestoreVma {
    pub(crate) vma: Vma,
    pub(crate) file: Option<FileRef>,
    /// For a SysV attachment: the segment's id, attached with `do_shmat`.
    pub(crate) shmid: Option<i32>,
}

/// A saved map checked and with its files open, ready to restore.
pub(crate) struct PreparedMap {
    vmas: KVVec<RestoreVma>,
    exe: Option<FileRef>,
}

/// Opens the executable or a mapped file by its saved path, with the
/// task's credentials: without blocking (a FIFO put at the path must not
/// hold the call up), `O_NONBLOCK` then cleared, as the file is only
/// mapped and its kind is checked by the caller.
fn open_mapped(path: &[u8], flags: u32) -> Result<FileRef> {
    let f = FileRef::open(path, (flags | bindings::O_NONBLOCK) as i32)?;
    f.set_flags(bindings::O_NONBLOCK, false);
    Ok(f)
}

/// Whether a file of `mode` can be mapped as a saved file mapping was:
/// a regular file or a device, never a FIFO, a socket or a directory
/// (which mmap(2) refuses, but only after the point of no return).
fn can_map(mode: u32) -> bool {
    matches!(
        mode & bindings::S_IFMT,
        bindings::S_IFREG | bindings::S_IFCHR | bindings::S_IFBLK
    )
}

/// Checks a saved map before anything is torn down, and opens its files:
/// VMAs in order without overlap, only kinds that can be restored, a vdso
/// only together with its vvar. `vmas` holds the VMAs with their paths.
pub(crate) fn prepare(
    h: &MmHeader,
    exe: &[u8],
    vmas: KVVec<(Vma, KVVec<u8>)>,
    objs: &mut ObjTable,
) -> Result<PreparedMap> {
    check_bounds(h)?;
    let exe = if exe.is_empty() {
        None
    } else {
        match open_mapped(exe, bindings::O_RDONLY) {
            // As execve(2) and PR_SET_MM_EXE_FILE: a regular file only.
            Ok(f) if f.mode() & bindings::S_IFMT == bindings::S_IFREG => Some(f),
            Ok(_) => {
                ckpt_err!(
                    "restart: the executable {} is not a regular file\n",
                    crate::log::Shown(exe)
                );
                return Err(EACCES);
            }
            Err(e) => {
                ckpt_err!(
                    "restart: cannot open the executable {}\n",
                    crate::log::Shown(exe)
                );
                return Err(e);
            }
        }
    };
    let mut out = KVVec::with_capacity(vmas.len(), GFP_KERNEL)?;
    let mut prev_end = 0u64;
    let (mut vdso, mut vvar) = (false, false);
    for (v, path) in vmas.into_iter() {
        if v.start < prev_end {
            ckpt_err!("restart: overlapping VMAs at {:#x}\n", v.start);
            return Err(EINVAL);
        }
        prev_end = v.end;
        let mut shmid = None;
        let file = match v.kind {
            VMA_FILE => {
                // A shared mapping that may be made writable (mprotect)
                // had its file open for writing, as it must again.
                let flags = if v.flags & image::VM_SHARED != 0 && v.flags & image::VM_MAYWRITE != 0
                {
                    bindings::O_RDWR
                } else {
                    bindings::O_RDONLY
                };
                match open_mapped(&path, flags) {
                    Ok(f) if can_map(f.mode()) => Some(f),
                    Ok(_) => {
                        ckpt_err!(
                            "restart: mapped file {} is not a regular file or a device\n",
                            crate::log::Shown(&path)
                        );
                        return Err(EINVAL);
                    }
                    Err(e) => {
                        let shown = crate::log::Shown(&path);
                        ckpt_err!(
                            "restart: cannot open mapped file {} (error {})\n",
                            shown,
                            e.to_errno()
                        );
                        return Err(e);
                    }
                }
            }
            VMA_SHMEM => Some(objs.shmem_for_map(v.obj, v.flags & image::VM_WRITE != 0)?),
            VMA_SYSV_SHM => {
                let id = objs.sysv_shm(v.obj)?;
                // shmat(2)'s permission check, under the task's own ids
                // (in force while its records are read), as a file is
                // opened under them.
                crate::sysvshm::may_attach(id, attach_flags(&v))?;
                shmid = Some(id);
                None
            }
            VMA_VDSO => {
                vdso = true;
                None
            }
            VMA_VVAR => {
                vvar = true;
                None
            }
            VMA_ANON => None,
            _ => {
                ckpt_err!(
                    "restart: special mapping at {:#x} cannot be restored\n",
                    v.start
                );
                return Err(EINVAL);
            }
        };
        out.push(
            RestoreVma {
                vma: v,
                file,
                shmid,
            },
            GFP_KERNEL,
        )?;
    }
    if vdso != vvar || (vdso && h.vdso == 0) {
        ckpt_err!("restart: vdso and vvar must be saved together\n");
        return Err(EINVAL);
    }
    Ok(PreparedMap { vmas: out, exe })
}

/// The `shmat(2)` flags of attachment `v`: read-only if it could not be
/// written (executable attachments are refused at checkpoint).
fn attach_flags(v: &Vma) -> i32 {
    if v.flags & image::VM_MAYWRITE == 0 {
        bindings::SHM_RDONLY as i32
    } else {
        0
    }
}

/// Attaches SysV segment `shmid` at `v`, as `shmat(2)` would: read-only if
/// the attachment could not be written.
fn attach(shmid: i32, v: &Vma) -> Result {
    let flags = attach_flags(v);
    let mut addr = 0usize;
    // SAFETY: current's own mm; `do_shmat` takes the mmap lock and checks
    // the address (it must be free: the old map was torn down).
    let r = unsafe {
        bindings::do_shmat(
            shmid,
            v.start as usize as *mut kernel::ffi::c_char,
            flags,
            &mut addr,
            PAGE_SIZE,
        )
    };
    if r < 0 || addr != v.start as usize {
        ckpt_err!(
            "restart: attaching SysV segment {} at {:#x} failed ({})\n",
            shmid,
            v.start,
            r
        );
        return Err(if r < 0 {
            Error::from_errno(r as i32)
        } else {
            EINVAL
        });
    }
    // A segment whose size changed (a hostile image) would map more or less.
    let mm = MmRef::of_current().ok_or(EINVAL)?;
    if !mm.has_vma(v.start, v.end) {
        ckpt_err!(
            "restart: SysV segment {} at {:#x} does not end at {:#x}\n",
            shmid,
            v.start,
            v.end
        );
        return Err(EINVAL);
    }
    Ok(())
}

/// The checks prctl(PR_SET_MM_MAP) makes of new mm bounds: every bound
/// inside `[mmap_min_addr, TASK_SIZE)`, code, data, heap, arguments and
/// environment each in order, and the heap and data within the caller's
/// `RLIMIT_DATA`.
fn check_bounds(h: &MmHeader) -> Result {
    // SAFETY: a read of a sysctl.
    let min = unsafe { bindings::ckpt_mmap_min_addr() } as u64;
    let all = [
        h.start_code,
        h.end_code,
        h.start_data,
        h.end_data,
        h.start_brk,
        h.brk,
        h.start_stack,
        h.arg_start,
        h.arg_end,
        h.env_start,
        h.env_end,
    ];
    let inside = all.iter().all(|&a| a >= min && a < image::USER_ADDR_END);
    let ordered = h.start_code < h.end_code
        && h.start_data <= h.end_data
        && h.start_brk <= h.brk
        && h.arg_start <= h.arg_end
        && h.env_start <= h.env_end;
    if !(inside && ordered) {
        ckpt_err!("restart: memory map bounds that prctl(PR_SET_MM_MAP) would refuse\n");
        return Err(EINVAL);
    }
    // The caller's own limit, as check_data_rlimit() reads it.
    let rlim = crate::wrap::task::current_rlimit(bindings::RLIMIT_DATA);
    let used = (h.brk - h.start_brk).saturating_add(h.end_data - h.start_data);
    if rlim != u64::MAX && used > rlim {
        ckpt_err!(
            "restart: heap and data of {} bytes exceed the caller's RLIMIT_DATA\n",
            used
        );
        return Err(ENOSPC);
    }
    Ok(())
}

impl PreparedMap {
    /// With the caller's own credentials: a new executable takes what
    /// prctl(PR_SET_MM_EXE_FILE) takes (CAP_CHECKPOINT_RESTORE for a file
    /// other than the caller's executable; a regular file it may execute
    /// on a mount that allows exec).
    pub(crate) fn check_exe(&self) -> Result {
        let Some(exe) = &self.exe else {
            return Ok(());
        };
        // SAFETY: the file is referenced.
        let r = unsafe { bindings::ckpt_may_set_exe(exe.as_ptr()) };
        if r != 0 {
            ckpt_err!(
                "restart: the saved executable needs what prctl(PR_SET_MM_EXE_FILE) needs (error {})\n",
                r
            );
            return Err(Error::from_errno(r));
        }
        Ok(())
    }
}

fn prot_of(flags: u64) -> usize {
    let mut prot = 0;
    if flags & image::VM_READ != 0 {
        prot |= bindings::PROT_READ;
    }
    if flags & image::VM_WRITE != 0 {
        prot |= bindings::PROT_WRITE;
    }
    if flags & image::VM_EXEC != 0 {
        prot |= bindings::PROT_EXEC;
    }
    prot as usize
}

/// The madvise(2) flags of a VMA: set again on the new mapping as the
/// process set them (`MADV_DONTFORK`, `MADV_WIPEONFORK`, `MADV_DONTDUMP`,
/// `MADV_HUGEPAGE`, `MADV_NOHUGEPAGE`).
fn advise(start: u64, len: usize, flags: u64) -> Result {
    let advice = [
        (image::VM_DONTCOPY, bindings::MADV_DONTFORK),
        (image::VM_WIPEONFORK, bindings::MADV_WIPEONFORK),
        (image::VM_DONTDUMP, bindings::MADV_DONTDUMP),
        (image::VM_HUGEPAGE, bindings::MADV_HUGEPAGE),
        (image::VM_NOHUGEPAGE, bindings::MADV_NOHUGEPAGE),
    ];
    for (flag, advice) in advice {
        if flags & flag == 0 {
            continue;
        }
        let mm = MmRef::of_current().ok_or(EINVAL)?;
        // SAFETY: current's mm; do_madvise takes the mmap lock itself and
        // checks the range and the advice as madvise(2) does.
        let r = unsafe { bindings::do_madvise(mm.as_ptr(), start as usize, len, advice as i32) };
        if r != 0 {
            ckpt_err!(
                "restart: madvise({:#x}, {}) of the mapping at {:#x} failed ({})\n",
                advice,
                len,
                start,
                r
            );
            return Err(Error::from_errno(r));
        }
    }
    Ok(())
}

/// Makes current run in a copy of `source`'s memory, as fork(2) makes a
/// child's, and keeps of it only the private anonymous memory at the
/// places of the saved VMAs that may come from it (same flags, no gap):
/// the rest is unmapped. Returns the ranges kept, in order.
fn start_from(source: &MmRef, map: &PreparedMap) -> Result<KVVec<(u64, u64)>> {
    let copy = source.fork_copy()?.into_raw();
    // SAFETY: `copy` is an unshared new mm with one reference; on success
    // current's mm becomes it (the reference passes to current), else it
    // stays ours.
    let r = unsafe { bindings::ckpt_exec_mmap(copy) };
    if r != 0 {
        // SAFETY: the reference `fork_copy` gave is dropped; no task runs
        // in the copy.
        unsafe { bindings::ckpt_put_mm_copy(copy) };
        ckpt_err!(
            "restart: cannot switch to the copy of the parent's memory ({})\n",
            r
        );
        return Err(Error::from_errno(r));
    }
    let mm = MmRef::of_current().ok_or(EINVAL)?;
    let mut kept = KVVec::new();
    for r in map.vmas.iter() {
        crate::wrap::task::killable()?;
        let v = &r.vma;
        if inheritable(v) && mm.anon_covers(v.start, v.end, v.flags, INHERIT_MASK) {
            kept.push((v.start, v.end), GFP_KERNEL)?;
        }
    }
    let mut at = 0u64;
    let last = [(image::USER_ADDR_END, image::USER_ADDR_END)];
    for &(start, end) in Iterator::chain(kept.iter(), last.iter()) {
        if at < start {
            // SAFETY: current's own mm, which no other task uses
            // (ckpt_exec_mmap refuses a process with threads); the call
            // takes the mmap lock itself.
            to_result(unsafe { bindings::vm_munmap(at as usize, (start - at) as usize) })?;
        }
        at = end;
    }
    Ok(kept)
}

/// The memory a restored process kept from its source ([`MmHeader::from`]):
/// the pages its records name as shared stay, every other page in it is
/// dropped (a page of its own is written over, a page it did not have
/// comes back as it was: not there). Its pages records come in address
/// order.
pub(crate) struct Kept {
    /// In address order, without overlap (the saved VMAs').
    ranges: KVVec<(u64, u64)>,
    /// Where the next pages record may start: everything below is done.
    next: u64,
}

impl Kept {
    /// Applies one pages record.
    pub(crate) fn pages(&mut self, h: &PagesHeader, data: &[u8]) -> Result {
        let len = u64::from(h.nr)
            .checked_mul(PAGE_SIZE as u64)
            .ok_or(EINVAL)?;
        let end = h.vaddr.checked_add(len).ok_or(EINVAL)?;
        if h.vaddr < self.next {
            return Err(crate::restore::bad("pages records out of order"));
        }
        self.drop_pages(self.next, h.vaddr)?;
        self.next = end;
        if h.shared() {
            // The last range that starts at or below the record.
            let at = self.ranges.partition_point(|&(s, _)| s <= h.vaddr);
            let inside = at
                .checked_sub(1)
                .and_then(|i| self.ranges.get(i))
                .is_some_and(|&(_, e)| end <= e);
            if !inside {
                ckpt_err!(
                    "restart: shared pages at {:#x} are not in memory kept from the parent\n",
                    h.vaddr
                );
                return Err(EINVAL);
            }
            return Ok(());
        }
        write_pages(h, data)
    }

    /// After the last pages record: the rest is dropped.
    pub(crate) fn finish(&mut self) -> Result {
        self.drop_pages(self.next, image::USER_ADDR_END)?;
        self.next = image::USER_ADDR_END;
        Ok(())
    }

    /// Drops the pages of the kept ranges within `[lo, hi)`.
    fn drop_pages(&self, lo: u64, hi: u64) -> Result {
        // The ranges that end above `lo`, up to the first at or above `hi`.
        let first = self.ranges.partition_point(|&(_, e)| e <= lo);
        for &(s, e) in self.ranges.iter().skip(first) {
            if s >= hi {
                break;
            }
            let (a, b) = (s.max(lo), e.min(hi));
            if a >= b {
                continue;
            }
            crate::wrap::task::killable()?;
            let mm = MmRef::of_current().ok_or(EINVAL)?;
            // SAFETY: current's mm; do_madvise takes the mmap lock itself
            // and checks the range; MADV_DONTNEED on private anonymous
            // memory drops its pages, as madvise(2) does.
            let r = unsafe {
                bindings::do_madvise(
                    mm.as_ptr(),
                    a as usize,
                    (b - a) as usize,
                    bindings::MADV_DONTNEED as i32,
                )
            };
            if r != 0 {
                ckpt_err!("restart: cannot drop the pages at {:#x} ({})\n", a, r);
                return Err(Error::from_errno(r));
            }
        }
        Ok(())
    }
}

/// Replaces the calling task's whole address space with the saved map,
/// starting from a copy of `source`'s memory if the map names one.
/// This is the point of no return: on error the caller must kill the task.
pub(crate) fn restore_map(
    h: &MmHeader,
    map: &PreparedMap,
    auxv: Option<&[u64]>,
    source: Option<&MmRef>,
) -> Result<Kept> {
    let kept = match source {
        Some(source) => start_from(source, map)?,
        None => {
            // SAFETY: current is valid; `vm_munmap` takes the mmap lock
            // itself. Nothing else uses this mm: the restarting task is
            // single-threaded and its mm is its own.
            to_result(unsafe { bindings::vm_munmap(0, image::USER_ADDR_END as usize) })?;
            KVVec::new()
        }
    };
    if let Some(exe) = &map.exe {
        // With nothing mapped, the old executable is no longer in use, as
        // replace_mm_exe_file requires (prctl(PR_SET_MM_EXE_FILE) rules).
        let mm = MmRef::of_current().ok_or(EINVAL)?;
        // SAFETY: the mm is current's; the file is referenced.
        to_result(unsafe { bindings::replace_mm_exe_file(mm.as_ptr(), exe.as_ptr()) })?;
    }
    for r in map.vmas.iter() {
        let v = &r.vma;
        if kept.binary_search(&(v.start, v.end)).is_ok() {
            // The copy of the source's memory, as it is.
            continue;
        }
        let len = (v.end - v.start) as usize;
        let shared = v.flags & image::VM_SHARED != 0;
        let mut flags = bindings::MAP_FIXED
            | if shared {
                bindings::MAP_SHARED
            } else {
                bindings::MAP_PRIVATE
            };
        // mlock(2)'s rules (RLIMIT_MEMLOCK or CAP_IPC_LOCK) apply.
        if v.flags & image::VM_LOCKED != 0 {
            flags |= bindings::MAP_LOCKED;
        }
        if let Some(shmid) = r.shmid {
            attach(shmid, v)?;
            advise(v.start, len, v.flags)?;
            continue;
        }
        let (file, off) = match (&r.file, v.kind) {
            (Some(f), _) => (
                f.as_ptr(),
                v.pgoff.checked_mul(PAGE_SIZE as u64).ok_or(EINVAL)?,
            ),
            (None, VMA_ANON) => {
                flags |= bindings::MAP_ANONYMOUS;
                if v.flags & image::VM_GROWSDOWN != 0 {
                    flags |= bindings::MAP_GROWSDOWN;
                }
                (core::ptr::null_mut(), 0)
            }
            (None, VMA_VVAR) => {
                // map_vdso_once maps vvar at `start` and the vdso after it.
                // SAFETY: `vdso_image_64` is the static image of this
                // kernel; the call takes the mmap lock itself.
                let ret = unsafe {
                    bindings::map_vdso_once(
                        core::ptr::addr_of!(bindings::vdso_image_64),
                        v.start as usize,
                    )
                };
                to_result(ret)?;
                continue;
            }
            _ => continue,
        };
        // SAFETY: `file` is NULL or a file held by `r`; `vm_mmap` takes the
        // mmap lock and runs the LSM checks itself.
        let addr = unsafe {
            bindings::vm_mmap(
                file,
                v.start as usize,
                len,
                prot_of(v.flags),
                flags as usize,
                off as usize,
            )
        };
        if addr != v.start as usize {
            ckpt_err!(
                "restart: mapping {:#x}-{:#x} failed ({})\n",
                v.start,
                v.end,
                addr as isize
            );
            return Err(if (addr as isize) < 0 {
                Error::from_errno(addr as i32)
            } else {
                EINVAL
            });
        }
        advise(v.start, len, v.flags)?;
    }
    let mm = MmRef::of_current().ok_or(EINVAL)?;
    let m = mm.as_ptr();
    // SAFETY: a read of an array's length.
    let room = unsafe { (*m).__bindgen_anon_1.saved_auxv.len() };
    if auxv.is_some_and(|w| w.len() > room) {
        // As prctl(PR_SET_MM_MAP): longer than the kernel keeps.
        ckpt_err!("restart: the saved auxiliary vector is longer than this kernel's\n");
        return Err(EINVAL);
    }
    // SAFETY: the mm is valid; the bounds change under the write lock, as
    // prctl(PR_SET_MM_MAP) changes them.
    unsafe {
        bindings::mmap_write_lock(m);
        let a = &mut (*m).__bindgen_anon_1;
        let vdso_ok = a.context.vdso as u64 == h.vdso;
        a.start_code = h.start_code as usize;
        a.end_code = h.end_code as usize;
        a.start_data = h.start_data as usize;
        a.end_data = h.end_data as usize;
        a.start_brk = h.start_brk as usize;
        a.brk = h.brk as usize;
        a.start_stack = h.start_stack as usize;
        a.arg_start = h.arg_start as usize;
        a.arg_end = h.arg_end as usize;
        a.env_start = h.env_start as usize;
        a.env_end = h.env_end as usize;
        // As prctl(PR_SET_MM_MAP) sets it (no capability needed): what
        // fits, and the last pair AT_NULL whatever the image says.
        if let Some(words) = auxv {
            let saved = &mut a.saved_auxv;
            saved.fill(0);
            let room = saved.len().saturating_sub(2);
            for (dst, src) in saved.iter_mut().take(room).zip(words.iter()) {
                *dst = *src as _;
            }
        }
        bindings::mmap_write_unlock(m);
        if !vdso_ok {
            ckpt_err!(
                "restart: vdso landed at {:#x}, not {:#x}\n",
                a.context.vdso as u64,
                h.vdso
            );
            return Err(EINVAL);
        }
    }
    Ok(Kept {
        ranges: kept,
        next: 0,
    })
}

/// Writes saved page contents into the calling task's memory, read-only
/// mappings included (as ptrace's POKEDATA does, copy-on-write).
fn write_pages(h: &PagesHeader, data: &[u8]) -> Result {
    let mm = MmRef::of_current().ok_or(EINVAL)?;
    let len = i32::try_from(data.len()).map_err(|_| EINVAL)?;
    // SAFETY: the mm is current's; `data` is a kernel buffer of `len`
    // bytes that `access_remote_vm` only reads (FOLL_WRITE writes the
    // task's pages); it takes the mmap lock itself.
    let n = unsafe {
        bindings::access_remote_vm(
            mm.as_ptr(),
            h.vaddr as usize,
            data.as_ptr().cast_mut().cast(),
            len,
            bindings::FOLL_FORCE | bindings::FOLL_WRITE,
        )
    };
    if n != len {
        ckpt_err!(
            "restart: writing pages at {:#x}: {} of {} bytes\n",
            h.vaddr,
            n,
            len
        );
        return Err(EFAULT);
    }
    Ok(())
}
