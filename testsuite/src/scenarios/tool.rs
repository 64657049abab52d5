//! What `ckpt` tells its user when a checkpoint or a restart cannot be
//! done: a task stopped, traced or outside the job's cgroup (each named,
//! with the fix), and a `ckpt restart --detach` whose `restart(2)` fails
//! (a failure, exit status 125, not a pid and 0) or succeeds (the pid, and
//! the process runs as the saved one).

use super::hostile::with_first_file_at;
use super::{checkpoint_kill, Checks, Workload, CKPT};
use anyhow::{Context, Result};
use ckpt::cgroup;
use nix::sys::ptrace;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use testsuite::Check;

/// `ckpt checkpoint PID -o IMG`: (exit status, stderr).
fn checkpoint(pid: i32, img: &str) -> Result<(i32, String)> {
    let out = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", img])
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}

/// Records whether `stderr` holds `want` (pids in it vary: the snapshot
/// keeps "says so", or the whole stderr when it does not).
fn says(c: &mut Checks, what: &str, stderr: &str, want: &str) {
    c.eq(
        what,
        "says so",
        if stderr.contains(want) {
            "says so"
        } else {
            stderr
        },
    );
}

/// Scenario `err_ckpt_tool_messages`.
pub(crate) fn err_ckpt_tool_messages(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");

    // A traced process (this one is its tracer).
    let w = Workload::start(&format!("{name}-traced"), "sleeper")?;
    let tracee = Pid::from_raw(w.pid);
    ptrace::attach(tracee).context("PTRACE_ATTACH")?;
    let _ = waitpid(tracee, None);
    let (code, err) = checkpoint(w.pid, &img)?;
    c.eq("traced: exit status", 1, code);
    says(
        &mut c,
        "traced: the message names the tracer",
        &err,
        &format!(
            "pid {} is traced by pid {} (a debugger): detach it first",
            w.pid,
            std::process::id()
        ),
    );
    let _ = ptrace::detach(tracee, None);
    drop(w);

    // A child moved out of the job's cgroup.
    let w = Workload::start(&format!("{name}-outside"), "parent_three_children")?;
    let child = super::nth_child(w.pid, 0)?;
    let other = cgroup::create(&format!("{name}-other"))?;
    cgroup::add(&other, child)?;
    let (code, err) = checkpoint(w.pid, &img)?;
    c.eq("outside: exit status", 1, code);
    says(
        &mut c,
        "outside: the message names the task and its cgroup",
        &err,
        &format!("pid {child} is outside the job's cgroup"),
    );
    c.eq(
        "outside: the job runs on, thawed",
        false,
        cgroup::is_frozen(&w.cg)?,
    );
    cgroup::add(&w.cg, child)?;
    let _ = fs::remove_dir(&other);
    drop(w);

    // --detach: a restart(2) that fails (its stdin's file is gone), then
    // one that succeeds.
    let w = Workload::start(&format!("{name}-detach"), "sleeper")?;
    let pid = w.pid;
    checkpoint_kill(&mut c, pid, &img)?;
    drop(w);
    let good = fs::read(&img)?;
    let gone = format!("/tmp/{name}-gone");
    let bad = with_first_file_at(&good, gone.as_bytes())?.context("the image has no open file")?;
    let bad_img = format!("/tmp/{name}-bad.img");
    fs::write(&bad_img, bad)?;
    let out = Command::new(CKPT)
        .args(["restart", "--detach", &bad_img])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    c.eq(
        "--detach, restart(2) fails: exit status",
        125,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "--detach, restart(2) fails: no pid printed",
        "",
        String::from_utf8_lossy(&out.stdout).trim(),
    );
    says(
        &mut c,
        "--detach, restart(2) fails: the message names the cause",
        &err,
        "is gone (the kernel log names it)",
    );
    says(
        &mut c,
        "--detach, restart(2) fails: and where",
        &err,
        "(restart(2) failed at record",
    );
    // The same failure, with the kernel's report as JSON on stdout.
    let out = Command::new(CKPT)
        .args(["restart", "--detach", "--json", &bad_img])
        .output()?;
    c.eq(
        "--json, restart(2) fails: exit status",
        125,
        out.status.code().unwrap_or(-1),
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    c.eq(
        "--json: failure",
        "\"restart\"",
        report["failure"].to_string(),
    );
    c.eq(
        "--json: errno",
        "\"ENOENT\"",
        report["error"]["name"].to_string(),
    );
    c.eq(
        "--json: the kernel's report names the task (the saved pid)",
        true,
        report["report"]["task"].as_i64() == Some(i64::from(pid)),
    );
    c.eq(
        "--json: and the record it read last",
        true,
        report["report"]["record"]["index"]
            .as_u64()
            .is_some_and(|i| i > 0)
            && report["report"]["record"]["type"].is_string(),
    );
    c.eq(
        "--detach, restart(2) fails: no process with the saved pid",
        false,
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
    );
    let start = Instant::now();
    let out = Command::new(CKPT)
        .args(["restart", "--detach", &img])
        .output()?;
    c.eq("--detach: exit status", 0, out.status.code().unwrap_or(-1));
    c.eq(
        "--detach: prints the saved pid",
        true,
        String::from_utf8_lossy(&out.stdout).trim() == pid.to_string(),
    );
    c.eq(
        "--detach: the process runs as the saved one when ckpt returns",
        "sleeper",
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim(),
    );
    eprintln!("--detach returned after {:?}", start.elapsed());
    let job = std::path::Path::new(cgroup::ROOT).join(format!("restart-{pid}"));
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = super::faults::wait_until(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    let _ = fs::remove_dir(&job);

    // `--stats`: how long the tree was frozen, on stderr, and the tree
    // thawed after.
    let w = Workload::start(&format!("{name}-stats"), "sleeper")?;
    let start = Instant::now();
    let out = Command::new(CKPT)
        .args(["checkpoint", &w.pid.to_string(), "-o", &img, "--stats"])
        .output()?;
    let wall = start.elapsed();
    c.eq("--stats: exit status", 0, out.status.code().unwrap_or(-1));
    let err = String::from_utf8_lossy(&out.stderr);
    let times = err
        .lines()
        .find_map(|l| l.strip_prefix("ckpt checkpoint: "))
        .map(str::parse::<ckpt::CheckpointTimes>);
    c.eq(
        "--stats: stderr has one line of times",
        "frozen S s (freeze S s, checkpoint(2) S s, thaw/kill S s)",
        match &times {
            Some(Ok(_)) => "frozen S s (freeze S s, checkpoint(2) S s, thaw/kill S s)".to_owned(),
            _ => err.trim().to_owned(),
        },
    );
    if let Some(Ok(t)) = times {
        c.eq(
            "--stats: the freeze and the call took time, within the command's",
            true,
            !t.call.is_zero() && !t.freeze.is_zero() && t.frozen() <= wall,
        );
    }
    c.eq(
        "--stats: the tree is thawed after",
        false,
        cgroup::is_frozen(&w.cg)?,
    );
    drop(w);
    Ok(c.0)
}

/// Whether `path` holds a whole image (`ckpt inspect` reads it).
fn is_image(path: &str) -> Result<bool> {
    Ok(Command::new(CKPT)
        .args(["inspect", path])
        .output()?
        .status
        .success())
}

/// Scenario `ckpt_output_files`: where `ckpt checkpoint -o FILE` writes.
/// A new FILE appears only whole (`FILE.partial` while it is written); an
/// existing `FILE.partial` is refused, not overwritten; a symbolic link is
/// written through (the link stays, its target gets the image); and
/// `-o /proc/self/fd/1` (what `/dev/stdout` links to) with stdout
/// redirected to a file writes that file.
pub(crate) fn ckpt_output_files(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "sleeper")?;
    let pid = w.pid.to_string();

    let img = format!("/tmp/{name}.img");
    let partial = format!("{img}.partial");
    let _ = fs::remove_file(&img);
    let _ = fs::remove_file(&partial);
    let (code, err) = checkpoint(w.pid, &img)?;
    c.eq("new FILE: exit status", 0, code);
    c.eq("new FILE: no message", "", err);
    c.eq("new FILE: a whole image", true, is_image(&img)?);
    c.eq(
        "new FILE: no .partial left",
        false,
        Path::new(&partial).exists(),
    );
    c.eq(
        "new FILE: mode 0600",
        0o600,
        fs::metadata(&img)?.permissions().mode() & 0o777,
    );

    // A .partial already there: refused, left alone, FILE untouched.
    fs::write(&partial, b"someone else's")?;
    let before = fs::read(&img)?;
    let (code, err) = checkpoint(w.pid, &img)?;
    c.eq("FILE.partial exists: exit status", 1, code);
    says(
        &mut c,
        "FILE.partial exists: the message says so",
        &err,
        "exists: another `ckpt checkpoint` is writing",
    );
    c.eq(
        "FILE.partial exists: it is left alone",
        "someone else's",
        String::from_utf8_lossy(&fs::read(&partial)?),
    );
    c.eq(
        "FILE.partial exists: FILE unchanged",
        true,
        fs::read(&img)? == before,
    );
    fs::remove_file(&partial)?;

    // A symbolic link: written through.
    let target = format!("/tmp/{name}-target.img");
    let link = format!("/tmp/{name}-link.img");
    let _ = fs::remove_file(&target);
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link)?;
    let (code, err) = checkpoint(w.pid, &link)?;
    c.eq("symbolic link: exit status", 0, code);
    c.eq("symbolic link: no message", "", err);
    c.eq(
        "symbolic link: still a link",
        true,
        fs::symlink_metadata(&link)?.file_type().is_symlink(),
    );
    c.eq(
        "symbolic link: its target is the image",
        true,
        is_image(&target)?,
    );
    // A failed checkpoint (pid 1 is in no job) through the link leaves
    // the image it names whole.
    let before = fs::read(&target)?;
    let o = Command::new(CKPT)
        .args(["checkpoint", "1", "-o", &link])
        .output()?;
    c.eq(
        "symbolic link, failed checkpoint: exit status",
        1,
        o.status.code().unwrap_or(-1),
    );
    c.eq(
        "symbolic link, failed checkpoint: the image it names is untouched",
        true,
        fs::read(&target)? == before,
    );

    // -o /proc/self/fd/1, stdout a file.
    let redirected = format!("/tmp/{name}-stdout.img");
    let _ = fs::remove_file(&redirected);
    let o = Command::new("/bin/sh")
        .args([
            "-c",
            &format!("{CKPT} checkpoint {pid} -o /proc/self/fd/1 > {redirected}"),
        ])
        .output()?;
    c.eq(
        "-o /proc/self/fd/1: exit status",
        0,
        o.status.code().unwrap_or(-1),
    );
    c.eq(
        "-o /proc/self/fd/1: the redirected file is the image",
        true,
        is_image(&redirected)?,
    );
    for f in [&img, &target, &link, &redirected] {
        let _ = fs::remove_file(f);
    }
    drop(w);
    Ok(c.0)
}

