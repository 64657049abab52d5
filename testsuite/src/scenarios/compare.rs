//! Comparing an image with the truth: rows against /proc, the saved state of
//! each task against its maps, memory and registers, and the views of a tree
//! before and after a restart.

use super::*;

pub(crate) fn image_rows(img: &InspectJson) -> Vec<RawRow> {
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
pub(crate) fn compare(
    c: &mut Checks,
    namer: &Namer,
    root: i32,
    truth: &[RawRow],
    img: &InspectJson,
) {
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
/// task for the snapshot (named pids, counts, no addresses). `host` maps
/// the image's pids (and `truth`'s, which number tasks as the image does)
/// to the pids `/proc` shows.
pub(crate) fn compare_state(
    c: &mut Checks,
    namer: &Namer,
    truth: &[RawRow],
    host: &HashMap<i32, i32>,
    image: &[u8],
) -> Result<Vec<String>> {
    let proc = |p: i32| host.get(&p).copied().unwrap_or(p);
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
        let sc = fs::read_to_string(format!(
            "/proc/{}/task/{}/syscall",
            proc(row.tgid),
            proc(row.pid)
        ))
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
                let maps = fs::read_to_string(format!("/proc/{}/maps", proc(st.pid)))?;
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
                let mem = File::open(format!("/proc/{}/mem", proc(pid)))?;
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

pub(crate) fn names(namer: &Namer, pids: &[i32]) -> Vec<String> {
    pids.iter().map(|p| namer.name(*p)).collect()
}

pub(crate) fn inspect_json(out: &std::process::Output, c: &mut Checks) -> Result<InspectJson> {
    c.eq(
        "ckpt inspect exit status",
        0,
        out.status.code().unwrap_or(-1),
    );
    serde_json::from_slice(&out.stdout).context("parsing `ckpt inspect --json` output")
}

/// Compares what /proc shows of a process before its checkpoint and after
/// its restart (maps, credentials, umask, signal masks and pending sets,
/// directories, descriptors with flags and offsets): every line must be
/// there again, and nothing else.
pub(crate) fn compare_views(c: &mut Checks, before: &[String], after: &[String]) {
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
