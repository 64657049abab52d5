//! `ckpt-scenarios bench --runs N [--filter S] [--out PATH]`: the
//! benchmark, run in the guest by `cargo xtask bench`.
//!
//! Each row is one workload, started `N` times for each tool:
//! - kernel-ckpt: `ckpt checkpoint --stats` (the tree is thawed after:
//!   its downtime is what `--stats` reports, freeze request to thaw), then
//!   the tree is killed and `ckpt restart --detach` times the restart
//!   until every task is restored (for a tree, restart(2) returns then;
//!   for one process, until its saved name is back);
//! - CRIU: `criu dump --leave-running` (downtime: the freezing and frozen
//!   times of its `stats-dump`), the tree killed, and `criu restore -d`,
//!   which returns once the tree runs; its first call (the feature cache)
//!   is not counted;
//! - memory rows also get one copy of their bytes in the same boot
//!   (`copy-baseline`), the floor for both tools.
//!
//! Images are on tmpfs. Progress goes to the console; the report goes to
//! `--out` (the second serial port) as JSON, then markdown, each after a
//! marker line, for `cargo xtask bench` to save.

use crate::scenarios::Workload;
use anyhow::{bail, Context, Result};
use ckpt::cgroup;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use testsuite::bench_report::{secs, Copy, Measured, Report, Row, Times, TreeMemory};

const CKPT: &str = "/bin/ckpt";
const CRIU: &str = "/bin/criu";
const CRIU_DIR: &str = "/tmp/criu-bench";
const IMG: &str = "/tmp/bench.img";
const COPY_FILE: &str = "/tmp/bench-copy";
/// The marker lines before the JSON and the markdown on `--out`.
pub const JSON_MARKER: &str = "=== kckpt-bench bench.json";
pub const MD_MARKER: &str = "=== kckpt-bench bench.md";

/// The rows: label, workload kind, processes, dirty memory in MiB.
const ROWS: [(&str, &str, usize, Option<u64>); 10] = [
    ("1 process, 16 MiB", "heap_16m", 1, Some(16)),
    ("1 process, 64 MiB", "heap_64m", 1, Some(64)),
    ("1 process, 256 MiB", "heap_256m", 1, Some(256)),
    ("1 process, 1 GiB", "heap_1024m", 1, Some(1024)),
    (
        "64 MiB shared by 10 processes",
        "shared_64m_x10",
        10,
        Some(64),
    ),
    (
        "256 MiB forked to 16 children",
        "cow_256m_x16",
        17,
        Some(256),
    ),
    (
        "pipeline of 8, full 1 MiB pipes",
        "pipeline_full_8",
        8,
        None,
    ),
    ("tree of 10 processes", "tree_of_10", 10, None),
    ("tree of 100 processes", "tree_of_100", 100, None),
    ("tree of 1,000 processes", "tree_of_1000", 1000, None),
];

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

/// Runs `ckpt ARGS`; its wall time and stderr.
fn ckpt(args: &[&str]) -> Result<(Duration, String)> {
    let t = Instant::now();
    let out = Command::new(CKPT).args(args).output()?;
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("ckpt {} failed: {}", args.join(" "), stderr.trim());
    }
    Ok((took, stderr))
}

/// The memory of the processes `pids` (their summed Pss from
/// /proc/PID/smaps_rollup: each page shared by k of them counts 1/k to
/// each), in MiB.
fn tree_pss_mib(pids: &[i32]) -> f64 {
    let kb: u64 = pids
        .iter()
        .filter_map(|&p| crate::truth::rollup(p))
        .map(|m| m.pss)
        .sum();
    kb as f64 / 1024.0
}

/// Whether a row's tree memory is measured before and after: the rows
/// whose processes share private memory copy-on-write. (Pss says nothing
/// of `MAP_SHARED` memory after a restart: its pages are in the memory
/// object but mapped again only when touched.)
fn shares_memory(kind: &str, n: usize) -> bool {
    n > 1
        && matches!(
            crate::workload::bench::kind(kind),
            Some(crate::workload::bench::Kind::Cow { .. })
        )
}

/// One run's times and image size.
struct Run {
    /// What the checkpoint said of its times, for the progress line.
    detail: String,
    checkpoint: Duration,
    downtime: Duration,
    restart: Duration,
    bytes: u64,
    /// The tree's memory (Pss, MiB) before the checkpoint and after the
    /// restart, for the rows [`shares_memory`] names.
    pss: Option<(f64, f64)>,
}

