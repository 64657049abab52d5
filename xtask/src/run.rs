//! `cargo xtask run`: boot the guest in demo mode (`kckpt.mode=run`) with its
//! console on this terminal. ttyS1 goes to target/run/serial1.log.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::kernel::{self, Flavor, KernelArgs};
use crate::qemu::{self, Boot, DONE_MARKER};
use crate::{initramfs, rel, setup, Ctx};

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// Kill the guest after this many seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
}

pub fn run(ctx: &Ctx, args: &RunArgs) -> Result<()> {
    boot_mode(
        ctx,
        &args.kernel,
        args.timeout,
        "run",
        &[],
        qemu::MEMORY_MIB,
    )
    .map(|_| ())
}

/// Builds what is missing and boots the guest with `kckpt.mode=MODE` (and
/// the extra kernel parameters `extra`), its console on this terminal;
/// logs go to target/MODE/ (target/MODE-debug/ with `--debug-kernel`,
/// see [`Flavor::dir_name`]).
/// The guest has `memory_mib` MiB; it is killed after `timeout` seconds.
/// Returns the file ttyS1 went to.
pub fn boot_mode(
    ctx: &Ctx,
    kernel_args: &KernelArgs,
    timeout: u64,
    mode: &str,
    extra: &[String],
    memory_mib: u32,
) -> Result<PathBuf> {
    setup::setup(ctx)?;
    let flavor = kernel_args.flavor();
    kernel::kernel(ctx, kernel_args)?;
    let dir = ctx.target.join(flavor.dir_name(mode));
    let initramfs = match flavor {
        Flavor::Normal => initramfs::initramfs(ctx)?,
        Flavor::Debug | Flavor::Bench => initramfs::initramfs_in(ctx, &dir)?,
    };
    let mut append = vec![format!("kckpt.mode={mode}")];
    append.extend(extra.iter().cloned());
    let boot = Boot {
        bzimage: flavor.booted_bzimage(ctx),
        initramfs,
        append,
        console_log: dir.join("console.log"),
        serial1: dir.join("serial1.log"),
        echo: true,
        timeout: Duration::from_secs(timeout),
        memory_mib,
        qemu_args: Vec::new(),
        interactive: false,
    };
    let outcome = qemu::boot(ctx, &boot)?;
    let console = std::fs::read_to_string(&boot.console_log).unwrap_or_default();
    for line in qemu::splats(&console) {
        eprintln!("{mode}: kernel problem: {line}");
    }
    let log = rel(ctx, &boot.console_log);
    if outcome.timed_out {
        bail!("the guest did not finish within {} s and was killed (console: {log}; more time: --timeout)", timeout);
    }
    match outcome.status {
        Some(status) if status.success() => {}
        status => bail!("QEMU failed ({status:?}); its messages are above"),
    }
    if !outcome.done {
        bail!("the guest stopped without printing {DONE_MARKER} (console: {log})");
    }
    eprintln!(
        "{mode}: guest finished in {:.1} s (console: {log}, ttyS1: {})",
        outcome.elapsed.as_secs_f64(),
        rel(ctx, &boot.serial1)
    );
    Ok(boot.serial1)
}
