//! Host side of the QEMU scenarios: every scenario's result, as the guest
//! reported it, must pass, and its observable state is snapshotted.
//!
//! Run through `cargo xtask qemu-test`, which boots the guest and sets
//! `KCKPT_RESULTS` to the results it collected.

use std::sync::OnceLock;
use testsuite::{Event, ScenarioResult};

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

/// Asserts scenario `name`'s result and snapshots it.
fn scenario(name: &str) {
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

/// One test per scenario, named after it (so that `cargo test NAME`, and
/// `cargo xtask qemu-test --filter NAME`, pick it).
macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                scenario(stringify!($name));
            }
        )*
    };
}
testsuite::with_scenarios!(scenario_tests);
