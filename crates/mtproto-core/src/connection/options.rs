//! Settings both roles share: framing and the message layer. Each role's
//! own settings are [`super::ClientOptions`] and [`super::ServerOptions`].

use super::config::{ConnectionConfig, Transporting};
use crate::transport::TransportKind;
use core::time::Duration;

/// Framing and message-layer settings of either role. Every field has a
/// documented default.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Framing. Default: intermediate, not obfuscated (a server detects the
    /// client's choice itself; for a server only an obfuscation secret
    /// matters here).
    pub transport: Transporting,
    /// Largest transport frame accepted. Default [`crate::transport::DEFAULT_MAX_FRAME`].
    pub max_frame: usize,
    /// A frame started but not completed within this time drops the link
    /// (slowloris defence). Default 30 s.
    pub frame_timeout: Duration,
    /// Send a msgs_ack once this many acks are pending. Default 16.
    pub ack_batch: usize,
    /// Or once the oldest pending ack is this old. Default 200 ms.
    pub ack_delay: Duration,
    /// Most messages per container. Default 100 (Telegram allows 1020).
    pub container_max_messages: usize,
    /// Most bytes per container. Default 512 KiB.
    pub container_max_bytes: usize,
    /// Bodies above this size are gzip_packed when that makes them smaller. Default 512 bytes.
    pub gzip_threshold: usize,
    /// Largest inflated gzip_packed body accepted. Default 16 MiB.
    pub inflate_limit: usize,
    /// Most bytes inflated from all the gzip_packed objects of one input
    /// (and so of one packet) together; a packet declaring more is dropped
    /// whole ([`super::DropReason::InflateBudget`]). Default 16 MiB.
    pub inflate_budget: usize,
    /// Most bytes of kept messages one msg_resend_req may make us send
    /// again; the rest are not re-sent (counted in
    /// [`super::Stats::resend_bytes_refused`]). Default 1 MiB.
    pub max_resend_bytes: usize,
    /// How many received msg_ids are remembered to refuse replays. Default 2048.
    pub replay_window: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            transport: Transporting::Framed(TransportKind::Intermediate, None),
            max_frame: crate::transport::DEFAULT_MAX_FRAME,
            frame_timeout: Duration::from_secs(30),
            ack_batch: 16,
            ack_delay: Duration::from_millis(200),
            container_max_messages: 100,
            container_max_bytes: 512 << 10,
            gzip_threshold: 512,
            inflate_limit: crate::message::gzip::DEFAULT_INFLATE_LIMIT,
            inflate_budget: crate::message::gzip::DEFAULT_INFLATE_LIMIT,
            max_resend_bytes: 1 << 20,
            replay_window: 2048,
        }
    }
}

impl SessionOptions {
    /// The engine's configuration with these shared settings (the role's
    /// own are filled in by the role).
    pub(crate) fn engine_config(self) -> ConnectionConfig {
        let Self {
            transport,
            max_frame,
            frame_timeout,
            ack_batch,
            ack_delay,
            container_max_messages,
            container_max_bytes,
            gzip_threshold,
            inflate_limit,
            inflate_budget,
            max_resend_bytes,
            replay_window,
        } = self;
        ConnectionConfig {
            transport,
            max_frame,
            frame_timeout,
            ack_batch,
            ack_delay,
            container_max_messages,
            container_max_bytes,
            gzip_threshold,
            inflate_limit,
            inflate_budget,
            max_resend_bytes,
            replay_window,
            ..ConnectionConfig::default()
        }
    }
}
