// SPDX-License-Identifier: GPL-2.0

//! A process's cgroup below its tree's job cgroup.
//!
//! C header: [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h)
//! (the path, from `kernel/cgroup/cgroup.c`).
//!
//! `checkpoint(2)` wants its tree frozen by the cgroup v2 freezer; the job
//! cgroup is the highest cgroup above the root's that was frozen itself
//! (`cgroup.freeze`), the one `ckpt checkpoint` freezes. A process in a
//! cgroup below it has a `cgroup` record with the path from the job
//! (`/workers/a`); every task must be in the job, and a thread in its
//! process's cgroup (threaded cgroups are refused).
//!
//! Restart places nothing itself: the restarting tool makes the same
//! cgroups below its new job cgroup and moves each process into its own,
//! with the caller's permissions (`ckpt restart` does), and the record
//! is only read there.

use crate::image::{RecordType, MAX_CGROUP_PATH};
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::prelude::*;

/// The cgroup path of `task` below the job cgroup of `root`: `/` for the
/// job itself. `-EOPNOTSUPP` for a task outside it (the kernel log names
/// it).
fn path_of(task: &TaskRef, root: &TaskRef) -> Result<KVec<u8>> {
    // One more byte than a record takes: the helper refuses a path that
    // fills all but the NUL.
    let mut buf = KVVec::from_elem(0u8, MAX_CGROUP_PATH + 2, GFP_KERNEL)?;
    // SAFETY: both tasks are referenced; `buf` has room for its length,
    // which the helper fills with a NUL-terminated path under the cgroup
    // locks.
    let r = unsafe {
        bindings::ckpt_cgroup_path(
            task.as_ptr(),
            root.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let why = match r {
        r if r == -(bindings::EXDEV as i32) => "is outside the frozen cgroup of the tree's root",
        r if r == -(bindings::ENOENT as i32) => "is not in a cgroup frozen with cgroup.freeze",
        r if r == -(bindings::ENAMETOOLONG as i32) => {
            "is in a cgroup whose path below the job is longer than an image holds (4095 bytes)"
        }
        _ => "",
    };
    if !why.is_empty() {
        return Err(crate::forest::refuse(task, format_args!("{why}")));
    }
    kernel::error::to_result(r)?;
    let len = buf.iter().position(|&c| c == 0).ok_or(EINVAL)?;
    let mut path = KVec::with_capacity(len, GFP_KERNEL)?;
    path.extend_from_slice(buf.get(..len).ok_or(EINVAL)?, GFP_KERNEL)?;
    Ok(path)
}

/// Checkpoint, before anything is written: every live task of `tasks` is
/// below the job cgroup of `root`, each thread in its process's cgroup,
/// and every path fits a record.
pub(crate) fn check(tasks: &[TaskRef], root: &TaskRef) -> Result {
    let ns = PidNs::current()?;
    let live = || tasks.iter().filter(|t| t.exit_state() == 0);
    let mut leaders: KVVec<(i32, KVec<u8>)> = KVVec::new();
    for t in live().filter(|t| t.is_group_leader()) {
        crate::wrap::task::killable()?;
        let path = path_of(t, root)?;
        if path != b"/" && crate::image::check_cgroup_path(&path).is_err() {
            return Err(crate::forest::refuse(
                t,
                format_args!(
                    "is in a cgroup nested more than {} deep below the job, or with a name an image does not hold",
                    crate::image::MAX_CGROUP_DEPTH
                ),
            ));
        }
        leaders.push((t.vpid(), path), GFP_KERNEL)?;
    }
    leaders.sort_unstable_by_key(|l| l.0);
    for t in live().filter(|t| !t.is_group_leader()) {
        crate::wrap::task::killable()?;
        let tgid = t.pid_in(bindings::pid_type_PIDTYPE_TGID, &ns);
        let path = path_of(t, root)?;
        // A thread of a process whose leader exited is refused elsewhere.
        let leader = leaders.binary_search_by_key(&tgid, |l| l.0).ok();
        if leader
            .and_then(|i| leaders.get(i))
            .is_some_and(|(_, lp)| *lp != path)
        {
            return Err(crate::forest::refuse(
                t,
                format_args!("is a thread in another cgroup than its process (threaded cgroups are not carried)"),
            ));
        }
    }
    Ok(())
}

/// Checkpoint, after the auxv record of `task` (a leader): its cgroup
/// below the job cgroup of `root`, if it is not the job itself.
pub(crate) fn dump(w: &mut ImageWriter, task: &TaskRef, root: &TaskRef) -> Result {
    let path = path_of(task, root)?;
    if path == b"/" {
        return Ok(());
    }
    w.record(RecordType::Cgroup, &path)
}
