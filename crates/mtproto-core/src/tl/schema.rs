//! The MTProto-layer schema (`schema/mtproto.tl`) as Rust types.
//!
//! Every constructor and function of the service schema is here, with its
//! constructor id as `ID`; a test checks each id against the schema file.
//! Fields named as in the schema. `bytes` fields are owned except where a
//! value can be large (rpc_result bodies, gzip data), which borrow the input.

use super::{Deserialize, Reader, Serialize, TlError, Writer};

/// A field type that knows its TL encoding.
pub trait Field: Sized {
    /// Reads the field.
    ///
    /// # Errors
    /// Any [`TlError`].
    fn read(r: &mut Reader<'_>) -> Result<Self, TlError>;
    /// Writes the field.
    fn write(&self, out: &mut Vec<u8>);
}

impl Field for i32 {
    fn read(r: &mut Reader<'_>) -> Result<Self, TlError> {
        r.i32()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_i32(*self);
    }
}

impl Field for i64 {
    fn read(r: &mut Reader<'_>) -> Result<Self, TlError> {
        r.i64()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_i64(*self);
    }
}

impl Field for [u8; 16] {
    fn read(r: &mut Reader<'_>) -> Result<Self, TlError> {
        r.int128()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_raw(self);
    }
}

impl Field for [u8; 32] {
    fn read(r: &mut Reader<'_>) -> Result<Self, TlError> {
        r.int256()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_raw(self);
    }
}

impl Field for Vec<u8> {
    fn read(r: &mut Reader<'_>) -> Result<Self, TlError> {
        Ok(r.bytes()?.to_vec())
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_bytes(self);
    }
}

impl Field for String {
    fn read(r: &mut Reader<'_>) -> Result<Self, TlError> {
        r.string()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_bytes(self.as_bytes());
    }
}

impl Field for Vec<i64> {
    fn read(r: &mut Reader<'_>) -> Result<Self, TlError> {
        r.vec_i64()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_vec_i64(self);
    }
}

macro_rules! tl_object {
    ($(#[$doc:meta])* $name:ident = $id:literal { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }

        impl $name {
            /// The constructor id.
            pub const ID: u32 = $id;

            /// Reads the fields after the constructor id.
            ///
            /// # Errors
            /// Any [`TlError`].
            #[allow(unused_variables)]
            pub fn read_bare(r: &mut Reader<'_>) -> Result<Self, TlError> {
                Ok(Self { $($field: <$ty as Field>::read(r)?,)* })
            }
        }

        impl Serialize for $name {
            #[allow(unused_variables)]
            fn serialize(&self, out: &mut Vec<u8>) {
                out.put_u32(Self::ID);
                $(Field::write(&self.$field, out);)*
            }
        }

        impl<'a> Deserialize<'a> for $name {
            fn deserialize(r: &mut Reader<'a>) -> Result<Self, TlError> {
                r.expect(Self::ID)?;
                Self::read_bare(r)
            }
        }
    };
}

// ---------------------------------------------------------------- handshake

tl_object!(/// `req_pq_multi`: the first handshake request.
    ReqPqMulti = 0xbe7e8ef1 { /// Client nonce.
    nonce: [u8; 16] });
tl_object!(/// `req_pq` (legacy first request, still answered by servers).
    ReqPq = 0x60469778 { /// Client nonce.
    nonce: [u8; 16] });
tl_object!(/// `resPQ`: the server's answer with pq and its key fingerprints.
    ResPq = 0x05162463 {
    /// Echo of the client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// pq as big-endian bytes.
    pq: Vec<u8>,
    /// Fingerprints of the server's RSA keys.
    server_public_key_fingerprints: Vec<i64> });

/// Fields shared by every `p_q_inner_data` form.
///
/// `new_nonce` is the handshake's secret (the tmp AES key, the first salt and
/// the new_nonce hashes derive from it): `Debug` leaves it out and it is
/// wiped when the value is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct PqInnerFields {
    /// pq, big-endian.
    pub pq: Vec<u8>,
    /// The smaller factor, big-endian.
    pub p: Vec<u8>,
    /// The larger factor, big-endian.
    pub q: Vec<u8>,
    /// Client nonce.
    pub nonce: [u8; 16],
    /// Server nonce.
    pub server_nonce: [u8; 16],
    /// The client's new_nonce (secret).
    pub new_nonce: [u8; 32],
}

impl core::fmt::Debug for PqInnerFields {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PqInnerFields")
            .field("pq", &self.pq)
            .field("p", &self.p)
            .field("q", &self.q)
            .field("nonce", &self.nonce)
            .field("server_nonce", &self.server_nonce)
            .finish_non_exhaustive()
    }
}

