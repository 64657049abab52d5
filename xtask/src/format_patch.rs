//! `cargo xtask format-patch`: export the kernel-side work to linux-patch/.
//!
//! Kernel changes are made as commits on branch `kckpt` of the cache's kernel
//! tree (`<cache>/src/linux-source-6.12`); this writes `ckpt-base..kckpt` as
//! the series in linux-patch/, replacing the old files. The kernel crate
//! (`rust/kernel-ckpt`, linked as `kernel/ckpt`) is not a commit there: its
//! patch is made from the crate's files and put before the commit that
//! builds it (see [`kernel::export`]). So a change to the crate needs this
//! run again too; `--check` (run by `cargo xtask lint`) says when it does.

use std::fs;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{kernel, rel, write_stamp, Ctx};

#[derive(clap::Args)]
pub struct FormatPatchArgs {
    /// Write nothing: fail if linux-patch/ differs from what this would
    /// write (kckpt or rust/kernel-ckpt changed since it was run).
    #[arg(long)]
    pub check: bool,
}

pub fn format_patch(ctx: &Ctx, args: &FormatPatchArgs) -> Result<()> {
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    if !src.join(".git").exists() {
        bail!(
            "there is no kernel tree at {} yet: run `cargo xtask kernel` first",
            src.display()
        );
    }
    let _lock = kernel::lock_build(ctx)?;
    if args.check {
        let stale = kernel::stale_patches(ctx)?;
        if !stale.is_empty() {
            bail!(
                "linux-patch/ is not the series that kckpt and rust/kernel-ckpt make now; \
                 these files differ: {}\nif you changed the kernel tree or the crate, run \
                 `cargo xtask format-patch` and commit linux-patch/; if linux-patch/ is the \
                 newer one (a pull), `cargo xtask kernel` applies it to kckpt first",
                stale.join(", ")
            );
        }
        eprintln!("format-patch: linux-patch/ is up to date");
        return Ok(());
    }
    let branch = cmd!(sh, "git -C {src} symbolic-ref -q --short HEAD")
        .quiet()
        .ignore_status()
        .read()?;
    if branch != "kckpt" {
        bail!(
            "{} has {} checked out, not kckpt: commit the kernel changes on kckpt",
            src.display(),
            if branch.is_empty() {
                "a detached HEAD"
            } else {
                branch.as_str()
            }
        );
    }
    // kernel/ckpt (the symlink to rust/kernel-ckpt) is excluded via .git/info/exclude.
    let status = cmd!(sh, "git -C {src} status --porcelain").quiet().read()?;
    if !status.is_empty() {
        bail!(
            "the kernel tree {src} has changes that are not committed, so they would not be \
             exported:\n{status}\ncommit them on kckpt (`git -C {src} commit -a`, `git add` new \
             files first) and run this again",
            src = src.display()
        );
    }

    // The crate's patch is made from the crate's tracked files: a new file
    // not added yet would be built by the tree (through the link) and be
    // missing from the series.
    let repo = &ctx.repo;
    let untracked = cmd!(
        sh,
        "git -C {repo} ls-files --others --exclude-standard rust/kernel-ckpt"
    )
    .quiet()
    .read()?;
    if !untracked.is_empty() {
        bail!(
            "rust/kernel-ckpt has files git does not track, which the crate's patch would \
             leave out:\n{untracked}\n`git add` them (or remove them) and run this again"
        );
    }

    // Made aside, then put in place: a failed export leaves the old series.
    let out_dir = ctx.repo.join("linux-patch");
    let new_dir = ctx.cache.join(".series-new");
    if new_dir.exists() {
        fs::remove_dir_all(&new_dir)?;
    }
    kernel::export(ctx, &new_dir)?;
    fs::create_dir_all(&out_dir)?;
    for old in kernel::patch_files(ctx)? {
        fs::remove_file(&old).with_context(|| format!("cannot remove {}", old.display()))?;
    }
    for entry in fs::read_dir(&new_dir)? {
        let path = entry?.path();
        let name = path.file_name().context("a file in the export")?;
        fs::copy(&path, out_dir.join(name))
            .with_context(|| format!("cannot write linux-patch/{}", name.to_string_lossy()))?;
    }
    fs::remove_dir_all(&new_dir)?;
    let patches = kernel::patch_files(ctx)?;
    for patch in &patches {
        println!("{}", rel(ctx, patch));
    }
    // The tree already holds this series: the next `cargo xtask kernel` must
    // not re-apply it (that would touch the files and cost a rebuild).
    let stamp = kernel::series_stamp(&patches)?;
    write_stamp(&kernel::series_stamp_path(ctx), &stamp)?;
    let kckpt = cmd!(sh, "git -C {src} rev-parse kckpt").quiet().read()?;
    cmd!(
        sh,
        "git -C {src} update-ref refs/tags/kckpt-applied {kckpt}"
    )
    .quiet()
    .run()?;
    eprintln!("format-patch: {} patches in linux-patch/", patches.len());
    Ok(())
}
