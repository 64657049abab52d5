// SPDX-License-Identifier: GPL-2.0
//! MakeForest with real processes: trees planned from hand-written forest
//! tables are built, each in a fresh pid namespace, with live tasks that
//! pause instead of calling restart(2) (this host has no restart(2)); then
//! every task is checked in /proc against its row: pid, parent, session,
//! process group, thread group, exit signal, and state (zombies with their
//! wait status).
//!
//! Each test forks a helper that enters a new pid namespace and forks its
//! init (pid 1 there), which runs the builder as the coordinator: so every
//! pid of the rows (>= 2) is free, the root's parent and the orphans'
//! reaper are pid 1, as in the rows. Nothing is mounted: /proc is the
//! host's, and the checks map pids through the `NSpid` lines of
//! /proc/PID/status. Killing the init ends everything.
//!
//! Needs root (clone3 with set_tid and unshare need CAP_SYS_ADMIN and
//! CAP_CHECKPOINT_RESTORE): the tests fail, not skip, without it.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ckpt::forest::rows::{root, row, thread, zombie};
use ckpt::forest::{self, Plan};
use ckpt::mktree::{self, BuildOptions, LiveEnd};
use ckpt_image::{TaskEntry, TASK_THREAD, TASK_ZOMBIE};
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

/// One namespace at a time: forking from the test harness's threads is
/// kept to one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A pid namespace whose init built a tree; killed on drop.
struct Namespace {
    /// The init, as the host sees it.
    init: i32,
    /// The helper that entered the namespace (our child).
    helper: Pid,
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Killing the init kills every process of its namespace.
        let _ = kill(Pid::from_raw(self.init), Signal::SIGKILL);
        let _ = waitpid(self.helper, None);
    }
}

/// Plans `rows` and builds the tree in a fresh pid namespace. `before`
/// runs in the init first (to take a pid, say). Returns the namespace and
/// the builder's outcome (`Ok` or the error's text).
fn build(rows: &[TaskEntry], before: fn()) -> (Plan, Namespace, Result<(), String>) {
    assert!(
        // SAFETY: geteuid() takes no argument.
        unsafe { libc::geteuid() } == 0,
        "these tests build process trees with chosen pids in a new pid namespace: run them as \
         root (cargo test as root, or sudo)"
    );
    let plan = forest::plan(rows).unwrap_or_else(|e| panic!("no plan: {e:#}"));
    let (read, write) = nix::unistd::pipe().expect("pipe");
    // SAFETY: the child only makes system calls and runs the builder in a
    // grandchild, then leaves with _exit; see `helper`.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => helper(&plan, write.as_raw_fd(), before),
        ForkResult::Parent { child } => {
            drop(write);
            let mut ns = Namespace {
                init: 0,
                helper: child,
            };
            let lines = read_lines(&read, 2, Duration::from_secs(60));
            let init = lines.first().and_then(|l| l.strip_prefix("init "));
            ns.init = init
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("the helper did not start the init: {lines:?}"));
            let outcome = match lines.get(1).map(String::as_str) {
                Some("ok") => Ok(()),
                Some(l) => Err(l.strip_prefix("err ").unwrap_or(l).to_owned()),
                None => Err("the init ended without a word".to_owned()),
            };
            (plan, ns, outcome)
        }
    }
}

/// In the forked helper: a new pid namespace, its init builds the tree.
fn helper(plan: &Plan, report: RawFd, before: fn()) -> ! {
    // SAFETY: unshare() with a flag: the next child is in a new namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
        let e = nix::errno::Errno::last();
        say(report, &format!("init 0\nerr unshare(CLONE_NEWPID): {e}"));
        // SAFETY: leaves the forked child at once.
        unsafe { libc::_exit(1) }
    }
    // SAFETY: this child of a fork is single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => init(plan, report, before),
        Ok(ForkResult::Parent { child }) => {
            say(report, &format!("init {child}"));
            let _ = waitpid(child, None);
        }
        Err(e) => say(report, &format!("init 0\nerr fork: {e}")),
    }
    // SAFETY: leaves the forked child at once.
    unsafe { libc::_exit(0) }
}

