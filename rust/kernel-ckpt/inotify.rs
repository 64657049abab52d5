// SPDX-License-Identifier: GPL-2.0

//! Inotify instances: watches by path, and the events not read yet.
//!
//! C header: [`include/linux/inotify.h`](srctree/include/linux/inotify.h).
//!
//! An inotify instance (`inotify_init1(2)`) is the `fsnotify_group` behind
//! one open file; it is one object ([`Inotify`], `objects.rs`), written
//! once before its open file with:
//!
//! - each watch by its descriptor, its mask and the path of the watched
//!   file: the kernel keeps only the inode, so the path is found through a
//!   mount of the caller's mount namespace that the caller's root reaches,
//!   and it must lead back to the same inode (a file with no such path, a
//!   deleted one for instance, is refused);
//! - the descriptor the next inotify_add_watch(2) starts from (they are
//!   handed out cyclically);
//! - the queued events, oldest first, as read(2) would return them.
//!
//! Restart makes a new instance, adds each watch under its own descriptor
//! with inotify_add_watch(2)'s checks (read permission on the file, for
//! the credentials in force), puts the cursor back and queues the events
//! again. Events that happened between the checkpoint and the restart are
//! not seen: the watched files may have changed meanwhile.

use crate::image::{
    InotifyEvent, InotifyObj, InotifyWatch, ObjId, RecordType, FILE_INOTIFY, MAX_PAYLOAD_LEN,
};
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::path::{InodeRef, PathRef};
use crate::wrap::task::killable;
use crate::wrap::task::TaskRef;
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// Whether `file` is an inotify instance.
pub(crate) fn is_inotify(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper compares its f_op.
    unsafe { bindings::ckpt_file_is_inotify(file.as_ptr()) }
}

/// The inotify kind of shared object.
pub(crate) struct Inotify;

/// Why watch `wd` of an instance cannot be saved.
struct Refusal(i32, &'static str);

/// The path of the file a watch watches, from the caller's root, which
/// leads back to that file.
fn watch_path(inode: &InodeRef) -> Result<core::result::Result<KVec<u8>, &'static str>> {
    let path = match PathRef::to_inode(inode) {
        Ok(path) => path,
        Err(e) if e == ENOENT => {
            return Ok(Err(
                "watches a file with no path from the caller's root (on a detached mount, or a mount of another namespace)",
            ))
        }
        Err(e) => return Err(e),
    };
    let name = path.name()?;
    // A mount over it, or a name that moved meanwhile, would name another
    // file at restart.
    match PathRef::lookup_nofollow(&name) {
        Ok(back) if back.inode_addr() == inode.as_ptr() as usize => Ok(Ok(name)),
        _ => Ok(Err(
            "watches a file its path does not lead to (a mount hides it)",
        )),
    }
}

/// The instance's watches as the image holds them, and their count, or
/// why one of them cannot be saved.
fn watches(file: &FileRef) -> Result<core::result::Result<(KVVec<u8>, u32), Refusal>> {
    let mut out = KVVec::new();
    let mut nr = 0u32;
    let mut wd = 0i32;
    loop {
        killable()?;
        let mut mask = 0u32;
        // SAFETY: the file is referenced; the helper returns an ERR_PTR,
        // NULL, or an inode with a reference.
        let inode = unsafe { bindings::ckpt_inotify_watch(file.as_ptr(), &mut wd, &mut mask) };
        let Some(inode) = NonNull::new(kernel::error::from_err_ptr(inode)?) else {
            break;
        };
        // SAFETY: a non-NULL result carries a reference, taken over.
        let inode = unsafe { InodeRef::from_raw(inode) };
        let path = match watch_path(&inode)? {
            Ok(path) => path,
            Err(why) => return Ok(Err(Refusal(wd, why))),
        };
        nr += 1;
        if nr > InotifyObj::MAX_WATCHES || out.len() + path.len() > MAX_PAYLOAD_LEN as usize / 2 {
            return Ok(Err(Refusal(wd, "is one too many to save")));
        }
        let rec = InotifyWatch {
            wd,
            mask,
            path_len: u32::try_from(path.len()).map_err(|_| EINVAL)?,
        };
        out.extend_from_slice(&rec.encode(), GFP_KERNEL)?;
        out.extend_from_slice(&path, GFP_KERNEL)?;
        match wd.checked_add(1) {
            Some(next) => wd = next,
            None => break,
        }
    }
    Ok(Ok((out, nr)))
}

/// Checkpoint: every watch of every inotify instance the tree holds can
/// be saved, checked before anything is written.
pub(crate) fn check(tasks: &[TaskRef]) -> Result {
    crate::fdtable::for_each_tree_file(tasks, |i, fd, file| {
        if !is_inotify(file) {
            return Ok(());
        }
        let Err(Refusal(wd, why)) = watches(file)? else {
            return Ok(());
        };
        let t = tasks.get(i).ok_or(EINVAL)?;
        let comm = t.comm();
        ckpt_err!(
            "checkpoint: pid {} ({}) fd {} is an inotify instance whose watch {} {}: not supported\n",
            t.vpid(),
            crate::log::Shown(&comm),
            fd,
            wd,
            why
        );
        Err(crate::wrap::errno::eopnotsupp())
    })
}

