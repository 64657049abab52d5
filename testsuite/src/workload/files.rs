//! Open files and pipes: positions, flags, shared open files, bytes in flight.

use super::*;

/// Files, working directory and umask set up before the checkpoint and
/// checked after the restart.
pub(crate) fn files_check(ready_path: &Path) -> Result<()> {
    use nix::fcntl::{fcntl, open, FcntlArg, FdFlag, OFlag};
    use nix::sys::stat::{umask, Mode};
    use nix::unistd::{lseek, Whence};
    name("files");
    let (go, result) = go_and_result(ready_path);
    let base = result.to_string_lossy().replace("result-", "files-");
    let (append_path, offset_path) = (format!("{base}-append"), format!("{base}-offset"));
    std::env::set_current_dir("/tmp")?;
    umask(Mode::from_bits_truncate(0o027));
    let mode = Mode::from_bits_truncate(0o644);
    let append = open(
        append_path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_APPEND,
        mode,
    )?;
    write(&append, b"before\n")?;
    fcntl(&append, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    let offset = open(
        offset_path.as_str(),
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_TRUNC,
        mode,
    )?;
    write(&offset, &[7u8; 100])?;
    lseek(&offset, 37, Whence::SeekSet)?;
    // A path-only descriptor: it must come back O_PATH (fdinfo flags are
    // compared), not opened for reading.
    let opath = open("/tmp", OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let mut bad = Vec::new();
    if std::env::current_dir().ok().as_deref() != Some(Path::new("/tmp")) {
        bad.push("cwd");
    }
    let fl = fcntl(&opath, FcntlArg::F_GETFL).unwrap_or(0);
    if OFlag::from_bits_truncate(fl) & OFlag::O_PATH != OFlag::O_PATH {
        bad.push("O_PATH");
    }
    if umask(Mode::from_bits_truncate(0o022)).bits() != 0o027 {
        bad.push("umask");
    }
    if lseek(&offset, 0, Whence::SeekCur).ok() != Some(37) {
        bad.push("offset");
    }
    let fl = fcntl(&append, FcntlArg::F_GETFL).unwrap_or(0);
    if OFlag::from_bits_truncate(fl) & OFlag::O_APPEND != OFlag::O_APPEND {
        bad.push("O_APPEND");
    }
    let fd = fcntl(&append, FcntlArg::F_GETFD).unwrap_or(0);
    if FdFlag::from_bits_truncate(fd) != FdFlag::FD_CLOEXEC {
        bad.push("FD_CLOEXEC");
    }
    let _ = write(&append, b"after\n");
    if std::fs::read_to_string(&append_path).ok().as_deref() != Some("before\nafter\n") {
        bad.push("appended data");
    }
    if std::fs::read_link("/proc/self/fd/0").ok().as_deref() != Some(Path::new("/dev/null")) {
        bad.push("stdin");
    }
    let ok = bad.is_empty();
    verdict(&result, ok, format!("files wrong={bad:?}"))
}

/// Size given to the pipe with bytes in flight, and how many it holds.
pub(crate) const PIPE_CAPACITY: i32 = 128 * 1024;
pub(crate) const PIPE_IN_FLIGHT: usize = 100_000;

pub(crate) fn pipe_pattern(i: usize) -> u8 {
    (lcg(i as u64) >> 33) as u8
}

/// Three pipes it holds both ends of: one of 128 KiB with 100,000 bytes in
/// flight, one non-blocking with "hello" in it (its write end opened a
/// second time, blocking, through /proc/self/fd: another open file of that
/// end), and an empty one it blocks reading. After the restart a SIGUSR1
/// handler (SA_RESTART) writes a byte into the empty one, the restarted
/// read(2) returns it, and the program checks every pipe: capacity, the
/// bytes in order, the flags, that both ends are still one pipe, and that
/// the second open file writes into the same pipe with its own flags.
pub(crate) fn pipe_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("pipes");
    let (_, result) = go_and_result(ready_path);
    let mut fds = [[0i32; 2]; 3];
    // SAFETY: plain libc calls with valid arguments on this
    // single-threaded process; the handler only writes one byte.
    unsafe {
        for (i, p) in fds.iter_mut().enumerate() {
            let flags = if i == 1 { libc::O_NONBLOCK } else { 0 };
            if libc::pipe2(p.as_mut_ptr(), flags) != 0 {
                bail!("pipe2 failed");
            }
        }
        if libc::fcntl(fds[0][1], libc::F_SETPIPE_SZ, PIPE_CAPACITY) != PIPE_CAPACITY {
            bail!("F_SETPIPE_SZ failed");
        }
        let data: Vec<u8> = (0..PIPE_IN_FLIGHT).map(pipe_pattern).collect();
        if libc::write(fds[0][1], data.as_ptr().cast(), data.len()) != data.len() as isize {
            bail!("filling the pipe failed");
        }
        if libc::write(fds[1][1], b"hello".as_ptr().cast(), 5) != 5 {
            bail!("writing hello failed");
        }
        PIPE_WAKE_FD.store(fds[2][1], std::sync::atomic::Ordering::Relaxed);
        on_sigusr1(on_usr1_wake);
    }
    let proc_path = std::ffi::CString::new(format!("/proc/self/fd/{}", fds[1][1]))?;
    // SAFETY: a valid path; the pipe has a reader, so the open does not
    // block.
    let second = unsafe { libc::open(proc_path.as_ptr(), libc::O_WRONLY) };
    if second < 0 {
        bail!(
            "reopening the write end: {}",
            std::io::Error::last_os_error()
        );
    }
    ready(ready_path)?;
    let mut b = [0u8; 1];
    // SAFETY: reads one byte into a valid buffer; blocks until the
    // handler (after the restart) writes it.
    let n = unsafe { libc::read(fds[2][0], b.as_mut_ptr().cast(), 1) };
    let mut bad = Vec::new();
    if n != 1 || b[0] != b'x' {
        bad.push(format!(
            "read on the empty pipe gave {n} {:?}",
            b[0] as char
        ));
    }
    // SAFETY: plain libc calls on this process's own descriptors.
    unsafe {
        let size = libc::fcntl(fds[0][0], libc::F_GETPIPE_SZ);
        if size != PIPE_CAPACITY {
            bad.push(format!("capacity {size}"));
        }
        let mut got = vec![0u8; PIPE_IN_FLIGHT + 1];
        let mut have = 0;
        while have < PIPE_IN_FLIGHT {
            let n = libc::read(
                fds[0][0],
                got[have..].as_mut_ptr().cast(),
                PIPE_IN_FLIGHT - have,
            );
            if n <= 0 {
                break;
            }
            have += n as usize;
        }
        let wrong = (0..have).filter(|&i| got[i] != pipe_pattern(i)).count();
        if have != PIPE_IN_FLIGHT || wrong != 0 {
            bad.push(format!("{have} bytes in flight, {wrong} wrong"));
        }
        libc::fcntl(fds[0][0], libc::F_SETFL, libc::O_NONBLOCK);
        if libc::read(fds[0][0], got.as_mut_ptr().cast(), 1) != -1 {
            bad.push("more bytes than were in flight".into());
        }
        for (i, p) in fds.iter().enumerate() {
            let rf = libc::fcntl(p[0], libc::F_GETFL);
            let wf = libc::fcntl(p[1], libc::F_GETFL);
            let nb = if i == 1 { libc::O_NONBLOCK } else { 0 };
            let rf_want = libc::O_RDONLY | nb | if i == 0 { libc::O_NONBLOCK } else { 0 };
            if rf & (libc::O_ACCMODE | libc::O_NONBLOCK) != rf_want
                || wf & (libc::O_ACCMODE | libc::O_NONBLOCK) != libc::O_WRONLY | nb
            {
                bad.push(format!("pipe {i} flags {rf:o}/{wf:o}"));
            }
            let (mut a, mut b): (libc::stat, libc::stat) = (std::mem::zeroed(), std::mem::zeroed());
            libc::fstat(p[0], &mut a);
            libc::fstat(p[1], &mut b);
            if a.st_ino != b.st_ino {
                bad.push(format!("pipe {i}: the ends are two pipes"));
            }
        }
        let mut hello = [0u8; 8];
        let n = libc::read(fds[1][0], hello.as_mut_ptr().cast(), 8);
        if n != 5 || &hello[..5] != b"hello" {
            bad.push(format!("non-blocking pipe gave {n} bytes"));
        }
        if libc::read(fds[1][0], hello.as_mut_ptr().cast(), 8) != -1
            || *libc::__errno_location() != libc::EAGAIN
        {
            bad.push("an empty non-blocking pipe did not give EAGAIN".into());
        }
        // The second open file of the write end: blocking, the same pipe.
        let flags = libc::fcntl(second, libc::F_GETFL) & (libc::O_ACCMODE | libc::O_NONBLOCK);
        let (mut a, mut b): (libc::stat, libc::stat) = (std::mem::zeroed(), std::mem::zeroed());
        libc::fstat(second, &mut a);
        libc::fstat(fds[1][0], &mut b);
        if flags != libc::O_WRONLY || a.st_ino != b.st_ino {
            bad.push(format!(
                "the reopened write end: flags {flags:o}, another pipe: {}",
                a.st_ino != b.st_ino
            ));
        }
        let n = libc::write(second, b"!".as_ptr().cast(), 1);
        let m = libc::read(fds[1][0], hello.as_mut_ptr().cast(), 8);
        if n != 1 || m != 1 || hello[0] != b'!' {
            bad.push("a byte written through the reopened end did not come out".into());
        }
    }
    verdict_all(&result, &bad, "pipes")
}

/// One 8-byte read(2) of `fd` (an eventfd's count, a timerfd's
/// expirations): the value, or `None` if the read did not give 8 bytes.
pub(crate) fn read_u64(fd: i32) -> Option<u64> {
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into a valid u64.
    let n = unsafe { nix::libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    (n == 8).then_some(v)
}

/// The eventfd a SIGUSR1 handler writes to, waking the blocked read.
static EVENTFD_WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_eventfd(_: i32) {
    let one = 1u64;
    // SAFETY: write(2) is async-signal-safe; the buffer is 8 valid bytes.
    unsafe {
        nix::libc::write(
            EVENTFD_WAKE.load(std::sync::atomic::Ordering::Relaxed),
            (&one as *const u64).cast(),
            8,
        )
    };
}

/// Eventfds: one in semaphore mode with a count of 5 and a second
/// descriptor (dup) on it, one non-blocking holding a count past 32 bits,
/// and an empty one this process is blocked reading when it is saved.
/// After the restart a SIGUSR1 handler writes 1 to the empty one; the
/// read returns it, and the process checks every count, the semaphore
/// mode, the sharing of the dup and the flags.
pub(crate) fn eventfd_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("eventfds");
    let (_, result) = go_and_result(ready_path);
    const BIG: u64 = 0x1_0000_0002;
    // SAFETY: plain libc calls with valid arguments on this
    // single-threaded process; the handler only writes 8 bytes.
    let (sem, sem2, big, wake) = unsafe {
        let sem = libc::eventfd(5, libc::EFD_SEMAPHORE);
        let big = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
        let wake = libc::eventfd(0, 0);
        if sem < 0 || big < 0 || wake < 0 {
            bail!("eventfd failed");
        }
        let sem2 = libc::dup(sem);
        if libc::write(big, (&BIG as *const u64).cast(), 8) != 8 {
            bail!("writing the big count failed");
        }
        EVENTFD_WAKE.store(wake, std::sync::atomic::Ordering::Relaxed);
        on_sigusr1(on_usr1_eventfd);
        (sem, sem2, big, wake)
    };
    ready(ready_path)?;
    let read = read_u64;
    let mut bad = Vec::new();
    // Blocks until the handler (after the restart) writes 1.
    let woke = read(wake);
    if woke != Some(1) {
        bad.push(format!("the blocked read gave {woke:?}"));
    }
    // Semaphore mode: each read takes 1, through either descriptor.
    let sem_reads = [read(sem), read(sem2), read(sem)];
    if sem_reads != [Some(1); 3] {
        bad.push(format!("semaphore reads {sem_reads:?}"));
    }
    // SAFETY: fcntl and a non-blocking read on our own descriptors.
    unsafe {
        libc::fcntl(sem, libc::F_SETFL, libc::O_NONBLOCK);
        let left = [read(sem2), read(sem2), read(sem)];
        if left != [Some(1), Some(1), None] {
            bad.push(format!(
                "the semaphore held {left:?} after 3 reads (5 then)"
            ));
        }
        let got = read(big);
        if got != Some(BIG) {
            bad.push(format!("the big count read {got:?}"));
        }
        if read(big).is_some() || *libc::__errno_location() != libc::EAGAIN {
            bad.push("the emptied non-blocking eventfd did not give EAGAIN".into());
        }
        let flags = [sem, big, wake].map(|fd| libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK);
        if flags != [libc::O_NONBLOCK, libc::O_NONBLOCK, 0] {
            bad.push(format!("O_NONBLOCK of the three: {flags:?}"));
        }
        if libc::fcntl(big, libc::F_GETFD) & libc::FD_CLOEXEC == 0 {
            bad.push("the EFD_CLOEXEC descriptor lost close-on-exec".into());
        }
    }
    verdict_all(&result, &bad, "eventfds")
}

/// The writer of the FIFO a SIGUSR1 handler writes to, waking the read.
static FIFO_WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_fifo(_: i32) {
    // SAFETY: write(2) is async-signal-safe; one valid byte.
    unsafe {
        nix::libc::write(
            FIFO_WAKE.load(std::sync::atomic::Ordering::Relaxed),
            b"x".as_ptr().cast(),
            1,
        )
    };
}

/// Named pipes: FIFO A (64 KiB) holds 10,000 bytes written through one
/// writer, with a non-blocking reader and a second writer opened on the
/// path; FIFO B is empty and this process is blocked reading it when it is
/// saved. After the restart a SIGUSR1 handler writes a byte into B; the
/// read returns it, and the process checks A's bytes in order, its
/// capacity, that both writers and the reader are on one pipe still (a
/// byte written through the second writer comes out of the reader), and
/// the flags.
pub(crate) fn fifo_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("fifos");
    let (_, result) = go_and_result(ready_path);
    let dir = ready_path.parent().unwrap_or(Path::new("/tmp"));
    let stem = ready_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("fifo");
    let a = std::ffi::CString::new(format!("{}/{stem}-fifo-a", dir.display()))?;
    let b = std::ffi::CString::new(format!("{}/{stem}-fifo-b", dir.display()))?;
    // SAFETY: plain libc calls with valid NUL-terminated paths and buffers
    // on this single-threaded process; the handler writes one byte.
    let (a_r, a_w, a_w2, b_r) = unsafe {
        for p in [&a, &b] {
            libc::unlink(p.as_ptr());
            if libc::mkfifo(p.as_ptr(), 0o600) != 0 {
                bail!("mkfifo failed");
            }
        }
        let a_r = libc::open(a.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK);
        let a_w = libc::open(a.as_ptr(), libc::O_WRONLY);
        let a_w2 = libc::open(a.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        let b_r = libc::open(b.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK);
        let b_w = libc::open(b.as_ptr(), libc::O_WRONLY);
        if [a_r, a_w, a_w2, b_r, b_w].iter().any(|&fd| fd < 0) {
            bail!("opening the FIFOs failed");
        }
        // B's reader blocks from now on.
        libc::fcntl(b_r, libc::F_SETFL, 0);
        if libc::fcntl(a_w, libc::F_SETPIPE_SZ, PIPE_CAPACITY) != PIPE_CAPACITY {
            bail!("F_SETPIPE_SZ failed");
        }
        let data: Vec<u8> = (0..FIFO_IN_FLIGHT).map(pipe_pattern).collect();
        if libc::write(a_w, data.as_ptr().cast(), data.len()) != data.len() as isize {
            bail!("filling FIFO A failed");
        }
        FIFO_WAKE.store(b_w, std::sync::atomic::Ordering::Relaxed);
        on_sigusr1(on_usr1_fifo);
        (a_r, a_w, a_w2, b_r)
    };
    ready(ready_path)?;
    let mut bad = Vec::new();
    let mut byte = [0u8; 1];
    // SAFETY: reads into valid buffers of this process's own descriptors.
    unsafe {
        let n = libc::read(b_r, byte.as_mut_ptr().cast(), 1);
        if n != 1 || byte[0] != b'x' {
            bad.push(format!("the blocked read of FIFO B gave {n}"));
        }
        if libc::fcntl(a_r, libc::F_GETPIPE_SZ) != PIPE_CAPACITY {
            bad.push("FIFO A lost its capacity".into());
        }
        let mut got = vec![0u8; FIFO_IN_FLIGHT + 1];
        let mut have = 0;
        while have < FIFO_IN_FLIGHT {
            let n = libc::read(a_r, got[have..].as_mut_ptr().cast(), FIFO_IN_FLIGHT - have);
            if n <= 0 {
                break;
            }
            have += n as usize;
        }
        let wrong = (0..have).filter(|&i| got[i] != pipe_pattern(i)).count();
        if have != FIFO_IN_FLIGHT || wrong != 0 {
            bad.push(format!("{have} bytes in FIFO A, {wrong} wrong"));
        }
        if libc::read(a_r, got.as_mut_ptr().cast(), 1) != -1
            || *libc::__errno_location() != libc::EAGAIN
        {
            bad.push("FIFO A held more than was written".into());
        }
        if libc::write(a_w2, b"y".as_ptr().cast(), 1) != 1
            || libc::read(a_r, byte.as_mut_ptr().cast(), 1) != 1
            || byte[0] != b'y'
        {
            bad.push("the second writer is not on FIFO A's pipe".into());
        }
        let flags = [a_r, a_w, a_w2, b_r]
            .map(|fd| libc::fcntl(fd, libc::F_GETFL) & (libc::O_ACCMODE | libc::O_NONBLOCK));
        let want = [
            libc::O_RDONLY | libc::O_NONBLOCK,
            libc::O_WRONLY,
            libc::O_WRONLY,
            libc::O_RDONLY,
        ];
        if flags != want {
            bad.push(format!("flags {flags:?}, want {want:?}"));
        }
        if libc::fcntl(a_w2, libc::F_GETFD) & libc::FD_CLOEXEC == 0 {
            bad.push("the O_CLOEXEC writer lost close-on-exec".into());
        }
        libc::unlink(a.as_ptr());
        libc::unlink(b.as_ptr());
    }
    verdict_all(&result, &bad, "fifos")
}

/// Bytes in FIFO A when it is saved.
const FIFO_IN_FLIGHT: usize = 10_000;
