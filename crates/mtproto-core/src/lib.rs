//! Sans-IO MTProto 2.0: TL for the service schema, message framing,
//! transports, the handshake state machines and the session machinery:
//! [`ClientConnection`] and [`ServerConnection`], one type per role.
//!
//! Nothing here opens a socket, reads a clock or a global RNG: the caller
//! feeds bytes and the current time in, and takes bytes and events out.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connection;
pub mod handshake;

pub use connection::{
    ClientConnection, ClientOptions, Endpoint, Event, Input, Output, RequestHandle, ServerConnection, ServerOptions,
};
pub mod message;
pub mod tl;
pub mod transport;

/// The README's code, compiled with the doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
