// SPDX-License-Identifier: GPL-2.0
//! `ckpt restart`: an image's process recreated with its saved pid in a new
//! job cgroup, where it calls `restart(2)`; a tree goes to
//! `restart_tree.rs`. Errors are turned into sentences.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

use anyhow::{Context, Result};
use nix::errno::Errno;

use crate::cgroup::rel;
use crate::restore::{
    self, await_restore, close, marker_for, restore_self, wait_exit_code, RestartOptions,
    RestartOutcome,
};
use crate::sys::{clone3, CloneArgs, CLONE_INTO_CGROUP};
use crate::{cgroup, CheckpointError, RestartFailure};

/// Where [`restart`] reads the image.
pub enum RestartInput {
    /// A regular file, given to the kernel as it is.
    File(File),
    /// A pipe or other stream, read whole into a memfd first.
    Stream(Box<dyn std::io::Read>),
}

/// A read-only mapping of a whole file.
struct Mapping {
    ptr: std::ptr::NonNull<std::ffi::c_void>,
    len: usize,
}

impl Mapping {
    fn new(f: &File, len: u64) -> Result<Self> {
        let len = usize::try_from(len).context("image too large")?;
        let Some(nz) = std::num::NonZeroUsize::new(len) else {
            anyhow::bail!("not a valid image: the file is empty");
        };
        // SAFETY: a private read-only mapping of a file we hold open; it is
        // only read through `bytes` while `self` lives.
        let ptr = unsafe {
            nix::sys::mman::mmap(
                None,
                nz,
                nix::sys::mman::ProtFlags::PROT_READ,
                nix::sys::mman::MapFlags::MAP_PRIVATE,
                f,
                0,
            )
        }
        .context("cannot map the image")?;
        Ok(Self { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.len) };
    }
}

