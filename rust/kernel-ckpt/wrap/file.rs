// SPDX-License-Identifier: GPL-2.0

//! Counted references to open files, and writing to them from the kernel.
//!
//! C headers: [`include/linux/file.h`](srctree/include/linux/file.h),
//! [`include/linux/fs.h`](srctree/include/linux/fs.h).

use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

/// A reference to a `struct file`.
///
/// # Invariants
///
/// `self.0` points to a valid file on which this object holds one reference
/// (from `fget`), released with `fput` on drop.
pub(crate) struct FileRef(NonNull<bindings::file>);

impl FileRef {
    /// The file open as `fd` in the caller's fd table; `-EBADF` if none.
    pub(crate) fn fget(fd: i32) -> Result<Self> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        // SAFETY: `fget` looks `fd` up in current's table under RCU and
        // returns a referenced file or NULL (also for O_PATH files).
        let f = unsafe { bindings::fget(fd) };
        // INVARIANT: a non-NULL result carries a reference.
        NonNull::new(f).map(Self).ok_or(EBADF)
    }

    /// Whether the file was opened for writing.
    pub(crate) fn is_writable(&self) -> bool {
        // SAFETY: the file is valid; `f_mode` is fixed after open.
        let mode = unsafe { (*self.0.as_ptr()).f_mode };
        mode & bindings::FMODE_WRITE != 0
    }

    /// Takes over a reference the caller holds on `f`.
    ///
    /// # Safety
    ///
    /// The caller must own one reference on the valid file `f`.
    pub(crate) unsafe fn from_raw(f: NonNull<bindings::file>) -> Self {
        // INVARIANT: the caller passes its reference on.
        Self(f)
    }

    /// Takes over the file a C helper made: an ERR_PTR (its errno), or a
    /// file with a reference.
    ///
    /// # Safety
    ///
    /// `made` is an ERR_PTR or a valid file on which the caller owns one
    /// reference, which passes to the result.
    pub(crate) unsafe fn from_made(made: *mut bindings::file) -> Result<Self> {
        let f = kernel::error::from_err_ptr(made)?;
        let f = NonNull::new(f).ok_or(ENOMEM)?;
        // SAFETY: by the function's contract a non-error pointer carries a
        // reference the caller passes on.
        Ok(unsafe { Self::from_raw(f) })
    }

    /// The name of the file's path as `d_path` gives it (no NUL), from the
    /// caller's root; a deleted file's ends in " (deleted)".
    pub(crate) fn path_name(&self) -> Result<KVec<u8>> {
        // SAFETY: the file is referenced; `f_path` is fixed and referenced
        // for its lifetime.
        super::path::name_of(unsafe { &(*self.0.as_ptr()).f_path })
    }

    /// The mode of the file's inode (type and permissions), 0 for none.
    pub(crate) fn mode(&self) -> u32 {
        // SAFETY: the file is referenced; its inode is fixed for its lifetime.
        unsafe {
            let inode = (*self.0.as_ptr()).f_inode;
            if inode.is_null() {
                0
            } else {
                u32::from((*inode).i_mode)
            }
        }
    }

    /// The file's open flags (`f_flags`).
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: the file is referenced; a plain read, as fcntl(F_GETFL)
        // makes it.
        unsafe { core::ptr::read_volatile(&(*self.0.as_ptr()).f_flags) }
    }

    /// Sets (`on`) or clears the open flags `bits`, as fcntl(F_SETFL) would.
    pub(crate) fn set_flags(&self, bits: u32, on: bool) {
        let f = self.0.as_ptr();
        // SAFETY: the file is referenced; f_flags changes under f_lock.
        unsafe {
            bindings::spin_lock(&mut (*f).f_lock);
            if on {
                (*f).f_flags |= bits;
            } else {
                (*f).f_flags &= !bits;
            }
            bindings::spin_unlock(&mut (*f).f_lock);
        }
    }

    /// The size of the file's inode.
    pub(crate) fn size(&self) -> i64 {
        // SAFETY: the file is referenced; its inode lives with it; a racy
        // read of `i_size`, as i_size_read makes it on 64-bit.
        unsafe { core::ptr::read_volatile(&(*(*self.0.as_ptr()).f_inode).i_size) }
    }

    /// The address of the file's inode: the same for every open file of
    /// one object.
    pub(crate) fn inode_addr(&self) -> usize {
        // SAFETY: the file is referenced; its inode lives with it.
        unsafe { (*self.0.as_ptr()).f_inode as usize }
    }

    /// Moves the position of a file just opened to `pos` (`SEEK_SET`), as
    /// lseek(2) would; the position it ends at.
    pub(crate) fn seek(&self, pos: i64) -> i64 {
        // SAFETY: the file is referenced; vfs_llseek checks and serialises
        // what it needs itself.
        unsafe { bindings::vfs_llseek(self.0.as_ptr(), pos, bindings::SEEK_SET as i32) }
    }

    /// Whether the file was opened for reading.
    pub(crate) fn is_readable(&self) -> bool {
        // SAFETY: the file is valid; `f_mode` is fixed after open.
        let mode = unsafe { (*self.0.as_ptr()).f_mode };
        mode & bindings::FMODE_READ != 0
    }

    /// Opens `path` (no NUL inside) with `flags` and the caller's
    /// credentials, as open(2) would.
    pub(crate) fn open(path: &[u8], flags: i32) -> Result<Self> {
        let p = super::path::nul_terminated(path)?;
        // SAFETY: `p` is NUL-terminated; `filp_open` returns a referenced
        // file or an ERR_PTR.
        let f = kernel::error::from_err_ptr(unsafe {
            bindings::filp_open(p.as_ptr().cast(), flags, 0)
        })?;
        // INVARIANT: a non-error result carries a reference.
        NonNull::new(f).map(Self).ok_or(ENOENT)
    }

    /// Opens `path` (no NUL inside) with `flags` that make a file
    /// (`O_CREAT`, `O_TMPFILE`) and the permission bits `mode` (less the
    /// umask), with the caller's credentials, as open(2) would.
    pub(crate) fn create(path: &[u8], flags: i32, mode: u16) -> Result<Self> {
        let p = super::path::nul_terminated(path)?;
        // SAFETY: `p` is NUL-terminated; `filp_open` returns a referenced
        // file or an ERR_PTR.
        let f = kernel::error::from_err_ptr(unsafe {
            bindings::filp_open(p.as_ptr().cast(), flags, mode)
        })?;
        // INVARIANT: a non-error result carries a reference.
        NonNull::new(f).map(Self).ok_or(ENOENT)
    }

    /// Puts this reference now rather than on the return to user space
    /// (`fput`): only for a file this call opened of a pod's tmpfs (a
    /// regular file or a directory), with nothing to release but its data.
    pub(crate) fn close_sync(self) {
        let f = self.0.as_ptr();
        core::mem::forget(self);
        // SAFETY: the reference `self` owned, given up above.
        unsafe { bindings::ckpt_file_put_sync(f) };
    }

    /// Another reference on the same open file.
    pub(crate) fn clone_ref(&self) -> Self {
        // SAFETY: the file is valid; get_file takes one more reference,
        // which the new object owns.
        let f = unsafe { bindings::ckpt_get_file(self.0.as_ptr()) };
        // INVARIANT: `get_file` returns its argument with a new reference.
        Self(NonNull::new(f).unwrap_or(self.0))
    }

    /// Writes all of `buf` at byte `pos`, leaving the file position alone.
    pub(crate) fn write_all_at(&self, buf: &[u8], mut pos: i64) -> Result {
        self.write_from(buf, &mut pos)
    }

    /// Reads up to `buf.len()` bytes at byte `pos` (fewer at end of file),
    /// leaving the file position alone; the number read.
    pub(crate) fn read_at(&self, buf: &mut [u8], mut pos: i64) -> Result<usize> {
        self.read_from(buf, &mut pos)
    }

    /// One read of up to `buf.len()` bytes from `*pos` on, which it
    /// advances by what it read (not on error); the number read, 0 at end
    /// of file.
    pub(crate) fn read_once(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize> {
        // SAFETY: `buf` is a valid writable kernel buffer; the file is
        // valid; `kernel_read` checks FMODE_READ itself.
        let n = unsafe {
            bindings::kernel_read(self.0.as_ptr(), buf.as_mut_ptr().cast(), buf.len(), pos)
        };
        usize::try_from(n).map_err(|_| Error::from_errno(n as i32))
    }

    /// Reads until `buf` is full or the file ends, from `*pos` on, which
    /// it advances; the number read.
    fn read_from(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            let dst = buf.get_mut(got..).ok_or(EINVAL)?;
            // SAFETY: `dst` is a valid writable kernel buffer; the file is
            // valid; `kernel_read` checks FMODE_READ itself.
            let n = unsafe {
                bindings::kernel_read(self.0.as_ptr(), dst.as_mut_ptr().cast(), dst.len(), pos)
            };
            match usize::try_from(n) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(_) => return Err(Error::from_errno(n as i32)),
            }
        }
        Ok(got)
    }

    /// Writes all of `buf` from `*pos` on, which it advances.
    fn write_from(&self, mut buf: &[u8], pos: &mut i64) -> Result {
        while !buf.is_empty() {
            // SAFETY: `buf` is a valid kernel buffer; the file is valid;
            // `kernel_write` checks FMODE_WRITE itself.
            let n = unsafe {
                bindings::kernel_write(self.0.as_ptr(), buf.as_ptr().cast(), buf.len(), pos)
            };
            match usize::try_from(n) {
                Ok(0) => return Err(EIO),
                Ok(n) => buf = buf.get(n..).unwrap_or(&[]),
                Err(_) => return Err(Error::from_errno(n as i32)),
            }
        }
        Ok(())
    }

    /// Writes the `len` bytes of `bvecs` from `*pos` on, which it
    /// advances: `vfs_iter_write` copies them from their pages into the
    /// file, as many calls as short writes take.
    fn write_bvecs_from(&self, bvecs: &[bindings::bio_vec], len: usize, pos: &mut i64) -> Result {
        let nr = bvecs.len();
        // SAFETY: an iov_iter is plain data; `iov_iter_bvec` sets it whole.
        let mut iter: bindings::iov_iter = unsafe { core::mem::zeroed() };
        // SAFETY: `bvecs` holds `nr` vectors of `len` bytes in all, of
        // pages the caller holds references on, and outlives `iter`.
        unsafe {
            bindings::iov_iter_bvec(&mut iter, bindings::ITER_SOURCE, bvecs.as_ptr(), nr, len)
        };
        let mut done = 0usize;
        while done < len {
            // SAFETY: the file is valid; `vfs_iter_write` checks FMODE_WRITE
            // and `write_iter` itself, and advances `iter` by what it wrote.
            let n = unsafe { bindings::vfs_iter_write(self.0.as_ptr(), &mut iter, pos, 0) };
            match usize::try_from(n) {
                Ok(0) => return Err(EIO),
                Ok(n) => done = done.checked_add(n).ok_or(EIO)?,
                Err(_) => return Err(Error::from_errno(n as i32)),
            }
        }
        Ok(())
    }

    /// The raw pointer, valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0.as_ptr()
    }

    /// Whether the file has a position lock (`FMODE_ATOMIC_POS`): a
    /// regular file or directory whose position is shared by its users
    /// and moved by read(2) under that lock, not a stream (a pipe, a
    /// socket, a `stream_open()`ed file).
    pub(crate) fn has_pos_lock(&self) -> bool {
        // SAFETY: the file is valid; `f_mode` is fixed after open.
        let mode = unsafe { (*self.0.as_ptr()).f_mode };
        mode & bindings::FMODE_ATOMIC_POS != 0
    }

    /// The file's position, read under its position lock without waiting
    /// for it: `None` while another task holds it (that task is moving the
    /// position now). Files without the lock (pipes, sockets) have a
    /// position nobody uses; it is read as it is.
    pub(crate) fn try_pos(&self) -> Option<i64> {
        let f = self.0.as_ptr();
        if !self.has_pos_lock() {
            // SAFETY: the file is valid; a plain loff_t read.
            return Some(unsafe { core::ptr::read_volatile(&(*f).f_pos) });
        }
        // SAFETY: the file is valid and has FMODE_ATOMIC_POS, so its
        // position lock (not the pipe pointer of the union) is live; a
        // trylock never sleeps and adds no lock order.
        if unsafe { bindings::mutex_trylock(&mut (*f).__bindgen_anon_1.f_pos_lock) } == 0 {
            return None;
        }
        // SAFETY: the position lock is held.
        let pos = unsafe { (*f).f_pos };
        // SAFETY: taken above by this task.
        unsafe { bindings::mutex_unlock(&mut (*f).__bindgen_anon_1.f_pos_lock) };
        Some(pos)
    }
}

