//! A checkpoint that the world changes under: a caller that thaws the
//! tree it is saving and lets a task exec (a setuid program, or any
//! program), a file system that fills up, a checkpointing process killed
//! while it waits on its output, a task of the tree killed before its
//! turn.

use super::{output_file, size, Checks, Workload, CKPT, SUBTREE};
use anyhow::{bail, Context, Result};
use ckpt::{cgroup, sys_checkpoint};
use ckpt_image::{Item, Parser, RawRecords};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, setgid, setuid, ForkResult, Gid, Pid, Uid};
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use testsuite::Check;

/// The uid and gid the thaw-and-exec attack runs as.
const USER: u32 = 1000;

/// Waits until `f` holds, at most `limit`.
pub(crate) fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// Whether thread `tid` of this process sleeps inside system call `nr`.
/// Whether the task whose /proc directory is `dir` sleeps inside system
/// call `nr`.
fn asleep_in(dir: &str, nr: &str) -> bool {
    let stat = fs::read_to_string(format!("{dir}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    let sc = fs::read_to_string(format!("{dir}/syscall")).unwrap_or_default();
    state == Some("S") && sc.split_whitespace().next() == Some(nr)
}

/// A pipe of one page: (read end, write end).
fn small_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe()?;
    // SAFETY: F_SETPIPE_SZ on our own pipe.
    unsafe { nix::libc::fcntl(w.as_raw_fd(), nix::libc::F_SETPIPE_SZ, 4096) };
    Ok((r, w))
}

/// The checkpoint thread of [`checkpoint_into_small_pipe`].
type CheckpointCall = std::thread::JoinHandle<Result<(), nix::errno::Errno>>;

/// Starts checkpoint(2) of `root`'s subtree on a thread of its own, into a
/// one-page pipe nobody reads yet: (the read end, the thread, its tid).
fn checkpoint_into_small_pipe(root: i32) -> Result<(OwnedFd, CheckpointCall, i32)> {
    let (r, w) = small_pipe()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let call = std::thread::spawn(move || {
        let _ = tx.send(nix::unistd::gettid().as_raw());
        let res = sys_checkpoint(root, w.as_fd(), SUBTREE);
        drop(w);
        res
    });
    Ok((r, call, rx.recv()?))
}

/// The records of the image bytes `img` (possibly cut short) that belong
/// to the task `pid`: from its TaskState record to its TaskEnd.
fn records_of(img: &[u8], pid: i32) -> usize {
    let mut parser = Parser::new();
    let mut current = None;
    let mut n = 0;
    for rec in RawRecords::new(img) {
        let Ok(rec) = rec else { break };
        let Ok(item) = parser.feed(rec) else { break };
        if let Item::TaskState(t) = item {
            current = Some(t.pid);
        }
        if current == Some(pid) {
            n += 1;
        }
        if item == Item::TaskEnd {
            current = None;
        }
    }
    n
}

/// `ckpt-scenarios race ROOT CHILD CGROUP`, run as uid 1000 on its own
/// tree in a cgroup delegated to it: freezes the tree, starts
/// checkpoint(2) into a one-page pipe nobody reads, thaws the tree once
/// the call is stalled, makes CHILD exec (SIGUSR1), waits for the exec,
/// freezes again and drains the pipe. Prints what it saw, one `key value`
/// per line.
pub(crate) fn race(root: i32, child: i32, cg: &str) -> Result<()> {
    let cg = Path::new(cg);
    cgroup::freeze(cg, Duration::from_secs(5))?;
    let (r, call, tid) = checkpoint_into_small_pipe(root)?;
    let stalled = wait_until(Duration::from_secs(10), || {
        asleep_in(&format!("/proc/self/task/{tid}"), "463")
    });
    println!("stalled {stalled}");
    cgroup::thaw(cg)?;
    let thawed = wait_until(Duration::from_secs(5), || {
        !cgroup::is_frozen(cg).unwrap_or(true)
    });
    println!("thawed {thawed}");
    kill(Pid::from_raw(child), Signal::SIGUSR1)?;
    // (A setuid program's exe link is not readable to the caller: its
    // name tells.)
    let exec_done = wait_until(Duration::from_secs(10), || {
        fs::read_to_string(format!("/proc/{child}/comm")).is_ok_and(|c| c.trim() == "sleeper")
    });
    println!("exec_done {exec_done}");
    let status = fs::read_to_string(format!("/proc/{child}/status")).unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|u| u.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string();
    println!("euid {euid}");
    cgroup::freeze(cg, Duration::from_secs(5))?;
    let mut img = Vec::new();
    fs::File::from(r).read_to_end(&mut img)?;
    let res = call
        .join()
        .map_err(|_| anyhow::anyhow!("the checkpoint thread panicked"))?;
    println!(
        "result {}",
        match res {
            Ok(()) => "success".to_string(),
            Err(e) => format!("{e:?}"),
        }
    );
    println!("bytes {}", img.len());
    println!("records_of_child {}", records_of(&img, child));
    cgroup::thaw(cg)?;
    Ok(())
}

/// Starts `ckpt-scenarios workload exec_on_usr1` as uid 1000 in a new
/// cgroup delegated to it: returns (root pid, its child, the cgroup).
fn start_as_user(job: &str) -> Result<(i32, i32, std::path::PathBuf)> {
    let cg = cgroup::create(job)?;
    for f in ["", "cgroup.freeze", "cgroup.events", "cgroup.procs"] {
        let p = cg.join(f);
        nix::unistd::chown(&p, Some(Uid::from_raw(USER)), Some(Gid::from_raw(USER)))?;
    }
    let ready = format!("/tmp/ready-{job}");
    let _ = fs::remove_file(&ready);
    let exe = std::env::current_exe()?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("/tmp/{job}.log"))?;
    let mut cmd = Command::new(&exe);
    cmd.args(["workload", "exec_on_usr1", &ready])
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: between fork and exec the child only writes its pid into
    // the cgroup (as root, before the uid change that follows).
    let cg2 = cg.clone();
    unsafe {
        cmd.pre_exec(move || {
            fs::write(cg2.join("cgroup.procs"), std::process::id().to_string())?;
            setgid(Gid::from_raw(USER))?;
            setuid(Uid::from_raw(USER))?;
            Ok(())
        });
    }
    let child = cmd.spawn().context("starting the workload as uid 1000")?;
    let root = child.id() as i32;
    std::mem::forget(child);
    if !wait_until(Duration::from_secs(20), || Path::new(&ready).exists()) {
        bail!("workload exec_on_usr1 not ready");
    }
    let waiter = super::nth_child(root, 0)?;
    Ok((root, waiter, cg))
}

