//! TCP urgent data (`MSG_OOB`) over a pod's loopback (`ckpt run --pod
//! --net`), in each state the kernel keeps it in at either end.

use super::*;

/// `SIOCATMARK`: whether a socket is at its urgent mark.
const SIOCATMARK: libc::c_ulong = 0x8905;

/// The stream `d`'s server sends before its urgent byte, more than the
/// client's small receive buffer takes.
const D_STREAM: usize = 16384;

/// What `fd` shows of urgent data without taking any: whether it is at
/// the mark (`SIOCATMARK`), whether poll(2) gives `POLLPRI`, and what
/// recv(2) with `MSG_OOB | MSG_PEEK` gives (the byte, `EINVAL` when there
/// is none to take, `EAGAIN` when its pointer came before it); with the
/// bytes not read (`FIONREAD`) when `unread`.
fn urgent_view(fd: RawFd, unread: bool) -> String {
    let mut at: libc::c_int = 0;
    // SAFETY: SIOCATMARK writes an int to `at`.
    let r = unsafe { libc::ioctl(fd, SIOCATMARK as _, &mut at) };
    let at = if r < 0 {
        std::io::Error::last_os_error().to_string()
    } else {
        at.to_string()
    };
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLPRI,
        revents: 0,
    };
    // SAFETY: one pollfd, no wait.
    let pri = unsafe { libc::poll(&mut p, 1, 0) } > 0 && p.revents & libc::POLLPRI != 0;
    let mut b = [0u8; 1];
    // SAFETY: `b` has room for one byte.
    let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), 1, libc::MSG_OOB | libc::MSG_PEEK) };
    let oob = match n {
        1 => format!("{:?}", b[0] as char),
        0 => "0".to_owned(),
        _ => match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINVAL) => "EINVAL".to_owned(),
            Some(libc::EAGAIN) => "EAGAIN".to_owned(),
            Some(libc::ENOTCONN) => "ENOTCONN".to_owned(),
            e => format!("{e:?}"),
        },
    };
    let mut s = format!("at mark {at}, POLLPRI {pri}, MSG_OOB peek {oob}");
    if unread {
        let mut q: libc::c_int = 0;
        // SAFETY: FIONREAD writes an int to `q`.
        unsafe { libc::ioctl(fd, libc::FIONREAD, &mut q) };
        s.push_str(&format!(", unread {q}"));
    }
    s
}

/// `abc`, then `X` with `MSG_OOB`, then `def`, from `from`; waits until
/// `to` has the urgent byte (`POLLPRI`) and `FIONREAD` gives `unread`,
/// which counts up to the urgent byte only, unless `SO_OOBINLINE`.
fn send_urgent(from: RawFd, to: RawFd, unread: libc::c_int) -> Result<()> {
    send_all(from, b"abc")?;
    // SAFETY: a valid one-byte buffer.
    if unsafe { libc::send(from, b"X".as_ptr().cast(), 1, libc::MSG_OOB) } != 1 {
        bail!("send MSG_OOB: {}", std::io::Error::last_os_error());
    }
    send_all(from, b"def")?;
    for _ in 0..500 {
        let mut q: libc::c_int = 0;
        // SAFETY: FIONREAD writes an int to `q`.
        unsafe { libc::ioctl(to, libc::FIONREAD, &mut q) };
        if q == unread && urgent_view(to, false).contains("POLLPRI true") {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    bail!("the bytes did not come: {}", urgent_view(to, true))
}

/// recv(2) with `MSG_OOB` from `fd`: its urgent byte, or why not.
fn recv_oob(fd: RawFd) -> Result<u8> {
    let mut b = [0u8; 1];
    // SAFETY: `b` has room for one byte.
    let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), 1, libc::MSG_OOB) };
    if n != 1 {
        bail!("recv MSG_OOB gave {n}: {}", std::io::Error::last_os_error());
    }
    Ok(b[0])
}

