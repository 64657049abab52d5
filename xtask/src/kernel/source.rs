//! Steps 1 and 3: the kernel tree (Debian's tarball or a git checkout, as a git
//! repository tagged `ckpt-base`) and the `kernel/ckpt` symlink to this
//! repository's crate.

use super::*;

pub(crate) fn prepare_source(ctx: &Ctx, args: &KernelArgs) -> Result<()> {
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    let wanted_origin = match &args.linux_src {
        Some(path) => fs::canonicalize(path)
            .with_context(|| format!("--linux-src {}: no such directory", path.display()))?
            .to_string_lossy()
            .into_owned(),
        None => DEBIAN_TARBALL.to_string(),
    };

    if src.join(".git").exists() {
        let origin = cmd!(sh, "git -C {src} config --get kckpt.origin")
            .quiet()
            .ignore_status()
            .read()
            .unwrap_or_default();
        let origin = if origin.is_empty() {
            DEBIAN_TARBALL.to_string()
        } else {
            origin
        };
        if args.linux_src.is_some() && origin != wanted_origin {
            bail!(
                "the cache's kernel tree {} was made from {origin}, not {wanted_origin}: to switch, \
                 move {}, {}, {} and {} away (or point KCKPT_CACHE at another directory)",
                src.display(),
                ctx.cache.join("src").display(),
                Flavor::Normal.build_dir(ctx).display(),
                Flavor::Debug.build_dir(ctx).display(),
                Flavor::Bench.build_dir(ctx).display()
            );
        }
        if rev_parse(ctx, &src, "refs/tags/ckpt-base").is_none() {
            bail!(
                "{} has no tag ckpt-base, so it was not made by `cargo xtask kernel`: tag its \
                 unpatched v6.12 commit with `git -C {} tag ckpt-base <commit>`, or move it away",
                src.display(),
                src.display()
            );
        }
        return Ok(());
    }
    if src.exists() {
        bail!(
            "{} exists but is not a git repository: move it away and run again",
            src.display()
        );
    }

    // Build the tree under a temporary name and rename it at the end, so an
    // interrupted run leaves nothing that looks finished.
    let parent = ctx.cache.join("src");
    let tmp = parent.join(".linux-source-6.12.tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    fs::create_dir_all(&tmp)?;
    let tree = tmp.join("linux-source-6.12");
    let start = Instant::now();
    match &args.linux_src {
        None => {
            if !Path::new(DEBIAN_TARBALL).exists() {
                bail!("{DEBIAN_TARBALL} is missing: run `cargo xtask setup` (it installs linux-source-6.12)");
            }
            eprintln!("kernel: extracting {DEBIAN_TARBALL} into {}", src.display());
            cmd!(sh, "tar -C {tmp} -xf {DEBIAN_TARBALL}")
                .quiet()
                .run()?;
            if !tree.is_dir() {
                bail!("{DEBIAN_TARBALL} did not contain linux-source-6.12/");
            }
            let version = kernel_version(&tree)?;
            eprintln!("kernel: making a git repository of Linux {version}");
            // -f: Debian's .gitignore ignores everything (`/*`).
            cmd!(sh, "git -C {tree} init -q -b base").quiet().run()?;
            // No automatic gc: after the first commit of ~90,000 files it
            // would run in the background and hold HEAD.lock while the
            // series is applied.
            cmd!(sh, "git -C {tree} config gc.auto 0").quiet().run()?;
            cmd!(sh, "git -C {tree} config maintenance.auto false")
                .quiet()
                .run()?;
            cmd!(sh, "git -C {tree} add -f -A .").quiet().run()?;
            let message = format!("Linux {version} (Debian linux-source-6.12)");
            cmd!(sh, "git -C {tree} {GIT_ID...} commit -q -m {message}")
                .quiet()
                .run()?;
        }
        Some(checkout) => {
            if rev_parse(ctx, checkout, "HEAD").is_none() {
                bail!(
                    "--linux-src {}: not a git checkout (of Linux v6.12)",
                    checkout.display()
                );
            }
            eprintln!(
                "kernel: cloning {} into {}",
                checkout.display(),
                src.display()
            );
            cmd!(sh, "git clone -q --shared --no-tags {checkout} {tree}")
                .quiet()
                .run()?;
        }
    }
    cmd!(sh, "git -C {tree} tag ckpt-base").quiet().run()?;
    cmd!(sh, "git -C {tree} config kckpt.origin {wanted_origin}")
        .quiet()
        .run()?;
    fs::rename(&tree, &src)
        .with_context(|| format!("cannot rename {} to {}", tree.display(), src.display()))?;
    fs::remove_dir_all(&tmp)?;
    eprintln!(
        "kernel: kernel tree ready in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// "6.12.117" from the top-level Makefile.
pub(crate) fn kernel_version(tree: &Path) -> Result<String> {
    let makefile = fs::read_to_string(tree.join("Makefile"))?;
    let field = |name: &str| {
        makefile
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .trim_start()
                    .strip_prefix('=')
                    .map(str::trim)
            })
            .unwrap_or("")
            .to_string()
    };
    let version = [field("VERSION"), field("PATCHLEVEL"), field("SUBLEVEL")];
    if version[0].is_empty() {
        bail!(
            "{}/Makefile has no VERSION line: not a kernel tree",
            tree.display()
        );
    }
    Ok(version.join("."))
}

/// The commit id a revision names, or None.
pub(crate) fn rev_parse(ctx: &Ctx, dir: &Path, rev: &str) -> Option<String> {
    let sh = &ctx.sh;
    let spec = format!("{rev}^{{commit}}");
    cmd!(sh, "git -C {dir} rev-parse -q --verify {spec}")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .filter(|s| !s.is_empty())
}

/// `kernel/ckpt` → `rust/kernel-ckpt` of this repository (like `ln -sfn`),
/// and keep the link out of `git status` / `git add -A` of the kernel tree.
pub(crate) fn link_crate(ctx: &Ctx) -> Result<()> {
    let src = ctx.kernel_src();
    let crate_dir = ctx.repo.join("rust/kernel-ckpt");
    let target = fs::canonicalize(&crate_dir)
        .with_context(|| format!("{} is missing", crate_dir.display()))?;
    let link = src.join("kernel/ckpt");
    match fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_symlink() => {
            if fs::read_link(&link)? != target {
                fs::remove_file(&link)?;
                std::os::unix::fs::symlink(&target, &link)?;
            }
        }
        Ok(_) => bail!(
            "{} is a real file or directory, not the symlink to {}: move it away",
            link.display(),
            target.display()
        ),
        Err(_) => std::os::unix::fs::symlink(&target, &link)
            .with_context(|| format!("cannot create the symlink {}", link.display()))?,
    }
    let exclude = src.join(".git/info/exclude");
    let text = fs::read_to_string(&exclude).unwrap_or_default();
    if !text.lines().any(|l| l == "/kernel/ckpt") {
        fs::create_dir_all(src.join(".git/info"))?;
        let mut file = File::options().create(true).append(true).open(&exclude)?;
        writeln!(file, "/kernel/ckpt")?;
    }
    Ok(())
}
