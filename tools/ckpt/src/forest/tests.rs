// SPDX-License-Identifier: GPL-2.0
//! Tests of DumpForest: every plan is executed by the simulator (with the
//! coordinator as pid 1, the pid namespace's init, which also reaps
//! orphans) and must give back every row exactly; random process histories
//! made with Linux's rules must all be recreated.

use rstest::rstest;

use super::rows::{root, row, thread, zombie};
use super::*;

const SIGCHLD: i32 = nix::libc::SIGCHLD;
const SIGTERM: i32 = nix::libc::SIGTERM;

/// Plans `rows`, simulates the plan and checks that it gives back exactly
/// the rows (the coordinator and reaper being pid 1).
fn check(rows: &[TaskEntry]) -> Plan {
    let plan = plan(rows).unwrap_or_else(|e| panic!("{e:#}\nrows:\n{}", compact(rows)));
    let got = simulate(&plan, 1, 1).unwrap_or_else(|e| panic!("{e:#}\nplan:\n{plan}"));
    let by_pid: std::collections::HashMap<Pid, &SimTask> = got.iter().map(|t| (t.pid, t)).collect();
    for r in rows {
        let want = SimTask {
            pid: r.pid,
            tgid: r.tgid,
            ppid: r.ppid,
            sid: r.sid,
            pgid: r.pgid,
            exit_signal: if r.is_thread() { -1 } else { r.exit_signal },
            zombie: r.is_zombie().then_some(r.exit_code),
        };
        assert_eq!(by_pid.get(&r.pid).copied(), Some(&want), "plan:\n{plan}");
    }
    assert_eq!(got.len(), rows.len(), "tasks left: {got:?}\nplan:\n{plan}");
    for t in &plan.tasks {
        let last = t.actions.last();
        assert!(
            t.kind == Kind::Thread || last.is_some_and(Action::is_final),
            "task {} does not end with a final action: {:?}",
            t.pid,
            t.actions
        );
    }
    plan
}

/// One line per row: `pid tgid ppid sid pgid flags exit_code exit_signal`.
fn compact(rows: &[TaskEntry]) -> String {
    let line = |r: &TaskEntry| {
        format!(
            "{} {} {} {} {} {:#x} {:#x} {}\n",
            r.pid, r.tgid, r.ppid, r.sid, r.pgid, r.flags, r.exit_code, r.exit_signal
        )
    };
    rows.iter().map(line).collect()
}

fn task(plan: &Plan, pid: Pid) -> &Task {
    plan.task(pid)
        .unwrap_or_else(|| panic!("no task {pid} in\n{plan}"))
}

fn placeholders(plan: &Plan) -> Vec<&Task> {
    plan.tasks
        .iter()
        .filter(|t| t.kind == Kind::Placeholder)
        .collect()
}

#[test]
fn parent_with_children() {
    let rows = [
        root(2, 2, 2),
        row(3, 2, 2, 2),
        row(4, 2, 2, 2),
        row(5, 2, 2, 2),
    ];
    let plan = check(&rows);
    assert_eq!(plan.coordinator[0], fork(2, SIGCHLD));
    assert_eq!(task(&plan, 2).flags, Flags::ROOT);
    assert_eq!(task(&plan, 2).actions[0], Action::Setsid);
    for pid in 3..=5 {
        assert_eq!(task(&plan, pid).creator, Creator::Task(2));
        assert_eq!(task(&plan, pid).actions, [Action::Restore]);
    }
    assert!(placeholders(&plan).is_empty());
}

fn fork(pid: Pid, exit_signal: i32) -> Action {
    Action::Fork {
        pid,
        clone_parent: false,
        exit_signal,
        spare: false,
    }
}

