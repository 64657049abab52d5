// SPDX-License-Identifier: GPL-2.0

//! Named pipes (FIFOs): the pipe behind a path, its capacity and the bytes
//! in flight.
//!
//! C header: [`include/linux/pipe_fs_i.h`](srctree/include/linux/pipe_fs_i.h).
//!
//! A FIFO is a kind of shared object ([`Fifo`], `objects.rs`) keyed by its
//! pipe: every open file of it, in any process, names one object, written
//! once before the first of them with its path, capacity and bytes in
//! flight (read as for an anonymous pipe, without consuming them).
//!
//! Restart opens the path for reading and writing, non-blocking (so the
//! open never waits for a partner, and the pipe stays alive while the
//! tasks' own opens are made), checks that it is a FIFO holding nothing,
//! and writes the saved bytes into it. Each open file is then reopened by
//! path with its own flags and must land on that same pipe. The FIFO must
//! still be at its path: a FIFO whose path is gone cannot be reopened and
//! the restart fails with the path named.

use crate::image::{FifoObj, ObjId, RecordType};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::pipe;
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::prelude::*;

/// The FIFO kind of shared object.
pub(crate) struct Fifo;

impl ObjOps for Fifo {
    /// One of the FIFO's open files.
    type Ref = FileRef;
    type Deps = ();

    /// Its pipe: every open file of the FIFO shares it.
    fn key(file: &FileRef) -> usize {
        pipe::fifo_of(file).map_or(0, |p| p.as_ptr() as usize)
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    /// The FIFO record: capacity, the bytes in flight, the path.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, (): ()) -> Result {
        let p = pipe::fifo_of(file).ok_or(EINVAL)?;
        let (capacity, data) = pipe::peek(p)?;
        let path = file.path_name()?;
        let rec = FifoObj {
            id,
            capacity,
            data_len: u32::try_from(data.len()).map_err(|_| EINVAL)?,
            path_len: u32::try_from(path.len()).map_err(|_| EINVAL)?,
        };
        w.record_parts(RecordType::Fifo, &[&rec.encode(), &data, &path])
    }

    /// The file it was found through keeps the pipe (and so the key).
    fn hold(file: FileRef) -> Option<FileRef> {
        Some(file)
    }
}

/// Restart: opens the FIFO at its path for reading and writing and puts
/// the saved bytes in it, for the file records that reopen it.
pub(crate) fn restore(objs: &mut ObjTable, rec: &FifoObj, data: &[u8], path: &[u8]) -> Result {
    let shown = crate::log::Shown(path);
    let flags = bindings::O_RDWR | bindings::O_NONBLOCK;
    let holder = FileRef::open(path, flags as i32).inspect_err(|e| {
        ckpt_err!(
            "restart: cannot open the FIFO {} (error {})\n",
            shown,
            e.to_errno()
        );
    })?;
    let p = pipe::fifo_of(&holder).ok_or_else(|| {
        ckpt_err!("restart: {} is not a FIFO any more\n", shown);
        EINVAL
    })?;
    let (_, now) = pipe::peek(p)?;
    if !now.is_empty() {
        ckpt_err!(
            "restart: the FIFO {} holds {} bytes written since the checkpoint\n",
            shown,
            now.len()
        );
        return Err(EBUSY);
    }
    pipe::fill(&holder, rec.capacity, data)?;
    objs.add(rec.id, Obj::Fifo(holder))
}

/// Restart: whether `file`, an open file reopened by path, is on the pipe
/// of the FIFO object `id`.
pub(crate) fn is_on(objs: &mut ObjTable, id: ObjId, file: &FileRef) -> Result<bool> {
    let holder = objs.fifo(id)?;
    Ok(pipe::fifo_of(holder).is_some_and(|p| Some(p) == pipe::fifo_of(file)))
}
