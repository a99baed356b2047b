//! Console sessions: live until revoked, idle or past their absolute expiry; "sign out
//! everywhere" and a password change end all of one principal's sessions and no one
//! else's; form tokens are used once; the purge deletes only what has ended.

use std::sync::Arc;

use easel_core::audit::action;
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::roles::Role;
use easel_db::{
    Bootstrap, NewConsoleSession, Page, Principal, PrincipalKind, SESSION_TOUCH_MS, Store,
};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

const HOUR: i64 = 3_600_000;
const IDLE: i64 = 10 * 60_000;

/// A set-up instance; returns its operator's id.
async fn operator(store: &Arc<dyn Store>) -> String {
    let demo_account = support::new_account("sessions@example.com");
    let mut demo_key = support::new_key(&demo_account.id, &demo_account.owner.id, Mode::Test);
    demo_key.scopes = Role::Owner.scopes();
    let operator_id = IdKind::Operator.generate();
    let setup = Bootstrap {
        secret: "secret".into(),
        operator_id: operator_id.clone(),
        operator_username: "admin".into(),
        operator_password_hash: "old-hash".into(),
        demo_account,
        demo_key,
    };
    assert!(
        store
            .bootstrap(setup)
            .await
            .unwrap_or_else(|e| panic!("bootstrap: {e}"))
    );
    operator_id
}

fn session(hash: &str, principal: &Principal, now: i64, idle_ms: i64) -> NewConsoleSession {
    NewConsoleSession {
        id_hash: hash.into(),
        principal: principal.clone(),
        now,
        idle_ms,
        absolute_ms: 12 * HOUR,
        ip: Some("192.0.2.1".into()),
        user_agent: Some("test".into()),
    }
}

/// Whether the session is live at `now` (touching it, as a request does, with the idle
/// time of the "idle" session: the others are used often enough).
async fn live(store: &Arc<dyn Store>, hash: &str, now: i64) -> bool {
    store
        .touch_console_session(hash, now, IDLE)
        .await
        .unwrap_or_else(|e| panic!("touch {hash}: {e}"))
        .is_some()
}

