use crate::tl::TlError;
use core::fmt;
use mtproto_crypto::CryptoError;

/// Every way a message can be refused by the message layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// Decryption or authentication failed.
    Crypto(CryptoError),
    /// A TL structure inside the message is malformed.
    Tl(TlError),
    /// A plaintext message whose auth_key_id is not zero.
    NotPlaintext,
    /// A plaintext message whose length field disagrees with the data.
    BadLength {
        /// The length field.
        declared: i64,
        /// Bytes actually present.
        actual: usize,
    },
    /// The session_id inside a decrypted message is not ours.
    WrongSession {
        /// The session id received.
        got: i64,
    },
    /// A msg_id with the wrong parity for its sender's role, or zero.
    BadMsgIdParity {
        /// The msg_id received.
        msg_id: i64,
    },
    /// Padding outside 12..=1024 bytes.
    BadPadding {
        /// The padding length implied by the length field.
        padding: usize,
    },
    /// A container with more messages or bytes than allowed.
    ContainerTooLarge,
    /// A container nested in a container.
    NestedContainer,
    /// Two messages with one msg_id inside a container.
    DuplicateInContainer {
        /// The repeated msg_id.
        msg_id: i64,
    },
    /// An inner message whose msg_id is not below the container's.
    ContainerOrder {
        /// The inner msg_id.
        msg_id: i64,
    },
    /// gzip data that is not a valid gzip stream.
    BadGzip,
    /// gzip data that inflates beyond the configured limit.
    GzipTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Crypto(e) => write!(f, "crypto: {e}"),
            Self::Tl(e) => write!(f, "TL: {e}"),
            Self::NotPlaintext => {
                f.write_str("plaintext message with a non-zero auth_key_id: it is encrypted, decrypt it with its key")
            }
            Self::BadLength { declared, actual } => {
                write!(f, "length field {declared} but {actual} bytes present: truncated or corrupted, drop it")
            }
            Self::WrongSession { got } => {
                write!(f, "message for session {got:#x}, not ours: dropped (a late message of a session we left)")
            }
            Self::BadMsgIdParity { msg_id } => {
                write!(
                    f,
                    "msg_id {msg_id:#x} has the wrong parity for its sender (client ids are 0 mod 4, server ids odd): a peer bug"
                )
            }
            Self::BadPadding { padding } => {
                write!(f, "padding of {padding} bytes outside 12..=1024 (MTProto 2.0): a peer bug or a forged packet")
            }
            Self::ContainerTooLarge => {
                f.write_str("container exceeds the message or size limit: split it (at most 1020 messages)")
            }
            Self::NestedContainer => {
                f.write_str("container inside a container: not allowed, send the messages in one container")
            }
            Self::DuplicateInContainer { msg_id } => {
                write!(f, "msg_id {msg_id:#x} repeated in a container: every message needs its own msg_id")
            }
            Self::ContainerOrder { msg_id } => {
                write!(f, "inner msg_id {msg_id:#x} not below the container's: give the container a newer msg_id")
            }
            Self::BadGzip => f.write_str("invalid gzip data (gzip_packed): corrupted, or not gzip"),
            Self::GzipTooLarge { limit } => write!(
                f,
                "gzip data inflates beyond {limit} bytes: refused (raise inflate_limit only for a trusted peer)"
            ),
        }
    }
}

impl std::error::Error for MessageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Crypto(e) => Some(e),
            Self::Tl(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CryptoError> for MessageError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}

impl From<TlError> for MessageError {
    fn from(e: TlError) -> Self {
        Self::Tl(e)
    }
}
