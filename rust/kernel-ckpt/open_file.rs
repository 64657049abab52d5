// SPDX-License-Identifier: GPL-2.0

//! Open files: the kind of shared object behind every descriptor.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).
//!
//! An open file (`struct file`) is written once, with its open flags,
//! position, kind and path, before the first descriptor that refers to it,
//! so that descriptors of several processes that shared one open file (and
//! its offset) share one again after restart. A pipe end also names its
//! pipe ([`Pipe`], written before it).
//!
//! Restart reopens regular files, character devices and directories by
//! path with the same flags and seeks to the saved position; a pipe end is
//! taken from its new pipe, a named pipe reopened by path on the FIFO its
//! object opened (`fifo.rs`). Sockets and the other kinds
//! restart cannot open are refused at checkpoint
//! (`ckpt_file_unsupported`); restart refuses them too, in an image it did
//! not write.

use crate::deleted::{self, DeletedFile};
use crate::epoll::{self, Epoll};
use crate::eventfd::{self, Eventfd};
use crate::fifo::{self, Fifo};
use crate::image::{
    FileObj, ObjId, RecordType, FILE_ANON_SHARED, FILE_CHR, FILE_DELETED, FILE_DEV_TTY, FILE_DIR,
    FILE_EPOLL, FILE_EVENTFD, FILE_FIFO, FILE_INET, FILE_INOTIFY, FILE_MEMFD, FILE_MQUEUE, FILE_NS,
    FILE_OTHER, FILE_PACKET, FILE_PEER_END, FILE_PIDFD, FILE_PIPE, FILE_PTY, FILE_REG,
    FILE_SIGNALFD, FILE_SOCK, FILE_TIMERFD, FILE_UNIX, FILE_UNLINKED,
};
use crate::inotify::{self, Inotify};
use crate::memfd::{self, Memfd};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::pidfd::{self, Pidfd};
use crate::pipe::{self, Pipe};
use crate::pty::{self, Pty};
use crate::signalfd::{self, Signalfd};
use crate::timerfd::{self, Timerfd};
use crate::unix::{self, UnixPair, UnixPending, UnixSock};
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::prelude::*;

/// Open flags that a reopen keeps (the rest, like `O_CREAT` and
/// `O_TRUNC`, only mattered at the first open).
const REOPEN_FLAGS: u32 = 0o3 /* O_ACCMODE */
    | 0o2000 /* O_APPEND */
    | 0o4000 /* O_NONBLOCK */
    | 0o10000 /* O_DSYNC */
    | 0o40000 /* O_DIRECT */
    | 0o100000 /* O_LARGEFILE */
    | 0o200000 /* O_DIRECTORY */
    | 0o400000 /* O_NOFOLLOW */
    | 0o1000000 /* O_NOATIME */
    | 0o4010000 /* O_SYNC */
    | 0o10000000 /* O_PATH */;

fn kind_of(mode: u32) -> u32 {
    match mode & 0o170000 {
        0o100000 => FILE_REG,
        0o020000 => FILE_CHR,
        0o040000 => FILE_DIR,
        0o010000 => FILE_FIFO,
        0o140000 => FILE_SOCK,
        _ => FILE_OTHER,
    }
}

