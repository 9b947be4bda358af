//! The performance floor every benchmark reports against: one SHA-256 pass
//! plus one AES-256-IGE pass over the same bytes, built directly on the `sha2`
//! and `aes` crates with the cipher keyed once (the most favourable use of the
//! `aes` crate: no key schedule per message, one block call per block).
//! Not part of the protocol API. The loop is written out here on purpose
//! rather than shared with `ige::encrypt_portable`: the floor must be the
//! fastest form, and sharing the function measurably changed its codegen
//! (31 µs vs 34–42 µs for 16 KiB), which would flatter every ratio.

use aes::Aes256;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use sha2::{Digest, Sha256};

/// A keyed floor measurement.
pub struct Floor {
    cipher: Aes256,
}

impl Default for Floor {
    fn default() -> Self {
        Self { cipher: Aes256::new(&Array::from([7u8; 32])) }
    }
}

impl core::fmt::Debug for Floor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Floor")
    }
}

impl Floor {
    /// As [`Floor::run`], keying the cipher first (as each message must).
    pub fn run_keyed(key: &[u8; 32], data: &mut [u8]) -> [u8; 32] {
        Self { cipher: Aes256::new(&Array::from(*key)) }.run(data)
    }

    /// SHA-256 of `data`, then AES-256-IGE over `data` in place (whole blocks).
    pub fn run(&self, data: &mut [u8]) -> [u8; 32] {
        let digest: [u8; 32] = Sha256::digest(&*data).into();
        let (mut prev_c, mut prev_p) = ([9u8; 16], [9u8; 16]);
        for chunk in data.chunks_exact_mut(16) {
            let mut p = [0u8; 16];
            p.copy_from_slice(chunk);
            let mut x = [0u8; 16];
            for i in 0..16 {
                x[i] = p[i] ^ prev_c[i];
            }
            let mut block = Array::from(x);
            self.cipher.encrypt_block(&mut block);
            for i in 0..16 {
                chunk[i] = block[i] ^ prev_p[i];
            }
            prev_c.copy_from_slice(chunk);
            prev_p = p;
        }
        digest
    }
}
