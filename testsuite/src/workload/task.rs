//! Per-task state: FPU registers, the vdso clock, rseq, robust lists, limits,
//! credentials and capabilities.

use super::*;

/// Integer state in general-purpose registers, a double in an xmm register
/// and four doubles in a ymm register, all advanced in a tight loop that
/// the checkpoint interrupts; after the restart the process recomputes
/// them from the iteration count and compares.
pub(crate) fn counter_fpu(ready_path: &Path) -> Result<()> {
    use std::arch::x86_64::*;
    name("counter");
    if !is_x86_feature_detected!("avx") {
        bail!("this CPU has no AVX: run the guest with -cpu max");
    }
    let (go, result) = go_and_result(ready_path);
    let pid = std::process::id();

    #[target_feature(enable = "avx")]
    unsafe fn spin(go: &Path, ready_path: &Path) -> (u64, u64, f64, [f64; 4]) {
        let (mut x, mut n, mut f) = (0x1234_5678u64, 0u64, 1.0f64);
        let mut acc = _mm256_setzero_pd();
        let one = _mm256_set1_pd(1.0);
        let mut announced = false;
        loop {
            for _ in 0..20_000 {
                x = lcg(x);
                f = f * 0.999 + 1.0;
                acc = _mm256_add_pd(acc, one);
                n += 1;
            }
            if !announced {
                let _ = ready(ready_path);
                announced = true;
            }
            if go.exists() {
                break;
            }
        }
        let mut lanes = [0f64; 4];
        // SAFETY: `lanes` has room for four doubles.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), acc) };
        (x, n, f, lanes)
    }
    // SAFETY: AVX is present (checked above).
    let (x, n, f, lanes) = unsafe { spin(&go, ready_path) };
    let (mut y, mut g) = (0x1234_5678u64, 1.0f64);
    for _ in 0..n {
        y = lcg(y);
        g = g * 0.999 + 1.0;
    }
    let ok =
        x == y && f.to_bits() == g.to_bits() && lanes == [n as f64; 4] && std::process::id() == pid;
    verdict(
        &result,
        ok,
        format!(
            "counter n={n} pid={pid} lcg={} xmm={} ymm={}",
            x == y,
            f.to_bits() == g.to_bits(),
            lanes == [n as f64; 4]
        ),
    )
}

/// Holds a file that was deleted after it was opened.
/// Floating-point and integer work forever: load beside restarts, so that
/// FPU state switches happen while tasks restore theirs.
pub(crate) fn burner(ready_path: &Path) -> Result<()> {
    name("burner");
    ready(ready_path)?;
    let mut x = 1.0f64;
    let mut v = 1u64;
    loop {
        for _ in 0..1_000_000 {
            x = std::hint::black_box(x * 1.000001 + 0.5).sqrt();
            v = lcg(v);
        }
        std::hint::black_box((x, v));
    }
}

/// Reads the clock through the vdso in a loop (musl caches the vdso's
/// address); after the restart it checks that the monotonic clock moved
/// forward from where it was and that a second read agrees with a real
/// clock_gettime(2) system call.
pub(crate) fn vdso_clock(ready_path: &Path) -> Result<()> {
    name("vdso-clock");
    let (go, result) = go_and_result(ready_path);
    let mut last = std::time::Instant::now();
    let mut backwards = 0u64;
    let mut reads = 0u64;
    let mut announced = false;
    while !go.exists() {
        for _ in 0..1000 {
            let now = std::time::Instant::now();
            if now < last {
                backwards += 1;
            }
            last = now;
            reads += 1;
        }
        if !announced {
            ready(ready_path)?;
            announced = true;
        }
    }
    let via_vdso = std::time::Instant::now();
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a direct system call with a valid timespec.
    unsafe {
        nix::libc::syscall(
            nix::libc::SYS_clock_gettime,
            nix::libc::CLOCK_MONOTONIC,
            &mut ts,
        )
    };
    let after = std::time::Instant::now();
    let sys_ns = ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128;
    // Instant has no public epoch: compare durations from `last`.
    let ok = backwards == 0 && via_vdso >= last && after >= via_vdso && reads > 0 && sys_ns > 0;
    verdict(&result, ok, format!("vdso clock backwards={backwards}"))
}

#[repr(C, align(32))]
pub(crate) struct RseqArea([u32; 8]);

/// rseq registration, robust list, parent-death signal, personality and a
/// resource limit set before the checkpoint and checked after the restart.
/// CAP_CHOWN, CAP_DAC_OVERRIDE and CAP_NET_RAW: dropped by `misc_check`.
pub(crate) const DROPPED_CAPS: u64 = 1 | 2 | (1 << 13);

