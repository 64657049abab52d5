// SPDX-License-Identifier: GPL-2.0
//! POSIX message queues of a pod (`mq_open(3)`), and their notifications.
//!
//! Written by the kernel's `posix_mq.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// [`PosixMqObj::flags`]: the queue was removed with `mq_unlink(3)` and is
/// still open; its name is the one it had (made again under it, if it is
/// free, and removed).
pub const MQ_UNLINKED: u32 = 1;
/// Longest queue name (`NAME_MAX`), without the leading `/`.
pub const MQ_NAME_MAX: u32 = 255;
/// Most messages a queue holds (`HARD_MSGMAX`).
pub const MQ_HARD_MSGMAX: i64 = 65536;
/// Largest message of a queue (`HARD_MSGSIZEMAX`).
pub const MQ_HARD_MSGSIZEMAX: i64 = 16 << 20;
/// Priorities are below this (`MQ_PRIO_MAX`).
pub const MQ_PRIO_MAX: i64 = 32768;

/// A POSIX message queue of a pod's own IPC namespace, written once
/// before the pod's tasks. Its name follows (padded to 8 bytes), then its
/// messages in the order `mq_receive(3)` takes them (highest priority
/// first, each priority oldest first), each a [`SysvMsgHead`] whose type is
/// the priority, and its text padded to 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PosixMqObj {
    /// Object id.
    pub id: ObjId,
    /// [`MQ_UNLINKED`].
    pub flags: u32,
    /// Permission bits (with set-id and sticky bits, as `mq_open(3)`'s
    /// mode allows).
    pub mode: u32,
    /// Owner ids, as the checkpointing process's user namespace sees them.
    pub uid: u32,
    pub gid: u32,
    /// Length of the name that follows.
    pub name_len: u32,
    /// `mq_maxmsg`, `mq_msgsize`, `mq_curmsgs` (the messages that follow).
    pub maxmsg: i64,
    pub msgsize: i64,
    pub curmsgs: i64,
    /// Access, modification and change times, in nanoseconds since the
    /// epoch (the change time is shown, not restored: no call sets it).
    pub atime: i64,
    pub mtime: i64,
    pub ctime: i64,
}

impl PosixMqObj {
    /// The fixed part, the name, and the messages' bytes.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8], &[u8]), ErrorKind> {
        let (o, rest) = Self::read_fixed(p)?;
        let bad = |what, v: i64| Err(ErrorKind::BadField(what, v));
        if o.flags & !MQ_UNLINKED != 0 {
            return bad("message queue flags", o.flags.into());
        }
        if o.mode & !0o7777 != 0 {
            return bad("message queue mode", o.mode.into());
        }
        if !(1..=MQ_HARD_MSGMAX).contains(&o.maxmsg) {
            return bad("message queue mq_maxmsg", o.maxmsg);
        }
        if !(1..=MQ_HARD_MSGSIZEMAX).contains(&o.msgsize) {
            return bad("message queue mq_msgsize", o.msgsize);
        }
        if !(0..=o.maxmsg).contains(&o.curmsgs) {
            return bad("message queue mq_curmsgs", o.curmsgs);
        }
        if o.name_len == 0 || o.name_len > MQ_NAME_MAX {
            return bad("message queue name length", o.name_len.into());
        }
        let room = (o.name_len as usize).next_multiple_of(8);
        let name = rest
            .get(..o.name_len as usize)
            .ok_or(ErrorKind::Truncated)?;
        let pad = rest
            .get(o.name_len as usize..room)
            .ok_or(ErrorKind::Truncated)?;
        if pad.iter().any(|&b| b != 0) {
            return Err(ErrorKind::BadPadding);
        }
        // A name mq_open(3) takes: one path component.
        if name.iter().any(|&c| c == b'/' || c == 0) || name == b"." || name == b".." {
            return bad("message queue name", 0);
        }
        let msgs = rest.get(room..).unwrap_or(&[]);
        let mut n = 0i64;
        for m in Self::messages(msgs) {
            let (h, _) = m?;
            if i64::from(h.len) > o.msgsize {
                return bad("message queue message length", h.len.into());
            }
            n = n.saturating_add(1);
        }
        if n != o.curmsgs {
            return bad("message queue messages", n);
        }
        Ok((o, name, msgs))
    }

    /// The messages of a record's tail: each head (its type the priority)
    /// and its text.
    pub fn messages(b: &[u8]) -> impl Iterator<Item = Result<(SysvMsgHead, &[u8]), ErrorKind>> {
        queued_messages(b, 0..=MQ_PRIO_MAX - 1, "message priority")
    }
}

layout!(PosixMqObj {
    id: ObjId,
    flags: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    name_len: u32,
    maxmsg: i64,
    msgsize: i64,
    curmsgs: i64,
    atime: i64,
    mtime: i64,
    ctime: i64
});

/// [`MqNotifyRec::flags`]: the process exec'd since it registered: the
/// notification is never sent (the kernel checks the exec count).
pub const MQ_NOTIFY_STALE: u32 = 1;

/// A notification a process registered with `mq_notify(3)` on a queue,
/// through one of its descriptors; after its fd records (and signal
/// owners).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MqNotifyRec {
    /// A descriptor of the process on the queue.
    pub fd: u32,
    /// `SIGEV_SIGNAL` or `SIGEV_NONE`.
    pub how: i32,
    /// The signal (`SIGEV_SIGNAL`; 0 sends none).
    pub signo: u32,
    /// [`MQ_NOTIFY_STALE`].
    pub flags: u32,
    /// `sigev_value`.
    pub value: u64,
}

impl MqNotifyRec {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (n, _) = Self::read_fixed(p)?;
        if n.fd >= FilesHeader::MAX_FDS {
            return Err(ErrorKind::BadField("notification fd", n.fd.into()));
        }
        let signal = n.how == SIGEV_SIGNAL;
        if !signal && n.how != SIGEV_NONE {
            return Err(ErrorKind::BadField("notification kind", n.how.into()));
        }
        if n.signo > MAX_SIGNUM || (!signal && (n.signo != 0 || n.value != 0)) {
            return Err(ErrorKind::BadField("notification signal", n.signo.into()));
        }
        if n.flags & !MQ_NOTIFY_STALE != 0 || (!signal && n.flags != 0) {
            return Err(ErrorKind::BadField("notification flags", n.flags.into()));
        }
        Ok(n)
    }
}

layout!(MqNotifyRec {
    fd: u32,
    how: i32,
    signo: u32,
    flags: u32,
    value: u64
});
