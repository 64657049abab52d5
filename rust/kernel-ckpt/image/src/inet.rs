// SPDX-License-Identifier: GPL-2.0
//! Network sockets of the IPv4 and IPv6 families: TCP sockets closed
//! (bound or not), listening, established or closing; UDP, UDP-Lite, ICMP
//! ping and raw IP sockets, bound or connected, with their queued
//! datagrams and when each came; the socket options their programs set.
//!
//! Written by the kernel's `inet.rs` as an [`InetSockObj`] followed by its
//! [`InetOpt`]s and, for a TCP connection (established or closing), its
//! [`InetTcpConn`] and the bytes of its queues, once, before the first
//! open file of the socket.

use super::codec::{split_checked, Field, Reader, Writer};
use super::*;

/// `AF_INET`.
pub const AF_INET: u32 = 2;
/// `AF_INET6`.
pub const AF_INET6: u32 = 10;
/// `SOCK_STREAM`.
pub const INET_SOCK_STREAM: u32 = 1;
/// `SOCK_DGRAM`.
pub const INET_SOCK_DGRAM: u32 = 2;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u32 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u32 = 17;
/// `IPPROTO_UDPLITE`.
pub const IPPROTO_UDPLITE: u32 = 136;
/// `SOCK_RAW`.
pub const INET_SOCK_RAW: u32 = 3;
/// `IPPROTO_ICMP`: an IPv4 ping socket's protocol ([`INET_SOCK_DGRAM`]).
pub const IPPROTO_ICMP: u32 = 1;
/// `IPPROTO_ICMPV6`: an IPv6 ping socket's.
pub const IPPROTO_ICMPV6: u32 = 58;

/// What an [`InetSockObj`] is, by its family, type and protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InetKind {
    /// A TCP socket.
    Tcp,
    /// A UDP socket.
    Udp,
    /// A UDP-Lite socket.
    UdpLite,
    /// An ICMP (IPv4) or ICMPv6 ping socket (`SOCK_DGRAM`, its port the
    /// echo identifier).
    Ping,
    /// A raw IP socket (`SOCK_RAW`) of the protocol it holds.
    Raw(u8),
}

impl InetKind {
    /// The kind of socket of `family`, `sock_type` and `protocol`, if
    /// kernel-ckpt carries it.
    pub fn of(family: u32, sock_type: u32, protocol: u32) -> Option<Self> {
        let ping = if family == AF_INET6 {
            IPPROTO_ICMPV6
        } else {
            IPPROTO_ICMP
        };
        match (sock_type, protocol) {
            (INET_SOCK_STREAM, IPPROTO_TCP) => Some(Self::Tcp),
            (INET_SOCK_DGRAM, IPPROTO_UDP) => Some(Self::Udp),
            (INET_SOCK_DGRAM, IPPROTO_UDPLITE) => Some(Self::UdpLite),
            (INET_SOCK_DGRAM, p) if p == ping => Some(Self::Ping),
            // Protocol 0 is no raw socket: socket(2) refuses it.
            (INET_SOCK_RAW, p) => u8::try_from(p).ok().filter(|&p| p != 0).map(Self::Raw),
            _ => None,
        }
    }

    /// Its name as ss(8) shows its kind: `tcp`, `udp`, `udplite`, `icmp`
    /// (a ping socket, in `/proc/net/icmp`) or `raw`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::UdpLite => "udplite",
            Self::Ping => "icmp",
            Self::Raw(_) => "raw",
        }
    }

    /// Its name in a sentence: `TCP`, `UDP`, `UDP-Lite`, `ping`, `raw`.
    pub fn title(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::UdpLite => "UDP-Lite",
            Self::Ping => "ping",
            Self::Raw(_) => "raw",
        }
    }
}

/// [`InetSockObj::flags`]: it has a local port (bound by bind(2), or
/// picked when it first sent or connected; a ping socket's is its echo
/// identifier; a raw socket has none).
pub const INET_BOUND: u32 = 1 << 0;
/// Its local address was bound by bind(2) (not the wildcard, nor picked
/// by connect(2)); a raw socket's address, bound or picked: restart binds
/// it before it connects.
pub const INET_BOUND_ADDR: u32 = 1 << 1;
/// A TCP socket that listens, with [`InetSockObj::backlog`].
pub const INET_LISTENING: u32 = 1 << 2;
/// A datagram socket connected to [`InetSockObj::raddr`], or a TCP
/// connection with it, established or closing (an [`InetTcpConn`] follows
/// the options).
pub const INET_CONNECTED: u32 = 1 << 3;
/// Its local port was picked by the kernel (when it connected or first
/// sent, or bound to port 0), not asked for: a port it may lose again
/// when it disconnects.
pub const INET_PORT_PICKED: u32 = 1 << 4;
/// A TCP socket whose connect(2) is under way (SYN_SENT) to
/// [`InetSockObj::raddr`] from its local address and port: restart
/// connects it again, once every socket of the image is made.
pub const INET_CONNECTING: u32 = 1 << 5;
/// Its filter is locked (`SO_LOCK_FILTER`): none may be attached or
/// taken off.
pub const INET_FILTER_LOCKED: u32 = 1 << 6;
/// Every `INET_*` flag.
pub const INET_FLAGS: u32 = INET_BOUND
    | INET_BOUND_ADDR
    | INET_LISTENING
    | INET_CONNECTED
    | INET_PORT_PICKED
    | INET_CONNECTING
    | INET_FILTER_LOCKED;

/// Most instructions of a classic BPF socket filter (`BPF_MAXINSNS`).
pub const INET_MAX_FILTER: u32 = 4096;
/// Length of one classic BPF instruction ([`InetFilterInsn`]).
pub const INET_FILTER_INSN_LEN: usize = InetFilterInsn::LEN;

/// One instruction of a classic BPF socket filter (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InetFilterInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Length of a device name with its NUL (`IFNAMSIZ`).
pub const INET_DEV_LEN: usize = 16;
/// `InetSockObj::shutdown`: shut down for reading (`RCV_SHUTDOWN`).
pub const INET_RCV_SHUTDOWN: u32 = 1;
/// Shut down for writing (`SEND_SHUTDOWN`).
pub const INET_SEND_SHUTDOWN: u32 = 2;

