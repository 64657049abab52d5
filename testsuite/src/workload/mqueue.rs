//! POSIX message queues in a pod: a sender (the pod's init) and a
//! receiver that registered a notification.

use super::*;
use nix::libc;

/// The queue with messages of three priorities, its attributes, and the
/// messages in the order they are sent: (priority, text).
pub(crate) const WORK: &str = "/work";
const WORK_MAXMSG: i64 = 8;
const WORK_MSGSIZE: i64 = 256;
fn sent() -> [(u32, Vec<u8>); 5] {
    [
        (0, b"low one".to_vec()),
        (5, b"middle one".to_vec()),
        (0, b"low two".to_vec()),
        (9, (0..200).map(|i| (i as u8).wrapping_mul(7) | 1).collect()),
        (5, Vec::new()),
    ]
}
/// The queue the receiver asked to be notified of (empty).
pub(crate) const NOTIFY: &str = "/notify";
/// The value its notification carries.
const NOTIFY_VALUE: i32 = 77;
/// The queue removed with mq_unlink(3) that the receiver holds open.
const GONE: &str = "/gone";

/// `mq_open` that fails loudly.
fn mq_open(name: &str, flags: i32, mode: u32, attr: Option<(i64, i64)>) -> Result<i32> {
    let c = CString::new(name)?;
    // SAFETY: a zeroed mq_attr is valid.
    let mut a: libc::mq_attr = unsafe { std::mem::zeroed() };
    let p = match attr {
        Some((max, size)) => {
            a.mq_maxmsg = max;
            a.mq_msgsize = size;
            &mut a as *mut libc::mq_attr
        }
        None => std::ptr::null_mut(),
    };
    // SAFETY: a NUL-terminated name and a valid (or null) attribute.
    let fd = unsafe { libc::mq_open(c.as_ptr(), flags, mode as libc::mode_t, p) };
    if fd < 0 {
        bail!("mq_open({name}): {}", std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn mq_send(fd: i32, prio: u32, text: &[u8]) -> Result<()> {
    // SAFETY: `text` is valid for its length.
    if unsafe { libc::mq_send(fd, text.as_ptr().cast(), text.len(), prio) } < 0 {
        bail!("mq_send: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Every message left on `fd` (non-blocking), as (priority, text).
fn drain(fd: i32, size: usize) -> Vec<(u32, Vec<u8>)> {
    let mut got = Vec::new();
    loop {
        let mut buf = vec![0u8; size];
        let mut prio = 0u32;
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: an absolute timeout in the past: returns at once.
        let n = unsafe { libc::mq_timedreceive(fd, buf.as_mut_ptr().cast(), size, &mut prio, &ts) };
        if n < 0 {
            return got;
        }
        buf.truncate(n as usize);
        got.push((prio, buf));
    }
}

/// mq_getattr(3): (flags, maxmsg, msgsize, curmsgs).
fn attrs(fd: i32) -> (i64, i64, i64, i64) {
    // SAFETY: a zeroed mq_attr is valid to fill.
    let mut a: libc::mq_attr = unsafe { std::mem::zeroed() };
    // SAFETY: `a` is valid.
    if unsafe { libc::mq_getattr(fd, &mut a) } < 0 {
        return (-1, -1, -1, -1);
    }
    (a.mq_flags, a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs)
}

/// The pod's init sends five messages of three priorities to `/work`; its
/// child (the receiver) opens `/notify` non-blocking and registers a
/// SIGUSR1 notification with a value, and holds `/gone` (two messages)
/// open after removing its name. Both wait for the go file, then check:
/// the receiver, that `/work` gives its messages highest priority first
/// and each priority in order, that `/gone` still has its two, and that
/// the init's message to `/notify` brings its signal with the value and
/// `SI_MESGQ`; the init, its descriptor's attributes and that the name
/// `/gone` is free.
pub(crate) fn mq_pod(ready_path: &Path) -> Result<()> {
    name("mq-sender");
    let (go, result) = go_and_result(ready_path);
    let work = mq_open(
        WORK,
        libc::O_CREAT | libc::O_RDWR,
        0o640,
        Some((WORK_MAXMSG, WORK_MSGSIZE)),
    )?;
    for (prio, text) in sent() {
        mq_send(work, prio, &text)?;
    }
    let notify = mq_open(NOTIFY, libc::O_CREAT | libc::O_WRONLY, 0o620, Some((4, 64)))?;
    let gone = mq_open(GONE, libc::O_CREAT | libc::O_RDWR, 0o600, Some((3, 32)))?;
    mq_send(gone, 1, b"still")?;
    mq_send(gone, 2, b"here")?;
    let (r, w) = nix::unistd::pipe()?;
    // SAFETY: single-threaded.
    let receiver = match unsafe { fork() }? {
        ForkResult::Child => {
            name("mq-receiver");
            drop(r);
            let bad = (|| -> Result<Vec<String>> {
                let mut bad = Vec::new();
                let mut set = nix::sys::signal::SigSet::empty();
                set.add(nix::sys::signal::Signal::SIGUSR1);
                set.thread_block()?;
                let nfd = mq_open(NOTIFY, libc::O_RDONLY | libc::O_NONBLOCK, 0, None)?;
                // SAFETY: a zeroed sigevent with its kind, signal and
                // value set is valid.
                let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
                sev.sigev_notify = libc::SIGEV_SIGNAL;
                sev.sigev_signo = libc::SIGUSR1;
                sev.sigev_value = libc::sigval {
                    sival_ptr: NOTIFY_VALUE as usize as *mut libc::c_void,
                };
                // SAFETY: `sev` is valid (the system call: musl's libc
                // crate has no mq_notify).
                if unsafe { libc::syscall(libc::SYS_mq_notify, nfd, &sev) } < 0 {
                    bail!("mq_notify: {}", std::io::Error::last_os_error());
                }
                // The init's descriptor on /gone is inherited; its name goes.
                let c = CString::new(GONE)?;
                // SAFETY: a NUL-terminated name.
                if unsafe { libc::mq_unlink(c.as_ptr()) } < 0 {
                    bail!("mq_unlink: {}", std::io::Error::last_os_error());
                }
                nix::unistd::write(&w, b"r")?;
                while !go.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let mut want: Vec<(u32, Vec<u8>)> = sent().to_vec();
                // Highest priority first, each priority in the order sent.
                want.sort_by_key(|m| std::cmp::Reverse(m.0));
                let got = drain(work, WORK_MSGSIZE as usize);
                if got != want {
                    bad.push(format!(
                        "/work gave {:?}",
                        got.iter().map(|m| (m.0, m.1.len())).collect::<Vec<_>>()
                    ));
                }
                let got = drain(gone, 32);
                if got != [(2, b"here".to_vec()), (1, b"still".to_vec())] {
                    bad.push(format!("/gone gave {got:?}"));
                }
                if attrs(nfd).0 != i64::from(libc::O_NONBLOCK) {
                    bad.push(format!("/notify attributes {:?}", attrs(nfd)));
                }
                nix::unistd::write(&w, b"g")?;
                // The init's message to /notify: its signal.
                // SAFETY: a zeroed siginfo is valid to fill.
                let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                let ts = libc::timespec {
                    tv_sec: 10,
                    tv_nsec: 0,
                };
                // SAFETY: valid set, buffer and timeout.
                let sig = unsafe { libc::sigtimedwait(set.as_ref(), &mut info, &ts) };
                if sig != libc::SIGUSR1 {
                    bad.push(format!("no notification signal (got {sig})"));
                } else {
                    // SAFETY: a SIGUSR1 queued by mq_notify: si_value is set.
                    let value = unsafe { info.si_value().sival_ptr } as usize;
                    if info.si_code != libc::SI_MESGQ || value != NOTIFY_VALUE as usize {
                        bad.push(format!("notification code {} value {value}", info.si_code));
                    }
                }
                Ok(bad)
            })();
            let line = match bad {
                Ok(b) if b.is_empty() => "ok".to_owned(),
                Ok(b) => b.join("; "),
                Err(e) => format!("{e:#}"),
            };
            let _ = nix::unistd::write(&w, format!("\n{line}\n").as_bytes());
            // SAFETY: leave at once.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(w);
    let mut pipe = std::fs::File::from(r);
    let mut one = [0u8; 1];
    std::io::Read::read_exact(&mut pipe, &mut one)?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut bad = Vec::new();
    // The receiver drained the queues: then the message it waits for.
    std::io::Read::read_exact(&mut pipe, &mut one)?;
    if attrs(work) != (0, WORK_MAXMSG, WORK_MSGSIZE, 0) {
        bad.push(format!("/work attributes {:?}", attrs(work)));
    }
    mq_send(notify, 3, b"wake")?;
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut pipe, &mut rest)?;
    let theirs = rest.trim();
    if theirs != "ok" {
        bad.push(format!("receiver: {theirs}"));
    }
    if !matches!(waitpid(receiver, None), Ok(WaitStatus::Exited(_, 0))) {
        bad.push("the receiver's exit".to_owned());
    }
    // The name of the unlinked queue is free, the others' taken.
    if mq_open(GONE, libc::O_RDONLY, 0, None).is_ok() {
        bad.push("/gone has its name again".to_owned());
    }
    if mq_open(
        NOTIFY,
        libc::O_CREAT | libc::O_EXCL | libc::O_RDONLY,
        0o600,
        None,
    )
    .is_ok()
    {
        bad.push("/notify is gone".to_owned());
    }
    verdict_all(
        &result,
        &bad,
        "priorities in order, the unlinked queue kept, the notification delivered",
    )
}
