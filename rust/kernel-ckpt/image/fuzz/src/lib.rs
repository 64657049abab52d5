// SPDX-License-Identifier: GPL-2.0
//! A fuzzer for the kernel-ckpt image decoder (`ckpt-image`) that runs on
//! stable Rust, without libFuzzer.
//!
//! It starts from valid images built with the crate's own encoders
//! ([`seeds`]), mutates them ([`mutate`]) and runs every decoder over each
//! result ([`check`]): the whole-buffer [`ckpt_image::ImageDecoder`], the
//! record-by-record [`ckpt_image::Parser::feed`] the kernel uses, and the
//! decoders of every item. The decoder must never panic (arithmetic
//! overflow included: the crate and this one are built with overflow
//! checks), both readers must agree, and every accepted record must encode
//! back to its bytes. A panic is caught, the input is saved under
//! `target/fuzz-failures/` and reported. Runs are deterministic for a seed.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ckpt_image::{padding, ErrorKind, RecordType, Tail, RECORD_HEADER_LEN, TAIL_MAGIC};

pub mod check;
pub mod mutate;
pub mod rng;
pub mod seeds;

use check::Scratch;
use rng::Rng;
use seeds::{Seed, ALL_TYPES};

/// One record of an image being mutated: a raw type code and a payload
/// (the `{type, len}` prefix and the padding are added by [`serialize`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub kind: u32,
    pub payload: Vec<u8>,
}