/// Pid 1 of the new namespace: the coordinator. Reports, then waits to be
/// killed (without reaping: zombies must stay).
fn init(plan: &Plan, report: RawFd, before: fn()) -> ! {
    before();
    let opts = BuildOptions {
        cgroup: None,
        live: LiveEnd::Pause,
        timeout: Duration::from_secs(30),
        pod: 0,
        cgroups: &[],
    };
    match mktree::build(plan, &opts) {
        Ok(built) if built.root == plan.root => say(report, "ok"),
        Ok(_) => say(report, "err the builder returned another root"),
        Err(e) => say(report, &format!("err {e:#}")),
    }
    loop {
        // SAFETY: pause() takes no argument.
        unsafe { libc::pause() };
    }
}

fn say(fd: RawFd, text: &str) {
    let line = format!("{text}\n");
    // SAFETY: writes from a live buffer; a short write only cuts the text.
    unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
}

fn read_lines(fd: &OwnedFd, want: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.iter().filter(|&&b| b == b'\n').count() < want && Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one valid pollfd for at most 100 ms.
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        // SAFETY: reads into a live buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if n <= 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n as usize]);
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A task of the namespace as /proc shows it, ids in the namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    pid: i32,
    tgid: i32,
    ppid: i32,
    sid: i32,
    pgid: i32,
    state: char,
    exit_signal: i32,
    exit_code: i32,
}

/// Raw facts of one task from the host's /proc.
struct HostTask {
    dir: PathBuf,
    status: HashMap<String, String>,
    in_ns: Option<bool>,
}

fn host_tasks(ns_link: &std::path::Path) -> Vec<HostTask> {
    let mut out = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        if !p
            .file_name()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            continue;
        }
        let Ok(tasks) = fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let dir = t.path();
            let Ok(text) = fs::read_to_string(dir.join("status")) else {
                continue;
            };
            let status: HashMap<String, String> = text
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
                .collect();
            let in_ns = fs::read_link(dir.join("ns/pid")).ok().map(|l| l == ns_link);
            out.push(HostTask { dir, status, in_ns });
        }
    }
    out
}

/// The ids of a `NS…` line in the namespace (the second, nested level).
fn nested(status: &HashMap<String, String>, key: &str) -> Option<i32> {
    let ids: Vec<i32> = status
        .get(key)?
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (ids.len() == 2).then(|| ids[1])
}

fn host_id(status: &HashMap<String, String>, key: &str) -> Option<i32> {
    status.get(key)?.split_whitespace().next()?.parse().ok()
}

/// Every task of the namespace of `init`, by pid in the namespace.
fn seen(init: i32) -> HashMap<i32, Seen> {
    let ns_link = fs::read_link(format!("/proc/{init}/ns/pid")).expect("the init's pid namespace");
    let all = host_tasks(&ns_link);
    // Host tgid -> namespace pid, for the processes of the namespace (a
    // zombie's own link is gone: it is in if its parent is).
    let mut host_to_ns: HashMap<i32, i32> = HashMap::new();
    for pass in 0..2 {
        for t in &all {
            let (Some(host), Some(ns_pid)) =
                (host_id(&t.status, "Pid"), nested(&t.status, "NSpid"))
            else {
                continue;
            };
            let parent_in =
                host_id(&t.status, "PPid").is_some_and(|pp| host_to_ns.contains_key(&pp));
            let tgid_in = host_id(&t.status, "Tgid").is_some_and(|g| host_to_ns.contains_key(&g));
            if t.in_ns == Some(true) || (pass == 1 && (parent_in || tgid_in)) {
                host_to_ns.insert(host, ns_pid);
            }
        }
    }
    let mut out = HashMap::new();
    for t in &all {
        let Some(host) = host_id(&t.status, "Pid") else {
            continue;
        };
        let Some(&pid) = host_to_ns.get(&host) else {
            continue;
        };
        let stat = fs::read_to_string(t.dir.join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|f| f.parse().ok())
                .unwrap_or(-999)
        };
        let ppid = host_id(&t.status, "PPid").unwrap_or(-1);
        out.insert(
            pid,
            Seen {
                pid,
                tgid: nested(&t.status, "NStgid").unwrap_or(-1),
                ppid: host_to_ns.get(&ppid).copied().unwrap_or(0),
                sid: nested(&t.status, "NSsid").unwrap_or(-1),
                pgid: nested(&t.status, "NSpgid").unwrap_or(-1),
                state: fields.first().and_then(|s| s.chars().next()).unwrap_or('?'),
                exit_signal: field(38),
                exit_code: field(52),
            },
        );
    }
    out
}

