// SPDX-License-Identifier: GPL-2.0

//! POSIX message queues of a pod's IPC namespace, their descriptors and
//! their notifications.
//!
//! C header: [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h)
//! (the state private to `ipc/mqueue.c`: a namespace's queues, a queue's
//! attributes and messages, a queue made again, a notification).
//!
//! A queue belongs to an IPC namespace, as a SysV message queue does
//! (`sysvmsg.rs`): a pod with an IPC namespace of its own has every queue
//! of it saved after the pod record, and every queue its processes hold
//! open after `mq_unlink(3)` removed its name (which it keeps): its name, mode, owner,
//! attributes, times, and every message (priority and text) in the order
//! `mq_receive(3)` takes them. Restart makes each queue again in the pod's
//! new namespace, by the pod's init before any task, under the rules of
//! `mq_open(3)` (the namespace's `fs.mqueue` limits, which the pod-ipc
//! record set, and the caller's `RLIMIT_MSGQUEUE`), an unlinked one under
//! its name (or a free one, if another queue has it now) that is removed
//! at once.
//!
//! A descriptor is an open file of kind `FILE_MQUEUE` naming its queue; it
//! is opened again as `mq_open(3)` opens one, its access mode checked
//! against the queue's mode. A notification (`mq_notify(3)`) is the
//! process's: an `mq-notify` record after its descriptors, registered again
//! by the restored process itself through the same descriptor, once its
//! credentials are its own. `SIGEV_THREAD` notifications (a netlink socket)
//! are refused at checkpoint, and so are descriptors of queues outside the
//! pod's own IPC namespace.

use crate::fdtable;
use crate::image::{MqNotifyRec, ObjId, PosixMqObj, RecordType, FILE_MQUEUE, MQ_UNLINKED};
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::prelude::*;

/// Whether `file` is a descriptor of a POSIX message queue.
pub(crate) fn is_mqueue(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper compares its f_op.
    unsafe { bindings::ckpt_file_is_mqueue(file.as_ptr()) }
}

/// Whether `file` is a queue of the IPC namespace of `task`.
fn in_ns_of(file: &FileRef, task: &TaskRef) -> bool {
    // SAFETY: both are referenced; the helper takes a reference on the
    // task's IPC namespace under task_lock.
    unsafe { bindings::ckpt_mq_in_ns_of(file.as_ptr(), task.as_ptr()) }
}

/// Most bytes of messages one queue's record holds.
const LIMIT: usize = crate::image::MAX_PAYLOAD_LEN as usize
    - PosixMqObj::LEN
    - (crate::image::MQ_NAME_MAX as usize + 1);

/// A queue as read: its attributes, name and messages.
pub(crate) struct Queue {
    info: bindings::ckpt_mq_info,
    name: [u8; crate::image::MQ_NAME_MAX as usize + 1],
    msgs: KVVec<u8>,
}

impl Queue {
    fn name(&self) -> &[u8] {
        self.name
            .get(..self.info.name_len as usize)
            .unwrap_or_default()
    }
}

/// Reads the queue `file` is open on (a descriptor, or the O_PATH file of
/// the namespace walk), the notifying process in `ns`. `-EPERM` for one
/// the caller could not open for reading, `-EOPNOTSUPP` for one that
/// cannot be carried (the kernel log says why).
fn read(file: &FileRef, ns: &PidNs) -> Result<Queue> {
    let mut q = Queue {
        // SAFETY: plain data, all zeros is valid.
        info: unsafe { core::mem::zeroed() },
        name: [0; crate::image::MQ_NAME_MAX as usize + 1],
        msgs: KVVec::new(),
    };
    loop {
        crate::wrap::task::killable()?;
        let mut used = 0usize;
        // SAFETY: the file is referenced and `ns` live; `name` has room
        // for NAME_MAX + 1 bytes and `msgs` for its capacity, which the
        // helper fills under the queue's lock.
        let r = unsafe {
            bindings::ckpt_mq_get(
                file.as_ptr(),
                ns.as_ptr(),
                &mut q.info,
                q.name.as_mut_ptr().cast(),
                q.msgs.as_mut_ptr().cast(),
                q.msgs.capacity(),
                LIMIT,
                &mut used,
            )
        };
        let why = match r {
            1 => {
                if used > q.msgs.capacity() {
                    return Err(EINVAL);
                }
                // SAFETY: the helper wrote `used` bytes, within the capacity.
                unsafe { q.msgs.set_len(used) };
                return Ok(q);
            }
            r if r == -(bindings::ENOSPC as i32) => {
                // Sent meanwhile by a process outside the pod sharing its
                // namespace: room for some more.
                q.msgs = KVVec::with_capacity(used.saturating_add(4096), GFP_KERNEL)?;
                continue;
            }
            r if r == -(bindings::E2BIG as i32) => {
                "its messages take more than one record (16 MiB)"
            }
            r if r == -(bindings::EOVERFLOW as i32) => {
                "its owner has no id in the caller's user namespace"
            }
            r if r == -(bindings::EOPNOTSUPP as i32) => {
                "its notification is SIGEV_THREAD (a netlink socket)"
            }
            r if r == -(bindings::ESRCH as i32) => {
                "its notification was registered by a process outside the pod"
            }
            r if r == -(bindings::EACCES as i32) => "the caller may not open it for reading",
            r => return Err(Error::from_errno(r)),
        };
        ckpt_err!(
            "checkpoint: POSIX message queue /{} of the pod: {}: not supported\n",
            crate::log::Shown(q.name()),
            why
        );
        return Err(if r == -(bindings::EACCES as i32) {
            EPERM
        } else {
            crate::wrap::errno::eopnotsupp()
        });
    }
}

