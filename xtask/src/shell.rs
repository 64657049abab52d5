//! `cargo xtask shell`: the built test kernel booted with a shell on this
//! terminal and a host directory shared into the guest at `/mnt/host`
//! (virtio-9p, read-write), like virtme-ng's `vng`: a developer runs `ckpt`
//! on their own programs there. `--exec COMMAND` runs one command there
//! instead and exits with its status.
//!
//! The guest is the test guest (`kckpt.mode=shell` of `qemu/init`): busybox,
//! `ckpt`, the C library and the Debian programs the scenarios use, cgroup
//! v2 at /sys/fs/cgroup. A second share, `target/shell/ctl/` at
//! `/mnt/kckpt`, carries `--exec`'s command in and its status out.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::kernel::{self, KernelArgs};
use crate::qemu::{self, Boot};
use crate::{initramfs, rel, setup, Ctx};

#[derive(clap::Args)]
pub struct ShellArgs {
    /// The host directory shared at /mnt/host in the guest, read-write
    /// (the current directory by default). The guest runs as root: files
    /// it creates there belong to the user running QEMU.
    #[arg(long, value_name = "DIR")]
    pub share: Option<PathBuf>,
    /// Run COMMAND with `sh -c` in /mnt/host instead of a shell, then power
    /// off; exits with its status.
    #[arg(long, value_name = "COMMAND")]
    pub exec: Option<String>,
    /// With --exec: kill the guest after this many seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
}

/// virtio-9p options of one share: `path` at mount tag `tag`.
fn virtfs(path: &Path, tag: &str) -> Vec<String> {
    vec![
        "-virtfs".into(),
        format!(
            "local,path={},mount_tag={tag},security_model=none,multidevs=remap",
            qemu::qemu_escape(path)
        ),
    ]
}

pub fn shell(ctx: &Ctx, args: &ShellArgs) -> Result<()> {
    let status = boot_shell(ctx, args)?;
    match status {
        0 => Ok(()),
        n => {
            eprintln!("shell: the command exited with status {n}");
            std::process::exit(n.clamp(1, 255));
        }
    }
}

/// Boots the shell guest; returns `--exec`'s exit status (0 for a shell).
pub fn boot_shell(ctx: &Ctx, args: &ShellArgs) -> Result<i32> {
    setup::setup(ctx)?;
    let share = match &args.share {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let share = share
        .canonicalize()
        .with_context(|| format!("cannot share {}: no such directory", share.display()))?;
    if !share.is_dir() {
        bail!("cannot share {}: not a directory", share.display());
    }
    let kernel_args = KernelArgs::default();
    kernel::kernel(ctx, &kernel_args)?;
    let initramfs = initramfs::initramfs(ctx)?;

    let dir = ctx.target.join("shell");
    let control = dir.join("ctl");
    if control.exists() {
        fs::remove_dir_all(&control)?;
    }
    fs::create_dir_all(&control)?;
    let exec = control.join("exec.sh");
    let status_file = control.join("status");
    if let Some(command) = &args.exec {
        fs::write(&exec, format!("{command}\n"))?;
    }
    let mut qemu_args = virtfs(&share, "host");
    qemu_args.extend(virtfs(&control, "kckpt"));
    let interactive = args.exec.is_none();
    let boot = Boot {
        bzimage: kernel::Flavor::Normal.booted_bzimage(ctx),
        initramfs,
        // Warnings and worse still reach the console; boot chatter does not.
        append: vec![
            "kckpt.mode=shell".into(),
            "kckpt.share=1".into(),
            "loglevel=4".into(),
        ],
        console_log: dir.join("console.log"),
        serial1: dir.join("serial1.log"),
        echo: true,
        timeout: Duration::from_secs(args.timeout),
        memory_mib: qemu::MEMORY_MIB,
        qemu_args,
        interactive,
    };
    eprintln!(
        "shell: booting {} with {} at /mnt/host{}",
        rel(ctx, &boot.bzimage),
        share.display(),
        if interactive {
            "; leave with Ctrl-D or `reboot -f` (Ctrl-A X kills QEMU)"
        } else {
            ""
        }
    );
    let outcome = qemu::boot(ctx, &boot)?;
    if interactive {
        return match outcome.status {
            Some(status) if status.success() => Ok(0),
            status => bail!("QEMU failed ({status:?}); its messages are above"),
        };
    }
    let console = fs::read_to_string(&boot.console_log).unwrap_or_default();
    let splats = qemu::splats(&console);
    for line in &splats {
        eprintln!("shell: kernel problem: {line}");
    }
    if !splats.is_empty() {
        bail!(
            "the kernel reported a problem (above; console: {})",
            rel(ctx, &boot.console_log)
        );
    }
    if outcome.timed_out {
        bail!(
            "the guest did not finish within {} s and was killed (console: {}; more time: --timeout)",
            args.timeout,
            rel(ctx, &boot.console_log)
        );
    }
    if !outcome.done {
        bail!(
            "the guest stopped without finishing (console: {})",
            rel(ctx, &boot.console_log)
        );
    }
    let status = fs::read_to_string(&status_file).with_context(|| {
        format!(
            "the guest wrote no exit status for the command (console: {})",
            rel(ctx, &boot.console_log)
        )
    })?;
    status
        .trim()
        .parse::<i32>()
        .with_context(|| format!("bad exit status {status:?} from the guest"))
}
