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
        pod: false,
        ..Default::default()
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

/// What the program said (its log, one line each), when a check failed;
/// nothing when all passed.
fn log_if_failed(c: &Checks, log: &Path) -> Vec<String> {
    if c.0.iter().all(|k| k.expected == k.got) {
        return Vec::new();
    }
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| format!("log: {l}"))
        .collect()
}

/// Starts Debian's sqlite3 on the database `db` as a user would, reading
/// SQL from a new FIFO `/tmp/NAME.fifo` (as `run_program` does: in a job
/// of its own): the workload, its restart job, its log and the FIFO's
/// write end, which the scenario holds open.
fn sqlite_on_fifo(name: &str, db: &str) -> Result<(Workload, RestartJob, PathBuf, File)> {
    let fifo = format!("/tmp/{name}.fifo");
    let _ = fs::remove_file(&fifo);
    nix::unistd::mkfifo(
        fifo.as_str(),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )?;
    let script = format!("exec /bin/sqlite3 {db} < {fifo}");
    let (w, job, log) = run_program(name, &["/bin/sh", "-c", &script])?;
    // Opening the FIFO for writing meets the shell's open for reading.
    let input = OpenOptions::new().write(true).open(&fifo)?;
    Ok((w, job, log, input))
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
    let _ = fs::remove_file(&db);
    let _ = fs::remove_file(format!("{db}-journal"));
    let mut c = Checks(Vec::new());
    c.eq(
        "the database is made",
        "",
        sqlite(&db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);"),
    );
    let (w, _job, log, mut input) = sqlite_on_fifo(name, &db)?;
    let pid = w.pid;
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
    let state = log_if_failed(&c, &log);
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// `tmux -S SOCK ARGS…` (a client outside the saved tree): its stdout, or
/// an error with its stderr.
fn tmux(sock: &str, args: &[&str]) -> Result<String> {
    let o = Command::new("/bin/tmux")
        .args(["-S", sock])
        .args(args)
        .env("TERM", "screen")
        .output()?;
    if !o.status.success() {
        bail!(
            "tmux {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Waits up to `secs` for the first window's visible text to contain
/// `needle`; the last text seen.
fn wait_pane(sock: &str, needle: &str, secs: u64) -> (bool, String) {
    wait_window(sock, "0:0", needle, secs)
}

/// Waits up to `secs` for the visible text of window `target` to contain
/// `needle`; the last text seen.
fn wait_window(sock: &str, target: &str, needle: &str, secs: u64) -> (bool, String) {
    let start = Instant::now();
    let mut text = String::new();
    while start.elapsed() < Duration::from_secs(secs) {
        text = tmux(sock, &["capture-pane", "-p", "-t", target]).unwrap_or_default();
        if text.contains(needle) {
            return (true, text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (false, text)
}

/// The controlling terminal of `pid` and its foreground process group,
/// from `tty_nr` and `tpgid` of /proc/PID/stat: `pts/N, foreground: its
/// own group` (or the group's number when it is another).
fn tty_of(pid: i32) -> String {
    let st = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest: Vec<i64> = st
        .rsplit_once(')')
        .map(|(_, r)| {
            r.split_whitespace()
                .skip(4)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // Fields 7 and 8 (rest[0] was field 3).
    let (Some(&nr), Some(&fg)) = (rest.first(), rest.get(1)) else {
        return "unreadable".into();
    };
    let (major, minor) = ((nr >> 8) & 0xfff, (nr & 0xff) | ((nr >> 12) & 0xfff00));
    let tty = if (136..144).contains(&major) {
        format!("pts/{}", (major - 136) * 256 + minor)
    } else {
        format!("{major}:{minor}")
    };
    let fg = if fg == i64::from(pid) {
        "its own group".to_string()
    } else {
        fg.to_string()
    };
    format!("{tty}, foreground: {fg}")
}

/// Debian's tmux: a detached session whose pane runs busybox's shell
/// (interactive, with job control, on the pane's pty). A command typed
/// through `send-keys` runs; the server and the shell are checkpointed
/// with `--kill` and restarted. A new tmux client finds the server again
/// on its socket, the pane still shows what it showed, a command typed
/// after the restart runs in the same shell (its pid and its terminal as
/// before), and job control works on the restored terminal: a job is
/// stopped with Ctrl-Z through the pty, listed by `jobs`, brought back
/// with `fg` and interrupted with Ctrl-C.
pub(crate) fn real_tmux(name: &str) -> Result<ScenarioResult> {
    let sock = format!("/tmp/{name}.sock");
    let _ = fs::remove_file(&sock);
    let (w, _job, _) = run_program(
        name,
        &[
            "/bin/tmux",
            "-u",
            "-S",
            &sock,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "/bin/sh",
        ],
    )?;
    let mut c = Checks(Vec::new());
    // The client that started the server exits; the server daemonized.
    let _ = waitpid(Pid::from_raw(w.pid), None);
    let server: i32 = tmux(&sock, &["display-message", "-p", "#{pid}"])?
        .trim()
        .parse()
        .context("the server's pid")?;
    let shell: i32 = tmux(&sock, &["display-message", "-p", "-t", "0", "#{pane_pid}"])?
        .trim()
        .parse()
        .context("the pane's pid")?;
    tmux(
        &sock,
        &["send-keys", "-t", "0", "echo before-$((6*7))", "Enter"],
    )?;
    let (ok, _) = wait_pane(&sock, "before-42", 10);
    c.eq("a command typed before the checkpoint runs", true, ok);
    // A second window with busybox less paging a numbered file, and a
    // third with a shell loop counting.
    let paged = format!("/tmp/{name}-paged.txt");
    fs::write(
        &paged,
        (1..=200)
            .map(|i| format!("line {i:03}\n"))
            .collect::<String>(),
    )?;
    tmux(
        &sock,
        &[
            "new-window",
            "-d",
            "-t",
            "0:1",
            &format!("/bin/busybox less {paged}"),
        ],
    )?;
    tmux(
        &sock,
        &[
            "new-window",
            "-d",
            "-t",
            "0:2",
            "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done",
        ],
    )?;
    let (ok, pager_before) = wait_window(&sock, "0:1", "line 020", 10);
    c.eq("less shows the file's first page", true, ok);
    let (ok, _) = wait_window(&sock, "0:2", "tick-2", 10);
    c.eq("the loop counts", true, ok);
    // A job stopped with Ctrl-Z before the checkpoint.
    tmux(&sock, &["send-keys", "-t", "0", "sleep 100", "Enter"])?;
    let job = wait_child_named(shell, "sleep");
    tmux(&sock, &["send-keys", "-t", "0", "C-z"])?;
    let (stopped, _) = wait_pane(&sock, "Stopped", 10);
    c.eq("Ctrl-Z stops the job before the checkpoint", true, stopped);
    let job_state = |pid: Option<i32>| -> String {
        pid.and_then(|p| fs::read_to_string(format!("/proc/{p}/stat")).ok())
            .and_then(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next().map(str::to_owned))
            })
            .unwrap_or_else(|| "gone".to_owned())
    };
    c.eq("the stopped job's state in /proc", "T", job_state(job));
    let tty_before = tty_of(shell);
    let server_comm = fs::read_to_string(format!("/proc/{server}/comm"))?
        .trim()
        .to_string();
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let Some(img) = checkpoint_kill(name, server, &mut c)? else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    c.eq(
        "no tmux server answers after the kill",
        true,
        tmux(&sock, &["list-sessions"]).is_err(),
    );
    let mut restarted = spawn_restart(&img)?;
    c.eq(
        "the server restarted with the same pid",
        true,
        wait_comm(server, &server_comm),
    );
    c.eq(
        "a new client finds the session on the socket",
        "0",
        tmux(&sock, &["list-sessions", "-F", "#{session_name}"])
            .unwrap_or_else(|e| e.to_string())
            .trim(),
    );
    let ticks = |text: &str| -> u64 {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("tick-")?.parse().ok())
            .max()
            .unwrap_or(0)
    };
    // The loop's count when the server comes back, then a higher one.
    let counted = ticks(&wait_window(&sock, "0:2", "tick-", 10).1);
    let (ok, _) = wait_window(&sock, "0:2", &format!("tick-{}", counted + 2), 15);
    c.eq("the loop goes on counting after the restart", true, ok);
    c.eq(
        "less shows the same screen after the restart",
        pager_before.as_str(),
        tmux(&sock, &["capture-pane", "-p", "-t", "0:1"])
            .unwrap_or_else(|e| e.to_string())
            .as_str(),
    );
    let _ = tmux(&sock, &["send-keys", "-t", "0:1", "Space"]);
    let (ok, _) = wait_window(&sock, "0:1", "line 040", 10);
    c.eq("less pages on after the restart (Space)", true, ok);
    let pane_pid = tmux(
        &sock,
        &["display-message", "-p", "-t", "0:0", "#{pane_pid}"],
    )
    .unwrap_or_else(|e| e.to_string());
    c.eq(
        "the pane's shell is the same process (pid)",
        "same",
        if pane_pid.trim() == shell.to_string() {
            "same".to_string()
        } else {
            format!("{shell} before, {} now", pane_pid.trim())
        },
    );
    c.eq(
        "the shell's controlling terminal before the checkpoint",
        "pts/0, foreground: its own group",
        tty_before.as_str(),
    );
    c.eq(
        "the shell's controlling terminal after the restart",
        tty_before.as_str(),
        tty_of(shell),
    );
    let _ = tmux(
        &sock,
        &["send-keys", "-t", "0", "echo after-$((7*6))", "Enter"],
    );
    let (ok, text) = wait_pane(&sock, "after-42", 10);
    c.eq("a command typed after the restart runs", true, ok);
    c.eq(
        "the pane still shows what ran before",
        true,
        text.contains("before-42"),
    );
    // Job control through the pty: the job stopped before the checkpoint
    // is still stopped, fg resumes it in the foreground, Ctrl-C ends it.
    c.eq(
        "the job stopped with Ctrl-Z is still stopped after the restart",
        "T",
        job_state(job),
    );
    let _ = tmux(&sock, &["send-keys", "-t", "0", "fg", "Enter"]);
    let start = Instant::now();
    while job_state(job) != "S" && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    c.eq("fg resumes it: state in /proc", "S", job_state(job));
    let _ = tmux(&sock, &["send-keys", "-t", "0", "C-c"]);
    let _ = tmux(&sock, &["send-keys", "-t", "0", "echo done-$?", "Enter"]);
    let (done, text) = wait_pane(&sock, "done-130", 10);
    c.eq(
        "fg brings the job back and Ctrl-C interrupts it (status 130)",
        true,
        done,
    );
    if !done {
        eprintln!("{name}: the pane shows:\n{text}");
    }
    let _ = tmux(&sock, &["kill-server"]);
    let status = restarted.wait()?;
    c.eq(
        "ckpt restart ends with the server's status after kill-server",
        0,
        status.code().unwrap_or(-1),
    );
    Ok(ScenarioResult {
        checks: c.0,
        ..Default::default()
    })
}

/// The descriptors of `pid` open on deleted files (`… (deleted)`), their
/// targets.
fn deleted_fds(pid: i32) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|t| t.ends_with(" (deleted)") && t.starts_with("/tmp/"))
                .collect()
        })
        .unwrap_or_default()
}

/// Debian's sqlite3 with a temporary table in a temporary file (`PRAGMA
/// temp_store=FILE` and a small cache, so its 20,000 rows spill to disk):
/// sqlite3 unlinks its temporary files as soon as it opens them. The
/// program reads SQL from a FIFO the scenario holds; once the table is
/// filled and summed, it is checkpointed with `--kill` (the image holds
/// the deleted file's contents) and restarted; the same query then gives
/// the same count and sum, read from the temporary file that came back
/// deleted.
pub(crate) fn real_sqlite3_temp(name: &str) -> Result<ScenarioResult> {
    use std::io::Write;
    let db = format!("/tmp/{name}.db");
    let _ = fs::remove_file(&db);
    let mut c = Checks(Vec::new());
    let (w, _job, log, mut input) = sqlite_on_fifo(name, &db)?;
    let pid = w.pid;
    input.write_all(
        b"PRAGMA temp_store=FILE;\nPRAGMA temp.cache_size=10;\nCREATE TEMP TABLE big(x);\n\
          WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<20000) \
          INSERT INTO big SELECT i FROM c;\n\
          SELECT 'before', count(*), sum(x) FROM temp.big;\n",
    )?;
    let log_has = |s: &str| wait_for(&log.to_string_lossy(), s, 20);
    c.eq(
        "the temporary table is filled and summed",
        true,
        log_has("before|20000|200010000"),
    );
    let before = deleted_fds(pid);
    c.eq(
        "sqlite3 holds a deleted temporary file in /tmp",
        true,
        !before.is_empty(),
    );
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
    // "fd N: deleted … (B bytes, P pages saved)": pages of its contents.
    let pages: u64 = String::from_utf8_lossy(&inspect.stdout)
        .lines()
        .filter(|l| l.contains(": deleted"))
        .filter_map(|l| {
            let (head, _) = l.rsplit_once(" pages saved")?;
            head.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    c.eq(
        "the image holds the deleted file with its contents (pages saved)",
        true,
        pages > 0,
    );
    let restarted = spawn_restart(&img)?;
    c.eq(
        "sqlite3 restarted with the same pid",
        true,
        wait_comm(pid, &comm),
    );
    // Their names are random (etilqs_…): compared, not shown.
    let after = deleted_fds(pid);
    c.eq(
        "its temporary files are deleted files in /tmp again, as before",
        "same",
        if after == before {
            "same".to_string()
        } else {
            format!("{before:?} before, {after:?} now")
        },
    );
    input.write_all(b"SELECT 'after', count(*), sum(x) FROM temp.big;\n.quit\n")?;
    drop(input);
    let o = restarted.wait_with_output()?;
    c.eq(
        "the restarted sqlite3 quits (ckpt restart's status)",
        0,
        o.status.code().unwrap_or(-1),
    );
    c.eq(
        "the temporary table has its rows after the restart",
        true,
        log_has("after|20000|200010000"),
    );
    let state = log_if_failed(&c, &log);
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// The `inotify wd:` lines of every fdinfo of `pid` (watch descriptor,
/// inode, masks), sorted.
fn inotify_watches(pid: i32) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

/// Appends `line` and a newline to `path`, in one write (a reader never
/// sees the line without its newline).
fn append(path: &str, line: &str) -> Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())?;
    Ok(())
}

/// GNU `tail -f` (coreutils) following a log file, which it watches with
/// inotify and reads when an event comes. A line is appended and shown;
/// tail is frozen and a second line is appended, whose `IN_MODIFY` waits in
/// tail's inotify queue; tail is checkpointed with `--kill` and restarted.
/// The restarted tail shows the second line with nothing more written (the
/// queued event woke it), then a third line appended after the restart,
/// and its inotify watches are the same (descriptors, inode, masks).
pub(crate) fn real_tail(name: &str) -> Result<ScenarioResult> {
    let log = format!("/tmp/{name}-followed.log");
    fs::write(&log, "first-line\n")?;
    let (w, _job, out) = run_program(name, &["/bin/gnu-tail", "-n", "+1", "-f", &log])?;
    let out = out.to_string_lossy().into_owned();
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    c.eq(
        "tail shows the first line",
        true,
        wait_for(&out, "first-line", 10),
    );
    let comm = fs::read_to_string(format!("/proc/{pid}/comm"))?
        .trim()
        .to_string();
    append(&log, "before-checkpoint")?;
    c.eq(
        "a line appended before is shown",
        true,
        wait_for(&out, "before-checkpoint", 10),
    );
    let watches = inotify_watches(pid);
    c.eq(
        "tail follows the file through inotify watches",
        1,
        watches.len(),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    append(&log, "while-frozen")?;
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    c.eq(
        "the line appended while frozen was not shown before the checkpoint",
        false,
        fs::read_to_string(&out).is_ok_and(|s| s.contains("while-frozen")),
    );
    let mut restarted = spawn_restart(&img)?;
    c.eq(
        "tail restarted with the same pid",
        true,
        wait_comm(pid, &comm),
    );
    c.eq(
        "the line appended while frozen is shown after the restart (its queued event)",
        true,
        wait_for(&out, "while-frozen", 10),
    );
    c.eq(
        "its inotify watches are as before (descriptor, inode, masks)",
        true,
        inotify_watches(pid) == watches,
    );
    append(&log, "after-restart")?;
    c.eq(
        "a line appended after the restart is shown",
        true,
        wait_for(&out, "after-restart", 10),
    );
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let status = restarted.wait()?;
    c.eq(
        "ckpt restart ends with the kill (128 + SIGKILL)",
        137,
        status.code().unwrap_or(-1),
    );
    c.eq(
        "what tail showed, in order",
        "first-line\nbefore-checkpoint\nwhile-frozen\nafter-restart\n",
        fs::read_to_string(&out).unwrap_or_default(),
    );
    let logged = log_if_failed(&c, Path::new(&out));
    Ok(ScenarioResult {
        checks: c.0,
        state: logged,
        ..Default::default()
    })
}

/// Debian's Python 3 running a multiprocessing job (`mp_pool.py`, in
/// `testsuite/python/`): a Manager process serving a dict over a unix
/// socket, a Pool of three workers fed through its queues (pipes and
/// semaphores in /dev/shm) and its handler threads, squaring 600 numbers.
/// Once it has made progress the whole tree is frozen, checkpointed with
/// `--kill` and restarted; the job goes on and ends with the right sums
/// (what the parent got, what the workers recorded in the manager's
/// dict), and exit status 0.
pub(crate) fn real_python(name: &str) -> Result<ScenarioResult> {
    let (w, _job, out) = run_program(
        name,
        &[
            "/bin/python3",
            "-I",
            "-S",
            "-B",
            "/usr/share/kernel-ckpt/mp_pool.py",
            "600",
        ],
    )?;
    let out = out.to_string_lossy().into_owned();
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    c.eq(
        "the pool makes progress before the checkpoint",
        true,
        wait_for(&out, "progress 100", 120),
    );
    let comm = fs::read_to_string(format!("/proc/{pid}/comm"))?
        .trim()
        .to_string();
    let procs = |cg: &Path| {
        fs::read_to_string(cg.join("cgroup.procs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    // The parent, the manager and three workers.
    c.eq("processes in the job", 5, procs(&w.cg));
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let before = fs::read_to_string(&out).unwrap_or_default();
    let mem_before = memory_of(&w.cg);
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        let logged = log_if_failed(&c, Path::new(&out));
        return Ok(ScenarioResult {
            checks: c.0,
            state: logged,
            ..Default::default()
        });
    };
    c.eq(
        "the job had not finished at the checkpoint",
        false,
        before.contains("total"),
    );
    let restarted = spawn_restart(&img)?;
    c.eq(
        "python restarted with the same pid",
        true,
        wait_comm(pid, &comm),
    );
    forked_memory_shared(&mut c, &img, pid, &mem_before);
    pool_finishes(&mut c, &out, restarted)?;
    let logged = log_if_failed(&c, Path::new(&out));
    Ok(ScenarioResult {
        checks: c.0,
        state: logged,
        ..Default::default()
    })
}

/// The processes of job cgroup `cg`: pid, comm and memory.
fn memory_of(cg: &Path) -> Vec<(i32, String, crate::truth::Memory)> {
    let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap_or_default();
    procs
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .filter_map(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            Some((pid, comm.trim().to_string(), crate::truth::rollup(pid)?))
        })
        .collect()
}

/// After the restart of a tree whose processes were forked (the
/// processes of `before`, `root` among them, from image `img`): the
/// image saves the pages the children still share with their parent once,
/// and the restarted processes share them again. Read as soon as every
/// process is back (they run on meanwhile: a little memory of their own
/// may be new).
fn forked_memory_shared(
    c: &mut Checks,
    img: &str,
    root: i32,
    before: &[(i32, String, crate::truth::Memory)],
) {
    let image = fs::read(img)
        .ok()
        .and_then(|b| ckpt::inspect::parse(&b).ok());
    let (mut from_parent, mut shared_pages) = (0, 0u64);
    for st in image.iter().flat_map(|i| i.states.iter()) {
        if let Some(mm) = st.mm.as_ref().filter(|m| m.from == Some(root)) {
            from_parent += 1;
            shared_pages += mm.shared;
        }
    }
    // The pool's three workers are single-threaded; the manager's server
    // runs threads, whose memory is saved as its own.
    c.eq(
        "processes whose memory the image starts from python's (copy-on-write, as forked)",
        true,
        from_parent >= 3,
    );
    let start = Instant::now();
    let back = loop {
        let all = before.iter().all(|(pid, comm, _)| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        });
        if all || start.elapsed() > Duration::from_secs(30) {
            break all;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let after: Vec<crate::truth::Memory> = before
        .iter()
        .map(|(pid, _, _)| crate::truth::rollup(*pid).unwrap_or_default())
        .collect();
    let private_before: u64 = before.iter().map(|b| b.2.private).sum();
    let shared_before: u64 = before.iter().map(|b| b.2.shared).sum();
    let pss_before: u64 = before.iter().map(|b| b.2.pss).sum();
    let private_after: u64 = after.iter().map(|r| r.private).sum();
    let pss_after: u64 = after.iter().map(|r| r.pss).sum();
    eprintln!(
        "real_python: {from_parent} processes from python's memory, {shared_pages} pages shared in the image; private {private_before} kB -> {private_after} kB, pss {pss_before} kB -> {pss_after} kB, shared before {shared_before} kB"
    );
    c.eq("every process back", true, back);
    // Copies would turn what the children share with python into memory
    // of their own: most of `shared_before`.
    c.eq(
        "memory the processes share stays shared: their private memory grows by less than a quarter of what they shared",
        true,
        private_after < private_before + shared_before / 4,
    );
}

/// After the restart of `mp_pool.py 600` (logging to `out`, `restarted`
/// its `ckpt restart`): its job ends with the right sums, `ckpt restart`
/// exits with python's status 0, and no traceback was printed.
fn pool_finishes(c: &mut Checks, out: &str, restarted: std::process::Child) -> Result<()> {
    let expected: u64 = (0..600u64).map(|n| n * n).sum();
    c.eq(
        "the job ends after the restart with the right sums",
        true,
        wait_for(
            out,
            &format!("total {expected} recorded {expected} expected {expected}"),
            180,
        ),
    );
    let status = restarted.wait_with_output()?;
    c.eq(
        "ckpt restart exit status (python's)",
        0,
        status.status.code().unwrap_or(-1),
    );
    let text = fs::read_to_string(out).unwrap_or_default();
    c.eq("no Python traceback", false, text.contains("Traceback"));
    Ok(())
}

/// The pid of a child of `parent` named `comm`, once there is one (up to
/// 10 s).
fn wait_child_named(parent: i32, comm: &str) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let kids = fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        for k in kids.split_whitespace() {
            if fs::read_to_string(format!("/proc/{k}/comm")).is_ok_and(|c| c.trim() == comm) {
                return k.parse().ok();
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// GNU `timeout` (Debian's coreutils) bounds a busybox `sleep` with a
/// POSIX timer (`timer_create(CLOCK_REALTIME)`, `SIGALRM`): checkpointed
/// with `--kill` after 1.5 s of its 5 and restarted, its timer is the
/// same in `/proc/PID/timers`, fires after the time that was left, and
/// `timeout` ends the command and exits 124 as it would have.
pub(crate) fn real_timeout(name: &str) -> Result<ScenarioResult> {
    let (w, _job, _) = run_program(
        name,
        &["/bin/gnu-timeout", "5", "/bin/busybox", "sleep", "100"],
    )?;
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    // busybox runs as "busybox sleep 100": its name is busybox's.
    let child = wait_child_named(pid, "busybox");
    c.eq(
        "timeout runs the command as its child",
        true,
        child.is_some(),
    );
    let timers = |p: i32| fs::read_to_string(format!("/proc/{p}/timers")).unwrap_or_default();
    let before = timers(pid);
    c.eq(
        "its POSIX timer: a CLOCK_REALTIME timer sending SIGALRM (14)",
        "ID: 0 | signal: 14/0000000000000000 | ClockID: 0",
        before
            .lines()
            .filter(|l| !l.starts_with("notify:"))
            .collect::<Vec<_>>()
            .join(" | "),
    );
    std::thread::sleep(Duration::from_millis(1500));
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
    let restarted_at = Instant::now();
    let restarted = spawn_restart(&img)?;
    c.eq(
        "timeout restarted with the same pid",
        true,
        wait_comm(pid, &comm),
    );
    c.same("/proc/PID/timers as before", before.clone(), timers(pid));
    c.eq(
        "its command is back with its pid, still sleeping",
        true,
        wait_child_named(pid, "busybox") == child,
    );
    let out = restarted.wait_with_output()?;
    let took = restarted_at.elapsed();
    c.eq(
        "timeout ended the command when its time was up: exit status 124",
        124,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "its timer fired after the 3.5 s that were left (between 2.5 s and 10 s after the restart)",
        true,
        took >= Duration::from_millis(2500) && took < Duration::from_secs(10),
    );
    eprintln!(
        "{name}: the timer fired {:.2} s after the restart",
        took.as_secs_f64()
    );
    Ok(ScenarioResult {
        checks: c.0,
        ..Default::default()
    })
}

/// The files below `/tmp` of `pid`'s mount namespace (through
/// `/proc/PID/root`): each path and its type.
fn pod_tmp_files(pid: i32) -> Vec<String> {
    let root = PathBuf::from(format!("/proc/{pid}/root/tmp"));
    let mut out = Vec::new();
    let mut todo = vec![root.clone()];
    while let Some(dir) = todo.pop() {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(t) = e.file_type() else { continue };
            use std::os::unix::fs::FileTypeExt;
            let kind = if t.is_dir() {
                todo.push(e.path());
                "dir"
            } else if t.is_socket() {
                "socket"
            } else {
                "file"
            };
            let rel = e
                .path()
                .strip_prefix(&root)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            out.push(format!("/tmp/{} {kind}", rel.display()));
        }
    }
    out.sort();
    out
}

/// [`real_python`]'s pool as a pod with a private `/tmp` and `/dev/shm`
/// (`ckpt run --pod --private-tmp`, python its pid 1): the manager's
/// server listens on a unix socket in a directory of the pod's own
/// `/tmp`. Checkpointed whole with `--kill` mid-job and restarted: the
/// directory and its socket are in the restarted pod's `/tmp` (and never
/// in the host's), and the job ends with the right sums.
pub(crate) fn real_python_pod(name: &str) -> Result<ScenarioResult> {
    let log = PathBuf::from(format!("/run/{name}.log"));
    let _ = fs::remove_file(&log);
    let opts = ckpt::RunOptions {
        name: Some(name),
        log: Some(&log),
        pod: true,
        private_tmp: true,
        net: false,
    };
    let argv: Vec<OsString> = [
        "/bin/python3",
        "-I",
        "-S",
        "-B",
        "/usr/share/kernel-ckpt/mp_pool.py",
        "600",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let pid = ckpt::run_with(&opts, &argv)?;
    let w = Workload {
        pid,
        cg: cgroup::of_pid(pid)?,
    };
    let job = format!("{name}-restarted");
    let _job = RestartJob(Path::new(cgroup::ROOT).join(&job));
    let out = log.to_string_lossy().into_owned();
    let mut c = Checks(Vec::new());
    c.eq(
        "the pool makes progress before the checkpoint",
        true,
        wait_for(&out, "progress 100", 120),
    );
    let comm = fs::read_to_string(format!("/proc/{pid}/comm"))?
        .trim()
        .to_string();
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let files = pod_tmp_files(pid);
    c.eq(
        "the manager's socket is in a directory of the pod's /tmp",
        true,
        files
            .iter()
            .any(|f| f.starts_with("/tmp/pymp-") && f.ends_with(" socket")),
    );
    c.eq(
        "the pod's /tmp is not the host's",
        false,
        fs::read_dir("/tmp")?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("pymp-")),
    );
    let before = fs::read_to_string(&out).unwrap_or_default();
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        let logged = log_if_failed(&c, &log);
        return Ok(ScenarioResult {
            checks: c.0,
            state: logged,
            ..Default::default()
        });
    };
    c.eq(
        "the job had not finished at the checkpoint",
        false,
        before.contains("total"),
    );
    let restarted = Command::new(CKPT)
        .args(["restart", &img, "--name", &job])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // The restarted pod's init, once its job cgroup has it.
    let cg = Path::new(cgroup::ROOT).join(&job);
    let start = Instant::now();
    let mut copy = 0;
    while copy == 0 && start.elapsed() < Duration::from_secs(30) {
        copy = fs::read_to_string(cg.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                let p: i32 = l.parse().ok()?;
                fs::read_to_string(format!("/proc/{p}/status"))
                    .ok()?
                    .lines()
                    .any(|s| s.starts_with("NSpid:") && s.split_whitespace().last() == Some("1"))
                    .then_some(p)
            })
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(10));
    }
    // Restored once it has its name again (`ckpt-restoring` until then).
    c.eq(
        "the restarted pod's init is python again",
        true,
        wait_comm(copy, &comm),
    );
    c.same(
        "the restarted pod's /tmp holds the manager's directory and socket, as before",
        format!("{files:#?}"),
        format!("{:#?}", pod_tmp_files(copy)),
    );
    pool_finishes(&mut c, &out, restarted)?;
    let mut state: Vec<String> = files
        .iter()
        .map(|f| {
            // The directory's and the socket's names are random.
            let kind = f.rsplit(' ').next().unwrap_or("");
            let depth = f.matches('/').count();
            format!("pod file at depth {depth}: {kind}")
        })
        .collect();
    state.extend(log_if_failed(&c, &log));
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// Starts `argv` (Debian's programs) as the init of a pod with a network
/// namespace of its own (`ckpt run --pod --net`), logging to
/// `/tmp/NAME.log`: the workload, the name of the job its restart makes,
/// that job (removed when dropped) and the log's path.
fn start_net_pod(name: &str, argv: &[&str]) -> Result<(Workload, String, RestartJob, PathBuf)> {
    let log = PathBuf::from(format!("/tmp/{name}.log"));
    let _ = fs::remove_file(&log);
    let opts = ckpt::RunOptions {
        name: Some(name),
        log: Some(&log),
        pod: true,
        net: true,
        ..Default::default()
    };
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    let pid = ckpt::run_with(&opts, &argv)?;
    let w = Workload {
        pid,
        cg: cgroup::of_pid(pid)?,
    };
    let job = format!("{name}-restarted");
    let cleanup = RestartJob(Path::new(cgroup::ROOT).join(&job));
    Ok((w, job, cleanup, log))
}

/// `len` bytes (a multiple of 4) that no run of bytes repeats in, from
/// `seed` (xorshift): a truncated or shuffled copy shows.
fn unrepeating(len: usize, seed: u32) -> Vec<u8> {
    let mut data = Vec::with_capacity(len);
    let mut x = seed;
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data
}

/// Runs `argv` in the network namespace of `pid` (`busybox nsenter`, as a
/// user would reach a pod's loopback): its output and whether it
/// succeeded. Without `COLUMNS`, with which ss would lay its output out
/// for a terminal of that width.
pub(crate) fn in_netns_of(pid: i32, argv: &[&str]) -> Result<(Vec<u8>, bool)> {
    let o = Command::new("/bin/busybox")
        .arg("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(argv)
        .env_remove("COLUMNS")
        .stderr(Stdio::null())
        .output()?;
    Ok((o.stdout, o.status.success()))
}

/// `busybox wget` of `http://127.0.0.1:8080/PATH` inside `pid`'s network
/// namespace: the body, if it came whole.
fn wget_in(pid: i32, path: &str) -> Result<Option<Vec<u8>>> {
    let url = format!("http://127.0.0.1:8080/{path}");
    let (body, ok) = in_netns_of(pid, &["/bin/busybox", "wget", "-q", "-O", "-", &url])?;
    Ok(ok.then_some(body))
}

/// The pid of `comm` among `pid` and its children (`/proc/PID/task/*/children`).
fn child_named(pid: i32, comm: &str) -> Option<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .find(|&p: &i32| {
            fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
        })
}

/// A UDP echo server in Python, as a user would write one: each datagram
/// to 127.0.0.1:9000 is logged and sent back in capitals.
const UDP_ECHO: &str = concat!(
    "import socket\n",
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n",
    "s.bind(('127.0.0.1', 9000))\n",
    "while True:\n",
    "    d, a = s.recvfrom(512)\n",
    "    print('got', d.decode(), flush=True)\n",
    "    s.sendto(d.upper(), a)\n",
);

/// A UDP client in Python: sends its argument to 127.0.0.1:9000 and
/// prints the answer.
const UDP_CLIENT: &str = concat!(
    "import socket, sys\n",
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n",
    "s.settimeout(5)\n",
    "s.sendto(sys.argv[1].encode(), ('127.0.0.1', 9000))\n",
    "print(s.recv(512).decode())\n",
);

/// A pod with a network namespace of its own (`ckpt run --pod --net`)
/// running Debian's programs as a user would: busybox `httpd` serving a
/// directory of 1 MiB of data on 127.0.0.1:8080 (forked off by the shell,
/// which then becomes Python running a UDP echo server on
/// 127.0.0.1:9000). A client inside the pod's namespace (`nsenter`,
/// busybox `wget`) fetches the file; the pod is checkpointed whole with
/// `--kill` and restarted; then, from outside, the listeners are in the
/// restarted pod's `/proc/PID/net/{tcp,udp}`, `wget` gets the same bytes,
/// and a Python client's datagram to port 9000 comes back from the
/// restarted server in capitals.
pub(crate) fn real_busybox_net_pod(name: &str) -> Result<ScenarioResult> {
    let www = PathBuf::from(format!("/tmp/www-{name}"));
    let _ = fs::remove_dir_all(&www);
    fs::create_dir_all(&www)?;
    let data = unrepeating(1 << 20, 0x1234_5678);
    fs::write(www.join("big"), &data)?;
    let script = format!(
        "/bin/busybox httpd -f -p 127.0.0.1:8080 -h {} & exec /bin/python3 -I -S -B -c \"$0\"",
        www.display()
    );
    let (w, job, _job, log) =
        start_net_pod(name, &["/bin/busybox", "sh", "-c", &script, UDP_ECHO])?;
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    // Served once httpd listens.
    let start = Instant::now();
    let mut first = None;
    while first.is_none() && start.elapsed() < Duration::from_secs(30) {
        first = wget_in(pid, "big")?;
        if first.is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    c.eq(
        "wget in the pod's namespace gets the file before the checkpoint",
        true,
        first.as_deref() == Some(&data[..]),
    );
    // httpd's child for that request has gone.
    let start = Instant::now();
    while child_named(pid, "busybox")
        .and_then(|h| child_named(h, "busybox"))
        .is_some()
        && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let listeners = |p: i32| -> Vec<String> {
        let mut out = Vec::new();
        for (proto, state) in [("tcp", "0A"), ("udp", "07")] {
            let text = fs::read_to_string(format!("/proc/{p}/net/{proto}")).unwrap_or_default();
            out.extend(text.lines().skip(1).filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(3) == Some(&state)).then(|| format!("{proto} {}", f.get(1).unwrap_or(&"")))
            }));
        }
        out.sort();
        out
    };
    // Python has bound its socket.
    let start = Instant::now();
    while listeners(pid).len() < 2 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let before = listeners(pid);
    c.eq(
        "httpd listens on 127.0.0.1:8080 and Python on UDP 127.0.0.1:9000",
        "[\"tcp 0100007F:1F90\", \"udp 0100007F:2328\"]",
        format!("{before:?}"),
    );
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        let logged = log_if_failed(&c, &log);
        return Ok(ScenarioResult {
            checks: c.0,
            state: logged,
            ..Default::default()
        });
    };
    let copy = super::pod::restart_detached(&mut c, &img, &job)?;
    c.same(
        "the restarted pod's listeners (/proc/PID/net/tcp, udp), as before",
        format!("{before:?}"),
        format!("{:?}", listeners(copy)),
    );
    let again = wget_in(copy, "big")?;
    c.eq(
        "wget in the restarted pod's namespace gets the same 1 MiB",
        true,
        again.as_deref() == Some(&data[..]),
    );
    let (answer, _) = in_netns_of(
        copy,
        &[
            "/bin/python3",
            "-I",
            "-S",
            "-B",
            "-c",
            UDP_CLIENT,
            "after-restart",
        ],
    )?;
    c.eq(
        "a datagram to UDP port 9000 comes back from the restarted server",
        "AFTER-RESTART",
        String::from_utf8_lossy(&answer).trim(),
    );
    c.eq(
        "the restarted server logs it",
        true,
        wait_for(&log.to_string_lossy(), "got after-restart", 10),
    );
    let mut state = before;
    state.extend(log_if_failed(&c, &log));
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// How a ping program prints a reply: `64 bytes from ADDR: KEY=N ttl=64
/// time=T ms`, numbering from `first`.
#[derive(Clone, Copy)]
struct PingFormat {
    /// `seq` (busybox) or `icmp_seq` (iputils).
    key: &'static str,
    /// 0 (busybox) or 1 (iputils).
    first: u32,
}

const BUSYBOX_PING: PingFormat = PingFormat {
    key: "seq",
    first: 0,
};
const IPUTILS_PING: PingFormat = PingFormat {
    key: "icmp_seq",
    first: 1,
};

/// The sequence numbers of a ping's reply lines in `text` from `from`
/// (TTL 64, not duplicated), and every other line but its banner and
/// statistics.
fn ping_replies(text: &str, from: &str, f: PingFormat) -> (Vec<u32>, Vec<String>) {
    let mut seqs = Vec::new();
    let mut other = Vec::new();
    let prefix = format!("64 bytes from {from}: {}=", f.key);
    for l in text.lines() {
        let seq = l
            .strip_prefix(&prefix)
            .and_then(|r| r.split_once(' '))
            .filter(|(_, r)| r.starts_with("ttl=64 time=") && !r.contains("DUP"))
            .and_then(|(n, _)| n.parse().ok());
        match seq {
            Some(n) => seqs.push(n),
            None if l.starts_with("PING ")
                || l.is_empty()
                || l.starts_with("--- ")
                || l.contains("packets transmitted")
                || l.starts_with("round-trip ")
                || l.starts_with("rtt ") => {}
            None => other.push(l.to_owned()),
        }
    }
    (seqs, other)
}

/// Waits up to `secs` for a ping's output `file` to show the reply to
/// `seq` from `from`.
fn wait_ping_seq(file: &Path, from: &str, f: PingFormat, seq: u32, secs: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        let text = fs::read_to_string(file).unwrap_or_default();
        if ping_replies(&text, from, f).0.contains(&seq) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A ping's statistics in `text`: packets transmitted and received
/// (`N packets transmitted, M [packets] received, …`).
fn ping_stats(text: &str) -> Option<(u32, u32)> {
    let l = text.lines().find(|l| l.contains("packets transmitted"))?;
    let words: Vec<&str> = l.split_whitespace().collect();
    Some((words.first()?.parse().ok()?, words.get(3)?.parse().ok()?))
}

/// A pod with a network namespace of its own (`ckpt run --pod --net`)
/// running `script`, which starts two pings of its loopback every 0.2 s
/// printing in format `f`: an IPv4 one in the background writing to
/// `out4`, then an IPv6 one as the pod's init writing to `out6` (the
/// pod's log if `None`).
/// Checkpointed whole with `--kill` mid-run and restarted; from outside,
/// each ping's output goes on where it stopped: replies to every sequence
/// number in order, none missing, none duplicated, from the same address
/// with TTL 64, no other line; interrupted with `SIGINT`, each prints its
/// statistics with every packet it sent answered (but perhaps the last).
/// The state: what the image holds of their sockets (kind, address,
/// options) and whether the replies were whole.
fn ping_pod(
    name: &str,
    script: &str,
    out4: &Path,
    out6: Option<&Path>,
    f: PingFormat,
) -> Result<ScenarioResult> {
    let (w, job, _job, log) = start_net_pod(name, &["/bin/busybox", "sh", "-c", script])?;
    let out6 = out6.unwrap_or(&log);
    let mut c = Checks(Vec::new());
    c.eq(
        "both pings answered three times before the checkpoint",
        "true true",
        format!(
            "{} {}",
            wait_ping_seq(out4, "127.0.0.1", f, f.first + 2, 30),
            wait_ping_seq(out6, "::1", f, f.first + 2, 30)
        ),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let last = |file: &Path, from: &str| {
        ping_replies(&fs::read_to_string(file).unwrap_or_default(), from, f)
            .0
            .last()
            .copied()
            .unwrap_or(0)
    };
    let (last4, last6) = (last(out4, "127.0.0.1"), last(out6, "::1"));
    let Some(img) = checkpoint_kill(name, w.pid, &mut c)? else {
        let logged = log_if_failed(&c, &log);
        return Ok(ScenarioResult {
            checks: c.0,
            state: logged,
            ..Default::default()
        });
    };
    let json = super::pod::inspect_value(&img)?;
    let saved: Vec<String> = json["inet_sockets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    // A port (a ping socket's identifier) the kernel
                    // picked varies with the sockets made before.
                    let local = s["local"].as_str().unwrap_or("?");
                    let local = match local.rsplit_once(':') {
                        Some((addr, _)) if s["port_picked"] == true => {
                            format!("{addr}:PICKED")
                        }
                        _ => local.to_owned(),
                    };
                    format!("saved: {} {local} options {}", s["proto"], s["options"])
                })
                .collect()
        })
        .unwrap_or_default();
    let copy = super::pod::restart_detached(&mut c, &img, &job)?;
    c.eq(
        "both pings answered five more times after the restart",
        "true true",
        format!(
            "{} {}",
            wait_ping_seq(out4, "127.0.0.1", f, last4 + 5, 30),
            wait_ping_seq(out6, "::1", f, last6 + 5, 30)
        ),
    );
    // The IPv4 one first: the IPv6 one is the pod's init, whose end ends
    // the pod.
    let ping4 = child_named(copy, &comm_of(copy));
    let stats_of = |p: Option<i32>, file: &Path| {
        // Never 0 or below, which would signal the runner's group.
        if let Some(p) = p.filter(|&p| p > 0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGINT,
            );
        }
        let start = Instant::now();
        loop {
            let text = fs::read_to_string(file).unwrap_or_default();
            if let Some(s) = ping_stats(&text) {
                return (text, Some(s));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return (text, None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let results = [
        ("the IPv4 ping", stats_of(ping4, out4), "127.0.0.1"),
        ("the IPv6 ping", stats_of(Some(copy), out6), "::1"),
    ];
    let mut state = saved;
    for (what, (text, stats), from) in results {
        let (seqs, other) = ping_replies(&text, from, f);
        let n = seqs.len() as u32;
        let range = f.first..f.first + n;
        let whole = seqs.iter().copied().eq(range.clone());
        c.eq(
            format!(
                "{what}'s replies: every sequence number from {}, in order, once",
                f.first
            ),
            format!("{range:?}"),
            if whole {
                format!("{range:?}")
            } else {
                format!("{seqs:?}")
            },
        );
        c.eq(
            format!("{what}'s other lines (none: no error, no bad packet)"),
            "[]",
            format!("{other:?}"),
        );
        let answered = stats.is_some_and(|(sent, got)| got == n && (sent == n || sent == n + 1));
        c.eq(
            format!(
                "{what}'s statistics after SIGINT: every packet sent answered (but perhaps the last)"
            ),
            "true",
            answered.to_string(),
        );
        if !answered {
            state.push(format!("{what}: statistics {stats:?}, {n} replies"));
        }
        state.push(format!(
            "{what}: replies from {from}, one per sequence number, the restart in between: {whole}"
        ));
    }
    state.extend(log_if_failed(&c, &log));
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// The name (`comm`) of process `pid`.
fn comm_of(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Debian's busybox `ping` and `ping6` as root in a `--net` pod
/// ([`ping_pod`]): each holds a raw ICMP socket (ICMPv6 with
/// `ICMPV6_FILTER`, `IPV6_2292HOPLIMIT` and a receive buffer set).
pub(crate) fn real_busybox_ping_pod(name: &str) -> Result<ScenarioResult> {
    let out4 = PathBuf::from(format!("/tmp/{name}-ping4.log"));
    let _ = fs::remove_file(&out4);
    let script = format!(
        "/bin/busybox ping -i 0.2 127.0.0.1 > {} 2>&1 & exec /bin/busybox ping6 -i 0.2 ::1",
        out4.display()
    );
    ping_pod(name, &script, &out4, None, BUSYBOX_PING)
}

/// Debian's iputils `ping` in a `--net` pod ([`ping_pod`]) as a user
/// (uid and gid 65534, through util-linux's `setpriv`), the pod's
/// `net.ipv4.ping_group_range` opened to every group first as systemd
/// opens it: each ping holds an ICMP ping socket (`SOCK_DGRAM`) with
/// `SO_TIMESTAMP`, `IP_RECVERR`, `IP_RECVTTL` or `IPV6_RECVHOPLIMIT`,
/// buffer sizes and timeouts set, and one socket of the other family left
/// unused.
pub(crate) fn real_iputils_ping_pod(name: &str) -> Result<ScenarioResult> {
    // Their output files are the user's: restart opens each again as the
    // process that holds it.
    let out = |v: &str| -> Result<PathBuf> {
        let p = PathBuf::from(format!("/tmp/{name}-ping{v}.log"));
        fs::write(&p, b"")?;
        nix::unistd::chown(
            &p,
            Some(nix::unistd::Uid::from_raw(65534)),
            Some(nix::unistd::Gid::from_raw(65534)),
        )?;
        Ok(p)
    };
    let (out4, out6) = (out("4")?, out("6")?);
    let user = "/bin/setpriv --reuid=65534 --regid=65534 --clear-groups /bin/iputils-ping";
    let script = format!(
        "echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range && \
         {{ {user} -i 0.2 127.0.0.1 > {o4} 2>&1 < /dev/null & }} && \
         exec {user} -6 -i 0.2 ::1 > {o6} 2>&1 < /dev/null",
        o4 = out4.display(),
        o6 = out6.display()
    );
    ping_pod(name, &script, &out4, Some(&out6), IPUTILS_PING)
}

/// Debian's iputils `ping` as root in a `--net` pod ([`ping_pod`]) whose
/// `ping_group_range` lets no group open ping sockets (a new namespace's):
/// each ping falls back to a raw ICMP socket, with `ICMP_FILTER` (IPv4),
/// `ICMPV6_FILTER` and `IPV6_CHECKSUM` (IPv6), `SO_TIMESTAMP`,
/// `IP_RECVERR` or `IPV6_RECVERR`, buffer sizes and timeouts set.
pub(crate) fn real_iputils_ping_raw_pod(name: &str) -> Result<ScenarioResult> {
    let out4 = PathBuf::from(format!("/tmp/{name}-ping4.log"));
    let _ = fs::remove_file(&out4);
    let script = format!(
        "/bin/iputils-ping -i 0.2 127.0.0.1 > {} 2>&1 < /dev/null & exec /bin/iputils-ping -6 -i 0.2 ::1",
        out4.display()
    );
    ping_pod(name, &script, &out4, None, IPUTILS_PING)
}

/// The DHCP server's configuration for [`real_busybox_udhcpc_pod`]: a
/// static lease for the loopback's all-zero hardware address (an address
/// of the pool would be probed with ARP first, which a loopback cannot
/// answer).
const UDHCPD_CONF: &str = "start 10.9.0.10\nend 10.9.0.20\ninterface lo\n\
option subnet 255.255.255.0\noption lease 3600\n\
static_lease 00:00:00:00:00:00 10.9.0.10\n";

/// Debian's busybox `udhcpc` asking for an address on a `--net` pod's
/// loopback where no DHCP server answers yet: it holds a packet socket
/// (`SOCK_DGRAM`, `ETH_P_IP`, bound to the loopback, with a classic filter
/// taking UDP to port 68, `PACKET_AUXDATA`) and broadcasts a DISCOVER
/// every second. The pod is checkpointed with `--kill` and restarted
/// (`/proc/PID/net/packet` shows the same socket); then the pod's shell
/// starts busybox `udhcpd` on the loopback, whose OFFER and ACK come to
/// the restored `udhcpc` through its restored packet socket: `udhcpc` is
/// bound to 10.9.0.10 by that server and exits 0.
pub(crate) fn real_busybox_udhcpc_pod(name: &str) -> Result<ScenarioResult> {
    let go = PathBuf::from(format!("/tmp/go-{name}"));
    let conf = PathBuf::from(format!("/tmp/{name}-udhcpd.conf"));
    let hook = PathBuf::from(format!("/tmp/{name}-hook"));
    let leases = PathBuf::from(format!("/tmp/{name}.leases"));
    let events = PathBuf::from(format!("/tmp/{name}-events"));
    for p in [&go, &events] {
        let _ = fs::remove_file(p);
    }
    fs::write(&leases, b"")?;
    fs::write(
        &conf,
        format!("{UDHCPD_CONF}lease_file {}\n", leases.display()),
    )?;
    fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$1 ip=$ip subnet=$subnet serverid=$serverid lease=$lease\" >> {}\n",
            events.display()
        ),
    )?;
    fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let script = format!(
        "{{ while [ ! -e {go} ]; do /bin/busybox sleep 0.1; done; exec /bin/busybox udhcpd -f {conf}; }} & \
         srv=$!; \
         /bin/busybox udhcpc -f -q -i lo -s {hook} -t 100000 -T 1 -A 1; \
         echo \"udhcpc exit $?\"; kill $srv",
        go = go.display(),
        conf = conf.display(),
        hook = hook.display(),
    );
    let (w, job, _job, log) = start_net_pod(name, &["/bin/busybox", "sh", "-c", &script])?;
    let pid = w.pid;
    let out = log.to_string_lossy().into_owned();
    let mut c = Checks(Vec::new());
    // Two DISCOVERs: its packet socket is made and it waits for an OFFER.
    let start = Instant::now();
    let discovers = || {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("broadcasting discover")
            .count()
    };
    while discovers() < 2 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    c.eq(
        "udhcpc broadcasts DISCOVERs, unanswered",
        true,
        discovers() >= 2,
    );
    let packets = |p: i32| -> Vec<String> {
        let text = fs::read_to_string(format!("/proc/{p}/net/packet")).unwrap_or_default();
        text.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                format!(
                    "packet type {} proto {} iface {} running {}",
                    f.get(2).unwrap_or(&""),
                    f.get(3).unwrap_or(&""),
                    f.get(4).unwrap_or(&""),
                    f.get(5).unwrap_or(&"")
                )
            })
            .collect()
    };
    // Frozen between two DISCOVERs: each is sent through a packet socket
    // of its own, made and closed around it.
    let listening = "packet type 2 proto 0800 iface 1 running 1";
    let mut before = Vec::new();
    for _ in 0..50 {
        cgroup::freeze(&w.cg, Duration::from_secs(10))?;
        before = packets(pid);
        if before.len() == 1 {
            break;
        }
        cgroup::thaw(&w.cg)?;
        std::thread::sleep(Duration::from_millis(100));
    }
    c.eq(
        "udhcpc's packet socket (/proc/PID/net/packet)",
        "[\"packet type 2 proto 0800 iface 1 running 1\"]",
        format!("{before:?}"),
    );
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        let logged = log_if_failed(&c, &log);
        return Ok(ScenarioResult {
            checks: c.0,
            state: logged,
            ..Default::default()
        });
    };
    let json = super::pod::inspect_value(&img)?;
    let saved: Vec<String> = json["packet_sockets"].as_array().map_or(Vec::new(), |a| {
        a.iter()
            .map(|s| {
                format!(
                    "{} {} on {}, options {}",
                    s["type"].as_str().unwrap_or("?"),
                    s["protocol"].as_str().unwrap_or("none"),
                    s["device"].as_str().unwrap_or("every device"),
                    s["options"]
                )
            })
            .collect()
    });
    c.eq(
        "the packet socket in the image",
        "[\"dgram 0x0800 on lo, options [[\\\"PACKET_AUXDATA\\\",1]]\"]",
        format!("{saved:?}"),
    );
    let copy = super::pod::restart_detached(&mut c, &img, &job)?;
    // The restarted udhcpc goes on sending, through sockets of its own.
    let after = packets(copy);
    c.eq(
        "udhcpc's packet socket after the restart, as before (and no other but one it sends through)",
        true,
        !after.is_empty() && after.iter().all(|l| l == listening),
    );
    fs::write(&go, b"")?;
    let done = wait_for(&out, "udhcpc exit", 30);
    let ev = events.to_string_lossy().into_owned();
    c.eq(
        "udhcpc, restarted, is bound by the server started after the restart, and exits 0",
        "true true true",
        format!(
            "{} {} {}",
            done,
            wait_for(
                &ev,
                "bound ip=10.9.0.10 subnet=255.255.255.0 serverid=127.0.0.1",
                1
            ),
            fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("udhcpc exit 0")
        ),
    );
    let mut state: Vec<String> = fs::read_to_string(&events)
        .unwrap_or_default()
        .lines()
        .map(|l| format!("hook: {l}"))
        .collect();
    state.extend(before.iter().map(|l| format!("before: {l}")));
    state.extend(log_if_failed(&c, &log));
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// A single-threaded TCP server in Python (`socketserver.TCPServer`), as a
/// user would write one: each client sends a line and gets it back in
/// capitals; serving the first waits for a file to appear (a slow
/// request), so that the clients after it wait in the listener's queue.
const QUEUE_SERVER: &str = concat!(
    "import os, socketserver, sys, time\n",
    "go = sys.argv[1]\n",
    "class H(socketserver.StreamRequestHandler):\n",
    "    def handle(self):\n",
    "        line = self.rfile.readline()\n",
    "        print('serving', line.decode().strip(), flush=True)\n",
    "        while not os.path.exists(go):\n",
    "            time.sleep(0.05)\n",
    "        self.wfile.write(line.upper())\n",
    "socketserver.TCPServer.allow_reuse_address = True\n",
    "with socketserver.TCPServer(('127.0.0.1', 9200), H) as s:\n",
    "    print('listening', flush=True)\n",
    "    s.serve_forever()\n",
);

/// A pod with a network namespace of its own running Debian's Python as a
/// single-threaded TCP server ([`QUEUE_SERVER`]) and four busybox `nc`
/// clients, each sending one line: the server is held serving the first
/// while the three others wait in its listener's queue, connected, their
/// lines sent. Checkpointed with `--kill` and restarted; `/proc/PID/net/tcp`
/// shows the same queue of three; then the first request is let through
/// and every client gets its line back in capitals, the waiting ones
/// accepted after the restart in the order they came.
pub(crate) fn real_python_server_queue(name: &str) -> Result<ScenarioResult> {
    let go = PathBuf::from(format!("/tmp/go-{name}"));
    let _ = fs::remove_file(&go);
    let script = format!(
        "/bin/python3 -I -S -B -c \"$0\" {go} & \
         while ! /bin/busybox grep -q listening /tmp/{name}.log; do /bin/busybox sleep 0.05; done; \
         for i in 0 1 2 3; do \
           echo \"client $i\" | /bin/busybox nc 127.0.0.1 9200 | /bin/busybox sed 's/^/answer /' & \
           /bin/busybox sleep 0.2; \
         done; wait",
        go = go.display(),
    );
    let (w, job, _job, log) =
        start_net_pod(name, &["/bin/busybox", "sh", "-c", &script, QUEUE_SERVER])?;
    let pid = w.pid;
    let out = log.to_string_lossy().into_owned();
    let mut c = Checks(Vec::new());
    // The listener's accept queue: /proc/net/tcp's rx_queue of a socket
    // in state 0A (LISTEN).
    let queue = |p: i32| -> Option<String> {
        let text = fs::read_to_string(format!("/proc/{p}/net/tcp")).ok()?;
        text.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"0100007F:23F0") && f.get(3) == Some(&"0A"))
                .then(|| f.get(4).unwrap_or(&"").to_string())
        })
    };
    let start = Instant::now();
    while queue(pid).as_deref() != Some("00000000:00000003")
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    c.eq(
        "the server serves client 0 while three clients wait in its queue",
        "true Some(\"00000000:00000003\")",
        format!("{} {:?}", wait_for(&out, "serving client 0", 1), queue(pid)),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        let logged = log_if_failed(&c, &log);
        return Ok(ScenarioResult {
            checks: c.0,
            state: logged,
            ..Default::default()
        });
    };
    let json = super::pod::inspect_value(&img)?;
    let waiting = json["inet_sockets"].as_array().map_or(0, |a| {
        a.iter().filter(|s| !s["waiting_on"].is_null()).count()
    });
    c.eq(
        "connections waiting to be accepted in the image",
        3,
        waiting,
    );
    let copy = super::pod::restart_detached(&mut c, &img, &job)?;
    c.eq(
        "the restarted listener's queue holds the same three",
        "Some(\"00000000:00000003\")",
        format!("{:?}", queue(copy)),
    );
    fs::write(&go, b"")?;
    let answered = (0..4).all(|i| wait_for(&out, &format!("answer CLIENT {i}"), 30));
    c.eq(
        "every client gets its line back in capitals",
        true,
        answered,
    );
    let text = fs::read_to_string(&out).unwrap_or_default();
    let served: Vec<&str> = text.lines().filter(|l| l.starts_with("serving")).collect();
    c.eq(
        "the server served them in the order they came",
        "[\"serving client 0\", \"serving client 1\", \"serving client 2\", \"serving client 3\"]",
        format!("{served:?}"),
    );
    let mut state: Vec<String> = text
        .lines()
        .filter(|l| {
            l.starts_with("serving") || l.starts_with("answer") || l.starts_with("listening")
        })
        .map(str::to_owned)
        .collect();
    state.sort();
    state.extend(log_if_failed(&c, &log));
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// A transfer caught in the middle, in a pod with a network namespace of
/// its own: busybox `httpd` serves 16 MiB on 127.0.0.1:8080 to busybox
/// `wget` inside the pod, whose output goes through a pipe to a reader
/// that waits for a go file before it reads (`md5sum`): the connection's
/// queues and the pipe fill and the transfer stops halfway. The pod is
/// checkpointed whole with `--kill` and restarted; then the go file is
/// made, and the transfer completes: the restarted pod's `md5sum` of what
/// `wget` wrote is the file's, and `wget` exits 0.
pub(crate) fn real_wget_mid_transfer(name: &str) -> Result<ScenarioResult> {
    let www = PathBuf::from(format!("/tmp/www-{name}"));
    let _ = fs::remove_dir_all(&www);
    fs::create_dir_all(&www)?;
    let data = unrepeating(16 << 20, 0x9e37_79b9);
    fs::write(www.join("big"), &data)?;
    fs::write(www.join("small"), b"ready\n")?;
    let go = PathBuf::from(format!("/tmp/go-{name}"));
    let out = PathBuf::from(format!("/tmp/out-{name}"));
    let status = PathBuf::from(format!("/tmp/wget-{name}"));
    for p in [&go, &out, &status] {
        let _ = fs::remove_file(p);
    }
    let script = format!(
        "/bin/busybox httpd -f -p 127.0.0.1:8080 -h {www} & \
         while ! /bin/busybox wget -q -O /dev/null http://127.0.0.1:8080/small; do /bin/busybox sleep 0.05; done; \
         (/bin/busybox wget -q -O - http://127.0.0.1:8080/big; echo \"wget exit $?\" > {status}) | \
         (while [ ! -e {go} ]; do /bin/busybox sleep 0.05; done; /bin/busybox md5sum > {out}); \
         wait",
        www = www.display(),
        status = status.display(),
        go = go.display(),
        out = out.display(),
    );
    let (w, job, _job, log) = start_net_pod(name, &["/bin/busybox", "sh", "-c", &script])?;
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    // Stalled: an established connection whose queues hold bytes, for a
    // moment with no change.
    let stalled = |p: i32| -> Option<String> {
        let text = fs::read_to_string(format!("/proc/{p}/net/tcp")).ok()?;
        text.lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(3) == Some(&"01")).then(|| f.get(4).map(|q| q.to_string()))
            })
            .flatten()
            .reduce(|a, b| format!("{a} {b}"))
    };
    let start = Instant::now();
    let mut last = None;
    let mut steady = 0;
    while steady < 5 && start.elapsed() < Duration::from_secs(30) {
        let now = stalled(pid);
        steady = if now.is_some() && now == last {
            steady + 1
        } else {
            0
        };
        last = now;
        std::thread::sleep(Duration::from_millis(100));
    }
    let queues = last.unwrap_or_default();
    c.eq(
        "the transfer stalls halfway: two ends of a connection with bytes queued",
        true,
        queues.split(' ').count() == 2 && queues.split(' ').any(|q| q != "00000000:00000000"),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        let logged = log_if_failed(&c, &log);
        return Ok(ScenarioResult {
            checks: c.0,
            state: logged,
            ..Default::default()
        });
    };
    c.eq("md5sum has not run before the restart", false, out.exists());
    let copy = super::pod::restart_detached(&mut c, &img, &job)?;
    c.eq(
        "the restarted pod holds the connection",
        true,
        stalled(copy).is_some_and(|q| q.split(' ').count() == 2),
    );
    fs::write(&go, b"")?;
    let start = Instant::now();
    while !(out.exists() && status.exists()) && start.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let want = Command::new("/bin/busybox")
        .args(["md5sum"])
        .stdin(File::open(www.join("big"))?)
        .output()?;
    c.eq(
        "md5sum of what wget wrote after the restart is the file's",
        String::from_utf8_lossy(&want.stdout).trim().to_owned(),
        fs::read_to_string(&out)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    );
    c.eq(
        "wget exits 0",
        "wget exit 0",
        fs::read_to_string(&status).unwrap_or_default().trim(),
    );
    let state = log_if_failed(&c, &log);
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// A TCP echo server in Python on epoll (`selectors`), as a user would
/// write one: each line a client sends comes back in capitals.
const EPOLL_SERVER: &str = concat!(
    "import selectors, socket\n",
    "sel = selectors.DefaultSelector()\n",
    "l = socket.socket()\n",
    "l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n",
    "l.bind(('127.0.0.1', 9100))\n",
    "l.listen(8)\n",
    "l.setblocking(False)\n",
    "sel.register(l, selectors.EVENT_READ)\n",
    "print('server', type(sel).__name__, flush=True)\n",
    "while True:\n",
    "    for key, _ in sel.select():\n",
    "        s = key.fileobj\n",
    "        if s is l:\n",
    "            c, _ = l.accept()\n",
    "            c.setblocking(False)\n",
    "            sel.register(c, selectors.EVENT_READ)\n",
    "            continue\n",
    "        d = s.recv(4096)\n",
    "        if not d:\n",
    "            sel.unregister(s)\n",
    "            s.close()\n",
    "            continue\n",
    "        s.sendall(d.upper())\n",
);

