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

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::kernel::{self, KernelArgs};
use crate::qemu::{self, Boot, DONE_MARKER};
use crate::{initramfs, rel, Ctx, Timings};

#[derive(clap::Args, Clone)]
pub struct QemuTestArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// Run only this scenario (passed to the guest as kckpt.filter=NAME).
    #[arg(long, value_name = "NAME")]
    pub filter: Option<String>,
    /// Kill the guest after this many seconds (the whole boot).
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
}

/// Everything after setup: kernel, initramfs, boot, checks.
pub fn qemu_test(ctx: &Ctx, args: &QemuTestArgs, timings: &mut Timings) -> Result<()> {
    let mut append = vec!["kckpt.mode=test".to_string()];
    if let Some(filter) = &args.filter {
        if filter.is_empty() || filter.contains(char::is_whitespace) {
            bail!("--filter {filter:?}: a scenario name has no spaces");
        }
        append.push(format!("kckpt.filter={filter}"));
    }
    timings.time("kernel", || kernel::kernel(ctx, &args.kernel))?;
    let initramfs = timings.time("initramfs", || initramfs::initramfs(ctx))?;

    let dir = ctx.target.join("qemu-test");
    let boot = Boot {
        bzimage: kernel::booted_bzimage(ctx),
        initramfs,
        append,
        console_log: dir.join("console.log"),
        serial1: dir.join("results.jsonl"),
        echo: ctx.verbose,
        timeout: Duration::from_secs(args.timeout),
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
            "the guest ran out of time after {} s: {what} (console: {console_name}; more time: --timeout){splat_text}",
            args.timeout
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
        cmd!(sh, "{cargo} test -p testsuite --test scenarios -- {only...}")
            .env("KCKPT_RESULTS", &results_path)
            .run()
            .with_context(|| {
                format!(
                    "the scenario results do not pass (see above; results: {}, console: {console_name})",
                    rel(ctx, &boot.serial1)
                )
            })
    })
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
    fn summarizes() {
        let summary = summarize(RESULTS);
        assert_eq!(summary.ran, 2);
        assert_eq!(summary.failed, ["zombie"]);
    }
}
