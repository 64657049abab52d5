//! `cargo xtask`: the developer tasks of kernel-ckpt.
//!
//! Every subcommand lives in its own file as a plain function taking the
//! shared [`Ctx`]. External programs run through `xshell::cmd!`; the two
//! long-running ones whose output is streamed (the kernel `make` and QEMU) are
//! turned into `std::process::Command`s from such a `cmd!`.

mod bench;
mod format_patch;
mod initramfs;
mod kernel;
mod lint;
mod man;
mod qemu;
mod qemu_test;
mod run;
mod setup;
mod shell;
mod test;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};
use xshell::Shell;

#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "kernel-ckpt developer tasks",
    version
)]
struct Cli {
    /// Print more: make lines while building, the guest console while testing.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install (or check) the system packages, the Rust toolchain and bindgen.
    Setup,
    /// Prepare the kernel tree in the cache, apply linux-patch/, configure and build bzImage.
    Kernel(kernel::KernelArgs),
    /// Build the guest binaries (musl, static) and target/initramfs.cpio.gz.
    Initramfs,
    /// Boot the guest in demo mode with its console on this terminal.
    Run(run::RunArgs),
    /// Boot the guest and measure checkpoint and restart times (tables).
    Bench(bench::BenchArgs),
    /// Boot the test kernel with a shell on this terminal and a host
    /// directory shared at /mnt/host (virtio-9p); --exec runs one command.
    Shell(shell::ShellArgs),
    /// Boot the guest in test mode and check its results on the host.
    QemuTest(qemu_test::QemuTestArgs),
    /// Host unit tests, then the guest scenario suite (what CI runs).
    Test(test::TestArgs),
    /// Export the commits ckpt-base..kckpt of the cache kernel tree, with the
    /// kernel crate's patch put in, to linux-patch/.
    FormatPatch(format_patch::FormatPatchArgs),
    /// Build every commit of the kernel series in turn (tinyconfig +
    /// qemu/kernel.config, incrementally, in <cache>/build-series): each
    /// must build without a warning.
    CheckSeries,
    /// Write the manual pages rendered from ckpt's command line into man/,
    /// check every page with `mandoc -Tlint`, render them to target/man/.
    Man(man::ManArgs),
    /// cargo fmt and clippy of the workspace, rustfmt and `make CLIPPY=1`
    /// of the kernel crate, and checkpatch.pl --strict over the series.
    Lint(lint::LintArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(err) = run_command(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run_command(cli: Cli) -> Result<()> {
    let ctx = Ctx::new(cli.verbose)?;
    match cli.command {
        Command::Setup => setup::setup(&ctx),
        Command::Kernel(args) => {
            let bzimage = kernel::kernel(&ctx, &args)?;
            println!("{}", bzimage.display());
            Ok(())
        }
        Command::Initramfs => {
            let path = initramfs::initramfs(&ctx)?;
            println!("{}", path.display());
            Ok(())
        }
        Command::Run(args) => run::run(&ctx, &args),
        Command::Shell(args) => shell::shell(&ctx, &args),
        Command::Bench(args) => bench::bench(&ctx, &args),
        Command::QemuTest(args) => {
            let mut timings = Timings::default();
            setup::setup(&ctx)?;
            let result = qemu_test::qemu_test(&ctx, &args, &mut timings);
            timings.print();
            result
        }
        Command::Test(args) => test::test(&ctx, &args),
        Command::FormatPatch(args) => format_patch::format_patch(&ctx, &args),
        Command::CheckSeries => {
            setup::setup(&ctx)?;
            kernel::check_series(&ctx)
        }
        Command::Man(args) => man::man(&ctx, &args),
        Command::Lint(args) => {
            setup::setup(&ctx)?;
            lint::lint(&ctx, &args)
        }
    }
}

/// Paths and settings shared by all subcommands.
pub struct Ctx {
    pub sh: Shell,
    /// The workspace root (the directory holding `xtask/`).
    pub repo: PathBuf,
    /// Cargo's target directory of the workspace.
    pub target: PathBuf,
    /// `$KCKPT_CACHE`, else `~/.cache/kernel-ckpt`: kernel source tree, build output, stamps.
    pub cache: PathBuf,
    pub verbose: bool,
}

impl Ctx {
    fn new(verbose: bool) -> Result<Ctx> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has no parent directory")?
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => repo.join(dir),
            None => repo.join("target"),
        };
        let cache = match std::env::var_os("KCKPT_CACHE") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => {
                let home = std::env::var_os("HOME").context(
                    "neither KCKPT_CACHE nor HOME is set: set KCKPT_CACHE to a cache directory",
                )?;
                PathBuf::from(home).join(".cache/kernel-ckpt")
            }
        };
        let sh = Shell::new()?;
        sh.change_dir(&repo);
        Ok(Ctx {
            sh,
            repo,
            target,
            cache,
            verbose,
        })
    }

