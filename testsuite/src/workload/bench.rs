//! The benchmark's workloads (`cargo xtask bench`): dirty anonymous
//! memory of a given size, anonymous memory shared by several processes,
//! and a pipeline whose pipes are full.

use super::*;
use nix::libc;

/// Fills `buf` with a xorshift sequence: every page written, none alike.
pub(crate) fn fill(buf: &mut [u64]) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for v in buf {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *v = x;
    }
}

/// `len` bytes of new anonymous memory (`MAP_SHARED` if `shared`), as
/// u64s, never freed: it lives as long as the process.
pub(crate) fn map_anon(len: usize, shared: bool) -> Result<&'static mut [u64]> {
    let flags = libc::MAP_ANONYMOUS
        | if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
    // SAFETY: a new anonymous mapping; no memory of this process changes.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        bail!("mmap of {len} bytes: {}", std::io::Error::last_os_error());
    }
    // SAFETY: the mapping is `len` bytes, readable and writable, page
    // aligned, zero-filled, never unmapped, and referenced only here.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u64>(), len / 8) })
}

/// `heap_<N>m`: one process with N MiB of dirty private anonymous memory.
pub(crate) fn heap(mib: usize, ready_path: &Path) -> Result<()> {
    name("heap");
    fill(map_anon(mib << 20, false)?);
    ready(ready_path)
}

/// `shared_<N>m_x<K>`: N MiB of shared anonymous memory, filled by the
/// root and mapped by it and its K - 1 children.
pub(crate) fn shared(mib: usize, procs: usize, ready_path: &Path) -> Result<()> {
    name("shared-root");
    if procs == 0 {
        bail!("shared memory between 0 processes");
    }
    fill(map_anon(mib << 20, true)?);
    let (r, w) = pipe()?;
    for i in 1..procs {
        spawn(&format!("shared-{i}"), || notify(&w))?;
    }
    wait_notified(&r, procs - 1)?;
    ready(ready_path)
}

/// `cow_<N>m_x<K>`: a parent with N MiB of dirty private anonymous
/// memory forks K children, as a preforked server does; each child writes
/// 16 pages of its own and sleeps: the rest it shares with the parent,
/// copy-on-write.
pub(crate) fn cow(mib: usize, kids: usize, ready_path: &Path) -> Result<()> {
    name("cow-parent");
    let mem = map_anon(mib << 20, false)?;
    fill(mem);
    let base = mem.as_mut_ptr() as usize;
    let (r, w) = pipe()?;
    for i in 0..kids {
        spawn(&format!("cow-{i}"), || {
            // 16 pages of its own, spread over the memory.
            for p in 0..16usize {
                let page = (i * 16 + p) * (mib << 20) / (kids * 16 * 4096);
                // SAFETY: a word of a page of the live mapping of `mib`
                // MiB, which this child writes (copy-on-write).
                unsafe { *((base + page * 4096) as *mut u64) ^= 1 };
            }
            notify(&w)
        })?;
    }
    wait_notified(&r, kids)?;
    ready(ready_path)
}

/// `pipeline_full_<K>`: K processes in a line, each but the last writing
/// into a 1 MiB pipe to the next, which never reads: every pipe is full
/// and every writer blocked in write(2).
pub(crate) fn pipeline_full(stages: usize, ready_path: &Path) -> Result<()> {
    use std::os::fd::{AsRawFd, IntoRawFd};
    name("stage-0");
    if stages < 2 {
        bail!("a pipeline of {stages} stages");
    }
    let (nr, nw) = pipe()?;
    let mut pipes = Vec::new();
    for _ in 1..stages {
        let (r, w) = pipe()?;
        pipes.push((r.into_raw_fd(), w.into_raw_fd()));
    }
    // Stage i reads pipe i - 1 and writes pipe i (the last writes none):
    // it closes the other ends and fills its pipe.
    let stage = |i: usize| -> Result<Option<i32>> {
        let reads = i.checked_sub(1).and_then(|k| pipes.get(k)).map(|p| p.0);
        let writes = pipes.get(i).map(|p| p.1);
        for &(r, w) in &pipes {
            for fd in [r, w] {
                if Some(fd) != reads && Some(fd) != writes {
                    // SAFETY: closes a pipe end this process owns and no
                    // longer uses.
                    unsafe { libc::close(fd) };
                }
            }
        }
        if let Some(w) = writes {
            fill_pipe(w)?;
        }
        Ok(writes)
    };
    for i in 1..stages {
        let nr = nr.as_raw_fd();
        spawn(&format!("stage-{i}"), || {
            // SAFETY: the notification pipe's read end is the root's.
            unsafe { libc::close(nr) };
            match stage(i) {
                Ok(writes) => {
                    notify(&nw);
                    if let Some(w) = writes {
                        let e = block_on_full(w);
                        eprintln!("stage-{i}: {e:#}");
                    }
                }
                // The root waits for its report until the bench's time-out.
                Err(e) => eprintln!("stage-{i}: {e:#}"),
            }
        })?;
    }
    let writes = stage(0)?.context("the first stage writes")?;
    wait_notified(&nr, stages - 1)?;
    ready(ready_path)?;
    Err(block_on_full(writes))
}

