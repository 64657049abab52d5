//! The signal-owner workload: files that signal their I/O (`O_ASYNC`,
//! `F_SETOWN`, `F_SETOWN_EX`, `F_SETSIG`), checked after the restart.

use super::{go_and_result, name, on_sigusr1, read_u64, ready, verdict_all};
use anyhow::{bail, Result};
use nix::libc;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// fcntl(2) commands and the owner type the libc crate does not name on
/// every target (linux/fcntl.h).
const F_SETSIG: i32 = 10;
const F_GETSIG: i32 = 11;
const F_SETOWN_EX: i32 = 15;
const F_GETOWN_EX: i32 = 16;
const F_OWNER_TID: i32 = 0;
const F_OWNER_PID: i32 = 1;

/// `struct f_owner_ex`.
#[repr(C)]
struct FOwnerEx {
    kind: i32,
    pid: i32,
}

/// The eventfd a SIGUSR1 handler writes to, waking the blocked read.
static FOWN_WAKE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_usr1_fown(_: i32) {
    let one = 1u64;
    // SAFETY: write(2) is async-signal-safe; 8 valid bytes.
    unsafe {
        libc::write(
            FOWN_WAKE.load(Ordering::Relaxed),
            (&one as *const u64).cast(),
            8,
        )
    };
}

fn check(ret: i32, what: &str) -> Result<i32> {
    if ret < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(ret)
}

/// Waits up to 2 s for `sig` (blocked); its `si_fd`, or `None`.
fn wait_signal(sig: i32) -> Option<i32> {
    // SAFETY: plain calls with valid sets and buffers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let ts = libc::timespec {
            tv_sec: 2,
            tv_nsec: 0,
        };
        if libc::sigtimedwait(&set, &mut info, &ts) != sig {
            return None;
        }
        // The poll fields of the siginfo union: si_band, then si_fd.
        let fields = (&info as *const libc::siginfo_t).cast::<u8>().add(16);
        Some(std::ptr::read_unaligned(fields.add(8).cast::<i32>()))
    }
}