/// Scenario `err_checkpoint_thaw_exec_race`: uid 1000 checkpoints its own
/// tree into a stalled pipe, thaws it, and a child execs: a setuid-root
/// copy of a program (the caller may no longer trace it: `EPERM`), then a
/// plain copy (the task is not the one checked: `EBUSY`). Either way no
/// record of the exec'd task reaches the image, and the kernel log says
/// why.
pub(crate) fn err_checkpoint_thaw_exec_race(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let exe = std::env::current_exe()?;
    for (round, mode, expected, line) in [
        ("setuid", 0o4755, "EPERM", "no access to its memory now"),
        (
            "plain",
            0o755,
            "EBUSY",
            "exec'd a program while the image was written",
        ),
    ] {
        let job = format!("{name}-{round}");
        let target = format!("/tmp/{job}-exec");
        fs::copy(&exe, &target)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
        let (root, child, cg) = start_as_user(&job)?;
        super::mark_log(&job)?;
        let out = Command::new(&exe)
            .args(["race", &root.to_string(), &child.to_string()])
            .arg(&cg)
            .uid(USER)
            .gid(USER)
            .output()?;
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        let get = |k: &str| {
            said.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(' '))
                .unwrap_or("?")
                .to_string()
        };
        if !out.status.success() {
            c.eq(
                format!("{round}: the attack ran"),
                "ok",
                String::from_utf8_lossy(&out.stderr).trim(),
            );
        }
        c.eq(
            format!("{round}: checkpoint(2) stalled on its pipe"),
            "true",
            get("stalled"),
        );
        c.eq(
            format!("{round}: the tree thawed meanwhile"),
            "true",
            get("thawed"),
        );
        c.eq(
            format!("{round}: the child exec'd"),
            "true",
            get("exec_done"),
        );
        c.eq(
            format!("{round}: its effective uid after the exec"),
            if round == "setuid" { "0" } else { "1000" },
            get("euid"),
        );
        c.eq(format!("{round}: checkpoint(2)"), expected, get("result"));
        c.eq(
            format!("{round}: records of the exec'd task in the image"),
            "0",
            get("records_of_child"),
        );
        let log = String::from_utf8_lossy(&super::log_since_mark(&job)?).into_owned();
        c.eq(
            format!("{round}: the kernel log names the task and says {line:?}"),
            true,
            log.lines()
                .any(|l| l.contains(&format!("pid {child}")) && l.contains(line)),
        );
        let _ = cgroup::thaw(&cg);
        let _ = cgroup::kill(&cg);
        let _ = waitpid(Pid::from_raw(root), None);
        let _ = fs::remove_dir(&cg);
        let _ = fs::remove_file(&target);
    }
    Ok(c.0)
}