/// A file's position lock (`f_pos_lock`), held the way read(2) and write(2)
/// hold it (`fdget_pos`): for files whose position is shared (regular files
/// and directories); a stream (a pipe, a socket) has none and nothing is
/// taken. Reads and writes through it move the position.
///
/// # Invariants
///
/// `locked` is true only if `file` has `FMODE_ATOMIC_POS` and this object
/// holds its `f_pos_lock`, taken by the task that drops it (the lock is
/// never kept across a return to user space).
pub(crate) struct PosLock {
    file: FileRef,
    locked: bool,
}

impl PosLock {
    /// Takes the position lock of `file`, waiting for it as read(2) does.
    pub(crate) fn lock(file: FileRef) -> Self {
        let locked = file.has_pos_lock();
        if locked {
            // SAFETY: the file is referenced and has FMODE_ATOMIC_POS, so
            // the union holds its position lock.
            unsafe { bindings::mutex_lock(&mut (*file.as_ptr()).__bindgen_anon_1.f_pos_lock) };
        }
        // INVARIANT: locked above if and only if the file has the lock.
        Self { file, locked }
    }

    /// The file.
    pub(crate) fn file(&self) -> &FileRef {
        &self.file
    }

    /// The file's position, which the lock holds still.
    pub(crate) fn pos(&self) -> i64 {
        // SAFETY: the file is valid; the position lock is held, or the file
        // has none (its position is the caller's alone, as for read(2)).
        unsafe { (*self.file.as_ptr()).f_pos }
    }

