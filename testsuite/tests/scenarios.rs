//! Host side of the QEMU scenarios: every scenario's result, as the guest
//! reported it, must pass, and its observable state is snapshotted.
//!
//! Run through `cargo xtask qemu-test`, which boots the guest and sets
//! `KCKPT_RESULTS` to the results it collected.

use rstest::rstest;
use std::sync::OnceLock;
use testsuite::{Event, ScenarioResult, SCENARIOS};

fn results() -> &'static Vec<Event> {
    static R: OnceLock<Vec<Event>> = OnceLock::new();
    R.get_or_init(|| {
        let path = std::env::var("KCKPT_RESULTS").expect(
            "KCKPT_RESULTS is not set: these tests check results from the QEMU guest; run `cargo xtask qemu-test`",
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        testsuite::parse_results(&text)
    })
}

fn result_of(name: &str) -> &'static ScenarioResult {
    let started = results()
        .iter()
        .any(|e| matches!(e, Event::Start { scenario } if scenario == name));
    results()
        .iter()
        .find_map(|e| match e {
            Event::Result(r) if r.scenario == name => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| {
            if started {
                panic!("scenario {name} started in the guest but never finished (guest crash or hang: see target/qemu-test/console.log)")
            } else {
                panic!("scenario {name} did not run in the guest (filtered out, or the guest stopped early)")
            }
        })
}

#[rstest]
#[case::layout_selfcheck("layout_selfcheck")]
#[case::single_sleeper("single_sleeper")]
#[case::parent_three_children("parent_three_children")]
#[case::session_two_groups("session_two_groups")]
#[case::zombie_child("zombie_child")]
#[case::four_threads("four_threads")]
#[case::orphan_reparented_to_subreaper("orphan_reparented_to_subreaper")]
#[case::whole_pidns("whole_pidns")]
#[case::tree_100("tree_100")]
#[case::heap_64m("heap_64m")]
#[case::pipe_to_inspect("pipe_to_inspect")]
#[case::err_einval_flags("err_einval_flags")]
#[case::err_einval_not_pidns_init("err_einval_not_pidns_init")]
#[case::err_ebadf("err_ebadf")]
#[case::err_esrch("err_esrch")]
#[case::err_eperm_unprivileged("err_eperm_unprivileged")]
#[case::err_ebusy_not_frozen("err_ebusy_not_frozen")]
#[case::err_eopnotsupp_shared_table("err_eopnotsupp_shared_table")]
#[case::err_restart_bad_calls("err_restart_bad_calls")]
#[case::err_restart_corrupt_images("err_restart_corrupt_images")]
#[case::restart_counter_fpu("restart_counter_fpu")]
#[case::restart_heap_64m("restart_heap_64m")]
#[case::restart_mappings("restart_mappings")]
#[case::restart_in_pause("restart_in_pause")]
#[case::restart_in_futex_wait("restart_in_futex_wait")]
#[case::restart_pipes("restart_pipes")]
#[case::restart_in_sigsuspend("restart_in_sigsuspend")]
#[case::restart_in_wait4("restart_in_wait4")]
#[case::restart_in_nanosleep("restart_in_nanosleep")]
#[case::restart_vdso_clock("restart_vdso_clock")]
#[case::restart_files("restart_files")]
#[case::restart_signals("restart_signals")]
#[case::restart_rseq_robust_limits("restart_rseq_robust_limits")]
#[case::restart_glibc_static("restart_glibc_static")]
#[case::restart_unprivileged_ids("restart_unprivileged_ids")]
#[case::restart_itimer_real("restart_itimer_real")]
#[case::restart_twice("restart_twice")]
#[case::restart_through_pipe("restart_through_pipe")]
#[case::restart_pidns("restart_pidns")]
#[case::restart_100_times_under_load("restart_100_times_under_load")]
#[case::err_restart_pid_taken("err_restart_pid_taken")]
#[case::err_restart_truncated("err_restart_truncated")]
#[case::err_eopnotsupp_not_carried("err_eopnotsupp_not_carried")]
#[case::err_restart_hostile_images("err_restart_hostile_images")]
#[case::err_restart_unprivileged("err_restart_unprivileged")]
#[case::err_checkpoint_thaw_exec_race("err_checkpoint_thaw_exec_race")]
#[case::err_checkpoint_faults("err_checkpoint_faults")]
#[case::err_ckpt_tool_messages("err_ckpt_tool_messages")]
#[case::restart_tree_pipeline("restart_tree_pipeline")]
#[case::restart_tree_shared_stdout("restart_tree_shared_stdout")]
#[case::restart_tree_shared_memory("restart_tree_shared_memory")]
#[case::restart_tree_sessions("restart_tree_sessions")]
#[case::restart_tree_orphan_pgrp("restart_tree_orphan_pgrp")]
#[case::restart_tree_zombie_wait("restart_tree_zombie_wait")]
#[case::restart_tree_ghost_pgid("restart_tree_ghost_pgid")]
#[case::restart_tree_threads_8("restart_tree_threads_8")]
#[case::restart_tree_deep_20("restart_tree_deep_20")]
#[case::restart_tree_1000("restart_tree_1000")]
#[case::err_restart_tree_corrupt("err_restart_tree_corrupt")]
#[case::err_restart_tree_corrupt_images("err_restart_tree_corrupt_images")]
#[case::err_restart_coordinator_killed("err_restart_coordinator_killed")]
fn scenario(#[case] name: &str) {
    let r = result_of(name);
    assert_eq!(r.error, None, "scenario {name} failed in the guest");
    assert!(!r.checks.is_empty(), "scenario {name} made no checks");
    let failed: Vec<_> = r.checks.iter().filter(|c| !c.passed()).collect();
    assert!(
        failed.is_empty(),
        "scenario {name}: failed checks: {failed:#?}"
    );
    // The image tells the same story as /proc, row by row.
    assert_eq!(
        r.image, r.truth,
        "scenario {name}: image differs from /proc"
    );
    assert!(r.ok, "scenario {name} reported not ok");
    insta::assert_yaml_snapshot!(name, r);
}

#[test]
fn every_scenario_has_a_case() {
    // The rstest list above must name every scenario the guest runs.
    let src = include_str!("scenarios.rs");
    for name in SCENARIOS {
        assert!(
            src.contains(&format!("#[case::{name}(\"{name}\")]")),
            "no test case for scenario {name}"
        );
    }
}
