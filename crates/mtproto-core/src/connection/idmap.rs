//! Hash maps keyed by msg_ids and handles. The keys are either chosen by us
//! or authenticated, and the maps are bounded, so a fast multiplicative hash
//! replaces SipHash (which showed up in profiles of the request path).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A Fibonacci-multiplication hasher for integer keys.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }

    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
}

/// The hasher builder.
pub type IdBuild = BuildHasherDefault<IdHasher>;
/// A map keyed by ids.
pub type IdMap<K, V> = HashMap<K, V, IdBuild>;
/// A set of ids.
pub type IdSet = HashSet<i64, IdBuild>;
