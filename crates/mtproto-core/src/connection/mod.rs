//! The Connection: one sans-IO object per connection that drives the
//! handshake (when no key is given) and then the encrypted session, for
//! either role.
//!
//! The contract has one input path and one output path:
//!
//! ```text
//! conn.handle_input(Input::Bytes(&bytes_from_socket), now);
//! loop {
//!     match conn.poll_output(now) {
//!         Output::Transmit(bytes) => socket.write_all(&bytes)?,
//!         Output::Event(ev) => { /* Ready, RpcResult, Update, Request, ... */ }
//!         Output::Timeout(deadline) => break, // wait for input or the deadline
//!     }
//! }
//! conn.handle_input(Input::Timeout, now);  // when the deadline passes
//! ```
//!
//! After every input, drain `poll_output` until it returns a `Timeout`.
//! `now` is the current unix time as a [`Duration`](core::time::Duration); the Connection never
//! reads a clock.

mod config;
mod engine;
mod events;
mod replay;

pub use config::{ConnectionConfig, KeyLookup, Persisted, Transporting};
pub use engine::Connection;
pub use events::{CloseReason, Event, Input, Output, RequestHandle, ResetAction, SendOptions};
pub use replay::ReplayWindow;
