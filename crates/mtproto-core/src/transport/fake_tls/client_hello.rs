//! The ClientHello: built from a Chrome-like template, and parsed and
//! verified on the proxy side.

use super::{FakeTlsConfig, HelloRefusal, hmac_sha256, x25519};
use mtproto_crypto::Entropy;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes of the ClientHello record we send by default (as tdesktop does;
/// older proxies accept only this length).
pub const CLIENT_HELLO_LEN: usize = 517;

/// Fewest payload bytes of a ClientHello record a server accepts.
pub const MIN_CLIENT_HELLO_PAYLOAD: usize = 512;

/// Most payload bytes of a ClientHello record a server accepts (one full
/// TLS record: browser-like hellos with a post-quantum share are ~1.7 KB).
pub const MAX_CLIENT_HELLO_PAYLOAD: usize = 1 << 14;

/// Where the 32-byte random sits in the record (and in a ServerHello).
pub const RANDOM_AT: core::ops::Range<usize> = 11..43;

/// The TLS group of the hybrid post-quantum key share (X25519MLKEM768).
pub const GROUP_X25519_MLKEM768: u16 = 0x11ec;

/// Bytes of an X25519MLKEM768 client key share: the ML-KEM-768
/// encapsulation key (1,184) followed by the X25519 share (32).
pub const X25519_MLKEM768_SHARE_LEN: usize = MLKEM768_EK_LEN + 32;

/// Bytes of an ML-KEM-768 encapsulation key: 768 coefficients of 12 bits, then the 32-byte seed rho.
const MLKEM768_EK_LEN: usize = 768 * 12 / 8 + 32;

/// The ML-KEM modulus: every coefficient of an encapsulation key is below it.
const MLKEM_Q: u16 = 3329;

/// The lengths current Chrome gives the payload of its GREASE
/// encrypted_client_hello extension (a padded inner hello plus the AEAD tag).
const ECH_GREASE_PAYLOADS: [usize; 4] = [144, 176, 208, 240];

/// The shape of the ClientHello a fake-TLS client sends
/// ([`FakeTlsConfig::hello`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum HelloTemplate {
    /// Exactly [`CLIENT_HELLO_LEN`] bytes (517), as tdesktop sends: a
    /// Chrome-like hello with an X25519 share and a padding extension.
    /// The reference MTProxy takes 512–767-byte hellos and older proxies
    /// only 517, so this is the default.
    #[default]
    Classic,
    /// As current Chrome sends (about 1.7–1.8 KB, in one record): the
    /// hybrid X25519MLKEM768 share ([`GROUP_X25519_MLKEM768`],
    /// [`X25519_MLKEM768_SHARE_LEN`] bytes) before the X25519 share and in
    /// supported_groups first, a GREASE encrypted_client_hello extension,
    /// the new ALPS code point (0x44cd), no padding. The ML-KEM part is a
    /// well-formed encapsulation key of random coefficients (below the
    /// modulus, as a real one is); the proxy never uses it. Only proxies
    /// that accept long hellos take it (ours accepts up to
    /// [`MAX_CLIENT_HELLO_PAYLOAD`]).
    PostQuantum,
}

/// A ClientHello ready to send.
#[derive(Clone)]
pub struct ClientHello {
    /// The whole record, `16 03 01 len …`.
    pub record: Vec<u8>,
    /// Its random field, which the ServerHello's digest covers.
    pub random: [u8; 32],
}

impl core::fmt::Debug for ClientHello {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientHello").field("len", &self.record.len()).finish_non_exhaustive()
    }
}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    /// A block behind a big-endian length of `width` bytes (1, 2 or 3).
    fn block(&mut self, width: usize, f: impl FnOnce(&mut W)) {
        let at = self.0.len();
        self.0.resize(at + width, 0);
        f(self);
        let len = (self.0.len() - at - width) as u32;
        self.0[at..at + width].copy_from_slice(&len.to_be_bytes()[4 - width..]);
    }
    /// An extension: type, then its body behind a 2-byte length.
    fn ext(ty: u16, f: impl FnOnce(&mut W)) -> Vec<u8> {
        let mut w = W(Vec::with_capacity(64));
        w.u16(ty);
        w.block(2, f);
        w.0
    }
}

