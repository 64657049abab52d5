// SPDX-License-Identifier: GPL-2.0
//! Pty objects and controlling terminals.
//!
//! Written by the kernel's `pty.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// `PtyObj::flags`: the slave is locked (`TIOCSPTLCK`): it cannot be
/// opened until the master unlocks it.
pub const PTY_LOCKED: u32 = 1;
/// `PtyObj::flags`: packet mode is on (`TIOCPKT` on the master).
pub const PTY_PACKET: u32 = 2;
/// `PtyObj::flags`: the slave was opened and every open file of it closed
/// since (the master reads EOF, then `EIO`).
pub const PTY_SLAVE_CLOSED: u32 = 4;
/// `PtyObj::flags`: the slave is in exclusive mode (`TIOCEXCL`).
pub const PTY_EXCLUSIVE: u32 = 8;
const PTY_FLAGS: u32 = PTY_LOCKED | PTY_PACKET | PTY_SLAVE_CLOSED | PTY_EXCLUSIVE;

/// `PtySide::flags`: output is stopped (`^S` with `IXON`, or `TCOOFF`).
pub const TTY_STOPPED: u32 = 1;
/// `PtySide::flags`: stopped by `TCOOFF`.
pub const TTY_TCO_STOPPED: u32 = 2;
/// `PtySide::ldisc_flags`: the next byte is taken literally (`^V`).
pub const LDISC_LNEXT: u32 = 1;
/// `PtySide::ldisc_flags`: inside an `ECHOPRT` erase.
pub const LDISC_ERASING: u32 = 2;
/// `PtySide::ldisc_flags`: the last line was ended by `EOF` (`^D`).
pub const LDISC_PUSH: u32 = 4;

/// Control characters in a termios (`NCCS`).
pub const TTY_NCCS: usize = 19;
/// The line discipline's read buffer holds fewer bytes than this
/// (`N_TTY_BUF_SIZE`).
pub const LDISC_BUF: u32 = 4096;
/// Bytes not through the line discipline yet, at most (a pty's flip
/// buffers hold 8 KiB).
pub const TTY_FLIP_MAX: u32 = 16384;

/// A Unix98 pty (`/dev/ptmx` and `/dev/pts/N`), written once before the
/// first open file of either end or the first process that has it as
/// controlling terminal. Two [`PtySide`]s (master, slave) follow, then the
/// path of the ptmx the master was opened from, and for each side the
/// bytes its line discipline holds for its reader (`read_len`), a bitmap
/// of the line ends among them (`(read_len + 7) / 8` bytes), and the bytes
/// the line discipline has not taken yet (`flip_len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PtyObj {
    /// Object id.
    pub id: ObjId,
    /// The pty's number: the slave is `/dev/pts/<index>`.
    pub index: u32,
    /// `PTY_*`.
    pub flags: u32,
    /// Packet-mode status not read yet (`TIOCPKT_*` bits).
    pub pktstatus: u32,
    /// Length of the ptmx path.
    pub path_len: u32,
}

/// One side of a [`PtyObj`]: its terminal settings and window size, and
/// its reader's line discipline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PtySide {
    /// `c_iflag`.
    pub iflag: u32,
    /// `c_oflag`.
    pub oflag: u32,
    /// `c_cflag`.
    pub cflag: u32,
    /// `c_lflag`.
    pub lflag: u32,
    /// `c_line`, then `c_cc`.
    pub line_cc: [u8; 1 + TTY_NCCS],
    /// `c_ispeed`.
    pub ispeed: u32,
    /// `c_ospeed`.
    pub ospeed: u32,
    /// `struct winsize`: rows, columns, x and y pixels.
    pub winsize: [u16; 4],
    /// `TTY_*`.
    pub flags: u32,
    /// Bytes in the line discipline's read buffer.
    pub read_len: u32,
    /// Of which in complete lines (canonical mode; 0 otherwise).
    pub canon: u32,
    /// The output column.
    pub column: u32,
    /// The column where the line being edited began.
    pub canon_column: u32,
    /// `LDISC_*`.
    pub ldisc_flags: u32,
    /// Bytes not through the line discipline yet.
    pub flip_len: u32,
}

/// A side of a pty as the decoder checked it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PtySideData<'a> {
    /// Its state.
    pub side: PtySide,
    /// The read buffer's bytes.
    pub read: &'a [u8],
    /// Bit `i` (of byte `i / 8`, from the low bit) set: byte `i` of `read`
    /// ends a line.
    pub ends: &'a [u8],
    /// The bytes the line discipline has not taken.
    pub flip: &'a [u8],
}

impl PtyObj {
    /// Longest ptmx path.
    pub const MAX_PATH: u32 = MAX_PATH_LEN;

