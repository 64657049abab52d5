//! The manual pages as a user reads them in the guest (`man 2
//! checkpoint`, mandoc's `man` over `/usr/share/man`), and the example
//! programs of checkpoint(2) and restart(2), built from the pages' own
//! text, run as the pages show: `checkpoint_tree` writes an image of a
//! running `sleep`, which is killed, and `restart_one` brings it back with
//! its pid and waits for it.

use super::{Checks, Workload};
use anyhow::{Context, Result};
use ckpt::cgroup;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testsuite::Check;

/// `man ARGS...` as a user types it, stdout not a terminal (no pager):
/// (exit status, text as a terminal shows it: mandoc writes bold and
/// underline as a character, a backspace and a character, and only the
/// last one shows).
fn man(args: &[&str]) -> Result<(i32, String)> {
    let out = Command::new("/bin/man")
        .args(args)
        .output()
        .context("cannot run /bin/man")?;
    Ok((
        out.status.code().unwrap_or(-1),
        shown(&String::from_utf8_lossy(&out.stdout)),
    ))
}

fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch == '\u{8}' {
            out.pop();
        } else {
            out.push(ch);
        }
    }
    out
}

/// Records that `man ARGS` succeeds and shows each of `wants`.
fn page_shows(c: &mut Checks, args: &[&str], wants: &[&str]) -> Result<()> {
    let (code, text) = man(args)?;
    let what = format!("man {}", args.join(" "));
    c.eq(format!("{what}: exit status"), 0, code);
    for want in wants {
        c.eq(
            format!("{what}: shows {want:?}"),
            true,
            text.lines().any(|l| l.contains(want)),
        );
    }
    Ok(())
}

/// Scenario `man_examples`.
pub(crate) fn man_examples(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    page_shows(
        &mut c,
        &["2", "checkpoint"],
        &[
            "checkpoint - write an image of a frozen process tree",
            "CHECKPOINT_COW",
            "EOPNOTSUPP",
        ],
    )?;
    page_shows(
        &mut c,
        &["2", "restart"],
        &["struct restart_report {", "RESTART_DELETED_HERE"],
    )?;
    page_shows(&mut c, &["ckpt"], &["ckpt-checkpoint(1)"])?;
    page_shows(&mut c, &["1", "ckpt-restart"], &["--deleted-in"])?;
    let (code, _) = man(&["2", "no-such-page"])?;
    c.eq("man 2 no-such-page fails", true, code != 0);

    // checkpoint_tree PID CGROUP IMAGE, on a job as `ckpt run` starts it.
    let argv: Vec<OsString> = ["/bin/busybox", "sleep", "1000"]
        .iter()
        .map(OsString::from)
        .collect();
    let log = format!("/tmp/{name}.log");
    let opts = ckpt::RunOptions {
        name: Some(name),
        log: Some(Path::new(&log)),
        ..Default::default()
    };
    let pid = ckpt::run_with(&opts, &argv)?;
    let w = Workload {
        pid,
        cg: cgroup::of_pid(pid)?,
    };
    let img = format!("/tmp/{name}.img");
    let out = Command::new("/bin/checkpoint_tree")
        .arg(pid.to_string())
        .arg(&w.cg)
        .arg(&img)
        .output()
        .context("cannot run /bin/checkpoint_tree")?;
    c.eq(
        "checkpoint_tree: exit status",
        0,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "checkpoint_tree: stderr",
        "",
        String::from_utf8_lossy(&out.stderr).trim(),
    );
    let size = fs::metadata(&img).map(|m| m.len()).unwrap_or(0);
    // Pids and sizes vary from run to run: the snapshot says PID and SIZE.
    c.eq(
        "checkpoint_tree prints the image's size",
        "/bin/checkpoint_tree: wrote SIZE bytes",
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .replace(&format!(" {size} "), " SIZE "),
    );
    c.eq(
        "checkpoint_tree thawed the job (cgroup.events)",
        true,
        fs::read_to_string(w.cg.join("cgroup.events")).is_ok_and(|e| e.contains("frozen 0")),
    );
    let inspect = Command::new(super::CKPT).args(["inspect", &img]).output()?;
    c.eq(
        "ckpt inspect reads the image",
        0,
        inspect.status.code().unwrap_or(-1),
    );
    if !out.status.success() {
        return Ok(c.0);
    }

    // The job is killed and reaped; restart_one PID IMAGE brings it back.
    kill(Pid::from_raw(pid), Signal::SIGKILL)?;
    waitpid(Pid::from_raw(pid), None)?;
    let mut restarter = Command::new("/bin/restart_one")
        .args([&pid.to_string(), &img])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run /bin/restart_one")?;
    let mut lines = BufReader::new(restarter.stdout.take().context("no stdout")?).lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    c.eq(
        "restart_one: its first line",
        "/bin/restart_one: process PID restarted",
        first.replace(&format!(" {pid} "), " PID "),
    );
    let running = wait_for_sleep(pid);
    c.eq(
        "the process runs sleep 1000 again, with its pid",
        true,
        running,
    );
    let ppid = fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PPid:").map(|p| p.trim().to_string()))
        })
        .unwrap_or_default();
    c.eq(
        "its parent is restart_one",
        true,
        ppid == restarter.id().to_string(),
    );
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let last = lines.next().transpose()?.unwrap_or_default();
    c.eq(
        "restart_one reports its end",
        "/bin/restart_one: process PID killed by signal 9",
        last.replace(&format!(" {pid} "), " PID "),
    );
    let status = restarter.wait()?;
    c.eq("restart_one: exit status", 0, status.code().unwrap_or(-1));
    let mut err = String::new();
    if let Some(mut e) = restarter.stderr.take() {
        use std::io::Read;
        e.read_to_string(&mut err)?;
    }
    c.eq("restart_one: stderr", "", err.trim());
    let _ = fs::remove_file(&img);
    Ok(c.0)
}

/// Waits up to 30 s for `pid` to be `sleep 1000` (busybox's).
fn wait_for_sleep(pid: i32) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline == b"/bin/busybox\0sleep\x001000\0" {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}
