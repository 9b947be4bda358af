//! The server side: `POST /api` requests in, one response per request out.

use super::reader::{Head, Reader};
use super::{CORS_HEADERS, HttpError, HttpLimits, MAX_HEADERS, PATH, bounded, content_length, parse_error};
use crate::tl::schema::HttpWait;
use bytes::BytesMut;
use core::time::Duration;
use std::collections::VecDeque;

/// When a held request is answered: the three numbers of
/// `http_wait{max_delay, wait_after, max_wait}`.
///
/// A request with packets queued is answered at the earlier of (first
/// packet queued + `max_delay`) and (last packet queued + `wait_after`); a
/// request with nothing queued is answered, empty, `max_wait` after it
/// arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// Longest wait after the first packet is due.
    pub max_delay: Duration,
    /// Wait after the last packet is due, for more to come.
    pub wait_after: Duration,
    /// Longest wait for any packet.
    pub max_wait: Duration,
}

impl WaitPolicy {
    /// Telegram's long poll: packets go out at once, an empty answer after 25 s.
    pub const DEFAULT: Self =
        Self { max_delay: Duration::ZERO, wait_after: Duration::ZERO, max_wait: Duration::from_secs(25) };

    /// The policy an `http_wait` asks for (milliseconds; negatives are 0).
    pub fn from_tl(wait: &HttpWait) -> Self {
        let ms = |v: i32| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        Self { max_delay: ms(wait.max_delay), wait_after: ms(wait.wait_after), max_wait: ms(wait.max_wait) }
    }
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A request waiting for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// A `POST`, since this time.
    Post(Duration),
    /// A CORS preflight (answered as soon as it is the oldest).
    Options,
}

/// The server codec of one HTTP connection. See the [module docs](super).
#[derive(Debug)]
pub struct HttpServer {
    reader: Reader<Pending>,
    wait: WaitPolicy,
    pending: VecDeque<Pending>,
    incoming: VecDeque<BytesMut>,
    /// Packets for the client, with the time each was queued.
    outgoing: VecDeque<(Vec<u8>, Duration)>,
    queued_bytes: usize,
    wire: Vec<u8>,
}

impl HttpServer {
    /// A codec with these limits and [`WaitPolicy::DEFAULT`].
    pub fn new(limits: HttpLimits) -> Self {
        Self {
            reader: Reader::new(limits),
            wait: WaitPolicy::DEFAULT,
            pending: VecDeque::new(),
            incoming: VecDeque::new(),
            outgoing: VecDeque::new(),
            queued_bytes: 0,
            wire: Vec::new(),
        }
    }

    /// Sets the policy for the requests held from now on (and those held now).
    pub fn set_wait(&mut self, wait: WaitPolicy) {
        self.wait = wait;
    }

    /// The policy in force.
    pub fn wait(&self) -> WaitPolicy {
        self.wait
    }

