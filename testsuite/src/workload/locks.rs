//! The file lock workload: locks of every kind, checked from another
//! process after the restart.

use super::{go_and_result, name, on_sigusr1, ready, verdict_all};
use anyhow::{bail, Result};
use nix::libc;
use std::path::Path;

/// The descriptor holding a shared flock that a SIGUSR1 handler unlocks,
/// letting the blocked exclusive flock through.
static LOCKS_WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_locks(_: i32) {
    // SAFETY: flock(2) is async-signal-safe.
    unsafe {
        libc::flock(
            LOCKS_WAKE.load(std::sync::atomic::Ordering::Relaxed),
            libc::LOCK_UN,
        )
    };
}

fn open(path: &str, flags: i32) -> Result<i32> {
    let c = std::ffi::CString::new(path)?;
    // SAFETY: a valid path.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        bail!("open {path}: {}", std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn setlk(fd: i32, cmd: i32, ty: i32, start: i64, len: i64) -> Result<()> {
    // SAFETY: all-zero is a valid flock.
    let mut f: libc::flock = unsafe { std::mem::zeroed() };
    f.l_type = ty as i16;
    f.l_whence = libc::SEEK_SET as i16;
    f.l_start = start;
    f.l_len = len;
    // SAFETY: a valid flock on our own descriptor.
    if unsafe { libc::fcntl(fd, cmd, &f) } != 0 {
        bail!(
            "fcntl({cmd}) on fd {fd}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// What F_GETLK (or F_OFD_GETLK) says of a lock of type `ty` on the
/// range: the conflicting lock's type and pid, or unlocked.
fn getlk(fd: i32, cmd: i32, ty: i32, start: i64, len: i64) -> String {
    // SAFETY: all-zero is a valid flock.
    let mut f: libc::flock = unsafe { std::mem::zeroed() };
    f.l_type = ty as i16;
    f.l_whence = libc::SEEK_SET as i16;
    f.l_start = start;
    f.l_len = len;
    // SAFETY: a valid flock on our own descriptor.
    if unsafe { libc::fcntl(fd, cmd, &mut f) } != 0 {
        return format!("error {}", std::io::Error::last_os_error());
    }
    match i32::from(f.l_type) {
        libc::F_UNLCK => "unlocked".into(),
        libc::F_RDLCK => format!("read lock of {}", f.l_pid),
        _ => format!("write lock of {}", f.l_pid),
    }
}

/// File locks. On a data file: a POSIX write lock on bytes 0-99 through
/// one descriptor, a POSIX read lock on bytes 200-999 through a second
/// open, an OFD write lock from byte 1000 to the end through a third. On
/// a second file: a shared flock through one open (and its dup), and this
/// process blocked taking an exclusive flock through another open when it
/// is saved. After the restart a SIGUSR1 handler drops the shared flock;
/// the exclusive one goes through, and a child (another lock owner)
/// checks every lock with F_GETLK, F_OFD_GETLK and flock(LOCK_NB).
pub(crate) fn locks_check(ready_path: &Path) -> Result<()> {
    name("locks");
    let (_, result) = go_and_result(ready_path);
    let base = ready_path.to_string_lossy().replace("ready-", "locks-");
    let data = format!("{base}.dat");
    let flk = format!("{base}.flk");
    let a = open(&data, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC)?;
    // SAFETY: ftruncate on our own descriptor.
    unsafe { libc::ftruncate(a, 4096) };
    let b = open(&data, libc::O_RDONLY)?;
    let c = open(&data, libc::O_RDWR)?;
    setlk(a, libc::F_SETLK, libc::F_WRLCK, 0, 100)?;
    setlk(b, libc::F_SETLK, libc::F_RDLCK, 200, 800)?;
    setlk(c, libc::F_OFD_SETLK, libc::F_WRLCK, 1000, 0)?;
    let d = open(&flk, libc::O_RDWR | libc::O_CREAT)?;
    // SAFETY: flock and dup on our own descriptors.
    let e = unsafe {
        if libc::flock(d, libc::LOCK_SH) != 0 {
            bail!("flock: {}", std::io::Error::last_os_error());
        }
        libc::dup(d);
        open(&flk, libc::O_RDWR)?
    };
    LOCKS_WAKE.store(d, std::sync::atomic::Ordering::Relaxed);
    on_sigusr1(on_usr1_locks);
    ready(ready_path)?;
    let mut bad = Vec::new();
    // Blocks until the handler (after the restart) drops the shared lock.
    // SAFETY: flock on our own descriptor.
    if unsafe { libc::flock(e, libc::LOCK_EX) } != 0 {
        bad.push(format!(
            "the blocked flock failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    let me = std::process::id();
    // Another owner looks: a child process with opens of its own.
    let (rd, wr) = nix::unistd::pipe()?;
    // SAFETY: the child only makes system calls and exits.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            let mut out = Vec::new();
            let check = |out: &mut Vec<String>| -> Result<()> {
                let f = open(&data, libc::O_RDWR)?;
                out.push(getlk(f, libc::F_GETLK, libc::F_WRLCK, 0, 100));
                out.push(getlk(f, libc::F_GETLK, libc::F_WRLCK, 300, 10));
                out.push(getlk(f, libc::F_GETLK, libc::F_RDLCK, 300, 10));
                out.push(getlk(f, libc::F_GETLK, libc::F_WRLCK, 120, 50));
                out.push(getlk(f, libc::F_OFD_GETLK, libc::F_RDLCK, 5000, 1));
                let g = open(&flk, libc::O_RDWR)?;
                // SAFETY: flock on our own descriptor.
                let r = unsafe { libc::flock(g, libc::LOCK_SH | libc::LOCK_NB) };
                let errno = std::io::Error::last_os_error().raw_os_error();
                out.push(format!(
                    "flock {}",
                    if r == 0 {
                        "taken".into()
                    } else {
                        format!("errno {errno:?}")
                    }
                ));
                Ok(())
            };
            if let Err(e) = check(&mut out) {
                out.push(format!("{e}"));
            }
            let _ = nix::unistd::write(&wr, out.join("\n").as_bytes());
            // SAFETY: leaves the child at once.
            unsafe { libc::_exit(0) };
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let mut s = String::new();
            let mut buf = [0u8; 1024];
            while let Ok(n) = nix::unistd::read(&rd, &mut buf) {
                if n == 0 {
                    break;
                }
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            let _ = nix::sys::wait::waitpid(child, None);
            let want = [
                format!("write lock of {me}"),
                format!("read lock of {me}"),
                "unlocked".to_string(),
                "unlocked".to_string(),
                "write lock of -1".to_string(),
                format!("flock errno {:?}", Some(libc::EWOULDBLOCK)),
            ];
            let got: Vec<&str> = s.lines().collect();
            if got != want.iter().map(String::as_str).collect::<Vec<_>>() {
                bad.push(format!("another owner sees {got:?}, not {want:?}"));
            }
        }
    }
    verdict_all(&result, &bad, "file locks")
}
