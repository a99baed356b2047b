//! First start: an operator login, a demo account and a ready test key, created once.

use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::roles::Role;
use easel_core::time::now_ms;
use easel_core::{api_key, password};
use easel_db::{Bootstrap, NewKey};

use super::accounts::{AccountSpec, UserSpec};
use crate::config::Config;
use easel_db::Store;

/// What the first start prints, once.
#[derive(Debug, Clone)]
pub struct FirstStart {
    pub operator_username: String,
    pub operator_password: String,
    pub demo_account_id: String,
    pub demo_owner_email: String,
    pub test_key: String,
}

/// The operator's login name.
pub const OPERATOR_USERNAME: &str = "admin";

/// Sets the instance up if no earlier start (or other node) did; returns what to print.
pub async fn run(config: &Config, store: &dyn Store) -> anyhow::Result<Option<FirstStart>> {
    let operator_password = password::generate();
    let hash_input = operator_password.clone();
    // Not through the login pool: its working memory stays allocated once made, and a
    // server that nobody logs in to should not keep 19 MiB for the one hash at first start.
    let operator_password_hash =
        tokio::task::spawn_blocking(move || password::hash(&hash_input)).await??;
    let now = now_ms();
    let spec = AccountSpec {
        name: "Demo".into(),
        owner: UserSpec {
            email: "demo@example.com".into(),
            name: Some("Demo developer".into()),
            adult_attested: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let account = super::accounts::validate(config, spec, now)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let key = api_key::generate(&config.api_keys.prefix, Mode::Test);
    let demo_key = NewKey {
        id: IdKind::ApiKey.generate(),
        account_id: account.id.clone(),
        user_id: account.owner.id.clone(),
        mode: Mode::Test,
        name: "Demo test key".into(),
        scopes: Role::Owner.scopes(),
        allowed_models: None,
        spend_cap: None,
        expires_at: None,
        secret_hash: key.hash,
        display_prefix: key.display_prefix,
        now,
    };
    let first = FirstStart {
        operator_username: OPERATOR_USERNAME.into(),
        operator_password,
        demo_account_id: account.id.clone(),
        demo_owner_email: account.owner.email.clone(),
        test_key: key.secret,
    };
    let setup = Bootstrap {
        secret: hex_secret(),
        operator_id: IdKind::Operator.generate(),
        operator_username: OPERATOR_USERNAME.into(),
        operator_password_hash,
        demo_account: account,
        demo_key,
    };
    Ok(store.bootstrap(setup).await?.then_some(first))
}

/// 32 random bytes, hex-encoded: the instance's signing secret.
fn hex_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
