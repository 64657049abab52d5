// SPDX-License-Identifier: GPL-2.0
//! Packet sockets (`AF_PACKET`, `SOCK_RAW` or `SOCK_DGRAM`): the protocol
//! whose frames they take on the device they are bound to, their options,
//! their classic BPF filter, the counts `PACKET_STATISTICS` gives, and the
//! frames queued to them.
//!
//! Written by the kernel's `packet.rs` as a [`PacketSockObj`] followed by
//! its options ([`InetOpt`]s of the `SO_*` and `PACKET_*` entries of
//! [`INET_OPTS`]), its filter's instructions ([`InetFilterInsn`]s), its
//! frames' [`PacketFrame`]s and then their bytes, once, before the first
//! open file of the socket.

use super::codec::{split_checked, Field, Reader, Writer};
use super::*;

/// `AF_PACKET`.
pub const AF_PACKET: u32 = 17;
/// `PacketSockObj::flags`: its protocol's hook is in: it takes frames
/// (exactly when it has a protocol: one whose device is down is not
/// carried).
pub const PACKET_RUNNING: u32 = 1;
/// Its filter is locked (`SO_LOCK_FILTER`): none may be attached or
/// taken off.
pub const PACKET_FILTER_LOCKED: u32 = 2;
/// Every `PACKET_*` flag of a socket.
pub const PACKET_FLAGS: u32 = PACKET_RUNNING | PACKET_FILTER_LOCKED;

/// `PacketFrame::flags`: its checksum was checked (`TP_STATUS_CSUM_VALID`).
pub const PACKET_FRAME_CSUM_VALID: u32 = 1;
/// Its checksum is to be computed (`TP_STATUS_CSUMNOTREADY`): from
/// [`PacketFrame::csum_start`], stored [`PacketFrame::csum_offset`]
/// further.
pub const PACKET_FRAME_CSUM_PARTIAL: u32 = 2;
/// A TCP/IPv4 segment offloaded whole (`TP_STATUS_GSO_TCP`), of
/// [`PacketFrame::gso_size`]-byte segments.
pub const PACKET_FRAME_GSO_TCPV4: u32 = 4;
/// The same, TCP/IPv6.
pub const PACKET_FRAME_GSO_TCPV6: u32 = 8;
/// Every `PACKET_FRAME_*` flag.
pub const PACKET_FRAME_FLAGS: u32 = PACKET_FRAME_CSUM_VALID
    | PACKET_FRAME_CSUM_PARTIAL
    | PACKET_FRAME_GSO_TCPV4
    | PACKET_FRAME_GSO_TCPV6;
/// Longest frame an image holds (the kernel's offsets into one are 16-bit).
pub const PACKET_MAX_FRAME: u32 = 65535;
/// Most frames a socket's queue may hold in an image.
pub const PACKET_MAX_FRAMES: u32 = 1 << 16;
/// `PACKET_OUTGOING`, the last `sll_pkttype` a packet socket queues.
const PACKET_OUTGOING: u32 = 4;

/// A packet socket, written once before its first open file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PacketSockObj {
    /// Object id.
    pub id: ObjId,
    /// `SOCK_RAW` (frames with their link-layer header) or `SOCK_DGRAM`.
    pub sock_type: u32,
    /// The protocol whose frames it takes (`ETH_P_*`, host byte order; 0:
    /// none).
    pub protocol: u32,
    /// `PACKET_*`.
    pub flags: u32,
    /// The index its device had (informative: restart binds by name).
    pub ifindex: u32,
    /// Frames it took, and dropped, since `PACKET_STATISTICS` last read
    /// them (which resets them).
    pub tp_packets: u32,
    pub tp_drops: u32,
    /// The device it is bound to, NUL padded; all NULs for every device.
    pub dev: [u8; INET_DEV_LEN],
    /// How many [`InetOpt`]s follow.
    pub nr_opts: u32,
    /// How many instructions its classic BPF filter has (0: none), after
    /// the options.
    pub nr_filter: u32,
    /// How many frames are queued to it ([`PacketFrame`]s after the
    /// filter, then their bytes).
    pub nr_frames: u32,
    /// Their bytes in all.
    pub frame_bytes: u32,
}