/// A TCP, UDP, UDP-Lite, ping or raw socket of either family on its own: its kind,
/// its addresses, its state, and the number of [`InetOpt`]s that follow.
/// Addresses are in network byte order, an IPv4 one in the first 4 bytes
/// (the rest zero); ports in host byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InetSockObj {
    /// Object id.
    pub id: ObjId,
    /// [`AF_INET`] or [`AF_INET6`].
    pub family: u32,
    /// [`INET_SOCK_STREAM`], [`INET_SOCK_DGRAM`] or [`INET_SOCK_RAW`].
    pub sock_type: u32,
    /// [`IPPROTO_TCP`] (stream), [`IPPROTO_UDP`], [`IPPROTO_UDPLITE`],
    /// [`IPPROTO_ICMP`] or [`IPPROTO_ICMPV6`] (datagram), or any but 0
    /// (raw): see [`InetKind::of`].
    pub protocol: u32,
    /// `INET_*` flags.
    pub flags: u32,
    /// The shutdown bits ([`INET_RCV_SHUTDOWN`], [`INET_SEND_SHUTDOWN`]).
    pub shutdown: u32,
    /// listen(2)'s backlog (what the socket holds: at most
    /// `net.core.somaxconn`); 0 unless listening.
    pub backlog: u32,
    /// Local port (0: none).
    pub lport: u32,
    /// Remote port of a connected or connecting socket (0 otherwise).
    pub rport: u32,
    /// Local address (the wildcard: all zeros).
    pub laddr: [u8; 16],
    /// Remote address of a connected or connecting socket (zeros
    /// otherwise).
    pub raddr: [u8; 16],
    /// The device it is bound to (`SO_BINDTODEVICE`), NUL padded; all
    /// NULs for none.
    pub dev: [u8; INET_DEV_LEN],
    /// How many [`InetOpt`]s follow.
    pub nr_opts: u32,
    /// How many datagrams queued to a UDP, ping or raw socket follow the
    /// options ([`InetDgram`]s, then their payloads).
    pub nr_dgrams: u32,
    /// Their payloads' bytes in all.
    pub dgram_bytes: u32,
    /// How many instructions its classic BPF filter has
    /// (`SO_ATTACH_FILTER`; 0: none), which follow the options.
    pub nr_filter: u32,
    /// How many multicast groups it joined ([`InetGroup`]s, after its
    /// filter).
    pub nr_groups: u32,
}

/// Most multicast groups a socket may have joined in an image (the
/// kernel's default `igmp_max_memberships` is 20, IPv6's unlimited).
pub const INET_MAX_GROUPS: u32 = 1 << 10;

/// A multicast group a datagram or raw socket joined
/// (`IP_ADD_MEMBERSHIP`, `IPV6_JOIN_GROUP`), on the device it joined it
/// on, with no source filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InetGroup {
    /// The group, of the socket's family (IPv4: its first 4 bytes, the
    /// rest zero); a multicast address.
    pub addr: [u8; 16],
    /// The device's index (`ip_mreqn.imr_ifindex`, `ipv6mr_interface`).
    pub ifindex: u32,
}

impl InetGroup {
    /// Whether it is a multicast group of `family` on a device.
    pub fn fits(&self, family: u32) -> bool {
        let a = self.addr;
        self.ifindex != 0
            && self.ifindex <= i32::MAX as u32
            && if family == AF_INET {
                a[0] & 0xf0 == 0xe0 && a.iter().skip(4).all(|&b| b == 0)
            } else {
                a[0] == 0xff
            }
    }
}

/// Most datagrams a socket's queue may hold in an image.
pub const INET_MAX_DGRAMS: u32 = 1 << 16;
/// Largest payload of a UDP datagram over IPv4.
pub const INET_MAX_DGRAM_LEN: u32 = 65507;
/// Length of an IPv4 header without options.
pub const IPV4_HDR_LEN: u32 = 20;

/// A datagram queued to a UDP, ping or raw socket: how it came (its
/// sender, its destination, its hop limit and TOS) and its payload's
/// length. The payload is what recvmsg(2) gives: a UDP datagram's, an
/// ICMP message with its header (ping; raw IPv6), or an IPv4 raw
/// socket's whole packet from its IP header, which says the same sender,
/// destination, hop limit and TOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InetDgram {
    /// [`AF_INET`] or [`AF_INET6`] (an IPv6 UDP socket takes both).
    pub family: u32,
    pub len: u32,
    /// UDP's ports (0 for another).
    pub sport: u32,
    pub dport: u32,
    /// TTL or hop limit.
    pub ttl: u32,
    /// TOS or traffic class.
    pub tos: u32,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// When it came, in nanoseconds since the epoch (`CLOCK_REALTIME`),
    /// if the kernel took the time (a socket asked, `SO_TIMESTAMP*`); 0
    /// if not: recvmsg(2) then gives the time it is read.
    pub tstamp: i64,
}

/// How an option's value is read and set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InetOptKind {
    /// An `int`.
    Int,
    /// A time (`SO_RCVTIMEO`, `SO_SNDTIMEO`) in microseconds, 0 for none.
    Micros,
    /// `struct linger`: `l_onoff << 32 | l_linger as u32`.
    Linger,
    /// `IP_MULTICAST_IF`'s device and address: `ifindex << 32 | addr`,
    /// the address's 4 bytes in network order read as a native `u32`.
    McastIf,
}

/// Which sockets an option is saved for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InetOptFor {
    /// Every carried socket.
    Any,
    /// IPv6 sockets.
    Inet6,
    /// TCP sockets.
    Tcp,
    /// Every carried socket but TCP ones (setsockopt(2) refuses it for
    /// TCP).
    Dgram,
    /// IPv6 sockets but TCP ones.
    Inet6Dgram,
    /// IPv4 raw sockets.
    Raw4,
    /// IPv6 raw sockets.
    Raw6,
    /// Packet sockets ([`PacketSockObj`]), which have the `SO_*` options
    /// too.
    Packet,
}

