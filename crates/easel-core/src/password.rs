//! Password hashing: argon2id with OWASP's minimum parameters (m = 19 MiB, t = 2, p = 1).
//!
//! Only ever used for human logins (operators, console users), never for API keys. Callers
//! on an async runtime must run these in `spawn_blocking`: a hash takes tens of milliseconds.

use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::DomainError;

/// Shortest password accepted (NIST SP 800-63B's minimum for user-chosen secrets).
pub const MIN_LEN: usize = 8;
/// Longest accepted: argon2 takes any length, but unbounded input is a DoS vector.
pub const MAX_LEN: usize = 256;

fn argon2id() -> Argon2<'static> {
    // The parameters are compile-time constants inside the documented ranges, so `new`
    // cannot fail; fall back to the crate default (also argon2id, same parameters) anyway.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> Result<String, DomainError> {
    if password.chars().count() < MIN_LEN || password.len() > MAX_LEN {
        return Err(DomainError::invalid(
            "password",
            "password_invalid",
            format!("The password must be {MIN_LEN} to {MAX_LEN} characters long."),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    argon2id()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            DomainError::invalid(
                "password",
                "password_invalid",
                format!("The password could not be hashed: {e}."),
            )
        })
}

/// Whether `password` matches the stored PHC `hash`. A malformed hash never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2id()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
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

    #[test]
    fn rejects_short_and_huge_passwords() {
        assert!(hash("short").is_err());
        assert!(hash(&"x".repeat(MAX_LEN + 1)).is_err());
    }

    #[test]
    fn generated_passwords_differ() {
        let a = generate();
        assert_eq!(a.len(), 20);
        assert_ne!(a, generate());
    }
}
