// SPDX-License-Identifier: GPL-2.0
//! `ckpt restart` of an image that holds a process tree: plan the tree
//! ([`forest::plan`]), build it in a new job cgroup ([`mktree::build`]),
//! then, as the coordinator, call `restart(root, image, 0)`, which
//! restores every task and returns once all are restored (or kills them
//! all and returns the error).
//!
//! With `--pidns` the first child is the init of a new pid namespace and
//! is the coordinator in there; its orphans are reparented to it, as in a
//! whole-namespace checkpoint. An image of a whole pid namespace (a pod)
//! has its root created as pid 1 of new namespaces (pid, and UTS, IPC and cgroup
//! if the pod had its own), with this process as the coordinator outside.
//! Either way, on any error the job cgroup is killed and removed.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use ckpt_image::{RestartReport, TaskEntry};
use nix::errno::Errno;
use nix::libc;

use crate::cgroup::rel;
use crate::forest::{self, Plan};
use crate::inspect::PodInfo;
use crate::mktree::{self, BuildOptions, LiveEnd};
use crate::restore::{self, close, reap, restart_error, wait_exit_code};
use crate::sys::{clone3, CloneArgs, CLONE_INTO_CGROUP};
use crate::{cgroup, CheckpointError, RestartFailure, RestartOptions, RestartOutcome};

/// How long building the tree may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60);

/// Restarts the tree of `rows` (the image's forest table) from the image
/// file `f` (a real file: a stream was copied into a memfd). The image is
/// closed once restart(2) returns: a restarted tree does not keep it (a
/// deleted image file, or the memfd of a stream, gives its memory back).
///
/// `pod`: the image is of a whole pid namespace, whose root is restarted
/// as pid 1 of new namespaces of the kinds the pod had of its own.
pub(crate) fn restart_tree(
    f: File,
    rows: &[TaskEntry],
    opts: &RestartOptions<'_>,
    pod: Option<&PodInfo>,
    cgroups: &[(i32, String)],
) -> Result<RestartOutcome> {
    let plan = forest::plan(rows).context("cannot restart the process tree of this image")?;
    let root = plan.root;
    if pod.is_none() && root == 1 {
        bail!(
            "this image has pid 1 for its root but is not of a whole pid namespace: it cannot \
             be restarted"
        );
    }
    if pod.is_none() && !opts.pidns {
        check_pids_free(&plan)?;
    }
    // Pods never collide on pids: one image restarted twice side by side
    // needs two cgroups.
    let name = opts.name.map(str::to_owned).unwrap_or_else(|| match pod {
        Some(_) => format!("restart-pod-{}", std::process::id()),
        None => format!("restart-{root}"),
    });
    let cg = cgroup::create(&name)?;
    if cgroup::in_use(&cg)? {
        bail!(
            "cgroup {} is in use: give another --name",
            rel(&cg).display()
        );
    }
    let cg_dir = File::open(&cg).with_context(|| format!("cannot open {}", cg.display()))?;
    let moves = match cgroup::make_below(&cg, cgroups) {
        Ok(m) => m,
        Err(e) => {
            discard(&cg);
            return Err(e);
        }
    };
    let outcome = match pod {
        Some(pod) => {
            let mut ns = libc::CLONE_NEWPID as u64;
            if pod.uts.is_some() {
                ns |= libc::CLONE_NEWUTS as u64;
            }
            if pod.ipc {
                ns |= libc::CLONE_NEWIPC as u64;
            }
            // Made with the init in the job cgroup (CLONE_INTO_CGROUP):
            // rooted there.
            if pod.cgroup {
                ns |= libc::CLONE_NEWCGROUP as u64;
            }
            // Its mounts made private by its init (mktree), which the
            // kernel then gives its tmpfs mounts.
            if pod.mnt {
                ns |= libc::CLONE_NEWNS as u64;
            }
            // Its loopback set as it was by restart(2).
            if pod.net.is_some() {
                ns |= libc::CLONE_NEWNET as u64;
            }
            here(&plan, f, &cg_dir, opts, ns, moves)
        }
        None if opts.pidns => in_new_pidns(&plan, f, &cg_dir, opts.detach, moves),
        None => here(&plan, f, &cg_dir, opts, 0, moves),
    };
    if outcome.is_err() {
        discard(&cg);
    }
    outcome
}