/// A socket option kernel-ckpt carries: its [`InetOpt::opt`] number (the
/// index in [`INET_OPTS`] plus one), the name getsockopt(2) knows it by,
/// how its value is read, and which sockets have it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InetOptDef {
    /// [`InetOpt::opt`].
    pub opt: u32,
    /// `SO_REUSEADDR`…
    pub name: &'static str,
    /// Its value's form.
    pub kind: InetOptKind,
    /// The sockets that have it.
    pub applies: InetOptFor,
}

macro_rules! inet_opts {
    ($($opt:literal $name:ident $kind:ident $applies:ident),* $(,)?) => {
        /// Every option kernel-ckpt carries, in the order restart sets
        /// them (the buffer sizes first: `SO_RCVLOWAT` of a TCP socket
        /// depends on them), by [`InetOpt::opt`].
        pub const INET_OPTS: &[InetOptDef] = &[$(InetOptDef {
            opt: $opt,
            name: stringify!($name),
            kind: InetOptKind::$kind,
            applies: InetOptFor::$applies,
        }),*];
    };
}

inet_opts! {
    1 SO_SNDBUF Int Any,
    2 SO_RCVBUF Int Any,
    3 SO_REUSEADDR Int Any,
    4 SO_REUSEPORT Int Any,
    5 SO_KEEPALIVE Int Any,
    6 SO_BROADCAST Int Any,
    7 SO_OOBINLINE Int Any,
    8 SO_DONTROUTE Int Any,
    9 SO_PRIORITY Int Any,
    10 SO_MARK Int Any,
    11 SO_RCVLOWAT Int Any,
    12 SO_RCVTIMEO Micros Any,
    13 SO_SNDTIMEO Micros Any,
    14 SO_LINGER Linger Any,
    15 SO_RXQ_OVFL Int Any,
    16 SO_SELECT_ERR_QUEUE Int Any,
    17 SO_ZEROCOPY Int Any,
    18 SO_PEEK_OFF Int Any,
    19 SO_TXREHASH Int Any,
    20 SO_RCVMARK Int Any,
    21 SO_DEBUG Int Any,
    22 IP_TOS Int Any,
    23 IP_TTL Int Any,
    24 IP_FREEBIND Int Any,
    25 IP_TRANSPARENT Int Any,
    26 IP_PKTINFO Int Any,
    27 IP_RECVTTL Int Any,
    28 IP_RECVTOS Int Any,
    29 IP_RECVOPTS Int Any,
    30 IP_RETOPTS Int Any,
    31 IP_RECVERR Int Any,
    32 IP_MTU_DISCOVER Int Any,
    33 IP_MULTICAST_TTL Int Dgram,
    34 IP_MULTICAST_LOOP Int Any,
    35 IP_MULTICAST_ALL Int Any,
    36 IP_BIND_ADDRESS_NO_PORT Int Any,
    37 IP_RECVORIGDSTADDR Int Any,
    38 IP_CHECKSUM Int Any,
    39 IP_RECVFRAGSIZE Int Dgram,
    40 IP_LOCAL_PORT_RANGE Int Any,
    41 IP_PASSSEC Int Any,
    42 IPV6_V6ONLY Int Inet6,
    43 IPV6_UNICAST_HOPS Int Inet6,
    44 IPV6_MULTICAST_HOPS Int Inet6Dgram,
    45 IPV6_MULTICAST_LOOP Int Inet6,
    46 IPV6_TCLASS Int Inet6,
    47 IPV6_RECVPKTINFO Int Inet6,
    48 IPV6_RECVHOPLIMIT Int Inet6,
    49 IPV6_RECVTCLASS Int Inet6,
    50 IPV6_RECVERR Int Inet6,
    51 IPV6_MTU_DISCOVER Int Inet6,
    52 IPV6_FREEBIND Int Inet6,
    53 IPV6_TRANSPARENT Int Inet6,
    54 IPV6_AUTOFLOWLABEL Int Inet6,
    55 IPV6_DONTFRAG Int Inet6,
    56 IPV6_RECVORIGDSTADDR Int Inet6,
    57 IPV6_MULTICAST_ALL Int Inet6,
    58 IPV6_RECVPATHMTU Int Inet6,
    59 IPV6_RECVFRAGSIZE Int Inet6,
    60 TCP_NODELAY Int Tcp,
    61 TCP_CORK Int Tcp,
    62 TCP_KEEPIDLE Int Tcp,
    63 TCP_KEEPINTVL Int Tcp,
    64 TCP_KEEPCNT Int Tcp,
    65 TCP_MAXSEG Int Tcp,
    66 TCP_DEFER_ACCEPT Int Tcp,
    67 TCP_USER_TIMEOUT Int Tcp,
    68 TCP_SYNCNT Int Tcp,
    69 TCP_LINGER2 Int Tcp,
    70 TCP_WINDOW_CLAMP Int Tcp,
    71 TCP_FASTOPEN Int Tcp,
    72 TCP_FASTOPEN_CONNECT Int Tcp,
    73 TCP_NOTSENT_LOWAT Int Tcp,
    74 TCP_THIN_LINEAR_TIMEOUTS Int Tcp,
    75 TCP_TX_DELAY Int Tcp,
    76 TCP_INQ Int Tcp,
    77 TCP_FASTOPEN_NO_COOKIE Int Tcp,
    78 IP_HDRINCL Int Raw4,
    79 IP_NODEFRAG Int Raw4,
    80 ICMP_FILTER Int Raw4,
    81 IPV6_HDRINCL Int Raw6,
    82 IPV6_CHECKSUM Int Raw6,
    // An ICMPv6 raw socket's filter (struct icmp6_filter), one 32-bit
    // word each (as an int), set whole at restart.
    83 ICMPV6_FILTER_0 Int Raw6,
    84 ICMPV6_FILTER_1 Int Raw6,
    85 ICMPV6_FILTER_2 Int Raw6,
    86 ICMPV6_FILTER_3 Int Raw6,
    87 ICMPV6_FILTER_4 Int Raw6,
    88 ICMPV6_FILTER_5 Int Raw6,
    89 ICMPV6_FILTER_6 Int Raw6,
    90 ICMPV6_FILTER_7 Int Raw6,
    // RFC 2292's forms of IPV6_RECVPKTINFO and IPV6_RECVHOPLIMIT.
    91 IPV6_2292PKTINFO Int Inet6,
    92 IPV6_2292HOPLIMIT Int Inet6,
    // Receive times (`SO_TIMESTAMP` is `SO_TIMESTAMP_OLD` in C); one of
    // the four at most is set.
    93 SO_TIMESTAMP Int Any,
    94 SO_TIMESTAMPNS Int Any,
    95 SO_TIMESTAMP_NEW Int Any,
    96 SO_TIMESTAMPNS_NEW Int Any,
    // The device (and address) multicast datagrams go out by.
    97 IPV6_MULTICAST_IF Int Inet6Dgram,
    98 IP_MULTICAST_IF McastIf Dgram,
    // Packet sockets' own (`SOL_PACKET`).
    99 PACKET_AUXDATA Int Packet,
    100 PACKET_ORIGDEV Int Packet,
    101 PACKET_COPY_THRESH Int Packet,
    102 PACKET_VERSION Int Packet,
    103 PACKET_RESERVE Int Packet,
    104 PACKET_LOSS Int Packet,
    105 PACKET_TIMESTAMP Int Packet,
    106 PACKET_IGNORE_OUTGOING Int Packet,
    107 PACKET_TX_HAS_OFF Int Packet,
    108 PACKET_QDISC_BYPASS Int Packet,
}

