//! The crate's only `unsafe` code: loops compiled for CPU extensions that are
//! detected at run time (cpufeatures), each entered through a one-line
//! `unsafe` call whose SAFETY comment names the detection that precedes it.
//! Every loop has a portable counterpart it is differential-tested and
//! fuzzed against (docs/security.md lists the tests).
//!
//! | module | extension | what runs there |
//! |---|---|---|
//! | [`ige_ni`] | AES-NI (+ SHA-NI) | AES-256-IGE with the XOR-free chain, the fused decrypt, multi-lane IGE |
//! | [`sha_ni`] | SHA-NI | SHA-256 rounds, one or two lanes |
//! | [`modexp_ifma`] | AVX-512F + IFMA | 2048-bit constant-time modular exponentiation |
#![allow(unsafe_code)]

pub(crate) mod ige_ni;
pub(crate) mod modexp_ifma;
pub(crate) mod sha_ni;
