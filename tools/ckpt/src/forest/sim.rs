// SPDX-License-Identifier: GPL-2.0
//! A simulator of the Linux rules a plan relies on, to check plans.
//!
//! It executes the coordinator's and every task's actions in the order the
//! executor does (depth first: a forked child runs until its final action
//! before its creator goes on), with the kernel's rules: a pid is taken
//! while any task uses it as pid, process group or session id; `setsid`
//! fails for a process whose pid is a group id; `setpgid` fails for a
//! session leader and for a group that does not exist in the caller's
//! session; `CLONE_PARENT` gives the creator's parent and exit signal and
//! is refused to the coordinator (a pid namespace's init refuses it);
//! the children of an exiting task are reparented to the reaper; a task is
//! gone only when its parent reaps it.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use ckpt_image::{TaskEntry, TASK_ROOT};

use super::{Action, Creator, Pid, Plan, OUTSIDE};

/// A task as the simulator leaves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimTask {
    pub pid: Pid,
    pub tgid: Pid,
    pub ppid: Pid,
    pub sid: Pid,
    pub pgid: Pid,
    /// -1 for threads.
    pub exit_signal: i32,
    /// The wait status of a task that exited and was not reaped.
    pub zombie: Option<i32>,
}

#[derive(Clone, Copy, Debug)]
struct T {
    tgid: Pid,
    parent: Pid,
    sid: Pid,
    pgid: Pid,
    exit_signal: i32,
    session_leader: bool,
    exited: Option<i32>,
    built: bool,
}

struct World<'p> {
    plan: &'p Plan,
    tasks: HashMap<Pid, T>,
    /// How many uses (pid, group id, session id) each pid number has.
    used: HashMap<Pid, u32>,
    /// Members (thread group leaders) of each group, and its session.
    groups: HashMap<Pid, (Pid, u32)>,
    /// Actual pid of each planned pid (they differ for spare placeholders).
    actual: HashMap<Pid, Pid>,
    /// Tasks (threads included) that were given each parent.
    kids: HashMap<Pid, Vec<Pid>>,
    /// Threads of each process (they share its session and group).
    threads: HashMap<Pid, Vec<Pid>>,
    /// Parked tasks: actual pid, planned pid, next action.
    parked: HashMap<Pid, (Pid, Pid, usize)>,
    coordinator: Pid,
    reaper: Pid,
}

/// Executes `plan` with the coordinator as process `coordinator` (in the
/// session and group [`OUTSIDE`]) and orphans reparented to `reaper`;
/// returns every task left, by pid.
pub fn simulate(plan: &Plan, coordinator: Pid, reaper: Pid) -> Result<Vec<SimTask>> {
    let mut w = World {
        plan,
        tasks: HashMap::new(),
        used: HashMap::new(),
        groups: HashMap::new(),
        actual: HashMap::new(),
        kids: HashMap::new(),
        parked: HashMap::new(),
        threads: HashMap::new(),
        coordinator,
        reaper,
    };
    w.tasks.insert(
        coordinator,
        T {
            tgid: coordinator,
            parent: reaper,
            sid: OUTSIDE,
            pgid: OUTSIDE,
            exit_signal: nix::libc::SIGCHLD,
            session_leader: false,
            exited: None,
            built: true,
        },
    );
    w.uses(coordinator, 1);
    w.run()?;
    if let Some(p) = w.parked.keys().next() {
        bail!("task {p} stays parked");
    }
    if w.actual.len() != plan.tasks.len() {
        let missing: Vec<Pid> = plan
            .tasks
            .iter()
            .map(|t| t.pid)
            .filter(|p| !w.actual.contains_key(p))
            .collect();
        bail!("the plan never creates {missing:?}");
    }
    let mut out: Vec<SimTask> = w
        .tasks
        .iter()
        .filter(|(&pid, _)| pid != coordinator)
        .map(|(&pid, t)| SimTask {
            pid,
            tgid: t.tgid,
            ppid: t.parent,
            sid: t.sid,
            pgid: t.pgid,
            exit_signal: t.exit_signal,
            zombie: t.exited,
        })
        .collect();
    out.sort_by_key(|t| t.pid);
    Ok(out)
}

