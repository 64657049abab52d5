//! Calls that must fail: each errno of checkpoint(2) and restart(2) with its
//! cause, and nothing written or left behind.

use super::*;

pub(crate) fn err_einval_flags(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    c.errno(
        "unknown flag 0x80",
        Errno::EINVAL,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE | 0x80),
    );
    c.errno(
        "unknown flag 1<<63",
        Errno::EINVAL,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE | 1 << 63),
    );
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

pub(crate) fn err_einval_not_pidns_init(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    c.errno(
        "whole-namespace checkpoint of a non-init task",
        Errno::EINVAL,
        sys_checkpoint(w.pid, f.as_fd(), 0),
    );
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

pub(crate) fn err_ebadf(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let mut c = Checks(Vec::new());
    let (p, _) = output_file(name)?;
    let ro = File::open(&p)?;
    c.errno(
        "fd open read-only",
        Errno::EBADF,
        sys_checkpoint(w.pid, ro.as_fd(), SUBTREE),
    );
    // SAFETY: -1 and 1000 are never open here; the borrowed fd is not used
    // beyond the call.
    let bad = unsafe { std::os::fd::BorrowedFd::borrow_raw(1000) };
    c.errno(
        "fd not open",
        Errno::EBADF,
        sys_checkpoint(w.pid, bad, SUBTREE),
    );
    // SAFETY: checkpoint(2) with plain integer arguments (a negative fd).
    let ret = unsafe {
        nix::libc::syscall(
            ckpt_image::SYS_CHECKPOINT,
            w.pid as nix::libc::c_long,
            -1 as nix::libc::c_long,
            SUBTREE,
        )
    };
    c.eq(
        "fd -1",
        "EBADF",
        if ret == -1 {
            errno_name(Errno::last())
        } else {
            "success".into()
        },
    );
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

pub(crate) fn err_esrch(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    // A pid that existed a moment ago and was reaped.
    // SAFETY: the child exits at once.
    let gone = match unsafe { fork() }? {
        ForkResult::Parent { child } => {
            waitpid(child, None)?;
            child.as_raw()
        }
        // SAFETY: leaves at once, without the parent's exit handlers.
        ForkResult::Child => unsafe { nix::libc::_exit(0) },
    };
    c.errno(
        "reaped pid",
        Errno::ESRCH,
        sys_checkpoint(gone, f.as_fd(), SUBTREE),
    );
    c.errno("pid 0", Errno::ESRCH, sys_checkpoint(0, f.as_fd(), SUBTREE));
    c.errno(
        "pid -5",
        Errno::ESRCH,
        sys_checkpoint(-5, f.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

pub(crate) fn err_eperm_unprivileged(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "parent_three_children")?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    // A child drops to uid/gid 1000 and tries: it reports the errno as its
    // exit status.
    // SAFETY: the child only makes system calls and exits.
    let status = match unsafe { fork() }? {
        ForkResult::Parent { child } => waitpid(child, None)?,
        ForkResult::Child => {
            let code = match setgid(Gid::from_raw(1000)).and_then(|_| setuid(Uid::from_raw(1000))) {
                Err(_) => 255,
                Ok(()) => match sys_checkpoint(w.pid, f.as_fd(), SUBTREE) {
                    Ok(()) => 0,
                    Err(e) => e as i32,
                },
            };
            // SAFETY: leaves at once, without the parent's exit handlers.
            unsafe { nix::libc::_exit(code) }
        }
    };
    let got = match status {
        WaitStatus::Exited(_, 0) => "success".to_string(),
        WaitStatus::Exited(_, 255) => "could not drop privileges".to_string(),
        WaitStatus::Exited(_, e) => errno_name(Errno::from_raw(e)),
        other => format!("{other:?}"),
    };
    c.eq("uid 1000 on root's frozen tree", "EPERM", got);
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

/// Two processes sharing their memory (clone with CLONE_VM, not a
/// thread): checkpoint(2) refuses with EOPNOTSUPP before writing, the
/// tool says why, the kernel log names both pids, the tree runs on.
/// (A file table or fs context shared that way is carried:
/// `restart_tree_shared_tables`.)
pub(crate) fn err_eopnotsupp_shared_mm(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "shared_memory_clone")?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    let child = nth_child(w.pid, 0)?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    c.errno(
        "processes sharing their memory",
        Errno::EOPNOTSUPP,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p));
    cgroup::thaw(&w.cg)?;
    let out = Command::new(CKPT)
        .args(["checkpoint", &w.pid.to_string(), "-o", &p.to_string_lossy()])
        .output()?;
    c.eq(
        "ckpt checkpoint exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "the message names the cause",
        true,
        String::from_utf8_lossy(&out.stderr).contains("share their memory or signal handlers"),
    );
    // A process whose leader thread exited while another runs on.
    let z = Workload::start(&format!("{name}-zombie-leader"), "zombie_leader")?;
    let start = Instant::now();
    while !fs::read_to_string(format!("/proc/{}/stat", z.pid))
        .unwrap_or_default()
        .contains(") Z")
        && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    cgroup::freeze(&z.cg, Duration::from_secs(5))?;
    let (p2, f2) = output_file(&format!("{name}-zombie-leader"))?;
    c.errno(
        "a zombie leader with a live thread",
        Errno::EOPNOTSUPP,
        sys_checkpoint(z.pid, f2.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p2));
    let log = Command::new("/bin/dmesg").output()?;
    c.eq(
        "kernel log names both processes",
        true,
        String::from_utf8_lossy(&log.stdout).contains(&format!(
            "processes {} and {child} share their memory (CLONE_VM)",
            w.pid
        )),
    );
    c.eq(
        "kernel log names the process whose leader exited",
        true,
        String::from_utf8_lossy(&log.stdout).contains(&format!(
            "the leader of process {} exited while its threads run on",
            z.pid
        )),
    );
    c.eq("the tree runs on, thawed", false, cgroup::is_frozen(&w.cg)?);
    Ok(c.0)
}

pub(crate) fn err_ebusy_not_frozen(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "parent_three_children")?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    c.errno(
        "tree not frozen",
        Errno::EBUSY,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p));
    // One child moved to another cgroup: the rest frozen, that one not.
    let child = nth_child(w.pid, 1)?;
    let other = cgroup::create(&format!("{name}-other"))?;
    cgroup::add(&other, child)?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    c.errno(
        "one child not frozen",
        Errno::EBUSY,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p));
    cgroup::thaw(&w.cg)?;
    cgroup::add(&w.cg, child)?;
    let _ = fs::remove_dir(&other);
    // The tool names the cause and the fix.
    let out = Command::new(CKPT)
        .args([
            "checkpoint",
            &w.pid.to_string(),
            "-o",
            "/tmp/ebusy-cli.img",
            "--no-freeze",
        ])
        .output()?;
    c.eq(
        "ckpt --no-freeze exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    c.eq(
        "ckpt --no-freeze message names the cause",
        true,
        stderr.contains("not frozen"),
    );
    c.eq(
        "ckpt leaves neither the image nor its .partial",
        false,
        Path::new("/tmp/ebusy-cli.img").exists()
            || Path::new("/tmp/ebusy-cli.img.partial").exists(),
    );
    Ok(c.0)
}

