// SPDX-License-Identifier: GPL-2.0
//! Unix socket pair objects: two connected sockets and the messages
//! queued to each.
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

/// Two connected unix sockets without addresses (as socketpair(2) makes
/// them), written once before the open file of either. End 0 is the
/// socket at the lower kernel address. Two [`UnixEnd`]s follow, then for
/// each end the lengths of the messages queued to it (`nr_msgs` u32s)
/// and their bytes (`data_len`), oldest first.
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
}

/// An end of a pair as the decoder checked it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UnixEndData<'a> {
    /// Its state.
    pub end: UnixEnd,
    /// The lengths of its queued messages (`nr_msgs` little-endian u32s).
    pub lens: &'a [u8],
    /// Their bytes.
    pub data: &'a [u8],
}

impl UnixEndData<'_> {
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

    /// The pair and its two ends, each checked.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, [UnixEndData<'_>; 2]), ErrorKind> {
        let (u, rest) = Self::read_fixed(p)?;
        if !matches!(u.sock_type, SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET) {
            return Err(ErrorKind::BadField("unix socket type", u.sock_type.into()));
        }
        let (e0, rest) = UnixEnd::read_fixed(rest)?;
        let (e1, mut rest) = UnixEnd::read_fixed(rest)?;
        if e0.flags & e1.flags & UNIX_CLOSED != 0 {
            return Err(ErrorKind::BadField("unix socket ends", 3));
        }
        let mut ends = [UnixEndData::default(); 2];
        for (slot, e) in ends.iter_mut().zip([e0, e1]) {
            if e.shutdown & !(UNIX_RCV_SHUTDOWN | UNIX_SEND_SHUTDOWN) != 0 {
                return Err(ErrorKind::BadField("unix shutdown", e.shutdown.into()));
            }
            if e.flags & !(UNIX_PASSCRED | UNIX_CLOSED) != 0 {
                return Err(ErrorKind::BadField("unix flags", e.flags.into()));
            }
            if e.sndbuf < 0 || e.rcvbuf < 0 {
                return Err(ErrorKind::BadField(
                    "unix buffer size",
                    e.sndbuf.min(e.rcvbuf).into(),
                ));
            }
            if e.nr_msgs > Self::MAX_MSGS {
                return Err(ErrorKind::BadField("unix messages", e.nr_msgs.into()));
            }
            if e.flags & UNIX_CLOSED != 0 && e != UnixEnd::default_closed() {
                return Err(ErrorKind::BadField("closed unix end", e.flags.into()));
            }
            // At most 1 << 22 bytes of lengths: no overflow.
            let lens_len = e.nr_msgs as usize * 4;
            let need = lens_len
                .checked_add(e.data_len as usize)
                .ok_or(ErrorKind::Short)?;
            if rest.len() < need {
                return Err(ErrorKind::Short);
            }
            let (lens, tail) = rest.split_at(lens_len);
            let (data, tail) = tail.split_at(e.data_len as usize);
            let total = lens
                .chunks_exact(4)
                .map(|l| u64::from(le32(l)))
                .sum::<u64>();
            if total != u64::from(e.data_len) {
                return Err(ErrorKind::BadField("unix message lengths", total as i64));
            }
            *slot = UnixEndData { end: e, lens, data };
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(ErrorKind::BadLength {
                len: u32::try_from(p.len()).unwrap_or(u32::MAX),
                expected: u32::try_from(p.len() - rest.len()).unwrap_or(u32::MAX),
            });
        }
        Ok((u, ends))
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
        }
    }
}

layout!(UnixPairObj {
    id: ObjId,
    sock_type: u32
});

layout!(UnixEnd {
    shutdown: u32,
    flags: u32,
    sndbuf: i32,
    rcvbuf: i32,
    nr_msgs: u32,
    data_len: u32
});
