//! The unix socket workload: pairs of every type with messages queued in
//! both directions, checked by reading them after the restart.

use super::{go_and_result, name, on_sigusr1, ready, verdict_all};
use anyhow::{bail, Result};
use nix::libc;
use std::path::Path;

/// The end a SIGUSR1 handler writes a byte to, waking the blocked read.
static UNIX_WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_unix(_: i32) {
    // SAFETY: write(2) is async-signal-safe; one valid byte.
    unsafe {
        libc::write(
            UNIX_WAKE.load(std::sync::atomic::Ordering::Relaxed),
            b"w".as_ptr().cast(),
            1,
        )
    };
}

fn pair(ty: i32) -> Result<[i32; 2]> {
    let mut sv = [0i32; 2];
    // SAFETY: a valid array of two descriptors.
    if unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, sv.as_mut_ptr()) } != 0 {
        bail!("socketpair: {}", std::io::Error::last_os_error());
    }
    Ok(sv)
}

fn send(fd: i32, b: &[u8]) -> Result<()> {
    // SAFETY: a valid buffer; MSG_NOSIGNAL keeps SIGPIPE away.
    let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) };
    if n != b.len() as isize {
        bail!(
            "send of {} bytes: {}",
            b.len(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// One non-blocking recv(2): the message, or the errno.
fn recv(fd: i32) -> std::result::Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; 70_000];
    // SAFETY: a valid buffer of its length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn sockopt(fd: i32, opt: i32) -> i32 {
    let mut v = 0i32;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: a valid int and its length.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut i32).cast(),
            &mut len,
        )
    };
    v
}

/// Pushes to `bad` what differs from what was wanted.
fn expect(
    bad: &mut Vec<String>,
    what: &str,
    got: std::result::Result<Vec<u8>, i32>,
    want: std::result::Result<&[u8], i32>,
) {
    let want = want.map(<[u8]>::to_vec);
    if got != want {
        let show = |r: &std::result::Result<Vec<u8>, i32>| match r {
            Ok(v) if v.len() > 16 => format!("{} bytes", v.len()),
            Ok(v) => format!("{:?}", String::from_utf8_lossy(v)),
            Err(e) => format!("errno {e}"),
        };
        bad.push(format!("{what}: {} instead of {}", show(&got), show(&want)));
    }
}

