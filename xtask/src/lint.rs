//! `cargo xtask lint`: the checks a kernel developer runs on a series.
//!
//! - `cargo fmt --check` and `cargo clippy -D warnings` of the workspace;
//! - the kernel crate formatted as the kernel's `.rustfmt.toml` says
//!   (`make rustfmtcheck` does not follow the `kernel/ckpt` symlink);
//! - `make CLIPPY=1` of the kernel crate, with the kernel's own clippy
//!   configuration (its minimum Rust, 1.78), in `<cache>/build-lint`;
//! - `scripts/checkpatch.pl --strict` over every patch of `linux-patch/`.
//!
//! Every check but checkpatch fails the command. checkpatch's findings are
//! counted and listed in `target/lint/checkpatch.txt`: the series does
//! not pass it yet, and the command says how far it is.

use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{file_name, kernel, rel, Ctx};

#[derive(clap::Args)]
pub struct LintArgs {
    /// Leave out checkpatch (about a minute for the whole series).
    #[arg(long)]
    pub no_checkpatch: bool,
}

pub fn lint(ctx: &Ctx, args: &LintArgs) -> Result<()> {
    let sh = &ctx.sh;
    let cargo = ctx.cargo();
    let mut failed = Vec::new();

    eprintln!("lint: cargo fmt --check");
    if cmd!(sh, "{cargo} fmt --all --check").run().is_err() {
        failed.push("cargo fmt --check (run `cargo fmt --all`)");
    }
    eprintln!("lint: cargo clippy --workspace --all-targets -D warnings");
    if cmd!(
        sh,
        "{cargo} clippy --workspace --all-targets -- -D warnings"
    )
    .run()
    .is_err()
    {
        failed.push("cargo clippy (above)");
    }

    eprintln!("lint: rustfmt --check of rust/kernel-ckpt with the kernel's .rustfmt.toml");
    let config = ctx.kernel_src().join(".rustfmt.toml");
    if !config.is_file() {
        bail!(
            "{} is missing: run `cargo xtask kernel` first",
            config.display()
        );
    }
    let files = rust_files(&ctx.repo.join("rust/kernel-ckpt"))?;
    if cmd!(
        sh,
        "rustfmt --edition 2021 --config-path {config} --check {files...}"
    )
    .run()
    .is_err()
    {
        failed.push("rustfmt of rust/kernel-ckpt (above; rustfmt --config-path <kernel>/.rustfmt.toml FILE)");
    }

    eprintln!("lint: make CLIPPY=1 kernel/ckpt/");
    let said = kernel::clippy_crate(ctx)?;
    if !said.trim().is_empty() {
        eprintln!("{said}");
        failed.push("clippy of the kernel crate (above)");
    }

    if !args.no_checkpatch {
        checkpatch(ctx)?;
    }
    if !failed.is_empty() {
        bail!("lint failed: {}", failed.join("; "));
    }
    eprintln!("lint: ok");
    Ok(())
}

/// The `.rs` files under `dir` (the fuzzer's directory left out: it is
/// a host crate, checked by cargo fmt).
fn rust_files(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "fuzz" && n != "target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// checkpatch.pl --strict over each patch: the counts, and every finding
/// in `target/lint/checkpatch.txt`.
fn checkpatch(ctx: &Ctx) -> Result<()> {
    let sh = &ctx.sh;
    let script = ctx.kernel_src().join("scripts/checkpatch.pl");
    let patches = kernel::patch_files(ctx)?;
    eprintln!(
        "lint: checkpatch.pl --strict over {} patches",
        patches.len()
    );
    let _cd = sh.push_dir(ctx.kernel_src());
    let (mut errors, mut warnings, mut checks) = (0u32, 0u32, 0u32);
    let mut report = String::new();
    for p in &patches {
        let out = cmd!(
            sh,
            "perl {script} --strict --terse --no-signoff --no-summary --show-types {p}"
        )
        .quiet()
        .ignore_status()
        .ignore_stderr()
        .read()?;
        for line in out.lines() {
            if line.contains(": ERROR:") {
                errors += 1;
            } else if line.contains(": WARNING:") {
                warnings += 1;
            } else if line.contains(": CHECK:") {
                checks += 1;
            } else {
                continue;
            }
            report.push_str(
                line.strip_prefix(&format!("{}:", p.display()))
                    .unwrap_or(line),
            );
            report.push_str(&format!(" [{}]\n", file_name(p)));
        }
    }
    let dir = ctx.target.join("lint");
    fs::create_dir_all(&dir)?;
    let path = dir.join("checkpatch.txt");
    fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "lint: checkpatch: {errors} errors, {warnings} warnings, {checks} checks (not yet \
         failing the lint; listed in {})",
        rel(ctx, &path)
    );
    Ok(())
}
