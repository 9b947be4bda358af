//! The HTTP transport driven with blocking std::net, for both roles: the
//! Connections are unframed and the `transport::http` codecs sit between
//! them and the socket (`HttpClient` / `HttpServer`, as in
//! `examples/http_echo.rs`).
//!
//! HTTP has no persistent link: a client's "link" here is one keep-alive
//! HTTP connection, which can be dropped at any point (mid-request or while
//! a response is on its way); the client then opens another one and
//! attaches it, and the session continues. The server side is one thread
//! per HTTP connection, whose `ServerConnection` saves its sessions into
//! the shared store when the connection ends.
//!
//! Include `common/std_driver.rs` as `crate::std_driver` too: this file
//! takes its clock, [`Flow`], [`Ended`] and [`Wire`].
#![allow(dead_code)]

use crate::std_driver::{Ended, Flow, Wire, connect_again, now};
use mtproto_core::transport::http::{HttpClient, HttpLimits, HttpServer, Response, WaitPolicy};
use mtproto_core::{ClientConnection, ClientEvent, Input, Output, ServerConnection, ServerEvent};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// Most requests a client keeps unanswered on one HTTP connection (our
/// server takes up to `HttpLimits::max_pending`, 16 by default); packets
/// beyond it wait in the driver until a response comes back.
pub const MAX_IN_FLIGHT: usize = 8;

/// The transport error code that means "too many connections, come back later".
const FLOOD: i32 = -429;

/// Reads what is there, waiting at most until `deadline` (between 200 µs
/// and 50 ms); `Ok(None)` on EOF, `Ok(Some(0))` when nothing came.
fn read_until(stream: &mut TcpStream, deadline: Duration, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    let wait = deadline.saturating_sub(now()).clamp(Duration::from_micros(200), Duration::from_millis(50));
    stream.set_read_timeout(Some(wait))?;
    match stream.read(buf) {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(Some(0)),
        Err(e) => Err(e),
    }
}

/// Server: serves one HTTP connection: request bodies go to `conn` as
/// packets, its packets wait in the `HttpServer` for requests to carry
/// them. `on_event` sees every event but `Closed` and `LinkLost` (and may
/// call `respond`). Returns when the client goes away, a request is
/// refused (the refusal is written first) or the Connection closes;
/// `conn` is then told `Input::LinkLost` (it saves its sessions).
pub fn serve(
    conn: &mut ServerConnection,
    stream: &mut TcpStream,
    wire: &mut Wire,
    mut on_event: impl FnMut(&mut ServerConnection, ServerEvent),
) {
    let mut http = HttpServer::new(HttpLimits::default());
    let mut buf = vec![0u8; 64 * 1024];
    let _ = stream.set_nodelay(true);
    loop {
        let conn_deadline = loop {
            match conn.poll_output(now()) {
                Output::Transmit(p) => {
                    if http.queue_packet(p, now()).is_err() {
                        // The client stopped asking for its answers: drop the link.
                        return lose(conn, stream);
                    }
                }
                Output::Event(ServerEvent::Closed { .. }) => return lose(conn, stream),
                // The client's long-poll settings (http_wait) for this link.
                Output::Event(ServerEvent::HttpWait { wait }) => http.set_wait(WaitPolicy::from_tl(&wait)),
                Output::Event(ev) => on_event(conn, ev),
                Output::Timeout(at) => break at,
            }
        };
        while let Some(bytes) = http.poll_transmit(now()) {
            if stream.write_all(&bytes).is_err() {
                return lose(conn, stream);
            }
            wire.sent += bytes.len() as u64;
        }
        let deadline = http.deadline().map_or(conn_deadline, |d| d.min(conn_deadline));
        match read_until(stream, deadline, &mut buf) {
            Ok(None) | Err(_) => return lose(conn, stream),
            Ok(Some(n)) => {
                wire.received += n as u64;
                if let Err(e) = http.handle_bytes(&buf[..n], now()) {
                    let _ = stream.write_all(&HttpServer::refusal(&e));
                    return lose(conn, stream);
                }
                while let Some(mut p) = http.poll_packet() {
                    conn.handle_input(Input::Packet(&mut p), now());
                }
            }
        }
        if now() >= conn_deadline {
            conn.handle_input(Input::Timeout, now());
        }
    }
}

fn lose<C: mtproto_core::Endpoint>(conn: &mut C, stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Both);
    conn.handle_input(Input::LinkLost, now());
}

