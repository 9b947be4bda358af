//! Observability through [`tracing`](https://docs.rs/tracing), behind the
//! cargo feature `tracing` (off by default; off, everything here compiles
//! to nothing and the arguments of [`trace!`] are never evaluated).
//!
//! Each Connection (one link) has a span `mtproto.link` with its role and a
//! process-unique link number; once the key is known it records
//! `auth_key_id`, and each session it serves gets a child span
//! `mtproto.session` with its `session_id`. Both are entered while the
//! Connection handles input or produces output, so every event below them
//! carries those ids. Ids are printed in hex, as other MTProto tools print
//! them.
//!
//! Never recorded: key material, nonces, salts, message bodies or any other
//! plaintext (`tests/tracing.rs` checks this with a recording subscriber).

/// An event through `tracing` when the feature is on; nothing otherwise.
/// `trace!(debug, field = value, ..., "message")`.
macro_rules! trace {
    ($level:ident, $($arg:tt)+) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::$level!($($arg)+);
        }
    };
}
pub(crate) use trace;

/// A 64-bit id printed as 16 hex digits (auth_key_id, session_id, msg_id).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct Hex(pub i64);

impl core::fmt::Display for Hex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:016x}", self.0 as u64)
    }
}

impl core::fmt::Debug for Hex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

#[cfg(feature = "tracing")]
mod on {
    use super::Hex;
    use crate::message::Role;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tracing::field::Empty;

    static LINKS: AtomicU64 = AtomicU64::new(1);

    /// The spans of one link (see the module docs).
    #[derive(Debug)]
    pub(crate) struct LinkTrace {
        link: tracing::Span,
        session: tracing::Span,
        session_id: Option<i64>,
    }

    /// The spans entered while a Connection works.
    pub(crate) struct Entered {
        _link: tracing::span::EnteredSpan,
        _session: tracing::span::EnteredSpan,
    }

    impl LinkTrace {
        pub(crate) fn new(role: Role) -> Self {
            let link_no = LINKS.fetch_add(1, Ordering::Relaxed);
            let role = match role {
                Role::Client => "client",
                Role::Server => "server",
            };
            let link = tracing::info_span!("mtproto.link", role, link = link_no, auth_key_id = Empty);
            Self { link, session: tracing::Span::none(), session_id: None }
        }

        /// The key is known (after a handshake, a resumed key or a lookup).
        pub(crate) fn key(&self, auth_key_id: i64) {
            self.link.record("auth_key_id", tracing::field::display(Hex(auth_key_id)));
        }

        /// The session the link works in now.
        pub(crate) fn session(&mut self, session_id: i64) {
            if self.session_id == Some(session_id) {
                return;
            }
            self.session_id = Some(session_id);
            self.session = tracing::info_span!(parent: &self.link, "mtproto.session", session_id = %Hex(session_id));
        }

        pub(crate) fn enter(&self) -> Entered {
            Entered { _link: self.link.clone().entered(), _session: self.session.clone().entered() }
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod off {
    use crate::message::Role;

    /// Nothing: the feature `tracing` is off.
    #[derive(Debug)]
    pub(crate) struct LinkTrace;

    /// Nothing entered.
    pub(crate) struct Entered;

    impl LinkTrace {
        #[inline(always)]
        pub(crate) fn new(_role: Role) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn key(&self, _auth_key_id: i64) {}
        #[inline(always)]
        pub(crate) fn session(&mut self, _session_id: i64) {}
        #[inline(always)]
        pub(crate) fn enter(&self) -> Entered {
            Entered
        }
    }
}

#[cfg(not(feature = "tracing"))]
pub(crate) use off::LinkTrace;
#[cfg(feature = "tracing")]
pub(crate) use on::LinkTrace;
