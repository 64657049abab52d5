//! TCP and UDP sockets of both families that hold no connection, in a pod
//! with a network namespace of its own (`ckpt run --pod --net`): bound,
//! listening, connected datagram sockets, with options set.

use super::*;
use nix::libc;
use std::os::fd::RawFd;

mod icmp;
mod packet;
mod urgent;
pub(crate) use icmp::icmp_pod;
pub(crate) use packet::packet_pod;
pub(crate) use urgent::tcp_urgent_pod;

/// The ports the pods' sockets use (their own namespaces: any copy may use
/// them at once): `inet_pod`'s five, `tcp_pod`'s two, the port of
/// `inet_pod`'s sender of a queued datagram, closed since,
/// `tcp_closing_pod`'s listener, `tcp_pending_pod`'s two,
/// `tcp_opening_pod`'s, `icmp_pod`'s two ping identifiers, its sink's
/// port and its multicast group's, `tcp_urgent_pod`'s listener,
/// `packet_pod`'s two datagram ports, and `inet_pod`'s socket bound to
/// the loopback device.
pub(crate) const PORTS: [u16; 20] = [
    7001, 7002, 7003, 7004, 7005, 7010, 7011, 7006, 7012, 7013, 7014, 7015, 7030, 7031, 7032, 7033,
    7034, 7035, 7036, 7037,
];

fn check(ret: libc::c_int, what: &str) -> Result<libc::c_int> {
    if ret < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(ret)
}

/// An IPv4 or IPv6 socket address.
enum Addr {
    V4([u8; 4], u16),
    V6([u8; 16], u16),
}

impl Addr {
    /// `::ffff:a.b.c.d`.
    fn mapped(a: [u8; 4], port: u16) -> Self {
        let mut v6 = [0u8; 16];
        v6[10] = 0xff;
        v6[11] = 0xff;
        v6[12..].copy_from_slice(&a);
        Self::V6(v6, port)
    }

    /// The sockaddr and its length.
    fn raw(&self) -> (libc::sockaddr_storage, libc::socklen_t) {
        // SAFETY: plain data, all zeros is valid.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = match *self {
            Addr::V4(a, port) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: port.to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: a sockaddr_in fits in a sockaddr_storage.
                unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
                std::mem::size_of::<libc::sockaddr_in>()
            }
            Addr::V6(a, port) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: port.to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr { s6_addr: a },
                    sin6_scope_id: 0,
                };
                // SAFETY: a sockaddr_in6 fits in a sockaddr_storage.
                unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        (ss, len as libc::socklen_t)
    }
}

const LO4: [u8; 4] = [127, 0, 0, 1];
const ANY6: [u8; 16] = [0; 16];
const LO6: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

fn socket(family: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> Result<RawFd> {
    // SAFETY: socket(2) takes plain integers.
    check(unsafe { libc::socket(family, ty, proto) }, "socket")
}

fn set_int(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
    what: &str,
) -> Result<()> {
    // SAFETY: `v` outlives the call; its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(r, what).map(|_| ())
}

fn set_raw<T>(fd: RawFd, level: libc::c_int, opt: libc::c_int, v: &T, what: &str) -> Result<()> {
    // SAFETY: `v` outlives the call; its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    check(r, what).map(|_| ())
}

fn bind(fd: RawFd, a: Addr) -> Result<()> {
    let (ss, len) = a.raw();
    // SAFETY: `ss` holds `len` bytes of a sockaddr.
    check(
        unsafe { libc::bind(fd, (&ss as *const libc::sockaddr_storage).cast(), len) },
        "bind",
    )
    .map(|_| ())
}

fn connect(fd: RawFd, a: Addr) -> Result<()> {
    let (ss, len) = a.raw();
    // SAFETY: as for bind.
    check(
        unsafe { libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len) },
        "connect",
    )
    .map(|_| ())
}

fn listen(fd: RawFd, backlog: libc::c_int) -> Result<()> {
    // SAFETY: plain integers.
    check(unsafe { libc::listen(fd, backlog) }, "listen").map(|_| ())
}

/// A sockaddr as text.
fn addr_text(ss: &libc::sockaddr_storage) -> String {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            format!(
                "{}:{}",
                std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port)
            )
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            format!(
                "[{}]:{}",
                std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port)
            )
        }
        f => format!("family {f}"),
    }
}

fn name_of(fd: RawFd, peer: bool) -> String {
    // SAFETY: plain data.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let p = (&mut ss as *mut libc::sockaddr_storage).cast();
    // SAFETY: `ss` has room for `len` bytes.
    let r = unsafe {
        if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        }
    };
    if r < 0 {
        return format!("({})", std::io::Error::last_os_error());
    }
    addr_text(&ss)
}

