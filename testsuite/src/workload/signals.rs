//! Signals, timers and interrupted calls: handlers, masks, altstacks, pending
//! signals, itimers, nanosleep, futex waits, sigsuspend.

use super::*;

pub(crate) static USR1_ON_ALTSTACK: std::sync::atomic::AtomicI32 =
    std::sync::atomic::AtomicI32::new(-1);
pub(crate) static TERM_VALUE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
pub(crate) static HUP_COUNT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
pub(crate) static ALTSTACK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
pub(crate) const ALTSTACK_SIZE: usize = 64 * 1024;

pub(crate) extern "C" fn on_usr1(_: i32) {
    let local = 0u8;
    let here = std::ptr::addr_of!(local) as usize;
    let base = ALTSTACK.load(std::sync::atomic::Ordering::Relaxed);
    let on = (base..base + ALTSTACK_SIZE).contains(&here);
    USR1_ON_ALTSTACK.store(on as i32, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) extern "C" fn on_term(
    _: i32,
    info: *mut nix::libc::siginfo_t,
    _: *mut std::ffi::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let v = unsafe { (*info).si_value().sival_ptr as usize as i32 };
    TERM_VALUE.store(v, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) extern "C" fn on_hup(_: i32) {
    HUP_COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Signal state set up before the checkpoint and checked after the
/// restart: a handler on an alternate stack, an ignored signal, a blocked
/// signal pending for the process with a queued value, and a blocked
/// signal pending for the thread.
pub(crate) fn signals_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    use std::sync::atomic::Ordering::Relaxed;
    name("signals");
    let (go, result) = go_and_result(ready_path);
    // SAFETY: plain libc calls on this single-threaded process with valid
    // arguments; the handlers only touch atomics.
    unsafe {
        let stack = Box::leak(vec![0u8; ALTSTACK_SIZE].into_boxed_slice());
        ALTSTACK.store(stack.as_mut_ptr() as usize, Relaxed);
        let ss = libc::stack_t {
            ss_sp: stack.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: ALTSTACK_SIZE,
        };
        if libc::sigaltstack(&ss, std::ptr::null_mut()) != 0 {
            bail!("sigaltstack failed");
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = libc::SA_ONSTACK;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        sa.sa_sigaction = libc::SIG_IGN;
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
        sa.sa_sigaction = on_term as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        sa.sa_sigaction = on_hup as *const () as usize;
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGHUP, &sa, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        // Pending for the process, with a value; pending for this thread.
        let value = libc::sigval {
            sival_ptr: 42usize as *mut libc::c_void,
        };
        libc::sigqueue(libc::getpid(), libc::SIGTERM, value);
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::gettid(),
            libc::SIGHUP,
        );
    }
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let mut bad = Vec::new();
    // SAFETY: as above.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGUSR2, std::ptr::null(), &mut old);
        if old.sa_sigaction != libc::SIG_IGN {
            bad.push("SIGUSR2 ignored");
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
        if libc::sigismember(&set, libc::SIGTERM) != 1 || libc::sigismember(&set, libc::SIGHUP) != 1
        {
            bad.push("blocked mask");
        }
        let mut pend: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pend);
        if libc::sigismember(&pend, libc::SIGTERM) != 1
            || libc::sigismember(&pend, libc::SIGHUP) != 1
        {
            bad.push("pending");
        }
        libc::raise(libc::SIGUSR1);
        if USR1_ON_ALTSTACK.load(Relaxed) != 1 {
            bad.push("handler on the altstack");
        }
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        if TERM_VALUE.load(Relaxed) != 42 {
            bad.push("queued SIGTERM value");
        }
        if HUP_COUNT.load(Relaxed) != 1 {
            bad.push("thread-directed SIGHUP");
        }
    }
    let ok = bad.is_empty();
    verdict(&result, ok, format!("signals wrong={bad:?}"))
}

/// Blocked in futex(2) FUTEX_WAIT on a word nobody wakes.
pub(crate) fn futex_wait(ready_path: &Path) -> Result<()> {
    name("futex");
    let word = Box::leak(Box::new(0u32));
    ready(ready_path)?;
    loop {
        // SAFETY: waits on a valid, leaked word while it is 0.
        unsafe {
            nix::libc::syscall(
                nix::libc::SYS_futex,
                word as *mut u32,
                nix::libc::FUTEX_WAIT | nix::libc::FUTEX_PRIVATE_FLAG,
                0u32,
                std::ptr::null::<nix::libc::timespec>(),
            )
        };
    }
}

/// One nanosleep(2) of 3 s, checkpointed and restarted in the middle: it
/// must return 0 (not EINTR) after at least 3 s in all.
pub(crate) fn nanosleep_once(ready_path: &Path) -> Result<()> {
    name("nanosleep");
    let (_, result) = go_and_result(ready_path);
    ready(ready_path)?;
    let start = std::time::Instant::now();
    let req = nix::libc::timespec {
        tv_sec: 3,
        tv_nsec: 0,
    };
    let mut rem = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespecs.
    let ret = unsafe { nix::libc::nanosleep(&req, &mut rem) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let slept = start.elapsed();
    let ok = ret == 0 && slept >= std::time::Duration::from_secs(3);
    verdict(
        &result,
        ok,
        format!(
            "nanosleep returned {} (errno {}) slept>=3s={}",
            ret,
            if ret == 0 { 0 } else { errno },
            slept.as_secs() >= 3
        ),
    )
}

/// A poll(2) of an eventfd nobody writes, with a 3 s timeout, interrupted
/// by the checkpoint: after the restart it must go on waiting for the time
/// it had left and time out (0), never fail with `EINTR`.
pub(crate) fn poll_once(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("poll");
    let (_, result) = go_and_result(ready_path);
    // SAFETY: a plain call.
    let efd = unsafe { libc::eventfd(0, 0) };
    if efd < 0 {
        anyhow::bail!("eventfd: {}", std::io::Error::last_os_error());
    }
    ready(ready_path)?;
    let start = std::time::Instant::now();
    let mut pfd = libc::pollfd {
        fd: efd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ret = unsafe { libc::poll(&mut pfd, 1, 3000) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let waited = start.elapsed();
    let ok = ret == 0 && pfd.revents == 0 && waited >= std::time::Duration::from_secs(3);
    verdict(
        &result,
        ok,
        format!(
            "poll returned {} (errno {}) revents {} waited>=3s={}",
            ret,
            if ret < 0 { errno } else { 0 },
            pfd.revents,
            waited.as_secs() >= 3
        ),
    )
}

pub(crate) static ALARMS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

pub(crate) extern "C" fn on_alarm(_: i32) {
    ALARMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// An ITIMER_REAL of 1.5 s armed before the checkpoint must fire once
/// after the restart.
pub(crate) fn itimer_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    use std::sync::atomic::Ordering::Relaxed;
    name("itimer");
    let (go, result) = go_and_result(ready_path);
    // SAFETY: installs a handler that only touches an atomic, then arms
    // the timer with a valid itimerval.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as usize;
        libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
        let it = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: 1,
                tv_usec: 500_000,
            },
        };
        libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut());
    }
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let before = ALARMS.load(Relaxed);
    let start = std::time::Instant::now();
    while ALARMS.load(Relaxed) == 0 && start.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::yield_now();
    }
    let fired = ALARMS.load(Relaxed);
    verdict(
        &result,
        before == 0 && fired == 1,
        format!("itimer fired_before_go={before} fired={fired}"),
    )
}

