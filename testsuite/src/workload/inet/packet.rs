//! Packet sockets (`AF_PACKET`) in a pod with a network namespace of its
//! own (`ckpt run --pod --net`), with frames of its loopback queued to
//! them.

use super::*;

const ETH_P_ALL: u16 = 0x0003;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const SOL_PACKET: libc::c_int = 263;
const PACKET_OUTGOING: u8 = 4;
/// `SOL_PACKET` options and what [`describe_packet`] calls them.
const PACKET_OPTS: &[(&str, libc::c_int)] = &[
    ("PACKET_AUXDATA", 8),
    ("PACKET_ORIGDEV", 9),
    ("PACKET_VERSION", 10),
    ("PACKET_RESERVE", 12),
    ("PACKET_LOSS", 14),
    ("PACKET_TIMESTAMP", 17),
    ("PACKET_QDISC_BYPASS", 20),
    ("PACKET_IGNORE_OUTGOING", 23),
    ("PACKET_TX_HAS_OFF", 19),
];
/// `PACKET_STATISTICS`: `struct tpacket_stats`, read and reset.
const PACKET_STATISTICS: libc::c_int = 6;
/// `SO_LOCK_FILTER`, and `SO_ATTACH_FILTER` read back (`SO_GET_FILTER`).
const SO_LOCK_FILTER: libc::c_int = 44;
const SO_GET_FILTER: libc::c_int = 26;
/// The UDP ports the pod's datagrams go to.
fn port_in() -> u16 {
    PORTS[17]
}
fn port_out() -> u16 {
    PORTS[18]
}

fn packet_socket(ty: libc::c_int, proto: u16) -> Result<RawFd> {
    socket(libc::AF_PACKET, ty, i32::from(proto.to_be()))
}

/// bind(2) of a packet socket to `proto` on device `ifindex` (0: every one).
fn packet_bind(fd: RawFd, proto: u16, ifindex: i32) -> Result<()> {
    // SAFETY: plain data, all zeros is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: `sll` outlives the call; its size is passed.
    let r = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    check(r, "bind AF_PACKET").map(|_| ())
}

/// A classic BPF program for a `SOCK_DGRAM` socket of IPv4 (data at the
/// IP header): UDP datagrams to `port` whole, nothing else.
fn udp_port_filter(port: u16) -> Vec<libc::sock_filter> {
    let insn = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    vec![
        insn(0x30, 0, 0, 9),               // ldb [9]: protocol
        insn(0x15, 0, 3, 17),              // jeq UDP
        insn(0x28, 0, 0, 22),              // ldh [22]: its destination port
        insn(0x15, 0, 1, u32::from(port)), // jeq port
        insn(0x06, 0, 0, 0xffff_ffff),     // ret all
        insn(0x06, 0, 0, 0),               // ret 0
    ]
}

fn attach_filter(fd: RawFd, prog: &[libc::sock_filter]) -> Result<()> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    set_raw(
        fd,
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &fprog,
        "SO_ATTACH_FILTER",
    )
}

/// What the pod sees of a packet socket, without taking a frame: its
/// name (protocol, device, link type), its options, its filter's length
/// and lock.
fn describe_packet(fd: RawFd) -> String {
    // SAFETY: plain data, all zeros is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` has room for `len` bytes.
    let r = unsafe { libc::getsockname(fd, (&mut sll as *mut libc::sockaddr_ll).cast(), &mut len) };
    let mut out = if r < 0 {
        format!("name ({})", std::io::Error::last_os_error())
    } else {
        format!(
            "protocol {:#06x}, device {}, link type {}",
            u16::from_be(sll.sll_protocol),
            sll.sll_ifindex,
            sll.sll_hatype
        )
    };
    let int = |level, opt| match get_bytes(fd, level, opt) {
        Ok(b) if b.len() == 4 => i32::from_ne_bytes([b[0], b[1], b[2], b[3]]).to_string(),
        Ok(b) => format!("{b:?}"),
        Err(e) => e,
    };
    for (name, opt) in PACKET_OPTS {
        out.push_str(&format!(", {name} {}", int(SOL_PACKET, *opt)));
    }
    for (name, opt) in [
        ("SO_RCVBUF", libc::SO_RCVBUF),
        ("SO_TIMESTAMP", libc::SO_TIMESTAMP),
        ("SO_PRIORITY", libc::SO_PRIORITY),
        ("SO_LOCK_FILTER", SO_LOCK_FILTER),
    ] {
        out.push_str(&format!(", {name} {}", int(libc::SOL_SOCKET, opt)));
    }
    // With no room, SO_GET_FILTER gives the number of instructions.
    let mut n: libc::socklen_t = 0;
    // SAFETY: no room asked for.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_GET_FILTER,
            std::ptr::null_mut(),
            &mut n,
        )
    };
    out.push_str(&format!(", filter {}", if r < 0 { -1 } else { n as i64 }));
    out
}

