//! Memory: heaps checked page by page, and every kind of mapping.

use super::*;

/// 64 MiB (or `KCKPT_HEAP_MIB`) filled with a pattern and hashed; after
/// the restart the process hashes its buffer again and compares.
pub(crate) fn heap_check(ready_path: &Path) -> Result<()> {
    name("heap-check");
    let (go, result) = go_and_result(ready_path);
    let mib: usize = std::env::var("KCKPT_HEAP_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let len = mib << 20;
    let mut buf = vec![0u64; len / 8];
    super::bench::fill(&mut buf);
    let hash = |b: &[u64]| {
        b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
            (h ^ v).wrapping_mul(0x100_0000_01b3)
        })
    };
    let before = hash(&buf);
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let after = hash(&buf);
    verdict(
        &result,
        before == after && buf.len() == len / 8,
        format!("heap {mib} MiB hash equal={}", before == after),
    )
}

/// Mappings that need more than anonymous read-write memory: a private
/// file mapping with some pages written (copy-on-write) and some not, a
/// region made read-only after it was filled, and a PROT_NONE region that
/// holds data. After the restart each must hold what it held, with the
/// same protection.
pub(crate) fn mappings_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("mappings");
    let (go, result) = go_and_result(ready_path);
    let page = 4096usize;
    let path = ready_path.to_string_lossy().replace("ready-", "mapped-");
    std::fs::write(
        &path,
        (0..4 * page)
            .map(|i| (i / page) as u8 + b'A')
            .collect::<Vec<u8>>(),
    )?;
    let file = std::fs::File::open(&path)?;
    // SAFETY: mappings of fresh regions and of a file we hold open; every
    // access below stays inside them and respects their protection.
    let (fmap, ro, none) = unsafe {
        use std::os::fd::AsRawFd;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let fmap = libc::mmap(
            std::ptr::null_mut(),
            4 * page,
            prot,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        ) as *mut u8;
        // Dirty pages 1 and 3; pages 0 and 2 stay the file's.
        *fmap.add(page) = b'x';
        *fmap.add(3 * page + 7) = b'y';
        let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let ro = libc::mmap(std::ptr::null_mut(), 2 * page, prot, anon, -1, 0) as *mut u8;
        std::ptr::write_bytes(ro, 0x5a, 2 * page);
        libc::mprotect(ro.cast(), 2 * page, libc::PROT_READ);
        let none = libc::mmap(std::ptr::null_mut(), page, prot, anon, -1, 0) as *mut u8;
        std::ptr::write_bytes(none, 0xa5, page);
        libc::mprotect(none.cast(), page, libc::PROT_NONE);
        (fmap, ro, none)
    };
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let perms = |addr: *mut u8| -> String {
        let a = addr as usize;
        maps.lines()
            .find(|l| {
                let mut r = l.split(['-', ' ']);
                let s = usize::from_str_radix(r.next().unwrap_or("0"), 16).unwrap_or(0);
                let e = usize::from_str_radix(r.next().unwrap_or("0"), 16).unwrap_or(0);
                (s..e).contains(&a)
            })
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_string()
    };
    let mut bad = Vec::new();
    // SAFETY: as above; PROT_NONE is lifted before it is read.
    unsafe {
        let expect_file = [b'A', b'x', b'C', b'D'];
        for (i, want) in expect_file.iter().enumerate() {
            if *fmap.add(i * page) != *want {
                bad.push("private file mapping contents");
            }
        }
        if *fmap.add(3 * page + 7) != b'y' || *fmap.add(page + 1) != b'B' {
            bad.push("dirty file page");
        }
        if perms(fmap) != "rw-p" || perms(ro) != "r--p" || perms(none) != "---p" {
            bad.push("protection");
        }
        if (0..2 * page).any(|i| *ro.add(i) != 0x5a) {
            bad.push("read-only region contents");
        }
        libc::mprotect(none.cast(), page, libc::PROT_READ);
        if (0..page).any(|i| *none.add(i) != 0xa5) {
            bad.push("PROT_NONE region contents");
        }
    }
    bad.dedup();
    let ok = bad.is_empty();
    verdict(&result, ok, format!("mappings wrong={bad:?}"))
}

/// Where `live_writer` maps its memory (a fixed address, so that the
/// scenarios find its pages in the image), and its size: 64 MiB.
pub const LIVE_ADDR: usize = 0x6100_0000_0000;
pub const LIVE_LEN: usize = 64 << 20;
/// The patterns `live_writer` fills its memory with: before the
/// checkpoint, and when told to rewrite it.
pub const LIVE_BEFORE: u64 = 0xa5a5_0000_0000_0001;
pub const LIVE_AFTER: u64 = 0x5a5a_0000_0000_0002;

/// `live_writer`'s memory, as words.
fn live_memory() -> &'static mut [u64] {
    // SAFETY: LIVE_ADDR is a live LIVE_LEN-byte private read-write mapping
    // of this process (made by `live_writer`), which nothing unmaps, and
    // only this single-threaded process uses it.
    unsafe { std::slice::from_raw_parts_mut(LIVE_ADDR as *mut u64, LIVE_LEN / 8) }
}

/// Word `i` of `live_writer`'s memory in pattern `salt`: different in
/// every word and every page.
fn live_word(i: usize, salt: u64) -> u64 {
    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt
}

/// The first page of `live_writer`'s memory not in pattern `salt`.
fn live_wrong(salt: u64) -> Option<usize> {
    live_memory()
        .iter()
        .enumerate()
        .find(|&(i, &w)| w != live_word(i, salt))
        .map(|(i, _)| i * 8 / 4096)
}

/// 64 MiB of private anonymous memory filled with one pattern; then,
/// polling every millisecond, it rewrites all of it with another once the
/// file `rewrite-NAME` exists (and writes `rewrote-NAME`: PASS if its
/// memory then holds the new pattern throughout), and once `go-NAME`
/// exists it checks that its memory holds what it held at the checkpoint
/// (the first pattern, unless it rewrote it since) and leaves its verdict.
/// For the copy-on-write checkpoint: a process that rewrites its memory
/// while its pages are written, and one killed meanwhile.
pub(crate) fn live_writer(ready_path: &Path) -> Result<()> {
    name("live-writer");
    let (go, result) = go_and_result(ready_path);
    let s = ready_path.to_string_lossy();
    let rewrite = std::path::PathBuf::from(s.replace("ready-", "rewrite-"));
    let rewrote = std::path::PathBuf::from(s.replace("ready-", "rewrote-"));
    map_anon_at(LIVE_ADDR, LIVE_LEN)?;
    for (i, w) in live_memory().iter_mut().enumerate() {
        *w = live_word(i, LIVE_BEFORE);
    }
    ready(ready_path)?;
    let mut salt = LIVE_BEFORE;
    loop {
        if go.exists() {
            let wrong = live_wrong(salt);
            verdict(
                &result,
                wrong.is_none(),
                match wrong {
                    None => format!("all 64 MiB as at the checkpoint ({salt:#x})"),
                    Some(p) => format!("page {p} is not as at the checkpoint ({salt:#x})"),
                },
            );
        }
        if salt == LIVE_BEFORE && rewrite.exists() {
            for (i, w) in live_memory().iter_mut().enumerate() {
                *w = live_word(i, LIVE_AFTER);
            }
            salt = LIVE_AFTER;
            let line = match live_wrong(salt) {
                None => "PASS rewrote all 64 MiB\n".to_owned(),
                Some(p) => format!("FAIL page {p} is not as rewritten\n"),
            };
            std::fs::write(&rewrote, line)?;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
