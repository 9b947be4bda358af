//! gzip_packed: inflate with a hard output limit and a shared budget,
//! deflate when it pays.
//!
//! Telegram's own clients put gzip (RFC 1952) streams inside `gzip_packed`;
//! some others (ferogram among them) put zlib (RFC 1950) streams there, and
//! Telegram's servers accept both, so [`unpack_within`] does too.

use super::MessageError;
use crate::tl::schema::GZIP_PACKED;
use crate::tl::{Reader, Writer};
use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};
use miniz_oxide::inflate::{DecompressError, TINFLStatus, decompress_to_vec_zlib_with_limit};

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
    let mut out = Vec::new();
    unpack_within_into(body, limit, budget, &mut out)?;
    Ok(out)
}

/// [`unpack_within`] into a caller's buffer (cleared first; a reused one
/// with room for the result costs no allocation): the inflated object is
/// `out` on success.
///
/// # Errors
/// As [`unpack_within`].
pub fn unpack_within_into(
    body: &[u8],
    limit: usize,
    budget: &mut usize,
    out: &mut Vec<u8>,
) -> Result<(), MessageError> {
    out.clear();
    let data = stream(body)?;
    let limit = limit.min(*budget);
    let (result, produced) = if data.first() == Some(&0x1f) {
        inflate_gzip_into(data, limit, out)
    } else {
        let (r, n) = inflate_zlib(data, limit);
        (r.map(|v| out.extend_from_slice(&v)), n)
    };
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
    let mut out = Vec::new();
    inflate_gzip_into(data, limit, &mut out).0.map(|()| out)
}

/// [`inflate_gzip`] into `out` (cleared first), and how many bytes it
/// produced (also on failure). The inflater's state is kept per thread.
fn inflate_gzip_into(data: &[u8], limit: usize, out: &mut Vec<u8>) -> (Result<(), MessageError>, usize) {
    out.clear();
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
    let produced = INFLATE.with(|cell| {
        let mut fresh = None;
        let mut kept = cell.try_borrow_mut();
        let state = match kept.as_deref_mut() {
            Ok(s) => s,
            Err(_) => &mut fresh,
        };
        let inflater = state.get_or_insert_with(Box::default);
        inflate_raw(inflater, &data[pos..data.len() - 8], isize, out)
    });
    match produced {
        Ok(n) if n == isize && crc32fast::hash(out) == crc => (Ok(()), n),
        Ok(n) | Err(n) => {
            out.clear();
            (Err(MessageError::BadGzip), n)
        }
    }
}

thread_local! {
    /// The raw-deflate inflater, kept per thread (about 11 KB, which
    /// `decompress_to_vec` would allocate for every message).
    static INFLATE: core::cell::RefCell<Option<Box<DecompressorOxide>>> = const { core::cell::RefCell::new(None) };
}

/// Inflates the raw deflate stream `input` into `out` (empty), at most `max`
/// bytes: `Ok(n)` when the stream ended within them, `Err(n)` otherwise
/// (malformed, or running past `max`), `n` the bytes produced either way.
/// The output grows as it is produced (from the input's size, doubling), so
/// a stream that declares much and yields little costs little.
fn inflate_raw(
    inflater: &mut DecompressorOxide,
    mut input: &[u8],
    max: usize,
    out: &mut Vec<u8>,
) -> Result<usize, usize> {
    use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    inflater.init();
    out.resize(input.len().saturating_mul(2).clamp(1, max.max(1)), 0);
    let mut written = 0;
    loop {
        let (status, consumed, produced) =
            decompress(inflater, input, &mut out[..], written, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF);
        written += produced;
        match status {
            TINFLStatus::Done => {
                out.truncate(written);
                return if written <= max { Ok(written) } else { Err(written) };
            }
            TINFLStatus::HasMoreOutput if consumed <= input.len() && out.len() < max => {
                input = &input[consumed..];
                let grown = out.len().saturating_mul(2).min(max);
                out.resize(grown, 0);
            }
            _ => {
                out.truncate(written);
                return Err(written);
            }
        }
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
    // The deflated stream must be shorter than this for the whole
    // gzip_packed to be smaller: header 10 + trailer 8 + TL framing (id 4,
    // length 4, padding up to 3).
    let Some(limit) = body.len().checked_sub(18 + 11).filter(|l| *l > 0) else {
        return false;
    };
    DEFLATE.with(|cell| {
        // Never re-entered (nothing below calls back); a fresh state otherwise.
        let mut fresh = Deflate::default();
        let mut kept = cell.try_borrow_mut();
        let state = match kept.as_deref_mut() {
            Ok(s) => s,
            Err(_) => &mut fresh,
        };
        state.pack(body, limit, out)
    })
}

/// A deflate state and output buffer kept per thread: miniz_oxide's
/// compressor is a few hundred kilobytes, which `compress_to_vec` would
/// allocate (and zero) for every message.
#[derive(Default)]
struct Deflate {
    compressor: Option<Box<CompressorOxide>>,
    deflated: Vec<u8>,
}

/// Most output capacity a thread keeps between messages.
const DEFLATE_KEPT: usize = 1 << 20;

thread_local! {
    static DEFLATE: core::cell::RefCell<Deflate> = core::cell::RefCell::new(Deflate::default());
}

impl Deflate {
    /// Deflates `body` (level 6) and, when the stream is shorter than
    /// `limit`, appends the gzip_packed object to `out`.
    fn pack(&mut self, body: &[u8], limit: usize, out: &mut Vec<u8>) -> bool {
        let compressor = self
            .compressor
            .get_or_insert_with(|| Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(6, 0, 0))));
        compressor.reset();
        // The gzip stream is built here: header, deflate stream, trailer.
        const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        self.deflated.clear();
        self.deflated.extend_from_slice(&HEADER);
        self.deflated.resize(HEADER.len() + limit, 0);
        let (status, _, written) = compress(compressor, body, &mut self.deflated[HEADER.len()..], TDEFLFlush::Finish);
        let smaller = status == TDEFLStatus::Done && written < limit;
        if smaller {
            self.deflated.truncate(HEADER.len() + written);
            self.deflated.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
            self.deflated.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.put_u32(GZIP_PACKED);
            out.put_bytes(&self.deflated);
        }
        if self.deflated.capacity() > DEFLATE_KEPT {
            self.deflated = Vec::new();
        }
        smaller
    }
}
