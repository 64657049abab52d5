//! The scenarios: each builds a tree, checkpoints it, and checks the image
//! against the truth read from /proc, or checks that a bad call fails with
//! the right errno and writes nothing.

use crate::truth::{process_view, read_tree};
use anyhow::{bail, Context, Result};
use ckpt::{cgroup, sys_checkpoint, sys_restart};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, setgid, setuid, ForkResult, Gid, Pid, Uid};
use serde::Deserialize;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testsuite::{Check, Namer, RawRow, ScenarioResult};

pub(crate) mod faults;
pub(crate) mod hostile;
pub(crate) mod images;
mod tool;
mod tree;

pub(crate) const CKPT: &str = "/bin/ckpt";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
pub(crate) const SUBTREE: u64 = ckpt_image::CHECKPOINT_SUBTREE;

/// What `ckpt inspect --json` prints (the fields checked here).
#[derive(Deserialize)]
struct InspectJson {
    header: InspectHeader,
    root_pid: i32,
    tasks: Vec<InspectTask>,
}

#[derive(Deserialize)]
struct InspectHeader {
    version: u32,
    release: String,
}

#[derive(Deserialize)]
struct InspectTask {
    pid: i32,
    tgid: i32,
    ppid: i32,
    sid: i32,
    pgid: i32,
    thread: bool,
    zombie: bool,
    root: bool,
    exit_code: i32,
    comm: String,
}

/// A running workload in its own cgroup, killed when dropped.
pub(crate) struct Workload {
    pub(crate) pid: i32,
    pub(crate) cg: PathBuf,
}

impl Workload {
    fn start(scenario: &str, kind: &str) -> Result<Self> {
        Self::start_with(scenario, kind, READY_TIMEOUT)
    }