/// Builds `rows` and checks every task against its row.
fn check(rows: &[TaskEntry]) -> Plan {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (plan, ns, outcome) = build(rows, || {});
    if let Err(e) = outcome {
        panic!("building failed: {e}\nplan:\n{plan}");
    }
    // Live tasks are on their way into pause(): give them a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        match compare(rows, &seen(ns.init)) {
            Ok(()) => return plan,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{last}\nplan:\n{plan}");
}

fn compare(rows: &[TaskEntry], seen: &HashMap<i32, Seen>) -> Result<(), String> {
    for r in rows {
        let Some(s) = seen.get(&r.pid) else {
            return Err(format!("task {} is not in the namespace: {seen:?}", r.pid));
        };
        let thread = r.flags & TASK_THREAD != 0;
        let want = Seen {
            pid: r.pid,
            tgid: r.tgid,
            ppid: r.ppid,
            sid: r.sid,
            pgid: r.pgid,
            state: if r.flags & TASK_ZOMBIE != 0 { 'Z' } else { 'S' },
            exit_signal: if thread { s.exit_signal } else { r.exit_signal },
            exit_code: if r.flags & TASK_ZOMBIE != 0 {
                r.exit_code
            } else {
                s.exit_code
            },
        };
        if *s != want {
            return Err(format!(
                "task {}: /proc shows {s:?}, the row says {want:?}",
                r.pid
            ));
        }
    }
    let expected: HashSet<i32> = rows.iter().map(|r| r.pid).chain([1]).collect();
    let extra: Vec<&i32> = seen.keys().filter(|p| !expected.contains(p)).collect();
    if !extra.is_empty() {
        return Err(format!(
            "tasks {extra:?} are left over (placeholders?): {seen:?}"
        ));
    }
    Ok(())
}

#[test]
fn parent_with_children() {
    check(&[
        root(2, 2, 2),
        row(3, 2, 2, 2),
        row(4, 2, 2, 2),
        row(5, 2, 2, 2),
    ]);
}

/// A shell with a pipeline job (group 3: 3, its child 4 and 5), a
/// background job 6 with its child 7, a second session 9 with a group 10.
#[test]
fn sessions_and_groups() {
    let plan = check(&[
        root(2, 2, 2),
        row(3, 2, 2, 3),
        row(5, 2, 2, 3),
        row(6, 2, 2, 6),
        row(8, 2, 2, 2),
        row(9, 2, 9, 9),
        row(4, 3, 2, 3),
        row(7, 6, 2, 6),
        row(10, 9, 9, 10),
        // Forked by 9 before its setsid, and by 9 with CLONE_PARENT after.
        row(11, 9, 2, 2),
        row(12, 2, 9, 9),
    ]);
    let flags = |pid| plan.task(pid).map(|t| t.flags);
    assert_eq!(flags(11), Some(forest::Flags::SESSION));
    assert_eq!(flags(12), Some(forest::Flags::SIBLING));
}

/// Group 20's leader is dead: 3 (a child of 2) and the orphan 5 are in it.
#[test]
fn ghost_process_group() {
    check(&[
        root(2, 2, 2),
        row(3, 2, 2, 20),
        row(4, 2, 2, 20),
        row(5, 1, 2, 20),
        row(6, 3, 2, 20),
    ]);
}

