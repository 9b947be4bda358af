//! gzip_packed: inflate with a hard output limit and a shared budget,
//! deflate when it pays.
//!
//! Telegram's own clients put gzip (RFC 1952) streams inside `gzip_packed`;
//! some others (ferogram among them) put zlib (RFC 1950) streams there, and
//! Telegram's servers accept both, so [`unpack_within`] does too.

use super::MessageError;
use crate::tl::schema::GZIP_PACKED;
use crate::tl::{Reader, Writer};
use miniz_oxide::inflate::{
    DecompressError, TINFLStatus, decompress_to_vec_with_limit, decompress_to_vec_zlib_with_limit,
};

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
    inflate_gzip(stream(body)?, limit)
}

/// The stream inside a `gzip_packed` object (constructor id included).
///
/// # Errors
/// [`MessageError::Tl`] for a malformed object.
pub fn stream(body: &[u8]) -> Result<&[u8], MessageError> {
    let mut r = Reader::new(body);
    r.expect(GZIP_PACKED)?;
    let data = r.bytes()?;
    r.finish()?;
    Ok(data)
}

/// The inflated size a `gzip_packed` object declares: a gzip stream's
/// ISIZE trailer; 0 for a zlib stream (which declares none) or anything
/// malformed (which inflates to nothing).
pub fn declared_len(body: &[u8]) -> usize {
    match stream(body) {
        Ok(data) if data.len() >= 18 && data[0] == 0x1f && data[1] == 0x8b => {
            let t = &data[data.len() - 4..];
            u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize
        }
        _ => 0,
    }
}

/// Inflates a `gzip_packed` object holding a gzip or a zlib stream to at
/// most `limit` bytes and at most `*budget`, and takes from `*budget` every
/// byte it inflated, also when the stream then fails (so one budget bounds
/// the work of many objects, honest or not).
///
/// # Errors
/// As [`unpack`]; [`MessageError::GzipTooLarge`] names the smaller of the
/// two limits.
pub fn unpack_within(body: &[u8], limit: usize, budget: &mut usize) -> Result<Vec<u8>, MessageError> {
    let data = stream(body)?;
    let limit = limit.min(*budget);
    let (result, produced) =
        if data.first() == Some(&0x1f) { inflate_gzip_counted(data, limit) } else { inflate_zlib(data, limit) };
    *budget = budget.saturating_sub(produced);
    result
}

/// Inflates a zlib stream (RFC 1950, Adler-32 checked by miniz_oxide);
/// returns the result and how many bytes were produced.
fn inflate_zlib(data: &[u8], limit: usize) -> (Result<Vec<u8>, MessageError>, usize) {
    // CMF: deflate with a window of at most 32 KiB; the header checksum.
    let header_ok = data.len() >= 6
        && data[0] & 0x0f == 8
        && data[0] >> 4 <= 7
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    if !header_ok {
        return (Err(MessageError::BadGzip), 0);
    }
    match decompress_to_vec_zlib_with_limit(data, limit) {
        Ok(out) => {
            let n = out.len();
            (Ok(out), n)
        }
        Err(DecompressError { status, output }) => {
            let err = if status == TINFLStatus::HasMoreOutput {
                MessageError::GzipTooLarge { limit }
            } else {
                MessageError::BadGzip
            };
            (Err(err), output.len())
        }
    }
}

/// Inflates a gzip stream (RFC 1952) to at most `limit` bytes, checking CRC32 and size.
///
/// # Errors
/// As [`unpack`].
pub fn inflate_gzip(data: &[u8], limit: usize) -> Result<Vec<u8>, MessageError> {
    inflate_gzip_counted(data, limit).0
}

/// [`inflate_gzip`], and how many bytes it produced (also on failure).
fn inflate_gzip_counted(data: &[u8], limit: usize) -> (Result<Vec<u8>, MessageError>, usize) {
    let bad = (Err(MessageError::BadGzip), 0);
    if data.len() < 18 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8 {
        return bad;
    }
    let flags = data[3];
    if flags & 0xe0 != 0 {
        return bad;
    }
    let mut pos = 10;
    if flags & 0x04 != 0 {
        let (Some(&lo), Some(&hi)) = (data.get(pos), data.get(pos + 1)) else { return bad };
        pos += 2 + (lo as usize | (hi as usize) << 8);
    }
    for flag in [0x08u8, 0x10] {
        if flags & flag != 0 {
            let Some(end) = data.get(pos..).and_then(|d| d.iter().position(|&b| b == 0)) else { return bad };
            pos += end + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    if pos + 8 > data.len() {
        return bad;
    }
    let trailer = &data[data.len() - 8..];
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]) as usize;
    if isize > limit {
        return (Err(MessageError::GzipTooLarge { limit }), 0);
    }
    // The declared size bounds the output: a stream that runs longer is bad.
    match decompress_to_vec_with_limit(&data[pos..data.len() - 8], isize) {
        Ok(out) => {
            let n = out.len();
            if n != isize || crc32fast::hash(&out) != crc { (Err(MessageError::BadGzip), n) } else { (Ok(out), n) }
        }
        Err(DecompressError { output, .. }) => (Err(MessageError::BadGzip), output.len()),
    }
}

/// Deflates `body` into a `gzip_packed` object appended to `out`, only when
/// that is smaller than `body`. Returns whether it did.
///
/// # Examples
///
/// ```
/// use mtproto_core::message::gzip;
/// let body = vec![b'a'; 4096];
/// let mut packed = Vec::new();
/// assert!(gzip::pack_if_smaller(&body, &mut packed));
/// assert!(gzip::is_gzip(&packed) && packed.len() < 100);
/// assert_eq!(gzip::unpack(&packed, 1 << 20)?, body);
/// assert!(gzip::unpack(&packed, 100).is_err(), "over the inflate limit");
/// # Ok::<(), mtproto_core::message::MessageError>(())
/// ```
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
