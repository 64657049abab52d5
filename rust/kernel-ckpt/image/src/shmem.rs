// SPDX-License-Identifier: GPL-2.0
//! Shared memory objects and their contents.
//!
//! Written by the kernel's `shmem.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// Shared memory (a shmem file with no name left), written once before
/// the first VMA that maps it; its contents follow in [`ShmemPages`]
/// records (pages never written are holes, not saved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShmemObj {
    /// Object id.
    pub id: ObjId,
    /// Size in bytes, a multiple of the page size.
    pub size: u64,
}

impl ShmemObj {
    /// Largest size accepted (the user address space).
    pub const MAX_SIZE: u64 = USER_ADDR_END;

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (o, _) = Self::read_fixed(p)?;
        if o.size == 0 || o.size % PAGE_SIZE as u64 != 0 || o.size > Self::MAX_SIZE {
            return Err(ErrorKind::BadField("shared memory size", o.size as i64));
        }
        Ok(o)
    }
}

layout!(ShmemObj { id: ObjId, _: u32, size: u64 });

/// Head of a shared memory contents record: `nr` pages of object `id`
/// from byte `offset` on follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShmemPagesHeader {
    pub id: ObjId,
    pub nr: u32,
    pub offset: u64,
}

impl ShmemPagesHeader {
    pub(crate) fn decode(p: &[u8], size: u64) -> Result<(Self, &[u8]), ErrorKind> {
        let (h, rest) = Self::read_fixed(p)?;
        if h.nr == 0 || h.nr > MAX_PAGES_PER_RECORD {
            return Err(ErrorKind::BadField("shared memory pages", h.nr.into()));
        }
        let end = h.offset.checked_add(u64::from(h.nr) * PAGE_SIZE as u64);
        if h.offset % PAGE_SIZE as u64 != 0 || end.is_none_or(|e| e > size) {
            return Err(ErrorKind::BadField("shared memory offset", h.offset as i64));
        }
        Ok((h, tail(rest, h.nr * PAGE_SIZE as u32)?))
    }
}

layout!(ShmemPagesHeader {
    id: ObjId,
    nr: u32,
    offset: u64
});
