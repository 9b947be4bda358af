//! The client side: step functions and the state machine over them.

use super::{HandshakeError, HandshakeResult, Step, be_min, be_u64, check_nonces, open_with_tmp_key, with_hash_padded};
use crate::message::{self, MsgIdClock, MsgKind, Role};
use crate::tl::schema::{
    ClientDhInnerData, DhGenFail, DhGenOk, DhGenRetry, PqInnerData, PqInnerFields, ReqDhParams, ReqPqMulti, ResPq,
    ServerDhInnerData, ServerDhParamsFail, ServerDhParamsOk, SetClientDhParams,
};
use crate::tl::{Deserialize, Reader, Serialize};
use core::time::Duration;
use mtproto_crypto::dh::{DH_BYTES, DhGroup, PrimeCache};
use mtproto_crypto::rsa::{RsaPublicKey, rsa_pad_encrypt};
use mtproto_crypto::{AuthKey, Entropy, ige, nonce, pq};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How many dh_gen_retry answers a client accepts before giving up.
pub const MAX_RETRIES: u32 = 5;

/// Client handshake settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server RSA keys we trust (Telegram's built-in keys, or a test server's).
    pub keys: Vec<RsaPublicKey>,
    /// The DC id to put into p_q_inner_data_dc; `None` sends the legacy form without it.
    pub dc_id: Option<i32>,
    /// `Some(seconds)` to create a temporary key (for PFS) that expires after that long.
    pub temp_key_expires_in: Option<i32>,
    /// Deadline for the whole exchange.
    pub timeout: Duration,
}

impl ClientConfig {
    /// A permanent-key configuration for `keys` and `dc_id`.
    pub fn new(keys: Vec<RsaPublicKey>, dc_id: i32) -> Self {
        Self { keys, dc_id: Some(dc_id), temp_key_expires_in: None, timeout: super::DEFAULT_TIMEOUT }
    }
}

/// State after [`step1`]: our nonce.
#[derive(Debug, Clone)]
pub struct Step1 {
    nonce: [u8; 16],
}

/// State after [`step2`]: nonces and the secret new_nonce (wiped on drop,
/// left out of `Debug`).
#[derive(Clone)]
pub struct Step2 {
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    new_nonce: Zeroizing<[u8; 32]>,
    expires_in: Option<i32>,
    dc_id: Option<i32>,
}

impl core::fmt::Debug for Step2 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Step2")
            .field("nonce", &self.nonce)
            .field("server_nonce", &self.server_nonce)
            .field("expires_in", &self.expires_in)
            .field("dc_id", &self.dc_id)
            .finish_non_exhaustive()
    }
}

impl Step2 {
    /// Rebuilds the state from its parts (for known-answer tests and for
    /// callers that persist a handshake in progress).
    pub fn from_parts(nonce: [u8; 16], server_nonce: [u8; 16], new_nonce: [u8; 32], expires_in: Option<i32>) -> Self {
        Self { nonce, server_nonce, new_nonce: Zeroizing::new(new_nonce), expires_in, dc_id: None }
    }
}

/// State after [`step3`]: the key we computed, awaiting dh_gen_*.
#[derive(Clone)]
pub struct Step3 {
    step2: Step2,
    group: DhGroup,
    g_a: Zeroizing<[u8; DH_BYTES]>,
    auth_key: AuthKey,
    time_offset: i64,
    server_time: i64,
    retries: u32,
}

