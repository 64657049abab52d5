// SPDX-License-Identifier: GPL-2.0

//! Open files, working directory and umask of a process.
//!
//! C headers: [`include/linux/fdtable.h`](srctree/include/linux/fdtable.h),
//! [`include/linux/fs_struct.h`](srctree/include/linux/fs_struct.h).
//!
//! Each descriptor is saved with its number, close-on-exec bit, open flags,
//! position and the file's path. Restart reopens regular files, character
//! devices and directories by path with the same flags, seeks to the saved
//! position and installs each at its old number; pipes, sockets and other
//! kinds are saved (so `ckpt inspect` shows them) but refused at restart.
//! Files opened anew do not share their position with other processes:
//! sharing one open file between processes comes with process trees.

use crate::file::FileRef;
use crate::image::{
    self, Fd, FilesHeader, RecordType, FD_CLOEXEC, FD_DELETED, FILE_CHR, FILE_DIR, FILE_FIFO,
    FILE_OTHER, FILE_REG, FILE_SOCK,
};
use crate::task::TaskRef;
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
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
    | 0o4010000 /* O_SYNC */;

/// A `struct path` reference, put on drop.
struct PathRef(bindings::path);

impl Drop for PathRef {
    fn drop(&mut self) {
        // SAFETY: the path holds references taken by get_fs_pwd/kern_path.
        unsafe { bindings::path_put(&self.0) };
    }
}

/// The path of `p` as `d_path` gives it (no NUL), relative to the
/// caller's root.
pub(crate) fn path_of(p: &bindings::path) -> Result<KVec<u8>> {
    let mut buf = KVec::from_elem(0u8, image::MAX_PATH_LEN as usize, GFP_KERNEL)?;
    // SAFETY: `p` is a referenced path; `buf` has `MAX_PATH_LEN` bytes;
    // `d_path` writes the name at the end of the buffer and returns it.
    let s = unsafe { bindings::d_path(p, buf.as_mut_ptr().cast(), image::MAX_PATH_LEN as i32) };
    let s = kernel::error::from_err_ptr(s)?;
    let start = (s as usize)
        .checked_sub(buf.as_ptr() as usize)
        .ok_or(EINVAL)?;
    let name = buf.get(start..).ok_or(EINVAL)?;
    let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    let mut out = KVec::with_capacity(len, GFP_KERNEL)?;
    out.extend_from_slice(name.get(..len).ok_or(EINVAL)?, GFP_KERNEL)?;
    Ok(out)
}

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

/// The `fd` after `*fd` that `task` has open, with a reference, or `None`.
fn next_fd(task: &TaskRef, fd: &mut u32) -> Option<FileRef> {
    // SAFETY: the task is valid; the lookup must run under RCU and returns
    // a file with a reference taken, or NULL past the last descriptor.
    let f = unsafe {
        bindings::rcu_read_lock();
        let f = bindings::task_lookup_next_fdget_rcu(task.as_ptr(), fd);
        bindings::rcu_read_unlock();
        f
    };
    // SAFETY: a non-NULL result carries a reference, which `FileRef` owns.
    NonNull::new(f).map(|f| unsafe { FileRef::from_raw(f) })
}

/// Writes the open files of `task` (a thread group leader): the files
/// record with umask and working directory, then one fd record each.
pub(crate) fn dump(w: &mut ImageWriter, task: &TaskRef) -> Result {
    let mut umask = 0u32;
    let mut pwd = PathRef(bindings::path {
        mnt: core::ptr::null_mut(),
        dentry: core::ptr::null_mut(),
    });
    // SAFETY: the task is valid; on success `pwd` holds references.
    let r = unsafe { bindings::ckpt_task_fs(task.as_ptr(), &mut umask, &mut pwd.0) };
    if r != 0 {
        // No fs_struct: nothing to put.
        core::mem::forget(pwd);
        return Err(Error::from_errno(r));
    }
    let cwd = path_of(&pwd.0)?;
    drop(pwd);

    let mut fds = KVec::new();
    let mut fd = 0u32;
    while let Some(file) = next_fd(task, &mut fd) {
        let f = file.as_ptr();
        // SAFETY: the file is referenced; its path and inode are fixed for
        // its lifetime; the position and flags are plain reads of a file
        // whose only users are frozen.
        let (mode, f_flags, pos) = unsafe {
            let inode = (*f).f_inode;
            let mode = if inode.is_null() {
                0
            } else {
                u32::from((*inode).i_mode)
            };
            (mode, (*f).f_flags, core::ptr::read_volatile(&(*f).f_pos))
        };
        // SAFETY: as above; `f_path` is referenced by the file.
        let path = path_of(unsafe { &(*f).f_path })?;
        let mut fd_flags = 0;
        // SAFETY: the task is valid; the helper takes the needed locks.
        if unsafe { bindings::ckpt_fd_cloexec(task.as_ptr(), fd) } {
            fd_flags |= FD_CLOEXEC;
        }
        if path.ends_with(b" (deleted)") {
            fd_flags |= FD_DELETED;
        }
        let rec = Fd {
            fd,
            fd_flags,
            f_flags,
            kind: kind_of(mode),
            pos: pos.max(0),
            path_len: u32::try_from(path.len()).map_err(|_| EINVAL)?,
        };
        fds.push((rec, path), GFP_KERNEL)?;
        fd = fd.checked_add(1).ok_or(EINVAL)?;
    }
    let header = FilesHeader {
        nr_fds: u32::try_from(fds.len()).map_err(|_| EINVAL)?,
        umask,
        cwd_len: u32::try_from(cwd.len()).map_err(|_| EINVAL)?,
    };
    w.record_parts(RecordType::Files, &[&header.encode(), &cwd])?;
    for (rec, path) in fds.iter() {
        w.record_parts(RecordType::Fd, &[&rec.encode(), path])?;
    }
    Ok(())
}

