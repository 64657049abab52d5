// SPDX-License-Identifier: GPL-2.0

//! Ptys: a master and its slave, with their terminal settings and the
//! bytes queued each way, and the sessions they are the controlling
//! terminal of.
//!
//! C headers: [`include/linux/tty.h`](srctree/include/linux/tty.h),
//! [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h).
//!
//! A Unix98 pty (the master from `/dev/ptmx`, the slave `/dev/pts/N`) is
//! one shared object ([`Pty`], `objects.rs`) keyed by its master, written
//! once before the first open file of either end, or the first process
//! that has the slave as controlling terminal. It holds, for each end,
//! the terminal settings, the window size and flow control, and what that
//! end's reader gets next: the line discipline's read buffer as it was
//! (already echoed and edited, with the ends of complete lines), then the
//! bytes the line discipline had not taken yet. The pty's number, its
//! lock, packet mode and exclusive mode, and whether the slave was closed
//! after being opened, go with it. Every open file of both ends must be
//! in the tree ([`check`], before anything is written), as they are the
//! only writers: the queues are read once both sides are frozen.
//!
//! Restart opens the ptmx at the saved path until it gets the saved
//! number (each open of a ptmx gets the lowest free one; the ptys opened
//! on the way are kept for a later pty of the image, and closed at the
//! end), sets both ends up, puts the queues back (the master's reader's
//! first, since the slave's pending input echoes to it), and opens each
//! slave file as `TIOCGPTPEER` does. The lock and exclusive mode come
//! back once every file is open ([`ObjTable::finish`]).
//!
//! A process whose controlling terminal is the slave of a carried pty has
//! a `ctty` record after its locks: the pty and the foreground process
//! group. Restart makes the slave the controlling terminal of the
//! session, with that group in the foreground, as the session leader's
//! `TIOCSCTTY` and `TIOCSPGRP` would, and only for a session whose leader
//! it restores. A terminal that is not a carried pty (the console, a pty
//! of a terminal outside the tree) is not saved.

use crate::image::{
    CttyRec, ObjId, PtyObj, PtySide, PtySideData, RecordType, LDISC_BUF, TTY_FLIP_MAX, TTY_NCCS,
};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::task::{killable, TaskRef};
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// At most this many ptys are opened on the way to a saved pty number.
const MAX_SPARES: usize = 256;

/// The pty `file` is an end of: its master's tty (the key of its object),
/// and whether `file` is the slave; `None` for any other file.
pub(crate) fn pty_of(file: &FileRef) -> Option<(usize, bool)> {
    let mut master = false;
    // SAFETY: the file is referenced; the helper reads its f_op and tty
    // and returns the pty's master tty.
    let tty = unsafe { bindings::ckpt_pty_of(file.as_ptr(), &mut master) };
    (!tty.is_null()).then_some((tty as usize, !master))
}

/// Whether `file` was opened as `/dev/tty`.
pub(crate) fn is_dev_tty(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper reads its inode's rdev.
    unsafe { bindings::ckpt_file_is_dev_tty(file.as_ptr()) }
}

/// The master's open file of the pty whose end `file` is: the one of
/// the tree that [`check`] found.
pub(crate) fn master_of(objs: &ObjHash, file: &FileRef) -> Result<FileRef> {
    let (key, _) = pty_of(file).ok_or(EINVAL)?;
    objs.in_tree(key).ok_or_else(|| {
        ckpt_err!("checkpoint: a pty end whose master is not in the tree\n");
        EINVAL
    })
}

/// The read buffer of one side's line discipline, on the heap (4.6 KiB).
fn new_ldisc() -> Result<KBox<bindings::ckpt_n_tty>> {
    let mut b = KBox::<bindings::ckpt_n_tty>::new_uninit(GFP_KERNEL)?;
    // SAFETY: all-zero bytes are a valid `ckpt_n_tty` (integers, arrays).
    unsafe { core::ptr::write_bytes(b.as_mut_ptr(), 0, 1) };
    // SAFETY: initialised just above.
    Ok(unsafe { b.assume_init() })
}

