//! `cargo xtask kernel`: the test kernel, built in the cache.
//!
//! Steps, each a no-op when already done, all under an exclusive lock on
//! `<cache>/.build-lock` (one kernel build at a time on the machine):
//! 1. the kernel tree `<cache>/src/linux-source-6.12`: Debian's linux-source-6.12
//!    tarball (or a git checkout given with `--linux-src`) as a git repository
//!    whose first commit is tagged `ckpt-base`;
//! 2. branch `kckpt` = `ckpt-base` + `linux-patch/*.patch`, re-applied only when
//!    the series changed (`<cache>/series.sha256`); files that come out the same
//!    keep their mtimes, so the build stays incremental;
//! 3. `kernel/ckpt` → `rust/kernel-ckpt` of this repository (a symlink);
//! 4. `.config` = tinyconfig + `qemu/kernel.config` (`<cache>/config.sha256`),
//!    checked on every run;
//! 5. `make bzImage` into `<cache>/build`, with a progress line.
//!
//! One file per step in `kernel/`: `source.rs` (1 and 3), `series.rs` (2),
//! `config.rs` (4), `build.rs` (5); shared helpers stay here.
//!
//! With `--debug-kernel` ([`Flavor::Debug`]), steps 1 to 3 are the same (one
//! source tree, branch kckpt), and steps 4 and 5 use tinyconfig +
//! `qemu/kernel.config` + `qemu/kernel-debug.config` (KASAN, kmemleak, no
//! preemption, lockup and hung-task detectors), `<cache>/config-debug.sha256`,
//! and the build directory `<cache>/build-debug`; its bzImage is copied to
//! `target/bzImage-debug`.
//!
//! With `--bench-kernel` ([`Flavor::Bench`], what `cargo xtask bench` boots)
//! the same holds with `qemu/kernel-bench.config`: the normal kernel without
//! its debugging checks (lockdep), built in `<cache>/build-bench`.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use xshell::{cmd, Shell};

use crate::{read_stamp, rel, sha256_hex, write_stamp, Ctx};

mod build;
mod check_series;
mod config;
pub mod selftests;
mod series;
mod source;

use build::*;
pub use check_series::check_series;
use config::*;
use series::*;
pub use series::{export, patch_files, series_stamp, series_stamp_path, stale_patches};
use source::*;

/// Debian's kernel source package puts its tree here.
const DEBIAN_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";

/// Commits in the kernel tree are made under this identity.
pub const GIT_ID: [&str; 4] = [
    "-c",
    "user.name=kernel-ckpt",
    "-c",
    "user.email=kernel-ckpt@localhost",
];

/// `make` arguments for the Debian LLVM 14 toolchain (clang-14, ld.lld-14, ...).
const LLVM: &str = "LLVM=-14";

#[derive(clap::Args, Default, Clone)]
pub struct KernelArgs {
    /// A git checkout of Linux v6.12 to use instead of Debian's linux-source-6.12
    /// (cloned with --shared into the cache the first time).
    #[arg(long, env = "KCKPT_LINUX_SRC", value_name = "PATH")]
    pub linux_src: Option<PathBuf>,
    /// The debug kernel: qemu/kernel.config + qemu/kernel-debug.config (KASAN,
    /// kmemleak, no preemption, soft-lockup and hung-task detectors), built in
    /// <cache>/build-debug from the same tree.
    #[arg(long, conflicts_with = "bench_kernel")]
    pub debug_kernel: bool,
    /// The benchmark kernel (what `cargo xtask bench` boots):
    /// qemu/kernel.config + qemu/kernel-bench.config, the normal kernel
    /// without lockdep, built in <cache>/build-bench from the same tree.
    #[arg(long)]
    pub bench_kernel: bool,
}

impl KernelArgs {
    pub fn flavor(&self) -> Flavor {
        if self.debug_kernel {
            Flavor::Debug
        } else if self.bench_kernel {
            Flavor::Bench
        } else {
            Flavor::Normal
        }
    }
}

