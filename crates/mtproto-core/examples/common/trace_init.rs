//! The library's traces on stderr for an example built with the feature
//! `tracing`: `MTPROTO_TRACE=debug cargo run --features tracing --example demo`
//! (levels: error, warn, info, debug, trace). Without the feature, or without
//! the variable, nothing is printed.

/// Installs a stderr subscriber at the level `MTPROTO_TRACE` names.
pub fn init() {
    #[cfg(feature = "tracing")]
    if let Some(level) = std::env::var("MTPROTO_TRACE").ok().and_then(|l| l.parse::<tracing::Level>().ok()) {
        tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).with_ansi(false).init();
    }
}
