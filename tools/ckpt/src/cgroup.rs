// SPDX-License-Identifier: GPL-2.0
//! The cgroup v2 side of kernel-ckpt.
//!
//! Every job started by [`run`](crate::run) lives in its own cgroup under
//! [`ROOT`], so that `ckpt checkpoint` can freeze the whole tree (every
//! descendant inherits the cgroup) around `checkpoint(2)`, and kill it
//! afterwards if asked to.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// Where cgroup v2 must be mounted.
pub const MOUNT: &str = "/sys/fs/cgroup";
/// Parent of every kernel-ckpt job cgroup.
pub const ROOT: &str = "/sys/fs/cgroup/ckpt";
/// How long [`kill`] waits for the cgroup to empty.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// Interval between two looks at `cgroup.events` or `cgroup.procs`.
const POLL: Duration = Duration::from_millis(1);

/// Fails unless cgroup v2 is mounted at [`MOUNT`].
pub fn ensure_v2() -> Result<()> {
    if Path::new(MOUNT).join("cgroup.controllers").is_file() {
        return Ok(());
    }
    bail!("cgroup v2 is not mounted at {MOUNT}: mount it with `mount -t cgroup2 none {MOUNT}`")
}

/// Fails unless `name` can be a job cgroup's name (one path component).
pub fn validate_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.starts_with("cgroup.")
        || name.chars().any(|c| c == '/' || c.is_control());
    if bad {
        bail!("invalid cgroup name {name:?}: use one path component such as `job-1`");
    }
    Ok(())
}

/// Creates (like `mkdir -p`) the job cgroup `ckpt/<name>` and returns its
/// directory.
pub fn create(name: &str) -> Result<PathBuf> {
    validate_name(name)?;
    ensure_v2()?;
    let cg = Path::new(ROOT).join(name);
    fs::create_dir_all(&cg).with_context(|| format!("cannot create cgroup {}", cg.display()))?;
    // A cgroup left over from an earlier job may still be frozen (a job
    // killed while frozen): whatever starts in it must run.
    if freeze_requested(&cg)? {
        thaw(&cg)?;
    }
    Ok(cg)
}