// Restart.

/// Open files ready to install, and the working directory.
pub(crate) struct Prepared {
    fds: KVec<(u32, bool, FileRef)>,
    cwd: PathRef,
    umask: u32,
}

/// Before the point of no return: reopens every saved file and resolves
/// the working directory, so that nothing can fail after it but memory.
pub(crate) fn prepare(h: &FilesHeader, cwd: &[u8], fds: KVec<(Fd, KVec<u8>)>) -> Result<Prepared> {
    let mut out = KVec::with_capacity(fds.len(), GFP_KERNEL)?;
    for (rec, path) in fds.into_iter() {
        let shown = core::str::from_utf8(&path).unwrap_or("(not UTF-8)");
        if rec.fd_flags & FD_DELETED != 0 {
            pr_err!("restart: fd {} is a deleted file, {}\n", rec.fd, shown);
            return Err(ENOENT);
        }
        if !matches!(rec.kind, FILE_REG | FILE_CHR | FILE_DIR) {
            pr_err!(
                "restart: fd {} ({}) cannot be restored yet\n",
                rec.fd,
                shown
            );
            return Err(Error::from_errno(-(bindings::EOPNOTSUPP as i32)));
        }
        let file = match FileRef::open(&path, (rec.f_flags & REOPEN_FLAGS) as i32) {
            Ok(f) => f,
            Err(e) => {
                pr_err!(
                    "restart: cannot reopen fd {}, {} (error {})\n",
                    rec.fd,
                    shown,
                    e.to_errno()
                );
                return Err(e);
            }
        };
        if rec.kind == FILE_REG && rec.pos > 0 {
            // SAFETY: the file was just opened by us and is referenced.
            let got =
                unsafe { bindings::vfs_llseek(file.as_ptr(), rec.pos, bindings::SEEK_SET as i32) };
            if got != rec.pos {
                pr_err!(
                    "restart: cannot seek fd {}, {} to {}\n",
                    rec.fd,
                    shown,
                    rec.pos
                );
                return Err(EINVAL);
            }
        }
        out.push((rec.fd, rec.fd_flags & FD_CLOEXEC != 0, file), GFP_KERNEL)?;
    }
    let mut c = KVec::with_capacity(cwd.len() + 1, GFP_KERNEL)?;
    c.extend_from_slice(cwd, GFP_KERNEL)?;
    c.push(0, GFP_KERNEL)?;
    let mut p = bindings::path {
        mnt: core::ptr::null_mut(),
        dentry: core::ptr::null_mut(),
    };
    // SAFETY: `c` is NUL-terminated; on success `p` holds references.
    let r = unsafe {
        bindings::kern_path(
            c.as_ptr().cast(),
            (bindings::LOOKUP_FOLLOW | bindings::LOOKUP_DIRECTORY) as u32,
            &mut p,
        )
    };
    if r != 0 {
        pr_err!(
            "restart: working directory {} is gone\n",
            core::str::from_utf8(cwd).unwrap_or("?")
        );
        return Err(Error::from_errno(r));
    }
    Ok(Prepared {
        fds: out,
        cwd: PathRef(p),
        umask: h.umask,
    })
}

/// After the point of no return: replaces the caller's descriptors with
/// the saved ones and sets its working directory and umask.
pub(crate) fn install(p: &Prepared) -> Result {
    // SAFETY: closes every descriptor of current (the image is held by a
    // reference of its own).
    to_result(unsafe { bindings::__close_range(0, u32::MAX, 0) })?;
    for (fd, cloexec, file) in p.fds.iter() {
        let flags = if *cloexec { bindings::O_CLOEXEC } else { 0 };
        // SAFETY: the file is referenced; replace_fd takes its own
        // reference and installs it at `fd` in current's table.
        to_result(unsafe { bindings::replace_fd(*fd, file.as_ptr(), flags) })?;
    }
    // SAFETY: current's fs_struct is its own (clone3 without CLONE_FS);
    // set_fs_pwd takes its own references on the path.
    unsafe {
        bindings::set_fs_pwd(bindings::ckpt_current_fs(), &p.cwd.0);
        bindings::ckpt_set_umask(p.umask);
    }
    Ok(())
}