/// The option numbered `opt`, if kernel-ckpt carries it.
pub fn inet_opt_def(opt: u32) -> Option<&'static InetOptDef> {
    let i = usize::try_from(opt.checked_sub(1)?).ok()?;
    INET_OPTS.get(i)
}

/// One socket option of an [`InetSockObj`], as getsockopt(2) gave it.
/// Only options whose value differs from a new socket's need be written;
/// restart sets each one whose value differs from its new socket's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InetOpt {
    /// The option ([`INET_OPTS`]).
    pub opt: u32,
    /// Its value ([`InetOptKind`]).
    pub value: i64,
}

impl InetOpt {
    /// Whether `value` is one getsockopt(2) can give for `kind`.
    pub(crate) fn value_ok(kind: InetOptKind, value: i64) -> bool {
        match kind {
            InetOptKind::Int => i32::try_from(value).is_ok(),
            InetOptKind::Micros => value >= 0,
            // `l_linger` is any int (an endless linger reads negative).
            InetOptKind::Linger => (0..=1).contains(&(value >> 32)),
            InetOptKind::McastIf => (0..=i64::from(i32::MAX)).contains(&(value >> 32)),
        }
    }
}

impl InetSockObj {
    /// The socket and its options, checked: a kind kernel-ckpt carries, a
    /// state it can be in, addresses of its family, and known options
    /// for it, each once, in [`INET_OPTS`] order.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, InetSockData<'_>), ErrorKind> {
        let (s, rest) = Self::read_fixed(p)?;
        let bad = |what, v: u32| Err(ErrorKind::BadField(what, v.into()));
        if !matches!(s.family, AF_INET | AF_INET6) {
            return bad("inet family", s.family);
        }
        let Some(kind) = InetKind::of(s.family, s.sock_type, s.protocol) else {
            return bad("inet socket type and protocol", s.protocol);
        };
        let tcp = kind == InetKind::Tcp;
        let raw = matches!(kind, InetKind::Raw(_));
        if s.flags & !INET_FLAGS != 0 {
            return bad("inet flags", s.flags);
        }
        let has = |f: u32| s.flags & f != 0;
        if has(INET_LISTENING) && (!tcp || !has(INET_BOUND) || has(INET_CONNECTED)) {
            return bad("inet listening socket", s.flags);
        }
        if !has(INET_LISTENING) && s.backlog != 0 {
            return bad("inet backlog", s.backlog);
        }
        if s.backlog > i32::MAX as u32 {
            return bad("inet backlog", s.backlog);
        }
        // A connected socket has a local port: connect(2) picks one (a
        // datagram socket's remote port may be 0, as connect(2) allows; a
        // TCP connection's not). A raw socket has no port.
        if has(INET_CONNECTED) && ((!raw && !has(INET_BOUND)) || (tcp && s.rport == 0)) {
            return bad("inet connected socket", s.flags);
        }
        if raw && has(INET_BOUND | INET_PORT_PICKED) {
            return bad("inet raw socket port", s.flags);
        }
        // A connection being opened: a TCP socket with its local port, a
        // remote port, nothing else, and not shut down (that would have
        // closed it).
        if has(INET_CONNECTING)
            && (!tcp
                || !has(INET_BOUND)
                || s.rport == 0
                || has(INET_CONNECTED)
                || has(INET_LISTENING)
                || s.shutdown != 0)
        {
            return bad("inet connecting socket", s.flags);
        }
        if !has(INET_CONNECTED | INET_CONNECTING) && (s.rport != 0 || s.raddr != [0; 16]) {
            return bad("inet remote address", s.rport);
        }
        if s.lport > u32::from(u16::MAX) || s.rport > u32::from(u16::MAX) {
            return bad("inet port", s.lport.max(s.rport));
        }
        if has(INET_BOUND) != (s.lport != 0) || (has(INET_PORT_PICKED) && !has(INET_BOUND)) {
            return bad("inet local port", s.lport);
        }
        let v4_tail_zero = |a: &[u8; 16]| a.iter().skip(4).all(|&b| b == 0);
        if s.family == AF_INET && !(v4_tail_zero(&s.laddr) && v4_tail_zero(&s.raddr)) {
            return bad("inet IPv4 address", 0);
        }
        if s.shutdown & !(INET_RCV_SHUTDOWN | INET_SEND_SHUTDOWN) != 0 {
            return bad("inet shutdown", s.shutdown);
        }
        // NUL terminated, and nothing but NULs after the first.
        match s.dev.iter().position(|&c| c == 0) {
            Some(end) if s.dev.iter().skip(end).all(|&c| c == 0) => {}
            _ => return bad("inet device name", 0),
        }
        if s.nr_opts as usize > INET_OPTS.len() {
            return bad("inet options", s.nr_opts);
        }
        let len = (s.nr_opts as usize) * InetOpt::LEN;
        let (rest, after) = if rest.len() < len {
            return Err(ErrorKind::Short);
        } else {
            rest.split_at(len)
        };
        // Its filter's instructions, which restart checks as
        // setsockopt(SO_ATTACH_FILTER) checks them.
        if s.nr_filter > INET_MAX_FILTER {
            return bad("inet filter length", s.nr_filter);
        }
        let filter_len = (s.nr_filter as usize) * INET_FILTER_INSN_LEN;
        let (filter, after) = if after.len() < filter_len {
            return Err(ErrorKind::Short);
        } else {
            after.split_at(filter_len)
        };
        // Its multicast groups: a datagram or raw socket's, each once.
        if s.nr_groups > INET_MAX_GROUPS || (tcp && s.nr_groups != 0) {
            return bad("inet multicast groups", s.nr_groups);
        }
        let groups_len = (s.nr_groups as usize) * InetGroup::LEN;
        let (groups, after) = if after.len() < groups_len {
            return Err(ErrorKind::Short);
        } else {
            after.split_at(groups_len)
        };
        for (i, g) in groups.chunks_exact(InetGroup::LEN).enumerate() {
            let (g, _) = InetGroup::read_fixed(g)?;
            let again = groups
                .chunks_exact(InetGroup::LEN)
                .take(i)
                .any(|o| InetGroup::read_fixed(o).is_ok_and(|(o, _)| o == g));
            if !g.fits(s.family) || again {
                return bad("inet multicast group", g.ifindex);
            }
        }
        if s.nr_dgrams > INET_MAX_DGRAMS
            || s.dgram_bytes > MAX_PAYLOAD_LEN
            || (tcp && (s.nr_dgrams | s.dgram_bytes) != 0)
        {
            return bad("inet datagrams", s.nr_dgrams);
        }
        let heads = (s.nr_dgrams as usize) * InetDgram::LEN;
        let all = heads + s.dgram_bytes as usize;
        if after.len() < all {
            return Err(ErrorKind::Short);
        }
        let (dgrams, conn) = after.split_at(all);
        let (heads, payloads) = dgrams.split_at(heads);
        let mut total = 0u64;
        let mut left = payloads;
        for h in heads.chunks_exact(InetDgram::LEN) {
            let (d, _) = InetDgram::read_fixed(h)?;
            if !d.fits(kind, s.family) {
                return bad("inet datagram", d.family);
            }
            let Some((payload, rest)) = split_checked(left, d.len as usize) else {
                return bad("inet datagram bytes", s.dgram_bytes);
            };
            left = rest;
            if raw && s.family == AF_INET && !d.ipv4_header_ok(s.protocol, payload) {
                return bad("inet raw datagram header", d.len);
            }
            total += u64::from(d.len);
        }
        if total != u64::from(s.dgram_bytes) {
            return bad("inet datagram bytes", s.dgram_bytes);
        }
        let tcp_conn = if tcp && has(INET_CONNECTED) {
            // Shut down for writing exactly when its FIN is in the stream,
            // and for reading when the peer's is.
            let c = InetTcpConn::decode(conn)?;
            let fin = |f: u32| c.0.flags & f != 0;
            if (s.shutdown & INET_SEND_SHUTDOWN != 0) != fin(TCP_CONN_FIN_OUT)
                || (fin(TCP_CONN_FIN_IN) && s.shutdown & INET_RCV_SHUTDOWN == 0)
            {
                return bad("tcp connection shutdown", s.shutdown);
            }
            Some(c)
        } else if !conn.is_empty() {
            return Err(ErrorKind::BadLength {
                len: u32::try_from(p.len()).unwrap_or(u32::MAX),
                expected: u32::try_from(Self::LEN + len).unwrap_or(u32::MAX),
            });
        } else {
            None
        };
        let mut last = 0;
        for chunk in rest.chunks_exact(InetOpt::LEN) {
            let (o, _) = InetOpt::read_fixed(chunk)?;
            let Some(def) = inet_opt_def(o.opt) else {
                return bad("inet option", o.opt);
            };
            if o.opt <= last {
                return bad("inet option order", o.opt);
            }
            last = o.opt;
            let applies = match def.applies {
                InetOptFor::Any => true,
                InetOptFor::Inet6 => s.family == AF_INET6,
                InetOptFor::Tcp => tcp,
                InetOptFor::Dgram => !tcp,
                InetOptFor::Inet6Dgram => !tcp && s.family == AF_INET6,
                InetOptFor::Raw4 => raw && s.family == AF_INET,
                InetOptFor::Raw6 => raw && s.family == AF_INET6,
                InetOptFor::Packet => false,
            };
            if !applies || !InetOpt::value_ok(def.kind, o.value) {
                return bad("inet option", o.opt);
            }
        }
        Ok((
            s,
            InetSockData {
                opts: InetOpts(rest),
                filter,
                groups,
                dgrams: (heads, payloads),
                tcp: tcp_conn,
            },
        ))
    }

    /// The device name (empty for none).
    pub fn dev_str(&self) -> &str {
        c_str(&self.dev)
    }

    /// What it is (a checked record's is always known).
    pub fn kind(&self) -> Option<InetKind> {
        InetKind::of(self.family, self.sock_type, self.protocol)
    }
}

