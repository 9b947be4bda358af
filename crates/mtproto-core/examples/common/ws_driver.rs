//! The WebSocket driver (tokio + tokio-tungstenite), for both roles, as
//! Telegram's web endpoints do it: the client upgrades `GET /apiws` offering
//! the subprotocol `binary`, and the MTProto byte stream (obfuscated2 with
//! intermediate or padded intermediate inside) rides in binary messages.
//!
//! The library stays sans-IO: the Connection sees one ordinary byte stream
//! (`Input::Bytes` in, `Output::Transmit` out), and message boundaries mean
//! nothing: an incoming message may hold part of a transport frame or
//! several; outgoing bytes are gathered into messages of at most
//! [`WsLimits::max_message`] bytes, optionally cut at pseudo-random points
//! ([`WsLimits::split_seed`]) to show that the peer does not care either.
//!
//! Include `common/tokio_driver.rs` as `crate::tokio_driver` too: this file
//! takes its clock, [`Flow`] and [`Ended`].
#![allow(dead_code)]

use crate::tokio_driver::{Ended, Flow, now};
use futures_util::{SinkExt, StreamExt};
use mtproto_core::{Endpoint, EndpointEvent, Input, Output};
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request as UpgradeRequest, Response};
use tokio_tungstenite::tungstenite::http::header::{CONNECTION, CONTENT_LENGTH, SEC_WEBSOCKET_PROTOCOL};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// The path of Telegram's WebSocket endpoints.
pub const PATH: &str = "/apiws";

/// The subprotocol a client must offer (and the server names in its answer).
pub const SUBPROTOCOL: &str = "binary";

/// Per-link limits and the shape of outgoing messages.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    /// The largest incoming message (and frame) accepted; a larger one ends
    /// the link before it is buffered whole.
    pub max_incoming: usize,
    /// Outgoing bytes are gathered into messages of at most this many bytes
    /// (so one message may carry several transport frames, or part of one).
    pub max_message: usize,
    /// When set, every outgoing message gets a pseudo-random size in
    /// `1..=max_message` drawn from this seed: frames are cut at arbitrary
    /// bytes and merged with their neighbours.
    pub split_seed: Option<u64>,
    /// A write that does not complete in this time loses the link.
    pub write_timeout: Duration,
    /// The upgrade handshake must be done in this time.
    pub handshake_timeout: Duration,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_incoming: 2 << 20,
            max_message: 64 * 1024,
            split_seed: None,
            write_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl WsLimits {
    fn config(&self) -> WebSocketConfig {
        // Small buffers: a server holds one per connection. Writes go out
        // at once (every send is awaited, so nothing piles up).
        WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(self.max_incoming))
            .max_frame_size(Some(self.max_incoming))
    }
}

/// Why a WebSocket link could not be set up.
#[derive(Debug)]
pub enum WsError {
    /// The upgrade did not finish within [`WsLimits::handshake_timeout`].
    Timeout,
    /// The upgrade was answered (or, on a server, refused by us) with an
    /// HTTP status other than 101.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The reason given in the answer's body (may be empty).
        reason: String,
    },
    /// Anything else tungstenite reports: not an upgrade request, a broken
    /// answer, a missing or different subprotocol in the answer, an IO error.
    Handshake(tungstenite::Error),
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("websocket upgrade timed out"),
            Self::Refused { status, reason } if reason.is_empty() => {
                write!(f, "websocket upgrade refused: HTTP {status}")
            }
            Self::Refused { status, reason } => write!(f, "websocket upgrade refused: HTTP {status}: {reason}"),
            Self::Handshake(e) => write!(f, "websocket upgrade failed: {e}"),
        }
    }
}

impl std::error::Error for WsError {}

impl From<tungstenite::Error> for WsError {
    fn from(e: tungstenite::Error) -> Self {
        match e {
            tungstenite::Error::Http(response) => Self::Refused {
                status: response.status().as_u16(),
                reason: response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().trim().to_string(),
            },
            other => Self::Handshake(other),
        }
    }
}

/// An HTTP error answer to an upgrade, with its reason as the body.
fn refusal(status: StatusCode, reason: String) -> ErrorResponse {
    let mut response = ErrorResponse::new(None);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(reason.len()));
    *response.body_mut() = Some(reason);
    response
}

/// The server's check of an upgrade request: the path must be [`PATH`] (404
/// otherwise) and the client must offer [`SUBPROTOCOL`] (400 otherwise);
/// the answer names that subprotocol.
#[allow(clippy::result_large_err)] // the signature tungstenite's `Callback` takes
fn check_upgrade(request: &UpgradeRequest, mut response: Response) -> Result<Response, ErrorResponse> {
    let path = request.uri().path();
    if path != PATH {
        return Err(refusal(StatusCode::NOT_FOUND, format!("no websocket endpoint at {path:?}; use {PATH}")));
    }
    let offered = request
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !offered {
        return Err(refusal(StatusCode::BAD_REQUEST, format!("the {SUBPROTOCOL:?} subprotocol is required")));
    }
    response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
    Ok(response)
}

/// Server: takes the upgrade of a freshly accepted stream (see
/// [`check_upgrade`] for what is refused; the refusal is written before
/// this returns).
///
/// # Errors
/// [`WsError`]: refused, broken or too slow.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    limits: &WsLimits,
) -> Result<WebSocketStream<S>, WsError> {
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(stream, check_upgrade, Some(limits.config()));
    match tokio::time::timeout(limits.handshake_timeout, upgrade).await {
        Err(_) => Err(WsError::Timeout),
        Ok(result) => Ok(result?),
    }
}

