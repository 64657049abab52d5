// SPDX-License-Identifier: GPL-2.0
//! Unix socket objects: connected pairs with the messages queued to each
//! end, and sockets on their own (bound, listening or not) with theirs.
//!
//! Written by the kernel's `unix.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// `UnixPairObj::sock_type`: `SOCK_STREAM`.
pub const SOCK_STREAM: u32 = 1;
/// `UnixPairObj::sock_type`: `SOCK_DGRAM`.
pub const SOCK_DGRAM: u32 = 2;
/// `UnixPairObj::sock_type`: `SOCK_SEQPACKET`.
pub const SOCK_SEQPACKET: u32 = 5;

/// `UnixEnd::shutdown`: no more receiving (`RCV_SHUTDOWN`).
pub const UNIX_RCV_SHUTDOWN: u32 = 1;
/// `UnixEnd::shutdown`: no more sending (`SEND_SHUTDOWN`).
pub const UNIX_SEND_SHUTDOWN: u32 = 2;
/// `UnixEnd::flags`: `SO_PASSCRED` is on.
pub const UNIX_PASSCRED: u32 = 1;
/// `UnixEnd::flags`: this end was closed (only its peer is open).
pub const UNIX_CLOSED: u32 = 2;
/// `UnixEnd::flags`: it has an address it did not bind (an accepted
/// socket shares its listener's); the name follows.
pub const UNIX_NAMED: u32 = 4;
/// `UnixEnd::flags`: it bound its address itself; the name follows
/// (only a socket on its own).
pub const UNIX_BOUND: u32 = 8;
/// `UnixEnd::flags`: it listens (only a socket on its own, bound).
pub const UNIX_LISTENING: u32 = 16;
/// Longest name (`sun_path`).
pub const UNIX_NAME_MAX: u32 = 108;

/// Two connected unix sockets (as socketpair(2) makes them, or the two
/// ends of an accepted connection), written once before the open file of
/// either. End 0 is the socket at the lower kernel address. Two
/// [`UnixEnd`]s follow, then for each end its name (`name_len` bytes),
/// the lengths of the messages queued to it (`nr_msgs` u32s), their
/// bytes (`data_len`), oldest first, and the descriptors in flight in
/// them (`nr_fds` [`UnixFdInFlight`]s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UnixPairObj {
    /// Object id.
    pub id: ObjId,
    /// `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_SEQPACKET`.
    pub sock_type: u32,
}

/// One end of a [`UnixPairObj`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UnixEnd {
    /// `UNIX_*_SHUTDOWN`.
    pub shutdown: u32,
    /// `UNIX_PASSCRED`, `UNIX_CLOSED`.
    pub flags: u32,
    /// `SO_SNDBUF` as the socket holds it (twice what was set); 0: the
    /// default.
    pub sndbuf: i32,
    /// `SO_RCVBUF` likewise.
    pub rcvbuf: i32,
    /// Messages queued to it, not read yet.
    pub nr_msgs: u32,
    /// Their bytes.
    pub data_len: u32,
    /// Length of its name (`sun_path`, an abstract one from its NUL); 0:
    /// no address.
    pub name_len: u32,
    /// The permission bits of its socket file (`UNIX_BOUND` to a path).
    pub mode: u32,
    /// `listen(2)` backlog (`UNIX_LISTENING`).
    pub backlog: u32,
    /// Descriptors in flight in its queued messages (`SCM_RIGHTS`).
    pub nr_fds: u32,
}

/// A descriptor in flight: sent in an `SCM_RIGHTS` message queued to a
/// unix socket and not received yet. In the message's order, by message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UnixFdInFlight {
    /// The message that carries it (its index in the queue).
    pub msg: u32,
    /// The [`FileObj`] sent.
    pub file: ObjId,
}

layout!(UnixFdInFlight {
    msg: u32,
    file: ObjId
});

/// An end of a pair, or a socket on its own, as the decoder checked it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UnixEndData<'a> {
    /// Its state.
    pub end: UnixEnd,
    /// Its name.
    pub name: &'a [u8],
    /// The lengths of its queued messages (`nr_msgs` little-endian u32s).
    pub lens: &'a [u8],
    /// Their bytes.
    pub data: &'a [u8],
    /// The descriptors in flight in them (`nr_fds` [`UnixFdInFlight`]s).
    pub fds: &'a [u8],
}