    /// The pty, its ptmx path and both sides, checked.
    #[allow(clippy::type_complexity)]
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8], [PtySideData<'_>; 2]), ErrorKind> {
        let (o, rest) = Self::read_fixed(p)?;
        if o.flags & !PTY_FLAGS != 0 {
            return Err(ErrorKind::BadField("pty flags", o.flags.into()));
        }
        if o.index > i32::MAX as u32 {
            return Err(ErrorKind::BadField("pty index", o.index.into()));
        }
        if o.pktstatus > 0xff || (o.pktstatus != 0 && o.flags & PTY_PACKET == 0) {
            return Err(ErrorKind::BadField("pty packet status", o.pktstatus.into()));
        }
        if o.path_len == 0 || o.path_len > Self::MAX_PATH {
            return Err(ErrorKind::BadField("pty path length", o.path_len.into()));
        }
        let (s0, rest) = PtySide::read_fixed(rest)?;
        let (s1, rest) = PtySide::read_fixed(rest)?;
        let (path, rest) = split(rest, o.path_len)?;
        let (d0, rest) = s0.decode_tail(rest)?;
        let (d1, rest) = s1.decode_tail(rest)?;
        if !rest.is_empty() {
            return Err(ErrorKind::BadLength {
                len: u32::try_from(p.len()).unwrap_or(u32::MAX),
                expected: u32::try_from(p.len() - rest.len()).unwrap_or(u32::MAX),
            });
        }
        Ok((o, path, [d0, d1]))
    }
}

/// `len` bytes off the front of `rest`, and what follows.
fn split(rest: &[u8], len: u32) -> Result<(&[u8], &[u8]), ErrorKind> {
    let len = len as usize;
    if rest.len() < len {
        return Err(ErrorKind::Short);
    }
    Ok(rest.split_at(len))
}

impl PtySide {
    fn decode_tail(self, rest: &[u8]) -> Result<(PtySideData<'_>, &[u8]), ErrorKind> {
        let s = self;
        if s.flags & !(TTY_STOPPED | TTY_TCO_STOPPED) != 0
            || s.flags & (TTY_STOPPED | TTY_TCO_STOPPED) == TTY_TCO_STOPPED
        {
            return Err(ErrorKind::BadField("pty side flags", s.flags.into()));
        }
        if s.ldisc_flags & !(LDISC_LNEXT | LDISC_ERASING | LDISC_PUSH) != 0 {
            return Err(ErrorKind::BadField(
                "pty line discipline flags",
                s.ldisc_flags.into(),
            ));
        }
        if s.read_len >= LDISC_BUF {
            return Err(ErrorKind::BadField(
                "pty read buffer length",
                s.read_len.into(),
            ));
        }
        // Complete lines only in canonical mode (ICANON, 0o2 of c_lflag).
        if s.canon > s.read_len || (s.canon != 0 && s.lflag & 0o2 == 0) {
            return Err(ErrorKind::BadField("pty complete lines", s.canon.into()));
        }
        if s.flip_len > TTY_FLIP_MAX {
            return Err(ErrorKind::BadField("pty pending input", s.flip_len.into()));
        }
        let (read, rest) = split(rest, s.read_len)?;
        let (ends, rest) = split(rest, s.read_len.div_ceil(8))?;
        let (flip, rest) = split(rest, s.flip_len)?;
        // Line ends only among the complete lines, the last byte of which
        // ends one: what the line discipline's receive path makes.
        let ends_at = |i: u32| {
            ends.get(i as usize / 8)
                .is_some_and(|b| b & (1 << (i % 8)) != 0)
        };
        let last_end = (0..s.read_len.div_ceil(8) * 8).rev().find(|&i| ends_at(i));
        if last_end.map_or(0, |i| i + 1) > s.canon || (s.canon > 0 && !ends_at(s.canon - 1)) {
            return Err(ErrorKind::BadField("pty line ends", s.canon.into()));
        }
        Ok((
            PtySideData {
                side: s,
                read,
                ends,
                flip,
            },
            rest,
        ))
    }
}

layout!(PtyObj {
    id: ObjId,
    index: u32,
    flags: u32,
    pktstatus: u32,
    path_len: u32,
    _: u32,
});

layout!(PtySide {
    iflag: u32,
    oflag: u32,
    cflag: u32,
    lflag: u32,
    line_cc: [u8; 1 + TTY_NCCS],
    ispeed: u32,
    ospeed: u32,
    winsize: [u16; 4],
    flags: u32,
    read_len: u32,
    canon: u32,
    column: u32,
    canon_column: u32,
    ldisc_flags: u32,
    flip_len: u32,
});

/// A process's controlling terminal, when it is the slave of a pty the
/// image carries: after the process's memory map, before its open files
/// (a `/dev/tty` among them is opened through it). A process without one,
/// or whose terminal is not a pty of the tree, has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CttyRec {
    /// The [`PtyObj`].
    pub pty: ObjId,
    /// The terminal's foreground process group.
    pub fg_pgid: i32,
}

impl CttyRec {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (c, _) = Self::read_fixed(p)?;
        if c.fg_pgid <= 0 {
            return Err(ErrorKind::BadField(
                "foreground process group",
                c.fg_pgid.into(),
            ));
        }
        Ok(c)
    }
}

layout!(CttyRec {
    pty: ObjId,
    fg_pgid: i32,
});
