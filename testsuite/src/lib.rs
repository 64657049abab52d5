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

/// Every scenario, in the order the guest runs them.
pub const SCENARIOS: &[&str] = &[
    "layout_selfcheck",
    "single_sleeper",
    "parent_three_children",
    "session_two_groups",
    "zombie_child",
    "four_threads",
    "orphan_reparented_to_init",
    "whole_pidns",
    "tree_100",
    "pipe_to_inspect",
    "err_einval_flags",
    "err_einval_not_pidns_init",
    "err_ebadf",
    "err_esrch",
    "err_eperm_unprivileged",
    "err_ebusy_not_frozen",
    "err_enosys_restart",
];

/// One task as seen by /proc (the truth) or as decoded from the image, with
/// pids replaced by stable names: `p1`, `p2`, … in ascending pid order over
/// the tree's tasks, `init` for pid 1, `ext` for any other task outside the
/// tree, `0` for none. Pid values differ between boots; their order and
/// relations do not.
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

/// Replaces pids by stable names (see [`Row`]) and sorts by pid.
pub fn name_rows(rows: &[RawRow]) -> Vec<Row> {
    let mut pids: Vec<i32> = rows.iter().map(|r| r.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    let names: BTreeMap<i32, String> =
        pids.iter().enumerate().map(|(i, p)| (*p, format!("p{}", i + 1))).collect();
    let name = |p: i32| match names.get(&p) {
        Some(n) => n.clone(),
        None if p == 0 => "0".into(),
        None if p == 1 => "init".into(),
        None => "ext".into(),
    };
    let mut sorted: Vec<&RawRow> = rows.iter().collect();
    sorted.sort_by_key(|r| r.pid);
    sorted
        .into_iter()
        .map(|r| Row {
            pid: name(r.pid),
            tgid: name(r.tgid),
            ppid: name(r.ppid),
            sid: name(r.sid),
            pgid: name(r.pgid),
            thread: r.thread,
            zombie: r.zombie,
            exit_code: r.exit_code,
            comm: r.comm.clone(),
        })
        .collect()
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

    fn raw(pid: i32, ppid: i32) -> RawRow {
        RawRow { pid, tgid: pid, ppid, sid: 40, pgid: 40, thread: false, zombie: false, exit_code: 0, comm: "x".into() }
    }

    #[test]
    fn names_follow_pid_order_and_mark_outsiders() {
        let rows = name_rows(&[raw(52, 40), raw(40, 7), raw(41, 1)]);
        let got: Vec<(&str, &str, &str)> =
            rows.iter().map(|r| (r.pid.as_str(), r.ppid.as_str(), r.sid.as_str())).collect();
        assert_eq!(got, [("p1", "ext", "p1"), ("p2", "init", "p1"), ("p3", "p1", "p1")]);
    }

    #[test]
    fn results_stream_skips_noise() {
        let text = "{\"event\":\"start\",\"scenario\":\"a\"}\r\ngarbage\n{\"event\":\"result\",\"scenario\":\"a\",\"ok\":true,\"error\":null,\"truth\":[],\"image\":[],\"checks\":[]}\n";
        let ev = parse_results(text);
        assert_eq!(ev.len(), 2);
        assert!(matches!(&ev[1], Event::Result(r) if r.ok && r.scenario == "a"));
    }
}
