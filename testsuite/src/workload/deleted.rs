//! The deleted-files workload: files unlinked while open, checked after
//! the restart.

use super::{go_and_result, name, on_sigusr1, read_u64, ready, verdict_all};
use anyhow::{bail, Result};
use nix::libc;
use std::path::Path;

/// The eventfd a SIGUSR1 handler writes to, waking the blocked read.
static DELETED_WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_deleted(_: i32) {
    let one = 1u64;
    // SAFETY: write(2) is async-signal-safe; 8 valid bytes.
    unsafe {
        libc::write(
            DELETED_WAKE.load(std::sync::atomic::Ordering::Relaxed),
            (&one as *const u64).cast(),
            8,
        )
    };
}

fn pattern(i: usize) -> u8 {
    (i * 31 % 253) as u8
}

/// `open(path, flags, mode)`, or an error naming the path.
fn open(path: &str, flags: i32, mode: libc::mode_t) -> Result<i32> {
    let c = std::ffi::CString::new(path)?;
    // SAFETY: a valid path.
    let fd = unsafe { libc::open(c.as_ptr(), flags, mode) };
    if fd < 0 {
        bail!("open {path}: {}", std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn unlink(path: &str) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| anyhow::anyhow!("unlink {path}: {e}"))
}

fn pread(fd: i32, len: usize, at: i64) -> Vec<u8> {
    let mut b = vec![0u8; len];
    // SAFETY: a valid buffer of `len` bytes.
    let n = unsafe { libc::pread(fd, b.as_mut_ptr().cast(), len, at) };
    b.truncate(n.max(0) as usize);
    b
}

fn fstat(fd: i32) -> libc::stat {
    // SAFETY: all-zero is a valid stat; fstat fills it.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st);
        st
    }
}

fn link(fd: i32) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Deleted files still open. "scratch": 10,000 patterned bytes, open
/// twice (read-write at 1,234, and read-only at 0), then unlinked.
/// "sparse": 10 bytes at 0 and at 1 MiB in a 2 MiB file, unlinked (its
/// holes must stay holes). An `O_TMPFILE` file that never had a name.
/// "private": made 0400 and open read-write, unlinked. The process is
/// blocked reading an eventfd when it is saved; after the restart a
/// handler wakes it and it checks every file's contents, size, holes,
/// mode, link count, names, positions, flags, and that the two opens of
/// "scratch" are one file.
pub(crate) fn deleted_check(ready_path: &Path) -> Result<()> {
    name("deleted");
    let (_, result) = go_and_result(ready_path);
    let dir = ready_path.parent().unwrap_or(Path::new("/tmp"));
    let base = format!("{}/{}", dir.display(), std::process::id());
    let (scratch_path, sparse_path, private_path) = (
        format!("{base}-scratch"),
        format!("{base}-sparse"),
        format!("{base}-private"),
    );
    let data: Vec<u8> = (0..10_000).map(pattern).collect();
    let scratch = open(
        &scratch_path,
        libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC,
        0o640,
    )?;
    let scratch_ro = open(&scratch_path, libc::O_RDONLY, 0)?;
    let sparse = open(
        &sparse_path,
        libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC,
        0o600,
    )?;
    let tmp = open(
        &dir.display().to_string(),
        libc::O_TMPFILE | libc::O_RDWR,
        0o600,
    )?;
    let private = open(
        &private_path,
        libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC,
        0o400,
    )?;
    // SAFETY: plain calls on our own descriptors with valid buffers.
    let wake = unsafe {
        if libc::write(scratch, data.as_ptr().cast(), data.len()) != 10_000
            || libc::pwrite(sparse, b"first ten!".as_ptr().cast(), 10, 0) != 10
            || libc::pwrite(sparse, b"second ten".as_ptr().cast(), 10, 1 << 20) != 10
            || libc::ftruncate(sparse, 2 << 20) != 0
            || libc::write(tmp, b"never named".as_ptr().cast(), 11) != 11
            || libc::write(private, b"mine".as_ptr().cast(), 4) != 4
        {
            bail!("writing the files: {}", std::io::Error::last_os_error());
        }
        libc::lseek(scratch, 1234, libc::SEEK_SET);
        libc::eventfd(0, 0)
    };
    for p in [&scratch_path, &sparse_path, &private_path] {
        unlink(p)?;
    }
    if wake < 0 {
        bail!("eventfd: {}", std::io::Error::last_os_error());
    }
    let links_before: Vec<String> = [scratch, scratch_ro, sparse, tmp, private]
        .iter()
        .map(|&fd| link(fd))
        .collect();
    DELETED_WAKE.store(wake, std::sync::atomic::Ordering::Relaxed);
    on_sigusr1(on_usr1_deleted);
    ready(ready_path)?;
    let mut bad = Vec::new();
    if read_u64(wake) != Some(1) {
        bad.push("the blocked read did not return the handler's 1".into());
    }
    if pread(scratch, 20_000, 0) != data || pread(scratch_ro, 20_000, 0) != data {
        bad.push("scratch's contents differ".into());
    }
    let (a, b) = (fstat(scratch), fstat(scratch_ro));
    if a.st_ino != b.st_ino || a.st_nlink != 0 || a.st_mode & 0o7777 != 0o640 {
        bad.push(format!(
            "scratch: inodes {} and {}, {} links, mode {:o}",
            a.st_ino, b.st_ino, a.st_nlink, a.st_mode
        ));
    }
    // SAFETY: plain calls on our own descriptors.
    let (pos, pos_ro, acc) = unsafe {
        (
            libc::lseek(scratch, 0, libc::SEEK_CUR),
            libc::lseek(scratch_ro, 0, libc::SEEK_CUR),
            libc::fcntl(scratch_ro, libc::F_GETFL) & libc::O_ACCMODE,
        )
    };
    if (pos, pos_ro, acc) != (1234, 0, libc::O_RDONLY) {
        bad.push(format!("scratch positions {pos}, {pos_ro}, access {acc}"));
    }
    // A write through one open shows through the other: one file.
    // SAFETY: 3 valid bytes.
    unsafe { libc::pwrite(scratch, b"new".as_ptr().cast(), 3, 0) };
    if pread(scratch_ro, 3, 0) != b"new" {
        bad.push("the two opens of scratch are not one file".into());
    }
    let st = fstat(sparse);
    if st.st_size != 2 << 20
        || pread(sparse, 10, 0) != b"first ten!"
        || pread(sparse, 10, 1 << 20) != b"second ten"
        || pread(sparse, 10, 5000) != [0u8; 10]
    {
        bad.push(format!("sparse: size {} or contents differ", st.st_size));
    }
    // Two pages written: holes stay holes (a few blocks, not 2 MiB).
    if st.st_blocks * 512 > 64 << 10 {
        bad.push(format!(
            "sparse takes {} bytes: its holes were filled",
            st.st_blocks * 512
        ));
    }
    if pread(tmp, 64, 0) != b"never named" || fstat(tmp).st_nlink != 0 {
        bad.push("the O_TMPFILE file's contents or links differ".into());
    }
    let st = fstat(private);
    // SAFETY: 4 valid bytes.
    let wrote = unsafe { libc::pwrite(private, b"more".as_ptr().cast(), 4, 4) };
    if st.st_mode & 0o7777 != 0o400 || wrote != 4 || pread(private, 64, 0) != b"minemore" {
        bad.push(format!(
            "private: mode {:o}, a write gave {wrote}",
            st.st_mode & 0o7777
        ));
    }
    let links: Vec<String> = [scratch, scratch_ro, sparse, tmp, private]
        .iter()
        .map(|&fd| link(fd))
        .collect();
    // The O_TMPFILE file's name is its inode number, new after a restart.
    let same = |a: &str, b: &str| {
        a == b
            || (a.contains("/#")
                && b.contains("/#")
                && a.ends_with(" (deleted)")
                && b.ends_with(" (deleted)"))
    };
    if links_before.len() != links.len()
        || links_before.iter().zip(&links).any(|(a, b)| !same(a, b))
    {
        bad.push(format!("names {links_before:?} before, {links:?} now"));
    }
    for p in [&scratch_path, &sparse_path, &private_path] {
        if Path::new(p).exists() {
            bad.push(format!("{p} exists again"));
        }
    }
    verdict_all(
        &result,
        &bad,
        "deleted files: contents, holes, sizes, modes, names, positions, sharing",
    )
}

