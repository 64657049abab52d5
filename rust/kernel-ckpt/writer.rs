// SPDX-License-Identifier: GPL-2.0

//! The image writer: records, padding, buffering and the tail.
//!
//! Records are appended to a buffer that is flushed to the file whenever it
//! holds [`FLUSH_BYTES`], so a pipe reader sees the image as it is made and
//! memory use stays bounded. Runs of pages skip the buffer
//! ([`ImageWriter::payload_pages`]): they are copied once, from the task's
//! pages into the file. The encoding itself is the image crate's.
//!
//! A writer made with [`ImageWriter::held`] writes nothing at first: it
//! keeps the records in memory, runs of pages copied too, until
//! [`ImageWriter::release_to`] writes them out. A copy-on-write checkpoint
//! takes the state of a frozen tree that way and writes it, with the pages
//! of its memory snapshots, once the tree runs again.
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

/// Records kept back by a writer made with [`ImageWriter::held`]: whole
/// buffers of [`FLUSH_BYTES`], the last one partly full once released.
struct Held {
    chunks: KVVec<KVVec<u8>>,
    /// The most bytes it may keep: `-ENOBUFS` past it.
    max: usize,
    /// Whether records are still being kept (rather than written).
    holding: bool,
    /// Bytes kept so far.
    len: u64,
    /// Bytes of them written out so far.
    released: u64,
}

/// Streams records to a file.
pub(crate) struct ImageWriter {
    file: PosLock,
    /// The buffer (kvmalloc'ed: a held writer keeps many).
    buf: KVVec<u8>,
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
    /// the call rather than write an image restart would refuse. `None`
    /// once held records are released: the pages records then written go
    /// between records checked already.
    order: Option<Order>,
    held: Option<Held>,
}

impl ImageWriter {
    /// A writer on `file`, which must be open for writing.
    pub(crate) fn new(file: FileRef) -> Result<Self> {
        let buf = KVVec::with_capacity(FLUSH_BYTES, GFP_KERNEL)?;
        Ok(Self {
            file: PosLock::lock(file),
            buf,
            bvecs: KVec::new(),
            records: 0,
            bytes: 0,
            open: None,
            order: Some(Order::new()),
            held: None,
        })
    }

    /// A writer on `file` that writes nothing until
    /// [`release_to`](Self::release_to): it keeps up to `max` bytes of
    /// records in memory (charged to the caller's memory cgroup), and
    /// fails with `-ENOBUFS` past that.
    pub(crate) fn held(file: FileRef, max: usize) -> Result<Self> {
        let mut w = Self::new(file)?;
        w.held = Some(Held {
            chunks: KVVec::new(),
            max,
            holding: true,
            len: 0,
            released: 0,
        });
        Ok(w)
    }

    /// Where the next record starts among the records kept so far.
    pub(crate) fn held_len(&self) -> u64 {
        self.held.as_ref().map_or(0, |h| {
            h.len + if h.holding { self.buf.len() as u64 } else { 0 }
        })
    }

    /// Stops keeping records: from now on they are written, after the kept
    /// ones, which [`release_to`](Self::release_to) writes out. The order
    /// of records is no longer checked (see [`ImageWriter::order`]).
    pub(crate) fn release(&mut self) -> Result {
        let Some(h) = self.held.as_mut() else {
            return Err(EINVAL);
        };
        if !h.holding || self.open.is_some() {
            return Err(EINVAL);
        }
        let last = core::mem::replace(
            &mut self.buf,
            KVVec::with_capacity(FLUSH_BYTES, GFP_KERNEL)?,
        );
        h.len = h
            .len
            .checked_add(last.len() as u64)
            .ok_or_else(crate::wrap::errno::enobufs)?;
        h.chunks.push(last, GFP_KERNEL_ACCOUNT)?;
        h.holding = false;
        self.order = None;
        Ok(())
    }

