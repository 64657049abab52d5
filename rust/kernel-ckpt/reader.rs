// SPDX-License-Identifier: GPL-2.0

//! The image reader: records read front to back from any file (a pipe too),
//! checked by the image crate's parser one at a time.
//!
//! Records are read into one buffer that grows to the largest record seen
//! (a pages record: 4 MiB), so memory use is bounded whatever the image's
//! size. From a seekable regular file the reader reads [`READ_AHEAD`] bytes
//! at a time, whole records and the start of the next ones, at its own
//! position; from a pipe, a socket or a stream-like file it reads each
//! record exactly (what follows the image is not its to take). Either way
//! [`ImageReader::give_back_pos`] (or its drop) leaves the file's position
//! just past the last record taken. A malformed image gives `-EINVAL`
//! and a kernel log line that names the record and its byte offset.

use crate::image::{self, DecodeError, ErrorKind, Item, Parser, RawRecord, RecordType};
use crate::objhash::ObjTable;
use crate::wrap::file::{FileRef, PosLock};
use kernel::bindings;
use kernel::prelude::*;

/// How much the reader reads at a time from a regular file: a tree's
/// small records (a few dozen a task) come in one read, not two each.
const READ_AHEAD: usize = 256 * 1024;

/// Reads and checks the records of one image.
pub(crate) struct ImageReader {
    file: FileRef,
    /// `buf[at..end]` is read and not taken yet.
    buf: KVVec<u8>,
    at: usize,
    end: usize,
    /// The file position of `buf[end]`.
    pos: i64,
    /// A seekable regular file: read ahead.
    ahead: bool,
    /// The file's position was set past the records taken.
    given_back: bool,
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
        // A regular file that moves its position as read(2) does
        // (FMODE_ATOMIC_POS: not a stream_open()ed one) can be read ahead.
        let ahead = file.mode() & bindings::S_IFMT == bindings::S_IFREG && file.has_pos_lock();
        let pos = PosLock::lock(file.clone_ref()).pos();
        Self {
            file,
            buf: KVVec::new(),
            at: 0,
            end: 0,
            pos,
            ahead,
            given_back: false,
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

    /// Makes `buf[at..at + len]` hold the next `len` bytes of the image,
    /// reading what is missing; a short image is an invalid one.
    fn fill(&mut self, len: usize) -> Result {
        let have = self.end - self.at;
        if have >= len {
            return Ok(());
        }
        // What is left moves to the front (less than one read's worth).
        self.buf.copy_within(self.at..self.end, 0);
        (self.at, self.end) = (0, have);
        let want = if self.ahead { len.max(READ_AHEAD) } else { len };
        if self.buf.len() < want {
            // Sized by the image (one record, or the read-ahead): charged
            // to the caller's memory cgroup.
            self.buf
                .extend_with(want - self.buf.len(), 0, GFP_KERNEL_ACCOUNT)?;
        }
        // Until the `len` bytes are here: what the read-ahead asks beyond
        // them may end early (the file's end, or an error that is the next
        // read's, if the image needs those bytes).
        while self.end < len {
            let dst = self.buf.get_mut(self.end..want).ok_or(EINVAL)?;
            // Moves `pos` by what it read, and not on error.
            match self.file.read_once(dst, &mut self.pos)? {
                0 => return Err(self.bad(None, ErrorKind::Truncated)),
                n => self.end += n,
            }
        }
        Ok(())
    }

    /// Sets the file's position just past the last record taken, as
    /// reading record by record would have left it (what was read ahead
    /// is given back). Once: the position is the caller's again after.
    pub(crate) fn give_back_pos(&mut self) {
        if !self.given_back {
            self.given_back = true;
            let taken = self.pos.saturating_sub((self.end - self.at) as i64);
            PosLock::lock(self.file.clone_ref()).set_pos(taken);
        }
    }

    /// Takes the next `len` bytes of the buffer ([`Self::fill`]ed).
    fn take(&mut self, len: usize) -> Result<usize> {
        let start = self.at;
        self.at = start
            .checked_add(len)
            .filter(|&e| e <= self.end)
            .ok_or(EINVAL)?;
        Ok(start)
    }

    /// Reads the next raw record: its type code and where its payload is
    /// in the buffer. Nothing is decoded yet.
    fn read_raw(&mut self) -> Result<(u32, usize, usize)> {
        crate::wrap::task::killable()?;
        self.fill(image::RECORD_HEADER_LEN)?;
        let at = self.take(image::RECORD_HEADER_LEN)?;
        let mut h = [0u8; image::RECORD_HEADER_LEN];
        h.copy_from_slice(
            self.buf
                .get(at..at + image::RECORD_HEADER_LEN)
                .ok_or(EINVAL)?,
        );
        let [k0, k1, k2, k3, l0, l1, l2, l3] = h;
        let kind = u32::from_le_bytes([k0, k1, k2, k3]);
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        if len > image::MAX_PAYLOAD_LEN {
            return Err(self.bad(Some(kind), ErrorKind::Oversized(len)));
        }
        let len = len as usize;
        let pad = image::padding(len);
        self.fill(len + pad)?;
        let start = self.take(len + pad)?;
        if self
            .buf
            .get(start + len..start + len + pad)
            .map_or(true, |p| p.iter().any(|&b| b != 0))
        {
            return Err(self.bad(Some(kind), ErrorKind::BadPadding));
        }
        let (index, offset) = (self.index, self.offset);
        self.last = Some((index, kind, offset));
        self.index = self.index.saturating_add(1);
        self.offset = self
            .offset
            .saturating_add((image::RECORD_HEADER_LEN + len + pad) as u64);
        Ok((kind, start, len))
    }

    /// Decodes the record [`Self::read_raw`] read (its payload at `start`).
    fn decode(&mut self, kind: u32, start: usize, len: usize) -> Result<Item<'_>> {
        let (index, _, offset) = self.last.ok_or(EINVAL)?;
        let payload = self.buf.get(start..start + len).ok_or(EINVAL)?;
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
        let (kind, start, len) = self.read_raw()?;
        self.decode(kind, start, len)
    }

    /// The next record that is not an object record. The object records
    /// before it, wherever they are in the stream, are restored on the
    /// way through the table of object kinds, with the credentials in
    /// force.
    pub(crate) fn next_after_objects(&mut self, objs: &mut ObjTable) -> Result<Item<'_>> {
        loop {
            let (kind, start, len) = self.read_raw()?;
            if RecordType::from_u32(kind).is_some_and(RecordType::is_object) {
                let obj = self.decode(kind, start, len)?.object().ok_or(EINVAL)?;
                crate::objects::restore(objs, obj)?;
                continue;
            }
            return self.decode(kind, start, len);
        }
    }
}

impl Drop for ImageReader {
    fn drop(&mut self) {
        self.give_back_pos();
    }
}
