//! Password hashing: argon2id with OWASP's minimum parameters (m = 19 MiB, t = 2, p = 1).
//!
//! Only ever used for human logins (operators, console users), never for API keys. Callers
//! on an async runtime must run these in `spawn_blocking`: a hash takes tens of milliseconds.

use argon2::password_hash::{Output, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::DomainError;

/// Shortest password accepted (NIST SP 800-63B's minimum for user-chosen secrets).
pub const MIN_LEN: usize = 8;
/// Longest accepted: argon2 takes any length, but unbounded input is a DoS vector.
pub const MAX_LEN: usize = 256;

fn params() -> Params {
    // The parameters are compile-time constants inside the documented ranges, so `new`
    // cannot fail; fall back to the crate default (also argon2id, same parameters) anyway.
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

/// Argon2's working memory (19 MiB at our parameters), kept between hashes.
///
/// Allocating it per hash costs a page fault per 4 KiB on every login, and glibc keeps a
/// freed block of that size in the freeing thread's arena, so hashes spread over many
/// threads pin one block per arena. A caller that owns a few of these and reuses them has
/// neither cost.
pub struct Memory(Vec<Block>);

impl Memory {
    pub fn new() -> Memory {
        Memory(vec![Block::default(); params().block_count()])
    }

    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        if self.0.len() < params.block_count() {
            // A hash stored with a larger memory cost than ours (an older setting).
            self.0.resize(params.block_count(), Block::default());
        }
        &mut self.0[..params.block_count()]
    }
}

impl Default for Memory {
    fn default() -> Memory {
        Memory::new()
    }
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> Result<String, DomainError> {
    hash_in(password, &mut Memory::new())
}

/// [`hash`], working in `memory`.
pub fn hash_in(password: &str, memory: &mut Memory) -> Result<String, DomainError> {
    if password.chars().count() < MIN_LEN || password.len() > MAX_LEN {
        return Err(DomainError::invalid(
            "password",
            "password_invalid",
            format!("The password must be {MIN_LEN} to {MAX_LEN} characters long."),
        ));
    }
    let invalid = |e: &dyn std::fmt::Display| {
        DomainError::invalid(
            "password",
            "password_invalid",
            format!("The password could not be hashed: {e}."),
        )
    };
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| invalid(&e))?;
    let params = params();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            memory.blocks(&params),
        )
        .map_err(|e| invalid(&e))?;
    let output = Output::new(&out).map_err(|e| invalid(&e))?;
    Ok(PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(&params).map_err(|e| invalid(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string())
}

/// Whether `password` matches the stored PHC `hash`. A malformed hash never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    verify_in(password, hash, &mut Memory::new())
}

/// [`verify`], working in `memory`, with the parameters the hash was stored with.
pub fn verify_in(password: &str, hash: &str, memory: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            memory.blocks(&params),
        )
        .is_ok()
        // Output's equality is constant-time.
        && Output::new(&out).is_ok_and(|o| o == expected)
}

/// A random password for generated logins: 20 characters from an unambiguous alphabet.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let h = hash("correct horse").unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("correct horse", "not a hash"));
    }

    /// Hashes made here verify with the argon2 crate's own verifier and the reverse, with
    /// other parameters too (a smaller and a larger memory cost than ours), in one reused
    /// working memory.
    #[test]
    fn interoperates_with_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Memory::new();
        let ours = hash_in("correct horse", &mut memory).unwrap_or_default();
        let parsed = PasswordHash::new(&ours).expect("PHC string");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horsf", &parsed)
                .is_err()
        );
        for m in [8 * 1024, 19 * 1024, 32 * 1024] {
            let params = Params::new(m, 1, 1, None).expect("params");
            let salt = SaltString::generate(&mut OsRng);
            let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"battery staple", &salt)
                .expect("hash")
                .to_string();
            assert!(verify_in("battery staple", &theirs, &mut memory), "m={m}");
            assert!(!verify_in("battery stapler", &theirs, &mut memory), "m={m}");
        }
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x10, params())
            .hash_password(b"battery staple", &SaltString::generate(&mut OsRng))
            .expect("hash")
            .to_string();
        assert!(verify_in("battery staple", &argon2i, &mut memory));
        assert!(verify_in("correct horse", &ours, &mut memory));
    }

    #[test]
    fn rejects_short_and_huge_passwords() {
        assert!(hash("short").is_err());
        assert!(hash(&"x".repeat(MAX_LEN + 1)).is_err());
    }

    /// 8 characters (not bytes) is the least, 256 bytes (not characters) the most.
    #[test]
    fn lengths_are_accepted_exactly_at_their_bounds() {
        let mut memory = Memory::default();
        let accepted = |p: &str, memory: &mut Memory| {
            let h = hash_in(p, memory).unwrap_or_else(|e| panic!("{} bytes: {e}", p.len()));
            assert!(verify_in(p, &h, memory), "{} bytes", p.len());
        };
        accepted(&"x".repeat(MIN_LEN), &mut memory);
        accepted(&"é".repeat(MIN_LEN), &mut memory);
        accepted(&"x".repeat(MAX_LEN), &mut memory);
        accepted(&"é".repeat(MAX_LEN / 2), &mut memory);
        for refused in [
            "x".repeat(MIN_LEN - 1),
            // 14 bytes, but 7 characters.
            "é".repeat(MIN_LEN - 1),
            "x".repeat(MAX_LEN + 1),
            // 129 characters, but 258 bytes.
            "é".repeat(MAX_LEN / 2 + 1),
            String::new(),
        ] {
            assert!(
                hash_in(&refused, &mut memory).is_err(),
                "{} bytes",
                refused.len()
            );
        }
    }

    #[test]
    fn generated_passwords_differ() {
        let a = generate();
        assert_eq!(a.len(), 20);
        assert_ne!(a, generate());
    }
}