    pub(crate) fn set_pos(&self, pos: i64) {
        // SAFETY: as for `pos`.
        unsafe { (*self.file.as_ptr()).f_pos = pos };
    }

    /// Writes all of `buf` at the file's position, like write(2) would, and
    /// advances the position. A pipe or socket may block: the wait is
    /// interruptible, and a signal ends it with an error.
    pub(crate) fn write_all(&self, buf: &[u8]) -> Result {
        let mut pos = self.pos();
        let r = self.file.write_from(buf, &mut pos);
        self.set_pos(pos);
        r
    }

    /// [`write_all`](Self::write_all) of the `len` bytes of `bvecs`,
    /// straight from their pages (`kernel_write` too needs `write_iter`).
    pub(crate) fn write_pages(&self, bvecs: &[bindings::bio_vec], len: usize) -> Result {
        let mut pos = self.pos();
        let r = self.file.write_bvecs_from(bvecs, len, &mut pos);
        self.set_pos(pos);
        r
    }
}

impl Drop for PosLock {
    fn drop(&mut self) {
        if self.locked {
            // SAFETY: by the type invariant this task holds the lock.
            unsafe {
                bindings::mutex_unlock(&mut (*self.file.as_ptr()).__bindgen_anon_1.f_pos_lock)
            };
        }
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this object owns one reference.
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}