/// One frame as recvmsg(2) gives it, with `MSG_DONTWAIT`: its bytes, its
/// `sockaddr_ll`, its `PACKET_AUXDATA` and `SO_TIMESTAMPNS` control
/// messages; `None` when there is none.
fn recv_frame(fd: RawFd) -> Result<Option<String>> {
    let mut buf = vec![0u8; 65536 + 256];
    let mut cbuf = [0u64; 64];
    // SAFETY: plain data, all zeros is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: plain data, all zeros is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as _;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: every buffer `msg` names outlives the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EAGAIN) {
            return Ok(None);
        }
        bail!("recvmsg: {e}");
    }
    let data = &buf[..n as usize];
    let mut out = format!(
        "{n} bytes (sum {}), protocol {:#06x}, device {}, link type {}, type {}, address {:?}",
        data.iter().map(|&b| u64::from(b)).sum::<u64>(),
        u16::from_be(sll.sll_protocol),
        sll.sll_ifindex,
        sll.sll_hatype,
        sll.sll_pkttype,
        &sll.sll_addr[..usize::from(sll.sll_halen).min(8)]
    );
    // SAFETY: `msg` was filled by recvmsg; the macros walk its control
    // buffer within its length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let d = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (SOL_PACKET, 8) => {
                    let a: libc::tpacket_auxdata = std::ptr::read_unaligned(d.cast());
                    out.push_str(&format!(
                        ", aux status {:#x} len {} snaplen {} mac {} net {} vlan {}",
                        a.tp_status, a.tp_len, a.tp_snaplen, a.tp_mac, a.tp_net, a.tp_vlan_tci
                    ));
                }
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                    let t: libc::timespec = std::ptr::read_unaligned(d.cast());
                    out.push_str(&format!(", came {}.{:09}", t.tv_sec, t.tv_nsec));
                }
                (l, t) => out.push_str(&format!(", cmsg {l}/{t}")),
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if sll.sll_pkttype == PACKET_OUTGOING {
        out.push_str(" (sent)");
    }
    Ok(Some(out))
}

/// Every frame `fd` holds, in order.
fn recv_all(fd: RawFd) -> Result<Vec<String>> {
    let mut all = Vec::new();
    while let Some(f) = recv_frame(fd)? {
        all.push(f);
        if all.len() > 1000 {
            bail!("more than 1000 frames");
        }
    }
    Ok(all)
}

/// `PACKET_STATISTICS`: frames taken (drops counted in) and dropped, since
/// the last read, which this is.
fn stats(fd: RawFd) -> Result<(u32, u32)> {
    let b = get_bytes(fd, SOL_PACKET, PACKET_STATISTICS)
        .map_err(|e| anyhow::anyhow!("PACKET_STATISTICS: {e}"))?;
    if b.len() != 8 {
        bail!("PACKET_STATISTICS gave {} bytes", b.len());
    }
    Ok((
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
    ))
}

