// SPDX-License-Identifier: GPL-2.0
//! MakeForest: builds the process tree of a [`Plan`] with real processes,
//! each with its saved pid, so that `restart(2)` can restore it.
//!
//! The calling process is the coordinator. Creation is depth first and
//! sequential: a process forks a child with `clone3` and `set_tid` (into
//! the job cgroup for the coordinator's own children; everything else
//! inherits it), then waits on a pipe until the child reports that it and
//! everything it creates are built ("ok", with the zombies of its subtree)
//! or that something failed ("err" and a sentence naming the task and the
//! step). A failure travels up the pipes to the coordinator, which returns
//! it as an error; the caller then kills the whole tree.
//!
//! A forked child is a copy of a single-threaded process: it runs the
//! executor's code on its own steps (a child of it continues in the same
//! loop instead of recursing, so a deep chain needs no deep stack). It
//! first closes every inherited file but its report pipe. Threads are
//! made by an assembly trampoline (`clone3` with `CLONE_THREAD` on a small
//! stack) that touches no libc or Rust state: the thread's only job is the
//! final system call. A task that must join a process group only once the
//! whole tree exists parks after reporting: it waits on a futex in a
//! shared mapping until the coordinator releases it.
//!
//! The end of a live task is pluggable ([`LiveEnd`]): `restart(0, -1, 0)`
//! for real, or `pause()` for tests on kernels without `restart(2)`.

use std::cell::Cell;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ckpt_image::SYS_RESTART;
use nix::errno::Errno;
use nix::libc::{self, c_int, c_long};

use crate::forest::{Action, Creator, Flags, Kind, Pid, Plan};
use crate::sys::{clone3, CloneArgs, CLONE_INTO_CGROUP};

mod parking;
mod thread;

use parking::Parking;

/// What a live task (and each of its threads) does once built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveEnd {
    /// `restart(0, -1, 0)`: wait for the coordinator's `restart(2)` and
    /// become the saved task; exit with 125 if the call fails.
    Restore,
    /// `pause()` forever (tests, on a kernel without `restart(2)`).
    Pause,
}

/// How [`build`] runs.
#[derive(Clone, Copy, Debug)]
pub struct BuildOptions<'a> {
    /// The job cgroup (a directory fd): the coordinator forks into it with
    /// `CLONE_INTO_CGROUP`. `None`: the tree stays in the caller's cgroup.
    pub cgroup: Option<BorrowedFd<'a>>,
    /// The end of live tasks.
    pub live: LiveEnd,
    /// How long the whole build may take.
    pub timeout: Duration,
    /// For a pod: the namespaces (`CLONE_NEW*` flags, `CLONE_NEWPID`
    /// among them) the coordinator creates the root in, which is then
    /// pid 1 of its new pid namespace. 0: none, the root gets its saved
    /// pid here.
    pub pod: u64,
    /// Where each process goes once made: its pid and the `cgroup.procs`
    /// file of its cgroup below the job's, for every process when any is
    /// below the job (a child starts in its parent's cgroup). Empty: all
    /// stay where they are made.
    pub cgroups: &'a [(Pid, std::ffi::CString)],
}

/// A zombie of the built tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zombie {
    /// Its pid in the tree's pid namespace.
    pub pid: Pid,
    /// Its pid in the pid namespace of `/proc` (different inside a new pid
    /// namespace whose `/proc` is the parent's).
    pub proc_pid: i32,
    /// Its wait status.
    pub status: i32,
}

/// The built tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// Pid of the root.
    pub root: Pid,
    /// Pid of the root in the coordinator's pid namespace (not `root` for
    /// a pod's init).
    pub root_here: i32,
    /// Every zombie, checked to be one (state `Z` with its wait status).
    pub zombies: Vec<Zombie>,
}