/// A shell (session leader 2) with a pipeline job `3 | 5` (group 3, 4 a
/// child of 3), a background job 6 with its child 7, a foreground task 8
/// in the shell's group and a second session 9 with a group of its own.
#[test]
fn session_leader_with_two_groups_and_a_background_group() {
    let rows = [
        root(2, 2, 2),
        row(3, 2, 2, 3),
        row(5, 2, 2, 3),
        row(6, 2, 2, 6),
        row(8, 2, 2, 2),
        row(9, 2, 9, 9),
        row(4, 3, 2, 3),
        row(7, 6, 2, 6),
        row(10, 9, 9, 10),
    ];
    let plan = check(&rows);
    assert_eq!(task(&plan, 3).actions[0], Action::Setpgid { pgid: 3 });
    assert_eq!(task(&plan, 5).actions[0], Action::Setpgid { pgid: 3 });
    assert_eq!(task(&plan, 9).actions[0], Action::Setsid);
    assert_eq!(
        task(&plan, 4).actions,
        [Action::Restore],
        "4 inherits group 3"
    );
    let order: Vec<Pid> = plan.tasks.iter().map(|t| t.pid).collect();
    let at = |p| order.iter().position(|&x| x == p);
    assert!(at(3) < at(5), "the group leader first: {order:?}");
}

/// 3's parent exited: 3 was reparented to init (1) and keeps its child 4.
#[test]
fn orphan_whose_parent_exited() {
    let rows = [root(2, 2, 2), row(3, 1, 2, 2), row(4, 3, 2, 2)];
    let plan = check(&rows);
    let dead = placeholders(&plan);
    assert_eq!(dead.len(), 1, "{plan}");
    assert_eq!(dead[0].flags, Flags::DEAD);
    assert_eq!(dead[0].creator, Creator::Task(2), "forked in session 2");
    assert_eq!(task(&plan, 3).creator, Creator::Task(dead[0].pid));
    assert!(plan.exact_pids().all(|p| p != dead[0].pid));
    assert!(task(&plan, 2)
        .actions
        .contains(&Action::Reap { pid: dead[0].pid }));
}

/// Session 10's leader exited: its group 11 is orphaned (11 was
/// reparented to init), 13 stays in the leader's group 10.
#[test]
fn orphaned_group_whose_session_leader_exited() {
    let rows = [
        root(2, 2, 2),
        row(11, 1, 10, 11),
        row(13, 1, 10, 10),
        row(12, 11, 10, 11),
    ];
    let plan = check(&rows);
    let ghost = task(&plan, 10);
    assert_eq!(ghost.flags, Flags::DEAD | Flags::GHOST);
    assert_eq!(ghost.kind, Kind::Placeholder);
    assert_eq!(ghost.actions[0], Action::Setsid);
    assert_eq!(task(&plan, 11).creator, Creator::Task(10));
    assert_eq!(task(&plan, 13).creator, Creator::Task(10));
    assert_eq!(ghost.actions.last(), Some(&Action::ExitPlaceholder));
}

/// Group 9's leader is dead; 3 and 4 (children of 2) are in it.
#[test]
fn ghost_process_group() {
    let rows = [
        root(2, 2, 2),
        row(3, 2, 2, 9),
        row(4, 2, 2, 9),
        row(6, 2, 2, 2),
        row(7, 3, 2, 9),
    ];
    let plan = check(&rows);
    let ghost = task(&plan, 9);
    assert_eq!(ghost.flags, Flags::DEAD | Flags::GHOST);
    assert_eq!(ghost.creator, Creator::Task(2));
    assert_eq!(ghost.actions[0], Action::Setpgid { pgid: 9 });
    assert_eq!(task(&plan, 3).flags, Flags::SIBLING);
    assert_eq!(task(&plan, 3).creator, Creator::Task(9));
    assert!(task(&plan, 2).actions.contains(&Action::Reap { pid: 9 }));
}

/// Group 9's leader is dead; the orphan 5 (its child) and 3 (a child of 2)
/// are in it: the placeholder is 5's dying parent, 3 joins the group.
#[test]
fn ghost_process_group_with_an_orphan() {
    let rows = [root(2, 2, 2), row(3, 2, 2, 9), row(5, 1, 2, 9)];
    let plan = check(&rows);
    assert_eq!(task(&plan, 5).creator, Creator::Task(9));
    assert_eq!(task(&plan, 3).creator, Creator::Task(2));
    assert_eq!(task(&plan, 3).actions[0], Action::Setpgid { pgid: 9 });
}

