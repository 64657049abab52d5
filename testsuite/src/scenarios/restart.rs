//! Restart scenarios: a workload is saved, killed and restarted from its image,
//! and must go on as it was.

use super::*;

/// How a restart scenario gets its image to `ckpt restart`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restart {
    /// Checkpoint to a file, kill, restart from the file.
    Once,
    /// The same, and then checkpoint and restart the restarted process.
    Twice,
    /// `ckpt checkpoint -o - --kill | ckpt restart -`.
    Pipe,
    /// Checkpoint to a file, kill, remove the directory of the deleted
    /// file the workload holds: a plain restart fails, one with
    /// `--deleted-in` another directory goes on.
    DeletedIn,
    /// A copy-on-write `ckpt checkpoint` of the thawed process (it runs
    /// while its memory is written), then the process killed and restarted
    /// from the file.
    Cow,
}

/// Waits until `pid` runs a program named `comm` (so restart(2) is done).
pub(crate) fn wait_comm(pid: i32, comm: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Kills and removes a `ckpt restart` job cgroup when dropped.
pub(crate) struct RestartJob(pub(crate) PathBuf);

impl Drop for RestartJob {
    fn drop(&mut self) {
        let _ = cgroup::thaw(&self.0);
        let _ = cgroup::kill(&self.0);
        for _ in 0..100 {
            // With the cgroups below it.
            cgroup::remove(&self.0);
            if !self.0.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

pub(crate) fn spawn_restart(img: &str) -> Result<std::process::Child> {
    Ok(Command::new(CKPT)
        .args(["restart", img])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?)
}

/// `Restart::DeletedIn`: removes the workload's directory (its deleted
/// file's), checks that a plain restart fails naming the file, then
/// restarts with `--deleted-in` an empty directory, which stays empty.
fn restart_deleted_in(c: &mut Checks, name: &str, img: &str) -> Result<std::process::Child> {
    let dir = crate::workload::deleted_dir_of(Path::new(&format!("ready-{name}")));
    fs::remove_dir(&dir)?;
    // Its own window of the kernel log's rate limit, and a mark: the line
    // looked for is this run's.
    super::fresh_log_window();
    super::mark_log(name)?;
    let out = Command::new(CKPT).args(["restart", img]).output()?;
    c.eq(
        "a plain restart, the directory removed: exit status (restart(2) failed)",
        125,
        out.status.code().unwrap_or(-1),
    );
    let log = super::log_since_mark(name)?;
    c.eq(
        "the kernel log names the deleted file it could not make",
        true,
        String::from_utf8_lossy(&log).contains(&format!("cannot make deleted file {dir}/f again")),
    );
    let elsewhere = format!("/tmp/{name}-elsewhere");
    let _ = fs::remove_dir_all(&elsewhere);
    fs::create_dir(&elsewhere)?;
    let child = Command::new(CKPT)
        .args(["restart", "--deleted-in", &elsewhere, img])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    Ok(child)
}

/// Checkpoints a workload, kills it and restarts it from the image; the
/// workload then checks itself (`verdict`) or, `in_pause`, must be back in
/// pause(2).
pub(crate) fn restart_scenario(name: &str, kind: &str, mode: Restart) -> Result<ScenarioResult> {
    let w = Workload::start(name, kind)?;
    let pid = w.pid;
    let comm = fs::read_to_string(format!("/proc/{pid}/comm"))?
        .trim()
        .to_string();
    let exe = fs::read_link(format!("/proc/{pid}/exe"))?;
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");
    if kind == "nanosleep_once" || kind == "poll_once" || kind == "futex_timed" {
        // Checkpoint it inside the sleep (or poll), not on its way there.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            let sc = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
            if matches!(
                sc.split_whitespace().next(),
                Some("35" | "230" | "7" | "202")
            ) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // What /proc shows of the process, read while it is frozen (the
    // checkpoint leaves a frozen job frozen), compared after the restart.
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let view = process_view(pid)?;
    if kind == "posix_timers_check" {
        // Compared with the rest of the view after the restart.
        c.eq(
            "POSIX timers /proc/PID/timers lists before the checkpoint",
            5,
            view.iter().filter(|l| l.starts_with("timer ")).count(),
        );
    }
    // The children's states, every thread (T: stopped), by name.
    let children_states = || -> Vec<String> {
        let kids =
            fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let mut out: Vec<String> = kids
            .split_whitespace()
            .map(|k| {
                let comm = fs::read_to_string(format!("/proc/{k}/comm")).unwrap_or_default();
                let mut states: Vec<String> = fs::read_dir(format!("/proc/{k}/task"))
                    .map(|d| {
                        d.flatten()
                            .map(|e| {
                                fs::read_to_string(e.path().join("stat"))
                                    .ok()
                                    .and_then(|s| {
                                        s.rsplit(')').next().and_then(|r| {
                                            r.split_whitespace().next().map(str::to_owned)
                                        })
                                    })
                                    .unwrap_or_default()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                states.sort();
                format!("{}: {}", comm.trim(), states.join(" "))
            })
            .collect();
        out.sort();
        out
    };
    let stopped_before = (kind == "stopped_check").then(children_states);
    let sched_before = if kind == "sched_check" {
        Some(crate::truth::sched_view(pid)?)
    } else {
        None
    };
    let vmflags_before = if kind == "vma_flags_check" {
        Some(crate::truth::vm_flags(pid)?)
    } else {
        None
    };
    let t = Instant::now();
    let mut restarted = if mode == Restart::Pipe {
        let script =
            format!("set -o pipefail; {CKPT} checkpoint {pid} -o - --kill | {CKPT} restart -");
        let child = Command::new("/bin/sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // Reap the killed original so that its pid is free.
        let _ = waitpid(Pid::from_raw(pid), None);
        child
    } else {
        let out = if mode == Restart::Cow {
            cgroup::thaw(&w.cg)?;
            let out = Command::new(CKPT)
                .args(["checkpoint", &pid.to_string(), "-o", &img, "--stats"])
                .output()?;
            c.eq(
                "copy-on-write: ckpt inspect says the tree ran on while its pages were written",
                true,
                super::taken_cow(&img)?,
            );
            cgroup::kill(&w.cg)?;
            out
        } else {
            Command::new(CKPT)
                .args(["checkpoint", &pid.to_string(), "-o", &img, "--kill"])
                .output()?
        };
        c.eq(
            if mode == Restart::Cow {
                "ckpt checkpoint exit status"
            } else {
                "ckpt checkpoint --kill exit status"
            },
            0,
            out.status.code().unwrap_or(-1),
        );
        if !out.status.success() {
            // Nothing was killed and nothing will run again: say why now
            // rather than wait for a restart that cannot come.
            c.eq(
                "ckpt checkpoint's message",
                "",
                String::from_utf8_lossy(&out.stderr).trim(),
            );
            return Ok(ScenarioResult {
                checks: c.0,
                ..Default::default()
            });
        }
        let t_ckpt = t.elapsed();
        let _ = waitpid(Pid::from_raw(pid), None);
        let t = Instant::now();
        let child = if mode == Restart::DeletedIn {
            restart_deleted_in(&mut c, name, &img)?
        } else {
            spawn_restart(&img)?
        };
        let ok = wait_comm(pid, &comm);
        eprintln!(
            "timing: {name}: checkpoint {:.3} s, restart {:.3} s",
            t_ckpt.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        c.eq("restarted with the same pid", true, ok);
        if kind == "unix_rights_check" {
            // What `ckpt inspect` says of the descriptors in flight: the
            // stream pair's three, the datagram pair's one, the bound
            // socket's one.
            let out = Command::new(CKPT).args(["inspect", &img]).output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut shown: Vec<&str> = text
                .lines()
                .filter_map(|l| {
                    let i = l.find(" in flight")?;
                    let head = l.get(..i)?;
                    head.rfind(", ").and_then(|j| head.get(j + 2..))
                })
                .collect();
            shown.sort_unstable();
            c.eq(
                "ckpt inspect shows the descriptors in flight",
                "[\"1 descriptor\", \"1 descriptor\", \"3 descriptors\"]",
                format!("{shown:?}"),
            );
        }
        child
    };
    c.eq(
        "running again with the same pid",
        true,
        wait_comm(pid, &comm),
    );
    let exe_now = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    c.eq("/proc/PID/exe as before", exe.display(), exe_now.display());
    let view = if mode == Restart::DeletedIn {
        // The deleted file is made again in the directory named, unnamed:
        // only its name (with a new inode number) differs.
        let dir = crate::workload::deleted_dir_of(Path::new(&format!("ready-{name}")));
        let elsewhere = format!("/tmp/{name}-elsewhere");
        c.eq(
            "the directory named for deleted files is left empty",
            0,
            fs::read_dir(&elsewhere).map_or(usize::MAX, |d| d.count()),
        );
        view.iter()
            .map(|l| {
                l.replace(
                    &format!("{dir}/f (deleted)"),
                    &format!("{elsewhere}/#- (deleted)"),
                )
            })
            .collect()
    } else {
        view
    };
    compare_views(&mut c, &view, &process_view(pid)?);
    if let Some(before) = &vmflags_before {
        c.same(
            "VmFlags of every mapping in /proc/PID/smaps (but soft-dirty, and the commit charge of mappings that are not writable), as before",
            format!("{before:#?}"),
            format!("{:#?}", crate::truth::vm_flags(pid)?),
        );
    }
    if let Some(before) = &stopped_before {
        c.eq(
            "the children's states from /proc while frozen (stopped ones T)",
            "[\"continued: S\", \"stopped-new: T T\", \"stopped-seen: T\"]",
            format!("{before:?}"),
        );
        c.eq(
            "the children's states from /proc after the restart, as before",
            format!("{before:?}"),
            format!("{:?}", children_states()),
        );
    }
    if let Some(before) = &sched_before {
        c.eq(
            "scheduling as /proc shows it (nice, priority, policy, CPUs, oom_score_adj, THP), as before",
            format!("{before:#?}"),
            format!("{:#?}", crate::truth::sched_view(pid)?),
        );
    }
    if mode == Restart::Twice {
        let img2 = format!("/tmp/{name}-2.img");
        let out = Command::new(CKPT)
            .args(["checkpoint", &pid.to_string(), "-o", &img2, "--kill"])
            .output()?;
        c.eq(
            "second checkpoint exit status",
            0,
            out.status.code().unwrap_or(-1),
        );
        c.eq(
            "second checkpoint stderr",
            "",
            String::from_utf8_lossy(&out.stderr).trim(),
        );
        if !out.status.success() {
            // Do not wait for a program that was not killed.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let first = restarted.wait_with_output()?;
        c.eq(
            "first restart ends with the kill (128 + SIGKILL)",
            137,
            first.status.code().unwrap_or(-1),
        );
        restarted = spawn_restart(&img2)?;
        c.eq(
            "restarted a second time with the same pid",
            true,
            wait_comm(pid, &comm),
        );
    }
    // Workloads saved inside a blocking call: the call, its number in
    // /proc/PID/syscall, and for those a SIGUSR1 wakes to check themselves,
    // what the check is of.
    let blocked_in = match kind {
        "sleeper" => Some(("pause(2)", "34", None)),
        "futex_wait" => Some(("futex(2)", "202", None)),
        "pipe_check" => Some(("read(2)", "0", Some("its pipes"))),
        "eventfd_check" => Some(("read(2)", "0", Some("its eventfds"))),
        "signalfd_check" => Some(("read(2)", "0", Some("its signalfds"))),
        "fifo_check" => Some(("read(2)", "0", Some("its FIFOs"))),
        "timerfd_check" => Some(("read(2)", "0", Some("its timerfds"))),
        "epoll_check" => Some(("epoll_pwait(2)", "281", Some("its epoll sets"))),
        "unix_check" => Some(("read(2)", "0", Some("its unix socket pairs"))),
        "unix_rights_check" => Some(("read(2)", "0", Some("its descriptors in flight"))),
        "memfd_check" => Some(("read(2)", "0", Some("its memfds"))),
        "anon_shared_check" => Some((
            "read(2)",
            "0",
            Some("its shared anonymous memory's descriptors"),
        )),
        "pty_check" => Some(("read(2)", "0", Some("its ptys"))),
        "deleted_check" => Some(("read(2)", "0", Some("its deleted files"))),
        "deleted_dir_check" => Some((
            "read(2)",
            "0",
            Some("its deleted file made again elsewhere"),
        )),
        "inotify_check" => Some(("read(2)", "0", Some("its inotify instances"))),
        "fown_check" => Some(("read(2)", "0", Some("its files' signal owners"))),
        "lease_check" => Some(("read(2)", "0", Some("its leases"))),
        "ns_files_check" => Some(("read(2)", "0", Some("its namespace files"))),
        "locks_check" => Some(("flock(2)", "73", Some("its file locks"))),
        "unix_named_check" => Some(("accept(2)", "43", Some("its named unix sockets"))),
        "unix_pending_check" => Some((
            "read(2)",
            "0",
            Some("its connections waiting to be accepted"),
        )),
        "sigsuspend_check" => Some(("rt_sigsuspend(2)", "130", Some("its signal mask"))),
        _ => None,
    };
    if let Some((call, nr, woken_to_check)) = blocked_in {
        // Back in the call: it was restarted, not failed with EINTR.
        std::thread::sleep(Duration::from_millis(100));
        let sc = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        c.eq(
            format!("blocked in {call} again"),
            nr,
            sc.split_whitespace().next().unwrap_or("?"),
        );
        let st = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        c.eq(
            "state",
            "S",
            st.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("?"),
        );
        if let Some(what) = woken_to_check {
            // Its handler wakes the call; then it checks its own state.
            let _ = fs::remove_file(format!("/tmp/result-{name}"));
            let _ = kill(Pid::from_raw(pid), Signal::SIGUSR1);
            let what = format!("the program's check of {what}");
            let verdict = collect(&mut c, name, restarted, &what)?;
            return Ok(ScenarioResult {
                checks: c.0,
                state: vec![verdict],
                ..Default::default()
            });
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let out = restarted.wait_with_output()?;
        c.eq(
            "ckpt restart exit status (128 + SIGKILL)",
            137,
            out.status.code().unwrap_or(-1),
        );
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    }
    let verdict = finish(
        &mut c,
        name,
        restarted,
        "the program's own check after the restart",
    )?;
    Ok(ScenarioResult {
        checks: c.0,
        state: vec![verdict],
        ..Default::default()
    })
}

/// A parent blocked in wait4(2) for its sleeping child, checkpointed and
/// restarted together: the parent is back in wait4 and the child in
/// pause; a SIGTERM to the child then ends the parent's wait4 with the
/// child's pid and status, as if nothing had happened.
pub(crate) fn restart_in_wait4(name: &str) -> Result<ScenarioResult> {
    let w = Workload::start(name, "wait4_parent")?;
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
    let child: i32 = children
        .split_whitespace()
        .next()
        .context("the waiter has no child")?
        .parse()?;
    let sc = |p: i32| {
        fs::read_to_string(format!("/proc/{p}/syscall"))
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .to_string()
    };
    // Wait until the parent is in wait4 (it may still be on its way).
    let start = Instant::now();
    while sc(pid) != "61" && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, pid, &img)?;
    // The killed child is reparented and reaped by init: wait for its pid.
    let start = Instant::now();
    while Path::new(&format!("/proc/{child}")).exists() && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let restarted = spawn_restart(&img)?;
    c.eq("parent back with its pid", true, wait_comm(pid, "waiter"));
    c.eq(
        "child back with its pid",
        true,
        wait_comm(child, "sleeper-kid"),
    );
    std::thread::sleep(Duration::from_millis(100));
    c.eq("parent blocked in wait4(2) again", "61", sc(pid));
    c.eq("child blocked in pause(2) again", "34", sc(child));
    let _ = fs::remove_file(format!("/tmp/result-{name}"));
    let _ = kill(Pid::from_raw(child), Signal::SIGTERM);
    let verdict = collect(&mut c, name, restarted, "the parent's check of its wait4")?;
    Ok(ScenarioResult {
        checks: c.0,
        state: vec![verdict],
        ..Default::default()
    })
}

/// Tells a restarted self-checking workload to finish (its go file), waits
/// for `ckpt restart` and checks the program's verdict; returns the verdict
/// without what varies (iteration count, pid).
pub(crate) fn finish(
    c: &mut Checks,
    name: &str,
    restarted: std::process::Child,
    what: &str,
) -> Result<String> {
    let _ = fs::remove_file(format!("/tmp/result-{name}"));
    fs::write(format!("/tmp/go-{name}"), b"go\n")?;
    collect(c, name, restarted, what)
}

/// Waits for `ckpt restart` and checks the verdict the program wrote.
pub(crate) fn collect(
    c: &mut Checks,
    name: &str,
    restarted: std::process::Child,
    what: &str,
) -> Result<String> {
    let result = PathBuf::from(format!("/tmp/result-{name}"));
    let out = restarted.wait_with_output()?;
    c.eq(
        "ckpt restart exit status (the program's)",
        0,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "ckpt restart stderr",
        "",
        String::from_utf8_lossy(&out.stderr).trim(),
    );
    let verdict = fs::read_to_string(&result).unwrap_or_default();
    let verdict: Vec<&str> = verdict
        .split_whitespace()
        .filter(|w| !w.starts_with("n=") && !w.starts_with("pid="))
        .collect();
    c.eq(what, "PASS", verdict.first().copied().unwrap_or("(none)"));
    Ok(verdict.join(" "))
}

/// `ckpt checkpoint PID -o IMG --kill`, then reaps the killed original
/// (the scenario's child) so that its pid is free.
pub(crate) fn checkpoint_kill(c: &mut Checks, pid: i32, img: &str) -> Result<()> {
    let out = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", img, "--kill"])
        .output()?;
    c.eq("checkpoint exit status", 0, out.status.code().unwrap_or(-1));
    let _ = waitpid(Pid::from_raw(pid), None);
    Ok(())
}

/// One image restarted `times` times in a row while two processes burn
/// the CPUs with floating-point work beside it (restore races showed only
/// under load): every restarted program must find its registers, xmm/ymm
/// included, and memory exact.
pub(crate) fn restart_many(name: &str, times: usize) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "counter_fpu")?;
    let pid = w.pid;
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, pid, &img)?;
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let _burners = (
        Workload::start(&format!("{name}-burner-1"), "burner")?,
        Workload::start(&format!("{name}-burner-2"), "burner")?,
    );
    // Told to finish at once: each restarted program leaves its loop at
    // the next check and verifies itself.
    fs::write(format!("/tmp/go-{name}"), b"go\n")?;
    let result = PathBuf::from(format!("/tmp/result-{name}"));
    let (mut passed, mut failures) = (0, Vec::new());
    let t = Instant::now();
    for i in 0..times {
        let _ = fs::remove_file(&result);
        let out = Command::new(CKPT).args(["restart", &img]).output()?;
        let verdict = fs::read_to_string(&result).unwrap_or_default();
        if out.status.success() && verdict.starts_with("PASS") {
            passed += 1;
        } else if failures.len() < 3 {
            failures.push(format!(
                "#{i}: {:?} {}{}",
                out.status.code(),
                verdict.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    eprintln!(
        "timing: {name}: {times} restarts in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    c.eq("restarts whose program passed its own check", times, passed);
    c.eq("failures", "[]", format!("{failures:?}"));
    Ok(c.0)
}

/// `ckpt restart --pidns` while the original still runs (its pid taken
/// here): the process is recreated with its pid in a new pid namespace.
pub(crate) fn restart_pidns(name: &str) -> Result<ScenarioResult> {
    let w = Workload::start(name, "counter_fpu")?;
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");
    let out = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", &img])
        .output()?;
    c.eq(
        "checkpoint exit status (the original keeps running)",
        0,
        out.status.code().unwrap_or(-1),
    );
    let job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let restarted = Command::new(CKPT)
        .args(["restart", "--pidns", &img])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // The restarted process: the one in the restart cgroup named like it.
    let start = Instant::now();
    let mut found = None;
    while found.is_none() && start.elapsed() < Duration::from_secs(30) {
        found = cgroup::procs(&job.0)
            .unwrap_or_default()
            .into_iter()
            .find(|p| {
                fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "counter")
            });
        std::thread::sleep(Duration::from_millis(5));
    }
    c.eq("restarted in the new namespace", true, found.is_some());
    if let Some(host_pid) = found {
        let ns = |p: &str| fs::read_link(format!("/proc/{p}/ns/pid")).unwrap_or_default();
        c.eq(
            "in another pid namespace",
            true,
            ns(&host_pid.to_string()) != ns("self"),
        );
        let status = fs::read_to_string(format!("/proc/{host_pid}/status")).unwrap_or_default();
        let nspid = status
            .lines()
            .find(|l| l.starts_with("NSpid:"))
            .unwrap_or("");
        let inner = nspid.split_whitespace().last().unwrap_or("?").to_string();
        c.eq(
            "its pid in the namespace is the saved one",
            true,
            inner == pid.to_string(),
        );
    }
    // The original goes first, so only the restarted one answers.
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
    let verdict = finish(
        &mut c,
        name,
        restarted,
        "the program's own check (getpid() is the saved pid)",
    )?;
    Ok(ScenarioResult {
        checks: c.0,
        state: vec![verdict],
        ..Default::default()
    })
}

/// restart(2) fed `runs` corrupted copies of a valid image (random bytes
/// changed anywhere before the page contents: headers, forest, registers,
/// xstate, signal state, memory map, files), each by a process recreated
/// with the saved pid so that every record is reached. Each run must end
/// (an errno, a killed task, or a program that crashes or exits); the
/// kernel log is checked for splats by qemu-test.
pub(crate) fn restart_corrupt_images(name: &str, runs: u32) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "counter_fpu")?;
    let pid = w.pid;
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, pid, &img)?;
    // A restored counter finishes at once and exits.
    fs::write(format!("/tmp/go-{name}"), b"go\n")?;
    let good = fs::read(&img)?;
    // Everything before the first pages record.
    let end = ckpt_image::RawRecords::new(&good)
        .filter_map(|r| r.ok())
        .find(|r| r.kind == ckpt_image::RecordType::Pages as u32)
        .map(|r| r.offset as usize)
        .unwrap_or(good.len());
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ended, mut hung) = (0u32, 0u32);
    for _ in 0..runs {
        let mut b = good.clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() % end as u64) as usize;
            b[at] = next() as u8;
        }
        // A corrupted but valid image can make a program that runs on:
        // that is not a kernel failure, but count it.
        match images::attempt(pid, &b)? {
            images::Outcome::Running => hung += 1,
            _ => ended += 1,
        }
    }
    eprintln!("corrupt images: {ended} ended, {hung} ran on and were killed");
    c.eq("every run ended or was stopped", runs, ended + hung);
    c.eq(
        "the kernel is still serving restart(2) on a good image",
        "ESRCH",
        {
            let f = File::open(&img)?;
            match sys_restart(0, f.as_fd(), 0) {
                Err(e) => format!("{e:?}"),
                Ok(()) => "success".into(),
            }
        },
    );
    Ok(c.0)
}
