// SPDX-License-Identifier: GPL-2.0
//! The copy-on-write checkpoint: with `CHECKPOINT_COW`, `checkpoint(2)`
//! writes nothing until every task's state is taken and the memory of
//! each process is a copy-on-write snapshot. ckpt thaws the tree at the
//! image's first byte: a regular file's first write (inotify), or the
//! first byte of a pipe ckpt gives the kernel and copies to any other
//! output. The tree runs on while the rest is written: its downtime no
//! longer grows with its memory.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use ckpt_image::CHECKPOINT_COW;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};

use super::{checkpoint_error, CheckpointTimes, TRIES};
use crate::restore::write_all;
use crate::{cgroup, sys_checkpoint};

/// How a copy-on-write checkpoint failed.
pub(super) enum Failure {
    /// `checkpoint(2)` failed with nothing written: the tree is still
    /// frozen.
    Frozen(Errno),
    /// Before the call, the tree still frozen.
    Setup(anyhow::Error),
    /// After the thaw: the image is incomplete, the tree runs on.
    Thawed(anyhow::Error),
}

/// The pipe's size: fewer wake-ups of the copy than the default 64 KiB.
const PIPE_BYTES: i32 = 1 << 20;

/// Writes an image of the frozen tree rooted at `pid` (in the cgroup
/// `job`, frozen since `start`) to `out` with `CHECKPOINT_COW`, thawing
/// `job` as soon as the tree's state is taken; tried again, up to
/// [`TRIES`] times, when the kernel says `EAGAIN` (TCP connections that
/// moved while they were read) with nothing written.
pub(super) fn checkpoint(
    pid: i32,
    out: BorrowedFd<'_>,
    flags: u64,
    job: &Path,
    start: Instant,
    times: &mut CheckpointTimes,
) -> Result<(), Failure> {
    let mut tries = 1;
    loop {
        match attempt(pid, out, flags | CHECKPOINT_COW, job, start, times) {
            Err(Failure::Frozen(Errno::EAGAIN)) if tries < TRIES => {
                std::thread::sleep(Duration::from_millis(100));
                tries += 1;
            }
            other => return other,
        }
    }
}

fn attempt(
    pid: i32,
    out: BorrowedFd<'_>,
    flags: u64,
    job: &Path,
    start: Instant,
    times: &mut CheckpointTimes,
) -> Result<(), Failure> {
    let regular = nix::sys::stat::fstat(out)
        .is_ok_and(|st| st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFREG);
    if regular {
        // Without inotify, through a pipe as for any other output.
        if let Ok(watch) = watch_first_write(out) {
            return attempt_file(pid, out, flags, job, start, times, &watch);
        }
    }
    let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .context("cannot make a pipe for the image")
        .map_err(Failure::Setup)?;
    // Best effort: a smaller pipe only costs more wake-ups.
    let _ = nix::fcntl::fcntl(&rd, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
    let call = std::thread::spawn(move || {
        // If the copy stops reading, the kernel's next write fails with
        // EPIPE: its SIGPIPE stays blocked, and goes with this thread,
        // whatever the program's disposition of SIGPIPE.
        let mut pipe = SigSet::empty();
        pipe.add(Signal::SIGPIPE);
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&pipe), None);
        let r = sys_checkpoint(pid, wr.as_fd(), flags);
        drop(wr);
        r
    });
    let join =
        |call: std::thread::JoinHandle<Result<(), Errno>>| call.join().unwrap_or(Err(Errno::EIO));
    let mut buf = vec![0u8; 64 << 10];
    let first = loop {
        match nix::unistd::read(&rd, &mut buf) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    };
    let n = match first {
        Ok(n) if n > 0 => n,
        // Nothing written: the call failed, the tree is still frozen.
        _ => {
            drop(rd);
            return Err(Failure::Frozen(join(call).err().unwrap_or(Errno::EIO)));
        }
    };
    let thawed = thaw(job, start, times);
    let streaming = Instant::now();
    let copied = buf
        .get(..n)
        .map_or(Ok(()), |first| write_all(out.as_raw_fd(), first))
        .and_then(|()| copy(&rd, out, &mut buf));
    // If the copy failed, the kernel's next write fails (EPIPE).
    drop(rd);
    let call = join(call);
    times.stream = streaming.elapsed();
    finish(copied, call, thawed, pid, flags)
}

