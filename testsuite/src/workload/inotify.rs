//! The inotify workload: watches and queued events, checked after the
//! restart.

use super::{go_and_result, name, on_sigusr1, read_u64, ready, verdict_all};
use anyhow::{bail, Result};
use nix::libc;
use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// The eventfd a SIGUSR1 handler writes to, waking the blocked read.
static INOTIFY_WAKE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_usr1_inotify(_: i32) {
    let one = 1u64;
    // SAFETY: write(2) is async-signal-safe; 8 valid bytes.
    unsafe {
        libc::write(
            INOTIFY_WAKE.load(Ordering::Relaxed),
            (&one as *const u64).cast(),
            8,
        )
    };
}

/// One event as read(2) returns it; the cookie as 0 (none) or 1 and 2…
/// in the order cookies first appear, since their values are arbitrary.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: String,
}

/// Every event queued on the non-blocking instance `fd`, in order.
fn drain(fd: i32) -> Vec<Event> {
    let mut out = Vec::new();
    let mut cookies: Vec<u32> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        // SAFETY: a valid buffer of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return out;
        }
        let mut at = 0usize;
        let n = n as usize;
        while at + 16 <= n {
            let word =
                |i: usize| u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().unwrap_or([0; 4]));
            let (wd, mask, cookie, len) = (word(0) as i32, word(4), word(8), word(12) as usize);
            let raw = &buf[at + 16..(at + 16 + len).min(n)];
            let name =
                String::from_utf8_lossy(raw.split(|&c| c == 0).next().unwrap_or(&[])).into_owned();
            let cookie = if cookie == 0 {
                0
            } else {
                match cookies.iter().position(|&c| c == cookie) {
                    Some(i) => i as u32 + 1,
                    None => {
                        cookies.push(cookie);
                        cookies.len() as u32
                    }
                }
            };
            out.push(Event {
                wd,
                mask,
                cookie,
                name,
            });
            at += 16 + len;
        }
    }
}

fn add_watch(fd: i32, path: &str, mask: u32) -> Result<i32> {
    let c = CString::new(path)?;
    // SAFETY: a valid path.
    let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), mask) };
    if wd < 0 {
        bail!(
            "inotify_add_watch {path}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(wd)
}

fn touch(path: &str) -> Result<()> {
    std::fs::write(path, b"x").map_err(|e| anyhow::anyhow!("writing {path}: {e}"))
}

/// The inotify lines of our fdinfo for `fd`: watch descriptors, inodes,
/// masks.
fn fdinfo(fd: i32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("inotify "))
        .map(str::to_owned)
        .collect()
}

