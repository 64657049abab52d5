// SPDX-License-Identifier: GPL-2.0

//! Anonymous pipes: their capacity and the bytes in flight.
//!
//! C header: [`include/linux/pipe_fs_i.h`](srctree/include/linux/pipe_fs_i.h).
//!
//! A pipe is a kind of shared object ([`Pipe`], `objects.rs`): both ends'
//! open files refer to it, and it is written once, before the first of
//! them. Its buffers are read without
//! consuming them, under the pipe's mutex, oldest first: restart writes the
//! same bytes into a new pipe of the same capacity, so a reader gets every
//! byte in the order it would have. Packet mode (`O_DIRECT` pipes) is not
//! kept: the pipe comes back as a byte stream.
//!
//! Named pipes (FIFOs) share the code in the kernel but have a path; they
//! are refused at checkpoint.

use crate::image::{ObjId, PipeObj, RecordType, PAGE_SIZE};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::wrap::file::{FileRef, PosLock};
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// The pipe behind `file`, if it is an anonymous pipe (not a FIFO).
pub(crate) fn anon_pipe_of(file: &FileRef) -> Option<NonNull<bindings::pipe_inode_info>> {
    // SAFETY: the file is referenced; `get_pipe_info` only compares its
    // f_op and returns its private data (the pipe, alive with the file).
    let pipe = NonNull::new(unsafe { bindings::get_pipe_info(file.as_ptr(), false) })?;
    // SAFETY: a file's inode and superblock live as long as the file.
    let magic = unsafe { (*(*(*file.as_ptr()).f_inode).i_sb).s_magic };
    (magic == bindings::PIPEFS_MAGIC as usize).then_some(pipe)
}

/// The pipe behind `file` if it is a named pipe (a FIFO) rather than an
/// anonymous one.
pub(crate) fn fifo_of(file: &FileRef) -> Option<NonNull<bindings::pipe_inode_info>> {
    // SAFETY: as in `anon_pipe_of`.
    let pipe = NonNull::new(unsafe { bindings::get_pipe_info(file.as_ptr(), false) })?;
    anon_pipe_of(file).is_none().then_some(pipe)
}

/// Holds `pipe->mutex` while it lives.
struct PipeGuard(NonNull<bindings::pipe_inode_info>);

impl PipeGuard {
    fn lock(pipe: NonNull<bindings::pipe_inode_info>) -> Self {
        // SAFETY: the pipe is alive (its file is referenced); pipe_lock
        // takes its mutex and may sleep.
        unsafe { bindings::pipe_lock(pipe.as_ptr()) };
        Self(pipe)
    }
}

impl Drop for PipeGuard {
    fn drop(&mut self) {
        // SAFETY: the mutex is held by this guard.
        unsafe { bindings::pipe_unlock(self.0.as_ptr()) };
    }
}

/// Copies the bytes in flight out of `pipe` without consuming them, and
/// its capacity in bytes.
pub(crate) fn peek(pipe: NonNull<bindings::pipe_inode_info>) -> Result<(u32, KVVec<u8>)> {
    let mut data = KVVec::new();
    let _guard = PipeGuard::lock(pipe);
    let p = pipe.as_ptr();
    // SAFETY: the pipe's mutex is held: head, tail, the ring and every
    // buffer in it are stable (writers and readers take the mutex too).
    unsafe {
        let (head, tail, ring) = ((*p).head, (*p).tail, (*p).ring_size);
        if ring == 0 || !ring.is_power_of_two() || head.wrapping_sub(tail) > ring {
            return Err(EINVAL);
        }
        let capacity = ((*p).max_usage as usize)
            .checked_mul(PAGE_SIZE)
            .and_then(|c| u32::try_from(c).ok())
            .ok_or(EINVAL)?;
        let mut i = tail;
        while i != head {
            let buf = (*p).bufs.add((i & (ring - 1)) as usize);
            // pipe_buf_confirm(): a spliced page-cache page may still be
            // under I/O; anonymous pipe pages have no confirm operation.
            let ops = (*buf).ops;
            if !ops.is_null() {
                if let Some(confirm) = (*ops).confirm {
                    to_result(confirm(p, buf))?;
                }
            }
            let (off, len) = ((*buf).offset as usize, (*buf).len as usize);
            if off.checked_add(len).map_or(true, |end| end > PAGE_SIZE) {
                return Err(EINVAL);
            }
            let base = bindings::kmap_local_page((*buf).page).cast::<u8>();
            let r =
                data.extend_from_slice(core::slice::from_raw_parts(base.add(off), len), GFP_KERNEL);
            bindings::kunmap_local(base.cast());
            r?;
            i = i.wrapping_add(1);
        }
        Ok((capacity, data))
    }
}

