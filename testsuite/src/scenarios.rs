//! The scenarios: each builds a tree, checkpoints it, and checks the image
//! against the truth read from /proc, or checks that a bad call fails with
//! the right errno and writes nothing.

use crate::truth::{ns_view, process_view, read_tree};
use anyhow::{bail, Context, Result};
use ckpt::{cgroup, sys_checkpoint, sys_restart};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, setgid, setuid, ForkResult, Gid, Pid, Uid};
use serde::Deserialize;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testsuite::{Check, Namer, RawRow, ScenarioResult};

mod compare;
mod dump;
mod errors;
pub(crate) mod faults;
pub(crate) mod hostile;
pub(crate) mod images;
mod kmsg;
mod kselftest;
mod live;
mod man;
mod pod;
mod pod_net;
mod pod_tmpfs;
mod real;
mod restart;
mod tool;
mod tree;

use compare::*;
use dump::*;
use errors::*;
pub(crate) use kmsg::*;
use real::*;
use restart::*;

pub(crate) const CKPT: &str = "/bin/ckpt";

/// Whether `ckpt inspect` of the image at `img` says it was taken
/// copy-on-write (its header's flag), which `--stats` cannot always tell:
/// a small image may be all written before ckpt has thawed the tree.
pub(crate) fn taken_cow(img: &str) -> Result<bool> {
    let out = std::process::Command::new(CKPT)
        .args(["inspect", img])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.starts_with("copy-on-write: the tree ran on while its ")))
}
const READY_TIMEOUT: Duration = Duration::from_secs(20);
pub(crate) const SUBTREE: u64 = ckpt_image::CHECKPOINT_SUBTREE;

/// What `ckpt inspect --json` prints (the fields checked here).
#[derive(Deserialize)]
struct InspectJson {
    header: InspectHeader,
    root_pid: i32,
    tasks: Vec<InspectTask>,
}

#[derive(Deserialize)]
struct InspectHeader {
    version: u32,
    release: String,
}

#[derive(Deserialize)]
struct InspectTask {
    pid: i32,
    tgid: i32,
    ppid: i32,
    sid: i32,
    pgid: i32,
    thread: bool,
    zombie: bool,
    root: bool,
    exit_code: i32,
    comm: String,
}

/// A running workload in its own cgroup, killed when dropped.
pub(crate) struct Workload {
    pub(crate) pid: i32,
    pub(crate) cg: PathBuf,
}

impl Workload {
    pub(crate) fn start(scenario: &str, kind: &str) -> Result<Self> {
        Self::start_with(scenario, kind, READY_TIMEOUT)
    }

    /// [`Workload::start`], waiting at most `ready_timeout` for the tree.
    pub(crate) fn start_with(scenario: &str, kind: &str, ready_timeout: Duration) -> Result<Self> {
        let ready = PathBuf::from(format!("/tmp/ready-{scenario}"));
        let _ = fs::remove_file(&ready);
        let exe = std::env::current_exe().context("locating ckpt-scenarios")?;
        let argv: Vec<OsString> = match kind {
            // A static glibc program of its own (testsuite/c).
            "glibc_counter" => vec!["/bin/glibc-counter".into(), ready.clone().into()],
            _ => vec![
                exe.into(),
                "workload".into(),
                kind.into(),
                ready.clone().into(),
            ],
        };
        let log = PathBuf::from(format!("/tmp/{scenario}.log"));
        let opts = ckpt::RunOptions {
            name: Some(scenario),
            log: Some(&log),
            ..Default::default()
        };
        Self::run_until_ready(
            &opts,
            &argv,
            &ready,
            ready_timeout,
            &format!("workload {kind}"),
        )
    }

