// SPDX-License-Identifier: GPL-2.0
//! Forest rows written by hand, for tables that do not come from an image:
//! the planner's unit tests, the MakeForest integration tests, and anyone
//! trying a tree out. Each row has exit signal SIGCHLD and an empty name
//! unless the builder says otherwise.

use ckpt_image::{TaskEntry, COMM_LEN, TASK_ROOT, TASK_THREAD, TASK_ZOMBIE};

use super::Pid;

/// A live process `pid` with its parent, session and process group.
pub fn row(pid: Pid, ppid: Pid, sid: Pid, pgid: Pid) -> TaskEntry {
    TaskEntry {
        pid,
        tgid: pid,
        ppid,
        sid,
        pgid,
        flags: 0,
        exit_code: 0,
        exit_signal: nix::libc::SIGCHLD,
        comm: [0; COMM_LEN],
    }
}

/// The root of the tree (its parent, 1, is outside it).
pub fn root(pid: Pid, sid: Pid, pgid: Pid) -> TaskEntry {
    TaskEntry {
        flags: TASK_ROOT,
        ..row(pid, 1, sid, pgid)
    }
}

/// A zombie with wait status `status`.
pub fn zombie(pid: Pid, ppid: Pid, sid: Pid, pgid: Pid, status: i32) -> TaskEntry {
    TaskEntry {
        flags: TASK_ZOMBIE,
        exit_code: status,
        ..row(pid, ppid, sid, pgid)
    }
}

/// Thread `tid` of `leader`'s process.
pub fn thread(tid: Pid, leader: &TaskEntry) -> TaskEntry {
    TaskEntry {
        pid: tid,
        tgid: leader.pid,
        flags: TASK_THREAD,
        exit_signal: -1,
        exit_code: 0,
        ..*leader
    }
}