/// [`attempt`] into a regular file: the kernel writes the image straight
/// into it (one copy of the pages, as a frozen checkpoint does), and the
/// file's first write (inotify's `IN_MODIFY`) says the tree's state is
/// taken.
fn attempt_file(
    pid: i32,
    out: BorrowedFd<'_>,
    flags: u64,
    job: &Path,
    start: Instant,
    times: &mut CheckpointTimes,
    watch: &Inotify,
) -> Result<(), Failure> {
    // Closed when the call returns.
    let (done_r, done_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .context("cannot make a pipe")
        .map_err(Failure::Setup)?;
    std::thread::scope(|scope| {
        let call = scope.spawn(move || {
            let r = sys_checkpoint(pid, out, flags);
            drop(done_w);
            r
        });
        let join = |call: std::thread::ScopedJoinHandle<'_, Result<(), Errno>>| {
            call.join().unwrap_or(Err(Errno::EIO))
        };
        // Until the file is written to, or the call ends without a write.
        let written = loop {
            let mut fds = [
                PollFd::new(watch.as_fd(), PollFlags::POLLIN),
                PollFd::new(done_r.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(Errno::EINTR) => continue,
                Err(_) => break false,
                Ok(_) => {}
            }
            let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
            if ready(&fds[0]) {
                break true;
            }
            if ready(&fds[1]) {
                break false;
            }
        };
        if !written {
            // Nothing written: the call failed, the tree is still frozen.
            return Err(Failure::Frozen(join(call).err().unwrap_or(Errno::EIO)));
        }
        let thawed = thaw(job, start, times);
        let streaming = Instant::now();
        let call = join(call);
        times.stream = streaming.elapsed();
        finish(Ok(()), call, thawed, pid, flags)
    })
}

/// Thaws `job` (frozen since `start`) once the tree's state is taken,
/// counting the call's time until now and the thaw's in `times`.
fn thaw(job: &Path, start: Instant, times: &mut CheckpointTimes) -> anyhow::Result<()> {
    times.call = start.elapsed().saturating_sub(times.freeze);
    let thawed = cgroup::thaw(job);
    times.release = start.elapsed().saturating_sub(times.freeze + times.call);
    thawed
}

/// An inotify instance told of the next write to the regular file `out`.
fn watch_first_write(out: BorrowedFd<'_>) -> Result<Inotify, Errno> {
    let watch = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
    let path = format!("/proc/self/fd/{}", out.as_raw_fd());
    watch.add_watch(path.as_str(), AddWatchFlags::IN_MODIFY)?;
    Ok(watch)
}

/// The outcome of a copy-on-write checkpoint once the tree was thawed:
/// the copy of the image to the output (`copied`), the call and the thaw.
fn finish(
    copied: Result<(), Errno>,
    call: Result<(), Errno>,
    thawed: anyhow::Result<()>,
    pid: i32,
    flags: u64,
) -> Result<(), Failure> {
    if let Err(e) = thawed {
        if copied.is_ok() && call.is_ok() {
            let e = e.context("the image was written, but thawing the tree failed");
            return Err(Failure::Thawed(anyhow::Error::new(crate::AfterImage(e))));
        }
        let e = e.context("the image is incomplete, and thawing the tree failed");
        return Err(Failure::Thawed(e));
    }
    let incomplete = "the tree was thawed and runs on, but its image is incomplete";
    copied
        .context("cannot write the image")
        .context(incomplete)
        .map_err(Failure::Thawed)?;
    call.map_err(|e| {
        Failure::Thawed(
            anyhow::Error::new(checkpoint_error(e, pid, flags)).context(format!(
                "{incomplete}: checkpoint(2) failed while it wrote the memory"
            )),
        )
    })
}

/// Copies what the pipe `rd` carries to `out` until its writer closes it:
/// with splice(2) where `out` takes it, else through `buf`.
fn copy(rd: &OwnedFd, out: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(), Errno> {
    let mut splice = true;
    loop {
        let n = if splice {
            match nix::fcntl::splice(
                rd,
                None,
                out,
                None,
                PIPE_BYTES as usize,
                SpliceFFlags::SPLICE_F_MOVE,
            ) {
                Err(Errno::EINVAL) => {
                    splice = false;
                    continue;
                }
                other => other,
            }
        } else {
            nix::unistd::read(rd, buf).and_then(|n| {
                buf.get(..n)
                    .map_or(Ok(()), |b| write_all(out.as_raw_fd(), b))?;
                Ok(n)
            })
        };
        match n {
            Ok(0) => return Ok(()),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}