    /// Overwrites kept bytes at `at` (an offset among them, as
    /// [`held_len`](Self::held_len) gave it) with `data`, before they are
    /// written out, while holding or after.
    pub(crate) fn patch_held(&mut self, at: u64, data: &[u8]) -> Result {
        let end = at.checked_add(data.len() as u64).ok_or(EINVAL)?;
        if end > self.held_len() {
            return Err(EINVAL);
        }
        let h = self.held.as_mut().ok_or(EINVAL)?;
        if at < h.released {
            return Err(EINVAL);
        }
        for (i, b) in data.iter().enumerate() {
            let off = at + i as u64;
            // Past the chunks while holding: in the buffer.
            let byte = match off.checked_sub(h.len) {
                Some(o) => self.buf.get_mut(usize::try_from(o).map_err(|_| EINVAL)?),
                None => {
                    let off = usize::try_from(off).map_err(|_| EINVAL)?;
                    h.chunks
                        .get_mut(off / FLUSH_BYTES)
                        .and_then(|c| c.get_mut(off % FLUSH_BYTES))
                }
            };
            *byte.ok_or(EINVAL)? = *b;
        }
        Ok(())
    }

    /// Writes the kept bytes out up to offset `to` among them, after what
    /// this writer wrote since [`release`](Self::release). The chunks
    /// written are freed.
    pub(crate) fn release_to(&mut self, to: u64) -> Result {
        self.flush()?;
        let Some(h) = self.held.as_mut() else {
            return Err(EINVAL);
        };
        if h.holding || to < h.released || to > h.len {
            return Err(EINVAL);
        }
        while h.released < to {
            let off = usize::try_from(h.released).map_err(|_| EINVAL)?;
            let (idx, within) = (off / FLUSH_BYTES, off % FLUSH_BYTES);
            let chunk = h.chunks.get_mut(idx).ok_or(EINVAL)?;
            let n = (FLUSH_BYTES - within).min((to - h.released) as usize);
            let part = chunk.get(within..within + n).ok_or(EINVAL)?;
            self.file.write_all(part)?;
            h.released += n as u64;
            if within + n == FLUSH_BYTES {
                // Written whole: its memory goes back now.
                drop(core::mem::replace(chunk, KVVec::new()));
            }
        }
        Ok(())
    }

    /// Whether records are being kept rather than written.
    fn holding(&self) -> bool {
        self.held.as_ref().is_some_and(|h| h.holding)
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
        if pages.len() < DIRECT_PAGES || self.holding() {
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
        if self.holding() {
            return self.append(data);
        }
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
        let Some(order) = self.order.as_mut() else {
            return Ok(());
        };
        order.feed(kind, None).map_err(|e| {
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
        if let Some(h) = self.held.as_mut().filter(|h| h.holding) {
            // Kept: only ever a full buffer, so that an offset finds its
            // chunk by division.
            if self.buf.len() < FLUSH_BYTES {
                return Ok(());
            }
            let len = h
                .len
                .checked_add(self.buf.len() as u64)
                .ok_or_else(crate::wrap::errno::enobufs)?;
            if len > h.max as u64 {
                ckpt_err!(
                    "checkpoint: more than {} MiB of state to keep in memory while the tree is frozen\n",
                    h.max >> 20
                );
                return Err(crate::wrap::errno::enobufs());
            }
            let full = core::mem::replace(
                &mut self.buf,
                KVVec::with_capacity(FLUSH_BYTES, GFP_KERNEL_ACCOUNT)?,
            );
            h.chunks.push(full, GFP_KERNEL_ACCOUNT)?;
            h.len = len;
            return Ok(());
        }
        self.file.write_all(&self.buf)?;
        // SAFETY: 0 is always a valid length, and `u8` needs no drop.
        unsafe { self.buf.set_len(0) };
        Ok(())
    }

    /// Writes the tail record and flushes everything (the kept records
    /// first, once released).
    pub(crate) fn finish(mut self) -> Result {
        if let Some(len) = self.held.as_ref().map(|h| h.len) {
            self.release_to(len)?;
        }
        let tail = Tail {
            nr_records: self.records,
            bytes: self.bytes,
        };
        self.record(RecordType::Tail, &tail.encode())?;
        self.flush()
    }
}
