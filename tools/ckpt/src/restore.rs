// SPDX-License-Identifier: GPL-2.0
//! How `ckpt restart` learns whether `restart(2)` succeeded in a process
//! that calls it itself (a one-process image), before it waits for the
//! process or detaches from it.
//!
//! The restoring process holds the write end of a pipe (the report pipe),
//! takes a marker as its command name, says so on the pipe with its pid
//! as `/proc` shows it, and calls `restart(2)`. If the call returns, it failed and the process
//! never became the saved one: it writes the errno and the kernel's
//! `struct restart_report` to the pipe and exits with 125. A successful
//! restore closes every descriptor of the process when it installs the
//! saved ones, so the monitor reads end of file; but so does a process
//! that dies, and the restore goes on after that point (pages, registers,
//! signals, credentials), where a failure kills the process. So, once the
//! pipe is at end of file, the monitor waits until either the process
//! has exited (it died before it was restored: a signal, or a failure
//! after the point of no return, which the kernel turns into `SIGKILL`)
//! or its command name is not the marker it took before the call any more
//! (the very last step of `restart(2)` gives it its saved name; the marker
//! differs from that name).
//!
//! With `--pidns` the monitor is the init of the new pid namespace; it
//! tells the `ckpt` process outside on a second pipe what became of the
//! restart, in one line (see [`encode_verdict`]); a tree restarted in a
//! new pid namespace reports its coordinator's result the same way.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use ckpt_image::{RecordType, RestartReport};
use nix::errno::Errno;
use nix::libc;

use crate::error::signal_name;
use crate::{kernel_has_checkpoint, CheckpointError, RestartFailure};

/// Names the restoring process takes before `restart(2)`: the first one,
/// or the second if the saved process has the first as its name.
const MARKERS: [&CStr; 2] = [c"ckpt-restoring", c"ckpt-restoring2"];

/// Longest pause between two looks at a restoring process.
const MAX_NAP: Duration = Duration::from_millis(5);

/// The name the restoring process takes before `restart(2)`: one that is
/// not `saved`, the name `restart(2)` gives it back as its last step.
pub(crate) fn marker_for(saved: &str) -> &'static CStr {
    if MARKERS[0].to_bytes() == saved.as_bytes() {
        MARKERS[1]
    } else {
        MARKERS[0]
    }
}

/// In the process that restores itself from `image`: takes the name
/// `marker`, tells the monitor on `report` its pid as `/proc` shows it,
/// calls `restart(2)` (which does not return on success) and, when it
/// returns, writes the error and the kernel's report to `report` and
/// exits with 125 (`restart(2)` failed; nothing of the saved program ran).
pub(crate) fn restore_self(image: RawFd, report: RawFd, marker: &CStr) -> ! {
    // SAFETY: restores the default SIGPIPE action (the Rust runtime
    // ignores it; restart(2) then sets every action as saved), and names
    // this process with a NUL-terminated string.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::prctl(libc::PR_SET_NAME, marker.as_ptr(), 0, 0, 0);
    }
    // "pid 0": /proc does not show this process.
    let pid = proc_self().unwrap_or(0);
    let _ = write_all(report, format!("pid {pid}\n").as_bytes());
    let line = match crate::sys_restart_raw(0, image, restart_flags()) {
        Ok(()) => encode_child_failure(Errno::UnknownErrno, &RestartReport::default()),
        Err((errno, r)) => encode_child_failure(errno, &r),
    };
    let _ = write_all(report, line.as_bytes());
    // SAFETY: leaves at once, without the parent's exit handlers.
    unsafe { libc::_exit(125) }
}

/// The line a restoring process writes when `restart(2)` failed.
fn encode_child_failure(errno: Errno, r: &RestartReport) -> String {
    format!(
        "err {} {} {} {} {} {}\n",
        errno as i32, r.pid, r.error, r.record, r.record_type, r.offset
    )
}

/// What a restoring process wrote on its report pipe.
#[derive(Debug, Default, PartialEq, Eq)]
struct ChildReport {
    /// It took the marker as its name and is about to call `restart(2)`.
    started: bool,
    /// Its pid as `/proc` shows it.
    proc_pid: Option<i32>,
    /// `restart(2)` failed: the errno and the kernel's report.
    failure: Option<(Errno, RestartReport)>,
}

