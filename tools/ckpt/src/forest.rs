// SPDX-License-Identifier: GPL-2.0
//! DumpForest: how to recreate a saved process forest with Linux's own
//! system calls, computed from the image's forest table.
//!
//! `restart(2)` restores the state of tasks that already exist: user space
//! must first recreate every task of the tree with its saved pid, parent,
//! session, process group and thread group, as the paper (Laadan & Nieh,
//! USENIX ATC 2007) and Linux-CR did. Linux offers no call to set a parent
//! or a session, only the rules of `fork`, `CLONE_PARENT`, `setsid` and
//! `setpgid`, so the order matters: a session member must be forked by a
//! task already in that session, a task can only join a process group that
//! exists in its session, a dead session or group leader must exist for a
//! while as a placeholder, and an orphan must have had a parent that died.
//!
//! The plan is computed here, in user space, because it is pure
//! computation on the forest table: nothing in it needs kernel state. Here
//! it is unit-tested on any host (including against a simulator of those
//! rules and against random process histories), its errors are sentences
//! before any process exists, and the kernel keeps only the part that must
//! be in the kernel: restoring each task's state.
//!
//! # Creators and flags (the paper's DumpForest)
//!
//! Every task gets a creator (the task that forks it) and flags:
//! [`Flags::THREAD`] (created by its thread group leader),
//! [`Flags::SIBLING`] (forked with `CLONE_PARENT` by a sibling, so that it
//! gets the creator's parent), [`Flags::SESSION`] (forked before its creator
//! calls `setsid`, so that it stays in the creator's old session),
//! [`Flags::DEAD`] (a placeholder that exits once its job is done) and
//! [`Flags::GHOST`] (a placeholder whose pid is still a session or process
//! group id). The rules, in order, for a task with parent P and session S:
//!
//! 1. a thread: its leader;
//! 2. a session leader: P (it calls `setsid` itself);
//! 3. a member of a process group whose leader is a placeholder (or moved
//!    to another group) that is also a child of P: that leader, SIBLING;
//! 4. P is in S: P;
//! 5. S's leader (or its placeholder) is a child of P: S's leader, SIBLING;
//! 6. P is a session leader: P, SESSION, before its `setsid`; P must then
//!    be born in S itself, which propagates up the creator chain;
//! 7. an orphan (P outside the tree): a placeholder in S that exits, so
//!    that the task is reparented to the pid namespace's init (the
//!    placeholder of its dead group or session leader if there is one, else
//!    a spare one with any free pid, forked by its group's or session's
//!    leader).
//!
//! A session or process group id that is not the pid of a row belongs to a
//! dead leader: a GHOST placeholder with that pid creates it (`setsid` or
//! `setpgid(0, 0)`), creates the members it can, and exits.
//!
//! # The plan
//!
//! [`plan`] turns that into an ordered list of [`Action`]s for each created
//! process and for the coordinator (the `ckpt restart` process, parent of
//! the root): fork a child with its pid, wait for it to report "built",
//! `setsid`, `setpgid`, create a thread, reap a placeholder, and last become
//! restored, exit as a placeholder or exit as a zombie. Creation is depth
//! first and sequential, so "before" is well defined: children are ordered
//! so that every process group exists before a task joins it; a task whose
//! group cannot exist in time parks (reports built, waits) and joins once
//! the whole tree is built, released by the coordinator. Where the table
//! does not tell how a forest came about (was a child forked before its
//! parent's `setsid`, or by the new session's leader?), a few policies are
//! tried in turn. The plan is checked by executing it in a simulator of the
//! Linux rules ([`simulate`]) before it is returned.
//!
//! Ids of 0 ([`OUTSIDE`]: a session or group outside the checkpointed pid
//! namespace) mean the coordinator's session and group, which tasks can
//! only inherit (from the root down): this fits a restart in a new pid
//! namespace, where the coordinator's ids are outside too.

use std::collections::HashMap;
use std::fmt;

use anyhow::{bail, Result};
use ckpt_image::{ImageDecoder, Item, TaskEntry, TASK_ROOT};

mod emit;
mod planner;
pub mod rows;
mod sim;
mod table;

pub use sim::{simulate, SimTask};

/// A process or thread id, as saved in the image.
pub type Pid = i32;

/// A session or process group id of 0: outside the checkpointed pid
/// namespace. Such tasks are in the coordinator's session or group.
pub const OUTSIDE: Pid = 0;