    /// [`Workload::start`], waiting at most `ready_timeout` for the tree.
    pub(crate) fn start_with(scenario: &str, kind: &str, ready_timeout: Duration) -> Result<Self> {
        let ready = PathBuf::from(format!("/tmp/ready-{scenario}"));
        let _ = fs::remove_file(&ready);
        let exe = std::env::current_exe().context("locating ckpt-scenarios")?;
        let argv: Vec<OsString> = match kind {
            // A static glibc program of its own (testsuite/c).
            "glibc_counter" => vec!["/bin/glibc-counter".into(), ready.clone().into()],
            _ => vec![
                exe.into(),
                "workload".into(),
                kind.into(),
                ready.clone().into(),
            ],
        };
        let log = PathBuf::from(format!("/tmp/{scenario}.log"));
        let opts = ckpt::RunOptions {
            name: Some(scenario),
            log: Some(&log),
        };
        let pid = ckpt::run_with(&opts, &argv)?;
        let cg = cgroup::of_pid(pid)?;
        let w = Workload { pid, cg };
        let start = Instant::now();
        while !ready.exists() {
            if start.elapsed() > ready_timeout {
                bail!("workload {kind} not ready after {ready_timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(w)
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = cgroup::thaw(&self.cg);
        let _ = cgroup::kill(&self.cg);
        // Reap the root (our child); orphans go to the runner, a subreaper.
        let _ = waitpid(Pid::from_raw(self.pid), None);
        for _ in 0..100 {
            if fs::remove_dir(&self.cg).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Collects checks into a result.
struct Checks(Vec<Check>);

impl Checks {
    fn eq(&mut self, what: impl Into<String>, expected: impl ToString, got: impl ToString) {
        self.0.push(Check {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        });
    }

    /// Checks that two values that vary between runs (addresses) are equal;
    /// records "equal" when they are, so the result is the same every run.
    fn same(&mut self, what: impl Into<String>, expected: String, got: String) {
        if expected == got {
            self.eq(what, "equal", "equal");
        } else {
            self.eq(what, expected, got);
        }
    }

    fn errno(&mut self, what: &str, expected: Errno, got: Result<(), Errno>) {
        let got = match got {
            Ok(()) => "success".to_string(),
            Err(e) => format!("{e:?}"),
        };
        self.eq(what, format!("{expected:?}"), got);
    }
}

fn errno_name(e: Errno) -> String {
    format!("{e:?}")
}

fn image_rows(img: &InspectJson) -> Vec<RawRow> {
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

/// Checks an image against the truth, field by field, and its order. Pids
/// in the checks are named by `namer` so that results compare across boots.
fn compare(c: &mut Checks, namer: &Namer, root: i32, truth: &[RawRow], img: &InspectJson) {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    c.eq(
        "header release is this kernel's",
        true,
        release.trim() == img.header.release,
    );
    c.eq(
        "header version",
        ckpt_image::IMAGE_VERSION,
        img.header.version,
    );
    c.eq("root pid", namer.name(root), namer.name(img.root_pid));
    c.eq("number of tasks", truth.len(), img.tasks.len());
    let roots: Vec<String> = img
        .tasks
        .iter()
        .filter(|t| t.root)
        .map(|t| namer.name(t.pid))
        .collect();
    c.eq(
        "tasks flagged root",
        format!("[{:?}]", namer.name(root)),
        format!("{roots:?}"),
    );
    let rows = image_rows(img);
    for t in truth {
        let what = format!("task {}", namer.name(t.pid));
        match rows.iter().find(|i| i.pid == t.pid) {
            None => c.eq(what, "present", "missing"),
            Some(i) => c.eq(
                what,
                format!("{:?}", namer.row(t)),
                format!("{:?}", namer.row(i)),
            ),
        }
    }
    // Image order: every task after its parent and after its group leader.
    let pos = |pid: i32| img.tasks.iter().position(|t| t.pid == pid);
    let mut misordered = Vec::new();
    for (k, t) in img.tasks.iter().enumerate() {
        let before = |p: i32| pos(p).is_none_or(|j| j < k);
        if t.thread && !before(t.tgid) || !t.thread && t.pid != root && !before(t.ppid) {
            misordered.push(namer.name(t.pid));
        }
    }
    c.eq(
        "tasks listed before their parent or leader",
        "[]",
        format!("{misordered:?}"),
    );
}

/// Checks every task's saved state against /proc: the memory map against
/// /proc/PID/maps, every saved page against /proc/PID/mem, and the
/// registers against /proc/PID/task/TID/syscall. Returns a summary per
/// task for the snapshot (named pids, counts, no addresses).
fn compare_state(
    c: &mut Checks,
    namer: &Namer,
    truth: &[RawRow],
    image: &[u8],
) -> Result<Vec<String>> {
    use ckpt_image::{ImageDecoder, Item};
    use std::os::unix::fs::FileExt;
    let img = ckpt::inspect::parse(image).map_err(|e| anyhow::anyhow!("{e}"))?;
    let live: Vec<&RawRow> = truth.iter().filter(|r| !r.zombie).collect();
    let saved: Vec<i32> = img.states.iter().map(|s| s.pid).collect();
    let want: Vec<i32> = live.iter().map(|r| r.pid).collect();
    c.eq(
        "a saved state for every live task, in image order",
        format!("{:?}", names(namer, &want)),
        format!("{:?}", names(namer, &saved)),
    );
    let mut summary = Vec::new();
    for st in &img.states {
        let who = namer.name(st.pid);
        let Some(row) = truth.iter().find(|r| r.pid == st.pid) else {
            continue;
        };
        // Registers: a task parked in pause(2) shows its call and user sp/pc.
        let sc = fs::read_to_string(format!("/proc/{}/task/{}/syscall", row.tgid, row.pid))
            .unwrap_or_default();
        let f: Vec<&str> = sc.split_whitespace().collect();
        let hex = |s: Option<&&str>| {
            s.and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        };
        c.eq(
            format!("{who}: syscall nr"),
            f.first().copied().unwrap_or("?"),
            st.orig_rax as i64,
        );
        c.same(
            format!("{who}: rsp as /proc/PID/syscall shows it"),
            format!("{:?}", hex(f.get(7))),
            format!("{:?}", Some(st.rsp)),
        );
        c.same(
            format!("{who}: rip as /proc/PID/syscall shows it"),
            format!("{:?}", hex(f.get(8))),
            format!("{:?}", Some(st.rip)),
        );
        c.eq(format!("{who}: xstate saved"), true, st.xstate_size >= 576);
        match (&st.mm, row.thread) {
            (None, true) => summary.push(format!("{who}: thread, regs + xstate")),
            (Some(_), true) => c.eq(format!("{who}: thread without mm"), "none", "some"),
            (None, false) => c.eq(format!("{who}: leader with mm"), "some", "none"),
            (Some(mm), false) => {
                let maps = fs::read_to_string(format!("/proc/{}/maps", st.pid))?;
                // [vsyscall] is the fixed gate page, not a VMA of the mm.
                let proc_maps: Vec<String> = maps
                    .lines()
                    .filter(|l| !l.ends_with("[vsyscall]"))
                    .map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        let off = u64::from_str_radix(f.get(2).unwrap_or(&"0"), 16).unwrap_or(0);
                        let name = f.get(5).copied().unwrap_or("");
                        let off = if name.starts_with('/') { off } else { 0 };
                        format!(
                            "{} {} {:x} {}",
                            f.first().unwrap_or(&""),
                            f.get(1).unwrap_or(&""),
                            off,
                            name
                        )
                    })
                    .collect();
                let img_maps: Vec<String> = mm
                    .vmas
                    .iter()
                    .map(|v| {
                        format!(
                            "{:x}-{:x} {} {:x} {}",
                            v.start, v.end, v.perms, v.offset, v.name
                        )
                    })
                    .collect();
                c.same(
                    format!("{who}: vmas as /proc/PID/maps shows them"),
                    proc_maps.join("; "),
                    img_maps.join("; "),
                );
                summary.push(format!(
                    "{who}: {} vmas, {} pages saved",
                    mm.vmas.len(),
                    if mm.pages >= 1000 {
                        format!("{}k", mm.pages / 1000)
                    } else {
                        "<1k".into()
                    }
                ));
            }
        }
    }
    // Every saved page equals the process's memory now (workloads sleep).
    let (mut pages, mut differ, mut pid) = (0u64, Vec::new(), 0);
    for item in ImageDecoder::new(image) {
        match item.map_err(|e| anyhow::anyhow!("{e}"))? {
            Item::TaskState(t) => pid = t.pid,
            Item::Pages(h, data) => {
                let mem = File::open(format!("/proc/{pid}/mem"))?;
                let mut now = vec![0u8; data.len()];
                mem.read_exact_at(&mut now, h.vaddr)?;
                for (i, (a, b)) in data
                    .chunks(ckpt_image::PAGE_SIZE)
                    .zip(now.chunks(ckpt_image::PAGE_SIZE))
                    .enumerate()
                {
                    pages += 1;
                    if a != b && differ.len() < 5 {
                        differ.push(format!(
                            "{} {:#x}",
                            namer.name(pid),
                            h.vaddr + (i * ckpt_image::PAGE_SIZE) as u64
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    c.eq(
        "saved pages that differ from /proc/PID/mem",
        "[]",
        format!("{differ:?}"),
    );
    c.eq("pages saved", true, pages > 0);
    Ok(summary)
}

fn names(namer: &Namer, pids: &[i32]) -> Vec<String> {
    pids.iter().map(|p| namer.name(*p)).collect()
}

fn inspect_json(out: &std::process::Output, c: &mut Checks) -> Result<InspectJson> {
    c.eq(
        "ckpt inspect exit status",
        0,
        out.status.code().unwrap_or(-1),
    );
    serde_json::from_slice(&out.stdout).context("parsing `ckpt inspect --json` output")
}

/// Checkpoints the workload's tree (or `target`'s) with the `ckpt` tool and
/// compares the image with /proc.
fn tree_scenario(
    name: &str,
    kind: &str,
    target: Option<fn(&Workload) -> Result<i32>>,
    flags: u64,
) -> Result<ScenarioResult> {
    let w = Workload::start(name, kind)?;
    let root = match target {
        Some(f) => f(&w)?,
        None => w.pid,
    };
    let mut c = Checks(Vec::new());
    let truth = read_tree(root)?;
    let img_path = format!("/tmp/{name}.img");
    let out = Command::new(CKPT)
        .args([
            "checkpoint",
            &root.to_string(),
            "-o",
            &img_path,
            "--flags",
            &format!("{flags:#x}"),
        ])
        .output()?;
    c.eq(
        "ckpt checkpoint exit status",
        0,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "ckpt checkpoint stderr",
        "",
        String::from_utf8_lossy(&out.stderr).trim(),
    );
    let after = read_tree(root)?;
    let namer = Namer::new(&truth);
    c.eq(
        "tree unchanged by checkpoint",
        format!("{:?}", namer.rows(&truth)),
        format!("{:?}", namer.rows(&after)),
    );
    c.eq(
        "tree unchanged by checkpoint (raw pids)",
        true,
        truth == after,
    );
    c.eq(
        "tree thawed after checkpoint",
        false,
        cgroup::is_frozen(&w.cg)?,
    );
    let out = Command::new(CKPT)
        .args(["inspect", "--json", &img_path])
        .output()?;
    let img = inspect_json(&out, &mut c)?;
    compare(&mut c, &namer, root, &truth, &img);
    let table = Command::new(CKPT).args(["inspect", &img_path]).output()?;
    c.eq(
        "ckpt inspect (table) exit status",
        0,
        table.status.code().unwrap_or(-1),
    );
    let state = compare_state(&mut c, &namer, &truth, &fs::read(&img_path)?)?;
    if flags & SUBTREE == 0 {
        // Its pids are the checkpointing process's view: restart(2)
        // refuses such an image rather than change every getpid(). (The
        // header is checked first: any process may try.)
        let img = File::open(&img_path)?;
        // SAFETY: the child only calls restart(2) and leaves.
        let status = match unsafe { fork() }? {
            ForkResult::Child => {
                let code = match sys_restart(0, img.as_fd(), 0) {
                    Ok(()) => 0,
                    Err(e) => e as i32,
                };
                // SAFETY: leave at once.
                unsafe { nix::libc::_exit(code) }
            }
            ForkResult::Parent { child } => waitpid(child, None)?,
        };
        c.eq(
            "restart(2) of a whole-namespace image",
            "EOPNOTSUPP",
            match status {
                WaitStatus::Exited(_, e) => errno_name(Errno::from_raw(e)),
                other => format!("{other:?}"),
            },
        );
    }
    Ok(ScenarioResult {
        truth: namer.rows(&truth),
        image: namer.rows(&image_rows(&img)),
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// The image streamed through a pipe: `ckpt checkpoint -o - | ckpt inspect -`.
fn pipe_to_inspect(name: &str) -> Result<ScenarioResult> {
    let w = Workload::start(name, "parent_three_children")?;
    let mut c = Checks(Vec::new());
    let truth = read_tree(w.pid)?;
    let script = format!(
        "set -o pipefail; {CKPT} checkpoint {} -o - | {CKPT} inspect --json -",
        w.pid
    );
    let out = Command::new("/bin/sh").args(["-c", &script]).output()?;
    c.eq(
        "pipeline stderr",
        "",
        String::from_utf8_lossy(&out.stderr).trim(),
    );
    let img = inspect_json(&out, &mut c)?;
    let namer = Namer::new(&truth);
    compare(&mut c, &namer, w.pid, &truth, &img);
    Ok(ScenarioResult {
        truth: namer.rows(&truth),
        image: namer.rows(&image_rows(&img)),
        checks: c.0,
        ..Default::default()
    })
}

/// The children of process `pid` (of its main thread), oldest first.
pub(crate) fn children_of(pid: i32) -> Result<Vec<i32>> {
    let text = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
    Ok(text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?)
}

/// The `n`th child of process `pid`.
pub(crate) fn nth_child(pid: i32, n: usize) -> Result<i32> {
    children_of(pid)?
        .get(n)
        .copied()
        .with_context(|| format!("process {pid} has no child number {n}"))
}

fn ns_init_of(w: &Workload) -> Result<i32> {
    nth_child(w.pid, 0)
}

pub(crate) fn output_file(name: &str) -> Result<(PathBuf, File)> {
    let p = PathBuf::from(format!("/tmp/{name}.img"));
    let f = File::create(&p)?;
    Ok((p, f))
}

pub(crate) fn size(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(u64::MAX)
}

fn err_einval_flags(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    c.errno(
        "unknown flag 0x80",
        Errno::EINVAL,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE | 0x80),
    );
    c.errno(
        "unknown flag 1<<63",
        Errno::EINVAL,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE | 1 << 63),
    );
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

fn err_einval_not_pidns_init(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    c.errno(
        "whole-namespace checkpoint of a non-init task",
        Errno::EINVAL,
        sys_checkpoint(w.pid, f.as_fd(), 0),
    );
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

fn err_ebadf(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let mut c = Checks(Vec::new());
    let (p, _) = output_file(name)?;
    let ro = File::open(&p)?;
    c.errno(
        "fd open read-only",
        Errno::EBADF,
        sys_checkpoint(w.pid, ro.as_fd(), SUBTREE),
    );
    // SAFETY: -1 and 1000 are never open here; the borrowed fd is not used
    // beyond the call.
    let bad = unsafe { std::os::fd::BorrowedFd::borrow_raw(1000) };
    c.errno(
        "fd not open",
        Errno::EBADF,
        sys_checkpoint(w.pid, bad, SUBTREE),
    );
    // SAFETY: checkpoint(2) with plain integer arguments (a negative fd).
    let ret = unsafe {
        nix::libc::syscall(
            ckpt_image::SYS_CHECKPOINT,
            w.pid as nix::libc::c_long,
            -1 as nix::libc::c_long,
            SUBTREE,
        )
    };
    c.eq(
        "fd -1",
        "EBADF",
        if ret == -1 {
            errno_name(Errno::last())
        } else {
            "success".into()
        },
    );
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

fn err_esrch(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    // A pid that existed a moment ago and was reaped.
    // SAFETY: the child exits at once.
    let gone = match unsafe { fork() }? {
        ForkResult::Parent { child } => {
            waitpid(child, None)?;
            child.as_raw()
        }
        // SAFETY: leaves at once, without the parent's exit handlers.
        ForkResult::Child => unsafe { nix::libc::_exit(0) },
    };
    c.errno(
        "reaped pid",
        Errno::ESRCH,
        sys_checkpoint(gone, f.as_fd(), SUBTREE),
    );
    c.errno("pid 0", Errno::ESRCH, sys_checkpoint(0, f.as_fd(), SUBTREE));
    c.errno(
        "pid -5",
        Errno::ESRCH,
        sys_checkpoint(-5, f.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

fn err_eperm_unprivileged(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "parent_three_children")?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    // A child drops to uid/gid 1000 and tries: it reports the errno as its
    // exit status.
    // SAFETY: the child only makes system calls and exits.
    let status = match unsafe { fork() }? {
        ForkResult::Parent { child } => waitpid(child, None)?,
        ForkResult::Child => {
            let code = match setgid(Gid::from_raw(1000)).and_then(|_| setuid(Uid::from_raw(1000))) {
                Err(_) => 255,
                Ok(()) => match sys_checkpoint(w.pid, f.as_fd(), SUBTREE) {
                    Ok(()) => 0,
                    Err(e) => e as i32,
                },
            };
            // SAFETY: leaves at once, without the parent's exit handlers.
            unsafe { nix::libc::_exit(code) }
        }
    };
    let got = match status {
        WaitStatus::Exited(_, 0) => "success".to_string(),
        WaitStatus::Exited(_, 255) => "could not drop privileges".to_string(),
        WaitStatus::Exited(_, e) => errno_name(Errno::from_raw(e)),
        other => format!("{other:?}"),
    };
    c.eq("uid 1000 on root's frozen tree", "EPERM", got);
    c.eq("bytes written", 0, size(&p));
    Ok(c.0)
}

/// Two processes sharing one file table (clone with CLONE_FILES, not a
/// thread): checkpoint(2) refuses with EOPNOTSUPP before writing, the
/// tool says why, the kernel log names both pids, the tree runs on.
fn err_eopnotsupp_shared_table(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "shared_files_table")?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    let child = nth_child(w.pid, 0)?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    c.errno(
        "processes sharing a file table",
        Errno::EOPNOTSUPP,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p));
    cgroup::thaw(&w.cg)?;
    let out = Command::new(CKPT)
        .args(["checkpoint", &w.pid.to_string(), "-o", &p.to_string_lossy()])
        .output()?;
    c.eq(
        "ckpt checkpoint exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "the message names the cause",
        true,
        String::from_utf8_lossy(&out.stderr).contains("share their memory, file table"),
    );
    // A process whose leader thread exited while another runs on.
    let z = Workload::start(&format!("{name}-zombie-leader"), "zombie_leader")?;
    let start = Instant::now();
    while !fs::read_to_string(format!("/proc/{}/stat", z.pid))
        .unwrap_or_default()
        .contains(") Z")
        && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    cgroup::freeze(&z.cg, Duration::from_secs(5))?;
    let (p2, f2) = output_file(&format!("{name}-zombie-leader"))?;
    c.errno(
        "a zombie leader with a live thread",
        Errno::EOPNOTSUPP,
        sys_checkpoint(z.pid, f2.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p2));
    let log = Command::new("/bin/dmesg").output()?;
    c.eq(
        "kernel log names both processes",
        true,
        String::from_utf8_lossy(&log.stdout).contains(&format!(
            "processes {} and {child} share their open file table",
            w.pid
        )),
    );
    c.eq(
        "kernel log names the process whose leader exited",
        true,
        String::from_utf8_lossy(&log.stdout).contains(&format!(
            "the leader of process {} exited while its threads run on",
            z.pid
        )),
    );
    c.eq("the tree runs on, thawed", false, cgroup::is_frozen(&w.cg)?);
    Ok(c.0)
}

fn err_ebusy_not_frozen(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "parent_three_children")?;
    let mut c = Checks(Vec::new());
    let (p, f) = output_file(name)?;
    c.errno(
        "tree not frozen",
        Errno::EBUSY,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p));
    // One child moved to another cgroup: the rest frozen, that one not.
    let child = nth_child(w.pid, 1)?;
    let other = cgroup::create(&format!("{name}-other"))?;
    cgroup::add(&other, child)?;
    cgroup::freeze(&w.cg, Duration::from_secs(5))?;
    c.errno(
        "one child not frozen",
        Errno::EBUSY,
        sys_checkpoint(w.pid, f.as_fd(), SUBTREE),
    );
    c.eq("bytes written", 0, size(&p));
    cgroup::thaw(&w.cg)?;
    cgroup::add(&w.cg, child)?;
    let _ = fs::remove_dir(&other);
    // The tool names the cause and the fix.
    let out = Command::new(CKPT)
        .args([
            "checkpoint",
            &w.pid.to_string(),
            "-o",
            "/tmp/ebusy-cli.img",
            "--no-freeze",
        ])
        .output()?;
    c.eq(
        "ckpt --no-freeze exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    c.eq(
        "ckpt --no-freeze message names the cause",
        true,
        stderr.contains("not frozen"),
    );
    c.eq(
        "ckpt removes the partial output",
        false,
        Path::new("/tmp/ebusy-cli.img").exists(),
    );
    Ok(c.0)
}

/// restart(2) calls that must fail before touching the caller.
fn err_restart_bad_calls(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let canary = std::hint::black_box(vec![0x5au8; 4096]);
    let (p, _) = output_file(name)?;
    let empty = File::open(&p)?;
    c.errno(
        "empty image",
        Errno::EINVAL,
        sys_restart(0, empty.as_fd(), 0),
    );
    c.errno(
        "unknown flags",
        Errno::EINVAL,
        sys_restart(0, empty.as_fd(), 1),
    );
    c.errno(
        "pid other than 0",
        Errno::EINVAL,
        sys_restart(5, empty.as_fd(), 0),
    );
    let wo = OpenOptions::new().write(true).open(&p)?;
    c.errno(
        "fd open write-only",
        Errno::EBADF,
        sys_restart(0, wo.as_fd(), 0),
    );
    // A valid image of another process: refused, the caller untouched.
    let w = Workload::start(name, "sleeper")?;
    let out = Command::new(CKPT)
        .args(["checkpoint", &w.pid.to_string(), "-o", &p.to_string_lossy()])
        .output()?;
    c.eq("checkpoint exit status", 0, out.status.code().unwrap_or(-1));
    let img = File::open(&p)?;
    c.errno(
        "image of another pid",
        Errno::ESRCH,
        sys_restart(0, img.as_fd(), 0),
    );
    // The same image cut inside the forest table.
    let bytes = fs::read(&p)?;
    let cut = PathBuf::from(format!("/tmp/{name}-cut.img"));
    fs::write(&cut, bytes.get(..120).unwrap_or(&bytes))?;
    c.errno(
        "image cut after 120 bytes",
        Errno::EINVAL,
        sys_restart(0, File::open(&cut)?.as_fd(), 0),
    );
    c.eq(
        "caller's memory intact",
        true,
        canary.iter().all(|&b| b == 0x5a),
    );
    Ok(c.0)
}

/// How a restart scenario gets its image to `ckpt restart`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// Checkpoint to a file, kill, restart from the file.
    Once,
    /// The same, and then checkpoint and restart the restarted process.
    Twice,
    /// `ckpt checkpoint -o - --kill | ckpt restart -`.
    Pipe,
}

/// Waits until `pid` runs a program named `comm` (so restart(2) is done).
fn wait_comm(pid: i32, comm: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Kills and removes a `ckpt restart` job cgroup when dropped.
struct RestartJob(PathBuf);

impl Drop for RestartJob {
    fn drop(&mut self) {
        let _ = cgroup::thaw(&self.0);
        let _ = cgroup::kill(&self.0);
        for _ in 0..100 {
            if fs::remove_dir(&self.0).is_ok() || !self.0.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn spawn_restart(img: &str) -> Result<std::process::Child> {
    Ok(Command::new(CKPT)
        .args(["restart", img])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?)
}

/// Checkpoints a workload, kills it and restarts it from the image; the
/// workload then checks itself (`verdict`) or, `in_pause`, must be back in
/// pause(2).
fn restart_scenario(name: &str, kind: &str, mode: Restart) -> Result<ScenarioResult> {
    let w = Workload::start(name, kind)?;
    let pid = w.pid;
    let comm = fs::read_to_string(format!("/proc/{pid}/comm"))?
        .trim()
        .to_string();
    let exe = fs::read_link(format!("/proc/{pid}/exe"))?;
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");
    if kind == "nanosleep_once" {
        // Checkpoint it inside the sleep, not on its way there.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            let sc = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
            if matches!(sc.split_whitespace().next(), Some("35" | "230")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // What /proc shows of the process, read while it is frozen (the
    // checkpoint leaves a frozen job frozen), compared after the restart.
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let view = process_view(pid)?;
    let t = Instant::now();
    let mut restarted = if mode == Restart::Pipe {
        let script =
            format!("set -o pipefail; {CKPT} checkpoint {pid} -o - --kill | {CKPT} restart -");
        let child = Command::new("/bin/sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // Reap the killed original so that its pid is free.
        let _ = waitpid(Pid::from_raw(pid), None);
        child
    } else {
        let out = Command::new(CKPT)
            .args(["checkpoint", &pid.to_string(), "-o", &img, "--kill"])
            .output()?;
        c.eq(
            "ckpt checkpoint --kill exit status",
            0,
            out.status.code().unwrap_or(-1),
        );
        let t_ckpt = t.elapsed();
        let _ = waitpid(Pid::from_raw(pid), None);
        let t = Instant::now();
        let child = spawn_restart(&img)?;
        let ok = wait_comm(pid, &comm);
        eprintln!(
            "timing: {name}: checkpoint {:.3} s, restart {:.3} s",
            t_ckpt.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        c.eq("restarted with the same pid", true, ok);
        child
    };
    c.eq(
        "running again with the same pid",
        true,
        wait_comm(pid, &comm),
    );
    let exe_now = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    c.eq("/proc/PID/exe as before", exe.display(), exe_now.display());
    compare_views(&mut c, &view, &process_view(pid)?);
    if mode == Restart::Twice {
        let img2 = format!("/tmp/{name}-2.img");
        let out = Command::new(CKPT)
            .args(["checkpoint", &pid.to_string(), "-o", &img2, "--kill"])
            .output()?;
        c.eq(
            "second checkpoint exit status",
            0,
            out.status.code().unwrap_or(-1),
        );
        c.eq(
            "second checkpoint stderr",
            "",
            String::from_utf8_lossy(&out.stderr).trim(),
        );
        if !out.status.success() {
            // Do not wait for a program that was not killed.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let first = restarted.wait_with_output()?;
        c.eq(
            "first restart ends with the kill (128 + SIGKILL)",
            137,
            first.status.code().unwrap_or(-1),
        );
        restarted = spawn_restart(&img2)?;
        c.eq(
            "restarted a second time with the same pid",
            true,
            wait_comm(pid, &comm),
        );
    }
    let blocked_in = match kind {
        "sleeper" => Some(("pause(2)", "34")),
        "futex_wait" => Some(("futex(2)", "202")),
        "pipe_check" => Some(("read(2)", "0")),
        "sigsuspend_check" => Some(("rt_sigsuspend(2)", "130")),
        _ => None,
    };
    if let Some((call, nr)) = blocked_in {
        // Back in the call: it was restarted, not failed with EINTR.
        std::thread::sleep(Duration::from_millis(100));
        let sc = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        c.eq(
            format!("blocked in {call} again"),
            nr,
            sc.split_whitespace().next().unwrap_or("?"),
        );
        let st = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        c.eq(
            "state",
            "S",
            st.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("?"),
        );
        if kind == "pipe_check" || kind == "sigsuspend_check" {
            // Its handler wakes the call; then it checks its pipes, or its
            // signal mask.
            let _ = fs::remove_file(format!("/tmp/result-{name}"));
            let _ = kill(Pid::from_raw(pid), Signal::SIGUSR1);
            let what = if kind == "pipe_check" {
                "the program's check of its pipes"
            } else {
                "the program's check of its signal mask"
            };
            let verdict = collect(&mut c, name, restarted, what)?;
            return Ok(ScenarioResult {
                checks: c.0,
                state: vec![verdict],
                ..Default::default()
            });
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let out = restarted.wait_with_output()?;
        c.eq(
            "ckpt restart exit status (128 + SIGKILL)",
            137,
            out.status.code().unwrap_or(-1),
        );
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    }
    let verdict = finish(
        &mut c,
        name,
        restarted,
        "the program's own check after the restart",
    )?;
    Ok(ScenarioResult {
        checks: c.0,
        state: vec![verdict],
        ..Default::default()
    })
}

/// A parent blocked in wait4(2) for its sleeping child, checkpointed and
/// restarted together: the parent is back in wait4 and the child in
/// pause; a SIGTERM to the child then ends the parent's wait4 with the
/// child's pid and status, as if nothing had happened.
fn restart_in_wait4(name: &str) -> Result<ScenarioResult> {
    let w = Workload::start(name, "wait4_parent")?;
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
    let child: i32 = children
        .split_whitespace()
        .next()
        .context("the waiter has no child")?
        .parse()?;
    let sc = |p: i32| {
        fs::read_to_string(format!("/proc/{p}/syscall"))
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .to_string()
    };
    // Wait until the parent is in wait4 (it may still be on its way).
    let start = Instant::now();
    while sc(pid) != "61" && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, pid, &img)?;
    // The killed child is reparented and reaped by init: wait for its pid.
    let start = Instant::now();
    while Path::new(&format!("/proc/{child}")).exists() && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let restarted = spawn_restart(&img)?;
    c.eq("parent back with its pid", true, wait_comm(pid, "waiter"));
    c.eq(
        "child back with its pid",
        true,
        wait_comm(child, "sleeper-kid"),
    );
    std::thread::sleep(Duration::from_millis(100));
    c.eq("parent blocked in wait4(2) again", "61", sc(pid));
    c.eq("child blocked in pause(2) again", "34", sc(child));
    let _ = fs::remove_file(format!("/tmp/result-{name}"));
    let _ = kill(Pid::from_raw(child), Signal::SIGTERM);
    let verdict = collect(&mut c, name, restarted, "the parent's check of its wait4")?;
    Ok(ScenarioResult {
        checks: c.0,
        state: vec![verdict],
        ..Default::default()
    })
}

/// Compares what /proc shows of a process before its checkpoint and after
/// its restart (maps, credentials, umask, signal masks and pending sets,
/// directories, descriptors with flags and offsets): every line must be
/// there again, and nothing else.
fn compare_views(c: &mut Checks, before: &[String], after: &[String]) {
    let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
    let new: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    c.eq(
        "/proc/PID (maps, status ids and signals, cwd, root, fdinfo) as before: lost",
        "[]",
        format!("{gone:?}"),
    );
    c.eq(
        "/proc/PID (maps, status ids and signals, cwd, root, fdinfo) as before: new",
        "[]",
        format!("{new:?}"),
    );
    c.eq(
        "/proc/PID facts compared (maps, status, directories, fds)",
        true,
        before.len() >= 10,
    );
}

/// Tells a restarted self-checking workload to finish (its go file), waits
/// for `ckpt restart` and checks the program's verdict; returns the verdict
/// without what varies (iteration count, pid).
fn finish(
    c: &mut Checks,
    name: &str,
    restarted: std::process::Child,
    what: &str,
) -> Result<String> {
    let _ = fs::remove_file(format!("/tmp/result-{name}"));
    fs::write(format!("/tmp/go-{name}"), b"go\n")?;
    collect(c, name, restarted, what)
}

/// Waits for `ckpt restart` and checks the verdict the program wrote.
fn collect(
    c: &mut Checks,
    name: &str,
    restarted: std::process::Child,
    what: &str,
) -> Result<String> {
    let result = PathBuf::from(format!("/tmp/result-{name}"));
    let out = restarted.wait_with_output()?;
    c.eq(
        "ckpt restart exit status (the program's)",
        0,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "ckpt restart stderr",
        "",
        String::from_utf8_lossy(&out.stderr).trim(),
    );
    let verdict = fs::read_to_string(&result).unwrap_or_default();
    let verdict: Vec<&str> = verdict
        .split_whitespace()
        .filter(|w| !w.starts_with("n=") && !w.starts_with("pid="))
        .collect();
    c.eq(what, "PASS", verdict.first().copied().unwrap_or("(none)"));
    Ok(verdict.join(" "))
}

/// `ckpt checkpoint PID -o IMG --kill`, then reaps the killed original
/// (the scenario's child) so that its pid is free.
fn checkpoint_kill(c: &mut Checks, pid: i32, img: &str) -> Result<()> {
    let out = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", img, "--kill"])
        .output()?;
    c.eq("checkpoint exit status", 0, out.status.code().unwrap_or(-1));
    let _ = waitpid(Pid::from_raw(pid), None);
    Ok(())
}

/// One image restarted `times` times in a row while two processes burn
/// the CPUs with floating-point work beside it (restore races showed only
/// under load): every restarted program must find its registers, xmm/ymm
/// included, and memory exact.
fn restart_many(name: &str, times: usize) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "counter_fpu")?;
    let pid = w.pid;
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, pid, &img)?;
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let _burners = (
        Workload::start(&format!("{name}-burner-1"), "burner")?,
        Workload::start(&format!("{name}-burner-2"), "burner")?,
    );
    // Told to finish at once: each restarted program leaves its loop at
    // the next check and verifies itself.
    fs::write(format!("/tmp/go-{name}"), b"go\n")?;
    let result = PathBuf::from(format!("/tmp/result-{name}"));
    let (mut passed, mut failures) = (0, Vec::new());
    let t = Instant::now();
    for i in 0..times {
        let _ = fs::remove_file(&result);
        let out = Command::new(CKPT).args(["restart", &img]).output()?;
        let verdict = fs::read_to_string(&result).unwrap_or_default();
        if out.status.success() && verdict.starts_with("PASS") {
            passed += 1;
        } else if failures.len() < 3 {
            failures.push(format!(
                "#{i}: {:?} {}{}",
                out.status.code(),
                verdict.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    eprintln!(
        "timing: {name}: {times} restarts in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    c.eq("restarts whose program passed its own check", times, passed);
    c.eq("failures", "[]", format!("{failures:?}"));
    Ok(c.0)
}

/// `ckpt restart --pidns` while the original still runs (its pid taken
/// here): the process is recreated with its pid in a new pid namespace.
fn restart_pidns(name: &str) -> Result<ScenarioResult> {
    let w = Workload::start(name, "counter_fpu")?;
    let pid = w.pid;
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");
    let out = Command::new(CKPT)
        .args(["checkpoint", &pid.to_string(), "-o", &img])
        .output()?;
    c.eq(
        "checkpoint exit status (the original keeps running)",
        0,
        out.status.code().unwrap_or(-1),
    );
    let job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{pid}")));
    let restarted = Command::new(CKPT)
        .args(["restart", "--pidns", &img])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // The restarted process: the one in the restart cgroup named like it.
    let start = Instant::now();
    let mut found = None;
    while found.is_none() && start.elapsed() < Duration::from_secs(30) {
        found = cgroup::procs(&job.0)
            .unwrap_or_default()
            .into_iter()
            .find(|p| {
                fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "counter")
            });
        std::thread::sleep(Duration::from_millis(5));
    }
    c.eq("restarted in the new namespace", true, found.is_some());
    if let Some(host_pid) = found {
        let ns = |p: &str| fs::read_link(format!("/proc/{p}/ns/pid")).unwrap_or_default();
        c.eq(
            "in another pid namespace",
            true,
            ns(&host_pid.to_string()) != ns("self"),
        );
        let status = fs::read_to_string(format!("/proc/{host_pid}/status")).unwrap_or_default();
        let nspid = status
            .lines()
            .find(|l| l.starts_with("NSpid:"))
            .unwrap_or("");
        let inner = nspid.split_whitespace().last().unwrap_or("?").to_string();
        c.eq(
            "its pid in the namespace is the saved one",
            true,
            inner == pid.to_string(),
        );
    }
    // The original goes first, so only the restarted one answers.
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
    let verdict = finish(
        &mut c,
        name,
        restarted,
        "the program's own check (getpid() is the saved pid)",
    )?;
    Ok(ScenarioResult {
        checks: c.0,
        state: vec![verdict],
        ..Default::default()
    })
}

/// restart(2) fed `runs` corrupted copies of a valid image (random bytes
/// changed anywhere before the page contents: headers, forest, registers,
/// xstate, signal state, memory map, files), each by a process recreated
/// with the saved pid so that every record is reached. Each run must end
/// (an errno, a killed task, or a program that crashes or exits); the
/// kernel log is checked for splats by qemu-test.
fn restart_corrupt_images(name: &str, runs: u32) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "counter_fpu")?;
    let pid = w.pid;
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, pid, &img)?;
    // A restored counter finishes at once and exits.
    fs::write(format!("/tmp/go-{name}"), b"go\n")?;
    let good = fs::read(&img)?;
    // Everything before the first pages record.
    let end = ckpt_image::RawRecords::new(&good)
        .filter_map(|r| r.ok())
        .find(|r| r.kind == ckpt_image::RecordType::Pages as u32)
        .map(|r| r.offset as usize)
        .unwrap_or(good.len());
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ended, mut hung) = (0u32, 0u32);
    for _ in 0..runs {
        let mut b = good.clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() % end as u64) as usize;
            b[at] = next() as u8;
        }
        // A corrupted but valid image can make a program that runs on:
        // that is not a kernel failure, but count it.
        match images::attempt(pid, &b)? {
            images::Outcome::Running => hung += 1,
            _ => ended += 1,
        }
    }
    eprintln!("corrupt images: {ended} ended, {hung} ran on and were killed");
    c.eq("every run ended or was stopped", runs, ended + hung);
    c.eq(
        "the kernel is still serving restart(2) on a good image",
        "ESRCH",
        {
            let f = File::open(&img)?;
            match sys_restart(0, f.as_fd(), 0) {
                Err(e) => format!("{e:?}"),
                Ok(()) => "success".into(),
            }
        },
    );
    Ok(c.0)
}

/// `ckpt restart` refuses when the saved pid is in use.
fn err_restart_pid_taken(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");
    let out = Command::new(CKPT)
        .args(["checkpoint", &w.pid.to_string(), "-o", &img])
        .output()?;
    c.eq("checkpoint exit status", 0, out.status.code().unwrap_or(-1));
    let out = Command::new(CKPT).args(["restart", &img]).output()?;
    c.eq(
        "ckpt restart exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "message names the cause",
        true,
        String::from_utf8_lossy(&out.stderr).contains("is taken"),
    );
    c.eq(
        "the original still runs",
        "sleeper",
        fs::read_to_string(format!("/proc/{}/comm", w.pid))?.trim(),
    );
    Ok(c.0)
}

/// A cut image is refused before anything is started.
fn err_restart_truncated(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, w.pid, &img)?;
    let bytes = fs::read(&img)?;
    fs::write(&img, bytes.get(..bytes.len() / 2).unwrap_or(&bytes))?;
    let out = Command::new(CKPT).args(["restart", &img]).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    c.eq(
        "ckpt restart exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "message says the image is cut",
        true,
        stderr.contains("not a valid image") && stderr.contains("truncated"),
    );
    c.eq(
        "nothing runs with the saved pid",
        false,
        Path::new(&format!("/proc/{}", w.pid)).exists(),
    );
    Ok(c.0)
}

/// Kinds of state kernel-ckpt does not carry yet: checkpoint(2) refuses
/// each with EOPNOTSUPP before it writes anything, the kernel log names
/// the process and the state, and the tree runs on, thawed.
fn err_eopnotsupp_not_carried(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    // One message site names every refusal: ten a window.
    for (i, (kind, phrase)) in crate::workload::holds::KINDS.iter().enumerate() {
        if i % 10 == 0 {
            fresh_log_window();
        }
        let job = format!("{name}-{kind}");
        let w = Workload::start(&job, &format!("holds_{kind}"))?;
        let (p, f) = output_file(&job)?;
        // The line names the task that holds the state: the root or a
        // child of it.
        let mut tree = vec![w.pid];
        tree.extend(children_of(w.pid)?);
        cgroup::freeze(&w.cg, Duration::from_secs(5))?;
        c.errno(
            &format!("{kind}: checkpoint(2)"),
            Errno::EOPNOTSUPP,
            sys_checkpoint(w.pid, f.as_fd(), SUBTREE),
        );
        c.eq(format!("{kind}: bytes written"), 0, size(&p));
        cgroup::thaw(&w.cg)?;
        let log = Command::new("/bin/dmesg").output()?;
        let log = String::from_utf8_lossy(&log.stdout);
        let line = log
            .lines()
            .rev()
            .find(|l| {
                tree.iter()
                    .any(|p| l.contains(&format!("checkpoint: pid {p} (holds)")))
            })
            .unwrap_or("");
        c.eq(
            format!("{kind}: the kernel log names the pid and says {phrase:?}"),
            true,
            line.contains(phrase) && line.ends_with("not supported"),
        );
        c.eq(
            format!("{kind}: the tree runs on"),
            "running",
            if cgroup::is_frozen(&w.cg)? {
                "frozen"
            } else if Path::new(&format!("/proc/{}", w.pid)).exists() {
                "running"
            } else {
                "gone"
            },
        );
    }
    Ok(c.0)
}

/// Waits out the kernel-ckpt log rate limit: each message site prints at
/// most 10 lines per 5 s, and the scenario before may have used them.
/// Called before a scenario checks lines of a site that others use too.
pub(crate) fn fresh_log_window() {
    std::thread::sleep(Duration::from_millis(5100));
}

/// Writes a marker line into the kernel log.
pub(crate) fn mark_log(name: &str) -> Result<()> {
    fs::write("/dev/kmsg", format!("ckpt-scenarios: {name}: mark\n"))?;
    Ok(())
}

/// The kernel log after the last marker, as `dmesg` prints it (raw bytes;
/// the ring buffer may have wrapped, so no byte offsets are kept).
pub(crate) fn log_since_mark(name: &str) -> Result<Vec<u8>> {
    let log = Command::new("/bin/dmesg").output()?.stdout;
    let mark = format!("ckpt-scenarios: {name}: mark");
    let at = log
        .windows(mark.len())
        .rposition(|w| w == mark.as_bytes())
        .context("the marker is not in the kernel log")?;
    Ok(log.get(at..).unwrap_or(&[]).to_vec())
}

fn layout_selfcheck() -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let out = Command::new("/bin/dmesg").output()?;
    let log = String::from_utf8_lossy(&out.stdout);
    let line = log
        .lines()
        .find(|l| l.contains("ckpt: layout self-check"))
        .unwrap_or("(none)");
    let verdict = line.split("ckpt: ").nth(1).unwrap_or(line);
    // The number of checks is part of the message; keep the verdict only.
    let verdict = verdict.split(" (").next().unwrap_or(verdict);
    c.eq("boot self-check", "layout self-check passed", verdict);
    c.eq(
        "no layout mismatch logged",
        false,
        log.contains("layout mismatch"),
    );
    Ok(c.0)
}

fn checks_only(r: Result<Vec<Check>>) -> Result<ScenarioResult> {
    r.map(|checks| ScenarioResult {
        checks,
        ..Default::default()
    })
}

/// Runs one scenario in this process.
/// The code of scenario `name` (called with its name), or `None` for a
/// name that is no scenario.
fn scenario_fn(name: &str) -> Option<fn(&str) -> Result<ScenarioResult>> {
    Some(match name {
        "layout_selfcheck" => |_| checks_only(layout_selfcheck()),
        "single_sleeper" => |name| tree_scenario(name, "sleeper", None, SUBTREE),
        "parent_three_children" => {
            |name| tree_scenario(name, "parent_three_children", None, SUBTREE)
        }
        "session_two_groups" => |name| tree_scenario(name, "session_two_groups", None, SUBTREE),
        "zombie_child" => |name| tree_scenario(name, "zombie_child", None, SUBTREE),
        "four_threads" => |name| tree_scenario(name, "four_threads", None, SUBTREE),
        "orphan_reparented_to_subreaper" => {
            |name| tree_scenario(name, "orphan_subreaper", None, SUBTREE)
        }
        "whole_pidns" => |name| tree_scenario(name, "orphan", Some(ns_init_of), 0),
        "tree_100" => |name| tree_scenario(name, "tree_100", None, SUBTREE),
        "heap_64m" => |name| tree_scenario(name, "heap_64m", None, SUBTREE),
        "pipe_to_inspect" => |name| pipe_to_inspect(name),
        "err_einval_flags" => |name| checks_only(err_einval_flags(name)),
        "err_einval_not_pidns_init" => |name| checks_only(err_einval_not_pidns_init(name)),
        "err_ebadf" => |name| checks_only(err_ebadf(name)),
        "err_esrch" => |name| checks_only(err_esrch(name)),
        "err_eperm_unprivileged" => |name| checks_only(err_eperm_unprivileged(name)),
        "err_ebusy_not_frozen" => |name| checks_only(err_ebusy_not_frozen(name)),
        "err_eopnotsupp_shared_table" => |name| checks_only(err_eopnotsupp_shared_table(name)),
        "err_restart_bad_calls" => |name| checks_only(err_restart_bad_calls(name)),
        "err_restart_corrupt_images" => |name| checks_only(restart_corrupt_images(name, 200)),
        "restart_counter_fpu" => |name| restart_scenario(name, "counter_fpu", Restart::Once),
        "restart_heap_64m" => |name| restart_scenario(name, "heap_check", Restart::Once),
        "restart_mappings" => |name| restart_scenario(name, "mappings_check", Restart::Once),
        "restart_in_pause" => |name| restart_scenario(name, "sleeper", Restart::Once),
        "restart_in_futex_wait" => |name| restart_scenario(name, "futex_wait", Restart::Once),
        "restart_pipes" => |name| restart_scenario(name, "pipe_check", Restart::Once),
        "restart_in_sigsuspend" => |name| restart_scenario(name, "sigsuspend_check", Restart::Once),
        "restart_in_wait4" => |name| restart_in_wait4(name),
        "restart_in_nanosleep" => |name| restart_scenario(name, "nanosleep_once", Restart::Once),
        "restart_vdso_clock" => |name| restart_scenario(name, "vdso_clock", Restart::Once),
        "restart_files" => |name| restart_scenario(name, "files_check", Restart::Once),
        "restart_signals" => |name| restart_scenario(name, "signals_check", Restart::Once),
        "restart_rseq_robust_limits" => |name| restart_scenario(name, "misc_check", Restart::Once),
        "restart_glibc_static" => |name| restart_scenario(name, "glibc_counter", Restart::Once),
        "restart_unprivileged_ids" => |name| restart_scenario(name, "creds_check", Restart::Once),
        "restart_itimer_real" => |name| restart_scenario(name, "itimer_check", Restart::Once),
        "restart_twice" => |name| restart_scenario(name, "counter_fpu", Restart::Twice),
        "restart_through_pipe" => |name| restart_scenario(name, "counter_fpu", Restart::Pipe),
        "restart_pidns" => |name| restart_pidns(name),
        "restart_100_times_under_load" => |name| checks_only(restart_many(name, 100)),
        "err_restart_pid_taken" => |name| checks_only(err_restart_pid_taken(name)),
        "err_restart_truncated" => |name| checks_only(err_restart_truncated(name)),
        "err_eopnotsupp_not_carried" => |name| checks_only(err_eopnotsupp_not_carried(name)),
        "err_restart_hostile_images" => {
            |name| checks_only(images::err_restart_hostile_images(name))
        }
        "err_restart_unprivileged" => |name| checks_only(hostile::err_restart_unprivileged(name)),
        "err_checkpoint_thaw_exec_race" => {
            |name| checks_only(faults::err_checkpoint_thaw_exec_race(name))
        }
        "err_checkpoint_faults" => |name| checks_only(faults::err_checkpoint_faults(name)),
        "err_ckpt_tool_messages" => |name| checks_only(tool::err_ckpt_tool_messages(name)),
        "restart_tree_pipeline" => |name| tree::restart_tree_scenario(name, "pipeline"),
        "restart_tree_shared_stdout" => |name| tree::restart_tree_scenario(name, "shared_stdout"),
        "restart_tree_sessions" => |name| tree::restart_tree_scenario(name, "sessions"),
        "restart_tree_shared_memory" => |name| tree::restart_tree_scenario(name, "shared_memory"),
        "err_restart_coordinator_killed" => {
            |name| checks_only(tree::err_restart_coordinator_killed(name))
        }
        "err_restart_tree_corrupt_images" => {
            |name| checks_only(tree::err_restart_tree_corrupt_images(name, 50))
        }
        "restart_tree_orphan_pgrp" => |name| tree::restart_tree_scenario(name, "orphan_pgrp"),
        "restart_tree_zombie_wait" => |name| tree::restart_tree_scenario(name, "zombie_wait"),
        "restart_tree_ghost_pgid" => |name| tree::restart_tree_scenario(name, "ghost_pgid"),
        "restart_tree_threads_8" => |name| tree::restart_tree_scenario(name, "threads_8"),
        "restart_tree_deep_20" => |name| tree::restart_tree_scenario(name, "deep_20"),
        "restart_tree_1000" => |name| tree::restart_tree_scenario(name, "tree_1000"),
        "err_restart_tree_corrupt" => |name| tree::err_restart_tree_corrupt(name),
        _ => return None,
    })
}

pub fn run(name: &str) -> ScenarioResult {
    let r = match scenario_fn(name) {
        Some(f) => f(name),
        None => Err(anyhow::anyhow!("unknown scenario {name:?}")),
    };
    let mut res = r.unwrap_or_else(|e| ScenarioResult {
        error: Some(format!("{e:#}")),
        ..Default::default()
    });
    res.scenario = name.to_string();
    res.ok = res.error.is_none() && !res.checks.is_empty() && res.checks.iter().all(Check::passed);
    res
}

#[cfg(test)]
mod tests {
    /// Every scenario of the one list has code, and nothing else does.
    #[test]
    fn every_listed_scenario_has_code() {
        for name in testsuite::SCENARIOS {
            assert!(
                super::scenario_fn(name).is_some(),
                "no code for scenario {name}"
            );
        }
        assert!(super::scenario_fn("no_such_scenario").is_none());
    }
}