fn parse_child_report(text: &str) -> ChildReport {
    let mut out = ChildReport::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("pid") => {
                out.started = true;
                out.proc_pid = words.next().and_then(|w| w.parse().ok()).filter(|&p| p > 0);
            }
            Some("err") => {
                let n: Vec<i64> = words.map_while(|w| w.parse().ok()).collect();
                let field = |i: usize| n.get(i).copied().unwrap_or(0);
                let report = RestartReport {
                    pid: field(1) as i32,
                    error: field(2) as i32,
                    record: field(3) as u32,
                    record_type: field(4) as u32,
                    offset: field(5) as u64,
                };
                out.failure = Some((Errno::from_raw(field(0) as i32), report));
            }
            _ => {}
        }
    }
    out
}

/// Where `restart(2)` failed in the image, from its report: `record 7
/// (vma) at byte 4096`, or `None` if the report names no record.
pub(crate) fn record_place(r: &RestartReport) -> Option<String> {
    if r.record == 0 && r.record_type == 0 && r.offset == 0 {
        return None;
    }
    let kind = RecordType::from_u32(r.record_type).map_or("unknown", RecordType::name);
    Some(format!("record {} ({kind}) at byte {}", r.record, r.offset))
}

/// The sentence for a failed `restart(2)` of the one-process image of
/// `pid`: the errno's, and the record the kernel read last.
pub(crate) fn single_failure(errno: Errno, r: &RestartReport, pid: i32) -> CheckpointError {
    let mut message = restart_error(errno, pid);
    if let Some(place) = record_place(r) {
        message = format!("{message} (restart(2) failed at {place})");
    }
    CheckpointError::new(errno, message).with_report(*r)
}

/// The failure of a one-process restart whose process (the saved `pid`)
/// was killed by `signal` before `restart(2)` completed.
pub(crate) fn single_killed(signal: i32, pid: i32) -> RestartFailure {
    RestartFailure::Killed {
        signal,
        message: format!(
            "restart: the restored process was killed by {} (pid {pid}, before restart(2) \
             completed: a signal sent to it, or a failure after the point of no return, which \
             the kernel log names); it never ran: restart the image again",
            signal_name(signal)
        ),
    }
}

/// The failure of a tree restart that `restart(2)` reported as task
/// `pid` killed (`EINTR` from a task): by `signal` if it is known.
pub(crate) fn tree_killed(signal: Option<i32>, pid: i32) -> RestartFailure {
    let message = match signal {
        Some(sig) => format!(
            "restart: the restored tree was killed by {} (task {pid} got it while restart(2) \
             restored the tree, and the kernel then killed every task): restart the image again",
            signal_name(sig)
        ),
        None => format!(
            "restart: the restored tree was killed by SIGKILL (task {pid} was killed while \
             restart(2) restored the tree, and the kernel then killed every task): restart the \
             image again"
        ),
    };
    RestartFailure::Killed {
        signal: signal.unwrap_or(libc::SIGKILL),
        message,
    }
}

/// In the monitor: reads the report pipe `report` (and closes it), then
/// waits until the process `child` (this process's child, the saved
/// `pid`, named `marker`) is restored or has died. A failure is returned
/// once the child is reaped.
pub(crate) fn await_restore(
    report: RawFd,
    child: i32,
    marker: &CStr,
    pid: i32,
) -> Result<(), RestartFailure> {
    let text = read_all(report);
    close(report);
    let said = parse_child_report(&String::from_utf8_lossy(&text));
    if let Some((errno, r)) = said.failure {
        reap(child);
        return Err(RestartFailure::Error(single_failure(errno, &r, pid)));
    }
    // End of file: the saved descriptors are installed, or the process
    // died; its name tells once the restore is over. One that died before
    // it took the marker (no "pid" line) never started to restore: only
    // its exit tells what happened.
    let proc_pid = said.proc_pid.unwrap_or(child);
    let restored = || {
        if said.started {
            read_comm(proc_pid).map(|c| c != marker.to_bytes())
        } else {
            Some(false)
        }
    };
    let mut nap = Duration::from_micros(100);
    loop {
        let state = peek(child);
        // Read after the state: a process that ended after a restore
        // (a zombie) has its saved name.
        let named = restored();
        if named == Some(true) {
            return Ok(());
        }
        match state {
            // /proc does not show it (not mounted, or hidden): end of
            // file is all there is to go by.
            Ok(ChildState::Running) if named.is_none() => return Ok(()),
            Ok(ChildState::Running) | Err(Errno::EINTR) => {}
            Ok(ChildState::Killed(sig)) => {
                reap(child);
                return Err(single_killed(sig, pid));
            }
            Ok(ChildState::Exited(code)) => {
                reap(child);
                return Err(RestartFailure::Error(CheckpointError::new(
                    Errno::UnknownErrno,
                    format!(
                        "restart(2) of pid {pid} did not complete: the process exited with \
                         status {code} without saying why"
                    ),
                )));
            }
            // Not a child to wait for: nothing more to learn.
            Err(_) => return Ok(()),
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(MAX_NAP);
    }
}

/// A child's state, looked at without reaping it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildState {
    Running,
    Exited(i32),
    Killed(i32),
}

