// SPDX-License-Identifier: GPL-2.0

//! Deleted files still open: the temporary file a program unlinks and
//! keeps using.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h).
//!
//! A regular file whose last name was unlinked while it is open lives on
//! only in its open files. It is one shared object ([`DeletedFile`],
//! `objects.rs`), keyed by its inode, written once before its first open
//! file with the path it had (its directory and last name), its size and
//! permission bits, its contents following as pages (holes left out,
//! found with `SEEK_DATA`/`SEEK_HOLE`, read through an open file of its
//! own, checked as an open of `/proc/PID/fd/N` would be). A file larger
//! than the caller's `RLIMIT_FSIZE` is refused: the image is a file the
//! caller writes. A file with another name left (a hard link) is refused
//! too: its contents are that name's.
//!
//! Restart makes the file again where it was, as the restarting task
//! (`O_CREAT|O_EXCL`, so nothing at that path is touched; a path taken
//! since, and a file that never had a name, `O_TMPFILE`, get an unnamed
//! file in the same directory), unlinks it at once (so a failed restart
//! leaves nothing behind), writes the contents, sets the size and the
//! permission bits, and opens an open file of it for each file record,
//! with its flags and position.

use crate::image::{DeletedFileObj, ObjId, RecordType, DELETED_TMPFILE, PAGE_SIZE};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// Whether `file` is an open file of a deleted regular file (its last
/// name unlinked, not on an internal mount, not a memfd).
pub(crate) fn is_deleted(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper reads its dentry, inode
    // and mount flags.
    unsafe { bindings::ckpt_file_is_deleted(file.as_ptr()) }
}

/// Another open file of `file` with `flags`; `check`: with open(2)'s
/// permission check for the access asked.
fn reopen(file: &FileRef, flags: u32, check: bool) -> Result<FileRef> {
    // SAFETY: the file is referenced; the helper returns an ERR_PTR or a
    // new file with a reference, which `from_made` takes over.
    unsafe {
        FileRef::from_made(bindings::ckpt_file_reopen(
            file.as_ptr(),
            flags as i32,
            check,
        ))
    }
}

/// The path a deleted file showed, without " (deleted)".
fn saved_path(file: &FileRef) -> Result<KVec<u8>> {
    let mut path = file.path_name()?;
    const SUFFIX: &[u8] = b" (deleted)";
    if path.ends_with(SUFFIX) {
        let keep = path.len() - SUFFIX.len();
        let mut short = KVec::with_capacity(keep, GFP_KERNEL)?;
        short.extend_from_slice(path.get(..keep).ok_or(EINVAL)?, GFP_KERNEL)?;
        path = short;
    }
    Ok(path)
}

/// Whether the last name of `path` is `#<digits>`: what an `O_TMPFILE`
/// file, which never had a name, shows.
fn is_tmpfile_name(path: &[u8]) -> bool {
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(&[]);
    name.len() > 1 && name.first() == Some(&b'#') && name.iter().skip(1).all(u8::is_ascii_digit)
}

/// The deleted-file kind of shared object.
pub(crate) struct DeletedFile;

impl ObjOps for DeletedFile {
    /// An open file of it.
    type Ref = FileRef;
    type Deps = ();

    /// Its inode: every open file of it is one object.
    fn key(file: &FileRef) -> usize {
        file.inode_addr()
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    /// The deleted-file record and its path, then its contents.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, (): ()) -> Result {
        let path = saved_path(file)?;
        // Read through an open file of its own (its position moves), as
        // the caller may read it.
        let own =
            reopen(file, bindings::O_RDONLY | bindings::O_LARGEFILE, true).inspect_err(|e| {
                ckpt_err!(
                    "checkpoint: cannot read deleted file {} (error {})\n",
                    crate::log::Shown(&path),
                    e.to_errno()
                );
            })?;
        let size = u64::try_from(own.size()).map_err(|_| EINVAL)?;
        let limit = crate::wrap::task::current_rlimit(bindings::RLIMIT_FSIZE);
        if size > crate::image::ShmemObj::MAX_SIZE {
            ckpt_err!(
                "checkpoint: deleted file {} is {} bytes long, more than an image holds\n",
                crate::log::Shown(&path),
                size
            );
            return Err(EFBIG);
        }
        if size > limit {
            ckpt_err!(
                "checkpoint: deleted file {} holds {} bytes, more than the caller's RLIMIT_FSIZE ({}): raise it (ulimit -f) to save it\n",
                crate::log::Shown(&path),
                size,
                limit
            );
            return Err(EFBIG);
        }
        let rec = DeletedFileObj {
            id,
            flags: if is_tmpfile_name(&path) {
                DELETED_TMPFILE
            } else {
                0
            },
            size,
            mode: own.mode() & 0o777,
            path_len: u32::try_from(path.len()).map_err(|_| EINVAL)?,
        };
        w.record_parts(RecordType::DeletedFile, &[&rec.encode(), &path])?;
        let pages = rec.pages_size();
        let next = |from: u64| -> Result<Option<(u64, u64)>> {
            let seek = |at: u64, whence: u32| -> Result<Option<u64>> {
                let at = i64::try_from(at).map_err(|_| EINVAL)?;
                // SAFETY: the file is referenced and ours alone: its
                // position is ours to move.
                let r = unsafe { bindings::vfs_llseek(own.as_ptr(), at, whence as i32) };
                match r {
                    r if r == ENXIO.to_errno() as i64 => Ok(None),
                    r if r < 0 => Err(Error::from_errno(r as i32)),
                    r => Ok(Some(r as u64)),
                }
            };
            if from >= size {
                return Ok(None);
            }
            // A file system that cannot tell (EINVAL), or answers what
            // cannot be (data before `from`, a hole not after the data,
            // as a FUSE server may), is read as all data from `from`.
            let (data, hole) = match seek(from, bindings::SEEK_DATA) {
                Ok(None) => return Ok(None),
                Ok(Some(d)) if d >= from => match seek(d, bindings::SEEK_HOLE) {
                    Ok(h) => {
                        let h = h.unwrap_or(size);
                        if h > d {
                            (d, h)
                        } else {
                            (from, size)
                        }
                    }
                    Err(e) if e == EINVAL => (from, size),
                    Err(e) => return Err(e),
                },
                Ok(Some(_)) => (from, size),
                Err(e) if e == EINVAL => (from, size),
                Err(e) => return Err(e),
            };
            let start = (data - data % PAGE_SIZE as u64).max(from);
            let hole = hole
                .checked_next_multiple_of(PAGE_SIZE as u64)
                .ok_or(EINVAL)?
                .min(pages);
            Ok((hole > start).then_some((start, hole)))
        };
        crate::shmem::write_runs(w, &own, id, pages, &next)
    }

