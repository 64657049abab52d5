//! Process shapes: sessions, groups, zombies, orphans, threads, pipelines, shared tables.

use super::*;

pub(crate) fn sleeper(ready_path: &Path) -> Result<()> {
    name("sleeper");
    ready(ready_path)
}

/// A parent and a child that, on SIGUSR1, execs the program at
/// `/tmp/NAME-exec` (for ready file `/tmp/ready-NAME`) as a sleeper with
/// ready file `/tmp/ready-NAME-exec`: a setuid copy or a plain one.
pub(crate) fn exec_on_usr1(ready_path: &Path) -> Result<()> {
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

pub(crate) fn parent_three_children(ready_path: &Path) -> Result<()> {
    name("parent");
    for i in 1..=3 {
        spawn(&format!("child-{i}"), || {})?;
    }
    ready(ready_path)
}

/// Session leader `leader` (group L) with `job-a` leading group A, which
/// `job-b` and `job-a`'s child `job-a-kid` join, and `fg-kid` in group L.
pub(crate) fn session_two_groups(ready_path: &Path) -> Result<()> {
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
pub(crate) fn zombie_child(ready_path: &Path) -> Result<()> {
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
pub(crate) fn four_threads(ready_path: &Path) -> Result<()> {
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
pub(crate) fn orphan(ready_path: &Path) -> Result<()> {
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
pub(crate) fn orphan_subreaper(ready_path: &Path) -> Result<()> {
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
pub(crate) fn tree_100(ready_path: &Path) -> Result<()> {
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

/// The demo's pipeline: `numbers | squares | printer`, three processes and
/// two pipes under a shell-like root. `numbers` writes 1, 2, 3… one line
/// every 200 ms, `squares` turns each into `N² = M`, `printer` prints each
/// line with its own running count to the log (stdout). After a restart
/// the count and the numbers go on where they were, without a gap.
pub(crate) fn demo_pipeline(ready_path: &Path) -> Result<()> {
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
pub(crate) fn wait4_parent(ready_path: &Path) -> Result<()> {
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

/// The child of [`shared_memory_clone`]: waits in pause(2) forever on
/// its own stack, making raw system calls only.
extern "C" fn vm_sharer(_: *mut nix::libc::c_void) -> nix::libc::c_int {
    loop {
        // SAFETY: pause(2) takes nothing.
        unsafe { nix::libc::syscall(nix::libc::SYS_pause) };
    }
}

/// A parent and a child created with clone(CLONE_VM) but not as a
/// thread: they share one memory, which checkpoint(2) refuses.
pub(crate) fn shared_memory_clone(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("vm-sharer");
    // The child's stack, alive as long as this process (it never returns).
    let stack: &'static mut [u8] = Vec::leak(vec![0u8; 64 * 1024]);
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    // SAFETY: the child runs `vm_sharer` on its own stack in this memory,
    // never returns and touches nothing of the parent's.
    let r = unsafe {
        libc::clone(
            vm_sharer,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::SIGCHLD,
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        bail!("clone(CLONE_VM): {}", std::io::Error::last_os_error());
    }
    ready(ready_path)?;
    sleep_forever()
}

/// A process whose leader thread exits while a second thread runs on:
/// the leader is a zombie, its process lives in the other thread.
pub(crate) fn zombie_leader(ready_path: &Path) -> Result<()> {
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
pub(crate) fn tree_of(n: usize, ready_path: &Path) -> Result<()> {
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
pub(crate) fn ticker(ready_path: &Path) -> Result<()> {
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