/// Builds the tree with this process as the coordinator and the root's
/// parent: in this pid namespace, or for a pod (`pod`: its `CLONE_NEW*`
/// flags) in new namespaces whose init is the root.
fn here(
    plan: &Plan,
    f: File,
    cg_dir: &File,
    restart: &RestartOptions<'_>,
    pod: u64,
    cgroups: Vec<(i32, std::ffi::CString)>,
) -> Result<RestartOutcome> {
    let start = std::time::Instant::now();
    let opts = BuildOptions {
        cgroup: Some(cg_dir.as_fd()),
        live: LiveEnd::Restore,
        timeout: BUILD_TIMEOUT,
        pod,
        cgroups: &cgroups,
    };
    let built = mktree::build(plan, &opts)?;
    let made = start.elapsed();
    let built_tasks = plan.tasks.len();
    // The coordinator's restart(2) returns once every task is restored (or
    // all were killed): with --detach too, a failure is known here. A
    // pod's pids are its namespace's, which /proc does not show.
    let progress = crate::progress::Progress::start(restart.progress, "ckpt restart", move || {
        format!(", restart(2) of {} tasks", built_tasks)
    });
    coordinate(built.root_here, f.as_raw_fd(), pod == 0)?;
    drop(progress);
    drop(f);
    if restart.stats {
        eprintln!(
            "ckpt restart: made {} tasks in {:.6} s, restart(2) took {:.6} s",
            plan.tasks.len(),
            made.as_secs_f64(),
            (start.elapsed() - made).as_secs_f64()
        );
    }
    if restart.detach {
        return Ok(RestartOutcome::Detached(built.root_here));
    }
    wait_outcome(built.root_here)
}

/// Builds the tree in a new pid namespace whose init is the coordinator;
/// the init reports on a pipe whether the restart succeeded, then waits
/// for the root and exits with its status.
fn in_new_pidns(
    plan: &Plan,
    f: File,
    cg_dir: &File,
    detach: bool,
    cgroups: Vec<(i32, std::ffi::CString)>,
) -> Result<RestartOutcome> {
    let (read, write) = restore::pipe().context("cannot create a pipe")?;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP | libc::CLONE_NEWPID as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cg_dir.as_raw_fd() as u64,
        ..Default::default()
    };
    let ret = clone3(&args);
    if ret == 0 {
        namespace_init(plan, f, read, write, cgroups);
    }
    // The init has the image open: this process no longer needs it.
    drop(f);
    close(write);
    if ret < 0 {
        close(read);
        let errno = Errno::last();
        return Err(anyhow!(
            "cannot create the init of a new pid namespace: {} ({errno:?})",
            errno.desc()
        ));
    }
    let init = ret as i32;
    let verdict = restore::decode_verdict(&restore::read_all(read));
    close(read);
    match verdict {
        Ok(()) if detach => Ok(RestartOutcome::Detached(init)),
        Ok(()) => wait_outcome(init),
        Err(e) => {
            reap(init);
            Err(e)
        }
    }
}

