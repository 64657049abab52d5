// SPDX-License-Identifier: GPL-2.0
//! Mutations, on two levels: on the list of records (payload fields,
//! record types, whole records moved, copied, removed or spliced in from
//! another image, with the `{type, len}` prefixes and the tail's counts
//! kept right so the parser looks deeper), and on the serialized bytes
//! (bit flips, bytes, record lengths and types, truncation, insertion).

use ckpt_image::*;

use crate::rng::Rng;
use crate::seeds::ALL_TYPES;
use crate::Rec;

/// Values that sit on the decoder's limits, as 32-bit fields.
const U32S: &[u32] = &[
    0,
    1,
    2,
    3,
    7,
    8,
    15,
    16,
    17,
    31,
    32,
    33,
    48,
    63,
    64,
    65,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x1ff,
    0x200,
    0x240, // XstateHeader::MIN_SIZE
    0x23f,
    0x3ff,
    0x400, // MAX_PAGES_PER_RECORD
    0x401,
    0xfff,
    0x1000, // PAGE_SIZE, MAX_PATH_LEN
    0x1001,
    0x2000,
    0xffff,
    0x1_0000, // MAX_XSTATE_SIZE, MAX_SIGINFOS, TaskMisc::MAX_GROUPS
    0x1_0001,
    0xf_ffff,
    0x10_0000, // MAX_VMAS, MAX_FDS
    0x10_0001,
    0x40_0000, // MAX_TASKS
    0x40_0001,
    0x7f_ffff,
    0x80_0000, // PipeObj::MAX_CAPACITY
    0x80_0001,
    0xff_ffff,
    0x100_0000, // MAX_PAYLOAD_LEN
    0x100_0001,
    0x0555_5556, // * 48 overflows a u32
    0x7fff_fffe,
    0x7fff_ffff,
    0x8000_0000,
    0x8000_0001,
    0xffff_fff0,
    0xffff_fffe,
    0xffff_ffff,
];

/// Values that sit on the decoder's limits, as 64-bit fields.
const U64S: &[u64] = &[
    0,
    1,
    0xfff,
    0x1000,
    0x1001,
    USER_ADDR_END - 0x1000,
    USER_ADDR_END - 1,
    USER_ADDR_END,
    USER_ADDR_END + 1,
    USER_ADDR_END + 0x1000,
    1 << 47,
    1 << 62,
    (1 << 62) + 1,
    i64::MAX as u64 - 0xfff,
    i64::MAX as u64,
    1 << 63,
    u64::MAX - 0xfff,
    u64::MAX - 1,
    u64::MAX,
];

/// Record types the parser does not know.
const UNKNOWN_TYPES: &[u32] = &[0, 4, 9, 27, 0x7fff_fffe, 0x8000_0000, u32::MAX];

/// Offsets of the count, length, id and address fields of each record type
/// (`(offset, width)`), the ones worth setting to extreme values.
fn fields(kind: u32) -> &'static [(usize, usize)] {
    match RecordType::from_u32(kind) {
        Some(RecordType::Header) => &[(8, 4), (12, 4), (16, 8)],
        Some(RecordType::Forest) => &[(0, 4), (4, 4)],
        Some(RecordType::Task) => &[(0, 4), (4, 4), (8, 4), (20, 4), (24, 4), (28, 4)],
        Some(RecordType::TaskState) => &[(0, 4), (4, 4)],
        Some(RecordType::Xstate) => &[(0, 8), (8, 4), (12, 4)],
        Some(RecordType::RestartBlock) => &[(0, 4), (12, 4), (16, 8), (24, 8)],
        Some(RecordType::TaskMisc) => &[
            (0, 8),
            (8, 4),
            (16, 8),
            (24, 8),
            (32, 4),
            (40, 8),
            (48, 8),
            (296, 4),
            (328, 8),
            (376, 4),
            (380, 4),
        ],
        Some(RecordType::Signals) => &[(16, 8), (24, 4), (28, 4), (32, 8)],
        Some(RecordType::Sighand) => &[(0, 8), (16, 8), (2048, 8), (2056, 4), (2060, 4)],
        Some(RecordType::Mm) => &[(0, 8), (32, 8), (40, 8), (88, 8), (96, 4), (100, 4)],
        Some(RecordType::Vma) => &[
            (0, 8),
            (8, 8),
            (16, 8),
            (24, 8),
            (32, 4),
            (36, 4),
            (40, 4),
            (44, 4),
        ],
        Some(RecordType::Shmem) => &[(0, 4), (4, 4), (8, 8)],
        Some(RecordType::ShmemPages) => &[(0, 4), (4, 4), (8, 8)],
        Some(RecordType::Files) => &[(0, 4), (4, 4), (8, 4), (12, 4)],
        Some(RecordType::File) => &[(0, 4), (4, 4), (12, 4), (16, 8), (24, 4), (28, 4)],
        Some(RecordType::Pipe) => &[(0, 4), (4, 4), (8, 4), (12, 4)],
        Some(RecordType::Fd) => &[(0, 4), (4, 4), (8, 4), (12, 4)],
        Some(RecordType::Pages) => &[(0, 8), (8, 4), (12, 4)],
        Some(RecordType::Tail) => &[(8, 4), (12, 4), (16, 8)],
        _ => &[],
    }
}