/// Unix socket pairs. Stream pair S: "hello" queued to S1 and 60,000
/// patterned bytes to S0, S0's SO_SNDBUF set, S1 SO_PASSCRED and
/// non-blocking. Datagram pair D: "a", an empty datagram and "ccc" queued
/// to D1. Seqpacket pair Q: two records queued to Q0, then Q1 shut down for
/// writing. Stream pair C: "bye" queued to C0, then C1 closed. The process
/// is blocked reading a fifth pair W when it is saved. After the restart a
/// SIGUSR1 handler writes a byte to W; the read returns it, and the process
/// reads every queue back (same bytes, same boundaries, then EAGAIN or
/// end of file), checks the options, flags, shutdowns and that each pair is
/// still connected.
pub(crate) fn unix_check(ready_path: &Path) -> Result<()> {
    name("unix");
    let (_, result) = go_and_result(ready_path);
    let pattern: Vec<u8> = (0..60_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let s = pair(libc::SOCK_STREAM)?;
    let d = pair(libc::SOCK_DGRAM)?;
    let q = pair(libc::SOCK_SEQPACKET)?;
    let c = pair(libc::SOCK_STREAM)?;
    let w = pair(libc::SOCK_STREAM)?;
    // SAFETY: setsockopt, fcntl and close on our own descriptors.
    let sndbuf = unsafe {
        let v = 200_000i32;
        libc::setsockopt(
            s[0],
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&v as *const i32).cast(),
            4,
        );
        let on = 1i32;
        libc::setsockopt(
            s[1],
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&on as *const i32).cast(),
            4,
        );
        libc::fcntl(s[1], libc::F_SETFL, libc::O_NONBLOCK);
        sockopt(s[0], libc::SO_SNDBUF)
    };
    send(s[0], b"hello")?;
    send(s[1], &pattern)?;
    for m in [&b"a"[..], b"", b"ccc"] {
        send(d[0], m)?;
    }
    send(q[1], b"rec1")?;
    send(q[1], b"record2")?;
    // SAFETY: shutdown and close of our own descriptors.
    unsafe {
        libc::shutdown(q[1], libc::SHUT_WR);
    }
    send(c[1], b"bye")?;
    // SAFETY: as above.
    unsafe {
        libc::close(c[1]);
    }
    UNIX_WAKE.store(w[1], std::sync::atomic::Ordering::Relaxed);
    on_sigusr1(on_usr1_unix);
    ready(ready_path)?;
    let mut bad = Vec::new();
    let mut b = [0u8; 1];
    // Blocks until the handler (after the restart) writes a byte.
    // SAFETY: a valid one-byte buffer.
    let n = unsafe { libc::read(w[0], b.as_mut_ptr().cast(), 1) };
    if n != 1 || b[0] != b'w' {
        bad.push(format!("the blocked read gave {n} byte(s)"));
    }
    expect(&mut bad, "S1's queue", recv(s[1]), Ok(b"hello"));
    expect(&mut bad, "S1 once read", recv(s[1]), Err(libc::EAGAIN));
    let mut got = Vec::new();
    while let Ok(m) = recv(s[0]) {
        if m.is_empty() {
            break;
        }
        got.extend_from_slice(&m);
    }
    expect(&mut bad, "S0's queue", Ok(got), Ok(&pattern));
    for (i, m) in [&b"a"[..], b"", b"ccc"].iter().enumerate() {
        expect(&mut bad, &format!("datagram {i} of D1"), recv(d[1]), Ok(m));
    }
    expect(&mut bad, "D1 once read", recv(d[1]), Err(libc::EAGAIN));
    expect(&mut bad, "record 1 of Q0", recv(q[0]), Ok(b"rec1"));
    expect(&mut bad, "record 2 of Q0", recv(q[0]), Ok(b"record2"));
    expect(&mut bad, "Q0 after Q1's shutdown", recv(q[0]), Ok(b""));
    expect(&mut bad, "C0's queue", recv(c[0]), Ok(b"bye"));
    expect(&mut bad, "C0 with its peer closed", recv(c[0]), Ok(b""));
    // Still connected: a byte each way through S and D.
    if send(s[0], b"x").is_err() || send(s[1], b"y").is_err() || send(d[1], b"z").is_err() {
        bad.push("a send on a restored pair failed".into());
    }
    expect(&mut bad, "S1 after a new send", recv(s[1]), Ok(b"x"));
    expect(&mut bad, "S0 after a new send", recv(s[0]), Ok(b"y"));
    expect(&mut bad, "D0 after a new send", recv(d[0]), Ok(b"z"));
    // SAFETY: send, fcntl and getsockopt on our own descriptors.
    unsafe {
        if libc::send(q[1], b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) >= 0
            || *libc::__errno_location() != libc::EPIPE
        {
            bad.push("Q1, shut down for writing, could send".into());
        }
        let nb = [s[0], s[1]].map(|fd| libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK);
        if nb != [0, libc::O_NONBLOCK] {
            bad.push(format!("O_NONBLOCK of S0 and S1: {nb:?}"));
        }
    }
    let now = sockopt(s[0], libc::SO_SNDBUF);
    if now != sndbuf {
        bad.push(format!("S0's SO_SNDBUF is {now}, was {sndbuf}"));
    }
    if sockopt(s[1], libc::SO_PASSCRED) != 1 || sockopt(s[0], libc::SO_PASSCRED) != 0 {
        bad.push("SO_PASSCRED is not as it was".into());
    }
    if sockopt(d[0], libc::SO_TYPE) != libc::SOCK_DGRAM
        || sockopt(q[0], libc::SO_TYPE) != libc::SOCK_SEQPACKET
    {
        bad.push("a pair has another type".into());
    }
    verdict_all(&result, &bad, "unix socket pairs")
}