impl InetDgram {
    /// Whether this datagram can be queued to a socket of `kind` and
    /// `family`: of its family (an IPv6 UDP socket's may be IPv4), ports
    /// for UDP only, a length an IP packet can carry (an IPv4 raw
    /// socket's counts its IP header, IPv4's total length too; IPv6's
    /// payload length not, and UDP's header is apart).
    pub fn fits(&self, kind: InetKind, family: u32) -> bool {
        let udp = matches!(kind, InetKind::Udp | InetKind::UdpLite);
        let raw4 = matches!(kind, InetKind::Raw(_)) && family == AF_INET;
        let v4_ok = |a: &[u8; 16]| self.family != AF_INET || a.iter().skip(4).all(|&b| b == 0);
        let udp_hdr = if udp { 8 } else { 0 };
        let ip_hdr = if self.family == AF_INET && !raw4 {
            IPV4_HDR_LEN
        } else {
            0
        };
        let max = u32::from(u16::MAX) - udp_hdr - ip_hdr;
        matches!(self.family, AF_INET | AF_INET6)
            && (self.family == family || (udp && family == AF_INET6))
            && self.len <= max
            && (udp || (self.sport | self.dport) == 0)
            && self.sport <= u32::from(u16::MAX)
            && self.dport <= u32::from(u16::MAX)
            && self.ttl <= 255
            && self.tos <= 255
            && self.tstamp >= 0
            && v4_ok(&self.saddr)
            && v4_ok(&self.daddr)
    }

