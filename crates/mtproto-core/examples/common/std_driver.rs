//! A blocking std::net driver: it only moves bytes and time between a
//! `TcpStream` and a `ClientConnection` or `ServerConnection`, and (client) opens a new `TcpStream`
//! when the link is lost, with a backoff, so the session continues. This is
//! the whole embedding.
#![allow(dead_code)]

use mtproto_core::{ClientConnection, ClientEvent, Endpoint, EndpointEvent, Input, Output};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current unix time, the only clock the Connection ever sees.
pub fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// What the application wants after handling events.
pub enum Flow {
    /// Keep driving.
    Continue,
    /// Stop (the caller closes the connection).
    Stop,
    /// Fault injection: cut the link now, in the middle of the next
    /// transmit (only its first `prefix` bytes reach the socket).
    CutLink {
        /// Bytes of the next transmit written before the cut.
        prefix: usize,
    },
}

/// How one link's drive ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The application said stop.
    Stopped,
    /// The link is gone (EOF, a socket error, a cut, or the Connection
    /// reported `LinkLost`); a client may attach a new one.
    LinkLost,
}

/// Counters of what crossed the socket.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wire {
    /// Bytes written.
    pub sent: u64,
    /// Bytes read.
    pub received: u64,
    /// Links lost and replaced by a new one (client).
    pub links_resumed: u64,
}

/// Drives `conn` over `stream` until the application says stop, the link
/// is lost, or the connection closes (an error). `app` sees every event and
/// may call `send`/`respond`; `tick` runs once per loop turn (to queue more
/// work). A lost link is fed to the Connection as `Input::LinkLost`.
pub fn drive<C: Endpoint>(
    conn: &mut C,
    stream: &mut TcpStream,
    wire: &mut Wire,
    mut app: impl FnMut(&mut C, C::Event) -> Flow,
    mut tick: impl FnMut(&mut C) -> Flow,
) -> std::io::Result<Ended> {
    let mut buf = vec![0u8; 64 * 1024];
    stream.set_nodelay(true)?;
    let ended = 'link: loop {
        // Drain every output; when idle, let the application queue more work
        // once, drain again, and stop at the next deadline.
        let mut ticked = false;
        let deadline = loop {
            let flow = match conn.poll_output(now()) {
                Output::Transmit(bytes) => {
                    if stream.write_all(&bytes).is_err() {
                        break 'link Ended::LinkLost;
                    }
                    wire.sent += bytes.len() as u64;
                    Flow::Continue
                }
                Output::Event(ev) => {
                    if let Some(reason) = ev.close_reason() {
                        return Err(std::io::Error::other(format!("connection closed: {reason}")));
                    }
                    if ev.link_loss().is_some() {
                        let _ = stream.shutdown(Shutdown::Both);
                        return Ok(Ended::LinkLost);
                    }
                    app(conn, ev)
                }
                Output::Timeout(deadline) if ticked => break deadline,
                Output::Timeout(_) => {
                    ticked = true;
                    tick(conn)
                }
            };
            match flow {
                Flow::Continue => {}
                Flow::Stop => return Ok(Ended::Stopped),
                Flow::CutLink { prefix } => {
                    if let Output::Transmit(bytes) = conn.poll_output(now()) {
                        let _ = stream.write_all(&bytes[..prefix.min(bytes.len())]);
                    }
                    break 'link Ended::LinkLost;
                }
            }
        };
        let wait = deadline.saturating_sub(now()).clamp(Duration::from_micros(200), Duration::from_millis(50));
        stream.set_read_timeout(Some(wait))?;
        match stream.read(&mut buf) {
            Ok(0) => break Ended::LinkLost,
            Ok(n) => {
                wire.received += n as u64;
                conn.handle_input(Input::Bytes(&buf[..n]), now());
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                conn.handle_input(Input::Timeout, now());
            }
            Err(_) => break Ended::LinkLost,
        }
    };
    let _ = stream.shutdown(Shutdown::Both);
    conn.handle_input(Input::LinkLost, now());
    Ok(ended)
}

/// A new TCP connection to `addr` after a lost link: backoff from 5 ms,
/// doubling to 1 s, at most 30 attempts in a row.
///
/// # Errors
/// `ConnectionRefused` when the server did not come back.
pub fn connect_again(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut backoff = Duration::from_millis(5);
    for _ in 0..30 {
        std::thread::sleep(backoff);
        if let Ok(s) = TcpStream::connect(addr) {
            return Ok(s);
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
    Err(std::io::Error::new(ErrorKind::ConnectionRefused, "the server did not come back"))
}

/// Client: drives `conn` over TCP links to `addr` until the application
/// says stop: whenever a link is lost it connects again (backoff from 5 ms,
/// doubling to 1 s, at most 30 attempts in a row) and attaches the new link,
/// so the session, its pending requests and its msg_id clock continue.
pub fn drive_reconnecting(
    conn: &mut ClientConnection,
    addr: SocketAddr,
    wire: &mut Wire,
    mut app: impl FnMut(&mut ClientConnection, ClientEvent) -> Flow,
    mut tick: impl FnMut(&mut ClientConnection) -> Flow,
) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    loop {
        if drive(conn, &mut stream, wire, &mut app, &mut tick)? == Ended::Stopped {
            return Ok(());
        }
        stream = connect_again(addr)?;
        wire.links_resumed += 1;
        conn.attach_link(now());
    }
}