/// The listener's path a SIGUSR1 handler connects to, waking the blocked
/// accept.
static NAMED_WAKE: std::sync::Mutex<Option<std::ffi::CString>> = std::sync::Mutex::new(None);
static NAMED_WAKE_PATH: std::sync::atomic::AtomicPtr<libc::c_char> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_usr1_named(_: i32) {
    // SAFETY: socket(2) and connect(2) are async-signal-safe; the path
    // is a NUL-terminated string that lives as long as the process.
    unsafe {
        let path = NAMED_WAKE_PATH.load(std::sync::atomic::Ordering::Relaxed);
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as u16;
        let mut i = 0;
        while *path.add(i) != 0 && i < addr.sun_path.len() - 1 {
            addr.sun_path[i] = *path.add(i);
            i += 1;
        }
        libc::connect(
            fd,
            (&addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as u32,
        );
        // Left open: the accepted end reads it.
    }
}

/// A sockaddr_un for `name` (a path, or an abstract name from its NUL)
/// and its length.
fn sun(name: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as u16;
    for (d, s) in addr.sun_path.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    (addr, (2 + name.len()) as libc::socklen_t)
}

fn bound(ty: i32, name: &[u8]) -> Result<i32> {
    let (addr, len) = sun(name);
    // SAFETY: socket and bind with a valid address.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, ty, 0);
        if fd < 0 || libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
            bail!(
                "bind {:?}: {}",
                String::from_utf8_lossy(name),
                std::io::Error::last_os_error()
            );
        }
        Ok(fd)
    }
}

fn connected(ty: i32, name: &[u8]) -> Result<i32> {
    let (addr, len) = sun(name);
    // SAFETY: socket and connect with a valid address.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, ty, 0);
        if fd < 0 || libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
            bail!(
                "connect {:?}: {}",
                String::from_utf8_lossy(name),
                std::io::Error::last_os_error()
            );
        }
        Ok(fd)
    }
}

/// getsockname(2): the name (without the family), or an errno.
fn sockname(fd: i32) -> Vec<u8> {
    // SAFETY: a valid buffer and length.
    unsafe {
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        if libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_un).cast(), &mut len) != 0 {
            return b"?".to_vec();
        }
        addr.sun_path
            .iter()
            .take((len as usize).saturating_sub(2))
            .map(|&c| c as u8)
            .collect()
    }
}