/// Which kernel: the normal test kernel, the debug one (`--debug-kernel`)
/// or the benchmark one (`--bench-kernel`). All are built from the same
/// source tree; each has its own configuration, build directory, stamp,
/// build log and bzImage copy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flavor {
    Normal,
    Debug,
    Bench,
}

impl Flavor {
    /// The configuration fragments applied on tinyconfig, in order (a later
    /// one overrides an option an earlier one sets).
    pub fn fragments(self) -> &'static [&'static str] {
        match self {
            Flavor::Normal => &["qemu/kernel.config"],
            Flavor::Debug => &["qemu/kernel.config", "qemu/kernel-debug.config"],
            Flavor::Bench => &["qemu/kernel.config", "qemu/kernel-bench.config"],
        }
    }

    /// The build output directory (`make O=`): `<cache>/build` and the
    /// flavor's suffix.
    pub fn build_dir(self, ctx: &Ctx) -> PathBuf {
        ctx.cache.join(format!("build{}", self.suffix()))
    }

    fn config_stamp(self, ctx: &Ctx) -> PathBuf {
        ctx.cache.join(format!("config{}.sha256", self.suffix()))
    }

    fn build_log(self, ctx: &Ctx) -> PathBuf {
        ctx.target
            .join(format!("kernel-build{}.log", self.suffix()))
    }

    /// The copy of the bzImage that `run` and `qemu-test` boot.
    pub fn booted_bzimage(self, ctx: &Ctx) -> PathBuf {
        ctx.target.join(format!("bzImage{}", self.suffix()))
    }

    /// "", "-debug" or "-bench": the suffix of the flavor's own output
    /// directories.
    pub fn suffix(self) -> &'static str {
        match self {
            Flavor::Normal => "",
            Flavor::Debug => "-debug",
            Flavor::Bench => "-bench",
        }
    }

    /// The output directory's name for a guest booted in `mode`: the mode
    /// and the suffix, except the bench on its own kernel (`bench`).
    pub fn dir_name(self, mode: &str) -> String {
        if mode == "bench" && self == Flavor::Bench {
            mode.to_string()
        } else {
            format!("{mode}{}", self.suffix())
        }
    }
}

/// Build the kernel; returns the path of the bzImage in the build directory.
///
/// A copy is left at `target/bzImage`, taken under the lock: that is the one
/// to boot, since another build may rewrite the cache's while QEMU reads it.
pub fn kernel(ctx: &Ctx, args: &KernelArgs) -> Result<PathBuf> {
    let flavor = args.flavor();
    let _lock = prepare_tree(ctx, args, flavor)?;
    let bzimage = build(ctx, flavor)?;
    fs::create_dir_all(&ctx.target)?;
    fs::copy(&bzimage, flavor.booted_bzimage(ctx))
        .with_context(|| format!("cannot copy {} to target/", bzimage.display()))?;
    Ok(bzimage)
}

/// Under the build lock (returned, held until dropped): the kernel tree
/// extracted, `linux-patch/` applied, the crate linked in, and `flavor`'s
/// build directory configured.
fn prepare_tree(ctx: &Ctx, args: &KernelArgs, flavor: Flavor) -> Result<File> {
    fs::create_dir_all(&ctx.cache)
        .with_context(|| format!("cannot create the cache directory {}", ctx.cache.display()))?;
    let lock = lock_build(ctx)?;
    prepare_source(ctx, args)?;
    apply_series(ctx)?;
    link_crate(ctx)?;
    configure(ctx, flavor)?;
    Ok(lock)
}

/// Take the machine-wide kernel build lock (flock(2) LOCK_EX on
/// `<cache>/.build-lock`), waiting for the holder if there is one. The lock is
/// held until the returned file is dropped.
pub fn lock_build(ctx: &Ctx) -> Result<File> {
    let path = ctx.cache.join(".build-lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the build lock {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "kernel: waiting for another kernel build to finish (lock {})",
                path.display()
            );
            let start = Instant::now();
            file.lock()
                .with_context(|| format!("cannot lock {}", path.display()))?;
            eprintln!(
                "kernel: got the lock after {:.0} s",
                start.elapsed().as_secs_f64()
            );
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    Ok(file)
}

