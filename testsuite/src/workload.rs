//! Workloads: the process trees the scenarios checkpoint.
//!
//! Each workload builds its tree, creates its ready file once the tree is
//! complete, and then every task sleeps in pause(2) until it is killed.

use anyhow::{bail, Context, Result};
use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pause, pipe, read, setpgid, write, ForkResult, Pid};
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Barrier};

pub(crate) mod holds;
mod tree;

fn sleep_forever() -> ! {
    loop {
        pause();
    }
}

fn name(n: &str) {
    if let Ok(c) = CString::new(n) {
        let _ = prctl::set_name(&c);
    }
}

/// Forks a child that names itself `comm` and runs `f`, which never returns.
fn spawn(comm: &str, f: impl FnOnce()) -> Result<Pid> {
    // SAFETY: the workload is single-threaded when it forks.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            name(comm);
            f();
            sleep_forever()
        }
    }
}

/// Creates the ready file. It is written under another name and renamed,
/// so it appears only once the workload has closed it: a checkpoint taken
/// as soon as it appears must not find it open.
fn ready(path: &Path) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, b"ready\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))
}

/// Signals "one more task is ready" on a pipe.
fn notify(w: &OwnedFd) {
    let _ = write(w, b"r");
}

/// Waits for `n` notifications.
fn wait_notified(r: &OwnedFd, n: usize) -> Result<()> {
    let mut got = 0;
    let mut buf = [0u8; 64];
    while got < n {
        match read(r.as_fd(), &mut buf) {
            Ok(0) => bail!("notification pipe closed after {got} of {n}"),
            Ok(k) => got += k,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => bail!("reading notifications: {e}"),
        }
    }
    Ok(())
}

fn sleeper(ready_path: &Path) -> Result<()> {
    name("sleeper");
    ready(ready_path)
}

/// A parent and a child that, on SIGUSR1, execs the program at
/// `/tmp/NAME-exec` (for ready file `/tmp/ready-NAME`) as a sleeper with
/// ready file `/tmp/ready-NAME-exec`: a setuid copy or a plain one.
fn exec_on_usr1(ready_path: &Path) -> Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    name("parent");
    let mut usr1 = SigSet::empty();
    usr1.add(Signal::SIGUSR1);
    usr1.thread_block()?;
    let s = ready_path.to_string_lossy();
    let target = CString::new(s.replace("ready-", "") + "-exec")?;
    let child_ready = CString::new(format!("{s}-exec"))?;
    spawn("waiter", move || {
        if usr1.wait().is_ok() {
            let _ = SigSet::empty().thread_set_mask();
            let argv = [
                target.clone(),
                CString::from(c"workload"),
                CString::from(c"sleeper"),
                child_ready,
            ];
            let _ = nix::unistd::execv(&target, &argv);
        }
        std::process::exit(1)
    })?;
    ready(ready_path)
}

fn parent_three_children(ready_path: &Path) -> Result<()> {
    name("parent");
    for i in 1..=3 {
        spawn(&format!("child-{i}"), || {})?;
    }
    ready(ready_path)
}

/// Session leader `leader` (group L) with `job-a` leading group A, which
/// `job-b` and `job-a`'s child `job-a-kid` join, and `fg-kid` in group L.
fn session_two_groups(ready_path: &Path) -> Result<()> {
    name("leader");
    let (r, w) = pipe()?;
    let a = spawn("job-a", || {
        let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
        let _ = spawn("job-a-kid", || notify(&w));
        notify(&w);
    })?;
    // Both sides set the group, so it is set whichever runs first.
    let _ = setpgid(a, a);
    let b = spawn("job-b", || {
        let _ = setpgid(Pid::from_raw(0), a);
        notify(&w);
    })?;
    let _ = setpgid(b, a);
    spawn("fg-kid", || notify(&w))?;
    wait_notified(&r, 4)?;
    ready(ready_path)
}

