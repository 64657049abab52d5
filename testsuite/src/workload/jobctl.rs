//! Job control across a restart: processes stopped by a signal stay
//! stopped, and their parent's wait(2) reports what it had not yet.

use super::*;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitPidFlag;

/// The state letter of a task in /proc.
fn state_of(path: &str) -> char {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .and_then(|w| w.chars().next())
        })
        .unwrap_or('?')
}

/// Waits until every task of `pid` is in state `want`.
fn wait_state(pid: Pid, want: char) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(5) {
        let tasks: Vec<char> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.flatten()
                    .map(|e| state_of(&format!("{}/stat", e.path().display())))
                    .collect()
            })
            .unwrap_or_default();
        if !tasks.is_empty() && tasks.iter().all(|&s| s == want) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    false
}

/// Three children: `stopped-seen`, stopped by SIGSTOP and its stop
/// already reported to this parent; `stopped-new`, two threads stopped by
/// SIGTSTP, not reported yet; `continued`, stopped, reported, then
/// continued and not reported. After the restart the first two must still
/// be stopped (every thread), the third running; wait(2) must report the
/// second's stop and the third's continue, not the first's; SIGCONT must
/// wake the first two.
pub(crate) fn stopped_check(ready_path: &Path) -> Result<()> {
    name("jobctl");
    let (go, result) = go_and_result(ready_path);
    let seen = spawn("stopped-seen", sleep_forever_fn)?;
    let new = spawn("stopped-new", || {
        std::thread::spawn(sleep_forever_fn);
        sleep_forever_fn()
    })?;
    let cont = spawn("continued", sleep_forever_fn)?;
    // A group of its own, whose parent (this process) is in another group
    // of the session: not orphaned, so SIGTSTP stops it (as a shell's job).
    setpgid(new, new)?;
    // The second thread of `stopped-new` is there before it is stopped.
    let start = std::time::Instant::now();
    while std::fs::read_dir(format!("/proc/{new}/task")).map_or(0, |d| d.count()) < 2
        && start.elapsed() < std::time::Duration::from_secs(5)
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    kill(seen, Signal::SIGSTOP)?;
    let st = waitpid(seen, Some(WaitPidFlag::WUNTRACED))?;
    anyhow::ensure!(
        st == WaitStatus::Stopped(seen, Signal::SIGSTOP),
        "stopped-seen: {st:?}"
    );
    kill(cont, Signal::SIGSTOP)?;
    let st = waitpid(cont, Some(WaitPidFlag::WUNTRACED))?;
    anyhow::ensure!(
        st == WaitStatus::Stopped(cont, Signal::SIGSTOP),
        "continued: {st:?}"
    );
    kill(cont, Signal::SIGCONT)?;
    kill(new, Signal::SIGTSTP)?;
    anyhow::ensure!(wait_state(new, 'T'), "stopped-new did not stop");
    anyhow::ensure!(wait_state(cont, 'S'), "continued did not run on");
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut bad = Vec::new();
    for (who, pid, want) in [
        ("stopped-seen", seen, 'T'),
        ("stopped-new", new, 'T'),
        ("continued", cont, 'S'),
    ] {
        if !wait_state(pid, want) {
            bad.push(format!("{who} is not in state {want}"));
        }
    }
    // What wait(2) has to report: the new stop and the continue, once each.
    let mut reports = Vec::new();
    let flags = WaitPidFlag::WUNTRACED | WaitPidFlag::WCONTINUED | WaitPidFlag::WNOHANG;
    loop {
        match waitpid(None, Some(flags)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(s) => reports.push(s),
        }
        if reports.len() > 5 {
            break;
        }
    }
    reports.sort_by_key(|s| s.pid().map_or(0, |p| p.as_raw()));
    let want = vec![
        WaitStatus::Stopped(new, Signal::SIGTSTP),
        WaitStatus::Continued(cont),
    ];
    let mut want = want;
    want.sort_by_key(|s| s.pid().map_or(0, |p| p.as_raw()));
    if reports != want {
        bad.push(format!("wait reported {reports:?}, not {want:?}"));
    }
    // SIGCONT wakes the stopped ones, every thread.
    for (who, pid) in [("stopped-seen", seen), ("stopped-new", new)] {
        kill(pid, Signal::SIGCONT)?;
        if !wait_state(pid, 'S') {
            bad.push(format!("{who} not running after SIGCONT"));
        }
        match waitpid(pid, Some(WaitPidFlag::WCONTINUED)) {
            Ok(WaitStatus::Continued(p)) if p == pid => {}
            other => bad.push(format!("{who}: wait after SIGCONT {other:?}")),
        }
    }
    for pid in [seen, new, cont] {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
    verdict_all(&result, &bad, "stopped children stay stopped (every thread), wait(2) reports the stop and the continue it had not, SIGCONT wakes them")
}