    /// Whether `payload`, an IPv4 raw socket's datagram of `protocol`,
    /// starts with the IPv4 header this record names: version 4, a
    /// header length within it, its protocol, sender, destination, TTL
    /// and TOS.
    pub fn ipv4_header_ok(&self, protocol: u32, payload: &[u8]) -> bool {
        let Some(h) = payload.get(..IPV4_HDR_LEN as usize) else {
            return false;
        };
        let byte = |i: usize| u32::from(h.get(i).copied().unwrap_or(0));
        let ihl = byte(0) & 0xf;
        byte(0) >> 4 == 4
            && ihl >= 5
            && (ihl * 4) as usize <= payload.len()
            && byte(1) == self.tos
            && byte(8) == self.ttl
            && byte(9) == protocol
            && h.get(12..16) == self.saddr.get(..4)
            && h.get(16..20) == self.daddr.get(..4)
    }
}

/// What follows an [`InetSockObj`], checked: its options, and an
/// TCP connection's state and queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InetSockData<'a> {
    /// Its options.
    pub opts: InetOpts<'a>,
    /// Its classic BPF filter's instructions, [`InetFilterInsn`]s (empty:
    /// none).
    pub filter: &'a [u8],
    /// Its multicast groups, [`InetGroup`]s.
    pub groups: &'a [u8],
    /// The datagrams queued to a UDP socket: their headers, and their
    /// payloads one after another.
    pub dgrams: (&'a [u8], &'a [u8]),
    /// A connection's state, the bytes it sent and were not
    /// acknowledged then the bytes not sent yet, and the bytes it received
    /// and were not read.
    pub tcp: Option<(InetTcpConn, &'a [u8], &'a [u8])>,
}

/// A TCP connection waiting in a listener's queue to be accepted, written
/// right after its listener's record (the connections in the order they
/// wait), followed by the connection as an `inet-sock` record's payload
/// holds one ([`InetSockObj`], options, [`InetTcpConn`], its receive
/// queue): no file names it; restart puts it back in the listener's queue
/// for accept(2) to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InetPendingObj {
    /// The [`InetSockObj`] of the listener.
    pub listener: ObjId,
}

impl InetPendingObj {
    /// The connection waiting, checked: a TCP connection that sent nothing
    /// (the server cannot send before it accepts, nor shut down).
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, InetSockObj, InetSockData<'_>), ErrorKind> {
        let (u, rest) = Self::read_fixed(p)?;
        if u.listener == 0 {
            return Err(ErrorKind::BadField("inet pending listener", 0));
        }
        let (s, d) = InetSockObj::decode(rest)?;
        match d.tcp {
            Some((c, _, _))
                if s.flags & INET_LISTENING == 0
                    && c.send_len() == 0
                    && c.flags & TCP_CONN_FIN_OUT == 0
                    && s.id != u.listener => {}
            _ => {
                return Err(ErrorKind::BadField(
                    "inet pending connection",
                    s.flags.into(),
                ))
            }
        }
        Ok((u, s, d))
    }
}

/// `InetTcpConn::flags`: SACK was negotiated.
pub const TCP_CONN_SACK: u32 = 1;
/// TCP timestamps were negotiated.
pub const TCP_CONN_TSTAMP: u32 = 2;
/// Window scaling was negotiated ([`InetTcpConn::snd_wscale`],
/// [`InetTcpConn::rcv_wscale`]).
pub const TCP_CONN_WSCALE: u32 = 4;
/// Its timestamps count microseconds.
pub const TCP_CONN_USEC_TS: u32 = 8;
/// The peer's FIN came (CLOSE_WAIT, LAST_ACK, CLOSING): `rcv_nxt`
/// counts it after the bytes received, and `copied_seq` too once read(2)
/// returned 0 for it.
pub const TCP_CONN_FIN_IN: u32 = 16;
/// The program shut the connection down for writing (FIN_WAIT1,
/// FIN_WAIT2, LAST_ACK, CLOSING): `write_seq` counts its FIN after the
/// bytes to send, `snd_nxt` too once it was sent, `snd_una` once it was
/// acknowledged (FIN_WAIT2).
pub const TCP_CONN_FIN_OUT: u32 = 32;
/// Both FINs, the peer's after the program's (CLOSING, where one without
/// is LAST_ACK).
pub const TCP_CONN_CLOSING: u32 = 64;
/// The peer's urgent byte (`MSG_OOB`) came, at [`InetTcpConn::urg_seq`],
/// and recv(2) with `MSG_OOB` has not taken it: it is
/// [`InetTcpConn::urg_byte`].
pub const TCP_CONN_URG_VALID: u32 = 128;
/// recv(2) with `MSG_OOB` took the peer's urgent byte; read(2) still steps
/// over it unless `SO_OOBINLINE`.
pub const TCP_CONN_URG_READ: u32 = 256;
/// The peer's urgent pointer came before its byte, which will be at
/// [`InetTcpConn::urg_seq`].
pub const TCP_CONN_URG_NOTYET: u32 = 512;
/// The program sent urgent data not acknowledged yet: its urgent pointer
/// is [`InetTcpConn::snd_up`].
pub const TCP_CONN_URG_OUT: u32 = 1024;
/// The peer's urgent data, in one of its three states.
pub const TCP_CONN_URG_IN: u32 = TCP_CONN_URG_VALID | TCP_CONN_URG_READ | TCP_CONN_URG_NOTYET;
/// Every `TCP_CONN_*` flag.
pub const TCP_CONN_FLAGS: u32 = TCP_CONN_SACK
    | TCP_CONN_TSTAMP
    | TCP_CONN_WSCALE
    | TCP_CONN_USEC_TS
    | TCP_CONN_FIN_IN
    | TCP_CONN_FIN_OUT
    | TCP_CONN_CLOSING
    | TCP_CONN_URG_IN
    | TCP_CONN_URG_OUT;