/// Named unix sockets. A stream listener bound to a path (socket file
/// mode 0666) with one accepted connection, "ping" queued to the server
/// end and "pong" to the client end; a seqpacket listener on an abstract
/// name; a datagram receiver bound to a path holding two datagrams from
/// an unnamed sender. The process is blocked in accept(2) on the path
/// listener when it is saved; after the restart a SIGUSR1 handler
/// connects to it, and the process checks the addresses, the socket
/// file's mode, the queues, a new connection to each listener and a new
/// datagram.
pub(crate) fn unix_named_check(ready_path: &Path) -> Result<()> {
    name("unix-named");
    let (_, result) = go_and_result(ready_path);
    let base = ready_path.to_string_lossy().replace("ready-", "sock-");
    let path = format!("{base}.srv").into_bytes();
    let log = format!("{base}.log").into_bytes();
    let abs = format!("\0kernel-ckpt-{}", std::process::id()).into_bytes();
    for p in [&path, &log] {
        let _ = std::fs::remove_file(String::from_utf8_lossy(p).as_ref());
    }
    let lst = bound(libc::SOCK_STREAM, &path)?;
    let seq = bound(libc::SOCK_SEQPACKET, &abs)?;
    let rcv = bound(libc::SOCK_DGRAM, &log)?;
    // SAFETY: listen, chmod, accept, sendto and close on our own
    // descriptors, with valid buffers.
    let (srv, cli) = unsafe {
        if libc::listen(lst, 8) != 0 || libc::listen(seq, 3) != 0 {
            bail!("listen: {}", std::io::Error::last_os_error());
        }
        let c = std::ffi::CString::new(path.clone())?;
        libc::chmod(c.as_ptr(), 0o666);
        let cli = connected(libc::SOCK_STREAM, &path)?;
        let srv = libc::accept4(lst, std::ptr::null_mut(), std::ptr::null_mut(), 0);
        if srv < 0 {
            bail!("accept: {}", std::io::Error::last_os_error());
        }
        send(srv, b"pong")?;
        send(cli, b"ping")?;
        let tx = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0);
        let (addr, len) = sun(&log);
        for m in [&b"<13>first"[..], b"<13>second"] {
            libc::sendto(
                tx,
                m.as_ptr().cast(),
                m.len(),
                0,
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            );
        }
        libc::close(tx);
        (srv, cli)
    };
    let wake = std::ffi::CString::new(path.clone())?;
    NAMED_WAKE_PATH.store(
        wake.as_ptr() as *mut _,
        std::sync::atomic::Ordering::Relaxed,
    );
    *NAMED_WAKE.lock().unwrap_or_else(|e| e.into_inner()) = Some(wake);
    on_sigusr1(on_usr1_named);
    ready(ready_path)?;
    let mut bad = Vec::new();
    // Blocks until the handler (after the restart) connects.
    // SAFETY: accept4 with no address buffers.
    let woke = unsafe { libc::accept4(lst, std::ptr::null_mut(), std::ptr::null_mut(), 0) };
    if woke < 0 {
        bad.push(format!(
            "the blocked accept failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    for (what, fd, want) in [
        ("the listener", lst, &path),
        ("the accepted end", srv, &path),
        ("the seqpacket listener", seq, &abs),
        ("the datagram receiver", rcv, &log),
    ] {
        let got = sockname(fd);
        let want = if want[0] == 0 {
            want.clone()
        } else {
            [want.as_slice(), b"\0"].concat()
        };
        if got != want {
            bad.push(format!(
                "{what} is named {:?}, not {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            ));
        }
    }
    if !sockname(cli).is_empty() {
        bad.push("the client end got a name".into());
    }
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::metadata(String::from_utf8_lossy(&path).as_ref()) {
        Ok(m) if m.file_type().is_socket() && m.permissions().mode() & 0o777 == 0o666 => {}
        Ok(m) => bad.push(format!(
            "the socket file has mode {:o}",
            m.permissions().mode()
        )),
        Err(e) => bad.push(format!("the socket file: {e}")),
    }
    expect(&mut bad, "the server end's queue", recv(srv), Ok(b"ping"));
    expect(&mut bad, "the client end's queue", recv(cli), Ok(b"pong"));
    if send(cli, b"again").is_err() {
        bad.push("the client end cannot send".into());
    }
    expect(
        &mut bad,
        "the server end after a new send",
        recv(srv),
        Ok(b"again"),
    );
    // SAFETY: recvfrom with valid buffers.
    unsafe {
        for want in [&b"<13>first"[..], b"<13>second"] {
            let mut buf = [0u8; 64];
            let mut from: libc::sockaddr_un = std::mem::zeroed();
            let mut flen = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            let n = libc::recvfrom(
                rcv,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut from as *mut libc::sockaddr_un).cast(),
                &mut flen,
            );
            let got = &buf[..n.max(0) as usize];
            // An unnamed sender: recvfrom(2) gives no address.
            if got != want || flen != 0 {
                bad.push(format!(
                    "the receiver gave {:?} from a sender named with {flen} bytes",
                    String::from_utf8_lossy(got)
                ));
            }
        }
    }
    expect(
        &mut bad,
        "the receiver once read",
        recv(rcv),
        Err(libc::EAGAIN),
    );
    // New traffic to each: a datagram, a seqpacket connection.
    // SAFETY: plain socket calls with valid buffers.
    unsafe {
        let tx = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0);
        let (addr, len) = sun(&log);
        libc::sendto(
            tx,
            b"<13>third".as_ptr().cast(),
            9,
            0,
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        );
        expect(
            &mut bad,
            "the receiver after a new datagram",
            recv(rcv),
            Ok(b"<13>third"),
        );
        match connected(libc::SOCK_SEQPACKET, &abs) {
            Ok(c) => {
                let a = libc::accept4(seq, std::ptr::null_mut(), std::ptr::null_mut(), 0);
                send(c, b"rec")?;
                expect(&mut bad, "a new seqpacket connection", recv(a), Ok(b"rec"));
            }
            Err(e) => bad.push(format!("connecting to the abstract listener: {e}")),
        }
    }
    verdict_all(&result, &bad, "named unix sockets")
}

/// accept(2) without blocking: the descriptor, or the errno.
fn accept_now(fd: i32) -> std::result::Result<i32, i32> {
    // SAFETY: a plain fcntl(2), then accept(2) with no address wanted.
    let s = unsafe {
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
        );
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK,
        )
    };
    if s < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(s)
}