/// A frame queued to a packet socket, as recvmsg(2) gives it: its bytes
/// (cut to its snap length by the socket's filter), `sockaddr_ll`'s fields
/// and what `PACKET_AUXDATA` tells of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PacketFrame {
    /// Its bytes in the image.
    pub len: u32,
    /// Its length before the filter cut it (`tp_len`).
    pub origlen: u32,
    /// Its protocol (`sll_protocol`, host byte order).
    pub protocol: u32,
    /// The device it came by or went out of (`sll_ifindex`).
    pub ifindex: u32,
    /// `sll_hatype` (`ARPHRD_*`).
    pub hatype: u32,
    /// `sll_pkttype` (`PACKET_HOST`…).
    pub pkttype: u32,
    /// How many bytes of [`Self::addr`] its link-layer address has.
    pub halen: u32,
    /// Where its network header starts in its bytes (`tp_net`).
    pub net_off: u32,
    /// `PACKET_FRAME_*`.
    pub flags: u32,
    /// [`PACKET_FRAME_CSUM_PARTIAL`]'s place, else 0.
    pub csum_start: u32,
    pub csum_offset: u32,
    /// The segment size of [`PACKET_FRAME_GSO_TCPV4`] and `_TCPV6`, else 0.
    pub gso_size: u32,
    /// Its link-layer address, zero past `halen`.
    pub addr: [u8; 8],
    /// When it came, ns since the epoch (`SO_TIMESTAMP`; 0: none).
    pub tstamp: i64,
}

/// What follows a [`PacketSockObj`], checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketSockData<'a> {
    /// Its options.
    pub opts: InetOpts<'a>,
    /// Its filter's instructions' bytes ([`Self::filter`]).
    pub filter: &'a [u8],
    /// Its frames' [`PacketFrame`]s' bytes, then theirs ([`Self::frames`]).
    pub frames: (&'a [u8], &'a [u8]),
}

impl<'a> PacketSockData<'a> {
    /// Each instruction of its classic BPF filter, in order.
    pub fn filter_insns(&self) -> impl Iterator<Item = InetFilterInsn> + 'a {
        self.filter
            .chunks_exact(InetFilterInsn::LEN)
            .filter_map(|c| InetFilterInsn::read_fixed(c).ok().map(|(i, _)| i))
    }

    /// Each frame queued to it, with its bytes, in the order recvmsg(2)
    /// takes them.
    pub fn frames(&self) -> impl Iterator<Item = (PacketFrame, &'a [u8])> + 'a {
        let (heads, mut bytes) = self.frames;
        heads.chunks_exact(PacketFrame::LEN).filter_map(move |h| {
            let (f, _) = PacketFrame::read_fixed(h).ok()?;
            let (b, rest) = split_checked(bytes, f.len as usize)?;
            bytes = rest;
            Some((f, b))
        })
    }
}

impl InetOptDef {
    /// Whether a packet socket has this option: the socket's own
    /// (`SOL_SOCKET`, named `SO_*`) and its kind's (`SOL_PACKET`).
    pub fn for_packet(&self) -> bool {
        self.applies == InetOptFor::Packet
            || (self.applies == InetOptFor::Any && self.name.starts_with("SO_"))
    }
}

impl PacketFrame {
    /// Whether it is a frame a packet socket could hold: at most 64 KiB, no
    /// VLAN tag, a link-layer address of at most 8 bytes (zeros after),
    /// headers and checksum place within its bytes, a checksum either
    /// checked or to compute, one kind of segmentation offload at most,
    /// and fields of their kernel sizes.
    pub fn fits(&self) -> bool {
        let partial = self.flags & PACKET_FRAME_CSUM_PARTIAL != 0;
        let gso = self.flags & (PACKET_FRAME_GSO_TCPV4 | PACKET_FRAME_GSO_TCPV6);
        let csum_ok = if partial {
            self.flags & PACKET_FRAME_CSUM_VALID == 0
                && self.csum_start <= self.len
                && self.csum_offset <= self.len - self.csum_start
                && self.len - self.csum_start - self.csum_offset >= 2
        } else {
            (self.csum_start | self.csum_offset) == 0
        };
        self.len <= PACKET_MAX_FRAME
            && self.origlen >= self.len
            && self.protocol <= u32::from(u16::MAX)
            // VLAN tags are not carried (802.1Q, 802.1ad).
            && self.protocol != 0x8100
            && self.protocol != 0x88a8
            && self.hatype <= u32::from(u16::MAX)
            && self.pkttype <= PACKET_OUTGOING
            && self.halen as usize <= self.addr.len()
            && self.addr.iter().skip(self.halen as usize).all(|&b| b == 0)
            && self.net_off <= self.len
            && self.ifindex <= i32::MAX as u32
            && self.flags & !PACKET_FRAME_FLAGS == 0
            && csum_ok
            && gso.count_ones() <= 1
            && (gso != 0) == (self.gso_size != 0)
            && self.gso_size <= u32::from(u16::MAX)
            && self.tstamp >= 0
    }
}