/// The directory `deleted_dir_check` works in, for the scenario that
/// removes it: `/tmp/deleted-dir-NAME` for the ready path of scenario
/// NAME.
pub(crate) fn deleted_dir_of(ready_path: &Path) -> String {
    let name = ready_path
        .file_name()
        .map(|n| n.to_string_lossy().trim_start_matches("ready-").to_string())
        .unwrap_or_default();
    format!("/tmp/deleted-dir-{name}")
}

/// A deleted file in a directory of its own: "kept in a removed
/// directory" written to `DIR/f`, which is unlinked (the scenario then
/// removes DIR too). The process is blocked reading an eventfd when it is
/// saved; after the restart (made in a directory the user names) it
/// reads the contents back through its descriptor and checks that the
/// file is still deleted (no link).
pub(crate) fn deleted_dir_check(ready_path: &Path) -> Result<()> {
    name("deleted-dir");
    let (_, result) = go_and_result(ready_path);
    let dir = deleted_dir_of(ready_path);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)?;
    let path = format!("{dir}/f");
    let fd = open(&path, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o600)?;
    let text = b"kept in a removed directory";
    // SAFETY: a write from a valid buffer to our own descriptor.
    if unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) } != text.len() as isize {
        bail!("write: {}", std::io::Error::last_os_error());
    }
    unlink(&path)?;
    // SAFETY: eventfd(2).
    let wake = unsafe { libc::eventfd(0, 0) };
    DELETED_WAKE.store(wake, std::sync::atomic::Ordering::Relaxed);
    on_sigusr1(on_usr1_deleted);
    ready(ready_path)?;
    let mut bad = Vec::new();
    if read_u64(wake) != Some(1) {
        bad.push("the blocked read did not return the handler's 1".into());
    }
    let mut buf = [0u8; 64];
    // SAFETY: pread and fstat of our descriptor into valid buffers.
    unsafe {
        let n = libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
        if n != text.len() as isize || &buf[..text.len()] != text {
            bad.push(format!(
                "it reads {:?}",
                String::from_utf8_lossy(&buf[..n.max(0) as usize])
            ));
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 || st.st_nlink != 0 {
            bad.push(format!("it has {} links, not 0", st.st_nlink));
        }
    }
    verdict_all(&result, &bad, "a deleted file whose directory was removed")
}
