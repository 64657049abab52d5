//! `cargo xtask qemu-test`: the guest scenario suite.
//!
//! Boots the test kernel with `kckpt.mode=test`: the guest's /init runs
//! `ckpt-scenarios`, which writes one JSON object per line to ttyS1
//! (`{"event":"start","scenario":NAME}`, then
//! `{"event":"result","scenario":NAME,"ok":bool,...}`), and prints
//! `KCKPT-DONE` on the console at the end. On the host:
//! - ttyS0 → target/qemu-test/console.log, scanned for kernel splats;
//! - ttyS1 → target/qemu-test/results.jsonl, checked by
//!   `cargo test -p testsuite --test scenarios` (insta snapshots) with
//!   `KCKPT_RESULTS` pointing at it.
//!
//! With `--debug-kernel` the guest boots target/bzImage-debug (see
//! [`Flavor::Debug`]) with its own initramfs copy, and everything goes to
//! target/qemu-test-debug/ instead. The runner gets a longer per-scenario
//! timeout (`kckpt.timeout`), /init runs a kmemleak scan after the suite
//! (`kckpt.kmemleak=1`) and prints what it found, and the console must show
//! kernel-ckpt's layout self-check passing and that scan done.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::kernel::{self, Flavor, KernelArgs};
use crate::qemu::{self, Boot, DONE_MARKER};
use crate::{initramfs, rel, Ctx, Timings};

#[derive(clap::Args, Clone)]
pub struct QemuTestArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// Run only this scenario (passed to the guest as kckpt.filter=NAME).
    #[arg(long, value_name = "NAME")]
    pub filter: Option<String>,
    /// Kill the guest after this many seconds (the whole boot) [default: 600,
    /// 1800 with --debug-kernel].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

/// The whole boot's time limit of the normal kernel and of the debug kernel.
const GUEST_TIMEOUT: u64 = 600;
const DEBUG_GUEST_TIMEOUT: u64 = 1800;

/// The runner's per-scenario timeout on the debug kernel (`--timeout` of
/// `ckpt-scenarios run-all`, 120 s by default; the slow scenarios keep their
/// own longer limits).
const DEBUG_SCENARIO_TIMEOUT: u64 = 360;

/// The line kernel-ckpt's boot self-check prints when bindgen's layouts match C's.
const LAYOUT_PASSED: &str = "ckpt: layout self-check passed";

/// The lines /init prints after its kmemleak scan (qemu/init).
const KMEMLEAK_DONE: &str = "kckpt-kmemleak: scan done";
const KMEMLEAK_FAILED: &str = "kckpt-kmemleak: FAILED";

/// Everything after setup: kernel, initramfs, boot, checks.
pub fn qemu_test(ctx: &Ctx, args: &QemuTestArgs, timings: &mut Timings) -> Result<()> {
    let flavor = args.kernel.flavor();
    let mut append = vec!["kckpt.mode=test".to_string()];
    if let Some(filter) = &args.filter {
        if filter.is_empty() || filter.contains(char::is_whitespace) {
            bail!("--filter {filter:?}: a scenario name has no spaces");
        }
        append.push(format!("kckpt.filter={filter}"));
    }
    let timeout = args.timeout.unwrap_or(match flavor {
        Flavor::Normal | Flavor::Bench => GUEST_TIMEOUT,
        Flavor::Debug => DEBUG_GUEST_TIMEOUT,
    });
    if flavor == Flavor::Debug {
        append.push(format!("kckpt.timeout={DEBUG_SCENARIO_TIMEOUT}"));
        append.push("kckpt.kmemleak=1".to_string());
    }
    let dir = ctx.target.join(flavor.dir_name("qemu-test"));
    timings.time("kernel", || kernel::kernel(ctx, &args.kernel))?;
    let initramfs = timings.time("initramfs", || match flavor {
        Flavor::Normal => initramfs::initramfs(ctx),
        Flavor::Debug | Flavor::Bench => initramfs::initramfs_in(ctx, &dir),
    })?;

    let boot = Boot {
        bzimage: flavor.booted_bzimage(ctx),
        initramfs,
        append,
        console_log: dir.join("console.log"),
        serial1: dir.join("results.jsonl"),
        echo: ctx.verbose,
        timeout: Duration::from_secs(timeout),
        memory_mib: qemu::MEMORY_MIB,
        qemu_args: Vec::new(),
        interactive: false,
    };
    let console_name = rel(ctx, &boot.console_log).into_owned();
    eprintln!(
        "qemu-test: booting the guest (console: {console_name}{})",
        if ctx.verbose { "" } else { ", -v to watch" }
    );
    let outcome = timings.time("guest", || qemu::boot(ctx, &boot))?;

    let console =
        String::from_utf8_lossy(&std::fs::read(&boot.console_log).unwrap_or_default()).into_owned();
    let results = std::fs::read_to_string(&boot.serial1).unwrap_or_default();
    let splats = qemu::splats(&console);
    let splat_text = if splats.is_empty() {
        String::new()
    } else {
        format!(
            "\nkernel problems in {console_name}:\n  {}",
            splats.join("\n  ")
        )
    };

    if outcome.timed_out {
        let what = match unfinished_scenario(&results) {
            Some(name) => format!("scenario {name} started and did not finish"),
            None => "no scenario had started (the boot or /init hung)".to_string(),
        };
        bail!(
            "the guest ran out of time after {timeout} s: {what} (console: {console_name}; more time: --timeout){splat_text}"
        );
    }
    match outcome.status {
        Some(status) if status.success() => {}
        status => bail!("QEMU failed ({status:?}); its messages are above (console: {console_name}){splat_text}"),
    }
    if !splats.is_empty() {
        bail!(
            "the kernel reported problems during the suite (see {console_name}):\n  {}",
            splats.join("\n  ")
        );
    }
    if !outcome.done {
        let tail: Vec<&str> = console
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!(
            "the guest stopped without printing {DONE_MARKER}; the end of {console_name}:\n  {}",
            tail.join("\n  ")
        );
    }

    if flavor == Flavor::Debug {
        debug_checks(&console, &console_name)?;
    }

    let summary = summarize(&results);
    eprintln!(
        "qemu-test: guest done in {:.1} s: {} scenarios, {} failed{}",
        outcome.elapsed.as_secs_f64(),
        summary.ran,
        summary.failed.len(),
        if summary.failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", summary.failed.join(", "))
        }
    );
    if summary.ran == 0 {
        eprintln!(
            "qemu-test: warning: no scenario result in {}",
            rel(ctx, &boot.serial1)
        );
    }

    let results_path = std::path::absolute(&boot.serial1)?;
    timings.time("scenario check", || {
        let sh = &ctx.sh;
        let cargo = ctx.cargo();
        // With --filter, check only the scenarios that ran (test names
        // contain the scenario name).
        let only: Vec<&str> = args.filter.iter().map(String::as_str).collect();
        let mut check = cmd!(sh, "{cargo} test -p testsuite --test scenarios -- {only...}")
            .env("KCKPT_RESULTS", &results_path);
        if flavor != Flavor::Normal {
            // Compare only: a mismatch must not leave .snap.new files in
            // testsuite/ next to the normal run's.
            check = check.env("INSTA_UPDATE", "no");
        }
        check
            .run()
            .with_context(|| {
                format!(
                    "the scenario results do not pass (see above; results: {}, console: {console_name})",
                    rel(ctx, &boot.serial1)
                )
            })
    })
}

