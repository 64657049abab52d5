//! Real programs nobody here wrote, run in the guest as a user runs them
//! and checked from outside.

use super::*;

/// Runs `busybox logger -t ckpt MSG` (a client outside the saved tree,
/// sending through `/dev/log`); whether it succeeded.
fn logger(msg: &str) -> bool {
    Command::new("/bin/busybox")
        .args(["logger", "-t", "ckpt", msg])
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits up to `secs` for `file` to contain `needle`.
fn wait_for(file: &str, needle: &str, secs: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if fs::read_to_string(file).is_ok_and(|s| s.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Busybox's syslogd on `/dev/log` (a bound unix datagram socket, mode
/// 0666) writing to a file. A client logs a line; the daemon is frozen
/// and a client logs a second line, which waits in the socket's queue;
/// the daemon is checkpointed with `--kill` and restarted. The restarted
/// daemon writes the queued line, then a third line a new client logs,
/// and `/dev/log` is a socket with mode 0666 again.
pub(crate) fn real_syslogd(name: &str) -> Result<ScenarioResult> {
    let out = format!("/tmp/{name}.out");
    let _ = fs::remove_file(&out);
    let _ = fs::remove_file("/dev/log");
    let log = PathBuf::from(format!("/tmp/{name}.log"));
    let opts = ckpt::RunOptions {
        name: Some(name),
        log: Some(&log),
    };
    let argv: Vec<OsString> = ["/bin/busybox", "syslogd", "-n", "-O", &out]
        .iter()
        .map(OsString::from)
        .collect();
    let pid = ckpt::run_with(&opts, &argv)?;
    let w = Workload {
        pid,
        cg: cgroup::of_pid(pid)?,
    };
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let mut c = Checks(Vec::new());
    let start = Instant::now();
    while !fs::metadata("/dev/log").is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_socket()
    }) {
        if start.elapsed() > Duration::from_secs(10) {
            bail!("syslogd made no /dev/log in 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Read once it runs busybox (it made /dev/log).
    let comm = fs::read_to_string(format!("/proc/{pid}/comm"))?
        .trim()
        .to_string();
    c.eq(
        "a line logged before",
        true,
        logger("before-checkpoint") && wait_for(&out, "before-checkpoint", 10),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    c.eq(
        "a line logged while frozen is sent",
        true,
        logger("while-frozen"),
    );
    let img = format!("/tmp/{name}.img");
    let o = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", &img, "--kill"])
        .output()?;
    c.eq(
        "ckpt checkpoint --kill exit status",
        0,
        o.status.code().unwrap_or(-1),
    );
    c.eq(
        "ckpt checkpoint's message",
        "",
        String::from_utf8_lossy(&o.stderr).trim(),
    );
    if !o.status.success() {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    }
    let _ = waitpid(Pid::from_raw(pid), None);
    c.eq(
        "the line logged while frozen was not written before the checkpoint",
        false,
        fs::read_to_string(&out).is_ok_and(|s| s.contains("while-frozen")),
    );
    let mut restarted = spawn_restart(&img)?;
    c.eq(
        "syslogd restarted with the same pid",
        true,
        wait_comm(pid, &comm),
    );
    c.eq(
        "the line queued in /dev/log is written after the restart",
        true,
        wait_for(&out, "while-frozen", 10),
    );
    c.eq(
        "a line logged after the restart",
        true,
        logger("after-restart") && wait_for(&out, "after-restart", 10),
    );
    let mode = fs::metadata("/dev/log").map(|m| {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        format!(
            "socket {}: {:o}",
            m.file_type().is_socket(),
            m.permissions().mode() & 0o777
        )
    });
    c.eq(
        "/dev/log",
        "socket true: 666",
        mode.unwrap_or_else(|e| e.to_string()),
    );
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let status = restarted.wait()?;
    c.eq(
        "ckpt restart ends with the kill (128 + SIGKILL)",
        137,
        status.code().unwrap_or(-1),
    );
    let lines = fs::read_to_string(&out).unwrap_or_default();
    let order: Vec<&str> = ["before-checkpoint", "while-frozen", "after-restart"]
        .into_iter()
        .filter(|l| lines.contains(l))
        .collect();
    c.eq(
        "lines in the log, in order",
        "before-checkpoint while-frozen after-restart",
        {
            let mut pos: Vec<(usize, &str)> = order
                .iter()
                .filter_map(|l| lines.find(l).map(|p| (p, *l)))
                .collect();
            pos.sort();
            pos.iter().map(|(_, l)| *l).collect::<Vec<_>>().join(" ")
        },
    );
    Ok(ScenarioResult {
        checks: c.0,
        ..Default::default()
    })
}
