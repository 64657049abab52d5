// SPDX-License-Identifier: GPL-2.0
//! Pipe objects and the bytes in flight.
//!
//! Written by the kernel's `pipe.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// An anonymous pipe (`struct pipe_inode_info`), written once before the
/// first file of either end; the bytes in flight follow, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PipeObj {
    /// Object id.
    pub id: ObjId,
    /// Capacity in bytes (`F_GETPIPE_SZ`): a power of two number of pages.
    pub capacity: u32,
    /// Number of bytes in flight that follow (at most `capacity`).
    pub data_len: u32,
}

impl PipeObj {
    /// Largest capacity accepted (the data must fit in one record).
    pub const MAX_CAPACITY: u32 = 8 << 20;

    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (o, rest) = Self::read_fixed(p)?;
        if o.capacity < PAGE_SIZE as u32
            || o.capacity > Self::MAX_CAPACITY
            || !o.capacity.is_power_of_two()
        {
            return Err(ErrorKind::BadField("pipe capacity", o.capacity.into()));
        }
        if o.data_len > o.capacity {
            return Err(ErrorKind::BadField("pipe data length", o.data_len.into()));
        }
        Ok((o, tail(rest, o.data_len)?))
    }
}

layout!(PipeObj { id: ObjId, capacity: u32, data_len: u32, _: u32 });
