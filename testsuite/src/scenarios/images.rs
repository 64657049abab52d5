//! Hostile images handed straight to the kernel (not to `ckpt`, whose
//! pre-check would catch most of them first): cut at every record
//! boundary and inside every record, huge counts and lengths, a forest of
//! 400,000 rows with one pid, mistyped object ids, an image read from a
//! pipe whose writer stalls or dies mid-record. Every run must end with
//! an errno or a killed task (never a task that runs on a cut image, never
//! a call SIGKILL cannot end), and the kernel log must stay clean (the
//! host checks the console for splats).

use super::hostile::rewrite;
use super::{checkpoint_kill, Checks, Workload};
use anyhow::{Context, Result};
use ckpt_image::{ForestHead, Header, Item, RawRecords, RecordType, Tail, TaskEntry};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};
use testsuite::Check;

/// How one restart attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// restart(2) failed with this errno; the caller is unharmed.
    Errno(String),
    /// The task died of this signal (the kernel kills it past the point of
    /// no return).
    Killed(String),
    /// The restored program ran and exited by itself.
    Exited(i32),
    /// Still running after the time limit (killed by the scenario).
    Running,
}

/// Creates a child with pid `pid` (clone3 `set_tid`) that closes `close`
/// (if any), calls `restart(0, fd, 0)` and exits with the errno if the
/// call fails.
fn spawn_restarter(pid: i32, fd: BorrowedFd<'_>, close: Option<i32>) -> Result<Pid> {
    let set_tid = [pid];
    #[repr(C)]
    struct Args([u64; 11]);
    let mut a = Args([0; 11]);
    a.0[4] = nix::libc::SIGCHLD as u64;
    a.0[8] = set_tid.as_ptr() as u64;
    a.0[9] = 1;
    // SAFETY: clone3 as fork (no CLONE_VM, no new stack); the child only
    // calls restart(2) and leaves.
    let child = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_clone3,
            &a as *const Args,
            std::mem::size_of::<Args>(),
        )
    };
    if child == 0 {
        if let Some(c) = close {
            // SAFETY: the child's own copy of a descriptor.
            unsafe { nix::libc::close(c) };
        }
        let code = match ckpt::sys_restart(0, fd, 0) {
            Err(e) => e as i32,
            Ok(()) => 0,
        };
        // SAFETY: leave at once, without the parent's exit handlers.
        unsafe { nix::libc::_exit(code) }
    }
    if child < 0 {
        anyhow::bail!("clone3 with pid {pid}: {}", std::io::Error::last_os_error());
    }
    Ok(Pid::from_raw(child as i32))
}

/// Waits for `child` at most `limit`; kills it after that. The status is
/// decoded from the raw word: a corrupted image can have its process
/// killed by any signal, real-time ones included.
fn outcome_of(child: Pid, limit: Duration) -> Result<Outcome> {
    use nix::libc;
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child, into a local int.
        let r = unsafe { libc::waitpid(child.as_raw(), &mut status, libc::WNOHANG) };
        if r < 0 {
            anyhow::bail!("waitpid({child}): {}", std::io::Error::last_os_error());
        }
        if r == 0 {
            if start.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            return Ok(Outcome::Running);
        }
        if libc::WIFEXITED(status) {
            let code = libc::WEXITSTATUS(status);
            return Ok(if code > 0 && code < 134 {
                Outcome::Errno(format!("{:?}", Errno::from_raw(code)))
            } else {
                Outcome::Exited(code)
            });
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            return Ok(Outcome::Killed(
                Signal::try_from(sig)
                    .map_or_else(|_| format!("signal {sig}"), |s| format!("{s:?}")),
            ));
        }
        anyhow::bail!("unexpected wait status {status:#x}");
    }
}

/// A memfd holding `bytes`, at offset 0.
fn memfd(bytes: &[u8]) -> Result<fs::File> {
    let fd = nix::sys::memfd::memfd_create(c"image", nix::sys::memfd::MFdFlags::empty())?;
    let mut f = fs::File::from(fd);
    f.write_all(bytes)?;
    std::io::Seek::rewind(&mut f)?;
    Ok(f)
}