/// What the debug kernel's console must show besides the absence of
/// splats: kernel-ckpt's layout self-check passed (bindgen's layouts are
/// generated per build directory, and KASAN changes some), and /init's
/// kmemleak scan ran (its reports are splats).
fn debug_checks(console: &str, console_name: &str) -> Result<()> {
    if !console.contains(LAYOUT_PASSED) {
        bail!("the debug kernel did not print `{LAYOUT_PASSED}` (see {console_name})");
    }
    if let Some(line) = console.lines().find(|l| l.contains(KMEMLEAK_FAILED)) {
        bail!("the kmemleak scan after the suite failed: {line} (see {console_name})");
    }
    match console.lines().find(|l| l.contains(KMEMLEAK_DONE)) {
        Some(line) => {
            eprintln!("qemu-test: {}", line.trim());
            Ok(())
        }
        None => bail!(
            "the guest did not print `{KMEMLEAK_DONE}`: /init's kmemleak scan after the suite did not run (see {console_name})"
        ),
    }
}

/// The last scenario that started and has no result.
fn unfinished_scenario(results: &str) -> Option<String> {
    let mut started = Vec::new();
    let mut finished = HashSet::new();
    for event in events(results) {
        match event.0.as_str() {
            "start" => started.push(event.1),
            "result" => {
                finished.insert(event.1);
            }
            _ => {}
        }
    }
    started
        .into_iter()
        .rev()
        .find(|name| !finished.contains(name))
}

struct Summary {
    ran: usize,
    failed: Vec<String>,
}

fn summarize(results: &str) -> Summary {
    let mut summary = Summary {
        ran: 0,
        failed: Vec::new(),
    };
    for (event, scenario, ok) in events(results) {
        if event == "result" {
            summary.ran += 1;
            if ok != Some(true) {
                summary.failed.push(scenario);
            }
        }
    }
    summary
}

/// (event, scenario, ok) of each well-formed line of results.jsonl.
fn events(results: &str) -> impl Iterator<Item = (String, String, Option<bool>)> + '_ {
    results.lines().filter_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
        let event = value.get("event")?.as_str()?.to_string();
        let scenario = value.get("scenario")?.as_str()?.to_string();
        Some((event, scenario, value.get("ok").and_then(|ok| ok.as_bool())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESULTS: &str = r#"{"event":"start","scenario":"pipe"}
{"event":"result","scenario":"pipe","ok":true,"ms":12}
{"event":"start","scenario":"zombie"}
{"event":"result","scenario":"zombie","ok":false,"error":"EINVAL"}
not json
{"event":"start","scenario":"threads"}
"#;

    #[test]
    fn names_the_hung_scenario() {
        assert_eq!(unfinished_scenario(RESULTS).as_deref(), Some("threads"));
        assert_eq!(unfinished_scenario(""), None);
        let all_done = RESULTS.lines().take(4).collect::<Vec<_>>().join("\n");
        assert_eq!(unfinished_scenario(&all_done), None);
    }

    #[test]
    fn debug_console_checks() {
        let good = "[ 1.0] ckpt: layout self-check passed (200 checks); checkpoint(2) and restart(2) enabled\nkckpt-kmemleak: scan done, 0 reported\n";
        assert!(debug_checks(good, "c").is_ok());
        let no_scan = "[ 1.0] ckpt: layout self-check passed (200 checks)\n";
        assert!(debug_checks(no_scan, "c").is_err());
        let failed =
            "[ 1.0] ckpt: layout self-check passed\nkckpt-kmemleak: FAILED: the scan did not run\n";
        assert!(format!("{:#}", debug_checks(failed, "c").unwrap_err()).contains("did not run"));
        let layout =
            "[ 1.0] ckpt: layout self-check FAILED\nkckpt-kmemleak: scan done, 0 reported\n";
        assert!(debug_checks(layout, "c").is_err());
    }

    #[test]
    fn summarizes() {
        let summary = summarize(RESULTS);
        assert_eq!(summary.ran, 2);
        assert_eq!(summary.failed, ["zombie"]);
    }
}