/// 3's parent exited (3 and its child 4 remain); session 10's leader
/// exited: its group 11 is orphaned, 13 stays in the leader's group.
#[test]
fn orphans_and_a_ghost_session() {
    check(&[
        root(2, 2, 2),
        row(3, 1, 2, 2),
        row(11, 1, 10, 11),
        row(13, 1, 10, 10),
        row(4, 3, 2, 2),
        row(12, 11, 10, 11),
    ]);
}

#[test]
fn zombies() {
    let z = zombie(6, 2, 2, 2, 0);
    check(&[
        root(2, 2, 2),
        zombie(3, 2, 2, 2, 7 << 8),
        zombie(4, 2, 2, 2, libc::SIGTERM),
        row(5, 2, 2, 2),
        z,
        zombie(8, 5, 2, 2, libc::SIGKILL),
        thread(7, &z),
    ]);
}

#[test]
fn threads() {
    let r = root(2, 2, 2);
    let c = row(5, 2, 2, 5);
    check(&[
        r,
        thread(3, &r),
        thread(4, &r),
        c,
        thread(6, &c),
        thread(7, &c),
    ]);
}

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
    check(&rows);
}

/// 3, an orphan, leads group 3 and moved to group 2; its other member 4
/// is created later: 3 joins group 2 once the tree is built.
#[test]
fn parked_until_the_tree_is_built() {
    let plan = check(&[root(2, 2, 2), row(3, 1, 2, 2), row(4, 2, 2, 3)]);
    assert!(plan
        .coordinator
        .contains(&forest::Action::Release { pid: 3 }));
}

/// 200 processes: sessions, own groups, joined groups, orphans, zombies.
#[test]
fn two_hundred_processes() {
    let rows = random_tree(200, 0x5eed);
    assert_eq!(rows.len(), 200);
    check(&rows);
}

/// A pid of the tree is taken: the builder reports which task failed to
/// fork which pid, and why.
#[test]
fn taken_pid_is_reported() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rows = [root(3, 3, 3), row(2, 3, 3, 3)];
    let (_plan, _ns, outcome) = build(&rows, || {
        // The first child of the new namespace's init gets pid 2.
        // SAFETY: the init is single-threaded; the child only pauses.
        if let Ok(ForkResult::Child) = unsafe { fork() } {
            loop {
                // SAFETY: pause() takes no argument.
                unsafe { libc::pause() };
            }
        }
    });
    let err = outcome.expect_err("pid 2 is taken");
    assert!(err.contains("task 3: fork 2"), "{err}");
    assert!(err.contains("pid 2 is taken"), "{err}");
}

/// A tree of `n` processes made by a deterministic generator.
fn random_tree(n: usize, seed: u64) -> Vec<TaskEntry> {
    let mut x = seed;
    let mut next = move |m: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % m as u64) as usize
    };
    let mut rows = vec![root(2, 2, 2)];
    for pid in 3..(n as i32 + 2) {
        let live: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].flags & TASK_ZOMBIE == 0)
            .collect();
        let parent = rows[live[next(live.len())]];
        let mut r = row(pid, parent.pid, parent.sid, parent.pgid);
        match next(12) {
            0 => (r.sid, r.pgid) = (pid, pid),
            1 => r.pgid = pid,
            2 => {
                let groups: Vec<i32> = rows
                    .iter()
                    .filter(|q| q.sid == parent.sid && q.pgid == q.pid)
                    .map(|q| q.pid)
                    .collect();
                r.pgid = groups[next(groups.len())];
            }
            3 => r.ppid = 1,
            4 if pid > 20 => {
                r.flags = TASK_ZOMBIE;
                r.exit_code = 1 << 8;
            }
            _ => {}
        }
        rows.push(r);
    }
    // A zombie has no children: they would have been reparented.
    let zombies: HashSet<i32> = rows
        .iter()
        .filter(|r| r.flags & TASK_ZOMBIE != 0)
        .map(|r| r.pid)
        .collect();
    for r in &mut rows {
        if zombies.contains(&r.ppid) {
            r.ppid = 1;
        }
        if r.ppid == 1 && r.flags & TASK_ZOMBIE != 0 {
            // Init reaps an orphaned zombie: keep it alive instead.
            r.flags = 0;
            r.exit_code = 0;
        }
    }
    rows
}
