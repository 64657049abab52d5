// SPDX-License-Identifier: GPL-2.0

//! Credentials a restored task's files are opened with.
//!
//! C header: [`include/linux/cred.h`](srctree/include/linux/cred.h).

use crate::image::TaskMisc;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

/// Credentials that a restored task's files are opened with: the
/// caller's, with the filesystem ids, supplementary groups and effective
/// capabilities the task ends with (so root restarting a user's process
/// gives it no file that user could not open).
///
/// # Invariants
///
/// `self.0` is a valid cred on which this object holds one reference.
pub(crate) struct OpenCreds(NonNull<bindings::cred>);

/// While it lives, current acts with an [`OpenCreds`]' credentials.
pub(crate) struct CredsOverride(*const bindings::cred);

impl OpenCreds {
    /// Builds them from a task-misc record checked by
    /// [`check_misc`](crate::task::check_misc).
    pub(crate) fn new(m: &TaskMisc, groups: &[u32]) -> Result<Self> {
        let n = i32::try_from(groups.len()).map_err(|_| EINVAL)?;
        // SAFETY: `groups` holds `n` gids; the helper returns a new cred
        // with one reference, or an ERR_PTR.
        let c = kernel::error::from_err_ptr(unsafe {
            bindings::ckpt_open_creds(m.ids[3], m.ids[7], groups.as_ptr(), n, m.caps[2]).cast_mut()
        })?;
        // INVARIANT: a non-error result carries a reference.
        NonNull::new(c).map(Self).ok_or(ENOMEM)
    }

    /// Acts with these credentials until the guard is dropped.
    pub(crate) fn apply(&self) -> CredsOverride {
        // SAFETY: the cred is valid; override_creds takes its own
        // reference and returns current's previous subjective creds.
        CredsOverride(unsafe { bindings::override_creds(self.0.as_ptr()) })
    }
}

impl Drop for OpenCreds {
    fn drop(&mut self) {
        // SAFETY: this object owns one reference.
        unsafe { bindings::ckpt_put_cred(self.0.as_ptr()) };
    }
}

impl Drop for CredsOverride {
    fn drop(&mut self) {
        // SAFETY: `self.0` is what override_creds returned, on this task.
        unsafe { bindings::revert_creds(self.0) };
    }
}