/// Its client: 400 lines, one every 10 ms, each checked when it comes
/// back; progress every 50, then `client done N ok` (or what went wrong).
const EPOLL_CLIENT: &str = concat!(
    "import socket, time\n",
    "for _ in range(500):\n",
    "    c = socket.socket()\n",
    "    try:\n",
    "        c.connect(('127.0.0.1', 9100))\n",
    "        break\n",
    "    except OSError:\n",
    "        c.close()\n",
    "        time.sleep(0.02)\n",
    "f = c.makefile('rb')\n",
    "bad = 0\n",
    "for i in range(400):\n",
    "    line = ('line %d of the client\\n' % i).encode()\n",
    "    c.sendall(line)\n",
    "    if f.readline() != line.upper():\n",
    "        bad += 1\n",
    "    if i % 50 == 0:\n",
    "        print('echo', i, flush=True)\n",
    "    time.sleep(0.01)\n",
    "print('client done', 400 - bad, 'ok' if bad == 0 else 'BAD', flush=True)\n",
);

/// A pod with a network namespace of its own running Debian's Python as a
/// user would: a TCP echo server on epoll (`selectors`) and a client that
/// sends it 400 lines over one connection, checking each answer. Caught
/// mid-stream (after 100 lines), checkpointed with `--kill` and
/// restarted: the client finishes on the same connection, every answer
/// right, and the server's epoll set still watches its listener and the
/// connection.
pub(crate) fn real_python_epoll_server(name: &str) -> Result<ScenarioResult> {
    let script = "/bin/python3 -I -S -B -c \"$0\" & exec /bin/python3 -I -S -B -c \"$1\"";
    let (w, job, _job, log) = start_net_pod(
        name,
        &[
            "/bin/busybox",
            "sh",
            "-c",
            script,
            EPOLL_SERVER,
            EPOLL_CLIENT,
        ],
    )?;
    let pid = w.pid;
    let out = log.to_string_lossy().into_owned();
    let mut c = Checks(Vec::new());
    c.eq(
        "the client has 100 lines answered before the checkpoint",
        true,
        wait_for(&out, "echo 100", 60),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let before = fs::read_to_string(&out).unwrap_or_default();
    let Some(img) = checkpoint_kill(name, pid, &mut c)? else {
        let logged = log_if_failed(&c, &log);
        return Ok(ScenarioResult {
            checks: c.0,
            state: logged,
            ..Default::default()
        });
    };
    c.eq(
        "the client had not finished at the checkpoint",
        false,
        before.contains("client done"),
    );
    let _copy = super::pod::restart_detached(&mut c, &img, &job)?;
    c.eq(
        "the restarted client finishes on the same connection",
        true,
        wait_for(&out, "client done", 60),
    );
    let after = fs::read_to_string(&out).unwrap_or_default();
    let done = after
        .lines()
        .find(|l| l.starts_with("client done"))
        .unwrap_or("")
        .to_owned();
    c.eq("every answer right", "client done 400 ok", done);
    let mut state: Vec<String> = after
        .lines()
        .filter(|l| l.starts_with("server") || l.starts_with("client"))
        .map(str::to_owned)
        .collect();
    state.extend(log_if_failed(&c, &log));
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// The program `real_python_cow` runs with Debian's Python: 64 MiB in a
/// bytearray rewritten with the next generation's byte, 1 MiB at a time,
/// over and over, each generation appended to a list and printed; once
/// the go file (its first argument) exists, it checks that the whole
/// buffer holds the current generation's byte and the list every
/// generation, and writes its verdict to the result file (its second).
const PYTHON_REWRITER: &str = r#"import os, sys
go, result = sys.argv[1:3]
buf = bytearray(64 << 20)
step = 1 << 20
history = []
gen = 0
while True:
    if os.path.exists(go):
        ok = buf.count(gen % 251) == len(buf) and history == list(range(1, gen + 1))
        with open(result, "w") as f:
            f.write("%s generation %d\n" % ("PASS" if ok else "FAIL", gen))
        sys.exit(0 if ok else 1)
    gen += 1
    chunk = bytes([gen % 251]) * step
    for off in range(0, len(buf), step):
        buf[off:off + step] = chunk
    history.append(gen)
    print("generation", gen, flush=True)
"#;

/// The last generation `real_python_cow`'s program printed to `log`.
fn last_generation(log: &Path) -> u64 {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("generation ")?.trim().parse().ok())
        .unwrap_or(0)
}

/// Debian's Python rewriting 64 MiB over and over, checkpointed by `ckpt
/// checkpoint` as a user runs it (copy-on-write: the program runs on
/// while its memory is written, and keeps rewriting it), then killed and
/// restarted from the image: it is back at the generation of the
/// checkpoint, behind where it had got to, with every byte of its buffer
/// and every generation of its list as they were then.
pub(crate) fn real_python_cow(name: &str) -> Result<ScenarioResult> {
    let script = format!("/tmp/{name}.py");
    fs::write(&script, PYTHON_REWRITER)?;
    let go = format!("/tmp/go-{name}");
    let result = format!("/tmp/result-{name}");
    let _ = fs::remove_file(&go);
    let _ = fs::remove_file(&result);
    let (w, _job, log) = run_program(
        name,
        &["/bin/python3", "-I", "-S", "-B", &script, &go, &result],
    )?;
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    c.eq(
        "python rewrites its buffer before the checkpoint",
        true,
        wait_for(&log.to_string_lossy(), "generation 3\n", 120),
    );
    let comm = fs::read_to_string(format!("/proc/{pid}/comm"))?
        .trim()
        .to_string();
    let img = format!("/tmp/{name}.img");
    let o = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", &img, "--stats"])
        .output()?;
    c.eq(
        "ckpt checkpoint exit status",
        0,
        o.status.code().unwrap_or(-1),
    );
    let stats = String::from_utf8_lossy(&o.stderr);
    eprintln!("{name}: {}", stats.trim());
    c.eq(
        "python ran while its memory was written (--stats)",
        true,
        stats
            .lines()
            .find_map(|l| l.strip_prefix("ckpt checkpoint: "))
            .and_then(|l| l.parse::<ckpt::CheckpointTimes>().ok())
            .is_some_and(|t| !t.stream.is_zero()),
    );
    let at_end = last_generation(&log);
    // Two more generations after the checkpoint.
    let ran_on = wait_for(
        &log.to_string_lossy(),
        &format!("generation {}\n", at_end + 2),
        120,
    );
    c.eq("python runs on after the checkpoint", true, ran_on);
    let reached = last_generation(&log);
    cgroup::kill(&w.cg)?;
    let _ = waitpid(Pid::from_raw(pid), None);
    fs::write(&go, b"go\n")?;
    let restarted = spawn_restart(&img)?;
    c.eq(
        "python restarted with the same pid",
        true,
        wait_comm(pid, &comm),
    );
    let out = restarted.wait_with_output()?;
    c.eq(
        "ckpt restart exit status (python's)",
        0,
        out.status.code().unwrap_or(-1),
    );
    let verdict = fs::read_to_string(&result).unwrap_or_default();
    let back_at: u64 = verdict
        .trim()
        .strip_prefix("PASS generation ")
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    c.eq(
        "the restarted python finds its buffer and list whole",
        "PASS",
        verdict.split_whitespace().next().unwrap_or("(no verdict)"),
    );
    eprintln!("{name}: generation {at_end} when ckpt checkpoint returned, {reached} when killed, {back_at} after the restart");
    c.eq(
        "it is back at a generation of the checkpoint: at most the one printed when ckpt returned, behind the one it reached",
        true,
        back_at >= 3 && back_at <= at_end && back_at < reached,
    );
    let logged = log_if_failed(&c, &log);
    let _ = fs::remove_file(&go);
    Ok(ScenarioResult {
        checks: c.0,
        state: logged,
        ..Default::default()
    })
}