/// The state of child `pid`, which stays waitable.
pub(crate) fn peek(pid: i32) -> Result<ChildState, Errno> {
    // SAFETY: an all-zero siginfo_t is valid storage for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid with a live siginfo_t; WNOWAIT leaves the child
    // waitable.
    let ret = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
        )
    };
    Errno::result(ret)?;
    // SAFETY: waitid filled `info` (or left it zeroed: si_pid 0).
    let (si_pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    Ok(match info.si_code {
        _ if si_pid == 0 => ChildState::Running,
        libc::CLD_EXITED => ChildState::Exited(status),
        libc::CLD_KILLED | libc::CLD_DUMPED => ChildState::Killed(status),
        _ => ChildState::Running,
    })
}

/// The signal that killed task `pid` of a tree whose restart failed (the
/// kernel kills every task): from `waitid` if it is this process's child,
/// else (when `proc_visible`, `/proc` showing this pid namespace) from
/// the exit code `/proc/PID/stat` shows while it exits. `None` if neither
/// tells within a second.
pub(crate) fn signal_of_task(pid: i32, proc_visible: bool) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match peek(pid) {
            Ok(ChildState::Killed(sig)) => return Some(sig),
            Ok(ChildState::Exited(_)) => return None,
            Ok(ChildState::Running) | Err(Errno::EINTR) => {}
            Err(_) if !proc_visible => return None,
            Err(_) => {
                let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                match crate::busy::stat_exit_code(&text) {
                    Some(0) => {}
                    Some(code) if code & 0x7f != 0 => return Some(code & 0x7f),
                    _ => return None,
                }
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits for child `pid` and reaps it.
pub(crate) fn reap(pid: i32) {
    let mut status = 0;
    loop {
        // SAFETY: waits for one child; `status` is a live int.
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if Errno::result(ret) != Err(Errno::EINTR) {
            return;
        }
    }
}

/// The command name of `pid` (without the newline), if `/proc` shows it.
fn read_comm(pid: i32) -> Option<Vec<u8>> {
    let mut comm = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    if comm.last() == Some(&b'\n') {
        comm.pop();
    }
    Some(comm)
}

/// This process's pid as `/proc` shows it (its pid namespace may differ).
fn proc_self() -> Option<i32> {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse().ok())
}

/// One line saying how a restart ended, from the init of a new pid
/// namespace to the `ckpt` process outside: `ok`, `restart ERRNO REPORT
/// TEXT` (`restart(2)` failed; the kernel's report as
/// `PID:ERROR:RECORD:TYPE:OFFSET`, or `-`), `killed SIGNAL TEXT` (a signal killed it during
/// the restore), or `err ERRNO TEXT` (anything else; errno 0 for none).
pub(crate) fn encode_verdict(result: Result<(), &anyhow::Error>) -> String {
    let flat = |s: &str| s.replace('\n', " ");
    match result {
        Ok(()) => "ok\n".to_owned(),
        Err(e) => match e.downcast_ref::<RestartFailure>() {
            Some(RestartFailure::Error(c)) => {
                let report = c.report.map_or_else(
                    || "-".to_owned(),
                    |r| {
                        format!(
                            "{}:{}:{}:{}:{}",
                            r.pid, r.error, r.record, r.record_type, r.offset
                        )
                    },
                );
                format!("restart {} {report} {}\n", c.errno as i32, flat(&c.message))
            }
            Some(RestartFailure::Killed { signal, message }) => {
                format!("killed {signal} {}\n", flat(message))
            }
            None => {
                let errno = CheckpointError::errno_of(e).map_or(0, |e| e as i32);
                format!("err {errno} {}\n", flat(&format!("{e:#}")))
            }
        },
    }
}

/// A report as [`encode_verdict`] writes it: `PID:ERROR:RECORD:TYPE:OFFSET`
/// (`-` for none).
fn parse_report(text: &str) -> Option<RestartReport> {
    let mut f = text.split(':');
    let mut next = || f.next()?.parse::<i64>().ok();
    Some(RestartReport {
        pid: i32::try_from(next()?).ok()?,
        error: i32::try_from(next()?).ok()?,
        record: u32::try_from(next()?).ok()?,
        record_type: u32::try_from(next()?).ok()?,
        offset: u64::try_from(next()?).ok()?,
    })
}

/// The result [`encode_verdict`] encoded (nothing: the init died first).
pub(crate) fn decode_verdict(text: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(text);
    let line = text.lines().next().unwrap_or_default();
    if line == "ok" {
        return Ok(());
    }
    let mut parts = line.splitn(3, ' ');
    let (kind, number, message) = (parts.next(), parts.next(), parts.next());
    let number = number.and_then(|n| n.parse::<i32>().ok());
    let message = message.unwrap_or_default().to_owned();
    match (kind, number) {
        (Some("restart"), Some(errno)) => {
            let (report, message) = message.split_once(' ').unwrap_or((&message, ""));
            let mut e = CheckpointError::new(Errno::from_raw(errno), message);
            if let Some(r) = parse_report(report) {
                e = e.with_report(r);
            }
            Err(RestartFailure::Error(e).into())
        }
        (Some("killed"), Some(signal)) => Err(RestartFailure::Killed { signal, message }.into()),
        (Some("err"), Some(errno)) if errno > 0 => {
            Err(CheckpointError::new(Errno::from_raw(errno), message).into())
        }
        (Some("err"), Some(_)) => Err(anyhow!(message)),
        _ => Err(anyhow!(
            "the init of the new pid namespace died before it reported"
        )),
    }
}

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> Result<(RawFd, RawFd), Errno> {
    let mut fds = [-1; 2];
    // SAFETY: pipe2 writes two file descriptors into `fds`.
    Errno::result(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

/// Everything readable from `fd` until end of file.
pub(crate) fn read_all(fd: RawFd) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reads into a live buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match Errno::result(n) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(buf.get(..n as usize).unwrap_or_default()),
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    out
}

/// Writes all of `buf` to `fd`.
pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: writes from a live buffer.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        match Errno::result(n) {
            Ok(n) => buf = buf.get(n as usize..).unwrap_or_default(),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Closes a descriptor the caller owns.
pub(crate) fn close(fd: RawFd) {
    // SAFETY: closes a descriptor the caller opened and owns.
    unsafe { libc::close(fd) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_differs_from_the_saved_name() {
        assert_eq!(marker_for("sleeper"), c"ckpt-restoring");
        assert_eq!(marker_for("ckpt-restoring"), c"ckpt-restoring2");
        assert_eq!(marker_for("ckpt-restoring2"), c"ckpt-restoring");
        for m in MARKERS {
            // TASK_COMM_LEN with the NUL.
            assert!(m.to_bytes_with_nul().len() <= ckpt_image::COMM_LEN);
        }
    }

    #[test]
    fn child_report_round_trip() {
        let r = RestartReport {
            pid: 42,
            error: -22,
            record: 7,
            record_type: RecordType::Vma as u32,
            offset: 4096,
        };
        let text = format!("pid 1234\n{}", encode_child_failure(Errno::EINVAL, &r));
        assert_eq!(
            parse_child_report(&text),
            ChildReport {
                started: true,
                proc_pid: Some(1234),
                failure: Some((Errno::EINVAL, r)),
            }
        );
    }

    #[test]
    fn child_report_of_a_success() {
        // End of file after the pid: no failure.
        assert_eq!(
            parse_child_report("pid 77\n"),
            ChildReport {
                started: true,
                proc_pid: Some(77),
                failure: None,
            }
        );
        // Not shown in /proc.
        assert_eq!(
            parse_child_report("pid 0\n"),
            ChildReport {
                started: true,
                proc_pid: None,
                failure: None,
            }
        );
        assert_eq!(parse_child_report(""), ChildReport::default());
        // A cut line is still a failure.
        let cut = parse_child_report("err 2 5");
        assert_eq!(cut.failure.map(|f| f.0), Some(Errno::ENOENT));
    }

    #[test]
    fn places_in_the_image() {
        let mut r = RestartReport::default();
        assert_eq!(record_place(&r), None);
        r.record = 7;
        r.record_type = RecordType::Vma as u32;
        r.offset = 4096;
        assert_eq!(
            record_place(&r).as_deref(),
            Some("record 7 (vma) at byte 4096")
        );
        r.record_type = 999;
        assert_eq!(
            record_place(&r).as_deref(),
            Some("record 7 (unknown) at byte 4096")
        );
    }

    #[test]
    fn single_failure_names_the_cause_and_the_record() {
        let mut r = RestartReport {
            pid: 42,
            error: -2,
            ..Default::default()
        };
        let e = single_failure(Errno::ENOENT, &r, 42);
        assert_eq!(e.errno, Errno::ENOENT);
        assert!(e.message.contains("is gone"), "{}", e.message);
        assert!(!e.message.contains("record"), "{}", e.message);
        r.record = 9;
        r.record_type = RecordType::File as u32;
        r.offset = 800;
        let e = single_failure(Errno::ENOENT, &r, 42);
        assert!(
            e.message
                .ends_with("(restart(2) failed at record 9 (file) at byte 800)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn killed_messages() {
        let k = single_killed(9, 42);
        assert_eq!(k.exit_status(), 137);
        assert!(
            k.to_string()
                .starts_with("restart: the restored process was killed by SIGKILL (pid 42"),
            "{k}"
        );
        let k = tree_killed(Some(15), 7);
        assert_eq!(k.exit_status(), 143);
        assert!(k.to_string().contains("killed by SIGTERM (task 7"), "{k}");
        let k = tree_killed(None, 7);
        assert_eq!(k.exit_status(), 137);
        assert!(k.to_string().contains("task 7 was killed"), "{k}");
    }

    #[test]
    fn verdicts_round_trip() {
        let back = |r: Result<()>| decode_verdict(encode_verdict(r.as_ref().map(drop)).as_bytes());
        assert!(back(Ok(())).is_ok());

        let failed = RestartFailure::Error(CheckpointError::new(Errno::EINVAL, "bad\nimage"));
        let e = back(Err(failed.into())).unwrap_err();
        assert_eq!(
            e.downcast_ref::<RestartFailure>(),
            Some(&RestartFailure::Error(CheckpointError::new(
                Errno::EINVAL,
                "bad image"
            )))
        );

        let report = RestartReport {
            pid: 9,
            error: -2,
            record: 40,
            record_type: 7,
            offset: 1 << 40,
        };
        let failed = CheckpointError::new(Errno::ENOENT, "gone").with_report(report);
        let e = back(Err(RestartFailure::Error(failed.clone()).into())).unwrap_err();
        assert_eq!(
            e.downcast_ref::<RestartFailure>(),
            Some(&RestartFailure::Error(failed))
        );

        let killed = RestartFailure::Killed {
            signal: 15,
            message: "restart: killed".into(),
        };
        let e = back(Err(killed.clone().into())).unwrap_err();
        assert_eq!(e.downcast_ref::<RestartFailure>(), Some(&killed));

        let e = back(Err(
            CheckpointError::new(Errno::EEXIST, "pid 5 is taken").into()
        ))
        .unwrap_err();
        assert_eq!(CheckpointError::errno_of(&e), Some(Errno::EEXIST));
        assert!(e.downcast_ref::<RestartFailure>().is_none());
        assert_eq!(e.to_string(), "pid 5 is taken");

        let e = back(Err(anyhow!("cannot build"))).unwrap_err();
        assert_eq!(CheckpointError::errno_of(&e), None);
        assert_eq!(e.to_string(), "cannot build");
    }

    #[test]
    fn no_verdict() {
        for text in ["", "garbage", "restart x y", "killed"] {
            let e = decode_verdict(text.as_bytes()).unwrap_err();
            assert!(
                e.to_string().contains("died before it reported"),
                "{text:?}: {e}"
            );
        }
    }

    /// Forks a child that runs `body` with the write end of a report
    /// pipe (only async-signal-safe calls: the test harness is
    /// multi-threaded), then exits with 0; returns its pid and the read
    /// end.
    fn spawn(body: fn(RawFd)) -> (i32, RawFd) {
        let (r, w) = pipe().unwrap();
        // SAFETY: the child makes only async-signal-safe calls.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            close(r);
            body(w);
            // SAFETY: leaves at once.
            unsafe { libc::_exit(0) };
        }
        assert!(pid > 0);
        close(w);
        (pid, r)
    }

    fn name(comm: &CStr) {
        // SAFETY: names this process with a NUL-terminated string.
        unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr(), 0, 0, 0) };
    }

    fn nap(ms: i64) {
        let t = libc::timespec {
            tv_sec: 0,
            tv_nsec: ms * 1_000_000,
        };
        // SAFETY: sleeps; `t` is a live timespec.
        unsafe { libc::nanosleep(&t, std::ptr::null_mut()) };
    }

    fn exit_code(pid: i32) -> i32 {
        let mut status = 0;
        // SAFETY: waits for the child; `status` is a live int.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        status
    }

    const MARKER: &CStr = c"ckpt-restoring";

    #[test]
    fn await_a_failed_call() {
        let (pid, r) = spawn(|w| {
            name(MARKER);
            let _ = write_all(w, b"pid 1\nerr 2 42 -2 9 23 800\n");
            // SAFETY: leaves at once.
            unsafe { libc::_exit(125) };
        });
        let e = await_restore(r, pid, MARKER, 42).unwrap_err();
        assert_eq!(e.exit_status(), 125);
        let RestartFailure::Error(e) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.errno, Errno::ENOENT);
        assert!(e.message.contains("is gone"), "{}", e.message);
        assert!(
            e.message.contains("record 9 (file) at byte 800"),
            "{}",
            e.message
        );
        // Reaped.
        assert_eq!(peek(pid), Err(Errno::ECHILD));
    }

    #[test]
    fn await_a_restore() {
        let (pid, r) = spawn(|w| {
            name(MARKER);
            let _ = write_all(w, b"pid 0\n");
            nap(20);
            // The saved descriptors replace this one; the restore goes on.
            close(w);
            nap(50);
            // The last step of restart(2): the saved name.
            name(c"sleeper");
            nap(100);
            // SAFETY: leaves at once.
            unsafe { libc::_exit(7) };
        });
        assert_eq!(await_restore(r, pid, MARKER, 42), Ok(()));
        // Not reaped: the program's status is its own.
        assert_eq!(exit_code(pid), 7 << 8);
    }

    #[test]
    fn await_a_restore_that_ended_at_once() {
        let (pid, r) = spawn(|w| {
            name(MARKER);
            let _ = write_all(w, b"pid 0\n");
            close(w);
            name(c"sleeper");
            // SAFETY: leaves at once.
            unsafe { libc::_exit(3) };
        });
        assert_eq!(await_restore(r, pid, MARKER, 42), Ok(()));
        assert_eq!(exit_code(pid), 3 << 8);
    }

    #[test]
    fn await_a_process_killed_during_the_restore() {
        let (pid, r) = spawn(|w| {
            name(MARKER);
            let _ = write_all(w, b"pid 0\n");
            close(w);
            nap(20);
            // SAFETY: kills this process.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        });
        let e = await_restore(r, pid, MARKER, 42).unwrap_err();
        assert_eq!(e.exit_status(), 137);
        assert!(matches!(e, RestartFailure::Killed { signal: 9, .. }));
        assert!(
            e.to_string()
                .starts_with("restart: the restored process was killed by SIGKILL (pid 42,"),
            "{e}"
        );
        assert_eq!(peek(pid), Err(Errno::ECHILD));
    }

    #[test]
    fn await_a_process_killed_before_it_took_the_marker() {
        // Its name is not the marker, but it never started to restore.
        let (pid, r) = spawn(|_| {
            // SAFETY: kills this process.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        });
        let e = await_restore(r, pid, MARKER, 42).unwrap_err();
        assert_eq!(e.exit_status(), 143);
        assert!(e.to_string().contains("killed by SIGTERM"), "{e}");
    }

    #[test]
    fn await_a_process_that_exits_without_a_word() {
        let (pid, r) = spawn(|_| {
            name(MARKER);
            // SAFETY: leaves at once.
            unsafe { libc::_exit(125) };
        });
        let e = await_restore(r, pid, MARKER, 42).unwrap_err();
        assert_eq!(e.exit_status(), 125);
        assert!(e.to_string().contains("exited with status 125"), "{e}");
    }

    #[test]
    fn peek_sees_a_child_without_reaping_it() {
        // SAFETY: the child only calls _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: leaves at once.
            unsafe { libc::_exit(3) };
        }
        assert!(pid > 0);
        let state = loop {
            match peek(pid) {
                Ok(ChildState::Running) => std::thread::sleep(Duration::from_millis(1)),
                other => break other,
            }
        };
        assert_eq!(state, Ok(ChildState::Exited(3)));
        // Still waitable.
        assert_eq!(peek(pid), Ok(ChildState::Exited(3)));
        reap(pid);
        assert_eq!(peek(pid), Err(Errno::ECHILD));
    }

    #[test]
    fn signal_of_a_killed_child() {
        // SAFETY: the child only pauses until it is killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            loop {
                // SAFETY: pause() takes no argument.
                unsafe { libc::pause() };
            }
        }
        assert!(pid > 0);
        // SAFETY: kills the child forked above.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(signal_of_task(pid, true), Some(libc::SIGTERM));
        reap(pid);
        // Not a child, not in /proc any more.
        assert_eq!(signal_of_task(pid, true), None);
    }
}

/// What [`restart`] does around the system call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestartOptions<'a> {
    /// Name of the job cgroup to restart into (default `restart-PID`).
    pub name: Option<&'a str>,
    /// Return once `restart(2)` has succeeded instead of waiting for the
    /// process (a failure is returned as without `detach`).
    pub detach: bool,
    /// Restart in a new pid namespace (its init is a small `ckpt` process
    /// that waits for the restarted one), for when the pid is taken here.
    pub pidns: bool,
    /// Make deleted files again (unnamed) in this directory rather than
    /// where they were (`RESTART_DELETED_HERE`).
    pub deleted_in: Option<&'a std::path::Path>,
    /// Print to stderr where the time went: checking the image, making
    /// the tree, and restart(2).
    pub stats: bool,
    /// Show a progress line on stderr while restart(2) runs, once it has
    /// taken a second ([`crate::progress`]).
    pub progress: bool,
}

/// The `restart(2)` flags of this `ckpt restart`, set once by
/// [`set_restart_flags`] before any process of the restart is forked
/// (they inherit it), read by the calls that restore.
static RESTART_FLAGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Sets the `restart(2)` flags `opts` ask for, and with `--deleted-in`
/// makes its directory the working directory the restored processes
/// start from (where restart(2) makes deleted files again).
pub(crate) fn set_restart_flags(opts: &RestartOptions<'_>) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut flags = 0;
    if let Some(dir) = opts.deleted_in {
        std::env::set_current_dir(dir)
            .with_context(|| format!("--deleted-in {}: cannot enter it", dir.display()))?;
        flags |= ckpt_image::RESTART_DELETED_HERE;
    }
    RESTART_FLAGS.store(flags, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// The `restart(2)` flags [`set_restart_flags`] set.
pub(crate) fn restart_flags() -> u64 {
    RESTART_FLAGS.load(std::sync::atomic::Ordering::Relaxed)
}

/// How a restarted process ended (or that it was left running).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartOutcome {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// `detach`: it runs with this pid.
    Detached(i32),
}

/// Waits for `child`, reaping any other child meanwhile; its exit status,
/// or 128 + the signal that killed it.
pub(crate) fn wait_exit_code(child: i32) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == child => return code,
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == child => return 128 + sig as i32,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return 125,
        }
    }
}

/// A sentence for an errno of `restart(2)`.
pub(crate) fn restart_error(errno: Errno, pid: i32) -> String {
    match errno {
        Errno::ENOSYS if kernel_has_checkpoint() => "restart(2) refused this call".to_owned(),
        Errno::ENOSYS => "this kernel has no restart(2): boot the kernel-ckpt kernel (`cargo xtask run`)".to_owned(),
        Errno::EINVAL => "the kernel rejected the image (the kernel log names the record): check it with `ckpt inspect`".to_owned(),
        Errno::ESRCH => format!("the image is not of pid {pid}"),
        Errno::ENOENT => "a file the process had open or mapped, or its working directory, is gone (the kernel log names it); for a deleted file whose directory is gone, --deleted-in DIR makes it again in DIR".to_owned(),
        Errno::EOPNOTSUPP => "the image holds state this kernel cannot restore (the kernel log names it)".to_owned(),
        Errno::ETIMEDOUT => "a task of the tree did not call restart(2) within 10 s (it died or hangs; the kernel log names it): restart the image again".to_owned(),
        _ => format!("restart(2) failed: {} ({errno:?})", errno.desc()),
    }
}