/// Why `file`, in flight in a message queued to a unix socket of `task`
/// (sent with `SCM_RIGHTS`, not received yet), could not be carried, as a
/// phrase ("is a socket"), or `None`. In flight are carried only the
/// files whose saving needs no look at the rest of the tree: not
/// sockets (a socket in flight may carry more in its own queue), epoll
/// sets, terminals, inotify instances, pidfds or namespace files (each
/// checked against the tree's tasks and files), nor files that signal
/// their I/O or are locked (owners and locks are saved with descriptor
/// tables).
pub(crate) fn in_flight_unsupported(
    task: &crate::wrap::task::TaskRef,
    file: &FileRef,
) -> Result<Option<&'static str>> {
    // SAFETY: the task and the file are referenced; the helper takes the
    // locks it needs and returns NULL or a static string.
    let why = crate::wrap::task::static_str(unsafe {
        bindings::ckpt_file_unsupported(task.as_ptr(), file.as_ptr())
    });
    if why.is_some() {
        return Ok(why);
    }
    // SAFETY: the file is referenced; the helper compares its f_op.
    let ns = unsafe { bindings::ckpt_file_is_ns(file.as_ptr()) };
    Ok(if kind_of(file.mode()) == FILE_SOCK {
        Some("is a socket")
    } else if epoll::is_epoll(file) {
        Some("is an epoll set")
    } else if pty::pty_of(file).is_some() {
        Some("is a terminal")
    } else if inotify::is_inotify(file) {
        Some("is an inotify instance")
    } else if pidfd::is_pidfd(file) {
        Some("is a pidfd")
    } else if ns {
        Some("is a namespace file")
    } else if crate::posix_mq::is_mqueue(file) {
        Some("is a POSIX message queue")
    } else if crate::fown::signals(file)? {
        Some("signals its I/O (O_ASYNC, F_SETOWN, F_SETSIG)")
    } else if crate::locks::any(task, file)? {
        Some("is locked")
    } else {
        None
    })
}

/// The open-file kind of shared object: a `struct file`.
pub(crate) struct OpenFile;

/// What a file record needs of the objects it names.
pub(crate) struct FileDeps {
    kind: u32,
    /// The object the file is of (a pipe end's pipe, an eventfd), 0 for
    /// files reopened by path.
    obj: ObjId,
    /// `FILE_PEER_END` for end 1 of a unix socket pair.
    flags: u32,
}

impl ObjOps for OpenFile {
    type Ref = FileRef;
    type Deps = FileDeps;

    fn key(file: &FileRef) -> usize {
        file.as_ptr() as usize
    }