    /// The kernel source tree (a git repository) inside the cache.
    pub fn kernel_src(&self) -> PathBuf {
        self.cache.join("src/linux-source-6.12")
    }

    /// The toolchain channel pinned in rust-toolchain.toml (the kernel build uses it too).
    pub fn toolchain(&self) -> Result<String> {
        let path = self.repo.join("rust-toolchain.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml_string(&text, "channel")
            .with_context(|| format!("no `channel = \"...\"` line in {}", path.display()))
    }

    /// The cargo binary that runs this xtask, for nested builds.
    pub fn cargo(&self) -> String {
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
    }
}

/// The value of a `key = "value"` line of a simple TOML file.
pub fn toml_string(text: &str, key: &str) -> Option<String> {
    toml_value(text, key).map(|v| v.trim_matches('"').to_string())
}

/// The items of a `key = ["a", "b"]` line of a simple TOML file.
pub fn toml_list(text: &str, key: &str) -> Vec<String> {
    toml_value(text, key)
        .map(|v| {
            v.trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|item| item.trim().trim_matches('"').to_string())
                .filter(|item| !item.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn toml_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.split('#').next().unwrap_or("").trim())
    })
}

/// Lower-case hex SHA-256 of a sequence of byte strings, hashed one after the other.
pub fn sha256_hex<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The contents of a stamp file, or "" when it does not exist.
pub fn read_stamp(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn write_stamp(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, format!("{value}\n"))
        .with_context(|| format!("cannot write stamp {}", path.display()))
}

/// Wall-clock time per step, printed at the end of `test` and `qemu-test`.
#[derive(Default)]
pub struct Timings(Vec<(&'static str, Duration)>);

impl Timings {
    pub fn time<T>(&mut self, step: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let result = f();
        self.0.push((step, start.elapsed()));
        result
    }

    pub fn print(&self) {
        if self.0.is_empty() {
            return;
        }
        let steps: Vec<String> = self
            .0
            .iter()
            .map(|(step, d)| format!("{step} {:.1} s", d.as_secs_f64()))
            .collect();
        eprintln!("timing: {}", steps.join(", "));
    }
}

/// Shorten a path under the repository for messages (`target/qemu-test/console.log`).
pub fn rel<'a>(ctx: &Ctx, path: &'a Path) -> std::borrow::Cow<'a, str> {
    match path.strip_prefix(&ctx.repo) {
        Ok(p) => p.to_string_lossy(),
        Err(_) => path.to_string_lossy(),
    }
}

/// The last component of `path`, as text (empty for none).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rust_toolchain_toml() {
        let text = "[toolchain]\n# comment\nchannel = \"1.95.0\"\ncomponents = [\"rust-src\", \"rustfmt\", \"clippy\"]\ntargets = [\"x86_64-unknown-linux-musl\"]\nprofile = \"minimal\"\n";
        assert_eq!(toml_string(text, "channel").as_deref(), Some("1.95.0"));
        assert_eq!(
            toml_list(text, "components"),
            ["rust-src", "rustfmt", "clippy"]
        );
        assert_eq!(toml_list(text, "targets"), ["x86_64-unknown-linux-musl"]);
        assert!(toml_list(text, "missing").is_empty());
    }

    #[test]
    fn sha256_is_hex_of_concatenation() {
        assert_eq!(
            sha256_hex([b"ab".as_slice(), b"c".as_slice()]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