/// Client: upgrades `stream` to a WebSocket on `path` of `host` (the Host
/// header), offering `subprotocol` (`Some(SUBPROTOCOL)` as Telegram's web
/// clients do; `None` offers none, which our server refuses). tungstenite
/// checks that the answer names the subprotocol offered.
///
/// # Errors
/// [`WsError`]: refused, broken or too slow.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
    path: &str,
    subprotocol: Option<&str>,
    limits: &WsLimits,
) -> Result<WebSocketStream<S>, WsError> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request: Request = format!("ws://{host}{path}").into_client_request()?;
    if let Some(protocol) = subprotocol {
        let value = HeaderValue::from_str(protocol)
            .map_err(|e| WsError::Handshake(tungstenite::Error::HttpFormat(e.into())))?;
        request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, value);
    }
    let upgrade = tokio_tungstenite::client_async_with_config(request, stream, Some(limits.config()));
    match tokio::time::timeout(limits.handshake_timeout, upgrade).await {
        Err(_) => Err(WsError::Timeout),
        Ok(result) => Ok(result?.0),
    }
}

/// Cuts outgoing bytes into messages.
struct Shaper {
    max: usize,
    /// xorshift64 state, when sizes are drawn.
    state: Option<u64>,
}

impl Shaper {
    fn next_len(&mut self) -> usize {
        match &mut self.state {
            None => self.max,
            Some(x) => {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                1 + (*x % self.max as u64) as usize
            }
        }
    }
}

/// Drives `conn` over the WebSocket `ws` until the application says stop,
/// the link is lost, or the connection closes: every byte the Connection
/// transmits goes out in binary messages, every binary message's payload
/// goes in as `Input::Bytes`. A text message is a protocol error (the link
/// is lost); pings are answered by tungstenite; a close frame or EOF loses
/// the link. `on_event` and `on_read` as in the TCP driver (`on_read` sees
/// message payloads).
pub async fn drive<C: Endpoint, S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut C,
    ws: &mut WebSocketStream<S>,
    limits: WsLimits,
    mut on_event: impl FnMut(&mut C, C::Event) -> Flow,
    mut on_read: impl FnMut(&[u8]),
) -> Ended {
    let max = limits.max_message.max(1);
    let mut shaper = Shaper { max, state: limits.split_seed.map(|s| s | 1) };
    let mut out: Vec<u8> = Vec::new();
    loop {
        let deadline = loop {
            match conn.poll_output(now()) {
                Output::Transmit(bytes) => {
                    out.extend_from_slice(&bytes);
                    // Bounded: whole messages go out as soon as there are
                    // enough bytes for one (the peer's pace limits ours).
                    if out.len() >= max && !send(ws, &mut out, &mut shaper, limits, false).await {
                        return lose(conn, ws).await;
                    }
                }
                Output::Event(ev) => {
                    if let Some(reason) = ev.close_reason() {
                        let reason = reason.clone();
                        // Its last bytes (a transport error code) go first.
                        let _ = send(ws, &mut out, &mut shaper, limits, true).await;
                        let _ = tokio::time::timeout(limits.write_timeout, ws.close(None)).await;
                        return Ended::Closed(reason);
                    }
                    if ev.link_loss().is_some() {
                        let _ = tokio::time::timeout(limits.write_timeout, ws.close(None)).await;
                        return Ended::LinkLost;
                    }
                    match on_event(conn, ev) {
                        Flow::Continue => {}
                        Flow::Stop => {
                            let _ = send(ws, &mut out, &mut shaper, limits, true).await;
                            return Ended::Stopped;
                        }
                        Flow::Cut => return lose(conn, ws).await,
                    }
                }
                Output::Timeout(at) => break at,
            }
        };
        if !send(ws, &mut out, &mut shaper, limits, true).await {
            return lose(conn, ws).await;
        }
        let wait = deadline.saturating_sub(now());
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Binary(payload))) => {
                    on_read(&payload);
                    conn.handle_input(Input::Bytes(&payload), now());
                }
                // tungstenite queues the pong itself; it goes out with the next write or read.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(_) | Message::Close(_)) | Err(_)) | None => return lose(conn, ws).await,
            },
            () = tokio::time::sleep(wait) => conn.handle_input(Input::Timeout, now()),
        }
    }
}

/// Sends the gathered bytes as binary messages shaped by `shaper`: all of
/// them when `all`, else only whole messages (the rest waits for more
/// output). False when the link is gone.
async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    out: &mut Vec<u8>,
    shaper: &mut Shaper,
    limits: WsLimits,
    all: bool,
) -> bool {
    let mut at = 0;
    while at < out.len() {
        let want = shaper.next_len();
        if !all && want > out.len() - at {
            break;
        }
        let len = want.min(out.len() - at);
        let message = Message::Binary(out[at..at + len].to_vec().into());
        match tokio::time::timeout(limits.write_timeout, ws.send(message)).await {
            Ok(Ok(())) => at += len,
            Ok(Err(_)) | Err(_) => return false,
        }
    }
    out.drain(..at);
    true
}

/// The link is gone: close the WebSocket (best effort) and tell the Connection.
async fn lose<C: Endpoint, S: AsyncRead + AsyncWrite + Unpin>(conn: &mut C, ws: &mut WebSocketStream<S>) -> Ended {
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    conn.handle_input(Input::LinkLost, now());
    Ended::LinkLost
}
