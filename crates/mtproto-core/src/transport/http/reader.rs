//! Incremental HTTP/1.x message reader shared by both roles: a head (parsed
//! by the role's closure) then a `Content-Length` body, split at any byte.

use super::{HttpError, HttpLimits};
use bytes::BytesMut;

/// What a role's head parser says about the bytes buffered so far.
pub(super) enum Head<M> {
    /// More bytes needed.
    Partial,
    /// A complete head of `len` bytes, its meaning and its body length.
    Complete { len: usize, meta: M, body: usize },
}

pub(super) struct Reader<M> {
    buf: BytesMut,
    /// The head of the message whose body is being read.
    body_of: Option<(M, usize)>,
    limits: HttpLimits,
    failed: Option<HttpError>,
    /// The buffered bytes were parsed as an incomplete head: parse again
    /// only when a `\n` arrives (a head ends with one), so a head fed a
    /// byte at a time is parsed once per line, not once per byte.
    partial: bool,
}

impl<M> core::fmt::Debug for Reader<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader").field("buffered", &self.buf.len()).field("failed", &self.failed).finish()
    }
}

impl<M> Reader<M> {
    pub(super) fn new(limits: HttpLimits) -> Self {
        Self { buf: BytesMut::new(), body_of: None, limits, failed: None, partial: false }
    }

    pub(super) fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    pub(super) fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub(super) fn failed(&self) -> Option<HttpError> {
        self.failed
    }

    /// Fails the reader for good.
    pub(super) fn fail(&mut self, e: HttpError) -> HttpError {
        self.failed = Some(e);
        self.buf = BytesMut::new();
        self.body_of = None;
        e
    }

    /// Reads `input`, calling `message` with every complete message. Never
    /// buffers more than the head limit (plus one byte) or the body length.
    pub(super) fn read(
        &mut self,
        mut input: &[u8],
        parse: impl Fn(&[u8], &HttpLimits) -> Result<Head<M>, HttpError>,
        mut message: impl FnMut(M, BytesMut) -> Result<(), HttpError>,
    ) -> Result<(), HttpError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.read_inner(&mut input, &parse, &mut message);
        r.map_err(|e| self.fail(e))
    }

    fn read_inner(
        &mut self,
        input: &mut &[u8],
        parse: &impl Fn(&[u8], &HttpLimits) -> Result<Head<M>, HttpError>,
        message: &mut impl FnMut(M, BytesMut) -> Result<(), HttpError>,
    ) -> Result<(), HttpError> {
        loop {
            match self.body_of.take() {
                None => {
                    let room = (self.limits.max_head + 1).saturating_sub(self.buf.len());
                    let take = room.min(input.len());
                    let fresh = &input[..take];
                    self.buf.extend_from_slice(fresh);
                    *input = &input[take..];
                    if self.buf.is_empty() {
                        return Ok(());
                    }
                    let unchanged = self.partial && !fresh.contains(&b'\n');
                    let head = if unchanged { Head::Partial } else { parse(&self.buf, &self.limits)? };
                    self.partial = matches!(head, Head::Partial);
                    match head {
                        Head::Complete { len, meta, body } => {
                            let _ = self.buf.split_to(len);
                            self.body_of = Some((meta, body));
                        }
                        Head::Partial if self.buf.len() > self.limits.max_head => {
                            return Err(HttpError::HeadTooLarge { max: self.limits.max_head });
                        }
                        Head::Partial => {
                            if input.is_empty() {
                                return Ok(());
                            }
                        }
                    }
                }
                Some((meta, body)) => {
                    if self.buf.len() < body {
                        let take = (body - self.buf.len()).min(input.len());
                        self.buf.extend_from_slice(&input[..take]);
                        *input = &input[take..];
                    }
                    if self.buf.len() < body {
                        self.body_of = Some((meta, body));
                        return Ok(());
                    }
                    let data = self.buf.split_to(body);
                    message(meta, data)?;
                }
            }
        }
    }
}