impl UnixEndData<'_> {
    /// The descriptors in flight, in order.
    pub fn fds(&self) -> impl Iterator<Item = UnixFdInFlight> + '_ {
        self.fds
            .chunks_exact(UnixFdInFlight::LEN)
            .filter_map(|c| UnixFdInFlight::read_fixed(c).ok().map(|(f, _)| f))
    }

    /// The queued messages, oldest first.
    pub fn messages(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut at = 0usize;
        self.lens.chunks_exact(4).map(move |l| {
            let n = le32(l) as usize;
            let m = self.data.get(at..at.saturating_add(n)).unwrap_or(&[]);
            at = at.saturating_add(n);
            m
        })
    }
}

impl UnixPairObj {
    /// Most messages queued to one end.
    pub const MAX_MSGS: u32 = 1 << 20;
    /// Most descriptors in flight in one end's messages.
    pub const MAX_FDS: u32 = 1 << 20;
    /// Most descriptors in flight in one message (`SCM_MAX_FD`).
    pub const MAX_FDS_PER_MSG: u32 = 253;

    /// The pair and its two ends, each checked.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, [UnixEndData<'_>; 2]), ErrorKind> {
        let (u, rest) = Self::read_fixed(p)?;
        check_type(u.sock_type)?;
        let (e0, rest) = UnixEnd::read_fixed(rest)?;
        let (e1, rest) = UnixEnd::read_fixed(rest)?;
        if e0.flags & e1.flags & UNIX_CLOSED != 0 {
            return Err(ErrorKind::BadField("unix socket ends", 3));
        }
        // Only the server end of an accepted stream or seqpacket connection
        // has a name it did not bind: a datagram socket could send with a
        // borrowed name to others.
        let named = (e0.flags & UNIX_NAMED != 0, e1.flags & UNIX_NAMED != 0);
        if named == (true, true) || (u.sock_type == SOCK_DGRAM && named != (false, false)) {
            return Err(ErrorKind::BadField("unix pair names", u.sock_type.into()));
        }
        let allowed = UNIX_PASSCRED | UNIX_CLOSED | UNIX_NAMED;
        let (d0, rest) = e0.decode_tail(rest, allowed)?;
        let (d1, rest) = e1.decode_tail(rest, allowed)?;
        if !rest.is_empty() {
            return Err(trailing(p, rest));
        }
        Ok((u, [d0, d1]))
    }
}

/// A unix socket on its own (not connected: bound or not, listening or
/// not), written once before its open file; one [`UnixEnd`] follows, then
/// its name, the lengths of the datagrams queued to it, their bytes and
/// the descriptors in flight in them ([`UnixFdInFlight`]s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UnixSockObj {
    /// Object id.
    pub id: ObjId,
    /// `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_SEQPACKET`.
    pub sock_type: u32,
}

impl UnixSockObj {
    /// The socket and its state, checked.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, UnixEndData<'_>), ErrorKind> {
        let (u, rest) = Self::read_fixed(p)?;
        check_type(u.sock_type)?;
        let (e, rest) = UnixEnd::read_fixed(rest)?;
        let (d, rest) = e.decode_tail(rest, UNIX_PASSCRED | UNIX_BOUND | UNIX_LISTENING)?;
        if !rest.is_empty() {
            return Err(trailing(p, rest));
        }
        if e.flags & UNIX_LISTENING != 0 && (e.flags & UNIX_BOUND == 0 || e.nr_msgs != 0) {
            return Err(ErrorKind::BadField("unix listening socket", e.flags.into()));
        }
        // Only datagrams wait in an unconnected socket, and only in a bound
        // one (nothing can send to a socket without an address).
        if e.nr_msgs != 0 && (u.sock_type != SOCK_DGRAM || e.flags & UNIX_BOUND == 0) {
            return Err(ErrorKind::BadField("unix messages", e.nr_msgs.into()));
        }
        Ok((u, d))
    }
}

