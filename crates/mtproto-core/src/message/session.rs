//! Encrypted messages: the framing inside the MTProto 2.0 envelope.
//!
//! Plaintext layout: `salt (8) ‖ session_id (8) ‖ msg_id (8) ‖ seq_no (4) ‖
//! length (4) ‖ body ‖ padding (12..=1024, total a multiple of 16)`.

use super::clock::parity_ok;
use super::{MessageError, MsgIdClock, MsgKind, Role, SeqNo};
use core::time::Duration;
use mtproto_crypto::envelope::{self, HEADER_LEN};
use mtproto_crypto::{AuthKey, Direction, Entropy, OsEntropy};

/// Bytes of the inner header (salt, session_id, msg_id, seq_no, length).
pub const INNER_HEADER_LEN: usize = 32;

/// The padding for a body of `body_len` bytes: the smallest in 12..=27 that
/// makes the plaintext a multiple of 16.
pub fn padding_len(body_len: usize) -> usize {
    let unpadded = INNER_HEADER_LEN + body_len + 12;
    12 + (16 - unpadded % 16) % 16
}

/// A decrypted message: a view into the caller's buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct DecryptedMessage<'a> {
    /// The server salt the sender used.
    pub salt: i64,
    /// The session id.
    pub session_id: i64,
    /// The msg_id.
    pub msg_id: i64,
    /// The seq_no.
    pub seq_no: i32,
    /// The body, borrowed from the decrypted buffer.
    pub body: &'a [u8],
}

/// One MTProto session under one auth key: salt, session_id, msg_id clock and
/// seq_no, for either role. It frames, encrypts and checks messages; policy
/// (acks, resends, salts) lives above it.
pub struct EncryptedSession {
    key: AuthKey,
    role: Role,
    salt: i64,
    session_id: i64,
    clock: MsgIdClock,
    seq: SeqNo,
    entropy: Box<dyn Entropy + Send>,
}

impl core::fmt::Debug for EncryptedSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EncryptedSession")
            .field("key", &self.key)
            .field("role", &self.role)
            .field("session_id", &format_args!("{:#x}", self.session_id))
            .finish_non_exhaustive()
    }
}

/// # Examples
///
/// A client session packs a message; the server side of the same key
/// unpacks it:
///
/// ```
/// use core::time::Duration;
/// use mtproto_core::message::{EncryptedSession, Role};
/// use mtproto_crypto::{AuthKey, SeededEntropy};
/// let key = AuthKey::from_bytes([4; 256]);
/// let now = Duration::from_secs(1_780_000_000);
/// let mut client = EncryptedSession::with_entropy(key.clone(), Role::Client, 99, 7, 0, Box::new(SeededEntropy::new(1)));
/// let server = EncryptedSession::with_entropy(key, Role::Server, 99, 7, 0, Box::new(SeededEntropy::new(2)));
/// let mut packet = Vec::new();
/// let msg_id = client.pack(b"\x01\x00\x00\x00body", true, now, &mut packet);
/// let m = server.unpack(&mut packet)?;
/// assert_eq!((m.msg_id, m.seq_no, m.session_id, m.salt), (msg_id, 1, 7, 99));
/// assert_eq!(m.body, b"\x01\x00\x00\x00body");
/// # Ok::<(), mtproto_core::message::MessageError>(())
/// ```
impl EncryptedSession {
    /// A client session: random session_id, OS-seeded entropy.
    ///
    /// # Errors
    /// [`mtproto_crypto::CryptoError::EntropyUnavailable`] when the OS has no randomness.
    pub fn new(auth_key: AuthKey, first_salt: i64, time_offset: i64) -> Result<Self, mtproto_crypto::CryptoError> {
        let mut e = OsEntropy::new()?;
        let session_id = e.next_u64() as i64;
        Ok(Self::with_entropy(auth_key, Role::Client, first_salt, session_id, time_offset, Box::new(e)))
    }

    /// A session with every part given: role, salt, session_id, time offset and entropy.
    pub fn with_entropy(
        key: AuthKey,
        role: Role,
        salt: i64,
        session_id: i64,
        time_offset: i64,
        entropy: Box<dyn Entropy + Send>,
    ) -> Self {
        Self {
            key,
            role,
            salt,
            session_id,
            clock: MsgIdClock::with_offset(time_offset),
            seq: SeqNo::default(),
            entropy,
        }
    }