/// Builds the tree of `plan`: returns once the root has reported that the
/// whole tree is built, every parked task has done its last steps and
/// every zombie is a zombie with its saved status. On error, tasks of the
/// tree may remain: the caller kills them (the job cgroup).
///
/// The calling process must be single-threaded (its children run Rust code
/// after a raw `clone3`), must not ignore `SIGCHLD` (zombies would be
/// reaped: it is reset to the default here), and must have
/// `CAP_CHECKPOINT_RESTORE` in its pid namespace.
pub fn build(plan: &Plan, opts: &BuildOptions<'_>) -> Result<Built> {
    // SAFETY: restores the default action of SIGCHLD (zombies stay until
    // reaped); no handler is involved.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let parking = Parking::new(plan)?;
    let deadline = Instant::now() + opts.timeout;
    let engine = Engine {
        plan,
        opts,
        parking: &parking,
        deadline,
    };
    if opts.pod != 0 && plan.root != 1 {
        bail!(
            "cannot build a pod whose root is pid {}: the init of a pid namespace is pid 1",
            plan.root
        );
    }
    let (reported, root_here) = engine
        .coordinate()
        .context("cannot build the process tree")?;
    let zombies = check_zombies(plan, &reported, deadline)?;
    Ok(Built {
        root: plan.root,
        root_here,
        zombies,
    })
}

/// Where a task reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    /// The coordinator reports to its caller.
    Caller,
    /// The write end of the pipe its creator reads.
    Pipe(RawFd),
    /// After parking: its slot in the shared mapping.
    Slot(usize),
}

/// A child a process forked and has not heard from yet.
struct Kid {
    planned: Pid,
    actual: Pid,
    /// Read end of its report pipe; -1 once read.
    pipe: RawFd,
}

/// The executor's state in one process.
struct Proc {
    /// Position of its task in the plan; `None` for the coordinator.
    index: Option<usize>,
    report: Channel,
    kids: Vec<Kid>,
    /// Zombies of its subtree: pid and pid in `/proc`.
    zombies: Vec<(Pid, i32)>,
}

/// What a step leads to.
enum Flow {
    Next,
    /// In the child of a fork: continue as this process.
    Child(Proc),
}

/// A failed step.
enum Failure {
    /// This process failed.
    Own { text: String, errno: Option<Errno> },
    /// A child reported this.
    Forwarded(String),
}

fn own(text: impl Into<String>) -> Failure {
    Failure::Own {
        text: text.into(),
        errno: None,
    }
}

fn sys(what: &str, errno: Errno) -> Failure {
    Failure::Own {
        text: format!("{what}: {} ({errno:?})", errno.desc()),
        errno: Some(errno),
    }
}

struct Engine<'a> {
    plan: &'a Plan,
    opts: &'a BuildOptions<'a>,
    parking: &'a Parking,
    deadline: Instant,
}