/// Sets `w`'s pipe to 1 MiB and fills it without blocking.
fn fill_pipe(w: i32) -> Result<()> {
    // SAFETY: fcntl on a pipe this process owns.
    if unsafe { libc::fcntl(w, libc::F_SETPIPE_SZ, 1 << 20) } < 0 {
        bail!("F_SETPIPE_SZ: {}", std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    unsafe { libc::fcntl(w, libc::F_SETFL, libc::O_NONBLOCK) };
    let chunk = [0x5au8; 65536];
    loop {
        // SAFETY: writes from a buffer of that length.
        let n = unsafe { libc::write(w, chunk.as_ptr().cast(), chunk.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAGAIN) {
                break;
            }
            bail!("filling the pipe: {e}");
        }
    }
    // SAFETY: as above.
    unsafe { libc::fcntl(w, libc::F_SETFL, 0) };
    Ok(())
}

/// A blocking write(2) into a full pipe nobody reads: it never returns
/// but with the error that ended it.
fn block_on_full(w: i32) -> anyhow::Error {
    let byte = [1u8];
    // SAFETY: writes one byte from a buffer of one.
    let n = unsafe { libc::write(w, byte.as_ptr().cast(), 1) };
    anyhow::anyhow!(
        "a write into a full pipe returned {n}: {}",
        std::io::Error::last_os_error()
    )
}

/// The bench workloads by name: `heap_<N>m`, `shared_<N>m_x<K>`,
/// `cow_<N>m_x<K>` and `pipeline_full_<K>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Heap { mib: usize },
    Shared { mib: usize, procs: usize },
    Cow { mib: usize, kids: usize },
    PipelineFull { stages: usize },
}

pub(crate) fn kind(name: &str) -> Option<Kind> {
    let mib = |s: &str| s.strip_suffix('m')?.parse().ok();
    if let Some(rest) = name.strip_prefix("heap_") {
        return Some(Kind::Heap { mib: mib(rest)? });
    }
    if let Some(rest) = name.strip_prefix("shared_") {
        let (size, procs) = rest.split_once("_x")?;
        return Some(Kind::Shared {
            mib: mib(size)?,
            procs: procs.parse().ok()?,
        });
    }
    if let Some(rest) = name.strip_prefix("cow_") {
        let (size, kids) = rest.split_once("_x")?;
        return Some(Kind::Cow {
            mib: mib(size)?,
            kids: kids.parse().ok()?,
        });
    }
    let stages = name.strip_prefix("pipeline_full_")?.parse().ok()?;
    Some(Kind::PipelineFull { stages })
}

pub(crate) fn run(name: &str, ready_path: &Path) -> Result<()> {
    match kind(name) {
        Some(Kind::Heap { mib }) => heap(mib, ready_path),
        Some(Kind::Shared { mib, procs }) => shared(mib, procs, ready_path),
        Some(Kind::Cow { mib, kids }) => cow(mib, kids, ready_path),
        Some(Kind::PipelineFull { stages }) => pipeline_full(stages, ready_path),
        None => bail!("no bench workload {name}"),
    }
}
