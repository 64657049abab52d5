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
//! With `--debug-kernel` ([`Flavor::Debug`]), steps 1 to 3 are the same (one
//! source tree, branch kckpt), and steps 4 and 5 use tinyconfig +
//! `qemu/kernel.config` + `qemu/kernel-debug.config` (KASAN, kmemleak, no
//! preemption, lockup and hung-task detectors), `<cache>/config-debug.sha256`,
//! and the build directory `<cache>/build-debug`; its bzImage is copied to
//! `target/bzImage-debug`.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use xshell::{cmd, Shell};

use crate::{format_patch, read_stamp, rel, sha256_hex, write_stamp, Ctx};

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
    #[arg(long)]
    pub debug_kernel: bool,
}

impl KernelArgs {
    pub fn flavor(&self) -> Flavor {
        if self.debug_kernel {
            Flavor::Debug
        } else {
            Flavor::Normal
        }
    }
}

/// Which test kernel: the normal one, or the debug one (`--debug-kernel`).
/// Both are built from the same source tree; each has its own
/// configuration, build directory, stamp, build log and bzImage copy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flavor {
    Normal,
    Debug,
}

impl Flavor {
    /// The configuration fragments applied on tinyconfig, in order (a later
    /// one overrides an option an earlier one sets).
    pub fn fragments(self) -> &'static [&'static str] {
        match self {
            Flavor::Normal => &["qemu/kernel.config"],
            Flavor::Debug => &["qemu/kernel.config", "qemu/kernel-debug.config"],
        }
    }

    /// The build output directory (`make O=`).
    pub fn build_dir(self, ctx: &Ctx) -> PathBuf {
        match self {
            Flavor::Normal => ctx.kernel_build(),
            Flavor::Debug => ctx.cache.join("build-debug"),
        }
    }

    fn config_stamp(self, ctx: &Ctx) -> PathBuf {
        match self {
            Flavor::Normal => ctx.cache.join("config.sha256"),
            Flavor::Debug => ctx.cache.join("config-debug.sha256"),
        }
    }

    fn build_log(self, ctx: &Ctx) -> PathBuf {
        match self {
            Flavor::Normal => ctx.target.join("kernel-build.log"),
            Flavor::Debug => ctx.target.join("kernel-build-debug.log"),
        }
    }

    /// The copy of the bzImage that `run` and `qemu-test` boot.
    pub fn booted_bzimage(self, ctx: &Ctx) -> PathBuf {
        match self {
            Flavor::Normal => ctx.target.join("bzImage"),
            Flavor::Debug => ctx.target.join("bzImage-debug"),
        }
    }

    /// "" or "-debug": the suffix of the flavor's own output directories.
    pub fn suffix(self) -> &'static str {
        match self {
            Flavor::Normal => "",
            Flavor::Debug => "-debug",
        }
    }
}

