// SPDX-License-Identifier: GPL-2.0

//! Epoll sets: the files a set watches, by identity.
//!
//! C header: [`include/linux/eventpoll.h`](srctree/include/linux/eventpoll.h).
//!
//! An epoll set is the `struct eventpoll` behind one open file. It is a
//! kind of shared object ([`Epoll`], `objects.rs`) written once, before its
//! open file and after the open files it watches (its dependencies, so a
//! set watching another set writes that one first; the kernel refuses
//! loops). An item names its file by object id, not by descriptor: the
//! descriptor number it was added under is kept as the item's key, as
//! epoll keeps it, even where that descriptor was closed or now names
//! another file.
//!
//! Restart makes a new set, adds each item as epoll_ctl(2) adds one (with
//! its checks, under the caller's credentials), then gives it its saved
//! events and its place on or off the ready list (`ckpt_epoll_add`): a
//! disarmed one-shot item stays disarmed, and an edge-triggered item that
//! was reported is not reported again. The file record then takes the set.

use crate::image::{EpollItem, EpollObj, ObjId, RecordType, EPOLL_ITEM_READY, FILE_EPOLL};
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::open_file::OpenFile;
use crate::wrap::file::FileRef;
use crate::wrap::task::{killable, TaskRef};
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// Whether `file` is an epoll set.
pub(crate) fn is_epoll(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper compares its f_op.
    unsafe { bindings::ckpt_file_is_epoll(file.as_ptr()) }
}

/// One item of a set as the checkpoint reads it.
pub(crate) struct Item {
    /// The watched file.
    pub(crate) file: FileRef,
    fd: i32,
    events: u32,
    data: u64,
    ready: bool,
}

/// The items of the set `file`, each holding its file.
pub(crate) fn items(file: &FileRef) -> Result<KVVec<Item>> {
    // Frozen tasks do not change their sets, but a task outside the tree
    // sharing one may: a few tries with a larger buffer, then EBUSY.
    let mut cap: usize = 16;
    for _ in 0..4 {
        let mut raw = KVVec::with_capacity(cap, GFP_KERNEL)?;
        for _ in 0..cap {
            // SAFETY: all-zero is a valid `ckpt_epoll_item` (a null file
            // pointer, integers and `false`).
            let item = unsafe { core::mem::zeroed::<bindings::ckpt_epoll_item>() };
            raw.push(item, GFP_KERNEL)?;
        }
        let max = u32::try_from(cap).map_err(|_| E2BIG)?;
        // Allocated first: nothing fails between the helper's taking
        // references and their owners taking them over.
        let mut out = KVVec::with_capacity(cap, GFP_KERNEL)?;
        // SAFETY: the file is referenced and `raw` holds `max` items; the
        // helper takes the set's mutex and fills at most `max` of them,
        // each with a reference on its file that passes to us.
        let n = unsafe { bindings::ckpt_epoll_items(file.as_ptr(), raw.as_mut_ptr(), max) };
        to_result(n)?;
        let n = usize::try_from(n).map_err(|_| EINVAL)?;
        for it in raw.iter().take(n.min(cap)) {
            // Never null for the items the helper filled in.
            let Some(f) = NonNull::new(it.file) else {
                continue;
            };
            // SAFETY: the helper took a reference on every file it filled
            // in, and each is taken over once, here.
            let f = unsafe { FileRef::from_raw(f) };
            out.push(
                Item {
                    file: f,
                    fd: it.fd,
                    events: it.events,
                    data: it.data,
                    ready: it.ready,
                },
                GFP_KERNEL,
            )?;
        }
        if n <= cap {
            return Ok(out);
        }
        // `out` puts its references; try again with room for all.
        cap = n.checked_add(16).ok_or(E2BIG)?;
    }
    ckpt_err!("checkpoint: an epoll set keeps changing while it is saved\n");
    Err(EBUSY)
}

/// Appends to `out` every file the set `file` watches, itself or through
/// the sets it watches (each set walked once).
pub(crate) fn watched(file: &FileRef, out: &mut KVec<FileRef>) -> Result {
    let mut sets = KVec::new();
    sets.push(file.clone_ref(), GFP_KERNEL)?;
    let mut next = 0;
    while let Some(set) = sets.get(next).map(FileRef::clone_ref) {
        next += 1;
        for it in items(&set)? {
            killable()?;
            if is_epoll(&it.file) {
                if !sets.iter().any(|s| s.as_ptr() == it.file.as_ptr()) {
                    sets.push(it.file, GFP_KERNEL)?;
                }
            } else {
                out.push(it.file, GFP_KERNEL)?;
            }
        }
    }
    Ok(())
}

