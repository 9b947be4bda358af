//! obfuscated2: the AES-256-CTR layer that hides the transport from DPI.
//!
//! The initiator sends a 64-byte header: 56 random bytes in the clear, then
//! bytes 56..64 encrypted, which carry the protocol tag (56..60) and the DC id
//! (60..62, little-endian i16). Both stream keys come from the header:
//! initiator→responder uses `key = init[8..40]`, `iv = init[40..56]`;
//! responder→initiator uses the same 48 bytes reversed. With an MTProxy secret
//! each key becomes `SHA256(key ‖ secret)`.

use crate::{CryptoError, Entropy};
use aes::Aes256;
use ctr::Ctr128BE;
use ctr::cipher::{KeyIvInit, StreamCipher};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Protocol tag of the abridged transport.
pub const TAG_ABRIDGED: [u8; 4] = [0xef; 4];
/// Protocol tag of the intermediate transport.
pub const TAG_INTERMEDIATE: [u8; 4] = [0xee; 4];
/// Protocol tag of the padded intermediate transport.
pub const TAG_PADDED_INTERMEDIATE: [u8; 4] = [0xdd; 4];

/// One direction of an obfuscated2 stream.
pub struct CtrStream {
    inner: Ctr128BE<Aes256>,
}

impl CtrStream {
    fn new(key: &[u8; 32], iv: &[u8; 16]) -> Self {
        Self { inner: Ctr128BE::<Aes256>::new(key.into(), iv.into()) }
    }

    /// XORs the next keystream bytes into `buf` (encrypts or decrypts).
    pub fn apply(&mut self, buf: &mut [u8]) {
        self.inner.apply_keystream(buf);
    }
}

impl core::fmt::Debug for CtrStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CtrStream")
    }
}

fn key_iv(material: &[u8], secret: Option<&[u8]>) -> (Zeroizing<[u8; 32]>, [u8; 16]) {
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&material[..32]);
    if let Some(s) = secret {
        let h = Sha256::new().chain_update(&key[..]).chain_update(s).finalize();
        key.copy_from_slice(&h);
    }
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&material[32..48]);
    (key, iv)
}

/// The two streams of one side: `(send, receive)`.
fn streams(init: &[u8; 64], secret: Option<&[u8]>) -> (CtrStream, CtrStream) {
    let forward = &init[8..56];
    let mut reversed = Zeroizing::new([0u8; 48]);
    for (d, s) in reversed.iter_mut().zip(forward.iter().rev()) {
        *d = *s;
    }
    let (fk, fi) = key_iv(forward, secret);
    let (rk, ri) = key_iv(&reversed[..], secret);
    (CtrStream::new(&fk, &fi), CtrStream::new(&rk, &ri))
}

/// Whether 64 random bytes may start an obfuscated2 header: the first byte is
/// not 0xef (abridged), the first word is none of the plain transport tags
/// nor an HTTP or TLS start, and bytes 4..8 are not zero (full transport).
pub fn is_valid_init(init: &[u8; 64]) -> bool {
    const FORBIDDEN: [[u8; 4]; 7] =
        [*b"HEAD", *b"POST", *b"GET ", *b"OPTI", [0xdd; 4], [0xee; 4], [0x16, 0x03, 0x01, 0x02]];
    init[0] != 0xef && !FORBIDDEN.iter().any(|f| init[..4] == f[..]) && init[4..8] != [0, 0, 0, 0]
}

/// The initiator's side after the header is built.
#[derive(Debug)]
pub struct ClientStreams {
    /// The 64 bytes to send first.
    pub header: [u8; 64],
    /// Encrypts what the initiator sends after the header.
    pub send: CtrStream,
    /// Decrypts what the responder sends.
    pub recv: CtrStream,
}

/// Builds the header from 64 random bytes (see [`is_valid_init`]), the protocol
/// tag and the DC id; `secret` is the 16-byte MTProxy secret, if any.
pub fn client_from_init(mut init: [u8; 64], tag: [u8; 4], dc_id: i16, secret: Option<&[u8]>) -> ClientStreams {
    init[56..60].copy_from_slice(&tag);
    init[60..62].copy_from_slice(&dc_id.to_le_bytes());
    let (mut send, recv) = streams(&init, secret);
    let mut encrypted = init;
    send.apply(&mut encrypted);
    let mut header = init;
    header[56..].copy_from_slice(&encrypted[56..]);
    ClientStreams { header, send, recv }
}

/// Draws a valid random init and builds the header (see [`client_from_init`]).
///
/// # Examples
///
/// The client's 64-byte header lets the server derive the same streams:
///
/// ```
/// use mtproto_crypto::{SeededEntropy, obfuscated2};
/// let tag = [0xee; 4]; // intermediate
/// let mut client = obfuscated2::client(&mut SeededEntropy::new(1), tag, 2, None);
/// let mut server = obfuscated2::server(&client.header, None)?;
/// assert_eq!((server.tag, server.dc_id), (tag, 2));
/// let mut bytes = *b"hello, server";
/// client.send.apply(&mut bytes);
/// server.recv.apply(&mut bytes);
/// assert_eq!(&bytes, b"hello, server");
/// # Ok::<(), mtproto_crypto::CryptoError>(())
/// ```
pub fn client(entropy: &mut impl Entropy, tag: [u8; 4], dc_id: i16, secret: Option<&[u8]>) -> ClientStreams {
    loop {
        let init = entropy.array::<64>();
        if is_valid_init(&init) {
            return client_from_init(init, tag, dc_id, secret);
        }
    }
}

/// The responder's side, from the received header.
#[derive(Debug)]
pub struct ServerStreams {
    /// The protocol tag the initiator asked for.
    pub tag: [u8; 4],
    /// The DC id the initiator asked for.
    pub dc_id: i16,
    /// Encrypts what the responder sends.
    pub send: CtrStream,
    /// Decrypts what the initiator sends after the header.
    pub recv: CtrStream,
}

/// Accepts a 64-byte header (as a server or a proxy).
///
/// # Errors
/// [`CryptoError::BadObfuscatedHeader`] when `header` is not 64 bytes.
pub fn server(header: &[u8], secret: Option<&[u8]>) -> Result<ServerStreams, CryptoError> {
    let header: &[u8; 64] = header.try_into().map_err(|_| CryptoError::BadObfuscatedHeader)?;
    let (mut recv, send) = streams(header, secret);
    let mut plain = *header;
    recv.apply(&mut plain);
    let mut tag = [0u8; 4];
    tag.copy_from_slice(&plain[56..60]);
    let dc_id = i16::from_le_bytes([plain[60], plain[61]]);
    Ok(ServerStreams { tag, dc_id, send, recv })
}
