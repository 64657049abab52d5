// SPDX-License-Identifier: GPL-2.0
//! Shared memory objects and their contents.
//!
//! Written by the kernel's `shmem.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// Shared memory (a shmem file with no name left), written once before
/// the first VMA that maps it; its contents follow in
/// [`ShmemPages`](super::RecordType::ShmemPages)
/// records (pages never written are holes, not saved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShmemObj {
    /// Object id.
    pub id: ObjId,
    /// Size in bytes, a multiple of the page size.
    pub size: u64,
}

impl ShmemObj {
    /// Largest size accepted (the user address space).
    pub const MAX_SIZE: u64 = USER_ADDR_END;

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (o, _) = Self::read_fixed(p)?;
        if o.size == 0 || o.size % PAGE_SIZE as u64 != 0 || o.size > Self::MAX_SIZE {
            return Err(ErrorKind::BadField("shared memory size", o.size as i64));
        }
        Ok(o)
    }
}

layout!(ShmemObj { id: ObjId, _: u32, size: u64 });

/// Head of a shared memory contents record: `nr` pages of object `id`
/// from byte `offset` on follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShmemPagesHeader {
    pub id: ObjId,
    pub nr: u32,
    pub offset: u64,
}

impl ShmemPagesHeader {
    pub(crate) fn decode(p: &[u8], size: u64) -> Result<(Self, &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if h.nr == 0 || h.nr > MAX_PAGES_PER_RECORD {
            return Err(ErrorKind::BadField("shared memory pages", h.nr.into()));
        }
        let end = h.offset.checked_add(u64::from(h.nr) * PAGE_SIZE as u64);
        if h.offset % PAGE_SIZE as u64 != 0 || end.map_or(true, |e| e > size) {
            return Err(ErrorKind::BadField("shared memory offset", h.offset as i64));
        }
        Ok((h, tail(rest, h.nr * PAGE_SIZE as u32)?))
    }
}

layout!(ShmemPagesHeader {
    id: ObjId,
    nr: u32,
    offset: u64
});

/// `SHM_DEST`: a segment removed (`IPC_RMID`) while still attached.
pub const SHM_DEST: u32 = 0o1000;

/// A SysV shared memory segment of a pod's IPC namespace, written once
/// before the first VMA that attaches it (or after the pod record for one
/// nobody attaches); its contents follow in
/// [`ShmemPages`](super::RecordType::ShmemPages) records, as a
/// [`ShmemObj`]'s do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SysvShmObj {
    /// Object id.
    pub id: ObjId,
    /// Its SysV id (`shmget(2)`'s result), made again exactly.
    pub shmid: i32,
    /// Its key (`IPC_PRIVATE`, 0, once removed).
    pub key: i32,
    /// Permission bits, and [`SHM_DEST`].
    pub mode: u32,
    /// Owner and creator ids, as the checkpointing process's user
    /// namespace sees them.
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Creator's and last operator's pids in the pod (0: none, or gone).
    pub cpid: i32,
    pub lpid: i32,
    /// Size in bytes as asked for (its pages: rounded up).
    pub size: u64,
    /// Last attach, detach and change times, in seconds since the epoch.
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    /// Attachments at the checkpoint (each comes back with its VMA).
    pub nattch: u64,
}

impl SysvShmObj {
    /// The size of its pages: the size rounded up to a page.
    pub fn pages_size(&self) -> u64 {
        self.size.div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64
    }

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (o, _) = Self::read_fixed(p)?;
        if o.size == 0 || o.size > ShmemObj::MAX_SIZE {
            return Err(ErrorKind::BadField("SysV segment size", o.size as i64));
        }
        if o.shmid < 0 {
            return Err(ErrorKind::BadField("SysV segment id", o.shmid.into()));
        }
        if o.mode & !(0o777 | SHM_DEST) != 0 {
            return Err(ErrorKind::BadField("SysV segment mode", o.mode.into()));
        }
        if o.mode & SHM_DEST != 0 && o.key != 0 {
            return Err(ErrorKind::BadField(
                "SysV removed segment key",
                o.key.into(),
            ));
        }
        if o.cpid < 0 || o.lpid < 0 {
            return Err(ErrorKind::BadField(
                "SysV segment pid",
                o.cpid.min(o.lpid).into(),
            ));
        }
        Ok(o)
    }
}

layout!(SysvShmObj {
    id: ObjId,
    shmid: i32,
    key: i32,
    mode: u32,
    uid: u32,
    gid: u32,
    cuid: u32,
    cgid: u32,
    cpid: i32,
    lpid: i32,
    size: u64,
    atime: i64,
    dtime: i64,
    ctime: i64,
    nattch: u64
});

