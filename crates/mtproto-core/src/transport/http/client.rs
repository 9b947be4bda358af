//! The client side: packets out as `POST /api` requests, responses in.

use super::reader::{Head, Reader};
use super::{HttpError, HttpLimits, MAX_HEADERS, PATH, bounded, content_length, parse_error};
use bytes::BytesMut;
use std::collections::VecDeque;

/// The longest host name [`HttpClient::new`] takes.
const MAX_HOST: usize = 255;

/// One answer of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A `200` whose body is one MTProto packet: feed it as `Input::Packet`.
    Packet(BytesMut),
    /// A `200` with an empty body: nothing was due (a long poll ended).
    Empty,
    /// A 4-byte body: a transport error code (`-404` unknown auth key,
    /// `-429` too many connections, …), whatever the status.
    TransportError(i32),
}

/// What a response head said.
struct Status {
    code: u16,
}

/// The client codec of one HTTP connection.
///
/// Every request is answered by one response, in order; [`Self::in_flight`]
/// counts the requests not answered yet. Responses of status 100–199 are
/// skipped.
#[derive(Debug)]
pub struct HttpClient {
    request_head: String,
    reader: Reader<Status>,
    in_flight: usize,
    responses: VecDeque<Response>,
}

impl HttpClient {
    /// A codec whose requests name `host` (a host name or address, with an
    /// optional `:port`) in their `Host` header.
    ///
    /// # Examples
    ///
    /// Our client codec against our server codec: a packet goes up as the
    /// body of `POST /api`, the server's answer comes back as the body of
    /// the response.
    ///
    /// ```
    /// use core::time::Duration;
    /// use mtproto_core::transport::http::{HttpClient, HttpLimits, HttpServer, Response};
    /// let now = Duration::from_secs(1_780_000_000);
    /// let mut client = HttpClient::new("149.154.167.50:80", HttpLimits::default())?;
    /// let mut server = HttpServer::new(HttpLimits::default());
    /// let mut wire = Vec::new();
    /// client.encode_request(&[7; 40], &mut wire);
    /// assert!(wire.starts_with(b"POST /api HTTP/1.1\r\n"));
    /// server.handle_bytes(&wire, now)?;
    /// assert_eq!(server.poll_packet().as_deref(), Some(&[7u8; 40][..]));
    /// server.queue_packet(vec![9; 24], now)?;
    /// let answer = server.poll_transmit(now).expect("the request is answered");
    /// client.handle_bytes(&answer)?;
    /// assert_eq!(client.poll_response(), Some(Response::Packet([9u8; 24][..].into())));
    /// assert_eq!(client.in_flight(), 0);
    /// # Ok::<(), mtproto_core::transport::http::HttpError>(())
    /// ```
    ///
    /// # Errors
    /// [`HttpError::BadHost`] when `host` is empty, longer than 255 bytes or
    /// holds anything but letters, digits and `.-_:[]`.
    pub fn new(host: &str, limits: HttpLimits) -> Result<Self, HttpError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b);
        if host.is_empty() || host.len() > MAX_HOST || !host.bytes().all(allowed) {
            return Err(HttpError::BadHost);
        }
        let request_head = format!(
            "POST {PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\nContent-Type: application/octet-stream\r\nContent-Length: "
        );
        Ok(Self { request_head, reader: Reader::new(limits), in_flight: 0, responses: VecDeque::new() })
    }

    /// Appends a request carrying `packet` to `out`.
    pub fn encode_request(&mut self, packet: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(self.request_head.as_bytes());
        out.extend_from_slice(packet.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(packet);
        self.in_flight += 1;
    }

    /// Appends a request with an empty body: a poll that gives our
    /// [`HttpServer`](super::HttpServer) a request to answer with whatever
    /// becomes due, when the client has no packet to send. (Telegram's
    /// clients poll with an encrypted `http_wait` message instead.)
    pub fn encode_poll(&mut self, out: &mut Vec<u8>) {
        self.encode_request(&[], out);
    }

    /// Requests written and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The error the codec failed with, if it did (it then stays failed).
    pub fn error(&self) -> Option<HttpError> {
        self.reader.failed()
    }

    /// Bytes of an incomplete response held.
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }

    /// Reads bytes from the server; complete responses wait in
    /// [`Self::poll_response`].
    ///
    /// # Errors
    /// A malformed or oversized response, a status other than 200 without
    /// a transport error code ([`HttpError::Status`]), a response to no
    /// request; the connection must close.
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Result<(), HttpError> {
        let (in_flight, responses) = (&mut self.in_flight, &mut self.responses);
        self.reader.read(bytes, parse_response, |status, body| {
            if (100..200).contains(&status.code) {
                return Ok(());
            }
            if body.len() == 4 {
                let code = i32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                *in_flight = in_flight.checked_sub(1).ok_or(HttpError::UnexpectedResponse)?;
                responses.push_back(Response::TransportError(code));
                return Ok(());
            }
            if status.code != 200 {
                return Err(HttpError::Status { code: status.code });
            }
            *in_flight = in_flight.checked_sub(1).ok_or(HttpError::UnexpectedResponse)?;
            responses.push_back(if body.is_empty() { Response::Empty } else { Response::Packet(body) });
            Ok(())
        })
    }

    /// The next complete response, oldest first.
    pub fn poll_response(&mut self) -> Option<Response> {
        self.responses.pop_front()
    }
}

fn parse_response(buf: &[u8], limits: &HttpLimits) -> Result<Head<Status>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(buf).map_err(parse_error)? {
        httparse::Status::Partial => return Ok(Head::Partial),
        httparse::Status::Complete(len) => len,
    };
    let code = r.code.ok_or(HttpError::Malformed)?;
    if (100..200).contains(&code) || code == 204 || code == 304 {
        return Ok(Head::Complete { len, meta: Status { code }, body: 0 });
    }
    let body = content_length(r.headers)?.ok_or(HttpError::MissingContentLength)?;
    Ok(Head::Complete { len, meta: Status { code }, body: bounded(body, limits.max_body)? })
}
