//! `cargo xtask check-series`: every patch of the series builds on its own.
//!
//! Each commit of ckpt-base..kckpt is checked out in turn in a worktree of
//! the kernel tree (`<cache>/series-tree`, detached, so the developer's tree
//! and branch stay as they are) and built incrementally in its own build
//! directory (`<cache>/build-series`) with tinyconfig + `qemu/kernel.config`.
//! The commits are the series as `format-patch` exports it: kckpt with the
//! crate's commit put in (the crate's files, not the developer's link). A
//! patch passes when `make bzImage` succeeds and prints no warning that
//! v6.12 itself does not print with this configuration (its warnings are
//! found once, by building ckpt-base, and kept in the build directory).
//! The crate's patch adds `kernel/ckpt/` without building it; the patch
//! after it builds it.

use std::collections::BTreeSet;

use super::*;

/// A compiler warning without its line and column, and with the tree's
/// path taken off: `fs/select.c: warning: stack frame size ...`, so that it
/// is recognised after a patch moved it. rustc's warnings start their line
/// (`warning: unused variable: ...`, the place on the next), as do
/// modpost's and Kconfig's (`WARNING: ...`), and are kept whole.
fn warning_key(line: &str, tree: &str) -> Option<String> {
    if line.to_ascii_lowercase().starts_with("warning:") {
        return Some(line.trim_end().to_string());
    }
    let at = line.find(": warning: ")?;
    let (place, message) = line.split_at(at);
    let place = place
        .strip_prefix(tree)
        .unwrap_or(place)
        .trim_start_matches('/');
    let file = place.split(':').next().unwrap_or(place);
    // Numbers out too: a stack frame v6.12 already warns about that a
    // patch makes a little larger is the same warning.
    let message: String = message
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    Some(format!("{file}{message}"))
}

fn warnings(lines: &[String], tree: &Path) -> BTreeSet<String> {
    let tree = tree.to_string_lossy();
    lines.iter().filter_map(|l| warning_key(l, &tree)).collect()
}