impl Engine<'_> {
    /// The coordinator's steps; the zombies reported, and the root's pid
    /// here.
    fn coordinate(&self) -> Result<(Vec<(Pid, i32)>, i32)> {
        let mut me = Proc {
            index: None,
            report: Channel::Caller,
            kids: Vec::new(),
            zombies: Vec::new(),
        };
        for &action in &self.plan.coordinator {
            match self.step(&mut me, action) {
                Ok(Flow::Next) => {}
                Ok(Flow::Child(child)) => self.child_main(child),
                Err(failure) => {
                    close_pipes(&mut me);
                    return Err(match failure {
                        Failure::Own { text, .. } => anyhow!("the coordinator: {action}: {text}"),
                        Failure::Forwarded(text) => anyhow!("{text}"),
                    });
                }
            }
        }
        let root_here = me
            .kids
            .iter()
            .find(|k| k.planned == self.plan.root)
            .map_or(self.plan.root, |k| k.actual);
        Ok((me.zombies, root_here))
    }

    /// In a child forked by the coordinator: runs it and every descendant
    /// forked from it; never returns.
    fn child_main(&self, child: Proc) -> ! {
        let channel = Cell::new(child.report);
        let end = catch_unwind(AssertUnwindSafe(|| self.task_loop(child, &channel)));
        let (text, errno, step) =
            end.unwrap_or_else(|_| ("the executor panicked".to_owned(), None, 0));
        self.fail(channel.get(), &text, errno, step)
    }

    /// Reports a failure and exits with 125.
    fn fail(&self, channel: Channel, text: &str, errno: Option<Errno>, step: usize) -> ! {
        match channel {
            Channel::Pipe(fd) => {
                // One line, within the pipe's atomic write size.
                let mut line: String = text.replace('\n', " ").chars().take(3000).collect();
                line.insert_str(0, "err ");
                line.push('\n');
                let _ = write_all(fd, line.as_bytes());
            }
            Channel::Slot(i) => self.parking.failed(i, errno.unwrap_or(Errno::EIO), step),
            Channel::Caller => {}
        }
        // SAFETY: leaves at once, without the parent's exit handlers.
        unsafe { libc::_exit(125) }
    }

    /// Runs the steps of a task; a fork's child goes on here as the new
    /// task. Returns only on failure: the message, errno and step index.
    fn task_loop(&self, mut me: Proc, channel: &Cell<Channel>) -> (String, Option<Errno>, usize) {
        'task: loop {
            if let Channel::Pipe(fd) = me.report {
                enter_child(fd);
            }
            channel.set(me.report);
            let Some(task) = me.index.and_then(|i| self.plan.tasks.get(i)) else {
                return ("no such task in the plan".to_owned(), None, 0);
            };
            if let Some((_, procs)) = self.opts.cgroups.iter().find(|c| c.0 == task.pid) {
                if let Err(e) = join_cgroup(procs) {
                    return (
                        format!(
                            "task {}: cannot move into cgroup {}: {}",
                            task.pid,
                            procs.to_string_lossy(),
                            e.desc()
                        ),
                        Some(e),
                        0,
                    );
                }
            }
            for (i, &action) in task.actions.iter().enumerate() {
                match self.step(&mut me, action) {
                    Ok(Flow::Next) => channel.set(me.report),
                    Ok(Flow::Child(child)) => {
                        me = child;
                        continue 'task;
                    }
                    Err(Failure::Own { text, errno }) => {
                        return (format!("task {}: {action}: {text}", task.pid), errno, i)
                    }
                    Err(Failure::Forwarded(text)) => return (text, None, i),
                }
            }
            return (
                format!("task {}: the plan has no last step", task.pid),
                None,
                0,
            );
        }
    }

    fn step(&self, me: &mut Proc, action: Action) -> Result<Flow, Failure> {
        match action {
            Action::Fork {
                pid,
                clone_parent,
                exit_signal,
                spare,
            } => return self.fork(me, pid, clone_parent, exit_signal, spare),
            Action::AwaitBuilt { pid } => self.await_built(me, pid)?,
            Action::Setsid => {
                // SAFETY: setsid() takes no argument.
                Errno::result(unsafe { libc::setsid() }).map_err(|e| sys("setsid", e))?;
            }
            Action::Setpgid { pgid } => {
                let own_pid = me.index.and_then(|i| self.plan.tasks.get(i)).map(|t| t.pid);
                let target = if Some(pgid) == own_pid { 0 } else { pgid };
                // SAFETY: setpgid() on the caller, plain integers.
                Errno::result(unsafe { libc::setpgid(0, target) })
                    .map_err(|e| sys("setpgid", e))?;
            }
            Action::Thread { tid } => spawn_thread(tid, self.opts.live)?,
            Action::Reap { pid } => reap(actual_pid(me, pid))?,
            Action::Park => self.park(me)?,
            Action::Release { pid } => self.release(pid)?,
            Action::Restore => {
                self.report_built(me)?;
                live_end(self.opts.live)
            }
            Action::ExitPlaceholder => {
                self.report_built(me)?;
                // SAFETY: leaves at once, without the parent's exit handlers.
                unsafe { libc::_exit(0) }
            }
            Action::ExitZombie { status, comm } => {
                self.report_built(me)?;
                exit_as_zombie(status, &comm)
            }
        }
        Ok(Flow::Next)
    }

    /// Forks the child `pid`; spare placeholders take the next free pid.
    fn fork(
        &self,
        me: &mut Proc,
        pid: Pid,
        clone_parent: bool,
        exit_signal: i32,
        spare: bool,
    ) -> Result<Flow, Failure> {
        let index = self
            .plan
            .position(pid)
            .ok_or_else(|| own(format!("no task {pid} in the plan")))?;
        let (read, write) = pipe()?;
        let cgroup = if me.index.is_none() {
            self.opts.cgroup.map(|fd| fd.as_raw_fd())
        } else {
            None
        };
        // The child's parent: this process, or with CLONE_PARENT ours.
        // SAFETY: plain getters.
        let parent = unsafe {
            if clone_parent {
                libc::getppid()
            } else {
                libc::getpid()
            }
        };
        let orphan_to_be = self.parent_is_placeholder(me, clone_parent);
        // A pod's init, forked by the coordinator, is pid 1 of the new pid
        // namespace it is created in: no pid to ask for.
        let pod = if me.index.is_none() { self.opts.pod } else { 0 };
        let mut candidate = pid;
        loop {
            let set_tid = [candidate];
            let args = CloneArgs {
                flags: if clone_parent {
                    libc::CLONE_PARENT as u64
                } else {
                    0
                } | if cgroup.is_some() {
                    CLONE_INTO_CGROUP
                } else {
                    0
                } | pod,
                // clone3 wants 0 with CLONE_PARENT: the child gets ours.
                exit_signal: if clone_parent { 0 } else { exit_signal as u64 },
                set_tid: if pod == 0 { set_tid.as_ptr() as u64 } else { 0 },
                set_tid_size: if pod == 0 { 1 } else { 0 },
                cgroup: cgroup.map_or(0, |fd| fd as u64),
                ..Default::default()
            };
            let ret = clone3(&args);
            if ret == 0 {
                // A pod's own mount namespace, copied from ours: made
                // private before restart(2) mounts its tmpfs in it (the
                // kernel refuses a mount point that propagates).
                if pod & libc::CLONE_NEWNS as u64 != 0 {
                    // A failure is the kernel's to report: it refuses to
                    // mount where the mount would propagate.
                    let _ = crate::sys::make_mounts_private();
                }
                if !orphan_to_be {
                    // A pod's init sees its parent, outside its namespace,
                    // as pid 0.
                    die_with_parent(if pod == 0 { parent } else { 0 });
                }
                return Ok(Flow::Child(Proc {
                    index: Some(index),
                    report: Channel::Pipe(write),
                    kids: Vec::new(),
                    zombies: Vec::new(),
                }));
            }
            if ret > 0 {
                close(write);
                me.kids.push(Kid {
                    planned: pid,
                    actual: ret as Pid,
                    pipe: read,
                });
                return Ok(Flow::Next);
            }
            let errno = Errno::last();
            if spare && errno == Errno::EEXIST && candidate - pid < SPARE_TRIES {
                candidate += 1;
                continue;
            }
            close(read);
            close(write);
            return Err(fork_failure(candidate, errno));
        }
    }

    /// Whether the parent of a child forked by `me` is a placeholder, which
    /// exits by design once its branch is built (the child is an orphan to
    /// be): `me` itself, or with CLONE_PARENT `me`'s creator.
    fn parent_is_placeholder(&self, me: &Proc, clone_parent: bool) -> bool {
        let Some(mine) = me.index.and_then(|i| self.plan.tasks.get(i)) else {
            // The coordinator.
            return false;
        };
        let parent = if clone_parent {
            match mine.creator {
                Creator::Task(pid) => self.plan.task(pid),
                Creator::Coordinator => None,
            }
        } else {
            Some(mine)
        };
        parent.is_some_and(|t| t.flags.contains(Flags::DEAD))
    }

    /// Waits for the child `pid`'s report.
    fn await_built(&self, me: &mut Proc, pid: Pid) -> Result<(), Failure> {
        let Some(kid) = me.kids.iter_mut().find(|k| k.planned == pid && k.pipe >= 0) else {
            return Err(own(format!("task {pid} was not forked here")));
        };
        let fd = std::mem::replace(&mut kid.pipe, -1);
        let deadline = me.index.is_none().then_some(self.deadline);
        let line = read_line(fd, deadline);
        close(fd);
        let line = line.map_err(|e| match e {
            ReadError::Timeout => own(format!(
                "task {pid} did not report within {} s",
                self.opts.timeout.as_secs()
            )),
            ReadError::Sys(errno) => sys("reading the report", errno),
        })?;
        if let Some(text) = line.strip_prefix("err ") {
            return Err(Failure::Forwarded(text.to_owned()));
        }
        let Some(rest) = line.strip_prefix("ok") else {
            return Err(own(format!(
                "task {pid} ended before it reported that it was built"
            )));
        };
        for entry in rest.split_whitespace() {
            let parsed = entry
                .split_once(':')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
            match parsed {
                Some(z) => me.zombies.push(z),
                None => return Err(own(format!("task {pid} sent a bad report {line:?}"))),
            }
        }
        Ok(())
    }

    /// Reports "ok" with the zombies of the subtree (this task's too).
    fn report_built(&self, me: &mut Proc) -> Result<(), Failure> {
        let task = me.index.and_then(|i| self.plan.tasks.get(i));
        match me.report {
            Channel::Pipe(fd) => {
                let mut text = String::from("ok");
                if let Some(t) = task.filter(|t| matches!(t.kind, Kind::Zombie { .. })) {
                    text.push_str(&format!(" {}:{}", t.pid, proc_pid()));
                }
                for (pid, proc_pid) in &me.zombies {
                    text.push_str(&format!(" {pid}:{proc_pid}"));
                }
                text.push('\n');
                let written = write_all(fd, text.as_bytes());
                close(fd);
                me.report = Channel::Caller;
                written.map_err(|e| sys("reporting built", e))
            }
            Channel::Slot(i) => {
                self.parking.done(i);
                Ok(())
            }
            Channel::Caller => Err(own("the coordinator has nobody to report to")),
        }
    }

    /// Reports built, then waits for the coordinator's release.
    fn park(&self, me: &mut Proc) -> Result<(), Failure> {
        let task = me.index.and_then(|i| self.plan.tasks.get(i));
        let slot = task
            .and_then(|t| self.parking.slot_of(t.pid))
            .ok_or_else(|| own("no parking slot"))?;
        self.report_built(me)?;
        me.report = Channel::Slot(slot);
        self.parking.wait_release(slot);
        Ok(())
    }

    /// Releases the parked task `pid` and waits until it is done.
    fn release(&self, pid: Pid) -> Result<(), Failure> {
        let slot = self
            .parking
            .slot_of(pid)
            .ok_or_else(|| own(format!("task {pid} has no parking slot")))?;
        match self.parking.release(slot, self.deadline) {
            Ok(()) => Ok(()),
            Err(None) => Err(own(format!(
                "task {pid} did not finish within {} s",
                self.opts.timeout.as_secs()
            ))),
            Err(Some((errno, step))) => {
                let action = self
                    .plan
                    .task(pid)
                    .and_then(|t| t.actions.get(step))
                    .map_or_else(|| "a step".to_owned(), |a| a.to_string());
                Err(Failure::Forwarded(format!(
                    "task {pid}: {action}: {} ({errno:?})",
                    errno.desc()
                )))
            }
        }
    }
}