/// Build the kernel; returns the path of the bzImage in the build directory.
///
/// A copy is left at `target/bzImage`, taken under the lock: that is the one
/// to boot, since another build may rewrite the cache's while QEMU reads it.
pub fn kernel(ctx: &Ctx, args: &KernelArgs) -> Result<PathBuf> {
    let flavor = args.flavor();
    fs::create_dir_all(&ctx.cache)
        .with_context(|| format!("cannot create the cache directory {}", ctx.cache.display()))?;
    let _lock = lock_build(ctx)?;
    prepare_source(ctx, args)?;
    apply_series(ctx)?;
    link_crate(ctx)?;
    configure(ctx, flavor)?;
    let bzimage = build(ctx, flavor)?;
    fs::create_dir_all(&ctx.target)?;
    fs::copy(&bzimage, flavor.booted_bzimage(ctx))
        .with_context(|| format!("cannot copy {} to target/", bzimage.display()))?;
    Ok(bzimage)
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

// ---------------------------------------------------------------------------
// 1. The kernel tree

fn prepare_source(ctx: &Ctx, args: &KernelArgs) -> Result<()> {
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
                 move {}, {} and {} away (or point KCKPT_CACHE at another directory)",
                src.display(),
                ctx.cache.join("src").display(),
                Flavor::Normal.build_dir(ctx).display(),
                Flavor::Debug.build_dir(ctx).display()
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
fn kernel_version(tree: &Path) -> Result<String> {
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
fn rev_parse(ctx: &Ctx, dir: &Path, rev: &str) -> Option<String> {
    let sh = &ctx.sh;
    let spec = format!("{rev}^{{commit}}");
    cmd!(sh, "git -C {dir} rev-parse -q --verify {spec}")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------
// 2. The patch series

/// The series, in order.
pub fn patch_files(ctx: &Ctx) -> Result<Vec<PathBuf>> {
    let dir = ctx.repo.join("linux-patch");
    let mut patches: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "patch"))
            .collect(),
        Err(_) => Vec::new(),
    };
    patches.sort();
    Ok(patches)
}

/// SHA-256 over the bytes of all patch files, in order.
pub fn series_stamp(patches: &[PathBuf]) -> Result<String> {
    let contents = patches
        .iter()
        .map(|p| fs::read(p).with_context(|| format!("cannot read {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    Ok(sha256_hex(contents.iter().map(Vec::as_slice)))
}

pub fn series_stamp_path(ctx: &Ctx) -> PathBuf {
    ctx.cache.join("series.sha256")
}

/// Make branch `kckpt` hold ckpt-base + linux-patch/.
///
/// Re-applying resets kckpt, so it happens only when that loses nothing: when
/// kckpt is still what the last apply made (tag `kckpt-applied`) or plain
/// ckpt-base, with no uncommitted changes. Commits made on kckpt in the cache
/// tree and not exported with `cargo xtask format-patch` stop the run instead.
fn apply_series(ctx: &Ctx) -> Result<()> {
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    let patches = patch_files(ctx)?;
    let stamp = series_stamp(&patches)?;
    let stamp_path = series_stamp_path(ctx);

    if src.join(".git/rebase-apply").exists() {
        eprintln!(
            "kernel: aborting an interrupted `git am` in {}",
            src.display()
        );
        cmd!(sh, "git -C {src} am --abort").quiet().run()?;
    }
    let kckpt = rev_parse(ctx, &src, "refs/heads/kckpt");
    let branch = cmd!(sh, "git -C {src} symbolic-ref -q --short HEAD")
        .quiet()
        .ignore_status()
        .read()
        .unwrap_or_default();

    if read_stamp(&stamp_path) == stamp && kckpt.is_some() {
        if branch != "kckpt" {
            eprintln!(
                "kernel: note: {} has {} checked out, not kckpt; building that",
                src.display(),
                if branch.is_empty() {
                    "a detached HEAD"
                } else {
                    branch.as_str()
                }
            );
        }
        return Ok(());
    }

    if let Some(kckpt) = &kckpt {
        // Already there? (A hand-made tree, or one just exported by format-patch.)
        if exported_series_matches(ctx, &patches)? {
            if branch != "kckpt" {
                cmd!(sh, "git -C {src} checkout -q kckpt").quiet().run()?;
            }
            cmd!(
                sh,
                "git -C {src} update-ref refs/tags/kckpt-applied {kckpt}"
            )
            .quiet()
            .run()?;
            write_stamp(&stamp_path, &stamp)?;
            return Ok(());
        }
        let base = rev_parse(ctx, &src, "refs/tags/ckpt-base");
        let applied = rev_parse(ctx, &src, "refs/tags/kckpt-applied");
        if Some(kckpt) != base.as_ref() && Some(kckpt) != applied.as_ref() {
            bail!(
                "branch kckpt of the kernel tree {src} does not match linux-patch/, and \
                 re-applying the series would drop commits there that are not in linux-patch/ \
                 (those after tag kckpt-applied):\n\
                 - to keep them, run `cargo xtask format-patch` (it exports kckpt to \
                 linux-patch/), then merge with linux-patch/ as usual;\n\
                 - to drop them, run `git -C {src} checkout -q -f -B kckpt ckpt-base`, then this \
                 again.",
                src = src.display()
            );
        }
    }
    let dirty = cmd!(sh, "git -C {src} status --porcelain --untracked-files=no")
        .quiet()
        .read()?;
    if !dirty.is_empty() {
        bail!(
            "linux-patch/ must be applied again, but the kernel tree {src} has uncommitted \
             changes:\n{dirty}\n- to keep them, commit them on kckpt and run `cargo xtask \
             format-patch`;\n- to drop them, run `git -C {src} checkout -q -f -B kckpt \
             ckpt-base`, then this again.",
            src = src.display()
        );
    }

    eprintln!(
        "kernel: applying linux-patch/ ({} patches) on ckpt-base",
        patches.len()
    );
    let before = snapshot_patched_files(ctx, &src)?;
    cmd!(sh, "git -C {src} checkout -q -f -B kckpt ckpt-base")
        .quiet()
        .run()?;
    if !patches.is_empty() {
        let series = &patches;
        let out = cmd!(sh, "git -C {src} {GIT_ID...} am -q --3way {series...}")
            .quiet()
            .ignore_status()
            .output()?;
        if !out.status.success() {
            let next = fs::read_to_string(src.join(".git/rebase-apply/next")).unwrap_or_default();
            let failed = next
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|n| patches.get(n.wrapping_sub(1)))
                .map(|p| rel(ctx, p).into_owned())
                .unwrap_or_else(|| "one of linux-patch/*.patch".to_string());
            let _ = cmd!(sh, "git -C {src} am --abort")
                .quiet()
                .ignore_stderr()
                .run();
            bail!(
                "{failed} does not apply on ckpt-base in {src}:\n{}{}\nTo fix it: `git -C {src} \
                 am --3way {}/*.patch`, resolve the conflict, `git -C {src} am --continue`, then \
                 `cargo xtask format-patch`.",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                ctx.repo.join("linux-patch").display(),
                src = src.display(),
            );
        }
    }
    cmd!(sh, "git -C {src} update-ref refs/tags/kckpt-applied HEAD")
        .quiet()
        .run()?;
    let kept = restore_mtimes(&before)?;
    if kept > 0 {
        eprintln!("kernel: {kept} files the series left as they were keep their timestamps");
    }
    write_stamp(&stamp_path, &stamp)?;
    Ok(())
}

/// A file's contents and modification time before re-applying the series.
struct Snapshot {
    path: PathBuf,
    contents: Vec<u8>,
    modified: std::time::SystemTime,
}

/// The files the current kckpt changes against ckpt-base: the only ones that
/// resetting to ckpt-base rewrites.
fn snapshot_patched_files(ctx: &Ctx, src: &Path) -> Result<Vec<Snapshot>> {
    let sh = &ctx.sh;
    let names = cmd!(sh, "git -C {src} diff --name-only -z ckpt-base HEAD")
        .quiet()
        .read()?;
    let mut files = Vec::new();
    for name in names.split('\0').filter(|n| !n.is_empty()) {
        let path = src.join(name);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => files.push(Snapshot {
                contents: fs::read(&path)?,
                modified: meta.modified()?,
                path,
            }),
            _ => {}
        }
    }
    Ok(files)
}

/// Give the files whose contents came out the same their old modification
/// time back, so that make rebuilds only what the new series really changes
/// (a header like include/linux/syscalls.h rewritten with a new mtime would
/// rebuild nearly everything). Returns how many kept their time.
fn restore_mtimes(before: &[Snapshot]) -> Result<usize> {
    let mut kept = 0;
    for file in before {
        if fs::read(&file.path).ok().as_deref() == Some(file.contents.as_slice()) {
            File::options()
                .write(true)
                .open(&file.path)
                .and_then(|f| f.set_modified(file.modified))
                .with_context(|| format!("cannot set the mtime of {}", file.path.display()))?;
            kept += 1;
        }
    }
    Ok(kept)
}

/// Whether `git format-patch ckpt-base..kckpt` gives exactly linux-patch/.
fn exported_series_matches(ctx: &Ctx, patches: &[PathBuf]) -> Result<bool> {
    let dir = ctx.cache.join(".series-check");
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    format_patch::export(ctx, &dir)?;
    let exported = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect::<Vec<_>>();
    let same = exported.len() == patches.len()
        && patches.iter().all(|patch| {
            let name = patch.file_name().unwrap_or_default();
            fs::read(dir.join(name)).ok() == fs::read(patch).ok()
        });
    fs::remove_dir_all(&dir)?;
    Ok(same)
}

// ---------------------------------------------------------------------------
// 3. The Rust crate

/// `kernel/ckpt` → `rust/kernel-ckpt` of this repository (like `ln -sfn`),
/// and keep the link out of `git status` / `git add -A` of the kernel tree.
fn link_crate(ctx: &Ctx) -> Result<()> {
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

// ---------------------------------------------------------------------------
// 4. The configuration

/// Environment of every `make` in the kernel tree: the pinned Rust toolchain,
/// cargo's bin directory (rustup proxies, bindgen 0.65.1) first in PATH, and
/// no make flags inherited from a calling make.
fn make_cmd<'a>(
    ctx: &'a Ctx,
    sh: &'a Shell,
    flavor: Flavor,
    args: &[String],
) -> Result<xshell::Cmd<'a>> {
    let mut path: Vec<PathBuf> = crate::setup::cargo_bin_dir().into_iter().collect();
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path: OsString = std::env::join_paths(path)?;
    let build = flavor.build_dir(ctx);
    Ok(cmd!(sh, "make {LLVM} O={build} {args...}")
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

fn configure(ctx: &Ctx, flavor: Flavor) -> Result<()> {
    let src = ctx.kernel_src();
    let build = flavor.build_dir(ctx);
    let mut fragments = Vec::new();
    for name in flavor.fragments() {
        let path = ctx.repo.join(name);
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        fragments.push((*name, path, text));
    }
    // For the normal kernel this is the hash of qemu/kernel.config alone.
    let stamp = sha256_hex(fragments.iter().map(|(_, _, text)| text.as_bytes()));
    let stamp_path = flavor.config_stamp(ctx);
    let config = build.join(".config");
    let names: Vec<&str> = fragments.iter().map(|(name, _, _)| *name).collect();

    if read_stamp(&stamp_path) != stamp || !config.exists() {
        eprintln!("kernel: configuring (tinyconfig + {})", names.join(" + "));
        let _ = fs::remove_file(&stamp_path);
        fs::create_dir_all(&build)?;
        let sh = Shell::new()?;
        sh.change_dir(&src);
        run_captured(
            make_cmd(ctx, &sh, flavor, &["tinyconfig".into()])?,
            "make tinyconfig",
        )?;
        let merge = src.join("scripts/kconfig/merge_config.sh");
        let paths: Vec<&PathBuf> = fragments.iter().map(|(_, path, _)| path).collect();
        run_captured(
            cmd!(sh, "{merge} -m -O {build} {config} {paths...}").quiet(),
            "scripts/kconfig/merge_config.sh",
        )?;
        run_captured(
            make_cmd(ctx, &sh, flavor, &["olddefconfig".into()])?,
            "make olddefconfig",
        )?;
    }

    let config_text = fs::read_to_string(&config)?;
    let texts: Vec<(&str, &str)> = fragments
        .iter()
        .map(|(name, _, text)| (*name, text.as_str()))
        .collect();
    let lost = lost_options(&texts, &config_text);
    if !lost.is_empty() {
        let _ = fs::remove_file(&stamp_path);
        let lines: Vec<String> = lost
            .iter()
            .map(|(opt, from)| {
                format!(
                    "option {opt} from {from} did not survive olddefconfig (missing dependency?)"
                )
            })
            .collect();
        bail!(
            "{}\nsee {} and the option's `depends on` in Kconfig",
            lines.join("\n"),
            config.display()
        );
    }
    write_stamp(&stamp_path, &stamp)
}

/// One option setting of a fragment: `CONFIG_X=value` (Some(line)) or
/// `# CONFIG_X is not set` (None).
fn fragment_settings(fragment: &str) -> Vec<(&str, Option<&str>)> {
    let mut settings = Vec::new();
    for line in fragment.lines().map(str::trim) {
        if let Some((name, _)) = line.split_once('=').filter(|_| line.starts_with("CONFIG_")) {
            settings.push((name, Some(line)));
        } else if let Some(name) = line
            .strip_prefix("# ")
            .and_then(|l| l.strip_suffix(" is not set"))
            .filter(|n| n.starts_with("CONFIG_"))
        {
            settings.push((name, None));
        }
    }
    settings
}

/// The options the fragments (name, text), applied in order, set
/// (`CONFIG_X=value`) that the final .config does not have with that value,
/// and those they unset (`# CONFIG_X is not set`) that are enabled anyway;
/// each with the fragment that set it last (the one merge_config.sh keeps).
fn lost_options<'a>(fragments: &[(&'a str, &'a str)], config: &str) -> Vec<(String, &'a str)> {
    let have: std::collections::HashSet<&str> = config.lines().map(str::trim).collect();
    // Option name -> (its last setting, the fragment it comes from), in the
    // order the options first appear.
    let mut order: Vec<&str> = Vec::new();
    let mut last: std::collections::HashMap<&str, (Option<&str>, &str)> =
        std::collections::HashMap::new();
    for (fragment_name, text) in fragments {
        for (name, setting) in fragment_settings(text) {
            if last.insert(name, (setting, fragment_name)).is_none() {
                order.push(name);
            }
        }
    }
    let mut lost = Vec::new();
    for name in order {
        let (setting, from) = last[name];
        let survived = match setting {
            Some(line) => have.contains(line),
            None => {
                !have.contains(format!("{name}=y").as_str())
                    && !have.contains(format!("{name}=m").as_str())
            }
        };
        if !survived {
            lost.push((name.to_string(), from));
        }
    }
    lost
}

// ---------------------------------------------------------------------------
// 5. The build

fn build(ctx: &Ctx, flavor: Flavor) -> Result<PathBuf> {
    let src = ctx.kernel_src();
    let build = flavor.build_dir(ctx);
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let sh = Shell::new()?;
    sh.change_dir(&src);
    let mut command: Command =
        make_cmd(ctx, &sh, flavor, &[format!("-j{jobs}"), "bzImage".into()])?.into();
    let (reader, writer) = std::io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let start = Instant::now();
    let mut child = command
        .spawn()
        .context("cannot run make: run `cargo xtask setup`")?;
    // The pipe's write ends must close here, or reading never sees the end.
    drop(command);

    let tty = std::io::stderr().is_terminal() && !ctx.verbose;
    let bar = if tty {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.green} kernel [{elapsed}] {pos} lines {wide_msg}",
            )
            .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut lines: Vec<String> = Vec::new();
    let mut last_report = Instant::now();
    for line in BufReader::new(reader).split(b'\n') {
        let line = String::from_utf8_lossy(&line?).trim_end().to_string();
        if ctx.verbose {
            eprintln!("{line}");
        } else if !tty && last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "kernel: [{:.0} s, {} lines] {}",
                start.elapsed().as_secs_f64(),
                lines.len() + 1,
                line.trim()
            );
            last_report = Instant::now();
        }
        bar.set_message(line.clone());
        lines.push(line);
        bar.set_position(lines.len() as u64);
    }
    let status = child.wait()?;
    bar.finish_and_clear();

    let log = flavor.build_log(ctx);
    fs::create_dir_all(&ctx.target)?;
    fs::write(&log, lines.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", log.display()))?;
    if !status.success() {
        eprintln!("{}", failure_excerpt(&lines));
        bail!(
            "the kernel build failed ({status}); the first error and the last 60 lines of make \
             are above, the full log is {}",
            rel(ctx, &log)
        );
    }
    let bzimage = build.join("arch/x86/boot/bzImage");
    if !bzimage.exists() {
        bail!("make succeeded but {} is missing", bzimage.display());
    }
    eprintln!(
        "kernel: built in {:.1} s ({} make lines, log {})",
        start.elapsed().as_secs_f64(),
        lines.len(),
        rel(ctx, &log)
    );
    Ok(bzimage)
}

#[cfg(test)]
mod tests {
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
