// SPDX-License-Identifier: GPL-2.0
//! `ckpt checkpoint`: the system call wrapped in the cgroup handling it
//! needs, with errors turned into sentences.

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ckpt_image::{
    CHECKPOINT_COW, CHECKPOINT_FLAGS_MASK, CHECKPOINT_SUBTREE, CHECKPOINT_TCP_SILENT,
};
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
    /// Thaw the tree once its state is taken and write its memory from a
    /// copy-on-write snapshot while it runs ([`CHECKPOINT_COW`]; default),
    /// where ckpt both freezes and thaws it.
    pub cow: bool,
}

impl Default for CheckpointOptions {
    fn default() -> Self {
        Self {
            kill: false,
            freeze: true,
            flags: CHECKPOINT_SUBTREE,
            cow: true,
        }
    }
}

/// Where the time of one [`checkpoint`] went: the tree is stopped from
/// the freeze request until it is thawed (or killed, with `--kill`), its
/// downtime ([`CheckpointTimes::frozen`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointTimes {
    /// From writing `cgroup.freeze` until `cgroup.events` says frozen.
    pub freeze: Duration,
    /// The `checkpoint(2)` call (and its retries).
    pub call: Duration,
    /// Thawing or killing the job's cgroup.
    pub release: Duration,
    /// With a copy-on-write checkpoint: writing the memory after the
    /// thaw, while the tree runs.
    pub stream: Duration,
}

impl CheckpointTimes {
    /// How long the tree was stopped: freeze, call and release.
    pub fn frozen(&self) -> Duration {
        self.freeze + self.call + self.release
    }
}

