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
    InotifyEvent, InotifyObj, InotifyWatch, ObjId, RecordType, FILE_INOTIFY, IN_IGNORED,
    MAX_PAYLOAD_LEN,
};
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::path::PathRef;
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

/// A watched inode, with a reference on it and an active reference on its
/// super block (an unmount meanwhile must not take its file system away).
///
/// # Invariants
///
/// `self.0` is a valid inode, both references held, put on drop.
struct WatchedInode(NonNull<bindings::inode>);

impl Drop for WatchedInode {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this object holds both references.
        unsafe { bindings::ckpt_inotify_put_inode(self.0.as_ptr()) };
    }
}

/// Why watch `wd` of an instance cannot be saved.
struct Refusal(i32, &'static str);

/// The path of the file a watch watches, from the caller's root, which
/// leads back to that file.
fn watch_path(inode: &WatchedInode) -> Result<core::result::Result<KVec<u8>, &'static str>> {
    // SAFETY: the inode is referenced by the type invariant.
    let path = match unsafe { PathRef::to_inode(inode.0.as_ptr()) } {
        Ok(path) => path,
        Err(e) if e == ENOENT => {
            return Ok(Err(
                "watches a file with no path from the caller's root (on a detached mount, or a mount of another namespace)",
            ))
        }
        Err(e) if e == crate::wrap::errno::enametoolong() => {
            return Ok(Err("watches a file deeper than a path kernel-ckpt saves"))
        }
        Err(e) if e == E2BIG => {
            return Ok(Err(
                "watches a file whose file system is mounted too many times to search",
            ))
        }
        Err(e) => return Err(e),
    };
    let name = path.name()?;
    // A mount over it, or a name that moved meanwhile, would name another
    // file at restart.
    match PathRef::lookup_nofollow(&name) {
        Ok(back) if back.inode_addr() == inode.0.as_ptr() as usize => Ok(Ok(name)),
        _ => Ok(Err(
            "watches a file its path does not lead to (a mount hides it)",
        )),
    }
}

/// An instance's watches, each with the path it watches.
type Watches = KVVec<(InotifyWatch, KVec<u8>)>;

/// The instance's watches with their paths, or why one of them cannot be
/// saved.
fn watches(file: &FileRef) -> Result<core::result::Result<Watches, Refusal>> {
    let mut out = KVVec::new();
    let mut bytes = 0usize;
    let mut wd = 0i32;
    loop {
        killable()?;
        let mut mask = 0u32;
        // SAFETY: the file is referenced; the helper returns an ERR_PTR,
        // NULL, or an inode with the references `WatchedInode` holds.
        let inode = unsafe { bindings::ckpt_inotify_watch(file.as_ptr(), &mut wd, &mut mask) };
        let Some(inode) = NonNull::new(kernel::error::from_err_ptr(inode)?) else {
            break;
        };
        // INVARIANT: a non-NULL result carries both references.
        let inode = WatchedInode(inode);
        let path = match watch_path(&inode)? {
            Ok(path) => path,
            Err(why) => return Ok(Err(Refusal(wd, why))),
        };
        bytes += InotifyWatch::LEN + path.len();
        if out.len() >= InotifyObj::MAX_WATCHES as usize || bytes > MAX_PAYLOAD_LEN as usize / 2 {
            return Ok(Err(Refusal(wd, "is one too many to save")));
        }
        let rec = InotifyWatch {
            wd,
            mask,
            path_len: u32::try_from(path.len()).map_err(|_| EINVAL)?,
        };
        out.push((rec, path), GFP_KERNEL)?;
        match wd.checked_add(1) {
            Some(next) => wd = next,
            None => break,
        }
    }
    Ok(Ok(out))
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
        Err(crate::fdtable::refuse(
            tasks,
            i,
            fd,
            format_args!("is an inotify instance whose watch {wd} {why}"),
        ))
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
        e.map_err(|_| {
            ckpt_err!(
                "checkpoint: an inotify instance holds an event kernel-ckpt cannot save (a name longer than NAME_MAX?)\n"
            );
            crate::wrap::errno::eopnotsupp()
        })?;
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
        // Watches first, then events: a watch removed in between is saved
        // with its IN_IGNORED queued, and left out below.
        let found = watches(file)?.map_err(|Refusal(wd, why)| {
            // `check` passed: the file system changed since.
            ckpt_err!("checkpoint: inotify watch {} {}: not supported\n", wd, why);
            crate::wrap::errno::eopnotsupp()
        })?;
        // SAFETY: the file is referenced and is an inotify instance.
        let next_wd = unsafe { bindings::ckpt_inotify_next_wd(file.as_ptr()) };
        to_result(next_wd)?;
        let (events, nr_events) = events(file)?;
        let mut ignored = KVVec::new();
        for (e, _) in InotifyObj::events(&events).flatten() {
            if e.mask & IN_IGNORED != 0 {
                ignored.push(e.wd, GFP_KERNEL)?;
            }
        }
        ignored.sort_unstable();
        let mut watches = KVVec::new();
        let mut nr_watches = 0u32;
        for (w, path) in found.iter() {
            killable()?;
            if ignored.binary_search(&w.wd).is_ok() {
                continue;
            }
            watches.extend_from_slice(&w.encode(), GFP_KERNEL)?;
            watches.extend_from_slice(path, GFP_KERNEL)?;
            nr_watches += 1;
        }
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