#[test]
fn zombie_children() {
    let rows = [
        root(2, 2, 2),
        zombie(3, 2, 2, 2, 7 << 8),
        zombie(4, 2, 2, 2, SIGTERM),
        row(5, 2, 2, 2),
        zombie(6, 5, 2, 2, 0),
    ];
    let plan = check(&rows);
    assert_eq!(
        task(&plan, 3).actions,
        [Action::ExitZombie {
            status: 7 << 8,
            comm: rows[1].comm
        }]
    );
    assert_eq!(plan.zombies().count(), 3);
    for t in &plan.tasks {
        assert!(!t.actions.iter().any(|a| matches!(a, Action::Reap { .. })));
    }
}

#[test]
fn threads() {
    let r = root(2, 2, 2);
    let c = row(5, 2, 2, 2);
    let z = zombie(7, 2, 2, 2, 0);
    let rows = [
        r,
        thread(3, &r),
        thread(4, &r),
        c,
        z,
        thread(6, &c),
        thread(8, &z),
    ];
    let plan = check(&rows);
    let actions = &task(&plan, 2).actions;
    let at = |a: Action| actions.iter().position(|&x| x == a);
    assert!(at(Action::AwaitBuilt { pid: 5 }) < at(Action::Thread { tid: 3 }));
    assert_eq!(
        task(&plan, 7).actions,
        [
            Action::Thread { tid: 8 },
            Action::ExitZombie {
                status: 0,
                comm: z.comm
            }
        ]
    );
    assert_eq!(task(&plan, 3).flags, Flags::THREAD);
    assert_eq!(task(&plan, 3).kind, Kind::Thread);
}

/// Every fifth process of a 20-deep chain starts a session of its own.
#[test]
fn chain_20_deep() {
    let mut rows = vec![root(2, 2, 2)];
    let mut sid = 2;
    for pid in 3..22 {
        if pid % 5 == 0 {
            sid = pid;
        }
        rows.push(row(pid, pid - 1, sid, sid));
    }
    let plan = check(&rows);
    for pid in 3..22 {
        assert_eq!(task(&plan, pid).creator, Creator::Task(pid - 1));
    }
}

/// 3 and 4, each with a child, are plain branches (live processes that
/// stay in 2's session and group): 2 forks 4 without waiting for 3's
/// branch, and waits for both before its last step.
#[test]
fn plain_branches_are_built_side_by_side() {
    let rows = [
        root(2, 2, 2),
        row(3, 2, 2, 2),
        row(4, 2, 2, 2),
        row(5, 3, 2, 2),
        row(6, 4, 2, 2),
    ];
    let plan = check(&rows);
    assert_eq!(
        task(&plan, 2).actions,
        [
            Action::Setsid,
            fork(3, SIGCHLD),
            fork(4, SIGCHLD),
            Action::AwaitBuilt { pid: 3 },
            Action::AwaitBuilt { pid: 4 },
            Action::Restore
        ]
    );
    assert_eq!(
        task(&plan, 3).actions,
        [
            fork(5, SIGCHLD),
            Action::AwaitBuilt { pid: 5 },
            Action::Restore
        ]
    );
}

/// 3's branch is not plain (3 leads a group of its own): 2 waits for it
/// before it forks 4; 4's plain branch is waited for at the end.
#[test]
fn a_branch_with_a_group_is_waited_for_first() {
    let rows = [
        root(2, 2, 2),
        row(3, 2, 2, 3),
        row(4, 2, 2, 2),
        row(5, 3, 2, 3),
    ];
    let plan = check(&rows);
    assert_eq!(
        task(&plan, 2).actions,
        [
            Action::Setsid,
            fork(3, SIGCHLD),
            Action::AwaitBuilt { pid: 3 },
            fork(4, SIGCHLD),
            Action::AwaitBuilt { pid: 4 },
            Action::Restore
        ]
    );
}

/// 3 leads group 3 and ends in group 9, whose dead leader's ghost (forked
/// by 2) forks 3: once 3 has forked 4 (a plain branch that keeps group 3
/// alive) it joins group 9 while the ghost still holds it, not later.
#[test]
fn joins_its_group_after_forking_a_plain_member() {
    let rows = [root(2, 2, 2), row(3, 2, 2, 9), row(4, 3, 2, 3)];
    let plan = check(&rows);
    let actions = &task(&plan, 3).actions;
    let join = actions
        .iter()
        .position(|a| *a == Action::Setpgid { pgid: 9 });
    assert!(join.is_some(), "{actions:?}");
    assert!(!actions.contains(&Action::Park), "{actions:?}");
}

