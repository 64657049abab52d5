// SPDX-License-Identifier: GPL-2.0
//! `ckpt run`: start a command as the root of a new job, in a cgroup of
//! its own that all its descendants inherit.
//!
//! The parent forks; the child starts a new session and waits on a pipe
//! while the parent creates the job cgroup and moves the child into it;
//! then the child execs. A second, close-on-exec pipe reports the outcome:
//! end of file means the exec succeeded, eight bytes carry the step that
//! failed and its errno. Between fork and exec the child makes only
//! async-signal-safe calls on data prepared before the fork, so `run` is
//! safe to call from a multi-threaded program.
//!
//! With `--pod` the child is created with `clone3` in new pid, IPC and UTS
//! namespaces instead: the command is pid 1 of its pod. With
//! `--private-tmp` too, in a new mount namespace whose mounts are private,
//! with a tmpfs of its own on `/dev/shm` and `/tmp` (their files are part
//! of the pod's image).

use std::ffi::{CString, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc::{self, c_char};
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{self, ForkResult, Pid};

use crate::cgroup;
use crate::sys::{clone3, CloneArgs};

/// How [`run_with`] starts the job.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions<'a> {
    /// Name of the job cgroup, `ckpt/<name>`; default `job-<pid>`.
    pub name: Option<&'a str>,
    /// Give the command `/dev/null` as stdin and append its stdout and
    /// stderr to this file (created with mode 0644) instead of sharing the
    /// caller's.
    pub log: Option<&'a Path>,
    /// Start the command as a pod: pid 1 of new pid, IPC and UTS
    /// namespaces (a checkpoint of it saves the whole pod).
    pub pod: bool,
    /// With `pod`: give it a mount namespace of its own, with a private
    /// tmpfs on `/dev/shm` and `/tmp`.
    pub private_tmp: bool,
    /// With `pod`: give it a network namespace of its own, its loopback
    /// device up.
    pub net: bool,
}

/// Starts `argv` in a new session, in the fresh job cgroup `ckpt/<name>`
/// (default `job-<pid>`), and returns its pid once it has exec'd.
///
/// The process is not waited for: it is the caller's child.
pub fn run(name: Option<&str>, argv: &[OsString]) -> Result<i32> {
    run_with(
        &RunOptions {
            name,
            ..Default::default()
        },
        argv,
    )
}

