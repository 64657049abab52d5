//! Checkpoint scenarios: a workload is frozen, saved, and its image compared with the truth.

use super::*;

/// Checkpoints the workload's tree (or `target`'s) with the `ckpt` tool and
/// compares the image with /proc.
pub(crate) fn tree_scenario(
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
    // An image of a whole pid namespace holds the pids its tasks see:
    // compared with the tree as the namespace sees it, read through the
    // pids /proc shows.
    let (truth, host, namer) = if flags & SUBTREE == 0 {
        let (view, host) = ns_view(&truth)?;
        let namer = Namer::new(&view);
        (view, host, namer)
    } else {
        let host = truth.iter().map(|r| (r.pid, r.pid)).collect();
        (truth, host, namer)
    };
    let root = if flags & SUBTREE == 0 { 1 } else { root };
    compare(&mut c, &namer, root, &truth, &img);
    let table = Command::new(CKPT).args(["inspect", &img_path]).output()?;
    c.eq(
        "ckpt inspect (table) exit status",
        0,
        table.status.code().unwrap_or(-1),
    );
    let state = compare_state(&mut c, &namer, &truth, &host, &fs::read(&img_path)?)?;
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
            "restart(2) of a whole-namespace image by a process alone",
            "EOPNOTSUPP",
            match status {
                WaitStatus::Exited(_, e) => errno_name(Errno::from_raw(e)),
                other => format!("{other:?}"),
            },
        );
        // Through `ckpt restart` it is a pod, restarted as pid 1 of a new
        // pid namespace beside the original, which still runs.
        let job = format!("{name}-pod");
        let _cleanup = RestartJob(Path::new(cgroup::ROOT).join(&job));
        let o = Command::new(CKPT)
            .args(["restart", &img_path, "--detach", "--name", &job])
            .output()?;
        c.eq(
            "ckpt restart --detach of the whole namespace beside the original",
            "exit 0",
            exit_line(&o),
        );
        let copy = printed_pid(&o);
        let again = read_tree(copy).and_then(|t| ns_view(&t)).map(|(v, _)| v);
        c.eq(
            "the restarted namespace's tree, as it sees it, is the saved one",
            format!("{:?}", namer.rows(&truth)),
            match &again {
                Ok(rows) => format!("{:?}", namer.rows(rows)),
                Err(e) => format!("{e:#}"),
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
pub(crate) fn pipe_to_inspect(name: &str) -> Result<ScenarioResult> {
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

pub(crate) fn ns_init_of(w: &Workload) -> Result<i32> {
    nth_child(w.pid, 0)
}
