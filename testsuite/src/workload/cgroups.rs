//! A tree whose processes live in cgroups below its job cgroup.

use super::*;

/// The cgroup v2 path of this process (`/proc/self/cgroup`).
fn own_cgroup() -> Result<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup")?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_owned)
        .context("no cgroup v2 line in /proc/self/cgroup")
}

/// Moves this process into the cgroup `rel` below `job` (made if needed).
fn move_below(job: &str, rel: &str) -> Result<()> {
    let dir = format!("/sys/fs/cgroup{job}/{rel}");
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {dir}"))?;
    std::fs::write(format!("{dir}/cgroup.procs"), b"0").with_context(|| format!("joining {dir}"))
}

/// The children's cgroups below the job, in order.
pub(crate) const BELOW: [&str; 2] = ["workers/a", "b"];

/// The parent stays in the job cgroup; its two children move themselves
/// into `workers/a` and `b` below it (the first also starts a thread,
/// which follows it). After the go file each checks that it is in the
/// cgroup it chose below its parent's (its job's): the parent through
/// the children's exit status.
pub(crate) fn cgroups_tree(ready_path: &Path) -> Result<()> {
    name("cg-parent");
    let (go, result) = go_and_result(ready_path);
    let job = own_cgroup()?;
    let mut kids = Vec::new();
    for (i, rel) in BELOW.iter().enumerate() {
        let job = job.clone();
        let go = go.clone();
        kids.push(spawn(&format!("cg-child-{i}"), move || {
            let ok = (|| -> Result<bool> {
                move_below(&job, rel)?;
                let _t = (i == 0).then(|| {
                    std::thread::spawn(|| loop {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    })
                });
                while !go.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                // The job after a restart is another: its own path, below
                // which the child must be.
                let parent =
                    std::fs::read_to_string(format!("/proc/{}/cgroup", nix::unistd::getppid()))?;
                let parent = parent
                    .lines()
                    .find_map(|l| l.strip_prefix("0::"))
                    .unwrap_or_default()
                    .to_owned();
                let threads_with = std::fs::read_dir("/proc/self/task")?
                    .flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("cgroup"))
                            .is_ok_and(|c| c.contains(&format!("{parent}/{rel}")))
                    })
                    .count();
                Ok(own_cgroup()? == format!("{parent}/{rel}")
                    && threads_with == if i == 0 { 2 } else { 1 })
            })();
            // SAFETY: leave at once.
            unsafe { nix::libc::_exit(if matches!(ok, Ok(true)) { 0 } else { 1 }) }
        })?);
    }
    // Both children in their cgroups before the ready file.
    let start = std::time::Instant::now();
    while kids.iter().zip(BELOW).any(|(k, rel)| {
        !std::fs::read_to_string(format!("/proc/{k}/cgroup"))
            .is_ok_and(|c| c.trim_end().ends_with(&format!("/{rel}")))
    }) {
        if start.elapsed() > std::time::Duration::from_secs(10) {
            bail!("the children did not join their cgroups");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut bad = Vec::new();
    if own_cgroup()?.contains("/workers") {
        bad.push("the parent left the job cgroup".to_owned());
    }
    for (k, rel) in kids.iter().zip(BELOW) {
        if !matches!(waitpid(*k, None), Ok(WaitStatus::Exited(_, 0))) {
            bad.push(format!(
                "the child in {rel} is not in it (or its thread is not)"
            ));
        }
    }
    verdict_all(
        &result,
        &bad,
        "each process in its cgroup below the job, a thread with its process",
    )
}