/// Restarts `bytes` as process `pid`, once.
pub(crate) fn attempt(pid: i32, bytes: &[u8]) -> Result<Outcome> {
    let f = memfd(bytes)?;
    let child = spawn_restarter(pid, f.as_fd(), None)?;
    outcome_of(child, Duration::from_secs(2))
}

/// An outcome in a word or two, for the checks.
fn short(o: &Outcome) -> String {
    match o {
        Outcome::Errno(e) => e.clone(),
        Outcome::Killed(s) => format!("killed by {s}"),
        Outcome::Exited(c) => format!("ran and exited {c}"),
        Outcome::Running => "ran on".to_string(),
    }
}

/// Counts outcomes by kind, for the console (`EINVAL ×12`, …).
fn tally(outcomes: &[Outcome]) -> String {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        *m.entry(short(o)).or_default() += 1;
    }
    m.iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The image with its last record (the tail) rebuilt after `records`.
fn with_tail(mut records: Vec<u8>, nr: u32) -> Vec<u8> {
    let t = Tail {
        nr_records: nr,
        bytes: records.len() as u64,
    }
    .encode();
    records.extend_from_slice(&ckpt_image::record_header(RecordType::Tail, t.len() as u32));
    records.extend_from_slice(&t);
    records
}

fn record(out: &mut Vec<u8>, kind: RecordType, payload: &[u8]) {
    out.extend_from_slice(&ckpt_image::record_header(kind, payload.len() as u32));
    out.extend_from_slice(payload);
    out.resize(out.len() + ckpt_image::padding(payload.len()), 0);
}

/// A forest of `n` rows, every one pid `pid`, and nothing else.
fn repeated_forest(header: &Header, pid: i32, n: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 128);
    record(&mut out, RecordType::Header, &header.encode());
    record(
        &mut out,
        RecordType::Forest,
        &ForestHead {
            nr_tasks: n,
            root_pid: pid,
        }
        .encode(),
    );
    let row = TaskEntry {
        pid,
        tgid: pid,
        ppid: 1,
        sid: pid,
        pgid: pid,
        flags: 0,
        exit_code: 0,
        exit_signal: 17,
        comm: [0; ckpt_image::COMM_LEN],
    };
    // The first row is the root's (the parser refuses a root flag on any
    // other).
    let root = TaskEntry {
        flags: ckpt_image::TASK_ROOT,
        ..row
    }
    .encode();
    let row = row.encode();
    for i in 0..n {
        record(
            &mut out,
            RecordType::Task,
            if i == 0 { &root } else { &row },
        );
    }
    with_tail(out, n + 2)
}