/// Connections waiting to be accepted. A stream listener bound to a path
/// (backlog 8) holds three: client A sent "early" and shut down its
/// writing side, client B sent "first" and "second" and stays open, client
/// C sent "gone" and was closed; a seqpacket listener on an abstract name
/// holds one whose client sent two records. The process is blocked reading
/// a pair when it is saved; after the restart a SIGUSR1 handler wakes it,
/// and accept(2) takes A, B and C in that order, each with what its client
/// sent (then the end of the stream for A and C), B's two ends talk both
/// ways, a fourth accept finds none, and the seqpacket connection gives
/// back its two records, boundaries kept.
pub(crate) fn unix_pending_check(ready_path: &Path) -> Result<()> {
    name("unixpend");
    let (_, result) = go_and_result(ready_path);
    let dir = ready_path.parent().unwrap_or(Path::new("/tmp"));
    let path = format!("{}/{}-pending.sock", dir.display(), std::process::id());
    let _ = std::fs::remove_file(&path);
    let abs = format!("\0ckpt-pending-{}", std::process::id());
    let l = bound(libc::SOCK_STREAM, path.as_bytes())?;
    let q = bound(libc::SOCK_SEQPACKET, abs.as_bytes())?;
    // SAFETY: listen(2) on our own sockets.
    if unsafe { libc::listen(l, 8) } != 0 || unsafe { libc::listen(q, 4) } != 0 {
        bail!("listen: {}", std::io::Error::last_os_error());
    }
    let a = connected(libc::SOCK_STREAM, path.as_bytes())?;
    send(a, b"early")?;
    let b = connected(libc::SOCK_STREAM, path.as_bytes())?;
    send(b, b"first")?;
    send(b, b"second")?;
    let c = connected(libc::SOCK_STREAM, path.as_bytes())?;
    send(c, b"gone")?;
    let qc = connected(libc::SOCK_SEQPACKET, abs.as_bytes())?;
    send(qc, b"rec1")?;
    send(qc, b"rec-two")?;
    // SAFETY: plain calls on our own descriptors.
    unsafe {
        libc::shutdown(a, libc::SHUT_WR);
        libc::close(c);
    }
    let w = pair(libc::SOCK_STREAM)?;
    UNIX_WAKE.store(w[1], std::sync::atomic::Ordering::Relaxed);
    on_sigusr1(on_usr1_unix);
    ready(ready_path)?;
    let mut bad = Vec::new();
    let mut byte = [0u8; 1];
    // SAFETY: one valid byte.
    if unsafe { libc::read(w[0], byte.as_mut_ptr().cast(), 1) } != 1 {
        bad.push(format!(
            "the blocked read: {}",
            std::io::Error::last_os_error()
        ));
    }
    match accept_now(l) {
        Ok(sa) => {
            expect(&mut bad, "A's data", recv(sa), Ok(b"early"));
            expect(&mut bad, "A's end of stream", recv(sa), Ok(b""));
        }
        Err(e) => bad.push(format!("accept of A: errno {e}")),
    }
    match accept_now(l) {
        Ok(sb) => {
            expect(&mut bad, "B's data", recv(sb), Ok(b"firstsecond"));
            expect(&mut bad, "B's data, all read", recv(sb), Err(libc::EAGAIN));
            if let Err(e) = send(sb, b"reply") {
                bad.push(format!("B's server end: {e}"));
            }
            expect(
                &mut bad,
                "B's client reads the reply",
                recv(b),
                Ok(b"reply"),
            );
            if let Err(e) = send(b, b"more") {
                bad.push(format!("B's client: {e}"));
            }
            expect(&mut bad, "B's server reads more", recv(sb), Ok(b"more"));
        }
        Err(e) => bad.push(format!("accept of B: errno {e}")),
    }
    match accept_now(l) {
        Ok(sc) => {
            expect(&mut bad, "C's data", recv(sc), Ok(b"gone"));
            expect(&mut bad, "C's end of stream", recv(sc), Ok(b""));
        }
        Err(e) => bad.push(format!("accept of C: errno {e}")),
    }
    if let Ok(s) = accept_now(l) {
        bad.push(format!("a fourth connection was waiting (fd {s})"));
    }
    match accept_now(q) {
        Ok(sq) => {
            expect(&mut bad, "the first record", recv(sq), Ok(b"rec1"));
            expect(&mut bad, "the second record", recv(sq), Ok(b"rec-two"));
            expect(&mut bad, "no third record", recv(sq), Err(libc::EAGAIN));
        }
        Err(e) => bad.push(format!("accept on the seqpacket listener: errno {e}")),
    }
    let _ = std::fs::remove_file(&path);
    verdict_all(
        &result,
        &bad,
        "connections waiting to be accepted: order, data, ends, both ways, records",
    )
}