/// Most bytes the queues of a connection may hold in all in an image (its
/// record's, less the fixed parts).
pub const TCP_CONN_MAX_QUEUE: u32 = MAX_PAYLOAD_LEN - 4096;
/// Largest window scale (`TCP_MAX_WSCALE`).
pub const TCP_MAX_WSCALE: u32 = 14;

/// A TCP connection, established or closing, as TCP repair mode reads and
/// sets it: sequence numbers, windows and negotiated options. Its send
/// queue (the bytes from `snd_una` to `write_seq`, sent up to `snd_nxt`)
/// and its receive queue (from `copied_seq` to `rcv_nxt`) follow it, less
/// the FINs those count ([`TCP_CONN_FIN_IN`], [`TCP_CONN_FIN_OUT`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InetTcpConn {
    pub snd_una: u32,
    pub snd_nxt: u32,
    pub write_seq: u32,
    pub rcv_nxt: u32,
    pub copied_seq: u32,
    pub snd_wl1: u32,
    pub snd_wnd: u32,
    pub max_window: u32,
    pub rcv_wnd: u32,
    pub rcv_wup: u32,
    /// The MSS the peer announced (`rx_opt.mss_clamp`).
    pub mss_clamp: u32,
    pub snd_wscale: u32,
    pub rcv_wscale: u32,
    /// `TCP_CONN_*`.
    pub flags: u32,
    /// Its timestamp clock at the checkpoint (`TCP_TIMESTAMP`).
    pub timestamp: u32,
    /// Its send buffer's size as it grew (restart keeps it within
    /// `net.ipv4.tcp_wmem`'s maximum).
    pub sndbuf: u32,
    /// Its receive buffer's size as it grew.
    pub rcvbuf: u32,
    /// The most its receive window may grow to for now (`rcv_ssthresh`,
    /// which grows as bytes come): the window it announces next.
    pub rcv_ssthresh: u32,
    /// The sequence number of the peer's urgent byte ([`TCP_CONN_URG_IN`]),
    /// else 0.
    pub urg_seq: u32,
    /// The program's urgent pointer, the sequence number after its urgent
    /// byte ([`TCP_CONN_URG_OUT`]), else 0.
    pub snd_up: u32,
    /// The peer's urgent byte not taken yet ([`TCP_CONN_URG_VALID`]), else 0.
    pub urg_byte: u32,
}

impl InetTcpConn {
    /// Whether the program's FIN is in the send queue, not acknowledged.
    pub fn fin_out_queued(&self) -> bool {
        self.flags & TCP_CONN_FIN_OUT != 0 && self.write_seq != self.snd_una
    }

    /// Whether that FIN was sent.
    pub fn fin_out_sent(&self) -> bool {
        self.fin_out_queued() && self.snd_nxt == self.write_seq
    }

    /// Whether the peer's FIN came and read(2) has not returned 0 for it.
    pub fn fin_in_unread(&self) -> bool {
        self.flags & TCP_CONN_FIN_IN != 0 && self.rcv_nxt != self.copied_seq
    }

    /// Bytes sent and not acknowledged, then not sent yet.
    pub fn send_len(&self) -> u32 {
        self.write_seq
            .wrapping_sub(self.snd_una)
            .wrapping_sub(self.fin_out_queued().into())
    }

    /// Of those, the bytes sent.
    pub fn sent_len(&self) -> u32 {
        self.snd_nxt
            .wrapping_sub(self.snd_una)
            .wrapping_sub(self.fin_out_sent().into())
    }

    /// Bytes received and not read.
    pub fn recv_len(&self) -> u32 {
        self.rcv_nxt
            .wrapping_sub(self.copied_seq)
            .wrapping_sub(self.fin_in_unread().into())
    }

    /// Where the peer's urgent byte is in the bytes not read (from 0), if it
    /// came and was not read past ([`TCP_CONN_URG_VALID`],
    /// [`TCP_CONN_URG_READ`]), or how far past them it will come
    /// ([`TCP_CONN_URG_NOTYET`]).
    pub fn urg_offset(&self) -> u32 {
        self.urg_seq.wrapping_sub(self.copied_seq)
    }

    /// Where the program's urgent pointer is in its send queue (the bytes
    /// up to the urgent one, counting it).
    pub fn urg_out_offset(&self) -> u32 {
        self.snd_up.wrapping_sub(self.snd_una)
    }

    /// Whether the urgent pointers are where they can be: the peer's
    /// byte, if it came, in the bytes not read or before them (read past
    /// by `TCP_ZEROCOPY_RECEIVE`, which leaves it; read(2) makes the
    /// kernel forget it), not after them (out of order); its pointer, if
    /// the byte has not come, anywhere (the byte may have come out of
    /// order); the program's within its send queue (it moves with
    /// `snd_una` once acknowledged).
    fn urg_ok(&self) -> bool {
        let urg_in = self.flags & TCP_CONN_URG_IN;
        if urg_in.count_ones() > 1
            || (urg_in == 0 && self.urg_seq != 0)
            || self.urg_byte > if urg_in == TCP_CONN_URG_VALID { 255 } else { 0 }
        {
            return false;
        }
        let at = self.urg_offset();
        let placed =
            urg_in == 0 || urg_in == TCP_CONN_URG_NOTYET || at < self.recv_len() || at >= 1 << 31;
        placed
            && if self.flags & TCP_CONN_URG_OUT != 0 {
                (1..=self.send_len()).contains(&self.urg_out_offset())
            } else {
                self.snd_up == 0
            }
    }

