//! `cargo xtask test`: everything CI runs. Host unit tests of the workspace
//! (the test suite's included), the manual pages (`man --check`: up to
//! date and lint-clean), then the guest scenario suite (`qemu-test`), with
//! the time of each step.

use anyhow::{Context, Result};
use xshell::cmd;

use crate::qemu_test::{self, QemuTestArgs};
use crate::{man, setup, Ctx, Timings};

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
    qemu_test::qemu_test(ctx, &args.qemu, timings)
}
