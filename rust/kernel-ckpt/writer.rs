// SPDX-License-Identifier: GPL-2.0

//! The image writer: records, padding, buffering and the tail.
//!
//! Records are appended to a buffer that is flushed to the file whenever it
//! holds [`FLUSH_BYTES`], so a pipe reader sees the image as it is made and
//! memory use stays bounded. Runs of pages skip the buffer
//! ([`ImageWriter::payload_pages`]): they are copied once, from the task's
//! pages into the file. The encoding itself is the image crate's.
//!
//! Locking: the image file's position lock is taken when the writer is
//! made and held until it is dropped, as write(2) holds it for one call:
//! the checkpoint takes it before any task's exec lock (the order a read
//! of `/proc/PID/*` takes the two in), and every flush under a task's exec
//! lock then moves a position that is already the writer's.

use crate::image::{self, Order, RecordType, Tail, PAGE_SIZE};
use crate::wrap::file::{FileRef, PosLock};
use kernel::bindings;
use kernel::prelude::*;

/// Flush threshold of the buffer, and the most one write(2) of the image
/// carries.
const FLUSH_BYTES: usize = 64 * 1024;

/// The shortest run of pages [`ImageWriter::payload_pages`] writes
/// straight from the pages: a buffer's worth.
const DIRECT_PAGES: usize = FLUSH_BYTES / PAGE_SIZE;

/// Streams records to a file.
pub(crate) struct ImageWriter {
    file: PosLock,
    buf: KVec<u8>,
    /// The vectors of the pages [`payload_pages`](Self::payload_pages)
    /// writes, kept from one call to the next.
    bvecs: KVec<bindings::bio_vec>,
    /// Records written so far.
    records: u32,
    /// Bytes written so far (flushed or buffered).
    bytes: u64,
    /// Payload bytes still owed by a record begun with `begin_record`.
    open: Option<usize>,
    /// The image crate's record order, which every record written is
    /// checked against: a record out of order is a bug here, and fails
    /// the call rather than write an image restart would refuse.
    order: Order,
}

impl ImageWriter {
    /// A writer on `file`, which must be open for writing.
    pub(crate) fn new(file: FileRef) -> Result<Self> {
        let buf = KVec::with_capacity(FLUSH_BYTES, GFP_KERNEL)?;
        Ok(Self {
            file: PosLock::lock(file),
            buf,
            bvecs: KVec::new(),
            records: 0,
            bytes: 0,
            open: None,
            order: Order::new(),
        })
    }

    /// Appends one record.
    pub(crate) fn record(&mut self, kind: RecordType, payload: &[u8]) -> Result {
        self.record_parts(kind, &[payload])
    }

    /// Appends one record whose payload is the concatenation of `parts`.
    pub(crate) fn record_parts(&mut self, kind: RecordType, parts: &[&[u8]]) -> Result {
        if self.open.is_some() {
            return Err(EINVAL);
        }
        let len = parts
            .iter()
            .try_fold(0usize, |acc, p| acc.checked_add(p.len()))
            .ok_or(EINVAL)?;
        let len32 = u32::try_from(len).map_err(|_| EINVAL)?;
        if len32 > image::MAX_PAYLOAD_LEN {
            return Err(EINVAL);
        }
        self.check_order(kind)?;
        const ZEROS: [u8; image::ALIGN] = [0; image::ALIGN];
        let pad = ZEROS.get(..image::padding(len)).ok_or(EINVAL)?;
        self.append(&image::record_header(kind, len32))?;
        for part in parts {
            self.append(part)?;
        }
        self.append(pad)?;
        let total = image::RECORD_HEADER_LEN + len + pad.len();
        self.bytes = self.bytes.checked_add(total as u64).ok_or(EFBIG)?;
        self.records = self.records.checked_add(1).ok_or(EFBIG)?;
        Ok(())
    }

    /// Starts a record of `len` payload bytes, to be given with [`payload`]
    /// and closed with [`end_record`]; for payloads too large to assemble.
    ///
    /// [`payload`]: Self::payload
    /// [`end_record`]: Self::end_record
    pub(crate) fn begin_record(&mut self, kind: RecordType, len: usize) -> Result {
        let len32 = u32::try_from(len).map_err(|_| EINVAL)?;
        if len32 > image::MAX_PAYLOAD_LEN || self.open.is_some() {
            return Err(EINVAL);
        }
        self.check_order(kind)?;
        self.append(&image::record_header(kind, len32))?;
        self.open = Some(len);
        Ok(())
    }

    /// Counts `len` more bytes of the payload of the record begun with
    /// `begin_record`: `-EINVAL` past its length or with no record open.
    fn owe(&mut self, len: usize) -> Result {
        let left = self.open.ok_or(EINVAL)?;
        self.open = Some(left.checked_sub(len).ok_or(EINVAL)?);
        Ok(())
    }