    /// Reads bytes from the client at `now`. The bodies of complete
    /// requests wait in [`Self::poll_packet`]; the requests wait for
    /// their answers.
    ///
    /// # Errors
    /// A request that is not `POST /api` or `OPTIONS /api`, a malformed or
    /// oversized one, more than [`HttpLimits::max_pending`] waiting. Nothing
    /// more is read; answer [`Self::refusal`] and close.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Duration) -> Result<(), HttpError> {
        let (pending, incoming) = (&mut self.pending, &mut self.incoming);
        let max = self.reader.limits().max_pending;
        self.reader.read(bytes, parse_request, |kind, body| {
            if pending.len() >= max {
                return Err(HttpError::TooManyPending { max });
            }
            if let Pending::Post(_) = kind {
                pending.push_back(Pending::Post(now));
                if !body.is_empty() {
                    incoming.push_back(body);
                }
            } else {
                pending.push_back(kind); // a preflight's body, if any, is ignored
            }
            Ok(())
        })
    }

    /// The body of the next request, oldest first: one MTProto packet for
    /// `Input::Packet`. Empty bodies (polls) are not handed out.
    pub fn poll_packet(&mut self) -> Option<BytesMut> {
        self.incoming.pop_front()
    }

    /// Queues a packet the Connection sent (`Output::Transmit`) at `now`,
    /// for the next request to carry.
    ///
    /// # Errors
    /// [`HttpError::QueueFull`] when the packets waiting would exceed
    /// [`HttpLimits::max_queued`]; the packet is not queued.
    pub fn queue_packet(&mut self, packet: Vec<u8>, now: Duration) -> Result<(), HttpError> {
        let max = self.reader.limits().max_queued;
        if self.queued_bytes.saturating_add(packet.len()) > max {
            return Err(HttpError::QueueFull { max });
        }
        self.queued_bytes += packet.len();
        self.outgoing.push_back((packet, now));
        Ok(())
    }

    /// Packets waiting for a request.
    pub fn queued_packets(&self) -> usize {
        self.outgoing.len()
    }

    /// Requests waiting for their answer (a preflight counts until answered).
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// The error the codec failed with, if it did (it then stays failed).
    pub fn error(&self) -> Option<HttpError> {
        self.reader.failed()
    }

    /// Bytes of an incomplete request held.
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }

    /// When the oldest request is due (see [`WaitPolicy`]); `None` when no
    /// request waits. A driver calls [`Self::poll_transmit`] then.
    pub fn deadline(&self) -> Option<Duration> {
        let Pending::Post(arrived) = *self.pending.front()? else { return Some(Duration::ZERO) };
        if self.pending.len() > 1 {
            return Some(arrived);
        }
        match (self.outgoing.front(), self.outgoing.back()) {
            (Some(&(_, first)), Some(&(_, last))) => {
                let due = first.saturating_add(self.wait.max_delay).min(last.saturating_add(self.wait.wait_after));
                Some(due.max(arrived))
            }
            _ => Some(arrived.saturating_add(self.wait.max_wait)),
        }
    }

    /// Answers every request due at `now` and returns the bytes to write,
    /// or `None` when there are none.
    pub fn poll_transmit(&mut self, now: Duration) -> Option<Vec<u8>> {
        while self.deadline().is_some_and(|d| d <= now) {
            self.answer_oldest();
        }
        (!self.wire.is_empty()).then(|| core::mem::take(&mut self.wire))
    }

    /// Answers the oldest request now, whatever its deadline: a preflight
    /// with the CORS headers, a `POST` with the oldest queued packet or an
    /// empty `200`. False when no request waits. The bytes go out with the
    /// next [`Self::poll_transmit`].
    pub fn answer_oldest(&mut self) -> bool {
        match self.pending.pop_front() {
            None => false,
            Some(Pending::Options) => {
                write_head(&mut self.wire, 200, "OK", 0, false);
                true
            }
            Some(Pending::Post(_)) => {
                let packet = self.outgoing.pop_front().map(|(p, _)| p).unwrap_or_default();
                self.queued_bytes -= packet.len();
                write_head(&mut self.wire, 200, "OK", packet.len(), false);
                self.wire.extend_from_slice(&packet);
                true
            }
        }
    }

    /// Answers the oldest request with a transport error code (`-404`,
    /// `-429`, …) as a 4-byte body, with status `-code` when that is a
    /// 4xx or 5xx status and 400 otherwise. False when no request waits.
    pub fn answer_error(&mut self, code: i32) -> bool {
        if self.pending.pop_front().is_none() {
            return false;
        }
        let status = code.checked_neg().and_then(|s| u16::try_from(s).ok()).filter(|s| (400..600).contains(s));
        let status = status.unwrap_or(400);
        write_head(&mut self.wire, status, "Error", 4, false);
        self.wire.extend_from_slice(&code.to_le_bytes());
        true
    }

    /// The response to write before closing a connection whose request was
    /// refused with `err` (from [`Self::handle_bytes`]): its
    /// [`HttpError::status`], no body, `Connection: close`.
    pub fn refusal(err: &HttpError) -> Vec<u8> {
        let mut out = Vec::new();
        write_head(&mut out, err.status(), "Refused", 0, true);
        out
    }
}

/// A response head: status line, length, keep-alive (or close), CORS.
fn write_head(out: &mut Vec<u8>, status: u16, reason: &str, len: usize, close: bool) {
    let connection = if close { "close" } else { "keep-alive" };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\
             Connection: {connection}\r\n{CORS_HEADERS}Cache-Control: no-store\r\nPragma: no-cache\r\n\r\n"
        )
        .as_bytes(),
    );
}

fn parse_request(buf: &[u8], limits: &HttpLimits) -> Result<Head<Pending>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut headers);
    let len = match r.parse(buf).map_err(parse_error)? {
        httparse::Status::Partial => return Ok(Head::Partial),
        httparse::Status::Complete(len) => len,
    };
    let kind = match r.method {
        Some("POST") => Pending::Post(Duration::ZERO),
        Some("OPTIONS") => Pending::Options,
        _ => return Err(HttpError::Method),
    };
    if r.path != Some(PATH) {
        return Err(HttpError::Path);
    }
    let body = match (content_length(r.headers)?, kind) {
        (Some(n), _) => bounded(n, limits.max_body)?,
        (None, Pending::Options) => 0,
        (None, Pending::Post(_)) => return Err(HttpError::MissingContentLength),
    };
    Ok(Head::Complete { len, meta: kind, body })
}
