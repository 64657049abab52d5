//! ICMP ping sockets and raw IP sockets of both families, in a pod with a
//! network namespace of its own (`ckpt run --pod --net`): bound and
//! connected, with their own options and with datagrams queued to each.

use super::*;

/// `SOL_RAW`: a raw socket's own options.
const SOL_RAW: libc::c_int = 255;
/// `ICMP_FILTER` (`SOL_RAW`, an IPv4 ICMP raw socket): the ICMP types it
/// does not take, one bit each.
const ICMP_FILTER: libc::c_int = 1;
/// `ICMPV6_FILTER` (`IPPROTO_ICMPV6`): `struct icmp6_filter`, 256 bits,
/// a set bit for a type blocked.
const ICMPV6_FILTER: libc::c_int = 1;
/// `IPV6_CHECKSUM` (`SOL_RAW`): where the kernel puts and checks the
/// checksum of an IPv6 raw socket's datagrams.
const IPV6_CHECKSUM: libc::c_int = 7;
/// `IP_NODEFRAG`.
const IP_NODEFRAG: libc::c_int = 22;
/// An IPv6 protocol number for experiments (RFC 3692).
const EXPERIMENT: libc::c_int = 253;
/// The multicast groups the pod joins.
const GROUP4: [u8; 4] = [239, 1, 2, 3];
const GROUP6: [u8; 16] = [0xff, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42, 0x42];

/// `ping_group_range` that lets every group open ping sockets.
const EVERY_GROUP: &str = "0\t2147483647";

/// The options [`icmp_pod`] reads of each socket, by name, beside
/// [`describe`]'s.
const OPTS_ICMP: &[(&str, libc::c_int, libc::c_int)] = &[
    ("SO_TIMESTAMP", libc::SOL_SOCKET, libc::SO_TIMESTAMP),
    ("SO_LOCK_FILTER", libc::SOL_SOCKET, SO_LOCK_FILTER),
    ("IP_MULTICAST_IF", libc::IPPROTO_IP, libc::IP_MULTICAST_IF),
    (
        "IPV6_MULTICAST_IF",
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_IF,
    ),
    ("IP_RECVTTL", libc::IPPROTO_IP, libc::IP_RECVTTL),
    ("IP_HDRINCL", libc::IPPROTO_IP, libc::IP_HDRINCL),
    ("IP_NODEFRAG", libc::IPPROTO_IP, IP_NODEFRAG),
    ("ICMP_FILTER", SOL_RAW, ICMP_FILTER),
    (
        "IPV6_RECVHOPLIMIT",
        libc::IPPROTO_IPV6,
        libc::IPV6_RECVHOPLIMIT,
    ),
    ("IPV6_CHECKSUM", SOL_RAW, IPV6_CHECKSUM),
    ("ICMPV6_FILTER", libc::IPPROTO_ICMPV6, ICMPV6_FILTER),
];

/// `SO_LOCK_FILTER`.
const SO_LOCK_FILTER: libc::c_int = 44;

/// The classic BPF filter of the sink: drops a UDP datagram whose first
/// byte is `x` (`ldb [8]; jeq #'x', drop, keep; drop: ret #0; keep: ret
/// #-1`: the filter sees the UDP header first).
const DROP_X: [libc::sock_filter; 4] = [
    libc::sock_filter {
        code: 0x30,
        jt: 0,
        jf: 0,
        k: 8,
    },
    libc::sock_filter {
        code: 0x15,
        jt: 0,
        jf: 1,
        k: b'x' as u32,
    },
    libc::sock_filter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: 0,
    },
    libc::sock_filter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: u32::MAX,
    },
];