/// The pod's init (`packet_pod`): packet sockets on its loopback (device
/// 1), each made twice, the twin read before the checkpoint:
/// - `all`: `SOCK_RAW`, `ETH_P_ALL` on the loopback, `PACKET_AUXDATA`,
///   `SO_TIMESTAMPNS`, a 1 MiB receive buffer: every frame, sent and
///   received, with its Ethernet header;
/// - `udp in`: `SOCK_DGRAM`, `ETH_P_IP` on every device, `PACKET_ORIGDEV`
///   and `PACKET_AUXDATA`, a locked classic filter taking UDP datagrams to
///   port 7035 only;
/// - `ipv6`: `SOCK_DGRAM`, `ETH_P_IPV6` on the loopback, `PACKET_VERSION`
///   2, `PACKET_RESERVE` 64, `PACKET_QDISC_BYPASS`, `SO_PRIORITY` 5;
/// - `idle`: `SOCK_RAW` with no protocol, never bound,
///   `PACKET_IGNORE_OUTGOING`, `PACKET_LOSS`, `PACKET_TIMESTAMP`: no frames.
///
/// Then three UDP datagrams go to 127.0.0.1:7035, one to 127.0.0.1:7036
/// and one to [::1]:7035 (each read by a UDP socket there): `all` holds
/// ten frames, `udp in` three, `ipv6` one. The twins' frames, read, are
/// what the originals must give after the restart, each with the time it
/// came.
///
/// It writes what it sees of every packet socket next to the ready file,
/// and after the go file checks it sees the same, that each original
/// gives its twin's frames, then that a new datagram to port 7035 reaches
/// `all` (twice) and `udp in`, and nothing reaches `ipv6` and `idle`, and
/// that `PACKET_STATISTICS` of each counts the frames it took before and
/// after (the frames it took, none dropped), as its twin's does.
pub(crate) fn packet_pod(ready_path: &Path) -> Result<()> {
    name("packet-pod");
    let (go, result) = go_and_result(ready_path);
    let seen = ready_path.to_string_lossy().replace("ready-", "seen-");
    let lo = 1;
    let make_all = || -> Result<RawFd> {
        let s = packet_socket(libc::SOCK_RAW, 0)?;
        set_int(s, SOL_PACKET, 8, 1, "PACKET_AUXDATA")?;
        set_int(
            s,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            1,
            "SO_TIMESTAMPNS",
        )?;
        set_int(s, libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20, "SO_RCVBUF")?;
        packet_bind(s, ETH_P_ALL, lo)?;
        Ok(s)
    };
    let make_udp_in = || -> Result<RawFd> {
        let s = packet_socket(libc::SOCK_DGRAM, ETH_P_IP)?;
        set_int(s, SOL_PACKET, 9, 1, "PACKET_ORIGDEV")?;
        set_int(s, SOL_PACKET, 8, 1, "PACKET_AUXDATA")?;
        set_int(
            s,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            1,
            "SO_TIMESTAMPNS",
        )?;
        attach_filter(s, &udp_port_filter(port_in()))?;
        set_int(s, libc::SOL_SOCKET, SO_LOCK_FILTER, 1, "SO_LOCK_FILTER")?;
        Ok(s)
    };
    let make_ipv6 = || -> Result<RawFd> {
        let s = packet_socket(libc::SOCK_DGRAM, 0)?;
        set_int(s, SOL_PACKET, 10, 1, "PACKET_VERSION")?;
        set_int(s, SOL_PACKET, 12, 64, "PACKET_RESERVE")?;
        set_int(s, SOL_PACKET, 20, 1, "PACKET_QDISC_BYPASS")?;
        set_int(s, libc::SOL_SOCKET, libc::SO_PRIORITY, 5, "SO_PRIORITY")?;
        set_int(
            s,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            1,
            "SO_TIMESTAMPNS",
        )?;
        packet_bind(s, ETH_P_IPV6, lo)?;
        Ok(s)
    };
    let idle = packet_socket(libc::SOCK_RAW, 0)?;
    set_int(idle, SOL_PACKET, 23, 1, "PACKET_IGNORE_OUTGOING")?;
    set_int(idle, SOL_PACKET, 14, 1, "PACKET_LOSS")?;
    set_int(idle, SOL_PACKET, 17, 1, "PACKET_TIMESTAMP")?;
    let socks = [
        ("all", make_all()?, make_all()?),
        ("udp in", make_udp_in()?, make_udp_in()?),
        ("ipv6", make_ipv6()?, make_ipv6()?),
    ];
    // The datagrams, each read where it goes.
    let r4 = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    bind(r4, Addr::V4(LO4, port_in()))?;
    let r4b = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    bind(r4b, Addr::V4(LO4, port_out()))?;
    let r6 = socket(libc::AF_INET6, libc::SOCK_DGRAM, 0)?;
    bind(r6, Addr::V6(LO6, port_in()))?;
    let u4 = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    let u6 = socket(libc::AF_INET6, libc::SOCK_DGRAM, 0)?;
    for i in 0..3 {
        send_to(
            u4,
            format!("frame {i}").as_bytes(),
            Addr::V4(LO4, port_in()),
        )?;
        recv_from(r4)?;
    }
    send_to(u4, b"to the other port", Addr::V4(LO4, port_out()))?;
    recv_from(r4b)?;
    send_to(u6, b"over IPv6", Addr::V6(LO6, port_in()))?;
    recv_from(r6)?;
    let mut twins = Vec::new();
    for (what, _, twin) in &socks {
        let frames = recv_all(*twin)?;
        twins.push((*what, frames));
    }
    let counts: Vec<String> = twins
        .iter()
        .map(|(w, f)| format!("{w} {}", f.len()))
        .collect();
    let describe = || -> Vec<String> {
        let mut v: Vec<String> = socks
            .iter()
            .map(|(w, s, _)| format!("{w}: {}", describe_packet(*s)))
            .collect();
        v.push(format!("idle: {}", describe_packet(idle)));
        v
    };
    let before = describe();
    std::fs::write(
        &seen,
        before.join("\n") + &format!("\nframes each twin took: {}\n", counts.join(", ")),
    )?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut bad = Vec::new();
    for (b, a) in before.iter().zip(&describe()) {
        if b != a {
            bad.push(format!("before: {b}; after: {a}"));
        }
    }
    let mut run = |what: &str, r: Result<()>| {
        if let Err(e) = r {
            bad.push(format!("{what}: {e:#}"));
        }
    };
    for ((what, s, _), (_, want)) in socks.iter().zip(&twins) {
        run(
            &format!("{what}: its frames, as its twin took them"),
            (|| {
                let got = recv_all(*s)?;
                if got != *want {
                    bail!("got {got:#?}, not {want:#?}");
                }
                Ok(())
            })(),
        );
    }
    run(
        "a new datagram to 127.0.0.1:7035 reaches all (sent and received) and udp in, not ipv6 or idle",
        (|| {
            send_to(u4, b"after", Addr::V4(LO4, port_in()))?;
            recv_from(r4)?;
            let n = |fd| recv_all(fd).map(|v| v.len());
            let got = [
                n(socks[0].1)?,
                n(socks[1].1)?,
                n(socks[2].1)?,
                n(idle)?,
            ];
            if got != [2, 1, 0, 0] {
                bail!("frames all, udp in, ipv6, idle: {got:?}");
            }
            Ok(())
        })(),
    );
    run(
        "PACKET_STATISTICS of each counts what it took before and after (all 12, udp in 4, ipv6 1, none dropped), as its twin's",
        (|| {
            for ((what, s, twin), want) in socks.iter().zip([12, 4, 1]) {
                let (a, b) = (stats(*s)?, stats(*twin)?);
                if a != (want, 0) || b != a {
                    bail!("{what}: {a:?}, its twin {b:?}, not ({want}, 0)");
                }
            }
            Ok(())
        })(),
    );
    verdict_all(
        &result,
        &bad,
        "every packet socket's name, options and filter as before; each one's frames as its twin took them, with the times they came; new frames where they go; the same statistics",
    )
}