/// The init of the new pid namespace: builds, restarts, reports, waits.
fn namespace_init(
    plan: &Plan,
    f: File,
    read: RawFd,
    write: RawFd,
    cgroups: Vec<(i32, std::ffi::CString)>,
) -> ! {
    close(read);
    let opts = BuildOptions {
        cgroup: None,
        live: LiveEnd::Restore,
        timeout: BUILD_TIMEOUT,
        pod: 0,
        cgroups: &cgroups,
    };
    // /proc shows the pids of the pid namespace outside, not this one's.
    let result = mktree::build(plan, &opts)
        .and_then(|_| coordinate(plan.root, f.as_raw_fd(), false).map_err(Into::into));
    drop(f);
    let line = restore::encode_verdict(result.as_ref().map(drop));
    let _ = restore::write_all(write, line.as_bytes());
    close(write);
    let code = match &result {
        Ok(()) => wait_exit_code(plan.root),
        Err(e) => e
            .downcast_ref::<RestartFailure>()
            .map_or(1, |f| i32::from(f.exit_status())),
    };
    // SAFETY: leaves without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

/// The coordinator's `restart(root, fd, flags)`. A task that left its wait
/// with `EINTR` was killed (every wait of a task is killable only by a
/// fatal signal): that is reported as the signal, found by
/// [`restore::signal_of_task`] (`proc_visible`: `/proc` shows this
/// process's pid namespace).
fn coordinate(root: i32, fd: RawFd, proc_visible: bool) -> Result<(), RestartFailure> {
    crate::sys_restart_raw(root, fd, restore::restart_flags()).map_err(|(errno, report)| {
        if errno == Errno::EINTR && report.pid > 0 {
            let signal = restore::signal_of_task(report.pid, proc_visible);
            return restore::tree_killed(signal, report.pid);
        }
        let mut message = restart_error(errno, root);
        if let Some(place) = describe_report(&report) {
            message = format!("{message} ({place}); the tree was killed");
        }
        RestartFailure::Error(CheckpointError::new(errno, message).with_report(report))
    })
}

/// Where `restart(2)` failed, from its report.
fn describe_report(r: &RestartReport) -> Option<String> {
    let place = restore::record_place(r);
    match (r.pid, place) {
        (0, None) => None,
        (0, Some(place)) => Some(format!("the image failed at {place}")),
        (pid, None) => Some(format!("task {pid} failed")),
        (pid, Some(place)) => Some(format!("task {pid} failed at {place}")),
    }
}

/// Waits a moment for zombies holding the tree's pids (the killed
/// original, say) to be reaped, then fails if any pid is taken.
fn check_pids_free(plan: &Plan) -> Result<()> {
    let pids: Vec<i32> = plan.exact_pids().collect();
    for _ in 0..200 {
        if !pids.iter().any(|&p| is_zombie(p)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(pid) = pids
        .iter()
        .find(|p| Path::new(&format!("/proc/{p}")).exists())
    {
        return Err(CheckpointError::new(
            Errno::EEXIST,
            format!(
                "pid {pid} of the image is taken by a running process: stop it (for example \
                 `ckpt checkpoint --kill` the original) or restart with --pidns"
            ),
        )
        .into());
    }
    Ok(())
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

/// Kills whatever the failed restart left in the job cgroup, reaps this
/// process's children and removes the cgroup (best effort: the error
/// being reported matters more).
fn discard(cg: &Path) {
    let _ = cgroup::kill(cg);
    loop {
        let mut status = 0;
        // SAFETY: reaps any exited child without blocking.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::__WALL) };
        if pid <= 0 {
            break;
        }
    }
    cgroup::remove(cg);
}

fn wait_outcome(pid: i32) -> Result<RestartOutcome> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(RestartOutcome::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(RestartOutcome::Signaled(sig as i32)),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waiting for the restarted tree's root"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ckpt_image::RecordType;

    #[test]
    fn reports() {
        let mut r = RestartReport::default();
        assert_eq!(describe_report(&r), None);
        r.pid = 12;
        assert_eq!(describe_report(&r).as_deref(), Some("task 12 failed"));
        r.record = 30;
        r.record_type = RecordType::Vma as u32;
        r.offset = 9000;
        assert_eq!(
            describe_report(&r).as_deref(),
            Some("task 12 failed at record 30 (vma) at byte 9000")
        );
        r.pid = 0;
        r.record_type = RecordType::Task as u32;
        assert_eq!(
            describe_report(&r).as_deref(),
            Some("the image failed at record 30 (task) at byte 9000")
        );
    }
}