/// The classic BPF filter of `fd` as getsockopt(SO_GET_FILTER) gives it
/// (up to 8 instructions), or its error.
fn filter_of(fd: RawFd) -> String {
    let mut insns = [libc::sock_filter {
        code: 0,
        jt: 0,
        jf: 0,
        k: 0,
    }; 8];
    // SO_GET_FILTER takes and gives a number of instructions.
    let mut len = insns.len() as libc::socklen_t;
    // SAFETY: `insns` has room for `len` instructions.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            insns.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r < 0 {
        return std::io::Error::last_os_error().to_string();
    }
    if len == 0 {
        return "none".to_owned();
    }
    insns[..(len as usize).min(insns.len())]
        .iter()
        .map(|i| format!("{:#x}/{}/{}/{:#x}", i.code, i.jt, i.jf, i.k))
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`describe`] of `fd` and its [`OPTS_ICMP`] (an error for those its
/// kind has not), and its filter.
fn describe_icmp(fd: RawFd) -> Vec<String> {
    let mut out = describe(fd);
    out.push(format!("SO_GET_FILTER {}", filter_of(fd)));
    for (name, level, opt) in OPTS_ICMP {
        let v = match get_bytes(fd, *level, *opt) {
            Ok(b) if b.len() == 4 => i32::from_ne_bytes([b[0], b[1], b[2], b[3]]).to_string(),
            Ok(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
            Err(e) => e,
        };
        out.push(format!("{name} {v}"));
    }
    out
}

/// The Internet checksum of `b`.
fn csum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request (`ty` 8, or 128 for ICMPv6) with identifier `id`,
/// sequence `seq` and `payload`, its checksum set for IPv4 (the kernel
/// sets ICMPv6's, and a ping socket's identifier and checksum).
fn echo(ty: u8, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    if ty == 8 {
        let c = csum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
    }
    m
}

/// A datagram as recvmsg(2) gave it: its bytes, its sender, and the TTL
/// or hop limit its control message said (`IP_RECVTTL`,
/// `IPV6_RECVHOPLIMIT`), if any.
#[derive(Debug)]
struct Got {
    bytes: Vec<u8>,
    from: String,
    ttl: Option<i32>,
    /// When it came (`SO_TIMESTAMP`'s control message).
    stamp: Option<std::time::SystemTime>,
}

/// The next datagram queued to `fd`, without waiting.
fn recv_msg(fd: RawFd) -> Result<Got> {
    let mut buf = [0u8; 512];
    let mut ctl = [0u64; 16];
    // SAFETY: plain data.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: plain data, filled below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1 as _;
    msg.msg_control = ctl.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&ctl) as _;
    // SAFETY: every buffer `msg` points to outlives the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        bail!("recvmsg: {}", std::io::Error::last_os_error());
    }
    let mut ttl = None;
    let mut stamp = None;
    // SAFETY: the control buffer is what recvmsg(2) filled, walked with
    // the CMSG macros within its length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (level, ty) = ((*c).cmsg_level, (*c).cmsg_type);
            if (level == libc::IPPROTO_IP && ty == libc::IP_TTL)
                || (level == libc::IPPROTO_IPV6 && ty == libc::IPV6_HOPLIMIT)
            {
                ttl = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>()));
            }
            if level == libc::SOL_SOCKET && ty == libc::SCM_TIMESTAMP {
                let tv = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timeval>());
                stamp = Some(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000),
                );
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(Got {
        bytes: buf[..n as usize].to_vec(),
        from: addr_text(&ss),
        ttl,
        stamp,
    })
}

