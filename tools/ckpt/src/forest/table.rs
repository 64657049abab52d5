// SPDX-License-Identifier: GPL-2.0
//! The forest table checked for consistency, with lookups by pid.
//!
//! Everything the planner relies on is checked here, so that the planner
//! itself only decides how to build a consistent forest.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Result};
use ckpt_image::{TaskEntry, TASK_ROOT};

use super::{Pid, OUTSIDE, SIGRTMAX};

/// A consistent forest table.
pub(super) struct Table<'a> {
    pub rows: &'a [TaskEntry],
    /// Row index of every pid.
    by_pid: HashMap<Pid, usize>,
}

impl<'a> Table<'a> {
    /// Checks `rows` and indexes them.
    pub fn new(rows: &'a [TaskEntry]) -> Result<Self> {
        if rows.is_empty() {
            bail!("invalid forest table: it has no task");
        }
        let mut by_pid = HashMap::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            check_ids(r)?;
            if by_pid.insert(r.pid, i).is_some() {
                bail!("invalid forest table: pid {} appears twice", r.pid);
            }
        }
        let t = Self { rows, by_pid };
        t.check_root()?;
        for i in 0..rows.len() {
            t.check_row(i)?;
        }
        t.check_parents_acyclic()?;
        t.check_groups()?;
        Ok(t)
    }

    /// The row with this pid (process or thread).
    pub fn row(&self, pid: Pid) -> Option<&'a TaskEntry> {
        self.index(pid).and_then(|i| self.rows.get(i))
    }

    /// Row index of this pid.
    pub fn index(&self, pid: Pid) -> Option<usize> {
        self.by_pid.get(&pid).copied()
    }

    /// The process (not thread) row with this pid.
    pub fn process(&self, pid: Pid) -> Option<&'a TaskEntry> {
        self.row(pid).filter(|r| !r.is_thread())
    }

    fn check_root(&self) -> Result<()> {
        let root = &self.rows[0];
        if root.flags & TASK_ROOT == 0 || root.is_thread() {
            bail!(
                "invalid forest table: the first row (pid {}) is not the root process",
                root.pid
            );
        }
        if let Some(r) = self.rows[1..].iter().find(|r| r.flags & TASK_ROOT != 0) {
            bail!(
                "invalid forest table: pid {} is flagged as root, but pid {} is the root",
                r.pid,
                root.pid
            );
        }
        if self.row(root.ppid).is_some() {
            bail!(
                "invalid forest table: the parent {} of the root {} is in the table",
                root.ppid,
                root.pid
            );
        }
        Ok(())
    }

    fn check_row(&self, i: usize) -> Result<()> {
        let r = &self.rows[i];
        if r.is_thread() {
            return self.check_thread(i);
        }
        if r.tgid != r.pid {
            bail!(
                "invalid forest table: process {} has thread group id {}",
                r.pid,
                r.tgid
            );
        }
        if !(0..=SIGRTMAX).contains(&r.exit_signal) {
            bail!(
                "invalid forest table: process {} has exit signal {} (not 0..={SIGRTMAX})",
                r.pid,
                r.exit_signal
            );
        }
        self.check_parent(r)?;
        self.check_session(r)?;
        if r.is_zombie() {
            check_wait_status(r)?;
        }
        Ok(())
    }

    fn check_thread(&self, i: usize) -> Result<()> {
        let r = &self.rows[i];
        let Some(leader) = self.process(r.tgid) else {
            bail!(
                "invalid forest table: the leader {} of thread {} is not in the table",
                r.tgid,
                r.pid
            );
        };
        if r.is_zombie() {
            bail!(
                "cannot recreate thread {}: it is a zombie (only a thread group leader can be)",
                r.pid
            );
        }
        if (r.ppid, r.sid, r.pgid) != (leader.ppid, leader.sid, leader.pgid) {
            bail!(
                "invalid forest table: thread {} has parent/session/group {}/{}/{}, its \
                 leader {} has {}/{}/{}",
                r.pid,
                r.ppid,
                r.sid,
                r.pgid,
                leader.pid,
                leader.ppid,
                leader.sid,
                leader.pgid
            );
        }
        if leader.is_zombie() && !exited_normally(leader.exit_code) {
            bail!(
                "invalid forest table: zombie {} was killed by a signal, yet its thread {} lives",
                leader.pid,
                r.pid
            );
        }
        Ok(())
    }

    fn check_parent(&self, r: &TaskEntry) -> Result<()> {
        if r.flags & TASK_ROOT != 0 {
            return Ok(());
        }
        if r.ppid == r.pid {
            bail!("invalid forest table: process {} is its own parent", r.pid);
        }
        match self.row(r.ppid) {
            Some(p) if p.is_thread() => bail!(
                "invalid forest table: the parent {} of process {} is a thread, not a process",
                r.ppid,
                r.pid
            ),
            Some(p) if p.is_zombie() => bail!(
                "invalid forest table: the parent {} of process {} is a zombie (a zombie has \
                 no children: they are reparented when it exits)",
                r.ppid,
                r.pid
            ),
            Some(_) => Ok(()),
            None if r.is_zombie() => bail!(
                "cannot recreate zombie {}: its parent {} is outside the tree, and that parent \
                 (init) would reap it",
                r.pid,
                r.ppid
            ),
            None => Ok(()),
        }
    }

    fn check_session(&self, r: &TaskEntry) -> Result<()> {
        if r.sid == r.pid && r.pgid != r.pid {
            bail!(
                "invalid forest table: session leader {} is in process group {} (a session \
                 leader stays in its own group)",
                r.pid,
                r.pgid
            );
        }
        if r.sid != r.pid {
            if let Some(l) = self.row(r.sid) {
                if l.is_thread() || l.sid != l.pid {
                    bail!(
                        "invalid forest table: process {} is in session {}, but task {} is \
                         not a session leader",
                        r.pid,
                        r.sid,
                        r.sid
                    );
                }
            }
        }
        if let Some(l) = self.row(r.pgid) {
            if l.is_thread() {
                bail!(
                    "invalid forest table: process {} is in process group {}, which is a \
                     thread's id",
                    r.pid,
                    r.pgid
                );
            }
        }
        if r.pgid == OUTSIDE && r.sid != OUTSIDE {
            bail!(
                "invalid forest table: process {} is in session {} but in a process group \
                 outside the pid namespace",
                r.pid,
                r.sid
            );
        }
        Ok(())
    }

    /// Every parent chain ends outside the table (or at the root).
    fn check_parents_acyclic(&self) -> Result<()> {
        // 0: not seen, 1: on the current chain, 2: reaches the outside.
        let mut state = vec![0u8; self.rows.len()];
        for start in 0..self.rows.len() {
            let mut chain: Vec<usize> = Vec::new();
            let mut i = start;
            loop {
                match state[i] {
                    2 => break,
                    1 => {
                        let pids: Vec<Pid> = chain.iter().map(|&c| self.rows[c].pid).collect();
                        bail!("invalid forest table: the parents of {pids:?} form a cycle");
                    }
                    _ => {}
                }
                state[i] = 1;
                chain.push(i);
                let r = &self.rows[i];
                let parent = if r.is_thread() { r.tgid } else { r.ppid };
                match self.index(parent) {
                    Some(p) if r.flags & TASK_ROOT == 0 => i = p,
                    _ => break,
                }
            }
            for c in chain {
                state[c] = 2;
            }
        }
        Ok(())
    }

    /// A process group lives in one session; its leader (if alive) too.
    fn check_groups(&self) -> Result<()> {
        let mut session_of: HashMap<Pid, (Pid, Pid)> = HashMap::new();
        let sessions: HashSet<Pid> = self.rows.iter().map(|r| r.sid).collect();
        for r in self.rows.iter().filter(|r| !r.is_thread()) {
            let first = *session_of.entry(r.pgid).or_insert((r.sid, r.pid));
            if first.0 != r.sid {
                bail!(
                    "invalid forest table: process group {} spans sessions {} (process {}) and \
                     {} (process {})",
                    r.pgid,
                    first.0,
                    first.1,
                    r.sid,
                    r.pid
                );
            }
        }
        for (&g, &(s, member)) in &session_of {
            if g == OUTSIDE {
                continue;
            }
            if let Some(l) = self.process(g) {
                if l.sid != s {
                    bail!(
                        "invalid forest table: process group {g} is in session {s} (process \
                         {member}), but its leader {g} is in session {}",
                        l.sid
                    );
                }
            } else if sessions.contains(&g) && s != g {
                bail!(
                    "invalid forest table: {g} is a session id, but process {member} is in \
                     process group {g} of session {s}"
                );
            }
        }
        Ok(())
    }
}