    /// Its state as `ss` names it.
    pub fn state_name(&self) -> &'static str {
        let fin_in = self.flags & TCP_CONN_FIN_IN != 0;
        match (self.flags & TCP_CONN_FIN_OUT != 0, fin_in) {
            (false, false) => "ESTAB",
            (false, true) => "CLOSE-WAIT",
            (true, false) if self.fin_out_queued() => "FIN-WAIT-1",
            (true, false) => "FIN-WAIT-2",
            (true, true) if self.flags & TCP_CONN_CLOSING != 0 => "CLOSING",
            (true, true) => "LAST-ACK",
        }
    }

    /// The state and its two queues from `p`, checked.
    fn decode(p: &[u8]) -> Result<(Self, &[u8], &[u8]), ErrorKind> {
        let (c, rest) = Self::read_fixed(p)?;
        let bad = |what, v: u32| Err(ErrorKind::BadField(what, v.into()));
        if c.flags & !TCP_CONN_FLAGS != 0 {
            return bad("tcp connection flags", c.flags);
        }
        if c.snd_wscale > TCP_MAX_WSCALE || c.rcv_wscale > TCP_MAX_WSCALE {
            return bad("tcp window scale", c.snd_wscale.max(c.rcv_wscale));
        }
        if c.flags & TCP_CONN_WSCALE == 0 && (c.snd_wscale | c.rcv_wscale) != 0 {
            return bad("tcp window scale", c.snd_wscale.max(c.rcv_wscale));
        }
        if c.mss_clamp == 0 || c.mss_clamp > u32::from(u16::MAX) {
            return bad("tcp mss", c.mss_clamp);
        }
        if c.sent_len() > c.send_len() {
            return bad("tcp snd_nxt", c.snd_nxt);
        }
        if u64::from(c.send_len()) + u64::from(c.recv_len()) > u64::from(TCP_CONN_MAX_QUEUE) {
            return bad("tcp queue length", c.send_len().max(c.recv_len()));
        }
        if c.flags & TCP_CONN_USEC_TS != 0 && c.flags & TCP_CONN_TSTAMP == 0 {
            return bad("tcp connection flags", c.flags);
        }
        // CLOSING is both FINs; both acknowledged would be TIME_WAIT, which
        // is not carried; an empty send queue (`write_seq == snd_una`) is
        // not where an unsent FIN (`snd_nxt != write_seq`) can be.
        let (fin_in, fin_out) = (
            c.flags & TCP_CONN_FIN_IN != 0,
            c.flags & TCP_CONN_FIN_OUT != 0,
        );
        if (c.flags & TCP_CONN_CLOSING != 0 && !(fin_in && fin_out))
            || (fin_in && fin_out && !c.fin_out_queued())
            || (fin_out && !c.fin_out_queued() && c.snd_nxt != c.write_seq)
        {
            return bad("tcp connection state", c.flags);
        }
        if c.max_window < c.snd_wnd {
            return bad("tcp window", c.snd_wnd);
        }
        if !c.urg_ok() {
            return bad("tcp urgent pointer", c.flags);
        }
        let (send, recv) = (c.send_len() as usize, c.recv_len() as usize);
        if rest.len() != send + recv {
            return Err(ErrorKind::BadLength {
                len: u32::try_from(p.len()).unwrap_or(u32::MAX),
                expected: u32::try_from(Self::LEN + send + recv).unwrap_or(u32::MAX),
            });
        }
        let (sendq, recvq) = rest.split_at(send);
        Ok((c, sendq, recvq))
    }
}

impl<'a> InetSockData<'a> {
    /// Each multicast group it joined, in the order its list holds them
    /// (the last joined first).
    pub fn groups(&self) -> impl DoubleEndedIterator<Item = InetGroup> + 'a {
        self.groups
            .chunks_exact(InetGroup::LEN)
            .filter_map(|c| InetGroup::read_fixed(c).ok().map(|(g, _)| g))
    }

    /// Each instruction of its classic BPF filter, in order.
    pub fn filter(&self) -> impl Iterator<Item = InetFilterInsn> + 'a {
        self.filter
            .chunks_exact(InetFilterInsn::LEN)
            .filter_map(|c| InetFilterInsn::read_fixed(c).ok().map(|(i, _)| i))
    }

    /// Each datagram queued to a UDP socket, with its payload, in the
    /// order recvmsg(2) takes them.
    pub fn dgrams(&self) -> impl Iterator<Item = (InetDgram, &'a [u8])> + 'a {
        let (heads, mut payloads) = self.dgrams;
        heads.chunks_exact(InetDgram::LEN).filter_map(move |h| {
            let (d, _) = InetDgram::read_fixed(h).ok()?;
            let (p, rest) = split_checked(payloads, d.len as usize)?;
            payloads = rest;
            Some((d, p))
        })
    }
}

/// The options of an [`InetSockObj`], checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InetOpts<'a>(pub(crate) &'a [u8]);

impl<'a> InetOpts<'a> {
    /// Each option, in order.
    pub fn iter(&self) -> impl Iterator<Item = InetOpt> + 'a {
        self.0
            .chunks_exact(InetOpt::LEN)
            .filter_map(|c| InetOpt::read_fixed(c).ok().map(|(o, _)| o))
    }
}

layout!(InetSockObj {
    id: ObjId,
    family: u32,
    sock_type: u32,
    protocol: u32,
    flags: u32,
    shutdown: u32,
    backlog: u32,
    lport: u32,
    rport: u32,
    laddr: [u8; 16],
    raddr: [u8; 16],
    dev: [u8; INET_DEV_LEN],
    nr_opts: u32,
    nr_dgrams: u32,
    dgram_bytes: u32,
    nr_filter: u32,
    nr_groups: u32,
});

layout!(InetFilterInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
});

layout!(InetGroup {
    addr: [u8; 16],
    ifindex: u32,
    _: u32,
});

layout!(InetPendingObj {
    listener: ObjId,
    _: u32,
});

layout!(InetDgram {
    family: u32,
    len: u32,
    sport: u32,
    dport: u32,
    ttl: u32,
    tos: u32,
    saddr: [u8; 16],
    daddr: [u8; 16],
    tstamp: i64,
});

layout!(InetOpt {
    opt: u32,
    _: u32,
    value: i64,
});

layout!(InetTcpConn {
    snd_una: u32,
    snd_nxt: u32,
    write_seq: u32,
    rcv_nxt: u32,
    copied_seq: u32,
    snd_wl1: u32,
    snd_wnd: u32,
    max_window: u32,
    rcv_wnd: u32,
    rcv_wup: u32,
    mss_clamp: u32,
    snd_wscale: u32,
    rcv_wscale: u32,
    flags: u32,
    timestamp: u32,
    sndbuf: u32,
    rcvbuf: u32,
    rcv_ssthresh: u32,
    urg_seq: u32,
    snd_up: u32,
    urg_byte: u32,
    _: u32,
});