/// Two inotify instances. "main" (blocking) watches a directory for
/// creations, deletions and renames (wd 1), a file for changes once
/// (`IN_ONESHOT`, wd 2, fired and gone before the checkpoint), the same
/// directory's "keep" file for attribute changes once (wd 4, not fired),
/// and had wd 3 removed; it holds ten events not read yet: a creation, a
/// rename pair with its cookie, a deletion, the change and the two
/// `IN_IGNORED`s. "flood" (non-blocking) watches a file for opens and
/// closes and holds a full queue ending in `IN_Q_OVERFLOW`. The process is
/// blocked reading an eventfd when it is saved; after the restart a handler
/// wakes it and it checks that both queues read back exactly, the watches
/// (fdinfo: descriptors, inodes, masks) are the same, they report new
/// events with the same descriptors (the one-shot watch once, then
/// `IN_IGNORED`), and a new watch gets descriptor 5, as it would have.
pub(crate) fn inotify_check(ready_path: &Path) -> Result<()> {
    name("inotify");
    let (_, result) = go_and_result(ready_path);
    let dir = format!(
        "{}/{}-watched",
        ready_path.parent().unwrap_or(Path::new("/tmp")).display(),
        std::process::id()
    );
    std::fs::create_dir(&dir)?;
    let (changed, keep, gone, fresh) = (
        format!("{dir}/changed"),
        format!("{dir}/keep"),
        format!("{dir}/gone"),
        format!("{dir}/fresh"),
    );
    for p in [&changed, &keep, &gone] {
        touch(p)?;
    }
    // SAFETY: plain calls.
    let (main, flood, wake) = unsafe {
        (
            libc::inotify_init1(0),
            libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC),
            libc::eventfd(0, 0),
        )
    };
    if main < 0 || flood < 0 || wake < 0 {
        bail!("inotify_init1/eventfd: {}", std::io::Error::last_os_error());
    }
    let d = add_watch(
        main,
        &dir,
        libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO,
    )?;
    let once = add_watch(main, &changed, libc::IN_MODIFY | libc::IN_ONESHOT)?;
    let removed = add_watch(main, &gone, libc::IN_ATTRIB)?;
    let attr = add_watch(main, &keep, libc::IN_ATTRIB | libc::IN_ONESHOT)?;
    if (d, once, removed, attr) != (1, 2, 3, 4) {
        bail!("watch descriptors {d} {once} {removed} {attr}, not 1 2 3 4");
    }
    // SAFETY: a plain call.
    if unsafe { libc::inotify_rm_watch(main, removed) } != 0 {
        bail!("inotify_rm_watch: {}", std::io::Error::last_os_error());
    }
    touch(&format!("{dir}/a"))?;
    std::fs::rename(format!("{dir}/a"), format!("{dir}/b"))?;
    std::fs::remove_file(format!("{dir}/b"))?;
    std::fs::write(&changed, b"more")?;
    // The flood: opens and closes past the queue's 16384 events.
    let flood_wd = add_watch(flood, &keep, libc::IN_OPEN | libc::IN_CLOSE_NOWRITE)?;
    for _ in 0..8200 {
        drop(std::fs::File::open(&keep)?);
    }
    let expected = |wd: i32, mask: u32, cookie: u32, name: &str| Event {
        wd,
        mask,
        cookie,
        name: name.into(),
    };
    let main_expected = vec![
        expected(removed, libc::IN_IGNORED, 0, ""),
        expected(d, libc::IN_CREATE, 0, "a"),
        expected(d, libc::IN_MOVED_FROM, 1, "a"),
        expected(d, libc::IN_MOVED_TO, 1, "b"),
        expected(d, libc::IN_DELETE, 0, "b"),
        expected(once, libc::IN_MODIFY, 0, ""),
        expected(once, libc::IN_IGNORED, 0, ""),
    ];
    let info_before = (fdinfo(main), fdinfo(flood));
    INOTIFY_WAKE.store(wake, Ordering::Relaxed);
    on_sigusr1(on_usr1_inotify);
    ready(ready_path)?;
    let mut bad = Vec::new();
    if read_u64(wake) != Some(1) {
        bad.push("the blocked read did not return the handler's 1".into());
    }
    if (fdinfo(main), fdinfo(flood)) != info_before {
        bad.push(format!(
            "fdinfo {info_before:?} before, {:?} now",
            (fdinfo(main), fdinfo(flood))
        ));
    }
    // SAFETY: a plain call on our descriptor.
    unsafe { libc::fcntl(main, libc::F_SETFL, libc::O_NONBLOCK) };
    let got = drain(main);
    if got != main_expected {
        bad.push(format!("main's queue: {got:?}"));
    }
    let flooded = drain(flood);
    let opens = flooded
        .iter()
        .filter(|e| e.wd == flood_wd && e.mask == libc::IN_OPEN)
        .count();
    let closes = flooded
        .iter()
        .filter(|e| e.wd == flood_wd && e.mask == libc::IN_CLOSE_NOWRITE)
        .count();
    let last = flooded.last().map(|e| (e.wd, e.mask));
    if (flooded.len(), opens, closes, last) != (16385, 8192, 8192, Some((-1, libc::IN_Q_OVERFLOW)))
    {
        bad.push(format!(
            "flood: {} events, {opens} opens, {closes} closes, last {last:?}",
            flooded.len()
        ));
    }
    // New events through the same watches.
    touch(&format!("{dir}/c"))?;
    std::fs::write(&changed, b"again")?;
    let c = CString::new(keep.as_str())?;
    // SAFETY: a valid path.
    unsafe { libc::chmod(c.as_ptr(), 0o600) };
    let got = drain(main);
    let want = vec![
        expected(d, libc::IN_CREATE, 0, "c"),
        expected(attr, libc::IN_ATTRIB, 0, ""),
        expected(attr, libc::IN_IGNORED, 0, ""),
    ];
    if got != want {
        bad.push(format!("new events {got:?}, not {want:?}"));
    }
    touch(&fresh)?;
    match add_watch(main, &fresh, libc::IN_MODIFY) {
        Ok(5) => {}
        other => bad.push(format!("a new watch got {other:?}, not 5")),
    }
    verdict_all(
        &result,
        &bad,
        "inotify: watches, descriptors, queued events, overflow, new events",
    )
}
