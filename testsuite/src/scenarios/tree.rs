//! Tree restart scenarios: a whole process tree checkpointed with
//! `ckpt checkpoint ROOT -o IMG --kill` and recreated by
//! `ckpt restart IMG`, which must bring back every process and thread
//! with its pid, parent, session and process group, every zombie with its
//! status, and every open file with the sharing between processes; then
//! every process resumes where it was and checks itself (see
//! workload/tree.rs), and the root writes one verdict.
//!
//! The state compared is [`testsuite::state`]: read from /proc while the
//! tree is frozen for the checkpoint, and again once every saved task is
//! back. Every field must be as it was except the root's parent, which
//! must be the `ckpt restart` process (it waits for the root and exits
//! with its status).

use super::{checkpoint_kill, spawn_restart, Checks, RestartJob, Workload, CKPT, READY_TIMEOUT};
use crate::truth::{read_state, read_tree};
use anyhow::{Context, Result};
use ckpt::cgroup;
use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use testsuite::state::{self, Diff, Names, Task, TreeState};
use testsuite::{Check, Namer, RawRow, ScenarioResult};

/// At most this many tasks are listed in a result, the first in naming
/// order (and the image's rows only for trees this small); the checks
/// cover every task.
const LIST_MAX: usize = 100;

/// How long the cgroup may take to freeze (1,000 tasks under TCG).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the workload `kind` may take to build its tree.
fn ready_timeout(kind: &str) -> Duration {
    match kind {
        "tree_1000" => Duration::from_secs(180),
        _ => READY_TIMEOUT,
    }
}

/// `v` for a check: all of it, or its first ten entries and how many more.
fn listed(v: &[String]) -> String {
    match v.get(..10) {
        Some(first) if v.len() > 10 => format!("{first:?} and {} more", v.len() - 10),
        _ => format!("{v:?}"),
    }
}

fn named(names: &Names<'_>, pids: &[i32]) -> Vec<String> {
    pids.iter().map(|&p| names.name(p)).collect()
}