    /// The auth key.
    pub fn auth_key(&self) -> &AuthKey {
        &self.key
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current salt.
    pub fn salt(&self) -> i64 {
        self.salt
    }

    /// Sets the salt (after bad_server_salt or a future salt becoming valid).
    pub fn set_salt(&mut self, salt: i64) {
        self.salt = salt;
    }

    /// The session id.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// Starts a new session: a new id and seq_no from zero (the msg_id clock
    /// keeps running, so msg_ids stay increasing).
    pub fn reset(&mut self, session_id: i64) {
        self.session_id = session_id;
        self.seq = SeqNo::default();
    }

    /// Content-related messages sent in this session so far (what
    /// [`EncryptedSession::switch_to`] takes back).
    pub fn seq_count(&self) -> i32 {
        self.seq.count()
    }

    /// Continues an earlier session: its id, and its seq_no counter where it
    /// stood (`seq_count` content-related messages sent).
    pub fn switch_to(&mut self, session_id: i64, seq_count: i32) {
        self.session_id = session_id;
        self.seq = SeqNo::resume(seq_count);
    }

    /// Starts a new session whose msg_ids may be lower than the old session's
    /// (after the clock was found to run ahead of the server's).
    pub fn reset_with_clock(&mut self, session_id: i64) {
        self.reset(session_id);
        self.clock.restart();
    }

    /// A fresh random session id from this session's entropy.
    pub fn random_session_id(&mut self) -> i64 {
        self.entropy.next_u64() as i64
    }

    /// The msg_id clock.
    pub fn clock(&self) -> &MsgIdClock {
        &self.clock
    }

    /// The msg_id clock, mutable (to learn the time offset).
    pub fn clock_mut(&mut self) -> &mut MsgIdClock {
        &mut self.clock
    }

    /// Random bytes from the session's entropy.
    pub fn fill_random(&mut self, buf: &mut [u8]) {
        self.entropy.fill(buf);
    }

    fn my_direction(&self) -> Direction {
        match self.role {
            Role::Client => Direction::ClientToServer,
            Role::Server => Direction::ServerToClient,
        }
    }

    /// The next msg_id for an outgoing message. A server passes whether it
    /// answers a client message.
    pub fn next_msg_id(&mut self, now: Duration, response: bool) -> i64 {
        let kind = match (self.role, response) {
            (Role::Client, _) => MsgKind::Client,
            (Role::Server, true) => MsgKind::ServerResponse,
            (Role::Server, false) => MsgKind::ServerOther,
        };
        self.clock.next(now, kind)
    }

    /// The next seq_no.
    pub fn next_seq_no(&mut self, content_related: bool) -> i32 {
        self.seq.next(content_related)
    }

    /// Frames and encrypts `body` with a fresh msg_id and seq_no, appending
    /// `auth_key_id ‖ msg_key ‖ ciphertext` to `out`. Returns the msg_id.
    pub fn pack(&mut self, body: &[u8], content_related: bool, now: Duration, out: &mut Vec<u8>) -> i64 {
        let msg_id = self.next_msg_id(now, false);
        let seq_no = self.next_seq_no(content_related);
        self.pack_with(msg_id, seq_no, body, out);
        msg_id
    }

    /// Frames and encrypts `body` under a given msg_id and seq_no (containers,
    /// resends). Writes straight into `out`: no intermediate copy, and no
    /// allocation when `out` has the capacity.
    pub fn pack_with(&mut self, msg_id: i64, seq_no: i32, body: &[u8], out: &mut Vec<u8>) {
        self.pack_inner(msg_id, seq_no, body, out, false);
    }

    /// As [`EncryptedSession::pack_with`], and returns the quick-ack token the
    /// server will send back for this message.
    pub fn pack_with_quick_ack(&mut self, msg_id: i64, seq_no: i32, body: &[u8], out: &mut Vec<u8>) -> u32 {
        self.pack_inner(msg_id, seq_no, body, out, true)
    }

    fn pack_inner(&mut self, msg_id: i64, seq_no: i32, body: &[u8], out: &mut Vec<u8>, token: bool) -> u32 {
        let start = self.frame_with(msg_id, seq_no, body, out);
        let token = if token { self.quick_ack_token(&out[start..]) } else { 0 };
        self.seal(&mut out[start..]);
        token
    }

    /// Lays out a message (room for auth_key_id and msg_key, the inner header,
    /// `body`, random padding) at the end of `out` without encrypting it, and
    /// returns where it starts. Seal it with [`EncryptedSession::seal`] or,
    /// with others, [`EncryptedSession::seal_many`].
    pub fn frame_with(&mut self, msg_id: i64, seq_no: i32, body: &[u8], out: &mut Vec<u8>) -> usize {
        let start = out.len();
        let pad = padding_len(body.len());
        out.resize(start + HEADER_LEN, 0);
        out.extend_from_slice(&self.salt.to_le_bytes());
        out.extend_from_slice(&self.session_id.to_le_bytes());
        out.extend_from_slice(&msg_id.to_le_bytes());
        out.extend_from_slice(&seq_no.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        let pad_start = out.len();
        out.resize(pad_start + pad, 0);
        self.entropy.fill(&mut out[pad_start..]);
        start
    }

    /// The quick-ack token the peer will return for a framed, not yet sealed message.
    pub fn quick_ack_token(&self, framed: &[u8]) -> u32 {
        envelope::quick_ack_token(&self.key, self.my_direction(), framed.get(HEADER_LEN..).unwrap_or(&[]))
    }

    /// Encrypts one message laid out by [`EncryptedSession::frame_with`].
    pub fn seal(&self, framed: &mut [u8]) {
        // The layout is block aligned by construction, so this cannot fail.
        let sealed = envelope::encrypt_in_place(&self.key, self.my_direction(), framed);
        debug_assert!(sealed.is_ok());
    }

    /// Encrypts several framed messages at once, their AES chains interleaved.
    pub fn seal_many(&self, framed: &mut [&mut [u8]]) {
        let dir = self.my_direction();
        let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> =
            framed.iter_mut().map(|f| (&self.key, dir, &mut **f)).collect();
        let sealed = envelope::encrypt_many(&mut jobs);
        debug_assert!(sealed.is_ok());
    }

    /// Decrypts a message in place and checks it: auth_key_id, msg_key (in
    /// constant time), session_id (a server accepts any on the first message
    /// of a session by calling [`EncryptedSession::reset`] first), msg_id
    /// parity for the sender's role, the length field and the padding bounds.
    ///
    /// # Errors
    /// [`MessageError::Crypto`], [`MessageError::WrongSession`],
    /// [`MessageError::BadMsgIdParity`], [`MessageError::BadLength`],
    /// [`MessageError::BadPadding`].
    pub fn unpack<'a>(&self, buf: &'a mut [u8]) -> Result<DecryptedMessage<'a>, MessageError> {
        let plain = envelope::decrypt_in_place(&self.key, self.receive_direction(), buf)?;
        self.check_decrypted(plain)
    }