/// A creator of many plain branches awaits the oldest once
/// `MAX_UNAWAITED` are unawaited: at most that many report pipes open.
#[test]
fn unawaited_branches_are_bounded() {
    let mut rows = vec![root(2, 2, 2)];
    for pid in 3..203 {
        rows.push(row(pid, 2, 2, 2));
    }
    let plan = check(&rows);
    let mut open = 0usize;
    let mut most = 0usize;
    for a in &task(&plan, 2).actions {
        match a {
            Action::Fork { .. } => open += 1,
            Action::AwaitBuilt { .. } => open -= 1,
            _ => {}
        }
        most = most.max(open);
    }
    assert_eq!(most, 65, "{:?}", task(&plan, 2).actions);
    assert_eq!(open, 0);
}

/// 3 forks 4 and only then calls setsid: 4 stays in session 2.
#[test]
fn forked_before_setsid() {
    let rows = [root(2, 2, 2), row(3, 2, 3, 3), row(4, 3, 2, 2)];
    let plan = check(&rows);
    assert_eq!(task(&plan, 4).flags, Flags::SESSION);
    assert_eq!(
        task(&plan, 3).actions[..3],
        [
            fork(4, SIGCHLD),
            Action::AwaitBuilt { pid: 4 },
            Action::Setsid
        ]
    );
}

/// Session leader 3 forked 4 with CLONE_PARENT: 4 is 2's child in session 3.
#[test]
fn forked_by_a_sibling() {
    let rows = [root(2, 2, 2), row(3, 2, 3, 3), row(4, 2, 3, 3)];
    let plan = check(&rows);
    assert_eq!(task(&plan, 4).flags, Flags::SIBLING);
    assert_eq!(task(&plan, 4).creator, Creator::Task(3));
}

/// 3 joined the group its child 4 leads.
#[test]
fn joins_the_group_of_its_child() {
    let rows = [
        root(2, 2, 2),
        row(3, 2, 2, 4),
        row(4, 3, 2, 4),
        row(5, 3, 2, 2),
    ];
    let plan = check(&rows);
    let actions = &task(&plan, 3).actions;
    let join = actions
        .iter()
        .position(|a| *a == Action::Setpgid { pgid: 4 });
    let built = actions
        .iter()
        .position(|a| *a == Action::AwaitBuilt { pid: 4 });
    assert!(built < join, "{actions:?}");
}

/// 3 leads group 3 (4 is in it) but moved to its parent's group.
#[test]
fn leader_moved_out_of_its_group() {
    let rows = [root(2, 2, 2), row(3, 2, 2, 2), row(4, 2, 2, 3)];
    let plan = check(&rows);
    assert_eq!(task(&plan, 4).flags, Flags::SIBLING);
}

/// 3, an orphan, leads group 3 and moved to group 2; its only other member
/// 4 is created in another branch: 3 joins group 2 once the tree is built.
#[test]
fn moved_leader_parks_until_the_tree_is_built() {
    let rows = [root(2, 2, 2), row(3, 1, 2, 2), row(4, 2, 2, 3)];
    let plan = check(&rows);
    assert_eq!(
        task(&plan, 3).actions,
        [
            Action::Setpgid { pgid: 3 },
            Action::Park,
            Action::Setpgid { pgid: 2 },
            Action::Restore
        ]
    );
    assert_eq!(plan.coordinator.last(), Some(&Action::Release { pid: 3 }));
}

/// The root is in the session and group of a dead leader.
#[test]
fn root_in_a_ghost_session() {
    let rows = [root(2, 10, 10), row(3, 2, 10, 10)];
    let plan = check(&rows);
    assert_eq!(plan.coordinator[0], fork(10, SIGCHLD));
    assert_eq!(task(&plan, 2).flags, Flags::ROOT | Flags::SIBLING);
    assert!(plan.coordinator.contains(&Action::Reap { pid: 10 }));
}

