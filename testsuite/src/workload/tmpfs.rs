//! A pod with a private `/tmp` and `/dev/shm` (`ckpt run --pod
//! --private-tmp`): files of every kind it carries, an open file at an
//! offset, and POSIX shared memory mapped from `/dev/shm`.

use super::*;
use nix::libc;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt, PermissionsExt};

/// The sparse file: data in its first and its last page, a hole of
/// [`HOLE`] bytes between.
pub(crate) const SPARSE: &str = "/tmp/d/sparse";
const HOLE: u64 = 1 << 20;
/// Where the open descriptor on [`SPARSE`] stands.
const OFFSET: u64 = 1000;
/// The POSIX shared memory object (`shm_open("/seg")`) and its size.
const SEG: &str = "/dev/shm/seg";
const SEG_LEN: usize = 128 * 1024;
/// The modification time given to `/tmp/old` (2001-09-09).
pub(crate) const OLD_MTIME: i64 = 1_000_000_000;

/// A page of bytes that depend on `seed`.
fn page(seed: u8) -> Vec<u8> {
    (0..4096u32)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Makes the files: a directory tree with owners and modes, a sparse file,
/// a set-uid file, another name of a file, a symbolic link, a named pipe,
/// a file with an old modification time.
fn make_files() -> Result<()> {
    fs::create_dir("/tmp/d")?;
    fs::set_permissions("/tmp/d", fs::Permissions::from_mode(0o750))?;
    fs::create_dir("/tmp/d/sub")?;
    fs::set_permissions("/tmp/d/sub", fs::Permissions::from_mode(0o700))?;
    nix::unistd::chown(
        "/tmp/d/sub",
        Some(nix::unistd::Uid::from_raw(1000)),
        Some(nix::unistd::Gid::from_raw(1000)),
    )?;
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(SPARSE)?;
    std::os::unix::fs::FileExt::write_all_at(&f, &page(1), 0)?;
    std::os::unix::fs::FileExt::write_all_at(&f, &page(2), 4096 + HOLE)?;
    drop(f);
    fs::write("/tmp/d/suid", b"#!/bin/sh\n")?;
    nix::unistd::chown(
        "/tmp/d/suid",
        Some(nix::unistd::Uid::from_raw(1000)),
        Some(nix::unistd::Gid::from_raw(100)),
    )?;
    fs::set_permissions("/tmp/d/suid", fs::Permissions::from_mode(0o4755))?;
    fs::hard_link(SPARSE, "/tmp/other-name")?;
    symlink("d/sparse", "/tmp/link")?;
    nix::unistd::mkfifo("/tmp/fifo", nix::sys::stat::Mode::from_bits_truncate(0o620))?;
    fs::set_permissions("/tmp/fifo", fs::Permissions::from_mode(0o620))?;
    fs::write("/tmp/old", b"old\n")?;
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        "/tmp/old",
        &nix::sys::time::TimeSpec::new(OLD_MTIME + 5, 0),
        &nix::sys::time::TimeSpec::new(OLD_MTIME, 123_456_789),
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )?;
    fs::write("/tmp/empty", b"")?;
    Ok(())
}

