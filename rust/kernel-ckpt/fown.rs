// SPDX-License-Identifier: GPL-2.0

//! Signal owners: how an open file signals its I/O.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).
//!
//! An open file with `O_ASYNC` sends a signal to its owner when I/O is
//! possible: the owner is a thread, a process or a process group
//! (`F_SETOWN`, `F_SETOWN_EX`), the signal SIGIO or the one `F_SETSIG`
//! chose, and with `F_SETSIG` its `si_fd` is the descriptor `O_ASYNC` was
//! set through. This is state of the open file, saved once ([`dump`],
//! after the descriptors of the first process that holds it) in a
//! `file-owner` record. The owner must be a task or a group of the tree
//! ([`check`], before anything is written). Restart sets `O_ASYNC` as
//! fcntl(F_SETFL) does, through the saved descriptor, then, once the task
//! has its own credentials (the owner keeps its setter's), the owner as
//! `F_SETOWN_EX` and the signal as `F_SETSIG` do.

use crate::image::{FileOwnerRec, ObjId, RecordType, OWNER_PGRP, OWNER_PID, OWNER_TID};
use crate::objhash::{ObjHash, ObjTable};
use crate::open_file::OpenFile;
use crate::wrap::file::FileRef;
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// The signal owner of `file` (its pid in `ns`, 0 for none, -1 for one
/// `ns` does not see, and its `PIDTYPE_*`) and its `F_SETSIG` signal.
fn owner_of(file: &FileRef, ns: &PidNs) -> (i32, bindings::pid_type, i32) {
    let (mut nr, mut ty, mut sig) = (0, 0, 0);
    // SAFETY: the file is referenced and `ns` live; the helper reads the
    // owner under the owner's lock.
    unsafe { bindings::ckpt_file_owner(file.as_ptr(), ns.as_ptr(), &mut nr, &mut ty, &mut sig) };
    (nr, ty as bindings::pid_type, sig)
}

/// Whether `file` has `O_ASYNC` on.
fn is_async(file: &FileRef) -> bool {
    file.flags() & bindings::FASYNC != 0
}

/// Whether `file` has a signal owner, a signal set or `O_ASYNC` on.
pub(crate) fn signals(file: &FileRef) -> Result<bool> {
    let (nr, _, sig) = owner_of(file, &PidNs::current()?);
    Ok(nr != 0 || sig != 0 || is_async(file))
}

/// Checkpoint: the signal owner of every open file of the tree is a task,
/// a process or a process group of the tree, and a file that signals is
/// open in a descriptor table (not only watched by an epoll set).
/// `ns` is the pid namespace whose pids the image holds.
pub(crate) fn check(tasks: &[TaskRef], ns: &PidNs) -> Result {
    // The files of the descriptor tables, sorted.
    let mut in_tables = KVVec::new();
    for t in tasks.iter() {
        if t.exit_state() != 0 || !t.is_group_leader() {
            continue;
        }
        let mut fd = 0u32;
        while let Some(file) = t.next_file(&mut fd) {
            crate::wrap::task::killable()?;
            in_tables.push(file.as_ptr() as usize, GFP_KERNEL)?;
            fd = fd.checked_add(1).ok_or(EINVAL)?;
        }
    }
    in_tables.sort_unstable();
    crate::fdtable::for_each_tree_file(tasks, |i, fd, file| {
        let (nr, ty, sig) = owner_of(file, ns);
        if nr == 0 && sig == 0 && !is_async(file) {
            return Ok(());
        }
        let why = if in_tables.binary_search(&(file.as_ptr() as usize)).is_err() {
            "is watched by an epoll set with a file that signals its I/O (O_ASYNC, F_SETOWN) and is in no descriptor table"
        } else if nr < 0 {
            "has a signal owner (F_SETOWN) outside the pid namespace of the image"
        } else if nr == 0 {
            return Ok(());
        } else {
            // A process owner is any of its threads, as send_sigio() has it.
            let by = match ty {
                bindings::pid_type_PIDTYPE_PID | bindings::pid_type_PIDTYPE_TGID => {
                    bindings::pid_type_PIDTYPE_PID
                }
                bindings::pid_type_PIDTYPE_PGID => ty,
                _ => return Err(EINVAL),
            };
            if tasks.iter().any(|t| t.pid_in(by, ns) == nr) {
                return Ok(());
            }
            "has a signal owner (F_SETOWN) outside the tree"
        };
        Err(crate::fdtable::refuse(tasks, i, fd, format_args!("{why}")))
    })
}

