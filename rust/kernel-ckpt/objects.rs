// SPDX-License-Identifier: GPL-2.0

//! The kinds of shared object, as one table.
//!
//! A shared object is kernel state that several tasks, descriptors or
//! mappings may refer to: an open file, a pipe, shared memory. Each is
//! written once, as an object record with an id, before the first record
//! that names it, and restored once, so that everything that shared it
//! shares it again.
//!
//! Each kind lives in its own file, which implements the checkpoint side,
//! [`ObjOps`] (how it is keyed, what it names that must be written before
//! it, how its record is written, what keeps it alive while the checkpoint
//! runs), and a restore function per record. It has one entry in each of
//! two lists, and the compiler points at a list that misses a kind:
//!
//! - [`Obj`] (`objhash.rs`): what its record creates at restart, held by
//!   the object table until every record naming it is read (and how many
//!   open files that is, against `RLIMIT_NOFILE`);
//! - [`restore`] below: one arm per object record type ([`ObjRecord`] is
//!   matched without a catch-all: a new record type does not compile until
//!   it has an arm).
//!
//! | kind        | kernel file    | records                 |
//! |-------------|----------------|-------------------------|
//! | open file   | `open_file.rs` | `file`                  |
//! | pipe        | `pipe.rs`      | `pipe`                  |
//! | shared mem. | `shmem.rs`     | `shmem`, `shmem-pages`  |
//! | eventfd     | `eventfd.rs`   | `eventfd`               |
//! | signalfd    | `signalfd.rs`  | `signalfd`              |
//! | FIFO        | `fifo.rs`      | `fifo`                  |
//! | timerfd     | `timerfd.rs`   | `timerfd`               |
//! | epoll set   | `epoll.rs`     | `epoll`                 |
//! | unix socket | `unix.rs`      | `unix-pair`, `unix-sock`, `unix-pending` |
//! | TCP/UDP sock| `inet.rs`      | `inet-sock`, `inet-pending` |
//! | packet sock | `packet.rs`    | `packet-sock`           |
//! | memfd       | `memfd.rs`     | `memfd`, `shmem-pages`  |
//! | pty         | `pty.rs`       | `pty`                   |
//! | deleted file| `deleted.rs`   | `deleted-file`, `shmem-pages` |
//! | pidfd       | `pidfd.rs`     | `pidfd`                 |
//! | inotify     | `inotify.rs`   | `inotify`               |
//! | SysV segment| `sysvshm.rs`   | `sysv-shm`, `shmem-pages` |
//! | SysV set    | `sysvsem.rs`   | `sysv-sem`              |
//! | SysV queue  | `sysvmsg.rs`   | `sysv-msg`              |
//! | POSIX queue | `posix_mq.rs`  | `posix-mq`              |
//! | pod tmpfs   | `tmpfs.rs`     | `pod-mount`, `tmpfs-file`, `shmem-pages` |
//!
//! The object hash, the object table and the [`ObjOps`] interface are in
//! `objhash.rs`, which knows no kind: the kinds depend on it, and this
//! table on the kinds.
//! Object records may come anywhere after the forest table (the image
//! reader hands each to [`restore`] where it finds it, `reader.rs`); they
//! are restored with the credentials in force there: the task's own while
//! its process part is read, the caller's elsewhere.

use crate::image::ObjRecord;
use crate::objhash::ObjTable;
#[cfg(doc)]
use crate::objhash::{Obj, ObjOps};
use crate::{
    deleted, epoll, eventfd, fifo, inotify, memfd, open_file, pidfd, pipe, pty, shmem, signalfd,
    timerfd, unix,
};
use kernel::prelude::*;

/// Restores the object of an object record, wherever it appears.
pub(crate) fn restore(objs: &mut ObjTable, rec: ObjRecord<'_>) -> Result {
    // An object that opens or makes a path (or watches one) is opened with
    // the credentials of the process it is for, so that root restarting a
    // user's image gives that user nothing it could not open: checkpoint(2)
    // writes each within a process's records, after its task-misc record
    // and before its pages; anywhere else it would be opened with the
    // caller's own credentials.
    let path = match &rec {
        ObjRecord::File(f, _) => crate::open_file::opens_path(f),
        ObjRecord::Fifo(..)
        | ObjRecord::UnixSock(..)
        | ObjRecord::DeletedFile(..)
        | ObjRecord::Pty(..)
        | ObjRecord::Inotify(..) => true,
        _ => false,
    };
    if path && !objs.task_creds() {
        ckpt_err!(
            "restart: a record that opens a path is outside a process's records (after its task-misc record, before its pages), where its credentials apply: not an image checkpoint(2) writes\n"
        );
        return Err(EINVAL);
    }
    match rec {
        ObjRecord::File(f, path) => open_file::restore(objs, &f, path),
        ObjRecord::Pipe(p, data) => pipe::restore(objs, &p, data),
        ObjRecord::Shmem(s) => shmem::restore(objs, &s),
        ObjRecord::ShmemPages(h, data) => shmem::restore_pages(objs, &h, data),
        ObjRecord::Eventfd(e) => eventfd::restore(objs, &e),
        ObjRecord::Signalfd(s) => signalfd::restore(objs, &s),
        ObjRecord::Fifo(f, data, path) => fifo::restore(objs, &f, data, path),
        ObjRecord::Timerfd(t) => timerfd::restore(objs, &t),
        ObjRecord::Epoll(e, items) => epoll::restore(objs, &e, items),
        ObjRecord::UnixPair(u, ends) => unix::restore(objs, &u, &ends),
        ObjRecord::UnixSock(u, end) => unix::restore_sock(objs, &u, &end),
        ObjRecord::UnixPending(u, client) => unix::restore_pending(objs, &u, &client),
        ObjRecord::InetSock(s, d) => crate::inet::restore(objs, &s, &d),
        ObjRecord::InetPending(p, s, d) => crate::inet::restore_pending(objs, &p, &s, &d),
        ObjRecord::PacketSock(s, d) => crate::packet::restore(objs, &s, &d),
        ObjRecord::Memfd(m, name) => memfd::restore(objs, &m, name),
        ObjRecord::SysvShm(o) => crate::sysvshm::restore(objs, &o),
        ObjRecord::SysvSem(o, vals) => crate::sysvsem::restore(objs, &o, vals),
        ObjRecord::SysvMsg(o, msgs) => crate::sysvmsg::restore(objs, &o, msgs),
        ObjRecord::PosixMq(o, name, msgs) => crate::posix_mq::restore(objs, &o, name, msgs),
        ObjRecord::PodMount(m, path) => crate::tmpfs::restore_mount(objs, &m, path),
        ObjRecord::TmpfsFile(f, path, target) => crate::tmpfs::restore_file(objs, &f, path, target),
        ObjRecord::Pty(t, path, sides) => pty::restore(objs, &t, path, &sides),
        ObjRecord::DeletedFile(d, path) => deleted::restore(objs, &d, path),
        ObjRecord::Pidfd(p) => pidfd::restore(objs, &p),
        ObjRecord::Inotify(o, watches, events) => inotify::restore(objs, &o, watches, events),
    }
}
