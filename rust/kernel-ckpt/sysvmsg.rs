// SPDX-License-Identifier: GPL-2.0

//! SysV message queues of a pod's IPC namespace.
//!
//! C header: [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h)
//! (the state private to `ipc/msg.c`: the queues of a namespace with
//! their messages, a queue made with its id and messages).
//!
//! A queue belongs to an IPC namespace, as a shared memory segment does
//! (`sysvshm.rs`): a pod with an IPC namespace of its own has every queue
//! of it saved after the pod record: its id, key, owner and creator, mode,
//! limit, times, last sender's and receiver's pids, and every message
//! (type and text) in order. Restart makes each queue again in the pod's
//! new namespace with its id (`msgget(2)` with the namespace's `next_id`)
//! and puts the messages back in order, each within `kernel.msgmax` and
//! all within the queue's limit (above `kernel.msgmnb` only with
//! `CAP_SYS_RESOURCE`, as `IPC_SET` allows). A task waiting in
//! `msgsnd(2)` or `msgrcv(2)` at the checkpoint waits again after the
//! restart (the freezer made the call restart).

use crate::image::{ObjId, RecordType, SysvMsgObj};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::prelude::*;

/// One queue read from a namespace, with its messages as the image lays
/// them out.
pub(crate) struct Queue {
    info: bindings::ckpt_msg_info,
    msgs: KVVec<u8>,
    /// Where it was in its namespace's table, its key in the hash.
    at: usize,
}

/// Most bytes of messages one queue's record holds.
const LIMIT: usize = crate::image::MAX_PAYLOAD_LEN as usize - SysvMsgObj::LEN;

/// Calls `f` for every queue of the IPC namespace of `init` (a pod's
/// init), pids as `ns` sees them. `-EPERM` for a queue the caller may not
/// read itself, or without `CAP_CHECKPOINT_RESTORE` over the namespace,
/// `-EOPNOTSUPP` for one whose messages do not fit in a record or whose
/// owner the caller's user namespace does not map (the kernel log says
/// which).
fn for_each(init: &TaskRef, ns: &PidNs, mut f: impl FnMut(Queue) -> Result) -> Result {
    let mut pos = 0;
    let mut buf: KVVec<u8> = KVVec::new();
    loop {
        crate::wrap::task::killable()?;
        // SAFETY: plain data, all zeros is valid.
        let mut info: bindings::ckpt_msg_info = unsafe { core::mem::zeroed() };
        let at = pos;
        let mut used = 0usize;
        // SAFETY: the task is referenced, `ns` live; `buf` has room for
        // its capacity, which the helper fills under the queue's lock.
        let r = unsafe {
            bindings::ckpt_msg_next(
                init.as_ptr(),
                ns.as_ptr(),
                &mut pos,
                &mut info,
                buf.as_mut_ptr().cast(),
                buf.capacity(),
                LIMIT,
                &mut used,
            )
        };
        match r {
            0 => return Ok(()),
            1 => {
                if used > buf.capacity() {
                    return Err(EINVAL);
                }
                // SAFETY: the helper wrote `used` bytes, within the capacity.
                unsafe { buf.set_len(used) };
                let mut msgs = KVVec::with_capacity(used, GFP_KERNEL)?;
                msgs.extend_from_slice(&buf, GFP_KERNEL)?;
                f(Queue {
                    info,
                    msgs,
                    at: usize::try_from(at).map_err(|_| EINVAL)?,
                })?;
            }
            r if r == -(bindings::ENOSPC as i32) => {
                // Messages may be sent meanwhile by a process outside the
                // pod sharing its namespace: room for some more.
                buf = KVVec::with_capacity(used.saturating_add(4096), GFP_KERNEL)?;
            }
            r if r == -(bindings::EAGAIN as i32) => {}
            r if r == -(bindings::E2BIG as i32) || r == -(bindings::EOVERFLOW as i32) => {
                ckpt_err!(
                    "checkpoint: pid {} ({}): SysV message queue {} of its pod: {}: not supported\n",
                    init.vpid(),
                    crate::log::Shown(&init.comm()),
                    info.perm.id,
                    if r == -(bindings::E2BIG as i32) {
                        "its messages take more than one record (16 MiB)"
                    } else {
                        "its owner or creator has no id in the caller's user namespace"
                    }
                );
                return Err(crate::wrap::errno::eopnotsupp());
            }
            r if r == -(bindings::EACCES as i32) || r == -(bindings::EPERM as i32) => {
                ckpt_err!(
                    "checkpoint: pid {} ({}): SysV message queue {} of its pod: {}: not supported\n",
                    init.vpid(),
                    crate::log::Shown(&init.comm()),
                    info.perm.id,
                    if r == -(bindings::EPERM as i32) {
                        "the caller lacks CAP_CHECKPOINT_RESTORE over the pod's IPC namespace"
                    } else {
                        "the caller may not read it"
                    }
                );
                return Err(EPERM);
            }
            r => return Err(Error::from_errno(r)),
        }
    }
}