/// Seven distinct-enough GREASE values (RFC 8701: `0x?A?A`).
fn grease(entropy: &mut (dyn Entropy + Send)) -> [u16; 7] {
    let mut b = [0u8; 7];
    entropy.fill(&mut b);
    let mut g = b.map(|v| {
        let n = (v & 0xf0) | 0x0a;
        u16::from_be_bytes([n, n])
    });
    // Two GREASE extensions in one hello must differ (as BoringSSL ensures).
    if g[3] == g[4] {
        g[4] ^= 0x1010;
    }
    g
}

/// Chrome's TLS 1.3-first cipher suite list (after a GREASE value).
const CIPHERS: [u16; 15] = [
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f,
    0x0035,
];

const SIGNATURE_ALGORITHMS: [u16; 8] = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];

/// Builds a ClientHello for `domain` keyed with `key`, at `unix_time`
/// (the caller's clock, corrected by any known offset to the server's),
/// of the [`HelloTemplate::Classic`] shape.
///
/// The record is exactly [`CLIENT_HELLO_LEN`] bytes when the domain leaves
/// room for the padding extension (domains up to 215 bytes); a longer
/// domain gives a longer hello without padding.
pub fn client_hello(key: &[u8; 16], domain: &str, unix_time: u32, entropy: &mut (dyn Entropy + Send)) -> ClientHello {
    client_hello_with(key, domain, unix_time, HelloTemplate::Classic, entropy)
}

/// An ML-KEM-768 encapsulation key of random coefficients: 256 × 3
/// coefficients drawn uniformly below [`MLKEM_Q`] (12-bit rejection
/// sampling from one buffer of random bytes, refilled if it runs out),
/// packed two per three bytes, then a random 32-byte rho.
fn mlkem768_encapsulation_key(entropy: &mut (dyn Entropy + Send)) -> Vec<u8> {
    const COEFFICIENTS: usize = 768;
    // 1,024 candidates; 768 of them are accepted with overwhelming odds
    // (each is with probability 3329/4096).
    let mut random = [0u8; 1536];
    let mut coefficients = Vec::with_capacity(COEFFICIENTS);
    while coefficients.len() < COEFFICIENTS {
        entropy.fill(&mut random);
        for b in random.chunks_exact(3) {
            for c in [u16::from(b[0]) | (u16::from(b[1] & 0x0f) << 8), (u16::from(b[1]) >> 4) | (u16::from(b[2]) << 4)]
            {
                if c < MLKEM_Q && coefficients.len() < COEFFICIENTS {
                    coefficients.push(c);
                }
            }
        }
    }
    let mut ek = Vec::with_capacity(MLKEM768_EK_LEN);
    for pair in coefficients.chunks_exact(2) {
        let (d1, d2) = (pair[0], pair[1]);
        ek.extend_from_slice(&[d1 as u8, ((d1 >> 8) | ((d2 & 0xf) << 4)) as u8, (d2 >> 4) as u8]);
    }
    let mut rho = [0u8; 32];
    entropy.fill(&mut rho);
    ek.extend_from_slice(&rho);
    ek
}