/// `ckpt diff A B --json`: (exit status, the differences).
fn ckpt_diff(a: &str, b: &str) -> Result<(i32, serde_json::Value)> {
    let o = Command::new(CKPT).args(["diff", a, b, "--json"]).output()?;
    let d = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    Ok((o.status.code().unwrap_or(-1), d))
}

/// Scenario `ckpt_diff_round_trip`: a tree (a parent and three children,
/// all asleep) checkpointed, killed, restarted and checkpointed again.
/// `ckpt diff` of an image against itself finds nothing, and the two
/// images of the round trip differ only where they must, the root's
/// parent: the restart brings back everything else, every page included.
pub(crate) fn ckpt_diff_round_trip(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "parent_three_children")?;
    let pid = w.pid;
    let first = format!("/tmp/{name}-1.img");
    let second = format!("/tmp/{name}-2.img");
    // Both checkpoints the same way (flags in the header), the tree then
    // killed with its cgroup.
    // Frozen to the end, both (a copy-on-write checkpoint may fall back
    // to a frozen one, and the header says which).
    let o = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "--no-cow", "-o", &first])
        .output()?;
    c.eq("checkpoint exit status", 0, o.status.code().unwrap_or(-1));
    drop(w);
    let (code, d) = ckpt_diff(&first, &first)?;
    c.eq("an image against itself: exit status", 0, code);
    c.eq(
        "an image against itself: no difference",
        "[] []",
        format!("{} {}", d["fields"], d["pages"]),
    );
    let _job = super::restart::RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let o = Command::new(CKPT)
        .args(["restart", "--detach", &first])
        .output()?;
    c.eq(
        "restart --detach: exit status",
        0,
        o.status.code().unwrap_or(-1),
    );
    let o = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "--no-cow", "-o", &second])
        .output()?;
    c.eq(
        "the restarted tree checkpointed again: exit status",
        0,
        o.status.code().unwrap_or(-1),
    );
    let (code, d) = ckpt_diff(&first, &second)?;
    c.eq("round trip: exit status (1: they differ)", 1, code);
    // The pids of the tree are the same in both images, but vary from run
    // to run: named p0, p1... in image order.
    let pids = d_tasks(&first);
    let named = |p: &str| {
        let mut p = p.to_string();
        for (i, t) in pids.iter().enumerate() {
            p = p
                .replace(&format!("pid={t}]"), &format!("pid=p{i}]"))
                .replace(&format!("pid={t}"), &format!("pid=p{i}"));
        }
        p
    };
    // A VMA's flags that differ are named by the bits that do.
    let mut fields: Vec<String> = Vec::new();
    for f in d["fields"].as_array().into_iter().flatten() {
        let path = f["path"].as_str().unwrap_or("?");
        let hex = |v: &serde_json::Value| {
            v.as_str()
                .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
        };
        match (path.ends_with(".vm_flags"), hex(&f["a"]), hex(&f["b"])) {
            (true, Some(a), Some(b)) => {
                for (bit, name) in VM_FLAG_NAMES {
                    let change = match (a & bit != 0, b & bit != 0) {
                        (true, false) => "lost",
                        (false, true) => "gained",
                        _ => continue,
                    };
                    fields.push(format!("a VMA's {name} {change}"));
                }
                let known = VM_FLAG_NAMES.iter().fold(0, |m, (bit, _)| m | bit);
                if (a ^ b) & !known != 0 {
                    fields.push(format!("{}: {a:#x} -> {b:#x}", named(path)));
                }
            }
            _ => fields.push(named(path)),
        }
    }
    fields.sort();
    fields.dedup();
    // The kinds of records whose bytes differ.
    let mut records: Vec<String> = d["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {}",
                r["kind"].as_str().unwrap_or("?"),
                r["change"].as_str().unwrap_or("?")
            )
        })
        .collect();
    records.sort();
    records.dedup();
    // What differs, and why:
    // - the root's parent is outside the tree: the scenario's runner
    //   first, then the `ckpt restart` that recreated it;
    // - a PROT_NONE area the program made writable once (and so charged
    //   to the commit limit, VM_ACCOUNT) is mapped again PROT_NONE, not
    //   charged until it is made writable again;
    // - the stack, mapped anew, is soft-dirty (VM_SOFTDIRTY), as every new
    //   mapping is until /proc/PID/clear_refs clears it.
    c.eq(
        "round trip: the fields that differ",
        "a VMA's VM_ACCOUNT lost, a VMA's VM_SOFTDIRTY gained, tasks[pid=p0].ppid",
        fields.join(", "),
    );
    c.eq(
        "round trip: the pages that differ",
        "[]",
        d["pages"].to_string(),
    );
    c.eq(
        "round trip: the tree's pages were compared, all the same",
        true,
        d["same_pages"].as_u64().is_some_and(|n| n > 0),
    );
    c.eq(
        "round trip: the kinds of records whose bytes differ (those of the fields above)",
        "task changed, vma changed",
        records.join(", "),
    );
    let _ = fs::remove_file(&first);
    let _ = fs::remove_file(&second);
    Ok(c.0)
}