/// Checkpoint: every pty with an open file in the tree has all its open
/// files in the tree (the slave's, `/dev/tty` opens included, and the
/// master's). Returns the ptys carried: each master's key and its open
/// file, sorted by key.
pub(crate) fn check(tasks: &[TaskRef]) -> Result<KVVec<(usize, FileRef)>> {
    // (pty key, slave, file address, task index, fd), one per descriptor.
    let mut ends: KVVec<(usize, bool, usize, usize, u32)> = KVVec::new();
    let mut masters: KVVec<(usize, FileRef)> = KVVec::new();
    crate::fdtable::for_each_tree_file(tasks, |i, fd, f| {
        let Some((key, slave)) = pty_of(f) else {
            return Ok(());
        };
        ends.push((key, slave, f.as_ptr() as usize, i, fd), GFP_KERNEL)?;
        if !slave && !masters.iter().any(|(k, _)| *k == key) {
            masters.push((key, f.clone_ref()), GFP_KERNEL)?;
        }
        Ok(())
    })?;
    // One entry per open file: descriptors that share one count once.
    ends.sort_unstable_by_key(|e| (e.0, e.1, e.2));
    let refuse = |i: usize, fd: u32, end: &str| -> Result<Error> {
        let t = tasks.get(i).ok_or(EINVAL)?;
        let mut n = fd;
        let path = match t.next_file(&mut n) {
            Some(f) if n == fd => f.path_name()?,
            _ => KVec::new(),
        };
        let comm = t.comm();
        ckpt_err!(
            "checkpoint: pid {} ({}) fd {} ({}) is a pty whose {} is open outside the tree: not supported\n",
            t.vpid(),
            crate::log::Shown(&comm),
            fd,
            crate::log::Shown(&path),
            end
        );
        Ok(crate::wrap::errno::eopnotsupp())
    };
    // A slave whose master no task of the tree holds.
    if let Some(e) = ends
        .iter()
        .find(|e| !masters.iter().any(|(k, _)| *k == e.0))
    {
        return Err(refuse(e.3, e.4, "master")?);
    }
    for (key, master) in masters.iter() {
        killable()?;
        for slave in [false, true] {
            let mut seen = 0usize;
            let mut last = 0usize;
            let mut at = None;
            for e in ends.iter().filter(|e| e.0 == *key && e.1 == slave) {
                if e.2 != last {
                    seen += 1;
                    last = e.2;
                }
                at.get_or_insert((e.3, e.4));
            }
            // SAFETY: the master file is referenced; the helper counts
            // the end's open files under its files lock.
            let all = unsafe { bindings::ckpt_pty_count(master.as_ptr(), slave) };
            if usize::try_from(all).ok() != Some(seen) {
                // The pty's files are somewhere in the tree: name one.
                let (i, fd) = match at {
                    Some(a) => a,
                    None => ends
                        .iter()
                        .find(|e| e.0 == *key)
                        .map(|e| (e.3, e.4))
                        .ok_or(EINVAL)?,
                };
                return Err(refuse(i, fd, if slave { "slave" } else { "master" })?);
            }
        }
    }
    masters.sort_unstable_by_key(|(k, _)| *k);
    Ok(masters)
}

/// The pty kind of shared object.
pub(crate) struct Pty;

impl ObjOps for Pty {
    /// An open file of its master.
    type Ref = FileRef;
    type Deps = ();