/// Builds a ClientHello of the given `template` (see [`client_hello`] for
/// the arguments and [`HelloTemplate`] for the shapes).
///
/// # Examples
///
/// The long hello verifies like the short one:
///
/// ```
/// use mtproto_core::transport::fake_tls::{self, FakeTlsConfig, HelloTemplate};
/// use mtproto_crypto::SeededEntropy;
/// let config = FakeTlsConfig::new([0x11; 16], "example.com", 2);
/// let now = 1_780_000_000u32;
/// let hello = fake_tls::client_hello_with(config.key(), "example.com", now, HelloTemplate::PostQuantum, &mut SeededEntropy::new(3));
/// assert!((1600..2000).contains(&hello.record.len()));
/// assert!(fake_tls::verify_client_hello(&config, &hello.record, now.into()).is_ok());
/// ```
pub fn client_hello_with(
    key: &[u8; 16],
    domain: &str,
    unix_time: u32,
    template: HelloTemplate,
    entropy: &mut (dyn Entropy + Send),
) -> ClientHello {
    let post_quantum = template == HelloTemplate::PostQuantum;
    let g = grease(entropy);
    let mut session_id = [0u8; 32];
    entropy.fill(&mut session_id);
    let share = x25519::random_point(entropy);
    let hybrid = post_quantum.then(|| {
        // ML-KEM-768's encapsulation key, then the X25519 share (the same
        // key as the separate X25519 entry, as Chrome reuses it).
        let mut h = mlkem768_encapsulation_key(entropy);
        h.extend_from_slice(&share);
        h
    });
    let domain = domain.as_bytes();
    let mut exts: Vec<Vec<u8>> = vec![
        W::ext(0x0000, |w| {
            w.block(2, |w| {
                w.u8(0);
                w.block(2, |w| w.bytes(domain));
            });
        }),
        W::ext(0x0017, |_| {}),
        W::ext(0xff01, |w| w.u8(0)),
        W::ext(0x000a, |w| {
            w.block(2, |w| {
                w.u16(g[1]);
                if post_quantum {
                    w.u16(GROUP_X25519_MLKEM768);
                }
                [0x001d, 0x0017, 0x0018].into_iter().for_each(|v| w.u16(v));
            });
        }),
        W::ext(0x000b, |w| w.block(1, |w| w.u8(0))),
        W::ext(0x0023, |_| {}),
        W::ext(0x0010, |w| {
            w.block(2, |w| {
                w.block(1, |w| w.bytes(b"h2"));
                w.block(1, |w| w.bytes(b"http/1.1"));
            });
        }),
        W::ext(0x0005, |w| w.bytes(&[1, 0, 0, 0, 0])),
        W::ext(0x000d, |w| w.block(2, |w| SIGNATURE_ALGORITHMS.into_iter().for_each(|v| w.u16(v)))),
        W::ext(0x0012, |_| {}),
        W::ext(0x0033, |w| {
            w.block(2, |w| {
                w.u16(g[1]);
                w.block(2, |w| w.u8(0));
                if let Some(hybrid) = &hybrid {
                    w.u16(GROUP_X25519_MLKEM768);
                    w.block(2, |w| w.bytes(hybrid));
                }
                w.u16(0x001d);
                w.block(2, |w| w.bytes(&share));
            });
        }),
        W::ext(0x002d, |w| w.block(1, |w| w.u8(1))),
        W::ext(0x002b, |w| w.block(1, |w| [g[2], 0x0304, 0x0303].into_iter().for_each(|v| w.u16(v)))),
        W::ext(0x001b, |w| w.block(1, |w| w.u16(0x0002))),
        // ALPS (application settings), under the code point of the Chrome generation.
        W::ext(if post_quantum { 0x44cd } else { 0x4469 }, |w| w.block(2, |w| w.block(1, |w| w.bytes(b"h2")))),
    ];
    if post_quantum {
        // GREASE encrypted_client_hello: an outer hello for a made-up
        // config (HKDF-SHA256, AES-128-GCM), an X25519 point as `enc`, and
        // a random payload of one of Chrome's lengths.
        let config_id = (entropy.next_u64() & 0xff) as u8;
        let enc = x25519::random_point(entropy);
        let mut payload = vec![0u8; ECH_GREASE_PAYLOADS[(entropy.next_u64() % 4) as usize]];
        entropy.fill(&mut payload);
        exts.push(W::ext(0xfe0d, |w| {
            w.u8(0);
            w.u16(0x0001);
            w.u16(0x0001);
            w.u8(config_id);
            w.block(2, |w| w.bytes(&enc));
            w.block(2, |w| w.bytes(&payload));
        }));
    }
    // Chrome permutes its extensions on every connection (Fisher-Yates).
    for i in (1..exts.len()).rev() {
        let j = (entropy.next_u64() % (i as u64 + 1)) as usize;
        exts.swap(i, j);
    }
    exts.insert(0, W::ext(g[3], |_| {}));
    exts.push(W::ext(g[4], |w| w.u8(0)));

    let capacity = CLIENT_HELLO_LEN + domain.len() + if post_quantum { 1400 } else { 0 };
    let mut w = W(Vec::with_capacity(capacity));
    w.bytes(&[0x16, 0x03, 0x01]);
    w.block(2, |w| {
        w.u8(0x01);
        w.block(3, |w| {
            w.u16(0x0303);
            w.bytes(&[0; 32]);
            w.block(1, |w| w.bytes(&session_id));
            w.block(2, |w| {
                w.u16(g[0]);
                CIPHERS.into_iter().for_each(|c| w.u16(c));
            });
            w.bytes(&[1, 0]);
            w.block(2, |w| {
                for e in &exts {
                    w.bytes(e);
                }
                // Padding (RFC 7685) up to the template's length (a
                // post-quantum hello is long enough without).
                let so_far = w.0.len();
                if !post_quantum && so_far + 4 <= CLIENT_HELLO_LEN {
                    w.u16(0x0015);
                    w.block(2, |w| w.bytes(&[0; CLIENT_HELLO_LEN][..CLIENT_HELLO_LEN - so_far - 4]));
                }
            });
        });
    });
    let mut record = w.0;
    let digest = Zeroizing::new(hmac_sha256(key, &[&record]));
    let mut random = *digest;
    for (r, t) in random[28..].iter_mut().zip(unix_time.to_le_bytes()) {
        *r ^= t;
    }
    record[RANDOM_AT].copy_from_slice(&random);
    ClientHello { record, random }
}

