// SPDX-License-Identifier: GPL-2.0

//! File locks: POSIX record locks, OFD locks and flock(2) locks.
//!
//! C header: [`include/linux/filelock.h`](srctree/include/linux/filelock.h).
//!
//! A process's locks are written after its fd records: the POSIX locks
//! its descriptor table owns, each with the open file it was set through
//! (`/proc/PID/fdinfo` lists it there), and the OFD and flock(2) locks its
//! open files own (once per open file in the whole image, however many
//! descriptors and processes share it).
//!
//! Restart sets each lock again as the task whose records hold it, before
//! its point of no return, so that every lock is held again before any
//! task of the tree runs: POSIX locks owned by its descriptor table (the
//! same table its descriptors are installed in), OFD and flock locks by
//! the restored open file, all without waiting. A lock another process
//! took while the tree was not running fails the restart with
//! `EAGAIN`, naming the file. POSIX locks taken by a restart that fails
//! before its point of no return are released again ([`Held`]): the
//! descriptor table they belong to is the caller's.
//!
//! A lease (`F_SETLEASE`) is the open file's too: written once with its
//! type and the descriptor its break signal names, and taken again as the
//! task whose records hold it once the task has its own credentials (at
//! the end of its restore, before its signal owners: `fcntl(2)`'s rule,
//! the file's owner or `CAP_LEASE`, with no conflicting open). A lease
//! being broken, or an NFS delegation, is refused at checkpoint.

use crate::image::{
    FileLockRec, ObjId, RecordType, LOCK_FLOCK, LOCK_LEASE, LOCK_OFD, LOCK_POSIX, LOCK_READ,
    LOCK_WRITE,
};
use crate::objhash::{ObjHash, ObjTable};
use crate::open_file::OpenFile;
use crate::wrap::file::FileRef;
use crate::wrap::task::{killable, TaskRef};
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// The locks on `file`'s inode that `task` holds through it (its table's
/// POSIX locks, the file's OFD and flock locks).
fn locks_of(task: &TaskRef, file: &FileRef) -> Result<KVec<bindings::ckpt_file_lock>> {
    let mut cap: usize = 4;
    for _ in 0..4 {
        let mut buf = KVec::with_capacity(cap, GFP_KERNEL)?;
        for _ in 0..cap {
            buf.push(
                bindings::ckpt_file_lock {
                    kind: 0,
                    type_: 0,
                    start: 0,
                    end: 0,
                },
                GFP_KERNEL,
            )?;
        }
        let max = u32::try_from(cap).map_err(|_| E2BIG)?;
        // SAFETY: the task and the file are referenced and `buf` holds
        // `max` entries; the helper reads the inode's lock lists under
        // their lock.
        let n = unsafe {
            bindings::ckpt_file_locks(task.as_ptr(), file.as_ptr(), buf.as_mut_ptr(), max)
        };
        to_result(n)?;
        let n = usize::try_from(n).map_err(|_| EINVAL)?;
        if n <= cap {
            let mut out = KVec::with_capacity(n, GFP_KERNEL)?;
            for l in buf.iter().take(n) {
                out.push(*l, GFP_KERNEL)?;
            }
            return Ok(out);
        }
        // More locks than room (another process's task may add OFD or
        // flock locks to a shared open file meanwhile): try again.
        cap = n.checked_add(4).ok_or(E2BIG)?;
    }
    ckpt_err!("checkpoint: the locks of an open file keep changing while it is saved\n");
    Err(EBUSY)
}

/// Whether any lock is on `file`'s inode that `task` holds through its
/// table (POSIX) or that is the file's (OFD, flock).
pub(crate) fn any(task: &TaskRef, file: &FileRef) -> Result<bool> {
    Ok(!locks_of(task, file)?.is_empty() || lease_of(file)?.is_some())
}

/// Whether `file` holds a lease (which sets `O_ASYNC` on it: the lease
/// record brings that back).
pub(crate) fn has_lease(file: &FileRef) -> Result<bool> {
    Ok(lease_of(file)?.is_some())
}