    /// Starts `argv` as `ckpt run` does with `opts` and waits at most
    /// `timeout` for its ready file `ready`: the workload, killed when
    /// dropped. `what` names it in the error, with its log.
    pub(crate) fn run_until_ready(
        opts: &ckpt::RunOptions<'_>,
        argv: &[OsString],
        ready: &Path,
        timeout: Duration,
        what: &str,
    ) -> Result<Self> {
        let pid = ckpt::run_with(opts, argv).with_context(|| format!("ckpt run of {what}"))?;
        let w = Workload {
            pid,
            cg: cgroup::of_pid(pid)?,
        };
        let start = Instant::now();
        while !ready.exists() {
            if start.elapsed() > timeout {
                let log = opts.log.map(fs::read_to_string);
                bail!(
                    "{what} not ready after {timeout:?}: {}",
                    log.and_then(Result::ok).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(w)
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = cgroup::thaw(&self.cg);
        let _ = cgroup::kill(&self.cg);
        // Reap the root (our child); orphans go to the runner, a subreaper.
        let _ = waitpid(Pid::from_raw(self.pid), None);
        for _ in 0..100 {
            if fs::remove_dir(&self.cg).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A `ckpt` command's outcome as one line: `exit CODE` and its message,
/// if any.
fn exit_line(o: &std::process::Output) -> String {
    format!(
        "exit {} {}",
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).trim()
    )
    .trim_end()
    .to_owned()
}

/// The pid a `ckpt` command printed (`ckpt restart --detach`), or 0.
fn printed_pid(o: &std::process::Output) -> i32 {
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Collects checks into a result.
struct Checks(Vec<Check>);

impl Checks {
    fn eq(&mut self, what: impl Into<String>, expected: impl ToString, got: impl ToString) {
        self.0.push(Check {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        });
    }

    /// Checks that two values that vary between runs (addresses) are equal;
    /// records "equal" when they are, so the result is the same every run.
    fn same(&mut self, what: impl Into<String>, expected: String, got: String) {
        if expected == got {
            self.eq(what, "equal", "equal");
        } else {
            self.eq(what, expected, got);
        }
    }

    fn errno(&mut self, what: &str, expected: Errno, got: Result<(), Errno>) {
        let got = match got {
            Ok(()) => "success".to_string(),
            Err(e) => format!("{e:?}"),
        };
        self.eq(what, format!("{expected:?}"), got);
    }
}

fn errno_name(e: Errno) -> String {
    format!("{e:?}")
}

/// The children of process `pid` (of its main thread), oldest first.
pub(crate) fn children_of(pid: i32) -> Result<Vec<i32>> {
    let text = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
    Ok(text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?)
}

/// The `n`th child of process `pid`.
pub(crate) fn nth_child(pid: i32, n: usize) -> Result<i32> {
    children_of(pid)?
        .get(n)
        .copied()
        .with_context(|| format!("process {pid} has no child number {n}"))
}

pub(crate) fn output_file(name: &str) -> Result<(PathBuf, File)> {
    let p = PathBuf::from(format!("/tmp/{name}.img"));
    let f = File::create(&p)?;
    Ok((p, f))
}

pub(crate) fn size(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(u64::MAX)
}

fn checks_only(r: Result<Vec<Check>>) -> Result<ScenarioResult> {
    r.map(|checks| ScenarioResult {
        checks,
        ..Default::default()
    })
}

/// Runs one scenario in this process.
/// The code of scenario `name` (called with its name), or `None` for a
/// name that is no scenario.
fn scenario_fn(name: &str) -> Option<fn(&str) -> Result<ScenarioResult>> {
    Some(match name {
        "layout_selfcheck" => |_| checks_only(layout_selfcheck()),
        "single_sleeper" => |name| tree_scenario(name, "sleeper", None, SUBTREE),
        "parent_three_children" => {
            |name| tree_scenario(name, "parent_three_children", None, SUBTREE)
        }
        "session_two_groups" => |name| tree_scenario(name, "session_two_groups", None, SUBTREE),
        "zombie_child" => |name| tree_scenario(name, "zombie_child", None, SUBTREE),
        "four_threads" => |name| tree_scenario(name, "four_threads", None, SUBTREE),
        "orphan_reparented_to_subreaper" => {
            |name| tree_scenario(name, "orphan_subreaper", None, SUBTREE)
        }
        "whole_pidns" => |name| tree_scenario(name, "orphan", Some(ns_init_of), 0),
        "tree_100" => |name| tree_scenario(name, "tree_100", None, SUBTREE),
        "heap_64m" => |name| tree_scenario(name, "heap_64m", None, SUBTREE),
        "pipe_to_inspect" => |name| pipe_to_inspect(name),
        "err_einval_flags" => |name| checks_only(err_einval_flags(name)),
        "err_einval_not_pidns_init" => |name| checks_only(err_einval_not_pidns_init(name)),
        "err_ebadf" => |name| checks_only(err_ebadf(name)),
        "err_esrch" => |name| checks_only(err_esrch(name)),
        "err_eperm_unprivileged" => |name| checks_only(err_eperm_unprivileged(name)),
        "err_ebusy_not_frozen" => |name| checks_only(err_ebusy_not_frozen(name)),
        "err_eopnotsupp_shared_mm" => |name| checks_only(err_eopnotsupp_shared_mm(name)),
        "err_restart_bad_calls" => |name| checks_only(err_restart_bad_calls(name)),
        "err_restart_corrupt_images" => |name| checks_only(restart_corrupt_images(name, 200)),
        "restart_counter_fpu" => |name| restart_scenario(name, "counter_fpu", Restart::Once),
        "restart_heap_64m" => |name| restart_scenario(name, "heap_check", Restart::Once),
        "restart_mappings" => |name| restart_scenario(name, "mappings_check", Restart::Once),
        "restart_mappings_cow" => |name| restart_scenario(name, "mappings_check", Restart::Cow),
        "restart_in_pause" => |name| restart_scenario(name, "sleeper", Restart::Once),
        "restart_in_futex_wait" => |name| restart_scenario(name, "futex_wait", Restart::Once),
        "restart_pipes" => |name| restart_scenario(name, "pipe_check", Restart::Once),
        "restart_eventfd" => |name| restart_scenario(name, "eventfd_check", Restart::Once),
        "restart_signalfd" => |name| restart_scenario(name, "signalfd_check", Restart::Once),
        "restart_fifo" => |name| restart_scenario(name, "fifo_check", Restart::Once),
        "restart_timerfd" => |name| restart_scenario(name, "timerfd_check", Restart::Once),
        "restart_epoll" => |name| restart_scenario(name, "epoll_check", Restart::Once),
        "restart_unix_pairs" => |name| restart_scenario(name, "unix_check", Restart::Once),
        "restart_unix_named" => |name| restart_scenario(name, "unix_named_check", Restart::Once),
        "restart_unix_rights" => |name| restart_scenario(name, "unix_rights_check", Restart::Once),
        "restart_unix_pending" => {
            |name| restart_scenario(name, "unix_pending_check", Restart::Once)
        }
        "restart_file_locks" => |name| restart_scenario(name, "locks_check", Restart::Once),
        "restart_memfd" => |name| restart_scenario(name, "memfd_check", Restart::Once),
        "restart_memfd_cow" => |name| restart_scenario(name, "memfd_check", Restart::Cow),
        "restart_anon_shared_fd" => {
            |name| restart_scenario(name, "anon_shared_check", Restart::Once)
        }
        "restart_pty" => |name| restart_scenario(name, "pty_check", Restart::Once),
        "restart_deleted" => |name| restart_scenario(name, "deleted_check", Restart::Once),
        "restart_deleted_in" => {
            |name| restart_scenario(name, "deleted_dir_check", Restart::DeletedIn)
        }
        "restart_inotify" => |name| restart_scenario(name, "inotify_check", Restart::Once),
        "restart_fown" => |name| restart_scenario(name, "fown_check", Restart::Once),
        "restart_lease" => |name| restart_scenario(name, "lease_check", Restart::Once),
        "restart_ns_files" => |name| restart_scenario(name, "ns_files_check", Restart::Once),
        "real_syslogd" => |name| real_syslogd(name),
        "real_tail" => |name| real_tail(name),
        "real_timeout" => |name| real_timeout(name),
        "real_python" => |name| real_python(name),
        "real_sqlite3" => |name| real_sqlite3(name),
        "real_sqlite3_temp" => |name| real_sqlite3_temp(name),
        "real_tmux" => |name| real_tmux(name),
        "restart_in_sigsuspend" => |name| restart_scenario(name, "sigsuspend_check", Restart::Once),
        "restart_in_wait4" => |name| restart_in_wait4(name),
        "restart_in_nanosleep" => |name| restart_scenario(name, "nanosleep_once", Restart::Once),
        "restart_in_poll" => |name| restart_scenario(name, "poll_once", Restart::Once),
        "restart_in_timed_futex" => |name| restart_scenario(name, "futex_timed", Restart::Once),
        "restart_vdso_clock" => |name| restart_scenario(name, "vdso_clock", Restart::Once),
        "restart_files" => |name| restart_scenario(name, "files_check", Restart::Once),
        "restart_signals" => |name| restart_scenario(name, "signals_check", Restart::Once),
        "restart_rseq_robust_limits" => |name| restart_scenario(name, "misc_check", Restart::Once),
        "restart_glibc_static" => |name| restart_scenario(name, "glibc_counter", Restart::Once),
        "restart_unprivileged_ids" => |name| restart_scenario(name, "creds_check", Restart::Once),
        "restart_itimer_real" => |name| restart_scenario(name, "itimer_check", Restart::Once),
        "restart_stopped" => |name| restart_scenario(name, "stopped_check", Restart::Twice),
        "restart_posix_timers" => {
            |name| restart_scenario(name, "posix_timers_check", Restart::Twice)
        }
        "restart_sched" => |name| restart_scenario(name, "sched_check", Restart::Once),
        "restart_caps_ambient" => |name| restart_scenario(name, "caps_check", Restart::Once),
        "restart_vma_flags" => |name| restart_scenario(name, "vma_flags_check", Restart::Once),
        "restart_vma_flags_cow" => |name| restart_scenario(name, "vma_flags_check", Restart::Cow),
        "restart_twice" => |name| restart_scenario(name, "counter_fpu", Restart::Twice),
        "restart_through_pipe" => |name| restart_scenario(name, "counter_fpu", Restart::Pipe),
        "restart_pidns" => |name| restart_pidns(name),
        "restart_pod" => |name| pod::restart_pod(name),
        "restart_pod_sysv" => |name| pod::restart_pod_sysv(name),
        "restart_pod_mqueue" => |name| pod::restart_pod_mqueue(name),
        "restart_pod_tmpfs" => |name| pod_tmpfs::restart_pod_tmpfs(name),
        "restart_pod_net" => |name| pod_net::restart_pod_net(name),
        "restart_pod_inet" => |name| pod_net::restart_pod_inet(name),
        "restart_pod_tcp" => |name| pod_net::restart_pod_tcp(name),
        "restart_pod_tcp_closing" => |name| pod_net::restart_pod_tcp_closing(name),
        "restart_pod_tcp_pending" => |name| pod_net::restart_pod_tcp_pending(name),
        "restart_pod_tcp_opening" => |name| pod_net::restart_pod_tcp_opening(name),
        "restart_pod_tcp_urgent" => |name| pod_net::restart_pod_tcp_urgent(name),
        "restart_pod_packet" => |name| pod_net::restart_pod_packet(name),
        "restart_pod_icmp" => |name| pod_net::restart_pod_icmp(name),
        "restart_tcp_outside_peer" => |name| pod_net::restart_tcp_outside_peer(name),
        "real_busybox_net_pod" => |name| real::real_busybox_net_pod(name),
        "real_busybox_ping_pod" => |name| real::real_busybox_ping_pod(name),
        "real_busybox_udhcpc_pod" => |name| real::real_busybox_udhcpc_pod(name),
        "real_iputils_ping_pod" => |name| real::real_iputils_ping_pod(name),
        "real_iputils_ping_raw_pod" => |name| real::real_iputils_ping_raw_pod(name),
        "real_python_server_queue" => |name| real::real_python_server_queue(name),
        "real_wget_mid_transfer" => |name| real::real_wget_mid_transfer(name),
        "real_python_epoll_server" => |name| real::real_python_epoll_server(name),
        "real_python_pod" => |name| real::real_python_pod(name),
        "real_python_cow" => |name| real::real_python_cow(name),
        "real_ipcs" => |name| pod::real_ipcs(name),
        "restart_tree_cgroups" => |name| pod::restart_tree_cgroups(name),
        "restart_pod_cgroups" => |name| pod::restart_pod_cgroups(name),
        "restart_sysv_attached" => |name| pod::restart_sysv_attached(name),
        "restart_100_times_under_load" => |name| checks_only(restart_many(name, 100)),
        "err_restart_pid_taken" => |name| checks_only(err_restart_pid_taken(name)),
        "err_restart_truncated" => |name| checks_only(err_restart_truncated(name)),
        "err_efbig_deleted_file" => |name| checks_only(err_efbig_deleted_file(name)),
        "err_eopnotsupp_not_carried" => |name| checks_only(err_eopnotsupp_not_carried(name)),
        "err_eopnotsupp_pod_not_carried" => {
            |name| checks_only(err_eopnotsupp_pod_not_carried(name))
        }
        "err_restart_hostile_images" => {
            |name| checks_only(images::err_restart_hostile_images(name))
        }
        "err_restart_unprivileged" => |name| checks_only(hostile::err_restart_unprivileged(name)),
        "err_checkpoint_thaw_exec_race" => {
            |name| checks_only(faults::err_checkpoint_thaw_exec_race(name))
        }
        "err_checkpoint_faults" => |name| checks_only(faults::err_checkpoint_faults(name)),
        "err_ckpt_tool_messages" => |name| checks_only(tool::err_ckpt_tool_messages(name)),
        "man_examples" => |name| checks_only(man::man_examples(name)),
        "ckpt_output_files" => |name| checks_only(tool::ckpt_output_files(name)),
        "ckpt_progress" => |name| checks_only(tool::ckpt_progress(name)),
        "ckpt_diff_round_trip" => |name| checks_only(tool::ckpt_diff_round_trip(name)),
        "kselftest_checkpoint" => |name| checks_only(kselftest::kselftest_checkpoint(name)),
        "checkpoint_cow_rewrite" => |name| checks_only(live::checkpoint_cow_rewrite(name)),
        "checkpoint_cow_killed" => |name| checks_only(live::checkpoint_cow_killed(name)),
        "restart_tree_pipeline" => |name| tree::restart_tree_scenario(name, "pipeline"),
        "restart_tree_shared_stdout" => |name| tree::restart_tree_scenario(name, "shared_stdout"),
        "restart_tree_sessions" => |name| tree::restart_tree_scenario(name, "sessions"),
        "restart_tree_shared_memory" => |name| tree::restart_tree_scenario(name, "shared_memory"),
        "restart_tree_shared_memory_live" => {
            |name| tree::restart_tree_cow_scenario(name, "shared_memory")
        }
        "restart_tree_pty" => |name| tree::restart_tree_scenario(name, "pty_session"),
        "restart_tree_pidfd" => |name| tree::restart_tree_scenario(name, "pidfd_tree"),
        "restart_tree_shared_tables" => |name| tree::restart_tree_scenario(name, "shared_tables"),
        "restart_tree_cow_shared" => |name| tree::restart_tree_scenario(name, "cow_shared"),
        "restart_tree_1000_cow" => |name| tree::restart_tree_cow_scenario(name, "tree_1000"),
        "restart_tree_cow_shared_live" => {
            |name| tree::restart_tree_cow_scenario(name, "cow_shared")
        }
        "err_restart_coordinator_killed" => {
            |name| checks_only(tree::err_restart_coordinator_killed(name))
        }
        "err_restart_tree_corrupt_images" => {
            |name| checks_only(tree::err_restart_tree_corrupt_images(name, 50))
        }
        "restart_tree_orphan_pgrp" => |name| tree::restart_tree_scenario(name, "orphan_pgrp"),
        "restart_tree_zombie_wait" => |name| tree::restart_tree_scenario(name, "zombie_wait"),
        "restart_tree_ghost_pgid" => |name| tree::restart_tree_scenario(name, "ghost_pgid"),
        "restart_tree_threads_8" => |name| tree::restart_tree_scenario(name, "threads_8"),
        "restart_tree_deep_20" => |name| tree::restart_tree_scenario(name, "deep_20"),
        "restart_tree_1000" => |name| tree::restart_tree_scenario(name, "tree_1000"),
        "err_restart_tree_corrupt" => |name| tree::err_restart_tree_corrupt(name),
        _ => return None,
    })
}

pub fn run(name: &str) -> ScenarioResult {
    let r = match scenario_fn(name) {
        Some(f) => f(name),
        None => Err(anyhow::anyhow!("unknown scenario {name:?}")),
    };
    let mut res = r.unwrap_or_else(|e| ScenarioResult {
        error: Some(format!("{e:#}")),
        ..Default::default()
    });
    res.scenario = name.to_string();
    res.ok = res.error.is_none() && !res.checks.is_empty() && res.checks.iter().all(Check::passed);
    res
}

#[cfg(test)]
mod tests {
    /// Every scenario of the one list has code, and nothing else does.
    #[test]
    fn every_listed_scenario_has_code() {
        for name in testsuite::SCENARIOS {
            assert!(
                super::scenario_fn(name).is_some(),
                "no code for scenario {name}"
            );
        }
        assert!(super::scenario_fn("no_such_scenario").is_none());
    }
}
