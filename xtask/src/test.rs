//! `cargo xtask test`: everything CI runs. Host unit tests of the workspace
//! (the test suite's included), the manual pages (`man --check`: up to
//! date and lint-clean), then the guest scenario suite (`qemu-test`), then
//! `shell --exec` (a command in the interactive guest, on a shared host
//! directory), with the time of each step.

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::qemu_test::{self, QemuTestArgs};
use crate::{man, setup, shell, Ctx, Timings};

#[derive(clap::Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub qemu: QemuTestArgs,
}

pub fn test(ctx: &Ctx, args: &TestArgs) -> Result<()> {
    let mut timings = Timings::default();
    let result = all(ctx, args, &mut timings);
    timings.print();
    result
}

fn all(ctx: &Ctx, args: &TestArgs, timings: &mut Timings) -> Result<()> {
    timings.time("setup", || setup::setup(ctx))?;
    timings.time("host tests", || {
        let sh = &ctx.sh;
        let cargo = ctx.cargo();
        cmd!(sh, "{cargo} test --workspace --exclude testsuite")
            .run()
            .context("the host unit tests failed (see above)")?;
        // The test suite's own unit tests (pid naming, /proc parsing, the
        // results stream); its scenario checks need the guest (qemu-test).
        cmd!(sh, "{cargo} test -p testsuite --lib --bins")
            .run()
            .context("the test suite's unit tests failed (see above)")
    })?;
    timings.time("man pages", || {
        man::man(ctx, &man::ManArgs { check: true })
            .context("the manual pages are out of date or not lint-clean")
    })?;
    qemu_test::qemu_test(ctx, &args.qemu, timings)?;
    if args.qemu.kernel.flavor() == crate::kernel::Flavor::Normal && args.qemu.filter.is_none() {
        timings.time("shell --exec", || shell_check(ctx))?;
    }
    Ok(())
}

/// `cargo xtask shell --exec` on a directory of its own: the guest reads a
/// file of the share, writes one back, and its command's exit status comes
/// out as the shell's.
fn shell_check(ctx: &Ctx) -> Result<()> {
    let dir = ctx.target.join("shell/check");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("in.txt"), "from the host\n")?;
    let status = shell::boot_shell(
        ctx,
        &shell::ShellArgs {
            share: Some(dir.clone()),
            exec: Some(
                "cat in.txt > out.txt && ckpt --version >> out.txt && \
                 grep -c '^host /mnt/host 9p ' /proc/mounts >> out.txt; exit 7"
                    .into(),
            ),
            timeout: 300,
        },
    )?;
    let out = std::fs::read_to_string(dir.join("out.txt"))
        .context("shell --exec: the guest wrote no out.txt into the shared directory")?;
    let lines: Vec<&str> = out.lines().collect();
    let version_ok = lines.get(1).is_some_and(|l| l.starts_with("ckpt "));
    if status != 7
        || lines.first() != Some(&"from the host")
        || !version_ok
        || lines.get(2) != Some(&"1")
    {
        bail!(
            "shell --exec: expected status 7 and out.txt = the host's line, `ckpt --version` \
             and 1 (the 9p mount); got status {status} and {out:?}"
        );
    }
    eprintln!(
        "shell: --exec ran in the guest on the shared directory (status {status}, {})",
        lines[1]
    );
    Ok(())
}
