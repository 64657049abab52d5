//! How a process is scheduled, kept across a restart.

use super::*;
use nix::libc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The calling thread's id.
fn gettid() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
            bail!("sched_setaffinity: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs the calling thread may run on.
fn cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t for the call to fill.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// `sched_setscheduler(2)` of the calling thread.
fn set_policy(policy: i32, priority: i32) -> Result<()> {
    // SAFETY: all zeros is a valid sched_param (musl's has more fields
    // than the kernel's one int).
    let mut p: libc::sched_param = unsafe { std::mem::zeroed() };
    p.sched_priority = priority;
    // SAFETY: a valid sched_param; on the calling thread.
    if unsafe { libc::syscall(libc::SYS_sched_setscheduler, 0, policy, &p) } != 0 {
        bail!("sched_setscheduler: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's policy (with `SCHED_RESET_ON_FORK`), priority,
/// nice value, CPUs and timer slack.
fn mine() -> String {
    let tid = gettid();
    // SAFETY: as in `set_policy`.
    let mut p: libc::sched_param = unsafe { std::mem::zeroed() };
    p.sched_priority = -1;
    // SAFETY: plain queries of the calling thread.
    let (policy, nice, slack) = unsafe {
        let policy = libc::syscall(libc::SYS_sched_getscheduler, 0);
        libc::syscall(libc::SYS_sched_getparam, 0, &mut p);
        let nice = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        let slack = libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0);
        (policy, nice, slack)
    };
    format!(
        "policy {policy:#x} priority {} nice {nice} cpus {:?} slack {slack}",
        p.sched_priority,
        cpus()
    )
}

/// A process scheduled its own way:
///
/// - the main thread at nice 5, then `SCHED_RR` priority 7 with
///   `SCHED_RESET_ON_FORK`, on CPU 0;
/// - a second thread `SCHED_BATCH` at nice 7, on CPU 1, with a timer slack
///   of 123456 ns and filesystem ids 1234;
/// - a third thread `SCHED_IDLE` at nice 3 (which sched_setattr(2) does
///   not take for that policy: setpriority(2) gave it);
/// - the process with `oom_score_adj` 250 and transparent huge pages
///   disabled.
///
/// On the go file each thread checks it is still so.
pub(crate) fn sched_check(ready_path: &Path) -> Result<()> {
    name("sched");
    let (go, result) = go_and_result(ready_path);
    std::fs::write("/proc/self/oom_score_adj", "250")?;
    // SAFETY: a prctl of this process's own flag.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        bail!("PR_SET_THP_DISABLE: {}", std::io::Error::last_os_error());
    }
    let set_up = Arc::new(Barrier::new(3));
    let b = set_up.clone();
    let go2 = go.clone();
    static THREAD_OK: AtomicBool = AtomicBool::new(false);
    static IDLE_OK: AtomicBool = AtomicBool::new(false);
    let b3 = set_up.clone();
    let go3 = go.clone();
    let idle = std::thread::spawn(move || -> String {
        let r = (|| -> Result<()> {
            // SAFETY: a plain integer, on this thread.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, gettid() as libc::id_t, 3) } != 0 {
                bail!("setpriority: {}", std::io::Error::last_os_error());
            }
            set_policy(libc::SCHED_IDLE, 0)
        })();
        b3.wait();
        if let Err(e) = r {
            return format!("idle thread set-up: {e:#}");
        }
        let want = mine();
        while !go3.exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let now = mine();
        IDLE_OK.store(
            now == want && now.starts_with("policy 0x5 priority 0 nice 3 "),
            Ordering::Relaxed,
        );
        format!("idle thread: {now}")
    });
    let worker = std::thread::spawn(move || -> String {
        let r = (|| -> Result<()> {
            set_policy(libc::SCHED_BATCH, 0)?;
            // SAFETY: plain integers, on this thread.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, gettid() as libc::id_t, 7);
                libc::prctl(libc::PR_SET_TIMERSLACK, 123_456, 0, 0, 0);
                libc::setfsgid(1234);
                libc::setfsuid(1234);
            }
            pin(1)
        })();
        b.wait();
        if let Err(e) = r {
            return format!("thread set-up: {e:#}");
        }
        let want = mine();
        while !go2.exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // SAFETY: -1 changes nothing and returns the current ids.
        let (fsuid, fsgid) = unsafe { (libc::setfsuid(u32::MAX), libc::setfsgid(u32::MAX)) };
        let now = mine();
        let ok = now == want
            && now == "policy 0x3 priority 0 nice 7 cpus [1] slack 123456"
            && (fsuid, fsgid) == (1234, 1234);
        THREAD_OK.store(ok, Ordering::Relaxed);
        format!("thread: {now}, fsuid {fsuid} fsgid {fsgid}")
    });
    set_up.wait();
    // membarrier(2): global expedited (1 << 2) and private expedited
    // (1 << 4) registered.
    for cmd in [1 << 2, 1 << 4] {
        // SAFETY: a registration of this process's own mm.
        if unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) } != 0 {
            bail!("membarrier({cmd:#x}): {}", std::io::Error::last_os_error());
        }
    }
    // SAFETY: plain integers, on this thread.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, gettid() as libc::id_t, 5) };
    set_policy(libc::SCHED_RR | 0x4000_0000, 7)?;
    pin(0)?;
    let want = mine();
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let now = mine();
    let thread = worker
        .join()
        .unwrap_or_else(|_| "thread panicked".to_owned());
    let idle = idle
        .join()
        .unwrap_or_else(|_| "idle thread panicked".to_owned());
    let oom = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default();
    // SAFETY: a query of this process's own flag.
    let thp = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
    // SAFETY: MEMBARRIER_CMD_GET_REGISTRATIONS, then a private expedited
    // barrier, which only a registered process may issue.
    let (registered, barrier) = unsafe {
        (
            libc::syscall(libc::SYS_membarrier, 1 << 9, 0, 0),
            libc::syscall(libc::SYS_membarrier, 1 << 3, 0, 0),
        )
    };
    let ok = now == want
        && now == "policy 0x40000002 priority 7 nice 5 cpus [0] slack 0"
        && THREAD_OK.load(Ordering::Relaxed)
        && IDLE_OK.load(Ordering::Relaxed)
        && oom.trim() == "250"
        && thp == 1
        && registered == 0x14
        && barrier == 0;
    verdict(
        &result,
        ok,
        format!(
            "main: {now}; {thread}; {idle}; oom_score_adj {}; THP disabled {thp}; membarrier registrations {registered:#x}, private expedited barrier {barrier}",
            oom.trim()
        ),
    )
}
