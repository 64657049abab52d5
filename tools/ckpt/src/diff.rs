// SPDX-License-Identifier: GPL-2.0
//! `ckpt diff A B`: what differs between two images, record by record.
//!
//! Each image is decoded as `ckpt inspect` decodes it, and the two are
//! compared field by field: tasks and their saved state matched by pid,
//! shared objects by id, other lists by position. Page contents are
//! compared page by page (each task's pages matched by address) and shown
//! as counts and address ranges: pages only in A, only in B, and pages in
//! both whose bytes differ. Every other record is compared by its bytes,
//! so that what the decoded fields leave out (most registers, the FPU
//! state, shared memory, file contents, queued bytes) is not missed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ckpt_image::{DecodeError, Item, PAGE_SIZE};
use serde::Serialize;
use serde_json::Value;

use crate::inspect;

/// The differences between two images.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Fields whose values differ (`null` where a side has no such field
    /// or list item).
    pub fields: Vec<FieldDiff>,
    /// Per task with pages in either image, the pages that differ.
    pub pages: Vec<PageDiff>,
    /// How many pages, of all tasks, are the same in both images.
    pub same_pages: u64,
    /// Records whose bytes differ, whatever the fields above show of them
    /// (registers and FPU state, shared memory and file contents, queued
    /// bytes): matched by their task, their type and their rank among the
    /// task's records of that type. Pages and the tail are left out (pages
    /// are compared above; the tail counts the others).
    pub records: Vec<RecordDiff>,
}

/// A record that differs.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct RecordDiff {
    /// The task whose records it is among (`pid=7`), or `image` for the
    /// records before the first task's.
    pub owner: String,
    /// Its type (`regs`, `shmem-pages`...).
    pub kind: String,
    /// Its rank among the owner's records of that type, from 0.
    pub rank: u32,
    /// `changed`, `only in A` or `only in B`.
    pub change: &'static str,
}

impl Diff {
    /// Whether the two images hold the same thing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.pages.is_empty() && self.records.is_empty()
    }
}

/// One field that differs: where it is, and its value on each side.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    /// `states[pid=7].regs.rip`, `pipes[id=3].bytes`, `tasks[pid=9]`.
    pub path: String,
    pub a: Value,
    pub b: Value,
}

/// The pages of one task that differ, as `[start, end)` address ranges.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct PageDiff {
    pub pid: i32,
    /// Pages saved in A only.
    pub only_a: Ranges,
    /// Pages saved in B only.
    pub only_b: Ranges,
    /// Pages saved in both, with other contents.
    pub changed: Ranges,
    /// Pages saved in both with the same contents.
    pub same: u64,
}

/// Address ranges of pages, and how many pages they hold.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ranges {
    pub pages: u64,
    pub ranges: Vec<(u64, u64)>,
}

impl Ranges {
    /// Adds the page at `addr` (pages come in increasing order).
    fn push(&mut self, addr: u64) {
        self.pages += 1;
        let end = addr.saturating_add(PAGE_SIZE as u64);
        match self.ranges.last_mut() {
            Some(last) if last.1 == addr => last.1 = end,
            _ => self.ranges.push((addr, end)),
        }
    }
}

/// Compares images `a` and `b` (whole images, as files hold them).
pub fn diff(a: &[u8], b: &[u8]) -> Result<Diff, DecodeError> {
    let (ia, ib) = (inspect::parse(a)?, inspect::parse(b)?);
    let (va, vb) = (to_value(&ia), to_value(&ib));
    let mut fields = Vec::new();
    compare(String::new(), &va, &vb, &mut fields);
    let ((pa, ra), (pb, rb)) = (contents_of(a), contents_of(b));
    let (pages, same_pages) = compare_pages(&pa, &pb);
    let records = compare_records(&ra, &rb);
    Ok(Diff {
        fields,
        pages,
        same_pages,
        records,
    })
}

fn to_value(img: &inspect::Image) -> Value {
    // An Image is plain data: it always serializes.
    serde_json::to_value(img).unwrap_or(Value::Null)
}

