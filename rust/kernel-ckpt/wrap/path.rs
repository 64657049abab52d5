// SPDX-License-Identifier: GPL-2.0

//! Paths: counted references to a mount and dentry, their names, lookups,
//! and the directory checks of chdir(2) and chroot(2).
//!
//! C headers: [`include/linux/path.h`](srctree/include/linux/path.h),
//! [`include/linux/namei.h`](srctree/include/linux/namei.h),
//! [`include/linux/dcache.h`](srctree/include/linux/dcache.h).

use crate::image::MAX_PATH_LEN;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// A `struct path` reference.
///
/// # Invariants
///
/// `self.0` holds one reference on its mount and dentry, put on drop.
pub(crate) struct PathRef(bindings::path);

impl PathRef {
    /// Looks up the directory `path` (no NUL inside) from the caller's root
    /// and working directory, following symbolic links, with the
    /// credentials in force.
    pub(crate) fn lookup_dir(path: &[u8]) -> Result<Self> {
        let c = nul_terminated(path)?;
        let mut p = empty();
        // SAFETY: `c` is NUL-terminated; on success `p` holds references.
        to_result(unsafe {
            bindings::kern_path(
                c.as_ptr().cast(),
                bindings::LOOKUP_FOLLOW | bindings::LOOKUP_DIRECTORY,
                &mut p,
            )
        })?;
        // INVARIANT: kern_path succeeded and took the references.
        Ok(Self(p))
    }

    /// Looks up `path` (no NUL inside) from the caller's root and working
    /// directory, with the credentials in force, not following a symbolic
    /// link that is its last component.
    pub(crate) fn lookup_nofollow(path: &[u8]) -> Result<Self> {
        let c = nul_terminated(path)?;
        let mut p = empty();
        // SAFETY: `c` is NUL-terminated; on success `p` holds references.
        to_result(unsafe { bindings::kern_path(c.as_ptr().cast(), 0, &mut p) })?;
        // INVARIANT: kern_path succeeded and took the references.
        Ok(Self(p))
    }

    /// A path to `inode` from the caller's root, through a mount of the
    /// caller's mount namespace: `-ENOENT` if it has none (deleted, or
    /// reached only through other mounts), `-ENAMETOOLONG` if it is deeper
    /// than a saved path can be, `-E2BIG` if its file system is mounted
    /// more often than is searched.
    ///
    /// # Safety
    ///
    /// `inode` must be a valid inode the caller holds a reference on.
    pub(crate) unsafe fn to_inode(inode: *mut bindings::inode) -> Result<Self> {
        let mut p = empty();
        // SAFETY: the caller guarantees a referenced inode; on success `p`
        // holds references.
        to_result(unsafe { bindings::ckpt_inode_path(inode, &mut p) })?;
        // INVARIANT: the helper succeeded and took the references.
        Ok(Self(p))
    }

    /// Takes over the references `p` holds.
    ///
    /// # Safety
    ///
    /// `p` must hold one reference on its mount and one on its dentry,
    /// which the new object owns.
    pub(crate) unsafe fn from_raw(p: bindings::path) -> Self {
        // INVARIANT: the caller passes the references.
        Self(p)
    }

    /// Another reference on the same path.
    pub(crate) fn clone_ref(&self) -> Self {
        // SAFETY: the path is referenced; path_get takes one more
        // reference on each, which the new object owns.
        unsafe { bindings::path_get(&self.0) };
        // INVARIANT: taken above.
        Self(self.0)
    }

    /// The entry `name` (one path component) of directory `self`, on the
    /// same mount, looked up as a name of it would be (no mount crossed,
    /// no link followed): `None` if there is none.
    pub(crate) fn child(&self, name: &[u8]) -> Result<Option<Self>> {
        let len = i32::try_from(name.len()).map_err(|_| EINVAL)?;
        let mut p = empty();
        // SAFETY: the path is referenced; `name` has `len` bytes; on
        // success `p` holds references.
        match to_result(unsafe {
            bindings::ckpt_path_child(&self.0, name.as_ptr().cast(), len, &mut p)
        }) {
            // INVARIANT: the helper took the references.
            Ok(()) => Ok(Some(Self(p))),
            Err(e) if e == ENOENT => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The address of the inode it names, to compare with another's.
    pub(crate) fn inode_addr(&self) -> usize {
        // SAFETY: the dentry is referenced; a positive dentry's inode does
        // not change while it is.
        unsafe { (*self.0.dentry).d_inode as usize }
    }

    /// The working directory, root directory and umask of `task`.
    ///
    /// # Safety
    ///
    /// `task` must be a valid task, referenced by the caller.
    pub(crate) unsafe fn task_fs(task: *mut bindings::task_struct) -> Result<(Self, Self, u32)> {
        let (mut pwd, mut root, mut umask) = (empty(), empty(), 0u32);
        // SAFETY: the caller guarantees a valid task; on success both paths
        // hold references, on failure (no fs_struct) neither does.
        to_result(unsafe { bindings::ckpt_task_fs(task, &mut umask, &mut pwd, &mut root) })?;
        // INVARIANT: the helper took the references.
        Ok((Self(pwd), Self(root), umask))
    }

    /// The raw path, referenced while `self` lives.
    pub(crate) fn as_raw(&self) -> &bindings::path {
        &self.0
    }

    /// Its name as `d_path` gives it (no NUL), from the caller's root.
    pub(crate) fn name(&self) -> Result<KVec<u8>> {
        name_of(&self.0)
    }

    /// chdir(2)'s check: search permission for the credentials in force.
    pub(crate) fn may_chdir(&self) -> Result {
        // SAFETY: the path is referenced.
        to_result(unsafe { bindings::ckpt_may_chdir(&self.0) })
    }

    /// chroot(2)'s checks for a new root: `CAP_SYS_CHROOT` and search
    /// permission, unless it is the caller's root already.
    pub(crate) fn may_chroot(&self) -> Result {
        // SAFETY: the path is referenced.
        to_result(unsafe { bindings::ckpt_may_chroot(&self.0) })
    }
}

impl Drop for PathRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this object holds the references.
        unsafe { bindings::path_put(&self.0) };
    }
}

fn empty() -> bindings::path {
    bindings::path {
        mnt: core::ptr::null_mut(),
        dentry: core::ptr::null_mut(),
    }
}

/// `s` and a NUL, for the C side; `-EINVAL` if `s` holds a NUL itself.
pub(crate) fn nul_terminated(s: &[u8]) -> Result<KVec<u8>> {
    if s.contains(&0) {
        return Err(EINVAL);
    }
    let mut c = KVec::with_capacity(s.len() + 1, GFP_KERNEL)?;
    c.extend_from_slice(s, GFP_KERNEL)?;
    c.push(0, GFP_KERNEL)?;
    Ok(c)
}

/// The name of the referenced path `p` as `d_path` gives it (no NUL),
/// relative to the caller's root.
pub(crate) fn name_of(p: &bindings::path) -> Result<KVec<u8>> {
    let mut buf = KVec::from_elem(0u8, MAX_PATH_LEN as usize, GFP_KERNEL)?;
    // SAFETY: `p` is a referenced path; `buf` has `MAX_PATH_LEN` bytes;
    // `d_path` writes the name at the end of the buffer and returns it.
    let s = unsafe { bindings::d_path(p, buf.as_mut_ptr().cast(), MAX_PATH_LEN as i32) };
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