/// Whether `fd` is at the urgent mark.
fn at_mark(fd: RawFd) -> Result<bool> {
    let mut at: libc::c_int = 0;
    // SAFETY: SIOCATMARK writes an int to `at`.
    check(
        unsafe { libc::ioctl(fd, SIOCATMARK as _, &mut at) },
        "SIOCATMARK",
    )?;
    Ok(at != 0)
}

/// `want` read from `fd` as read(2) gives it.
fn expect_bytes(fd: RawFd, want: &[u8]) -> Result<()> {
    let got = recv_exact(fd, want.len())?;
    if got != want {
        bail!(
            "read {:?}, not {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want)
        );
    }
    Ok(())
}

/// The pod's init (`tcp_urgent_pod`): TCP connections over its loopback
/// (a listener on 127.0.0.1:7034) holding urgent data, each client having
/// sent `abc`, `X` with `MSG_OOB`, `def`:
/// - `a`: the server read nothing: its urgent byte `X` waits (POLLPRI).
///   After: it reads `abc`, is at the mark, takes `X` with `MSG_OOB`,
///   reads `def`.
/// - `b`: the same with `SO_OOBINLINE` on the server: after, it reads
///   `abc`, is at the mark, reads `Xdef`.
/// - `c`: the server took `X` with `MSG_OOB` before the checkpoint: after,
///   `MSG_OOB` gives `EINVAL`, and reading gives `abcdef`, stepping over
///   `X`.
/// - `d`: the other way, the client reading nothing with a 4 KiB receive
///   buffer: the server sent 16 KiB of the stream, then `U` with
///   `MSG_OOB`, which waits behind the stream, unsent for want of window,
///   in urgent mode; its zero-window probes carried the urgent pointer to
///   the client, which knows the byte is coming (`MSG_OOB` gives
///   `EAGAIN`). After: the client reads the 16 KiB, is at the mark, and
///   takes `U` with `MSG_OOB`.
///
/// Every connection then carries `more` both ways, and a new client of the
/// listener is served.
///
/// It writes what it sees of every socket (names, peers, options, TCP
/// state, [`urgent_view`]) next to the ready file and after the go file
/// checks it sees the same, then the checks above.
pub(crate) fn tcp_urgent_pod(ready_path: &Path) -> Result<()> {
    name("tcp-urgent-pod");
    let (go, result) = go_and_result(ready_path);
    let seen = ready_path.to_string_lossy().replace("ready-", "seen-");
    let port = PORTS[16];
    let l = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    bind(l, Addr::V4(LO4, port))?;
    listen(l, 8)?;
    let (ca, sa) = tcp_pair(l, port, false)?;
    send_urgent(ca, sa, 3)?;
    let (cb, sb) = tcp_pair(l, port, false)?;
    set_int(sb, libc::SOL_SOCKET, libc::SO_OOBINLINE, 1, "SO_OOBINLINE")?;
    send_urgent(cb, sb, 7)?;
    let (cc, sc) = tcp_pair(l, port, false)?;
    send_urgent(cc, sc, 3)?;
    if recv_oob(sc)? != b'X' {
        bail!("c: the urgent byte is not X");
    }
    let (cd, sd) = tcp_pair(l, port, true)?;
    set_int(
        sd,
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        256 << 10,
        "SO_SNDBUF",
    )?;
    let stream: Vec<u8> = (0..D_STREAM).map(stream_byte).collect();
    send_all(sd, &stream)?;
    // SAFETY: a valid one-byte buffer.
    if unsafe { libc::send(sd, b"U".as_ptr().cast(), 1, libc::MSG_OOB) } != 1 {
        bail!("d: send MSG_OOB: {}", std::io::Error::last_os_error());
    }
    // The client's window closed: a zero-window probe, sent after a
    // retransmission timeout, brings it the urgent pointer.
    let mut waited = 0;
    while !urgent_view(cd, false).ends_with("MSG_OOB peek EAGAIN") {
        if waited > 700 {
            bail!(
                "d: the client never saw the urgent pointer: {}",
                urgent_view(cd, true)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    let socks = Sockets(vec![
        ("listener", l),
        ("a client", ca),
        ("a server", sa),
        ("b client", cb),
        ("b server", sb),
        ("c client", cc),
        ("c server", sc),
        ("d client", cd),
        ("d server", sd),
    ]);
    // `d`'s client's count of bytes come depends on how its window closed.
    let describe = |s: &Sockets| -> Vec<String> {
        s.describe_tcp(|_, _| true)
            .into_iter()
            .zip(&s.0)
            .map(|(l, (what, fd))| format!("{l}, {}", urgent_view(*fd, *what != "d client")))
            .collect()
    };
    let before = describe(&socks);
    std::fs::write(&seen, before.join("\n") + "\n")?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut bad = Vec::new();
    for (b, a) in before.iter().zip(&describe(&socks)) {
        if b != a {
            bad.push(format!("before: {b}; after: {a}"));
        }
    }
    let mut run = |what: &str, r: Result<()>| {
        if let Err(e) = r {
            bad.push(format!("{what}: {e:#}"));
        }
    };
    let at_mark_now = |fd: RawFd, want: bool| -> Result<()> {
        if at_mark(fd)? != want {
            bail!("SIOCATMARK is not {want}");
        }
        Ok(())
    };
    let more = |x: RawFd, y: RawFd| -> Result<()> {
        send_all(x, b"more")?;
        expect_bytes(y, b"more")?;
        send_all(y, b"more")?;
        expect_bytes(x, b"more")
    };
    run(
        "a: the server reads abc, is at the mark, takes X with MSG_OOB, reads def",
        (|| {
            expect_bytes(sa, b"abc")?;
            at_mark_now(sa, true)?;
            if recv_oob(sa)? != b'X' {
                bail!("the urgent byte is not X");
            }
            expect_bytes(sa, b"def")?;
            at_mark_now(sa, false)?;
            more(ca, sa)
        })(),
    );
    run(
        "b: the server (SO_OOBINLINE) reads abc, is at the mark, reads Xdef",
        (|| {
            expect_bytes(sb, b"abc")?;
            at_mark_now(sb, true)?;
            expect_bytes(sb, b"Xdef")?;
            more(cb, sb)
        })(),
    );
    run(
        "c: the server's MSG_OOB gives EINVAL, its read abcdef",
        (|| {
            let mut b = [0u8; 1];
            // SAFETY: `b` has room for one byte.
            let n = unsafe { libc::recv(sc, b.as_mut_ptr().cast(), 1, libc::MSG_OOB) };
            let e = std::io::Error::last_os_error();
            if n >= 0 || e.raw_os_error() != Some(libc::EINVAL) {
                bail!("recv MSG_OOB gave {n} ({e})");
            }
            expect_bytes(sc, b"abcdef")?;
            more(cc, sc)
        })(),
    );
    run(
        "d: the client reads the 16 KiB stream, is at the mark, takes U with MSG_OOB",
        (|| {
            let got = recv_exact(cd, D_STREAM)?;
            if let Some(i) = (0..D_STREAM).find(|&i| got[i] != stream[i]) {
                bail!("byte {i} of the stream differs");
            }
            // The urgent byte comes with the rest of the stream.
            let mut p = libc::pollfd {
                fd: cd,
                events: libc::POLLPRI,
                revents: 0,
            };
            // SAFETY: one pollfd.
            if unsafe { libc::poll(&mut p, 1, 5000) } != 1 {
                bail!("no POLLPRI within 5 s: {}", urgent_view(cd, true));
            }
            at_mark_now(cd, true)?;
            if recv_oob(cd)? != b'U' {
                bail!("the urgent byte is not U");
            }
            more(cd, sd)
        })(),
    );
    run(
        "a new client of 127.0.0.1:7034",
        tcp_round_trip(l, libc::AF_INET, Addr::V4(LO4, port), b"new client"),
    );
    verdict_all(
        &result,
        &bad,
        "every socket's name, peer, options, TCP state and urgent data as before; each urgent byte where it was, taken or skipped as before",
    )
}
