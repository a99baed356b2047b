//! First-start setup: exactly once, even with several nodes starting together.

use std::sync::Arc;

use easel_core::account::AccountState;
use easel_core::audit::{ActorType, action};
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::roles::Role;
use easel_db::{Bootstrap, Page, Store};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

/// A first-start setup as `services::bootstrap::run` builds it (a fake password hash: the
/// store never looks inside it).
fn setup(secret: &str, owner_email: &str) -> Bootstrap {
    let demo_account = support::new_account(owner_email);
    let mut demo_key = support::new_key(&demo_account.id, &demo_account.owner.id, Mode::Test);
    demo_key.name = "Demo test key".into();
    demo_key.scopes = Role::Owner.scopes();
    demo_key.allowed_models = None;
    demo_key.expires_at = None;
    demo_key.now = demo_account.now;
    Bootstrap {
        secret: secret.into(),
        operator_id: IdKind::Operator.generate(),
        operator_username: "admin".into(),
        operator_password_hash: "$argon2id$v=19$m=19456,t=2,p=1$fake$fake".into(),
        demo_account,
        demo_key,
    }
}

both_backends!(
    bootstrap_sets_the_instance_up_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        support::assert_not_found(store.instance_secret().await);
        support::assert_not_found(store.get_operator("admin").await);

        let first = setup("secret-one", "demo@example.com");
        let (account_id, key_hash, operator_id) = (
            first.demo_account.id.clone(),
            first.demo_key.secret_hash.clone(),
            first.operator_id.clone(),
        );
        assert!(
            store
                .bootstrap(first)
                .await
                .unwrap_or_else(|e| panic!("first bootstrap: {e}")),
            "the first bootstrap sets up"
        );
        assert_eq!(
            store
                .instance_secret()
                .await
                .unwrap_or_else(|e| panic!("instance_secret: {e}")),
            "secret-one"
        );
        let operator = store
            .get_operator("admin")
            .await
            .unwrap_or_else(|e| panic!("get_operator: {e}"));
        assert_eq!(operator.id, operator_id);
        assert_eq!(operator.last_login_at, None);
        let account = store
            .get_account(&account_id)
            .await
            .unwrap_or_else(|e| panic!("demo account: {e}"));
        assert_eq!(account.state, AccountState::Active);
        let members = store
            .list_members(&account_id)
            .await
            .unwrap_or_else(|e| panic!("list_members: {e}"));
        assert_eq!(members.len(), 1);
        assert_eq!(
            (members[0].email.as_str(), members[0].role),
            ("demo@example.com", Role::Owner)
        );
        let credential = store
            .find_credential(&key_hash)
            .await
            .unwrap_or_else(|e| panic!("find_credential: {e}"))
            .unwrap_or_else(|| panic!("the demo key does not authenticate"));
        assert_eq!(credential.key.account_id, account_id);
        assert_eq!(credential.key.mode, Mode::Test);
        assert_eq!(credential.role, Some(Role::Owner));
        let audit = store
            .list_audit(None, Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("list_audit: {e}"));
        let mut actions: Vec<(&str, Option<&str>)> = audit
            .iter()
            .map(|e| (e.action.as_str(), e.account_id.as_deref()))
            .collect();
        actions.sort();
        assert_eq!(
            actions,
            vec![
                (action::ACCOUNT_CREATED, Some(account_id.as_str())),
                (action::KEY_CREATED, Some(account_id.as_str())),
                (action::OPERATOR_CREATED, None),
            ]
        );
        assert!(audit.iter().all(|e| e.actor_type == ActorType::System));

        // Later starts change nothing: no second operator, account or key, same secret.
        let mut raw = Raw::connect(&db).await;
        let before = raw.table_counts().await;
        let second = setup("secret-two", "demo2@example.com");
        let second_account = second.demo_account.id.clone();
        assert!(
            !store
                .bootstrap(second)
                .await
                .unwrap_or_else(|e| panic!("second bootstrap: {e}")),
            "a second bootstrap must report that nothing was done"
        );
        assert_eq!(raw.table_counts().await, before);
        support::assert_not_found(store.get_account(&second_account).await);
        assert_eq!(
            store
                .instance_secret()
                .await
                .unwrap_or_else(|e| panic!("instance_secret: {e}")),
            "secret-one"
        );
        // Even the very same setup again is refused quietly.
        let again = setup("secret-one", "demo@example.com");
        assert!(
            !store
                .bootstrap(again)
                .await
                .unwrap_or_else(|e| panic!("third bootstrap: {e}"))
        );
        assert_eq!(raw.table_counts().await, before);
        raw.close().await;
    }
);

both_backends!(
    concurrent_bootstraps_set_up_exactly_once,
    |db: TestDb| async move {
        // Two nodes (two stores, two pools) start on the same fresh database.
        let node_a = support::store(&db).await;
        let node_b = support::connect(&db).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let start = |node: Arc<dyn Store>, setup: Bootstrap| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                node.bootstrap(setup).await
            })
        };
        let a = start(node_a.clone(), setup("secret-a", "demo-a@example.com"));
        let b = start(node_b.clone(), setup("secret-b", "demo-b@example.com"));
        let a = a
            .await
            .unwrap_or_else(|e| panic!("bootstrap a panicked: {e}"))
            .unwrap_or_else(|e| panic!("bootstrap a: {e}"));
        let b = b
            .await
            .unwrap_or_else(|e| panic!("bootstrap b panicked: {e}"))
            .unwrap_or_else(|e| panic!("bootstrap b: {e}"));
        assert!(a ^ b, "exactly one node sets up (a: {a}, b: {b})");

        let winner = if a { "secret-a" } else { "secret-b" };
        for node in [&node_a, &node_b] {
            assert_eq!(
                node.instance_secret()
                    .await
                    .unwrap_or_else(|e| panic!("instance_secret: {e}")),
                winner
            );
        }
        let mut raw = Raw::connect(&db).await;
        let counts = raw.table_counts().await;
        for (table, expected) in [
            ("instance", 1),
            ("operators", 1),
            ("accounts", 1),
            ("users", 1),
            ("members", 1),
            ("api_keys", 1),
            ("api_key_secrets", 1),
            ("audit_log", 3),
        ] {
            assert!(
                counts.contains(&(table, expected)),
                "{table}: expected {expected} rows, have {counts:?}"
            );
        }
        raw.close().await;
    }
);