/// Runs workload `kind`; never returns unless setting up failed.
/// Write end of the pipe `pipe_check` blocks on, for its SIGUSR1 handler.
pub(crate) static PIPE_WAKE_FD: std::sync::atomic::AtomicI32 =
    std::sync::atomic::AtomicI32::new(-1);

pub(crate) extern "C" fn on_usr1_wake(_: nix::libc::c_int) {
    let fd = PIPE_WAKE_FD.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: write(2) is async-signal-safe; one byte from a static.
    unsafe { nix::libc::write(fd, b"x".as_ptr().cast(), 1) };
}

pub(crate) static SUSPEND_WOKEN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

pub(crate) extern "C" fn on_usr1_woken(_: nix::libc::c_int) {
    SUSPEND_WOKEN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Waits in sigsuspend(2) with a mask of the call's own (only SIGUSR2
/// blocked) while its own blocks SIGTERM and SIGHUP. Frozen inside the
/// call, the task runs with the call's mask and keeps its own aside;
/// after the restart, woken by SIGUSR1, it must find its own mask again.
pub(crate) fn sigsuspend_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("sigsuspend");
    let (_, result) = go_and_result(ready_path);
    // SAFETY: plain libc calls with valid arguments; the handler only
    // stores to an atomic.
    let got = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1_woken as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        let mut own: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut own);
        libc::sigaddset(&mut own, libc::SIGTERM);
        libc::sigaddset(&mut own, libc::SIGHUP);
        libc::sigaddset(&mut own, libc::SIGUSR1);
        libc::sigprocmask(libc::SIG_SETMASK, &own, std::ptr::null_mut());
        let mut during: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut during);
        libc::sigaddset(&mut during, libc::SIGUSR2);
        ready(ready_path)?;
        while !SUSPEND_WOKEN.load(std::sync::atomic::Ordering::Relaxed) {
            libc::sigsuspend(&during);
        }
        let mut now: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, std::ptr::null(), &mut now);
        [
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGINT,
        ]
        .map(|s| libc::sigismember(&now, s) == 1)
    };
    let want = [true, true, true, false, false];
    verdict(
        &result,
        got == want,
        format!("mask after sigsuspend (TERM HUP USR1 USR2 INT blocked): {got:?}"),
    )
}