/// restart(2) calls that must fail before touching the caller.
pub(crate) fn err_restart_bad_calls(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let canary = std::hint::black_box(vec![0x5au8; 4096]);
    let (p, _) = output_file(name)?;
    let empty = File::open(&p)?;
    c.errno(
        "empty image",
        Errno::EINVAL,
        sys_restart(0, empty.as_fd(), 0),
    );
    c.errno(
        "unknown flags",
        Errno::EINVAL,
        sys_restart(0, empty.as_fd(), 2),
    );
    c.errno(
        "a task waiting for its tree's coordinator with flags",
        Errno::EINVAL,
        ckpt::sys_restart_raw(0, -1, ckpt_image::RESTART_DELETED_HERE).map_err(|(e, _)| e),
    );
    c.errno(
        "pid other than 0",
        Errno::EINVAL,
        sys_restart(5, empty.as_fd(), 0),
    );
    let wo = OpenOptions::new().write(true).open(&p)?;
    c.errno(
        "fd open write-only",
        Errno::EBADF,
        sys_restart(0, wo.as_fd(), 0),
    );
    // A valid image of another process: refused, the caller untouched.
    let w = Workload::start(name, "sleeper")?;
    let out = Command::new(CKPT)
        .args(["checkpoint", &w.pid.to_string(), "-o", &p.to_string_lossy()])
        .output()?;
    c.eq("checkpoint exit status", 0, out.status.code().unwrap_or(-1));
    let img = File::open(&p)?;
    c.errno(
        "image of another pid",
        Errno::ESRCH,
        sys_restart(0, img.as_fd(), 0),
    );
    // The same image cut inside the forest table.
    let bytes = fs::read(&p)?;
    let cut = PathBuf::from(format!("/tmp/{name}-cut.img"));
    fs::write(&cut, bytes.get(..120).unwrap_or(&bytes))?;
    c.errno(
        "image cut after 120 bytes",
        Errno::EINVAL,
        sys_restart(0, File::open(&cut)?.as_fd(), 0),
    );
    c.eq(
        "caller's memory intact",
        true,
        canary.iter().all(|&b| b == 0x5a),
    );
    Ok(c.0)
}