/// Scenario `err_checkpoint_faults`: checkpoint(2) into a full file system
/// (`ENOSPC`; `ckpt checkpoint --kill` then neither kills the tree nor
/// leaves it frozen or a partial image behind); the checkpointing process
/// killed while it waits on a pipe nobody reads (it dies, the tree stays
/// as it was and is checkpointed afterwards); a task of the tree killed
/// before its turn (`EBUSY`).
pub(crate) fn err_checkpoint_faults(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());

    // 1. A file system with 256 KiB free, and a tree of 64 MiB.
    let w = Workload::start(name, "heap_64m")?;
    let mnt = format!("/tmp/{name}-full");
    let _ = fs::create_dir(&mnt);
    let st = Command::new("/bin/mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs", &mnt])
        .status()?;
    c.eq("a 256 KiB tmpfs mounted", true, st.success());
    let img = format!("{mnt}/{name}.img");
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let f = fs::File::create(&img)?;
    c.errno(
        "checkpoint(2) into a full file system",
        nix::errno::Errno::ENOSPC,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE),
    );
    drop(f);
    c.eq(
        "the tree is left frozen, as it was",
        true,
        cgroup::is_frozen(&w.cg)?,
    );
    cgroup::thaw(&w.cg)?;
    let _ = fs::remove_file(&img);
    let out = Command::new(CKPT)
        .args(["checkpoint", &w.pid.to_string(), "-o", &img, "--kill"])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    c.eq(
        "ckpt checkpoint --kill exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "the message names the cause",
        true,
        stderr.contains("No space left on device"),
    );
    c.eq(
        "the tree is not killed, and runs thawed",
        "running",
        if !Path::new(&format!("/proc/{}", w.pid)).exists() {
            "gone"
        } else if cgroup::is_frozen(&w.cg)? {
            "frozen"
        } else {
            "running"
        },
    );
    c.eq(
        "no partial image left (neither FILE nor FILE.partial)",
        false,
        Path::new(&img).exists() || Path::new(&format!("{img}.partial")).exists(),
    );
    let _ = Command::new("/bin/umount").arg(&mnt).status();
    let _ = fs::remove_dir(&mnt);

    // 2. The checkpointing process killed while it waits on its output.
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let (r, wr) = small_pipe()?;
    // SAFETY: the child only calls checkpoint(2) and leaves.
    let writer = match unsafe { fork() }? {
        ForkResult::Child => {
            drop(r);
            let code = match sys_checkpoint(w.pid, wr.as_fd(), SUBTREE) {
                Ok(()) => 0,
                Err(e) => e as i32,
            };
            // SAFETY: leave at once.
            unsafe { nix::libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(wr);
    let stalled = wait_until(Duration::from_secs(10), || {
        asleep_in(&format!("/proc/{writer}"), "463")
    });
    c.eq(
        "checkpoint(2) stalled on a pipe nobody reads",
        true,
        stalled,
    );
    kill(writer, Signal::SIGKILL)?;
    let start = Instant::now();
    let end = waitpid(writer, None)?;
    c.eq(
        "SIGKILL ends it",
        "Signaled(SIGKILL)",
        match end {
            nix::sys::wait::WaitStatus::Signaled(_, s, _) => format!("Signaled({s:?})"),
            other => format!("{other:?}"),
        },
    );
    c.eq("within 5 s", true, start.elapsed() < Duration::from_secs(5));
    drop(r);
    c.eq(
        "the tree is left frozen, as it was",
        true,
        cgroup::is_frozen(&w.cg)?,
    );
    let (p, f) = output_file(name)?;
    c.eq(
        "checkpoint(2) of the same tree afterwards",
        "success",
        match sys_checkpoint(w.pid, f.as_fd(), SUBTREE) {
            Ok(()) => "success".to_string(),
            Err(e) => format!("{e:?}"),
        },
    );
    c.eq("an image written", true, size(&p) > 64 << 20);
    drop(w);

    // 3. A task of the tree killed while the checkpoint waits on its
    // output, before the task's turn.
    let w = Workload::start(&format!("{name}-three"), "parent_three_children")?;
    let last = *super::children_of(w.pid)?.last().context("no child")?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let (r, call, tid) = checkpoint_into_small_pipe(w.pid)?;
    c.eq(
        "checkpoint(2) stalled on its pipe",
        true,
        wait_until(Duration::from_secs(10), || {
            asleep_in(&format!("/proc/self/task/{tid}"), "463")
        }),
    );
    kill(Pid::from_raw(last), Signal::SIGKILL)?;
    let dead = wait_until(Duration::from_secs(5), || {
        fs::read_to_string(format!("/proc/{last}/stat"))
            .map_or(true, |s| s.contains(") Z") || s.contains(") X"))
    });
    c.eq("the frozen child dies of SIGKILL", true, dead);
    let mut img = Vec::new();
    fs::File::from(r).read_to_end(&mut img)?;
    let res = call
        .join()
        .map_err(|_| anyhow::anyhow!("the checkpoint thread panicked"))?;
    c.errno(
        "checkpoint(2) of a tree that lost a task",
        nix::errno::Errno::EBUSY,
        res,
    );
    c.eq(
        "records of the dead task in the image",
        0,
        records_of(&img, last),
    );
    Ok(c.0)
}