/// Environment of every `make` in the kernel tree: the pinned Rust toolchain,
/// cargo's bin directory (rustup proxies, bindgen 0.65.1) first in PATH, and
/// no make flags inherited from a calling make.
fn make_cmd<'a>(
    ctx: &'a Ctx,
    sh: &'a Shell,
    flavor: Flavor,
    args: &[String],
) -> Result<xshell::Cmd<'a>> {
    make_cmd_in(ctx, sh, &flavor.build_dir(ctx), args)
}

/// `PATH` for the kernel's tools: cargo's bin directory (bindgen) first.
fn tool_path() -> Result<OsString> {
    let mut path: Vec<PathBuf> = crate::setup::cargo_bin_dir().into_iter().collect();
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    Ok(std::env::join_paths(path)?)
}

/// `make -jN`: one job per CPU.
fn make_jobs() -> String {
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    format!("-j{jobs}")
}

/// [`make_cmd`] with the objects in `build`.
fn make_cmd_in<'a>(
    ctx: &'a Ctx,
    sh: &'a Shell,
    build: &Path,
    args: &[String],
) -> Result<xshell::Cmd<'a>> {
    let path = tool_path()?;
    // cargo's CARGO_PKG_* of xtask itself (its rust-version among them,
    // which clippy would take as the crate's) stay out of the build.
    let mut cmd = cmd!(sh, "make {LLVM} O={build} {args...}");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CARGO_PKG_") {
            cmd = cmd.env_remove(key);
        }
    }
    Ok(cmd
        .env("RUSTUP_TOOLCHAIN", ctx.toolchain()?)
        .env("PATH", path)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .quiet())
}

/// Run a quick command; on failure show the end of its output.
fn run_captured(cmd: xshell::Cmd<'_>, what: &str) -> Result<()> {
    let out = cmd.ignore_status().output()?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        bail!("{what} failed ({}):\n{}", out.status, last_lines(&text, 40));
    }
    Ok(())
}

