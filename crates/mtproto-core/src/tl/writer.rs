//! The TL writer: appends to a `Vec<u8>`.

use super::reader::{BOOL_FALSE, BOOL_TRUE, VECTOR};

/// TL encoding helpers on a byte vector.
pub trait Writer {
    /// `int` as unsigned (constructor ids).
    fn put_u32(&mut self, v: u32);
    /// `int`.
    fn put_i32(&mut self, v: i32);
    /// `long`.
    fn put_i64(&mut self, v: i64);
    /// `double`.
    fn put_f64(&mut self, v: f64);
    /// Raw bytes (`int128`, `int256`, already-encoded objects).
    fn put_raw(&mut self, v: &[u8]);
    /// `Bool`.
    fn put_bool(&mut self, v: bool);
    /// `bytes` / `string` with the TL length prefix and padding.
    fn put_bytes(&mut self, v: &[u8]);
    /// A boxed `Vector<long>`.
    fn put_vec_i64(&mut self, v: &[i64]);
}

impl Writer for Vec<u8> {
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_f64(&mut self, v: f64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_raw(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
    fn put_bool(&mut self, v: bool) {
        self.put_u32(if v { BOOL_TRUE } else { BOOL_FALSE });
    }
    fn put_bytes(&mut self, v: &[u8]) {
        let header = if v.len() < 254 {
            self.push(v.len() as u8);
            1
        } else {
            // Longer than 2^24 - 1 cannot be expressed; callers never build such
            // a value (frames are capped far below), so truncate the length field.
            let l = (v.len() as u32).to_le_bytes();
            self.extend_from_slice(&[254, l[0], l[1], l[2]]);
            4
        };
        self.extend_from_slice(v);
        let pad = (4 - (header + v.len()) % 4) % 4;
        self.extend_from_slice(&[0u8; 3][..pad]);
    }
    fn put_vec_i64(&mut self, v: &[i64]) {
        self.put_u32(VECTOR);
        self.put_u32(v.len() as u32);
        for x in v {
            self.put_i64(*x);
        }
    }
}
