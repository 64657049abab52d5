// SPDX-License-Identifier: GPL-2.0

//! Shared memory: the kind of shared object behind `MAP_SHARED|MAP_ANONYMOUS`
//! mappings and mappings of deleted tmpfs files.
//!
//! C header: [`include/linux/shmem_fs.h`](srctree/include/linux/shmem_fs.h).
//!
//! The object is keyed by its shmem inode, so every mapping of it, in any
//! process, names one object; it is written once, with its size and the
//! pages that hold data, before the first VMA that maps it. Restart creates
//! a new shmem file of that size (as `MAP_SHARED|MAP_ANONYMOUS` does),
//! writes the saved pages into it, and maps it at every VMA that named it.

use crate::image::{
    ObjId, RecordType, ShmemObj, ShmemPagesHeader, MAX_PAGES_PER_RECORD, PAGE_SIZE,
};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

/// Whether `file` is the file of shared anonymous memory ("dev/zero" on
/// the internal shmem mount, as `/proc/PID/map_files` opens it).
pub(crate) fn is_anon_shared(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper reads its dentry's name.
    unsafe { bindings::ckpt_file_is_anon_shared(file.as_ptr()) }
}

/// The shared-memory kind of shared object.
pub(crate) struct Shmem;

impl ObjOps for Shmem {
    /// The shmem file of a mapping.
    type Ref = FileRef;
    type Deps = ();

    fn key(file: &FileRef) -> usize {
        file.inode_addr()
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, (): ()) -> Result {
        write_shmem(w, file, id)
    }

    fn hold(file: FileRef) -> Option<FileRef> {
        Some(file)
    }
}

/// The next run of `file` that holds data at or after `from` (page
/// aligned, up to `size`): its start and the hole after it, or `None`.
/// Asks the page cache (`mapping_seek_hole_data`, as `SEEK_DATA` does,
/// swapped-out pages count as data) without moving the file's position.
fn next_data(file: &FileRef, from: u64, size: u64) -> Result<Option<(u64, u64)>> {
    let seek = |at: u64, whence: u32| -> Result<Option<u64>> {
        let at = i64::try_from(at).map_err(|_| EINVAL)?;
        let end = i64::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: the file is referenced, so its mapping is valid; the
        // walk takes RCU itself.
        let r = unsafe {
            bindings::mapping_seek_hole_data((*file.as_ptr()).f_mapping, at, end, whence as i32)
        };
        match r {
            r if r == ENXIO.to_errno() as i64 => Ok(None),
            r if r < 0 => Err(Error::from_errno(r as i32)),
            r => Ok(Some(r as u64)),
        }
    };
    let Some(data) = seek(from, bindings::SEEK_DATA)? else {
        return Ok(None);
    };
    let start = data - data % PAGE_SIZE as u64;
    let hole = seek(data, bindings::SEEK_HOLE)?.unwrap_or(size);
    let hole = hole
        .checked_next_multiple_of(PAGE_SIZE as u64)
        .ok_or(EINVAL)?
        .min(size);
    Ok((hole > start).then_some((start, hole)))
}

/// Writes a shared memory object and its contents: the pages that hold
/// something (holes and zero pages are left out: a new object is zero).
fn write_shmem(w: &mut ImageWriter, file: &FileRef, id: ObjId) -> Result {
    // A shmem inode's size changes only by truncation, which a mapped
    // anonymous object never sees (a deleted file's size is read once:
    // pages past it read as zero).
    let size = file.size();
    let size = u64::try_from(size).map_err(|_| EINVAL)?;
    let size = size
        .checked_next_multiple_of(PAGE_SIZE as u64)
        .ok_or(EINVAL)?;
    w.record(RecordType::Shmem, &ShmemObj { id, size }.encode())?;
    write_contents(w, file, id, size)
}

/// Writes the contents of the shmem file `file` (object `id`) up to
/// `size` (a multiple of the page size): a pages record per run of pages
/// that hold something.
pub(crate) fn write_contents(w: &mut ImageWriter, file: &FileRef, id: ObjId, size: u64) -> Result {
    // Read through an open file of its own: the one at hand may be open
    // for writing only, or an O_PATH file (no read permission is checked:
    // the caller may read the tree's memory anyway).
    // SAFETY: the file is referenced; the helper returns an ERR_PTR or a
    // new file with a reference, which `from_made` takes over.
    let own = unsafe {
        FileRef::from_made(bindings::ckpt_file_reopen(
            file.as_ptr(),
            (bindings::O_RDONLY | bindings::O_LARGEFILE) as i32,
            false,
        ))
    }?;
    write_contents_of(w, &own, id, size)
}