/// Waits until no process or thread of `pids` exists (zombies count as
/// existing) or `limit` passed; returns those left.
fn wait_gone(pids: &[i32], limit: Duration) -> Vec<i32> {
    let start = Instant::now();
    loop {
        let left: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
            .collect();
        if left.is_empty() || start.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether task `t` is back: a zombie exists, a live task runs its saved
/// program (its comm is the saved one, which restart(2) sets last).
fn is_back(t: &Task) -> bool {
    let r = &t.row;
    let dir = format!("/proc/{}/task/{}", r.tgid, r.pid);
    if r.zombie {
        Path::new(&dir).exists()
    } else {
        fs::read_to_string(format!("{dir}/comm")).is_ok_and(|c| c.trim_end_matches('\n') == r.comm)
    }
}

/// Waits until every task of `before` is back, `restarted` ended, or
/// `limit` passed; returns the tasks not back.
fn wait_restored(before: &TreeState, restarted: &mut Child, limit: Duration) -> Vec<i32> {
    let start = Instant::now();
    let mut pending: Vec<&Task> = before.tasks.iter().collect();
    loop {
        pending.retain(|t| !is_back(t));
        let ended = matches!(restarted.try_wait(), Ok(Some(_)));
        if pending.is_empty() || ended || start.elapsed() > limit {
            // Not back, or gone again since.
            return before
                .tasks
                .iter()
                .filter(|t| !is_back(t))
                .map(|t| t.row.pid)
                .collect();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads the restarted tree until it is as `before` (a task just restored
/// may still be on its way back into its system call) or `limit` passed:
/// the last reading and how it differs.
fn read_settled(
    names: &Names<'_>,
    root: i32,
    before: &TreeState,
    limit: Duration,
) -> (Result<TreeState>, Diff) {
    let start = Instant::now();
    loop {
        let now = read_state(root);
        let diff = match &now {
            Ok(after) => state::compare(names, root, before, after),
            Err(_) => Diff {
                missing: vec!["(unreadable)".into()],
                ..Default::default()
            },
        };
        if diff.is_empty() || start.elapsed() > limit {
            return (now, diff);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first token of /proc/PID/task/TID/syscall: the system call a
/// sleeping task is in.
fn syscall_of(r: &RawRow) -> String {
    fs::read_to_string(format!("/proc/{}/task/{}/syscall", r.tgid, r.pid))
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

/// The tasks of `st` named `comm` by one of `comms` that are not asleep in
/// system call `nr`, named.
fn not_in_call(names: &Names<'_>, st: &TreeState, comms: &[&str], nr: &str) -> Vec<String> {
    st.tasks
        .iter()
        .filter(|t| comms.contains(&t.row.comm.as_str()))
        .filter_map(|t| {
            let now = syscall_of(&t.row);
            (now != nr).then(|| format!("{} {} in {now}", names.name(t.row.pid), t.row.comm))
        })
        .collect()
}

/// Whether every descriptor `fd` of the processes of `st` is one open
/// file (one kcmp class), and how many there are.
fn one_file(st: &TreeState, fd: i32) -> (bool, usize) {
    let classes: Vec<u32> = st
        .fds
        .iter()
        .filter(|f| f.fd == fd)
        .map(|f| f.file)
        .collect();
    (classes.windows(2).all(|w| w[0] == w[1]), classes.len())
}

/// What only some workloads need checked, with the tree restarted and
/// waiting at its gate. `image` is the decoded image (small trees).
fn workload_checks(
    c: &mut Checks,
    kind: &str,
    names: &Names<'_>,
    before: &TreeState,
    after: &TreeState,
    image: Option<&ckpt::inspect::Image>,
) {
    match kind {
        "shared_memory" => {
            // Each object saved once though two processes map it: the
            // deleted file (16 pages, all written) and the 4 MiB, half of
            // it written (the other half never touched: holes, not saved).
            let saved: Vec<String> = image.map_or(Vec::new(), |i| {
                i.shmem
                    .iter()
                    .map(|s| format!("{} bytes, {} pages", s.size, s.pages))
                    .collect()
            });
            c.eq(
                "shared memory saved once, holes left out",
                "[\"65536 bytes, 16 pages\", \"4194304 bytes, 512 pages\"]",
                format!("{saved:?}"),
            );
            let vmas = image.map_or(0, |i| {
                i.states
                    .iter()
                    .filter_map(|s| s.mm.as_ref())
                    .flat_map(|m| m.vmas.iter())
                    .filter(|v| v.kind == "shmem")
                    .count()
            });
            c.eq("VMAs mapping them (two per process)", 4, vmas);
        }
        "pipeline" => {
            let in_flight = image.map_or(0, |i| i.pipes.iter().filter(|p| p.bytes > 0).count());
            c.eq("pipes saved with bytes in flight", 2, in_flight);
            c.eq(
                "producer and filter blocked in write(2) again",
                "[]",
                listed(&not_in_call(names, after, &["producer", "filter"], "1")),
            );
        }
        "shared_stdout" => {
            for (when, st) in [
                ("before the checkpoint", before),
                ("after the restart", after),
            ] {
                let (one, n) = one_file(st, 1);
                c.eq(
                    format!("stdout of the writers is one open file (kcmp), {when}"),
                    "4 fds, one file",
                    format!(
                        "{n} fds, {}",
                        if one { "one file" } else { "several files" }
                    ),
                );
            }
        }
        "threads_8" => {
            c.eq(
                "thr-7 blocked in futex(2) again",
                "[]",
                listed(&not_in_call(names, after, &["thr-7"], "202")),
            );
            let readers = ["thr-1", "thr-2", "thr-3", "thr-4", "thr-5", "thr-6"];
            c.eq(
                "thr-1..6 blocked in read(2) at the gate again",
                "[]",
                listed(&not_in_call(names, after, &readers, "0")),
            );
        }
        "zombie_wait" => {
            let z = after.tasks.iter().find(|t| t.row.comm == "zombie");
            c.eq(
                "the zombie after the restart: state and wait status",
                "Z 0x700",
                z.map_or("missing".into(), |t| {
                    format!("{} {:#x}", t.state, t.row.exit_code)
                }),
            );
        }
        _ => {}
    }
}

/// The rows of a decoded image.
fn image_rows(img: &ckpt::inspect::Image) -> Vec<RawRow> {
    img.tasks
        .iter()
        .map(|t| RawRow {
            pid: t.pid,
            tgid: t.tgid,
            ppid: t.ppid,
            sid: t.sid,
            pgid: t.pgid,
            thread: t.thread,
            zombie: t.zombie,
            exit_code: t.exit_code,
            comm: t.comm.clone(),
        })
        .collect()
}

/// The lines of the job's log that a process of the tree wrote about what
/// was wrong (workload/tree.rs `complain`).
fn complaints(name: &str) -> Vec<String> {
    fs::read_to_string(format!("/tmp/{name}.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .take(20)
        .map(|l| format!("log: {l}"))
        .collect()
}

/// Stops a restarted tree that went wrong: kills its job cgroup and the
/// `ckpt restart` process, and checks what `ckpt restart` said.
fn stop_restart(c: &mut Checks, job: &Path, restarted: Child) -> Result<()> {
    let _ = cgroup::kill(job);
    let mut restarted = restarted;
    let _ = restarted.kill();
    let out = restarted.wait_with_output()?;
    c.eq(
        "ckpt restart stderr",
        "",
        String::from_utf8_lossy(&out.stderr).trim(),
    );
    Ok(())
}

/// Tells the restarted tree to finish (the go file), waits at most `limit`
/// for `ckpt restart` to end with the root's status, and checks that and
/// the root's verdict, as [`super::finish`] does; returns the verdict. A
/// tree still running after `limit` is stopped, so that the checks so far
/// are reported rather than a time-out.
fn finish_tree(
    c: &mut Checks,
    name: &str,
    job: &Path,
    mut restarted: Child,
    limit: Duration,
) -> Result<String> {
    let result = format!("/tmp/result-{name}");
    let _ = fs::remove_file(&result);
    fs::write(format!("/tmp/go-{name}"), b"go\n")?;
    let start = Instant::now();
    while restarted.try_wait()?.is_none() {
        if start.elapsed() > limit {
            c.eq(
                "the tree ended after the go file",
                format!("within {} s", limit.as_secs()),
                "still running: stopped",
            );
            stop_restart(c, job, restarted)?;
            return Ok("(no verdict: the tree did not end)".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = restarted.wait_with_output()?;
    c.eq(
        "ckpt restart exit status (the root's)",
        0,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "ckpt restart stderr",
        "",
        String::from_utf8_lossy(&out.stderr).trim(),
    );
    let verdict = fs::read_to_string(&result).unwrap_or_default();
    let verdict = verdict.trim().to_string();
    c.eq(
        "the tree's own check after the restart (the root's verdict)",
        "PASS",
        verdict.split_whitespace().next().unwrap_or("(none)"),
    );
    Ok(verdict)
}

/// Checkpoints the tree of workload `kind` with `--kill`, restarts it with
/// `ckpt restart`, compares its state before and after field by field,
/// then lets it finish and checks its verdict.
pub(super) fn restart_tree_scenario(name: &str, kind: &str) -> Result<ScenarioResult> {
    restart_tree_run(name, kind, false)
}

/// [`restart_tree_scenario`] with a copy-on-write checkpoint: the tree is
/// read frozen, thawed, checkpointed by `ckpt checkpoint` (which freezes
/// it, thaws it once its state is taken and writes its memory while it
/// runs), then killed.
pub(super) fn restart_tree_cow_scenario(name: &str, kind: &str) -> Result<ScenarioResult> {
    restart_tree_run(name, kind, true)
}

/// A copy-on-write `ckpt checkpoint --stats` of the tree of `root` in
/// the job `cg`, then the tree killed.
fn checkpoint_cow_then_kill(c: &mut Checks, root: i32, cg: &Path, img: &str) -> Result<()> {
    let out = Command::new(CKPT)
        .args(["checkpoint", &root.to_string(), "-o", img, "--stats"])
        .output()?;
    c.eq("checkpoint exit status", 0, out.status.code().unwrap_or(-1));
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("checkpoint of {root}: {}", err.trim());
    c.eq(
        "the tree was thawed before its memory was written (ckpt inspect)",
        true,
        super::taken_cow(img)?,
    );
    cgroup::kill(cg)?;
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(root), None);
    Ok(())
}

fn restart_tree_run(name: &str, kind: &str, cow: bool) -> Result<ScenarioResult> {
    let w = Workload::start_with(name, kind, ready_timeout(kind))?;
    let root = w.pid;
    let me = std::process::id() as i32;
    let mut c = Checks(Vec::new());
    // Read frozen, as checkpoint(2) sees it (`ckpt checkpoint` leaves a
    // frozen job frozen, and kills it after).
    cgroup::freeze(&w.cg, FREEZE_TIMEOUT)?;
    let t = Instant::now();
    let before = read_state(root)?;
    let t_read = t.elapsed();
    let rows = before.rows();
    let namer = Namer::new(&rows);
    let names = Names::new(&namer, &before);
    let n = before.tasks.len();
    c.eq(
        "root's parent before the checkpoint: the scenario",
        true,
        before.task(root).is_some_and(|t| t.row.ppid == me),
    );
    let img = format!("/tmp/{name}.img");
    let job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{root}")));
    let cow_before = (kind == "cow_shared")
        .then(|| cow::Memory::read(&before))
        .transpose()?;
    let t = Instant::now();
    if cow {
        cgroup::thaw(&w.cg)?;
        checkpoint_cow_then_kill(&mut c, root, &w.cg, &img)?;
    } else {
        checkpoint_kill(&mut c, root, &img)?;
    }
    let t_ckpt = t.elapsed();
    if !c.0.iter().all(Check::passed) {
        // No image: nothing to restart.
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    }
    // The root was reaped above; the others are the runner's (a subreaper).
    let pids: Vec<i32> = rows.iter().map(|r| r.pid).collect();
    let left = wait_gone(&pids, Duration::from_secs(10));
    c.eq(
        "saved pids free after checkpoint --kill",
        "[]",
        listed(&named(&names, &left)),
    );
    let image = if n <= LIST_MAX {
        let bytes = fs::read(&img).with_context(|| format!("reading {img}"))?;
        let parsed = ckpt::inspect::parse(&bytes);
        c.eq(
            "the image decodes",
            "ok",
            parsed
                .as_ref()
                .map_or_else(|e| e.to_string(), |_| "ok".into()),
        );
        parsed.ok()
    } else {
        None
    };

    let t = Instant::now();
    let mut restarted = spawn_restart(&img)?;
    let coordinator = restarted.id() as i32;
    let limit = Duration::from_secs(30) + Duration::from_millis(100) * n as u32;
    let missing = wait_restored(&before, &mut restarted, limit);
    let t_restart = t.elapsed();
    eprintln!(
        "timing: {name}: {n} tasks; /proc read {:.3} s, checkpoint {:.3} s, restart {:.3} s",
        t_read.as_secs_f64(),
        t_ckpt.as_secs_f64(),
        t_restart.as_secs_f64()
    );
    c.eq(
        "every saved task back (its pid; a live one runs its saved program)",
        "[]",
        listed(&named(&names, &missing)),
    );
    if !missing.is_empty() {
        // The tree is not back (or `ckpt restart` gave up): what is there,
        // then what `ckpt restart` said.
        if let Ok(after) = read_state(root) {
            let d = state::compare(&names, root, &before, &after);
            c.eq("ids as saved (of the tasks back)", "[]", listed(&d.ids));
        }
        stop_restart(&mut c, &job.0, restarted)?;
        return Ok(ScenarioResult {
            checks: c.0,
            state: complaints(name),
            ..Default::default()
        });
    }
    let settle = Duration::from_secs(5) + Duration::from_millis(5) * n as u32;
    let (after, diff) = read_settled(&names, root, &before, settle);
    let mut lines_state = vec!["before the checkpoint:".to_string()];
    let before_lines = state::lines(&names, &before, root);
    lines_state.extend(before_lines.iter().take(LIST_MAX).map(|(_, l)| l.clone()));
    if before_lines.len() > LIST_MAX {
        lines_state.push(format!(
            "... and {} more tasks",
            before_lines.len() - LIST_MAX
        ));
    }
    match &after {
        Err(e) => c.eq(
            "the restarted tree read from /proc",
            "read",
            format!("{e:#}"),
        ),
        Ok(after) => {
            c.eq(
                "root's parent after the restart: the `ckpt restart` process",
                true,
                after.task(root).is_some_and(|t| t.row.ppid == coordinator),
            );
            c.eq("tasks in the restarted tree", n, after.tasks.len());
            if !diff.fds.is_empty() || !diff.shared_files.is_empty() {
                // For the console log: what the image says about the files.
                if let Ok(out) = Command::new(CKPT).args(["inspect", &img]).output() {
                    eprintln!(
                        "{name}: the image:\n{}",
                        String::from_utf8_lossy(&out.stdout)
                    );
                }
            }
            for (what, v) in [
                ("saved tasks missing from the restarted tree", &diff.missing),
                ("tasks in the restarted tree that were not saved", &diff.extra),
                (
                    "ids as saved: tgid, ppid (the root's aside), sid, pgid, thread, zombie, exit status, exit signal, comm",
                    &diff.ids,
                ),
                ("states as saved (R/S, Z)", &diff.states),
                ("thread ids of every process as saved", &diff.threads),
                ("open fds as saved: number, target, flags, pos", &diff.fds),
                ("fds sharing one open file as saved (kcmp)", &diff.shared_files),
                ("fds on one pipe as saved (either end)", &diff.shared_objects),
                (
                    "tasks sharing an open file table or fs context as saved (kcmp)",
                    &diff.tables,
                ),
            ] {
                c.eq(what, "[]", listed(v));
            }
            // Ids no task of the tree has: dead leaders (ghosts).
            let ghosts: std::collections::BTreeSet<i32> = before
                .tasks
                .iter()
                .flat_map(|t| [t.row.sid, t.row.pgid])
                .filter(|&id| namer.order(id).is_none() && id > 1)
                .collect();
            let alive: Vec<String> = ghosts
                .iter()
                .filter(|g| Path::new(&format!("/proc/{g}")).exists())
                .map(|&g| names.name(g))
                .collect();
            c.eq(
                "dead leaders' pids still free after the restart",
                "[]",
                listed(&alive),
            );
            workload_checks(&mut c, kind, &names, &before, after, image.as_ref());
            if let Some(m) = &cow_before {
                // The image is read: its file no longer counts as used memory.
                let _ = fs::remove_file(&img);
                cow::check(&mut c, m, after, image.as_ref());
            }
            let was: std::collections::HashSet<&(i32, String)> = before_lines.iter().collect();
            let after_lines = state::lines(&names, after, root);
            let (same, changed): (Vec<_>, Vec<_>) =
                after_lines.iter().partition(|l| was.contains(l));
            lines_state.push(format!(
                "after the restart: {} of {n} tasks as before",
                same.len()
            ));
            lines_state.extend(
                changed
                    .iter()
                    .take(LIST_MAX)
                    .map(|(_, l)| format!("after: {l}")),
            );
        }
    }
    let end_limit = Duration::from_secs(60) + Duration::from_millis(50) * n as u32;
    let verdict = finish_tree(&mut c, name, &job.0, restarted, end_limit)?;
    if n > LIST_MAX {
        // A large image only takes the guest's memory (/tmp is a tmpfs).
        let _ = fs::remove_file(&img);
    }
    let left = wait_gone(&pids, Duration::from_secs(10));
    c.eq(
        "no saved pid left once the tree ended",
        "[]",
        listed(&named(&names, &left)),
    );
    let mut state_out = vec![verdict.clone()];
    state_out.extend(lines_state);
    if !verdict.starts_with("PASS") {
        state_out.extend(complaints(name));
    }
    let (truth, image_named) = match &image {
        Some(i) => (namer.rows(&rows), namer.rows(&image_rows(i))),
        None => (Vec::new(), Vec::new()),
    };
    Ok(ScenarioResult {
        truth,
        image: image_named,
        checks: c.0,
        state: state_out,
        ..Default::default()
    })
}

/// Where a corrupted image was changed.
struct Corruption {
    /// The task whose VMA it is.
    pid: i32,
    /// Index of the VMA in the task's map.
    vma: usize,
    /// The VMA's new start: the previous VMA's.
    start: u64,
}

/// Makes one VMA of the last live process (not the root) in `image`
/// overlap the VMA before it: its start becomes that one's. Each record
/// still decodes (bounds aligned and in order, as the decoder checks
/// them), so `ckpt restart` takes the image and the tree is built; only
/// restart(2), which checks the map as a whole, finds it, in the middle of
/// the tree, after the tasks before it were restored.
fn corrupt_vma(image: &mut [u8], root: i32) -> Result<Corruption> {
    use ckpt_image::{ImageDecoder, Item, RawRecords, RECORD_HEADER_LEN};
    // (pid, index in the map, payload offset, start) of every VMA.
    let mut vmas: Vec<(i32, usize, usize, u64)> = Vec::new();
    let mut pid = 0;
    let mut k = 0;
    for (raw, item) in RawRecords::new(image).zip(ImageDecoder::new(image)) {
        let raw = raw.map_err(|e| anyhow::anyhow!("{e}"))?;
        match item.map_err(|e| anyhow::anyhow!("{e}"))? {
            Item::TaskState(t) => (pid, k) = (t.pid, 0),
            Item::Vma(v, _) => {
                vmas.push((pid, k, raw.offset as usize + RECORD_HEADER_LEN, v.start));
                k += 1;
            }
            _ => {}
        }
    }
    let target = vmas
        .iter()
        .rev()
        .map(|v| v.0)
        .find(|&p| p != root)
        .context("no process but the root has a memory map")?;
    let mine: Vec<&(i32, usize, usize, u64)> = vmas.iter().filter(|v| v.0 == target).collect();
    let at = (mine.len() / 2).max(1);
    let (Some(prev), Some(this)) = (mine.get(at - 1), mine.get(at)) else {
        anyhow::bail!("process {target} has fewer than two VMAs");
    };
    let field = image
        .get_mut(this.2..this.2 + 8)
        .context("VMA record out of the image")?;
    field.copy_from_slice(&prev.3.to_le_bytes());
    Ok(Corruption {
        pid: target,
        vma: this.1,
        start: prev.3,
    })
}

/// A multi-process image (the `sessions` workload) with one VMA of a later
/// task corrupted: `ckpt restart` must fail with a message naming the
/// failure, leave no process with a saved pid behind (every task killed,
/// the restored ones too), and the kernel log must name the VMA and the
/// task.
pub(super) fn err_restart_tree_corrupt(name: &str) -> Result<ScenarioResult> {
    let w = Workload::start(name, "sessions")?;
    let root = w.pid;
    let mut c = Checks(Vec::new());
    let rows = read_tree(root)?;
    let namer = Namer::new(&rows);
    let img = format!("/tmp/{name}.img");
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{root}")));
    checkpoint_kill(&mut c, root, &img)?;
    let pids: Vec<i32> = rows.iter().map(|r| r.pid).collect();
    let name_all = |v: &[i32]| -> Vec<String> { v.iter().map(|&p| namer.name(p)).collect() };
    let left = wait_gone(&pids, Duration::from_secs(10));
    c.eq(
        "saved pids free after checkpoint --kill",
        "[]",
        listed(&name_all(&left)),
    );
    let mut bytes = fs::read(&img).with_context(|| format!("reading {img}"))?;
    let saved = ckpt::inspect::parse(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bad = corrupt_vma(&mut bytes, root)?;
    fs::write(&img, &bytes)?;
    c.eq(
        "the corrupted image still decodes record by record",
        "ok",
        ckpt::inspect::parse(&bytes).map_or_else(|e| e.to_string(), |_| "ok".into()),
    );
    // Other scenarios use the same message sites (ten lines a window).
    super::fresh_log_window();
    super::mark_log(name)?;
    let out = Command::new(CKPT).args(["restart", &img]).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    c.eq(
        "ckpt restart exit status",
        "non-zero",
        if out.status.success() {
            "0"
        } else {
            "non-zero"
        },
    );
    let lower = stderr.to_lowercase();
    c.eq(
        "message names the failure (the kernel rejected the image)",
        "names it",
        if ["reject", "invalid argument", "einval"]
            .iter()
            .any(|w| lower.contains(w))
        {
            "names it"
        } else {
            stderr.as_str()
        },
    );
    let pid_word = bad.pid.to_string();
    c.eq(
        "message names the task that failed (its pid)",
        "names it",
        if stderr
            .split(|ch: char| !ch.is_ascii_digit())
            .any(|w| w == pid_word)
        {
            "names it"
        } else {
            stderr.as_str()
        },
    );
    let left = wait_gone(&pids, Duration::from_secs(10));
    c.eq(
        "no process with a saved pid remains",
        "[]",
        listed(&name_all(&left)),
    );
    let log = String::from_utf8_lossy(&super::log_since_mark(name)?).into_owned();
    // What restart(2) logged, shown when a line is missing.
    let restart_lines: Vec<&str> = log.lines().filter(|l| l.contains("restart:")).collect();
    let shown = format!("{restart_lines:?}");
    for (what, line) in [
        (
            "kernel log names the corrupted VMA (overlapping, at its start)",
            format!("overlapping VMAs at {:#x}", bad.start),
        ),
        (
            "kernel log names the task that failed",
            format!("pid {} failed to restore", bad.pid),
        ),
        (
            "kernel log says the tree failed and was killed",
            format!("the tree of pid {root} failed"),
        ),
    ] {
        c.eq(
            what,
            "logged",
            if log.contains(&line) {
                "logged"
            } else {
                shown.as_str()
            },
        );
    }
    let comm = rows
        .iter()
        .find(|r| r.pid == bad.pid)
        .map_or("?", |r| r.comm.as_str());
    Ok(ScenarioResult {
        truth: namer.rows(&rows),
        image: namer.rows(&image_rows(&saved)),
        checks: c.0,
        state: vec![
            format!(
                "corrupted: VMA #{} of {} ({comm}) starts where the one before does",
                bad.vma,
                namer.name(bad.pid)
            ),
            format!(
                "ckpt restart exit status {}",
                out.status.code().unwrap_or(-1)
            ),
        ],
        ..Default::default()
    })
}

/// Whole-tree images with random bytes changed, restarted one after the
/// other: a sessions tree (groups), an 8-thread process (threads), a
/// pipeline (pipes with bytes in flight) and a terminal (a pty with bytes
/// queued both ways, its files and the session's controlling terminal,
/// where only those records change). The scenario is the coordinator
/// itself: it builds each tree from the good image's plan (as `ckpt
/// restart` does) and hands the corrupted image straight to restart(2),
/// so every corruption reaches the kernel, which must find it mid-tree,
/// after some tasks are already restored. Bytes change in every record
/// but the memory contents. Every run must end: restart(2) fails and no
/// saved pid is left, or the tree runs (and is killed); the kernel must
/// still restart the good image; the run fails on any kernel warning
/// (qemu-test checks the log).
pub(super) fn err_restart_tree_corrupt_images(name: &str, runs: u32) -> Result<Vec<Check>> {
    use std::os::fd::{AsFd, AsRawFd};
    let mut c = Checks(Vec::new());
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut failed, mut ran) = (0u32, 0u32);
    let mut leftovers = Vec::new();
    let mut errnos = std::collections::BTreeMap::new();
    let kinds = [
        "sessions",
        "threads_8",
        "pipeline",
        "pty_session",
        "shared_tables",
    ];
    for kind in kinds {
        let scenario = format!("{name}-{kind}");
        let w = Workload::start(&scenario, kind)?;
        let root = w.pid;
        let pids: Vec<i32> = read_tree(root)?.iter().map(|r| r.pid).collect();
        let img = format!("/tmp/{scenario}.img");
        checkpoint_kill(&mut c, root, &img)?;
        let left = wait_gone(&pids, Duration::from_secs(10));
        c.eq(
            format!("{kind}: saved pids free"),
            "[]",
            format!("{left:?}"),
        );
        let good = fs::read(&img)?;
        let rows = ckpt::forest::rows_of_image(&good)?;
        let plan = ckpt::forest::plan(&rows)?;
        // Where bytes may change: every record but the memory contents;
        // in the terminal's tree only the pty, its files and the
        // controlling terminals; in the tree of shared tables only the
        // share records and the files records with their descriptors.
        let pty_parts = [
            ckpt_image::RecordType::Pty as u32,
            ckpt_image::RecordType::Ctty as u32,
            ckpt_image::RecordType::File as u32,
        ];
        let share_parts = [
            ckpt_image::RecordType::Share as u32,
            ckpt_image::RecordType::Files as u32,
            ckpt_image::RecordType::Fd as u32,
        ];
        let spans: Vec<(usize, usize)> = ckpt_image::RawRecords::new(&good)
            .filter_map(|r| r.ok())
            .filter(|r| r.kind != ckpt_image::RecordType::Pages as u32 && !r.payload.is_empty())
            .filter(|r| kind != "pty_session" || pty_parts.contains(&r.kind))
            .filter(|r| kind != "shared_tables" || share_parts.contains(&r.kind))
            .map(|r| {
                (
                    r.offset as usize + ckpt_image::RECORD_HEADER_LEN,
                    r.payload.len(),
                )
            })
            .collect();
        let bad = format!("/tmp/{scenario}-bad.img");
        // One restart: build the tree, restart(2) with `image`, then kill
        // whatever runs; Ok(true) if restart(2) succeeded.
        let mut restart_with = |image: &[u8]| -> Result<bool> {
            fs::write(&bad, image)?;
            let f = fs::File::open(&bad)?;
            let job = cgroup::create(&format!("{scenario}-r"))?;
            let dir = fs::File::open(&job)?;
            let opts = ckpt::mktree::BuildOptions {
                cgroup: Some(dir.as_fd()),
                live: ckpt::mktree::LiveEnd::Restore,
                timeout: Duration::from_secs(30),
                pod: 0,
                cgroups: &[],
            };
            let built = ckpt::mktree::build(&plan, &opts);
            let result = match &built {
                Ok(_) => ckpt::sys_restart_raw(root, f.as_raw_fd(), 0),
                Err(e) => return Err(anyhow::anyhow!("building the tree: {e:#}")),
            };
            let _ = cgroup::thaw(&job);
            let _ = cgroup::kill(&job);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(root), None);
            let left = wait_gone(&pids, Duration::from_secs(10));
            if !left.is_empty() {
                leftovers.push(format!("{kind}: {left:?}"));
            }
            let _ = fs::remove_dir(&job);
            match result {
                Ok(()) => Ok(true),
                Err((errno, _)) => {
                    *errnos.entry(format!("{errno:?}")).or_insert(0u32) += 1;
                    Ok(false)
                }
            }
        };
        for _ in 0..runs {
            let mut b = good.clone();
            for _ in 0..(next() % 3 + 1) {
                let (at, len) = spans[(next() % spans.len() as u64) as usize];
                let i = at + (next() % len as u64) as usize;
                b[i] ^= (next() % 255 + 1) as u8;
            }
            if restart_with(&b)? {
                ran += 1;
            } else {
                failed += 1;
            }
        }
        c.eq(
            format!("{kind}: the good image restarts after the bad ones"),
            true,
            restart_with(&good)?,
        );
        // Object records are restored wherever they appear: moved before
        // the first task, the root's turn creates every pipe of the tree,
        // and the later tasks take theirs from the table. But a record
        // that opens a path is opened only within its process's records,
        // with its credentials: moved there, the image is refused.
        let (first, paths) = super::hostile::objects_first(&good)?;
        c.eq(
            format!(
                "{kind}: the image with its objects moved before the first task restarts, unless one opens a path (opens one: {paths})"
            ),
            !paths,
            restart_with(&first)?,
        );
        let _ = fs::remove_file(&bad);
    }
    eprintln!(
        "corrupt tree images: {failed} failed in restart(2) (tree killed; errors {errnos:?}), \
         {ran} ran"
    );
    let all = kinds.len() as u32 * runs;
    c.eq("every run ended", all, failed + ran);
    c.eq(
        "runs that restart(2) refused (at least half)",
        true,
        failed * 2 >= all,
    );
    c.eq(
        "no saved pid left after any run",
        "[]",
        format!("{leftovers:?}"),
    );
    Ok(c.0)
}

/// `ckpt restart` of a 100-process tree killed (SIGKILL) while it is
/// inside restart(2) coordinating the tree: the kernel must kill every
/// task of the tree, restored or not, and say so in its log; no saved pid
/// may be left. Tried until the kill lands inside the call (the call is
/// short: a few hundred milliseconds).
pub(super) fn err_restart_coordinator_killed(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "tree_of_100")?;
    let root = w.pid;
    let pids: Vec<i32> = read_tree(root)?.iter().map(|r| r.pid).collect();
    c.eq("tasks in the tree", 100, pids.len());
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, root, &img)?;
    let left = wait_gone(&pids, Duration::from_secs(10));
    c.eq("saved pids free", "[]", format!("{left:?}"));
    let job = Path::new(cgroup::ROOT).join(format!("restart-{root}"));
    let mut hit = false;
    // The scenarios before used up the "tree failed" line's window.
    super::fresh_log_window();
    for _ in 0..5 {
        super::mark_log(name)?;
        let mut restarted = spawn_restart(&img)?;
        let coordinator = restarted.id();
        let syscall = format!("/proc/{coordinator}/syscall");
        let start = Instant::now();
        let mut inside = false;
        while start.elapsed() < Duration::from_secs(30) {
            let sc = fs::read_to_string(&syscall).unwrap_or_default();
            if sc.split_whitespace().next() == Some("464") {
                inside = true;
                break;
            }
            if matches!(restarted.try_wait(), Ok(Some(_))) {
                break;
            }
        }
        let _ = restarted.kill();
        let _ = restarted.wait();
        let left = wait_gone(&pids, Duration::from_secs(15));
        let new_log = String::from_utf8_lossy(&super::log_since_mark(name)?).into_owned();
        let _ = cgroup::kill(&job);
        let _ = wait_gone(&pids, Duration::from_secs(10));
        let _ = fs::remove_dir(&job);
        if inside && new_log.contains(&format!("the tree of pid {root} failed")) {
            hit = true;
            c.eq(
                "every task killed by the kernel (no saved pid left)",
                "[]",
                format!("{left:?}"),
            );
            c.eq(
                "the kernel log says the tree failed and was killed",
                true,
                new_log.contains("every task killed"),
            );
            break;
        }
    }
    c.eq(
        "the kill landed inside restart(2) (in one of 5 tries)",
        true,
        hit,
    );
    // Killed earlier, while it builds the tree: every task created so far
    // dies with its parent (ckpt sets a parent-death signal until
    // restart(2) sets the saved one).
    let mut restarted = spawn_restart(&img)?;
    let start = Instant::now();
    while !Path::new(&format!("/proc/{root}")).exists() && start.elapsed() < Duration::from_secs(30)
    {
        std::hint::spin_loop();
    }
    let building = fs::read_to_string(format!("/proc/{}/syscall", restarted.id()))
        .unwrap_or_default()
        .split_whitespace()
        .next()
        != Some("464");
    let _ = restarted.kill();
    let _ = restarted.wait();
    let left = wait_gone(&pids, Duration::from_secs(15));
    let _ = cgroup::kill(&job);
    let _ = wait_gone(&pids, Duration::from_secs(10));
    let _ = fs::remove_dir(&job);
    c.eq(
        "killed while building the tree (not yet in restart(2))",
        true,
        building,
    );
    c.eq(
        "the half-built tree died with it (no saved pid left)",
        "[]",
        format!("{left:?}"),
    );
    Ok(c.0)
}

/// `cow_shared`: the memory a forked tree shares, before the checkpoint
/// and after the restart.
mod cow {
    use super::Checks;
    use crate::workload::{COW_ADDR, COW_DROP, COW_KIDS, COW_LEN, COW_OWN, COW_PARENT};
    use anyhow::{Context, Result};
    use std::collections::BTreeMap;
    use testsuite::state::TreeState;

    /// The 32 MiB mapping of one process, from /proc/PID/smaps, in kB.
    type Region = crate::truth::Memory;

    /// The mapping of each process by name, and the system's used memory.
    pub(super) struct Memory {
        regions: BTreeMap<String, Region>,
        used_kb: u64,
    }

    fn region(pid: i32) -> Result<Region> {
        crate::truth::mapping(pid, COW_ADDR)
    }

    /// MemTotal - MemAvailable, in kB.
    fn used_kb() -> Result<u64> {
        let info = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
        let field = |name: &str| -> u64 {
            info.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(field("MemTotal:").saturating_sub(field("MemAvailable:")))
    }

    impl Memory {
        pub(super) fn read(tree: &TreeState) -> Result<Self> {
            let mut regions = BTreeMap::new();
            for t in &tree.tasks {
                regions.insert(t.row.comm.clone(), region(t.row.pid)?);
            }
            Ok(Self {
                regions,
                used_kb: used_kb()?,
            })
        }
    }

    /// Checks that the restarted tree shares its memory as before: each
    /// mapping as large, the parent's pages as shared, each child's only
    /// own pages private, and the system's used memory about the same.
    pub(super) fn check(
        c: &mut Checks,
        before: &Memory,
        after: &TreeState,
        image: Option<&ckpt::inspect::Image>,
    ) {
        let page_kb = 4;
        let pages = (COW_LEN / 4096) as u64;
        // In the image: each child's memory starts from the parent's, and
        // only its own pages are saved (the ones it wrote, and the 16 the
        // parent wrote after the fork, whose old copies it keeps).
        if let Some(i) = image {
            let parent = i
                .tasks
                .iter()
                .find(|t| t.comm == "cow-parent")
                .map(|t| t.pid);
            let mut saved = Vec::new();
            for st in &i.states {
                let comm = i
                    .tasks
                    .iter()
                    .find(|t| t.pid == st.pid)
                    .map_or(String::new(), |t| t.comm.clone());
                let Some(mm) = &st.mm else { continue };
                let v = mm.vmas.iter().find(|v| v.start == COW_ADDR as u64);
                let from = if mm.from.is_some() && mm.from == parent {
                    "from the parent"
                } else if mm.from.is_some() {
                    "from another"
                } else {
                    "own"
                };
                saved.push(format!(
                    "{comm}: {from}, {} saved + {} shared",
                    v.map_or(0, |v| v.pages),
                    v.map_or(0, |v| v.shared)
                ));
            }
            let own = (COW_OWN + COW_PARENT) as u64;
            let mut expected = vec![format!("cow-parent: own, {pages} saved + 0 shared")];
            for k in 0..COW_KIDS {
                let dropped = if k == 0 { COW_DROP as u64 } else { 0 };
                expected.push(format!(
                    "cow-child-{k}: from the parent, {own} saved + {} shared",
                    pages - own - dropped
                ));
            }
            c.eq(
                "the 32 MiB in the image: the parent's pages saved once, each child's own ones only",
                format!("{expected:?}"),
                format!("{saved:?}"),
            );
        }
        let mut now = BTreeMap::new();
        for t in &after.tasks {
            now.insert(t.row.comm.clone(), region(t.row.pid).unwrap_or_default());
        }
        // The parent's pages are shared with the children as before; a
        // child's pages too, except the 16 old pages the parent rewrote
        // after the fork, which its siblings shared and which are its own
        // copies now (the restart shares pages with the parent only).
        let siblings_kb = COW_PARENT as u64 * page_kb;
        let mut want = Vec::new();
        let mut got = Vec::new();
        for (comm, b) in &before.regions {
            let extra = if comm == "cow-parent" { 0 } else { siblings_kb };
            want.push(format!(
                "{comm}: rss {} kB, shared {} kB, private {} kB",
                b.rss,
                b.shared - extra,
                b.private + extra
            ));
            let a = now.get(comm).copied().unwrap_or_default();
            got.push(format!(
                "{comm}: rss {} kB, shared {} kB, private {} kB",
                a.rss, a.shared, a.private
            ));
        }
        c.eq(
            "/proc/PID/smaps of the 32 MiB: as before, but each child's 16 pages its siblings shared apart from the parent are its own",
            format!("{want:?}"),
            format!("{got:?}"),
        );
        // Copies instead of shared pages would take 8 x 32 MiB more.
        let grown = used_kb().unwrap_or(u64::MAX).saturating_sub(before.used_kb);
        eprintln!(
            "cow_shared: used memory {} kB before the checkpoint, {} kB more after the restart",
            before.used_kb, grown
        );
        // MemAvailable moves by tens of MiB between two reads here (page
        // cache, the killed tree's freed memory): the smaps check above is
        // the exact one; this one tells copies from sharing.
        c.eq(
            "the system's used memory after the restart: less than half of what copies for the children would add (256 MiB)",
            true,
            grown < 128 * 1024,
        );
    }
}
