//! The worker token format: `<prefix>_worker_<43 base62 random chars><6-char base62 CRC32>`.
//!
//! The same scheme as API keys ([`crate::api_key`]): 256 random bits, an offline checksum,
//! SHA-256 storage. The `worker` infix where a key has its mode keeps the two apart: a
//! worker token is never a valid API key and an API key is never a valid worker token.

use rand::Rng;

use crate::api_key::{ALPHABET, CHECKSUM_LEN, KeyFormatError, NewSecret, RANDOM_LEN, checksum};

/// What stands where an API key has its mode.
pub const INFIX: &str = "worker";
/// Random characters shown after `<prefix>_worker_` in the display prefix.
const DISPLAY_RANDOM_CHARS: usize = 6;

/// Generates a new worker token with the configured key `prefix`.
pub fn generate(prefix: &str) -> NewSecret {
    let mut rng = rand::thread_rng();
    let random: String = (0..RANDOM_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..62)] as char)
        .collect();
    let secret = format!("{prefix}_{INFIX}_{random}{}", checksum(&random));
    NewSecret {
        hash: crate::api_key::hash(&secret),
        display_prefix: format!("{prefix}_{INFIX}_{}", &random[..DISPLAY_RANDOM_CHARS]),
        secret,
    }
}

/// Checks the shape and checksum of `token` without touching storage.
pub fn parse(prefix: &str, token: &str) -> Result<(), KeyFormatError> {
    let body = token
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or(KeyFormatError::Prefix)?
        .strip_prefix(INFIX)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or(KeyFormatError::Mode)?;
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::Body);
    }
    let (random, check) = body.split_at(RANDOM_LEN);
    if checksum(random) != check {
        return Err(KeyFormatError::Checksum);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;

    #[test]
    fn tokens_parse_and_are_never_api_keys() {
        let t = generate("vs");
        assert!(t.secret.starts_with("vs_worker_"));
        assert!(t.secret.starts_with(&t.display_prefix));
        assert_eq!(parse("vs", &t.secret), Ok(()));
        assert_eq!(
            crate::api_key::parse("vs", &t.secret),
            Err(KeyFormatError::Mode)
        );
        let key = crate::api_key::generate("vs", Mode::Live);
        assert_eq!(parse("vs", &key.secret), Err(KeyFormatError::Mode));
        assert_eq!(parse("xx", &t.secret), Err(KeyFormatError::Prefix));
    }

    #[test]
    fn a_mistyped_token_fails_its_checksum() {
        let t = generate("vs").secret;
        let last = t.chars().last().unwrap_or('0');
        let swapped = if last == 'a' { 'b' } else { 'a' };
        let typo = format!("{}{swapped}", &t[..t.len() - 1]);
        assert_eq!(parse("vs", &typo), Err(KeyFormatError::Checksum));
        assert_eq!(parse("vs", &t[..t.len() - 1]), Err(KeyFormatError::Body));
    }
}