/// Three files that signal their I/O. A pipe's read end with `O_ASYNC`,
/// owned by the process (`F_SETOWN`), signalling SIGRTMIN+1 (`F_SETSIG`),
/// also open as a dup at fd 40; a socket with `O_ASYNC` owned by the thread
/// (`F_SETOWN_EX` `F_OWNER_TID`), signalling SIGIO; a pipe end owned by the
/// process (`F_SETOWN_EX` `F_OWNER_PID`) with SIGUSR2 (`F_SETSIG`) and
/// without `O_ASYNC` (a group owner is in `pidfd_tree`: a one-process
/// restart joins `ckpt restart`'s group). The
/// signals are blocked. The process is blocked reading an eventfd when it
/// is saved; after the restart a handler wakes it and it checks every
/// owner, signal and flag as fcntl(2) reports them, then writes into the
/// pipe and the socket's peer: SIGRTMIN+1 comes with the pipe end's
/// descriptor as `si_fd`, and SIGIO comes.
pub(crate) fn fown_check(ready_path: &Path) -> Result<()> {
    name("fown");
    let (_, result) = go_and_result(ready_path);
    let rtsig = libc::SIGRTMIN() + 1;
    let (mut p, mut q, mut s) = ([0i32; 2], [0i32; 2], [0i32; 2]);
    // SAFETY: plain calls on descriptors this process makes.
    let (me, tid, wake, dup) = unsafe {
        check(libc::pipe(p.as_mut_ptr()), "pipe")?;
        check(libc::pipe(q.as_mut_ptr()), "pipe")?;
        check(
            libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, s.as_mut_ptr()),
            "socketpair",
        )?;
        let me = libc::getpid();
        let tid = libc::gettid();
        check(libc::fcntl(p[0], libc::F_SETOWN, me), "F_SETOWN")?;
        check(libc::fcntl(p[0], F_SETSIG, rtsig), "F_SETSIG")?;
        check(libc::fcntl(p[0], libc::F_SETFL, libc::O_ASYNC), "O_ASYNC")?;
        let dup = check(libc::fcntl(p[0], libc::F_DUPFD, 40), "F_DUPFD")?;
        let owner = FOwnerEx {
            kind: F_OWNER_TID,
            pid: tid,
        };
        check(libc::fcntl(s[0], F_SETOWN_EX, &owner), "F_SETOWN_EX")?;
        check(libc::fcntl(s[0], libc::F_SETFL, libc::O_ASYNC), "O_ASYNC")?;
        let owner = FOwnerEx {
            kind: F_OWNER_PID,
            pid: me,
        };
        check(libc::fcntl(q[0], F_SETOWN_EX, &owner), "F_SETOWN_EX")?;
        check(libc::fcntl(q[0], F_SETSIG, libc::SIGUSR2), "F_SETSIG")?;
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, rtsig);
        libc::sigaddset(&mut set, libc::SIGIO);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        (me, tid, check(libc::eventfd(0, 0), "eventfd")?, dup)
    };
    FOWN_WAKE.store(wake, Ordering::Relaxed);
    on_sigusr1(on_usr1_fown);
    ready(ready_path)?;
    let mut bad = Vec::new();
    if read_u64(wake) != Some(1) {
        bad.push("the blocked read did not return the handler's 1".into());
    }
    // SAFETY: plain fcntl(2) queries on our descriptors.
    let seen = unsafe {
        let mut owner = FOwnerEx { kind: 0, pid: 0 };
        libc::fcntl(s[0], F_GETOWN_EX, &mut owner);
        (
            libc::fcntl(p[0], libc::F_GETOWN),
            libc::fcntl(p[0], F_GETSIG),
            libc::fcntl(p[0], libc::F_GETFL) & libc::O_ASYNC != 0,
            libc::fcntl(dup, libc::F_GETFL) & libc::O_ASYNC != 0,
            (owner.kind, owner.pid),
            libc::fcntl(s[0], libc::F_GETFL) & libc::O_ASYNC != 0,
            libc::fcntl(q[0], libc::F_GETOWN),
            libc::fcntl(q[0], F_GETSIG),
            libc::fcntl(q[0], libc::F_GETFL) & libc::O_ASYNC != 0,
        )
    };
    let want = (
        me,
        rtsig,
        true,
        true,
        (F_OWNER_TID, tid),
        true,
        me,
        libc::SIGUSR2,
        false,
    );
    if seen != want {
        bad.push(format!("fcntl(2) shows {seen:?}, not {want:?}"));
    }
    // SAFETY: one valid byte each.
    unsafe {
        libc::write(p[1], b"x".as_ptr().cast(), 1);
        libc::write(s[1], b"y".as_ptr().cast(), 1);
    }
    match wait_signal(rtsig) {
        Some(fd) if fd == p[0] => {}
        other => bad.push(format!(
            "SIGRTMIN+1 for the pipe: si_fd {other:?}, not {}",
            p[0]
        )),
    }
    if wait_signal(libc::SIGIO).is_none() {
        bad.push("no SIGIO for the socket".into());
    }
    verdict_all(
        &result,
        &bad,
        "signal owners, F_SETSIG, O_ASYNC; SIGRTMIN+1 with si_fd and SIGIO come",
    )
}

/// The (device, inode) of `path`, or zeros.
fn ns_id(path: &str) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .map(|m| (m.dev(), m.ino()))
        .unwrap_or((0, 0))
}

/// Namespace files of its own namespaces (every kind /proc/self/ns has),
/// opened read-only. The process is blocked reading an eventfd when it is
/// saved; after the restart a handler wakes it and each descriptor is a
/// namespace file of its own namespace of that kind again (the same
/// device and inode as /proc/self/ns/KIND) and names it as before.
pub(crate) fn ns_files_check(ready_path: &Path) -> Result<()> {
    name("nsfiles");
    let (_, result) = go_and_result(ready_path);
    let mut held = Vec::new();
    let mut kinds: Vec<String> = std::fs::read_dir("/proc/self/ns")?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    kinds.sort();
    for kind in &kinds {
        let path = std::ffi::CString::new(format!("/proc/self/ns/{kind}"))?;
        // SAFETY: a valid path.
        let fd = check(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) }, "open")?;
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))?;
        held.push((kind.clone(), fd, link));
    }
    // SAFETY: a plain call.
    let wake = check(unsafe { libc::eventfd(0, 0) }, "eventfd")?;
    FOWN_WAKE.store(wake, Ordering::Relaxed);
    on_sigusr1(on_usr1_fown);
    ready(ready_path)?;
    let mut bad = Vec::new();
    if read_u64(wake) != Some(1) {
        bad.push("the blocked read did not return the handler's 1".into());
    }
    for (kind, fd, link) in &held {
        let mine = ns_id(&format!("/proc/self/ns/{kind}"));
        let held_id = ns_id(&format!("/proc/self/fd/{fd}"));
        let now = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
        if held_id != mine || mine == (0, 0) || &now != link {
            bad.push(format!(
                "{kind}: fd {fd} is {now:?} {held_id:?}, was {link:?}; its own is {mine:?}"
            ));
        }
    }
    verdict_all(
        &result,
        &bad,
        format!("namespace files of its own namespaces: {}", kinds.join(" ")),
    )
}