/// Starts the workload and checks it has `n` processes.
fn start(kind: &str, n: usize) -> Result<(Workload, Vec<i32>)> {
    let w = Workload::start_with(&format!("bench-{kind}"), kind, Duration::from_secs(300))?;
    let pids = tree_pids(w.pid);
    if pids.len() != n {
        bail!("{kind}: {} processes, expected {n}", pids.len());
    }
    Ok((w, pids))
}

/// Kills the workload `w` (its cgroup) and waits until its pids are free.
fn kill(w: Workload, pids: &[i32], kind: &str) -> Result<()> {
    cgroup::kill(&w.cg)?;
    let _ = waitpid(Pid::from_raw(w.pid), None);
    wait_gone(pids, kind)?;
    drop(w);
    Ok(())
}

/// One kernel-ckpt run.
fn ckpt_run(kind: &str, n: usize) -> Result<Run> {
    let (w, pids) = start(kind, n)?;
    let root = w.pid;
    let root_comm = comm(root).context("the root's name")?;
    let pss_before = shares_memory(kind, n).then(|| tree_pss_mib(&pids));
    let _ = fs::remove_file(IMG);
    let (checkpoint, stderr) = ckpt(&["checkpoint", &root.to_string(), "-o", IMG, "--stats"])?;
    let times = stderr
        .lines()
        .find_map(|l| l.strip_prefix("ckpt checkpoint: "))
        .context("ckpt checkpoint --stats printed no times")?
        .parse::<ckpt::CheckpointTimes>()?;
    let downtime = times.frozen();
    kill(w, &pids, kind)?;
    let bytes = fs::metadata(IMG)?.len();
    let job_name = format!("bench-{kind}-restarted");
    // `ckpt restart --detach` of a tree returns once restart(2) restored
    // every task; of one process, once it is created: the time runs until
    // the restored program's name is back.
    let t = Instant::now();
    let (_, said) = ckpt(&["restart", IMG, "--detach", "--name", &job_name, "--stats"])?;
    while comm(root).as_deref() != Some(root_comm.as_str()) {
        if t.elapsed() > Duration::from_secs(120) {
            bail!("{kind}: pid {root} not restored after 120 s");
        }
        std::hint::spin_loop();
    }
    let restart = t.elapsed();
    let restarted = tree_pids(root);
    let pss = pss_before.map(|b| (b, tree_pss_mib(&restarted)));
    let job = Path::new(cgroup::ROOT).join(&job_name);
    let _ = cgroup::kill(&job);
    wait_gone(&restarted, kind)?;
    let _ = fs::remove_dir(&job);
    let _ = fs::remove_file(IMG);
    if restarted.len() != n {
        bail!(
            "{kind}: {} processes after the restart, expected {n}",
            restarted.len()
        );
    }
    Ok(Run {
        detail: said
            .lines()
            .filter_map(|l| l.strip_prefix("ckpt restart: "))
            .fold(times.to_string(), |acc, l| acc + "; " + l),
        checkpoint,
        downtime,
        restart,
        bytes,
        pss,
    })
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
        // An image that filled /tmp leaves no log to say so.
        let free = nix::sys::statvfs::statvfs(CRIU_DIR).map_or(String::new(), |v| {
            format!(
                " ({} MiB free in {CRIU_DIR}, {} MiB of images, {:?})",
                (v.blocks_available() * v.fragment_size()) >> 20,
                dir_bytes(CRIU_DIR) >> 20,
                out.status
            )
        });
        bail!(
            "criu {} failed{free}: {}{}",
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

/// The varint at `*at` of `buf`, moving `at` past it.
fn varint(buf: &[u8], at: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at).context("a varint runs past its message")?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    bail!("a varint longer than 10 bytes")
}

/// A protobuf field's value: a varint, or the bytes of a length-delimited
/// field.
type FieldValue<'a> = Result<u64, &'a [u8]>;

/// The fields of a protobuf message: number, and the value of a varint
/// or the bytes of a length-delimited field.
fn fields(msg: &[u8]) -> Result<Vec<(u64, FieldValue<'_>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < msg.len() {
        let key = varint(msg, &mut at)?;
        let value = match key & 7 {
            0 => Ok(varint(msg, &mut at)?),
            2 => {
                let len = usize::try_from(varint(msg, &mut at)?)?;
                let end = at.checked_add(len).context("a field's length overflows")?;
                let bytes = msg.get(at..end).context("a field runs past its message")?;
                at = end;
                Err(bytes)
            }
            1 => {
                at += 8;
                continue;
            }
            5 => {
                at += 4;
                continue;
            }
            wire => bail!("field {} has wire type {wire}", key >> 3),
        };
        out.push((key >> 3, value));
    }
    Ok(out)
}