fn check_ids(r: &TaskEntry) -> Result<()> {
    if r.pid <= 0 || r.tgid <= 0 {
        bail!(
            "invalid forest table: pid {} / thread group {} (ids must be positive)",
            r.pid,
            r.tgid
        );
    }
    if r.ppid < 0 || r.sid < 0 || r.pgid < 0 {
        bail!(
            "invalid forest table: task {} has a negative parent, session or process group id",
            r.pid
        );
    }
    Ok(())
}

/// Whether a wait status says "exited" (not "killed by a signal").
pub(super) fn exited_normally(status: i32) -> bool {
    status & 0x7f == 0
}

/// Signals whose default action does not end a process.
fn signal_cannot_kill(sig: i32) -> bool {
    use nix::libc::{SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH};
    [
        SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH,
    ]
    .contains(&sig)
}

fn check_wait_status(r: &TaskEntry) -> Result<()> {
    let status = r.exit_code;
    let ok = if exited_normally(status) {
        status & !0xff00 == 0
    } else {
        let sig = status & 0x7f;
        status & !0xff == 0 && sig <= SIGRTMAX && !signal_cannot_kill(sig)
    };
    if !ok {
        bail!(
            "invalid forest table: zombie {} has wait status {status:#x}, which no exit or \
             fatal signal gives",
            r.pid
        );
    }
    Ok(())
}
