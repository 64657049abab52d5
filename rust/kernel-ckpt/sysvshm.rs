// SPDX-License-Identifier: GPL-2.0

//! SysV shared memory segments of a pod's IPC namespace.
//!
//! C header: [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h)
//! (the state private to `ipc/shm.c`: the segments of a namespace, the
//! segment behind an attachment, a segment made with its id).
//!
//! A segment belongs to an IPC namespace, not to a task: a pod with an
//! IPC namespace of its own has every segment of it saved, attached or
//! not, right after the pod record ([`dump_all`]): its id, key, owner and
//! creator, mode (and whether it was removed while attached), times,
//! creator's and last user's pids, and its pages, as shared memory's are
//! (holes left out). The hash keys each by its shmem file, so a VMA of an
//! attachment (`shmat(2)`) names it by object id (`VMA_SYSV_SHM`).
//!
//! Restart makes each segment again in the restoring task's IPC namespace
//! (the pod's new one) with its id (the namespace's `next_id`, as the
//! `kernel.shm_next_id` sysctl sets it), key, owner (which its creator may
//! set) and creator (ids the caller may take: `-EPERM` otherwise), fills
//! its pages, and holds it (one attachment more, without a mapping) while
//! the tasks attach it again at their VMAs with `do_shmat` (with its
//! permission checks, under the task's own credentials). When the restart
//! ends the hold is dropped ([`ShmHold`]): a segment saved as removed is
//! removed then, as `IPC_RMID` does, and goes once its last attachment
//! goes.

use crate::image::{ObjId, RecordType, SysvShmObj, PAGE_SIZE, SHM_DEST};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::task::{PidNs, TaskRef};
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

/// The SysV segment attached through `file` (a VMA's file): its id and its
/// shmem file, or `None` if it is not an attachment.
///
/// # Safety
///
/// `file` must be a valid file, referenced for the duration of the call.
pub(crate) unsafe fn of_attachment(file: *mut bindings::file) -> Option<(i32, FileRef)> {
    let mut shmem = core::ptr::null_mut();
    // SAFETY: the file is valid (the caller's contract); the helper reads
    // its private data when its operations are the attachments'.
    let id = unsafe { bindings::ckpt_shm_file(file, &mut shmem) };
    if id < 0 {
        return None;
    }
    // SAFETY: `shmem` is the segment's shmem file, held by the attachment
    // file, which is referenced; this takes a reference of its own.
    let shmem = unsafe { FileRef::from_raw(NonNull::new(bindings::ckpt_get_file(shmem))?) };
    Some((id, shmem))
}

/// One segment read from a namespace, with its shmem file.
pub(crate) struct Segment {
    info: bindings::ckpt_shm_info,
    file: FileRef,
}

/// Calls `f` for every segment of the IPC namespace of `init` (a pod's
/// init), pids as `ns` sees them. `-EOPNOTSUPP` for one on huge pages or
/// locked, `-EPERM` for one the caller may not read (a pod may hold
/// segments its tasks cannot read either: the caller must be allowed to
/// read each itself); the kernel log names it.
fn for_each(init: &TaskRef, ns: &PidNs, mut f: impl FnMut(Segment) -> Result) -> Result {
    let mut pos = 0;
    loop {
        crate::wrap::task::killable()?;
        // SAFETY: plain data, all zeros is valid.
        let mut info: bindings::ckpt_shm_info = unsafe { core::mem::zeroed() };
        // SAFETY: the task is referenced, `ns` live; the helper takes the
        // namespace's locks and returns NULL, an ERR_PTR or a referenced
        // file.
        let r = unsafe { bindings::ckpt_shm_next(init.as_ptr(), ns.as_ptr(), &mut pos, &mut info) };
        let Some(r) = NonNull::new(r) else {
            return Ok(());
        };
        // SAFETY: a non-NULL result is an ERR_PTR or carries a reference.
        let file = match unsafe { FileRef::from_made(r.as_ptr()) } {
            Ok(file) => file,
            // Removed meanwhile (by a process outside the pod that shares
            // its namespace): not in the image.
            Err(e) if e == EAGAIN => continue,
            Err(e)
                if e == EACCES
                    || e == EPERM
                    || e == crate::wrap::errno::eoverflow()
                    || e == crate::wrap::errno::eopnotsupp() =>
            {
                let why = if e == EACCES {
                    "the caller may not read it"
                } else if e == crate::wrap::errno::eoverflow() {
                    "its owner or creator has no id in the caller's user namespace"
                } else if e == EPERM {
                    "the caller lacks CAP_CHECKPOINT_RESTORE over the IPC namespace"
                } else {
                    "it is on huge pages or locked (SHM_LOCK)"
                };
                ckpt_err!(
                    "checkpoint: pid {} ({}): SysV segment {} of its IPC namespace: {}: not supported\n",
                    init.vpid(),
                    crate::log::Shown(&init.comm()),
                    info.perm.id,
                    why
                );
                return Err(if e == EACCES {
                    EPERM
                } else if e == crate::wrap::errno::eoverflow() {
                    crate::wrap::errno::eopnotsupp()
                } else {
                    e
                });
            }
            Err(e) => return Err(e),
        };
        f(Segment { info, file })?;
    }
}