/// sendmsg(2) of `data` on `sock` with `fds` in flight (`SCM_RIGHTS`), to
/// `to` when given (an unconnected datagram socket).
pub(super) fn send_rights(sock: i32, data: &[u8], fds: &[i32], to: Option<&[u8]>) -> Result<()> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // Room for the descriptors, aligned for cmsghdr.
    let mut control = vec![0u64; 64];
    // SAFETY: all-zero is a valid msghdr; the pointers set below stay
    // valid for the call; CMSG_* stay within `control`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1 as _;
        let addr = to.map(sun);
        if let Some((a, len)) = &addr {
            msg.msg_name = (a as *const libc::sockaddr_un) as *mut libc::c_void;
            msg.msg_namelen = *len;
        }
        let bytes = std::mem::size_of_val(fds) as u32;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(bytes) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(bytes) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) != data.len() as isize {
            bail!("sendmsg(SCM_RIGHTS): {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One non-blocking recvmsg(2): the message and the descriptors it
/// carried (installed close-on-exec), or the errno.
fn recv_rights(sock: i32) -> std::result::Result<(Vec<u8>, Vec<i32>), i32> {
    let mut buf = vec![0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = vec![0u64; 256];
    // SAFETY: as in `send_rights`; the kernel fills what it returns.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1 as _;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = (control.len() * 8) as _;
        let n = libc::recvmsg(sock, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        buf.truncate(n as usize);
        let mut fds = Vec::new();
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let n = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                let p: *const i32 = libc::CMSG_DATA(cmsg).cast();
                for i in 0..n {
                    fds.push(*p.add(i));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        Ok((buf, fds))
    }
}

/// Reads up to `n` bytes from `fd`, as text (the error, if it fails).
fn read_text(fd: i32, n: usize) -> String {
    let mut b = vec![0u8; n];
    // SAFETY: a valid buffer of its length.
    let got = unsafe { libc::read(fd, b.as_mut_ptr().cast(), n) };
    if got < 0 {
        return format!("error {}", std::io::Error::last_os_error());
    }
    String::from_utf8_lossy(&b[..got as usize]).into_owned()
}

/// Descriptors in flight (`SCM_RIGHTS`). Through a stream pair, "files"
/// with a pipe's read end (5 bytes in the pipe), an eventfd (count 7) and
/// a regular file at offset 5 that stays open here too; through a
/// datagram pair, "memfd" with a memfd holding "memfd data", then "plain"
/// with nothing; to a bound datagram socket from an unnamed sender,
/// "timer" with a timerfd. Every descriptor sent is closed here except the
/// regular file, so the others live only in flight. The process is
/// blocked reading another pair when it is saved; after the restart it
/// receives every message with its descriptors and checks them: the
/// pipe's bytes, the count, that the file is the same open file as the
/// one kept (one offset), the memfd's contents, the timerfd's kind.
pub(crate) fn unix_rights_check(ready_path: &Path) -> Result<()> {
    name("unix-rights");
    let (_, result) = go_and_result(ready_path);
    let s = pair(libc::SOCK_STREAM)?;
    let d = pair(libc::SOCK_DGRAM)?;
    let w = pair(libc::SOCK_STREAM)?;
    let name_b = format!("\0kckpt-rights-{}", std::process::id());
    let b = bound(libc::SOCK_DGRAM, name_b.as_bytes())?;
    let data = ready_path.to_string_lossy().replace("ready-", "rights-");
    std::fs::write(&data, b"0123456789")?;
    let cdata = std::ffi::CString::new(data.clone())?;
    let mut p = [0i32; 2];
    // SAFETY: plain calls making descriptors of our own.
    let (file, efd, memfd, tfd, sender) = unsafe {
        if libc::pipe(p.as_mut_ptr()) != 0 {
            bail!("pipe: {}", std::io::Error::last_os_error());
        }
        libc::write(p[1], b"piped".as_ptr().cast(), 5);
        let file = libc::open(cdata.as_ptr(), libc::O_RDONLY);
        libc::lseek(file, 5, libc::SEEK_SET);
        let efd = libc::eventfd(7, 0);
        let memfd = libc::memfd_create(c"rights".as_ptr(), 0);
        libc::write(memfd, b"memfd data".as_ptr().cast(), 10);
        let tfd = libc::timerfd_create(libc::CLOCK_MONOTONIC, 0);
        let sender = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0);
        if [file, efd, memfd, tfd, sender].iter().any(|&f| f < 0) {
            bail!(
                "making the descriptors: {}",
                std::io::Error::last_os_error()
            );
        }
        (file, efd, memfd, tfd, sender)
    };
    send_rights(s[0], b"files", &[p[0], efd, file], None)?;
    send_rights(d[0], b"memfd", &[memfd], None)?;
    send(d[0], b"plain")?;
    send_rights(sender, b"timer", &[tfd], Some(name_b.as_bytes()))?;
    // SAFETY: closing our own descriptors: what was sent lives in flight.
    unsafe {
        for fd in [p[0], efd, memfd, tfd, sender] {
            libc::close(fd);
        }
    }
    UNIX_WAKE.store(w[1], std::sync::atomic::Ordering::Relaxed);
    on_sigusr1(on_usr1_unix);
    ready(ready_path)?;
    let mut bad = Vec::new();
    let mut one = [0u8; 1];
    // Blocks until the handler (after the restart) writes a byte.
    // SAFETY: a valid one-byte buffer.
    let n = unsafe { libc::read(w[0], one.as_mut_ptr().cast(), 1) };
    if n != 1 {
        bad.push(format!("the blocked read gave {n} byte(s)"));
    }
    match recv_rights(s[1]) {
        Ok((m, fds)) if m == b"files" && fds.len() == 3 => {
            let got = read_text(fds[0], 256);
            if got != "piped" {
                bad.push(format!("the pipe in flight gave {got:?}, not \"piped\""));
            }
            let mut count = [0u8; 8];
            // SAFETY: an 8-byte read of an eventfd and lseek on our own
            // descriptors.
            unsafe {
                libc::read(fds[1], count.as_mut_ptr().cast(), 8);
                if u64::from_ne_bytes(count) != 7 {
                    bad.push(format!(
                        "the eventfd in flight counted {}, not 7",
                        u64::from_ne_bytes(count)
                    ));
                }
                let at = libc::lseek(fds[2], 0, libc::SEEK_CUR);
                let c = read_text(fds[2], 1);
                let kept = libc::lseek(file, 0, libc::SEEK_CUR);
                if at != 5 || c != "5" || kept != 6 {
                    bad.push(format!(
                        "the file in flight was at {at} and read {c:?}, the one kept is then at {kept} (not 5, \"5\", 6: one open file)"
                    ));
                }
            }
        }
        other => bad.push(format!(
            "the stream pair gave {other:?}, not \"files\" with 3 descriptors"
        )),
    }
    expect(
        &mut bad,
        "the stream pair once read",
        recv(s[1]),
        Err(libc::EAGAIN),
    );
    match recv_rights(d[1]) {
        Ok((m, fds)) if m == b"memfd" && fds.len() == 1 => {
            let mut buf = [0u8; 16];
            // SAFETY: pread into a valid buffer.
            let n = unsafe { libc::pread(fds[0], buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n != 10 || &buf[..10] != b"memfd data" {
                bad.push(format!(
                    "the memfd in flight holds {:?}",
                    String::from_utf8_lossy(&buf[..n.max(0) as usize])
                ));
            }
        }
        other => bad.push(format!(
            "the datagram pair gave {other:?}, not \"memfd\" with 1 descriptor"
        )),
    }
    match recv_rights(d[1]) {
        Ok((m, fds)) if m == b"plain" && fds.is_empty() => {}
        other => bad.push(format!(
            "the datagram pair then gave {other:?}, not \"plain\" alone"
        )),
    }
    match recv_rights(b) {
        Ok((m, fds)) if m == b"timer" && fds.len() == 1 => {
            let link = std::fs::read_link(format!("/proc/self/fd/{}", fds[0])).unwrap_or_default();
            if link.to_string_lossy() != "anon_inode:[timerfd]" {
                bad.push(format!("the timerfd in flight came back as {link:?}"));
            }
        }
        other => bad.push(format!(
            "the bound socket gave {other:?}, not \"timer\" with 1 descriptor"
        )),
    }
    let _ = std::fs::remove_file(&data);
    verdict_all(&result, &bad, "descriptors in flight")
}
