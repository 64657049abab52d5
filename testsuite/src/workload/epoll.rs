//! The epoll workload: sets whose items are checked by what epoll_wait(2)
//! reports after the restart.

use super::{go_and_result, name, on_sigusr1, ready, verdict_all};
use anyhow::{bail, Result};
use nix::libc;
use std::path::Path;

/// The eventfd a SIGUSR1 handler writes to, waking the blocked wait.
static EPOLL_WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_epoll(_: i32) {
    let one = 1u64;
    // SAFETY: write(2) is async-signal-safe; the buffer is 8 valid bytes.
    unsafe {
        libc::write(
            EPOLL_WAKE.load(std::sync::atomic::Ordering::Relaxed),
            (&one as *const u64).cast(),
            8,
        )
    };
}

/// The data of the events a zero-timeout epoll_wait(2) on `ep` reports,
/// sorted.
fn ready_data(ep: i32) -> Vec<u64> {
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 16];
    // SAFETY: a valid buffer of 16 events.
    let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 16, 0) };
    let mut got: Vec<u64> = evs
        .iter()
        .take(usize::try_from(n).unwrap_or(0))
        .map(|e| e.u64)
        .collect();
    got.sort_unstable();
    got
}

/// epoll_ctl(2) with `events` and `data`.
fn ctl(ep: i32, op: i32, fd: i32, events: i32, data: u64) -> Result<()> {
    let mut ev = libc::epoll_event {
        events: events as u32,
        u64: data,
    };
    // SAFETY: a valid event on descriptors of this process.
    if unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) } != 0 {
        bail!(
            "epoll_ctl({op}, fd {fd}): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Epoll sets. Set S (close-on-exec) watches: a readable eventfd,
/// level-triggered (data 0xa); a pipe's read end holding bytes,
/// edge-triggered (0xb); a readable eventfd, one-shot (0xc); and an empty
/// eventfd added under a descriptor then moved to another by dup and close
/// (0xd), so the item keeps a closed descriptor number. One epoll_wait on S
/// reports 0xa, 0xb and 0xc, disarming 0xc and consuming 0xb's edge. Set O
/// watches S (0xe). The process is then blocked in epoll_pwait on a third
/// set, watching an eventfd its SIGUSR1 handler writes to, when it is
/// saved. After the restart it checks that S reports only 0xa (the edge
/// and the one-shot are not reported again), then 0xd once its eventfd is
/// written through the new descriptor, 0xb on a new edge, 0xc once
/// re-armed with EPOLL_CTL_MOD, that O reports S, and the flags.
pub(crate) fn epoll_check(ready_path: &Path) -> Result<()> {
    name("epoll");
    let (_, result) = go_and_result(ready_path);
    let (in_, et, os) = (libc::EPOLLIN, libc::EPOLLET, libc::EPOLLONESHOT);
    // SAFETY: plain libc calls with valid arguments on this
    // single-threaded process; the handler only writes 8 bytes.
    let (s, o, w, pw, ghost2, shot) = unsafe {
        let lt = libc::eventfd(1, libc::EFD_NONBLOCK);
        let shot = libc::eventfd(1, libc::EFD_NONBLOCK);
        let ghost = libc::eventfd(0, libc::EFD_NONBLOCK);
        let wake = libc::eventfd(0, 0);
        let mut p = [0i32; 2];
        if libc::pipe2(p.as_mut_ptr(), libc::O_NONBLOCK) != 0 {
            bail!("pipe2 failed");
        }
        let s = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        let o = libc::epoll_create1(0);
        let w = libc::epoll_create1(0);
        if [lt, shot, ghost, wake, s, o, w].iter().any(|&fd| fd < 0) {
            bail!("eventfd or epoll_create1 failed");
        }
        if libc::write(p[1], b"abc".as_ptr().cast(), 3) != 3 {
            bail!("writing the pipe failed");
        }
        ctl(s, libc::EPOLL_CTL_ADD, lt, in_, 0xa)?;
        ctl(s, libc::EPOLL_CTL_ADD, p[0], in_ | et, 0xb)?;
        ctl(s, libc::EPOLL_CTL_ADD, shot, in_ | os, 0xc)?;
        ctl(s, libc::EPOLL_CTL_ADD, ghost, in_, 0xd)?;
        let ghost2 = libc::dup(ghost);
        libc::close(ghost);
        let first = ready_data(s);
        if first != [0xa, 0xb, 0xc] {
            bail!("before the checkpoint S reported {first:x?}");
        }
        ctl(o, libc::EPOLL_CTL_ADD, s, in_, 0xe)?;
        ctl(w, libc::EPOLL_CTL_ADD, wake, in_, 0xf)?;
        EPOLL_WAKE.store(wake, std::sync::atomic::Ordering::Relaxed);
        on_sigusr1(on_usr1_epoll);
        (s, o, w, p[1], ghost2, shot)
    };
    ready(ready_path)?;
    let mut bad = Vec::new();
    // Blocks until the handler (after the restart) writes the eventfd; the
    // freezer and the handler both end the wait with EINTR.
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    let n = loop {
        // SAFETY: one valid event; no signal mask.
        let n = unsafe { libc::epoll_pwait(w, &mut ev, 1, -1, std::ptr::null()) };
        if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break n;
        }
    };
    let data = ev.u64;
    if n != 1 || data != 0xf {
        bad.push(format!(
            "the blocked wait gave {n} event(s), data {data:#x}"
        ));
    }
    let got = ready_data(s);
    if got != [0xa] {
        bad.push(format!("S reported {got:x?} after the restart, not [a]"));
    }
    let one = 1u64;
    // SAFETY: writes to our own descriptors; fcntl reads flags.
    unsafe {
        libc::write(ghost2, (&one as *const u64).cast(), 8);
        let got = ready_data(s);
        if got != [0xa, 0xd] {
            bad.push(format!(
                "S reported {got:x?} once the moved eventfd was written, not [a, d]"
            ));
        }
        libc::write(pw, b"d".as_ptr().cast(), 1);
        let got = ready_data(s);
        if got != [0xa, 0xb, 0xd] {
            bad.push(format!(
                "S reported {got:x?} after a new edge on the pipe, not [a, b, d]"
            ));
        }
        if let Err(e) = ctl(s, libc::EPOLL_CTL_MOD, shot, in_ | os, 0xc) {
            bad.push(format!("re-arming the one-shot item: {e}"));
        }
        let got = ready_data(s);
        if got != [0xa, 0xc, 0xd] {
            bad.push(format!(
                "S reported {got:x?} with the one-shot re-armed, not [a, c, d]"
            ));
        }
        let got = ready_data(o);
        if got != [0xe] {
            bad.push(format!("O reported {got:x?}, not S (e)"));
        }
        let cloexec = [s, o].map(|fd| libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC);
        if cloexec != [libc::FD_CLOEXEC, 0] {
            bad.push(format!("close-on-exec of S and O: {cloexec:?}"));
        }
    }
    verdict_all(&result, &bad, "epoll sets")
}