/// The highest signal number (`SIGRTMAX` on x86_64).
pub const SIGRTMAX: i32 = 64;

/// How a task is created: the paper's DumpForest flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// The root of the saved tree.
    pub const ROOT: Self = Self(1 << 0);
    /// A thread, created by its thread group leader.
    pub const THREAD: Self = Self(1 << 1);
    /// Forked with `CLONE_PARENT` by a sibling: its parent is the creator's.
    pub const SIBLING: Self = Self(1 << 2);
    /// Forked before its creator calls `setsid`.
    pub const SESSION: Self = Self(1 << 3);
    /// A placeholder that exits once its children are built.
    pub const DEAD: Self = Self(1 << 4);
    /// A placeholder for a dead session or process group leader.
    pub const GHOST: Self = Self(1 << 5);

    const NAMES: [(Self, &'static str); 6] = [
        (Self::ROOT, "ROOT"),
        (Self::THREAD, "THREAD"),
        (Self::SIBLING, "SIBLING"),
        (Self::SESSION, "SESSION"),
        (Self::DEAD, "DEAD"),
        (Self::GHOST, "GHOST"),
    ];

    /// No flag.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Who forks a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Creator {
    /// The `ckpt restart` process.
    Coordinator,
    /// The created task with this pid.
    Task(Pid),
}

impl fmt::Display for Creator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Coordinator => f.write_str("coordinator"),
            Self::Task(pid) => write!(f, "{pid}"),
        }
    }
}

/// What a created task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A live process of the image: restored by `restart(2)`.
    Live,
    /// A zombie of the image: exits with this wait status.
    Zombie {
        /// The wait status (`exit_code` of the row).
        status: i32,
    },
    /// A thread of the image (not a leader): restored by `restart(2)`.
    Thread,
    /// A placeholder that is not in the image: exits when built.
    Placeholder,
}

/// One step of a created process (or of the coordinator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Fork the child `pid` (`clone3` with `set_tid`). With `clone_parent`
    /// the child is a sibling (`CLONE_PARENT`) and inherits the creator's
    /// exit signal (`exit_signal` is then 0, as clone3 requires). With
    /// `spare`, `pid` is only a suggestion: a placeholder whose pid is no
    /// id in the image takes the next free pid from there on.
    Fork {
        pid: Pid,
        clone_parent: bool,
        exit_signal: i32,
        spare: bool,
    },
    /// Wait until the child `pid` reports that it and everything it
    /// creates are built (or reports an error).
    AwaitBuilt { pid: Pid },
    /// `setsid()`.
    Setsid,
    /// `setpgid(0, pgid)`; `pgid` is the task's own pid for a new group.
    Setpgid { pgid: Pid },
    /// Create the thread `tid` of this process.
    Thread { tid: Pid },
    /// Reap the exited placeholder `pid` (a child of this task).
    Reap { pid: Pid },
    /// Report built to the creator, then wait until the coordinator
    /// releases this task (once the whole tree is built): what follows
    /// needs process groups that are complete only then.
    Park,
    /// Coordinator only, after everything else: release the parked task
    /// `pid` and wait until it reports that it has done its last steps.
    Release { pid: Pid },
    /// Last action of a live task: report built, then `restart(2)`.
    Restore,
    /// Last action of a placeholder: report built, then exit.
    ExitPlaceholder,
    /// Last action of a zombie: report built, take the saved command name,
    /// then exit with this wait status (and never be reaped).
    ExitZombie {
        status: i32,
        comm: [u8; ckpt_image::COMM_LEN],
    },
}

impl Action {
    /// Whether this is a task's last action.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Restore | Self::ExitPlaceholder | Self::ExitZombie { .. }
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Fork {
                pid,
                clone_parent,
                exit_signal,
                spare,
            } => {
                write!(f, "fork {pid}")?;
                if spare {
                    f.write_str(" (any free pid)")?;
                }
                if clone_parent {
                    f.write_str(" with CLONE_PARENT")
                } else {
                    write!(f, " exit_signal {exit_signal}")
                }
            }
            Self::AwaitBuilt { pid } => write!(f, "await {pid}"),
            Self::Setsid => f.write_str("setsid()"),
            Self::Setpgid { pgid } => write!(f, "setpgid(0, {pgid})"),
            Self::Thread { tid } => write!(f, "thread {tid}"),
            Self::Reap { pid } => write!(f, "reap {pid}"),
            Self::Park => f.write_str("park"),
            Self::Release { pid } => write!(f, "release {pid}"),
            Self::Restore => f.write_str("restore"),
            Self::ExitPlaceholder => f.write_str("exit"),
            Self::ExitZombie { status, .. } => write!(f, "exit as zombie (status {status:#x})"),
        }
    }
}

