//! The image crate mirrors constants that the kernel patch defines: the
//! syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl) and the flags
//! and format version (include/uapi/linux/checkpoint.h). This test reads
//! them out of the patch series and checks that both sides agree. (The
//! kernel build also asserts the flags at compile time, through bindgen.)

use std::collections::BTreeMap;
use std::path::Path;

/// All lines the series adds, from every patch in linux-patch/.
fn added_lines() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../linux-patch");
    let mut patches: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    patches.sort();
    assert!(!patches.is_empty(), "no patches in {}", dir.display());
    patches
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| l[1..].to_owned())
        .collect()
}

fn parse_number(s: &str) -> u64 {
    let s = s.trim_end_matches("UL").trim_end_matches('U');
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

#[test]
fn syscall_numbers_match_the_table() {
    let mut nr = BTreeMap::new();
    for l in added_lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [num, "64", name, entry] = f.as_slice() {
            assert_eq!(*entry, format!("sys_{name}"));
            nr.insert(name.to_string(), num.parse::<i64>().unwrap());
        }
    }
    assert_eq!(nr.get("checkpoint"), Some(&ckpt_image::SYS_CHECKPOINT));
    assert_eq!(nr.get("restart"), Some(&ckpt_image::SYS_RESTART));
}

#[test]
fn restart_report_matches_the_header() {
    let lines = added_lines();
    let start = lines
        .iter()
        .position(|l| l.starts_with("struct restart_report {"))
        .expect("struct restart_report in the uapi header");
    let fields: Vec<(String, String)> = lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with("};"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1].trim_end_matches(';').to_owned())
        })
        .collect();
    let want = [
        ("__s32", "pid"),
        ("__s32", "error"),
        ("__u32", "record"),
        ("__u32", "record_type"),
        ("__u64", "offset"),
    ];
    let got: Vec<(&str, &str)> = fields
        .iter()
        .map(|(t, n)| (t.as_str(), n.as_str()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(std::mem::size_of::<ckpt_image::RestartReport>(), 24);
    assert_eq!(std::mem::offset_of!(ckpt_image::RestartReport, offset), 16);
}

#[test]
fn uapi_constants_match_the_header() {
    let mut defs = BTreeMap::new();
    for l in added_lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let ["#define", name, value @ ..] = f.as_slice() {
            defs.insert(name.to_string(), value.join(" "));
        }
    }
    let get = |name: &str| {
        defs.get(name)
            .unwrap_or_else(|| panic!("{name} not in the uapi header"))
    };
    assert_eq!(
        parse_number(get("CHECKPOINT_SUBTREE")),
        ckpt_image::CHECKPOINT_SUBTREE
    );
    assert_eq!(
        parse_number(get("CHECKPOINT_TCP_SILENT")),
        ckpt_image::CHECKPOINT_TCP_SILENT
    );
    assert_eq!(
        parse_number(get("CHECKPOINT_COW")),
        ckpt_image::CHECKPOINT_COW
    );
    assert_eq!(
        get("CHECKPOINT_FLAGS_MASK"),
        "(CHECKPOINT_SUBTREE | CHECKPOINT_TCP_SILENT | CHECKPOINT_COW)"
    );
    assert_eq!(
        ckpt_image::CHECKPOINT_FLAGS_MASK,
        ckpt_image::CHECKPOINT_SUBTREE
            | ckpt_image::CHECKPOINT_TCP_SILENT
            | ckpt_image::CHECKPOINT_COW
    );
    assert_eq!(
        parse_number(get("RESTART_DELETED_HERE")),
        ckpt_image::RESTART_DELETED_HERE
    );
    assert_eq!(get("RESTART_FLAGS_MASK"), "(RESTART_DELETED_HERE)");
    assert_eq!(
        ckpt_image::RESTART_FLAGS_MASK,
        ckpt_image::RESTART_DELETED_HERE
    );
    assert_eq!(
        parse_number(get("CHECKPOINT_IMAGE_VERSION")),
        u64::from(ckpt_image::IMAGE_VERSION)
    );
}