/// The key that matches an item of a list across the two images: its pid
/// (tasks, states), else its object id, else none (matched by position).
fn key_of(v: &Value) -> Option<(&'static str, i64)> {
    let obj = v.as_object()?;
    ["pid", "id"]
        .into_iter()
        .find_map(|k| Some((k, obj.get(k)?.as_i64()?)))
}

fn compare(path: String, a: &Value, b: &Value, out: &mut Vec<FieldDiff>) {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                compare(
                    p,
                    ma.get(k).unwrap_or(&Value::Null),
                    mb.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(la), Value::Array(lb)) => compare_lists(&path, la, lb, out),
        _ if a != b => out.push(FieldDiff {
            path,
            a: a.clone(),
            b: b.clone(),
        }),
        _ => {}
    }
}

/// Lists whose items all carry the same key are matched by it; others by
/// position.
fn compare_lists(path: &str, la: &[Value], lb: &[Value], out: &mut Vec<FieldDiff>) {
    let keys_a: Option<Vec<_>> = la.iter().map(key_of).collect();
    let keys_b: Option<Vec<_>> = lb.iter().map(key_of).collect();
    let keyed = match (&keys_a, &keys_b) {
        (Some(ka), Some(kb)) if !ka.is_empty() || !kb.is_empty() => {
            let name = ka.first().or(kb.first()).map(|k| k.0);
            ka.iter().chain(kb.iter()).all(|k| Some(k.0) == name) && unique(ka) && unique(kb)
        }
        _ => false,
    };
    if !keyed {
        for i in 0..la.len().max(lb.len()) {
            compare(
                format!("{path}[{i}]"),
                la.get(i).unwrap_or(&Value::Null),
                lb.get(i).unwrap_or(&Value::Null),
                out,
            );
        }
        return;
    }
    let mut items: BTreeMap<(&str, i64), Pair<'_>> = BTreeMap::new();
    for (k, v) in keys_a.iter().flatten().zip(la) {
        items.entry(*k).or_default().0 = Some(v);
    }
    for (k, v) in keys_b.iter().flatten().zip(lb) {
        items.entry(*k).or_default().1 = Some(v);
    }
    for ((name, key), (a, b)) in items {
        compare(
            format!("{path}[{name}={key}]"),
            a.unwrap_or(&Value::Null),
            b.unwrap_or(&Value::Null),
            out,
        );
    }
}

/// An item of a list on each side, where it is there.
type Pair<'a> = (Option<&'a Value>, Option<&'a Value>);

fn unique(keys: &[(&str, i64)]) -> bool {
    let mut k: Vec<i64> = keys.iter().map(|k| k.1).collect();
    k.sort_unstable();
    k.windows(2).all(|w| w[0] != w[1])
}

/// The hash of a page or a record's payload (64-bit FNV-1a: enough to
/// tell them apart here, and the same from run to run).
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Every task's own saved pages: pid → address → contents' hash.
type Pages = BTreeMap<i32, BTreeMap<u64, u64>>;

/// (owner, type, rank) of a record.
type RecordKey = (String, String, u32);

/// In one pass over an image (decoded whole already, by [`diff`]): every
/// task's own pages (those shared with the process the memory comes from
/// carry no contents and are left out), and every other record but the
/// tail, by [`RecordKey`], with its payload's hash.
fn contents_of(buf: &[u8]) -> (Pages, BTreeMap<RecordKey, u64>) {
    let (mut pages, mut records): (Pages, _) = (BTreeMap::new(), BTreeMap::new());
    let mut parser = ckpt_image::Parser::new();
    let (mut pid, mut owner) = (0, String::from("image"));
    let mut ranks: BTreeMap<(String, String), u32> = BTreeMap::new();
    for rec in ckpt_image::RawRecords::new(buf) {
        let Ok(rec) = rec else { break };
        let (kind, payload) = (rec.kind, rec.payload);
        let Ok(item) = parser.feed(rec) else { break };
        match item {
            Item::TaskState(t) => {
                pid = t.pid;
                owner = format!("pid={pid}");
            }
            Item::Pages(h, data) => {
                if !h.shared() {
                    let task = pages.entry(pid).or_default();
                    for (i, page) in data.chunks(PAGE_SIZE).enumerate() {
                        let addr = h.vaddr.saturating_add((i * PAGE_SIZE) as u64);
                        task.insert(addr, hash(page));
                    }
                }
                continue;
            }
            Item::Tail(_) => continue,
            _ => {}
        }
        let name = ckpt_image::RecordType::from_u32(kind)
            .map_or_else(|| format!("type {kind}"), |t| t.name().to_string());
        let rank = ranks.entry((owner.clone(), name.clone())).or_default();
        records.insert((owner.clone(), name, *rank), hash(payload));
        *rank += 1;
    }
    (pages, records)
}

