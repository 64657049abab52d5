//! SysV shared memory in a pod: a producer and a consumer.

use super::*;
use nix::libc;

/// Key of the segment the producer writes and the consumer reads.
pub(crate) const SHARED_KEY: i32 = 0x4b43_0001;
/// Key of a segment nobody attaches (its contents written once).
pub(crate) const SPARE_KEY: i32 = 0x4b43_0002;
/// Key of the semaphore set.
pub(crate) const SEM_KEY: i32 = 0x4b43_0003;
/// Key of the message queue.
pub(crate) const MSG_KEY: i32 = 0x4b43_0004;
/// The messages queued: type and text.
fn messages() -> [(i64, Vec<u8>); 3] {
    [
        (1, b"one".to_vec()),
        (2, (0..5000).map(|i| pattern(4, i)).collect()),
        (3, Vec::new()),
    ]
}
/// Size of the shared segment: three pages and a bit.
const SHARED_SIZE: usize = 3 * 4096 + 100;

/// The byte at `i` of the pattern of segment `salt`.
fn pattern(salt: u8, i: usize) -> u8 {
    (i as u8).wrapping_mul(31).wrapping_add(salt) | 1
}

/// `shmget` that fails loudly.
fn shmget(key: i32, size: usize, flags: i32) -> Result<i32> {
    // SAFETY: plain integers.
    let id = unsafe { libc::shmget(key, size, flags) };
    if id < 0 {
        bail!("shmget({key:#x}): {}", std::io::Error::last_os_error());
    }
    Ok(id)
}

/// `semop` of one operation on semaphore `num` of `id`, retried when a
/// signal (the freezer's) interrupts it.
fn semop(id: i32, num: u16, op: i16) -> Result<()> {
    semop_flags(id, num, op, 0)
}

/// [`semop`] with `sem_flg` (`SEM_UNDO`).
fn semop_flags(id: i32, num: u16, op: i16, flags: i16) -> Result<()> {
    let mut b = libc::sembuf {
        sem_num: num,
        sem_op: op,
        sem_flg: flags,
    };
    loop {
        // SAFETY: one valid sembuf.
        if unsafe { libc::semop(id, &mut b, 1) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            bail!("semop({id}, {num}, {op}): {e}");
        }
    }
}

/// The value of semaphore `num` of set `id`.
fn semval(id: i32, num: i32) -> i32 {
    // SAFETY: GETVAL takes no argument.
    unsafe { libc::semctl(id, num, libc::GETVAL) }
}