/// Writes `recs` as an image into `out`, and where each record starts into
/// `offsets`.
pub fn serialize(recs: &[Rec], out: &mut Vec<u8>, offsets: &mut Vec<usize>) {
    out.clear();
    offsets.clear();
    for r in recs {
        offsets.push(out.len());
        out.extend_from_slice(&r.kind.to_le_bytes());
        out.extend_from_slice(&(r.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&r.payload);
        out.resize(out.len() + padding(r.payload.len()), 0);
    }
}

/// Sets the counts of every tail record to its own index and offset, as a
/// writer would have: so that records moved, added or removed are judged
/// by the parser rather than by the tail check alone.
pub fn fix_tails(recs: &mut [Rec]) {
    let mut offset = 0u64;
    for (i, r) in recs.iter_mut().enumerate() {
        if r.kind == RecordType::Tail as u32
            && r.payload.len() >= Tail::LEN
            && r.payload[..8] == TAIL_MAGIC
            && r.payload[12..16] == [0; 4]
        {
            let t = Tail {
                nr_records: i as u32,
                bytes: offset,
            };
            r.payload[..Tail::LEN].copy_from_slice(&t.encode());
        }
        offset += (RECORD_HEADER_LEN + r.payload.len() + padding(r.payload.len())) as u64;
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Stop after this many inputs (`None`: only the time limit).
    pub iterations: Option<u64>,
    /// The PRNG seed: the same seed gives the same inputs.
    pub seed: u64,
    /// Stop after this long.
    pub time: Option<Duration>,
    /// Print a progress line this often (`None`: never).
    pub progress: Option<Duration>,
    /// Where failing inputs are saved.
    pub out_dir: PathBuf,
}

impl Config {
    /// The default directory for failing inputs: `target/fuzz-failures`
    /// of the workspace (or of `$CARGO_TARGET_DIR`).
    pub fn default_out_dir() -> PathBuf {
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(t) => PathBuf::from(t),
            None => {
                let t = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../../target");
                t.canonicalize().unwrap_or(t)
            }
        };
        target.join("fuzz-failures")
    }
}

/// Names of the [`ErrorKind`] variants, in declaration order.
pub const ERROR_KINDS: [&str; 14] = [
    "Truncated",
    "Short",
    "BadLength",
    "Oversized",
    "BadPadding",
    "BadMagic",
    "UnsupportedVersion",
    "UnknownArch",
    "UnknownFlags",
    "UnknownType",
    "Unexpected",
    "BadField",
    "TailMismatch",
    "TrailingData",
];

fn error_index(k: &ErrorKind) -> usize {
    match k {
        ErrorKind::Truncated => 0,
        ErrorKind::Short => 1,
        ErrorKind::BadLength { .. } => 2,
        ErrorKind::Oversized(_) => 3,
        ErrorKind::BadPadding => 4,
        ErrorKind::BadMagic => 5,
        ErrorKind::UnsupportedVersion(_) => 6,
        ErrorKind::UnknownArch(_) => 7,
        ErrorKind::UnknownFlags(_) => 8,
        ErrorKind::UnknownType(_) => 9,
        ErrorKind::Unexpected { .. } => 10,
        ErrorKind::BadField(..) => 11,
        ErrorKind::TailMismatch => 12,
        ErrorKind::TrailingData => 13,
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub seed: u64,
    pub inputs: u64,
    pub bytes: u64,
    /// Inputs decoded whole, up to the tail.
    pub accepted: u64,
    /// Inputs rejected, by [`ErrorKind`] variant ([`ERROR_KINDS`] order).
    pub rejected: [u64; 14],
    /// `BadField` rejections by field name.
    pub bad_fields: BTreeMap<&'static str, u64>,
    /// Items decoded, by record type ([`ALL_TYPES`] order).
    pub items: [u64; ALL_TYPES.len()],
    /// Inputs in which at least one task's state began to decode.
    pub reached_state: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

// Arrays longer than 32 have no derived Default.
impl Default for Summary {
    fn default() -> Self {
        Self {
            seed: 0,
            inputs: 0,
            bytes: 0,
            accepted: 0,
            rejected: [0; 14],
            bad_fields: BTreeMap::new(),
            items: [0; ALL_TYPES.len()],
            reached_state: 0,
            elapsed: Duration::ZERO,
        }
    }
}

impl Summary {
    /// Inputs rejected.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Inputs per second.
    pub fn rate(&self) -> f64 {
        self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn add(&mut self, len: usize, out: &check::Outcome) {
        self.inputs += 1;
        self.bytes += len as u64;
        match &out.result {
            Ok(()) => self.accepted += 1,
            Err(e) => {
                self.rejected[error_index(&e.kind)] += 1;
                if let ErrorKind::BadField(name, _) = e.kind {
                    *self.bad_fields.entry(name).or_default() += 1;
                }
            }
        }
        for (n, &k) in self.items.iter_mut().zip(&out.by_type) {
            *n += u64::from(k);
        }
        if out.by_type[check::type_index(RecordType::TaskState)] > 0 {
            self.reached_state += 1;
        }
    }

    /// The one-line progress report.
    pub fn progress_line(&self) -> String {
        format!(
            "[{:7.1}s] {} inputs, {:.0}/s, {:.1}% accepted, {:.1}% reached a task's state",
            self.elapsed.as_secs_f64(),
            self.inputs,
            self.rate(),
            pct(self.accepted, self.inputs),
            pct(self.reached_state, self.inputs),
        )
    }
}

fn pct(n: u64, of: u64) -> f64 {
    100.0 * n as f64 / of.max(1) as f64
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "inputs: {} ({:.1} MB), seed {:#x}, {:.1} s, {:.0} inputs/s",
            self.inputs,
            self.bytes as f64 / 1e6,
            self.seed,
            self.elapsed.as_secs_f64(),
            self.rate()
        )?;
        writeln!(
            f,
            "accepted whole: {} ({:.2}%), rejected: {} ({:.2}%), reached a task's state: {:.1}%",
            self.accepted,
            pct(self.accepted, self.inputs),
            self.rejected_total(),
            pct(self.rejected_total(), self.inputs),
            pct(self.reached_state, self.inputs),
        )?;
        writeln!(f, "rejected by error kind:")?;
        for (name, &n) in ERROR_KINDS.iter().zip(&self.rejected) {
            writeln!(f, "  {name:<20} {n:>12} {:>7.2}%", pct(n, self.inputs))?;
        }
        let mut fields: Vec<_> = self.bad_fields.iter().collect();
        fields.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        write!(f, "BadField by field ({} fields):", fields.len())?;
        for (i, (name, n)) in fields.iter().enumerate() {
            if i % 4 == 0 {
                write!(f, "\n ")?;
            }
            write!(f, " {name}: {n};")?;
        }
        writeln!(f)?;
        write!(f, "records decoded by type:")?;
        for (i, (t, n)) in ALL_TYPES.iter().zip(&self.items).enumerate() {
            if i % 6 == 0 {
                write!(f, "\n ")?;
            }
            write!(f, " {}: {n};", t.name())?;
        }
        writeln!(f)
    }
}

/// A panic in a decoder, with the input that caused it.
#[derive(Debug)]
pub struct Failure {
    /// Number of the input in the run (from 0).
    pub index: u64,
    /// The panic message.
    pub message: String,
    /// The input.
    pub input: Vec<u8>,
    /// Where the input was saved, or why it could not be.
    pub saved: Result<PathBuf, String>,
    pub seed: u64,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "FAILURE: input #{} of seed {:#x} ({} bytes) panicked: {}",
            self.index,
            self.seed,
            self.input.len(),
            self.message
        )?;
        match &self.saved {
            Ok(p) => {
                writeln!(f, "input saved to {}", p.display())?;
                writeln!(
                    f,
                    "replay: cargo run --release -p ckpt-image-fuzz -- --replay {}",
                    p.display()
                )?;
            }
            Err(e) => writeln!(f, "could not save the input: {e}")?,
        }
        writeln!(f, "first bytes:")?;
        write!(f, "{}", hex_dump(&self.input, 256))
    }
}

