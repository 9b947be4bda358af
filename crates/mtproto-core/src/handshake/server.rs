//! The server side of the handshake.

use super::{HandshakeError, HandshakeResult, Step, be_u64, check_nonces, open_with_tmp_key, with_hash_padded};
use crate::message::{self, MsgIdClock, MsgKind, Role};
use crate::tl::schema::{
    ClientDhInnerData, DhGenOk, DhGenRetry, PqInnerData, ReqDhParams, ReqPq, ReqPqMulti, ResPq, ServerDhInnerData,
    ServerDhParamsOk, SetClientDhParams,
};
use crate::tl::{Deserialize, Reader, Serialize};
use core::time::Duration;
use mtproto_crypto::dh::{DH_BYTES, DhGroup, PrimeCache, TELEGRAM_DH_PRIME};
use mtproto_crypto::rsa::{RsaPrivateKey, legacy_decrypt, rsa_pad_decrypt};
use mtproto_crypto::{AuthKey, CryptoError, Entropy, ige, nonce, pq};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Server handshake settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The RSA private keys; resPQ lists all their fingerprints.
    pub keys: Arc<Vec<RsaPrivateKey>>,
    /// The DH group handed to clients.
    pub group: DhGroup,
    /// Deadline for the whole exchange.
    pub timeout: Duration,
}

impl ServerConfig {
    /// Telegram's prime with g = 3 and the given keys.
    ///
    /// # Errors
    /// Never for the built-in prime; typed for symmetry with custom groups.
    pub fn new(keys: Vec<RsaPrivateKey>) -> Result<Self, CryptoError> {
        let group = DhGroup::new(&TELEGRAM_DH_PRIME, 3, &mut PrimeCache::default())?;
        Ok(Self { keys: Arc::new(keys), group, timeout: super::DEFAULT_TIMEOUT })
    }
}

struct AwaitDh {
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    pq: u64,
    p: u64,
    q: u64,
}

struct AwaitClientDh {
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    new_nonce: Zeroizing<[u8; 32]>,
    a: Zeroizing<[u8; DH_BYTES]>,
    expires_in: Option<i32>,
    dc_id: Option<i32>,
    server_time: i64,
    /// aux_hash of the key refused with dh_gen_retry.
    retry_of: Option<i64>,
}

enum State {
    AwaitReqPq,
    AwaitReqDh(AwaitDh),
    AwaitSetClientDh(Box<AwaitClientDh>),
    Done,
}

/// The server state machine: feed it each plaintext packet a client sends.
pub struct ServerHandshake {
    config: ServerConfig,
    state: State,
    clock: MsgIdClock,
    deadline: Duration,
    entropy: Box<dyn Entropy + Send>,
}

impl core::fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerHandshake").field("deadline", &self.deadline).finish_non_exhaustive()
    }
}

/// A random prime in [2^30, 2^31).
fn random_prime_31(entropy: &mut dyn Entropy) -> u64 {
    loop {
        let mut b = [0u8; 4];
        entropy.fill(&mut b);
        let mut n = (u32::from_le_bytes(b) as u64 & 0x3fff_ffff) | 0x4000_0001;
        while n < 1 << 31 {
            if pq::is_prime_u64(n) {
                return n;
            }
            n += 2;
        }
    }
}

