//! `ckpt-scenarios bench --runs N`: the benchmark tables, run in the guest
//! by `cargo xtask bench`. Each row is one workload, checkpointed with
//! `ckpt checkpoint --kill` and restarted with `ckpt restart --detach`
//! `N` times; the times are wall times of the checkpoint command and of
//! the restart until every task is restored (for a tree, restart(2)
//! returns then; for one process, until its saved name is back), image on
//! tmpfs, and the table shows their median with the fastest and slowest
//! run. Each row is then measured the same way with CRIU (`criu dump`,
//! which kills the tree once dumped, and `criu restore -d`, which returns
//! once the tree runs), its first call (the feature cache) not counted,
//! and the table gives CRIU's median over kernel-ckpt's.

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
const CRIU: &str = "/bin/criu";
const CRIU_DIR: &str = "/tmp/criu-bench";
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
    use nix::sys::wait::{WaitPidFlag, WaitStatus};
    let start = Instant::now();
    while pids
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists())
    {
        // Killed trees are reparented here (a subreaper): reap them.
        while let Ok(st) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            if st == WaitStatus::StillAlive {
                break;
            }
        }
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

/// `criu ARGS -D CRIU_DIR -o LOG`; its wall time. On failure, the end of
/// its log says why.
fn criu(args: &[&str], log: &str) -> Result<Duration> {
    let t = Instant::now();
    let out = Command::new(CRIU)
        .args(args)
        .args(["-D", CRIU_DIR, "-o", log, "--manage-cgroups=ignore"])
        .output()?;
    let took = t.elapsed();
    if !out.status.success() {
        let text = fs::read_to_string(Path::new(CRIU_DIR).join(log)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(8).collect();
        bail!(
            "criu {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(took)
}

/// Bytes in the files of `dir`.
fn dir_bytes(dir: &str) -> u64 {
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// One CRIU run of the same workload: `criu dump` (which kills the tree
/// once dumped) and `criu restore -d` (which returns once the tree runs).
fn criu_run(name: &str, kind: &str, n: usize) -> Result<(Duration, Duration, u64)> {
    let w = Workload::start_with(name, kind, Duration::from_secs(300))?;
    let root = w.pid;
    let pids = tree_pids(root);
    let _ = fs::remove_dir_all(CRIU_DIR);
    fs::create_dir_all(CRIU_DIR)?;
    let t_dump = criu(&["dump", "-t", &root.to_string()], "dump.log")?;
    let _ = waitpid(Pid::from_raw(root), None);
    wait_gone(&pids, kind)?;
    let bytes = dir_bytes(CRIU_DIR);
    let t_restore = criu(&["restore", "-d"], "restore.log")?;
    let restarted = tree_pids(root);
    for &p in &restarted {
        let _ = nix::sys::signal::kill(Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
    }
    // The restored tree was reparented to this process (a subreaper);
    // wait_gone reaps it.
    wait_gone(&restarted, kind)?;
    if restarted.len() != n {
        bail!(
            "{kind}: {} processes after criu restore, expected {n}",
            restarted.len()
        );
    }
    drop(w);
    Ok((t_dump, t_restore, bytes))
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

/// Medians and image size of `runs` runs of `f`.
fn measure(
    runs: u32,
    label: &str,
    mut f: impl FnMut() -> Result<(Duration, Duration, u64)>,
) -> Result<(Vec<Duration>, Vec<Duration>, u64)> {
    let (mut c, mut r, mut bytes) = (Vec::new(), Vec::new(), 0);
    for i in 0..runs {
        let (tc, tr, b) = f().with_context(|| format!("{label}, run {}", i + 1))?;
        c.push(tc);
        r.push(tr);
        bytes = b;
    }
    c.sort_unstable();
    r.sort_unstable();
    Ok((c, r, bytes))
}

fn ratio(ours: &mut [Duration], theirs: &mut [Duration]) -> String {
    let (a, b) = (median(ours).as_secs_f64(), median(theirs).as_secs_f64());
    if a > 0.0 {
        format!("{:.1}x", b / a)
    } else {
        "-".into()
    }
}

/// Runs every row `runs` times with kernel-ckpt and with CRIU, one after
/// the other in this boot, and prints the tables.
pub fn run(runs: u32) -> Result<()> {
    // The runs' trees are reparented here once CRIU's restore detaches.
    nix::sys::prctl::set_child_subreaper(true)?;
    let rows: [(&str, &str, usize); 4] = [
        ("tree of 10 processes", "tree_of_10", 10),
        ("tree of 100 processes", "tree_of_100", 100),
        ("tree of 1,000 processes", "tree_of_1000", 1000),
        ("1 process, 64 MiB heap", "heap_64m", 1),
    ];
    // CRIU's first call builds its feature cache: not part of the timing.
    let _ = Command::new(CRIU).args(["check"]).output();
    println!(
        "kernel-ckpt bench: wall times, median (fastest–slowest) of {runs} runs, images on tmpfs."
    );
    println!(
        "kernel-ckpt: `ckpt checkpoint --kill`, and `ckpt restart` until every task is restored."
    );
    println!("CRIU {}: `criu dump` (kills the tree when done), and `criu restore -d` (returns once it runs).",
        Command::new(CRIU).arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").trim_start_matches("Version: ").to_string()).unwrap_or_default());
    println!();
    println!(
        "| {:<24} | {:>9} | {:<24} | {:<24} | {:>9} | {:<26} | {:<26} | {:>8} | {:>8} |",
        "workload",
        "image",
        "ckpt checkpoint",
        "ckpt restart",
        "criu imgs",
        "criu dump",
        "criu restore",
        "dump ×",
        "restore ×"
    );
    println!(
        "|{:-<26}|{:->11}|{:-<26}|{:-<26}|{:->11}|{:-<28}|{:-<28}|{:->10}|{:->10}|",
        "", "", "", "", "", "", "", "", ""
    );
    for (label, kind, n) in rows {
        let name = format!("bench-{kind}");
        let (mut c, mut r, bytes) = measure(runs, label, || one_run(&name, kind, n))?;
        let criu_cells = match measure(runs, label, || criu_run(&name, kind, n)) {
            Ok((mut d, mut s, b)) => (
                format!("{:>5.1} MiB", b as f64 / (1024.0 * 1024.0)),
                cell(&mut d),
                cell(&mut s),
                ratio(&mut c, &mut d),
                ratio(&mut r, &mut s),
            ),
            Err(e) => {
                eprintln!("bench: CRIU failed on {label}: {e:#}");
                (
                    "-".into(),
                    "failed".into(),
                    "failed".into(),
                    "-".into(),
                    "-".into(),
                )
            }
        };
        println!(
            "| {label:<24} | {:>5.1} MiB | {:<24} | {:<24} | {:>9} | {:<26} | {:<26} | {:>8} | {:>8} |",
            bytes as f64 / (1024.0 * 1024.0),
            cell(&mut c),
            cell(&mut r),
            criu_cells.0,
            criu_cells.1,
            criu_cells.2,
            criu_cells.3,
            criu_cells.4,
        );
    }
    println!();
    println!("dump × and restore ×: CRIU's median time over kernel-ckpt's (above 1: kernel-ckpt is faster).");
    Ok(())
}