/// Makes the cgroups of a restarted tree's processes below its job cgroup
/// `cg` (like `mkdir -p`; `cgroups`: each process's pid and path below
/// the job, from the image), and returns where each process of the tree
/// goes: the `cgroup.procs` file of its cgroup for every process, when
/// any is below the job (a child starts in its parent's cgroup), else
/// nothing.
pub fn make_below(cg: &Path, cgroups: &[(i32, String)]) -> Result<Vec<(i32, std::ffi::CString)>> {
    if cgroups.iter().all(|(_, p)| p == "/") {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(cgroups.len());
    for (pid, rel) in cgroups {
        // The image's parser checked the path: names, none `.` or `..`.
        let dir = cg.join(rel.trim_start_matches('/'));
        if !dir.starts_with(cg) || rel.split('/').any(|n| n == "..") {
            bail!("cgroup path {rel:?} of pid {pid} is not below the job");
        }
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create cgroup {}", dir.display()))?;
        let procs = dir.join("cgroup.procs");
        out.push((
            *pid,
            std::ffi::CString::new(procs.as_os_str().as_encoded_bytes())
                .context("a cgroup path with a NUL")?,
        ));
    }
    Ok(out)
}

/// Removes the job cgroup `cg` and the cgroups below it, deepest first
/// (best effort: they must be empty).
pub fn remove(cg: &Path) {
    if let Ok(entries) = fs::read_dir(cg) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(cg);
}

/// Whether a job cgroup holds a process, itself or in a cgroup below it.
pub fn in_use(cg: &Path) -> Result<bool> {
    Ok(!procs(cg)?.is_empty()
        || read(cg, "cgroup.events")?
            .lines()
            .any(|l| l.trim_end() == "populated 1"))
}

/// Moves process `pid` (all its threads) into `cg`.
pub fn add(cg: &Path, pid: i32) -> Result<()> {
    write(cg, "cgroup.procs", &pid.to_string())
}

/// The cgroup v2 path in the text of a `/proc/PID/cgroup` file: the
/// `/path` of its `0::/path` line.
pub fn parse_proc_cgroup(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .filter(|p| p.starts_with('/'))
}

/// The cgroup directory (under [`MOUNT`]) of process `pid`.
///
/// A missing process gives an error whose source is the `NotFound`
/// [`std::io::Error`] of `/proc/PID/cgroup`.
pub fn of_pid(pid: i32) -> Result<PathBuf> {
    let file = format!("/proc/{pid}/cgroup");
    let text = fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?;
    let rel = parse_proc_cgroup(&text).ok_or_else(|| {
        anyhow!("{file} has no cgroup v2 line (`0::/path`): mount cgroup v2 at {MOUNT}")
    })?;
    Ok(Path::new(MOUNT).join(rel.trim_start_matches('/')))
}

/// The job cgroup (a direct child of [`ROOT`]) that holds the cgroup
/// directory `cg`, or `None` if `cg` is not below [`ROOT`].
pub fn job_of(cg: &Path) -> Option<PathBuf> {
    match cg.strip_prefix(ROOT).ok()?.components().next()? {
        Component::Normal(name) => Some(Path::new(ROOT).join(name)),
        _ => None,
    }
}

/// Whether `cg/cgroup.freeze` asks for the cgroup to be frozen.
pub fn freeze_requested(cg: &Path) -> Result<bool> {
    Ok(read(cg, "cgroup.freeze")?.trim() == "1")
}

/// Whether `cg/cgroup.events` reports every task of `cg` frozen.
pub fn is_frozen(cg: &Path) -> Result<bool> {
    Ok(read(cg, "cgroup.events")?
        .lines()
        .any(|line| line.trim_end() == "frozen 1"))
}

/// Freezes `cg` and waits until all its tasks are frozen.
///
/// After `timeout` the cgroup is thawed again and an error returned.
pub fn freeze(cg: &Path, timeout: Duration) -> Result<()> {
    write(cg, "cgroup.freeze", "1")?;
    let deadline = Instant::now() + timeout;
    let waited = loop {
        match is_frozen(cg) {
            Ok(true) => return Ok(()),
            Ok(false) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(false) => {
                break Err(anyhow!(
                    "cgroup {} did not freeze within {} ms (a task may be stuck in an \
                     uninterruptible sleep); it was thawed again",
                    cg.display(),
                    timeout.as_millis()
                ))
            }
            Err(e) => break Err(e),
        }
    };
    // Best effort: the error in `waited` is the one worth reporting.
    let _ = thaw(cg);
    waited
}

/// Thaws `cg`.
pub fn thaw(cg: &Path) -> Result<()> {
    write(cg, "cgroup.freeze", "0")
}

/// Kills every process of `cg` (frozen or not) and waits, at most
/// [`KILL_TIMEOUT`], until none is left.
pub fn kill(cg: &Path) -> Result<()> {
    write(cg, "cgroup.kill", "1")?;
    let deadline = Instant::now() + KILL_TIMEOUT;
    loop {
        let left = procs(cg)?;
        // Its cgroups below it too (`populated` counts them).
        let populated = read(cg, "cgroup.events")?
            .lines()
            .any(|l| l.trim_end() == "populated 1");
        if left.is_empty() && !populated {
            // The job is over: leave no frozen cgroup behind.
            return thaw(cg);
        }
        if Instant::now() >= deadline {
            bail!(
                "processes {left:?} of cgroup {} still run {} ms after cgroup.kill",
                cg.display(),
                KILL_TIMEOUT.as_millis()
            );
        }
        thread::sleep(POLL);
    }
}

/// The processes (thread group ids) in `cg`, from `cg/cgroup.procs`.
pub fn procs(cg: &Path) -> Result<Vec<i32>> {
    parse_procs(&read(cg, "cgroup.procs")?).with_context(|| {
        format!(
            "unexpected content in {}",
            cg.join("cgroup.procs").display()
        )
    })
}

fn parse_procs(text: &str) -> Result<Vec<i32>> {
    text.split_whitespace()
        .map(|pid| pid.parse().with_context(|| format!("{pid:?} is not a pid")))
        .collect()
}

fn read(cg: &Path, file: &str) -> Result<String> {
    let path = cg.join(file);
    fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes `value` in one `write(2)` to an existing control file.
fn write(cg: &Path, file: &str, value: &str) -> Result<()> {
    let path = cg.join(file);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .with_context(|| format!("cannot write {value:?} to {}", path.display()))
}

/// A cgroup directory as the path inside the hierarchy, for messages.
pub(crate) fn rel(cg: &Path) -> &Path {
    cg.strip_prefix(MOUNT).unwrap_or(cg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_below_the_job_are_made_and_named_for_every_process() {
        let job = std::env::temp_dir().join(format!("ckpt-make-below-{}", std::process::id()));
        fs::create_dir_all(&job).unwrap();
        // All in the job: nothing to make, nobody moves.
        assert!(make_below(&job, &[(1, "/".into()), (2, "/".into())])
            .unwrap()
            .is_empty());
        let moves = make_below(&job, &[(1, "/".into()), (2, "/w/a".into())]).unwrap();
        let names: Vec<(i32, String)> = moves
            .iter()
            .map(|(p, f)| (*p, f.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(
            names,
            [
                (1, format!("{}/cgroup.procs", job.display())),
                (2, format!("{}/w/a/cgroup.procs", job.display())),
            ]
        );
        assert!(job.join("w/a").is_dir());
        assert!(make_below(&job, &[(3, "/../x".into())]).is_err());
        remove(&job);
        assert!(!job.exists());
    }

    #[test]
    fn proc_cgroup_v2_only() {
        assert_eq!(parse_proc_cgroup("0::/ckpt/job-42\n"), Some("/ckpt/job-42"));
        assert_eq!(parse_proc_cgroup("0::/\n"), Some("/"));
    }

    #[test]
    fn proc_cgroup_hybrid() {
        let text = "12:freezer:/\n1:name=systemd:/user.slice\n0::/ckpt/a:b/c\n";
        assert_eq!(parse_proc_cgroup(text), Some("/ckpt/a:b/c"));
    }

    #[test]
    fn proc_cgroup_without_v2_line() {
        assert_eq!(parse_proc_cgroup(""), None);
        assert_eq!(parse_proc_cgroup("3:cpu:/x\n"), None);
        assert_eq!(parse_proc_cgroup("10::/x\n"), None);
        assert_eq!(parse_proc_cgroup("0::\n"), None);
    }

    #[test]
    fn job_cgroup() {
        let job = |p: &str| job_of(Path::new(p));
        assert_eq!(
            job("/sys/fs/cgroup/ckpt/job-7"),
            Some(PathBuf::from("/sys/fs/cgroup/ckpt/job-7"))
        );
        assert_eq!(
            job("/sys/fs/cgroup/ckpt/job-7/sub"),
            Some(PathBuf::from("/sys/fs/cgroup/ckpt/job-7"))
        );
        assert_eq!(job("/sys/fs/cgroup/ckpt"), None);
        assert_eq!(job("/sys/fs/cgroup/ckptx/job"), None);
        assert_eq!(job("/sys/fs/cgroup/user.slice"), None);
        assert_eq!(job("/sys/fs/cgroup/ckpt/../x"), None);
    }

    #[test]
    fn names() {
        assert!(validate_name("job-1").is_ok());
        for bad in ["", ".", "..", "a/b", "cgroup.procs", "a\nb"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn procs_list() {
        assert_eq!(parse_procs("").unwrap(), Vec::<i32>::new());
        assert_eq!(parse_procs("12\n345\n").unwrap(), vec![12, 345]);
        assert!(parse_procs("12\nx\n").is_err());
    }
}