/// The fields of a ClientHello the proxy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedHello<'a> {
    /// The random field.
    pub random: [u8; 32],
    /// The session id (0..=32 bytes), echoed in the ServerHello.
    pub session_id: &'a [u8],
    /// The host name of the server_name extension, if any.
    pub server_name: Option<&'a [u8]>,
}

struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloRefusal> {
        if self.0.len() < n {
            return Err(HelloRefusal::Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, HelloRefusal> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, HelloRefusal> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn block(&mut self, width: usize) -> Result<R<'a>, HelloRefusal> {
        let b = self.take(width)?;
        let len = b.iter().fold(0usize, |a, &v| a << 8 | usize::from(v));
        Ok(R(self.take(len)?))
    }
}

/// Parses a complete ClientHello record (no cryptography): record and
/// handshake headers, lengths of every field and extension, the SNI.
///
/// # Errors
/// [`HelloRefusal::NotHandshake`], [`HelloRefusal::BadLength`],
/// [`HelloRefusal::Malformed`].
pub fn parse_client_hello(record: &[u8]) -> Result<ParsedHello<'_>, HelloRefusal> {
    if record.len() < 5 || record[..3] != [0x16, 0x03, 0x01] {
        return Err(HelloRefusal::NotHandshake);
    }
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    if !(MIN_CLIENT_HELLO_PAYLOAD..=MAX_CLIENT_HELLO_PAYLOAD).contains(&len) || record.len() != 5 + len {
        return Err(HelloRefusal::BadLength { len });
    }
    let mut r = R(&record[5..]);
    if r.u8()? != 0x01 {
        return Err(HelloRefusal::NotHandshake);
    }
    let mut hello = r.block(3)?;
    if !r.0.is_empty() || hello.u16()? != 0x0303 {
        return Err(HelloRefusal::Malformed);
    }
    let mut random = [0u8; 32];
    random.copy_from_slice(hello.take(32)?);
    let session_id = hello.block(1)?.0;
    let ciphers = hello.block(2)?.0;
    let compression = hello.block(1)?.0;
    if session_id.len() > 32 || ciphers.is_empty() || ciphers.len() % 2 != 0 || compression.is_empty() {
        return Err(HelloRefusal::Malformed);
    }
    let mut exts = hello.block(2)?;
    if !hello.0.is_empty() {
        return Err(HelloRefusal::Malformed);
    }
    let mut server_name = None;
    while !exts.0.is_empty() {
        let ty = exts.u16()?;
        let mut body = exts.block(2)?;
        if ty == 0x0000 {
            if server_name.is_some() {
                return Err(HelloRefusal::Malformed);
            }
            let mut list = body.block(2)?;
            if !body.0.is_empty() || list.u8()? != 0 {
                return Err(HelloRefusal::Malformed);
            }
            server_name = Some(list.block(2)?.0);
        }
    }
    Ok(ParsedHello { random, session_id, server_name })
}