/// Lets this process hold as many open files as its hard limit allows.
fn raise_nofile() {
    let mut lim = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit of this process with a valid struct.
    unsafe {
        if nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Restarts the process saved in the image `input` (a file or a pipe, read
/// whole first): recreates it with its saved pid in a new job cgroup, in
/// which the new process calls `restart(2)`; learns whether the call
/// succeeded (see `restore.rs`), then waits for the process unless
/// `opts.detach`. Errors found before the call (a bad image, a pid that is
/// taken) are [`CheckpointError`]s or other errors; a failed call, or a
/// process killed while it was restored, is a [`RestartFailure`], with or
/// without `opts.detach`.
///
/// An image of a process tree (more than one task) is recreated whole as
/// [`forest::plan`](crate::forest::plan) says, with this process as the
/// coordinator and the root's parent (or, with `opts.pidns`, the init of a
/// new pid namespace as both); the outcome is then the root's. So is an
/// image of a whole pid namespace (a pod), whose root becomes pid 1 of new
/// namespaces, even alone.
pub fn restart(input: RestartInput, opts: &RestartOptions<'_>) -> Result<RestartOutcome> {
    use std::io::Seek;
    // The kernel reads the image from a file: a regular file is used as
    // it is; a stream is copied into a memfd first.
    let mut f = match input {
        RestartInput::File(f) => f,
        RestartInput::Stream(mut r) => {
            let memfd =
                nix::sys::memfd::memfd_create(c"ckpt-image", nix::sys::memfd::MFdFlags::empty())
                    .context("memfd_create")?;
            let mut f = File::from(memfd);
            std::io::copy(&mut r, &mut f).context("cannot read the image")?;
            f
        }
    };
    f.rewind()?;
    crate::restore::set_restart_flags(opts)?;
    // The kernel holds every open file of the image until the restart
    // ends and counts them against the restarting process's
    // RLIMIT_NOFILE: allow up to the hard limit (each restored process
    // gets its saved limits back).
    raise_nofile();
    let checking = std::time::Instant::now();
    // Checked whole before anything starts, through a read-only mapping
    // (no copy of a large image in this process's memory).
    let (img, rows) = {
        let len = f.metadata()?.len();
        let map = Mapping::new(&f, len)?;
        let img = crate::inspect::parse(map.bytes())
            .map_err(|e| anyhow::anyhow!("not a valid image: {e}"))?;
        // A tree (more than one task, threads included) is planned from
        // the forest table's rows.
        let rows = if img.tasks.len() > 1 || img.pod.is_some() {
            crate::forest::rows_of_image(map.bytes())?
        } else {
            Vec::new()
        };
        (img, rows)
    };
    if opts.stats {
        eprintln!(
            "ckpt restart: checked the image in {:.6} s",
            checking.elapsed().as_secs_f64()
        );
    }
    if img.tasks.len() > 1 || img.pod.is_some() {
        // Each process's cgroup below the job's ("/": the job itself).
        let cgroups: Vec<(i32, String)> = img
            .states
            .iter()
            .filter(|s| s.mm.is_some())
            .map(|s| (s.pid, s.cgroup.clone().unwrap_or_else(|| "/".to_owned())))
            .collect();
        // Every process of the tree is forked from this one: the parsed
        // image goes before they are, so that none copies it.
        let pod = img.pod.clone();
        drop(img);
        if opts.stats {
            eprintln!("ckpt restart: forks the tree with {}", rss());
        }
        return crate::restart_tree::restart_tree(f, &rows, opts, pod.as_ref(), &cgroups);
    }
    if img.tasks.len() != 1 {
        anyhow::bail!("not a valid image: it holds no task");
    }
    let pid = img.root_pid;
    // A zombie (the killed original, say) holds the pid until its parent
    // reaps it: give the parent a moment.
    let zombie = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    for _ in 0..200 {
        if !zombie() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if !opts.pidns && Path::new(&format!("/proc/{pid}")).exists() {
        return Err(CheckpointError::new(
            Errno::EEXIST,
            format!("pid {pid} is taken by a running process: stop it (for example `ckpt checkpoint --kill` the original) and try again"),
        )
        .into());
    }
    let name = opts
        .name
        .map(str::to_owned)
        .unwrap_or_else(|| format!("restart-{pid}"));
    let cg = cgroup::create(&name)?;
    if cgroup::in_use(&cg)? {
        anyhow::bail!(
            "cgroup {} is in use: give another --name",
            rel(&cg).display()
        );
    }
    // Made straight into its cgroup below the job's, if it was in one.
    let below = img.states.first().and_then(|s| s.cgroup.clone());
    let into = cgroup::make_below(
        &cg,
        &[(pid, below.clone().unwrap_or_else(|| "/".to_owned()))],
    )
    .map(|moves| match below {
        Some(rel) if !moves.is_empty() => cg.join(rel.trim_start_matches('/')),
        _ => cg.clone(),
    });
    let cg_dir = into.and_then(|into| {
        File::open(&into).with_context(|| format!("cannot open {}", into.display()))
    });
    let cg_dir = match cg_dir {
        Ok(d) => d,
        Err(e) => {
            cgroup::remove(&cg);
            return Err(e);
        }
    };
    let marker = marker_for(
        img.tasks
            .first()
            .map(|t| t.comm.as_str())
            .unwrap_or_default(),
    );
    // The restoring process holds the write end of this pipe (with
    // --pidns, the namespace's init does): see `restore`.
    let (report_r, report_w) = restore::pipe().context("cannot create a pipe")?;
    let set_tid = [pid];
    // With --pidns the first child is the init of a new pid namespace and
    // recreates the process with its pid in there.
    let direct = !opts.pidns || pid == 1;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP
            | if opts.pidns {
                nix::libc::CLONE_NEWPID as u64
            } else {
                0
            },
        exit_signal: nix::libc::SIGCHLD as u64,
        set_tid: if opts.pidns {
            0
        } else {
            set_tid.as_ptr() as u64
        },
        set_tid_size: if opts.pidns { 0 } else { 1 },
        cgroup: cg_dir.as_raw_fd() as u64,
        ..Default::default()
    };
    let ret = clone3(&args);
    if ret < 0 {
        let errno = Errno::last();
        close(report_r);
        close(report_w);
        cgroup::remove(&cg);
        let message = match errno {
            Errno::EEXIST => {
                format!("pid {pid} is taken: stop the process that has it and try again")
            }
            Errno::EPERM => {
                "recreating a process with its pid needs CAP_CHECKPOINT_RESTORE (run as root)"
                    .to_owned()
            }
            _ => format!("clone3 with pid {pid} failed: {} ({errno:?})", errno.desc()),
        };
        return Err(CheckpointError::new(errno, message).into());
    }
    if ret == 0 {
        close(report_r);
        if direct {
            restore_self(f.as_raw_fd(), report_w, marker);
        }
        namespace_init(&f, pid, marker, report_w);
    }
    close(report_w);
    let child = ret as i32;
    // Whether restart(2) succeeded, known before detaching or waiting.
    let progress = crate::progress::Progress::start(opts.progress, "ckpt restart", String::new);
    let restored = if direct {
        await_restore(report_r, child, marker, pid).map_err(anyhow::Error::from)
    } else {
        let verdict = restore::decode_verdict(&restore::read_all(report_r));
        close(report_r);
        if verdict.is_err() {
            restore::reap(child);
        }
        verdict
    };
    drop(progress);
    if let Err(e) = restored {
        // Its process is reaped: leave no empty job cgroup behind.
        cgroup::remove(&cg);
        return Err(e);
    }
    if opts.detach {
        return Ok(RestartOutcome::Detached(child));
    }
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(child), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(RestartOutcome::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(RestartOutcome::Signaled(sig as i32)),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waiting for the restarted process"),
        }
    }
}

/// The init of the new pid namespace of a one-process `--pidns` restart:
/// recreates the process with its pid in the namespace, learns whether
/// `restart(2)` succeeded in it, tells the `ckpt` process outside on
/// `verdict` (see [`restore::encode_verdict`]), then waits for it (and
/// reaps whatever else ends up here) and exits with its status.
fn namespace_init(f: &File, pid: i32, marker: &CStr, verdict: RawFd) -> ! {
    let set_tid = [pid];
    let result: Result<i32> = restore::pipe()
        .context("cannot create a pipe in the new pid namespace")
        .and_then(|(report_r, report_w)| {
            let args = CloneArgs {
                exit_signal: nix::libc::SIGCHLD as u64,
                set_tid: set_tid.as_ptr() as u64,
                set_tid_size: 1,
                ..Default::default()
            };
            let inner = clone3(&args);
            if inner == 0 {
                close(report_r);
                close(verdict);
                restore_self(f.as_raw_fd(), report_w, marker);
            }
            close(report_w);
            if inner < 0 {
                close(report_r);
                let errno = Errno::last();
                let message = format!(
                    "clone3 with pid {pid} in the new pid namespace failed: {} ({errno:?})",
                    errno.desc()
                );
                return Err(CheckpointError::new(errno, message).into());
            }
            let inner = inner as i32;
            await_restore(report_r, inner, marker, pid)?;
            Ok(inner)
        });
    let line = restore::encode_verdict(result.as_ref().map(drop));
    let _ = restore::write_all(verdict, line.as_bytes());
    close(verdict);
    let code = match &result {
        Ok(inner) => wait_exit_code(*inner),
        Err(e) => e
            .downcast_ref::<RestartFailure>()
            .map_or(1, |f| i32::from(f.exit_status())),
    };
    // SAFETY: leave without running the parent's exit handlers.
    unsafe { nix::libc::_exit(code) }
}

/// This process's resident memory, as /proc says it.
fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_default()
}