    /// The direction of the messages this side sends.
    pub fn send_direction(&self) -> Direction {
        self.my_direction()
    }

    /// The direction of the messages this side receives.
    pub fn receive_direction(&self) -> Direction {
        self.my_direction().reverse()
    }

    /// [`EncryptedSession::unpack`]'s checks on a plaintext that was already
    /// authenticated (decrypted with its msg_key verified, for example by
    /// [`envelope::decrypt_many`] together with other packets).
    ///
    /// # Errors
    /// As [`EncryptedSession::unpack`], except [`MessageError::Crypto`].
    pub fn check_decrypted<'a>(&self, plain: &'a [u8]) -> Result<DecryptedMessage<'a>, MessageError> {
        let m = parse_decrypted(plain)?;
        if m.session_id != self.session_id {
            return Err(MessageError::WrongSession { got: m.session_id });
        }
        let sender = self.role.peer();
        if !parity_ok(m.msg_id, sender) {
            return Err(MessageError::BadMsgIdParity { msg_id: m.msg_id });
        }
        Ok(m)
    }
}

/// Parses an authenticated plaintext: the header, the length field and the
/// padding bounds.
///
/// # Errors
/// [`MessageError::BadLength`], [`MessageError::BadPadding`].
pub fn parse_decrypted(plain: &[u8]) -> Result<DecryptedMessage<'_>, MessageError> {
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&plain[at..at + 8]);
        i64::from_le_bytes(b)
    };
    if plain.len() < INNER_HEADER_LEN {
        return Err(MessageError::BadLength { declared: -1, actual: plain.len() });
    }
    let salt = word(0);
    let session_id = word(8);
    let msg_id = word(16);
    let seq_no = i32::from_le_bytes([plain[24], plain[25], plain[26], plain[27]]);
    let len = u32::from_le_bytes([plain[28], plain[29], plain[30], plain[31]]) as usize;
    let room = plain.len() - INNER_HEADER_LEN;
    if !len.is_multiple_of(4) || len > room {
        return Err(MessageError::BadLength { declared: len as i64, actual: room });
    }
    let padding = room - len;
    if !(12..=1024).contains(&padding) {
        return Err(MessageError::BadPadding { padding });
    }
    Ok(DecryptedMessage { salt, session_id, msg_id, seq_no, body: &plain[INNER_HEADER_LEN..INNER_HEADER_LEN + len] })
}