/// What to show of a failed build: with -j the first error is often far above
/// the last lines, so show it (with some context) and then the last 60 lines.
fn failure_excerpt(lines: &[String]) -> String {
    let tail_start = lines.len().saturating_sub(60);
    let first_error = lines.iter().position(|l| {
        l.starts_with("error")
            || l.contains(": error:")
            || l.contains("fatal error")
            || l.contains("undefined reference")
            || l.contains("ld.lld: error")
    });
    let mut out = Vec::new();
    if let Some(first) = first_error.filter(|&i| i < tail_start) {
        out.push(format!(
            "--- first error (line {} of the log) ---",
            first + 1
        ));
        let end = (first + 30).min(tail_start);
        out.extend(lines[first.saturating_sub(2)..end].iter().cloned());
        out.push("--- last 60 lines ---".to_string());
    }
    out.extend(lines[tail_start..].iter().cloned());
    out.join("\n")
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `make CLIPPY=1` of the kernel-ckpt crate (`kernel/ckpt/`), with the
/// normal kernel's configuration, in `<cache>/build-lint` (so that the
/// other builds keep their objects): the crate is always compiled again,
/// and what clippy says is returned (empty: nothing).
pub fn clippy_crate(ctx: &Ctx) -> Result<String> {
    let _lock = prepare_tree(ctx, &KernelArgs::default(), Flavor::Normal)?;
    let lint = ctx.cache.join("build-lint");
    fs::create_dir_all(&lint)?;
    let config = Flavor::Normal.build_dir(ctx).join(".config");
    if fs::read(&config).ok() != fs::read(lint.join(".config")).ok() {
        fs::copy(&config, lint.join(".config"))
            .with_context(|| format!("cannot copy {}", config.display()))?;
    }
    // Compiled again whatever make thinks, so that every warning shows.
    let _ = fs::remove_file(lint.join("kernel/ckpt/ckpt.o"));
    let sh = Shell::new()?;
    sh.change_dir(ctx.kernel_src());
    let out = make_cmd_in(ctx, &sh, &lint, &["olddefconfig".into()])?
        .ignore_status()
        .output()?;
    if !out.status.success() {
        bail!(
            "make olddefconfig in {} failed:\n{}",
            lint.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = make_cmd_in(
        ctx,
        &sh,
        &lint,
        &[make_jobs(), "CLIPPY=1".into(), "kernel/ckpt/".into()],
    )?
    .ignore_status()
    .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "make CLIPPY=1 kernel/ckpt/ failed:\n{}",
            last_lines(&text, 60)
        );
    }
    Ok(clippy_messages(&text))
}

/// rustdoc of the kernel-ckpt crate as the kernel builds it, into
/// `target/lint/rustdoc/` (`ckpt/index.html`), private items included.
/// `make rustdoc` documents only `rust/`, so this runs rustdoc with the
/// flags of the crate's own compile (`.ckpt.o.cmd` of the CLIPPY=1 build
/// in `<cache>/build-lint`, made by [`clippy_crate`] first), its lints and
/// outputs left out. Returns rustdoc's warnings (empty when clean).
pub fn rustdoc_crate(ctx: &Ctx) -> Result<String> {
    let lint = ctx.cache.join("build-lint");
    let cmd_file = lint.join("kernel/ckpt/.ckpt.o.cmd");
    let saved = fs::read_to_string(&cmd_file).with_context(|| {
        format!(
            "cannot read {}: run the clippy build first",
            cmd_file.display()
        )
    })?;
    let line = saved
        .lines()
        .find_map(|l| l.strip_prefix("savedcmd_kernel/ckpt/ckpt.o := "))
        .with_context(|| format!("{} has no savedcmd line", cmd_file.display()))?;
    let mut args: Vec<String> = Vec::new();
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let drop = word.starts_with("RUST_MODFILE=")
            || word == "clippy-driver"
            || word == "rustc"
            || word.starts_with("-Wclippy::")
            || word.starts_with("-Aclippy::")
            || word.starts_with("--emit=")
            || word == "-Zbinary_dep_depinfo=y";
        if drop {
            continue;
        }
        if word == "--out-dir" || word == "--crate-type" {
            words.next();
            continue;
        }
        // The one quoted argument: -Zcrate-attr='feature(...)'.
        args.push(word.replace('\'', ""));
    }
    let out_dir = ctx.target.join("lint/rustdoc");
    if out_dir.exists() {
        fs::remove_dir_all(&out_dir)?;
    }
    fs::create_dir_all(&out_dir)?;
    let out = Command::new("rustdoc")
        .args(&args)
        .arg("--output")
        .arg(&out_dir)
        .args([
            "--document-private-items",
            "-Zunstable-options",
            "--generate-link-to-definition",
        ])
        .current_dir(&lint)
        .env("RUST_MODFILE", "kernel/ckpt/ckpt")
        // What the kernel's Makefile sets for its own rustc and rustdoc.
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTUP_TOOLCHAIN", ctx.toolchain()?)
        .env("PATH", tool_path()?)
        .output()
        .context("cannot run rustdoc: run `cargo xtask setup`")?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("rustdoc of kernel/ckpt failed:\n{}", last_lines(&text, 60));
    }
    Ok(text.trim().to_string())
}

