//! Pods: a command started with `ckpt run --pod` as pid 1 of new pid, IPC
//! and UTS namespaces, checkpointed whole and restarted as pid 1 of new
//! ones, twice side by side, checked from outside.

use super::*;

/// Runs `f` in a child that joins the namespace of kind `kind`
/// (`/proc/PID/ns/KIND`, `flag` its `CLONE_NEW*`) of `pid`: what `f`
/// returns, or the error it met.
pub(crate) fn in_ns_of(
    pid: i32,
    kind: &str,
    flag: nix::sched::CloneFlags,
    f: impl FnOnce() -> Result<String, String>,
) -> Result<String> {
    let ns = File::open(format!("/proc/{pid}/ns/{kind}"))
        .with_context(|| format!("opening /proc/{pid}/ns/{kind}"))?;
    let (r, w) = nix::unistd::pipe()?;
    // SAFETY: the child joins the namespace, runs `f` (plain system calls
    // and file reads) and leaves at once.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(r);
            let out = nix::sched::setns(&ns, flag)
                .map_err(|e| e.to_string())
                .and_then(|()| f())
                .unwrap_or_else(|e| format!("error: {e}"));
            let _ = nix::unistd::write(&w, out.as_bytes());
            // SAFETY: leave at once.
            unsafe { nix::libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut out = String::new();
            std::io::Read::read_to_string(&mut File::from(r), &mut out)?;
            waitpid(child, None)?;
            Ok(out)
        }
    }
}

/// [`in_ns_of`] the UTS namespace of `pid`.
fn in_uts_of(pid: i32, f: impl FnOnce() -> Result<String, Errno>) -> Result<String> {
    in_ns_of(pid, "uts", nix::sched::CloneFlags::CLONE_NEWUTS, || {
        f().map_err(|e| e.to_string())
    })
}

/// The host and domain names `pid` sees, as "HOST DOMAIN".
fn uts_names(pid: i32) -> Result<String> {
    in_uts_of(pid, || {
        let u = nix::sys::utsname::uname()?;
        Ok(format!(
            "{} {}",
            u.nodename().to_string_lossy(),
            u.domainname().to_string_lossy()
        ))
    })
}

/// Sets the host and domain names of `pid`'s UTS namespace.
fn set_uts_names(pid: i32, host: &str, domain: &str) -> Result<String> {
    let (host, domain) = (host.to_owned(), domain.to_owned());
    in_uts_of(pid, move || {
        // SAFETY: pointers and lengths of live buffers.
        Errno::result(unsafe { nix::libc::sethostname(host.as_ptr().cast(), host.len()) })?;
        // SAFETY: as above.
        Errno::result(unsafe { nix::libc::setdomainname(domain.as_ptr().cast(), domain.len()) })?;
        Ok("set".to_owned())
    })
}

/// The namespace of kind `kind` of `pid`, as `readlink /proc/PID/ns/KIND`.
pub(crate) fn ns_of(pid: i32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|l| l.display().to_string())
        .unwrap_or_else(|e| e.to_string())
}