impl Drop for PqInnerFields {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.new_nonce);
    }
}

/// The four forms of `P_Q_inner_data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PqInnerData {
    /// `p_q_inner_data` (legacy; Telethon and Pyrogram send it).
    Plain(PqInnerFields),
    /// `p_q_inner_data_dc`.
    Dc(PqInnerFields, i32),
    /// `p_q_inner_data_temp` (legacy).
    Temp(PqInnerFields, i32),
    /// `p_q_inner_data_temp_dc`: dc and expires_in.
    TempDc(PqInnerFields, i32, i32),
}

impl PqInnerData {
    /// `p_q_inner_data#83c95aec`.
    pub const ID_PLAIN: u32 = 0x83c95aec;
    /// `p_q_inner_data_dc#a9f55f95`.
    pub const ID_DC: u32 = 0xa9f55f95;
    /// `p_q_inner_data_temp#3c6a84d4`.
    pub const ID_TEMP: u32 = 0x3c6a84d4;
    /// `p_q_inner_data_temp_dc#56fddf88`.
    pub const ID_TEMP_DC: u32 = 0x56fddf88;

    /// The shared fields.
    pub fn fields(&self) -> &PqInnerFields {
        match self {
            Self::Plain(f) | Self::Dc(f, _) | Self::Temp(f, _) | Self::TempDc(f, _, _) => f,
        }
    }

    /// `expires_in` for a temporary key.
    pub fn expires_in(&self) -> Option<i32> {
        match self {
            Self::Temp(_, e) | Self::TempDc(_, _, e) => Some(*e),
            _ => None,
        }
    }

    /// The DC id, where the form carries one.
    pub fn dc(&self) -> Option<i32> {
        match self {
            Self::Dc(_, d) | Self::TempDc(_, d, _) => Some(*d),
            _ => None,
        }
    }
}

impl Serialize for PqInnerData {
    fn serialize(&self, out: &mut Vec<u8>) {
        let id = match self {
            Self::Plain(_) => Self::ID_PLAIN,
            Self::Dc(..) => Self::ID_DC,
            Self::Temp(..) => Self::ID_TEMP,
            Self::TempDc(..) => Self::ID_TEMP_DC,
        };
        out.put_u32(id);
        let f = self.fields();
        out.put_bytes(&f.pq);
        out.put_bytes(&f.p);
        out.put_bytes(&f.q);
        out.put_raw(&f.nonce);
        out.put_raw(&f.server_nonce);
        out.put_raw(&f.new_nonce);
        match self {
            Self::Plain(_) => {}
            Self::Dc(_, dc) => out.put_i32(*dc),
            Self::Temp(_, e) => out.put_i32(*e),
            Self::TempDc(_, dc, e) => {
                out.put_i32(*dc);
                out.put_i32(*e);
            }
        }
    }
}

impl<'a> Deserialize<'a> for PqInnerData {
    fn deserialize(r: &mut Reader<'a>) -> Result<Self, TlError> {
        let id = r.u32()?;
        if ![Self::ID_PLAIN, Self::ID_DC, Self::ID_TEMP, Self::ID_TEMP_DC].contains(&id) {
            return Err(TlError::UnexpectedConstructor { found: id });
        }
        let f = PqInnerFields {
            pq: Field::read(r)?,
            p: Field::read(r)?,
            q: Field::read(r)?,
            nonce: r.int128()?,
            server_nonce: r.int128()?,
            new_nonce: r.int256()?,
        };
        Ok(match id {
            Self::ID_PLAIN => Self::Plain(f),
            Self::ID_DC => Self::Dc(f, r.i32()?),
            Self::ID_TEMP => Self::Temp(f, r.i32()?),
            _ => {
                let dc = r.i32()?;
                Self::TempDc(f, dc, r.i32()?)
            }
        })
    }
}