/// Ids outside the pid namespace (0): the coordinator's session and group.
#[test]
fn root_in_the_coordinators_session() {
    let rows = [
        root(2, 0, 0),
        row(3, 2, 0, 0),
        row(4, 2, 4, 4),
        row(5, 1, 0, 0),
    ];
    check(&rows);
}

#[test]
fn many_processes() {
    let rows = History::random(7, 1000).rows();
    assert!(rows.len() >= 1000, "{}", rows.len());
    check(&rows);
}

/// Process histories made with Linux's rules (fork, CLONE_PARENT, setsid,
/// setpgid, exit, reap, threads) are all recreated exactly.
#[test]
fn random_histories() {
    for seed in 1..1000 {
        let h = History::random(seed, 30);
        let rows = h.rows();
        let plan = plan(&rows).unwrap_or_else(|e| {
            panic!(
                "seed {seed}: {e:#}\nhistory:\n{}\nrows:\n{}",
                h.log.join("\n"),
                compact(&rows)
            )
        });
        let got = simulate(&plan, 1, 1).unwrap_or_else(|e| panic!("seed {seed}: {e:#}\n{plan}"));
        assert_eq!(got.len(), rows.len(), "seed {seed}");
        check(&rows);
    }
}

#[rstest]
#[case::empty(vec![], "no task")]
#[case::duplicate(vec![root(2, 2, 2), row(3, 2, 2, 2), row(3, 2, 2, 2)], "appears twice")]
#[case::zero_pid(vec![root(2, 2, 2), row(0, 2, 2, 2)], "positive")]
#[case::negative_sid(vec![root(2, 2, 2), row(3, 2, -4, 2)], "negative")]
#[case::no_root(vec![row(2, 1, 2, 2)], "not the root")]
#[case::two_roots(vec![root(2, 2, 2), root(3, 3, 3)], "flagged as root")]
#[case::leader_missing(vec![root(2, 2, 2), thread(5, &row(4, 2, 2, 2))], "leader 4")]
#[case::thread_parent(vec![root(2, 2, 2), thread(3, &row(2, 1, 2, 2)), row(4, 3, 2, 2)], "is a thread")]
#[case::session_leader_group(vec![root(2, 2, 3)], "stays in its own group")]
#[case::not_a_leader(vec![root(2, 2, 2), row(3, 2, 2, 2), row(4, 2, 3, 3)], "not a session leader")]
#[case::group_two_sessions(vec![root(2, 2, 2), row(3, 2, 3, 3), row(4, 2, 2, 9), row(5, 3, 3, 9)], "spans sessions")]
#[case::zombie_orphan(vec![root(2, 2, 2), zombie(3, 1, 2, 2, 0)], "would reap it")]
#[case::zombie_parent(vec![root(2, 2, 2), zombie(3, 2, 2, 2, 0), row(4, 3, 2, 2)], "is a zombie")]
#[case::cycle(vec![root(2, 2, 2), row(3, 4, 2, 2), row(4, 3, 2, 2)], "cycle")]
#[case::exit_signal(vec![root(2, 2, 2), TaskEntry { exit_signal: 99, ..row(3, 2, 2, 2) }], "exit signal 99")]
#[case::status(vec![root(2, 2, 2), zombie(3, 2, 2, 2, SIGCHLD)], "wait status")]
#[case::killed_with_threads(vec![root(2, 2, 2), zombie(3, 2, 2, 2, SIGTERM), thread(4, &zombie(3, 2, 2, 2, SIGTERM))], "killed by a signal")]
#[case::unreachable_session(
    vec![root(2, 2, 2), row(3, 2, 3, 3), row(4, 2, 2, 2), row(5, 4, 3, 3)],
    "cannot recreate process 5"
)]
fn rejected(#[case] rows: Vec<TaskEntry>, #[case] message: &str) {
    let err = plan(&rows).expect_err("the table must be refused");
    let text = format!("{err:#}");
    assert!(text.contains(message), "{text:?} does not say {message:?}");
}

#[test]
fn flags_display() {
    assert_eq!((Flags::DEAD | Flags::GHOST).to_string(), "DEAD|GHOST");
    assert_eq!(Flags::empty().to_string(), "");
}

