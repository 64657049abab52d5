// SPDX-License-Identifier: GPL-2.0
//! Why `checkpoint(2)` found a task of the tree not frozen (`EBUSY`).
//!
//! The kernel counts a task as frozen when the cgroup v2 freezer parked it
//! or it is stopped by a signal (state `T`) in a frozen cgroup: not when
//! it is traced (state `t`, or any task with a tracer), although the
//! freezer reports a cgroup whose tasks are traced as frozen; and not when
//! it is in a cgroup that was not frozen. After `EBUSY`, `ckpt checkpoint` looks at
//! every task of the tree in `/proc` (while the job is still frozen) and
//! names the first one that is in one of those cases, with the fix; if
//! none is, the job was thawed during the call.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use crate::cgroup;

/// What `/proc` shows of one task of the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProcTask {
    /// Its process (thread group id).
    pub pid: i32,
    /// The task (thread id).
    pub tid: i32,
    /// The text of `/proc/PID/task/TID/status`.
    pub status: String,
    /// The text of `/proc/PID/task/TID/cgroup`.
    pub cgroup: String,
}

/// The task that kept the tree from being frozen, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Busy {
    /// Traced by `tracer` (0: in a tracing stop, tracer unknown).
    Traced { pid: i32, tid: i32, tracer: i32 },
    /// In `cgroup`, which is not frozen (outside the job's cgroup).
    Outside { pid: i32, cgroup: String },
    /// None of the above: the job was thawed during the call.
    Thawed,
}

/// Which cgroup should have frozen the tree.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Freezer<'a> {
    /// `ckpt checkpoint` froze (or found frozen) this job cgroup, as a
    /// path in the hierarchy (`/ckpt/job-7`).
    Job(&'a str),
    /// `--no-freeze`: whatever froze the tree, some other way.
    Own,
}

/// The state letter of a `status` text (`S`, `T`, `t`, `Z`, …).
pub(crate) fn status_state(status: &str) -> Option<char> {
    field(status, "State:")?.chars().next()
}

/// The tracer's pid of a `status` text (0: not traced).
pub(crate) fn status_tracer(status: &str) -> i32 {
    field(status, "TracerPid:")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .map(str::trim_start)
}

/// The fields of a `/proc/PID/stat` text after the command name, from
/// field 3 (the state) on.
fn stat_rest(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// The parent pid (field 4) of a `/proc/PID/stat` text.
pub(crate) fn stat_ppid(stat: &str) -> Option<i32> {
    stat_rest(stat).get(1)?.parse().ok()
}

/// The exit code (field 52) of a `/proc/PID/stat` text: the wait status
/// of a task that exits (0 while it runs).
pub(crate) fn stat_exit_code(stat: &str) -> Option<i32> {
    stat_rest(stat).get(52 - 3)?.parse().ok()
}

/// The processes of the tree rooted at `root`, parents before children
/// (breadth first, children by pid), from every process's (pid, ppid).
pub(crate) fn descendants(root: i32, parents: &[(i32, i32)]) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for &(pid, ppid) in parents {
        if pid != root {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = vec![root];
    let mut queue = VecDeque::from([root]);
    while let Some(p) = queue.pop_front() {
        let mut kids = children.remove(&p).unwrap_or_default();
        kids.sort_unstable();
        for k in kids {
            out.push(k);
            queue.push_back(k);
        }
    }
    out
}

/// Whether the cgroup `cg` (a path in the hierarchy) is `job` or below it.
pub(crate) fn within(cg: &str, job: &str) -> bool {
    Path::new(cg).starts_with(job)
}

/// The first task of `tasks` (in tree order) that is not frozen, and why.
/// `frozen_cgroup` says whether a task's cgroup (a path in the hierarchy)
/// is frozen.
pub(crate) fn classify(tasks: &[ProcTask], frozen_cgroup: &dyn Fn(&str) -> bool) -> Busy {
    for t in tasks {
        let state = status_state(&t.status);
        // The kernel skips zombies: they never run again.
        if matches!(state, Some('Z' | 'X') | None) {
            continue;
        }
        if let Some(cg) = cgroup::parse_proc_cgroup(&t.cgroup) {
            if !frozen_cgroup(cg) {
                return Busy::Outside {
                    pid: t.pid,
                    cgroup: cg.to_owned(),
                };
            }
        }
        let tracer = status_tracer(&t.status);
        if tracer != 0 || state == Some('t') {
            return Busy::Traced {
                pid: t.pid,
                tid: t.tid,
                tracer,
            };
        }
    }
    Busy::Thawed
}

/// The sentence for `busy`, naming the cause and the fix.
pub(crate) fn message(busy: &Busy, freezer: Freezer<'_>) -> String {
    match busy {
        Busy::Traced { pid, tid, tracer } => {
            let who = if tid == pid {
                format!("pid {pid}")
            } else {
                format!("thread {tid} of pid {pid}")
            };
            if *tracer == 0 {
                format!("{who} is in a tracing stop (a debugger): detach it first")
            } else {
                format!("{who} is traced by pid {tracer} (a debugger): detach it first")
            }
        }
        Busy::Outside { pid, cgroup } => match freezer {
            Freezer::Job(job) => format!(
                "pid {pid} is outside the job's cgroup {job} (it is in {cgroup}), so freezing \
                 the job does not freeze it: run the job under `ckpt run` and leave its \
                 processes in the job's cgroup"
            ),
            Freezer::Own => format!(
                "pid {pid} is in cgroup {cgroup}, which is not frozen: freeze it, or leave out \
                 --no-freeze and run the job under `ckpt run`"
            ),
        },
        Busy::Thawed => match freezer {
            Freezer::Job(_) => "the job was thawed during the checkpoint; try again".to_owned(),
            Freezer::Own => "a task of the tree was not frozen when checkpoint(2) read it \
                             (thawed during the checkpoint): freeze the tree and try again"
                .to_owned(),
        },
    }
}

/// Every task of the tree rooted at `root`, as `/proc` shows it now (tasks
/// that are gone are left out).
pub(crate) fn read_tree(root: i32) -> Vec<ProcTask> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, stat_ppid(&stat)?))
        })
        .collect();
    let mut out = Vec::new();
    for pid in descendants(root, &parents) {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        let mut tids: Vec<i32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        // The leader first, then its threads.
        tids.sort_unstable_by_key(|&t| (t != pid, t));
        for tid in tids {
            let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/{f}"));
            let Ok(status) = read("status") else {
                continue;
            };
            out.push(ProcTask {
                pid,
                tid,
                status,
                cgroup: read("cgroup").unwrap_or_default(),
            });
        }
    }
    out
}

