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

/// Starts `argv` (a program nobody here wrote) as `ckpt run` does, in a
/// job cgroup of its own, logging to `/tmp/NAME.log`: the workload, the
/// restart job its `ckpt restart` will make (removed when dropped) and the
/// log's path.
fn run_program(name: &str, argv: &[&str]) -> Result<(Workload, RestartJob, PathBuf)> {
    let log = PathBuf::from(format!("/tmp/{name}.log"));
    let opts = ckpt::RunOptions {
        name: Some(name),
        log: Some(&log),
    };
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    let pid = ckpt::run_with(&opts, &argv)?;
    let w = Workload {
        pid,
        cg: cgroup::of_pid(pid)?,
    };
    let job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    Ok((w, job, log))
}

/// `ckpt checkpoint PID -o /tmp/NAME.img --kill` of the frozen `pid`, its
/// status and message checked, the killed process reaped: the image's
/// path, or `None` if the checkpoint failed (nothing was killed).
fn checkpoint_kill(name: &str, pid: i32, c: &mut Checks) -> Result<Option<String>> {
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
        return Ok(None);
    }
    let _ = waitpid(Pid::from_raw(pid), None);
    Ok(Some(img))
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
    let (w, _job, _) = run_program(name, &["/bin/busybox", "syslogd", "-n", "-O", &out])?;
    let pid = w.pid;
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
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
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

/// `sqlite3 DB SQL` run as a second client, outside the saved tree: its
/// output, or its error message.
fn sqlite(db: &str, sql: &str) -> String {
    match Command::new("/bin/sqlite3").args([db, sql]).output() {
        Ok(o) => {
            let text = if o.status.success() {
                o.stdout
            } else {
                o.stderr
            };
            String::from_utf8_lossy(&text).trim().to_string()
        }
        Err(e) => format!("cannot run sqlite3: {e}"),
    }
}

/// Debian's sqlite3 in a write transaction: `BEGIN EXCLUSIVE` and an
/// insert, read from a FIFO kept open by the scenario. A second sqlite3
/// finds the database locked; the first is checkpointed with `--kill` and
/// restarted, holding its locks again before it runs: the second still
/// finds the database locked. Then `COMMIT` reaches the restarted one
/// through the FIFO, it commits and quits, and the second sees both rows.
pub(crate) fn real_sqlite3(name: &str) -> Result<ScenarioResult> {
    use std::io::Write;
    let db = format!("/tmp/{name}.db");
    let fifo = format!("/tmp/{name}.fifo");
    for f in [&db, &fifo] {
        let _ = fs::remove_file(f);
    }
    let _ = fs::remove_file(format!("{db}-journal"));
    let mut c = Checks(Vec::new());
    c.eq(
        "the database is made",
        "",
        sqlite(&db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);"),
    );
    nix::unistd::mkfifo(
        fifo.as_str(),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )?;
    let script = format!("exec /bin/sqlite3 {db} < {fifo}");
    let (w, _job, log) = run_program(name, &["/bin/sh", "-c", &script])?;
    let pid = w.pid;
    // Opening the FIFO for writing meets the shell's open for reading.
    let mut input = OpenOptions::new().write(true).open(&fifo)?;
    input.write_all(b"BEGIN EXCLUSIVE;\nINSERT INTO t VALUES(2);\n")?;
    let locked = || sqlite(&db, "SELECT count(*) FROM t;").contains("locked");
    // Wait for its write lock in /proc/locks (a second sqlite3 polling
    // would take a shared lock and make the BEGIN fail).
    let holds_write_lock = || {
        fs::read_to_string("/proc/locks").is_ok_and(|l| {
            l.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.get(1) == Some(&"POSIX")
                    && w.get(3) == Some(&"WRITE")
                    && w.get(4) == Some(&pid.to_string().as_str())
            })
        })
    };
    let start = Instant::now();
    while !holds_write_lock() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    c.eq(
        "sqlite3 holds a POSIX write lock (/proc/locks)",
        true,
        holds_write_lock(),
    );
    c.eq("a second sqlite3 finds the database locked", true, locked());
    let comm = fs::read_to_string(format!("/proc/{pid}/comm"))?
        .trim()
        .to_string();
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let inspect = Command::new(CKPT).args(["inspect", &img]).output()?;
    let locks = String::from_utf8_lossy(&inspect.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("lock: posix"))
        .count();
    c.eq("the image holds sqlite3's POSIX locks", true, locks > 0);
    let restarted = spawn_restart(&img)?;
    c.eq(
        "sqlite3 restarted with the same pid",
        true,
        wait_comm(pid, &comm),
    );
    c.eq(
        "sqlite3 holds its POSIX write lock again (/proc/locks, same pid)",
        true,
        holds_write_lock(),
    );
    c.eq(
        "the database is still locked after the restart",
        true,
        locked(),
    );
    input.write_all(b"COMMIT;\n.quit\n")?;
    drop(input);
    let o = restarted.wait_with_output()?;
    let status = o.status;
    c.eq(
        "the restarted sqlite3 commits and quits (ckpt restart's status)",
        0,
        status.code().unwrap_or(-1),
    );
    c.eq(
        "ckpt restart stderr",
        "",
        String::from_utf8_lossy(&o.stderr).trim(),
    );
    c.eq(
        "a second sqlite3 sees both rows",
        "2",
        sqlite(&db, "SELECT count(*) FROM t;"),
    );
    // What the program said, shown when a check fails.
    let failed = c.0.iter().any(|k| k.expected != k.got);
    let state = if failed {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| format!("log: {l}"))
            .collect()
    } else {
        Vec::new()
    };
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}