/// A connection waiting in a listening socket's queue to be accepted,
/// written once right after its listener (the connections in the order
/// they wait), before the open file of its client; one [`UnixEnd`] follows:
/// the client's (its options and shutdown bits, `UNIX_CLOSED` if it was
/// closed), with the messages the client sent and the server has not read
/// (its `nr_msgs` and `data_len` count them), their lengths and bytes, and
/// the descriptors in flight in them ([`UnixFdInFlight`]s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UnixPendingObj {
    /// Object id (its client's, when the client is open).
    pub id: ObjId,
    /// The [`UnixSockObj`] of the listener.
    pub listener: ObjId,
    /// `SOCK_STREAM` or `SOCK_SEQPACKET`.
    pub sock_type: u32,
}

impl UnixPendingObj {
    /// The connection and its client's state, checked.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, UnixEndData<'_>), ErrorKind> {
        let (u, rest) = Self::read_fixed(p)?;
        if !matches!(u.sock_type, SOCK_STREAM | SOCK_SEQPACKET) {
            return Err(ErrorKind::BadField("unix pending type", u.sock_type.into()));
        }
        if u.listener == 0 {
            return Err(ErrorKind::BadField("unix pending listener", 0));
        }
        let (e, rest) = UnixEnd::read_fixed(rest)?;
        // A closed client still has what it sent before it closed.
        let closed = e.flags & UNIX_CLOSED;
        if closed != 0
            && (e.flags != UNIX_CLOSED || e.shutdown != 0 || e.sndbuf != 0 || e.rcvbuf != 0)
        {
            return Err(ErrorKind::BadField("closed unix client", e.flags.into()));
        }
        let open = UnixEnd {
            flags: e.flags & !UNIX_CLOSED,
            ..e
        };
        let (mut d, rest) = open.decode_tail(rest, UNIX_PASSCRED)?;
        d.end.flags |= closed;
        if !rest.is_empty() {
            return Err(trailing(p, rest));
        }
        Ok((u, d))
    }
}

fn check_type(t: u32) -> Result<(), ErrorKind> {
    if !matches!(t, SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET) {
        return Err(ErrorKind::BadField("unix socket type", t.into()));
    }
    Ok(())
}

fn trailing(p: &[u8], rest: &[u8]) -> ErrorKind {
    ErrorKind::BadLength {
        len: u32::try_from(p.len()).unwrap_or(u32::MAX),
        expected: u32::try_from(p.len() - rest.len()).unwrap_or(u32::MAX),
    }
}

/// A little-endian u32 from 4 bytes (0 from fewer).
fn le32(b: &[u8]) -> u32 {
    <[u8; 4]>::try_from(b).map(u32::from_le_bytes).unwrap_or(0)
}

impl UnixEnd {
    /// What a closed end holds: nothing but its flag.
    pub const fn default_closed() -> Self {
        Self {
            shutdown: 0,
            flags: UNIX_CLOSED,
            sndbuf: 0,
            rcvbuf: 0,
            nr_msgs: 0,
            data_len: 0,
            name_len: 0,
            mode: 0,
            backlog: 0,
            nr_fds: 0,
        }
    }

