//! TL (Type Language) serialization: the reader, the writer and the
//! MTProto-layer schema.

mod reader;
pub mod schema;
mod writer;

pub use reader::{Reader, TlError, VECTOR};
pub use writer::Writer;

/// A TL value that can be written.
/// # Examples
///
/// ```
/// use mtproto_core::tl::schema::Ping;
/// use mtproto_core::tl::{Deserialize, Serialize};
/// let bytes = Ping { ping_id: 42 }.to_bytes();
/// assert_eq!(bytes[..4], 0x7abe_77ecu32.to_le_bytes(), "ping#7abe77ec");
/// assert_eq!(Ping::from_bytes(&bytes)?.ping_id, 42);
/// assert!(Ping::from_bytes(&bytes[..10]).is_err());
/// # Ok::<(), mtproto_core::tl::TlError>(())
/// ```
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