impl ServerHandshake {
    /// A handshake waiting for req_pq_multi.
    ///
    /// # Examples
    ///
    /// A whole handshake between the two step machines, in memory: the
    /// server's `Step::Done` carries its last packet, the client's its key.
    ///
    /// ```
    /// use core::time::Duration;
    /// use mtproto_core::handshake::{ClientConfig, ClientHandshake, ServerConfig, ServerHandshake, Step};
    /// use mtproto_crypto::{SeededEntropy, rsa::RsaPrivateKey};
    /// let now = Duration::from_secs(1_780_000_000);
    /// let rsa = RsaPrivateKey::generate(&mut SeededEntropy::new(1))?;
    /// let mut server = ServerHandshake::new(ServerConfig::new(vec![rsa.clone()])?, now, Box::new(SeededEntropy::new(2)));
    /// let client_config = ClientConfig::new(vec![rsa.public_key().clone()], 2);
    /// let (mut client, mut to_server) = ClientHandshake::start(client_config, now, Box::new(SeededEntropy::new(3)));
    /// let no_key_taken = |_id: i64| false;
    /// let server_key = loop {
    ///     match server.handle(&to_server, now, &no_key_taken)? {
    ///         Step::Send(answer) => match client.handle(&answer, now)? {
    ///             Step::Send(next) => to_server = next,
    ///             Step::Done(..) => unreachable!("the server speaks last"),
    ///         },
    ///         Step::Done(last, result) => {
    ///             let Step::Done(_, client_result) = client.handle(&last.expect("dh_gen_ok"), now)? else {
    ///                 unreachable!("dh_gen_ok ends the client's side too")
    ///             };
    ///             assert_eq!(client_result.auth_key, result.auth_key, "both derived one key");
    ///             break result.auth_key;
    ///         }
    ///     }
    /// };
    /// assert_ne!(server_key.id(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(config: ServerConfig, now: Duration, entropy: Box<dyn Entropy + Send>) -> Self {
        Self { deadline: now + config.timeout, config, state: State::AwaitReqPq, clock: MsgIdClock::default(), entropy }
    }

    /// When the caller must call [`ServerHandshake::handle_timeout`] at the latest.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Fails with [`HandshakeError::Timeout`] once the deadline has passed.
    ///
    /// # Errors
    /// [`HandshakeError::Timeout`].
    pub fn handle_timeout(&mut self, now: Duration) -> Result<(), HandshakeError> {
        if now >= self.deadline && !matches!(self.state, State::Done) {
            self.state = State::Done;
            return Err(HandshakeError::Timeout);
        }
        Ok(())
    }

    fn frame(&mut self, body: &[u8], now: Duration) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 20);
        message::pack_plain(self.clock.next(now, MsgKind::ServerResponse), body, &mut out);
        out
    }

    /// Handles one plaintext packet from the client. `key_taken` tells
    /// whether an auth_key_id is already in use (the server then answers
    /// dh_gen_retry and the client derives another key).
    ///
    /// # Errors
    /// Any [`HandshakeError`]; the caller should close the connection without answering.
    pub fn handle(
        &mut self,
        packet: &[u8],
        now: Duration,
        key_taken: &dyn Fn(i64) -> bool,
    ) -> Result<Step, HandshakeError> {
        self.handle_timeout(now)?;
        let m = message::unpack_plain(packet)?;
        if !message::parity_ok(m.msg_id, Role::Client) {
            return Err(message::MessageError::BadMsgIdParity { msg_id: m.msg_id }.into());
        }
        let constructor = Reader::new(m.body).peek_u32().unwrap_or(0);
        let state = core::mem::replace(&mut self.state, State::Done);
        match state {
            State::AwaitReqPq => {
                let nonce = match constructor {
                    ReqPqMulti::ID => ReqPqMulti::from_bytes(m.body)?.nonce,
                    ReqPq::ID => ReqPq::from_bytes(m.body)?.nonce,
                    _ => return Err(HandshakeError::UnexpectedMessage { constructor }),
                };
                let mut server_nonce = [0u8; 16];
                self.entropy.fill(&mut server_nonce);
                let (mut p, mut q) = (random_prime_31(&mut *self.entropy), random_prime_31(&mut *self.entropy));
                while p == q {
                    q = random_prime_31(&mut *self.entropy);
                }
                if p > q {
                    core::mem::swap(&mut p, &mut q);
                }
                let res = ResPq {
                    nonce,
                    server_nonce,
                    pq: (p * q).to_be_bytes().to_vec(),
                    server_public_key_fingerprints: self
                        .config
                        .keys
                        .iter()
                        .map(|k| k.public_key().fingerprint())
                        .collect(),
                };
                self.state = State::AwaitReqDh(AwaitDh { nonce, server_nonce, pq: p * q, p, q });
                Ok(Step::Send(self.frame(&res.to_bytes(), now)))
            }
            State::AwaitReqDh(st) => {
                if constructor != ReqDhParams::ID {
                    return Err(HandshakeError::UnexpectedMessage { constructor });
                }
                let req = ReqDhParams::from_bytes(m.body)?;
                check_nonces(&req.nonce, &req.server_nonce, &st.nonce, &st.server_nonce)?;
                if be_u64(&req.p) != Some(st.p) || be_u64(&req.q) != Some(st.q) {
                    return Err(HandshakeError::PqMismatch);
                }
                let keys = Arc::clone(&self.config.keys);
                let key = keys
                    .iter()
                    .find(|k| k.public_key().fingerprint() == req.public_key_fingerprint)
                    .ok_or(HandshakeError::UnknownFingerprint { fingerprint: req.public_key_fingerprint })?;
                let inner = self.decrypt_inner(key, &req.encrypted_data)?;
                let f = inner.fields();
                check_nonces(&f.nonce, &f.server_nonce, &st.nonce, &st.server_nonce)?;
                if be_u64(&f.pq) != Some(st.pq) || be_u64(&f.p) != Some(st.p) || be_u64(&f.q) != Some(st.q) {
                    return Err(HandshakeError::PqMismatch);
                }
                if let Some(expires_in) = inner.expires_in()
                    && !(1..=super::MAX_TEMP_KEY_LIFETIME).contains(&expires_in)
                {
                    return Err(HandshakeError::BadTempKeyLifetime { expires_in });
                }
                let new_nonce = Zeroizing::new(f.new_nonce);
                let group = &self.config.group;
                let (a, g_a) = loop {
                    let mut a = Zeroizing::new([0u8; DH_BYTES]);
                    self.entropy.fill(&mut a[..]);
                    let g_a = group.pow_g(&a);
                    if group.check_public(&g_a).is_ok() {
                        break (a, g_a);
                    }
                };
                let server_time = now.as_secs() as i64;
                let dh_inner = ServerDhInnerData {
                    nonce: st.nonce,
                    server_nonce: st.server_nonce,
                    g: group.g() as i32,
                    dh_prime: group.prime().to_vec(),
                    g_a: g_a.to_vec(),
                    server_time: server_time as i32,
                };
                let (tmp_key, tmp_iv) = nonce::tmp_aes_key_iv(&new_nonce, &st.server_nonce);
                let mut answer = with_hash_padded(&dh_inner.to_bytes(), &mut *self.entropy);
                ige::encrypt(&tmp_key, &tmp_iv, &mut answer)?;
                let ok = ServerDhParamsOk { nonce: st.nonce, server_nonce: st.server_nonce, encrypted_answer: answer };
                self.state = State::AwaitSetClientDh(Box::new(AwaitClientDh {
                    nonce: st.nonce,
                    server_nonce: st.server_nonce,
                    new_nonce,
                    a,
                    expires_in: inner.expires_in(),
                    dc_id: inner.dc(),
                    server_time,
                    retry_of: None,
                }));
                Ok(Step::Send(self.frame(&ok.to_bytes(), now)))
            }
            State::AwaitSetClientDh(mut st) => {
                if constructor != SetClientDhParams::ID {
                    return Err(HandshakeError::UnexpectedMessage { constructor });
                }
                let req = SetClientDhParams::from_bytes(m.body)?;
                check_nonces(&req.nonce, &req.server_nonce, &st.nonce, &st.server_nonce)?;
                let inner: ClientDhInnerData = open_with_tmp_key(&st.new_nonce, &st.server_nonce, &req.encrypted_data)?;
                check_nonces(&inner.nonce, &inner.server_nonce, &st.nonce, &st.server_nonce)?;
                if inner.retry_id != st.retry_of.unwrap_or(0) {
                    return Err(HandshakeError::BadRetryId);
                }
                let group = &self.config.group;
                group.check_public(&inner.g_b)?;
                let g_b = mtproto_crypto::dh::left_pad(mtproto_crypto::dh::trim(&inner.g_b));
                let key = AuthKey::from_bytes(group.pow(&g_b, &st.a));
                if key_taken(key.id()) {
                    let hash = nonce::new_nonce_hash(&st.new_nonce, 2, &key);
                    st.retry_of = Some(key.aux_hash());
                    let retry = DhGenRetry { nonce: st.nonce, server_nonce: st.server_nonce, new_nonce_hash2: hash };
                    self.state = State::AwaitSetClientDh(st);
                    return Ok(Step::Send(self.frame(&retry.to_bytes(), now)));
                }
                let ok = DhGenOk {
                    nonce: st.nonce,
                    server_nonce: st.server_nonce,
                    new_nonce_hash1: nonce::new_nonce_hash(&st.new_nonce, 1, &key),
                };
                let result = HandshakeResult {
                    first_salt: nonce::first_salt(&st.new_nonce, &st.server_nonce),
                    auth_key: key,
                    time_offset: 0,
                    expires_at: st.expires_in.map(|e| st.server_time + e as i64),
                    dc_id: st.dc_id,
                };
                let packet = self.frame(&ok.to_bytes(), now);
                Ok(Step::Done(Some(packet), Box::new(result)))
            }
            State::Done => Err(HandshakeError::Finished),
        }
    }

    /// RSA_PAD first; the legacy scheme (Telethon, Pyrogram) when RSA_PAD's
    /// hash does not verify.
    fn decrypt_inner(&mut self, key: &RsaPrivateKey, encrypted: &[u8]) -> Result<PqInnerData, HandshakeError> {
        let rsa_pad = rsa_pad_decrypt(key, encrypted, &mut self.entropy);
        match rsa_pad {
            Ok(data) => {
                let mut r = Reader::new(&data[..]);
                Ok(PqInnerData::deserialize(&mut r)?)
            }
            Err(CryptoError::RsaHashMismatch) => {
                let block = legacy_decrypt(key, encrypted, &mut self.entropy)?;
                let mut r = Reader::new(block.data());
                let inner = PqInnerData::deserialize(&mut r)?;
                block.verify(r.position())?;
                Ok(inner)
            }
            Err(e) => Err(e.into()),
        }
    }
}