/// A tiny deterministic random number generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 33) as usize % n.max(1)
    }
}

#[derive(Clone, Debug)]
struct Proc {
    ppid: Pid,
    sid: Pid,
    pgid: Pid,
    exit_signal: i32,
    zombie: Option<i32>,
    threads: Vec<Pid>,
}

/// A world that evolves with Linux's rules: init (1, the coordinator,
/// outside every saved session) forks the root 2; then random steps.
struct History {
    procs: std::collections::BTreeMap<Pid, Proc>,
    next: Pid,
    rng: Rng,
    log: Vec<String>,
}

impl History {
    fn random(seed: u64, processes: usize) -> Self {
        let mut h = Self {
            procs: Default::default(),
            next: 3,
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            log: Vec::new(),
        };
        let root = Proc {
            ppid: 1,
            sid: OUTSIDE,
            pgid: OUTSIDE,
            exit_signal: SIGCHLD,
            zombie: None,
            threads: Vec::new(),
        };
        h.procs.insert(2, root);
        if h.rng.below(4) != 0 {
            h.setsid(2);
        }
        let mut steps = 0;
        while h.procs.len() < processes && steps < processes * 20 {
            h.step();
            steps += 1;
        }
        h
    }

    fn live(&self) -> Vec<Pid> {
        let ids = self.procs.iter().filter(|(_, p)| p.zombie.is_none());
        ids.map(|(&pid, _)| pid).collect()
    }

    fn step(&mut self) {
        let live = self.live();
        let p = live[self.rng.below(live.len())];
        match self.rng.below(20) {
            0..=6 => self.fork(p, false),
            7 => self.fork(p, true),
            8..=9 => self.setsid(p),
            10..=11 => self.setpgid(p, p),
            12..=13 => {
                let sid = self.procs[&p].sid;
                let same: Vec<Pid> = self
                    .procs
                    .values()
                    .filter(|q| q.sid == sid && q.pgid != OUTSIDE)
                    .map(|q| q.pgid)
                    .collect();
                if !same.is_empty() {
                    let g = same[self.rng.below(same.len())];
                    self.setpgid(p, g);
                }
            }
            14..=16 if p != 2 => self.exit(p),
            17 => self.reap(p),
            18 => self.thread(p),
            _ => {}
        }
    }

    fn fork(&mut self, p: Pid, clone_parent: bool) {
        let pid = self.next + self.rng.below(3) as Pid;
        self.next = pid + 1;
        let parent = &self.procs[&p];
        let (ppid, exit_signal) = if clone_parent {
            (parent.ppid, parent.exit_signal)
        } else {
            let sig = [SIGCHLD, SIGCHLD, SIGCHLD, 0, nix::libc::SIGUSR1][self.rng.below(5)];
            (p, sig)
        };
        let child = Proc {
            ppid,
            exit_signal,
            zombie: None,
            threads: Vec::new(),
            ..parent.clone()
        };
        self.log.push(format!(
            "{p} forks {pid}{}",
            if clone_parent { " (CLONE_PARENT)" } else { "" }
        ));
        self.procs.insert(pid, child);
    }

    fn setsid(&mut self, p: Pid) {
        if self.procs.values().any(|q| q.pgid == p) {
            return;
        }
        self.log.push(format!("{p} setsid"));
        let me = self.procs.get_mut(&p).expect("live");
        me.sid = p;
        me.pgid = p;
    }

    /// (A task in the group outside the pid namespace does not move: that
    /// group can only be inherited, see `emit`.)
    fn setpgid(&mut self, p: Pid, g: Pid) {
        let me = &self.procs[&p];
        let exists = self.procs.values().any(|q| q.pgid == g && q.sid == me.sid);
        if me.sid == p || (g != p && !exists) || me.pgid == OUTSIDE {
            return;
        }
        self.log.push(format!("{p} setpgid {g}"));
        self.procs.get_mut(&p).expect("live").pgid = g;
    }

