//! A pod with a mount namespace of its own and a private tmpfs on `/tmp`
//! and `/dev/shm` (`ckpt run --pod --private-tmp`): their files saved in
//! its image and made again at its restart, checked from outside through
//! `/proc/PID/root`.

use super::pod::{inspect_value, restart_frozen, StartedJob};
use super::*;
use std::os::unix::fs::MetadataExt;

/// Every file below `dir` (through `/proc/PID/root`), one line each, in
/// path order: path, type, mode, owner, size, blocks, links, access and
/// modification times (to the nanosecond), a link's target. Each file's
/// attributes are taken before it is read (a directory listed, a link's
/// target read): a read may set its access time (relatime).
fn tree_lines(pid: i32, dir: &str) -> Vec<String> {
    let root = PathBuf::from(format!("/proc/{pid}/root{dir}"));
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    if let Ok(m) = fs::symlink_metadata(&root) {
        out.push(line(dir, Path::new(""), &m, None));
    }
    while let Some(rel) = todo.pop() {
        let Ok(entries) = fs::read_dir(root.join(&rel)) else {
            out.push(format!("{dir}/{}: unreadable", rel.display()));
            continue;
        };
        for n in entries.flatten().map(|e| rel.join(e.file_name())) {
            let p = root.join(&n);
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            let target = m
                .file_type()
                .is_symlink()
                .then(|| fs::read_link(&p).unwrap_or_default());
            if m.is_dir() {
                todo.push(n.clone());
            }
            out.push(line(dir, &n, &m, target));
        }
    }
    out.sort();
    out
}

fn line(dir: &str, rel: &Path, m: &fs::Metadata, target: Option<PathBuf>) -> String {
    let kind = match m.mode() & 0o170000 {
        0o040000 => "dir",
        0o100000 => "file",
        0o120000 => "symlink",
        0o010000 => "fifo",
        0o140000 => "socket",
        _ => "other",
    };
    format!(
        "{} {kind} mode {:o} owner {}:{} size {} blocks {} links {} atime {}.{:09} mtime {}.{:09}{}",
        Path::new(dir).join(rel).display(),
        m.mode() & 0o7777,
        m.uid(),
        m.gid(),
        if kind == "dir" { 0 } else { m.size() },
        if kind == "dir" { 0 } else { m.blocks() },
        if kind == "dir" { 0 } else { m.nlink() },
        m.atime(),
        m.atime_nsec(),
        m.mtime(),
        m.mtime_nsec(),
        target.map(|t| format!(" -> {}", t.display())).unwrap_or_default()
    )
}

/// The mounts on `/tmp` and `/dev/shm` in `pid`'s mount namespace, as
/// `/proc/PID/mountinfo` shows them (mount point, options, file system,
/// its options), the ids left out, the top one of each only.
fn mounts(pid: i32) -> Vec<String> {
    let info = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    let mut top: Vec<(String, String)> = Vec::new();
    for l in info.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some(dash) = f.iter().position(|&w| w == "-") else {
            continue;
        };
        let point = f.get(4).copied().unwrap_or("");
        if point != "/tmp" && point != "/dev/shm" {
            continue;
        }
        let shown = format!(
            "{point} {} {} {}",
            f.get(5).copied().unwrap_or(""),
            f.get(dash + 1).copied().unwrap_or(""),
            f.get(dash + 3).copied().unwrap_or("")
        );
        // Mounts are listed in the order they were mounted: the last on a
        // point hides the others.
        top.retain(|(p, _)| p != point);
        top.push((point.to_owned(), shown));
    }
    top.into_iter().map(|(_, s)| s).collect()
}

/// The size and the number of files of the file systems on `/tmp` and
/// `/dev/shm` in `pid`'s mount namespace (statfs(2)).
fn limits(pid: i32) -> Vec<String> {
    ["/tmp", "/dev/shm"]
        .iter()
        .map(
            |d| match nix::sys::statfs::statfs(format!("/proc/{pid}/root{d}").as_str()) {
                Ok(s) => format!(
                    "{d}: {} blocks of {}, {} inodes",
                    s.blocks(),
                    s.block_size(),
                    s.files()
                ),
                Err(e) => format!("{d}: {e}"),
            },
        )
        .collect()
}

/// The init's descriptor on the sparse file (its fdinfo position and
/// flags), its mapping of `/dev/shm/seg`, and its child's working
/// directory.
fn holds(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in fds.flatten() {
            let target = fs::read_link(e.path()).unwrap_or_default();
            if target.starts_with("/tmp") || target.starts_with("/dev/shm") {
                let info = fs::read_to_string(format!(
                    "/proc/{pid}/fdinfo/{}",
                    e.file_name().to_string_lossy()
                ))
                .unwrap_or_default();
                let keep: Vec<&str> = info
                    .lines()
                    .filter(|l| l.starts_with("pos:") || l.starts_with("flags:"))
                    .collect();
                out.push(format!(
                    "fd {} -> {} {}",
                    e.file_name().to_string_lossy(),
                    target.display(),
                    keep.join(" ")
                ));
            }
        }
    }
    out.sort();
    for l in fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("/dev/shm/"))
    {
        let f: Vec<&str> = l.split_whitespace().collect();
        out.push(format!(
            "map {} {}",
            f.get(1).copied().unwrap_or(""),
            f.get(5).copied().unwrap_or("")
        ));
    }
    let child = nth_child(pid, 0).unwrap_or(0);
    out.push(format!(
        "child cwd {}",
        fs::read_link(format!("/proc/{child}/cwd"))
            .unwrap_or_default()
            .display()
    ));
    out
}