/// The warnings and errors about the kernel-ckpt crate in a build's
/// output, each with the lines that explain it (up to the next blank
/// line): those whose location is in `kernel/ckpt/`, and errors without
/// one. The kernel's own Rust (`rust/`), built with clippy the first time
/// the lint directory is made, is not this project's to judge, and the
/// counts clippy ends with are not findings.
fn clippy_messages(text: &str) -> String {
    let mut out = String::new();
    let mut block: Vec<&str> = Vec::new();
    let mut flush = |block: &mut Vec<&str>| {
        let ours = block.iter().any(|l| l.contains("kernel/ckpt/"));
        let located = block.iter().any(|l| l.trim_start().starts_with("-->"));
        let error = block.first().is_some_and(|l| l.starts_with("error"));
        if ours || (error && !located) {
            for l in block.iter() {
                out.push_str(l);
                out.push('\n');
            }
            out.push('\n');
        }
        block.clear();
    };
    for line in text.lines() {
        let counted = line.starts_with("warning: ") && line.ends_with(" emitted")
            || line.starts_with("error: aborting due to");
        if (line.starts_with("warning") || line.starts_with("error")) && !counted {
            flush(&mut block);
            block.push(line);
        } else if line.trim().is_empty() || counted {
            flush(&mut block);
        } else if !block.is_empty() {
            block.push(line);
        }
    }
    flush(&mut block);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn clippy_messages_keep_findings_only() {
        let out = "  RUSTC kernel/ckpt/ckpt.o\n\
                   warning: this is the kernel's\n\
                   \x20  --> rust/kernel/lib.rs:9:1\n\
                   \n\
                   warning: unsafe block missing a safety comment\n\
                   \x20  --> kernel/ckpt/x.rs:1:1\n\
                   \n\
                   warning: 1 warning emitted\n";
        assert_eq!(
            super::clippy_messages(out),
            "warning: unsafe block missing a safety comment\n   --> kernel/ckpt/x.rs:1:1\n\n"
        );
        assert_eq!(
            super::clippy_messages("  RUSTC x\nwarning: 1 warning emitted\n"),
            ""
        );
    }

    use super::*;

    #[test]
    fn finds_lost_options() {
        let fragment = "# comment\nCONFIG_RUST=y\nCONFIG_NR_CPUS=4\n# CONFIG_MODULES is not set\nCONFIG_KCKPT=y\n";
        let config =
            "CONFIG_RUST=y\nCONFIG_NR_CPUS=4\nCONFIG_MODULES=y\n# CONFIG_KCKPT is not set\n";
        assert_eq!(
            lost_options(&[("base", fragment)], config),
            [
                ("CONFIG_MODULES".to_string(), "base"),
                ("CONFIG_KCKPT".to_string(), "base")
            ]
        );
        assert!(lost_options(
            &[("base", fragment)],
            "CONFIG_RUST=y\nCONFIG_NR_CPUS=4\nCONFIG_KCKPT=y\n"
        )
        .is_empty());
    }

    #[test]
    fn a_later_fragment_overrides() {
        let base = "CONFIG_PREEMPT=y\nCONFIG_RUST=y\n# CONFIG_KASAN is not set\n";
        let debug = "# CONFIG_PREEMPT is not set\nCONFIG_PREEMPT_NONE=y\nCONFIG_KASAN=y\n";
        let fragments = [("base", base), ("debug", debug)];
        let good =
            "# CONFIG_PREEMPT is not set\nCONFIG_PREEMPT_NONE=y\nCONFIG_RUST=y\nCONFIG_KASAN=y\n";
        assert!(lost_options(&fragments, good).is_empty());
        // KASAN dropped by olddefconfig: named, with the fragment that asked for it.
        let dropped = "CONFIG_PREEMPT_NONE=y\nCONFIG_RUST=y\n# CONFIG_KASAN is not set\n";
        assert_eq!(
            lost_options(&fragments, dropped),
            [("CONFIG_KASAN".to_string(), "debug")]
        );
        let preempt = "CONFIG_PREEMPT=y\nCONFIG_RUST=y\nCONFIG_KASAN=y\n";
        assert_eq!(
            lost_options(&fragments, preempt),
            [
                ("CONFIG_PREEMPT".to_string(), "debug"),
                ("CONFIG_PREEMPT_NONE".to_string(), "debug")
            ]
        );
    }

    #[test]
    fn shows_the_first_error() {
        let mut lines: Vec<String> = (0..100).map(|i| format!("  CC      f{i}.o")).collect();
        lines[10] = "error[E0425]: cannot find value `x` in crate `bindings`".to_string();
        let excerpt = failure_excerpt(&lines);
        assert!(excerpt.starts_with("--- first error (line 11 of the log) ---\n  CC      f8.o"));
        assert!(excerpt.contains("error[E0425]"));
        assert!(excerpt.ends_with("  CC      f99.o"));
        let short: Vec<String> = lines[..20].to_vec();
        assert!(!failure_excerpt(&short).contains("---"));
    }

    #[test]
    fn keeps_last_lines() {
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }
}