/// A child that exited with status 7 and is not reaped.
fn zombie_child(ready_path: &Path) -> Result<()> {
    name("parent");
    // SAFETY: single-threaded.
    let child = match unsafe { fork() }? {
        ForkResult::Parent { child } => child,
        ForkResult::Child => {
            name("short-lived");
            // SAFETY: exit at once, without running the parent's atexit work.
            unsafe { nix::libc::_exit(7) }
        }
    };
    // Wait until it is a zombie, without reaping it.
    for _ in 0..5000 {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
        {
            return ready(ready_path);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    bail!("child {child} never became a zombie")
}

/// A process with four threads: the main one and worker-1..3.
fn four_threads(ready_path: &Path) -> Result<()> {
    name("threads");
    let barrier = Arc::new(Barrier::new(4));
    for i in 1..=3 {
        let b = Arc::clone(&barrier);
        std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || {
                b.wait();
                sleep_forever()
            })?;
    }
    barrier.wait();
    ready(ready_path)
}

/// `outer` → `ns-init` (pid 1 of a new pid namespace) → `middle` →
/// `orphan`; `middle` exits and is reaped, so `orphan` is reparented to the
/// namespace's init.
fn orphan(ready_path: &Path) -> Result<()> {
    name("outer");
    unshare(CloneFlags::CLONE_NEWPID).context("unshare(CLONE_NEWPID)")?;
    let (r, w) = pipe()?;
    spawn("ns-init", || {
        let (r2, w2) = pipe().expect("pipe");
        // SAFETY: single-threaded.
        match unsafe { fork() } {
            Ok(ForkResult::Parent { child }) => {
                // Wait until the orphan exists, then reap `middle`.
                let _ = wait_notified(&r2, 1);
                loop {
                    match waitpid(child, None) {
                        Ok(WaitStatus::Exited(..)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                notify(&w);
            }
            Ok(ForkResult::Child) => {
                name("middle");
                let _ = spawn("orphan", || {});
                notify(&w2);
                // SAFETY: leave at once.
                unsafe { nix::libc::_exit(0) }
            }
            Err(_) => {}
        }
    })?;
    wait_notified(&r, 1)?;
    ready(ready_path)
}

/// An orphan whose parent exited, reparented to the root of the tree, a
/// child subreaper: outer (subreaper) -> orphan, once `middle` is gone.
fn orphan_subreaper(ready_path: &Path) -> Result<()> {
    name("outer");
    prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    let (r, w) = pipe()?;
    let middle = spawn("middle", || {
        let _ = spawn("orphan", || {});
        notify(&w);
        // SAFETY: leave at once.
        unsafe { nix::libc::_exit(0) }
    })?;
    wait_notified(&r, 1)?;
    loop {
        match waitpid(middle, None) {
            Ok(WaitStatus::Exited(..)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    ready(ready_path)
}

/// 100 processes: the root, 9 children, 10 grandchildren under each.
fn tree_100(ready_path: &Path) -> Result<()> {
    name("root");
    let (r, w) = pipe()?;
    for i in 1..=9 {
        spawn(&format!("node-{i}"), || {
            for j in 0..10 {
                let _ = spawn(&format!("leaf-{i}-{j}"), || notify(&w));
            }
            notify(&w);
        })?;
    }
    wait_notified(&r, 99)?;
    ready(ready_path)
}

/// A process with a 64 MiB heap buffer filled with a pattern.
fn heap_64m(ready_path: &Path) -> Result<()> {
    name("heap");
    let len = 64 << 20;
    let mut buf: Vec<u64> = Vec::with_capacity(len / 8);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..len / 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.push(x);
    }
    // Keep it alive and touched for as long as the process lives.
    std::mem::forget(std::hint::black_box(buf));
    ready(ready_path)
}

/// The file whose appearance tells a restarted workload to finish, and the
/// file it writes its verdict to.
fn go_and_result(ready_path: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let s = ready_path.to_string_lossy();
    (
        s.replace("ready-", "go-").into(),
        s.replace("ready-", "result-").into(),
    )
}

/// Computes until told to stop, then checks itself: the verdict is written
/// to the result file by a fresh open, so it does not depend on which files
/// the process has.
fn verdict(result: &Path, ok: bool, what: String) -> ! {
    let line = format!("{} {what}\n", if ok { "PASS" } else { "FAIL" });
    let _ = std::fs::write(result, line);
    std::process::exit(if ok { 0 } else { 1 })
}

fn lcg(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

/// Integer state in general-purpose registers, a double in an xmm register
/// and four doubles in a ymm register, all advanced in a tight loop that
/// the checkpoint interrupts; after the restart the process recomputes
/// them from the iteration count and compares.
fn counter_fpu(ready_path: &Path) -> Result<()> {
    use std::arch::x86_64::*;
    name("counter");
    if !is_x86_feature_detected!("avx") {
        bail!("this CPU has no AVX: run the guest with -cpu max");
    }
    let (go, result) = go_and_result(ready_path);
    let pid = std::process::id();

    #[target_feature(enable = "avx")]
    unsafe fn spin(go: &Path, ready_path: &Path) -> (u64, u64, f64, [f64; 4]) {
        let (mut x, mut n, mut f) = (0x1234_5678u64, 0u64, 1.0f64);
        let mut acc = _mm256_setzero_pd();
        let one = _mm256_set1_pd(1.0);
        let mut announced = false;
        loop {
            for _ in 0..20_000 {
                x = lcg(x);
                f = f * 0.999 + 1.0;
                acc = _mm256_add_pd(acc, one);
                n += 1;
            }
            if !announced {
                let _ = std::fs::write(ready_path, b"ready\n");
                announced = true;
            }
            if go.exists() {
                break;
            }
        }
        let mut lanes = [0f64; 4];
        // SAFETY: `lanes` has room for four doubles.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), acc) };
        (x, n, f, lanes)
    }
    // SAFETY: AVX is present (checked above).
    let (x, n, f, lanes) = unsafe { spin(&go, ready_path) };
    let (mut y, mut g) = (0x1234_5678u64, 1.0f64);
    for _ in 0..n {
        y = lcg(y);
        g = g * 0.999 + 1.0;
    }
    let ok =
        x == y && f.to_bits() == g.to_bits() && lanes == [n as f64; 4] && std::process::id() == pid;
    verdict(
        &result,
        ok,
        format!(
            "counter n={n} pid={pid} lcg={} xmm={} ymm={}",
            x == y,
            f.to_bits() == g.to_bits(),
            lanes == [n as f64; 4]
        ),
    )
}

/// 64 MiB (or `KCKPT_HEAP_MIB`) filled with a pattern and hashed; after
/// the restart the process hashes its buffer again and compares.
fn heap_check(ready_path: &Path) -> Result<()> {
    name("heap-check");
    let (go, result) = go_and_result(ready_path);
    let mib: usize = std::env::var("KCKPT_HEAP_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let len = mib << 20;
    let mut buf: Vec<u64> = Vec::with_capacity(len / 8);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..len / 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.push(x);
    }
    let hash = |b: &[u64]| {
        b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
            (h ^ v).wrapping_mul(0x100_0000_01b3)
        })
    };
    let before = hash(&buf);
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let after = hash(&buf);
    verdict(
        &result,
        before == after && buf.len() == len / 8,
        format!("heap {mib} MiB hash equal={}", before == after),
    )
}

/// The demo's pipeline: `numbers | squares | printer`, three processes and
/// two pipes under a shell-like root. `numbers` writes 1, 2, 3… one line
/// every 200 ms, `squares` turns each into `N² = M`, `printer` prints each
/// line with its own running count to the log (stdout). After a restart
/// the count and the numbers go on where they were, without a gap.
fn demo_pipeline(ready_path: &Path) -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    use std::os::fd::{FromRawFd, IntoRawFd};
    name("pipeline");
    let (ar, aw) = pipe().context("pipe")?;
    let (br, bw) = pipe().context("pipe")?;
    let (ar, aw, br, bw) = (
        ar.into_raw_fd(),
        aw.into_raw_fd(),
        br.into_raw_fd(),
        bw.into_raw_fd(),
    );
    // Each stage: stdin and stdout from the pipes, the other ends closed.
    let stage = |comm: &str, input: i32, output: i32, body: fn()| {
        spawn(comm, move || {
            // SAFETY: plain dup2/close on descriptors this process owns.
            unsafe {
                if input >= 0 {
                    nix::libc::dup2(input, 0);
                }
                if output >= 0 {
                    nix::libc::dup2(output, 1);
                }
                for fd in [ar, aw, br, bw] {
                    nix::libc::close(fd);
                }
            }
            body();
        })
    };
    stage("numbers", -1, aw, || {
        let mut out = std::io::stdout().lock();
        for n in 1u64.. {
            if writeln!(out, "{n}").and_then(|()| out.flush()).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    })?;
    stage("squares", ar, bw, || {
        let mut out = std::io::stdout().lock();
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let n: u64 = line.trim().parse().unwrap_or(0);
            if writeln!(out, "{n}\u{b2} = {}", n * n)
                .and_then(|()| out.flush())
                .is_err()
            {
                return;
            }
        }
    })?;
    stage("printer", br, -1, || {
        // SAFETY: fd 0 is this process's stdin (the pipe), owned here.
        let input = BufReader::new(unsafe { std::fs::File::from_raw_fd(0) });
        let mut out = std::io::stdout().lock();
        for (i, line) in input.lines().map_while(Result::ok).enumerate() {
            let _ = writeln!(
                out,
                "printer (pid {}): line {}: {line}",
                std::process::id(),
                i + 1
            );
            let _ = out.flush();
        }
    })?;
    // SAFETY: the root keeps no pipe end.
    unsafe {
        for fd in [ar, aw, br, bw] {
            nix::libc::close(fd);
        }
    }
    ready(ready_path)?;
    sleep_forever()
}

/// A parent blocked in wait4(2) for its child, which sleeps in pause(2).
/// After the restart the scenario kills the child with SIGTERM: the
/// restarted wait4 must return the child's pid and that status (not
/// EINTR), and the parent writes its verdict.
fn wait4_parent(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("waiter");
    let (_, result) = go_and_result(ready_path);
    let child = spawn("sleeper-kid", sleep_forever_fn)?;
    ready(ready_path)?;
    let mut status = 0;
    // SAFETY: waits for this process's own child; `status` is valid.
    let got = unsafe { libc::wait4(child.as_raw(), &mut status, 0, std::ptr::null_mut()) };
    let errno = std::io::Error::last_os_error();
    let ok = got == child.as_raw()
        && libc::WIFSIGNALED(status)
        && libc::WTERMSIG(status) == libc::SIGTERM;
    verdict(
        &result,
        ok,
        if ok {
            "wait4 returned the child killed by SIGTERM".into()
        } else {
            format!("wait4 gave {got} status {status:#x} ({errno})")
        },
    )
}

fn sleep_forever_fn() {
    sleep_forever()
}

/// A parent and a child created with clone(CLONE_FILES) but not as a
/// thread: they share one file table, which checkpoint(2) refuses.
fn shared_files_table(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("files-sharer");
    // SAFETY: clone without CLONE_VM and without a stack behaves like
    // fork (the child runs on a copy of this single-threaded process),
    // except that the file table is shared.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_FILES | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match r {
        0 => {
            name("files-sharee");
            sleep_forever()
        }
        r if r < 0 => bail!("clone(CLONE_FILES) failed"),
        _ => {}
    }
    ready(ready_path)?;
    sleep_forever()
}

/// A process whose leader thread exits while a second thread runs on:
/// the leader is a zombie, its process lives in the other thread.
fn zombie_leader(ready_path: &Path) -> Result<()> {
    name("zombie-leader");
    std::thread::Builder::new()
        .name("survivor".into())
        .spawn(sleep_forever_fn)
        .context("spawning the thread")?;
    ready(ready_path)?;
    // SAFETY: exit(2) of this thread only; the process goes on in the
    // other thread.
    unsafe { nix::libc::syscall(nix::libc::SYS_exit, 0) };
    sleep_forever()
}

/// `n` small processes for the benchmark: the root, `k` children and the
/// rest spread under them as grandchildren (k about the square root of
/// n), all sleeping in pause(2).
fn tree_of(n: usize, ready_path: &Path) -> Result<()> {
    if n == 0 {
        bail!("a tree of 0 processes");
    }
    name("root");
    let (r, w) = pipe()?;
    let rest = n - 1;
    let k = (1..=rest).find(|k| k * k >= rest).unwrap_or(0);
    let mut left = rest;
    for i in 0..k {
        if left == 0 {
            break;
        }
        left -= 1;
        let leaves = (rest - k).div_ceil(k).min(left);
        left -= leaves;
        spawn(&format!("node-{i}"), || {
            for j in 0..leaves {
                let _ = spawn(&format!("leaf-{i}-{j}"), || notify(&w));
            }
            notify(&w);
        })?;
    }
    wait_notified(&r, rest)?;
    ready(ready_path)
}

/// Prints `tick N` every 200 ms, forever: the demo's workload.
fn ticker(ready_path: &Path) -> Result<()> {
    use std::io::Write;
    name("ticker");
    ready(ready_path)?;
    for n in 1u64.. {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "tick {n} (pid {})", std::process::id());
        let _ = out.flush();
        drop(out);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Ok(())
}

/// Files, working directory and umask set up before the checkpoint and
/// checked after the restart.
fn files_check(ready_path: &Path) -> Result<()> {
    use nix::fcntl::{fcntl, open, FcntlArg, FdFlag, OFlag};
    use nix::sys::stat::{umask, Mode};
    use nix::unistd::{lseek, Whence};
    name("files");
    let (go, result) = go_and_result(ready_path);
    let base = result.to_string_lossy().replace("result-", "files-");
    let (append_path, offset_path) = (format!("{base}-append"), format!("{base}-offset"));
    std::env::set_current_dir("/tmp")?;
    umask(Mode::from_bits_truncate(0o027));
    let mode = Mode::from_bits_truncate(0o644);
    let append = open(
        append_path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_APPEND,
        mode,
    )?;
    write(&append, b"before\n")?;
    fcntl(&append, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    let offset = open(
        offset_path.as_str(),
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_TRUNC,
        mode,
    )?;
    write(&offset, &[7u8; 100])?;
    lseek(&offset, 37, Whence::SeekSet)?;
    // A path-only descriptor: it must come back O_PATH (fdinfo flags are
    // compared), not opened for reading.
    let opath = open("/tmp", OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let mut bad = Vec::new();
    if std::env::current_dir().ok().as_deref() != Some(Path::new("/tmp")) {
        bad.push("cwd");
    }
    let fl = fcntl(&opath, FcntlArg::F_GETFL).unwrap_or(0);
    if OFlag::from_bits_truncate(fl) & OFlag::O_PATH != OFlag::O_PATH {
        bad.push("O_PATH");
    }
    if umask(Mode::from_bits_truncate(0o022)).bits() != 0o027 {
        bad.push("umask");
    }
    if lseek(&offset, 0, Whence::SeekCur).ok() != Some(37) {
        bad.push("offset");
    }
    let fl = fcntl(&append, FcntlArg::F_GETFL).unwrap_or(0);
    if OFlag::from_bits_truncate(fl) & OFlag::O_APPEND != OFlag::O_APPEND {
        bad.push("O_APPEND");
    }
    let fd = fcntl(&append, FcntlArg::F_GETFD).unwrap_or(0);
    if FdFlag::from_bits_truncate(fd) != FdFlag::FD_CLOEXEC {
        bad.push("FD_CLOEXEC");
    }
    let _ = write(&append, b"after\n");
    if std::fs::read_to_string(&append_path).ok().as_deref() != Some("before\nafter\n") {
        bad.push("appended data");
    }
    if std::fs::read_link("/proc/self/fd/0").ok().as_deref() != Some(Path::new("/dev/null")) {
        bad.push("stdin");
    }
    let ok = bad.is_empty();
    verdict(&result, ok, format!("files wrong={bad:?}"))
}

static USR1_ON_ALTSTACK: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
static TERM_VALUE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
static HUP_COUNT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
static ALTSTACK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
const ALTSTACK_SIZE: usize = 64 * 1024;

extern "C" fn on_usr1(_: i32) {
    let local = 0u8;
    let here = std::ptr::addr_of!(local) as usize;
    let base = ALTSTACK.load(std::sync::atomic::Ordering::Relaxed);
    let on = (base..base + ALTSTACK_SIZE).contains(&here);
    USR1_ON_ALTSTACK.store(on as i32, std::sync::atomic::Ordering::Relaxed);
}

extern "C" fn on_term(_: i32, info: *mut nix::libc::siginfo_t, _: *mut std::ffi::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let v = unsafe { (*info).si_value().sival_ptr as usize as i32 };
    TERM_VALUE.store(v, std::sync::atomic::Ordering::Relaxed);
}

extern "C" fn on_hup(_: i32) {
    HUP_COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Signal state set up before the checkpoint and checked after the
/// restart: a handler on an alternate stack, an ignored signal, a blocked
/// signal pending for the process with a queued value, and a blocked
/// signal pending for the thread.
fn signals_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    use std::sync::atomic::Ordering::Relaxed;
    name("signals");
    let (go, result) = go_and_result(ready_path);
    // SAFETY: plain libc calls on this single-threaded process with valid
    // arguments; the handlers only touch atomics.
    unsafe {
        let stack = Box::leak(vec![0u8; ALTSTACK_SIZE].into_boxed_slice());
        ALTSTACK.store(stack.as_mut_ptr() as usize, Relaxed);
        let ss = libc::stack_t {
            ss_sp: stack.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: ALTSTACK_SIZE,
        };
        if libc::sigaltstack(&ss, std::ptr::null_mut()) != 0 {
            bail!("sigaltstack failed");
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = libc::SA_ONSTACK;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        sa.sa_sigaction = libc::SIG_IGN;
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
        sa.sa_sigaction = on_term as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        sa.sa_sigaction = on_hup as *const () as usize;
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGHUP, &sa, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        // Pending for the process, with a value; pending for this thread.
        let value = libc::sigval {
            sival_ptr: 42usize as *mut libc::c_void,
        };
        libc::sigqueue(libc::getpid(), libc::SIGTERM, value);
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::gettid(),
            libc::SIGHUP,
        );
    }
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let mut bad = Vec::new();
    // SAFETY: as above.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGUSR2, std::ptr::null(), &mut old);
        if old.sa_sigaction != libc::SIG_IGN {
            bad.push("SIGUSR2 ignored");
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
        if libc::sigismember(&set, libc::SIGTERM) != 1 || libc::sigismember(&set, libc::SIGHUP) != 1
        {
            bad.push("blocked mask");
        }
        let mut pend: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pend);
        if libc::sigismember(&pend, libc::SIGTERM) != 1
            || libc::sigismember(&pend, libc::SIGHUP) != 1
        {
            bad.push("pending");
        }
        libc::raise(libc::SIGUSR1);
        if USR1_ON_ALTSTACK.load(Relaxed) != 1 {
            bad.push("handler on the altstack");
        }
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        if TERM_VALUE.load(Relaxed) != 42 {
            bad.push("queued SIGTERM value");
        }
        if HUP_COUNT.load(Relaxed) != 1 {
            bad.push("thread-directed SIGHUP");
        }
    }
    let ok = bad.is_empty();
    verdict(&result, ok, format!("signals wrong={bad:?}"))
}

/// Holds a file that was deleted after it was opened.
/// Floating-point and integer work forever: load beside restarts, so that
/// FPU state switches happen while tasks restore theirs.
fn burner(ready_path: &Path) -> Result<()> {
    name("burner");
    ready(ready_path)?;
    let mut x = 1.0f64;
    let mut v = 1u64;
    loop {
        for _ in 0..1_000_000 {
            x = std::hint::black_box(x * 1.000001 + 0.5).sqrt();
            v = lcg(v);
        }
        std::hint::black_box((x, v));
    }
}

/// Blocked in futex(2) FUTEX_WAIT on a word nobody wakes.
fn futex_wait(ready_path: &Path) -> Result<()> {
    name("futex");
    let word = Box::leak(Box::new(0u32));
    ready(ready_path)?;
    loop {
        // SAFETY: waits on a valid, leaked word while it is 0.
        unsafe {
            nix::libc::syscall(
                nix::libc::SYS_futex,
                word as *mut u32,
                nix::libc::FUTEX_WAIT | nix::libc::FUTEX_PRIVATE_FLAG,
                0u32,
                std::ptr::null::<nix::libc::timespec>(),
            )
        };
    }
}

/// Reads the clock through the vdso in a loop (musl caches the vdso's
/// address); after the restart it checks that the monotonic clock moved
/// forward from where it was and that a second read agrees with a real
/// clock_gettime(2) system call.
fn vdso_clock(ready_path: &Path) -> Result<()> {
    name("vdso-clock");
    let (go, result) = go_and_result(ready_path);
    let mut last = std::time::Instant::now();
    let mut backwards = 0u64;
    let mut reads = 0u64;
    let mut announced = false;
    while !go.exists() {
        for _ in 0..1000 {
            let now = std::time::Instant::now();
            if now < last {
                backwards += 1;
            }
            last = now;
            reads += 1;
        }
        if !announced {
            ready(ready_path)?;
            announced = true;
        }
    }
    let via_vdso = std::time::Instant::now();
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a direct system call with a valid timespec.
    unsafe {
        nix::libc::syscall(
            nix::libc::SYS_clock_gettime,
            nix::libc::CLOCK_MONOTONIC,
            &mut ts,
        )
    };
    let after = std::time::Instant::now();
    let sys_ns = ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128;
    // Instant has no public epoch: compare durations from `last`.
    let ok = backwards == 0 && via_vdso >= last && after >= via_vdso && reads > 0 && sys_ns > 0;
    verdict(&result, ok, format!("vdso clock backwards={backwards}"))
}

/// One nanosleep(2) of 3 s, checkpointed and restarted in the middle: it
/// must return 0 (not EINTR) after at least 3 s in all.
fn nanosleep_once(ready_path: &Path) -> Result<()> {
    name("nanosleep");
    let (_, result) = go_and_result(ready_path);
    ready(ready_path)?;
    let start = std::time::Instant::now();
    let req = nix::libc::timespec {
        tv_sec: 3,
        tv_nsec: 0,
    };
    let mut rem = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespecs.
    let ret = unsafe { nix::libc::nanosleep(&req, &mut rem) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let slept = start.elapsed();
    let ok = ret == 0 && slept >= std::time::Duration::from_secs(3);
    verdict(
        &result,
        ok,
        format!(
            "nanosleep returned {} (errno {}) slept>=3s={}",
            ret,
            if ret == 0 { 0 } else { errno },
            slept.as_secs() >= 3
        ),
    )
}

#[repr(C, align(32))]
struct RseqArea([u32; 8]);

/// rseq registration, robust list, parent-death signal, personality and a
/// resource limit set before the checkpoint and checked after the restart.
/// CAP_CHOWN, CAP_DAC_OVERRIDE and CAP_NET_RAW: dropped by `misc_check`.
const DROPPED_CAPS: u64 = 1 | 2 | (1 << 13);

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective and permitted sets (capget(2), 64-bit version 3).
fn get_caps() -> Result<(u64, u64)> {
    let mut h = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: a header and two data structs, as version 3 takes.
    if unsafe { nix::libc::syscall(nix::libc::SYS_capget, &mut h, d.as_mut_ptr()) } != 0 {
        bail!("capget: {}", std::io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok((
        join(d[0].effective, d[1].effective),
        join(d[0].permitted, d[1].permitted),
    ))
}

/// Removes `drop` from the effective and permitted sets (capset(2)).
fn set_caps(drop: u64) -> Result<()> {
    let (eff, perm) = get_caps()?;
    let (eff, perm) = (eff & !drop, perm & !drop);
    let mut h = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let d = [
        CapData {
            effective: eff as u32,
            permitted: perm as u32,
            inheritable: 0,
        },
        CapData {
            effective: (eff >> 32) as u32,
            permitted: (perm >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: a header and two data structs, as version 3 takes.
    if unsafe { nix::libc::syscall(nix::libc::SYS_capset, &mut h, d.as_ptr()) } != 0 {
        bail!("capset: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

fn misc_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("misc");
    let (go, result) = go_and_result(ready_path);
    const RSEQ_SIG: u32 = 0x5305_3053;
    let area: &'static mut RseqArea = Box::leak(Box::new(RseqArea([0; 8])));
    area.0[1] = u32::MAX; // cpu_id: RSEQ_CPU_ID_UNINITIALIZED
    let head: &'static mut [u64; 3] = Box::leak(Box::new([0u64; 3]));
    head[0] = head.as_ptr() as u64; // an empty list points to itself
                                    // SAFETY: system calls with valid, leaked arguments.
    unsafe {
        if libc::syscall(libc::SYS_rseq, area as *mut RseqArea, 32u32, 0, RSEQ_SIG) != 0 {
            bail!(
                "rseq registration failed: {}",
                std::io::Error::last_os_error()
            );
        }
        libc::syscall(libc::SYS_set_robust_list, head.as_ptr(), 24usize);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGUSR2);
        libc::personality(0x0040000); // ADDR_NO_RANDOMIZE
        let lim = libc::rlimit {
            rlim_cur: 200,
            rlim_max: 300,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        // Capabilities given up, and no new privileges: a restart by root
        // must not give them back.
        libc::prctl(libc::PR_CAPBSET_DROP, 22 /* CAP_SYS_BOOT */, 0, 0, 0);
        set_caps(DROPPED_CAPS)?;
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        // Not dumpable (not traceable by its own user), as ssh-agent does.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let mut bad = Vec::new();
    // SAFETY: as above.
    unsafe {
        let again = libc::syscall(libc::SYS_rseq, area as *mut RseqArea, 32u32, 0, RSEQ_SIG);
        if again != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EBUSY) {
            bad.push("rseq registered");
        }
        if std::ptr::read_volatile(&area.0[1]) >= 2 {
            bad.push("rseq cpu_id");
        }
        let (mut ptr, mut len) = (std::ptr::null_mut::<libc::c_void>(), 0usize);
        libc::syscall(libc::SYS_get_robust_list, 0, &mut ptr, &mut len);
        if ptr as u64 != head.as_ptr() as u64 || len != 24 {
            bad.push("robust list");
        }
        let mut sig = 0i32;
        libc::prctl(libc::PR_GET_PDEATHSIG, &mut sig);
        if sig != libc::SIGUSR2 {
            bad.push("pdeath signal");
        }
        if libc::personality(0xffff_ffff) & 0x0040000 == 0 {
            bad.push("personality");
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if (lim.rlim_cur, lim.rlim_max) != (200, 300) {
            bad.push("RLIMIT_NOFILE");
        }
        if libc::prctl(libc::PR_CAPBSET_READ, 22, 0, 0, 0) != 0 {
            bad.push("bounding set");
        }
        if libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 {
            bad.push("no_new_privs");
        }
        if libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 {
            bad.push("not dumpable");
        }
    }
    match get_caps() {
        Ok((eff, perm)) if eff & DROPPED_CAPS == 0 && perm & DROPPED_CAPS == 0 => {}
        _ => bad.push("capabilities"),
    }
    let ok = bad.is_empty();
    verdict(&result, ok, format!("misc wrong={bad:?}"))
}

/// Runs as uid/gid 1000 (real, effective, saved); after the restart by
/// root it must still be 1000 everywhere, not root.
fn creds_check(ready_path: &Path) -> Result<()> {
    use nix::unistd::{getresgid, getresuid, setresgid, setresuid, Gid, Uid};
    name("creds");
    let (go, result) = go_and_result(ready_path);
    // Supplementary groups of its own (the restarting root has others).
    nix::unistd::setgroups(&[Gid::from_raw(100), Gid::from_raw(200)])?;
    // A user's process holds files that user may open: its log becomes
    // uid 1000's (restart reopens files with the restored credentials).
    nix::unistd::fchown(
        std::io::stdout(),
        Some(Uid::from_raw(1000)),
        Some(Gid::from_raw(1000)),
    )?;
    setresgid(
        Gid::from_raw(1000),
        Gid::from_raw(1000),
        Gid::from_raw(1000),
    )?;
    setresuid(
        Uid::from_raw(1000),
        Uid::from_raw(1000),
        Uid::from_raw(1000),
    )?;
    // Its dumpable mode (the change of ids made it non-dumpable): the
    // same after the restart, whoever restarts it.
    // SAFETY: a query of this process's own flag.
    let dumpable_before = unsafe { nix::libc::prctl(nix::libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let u = getresuid()?;
    let g = getresgid()?;
    let mut groups: Vec<u32> = nix::unistd::getgroups()?
        .iter()
        .map(|g| g.as_raw())
        .collect();
    groups.sort_unstable();
    let ok = [u.real, u.effective, u.saved]
        .iter()
        .all(|x| x.as_raw() == 1000)
        && [g.real, g.effective, g.saved]
            .iter()
            .all(|x| x.as_raw() == 1000)
        && groups == [100, 200];
    // SAFETY: as above.
    let dumpable = unsafe { nix::libc::prctl(nix::libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    verdict(
        &result,
        ok && dumpable == dumpable_before,
        format!(
            "creds uid={} euid={} gid={} groups={groups:?} dumpable={dumpable_before}->{dumpable}",
            u.real, u.effective, g.real
        ),
    )
}

static ALARMS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_alarm(_: i32) {
    ALARMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// An ITIMER_REAL of 1.5 s armed before the checkpoint must fire once
/// after the restart.
fn itimer_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    use std::sync::atomic::Ordering::Relaxed;
    name("itimer");
    let (go, result) = go_and_result(ready_path);
    // SAFETY: installs a handler that only touches an atomic, then arms
    // the timer with a valid itimerval.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as usize;
        libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
        let it = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: 1,
                tv_usec: 500_000,
            },
        };
        libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut());
    }
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let before = ALARMS.load(Relaxed);
    let start = std::time::Instant::now();
    while ALARMS.load(Relaxed) == 0 && start.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::yield_now();
    }
    let fired = ALARMS.load(Relaxed);
    verdict(
        &result,
        before == 0 && fired == 1,
        format!("itimer fired_before_go={before} fired={fired}"),
    )
}

/// Mappings that need more than anonymous read-write memory: a private
/// file mapping with some pages written (copy-on-write) and some not, a
/// region made read-only after it was filled, and a PROT_NONE region that
/// holds data. After the restart each must hold what it held, with the
/// same protection.
fn mappings_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("mappings");
    let (go, result) = go_and_result(ready_path);
    let page = 4096usize;
    let path = ready_path.to_string_lossy().replace("ready-", "mapped-");
    std::fs::write(
        &path,
        (0..4 * page)
            .map(|i| (i / page) as u8 + b'A')
            .collect::<Vec<u8>>(),
    )?;
    let file = std::fs::File::open(&path)?;
    // SAFETY: mappings of fresh regions and of a file we hold open; every
    // access below stays inside them and respects their protection.
    let (fmap, ro, none) = unsafe {
        use std::os::fd::AsRawFd;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let fmap = libc::mmap(
            std::ptr::null_mut(),
            4 * page,
            prot,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        ) as *mut u8;
        // Dirty pages 1 and 3; pages 0 and 2 stay the file's.
        *fmap.add(page) = b'x';
        *fmap.add(3 * page + 7) = b'y';
        let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let ro = libc::mmap(std::ptr::null_mut(), 2 * page, prot, anon, -1, 0) as *mut u8;
        std::ptr::write_bytes(ro, 0x5a, 2 * page);
        libc::mprotect(ro.cast(), 2 * page, libc::PROT_READ);
        let none = libc::mmap(std::ptr::null_mut(), page, prot, anon, -1, 0) as *mut u8;
        std::ptr::write_bytes(none, 0xa5, page);
        libc::mprotect(none.cast(), page, libc::PROT_NONE);
        (fmap, ro, none)
    };
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let perms = |addr: *mut u8| -> String {
        let a = addr as usize;
        maps.lines()
            .find(|l| {
                let mut r = l.split(['-', ' ']);
                let s = usize::from_str_radix(r.next().unwrap_or("0"), 16).unwrap_or(0);
                let e = usize::from_str_radix(r.next().unwrap_or("0"), 16).unwrap_or(0);
                (s..e).contains(&a)
            })
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_string()
    };
    let mut bad = Vec::new();
    // SAFETY: as above; PROT_NONE is lifted before it is read.
    unsafe {
        let expect_file = [b'A', b'x', b'C', b'D'];
        for (i, want) in expect_file.iter().enumerate() {
            if *fmap.add(i * page) != *want {
                bad.push("private file mapping contents");
            }
        }
        if *fmap.add(3 * page + 7) != b'y' || *fmap.add(page + 1) != b'B' {
            bad.push("dirty file page");
        }
        if perms(fmap) != "rw-p" || perms(ro) != "r--p" || perms(none) != "---p" {
            bad.push("protection");
        }
        if (0..2 * page).any(|i| *ro.add(i) != 0x5a) {
            bad.push("read-only region contents");
        }
        libc::mprotect(none.cast(), page, libc::PROT_READ);
        if (0..page).any(|i| *none.add(i) != 0xa5) {
            bad.push("PROT_NONE region contents");
        }
    }
    bad.dedup();
    let ok = bad.is_empty();
    verdict(&result, ok, format!("mappings wrong={bad:?}"))
}

/// Runs workload `kind`; never returns unless setting up failed.
/// Write end of the pipe `pipe_check` blocks on, for its SIGUSR1 handler.
static PIPE_WAKE_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_wake(_: nix::libc::c_int) {
    let fd = PIPE_WAKE_FD.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: write(2) is async-signal-safe; one byte from a static.
    unsafe { nix::libc::write(fd, b"x".as_ptr().cast(), 1) };
}

static SUSPEND_WOKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_usr1_woken(_: nix::libc::c_int) {
    SUSPEND_WOKEN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Waits in sigsuspend(2) with a mask of the call's own (only SIGUSR2
/// blocked) while its own blocks SIGTERM and SIGHUP. Frozen inside the
/// call, the task runs with the call's mask and keeps its own aside;
/// after the restart, woken by SIGUSR1, it must find its own mask again.
fn sigsuspend_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("sigsuspend");
    let (_, result) = go_and_result(ready_path);
    // SAFETY: plain libc calls with valid arguments; the handler only
    // stores to an atomic.
    let got = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1_woken as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        let mut own: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut own);
        libc::sigaddset(&mut own, libc::SIGTERM);
        libc::sigaddset(&mut own, libc::SIGHUP);
        libc::sigaddset(&mut own, libc::SIGUSR1);
        libc::sigprocmask(libc::SIG_SETMASK, &own, std::ptr::null_mut());
        let mut during: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut during);
        libc::sigaddset(&mut during, libc::SIGUSR2);
        ready(ready_path)?;
        while !SUSPEND_WOKEN.load(std::sync::atomic::Ordering::Relaxed) {
            libc::sigsuspend(&during);
        }
        let mut now: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, std::ptr::null(), &mut now);
        [
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGINT,
        ]
        .map(|s| libc::sigismember(&now, s) == 1)
    };
    let want = [true, true, true, false, false];
    verdict(
        &result,
        got == want,
        format!("mask after sigsuspend (TERM HUP USR1 USR2 INT blocked): {got:?}"),
    )
}

/// Size given to the pipe with bytes in flight, and how many it holds.
const PIPE_CAPACITY: i32 = 128 * 1024;
const PIPE_IN_FLIGHT: usize = 100_000;

fn pipe_pattern(i: usize) -> u8 {
    (lcg(i as u64) >> 33) as u8
}

/// Three pipes it holds both ends of: one of 128 KiB with 100,000 bytes in
/// flight, one non-blocking with "hello" in it, and an empty one it blocks
/// reading. After the restart a SIGUSR1 handler (SA_RESTART) writes a byte
/// into the empty one, the restarted read(2) returns it, and the program
/// checks every pipe: capacity, the bytes in order, the flags, and that
/// both ends are still one pipe.
fn pipe_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("pipes");
    let (_, result) = go_and_result(ready_path);
    let mut fds = [[0i32; 2]; 3];
    // SAFETY: plain libc calls with valid arguments on this
    // single-threaded process; the handler only writes one byte.
    unsafe {
        for (i, p) in fds.iter_mut().enumerate() {
            let flags = if i == 1 { libc::O_NONBLOCK } else { 0 };
            if libc::pipe2(p.as_mut_ptr(), flags) != 0 {
                bail!("pipe2 failed");
            }
        }
        if libc::fcntl(fds[0][1], libc::F_SETPIPE_SZ, PIPE_CAPACITY) != PIPE_CAPACITY {
            bail!("F_SETPIPE_SZ failed");
        }
        let data: Vec<u8> = (0..PIPE_IN_FLIGHT).map(pipe_pattern).collect();
        if libc::write(fds[0][1], data.as_ptr().cast(), data.len()) != data.len() as isize {
            bail!("filling the pipe failed");
        }
        if libc::write(fds[1][1], b"hello".as_ptr().cast(), 5) != 5 {
            bail!("writing hello failed");
        }
        PIPE_WAKE_FD.store(fds[2][1], std::sync::atomic::Ordering::Relaxed);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1_wake as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    ready(ready_path)?;
    let mut b = [0u8; 1];
    // SAFETY: reads one byte into a valid buffer; blocks until the
    // handler (after the restart) writes it.
    let n = unsafe { libc::read(fds[2][0], b.as_mut_ptr().cast(), 1) };
    let mut bad = Vec::new();
    if n != 1 || b[0] != b'x' {
        bad.push(format!(
            "read on the empty pipe gave {n} {:?}",
            b[0] as char
        ));
    }
    // SAFETY: plain libc calls on this process's own descriptors.
    unsafe {
        let size = libc::fcntl(fds[0][0], libc::F_GETPIPE_SZ);
        if size != PIPE_CAPACITY {
            bad.push(format!("capacity {size}"));
        }
        let mut got = vec![0u8; PIPE_IN_FLIGHT + 1];
        let mut have = 0;
        while have < PIPE_IN_FLIGHT {
            let n = libc::read(
                fds[0][0],
                got[have..].as_mut_ptr().cast(),
                PIPE_IN_FLIGHT - have,
            );
            if n <= 0 {
                break;
            }
            have += n as usize;
        }
        let wrong = (0..have).filter(|&i| got[i] != pipe_pattern(i)).count();
        if have != PIPE_IN_FLIGHT || wrong != 0 {
            bad.push(format!("{have} bytes in flight, {wrong} wrong"));
        }
        libc::fcntl(fds[0][0], libc::F_SETFL, libc::O_NONBLOCK);
        if libc::read(fds[0][0], got.as_mut_ptr().cast(), 1) != -1 {
            bad.push("more bytes than were in flight".into());
        }
        for (i, p) in fds.iter().enumerate() {
            let rf = libc::fcntl(p[0], libc::F_GETFL);
            let wf = libc::fcntl(p[1], libc::F_GETFL);
            let nb = if i == 1 { libc::O_NONBLOCK } else { 0 };
            let rf_want = libc::O_RDONLY | nb | if i == 0 { libc::O_NONBLOCK } else { 0 };
            if rf & (libc::O_ACCMODE | libc::O_NONBLOCK) != rf_want
                || wf & (libc::O_ACCMODE | libc::O_NONBLOCK) != libc::O_WRONLY | nb
            {
                bad.push(format!("pipe {i} flags {rf:o}/{wf:o}"));
            }
            let (mut a, mut b): (libc::stat, libc::stat) = (std::mem::zeroed(), std::mem::zeroed());
            libc::fstat(p[0], &mut a);
            libc::fstat(p[1], &mut b);
            if a.st_ino != b.st_ino {
                bad.push(format!("pipe {i}: the ends are two pipes"));
            }
        }
        let mut hello = [0u8; 8];
        let n = libc::read(fds[1][0], hello.as_mut_ptr().cast(), 8);
        if n != 5 || &hello[..5] != b"hello" {
            bad.push(format!("non-blocking pipe gave {n} bytes"));
        }
        if libc::read(fds[1][0], hello.as_mut_ptr().cast(), 8) != -1
            || *libc::__errno_location() != libc::EAGAIN
        {
            bad.push("an empty non-blocking pipe did not give EAGAIN".into());
        }
    }
    let ok = bad.is_empty();
    verdict(
        &result,
        ok,
        if ok { "pipes".into() } else { bad.join("; ") },
    )
}

pub fn run(kind: &str, ready_path: &Path) -> Result<()> {
    if let Some(what) = kind.strip_prefix("holds_") {
        holds::holds(what, ready_path)?;
        sleep_forever();
    }
    match kind {
        "sleeper" => sleeper(ready_path)?,
        "exec_on_usr1" => exec_on_usr1(ready_path)?,
        "parent_three_children" => parent_three_children(ready_path)?,
        "session_two_groups" => session_two_groups(ready_path)?,
        "zombie_child" => zombie_child(ready_path)?,
        "four_threads" => four_threads(ready_path)?,
        "orphan" => orphan(ready_path)?,
        "orphan_subreaper" => orphan_subreaper(ready_path)?,
        "tree_100" => tree_100(ready_path)?,
        "heap_64m" => heap_64m(ready_path)?,
        "counter_fpu" => counter_fpu(ready_path)?,
        "ticker" => ticker(ready_path)?,
        "demo_pipeline" => demo_pipeline(ready_path)?,
        "wait4_parent" => wait4_parent(ready_path)?,
        "shared_files_table" => shared_files_table(ready_path)?,
        "zombie_leader" => zombie_leader(ready_path)?,
        kind if kind.starts_with("tree_of_") => {
            let n = kind
                .trim_start_matches("tree_of_")
                .parse()
                .context("tree_of_N")?;
            tree_of(n, ready_path)?
        }
        "files_check" => files_check(ready_path)?,
        "signals_check" => signals_check(ready_path)?,
        "burner" => burner(ready_path)?,
        "futex_wait" => futex_wait(ready_path)?,
        "pipe_check" => pipe_check(ready_path)?,
        "sigsuspend_check" => sigsuspend_check(ready_path)?,
        "nanosleep_once" => nanosleep_once(ready_path)?,
        "misc_check" => misc_check(ready_path)?,
        "creds_check" => creds_check(ready_path)?,
        "itimer_check" => itimer_check(ready_path)?,
        "mappings_check" => mappings_check(ready_path)?,
        "vdso_clock" => vdso_clock(ready_path)?,
        "heap_check" => heap_check(ready_path)?,
        "pipeline" => tree::pipeline(ready_path)?,
        "shared_stdout" => tree::shared_stdout(ready_path)?,
        "sessions" => tree::sessions(ready_path)?,
        "orphan_pgrp" => tree::orphan_pgrp(ready_path)?,
        "zombie_wait" => tree::zombie_wait(ready_path)?,
        "ghost_pgid" => tree::ghost_pgid(ready_path)?,
        "threads_8" => tree::threads_8(ready_path)?,
        "deep_20" => tree::deep_20(ready_path)?,
        "tree_1000" => tree::tree_1000(ready_path)?,
        "shared_memory" => tree::shared_memory(ready_path)?,
        other => bail!("unknown workload {other:?}"),
    }
    sleep_forever()
}