/// Waits up to a second for a datagram queued to `fd` (loopback delivers
/// at once, but in a softirq).
fn recv_wait(fd: RawFd) -> Result<Got> {
    for _ in 0..100 {
        match recv_msg(fd) {
            Err(e) if e.to_string().contains("Resource temporarily unavailable") => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
    recv_msg(fd)
}

/// What an ICMP message `m` (from its header) is, if it is an echo reply
/// of type `ty`: its identifier, sequence and payload.
fn echo_reply(m: &[u8], ty: u8) -> Option<(u16, u16, &[u8])> {
    (m.len() >= 8 && m[0] == ty && m[1] == 0).then(|| {
        (
            u16::from_be_bytes([m[4], m[5]]),
            u16::from_be_bytes([m[6], m[7]]),
            &m[8..],
        )
    })
}

/// Checks that `got`, an IPv4 raw socket's datagram, is an IPv4 packet of
/// `proto` from 127.0.0.1 with TTL 64, and gives what follows its header.
fn ipv4_body(got: &Got, proto: u8) -> Result<&[u8]> {
    let b = &got.bytes;
    if b.len() < 20 || b[0] >> 4 != 4 {
        bail!("not an IPv4 packet: {b:?}");
    }
    let ihl = usize::from(b[0] & 0xf) * 4;
    if b[9] != proto || b[12..16] != LO4 || b[8] != 64 || b.len() < ihl {
        bail!(
            "an IPv4 header of protocol {}, from {:?}, TTL {}: not {proto} from 127.0.0.1 with TTL 64",
            b[9],
            &b[12..16],
            b[8]
        );
    }
    Ok(&b[ihl..])
}

/// Checks that `fd` holds nothing more.
fn drained(fd: RawFd) -> Result<()> {
    match recv_msg(fd) {
        Err(e) if e.to_string().contains("Resource temporarily unavailable") => Ok(()),
        other => bail!("one more datagram: {other:?}"),
    }
}

/// Expects `fd`'s next datagram to be the echo reply of ping socket
/// `ident` (ICMP type `ty`) to `seq` with `payload`, from `from`, with
/// TTL or hop limit 64 in its control message if `ttl`.
fn expect_ping_reply(
    fd: RawFd,
    ty: u8,
    ident: u16,
    seq: u16,
    payload: &[u8],
    from: &str,
    ttl: bool,
) -> Result<Got> {
    let got = recv_wait(fd)?;
    let reply = echo_reply(&got.bytes, ty);
    if reply != Some((ident, seq, payload)) || got.from != from || got.ttl != ttl.then_some(64) {
        bail!(
            "got {got:?}, not the reply to {seq} ({:?}) for {ident} from {from}",
            String::from_utf8_lossy(payload)
        );
    }
    Ok(got)
}

/// Expects the next datagram of IPv4 raw socket `fd` to be an ICMP echo
/// reply with `id`, `seq` and `payload`, its IP header with it.
fn expect_raw4_reply(fd: RawFd, id: u16, seq: u16, payload: &[u8]) -> Result<()> {
    let got = recv_wait(fd)?;
    let body = ipv4_body(&got, libc::IPPROTO_ICMP as u8)?;
    if echo_reply(body, 0) != Some((id, seq, payload)) || got.from != "127.0.0.1:0" {
        bail!(
            "got {body:?} from {}, not the echo reply {id}/{seq} {:?}",
            got.from,
            String::from_utf8_lossy(payload)
        );
    }
    Ok(())
}

/// Expects the next datagram of IPv4 raw UDP socket `fd` to be a UDP
/// datagram to port `dport` with `payload`, its IP header with it.
fn expect_raw4_udp(fd: RawFd, dport: u16, payload: &[u8]) -> Result<()> {
    let got = recv_wait(fd)?;
    let body = ipv4_body(&got, libc::IPPROTO_UDP as u8)?;
    if body.len() < 8 || u16::from_be_bytes([body[2], body[3]]) != dport || &body[8..] != payload {
        bail!("got {body:?}, not a UDP datagram to {dport} with {payload:?}");
    }
    Ok(())
}

/// An IPv4 UDP packet from 127.0.0.1:`sport` to 127.0.0.1:`dport` with
/// `payload`, for a socket with `IP_HDRINCL` (the kernel fills the IP
/// header's checksum, length and id; no UDP checksum).
fn udp_packet(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![
        0x45,
        0,
        0,
        0,
        0,
        0,
        0x40,
        0,
        64,
        libc::IPPROTO_UDP as u8,
        0,
        0,
    ];
    p.extend_from_slice(&LO4);
    p.extend_from_slice(&LO4);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// send(2) of `msg` on connected socket `fd`.
fn send_one(fd: RawFd, msg: &[u8]) -> Result<()> {
    // SAFETY: `msg` is valid for its length.
    check(
        unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), 0) } as i32,
        "send",
    )
    .map(|_| ())
}

/// The bytes an IPv6 raw socket of [`EXPERIMENT`] sends: its checksum
/// (`IPV6_CHECKSUM` 2) at offset 2, which the kernel fills.
fn experiment(tag: &[u8]) -> Vec<u8> {
    let mut m = vec![0x5a, 0xa5, 0, 0];
    m.extend_from_slice(tag);
    m
}

/// Expects the next datagram of the IPv6 raw socket of [`EXPERIMENT`] `fd`
/// to be `experiment(tag)` from [::1], its checksum filled in.
fn expect_experiment(fd: RawFd, tag: &[u8]) -> Result<()> {
    let got = recv_wait(fd)?;
    let want = experiment(tag);
    let b = &got.bytes;
    if b.len() != want.len()
        || b[..2] != want[..2]
        || b[4..] != want[4..]
        || b[2..4] == [0, 0]
        || got.from != "[::1]:0"
    {
        bail!("got {got:?}, not {want:?} from [::1] with its checksum");
    }
    Ok(())
}