/// `shmat` that fails loudly.
fn shmat(id: i32, flags: i32) -> Result<*mut u8> {
    // SAFETY: the kernel chooses the address.
    let p = unsafe { libc::shmat(id, std::ptr::null(), flags) };
    if p as isize == -1 {
        bail!("shmat({id}): {}", std::io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// Whether `len` bytes at `p` hold the pattern of `salt` (from `from` on).
fn holds(p: *const u8, len: usize, from: usize, salt: u8) -> bool {
    // SAFETY: `p` is an attachment of at least `len` bytes.
    (from..len).all(|i| unsafe { *p.add(i) } == pattern(salt, i))
}

/// A pod's SysV producer and consumer (the pod's init is this process):
///
/// - segment S (key `SHARED_KEY`, mode 0640, three pages and 100 bytes):
///   the producer attaches it read-write, writes a pattern and counts in
///   its first 8 bytes; the consumer attaches it read-only;
/// - segment R (`IPC_PRIVATE`, one page): attached by the producer, which
///   writes a pattern and removes it (`IPC_RMID`) while attached; the
///   consumer inherits the attachment across `fork`;
/// - segment U (key `SPARE_KEY`, two pages): written through an attachment
///   that is then detached: nobody attaches it.
///
/// - a semaphore set (key `SEM_KEY`, three semaphores set to 5, 0 and 42,
///   then the producer takes 2 from the third): the consumer takes 1 from
///   the first with `SEM_UNDO` (its exit gives it back) and waits in
///   `semop(2)` to take 1 from the second, which the producer gives on the
///   go file.
///
/// On the go file both check, after a restart: the same ids for the keys,
/// R still removed (`IPC_STAT` shows `SHM_DEST`) and readable at the same
/// address, every pattern intact, U's contents intact, and the counter
/// still counting. The producer writes the verdict (the consumer's
/// through its exit status).
pub(crate) fn sysv_pod(ready_path: &Path) -> Result<()> {
    name("producer");
    let (go, result) = go_and_result(ready_path);
    let s_id = shmget(SHARED_KEY, SHARED_SIZE, libc::IPC_CREAT | 0o640)?;
    let r_id = shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600)?;
    let u_id = shmget(SPARE_KEY, 2 * 4096, libc::IPC_CREAT | 0o600)?;
    // SAFETY: plain integers.
    let k_id = unsafe { libc::semget(SEM_KEY, 3, libc::IPC_CREAT | 0o660) };
    if k_id < 0 {
        bail!("semget: {}", std::io::Error::last_os_error());
    }
    let mut init = [5u16, 0, 42];
    // SAFETY: SETALL reads three values from the array.
    if unsafe { libc::semctl(k_id, 0, libc::SETALL, init.as_mut_ptr()) } < 0 {
        bail!("semctl(SETALL): {}", std::io::Error::last_os_error());
    }
    semop(k_id, 2, -2)?;
    // SAFETY: plain integers.
    let q_id = unsafe { libc::msgget(MSG_KEY, libc::IPC_CREAT | 0o640) };
    if q_id < 0 {
        bail!("msgget: {}", std::io::Error::last_os_error());
    }
    for (t, text) in messages() {
        let mut m = t.to_ne_bytes().to_vec();
        m.extend_from_slice(&text);
        // SAFETY: a buffer of the type and the text.
        if unsafe { libc::msgsnd(q_id, m.as_ptr().cast(), text.len(), 0) } < 0 {
            bail!("msgsnd: {}", std::io::Error::last_os_error());
        }
    }
    let s = shmat(s_id, 0)?;
    let r = shmat(r_id, 0)?;
    let u = shmat(u_id, 0)?;
    // SAFETY: each attachment is as long as its segment.
    unsafe {
        for i in 8..SHARED_SIZE {
            *s.add(i) = pattern(1, i);
        }
        for i in 0..4096 {
            *r.add(i) = pattern(2, i);
        }
        // U's second page only: its first stays a hole.
        for i in 4096..2 * 4096 {
            *u.add(i) = pattern(3, i);
        }
        libc::shmdt(u.cast());
        libc::shmctl(r_id, libc::IPC_RMID, std::ptr::null_mut());
    }
    let counter = s.cast::<std::sync::atomic::AtomicU64>();
    // SAFETY: the first 8 bytes of S, page aligned.
    let count = || unsafe { (*counter).load(std::sync::atomic::Ordering::Relaxed) };
    // SAFETY: single-threaded.
    let consumer = match unsafe { fork() }? {
        ForkResult::Child => {
            name("consumer");
            let ok = (|| -> Result<bool> {
                let ro = shmat(s_id, libc::SHM_RDONLY)?;
                // Undone when it exits: the first back to 5.
                semop_flags(k_id, 0, -1, libc::SEM_UNDO as i16)?;
                // Waits in semop(2) until the producer gives one.
                semop(k_id, 1, -1)?;
                while !go.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let seen = count_at(ro);
                std::thread::sleep(std::time::Duration::from_millis(100));
                Ok(holds(ro, SHARED_SIZE, 8, 1)
                    && holds(r, 4096, 0, 2)
                    && semval(k_id, 0) == 4
                    && semval(k_id, 1) == 0
                    && count_at(ro) > seen
                    && shmget(SHARED_KEY, 0, 0)? == s_id)
            })();
            // SAFETY: leave at once.
            unsafe { libc::_exit(if matches!(ok, Ok(true)) { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => child,
    };
    // The consumer's SEM_UNDO operation is done before the checkpoint.
    let start = std::time::Instant::now();
    while semval(k_id, 0) != 4 && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    ready(ready_path)?;
    while !go.exists() {
        // SAFETY: the first 8 bytes of S.
        unsafe { (*counter).fetch_add(1, std::sync::atomic::Ordering::Relaxed) };
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let before = count();
    // Lets the consumer's semop(2) through.
    semop(k_id, 1, 1)?;
    for _ in 0..10 {
        // SAFETY: as above.
        unsafe { (*counter).fetch_add(1, std::sync::atomic::Ordering::Relaxed) };
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let consumer_ok = matches!(waitpid(consumer, None), Ok(WaitStatus::Exited(_, 0)));
    // SAFETY: a zeroed shmid_ds is valid for IPC_STAT to fill.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid buffer.
    let stat = unsafe { libc::shmctl(r_id, libc::IPC_STAT, &mut ds) };
    let removed = stat == 0 && ds.shm_perm.mode as u32 & 0o1000 != 0;
    let u2 = shmat(u_id, libc::SHM_RDONLY)?;
    // SAFETY: U's first page is a hole: zeros.
    let hole = (0..4096).all(|i| unsafe { *u2.add(i) } == 0);
    let checks = [
        ("S's pattern", holds(s, SHARED_SIZE, 8, 1)),
        ("R's pattern", holds(r, 4096, 0, 2)),
        ("U's pattern", holds(u2, 2 * 4096, 4096, 3) && hole),
        ("S's id by key", shmget(SHARED_KEY, 0, 0)? == s_id),
        ("U's id by key", shmget(SPARE_KEY, 0, 0)? == u_id),
        // SAFETY: plain integers.
        (
            "the set's id by key",
            unsafe { libc::semget(SEM_KEY, 0, 0) } == k_id,
        ),
        // SAFETY: plain integers.
        (
            "the queue's id by key",
            unsafe { libc::msgget(MSG_KEY, 0) } == q_id,
        ),
        (
            "the set's first value (the consumer's SEM_UNDO undone at its exit) and third",
            semval(k_id, 0) == 5 && semval(k_id, 2) == 40,
        ),
        ("R removed, still attached", removed),
        ("the count goes on", count() >= before + 10),
        ("the consumer's checks", consumer_ok),
    ];
    // The queued messages, in order.
    let mut got = Vec::new();
    for _ in 0..3 {
        let mut m = vec![0u8; 8 + 8192];
        // SAFETY: room for the type and 8192 bytes; IPC_NOWAIT.
        let n = unsafe { libc::msgrcv(q_id, m.as_mut_ptr().cast(), 8192, 0, libc::IPC_NOWAIT) };
        if n < 0 {
            break;
        }
        let t = i64::from_ne_bytes(m[..8].try_into().unwrap_or_default());
        got.push((t, m[8..8 + n as usize].to_vec()));
    }
    let queued = got == messages();
    let failed: Vec<&str> = checks
        .iter()
        .chain([("the queued messages, in order", queued)].iter())
        .filter(|c| !c.1)
        .map(|c| c.0)
        .collect();
    verdict(
        &result,
        failed.is_empty(),
        format!("sysv ids {s_id} {r_id} {u_id}; failed: {failed:?}"),
    )
}

/// The count in the first 8 bytes of an attachment of S.
fn count_at(p: *const u8) -> u64 {
    // SAFETY: the first 8 bytes of S, page aligned.
    unsafe {
        (*p.cast::<std::sync::atomic::AtomicU64>()).load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A process of no pod with a SysV segment of its caller's IPC namespace:
/// made private, attached, a pattern written after a counter in its first
/// 8 bytes, then removed (`IPC_RMID`) while attached, so that it goes with
/// the process. After the go file it checks the pattern, that the counter
/// counts, that the segment is still removed and attached at the same
/// address with the same id, and writes its verdict.
pub(crate) fn sysv_attached(ready_path: &Path) -> Result<()> {
    name("sysv-attached");
    let (go, result) = go_and_result(ready_path);
    let id = shmget(libc::IPC_PRIVATE, SHARED_SIZE, libc::IPC_CREAT | 0o600)?;
    let s = shmat(id, 0)?;
    // SAFETY: the attachment is SHARED_SIZE bytes long.
    unsafe {
        for i in 8..SHARED_SIZE {
            *s.add(i) = pattern(5, i);
        }
        libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
    }
    let counter = s.cast::<std::sync::atomic::AtomicU64>();
    ready(ready_path)?;
    while !go.exists() {
        // SAFETY: the first 8 bytes of the segment, page aligned.
        unsafe { (*counter).fetch_add(1, std::sync::atomic::Ordering::Relaxed) };
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let before = count_at(s);
    for _ in 0..5 {
        // SAFETY: as above.
        unsafe { (*counter).fetch_add(1, std::sync::atomic::Ordering::Relaxed) };
    }
    // SAFETY: a zeroed shmid_ds is valid for IPC_STAT to fill.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid buffer.
    let stat = unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) };
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let at = format!("{:x}-", s as usize);
    let checks = [
        ("the pattern", holds(s, SHARED_SIZE, 8, 5)),
        ("the counter counts", count_at(s) == before + 5),
        (
            "still removed, attached once",
            stat == 0 && ds.shm_perm.mode as u32 & 0o1000 != 0 && ds.shm_nattch == 1,
        ),
        (
            "attached at the same address with the same id",
            maps.lines().any(|l| {
                l.starts_with(&at) && l.split_whitespace().nth(4) == Some(&id.to_string())
            }),
        ),
    ];
    let bad: Vec<String> = checks
        .iter()
        .filter(|c| !c.1)
        .map(|c| c.0.to_owned())
        .collect();
    verdict_all(&result, &bad, format!("segment {id} carried"))
}