/// Checkpoint: the `file-owner` records of a process's open files (`fds`,
/// descriptor and file, in descriptor order) that signal their I/O, each
/// open file's once in the image.
pub(crate) fn dump(w: &mut ImageWriter, objs: &mut ObjHash, fds: &[(u32, FileRef)]) -> Result {
    for (fd, file) in fds {
        let (nr, ty, sig) = owner_of(file, objs.pid_ns()?);
        // A lease's O_ASYNC comes back with the lease (locks.rs), which
        // also makes its taker the owner: a leased file's owner is written
        // even when it has none (0 clears the taker's).
        let leased = crate::locks::has_lease(file)?;
        let on = is_async(file) && !leased;
        if nr == 0 && sig == 0 && !on && !leased {
            continue;
        }
        // Keyed apart from the file's locks (the other state saved once per
        // open file): a file's address is aligned, so this one is not
        // another held object's.
        if !objs.first_visit(file.as_ptr() as usize | 1)? {
            continue;
        }
        let rec = FileOwnerRec {
            file: objs.id_of::<OpenFile>(w, file.clone_ref())?,
            async_fd: if on {
                i32::try_from(*fd).map_err(|_| EINVAL)?
            } else {
                -1
            },
            pid: nr,
            owner_type: match ty {
                bindings::pid_type_PIDTYPE_PID => OWNER_TID,
                bindings::pid_type_PIDTYPE_PGID => OWNER_PGRP,
                _ => OWNER_PID,
            },
            signum: u32::try_from(sig).map_err(|_| EINVAL)?,
        };
        w.record(RecordType::FileOwner, &rec.encode())?;
    }
    Ok(())
}

/// A signal owner to set once the task has its own credentials (the
/// owner keeps the credentials of whoever set it, which decide whom its
/// signals may reach).
pub(crate) struct Owner {
    file: FileRef,
    pid: i32,
    ty: bindings::pid_type,
    signum: i32,
}

/// Restart: sets `O_ASYNC` on the open file `rec.file` as it was, through
/// its saved descriptor, and returns its owner and signal, to be set by
/// [`apply`] once the task has its credentials. The file must be one the
/// process's descriptor records name (`names`, `named`); the owner, a task
/// or a group the restart makes (they all exist by now).
pub(crate) fn restore(
    objs: &mut ObjTable,
    names: impl Fn(u32, ObjId) -> bool,
    named: impl Fn(ObjId) -> bool,
    rec: &FileOwnerRec,
) -> Result<Owner> {
    if !named(rec.file) {
        ckpt_err!(
            "restart: a signal owner is set on file {}, which no descriptor of the process names\n",
            rec.file
        );
        return Err(EINVAL);
    }
    if let Ok(fd) = u32::try_from(rec.async_fd) {
        if !names(fd, rec.file) {
            ckpt_err!(
                "restart: O_ASYNC was set through fd {}, which does not name file {}\n",
                fd,
                rec.file
            );
            return Err(EINVAL);
        }
    }
    let restored = if rec.owner_type == OWNER_PGRP {
        objs.restores_pgrp(rec.pid)
    } else {
        objs.restores_pid(rec.pid)
    };
    if rec.pid != 0 && !restored {
        ckpt_err!(
            "restart: the signal owner of file {} is {} {}, which the restart does not make\n",
            rec.file,
            if rec.owner_type == OWNER_PGRP {
                "group"
            } else {
                "pid"
            },
            rec.pid
        );
        return Err(EINVAL);
    }
    let file = objs.file(rec.file)?.clone_ref();
    if rec.async_fd >= 0 {
        // SAFETY: the file is referenced; the helper calls its ->fasync()
        // as fcntl(F_SETFL) does.
        to_result(unsafe { bindings::ckpt_file_set_async(file.as_ptr(), rec.async_fd) })
            .inspect_err(|e| {
                ckpt_err!(
                    "restart: cannot set O_ASYNC on file {} again (error {})\n",
                    rec.file,
                    e.to_errno()
                );
            })?;
    }
    Ok(Owner {
        file,
        pid: rec.pid,
        ty: match rec.owner_type {
            OWNER_TID => bindings::pid_type_PIDTYPE_PID,
            OWNER_PGRP => bindings::pid_type_PIDTYPE_PGID,
            _ => bindings::pid_type_PIDTYPE_TGID,
        },
        signum: i32::try_from(rec.signum).map_err(|_| EINVAL)?,
    })
}

/// Restart, with the task's own credentials: sets the owner and signal of
/// a file as `F_SETOWN_EX` and `F_SETSIG` would.
pub(crate) fn apply(o: &Owner) -> Result {
    // SAFETY: the file is referenced; the helper checks the type and the
    // signal and looks the pid up in current's namespace.
    to_result(unsafe {
        bindings::ckpt_file_set_owner(o.file.as_ptr(), o.pid, o.ty as i32, o.signum)
    })
    .inspect_err(|e| {
        ckpt_err!(
            "restart: cannot make {} the signal owner of a file again (error {})\n",
            o.pid,
            e.to_errno()
        );
    })
}
