//! The series' kselftests (`tools/testing/selftests/checkpoint/`), built as
//! a kernel developer builds them, for the guest.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use super::{lock_build, run_captured, LLVM};
use crate::Ctx;

/// The selftest programs of the series (`TEST_GEN_PROGS`), which the
/// guest has under `/usr/lib/kselftests/checkpoint/`.
const PROGRAMS: &[&str] = &["checkpoint_test"];

/// Builds the checkpoint kselftests into `<cache>/build-selftests`: the
/// uapi headers (`make headers`, which needs no configuration), then
/// `make -C tools/testing/selftests TARGETS=checkpoint` with those headers,
/// linked static for the busybox guest. Returns the programs' paths, in
/// the order of [`PROGRAMS`]. The kernel tree must be prepared (`cargo
/// xtask kernel` does it).
pub fn build(ctx: &Ctx) -> Result<Vec<PathBuf>> {
    let src = ctx.kernel_src();
    let dir = src.join("tools/testing/selftests/checkpoint");
    if !dir.is_dir() {
        bail!(
            "{} is missing: the kernel tree is not patched with the series yet \
             (run `cargo xtask kernel`)",
            dir.display()
        );
    }
    let out = ctx.cache.join("build-selftests");
    let _lock = lock_build(ctx)?;
    let sh = &ctx.sh;
    let _cd = sh.push_dir(&src);
    run_captured(
        cmd!(sh, "make -s {LLVM} O={out} headers")
            .env_remove("MAKEFLAGS")
            .env_remove("MAKELEVEL")
            .quiet(),
        "make headers for the kselftests",
    )?;
    run_captured(
        cmd!(
            sh,
            "make -s -C tools/testing/selftests TARGETS=checkpoint O={out} CC=gcc LDFLAGS=-static"
        )
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .quiet(),
        "building the checkpoint kselftests (gcc and libc6-dev's static glibc: `cargo xtask setup`)",
    )?;
    PROGRAMS
        .iter()
        .map(|p| {
            let path = out.join("kselftest/checkpoint").join(p);
            if path.is_file() {
                Ok(path)
            } else {
                Err(anyhow::anyhow!(
                    "the kselftest build made no {}",
                    path.display()
                ))
            }
        })
        .collect::<Result<Vec<_>>>()
        .context("building the checkpoint kselftests")
}
