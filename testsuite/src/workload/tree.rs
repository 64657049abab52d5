//! Process trees for the tree restart scenarios, each checking itself
//! after the restart.
//!
//! Every workload builds its tree, writes its ready file once every task
//! is where it must be when the tree is frozen (blocked in a system call,
//! nothing left to do), and waits. After the restart the scenario creates
//! the go file: the root, which polls for it, opens the *gate*, a pipe
//! every other process blocks reading and whose only write end the root
//! holds, so that all of them see end of file at once. Then every process
//! checks itself against what it saw before the checkpoint (its pid,
//! parent, process group and session, kept in its memory, plus what its
//! workload adds), reaps the children it had before the checkpoint and
//! exits with a mask of what was wrong in it or below it (the `BAD_*`
//! bits; details go to stderr, the job's log). The root writes one verdict
//! for the whole tree and exits 0 when it passed.
//!
//! The root's parent is not checked here: it is the scenario before the
//! checkpoint and the `ckpt restart` process after the restart, and the
//! scenario checks that itself.

use super::{go_and_result, lcg, name, ready, verdict};
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::cell::Cell;
use std::os::fd::RawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// The process's pid is not the saved one.
const BAD_PID: i32 = 1;
/// Its parent is not the saved one.
const BAD_PPID: i32 = 2;
/// Its process group is not the saved one.
const BAD_PGID: i32 = 4;
/// Its session is not the saved one.
const BAD_SID: i32 = 8;
/// A child it had could not be reaped as such, or did not exit.
const BAD_CHILD: i32 = 16;
/// It has a child it did not have before the checkpoint.
const EXTRA_CHILD: i32 = 32;
/// The workload's own check failed (the details are on stderr).
const BAD_OWN: i32 = 64;
/// A child was stopped by a stop signal (`orphan_pgrp`: its group should
/// be orphaned, where the kernel discards such signals).
const CHILD_STOPPED: i32 = 128;

/// What the bits of a mask mean, for the verdict.
fn describe(mask: i32) -> Vec<String> {
    [
        (BAD_PID, "a pid"),
        (BAD_PPID, "a parent"),
        (BAD_PGID, "a process group"),
        (BAD_SID, "a session"),
        (BAD_CHILD, "a child not reaped as such"),
        (EXTRA_CHILD, "a child that was not there"),
        (BAD_OWN, "a workload check (see the log)"),
        (CHILD_STOPPED, "a process stopped by SIGTSTP"),
    ]
    .iter()
    .filter(|(bit, _)| mask & bit != 0)
    .map(|(_, what)| format!("wrong: {what}"))
    .collect()
}

/// Writes a line about what is wrong to stderr (the job's log).
fn complain(what: &str) {
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
    eprintln!("FAIL {} (pid {}): {what}", comm.trim(), std::process::id());
}

/// A process's ids as it saw them before the checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ids {
    pid: i32,
    ppid: i32,
    pgid: i32,
    sid: i32,
}

impl Ids {
    fn now() -> Self {
        // SAFETY: plain getters of the calling process.
        unsafe {
            Self {
                pid: libc::getpid(),
                ppid: libc::getppid(),
                pgid: libc::getpgid(0),
                sid: libc::getsid(0),
            }
        }
    }

    /// The bits of what differs now; the parent only if `parent`.
    fn differ(&self, parent: bool) -> i32 {
        let now = Self::now();
        let mut bad = 0;
        for (bit, was, is) in [
            (BAD_PID, self.pid, now.pid),
            (
                BAD_PPID,
                if parent { self.ppid } else { now.ppid },
                now.ppid,
            ),
            (BAD_PGID, self.pgid, now.pgid),
            (BAD_SID, self.sid, now.sid),
        ] {
            if was != is {
                bad |= bit;
            }
        }
        if bad != 0 {
            complain(&format!("ids {self:?} before, {now:?} now"));
        }
        bad
    }

    /// What differs now, parent included (every process but the root).
    fn check(&self) -> i32 {
        self.differ(true)
    }
}

/// `pipe(2)` without flags: `[read end, write end]`.
fn pipe_fds() -> Result<[RawFd; 2]> {
    let mut p = [0; 2];
    // SAFETY: pipe(2) writes two descriptors into `p`.
    if unsafe { libc::pipe(p.as_mut_ptr()) } != 0 {
        bail!("pipe: {}", Errno::last());
    }
    Ok(p)
}

/// Closes `fd` once: the cell holds -1 afterwards (in this process; a
/// child forked later inherits the -1, so it never closes a number that
/// was reused).
fn close_once(fd: &Cell<RawFd>) {
    let f = fd.replace(-1);
    if f >= 0 {
        // SAFETY: closes a descriptor this process owns and forgets it.
        unsafe { libc::close(f) };
    }
}

