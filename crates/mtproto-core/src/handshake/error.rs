use crate::message::MessageError;
use crate::tl::TlError;
use core::fmt;
use mtproto_crypto::CryptoError;

/// Every way a handshake can fail, naming the check that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The plaintext framing is malformed.
    Message(MessageError),
    /// A TL object is malformed.
    Tl(TlError),
    /// A cryptographic check failed (bad prime, g or g_a out of range, RSA, ...).
    Crypto(CryptoError),
    /// A message that is not the one expected in this state.
    UnexpectedMessage {
        /// Its constructor id (0 if unreadable).
        constructor: u32,
    },
    /// The peer did not echo our nonce (or, in a PFS binding, a field names
    /// another key, session, message or nonce).
    NonceMismatch,
    /// PFS: the binding's `expires_at` differs from the call's or lies past
    /// the temporary key's own expiry.
    BindingExpiry,
    /// Server: p_q_inner_data_temp asks for a lifetime that is not positive
    /// or longer than [`super::MAX_TEMP_KEY_LIFETIME`].
    BadTempKeyLifetime {
        /// The `expires_in` asked for, in seconds.
        expires_in: i32,
    },
    /// The peer did not echo the server nonce.
    ServerNonceMismatch,
    /// The server lists no fingerprint of a key we hold.
    NoKnownFingerprint,
    /// The client used a fingerprint of no key we hold.
    UnknownFingerprint {
        /// The fingerprint sent.
        fingerprint: i64,
    },
    /// pq is not 8 bytes or has no factorization.
    BadPq,
    /// p, q or pq in the client's message differ from what the server sent.
    PqMismatch,
    /// The SHA-1 in front of an encrypted answer does not match.
    AnswerHashMismatch,
    /// More than 15 bytes of padding after an encrypted answer.
    BadAnswerPadding,
    /// new_nonce_hash1/2/3 does not match.
    NewNonceHashMismatch,
    /// The server answered dh_gen_fail.
    DhGenFail,
    /// The server asked for dh_gen_retry too often.
    TooManyRetries,
    /// The client's retry_id is not the aux_hash of its previous key.
    BadRetryId,
    /// The exchange did not finish before its deadline.
    Timeout,
    /// Input after the handshake finished.
    Finished,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message(e) => write!(f, "handshake message: {e}"),
            Self::Tl(e) => write!(f, "handshake TL: {e}"),
            Self::Crypto(e) => write!(f, "handshake crypto: {e}"),
            Self::UnexpectedMessage { constructor } => {
                write!(
                    f,
                    "unexpected handshake message {constructor:#010x}: the peer is at another step; start a new handshake"
                )
            }
            Self::NonceMismatch => {
                f.write_str("nonce not echoed: an answer to another handshake (or forged); start a new one")
            }
            Self::BindingExpiry => {
                f.write_str("PFS binding: expires_at differs from the call's or outlives the temporary key")
            }
            Self::BadTempKeyLifetime { expires_in } => {
                write!(f, "temporary key lifetime of {expires_in} s is not positive or too long")
            }
            Self::ServerNonceMismatch => {
                f.write_str("server_nonce not echoed: an answer to another handshake (or forged); start a new one")
            }
            Self::NoKnownFingerprint => f.write_str(
                "the server offers no RSA key we know: add its public key to ClientConfig (or check the DC address)",
            ),
            Self::UnknownFingerprint { fingerprint } => {
                write!(
                    f,
                    "unknown RSA fingerprint {:#018x}: the client used a key this server does not hold",
                    *fingerprint as u64
                )
            }
            Self::BadPq => {
                f.write_str("pq cannot be factorized into two primes: a broken or hostile server; try another")
            }
            Self::PqMismatch => f.write_str("p, q or pq differ from what the server sent"),
            Self::AnswerHashMismatch => {
                f.write_str("SHA-1 of the encrypted answer does not match: corrupted or forged; start a new handshake")
            }
            Self::BadAnswerPadding => f.write_str("encrypted answer has more than 15 bytes of padding"),
            Self::NewNonceHashMismatch => {
                f.write_str("new_nonce_hash does not match: the keys disagree; start a new handshake")
            }
            Self::DhGenFail => f.write_str("the server answered dh_gen_fail: start a new handshake"),
            Self::TooManyRetries => f.write_str("too many dh_gen_retry answers: start a new handshake later"),
            Self::BadRetryId => f.write_str("retry_id is not the previous key's aux_hash"),
            Self::Timeout => f.write_str("handshake deadline passed: connect again (a slow network or server)"),
            Self::Finished => f.write_str("handshake already finished: use the key it produced"),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<MessageError> for HandshakeError {
    fn from(e: MessageError) -> Self {
        Self::Message(e)
    }
}

impl From<TlError> for HandshakeError {
    fn from(e: TlError) -> Self {
        Self::Tl(e)
    }
}

impl From<CryptoError> for HandshakeError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}
