//! `ckpt-scenarios bench --runs N`: the benchmark tables, run in the guest
//! by `cargo xtask bench`. Each row is one workload, checkpointed with
//! `ckpt checkpoint --kill` and restarted with `ckpt restart --detach`
//! `N` times; the times are wall times of the checkpoint command and of
//! the restart until every task is restored (for a tree, restart(2)
//! returns then; for one process, until its saved name is back), image on
//! tmpfs, and the table shows their median with the fastest and slowest
//! run.

use crate::scenarios::Workload;
use anyhow::{bail, Context, Result};
use ckpt::cgroup;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CKPT: &str = "/bin/ckpt";
const IMG: &str = "/tmp/bench.img";

/// The pids of the tree rooted at `root`, from /proc (children lists).
fn tree_pids(root: i32) -> Vec<i32> {
    let mut out = vec![root];
    let mut i = 0;
    while let Some(&p) = out.get(i) {
        let kids = fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        out.extend(
            kids.split_whitespace()
                .filter_map(|k| k.parse::<i32>().ok()),
        );
        i += 1;
    }
    out
}

fn comm(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
}

fn wait_gone(pids: &[i32], what: &str) -> Result<()> {
    let start = Instant::now();
    while pids
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists())
    {
        if start.elapsed() > Duration::from_secs(60) {
            bail!("{what}: the tree's pids are still taken after 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn ckpt(args: &[&str]) -> Result<Duration> {
    let t = Instant::now();
    let out = Command::new(CKPT).args(args).output()?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!(
            "ckpt {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

/// One run: (checkpoint, restart, image bytes).
fn one_run(name: &str, kind: &str, n: usize) -> Result<(Duration, Duration, u64)> {
    let w = Workload::start_with(name, kind, Duration::from_secs(300))?;
    let root = w.pid;
    let pids = tree_pids(root);
    if pids.len() != n {
        bail!("{kind}: {} processes, expected {n}", pids.len());
    }
    let root_comm = comm(root).context("the root's name")?;
    let _ = fs::remove_file(IMG);
    let t_ckpt = ckpt(&["checkpoint", &root.to_string(), "-o", IMG, "--kill"])?;
    let _ = waitpid(Pid::from_raw(root), None);
    wait_gone(&pids, kind)?;
    let bytes = fs::metadata(IMG)?.len();
    let job_name = format!("{name}-restarted");
    // `ckpt restart --detach` of a tree returns once restart(2) restored
    // every task; of one process, once it is created: the time runs until
    // the restored program's name is back.
    let t = Instant::now();
    ckpt(&["restart", IMG, "--detach", "--name", &job_name])?;
    while comm(root).as_deref() != Some(root_comm.as_str()) {
        if t.elapsed() > Duration::from_secs(60) {
            bail!("{kind}: pid {root} not restored after 60 s");
        }
        std::hint::spin_loop();
    }
    let t_restart = t.elapsed();
    let restarted = tree_pids(root);
    let job = Path::new(cgroup::ROOT).join(&job_name);
    let _ = cgroup::kill(&job);
    wait_gone(&restarted, kind)?;
    let _ = fs::remove_dir(&job);
    if restarted.len() != n {
        bail!(
            "{kind}: {} processes after the restart, expected {n}",
            restarted.len()
        );
    }
    drop(w);
    Ok((t_ckpt, t_restart, bytes))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn cell(v: &mut [Duration]) -> String {
    let m = median(v).as_secs_f64();
    let lo = v.first().copied().unwrap_or_default().as_secs_f64();
    let hi = v.last().copied().unwrap_or_default().as_secs_f64();
    format!("{m:.3} s ({lo:.3}–{hi:.3})")
}

/// Runs every row `runs` times and prints the table.
pub fn run(runs: u32) -> Result<()> {
    let rows: [(&str, &str, usize); 4] = [
        ("tree of 10 processes", "tree_of_10", 10),
        ("tree of 100 processes", "tree_of_100", 100),
        ("tree of 1,000 processes", "tree_of_1000", 1000),
        ("1 process, 64 MiB heap", "heap_64m", 1),
    ];
    println!(
        "kernel-ckpt bench: wall time of `ckpt checkpoint --kill` and of `ckpt restart` until"
    );
    println!("every task is restored; median (fastest–slowest) of {runs} runs, image on tmpfs");
    println!();
    println!(
        "| {:<24} | {:>9} | {:<24} | {:<24} | {:>14} |",
        "workload", "image", "checkpoint", "restart", "restart/task"
    );
    println!(
        "|{:-<26}|{:->11}|{:-<26}|{:-<26}|{:->16}|",
        "", "", "", "", ""
    );
    for (label, kind, n) in rows {
        let (mut c, mut r, mut bytes) = (Vec::new(), Vec::new(), 0);
        for i in 0..runs {
            let (tc, tr, b) = one_run(&format!("bench-{kind}"), kind, n)
                .with_context(|| format!("{label}, run {}", i + 1))?;
            c.push(tc);
            r.push(tr);
            bytes = b;
        }
        let per_task = median(&mut r).as_secs_f64() * 1000.0 / n as f64;
        println!(
            "| {label:<24} | {:>6.1} MiB | {:<24} | {:<24} | {per_task:>11.2} ms |",
            bytes as f64 / (1024.0 * 1024.0),
            cell(&mut c),
            cell(&mut r)
        );
    }
    Ok(())
}
