// SPDX-License-Identifier: GPL-2.0

//! Eventfds: a count and the flags the eventfd was made with.
//!
//! C header: [`include/linux/eventfd.h`](srctree/include/linux/eventfd.h).
//!
//! An eventfd is the `struct eventfd_ctx` behind one open file (`dup` and
//! `fork` share the file, never the context alone). It is a kind of
//! shared object ([`Eventfd`], `objects.rs`) written once, before its open
//! file, with the count and flags read under the lock read(2) and write(2)
//! take. Restart makes a new eventfd holding the saved count, which the
//! file record then takes. Readers and writers blocked on it were frozen
//! in read(2) or write(2) and restart the call.

use crate::image::{EventfdObj, ObjId, RecordType, FILE_EVENTFD};
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// Whether `file` is an eventfd.
pub(crate) fn is_eventfd(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper compares its f_op.
    unsafe { bindings::ckpt_file_is_eventfd(file.as_ptr()) }
}

/// The eventfd kind of shared object.
pub(crate) struct Eventfd;

impl ObjOps for Eventfd {
    /// The eventfd's file.
    type Ref = FileRef;
    type Deps = ();

    fn key(file: &FileRef) -> usize {
        file.as_ptr() as usize
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    /// The eventfd record: its count and flags.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, (): ()) -> Result {
        let (mut count, mut flags) = (0u64, 0u32);
        // SAFETY: the file is referenced; the helper reads its context
        // under the context's lock, or fails for a file that is not one.
        to_result(unsafe { bindings::ckpt_eventfd_get(file.as_ptr(), &mut count, &mut flags) })?;
        let rec = EventfdObj { id, flags, count };
        w.record(RecordType::Eventfd, &rec.encode())
    }

    /// Nothing of its own: its open file, which the hash holds, keeps it.
    fn hold(_: FileRef) -> Option<FileRef> {
        None
    }
}

/// Restart: a new eventfd with the saved count and flags, for the file
/// record that takes it.
pub(crate) fn restore(objs: &mut ObjTable, rec: &EventfdObj) -> Result {
    // SAFETY: the helper only reads its arguments and returns an ERR_PTR
    // or a file with a reference, which `from_made` takes over.
    let file = unsafe { FileRef::from_made(bindings::ckpt_eventfd_create(rec.count, rec.flags))? };
    objs.add_made(rec.id, file, FILE_EVENTFD)
}