/// Signalfds: SIGUSR1 and SIGUSR2 blocked, a blocking signalfd for
/// SIGUSR1 this process is reading when it is saved, and a non-blocking
/// one (close-on-exec) for SIGUSR2 with a SIGUSR2 already pending. After
/// the restart the scenario sends SIGUSR1: the read returns it; then the
/// pending SIGUSR2 is read from the other signalfd, which is empty after
/// that (EAGAIN), and the masks and flags are checked.
pub(crate) fn signalfd_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("signalfds");
    let (_, result) = go_and_result(ready_path);
    // SAFETY: plain libc calls with valid arguments on this
    // single-threaded process.
    let (wait_fd, nb_fd) = unsafe {
        let mut both: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut both);
        libc::sigaddset(&mut both, libc::SIGUSR1);
        libc::sigaddset(&mut both, libc::SIGUSR2);
        libc::sigprocmask(libc::SIG_BLOCK, &both, std::ptr::null_mut());
        let mut one: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut one);
        libc::sigaddset(&mut one, libc::SIGUSR1);
        let wait_fd = libc::signalfd(-1, &one, 0);
        libc::sigemptyset(&mut one);
        libc::sigaddset(&mut one, libc::SIGUSR2);
        let nb_fd = libc::signalfd(-1, &one, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if wait_fd < 0 || nb_fd < 0 {
            bail!("signalfd failed");
        }
        libc::kill(libc::getpid(), libc::SIGUSR2);
        (wait_fd, nb_fd)
    };
    ready(ready_path)?;
    let read = |fd: i32| -> Option<u32> {
        // SAFETY: reads one signalfd_siginfo into a zeroed struct of its size.
        unsafe {
            let mut info: libc::signalfd_siginfo = std::mem::zeroed();
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            let n = libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size);
            (n == size as isize).then_some(info.ssi_signo)
        }
    };
    let mut bad = Vec::new();
    // Blocks until the scenario sends SIGUSR1 (after the restart).
    let got = read(wait_fd);
    if got != Some(libc::SIGUSR1 as u32) {
        bad.push(format!("the blocked read gave {got:?}"));
    }
    let got = read(nb_fd);
    if got != Some(libc::SIGUSR2 as u32) {
        bad.push(format!("the pending SIGUSR2 read as {got:?}"));
    }
    // SAFETY: errno and fcntl of this process's own descriptors.
    unsafe {
        if read(nb_fd).is_some() || *libc::__errno_location() != libc::EAGAIN {
            bad.push("the emptied non-blocking signalfd did not give EAGAIN".into());
        }
        let nb = [wait_fd, nb_fd].map(|fd| libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK);
        if nb != [0, libc::O_NONBLOCK] {
            bad.push(format!("O_NONBLOCK of the two: {nb:?}"));
        }
        if libc::fcntl(nb_fd, libc::F_GETFD) & libc::FD_CLOEXEC == 0 {
            bad.push("the SFD_CLOEXEC descriptor lost close-on-exec".into());
        }
        // Nothing else is pending, and the two stay blocked.
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        if libc::sigismember(&pending, libc::SIGUSR1) == 1
            || libc::sigismember(&pending, libc::SIGUSR2) == 1
        {
            bad.push("a signal read through a signalfd is still pending".into());
        }
    }
    verdict_all(&result, &bad, "signalfds")
}

/// The timerfd a SIGUSR1 handler arms to go off at once, ending the read.
static TIMERFD_WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_timerfd(_: i32) {
    use nix::libc;
    let now = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: 0,
            tv_nsec: 1,
        },
    };
    // SAFETY: a system call on this process's own timerfd with a valid
    // struct (async-signal-safe in practice: no locks in user space).
    unsafe {
        libc::timerfd_settime(
            TIMERFD_WAKE.load(std::sync::atomic::Ordering::Relaxed),
            0,
            &now,
            std::ptr::null_mut(),
        )
    };
}

