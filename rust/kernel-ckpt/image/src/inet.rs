// SPDX-License-Identifier: GPL-2.0
//! Network sockets of the IPv4 and IPv6 families that hold no connection:
//! TCP sockets closed (bound or not) or listening, and UDP and UDP-Lite
//! sockets, bound or connected, with the socket options their programs
//! set.
//!
//! Written by the kernel's `inet.rs` as an [`InetSockObj`] followed by its
//! [`InetOpt`]s, once, before the first open file of the socket.

use super::codec::{Field, Reader, Writer};
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

/// [`InetSockObj::flags`]: it has a local port (bound by bind(2), or
/// picked when it first sent or connected).
pub const INET_BOUND: u32 = 1 << 0;
/// Its local address was bound by bind(2) (not the wildcard, nor picked
/// by connect(2)).
pub const INET_BOUND_ADDR: u32 = 1 << 1;
/// A TCP socket that listens, with [`InetSockObj::backlog`].
pub const INET_LISTENING: u32 = 1 << 2;
/// A datagram socket connected to [`InetSockObj::raddr`].
pub const INET_CONNECTED: u32 = 1 << 3;
/// Its local port was picked by the kernel (when it connected or first
/// sent, or bound to port 0), not asked for: a port it may lose again
/// when it disconnects.
pub const INET_PORT_PICKED: u32 = 1 << 4;
/// Every `INET_*` flag.
pub const INET_FLAGS: u32 =
    INET_BOUND | INET_BOUND_ADDR | INET_LISTENING | INET_CONNECTED | INET_PORT_PICKED;

/// Length of a device name with its NUL (`IFNAMSIZ`).
pub const INET_DEV_LEN: usize = 16;

/// A TCP, UDP or UDP-Lite socket of either family on its own: its kind,
/// its addresses, its state, and the number of [`InetOpt`]s that follow.
/// Addresses are in network byte order, an IPv4 one in the first 4 bytes
/// (the rest zero); ports in host byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InetSockObj {
    /// Object id.
    pub id: ObjId,
    /// [`AF_INET`] or [`AF_INET6`].
    pub family: u32,
    /// [`INET_SOCK_STREAM`] or [`INET_SOCK_DGRAM`].
    pub sock_type: u32,
    /// [`IPPROTO_TCP`] (stream), [`IPPROTO_UDP`] or [`IPPROTO_UDPLITE`]
    /// (datagram).
    pub protocol: u32,
    /// `INET_*` flags.
    pub flags: u32,
    /// The shutdown bits (`RCV_SHUTDOWN` 1, `SEND_SHUTDOWN` 2).
    pub shutdown: u32,
    /// listen(2)'s backlog (what the socket holds: at most
    /// `net.core.somaxconn`); 0 unless listening.
    pub backlog: u32,
    /// Local port (0: none).
    pub lport: u32,
    /// Remote port of a connected socket (0 otherwise).
    pub rport: u32,
    /// Local address (the wildcard: all zeros).
    pub laddr: [u8; 16],
    /// Remote address of a connected socket (zeros otherwise).
    pub raddr: [u8; 16],
    /// The device it is bound to (`SO_BINDTODEVICE`), NUL padded; all
    /// NULs for none.
    pub dev: [u8; INET_DEV_LEN],
    /// How many [`InetOpt`]s follow.
    pub nr_opts: u32,
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
    33 IP_MULTICAST_TTL Int Any,
    34 IP_MULTICAST_LOOP Int Any,
    35 IP_MULTICAST_ALL Int Any,
    36 IP_BIND_ADDRESS_NO_PORT Int Any,
    37 IP_RECVORIGDSTADDR Int Any,
    38 IP_CHECKSUM Int Any,
    39 IP_RECVFRAGSIZE Int Any,
    40 IP_LOCAL_PORT_RANGE Int Any,
    41 IP_PASSSEC Int Any,
    42 IPV6_V6ONLY Int Inet6,
    43 IPV6_UNICAST_HOPS Int Inet6,
    44 IPV6_MULTICAST_HOPS Int Inet6,
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
    fn value_ok(kind: InetOptKind, value: i64) -> bool {
        match kind {
            InetOptKind::Int => i32::try_from(value).is_ok(),
            InetOptKind::Micros => value >= 0,
            // `l_linger` is any int (an endless linger reads negative).
            InetOptKind::Linger => (0..=1).contains(&(value >> 32)),
        }
    }
}

impl InetSockObj {
    /// The socket and its options, checked: a kind kernel-ckpt carries, a
    /// state it can be in, addresses of its family, and known options
    /// for it, each once, in [`INET_OPTS`] order.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, InetOpts<'_>), ErrorKind> {
        let (s, rest) = Self::read_fixed(p)?;
        let bad = |what, v: u32| Err(ErrorKind::BadField(what, v.into()));
        if !matches!(s.family, AF_INET | AF_INET6) {
            return bad("inet family", s.family);
        }
        let tcp = match (s.sock_type, s.protocol) {
            (INET_SOCK_STREAM, IPPROTO_TCP) => true,
            (INET_SOCK_DGRAM, IPPROTO_UDP | IPPROTO_UDPLITE) => false,
            _ => return bad("inet socket type and protocol", s.protocol),
        };
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
        // A connected datagram socket has a local port: connect(2) picks
        // one (its remote port may be 0, as connect(2) allows).
        if has(INET_CONNECTED) && (tcp || !has(INET_BOUND)) {
            return bad("inet connected socket", s.flags);
        }
        if !has(INET_CONNECTED) && (s.rport != 0 || s.raddr != [0; 16]) {
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
        if s.shutdown > 3 {
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
        if rest.len() != len {
            return Err(ErrorKind::BadLength {
                len: u32::try_from(p.len()).unwrap_or(u32::MAX),
                expected: u32::try_from(Self::LEN + len).unwrap_or(u32::MAX),
            });
        }
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
            };
            if !applies || !InetOpt::value_ok(def.kind, o.value) {
                return bad("inet option", o.opt);
            }
        }
        Ok((s, InetOpts(rest)))
    }

    /// The device name (empty for none).
    pub fn dev_str(&self) -> &str {
        c_str(&self.dev)
    }
}

/// The options of an [`InetSockObj`], checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InetOpts<'a>(&'a [u8]);

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
});

layout!(InetOpt {
    opt: u32,
    _: u32,
    value: i64,
});