/// Largest value of a SysV semaphore (`SEMVMX`).
pub const SEMVMX: i32 = 32767;
/// Most semaphores in a SysV set (`SEMMSL`, the default `kernel.sem`
/// limit).
pub const MAX_SEMS: u32 = 32000;

/// A SysV semaphore set of a pod's IPC namespace, written once after the
/// pod record; its [`SysvSemVal`]s follow in the record, one per
/// semaphore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SysvSemObj {
    /// Object id.
    pub id: ObjId,
    /// Its SysV id (`semget(2)`'s result), made again exactly.
    pub semid: i32,
    /// Its key.
    pub key: i32,
    /// Permission bits.
    pub mode: u32,
    /// Owner and creator ids, as the checkpointing process's user
    /// namespace sees them.
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Number of semaphores.
    pub nsems: u32,
    /// Last change time (`semctl`), in seconds since the epoch.
    pub ctime: i64,
}

impl SysvSemObj {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (o, rest) = Self::read_fixed(p)?;
        if o.semid < 0 {
            return Err(ErrorKind::BadField("SysV set id", o.semid.into()));
        }
        if o.mode & !0o777 != 0 {
            return Err(ErrorKind::BadField("SysV set mode", o.mode.into()));
        }
        if o.nsems == 0 || o.nsems > MAX_SEMS {
            return Err(ErrorKind::BadField("SysV set size", o.nsems.into()));
        }
        let vals = tail(rest, o.nsems * SysvSemVal::LEN as u32)?;
        for v in vals.chunks_exact(SysvSemVal::LEN) {
            let (v, _) = SysvSemVal::read_fixed(v)?;
            if v.semval < 0 || v.semval > SEMVMX {
                return Err(ErrorKind::BadField("SysV semaphore value", v.semval.into()));
            }
            if v.sempid < 0 {
                return Err(ErrorKind::BadField("SysV semaphore pid", v.sempid.into()));
            }
        }
        Ok((o, vals))
    }

    /// The semaphores of a record [`SysvSemObj::decode`] accepted.
    pub fn values(b: &[u8]) -> impl Iterator<Item = SysvSemVal> + '_ {
        b.chunks_exact(SysvSemVal::LEN)
            .filter_map(|v| SysvSemVal::read_fixed(v).ok().map(|(v, _)| v))
    }
}

layout!(SysvSemObj {
    id: ObjId,
    semid: i32,
    key: i32,
    mode: u32,
    uid: u32,
    gid: u32,
    cuid: u32,
    cgid: u32,
    nsems: u32,
    _: u32,
    ctime: i64
});

/// One semaphore of a [`SysvSemObj`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SysvSemVal {
    /// Its value, 0 to [`SEMVMX`].
    pub semval: i32,
    /// The pid in the pod of the last process that changed it (0: none,
    /// or gone).
    pub sempid: i32,
    /// Its last operation time, in seconds since the epoch.
    pub otime: i64,
}

layout!(SysvSemVal {
    semval: i32,
    sempid: i32,
    otime: i64
});

/// The `SEM_UNDO` adjustments of a process on one SysV semaphore set of
/// its pod's IPC namespace (what `semop(2)` with `SEM_UNDO` built, undone
/// when it exits), after its fd records; one `i16` per semaphore follows,
/// padded to 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SemUndoRec {
    /// The set's SysV id.
    pub semid: i32,
    /// Number of adjustments that follow: the set's size.
    pub nsems: u32,
}

impl SemUndoRec {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (u, rest) = Self::read_fixed(p)?;
        if u.semid < 0 {
            return Err(ErrorKind::BadField("undo set id", u.semid.into()));
        }
        if u.nsems == 0 || u.nsems > MAX_SEMS {
            return Err(ErrorKind::BadField("undo set size", u.nsems.into()));
        }
        let len = 2 * u.nsems as usize;
        let adj = rest.get(..len).ok_or(ErrorKind::Truncated)?;
        let pad = rest.get(len..).unwrap_or(&[]);
        if pad.len() != len.next_multiple_of(8) - len {
            return Err(ErrorKind::BadLength {
                len: p.len() as u32,
                expected: (Self::LEN + len.next_multiple_of(8)) as u32,
            });
        }
        if pad.iter().any(|&b| b != 0) {
            return Err(ErrorKind::BadPadding);
        }
        Ok((u, adj))
    }

    /// The adjustments of a record's tail, one per semaphore.
    pub fn adjustments(b: &[u8]) -> impl Iterator<Item = i16> + '_ {
        b.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]))
    }
}

