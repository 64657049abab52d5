// SPDX-License-Identifier: GPL-2.0
//! The error of a kernel-ckpt system call: the errno and what it means.

use std::fmt;

use nix::errno::Errno;

/// A failed `checkpoint(2)` or `restart(2)` (or a check made before the
/// call that stands for one of its errors, such as a missing pid).
///
/// Displays as a sentence naming the cause and the fix; `errno` keeps the
/// raw error for programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointError {
    /// What the kernel (or the equivalent check) returned.
    pub errno: Errno,
    /// The sentence shown to the user.
    pub message: String,
}

impl CheckpointError {
    /// An error with an explicit message.
    pub fn new(errno: Errno, message: impl Into<String>) -> Self {
        Self {
            errno,
            message: message.into(),
        }
    }

    /// The errno of a [`CheckpointError`] inside `err`, if there is one.
    pub fn errno_of(err: &anyhow::Error) -> Option<Errno> {
        err.downcast_ref::<Self>().map(|e| e.errno)
    }
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckpointError {}