    /// Appends to the payload of the record begun with `begin_record`.
    pub(crate) fn payload(&mut self, data: &[u8]) -> Result {
        self.owe(data.len())?;
        self.append(data)
    }

    /// Appends whole `pages` to the payload of the record begun with
    /// `begin_record`. The caller holds a reference on each. A run of
    /// [`DIRECT_PAGES`] or more is written straight from the pages, after
    /// what is buffered, [`FLUSH_BYTES`] at a time as the buffer would be
    /// (a datagram socket takes each write as one message); a shorter one
    /// is copied into the buffer, so that sparse memory is not written a
    /// few bytes at a time.
    pub(crate) fn payload_pages(&mut self, pages: &[*mut bindings::page]) -> Result {
        self.owe(pages.len().checked_mul(PAGE_SIZE).ok_or(EINVAL)?)?;
        if pages.len() < DIRECT_PAGES {
            for &page in pages {
                // SAFETY: the caller holds a reference on the page; the
                // mapping is undone right after the copy, in LIFO order.
                unsafe {
                    let p = bindings::kmap_local_page(page);
                    let r = self.append(core::slice::from_raw_parts(p.cast::<u8>(), PAGE_SIZE));
                    bindings::kunmap_local(p);
                    r?;
                }
            }
            return Ok(());
        }
        self.flush()?;
        for chunk in pages.chunks(FLUSH_BYTES / PAGE_SIZE) {
            // SAFETY: 0 is always a valid length, and `bio_vec` needs no drop.
            unsafe { self.bvecs.set_len(0) };
            for &page in chunk {
                self.bvecs.push(
                    bindings::bio_vec {
                        bv_page: page,
                        bv_len: PAGE_SIZE as u32,
                        bv_offset: 0,
                    },
                    GFP_KERNEL,
                )?;
            }
            self.file
                .write_pages(&self.bvecs, chunk.len() * PAGE_SIZE)?;
        }
        Ok(())
    }

    /// Appends `data` to the payload of the record begun with
    /// `begin_record`, written straight from `data` (after what is
    /// buffered, [`FLUSH_BYTES`] at a time) rather than copied into the
    /// buffer: for large payloads.
    pub(crate) fn payload_direct(&mut self, data: &[u8]) -> Result {
        self.owe(data.len())?;
        self.flush()?;
        // As the buffer would be: a datagram socket takes each write as
        // one message.
        for chunk in data.chunks(FLUSH_BYTES) {
            self.file.write_all(chunk)?;
        }
        Ok(())
    }

    /// Closes the record begun with `begin_record`, whose payload must be
    /// complete.
    pub(crate) fn end_record(&mut self, len: usize) -> Result {
        if self.open != Some(0) {
            return Err(EINVAL);
        }
        self.open = None;
        const ZEROS: [u8; image::ALIGN] = [0; image::ALIGN];
        let pad = ZEROS.get(..image::padding(len)).ok_or(EINVAL)?;
        self.append(pad)?;
        let total = image::RECORD_HEADER_LEN + len + pad.len();
        self.bytes = self.bytes.checked_add(total as u64).ok_or(EFBIG)?;
        self.records = self.records.checked_add(1).ok_or(EFBIG)?;
        Ok(())
    }

    /// Buffers `data`, writing the buffer out whenever it is full, so that
    /// a large record (pages) never needs a large buffer.
    /// The position of `file`, an open file of the tree being saved: read
    /// under its position lock without waiting for it (`None` while another
    /// task moves it). The image file's own is the writer's.
    pub(crate) fn pos_of(&self, file: &FileRef) -> Option<i64> {
        if file.as_ptr() == self.file.file().as_ptr() {
            return Some(self.file.pos());
        }
        file.try_pos()
    }

    fn check_order(&mut self, kind: RecordType) -> Result {
        self.order.feed(kind, None).map_err(|e| {
            ckpt_err!(
                "checkpoint: bug: a {} record written where the image needs {}\n",
                kind.name(),
                e.expected
            );
            EINVAL
        })
    }

    fn append(&mut self, mut data: &[u8]) -> Result {
        while !data.is_empty() {
            let room = FLUSH_BYTES.saturating_sub(self.buf.len());
            let (now, rest) = data.split_at(room.min(data.len()));
            self.buf.extend_from_slice(now, GFP_KERNEL)?;
            data = rest;
            if self.buf.len() >= FLUSH_BYTES {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result {
        self.file.write_all(&self.buf)?;
        // SAFETY: 0 is always a valid length, and `u8` needs no drop.
        unsafe { self.buf.set_len(0) };
        Ok(())
    }

    /// Writes the tail record and flushes everything.
    pub(crate) fn finish(mut self) -> Result {
        let tail = Tail {
            nr_records: self.records,
            bytes: self.bytes,
        };
        self.record(RecordType::Tail, &tail.encode())?;
        self.flush()
    }
}