/// A hex dump of the first `max` bytes of `b`.
pub fn hex_dump(b: &[u8], max: usize) -> String {
    let mut s = String::new();
    for (i, line) in b[..b.len().min(max)].chunks(16).enumerate() {
        s.push_str(&format!("  {:08x} ", i * 16));
        for (j, byte) in line.iter().enumerate() {
            s.push_str(if j == 8 { "  " } else { " " });
            s.push_str(&format!("{byte:02x}"));
        }
        s.push('\n');
    }
    if b.len() > max {
        s.push_str(&format!("  … {} more bytes\n", b.len() - max));
    }
    s
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

fn save(dir: &Path, name: &str, input: &[u8]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let path = dir.join(name);
    std::fs::write(&path, input).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Runs `check` over `input`; a panic becomes a [`Failure`], with the input
/// saved in `cfg.out_dir`.
pub fn guarded<T>(
    cfg: &Config,
    index: u64,
    input: &[u8],
    check: impl FnOnce(&[u8]) -> T,
) -> Result<T, Box<Failure>> {
    panic::catch_unwind(AssertUnwindSafe(|| check(input))).map_err(|p| {
        let name = format!("crash-seed{:x}-input{index}.bin", cfg.seed);
        Box::new(Failure {
            index,
            message: panic_message(&*p),
            input: input.to_vec(),
            saved: save(&cfg.out_dir, &name, input),
            seed: cfg.seed,
        })
    })
}

/// Makes the inputs, one at a time, deterministically from a seed.
pub struct Fuzzer {
    rng: Rng,
    seeds: Vec<Seed>,
    /// Mutated images that were accepted whole: later inputs start from
    /// them too.
    pool: Vec<Vec<Rec>>,
    recs: Vec<Rec>,
    buf: Vec<u8>,
    offsets: Vec<usize>,
    /// Whether `recs` are what `buf` holds.
    structured: bool,
}

/// Most images kept in the pool.
const POOL: usize = 256;

impl Fuzzer {
    /// A fuzzer over the [`seeds`](seeds::seeds) (checked to be valid).
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            seeds: seeds::seeds(),
            pool: Vec::new(),
            recs: Vec::new(),
            buf: Vec::new(),
            offsets: Vec::new(),
            structured: false,
        }
    }

    /// The next input.
    pub fn next_input(&mut self) -> &[u8] {
        let rng = &mut self.rng;
        if rng.chance(1, 200) {
            mutate::garbage(rng, &mut self.buf);
            self.structured = false;
            return &self.buf;
        }
        let base = if !self.pool.is_empty() && rng.chance(1, 4) {
            &self.pool[rng.below(self.pool.len())]
        } else {
            &self.seeds[rng.below(self.seeds.len())].recs
        };
        self.recs.clone_from(base);
        // 0..60: records only; 60..85: records, then bytes; 85..: bytes.
        let mode = rng.below(100);
        if mode < 85 {
            let donors: Vec<&[Rec]> = self
                .seeds
                .iter()
                .map(|s| &s.recs[..])
                .chain(self.pool.iter().take(8).map(|p| &p[..]))
                .collect();
            for _ in 0..rng.small(3) {
                mutate::mutate_records(rng, &mut self.recs, &donors);
            }
            if rng.chance(7, 8) {
                fix_tails(&mut self.recs);
            }
        }
        serialize(&self.recs, &mut self.buf, &mut self.offsets);
        self.structured = mode < 60;
        if mode >= 60 {
            for _ in 0..rng.small(2) {
                mutate::mutate_bytes(rng, &mut self.buf, &self.offsets);
            }
        }
        &self.buf
    }

    /// Tells the fuzzer the last input was accepted whole.
    fn accepted(&mut self) {
        if !self.structured || self.seeds.iter().any(|s| s.recs == self.recs) {
            return;
        }
        if self.pool.len() < POOL {
            self.pool.push(self.recs.clone());
        } else {
            let i = self.rng.below(POOL);
            self.pool[i].clone_from(&self.recs);
        }
    }
}

/// Runs the fuzzer as configured.
pub fn run(cfg: &Config) -> Result<Summary, Box<Failure>> {
    let start = Instant::now();
    let mut fuzzer = Fuzzer::new(cfg.seed);
    let mut scratch = Scratch::default();
    let mut sum = Summary {
        seed: cfg.seed,
        ..Default::default()
    };
    let mut next_progress = cfg.progress;
    let mut index = 0u64;
    loop {
        if cfg.iterations.is_some_and(|n| index >= n) {
            break;
        }
        if index.is_multiple_of(1024) {
            let now = start.elapsed();
            if cfg.time.is_some_and(|t| now >= t) {
                break;
            }
            if let (Some(at), Some(every)) = (next_progress, cfg.progress) {
                if now >= at {
                    sum.elapsed = now;
                    eprintln!("{}", sum.progress_line());
                    next_progress = Some(now + every);
                }
            }
        }
        let input = fuzzer.next_input();
        let len = input.len();
        let out = guarded(cfg, index, input, |b| check::check(b, &mut scratch))?;
        if out.result.is_ok() {
            fuzzer.accepted();
        }
        sum.add(len, &out);
        index += 1;
    }
    sum.elapsed = start.elapsed();
    Ok(sum)
}

/// Runs the checks over a saved input (no mutation).
pub fn replay(cfg: &Config, input: &[u8]) -> Result<check::Outcome, Box<Failure>> {
    let mut scratch = Scratch::default();
    guarded(cfg, 0, input, |b| check::check(b, &mut scratch))
}

#[cfg(test)]
mod tests;
