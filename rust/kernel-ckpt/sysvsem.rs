// SPDX-License-Identifier: GPL-2.0

//! SysV semaphore sets of a pod's IPC namespace.
//!
//! C header: [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h)
//! (the state private to `ipc/sem.c`: the sets of a namespace, a set made
//! with its id and values).
//!
//! A set belongs to an IPC namespace, as a shared memory segment does
//! (`sysvshm.rs`): a pod with an IPC namespace of its own has every set of
//! it saved after the pod record: its id, key, owner and creator, mode,
//! change time, and each semaphore's value, last changer's pid and last
//! operation time. Restart makes each set again in the pod's new
//! namespace with its id (`semget(2)` with the namespace's `next_id`) and
//! puts the values back, as `SETALL` would but without its side effects on
//! the times and pids. A task waiting in `semop(2)` at the checkpoint
//! waits again after the restart (the call is restarted).
//!
//! A process's `SEM_UNDO` adjustments (its undo list, which its threads
//! share) are a `sem-undo` record per set after its descriptors, given
//! back to the restored process once its credentials are its own, as
//! `semop(2)` with `SEM_UNDO` would have built them (read permission on
//! the set, alter permission for an adjustment other than 0). Refused: an
//! undo list shared with another process (`CLONE_SYSVSEM` without
//! `CLONE_THREAD`), and adjustments outside a pod with its own IPC
//! namespace, whose sets are not carried.

use crate::image::{ObjId, RecordType, SemUndoRec, SysvSemObj, SysvSemVal};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::prelude::*;

/// The permissions of a SysV object as the C side takes them.
pub(crate) fn perm(id: i32, key: i32, mode: u32, ids: [u32; 4]) -> bindings::ckpt_ipc_perm {
    let [uid, gid, cuid, cgid] = ids;
    bindings::ckpt_ipc_perm {
        id,
        key,
        mode,
        uid,
        gid,
        cuid,
        cgid,
        pad: 0,
    }
}

/// One set read from a namespace.
pub(crate) struct SemSet {
    info: bindings::ckpt_sem_info,
    vals: KVVec<bindings::ckpt_sem_val>,
    /// Where it was in its namespace's table, its key in the hash.
    at: usize,
}

