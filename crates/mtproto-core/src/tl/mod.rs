//! TL (Type Language) serialization: the reader, the writer and the
//! MTProto-layer schema.

mod reader;
pub mod schema;
mod writer;

pub use reader::{Reader, TlError};
pub use writer::Writer;

/// A TL value that can be written.
pub trait Serialize {
    /// Appends the TL encoding of `self` (boxed, with its constructor id).
    fn serialize(&self, out: &mut Vec<u8>);

    /// The encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.serialize(&mut v);
        v
    }
}

/// A TL value that can be read, borrowing from the input where it can.
pub trait Deserialize<'a>: Sized {
    /// Reads one boxed value (constructor id first).
    ///
    /// # Errors
    /// Any [`TlError`]: truncation, a wrong constructor, bad lengths.
    fn deserialize(r: &mut Reader<'a>) -> Result<Self, TlError>;

    /// Reads one value that must fill `bytes` exactly.
    ///
    /// # Errors
    /// As [`Deserialize::deserialize`], plus [`TlError::TrailingBytes`].
    fn from_bytes(bytes: &'a [u8]) -> Result<Self, TlError> {
        let mut r = Reader::new(bytes);
        let v = Self::deserialize(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}