/// The payload length a record's own count and length fields call for
/// (for record types with a variable part), so that a changed count is
/// sometimes matched by the data.
fn consistent_len(kind: u32, p: &[u8]) -> Option<u64> {
    let f = |at: usize| get(p, at, 4).unwrap_or(0);
    let page = PAGE_SIZE as u64;
    Some(match RecordType::from_u32(kind)? {
        RecordType::Xstate => XstateHeader::LEN as u64 + f(8),
        RecordType::TaskMisc => TaskMisc::LEN as u64 + f(380) * 4,
        RecordType::Signals => Signals::LEN as u64 + f(28) * SIGINFO_LEN as u64,
        RecordType::Sighand => Sighand::LEN as u64 + f(2056) * SIGINFO_LEN as u64,
        RecordType::Mm => MmHeader::LEN as u64 + f(100),
        RecordType::Vma => Vma::LEN as u64 + f(36),
        RecordType::ShmemPages => ShmemPagesHeader::LEN as u64 + f(4) * page,
        RecordType::Files => FilesHeader::LEN as u64 + f(8) + f(12),
        RecordType::File => FileObj::LEN as u64 + f(28),
        RecordType::Pipe => PipeObj::LEN as u64 + f(8),
        RecordType::Pages if f(12) & u64::from(PAGES_SHARED) != 0 => PagesHeader::LEN as u64,
        RecordType::Pages => PagesHeader::LEN as u64 + f(8) * page,
        _ => return None,
    })
}

fn put(buf: &mut [u8], at: usize, width: usize, v: u64) {
    if let Some(dst) = buf.get_mut(at..at.saturating_add(width)) {
        dst.copy_from_slice(&v.to_le_bytes()[..width]);
    }
}

fn get(buf: &[u8], at: usize, width: usize) -> Option<u64> {
    let src = buf.get(at..at.checked_add(width)?)?;
    let mut b = [0u8; 8];
    b[..width].copy_from_slice(src);
    Some(u64::from_le_bytes(b))
}

/// A value for a field of `width` bytes: a limit value, a neighbour of the
/// old value, or random bits.
fn value(rng: &mut Rng, width: usize, old: u64) -> u64 {
    match rng.below(6) {
        0 | 1 => {
            if width == 4 || rng.chance(1, 3) {
                u64::from(rng.pick(U32S))
            } else {
                rng.pick(U64S)
            }
        }
        2 | 3 => {
            let d = rng.small(4) as u64;
            if rng.chance(1, 2) {
                old.wrapping_add(d)
            } else {
                old.wrapping_sub(d)
            }
        }
        4 => old ^ (1 << rng.below(width * 8)),
        _ => rng.next_u64(),
    }
}

/// The largest payload the fuzzer builds on purpose (so one input stays
/// cheap); [`MAX_PAYLOAD_LEN`]-sized ones are built now and then.
const RESIZE_CAP: usize = 64 << 10;

