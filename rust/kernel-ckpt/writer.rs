// SPDX-License-Identifier: GPL-2.0

//! The image writer: records, padding, buffering and the tail.
//!
//! Records are appended to a buffer that is flushed to the file whenever it
//! holds [`FLUSH_BYTES`], so a pipe reader sees the image as it is made and
//! memory use stays bounded. The encoding itself is the image crate's.

use crate::file::FileRef;
use crate::image::{self, RecordType, Tail};
use kernel::prelude::*;

/// Flush threshold of the buffer.
const FLUSH_BYTES: usize = 64 * 1024;

/// Streams records to a file.
pub(crate) struct ImageWriter {
    file: FileRef,
    buf: KVec<u8>,
    /// Records written so far.
    records: u32,
    /// Bytes written so far (flushed or buffered).
    bytes: u64,
}

impl ImageWriter {
    /// A writer on `file`, which must be open for writing.
    pub(crate) fn new(file: FileRef) -> Result<Self> {
        let buf = KVec::with_capacity(FLUSH_BYTES + image::RECORD_HEADER_LEN + 4096, GFP_KERNEL)?;
        Ok(Self { file, buf, records: 0, bytes: 0 })
    }

    /// Appends one record.
    pub(crate) fn record(&mut self, kind: RecordType, payload: &[u8]) -> Result {
        let len = u32::try_from(payload.len()).map_err(|_| EINVAL)?;
        if len > image::MAX_PAYLOAD_LEN {
            return Err(EINVAL);
        }
        const ZEROS: [u8; image::ALIGN] = [0; image::ALIGN];
        let pad = ZEROS.get(..image::padding(payload.len())).ok_or(EINVAL)?;
        self.buf.extend_from_slice(&image::record_header(kind, len), GFP_KERNEL)?;
        self.buf.extend_from_slice(payload, GFP_KERNEL)?;
        self.buf.extend_from_slice(pad, GFP_KERNEL)?;
        let total = image::RECORD_HEADER_LEN + payload.len() + pad.len();
        self.bytes = self.bytes.checked_add(total as u64).ok_or(EFBIG)?;
        self.records = self.records.checked_add(1).ok_or(EFBIG)?;
        if self.buf.len() >= FLUSH_BYTES {
            self.flush()?;
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
        let tail = Tail { nr_records: self.records, bytes: self.bytes };
        self.record(RecordType::Tail, &tail.encode())?;
        self.flush()
    }
}
