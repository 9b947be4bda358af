//! Messages: the msg_id clock, seq_no, plaintext and encrypted framing,
//! containers and gzip.

mod clock;
pub mod container;
mod error;
pub mod gzip;
mod plain;
mod session;

pub use clock::{MsgIdClock, MsgKind, Role, SeqNo, parity_ok};
pub use error::MessageError;
pub use plain::{PlainMessage, Session, pack_plain, unpack_plain};
pub use session::{DecryptedMessage, EncryptedSession, INNER_HEADER_LEN, padding_len, parse_decrypted};
