// SPDX-License-Identifier: GPL-2.0
//! What can be wrong with an image, and where.

use super::*;
use core::fmt;

/// What is wrong with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The image ends inside this record (or before the tail).
    Truncated,
    /// The payload is shorter than its type's layout.
    Short,
    /// `len` does not match the type's layout.
    BadLength {
        /// The record's `len`.
        len: u32,
        /// The length its type has.
        expected: u32,
    },
    /// `len` is larger than [`MAX_PAYLOAD_LEN`].
    Oversized(u32),
    /// A padding or reserved byte is not zero.
    BadPadding,
    /// The header or tail magic is wrong.
    BadMagic,
    /// The image was written in a format version this reader does not know.
    UnsupportedVersion(u32),
    /// The image is for another architecture.
    UnknownArch(u32),
    /// The header carries unknown checkpoint flags.
    UnknownFlags(u64),
    /// A record type this version does not know.
    UnknownType(u32),
    /// A known record in the wrong place.
    Unexpected {
        /// The record type found.
        found: RecordType,
        /// What the stream needed at this point.
        expected: Expected,
    },
    /// A field holds an impossible value.
    BadField(&'static str, i64),
    /// The tail's counts disagree with the image.
    TailMismatch,
    /// Bytes follow the tail record.
    TrailingData,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated => write!(
                f,
                "image is truncated: incomplete, it ends before its tail record (its checkpoint was killed or failed while writing it)"
            ),
            Self::Short => write!(f, "payload too short"),
            Self::BadLength { len, expected } => {
                write!(f, "payload length {len}, expected {expected}")
            }
            Self::Oversized(len) => {
                write!(
                    f,
                    "payload length {len} exceeds the limit of {MAX_PAYLOAD_LEN}"
                )
            }
            Self::BadPadding => write!(f, "non-zero padding"),
            Self::BadMagic => write!(f, "bad magic: not a kernel-ckpt image"),
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "format version {v}, this reader knows version {IMAGE_VERSION}"
                )
            }
            Self::UnknownArch(a) => write!(f, "unknown architecture code {a}"),
            Self::UnknownFlags(fl) => write!(f, "unknown checkpoint flags {fl:#x}"),
            Self::UnknownType(t) => write!(f, "unknown record type {t}"),
            Self::Unexpected { found, expected } => {
                write!(f, "unexpected {} record, expected {expected}", found.name())
            }
            Self::BadField(name, v) => write!(f, "invalid {name} ({v})"),
            Self::TailMismatch => write!(f, "tail counts do not match the image"),
            Self::TrailingData => write!(f, "data after the tail record"),
        }
    }
}

/// A decoding error: what, in which record, at which byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Index of the record (0 = header).
    pub index: u32,
    /// Byte offset of the record's start in the image.
    pub offset: u64,
    /// The record's raw type code, if it could be read.
    pub record_type: Option<u32>,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record #{}", self.index)?;
        if let Some(t) = self.record_type {
            match RecordType::from_u32(t) {
                Some(k) => write!(f, " ({})", k.name())?,
                None => write!(f, " (type {t})")?,
            }
        }
        write!(f, " at offset {}: {}", self.offset, self.kind)
    }
}