/// A ClientHello that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHello {
    /// Its random (the ServerHello's digest covers it).
    pub random: [u8; 32],
    /// Its session id, echoed in the answer.
    pub session_id: Vec<u8>,
    /// The client's unix time from the random.
    pub client_time: u32,
}

/// Verifies a complete ClientHello record as a proxy with `config` does at
/// `unix_now`: sanity and lengths, SNI equal to the domain, the digest
/// (first 28 bytes, constant time), the timestamp window, then the replay
/// cache (a hello that verifies is remembered, so the same one is refused
/// next time).
///
/// # Errors
/// The [`HelloRefusal`] of the first check that failed.
///
/// # Examples
///
/// Our ClientHello is 517 bytes; the server accepts it once, at its time,
/// for its domain:
///
/// ```
/// use mtproto_core::transport::fake_tls::{self, FakeTlsConfig, HelloRefusal};
/// use mtproto_crypto::SeededEntropy;
/// let config = FakeTlsConfig::new([0x11; 16], "example.com", 2);
/// let now = 1_780_000_000u32;
/// let hello = fake_tls::client_hello(config.key(), "example.com", now, &mut SeededEntropy::new(3));
/// assert_eq!(hello.record.len(), fake_tls::CLIENT_HELLO_LEN);
/// assert!(fake_tls::verify_client_hello(&config, &hello.record, now.into()).is_ok());
/// let again = fake_tls::verify_client_hello(&config, &hello.record, now.into());
/// assert!(matches!(again, Err(HelloRefusal::Replayed)));
/// let other = FakeTlsConfig::new([0x11; 16], "other.org", 2);
/// assert!(fake_tls::verify_client_hello(&other, &hello.record, now.into()).is_err());
/// ```
pub fn verify_client_hello(
    config: &FakeTlsConfig,
    record: &[u8],
    unix_now: i64,
) -> Result<VerifiedHello, HelloRefusal> {
    let parsed = parse_client_hello(record)?;
    if parsed.server_name != Some(config.domain().as_bytes()) {
        return Err(HelloRefusal::WrongDomain);
    }
    let mut zeroed = Zeroizing::new(record.to_vec());
    zeroed[RANDOM_AT].fill(0);
    let digest = Zeroizing::new(hmac_sha256(config.key(), &[&zeroed]));
    if !bool::from(digest[..28].ct_eq(&parsed.random[..28])) {
        return Err(HelloRefusal::BadDigest);
    }
    let mut t = [0u8; 4];
    for (i, b) in t.iter_mut().enumerate() {
        *b = parsed.random[28 + i] ^ digest[28 + i];
    }
    let client_time = u32::from_le_bytes(t);
    let skew = i64::from(client_time) - unix_now;
    let past = i64::try_from(config.max_past.as_secs()).unwrap_or(i64::MAX);
    let future = i64::try_from(config.max_future.as_secs()).unwrap_or(i64::MAX);
    if skew < -past || skew > future {
        return Err(HelloRefusal::Stale { skew });
    }
    if !config.replay.insert(parsed.random) {
        return Err(HelloRefusal::Replayed);
    }
    Ok(VerifiedHello { random: parsed.random, session_id: parsed.session_id.to_vec(), client_time })
}
