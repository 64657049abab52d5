//! Workloads: the process trees the scenarios checkpoint.
//!
//! Each workload builds its tree, creates its ready file once the tree is
//! complete, and then every task sleeps in pause(2) until it is killed.

use anyhow::{bail, Context, Result};
use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pause, pipe, read, setpgid, write, ForkResult, Pid};
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Barrier};

pub(crate) mod bench;
mod caps;
mod cgroups;
mod deleted;
mod epoll;
mod files;
mod fown;
pub(crate) mod holds;
pub(crate) mod inet;
mod inotify;
mod jobctl;
mod locks;
mod memfd;
mod memory;
mod mqueue;
pub(crate) mod netpod;
mod pty;
mod sched;
mod shapes;
mod signals;
mod sysv;
mod task;
mod timers;
mod tmpfs;
mod tree;
mod unix;

pub(crate) use deleted::deleted_dir_of;
use deleted::*;
use epoll::*;
use files::*;
use fown::*;
use inotify::*;
use locks::*;
use memfd::*;
use memory::*;
pub(crate) use memory::{LIVE_ADDR, LIVE_LEN};
use pty::*;
use shapes::*;
use signals::*;
use task::*;
pub(crate) use tree::{COW_ADDR, COW_DROP, COW_KIDS, COW_LEN, COW_OWN, COW_PARENT};
use unix::*;

fn sleep_forever() -> ! {
    loop {
        pause();
    }
}

fn name(n: &str) {
    if let Ok(c) = CString::new(n) {
        let _ = prctl::set_name(&c);
    }
}

/// Forks a child that names itself `comm` and runs `f`, which never returns.
fn spawn(comm: &str, f: impl FnOnce()) -> Result<Pid> {
    // SAFETY: the workload is single-threaded when it forks.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            name(comm);
            f();
            sleep_forever()
        }
    }
}

/// Clones a child with `flags` (and `SIGCHLD`) that only waits in
/// pause(2), with raw system calls, on a stack of its own (leaked: it
/// lives as long as this process): a process sharing what `flags` share,
/// or in the namespaces they make. `what` names the clone in an error.
/// Not for `CLONE_VM`: the closure's box is freed by this process while
/// a child sharing its memory may still read it
/// (`shapes::shared_memory_clone` clones with a plain function).
fn clone_pausing(flags: CloneFlags, what: &str) -> Result<Pid> {
    if flags.contains(CloneFlags::CLONE_VM) {
        bail!("clone_pausing({what}): CLONE_VM is not supported");
    }
    let stack = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
    // SAFETY: without CLONE_VM (asserted) the child runs the closure on a
    // copy of this process's memory, on its own stack, and only makes
    // pause(2) system calls.
    unsafe {
        nix::sched::clone(
            Box::new(|| loop {
                nix::libc::syscall(nix::libc::SYS_pause);
            }),
            stack,
            flags,
            Some(nix::libc::SIGCHLD),
        )
    }
    .with_context(|| format!("clone({what})"))
}

/// Maps `len` bytes of private anonymous read-write memory at `addr`, an
/// address nothing else uses (`MAP_FIXED_NOREPLACE` refuses to replace a
/// mapping): for memory the scenarios find at a known address.
fn map_anon_at(addr: usize, len: usize) -> Result<()> {
    use nix::libc;
    // SAFETY: a new mapping; it replaces nothing.
    let base = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if base as usize != addr {
        bail!("mmap of {} MiB at {addr:#x} failed", len >> 20);
    }
    Ok(())
}

/// Creates the ready file. It is written under another name and renamed,
/// so it appears only once the workload has closed it: a checkpoint taken
/// as soon as it appears must not find it open.
fn ready(path: &Path) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, b"ready\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))
}

