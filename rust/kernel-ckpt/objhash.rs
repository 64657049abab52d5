// SPDX-License-Identifier: GPL-2.0

//! The object hash: kernel objects shared between tasks are saved once.
//!
//! At checkpoint, [`ObjHash`] maps the address of a kernel object (a
//! `struct file`, a `struct pipe_inode_info`, the inode of shared memory)
//! to the id it was given when
//! it was first written; later references write only the id. Ids are
//! numbered from 1 in the order objects are written, which is the order a
//! reader meets them, so the image crate's parser can check that every
//! reference names an object written before it.
//!
//! At restart, [`ObjTable`] holds what the first reference created (an open
//! file, the two ends of a new pipe), indexed by id, so that every later
//! reference gets the same object: two descriptors in two processes that
//! shared one open file share one again, with one offset.
//!
//! The hash holds a reference on every file it has seen, so an address
//! cannot be freed and reused for another object while the checkpoint
//! runs (the pipe of a file lives as long as the file).

use crate::image::ObjId;
use crate::objects::{Obj, ObjKind, ObjOps};
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use kernel::prelude::*;

/// Checkpoint side: object address → id.
pub(crate) struct ObjHash {
    /// Sorted by key for binary search.
    ids: KVVec<((ObjKind, usize), ObjId)>,
    /// Keeps every file seen alive until the image is written.
    held: KVVec<FileRef>,
    last: ObjId,
}

impl ObjHash {
    pub(crate) fn new() -> Self {
        Self {
            ids: KVVec::new(),
            held: KVVec::new(),
            last: 0,
        }
    }

    /// The id of object `r` of kind `K`, written now with the objects it
    /// names (first) if it is new.
    pub(crate) fn id_of<K: ObjOps>(&mut self, w: &mut ImageWriter, r: K::Ref) -> Result<ObjId> {
        let key = K::key(&r);
        if let Some(id) = self.lookup(K::KIND, key) {
            return Ok(id);
        }
        let deps = K::write_deps(w, self, &r)?;
        let id = self.insert(K::KIND, key)?;
        K::write(w, &r, id, deps)?;
        if let Some(file) = K::hold(r) {
            self.hold(file)?;
        }
        Ok(id)
    }

    /// The id of the object at `addr`, if it was written already.
    fn lookup(&self, kind: ObjKind, addr: usize) -> Option<ObjId> {
        self.ids
            .binary_search_by(|(k, _)| k.cmp(&(kind, addr)))
            .ok()
            .and_then(|i| self.ids.get(i))
            .map(|(_, id)| *id)
    }

    /// Gives the object at `addr` the next id; the caller writes it now.
    fn insert(&mut self, kind: ObjKind, addr: usize) -> Result<ObjId> {
        let key = (kind, addr);
        let at = match self.ids.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(_) => return Err(EEXIST),
            Err(at) => at,
        };
        let id = self.last.checked_add(1).ok_or(E2BIG)?;
        // Append, then rotate the new entry into its sorted place.
        self.ids.push((key, id), GFP_KERNEL)?;
        self.ids.get_mut(at..).ok_or(EINVAL)?.rotate_right(1);
        self.last = id;
        Ok(id)
    }

    /// Keeps `file` referenced until the checkpoint ends.
    fn hold(&mut self, file: FileRef) -> Result {
        self.held.push(file, GFP_KERNEL)?;
        Ok(())
    }
}

/// Restart side: id → object.
///
/// Every object holds open files until the restart ends; they count
/// against the caller's `RLIMIT_NOFILE`, as if the caller held them as
/// descriptors, so an image cannot make the kernel hold more files than
/// its caller could open.
pub(crate) struct ObjTable {
    objs: KVVec<Obj>,
    /// Open files held by `objs`, and how many the caller may hold.
    files: usize,
    max_files: usize,
}

impl ObjTable {
    pub(crate) fn new() -> Self {
        // SAFETY: current and its signal_struct are valid; a racy read of
        // the caller's own soft limit, as the fd allocator makes it.
        let max_files = unsafe {
            (*(*crate::wrap::task::current()).signal).rlim
                [kernel::bindings::RLIMIT_NOFILE as usize]
                .rlim_cur
        };
        Self {
            objs: KVVec::new(),
            files: 0,
            max_files,
        }
    }

    /// Adds the object with id `id`, which must be the next one (the image
    /// parser checked the order already; this keeps the table honest).
    pub(crate) fn add(&mut self, id: ObjId, obj: Obj) -> Result {
        if usize::try_from(id).ok() != self.objs.len().checked_add(1) {
            ckpt_err!("restart: object {} out of order\n", id);
            return Err(EINVAL);
        }
        self.files = self.files.saturating_add(obj.files());
        if self.files > self.max_files {
            ckpt_err!(
                "restart: the image holds more open files than RLIMIT_NOFILE ({})\n",
                self.max_files
            );
            return Err(EMFILE);
        }
        self.objs.push(obj, GFP_KERNEL_ACCOUNT)?;
        Ok(())
    }

    fn get_mut(&mut self, id: ObjId) -> Result<&mut Obj> {
        let i = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .ok_or(EINVAL)?;
        self.objs.get_mut(i).ok_or(EINVAL)
    }

    /// The open file with id `id`.
    pub(crate) fn file(&mut self, id: ObjId) -> Result<&FileRef> {
        match self.get_mut(id)? {
            Obj::File(f) => Ok(f),
            _ => {
                ckpt_err!("restart: object {} is not an open file\n", id);
                Err(EINVAL)
            }
        }
    }

    /// The shared memory file with id `id`.
    pub(crate) fn shmem(&mut self, id: ObjId) -> Result<&FileRef> {
        match self.get_mut(id)? {
            Obj::Shmem(f) => Ok(f),
            _ => {
                ckpt_err!("restart: object {} is not shared memory\n", id);
                Err(EINVAL)
            }
        }
    }

    /// Takes one end of the pipe with id `id` for its file record.
    pub(crate) fn take_pipe_end(&mut self, id: ObjId, write: bool) -> Result<FileRef> {
        let end = match self.get_mut(id)? {
            Obj::Pipe { read, write: w } => {
                if write {
                    w.take()
                } else {
                    read.take()
                }
            }
            _ => {
                ckpt_err!("restart: object {} is not a pipe\n", id);
                return Err(EINVAL);
            }
        };
        let end = end.ok_or_else(|| {
            ckpt_err!(
                "restart: two open files of one end of pipe {}: not supported\n",
                id
            );
            crate::wrap::errno::eopnotsupp()
        })?;
        // The end moves to a file object, which counts it again.
        self.files = self.files.saturating_sub(1);
        Ok(end)
    }
}