/// `frozen 0.123456 s (freeze 0.001000 s, checkpoint(2) 0.120000 s,
/// thaw/kill 0.002456 s)`, and for a copy-on-write checkpoint `, then
/// memory written in 1.200000 s while running`: what `ckpt checkpoint
/// --stats` prints, and what [`CheckpointTimes::from_str`] reads back.
impl fmt::Display for CheckpointTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frozen {:.6} s (freeze {:.6} s, checkpoint(2) {:.6} s, thaw/kill {:.6} s)",
            self.frozen().as_secs_f64(),
            self.freeze.as_secs_f64(),
            self.call.as_secs_f64(),
            self.release.as_secs_f64()
        )?;
        if !self.stream.is_zero() {
            write!(
                f,
                ", then memory written in {:.6} s while running",
                self.stream.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

impl FromStr for CheckpointTimes {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let secs = |label: &str| -> Result<Duration> {
            let rest = s
                .split_once(label)
                .with_context(|| format!("no `{label}` in `{s}`"))?
                .1;
            let n = rest.split_whitespace().next().unwrap_or_default();
            let v: f64 = n
                .parse()
                .with_context(|| format!("`{label}` is followed by `{n}`, not seconds"))?;
            Duration::try_from_secs_f64(v).with_context(|| format!("`{label} {n}`"))
        };
        Ok(Self {
            freeze: secs("(freeze ")?,
            call: secs("checkpoint(2) ")?,
            release: secs("thaw/kill ")?,
            stream: if s.contains("memory written in ") {
                secs("memory written in ")?
            } else {
                Duration::ZERO
            },
        })
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
/// Returns where the time went.
pub fn checkpoint(
    pid: i32,
    out: BorrowedFd<'_>,
    opts: &CheckpointOptions,
) -> Result<CheckpointTimes> {
    let mut times = CheckpointTimes::default();
    if !opts.freeze && !opts.kill {
        let start = Instant::now();
        sys_checkpoint(pid, out, opts.flags)
            .map_err(|e| call_error(e, pid, opts.flags, busy::Freezer::Own))?;
        times.call = start.elapsed();
        return Ok(times);
    }
    let job = job_cgroup(pid)?;
    let was_frozen = cgroup::freeze_requested(&job)?;
    let start = Instant::now();
    if opts.freeze && !was_frozen {
        cgroup::freeze(&job, FREEZE_TIMEOUT)?;
    }
    times.freeze = start.elapsed();
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
    // Connections silenced for a kill must not move on after a thaw.
    let cow = opts.cow && opts.freeze && !opts.kill && !was_frozen;
    if cow && flags & CHECKPOINT_TCP_SILENT == 0 {
        match cow::checkpoint(pid, out, flags, &job, start, &mut times) {
            // Nothing written, the tree still frozen: saved frozen instead,
            // when the snapshot cannot be taken (too much to copy while
            // frozen, no memory or commit charge for the copies, a kernel
            // without CHECKPOINT_COW).
            Err(cow::Failure::Frozen(Errno::ENOBUFS | Errno::ENOMEM | Errno::EINVAL)) => {}
            Err(cow::Failure::Setup(e)) => {
                let thawed = cgroup::thaw(&job);
                return Err(e).and_then(|()| thawed.map(|()| times));
            }
            Err(cow::Failure::Frozen(e)) => {
                let error = call_error(e, pid, flags | CHECKPOINT_COW, freezer);
                let thawed = cgroup::thaw(&job);
                return Err(anyhow::Error::new(error)).and_then(|()| thawed.map(|()| times));
            }
            Err(cow::Failure::Thawed(e)) => return Err(e),
            Ok(()) => return Ok(times),
        }
    }
    // Explained while the job is still frozen.
    let result = checkpoint_retrying(pid, out, flags)
        .map_err(|e| anyhow::Error::new(call_error(e, pid, flags, freezer)));
    times.call = start.elapsed() - times.freeze;
    if opts.kill && result.is_ok() && is_regular(out) {
        // On disk before the tree dies: a full disk or an I/O error often
        // shows only now. The tree is then neither killed nor thawed: its
        // TCP connections are silenced for the kill (CHECKPOINT_TCP_SILENT)
        // and would send nothing if it ran on.
        if let Err(e) = nix::unistd::fdatasync(out) {
            return Err(anyhow::Error::new(crate::AfterImage(anyhow::anyhow!(
                "the image is written but cannot be synced to its file ({}): the tree is left \
                 frozen, not killed, its TCP connections silenced; make room for the image, \
                 then kill the tree (echo 1 > {})",
                e.desc(),
                job.join("cgroup.kill").display()
            ))));
        }
    }
    let after = if opts.kill && result.is_ok() {
        cgroup::kill(&job).context("the image is whole, but killing the tree failed")
    } else if opts.freeze && !was_frozen {
        cgroup::thaw(&job).context(if result.is_ok() {
            "the image is whole, but thawing the tree failed"
        } else {
            "thawing the tree failed"
        })
    } else {
        Ok(())
    };
    times.release = start.elapsed() - times.freeze - times.call;
    result?;
    after
        .map_err(|e| anyhow::Error::new(crate::AfterImage(e)))
        .map(|()| times)
}

/// Whether `fd` is a regular file.
fn is_regular(fd: BorrowedFd<'_>) -> bool {
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFREG)
}

mod cow;

/// How many times `checkpoint(2)` is tried when it says `EAGAIN`.
const TRIES: u32 = 5;

/// `checkpoint(2)`, tried again (up to [`TRIES`] times, 100 ms apart) when
/// it says `EAGAIN` and `out` is a regular file it can be written to
/// again from its start: the tree is frozen, but its TCP connections may
/// move on while the image is written (a retransmission, a window probe),
/// and an image must be a consistent cut of them.
fn checkpoint_retrying(pid: i32, out: BorrowedFd<'_>, flags: u64) -> Result<(), Errno> {
    let regular = is_regular(out);
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
             ({CHECKPOINT_SUBTREE:#x}), CHECKPOINT_TCP_SILENT ({CHECKPOINT_TCP_SILENT:#x}) and \
             CHECKPOINT_COW ({CHECKPOINT_COW:#x})"
        ),
        Errno::EINVAL if flags & CHECKPOINT_COW != 0 && flags & CHECKPOINT_TCP_SILENT != 0 => {
            format!(
                "invalid flags {flags:#x}: CHECKPOINT_COW ({CHECKPOINT_COW:#x}) lets the tree \
                 run on, CHECKPOINT_TCP_SILENT ({CHECKPOINT_TCP_SILENT:#x}) is for a tree killed \
                 next: give one of them"
            )
        }
        Errno::ENOBUFS => format!(
            "checkpoint of pid {pid}: the tree holds more than 256 MiB that a copy-on-write \
             checkpoint must copy while it is frozen (shared memory, queued data): leave out \
             CHECKPOINT_COW ({CHECKPOINT_COW:#x}), or `ckpt checkpoint --no-cow`"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_what_they_print() {
        let t = CheckpointTimes {
            freeze: Duration::from_micros(1_250),
            call: Duration::from_micros(120_000),
            release: Duration::from_micros(2_500),
            stream: Duration::ZERO,
        };
        let text = t.to_string();
        assert_eq!(
            text,
            "frozen 0.123750 s (freeze 0.001250 s, checkpoint(2) 0.120000 s, thaw/kill 0.002500 s)"
        );
        assert_eq!(text.parse::<CheckpointTimes>().unwrap(), t);
        assert_eq!(t.frozen(), Duration::from_micros(123_750));
        let cow = CheckpointTimes {
            stream: Duration::from_millis(1_200),
            ..t
        };
        let text = cow.to_string();
        assert_eq!(
            text,
            "frozen 0.123750 s (freeze 0.001250 s, checkpoint(2) 0.120000 s, thaw/kill \
             0.002500 s), then memory written in 1.200000 s while running"
        );
        assert_eq!(text.parse::<CheckpointTimes>().unwrap(), cow);
        assert_eq!(cow.frozen(), t.frozen());
    }

    #[test]
    fn times_refuse_what_they_did_not_print() {
        let err = "frozen 1 s".parse::<CheckpointTimes>().unwrap_err();
        assert_eq!(err.to_string(), "no `(freeze ` in `frozen 1 s`");
        let err = "(freeze x s, checkpoint(2) 1 s, thaw/kill 1 s)"
            .parse::<CheckpointTimes>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`(freeze ` is followed by `x`, not seconds"
        );
    }
}