/// Installs `handler` for SIGUSR1 with `SA_RESTART`: the call it
/// interrupts is restarted after it (the workloads blocked in a read that
/// their handler satisfies).
fn on_sigusr1(handler: extern "C" fn(i32)) {
    use nix::libc;
    // SAFETY: a zeroed sigaction with a handler and flags set is valid; the
    // handlers only make async-signal-safe calls.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// Signals "one more task is ready" on a pipe.
fn notify(w: &OwnedFd) {
    let _ = write(w, b"r");
}

/// Waits for `n` notifications.
fn wait_notified(r: &OwnedFd, n: usize) -> Result<()> {
    let mut got = 0;
    let mut buf = [0u8; 64];
    while got < n {
        match read(r.as_fd(), &mut buf) {
            Ok(0) => bail!("notification pipe closed after {got} of {n}"),
            Ok(k) => got += k,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => bail!("reading notifications: {e}"),
        }
    }
    Ok(())
}

/// The file whose appearance tells a restarted workload to finish, and the
/// file it writes its verdict to.
fn go_and_result(ready_path: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let s = ready_path.to_string_lossy();
    (
        s.replace("ready-", "go-").into(),
        s.replace("ready-", "result-").into(),
    )
}

/// Computes until told to stop, then checks itself: the verdict is written
/// to the result file by a fresh open, so it does not depend on which files
/// the process has.
fn verdict(result: &Path, ok: bool, what: String) -> ! {
    let line = format!("{} {what}\n", if ok { "PASS" } else { "FAIL" });
    let _ = std::fs::write(result, line);
    std::process::exit(if ok { 0 } else { 1 })
}

/// The verdict of a workload that lists what it found wrong: PASS with
/// `ok_what` if nothing, else FAIL with the list.
fn verdict_all(result: &Path, bad: &[String], ok_what: impl Into<String>) -> ! {
    let what = if bad.is_empty() {
        ok_what.into()
    } else {
        bad.join("; ")
    };
    verdict(result, bad.is_empty(), what)
}

fn lcg(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

fn sleep_forever_fn() {
    sleep_forever()
}

pub fn run(kind: &str, ready_path: &Path) -> Result<()> {
    if let Some(what) = kind.strip_prefix("holds_") {
        holds::holds(what, ready_path)?;
        sleep_forever();
    }
    match kind {
        "sleeper" => sleeper(ready_path)?,
        "exec_on_usr1" => exec_on_usr1(ready_path)?,
        "parent_three_children" => parent_three_children(ready_path)?,
        "session_two_groups" => session_two_groups(ready_path)?,
        "zombie_child" => zombie_child(ready_path)?,
        "four_threads" => four_threads(ready_path)?,
        "orphan" => orphan(ready_path)?,
        "orphan_subreaper" => orphan_subreaper(ready_path)?,
        "tree_100" => tree_100(ready_path)?,
        "counter_fpu" => counter_fpu(ready_path)?,
        "ticker" => ticker(ready_path)?,
        "demo_pipeline" => demo_pipeline(ready_path)?,
        "wait4_parent" => wait4_parent(ready_path)?,
        "shared_memory_clone" => shared_memory_clone(ready_path)?,
        "zombie_leader" => zombie_leader(ready_path)?,
        kind if bench::kind(kind).is_some() => bench::run(kind, ready_path)?,
        kind if kind.starts_with("tree_of_") => {
            let n = kind
                .trim_start_matches("tree_of_")
                .parse()
                .context("tree_of_N")?;
            tree_of(n, ready_path)?
        }
        "files_check" => files_check(ready_path)?,
        "signals_check" => signals_check(ready_path)?,
        "burner" => burner(ready_path)?,
        "futex_wait" => futex_wait(ready_path)?,
        "pipe_check" => pipe_check(ready_path)?,
        "eventfd_check" => eventfd_check(ready_path)?,
        "signalfd_check" => signalfd_check(ready_path)?,
        "fifo_check" => fifo_check(ready_path)?,
        "timerfd_check" => timerfd_check(ready_path)?,
        "epoll_check" => epoll_check(ready_path)?,
        "unix_check" => unix_check(ready_path)?,
        "unix_rights_check" => unix::unix_rights_check(ready_path)?,
        "unix_named_check" => unix_named_check(ready_path)?,
        "unix_pending_check" => unix_pending_check(ready_path)?,
        "locks_check" => locks_check(ready_path)?,
        "memfd_check" => memfd_check(ready_path)?,
        "pty_check" => pty_check(ready_path)?,
        "deleted_check" => deleted_check(ready_path)?,
        "deleted_dir_check" => deleted_dir_check(ready_path)?,
        "inotify_check" => inotify_check(ready_path)?,
        "fown_check" => fown_check(ready_path)?,
        "lease_check" => fown::lease_check(ready_path)?,
        "anon_shared_check" => memfd::anon_shared_check(ready_path)?,
        "ns_files_check" => ns_files_check(ready_path)?,
        "sigsuspend_check" => sigsuspend_check(ready_path)?,
        "nanosleep_once" => nanosleep_once(ready_path)?,
        "poll_once" => poll_once(ready_path)?,
        "futex_timed" => futex_timed(ready_path)?,
        "misc_check" => misc_check(ready_path)?,
        "creds_check" => creds_check(ready_path)?,
        "itimer_check" => itimer_check(ready_path)?,
        "posix_timers_check" => timers::posix_timers_check(ready_path)?,
        "stopped_check" => jobctl::stopped_check(ready_path)?,
        "sysv_pod" => sysv::sysv_pod(ready_path)?,
        "sysv_attached" => sysv::sysv_attached(ready_path)?,
        "mq_pod" => mqueue::mq_pod(ready_path)?,
        "tmpfs_pod" => tmpfs::tmpfs_pod(ready_path)?,
        "net_pod" => netpod::net_pod(ready_path)?,
        "inet_pod" => inet::inet_pod(ready_path)?,
        "tcp_pod" => inet::tcp_pod(ready_path)?,
        "tcp_closing_pod" => inet::tcp_closing_pod(ready_path)?,
        "tcp_pending_pod" => inet::tcp_pending_pod(ready_path)?,
        "tcp_opening_pod" => inet::tcp_opening_pod(ready_path)?,
        "icmp_pod" => inet::icmp_pod(ready_path)?,
        "tcp_urgent_pod" => inet::tcp_urgent_pod(ready_path)?,
        "packet_pod" => inet::packet_pod(ready_path)?,
        "tcp_client" => inet::tcp_client(ready_path)?,
        "cgroups_tree" => cgroups::cgroups_tree(ready_path)?,
        "sched_check" => sched::sched_check(ready_path)?,
        "caps_check" => caps::caps_check(ready_path)?,
        "vma_flags_check" => caps::vma_flags_check(ready_path)?,
        "mappings_check" => mappings_check(ready_path)?,
        "vdso_clock" => vdso_clock(ready_path)?,
        "heap_check" => heap_check(ready_path)?,
        "live_writer" => live_writer(ready_path)?,
        "pipeline" => tree::pipeline(ready_path)?,
        "shared_stdout" => tree::shared_stdout(ready_path)?,
        "sessions" => tree::sessions(ready_path)?,
        "orphan_pgrp" => tree::orphan_pgrp(ready_path)?,
        "zombie_wait" => tree::zombie_wait(ready_path)?,
        "ghost_pgid" => tree::ghost_pgid(ready_path)?,
        "threads_8" => tree::threads_8(ready_path)?,
        "deep_20" => tree::deep_20(ready_path)?,
        "tree_1000" => tree::tree_1000(ready_path)?,
        "shared_memory" => tree::shared_memory(ready_path)?,
        "pty_session" => tree::pty_session(ready_path)?,
        "pidfd_tree" => tree::pidfd_tree(ready_path)?,
        "shared_tables" => tree::shared_tables(ready_path)?,
        "cow_shared" => tree::cow_shared(ready_path)?,
        other => bail!("unknown workload {other:?}"),
    }
    sleep_forever()
}
