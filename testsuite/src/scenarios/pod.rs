//! Pods: a command started with `ckpt run --pod` as pid 1 of new pid, IPC
//! and UTS namespaces, checkpointed whole and restarted as pid 1 of new
//! ones, twice side by side, checked from outside.

use super::*;

/// Runs `f` in a child that joins the UTS namespace of `pid`: what `f`
/// returns, or the error it met.
fn in_uts_of(pid: i32, f: impl FnOnce() -> Result<String, Errno>) -> Result<String> {
    let ns = File::open(format!("/proc/{pid}/ns/uts"))
        .with_context(|| format!("opening /proc/{pid}/ns/uts"))?;
    let (r, w) = nix::unistd::pipe()?;
    // SAFETY: the child joins the namespace, runs `f` (plain system calls)
    // and leaves at once.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(r);
            let out = nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWUTS)
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
fn ns_of(pid: i32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|l| l.display().to_string())
        .unwrap_or_else(|e| e.to_string())
}

/// `pid`'s number in the innermost pid namespace it is in.
fn inner_pid(pid: i32) -> String {
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
    let img = format!("/tmp/{name}.img");
    let o = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", &img, "--kill"])
        .output()?;
    c.eq(
        "ckpt checkpoint --kill of the pod's init",
        "exit 0",
        format!(
            "exit {} {}",
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).trim()
        )
        .trim_end(),
    );
    let _ = waitpid(Pid::from_raw(pid), None);
    let out = Command::new(CKPT)
        .args(["inspect", "--json", &img])
        .output()?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    c.eq(
        "the image is of a whole pid namespace (flags 0), rooted at pid 1",
        "0 1",
        format!("{} {}", json["header"]["flags"], json["root_pid"]),
    );
    c.eq(
        "the image's pod: own UTS namespace with its names, own IPC namespace",
        r#"{"ipc":true,"uts":{"domainname":"poddomain","hostname":"podhost"}}"#,
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
            format!(
                "exit {} {}",
                o.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&o.stderr).trim()
            )
            .trim_end(),
        );
        copies.push(
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<i32>()
                .unwrap_or(0),
        );
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