tl_object!(/// `req_DH_params`.
    ReqDhParams = 0xd712e4be {
    /// Client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// p, big-endian.
    p: Vec<u8>,
    /// q, big-endian.
    q: Vec<u8>,
    /// Fingerprint of the RSA key used.
    public_key_fingerprint: i64,
    /// RSA_PAD (or legacy RSA) ciphertext of p_q_inner_data.
    encrypted_data: Vec<u8> });

tl_object!(/// `server_DH_params_ok`.
    ServerDhParamsOk = 0xd0e8075c {
    /// Client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// AES-IGE encrypted SHA1 ‖ server_DH_inner_data ‖ padding.
    encrypted_answer: Vec<u8> });

tl_object!(/// `server_DH_params_fail` (legacy).
    ServerDhParamsFail = 0x79cb045d {
    /// Client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// Low 128 bits of SHA1(new_nonce).
    new_nonce_hash: [u8; 16] });

tl_object!(/// `server_DH_inner_data`.
    ServerDhInnerData = 0xb5890dba {
    /// Client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// Generator.
    g: i32,
    /// The 2048-bit safe prime.
    dh_prime: Vec<u8>,
    /// g^a mod p.
    g_a: Vec<u8>,
    /// Server unix time.
    server_time: i32 });

tl_object!(/// `client_DH_inner_data`.
    ClientDhInnerData = 0x6643b654 {
    /// Client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// 0, or the aux_hash of the key from the previous attempt.
    retry_id: i64,
    /// g^b mod p.
    g_b: Vec<u8> });

tl_object!(/// `set_client_DH_params`.
    SetClientDhParams = 0xf5045f1f {
    /// Client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// AES-IGE encrypted SHA1 ‖ client_DH_inner_data ‖ padding.
    encrypted_data: Vec<u8> });

tl_object!(/// `dh_gen_ok`.
    DhGenOk = 0x3bcbf734 {
    /// Client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// new_nonce_hash1.
    new_nonce_hash1: [u8; 16] });
tl_object!(/// `dh_gen_retry`.
    DhGenRetry = 0x46dc1fb9 {
    /// Client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// new_nonce_hash2.
    new_nonce_hash2: [u8; 16] });
tl_object!(/// `dh_gen_fail`.
    DhGenFail = 0xa69dae02 {
    /// Client nonce.
    nonce: [u8; 16],
    /// Server nonce.
    server_nonce: [u8; 16],
    /// new_nonce_hash3.
    new_nonce_hash3: [u8; 16] });

tl_object!(/// `bind_auth_key_inner`, the PFS binding statement.
    BindAuthKeyInner = 0x75a3f765 {
    /// Random nonce (also the `nonce` of auth.bindTempAuthKey).
    nonce: i64,
    /// The temporary key's id.
    temp_auth_key_id: i64,
    /// The permanent key's id.
    perm_auth_key_id: i64,
    /// The session id of the temporary key's session.
    temp_session_id: i64,
    /// Unix time when the temporary key expires.
    expires_at: i32 });

// ---------------------------------------------------------------- service messages

tl_object!(/// `rpc_error`.
    RpcError = 0x2144ca19 {
    /// Error code (e.g. 400, 420).
    error_code: i32,
    /// Error message (e.g. `FLOOD_WAIT_3`).
    error_message: String });

tl_object!(/// `rpc_answer_dropped`.
    RpcAnswerDropped = 0xa43ad8b7 {
    /// The dropped answer's msg_id.
    msg_id: i64,
    /// Its seq_no.
    seq_no: i32,
    /// Its size.
    bytes: i32 });

