//! POSIX timers (`timer_create(2)`): ids, clocks, notifications, time
//! left, overruns and pending timer signals across a restart.

use super::*;
use nix::libc;

/// The kernel's `struct sigevent` (64 bytes on x86_64).
#[repr(C)]
struct KSigevent {
    value: u64,
    signo: i32,
    notify: i32,
    tid: i32,
    _pad: [i32; 11],
}

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;

/// timer_create(2) without the C library's wrapping: the kernel's id.
fn create(clock: i32, notify: i32, signo: i32, value: u64, tid: i32) -> Result<i32> {
    let ev = KSigevent {
        value,
        signo,
        notify,
        tid,
        _pad: [0; 11],
    };
    let mut id: i32 = -1;
    // SAFETY: valid pointers to a sigevent and an int.
    let r = unsafe { libc::syscall(libc::SYS_timer_create, clock, &ev, &mut id) };
    anyhow::ensure!(
        r == 0,
        "timer_create(clock {clock}): {}",
        std::io::Error::last_os_error()
    );
    Ok(id)
}

fn ts(ns: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: ns / 1_000_000_000,
        tv_nsec: ns % 1_000_000_000,
    }
}

fn settime(id: i32, flags: i32, value: libc::timespec, interval_ns: i64) -> Result<()> {
    let it = libc::itimerspec {
        it_interval: ts(interval_ns),
        it_value: value,
    };
    // SAFETY: a valid itimerspec; no old value asked for.
    let r = unsafe {
        libc::syscall(
            libc::SYS_timer_settime,
            id,
            flags,
            &it,
            std::ptr::null_mut::<libc::itimerspec>(),
        )
    };
    anyhow::ensure!(
        r == 0,
        "timer_settime({id}): {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// Time left to the next expiry, in ns, or the errno.
fn left(id: i32) -> std::result::Result<i64, i32> {
    // SAFETY: all-zero is a valid itimerspec, which the call fills.
    let mut it: libc::itimerspec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to fill.
    let r = unsafe { libc::syscall(libc::SYS_timer_gettime, id, &mut it) };
    if r != 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(it.it_value.tv_sec * 1_000_000_000 + it.it_value.tv_nsec)
}

fn gettid() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Waits up to `ms` for `sig` (blocked) and returns (si_code, timer id,
/// overrun, value) of the siginfo, or None.
fn wait_sig(sig: i32, ms: i64) -> Option<(i32, i32, i32, u64)> {
    // SAFETY: plain libc calls on local, initialized values; the siginfo's
    // timer fields are read through the kernel's layout (si_tid at 16,
    // si_overrun at 20, si_value at 24).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let t = ts(ms * 1_000_000);
        if libc::sigtimedwait(&set, &mut info, &t) != sig {
            return None;
        }
        let p = std::ptr::addr_of!(info).cast::<u8>();
        let tid = p.add(16).cast::<i32>().read_unaligned();
        let overrun = p.add(20).cast::<i32>().read_unaligned();
        let value = p.add(24).cast::<u64>().read_unaligned();
        Some((info.si_code, tid, overrun, value))
    }
}

const SI_TIMER: i32 = -2;

/// Five timers on five clocks, one of them with its signal pending and
/// overruns counting, one aimed at a thread, one on that thread's CPU
/// clock; the id after them taken and freed. After the restart each must
/// be there with its id and time left, the pending signal must come with
/// its overrun and the timer re-arm on delivery, the thread's timer must
/// reach the thread, and the next id must be the one after the freed one.
pub(crate) fn posix_timers_check(ready_path: &Path) -> Result<()> {
    name("ptimers");
    let (go, result) = go_and_result(ready_path);
    let rt = libc::SIGRTMIN() + 2;
    // SAFETY: blocks two signals in this thread, before any other starts
    // (the helper thread inherits the mask).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, rt);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let go2 = go.clone();
    let helper = std::thread::spawn(move || {
        let _ = tid_tx.send(gettid());
        while !go2.exists() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Its timer's signal: pending already, or within its 3 s.
        wait_sig(libc::SIGUSR2, 6000)
    });
    let helper_tid = tid_rx.recv()?;
    // A: monotonic, every 20 ms, its blocked signal pending with overruns.
    let a = create(1, SIGEV_SIGNAL, rt, 11, 0)?;
    settime(a, 0, ts(20_000_000), 20_000_000)?;
    // B: realtime, absolute, 100 s from now, no signal.
    let b = create(0, SIGEV_NONE, 0, 0, 0)?;
    let mut now: libc::timespec = ts(0);
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    settime(
        b,
        libc::TIMER_ABSTIME,
        libc::timespec {
            tv_sec: now.tv_sec + 100,
            tv_nsec: now.tv_nsec,
        },
        0,
    )?;
    // C: boottime, 3 s, SIGUSR2 to the helper thread, value 77.
    let c = create(
        7,
        SIGEV_THREAD_ID | SIGEV_SIGNAL,
        libc::SIGUSR2,
        77,
        helper_tid,
    )?;
    settime(c, 0, ts(3_000_000_000), 0)?;
    // D: the process's CPU time, 1000 s.
    let d = create(2, SIGEV_SIGNAL, libc::SIGUSR2, 0, 0)?;
    settime(d, 0, ts(1_000_000_000_000), 0)?;
    // E: the helper thread's CPU clock (by its tid), 500 s, no signal.
    let thread_clock = (!(helper_tid as u32) << 3 | 6) as i32;
    let e = create(thread_clock, SIGEV_NONE, 0, 0, 0)?;
    settime(e, 0, ts(500_000_000_000), 0)?;
    // The next id taken and freed: the one after it comes next.
    let freed = create(1, SIGEV_NONE, 0, 0, 0)?;
    // SAFETY: deletes a timer of ours.
    unsafe { libc::syscall(libc::SYS_timer_delete, freed) };
    // A fires a few times while blocked: pending, then overrunning.
    std::thread::sleep(std::time::Duration::from_millis(120));
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut bad = Vec::new();
    let ids = [a, b, c, d, e];
    if ids != [0, 1, 2, 3, 4] || freed != 5 {
        bad.push(format!("ids {ids:?} freed {freed}"));
    }
    // A's pending signal, with the expiries it missed.
    match wait_sig(rt, 0) {
        Some((SI_TIMER, tid, overrun, 11)) if tid == a && overrun >= 1 => {}
        other => bad.push(format!("A's pending signal: {other:?}")),
    }
    // SAFETY: a timer of ours.
    let over = unsafe { libc::syscall(libc::SYS_timer_getoverrun, a) };
    if over < 1 {
        bad.push(format!("A's overrun after delivery {over}"));
    }
    // Delivered, it re-armed: the next one comes within its period.
    match wait_sig(rt, 2000) {
        Some((SI_TIMER, tid, _, 11)) if tid == a => {}
        other => bad.push(format!("A after delivery: {other:?}")),
    }
    match left(b) {
        Ok(ns) if ns > 0 && ns < 100_000_000_000 => {}
        other => bad.push(format!("B left {other:?}")),
    }
    match left(d) {
        Ok(ns) if ns > 990_000_000_000 && ns <= 1_000_000_000_000 => {}
        other => bad.push(format!("D left {other:?}")),
    }
    match left(e) {
        Ok(ns) if ns > 490_000_000_000 && ns <= 500_000_000_000 => {}
        other => bad.push(format!("E left {other:?}")),
    }
    if left(freed) != Err(libc::EINVAL) {
        bad.push(format!("freed id {freed} exists: {:?}", left(freed)));
    }
    match helper.join() {
        Ok(Some((SI_TIMER, tid, _, 77))) if tid == c => {}
        other => bad.push(format!("C's signal to the thread: {other:?}")),
    }
    match create(1, SIGEV_NONE, 0, 0, 0) {
        Ok(6) => {}
        other => bad.push(format!("next id {other:?}")),
    }
    verdict_all(&result, &bad, "five POSIX timers back with their ids, time left, overrun, pending signal and target thread; the next id after the freed one")
}