/// Calls `f` with every queue of the IPC namespace of `init` (a pod's
/// init) as an O_PATH file. `-EPERM` without `CAP_CHECKPOINT_RESTORE`
/// over the namespace.
fn for_each_named(init: &TaskRef, mut f: impl FnMut(FileRef) -> Result) -> Result {
    let mut pos = 0;
    loop {
        crate::wrap::task::killable()?;
        // SAFETY: the task is referenced; the helper returns NULL, an
        // ERR_PTR or a new O_PATH file with a reference.
        let made = unsafe { bindings::ckpt_mq_next(init.as_ptr(), &mut pos) };
        if made.is_null() {
            return Ok(());
        }
        // SAFETY: not NULL: an ERR_PTR or a file whose reference is ours.
        let file = unsafe { FileRef::from_made(made) }.inspect_err(|e| {
            if *e == EPERM {
                ckpt_err!(
                    "checkpoint: the POSIX message queues of the pod of pid {}: the caller lacks CAP_CHECKPOINT_RESTORE over its IPC namespace\n",
                    init.vpid()
                );
            }
        })?;
        f(file)?;
    }
}

/// Checkpoint, before anything is written: every descriptor of the tree
/// (`tasks`) on a message queue is on one of the pod's own IPC namespace
/// (`pod`: its init, if the image is of a pod with one), and every queue
/// of that namespace can be saved, with its notification registered
/// through a descriptor of the process that holds it.
pub(crate) fn check(tasks: &[TaskRef], pod: Option<&TaskRef>, ns: &PidNs) -> Result {
    // The queues read (the namespace's, then those only the tree holds),
    // those with a notification, and those whose notifying process holds
    // a descriptor on them.
    let mut seen: KVVec<usize> = KVVec::new();
    let mut notified: KVVec<usize> = KVVec::new();
    let mut held: KVVec<usize> = KVVec::new();
    let mut note = |file: &FileRef, seen: &mut KVVec<usize>| -> Result {
        let q = read(file, ns)?;
        seen.push(file.inode_addr(), GFP_KERNEL)?;
        if q.info.notify_pid != 0 {
            notified.push(file.inode_addr(), GFP_KERNEL)?;
        }
        Ok(())
    };
    if let Some(init) = pod {
        for_each_named(init, |file| note(&file, &mut seen))?;
    }
    fdtable::for_each_tree_file(tasks, |i, fd, file| {
        if !is_mqueue(file) {
            return Ok(());
        }
        if !pod.is_some_and(|init| in_ns_of(file, init)) {
            return Err(fdtable::refuse(
                tasks,
                i,
                fd,
                format_args!(
                    "is a POSIX message queue (carried in a pod with an IPC namespace of its own, ckpt run --pod, and only its queues)"
                ),
            ));
        }
        // A queue removed from the namespace: saved with the tree.
        if !seen.contains(&file.inode_addr()) {
            note(file, &mut seen)?;
        }
        Ok(())
    })?;
    // Through the descriptor table itself (`dump_notify` looks there), not
    // an epoll set.
    for t in tasks
        .iter()
        .filter(|t| t.exit_state() == 0 && t.is_group_leader())
    {
        let mut fd = 0u32;
        while let Some(file) = t.next_file(&mut fd) {
            crate::wrap::task::killable()?;
            if is_mqueue(&file) && notify_of(&file, t)?.is_some() {
                held.push(file.inode_addr(), GFP_KERNEL)?;
            }
            fd = fd.checked_add(1).ok_or(EINVAL)?;
        }
    }
    if notified.iter().any(|q| !held.contains(q)) {
        ckpt_err!(
            "checkpoint: a POSIX message queue of the pod has a notification whose process holds no descriptor on it: not supported\n"
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    Ok(())
}

/// Checkpoint, after the pod record: every queue of the pod's IPC
/// namespace, once, then the queues the tree holds open that `mq_unlink(3)`
/// removed from it.
pub(crate) fn dump_all(
    w: &mut ImageWriter,
    objs: &mut ObjHash,
    init: &TaskRef,
    tasks: &[TaskRef],
) -> Result {
    for_each_named(init, |file| objs.id_of::<PosixMq>(w, file).map(drop))?;
    fdtable::for_each_tree_file(tasks, |_, _, file| {
        if is_mqueue(file) && !objs.has::<PosixMq>(file) {
            objs.id_of::<PosixMq>(w, file.clone_ref())?;
        }
        Ok(())
    })
}

/// The notification of the queue `file` is open on, if the process of
/// `task` registered it.
fn notify_of(file: &FileRef, task: &TaskRef) -> Result<Option<bindings::ckpt_mq_notify>> {
    // SAFETY: plain data, all zeros is valid.
    let mut n: bindings::ckpt_mq_notify = unsafe { core::mem::zeroed() };
    // SAFETY: both are referenced; the helper reads the queue's
    // notification under its lock.
    match unsafe { bindings::ckpt_mq_notify_get(file.as_ptr(), task.as_ptr(), &mut n) } {
        1 => Ok(Some(n)),
        0 => Ok(None),
        r => Err(Error::from_errno(r)),
    }
}

/// Checkpoint, after the fd records of `task` (a thread group leader):
/// the notifications its process registered, each through the first of
/// its descriptors on the queue.
pub(crate) fn dump_notify(w: &mut ImageWriter, task: &TaskRef) -> Result {
    let mut seen: KVec<usize> = KVec::new();
    let mut fd = 0u32;
    while let Some(file) = task.next_file(&mut fd) {
        crate::wrap::task::killable()?;
        if is_mqueue(&file) && !seen.contains(&file.inode_addr()) {
            seen.push(file.inode_addr(), GFP_KERNEL)?;
            if let Some(n) = notify_of(&file, task)? {
                let rec = MqNotifyRec {
                    fd,
                    how: n.how,
                    signo: u32::try_from(n.signo).map_err(|_| EINVAL)?,
                    flags: if n.stale != 0 {
                        crate::image::MQ_NOTIFY_STALE
                    } else {
                        0
                    },
                    value: n.value,
                };
                w.record(RecordType::MqNotify, &rec.encode())?;
            }
        }
        fd = fd.checked_add(1).ok_or(EINVAL)?;
    }
    Ok(())
}

/// The POSIX message queue kind of shared object.
pub(crate) struct PosixMq;

impl ObjOps for PosixMq {
    /// A file on the queue: the namespace walk's, or a descriptor.
    type Ref = FileRef;
    /// The queue as read.
    type Deps = Queue;

    /// Its inode: every file on it names the one queue.
    fn key(file: &FileRef) -> usize {
        file.inode_addr()
    }

    fn write_deps(_: &mut ImageWriter, objs: &mut ObjHash, file: &FileRef) -> Result<Queue> {
        read(file, objs.pid_ns()?)
    }

    fn write(w: &mut ImageWriter, _: &FileRef, id: ObjId, q: Queue) -> Result {
        let i = &q.info;
        let rec = PosixMqObj {
            id,
            flags: if i.unlinked != 0 { MQ_UNLINKED } else { 0 },
            mode: i.mode,
            uid: i.uid,
            gid: i.gid,
            name_len: i.name_len,
            maxmsg: i.maxmsg,
            msgsize: i.msgsize,
            curmsgs: i.curmsgs,
            atime: i.atime,
            mtime: i.mtime,
            ctime: i.ctime,
        };
        let name = q.name();
        let pad = [0u8; 8];
        let pad = pad
            .get(..name.len().next_multiple_of(8) - name.len())
            .ok_or(EINVAL)?;
        w.record_parts(RecordType::PosixMq, &[&rec.encode(), name, pad, &q.msgs])
    }

    /// The walk's O_PATH file, or the descriptor (which the open-file kind
    /// holds too): either keeps the queue.
    fn hold(file: FileRef) -> Option<FileRef> {
        Some(file)
    }
}

/// Before the point of no return: makes queue `o` (named `name`, with
/// `msgs`, checked by the parser and again by the C side) again in the
/// restoring task's IPC namespace, the pod's new one, made by the pod's
/// init before its own records.
pub(crate) fn restore(objs: &mut ObjTable, o: &PosixMqObj, name: &[u8], msgs: &[u8]) -> Result {
    crate::sysvshm::check_maker()?;
    let info = bindings::ckpt_mq_info {
        mode: o.mode,
        uid: o.uid,
        gid: o.gid,
        unlinked: u32::from(o.flags & MQ_UNLINKED != 0),
        maxmsg: o.maxmsg,
        msgsize: o.msgsize,
        curmsgs: o.curmsgs,
        atime: o.atime,
        mtime: o.mtime,
        ctime: o.ctime,
        notify_pid: 0,
        name_len: o.name_len,
    };
    let cname = crate::wrap::path::nul_terminated(name)?;
    // SAFETY: `info` is valid, `cname` NUL-terminated and `msgs` holds
    // `msgs.len()` bytes; the helper checks every message against the
    // queue's attributes and returns an ERR_PTR or an O_PATH file with a
    // reference, which `from_made` takes over.
    let file = unsafe {
        FileRef::from_made(bindings::ckpt_mq_create(
            &info,
            cname.as_ptr().cast(),
            msgs.as_ptr().cast(),
            msgs.len(),
        ))
    }
    .inspect_err(|e| {
        let shown = crate::log::Shown(name);
        ckpt_err!(
            "restart: cannot make POSIX message queue /{}{} again (error {}{})\n",
            shown,
            if o.flags & MQ_UNLINKED != 0 {
                " (unlinked)"
            } else {
                ""
            },
            e.to_errno(),
            match *e {
                e if e == ENOSPC => ": past fs.mqueue.queues_max",
                e if e == EMFILE => ": past the caller's RLIMIT_MSGQUEUE",
                e if e == EINVAL => ": past fs.mqueue.msg_max or msgsize_max, or a bad message",
                e if e == EPERM => ": the caller may not give it its owner",
                _ => "",
            }
        )
    })?;
    objs.add_made(o.id, file, FILE_MQUEUE)
}

/// Restart: a descriptor on queue `id` with the saved open flags, as
/// `mq_open(3)` opens one (its access mode checked against the queue's).
pub(crate) fn open(objs: &mut ObjTable, id: ObjId, f_flags: u32, path: &[u8]) -> Result<FileRef> {
    let q = objs.made(id, FILE_MQUEUE)?;
    // SAFETY: the queue's file is referenced; the helper returns an
    // ERR_PTR or a new file with a reference.
    unsafe { FileRef::from_made(bindings::ckpt_mq_open(q.as_ptr(), f_flags)) }.inspect_err(|e| {
        ckpt_err!(
            "restart: cannot open POSIX message queue {} again (error {})\n",
            crate::log::Shown(path),
            e.to_errno()
        )
    })
}

/// After the point of no return, with the process's own credentials:
/// registers its saved notification through its descriptor, as
/// `mq_notify(3)` would.
pub(crate) fn apply_notify(n: &MqNotifyRec) -> Result {
    let rec = bindings::ckpt_mq_notify {
        how: n.how,
        signo: i32::try_from(n.signo).map_err(|_| EINVAL)?,
        value: n.value,
        stale: n.flags & crate::image::MQ_NOTIFY_STALE,
        pad: 0,
    };
    // SAFETY: `rec` is valid; the helper looks the descriptor up in
    // current's table and sets the notification under the queue's lock.
    kernel::error::to_result(unsafe { bindings::ckpt_mq_notify_set(n.fd, &rec) }).inspect_err(|e| {
        ckpt_err!(
            "restart: cannot register the notification of the POSIX message queue of fd {} again (error {})\n",
            n.fd,
            e.to_errno()
        )
    })
}