/// fcntl(2) lease commands (linux/fcntl.h).
const F_SETLEASE: i32 = 1024;
const F_GETLEASE: i32 = 1025;

/// Leases. A file of its own opened read-only with a read lease, signalling
/// SIGRTMIN+2 when the lease is broken (`F_SETSIG`), and a second file
/// opened read-write with a write lease; the signal is blocked. The
/// process is blocked reading an eventfd when it is saved; after the
/// restart a handler wakes it and it checks both leases with
/// `F_GETLEASE`, then a child opens the first file for writing without
/// blocking: the open fails with `EWOULDBLOCK` (the lease holds), and the
/// break signal comes with the leased descriptor as `si_fd`.
pub(crate) fn lease_check(ready_path: &Path) -> Result<()> {
    name("lease");
    let (_, result) = go_and_result(ready_path);
    let rtsig = libc::SIGRTMIN() + 2;
    let base = ready_path.to_string_lossy().replace("ready-", "lease-");
    let (read_path, write_path) = (format!("{base}.r"), format!("{base}.w"));
    std::fs::write(&read_path, b"leased for reading")?;
    std::fs::write(&write_path, b"leased for writing")?;
    let cr = std::ffi::CString::new(read_path.clone())?;
    let cw = std::ffi::CString::new(write_path.clone())?;
    // SAFETY: plain calls on descriptors this process makes.
    let (r, w, wake) = unsafe {
        let r = check(libc::open(cr.as_ptr(), libc::O_RDONLY), "open for reading")?;
        let w = check(libc::open(cw.as_ptr(), libc::O_RDWR), "open for writing")?;
        check(libc::fcntl(r, F_SETLEASE, libc::F_RDLCK), "F_SETLEASE read")?;
        check(libc::fcntl(r, F_SETSIG, rtsig), "F_SETSIG")?;
        check(
            libc::fcntl(w, F_SETLEASE, libc::F_WRLCK),
            "F_SETLEASE write",
        )?;
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, rtsig);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        (r, w, check(libc::eventfd(0, 0), "eventfd")?)
    };
    FOWN_WAKE.store(wake, Ordering::Relaxed);
    on_sigusr1(on_usr1_fown);
    ready(ready_path)?;
    let mut bad = Vec::new();
    if read_u64(wake) != Some(1) {
        bad.push("the blocked read did not return the handler's 1".into());
    }
    // SAFETY: fcntl(2) queries on our descriptors.
    let leases = unsafe { (libc::fcntl(r, F_GETLEASE), libc::fcntl(w, F_GETLEASE)) };
    if leases != (libc::F_RDLCK, libc::F_WRLCK) {
        bad.push(format!(
            "F_GETLEASE gives {leases:?}, not ({}, {})",
            libc::F_RDLCK,
            libc::F_WRLCK
        ));
    }
    // Another process opens the read-leased file for writing.
    // SAFETY: the child only makes system calls and exits.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            // SAFETY: open(2) and _exit(2).
            unsafe {
                let fd = libc::open(cr.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK);
                let e = *libc::__errno_location();
                libc::_exit(if fd < 0 && e == libc::EWOULDBLOCK {
                    0
                } else {
                    1
                });
            }
        }
        nix::unistd::ForkResult::Parent { child } => match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => {}
            other => bad.push(format!(
                "another process's open for writing did not meet the lease: {other:?}"
            )),
        },
    }
    match wait_signal(rtsig) {
        Some(fd) if fd == r => {}
        other => bad.push(format!(
            "the lease break signal came with si_fd {other:?}, not {r}"
        )),
    }
    // SAFETY: fcntl(2) on our descriptors: the leases go.
    unsafe {
        libc::fcntl(r, F_SETLEASE, libc::F_UNLCK);
        libc::fcntl(w, F_SETLEASE, libc::F_UNLCK);
    }
    let _ = std::fs::remove_file(&read_path);
    let _ = std::fs::remove_file(&write_path);
    verdict_all(&result, &bad, "leases")
}