fn compare_records(a: &BTreeMap<RecordKey, u64>, b: &BTreeMap<RecordKey, u64>) -> Vec<RecordDiff> {
    let mut keys: Vec<&RecordKey> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let change = match (a.get(k), b.get(k)) {
                (Some(x), Some(y)) if x == y => return None,
                (Some(_), Some(_)) => "changed",
                (Some(_), None) => "only in A",
                (None, _) => "only in B",
            };
            Some(RecordDiff {
                owner: k.0.clone(),
                kind: k.1.clone(),
                rank: k.2,
                change,
            })
        })
        .collect()
}

/// The tasks whose pages differ, and how many pages are the same.
fn compare_pages(a: &Pages, b: &Pages) -> (Vec<PageDiff>, u64) {
    let empty = BTreeMap::new();
    let mut pids: Vec<i32> = a.keys().chain(b.keys()).copied().collect();
    pids.sort_unstable();
    pids.dedup();
    let (mut out, mut same) = (Vec::new(), 0);
    for pid in pids {
        let (pa, pb) = (a.get(&pid).unwrap_or(&empty), b.get(&pid).unwrap_or(&empty));
        let mut d = PageDiff {
            pid,
            ..Default::default()
        };
        let mut addrs: Vec<u64> = pa.keys().chain(pb.keys()).copied().collect();
        addrs.sort_unstable();
        addrs.dedup();
        for addr in addrs {
            match (pa.get(&addr), pb.get(&addr)) {
                (Some(x), Some(y)) if x == y => d.same += 1,
                (Some(_), Some(_)) => d.changed.push(addr),
                (Some(_), None) => d.only_a.push(addr),
                (None, _) => d.only_b.push(addr),
            }
        }
        same += d.same;
        if d.only_a.pages + d.only_b.pages + d.changed.pages > 0 {
            out.push(d);
        }
    }
    (out, same)
}

