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
                 these files differ: {}\nrun `cargo xtask format-patch` and commit linux-patch/",
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

    let out_dir = ctx.repo.join("linux-patch");
    fs::create_dir_all(&out_dir)?;
    for old in kernel::patch_files(ctx)? {
        fs::remove_file(&old).with_context(|| format!("cannot remove {}", old.display()))?;
    }
    kernel::export(ctx, &out_dir)?;
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