/// How many pids above its suggestion a spare placeholder tries.
const SPARE_TRIES: Pid = 4096;

fn fork_failure(pid: Pid, errno: Errno) -> Failure {
    let text = match errno {
        Errno::EEXIST => {
            format!("pid {pid} is taken: stop the process that has it, or restart with --pidns")
        }
        Errno::EPERM => format!(
            "clone3 with pid {pid}: recreating a process with its pid needs \
             CAP_CHECKPOINT_RESTORE (run as root)"
        ),
        _ => format!("clone3 with pid {pid}: {} ({errno:?})", errno.desc()),
    };
    Failure::Own {
        text,
        errno: Some(errno),
    }
}

fn actual_pid(me: &Proc, planned: Pid) -> Pid {
    me.kids
        .iter()
        .find(|k| k.planned == planned)
        .map_or(planned, |k| k.actual)
}

fn close_pipes(me: &mut Proc) {
    for k in &mut me.kids {
        if k.pipe >= 0 {
            close(std::mem::replace(&mut k.pipe, -1));
        }
    }
}

/// In a new child: keeps only `report` of the inherited files and the
/// default actions of SIGCHLD (so zombies stay) and SIGPIPE.
fn enter_child(report: RawFd) {
    let Ok(report) = u32::try_from(report) else {
        return;
    };
    // SAFETY: closes file descriptors this fresh child inherited and will
    // never use (nothing in it owns them: the Rust objects that do belong
    // to frames it never returns to); plain integers.
    unsafe {
        if report > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, report - 1, 0u32);
        }
        libc::syscall(libc::SYS_close_range, report + 1, u32::MAX, 0u32);
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn pipe() -> Result<(RawFd, RawFd), Failure> {
    let mut fds = [-1 as c_int; 2];
    // SAFETY: pipe2 writes two file descriptors into `fds`.
    Errno::result(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })
        .map_err(|e| sys("pipe2", e))?;
    Ok((fds[0], fds[1]))
}