layout!(SemUndoRec {
    semid: i32,
    nsems: u32
});

/// Most bytes a SysV message queue's messages may hold in an image (the
/// largest `msg_qbytes`, `INT_MAX`).
pub const MAX_MSG_BYTES: u64 = i32::MAX as u64;

/// A SysV message queue of a pod's IPC namespace, written once after the
/// pod record; its messages follow in the record, oldest first, each a
/// [`SysvMsgHead`] and its text padded to 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SysvMsgObj {
    /// Object id.
    pub id: ObjId,
    /// Its SysV id (`msgget(2)`'s result), made again exactly.
    pub msqid: i32,
    /// Its key.
    pub key: i32,
    /// Permission bits.
    pub mode: u32,
    /// Owner and creator ids, as the checkpointing process's user
    /// namespace sees them.
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Last sender's and receiver's pids in the pod (0: none, or gone).
    pub lspid: i32,
    pub lrpid: i32,
    /// Its limit in bytes (`msg_qbytes`).
    pub qbytes: u64,
    /// Number of messages that follow.
    pub qnum: u32,
    /// Last send, receive and change times, in seconds since the epoch.
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
}

/// The head of one message of a [`SysvMsgObj`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SysvMsgHead {
    /// Its type, positive.
    pub mtype: i64,
    /// Its text's length in bytes.
    pub len: u32,
}

layout!(SysvMsgHead { mtype: i64, len: u32, _: u32 });

impl SysvMsgObj {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (o, rest) = Self::read_fixed(p)?;
        if o.msqid < 0 {
            return Err(ErrorKind::BadField("SysV queue id", o.msqid.into()));
        }
        if o.mode & !0o777 != 0 {
            return Err(ErrorKind::BadField("SysV queue mode", o.mode.into()));
        }
        if o.qbytes > MAX_MSG_BYTES {
            return Err(ErrorKind::BadField("SysV queue limit", o.qbytes as i64));
        }
        if o.lspid < 0 || o.lrpid < 0 {
            return Err(ErrorKind::BadField(
                "SysV queue pid",
                o.lspid.min(o.lrpid).into(),
            ));
        }
        let (mut n, mut bytes) = (0u32, 0u64);
        for m in Self::messages(rest) {
            let (h, _) = m?;
            n = n.saturating_add(1);
            bytes = bytes.saturating_add(u64::from(h.len));
        }
        // msgsnd(2)'s bounds: bytes, and messages, within the limit.
        if n != o.qnum || bytes > o.qbytes || u64::from(n) > o.qbytes {
            return Err(ErrorKind::BadField("SysV queue messages", n.into()));
        }
        Ok((o, rest))
    }

    /// The messages of a record's tail: each head and its text.
    pub fn messages(b: &[u8]) -> impl Iterator<Item = Result<(SysvMsgHead, &[u8]), ErrorKind>> {
        queued_messages(b, 1..=i64::MAX, "SysV message type")
    }
}

/// The messages of a queue record's tail (a [`SysvMsgObj`]'s or a
/// [`PosixMqObj`]'s): each [`SysvMsgHead`], its type within `types`
/// (`what` otherwise), and its text padded to 8 bytes.
pub(crate) fn queued_messages<'a>(
    b: &'a [u8],
    types: core::ops::RangeInclusive<i64>,
    what: &'static str,
) -> impl Iterator<Item = Result<(SysvMsgHead, &'a [u8]), ErrorKind>> {
    let mut rest = b;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let r = (|| {
            let (h, after) = SysvMsgHead::read_fixed(rest)?;
            if !types.contains(&h.mtype) {
                return Err(ErrorKind::BadField(what, h.mtype));
            }
            let room = (h.len as usize).next_multiple_of(8);
            let text = after.get(..h.len as usize).ok_or(ErrorKind::Truncated)?;
            let pad = after
                .get(h.len as usize..room)
                .ok_or(ErrorKind::Truncated)?;
            if pad.iter().any(|&b| b != 0) {
                return Err(ErrorKind::BadPadding);
            }
            rest = after.get(room..).unwrap_or(&[]);
            Ok((h, text))
        })();
        if r.is_err() {
            rest = &[];
        }
        Some(r)
    })
}

layout!(SysvMsgObj {
    id: ObjId,
    msqid: i32,
    key: i32,
    mode: u32,
    uid: u32,
    gid: u32,
    cuid: u32,
    cgid: u32,
    lspid: i32,
    lrpid: i32,
    qbytes: u64,
    qnum: u32,
    _: u32,
    stime: i64,
    rtime: i64,
    ctime: i64
});
