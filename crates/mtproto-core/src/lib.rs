//! Sans-IO MTProto 2.0: TL for the service schema, message framing,
//! transports, the handshake state machines and the session machinery:
//! [`ClientConnection`] and [`ServerConnection`], one type per role.
//!
//! Nothing here opens a socket, reads a clock or a global RNG: the caller
//! feeds bytes and the current time in, and takes bytes and events out.
//! Any runtime (std threads, tokio, an event loop, a fuzzer) drives it.
//!
//! # The I/O contract
//!
//! ```text
//!   socket bytes ──► handle_input(Input::Bytes(..), now) ──┐
//!   timer fired  ──► handle_input(Input::Timeout, now)     │  one Connection
//!   socket gone  ──► handle_input(Input::LinkLost, now)    │  = one link
//!                                                          ▼
//!   loop { match poll_output(now) {
//!       Output::Transmit(bytes) => write them to the socket, in order,
//!       Output::Event(event)    => client (ClientEvent): Ready, RpcResult,
//!                                  RequestFailed, LinkLost, Closed, ...;
//!                                  server (ServerEvent): Ready, Request, Closed, ...,
//!       Output::Timeout(at)     => wait for the socket or until `at`; break,
//!   } }
//! ```
//!
//! `now` is the unix time as a [`Duration`](core::time::Duration). A client
//! whose link was lost keeps its session and every pending request: open a
//! new socket and call [`ClientConnection::attach_link`]. A server link hands
//! its client sessions to its [`connection::SessionStore`] when it goes; the
//! next link of the session continues them (no new_session_created, no
//! bad_server_salt, answers not yet acknowledged sent again). Requests end
//! exactly once: an answer, an rpc_error, or a typed
//! [`connection::RequestError`] that says how far the request got
//! ([`connection::Delivery`]), so a retry can be decided safely.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tracing` | off | spans per link and session and events for every state change, through [`tracing`](https://docs.rs/tracing); nothing compiled in when off; never a secret (docs/observability.md) |
//! | `fault-injection` | off | `ServerConnection::inject_bad_msg` for tests and simulations; never needed in production |
//!
//! Transports: abridged, intermediate, padded intermediate, full,
//! obfuscated2 (MTProxy secrets), fake-TLS (`ee` secrets, both roles) and
//! HTTP ([`transport`]); WebSocket is obfuscated2 in binary messages, driven
//! by the examples.
//!
//! # More
//!
//! The repository's `docs/`: `architecture.md` (the shape of the code),
//! `protocol.md` (what each service message and bad_msg code does, and how
//! long a session lives), `errors.md` (every error and what to do),
//! `observability.md`, `security.md`, `interop.md` (the client families
//! tested against), `benchmarks.md`. Runnable drivers (std threads, tokio,
//! HTTP, WebSocket, a test server) are in `examples/`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connection;
pub mod handshake;

pub use connection::{
    ClientConnection, ClientEvent, ClientOptions, Endpoint, EndpointEvent, Input, Output, RequestHandle,
    ServerConnection, ServerEvent, ServerOptions,
};
pub mod message;
pub mod tl;
pub mod transport;

/// The README's code, compiled with the doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