/// Checkpoint, before anything is written: every segment of the pod's
/// IPC namespace can be saved.
pub(crate) fn check(init: &TaskRef, ns: &PidNs) -> Result {
    for_each(init, ns, |_| Ok(()))
}

/// The segments the live processes of `tasks` attach, as [`key_of`] keys,
/// sorted.
fn attached(tasks: &[TaskRef]) -> Result<KVVec<usize>> {
    let mut keys = KVVec::new();
    for t in tasks
        .iter()
        .filter(|t| t.exit_state() == 0 && t.is_group_leader())
    {
        crate::mm::sysv_keys(t, &mut keys)?;
    }
    Ok(keys)
}

/// Checkpoint of a tree outside a pod with its own IPC namespace, before
/// anything is written: the segments its processes attach (of the
/// caller's IPC namespace, which `root` shares) can be saved. Their
/// number.
pub(crate) fn check_attached(root: &TaskRef, ns: &PidNs, tasks: &[TaskRef]) -> Result<usize> {
    let keys = attached(tasks)?;
    if !keys.is_empty() {
        for_each(root, ns, |_| Ok(()))?;
    }
    Ok(keys.len())
}

/// Checkpoint of such a tree, before its tasks: the segments its
/// processes attach, once each, with their contents.
pub(crate) fn dump_attached(
    w: &mut ImageWriter,
    objs: &mut ObjHash,
    root: &TaskRef,
    ns: &PidNs,
    tasks: &[TaskRef],
) -> Result {
    let keys = attached(tasks)?;
    if keys.is_empty() {
        return Ok(());
    }
    for_each(root, ns, |s| {
        if keys.binary_search(&key_of(&s.file)).is_ok() {
            objs.id_of::<SysvShm>(w, s)?;
        }
        Ok(())
    })
}

/// Checkpoint, after the pod record: every segment of the pod's IPC
/// namespace, once, with its contents.
pub(crate) fn dump_all(w: &mut ImageWriter, objs: &mut ObjHash, init: &TaskRef) -> Result {
    // The hash keeps the namespace; the pids are the pod's.
    let ns = init.pid_ns()?;
    for_each(init, &ns, |s| objs.id_of::<SysvShm>(w, s).map(drop))
}

/// The SysV segment kind of shared object.
pub(crate) struct SysvShm;

impl ObjOps for SysvShm {
    /// The segment, as read from its namespace; looked up by its shmem
    /// file ([`key_of`]).
    type Ref = Segment;
    type Deps = ();

    fn key(s: &Segment) -> usize {
        key_of(&s.file)
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &Segment) -> Result {
        Ok(())
    }

    fn write(w: &mut ImageWriter, s: &Segment, id: ObjId, (): ()) -> Result {
        let i = &s.info;
        let p = &i.perm;
        let rec = SysvShmObj {
            id,
            shmid: p.id,
            key: p.key,
            mode: p.mode & (0o777 | SHM_DEST),
            uid: p.uid,
            gid: p.gid,
            cuid: p.cuid,
            cgid: p.cgid,
            cpid: i.cpid,
            lpid: i.lpid,
            size: i.size,
            atime: i.atime,
            dtime: i.dtime,
            ctime: i.ctime,
            nattch: i.nattch,
        };
        w.record(RecordType::SysvShm, &rec.encode())?;
        crate::shmem::write_contents(w, &s.file, id, rec.pages_size())
    }

    fn hold(s: Segment) -> Option<FileRef> {
        Some(s.file)
    }
}

/// The hash key of the segment whose shmem file is `file`.
pub(crate) fn key_of(file: &FileRef) -> usize {
    file.inode_addr()
}

