// SPDX-License-Identifier: GPL-2.0

//! Memfds: a named shmem file with its contents and seals.
//!
//! C header: [`include/linux/memfd.h`](srctree/include/linux/memfd.h).
//!
//! A memfd is its shmem inode: every open file of it (a descriptor, a
//! reopen through `/proc/PID/fd`) and every `MAP_SHARED` mapping of it
//! names one object ([`Memfd`], `objects.rs`), keyed by the inode and
//! written once with its name, size, permission bits and seals, its
//! contents following as shared memory pages (holes left out).
//!
//! Restart makes a new memfd with the same name and size
//! (`ckpt_memfd_create`, as memfd_create(2) does, sealing allowed), writes
//! the contents into it, opens a file of it for each open file record and
//! maps it for each mapping; its seals are added last, once the whole
//! image is read ([`ObjTable::finish`]), as fcntl(F_ADD_SEALS) adds them:
//! a write seal would stop the contents being written, a future-write
//! seal the writable mappings being made.

use crate::image::{MemfdObj, ObjId, RecordType, MEMFD_NAME_MAX};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// Whether `file` is a memfd (on shmem).
pub(crate) fn is_memfd(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper reads its dentry's name.
    unsafe { bindings::ckpt_file_is_memfd(file.as_ptr()) }
}

/// The memfd kind of shared object.
pub(crate) struct Memfd;

impl ObjOps for Memfd {
    /// An open file of the memfd.
    type Ref = FileRef;
    type Deps = ();

    /// Its inode: every open file and mapping of it is one object.
    fn key(file: &FileRef) -> usize {
        file.inode_addr()
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    /// The memfd record and its name, then its contents.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, (): ()) -> Result {
        let (mut seals, mut size, mut mode) = (0u32, 0i64, 0u32);
        let mut name = [0u8; MEMFD_NAME_MAX as usize + 1];
        // SAFETY: the file is referenced and `name` holds its length in
        // bytes; the helper reads the inode under its lock.
        to_result(unsafe {
            bindings::ckpt_memfd_get(
                file.as_ptr(),
                &mut seals,
                &mut size,
                &mut mode,
                name.as_mut_ptr().cast(),
                name.len(),
            )
        })?;
        let len = name.iter().position(|&c| c == 0).ok_or(EINVAL)?;
        let name = name.get(..len).ok_or(EINVAL)?;
        let rec = MemfdObj {
            id,
            seals,
            size: u64::try_from(size).map_err(|_| EINVAL)?,
            mode: mode & 0o777,
            name_len: u32::try_from(len).map_err(|_| EINVAL)?,
        };
        w.record_parts(RecordType::Memfd, &[&rec.encode(), name])?;
        crate::shmem::write_contents(w, file, id, rec.pages_size())
    }

    fn hold(file: FileRef) -> Option<FileRef> {
        Some(file)
    }
}

/// Restart: a new memfd with the saved name, size and mode; its contents
/// follow, its seals wait for the end of the image.
pub(crate) fn restore(objs: &mut ObjTable, rec: &MemfdObj, name: &[u8]) -> Result {
    let mut cname = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
    cname.extend_from_slice(name, GFP_KERNEL)?;
    cname.push(0, GFP_KERNEL)?;
    let size = i64::try_from(rec.size).map_err(|_| EINVAL)?;
    // SAFETY: `cname` is NUL-terminated; the helper returns an ERR_PTR or
    // a file with a reference, which `from_made` takes over.
    let file = unsafe {
        FileRef::from_made(bindings::ckpt_memfd_create(
            cname.as_ptr().cast(),
            size,
            rec.mode,
            rec.seals,
        ))
    }
    .inspect_err(|e| {
        ckpt_err!(
            "restart: cannot make memfd {} (error {})\n",
            crate::log::Shown(name),
            e.to_errno()
        );
    })?;
    objs.add(
        rec.id,
        Obj::Memfd {
            file,
            seals: rec.seals,
        },
    )
}

/// Restart: a new open file of the memfd `memfd` with the open flags
/// `flags`.
pub(crate) fn open(memfd: &FileRef, flags: u32) -> Result<FileRef> {
    // SAFETY: the file is referenced; the helper opens its path as a new
    // open file, returning an ERR_PTR or a file with a reference.
    unsafe { FileRef::from_made(bindings::ckpt_memfd_open(memfd.as_ptr(), flags)) }
}

/// The end of the image: the memfd's seals, added as fcntl(F_ADD_SEALS)
/// would.
pub(crate) fn seal(file: &FileRef, seals: u32) -> Result {
    // SAFETY: the file is referenced.
    to_result(unsafe { bindings::ckpt_memfd_seal(file.as_ptr(), seals) })
}