/// `ckpt restart` refuses when the saved pid is in use.
pub(crate) fn err_restart_pid_taken(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");
    let out = Command::new(CKPT)
        .args(["checkpoint", &w.pid.to_string(), "-o", &img])
        .output()?;
    c.eq("checkpoint exit status", 0, out.status.code().unwrap_or(-1));
    let out = Command::new(CKPT).args(["restart", &img]).output()?;
    c.eq(
        "ckpt restart exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "message names the cause",
        true,
        String::from_utf8_lossy(&out.stderr).contains("is taken"),
    );
    c.eq(
        "the original still runs",
        "sleeper",
        fs::read_to_string(format!("/proc/{}/comm", w.pid))?.trim(),
    );
    Ok(c.0)
}

/// A cut image is refused before anything is started.
pub(crate) fn err_restart_truncated(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, w.pid, &img)?;
    let bytes = fs::read(&img)?;
    fs::write(&img, bytes.get(..bytes.len() / 2).unwrap_or(&bytes))?;
    let out = Command::new(CKPT).args(["restart", &img]).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    c.eq(
        "ckpt restart exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "message says the image is cut",
        true,
        stderr.contains("not a valid image") && stderr.contains("truncated"),
    );
    c.eq(
        "nothing runs with the saved pid",
        false,
        Path::new(&format!("/proc/{}", w.pid)).exists(),
    );
    Ok(c.0)
}

/// Kinds of state kernel-ckpt does not carry yet: checkpoint(2) refuses
/// each with EOPNOTSUPP before it writes anything, the kernel log names
/// the process and the state, and the tree runs on, thawed.
pub(crate) fn err_eopnotsupp_not_carried(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    // One message site names every refusal: ten a window.
    for (i, (kind, phrase)) in crate::workload::holds::KINDS.iter().enumerate() {
        if i % 10 == 0 {
            fresh_log_window();
        }
        let job = format!("{name}-{kind}");
        let w = Workload::start(&job, &format!("holds_{kind}"))?;
        let (p, f) = output_file(&job)?;
        // The line names the task that holds the state: the root or a
        // child of it.
        let mut tree = vec![w.pid];
        tree.extend(children_of(w.pid)?);
        cgroup::freeze(&w.cg, Duration::from_secs(5))?;
        c.errno(
            &format!("{kind}: checkpoint(2)"),
            Errno::EOPNOTSUPP,
            sys_checkpoint(w.pid, f.as_fd(), SUBTREE),
        );
        c.eq(format!("{kind}: bytes written"), 0, size(&p));
        cgroup::thaw(&w.cg)?;
        let log = Command::new("/bin/dmesg").output()?;
        let log = String::from_utf8_lossy(&log.stdout);
        let line = log
            .lines()
            .rev()
            .find(|l| {
                tree.iter()
                    .any(|p| l.contains(&format!("checkpoint: pid {p} (holds)")))
            })
            .unwrap_or("");
        c.eq(
            format!("{kind}: the kernel log names the pid and says {phrase:?}"),
            true,
            line.contains(phrase) && line.ends_with("not supported"),
        );
        c.eq(
            format!("{kind}: the tree runs on"),
            "running",
            if cgroup::is_frozen(&w.cg)? {
                "frozen"
            } else if Path::new(&format!("/proc/{}", w.pid)).exists() {
                "running"
            } else {
                "gone"
            },
        );
    }
    Ok(c.0)
}

pub(crate) fn layout_selfcheck() -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let out = Command::new("/bin/dmesg").output()?;
    let log = String::from_utf8_lossy(&out.stdout);
    let line = log
        .lines()
        .find(|l| l.contains("ckpt: layout self-check"))
        .unwrap_or("(none)");
    let verdict = line.split("ckpt: ").nth(1).unwrap_or(line);
    // The number of checks is part of the message; keep the verdict only.
    let verdict = verdict.split(" (").next().unwrap_or(verdict);
    c.eq("boot self-check", "layout self-check passed", verdict);
    c.eq(
        "no layout mismatch logged",
        false,
        log.contains("layout mismatch"),
    );
    Ok(c.0)
}