/// The pipe kind of shared object.
pub(crate) struct Pipe;

impl ObjOps for Pipe {
    /// Valid as long as the file it was found through, which the object
    /// hash holds.
    type Ref = NonNull<bindings::pipe_inode_info>;
    type Deps = ();

    fn key(pipe: &Self::Ref) -> usize {
        pipe.as_ptr() as usize
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &Self::Ref) -> Result {
        Ok(())
    }

    /// The pipe record: capacity and the bytes in flight.
    fn write(w: &mut ImageWriter, pipe: &Self::Ref, id: ObjId, (): ()) -> Result {
        let (capacity, data) = peek(*pipe)?;
        let rec = PipeObj {
            id,
            capacity,
            data_len: u32::try_from(data.len()).map_err(|_| EINVAL)?,
        };
        w.record_parts(RecordType::Pipe, &[&rec.encode(), &data])
    }

    fn hold(_: Self::Ref) -> Option<FileRef> {
        None
    }
}

/// Restart: creates the pipe of a pipe record, with both ends for the
/// file records that take them.
pub(crate) fn restore(objs: &mut ObjTable, rec: &PipeObj, data: &[u8]) -> Result {
    let (read, write) = create(rec, data)?;
    objs.add(
        rec.id,
        Obj::Pipe {
            read: Some(read),
            write: Some(write),
            opened: None,
        },
    )
}

/// A new pipe with the saved capacity and bytes in flight: (read end,
/// write end).
fn create(rec: &PipeObj, data: &[u8]) -> Result<(FileRef, FileRef)> {
    let mut res: [*mut bindings::file; 2] = [core::ptr::null_mut(); 2];
    // SAFETY: `res` has room for the two files create_pipe_files returns
    // (each with a reference) on success.
    to_result(unsafe { bindings::create_pipe_files(res.as_mut_ptr(), 0) })?;
    let [r, w] = res;
    // SAFETY: on success both are referenced files, now owned here.
    let (read, write) = unsafe {
        (
            FileRef::from_raw(NonNull::new(r).ok_or(EINVAL)?),
            FileRef::from_raw(NonNull::new(w).ok_or(EINVAL)?),
        )
    };
    fill(&write, rec.capacity, data)?;
    Ok((read, write))
}

/// Gives the empty pipe that `write` writes to `capacity` bytes and writes
/// `data` into it (no more than `capacity`: the write does not block).
pub(crate) fn fill(write: &FileRef, capacity: u32, data: &[u8]) -> Result {
    // SAFETY: the file is a referenced pipe file open for writing;
    // F_SETPIPE_SZ checks the size against pipe-max-size and the caller's
    // privileges.
    let got = unsafe { bindings::pipe_fcntl(write.as_ptr(), bindings::F_SETPIPE_SZ, capacity) };
    if got != capacity as isize {
        ckpt_err!(
            "restart: cannot give a pipe {} bytes (error {})\n",
            capacity,
            got
        );
        return Err(if got < 0 {
            Error::from_errno(got as i32)
        } else {
            EINVAL
        });
    }
    PosLock::lock(write.clone_ref()).write_all(data)
}

/// Restart: another open file of the pipe that `end` is an end of, with
/// the access mode and O_LARGEFILE of `f_flags`, as opening
/// `/proc/PID/fd/N` of it gives (opened without blocking; the file record
/// sets O_NONBLOCK as it was).
pub(crate) fn reopen(end: &FileRef, f_flags: u32) -> Result<FileRef> {
    let flags = i32::try_from(f_flags).map_err(|_| EINVAL)?;
    // SAFETY: the file is referenced; the helper opens its path with the
    // caller's credentials, returning an ERR_PTR or a referenced file.
    unsafe { FileRef::from_made(bindings::ckpt_pipe_reopen(end.as_ptr(), flags)) }
}