/// The `vm_flags` bits the round trip names (mm.h of 6.12).
const VM_FLAG_NAMES: &[(u64, &str)] = &[
    (0x1, "VM_READ"),
    (0x2, "VM_WRITE"),
    (0x4, "VM_EXEC"),
    (0x8, "VM_SHARED"),
    (0x100, "VM_GROWSDOWN"),
    (0x2000, "VM_LOCKED"),
    (0x20000, "VM_DONTCOPY"),
    (0x100000, "VM_ACCOUNT"),
    (0x200000, "VM_NORESERVE"),
    (0x2000000, "VM_WIPEONFORK"),
    (0x4000000, "VM_DONTDUMP"),
    (0x8000000, "VM_SOFTDIRTY"),
];

/// The pids of the tasks of an image, in image order.
fn d_tasks(img: &str) -> Vec<i64> {
    Command::new(CKPT)
        .args(["inspect", "--json", img])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| {
            v["tasks"]
                .as_array()
                .map(|t| t.iter().filter_map(|t| t["pid"].as_i64()).collect())
        })
        .unwrap_or_default()
}

/// `ckpt checkpoint PID -o FIFO` with stderr on `stderr`, the FIFO read
/// only after `delay` (checkpoint(2) waits on the full pipe meanwhile):
/// (exit status, whether the bytes read are a whole image, what it wrote
/// to stderr if that is a pipe).
fn checkpoint_to_slow_fifo(
    pid: i32,
    fifo: &str,
    stderr: std::process::Stdio,
    delay: std::time::Duration,
) -> Result<(i32, bool, String)> {
    let _ = fs::remove_file(fifo);
    nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
    let mut child = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", fifo])
        .stderr(stderr)
        .spawn()?;
    let mut reader = fs::File::open(fifo)?;
    std::thread::sleep(delay);
    let mut image = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut image)?;
    let status = child.wait()?;
    let mut said = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut said)?;
    }
    let copy = format!("{fifo}.img");
    fs::write(&copy, &image)?;
    let whole = is_image(&copy)?;
    let _ = fs::remove_file(&copy);
    let _ = fs::remove_file(fifo);
    Ok((status.code().unwrap_or(-1), whole, said))
}