/// A deleted file larger than the caller's `RLIMIT_FSIZE`: checkpoint(2)
/// refuses it with `EFBIG`, writes nothing of it, and the kernel log says
/// how large it is and which limit to raise; with the limit raised the
/// same tree is checkpointed.
pub(crate) fn err_efbig_deleted_file(name: &str) -> Result<Vec<Check>> {
    use nix::libc;
    let mut c = Checks(Vec::new());
    fresh_log_window();
    let w = Workload::start(name, "holds_deleted_big")?;
    let (p, f) = output_file(name)?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    // The limit applies to the caller: this process, for the one call
    // (SIGXFSZ ignored meanwhile, should the image itself pass it).
    let mut was = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills `was`.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut was) } != 0 {
        bail!("getrlimit: {}", Errno::last());
    }
    let small = libc::rlimit {
        rlim_cur: 32 << 20,
        rlim_max: was.rlim_max,
    };
    // SAFETY: setting a signal's disposition to SIG_IGN and back.
    let old =
        unsafe { nix::sys::signal::signal(Signal::SIGXFSZ, nix::sys::signal::SigHandler::SigIgn) }?;
    // SAFETY: setrlimit reads the struct.
    unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &small) };
    let r = sys_checkpoint(w.pid, f.as_fd(), SUBTREE);
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &was) };
    // SAFETY: as above.
    unsafe { nix::sys::signal::signal(Signal::SIGXFSZ, old) }?;
    c.errno("checkpoint(2) with RLIMIT_FSIZE 32 MiB", Errno::EFBIG, r);
    let written = size(&p);
    c.eq(
        "the image stops before the deleted file's contents",
        true,
        written < 32 << 20,
    );
    let log = Command::new("/bin/dmesg").output()?;
    let log = String::from_utf8_lossy(&log.stdout);
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("checkpoint: deleted file"))
        .unwrap_or("");
    c.eq(
        "the kernel log says how large the file is and which limit to raise",
        true,
        line.contains(
            "holds 67108864 bytes, more than the caller's RLIMIT_FSIZE (33554432): raise it",
        ),
    );
    let (p2, f2) = output_file(&format!("{name}-2"))?;
    c.eq(
        "checkpoint(2) with the limit as it was",
        "ok",
        match sys_checkpoint(w.pid, f2.as_fd(), SUBTREE) {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("{e:?}"),
        },
    );
    // Two bytes written: one page saved, not 64 MiB.
    c.eq(
        "that image holds the file's one written page, not its holes",
        true,
        size(&p2) < 16 << 20,
    );
    cgroup::thaw(&w.cg)?;
    Ok(c.0)
}

/// What a pod's checkpoint refuses (the state is carried only in a pod,
/// so the non-pod kinds above cannot show it): a message queue
/// notification through a netlink socket, `SEM_UNDO` adjustments on a
/// set the process may no longer alter, and in a pod with its own network
/// namespace (`--net`) an address on its loopback other than 127.0.0.1,
/// a TCP connection shut down early, a TCP listener whose congestion
/// control was set, a corked UDP
/// datagram, a reuseport group's program, a netlink socket, a raw socket holding a
/// datagram back (`MSG_MORE`), a raw socket of protocol 262 (MPTCP's),
/// a packet socket with a ring, one in a fanout group and a TCP socket in a multicast group. checkpoint(2) of the pod's init
/// fails with EOPNOTSUPP, writes nothing, the kernel log says why, and
/// the pod runs on.
pub(crate) fn err_eopnotsupp_pod_not_carried(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    // One message site names every refusal: ten a window.
    for (i, (kind, phrase)) in crate::workload::holds::POD_KINDS.iter().enumerate() {
        if i % 10 == 0 {
            fresh_log_window();
        }
        let job = format!("{name}-{kind}");
        let ready = PathBuf::from(format!("/tmp/ready-{job}"));
        let _ = fs::remove_file(&ready);
        let exe = std::env::current_exe()?;
        let argv: Vec<OsString> = vec![
            exe.into(),
            "workload".into(),
            format!("holds_{kind}").into(),
            ready.clone().into(),
        ];
        let log = PathBuf::from(format!("/tmp/{job}.log"));
        let opts = ckpt::RunOptions {
            name: Some(&job),
            log: Some(&log),
            pod: true,
            net: kind.starts_with("pod_net_"),
            ..Default::default()
        };
        let w = Workload::run_until_ready(
            &opts,
            &argv,
            &ready,
            READY_TIMEOUT,
            &format!("pod workload {kind}"),
        )?;
        let (p, f) = output_file(&job)?;
        cgroup::freeze(&w.cg, Duration::from_secs(5))?;
        mark_log(&job)?;
        c.errno(
            &format!("{kind}: checkpoint(2) of the pod"),
            Errno::EOPNOTSUPP,
            sys_checkpoint(w.pid, f.as_fd(), 0),
        );
        c.eq(format!("{kind}: bytes written"), 0, size(&p));
        cgroup::thaw(&w.cg)?;
        let log = String::from_utf8_lossy(&log_since_mark(&job)?).into_owned();
        c.eq(
            format!("{kind}: the kernel log says {phrase:?}"),
            true,
            log.lines()
                .any(|l| l.contains("checkpoint:") && l.contains(phrase)),
        );
        c.eq(
            format!("{kind}: the pod runs on"),
            true,
            Path::new(&format!("/proc/{}", w.pid)).exists() && !cgroup::is_frozen(&w.cg)?,
        );
    }
    Ok(c.0)
}
