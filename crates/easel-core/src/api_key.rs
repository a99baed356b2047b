//! The API key format: `<prefix>_<test|live>_<43 base62 random chars><6-char base62 CRC32>`.
//!
//! 43 base62 characters carry 256 bits of randomness. The trailing checksum is CRC-32
//! (IEEE) of the random part, base62-encoded and left-padded to six characters, the scheme
//! GitHub's tokens popularised: a scanner or our own auth path can reject a mistyped or
//! invented key offline, before any database lookup. Keys are stored only as SHA-256; a
//! high-entropy secret needs no slow hash, which keeps argon2 off the request path.

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::mode::Mode;

pub(crate) const ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in a key (⌈256 / log2(62)⌉).
pub const RANDOM_LEN: usize = 43;
/// Checksum characters (62^6 > 2^32).
pub const CHECKSUM_LEN: usize = 6;
/// Random characters shown after `<prefix>_<mode>_` in the display prefix.
const DISPLAY_RANDOM_CHARS: usize = 6;

/// Why a string is not a well-formed key. Each maps to `invalid_api_key` with this reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the key does not start with the expected prefix")]
    Prefix,
    #[error("the key's mode must be `test` or `live`")]
    Mode,
    #[error("the key has the wrong length or characters")]
    Body,
    #[error("the key's checksum does not match; it was mistyped or truncated")]
    Checksum,
}

/// A freshly generated key: the secret (shown once) and what is stored instead of it.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// The full secret, to hand to the caller exactly once.
    pub secret: String,
    /// SHA-256 of the secret, hex-encoded: the only form the store keeps.
    pub hash: String,
    /// The first characters, safe to list and log (`vs_live_Ab3xQ9`).
    pub display_prefix: String,
}

/// Whether a configured key prefix is usable: 1–12 lower-case letters or digits.
///
/// No underscore, so the prefix/mode/body split is unambiguous.
pub fn prefix_is_valid(prefix: &str) -> bool {
    (1..=12).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Generates a new key for `mode` with the configured `prefix`.
pub fn generate(prefix: &str, mode: Mode) -> NewSecret {
    let mut rng = rand::thread_rng();
    let random: String = (0..RANDOM_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..62)] as char)
        .collect();
    let secret = format!("{prefix}_{}_{random}{}", mode.as_str(), checksum(&random));
    let display_prefix = format!(
        "{prefix}_{}_{}",
        mode.as_str(),
        &random[..DISPLAY_RANDOM_CHARS]
    );
    NewSecret {
        hash: hash(&secret),
        secret,
        display_prefix,
    }
}

/// Checks the shape and checksum of `secret` without touching storage; returns its mode.
pub fn parse(prefix: &str, secret: &str) -> Result<Mode, KeyFormatError> {
    let rest = secret
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or(KeyFormatError::Prefix)?;
    let (mode, body) = rest.split_once('_').ok_or(KeyFormatError::Mode)?;
    let mode = Mode::parse(mode).ok_or(KeyFormatError::Mode)?;
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::Body);
    }
    let (random, check) = body.split_at(RANDOM_LEN);
    if checksum(random) != check {
        return Err(KeyFormatError::Checksum);
    }
    Ok(mode)
}

/// SHA-256 of a secret, hex-encoded, as stored and looked up.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Base62 CRC-32 of `random`, left-padded with `0` to six characters.
pub(crate) fn checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let k = generate("vs", Mode::Live);
        assert!(k.secret.starts_with("vs_live_"));
        assert_eq!(k.secret.len(), "vs_live_".len() + RANDOM_LEN + CHECKSUM_LEN);
        assert_eq!(parse("vs", &k.secret), Ok(Mode::Live));
        assert_eq!(k.hash.len(), 64);
        assert!(k.secret.starts_with(&k.display_prefix));
        assert_eq!(
            parse("vs", &generate("vs", Mode::Test).secret),
            Ok(Mode::Test)
        );
    }

    #[test]
    fn checksum_matches_a_known_value() {
        // CRC-32 (IEEE) of "123456789" is the standard check value 0xCBF43926 = 3421780262,
        // which is "3jZRME" in this base62 alphabet (computed independently with Python's zlib).
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(checksum("123456789"), "3jZRME");
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let k = generate("vs", Mode::Test);
        let start = "vs_test_".len();
        for i in start..k.secret.len() {
            let mut bytes = k.secret.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let mutated = String::from_utf8(bytes).unwrap_or_default();
            assert_eq!(
                parse("vs", &mutated),
                Err(KeyFormatError::Checksum),
                "position {i}"
            );
        }
    }

    #[test]
    fn malformed_keys_are_classified() {
        let k = generate("vs", Mode::Test);
        assert_eq!(parse("ez", &k.secret), Err(KeyFormatError::Prefix));
        assert_eq!(
            parse("vs", &k.secret.replace("_test_", "_prod_")),
            Err(KeyFormatError::Mode)
        );
        assert_eq!(
            parse("vs", &k.secret[..k.secret.len() - 1]),
            Err(KeyFormatError::Body)
        );
        assert_eq!(
            parse("vs", &format!("{}!", &k.secret[..k.secret.len() - 1])),
            Err(KeyFormatError::Body)
        );
        assert_eq!(parse("vs", ""), Err(KeyFormatError::Prefix));
        assert_eq!(parse("vs", "vs_test_é"), Err(KeyFormatError::Body));
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(prefix_is_valid("vs"));
        assert!(prefix_is_valid("easel2"));
        assert!(!prefix_is_valid(""));
        assert!(!prefix_is_valid("v_s"));
        assert!(!prefix_is_valid("VS"));
        assert!(!prefix_is_valid("thisiswaytoolong"));
        assert!(prefix_is_valid("abcdefghijk1"));
        assert!(!prefix_is_valid("abcdefghijk12"));
        assert!(prefix_is_valid("v"));
    }
}
