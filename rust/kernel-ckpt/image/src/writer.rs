// SPDX-License-Identifier: GPL-2.0
//! The tail record that ends an image.
//!
//! Written by the kernel's `writer.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// The last record: lets a reader tell a complete image from a cut one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Tail {
    /// Number of records before the tail.
    pub nr_records: u32,
    /// Number of bytes before the tail record.
    pub bytes: u64,
}

impl Tail {
    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        Ok(Self::read_fixed(p)?.0)
    }
}

layout!(Tail { _: [u8; 8] = TAIL_MAGIC, nr_records: u32, _: u32, bytes: u64 });
