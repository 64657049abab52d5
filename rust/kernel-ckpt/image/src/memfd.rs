// SPDX-License-Identifier: GPL-2.0
//! Memfd objects.
//!
//! Written by the kernel's `memfd.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// The seals a memfd may carry (`F_SEAL_SEAL`, `SHRINK`, `GROW`, `WRITE`,
/// `FUTURE_WRITE`, `EXEC`).
pub const MEMFD_SEALS: u32 = 0x3f;
/// Longest memfd name: `memfd:` and at most 249 bytes (`NAME_MAX`).
pub const MEMFD_NAME_MAX: u32 = 255;

/// A memfd (its shmem inode: contents, size, seals, name), written once
/// before the first open file or mapping of it; its name follows the
/// fixed part, and its contents follow the record in
/// [`ShmemPagesHeader`] records (holes are not saved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemfdObj {
    /// Object id.
    pub id: ObjId,
    /// Its seals (`F_SEAL_*`).
    pub seals: u32,
    /// Its size in bytes.
    pub size: u64,
    /// The permission bits of its inode (memfd_create(2) makes 0777, less
    /// 0111 with `MFD_NOEXEC_SEAL`; chmod(2) may have changed them).
    pub mode: u32,
    /// Length of its name (`memfd:` and what memfd_create(2) was given),
    /// which follows.
    pub name_len: u32,
}

impl MemfdObj {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (m, rest) = Self::read_fixed(p)?;
        if m.seals & !MEMFD_SEALS != 0 {
            return Err(ErrorKind::BadField("memfd seals", m.seals.into()));
        }
        if m.size > ShmemObj::MAX_SIZE {
            return Err(ErrorKind::BadField("memfd size", m.size as i64));
        }
        if m.mode & !0o777 != 0 {
            return Err(ErrorKind::BadField("memfd mode", m.mode.into()));
        }
        if m.name_len < 6 || m.name_len > MEMFD_NAME_MAX {
            return Err(ErrorKind::BadField("memfd name length", m.name_len.into()));
        }
        let name = tail(rest, m.name_len)?;
        if !name.starts_with(b"memfd:") || name.contains(&0) {
            return Err(ErrorKind::BadField("memfd name", 0));
        }
        Ok((m, name))
    }

    /// The size its contents records may cover: its size up to a page.
    pub fn pages_size(&self) -> u64 {
        self.size.next_multiple_of(PAGE_SIZE as u64)
    }
}

layout!(MemfdObj {
    id: ObjId,
    seals: u32,
    size: u64,
    mode: u32,
    name_len: u32
});