/// The lease `file` holds: `LOCK_READ` or `LOCK_WRITE`, and the
/// descriptor its break signal names; `-EOPNOTSUPP` for one being broken.
fn lease_of(file: &FileRef) -> Result<Option<(u32, u32)>> {
    let mut fd = -1;
    // SAFETY: the file is referenced; the helper reads the inode's lease
    // list under its lock.
    let ty = unsafe { bindings::ckpt_file_lease(file.as_ptr(), &mut fd) };
    match u32::try_from(ty) {
        Ok(bindings::F_RDLCK) => Ok(Some((LOCK_READ, u32::try_from(fd).unwrap_or(0)))),
        Ok(bindings::F_WRLCK) => Ok(Some((LOCK_WRITE, u32::try_from(fd).unwrap_or(0)))),
        Ok(_) => Ok(None),
        Err(_) => Err(crate::wrap::errno::eopnotsupp()),
    }
}

/// Writes the lock records of `task` (a thread group leader), whose open
/// files (`files`, with their ids) were written.
pub(crate) fn dump(
    w: &mut ImageWriter,
    task: &TaskRef,
    objs: &mut ObjHash,
    files: &[FileRef],
) -> Result {
    // Open files of this table already looked at (a descriptor dup'ed
    // from another names the same file).
    let mut seen = KVec::new();
    for file in files {
        killable()?;
        let addr = file.as_ptr() as usize;
        if seen.contains(&addr) {
            continue;
        }
        seen.push(addr, GFP_KERNEL)?;
        let locks = locks_of(task, file)?;
        let lease = lease_of(file)?;
        if locks.is_empty() && lease.is_none() {
            continue;
        }
        // The file's own (OFD, flock) locks, once in the image however many
        // processes share the open file; this table's POSIX locks always.
        let file_first = objs.first_visit(addr)?;
        let id: ObjId = objs.id_of::<OpenFile>(w, file.clone_ref())?;
        for l in locks.iter() {
            if l.kind != bindings::CKPT_LOCK_POSIX && !file_first {
                continue;
            }
            let rec = FileLockRec {
                file: id,
                kind: match l.kind {
                    bindings::CKPT_LOCK_POSIX => LOCK_POSIX,
                    bindings::CKPT_LOCK_OFD => LOCK_OFD,
                    _ => LOCK_FLOCK,
                },
                lock_type: l.type_,
                fd: 0,
                start: l.start,
                end: l.end,
            };
            w.record(RecordType::FileLock, &rec.encode())?;
        }
        if let Some((lock_type, fd)) = lease.filter(|_| file_first) {
            let rec = FileLockRec {
                file: id,
                kind: LOCK_LEASE,
                lock_type,
                fd,
                start: 0,
                end: 0,
            };
            w.record(RecordType::FileLock, &rec.encode())?;
        }
    }
    Ok(())
}

/// A lease to take again once the task has its own credentials.
pub(crate) struct Lease {
    file: FileRef,
    fd: u32,
    lock_type: u32,
}

/// Restart: the lease of `rec` (a `LOCK_LEASE` record), to take at the
/// end of the task's restore ([`apply_lease`]); its file must be one a
/// descriptor record of the process names.
pub(crate) fn restore_lease(
    objs: &mut ObjTable,
    files: &crate::fdtable::Prepared,
    rec: &FileLockRec,
) -> Result<Lease> {
    if !files.names_file(rec.file) {
        ckpt_err!(
            "restart: a lease is held through file {}, which no descriptor of the process names\n",
            rec.file
        );
        return Err(EINVAL);
    }
    let file = objs.file(rec.file)?.clone_ref();
    // What fcntl(F_SETLEASE) takes, checked before the point of no return
    // where it can be: a regular file, not an O_PATH one.
    if file.mode() & 0o170000 != 0o100000 || file.flags() & bindings::O_PATH != 0 {
        ckpt_err!(
            "restart: a lease is held through file {}, which is not a regular file open for reading or writing\n",
            rec.file
        );
        return Err(EINVAL);
    }
    Ok(Lease {
        file,
        fd: rec.fd,
        lock_type: rec.lock_type,
    })
}

