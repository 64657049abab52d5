// SPDX-License-Identifier: GPL-2.0
//! Named pipe (FIFO) objects: capacity, bytes in flight and path.
//!
//! Written by the kernel's `fifo.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// A named pipe (the `struct pipe_inode_info` of a FIFO's inode), written
/// once before the first of its open files; the bytes in flight follow,
/// oldest first, then its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FifoObj {
    /// Object id.
    pub id: ObjId,
    /// Capacity in bytes (`F_GETPIPE_SZ`): a power of two number of pages.
    pub capacity: u32,
    /// Number of bytes in flight that follow (at most `capacity`).
    pub data_len: u32,
    /// Length of the path that follows the bytes.
    pub path_len: u32,
}

impl FifoObj {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8], &[u8]), ErrorKind> {
        let (f, rest) = Self::read_fixed(p)?;
        if f.capacity < PAGE_SIZE as u32
            || f.capacity > PipeObj::MAX_CAPACITY
            || !f.capacity.is_power_of_two()
        {
            return Err(ErrorKind::BadField("fifo capacity", f.capacity.into()));
        }
        if f.data_len > f.capacity {
            return Err(ErrorKind::BadField("fifo data length", f.data_len.into()));
        }
        if f.path_len == 0 || f.path_len > MAX_PATH_LEN {
            return Err(ErrorKind::BadField("fifo path length", f.path_len.into()));
        }
        let rest = tail(rest, f.data_len + f.path_len)?;
        let (data, path) = rest.split_at(f.data_len as usize);
        Ok((f, data, path))
    }
}

layout!(FifoObj {
    id: ObjId,
    capacity: u32,
    data_len: u32,
    path_len: u32
});
