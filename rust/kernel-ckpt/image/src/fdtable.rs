// SPDX-License-Identifier: GPL-2.0
//! The descriptor table: working and root directory, umask, descriptors.
//!
//! Written by the kernel's `fdtable.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// Head of a task's open files: `nr_fds` [`Fd`] records follow, each
/// after the [`FileObj`] (and [`PipeObj`]) it is the first to refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FilesHeader {
    /// Number of [`Fd`] records that follow.
    pub nr_fds: u32,
    /// The file mode creation mask.
    pub umask: u32,
    /// Length of the working directory's path, which follows.
    pub cwd_len: u32,
    /// Length of the root directory's path, which follows the cwd.
    pub root_len: u32,
}

impl FilesHeader {
    /// Most open files in one table (the kernel's `NR_OPEN` is 1 << 20).
    pub const MAX_FDS: u32 = 1 << 20;

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8], &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if h.nr_fds > Self::MAX_FDS {
            return Err(ErrorKind::BadField("nr_fds", h.nr_fds.into()));
        }
        if h.umask & !0o777 != 0 {
            return Err(ErrorKind::BadField("umask", h.umask.into()));
        }
        if h.cwd_len == 0 || h.cwd_len > MAX_PATH_LEN {
            return Err(ErrorKind::BadField("cwd length", h.cwd_len.into()));
        }
        if h.root_len == 0 || h.root_len > MAX_PATH_LEN {
            return Err(ErrorKind::BadField("root length", h.root_len.into()));
        }
        let rest = tail(rest, h.cwd_len + h.root_len)?;
        let (cwd, root) = rest.split_at(h.cwd_len as usize);
        Ok((h, cwd, root))
    }
}

layout!(FilesHeader {
    nr_fds: u32,
    umask: u32,
    cwd_len: u32,
    root_len: u32
});

/// `Fd::fd_flags`: close-on-exec is set.
pub const FD_CLOEXEC: u32 = 1;

/// One open file descriptor: its number, flags and the file it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Fd {
    /// The descriptor number.
    pub fd: u32,
    /// `FD_*` flags.
    pub fd_flags: u32,
    /// The [`FileObj`] id.
    pub file: ObjId,
}

impl Fd {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (f, _) = Self::read_fixed(p)?;
        if f.fd >= FilesHeader::MAX_FDS {
            return Err(ErrorKind::BadField("fd", f.fd.into()));
        }
        if f.fd_flags & !FD_CLOEXEC != 0 {
            return Err(ErrorKind::BadField("fd flags", f.fd_flags.into()));
        }
        Ok(f)
    }
}

layout!(Fd { fd: u32, fd_flags: u32, file: ObjId, _: u32 });

/// A process whose open file table or fs context is another process's:
/// written before its files record when the two share one (`clone(2)`
/// with `CLONE_FILES` or `CLONE_FS` without `CLONE_THREAD`). The other
/// process comes earlier in the image, and its records hold what they
/// share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShareRec {
    /// The process whose descriptor table this one uses (its pid as the
    /// forest rows number it), or 0 for a table of its own. When not 0,
    /// the files record that follows has no descriptors, and no lock or
    /// owner record follows it.
    pub files: i32,
    /// The process whose working and root directories and umask this one
    /// uses, or 0 for its own.
    pub fs: i32,
}

impl ShareRec {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (s, _) = Self::read_fixed(p)?;
        if s.files < 0 {
            return Err(ErrorKind::BadField("shared files pid", s.files.into()));
        }
        if s.fs < 0 {
            return Err(ErrorKind::BadField("shared fs pid", s.fs.into()));
        }
        if s.files == 0 && s.fs == 0 {
            return Err(ErrorKind::BadField("shared pids", 0));
        }
        Ok(s)
    }
}

layout!(ShareRec {
    files: i32,
    fs: i32
});