/// Scenario `ckpt_progress`: a checkpoint that takes more than a second
/// (its output, a FIFO, is read only after 1.6 s) shows a progress line
/// on a terminal, redrawn in place and cleared at the end, and nothing
/// when stderr is not a terminal.
pub(crate) fn ckpt_progress(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "sleeper")?;
    let fifo = format!("/tmp/{name}.fifo");
    let delay = std::time::Duration::from_millis(1600);

    let pty = nix::pty::openpty(None, None)?;
    let (code, whole, _) =
        checkpoint_to_slow_fifo(w.pid, &fifo, std::process::Stdio::from(pty.slave), delay)?;
    c.eq("on a terminal: exit status", 0, code);
    c.eq("on a terminal: the FIFO got a whole image", true, whole);
    // Everything ckpt wrote to the terminal (the slave is closed: it is
    // read until it is empty).
    let mut shown = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut p = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&pty.master),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut p, nix::poll::PollTimeout::from(200u16)).unwrap_or(0) == 0 {
            break;
        }
        match nix::unistd::read(&pty.master, &mut buf) {
            Ok(n) if n > 0 => shown.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let shown = String::from_utf8_lossy(&shown);
    c.eq(
        "on a terminal: a line `ckpt checkpoint: S s` redrawn in place",
        true,
        shown.contains("\r\x1b[Kckpt checkpoint: 1."),
    );
    c.eq(
        "on a terminal: the line is cleared at the end",
        true,
        shown.ends_with("\r\x1b[K"),
    );

    let (code, whole, said) =
        checkpoint_to_slow_fifo(w.pid, &fifo, std::process::Stdio::piped(), delay)?;
    c.eq("not a terminal: exit status", 0, code);
    c.eq("not a terminal: the FIFO got a whole image", true, whole);
    c.eq("not a terminal: nothing on stderr", "", said);
    drop(w);
    Ok(c.0)
}