/// CRIU's downtime from its `stats-dump` image: after two magic words and
/// the entry's length, a `stats_entry` whose field 1 is the dump's
/// `dump_stats_entry`, whose fields 1 and 2 are its freezing and frozen
/// times in µs.
fn criu_downtime(stats: &[u8]) -> Result<Duration> {
    let len = stats
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .context("stats-dump is shorter than its header")?;
    let entry = stats
        .get(12..12 + len as usize)
        .context("stats-dump is shorter than its entry")?;
    let dump = fields(entry)?
        .into_iter()
        .find_map(|(n, v)| if n == 1 { v.err() } else { None })
        .context("stats-dump has no dump entry")?;
    let (mut freezing, mut frozen) = (None, None);
    for (n, v) in fields(dump)? {
        match (n, v) {
            (1, Ok(v)) => freezing = Some(v),
            (2, Ok(v)) => frozen = Some(v),
            _ => {}
        }
    }
    match (freezing, frozen) {
        (Some(a), Some(b)) => Ok(Duration::from_micros(a + b)),
        _ => bail!("stats-dump has no freezing or frozen time"),
    }
}

/// One CRIU run of the same workload: `criu dump --leave-running`, the
/// tree killed, and `criu restore -d` (which returns once the tree runs).
fn criu_run(kind: &str, n: usize) -> Result<Run> {
    let (w, pids) = start(kind, n)?;
    let root = w.pid;
    let pss_before = shares_memory(kind, n).then(|| tree_pss_mib(&pids));
    let _ = fs::remove_dir_all(CRIU_DIR);
    fs::create_dir_all(CRIU_DIR)?;
    let checkpoint = criu(
        &["dump", "-t", &root.to_string(), "--leave-running"],
        "dump.log",
    )?;
    let stats = fs::read(Path::new(CRIU_DIR).join("stats-dump")).context("criu's stats-dump")?;
    let downtime = criu_downtime(&stats).context("criu's stats-dump")?;
    kill(w, &pids, kind)?;
    let bytes = dir_bytes(CRIU_DIR);
    let restart = criu(&["restore", "-d"], "restore.log")?;
    let restarted = tree_pids(root);
    let pss = pss_before.map(|b| (b, tree_pss_mib(&restarted)));
    for &p in &restarted {
        let _ = nix::sys::signal::kill(Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
    }
    // The restored tree was reparented to this process (a subreaper);
    // wait_gone reaps it.
    wait_gone(&restarted, kind)?;
    let _ = fs::remove_dir_all(CRIU_DIR);
    if restarted.len() != n {
        bail!(
            "{kind}: {} processes after criu restore, expected {n}",
            restarted.len()
        );
    }
    Ok(Run {
        detail: format!("freezing and frozen {} s", secs(downtime.as_secs_f64())),
        checkpoint,
        downtime,
        restart,
        bytes,
        pss,
    })
}

/// `runs` runs of `f`, with a progress line each.
fn measure(runs: u32, what: &str, mut f: impl FnMut() -> Result<Run>) -> Result<Measured> {
    let (mut c, mut d, mut r, mut bytes) = (vec![], vec![], vec![], 0);
    let (mut before, mut after) = (vec![], vec![]);
    for i in 1..=runs {
        let run = f().with_context(|| format!("{what}, run {i}"))?;
        let memory = run.pss.map_or(String::new(), |(b, a)| {
            format!(", memory (Pss) {b:.1} MiB before, {a:.1} MiB after")
        });
        println!(
            "bench:   {what} {i}/{runs}: checkpoint {} s ({}), restart {} s{memory}",
            secs(run.checkpoint.as_secs_f64()),
            run.detail,
            secs(run.restart.as_secs_f64()),
        );
        c.push(run.checkpoint.as_secs_f64());
        d.push(run.downtime.as_secs_f64());
        r.push(run.restart.as_secs_f64());
        bytes = run.bytes;
        if let Some((b, a)) = run.pss {
            before.push(b);
            after.push(a);
        }
    }
    Ok(Measured {
        image_mib: bytes as f64 / f64::from(1 << 20),
        checkpoint: Times::new(c),
        downtime: Times::new(d),
        restart: Times::new(r),
        memory: (!before.is_empty()).then(|| TreeMemory {
            before_mib: Times::new(before).median(),
            after_mib: Times::new(after).median(),
        }),
    })
}

/// One copy of `mib` MiB (see [`copy_baseline`]), in a new process each
/// run, so that its memory is as fresh as a restarted process's.
fn measure_copy(runs: u32, mib: u64) -> Result<Copy> {
    let exe = std::env::current_exe()?;
    let (mut w, mut r, mut p, mut f) = (vec![], vec![], vec![], vec![]);
    for i in 1..=runs {
        let out = Command::new(&exe)
            .args(["copy-baseline", &mib.to_string()])
            .output()?;
        if !out.status.success() {
            bail!(
                "copy-baseline {mib}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let [write, read, pipe, fork]: [f64; 4] =
            serde_json::from_slice(&out.stdout).context("copy-baseline's output")?;
        println!(
            "bench:   one copy {i}/{runs}: write {} s, read {} s, pipe {} s; fork {} s",
            secs(write),
            secs(read),
            secs(pipe),
            secs(fork)
        );
        w.push(write);
        r.push(read);
        p.push(pipe);
        f.push(fork);
    }
    Ok(Copy {
        write: Times::new(w),
        read: Times::new(r),
        pipe: Times::new(p),
        fork: Times::new(f),
    })
}

/// `ckpt-scenarios copy-baseline MIB`: fills MIB MiB of its memory, then
/// times (1) write(2) of it into a new tmpfs file, (2) read(2) of that
/// file into fresh anonymous memory, (3) the bytes through a 1 MiB pipe
/// into fresh anonymous memory of a child, (4) fork(2) of this process
/// until it returns in the parent (the child exits at once). Prints
/// `[write, read, pipe, fork]` in seconds.
pub fn copy_baseline(mib: usize) -> Result<()> {
    use crate::workload::bench::{fill, map_anon};
    use nix::libc;
    use std::io::Read;
    let len = mib << 20;
    let buf = map_anon(len, false)?;
    fill(buf);
    // SAFETY: the u64s of `buf` seen as its `len` bytes.
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), len) };
    let _ = fs::remove_file(COPY_FILE);
    let t = Instant::now();
    let mut f = fs::File::create(COPY_FILE)?;
    f.write_all(bytes)?;
    drop(f);
    let write = t.elapsed();
    let fresh = map_anon(len, false)?;
    // SAFETY: as above, for the fresh mapping, which nothing else uses.
    let into: &mut [u8] = unsafe { std::slice::from_raw_parts_mut(fresh.as_mut_ptr().cast(), len) };
    let t = Instant::now();
    fs::File::open(COPY_FILE)?.read_exact(into)?;
    let read = t.elapsed();
    fs::remove_file(COPY_FILE)?;
    if into != bytes {
        bail!("the copy read back differs");
    }
    let (r, w) = nix::unistd::pipe()?;
    // SAFETY: fcntl on a pipe this process owns.
    unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&w),
            libc::F_SETPIPE_SZ,
            1 << 20,
        )
    };
    let t = Instant::now();
    // SAFETY: this process is single-threaded.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(w);
            let ok = map_anon(len, false)
                .ok()
                .and_then(|m| {
                    // SAFETY: as above.
                    let m: &mut [u8] =
                        unsafe { std::slice::from_raw_parts_mut(m.as_mut_ptr().cast(), len) };
                    fs::File::from(r).read_exact(m).ok()
                })
                .is_some();
            // SAFETY: ends the child without running the parent's exit code.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(r);
            fs::File::from(w).write_all(bytes)?;
            let status = waitpid(child, None)?;
            if status != nix::sys::wait::WaitStatus::Exited(child, 0) {
                bail!("the pipe's reader: {status:?}");
            }
        }
    }
    let pipe = t.elapsed();
    let t = Instant::now();
    // SAFETY: this process is single-threaded; the child only exits.
    let fork = match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => unsafe { libc::_exit(0) },
        nix::unistd::ForkResult::Parent { child } => {
            let forked = t.elapsed();
            waitpid(child, None)?;
            forked
        }
    };
    println!(
        "{}",
        serde_json::to_string(&[
            write.as_secs_f64(),
            read.as_secs_f64(),
            pipe.as_secs_f64(),
            fork.as_secs_f64()
        ])?
    );
    Ok(())
}

