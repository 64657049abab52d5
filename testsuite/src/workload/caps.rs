//! Capabilities (ambient ones raised) and the VMA flags madvise(2) and
//! mlock(2) set, kept across a restart.

use super::*;
use nix::libc;

const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_MODULE: u32 = 16;
const CAP_SYS_NICE: u32 = 23;

/// `capget(2)`/`capset(2)` of the calling thread: (effective, permitted,
/// inheritable) of capabilities 0 to 31 (the ones used here).
fn caps(set: Option<(u32, u32, u32)>) -> Result<(u32, u32, u32)> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: a valid header and two data structs, as version 3 wants.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) };
    if r != 0 {
        bail!("capget: {}", std::io::Error::last_os_error());
    }
    if let Some((e, p, i)) = set {
        d[0] = Data {
            effective: e,
            permitted: p,
            inheritable: i,
        };
        d[1] = Data::default();
        // SAFETY: as above.
        if unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) } != 0 {
            bail!("capset: {}", std::io::Error::last_os_error());
        }
    }
    Ok((d[0].effective, d[0].permitted, d[0].inheritable))
}

/// A prctl(2) that fails loudly.
fn prctl(op: i32, arg: u64, arg2: u64) -> Result<i32> {
    // SAFETY: plain integers.
    let r = unsafe { libc::prctl(op, arg, arg2, 0, 0) };
    if r < 0 {
        bail!("prctl({op}): {}", std::io::Error::last_os_error());
    }
    Ok(r)
}

/// What the calling thread holds: its sets, the ambient bit of
/// CAP_NET_BIND_SERVICE and the bounding bit of CAP_SYS_MODULE.
fn held() -> Result<String> {
    let (e, p, i) = caps(None)?;
    let amb = prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_IS_SET as u64,
        u64::from(CAP_NET_BIND_SERVICE),
    )?;
    let bnd = prctl(libc::PR_CAPBSET_READ, u64::from(CAP_SYS_MODULE), 0)?;
    Ok(format!(
        "effective {e:#x} permitted {p:#x} inheritable {i:#x} ambient(net_bind) {amb} bounding(sys_module) {bnd}"
    ))
}

/// A root process with few capabilities: CAP_SYS_MODULE dropped from its
/// bounding set; permitted CAP_NET_BIND_SERVICE and CAP_SYS_NICE,
/// effective CAP_NET_BIND_SERVICE, inheritable and ambient
/// CAP_NET_BIND_SERVICE raised. On the go file it checks it holds the
/// same.
pub(crate) fn caps_check(ready_path: &Path) -> Result<()> {
    name("caps");
    let (go, result) = go_and_result(ready_path);
    prctl(libc::PR_CAPBSET_DROP, u64::from(CAP_SYS_MODULE), 0)?;
    let bind = 1 << CAP_NET_BIND_SERVICE;
    caps(Some((bind, bind | 1 << CAP_SYS_NICE, bind)))?;
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_RAISE as u64,
        u64::from(CAP_NET_BIND_SERVICE),
    )?;
    let want = held()?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let now = held()?;
    verdict(
        &result,
        now == want
            && now
                == "effective 0x400 permitted 0x800400 inheritable 0x400 ambient(net_bind) 1 bounding(sys_module) 0",
        now,
    )
}

/// Anonymous mappings of 16 pages, one per flag: `MADV_DONTFORK`,
/// `MADV_WIPEONFORK`, `MADV_DONTDUMP` and `mlock(2)`, each holding a byte
/// of its own (the huge page hints need transparent huge pages, which the
/// test kernel does not have). On the go file it
/// checks the bytes and that a child forked now sees no DONTFORK mapping
/// and a zeroed WIPEONFORK one.
pub(crate) fn vma_flags_check(ready_path: &Path) -> Result<()> {
    name("vmaflags");
    let (go, result) = go_and_result(ready_path);
    let len = 16 * 4096;
    let advice = [
        libc::MADV_DONTFORK,
        libc::MADV_WIPEONFORK,
        libc::MADV_DONTDUMP,
        -1,
    ];
    let mut maps = Vec::new();
    for (k, a) in advice.iter().enumerate() {
        // SAFETY: a new anonymous mapping; nothing else uses it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            bail!("mmap: {}", std::io::Error::last_os_error());
        }
        // SAFETY: the mapping is ours and `len` long.
        let r = unsafe {
            if *a >= 0 {
                libc::madvise(p, len, *a)
            } else {
                libc::mlock(p, len)
            }
        };
        if r != 0 {
            bail!("madvise/mlock {a}: {}", std::io::Error::last_os_error());
        }
        // SAFETY: inside the mapping.
        unsafe { *p.cast::<u8>() = 0x40 + k as u8 };
        maps.push(p.cast::<u8>());
    }
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: each mapping is still ours.
    let bytes_ok = maps
        .iter()
        .enumerate()
        .all(|(k, p)| unsafe { **p } == 0x40 + k as u8);
    // A child sees the WIPEONFORK mapping zeroed and has no DONTFORK one.
    let (dontfork, wipe) = (maps[0] as usize, maps[1] as usize);
    // SAFETY: the child only reads its own /proc maps and memory, then
    // leaves.
    let child_ok = match unsafe { fork() }? {
        ForkResult::Child => {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
            let has_dontfork = maps.lines().any(|l| {
                l.split('-')
                    .next()
                    .and_then(|a| usize::from_str_radix(a, 16).ok())
                    == Some(dontfork)
            });
            // SAFETY: the WIPEONFORK mapping is mapped in the child.
            let wiped = unsafe { *(wipe as *const u8) } == 0;
            // SAFETY: leave at once.
            unsafe { libc::_exit(if !has_dontfork && wiped { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => {
            matches!(waitpid(child, None), Ok(WaitStatus::Exited(_, 0)))
        }
    };
    verdict(
        &result,
        bytes_ok && child_ok,
        format!("vma flags: bytes {bytes_ok} fork {child_ok}"),
    )
}