/// What a pod's view holds: its files, mounts, their limits, what its
/// processes hold open.
fn view(pid: i32) -> [Vec<String>; 5] {
    [
        tree_lines(pid, "/tmp"),
        tree_lines(pid, "/dev/shm"),
        mounts(pid),
        limits(pid),
        holds(pid),
    ]
}

const VIEWS: [&str; 5] = [
    "the pod's /tmp: paths, types, modes, owners, sizes, blocks (holes), links, access and modification times, link targets",
    "the pod's /dev/shm: the same",
    "the pod's mounts on /tmp and /dev/shm (options, file system)",
    "their size and inode limits (statfs)",
    "the descriptor on the sparse file (position, flags), the mapping of /dev/shm/seg, the child's working directory",
];

/// A pod started with `ckpt run --pod --private-tmp` (`tmpfs_pod`: a
/// directory tree with owners and modes, a sparse file held open at an
/// offset, a set-uid file, another name, a symbolic link, a named pipe, a
/// file with an old time, POSIX shared memory mapped from `/dev/shm`, a
/// child working in `/tmp`). Checkpointed whole with `--kill` and
/// restarted twice side by side: each copy's `/tmp` and `/dev/shm` (every
/// file's attributes, the mounts and their limits, what the processes
/// hold) are as before, a file one copy makes is not in the other's nor
/// the host's, none of it ever shows on the host, and the first copy
/// checks itself (contents, hole, offset, shared mapping) and passes.
pub(crate) fn restart_pod_tmpfs(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let started = StartedJob::start_in(name, "tmpfs_pod", true, true, false)?;
    let (w, job) = (&started.w, &started.job);
    let pid = w.pid;
    c.eq(
        "the pod's files are not on the host's /tmp",
        "false",
        Path::new("/tmp/d").exists().to_string(),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    // Once to read every directory and link (which sets their access
    // times once), then to record what is checkpointed.
    let _ = view(pid);
    let before = view(pid);
    let Some(img) =
        started.checkpoint_kill(&mut c, name, "ckpt checkpoint --kill of the pod's init")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let json = inspect_value(&img)?;
    let saved: Vec<String> = json["pod"]["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            format!(
                "saved tmpfs on {} ({}): {} directories, {} files of {} bytes in {} pages, {} more names, {} symbolic links, {} named pipes",
                m["path"].as_str().unwrap_or("?"),
                m["options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.as_str())
                    .filter(|o| !o.starts_with("size=") && !o.starts_with("nr_inodes="))
                    .collect::<Vec<_>>()
                    .join(","),
                m["dirs"],
                m["files"],
                m["bytes"],
                m["pages"],
                m["links"],
                m["symlinks"],
                m["fifos"]
            )
        })
        .collect();
    let restarted = restart_frozen(&mut c, &img, job)?;
    let copy = restarted.pid;
    let after = view(copy);
    for ((what, b), a) in VIEWS.iter().zip(&before).zip(&after) {
        c.same(
            format!("{what}, as before"),
            format!("{b:#?}"),
            format!("{a:#?}"),
        );
    }
    // A second copy of the same image beside the first.
    let job2 = format!("{job}-2");
    let _job2 = RestartJob(Path::new(cgroup::ROOT).join(&job2));
    let copy2 = restart_frozen(&mut c, &img, &job2)?.pid;
    c.same(
        "the second copy's /tmp and /dev/shm, as before".to_owned(),
        format!("{:#?}", [&before[0], &before[1]]),
        format!(
            "{:#?}",
            [tree_lines(copy2, "/tmp"), tree_lines(copy2, "/dev/shm")]
        ),
    );
    let marker = format!("/proc/{copy}/root/tmp/marker");
    fs::write(&marker, b"first copy\n")?;
    c.eq(
        "a file made in the first copy's /tmp: there, not in the second's nor on the host",
        "true false false",
        format!(
            "{} {} {}",
            Path::new(&marker).exists(),
            Path::new(&format!("/proc/{copy2}/root/tmp/marker")).exists(),
            Path::new("/tmp/marker").exists()
        ),
    );
    fs::remove_file(&marker)?;
    c.eq(
        "the restarted pods' files are not on the host's /tmp or /dev/shm",
        "false false",
        format!(
            "{} {}",
            Path::new("/tmp/d").exists(),
            Path::new("/dev/shm/seg").exists()
        ),
    );
    // Thawed, killed and removed.
    drop(_job2);
    let verdict = started.thaw_and_check(&mut c, &restarted, "the pod checks itself")?;
    // For the snapshot: the views with their times left out, and the
    // limits (half the guest's memory by default).
    let mut state: Vec<String> = before
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .flat_map(|(_, v)| v)
        .map(|l| l.split(" atime").next().unwrap_or(l).to_owned())
        .collect();
    state.extend(saved);
    if !verdict.starts_with("PASS") {
        state.push(verdict.trim().to_owned());
    }
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}