pub fn check_series(ctx: &Ctx) -> Result<()> {
    let _lock = prepare_tree(ctx, &KernelArgs::default(), Flavor::Normal)?;
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    let tree = ctx.cache.join("series-tree");
    let build = ctx.cache.join("build-series");
    // The series as exported: kckpt with the crate's commit put in.
    let tip = series_with_crate(ctx)?;
    let commits = cmd!(sh, "git -C {src} rev-list --reverse ckpt-base..{tip}")
        .quiet()
        .read()?;
    let commits: Vec<&str> = commits.lines().collect();
    if commits.is_empty() {
        bail!(
            "branch kckpt of {} has no commit after ckpt-base",
            src.display()
        );
    }
    let base = base_commit(ctx)?;

    if !tree.join(".git").exists() {
        eprintln!("check-series: making the worktree {}", tree.display());
        let _ = cmd!(sh, "git -C {src} worktree prune").quiet().run();
        cmd!(sh, "git -C {src} worktree add -q --detach {tree} {base}")
            .quiet()
            .run()
            .context("git worktree add failed")?;
    }
    // The crate comes from its patch here, not from the link the
    // developer's tree has (an older version of this command made one).
    let link = tree.join("kernel/ckpt");
    if fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::remove_file(&link)?;
    }
    let tree_sh = Shell::new()?;
    tree_sh.change_dir(&tree);
    // Whatever was left in the worktree goes: only the commit is built.
    let checkout = |commit: &str| -> Result<()> {
        cmd!(sh, "git -C {tree} checkout -q -f --detach {commit}")
            .quiet()
            .run()
            .with_context(|| format!("cannot check out {commit} in {}", tree.display()))?;
        cmd!(sh, "git -C {tree} clean -q -f -d -x")
            .quiet()
            .run()
            .with_context(|| format!("cannot clean {}", tree.display()))
    };
    let log = ctx.target.join("check-series.log");
    fs::create_dir_all(&ctx.target)?;
    // Each commit is configured from tinyconfig + the fragment as merged,
    // not from what the commit before resolved: CONFIG_KCKPT, which
    // ckpt-base does not know, is then set from the patch that adds it on.
    let merged = build.join("series-merged.config");
    let config = build.join(".config");
    let make = |label: &str| -> Result<(bool, Vec<String>)> {
        fs::copy(&merged, &config).with_context(|| format!("cannot copy {}", merged.display()))?;
        let out = make_cmd_in(ctx, &tree_sh, &build, &["olddefconfig".into()])?
            .ignore_status()
            .output()?;
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
            .map(str::to_string)
            .collect();
        let mut ok = out.status.success();
        if ok {
            let command: Command =
                make_cmd_in(ctx, &tree_sh, &build, &[make_jobs(), "bzImage".into()])?.into();
            let (status, built) = stream_make(ctx, command, label)?;
            lines.extend(built);
            ok = status.success();
        }
        fs::write(&log, lines.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", log.display()))?;
        Ok((ok, lines))
    };

    // The configuration, made again when the fragment changed; and the
    // warnings of v6.12 itself with it, found again when either changed.
    let fragment = ctx.repo.join("qemu/kernel.config");
    let fragment_text = fs::read_to_string(&fragment)
        .with_context(|| format!("cannot read {}", fragment.display()))?;
    let stamp = format!("{base} {}", sha256_hex([fragment_text.as_bytes()]));
    let baseline_path = build.join("series-baseline-warnings.txt");
    let baseline_text = fs::read_to_string(&baseline_path).unwrap_or_default();
    let baseline: BTreeSet<String> = match baseline_text.split_once('\n') {
        Some((first, rest)) if first == stamp && merged.exists() => {
            rest.lines().map(str::to_string).collect()
        }
        _ => {
            // From nothing: an incremental build shows only the warnings of
            // the files it compiles again.
            if build.exists() {
                fs::remove_dir_all(&build)
                    .with_context(|| format!("cannot empty {}", build.display()))?;
            }
            fs::create_dir_all(&build)?;
            checkout(&base)?;
            tinyconfig_with(ctx, &tree_sh, &tree, &build, &[&fragment])?;
            fs::copy(&config, &merged)
                .with_context(|| format!("cannot write {}", merged.display()))?;
            eprintln!("check-series: building ckpt-base (v6.12) for its own warnings");
            let (ok, lines) = make("check-series base")?;
            if !ok {
                eprintln!("{}", failure_excerpt(&lines));
                bail!(
                    "ckpt-base itself does not build: see above and {}",
                    rel(ctx, &log)
                );
            }
            let found = warnings(&lines, &tree);
            let mut text = format!("{stamp}\n");
            for w in &found {
                text.push_str(w);
                text.push('\n');
            }
            fs::write(&baseline_path, text)?;
            eprintln!(
                "check-series: v6.12 prints {} warnings with this configuration (kept in {})",
                found.len(),
                baseline_path.display()
            );
            found
        }
    };

    let total = commits.len();
    let start = Instant::now();
    for (i, commit) in commits.iter().enumerate() {
        let n = i + 1;
        let subject = cmd!(sh, "git -C {src} log -1 --format=%s {commit}")
            .quiet()
            .read()?;
        checkout(commit)?;
        let step = Instant::now();
        let (ok, lines) = make(&format!("check-series {n}/{total}"))?;
        let resolved = fs::read_to_string(&config).unwrap_or_default();
        if ok && !resolved.lines().any(|l| l == "CONFIG_KCKPT=y") {
            bail!(
                "patch {n}/{total} ({subject}): CONFIG_KCKPT is not set after olddefconfig \
                 (see {}): the Kconfig option comes in patch 1, and the fragment sets it",
                config.display()
            );
        }
        let new: Vec<String> = warnings(&lines, &tree)
            .into_iter()
            .filter(|w| !baseline.contains(w))
            .collect();
        if !ok || !new.is_empty() {
            eprintln!("{}", failure_excerpt(&lines));
            bail!(
                "patch {n}/{total} ({subject}) {}: see above and {}; the tree at that commit \
                 is {}{}",
                if ok {
                    "builds with new warnings"
                } else {
                    "does not build"
                },
                rel(ctx, &log),
                tree.display(),
                new.iter().map(|w| format!("\n  {w}")).collect::<String>()
            );
        }
        eprintln!(
            "check-series: {n:>2}/{total} builds ({:.0} s): {subject}",
            step.elapsed().as_secs_f64(),
        );
    }
    let config_text = fs::read_to_string(&config)?;
    let lost = lost_options(
        &[("qemu/kernel.config", fragment_text.as_str())],
        &config_text,
    );
    if !lost.is_empty() {
        let names: Vec<&str> = lost.iter().map(|(opt, _)| opt.as_str()).collect();
        bail!(
            "with the whole series, options of qemu/kernel.config did not survive \
             olddefconfig: {} (see {})",
            names.join(", "),
            config.display()
        );
    }
    eprintln!(
        "check-series: all {total} patches build, each on the one before, with no warning \
         v6.12 does not print ({:.0} s)",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::warning_key;

    #[test]
    fn warnings_lose_their_place() {
        assert_eq!(
            warning_key(
                "/t/tree/fs/select.c:973:12: warning: stack frame size (1032) exceeds limit",
                "/t/tree"
            )
            .as_deref(),
            Some("fs/select.c: warning: stack frame size (####) exceeds limit")
        );
        assert_eq!(
            warning_key("warning: unused variable: `x`", "/t/tree").as_deref(),
            Some("warning: unused variable: `x`")
        );
        assert_eq!(warning_key("  CC      fs/select.o", "/t/tree"), None);
    }
}