    /// A pipe end's pipe, an eventfd's, signalfd's or timerfd's context, an
    /// epoll set (with the files it watches).
    fn write_deps(w: &mut ImageWriter, objs: &mut ObjHash, file: &FileRef) -> Result<FileDeps> {
        if let Some(p) = pipe::anon_pipe_of(file) {
            return Ok(FileDeps {
                kind: FILE_PIPE,
                obj: objs.id_of::<Pipe>(w, p)?,
                flags: 0,
            });
        }
        if pipe::fifo_of(file).is_some() {
            return Ok(FileDeps {
                kind: FILE_FIFO,
                obj: objs.id_of::<Fifo>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if crate::posix_mq::is_mqueue(file) {
            // Its queue was written with the pod's (`posix_mq::dump_all`).
            let key = <crate::posix_mq::PosixMq as ObjOps>::key(file);
            return Ok(FileDeps {
                kind: FILE_MQUEUE,
                obj: objs
                    .id_by_key::<crate::posix_mq::PosixMq>(key)
                    .ok_or(EINVAL)?,
                flags: 0,
            });
        }
        if eventfd::is_eventfd(file) {
            return Ok(FileDeps {
                kind: FILE_EVENTFD,
                obj: objs.id_of::<Eventfd>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if timerfd::is_timerfd(file) {
            return Ok(FileDeps {
                kind: FILE_TIMERFD,
                obj: objs.id_of::<Timerfd>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        // SAFETY: the file is referenced; the helper compares its f_op.
        if unsafe { bindings::ckpt_file_is_ns(file.as_ptr()) } {
            // A namespace of the process's own (checked with the tree): its
            // name says which kind.
            return Ok(FileDeps {
                kind: FILE_NS,
                obj: 0,
                flags: 0,
            });
        }
        if inotify::is_inotify(file) {
            return Ok(FileDeps {
                kind: FILE_INOTIFY,
                obj: objs.id_of::<Inotify>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if pidfd::is_pidfd(file) {
            return Ok(FileDeps {
                kind: FILE_PIDFD,
                obj: objs.id_of::<Pidfd>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if crate::shmem::is_anon_shared(file) {
            // The object its mappings name (written with the first of
            // them, or now with its contents).
            return Ok(FileDeps {
                kind: FILE_ANON_SHARED,
                obj: objs.id_of::<crate::shmem::Shmem>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if deleted::is_deleted(file) {
            // Mapped shared too (by a process written before): the
            // mapping's object is shared memory of its own.
            if objs.has::<crate::shmem::Shmem>(file) {
                ckpt_err!(
                    "checkpoint: a deleted file is both mapped shared and open ({}): not supported\n",
                    crate::log::Shown(&file.path_name()?)
                );
                return Err(crate::wrap::errno::eopnotsupp());
            }
            return Ok(FileDeps {
                kind: FILE_UNLINKED,
                obj: objs.id_of::<DeletedFile>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if memfd::is_memfd(file) {
            return Ok(FileDeps {
                kind: FILE_MEMFD,
                obj: objs.id_of::<Memfd>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if let Some((_, slave)) = pty::pty_of(file) {
            let mut flags = if slave { FILE_PEER_END } else { 0 };
            if pty::is_dev_tty(file) {
                flags |= FILE_DEV_TTY;
            }
            return Ok(FileDeps {
                kind: FILE_PTY,
                obj: objs.id_of::<Pty>(w, pty::master_of(objs, file)?)?,
                flags,
            });
        }
        if kind_of(file.mode()) == FILE_SOCK && crate::packet::is_packet(file) {
            return Ok(FileDeps {
                kind: FILE_PACKET,
                obj: objs.id_of::<crate::packet::PacketSock>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if kind_of(file.mode()) == FILE_SOCK && crate::inet::is_inet(file) {
            return Ok(FileDeps {
                kind: FILE_INET,
                obj: objs.id_of::<crate::inet::InetSock>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if kind_of(file.mode()) == FILE_SOCK {
            let probe = unix::Probe::of(file)?;
            if let Some(key) = probe.pending_key() {
                // A client waiting to be accepted: its listener and the
                // connections waiting on it first.
                let listener = objs.pending_listener(key).ok_or(EINVAL)?;
                let lp = unix::Probe::of(&listener)?;
                if !objs.has::<UnixSock>(&lp) {
                    objs.id_of::<UnixSock>(w, lp)?;
                    unix::write_pending(w, objs, &listener)?;
                }
                return Ok(FileDeps {
                    kind: FILE_UNIX,
                    obj: objs.id_by_key::<UnixPending>(key).ok_or(EINVAL)?,
                    flags: 0,
                });
            }
            if !probe.is_connected() {
                let new_listener = probe.is_listening() && !objs.has::<UnixSock>(&probe);
                let obj = objs.id_of::<UnixSock>(w, probe)?;
                if new_listener {
                    unix::write_pending(w, objs, file)?;
                }
                return Ok(FileDeps {
                    kind: FILE_UNIX,
                    obj,
                    flags: 0,
                });
            }
            let end1 = probe.is_end1();
            return Ok(FileDeps {
                kind: FILE_UNIX,
                obj: objs.id_of::<UnixPair>(w, probe)?,
                flags: if end1 { FILE_PEER_END } else { 0 },
            });
        }
        if epoll::is_epoll(file) {
            return Ok(FileDeps {
                kind: FILE_EPOLL,
                obj: objs.id_of::<Epoll>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        if signalfd::is_signalfd(file) {
            return Ok(FileDeps {
                kind: FILE_SIGNALFD,
                obj: objs.id_of::<Signalfd>(w, file.clone_ref())?,
                flags: 0,
            });
        }
        Ok(FileDeps {
            kind: kind_of(file.mode()),
            obj: 0,
            flags: 0,
        })
    }

    /// The file record: open flags, position, kind, path.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, deps: FileDeps) -> Result {
        let f_flags = file.flags();
        let path = file.path_name()?;
        let pos = w.pos_of(file).ok_or_else(|| {
            ckpt_err!(
                "checkpoint: the position of {} is being moved by a task outside the tree\n",
                crate::log::Shown(&path)
            );
            EBUSY
        })?;
        let rec = FileObj {
            id,
            kind: deps.kind,
            f_flags,
            flags: deps.flags
                | if path.ends_with(b" (deleted)") {
                    FILE_DELETED
                } else {
                    0
                },
            pos: pos.max(0),
            obj: deps.obj,
            path_len: u32::try_from(path.len()).map_err(|_| EINVAL)?,
        };
        w.record_parts(RecordType::File, &[&rec.encode(), &path])
    }

    fn hold(file: FileRef) -> Option<FileRef> {
        Some(file)
    }
}

/// Restart: opens the file of a file record (before the point of no
/// return): a pipe end from its pipe, an eventfd's file from its eventfd,
/// anything else reopened by path and seeked.
/// Whether restoring open file `rec` opens or makes something by its path
/// (with the credentials in force): a regular file, device, directory,
/// FIFO, POSIX message queue, `/dev/tty`, or a deleted file made again.
pub(crate) fn opens_path(rec: &FileObj) -> bool {
    match rec.kind {
        FILE_REG | FILE_CHR | FILE_DIR | FILE_FIFO | FILE_MQUEUE | FILE_UNLINKED => true,
        FILE_PTY => rec.flags & FILE_DEV_TTY != 0,
        _ => false,
    }
}

pub(crate) fn restore(objs: &mut ObjTable, rec: &FileObj, path: &[u8]) -> Result {
    let shown = crate::log::Shown(path);
    // A memfd's path says "(deleted)" too: it was never linked; a message
    // queue's object says whether it is (`posix_mq.rs`).
    if rec.flags & FILE_DELETED != 0
        && !matches!(
            rec.kind,
            FILE_MEMFD | FILE_UNLINKED | FILE_ANON_SHARED | FILE_MQUEUE
        )
    {
        ckpt_err!("restart: an open file is a deleted file, {}\n", shown);
        return Err(ENOENT);
    }
    let file = match rec.kind {
        FILE_MEMFD => {
            let memfd = objs.memfd(rec.obj)?.clone_ref();
            let f = memfd::open(&memfd, rec.f_flags & REOPEN_FLAGS)?;
            if rec.pos > 0 && f.seek(rec.pos) != rec.pos {
                ckpt_err!("restart: cannot seek {} to {}\n", shown, rec.pos);
                return Err(EINVAL);
            }
            f
        }
        FILE_ANON_SHARED => {
            let shm = objs.shmem(rec.obj)?.clone_ref();
            // Opens only a new "dev/zero" (not a memfd's or a deleted
            // file's object: their own kinds reopen those).
            if !crate::shmem::is_anon_shared(&shm) {
                ckpt_err!(
                    "restart: {} names an object that is not shared anonymous memory\n",
                    shown
                );
                return Err(EINVAL);
            }
            let f = memfd::open(&shm, rec.f_flags & REOPEN_FLAGS)?;
            if rec.pos > 0 && f.seek(rec.pos) != rec.pos {
                ckpt_err!("restart: cannot seek {} to {}\n", shown, rec.pos);
                return Err(EINVAL);
            }
            f
        }
        FILE_PIPE => {
            let write = match rec.f_flags & 0o3 {
                0 => false,
                1 => true,
                _ => {
                    ckpt_err!("restart: pipe end {} open for reading and writing\n", shown);
                    return Err(EINVAL);
                }
            };
            let f = objs.take_pipe_end(rec.obj, write, rec.f_flags)?;
            f.set_flags(
                bindings::O_NONBLOCK,
                rec.f_flags & bindings::O_NONBLOCK != 0,
            );
            f
        }
        FILE_UNIX => {
            let f = objs.take_unix(rec.obj, rec.flags & FILE_PEER_END != 0)?;
            f.set_flags(
                bindings::O_NONBLOCK,
                rec.f_flags & bindings::O_NONBLOCK != 0,
            );
            f
        }
        FILE_UNLINKED => {
            let d = objs.deleted(rec.obj)?.clone_ref();
            // An O_TMPFILE file shows __O_TMPFILE in its flags.
            let tmpfile = rec.f_flags & bindings::__O_TMPFILE;
            deleted::open(&d, rec.f_flags & REOPEN_FLAGS | tmpfile, rec.pos)?
        }
        FILE_PTY => {
            let slave = rec.flags & FILE_PEER_END != 0;
            let dev_tty = (rec.flags & FILE_DEV_TTY != 0).then_some(path);
            let f = pty::open(objs, rec.obj, slave, dev_tty, rec.f_flags & REOPEN_FLAGS)?;
            f.set_flags(
                bindings::O_NONBLOCK,
                rec.f_flags & bindings::O_NONBLOCK != 0,
            );
            f
        }
        FILE_MQUEUE => crate::posix_mq::open(objs, rec.obj, rec.f_flags, path)?,
        FILE_INET | FILE_PACKET => {
            let f = objs.take_made(rec.obj, rec.kind)?;
            f.set_flags(
                bindings::O_NONBLOCK,
                rec.f_flags & bindings::O_NONBLOCK != 0,
            );
            f
        }
        FILE_NS => {
            // The restored process's own namespace of that kind, which is
            // the restart's: all the tree's namespaces but the pid one are
            // the caller's at checkpoint too.
            let kind = crate::image::ns_kind(path).ok_or(EINVAL)?;
            let name = crate::wrap::path::nul_terminated(kind)?;
            // SAFETY: `name` is NUL-terminated; the helper returns an
            // ERR_PTR or a new file with a reference.
            unsafe {
                FileRef::from_made(bindings::ckpt_ns_file_open(
                    name.as_ptr().cast(),
                    rec.f_flags,
                ))
            }
            .inspect_err(|e| {
                ckpt_err!(
                    "restart: cannot open its own namespace file {} (error {})\n",
                    shown,
                    e.to_errno()
                );
            })?
        }
        FILE_EVENTFD | FILE_SIGNALFD | FILE_TIMERFD | FILE_EPOLL | FILE_PIDFD | FILE_INOTIFY => {
            // Made with the flags of its creation; fcntl(F_SETFL) may have
            // changed O_NONBLOCK since.
            let f = objs.take_made(rec.obj, rec.kind)?;
            f.set_flags(
                bindings::O_NONBLOCK,
                rec.f_flags & bindings::O_NONBLOCK != 0,
            );
            f
        }
        FILE_REG | FILE_CHR | FILE_DIR | FILE_FIFO => {
            // Opened non-blocking, so that whatever is at the path now (a
            // FIFO where the image says a regular file) cannot block the
            // open; the kind is checked before the file is used. A FIFO's
            // own object holds it open for reading and writing already, so
            // a reader or a writer finds its partner.
            let flags = (rec.f_flags & REOPEN_FLAGS) | bindings::O_NONBLOCK;
            let file = FileRef::open(path, flags as i32).inspect_err(|e| {
                ckpt_err!(
                    "restart: cannot reopen {} (error {})\n",
                    shown,
                    e.to_errno()
                );
            })?;
            let mode = file.mode();
            if kind_of(mode) != rec.kind {
                ckpt_err!(
                    "restart: {} is not the kind of file the image says (mode {:#o})\n",
                    shown,
                    mode
                );
                return Err(EINVAL);
            }
            if rec.kind == FILE_FIFO && !fifo::is_on(objs, rec.obj, &file)? {
                ckpt_err!("restart: {} is not the FIFO the image saved\n", shown);
                return Err(EINVAL);
            }
            if rec.f_flags & bindings::O_NONBLOCK == 0 {
                file.set_flags(bindings::O_NONBLOCK, false);
            }
            if rec.kind == FILE_REG && rec.pos > 0 {
                let got = file.seek(rec.pos);
                if got != rec.pos {
                    ckpt_err!("restart: cannot seek {} to {}\n", shown, rec.pos);
                    return Err(EINVAL);
                }
            }
            file
        }
        _ => {
            ckpt_err!("restart: open file {} cannot be restored yet\n", shown);
            return Err(crate::wrap::errno::eopnotsupp());
        }
    };
    objs.add(rec.id, Obj::File(file))
}
