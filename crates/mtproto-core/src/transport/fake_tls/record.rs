//! TLS records after the handshake: `17 03 03 len` application data, and
//! the one-byte ChangeCipherSpec `14 03 03 00 01 01`.

use crate::transport::TransportError;

/// The ChangeCipherSpec record a client sends before its first application-data record.
pub const CHANGE_CIPHER_SPEC: [u8; 6] = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01];

/// Most payload bytes per application-data record we write (as TDLib and tdesktop do).
pub const MAX_WRITE_PAYLOAD: usize = 2878;

/// Most payload bytes per record we read: 2¹⁴ plus the 2,048 bytes of
/// expansion TLS allows a ciphertext record.
pub const MAX_READ_PAYLOAD: usize = (1 << 14) + 2048;

const APPLICATION_DATA: u8 = 0x17;
const CHANGE_CIPHER: u8 = 0x14;

/// Appends `payload` as application-data records of at most
/// [`MAX_WRITE_PAYLOAD`] bytes each (nothing for an empty payload).
pub fn write_records(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + payload.len().div_ceil(MAX_WRITE_PAYLOAD) * 5);
    for chunk in payload.chunks(MAX_WRITE_PAYLOAD) {
        out.extend_from_slice(&[APPLICATION_DATA, 0x03, 0x03]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Inside an application-data record: this many bytes still to come.
    Data(usize),
    /// Inside a ChangeCipherSpec record: its one byte is still to come.
    ChangeCipher,
}

/// An incremental reader of application-data records: input may be split
/// or merged at any byte; payload bytes are handed on as they arrive, so
/// nothing but an unfinished 5-byte header is buffered. ChangeCipherSpec
/// records (payload `01`) are skipped; anything else is refused.
#[derive(Debug, Clone, Default)]
pub struct RecordReader {
    header: [u8; 5],
    have: usize,
    body: Option<Body>,
}

impl RecordReader {
    /// A reader at a record boundary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of an unfinished record header held (0..=4).
    pub fn buffered(&self) -> usize {
        self.have
    }

    /// Whether the reader is in the middle of a record (header or payload).
    pub fn in_record(&self) -> bool {
        self.have > 0 || self.body.is_some()
    }

    /// Reads `input`, appending the application-data payload bytes to `out`.
    ///
    /// # Errors
    /// [`TransportError::BadTlsRecord`] for a record that is neither
    /// application data nor ChangeCipherSpec, has another version than
    /// 0303, or announces more than [`MAX_READ_PAYLOAD`] bytes. The stream
    /// must be closed.
    pub fn read(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        while !input.is_empty() {
            match self.body {
                Some(Body::Data(left)) => {
                    let n = left.min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.body = (left > n).then_some(Body::Data(left - n));
                }
                Some(Body::ChangeCipher) => {
                    if input[0] != 0x01 {
                        return Err(TransportError::BadTlsRecord);
                    }
                    input = &input[1..];
                    self.body = None;
                }
                None => {
                    let n = (5 - self.have).min(input.len());
                    self.header[self.have..self.have + n].copy_from_slice(&input[..n]);
                    self.have += n;
                    input = &input[n..];
                    if self.have < 5 {
                        break;
                    }
                    self.have = 0;
                    let h = self.header;
                    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
                    if h[1..3] != [0x03, 0x03] || len > MAX_READ_PAYLOAD {
                        return Err(TransportError::BadTlsRecord);
                    }
                    self.body = match (h[0], len) {
                        (APPLICATION_DATA, 0) => None,
                        (APPLICATION_DATA, len) => Some(Body::Data(len)),
                        (CHANGE_CIPHER, 1) => Some(Body::ChangeCipher),
                        _ => return Err(TransportError::BadTlsRecord),
                    };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_split_anywhere() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let mut wire = CHANGE_CIPHER_SPEC.to_vec();
        write_records(&payload, &mut wire);
        write_records(&[], &mut wire);
        write_records(&payload[..3], &mut wire);
        // 10,000 bytes: three full records and one of 1,366.
        assert_eq!(wire.len(), 6 + 10_000 + 4 * 5 + 3 + 5);
        assert_eq!(&wire[6..11], &[0x17, 3, 3, 0x0b, 0x3e]);
        for step in [1, 2, 5, 7, 2883, wire.len()] {
            let mut r = RecordReader::new();
            let mut out = Vec::new();
            for chunk in wire.chunks(step) {
                r.read(chunk, &mut out).unwrap();
            }
            assert!(!r.in_record());
            assert_eq!(&out[..10_000], &payload[..]);
            assert_eq!(&out[10_000..], &payload[..3]);
        }
    }

    #[test]
    fn refusals() {
        let bad: [&[u8]; 6] = [
            &[0x15, 3, 3, 0, 2, 2, 40],      // alert
            &[0x16, 3, 3, 0, 4, 0, 0, 0, 0], // handshake after the handshake
            &[0x17, 3, 1, 0, 1, 0],          // wrong version
            &[0x17, 3, 3, 0x48, 0x01],       // 18,433 bytes announced
            &[0x14, 3, 3, 0, 2, 1, 1],       // ChangeCipherSpec of two bytes
            &[0x14, 3, 3, 0, 1, 2],          // ChangeCipherSpec that is not 01
        ];
        for b in bad {
            let mut out = Vec::new();
            assert_eq!(RecordReader::new().read(b, &mut out), Err(TransportError::BadTlsRecord), "{b:02x?}");
        }
        // The largest allowed record is accepted.
        let mut r = RecordReader::new();
        let mut out = Vec::new();
        r.read(&[0x17, 3, 3, 0x48, 0x00], &mut out).unwrap();
        assert!(r.in_record());
    }
}