/// Takes `l` again as the current task, with its own credentials.
pub(crate) fn apply_lease(l: &Lease) -> Result {
    let ty = if l.lock_type == LOCK_WRITE {
        bindings::F_WRLCK
    } else {
        bindings::F_RDLCK
    };
    // SAFETY: the file is referenced; the helper takes the lease as
    // fcntl(F_SETLEASE) by current would.
    to_result(unsafe {
        bindings::ckpt_file_lease_set(l.file.as_ptr(), l.fd, ty as kernel::ffi::c_int)
    })
    .inspect_err(|e| {
        let path = l.file.path_name().unwrap_or_default();
        ckpt_err!(
            "restart: cannot take the lease on {} again (error {}: another process has it open, or the file is not the task's)\n",
            crate::log::Shown(&path),
            e.to_errno()
        );
    })
}

/// The open files through which a restarting task took POSIX locks,
/// released again if the restart fails before its point of no return
/// (they belong to the descriptor table the task goes on with).
pub(crate) struct Held(KVec<FileRef>);

impl Held {
    pub(crate) fn new() -> Self {
        Self(KVec::new())
    }

    /// The point of no return: the locks stay.
    pub(crate) fn keep(&mut self) {
        self.0 = KVec::new();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        for f in self.0.iter() {
            // SAFETY: the file is referenced; the helper drops current's
            // table's POSIX locks on its inode, as close(2) does.
            unsafe { bindings::ckpt_file_unlock_posix(f.as_ptr()) };
        }
    }
}

/// Restart: sets the lock of `rec` again as the current task, whose
/// descriptor records (`files`) must name the file: a POSIX lock lives as
/// long as its table has the file's inode open.
pub(crate) fn restore(
    held: &mut Held,
    objs: &mut ObjTable,
    files: &crate::fdtable::Prepared,
    rec: &FileLockRec,
) -> Result {
    if !files.names_file(rec.file) {
        ckpt_err!(
            "restart: a lock is set through file {}, which no descriptor of the process names\n",
            rec.file
        );
        return Err(EINVAL);
    }
    let file = objs.file(rec.file)?.clone_ref();
    let l = bindings::ckpt_file_lock {
        kind: match rec.kind {
            LOCK_POSIX => bindings::CKPT_LOCK_POSIX,
            LOCK_OFD => bindings::CKPT_LOCK_OFD,
            LOCK_FLOCK => bindings::CKPT_LOCK_FLOCK,
            _ => return Err(EINVAL),
        },
        type_: rec.lock_type,
        start: rec.start,
        end: rec.end,
    };
    if rec.kind == LOCK_POSIX && !held.0.iter().any(|f| f.inode_addr() == file.inode_addr()) {
        // The first lock on this inode: current's table must not have it
        // open or locked already.
        // SAFETY: the file is referenced; the helper looks at current's
        // table and the inode's locks under their locks.
        to_result(unsafe { bindings::ckpt_file_lock_busy(file.as_ptr()) }).inspect_err(|_| {
            let path = file.path_name().unwrap_or_default();
            ckpt_err!(
                "restart: the restarting process has {} open or locked already\n",
                crate::log::Shown(&path)
            );
        })?;
        // Released again on failure, before it is taken.
        held.0.push(file.clone_ref(), GFP_KERNEL_ACCOUNT)?;
    }
    // SAFETY: the file is referenced; the helper sets the lock as current
    // would with fcntl(2) or flock(2), without waiting.
    to_result(unsafe { bindings::ckpt_file_lock_set(file.as_ptr(), &l) }).inspect_err(|e| {
        let path = file.path_name().unwrap_or_default();
        if *e == EAGAIN {
            ckpt_err!(
                "restart: {} is locked by another process (its lock on bytes {}..{} cannot be taken again)\n",
                crate::log::Shown(&path),
                rec.start,
                rec.end
            );
        } else {
            ckpt_err!(
                "restart: cannot lock {} again (error {})\n",
                crate::log::Shown(&path),
                e.to_errno()
            );
        }
    })
}
