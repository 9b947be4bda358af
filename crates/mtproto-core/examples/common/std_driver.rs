//! A blocking std::net driver: it only moves bytes and time between a
//! `TcpStream` and a `Connection`. This is the whole embedding.

use mtproto_core::{Connection, Event, Input, Output};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
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
}

/// Counters of what crossed the socket.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wire {
    /// Bytes written.
    pub sent: u64,
    /// Bytes read.
    pub received: u64,
}

/// Drives `conn` over `stream` until the application says stop or the
/// connection closes. `app` sees every event and may call `send`/`respond`;
/// `tick` runs once per loop turn (to queue more work).
pub fn drive(
    conn: &mut Connection,
    stream: &mut TcpStream,
    wire: &mut Wire,
    mut app: impl FnMut(&mut Connection, Event) -> Flow,
    mut tick: impl FnMut(&mut Connection) -> Flow,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    stream.set_nodelay(true)?;
    loop {
        // Drain every output; when idle, let the application queue more work
        // once, drain again, and stop at the next deadline.
        let mut ticked = false;
        let deadline = loop {
            match conn.poll_output(now()) {
                Output::Transmit(bytes) => {
                    stream.write_all(&bytes)?;
                    wire.sent += bytes.len() as u64;
                }
                Output::Event(Event::Closed { reason }) => {
                    return Err(std::io::Error::other(format!("connection closed: {reason}")));
                }
                Output::Event(ev) => {
                    if let Flow::Stop = app(conn, ev) {
                        return Ok(());
                    }
                }
                Output::Timeout(deadline) if ticked => break deadline,
                Output::Timeout(_) => {
                    ticked = true;
                    if let Flow::Stop = tick(conn) {
                        return Ok(());
                    }
                }
            }
        };
        let wait = deadline.saturating_sub(now()).clamp(Duration::from_micros(200), Duration::from_millis(50));
        stream.set_read_timeout(Some(wait))?;
        match stream.read(&mut buf) {
            Ok(0) => return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "peer closed")),
            Ok(n) => {
                wire.received += n as u64;
                conn.handle_input(Input::Bytes(&buf[..n]), now());
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                conn.handle_input(Input::Timeout, now());
            }
            Err(e) => return Err(e),
        }
    }
}
