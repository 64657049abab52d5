// SPDX-License-Identifier: GPL-2.0

//! Pidfds: a file that refers to a task of the tree.
//!
//! C header: [`include/linux/pid.h`](srctree/include/linux/pid.h).
//!
//! A pidfd (`pidfd_open(2)`, `clone(CLONE_PIDFD)`) is one open file
//! ([`Pidfd`], `objects.rs`), written once before its file record with
//! the pid of the task it refers to, as the image's rows number it, and
//! whether it is a thread's (`PIDFD_THREAD`). The task must be a task of
//! the tree, live or a zombie ([`check`], before anything is written): a
//! pidfd of a process outside the tree, or of one already reaped, is
//! refused. Restart makes a new pidfd of the task with that pid, which
//! the restart has just made again, as `pidfd_open(2)` would; the file
//! record then sets `O_NONBLOCK` as the open file had it.

use crate::image::{ObjId, PidfdObj, RecordType, FILE_PIDFD, PIDFD_IS_THREAD};
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::task::TaskRef;
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

/// If `file` is a pidfd: the task it refers to (`None` if that task was
/// reaped) and whether it is a thread pidfd.
pub(crate) fn pidfd_of(file: &FileRef) -> Option<(Option<TaskRef>, bool)> {
    let mut thread = false;
    let mut is = false;
    // SAFETY: the file is referenced; the helper reads its pid and takes
    // a reference on the task, or returns NULL.
    let t = unsafe { bindings::ckpt_pidfd_task(file.as_ptr(), &mut is, &mut thread) };
    if !is {
        return None;
    }
    // SAFETY: a non-NULL result carries the helper's reference, which
    // we take over.
    let task = NonNull::new(t).map(|t| unsafe { TaskRef::from_raw(t) });
    Some((task, thread))
}

/// Checkpoint: every pidfd the tree holds (an epoll set's included)
/// refers to a task of the tree that still exists (live or a zombie).
pub(crate) fn check(tasks: &[TaskRef]) -> Result {
    crate::fdtable::for_each_tree_file(tasks, |i, fd, file| {
        let Some((target, _)) = pidfd_of(file) else {
            return Ok(());
        };
        let why = match target {
            None => "is a pidfd of a process that was reaped",
            Some(target) if !tasks.iter().any(|x| x.as_ptr() == target.as_ptr()) => {
                "is a pidfd of a process outside the tree"
            }
            Some(_) => return Ok(()),
        };
        Err(crate::fdtable::refuse(tasks, i, fd, format_args!("{why}")))
    })
}

/// Whether `file` is a pidfd.
pub(crate) fn is_pidfd(file: &FileRef) -> bool {
    pidfd_of(file).is_some()
}

/// The pidfd kind of shared object.
pub(crate) struct Pidfd;

impl ObjOps for Pidfd {
    /// The pidfd's file.
    type Ref = FileRef;
    /// The task's pid in the pid namespace of the image, and whether the
    /// pidfd is of a thread.
    type Deps = (i32, bool);

    fn key(file: &FileRef) -> usize {
        file.as_ptr() as usize
    }

    fn write_deps(_: &mut ImageWriter, objs: &mut ObjHash, file: &FileRef) -> Result<(i32, bool)> {
        let (Some(task), thread) = pidfd_of(file).ok_or(EINVAL)? else {
            ckpt_err!("checkpoint: a pidfd's process was reaped while the image was written\n");
            return Err(EBUSY);
        };
        let pid = task.pid_in(bindings::pid_type_PIDTYPE_PID, objs.pid_ns()?);
        if pid <= 0 {
            return Err(ESRCH);
        }
        Ok((pid, thread))
    }

    /// The pidfd record: the task's pid in the pid namespace of the image.
    fn write(w: &mut ImageWriter, _: &FileRef, id: ObjId, (pid, thread): (i32, bool)) -> Result {
        let rec = PidfdObj {
            id,
            pid,
            flags: if thread { PIDFD_IS_THREAD } else { 0 },
        };
        w.record(RecordType::Pidfd, &rec.encode())
    }

    /// Nothing of its own: its open file, which the hash holds, keeps it.
    fn hold(_: FileRef) -> Option<FileRef> {
        None
    }
}

/// Restart: a new pidfd of the task the restart made with the saved pid,
/// for the file record that takes it.
pub(crate) fn restore(objs: &mut ObjTable, rec: &PidfdObj) -> Result {
    if !objs.restores_pid(rec.pid) {
        ckpt_err!(
            "restart: a pidfd of pid {}, which is not a task of the image\n",
            rec.pid
        );
        return Err(EINVAL);
    }
    // SAFETY: the helper looks the pid up in current's namespace and
    // returns an ERR_PTR or a new pidfd file with a reference, which
    // `from_made` takes over.
    let file = unsafe {
        FileRef::from_made(bindings::ckpt_pidfd_create(
            rec.pid,
            rec.flags & PIDFD_IS_THREAD != 0,
        ))
    }
    .inspect_err(|e| {
        ckpt_err!(
            "restart: cannot make a pidfd of pid {} (error {})\n",
            rec.pid,
            e.to_errno()
        );
    })?;
    objs.add_made(rec.id, file, FILE_PIDFD)
}