impl core::fmt::Debug for Step3 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Step3")
            .field("auth_key", &self.auth_key)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// The outcome of [`finish`].
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one value per handshake; boxing buys nothing
pub enum FinishResult {
    /// dh_gen_ok: the key is ready.
    Done(HandshakeResult),
    /// dh_gen_retry: send this and wait for the next answer.
    Retry(SetClientDhParams, Step3),
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Step 1: `req_pq_multi` with a fresh nonce.
pub fn step1(entropy: &mut dyn Entropy) -> (ReqPqMulti, Step1) {
    let mut nonce = [0u8; 16];
    entropy.fill(&mut nonce);
    (ReqPqMulti { nonce }, Step1 { nonce })
}

/// Step 2: check resPQ, factorize pq, and build `req_DH_params` with the
/// inner data encrypted by RSA_PAD under the first server key we trust.
///
/// # Errors
/// [`HandshakeError::NonceMismatch`], [`HandshakeError::NoKnownFingerprint`],
/// [`HandshakeError::BadPq`], [`HandshakeError::Crypto`].
pub fn step2(
    state: Step1,
    res: &ResPq,
    config: &ClientConfig,
    entropy: &mut dyn Entropy,
) -> Result<(ReqDhParams, Step2), HandshakeError> {
    if !ct_eq(&res.nonce, &state.nonce) {
        return Err(HandshakeError::NonceMismatch);
    }
    let key = res
        .server_public_key_fingerprints
        .iter()
        .find_map(|fp| config.keys.iter().find(|k| k.fingerprint() == *fp))
        .ok_or(HandshakeError::NoKnownFingerprint)?;
    let pq_value = be_u64(&res.pq).ok_or(HandshakeError::BadPq)?;
    let (p, q) = pq::factorize(pq_value).map_err(|_| HandshakeError::BadPq)?;
    let mut new_nonce = Zeroizing::new([0u8; 32]);
    entropy.fill(&mut new_nonce[..]);
    let fields = PqInnerFields {
        pq: res.pq.clone(),
        p: be_min(p),
        q: be_min(q),
        nonce: state.nonce,
        server_nonce: res.server_nonce,
        new_nonce: *new_nonce,
    };
    let inner = match (config.dc_id, config.temp_key_expires_in) {
        (Some(dc), None) => PqInnerData::Dc(fields, dc),
        (Some(dc), Some(e)) => PqInnerData::TempDc(fields, dc, e),
        (None, None) => PqInnerData::Plain(fields),
        (None, Some(e)) => PqInnerData::Temp(fields, e),
    };
    let data = Zeroizing::new(inner.to_bytes());
    let encrypted = rsa_pad_encrypt(key, &data, &mut &mut *entropy)?;
    let req = ReqDhParams {
        nonce: state.nonce,
        server_nonce: res.server_nonce,
        p: be_min(p),
        q: be_min(q),
        public_key_fingerprint: key.fingerprint(),
        encrypted_data: encrypted.to_vec(),
    };
    Ok((
        req,
        Step2 {
            nonce: state.nonce,
            server_nonce: res.server_nonce,
            new_nonce,
            expires_in: config.temp_key_expires_in,
            dc_id: config.dc_id,
        },
    ))
}

/// Draws b, computes g_b and the key, and builds `set_client_DH_params`.
fn client_dh(
    step: &Step3,
    retry_id: i64,
    entropy: &mut dyn Entropy,
) -> Result<(SetClientDhParams, AuthKey), HandshakeError> {
    let s2 = &step.step2;
    let (b, g_b) = loop {
        let mut b = Zeroizing::new([0u8; DH_BYTES]);
        entropy.fill(&mut b[..]);
        let g_b = step.group.pow_g(&b);
        if step.group.check_public(&g_b).is_ok() {
            break (b, g_b);
        }
    };
    let key = AuthKey::from_bytes(step.group.pow(&step.g_a, &b));
    let inner = ClientDhInnerData { nonce: s2.nonce, server_nonce: s2.server_nonce, retry_id, g_b: g_b.to_vec() };
    let (tmp_key, tmp_iv) = nonce::tmp_aes_key_iv(&s2.new_nonce, &s2.server_nonce);
    let mut data = with_hash_padded(&inner.to_bytes(), entropy);
    ige::encrypt(&tmp_key, &tmp_iv, &mut data)?;
    Ok((SetClientDhParams { nonce: s2.nonce, server_nonce: s2.server_nonce, encrypted_data: data }, key))
}

/// Step 3: check server_DH_params_ok (nonces, the answer's SHA-1, every DH
/// check of Telegram's security guidelines) and build `set_client_DH_params`.
///
/// # Errors
/// [`HandshakeError::NonceMismatch`], [`HandshakeError::ServerNonceMismatch`],
/// [`HandshakeError::AnswerHashMismatch`], [`HandshakeError::BadAnswerPadding`],
/// [`HandshakeError::Crypto`] (bad prime, g, g_a).
pub fn step3(
    state: Step2,
    answer: &ServerDhParamsOk,
    now: Duration,
    cache: &mut PrimeCache,
    entropy: &mut dyn Entropy,
) -> Result<(SetClientDhParams, Step3), HandshakeError> {
    check_nonces(&answer.nonce, &answer.server_nonce, &state.nonce, &state.server_nonce)?;
    let inner: ServerDhInnerData = open_with_tmp_key(&state.new_nonce, &state.server_nonce, &answer.encrypted_answer)?;
    check_nonces(&inner.nonce, &inner.server_nonce, &state.nonce, &state.server_nonce)?;
    let g = u32::try_from(inner.g).map_err(|_| mtproto_crypto::CryptoError::DhGeneratorOutOfRange { g: 0 })?;
    let group = DhGroup::new(&inner.dh_prime, g, cache)?;
    group.check_public(&inner.g_a)?;
    let g_a = Zeroizing::new(mtproto_crypto::dh::left_pad(mtproto_crypto::dh::trim(&inner.g_a)));
    let time_offset = inner.server_time as i64 - now.as_secs() as i64;
    let mut step = Step3 {
        step2: state,
        group,
        g_a,
        auth_key: AuthKey::from_bytes([0; DH_BYTES]),
        time_offset,
        server_time: inner.server_time as i64,
        retries: 0,
    };
    let (req, key) = client_dh(&step, 0, entropy)?;
    step.auth_key = key;
    Ok((req, step))
}

/// The server's answer to set_client_DH_params.
#[derive(Debug, Clone)]
pub enum DhGenAnswer {
    /// dh_gen_ok.
    Ok(DhGenOk),
    /// dh_gen_retry.
    Retry(DhGenRetry),
    /// dh_gen_fail.
    Fail(DhGenFail),
}

impl<'a> Deserialize<'a> for DhGenAnswer {
    fn deserialize(r: &mut Reader<'a>) -> Result<Self, crate::tl::TlError> {
        match r.peek_u32()? {
            DhGenOk::ID => Ok(Self::Ok(DhGenOk::deserialize(r)?)),
            DhGenRetry::ID => Ok(Self::Retry(DhGenRetry::deserialize(r)?)),
            DhGenFail::ID => Ok(Self::Fail(DhGenFail::deserialize(r)?)),
            found => Err(crate::tl::TlError::UnexpectedConstructor { found }),
        }
    }
}

/// Step 4: check dh_gen_ok / dh_gen_retry / dh_gen_fail and its new_nonce_hash.
///
/// # Errors
/// [`HandshakeError::NonceMismatch`], [`HandshakeError::ServerNonceMismatch`],
/// [`HandshakeError::NewNonceHashMismatch`], [`HandshakeError::DhGenFail`],
/// [`HandshakeError::TooManyRetries`].
pub fn finish(
    mut state: Step3,
    answer: &DhGenAnswer,
    entropy: &mut dyn Entropy,
) -> Result<FinishResult, HandshakeError> {
    let s2 = &state.step2;
    let (nonce, server_nonce, hash, number) = match answer {
        DhGenAnswer::Ok(a) => (a.nonce, a.server_nonce, a.new_nonce_hash1, 1),
        DhGenAnswer::Retry(a) => (a.nonce, a.server_nonce, a.new_nonce_hash2, 2),
        DhGenAnswer::Fail(a) => (a.nonce, a.server_nonce, a.new_nonce_hash3, 3),
    };
    check_nonces(&nonce, &server_nonce, &s2.nonce, &s2.server_nonce)?;
    if !ct_eq(&nonce::new_nonce_hash(&s2.new_nonce, number, &state.auth_key), &hash) {
        return Err(HandshakeError::NewNonceHashMismatch);
    }
    match answer {
        DhGenAnswer::Ok(_) => Ok(FinishResult::Done(HandshakeResult {
            first_salt: nonce::first_salt(&s2.new_nonce, &s2.server_nonce),
            auth_key: state.auth_key.clone(),
            time_offset: state.time_offset,
            expires_at: s2.expires_in.map(|e| state.server_time + e as i64),
            dc_id: s2.dc_id,
        })),
        DhGenAnswer::Fail(_) => Err(HandshakeError::DhGenFail),
        DhGenAnswer::Retry(_) => {
            if state.retries >= MAX_RETRIES {
                return Err(HandshakeError::TooManyRetries);
            }
            state.retries += 1;
            let retry_id = state.auth_key.aux_hash();
            let (req, key) = client_dh(&state, retry_id, entropy)?;
            state.auth_key = key;
            Ok(FinishResult::Retry(req, state))
        }
    }
}

enum State {
    AwaitResPq(Step1),
    AwaitDhParams(Step2),
    AwaitDhGen(Box<Step3>),
    Done,
}

/// The client state machine: feed it each plaintext packet the server sends
/// and the current time; it answers with the next packet to send.
pub struct ClientHandshake {
    config: ClientConfig,
    state: State,
    clock: MsgIdClock,
    deadline: Duration,
    cache: PrimeCache,
    entropy: Box<dyn Entropy + Send>,
}

impl core::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientHandshake").field("deadline", &self.deadline).finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Starts a handshake; returns the machine and the first packet (req_pq_multi).
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use mtproto_core::handshake::{ClientConfig, ClientHandshake};
    /// use mtproto_core::tl::{Deserialize, schema::ReqPqMulti};
    /// use mtproto_crypto::{SeededEntropy, rsa::builtin};
    /// let now = Duration::from_secs(1_780_000_000);
    /// let (_handshake, packet) = ClientHandshake::start(ClientConfig::new(builtin::test(), 2), now, Box::new(SeededEntropy::new(9)));
    /// let plain = mtproto_core::message::unpack_plain(&packet)?;
    /// assert_eq!(packet[..8], [0; 8], "auth_key_id 0: unencrypted");
    /// assert!(ReqPqMulti::from_bytes(plain.body).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(config: ClientConfig, now: Duration, mut entropy: Box<dyn Entropy + Send>) -> (Self, Vec<u8>) {
        let (req, s1) = step1(&mut *entropy);
        let mut me = Self {
            deadline: now + config.timeout,
            config,
            state: State::AwaitResPq(s1),
            clock: MsgIdClock::default(),
            cache: PrimeCache::default(),
            entropy,
        };
        let packet = me.frame(&req.to_bytes(), now);
        (me, packet)
    }

    /// Uses `cache` for primes already proven safe (share it across handshakes).
    pub fn with_prime_cache(mut self, cache: PrimeCache) -> Self {
        self.cache = cache;
        self
    }

    fn frame(&mut self, body: &[u8], now: Duration) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 20);
        message::pack_plain(self.clock.next(now, MsgKind::Client), body, &mut out);
        out
    }

    /// When the caller must call [`ClientHandshake::handle_timeout`] at the latest.
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

    /// Handles one plaintext packet from the server.
    ///
    /// # Errors
    /// Any [`HandshakeError`]; the handshake is then over.
    pub fn handle(&mut self, packet: &[u8], now: Duration) -> Result<Step, HandshakeError> {
        self.handle_timeout(now)?;
        let m = message::unpack_plain(packet)?;
        if !message::parity_ok(m.msg_id, Role::Server) {
            return Err(message::MessageError::BadMsgIdParity { msg_id: m.msg_id }.into());
        }
        let state = core::mem::replace(&mut self.state, State::Done);
        let constructor = Reader::new(m.body).peek_u32().unwrap_or(0);
        let (body, next) = match state {
            State::AwaitResPq(s1) => {
                let res = ResPq::from_bytes(m.body).map_err(|e| unexpected(e, constructor, ResPq::ID))?;
                let (req, s2) = step2(s1, &res, &self.config, &mut *self.entropy)?;
                (req.to_bytes(), State::AwaitDhParams(s2))
            }
            State::AwaitDhParams(s2) => {
                if constructor == ServerDhParamsFail::ID {
                    return Err(HandshakeError::DhGenFail);
                }
                let ok = ServerDhParamsOk::from_bytes(m.body)
                    .map_err(|e| unexpected(e, constructor, ServerDhParamsOk::ID))?;
                let (req, s3) = step3(s2, &ok, now, &mut self.cache, &mut *self.entropy)?;
                self.clock.set_offset(s3.time_offset);
                (req.to_bytes(), State::AwaitDhGen(Box::new(s3)))
            }
            State::AwaitDhGen(s3) => {
                let answer = DhGenAnswer::from_bytes(m.body).map_err(|e| {
                    unexpected(
                        e,
                        constructor,
                        if [DhGenOk::ID, DhGenRetry::ID, DhGenFail::ID].contains(&constructor) {
                            constructor
                        } else {
                            DhGenOk::ID
                        },
                    )
                })?;
                match finish(*s3, &answer, &mut *self.entropy)? {
                    FinishResult::Done(result) => return Ok(Step::Done(None, Box::new(result))),
                    FinishResult::Retry(req, s3) => (req.to_bytes(), State::AwaitDhGen(Box::new(s3))),
                }
            }
            State::Done => return Err(HandshakeError::Finished),
        };
        self.state = next;
        Ok(Step::Send(self.frame(&body, now)))
    }
}

/// A decode error on the expected constructor stays a TL error; any other
/// constructor is an unexpected message.
fn unexpected(e: crate::tl::TlError, found: u32, expected: u32) -> HandshakeError {
    if found == expected { HandshakeError::Tl(e) } else { HandshakeError::UnexpectedMessage { constructor: found } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step2_debug_leaves_out_new_nonce() {
        let new_nonce: [u8; 32] = core::array::from_fn(|i| 0x81 ^ (i * 11) as u8);
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let decimal = squeeze(&format!("{new_nonce:?}"));
        let hex_lower = hex::encode(new_nonce);
        let step = Step2::from_parts([1; 16], [2; 16], new_nonce, Some(60));
        for printed in [format!("{step:?}"), format!("{step:#?}")] {
            let flat = squeeze(&printed);
            assert!(!flat.contains("new_nonce"), "{printed}");
            assert!(!flat.contains(&decimal[1..decimal.len() - 1]), "{printed}");
            assert!(!flat.contains(&hex_lower), "{printed}");
            assert!(flat.contains("expires_in:Some(60"), "{printed}");
        }
    }
}
