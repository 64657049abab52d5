// SPDX-License-Identifier: GPL-2.0
//! Open file objects.
//!
//! Written by the kernel's `open_file.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// File kind: a regular file, reopened by path.
pub const FILE_REG: u32 = 0;
/// File kind: a character device (`/dev/null`, a tty), reopened by path.
pub const FILE_CHR: u32 = 1;
/// File kind: a directory, reopened by path.
pub const FILE_DIR: u32 = 2;
/// File kind: a named pipe, reopened by path ([`FileObj::obj`] names its
/// [`FifoObj`]).
pub const FILE_FIFO: u32 = 3;
/// File kind: a socket (not restorable yet).
pub const FILE_SOCK: u32 = 4;
/// File kind: anything else (anon inodes, block devices…; not restorable).
pub const FILE_OTHER: u32 = 5;
/// File kind: one end of an anonymous pipe ([`FileObj::obj`] names it).
pub const FILE_PIPE: u32 = 6;
/// File kind: an eventfd ([`FileObj::obj`] names its [`EventfdObj`]).
pub const FILE_EVENTFD: u32 = 7;
/// File kind: a signalfd ([`FileObj::obj`] names its [`SignalfdObj`]).
pub const FILE_SIGNALFD: u32 = 8;
/// File kind: a timerfd ([`FileObj::obj`] names its [`TimerfdObj`]).
pub const FILE_TIMERFD: u32 = 9;
/// File kind: an epoll set ([`FileObj::obj`] names its [`EpollObj`]).
pub const FILE_EPOLL: u32 = 10;
/// File kind: a unix socket ([`FileObj::obj`] names its [`UnixSockObj`],
/// or the [`UnixPairObj`] of a connected one, whose `FILE_PEER_END` says
/// which end).
pub const FILE_UNIX: u32 = 11;
/// File kind: an open file of a memfd ([`FileObj::obj`] names its
/// [`MemfdObj`]).
pub const FILE_MEMFD: u32 = 12;
/// File kind: an end of a pty ([`FileObj::obj`] names its [`PtyObj`];
/// `FILE_PEER_END` says the slave, `/dev/tty` of it included).
pub const FILE_PTY: u32 = 13;
/// File kind: an open file of a deleted regular file ([`FileObj::obj`]
/// names its [`DeletedFileObj`]).
pub const FILE_UNLINKED: u32 = 14;
/// File kind: a pidfd ([`FileObj::obj`] names its [`PidfdObj`]).
pub const FILE_PIDFD: u32 = 15;
/// File kind: an inotify instance ([`FileObj::obj`] names its
/// [`InotifyObj`]).
pub const FILE_INOTIFY: u32 = 16;
/// File kind: a namespace file (`/proc/PID/ns/*`) of the process's own
/// namespace; its path is the namespace's name as readlink(2) shows it
/// (`net:[4026531840]`).
pub const FILE_NS: u32 = 17;
/// File kind: an open file of shared anonymous memory (`MAP_SHARED |
/// MAP_ANONYMOUS`, "/dev/zero (deleted)", opened through
/// `/proc/PID/map_files`); [`FileObj::obj`] names its [`ShmemObj`], the
/// object its mappings name too.
pub const FILE_ANON_SHARED: u32 = 18;
/// File kind: a POSIX message queue descriptor (`mq_open(3)`);
/// [`FileObj::obj`] names its [`PosixMqObj`].
pub const FILE_MQUEUE: u32 = 19;
/// File kind: a TCP, UDP or UDP-Lite socket ([`FileObj::obj`] names its
/// [`InetSockObj`]).
pub const FILE_INET: u32 = 20;
/// File kind: a packet socket ([`FileObj::obj`] names its
/// [`PacketSockObj`]).
pub const FILE_PACKET: u32 = 21;
/// The highest `FILE_*` kind.
pub const FILE_KIND_MAX: u32 = FILE_PACKET;

