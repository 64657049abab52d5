// SPDX-License-Identifier: GPL-2.0

//! The errnos kernel-ckpt returns that the kernel crate does not name
//! (`kernel::error::code` has no `EOPNOTSUPP`, `ENODATA`, `ENOSYS` or
//! `ETIMEDOUT` or `ENOBUFS` in 6.12).

use kernel::bindings;
use kernel::prelude::*;

/// State a restart cannot bring back (yet).
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-(bindings::EOPNOTSUPP as i32))
}

/// File name too long.
pub(crate) fn enametoolong() -> Error {
    Error::from_errno(-(bindings::ENAMETOOLONG as i32))
}

/// The calls are disabled (the boot layout self-check failed).
pub(crate) fn enosys() -> Error {
    Error::from_errno(-(bindings::ENOSYS as i32))
}

/// A wait that ran out of time.
pub(crate) fn etimedout() -> Error {
    Error::from_errno(-(bindings::ETIMEDOUT as i32))
}

/// Value too large for defined data type (an id a namespace does not map).
pub(crate) fn eoverflow() -> Error {
    Error::from_errno(-(bindings::EOVERFLOW as i32))
}

/// No buffer space: more state than a copy-on-write checkpoint keeps in
/// memory while the tree is frozen.
pub(crate) fn enobufs() -> Error {
    Error::from_errno(-(bindings::ENOBUFS as i32))
}