    fn exit(&mut self, p: Pid) {
        let status = [0, 3 << 8, nix::libc::SIGKILL, SIGTERM][self.rng.below(4)];
        self.log.push(format!("{p} exits ({status:#x})"));
        for q in self.procs.values_mut() {
            if q.ppid == p {
                q.ppid = 1;
            }
        }
        // Init reaps its zombie children at once.
        self.procs.retain(|_, q| q.ppid != 1 || q.zombie.is_none());
        let me = self.procs.get_mut(&p).expect("live");
        me.zombie = Some(status);
        me.threads.clear();
        if me.ppid == 1 {
            // Init reaps at once.
            self.procs.remove(&p);
        }
    }

    fn reap(&mut self, p: Pid) {
        let z = self
            .procs
            .iter()
            .find(|(_, q)| q.ppid == p && q.zombie.is_some())
            .map(|(&pid, _)| pid);
        if let Some(z) = z {
            self.log.push(format!("{p} reaps {z}"));
            self.procs.remove(&z);
        }
    }

    fn thread(&mut self, p: Pid) {
        let tid = self.next;
        self.next += 1;
        self.log.push(format!("{p} creates thread {tid}"));
        self.procs.get_mut(&p).expect("live").threads.push(tid);
    }

    /// The forest table: pids increase with time, so sorting by pid puts
    /// every task after its parent and leader (the root, 2, first).
    fn rows(&self) -> Vec<TaskEntry> {
        let mut rows = Vec::new();
        for (&pid, p) in &self.procs {
            let mut r = match p.zombie {
                Some(status) => zombie(pid, p.ppid, p.sid, p.pgid, status),
                None => row(pid, p.ppid, p.sid, p.pgid),
            };
            r.exit_signal = p.exit_signal;
            if pid == 2 {
                r.flags |= TASK_ROOT;
            }
            rows.push(r);
            for &tid in &p.threads {
                rows.push(thread(tid, &r));
            }
        }
        rows.sort_by_key(|r| r.pid);
        rows
    }
}

/// Every algorithm is iterative: a chain as deep as a big table is long
/// needs no deep stack (test threads have 2 MiB).
#[test]
fn chain_100_000_deep() {
    let mut rows = vec![root(2, 2, 2)];
    rows.extend((3..100_002).map(|pid| row(pid, pid - 1, 2, 2)));
    let plan = plan(&rows).expect("a plain chain");
    assert_eq!(plan.tasks.len(), rows.len());
}

/// An image with only its forest table (the reader accepts that).
fn image_of(rows: &[TaskEntry]) -> Vec<u8> {
    use ckpt_image::{
        padding, record_header, ForestHead, Header, RecordType, Tail, ARCH_X86_64,
        CHECKPOINT_SUBTREE, IMAGE_VERSION, RELEASE_LEN,
    };
    let mut out = Vec::new();
    let push = |out: &mut Vec<u8>, kind: RecordType, payload: &[u8]| {
        out.extend_from_slice(&record_header(kind, payload.len() as u32));
        out.extend_from_slice(payload);
        out.resize(out.len() + padding(payload.len()), 0);
    };
    let header = Header {
        version: IMAGE_VERSION,
        arch: ARCH_X86_64,
        flags: CHECKPOINT_SUBTREE,
        release: [0; RELEASE_LEN],
    };
    push(&mut out, RecordType::Header, &header.encode());
    let forest = ForestHead {
        nr_tasks: rows.len() as u32,
        root_pid: rows[0].pid,
    };
    push(&mut out, RecordType::Forest, &forest.encode());
    for r in rows {
        push(&mut out, RecordType::Task, &r.encode());
    }
    let tail = Tail {
        nr_records: 2 + rows.len() as u32,
        bytes: out.len() as u64,
    };
    push(&mut out, RecordType::Tail, &tail.encode());
    out
}

#[test]
fn rows_of_an_image() {
    let r = root(2, 2, 2);
    let rows = [r, thread(3, &r), zombie(4, 2, 2, 2, 1 << 8)];
    let buf = image_of(&rows);
    assert_eq!(rows_of_image(&buf).expect("valid image"), rows);
    let err = rows_of_image(&buf[..buf.len() - 8]).expect_err("cut image");
    assert!(format!("{err:#}").contains("not a valid image"), "{err:#}");
}