both_backends!(
    sessions_end_when_revoked_idle_or_expired,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let op = Principal {
            kind: PrincipalKind::Operator,
            id: operator(&store).await,
        };
        let t0 = 1_000 * HOUR;
        for (hash, idle) in [("a", HOUR), ("b", HOUR), ("idle", IDLE)] {
            store
                .create_console_session(session(hash, &op, t0, idle))
                .await
                .unwrap_or_else(|e| panic!("create {hash}: {e}"));
        }
        let found = store
            .touch_console_session("a", t0 + 1, HOUR)
            .await
            .unwrap_or_else(|e| panic!("touch: {e}"))
            .unwrap_or_else(|| panic!("session a is live"));
        assert_eq!(found.principal, op);
        assert_eq!(found.ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(found.expires_at, t0 + 12 * HOUR);
        assert!(
            !live(&store, "unknown", t0).await,
            "an unknown token is no session"
        );
        // Use pushes the idle expiry: "idle" used after 9 minutes survives 15 minutes.
        assert!(live(&store, "idle", t0 + 9 * 60_000).await);
        assert!(live(&store, "idle", t0 + 15 * 60_000).await);
        assert!(
            !live(&store, "idle", t0 + 30 * 60_000).await,
            "idle too long"
        );
        // One sign-out ends one session.
        assert!(
            store
                .revoke_console_session("a", t0 + 2)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert!(
            !store
                .revoke_console_session("a", t0 + 3)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert!(!live(&store, "a", t0 + 4).await);
        assert!(live(&store, "b", t0 + SESSION_TOUCH_MS).await);
        // The absolute expiry holds however much the session is used.
        let mut at = t0 + SESSION_TOUCH_MS;
        while at < t0 + 12 * HOUR {
            assert!(live(&store, "b", at).await, "at {}", at - t0);
            at += 5 * 60_000;
        }
        assert!(
            !live(&store, "b", t0 + 12 * HOUR).await,
            "past its absolute expiry"
        );
        // The purge deletes every ended row and keeps live ones.
        store
            .create_console_session(session("c", &op, t0 + 12 * HOUR, HOUR))
            .await
            .unwrap_or_else(|e| panic!("create c: {e}"));
        let purged = store
            .purge_console_sessions(t0 + 12 * HOUR)
            .await
            .unwrap_or_else(|e| panic!("purge: {e}"));
        assert_eq!(purged, 3);
        let mut raw = Raw::connect(&db).await;
        assert_eq!(raw.count("console_sessions", &[]).await, 1);
        raw.close().await;
        assert!(live(&store, "c", t0 + 12 * HOUR + 1).await);
    }
);

both_backends!(
    a_password_change_and_sign_out_everywhere_end_only_that_principals_sessions,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let op_id = operator(&store).await;
        let op = Principal {
            kind: PrincipalKind::Operator,
            id: op_id.clone(),
        };
        let other = Principal {
            kind: PrincipalKind::User,
            id: IdKind::User.generate(),
        };
        let now = easel_core::time::now_ms();
        for (hash, who) in [("op1", &op), ("op2", &op), ("user", &other)] {
            store
                .create_console_session(session(hash, who, now, HOUR))
                .await
                .unwrap_or_else(|e| panic!("create {hash}: {e}"));
        }
        let ended = store
            .set_operator_password(&op_id, "new-hash", support::audit())
            .await
            .unwrap_or_else(|e| panic!("set password: {e}"));
        assert_eq!(ended, 2);
        assert!(!live(&store, "op1", now + 1).await && !live(&store, "op2", now + 1).await);
        assert!(
            live(&store, "user", now + 1).await,
            "another principal keeps theirs"
        );
        let row = store
            .get_operator_by_id(&op_id)
            .await
            .unwrap_or_else(|e| panic!("operator: {e}"));
        assert_eq!(row.password_hash, "new-hash");
        support::assert_not_found(
            store
                .set_operator_password("op_unknown", "x", support::audit())
                .await,
        );
        // Sign out everywhere: the user's sessions end, audited with the count.
        store
            .create_console_session(session("user2", &other, now, HOUR))
            .await
            .unwrap_or_else(|e| panic!("create user2: {e}"));
        let ended = store
            .revoke_principal_sessions(&other, action::OPERATOR_SESSIONS_REVOKED, support::audit())
            .await
            .unwrap_or_else(|e| panic!("revoke all: {e}"));
        assert_eq!(ended, 2);
        assert!(!live(&store, "user", now + 1).await && !live(&store, "user2", now + 1).await);
        let log = store
            .list_audit(None, Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("audit: {e}"));
        assert_eq!(log.len(), 5, "{log:?}");
        assert_eq!(log[0].action, action::OPERATOR_SESSIONS_REVOKED);
        assert_eq!(log[0].details["sessions"], 2);
        assert_eq!(log[1].action, action::OPERATOR_PASSWORD_CHANGED);
        assert_eq!(log[1].target_id.as_deref(), Some(op_id.as_str()));
        assert_eq!(log[1].details["sessions"], 2);
    }
);

both_backends!(
    a_form_token_is_accepted_once_until_it_expires,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let use_token = |hash: &'static str, expires_at: i64| {
            let store = Arc::clone(&store);
            async move {
                store
                    .use_form_token(hash, "abuse", expires_at)
                    .await
                    .unwrap_or_else(|e| panic!("use {hash}: {e}"))
            }
        };
        assert!(use_token("t1", 1_000).await);
        assert!(!use_token("t1", 1_000).await, "second use");
        assert!(use_token("t2", 5_000).await, "tokens are separate");
        let purged = store
            .purge_console_sessions(1_000)
            .await
            .unwrap_or_else(|e| panic!("purge: {e}"));
        assert_eq!(purged, 1, "only the expired token");
        assert!(!use_token("t2", 5_000).await, "a live token stays used");
    }
);

both_backends!(
    concurrent_uses_of_one_form_token_admit_exactly_one,
    |db: TestDb| async move {
        // Two nodes replaying the same /abuse form at once: one report, never two.
        let store = support::store(&db).await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.use_form_token("raced", "abuse", 9_000).await })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            let first = task
                .await
                .unwrap_or_else(|e| panic!("task: {e}"))
                .unwrap_or_else(|e| panic!("use_form_token: {e}"));
            admitted += usize::from(first);
        }
        assert_eq!(admitted, 1, "exactly one of 8 concurrent uses is the first");
    }
);