fn close(fd: RawFd) {
    // SAFETY: closes a descriptor this module opened and owns.
    unsafe { libc::close(fd) };
}

fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: writes from a live buffer of `buf.len()` bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        match Errno::result(n) {
            Ok(n) => buf = buf.get(n as usize..).unwrap_or_default(),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

enum ReadError {
    Timeout,
    Sys(Errno),
}

/// Reads up to a newline or end of file (an empty string: the writer died
/// without a word), waiting at most until `deadline` if given.
fn read_line(fd: RawFd, deadline: Option<Instant>) -> Result<String, ReadError> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = c_int::try_from(left.as_millis()).unwrap_or(c_int::MAX);
            // SAFETY: polls one valid pollfd.
            match Errno::result(unsafe { libc::poll(&mut pfd, 1, ms) }) {
                Ok(0) => return Err(ReadError::Timeout),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(ReadError::Sys(e)),
            }
        }
        // SAFETY: reads into a live buffer of `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match Errno::result(n) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(buf.get(..n as usize).unwrap_or_default());
                if out.contains(&b'\n') {
                    break;
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(ReadError::Sys(e)),
        }
    }
    let line = out.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(String::from_utf8_lossy(line).into_owned())
}

/// Reaps the exited placeholder `pid`.
fn reap(pid: Pid) -> Result<(), Failure> {
    loop {
        let mut status = 0;
        // SAFETY: waits for one child; `status` is a live int.
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        match Errno::result(ret) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(sys(&format!("waitpid({pid})"), e)),
        }
    }
}

