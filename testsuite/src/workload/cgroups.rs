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

/// Moves this process into the cgroup `rel` below the job cgroup
/// directory `job` (made if needed).
fn move_below(job: &str, rel: &str) -> Result<()> {
    let dir = format!("{job}/{rel}");
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {dir}"))?;
    std::fs::write(format!("{dir}/cgroup.procs"), b"0").with_context(|| format!("joining {dir}"))
}

/// The children's cgroups below the job, in order.
pub(crate) const BELOW: [&str; 2] = ["workers/a", "b"];

/// The parent stays in the job cgroup; its two children move themselves
/// into `workers/a` and `b` below it (the first also starts a thread,
/// which follows it). After the go file each checks that it is in the
/// cgroup it chose below its parent's (its job's): the parent through
/// the children's exit status. The job is `ckpt run --name NAME`'s, NAME
/// from the ready file `/tmp/ready-NAME` (in a pod with a cgroup
/// namespace of its own, /proc/self/cgroup names the job `/`).
pub(crate) fn cgroups_tree(ready_path: &Path) -> Result<()> {
    name("cg-parent");
    let (go, result) = go_and_result(ready_path);
    let job_name = ready_path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("ready-"))
        .context("a ready file named ready-NAME")?;
    let job = format!("/sys/fs/cgroup/ckpt/{job_name}");
    // The children report on a pipe (in a pod, /proc/PID is the host's
    // numbering: only /proc/self is read).
    let (r, w) = nix::unistd::pipe()?;
    let mut kids = Vec::new();
    for (i, rel) in BELOW.iter().enumerate() {
        let job = job.clone();
        let go = go.clone();
        let w = w.try_clone()?;
        kids.push(spawn(&format!("cg-child-{i}"), move || {
            let report = (|| -> Result<String> {
                move_below(&job, rel)?;
                let _t = (i == 0).then(|| {
                    std::thread::spawn(|| loop {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    })
                });
                nix::unistd::write(&w, b"M")?;
                while !go.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let own = own_cgroup()?;
                let threads_with = std::fs::read_dir("/proc/self/task")?
                    .flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("cgroup"))
                            .is_ok_and(|c| c.lines().any(|l| l.strip_prefix("0::") == Some(&own)))
                    })
                    .count();
                Ok(format!("{i} {own} {threads_with}"))
            })();
            let line = report.unwrap_or_else(|e| format!("{i} error {e:#}"));
            let _ = nix::unistd::write(&w, format!("{line}\n").as_bytes());
            // SAFETY: leave at once.
            unsafe { nix::libc::_exit(0) }
        })?);
    }
    drop(w);
    let mut pipe = std::fs::File::from(r);
    let mut moved = [0u8; 2];
    std::io::Read::read_exact(&mut pipe, &mut moved)?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut lines = String::new();
    std::io::Read::read_to_string(&mut pipe, &mut lines)?;
    let mine = own_cgroup()?;
    let base = mine.trim_end_matches('/');
    let mut bad = Vec::new();
    if mine.contains("/workers") || mine.ends_with("/b") {
        bad.push(format!("the parent left the job cgroup: {mine}"));
    }
    for (i, rel) in BELOW.iter().enumerate() {
        let want = format!("{i} {base}/{rel} {}", if i == 0 { 2 } else { 1 });
        if !lines.lines().any(|l| l == want) {
            bad.push(format!("child {i}: wanted {want:?}, reported {lines:?}"));
        }
    }
    for k in &kids {
        let _ = waitpid(*k, None);
    }
    verdict_all(
        &result,
        &bad,
        "each process in its cgroup below the job, a thread with its process",
    )
}