/// The pod's init (`tmpfs_pod`): makes the files, holds [`SPARSE`] open at
/// [`OFFSET`] and [`SEG`] mapped shared, and has a child whose working
/// directory is `/tmp/d/sub`. After the go file it checks: the contents
/// (the hole reads as zeros and is still a hole), the descriptor's offset,
/// the mapping shared with the file, the other name the same file, the
/// link's target, the modes, owners and the old time, its child alive
/// (its working directory is checked from outside: the pod's `/proc` is
/// its checkpointer's).
pub(crate) fn tmpfs_pod(ready_path: &Path) -> Result<()> {
    name("tmpfs-pod");
    let (go, result) = go_and_result(ready_path);
    make_files()?;
    let open = fs::File::open(SPARSE)?;
    nix::unistd::lseek(&open, OFFSET as i64, nix::unistd::Whence::SeekSet)?;
    let seg = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(SEG)?;
    seg.set_len(SEG_LEN as u64)?;
    // SAFETY: a new shared mapping of a file we hold, kept for the life
    // of the process.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            SEG_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            seg.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        bail!("mmap {SEG}: {}", std::io::Error::last_os_error());
    }
    // SAFETY: the mapping is SEG_LEN bytes, ours alone.
    let mem = unsafe { std::slice::from_raw_parts_mut(map.cast::<u8>(), SEG_LEN) };
    for (i, chunk) in mem.chunks_mut(4096).enumerate() {
        chunk.copy_from_slice(&page(10 + i as u8));
    }
    // A child working in /tmp/d/sub until it is killed, there before the
    // ready file is.
    let (r, w) = pipe()?;
    let child = spawn("tmpfs-child", move || {
        let _ = std::env::set_current_dir("/tmp/d/sub");
        let _ = write(&w, b"1");
        sleep_forever()
    })?;
    let mut one = [0u8; 1];
    if !matches!(read(r.as_fd(), &mut one), Ok(1)) {
        bail!("the child did not start");
    }
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut bad = Vec::new();
    let mut check = |ok: bool, what: &str| {
        if !ok {
            bad.push(what.to_owned());
        }
    };
    let data = fs::read(SPARSE)?;
    let hole_len = HOLE as usize;
    check(data.len() == 8192 + hole_len, "sparse size");
    check(data.get(..4096) == Some(&page(1)[..]), "first page");
    check(
        data.get(4096..4096 + hole_len)
            .is_some_and(|h| h.iter().all(|&b| b == 0)),
        "hole reads zeros",
    );
    check(
        data.get(4096 + hole_len..) == Some(&page(2)[..]),
        "last page",
    );
    let hole_at = nix::unistd::lseek(&fs::File::open(SPARSE)?, 0, nix::unistd::Whence::SeekHole)?;
    check(hole_at == 4096, "the hole is a hole (SEEK_HOLE)");
    let pos = nix::unistd::lseek(&open, 0, nix::unistd::Whence::SeekCur)?;
    check(pos == OFFSET as i64, "open file offset");
    let mut buf = [0u8; 16];
    check(
        nix::unistd::read(&open, &mut buf).is_ok_and(|n| n == 16)
            && buf[..] == page(1)[OFFSET as usize..OFFSET as usize + 16],
        "read at the offset",
    );
    check(
        mem.chunks(4096)
            .enumerate()
            .all(|(i, c)| c == &page(10 + i as u8)[..]),
        "shared memory contents",
    );
    // The mapping and the file are one: a write through one shows in the
    // other.
    mem[5] = 0xa5;
    let mut one = [0u8; 1];
    std::os::unix::fs::FileExt::read_exact_at(&seg, &mut one, 5)?;
    check(one[0] == 0xa5, "mapping shared with /dev/shm/seg");
    let (a, b) = (fs::metadata(SPARSE)?, fs::metadata("/tmp/other-name")?);
    check(
        a.ino() == b.ino() && a.nlink() == 2,
        "other name of the same file",
    );
    check(
        fs::read_link("/tmp/link").is_ok_and(|t| t == Path::new("d/sparse")),
        "link target",
    );
    let suid = fs::metadata("/tmp/d/suid")?;
    check(
        suid.mode() & 0o7777 == 0o4755 && suid.uid() == 1000 && suid.gid() == 100,
        "set-uid file mode and owner",
    );
    let sub = fs::metadata("/tmp/d/sub")?;
    check(
        sub.mode() & 0o7777 == 0o700 && sub.uid() == 1000,
        "directory mode and owner",
    );
    let old = fs::metadata("/tmp/old")?;
    check(
        old.mtime() == OLD_MTIME && old.mtime_nsec() == 123_456_789,
        "old modification time",
    );
    check(
        fs::symlink_metadata("/tmp/fifo").is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_fifo() && m.mode() & 0o777 == 0o620
        }),
        "named pipe",
    );
    check(
        fs::metadata("/tmp")?.mode() & 0o7777 == 0o1777,
        "/tmp mode 1777",
    );
    check(
        nix::sys::signal::kill(child, None).is_ok(),
        "the child lives",
    );
    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
    let _ = waitpid(child, None);
    verdict_all(
        &result,
        &bad,
        "contents, hole, offset, shared mapping, names, modes, owners and times as made",
    )
}
