// SPDX-License-Identifier: GPL-2.0
//! Deleted files still open.
//!
//! Written by the kernel's `deleted.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// `DeletedFileObj::flags`: the file never had a name (`O_TMPFILE`): it
/// is made again as one, in the directory it was made in.
pub const DELETED_TMPFILE: u32 = 1;

/// A regular file that was deleted while open (its last name unlinked),
/// written once before its first open file, keyed by its inode. Its
/// directory and last name follow (the path its open files show, without
/// " (deleted)"), and its contents follow the record in
/// [`ShmemPagesHeader`] records (holes are not saved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DeletedFileObj {
    /// Object id.
    pub id: ObjId,
    /// `DELETED_TMPFILE`.
    pub flags: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Its permission bits (no set-id or sticky bits).
    pub mode: u32,
    /// Length of the path that follows.
    pub path_len: u32,
}

impl DeletedFileObj {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (d, rest) = Self::read_fixed(p)?;
        if d.flags & !DELETED_TMPFILE != 0 {
            return Err(ErrorKind::BadField("deleted file flags", d.flags.into()));
        }
        if d.size > ShmemObj::MAX_SIZE {
            return Err(ErrorKind::BadField("deleted file size", d.size as i64));
        }
        if d.mode & !0o777 != 0 {
            return Err(ErrorKind::BadField("deleted file mode", d.mode.into()));
        }
        if d.path_len < 2 || d.path_len > MAX_PATH_LEN {
            return Err(ErrorKind::BadField(
                "deleted file path length",
                d.path_len.into(),
            ));
        }
        let path = tail(rest, d.path_len)?;
        // An absolute path with a last name: "/dir/name", no NUL.
        if path.first() != Some(&b'/') || path.ends_with(b"/") || path.contains(&0) {
            return Err(ErrorKind::BadField("deleted file path", 0));
        }
        Ok((d, path))
    }

    /// The size its contents records may cover: its size up to a page.
    pub fn pages_size(&self) -> u64 {
        self.size.next_multiple_of(PAGE_SIZE as u64)
    }
}

layout!(DeletedFileObj {
    id: ObjId,
    flags: u32,
    size: u64,
    mode: u32,
    path_len: u32
});