/// `rpc_answer_unknown#5e2ad36e`.
pub const RPC_ANSWER_UNKNOWN: u32 = 0x5e2ad36e;
/// `rpc_answer_dropped_running#cd78e586`.
pub const RPC_ANSWER_DROPPED_RUNNING: u32 = 0xcd78e586;
/// `destroy_auth_key_ok#f660e1d4`.
pub const DESTROY_AUTH_KEY_OK: u32 = 0xf660e1d4;
/// `destroy_auth_key_none#0a9f2259`.
pub const DESTROY_AUTH_KEY_NONE: u32 = 0x0a9f2259;
/// `destroy_auth_key_fail#ea109b13`.
pub const DESTROY_AUTH_KEY_FAIL: u32 = 0xea109b13;
/// `destroy_auth_key#d1435160` (function, no fields).
pub const DESTROY_AUTH_KEY: u32 = 0xd1435160;
/// `rpc_result#f35c6d01`.
pub const RPC_RESULT: u32 = 0xf35c6d01;
/// `msg_container#73f1f8dc`.
pub const MSG_CONTAINER: u32 = 0x73f1f8dc;
/// `msg_copy#e06046b2`.
pub const MSG_COPY: u32 = 0xe06046b2;
/// `gzip_packed#3072cfa1`.
pub const GZIP_PACKED: u32 = 0x3072cfa1;

tl_object!(/// `future_salt`.
    FutureSalt = 0x0949d9dc {
    /// Unix time from which the salt is valid.
    valid_since: i32,
    /// Unix time until which the salt is valid.
    valid_until: i32,
    /// The salt.
    salt: i64 });

/// `future_salts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FutureSalts {
    /// The get_future_salts request this answers.
    pub req_msg_id: i64,
    /// Server unix time.
    pub now: i32,
    /// The salts (bare `future_salt` elements).
    pub salts: Vec<FutureSalt>,
}

impl FutureSalts {
    /// The constructor id.
    pub const ID: u32 = 0xae500895;
}

impl Serialize for FutureSalts {
    fn serialize(&self, out: &mut Vec<u8>) {
        out.put_u32(Self::ID);
        out.put_i64(self.req_msg_id);
        out.put_i32(self.now);
        out.put_u32(self.salts.len() as u32);
        for s in &self.salts {
            out.put_i32(s.valid_since);
            out.put_i32(s.valid_until);
            out.put_i64(s.salt);
        }
    }
}

impl<'a> Deserialize<'a> for FutureSalts {
    fn deserialize(r: &mut Reader<'a>) -> Result<Self, TlError> {
        r.expect(Self::ID)?;
        let req_msg_id = r.i64()?;
        let now = r.i32()?;
        // `vector<future_salt>` is bare: a count, then bare elements of 16 bytes.
        let n = r.vector_len(false, 16)?;
        let salts = (0..n).map(|_| FutureSalt::read_bare(r)).collect::<Result<_, _>>()?;
        Ok(Self { req_msg_id, now, salts })
    }
}

tl_object!(/// `pong`.
    Pong = 0x347773c5 {
    /// The ping's msg_id.
    msg_id: i64,
    /// The ping's ping_id.
    ping_id: i64 });
tl_object!(/// `destroy_session_ok`.
    DestroySessionOk = 0xe22045fc { /// The destroyed session.
    session_id: i64 });
tl_object!(/// `destroy_session_none`.
    DestroySessionNone = 0x62d350c9 { /// The unknown session.
    session_id: i64 });
tl_object!(/// `new_session_created`.
    NewSessionCreated = 0x9ec20908 {
    /// The first message of the new session.
    first_msg_id: i64,
    /// Random id of the session.
    unique_id: i64,
    /// The current server salt.
    server_salt: i64 });
tl_object!(/// `msgs_ack`.
    MsgsAck = 0x62d6b459 { /// Acknowledged msg_ids.
    msg_ids: Vec<i64> });
tl_object!(/// `bad_msg_notification`.
    BadMsgNotification = 0xa7eff811 {
    /// The refused message.
    bad_msg_id: i64,
    /// Its seq_no.
    bad_msg_seqno: i32,
    /// Why (16, 17, 18, 19, 20, 32, 33, 34, 35, 48, 64).
    error_code: i32 });
tl_object!(/// `bad_server_salt`.
    BadServerSalt = 0xedab447b {
    /// The refused message.
    bad_msg_id: i64,
    /// Its seq_no.
    bad_msg_seqno: i32,
    /// Always 48.
    error_code: i32,
    /// The salt to use.
    new_server_salt: i64 });
tl_object!(/// `msg_resend_req`.
    MsgResendReq = 0x7d861a08 { /// Messages to send again.
    msg_ids: Vec<i64> });