/// `read(2)` into `buf`, again on EINTR: `Ok(0)` at end of file.
fn read_some(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: reads into a valid buffer of `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// Writes all of `data` to `fd`, again after EINTR or a short write.
fn write_all(fd: RawFd, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        // SAFETY: writes from a valid buffer of `data.len()` bytes.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(e),
            }
        }
        data = data.get(n as usize..).unwrap_or(&[]);
    }
    Ok(())
}

/// The gate (see the module doc).
struct Gate {
    r: RawFd,
    w: Cell<RawFd>,
}

impl Gate {
    fn new() -> Result<Self> {
        let [r, w] = pipe_fds().context("creating the gate")?;
        Ok(Self { r, w: Cell::new(w) })
    }

    /// In a forked process: the write end is the root's alone.
    fn drop_write_end(&self) {
        close_once(&self.w);
    }

    /// The root lets everyone go.
    fn open(&self) {
        close_once(&self.w);
    }

    /// Blocks until the root opens the gate.
    fn wait(&self) -> Result<(), Errno> {
        let mut b = [0u8; 1];
        while read_some(self.r, &mut b)? != 0 {}
        Ok(())
    }
}

/// Tells the root that a process is set up: one byte each on a pipe.
struct Notify {
    r: Cell<RawFd>,
    w: Cell<RawFd>,
}

impl Notify {
    fn new() -> Result<Self> {
        let [r, w] = pipe_fds().context("creating the notification pipe")?;
        Ok(Self {
            r: Cell::new(r),
            w: Cell::new(w),
        })
    }

    /// Reports this process set up. The write end stays open: closing it
    /// after the report would change the process's files after the root
    /// saw every report and declared the tree ready, so a checkpoint could
    /// catch it either way. (So every member keeps the write end of a
    /// pipe whose read end is closed, which the restart must keep too.)
    fn notify(&self) {
        let _ = write_all(self.w.get(), b"r");
    }

    /// The root: closes its own write end, waits for `n` reports (a member
    /// that dies without reporting leaves the root waiting until the
    /// scenario's time-out names it) and closes the pipe.
    fn wait(&self, n: usize) -> Result<()> {
        close_once(&self.w);
        let mut got = 0;
        let mut buf = [0u8; 256];
        while got < n {
            match read_some(self.r.get(), &mut buf) {
                Ok(0) => bail!("only {got} of {n} processes reported that they were set up"),
                Ok(k) => got += k,
                Err(e) => bail!("reading reports: {e}"),
            }
        }
        close_once(&self.r);
        Ok(())
    }
}

/// Forks a process of the tree named `comm`: it drops the gate's write end
/// and the notification pipe's read end, runs `body` and exits with the
/// mask it returns (a panic counts as [`BAD_OWN`]).
fn fork_member(comm: &str, gate: &Gate, note: &Notify, body: impl FnOnce() -> i32) -> Result<i32> {
    // SAFETY: the tree workloads are single-threaded when they fork, and
    // the child never returns into the caller's frames (it exits below).
    match unsafe { fork() }.with_context(|| format!("forking {comm}"))? {
        ForkResult::Parent { child } => Ok(child.as_raw()),
        ForkResult::Child => {
            become_member(comm, gate, note);
            exit_with(body)
        }
    }
}

/// In a new process of the tree with a descriptor table of its own: names
/// it `comm`, drops the gate's write end and the notification pipe's read
/// end.
fn become_member(comm: &str, gate: &Gate, note: &Notify) {
    name(comm);
    gate.drop_write_end();
    close_once(&note.r);
}

/// Runs `body` and exits with the mask it returns (a panic counts as
/// [`BAD_OWN`]).
fn exit_with(body: impl FnOnce() -> i32) -> ! {
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(BAD_OWN);
    // SAFETY: leave at once, without the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

/// Forks in a member: a failure is complained about and counted.
fn fork_or_complain(
    comm: &str,
    gate: &Gate,
    note: &Notify,
    body: impl FnOnce() -> i32,
) -> (Option<i32>, i32) {
    match fork_member(comm, gate, note, body) {
        Ok(pid) => (Some(pid), 0),
        Err(e) => {
            complain(&format!("{e:#}"));
            (None, BAD_OWN)
        }
    }
}

/// Reaps the children `kids` it had before the checkpoint, each as
/// exited with its mask, which it adds to its own; a child stopped by a
/// signal is reported and continued. Then no other child may be left.
fn reap(kids: &[i32]) -> i32 {
    let mut code = 0;
    for &k in kids {
        loop {
            match waitpid(Pid::from_raw(k), Some(WaitPidFlag::WUNTRACED)) {
                Ok(WaitStatus::Exited(_, c)) => {
                    code |= c;
                    break;
                }
                Ok(WaitStatus::Stopped(_, sig)) => {
                    complain(&format!("child {k} stopped by {sig:?}"));
                    code |= CHILD_STOPPED;
                    let _ = kill(Pid::from_raw(k), Signal::SIGCONT);
                }
                Err(Errno::EINTR) => {}
                other => {
                    complain(&format!("child {k}: {other:?}"));
                    code |= BAD_CHILD;
                    break;
                }
            }
        }
    }
    match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        Err(Errno::ECHILD) => {}
        other => {
            complain(&format!("a child that was not there: {other:?}"));
            code |= EXTRA_CHILD;
        }
    }
    code
}

/// The usual life of a process of the tree once its children are forked:
/// note its ids, report, wait at the gate, then check its ids and reap.
fn member(gate: &Gate, note: &Notify, kids: &[i32]) -> i32 {
    let ids = Ids::now();
    note.notify();
    if let Err(e) = gate.wait() {
        complain(&format!("waiting at the gate: {e}"));
        return BAD_OWN;
    }
    ids.check() | reap(kids)
}

/// Sleeps until `path` exists.
fn wait_for_file(path: &Path) {
    while !path.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the root does besides the usual: problems found before the gate
/// opens (the others still waiting), after it opened and after every
/// child was reaped.
struct RootChecks<'a> {
    before_gate: Box<dyn FnOnce() -> Vec<String> + 'a>,
    after_gate: Box<dyn FnOnce() -> Vec<String> + 'a>,
    after_reap: Box<dyn FnOnce() -> Vec<String> + 'a>,
}

impl Default for RootChecks<'_> {
    fn default() -> Self {
        Self {
            before_gate: Box::new(Vec::new),
            after_gate: Box::new(Vec::new),
            after_reap: Box::new(Vec::new),
        }
    }
}

/// The root once its tree is ready: waits for the go file, opens the gate,
/// checks itself (not its parent), reaps its children and writes the
/// verdict: `PASS what` or `FAIL` and everything that was wrong.
fn root_finish(
    ready_path: &Path,
    ids: Ids,
    gate: &Gate,
    kids: &[i32],
    checks: RootChecks<'_>,
    what: &str,
) -> ! {
    let (go, result) = go_and_result(ready_path);
    wait_for_file(&go);
    let mut bad = (checks.before_gate)();
    gate.open();
    bad.extend((checks.after_gate)());
    let code = ids.differ(false) | reap(kids);
    bad.extend(describe(code));
    bad.extend((checks.after_reap)());
    let ok = bad.is_empty();
    verdict(
        &result,
        ok,
        if ok {
            what.to_string()
        } else {
            format!("{what}: {}", bad.join("; "))
        },
    )
}

/// Waits until every task `(pid, tid)` of `tasks` is asleep in system call
/// `nr` (as /proc/PID/task/TID/syscall shows it), five looks in a row.
fn wait_blocked_in(tasks: &[(i32, i32)], nr: &str) -> Result<()> {
    let start = Instant::now();
    let mut calm = 0;
    while calm < 5 {
        if start.elapsed() > Duration::from_secs(20) {
            bail!("tasks {tasks:?} not all blocked in system call {nr}");
        }
        std::thread::sleep(Duration::from_millis(10));
        let all = tasks.iter().all(|(pid, tid)| {
            let base = format!("/proc/{pid}/task/{tid}");
            let sc = std::fs::read_to_string(format!("{base}/syscall")).unwrap_or_default();
            let st = std::fs::read_to_string(format!("{base}/stat")).unwrap_or_default();
            sc.split_whitespace().next() == Some(nr)
                && st
                    .rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next())
                    == Some("S")
        });
        calm = if all { calm + 1 } else { 0 };
    }
    Ok(())
}

/// Length of the stream through the pipeline.
const STREAM_LEN: usize = 4 << 20;
/// Size of the producer's writes and of everyone's reads.
const STREAM_CHUNK: usize = 16 << 10;
/// Where the consumer stops reading until the gate opens, so that both
/// pipes fill up and the producer and the filter block writing.
const CONSUMER_PAUSE: usize = 1 << 20;
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// The stream's bytes from `offset` on.
fn stream_fill(offset: usize, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (lcg((offset + i) as u64) >> 32) as u8;
    }
}

/// What the filter does to each byte.
fn filter_byte(b: u8) -> u8 {
    b.rotate_left(3) ^ 0xa5
}

fn fnv(h: u64, data: &[u8]) -> u64 {
    data.iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The checksum of the whole filtered stream, computed without pipes.
fn expected_checksum() -> u64 {
    let mut buf = vec![0u8; STREAM_CHUNK];
    let (mut h, mut off) = (FNV_START, 0);
    while off < STREAM_LEN {
        let n = STREAM_CHUNK.min(STREAM_LEN - off);
        let chunk = &mut buf[..n];
        stream_fill(off, chunk);
        chunk.iter_mut().for_each(|b| *b = filter_byte(*b));
        h = fnv(h, chunk);
        off += n;
    }
    h
}

/// Makes `from` descriptor `to` and closes every descriptor in `close`.
fn rewire(moves: &[(RawFd, RawFd)], close: &[RawFd]) -> Result<(), Errno> {
    for &(from, to) in moves {
        // SAFETY: dup2 of descriptors this process owns.
        if unsafe { libc::dup2(from, to) } < 0 {
            return Err(Errno::last());
        }
    }
    for &fd in close {
        // SAFETY: closes descriptors this process owns and no longer uses.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// `producer | filter | consumer`, forked by a shell-like root
/// (`pipeline`) and joined by two pipes on their stdin and stdout. The
/// producer writes a deterministic 4 MiB stream, the filter transforms
/// every byte, the consumer hashes what arrives. The consumer stops after
/// 1 MiB until the gate opens, so that at the checkpoint both pipes are
/// full and the producer and the filter are blocked writing, with bytes in
/// flight. After the restart the stream completes: each process checks
/// its byte count, and the consumer its checksum against one computed
/// without pipes.
pub(super) fn pipeline(ready_path: &Path) -> Result<()> {
    name("pipeline");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let [ar, aw] = pipe_fds()?;
    let [br, bw] = pipe_fds()?;
    let all = [ar, aw, br, bw];
    let producer = fork_member("producer", &gate, &note, || {
        close_once(&note.w);
        let ids = Ids::now();
        if let Err(e) = rewire(&[(aw, 1)], &all) {
            complain(&format!("wiring stdout: {e}"));
            return BAD_OWN;
        }
        let mut buf = vec![0u8; STREAM_CHUNK];
        let (mut off, mut code) = (0, 0);
        while off < STREAM_LEN {
            let n = STREAM_CHUNK.min(STREAM_LEN - off);
            stream_fill(off, &mut buf[..n]);
            if let Err(e) = write_all(1, &buf[..n]) {
                complain(&format!("writing at {off}: {e}"));
                code |= BAD_OWN;
                break;
            }
            off += n;
        }
        // SAFETY: end of the stream for the filter.
        unsafe { libc::close(1) };
        code | ids.check()
    })?;
    let filter = fork_member("filter", &gate, &note, || {
        close_once(&note.w);
        let ids = Ids::now();
        if let Err(e) = rewire(&[(ar, 0), (bw, 1)], &all) {
            complain(&format!("wiring stdin and stdout: {e}"));
            return BAD_OWN;
        }
        let mut buf = vec![0u8; STREAM_CHUNK];
        let (mut moved, mut code) = (0usize, 0);
        loop {
            let n = match read_some(0, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    complain(&format!("reading at {moved}: {e}"));
                    code |= BAD_OWN;
                    break;
                }
            };
            buf[..n].iter_mut().for_each(|b| *b = filter_byte(*b));
            if let Err(e) = write_all(1, &buf[..n]) {
                complain(&format!("writing at {moved}: {e}"));
                code |= BAD_OWN;
                break;
            }
            moved += n;
        }
        // SAFETY: end of the stream for the consumer.
        unsafe { libc::close(1) };
        if moved != STREAM_LEN {
            complain(&format!("filtered {moved} bytes, not {STREAM_LEN}"));
            code |= BAD_OWN;
        }
        code | ids.check()
    })?;
    let consumer = fork_member("consumer", &gate, &note, || {
        let ids = Ids::now();
        if let Err(e) = rewire(&[(br, 0)], &all) {
            complain(&format!("wiring stdin: {e}"));
            return BAD_OWN;
        }
        let mut buf = vec![0u8; STREAM_CHUNK];
        let (mut got, mut h) = (0usize, FNV_START);
        let mut consume = |limit: usize, got: &mut usize, h: &mut u64| -> Result<(), Errno> {
            while *got < limit {
                let want = STREAM_CHUNK.min(limit - *got);
                let n = read_some(0, &mut buf[..want])?;
                if n == 0 {
                    break;
                }
                *h = fnv(*h, &buf[..n]);
                *got += n;
            }
            Ok(())
        };
        let first = consume(CONSUMER_PAUSE, &mut got, &mut h);
        note.notify();
        let waited = gate.wait();
        let rest = consume(usize::MAX, &mut got, &mut h);
        let mut code = ids.check();
        if let Some(e) = first.err().or(waited.err()).or(rest.err()) {
            complain(&format!("reading: {e}"));
            code |= BAD_OWN;
        }
        let want = expected_checksum();
        if got != STREAM_LEN || h != want {
            complain(&format!(
                "{got} bytes with checksum {h:#x}; the stream has {STREAM_LEN} with {want:#x}"
            ));
            code |= BAD_OWN;
        }
        code
    })?;
    rewire(&[], &all)?;
    note.wait(1)?;
    // The consumer paused: the pipes fill up until both writers block.
    wait_blocked_in(&[(producer, producer), (filter, filter)], "1")?;
    ready(ready_path)?;
    root_finish(
        ready_path,
        ids,
        &gate,
        &[producer, filter, consumer],
        RootChecks::default(),
        "pipeline: 4 MiB through producer | filter | consumer, byte counts and checksum as computed",
    )
}

/// Writers of `shared_stdout` (the root included) and lines each writes
/// before the checkpoint and after the restart.
const WRITERS: usize = 4;
const LINES_BEFORE: usize = 100;
const LINES_AFTER: usize = 100;

fn shared_line(w: usize, n: usize) -> String {
    format!("writer-{w} line {n:04}\n")
}

/// Writes lines `range` of writer `w` to stdout, one write(2) each.
fn write_lines(w: usize, range: std::ops::Range<usize>) -> Result<(), Errno> {
    for n in range {
        write_all(1, shared_line(w, n).as_bytes())?;
    }
    Ok(())
}

/// Checks the shared file: every line of every writer exactly once, in
/// order per writer, no hole, no overwrite, and the shared offset (this
/// process's stdout) at its end.
fn check_shared_file(path: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => return vec![format!("reading {path}: {e}")],
    };
    let total = WRITERS * (LINES_BEFORE + LINES_AFTER);
    let want_len = total * shared_line(0, 0).len();
    if data.len() != want_len {
        bad.push(format!("{} bytes, not {want_len}", data.len()));
    }
    if data.contains(&0) {
        bad.push("holes (NUL bytes)".into());
    }
    let text = String::from_utf8_lossy(&data);
    let mut seen = vec![vec![0u32; LINES_BEFORE + LINES_AFTER]; WRITERS];
    let mut last = [None::<usize>; WRITERS];
    let (mut garbled, mut unordered) = (0, 0);
    for line in text.lines() {
        let parsed = line
            .strip_prefix("writer-")
            .and_then(|r| r.split_once(" line "))
            .and_then(|(w, n)| Some((w.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
        match parsed {
            Some((w, n)) if w < WRITERS && n < LINES_BEFORE + LINES_AFTER => {
                seen[w][n] += 1;
                if last[w].is_some_and(|l| l >= n) {
                    unordered += 1;
                }
                last[w] = Some(n);
            }
            _ => garbled += 1,
        }
    }
    let missing = seen.iter().flatten().filter(|&&k| k == 0).count();
    let twice = seen.iter().flatten().filter(|&&k| k > 1).count();
    for (k, what) in [
        (garbled, "garbled lines"),
        (missing, "lines missing"),
        (twice, "lines there more than once"),
        (unordered, "lines out of order"),
    ] {
        if k > 0 {
            bad.push(format!("{k} {what}"));
        }
    }
    // SAFETY: lseek on this process's stdout.
    let pos = unsafe { libc::lseek(1, 0, libc::SEEK_CUR) };
    if pos != want_len as i64 {
        bad.push(format!(
            "the shared offset is {pos}, not the end ({want_len})"
        ));
    }
    bad
}

/// A parent (`writer-0`) and three children (`writer-1..3`) writing
/// numbered lines to one file through their stdout, one open file
/// inherited by all (`O_WRONLY`, no `O_APPEND`: the offset is what they
/// share). Each writes 100 lines before the checkpoint and 100 after the
/// restart, all at the same time; then the file must hold every line
/// exactly once (the offset was shared, so no write overwrote another)
/// and the offset must be at its end.
pub(super) fn shared_stdout(ready_path: &Path) -> Result<()> {
    name("writer-0");
    let path = ready_path.to_string_lossy().replace("ready-", "shared-");
    let c = std::ffi::CString::new(path.clone())?;
    // SAFETY: open(2) of a NUL-terminated path; the descriptor becomes
    // stdout and the original is closed.
    unsafe {
        let fd = libc::open(
            c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o644,
        );
        if fd < 0 {
            bail!("opening {path}: {}", Errno::last());
        }
        if libc::dup2(fd, 1) < 0 {
            bail!("dup2 onto stdout: {}", Errno::last());
        }
        libc::close(fd);
    }
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let mut kids = Vec::new();
    for w in 1..WRITERS {
        kids.push(fork_member(&format!("writer-{w}"), &gate, &note, || {
            let ids = Ids::now();
            let mut code = 0;
            if let Err(e) = write_lines(w, 0..LINES_BEFORE) {
                complain(&format!("writing: {e}"));
                code |= BAD_OWN;
            }
            note.notify();
            if let Err(e) = gate.wait() {
                complain(&format!("waiting at the gate: {e}"));
                return BAD_OWN;
            }
            if let Err(e) = write_lines(w, LINES_BEFORE..LINES_BEFORE + LINES_AFTER) {
                complain(&format!("writing: {e}"));
                code |= BAD_OWN;
            }
            code | ids.check()
        })?);
    }
    write_lines(0, 0..LINES_BEFORE)?;
    note.wait(WRITERS - 1)?;
    ready(ready_path)?;
    let checks = RootChecks {
        after_gate: Box::new(
            || match write_lines(0, LINES_BEFORE..LINES_BEFORE + LINES_AFTER) {
                Ok(()) => Vec::new(),
                Err(e) => vec![format!("writer-0 writing: {e}")],
            },
        ),
        after_reap: Box::new(|| check_shared_file(&path)),
        ..Default::default()
    };
    root_finish(
        ready_path,
        ids,
        &gate,
        &kids,
        checks,
        "shared_stdout: 4 writers, 800 lines each once, shared offset at the end",
    )
}

/// Like a shell with jobs: the session leader `shell` (its own group),
/// `job1` (a group of two children of the shell: `job1-lead`,
/// `job1-pipe`), `job2` (a group leader `job2-lead` and its own child
/// `job2-kid`) and a background job (`bg-job` and its child `bg-kid`).
pub(super) fn sessions(ready_path: &Path) -> Result<()> {
    name("shell");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let setpgid = |pid: i32, pgid: i32| {
        // SAFETY: plain setpgid(2); both sides call it, as shells do, so
        // the group is set whichever runs first.
        unsafe { libc::setpgid(pid, pgid) };
    };
    let j1 = fork_member("job1-lead", &gate, &note, || {
        setpgid(0, 0);
        member(&gate, &note, &[])
    })?;
    setpgid(j1, j1);
    let j1b = fork_member("job1-pipe", &gate, &note, || {
        setpgid(0, j1);
        member(&gate, &note, &[])
    })?;
    setpgid(j1b, j1);
    // A group leader with a child of its own, in its group.
    let leader_with_kid = |kid: &'static str| {
        setpgid(0, 0);
        let (k, bad) = fork_or_complain(kid, &gate, &note, || member(&gate, &note, &[]));
        bad | member(&gate, &note, &k.into_iter().collect::<Vec<_>>())
    };
    let j2 = fork_member("job2-lead", &gate, &note, || leader_with_kid("job2-kid"))?;
    setpgid(j2, j2);
    let bg = fork_member("bg-job", &gate, &note, || leader_with_kid("bg-kid"))?;
    setpgid(bg, bg);
    note.wait(6)?;
    ready(ready_path)?;
    root_finish(
        ready_path,
        ids,
        &gate,
        &[j1, j1b, j2, bg],
        RootChecks::default(),
        "sessions: 7 processes in 4 groups, ids and children as saved",
    )
}

/// The pid this process saw as its own before the checkpoint.
fn getpid() -> i32 {
    // SAFETY: plain getter.
    unsafe { libc::getpid() }
}

/// `reaper` (a child subreaper) → `sess-lead`, which starts a session,
/// forks `orph-a` (leading a group) and `orph-b` (in that group) and
/// exits; the reaper reaps it, and the two are reparented to the reaper:
/// an orphaned process group in a session whose leader is dead. After the
/// restart each orphan checks its ids and raises SIGTSTP, which the
/// kernel discards in an orphaned group (a group that is not orphaned
/// would stop; the reaper reports and continues it); the reaper checks
/// that the dead leader's pid is free and the group is still led by
/// `orph-a`.
pub(super) fn orphan_pgrp(ready_path: &Path) -> Result<()> {
    name("reaper");
    nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let me = getpid();
    let orphan = || {
        // Until it is reparented to the reaper.
        let start = Instant::now();
        // SAFETY: plain getter.
        while unsafe { libc::getppid() } != me {
            if start.elapsed() > Duration::from_secs(10) {
                complain("never reparented to the reaper");
                return BAD_PPID;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let ids = Ids::now();
        note.notify();
        if let Err(e) = gate.wait() {
            complain(&format!("waiting at the gate: {e}"));
            return BAD_OWN;
        }
        let code = ids.check();
        // SAFETY: raises a stop signal on itself (see the doc above).
        unsafe { libc::raise(libc::SIGTSTP) };
        code
    };
    let lead = fork_member("sess-lead", &gate, &note, || {
        // SAFETY: plain setsid(2) and setpgid(2).
        unsafe { libc::setsid() };
        let (a, bad_a) = fork_or_complain("orph-a", &gate, &note, || {
            // SAFETY: as above.
            unsafe { libc::setpgid(0, 0) };
            orphan()
        });
        let Some(a) = a else { return bad_a };
        // SAFETY: as above.
        unsafe { libc::setpgid(a, a) };
        let (b, bad_b) = fork_or_complain("orph-b", &gate, &note, || {
            // SAFETY: as above.
            unsafe { libc::setpgid(0, a) };
            orphan()
        });
        if let Some(b) = b {
            // SAFETY: as above.
            unsafe { libc::setpgid(b, a) };
        }
        close_once(&note.w);
        bad_b
    })?;
    match waitpid(Pid::from_raw(lead), None)? {
        WaitStatus::Exited(_, 0) => {}
        other => bail!("the session leader ended with {other:?}"),
    }
    note.wait(2)?;
    let children = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children"))?;
    let kids: Vec<i32> = children
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    if kids.len() != 2 {
        bail!("the reaper has children {kids:?}, not the two orphans");
    }
    let group = kids
        .iter()
        .map(|&k| {
            // SAFETY: plain getter.
            unsafe { libc::getpgid(k) }
        })
        .collect::<Vec<_>>();
    ready(ready_path)?;
    let checks = RootChecks {
        before_gate: Box::new(|| {
            let mut bad = Vec::new();
            if kill(Pid::from_raw(lead), None) != Err(Errno::ESRCH) {
                bad.push("the dead session leader's pid is in use".to_string());
            }
            for (&k, &g) in kids.iter().zip(&group) {
                // SAFETY: plain getters.
                let (sid, pgid) = unsafe { (libc::getsid(k), libc::getpgid(k)) };
                if sid != lead || pgid != g {
                    bad.push(format!("orphan {k}: session {sid}, group {pgid}"));
                }
            }
            match nix::sys::prctl::get_child_subreaper() {
                Ok(true) => {}
                other => bad.push(format!(
                    "the root is no longer a child subreaper: {other:?}"
                )),
            }
            bad
        }),
        ..Default::default()
    };
    root_finish(
        ready_path,
        ids,
        &gate,
        &kids,
        checks,
        "orphan_pgrp: orphaned group of a dead session leader, not stopped by SIGTSTP; the root still a subreaper",
    )
}

/// Polls /proc until `pid` is a zombie.
fn wait_zombie(pid: i32) -> Result<()> {
    for _ in 0..5000 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("child {pid} never became a zombie")
}

/// `parent` with a child `zombie` that exited with status 7, not reaped,
/// and a live child `live`. After the restart, before the live child can
/// exit, the parent's wait4(-1, WNOHANG) must return the zombie's saved
/// pid with status 7.
pub(super) fn zombie_wait(ready_path: &Path) -> Result<()> {
    name("parent");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let zombie = fork_member("zombie", &gate, &note, || 7)?;
    wait_zombie(zombie)?;
    let live = fork_member("live", &gate, &note, || member(&gate, &note, &[]))?;
    note.wait(1)?;
    ready(ready_path)?;
    let checks = RootChecks {
        before_gate: Box::new(|| {
            let mut status = 0;
            // SAFETY: wait4 with a valid status pointer and no rusage.
            let got = unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, std::ptr::null_mut()) };
            if got != zombie {
                vec![format!("wait4 returned {got}, not the zombie {zombie}")]
            } else if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 7 {
                vec![format!(
                    "the zombie's wait status is {status:#x}, not 0x700"
                )]
            } else {
                Vec::new()
            }
        }),
        ..Default::default()
    };
    root_finish(
        ready_path,
        ids,
        &gate,
        &[live],
        checks,
        "zombie_wait: wait4 returned the saved zombie with status 7",
    )
}

/// `root` with children `member-1` and `member-2` in the process group of
/// a third child, `ghost-lead`, which is killed and reaped: a group whose
/// leader is dead. After the restart the group must exist (a signal to it
/// reaches its members) while the leader's pid is free.
pub(super) fn ghost_pgid(ready_path: &Path) -> Result<()> {
    name("root");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let setpgid = |pid: i32, pgid: i32| {
        // SAFETY: plain setpgid(2), called on both sides.
        unsafe { libc::setpgid(pid, pgid) };
    };
    let lead = fork_member("ghost-lead", &gate, &note, || {
        setpgid(0, 0);
        loop {
            nix::unistd::pause();
        }
    })?;
    setpgid(lead, lead);
    let mut kids = Vec::new();
    for m in 1..=2 {
        let pid = fork_member(&format!("member-{m}"), &gate, &note, || {
            setpgid(0, lead);
            member(&gate, &note, &[])
        })?;
        setpgid(pid, lead);
        kids.push(pid);
    }
    note.wait(2)?;
    kill(Pid::from_raw(lead), Signal::SIGKILL)?;
    waitpid(Pid::from_raw(lead), None)?;
    ready(ready_path)?;
    let checks = RootChecks {
        before_gate: Box::new(|| {
            let mut bad = Vec::new();
            if let Err(e) = kill(Pid::from_raw(-lead), None) {
                bad.push(format!("the group of the dead leader: {e}"));
            }
            if kill(Pid::from_raw(lead), None) != Err(Errno::ESRCH) {
                bad.push("the dead leader's pid is in use".to_string());
            }
            bad
        }),
        ..Default::default()
    };
    root_finish(
        ready_path,
        ids,
        &gate,
        &kids,
        checks,
        "ghost_pgid: a group whose leader is dead, ids as saved",
    )
}

/// Threads of `threads_8`, the main one included, and the one (of
/// `thr-1..7`) that waits on a futex.
const THREADS: usize = 8;
const FUTEX_THREAD: usize = 7;

thread_local! {
    static TLS_COUNTER: Cell<u64> = const { Cell::new(0) };
}

static FUTEX_WORD: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The thread-local counter of thread `i`.
fn tls_value(i: usize) -> u64 {
    1000 * i as u64 + 7
}

/// The signals thread `i` blocks (distinct for every thread).
fn thread_signals(i: usize) -> Vec<i32> {
    let mut v = vec![40 + i as i32];
    if i % 2 == 1 {
        v.push(libc::SIGUSR1);
    }
    if i.is_multiple_of(3) {
        v.push(libc::SIGUSR2);
    }
    v
}

fn gettid() -> i32 {
    // SAFETY: plain getter.
    unsafe { libc::gettid() }
}

/// Sets up thread `i`: its counter counted up to its value, its mask.
fn thread_setup(i: usize) {
    for _ in 0..tls_value(i) {
        TLS_COUNTER.with(|c| c.set(c.get() + 1));
    }
    // SAFETY: builds a signal set and sets this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in thread_signals(i) {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Checks thread `i` against what it was: tid, counter, mask.
fn thread_check(i: usize, tid: i32) -> Vec<String> {
    let mut bad = Vec::new();
    let now = gettid();
    if now != tid {
        bad.push(format!("thread {i}: tid {now}, was {tid}"));
    }
    let tls = TLS_COUNTER.with(Cell::get);
    if tls != tls_value(i) {
        bad.push(format!(
            "thread {i}: TLS counter {tls}, was {}",
            tls_value(i)
        ));
    }
    // SAFETY: reads this thread's mask into a zeroed set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
        set
    };
    let want = thread_signals(i);
    // 32 to 34 are the C library's own.
    for s in (1..=64).filter(|s| !(32..=34).contains(s)) {
        // SAFETY: a membership test on a valid set.
        let blocked = unsafe { libc::sigismember(&set, s) } == 1;
        if blocked != want.contains(&s) {
            bad.push(format!(
                "thread {i}: signal {s} {}",
                if blocked { "blocked" } else { "not blocked" }
            ));
        }
    }
    bad
}

/// One process of 8 threads, `threads` and `thr-1..7`: each counts a
/// thread-local counter to its own value and blocks its own signals;
/// `thr-7` waits on a futex, the others at the gate (reading a pipe).
/// After the restart every thread checks its tid (gettid), its counter and
/// its mask; the main thread wakes the futex, whose waiter must see 0
/// (woken), not EINTR.
pub(super) fn threads_8(ready_path: &Path) -> Result<()> {
    use std::sync::{Arc, Barrier};
    name("threads");
    let (go, result) = go_and_result(ready_path);
    let pid = getpid();
    let gate = Gate::new()?;
    let barrier = Arc::new(Barrier::new(THREADS));
    let tids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 1..THREADS {
        let (gate_r, barrier, tids) = (gate.r, Arc::clone(&barrier), Arc::clone(&tids));
        handles.push(std::thread::Builder::new().name(format!("thr-{i}")).spawn(
            move || -> Vec<String> {
                let tid = gettid();
                thread_setup(i);
                if let Ok(mut t) = tids.lock() {
                    t.push(tid);
                }
                barrier.wait();
                let mut bad = Vec::new();
                if i == FUTEX_THREAD {
                    // SAFETY: waits on a static word while it is 0.
                    let r = unsafe {
                        libc::syscall(
                            libc::SYS_futex,
                            FUTEX_WORD.as_ptr(),
                            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                            0u32,
                            std::ptr::null::<libc::timespec>(),
                        )
                    };
                    if r != 0 {
                        bad.push(format!("futex wait returned {}", Errno::last()));
                    } else if FUTEX_WORD.load(std::sync::atomic::Ordering::SeqCst) != 1 {
                        bad.push("futex wait returned before the wake".into());
                    }
                } else {
                    let mut b = [0u8; 1];
                    loop {
                        match read_some(gate_r, &mut b) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e) => {
                                bad.push(format!("thread {i}: gate: {e}"));
                                break;
                            }
                        }
                    }
                }
                bad.extend(thread_check(i, tid));
                bad
            },
        )?);
    }
    let main_tid = gettid();
    thread_setup(0);
    barrier.wait();
    let tids: Vec<i32> = tids.lock().map(|t| t.clone()).unwrap_or_default();
    if tids.len() != THREADS - 1 {
        bail!("{} threads reported their tids", tids.len());
    }
    // Every thread asleep: the futex waiter in futex(2), the others in read(2).
    let comm =
        |t: &i32| std::fs::read_to_string(format!("/proc/{pid}/task/{t}/comm")).unwrap_or_default();
    let futex_tid = tids
        .iter()
        .copied()
        .find(|t| comm(t).trim() == format!("thr-{FUTEX_THREAD}"))
        .context("no futex thread")?;
    wait_blocked_in(&[(pid, futex_tid)], "202")?;
    let readers: Vec<(i32, i32)> = tids
        .iter()
        .filter(|&&t| t != futex_tid)
        .map(|&t| (pid, t))
        .collect();
    wait_blocked_in(&readers, "0")?;
    ready(ready_path)?;
    wait_for_file(&go);
    let mut bad = Vec::new();
    FUTEX_WORD.store(1, std::sync::atomic::Ordering::SeqCst);
    // SAFETY: wakes every waiter of the static word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            FUTEX_WORD.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        )
    };
    gate.open();
    for h in handles {
        match h.join() {
            Ok(b) => bad.extend(b),
            Err(_) => bad.push("a thread panicked".into()),
        }
    }
    if getpid() != pid {
        bad.push("pid".into());
    }
    bad.extend(thread_check(0, main_tid));
    let ok = bad.is_empty();
    verdict(
        &result,
        ok,
        if ok {
            "threads_8: 8 threads with their tids, TLS counters and masks; futex waiter woken (0)"
                .into()
        } else {
            format!("threads_8: {}", bad.join("; "))
        },
    )
}

/// Levels of `deep_20` below its root.
const DEPTH: usize = 20;

/// Level `level` of the chain: forks the next level, then lives as usual.
fn chain(level: usize, gate: &Gate, note: &Notify) -> i32 {
    let (kid, bad) = if level < DEPTH {
        fork_or_complain(&format!("depth-{}", level + 1), gate, note, || {
            chain(level + 1, gate, note)
        })
    } else {
        (None, 0)
    };
    bad | member(gate, note, &kid.into_iter().collect::<Vec<_>>())
}

/// A chain 20 levels deep: `depth-0` (the root) → `depth-1` → … →
/// `depth-20`, each the only child of the one before.
pub(super) fn deep_20(ready_path: &Path) -> Result<()> {
    name("depth-0");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let kid = fork_member("depth-1", &gate, &note, || chain(1, &gate, &note))?;
    note.wait(DEPTH)?;
    ready(ready_path)?;
    root_finish(
        ready_path,
        ids,
        &gate,
        &[kid],
        RootChecks::default(),
        "deep_20: a chain of 21 processes, ids and children as saved",
    )
}

/// Forks `n` children named by `comm(k)`, each running `body(k)`.
fn fork_many(
    n: usize,
    gate: &Gate,
    note: &Notify,
    comm: impl Fn(usize) -> String,
    body: impl Fn(usize) -> i32,
) -> (Vec<i32>, i32) {
    let (mut kids, mut bad) = (Vec::with_capacity(n), 0);
    for k in 0..n {
        let (pid, b) = fork_or_complain(&comm(k), gate, note, || body(k));
        kids.extend(pid);
        bad |= b;
    }
    (kids, bad)
}

/// 1,000 small processes: `root`, 9 `node-I`, 10 `mid-I-J` under each
/// and 10 `leaf-I-J-K` under each of those.
pub(super) fn tree_1000(ready_path: &Path) -> Result<()> {
    name("root");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let (g, n) = (&gate, &note);
    let leaf = |_: usize| member(g, n, &[]);
    let mid = |i: usize, j: usize| {
        let (kids, bad) = fork_many(10, g, n, |k| format!("leaf-{i}-{j}-{k}"), leaf);
        bad | member(g, n, &kids)
    };
    let node = |i: usize| {
        let (kids, bad) = fork_many(10, g, n, |j| format!("mid-{i}-{j}"), |j| mid(i, j));
        bad | member(g, n, &kids)
    };
    let mut kids = Vec::new();
    for i in 0..9 {
        kids.push(fork_member(&format!("node-{i}"), g, n, || node(i))?);
    }
    note.wait(999)?;
    ready(ready_path)?;
    root_finish(
        ready_path,
        ids,
        &gate,
        &kids,
        RootChecks::default(),
        "tree_1000: 1000 processes, ids and children as saved",
    )
}

/// Size of the shared memory of `shared_memory`, and its pages.
const SHM_LEN: usize = 4 << 20;
const SHM_PAGES: usize = SHM_LEN / 4096;

fn shm_byte(page: usize, i: usize) -> u8 {
    (page.wrapping_mul(7).wrapping_add(i) as u8) | 1
}

/// The shared memory at `addr` as `shared_memory` filled it: every even
/// page holds the pattern, every odd page is untouched (zero), except the
/// last byte, where the child writes its marker after the restart.
fn shm_as_filled(addr: usize) -> bool {
    // SAFETY: `addr` is the start of a live SHM_LEN-byte shared mapping of
    // this process, which nothing unmaps.
    let mem = unsafe { std::slice::from_raw_parts(addr as *const u8, SHM_LEN) };
    mem.chunks(4096).enumerate().all(|(p, page)| {
        page.iter().enumerate().all(|(i, &b)| {
            if p % 2 == 0 {
                b == shm_byte(p, i)
            } else {
                b == 0 || (p == SHM_PAGES - 1 && i == 4095)
            }
        })
    })
}

/// `shm-parent` maps 4 MiB of shared anonymous memory, fills every even
/// page with a pattern (odd pages are never touched: holes), maps a tmpfs
/// file privately, writes its first page (copied on write) and deletes
/// the file, and forks `shm-child`, which shares the 4 MiB. After the restart the child checks the
/// pattern and writes a marker into the last byte; once it has exited, the
/// parent must see the marker (the two still share one memory, not two
/// copies) and the pattern.
pub(super) fn shared_memory(ready_path: &Path) -> Result<()> {
    name("shm-parent");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    // SAFETY: a new shared anonymous mapping; checked below.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            SHM_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        bail!("mmap of shared anonymous memory failed");
    }
    let addr = base as usize;
    // SAFETY: the mapping is SHM_LEN bytes, writable, and stays mapped.
    let mem = unsafe { std::slice::from_raw_parts_mut(base.cast::<u8>(), SHM_LEN) };
    for (p, page) in mem.chunks_mut(4096).enumerate().step_by(2) {
        for (i, b) in page.iter_mut().enumerate() {
            *b = shm_byte(p, i);
        }
    }
    // A private mapping of a tmpfs file that is then deleted: its first
    // page copied-on-write with another pattern, the rest the file's.
    let priv_path = format!("/tmp/shm-private-{}", getpid());
    let content: Vec<u8> = (0..PRIV_LEN).map(|i| (i % 251) as u8 | 1).collect();
    fs_write(&priv_path, &content)?;
    let priv_addr = map_private(&priv_path)?;
    std::fs::remove_file(&priv_path).with_context(|| format!("removing {priv_path}"))?;
    // SAFETY: the first page of the live private mapping.
    unsafe { std::ptr::write_bytes(priv_addr as *mut u8, 0x77, 4096) };
    let child = fork_member("shm-child", &gate, &note, || {
        let mut code = member(&gate, &note, &[]);
        if !shm_as_filled(addr) {
            complain("the shared memory is not as it was filled");
            code |= BAD_OWN;
        }
        // SAFETY: the last byte of the live shared mapping.
        unsafe { *((addr + SHM_LEN - 1) as *mut u8) = 0xab };
        code
    })?;
    note.wait(1)?;
    ready(ready_path)?;
    let checks = RootChecks {
        after_reap: Box::new(move || {
            let mut bad = Vec::new();
            if !shm_as_filled(addr) {
                bad.push("the parent's shared memory is not as it was filled".to_string());
            }
            // SAFETY: the last byte of the live shared mapping.
            if unsafe { *((addr + SHM_LEN - 1) as *const u8) } != 0xab {
                bad.push("the child's marker is not in the parent's memory: not shared".into());
            }
            // SAFETY: the live private mapping, PRIV_LEN bytes.
            let p = unsafe { std::slice::from_raw_parts(priv_addr as *const u8, PRIV_LEN) };
            let own = p.iter().take(4096).all(|&b| b == 0x77);
            let file = p
                .iter()
                .enumerate()
                .skip(4096)
                .all(|(i, &b)| b == (i % 251) as u8 | 1);
            if !own || !file {
                bad.push(format!(
                    "the private mapping of the deleted file: own page {own}, file's pages {file}"
                ));
            }
            bad
        }),
        ..Default::default()
    };
    root_finish(
        ready_path,
        ids,
        &gate,
        &[child],
        checks,
        "shared_memory: 4 MiB shared by parent and child, pattern and holes kept, still shared; a deleted file's private mapping kept",
    )
}

/// Size of the private mapping of a deleted tmpfs file in `shared_memory`.
const PRIV_LEN: usize = 64 * 1024;

fn fs_write(path: &str, data: &[u8]) -> Result<()> {
    std::fs::write(path, data).with_context(|| format!("writing {path}"))
}

/// Maps `path` (PRIV_LEN bytes) private and writable; its address.
fn map_private(path: &str) -> Result<usize> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .open(path)
        .with_context(|| format!("opening {path}"))?;
    // SAFETY: a new private mapping of a file open for reading.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            PRIV_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        bail!("mmap of {path} failed");
    }
    Ok(p as usize)
}

/// The terminal state a process of `pty_session` notes before the
/// checkpoint and checks after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TermState {
    /// `tcgetsid`, `tcgetpgrp`.
    sid: i32,
    fg: i32,
    /// `c_iflag`, `c_oflag`, `c_lflag`.
    flags: (u32, u32, u32),
    /// Rows and columns (`TIOCGWINSZ`).
    size: (u16, u16),
}

impl TermState {
    fn of(fd: RawFd) -> Self {
        // SAFETY: all-zero is a valid termios and winsize; the calls only
        // write into them.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            let mut ws: libc::winsize = std::mem::zeroed();
            libc::tcgetattr(fd, &mut t);
            libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws);
            Self {
                sid: libc::tcgetsid(fd),
                fg: libc::tcgetpgrp(fd),
                flags: (t.c_iflag, t.c_oflag, t.c_lflag),
                size: (ws.ws_row, ws.ws_col),
            }
        }
    }
}

/// The name of the terminal `fd` is open on (`ttyname`).
fn tty_name(fd: RawFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What `term` reads from the master after the restart: the session
/// leader's line, the echo of what it typed before the checkpoint (a full
/// line and a partial one, completed after the restart), and the
/// foreground job's report.
const PTY_EXPECTED: &str = "sh ready\r\nline one\r\npartial\r\nfg got: line one|partial\r\n";

/// A terminal and a job-control session on it. `term` (the root, as a
/// terminal emulator) opens a pty master; `sh-lead` starts a session and
/// opens the slave, which becomes its controlling terminal, sets a window
/// size, opens `/dev/tty`, writes "sh ready", and puts its child `fg-job`
/// (its own process group) in the foreground. `term` then types
/// "line one\npart" and "i" into the master: in canonical mode with echo
/// the slave holds one complete line and a partial one, and the echo
/// waits in the master. After the restart `term` types "al\n" and reads
/// the master until it has everything ([`PTY_EXPECTED`]); `fg-job` reads
/// both lines from the slave and reports them; each process checks the
/// terminal's session, foreground group, settings, window size and name
/// against what it saw before.
pub(super) fn pty_session(ready_path: &Path) -> Result<()> {
    name("term");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    // SAFETY: plain calls; the buffer holds the name and its NUL.
    let (master, slave_name) = unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        if m < 0 || libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
            bail!("opening a pty master: {}", Errno::last());
        }
        let mut buf = [0 as libc::c_char; 64];
        if libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()) != 0 {
            bail!("ptsname: {}", Errno::last());
        }
        let name = std::ffi::CStr::from_ptr(buf.as_ptr()).to_owned();
        (m, name)
    };
    let slave_path = slave_name.to_string_lossy().into_owned();
    let lead = fork_member("sh-lead", &gate, &note, || {
        // SAFETY: plain calls on this process and its own descriptors.
        let (slave, dev_tty) = unsafe {
            libc::close(master);
            libc::setsid();
            let s = libc::open(slave_name.as_ptr(), libc::O_RDWR);
            let ws = libc::winsize {
                ws_row: 40,
                ws_col: 132,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            libc::ioctl(s, libc::TIOCSWINSZ, &ws);
            let t = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR);
            (s, t)
        };
        if slave < 0 || dev_tty < 0 {
            complain(&format!("opening the slave or /dev/tty: {}", Errno::last()));
            return BAD_OWN;
        }
        let _ = write_all(slave, b"sh ready\n");
        let (kid, mut bad) = fork_or_complain("fg-job", &gate, &note, || {
            // SAFETY: plain calls on this process.
            unsafe { libc::setpgid(0, 0) };
            // Its parent makes it the foreground group: wait for that
            // before noting the terminal's state.
            let start = Instant::now();
            // SAFETY: tcgetpgrp(3) and getpid(2) only read.
            while unsafe { libc::tcgetpgrp(slave) != libc::getpid() }
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            let ids = Ids::now();
            let before = TermState::of(slave);
            note.notify();
            if let Err(e) = gate.wait() {
                complain(&format!("waiting at the gate: {e}"));
                return BAD_OWN;
            }
            let mut bad = ids.check();
            let mut lines = Vec::new();
            for _ in 0..2 {
                let mut buf = [0u8; 64];
                match read_some(slave, &mut buf) {
                    Ok(n) => lines.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string()),
                    Err(e) => {
                        complain(&format!("reading the slave: {e}"));
                        bad |= BAD_OWN;
                    }
                }
            }
            let got = lines.join("|");
            let _ = write_all(slave, format!("fg got: {got}\n").as_bytes());
            if got != "line one|partial" {
                complain(&format!("read {got:?} from the terminal"));
                bad |= BAD_OWN;
            }
            let now = TermState::of(slave);
            if now != before || before.fg != ids.pgid {
                complain(&format!("terminal {before:?} before, {now:?} now"));
                bad |= BAD_OWN;
            }
            bad
        });
        let Some(kid) = kid else { return bad };
        // SAFETY: plain calls on this process's own terminal.
        unsafe {
            libc::setpgid(kid, kid);
            libc::tcsetpgrp(slave, kid);
        }
        let before = (TermState::of(slave), tty_name(slave), tty_name(dev_tty));
        let ids = Ids::now();
        note.notify();
        if let Err(e) = gate.wait() {
            complain(&format!("waiting at the gate: {e}"));
            return BAD_OWN;
        }
        bad |= ids.check();
        let now = (TermState::of(slave), tty_name(slave), tty_name(dev_tty));
        let dev_tty_state = TermState::of(dev_tty);
        if now != before
            || before.0.sid != ids.pid
            || before.0.size != (40, 132)
            || dev_tty_state != now.0
        {
            complain(&format!(
                "terminal {before:?} before, {now:?} now, /dev/tty {dev_tty_state:?}"
            ));
            bad |= BAD_OWN;
        }
        bad | reap(&[kid])
    })?;
    note.wait(2)?;
    // Typed before the checkpoint, in two writes: echoed at once.
    write_all(master, b"line one\npart").context("typing")?;
    write_all(master, b"i").context("typing")?;
    let mut seen = Vec::new();
    let want = b"sh ready\r\nline one\r\nparti";
    let start = Instant::now();
    // Wait until the echo is in the master (without reading it): poll.
    loop {
        let mut pfd = libc::pollfd {
            fd: master,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 100) };
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes an int.
        unsafe { libc::ioctl(master, libc::FIONREAD, &mut n) };
        if n as usize >= want.len() {
            break;
        }
        if start.elapsed() > Duration::from_secs(10) {
            bail!("the echo never reached the master ({n} bytes)");
        }
    }
    let master_before = (TermState::of(master), tty_name(master));
    let mut index_before: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int.
    unsafe { libc::ioctl(master, libc::TIOCGPTN, &mut index_before) };
    ready(ready_path)?;
    let check_term = move || {
        let mut bad = Vec::new();
        // Read before the job gets its last line: then it ends, and its
        // session leader with it, which takes the terminal's session away.
        let mut index: libc::c_uint = 0;
        // SAFETY: TIOCGPTN writes an unsigned int.
        unsafe { libc::ioctl(master, libc::TIOCGPTN, &mut index) };
        let now = (TermState::of(master), tty_name(master));
        if let Err(e) = write_all(master, b"al\n") {
            bad.push(format!("typing after the restart: {e}"));
        }
        let start = Instant::now();
        while seen.len() < PTY_EXPECTED.len() && start.elapsed() < Duration::from_secs(10) {
            let mut pfd = libc::pollfd {
                fd: master,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
                continue;
            }
            let mut buf = [0u8; 256];
            match read_some(master, &mut buf) {
                Ok(0) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(e) => {
                    bad.push(format!("reading the master: {e}"));
                    break;
                }
            }
        }
        let seen = String::from_utf8_lossy(&seen);
        if seen != PTY_EXPECTED {
            bad.push(format!("the master read {seen:?}"));
        }
        if now != master_before || index != index_before {
            bad.push(format!(
                "master {master_before:?} pts/{index_before} before, {now:?} pts/{index} now"
            ));
        }
        if !slave_path.ends_with(&format!("/{index}")) {
            bad.push(format!(
                "the slave was {slave_path}, the pty is now {index}"
            ));
        }
        bad
    };
    root_finish(
        ready_path,
        ids,
        &gate,
        &[lead],
        RootChecks {
            after_gate: Box::new(check_term),
            ..Default::default()
        },
        "pty_session: a session on a pty, its queues, settings and foreground job as saved",
    )
}

/// `pidfd_open(2)`.
fn pidfd_open(pid: i32, flags: u32) -> Result<RawFd> {
    // SAFETY: a plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
    if fd < 0 {
        bail!("pidfd_open({pid}): {}", Errno::last());
    }
    Ok(fd as RawFd)
}

/// `pidfd-root` with pidfds of its children: of `pidfd-live` (a member,
/// and a dup of that pidfd) and, non-blocking, of `pidfd-zombie`, which
/// exited with status 7 and is not reaped. After the restart the live
/// child can be signalled through its pidfd, the zombie's pidfd polls
/// readable and is still non-blocking, and waitid(P_PIDFD) on it reaps
/// the zombie with its pid and status 7.
pub(super) fn pidfd_tree(ready_path: &Path) -> Result<()> {
    name("pidfd-root");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let live = fork_member("pidfd-live", &gate, &note, || member(&gate, &note, &[]))?;
    // SAFETY: single-threaded here; the child only names itself and exits.
    let zombie = match unsafe { fork() }.context("forking the zombie")? {
        ForkResult::Parent { child } => child.as_raw(),
        ForkResult::Child => {
            name("pidfd-zombie");
            // SAFETY: leave at once.
            unsafe { libc::_exit(7) }
        }
    };
    wait_zombie(zombie)?;
    let live_fd = pidfd_open(live, 0)?;
    let zombie_fd = pidfd_open(zombie, libc::O_NONBLOCK as u32)?;
    // SAFETY: dup of our own descriptor.
    let dup_fd = unsafe { libc::dup(live_fd) };
    if dup_fd < 0 {
        bail!("dup: {}", Errno::last());
    }
    // A pipe end whose signal owner is the tree's process group.
    let mut owned = [0i32; 2];
    // SAFETY: plain calls on descriptors made here.
    let group = unsafe {
        if libc::pipe(owned.as_mut_ptr()) != 0 {
            bail!("pipe: {}", Errno::last());
        }
        let group = libc::getpgrp();
        if libc::fcntl(owned[0], libc::F_SETOWN, -group) != 0 {
            bail!("F_SETOWN: {}", Errno::last());
        }
        group
    };
    note.wait(1)?;
    ready(ready_path)?;
    let check = move || {
        let mut bad = Vec::new();
        // SAFETY: plain system calls on our own descriptors; the structs
        // are zeroed and filled by the kernel.
        unsafe {
            let sent = libc::syscall(
                libc::SYS_pidfd_send_signal,
                dup_fd,
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
            if sent != 0 {
                bad.push(format!(
                    "signal 0 through the live child's pidfd: {}",
                    Errno::last()
                ));
            }
            if libc::fcntl(zombie_fd, libc::F_GETFL) & libc::O_NONBLOCK == 0 {
                bad.push("the zombie's pidfd lost O_NONBLOCK".to_string());
            }
            let owner = libc::fcntl(owned[0], libc::F_GETOWN);
            if owner != -group || libc::getpgrp() != group {
                bad.push(format!(
                    "the pipe's signal owner is {owner}, not the group {}",
                    -group
                ));
            }
            let mut pfd = libc::pollfd {
                fd: zombie_fd,
                events: libc::POLLIN,
                revents: 0,
            };
            if libc::poll(&mut pfd, 1, 1000) != 1 || pfd.revents & libc::POLLIN == 0 {
                bad.push("the zombie's pidfd does not poll readable".to_string());
            }
            let mut info: libc::siginfo_t = std::mem::zeroed();
            // P_PIDFD (3): wait for the task the pidfd refers to.
            if libc::waitid(3, zombie_fd as libc::id_t, &mut info, libc::WEXITED) != 0 {
                bad.push(format!("waitid(P_PIDFD): {}", Errno::last()));
            } else if (info.si_pid(), info.si_status()) != (zombie, 7) {
                bad.push(format!(
                    "waitid(P_PIDFD) reaped pid {} status {}, not {zombie} and 7",
                    info.si_pid(),
                    info.si_status()
                ));
            }
        }
        bad
    };
    root_finish(
        ready_path,
        ids,
        &gate,
        &[live],
        RootChecks {
            after_gate: Box::new(check),
            ..Default::default()
        },
        "pidfd_tree: pidfds of a live child and of a zombie, used after the restart; a pipe owned by the group",
    )
}

/// `clone(2)` without `CLONE_VM` (the child runs on a copy of the caller,
/// as after fork) with `flags` added to `SIGCHLD`: the child's pid, or 0
/// in the child.
fn clone_sharing(flags: libc::c_int) -> Result<i32> {
    // SAFETY: without CLONE_VM and without a new stack the child continues
    // on a copy of this process, as after fork(2); the caller is
    // single-threaded here.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        bail!("clone({flags:#x}): {}", Errno::last());
    }
    Ok(r as i32)
}

/// Reads one line (up to `\n`) from `fd`.
fn read_line(fd: RawFd) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = read_some(fd, &mut b) {
        if b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether descriptor `fd` is open in the calling task's table.
fn fd_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// The calling process's umask (set back as it was).
fn umask_now() -> u32 {
    // SAFETY: umask(2) twice, leaving it as it was.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    }
}

/// Where the sharers chdir after the restart, and the umask they set.
const SHARE_DIR: &str = "/tmp";
const SHARE_UMASK: u32 = 0o027;
/// The descriptor the root opens after the restart for the sharers to see.
const SHARE_FD: RawFd = 77;

/// Processes that share their open file table and fs context without
/// being threads of one process. The root clones `share-files` with
/// `CLONE_FILES | CLONE_FS` (it has a thread too, which shares its
/// table) and `share-fs` with `CLONE_FS` only. After the restart the root
/// opens descriptor 77: `share-files` and its thread must see it,
/// `share-fs` must not; `share-files` then changes directory and umask,
/// which the root and `share-fs` must see.
pub(super) fn shared_tables(ready_path: &Path) -> Result<()> {
    name("share-root");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    let [to_files, to_files_w] = pipe_fds()?;
    let [from_files, from_files_w] = pipe_fds()?;
    let [to_fs, to_fs_w] = pipe_fds()?;
    let [from_fs, from_fs_w] = pipe_fds()?;
    // The root starts elsewhere: the restart must not just land in /.
    std::env::set_current_dir("/dev").context("chdir /dev")?;
    let files_pid = match clone_sharing(libc::CLONE_FILES | libc::CLONE_FS)? {
        0 => {
            name("share-files");
            // Every descriptor is the root's too: close none of them.
            exit_with(|| share_files_member(&gate, to_files, from_files_w))
        }
        pid => pid,
    };
    // Set up: its thread runs.
    let up = read_line(from_files);
    if up != "up" {
        bail!("share-files did not start: {up:?}");
    }
    let fs_pid = match clone_sharing(libc::CLONE_FS)? {
        0 => {
            become_member("share-fs", &gate, &note);
            exit_with(|| {
                let ids = Ids::now();
                note.notify();
                if let Err(e) = gate.wait() {
                    complain(&format!("waiting at the gate: {e}"));
                    return BAD_OWN;
                }
                let _ = read_line(to_fs);
                let mut bad = Vec::new();
                if fd_open(SHARE_FD) {
                    bad.push(format!("fd {SHARE_FD} of the root's table is open here"));
                }
                let cwd = std::env::current_dir().unwrap_or_default();
                if cwd != Path::new(SHARE_DIR) {
                    bad.push(format!(
                        "cwd {cwd:?}, not {SHARE_DIR} as share-files set it"
                    ));
                }
                if umask_now() != SHARE_UMASK {
                    bad.push(format!("umask {:o}, not {SHARE_UMASK:o}", umask_now()));
                }
                let _ = write_all(from_fs_w, format!("{}\n", bad.join("; ")).as_bytes());
                ids.check() | if bad.is_empty() { 0 } else { BAD_OWN }
            })
        }
        pid => pid,
    };
    note.wait(1)?;
    ready(ready_path)?;
    let check = move || {
        let mut bad = Vec::new();
        let marker = std::ffi::CString::new("/proc/self/status").unwrap_or_default();
        // SAFETY: open and dup2 on our own descriptors.
        unsafe {
            let fd = libc::open(marker.as_ptr(), libc::O_RDONLY);
            if fd < 0 || libc::dup2(fd, SHARE_FD) != SHARE_FD {
                bad.push(format!("opening fd {SHARE_FD}: {}", Errno::last()));
            }
            libc::close(fd);
        }
        let _ = write_all(to_files_w, b"go\n");
        let said = read_line(from_files);
        if !said.is_empty() {
            bad.push(format!("share-files: {said}"));
        }
        let cwd = std::env::current_dir().unwrap_or_default();
        if cwd != Path::new(SHARE_DIR) {
            bad.push(format!(
                "root's cwd {cwd:?}, not {SHARE_DIR} as share-files set it"
            ));
        }
        if umask_now() != SHARE_UMASK {
            bad.push(format!(
                "root's umask {:o}, not {SHARE_UMASK:o}",
                umask_now()
            ));
        }
        let _ = write_all(to_fs_w, b"go\n");
        let said = read_line(from_fs);
        if !said.is_empty() {
            bad.push(format!("share-fs: {said}"));
        }
        bad
    };
    root_finish(
        ready_path,
        ids,
        &gate,
        &[files_pid, fs_pid],
        RootChecks {
            after_gate: Box::new(check),
            ..Default::default()
        },
        "shared_tables: a process sharing the root's file table and fs context (with a thread), one sharing its fs context",
    )
}

/// `share-files`: starts a thread (which shares its table), reports `up`,
/// waits at the gate and for the root's word, then checks that it and its
/// thread see the descriptor the root opened, changes directory and umask
/// for the root to see, and reports what was wrong (an empty line: all
/// was right).
fn share_files_member(gate: &Gate, to_files: RawFd, from_files_w: RawFd) -> i32 {
    let ids = Ids::now();
    let [to_thread, to_thread_w] = match pipe_fds() {
        Ok(p) => p,
        Err(e) => {
            complain(&format!("{e:#}"));
            return BAD_OWN;
        }
    };
    let [from_thread, from_thread_w] = match pipe_fds() {
        Ok(p) => p,
        Err(e) => {
            complain(&format!("{e:#}"));
            return BAD_OWN;
        }
    };
    let thread = std::thread::Builder::new()
        .name("share-thread".into())
        .spawn(move || {
            let _ = read_line(to_thread);
            let said = if fd_open(SHARE_FD) {
                String::new()
            } else {
                format!("its thread does not see fd {SHARE_FD}")
            };
            let _ = write_all(from_thread_w, format!("{said}\n").as_bytes());
        });
    if let Err(e) = thread {
        complain(&format!("spawning the thread: {e}"));
        return BAD_OWN;
    }
    let _ = write_all(from_files_w, b"up\n");
    if let Err(e) = gate.wait() {
        complain(&format!("waiting at the gate: {e}"));
        return BAD_OWN;
    }
    let _ = read_line(to_files);
    let mut bad = Vec::new();
    if !fd_open(SHARE_FD) {
        bad.push(format!("it does not see the root's fd {SHARE_FD}"));
    }
    let _ = write_all(to_thread_w, b"go\n");
    let said = read_line(from_thread);
    if !said.is_empty() {
        bad.push(said);
    }
    if let Err(e) = std::env::set_current_dir(SHARE_DIR) {
        bad.push(format!("chdir {SHARE_DIR}: {e}"));
    }
    // SAFETY: umask(2) of the calling process.
    unsafe { libc::umask(SHARE_UMASK) };
    let _ = write_all(from_files_w, format!("{}\n", bad.join("; ")).as_bytes());
    ids.check() | if bad.is_empty() { 0 } else { BAD_OWN }
}

/// Where `cow_shared` maps its private memory (a fixed address, so that
/// the scenario finds the VMA in the image and in /proc/PID/smaps).
pub const COW_ADDR: usize = 0x6000_0000_0000;
/// Its size: 32 MiB, 8192 pages.
pub const COW_LEN: usize = 32 << 20;
/// Its children.
pub const COW_KIDS: usize = 8;
/// Pages each child writes after the fork (its own, at `16 * k`).
pub const COW_OWN: usize = 16;
/// Pages the parent writes after the fork (its own copies; the children
/// keep the ones from before), from page 200.
pub const COW_PARENT_FROM: usize = 200;
pub const COW_PARENT: usize = 16;
/// Pages child 0 drops with `MADV_DONTNEED` after the fork (from page
/// 100): zeros for it, the pattern for everyone else.
pub const COW_DROP_FROM: usize = 100;
pub const COW_DROP: usize = 32;

fn cow_byte(page: usize, i: usize, salt: u8) -> u8 {
    (page.wrapping_mul(13).wrapping_add(i) as u8 ^ salt) | 1
}

/// What page `p` of `cow_shared`'s memory holds in process `who`: `None`
/// for the parent, `Some(k)` for child `k`.
fn cow_expected(who: Option<usize>, p: usize) -> Option<u8> {
    let parent_wrote = (COW_PARENT_FROM..COW_PARENT_FROM + COW_PARENT).contains(&p);
    match who {
        None if parent_wrote => Some(0x40),
        None => None,
        Some(k) if (k * COW_OWN..(k + 1) * COW_OWN).contains(&p) => Some(0x80 | k as u8),
        Some(0) if (COW_DROP_FROM..COW_DROP_FROM + COW_DROP).contains(&p) => Some(0),
        Some(_) => None,
    }
}

/// Whether `cow_shared`'s memory is as process `who` left it; the first
/// wrong page if not.
fn cow_check(who: Option<usize>) -> Option<usize> {
    // SAFETY: COW_ADDR is a live COW_LEN-byte private mapping of this
    // process, which nothing unmaps.
    let mem = unsafe { std::slice::from_raw_parts(COW_ADDR as *const u8, COW_LEN) };
    mem.chunks(4096).enumerate().find_map(|(p, page)| {
        let ok = match cow_expected(who, p) {
            Some(0) => page.iter().all(|&b| b == 0),
            Some(salt) => page
                .iter()
                .enumerate()
                .all(|(i, &b)| b == cow_byte(p, i, salt)),
            None => page
                .iter()
                .enumerate()
                .all(|(i, &b)| b == cow_byte(p, i, 0)),
        };
        (!ok).then_some(p)
    })
}

/// Writes page `p` of `cow_shared`'s memory with the pattern of `salt`.
fn cow_fill(p: usize, salt: u8) {
    // SAFETY: page `p` of the live COW_LEN-byte writable mapping.
    let page = unsafe { std::slice::from_raw_parts_mut((COW_ADDR + p * 4096) as *mut u8, 4096) };
    for (i, b) in page.iter_mut().enumerate() {
        *b = cow_byte(p, i, salt);
    }
}

/// `cow-parent` fills 32 MiB of private anonymous memory at a fixed
/// address and forks 8 children, as a preforked server does. Each child
/// writes 16 pages of its own; child 0 also drops 32 pages
/// (`MADV_DONTNEED`); then the parent writes 16 other pages, which the
/// children must not see. After the restart every process checks every
/// page of its copy, and each child then rewrites a page the parent still
/// has: the parent must not see that either (copy-on-write, not shared).
pub(super) fn cow_shared(ready_path: &Path) -> Result<()> {
    name("cow-parent");
    let gate = Gate::new()?;
    let note = Notify::new()?;
    let ids = Ids::now();
    super::map_anon_at(COW_ADDR, COW_LEN)?;
    for p in 0..COW_LEN / 4096 {
        cow_fill(p, 0);
    }
    let mut kids = Vec::new();
    for k in 0..COW_KIDS {
        let child = fork_member(&format!("cow-child-{k}"), &gate, &note, || {
            for p in k * COW_OWN..(k + 1) * COW_OWN {
                cow_fill(p, 0x80 | k as u8);
            }
            if k == 0 {
                // SAFETY: a range of the live private mapping.
                let r = unsafe {
                    libc::madvise(
                        (COW_ADDR + COW_DROP_FROM * 4096) as *mut libc::c_void,
                        COW_DROP * 4096,
                        libc::MADV_DONTNEED,
                    )
                };
                if r != 0 {
                    complain("madvise(MADV_DONTNEED) failed");
                    return BAD_OWN;
                }
            }
            let mut code = member(&gate, &note, &[]);
            if let Some(p) = cow_check(Some(k)) {
                complain(&format!("page {p} of the copied-on-write memory is wrong"));
                code |= BAD_OWN;
            }
            // A page the parent has too, written after the restart.
            cow_fill(COW_LEN / 4096 - 1, 0x20);
            code
        })?;
        kids.push(child);
    }
    note.wait(COW_KIDS)?;
    for p in COW_PARENT_FROM..COW_PARENT_FROM + COW_PARENT {
        cow_fill(p, 0x40);
    }
    ready(ready_path)?;
    let checks = RootChecks {
        before_gate: Box::new(|| {
            cow_check(None)
                .map(|p| format!("page {p} of the parent's memory is wrong after the restart"))
                .into_iter()
                .collect()
        }),
        after_reap: Box::new(|| {
            cow_check(None)
                .map(|p| format!("page {p} of the parent's memory changed: a child's write shows"))
                .into_iter()
                .collect()
        }),
        ..Default::default()
    };
    root_finish(
        ready_path,
        ids,
        &gate,
        &kids,
        checks,
        "cow_shared: 32 MiB forked to 8 children, their writes, a dropped range and the parent's later writes kept apart, every page as written",
    )
}