/// The pod's init (`icmp_pod`): lets every group open ping sockets
/// (`net.ipv4.ping_group_range`), and makes:
/// - `raw4 icmp`: an IPv4 ICMP raw socket taking only echo replies
///   (`ICMP_FILTER`), `IP_TTL` 50;
/// - `raw6 icmpv6`: an ICMPv6 raw socket taking only echo replies
///   (`ICMPV6_FILTER`);
/// - `raw4 udp`: an IPv4 raw socket of UDP with `IP_HDRINCL` and
///   `IP_NODEFRAG`, bound to 127.0.0.1 and connected to it;
/// - `raw6 experiment`: an IPv6 raw socket of protocol 253 with
///   `IPV6_CHECKSUM` 2, bound to ::1 and connected to it;
/// - `ping4 bound`: an ICMP ping socket bound to 127.0.0.1, identifier
///   7030, `IP_RECVTTL`, `IP_TTL` 45, `SO_TIMESTAMP` (its queued replies
///   must say they came before the checkpoint);
/// - `ping4 connected`: one connected to 127.0.0.1 with an identifier the
///   kernel picked;
/// - `ping6 bound`: an ICMPv6 ping socket bound to [::1], identifier
///   7031, `IPV6_RECVHOPLIMIT`.
///
/// - `udp4 sink`: a UDP socket bound to 127.0.0.1:7032, with a classic
///   BPF filter dropping datagrams that begin with `x`
///   (`SO_ATTACH_FILTER`), locked (`SO_LOCK_FILTER`);
/// - `udp4 group`: a UDP socket on port 7033 in multicast group 239.1.2.3
///   on the loopback, with a datagram to the group queued, which `udp4
///   multicast sender` (`IP_MULTICAST_IF` the loopback) sent;
/// - `udp6 group`: an IPv6 UDP socket in group ff05::4242 on the
///   loopback, with `IPV6_MULTICAST_IF`.
///
/// Each ping socket sends echo requests whose replies it leaves queued
/// (two, one, one), which the raw ICMP sockets get copies of; a UDP
/// datagram to the sink stays queued there and leaves a copy queued to
/// `raw4 udp`, and `raw6 experiment` one datagram to itself. It writes what it sees of
/// its sockets next to the ready file, and after the go file checks that
/// it sees the same, reads each queued datagram in order (bytes, sender,
/// IP header, TTL or hop limit), then uses every socket again.
pub(crate) fn icmp_pod(ready_path: &Path) -> Result<()> {
    name("icmp-pod");
    let (go, result) = go_and_result(ready_path);
    let seen = ready_path.to_string_lossy().replace("ready-", "seen-");
    std::fs::write("/proc/sys/net/ipv4/ping_group_range", EVERY_GROUP)
        .context("writing net.ipv4.ping_group_range")?;
    let mut out = Vec::new();

    let r4 = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)?;
    set_int(r4, SOL_RAW, ICMP_FILTER, !1, "ICMP_FILTER")?;
    set_int(r4, libc::IPPROTO_IP, libc::IP_TTL, 50, "IP_TTL")?;
    out.push(("raw4 icmp", r4));

    let r6 = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6)?;
    // Every type blocked but 129, the echo reply.
    let mut filter = [u32::MAX; 8];
    filter[129 / 32] &= !(1 << (129 % 32));
    set_raw(
        r6,
        libc::IPPROTO_ICMPV6,
        ICMPV6_FILTER,
        &filter,
        "ICMPV6_FILTER",
    )?;
    out.push(("raw6 icmpv6", r6));

    let ru = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP)?;
    set_int(ru, libc::IPPROTO_IP, libc::IP_HDRINCL, 1, "IP_HDRINCL")?;
    set_int(ru, libc::IPPROTO_IP, IP_NODEFRAG, 1, "IP_NODEFRAG")?;
    bind(ru, Addr::V4(LO4, 0))?;
    connect(ru, Addr::V4(LO4, 0))?;
    out.push(("raw4 udp", ru));

    let rx = socket(libc::AF_INET6, libc::SOCK_RAW, EXPERIMENT)?;
    set_int(rx, SOL_RAW, IPV6_CHECKSUM, 2, "IPV6_CHECKSUM")?;
    bind(rx, Addr::V6(LO6, 0))?;
    connect(rx, Addr::V6(LO6, 0))?;
    out.push(("raw6 experiment", rx));

    let p4 = socket(libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_ICMP)?;
    set_int(p4, libc::IPPROTO_IP, libc::IP_RECVTTL, 1, "IP_RECVTTL")?;
    set_int(p4, libc::IPPROTO_IP, libc::IP_TTL, 45, "IP_TTL")?;
    set_int(p4, libc::SOL_SOCKET, libc::SO_TIMESTAMP, 1, "SO_TIMESTAMP")?;
    bind(p4, Addr::V4(LO4, PORTS[12]))?;
    out.push(("ping4 bound", p4));

    let pc = socket(libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_ICMP)?;
    connect(pc, Addr::V4(LO4, 0))?;
    out.push(("ping4 connected", pc));

    let p6 = socket(libc::AF_INET6, libc::SOCK_DGRAM, libc::IPPROTO_ICMPV6)?;
    set_int(
        p6,
        libc::IPPROTO_IPV6,
        libc::IPV6_RECVHOPLIMIT,
        1,
        "IPV6_RECVHOPLIMIT",
    )?;
    bind(p6, Addr::V6(LO6, PORTS[13]))?;
    out.push(("ping6 bound", p6));

    // Where the UDP datagrams go (none may come back as a port
    // unreachable error, which the raw UDP socket would take).
    let sink = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    let prog = libc::sock_fprog {
        len: DROP_X.len() as u16,
        filter: DROP_X.as_ptr().cast_mut(),
    };
    set_raw(
        sink,
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &prog,
        "SO_ATTACH_FILTER",
    )?;
    set_int(sink, libc::SOL_SOCKET, SO_LOCK_FILTER, 1, "SO_LOCK_FILTER")?;
    bind(sink, Addr::V4(LO4, PORTS[14]))?;
    out.push(("udp4 sink", sink));

    // Multicast: a socket in group 239.1.2.3 on the loopback (device 1,
    // as in every new namespace), and one sending there by that device
    // (IP_MULTICAST_IF); an IPv6 one in group ff05::4242 with
    // IPV6_MULTICAST_IF.
    let group = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    set_int(
        group,
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        1,
        "SO_REUSEADDR",
    )?;
    bind(group, Addr::V4([0; 4], PORTS[15]))?;
    let join = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from_ne_bytes(GROUP4),
        },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: 1,
    };
    set_raw(
        group,
        libc::IPPROTO_IP,
        libc::IP_ADD_MEMBERSHIP,
        &join,
        "IP_ADD_MEMBERSHIP",
    )?;
    out.push(("udp4 group", group));
    let sender = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    let by_lo = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: 1,
    };
    set_raw(
        sender,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        &by_lo,
        "IP_MULTICAST_IF",
    )?;
    out.push(("udp4 multicast sender", sender));
    let group6 = socket(libc::AF_INET6, libc::SOCK_DGRAM, 0)?;
    let join6 = libc::ipv6_mreq {
        ipv6mr_multiaddr: libc::in6_addr { s6_addr: GROUP6 },
        ipv6mr_interface: 1,
    };
    set_raw(
        group6,
        libc::IPPROTO_IPV6,
        libc::IPV6_ADD_MEMBERSHIP,
        &join6,
        "IPV6_JOIN_GROUP",
    )?;
    set_int(
        group6,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_IF,
        1,
        "IPV6_MULTICAST_IF",
    )?;
    out.push(("udp6 group", group6));
    let socks = Sockets(out);

    // The datagrams left queued.
    send_to(p4, &echo(8, 0, 1, b"ping4 one"), Addr::V4(LO4, 0))?;
    send_to(p4, &echo(8, 0, 2, b"ping4 two"), Addr::V4(LO4, 0))?;
    send_one(pc, &echo(8, 0, 3, b"ping4 three"))?;
    send_to(p6, &echo(128, 0, 1, b"ping6 one"), Addr::V6(LO6, 0))?;
    let u = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    send_to(u, b"udp copy", Addr::V4(LO4, PORTS[14]))?;
    // SAFETY: our own descriptor.
    unsafe { libc::close(u) };
    send_one(rx, &experiment(b"queued"))?;
    send_to(sender, b"to the group", Addr::V4(GROUP4, PORTS[15]))?;
    // Loopback delivers in a softirq: let every copy arrive.
    std::thread::sleep(std::time::Duration::from_millis(300));

    let describe_all = || -> Vec<String> {
        socks
            .0
            .iter()
            .flat_map(|(what, fd)| {
                describe_icmp(*fd)
                    .into_iter()
                    .map(move |l| format!("{what}: {l}"))
            })
            .collect()
    };
    let before = describe_all();
    std::fs::write(&seen, before.join("\n") + "\n")?;
    // Every datagram queued came before this, and the checkpoint after.
    let queued_by = std::time::SystemTime::now();
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let resumed = std::time::SystemTime::now();
    // Whether SO_TIMESTAMP says `got` came before the checkpoint
    // (`before`), or after the restart.
    let came = |got: &Got, before: bool| -> Result<()> {
        match got.stamp {
            Some(t) if before && t <= queued_by => Ok(()),
            Some(t) if !before && t >= resumed => Ok(()),
            other => bail!(
                "SO_TIMESTAMP says {other:?}, not {} {:?}",
                if before { "before" } else { "after" },
                if before { queued_by } else { resumed }
            ),
        }
    };
    let mut bad = Vec::new();
    let after = describe_all();
    for (b, a) in before.iter().zip(&after) {
        if b != a {
            bad.push(format!("before: {b}; after: {a}"));
        }
    }
    let mut run = |what: &str, r: Result<()>| {
        if let Err(e) = r {
            bad.push(format!("{what}: {e:#}"));
        }
    };
    let picked = port_of(pc);
    let (id4, id6) = (PORTS[12], PORTS[13]);
    // What was queued, in order, then nothing more.
    run(
        "the replies queued to ping4 bound",
        (|| {
            // When they came: before the checkpoint.
            let one = expect_ping_reply(p4, 0, id4, 1, b"ping4 one", "127.0.0.1:0", true)?;
            came(&one, true)?;
            let two = expect_ping_reply(p4, 0, id4, 2, b"ping4 two", "127.0.0.1:0", true)?;
            came(&two, true)?;
            drained(p4)
        })(),
    );
    run(
        "the reply queued to ping4 connected",
        (|| {
            expect_ping_reply(pc, 0, picked, 3, b"ping4 three", "127.0.0.1:0", false)?;
            drained(pc)
        })(),
    );
    run(
        "the reply queued to ping6 bound",
        (|| {
            expect_ping_reply(p6, 129, id6, 1, b"ping6 one", "[::1]:0", true)?;
            drained(p6)
        })(),
    );
    run(
        "the copies of the replies queued to raw4 icmp",
        (|| {
            expect_raw4_reply(r4, id4, 1, b"ping4 one")?;
            expect_raw4_reply(r4, id4, 2, b"ping4 two")?;
            expect_raw4_reply(r4, picked, 3, b"ping4 three")?;
            drained(r4)
        })(),
    );
    run(
        "the copy of the reply queued to raw6 icmpv6",
        (|| {
            let got = recv_wait(r6)?;
            if echo_reply(&got.bytes, 129) != Some((id6, 1, &b"ping6 one"[..])) {
                bail!("got {got:?}");
            }
            drained(r6)
        })(),
    );
    run(
        "the copy of the UDP datagram queued to raw4 udp",
        (|| {
            expect_raw4_udp(ru, PORTS[14], b"udp copy")?;
            drained(ru)
        })(),
    );
    run(
        "the datagram queued to udp4 group, sent to 239.1.2.3",
        (|| {
            // From the sender's port (the loopback gives it no address
            // for a multicast datagram: 0.0.0.0).
            let got = recv_wait(group)?;
            if got.bytes != b"to the group" || got.from != format!("0.0.0.0:{}", port_of(sender)) {
                bail!("got {got:?}");
            }
            drained(group)
        })(),
    );
    run(
        "udp4 group, in 239.1.2.3 again, gets a datagram sent there by the loopback",
        (|| {
            send_to(sender, b"again", Addr::V4(GROUP4, PORTS[15]))?;
            let got = recv_wait(group)?;
            if got.bytes != b"again" {
                bail!("got {got:?}");
            }
            drained(group)
        })(),
    );
    run(
        "the datagram queued to udp4 sink",
        (|| {
            let (got, from) = recv_from(sink)?;
            if got != b"udp copy" || !from.starts_with("127.0.0.1:") {
                bail!("got {got:?} from {from}");
            }
            drained(sink)
        })(),
    );
    run(
        "the datagram queued to raw6 experiment",
        (|| {
            expect_experiment(rx, b"queued")?;
            drained(rx)
        })(),
    );
    // Each socket at work again.
    run(
        "ping4 bound pings again, under its identifier",
        (|| {
            send_to(p4, &echo(8, 0, 4, b"ping4 four"), Addr::V4(LO4, 0))?;
            let four = expect_ping_reply(p4, 0, id4, 4, b"ping4 four", "127.0.0.1:0", true)?;
            came(&four, false)?;
            expect_raw4_reply(r4, id4, 4, b"ping4 four")
        })(),
    );
    run(
        "ping4 connected pings again",
        (|| {
            send_one(pc, &echo(8, 0, 5, b"ping4 five"))?;
            expect_ping_reply(pc, 0, picked, 5, b"ping4 five", "127.0.0.1:0", false)?;
            expect_raw4_reply(r4, picked, 5, b"ping4 five")
        })(),
    );
    run(
        "raw4 icmp sends its own echo request",
        (|| {
            send_to(r4, &echo(8, 0x4242, 9, b"raw4 own"), Addr::V4(LO4, 0))?;
            expect_raw4_reply(r4, 0x4242, 9, b"raw4 own")?;
            drained(r4)
        })(),
    );
    run(
        "ping6 bound pings again",
        (|| {
            send_to(p6, &echo(128, 0, 2, b"ping6 two"), Addr::V6(LO6, 0))?;
            expect_ping_reply(p6, 129, id6, 2, b"ping6 two", "[::1]:0", true)?;
            let got = recv_wait(r6)?;
            if echo_reply(&got.bytes, 129) != Some((id6, 2, &b"ping6 two"[..])) {
                bail!("raw6 icmpv6 got {got:?}");
            }
            drained(r6)
        })(),
    );
    run(
        "raw4 udp sends a whole IP packet (IP_HDRINCL)",
        (|| {
            send_one(ru, &udp_packet(PORTS[14], PORTS[14], b"hdrincl"))?;
            expect_raw4_udp(ru, PORTS[14], b"hdrincl")?;
            let (got, from) = recv_wait(sink).map(|g| (g.bytes, g.from))?;
            if got != b"hdrincl" || from != "127.0.0.1:7032" {
                bail!("udp4 sink got {got:?} from {from}");
            }
            Ok(())
        })(),
    );
    run(
        "raw6 experiment sends to itself, its checksum filled and checked",
        (|| {
            send_one(rx, &experiment(b"again"))?;
            expect_experiment(rx, b"again")
        })(),
    );
    run(
        "the sink's filter drops a datagram beginning with x, and stays locked",
        (|| {
            let u = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
            send_to(u, b"xdropped", Addr::V4(LO4, PORTS[14]))?;
            send_to(u, b"kept", Addr::V4(LO4, PORTS[14]))?;
            // SAFETY: our own descriptor.
            unsafe { libc::close(u) };
            let got = recv_wait(sink)?;
            if got.bytes != b"kept" {
                bail!("the sink got {got:?} first, not \"kept\"");
            }
            drained(sink)?;
            // Its raw socket's copies of both, which no filter drops.
            expect_raw4_udp(ru, PORTS[14], b"xdropped")?;
            expect_raw4_udp(ru, PORTS[14], b"kept")?;
            // SO_DETACH_FILTER is refused while the filter is locked.
            match set_int(
                sink,
                libc::SOL_SOCKET,
                libc::SO_DETACH_FILTER,
                0,
                "SO_DETACH_FILTER",
            ) {
                Err(e) if e.to_string().contains("Operation not permitted") => {}
                other => bail!("SO_DETACH_FILTER gave {other:?}"),
            }
            Ok(())
        })(),
    );
    verdict_all(
        &result,
        &bad,
        "every socket's name, peer, options and filter as before; the queued echo replies, their copies with their IP headers, the UDP datagram and its copy, and the IPv6 datagram, in order, with their senders, TTLs and times; every socket pings or sends again; the sink's locked filter drops what it dropped",
    )
}
