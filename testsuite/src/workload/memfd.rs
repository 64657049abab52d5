//! The memfd workload: memfds with contents, seals, a shared mapping and
//! a second open file, checked after the restart.

use super::{go_and_result, name, on_sigusr1, read_u64, ready, verdict_all};
use anyhow::{bail, Result};
use nix::libc;
use std::path::Path;

/// The read-only shared mapping of the write-sealed memfd.
static SEALED_MAP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The eventfd a SIGUSR1 handler writes to, waking the blocked read.
static MEMFD_WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_memfd(_: i32) {
    let one = 1u64;
    // SAFETY: write(2) is async-signal-safe; 8 valid bytes.
    unsafe {
        libc::write(
            MEMFD_WAKE.load(std::sync::atomic::Ordering::Relaxed),
            (&one as *const u64).cast(),
            8,
        )
    };
}

fn memfd(name: &str, flags: u32) -> Result<i32> {
    let c = std::ffi::CString::new(name)?;
    // SAFETY: a valid name.
    let fd = unsafe { libc::memfd_create(c.as_ptr(), flags) };
    if fd < 0 {
        bail!("memfd_create({name}): {}", std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn pattern(i: usize) -> u8 {
    (i * 13 % 251) as u8
}

/// Memfds. "cache": 5000 patterned bytes, sealed against growing and
/// shrinking, mapped shared over two pages, its position at 123, and
/// opened a second time read-only through /proc/self/fd. "sealed": "frozen"
/// with a write seal and the seal seal, then mapped shared read-only.
/// "plain": made without sealing allowed. The process is blocked reading an eventfd when it is saved;
/// after the restart a handler wakes it and it checks contents, sizes,
/// seals (and that they hold: a write, a truncate and a new seal fail),
/// that the mapping and both open files are still one memfd, positions,
/// flags and names.
pub(crate) fn memfd_check(ready_path: &Path) -> Result<()> {
    name("memfd");
    let (_, result) = go_and_result(ready_path);
    let cache = memfd("cache", libc::MFD_ALLOW_SEALING)?;
    let sealed = memfd("sealed", libc::MFD_ALLOW_SEALING | libc::MFD_CLOEXEC)?;
    let plain = memfd("plain", 0)?;
    let data: Vec<u8> = (0..5000).map(pattern).collect();
    // SAFETY: plain calls on our own descriptors with valid buffers; the
    // mapping is used only through the pointer checked below.
    let (map, reopened, wake) = unsafe {
        if libc::write(cache, data.as_ptr().cast(), data.len()) != 5000
            || libc::write(sealed, b"frozen".as_ptr().cast(), 6) != 6
        {
            bail!("writing the memfds failed");
        }
        let map = libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            cache,
            0,
        );
        if map == libc::MAP_FAILED {
            bail!("mmap: {}", std::io::Error::last_os_error());
        }
        *(map as *mut u8).add(10) = 0xee;
        if libc::fcntl(
            cache,
            libc::F_ADD_SEALS,
            libc::F_SEAL_GROW | libc::F_SEAL_SHRINK,
        ) != 0
            || libc::fcntl(
                sealed,
                libc::F_ADD_SEALS,
                libc::F_SEAL_WRITE | libc::F_SEAL_SEAL,
            ) != 0
        {
            bail!("F_ADD_SEALS: {}", std::io::Error::last_os_error());
        }
        libc::lseek(cache, 123, libc::SEEK_SET);
        // A shared read-only mapping of the write-sealed memfd (mapped
        // after the seal, as the seal demands).
        let ro = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            sealed,
            0,
        );
        if ro == libc::MAP_FAILED {
            bail!(
                "mmap of the sealed memfd: {}",
                std::io::Error::last_os_error()
            );
        }
        SEALED_MAP.store(ro as usize, std::sync::atomic::Ordering::Relaxed);
        let path = std::ffi::CString::new(format!("/proc/self/fd/{cache}"))?;
        let reopened = libc::open(path.as_ptr(), libc::O_RDONLY);
        let wake = libc::eventfd(0, 0);
        if reopened < 0 || wake < 0 {
            bail!("reopen or eventfd failed");
        }
        (map as *mut u8, reopened, wake)
    };
    MEMFD_WAKE.store(wake, std::sync::atomic::Ordering::Relaxed);
    on_sigusr1(on_usr1_memfd);
    ready(ready_path)?;
    let mut bad = Vec::new();
    if read_u64(wake) != Some(1) {
        bad.push("the blocked read did not return the handler's 1".into());
    }
    let mut want = data.clone();
    want[10] = 0xee;
    let pread = |fd: i32, len: usize| -> Vec<u8> {
        let mut b = vec![0u8; len];
        // SAFETY: a valid buffer of `len` bytes.
        let n = unsafe { libc::pread(fd, b.as_mut_ptr().cast(), len, 0) };
        b.truncate(n.max(0) as usize);
        b
    };
    if pread(cache, 6000) != want {
        bad.push("cache's contents differ".into());
    }
    if pread(reopened, 6000) != want {
        bad.push("the reopened file's contents differ".into());
    }
    // SAFETY: the mapping is 8192 bytes of a memfd of 5000 bytes: the
    // bytes read and written are within its first page.
    unsafe {
        if *map.add(10) != 0xee || *map.add(4999) != pattern(4999) {
            bad.push("the mapping does not show the contents".into());
        }
        *map.add(20) = 0x77;
    }
    if pread(reopened, 21).get(20) != Some(&0x77) {
        bad.push("a write through the mapping is not seen through the file".into());
    }
    // SAFETY: fcntl, fstat, lseek, write and ftruncate on our own
    // descriptors with valid buffers.
    unsafe {
        let seals = [cache, sealed, plain].map(|fd| libc::fcntl(fd, libc::F_GET_SEALS));
        let want_seals = [
            libc::F_SEAL_GROW | libc::F_SEAL_SHRINK,
            libc::F_SEAL_WRITE | libc::F_SEAL_SEAL,
            libc::F_SEAL_SEAL,
        ];
        if seals != want_seals {
            bad.push(format!("seals {seals:#x?}, not {want_seals:#x?}"));
        }
        if libc::ftruncate(cache, 6000) == 0 {
            bad.push("cache grew past its grow seal".into());
        }
        if libc::write(sealed, b"x".as_ptr().cast(), 1) >= 0 {
            bad.push("sealed took a write past its write seal".into());
        }
        if libc::fcntl(plain, libc::F_ADD_SEALS, libc::F_SEAL_GROW) == 0 {
            bad.push("plain took a seal without sealing allowed".into());
        }
        if pread(sealed, 64) != b"frozen" {
            bad.push("sealed's contents differ".into());
        }
        let ro = SEALED_MAP.load(std::sync::atomic::Ordering::Relaxed) as *const u8;
        if std::slice::from_raw_parts(ro, 6) != b"frozen" {
            bad.push("the mapping of sealed does not show its contents".into());
        }
        let mut a: libc::stat = std::mem::zeroed();
        let mut b: libc::stat = std::mem::zeroed();
        libc::fstat(cache, &mut a);
        libc::fstat(reopened, &mut b);
        if a.st_ino != b.st_ino || a.st_size != 5000 {
            bad.push(format!(
                "cache and its reopen: inodes {} and {}, size {}",
                a.st_ino, b.st_ino, a.st_size
            ));
        }
        let pos = libc::lseek(cache, 0, libc::SEEK_CUR);
        let pos2 = libc::lseek(reopened, 0, libc::SEEK_CUR);
        if (pos, pos2) != (123, 0) {
            bad.push(format!("positions {pos} and {pos2}, not 123 and 0"));
        }
        let acc = libc::fcntl(reopened, libc::F_GETFL) & libc::O_ACCMODE;
        if acc != libc::O_RDONLY {
            bad.push("the reopen is not read-only".into());
        }
        if libc::fcntl(sealed, libc::F_GETFD) & libc::FD_CLOEXEC == 0 {
            bad.push("MFD_CLOEXEC was lost".into());
        }
    }
    let link = std::fs::read_link(format!("/proc/self/fd/{cache}")).unwrap_or_default();
    if link.to_string_lossy() != "/memfd:cache (deleted)" {
        bad.push(format!("cache is {}", link.display()));
    }
    verdict_all(&result, &bad, "memfds")
}

/// A descriptor of shared anonymous memory. Two pages mapped
/// `MAP_SHARED | MAP_ANONYMOUS` with "hello" at the start, opened
/// read-write through `/proc/self/map_files` ("/dev/zero (deleted)") at
/// offset 3, and a second such mapping opened and then unmapped (only the
/// descriptor holds it, "alone" in it). The process is blocked reading an
/// eventfd when it is saved; after the restart it reads "lo" through the
/// first descriptor at its offset, writes "world" through it at the
/// second page and sees it in the mapping (one object), and reads "alone"
/// through the second descriptor.
pub(crate) fn anon_shared_check(ready_path: &Path) -> Result<()> {
    name("anon-shared");
    let (_, result) = go_and_result(ready_path);
    let page = 4096usize;
    let map = |len: usize| -> Result<usize> {
        // SAFETY: a new anonymous shared mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            bail!("mmap: {}", std::io::Error::last_os_error());
        }
        Ok(p as usize)
    };
    let open_map = |addr: usize, len: usize| -> Result<i32> {
        let path =
            std::ffi::CString::new(format!("/proc/self/map_files/{:x}-{:x}", addr, addr + len))?;
        // SAFETY: a valid path.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR) };
        if fd < 0 {
            bail!("open {path:?}: {}", std::io::Error::last_os_error());
        }
        Ok(fd)
    };
    let a = map(2 * page)?;
    let b = map(page)?;
    // SAFETY: writes within the new mappings; lseek, munmap and eventfd on
    // what this process made.
    let (fa, fb, wake) = unsafe {
        std::ptr::copy_nonoverlapping(b"hello".as_ptr(), a as *mut u8, 5);
        std::ptr::copy_nonoverlapping(b"alone".as_ptr(), b as *mut u8, 5);
        let fa = open_map(a, 2 * page)?;
        let fb = open_map(b, page)?;
        libc::lseek(fa, 3, libc::SEEK_SET);
        libc::munmap(b as *mut libc::c_void, page);
        (fa, fb, libc::eventfd(0, 0))
    };
    MEMFD_WAKE.store(wake, std::sync::atomic::Ordering::Relaxed);
    on_sigusr1(on_usr1_memfd);
    ready(ready_path)?;
    let mut bad = Vec::new();
    if read_u64(wake) != Some(1) {
        bad.push("the blocked read did not return the handler's 1".into());
    }
    let mut buf = [0u8; 8];
    // SAFETY: reads and writes of our descriptors into valid buffers; the
    // mapping at `a` is still there.
    unsafe {
        let n = libc::read(fa, buf.as_mut_ptr().cast(), 2);
        if n != 2 || &buf[..2] != b"lo" {
            bad.push(format!(
                "the first descriptor read {:?} at its offset, not \"lo\"",
                &buf[..n.max(0) as usize]
            ));
        }
        if libc::pwrite(fa, b"world".as_ptr().cast(), 5, page as i64) != 5 {
            bad.push(format!("pwrite: {}", std::io::Error::last_os_error()));
        }
        let seen = std::slice::from_raw_parts((a + page) as *const u8, 5);
        if seen != b"world" {
            bad.push(format!(
                "the mapping shows {seen:?} where the descriptor wrote \"world\""
            ));
        }
        let n = libc::pread(fb, buf.as_mut_ptr().cast(), 5, 0);
        if n != 5 || &buf[..5] != b"alone" {
            bad.push(format!(
                "the unmapped one's descriptor read {:?}",
                &buf[..n.max(0) as usize]
            ));
        }
    }
    let link = std::fs::read_link(format!("/proc/self/fd/{fa}")).unwrap_or_default();
    if link.to_string_lossy() != "/dev/zero (deleted)" {
        bad.push(format!("its descriptor names {link:?}"));
    }
    verdict_all(&result, &bad, "descriptors of shared anonymous memory")
}