/// Scenario `err_restart_hostile_images`.
pub(crate) fn err_restart_hostile_images(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "counter_fpu")?;
    let pid = w.pid;
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, pid, &img)?;
    // A restored counter finishes at once (exit 42 is its verdict file's
    // business; any exit is "ran").
    fs::write(format!("/tmp/go-{name}"), b"go\n")?;
    let good = fs::read(&img)?;
    let offsets: Vec<(usize, usize, u32)> = RawRecords::new(&good)
        .filter_map(|r| r.ok())
        .map(|r| (r.offset as usize, r.payload.len(), r.kind))
        .collect();

    // 1. Cut at every record boundary and in the middle of every record.
    let mut cuts = Vec::new();
    for &(off, len, _) in offsets.iter().skip(1) {
        cuts.push(attempt(pid, good.get(..off).context("cut")?)?);
        let mid = off + ckpt_image::RECORD_HEADER_LEN + len / 2;
        cuts.push(attempt(pid, good.get(..mid).context("cut")?)?);
    }
    c.eq(
        "cut images: every run ends with an errno or a killed task",
        true,
        cuts.iter()
            .all(|o| matches!(o, Outcome::Errno(_) | Outcome::Killed(_))),
    );
    c.eq(
        "cut images: EINVAL before the point of no return, SIGKILL after it",
        "both",
        match (
            cuts.iter().any(|o| *o == Outcome::Errno("EINVAL".into())),
            cuts.iter().any(|o| *o == Outcome::Killed("SIGKILL".into())),
        ) {
            (true, true) => "both",
            (true, false) => "EINVAL only",
            (false, true) => "SIGKILL only",
            (false, false) => "neither",
        },
    );
    eprintln!("cut images: {} runs: {}", cuts.len(), tally(&cuts));

    // 2. Huge counts and lengths, each in an otherwise good image.
    type Edit = fn(Item<'_>) -> Option<Vec<u8>>;
    let edits: [(&str, Edit); 5] = [
        ("forest of u32::MAX tasks", |item| match item {
            Item::Forest(mut f) => {
                f.nr_tasks = u32::MAX;
                Some(f.encode().to_vec())
            }
            _ => None,
        }),
        ("u32::MAX VMAs", |item| match item {
            Item::Mm(mut h, exe) => {
                h.nr_vmas = u32::MAX;
                let mut p = h.encode().to_vec();
                p.extend_from_slice(exe);
                Some(p)
            }
            _ => None,
        }),
        ("u32::MAX descriptors", |item| match item {
            Item::Files(mut h, cwd, root) => {
                h.nr_fds = u32::MAX;
                let mut p = h.encode().to_vec();
                p.extend_from_slice(cwd);
                p.extend_from_slice(root);
                Some(p)
            }
            _ => None,
        }),
        (
            "65,536 supplementary groups announced, none given",
            |item| match item {
                Item::TaskMisc(mut m, _) => {
                    m.ngroups = 65_536;
                    Some(m.encode().to_vec())
                }
                _ => None,
            },
        ),
        (
            "a remaining nanosleep time of i64::MAX",
            |item| match item {
                Item::RestartBlock(mut rb) => {
                    rb.kind = ckpt_image::RESTART_NANOSLEEP;
                    rb.remaining_ns = i64::MAX;
                    Some(rb.encode().to_vec())
                }
                _ => None,
            },
        ),
    ];
    for (what, edit) in edits {
        let bytes = rewrite(&good, edit)?;
        c.eq(what, "EINVAL", short(&attempt(pid, &bytes)?));
    }
    // A record that announces 16 MiB and ends after its header.
    let mut big = good
        .get(..offsets.get(3).context("records")?.0)
        .context("cut")?
        .to_vec();
    big.extend_from_slice(&ckpt_image::record_header(
        RecordType::Vma,
        ckpt_image::MAX_PAYLOAD_LEN,
    ));
    c.eq(
        "a 16 MiB record that ends after its header",
        "EINVAL",
        short(&attempt(pid, &big)?),
    );

    // 3. 400,000 rows of one pid, to the coordinator: refused as
    // duplicates, quickly (it was quadratic and unkillable).
    let header = ckpt_image::ImageDecoder::new(&good)
        .find_map(|i| match i {
            Ok(Item::Header(h)) => Some(h),
            _ => None,
        })
        .context("no header")?;
    let me = std::process::id() as i32;
    let runner = nix::unistd::getppid().as_raw();
    let rows = repeated_forest(&header, runner, 400_000);
    let f = memfd(&rows)?;
    let start = Instant::now();
    let got = ckpt::sys_restart(runner, f.as_fd(), 0);
    let took = start.elapsed();
    c.errno(
        "400,000 rows of one pid, to the coordinator",
        Errno::EINVAL,
        got,
    );
    c.eq("refused within 20 s", true, took < Duration::from_secs(20));
    eprintln!("400,000 rows: refused in {took:?}");
    // 1,000,000 rows: the coordinator is killed while it reads them.
    let rows = repeated_forest(&header, me, 1_000_000);
    let f = memfd(&rows)?;
    // SAFETY: the child only makes one system call and leaves.
    let coord = match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            let _ = ckpt::sys_restart(me, f.as_fd(), 0);
            // SAFETY: leave at once.
            unsafe { nix::libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    drop(f);
    std::thread::sleep(Duration::from_millis(300));
    kill(coord, Signal::SIGKILL)?;
    let start = Instant::now();
    let end = outcome_of(coord, Duration::from_secs(5))?;
    c.eq(
        "a coordinator reading 1,000,000 rows dies of SIGKILL within 5 s",
        "Killed(\"SIGKILL\")",
        format!("{end:?}"),
    );
    eprintln!("1,000,000 rows: dead {:?} after SIGKILL", start.elapsed());

    // 4. An image read from a pipe whose writer stalls, then one whose
    // writer dies, in the middle of a record.
    let half = offsets.get(offsets.len() / 2).context("records")?.0 + 12;
    let (r, mut wr) = pipe()?;
    let child = spawn_restarter(pid, r.as_fd(), Some(wr.as_raw_fd()))?;
    drop(r);
    wr.write_all(good.get(..half).context("half")?)?;
    std::thread::sleep(Duration::from_millis(500));
    kill(child, Signal::SIGKILL)?;
    c.eq(
        "reading from a stalled pipe: SIGKILL ends it",
        "Killed(\"SIGKILL\")",
        format!("{:?}", outcome_of(child, Duration::from_secs(5))?),
    );
    drop(wr);
    let (r, mut wr) = pipe()?;
    let child = spawn_restarter(pid, r.as_fd(), Some(wr.as_raw_fd()))?;
    drop(r);
    wr.write_all(good.get(..half).context("half")?)?;
    drop(wr);
    let end = outcome_of(child, Duration::from_secs(5))?;
    c.eq(
        "the pipe's writer dies mid-record: an errno or a killed task",
        true,
        matches!(end, Outcome::Errno(_) | Outcome::Killed(_)),
    );

    // 5. What an image puts in the kernel log: a path with an escape
    // sequence and a newline is shown escaped, on one line, and one
    // message site prints at most 10 lines in 5 s, then says how many it
    // dropped.
    let moved = super::hostile::with_first_file_at(&good, b"/tmp/no\x1b[31m-such\nfile")?;
    c.eq("an open file to rename", true, moved.is_some());
    let hostile = moved.unwrap_or_default();
    super::fresh_log_window();
    super::mark_log(name)?;
    let mut runs = Vec::new();
    let start = Instant::now();
    for _ in 0..25 {
        runs.push(attempt(pid, &hostile)?);
    }
    let burst_took = start.elapsed();
    c.eq(
        "25 restarts of a missing file: ENOENT each time",
        true,
        runs.iter().all(|o| *o == Outcome::Errno("ENOENT".into())),
    );
    let new = super::log_since_mark(name)?;
    let shown = String::from_utf8_lossy(&new);
    let lines = shown
        .lines()
        .filter(|l| l.contains("cannot reopen /tmp/no"))
        .count();
    c.eq(
        "the path is shown escaped, on one line",
        true,
        shown.contains(r"cannot reopen /tmp/no\x1b[31m-such\x0afile (error -2)"),
    );
    c.eq(
        "no raw escape byte reaches the log",
        false,
        new.contains(&0x1b),
    );
    c.eq(
        "the 25 runs fit in one interval of the limit (5 s)",
        true,
        burst_took < Duration::from_secs(5),
    );
    c.eq("lines printed of the 25", 10, lines);
    std::thread::sleep(Duration::from_millis(5200));
    let _ = attempt(pid, &hostile)?;
    let new = super::log_since_mark(name)?;
    let suppressed = String::from_utf8_lossy(&new)
        .lines()
        .rev()
        .find_map(|l| {
            let (n, _) = l.split_once(" similar messages suppressed")?;
            n.rsplit(' ').next()?.parse::<usize>().ok()
        })
        .unwrap_or(0);
    c.eq(
        "the next line 5 s later says how many were dropped",
        25 - lines,
        suppressed,
    );
    eprintln!("log burst: 25 runs in {burst_took:?}, {lines} lines, {suppressed} suppressed");

    // The kernel still restarts the good image afterwards.
    c.eq(
        "the good image still restarts (the counter runs and exits)",
        "ran and exited 0",
        short(&attempt(pid, &good)?),
    );
    // An open file of a path is opened with the credentials of its
    // process, within its records: moved before them (where it would be
    // opened with the caller's own), it is refused.
    let (first, _) = super::hostile::objects_first(&good)?;
    c.eq(
        "the image with its open files moved before the task is refused",
        "EINVAL",
        short(&attempt(pid, &first)?),
    );
    drop(w);
    Ok(c.0)
}

/// A pipe with a big buffer: (read end, write end as a File).
fn pipe() -> Result<(OwnedFd, fs::File)> {
    let (r, w) = nix::unistd::pipe()?;
    // SAFETY: F_SETPIPE_SZ on our own pipe.
    unsafe { nix::libc::fcntl(w.as_raw_fd(), nix::libc::F_SETPIPE_SZ, 1 << 20) };
    Ok((r, fs::File::from(w)))
}
