//! `cargo xtask check-series`: every patch of the series builds on its own.
//!
//! Each commit of ckpt-base..kckpt is checked out in turn in a worktree of
//! the kernel tree (`<cache>/series-tree`, detached, so the developer's tree
//! and branch stay as they are) and built incrementally in its own build
//! directory (`<cache>/build-series`) with tinyconfig + `qemu/kernel.config`.
//! A patch passes when `make bzImage` succeeds and prints no warning. The
//! crate's patch adds `kernel/ckpt/` without building it; the commit after
//! it builds it, so that is where the crate is checked. The first run
//! builds the whole kernel; later runs rebuild what each patch touches.

use super::*;

pub fn check_series(ctx: &Ctx) -> Result<()> {
    let _lock = prepare_tree(ctx, &KernelArgs::default(), Flavor::Normal)?;
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    let tree = ctx.cache.join("series-tree");
    let build = ctx.cache.join("build-series");
    let commits = cmd!(sh, "git -C {src} rev-list --reverse ckpt-base..kckpt")
        .quiet()
        .read()?;
    let commits: Vec<&str> = commits.lines().collect();
    let Some(first) = commits.first() else {
        bail!(
            "branch kckpt of {} has no commit after ckpt-base",
            src.display()
        );
    };

    if !tree.join(".git").exists() {
        eprintln!("check-series: making the worktree {}", tree.display());
        let _ = cmd!(sh, "git -C {src} worktree prune").quiet().run();
        cmd!(sh, "git -C {src} worktree add -q --detach {tree} {first}")
            .quiet()
            .run()
            .context("git worktree add failed")?;
    }
    // Like the tree's own: kernel/ckpt is this repository's crate, which
    // only the commits from the one that builds it on compile.
    let link = tree.join("kernel/ckpt");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(ctx.repo.join("rust/kernel-ckpt"), &link)
        .with_context(|| format!("cannot create the symlink {}", link.display()))?;
    cmd!(sh, "git -C {tree} checkout -q --detach {first}")
        .quiet()
        .run()?;

    let fragment = ctx.repo.join("qemu/kernel.config");
    let config = build.join(".config");
    fs::create_dir_all(&build)?;
    let tree_sh = Shell::new()?;
    tree_sh.change_dir(&tree);
    if !config.exists() {
        run_captured(
            make_cmd_in(ctx, &tree_sh, &build, &["tinyconfig".into()])?,
            "make tinyconfig",
        )?;
        let merge = tree.join("scripts/kconfig/merge_config.sh");
        run_captured(
            cmd!(tree_sh, "{merge} -m -O {build} {config} {fragment}").quiet(),
            "scripts/kconfig/merge_config.sh",
        )?;
    }

    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let total = commits.len();
    let start = Instant::now();
    for (i, commit) in commits.iter().enumerate() {
        let subject = cmd!(sh, "git -C {src} log -1 --format=%s {commit}")
            .quiet()
            .read()?;
        cmd!(sh, "git -C {tree} checkout -q --detach {commit}")
            .quiet()
            .run()
            .with_context(|| format!("cannot check out {commit} in {}", tree.display()))?;
        let step = Instant::now();
        run_captured(
            make_cmd_in(ctx, &tree_sh, &build, &["olddefconfig".into()])?,
            "make olddefconfig",
        )?;
        let out = make_cmd_in(
            ctx,
            &tree_sh,
            &build,
            &[format!("-j{jobs}"), "bzImage".into()],
        )?
        .ignore_status()
        .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let log = ctx.target.join("check-series.log");
        fs::create_dir_all(&ctx.target)?;
        fs::write(&log, &text).with_context(|| format!("cannot write {}", log.display()))?;
        let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning:")).collect();
        if !out.status.success() || !warnings.is_empty() {
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            eprintln!("{}", failure_excerpt(&lines));
            bail!(
                "patch {}/{total} ({subject}) {}: see above and {}; the tree at that commit \
                 is {}",
                i + 1,
                if out.status.success() {
                    "builds with warnings"
                } else {
                    "does not build"
                },
                rel(ctx, &log),
                tree.display()
            );
        }
        eprintln!(
            "check-series: {:>2}/{total} builds ({:.0} s): {subject}",
            i + 1,
            step.elapsed().as_secs_f64()
        );
    }
    let kckpt = fs::read_to_string(build.join(".config"))?;
    if !kckpt.lines().any(|l| l == "CONFIG_KCKPT=y") {
        bail!(
            "the last patch built without CONFIG_KCKPT=y (see {}): the crate was not built",
            build.join(".config").display()
        );
    }
    eprintln!(
        "check-series: all {total} commits build, each on the one before ({:.0} s); the \
         crate's patch is built with the commit after it",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