/// Calls `f` for every set of the IPC namespace of `init` (a pod's init),
/// pids as `ns` sees them. `-EPERM` for a set the caller may not read
/// itself (the kernel log names it).
fn for_each(init: &TaskRef, ns: &PidNs, mut f: impl FnMut(SemSet) -> Result) -> Result {
    let mut pos = 0;
    let mut vals: KVVec<bindings::ckpt_sem_val> = KVVec::new();
    loop {
        crate::wrap::task::killable()?;
        // SAFETY: plain data, all zeros is valid.
        let mut info: bindings::ckpt_sem_info = unsafe { core::mem::zeroed() };
        let at = pos;
        let cap = i32::try_from(vals.capacity()).unwrap_or(i32::MAX);
        // SAFETY: the task is referenced, `ns` live; `vals` has room for
        // `cap` values, which the helper fills under the set's lock.
        let r = unsafe {
            bindings::ckpt_sem_next(
                init.as_ptr(),
                ns.as_ptr(),
                &mut pos,
                &mut info,
                vals.as_mut_ptr(),
                cap,
            )
        };
        match r {
            0 => return Ok(()),
            1 => {
                let n = usize::try_from(info.nsems).map_err(|_| EINVAL)?;
                if n > vals.capacity() {
                    return Err(EINVAL);
                }
                // SAFETY: the helper wrote `n` values, within the capacity.
                unsafe { vals.set_len(n) };
                let mut own = KVVec::with_capacity(n, GFP_KERNEL)?;
                own.extend_from_slice(&vals, GFP_KERNEL)?;
                f(SemSet {
                    info,
                    vals: own,
                    at: usize::try_from(at).map_err(|_| EINVAL)?,
                })?;
            }
            r if r == -(bindings::ENOSPC as i32) => {
                let n = usize::try_from(info.nsems).map_err(|_| EINVAL)?;
                if n > crate::image::MAX_SEMS as usize {
                    ckpt_err!(
                        "checkpoint: pid {}: SysV semaphore set {} of its pod has {} semaphores, more than {}: not supported\n",
                        init.vpid(),
                        info.perm.id,
                        n,
                        crate::image::MAX_SEMS
                    );
                    return Err(crate::wrap::errno::eopnotsupp());
                }
                vals = KVVec::with_capacity(n, GFP_KERNEL)?;
            }
            r if r == -(bindings::EAGAIN as i32) => {}
            r if r == -(bindings::EOVERFLOW as i32) => {
                ckpt_err!(
                    "checkpoint: pid {}: SysV semaphore set {} of its pod: its owner or creator has no id in the caller's user namespace: not supported\n",
                    init.vpid(),
                    info.perm.id
                );
                return Err(crate::wrap::errno::eopnotsupp());
            }
            r if r == -(bindings::EACCES as i32) || r == -(bindings::EPERM as i32) => {
                ckpt_err!(
                    "checkpoint: pid {} ({}): SysV semaphore set {} of its pod: {}: not supported\n",
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

/// Checkpoint, before anything is written: every set of the pod's IPC
/// namespace can be saved.
pub(crate) fn check(init: &TaskRef, ns: &PidNs) -> Result {
    for_each(init, ns, |_| Ok(()))
}

/// Checkpoint, after the pod record: every set of the pod's IPC
/// namespace, once.
pub(crate) fn dump_all(w: &mut ImageWriter, objs: &mut ObjHash, init: &TaskRef) -> Result {
    let ns = init.pid_ns()?;
    for_each(init, &ns, |s| objs.id_of::<SysvSem>(w, s).map(drop))
}

/// The SysV semaphore set kind of shared object.
pub(crate) struct SysvSem;

impl ObjOps for SysvSem {
    /// The set, as read from its namespace.
    type Ref = SemSet;
    type Deps = ();

    /// Its place in its namespace's table: each set is written once, by
    /// [`dump_all`], and nothing else names it.
    fn key(s: &SemSet) -> usize {
        s.at
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &SemSet) -> Result {
        Ok(())
    }

    fn write(w: &mut ImageWriter, s: &SemSet, id: ObjId, (): ()) -> Result {
        let p = &s.info.perm;
        let rec = SysvSemObj {
            id,
            semid: p.id,
            key: p.key,
            mode: p.mode & 0o777,
            uid: p.uid,
            gid: p.gid,
            cuid: p.cuid,
            cgid: p.cgid,
            nsems: u32::try_from(s.vals.len()).map_err(|_| EINVAL)?,
            ctime: s.info.ctime,
        };
        let mut vals = KVVec::with_capacity(s.vals.len() * SysvSemVal::LEN, GFP_KERNEL)?;
        for v in s.vals.iter() {
            let v = SysvSemVal {
                semval: v.semval,
                sempid: v.sempid,
                otime: v.otime,
            };
            vals.extend_from_slice(&v.encode(), GFP_KERNEL)?;
        }
        w.record_parts(RecordType::SysvSem, &[&rec.encode(), &vals])
    }

    fn hold(_: SemSet) -> Option<FileRef> {
        None
    }
}

/// Before the point of no return: makes set `o` again, with its id and
/// values (`vals`, checked by the parser), in the restoring task's IPC
/// namespace (the pod's new one: the parser takes sets only in a pod with
/// its own).
pub(crate) fn restore(objs: &mut ObjTable, o: &SysvSemObj, vals: &[u8]) -> Result {
    crate::sysvshm::check_maker()?;
    let info = bindings::ckpt_sem_info {
        perm: perm(o.semid, o.key, o.mode, [o.uid, o.gid, o.cuid, o.cgid]),
        nsems: i32::try_from(o.nsems).map_err(|_| EINVAL)?,
        pad: 0,
        ctime: o.ctime,
    };
    let n = usize::try_from(o.nsems).map_err(|_| EINVAL)?;
    let mut c = KVVec::with_capacity(n, GFP_KERNEL)?;
    for v in SysvSemObj::values(vals) {
        c.push(
            bindings::ckpt_sem_val {
                semval: v.semval,
                sempid: v.sempid,
                otime: v.otime,
            },
            GFP_KERNEL,
        )?;
    }
    if c.len() != n {
        return Err(EINVAL);
    }
    // SAFETY: `info` is valid and `c` holds its `nsems` values; the helper
    // creates the set in current's IPC namespace under its locks.
    let r = unsafe { bindings::ckpt_sem_create(&info, c.as_ptr()) };
    kernel::error::to_result(r).inspect_err(|e| {
        ckpt_err!(
            "restart: cannot make SysV semaphore set {} (key {:#x}) again (error {})\n",
            o.semid,
            o.key,
            e.to_errno()
        )
    })?;
    objs.add(o.id, Obj::Ipc)
}

/// Calls `f` with the set id and adjustments of every set on the undo list
/// of the process of `task` (a leader). `-EOPNOTSUPP` for a list it
/// shares with another process (the kernel log says which).
fn for_each_undo(task: &TaskRef, mut f: impl FnMut(i32, &[i16]) -> Result) -> Result {
    let mut pos = 0;
    let mut adj: KVVec<i16> = KVVec::with_capacity(64, GFP_KERNEL)?;
    loop {
        crate::wrap::task::killable()?;
        let (mut semid, mut nsems) = (0, 0);
        let cap = i32::try_from(adj.capacity()).map_err(|_| EINVAL)?;
        // SAFETY: the task is referenced; `adj` has room for `cap`
        // entries, which the helper fills under task_lock and the undo
        // list's lock.
        let r = unsafe {
            bindings::ckpt_sem_undo_next(
                task.as_ptr(),
                &mut pos,
                &mut semid,
                adj.as_mut_ptr(),
                cap,
                &mut nsems,
            )
        };
        let n = usize::try_from(nsems).map_err(|_| EINVAL)?;
        match r {
            0 => return Ok(()),
            1 => {
                if n > adj.capacity() {
                    return Err(EINVAL);
                }
                // SAFETY: the helper wrote `n` entries, within the capacity.
                unsafe { adj.set_len(n) };
                f(semid, &adj)?;
            }
            r if r == -(bindings::ENOSPC as i32) => {
                adj = KVVec::with_capacity(n, GFP_KERNEL)?;
            }
            r if r == -(bindings::EACCES as i32) => {
                return Err(crate::forest::refuse(
                    task,
                    format_args!(
                        "has SEM_UNDO adjustments on SysV semaphore set {semid}, which it may no longer alter (its restart could not give them back)"
                    ),
                ));
            }
            r if r == -(bindings::EBUSY as i32) => {
                return Err(crate::forest::refuse(
                    task,
                    format_args!(
                        "shares its SysV semaphore undo list with another process, or has threads with lists of their own (CLONE_SYSVSEM)"
                    ),
                ));
            }
            r => return Err(Error::from_errno(r)),
        }
    }
}

/// Checkpoint, before anything is written: the `SEM_UNDO` adjustments of
/// the live processes of `tasks` can be saved: in a pod with an IPC
/// namespace of its own (`pod_ipc`), whose sets are saved, from undo
/// lists of their own.
pub(crate) fn check_undo(tasks: &[TaskRef], pod_ipc: bool) -> Result {
    for t in tasks
        .iter()
        .filter(|t| t.exit_state() == 0 && t.is_group_leader())
    {
        for_each_undo(t, |_, _| {
            if pod_ipc {
                Ok(())
            } else {
                Err(crate::forest::refuse(
                    t,
                    format_args!(
                        "has SysV semaphore undo adjustments (SEM_UNDO; carried only in a pod with an IPC namespace of its own)"
                    ),
                ))
            }
        })?;
    }
    Ok(())
}

/// Checkpoint, after the fd records of `task` (a leader): a `sem-undo`
/// record for each set on its process's undo list.
pub(crate) fn dump_undo(w: &mut ImageWriter, task: &TaskRef) -> Result {
    for_each_undo(task, |semid, adj| {
        let rec = SemUndoRec {
            semid,
            nsems: u32::try_from(adj.len()).map_err(|_| EINVAL)?,
        };
        let len = adj.len().checked_mul(2).ok_or(EINVAL)?;
        let mut bytes = KVVec::with_capacity(len.next_multiple_of(8), GFP_KERNEL)?;
        for a in adj {
            bytes.extend_from_slice(&a.to_le_bytes(), GFP_KERNEL)?;
        }
        let pad = [0u8; 8];
        let pad = pad.get(..len.next_multiple_of(8) - len).ok_or(EINVAL)?;
        bytes.extend_from_slice(pad, GFP_KERNEL)?;
        w.record_parts(RecordType::SemUndo, &[&rec.encode(), &bytes])
    })
}

/// After the point of no return, with the process's own credentials: its
/// `SEM_UNDO` adjustments `adj` (checked by the parser) on set `semid`.
pub(crate) fn apply_undo(semid: i32, adj: &[u8]) -> Result {
    let mut vals: KVVec<i16> = KVVec::with_capacity(adj.len() / 2, GFP_KERNEL)?;
    for a in SemUndoRec::adjustments(adj) {
        vals.push(a, GFP_KERNEL)?;
    }
    let n = i32::try_from(vals.len()).map_err(|_| EINVAL)?;
    // SAFETY: `vals` holds `n` entries; the helper copies them under the
    // set's lock into current's undo entry for the set.
    kernel::error::to_result(unsafe { bindings::ckpt_sem_undo_set(semid, vals.as_ptr(), n) })
        .inspect_err(|e| {
            ckpt_err!(
                "restart: cannot give back the SEM_UNDO adjustments on SysV semaphore set {} (error {}{})\n",
                semid,
                e.to_errno(),
                if *e == EACCES {
                    ": the process may not alter the set"
                } else {
                    ""
                }
            )
        })
}
