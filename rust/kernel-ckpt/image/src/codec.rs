// SPDX-License-Identifier: GPL-2.0
//! Little-endian fields and the one declarative form of record layouts.
//!
//! A record's fixed part is declared once with `layout!`: its fields in
//! wire order, `_: T` for reserved bytes that must be zero and `_: T = C`
//! for a constant (a magic number). The macro makes the layout's length,
//! its encoder and the reader of its fields; what a field may hold is
//! checked by the record's own `decode`, next to its definition.

use super::ErrorKind;

/// Little-endian writer into a fixed array of the record's exact size.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        // Callers write fixed layouts into arrays of exactly their size, so
        // this never falls short; if it ever did, bytes are dropped rather
        // than panicking, and the round-trip tests would catch it.
        let end = self.pos.saturating_add(b.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(b);
        }
        self.pos = end;
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
}

/// Little-endian reader over one payload; every read is bounds checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.pos.checked_add(N)?;
        let src = self.buf.get(self.pos..end)?;
        let mut out = [0u8; N];
        out.copy_from_slice(src);
        self.pos = end;
        Some(out)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
}

/// A fixed-size field of a record, little endian.
pub(crate) trait Field: Sized + Copy + PartialEq {
    /// Its size in bytes.
    const SIZE: usize;
    /// Appends it.
    fn put(&self, w: &mut Writer<'_>);
    /// Reads it; `None` past the end of the payload.
    fn get(r: &mut Reader<'_>) -> Option<Self>;
}

macro_rules! int_fields {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            fn put(&self, w: &mut Writer<'_>) {
                w.bytes(&self.to_le_bytes());
            }
            fn get(r: &mut Reader<'_>) -> Option<Self> {
                r.array().map(<$t>::from_le_bytes)
            }
        }
    )*};
}

int_fields!(u8, u16, u32, i32, u64, i64);

impl<T: Field + Default, const N: usize> Field for [T; N] {
    const SIZE: usize = T::SIZE * N;
    fn put(&self, w: &mut Writer<'_>) {
        for v in self {
            v.put(w);
        }
    }
    fn get(r: &mut Reader<'_>) -> Option<Self> {
        let mut out = [T::default(); N];
        for v in out.iter_mut() {
            *v = T::get(r)?;
        }
        Some(out)
    }
}

impl<A: Field, B: Field> Field for (A, B) {
    const SIZE: usize = A::SIZE + B::SIZE;
    fn put(&self, w: &mut Writer<'_>) {
        self.0.put(w);
        self.1.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Option<Self> {
        Some((A::get(r)?, B::get(r)?))
    }
}

/// Declares the layout of a record's fixed part (see the module doc):
///
/// ```ignore
/// layout!(Fd { fd: u32, fd_flags: u32, file: u32, _: u32 });
/// ```
///
/// gives `Fd::LEN`, `Fd::encode` and `Fd::read_fixed`, which returns the
/// fields (reserved bytes checked to be zero, constants to match) and the
/// bytes after the fixed part. The type must implement `Default`, and the
/// calling module must import `Field`, `Reader`, `Writer` and `ErrorKind`
/// (the macro names them as the caller sees them: the crate is a module of
/// the kernel crate there).
macro_rules! layout {
    ($ty:ident { $($f:tt : $t:ty $(= $c:expr)?),* $(,)? }) => {
        impl $ty {
            /// Length of the fixed part of the payload.
            pub const LEN: usize = 0 $(+ <$t as Field>::SIZE)*;

            /// Encodes the fixed part of the payload.
            pub fn encode(&self) -> [u8; Self::LEN] {
                let mut out = [0u8; Self::LEN];
                let mut w = Writer::new(&mut out);
                $(layout!(@put self, w, $f : $t $(= $c)?);)*
                out
            }

            /// The fields of the fixed part at the front of `p`, and the
            /// bytes after it.
            #[allow(dead_code)]
            pub(crate) fn read_fixed(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
                let mut r = Reader::new(p);
                let mut v = Self::default();
                $(layout!(@get v, r, $f : $t $(= $c)?);)*
                Ok((v, p.get(Self::LEN..).unwrap_or(&[])))
            }
        }
    };
    (@put $s:ident, $w:ident, _ : $t:ty = $c:expr) => {
        Field::put(&$c, &mut $w);
    };
    (@put $s:ident, $w:ident, _ : $t:ty) => {
        Field::put(&<$t as Default>::default(), &mut $w);
    };
    (@put $s:ident, $w:ident, $f:tt : $t:ty) => {
        Field::put(&$s.$f, &mut $w);
    };
    (@get $v:ident, $r:ident, _ : $t:ty = $c:expr) => {
        let got: $t = Field::get(&mut $r).ok_or(ErrorKind::Short)?;
        if got != $c {
            return Err(ErrorKind::BadMagic);
        }
    };
    (@get $v:ident, $r:ident, _ : $t:ty) => {
        let got: $t = Field::get(&mut $r).ok_or(ErrorKind::Short)?;
        if got != <$t as Default>::default() {
            return Err(ErrorKind::BadPadding);
        }
    };
    (@get $v:ident, $r:ident, $f:tt : $t:ty) => {
        $v.$f = Field::get(&mut $r).ok_or(ErrorKind::Short)?;
    };
}

/// The trailing bytes of a payload after its fixed part, which must be
/// `len` long (a path or data whose length the fixed part gives).
pub(crate) fn tail(rest: &[u8], len: u32) -> Result<&[u8], ErrorKind> {
    if rest.len() != len as usize {
        return Err(ErrorKind::BadLength {
            len: u32::try_from(rest.len()).unwrap_or(u32::MAX),
            expected: len,
        });
    }
    Ok(rest)
}

/// `s.split_at(n)` if `n` is within `s` (`<[T]>::split_at_checked`,
/// which the kernel's minimum Rust, 1.78, does not have).
pub(crate) fn split_checked<T>(s: &[T], n: usize) -> Option<(&[T], &[T])> {
    (n <= s.len()).then(|| s.split_at(n))
}