/// One task to create: a row of the image or a placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Its pid (a suggestion for a spare placeholder, see [`Action::Fork`]).
    pub pid: Pid,
    /// Who forks it.
    pub creator: Creator,
    /// How.
    pub flags: Flags,
    /// What it is.
    pub kind: Kind,
    /// Its steps, the last one final; empty for a thread (a thread only
    /// calls `restart(2)`).
    pub actions: Vec<Action>,
}

/// A creation plan: what the coordinator and every created task do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Pid of the root of the tree.
    pub root: Pid,
    /// The coordinator's steps (forks, waits and reaps; it makes the final
    /// `restart(2)` call itself once they are done).
    pub coordinator: Vec<Action>,
    /// Every task to create, threads and placeholders included, in the
    /// order they are created.
    pub tasks: Vec<Task>,
    index: HashMap<Pid, usize>,
}

impl Plan {
    fn new(root: Pid, coordinator: Vec<Action>, tasks: Vec<Task>) -> Self {
        let index = tasks.iter().enumerate().map(|(i, t)| (t.pid, i)).collect();
        Self {
            root,
            coordinator,
            tasks,
            index,
        }
    }

    /// The position in [`Plan::tasks`] of the task with this (planned) pid.
    pub fn position(&self, pid: Pid) -> Option<usize> {
        self.index.get(&pid).copied()
    }

    /// The task with this (planned) pid.
    pub fn task(&self, pid: Pid) -> Option<&Task> {
        self.position(pid).and_then(|i| self.tasks.get(i))
    }

    /// The zombies of the image and their wait statuses.
    pub fn zombies(&self) -> impl Iterator<Item = (Pid, i32)> + '_ {
        self.tasks.iter().filter_map(|t| match t.kind {
            Kind::Zombie { status } => Some((t.pid, status)),
            _ => None,
        })
    }

    /// Every pid created exactly (rows and ghost placeholders), which must
    /// be free before the tree is built.
    pub fn exact_pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.tasks
            .iter()
            .filter(|t| t.kind != Kind::Placeholder || t.flags.contains(Flags::GHOST))
            .map(|t| t.pid)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, actions: &[Action]| -> fmt::Result {
            for (i, a) in actions.iter().enumerate() {
                write!(f, "{}{a}", if i == 0 { "" } else { "; " })?;
            }
            writeln!(f)
        };
        write!(f, "coordinator: ")?;
        list(f, &self.coordinator)?;
        for t in &self.tasks {
            write!(f, "{} by {}", t.pid, t.creator)?;
            if t.flags != Flags::empty() {
                write!(f, " [{}]", t.flags)?;
            }
            write!(f, ": ")?;
            list(f, &t.actions)?;
        }
        Ok(())
    }
}

/// Computes the plan that recreates the forest `rows` (the image's task
/// rows, root first), or says why the table is inconsistent or cannot be
/// recreated.
pub fn plan(rows: &[TaskEntry]) -> Result<Plan> {
    let table = table::Table::new(rows)?;
    let mut first_error = None;
    for policy in planner::Policy::all() {
        let attempt = planner::Planner::new(&table, policy)
            .run()
            .and_then(|forest| emit::emit(&table, &forest));
        match attempt {
            Ok(plan) => {
                sim::verify(&plan, rows)?;
                return Ok(plan);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| anyhow::anyhow!("no planning policy")))
}

/// The task rows of a (valid) image, in image order.
pub fn rows_of_image(buf: &[u8]) -> Result<Vec<TaskEntry>> {
    let mut rows = Vec::new();
    for item in ImageDecoder::new(buf) {
        match item.map_err(|e| anyhow::anyhow!("not a valid image: {e}"))? {
            Item::Task(t) => rows.push(t),
            Item::TaskState(_) => break,
            _ => {}
        }
    }
    if rows.first().is_none_or(|r| r.flags & TASK_ROOT == 0) {
        bail!("not a valid image: its forest table does not start with the root");
    }
    Ok(rows)
}

#[cfg(test)]
mod tests;
