//! The series' kselftests (`tools/testing/selftests/checkpoint/`), run in
//! the guest as `make run_tests` would run them: their TAP output becomes
//! one check per test, named as the harness names it.

use super::Checks;
use anyhow::{Context, Result};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testsuite::Check;

/// Where the guest has the checkpoint kselftests.
const DIR: &str = "/usr/lib/kselftests/checkpoint";
/// The harness gives each test 30 s; the whole program gets this.
const TIMEOUT: Duration = Duration::from_secs(600);

/// A test's result from its TAP line: (name, "ok", "not ok" or "skip"),
/// with the directive's reason for a skip.
fn tap_result(line: &str) -> Option<(String, String)> {
    let (verdict, rest) = if let Some(r) = line.strip_prefix("not ok ") {
        ("not ok", r)
    } else {
        ("ok", line.strip_prefix("ok ")?)
    };
    // "N name" or "N name # SKIP reason"
    let (_, rest) = rest.split_once(' ')?;
    let (name, directive) = match rest.split_once(" # ") {
        Some((n, d)) => (n.trim(), Some(d.trim())),
        None => (rest.trim(), None),
    };
    let verdict = match directive {
        Some(d) if d.to_ascii_uppercase().starts_with("SKIP") => {
            format!("skip: {}", d.get(4..).unwrap_or_default().trim())
        }
        _ => verdict.to_string(),
    };
    Some((name.to_string(), verdict))
}

/// Runs `program` in a process group of its own, returning (exit status,
/// stdout); the whole group is killed after [`TIMEOUT`], so that nothing
/// it started keeps its stdout open.
fn run(program: &str) -> Result<(i32, String)> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(program)
        .current_dir(DIR)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    let mut out = child.stdout.take().context("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = reader.join().unwrap_or_default();
    Ok((status.code().unwrap_or(-1), text))
}

/// Scenario `kselftest_checkpoint`.
pub(crate) fn kselftest_checkpoint(_name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    // Every program the initramfs put there (the selftests' TEST_GEN_PROGS).
    let mut programs: Vec<String> = std::fs::read_dir(DIR)
        .with_context(|| format!("cannot read {DIR}"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    programs.sort();
    // None there: no check at all, which the host refuses.
    for program in &programs {
        let path = format!("{DIR}/{program}");
        let (code, text) = run(&path)?;
        // Echoed to the console log (stderr; stdout carries the results)
        for line in text.lines() {
            eprintln!("{program}: {line}");
        }
        let plan = text
            .lines()
            .find_map(|l| l.strip_prefix("1.."))
            .and_then(|n| n.trim().parse::<usize>().ok());
        let mut ran = 0;
        for (name, verdict) in text.lines().filter_map(tap_result) {
            ran += 1;
            c.eq(format!("{program}: {name}"), "ok", verdict);
        }
        c.eq(
            format!("{program}: tests planned and run"),
            true,
            plan == Some(ran) && ran > 0,
        );
        c.eq(format!("{program}: exit status"), 0, code);
    }
    Ok(c.0)
}

#[cfg(test)]
mod tests {
    use super::tap_result;

    #[test]
    fn tap_lines() {
        assert_eq!(
            tap_result("ok 1 worker.round_trip"),
            Some(("worker.round_trip".into(), "ok".into()))
        );
        assert_eq!(
            tap_result("not ok 2 checkpoint_arguments"),
            Some(("checkpoint_arguments".into(), "not ok".into()))
        );
        assert_eq!(
            tap_result("ok 3 tree_with_a_pipe # SKIP needs root"),
            Some(("tree_with_a_pipe".into(), "skip: needs root".into()))
        );
        assert_eq!(tap_result("# ok 1 comment"), None);
        assert_eq!(tap_result("TAP version 13"), None);
    }
}