tl_object!(/// `msg_resend_ans_req` (legacy).
    MsgResendAnsReq = 0x8610baeb { /// Answers to send again.
    msg_ids: Vec<i64> });
tl_object!(/// `msgs_state_req`.
    MsgsStateReq = 0xda69fb52 { /// Messages whose state is asked.
    msg_ids: Vec<i64> });
tl_object!(/// `msgs_state_info`.
    MsgsStateInfo = 0x04deb57d {
    /// The msgs_state_req answered.
    req_msg_id: i64,
    /// One state byte per asked msg_id.
    info: Vec<u8> });
tl_object!(/// `msgs_all_info`.
    MsgsAllInfo = 0x8cc0d131 {
    /// Messages described.
    msg_ids: Vec<i64>,
    /// One state byte per msg_id.
    info: Vec<u8> });
tl_object!(/// `msg_detailed_info`.
    MsgDetailedInfo = 0x276d3ec6 {
    /// The request.
    msg_id: i64,
    /// Its answer.
    answer_msg_id: i64,
    /// Size of the answer.
    bytes: i32,
    /// Status (0 in practice).
    status: i32 });
tl_object!(/// `msg_new_detailed_info`.
    MsgNewDetailedInfo = 0x809db6df {
    /// The answer.
    answer_msg_id: i64,
    /// Size of the answer.
    bytes: i32,
    /// Status.
    status: i32 });
tl_object!(/// `http_wait`.
    HttpWait = 0x9299359f {
    /// Max delay in ms.
    max_delay: i32,
    /// Wait after in ms.
    wait_after: i32,
    /// Max wait in ms.
    max_wait: i32 });

// ---------------------------------------------------------------- functions

tl_object!(/// `rpc_drop_answer`.
    RpcDropAnswer = 0x58e4a740 { /// The request whose answer to drop.
    req_msg_id: i64 });
tl_object!(/// `get_future_salts`.
    GetFutureSalts = 0xb921bd04 { /// How many salts.
    num: i32 });
tl_object!(/// `ping`.
    Ping = 0x7abe77ec { /// Echoed in pong.
    ping_id: i64 });
tl_object!(/// `ping_delay_disconnect`.
    PingDelayDisconnect = 0xf3427b8c {
    /// Echoed in pong.
    ping_id: i64,
    /// Seconds after which the server closes the connection without a new ping.
    disconnect_delay: i32 });
tl_object!(/// `destroy_session`.
    DestroySession = 0xe7512126 { /// The session to destroy.
    session_id: i64 });

/// `rpc_result`, borrowing the result body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcResult<'a> {
    /// The request answered.
    pub req_msg_id: i64,
    /// The result object, still encoded (may be gzip_packed or rpc_error).
    pub result: &'a [u8],
}

impl RpcResult<'_> {
    /// The constructor id.
    pub const ID: u32 = RPC_RESULT;
}

impl Serialize for RpcResult<'_> {
    fn serialize(&self, out: &mut Vec<u8>) {
        out.put_u32(Self::ID);
        out.put_i64(self.req_msg_id);
        out.put_raw(self.result);
    }
}

impl<'a> Deserialize<'a> for RpcResult<'a> {
    fn deserialize(r: &mut Reader<'a>) -> Result<Self, TlError> {
        r.expect(Self::ID)?;
        let req_msg_id = r.i64()?;
        Ok(Self { req_msg_id, result: r.rest() })
    }
}

