use super::fake_tls::HelloRefusal;
use core::fmt;

/// Every way a transport byte stream can be malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// A frame announced a length above the configured maximum.
    FrameTooLarge {
        /// The announced length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A length that is impossible for the framing (not a multiple of 4, too small).
    BadLength {
        /// The announced length.
        len: usize,
    },
    /// Full transport: the CRC32 does not match.
    BadCrc,
    /// Full transport: the sequence number is not the next one.
    BadSeq {
        /// The expected number.
        expected: u32,
        /// The received number.
        got: u32,
    },
    /// The first bytes name no transport we accept.
    UnknownProtocol,
    /// An obfuscated2 header carrying a tag we do not accept.
    BadObfuscatedTag {
        /// The decrypted tag.
        tag: [u8; 4],
    },
    /// Fake-TLS: a record that is not application data (or the one-byte
    /// ChangeCipherSpec), has another version than 0303, or is too long.
    BadTlsRecord,
    /// Fake-TLS client: the proxy's answer to our ClientHello is malformed
    /// or its digest does not verify (not our proxy, or a probe).
    FakeTlsAnswer,
    /// Fake-TLS server: the stream is not one of our clients. Nothing was
    /// answered; [`super::Transport::take_rejected`] gives back the bytes
    /// received, untouched, so a driver can splice the connection to the
    /// real domain.
    NotFakeTls {
        /// Why.
        refusal: HelloRefusal,
    },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameTooLarge { len, max } => {
                write!(
                    f,
                    "frame of {len} bytes exceeds the maximum {max}: refused (raise max_frame only for a trusted peer)"
                )
            }
            Self::BadLength { len } => write!(
                f,
                "impossible frame length {len}: the stream is corrupted or not this transport; drop the connection"
            ),
            Self::BadCrc => f.write_str("full transport CRC32 mismatch: the stream is corrupted; drop the connection"),
            Self::BadSeq { expected, got } => {
                write!(
                    f,
                    "full transport seq {got}, expected {expected}: a frame was lost or repeated; drop the connection"
                )
            }
            Self::UnknownProtocol => f.write_str(
                "unknown transport protocol tag: the peer speaks another protocol (or needs the MTProxy secret)",
            ),
            Self::BadObfuscatedTag { tag } => {
                write!(f, "obfuscated2 header with unknown tag {tag:02x?}: wrong MTProxy secret, or no MTProto client")
            }
            Self::BadTlsRecord => {
                f.write_str("malformed or unexpected TLS record: the fake-TLS stream is corrupted; drop the connection")
            }
            Self::FakeTlsAnswer => f.write_str(
                "the fake-TLS answer does not verify: wrong secret, or the proxy is not the one the secret names",
            ),
            Self::NotFakeTls { refusal } => write!(f, "not a fake-TLS client of ours: {refusal}"),
        }
    }
}

impl std::error::Error for TransportError {}
