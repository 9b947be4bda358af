//! MTProto 2.0 cryptography, sans-IO.
//!
//! Everything here is a pure function of its inputs: no sockets, no clock, and
//! randomness only through the [`Entropy`] trait.
//!
//! | module | what it holds |
//! |---|---|
//! | [`ige`] | AES-256-IGE in place (AES-NI fast path, portable fallback) |
//! | [`envelope`] | MTProto 2.0 msg_key, KDF, whole-message encrypt/decrypt in place |
//! | [`auth_key`] | the 256-byte [`AuthKey`] with its id and aux hash |
//! | [`nonce`] | handshake tmp_aes key/iv and new_nonce_hash1/2/3 |
//! | [`rsa`] | Telegram RSA keys, fingerprints, RSA_PAD and the legacy scheme |
//! | [`dh`] | Diffie-Hellman parameter checks and modular exponentiation |
//! | [`pq`] | factorization of the handshake's 64-bit pq |
//! | [`obfuscated2`] | obfuscated2 key derivation and the AES-256-CTR stream |
//! | [`entropy`] | the entropy trait, an OS-seeded CSPRNG, forked child generators and a seeded test RNG |
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | on | the `std` parts of the RSA key-file parsers and the process-id check of [`OsEntropy`] (a forked process reseeds); without it the crate is `no_std` + `alloc` (CI checks the build) |
//!
//! Keys are wiped on drop and never printed ([`AuthKey`]'s `Debug` shows its
//! id only); msg_key and hash checks are constant-time. The AES-NI
//! and SHA-NI paths are chosen at run time (`cpufeatures`), with a portable
//! fallback; `unsafe` lives only in `arch/`. Measurements are in the
//! repository's `docs/benchmarks.md`, as ratios to a floor of one SHA-256
//! pass plus one AES-IGE pass measured in the same run.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(target_arch = "x86_64")]
mod arch;
pub mod auth_key;
pub mod dh;
pub mod entropy;
pub mod envelope;
pub mod envelope_v1;
mod error;
#[doc(hidden)]
pub mod floor;
pub mod ige;
pub mod nonce;
pub mod obfuscated2;
pub mod pq;
pub mod rsa;
mod sha;

pub use auth_key::AuthKey;
pub use entropy::{Entropy, ForkedEntropy, OsEntropy, SeededEntropy};
pub use envelope::Direction;
pub use error::CryptoError;