/// Timerfds: a one-shot monotonic timer that has gone off and not been
/// read (non-blocking), one armed for 30 s, a periodic boottime one every
/// 200 ms (close-on-exec), and one armed for an hour that this process is
/// reading when it is saved. After the restart a SIGUSR1 handler sets that
/// one to go off at once; the read returns 1 expiration, and the process
/// checks the unread expiration, the time left (20 to 30 s), the period
/// and the flags.
pub(crate) fn timerfd_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("timerfds");
    let (_, result) = go_and_result(ready_path);
    let spec = |value_ms: i64, interval_ms: i64| libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: interval_ms / 1000,
            tv_nsec: (interval_ms % 1000) * 1_000_000,
        },
        it_value: libc::timespec {
            tv_sec: value_ms / 1000,
            tv_nsec: (value_ms % 1000) * 1_000_000,
        },
    };
    // SAFETY: plain libc calls with valid arguments on this
    // single-threaded process.
    let (fired, long, periodic, wait) = unsafe {
        let fired = libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK);
        let long = libc::timerfd_create(libc::CLOCK_MONOTONIC, 0);
        let periodic = libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_CLOEXEC);
        let wait = libc::timerfd_create(libc::CLOCK_MONOTONIC, 0);
        if [fired, long, periodic, wait].iter().any(|&fd| fd < 0) {
            bail!("timerfd_create failed");
        }
        for (fd, s) in [
            (fired, spec(1, 0)),
            (long, spec(30_000, 0)),
            (periodic, spec(200, 200)),
            (wait, spec(3_600_000, 0)),
        ] {
            if libc::timerfd_settime(fd, 0, &s, std::ptr::null_mut()) != 0 {
                bail!("timerfd_settime failed");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        TIMERFD_WAKE.store(wait, std::sync::atomic::Ordering::Relaxed);
        on_sigusr1(on_usr1_timerfd);
        (fired, long, periodic, wait)
    };
    ready(ready_path)?;
    let read = read_u64;
    let mut bad = Vec::new();
    // Blocks until the handler (after the restart) makes it go off.
    let got = read(wait);
    if got != Some(1) {
        bad.push(format!("the blocked read gave {got:?}"));
    }
    let got = read(fired);
    if got != Some(1) {
        bad.push(format!("the unread one-shot expiration read as {got:?}"));
    }
    // SAFETY: errno, timerfd_gettime and fcntl on our own descriptors.
    unsafe {
        if read(fired).is_some() || *libc::__errno_location() != libc::EAGAIN {
            bad.push("the read one-shot timerfd did not give EAGAIN".into());
        }
        let mut cur: libc::itimerspec = std::mem::zeroed();
        libc::timerfd_gettime(long, &mut cur);
        let left = cur.it_value.tv_sec;
        if !(20..30).contains(&left) || cur.it_interval.tv_sec != 0 {
            bad.push(format!("the 30 s timer has {left} s left"));
        }
        libc::timerfd_gettime(periodic, &mut cur);
        if cur.it_interval.tv_sec != 0 || cur.it_interval.tv_nsec != 200_000_000 {
            bad.push(format!("the period is {:?}", cur.it_interval.tv_nsec));
        }
        if read(periodic).is_none_or(|n| n == 0) {
            bad.push("the periodic timer does not go off".into());
        }
        let nb =
            [fired, long, periodic].map(|fd| libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK);
        if nb != [libc::O_NONBLOCK, 0, 0] {
            bad.push(format!("O_NONBLOCK of the three: {nb:?}"));
        }
        if libc::fcntl(periodic, libc::F_GETFD) & libc::FD_CLOEXEC == 0 {
            bad.push("the TFD_CLOEXEC descriptor lost close-on-exec".into());
        }
    }
    verdict_all(&result, &bad, "timerfds")
}

/// A futex wait with a 3 s timeout nobody wakes, interrupted by the
/// checkpoint: after the restart it must go on waiting for the time it had
/// left and time out (`ETIMEDOUT`), never fail with `EINTR`.
pub(crate) fn futex_timed(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("futex-timed");
    let (_, result) = go_and_result(ready_path);
    let word = std::sync::atomic::AtomicU32::new(0);
    ready(ready_path)?;
    let start = std::time::Instant::now();
    let ts = libc::timespec {
        tv_sec: 3,
        tv_nsec: 0,
    };
    // SAFETY: a futex word that lives through the call, a valid timespec.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            0,
            &ts,
            std::ptr::null::<u32>(),
            0,
        )
    };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let waited = start.elapsed();
    let ok = ret == -1 && errno == libc::ETIMEDOUT && waited >= std::time::Duration::from_secs(3);
    verdict(
        &result,
        ok,
        format!(
            "futex wait returned {ret} (errno {}) waited>=3s={}",
            if ret == 0 { 0 } else { errno },
            waited.as_secs() >= 3
        ),
    )
}