    /// An open file of it: it keeps the inode, and the key, alive.
    fn hold(file: FileRef) -> Option<FileRef> {
        Some(file)
    }
}

/// Restart: the deleted file again, as the restarting task, where it was
/// (or unnamed in the same directory), unlinked at once and as large as
/// it was; its contents follow.
pub(crate) fn restore(objs: &mut ObjTable, rec: &DeletedFileObj, path: &[u8]) -> Result {
    let shown = crate::log::Shown(path);
    let rw = bindings::O_RDWR | bindings::O_LARGEFILE | bindings::O_NOFOLLOW;
    // Where the caller said (`RESTART_DELETED_HERE`): an unnamed file in
    // the restoring task's working directory, whatever directory it was in.
    let here = objs.deleted_here();
    let named = if rec.flags & DELETED_TMPFILE == 0 && !here {
        let flags = rw | bindings::O_CREAT | bindings::O_EXCL;
        match FileRef::create(path, flags as i32, 0o600) {
            Ok(f) => {
                // SAFETY: the file is referenced; it was just made at its
                // path by this restart, and the helper unlinks that name
                // as unlink(2) would.
                to_result(unsafe { bindings::ckpt_file_unlink(f.as_ptr()) }).inspect_err(|e| {
                    ckpt_err!(
                        "restart: cannot unlink {} again (error {})\n",
                        shown,
                        e.to_errno()
                    );
                })?;
                Some(f)
            }
            // Taken since: an unnamed file in the same directory.
            Err(e) if e == EEXIST => None,
            Err(e) => {
                ckpt_err!(
                    "restart: cannot make deleted file {} again (error {})\n",
                    shown,
                    e.to_errno()
                );
                return Err(e);
            }
        }
    } else {
        None
    };
    let file = match named {
        Some(f) => f,
        None => {
            let dir_len = path.iter().rposition(|&c| c == b'/').ok_or(EINVAL)?.max(1);
            let dir = if here {
                &b"."[..]
            } else {
                path.get(..dir_len).ok_or(EINVAL)?
            };
            let flags = bindings::O_TMPFILE | bindings::O_RDWR | bindings::O_LARGEFILE;
            FileRef::create(dir, flags as i32, 0o600).inspect_err(|e| {
                ckpt_err!(
                    "restart: cannot make deleted file {} again in {} (error {})\n",
                    shown,
                    crate::log::Shown(dir),
                    e.to_errno()
                );
            })?
        }
    };
    let size = i64::try_from(rec.size).map_err(|_| EINVAL)?;
    // As large as the restarting task may make a file (past it, the
    // truncate would send it SIGXFSZ).
    let limit = crate::wrap::task::current_rlimit(bindings::RLIMIT_FSIZE);
    if rec.size > limit {
        ckpt_err!(
            "restart: deleted file {} holds {} bytes, more than RLIMIT_FSIZE ({}): raise it (ulimit -f)\n",
            shown,
            rec.size,
            limit
        );
        return Err(EFBIG);
    }
    // SAFETY: the file is referenced and open for writing.
    let r = unsafe { bindings::ckpt_file_truncate(file.as_ptr(), size) };
    to_result(r.try_into().map_err(|_| EINVAL)?)?;
    objs.add(
        rec.id,
        Obj::Deleted {
            file,
            mode: rec.mode,
        },
    )
}

/// Restart: an open file of the deleted file `deleted` with the open
/// flags `flags`, at `pos`.
pub(crate) fn open(deleted: &FileRef, flags: u32, pos: i64) -> Result<FileRef> {
    let f = reopen(deleted, flags, false)?;
    if pos > 0 && f.seek(pos) != pos {
        ckpt_err!("restart: cannot seek a deleted file to {}\n", pos);
        return Err(EINVAL);
    }
    Ok(f)
}

/// The end of the image: the deleted file's permission bits (it was made
/// writable by its owner to be filled).
pub(crate) fn finish(file: &FileRef, mode: u32) -> Result {
    // SAFETY: the file is referenced; the helper changes the mode as
    // chmod(2) would, checked.
    to_result(unsafe { bindings::ckpt_file_chmod(file.as_ptr(), mode as u16) })
}