    /// Checks the end (flags within `allowed`) and splits its name, the
    /// lengths and the bytes of its queue off the front of `rest`.
    fn decode_tail(self, rest: &[u8], allowed: u32) -> Result<(UnixEndData<'_>, &[u8]), ErrorKind> {
        let e = self;
        if e.shutdown & !(UNIX_RCV_SHUTDOWN | UNIX_SEND_SHUTDOWN) != 0 {
            return Err(ErrorKind::BadField("unix shutdown", e.shutdown.into()));
        }
        if e.flags & !allowed != 0 {
            return Err(ErrorKind::BadField("unix flags", e.flags.into()));
        }
        if e.sndbuf < 0 || e.rcvbuf < 0 {
            return Err(ErrorKind::BadField(
                "unix buffer size",
                e.sndbuf.min(e.rcvbuf).into(),
            ));
        }
        if e.nr_msgs > UnixPairObj::MAX_MSGS {
            return Err(ErrorKind::BadField("unix messages", e.nr_msgs.into()));
        }
        if e.nr_fds > UnixPairObj::MAX_FDS {
            return Err(ErrorKind::BadField(
                "unix descriptors in flight",
                e.nr_fds.into(),
            ));
        }
        if e.flags & UNIX_CLOSED != 0 && e != UnixEnd::default_closed() {
            return Err(ErrorKind::BadField("closed unix end", e.flags.into()));
        }
        let named = e.flags & (UNIX_NAMED | UNIX_BOUND) != 0;
        if named != (e.name_len != 0) || e.name_len > UNIX_NAME_MAX {
            return Err(ErrorKind::BadField("unix name length", e.name_len.into()));
        }
        if e.mode & !0o7777 != 0 || (e.flags & UNIX_BOUND == 0 && e.mode != 0) {
            return Err(ErrorKind::BadField("unix socket file mode", e.mode.into()));
        }
        if e.flags & UNIX_LISTENING == 0 && e.backlog != 0 {
            return Err(ErrorKind::BadField("unix backlog", e.backlog.into()));
        }
        if e.backlog > i32::MAX as u32 {
            return Err(ErrorKind::BadField("unix backlog", e.backlog.into()));
        }
        // At most 108 + (1 << 22) + 4 GiB: no overflow in usize on 64 bits;
        // checked anyway.
        let lens_len = e.nr_msgs as usize * 4;
        let fds_len = e.nr_fds as usize * UnixFdInFlight::LEN;
        let need = (e.name_len as usize)
            .checked_add(lens_len)
            .and_then(|n| n.checked_add(e.data_len as usize))
            .and_then(|n| n.checked_add(fds_len))
            .ok_or(ErrorKind::Short)?;
        if rest.len() < need {
            return Err(ErrorKind::Short);
        }
        let (name, tail) = rest.split_at(e.name_len as usize);
        let (lens, tail) = tail.split_at(lens_len);
        let (data, tail) = tail.split_at(e.data_len as usize);
        let (fds, tail) = tail.split_at(fds_len);
        // In message order, each naming a message of the queue, at most
        // SCM_MAX_FD in one.
        let mut last: Option<(u32, u32)> = None;
        for c in fds.chunks_exact(UnixFdInFlight::LEN) {
            let (f, _) = UnixFdInFlight::read_fixed(c)?;
            if f.msg >= e.nr_msgs {
                return Err(ErrorKind::BadField(
                    "unix descriptor in flight's message",
                    f.msg.into(),
                ));
            }
            if f.file == 0 {
                return Err(ErrorKind::BadField("unix descriptor in flight's file", 0));
            }
            let n = match last {
                Some((m, n)) if m == f.msg => n + 1,
                Some((m, _)) if m > f.msg => {
                    return Err(ErrorKind::BadField(
                        "unix descriptor in flight",
                        f.msg.into(),
                    ))
                }
                _ => 1,
            };
            if n > UnixPairObj::MAX_FDS_PER_MSG {
                return Err(ErrorKind::BadField(
                    "unix descriptors in one message",
                    n.into(),
                ));
            }
            last = Some((f.msg, n));
        }
        let total = lens
            .chunks_exact(4)
            .map(|l| u64::from(le32(l)))
            .sum::<u64>();
        if total != u64::from(e.data_len) {
            return Err(ErrorKind::BadField("unix message lengths", total as i64));
        }
        Ok((
            UnixEndData {
                end: e,
                name,
                lens,
                data,
                fds,
            },
            tail,
        ))
    }
}

layout!(UnixPairObj {
    id: ObjId,
    sock_type: u32
});

layout!(UnixPendingObj {
    id: ObjId,
    listener: ObjId,
    sock_type: u32,
    _: u32,
});

layout!(UnixSockObj {
    id: ObjId,
    sock_type: u32
});

layout!(UnixEnd {
    shutdown: u32,
    flags: u32,
    sndbuf: i32,
    rcvbuf: i32,
    nr_msgs: u32,
    data_len: u32,
    name_len: u32,
    mode: u32,
    backlog: u32,
    nr_fds: u32
});
