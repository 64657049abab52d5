// SPDX-License-Identifier: GPL-2.0

//! Timerfds: a clock, the time to the next expiration, an interval and
//! the expirations not read yet.
//!
//! C header: [`include/linux/timerfd.h`](srctree/include/linux/timerfd.h).
//!
//! A timerfd is the `struct timerfd_ctx` behind one open file. It is a kind
//! of shared object ([`Timerfd`], `objects.rs`) written once, before its
//! open file. The time to its next expiration is saved relative to the
//! checkpoint and set relative at restart: a timer with 3 s to go goes off
//! 3 s after the restart (an absolute `CLOCK_REALTIME` deadline keeps its
//! flags but not its wall-clock instant across a clock change). Timerfds
//! on alarm clocks are refused at checkpoint.

use crate::image::{ObjId, RecordType, TimerfdObj, FILE_TIMERFD};
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// Whether `file` is a timerfd.
pub(crate) fn is_timerfd(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper compares its f_op.
    unsafe { bindings::ckpt_file_is_timerfd(file.as_ptr()) }
}

/// The timerfd kind of shared object.
pub(crate) struct Timerfd;

impl ObjOps for Timerfd {
    /// The timerfd's file.
    type Ref = FileRef;
    type Deps = ();

    fn key(file: &FileRef) -> usize {
        file.as_ptr() as usize
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    /// The timerfd record.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, (): ()) -> Result {
        let mut t = bindings::ckpt_timerfd::default();
        // SAFETY: the file is referenced; the helper reads its context
        // under the context's lock, or fails for a file that is not one.
        to_result(unsafe { bindings::ckpt_timerfd_get(file.as_ptr(), &mut t) })?;
        let rec = TimerfdObj {
            id,
            clockid: t.clockid,
            flags: t.flags,
            ticks: t.ticks,
            value_ns: t.value_ns,
            interval_ns: t.interval_ns,
        };
        w.record(RecordType::Timerfd, &rec.encode())
    }

    /// Nothing of its own: its open file, which the hash holds, keeps it.
    fn hold(_: FileRef) -> Option<FileRef> {
        None
    }
}

/// Restart: a new timerfd in the saved state, for the file record that
/// takes it (its O_NONBLOCK is the file record's).
pub(crate) fn restore(objs: &mut ObjTable, rec: &TimerfdObj) -> Result {
    let t = bindings::ckpt_timerfd {
        clockid: rec.clockid,
        flags: rec.flags,
        ticks: rec.ticks,
        value_ns: rec.value_ns,
        interval_ns: rec.interval_ns,
    };
    // SAFETY: the helper only reads its arguments and returns an ERR_PTR
    // or a file with a reference, which `from_made` takes over.
    let file = unsafe { FileRef::from_made(bindings::ckpt_timerfd_create(&t))? };
    objs.add_made(rec.id, file, FILE_TIMERFD)
}
