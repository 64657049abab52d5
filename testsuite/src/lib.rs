//! kernel-ckpt test scenarios: what the guest runner reports and the host
//! checks.
//!
//! The guest binary `ckpt-scenarios` (src/main.rs) runs every scenario inside
//! the QEMU guest and writes one JSON object per line to the second serial
//! port: a `start` event when a scenario begins and a `result` when it ends.
//! `cargo xtask qemu-test` saves those lines; tests/scenarios.rs asserts each
//! result and snapshots it with insta.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

pub mod bench_report;
pub mod state;

/// Calls macro `$m` with the name of every scenario, in the order the
/// guest runs them: the one list of scenarios. It makes [`SCENARIOS`] here
/// and one test per scenario in `tests/scenarios.rs`; the guest binary maps
/// each name to its code (`scenarios::scenario_fn`, whose unit test checks
/// that none is missing).
#[macro_export]
macro_rules! with_scenarios {
    ($m:ident) => {
        $m! {
            layout_selfcheck,
            err_restart_unprivileged,
            err_checkpoint_thaw_exec_race,
            err_checkpoint_faults,
            err_ckpt_tool_messages,
            man_examples,
            ckpt_output_files,
            ckpt_progress,
            ckpt_diff_round_trip,
            kselftest_checkpoint,
            single_sleeper,
            parent_three_children,
            session_two_groups,
            zombie_child,
            four_threads,
            orphan_reparented_to_subreaper,
            whole_pidns,
            tree_100,
            heap_64m,
            pipe_to_inspect,
            err_einval_flags,
            err_einval_not_pidns_init,
            err_ebadf,
            err_esrch,
            err_eperm_unprivileged,
            err_ebusy_not_frozen,
            err_eopnotsupp_shared_mm,
            err_restart_bad_calls,
            err_restart_corrupt_images,
            restart_counter_fpu,
            restart_heap_64m,
            restart_mappings,
            restart_mappings_cow,
            restart_in_pause,
            restart_in_futex_wait,
            restart_pipes,
            restart_eventfd,
            restart_signalfd,
            restart_fifo,
            restart_timerfd,
            restart_epoll,
            restart_unix_pairs,
            restart_unix_named,
            restart_unix_rights,
            restart_unix_pending,
            restart_file_locks,
            restart_memfd,
            restart_memfd_cow,
            restart_anon_shared_fd,
            restart_pty,
            restart_deleted,
            restart_deleted_in,
            restart_inotify,
            restart_fown,
            restart_lease,
            restart_ns_files,
            real_syslogd,
            real_tail,
            real_timeout,
            real_python,
            real_sqlite3,
            real_sqlite3_temp,
            real_tmux,
            restart_in_sigsuspend,
            restart_in_wait4,
            restart_in_nanosleep,
            restart_in_poll,
            restart_in_timed_futex,
            restart_vdso_clock,
            restart_files,
            restart_signals,
            restart_rseq_robust_limits,
            restart_glibc_static,
            restart_unprivileged_ids,
            restart_itimer_real,
            restart_posix_timers,
            restart_stopped,
            restart_sched,
            restart_caps_ambient,
            restart_vma_flags,
            restart_vma_flags_cow,
            restart_twice,
            restart_through_pipe,
            restart_pidns,
            restart_pod,
            restart_pod_sysv,
            restart_pod_mqueue,
            restart_pod_tmpfs,
            restart_pod_net,
            restart_pod_inet,
            restart_pod_tcp,
            restart_pod_tcp_closing,
            restart_pod_tcp_pending,
            restart_pod_tcp_opening,
            restart_pod_tcp_urgent,
            restart_pod_packet,
            restart_pod_icmp,
            restart_tcp_outside_peer,
            real_busybox_net_pod,
            real_busybox_ping_pod,
            real_busybox_udhcpc_pod,
            real_iputils_ping_pod,
            real_iputils_ping_raw_pod,
            real_python_server_queue,
            real_wget_mid_transfer,
            real_python_epoll_server,
            real_python_pod,
            real_python_cow,
            real_ipcs,
            restart_tree_cgroups,
            restart_pod_cgroups,
            restart_sysv_attached,
            restart_100_times_under_load,
            restart_tree_pipeline,
            restart_tree_shared_stdout,
            restart_tree_shared_memory,
            restart_tree_shared_memory_live,
            restart_tree_pty,
            restart_tree_pidfd,
            restart_tree_shared_tables,
            restart_tree_cow_shared,
            restart_tree_cow_shared_live,
            checkpoint_cow_rewrite,
            checkpoint_cow_killed,
            restart_tree_sessions,
            restart_tree_orphan_pgrp,
            restart_tree_zombie_wait,
            restart_tree_ghost_pgid,
            restart_tree_threads_8,
            restart_tree_deep_20,
            err_restart_pid_taken,
            err_restart_truncated,
            err_eopnotsupp_not_carried,
            err_eopnotsupp_pod_not_carried,
            err_efbig_deleted_file,
            err_restart_hostile_images,
            err_restart_tree_corrupt,
            err_restart_tree_corrupt_images,
            err_restart_coordinator_killed,
            restart_tree_1000,
            restart_tree_1000_cow
        }
    };
}

