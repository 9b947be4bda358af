//! The HTTP transport, both roles, sans-IO: MTProto packets as the bodies
//! of `POST /api` requests and of their responses (HTTP/1.1, keep-alive).
//!
//! These codecs sit *outside* a [`ClientConnection`](crate::ClientConnection)
//! or [`ServerConnection`](crate::ServerConnection) built with
//! [`Transporting::Unframed`](crate::connection::Transporting::Unframed):
//! the driver moves packets between the two.
//!
//! * [`HttpClient`] writes each packet as a request ([`HttpClient::encode_request`])
//!   and parses responses ([`HttpClient::handle_bytes`], split at any byte)
//!   into [`Response`]s: a packet, an empty answer, or a 4-byte transport
//!   error code (`-404`, `-429`, …).
//! * [`HttpServer`] parses requests ([`HttpServer::handle_bytes`]), hands
//!   their bodies out as packets ([`HttpServer::poll_packet`]), keeps the
//!   packets the Connection sends ([`HttpServer::queue_packet`]) until a
//!   request is there to carry them, and answers every request with exactly
//!   one response ([`HttpServer::poll_transmit`]), in order. `OPTIONS /api`
//!   (a browser's CORS preflight) is answered with the CORS headers
//!   Telegram's servers send and no body.
//!
//! HTTP is request/response: the server speaks only when asked. A request
//! is held until a packet is due or its deadline passes, after which it is
//! answered with an empty `200`; the deadline follows a [`WaitPolicy`],
//! the three numbers of `http_wait{max_delay, wait_after, max_wait}`. The
//! Connection ignores `http_wait` messages (it cannot tell the codec, and
//! the codec cannot read encrypted bodies), so the server's driver chooses
//! the policy ([`HttpServer::set_wait`]); the default holds a request up
//! to 25 s, as Telegram does for long polls. A request that arrives behind
//! another on the same connection makes the older one due at once, so a
//! client that pipelines is never stuck behind its own long poll.
//!
//! Driving a server link:
//!
//! ```text
//! http.handle_bytes(&from_socket, now)?;          // refused: write HttpServer::refusal(&err), close
//! while let Some(mut p) = http.poll_packet() { conn.handle_input(Input::Packet(&mut p), now) }
//! // drain conn.poll_output(now): Output::Transmit(p) => http.queue_packet(p, now)?
//! while let Some(bytes) = http.poll_transmit(now) { socket.write_all(&bytes)? }
//! // sleep until min(the Connection's timeout, http.deadline()), then poll_transmit again
//! ```
//!
//! `examples/http_echo.rs` is such a driver for both roles (blocking std::net).
//!
//! A [`Response::TransportError`] is for the client's driver: an unframed
//! Connection has no input for transport error codes (a 4-byte
//! `Input::Packet` is not one), so the driver acts on the code itself as
//! the table in `docs/protocol.md` says (`-404`: a new key; `-429`:
//! `Input::LinkLost`, then reconnect later and `attach_link`).
//!
//! Several HTTP connections may carry one client session: give their
//! ServerConnections one [`SessionStore`](crate::connection::SessionStore);
//! a packet a link's Connection sends may go out on whichever link has a
//! request waiting (the session's packets are the same on every link).
//!
//! Bounds: a request or response head is at most [`HttpLimits::max_head`]
//! bytes and [`MAX_HEADERS`] headers, a body at most [`HttpLimits::max_body`]
//! (refused from its `Content-Length`, before any of it is buffered), at
//! most [`HttpLimits::max_pending`] requests wait for answers and at most
//! [`HttpLimits::max_queued`] bytes of packets wait for requests. Chunked
//! (or any other) transfer coding is refused ([`HttpError::TransferEncoding`]).

mod client;
mod reader;
mod server;
#[cfg(test)]
mod tests;

pub use client::{HttpClient, Response};
pub use server::{HttpServer, WaitPolicy};

use core::fmt;

/// The path every request goes to.
pub const PATH: &str = "/api";

/// The most headers a request or response head may carry.
pub const MAX_HEADERS: usize = 32;

/// Default [`HttpLimits::max_head`].
pub const DEFAULT_MAX_HEAD: usize = 8 * 1024;

/// Default [`HttpLimits::max_pending`].
pub const DEFAULT_MAX_PENDING: usize = 16;

/// Default [`HttpLimits::max_queued`].
pub const DEFAULT_MAX_QUEUED: usize = 4 << 20;

/// The CORS headers Telegram's servers send, on every server response.
pub const CORS_HEADERS: &str = "Access-Control-Allow-Origin: *\r\n\
Access-Control-Allow-Methods: POST, OPTIONS\r\n\
Access-Control-Allow-Headers: origin, content-type\r\n\
Access-Control-Max-Age: 1728000\r\n";