/// The first `n` bytes of `from` and the rest.
fn take(from: &[u8], n: usize) -> Result<(&[u8], &[u8]), ErrorKind> {
    split_checked(from, n).ok_or(ErrorKind::Short)
}

impl PacketSockObj {
    /// The socket and what follows it, checked.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, PacketSockData<'_>), ErrorKind> {
        let (s, rest) = Self::read_fixed(p)?;
        let bad = |what, v: u32| Err(ErrorKind::BadField(what, v.into()));
        if s.sock_type != INET_SOCK_RAW && s.sock_type != INET_SOCK_DGRAM {
            return bad("packet socket type", s.sock_type);
        }
        if s.protocol > u32::from(u16::MAX) {
            return bad("packet protocol", s.protocol);
        }
        if s.flags & !PACKET_FLAGS != 0 || (s.flags & PACKET_RUNNING != 0) != (s.protocol != 0) {
            return bad("packet flags", s.flags);
        }
        // NUL terminated, nothing but NULs after the first; an index with
        // a name.
        match s.dev.iter().position(|&c| c == 0) {
            Some(end) if s.dev.iter().skip(end).all(|&c| c == 0) => {}
            _ => return bad("packet device name", 0),
        }
        if (s.ifindex != 0) != (s.dev[0] != 0) || s.ifindex > i32::MAX as u32 {
            return bad("packet device index", s.ifindex);
        }
        if s.nr_opts as usize > INET_OPTS.len() {
            return bad("packet options", s.nr_opts);
        }
        let (opts, rest) = take(rest, s.nr_opts as usize * InetOpt::LEN)?;
        let mut last = 0;
        for chunk in opts.chunks_exact(InetOpt::LEN) {
            let (o, _) = InetOpt::read_fixed(chunk)?;
            let Some(def) = inet_opt_def(o.opt) else {
                return bad("packet option", o.opt);
            };
            if o.opt <= last || !def.for_packet() || !InetOpt::value_ok(def.kind, o.value) {
                return bad("packet option", o.opt);
            }
            last = o.opt;
        }
        if s.nr_filter > INET_MAX_FILTER {
            return bad("packet filter length", s.nr_filter);
        }
        let (filter, rest) = take(rest, s.nr_filter as usize * INET_FILTER_INSN_LEN)?;
        if s.nr_frames > PACKET_MAX_FRAMES || s.frame_bytes > MAX_PAYLOAD_LEN {
            return bad("packet frames", s.nr_frames);
        }
        let (heads, rest) = take(rest, s.nr_frames as usize * PacketFrame::LEN)?;
        let (bytes, rest) = take(rest, s.frame_bytes as usize)?;
        if !rest.is_empty() {
            return Err(ErrorKind::BadLength {
                len: u32::try_from(p.len()).unwrap_or(u32::MAX),
                expected: u32::try_from(p.len() - rest.len()).unwrap_or(u32::MAX),
            });
        }
        let mut total = 0u64;
        for h in heads.chunks_exact(PacketFrame::LEN) {
            let (f, _) = PacketFrame::read_fixed(h)?;
            if !f.fits() {
                return bad("packet frame", f.len);
            }
            total += u64::from(f.len);
        }
        if total != u64::from(s.frame_bytes) {
            return bad("packet frame bytes", s.frame_bytes);
        }
        Ok((
            s,
            PacketSockData {
                opts: InetOpts(opts),
                filter,
                frames: (heads, bytes),
            },
        ))
    }

    /// The device name (empty for every device).
    pub fn dev_str(&self) -> &str {
        c_str(&self.dev)
    }
}

layout!(PacketSockObj {
    id: ObjId,
    sock_type: u32,
    protocol: u32,
    flags: u32,
    ifindex: u32,
    tp_packets: u32,
    tp_drops: u32,
    dev: [u8; INET_DEV_LEN],
    nr_opts: u32,
    nr_filter: u32,
    nr_frames: u32,
    frame_bytes: u32,
    _: u32,
});

layout!(PacketFrame {
    len: u32,
    origlen: u32,
    protocol: u32,
    ifindex: u32,
    hatype: u32,
    pkttype: u32,
    halen: u32,
    net_off: u32,
    flags: u32,
    csum_start: u32,
    csum_offset: u32,
    gso_size: u32,
    addr: [u8; 8],
    tstamp: i64,
});
