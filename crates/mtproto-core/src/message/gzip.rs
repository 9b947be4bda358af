//! gzip_packed: inflate with a hard output limit, deflate when it pays.

use super::MessageError;
use crate::tl::schema::GZIP_PACKED;
use crate::tl::{Reader, Writer};
use miniz_oxide::inflate::{TINFLStatus, decompress_to_vec_with_limit};

/// Default limit on inflated size (16 MiB, above any legitimate answer).
pub const DEFAULT_INFLATE_LIMIT: usize = 16 << 20;

/// Whether a body is gzip_packed.
pub fn is_gzip(body: &[u8]) -> bool {
    body.len() >= 4 && body[..4] == GZIP_PACKED.to_le_bytes()
}

/// Inflates a `gzip_packed` object (constructor id included) to at most `limit` bytes.
///
/// # Errors
/// [`MessageError::Tl`] for a malformed object, [`MessageError::BadGzip`] for
/// a bad stream or CRC, [`MessageError::GzipTooLarge`] past the limit.
pub fn unpack(body: &[u8], limit: usize) -> Result<Vec<u8>, MessageError> {
    let mut r = Reader::new(body);
    r.expect(GZIP_PACKED)?;
    let data = r.bytes()?;
    r.finish()?;
    inflate_gzip(data, limit)
}

/// Inflates a gzip stream (RFC 1952) to at most `limit` bytes, checking CRC32 and size.
///
/// # Errors
/// As [`unpack`].
pub fn inflate_gzip(data: &[u8], limit: usize) -> Result<Vec<u8>, MessageError> {
    let bad = MessageError::BadGzip;
    if data.len() < 18 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8 {
        return Err(bad);
    }
    let flags = data[3];
    if flags & 0xe0 != 0 {
        return Err(bad);
    }
    let mut pos = 10;
    if flags & 0x04 != 0 {
        let xlen = *data.get(pos).ok_or(bad)? as usize | (*data.get(pos + 1).ok_or(bad)? as usize) << 8;
        pos += 2 + xlen;
    }
    for flag in [0x08u8, 0x10] {
        if flags & flag != 0 {
            let end = data.get(pos..).ok_or(bad)?.iter().position(|&b| b == 0).ok_or(bad)?;
            pos += end + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    if pos + 8 > data.len() {
        return Err(bad);
    }
    let trailer = &data[data.len() - 8..];
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]) as usize;
    if isize > limit {
        return Err(MessageError::GzipTooLarge { limit });
    }
    let out = decompress_to_vec_with_limit(&data[pos..data.len() - 8], limit).map_err(|e| match e.status {
        TINFLStatus::HasMoreOutput => MessageError::GzipTooLarge { limit },
        _ => bad,
    })?;
    if out.len() != isize || crc32fast::hash(&out) != crc {
        return Err(bad);
    }
    Ok(out)
}

/// Deflates `body` into a `gzip_packed` object appended to `out`, only when
/// that is smaller than `body`. Returns whether it did.
pub fn pack_if_smaller(body: &[u8], out: &mut Vec<u8>) -> bool {
    let deflated = miniz_oxide::deflate::compress_to_vec(body, 6);
    // Header 10 + trailer 8 + TL framing (id 4, length 4, padding up to 3).
    if deflated.len() + 18 + 11 >= body.len() {
        return false;
    }
    let mut gz = Vec::with_capacity(deflated.len() + 18);
    gz.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    gz.extend_from_slice(&deflated);
    gz.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    gz.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.put_u32(GZIP_PACKED);
    out.put_bytes(&gz);
    true
}
