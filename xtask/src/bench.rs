//! `cargo xtask bench`: boot the guest in benchmark mode (`kckpt.mode=bench`)
//! and print its tables: wall times of `ckpt checkpoint` and `ckpt restart`,
//! beside `criu dump` and `criu restore` of the same workloads,
//! for process trees of 10, 100 and 1,000 processes and for one process
//! with a 64 MiB heap, each the median of several runs, measured side by
//! side in one boot. The console log is kept in target/bench/.

use anyhow::{bail, Result};

use crate::run::{self, RunArgs};
use crate::Ctx;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Runs of each measurement (the table shows their median, min, max).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub runs: u32,
}

pub fn bench(ctx: &Ctx, args: &BenchArgs) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    run::boot_mode(
        ctx,
        &args.run,
        "bench",
        &[format!("kckpt.bench_runs={}", args.runs)],
    )
}