/// This process's pid as `/proc` shows it (its pid namespace may differ).
fn proc_pid() -> i32 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse().ok())
        .unwrap_or_else(|| nix::unistd::getpid().as_raw())
}

/// The end of a live task (or of a parked one after its last steps).
fn live_end(live: LiveEnd) -> ! {
    match live {
        LiveEnd::Restore => {
            // A failure was printed by nobody (the coordinator's restart(2)
            // reports it): leave with 125, "restart(2) itself failed".
            let _ = crate::sys_restart_raw(0, -1, 0);
            // SAFETY: leaves at once, without the parent's exit handlers.
            unsafe { libc::_exit(125) }
        }
        LiveEnd::Pause => loop {
            // SAFETY: pause() takes no argument.
            unsafe { libc::pause() };
        },
    }
}

/// Exits with a zombie's wait status (and is never reaped by its parent).
fn exit_as_zombie(status: i32, comm: &[u8; ckpt_image::COMM_LEN]) -> ! {
    // The zombie keeps its name (/proc/PID/comm) as it was saved; the
    // decoder checked that it is NUL-terminated.
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a valid buffer.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr(), 0, 0, 0) };
    let sig = status & 0x7f;
    if sig == 0 {
        // The thread's exit, not the group's: the live threads of a zombie
        // leader go on.
        // SAFETY: exit(2) of the calling thread; does not return.
        unsafe { libc::syscall(libc::SYS_exit, c_long::from((status >> 8) & 0xff)) };
    } else {
        // SAFETY: no core dump (dumpable 0), the signal's default action,
        // unblocked, sent to this process: it dies of it.
        unsafe {
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::syscall(
                libc::SYS_kill,
                libc::syscall(libc::SYS_getpid),
                c_long::from(sig),
            );
        }
    }
    // SAFETY: leaves at once, without the parent's exit handlers.
    unsafe { libc::_exit(125) }
}