/// A segment made again, held until the restart ends.
///
/// # Invariants
///
/// `ns` is referenced, and the segment `shmid` of it, whose shmem file is
/// `file`, has one attachment more than its VMAs, taken by
/// `ckpt_shm_create`; `lpid` is NULL or referenced.
pub(crate) struct ShmHold {
    file: FileRef,
    shmid: i32,
    ns: NonNull<bindings::ipc_namespace>,
    rmid: bool,
    /// The saved times and last user, which the restart's attachments
    /// change and the release puts back.
    atime: i64,
    dtime: i64,
    lpid: *mut bindings::pid,
}

impl ShmHold {
    /// The segment's SysV id.
    pub(crate) fn shmid(&self) -> i32 {
        self.shmid
    }

    /// Its shmem file, which its saved pages are written into.
    pub(crate) fn file(&self) -> &FileRef {
        &self.file
    }
}

impl Drop for ShmHold {
    fn drop(&mut self) {
        // SAFETY: by the type invariant; the helper drops the hold and the
        // namespace reference, under the namespace's locks.
        unsafe {
            bindings::ckpt_shm_release(
                self.ns.as_ptr(),
                self.shmid,
                self.file.as_ptr(),
                self.rmid,
                self.atime,
                self.dtime,
                self.lpid,
            )
        };
    }
}

/// Restart: `-EACCES` unless the restoring task, with the ids it is being
/// restored with, may attach segment `shmid` with `flags` (`shmat(2)`'s
/// check).
pub(crate) fn may_attach(shmid: i32, flags: i32) -> Result {
    // SAFETY: plain integers; the helper looks the segment up in current's
    // IPC namespace under RCU.
    kernel::error::to_result(unsafe { bindings::ckpt_shm_access(shmid, flags) }).inspect_err(|e| {
        ckpt_err!(
            "restart: may not attach SysV segment {} (error {})\n",
            shmid,
            e.to_errno()
        )
    })
}

/// `-EINVAL` unless the restoring task is the init of its pid namespace:
/// a pod's SysV objects come before every task's records (the parser
/// checks), so the pod's init makes them, in the new IPC namespace the
/// coordinator checked it has.
pub(crate) fn check_maker() -> Result {
    if TaskRef::current_ref().is_pidns_init() {
        Ok(())
    } else {
        Err(crate::restore::bad(
            "a SysV object not made by the pod's init",
        ))
    }
}

/// Before the point of no return: makes segment `o` again in the
/// restoring task's IPC namespace, with its id. The image must be of a
/// pod (the parser checks), whose tasks run in a new IPC namespace.
pub(crate) fn restore(objs: &mut ObjTable, o: &SysvShmObj) -> Result {
    // Segments come before every task's records (the parser checks): the
    // first task restored makes them, a pod's init in its new IPC
    // namespace (the coordinator checked it has one), a tree's root in
    // the caller's, where an id in use fails with -EEXIST.
    let info = bindings::ckpt_shm_info {
        perm: crate::sysvsem::perm(o.shmid, o.key, o.mode, [o.uid, o.gid, o.cuid, o.cgid]),
        cpid: o.cpid,
        lpid: o.lpid,
        size: o.size,
        atime: o.atime,
        dtime: o.dtime,
        ctime: o.ctime,
        nattch: 0,
    };
    if o.pages_size() / PAGE_SIZE as u64 == 0 {
        return Err(EINVAL);
    }
    let (mut ns, mut lpid) = (core::ptr::null_mut(), core::ptr::null_mut());
    // SAFETY: `info` is valid; the helper creates the segment in current's
    // IPC namespace under its locks and returns a referenced file, a
    // referenced namespace and a referenced pid (or NULL), or an ERR_PTR.
    let made = unsafe { FileRef::from_made(bindings::ckpt_shm_create(&info, &mut ns, &mut lpid)) };
    let file = made.inspect_err(|e| {
        ckpt_err!(
            "restart: cannot make SysV segment {} (key {:#x}) again (error {}){}\n",
            o.shmid,
            o.key,
            e.to_errno(),
            if *e == EEXIST {
                ": its id or key is in use in the IPC namespace (ipcs -m; a checkpoint without --kill leaves the original)"
            } else {
                ""
            }
        )
    })?;
    let ns = NonNull::new(ns).ok_or(EINVAL)?;
    // INVARIANT: the helper took the hold and the namespace reference.
    let hold = ShmHold {
        file,
        shmid: o.shmid,
        ns,
        rmid: o.mode & SHM_DEST != 0,
        atime: o.atime,
        dtime: o.dtime,
        lpid,
    };
    objs.add(o.id, Obj::SysvShm(hold))
}