/// Fails unless `plan`, simulated, recreates exactly `rows`: the root as
/// the coordinator's child and orphans as the reaper's.
pub(super) fn verify(plan: &Plan, rows: &[TaskEntry]) -> Result<()> {
    const COORDINATOR: Pid = -1;
    const REAPER: Pid = -2;
    let got = simulate(plan, COORDINATOR, REAPER)
        .map_err(|e| anyhow!("internal error: the plan does not run: {e}"))?;
    let by_pid: HashMap<Pid, &TaskEntry> = rows.iter().map(|r| (r.pid, r)).collect();
    let got_by_pid: HashMap<Pid, &SimTask> = got.iter().map(|t| (t.pid, t)).collect();
    let is_process = |pid: Pid| by_pid.get(&pid).is_some_and(|r| !r.is_thread());
    for r in rows {
        let in_root = |pid: Pid| by_pid.get(&pid).is_some_and(|l| l.flags & TASK_ROOT != 0);
        let ppid = if in_root(r.tgid) {
            COORDINATOR
        } else if is_process(r.ppid) {
            r.ppid
        } else {
            REAPER
        };
        let want = SimTask {
            pid: r.pid,
            tgid: r.tgid,
            ppid,
            sid: r.sid,
            pgid: r.pgid,
            exit_signal: if r.is_thread() { -1 } else { r.exit_signal },
            zombie: r.is_zombie().then_some(r.exit_code),
        };
        let have = got_by_pid.get(&r.pid).copied();
        if have != Some(&want) {
            bail!("internal error: the plan recreates {have:?} instead of {want:?}");
        }
    }
    if got.len() != rows.len() {
        let extra: Vec<Pid> = got
            .iter()
            .map(|t| t.pid)
            .filter(|p| !by_pid.contains_key(p))
            .collect();
        bail!("internal error: the plan leaves tasks {extra:?} behind");
    }
    Ok(())
}

