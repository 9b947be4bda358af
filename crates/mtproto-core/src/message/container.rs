//! msg_container: packing several messages into one, and checked unpacking.

use super::clock::parity_ok;
use super::{MessageError, Role};
use crate::tl::Reader;
use crate::tl::schema::MSG_CONTAINER;

/// The most messages a container may hold (Telegram's server limit).
pub const MAX_MESSAGES: usize = 1020;
/// The most bytes a container body may hold by default.
pub const MAX_BYTES: usize = 1 << 20;
/// Per-message overhead inside a container: msg_id, seqno, bytes.
pub const INNER_HEADER: usize = 16;

/// One message inside a container, borrowing its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerMessage<'a> {
    /// Its msg_id.
    pub msg_id: i64,
    /// Its seq_no.
    pub seq_no: i32,
    /// Its body.
    pub body: &'a [u8],
}

/// Builds a container body in a caller-owned buffer.
#[derive(Debug)]
pub struct ContainerBuilder<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
    count: usize,
    max_messages: usize,
    max_bytes: usize,
}

impl<'o> ContainerBuilder<'o> {
    /// Starts a container at the end of `out` with the given limits
    /// (clamped to [`MAX_MESSAGES`]).
    pub fn new(out: &'o mut Vec<u8>, max_messages: usize, max_bytes: usize) -> Self {
        let start = out.len();
        out.extend_from_slice(&MSG_CONTAINER.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        Self { out, start, count: 0, max_messages: max_messages.min(MAX_MESSAGES), max_bytes }
    }

    /// Whether a body of `len` more bytes fits.
    pub fn fits(&self, len: usize) -> bool {
        self.count < self.max_messages && self.out.len() - self.start + INNER_HEADER + len <= self.max_bytes
    }

    /// Appends a message; returns false (and appends nothing) when it does not fit.
    pub fn push(&mut self, msg_id: i64, seq_no: i32, body: &[u8]) -> bool {
        if !self.fits(body.len()) {
            return false;
        }
        self.out.extend_from_slice(&msg_id.to_le_bytes());
        self.out.extend_from_slice(&seq_no.to_le_bytes());
        self.out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        self.out.extend_from_slice(body);
        self.count += 1;
        true
    }

    /// Messages pushed so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Writes the count and returns it.
    pub fn finish(self) -> usize {
        let c = (self.count as u32).to_le_bytes();
        self.out[self.start + 4..self.start + 8].copy_from_slice(&c);
        self.count
    }
}

/// Whether a body is a container.
pub fn is_container(body: &[u8]) -> bool {
    body.len() >= 4 && body[..4] == MSG_CONTAINER.to_le_bytes()
}

/// Unpacks and checks a container body (constructor id included): count and
/// size limits, each inner length (a multiple of 4, within the body), msg_id
/// parity for `sender`, every inner msg_id below `container_msg_id`, no
/// duplicates, no nested container.
///
/// # Errors
/// [`MessageError::ContainerTooLarge`], [`MessageError::NestedContainer`],
/// [`MessageError::DuplicateInContainer`], [`MessageError::ContainerOrder`],
/// [`MessageError::BadMsgIdParity`], [`MessageError::Tl`].
pub fn unpack(
    body: &[u8],
    container_msg_id: i64,
    sender: Role,
    max_messages: usize,
) -> Result<Vec<InnerMessage<'_>>, MessageError> {
    let mut spans = Vec::new();
    unpack_spans(body, container_msg_id, sender, max_messages, &mut spans)?;
    Ok(spans
        .iter()
        .map(|s| InnerMessage { msg_id: s.msg_id, seq_no: s.seq_no, body: &body[s.start..s.start + s.len] })
        .collect())
}

/// Where one inner message of a container lies in the container's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerSpan {
    /// Its msg_id.
    pub msg_id: i64,
    /// Its seq_no.
    pub seq_no: i32,
    /// Its body's first byte in the container's body.
    pub start: usize,
    /// Its body's length.
    pub len: usize,
}

/// [`unpack`] into a caller's reused vector of spans (cleared first), with
/// the same checks: no allocation once `out` has room.
///
/// # Errors
/// As [`unpack`].
pub fn unpack_spans(
    body: &[u8],
    container_msg_id: i64,
    sender: Role,
    max_messages: usize,
    out: &mut Vec<InnerSpan>,
) -> Result<(), MessageError> {
    out.clear();
    let mut r = Reader::new(body);
    r.expect(MSG_CONTAINER)?;
    let count = r.vector_len(false, INNER_HEADER)?;
    if count > max_messages.min(MAX_MESSAGES) {
        return Err(MessageError::ContainerTooLarge);
    }
    out.reserve(count);
    for _ in 0..count {
        let msg_id = r.i64()?;
        let seq_no = r.i32()?;
        let len = r.u32()? as usize;
        if !len.is_multiple_of(4) {
            return Err(MessageError::BadLength { declared: len as i64, actual: r.remaining() });
        }
        let inner = r.raw(len)?;
        if !parity_ok(msg_id, sender) {
            return Err(MessageError::BadMsgIdParity { msg_id });
        }
        if msg_id >= container_msg_id {
            return Err(MessageError::ContainerOrder { msg_id });
        }
        if is_container(inner) {
            return Err(MessageError::NestedContainer);
        }
        if out.iter().any(|m| m.msg_id == msg_id) {
            return Err(MessageError::DuplicateInContainer { msg_id });
        }
        // The inner body is a subslice of `body`: its offset, in safe code.
        let start = inner.as_ptr() as usize - body.as_ptr() as usize;
        out.push(InnerSpan { msg_id, seq_no, start, len });
    }
    r.finish()?;
    Ok(())
}
