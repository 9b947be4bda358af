//! The one error type of this crate.

use core::fmt;

/// Every way a cryptographic operation can refuse its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// An AES-IGE buffer whose length is not a multiple of 16.
    NotBlockAligned {
        /// The length that was given.
        len: usize,
    },
    /// An encrypted message shorter than the header plus the minimum body.
    MessageTooShort {
        /// The length that was given.
        len: usize,
    },
    /// The auth_key_id of an encrypted message is not the one of our key.
    AuthKeyIdMismatch,
    /// The msg_key recomputed from the plaintext differs from the one received.
    MsgKeyMismatch,
    /// A buffer for an outgoing message is laid out wrongly (too short, or the
    /// plaintext is not a multiple of 16 bytes).
    BadPlaintextLayout {
        /// The plaintext length that was given.
        len: usize,
    },
    /// RSA_PAD input longer than 144 bytes.
    RsaDataTooLong {
        /// The length that was given.
        len: usize,
    },
    /// An RSA ciphertext of the wrong size, or not below the modulus.
    RsaBadCiphertext,
    /// The hash inside an RSA_PAD or legacy RSA block does not match.
    RsaHashMismatch,
    /// A PEM or DER key that could not be parsed.
    BadKeyEncoding,
    /// An RSA key whose modulus is not 2048 bits.
    UnsupportedKeySize {
        /// The modulus size in bits.
        bits: u32,
    },
    /// dh_prime is not 2048 bits long.
    DhPrimeBadLength {
        /// The bit length that was given.
        bits: u32,
    },
    /// dh_prime is not a safe prime.
    DhPrimeNotSafe,
    /// g is not in 2..=7.
    DhGeneratorOutOfRange {
        /// The g that was given.
        g: u32,
    },
    /// g does not generate the subgroup of order (p-1)/2 for this p.
    DhGeneratorResidue {
        /// The g that was given.
        g: u32,
    },
    /// g_a or g_b is not in 2^(2048-64) ..= p - 2^(2048-64).
    DhValueOutOfRange,
    /// pq is prime, 1, or has no factor the algorithm could find.
    PqNotFactorable {
        /// The pq that was given.
        pq: u64,
    },
    /// The obfuscated2 init header is not 64 bytes.
    BadObfuscatedHeader,
    /// The operating system's random source failed.
    EntropyUnavailable,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotBlockAligned { len } => {
                write!(f, "AES-IGE input of {len} bytes is not a multiple of 16: pad it first")
            }
            Self::MessageTooShort { len } => {
                write!(f, "encrypted message of {len} bytes is too short to hold an MTProto 2.0 envelope: drop it")
            }
            Self::AuthKeyIdMismatch => f.write_str("auth_key_id does not match our key: a packet for another key; drop it"),
            Self::MsgKeyMismatch => f.write_str("msg_key does not match the decrypted plaintext: corrupted or forged; drop it, never act on it"),
            Self::BadPlaintextLayout { len } => {
                write!(f, "plaintext of {len} bytes is not a positive multiple of 16: pad it first")
            }
            Self::RsaDataTooLong { len } => write!(f, "RSA_PAD data of {len} bytes exceeds 144"),
            Self::RsaBadCiphertext => f.write_str("RSA ciphertext has the wrong size or is not below n"),
            Self::RsaHashMismatch => f.write_str("hash inside the RSA block does not match"),
            Self::BadKeyEncoding => f.write_str("RSA key is not valid PEM/DER: give a PKCS#1 or PKCS#8 (SPKI for public keys) key"),
            Self::UnsupportedKeySize { bits } => {
                write!(f, "RSA modulus of {bits} bits: MTProto uses 2048-bit keys")
            }
            Self::DhPrimeBadLength { bits } => write!(f, "dh_prime has {bits} bits, expected 2048"),
            Self::DhPrimeNotSafe => f.write_str("dh_prime is not a safe prime"),
            Self::DhGeneratorOutOfRange { g } => write!(f, "g = {g} is not in 2..=7"),
            Self::DhGeneratorResidue { g } => {
                write!(f, "g = {g} does not generate the prime-order subgroup of dh_prime")
            }
            Self::DhValueOutOfRange => f.write_str("g_a or g_b is outside 2^1984 ..= dh_prime - 2^1984"),
            Self::PqNotFactorable { pq } => write!(f, "pq = {pq} cannot be split into two factors"),
            Self::BadObfuscatedHeader => f.write_str("obfuscated2 init header must be 64 bytes"),
            Self::EntropyUnavailable => f.write_str("the OS random source failed: no secret can be made; retry, or check getrandom support on this platform"),
        }
    }
}

impl core::error::Error for CryptoError {}