/// While the tree is built, a task dies with its parent (SIGKILL), so that
/// a `ckpt restart` killed before it calls restart(2) takes the half-built
/// tree with it, each task its children; restart(2) then sets the saved
/// parent-death signal. Exits at once if the parent is already gone.
fn die_with_parent(parent: Pid) {
    // SAFETY: prctl and getppid with plain integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != parent {
            libc::_exit(125);
        }
    }
}

/// Creates the thread `tid` of the calling process; it only makes the
/// final system call of `live`.
fn spawn_thread(tid: Pid, live: LiveEnd) -> Result<(), Failure> {
    let call = match live {
        LiveEnd::Restore => [SYS_RESTART, 0, -1, 0],
        LiveEnd::Pause => [libc::SYS_pause, 0, 0, 0],
    };
    thread::spawn(tid, call).map_err(|errno| match errno {
        Errno::EEXIST => own(format!("thread id {tid} is taken")),
        _ => sys(&format!("clone3 of thread {tid}"), errno),
    })
}

/// Waits until every zombie is one, with its wait status, as `/proc` says.
fn check_zombies(plan: &Plan, reported: &[(Pid, i32)], deadline: Instant) -> Result<Vec<Zombie>> {
    let by_pid: HashMap<Pid, i32> = reported.iter().copied().collect();
    let mut out = Vec::new();
    for (pid, status) in plan.zombies() {
        let Some(&proc_pid) = by_pid.get(&pid) else {
            bail!("zombie {pid} was built but not reported");
        };
        loop {
            let (state, code) = proc_state(proc_pid)
                .with_context(|| format!("cannot read the state of zombie {pid}"))?;
            // The core dump bit (0x80) cannot be recreated: compare the rest.
            if state == 'Z' && code & !0x80 == status & !0x80 {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "task {pid} should be a zombie with wait status {status:#x}, but /proc says \
                     state {state} with status {code:#x}"
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        out.push(Zombie {
            pid,
            proc_pid,
            status,
        });
    }
    Ok(out)
}

/// State letter and exit code (field 52) of `/proc/PID/stat`.
fn proc_state(pid: i32) -> Result<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let state = fields.first().and_then(|s| s.chars().next());
    // Fields are numbered from 1; the list starts at field 3.
    let code = fields.get(52 - 3).and_then(|c| c.parse().ok());
    match (state, code) {
        (Some(s), Some(c)) => Ok((s, c)),
        _ => bail!("unexpected /proc/{pid}/stat: {text:?}"),
    }
}

/// Moves the calling process (all its threads) into the cgroup whose
/// `cgroup.procs` file is `procs`, as writing 0 to it does.
fn join_cgroup(procs: &std::ffi::CStr) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: writes one byte from a static buffer to the open file.
    let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
    let e = Errno::last();
    close(fd);
    if n != 1 {
        return Err(e);
    }
    Ok(())
}