/// Every constructor id of the schema with its name, for the schema test and
/// for logging.
pub const ALL_IDS: &[(&str, u32)] = &[
    ("resPQ", ResPq::ID),
    ("p_q_inner_data", PqInnerData::ID_PLAIN),
    ("p_q_inner_data_dc", PqInnerData::ID_DC),
    ("p_q_inner_data_temp", PqInnerData::ID_TEMP),
    ("p_q_inner_data_temp_dc", PqInnerData::ID_TEMP_DC),
    ("server_DH_params_ok", ServerDhParamsOk::ID),
    ("server_DH_params_fail", ServerDhParamsFail::ID),
    ("server_DH_inner_data", ServerDhInnerData::ID),
    ("client_DH_inner_data", ClientDhInnerData::ID),
    ("dh_gen_ok", DhGenOk::ID),
    ("dh_gen_retry", DhGenRetry::ID),
    ("dh_gen_fail", DhGenFail::ID),
    ("bind_auth_key_inner", BindAuthKeyInner::ID),
    ("rpc_result", RPC_RESULT),
    ("rpc_error", RpcError::ID),
    ("rpc_answer_unknown", RPC_ANSWER_UNKNOWN),
    ("rpc_answer_dropped_running", RPC_ANSWER_DROPPED_RUNNING),
    ("rpc_answer_dropped", RpcAnswerDropped::ID),
    ("future_salt", FutureSalt::ID),
    ("future_salts", FutureSalts::ID),
    ("pong", Pong::ID),
    ("destroy_session_ok", DestroySessionOk::ID),
    ("destroy_session_none", DestroySessionNone::ID),
    ("new_session_created", NewSessionCreated::ID),
    ("msg_container", MSG_CONTAINER),
    ("msg_copy", MSG_COPY),
    ("gzip_packed", GZIP_PACKED),
    ("msgs_ack", MsgsAck::ID),
    ("bad_msg_notification", BadMsgNotification::ID),
    ("bad_server_salt", BadServerSalt::ID),
    ("msg_resend_req", MsgResendReq::ID),
    ("msg_resend_ans_req", MsgResendAnsReq::ID),
    ("msgs_state_req", MsgsStateReq::ID),
    ("msgs_state_info", MsgsStateInfo::ID),
    ("msgs_all_info", MsgsAllInfo::ID),
    ("msg_detailed_info", MsgDetailedInfo::ID),
    ("msg_new_detailed_info", MsgNewDetailedInfo::ID),
    ("destroy_auth_key_ok", DESTROY_AUTH_KEY_OK),
    ("destroy_auth_key_none", DESTROY_AUTH_KEY_NONE),
    ("destroy_auth_key_fail", DESTROY_AUTH_KEY_FAIL),
    ("http_wait", HttpWait::ID),
    ("req_pq_multi", ReqPqMulti::ID),
    ("req_pq", ReqPq::ID),
    ("req_DH_params", ReqDhParams::ID),
    ("set_client_DH_params", SetClientDhParams::ID),
    ("rpc_drop_answer", RpcDropAnswer::ID),
    ("get_future_salts", GetFutureSalts::ID),
    ("ping", Ping::ID),
    ("ping_delay_disconnect", PingDelayDisconnect::ID),
    ("destroy_session", DestroySession::ID),
    ("destroy_auth_key", DESTROY_AUTH_KEY),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(new_nonce: [u8; 32]) -> PqInnerFields {
        PqInnerFields {
            pq: vec![0x17, 0xed, 0x48, 0x94, 0x1a, 0x08, 0xf9, 0x81],
            p: vec![0x49, 0x4c, 0x55, 0x3b],
            q: vec![0x53, 0x91, 0x10, 0x73],
            nonce: [0x3e; 16],
            server_nonce: [0xa5; 16],
            new_nonce,
        }
    }

    #[test]
    fn debug_leaves_out_new_nonce() {
        let new_nonce: [u8; 32] = core::array::from_fn(|i| 0xc0 ^ (i * 9) as u8);
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let hex_lower = hex::encode(new_nonce);
        let decimal = squeeze(&format!("{new_nonce:?}"));
        let decimal_body = &decimal[1..decimal.len() - 1];
        let f = fields(new_nonce);
        let inner = PqInnerData::TempDc(f.clone(), 2, 3600);
        for printed in [format!("{f:?}"), format!("{f:#?}"), format!("{inner:?}"), format!("{inner:#?}")] {
            let flat = squeeze(&printed);
            assert!(!flat.contains("new_nonce"), "{printed}");
            assert!(!flat.contains(&hex_lower) && !flat.contains(&hex_lower.to_uppercase()), "{printed}");
            assert!(!flat.contains(decimal_body), "{printed}");
            // The public fields are still there.
            assert!(flat.contains("server_nonce"), "{printed}");
        }
        // The manual impls change nothing on the wire.
        let bytes = inner.to_bytes();
        let parsed = PqInnerData::from_bytes(&bytes).expect("parse");
        assert_eq!(parsed, inner);
        assert_eq!(parsed.fields().new_nonce, new_nonce);
    }
}