/// The kind of namespace a `FILE_NS` file's path names (`net` of
/// `net:[4026531840]`), if the path is such a name.
pub fn ns_kind(path: &[u8]) -> Option<&[u8]> {
    let colon = path.iter().position(|&c| c == b':')?;
    let (kind, rest) = path.split_at(colon);
    let digits = rest.strip_prefix(b":[")?.strip_suffix(b"]")?;
    let known = [
        &b"net"[..],
        b"uts",
        b"ipc",
        b"pid",
        b"user",
        b"mnt",
        b"cgroup",
        b"time",
    ];
    (known.contains(&kind) && !digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
        .then_some(kind)
}

/// Whether an open file of kind `kind` is the file of another object
/// (named by [`FileObj::obj`]) rather than a file reopened by path.
pub const fn file_has_obj(kind: u32) -> bool {
    matches!(
        kind,
        FILE_FIFO
            | FILE_PIPE
            | FILE_EVENTFD
            | FILE_SIGNALFD
            | FILE_TIMERFD
            | FILE_EPOLL
            | FILE_UNIX
            | FILE_MEMFD
            | FILE_ANON_SHARED
            | FILE_PTY
            | FILE_UNLINKED
            | FILE_PIDFD
            | FILE_INOTIFY
            | FILE_MQUEUE
            | FILE_INET
            | FILE_PACKET
    )
}

/// `FileObj::flags`: the file was deleted (its path ends in " (deleted)").
pub const FILE_DELETED: u32 = 1;
/// `FileObj::flags`: for `FILE_UNIX`, the file is end 1 of its pair; for
/// `FILE_PTY`, the slave.
pub const FILE_PEER_END: u32 = 2;
/// `FileObj::flags`: for `FILE_PTY`, the slave opened as `/dev/tty` (the
/// controlling terminal of the task that opened it).
pub const FILE_DEV_TTY: u32 = 4;

/// An open file (`struct file`), written once where it is first referred
/// to; its path follows the fixed part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileObj {
    /// Object id.
    pub id: ObjId,
    /// `FILE_*`.
    pub kind: u32,
    /// The open file's `f_flags` (`O_ACCMODE`, `O_APPEND`, `O_NONBLOCK`…).
    pub f_flags: u32,
    /// `FILE_DELETED`, `FILE_PEER_END`, `FILE_DEV_TTY`.
    pub flags: u32,
    /// The file position.
    pub pos: i64,
    /// The object the file is of: for `FILE_PIPE` the [`PipeObj`], for
    /// `FILE_EVENTFD` the [`EventfdObj`], for `FILE_SIGNALFD` the
    /// [`SignalfdObj`], for `FILE_TIMERFD` the [`TimerfdObj`], for
    /// `FILE_EPOLL` the [`EpollObj`], for `FILE_FIFO` the [`FifoObj`], for
    /// `FILE_UNIX` the [`UnixPairObj`] or [`UnixSockObj`], for
    /// `FILE_MEMFD` the [`MemfdObj`], for `FILE_PTY` the [`PtyObj`], for
    /// `FILE_UNLINKED` the [`DeletedFileObj`], for `FILE_PIDFD` the
    /// [`PidfdObj`], for `FILE_INOTIFY` the [`InotifyObj`], for
    /// `FILE_MQUEUE` the [`PosixMqObj`], for `FILE_INET` the
    /// [`InetSockObj`], for `FILE_PACKET` the [`PacketSockObj`]; 0 for the
    /// other kinds.
    pub obj: ObjId,
    /// Length of the path that follows.
    pub path_len: u32,
}

impl FileObj {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (f, rest) = Self::read_fixed(p)?;
        if f.kind > FILE_KIND_MAX {
            return Err(ErrorKind::BadField("file kind", f.kind.into()));
        }
        let allowed = match f.kind {
            FILE_UNIX => FILE_PEER_END,
            FILE_PTY => FILE_PEER_END | FILE_DEV_TTY,
            _ => FILE_DELETED,
        };
        if f.flags & !allowed != 0 || f.flags & (FILE_PEER_END | FILE_DEV_TTY) == FILE_DEV_TTY {
            return Err(ErrorKind::BadField("file flags", f.flags.into()));
        }
        if f.pos < 0 {
            return Err(ErrorKind::BadField("file position", f.pos));
        }
        if file_has_obj(f.kind) != (f.obj != 0) {
            return Err(ErrorKind::BadField("file object", f.obj.into()));
        }
        if f.path_len == 0 || f.path_len > MAX_PATH_LEN {
            return Err(ErrorKind::BadField("file path length", f.path_len.into()));
        }
        let path = tail(rest, f.path_len)?;
        if f.kind == FILE_NS && ns_kind(path).is_none() {
            return Err(ErrorKind::BadField("namespace file name", 0));
        }
        Ok((f, path))
    }
}

layout!(FileObj {
    id: ObjId,
    kind: u32,
    f_flags: u32,
    flags: u32,
    pos: i64,
    obj: ObjId,
    path_len: u32
});