/// getsockopt(2) of `opt` as bytes (up to 32).
fn get_bytes(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
) -> std::result::Result<Vec<u8>, String> {
    let mut buf = [0u8; 32];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` has room for `len` bytes.
    let r = unsafe { libc::getsockopt(fd, level, opt, buf.as_mut_ptr().cast(), &mut len) };
    if r < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(buf[..len as usize].to_vec())
}

/// Every option the pod sets or a program commonly reads, by name, with
/// the value getsockopt(2) gives (ints as ints, others as bytes).
const OPTS: &[(&str, libc::c_int, libc::c_int)] = &[
    ("SO_TYPE", libc::SOL_SOCKET, libc::SO_TYPE),
    ("SO_PROTOCOL", libc::SOL_SOCKET, libc::SO_PROTOCOL),
    ("SO_DOMAIN", libc::SOL_SOCKET, libc::SO_DOMAIN),
    ("SO_ACCEPTCONN", libc::SOL_SOCKET, libc::SO_ACCEPTCONN),
    ("SO_REUSEADDR", libc::SOL_SOCKET, libc::SO_REUSEADDR),
    ("SO_REUSEPORT", libc::SOL_SOCKET, libc::SO_REUSEPORT),
    ("SO_KEEPALIVE", libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    ("SO_BROADCAST", libc::SOL_SOCKET, libc::SO_BROADCAST),
    ("SO_PRIORITY", libc::SOL_SOCKET, libc::SO_PRIORITY),
    ("SO_RCVBUF", libc::SOL_SOCKET, libc::SO_RCVBUF),
    ("SO_SNDBUF", libc::SOL_SOCKET, libc::SO_SNDBUF),
    ("SO_RCVLOWAT", libc::SOL_SOCKET, libc::SO_RCVLOWAT),
    ("SO_RCVTIMEO", libc::SOL_SOCKET, libc::SO_RCVTIMEO),
    ("SO_SNDTIMEO", libc::SOL_SOCKET, libc::SO_SNDTIMEO),
    ("SO_LINGER", libc::SOL_SOCKET, libc::SO_LINGER),
    ("SO_BINDTODEVICE", libc::SOL_SOCKET, libc::SO_BINDTODEVICE),
    ("SO_ERROR", libc::SOL_SOCKET, libc::SO_ERROR),
    ("IP_TOS", libc::IPPROTO_IP, libc::IP_TOS),
    ("IP_TTL", libc::IPPROTO_IP, libc::IP_TTL),
    ("IP_PKTINFO", libc::IPPROTO_IP, libc::IP_PKTINFO),
    ("IP_RECVERR", libc::IPPROTO_IP, libc::IP_RECVERR),
    ("IP_FREEBIND", libc::IPPROTO_IP, libc::IP_FREEBIND),
];
const OPTS_V6: &[(&str, libc::c_int, libc::c_int)] = &[
    ("IPV6_V6ONLY", libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
    ("IPV6_TCLASS", libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
    (
        "IPV6_UNICAST_HOPS",
        libc::IPPROTO_IPV6,
        libc::IPV6_UNICAST_HOPS,
    ),
    (
        "IPV6_RECVPKTINFO",
        libc::IPPROTO_IPV6,
        libc::IPV6_RECVPKTINFO,
    ),
];
const OPTS_TCP: &[(&str, libc::c_int, libc::c_int)] = &[
    ("TCP_NODELAY", libc::IPPROTO_TCP, libc::TCP_NODELAY),
    ("TCP_CORK", libc::IPPROTO_TCP, libc::TCP_CORK),
    ("TCP_KEEPIDLE", libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
    ("TCP_KEEPINTVL", libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
    ("TCP_KEEPCNT", libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
    ("TCP_MAXSEG", libc::IPPROTO_TCP, libc::TCP_MAXSEG),
    (
        "TCP_DEFER_ACCEPT",
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
    ),
    (
        "TCP_USER_TIMEOUT",
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
    ),
    ("TCP_FASTOPEN", libc::IPPROTO_TCP, libc::TCP_FASTOPEN),
];

/// What a program can ask of socket `fd`: its name, its peer, and the
/// options of [`OPTS`] (and of its family and protocol).
pub(crate) fn describe(fd: RawFd) -> Vec<String> {
    let int = |b: &[u8]| -> String {
        match <[u8; 4]>::try_from(b) {
            Ok(a) => i32::from_ne_bytes(a).to_string(),
            Err(_) => format!("{b:?}"),
        }
    };
    let mut out = vec![
        format!("name {}", name_of(fd, false)),
        format!("peer {}", name_of(fd, true)),
    ];
    let domain = get_bytes(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).map(|b| int(&b));
    let proto = get_bytes(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL).map(|b| int(&b));
    let mut all: Vec<&(&str, libc::c_int, libc::c_int)> = OPTS.iter().collect();
    if domain.as_deref() == Ok("10") {
        all.extend(OPTS_V6);
    }
    if proto.as_deref() == Ok("6") {
        all.extend(OPTS_TCP);
    }
    for (name, level, opt) in all {
        let v = match get_bytes(fd, *level, *opt) {
            Ok(b) if b.len() == 4 => int(&b),
            Ok(b) if *opt == libc::SO_BINDTODEVICE => String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .to_owned(),
            Ok(b) => format!("{b:?}"),
            Err(e) => e,
        };
        out.push(format!("{name} {v}"));
    }
    out
}

/// The pod's sockets, each with what it is.
pub(crate) struct Sockets(pub(crate) Vec<(&'static str, RawFd)>);

/// Makes the pod's sockets:
/// - `tcp4 listener`: 127.0.0.1:7001, backlog 5, `SO_REUSEADDR`,
///   `SO_KEEPALIVE`, `TCP_NODELAY`, keepalive 77/11/4, a receive buffer of
///   64 KiB, a receive timeout of 1.5 s, linger on for 7 s, `IP_TOS` 0x10,
///   `IP_TTL` 33, `TCP_DEFER_ACCEPT` 5, `TCP_MAXSEG` 1200, `TCP_FASTOPEN` 16;
/// - `tcp6 dual-stack listener`: [::]:7002 taking IPv4 too, backlog 128,
///   `SO_REUSEPORT`, an endless linger;
/// - `tcp6 v6only listener`: [::1]:7003, backlog 1, `IPV6_V6ONLY`,
///   `IPV6_TCLASS` 0x20, `IPV6_UNICAST_HOPS` 9;
/// - `tcp4 bound`: 127.0.0.1 on a port the kernel picked, not listening,
///   `TCP_CORK`;
/// - `tcp6 unbound`: `TCP_USER_TIMEOUT` 12345, a send timeout of 250 ms;
/// - `udp4 bound`: 0.0.0.0:7004, `SO_BROADCAST`,
///   `IP_PKTINFO`, `IP_RECVERR`, `IP_TOS` 0x10 then `SO_PRIORITY` 3, a
///   send buffer of 32 KiB;
/// - `udp6 connected`: connected to ::ffff:127.0.0.1:7004 (a port the
///   kernel picked), `IPV6_RECVPKTINFO`;
/// - `udp4 connected, shut down for writing`: 127.0.0.1:7005 connected to
///   127.0.0.1:7004, `shutdown(SHUT_WR)`;
/// - `udplite4 bound`: 127.0.0.1 on a port the kernel picked, `IP_FREEBIND`;
/// - `udp4 bound to lo`: bound to the loopback device (`SO_BINDTODEVICE`)
///   and to 0.0.0.0:7037.
pub(crate) fn make_sockets() -> Result<Sockets> {
    let tv = |sec, usec| libc::timeval {
        tv_sec: sec,
        tv_usec: usec,
    };
    let mut out = Vec::new();

    let s = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    set_int(s, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
    set_int(s, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1, "SO_KEEPALIVE")?;
    set_int(s, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1, "TCP_NODELAY")?;
    set_int(s, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 77, "TCP_KEEPIDLE")?;
    set_int(
        s,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        11,
        "TCP_KEEPINTVL",
    )?;
    set_int(s, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 4, "TCP_KEEPCNT")?;
    set_int(s, libc::SOL_SOCKET, libc::SO_RCVBUF, 65536, "SO_RCVBUF")?;
    set_raw(
        s,
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        &tv(1, 500_000),
        "SO_RCVTIMEO",
    )?;
    set_raw(
        s,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        &libc::linger {
            l_onoff: 1,
            l_linger: 7,
        },
        "SO_LINGER",
    )?;
    set_int(s, libc::IPPROTO_IP, libc::IP_TOS, 0x10, "IP_TOS")?;
    set_int(s, libc::IPPROTO_IP, libc::IP_TTL, 33, "IP_TTL")?;
    set_int(
        s,
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        5,
        "TCP_DEFER_ACCEPT",
    )?;
    set_int(s, libc::IPPROTO_TCP, libc::TCP_MAXSEG, 1200, "TCP_MAXSEG")?;
    set_int(s, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, 16, "TCP_FASTOPEN")?;
    bind(s, Addr::V4(LO4, PORTS[0]))?;
    listen(s, 5)?;
    out.push(("tcp4 listener", s));

    let s = socket(libc::AF_INET6, libc::SOCK_STREAM, 0)?;
    set_int(s, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0, "IPV6_V6ONLY")?;
    set_int(s, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1, "SO_REUSEPORT")?;
    // An endless linger (a negative l_linger).
    set_raw(
        s,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        &libc::linger {
            l_onoff: 1,
            l_linger: -1,
        },
        "SO_LINGER",
    )?;
    bind(s, Addr::V6(ANY6, PORTS[1]))?;
    listen(s, 128)?;
    out.push(("tcp6 dual-stack listener", s));

    let s = socket(libc::AF_INET6, libc::SOCK_STREAM, 0)?;
    set_int(s, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1, "IPV6_V6ONLY")?;
    set_int(
        s,
        libc::IPPROTO_IPV6,
        libc::IPV6_TCLASS,
        0x20,
        "IPV6_TCLASS",
    )?;
    set_int(
        s,
        libc::IPPROTO_IPV6,
        libc::IPV6_UNICAST_HOPS,
        9,
        "IPV6_UNICAST_HOPS",
    )?;
    bind(s, Addr::V6(LO6, PORTS[2]))?;
    listen(s, 1)?;
    out.push(("tcp6 v6only listener", s));

    let s = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    set_int(s, libc::IPPROTO_TCP, libc::TCP_CORK, 1, "TCP_CORK")?;
    bind(s, Addr::V4(LO4, 0))?;
    out.push(("tcp4 bound", s));

    let s = socket(libc::AF_INET6, libc::SOCK_STREAM, 0)?;
    set_int(
        s,
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        12345,
        "TCP_USER_TIMEOUT",
    )?;
    set_raw(
        s,
        libc::SOL_SOCKET,
        libc::SO_SNDTIMEO,
        &tv(0, 250_000),
        "SO_SNDTIMEO",
    )?;
    out.push(("tcp6 unbound", s));

    let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    set_int(s, libc::SOL_SOCKET, libc::SO_BROADCAST, 1, "SO_BROADCAST")?;
    set_int(s, libc::IPPROTO_IP, libc::IP_PKTINFO, 1, "IP_PKTINFO")?;
    set_int(s, libc::IPPROTO_IP, libc::IP_RECVERR, 1, "IP_RECVERR")?;
    // IP_TOS sets the priority it maps to (4), changed after.
    set_int(s, libc::IPPROTO_IP, libc::IP_TOS, 0x10, "IP_TOS")?;
    set_int(s, libc::SOL_SOCKET, libc::SO_PRIORITY, 3, "SO_PRIORITY")?;
    set_int(s, libc::SOL_SOCKET, libc::SO_SNDBUF, 32768, "SO_SNDBUF")?;
    bind(s, Addr::V4([0; 4], PORTS[3]))?;
    out.push(("udp4 bound", s));

    let s = socket(libc::AF_INET6, libc::SOCK_DGRAM, 0)?;
    set_int(
        s,
        libc::IPPROTO_IPV6,
        libc::IPV6_RECVPKTINFO,
        1,
        "IPV6_RECVPKTINFO",
    )?;
    connect(s, Addr::mapped(LO4, PORTS[3]))?;
    out.push(("udp6 connected", s));

    let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    bind(s, Addr::V4(LO4, PORTS[4]))?;
    connect(s, Addr::V4(LO4, PORTS[3]))?;
    // SAFETY: plain integers.
    check(unsafe { libc::shutdown(s, libc::SHUT_WR) }, "shutdown")?;
    out.push(("udp4 connected, shut down for writing", s));

    let s = socket(libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDPLITE)?;
    set_int(s, libc::IPPROTO_IP, libc::IP_FREEBIND, 1, "IP_FREEBIND")?;
    bind(s, Addr::V4(LO4, 0))?;
    out.push(("udplite4 bound", s));

    let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    let lo = b"lo\0";
    // SAFETY: `lo` outlives the call; its length is passed.
    let r = unsafe {
        libc::setsockopt(
            s,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            lo.as_ptr().cast(),
            lo.len() as libc::socklen_t,
        )
    };
    check(r, "SO_BINDTODEVICE")?;
    bind(s, Addr::V4([0; 4], PORTS[19]))?;
    out.push(("udp4 bound to lo", s));
    Ok(Sockets(out))
}

impl Sockets {
    /// What [`Sockets::describe`] gives of TCP sockets, each with its TCP
    /// state (`TCP_INFO`), without the buffer sizes (a connection's grow
    /// with what it carries) and without the fields `keep(name, field)`
    /// refuses.
    fn describe_tcp(&self, keep: impl Fn(&str, &str) -> bool) -> Vec<String> {
        self.describe()
            .into_iter()
            .zip(&self.0)
            .map(|(l, (what, fd))| {
                let kept: Vec<&str> = l
                    .split(", ")
                    .filter(|f| !f.starts_with("SO_SNDBUF") && !f.starts_with("SO_RCVBUF"))
                    .filter(|f| keep(what, f))
                    .collect();
                let state = tcp_state(*fd).map_or_else(|e| e.to_string(), |s| s.to_string());
                format!("{}, TCP state {state}", kept.join(", "))
            })
            .collect()
    }

    fn fd(&self, what: &str) -> RawFd {
        self.0.iter().find(|(w, _)| *w == what).map_or(-1, |s| s.1)
    }

    /// Every socket described ([`describe`]), one line each.
    pub(crate) fn describe(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(w, fd)| format!("{w}: {}", describe(*fd).join(", ")))
            .collect()
    }
}

/// A TCP client of `to`: connects, is accepted by `listener`, and carries
/// `msg` both ways.
fn tcp_round_trip(listener: RawFd, family: libc::c_int, to: Addr, msg: &[u8]) -> Result<()> {
    let c = socket(family, libc::SOCK_STREAM, 0)?;
    let res = (|| {
        connect(c, to)?;
        // The listener may defer the accept until data comes
        // (TCP_DEFER_ACCEPT): send first.
        // SAFETY: `msg` is valid for its length.
        check(
            unsafe { libc::send(c, msg.as_ptr().cast(), msg.len(), 0) } as i32,
            "send",
        )?;
        // SAFETY: plain integers; no address asked.
        let a = check(
            unsafe { libc::accept(listener, std::ptr::null_mut(), std::ptr::null_mut()) },
            "accept",
        )?;
        let mut buf = vec![0u8; msg.len()];
        // SAFETY: `buf` has room for its length.
        let n = unsafe { libc::recv(a, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_WAITALL) };
        // SAFETY: `buf` is valid for its length.
        let back = unsafe { libc::send(a, buf.as_ptr().cast(), buf.len(), 0) };
        let mut got = vec![0u8; msg.len()];
        // SAFETY: as above.
        let m = unsafe { libc::recv(c, got.as_mut_ptr().cast(), got.len(), libc::MSG_WAITALL) };
        // SAFETY: closing our own descriptor.
        unsafe { libc::close(a) };
        if n as usize != msg.len()
            || buf != msg
            || back as usize != msg.len()
            || m as usize != msg.len()
            || got != msg
        {
            bail!("the bytes did not come back ({n}, {back}, {m})");
        }
        Ok(())
    })();
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(c) };
    res
}

/// sendto(2) of `msg` through `fd` to `to`.
fn send_to(fd: RawFd, msg: &[u8], to: Addr) -> Result<()> {
    let (ss, len) = to.raw();
    // SAFETY: `msg` and `ss` are valid for what is passed.
    let n = unsafe {
        libc::sendto(
            fd,
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&ss as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    check(n as i32, "sendto").map(|_| ())
}

/// The next datagram queued to `fd` (without waiting) and its sender.
fn recv_from(fd: RawFd) -> Result<(Vec<u8>, String)> {
    let mut buf = [0u8; 64];
    // SAFETY: plain data.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `buf` and `ss` have room for what is asked.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if n < 0 {
        bail!("recvfrom: {}", std::io::Error::last_os_error());
    }
    Ok((buf[..n as usize].to_vec(), addr_text(&ss)))
}

/// The local port of socket `fd`.
fn port_of(fd: RawFd) -> u16 {
    name_of(fd, false)
        .rsplit(':')
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0)
}

/// One datagram `msg` through `from` (connected) to `to`, which must get
/// it from `from`'s address.
fn udp_to(from: RawFd, to: RawFd, msg: &[u8]) -> Result<()> {
    // SAFETY: `msg` is valid for its length.
    check(
        unsafe { libc::send(from, msg.as_ptr().cast(), msg.len(), 0) } as i32,
        "send",
    )?;
    let (got, sender) = recv_from(to)?;
    // A v4-mapped sender shows as IPv4 to an IPv4 socket.
    let own = name_of(from, false)
        .replace("[::ffff:", "")
        .replace("]:", ":");
    if got != msg || sender != own {
        bail!("got {got:?} from {sender}, not {msg:?} from {own}");
    }
    Ok(())
}

/// The pod's init (`inet_pod`): makes the sockets of [`make_sockets`],
/// writes what it sees of them ([`describe`]) next to the ready file, and
/// after the go file checks that it sees the same, then uses them: a
/// client of each listener (IPv4 and IPv6, both of the dual-stack one, and
/// an IPv4 one the v6-only listener must refuse), listen(2) on the bound
/// socket, datagrams both ways between the connected and the bound UDP
/// sockets, send(2) on the socket shut down for writing failing with
/// `EPIPE`, and a UDP-Lite datagram to itself.
pub(crate) fn inet_pod(ready_path: &Path) -> Result<()> {
    name("inet-pod");
    let (go, result) = go_and_result(ready_path);
    let seen = ready_path.to_string_lossy().replace("ready-", "seen-");
    let socks = make_sockets()?;
    // Datagrams queued, not read: two to the bound IPv4 socket (from the
    // connected IPv6 one, and from a socket since closed), one to the
    // connected IPv6 socket.
    let u4 = socks.fd("udp4 bound");
    let u6 = socks.fd("udp6 connected");
    send_all(u6, b"queued one")?;
    let gone = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    bind(gone, Addr::V4(LO4, PORTS[7]))?;
    send_to(gone, b"queued two", Addr::V4(LO4, PORTS[3]))?;
    // SAFETY: our own descriptor.
    unsafe { libc::close(gone) };
    send_to(u4, b"queued three", Addr::V4(LO4, port_of(u6)))?;
    let before = socks.describe();
    std::fs::write(&seen, before.join("\n") + "\n")?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut bad = Vec::new();
    let after = socks.describe();
    for (b, a) in before.iter().zip(&after) {
        if b != a {
            bad.push(format!("before: {b}; after: {a}"));
        }
    }
    // The queued datagrams first, in order, from their senders.
    let u6_name = name_of(u6, false)
        .replace("[::ffff:", "")
        .replace("]:", ":");
    for (what, fd, msg, from) in [
        (
            "the first datagram queued to udp4",
            u4,
            &b"queued one"[..],
            u6_name.clone(),
        ),
        (
            "the second datagram queued to udp4",
            u4,
            &b"queued two"[..],
            "127.0.0.1:7006".to_owned(),
        ),
        (
            "the datagram queued to udp6",
            u6,
            &b"queued three"[..],
            "[::ffff:127.0.0.1]:7004".to_owned(),
        ),
    ] {
        match recv_from(fd) {
            Ok((got, sender)) if got == msg && sender == from => {}
            other => bad.push(format!("{what}: {other:?}")),
        }
    }
    let mut run = |what: &str, r: Result<()>| {
        if let Err(e) = r {
            bad.push(format!("{what}: {e:#}"));
        }
    };
    let l4 = socks.fd("tcp4 listener");
    let l6 = socks.fd("tcp6 dual-stack listener");
    let l6only = socks.fd("tcp6 v6only listener");
    run(
        "a client of 127.0.0.1:7001",
        tcp_round_trip(l4, libc::AF_INET, Addr::V4(LO4, PORTS[0]), b"hello 7001"),
    );
    run(
        "an IPv6 client of [::]:7002",
        tcp_round_trip(
            l6,
            libc::AF_INET6,
            Addr::V6(LO6, PORTS[1]),
            b"hello 7002 v6",
        ),
    );
    run(
        "an IPv4 client of [::]:7002",
        tcp_round_trip(l6, libc::AF_INET, Addr::V4(LO4, PORTS[1]), b"hello 7002 v4"),
    );
    run(
        "a client of [::1]:7003",
        tcp_round_trip(
            l6only,
            libc::AF_INET6,
            Addr::V6(LO6, PORTS[2]),
            b"hello 7003",
        ),
    );
    run(
        "no IPv4 listener on 7003 (IPV6_V6ONLY)",
        (|| {
            let c = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
            let r = connect(c, Addr::V4(LO4, PORTS[2]));
            // SAFETY: our own descriptor.
            unsafe { libc::close(c) };
            match r {
                Err(e) if e.to_string().contains("refused") => Ok(()),
                other => bail!("connect gave {other:?}"),
            }
        })(),
    );
    run(
        "listen(2) on the bound TCP socket",
        listen(socks.fd("tcp4 bound"), 3),
    );
    run(
        "a datagram from the connected IPv6 socket",
        udp_to(u6, u4, b"ping"),
    );
    run(
        "a datagram back to it",
        (|| {
            // Sent to the connected socket's address, which must be its own.
            let msg = b"pong";
            send_to(u4, msg, Addr::V4(LO4, port_of(u6)))?;
            let mut buf = [0u8; 8];
            // SAFETY: `buf` has room for its length.
            let n =
                unsafe { libc::recv(u6, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n != 4 || &buf[..4] != msg {
                bail!("recv gave {n}");
            }
            Ok(())
        })(),
    );
    run(
        "send(2) on the UDP socket shut down for writing fails with EPIPE",
        (|| {
            let fd = socks.fd("udp4 connected, shut down for writing");
            // SAFETY: a valid buffer.
            let r = unsafe { libc::send(fd, b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
            let e = std::io::Error::last_os_error();
            if r >= 0 || e.raw_os_error() != Some(libc::EPIPE) {
                bail!("send gave {r} ({e})");
            }
            Ok(())
        })(),
    );
    run(
        "a UDP-Lite datagram to itself",
        (|| {
            let fd = socks.fd("udplite4 bound");
            connect(fd, Addr::V4(LO4, port_of(fd)))?;
            udp_to(fd, fd, b"lite")
        })(),
    );
    verdict_all(
        &result,
        &bad,
        "every socket's name, peer and options as before; the queued datagrams in order from their senders; clients of the three listeners (IPv4, IPv6, dual-stack); listen on the bound socket; UDP both ways; EPIPE after shutdown; UDP-Lite",
    )
}

/// The byte at offset `i` of the stream the server sends.
fn stream_byte(i: usize) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

fn accept(listener: RawFd) -> Result<RawFd> {
    // SAFETY: no address asked.
    check(
        unsafe { libc::accept(listener, std::ptr::null_mut(), std::ptr::null_mut()) },
        "accept",
    )
}

fn send_all(fd: RawFd, buf: &[u8]) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the rest of `buf` is valid for its length.
        let n = unsafe {
            libc::send(
                fd,
                buf[done..].as_ptr().cast(),
                buf.len() - done,
                libc::MSG_NOSIGNAL,
            )
        };
        if n <= 0 {
            bail!("send: {}", std::io::Error::last_os_error());
        }
        done += n as usize;
    }
    Ok(())
}

fn recv_exact(fd: RawFd, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        // SAFETY: the rest of `buf` has room for its length.
        let n = unsafe { libc::recv(fd, buf[done..].as_mut_ptr().cast(), len - done, 0) };
        if n <= 0 {
            bail!(
                "recv after {done} of {len} bytes: {}",
                std::io::Error::last_os_error()
            );
        }
        done += n as usize;
    }
    Ok(buf)
}

/// The pod's init (`tcp_pod`): TCP connections over its loopback, with
/// bytes in flight both ways:
/// - over IPv4 (a listener on 127.0.0.1:7010 still listening): the client
///   sent `hello` which the server has not read; the server sent as much
///   of a stream as the connection takes without the client reading
///   (both queues full: bytes received and not read, bytes sent and not
///   acknowledged, bytes not sent for want of window);
/// - over IPv6 ([::1]:7011), with `TCP_NODELAY` and keepalive set on the
///   accepted socket: `ping6` sent and not read.
///
/// It writes what it sees of the connected sockets next to the ready
/// file. After the go file it checks it sees the same (names, peers,
/// options), then: the server reads `hello`, the client reads the whole
/// stream byte for byte, more bytes go both ways, a new client of the
/// listener is served, and a close is seen at the other end.
pub(crate) fn tcp_pod(ready_path: &Path) -> Result<()> {
    name("tcp-pod");
    let (go, result) = go_and_result(ready_path);
    let seen = ready_path.to_string_lossy().replace("ready-", "seen-");
    let l4 = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    bind(l4, Addr::V4(LO4, PORTS[5]))?;
    listen(l4, 8)?;
    let c4 = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    connect(c4, Addr::V4(LO4, PORTS[5]))?;
    let s4 = accept(l4)?;
    send_all(c4, b"hello")?;
    // The server's stream, sent until the connection takes no more.
    // SAFETY: plain integers.
    check(
        unsafe { libc::fcntl(s4, libc::F_SETFL, libc::O_NONBLOCK) },
        "fcntl",
    )?;
    let mut sent = 0usize;
    let chunk: Vec<u8> = (0..65536).map(stream_byte).collect();
    loop {
        let off = sent % 65536;
        // The chunk is the stream from a multiple of 65536: start where
        // the last send stopped.
        // SAFETY: the rest of `chunk` is valid for its length.
        let n = unsafe {
            libc::send(
                s4,
                chunk[off..].as_ptr().cast(),
                65536 - off,
                libc::MSG_NOSIGNAL,
            )
        };
        if n <= 0 {
            break;
        }
        sent += n as usize;
        if sent > 64 << 20 {
            bail!("the connection took more than 64 MiB without the client reading");
        }
    }
    // SAFETY: plain integers.
    check(unsafe { libc::fcntl(s4, libc::F_SETFL, 0) }, "fcntl")?;
    let l6 = socket(libc::AF_INET6, libc::SOCK_STREAM, 0)?;
    bind(l6, Addr::V6(LO6, PORTS[6]))?;
    listen(l6, 8)?;
    let c6 = socket(libc::AF_INET6, libc::SOCK_STREAM, 0)?;
    connect(c6, Addr::V6(LO6, PORTS[6]))?;
    let s6 = accept(l6)?;
    set_int(s6, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1, "TCP_NODELAY")?;
    set_int(s6, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1, "SO_KEEPALIVE")?;
    send_all(c6, b"ping6")?;
    // The listener of 7011 closed: its accepted connection keeps the port.
    // SAFETY: our own descriptor.
    unsafe { libc::close(l6) };
    let socks = Sockets(vec![
        ("tcp4 listener", l4),
        ("tcp4 client", c4),
        ("tcp4 server", s4),
        ("tcp6 client", c6),
        ("tcp6 server", s6),
    ]);
    let describe = |s: &Sockets| -> Vec<String> {
        // The buffer sizes of a connection grow with what it carries.
        s.describe()
            .into_iter()
            .map(|l| {
                l.split(", ")
                    .filter(|f| !f.starts_with("SO_SNDBUF") && !f.starts_with("SO_RCVBUF"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect()
    };
    let before = describe(&socks);
    std::fs::write(
        &seen,
        before.join("\n")
            + &format!(
                "\nstream sent before the checkpoint, 1 MiB or more: {}\n",
                sent >= 1 << 20
            ),
    )?;
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
    run(
        "the server reads hello",
        (|| {
            let got = recv_exact(s4, 5)?;
            if got != b"hello" {
                bail!("got {got:?}");
            }
            Ok(())
        })(),
    );
    run(
        "the client reads the whole stream",
        (|| {
            let got = recv_exact(c4, sent)?;
            if let Some(i) = (0..sent).find(|&i| got[i] != stream_byte(i % 65536)) {
                bail!("byte {i} of {sent} differs");
            }
            Ok(())
        })(),
    );
    run(
        "more bytes both ways over IPv4",
        (|| {
            send_all(s4, b"more from the server")?;
            send_all(c4, b"more from the client")?;
            if recv_exact(c4, 20)? != b"more from the server"
                || recv_exact(s4, 20)? != b"more from the client"
            {
                bail!("the bytes differ");
            }
            Ok(())
        })(),
    );
    run(
        "the IPv6 server reads ping6 and answers",
        (|| {
            if recv_exact(s6, 5)? != b"ping6" {
                bail!("not ping6");
            }
            send_all(s6, b"pong6")?;
            if recv_exact(c6, 5)? != b"pong6" {
                bail!("not pong6");
            }
            Ok(())
        })(),
    );
    run(
        "a new client of 127.0.0.1:7010",
        tcp_round_trip(l4, libc::AF_INET, Addr::V4(LO4, PORTS[5]), b"new client"),
    );
    run(
        "a close is seen at the other end",
        (|| {
            // SAFETY: our own descriptor.
            unsafe { libc::close(c6) };
            let mut b = [0u8; 1];
            // SAFETY: `b` has room for one byte.
            let n = unsafe { libc::recv(s6, b.as_mut_ptr().cast(), 1, 0) };
            if n != 0 {
                bail!("recv gave {n}");
            }
            Ok(())
        })(),
    );
    verdict_all(
        &result,
        &bad,
        "every socket's name, peer and options as before; hello read; the whole stream read byte for byte; bytes both ways; IPv6 ping and pong; a new client; the close seen",
    )
}

/// The port of the server outside the tree that `tcp_client` connects to
/// (on 127.0.0.1 of the caller's network namespace).
pub(crate) const OUTSIDE_PORT: u16 = 7020;

/// A client of a server outside its tree (`tcp_client`, in the caller's
/// network namespace): connects to 127.0.0.1:7020 and sends `before`.
/// After the go file it sends `after` on the same connection and checks
/// that `reply` comes back.
pub(crate) fn tcp_client(ready_path: &Path) -> Result<()> {
    name("tcp-client");
    let (go, result) = go_and_result(ready_path);
    let c = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    connect(c, Addr::V4(LO4, OUTSIDE_PORT))?;
    send_all(c, b"before")?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = (|| {
        send_all(c, b"after")?;
        let got = recv_exact(c, 5)?;
        if got != b"reply" {
            bail!("got {got:?}");
        }
        Ok(())
    })();
    let bad: Vec<String> = r.err().map(|e| format!("{e:#}")).into_iter().collect();
    verdict_all(
        &result,
        &bad,
        "after the restart, the same connection carries after and reply",
    )
}

/// The TCP state of `fd` (`tcpi_state` of `TCP_INFO`: 1 ESTABLISHED, 4
/// FIN_WAIT1, 5 FIN_WAIT2, 8 CLOSE_WAIT, 9 LAST_ACK, 11 CLOSING).
fn tcp_state(fd: RawFd) -> Result<u8> {
    let b = get_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO)
        .map_err(|e| anyhow::anyhow!("TCP_INFO: {e}"))?;
    b.first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("TCP_INFO empty"))
}

/// Waits up to 5 s for `fd` to be in TCP state `want` ([`tcp_state`]).
fn wait_state(fd: RawFd, want: u8, what: &str) -> Result<()> {
    for _ in 0..500 {
        if tcp_state(fd)? == want {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    bail!("{what} is in TCP state {}, not {want}", tcp_state(fd)?)
}

/// shutdown(2) of `fd`.
fn shut(fd: RawFd, how: libc::c_int) -> Result<()> {
    // SAFETY: plain integers.
    check(unsafe { libc::shutdown(fd, how) }, "shutdown").map(drop)
}

/// A connection to `listener` (127.0.0.1:`port`): the client, its receive
/// buffer set to 4 KiB first if `small`, and the server's end.
fn tcp_pair(listener: RawFd, port: u16, small: bool) -> Result<(RawFd, RawFd)> {
    let c = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    if small {
        set_int(c, libc::SOL_SOCKET, libc::SO_RCVBUF, 4096, "SO_RCVBUF")?;
    }
    connect(c, Addr::V4(LO4, port))?;
    Ok((c, accept(listener)?))
}

/// Sends the stream ([`stream_byte`]) through `fd` until the connection
/// takes no more (its peer reads nothing): how many bytes it took.
fn fill(fd: RawFd) -> Result<usize> {
    let chunk: Vec<u8> = (0..65536).map(stream_byte).collect();
    let mut sent = 0usize;
    loop {
        let off = sent % 65536;
        // SAFETY: the rest of `chunk` is valid for its length.
        let n = unsafe {
            libc::send(
                fd,
                chunk[off..].as_ptr().cast(),
                65536 - off,
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            return Ok(sent);
        }
        sent += n as usize;
        if sent > 16 << 20 {
            bail!("the connection took more than 16 MiB without its peer reading");
        }
    }
}

/// recv(2) of one byte from `fd`, which must give 0: the end of the stream.
fn expect_eof(fd: RawFd) -> Result<()> {
    let mut b = [0u8; 1];
    // SAFETY: `b` has room for one byte.
    let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), 1, 0) };
    if n != 0 {
        bail!(
            "recv gave {n}, not the end of the stream ({})",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// send(2) on `fd`, which must fail with `EPIPE`: shut down for writing.
fn expect_epipe(fd: RawFd) -> Result<()> {
    // SAFETY: a valid buffer.
    let r = unsafe { libc::send(fd, b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
    let e = std::io::Error::last_os_error();
    if r >= 0 || e.raw_os_error() != Some(libc::EPIPE) {
        bail!("send gave {r} ({e})");
    }
    Ok(())
}

/// `sent` bytes of the stream read from `fd`, byte for byte, then its end.
fn expect_stream_then_eof(fd: RawFd, sent: usize) -> Result<()> {
    let got = recv_exact(fd, sent)?;
    if let Some(i) = (0..sent).find(|&i| got[i] != stream_byte(i % 65536)) {
        bail!("byte {i} of {sent} differs");
    }
    expect_eof(fd)
}

/// The pod's init (`tcp_closing_pod`): TCP connections over its loopback
/// (a listener on 127.0.0.1:7012, still listening) in every state a
/// program holds one in while it closes, each with a check after:
/// - `a`: the client sent `last words` and shut down for writing
///   (FIN_WAIT2); the server read nothing (CLOSE_WAIT, the bytes and the
///   FIN not read). After: the server reads them and the end, answers,
///   closes; the client reads the answer and the end.
/// - `b`: the same, but the server read the end already (CLOSE_WAIT, the
///   FIN read). After: the server reads the end again, answers, closes.
/// - `c`: the server sent the stream until the client's 4 KiB receive
///   buffer and its own send buffer took no more, then shut down for
///   writing: FIN_WAIT1, its FIN behind bytes not sent. After: the client
///   reads the stream and the end, and sends to the server, which reads
///   it; the server's send fails with `EPIPE`.
/// - `d`: the client shut down for writing (FIN_WAIT2), the server read the
///   end, filled the connection and shut down: LAST_ACK. After: the
///   client reads the stream and the end; the server the end again.
/// - `e`: the server filled the connection and shut down (FIN_WAIT1), then
///   the client shut down: the server is CLOSING, the client's FIN not
///   read. After: the server reads the end; the client the stream and the
///   end.
/// - `f`: after bytes both ways, the server shut down for reading only
///   (ESTABLISHED). After: its read gives the end, and it still sends.
///
/// It writes what it sees of every socket next to the ready file (names,
/// peers, options, TCP state) and after the go file checks it sees the
/// same, then the checks above, then a new client of the listener.
pub(crate) fn tcp_closing_pod(ready_path: &Path) -> Result<()> {
    name("tcp-closing-pod");
    let (go, result) = go_and_result(ready_path);
    let seen = ready_path.to_string_lossy().replace("ready-", "seen-");
    let port = PORTS[8];
    let l = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    bind(l, Addr::V4(LO4, port))?;
    listen(l, 8)?;
    let (ca, sa) = tcp_pair(l, port, false)?;
    send_all(ca, b"last words")?;
    shut(ca, libc::SHUT_WR)?;
    wait_state(ca, 5, "a client")?;
    wait_state(sa, 8, "a server")?;
    let (cb, sb) = tcp_pair(l, port, false)?;
    shut(cb, libc::SHUT_WR)?;
    expect_eof(sb)?;
    wait_state(cb, 5, "b client")?;
    let (cc, sc) = tcp_pair(l, port, true)?;
    let sent_c = fill(sc)?;
    shut(sc, libc::SHUT_WR)?;
    wait_state(sc, 4, "c server")?;
    let (cd, sd) = tcp_pair(l, port, true)?;
    shut(cd, libc::SHUT_WR)?;
    expect_eof(sd)?;
    let sent_d = fill(sd)?;
    shut(sd, libc::SHUT_WR)?;
    wait_state(sd, 9, "d server")?;
    wait_state(cd, 5, "d client")?;
    let (ce, se) = tcp_pair(l, port, true)?;
    let sent_e = fill(se)?;
    shut(se, libc::SHUT_WR)?;
    wait_state(se, 4, "e server")?;
    shut(ce, libc::SHUT_WR)?;
    wait_state(se, 11, "e server")?;
    wait_state(ce, 5, "e client")?;
    // Bytes both ways first: a connection that carried none knows only
    // the handshake's unscaled window, and any segment after announces a
    // scaled one, which TCP_MAXSEG (half the largest window seen) follows.
    let (cf, sf) = tcp_pair(l, port, false)?;
    send_all(cf, b"f hello")?;
    if recv_exact(sf, 7)? != b"f hello" {
        bail!("f: not f hello");
    }
    send_all(sf, b"f hi")?;
    if recv_exact(cf, 4)? != b"f hi" {
        bail!("f: not f hi");
    }
    shut(sf, libc::SHUT_RD)?;
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
        ("e client", ce),
        ("e server", se),
        ("f client", cf),
        ("f server", sf),
    ]);
    let describe = |s: &Sockets| s.describe_tcp(|_, _| true);
    let before = describe(&socks);
    std::fs::write(
        &seen,
        before.join("\n")
            + &format!(
                "\nstreams sent before the checkpoint, each 4 KiB or more: {}\n",
                [sent_c, sent_d, sent_e].iter().all(|&n| n >= 4096)
            ),
    )?;
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
    let close = |fd: RawFd| {
        // SAFETY: our own descriptor.
        unsafe { libc::close(fd) };
    };
    run(
        "a: the server reads last words and the end, answers and closes; the client reads both",
        (|| {
            if recv_exact(sa, 10)? != b"last words" {
                bail!("not last words");
            }
            expect_eof(sa)?;
            send_all(sa, b"reply a")?;
            close(sa);
            if recv_exact(ca, 7)? != b"reply a" {
                bail!("not reply a");
            }
            expect_eof(ca)
        })(),
    );
    run(
        "b: the server reads the end again, answers and closes; the client reads both",
        (|| {
            expect_eof(sb)?;
            send_all(sb, b"reply b")?;
            close(sb);
            if recv_exact(cb, 7)? != b"reply b" {
                bail!("not reply b");
            }
            expect_eof(cb)
        })(),
    );
    run(
        "c: the client reads the stream and the end, and sends; the server reads that and cannot send",
        (|| {
            expect_stream_then_eof(cc, sent_c)?;
            send_all(cc, b"back c")?;
            if recv_exact(sc, 6)? != b"back c" {
                bail!("not back c");
            }
            expect_epipe(sc)
        })(),
    );
    run(
        "d: the client reads the stream and the end; the server the end again, and cannot send",
        (|| {
            expect_stream_then_eof(cd, sent_d)?;
            expect_eof(sd)?;
            expect_epipe(sd)
        })(),
    );
    run(
        "e: the server reads the end; the client the stream and the end, and cannot send",
        (|| {
            expect_eof(se)?;
            expect_stream_then_eof(ce, sent_e)?;
            expect_epipe(ce)
        })(),
    );
    run(
        "f: the server's read gives the end, and it still sends",
        (|| {
            expect_eof(sf)?;
            send_all(sf, b"still sending")?;
            if recv_exact(cf, 13)? != b"still sending" {
                bail!("not still sending");
            }
            Ok(())
        })(),
    );
    run(
        "a new client of 127.0.0.1:7012",
        tcp_round_trip(l, libc::AF_INET, Addr::V4(LO4, port), b"new client"),
    );
    verdict_all(
        &result,
        &bad,
        "every socket's name, peer, options and TCP state as before; in every closing state the bytes, the ends and EPIPE each end should see; a new client",
    )
}

/// The pod's init (`tcp_pending_pod`): TCP connections its listeners have
/// not accepted yet, with what their clients sent:
/// - on 127.0.0.1:7013 (backlog 8, `TCP_NODELAY` and keepalive set on the
///   listener, which its connections take): `first` sent; nothing sent;
///   `third` sent and the client shut down for writing;
/// - on [::1]:7014: one connection, `six` sent.
///
/// It writes what it sees of the clients and listeners next to the ready
/// file. After the go file it checks it sees the same, then accepts: the
/// connections come in the order they came, from the same clients, each
/// with the listener's options, the bytes their clients sent (and the end
/// of the stream after `third`), and carry bytes both ways; then a new
/// client of each listener is served.
pub(crate) fn tcp_pending_pod(ready_path: &Path) -> Result<()> {
    name("tcp-pending-pod");
    let (go, result) = go_and_result(ready_path);
    let seen = ready_path.to_string_lossy().replace("ready-", "seen-");
    let (p4, p6) = (PORTS[9], PORTS[10]);
    let l4 = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    set_int(l4, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1, "TCP_NODELAY")?;
    set_int(l4, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1, "SO_KEEPALIVE")?;
    bind(l4, Addr::V4(LO4, p4))?;
    listen(l4, 8)?;
    let l6 = socket(libc::AF_INET6, libc::SOCK_STREAM, 0)?;
    bind(l6, Addr::V6(LO6, p6))?;
    listen(l6, 8)?;
    let client = |family, to: Addr, msg: &[u8], shut_wr: bool| -> Result<RawFd> {
        let c = socket(family, libc::SOCK_STREAM, 0)?;
        connect(c, to)?;
        if !msg.is_empty() {
            send_all(c, msg)?;
        }
        if shut_wr {
            shut(c, libc::SHUT_WR)?;
        }
        Ok(c)
    };
    let c1 = client(libc::AF_INET, Addr::V4(LO4, p4), b"first", false)?;
    let c2 = client(libc::AF_INET, Addr::V4(LO4, p4), b"", false)?;
    let c3 = client(libc::AF_INET, Addr::V4(LO4, p4), b"third", true)?;
    let c6 = client(libc::AF_INET6, Addr::V6(LO6, p6), b"six", false)?;
    wait_state(c3, 5, "the third client")?;
    let socks = Sockets(vec![
        ("listener 7013", l4),
        ("listener 7014", l6),
        ("client 1", c1),
        ("client 2", c2),
        ("client 3", c3),
        ("client 6", c6),
    ]);
    // The second client has received no segment since the handshake, so
    // its MSS in use (TCP_MAXSEG: half the largest window it saw) follows
    // the handshake's unscaled window until the server's first segment,
    // which the restarted connection's window probe is.
    let describe =
        |s: &Sockets| s.describe_tcp(|what, f| what != "client 2" || !f.starts_with("TCP_MAXSEG"));
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
    // Accepted in the order they came, from their own clients.
    let take = |l: RawFd, c: RawFd, what: &str| -> Result<RawFd> {
        let a = accept(l)?;
        let (peer, theirs) = (name_of(a, true), name_of(c, false));
        if peer != theirs {
            bail!("{what}: accepted a connection from {peer}, not from {theirs}");
        }
        Ok(a)
    };
    let both_ways = |a: RawFd, c: RawFd, tag: &str| -> Result<()> {
        let (there, back) = (format!("to {tag}"), format!("from {tag}"));
        send_all(a, there.as_bytes())?;
        if recv_exact(c, there.len())? != there.as_bytes() {
            bail!("{tag}: the client got other bytes");
        }
        send_all(c, back.as_bytes())?;
        if recv_exact(a, back.len())? != back.as_bytes() {
            bail!("{tag}: the server got other bytes");
        }
        Ok(())
    };
    let inherited = |a: RawFd| -> Result<()> {
        for (opt, level, name) in [
            (libc::TCP_NODELAY, libc::IPPROTO_TCP, "TCP_NODELAY"),
            (libc::SO_KEEPALIVE, libc::SOL_SOCKET, "SO_KEEPALIVE"),
        ] {
            let v = get_bytes(a, level, opt).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            if v != 1i32.to_ne_bytes() {
                bail!("{name} of the accepted connection is {v:?}, not the listener's 1");
            }
        }
        Ok(())
    };
    run(
        "the first connection: its client's bytes, the listener's options, bytes both ways",
        (|| {
            let a = take(l4, c1, "first")?;
            if recv_exact(a, 5)? != b"first" {
                bail!("not first");
            }
            inherited(a)?;
            both_ways(a, c1, "one")
        })(),
    );
    run(
        "the second connection: bytes both ways",
        (|| {
            let a = take(l4, c2, "second")?;
            both_ways(a, c2, "two")
        })(),
    );
    run(
        "the third connection: third, then the end of the stream; an answer",
        (|| {
            let a = take(l4, c3, "third")?;
            if recv_exact(a, 5)? != b"third" {
                bail!("not third");
            }
            expect_eof(a)?;
            send_all(a, b"bye")?;
            if recv_exact(c3, 3)? != b"bye" {
                bail!("the client got no bye");
            }
            Ok(())
        })(),
    );
    run(
        "the IPv6 connection: six, bytes both ways",
        (|| {
            let a = take(l6, c6, "six")?;
            if recv_exact(a, 3)? != b"six" {
                bail!("not six");
            }
            both_ways(a, c6, "six")
        })(),
    );
    run(
        "a new client of 127.0.0.1:7013",
        tcp_round_trip(l4, libc::AF_INET, Addr::V4(LO4, p4), b"new client"),
    );
    run(
        "a new client of [::1]:7014",
        tcp_round_trip(l6, libc::AF_INET6, Addr::V6(LO6, p6), b"new client 6"),
    );
    verdict_all(
        &result,
        &bad,
        "every socket's name, peer, options and TCP state as before; the waiting connections accepted in order from their clients, with the listener's options, their bytes and ends, carrying bytes both ways; new clients",
    )
}

/// The pod's init (`tcp_opening_pod`): TCP connections being opened. Its
/// listener, 127.0.0.1:7015 with a backlog of 0, holds one connection not
/// accepted (`first`), so its queue is full and drops the SYNs of two more
/// clients, which stay in SYN_SENT, sending them again: the second
/// client's connect(2) is non-blocking; a thread waits in the third's.
///
/// It writes what it sees of the sockets next to the ready file. After the
/// go file it checks it sees the same (both clients still in SYN_SENT,
/// from the same ports), then accepts the first connection: the second
/// client's connect(2) completes (poll(2) says it may write, `SO_ERROR`
/// 0), the thread's returns 0, and their connections are accepted next,
/// from their ports, and carry bytes both ways.
pub(crate) fn tcp_opening_pod(ready_path: &Path) -> Result<()> {
    name("tcp-opening-pod");
    let (go, result) = go_and_result(ready_path);
    let seen = ready_path.to_string_lossy().replace("ready-", "seen-");
    let port = PORTS[11];
    let l = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    bind(l, Addr::V4(LO4, port))?;
    listen(l, 0)?;
    let c1 = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    connect(c1, Addr::V4(LO4, port))?;
    send_all(c1, b"first")?;
    let c2 = socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)?;
    let (ss, len) = Addr::V4(LO4, port).raw();
    // SAFETY: `ss` holds an address of `len` bytes.
    let r = unsafe { libc::connect(c2, (&ss as *const libc::sockaddr_storage).cast(), len) };
    let e = std::io::Error::last_os_error();
    if r == 0 || e.raw_os_error() != Some(libc::EINPROGRESS) {
        bail!("connect to a full listener gave {r} ({e})");
    }
    let c3 = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    let third = std::thread::spawn(move || connect(c3, Addr::V4(LO4, port)));
    // Still opening after a retransmission (1 s): the queue drops its SYNs.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    for (fd, what) in [(c2, "second"), (c3, "third")] {
        if tcp_state(fd)? != 2 {
            bail!(
                "the {what} client is in TCP state {}, not SYN_SENT",
                tcp_state(fd)?
            );
        }
    }
    let socks = Sockets(vec![
        ("listener", l),
        ("first client", c1),
        ("second client", c2),
        ("third client", c3),
    ]);
    let describe = |s: &Sockets| s.describe_tcp(|_, _| true);
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
    let (c2_name, c3_name) = (name_of(c2, false), name_of(c3, false));
    run(
        "the first connection accepted, with first",
        (|| {
            let a = accept(l)?;
            if name_of(a, true) != name_of(c1, false) || recv_exact(a, 5)? != b"first" {
                bail!("not the first client's connection");
            }
            Ok(())
        })(),
    );
    // The queue takes one connection at a time: the two clients' SYNs
    // (sent again with backoff) come in as it is emptied, in either order.
    let mut accepted = Vec::new();
    run(
        "both connections accepted, in either order, from their clients",
        (|| {
            for _ in 0..2 {
                let a = accept(l)?;
                let peer = name_of(a, true);
                let c = if peer == c2_name {
                    c2
                } else if peer == c3_name {
                    c3
                } else {
                    bail!("accepted {peer}, neither client");
                };
                accepted.push((a, c, peer));
            }
            Ok(())
        })(),
    );
    run(
        "the second client's non-blocking connect completed, from its own port",
        (|| {
            let mut p = libc::pollfd {
                fd: c2,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, 10_000) };
            if n != 1 || p.revents & libc::POLLOUT == 0 {
                bail!("poll gave {n} ({:#x})", p.revents);
            }
            let err = get_bytes(c2, libc::SOL_SOCKET, libc::SO_ERROR)
                .map_err(|e| anyhow::anyhow!("SO_ERROR: {e}"))?;
            if err != 0i32.to_ne_bytes() {
                bail!("SO_ERROR {err:?}");
            }
            if name_of(c2, false) != c2_name {
                bail!("its name changed to {}", name_of(c2, false));
            }
            // SAFETY: plain integers.
            check(unsafe { libc::fcntl(c2, libc::F_SETFL, 0) }, "fcntl")?;
            Ok(())
        })(),
    );
    run(
        "the third client's blocking connect returned 0",
        third
            .join()
            .map_err(|_| anyhow::anyhow!("the thread panicked"))
            .and_then(|r| r),
    );
    run(
        "both connections carry bytes both ways",
        (|| {
            for (a, c, peer) in &accepted {
                send_all(*c, b"hello")?;
                if recv_exact(*a, 5)? != b"hello" {
                    bail!("the server got other bytes from {peer}");
                }
                send_all(*a, b"welcome")?;
                if recv_exact(*c, 7)? != b"welcome" {
                    bail!("{peer} got other bytes");
                }
            }
            if accepted.len() != 2 {
                bail!("{} connections accepted", accepted.len());
            }
            Ok(())
        })(),
    );
    verdict_all(
        &result,
        &bad,
        "every socket's name, peer, options and TCP state as before (two clients in SYN_SENT); once the first is accepted, the non-blocking connect completes and the blocking one returns 0, each from its own port, and their connections carry bytes",
    )
}
