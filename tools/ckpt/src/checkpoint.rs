// SPDX-License-Identifier: GPL-2.0
//! `ckpt checkpoint`: the system call wrapped in the cgroup handling it
//! needs, with errors turned into sentences.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use ckpt_image::{CHECKPOINT_FLAGS_MASK, CHECKPOINT_SUBTREE, CHECKPOINT_TCP_SILENT};
use nix::errno::Errno;

use crate::cgroup::rel;
use crate::{busy, cgroup, sys_checkpoint, CheckpointError};

/// How long [`checkpoint`] waits for the job's cgroup to freeze.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`checkpoint`] does around the system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointOptions {
    /// Kill the job's cgroup after a successful checkpoint.
    pub kill: bool,
    /// Freeze the job's cgroup during the checkpoint (default).
    pub freeze: bool,
    /// Flags for `checkpoint(2)` (default [`CHECKPOINT_SUBTREE`]).
    pub flags: u64,
}

impl Default for CheckpointOptions {
    fn default() -> Self {
        Self {
            kill: false,
            freeze: true,
            flags: CHECKPOINT_SUBTREE,
        }
    }
}

/// Whether `pid` is the init of a pid namespace below this process's (a
/// pod's): its `NSpid` line in `/proc` names more namespaces than ours,
/// and it is 1 in the last.
pub fn is_pod_init(pid: i32) -> bool {
    let nspid = |path: &str| -> Option<Vec<i32>> {
        let status = std::fs::read_to_string(path).ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
        line.split_whitespace().map(|n| n.parse().ok()).collect()
    };
    match (
        nspid(&format!("/proc/{pid}/status")),
        nspid("/proc/self/status"),
    ) {
        (Some(theirs), Some(ours)) => theirs.len() > ours.len() && theirs.last() == Some(&1),
        _ => false,
    }
}

/// Writes an image of the tree rooted at `pid` to `out`.
///
/// With `opts.freeze`, `pid` must be in a job cgroup made by
/// [`run`](crate::run): that cgroup is frozen for the call and thawed
/// afterwards (unless it was frozen already), or killed if `opts.kill` and
/// the checkpoint succeeded. Errors of the call are [`CheckpointError`]s.
pub fn checkpoint(pid: i32, out: BorrowedFd<'_>, opts: &CheckpointOptions) -> Result<()> {
    if !opts.freeze && !opts.kill {
        return sys_checkpoint(pid, out, opts.flags)
            .map_err(|e| call_error(e, pid, opts.flags, busy::Freezer::Own).into());
    }
    let job = job_cgroup(pid)?;
    let was_frozen = cgroup::freeze_requested(&job)?;
    if opts.freeze && !was_frozen {
        cgroup::freeze(&job, FREEZE_TIMEOUT)?;
    }
    let job_path = Path::new("/").join(rel(&job));
    let freezer = match job_path.to_str() {
        Some(path) if opts.freeze => busy::Freezer::Job(path),
        _ => busy::Freezer::Own,
    };
    // A tree killed next closes its TCP connections without a word to
    // their peers: its restart rebuilds them.
    let flags = if opts.kill && opts.freeze {
        opts.flags | CHECKPOINT_TCP_SILENT
    } else {
        opts.flags
    };
    // Explained while the job is still frozen.
    let result =
        checkpoint_retrying(pid, out, flags).map_err(|e| call_error(e, pid, flags, freezer));
    let after = if opts.kill && result.is_ok() {
        cgroup::kill(&job).context("the image was written, but killing the tree failed")
    } else if opts.freeze && !was_frozen {
        cgroup::thaw(&job)
    } else {
        Ok(())
    };
    result?;
    after
}

/// How many times `checkpoint(2)` is tried when it says `EAGAIN`.
const TRIES: u32 = 5;

/// `checkpoint(2)`, tried again (up to [`TRIES`] times, 100 ms apart) when
/// it says `EAGAIN` and `out` is a regular file it can be written to
/// again from its start: the tree is frozen, but its TCP connections may
/// move on while the image is written (a retransmission, a window probe),
/// and an image must be a consistent cut of them.
fn checkpoint_retrying(pid: i32, out: BorrowedFd<'_>, flags: u64) -> Result<(), Errno> {
    let regular = nix::sys::stat::fstat(out)
        .is_ok_and(|st| st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFREG);
    let mut tries = 1;
    loop {
        match sys_checkpoint(pid, out, flags) {
            Err(Errno::EAGAIN) if regular && tries < TRIES => {
                nix::unistd::ftruncate(out, 0)?;
                nix::unistd::lseek(out, 0, nix::unistd::Whence::SeekSet)?;
                std::thread::sleep(std::time::Duration::from_millis(100));
                tries += 1;
            }
            other => return other,
        }
    }
}