/// The differences as lines of text: `path: A -> B` for fields, and per
/// task the pages that differ.
pub fn text(d: &Diff) -> String {
    let mut s = String::new();
    if d.is_empty() {
        let _ = writeln!(
            s,
            "the images hold the same state ({} pages of contents)",
            d.same_pages
        );
        return s;
    }
    for f in &d.fields {
        let _ = writeln!(s, "{}: {} -> {}", f.path, f.a, f.b);
    }
    for r in &d.records {
        let _ = writeln!(
            s,
            "record {} #{} of {}: {}",
            r.kind, r.rank, r.owner, r.change
        );
    }
    for p in &d.pages {
        let _ = write!(
            s,
            "pages of pid {}: {} changed, {} only in A, {} only in B ({} the same)",
            p.pid, p.changed.pages, p.only_a.pages, p.only_b.pages, p.same
        );
        for (what, r) in [
            ("changed", &p.changed),
            ("only in A", &p.only_a),
            ("only in B", &p.only_b),
        ] {
            if !r.ranges.is_empty() {
                let shown: Vec<String> = r
                    .ranges
                    .iter()
                    .map(|(a, b)| format!("{a:#x}-{b:#x}"))
                    .collect();
                let _ = write!(s, "\n  {what}: {}", shown.join(" "));
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(a: Value, b: Value) -> Vec<(String, Value, Value)> {
        let mut out = Vec::new();
        compare(String::new(), &a, &b, &mut out);
        out.into_iter().map(|f| (f.path, f.a, f.b)).collect()
    }

    #[test]
    fn lists_are_matched_by_pid_or_id() {
        let a = json!({"states": [{"pid": 5, "rip": 1}, {"pid": 6, "rip": 2}]});
        let b =
            json!({"states": [{"pid": 6, "rip": 2}, {"pid": 5, "rip": 3}, {"pid": 7, "rip": 4}]});
        assert_eq!(
            fields(a, b),
            [
                ("states[pid=5].rip".into(), json!(1), json!(3)),
                // A task only in B shows whole.
                (
                    "states[pid=7]".into(),
                    Value::Null,
                    json!({"pid": 7, "rip": 4})
                ),
            ]
        );
        let a = json!({"pipes": [{"id": 3, "bytes": 1}]});
        let b = json!({"pipes": [{"id": 3, "bytes": 2}]});
        assert_eq!(
            fields(a, b),
            [("pipes[id=3].bytes".into(), json!(1), json!(2))]
        );
    }

    #[test]
    fn other_lists_by_position() {
        let a = json!({"groups": [1, 2]});
        let b = json!({"groups": [1, 3, 4]});
        assert_eq!(
            fields(a, b),
            [
                ("groups[1]".into(), json!(2), json!(3)),
                ("groups[2]".into(), Value::Null, json!(4)),
            ]
        );
    }

    #[test]
    fn pages_as_counts_and_ranges() {
        let page = PAGE_SIZE as u64;
        let a = BTreeMap::from([(
            5,
            BTreeMap::from([(0, 1), (page, 2), (2 * page, 3), (9 * page, 4)]),
        )]);
        let b = BTreeMap::from([
            (
                5,
                BTreeMap::from([(0, 1), (page, 7), (2 * page, 8), (10 * page, 4)]),
            ),
            (6, BTreeMap::from([(0, 1)])),
        ]);
        let (d, same) = compare_pages(&a, &b);
        assert_eq!(same, 1);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].pid, 5);
        assert_eq!(d[0].same, 1);
        assert_eq!(d[0].changed.ranges, [(page, 3 * page)]);
        assert_eq!(d[0].changed.pages, 2);
        assert_eq!(d[0].only_a.ranges, [(9 * page, 10 * page)]);
        assert_eq!(d[0].only_b.ranges, [(10 * page, 11 * page)]);
        assert_eq!((d[1].pid, d[1].only_b.pages), (6, 1));
        let text = text(&Diff {
            fields: vec![],
            pages: d,
            same_pages: 1,
            records: vec![],
        });
        assert!(text.contains("pages of pid 5: 2 changed, 1 only in A, 1 only in B (1 the same)"));
        assert!(text.contains("changed: 0x1000-0x3000"), "{text}");
    }

    #[test]
    fn records_by_owner_type_and_rank() {
        let k = |o: &str, t: &str, r| (o.to_string(), t.to_string(), r);
        let a = BTreeMap::from([(k("pid=5", "regs", 0), 1), (k("pid=5", "xsave", 0), 2)]);
        let b = BTreeMap::from([(k("pid=5", "regs", 0), 9), (k("pid=6", "regs", 0), 3)]);
        let d = compare_records(&a, &b);
        let got: Vec<(&str, &str, &str)> = d
            .iter()
            .map(|r| (r.owner.as_str(), r.kind.as_str(), r.change))
            .collect();
        assert_eq!(
            got,
            [
                ("pid=5", "regs", "changed"),
                ("pid=5", "xsave", "only in A"),
                ("pid=6", "regs", "only in B"),
            ]
        );
    }

    #[test]
    fn an_image_against_itself() {
        // The fuzzer's first seed holds every record type.
        let seed = &ckpt_image_fuzz::seeds::seeds()[0];
        let (mut img, mut offsets) = (Vec::new(), Vec::new());
        ckpt_image_fuzz::serialize(&seed.recs, &mut img, &mut offsets);
        let d = diff(&img, &img).expect("the seed decodes");
        assert!(d.is_empty(), "{d:?}");
        assert!(text(&d).starts_with("the images hold the same state ("));
    }
}
