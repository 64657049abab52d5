// SPDX-License-Identifier: GPL-2.0
//! `ckpt-image-fuzz`: fuzzes the kernel-ckpt image decoder.
//!
//! ```text
//! cargo run --release -p ckpt-image-fuzz -- [--iterations N] [--seed S] [--time SECS]
//!                                           [--progress SECS] [--out DIR] [--replay FILE...]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ckpt_image_fuzz::{replay, run, Config};

const USAGE: &str = "\
usage: ckpt-image-fuzz [options]
  --iterations N   inputs to run (default 200000; with --time only: no limit)
  --seed S         PRNG seed, decimal or 0x hex (default 1); same seed, same inputs
  --time SECS      stop after SECS seconds
  --progress SECS  progress line every SECS seconds (default 5, 0: none)
  --out DIR        where failing inputs are saved (default target/fuzz-failures)
  --replay FILE..  run the checks over saved inputs instead of fuzzing
Exits 1 and saves the input if any decoder panics.";

fn number(s: &str) -> Result<u64, String> {
    let s = s.replace('_', "");
    let r = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("bad number {s:?}: {e}"))
}

fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|e| format!("bad seconds {s:?}: {e}"))?;
    Duration::try_from_secs_f64(v).map_err(|e| format!("bad seconds {s:?}: {e}"))
}

struct Args {
    cfg: Config,
    replay: Vec<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut cfg = Config {
        iterations: None,
        seed: 1,
        time: None,
        progress: Some(Duration::from_secs(5)),
        out_dir: Config::default_out_dir(),
    };
    let mut replay = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--iterations" | "-n" => cfg.iterations = Some(number(&value()?)?),
            "--seed" | "-s" => cfg.seed = number(&value()?)?,
            "--time" | "-t" => cfg.time = Some(seconds(&value()?)?),
            "--progress" => {
                let d = seconds(&value()?)?;
                cfg.progress = (!d.is_zero()).then_some(d);
            }
            "--out" => cfg.out_dir = PathBuf::from(value()?),
            "--replay" => {
                replay.push(PathBuf::from(value()?));
                replay.extend(args.by_ref().map(PathBuf::from));
            }
            "--help" | "-h" => return Err(String::new()),
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    if cfg.iterations.is_none() && cfg.time.is_none() {
        cfg.iterations = Some(200_000);
    }
    Ok(Args { cfg, replay })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("ckpt-image-fuzz: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cfg = args.cfg;
    if !args.replay.is_empty() {
        for path in &args.replay {
            let input = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("ckpt-image-fuzz: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            };
            match replay(&cfg, &input) {
                Ok(out) => match out.result {
                    Ok(()) => println!("{}: accepted, {} records", path.display(), out.items),
                    Err(e) => println!(
                        "{}: rejected after {} records: {e}",
                        path.display(),
                        out.items
                    ),
                },
                Err(f) => {
                    eprintln!("{f}");
                    return ExitCode::FAILURE;
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    let limit = match (cfg.iterations, cfg.time) {
        (Some(n), Some(t)) => format!("{n} inputs or {:.0} s", t.as_secs_f64()),
        (Some(n), None) => format!("{n} inputs"),
        (None, Some(t)) => format!("{:.0} s", t.as_secs_f64()),
        (None, None) => unreachable!(),
    };
    eprintln!(
        "ckpt-image-fuzz: seed {:#x}, {limit}, failing inputs go to {}",
        cfg.seed,
        cfg.out_dir.display()
    );
    match run(&cfg) {
        Ok(sum) => {
            print!("{sum}");
            println!(
                "done: {} inputs in {:.1} s, {:.0} inputs/s; {} accepted, {} rejected; no panic",
                sum.inputs,
                sum.elapsed.as_secs_f64(),
                sum.rate(),
                sum.accepted,
                sum.rejected_total()
            );
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("{f}");
            ExitCode::FAILURE
        }
    }
}
