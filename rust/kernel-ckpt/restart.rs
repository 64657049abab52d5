// SPDX-License-Identifier: GPL-2.0

//! `restart(2)`: restores the calling task from an image.
//!
//! Only argument validation exists so far; restoring tasks is the next step
//! of kernel-ckpt, and until then the call fails with `-ENOSYS` so that user
//! space can tell it apart from a bad argument.

use crate::file::FileRef;
use crate::image;
use kernel::ffi::{c_int, c_ulong};
use kernel::bindings;
use kernel::prelude::*;

/// `restart(pid, fd, flags)`.
pub(crate) fn restart(_pid: bindings::pid_t, fd: c_int, flags: c_ulong) -> Result {
    if flags as u64 & !image::RESTART_FLAGS_MASK != 0 {
        return Err(EINVAL);
    }
    let _image = FileRef::fget(fd)?;
    Err(crate::enosys())
}