/// [`run`] with all options.
pub fn run_with(opts: &RunOptions<'_>, argv: &[OsString]) -> Result<i32> {
    let Some(cmd) = argv.first() else {
        bail!("no command to run")
    };
    if opts.private_tmp && !opts.pod {
        bail!("a private /dev/shm and /tmp are for a pod: add --pod");
    }
    if opts.net && !opts.pod {
        bail!("a network namespace of its own is for a pod: add --pod");
    }
    let cmd = cmd.to_string_lossy().into_owned();
    if let Some(name) = opts.name {
        cgroup::validate_name(name)?;
    }
    cgroup::ensure_v2()?;

    // Everything the child needs, prepared before the fork.
    let args = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("an argument of `{cmd}` contains a NUL byte"))?;
    let mut arg_ptrs: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());
    let stdio = opts.log.map(open_stdio).transpose()?;
    let (go_r, go_w) = unistd::pipe2(OFlag::O_CLOEXEC).context("cannot create a pipe")?;
    let (status_r, status_w) = unistd::pipe2(OFlag::O_CLOEXEC).context("cannot create a pipe")?;

    let child = if opts.pod {
        // A raw clone3 is a fork with new namespaces: the child is pid 1
        // of its own pid namespace.
        let mut flags = libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        if opts.private_tmp {
            flags |= libc::CLONE_NEWNS;
        }
        if opts.net {
            flags |= libc::CLONE_NEWNET;
        }
        let args = CloneArgs {
            flags: flags as u64,
            exit_signal: libc::SIGCHLD as u64,
            ..Default::default()
        };
        match clone3(&args) {
            0 => {
                drop((go_w, status_r));
                child(go_r, status_w, &arg_ptrs, stdio.as_ref(), opts)
            }
            ret if ret < 0 => {
                let errno = Errno::last();
                bail!(
                    "cannot create the pod's pid, IPC and UTS namespaces: {}{}",
                    errno.desc(),
                    if errno == Errno::EPERM {
                        " (a pod needs CAP_SYS_ADMIN: run as root)"
                    } else {
                        ""
                    }
                )
            }
            ret => Pid::from_raw(ret as i32),
        }
    } else {
        // SAFETY: the child runs only `child`, which makes
        // async-signal-safe calls and ends in exec or _exit.
        match unsafe { unistd::fork() }.context("cannot fork")? {
            ForkResult::Child => {
                drop((go_w, status_r));
                child(go_r, status_w, &arg_ptrs, stdio.as_ref(), opts)
            }
            ForkResult::Parent { child } => child,
        }
    };
    drop((go_r, status_w, stdio));

    let cg = match join_cgroup(opts.name, child) {
        Ok(cg) => cg,
        Err(e) => {
            abort(child);
            return Err(e);
        }
    };
    if let Err(e) = File::from(go_w).write_all(&[1]) {
        abort(child);
        let _ = fs::remove_dir(&cg);
        return Err(e).context(format!("cannot start `{cmd}`"));
    }
    let mut report = Vec::new();
    File::from(status_r)
        .read_to_end(&mut report)
        .with_context(|| format!("cannot learn whether `{cmd}` started"))?;
    if report.is_empty() {
        return Ok(child.as_raw());
    }
    reap(child);
    // The cgroup is empty again; leave no trace of the failed job.
    let _ = fs::remove_dir(&cg);
    let (step, errno) = decode_report(&report);
    bail!("cannot {} `{cmd}`: {}", step.verb(), errno.desc())
}

/// Creates the job cgroup and moves `child` into it.
fn join_cgroup(name: Option<&str>, child: Pid) -> Result<std::path::PathBuf> {
    let name = name.map_or_else(|| format!("job-{child}"), str::to_owned);
    let cg = cgroup::create(&name)?;
    if cgroup::in_use(&cg)? {
        bail!(
            "cgroup {} already holds processes (or cgroups below it do): choose another name with --name",
            cg.display()
        );
    }
    cgroup::add(&cg, child.as_raw())?;
    Ok(cg)
}

/// `/dev/null` for stdin and the log file for stdout and stderr.
fn open_stdio(log: &Path) -> Result<(OwnedFd, OwnedFd)> {
    let null = File::open("/dev/null").context("cannot open /dev/null")?;
    let out = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(log)
        .with_context(|| format!("cannot open log file {}", log.display()))?;
    Ok((null.into(), out.into()))
}

/// The step of the child that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
enum Step {
    Setsid = 1,
    Stdio = 2,
    Exec = 3,
    CgroupNs = 4,
    PrivateTmp = 5,
    Loopback = 6,
}

impl Step {
    fn verb(self) -> &'static str {
        match self {
            Self::Setsid => "start a new session for",
            Self::Stdio => "redirect stdin, stdout and stderr of",
            Self::Exec => "run",
            Self::CgroupNs => "give a cgroup namespace rooted at its job cgroup to",
            Self::PrivateTmp => "mount a private /dev/shm and /tmp (tmpfs) for",
            Self::Loopback => "set the loopback device up in the network namespace of",
        }
    }
}

fn decode_report(report: &[u8]) -> (Step, Errno) {
    let word = |i: usize| {
        report
            .get(i..i + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, i32::from_ne_bytes)
    };
    let step = match word(0) {
        1 => Step::Setsid,
        2 => Step::Stdio,
        4 => Step::CgroupNs,
        5 => Step::PrivateTmp,
        6 => Step::Loopback,
        _ => Step::Exec,
    };
    (step, Errno::from_raw(word(4)))
}