/// The first file that the set `file` watches (itself or through the
/// sets it watches) that a restart could not bring back: the phrase and
/// the file's path.
pub(crate) fn unsupported(
    task: &TaskRef,
    file: &FileRef,
) -> Result<Option<(&'static str, KVec<u8>)>> {
    let mut files = KVec::new();
    watched(file, &mut files)?;
    for f in files.iter() {
        killable()?;
        // SAFETY: the task and the file are referenced; the helper takes
        // the locks it needs and returns NULL or a static string.
        let why = crate::wrap::task::static_str(unsafe {
            bindings::ckpt_file_unsupported(task.as_ptr(), f.as_ptr())
        });
        if let Some(why) = why {
            return Ok(Some((why, f.path_name()?)));
        }
    }
    Ok(None)
}

/// The epoll set kind of shared object.
pub(crate) struct Epoll;

impl ObjOps for Epoll {
    /// The set's file.
    type Ref = FileRef;
    /// Its items, with their files' ids.
    type Deps = KVVec<EpollItem>;

    fn key(file: &FileRef) -> usize {
        file.as_ptr() as usize
    }

    /// The open file of every item.
    fn write_deps(w: &mut ImageWriter, objs: &mut ObjHash, file: &FileRef) -> Result<Self::Deps> {
        let items = items(file)?;
        if items.len() > EpollObj::MAX_ITEMS as usize {
            ckpt_err!(
                "checkpoint: an epoll set watches {} files, more than {}\n",
                items.len(),
                EpollObj::MAX_ITEMS
            );
            return Err(E2BIG);
        }
        let mut out = KVVec::with_capacity(items.len(), GFP_KERNEL)?;
        for it in items {
            killable()?;
            let id = objs.id_of::<OpenFile>(w, it.file)?;
            out.push(
                EpollItem {
                    file: id,
                    fd: it.fd,
                    events: it.events,
                    flags: if it.ready { EPOLL_ITEM_READY } else { 0 },
                    data: it.data,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(out)
    }

    /// The epoll record: the set's items.
    fn write(w: &mut ImageWriter, _: &FileRef, id: ObjId, items: Self::Deps) -> Result {
        let rec = EpollObj {
            id,
            nr_items: u32::try_from(items.len()).map_err(|_| E2BIG)?,
        };
        let mut bytes = KVVec::with_capacity(
            items.len().checked_mul(EpollItem::LEN).ok_or(E2BIG)?,
            GFP_KERNEL,
        )?;
        for it in items.iter() {
            bytes.extend_from_slice(&it.encode(), GFP_KERNEL)?;
        }
        w.record_parts(RecordType::Epoll, &[&rec.encode(), &bytes])
    }

    /// Nothing of its own: its open file, which the hash holds, keeps it.
    fn hold(_: FileRef) -> Option<FileRef> {
        None
    }
}

/// Restart: a new set with the saved items, whose files were restored
/// before it, for the file record that takes it.
pub(crate) fn restore(objs: &mut ObjTable, rec: &EpollObj, items: &[u8]) -> Result {
    // SAFETY: the helper takes no argument and returns an ERR_PTR or a file
    // with a reference, which `from_made` takes over.
    let set = unsafe { FileRef::from_made(bindings::ckpt_epoll_create())? };
    for it in EpollObj::items(items) {
        killable()?;
        let it = it.map_err(|_| EINVAL)?;
        let target = objs.file(it.file)?;
        // SAFETY: both files are referenced; the helper takes the set's
        // locks and adds the item as epoll_ctl(2) would.
        let r = unsafe {
            bindings::ckpt_epoll_add(
                set.as_ptr(),
                target.as_ptr(),
                it.fd,
                it.events,
                it.data,
                it.flags & EPOLL_ITEM_READY != 0,
            )
        };
        to_result(r).inspect_err(|e| {
            ckpt_err!(
                "restart: cannot add file {} (fd {}, events {:#x}) to epoll set {} (error {})\n",
                it.file,
                it.fd,
                it.events,
                rec.id,
                e.to_errno()
            );
        })?;
    }
    objs.add_made(rec.id, set, FILE_EPOLL)
}