/// Checkpoint, before anything is written: every queue of the pod's IPC
/// namespace can be saved.
pub(crate) fn check(init: &TaskRef, ns: &PidNs) -> Result {
    for_each(init, ns, |_| Ok(()))
}

/// Checkpoint, after the pod record: every queue of the pod's IPC
/// namespace, once, with its messages.
pub(crate) fn dump_all(w: &mut ImageWriter, objs: &mut ObjHash, init: &TaskRef) -> Result {
    let ns = init.pid_ns()?;
    for_each(init, &ns, |q| objs.id_of::<SysvMsg>(w, q).map(drop))
}

/// The SysV message queue kind of shared object.
pub(crate) struct SysvMsg;

impl ObjOps for SysvMsg {
    /// The queue, as read from its namespace.
    type Ref = Queue;
    type Deps = ();

    /// Its place in its namespace's table: each queue is written once, by
    /// [`dump_all`], and nothing else names it.
    fn key(q: &Queue) -> usize {
        q.at
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &Queue) -> Result {
        Ok(())
    }

    fn write(w: &mut ImageWriter, q: &Queue, id: ObjId, (): ()) -> Result {
        let i = &q.info;
        let p = &i.perm;
        let rec = SysvMsgObj {
            id,
            msqid: p.id,
            key: p.key,
            mode: p.mode & 0o777,
            uid: p.uid,
            gid: p.gid,
            cuid: p.cuid,
            cgid: p.cgid,
            lspid: i.lspid,
            lrpid: i.lrpid,
            qbytes: i.qbytes,
            qnum: u32::try_from(i.qnum).map_err(|_| EINVAL)?,
            stime: i.stime,
            rtime: i.rtime,
            ctime: i.ctime,
        };
        w.record_parts(RecordType::SysvMsg, &[&rec.encode(), &q.msgs])
    }

    fn hold(_: Queue) -> Option<FileRef> {
        None
    }
}

/// Before the point of no return: makes queue `o` again with its id and
/// messages (`msgs`, checked by the parser and again by the C side) in the
/// restoring task's IPC namespace (the pod's new one: made by the pod's
/// init, the parser taking queues only in a pod with its own).
pub(crate) fn restore(objs: &mut ObjTable, o: &SysvMsgObj, msgs: &[u8]) -> Result {
    crate::sysvshm::check_maker()?;
    let info = bindings::ckpt_msg_info {
        perm: crate::sysvsem::perm(o.msqid, o.key, o.mode, [o.uid, o.gid, o.cuid, o.cgid]),
        qbytes: o.qbytes,
        qnum: u64::from(o.qnum),
        stime: o.stime,
        rtime: o.rtime,
        ctime: o.ctime,
        lspid: o.lspid,
        lrpid: o.lrpid,
    };
    // SAFETY: `info` is valid and `msgs` holds `msgs.len()` bytes; the
    // helper checks every message against them and makes the queue in
    // current's IPC namespace under its locks.
    let r = unsafe { bindings::ckpt_msg_create(&info, msgs.as_ptr().cast(), msgs.len()) };
    kernel::error::to_result(r).inspect_err(|e| {
        ckpt_err!(
            "restart: cannot make SysV message queue {} (key {:#x}) again (error {})\n",
            o.msqid,
            o.key,
            e.to_errno()
        )
    })?;
    objs.add(o.id, Obj::Ipc)
}