/// Mutates the records of `recs`; `donors` are other images to splice
/// records from.
pub fn mutate_records(rng: &mut Rng, recs: &mut Vec<Rec>, donors: &[&[Rec]]) {
    if recs.is_empty() {
        recs.push(Rec {
            kind: rng.pick(ALL_TYPES) as u32,
            payload: Vec::new(),
        });
        return;
    }
    let n = recs.len();
    let i = rng.below(n);
    match rng.below(21) {
        // A bit, a byte.
        0 | 1 => {
            let p = &mut recs[i].payload;
            if !p.is_empty() {
                let at = rng.below(p.len());
                if rng.chance(1, 2) {
                    p[at] ^= 1 << rng.below(8);
                } else {
                    p[at] = rng.byte();
                }
            }
        }
        // A known field of the record's type set to an extreme value,
        // sometimes with the variable part resized to match it.
        2..=5 => {
            let kind = recs[i].kind;
            let f = fields(kind);
            let p = &mut recs[i].payload;
            if f.is_empty() {
                return;
            }
            let (at, width) = rng.pick(f);
            let old = get(p, at, width).unwrap_or(0);
            let v = value(rng, width, old);
            put(p, at, width, v);
            if let (Some(want), true) = (consistent_len(kind, p), rng.chance(1, 2)) {
                if want <= RESIZE_CAP as u64 {
                    p.resize(want as usize, 0);
                }
            }
        }
        // Any aligned field.
        6 => {
            let p = &mut recs[i].payload;
            let width = if rng.chance(1, 2) { 4 } else { 8 };
            if p.len() >= width {
                let at = rng.below(p.len() / width) * width;
                let old = get(p, at, width).unwrap_or(0);
                put(p, at, width, value(rng, width, old));
            }
        }
        // Shorter or longer payloads.
        7 => {
            let p = &mut recs[i].payload;
            let cut = if rng.chance(1, 2) {
                p.len().saturating_sub(rng.small(4))
            } else {
                rng.upto(p.len())
            };
            p.truncate(cut);
        }
        8 => {
            let p = &mut recs[i].payload;
            let more = if rng.chance(1, 40_000) {
                // The largest payload, and one byte more.
                (MAX_PAYLOAD_LEN as usize + rng.below(2)).saturating_sub(p.len())
            } else if rng.chance(1, 4) {
                rng.small(12)
            } else {
                rng.small(4)
            };
            let fill = if rng.chance(1, 2) { 0 } else { rng.byte() };
            p.resize(p.len() + more, fill);
        }
        // Another record type.
        9 => {
            recs[i].kind = if rng.chance(1, 8) {
                rng.pick(UNKNOWN_TYPES)
            } else {
                rng.pick(ALL_TYPES) as u32
            };
        }
        // Records duplicated, removed, swapped, moved.
        10 => {
            let r = recs[i].clone();
            let to = if rng.chance(1, 2) { i + 1 } else { rng.upto(n) };
            recs.insert(to, r);
        }
        11 => {
            recs.remove(i);
        }
        12 => {
            let len = rng.small(4).min(n - i);
            recs.drain(i..i + len);
        }
        13 => {
            let j = rng.below(n);
            recs.swap(i, j);
        }
        14 => {
            let r = recs.remove(i);
            let to = rng.upto(recs.len());
            recs.insert(to, r);
        }
        // A task's whole state copied: more task states than tasks, or a
        // task's objects defined twice.
        15 => {
            let start = (i..n)
                .chain(0..i)
                .find(|&k| recs[k].kind == RecordType::TaskState as u32);
            if let Some(s) = start {
                let end = (s..n)
                    .find(|&k| recs[k].kind == RecordType::TaskEnd as u32)
                    .unwrap_or(n - 1);
                let copy: Vec<Rec> = recs[s..=end].to_vec();
                let to = if rng.chance(1, 2) {
                    end + 1
                } else {
                    rng.upto(n)
                };
                recs.splice(to..to, copy);
            }
        }
        // Records from another image.
        16 | 17 => {
            let donor = rng.pick(donors);
            if donor.is_empty() {
                return;
            }
            let from = rng.below(donor.len());
            let len = rng.small(3).min(donor.len() - from);
            let to = rng.upto(n);
            if rng.chance(1, 2) {
                recs.splice(to..to, donor[from..from + len].iter().cloned());
            } else {
                let end = (to + len).min(n);
                recs.splice(to..end, donor[from..from + len].iter().cloned());
            }
        }
        // A payload of the same type from another image.
        18 => {
            let donor = rng.pick(donors);
            let kind = recs[i].kind;
            let same: Vec<&Rec> = donor.iter().filter(|r| r.kind == kind).collect();
            if !same.is_empty() {
                recs[i].payload = same[rng.below(same.len())].payload.clone();
            }
        }
        // A run of one byte value (a string without its NUL, all ones).
        19 => {
            let p = &mut recs[i].payload;
            if !p.is_empty() {
                let at = rng.below(p.len());
                let end = at.saturating_add(rng.small(7)).min(p.len());
                let v = if rng.chance(1, 2) { 0xff } else { rng.byte() };
                p[at..end].fill(v);
            }
        }
        // The image cut after some record.
        _ => recs.truncate(rng.upto(n)),
    }
}