    /// The master's tty.
    fn key(master: &FileRef) -> usize {
        pty_of(master).map(|(k, _)| k).unwrap_or(0)
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    /// The pty record: both sides' state, the ptmx path, the queues.
    fn write(w: &mut ImageWriter, master: &FileRef, id: ObjId, (): ()) -> Result {
        // SAFETY: all-zero is a valid `ckpt_pty` (integers, arrays).
        let mut st: bindings::ckpt_pty = unsafe { core::mem::zeroed() };
        // SAFETY: the master file is referenced; the helper reads the
        // pty under its locks.
        to_result(unsafe { bindings::ckpt_pty_get(master.as_ptr(), &mut st) })?;
        let path = master.path_name()?;
        let mut sides = [PtySide::default(); 2];
        let mut ldiscs = [new_ldisc()?, new_ldisc()?];
        let mut flips = [
            KVVec::from_elem(0u8, TTY_FLIP_MAX as usize, GFP_KERNEL)?,
            KVVec::from_elem(0u8, TTY_FLIP_MAX as usize, GFP_KERNEL)?,
        ];
        for (i, ((side, ld), flip)) in sides
            .iter_mut()
            .zip(ldiscs.iter_mut())
            .zip(flips.iter_mut())
            .enumerate()
        {
            let mut flip_len = 0u32;
            // SAFETY: the master file is referenced, `ld` is a whole
            // `ckpt_n_tty` and `flip` holds CKPT_TTY_FLIP_MAX bytes; the
            // helper reads the side's buffers under their locks.
            let r = unsafe {
                bindings::ckpt_pty_queue(
                    master.as_ptr(),
                    i == 1,
                    &mut **ld,
                    flip.as_mut_ptr(),
                    &mut flip_len,
                )
            };
            if r == -(bindings::EBUSY as i32) {
                ckpt_err!(
                    "checkpoint: pty {} has echoes its {} has not taken yet: try again\n",
                    st.index,
                    if i == 1 { "master" } else { "slave" }
                );
            }
            to_result(r)?;
            let s = st.side.get(i).ok_or(EINVAL)?;
            let mut line_cc = [0u8; 1 + TTY_NCCS];
            line_cc[0] = s.line;
            for (d, c) in line_cc.iter_mut().skip(1).zip(s.cc.iter()) {
                *d = *c;
            }
            *side = PtySide {
                iflag: s.iflag,
                oflag: s.oflag,
                cflag: s.cflag,
                lflag: s.lflag,
                line_cc,
                ispeed: s.ispeed,
                ospeed: s.ospeed,
                winsize: [s.ws_row, s.ws_col, s.ws_xpixel, s.ws_ypixel],
                flags: s.flags,
                read_len: ld.len,
                canon: ld.canon,
                column: ld.column,
                canon_column: ld.canon_column,
                ldisc_flags: ld.flags,
                flip_len,
            };
        }
        let rec = PtyObj {
            id,
            index: u32::try_from(st.index).map_err(|_| EINVAL)?,
            flags: st.flags,
            pktstatus: st.pktstatus,
            path_len: u32::try_from(path.len()).map_err(|_| EINVAL)?,
        };
        let [s0, s1] = &sides;
        let [l0, l1] = &ldiscs;
        let [f0, f1] = &flips;
        let part = |s: &PtySide, l: &bindings::ckpt_n_tty| -> Result<(usize, usize)> {
            let n = usize::try_from(s.read_len).map_err(|_| EINVAL)?;
            if s.read_len >= LDISC_BUF || l.buf.len() < n {
                return Err(EINVAL);
            }
            Ok((n, n.div_ceil(8)))
        };
        let (n0, e0) = part(s0, l0)?;
        let (n1, e1) = part(s1, l1)?;
        let slice = |v: &[u8], n: usize| -> Result<KVec<u8>> {
            let mut out = KVec::new();
            out.extend_from_slice(v.get(..n).ok_or(EINVAL)?, GFP_KERNEL)?;
            Ok(out)
        };
        let flip0 = slice(f0, s0.flip_len as usize)?;
        let flip1 = slice(f1, s1.flip_len as usize)?;
        w.record_parts(
            RecordType::Pty,
            &[
                &rec.encode(),
                &s0.encode(),
                &s1.encode(),
                &path,
                l0.buf.get(..n0).ok_or(EINVAL)?,
                l0.ends.get(..e0).ok_or(EINVAL)?,
                &flip0,
                l1.buf.get(..n1).ok_or(EINVAL)?,
                l1.ends.get(..e1).ok_or(EINVAL)?,
                &flip1,
            ],
        )
    }

    /// The master file: it keeps the pty, and its key, alive.
    fn hold(master: FileRef) -> Option<FileRef> {
        Some(master)
    }
}

/// Checkpoint: the `ctty` record of `task` (a thread group leader), if
/// its controlling terminal is the slave of a pty the tree carries.
pub(crate) fn dump_ctty(w: &mut ImageWriter, task: &TaskRef, objs: &mut ObjHash) -> Result {
    let mut found = None;
    for master in objs.in_tree_files() {
        killable()?;
        let mut fg = 0;
        // SAFETY: the task and the master file are referenced (the file
        // keeps both ends of its pty); the helper compares the task's
        // terminal with them under its siglock.
        let r = unsafe { bindings::ckpt_pty_ctty(task.as_ptr(), master.as_ptr(), &mut fg) };
        if r != 0 {
            found = Some((r, fg, master.clone_ref()));
            break;
        }
    }
    let Some((r, fg, master)) = found else {
        return Ok(());
    };
    to_result(r.min(0))?;
    if r == 2 {
        ckpt_err!(
            "checkpoint: pid {}: its controlling terminal is a pty master: not supported\n",
            task.vpid()
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    if fg <= 0 {
        ckpt_err!(
            "checkpoint: pid {}: its controlling terminal's foreground process group is outside its pid namespace\n",
            task.vpid()
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    let pty = objs.id_of::<Pty>(w, master)?;
    w.record(RecordType::Ctty, &CttyRec { pty, fg_pgid: fg }.encode())
}

// Restart.

/// A new pty at the ptmx `path` with the number `index`: ptmxs give the
/// lowest free number, so the ones below it that are free are opened on
/// the way, and kept in `objs` for a later pty of the image.
fn open_at(objs: &mut ObjTable, path: &[u8], index: u32) -> Result<FileRef> {
    if let Some(f) = objs.take_spare(path, index) {
        return Ok(f);
    }
    // As open(2) on a 64-bit kernel opens it (O_LARGEFILE).
    let flags = (bindings::O_RDWR | bindings::O_NOCTTY | bindings::O_LARGEFILE) as i32;
    loop {
        killable()?;
        let f = FileRef::open(path, flags).inspect_err(|e| {
            ckpt_err!(
                "restart: cannot open {} for pty {} (error {})\n",
                crate::log::Shown(path),
                index,
                e.to_errno()
            );
        })?;
        // SAFETY: the file is referenced; the helper reads its tty.
        let got = unsafe { bindings::ckpt_pty_index(f.as_ptr()) };
        let got = u32::try_from(got).map_err(|_| {
            ckpt_err!(
                "restart: {} is not a ptmx (the master of a new pty)\n",
                crate::log::Shown(path)
            );
            EINVAL
        })?;
        if got == index {
            return Ok(f);
        }
        if got > index || objs.spares() >= MAX_SPARES {
            ckpt_err!(
                "restart: pty {} of {} is in use (the next free one is {})\n",
                index,
                crate::log::Shown(path),
                got
            );
            return Err(EBUSY);
        }
        objs.add_spare(path, got, f)?;
    }
}

/// Puts one side's saved queue into the new pty `master`.
fn fill(master: &FileRef, slave: bool, d: &PtySideData<'_>) -> Result {
    let mut ld = new_ldisc()?;
    let s = &d.side;
    ld.len = s.read_len;
    ld.canon = s.canon;
    ld.column = s.column;
    ld.canon_column = s.canon_column;
    ld.flags = s.ldisc_flags;
    ld.buf
        .get_mut(..d.read.len())
        .ok_or(EINVAL)?
        .copy_from_slice(d.read);
    ld.ends
        .get_mut(..d.ends.len())
        .ok_or(EINVAL)?
        .copy_from_slice(d.ends);
    let flip_len = u32::try_from(d.flip.len()).map_err(|_| EINVAL)?;
    // SAFETY: the master file is referenced, `ld` is a whole `ckpt_n_tty`
    // and `flip` holds `flip_len` bytes; the helper checks every field.
    to_result(unsafe {
        bindings::ckpt_pty_fill(master.as_ptr(), slave, &*ld, d.flip.as_ptr(), flip_len)
    })
}

/// Restart: the pty of a pty record, for the file records of its ends.
pub(crate) fn restore(
    objs: &mut ObjTable,
    rec: &PtyObj,
    path: &[u8],
    sides: &[PtySideData<'_>; 2],
) -> Result {
    let master = open_at(objs, path, rec.index)?;
    // SAFETY: all-zero is a valid `ckpt_pty` (integers, arrays).
    let mut st: bindings::ckpt_pty = unsafe { core::mem::zeroed() };
    st.index = i32::try_from(rec.index).map_err(|_| EINVAL)?;
    st.flags = rec.flags;
    st.pktstatus = rec.pktstatus;
    for (s, d) in st.side.iter_mut().zip(sides.iter()) {
        let x = &d.side;
        s.iflag = x.iflag;
        s.oflag = x.oflag;
        s.cflag = x.cflag;
        s.lflag = x.lflag;
        s.line = x.line_cc[0];
        for (c, v) in s.cc.iter_mut().zip(x.line_cc.iter().skip(1)) {
            *c = *v;
        }
        s.ispeed = x.ispeed;
        s.ospeed = x.ospeed;
        [s.ws_row, s.ws_col, s.ws_xpixel, s.ws_ypixel] = x.winsize;
        s.flags = x.flags;
    }
    // SAFETY: the master file is referenced; the helper checks the flags
    // and sets the new pty up under its locks.
    to_result(unsafe { bindings::ckpt_pty_set(master.as_ptr(), &st) })?;
    // The master's reader's queue first: the slave's pending input may
    // echo to it.
    let [master_side, slave_side] = sides;
    fill(&master, false, master_side)?;
    fill(&master, true, slave_side)?;
    // Only now may the slave be opened (and written to by anyone).
    // SAFETY: the master file is referenced.
    to_result(unsafe { bindings::ckpt_pty_unlock(master.as_ptr()) })?;
    objs.add(
        rec.id,
        Obj::Pty {
            master: Some(master.clone_ref()),
            pty: master,
            flags: rec.flags,
        },
    )
}

/// Restart: the file of a pty file record: the master (taken once) or a
/// new open file of the slave with the open flags `f_flags`. A slave
/// opened as `/dev/tty` is opened so again at `dev_tty` when that is the
/// slave: the task's controlling terminal, restored before its files
/// (else, a file inherited across setsid(2), it is opened as the slave).
pub(crate) fn open(
    objs: &mut ObjTable,
    id: ObjId,
    slave: bool,
    dev_tty: Option<&[u8]>,
    f_flags: u32,
) -> Result<FileRef> {
    if !slave {
        return objs.take_pty_master(id);
    }
    let pty = objs.pty(id)?;
    if let Some(path) = dev_tty {
        let flags = (f_flags | bindings::O_NOCTTY | bindings::O_NONBLOCK) as i32;
        if let Ok(f) = FileRef::open(path, flags) {
            if is_dev_tty(&f) && pty_of(&f) == Some((pty_of(pty).ok_or(EINVAL)?.0, true)) {
                if f_flags & bindings::O_NONBLOCK == 0 {
                    f.set_flags(bindings::O_NONBLOCK, false);
                }
                return Ok(f);
            }
        }
    }
    // SAFETY: the master file is referenced; the helper opens the slave
    // as TIOCGPTPEER does, returning an ERR_PTR or a referenced file.
    unsafe { FileRef::from_made(bindings::ckpt_pty_open_slave(pty.as_ptr(), f_flags as i32)) }
        .inspect_err(|e| {
            ckpt_err!(
                "restart: cannot open the slave of pty object {} (error {})\n",
                id,
                e.to_errno()
            );
        })
}

/// The end of the image: the lock, exclusive mode and closed slave of the
/// pty `master`, which would have stopped its files being opened.
pub(crate) fn finish(master: &FileRef, flags: u32) -> Result {
    // SAFETY: the master file is referenced; the helper checks the flags.
    to_result(unsafe { bindings::ckpt_pty_finish(master.as_ptr(), flags) })
}

/// Restart: the controlling terminal of the current process, whose
/// session is `sid`, from its `ctty` record.
pub(crate) fn restore_ctty(objs: &mut ObjTable, rec: &CttyRec, sid: i32) -> Result {
    if !objs.restores_leader(sid) {
        ckpt_err!(
            "restart: a controlling terminal for session {}, whose leader is not restored\n",
            sid
        );
        return Err(EINVAL);
    }
    let pty = objs.pty(rec.pty)?;
    // SAFETY: the master file is referenced; the helper makes its slave
    // current's controlling terminal under the tty, tasklist and siglock
    // locks, checking the session and the process group.
    to_result(unsafe { bindings::ckpt_pty_set_ctty(pty.as_ptr(), rec.fg_pgid) }).inspect_err(
        |e| {
            ckpt_err!(
                "restart: cannot make pty object {} the controlling terminal of session {} with group {} in the foreground (error {})\n",
                rec.pty,
                sid,
                rec.fg_pgid,
                e.to_errno()
            );
        },
    )
}
