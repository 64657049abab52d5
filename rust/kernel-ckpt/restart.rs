// SPDX-License-Identifier: GPL-2.0

//! `restart(2)`: the calling task becomes a checkpointed one.
//!
//! Three ways to call it:
//!
//! - `restart(0, fd, 0)`: the caller restores itself from an image of a
//!   single process (`ckpt restart` recreated it with the saved pid).
//! - `restart(pid, fd, 0)` with `pid > 0`: the caller is the coordinator
//!   of a tree restart (`tree.rs`): `pid` is the saved root, and every
//!   task of the tree, recreated by user space, waits in
//!   `restart(0, -1, 0)`.
//! - `restart(0, -1, 0)`: the caller is a task of such a tree; it waits for
//!   its coordinator, restores itself in its turn from the coordinator's
//!   image, and returns only once every task of the tree is restored.
//!
//! The restore of one task is `restore.rs`; the tree's coordinator is
//! `tree.rs`. Alone, the caller gets a precise errno until the point of no
//! return and is killed after it, so a half-restored task never runs; in a
//! tree, any error kills every task.

use crate::image::{self, Item};
use crate::objhash::ObjTable;
use crate::reader::ImageReader;
use crate::restore::{bad, kill_current, read_head, read_tail, restore_current, Report};
use crate::tree;
use crate::wrap::file::FileRef;
use kernel::bindings;
use kernel::ffi::{c_int, c_ulong};
use kernel::prelude::*;

/// `restart(0, fd, 0)`: the caller restores itself from a one-process image.
fn restart_self(fd: c_int, deleted_here: bool, report: &mut Report) -> Result<i64> {
    let file = FileRef::fget(fd)?;
    if !file.is_readable() {
        return Err(EBADF);
    }
    // SAFETY: current and its signal_struct are valid; a plain int read.
    let nr_threads = unsafe { (*(*crate::wrap::task::current()).signal).nr_threads };
    if nr_threads != 1 {
        return Err(bad("the restarting process must be single-threaded"));
    }
    let me = crate::wrap::task::PidNs::current()?.current_nr(bindings::pid_type_PIDTYPE_PID);
    report.pid = me;
    let mut r = ImageReader::new(file);
    let result = restart_self_from(&mut r, me, deleted_here);
    if result.is_err() {
        report.record = r.last();
    }
    result
}

/// The body of [`restart_self`], reading from `r`.
fn restart_self_from(r: &mut ImageReader, me: i32, deleted_here: bool) -> Result<i64> {
    match read_head(r)? {
        (1, false) => {}
        (_, false) => return Err(bad("a process tree is restarted through a coordinator")),
        (_, true) => {
            ckpt_err!("restart: the image is of a whole pid namespace: it is restarted through a coordinator, as the init of a new one\n");
            return Err(crate::wrap::errno::eopnotsupp());
        }
    }
    let row = match r.next()? {
        Item::Task(t) => t,
        _ => return Err(bad("no task row")),
    };
    if row.pid != me || row.is_thread() || row.is_zombie() {
        ckpt_err!(
            "restart: the image is of pid {}, the caller is {}\n",
            row.pid,
            me
        );
        return Err(ESRCH);
    }
    let mut objs = ObjTable::new();
    objs.set_deleted_here(deleted_here);
    // A controlling terminal may only go to the caller's own session, if
    // it leads it.
    let sid = crate::wrap::task::PidNs::current()?.current_nr(bindings::pid_type_PIDTYPE_SID);
    let mut pids = KVVec::new();
    pids.push(me, GFP_KERNEL)?;
    objs.set_pids(pids);
    if row.sid == me && sid == me {
        let mut leaders = KVVec::new();
        leaders.push(me, GFP_KERNEL)?;
        objs.set_leaders(leaders);
    }
    let mut past = false;
    let result = restore_current(r, &mut objs, &row, &mut past)
        .and_then(|resume| read_tail(r, &mut objs).map(|()| resume));
    match result {
        Ok(resume) => {
            // Pipe ends no descriptor took are closed now, as they were.
            drop(objs);
            Ok(resume.finish())
        }
        Err(e) => {
            if past {
                ckpt_err!(
                    "restart: failed after the point of no return ({}): killing pid {}\n",
                    e.to_errno(),
                    me
                );
                kill_current();
            }
            Err(e)
        }
    }
}

/// `restart(pid, fd, flags, report)`: returns the restored task's `rax`
/// (or 0 for a coordinator); on error `report` says where it failed.
pub(crate) fn restart(
    pid: bindings::pid_t,
    fd: c_int,
    flags: c_ulong,
    report: &mut Report,
) -> Result<i64> {
    if flags as u64 & !image::RESTART_FLAGS_MASK != 0 || pid < 0 {
        return Err(EINVAL);
    }
    let deleted_here = flags as u64 & image::RESTART_DELETED_HERE != 0;
    match (pid, fd) {
        (0, -1) if flags == 0 => tree::restart_task(),
        (0, -1) => Err(EINVAL),
        (0, _) => restart_self(fd, deleted_here, report),
        _ => tree::coordinate(pid, fd, deleted_here, report).map(|()| 0),
    }
}
