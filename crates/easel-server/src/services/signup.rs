//! Self-service sign-up (clause 1): the checks a new person and account must pass, the
//! account with its owner on the default plan (test mode only until the owner's e-mail is
//! verified, and, where the operator reviews sign-ups, until approved), and a first test key.

use easel_core::account::LiveBlock;
use easel_core::mode::Mode;
use easel_core::password;
use easel_core::roles::Role;
use easel_db::{Account, ApiKey, AuditContext, User};
use zxcvbn::Score;

use super::accounts::{self, AccountSpec, UserSpec};
use super::keys::{self, KeySpec};
use crate::app::App;
use crate::config::SignupMode;
use crate::http::error::{ApiError, ApiResult, ErrorCode};

/// zxcvbn's "safely unguessable" (about 10^8 guesses): rules out the common-password
/// lists and dictionary words with the usual substitutions it ships with.
const MIN_SCORE: Score = Score::Three;

/// What the sign-up form carries.
#[derive(Debug, Default, Clone)]
pub struct SignupSpec {
    pub email: String,
    pub password: String,
    pub business_name: String,
    pub legal_name: String,
    pub country: String,
    pub address: String,
    pub phone: Option<String>,
    /// The person attested being 18 or older.
    pub adult: bool,
    /// The person accepted the terms shown (the configured `terms_version`).
    pub accepts_terms: bool,
    /// The client address, recorded with the acceptance.
    pub ip: String,
}

/// What sign-up made: the account, its owner, and the first test key with its secret.
pub struct SignedUp {
    pub account: Account,
    pub owner: User,
    pub key: ApiKey,
    pub secret: String,
}

/// Refuses a password that is too short, too long, or easy to guess (common passwords,
/// words, keyboard walks, the person's own e-mail or business name); the message says why.
pub fn check_password(pw: &str, related: &[&str]) -> ApiResult<()> {
    let len = pw.chars().count();
    if len < password::MIN_LEN {
        return Err(ApiError::invalid(
            "password",
            format!(
                "A password needs at least {} characters.",
                password::MIN_LEN
            ),
        ));
    }
    if pw.len() > password::MAX_LEN {
        return Err(ApiError::invalid(
            "password",
            format!("A password has at most {} bytes.", password::MAX_LEN),
        ));
    }
    let related: Vec<&str> = related
        .iter()
        .flat_map(|s| s.split(|c: char| !c.is_alphanumeric()))
        .filter(|s| s.len() >= 3)
        .collect();
    let estimate = zxcvbn::zxcvbn(pw, &related);
    if estimate.score() >= MIN_SCORE {
        return Ok(());
    }
    let why = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| format!(" {w}."))
        .unwrap_or_default();
    Err(ApiError::invalid(
        "password",
        format!(
            "This password is too easy to guess.{why} Use a longer phrase of unrelated words, or a password manager."
        ),
    ))
}

/// Checks the form, creates the account, its owner and a first test key. Refused when the
/// operator turned sign-up off.
pub async fn sign_up(app: &App, spec: SignupSpec, request_id: String) -> ApiResult<SignedUp> {
    if app.config.console.signup == SignupMode::Closed {
        return Err(ApiError::new(
            ErrorCode::signup_closed,
            "Sign-up is by invitation only on this service.",
        ));
    }
    if !spec.adult {
        return Err(ApiError::invalid(
            "adult",
            "You must confirm that you are 18 or older.",
        ));
    }
    if !spec.accepts_terms {
        return Err(ApiError::invalid(
            "terms",
            "You must accept the terms of service to open an account.",
        ));
    }
    for (param, value) in [
        ("legal_name", &spec.legal_name),
        ("country", &spec.country),
        ("address", &spec.address),
    ] {
        if value.trim().is_empty() {
            return Err(ApiError::invalid(param, "This field is required."));
        }
    }
    check_password(&spec.password, &[&spec.email, &spec.business_name])?;
    let owner = UserSpec {
        email: spec.email,
        name: None,
        password: Some(spec.password),
        adult_attested: true,
        terms_accepted: Some(super::terms::now(app).await?.current),
        terms_accepted_ip: Some(spec.ip.clone()),
    };
    let account = AccountSpec {
        name: spec.business_name,
        legal_name: Some(spec.legal_name),
        contact_email: None,
        contact_phone: spec.phone.filter(|p| !p.trim().is_empty()),
        address: Some(spec.address),
        country: Some(spec.country),
        plan: None,
        owner,
        live_blocked: Some(LiveBlock::Unverified),
    };
    let audit = AuditContext::new(easel_core::audit::Actor::system(), Some(request_id.clone()))
        .with("ip", spec.ip.as_str())
        .with("via", "console_signup");
    let (account, owner) = accounts::create(app, account, audit).await?;
    let key_audit = AuditContext::new(
        easel_core::audit::Actor {
            kind: easel_core::audit::ActorType::User,
            id: owner.id.clone(),
        },
        Some(request_id),
    )
    .for_member(&owner.id);
    let first = KeySpec {
        name: "First test key".into(),
        ..KeySpec::default()
    };
    let (key, secret) = keys::create(
        app,
        &account.id,
        &owner.id,
        Mode::Test,
        first,
        &Role::Owner.scopes(),
        key_audit,
    )
    .await?;
    Ok(SignedUp {
        account,
        owner,
        key,
        secret,
    })
}

/// What a verified sign-up's accounts wait for next: nothing, or the operator's approval.
pub fn after_verification(app: &App) -> Option<LiveBlock> {
    (app.config.console.signup == SignupMode::Approval).then_some(LiveBlock::Approval)
}

#[cfg(test)]
mod tests {
    use super::check_password;

    #[test]
    fn common_and_personal_passwords_are_refused_with_a_reason() {
        for weak in [
            "password",
            "password123",
            "Passw0rd!",
            "qwertyuiop",
            "iloveyou1",
            "letmein2024",
        ] {
            let e = check_password(weak, &[]).err();
            assert!(e.is_some(), "{weak} was accepted");
        }
        // The person's own address and business name count as guessable.
        assert!(
            check_password("acmeimages2026", &["ops@acmeimages.example", "Acme Images"]).is_err()
        );
        let short = check_password("a7$Kq", &[]).err().map(|e| e.message);
        assert!(short.is_some_and(|m| m.contains("at least 8")));
    }

    #[test]
    fn long_unrelated_phrases_pass() {
        for strong in [
            "correct horse battery staple",
            "t8#Vd!q2Lz@w",
            "marmalade-ostrich-violin-47",
        ] {
            assert!(
                check_password(strong, &["dev@example.com"]).is_ok(),
                "{strong}"
            );
        }
        assert!(check_password(&"x".repeat(300), &[]).is_err());
    }
}
