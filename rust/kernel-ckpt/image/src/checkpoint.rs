// SPDX-License-Identifier: GPL-2.0
//! The header, the forest table's head and the task-state record that
//! begins each task's records.
//!
//! Written by the kernel's `checkpoint.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// The first record: identifies the image and the kernel that wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version, [`IMAGE_VERSION`].
    pub version: u32,
    /// Architecture code, [`ARCH_X86_64`].
    pub arch: u32,
    /// The flags `checkpoint(2)` was called with.
    pub flags: u64,
    /// `uname -r` of the checkpointing kernel, NUL padded.
    pub release: [u8; RELEASE_LEN],
}

impl Default for Header {
    fn default() -> Self {
        Self {
            version: 0,
            arch: 0,
            flags: 0,
            release: [0; RELEASE_LEN],
        }
    }
}

impl Header {
    /// The kernel release as text (up to the first NUL).
    pub fn release_str(&self) -> &str {
        c_str(&self.release)
    }

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (h, _) = Self::read_fixed(p)?;
        if h.version != IMAGE_VERSION {
            return Err(ErrorKind::UnsupportedVersion(h.version));
        }
        if h.arch != ARCH_X86_64 {
            return Err(ErrorKind::UnknownArch(h.arch));
        }
        if h.flags & !CHECKPOINT_FLAGS_MASK != 0 {
            return Err(ErrorKind::UnknownFlags(h.flags));
        }
        if !h.release.contains(&0) {
            return Err(ErrorKind::BadField("release", 0));
        }
        Ok(h)
    }
}

layout!(Header {
    _: [u8; 8] = MAGIC,
    version: u32,
    arch: u32,
    flags: u64,
    release: [u8; RELEASE_LEN],
    _: [u8; 3]
});

/// The process forest table's head: how many task rows follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ForestHead {
    /// Number of [`TaskEntry`] records that follow, threads included.
    pub nr_tasks: u32,
    /// Pid of the root of the checkpointed tree, in the caller's namespace.
    pub root_pid: i32,
}

impl ForestHead {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (f, _) = Self::read_fixed(p)?;
        if f.nr_tasks == 0 || f.nr_tasks > MAX_TASKS {
            return Err(ErrorKind::BadField("nr_tasks", f.nr_tasks.into()));
        }
        if f.root_pid <= 0 {
            return Err(ErrorKind::BadField("root_pid", f.root_pid.into()));
        }
        Ok(f)
    }
}

layout!(ForestHead {
    nr_tasks: u32,
    root_pid: i32
});

/// Begins one task's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TaskState {
    /// The task's pid (as in the forest table).
    pub pid: i32,
}

impl TaskState {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (t, _) = Self::read_fixed(p)?;
        if t.pid <= 0 {
            return Err(ErrorKind::BadField("pid", t.pid.into()));
        }
        Ok(t)
    }
}

layout!(TaskState { pid: i32, _: u32 });