/// `pid`'s number in the innermost pid namespace it is in.
pub(crate) fn inner_pid(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|l| l.split_whitespace().last().map(str::to_owned))
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// The count the pod's loop last wrote for the host name `host`.
fn count(name: &str, host: &str) -> Option<u64> {
    fs::read_to_string(format!("/tmp/{name}.{host}.count"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether the pod's loop, under the host name `host`, counts on (two
/// counts seen to grow within 10 s).
fn counts_on(name: &str, host: &str) -> bool {
    let start = Instant::now();
    let first = loop {
        if let Some(n) = count(name, host) {
            break n;
        }
        if start.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    while start.elapsed() < Duration::from_secs(10) {
        if count(name, host).is_some_and(|n| n > first) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A pod: `/bin/sh` (busybox) as pid 1 of new pid, IPC and UTS
/// namespaces, which starts busybox's `crond` as a daemon (it forks, the
/// parent exits, and the daemon is an orphan reparented to pid 1 in a
/// session of its own), then counts in a loop of shell builtins, writing
/// its count to `/tmp/NAME.<hostname>.count` (the host name read from
/// `/proc/sys/kernel/hostname`, its UTS namespace's) and waiting 0.1 s in
/// `read -t` on a FIFO. The host and domain names are set from outside.
///
/// The pod is checkpointed whole (`ckpt checkpoint` of its init, no flags)
/// with `--kill` and restarted twice side by side with `--detach`, while
/// its pids (1, 2, 3...) are all in use outside. Each copy is checked from
/// outside: its init is pid 1 of a new pid namespace whose tree (pids,
/// parents, sessions, groups, names) is the one saved; its UTS and IPC
/// namespaces are new (the host's and the other copy's differ) and its
/// names the saved ones. Then each copy gets a host name of its own, and
/// both loops count on, each under its own name.
pub(crate) fn restart_pod(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let cron = format!("/tmp/{name}.cron");
    let fifo = format!("/tmp/{name}.fifo");
    let _ = fs::remove_file(&fifo);
    fs::create_dir_all(&cron).with_context(|| format!("mkdir {cron}"))?;
    nix::unistd::mkfifo(
        fifo.as_str(),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )?;
    let script = format!(
        "/bin/busybox crond -b -c {cron} -L /dev/null
exec 3<> {fifo}
i=0
while :; do
  i=$((i + 1))
  read h < /proc/sys/kernel/hostname
  echo $i > /tmp/{name}.$h.count
  read -t 0.1 x <&3
done"
    );
    let log = PathBuf::from(format!("/tmp/{name}.log"));
    let argv: Vec<OsString> = ["/bin/sh", "-c", &script]
        .iter()
        .map(OsString::from)
        .collect();
    let opts = ckpt::RunOptions {
        name: Some(name),
        log: Some(&log),
        pod: true,
        ..Default::default()
    };
    let pid = ckpt::run_with(&opts, &argv).context("ckpt run --pod")?;
    let w = Workload {
        pid,
        cg: cgroup::of_pid(pid).context("the pod's cgroup")?,
    };
    let jobs = ["a", "b"].map(|x| RestartJob(Path::new(cgroup::ROOT).join(format!("{name}-{x}"))));
    c.eq("the pod's init is pid 1 inside", "1", inner_pid(pid));
    let host_uts = fs::read_to_string("/proc/sys/kernel/hostname").context("the host name")?;
    c.eq(
        "the pod's names are set from inside its UTS namespace",
        "set",
        set_uts_names(pid, "podhost", "poddomain").context("setting the pod's names")?,
    );
    c.eq(
        "the host's host name is left alone",
        host_uts.trim(),
        fs::read_to_string("/proc/sys/kernel/hostname")?.trim(),
    );
    c.eq(
        "the pod counts under its host name",
        true,
        counts_on(name, "podhost"),
    );
    // The daemon has forked and its parent is gone once the tree has two
    // processes (sh and crond).
    let start = Instant::now();
    while read_tree(pid).map_or(0, |t| t.len()) != 2 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let (before, _) = ns_view(&read_tree(pid)?).context("the pod's tree")?;
    let namer = Namer::new(&before);
    let img = checkpoint_kill_as(
        &mut c,
        name,
        pid,
        "ckpt checkpoint --kill of the pod's init",
    )?;
    let json = inspect_value(&img)?;
    c.eq(
        "the image is of a whole pid namespace (flags 0), rooted at pid 1",
        "0 1",
        format!("{} {}", json["header"]["flags"], json["root_pid"]),
    );
    c.eq(
        "the image's pod: own UTS namespace with its names, own IPC namespace with the default sysctls, own cgroup namespace",
        r#"{"cgroup":true,"ipc":true,"ipc_sysctls":["kernel.shmmax=18446744073692774399","kernel.shmall=18446744073692774399","kernel.shmmni=4096","kernel.shm_rmid_forced=0","kernel.msgmax=8192","kernel.msgmnb=16384","kernel.msgmni=32000","kernel.sem=32000 1024000000 500 32000","fs.mqueue.queues_max=256","fs.mqueue.msg_max=10","fs.mqueue.msgsize_max=8192","fs.mqueue.msg_default=10","fs.mqueue.msgsize_default=8192","kernel.sem_next_id=-1","kernel.msg_next_id=-1","kernel.shm_next_id=-1"],"uts":{"domainname":"poddomain","hostname":"podhost"}}"#,
        json["pod"].to_string(),
    );
    let mut copies = Vec::new();
    for x in ["a", "b"] {
        let o = Command::new(CKPT)
            .args([
                "restart",
                &img,
                "--detach",
                "--name",
                &format!("{name}-{x}"),
            ])
            .output()?;
        c.eq(
            format!("ckpt restart --detach, copy {x}"),
            "exit 0",
            exit_line(&o),
        );
        copies.push(printed_pid(&o));
    }
    let mut rows = Vec::new();
    for (x, &p) in ["a", "b"].iter().zip(&copies) {
        c.eq(
            format!("copy {x}: its init is pid 1 inside"),
            "1",
            inner_pid(p),
        );
        let after = read_tree(p).and_then(|t| ns_view(&t)).map(|(v, _)| v);
        c.eq(
            format!("copy {x}: the tree as its pid namespace sees it, as saved"),
            format!("{before:?}"),
            match &after {
                Ok(rows) => format!("{rows:?}"),
                Err(e) => format!("{e:#}"),
            },
        );
        if let Ok(after) = &after {
            rows = namer.rows(after);
        }
        c.eq(
            format!("copy {x}: its names, as saved"),
            "podhost poddomain",
            uts_names(p).unwrap_or_else(|e| format!("{e:#}")),
        );
        for kind in ["pid", "uts", "ipc"] {
            c.eq(
                format!("copy {x}: its own {kind} namespace"),
                true,
                ns_of(p, kind) != ns_of(std::process::id() as i32, kind),
            );
        }
    }
    for kind in ["pid", "uts", "ipc"] {
        c.eq(
            format!("the two copies' {kind} namespaces differ"),
            true,
            ns_of(copies[0], kind) != ns_of(copies[1], kind),
        );
    }
    for (x, &p) in ["a", "b"].iter().zip(&copies) {
        let host = format!("copy-{x}");
        c.eq(
            format!("copy {x}: renamed {host}"),
            "set",
            set_uts_names(p, &host, "poddomain").unwrap_or_else(|e| format!("{e:#}")),
        );
    }
    for x in ["a", "b"] {
        c.eq(
            format!("copy {x} counts on under its own name"),
            true,
            counts_on(name, &format!("copy-{x}")),
        );
    }
    c.eq(
        "the host's host name is still its own",
        host_uts.trim(),
        fs::read_to_string("/proc/sys/kernel/hostname")?.trim(),
    );
    drop(jobs);
    Ok(ScenarioResult {
        truth: namer.rows(&before),
        image: rows,
        checks: c.0,
        ..Default::default()
    })
}

/// The rows of `/proc/sysvipc/KIND` (`shm`, `sem`) as `pid`'s IPC
/// namespace shows them, without the resident and swapped sizes of
/// segments (pages that only held zeros come back as holes), and for
/// segments with their creator and last pids as its pid namespace numbers
/// them (`/proc` shows this process's numbers).
/// IPC sysctls `restart_pod_sysv` sets in its pod, and their values.
const IPC_SYSCTLS_SET: [(&str, &str); 9] = [
    ("shmmax", "1073741824"),
    ("shmall", "1048576"),
    ("shmmni", "2048"),
    ("shm_rmid_forced", "0"),
    ("msgmax", "16384"),
    ("msgmnb", "32768"),
    ("msgmni", "1000"),
    ("sem", "250\t32000\t64\t512"),
    // The id the next segment gets (none is made after it is set).
    ("shm_next_id", "4242"),
];

/// The sysctls `set` names (files of `/proc/sys/DIR`) as `pid`'s IPC
/// namespace has them, as `name=value`.
fn ns_sysctls(pid: i32, dir: &str, set: &[(&str, &str)]) -> Vec<String> {
    let read = in_ns_of(pid, "ipc", nix::sched::CloneFlags::CLONE_NEWIPC, || {
        Ok(set
            .iter()
            .map(|(f, _)| {
                let v = fs::read_to_string(format!("/proc/sys/{dir}/{f}")).unwrap_or_default();
                format!("{f}={}", v.trim())
            })
            .collect::<Vec<_>>()
            .join("\n"))
    });
    match read {
        Ok(s) => s.lines().map(str::to_owned).collect(),
        Err(e) => vec![e.to_string()],
    }
}

/// Writes the sysctls `set` (files of `/proc/sys/DIR`) in `pid`'s IPC
/// namespace, from inside it: "ok", or the first that failed.
fn set_ns_sysctls(pid: i32, dir: &str, set: &[(&str, &str)]) -> String {
    in_ns_of(pid, "ipc", nix::sched::CloneFlags::CLONE_NEWIPC, || {
        for (f, v) in set {
            fs::write(format!("/proc/sys/{dir}/{f}"), v).map_err(|e| format!("{f}: {e}"))?;
        }
        Ok("ok".to_owned())
    })
    .unwrap_or_else(|e| e.to_string())
}

/// `ckpt checkpoint PID -o /tmp/NAME.img --kill`, its exit status checked
/// as `what`, the killed process reaped: the image's path.
pub(crate) fn checkpoint_kill_as(
    c: &mut Checks,
    name: &str,
    pid: i32,
    what: &str,
) -> Result<String> {
    let img = format!("/tmp/{name}.img");
    let o = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", &img, "--kill"])
        .output()?;
    c.eq(what, "exit 0", exit_line(&o));
    // Killed only by a checkpoint that succeeded: a failed one leaves the
    // process running, which a wait would wait for forever.
    if o.status.success() {
        let _ = waitpid(Pid::from_raw(pid), None);
    }
    Ok(img)
}

/// What `ckpt inspect --json IMG` prints (null if it prints no JSON).
pub(crate) fn inspect_value(img: &str) -> Result<serde_json::Value> {
    let out = Command::new(CKPT)
        .args(["inspect", "--json", img])
        .output()?;
    Ok(serde_json::from_slice(&out.stdout).unwrap_or_default())
}

/// `ckpt restart IMG --detach --name JOB`, its exit status checked: the
/// pid it printed (0 if none).
pub(crate) fn restart_detached(c: &mut Checks, img: &str, job: &str) -> Result<i32> {
    let o = Command::new(CKPT)
        .args(["restart", img, "--detach", "--name", job])
        .output()?;
    c.eq("ckpt restart --detach", "exit 0", exit_line(&o));
    Ok(printed_pid(&o))
}

/// A copy restarted from an image with [`restart_frozen`]: its pid, and
/// its job cgroup, frozen (if it could be) while it is looked at.
pub(crate) struct FrozenCopy {
    pub(crate) pid: i32,
    cg: PathBuf,
    frozen: bool,
}

/// [`restart_detached`] into job `job`, then frozen: processes that run
/// on would change what is compared (times, counters).
pub(crate) fn restart_frozen(c: &mut Checks, img: &str, job: &str) -> Result<FrozenCopy> {
    let pid = restart_detached(c, img, job)?;
    let cg = Path::new(cgroup::ROOT).join(job);
    let frozen = cgroup::freeze(&cg, Duration::from_secs(10)).is_ok();
    Ok(FrozenCopy { pid, cg, frozen })
}

fn sysvipc_rows(pid: i32, kind: &str) -> Result<Vec<String>> {
    let shm = kind == "shm";
    // The columns of pids, which /proc numbers as this process sees them.
    let pids: &[usize] = match kind {
        "shm" => &[4, 5],
        "msg" => &[5, 6],
        _ => &[],
    };
    let path = format!("/proc/sysvipc/{kind}");
    let text = in_ns_of(pid, "ipc", nix::sched::CloneFlags::CLONE_NEWIPC, || {
        fs::read_to_string(&path).map_err(|e| e.to_string())
    })?;
    let inner = |p: &str| match p.parse::<i32>() {
        Ok(0) => "0".to_owned(),
        Ok(p) => inner_pid(p),
        Err(_) => p.to_owned(),
    };
    let mut rows: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.iter()
                .take(if shm { 14 } else { f.len() })
                .enumerate()
                .map(|(i, v)| {
                    if pids.contains(&i) {
                        inner(v)
                    } else {
                        (*v).to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    rows.sort();
    Ok(rows)
}

/// The SysV attachments in `pid`'s `/proc/PID/maps` (address, mode,
/// segment id as the inode, name).
fn sysv_maps(pid: i32) -> Vec<String> {
    fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("/SYSV"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            [0, 1, 4, 5]
                .iter()
                .filter_map(|&i| f.get(i).copied())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// A workload of kind `kind` started with `ckpt run --name NAME` (as a pod
/// with `pod`), once it has written its ready file; its go and result
/// files are removed first. `job` is the job cgroup its restart uses,
/// killed and removed (with the cgroups below it) when this is dropped.
pub(crate) struct StartedJob {
    pub(crate) w: Workload,
    go: PathBuf,
    result: PathBuf,
    pub(crate) job: String,
    _job: RestartJob,
}

impl StartedJob {
    pub(crate) fn start(name: &str, kind: &str, pod: bool) -> Result<Self> {
        Self::start_in(name, kind, pod, false, false)
    }

    /// [`StartedJob::start`], with `private_tmp` as a pod of its own
    /// `/tmp` and `/dev/shm` (`ckpt run --pod --private-tmp`): its ready,
    /// go and result files and its log are in `/run` then; with `net` in a
    /// network namespace of its own (`--net`).
    pub(crate) fn start_in(
        name: &str,
        kind: &str,
        pod: bool,
        private_tmp: bool,
        net: bool,
    ) -> Result<Self> {
        let dir = if private_tmp { "/run" } else { "/tmp" };
        let ready = PathBuf::from(format!("{dir}/ready-{name}"));
        let go = PathBuf::from(format!("{dir}/go-{name}"));
        let result = PathBuf::from(format!("{dir}/result-{name}"));
        for p in [&ready, &go, &result] {
            let _ = fs::remove_file(p);
        }
        let exe = std::env::current_exe()?;
        let argv: Vec<OsString> = vec![
            exe.into(),
            "workload".into(),
            kind.into(),
            ready.clone().into(),
        ];
        let log = PathBuf::from(format!("{dir}/{name}.log"));
        let opts = ckpt::RunOptions {
            name: Some(name),
            log: Some(&log),
            pod,
            private_tmp,
            net,
        };
        let w = Workload::run_until_ready(
            &opts,
            &argv,
            &ready,
            Duration::from_secs(10),
            &format!("workload {kind}"),
        )?;
        let job = format!("{name}-restarted");
        let _job = RestartJob(Path::new(cgroup::ROOT).join(&job));
        Ok(Self {
            w,
            go,
            result,
            job,
            _job,
        })
    }

    /// `ckpt checkpoint --kill` of the frozen job's root, checked as
    /// `what`: the image, or `None` (the job thawed again) if the
    /// checkpoint wrote none.
    pub(crate) fn checkpoint_kill(
        &self,
        c: &mut Checks,
        name: &str,
        what: &str,
    ) -> Result<Option<String>> {
        let img = checkpoint_kill_as(c, name, self.w.pid, what)?;
        if !Path::new(&img).exists() {
            cgroup::thaw(&self.w.cg)?;
            return Ok(None);
        }
        Ok(Some(img))
    }

    /// Thaws the restarted `copy` (if it was frozen), then checks, as
    /// `what`, that the workload passes: its verdict line.
    pub(crate) fn thaw_and_check(
        &self,
        c: &mut Checks,
        copy: &FrozenCopy,
        what: &str,
    ) -> Result<String> {
        if copy.frozen {
            cgroup::thaw(&copy.cg)?;
        }
        let verdict = self.verdict()?;
        c.eq(
            what,
            "PASS",
            verdict.split_whitespace().next().unwrap_or(""),
        );
        Ok(verdict)
    }

    /// Writes the go file and returns the workload's verdict line, once
    /// whole (the file exists, empty, between its creation and the
    /// write), after at most 20 s.
    pub(crate) fn verdict(&self) -> Result<String> {
        fs::write(&self.go, b"go\n")?;
        let start = Instant::now();
        let whole = || fs::read_to_string(&self.result).is_ok_and(|v| v.ends_with('\n'));
        while !whole() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(fs::read_to_string(&self.result).unwrap_or_else(|_| "no result".to_owned()))
    }
}

/// A pod whose init (`sysv_pod`: a producer) and its child (a consumer)
/// share SysV shared memory: a segment both attach (read-write and
/// read-only), one removed (`IPC_RMID`) while both still attach it, and
/// one nobody attaches with a page of data after a hole. Checkpointed
/// whole with `--kill` and restarted in a new IPC namespace: the segments
/// as `/proc/sysvipc/shm` shows them inside (ids, keys, modes, sizes,
/// owners, creators, times, creator and last pids, attachments) and the
/// attachments in `/proc/PID/maps` are as before, and the two check
/// themselves (patterns, ids by key, the removed one still removed, the
/// counter counting) and pass.
pub(crate) fn restart_pod_sysv(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let started = StartedJob::start(name, "sysv_pod", true)?;
    let (w, job) = (&started.w, &started.job);
    let pid = w.pid;
    let consumer = |init: i32| nth_child(init, 0).unwrap_or(0);
    // The pod's IPC sysctls, set away from their defaults from inside.
    c.eq(
        "kernel.shm*, msg* and sem set in the pod",
        "ok",
        set_ns_sysctls(pid, "kernel", &IPC_SYSCTLS_SET),
    );
    let sysctls_before = ns_sysctls(pid, "kernel", &IPC_SYSCTLS_SET);
    c.eq(
        "the pod's IPC sysctls as set",
        format!("{:?}", IPC_SYSCTLS_SET.map(|(f, v)| format!("{f}={v}"))),
        format!("{sysctls_before:?}"),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let before = sysvipc_rows(pid, "shm")?;
    let sems_before = sysvipc_rows(pid, "sem")?;
    let msgs_before = sysvipc_rows(pid, "msg")?;
    c.eq("one message queue in the pod", 1, msgs_before.len());
    c.eq("one semaphore set in the pod", 1, sems_before.len());
    let maps_before = [sysv_maps(pid), sysv_maps(consumer(pid))];
    c.eq("three segments in the pod", 3, before.len());
    let img = checkpoint_kill_as(
        &mut c,
        name,
        pid,
        "ckpt checkpoint --kill of the pod's init",
    )?;
    let json = inspect_value(&img)?;
    let saved: Vec<String> = json["sysv_shm"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    format!(
                        "key {:#x} mode {:o} removed {} size {} attached {} pages {}",
                        m["key"].as_i64().unwrap_or(-1),
                        m["mode"].as_u64().unwrap_or(0),
                        m["removed"],
                        m["size"],
                        m["nattch"],
                        m["pages"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // Frozen while /proc is read: the counter would change the times.
    let restarted = restart_frozen(&mut c, &img, job)?;
    let copy = restarted.pid;
    let after = sysvipc_rows(copy, "shm").unwrap_or_else(|e| vec![format!("{e:#}")]);
    let sems_after = sysvipc_rows(copy, "sem").unwrap_or_else(|e| vec![format!("{e:#}")]);
    let msgs_after = sysvipc_rows(copy, "msg").unwrap_or_else(|e| vec![format!("{e:#}")]);
    c.same(
        "/proc/sysvipc/msg in the pod (key, id, mode, bytes, messages, pids, owners, creators, times), as before",
        format!("{msgs_before:#?}"),
        format!("{msgs_after:#?}"),
    );
    c.same(
        "/proc/sysvipc/sem in the pod (key, id, mode, size, owners, creators, times), as before",
        format!("{sems_before:#?}"),
        format!("{sems_after:#?}"),
    );
    let maps_after = [sysv_maps(copy), sysv_maps(consumer(copy))];
    c.eq(
        "the IPC sysctls in the restarted pod, as before",
        format!("{sysctls_before:?}"),
        format!("{:?}", ns_sysctls(copy, "kernel", &IPC_SYSCTLS_SET)),
    );
    // Times and addresses vary from run to run: the whole rows are
    // compared, and shown only when they differ.
    c.same(
        "/proc/sysvipc/shm in the pod (ids, keys, modes, sizes, pids, attachments, owners, creators, times), as before",
        format!("{before:#?}"),
        format!("{after:#?}"),
    );
    c.same(
        "SysV attachments in /proc/PID/maps (producer, consumer: addresses, modes, ids), as before",
        format!("{maps_before:?}"),
        format!("{maps_after:?}"),
    );
    let verdict = started.thaw_and_check(
        &mut c,
        &restarted,
        "the producer and the consumer check themselves",
    )?;
    // The rows without their times, for the snapshot.
    let mut state: Vec<String> = before
        .iter()
        .map(|r| {
            format!(
                "sysvipc: {}",
                r.split(' ').take(11).collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
    state.extend(sems_before.iter().map(|r| {
        format!(
            "sysvipc sem: {}",
            r.split(' ').take(8).collect::<Vec<_>>().join(" ")
        )
    }));
    state.extend(msgs_before.iter().map(|r| {
        format!(
            "sysvipc msg: {}",
            r.split(' ').take(11).collect::<Vec<_>>().join(" ")
        )
    }));
    state.extend(saved);
    state.extend(json["sysv_msg"].as_array().into_iter().flatten().map(|q| {
        format!(
            "message queue key {:#x} messages {}",
            q["key"].as_i64().unwrap_or(-1),
            q["messages"]
        )
    }));
    state.extend(json["sysv_sem"].as_array().into_iter().flatten().map(|m| {
        format!(
            "semaphore set key {:#x} values {}",
            m["key"].as_i64().unwrap_or(-1),
            m["values"]
        )
    }));
    let undos: Vec<String> = json["states"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["sem_undo"].is_array())
        .map(|s| format!("pid {} SEM_UNDO {}", s["pid"], s["sem_undo"]))
        .collect();
    c.eq(
        "the image holds the consumer's SEM_UNDO adjustment (+1 on the first semaphore)",
        "pid 2 SEM_UNDO [[0,[1,0,0]]]",
        undos.join("; "),
    );
    state.extend(undos);
    if !verdict.starts_with("PASS") {
        state.push(verdict.trim().to_owned());
    }
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// The `fs.mqueue` sysctls `restart_pod_mqueue` sets in its pod, and
/// their values.
const MQ_SYSCTLS_SET: [(&str, &str); 5] = [
    ("queues_max", "64"),
    ("msg_max", "20"),
    ("msgsize_max", "16384"),
    ("msg_default", "5"),
    ("msgsize_default", "512"),
];

/// The POSIX message queues of `pid`'s IPC namespace as its mqueue file
/// system shows them (mounted in a mount namespace of its own, in a child
/// that joined the IPC namespace): each name with its mode, owner, access
/// and modification times, and with `contents`, what reading the queue's
/// file says (its size in bytes, notification, signal and the notifying
/// process, as the pod numbers it). Reading the file changes its access
/// and change times: the times are taken before.
fn mq_view(pid: i32, contents: bool) -> Vec<String> {
    let dir = format!("/tmp/mqview-{pid}");
    let _ = fs::create_dir_all(&dir);
    let read = in_ns_of(pid, "ipc", nix::sched::CloneFlags::CLONE_NEWIPC, || {
        use std::os::unix::fs::MetadataExt;
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| e.to_string())?;
        let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
        let (root, none, mq, at) = (c("/"), c("none"), c("mqueue"), c(&dir));
        // SAFETY: NUL-terminated strings; a private copy of the mounts,
        // then the namespace's mqueue file system on `dir`.
        let r = unsafe {
            nix::libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                nix::libc::MS_REC | nix::libc::MS_PRIVATE,
                std::ptr::null(),
            ) | nix::libc::mount(none.as_ptr(), at.as_ptr(), mq.as_ptr(), 0, std::ptr::null())
        };
        if r != 0 {
            return Err(format!("mount mqueue: {}", std::io::Error::last_os_error()));
        }
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        let mut rows = Vec::new();
        for n in &names {
            let m = fs::metadata(format!("{dir}/{n}")).map_err(|e| e.to_string())?;
            // Not the change time: no call sets it, a restart neither.
            rows.push(format!(
                "/{n} mode {:o} owner {}:{} atime {}.{:09} mtime {}.{:09}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.atime(),
                m.atime_nsec(),
                m.mtime(),
                m.mtime_nsec()
            ));
        }
        for n in names.iter().filter(|_| contents) {
            let text = fs::read_to_string(format!("{dir}/{n}")).map_err(|e| e.to_string())?;
            rows.push(format!(
                "/{n}: {}",
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        Ok(rows.join("\n"))
    });
    let _ = fs::remove_dir(&dir);
    match read {
        // The notifying process as the pod numbers it.
        Ok(s) => s
            .lines()
            .map(|l| match l.split_once("NOTIFY_PID:") {
                Some((head, p)) => match p.trim().parse::<i32>() {
                    Ok(p) if p > 0 => format!("{head}NOTIFY_PID:{}", inner_pid(p)),
                    _ => l.to_owned(),
                },
                None => l.to_owned(),
            })
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

/// The descriptors of `pid` on message queues: /proc/PID/fd's target and
/// fdinfo's flags.
fn mq_fds(pid: i32) -> Vec<String> {
    let mut rows = Vec::new();
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return vec![format!("no /proc/{pid}/fd")];
    };
    let mut fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    for fd in fds {
        let target = fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !target.starts_with('/') || target.starts_with("/dev/") || target.starts_with("/tmp/") {
            continue;
        }
        let flags = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("flags:").map(|f| f.trim().to_owned()))
            .unwrap_or_default();
        rows.push(format!("fd {fd} {target} flags {flags}"));
    }
    rows
}

/// A pod whose init (`mq_pod`: a sender) and its child (a receiver) hold
/// POSIX message queues: one with five messages of three priorities, an
/// empty one the receiver opened non-blocking and asked a SIGUSR1
/// notification of, and one removed with mq_unlink(3) that both still hold
/// open with two messages; the pod's `fs.mqueue` sysctls set away from
/// their defaults. Checkpointed whole with `--kill` and restarted in a new
/// IPC namespace: the queues as the pod's mqueue file system shows them
/// (names, modes, owners, times, sizes, the notification
/// and its process), the descriptors (targets, flags) and the sysctls are
/// as before, and the two check themselves (the messages in priority
/// order, the unlinked queue's, the notification's signal and value).
pub(crate) fn restart_pod_mqueue(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let started = StartedJob::start(name, "mq_pod", true)?;
    let (w, job) = (&started.w, &started.job);
    let pid = w.pid;
    let receiver = |init: i32| nth_child(init, 0).unwrap_or(0);
    c.eq(
        "fs.mqueue sysctls set in the pod",
        "ok",
        set_ns_sysctls(pid, "fs/mqueue", &MQ_SYSCTLS_SET),
    );
    let sysctls_before = ns_sysctls(pid, "fs/mqueue", &MQ_SYSCTLS_SET);
    c.eq(
        "the pod's fs.mqueue sysctls as set",
        format!("{:?}", MQ_SYSCTLS_SET.map(|(f, v)| format!("{f}={v}"))),
        format!("{sysctls_before:?}"),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let queues_before = mq_view(pid, true);
    c.eq(
        "two queues named in the pod, as the workload made them (umask 022)",
        "[\"/notify mode 100600 owner 0:0\", \"/work mode 100640 owner 0:0\"]",
        format!(
            "{:?}",
            queues_before
                .iter()
                .filter(|l| !l.contains(':') || l.contains(" owner "))
                .take(2)
                .map(|l| l.split(" atime").next().unwrap_or(l))
                .collect::<Vec<_>>()
        ),
    );
    // Their times once read.
    let times_before = mq_view(pid, false);
    let fds_before = [mq_fds(pid), mq_fds(receiver(pid))];
    let img = checkpoint_kill_as(
        &mut c,
        name,
        pid,
        "ckpt checkpoint --kill of the pod's init",
    )?;
    let json = inspect_value(&img)?;
    let saved: Vec<String> = json["posix_mq"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| {
            format!(
                "saved queue {} unlinked {} mode {:o} max {} x {} messages {}",
                q["name"].as_str().unwrap_or("?"),
                q["unlinked"],
                q["mode"].as_u64().unwrap_or(0),
                q["maxmsg"],
                q["msgsize"],
                q["messages"]
            )
        })
        .collect();
    let restarted = restart_frozen(&mut c, &img, job)?;
    let copy = restarted.pid;
    let times_after = mq_view(copy, false);
    let queues_after = mq_view(copy, true);
    c.same(
        "the pod's queues: names, modes, owners, access and modification times (to the second, the file system's precision), as before",
        format!("{times_before:#?}"),
        format!("{times_after:#?}"),
    );
    c.eq(
        "the pod's queues: sizes, notification, signal and notifying process, as before",
        format!(
            "{:#?}",
            queues_before
                .iter()
                .filter(|l| l.contains(": QSIZE"))
                .collect::<Vec<_>>()
        ),
        format!(
            "{:#?}",
            queues_after
                .iter()
                .filter(|l| l.contains(": QSIZE"))
                .collect::<Vec<_>>()
        ),
    );
    c.eq(
        "the descriptors on queues (sender, receiver: targets, flags), as before",
        format!("{fds_before:#?}"),
        format!("{:#?}", [mq_fds(copy), mq_fds(receiver(copy))]),
    );
    c.eq(
        "the fs.mqueue sysctls in the restarted pod, as before",
        format!("{sysctls_before:?}"),
        format!("{:?}", ns_sysctls(copy, "fs/mqueue", &MQ_SYSCTLS_SET)),
    );
    let verdict = started.thaw_and_check(
        &mut c,
        &restarted,
        "the sender and the receiver check themselves",
    )?;
    // For the snapshot: the views without their times.
    let mut state: Vec<String> = queues_before
        .iter()
        .map(|l| format!("mqueue {}", l.split(" atime").next().unwrap_or(l)))
        .collect();
    state.extend(fds_before.iter().flatten().map(|l| format!("mq {l}")));
    state.extend(sysctls_before.iter().map(|l| format!("fs.mqueue.{l}")));
    state.extend(saved);
    if !verdict.starts_with("PASS") {
        state.push(verdict.trim().to_owned());
    }
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// What util-linux's `ipcs` shows in `pid`'s IPC namespace: with `args`
/// (`-a`: ids, keys, owners, modes, sizes, attachments, messages; `-c`:
/// creators; `-t`: times), each row's words joined by one space.
fn util_ipcs(pid: i32, args: &[&str]) -> Vec<String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = in_ns_of(pid, "ipc", nix::sched::CloneFlags::CLONE_NEWIPC, || {
        let o = Command::new("/bin/util-ipcs")
            .args(&args)
            .output()
            .map_err(|e| format!("util-ipcs: {e}"))?;
        if !o.status.success() {
            return Err(format!("util-ipcs {args:?}: {}", exit_line(&o)));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    });
    match out {
        Ok(s) => s
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

/// Debian's util-linux in a pod: busybox `sh` as its init runs `ipcmk`
/// to make a shared memory segment, a semaphore set and a message queue
/// (random keys, modes 0640, 0600 and 0660), writes what it printed, and
/// waits. Checkpointed whole with `--kill` and restarted: `ipcs -a`, `-c`
/// and `-t` run inside the new IPC namespace show the same ids, keys,
/// owners, creators, modes, sizes and times as before; then `ipcrm`
/// removes each by key inside it, and `ipcs` shows them gone.
pub(crate) fn real_ipcs(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let ready = PathBuf::from(format!("/tmp/ready-{name}"));
    let made = PathBuf::from(format!("/tmp/{name}.ipcmk"));
    for p in [&ready, &made] {
        let _ = fs::remove_file(p);
    }
    let script = format!(
        "/bin/util-ipcmk -M 12288 -p 0640 > {m} && /bin/util-ipcmk -S 3 -p 0600 >> {m} && \
         /bin/util-ipcmk -Q -p 0660 >> {m} && echo ready > {r} && while :; do sleep 1; done",
        m = made.display(),
        r = ready.display()
    );
    let argv: Vec<OsString> = vec![
        "/bin/busybox".into(),
        "sh".into(),
        "-c".into(),
        script.into(),
    ];
    let log = PathBuf::from(format!("/tmp/{name}.log"));
    let opts = ckpt::RunOptions {
        name: Some(name),
        log: Some(&log),
        pod: true,
        ..Default::default()
    };
    let w = Workload::run_until_ready(
        &opts,
        &argv,
        &ready,
        Duration::from_secs(10),
        "the pod's ipcmk",
    )?;
    let pid = w.pid;
    let job = format!("{name}-restarted");
    let _job = RestartJob(Path::new(cgroup::ROOT).join(&job));
    let printed = fs::read_to_string(&made)?;
    c.eq(
        "ipcmk made a segment, a set and a queue",
        "Shared memory id: | Semaphore id: | Message queue id:",
        printed
            .lines()
            .map(|l| l.split(':').next().unwrap_or("").to_owned() + ":")
            .collect::<Vec<_>>()
            .join(" | "),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let views = |p: i32| {
        [
            util_ipcs(p, &["-a"]),
            util_ipcs(p, &["-c"]),
            util_ipcs(p, &["-t"]),
        ]
    };
    let before = views(pid);
    let img = checkpoint_kill_as(
        &mut c,
        name,
        pid,
        "ckpt checkpoint --kill of the pod's init",
    )?;
    let copy = restart_detached(&mut c, &img, &job)?;
    let after = views(copy);
    for (i, what) in [
        "ipcs -a in the pod (keys, ids, owners, modes, sizes, attachments, messages)",
        "ipcs -c in the pod (creators and owners)",
        "ipcs -t in the pod (attach, detach, change, send, receive and operation times)",
    ]
    .iter()
    .enumerate()
    {
        c.same(
            format!("{what}, as before"),
            format!("{:#?}", before[i]),
            format!("{:#?}", after[i]),
        );
    }
    // The keys ipcmk chose, from `ipcs -a`'s rows (key, id, owner...),
    // with ipcrm's option for the section they are in (queues first).
    let mut keys: Vec<(&str, String)> = Vec::new();
    let mut flag = "";
    for l in &before[0] {
        if l.contains("Message Queues") {
            flag = "-Q";
        } else if l.contains("Shared Memory") {
            flag = "-M";
        } else if l.contains("Semaphore Arrays") {
            flag = "-S";
        } else if let Some(key) = l.split(' ').next().filter(|k| k.starts_with("0x")) {
            keys.push((flag, key.to_owned()));
        }
    }
    keys.sort();
    c.eq(
        "one object of each kind with a key",
        "[\"-M\", \"-Q\", \"-S\"]",
        format!("{:?}", keys.iter().map(|k| k.0).collect::<Vec<_>>()),
    );
    let removed = in_ns_of(copy, "ipc", nix::sched::CloneFlags::CLONE_NEWIPC, || {
        let mut out = Vec::new();
        for (flag, key) in &keys {
            let o = Command::new("/bin/util-ipcrm")
                .args([*flag, key.as_str()])
                .output()
                .map_err(|e| e.to_string())?;
            out.push(format!("ipcrm {flag}: {}", exit_line(&o)));
        }
        Ok(out.join("; "))
    });
    c.eq(
        "ipcrm removes each by its key in the restarted pod",
        "ipcrm -M: exit 0; ipcrm -Q: exit 0; ipcrm -S: exit 0",
        removed.unwrap_or_else(|e| e.to_string()),
    );
    c.eq(
        "ipcs -a in the pod then shows none",
        0,
        util_ipcs(copy, &["-a"])
            .iter()
            .filter(|l| l.starts_with("0x"))
            .count(),
    );
    // For the snapshot: `ipcs -a` with the random keys left out.
    let state = before[0]
        .iter()
        .map(|l| match l.strip_prefix("0x") {
            Some(rest) => format!("ipcs: KEY {}", rest.split_once(' ').map_or("", |r| r.1)),
            None => format!("ipcs: {l}"),
        })
        .collect();
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// The cgroups of `pid` and its children below `job` (a cgroup directory
/// under /sys/fs/cgroup), from /proc: "/" for the job itself.
fn cgroups_below(pid: i32, job: &Path) -> Vec<String> {
    let job = job
        .strip_prefix(cgroup::MOUNT)
        .map(|p| format!("/{}", p.display()))
        .unwrap_or_default();
    let mut pids = vec![pid];
    pids.extend(children_of(pid).unwrap_or_default());
    pids.iter()
        .map(|p| {
            let cg = fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default();
            let path = cgroup::parse_proc_cgroup(&cg).unwrap_or("?");
            match path.strip_prefix(&job) {
                Some("") => "/".to_owned(),
                Some(rest) => rest.to_owned(),
                None => format!("outside the job: {path}"),
            }
        })
        .collect()
}

/// A tree whose parent stays in its job cgroup while its two children
/// move themselves into `workers/a` (with a thread) and `b` below it.
/// Checkpointed with `--kill` and restarted under another job name: each
/// process is in the same cgroup below the new job as it was below the
/// old one (/proc/PID/cgroup), the image names the two below the job, and
/// the processes check themselves (a thread in its process's cgroup).
pub(crate) fn restart_tree_cgroups(name: &str) -> Result<ScenarioResult> {
    cgroups_scenario(name, false)
}

/// [`restart_tree_cgroups`] in a pod (`ckpt run --pod`: its own cgroup
/// namespace, rooted at its job): inside it the processes see `/`,
/// `/workers/a` and `/b` before and after the restart, whose pod has a
/// new cgroup namespace rooted at the new job.
pub(crate) fn restart_pod_cgroups(name: &str) -> Result<ScenarioResult> {
    cgroups_scenario(name, true)
}

/// What `pid` and its children see of their cgroups from inside `pid`'s
/// cgroup namespace (/proc/PID/cgroup read there).
fn cgroups_inside(pid: i32) -> String {
    let mut pids = vec![pid];
    pids.extend(children_of(pid).unwrap_or_default());
    in_ns_of(
        pid,
        "cgroup",
        nix::sched::CloneFlags::CLONE_NEWCGROUP,
        || {
            Ok(pids
                .iter()
                .map(|p| fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default())
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
                .join(" "))
        },
    )
    .unwrap_or_else(|e| e.to_string())
}

fn cgroups_scenario(name: &str, pod: bool) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let started = StartedJob::start(name, "cgroups_tree", pod)?;
    let (w, job) = (&started.w, &started.job);
    let pid = w.pid;
    // The old job has cgroups below it too.
    let _old = RestartJob(w.cg.clone());
    let new_cg = Path::new(cgroup::ROOT).join(job);
    let before = cgroups_below(pid, &w.cg);
    c.eq(
        "the parent in the job cgroup, its children in workers/a and b below it",
        "[\"/\", \"/workers/a\", \"/b\"]",
        format!("{before:?}"),
    );
    let inside = pod.then(|| cgroups_inside(pid));
    if let Some(inside) = &inside {
        c.eq(
            "inside the pod's cgroup namespace: the job is /",
            "0::/ 0::/workers/a 0::/b",
            inside,
        );
    }
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let img = checkpoint_kill_as(&mut c, name, pid, "ckpt checkpoint --kill")?;
    let json = inspect_value(&img)?;
    let saved: Vec<String> = json["states"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| !s["mm"].is_null())
        .map(|s| s["cgroup"].as_str().unwrap_or("(the job)").to_owned())
        .collect();
    c.eq(
        "the image's cgroup records: none for the parent, workers/a and b for the children",
        "[\"(the job)\", \"/workers/a\", \"/b\"]",
        format!("{saved:?}"),
    );
    if pod {
        c.eq(
            "the image's pod has a cgroup namespace of its own",
            "true",
            json["pod"]["cgroup"].to_string(),
        );
    }
    let printed = restart_detached(&mut c, &img, job)?;
    // A pod's init has another pid outside.
    let copy = if pod { printed } else { pid };
    c.eq(
        "each process in the same cgroup below the new job",
        format!("{before:?}"),
        format!("{:?}", cgroups_below(copy, &new_cg)),
    );
    if let Some(inside) = &inside {
        c.eq(
            "inside the restarted pod's new cgroup namespace, as before",
            inside,
            cgroups_inside(copy),
        );
    }
    let verdict = started.verdict()?;
    c.eq(
        "the processes check themselves",
        "PASS",
        verdict.split_whitespace().next().unwrap_or(""),
    );
    let mut state: Vec<String> = before
        .iter()
        .map(|p| format!("cgroup below the job: {p}"))
        .collect();
    if !verdict.starts_with("PASS") {
        state.push(verdict.trim().to_owned());
    }
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// The row of SysV segment `id` in /proc/sysvipc/shm (this namespace's),
/// without its resident and swapped sizes and with the pids left out (a
/// restarted process keeps its pid, but a --pidns copy has another).
fn shm_row(id: &str) -> String {
    fs::read_to_string("/proc/sysvipc/shm")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&id))
        .map(|f| {
            f.iter()
                .take(14)
                .enumerate()
                .filter(|(i, _)| ![4, 5].contains(i))
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| format!("no segment {id}"))
}

/// A process of no pod (`sysv_attached`) attaches a private SysV segment
/// of the caller's IPC namespace, removed (`IPC_RMID`) while attached,
/// and counts in it. Checkpointed while it runs on, its image cannot be
/// restarted (in a new pid namespace, where its pid is free) while the
/// segment's id is in use: the error names the segment. Once the original
/// is killed (the segment goes with it), the restart makes the segment
/// again with its id: /proc/sysvipc/shm and the attachment in
/// /proc/PID/maps are as before, and the process checks itself.
pub(crate) fn restart_sysv_attached(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "sysv_attached")?;
    let pid = w.pid;
    let (go, result) = (
        PathBuf::from(format!("/tmp/go-{name}")),
        PathBuf::from(format!("/tmp/result-{name}")),
    );
    for p in [&go, &result] {
        let _ = fs::remove_file(p);
    }
    let maps = sysv_maps(pid);
    let id = maps
        .first()
        .and_then(|l| l.split(' ').nth(2))
        .unwrap_or("?")
        .to_owned();
    c.eq("one SysV attachment", 1, maps.len());
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let row = shm_row(&id);
    let img = format!("/tmp/{name}.img");
    let o = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", &img])
        .output()?;
    c.eq(
        "ckpt checkpoint, the process left running",
        "exit 0",
        exit_line(&o),
    );
    mark_log(name)?;
    let o = Command::new(CKPT)
        .args([
            "restart",
            "--pidns",
            "--name",
            &format!("{name}-taken"),
            &img,
        ])
        .output()?;
    let log = String::from_utf8_lossy(&log_since_mark(name)?).into_owned();
    let _taken = RestartJob(Path::new(cgroup::ROOT).join(format!("{name}-taken")));
    c.eq(
        "a restart while the original holds the segment fails",
        true,
        !o.status.success(),
    );
    c.eq(
        "the kernel log names the segment and says its id is in use",
        true,
        log.contains(&format!("cannot make SysV segment {id} "))
            && log.contains("its id or key is in use"),
    );
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
    cgroup::thaw(&w.cg)?;
    c.eq(
        "the segment went with the original",
        true,
        shm_row(&id).starts_with("no segment"),
    );
    let job = format!("{name}-restarted");
    let _job = RestartJob(Path::new(cgroup::ROOT).join(&job));
    restart_detached(&mut c, &img, &job)?;
    // Times and addresses vary from run to run: compared, shown only when
    // they differ.
    c.same(
        "the segment again with its id, size, mode, owner and times (/proc/sysvipc/shm)",
        row.clone(),
        shm_row(&id),
    );
    c.same(
        "the attachment at the same address, with the same id (/proc/PID/maps)",
        format!("{maps:?}"),
        format!("{:?}", sysv_maps(pid)),
    );
    fs::write(&go, b"go\n")?;
    let start = Instant::now();
    let whole = || fs::read_to_string(&result).is_ok_and(|v| v.ends_with('\n'));
    while !whole() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let verdict = fs::read_to_string(&result).unwrap_or_else(|_| "no result".to_owned());
    c.eq(
        "the process checks itself",
        "PASS",
        verdict.split_whitespace().next().unwrap_or(""),
    );
    Ok(ScenarioResult {
        checks: c.0,
        // Key, mode, size, attachments (the id depends on what ran before).
        state: vec![format!(
            "sysvipc: {}",
            row.split(' ')
                .enumerate()
                .filter(|(i, _)| [0, 2, 3, 4].contains(i))
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(" ")
        )],
        ..Default::default()
    })
}