/// Sizes the HTTP codecs accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request or response head (request line or status line and headers).
    pub max_head: usize,
    /// Largest body: one MTProto packet.
    pub max_body: usize,
    /// Server: most requests waiting for an answer on one connection.
    pub max_pending: usize,
    /// Server: most bytes of packets waiting for a request to carry them.
    pub max_queued: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_head: DEFAULT_MAX_HEAD,
            max_body: super::DEFAULT_MAX_FRAME,
            max_pending: DEFAULT_MAX_PENDING,
            max_queued: DEFAULT_MAX_QUEUED,
        }
    }
}

/// Every way an HTTP link can fail. After one, the codec stays failed
/// (every later call returns the same error); the connection must close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The head is not complete within [`HttpLimits::max_head`] bytes.
    HeadTooLarge {
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_HEADERS`] headers.
    TooManyHeaders,
    /// Not HTTP/1.x: a malformed request line, status line or header.
    Malformed,
    /// A body longer than [`HttpLimits::max_body`].
    BodyTooLarge {
        /// The announced `Content-Length`.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A `Content-Length` that is not a number, or several that disagree.
    BadContentLength,
    /// A request or response with a body but no `Content-Length`.
    MissingContentLength,
    /// A `Transfer-Encoding` header (chunked bodies are not supported).
    TransferEncoding,
    /// Server: a method other than `POST` or `OPTIONS`.
    Method,
    /// Server: a path other than [`PATH`].
    Path,
    /// Client: an answer with a status other than 200 (and no transport error code).
    Status {
        /// The status code.
        code: u16,
    },
    /// Client: a response to no request.
    UnexpectedResponse,
    /// Server: more than [`HttpLimits::max_pending`] requests waiting.
    TooManyPending {
        /// The limit.
        max: usize,
    },
    /// Server: more than [`HttpLimits::max_queued`] bytes of packets waiting for requests.
    QueueFull {
        /// The limit.
        max: usize,
    },
    /// Client: a host name that cannot go into a `Host` header.
    BadHost,
}

impl HttpError {
    /// The status a server answers a request refused with this error
    /// ([`HttpServer::refusal`]).
    pub fn status(&self) -> u16 {
        match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders => 431,
            Self::BodyTooLarge { .. } => 413,
            Self::MissingContentLength => 411,
            Self::TransferEncoding => 501,
            Self::Method => 405,
            Self::Path => 404,
            Self::TooManyPending { .. } | Self::QueueFull { .. } => 503,
            Self::Malformed
            | Self::BadContentLength
            | Self::Status { .. }
            | Self::UnexpectedResponse
            | Self::BadHost => 400,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadTooLarge { max } => write!(f, "HTTP head longer than {max} bytes"),
            Self::TooManyHeaders => write!(f, "more than {MAX_HEADERS} HTTP headers"),
            Self::Malformed => f.write_str("malformed HTTP/1.x head"),
            Self::BodyTooLarge { len, max } => write!(f, "HTTP body of {len} bytes exceeds the maximum {max}"),
            Self::BadContentLength => f.write_str("invalid or conflicting Content-Length"),
            Self::MissingContentLength => f.write_str("HTTP body without Content-Length"),
            Self::TransferEncoding => f.write_str("Transfer-Encoding is not supported"),
            Self::Method => f.write_str("HTTP method other than POST or OPTIONS"),
            Self::Path => write!(f, "HTTP path other than {PATH}"),
            Self::Status { code } => write!(f, "HTTP status {code}"),
            Self::UnexpectedResponse => f.write_str("HTTP response to no request"),
            Self::TooManyPending { max } => write!(f, "more than {max} HTTP requests waiting"),
            Self::QueueFull { max } => write!(f, "more than {max} bytes of packets waiting for HTTP requests"),
            Self::BadHost => f.write_str("host name not allowed in a Host header"),
        }
    }
}

impl core::error::Error for HttpError {}

/// The body length the headers announce: `None` without `Content-Length`.
fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, HttpError> {
    let mut len = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::TransferEncoding);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = h.value.trim_ascii();
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err(HttpError::BadContentLength);
            }
            let n = v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            if len.is_some_and(|l| l != n) {
                return Err(HttpError::BadContentLength);
            }
            len = Some(n);
        }
    }
    Ok(len)
}

/// The body length checked against the limit.
fn bounded(len: u64, max: usize) -> Result<usize, HttpError> {
    usize::try_from(len).ok().filter(|&l| l <= max).ok_or(HttpError::BodyTooLarge { len, max })
}

fn parse_error(e: httparse::Error) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        _ => HttpError::Malformed,
    }
}