/// Runs every row (or those whose label or kind contains `filter`)
/// `runs` times with kernel-ckpt and with CRIU, one after the other in
/// this boot, prints the tables and writes the report to `out`.
pub fn run(runs: u32, filter: Option<&str>, out: &str) -> Result<()> {
    let begin = Instant::now();
    // The runs' trees are reparented here once CRIU's restore detaches.
    nix::sys::prctl::set_child_subreaper(true)?;
    // Images are on /tmp, a tmpfs of half the memory by default: CRIU's
    // images of a forked tree hold every process's pages (17 x 256 MiB
    // for the copy-on-write row).
    nix::mount::mount(
        None::<&str>,
        "/tmp",
        None::<&str>,
        nix::mount::MsFlags::MS_REMOUNT,
        Some("size=85%"),
    )
    .context("remounting /tmp with room for the images")?;
    // CRIU's first call builds its feature cache: not part of the timing.
    let _ = Command::new(CRIU).args(["check"]).output();
    let criu_version = Command::new(CRIU)
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let first = text.lines().next().unwrap_or("").trim();
            first.trim_start_matches("Version: ").to_string()
        })
        .unwrap_or_default();
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let rows: Vec<_> = ROWS
        .iter()
        .filter(|(label, kind, ..)| filter.is_none_or(|f| label.contains(f) || kind.contains(f)))
        .collect();
    if rows.is_empty() {
        bail!("no bench row matches {filter:?}");
    }
    let mut report = Report {
        runs,
        kernel,
        criu_version,
        ..Default::default()
    };
    for (i, &&(label, kind, n, memory_mib)) in rows.iter().enumerate() {
        println!(
            "bench: [{}/{}] {label} ({:.0} s so far)",
            i + 1,
            rows.len(),
            begin.elapsed().as_secs_f64()
        );
        let copy = match memory_mib {
            Some(mib) => Some(measure_copy(runs, mib)?),
            None => None,
        };
        let kernel_ckpt = measure(runs, "kernel-ckpt", || ckpt_run(kind, n))?;
        let (criu, criu_error) = match measure(runs, "CRIU", || criu_run(kind, n)) {
            Ok(m) => (Some(m), None),
            Err(e) => {
                println!("bench: CRIU failed on {label}: {e:#}");
                (None, Some(format!("{e:#}")))
            }
        };
        report.rows.push(Row {
            label: label.to_owned(),
            workload: kind.to_owned(),
            processes: n,
            memory_mib,
            kernel_ckpt,
            criu,
            criu_error,
            copy,
        });
    }
    report.total_s = begin.elapsed().as_secs_f64();
    let md = report.markdown();
    println!();
    print!("{md}");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .with_context(|| format!("opening {out}"))?;
    writeln!(f, "{JSON_MARKER}")?;
    writeln!(f, "{}", serde_json::to_string(&report)?)?;
    writeln!(f, "{MD_MARKER}")?;
    f.write_all(md.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criu_stats_give_freezing_and_frozen_time() {
        // Two magic words, the entry's length, then field 1 holding fields
        // 1 = 300 and 2 = 150000 (varints), 3 = 5 and a length-delimited
        // field 20.
        let dump = [
            0x08, 0xac, 0x02, 0x10, 0xf0, 0x93, 0x09, 0x18, 0x05, 0xa2, 0x01, 0x01, 0x00,
        ];
        let mut entry = vec![0x0a, dump.len() as u8];
        entry.extend_from_slice(&dump);
        let mut img = vec![0u8; 8];
        img.extend_from_slice(&(entry.len() as u32).to_le_bytes());
        img.extend_from_slice(&entry);
        assert_eq!(criu_downtime(&img).unwrap(), Duration::from_micros(150_300));
        assert!(criu_downtime(&img[..14]).is_err());
    }
}
