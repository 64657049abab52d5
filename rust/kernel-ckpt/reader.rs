// SPDX-License-Identifier: GPL-2.0

//! The image reader: records read front to back from any file (a pipe too),
//! checked by the image crate's parser one at a time.
//!
//! Every record's payload is read into one buffer that grows to the largest
//! record seen (a pages record: 4 MiB), so memory use is bounded whatever
//! the image's size. A malformed image gives `-EINVAL` and a kernel log line
//! that names the record and its byte offset.

use crate::image::{self, DecodeError, ErrorKind, Item, Parser, RawRecord, RecordType};
use crate::objhash::ObjTable;
use crate::wrap::file::FileRef;
use kernel::bindings;
use kernel::prelude::*;

/// Reads and checks the records of one image.
pub(crate) struct ImageReader {
    file: FileRef,
    buf: KVVec<u8>,
    parser: Parser,
    /// Index and byte offset of the next record.
    index: u32,
    offset: u64,
    /// The record read last: index, type and offset.
    last: Option<(u32, u32, u64)>,
}

impl ImageReader {
    /// A reader of the image in `file`, from its current position.
    pub(crate) fn new(file: FileRef) -> Self {
        Self {
            file,
            buf: KVVec::new(),
            parser: Parser::new(),
            index: 0,
            offset: 0,
            last: None,
        }
    }

    /// The record read last (index, type, byte offset), for reports.
    pub(crate) fn last(&self) -> Option<(u32, u32, u64)> {
        self.last
    }

    fn bad(&mut self, record_type: Option<u32>, kind: ErrorKind) -> Error {
        self.last = Some((self.index, record_type.unwrap_or(0), self.offset));
        let e = DecodeError {
            index: self.index,
            offset: self.offset,
            record_type,
            kind,
        };
        ckpt_err!("restart: bad image: {}\n", e);
        EINVAL
    }

    /// Reads exactly `len` bytes into the buffer; a short image is an
    /// invalid one.
    fn fill(&mut self, len: usize) -> Result {
        if self.buf.len() < len {
            // Sized by the image (at most one record): charged to the
            // caller's memory cgroup.
            self.buf
                .extend_with(len - self.buf.len(), 0, GFP_KERNEL_ACCOUNT)?;
        }
        let dst = self.buf.get_mut(..len).ok_or(EINVAL)?;
        match self.file.read_exact(dst) {
            Err(e) if e.to_errno() == -(bindings::ENODATA as i32) => {
                Err(self.bad(None, ErrorKind::Truncated))
            }
            r => r,
        }
    }

    /// Reads the next raw record into the buffer: its type code and
    /// payload length. Nothing is decoded yet.
    fn read_raw(&mut self) -> Result<(u32, usize)> {
        crate::wrap::task::killable()?;
        self.fill(image::RECORD_HEADER_LEN)?;
        let mut h = [0u8; image::RECORD_HEADER_LEN];
        h.copy_from_slice(self.buf.get(..image::RECORD_HEADER_LEN).ok_or(EINVAL)?);
        let [k0, k1, k2, k3, l0, l1, l2, l3] = h;
        let kind = u32::from_le_bytes([k0, k1, k2, k3]);
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        if len > image::MAX_PAYLOAD_LEN {
            return Err(self.bad(Some(kind), ErrorKind::Oversized(len)));
        }
        let len = len as usize;
        let pad = image::padding(len);
        self.fill(len + pad)?;
        if self
            .buf
            .get(len..len + pad)
            .is_none_or(|p| p.iter().any(|&b| b != 0))
        {
            return Err(self.bad(Some(kind), ErrorKind::BadPadding));
        }
        let (index, offset) = (self.index, self.offset);
        self.last = Some((index, kind, offset));
        self.index = self.index.saturating_add(1);
        self.offset = self
            .offset
            .saturating_add((image::RECORD_HEADER_LEN + len + pad) as u64);
        Ok((kind, len))
    }

    /// Decodes the record [`Self::read_raw`] read.
    fn decode(&mut self, kind: u32, len: usize) -> Result<Item<'_>> {
        let (index, _, offset) = self.last.ok_or(EINVAL)?;
        let payload = self.buf.get(..len).ok_or(EINVAL)?;
        let rec = RawRecord {
            kind,
            payload,
            index,
            offset,
        };
        match self.parser.feed(rec) {
            Ok(item) => Ok(item),
            Err(kind_err) => {
                let e = DecodeError {
                    index,
                    offset,
                    record_type: Some(kind),
                    kind: kind_err,
                };
                ckpt_err!("restart: bad image: {}\n", e);
                Err(EINVAL)
            }
        }
    }

    /// The next record, checked against the records before it.
    pub(crate) fn next(&mut self) -> Result<Item<'_>> {
        let (kind, len) = self.read_raw()?;
        self.decode(kind, len)
    }

    /// The next record that is not an object record. The object records
    /// before it, wherever they are in the stream, are restored on the
    /// way through the table of object kinds, with the credentials in
    /// force.
    pub(crate) fn next_after_objects(&mut self, objs: &mut ObjTable) -> Result<Item<'_>> {
        loop {
            let (kind, len) = self.read_raw()?;
            if RecordType::from_u32(kind).is_some_and(RecordType::is_object) {
                let obj = self.decode(kind, len)?.object().ok_or(EINVAL)?;
                crate::objects::restore(objs, obj)?;
                continue;
            }
            return self.decode(kind, len);
        }
    }
}
