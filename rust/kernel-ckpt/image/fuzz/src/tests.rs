// SPDX-License-Identifier: GPL-2.0
//! The seeds, determinism, failure reports, and a short fuzz run (part of
//! `cargo test --workspace`).

use super::*;
use ckpt_image::record_header;

#[test]
fn seeds_are_valid_and_framed_like_the_crate_does() {
    let seeds = seeds::seeds();
    assert_eq!(seeds.len(), 5);
    let (mut buf, mut offsets) = (Vec::new(), Vec::new());
    for s in &seeds {
        serialize(&s.recs, &mut buf, &mut offsets);
        for (r, &at) in s.recs.iter().zip(&offsets) {
            let kind = RecordType::from_u32(r.kind).unwrap();
            assert_eq!(
                buf[at..at + RECORD_HEADER_LEN],
                record_header(kind, r.payload.len() as u32)
            );
        }
        // The tails are already right.
        let mut fixed = s.recs.clone();
        fix_tails(&mut fixed);
        assert_eq!(fixed, s.recs, "seed {}", s.name);
    }
}

#[test]
fn inputs_depend_only_on_the_seed() {
    let inputs = |seed| {
        let mut f = Fuzzer::new(seed);
        let mut scratch = Scratch::default();
        (0..2000)
            .map(|_| {
                let b = f.next_input().to_vec();
                if check::check(&b, &mut scratch).result.is_ok() {
                    f.accepted();
                }
                b
            })
            .collect::<Vec<_>>()
    };
    let a = inputs(7);
    assert_eq!(a, inputs(7));
    assert_ne!(a, inputs(8));
}

#[test]
fn a_panic_is_caught_and_the_input_saved() {
    let dir = std::env::temp_dir().join(format!("ckpt-image-fuzz-{}", std::process::id()));
    let cfg = Config {
        iterations: Some(1),
        seed: 0xabc,
        time: None,
        progress: None,
        out_dir: dir.clone(),
    };
    let input: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let f = guarded(&cfg, 12, &input, |b| {
        if b.len() > 10 {
            panic!("boom at {}", b.len());
        }
    })
    .unwrap_err();
    assert_eq!(f.message, "boom at 300");
    let path = f.saved.as_ref().unwrap();
    assert!(path.ends_with("crash-seedabc-input12.bin"));
    assert_eq!(std::fs::read(path).unwrap(), input);
    let text = f.to_string();
    assert!(
        text.contains("input #12") && text.contains("--replay"),
        "{text}"
    );
    assert!(text.contains("  00000000  00 01 02"), "{text}");
    assert!(text.contains("44 more bytes"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn overflow_checks_are_on() {
    let x = std::hint::black_box(u32::MAX);
    let r = panic::catch_unwind(|| x + std::hint::black_box(1));
    assert!(r.is_err(), "this crate must be built with overflow checks");
}

/// A short run: some tens of thousands of inputs, a few seconds in a
/// debug build. `cargo run --release -p ckpt-image-fuzz` runs long ones.
#[test]
fn smoke_run() {
    let cfg = Config {
        iterations: Some(30_000),
        seed: 1,
        time: None,
        progress: None,
        out_dir: Config::default_out_dir(),
    };
    let sum = run(&cfg).unwrap_or_else(|f| panic!("{f}"));
    eprintln!("{sum}");
    assert_eq!(sum.inputs, 30_000);
    assert!(sum.accepted > 0, "no mutated input was accepted");
    // The mutations reach the checks: most error kinds, every record type.
    let kinds = sum.rejected.iter().filter(|&&n| n > 0).count();
    assert!(kinds >= 12, "only {kinds} error kinds seen:\n{sum}");
    assert!(
        sum.items.iter().all(|&n| n > 0),
        "a record type never decoded:\n{sum}"
    );
    assert!(
        sum.reached_state * 2 > sum.inputs,
        "too few inputs reach a task's state:\n{sum}"
    );
}