#[repr(C)]
pub(crate) struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective and permitted sets (capget(2), 64-bit version 3).
pub(crate) fn get_caps() -> Result<(u64, u64)> {
    let mut h = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: a header and two data structs, as version 3 takes.
    if unsafe { nix::libc::syscall(nix::libc::SYS_capget, &mut h, d.as_mut_ptr()) } != 0 {
        bail!("capget: {}", std::io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok((
        join(d[0].effective, d[1].effective),
        join(d[0].permitted, d[1].permitted),
    ))
}

/// Removes `drop` from the effective and permitted sets (capset(2)).
pub(crate) fn set_caps(drop: u64) -> Result<()> {
    let (eff, perm) = get_caps()?;
    let (eff, perm) = (eff & !drop, perm & !drop);
    let mut h = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let d = [
        CapData {
            effective: eff as u32,
            permitted: perm as u32,
            inheritable: 0,
        },
        CapData {
            effective: (eff >> 32) as u32,
            permitted: (perm >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: a header and two data structs, as version 3 takes.
    if unsafe { nix::libc::syscall(nix::libc::SYS_capset, &mut h, d.as_ptr()) } != 0 {
        bail!("capset: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn misc_check(ready_path: &Path) -> Result<()> {
    use nix::libc;
    name("misc");
    let (go, result) = go_and_result(ready_path);
    const RSEQ_SIG: u32 = 0x5305_3053;
    let area: &'static mut RseqArea = Box::leak(Box::new(RseqArea([0; 8])));
    area.0[1] = u32::MAX; // cpu_id: RSEQ_CPU_ID_UNINITIALIZED
    let head: &'static mut [u64; 3] = Box::leak(Box::new([0u64; 3]));
    head[0] = head.as_ptr() as u64; // an empty list points to itself
                                    // SAFETY: system calls with valid, leaked arguments.
    unsafe {
        if libc::syscall(libc::SYS_rseq, area as *mut RseqArea, 32u32, 0, RSEQ_SIG) != 0 {
            bail!(
                "rseq registration failed: {}",
                std::io::Error::last_os_error()
            );
        }
        libc::syscall(libc::SYS_set_robust_list, head.as_ptr(), 24usize);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGUSR2);
        libc::personality(0x0040000); // ADDR_NO_RANDOMIZE
        let lim = libc::rlimit {
            rlim_cur: 200,
            rlim_max: 300,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        // Capabilities given up, and no new privileges: a restart by root
        // must not give them back.
        libc::prctl(libc::PR_CAPBSET_DROP, 22 /* CAP_SYS_BOOT */, 0, 0, 0);
        set_caps(DROPPED_CAPS)?;
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        // Not dumpable (not traceable by its own user), as ssh-agent does.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let mut bad = Vec::new();
    // SAFETY: as above.
    unsafe {
        let again = libc::syscall(libc::SYS_rseq, area as *mut RseqArea, 32u32, 0, RSEQ_SIG);
        if again != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EBUSY) {
            bad.push("rseq registered");
        }
        if std::ptr::read_volatile(&area.0[1]) >= 2 {
            bad.push("rseq cpu_id");
        }
        let (mut ptr, mut len) = (std::ptr::null_mut::<libc::c_void>(), 0usize);
        libc::syscall(libc::SYS_get_robust_list, 0, &mut ptr, &mut len);
        if ptr as u64 != head.as_ptr() as u64 || len != 24 {
            bad.push("robust list");
        }
        let mut sig = 0i32;
        libc::prctl(libc::PR_GET_PDEATHSIG, &mut sig);
        if sig != libc::SIGUSR2 {
            bad.push("pdeath signal");
        }
        if libc::personality(0xffff_ffff) & 0x0040000 == 0 {
            bad.push("personality");
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if (lim.rlim_cur, lim.rlim_max) != (200, 300) {
            bad.push("RLIMIT_NOFILE");
        }
        if libc::prctl(libc::PR_CAPBSET_READ, 22, 0, 0, 0) != 0 {
            bad.push("bounding set");
        }
        if libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 {
            bad.push("no_new_privs");
        }
        if libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 {
            bad.push("not dumpable");
        }
    }
    match get_caps() {
        Ok((eff, perm)) if eff & DROPPED_CAPS == 0 && perm & DROPPED_CAPS == 0 => {}
        _ => bad.push("capabilities"),
    }
    let ok = bad.is_empty();
    verdict(&result, ok, format!("misc wrong={bad:?}"))
}

/// Runs as uid/gid 1000 (real, effective, saved); after the restart by
/// root it must still be 1000 everywhere, not root.
pub(crate) fn creds_check(ready_path: &Path) -> Result<()> {
    use nix::unistd::{getresgid, getresuid, setresgid, setresuid, Gid, Uid};
    name("creds");
    let (go, result) = go_and_result(ready_path);
    // Supplementary groups of its own (the restarting root has others).
    nix::unistd::setgroups(&[Gid::from_raw(100), Gid::from_raw(200)])?;
    // A user's process holds files that user may open: its log becomes
    // uid 1000's (restart reopens files with the restored credentials).
    nix::unistd::fchown(
        std::io::stdout(),
        Some(Uid::from_raw(1000)),
        Some(Gid::from_raw(1000)),
    )?;
    setresgid(
        Gid::from_raw(1000),
        Gid::from_raw(1000),
        Gid::from_raw(1000),
    )?;
    setresuid(
        Uid::from_raw(1000),
        Uid::from_raw(1000),
        Uid::from_raw(1000),
    )?;
    // Its dumpable mode (the change of ids made it non-dumpable): the
    // same after the restart, whoever restarts it.
    // SAFETY: a query of this process's own flag.
    let dumpable_before = unsafe { nix::libc::prctl(nix::libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    ready(ready_path)?;
    while !go.exists() {
        std::thread::yield_now();
    }
    let u = getresuid()?;
    let g = getresgid()?;
    let mut groups: Vec<u32> = nix::unistd::getgroups()?
        .iter()
        .map(|g| g.as_raw())
        .collect();
    groups.sort_unstable();
    let ok = [u.real, u.effective, u.saved]
        .iter()
        .all(|x| x.as_raw() == 1000)
        && [g.real, g.effective, g.saved]
            .iter()
            .all(|x| x.as_raw() == 1000)
        && groups == [100, 200];
    // SAFETY: as above.
    let dumpable = unsafe { nix::libc::prctl(nix::libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    verdict(
        &result,
        ok && dumpable == dumpable_before,
        format!(
            "creds uid={} euid={} gid={} groups={groups:?} dumpable={dumpable_before}->{dumpable}",
            u.real, u.effective, g.real
        ),
    )
}