macro_rules! scenario_names {
    ($($name:ident),* $(,)?) => {
        /// Every scenario, in the order the guest runs them.
        pub const SCENARIOS: &[&str] = &[$(stringify!($name)),*];
    };
}
with_scenarios!(scenario_names);

/// Scenarios that need more time than the runner's default limit (the
/// guest runs under TCG: 1,000 processes are forked, checkpointed,
/// recreated and restored one by one), in seconds.
const SLOW_SCENARIOS: &[(&str, u64)] =
    &[("restart_tree_1000", 300), ("restart_tree_1000_cow", 300)];

/// The time limit of scenario `name`: `default`, or more for a slow one.
pub fn scenario_timeout(name: &str, default: Duration) -> Duration {
    SLOW_SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(default, |(_, s)| default.max(Duration::from_secs(*s)))
}

/// One task as seen by /proc (the truth) or as decoded from the image, with
/// pids replaced by stable names (see [`Namer`]): `p1`, `p2`, … for the
/// tree's tasks, `init` for pid 1, `ext` for any other task outside the
/// tree, `0` for none. Pid values and their order differ between runs; the
/// relations between tasks do not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub pid: String,
    pub tgid: String,
    pub ppid: String,
    pub sid: String,
    pub pgid: String,
    pub thread: bool,
    pub zombie: bool,
    /// Wait status of a zombie, else 0.
    pub exit_code: i32,
    pub comm: String,
}

/// A row with numeric pids, before naming.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RawRow {
    pub pid: i32,
    pub tgid: i32,
    pub ppid: i32,
    pub sid: i32,
    pub pgid: i32,
    pub thread: bool,
    pub zombie: bool,
    pub exit_code: i32,
    pub comm: String,
}

/// Names the pids of one tree (see [`Row`]).
pub struct Namer(BTreeMap<i32, (usize, String)>);

impl Namer {
    /// Names the tasks of `rows` `p1`, `p2`, … ordered by depth in the tree,
    /// then command name, then pid. Pids are allocated in whatever order
    /// the tasks happen to fork, so the pid alone would not give the same
    /// names on every run; the scenarios give tasks distinct names.
    pub fn new(rows: &[RawRow]) -> Self {
        let by_pid: BTreeMap<i32, &RawRow> = rows.iter().map(|r| (r.pid, r)).collect();
        let depth = |r: &RawRow| {
            let mut d = 0usize;
            let mut cur = r;
            // Bounded by the number of rows, so a bad cycle cannot hang.
            for _ in 0..rows.len() {
                let up = if cur.thread { cur.tgid } else { cur.ppid };
                match by_pid.get(&up) {
                    Some(p) if p.pid != cur.pid => {
                        d += 1;
                        cur = p;
                    }
                    _ => break,
                }
            }
            d
        };
        let mut order: Vec<(usize, &str, i32)> = by_pid
            .values()
            .map(|r| (depth(r), r.comm.as_str(), r.pid))
            .collect();
        order.sort_unstable();
        Self(
            order
                .iter()
                .enumerate()
                .map(|(i, (_, _, pid))| (*pid, (i, format!("p{}", i + 1))))
                .collect(),
        )
    }

    /// The position of `pid` in the naming order (`p1` is 0), if it is a
    /// task of the tree.
    pub fn order(&self, pid: i32) -> Option<usize> {
        self.0.get(&pid).map(|(i, _)| *i)
    }

    /// The name of `pid`.
    pub fn name(&self, pid: i32) -> String {
        match self.0.get(&pid) {
            Some((_, n)) => n.clone(),
            None if pid == 0 => "0".into(),
            None if pid == 1 => "init".into(),
            None => "ext".into(),
        }
    }