impl World<'_> {
    fn run(&mut self) -> Result<()> {
        // (actual pid, planned pid, next action); the coordinator first.
        let mut stack: Vec<(Pid, Option<Pid>, usize)> = vec![(self.coordinator, None, 0)];
        while let Some(&(me, planned, i)) = stack.last() {
            let actions = match planned {
                None => &self.plan.coordinator,
                Some(p) => &self.task_plan(p)?.actions,
            };
            let Some(&action) = actions.get(i) else {
                if planned.is_some() {
                    bail!("task {me} has no final action");
                }
                stack.pop();
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.2 += 1;
            }
            let step = self.step(me, planned, action).map_err(|e| {
                let who = planned.map_or("the coordinator".to_owned(), |p| format!("task {p}"));
                anyhow!("{who}: {action}: {e}")
            })?;
            match step {
                Step::Next => {}
                Step::Child(actual, planned) => stack.push((actual, Some(planned), 0)),
                Step::Park => {
                    if let Some((me, Some(p), next)) = stack.pop() {
                        self.parked.insert(p, (me, p, next));
                    }
                }
                Step::Resume(frame) => stack.push((frame.0, Some(frame.1), frame.2)),
                Step::Done => {
                    stack.pop();
                }
            }
        }
        Ok(())
    }

    fn task_plan(&self, planned: Pid) -> Result<&super::Task> {
        self.plan
            .task(planned)
            .ok_or_else(|| anyhow!("no task {planned} in the plan"))
    }

    fn step(&mut self, me: Pid, planned: Option<Pid>, action: Action) -> Result<Step> {
        match action {
            Action::Fork {
                pid,
                clone_parent,
                exit_signal,
                spare,
            } => self.fork(me, planned, pid, clone_parent, exit_signal, spare),
            Action::AwaitBuilt { pid } => {
                let child = self.actual_of(pid)?;
                if !self.tasks.get(&child).is_some_and(|t| t.built) {
                    bail!("task {pid} is not built");
                }
                Ok(Step::Next)
            }
            Action::Setsid => {
                if self.groups.contains_key(&me) {
                    bail!("EPERM: process group {me} exists");
                }
                self.set_ids(me, me, me);
                self.task_mut(me)?.session_leader = true;
                Ok(Step::Next)
            }
            Action::Setpgid { pgid } => {
                let t = *self.task(me)?;
                let pgid = if Some(pgid) == planned { me } else { pgid };
                if t.session_leader {
                    bail!("EPERM: a session leader cannot change its process group");
                }
                if pgid != me && self.groups.get(&pgid).is_none_or(|&(s, _)| s != t.sid) {
                    bail!("EPERM: no process group {pgid} in session {}", t.sid);
                }
                self.set_ids(me, t.sid, pgid);
                Ok(Step::Next)
            }
            Action::Thread { tid } => {
                if self.in_use(tid) {
                    bail!("EEXIST: pid {tid} is taken");
                }
                let t = *self.task(me)?;
                self.tasks.insert(
                    tid,
                    T {
                        tgid: me,
                        exit_signal: -1,
                        session_leader: false,
                        built: true,
                        ..t
                    },
                );
                self.uses(tid, 1);
                self.actual.insert(tid, tid);
                self.kids.entry(t.parent).or_default().push(tid);
                self.threads.entry(me).or_default().push(tid);
                Ok(Step::Next)
            }
            Action::Reap { pid } => {
                let child = self.actual_of(pid)?;
                let t = *self.task(child)?;
                if t.parent != me || t.exited.is_none() || t.tgid != child {
                    bail!("task {pid} is not an exited child");
                }
                self.remove(child);
                Ok(Step::Next)
            }
            Action::Park => {
                if planned.is_none() {
                    bail!("the coordinator cannot park");
                }
                self.task_mut(me)?.built = true;
                Ok(Step::Park)
            }
            Action::Release { pid } => {
                if planned.is_some() {
                    bail!("only the coordinator releases parked tasks");
                }
                match self.parked.remove(&pid) {
                    Some(frame) => Ok(Step::Resume(frame)),
                    None => bail!("task {pid} is not parked"),
                }
            }
            Action::Restore => {
                self.task_mut(me)?.built = true;
                Ok(Step::Done)
            }
            Action::ExitPlaceholder => self.exit(me, 0),
            Action::ExitZombie { status, .. } => self.exit(me, status),
        }
    }

    fn fork(
        &mut self,
        me: Pid,
        planned: Option<Pid>,
        pid: Pid,
        clone_parent: bool,
        exit_signal: i32,
        spare: bool,
    ) -> Result<Step> {
        let want = match planned {
            None => Creator::Coordinator,
            Some(p) => Creator::Task(p),
        };
        if self.task_plan(pid)?.creator != want {
            bail!("the plan says another task creates {pid}");
        }
        if self.actual.contains_key(&pid) {
            bail!("task {pid} is created twice");
        }
        let mut actual = pid;
        while self.in_use(actual) {
            if !spare {
                bail!("EEXIST: pid {pid} is taken");
            }
            actual += 1;
        }
        let creator = *self.task(me)?;
        if !clone_parent && !(0..=super::SIGRTMAX).contains(&exit_signal) {
            bail!("EINVAL: exit signal {exit_signal}");
        }
        let (parent, exit_signal) = if clone_parent {
            if me == self.coordinator {
                bail!("EINVAL: CLONE_PARENT from the coordinator (a pid namespace's init)");
            }
            (creator.parent, creator.exit_signal)
        } else {
            (me, exit_signal)
        };
        self.tasks.insert(
            actual,
            T {
                tgid: actual,
                parent,
                sid: creator.sid,
                pgid: creator.pgid,
                exit_signal,
                session_leader: false,
                exited: None,
                built: false,
            },
        );
        self.uses(actual, 1);
        self.uses(creator.sid, 1);
        self.uses(creator.pgid, 1);
        self.groups
            .entry(creator.pgid)
            .or_insert((creator.sid, 0))
            .1 += 1;
        self.actual.insert(pid, actual);
        self.kids.entry(parent).or_default().push(actual);
        Ok(Step::Child(actual, pid))
    }

    fn exit(&mut self, me: Pid, status: i32) -> Result<Step> {
        let t = self.task_mut(me)?;
        t.exited = Some(status);
        t.built = true;
        let reaper = self.reaper;
        for kid in self.kids.remove(&me).unwrap_or_default() {
            if let Some(t) = self.tasks.get_mut(&kid) {
                if t.parent == me && t.tgid != me {
                    t.parent = reaper;
                    self.kids.entry(reaper).or_default().push(kid);
                }
            }
        }
        Ok(Step::Done)
    }

    fn set_ids(&mut self, me: Pid, sid: Pid, pgid: Pid) {
        let Some(t) = self.tasks.get(&me).copied() else {
            return;
        };
        self.leave_group(t.pgid);
        self.uses(t.sid, -1);
        self.uses(t.pgid, -1);
        self.uses(sid, 1);
        self.uses(pgid, 1);
        self.groups.entry(pgid).or_insert((sid, 0)).1 += 1;
        let threads = self.threads.get(&me).cloned().unwrap_or_default();
        for pid in threads.into_iter().chain([me]) {
            if let Some(t) = self.tasks.get_mut(&pid) {
                t.sid = sid;
                t.pgid = pgid;
            }
        }
    }

    fn remove(&mut self, pid: Pid) {
        if let Some(t) = self.tasks.remove(&pid) {
            self.leave_group(t.pgid);
            self.uses(pid, -1);
            self.uses(t.sid, -1);
            self.uses(t.pgid, -1);
        }
    }

    fn leave_group(&mut self, g: Pid) {
        if let Some(e) = self.groups.get_mut(&g) {
            e.1 -= 1;
            if e.1 == 0 {
                self.groups.remove(&g);
            }
        }
    }

    fn uses(&mut self, pid: Pid, delta: i32) {
        if pid == OUTSIDE {
            return;
        }
        let n = self.used.entry(pid).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            self.used.remove(&pid);
        }
    }

    fn in_use(&self, pid: Pid) -> bool {
        pid <= 0 || self.used.contains_key(&pid)
    }

    fn actual_of(&self, planned: Pid) -> Result<Pid> {
        self.actual
            .get(&planned)
            .copied()
            .ok_or_else(|| anyhow!("task {planned} was never forked"))
    }

    fn task(&self, pid: Pid) -> Result<&T> {
        self.tasks.get(&pid).ok_or_else(|| anyhow!("no task {pid}"))
    }

    fn task_mut(&mut self, pid: Pid) -> Result<&mut T> {
        self.tasks
            .get_mut(&pid)
            .ok_or_else(|| anyhow!("no task {pid}"))
    }
}

enum Step {
    Next,
    Child(Pid, Pid),
    Park,
    Resume((Pid, Pid, usize)),
    Done,
}