/// The child between fork and exec: only async-signal-safe calls, no
/// allocation.
fn child(
    go: OwnedFd,
    status: OwnedFd,
    argv: &[*const c_char],
    stdio: Option<&(OwnedFd, OwnedFd)>,
    opts: &RunOptions<'_>,
) -> ! {
    let fail = |step: Step, errno: Errno| -> ! {
        let mut report = [0u8; 8];
        report[..4].copy_from_slice(&(step as i32).to_ne_bytes());
        report[4..].copy_from_slice(&(errno as i32).to_ne_bytes());
        let _ = unistd::write(&status, &report);
        // SAFETY: _exit is async-signal-safe and skips atexit handlers and
        // stdio buffers that belong to the parent.
        unsafe { libc::_exit(127) }
    };
    if let Err(e) = unistd::setsid() {
        fail(Step::Setsid, e);
    }
    // Undo what the Rust runtime (and the caller) set up: exec keeps
    // ignored signals and the signal mask.
    let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // SAFETY: restoring the default disposition installs no handler.
    let _ = unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };

    // Wait until the parent has put us into the job cgroup.
    let mut byte = [0u8; 1];
    loop {
        match unistd::read(&go, &mut byte) {
            Ok(1) => break,
            Err(Errno::EINTR) => continue,
            // SAFETY: as above; the parent gave up on us.
            _ => unsafe { libc::_exit(127) },
        }
    }
    drop(go);
    // A pod's cgroup namespace, made now: rooted at the job cgroup.
    // SAFETY: unshare takes flags only.
    if opts.pod && unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } != 0 {
        fail(Step::CgroupNs, Errno::last());
    }
    // Its mounts, copied from ours, made private (nothing it mounts shows
    // outside), then a tmpfs of its own on /dev/shm and /tmp.
    if opts.private_tmp {
        let made = crate::sys::make_mounts_private().is_ok()
            && [c"/dev/shm", c"/tmp"].iter().all(|at| {
                // SAFETY: static NUL-terminated strings, as mount(2)
                // takes them.
                let r = unsafe {
                    libc::mount(
                        c"tmpfs".as_ptr(),
                        at.as_ptr(),
                        c"tmpfs".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        c"mode=1777".as_ptr().cast(),
                    )
                };
                r == 0
            });
        if !made {
            fail(Step::PrivateTmp, Errno::last());
        }
    }

    // Its own network namespace: the loopback device up, as
    // `ip link set lo up` does.
    if opts.net {
        if let Err(e) = crate::sys::loopback_up() {
            fail(Step::Loopback, e);
        }
    }

    if let Some((null, out)) = stdio {
        for (from, to) in [(null, 0), (out, 1), (out, 2)] {
            if let Err(e) = dup2(from.as_raw_fd(), to) {
                fail(Step::Stdio, e);
            }
        }
    }
    // SAFETY: `argv` is a NULL-terminated array of pointers to C strings
    // that outlive this call (they belong to the parent's frame, which the
    // child never leaves).
    unsafe { libc::execvp(argv[0], argv.as_ptr()) };
    fail(Step::Exec, Errno::last())
}

/// `dup2` that also leaves `to` open across exec when it equals `from`.
fn dup2(from: RawFd, to: RawFd) -> Result<(), Errno> {
    // SAFETY: plain descriptor calls on descriptors we own; `to` is one of
    // 0, 1, 2.
    let ret = unsafe {
        if from == to {
            libc::fcntl(to, libc::F_SETFD, 0)
        } else {
            libc::dup2(from, to)
        }
    };
    Errno::result(ret).map(drop)
}

/// Kills and reaps a child that must not run its command.
fn abort(child: Pid) {
    let _ = signal::kill(child, Signal::SIGKILL);
    reap(child);
}

fn reap(child: Pid) {
    while let Err(Errno::EINTR) = waitpid(child, None) {}
}