/// The sentence for `EBUSY` from `checkpoint(2)` of the tree rooted at
/// `root`, from `/proc`; `None` if `/proc` shows no task of it.
pub(crate) fn explain(root: i32, freezer: Freezer<'_>) -> Option<String> {
    let tasks = read_tree(root);
    if tasks.is_empty() {
        return None;
    }
    let busy = match freezer {
        Freezer::Job(job) => classify(&tasks, &|cg| within(cg, job)),
        Freezer::Own => classify(&tasks, &|cg| {
            cgroup::is_frozen(&Path::new(cgroup::MOUNT).join(cg.trim_start_matches('/')))
                .unwrap_or(false)
        }),
    };
    Some(message(&busy, freezer))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `status` text as Linux 6.12 writes it (the lines that matter,
    /// with some around them).
    fn status(state: &str, tracer: i32) -> String {
        format!(
            "Name:\tsleeper\nUmask:\t0022\nState:\t{state}\nTgid:\t42\nNgid:\t0\nPid:\t42\n\
             PPid:\t1\nTracerPid:\t{tracer}\nUid:\t0\t0\t0\t0\n"
        )
    }

    fn task(pid: i32, tid: i32, state: &str, tracer: i32, cg: &str) -> ProcTask {
        ProcTask {
            pid,
            tid,
            status: status(state, tracer),
            cgroup: format!("0::{cg}\n"),
        }
    }

    const JOB: &str = "/ckpt/job-7";

    fn in_job(cg: &str) -> bool {
        within(cg, JOB)
    }

    #[test]
    fn status_fields() {
        assert_eq!(status_state(&status("S (sleeping)", 0)), Some('S'));
        assert_eq!(status_state(&status("T (stopped)", 0)), Some('T'));
        assert_eq!(status_state(&status("t (tracing stop)", 0)), Some('t'));
        assert_eq!(status_tracer(&status("t (tracing stop)", 977)), 977);
        assert_eq!(status_tracer(&status("S (sleeping)", 0)), 0);
        assert_eq!(status_state(""), None);
        assert_eq!(status_tracer(""), 0);
    }

    #[test]
    fn stat_fields() {
        // A command name with spaces and parentheses.
        let mut stat = "123 (a) (b c) S 77 123 123 0 -1 4194560".to_owned();
        // Fields 10 to 51, then the exit code.
        for _ in 10..=51 {
            stat.push_str(" 0");
        }
        stat.push_str(" 9\n");
        assert_eq!(stat_ppid(&stat), Some(77));
        assert_eq!(stat_exit_code(&stat), Some(9));
        assert_eq!(stat_ppid("garbage"), None);
        assert_eq!(stat_exit_code("1 (x) S 0"), None);
        // This process: running, so exit code 0.
        let me = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert_eq!(stat_exit_code(&me), Some(0));
        assert_eq!(
            stat_ppid(&me),
            // SAFETY: getppid has no arguments.
            Some(unsafe { nix::libc::getppid() })
        );
    }

    #[test]
    fn tree_order() {
        let parents = [
            (1, 0),
            (10, 1),
            (11, 10),
            (12, 10),
            (13, 11),
            (20, 1),
            (14, 12),
        ];
        assert_eq!(descendants(10, &parents), vec![10, 11, 12, 13, 14]);
        assert_eq!(descendants(13, &parents), vec![13]);
        // A root that /proc does not list still comes first.
        assert_eq!(descendants(99, &parents), vec![99]);
    }

    #[test]
    fn cgroup_within_job() {
        assert!(within("/ckpt/job-7", JOB));
        assert!(within("/ckpt/job-7/sub", JOB));
        assert!(!within("/ckpt/job-70", JOB));
        assert!(!within("/ckpt", JOB));
        assert!(!within("/user.slice", JOB));
    }

    #[test]
    fn all_frozen_means_thawed_meanwhile() {
        let tasks = [
            task(42, 42, "S (sleeping)", 0, JOB),
            task(43, 43, "S (sleeping)", 0, "/ckpt/job-7/sub"),
            task(44, 44, "Z (zombie)", 0, "/"),
        ];
        assert_eq!(classify(&tasks, &in_job), Busy::Thawed);
        assert_eq!(
            message(&Busy::Thawed, Freezer::Job(JOB)),
            "the job was thawed during the checkpoint; try again"
        );
        assert!(message(&Busy::Thawed, Freezer::Own).contains("not frozen"));
    }

    #[test]
    fn a_stopped_task_is_not_a_cause() {
        // Stopped in a frozen cgroup: checkpointed as it is.
        let tasks = [
            task(42, 42, "S (sleeping)", 0, JOB),
            task(43, 43, "T (stopped)", 0, JOB),
        ];
        assert_eq!(classify(&tasks, &in_job), Busy::Thawed);
    }

    #[test]
    fn a_traced_task() {
        let tasks = [
            task(42, 42, "S (sleeping)", 0, JOB),
            task(43, 43, "t (tracing stop)", 977, JOB),
        ];
        let busy = classify(&tasks, &in_job);
        assert_eq!(
            busy,
            Busy::Traced {
                pid: 43,
                tid: 43,
                tracer: 977
            }
        );
        assert_eq!(
            message(&busy, Freezer::Job(JOB)),
            "pid 43 is traced by pid 977 (a debugger): detach it first"
        );
    }

    #[test]
    fn a_traced_thread_that_runs() {
        // A tracer that let the thread go on (PTRACE_CONT): traced, not
        // stopped, still not frozen.
        let tasks = [
            task(42, 42, "S (sleeping)", 0, JOB),
            task(42, 45, "S (sleeping)", 977, JOB),
        ];
        let busy = classify(&tasks, &in_job);
        assert_eq!(
            busy,
            Busy::Traced {
                pid: 42,
                tid: 45,
                tracer: 977
            }
        );
        assert_eq!(
            message(&busy, Freezer::Job(JOB)),
            "thread 45 of pid 42 is traced by pid 977 (a debugger): detach it first"
        );
    }

    #[test]
    fn tracing_stop_without_a_tracer() {
        let tasks = [task(42, 42, "t (tracing stop)", 0, JOB)];
        let busy = classify(&tasks, &in_job);
        assert_eq!(
            message(&busy, Freezer::Job(JOB)),
            "pid 42 is in a tracing stop (a debugger): detach it first"
        );
    }

    #[test]
    fn a_task_outside_the_job() {
        let tasks = [
            task(42, 42, "S (sleeping)", 0, JOB),
            task(43, 43, "S (sleeping)", 0, "/user.slice/other"),
        ];
        let busy = classify(&tasks, &in_job);
        assert_eq!(
            busy,
            Busy::Outside {
                pid: 43,
                cgroup: "/user.slice/other".into()
            }
        );
        let text = message(&busy, Freezer::Job(JOB));
        assert!(
            text.starts_with(
                "pid 43 is outside the job's cgroup /ckpt/job-7 (it is in /user.slice/other)"
            ),
            "{text}"
        );
        assert!(text.contains("run the job under `ckpt run`"), "{text}");
        let text = message(&busy, Freezer::Own);
        assert!(
            text.starts_with("pid 43 is in cgroup /user.slice/other, which is not frozen"),
            "{text}"
        );
    }

    #[test]
    fn first_problem_in_tree_order() {
        // The root traced, a child outside: the root is named.
        let tasks = [
            task(42, 42, "t (tracing stop)", 9, JOB),
            task(43, 43, "S (sleeping)", 0, "/"),
        ];
        assert!(matches!(
            classify(&tasks, &in_job),
            Busy::Traced { pid: 42, .. }
        ));
        // A stopped task outside the job: outside.
        let tasks = [task(42, 42, "T (stopped)", 0, "/")];
        assert!(matches!(
            classify(&tasks, &in_job),
            Busy::Outside { pid: 42, .. }
        ));
        // Traced and stopped by the tracer's SIGSTOP: traced.
        let tasks = [task(42, 42, "T (stopped)", 12, JOB)];
        assert!(matches!(
            classify(&tasks, &in_job),
            Busy::Traced { tracer: 12, .. }
        ));
    }

    #[test]
    fn zombies_and_unreadable_tasks_are_skipped() {
        let tasks = [
            task(42, 42, "Z (zombie)", 0, "/"),
            ProcTask {
                pid: 43,
                tid: 43,
                ..Default::default()
            },
            task(44, 44, "X (dead)", 0, "/"),
        ];
        assert_eq!(classify(&tasks, &in_job), Busy::Thawed);
    }

    #[test]
    fn own_freezer_asks_about_each_cgroup() {
        let tasks = [
            task(42, 42, "S (sleeping)", 0, "/frozen"),
            task(43, 43, "S (sleeping)", 0, "/running"),
        ];
        let frozen = |cg: &str| cg == "/frozen";
        assert_eq!(
            classify(&tasks, &frozen),
            Busy::Outside {
                pid: 43,
                cgroup: "/running".into()
            }
        );
    }

    /// Forks a child that runs `body`, then pauses until it is killed.
    fn child(body: fn()) -> i32 {
        // SAFETY: the child makes only async-signal-safe calls.
        let pid = unsafe { nix::libc::fork() };
        if pid == 0 {
            body();
            loop {
                // SAFETY: pause() takes no argument.
                unsafe { nix::libc::pause() };
            }
        }
        assert!(pid > 0);
        pid
    }

    /// The child's tree once /proc shows its state as `state`.
    fn when_in(pid: i32, state: char) -> Vec<ProcTask> {
        for _ in 0..5000 {
            let tasks = read_tree(pid);
            if tasks
                .first()
                .is_some_and(|t| status_state(&t.status) == Some(state))
            {
                return tasks;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("pid {pid} never got to state {state}");
    }

    fn kill(pid: i32) {
        let mut status = 0;
        // SAFETY: kills and reaps the child forked by this test.
        unsafe {
            nix::libc::kill(pid, nix::libc::SIGKILL);
            nix::libc::waitpid(pid, &mut status, 0);
        }
    }

    #[test]
    fn a_stopped_process_in_proc() {
        let pid = child(|| {
            // SAFETY: stops this process.
            unsafe { nix::libc::raise(nix::libc::SIGSTOP) };
        });
        let tasks = when_in(pid, 'T');
        kill(pid);
        assert_eq!(tasks.len(), 1);
        assert_eq!(classify(&tasks, &|_| true), Busy::Thawed);
    }

    #[test]
    fn a_traced_process_in_proc() {
        let pid = child(|| {
            // SAFETY: asks to be traced by the parent, then stops: a
            // tracing stop.
            unsafe {
                nix::libc::ptrace(nix::libc::PTRACE_TRACEME, 0, 0, 0);
                nix::libc::raise(nix::libc::SIGSTOP);
            }
        });
        let tasks = when_in(pid, 't');
        kill(pid);
        // TracerPid is the tracing thread: this test's.
        // SAFETY: gettid has no arguments.
        let me = unsafe { nix::libc::gettid() };
        assert_eq!(
            classify(&tasks, &|_| true),
            Busy::Traced {
                pid,
                tid: pid,
                tracer: me
            }
        );
    }

    #[test]
    fn this_process_is_in_its_own_tree() {
        // SAFETY: getpid has no arguments.
        let me = unsafe { nix::libc::getpid() };
        let tasks = read_tree(me);
        assert!(tasks.first().is_some_and(|t| t.pid == me && t.tid == me));
        // The test harness runs tests in threads of this process (other
        // tests may fork children meanwhile).
        let mine: Vec<&ProcTask> = tasks.iter().filter(|t| t.pid == me).collect();
        assert!(mine
            .iter()
            .all(|t| status_state(&t.status).is_some_and(|s| "RSD".contains(s))));
        assert!(mine
            .iter()
            .all(|t| cgroup::parse_proc_cgroup(&t.cgroup).is_some() || t.cgroup.is_empty()));
    }
}