/// The job cgroup of `pid`, or an error saying how to get one.
fn job_cgroup(pid: i32) -> Result<PathBuf> {
    let cg = cgroup::of_pid(pid).map_err(|e| {
        let missing = e
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::NotFound);
        if missing {
            anyhow::Error::new(checkpoint_error(Errno::ESRCH, pid, 0))
        } else {
            e
        }
    })?;
    cgroup::job_of(&cg).with_context(|| {
        format!(
            "pid {pid} is not in a kernel-ckpt cgroup (it is in /{}): start it with `ckpt run -- CMD`",
            rel(&cg).display()
        )
    })
}

/// The error of `checkpoint(2)` of the tree rooted at `pid`: for `EBUSY`,
/// which task `/proc` shows is not frozen and why (see [`busy`]).
fn call_error(errno: Errno, pid: i32, flags: u64, freezer: busy::Freezer<'_>) -> CheckpointError {
    if errno == Errno::EBUSY {
        if let Some(message) = busy::explain(pid, freezer) {
            return CheckpointError::new(errno, message);
        }
    }
    checkpoint_error(errno, pid, flags)
}

/// Turns an errno of `checkpoint(2)` into a sentence naming cause and fix.
pub(crate) fn checkpoint_error(errno: Errno, pid: i32, flags: u64) -> CheckpointError {
    let message = match errno {
        Errno::EBUSY => format!(
            "a task of the tree rooted at pid {pid} is not frozen: run it under `ckpt run` so \
             `ckpt checkpoint` can freeze its cgroup"
        ),
        Errno::ESRCH => format!("no process {pid} in this pid namespace"),
        Errno::EAGAIN => format!(
            "checkpoint of pid {pid}: its TCP connections or socket queues kept changing while \
             the image was written (tried {TRIES} times into a regular file, once into a pipe; \
             the kernel log says which: `dmesg | grep checkpoint:`): try again"
        ),
        Errno::EPERM if flags & CHECKPOINT_TCP_SILENT != 0 => format!(
            "not allowed to checkpoint pid {pid}: you need ptrace access to every process of the \
             tree (same user, or CAP_SYS_PTRACE), and for --kill, CAP_NET_ADMIN over the network \
             namespace of its TCP connections, which close silently for their restart (the kernel \
             log says which: `dmesg | grep checkpoint:`)"
        ),
        Errno::EPERM | Errno::EACCES => format!(
            "not allowed to checkpoint pid {pid}: you need ptrace access to every process of the \
             tree (same user, or CAP_SYS_PTRACE)"
        ),
        Errno::EBADF => "the output is not a file descriptor open for writing: give `-o FILE` \
                         or redirect stdout to a writable file or pipe"
            .to_owned(),
        Errno::EINVAL if flags & !CHECKPOINT_FLAGS_MASK != 0 => format!(
            "invalid flags {flags:#x}: the checkpoint(2) flags are CHECKPOINT_SUBTREE \
             ({CHECKPOINT_SUBTREE:#x}) and CHECKPOINT_TCP_SILENT ({CHECKPOINT_TCP_SILENT:#x})"
        ),
        Errno::EINVAL => format!(
            "invalid flags {flags:#x} for pid {pid}: without CHECKPOINT_SUBTREE ({CHECKPOINT_SUBTREE:#x}) \
             the pid must be the init process of its pid namespace"
        ),
        Errno::ENOSYS => "this kernel has no checkpoint(2): boot the kernel-ckpt kernel \
                          (`cargo xtask run`)"
            .to_owned(),
        Errno::EPIPE => "the reader of the output went away before the image was complete \
                         (broken pipe)"
            .to_owned(),
        Errno::ENOSPC | Errno::EDQUOT => {
            format!("no space left for the image ({}): free some or write elsewhere", errno.desc())
        }
        Errno::EFBIG => "the image is larger than the output file may grow".to_owned(),
        Errno::EOPNOTSUPP => format!(
            "the tree rooted at pid {pid} holds what kernel-ckpt cannot save yet, and the \
             kernel log names the process and the state (`dmesg | grep checkpoint:`): two \
             processes that share their memory or signal handlers without being threads of \
             one process (clone with CLONE_VM without CLONE_THREAD), a process whose \
             leader thread exited while its other threads run on, or state not carried yet \
             (seccomp, namespaces other than a pod's own pid, UTS, IPC, cgroup, mount and \
             network namespaces, TCP connections in a listener's handshake (SYN_RECV) or \
             holding urgent data, packet and netlink sockets, socket filters, SysV IPC and \
             POSIX message queues outside a pod, fanotify...; README, What each piece of \
             task state becomes)"
        ),
        Errno::EINTR => format!("checkpoint of pid {pid} was interrupted by a signal: try again"),
        _ => format!("checkpoint(2) of pid {pid} failed: {} ({errno:?})", errno.desc()),
    };
    CheckpointError::new(errno, message)
}
