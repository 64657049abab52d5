//! `ckpt-scenarios`: the kernel-ckpt test scenarios, run inside the guest.
//!
//! - `ckpt-scenarios run-all [--filter NAME] [--out PATH] [--timeout SECS]`:
//!   runs every scenario, each in its own process with a time limit (SECS,
//!   120 by default; more for the slow ones, see `scenario_timeout`), and
//!   writes JSON lines (see the `testsuite` library) to PATH.
//! - `ckpt-scenarios one NAME`: runs one scenario, prints its result as JSON.
//! - `ckpt-scenarios workload KIND READY-FILE`: a process tree to checkpoint.
//! - `ckpt-scenarios attack CASE IMAGE SCENARIO`, `ckpt-scenarios race ROOT
//!   CHILD CGROUP`: run as uid 1000 by the unprivileged scenarios.
//! - `ckpt-scenarios bench [--runs N] [--filter S] [--out PATH]`: the
//!   benchmark (bench.rs); `ckpt-scenarios copy-baseline MIB`: one copy of
//!   MIB MiB, its floor.
//! - `ckpt-scenarios state PID`: the state of the tree rooted at PID as the
//!   tree restart scenarios compare it (one line per task), to look at a
//!   workload by hand.

mod bench;
mod scenarios;
mod truth;
mod workload;

use anyhow::{bail, Context, Result};
use nix::sys::prctl;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testsuite::{scenario_timeout, Event, ScenarioResult, SCENARIOS};

fn emit(out: &mut impl Write, ev: &Event) -> Result<()> {
    let line = serde_json::to_string(ev)?;
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Runs `one NAME` in a child process; kills it (and its workload's cgroup)
/// after `timeout`. Reaps every other child that shows up meanwhile: the
/// runner is the subreaper of everything the scenarios leave behind.
fn run_isolated(exe: &Path, name: &str, timeout: Duration) -> ScenarioResult {
    let fail = |msg: String| ScenarioResult {
        scenario: name.into(),
        error: Some(msg),
        ..Default::default()
    };
    let mut child = match Command::new(exe)
        .args(["one", name])
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return fail(format!("spawning scenario: {e}")),
    };
    let pid = Pid::from_raw(child.id() as i32);
    let mut stdout = child.stdout.take();
    // Read the child's output on a thread so a large result cannot block it.
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => {}
            Ok(st) if st.pid() == Some(pid) => break Some(st),
            Ok(_) | Err(_) => continue,
        }
        if start.elapsed() > timeout {
            let _ = kill(pid, Signal::SIGKILL);
            let cg = Path::new(ckpt::cgroup::ROOT).join(name);
            let _ = ckpt::cgroup::thaw(&cg);
            let _ = ckpt::cgroup::kill(&cg);
            let _ = waitpid(pid, None);
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = reader.join().unwrap_or_default();
    match status {
        None => fail(format!("timed out after {} s", timeout.as_secs())),
        Some(WaitStatus::Exited(_, 0)) => serde_json::from_str(out.trim())
            .unwrap_or_else(|e| fail(format!("unreadable result ({e}): {out}"))),
        Some(st) => fail(format!("scenario process ended with {st:?}; output: {out}")),
    }
}

fn run_all(filter: Option<&str>, out_path: &str, timeout: Duration) -> Result<()> {
    let _ = prctl::set_child_subreaper(true);
    let exe = std::env::current_exe()?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .open(out_path)
        .with_context(|| format!("opening {out_path}"))?;
    let (mut passed, mut failed) = (0, 0);
    for name in SCENARIOS
        .iter()
        .filter(|n| filter.is_none_or(|f| n.contains(f)))
    {
        println!("scenario {name} ...");
        emit(
            &mut out,
            &Event::Start {
                scenario: name.to_string(),
            },
        )?;
        let t = Instant::now();
        let res = run_isolated(&exe, name, scenario_timeout(name, timeout));
        let verdict = if res.ok { "ok" } else { "FAILED" };
        println!(
            "scenario {name} {verdict} ({:.2} s)",
            t.elapsed().as_secs_f64()
        );
        if !res.ok {
            if let Some(e) = &res.error {
                println!("  error: {e}");
            }
            for c in res.checks.iter().filter(|c| !c.passed()) {
                println!("  {}: expected {}, got {}", c.what, c.expected, c.got);
            }
        }
        if res.ok {
            passed += 1
        } else {
            failed += 1
        }
        emit(&mut out, &Event::Result(res))?;
    }
    println!("guest: {passed} passed, {failed} failed");
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("run-all") => {
            let mut filter = None;
            let mut out = "/dev/ttyS1".to_string();
            let mut timeout = Duration::from_secs(120);
            let mut it = args.iter().skip(2);
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--filter" => filter = it.next().cloned().filter(|f| !f.is_empty()),
                    "--out" => out = it.next().context("--out needs a path")?.clone(),
                    "--timeout" => {
                        timeout = Duration::from_secs(it.next().context("--timeout needs seconds")?.parse()?)
                    }
                    other => bail!("unknown option {other}"),
                }
            }
            run_all(filter.as_deref(), &out, timeout)
        }
        Some("one") => {
            let name = args.get(2).context("one: scenario name missing")?;
            let res = scenarios::run(name);
            println!("{}", serde_json::to_string(&res)?);
            Ok(())
        }
        Some("state") => {
            let root: i32 = args.get(2).context("state: pid missing")?.parse()?;
            let st = truth::read_state(root)?;
            let rows = st.rows();
            let namer = testsuite::Namer::new(&rows);
            let names = testsuite::state::Names::new(&namer, &st);
            for (_, line) in testsuite::state::lines(&names, &st, root) {
                println!("{line}");
            }
            Ok(())
        }
        Some("bench") => {
            let (mut runs, mut filter, mut out) = (3, None, "/dev/ttyS1".to_string());
            let mut it = args.iter().skip(2);
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--runs" => runs = it.next().context("--runs needs a number")?.parse()?,
                    "--filter" => filter = it.next().cloned().filter(|f| !f.is_empty()),
                    "--out" => out = it.next().context("--out needs a path")?.clone(),
                    other => bail!("unknown option {other}"),
                }
            }
            bench::run(runs, filter.as_deref(), &out)
        }
        Some("copy-baseline") => {
            let mib = args.get(2).context("copy-baseline: MiB missing")?.parse()?;
            bench::copy_baseline(mib)
        }
        Some("race") => {
            let root = args.get(2).context("race: root pid missing")?.parse()?;
            let child = args.get(3).context("race: child pid missing")?.parse()?;
            let cg = args.get(4).context("race: cgroup missing")?;
            scenarios::faults::race(root, child, cg)
        }
        Some("attack") => {
            let case = args.get(2).context("attack: case missing")?;
            let image = args.get(3).context("attack: image missing")?;
            let scenario = args.get(4).context("attack: scenario missing")?;
            scenarios::hostile::attack(case, image, scenario)
        }
        Some("workload") => {
            let kind = args.get(2).context("workload: kind missing")?;
            let ready = args.get(3).context("workload: ready file missing")?;
            workload::run(kind, Path::new(ready))
        }
        _ => bail!("usage: ckpt-scenarios run-all [--filter NAME] [--out PATH] [--timeout SECS] | one NAME | workload KIND READY-FILE | state PID | bench [--runs N] [--filter S] [--out PATH] | copy-baseline MIB"),
    }
}