/// The instance's queued events as the image holds them, and their count.
fn events(file: &FileRef) -> Result<(KVVec<u8>, u32)> {
    let (mut needed, mut count) = (0usize, 0u32);
    // SAFETY: the file is referenced; with no room the helper only counts.
    let done = unsafe {
        bindings::ckpt_inotify_events(
            file.as_ptr(),
            core::ptr::null_mut(),
            0,
            &mut needed,
            &mut count,
        )
    };
    to_result(i32::try_from(done).map_err(|_| EINVAL)?)?;
    if needed > MAX_PAYLOAD_LEN as usize / 2 {
        ckpt_err!(
            "checkpoint: an inotify instance has {} bytes of events queued: not supported\n",
            needed
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    let mut buf = KVVec::from_elem(0u8, needed, GFP_KERNEL)?;
    // SAFETY: `buf` has `needed` bytes; the helper writes whole events
    // within them. Events queued since the first call do not fit and stay
    // out: they came after this point of the checkpoint.
    let done = unsafe {
        bindings::ckpt_inotify_events(
            file.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut needed,
            &mut count,
        )
    };
    let done = usize::try_from(done).map_err(|_| EINVAL)?;
    let filled = buf.get(..done).ok_or(EINVAL)?;
    // What the image reader will check, checked now.
    let mut n = 0u32;
    for e in InotifyObj::events(filled) {
        e.map_err(|_| EINVAL)?;
        n = n.checked_add(1).ok_or(EINVAL)?;
    }
    if n != count {
        return Err(EINVAL);
    }
    let mut out = KVVec::with_capacity(done, GFP_KERNEL)?;
    out.extend_from_slice(filled, GFP_KERNEL)?;
    Ok((out, count))
}

impl ObjOps for Inotify {
    /// The instance's file.
    type Ref = FileRef;
    type Deps = ();

    fn key(file: &FileRef) -> usize {
        file.as_ptr() as usize
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    /// The inotify record: the watches with their paths, the next
    /// descriptor, the queued events.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, (): ()) -> Result {
        let (watches, nr_watches) = watches(file)?.map_err(|Refusal(wd, why)| {
            // `check` passed: the file system changed since.
            ckpt_err!("checkpoint: inotify watch {} {}: not supported\n", wd, why);
            crate::wrap::errno::eopnotsupp()
        })?;
        // SAFETY: the file is referenced and is an inotify instance.
        let next_wd = unsafe { bindings::ckpt_inotify_next_wd(file.as_ptr()) };
        to_result(next_wd)?;
        let (events, nr_events) = events(file)?;
        let rec = InotifyObj {
            id,
            next_wd,
            nr_watches,
            nr_events,
            watches_len: u32::try_from(watches.len()).map_err(|_| EINVAL)?,
        };
        w.record_parts(RecordType::Inotify, &[&rec.encode(), &watches, &events])
    }

    /// Nothing of its own: its open file, which the hash holds, keeps it.
    fn hold(_: FileRef) -> Option<FileRef> {
        None
    }
}

/// Restart: a new instance with the saved watches, under their own
/// descriptors, and the saved events, for the file record that takes it.
pub(crate) fn restore(
    objs: &mut ObjTable,
    rec: &InotifyObj,
    watches: &[u8],
    events: &[u8],
) -> Result {
    // SAFETY: the helper returns an ERR_PTR or a new file with a
    // reference, which `from_made` takes over.
    let file = unsafe { FileRef::from_made(bindings::ckpt_inotify_create())? };
    for watch in InotifyObj::watches(watches) {
        killable()?;
        let (w, path) = watch.map_err(|_| EINVAL)?;
        add_watch(&file, &w, path)?;
    }
    // SAFETY: the file is referenced and is an inotify instance.
    to_result(unsafe { bindings::ckpt_inotify_set_next_wd(file.as_ptr(), rec.next_wd) })?;
    for event in InotifyObj::events(events) {
        killable()?;
        let (e, name): (InotifyEvent, &[u8]) = event.map_err(|_| EINVAL)?;
        // SAFETY: the file is referenced; `name` has `name_len` bytes,
        // which the helper copies.
        to_result(unsafe {
            bindings::ckpt_inotify_queue(
                file.as_ptr(),
                e.wd,
                e.mask,
                e.cookie,
                name.as_ptr().cast(),
                e.name_len,
            )
        })?;
    }
    objs.add_made(rec.id, file, FILE_INOTIFY)
}

/// Adds watch `w` of `path` to the new instance `file`.
fn add_watch(file: &FileRef, w: &InotifyWatch, path: &[u8]) -> Result {
    let found = PathRef::lookup_nofollow(path).and_then(|p| {
        // SAFETY: the file is referenced; the path is referenced.
        to_result(unsafe {
            bindings::ckpt_inotify_add_watch(file.as_ptr(), p.as_raw(), w.mask, w.wd)
        })
    });
    found.inspect_err(|e| {
        ckpt_err!(
            "restart: cannot watch {} again as inotify watch {} (error {})\n",
            crate::log::Shown(path),
            w.wd,
            e.to_errno()
        );
    })
}