/// Mutates serialized bytes; `offsets` are where records started before.
pub fn mutate_bytes(rng: &mut Rng, buf: &mut Vec<u8>, offsets: &[usize]) {
    if buf.is_empty() {
        let n = rng.small(6);
        buf.extend((0..n).map(|_| rng.byte()));
        return;
    }
    let len = buf.len();
    match rng.below(14) {
        0 | 1 => {
            let at = rng.below(len);
            buf[at] ^= 1 << rng.below(8);
        }
        2 => {
            let at = rng.below(len);
            buf[at] = rng.byte();
        }
        3 | 4 => {
            let width = if rng.chance(1, 2) { 4 } else { 8 };
            let at = if rng.chance(3, 4) {
                rng.below(len / width + 1) * width
            } else {
                rng.below(len)
            };
            let old = get(buf, at, width).unwrap_or(0);
            put(buf, at, width, value(rng, width, old));
        }
        // A record's length or type.
        5..=7 => {
            if offsets.is_empty() {
                return;
            }
            let at = rng.pick(offsets);
            if rng.chance(2, 3) {
                let old = get(buf, at + 4, 4).unwrap_or(0);
                let v = match rng.below(4) {
                    0 => u64::from(MAX_PAYLOAD_LEN) + rng.below(2) as u64,
                    _ => value(rng, 4, old),
                };
                put(buf, at + 4, 4, v);
            } else {
                let v = if rng.chance(1, 4) {
                    rng.pick(UNKNOWN_TYPES)
                } else {
                    rng.pick(ALL_TYPES) as u32
                };
                put(buf, at, 4, u64::from(v));
            }
        }
        // Cut anywhere, or near a record boundary.
        8 => buf.truncate(rng.below(len)),
        9 => {
            if let Some(&at) = offsets.get(rng.below(offsets.len().max(1))) {
                let at = (at + rng.below(16)).saturating_sub(8);
                buf.truncate(at.min(len));
            }
        }
        // Bytes inserted, removed, copied.
        10 => {
            let at = rng.upto(len);
            let n = rng.small(4);
            let fill: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            buf.splice(at..at, fill);
        }
        11 => {
            let at = rng.below(len);
            let n = rng.small(5).min(len - at);
            buf.drain(at..at + n);
        }
        12 => {
            let from = rng.below(len);
            let n = rng.small(8).min(len - from);
            let chunk = buf[from..from + n].to_vec();
            let to = rng.upto(len);
            if rng.chance(1, 2) {
                buf.splice(to..to, chunk);
            } else {
                let end = (to + n).min(len);
                buf.splice(to..end, chunk);
            }
        }
        // Garbage after the tail, or a copy of the first record.
        _ => {
            if rng.chance(1, 2) {
                let n = rng.small(5);
                buf.extend((0..n).map(|_| rng.byte()));
            } else {
                let end = offsets.get(1).copied().unwrap_or(len).min(len);
                buf.extend_from_within(..end);
            }
        }
    }
}

/// Random bytes, sometimes behind a valid first record prefix.
pub fn garbage(rng: &mut Rng, buf: &mut Vec<u8>) {
    buf.clear();
    if rng.chance(1, 2) {
        buf.extend_from_slice(&record_header(RecordType::Header, Header::LEN as u32));
        buf.extend_from_slice(&MAGIC);
    }
    let n = rng.below(512);
    buf.extend((0..n).map(|_| rng.byte()));
}