    /// `r` with its pids named.
    pub fn row(&self, r: &RawRow) -> Row {
        Row {
            pid: self.name(r.pid),
            tgid: self.name(r.tgid),
            ppid: self.name(r.ppid),
            sid: self.name(r.sid),
            pgid: self.name(r.pgid),
            thread: r.thread,
            zombie: r.zombie,
            exit_code: r.exit_code,
            comm: r.comm.clone(),
        }
    }

    /// `rows` named with this namer, in name order (unknown pids last).
    pub fn rows(&self, rows: &[RawRow]) -> Vec<Row> {
        let mut sorted: Vec<&RawRow> = rows.iter().collect();
        sorted.sort_by_key(|r| (self.0.get(&r.pid).map_or(usize::MAX, |(i, _)| *i), r.pid));
        sorted.into_iter().map(|r| self.row(r)).collect()
    }
}

/// Replaces pids by stable names (see [`Row`]) and sorts by pid.
pub fn name_rows(rows: &[RawRow]) -> Vec<Row> {
    Namer::new(rows).rows(rows)
}

/// One explicit check of a scenario: what was expected and what was seen.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub what: String,
    pub expected: String,
    pub got: String,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.expected == self.got
    }
}

/// The outcome of one scenario.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ScenarioResult {
    pub scenario: String,
    /// True when every check passed and nothing failed along the way.
    pub ok: bool,
    /// A failure that stopped the scenario (setup error, timeout).
    pub error: Option<String>,
    /// The tree read from /proc while frozen, named.
    pub truth: Vec<Row>,
    /// The tree decoded from the image, named the same way.
    pub image: Vec<Row>,
    /// Explicit checks (errnos, messages, counts, field comparisons).
    pub checks: Vec<Check>,
    /// A line per saved task state: what was saved (named pids, counts).
    #[serde(default)]
    pub state: Vec<String>,
}

/// A line of the results stream.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    Start { scenario: String },
    Result(ScenarioResult),
}

/// Parses the results stream, skipping lines that are not events (the
/// serial port may carry a stray partial line if the guest died).
pub fn parse_results(text: &str) -> Vec<Event> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pid: i32, ppid: i32, comm: &str) -> RawRow {
        RawRow {
            pid,
            tgid: pid,
            ppid,
            sid: 40,
            pgid: 40,
            thread: false,
            zombie: false,
            exit_code: 0,
            comm: comm.into(),
        }
    }

    #[test]
    fn names_follow_depth_then_comm_and_mark_outsiders() {
        let mut rows = vec![
            raw(52, 40, "b"),
            raw(40, 7, "root"),
            raw(45, 40, "a"),
            raw(41, 1, "z"),
        ];
        rows.push(RawRow {
            thread: true,
            tgid: 45,
            ..raw(46, 40, "a-thread")
        });
        let got: Vec<(String, String, String)> = name_rows(&rows)
            .into_iter()
            .map(|r| (r.pid, r.ppid, r.tgid))
            .collect();
        let want = [
            ("p1", "ext", "p1"),
            ("p2", "init", "p2"),
            ("p3", "p1", "p3"),
            ("p4", "p1", "p4"),
            ("p5", "p1", "p3"),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        // 40 and 41 have no parent in the tree (depth 0, "root" < "z"), 45
        // and 52 are their children (depth 1, "a" < "b"), 46 a thread of 45.
        assert_eq!(got, want);
    }

    #[test]
    fn slow_scenarios_get_more_time_never_less() {
        let d = Duration::from_secs(120);
        assert_eq!(scenario_timeout("tree_100", d), d);
        assert_eq!(
            scenario_timeout("restart_tree_1000", d),
            Duration::from_secs(300)
        );
        let long = Duration::from_secs(900);
        assert_eq!(scenario_timeout("restart_tree_1000", long), long);
        for (name, _) in SLOW_SCENARIOS {
            assert!(SCENARIOS.contains(name), "{name} is no scenario");
        }
    }

    #[test]
    fn results_stream_skips_noise() {
        let text = "{\"event\":\"start\",\"scenario\":\"a\"}\r\ngarbage\n{\"event\":\"result\",\"scenario\":\"a\",\"ok\":true,\"error\":null,\"truth\":[],\"image\":[],\"checks\":[]}\n";
        let ev = parse_results(text);
        assert_eq!(ev.len(), 2);
        assert!(matches!(&ev[1], Event::Result(r) if r.ok && r.scenario == "a"));
    }
}
