//! MTProxy secrets, parsed as TDLib parses them: hex, base64url or base64;
//! 16 bytes (obfuscated2), `dd` + 16 bytes (obfuscated2 over the padded
//! intermediate transport), `ee` + 16 bytes + a domain (fake-TLS, which
//! always carries padded intermediate inside).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use core::fmt;

/// The most bytes of a fake-TLS domain (a DNS name is at most 253).
pub const MAX_DOMAIN_LEN: usize = 253;

/// A parsed MTProxy secret.
#[derive(Clone, PartialEq, Eq)]
pub enum ProxySecret {
    /// 16 bytes: obfuscated2, the transport of the client's choice inside.
    Obfuscated([u8; 16]),
    /// `dd` + 16 bytes: obfuscated2 with the padded intermediate transport.
    Padded([u8; 16]),
    /// `ee` + 16 bytes + domain: fake-TLS to `domain`, padded intermediate inside.
    FakeTls {
        /// The 16-byte key.
        key: [u8; 16],
        /// The domain the TLS hello names (SNI).
        domain: String,
    },
}

/// Why a secret was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// Neither hex nor base64 (url-safe or standard, padded or not).
    NotHexOrBase64,
    /// The decoded bytes are no known form (16, `dd` + 16, `ee` + 16 + domain).
    BadLength {
        /// Bytes decoded.
        len: usize,
    },
    /// A fake-TLS domain that is empty, too long or not printable ASCII.
    BadDomain,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHexOrBase64 => f.write_str("an MTProxy secret must be hex, base64url or base64"),
            Self::BadLength { len } => write!(
                f,
                "an MTProxy secret holds 16 bytes, dd + 16 bytes or ee + 16 bytes + a domain; this one holds {len} bytes"
            ),
            Self::BadDomain => f.write_str("the fake-TLS (ee) secret's domain is empty, too long or not ASCII"),
        }
    }
}

impl core::error::Error for SecretError {}

impl fmt::Debug for ProxySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is a shared secret: never printed.
        match self {
            Self::Obfuscated(_) => f.write_str("ProxySecret::Obfuscated(..)"),
            Self::Padded(_) => f.write_str("ProxySecret::Padded(..)"),
            Self::FakeTls { domain, .. } => write!(f, "ProxySecret::FakeTls {{ domain: {domain:?}, .. }}"),
        }
    }
}

impl ProxySecret {
    /// Parses a secret in any form TDLib accepts.
    ///
    /// # Errors
    /// [`SecretError`] says what is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use mtproto_core::transport::ProxySecret;
    /// let secret = ProxySecret::parse("dd0123456789abcdef0123456789abcdef")?;
    /// assert!(matches!(secret, ProxySecret::Padded(_)));
    /// assert_eq!(secret.key()[0], 0x01);
    /// let tls = ProxySecret::parse("ee0123456789abcdef0123456789abcdef6578616d706c652e636f6d")?;
    /// assert!(matches!(tls, ProxySecret::FakeTls { ref domain, .. } if domain == "example.com"));
    /// assert!(ProxySecret::parse("not a secret").is_err());
    /// # Ok::<(), mtproto_core::transport::SecretError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = decode_hex(text)
            .or_else(|| [URL_SAFE_NO_PAD, URL_SAFE, STANDARD_NO_PAD, STANDARD].iter().find_map(|e| e.decode(text).ok()))
            .ok_or(SecretError::NotHexOrBase64)?;
        Self::from_bytes(&bytes)
    }

    /// The secret from its decoded bytes.
    ///
    /// # Errors
    /// [`SecretError::BadLength`], [`SecretError::BadDomain`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        let key = |b: &[u8]| -> Option<[u8; 16]> { b.get(..16)?.try_into().ok() };
        let bad = SecretError::BadLength { len: bytes.len() };
        match bytes {
            _ if bytes.len() == 16 => Ok(Self::Obfuscated(key(bytes).ok_or(bad)?)),
            [0xdd, rest @ ..] if rest.len() == 16 => Ok(Self::Padded(key(rest).ok_or(bad)?)),
            [0xee, rest @ ..] if rest.len() > 16 => {
                let domain = &rest[16..];
                if domain.len() > MAX_DOMAIN_LEN || !domain.iter().all(|c| c.is_ascii_graphic()) {
                    return Err(SecretError::BadDomain);
                }
                let domain = String::from_utf8(domain.to_vec()).map_err(|_| SecretError::BadDomain)?;
                Ok(Self::FakeTls { key: key(rest).ok_or(bad)?, domain })
            }
            _ => Err(bad),
        }
    }

    /// The 16-byte key.
    pub fn key(&self) -> &[u8; 16] {
        match self {
            Self::Obfuscated(k) | Self::Padded(k) | Self::FakeTls { key: k, .. } => k,
        }
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = [0x11; 16];

    #[test]
    fn every_form_tdlib_accepts() {
        assert_eq!(ProxySecret::parse(&"11".repeat(16)), Ok(ProxySecret::Obfuscated(KEY)));
        assert_eq!(ProxySecret::parse(&format!("dd{}", "11".repeat(16))), Ok(ProxySecret::Padded(KEY)));
        let ee = [&[0xee][..], &KEY, b"example.com"].concat();
        let fake = ProxySecret::FakeTls { key: KEY, domain: "example.com".into() };
        let hex: String = ee.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(ProxySecret::parse(&hex), Ok(fake.clone()));
        assert_eq!(ProxySecret::parse(&URL_SAFE_NO_PAD.encode(&ee)), Ok(fake.clone()));
        assert_eq!(ProxySecret::parse(&STANDARD.encode(&ee)), Ok(fake.clone()));
        // base64 with `+` and `/`, and url-safe with `-` and `_`.
        let odd = [0xfbu8; 16];
        assert_eq!(ProxySecret::parse(&STANDARD.encode(odd)), Ok(ProxySecret::Obfuscated(odd)));
        assert_eq!(ProxySecret::parse(&URL_SAFE_NO_PAD.encode(odd)), Ok(ProxySecret::Obfuscated(odd)));
        assert_eq!(fake.key(), &KEY);
        assert!(!format!("{fake:?}").contains("11"), "the key is never printed");
    }

    #[test]
    fn refusals_are_typed() {
        assert_eq!(ProxySecret::parse("zz!"), Err(SecretError::NotHexOrBase64));
        assert_eq!(ProxySecret::parse(&"11".repeat(15)), Err(SecretError::BadLength { len: 15 }));
        // Sixteen bytes are a plain secret, whatever the first; `dd` with 17
        // bytes, `ee` without a domain and an unknown prefix are refused.
        let mut plain = [0x11; 16];
        plain[0] = 0xdd;
        assert_eq!(ProxySecret::parse(&format!("dd{}", "11".repeat(15))), Ok(ProxySecret::Obfuscated(plain)));
        assert_eq!(ProxySecret::parse(&format!("dd{}", "11".repeat(17))), Err(SecretError::BadLength { len: 18 }));
        assert_eq!(ProxySecret::from_bytes(&[&[0xee][..], &KEY].concat()), Err(SecretError::BadLength { len: 17 }));
        assert_eq!(ProxySecret::from_bytes(&[&[0xaa][..], &KEY].concat()), Err(SecretError::BadLength { len: 17 }));
        assert_eq!(ProxySecret::from_bytes(&[&[0xee][..], &KEY, b"bad domain"].concat()), Err(SecretError::BadDomain));
        let long = [&[0xee][..], &KEY, &[b'a'; 254]].concat();
        assert_eq!(ProxySecret::from_bytes(&long), Err(SecretError::BadDomain));
    }
}