/// [`write_contents`] through `own`, a shmem file open for reading.
pub(crate) fn write_contents_of(
    w: &mut ImageWriter,
    own: &FileRef,
    id: ObjId,
    size: u64,
) -> Result {
    write_runs(w, own, id, size, &|from| next_data(own, from, size))
}

/// Writes the contents of `file` (object `id`) up to `size` (a multiple
/// of the page size), reading the runs of data `next` finds from an
/// offset on (their start and the hole after, page aligned): a pages
/// record per run of pages that hold something.
pub(crate) fn write_runs(
    w: &mut ImageWriter,
    file: &FileRef,
    id: ObjId,
    size: u64,
    next: &dyn Fn(u64) -> Result<Option<(u64, u64)>>,
) -> Result {
    if size == 0 {
        return Ok(());
    }
    let chunk = MAX_PAGES_PER_RECORD as usize * PAGE_SIZE;
    let mut buf = KVVec::from_elem(0u8, chunk.min(size as usize), GFP_KERNEL)?;
    let mut offset = 0u64;
    while offset < size {
        crate::wrap::task::killable()?;
        // Holes are skipped, not read: a 1 TiB MAP_NORESERVE mapping
        // with one page written costs one page.
        let Some((start, hole)) = next(offset)? else {
            break;
        };
        offset = start;
        let len = (size - offset).min(buf.len() as u64).min(hole - offset) as usize;
        let data = buf.get_mut(..len).ok_or(EINVAL)?;
        let got = file.read_at(data, i64::try_from(offset).map_err(|_| EINVAL)?)?;
        data.get_mut(got..).unwrap_or(&mut []).fill(0);
        // Runs of pages that hold something, one record each.
        let pages: KVec<bool> = {
            let mut v = KVec::with_capacity(len / PAGE_SIZE, GFP_KERNEL)?;
            for p in data.chunks(PAGE_SIZE) {
                v.push(p.iter().any(|&b| b != 0), GFP_KERNEL)?;
            }
            v
        };
        let mut i = 0;
        while i < pages.len() {
            if !pages.get(i).copied().unwrap_or(false) {
                i += 1;
                continue;
            }
            let start = i;
            while pages.get(i).copied().unwrap_or(false) {
                i += 1;
            }
            let h = ShmemPagesHeader {
                id,
                nr: u32::try_from(i - start).map_err(|_| EINVAL)?,
                offset: offset + (start * PAGE_SIZE) as u64,
            };
            let bytes = data.get(start * PAGE_SIZE..i * PAGE_SIZE).ok_or(EINVAL)?;
            let head = h.encode();
            let len = head.len().checked_add(bytes.len()).ok_or(EINVAL)?;
            w.begin_record(RecordType::ShmemPages, len)?;
            w.payload(&head)?;
            w.payload_direct(bytes)?;
            w.end_record(len)?;
        }
        offset += len as u64;
    }
    Ok(())
}

/// Before the point of no return: a new shmem file for a shared memory
/// object, as `MAP_SHARED|MAP_ANONYMOUS` makes one ("dev/zero").
pub(crate) fn restore(objs: &mut ObjTable, s: &ShmemObj) -> Result {
    let size = i64::try_from(s.size).map_err(|_| EINVAL)?;
    // SAFETY: the name is a static NUL-terminated string; the call returns
    // a referenced file or an ERR_PTR.
    let f = kernel::error::from_err_ptr(unsafe {
        bindings::shmem_kernel_file_setup(
            c"dev/zero".as_ptr().cast(),
            size,
            bindings::VM_NORESERVE as usize,
        )
    })?;
    // SAFETY: a non-error result carries a reference, owned from here.
    let file = unsafe { FileRef::from_raw(NonNull::new(f).ok_or(ENOMEM)?) };
    objs.add(s.id, Obj::Shmem(file))
}

/// Before the point of no return: writes saved contents into the shared
/// memory object they belong to.
pub(crate) fn restore_pages(objs: &mut ObjTable, h: &ShmemPagesHeader, data: &[u8]) -> Result {
    let pos = i64::try_from(h.offset).map_err(|_| EINVAL)?;
    let file = objs.shmem(h.id)?;
    // Not past the object's size (a memfd's last page is partly past its
    // end): a write there would grow it.
    let room = usize::try_from(file.size().saturating_sub(pos)).unwrap_or(0);
    file.write_all_at(data.get(..data.len().min(room)).unwrap_or(&[]), pos)
}
