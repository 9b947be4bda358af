//! The TL reader: total, bounds-checked, zero-copy for `bytes`.

use core::fmt;

/// Every way TL input can be malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlError {
    /// The input ended early.
    Truncated {
        /// Bytes the next field needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A constructor id other than the one (or ones) allowed here.
    UnexpectedConstructor {
        /// The id that was read.
        found: u32,
    },
    /// A `Bool` that is neither boolTrue nor boolFalse.
    BadBool {
        /// The id that was read.
        found: u32,
    },
    /// A `bytes` length prefix of 255, or padding that runs past the input.
    BadBytesLength,
    /// A vector whose element count cannot fit in the remaining input.
    VectorTooLong {
        /// The count that was announced.
        count: u32,
    },
    /// Input left after a value that must fill it.
    TrailingBytes {
        /// How many bytes were left.
        left: usize,
    },
    /// A field whose value is outside what the schema allows (e.g. a nonce of the wrong size).
    BadValue,
}

impl fmt::Display for TlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "TL input truncated: needed {needed} bytes, {available} left (a cut or corrupted message)")
            }
            Self::UnexpectedConstructor { found } => {
                write!(f, "unexpected TL constructor {found:#010x}: another type (or layer) than expected")
            }
            Self::BadBool { found } => write!(f, "{found:#010x} is not a Bool"),
            Self::BadBytesLength => f.write_str("malformed TL bytes length (corrupted input)"),
            Self::VectorTooLong { count } => {
                write!(f, "TL vector of {count} elements exceeds the input: refused before any allocation")
            }
            Self::TrailingBytes { left } => write!(f, "{left} bytes after the TL value"),
            Self::BadValue => f.write_str("TL field value out of range"),
        }
    }
}

impl std::error::Error for TlError {}

/// boolTrue.
pub const BOOL_TRUE: u32 = 0x997275b5;
/// boolFalse.
pub const BOOL_FALSE: u32 = 0xbc799737;
/// The boxed `Vector t` constructor.
pub const VECTOR: u32 = 0x1cb5c415;

/// Reads TL values from a byte slice. Every read checks bounds first.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails with [`TlError::TrailingBytes`] unless all input was read.
    ///
    /// # Errors
    /// [`TlError::TrailingBytes`].
    pub fn finish(&self) -> Result<(), TlError> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(TlError::TrailingBytes { left }),
        }
    }

    /// The next `n` bytes, borrowed.
    ///
    /// # Errors
    /// [`TlError::Truncated`].
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8], TlError> {
        if n > self.remaining() {
            return Err(TlError::Truncated { needed: n, available: self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Everything not yet read, borrowed (the reader ends up empty).
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// A fixed-size array.
    ///
    /// # Errors
    /// [`TlError::Truncated`].
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], TlError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.raw(N)?);
        Ok(out)
    }

    /// The next 4 bytes as a constructor id, without consuming them.
    ///
    /// # Errors
    /// [`TlError::Truncated`].
    pub fn peek_u32(&self) -> Result<u32, TlError> {
        self.clone().u32()
    }

    /// `int` as unsigned (constructor ids).
    ///
    /// # Errors
    /// [`TlError::Truncated`].
    pub fn u32(&mut self) -> Result<u32, TlError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// `int`.
    ///
    /// # Errors
    /// [`TlError::Truncated`].
    pub fn i32(&mut self) -> Result<i32, TlError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    /// `long`.
    ///
    /// # Errors
    /// [`TlError::Truncated`].
    pub fn i64(&mut self) -> Result<i64, TlError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// `double`.
    ///
    /// # Errors
    /// [`TlError::Truncated`].
    pub fn f64(&mut self) -> Result<f64, TlError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// `int128`, as raw bytes.
    ///
    /// # Errors
    /// [`TlError::Truncated`].
    pub fn int128(&mut self) -> Result<[u8; 16], TlError> {
        self.array()
    }

    /// `int256`, as raw bytes.
    ///
    /// # Errors
    /// [`TlError::Truncated`].
    pub fn int256(&mut self) -> Result<[u8; 32], TlError> {
        self.array()
    }

    /// `Bool`.
    ///
    /// # Errors
    /// [`TlError::Truncated`], [`TlError::BadBool`].
    pub fn bool(&mut self) -> Result<bool, TlError> {
        match self.u32()? {
            BOOL_TRUE => Ok(true),
            BOOL_FALSE => Ok(false),
            found => Err(TlError::BadBool { found }),
        }
    }

    /// Consumes a constructor id that must equal `id`.
    ///
    /// # Errors
    /// [`TlError::Truncated`], [`TlError::UnexpectedConstructor`].
    pub fn expect(&mut self, id: u32) -> Result<(), TlError> {
        match self.u32()? {
            found if found == id => Ok(()),
            found => Err(TlError::UnexpectedConstructor { found }),
        }
    }

    /// `bytes` / `string`: borrowed, padding checked to lie within the input.
    ///
    /// # Errors
    /// [`TlError::Truncated`], [`TlError::BadBytesLength`].
    pub fn bytes(&mut self) -> Result<&'a [u8], TlError> {
        let first = *self.raw(1)?.first().ok_or(TlError::BadBytesLength)?;
        let (len, header) = match first {
            255 => return Err(TlError::BadBytesLength),
            254 => {
                let l = self.raw(3)?;
                (l[0] as usize | (l[1] as usize) << 8 | (l[2] as usize) << 16, 4)
            }
            n => (n as usize, 1),
        };
        let data = self.raw(len)?;
        let pad = (4 - (header + len) % 4) % 4;
        self.raw(pad).map_err(|_| TlError::BadBytesLength)?;
        Ok(data)
    }

    /// A `string` as UTF-8 (lossy: servers are not trusted to send valid UTF-8).
    ///
    /// # Errors
    /// As [`Reader::bytes`].
    pub fn string(&mut self) -> Result<String, TlError> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }

    /// The element count of a vector whose elements take at least
    /// `min_elem_size` bytes each; refuses counts the input cannot hold, so a
    /// caller may allocate `count` elements safely. `boxed` reads the Vector id first.
    ///
    /// # Errors
    /// [`TlError::Truncated`], [`TlError::UnexpectedConstructor`], [`TlError::VectorTooLong`].
    pub fn vector_len(&mut self, boxed: bool, min_elem_size: usize) -> Result<usize, TlError> {
        if boxed {
            self.expect(VECTOR)?;
        }
        let count = self.u32()?;
        if (count as usize).saturating_mul(min_elem_size.max(1)) > self.remaining() {
            return Err(TlError::VectorTooLong { count });
        }
        Ok(count as usize)
    }

    /// A `Vector<long>` (boxed).
    ///
    /// # Errors
    /// As [`Reader::vector_len`].
    pub fn vec_i64(&mut self) -> Result<Vec<i64>, TlError> {
        let n = self.vector_len(true, 8)?;
        (0..n).map(|_| self.i64()).collect()
    }
}
