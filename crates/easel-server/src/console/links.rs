//! Signed links sent by e-mail: verifying a sign-up's address and resetting a password.
//!
//! A link carries its subject and expiry in the clear and an HMAC of them under the
//! instance key (so every node accepts it and nothing is stored). A verification link is
//! bound to the address it was sent to (a changed address makes it void); a reset link to
//! the password hash at sending time, so it works once: setting a password changes the hash.

use easel_core::time::now_ms;
use sha2::{Digest, Sha256};

use super::csrf;
use crate::app::AppState;

/// The query of a signed link.
#[derive(Debug, serde::Deserialize)]
pub struct Signed {
    pub user: String,
    pub expires: i64,
    pub sig: String,
}

fn verify_value(user_id: &str, email: &str, expires: i64) -> String {
    format!("{user_id}\n{email}\n{expires}")
}

/// Binds a reset link to the password it replaces without putting the hash in the URL.
fn reset_value(user_id: &str, password_hash: Option<&str>, expires: i64) -> String {
    let fingerprint = hex::encode(Sha256::digest(password_hash.unwrap_or("").as_bytes()));
    format!("{user_id}\n{fingerprint}\n{expires}")
}

fn url(state: &AppState, path: &str, user_id: &str, expires: i64, sig: &str) -> String {
    format!(
        "{}{path}?user={user_id}&expires={expires}&sig={sig}",
        state.config.public_url().trim_end_matches('/')
    )
}

/// The link that verifies `email` for `user_id`.
pub fn verify_url(state: &AppState, user_id: &str, email: &str) -> String {
    let hours = i64::try_from(state.config.console.verify_link_hours).unwrap_or(72);
    let expires = now_ms().saturating_add(hours.saturating_mul(3_600_000));
    let sig = csrf::token(state, "verify", &verify_value(user_id, email, expires));
    url(state, "/console/verify", user_id, expires, &sig)
}

/// Whether `link` verifies `email` (the user's current address) and has not expired.
pub fn verify_ok(state: &AppState, link: &Signed, email: &str) -> bool {
    link.expires > now_ms()
        && csrf::verify(
            state,
            "verify",
            &verify_value(&link.user, email, link.expires),
            &link.sig,
        )
}

/// The link that lets `user_id` choose a new password, until they do.
pub fn reset_url(state: &AppState, user_id: &str, password_hash: Option<&str>) -> String {
    let minutes = i64::try_from(state.config.console.reset_link_minutes).unwrap_or(60);
    let expires = now_ms().saturating_add(minutes.saturating_mul(60_000));
    let sig = csrf::token(
        state,
        "reset",
        &reset_value(user_id, password_hash, expires),
    );
    url(state, "/console/password/reset", user_id, expires, &sig)
}

/// Whether `link` resets the password whose hash is `password_hash` and has not expired.
pub fn reset_ok(state: &AppState, link: &Signed, password_hash: Option<&str>) -> bool {
    link.expires > now_ms()
        && csrf::verify(
            state,
            "reset",
            &reset_value(&link.user, password_hash, link.expires),
            &link.sig,
        )
}