/// Client: drives `conn` over one HTTP connection until the application
/// says stop or the connection is gone (EOF, an error, a cut, a `-429`).
/// Every packet becomes a `POST /api` (at most [`MAX_IN_FLIGHT`]
/// unanswered; the rest wait here); while an answer is due and no request
/// is out to carry it, an empty poll is (the server holds it until there
/// is something to send). `Flow::CutLink { prefix }` writes the first
/// `prefix` bytes of the next request and drops the connection; a cut when
/// nothing is to be written drops it while responses are on their way.
///
/// # Errors
/// The Connection closed, or the server answered with a transport error
/// code other than `-429` (a driver would need a new key for `-404`).
pub fn drive(
    conn: &mut ClientConnection,
    stream: &mut TcpStream,
    host: &str,
    wire: &mut Wire,
    mut app: impl FnMut(&mut ClientConnection, ClientEvent) -> Flow,
    mut tick: impl FnMut(&mut ClientConnection) -> Flow,
) -> std::io::Result<Ended> {
    let mut http = HttpClient::new(host, HttpLimits::default()).map_err(std::io::Error::other)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut waiting: VecDeque<Vec<u8>> = VecDeque::new();
    stream.set_nodelay(true)?;
    let ended = 'link: loop {
        let mut ticked = false;
        let deadline = loop {
            let flow = match conn.poll_output(now()) {
                Output::Transmit(p) => {
                    waiting.push_back(p);
                    Flow::Continue
                }
                Output::Event(ClientEvent::Closed { reason }) => {
                    let _ = stream.shutdown(Shutdown::Both);
                    return Err(std::io::Error::other(format!("connection closed: {reason}")));
                }
                Output::Event(ClientEvent::LinkLost { .. }) => {
                    let _ = stream.shutdown(Shutdown::Both);
                    return Ok(Ended::LinkLost);
                }
                Output::Event(ev) => app(conn, ev),
                Output::Timeout(deadline) if ticked => break deadline,
                Output::Timeout(_) => {
                    ticked = true;
                    tick(conn)
                }
            };
            match flow {
                Flow::Continue => {}
                Flow::Stop => {
                    let mut out = Vec::new();
                    while let Some(p) = waiting.pop_front() {
                        http.encode_request(&p, &mut out);
                    }
                    let _ = stream.write_all(&out);
                    return Ok(Ended::Stopped);
                }
                Flow::CutLink { prefix } => {
                    if let Output::Transmit(p) = conn.poll_output(now()) {
                        waiting.push_back(p);
                    }
                    if let Some(p) = waiting.pop_front() {
                        let mut request = Vec::new();
                        http.encode_request(&p, &mut request);
                        let _ = stream.write_all(&request[..prefix.min(request.len())]);
                    }
                    break 'link Ended::LinkLost;
                }
            }
        };
        let mut out = Vec::new();
        while http.in_flight() < MAX_IN_FLIGHT
            && let Some(p) = waiting.pop_front()
        {
            http.encode_request(&p, &mut out);
        }
        // Something is due from the server and no request is out to carry
        // it: poll.
        if http.in_flight() == 0 && (conn.pending_requests() > 0 || !conn.is_ready()) {
            http.encode_poll(&mut out);
        }
        if !out.is_empty() {
            if stream.write_all(&out).is_err() {
                break Ended::LinkLost;
            }
            wire.sent += out.len() as u64;
        }
        match read_until(stream, deadline, &mut buf) {
            Ok(None) | Err(_) => break Ended::LinkLost,
            Ok(Some(n)) => {
                wire.received += n as u64;
                if http.handle_bytes(&buf[..n]).is_err() {
                    break Ended::LinkLost;
                }
                while let Some(r) = http.poll_response() {
                    match r {
                        Response::Packet(mut p) => conn.handle_input(Input::Packet(&mut p), now()),
                        Response::Empty => {}
                        Response::TransportError(FLOOD) => break 'link Ended::LinkLost,
                        Response::TransportError(code) => {
                            let _ = stream.shutdown(Shutdown::Both);
                            return Err(std::io::Error::other(format!("transport error {code} from the server")));
                        }
                    }
                }
            }
        }
        if now() >= deadline {
            conn.handle_input(Input::Timeout, now());
        }
    };
    let _ = stream.shutdown(Shutdown::Both);
    conn.handle_input(Input::LinkLost, now());
    Ok(ended)
}

/// Client: drives `conn` over HTTP connections to `addr` until the
/// application says stop: whenever one is gone it opens another (backoff
/// from 5 ms, doubling to 1 s, at most 30 attempts in a row) and attaches
/// it, so the session, its pending requests and its msg_id clock continue.
///
/// # Errors
/// The server did not come back, the Connection closed, or a transport
/// error code (see [`drive`]).
pub fn drive_reconnecting(
    conn: &mut ClientConnection,
    addr: SocketAddr,
    wire: &mut Wire,
    mut app: impl FnMut(&mut ClientConnection, ClientEvent) -> Flow,
    mut tick: impl FnMut(&mut ClientConnection) -> Flow,
) -> std::io::Result<()> {
    let host = addr.to_string();
    let mut stream = TcpStream::connect(addr)?;
    loop {
        if drive(conn, &mut stream, &host, wire, &mut app, &mut tick)? == Ended::Stopped {
            return Ok(());
        }
        stream = connect_again(addr)?;
        wire.links_resumed += 1;
        conn.attach_link(now());
    }
}
