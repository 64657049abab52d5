// SPDX-License-Identifier: GPL-2.0

//! Signalfds: the set of signals a descriptor reads.
//!
//! C header: [`include/linux/signalfd.h`](srctree/include/linux/signalfd.h).
//!
//! A signalfd is the `struct signalfd_ctx` behind one open file. It is a
//! kind of shared object ([`Signalfd`], `objects.rs`) written once, before
//! its open file, with its mask. The signals it reads are the task's own
//! pending signals, saved with the task (`signal.rs`). Restart makes a new
//! signalfd reading the saved mask, which the file record then takes.

use crate::image::{ObjId, RecordType, SignalfdObj, FILE_SIGNALFD};
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::prelude::*;

/// Whether `file` is a signalfd.
pub(crate) fn is_signalfd(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper compares its f_op.
    unsafe { bindings::ckpt_file_is_signalfd(file.as_ptr()) }
}

/// The signalfd kind of shared object.
pub(crate) struct Signalfd;

impl ObjOps for Signalfd {
    /// The signalfd's file.
    type Ref = FileRef;
    type Deps = ();

    fn key(file: &FileRef) -> usize {
        file.as_ptr() as usize
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    /// The signalfd record: its mask.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, (): ()) -> Result {
        if !is_signalfd(file) {
            return Err(EINVAL);
        }
        // SAFETY: the file is referenced and is a signalfd.
        let mask = unsafe { bindings::ckpt_signalfd_mask(file.as_ptr()) };
        w.record(RecordType::Signalfd, &SignalfdObj { id, mask }.encode())
    }

    /// Nothing of its own: its open file, which the hash holds, keeps it.
    fn hold(_: FileRef) -> Option<FileRef> {
        None
    }
}

/// Restart: a new signalfd reading the saved mask, for the file record
/// that takes it (its O_NONBLOCK is the file record's).
pub(crate) fn restore(objs: &mut ObjTable, rec: &SignalfdObj) -> Result {
    // SAFETY: the helper only reads its arguments and returns an ERR_PTR
    // or a file with a reference, which `from_made` takes over.
    let file = unsafe { FileRef::from_made(bindings::ckpt_signalfd_create(rec.mask, 0))? };
    objs.add_made(rec.id, file, FILE_SIGNALFD)
}
