//! Invitations: pending until accepted, revoked or expired; accepting one adds the member
//! once (creating the person with a verified address, or keeping an existing member's
//! role), audited; racing acceptances of one link make one member.

use std::sync::Arc;

use easel_core::audit::action;
use easel_core::ids::IdKind;
use easel_core::roles::Role;
use easel_db::{NewInvitation, Store};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

fn invitation(
    account_id: &str,
    by: &str,
    email: &str,
    role: Role,
    token: &str,
    expires_at: i64,
) -> NewInvitation {
    NewInvitation {
        id: IdKind::Invitation.generate(),
        account_id: account_id.into(),
        email: email.into(),
        role,
        token_hash: format!("hash-of-{token}"),
        invited_by: by.into(),
        expires_at,
    }
}

fn later() -> i64 {
    easel_core::time::now_ms() + 3_600_000
}

async fn invite(store: &Arc<dyn Store>, new: NewInvitation) -> easel_db::Invitation {
    store
        .create_invitation(new, support::audit())
        .await
        .unwrap_or_else(|e| panic!("create_invitation: {e}"))
}

fn invitee(email: &str, password: Option<&str>) -> easel_db::NewUser {
    let mut user = support::new_user(email, easel_core::time::now_ms());
    user.terms_version = None;
    user.terms_accepted_at = None;
    user.adult_attested_at = None;
    user.password_hash = password.map(str::to_string);
    user
}

both_backends!(
    an_invitation_is_accepted_once_and_makes_a_verified_member,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "boss@invite.test").await;
        let mut raw = Raw::connect(&db).await;
        let sent = invite(
            &store,
            invitation(
                &account.id,
                &owner.id,
                "new@invite.test",
                Role::Viewer,
                "t1",
                later(),
            ),
        )
        .await;
        assert_eq!(sent.invited_by_email, "boss@invite.test");
        assert_eq!(sent.account_name, account.name);
        let pending = store
            .list_invitations(&account.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pending, vec![sent.clone()]);
        assert_eq!(raw.audit_rows(&account.id, action::MEMBER_INVITED).await, 1);
        let found = store
            .invitation_by_token("hash-of-t1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            found.as_ref().map(|i| i.id.as_str()),
            Some(sent.id.as_str())
        );

        let accepted = store
            .accept_invitation(
                "hash-of-t1",
                invitee("ignored@invite.test", Some("$argon2id$hash")),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("accept: {e}"));
        assert_eq!(
            (accepted.role, accepted.already_member),
            (Role::Viewer, false)
        );
        // The person is the invitation's address, verified, with the password given.
        let user = store
            .get_user(&accepted.user_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user.email, "new@invite.test");
        assert!(user.email_verified_at.is_some());
        let login = store
            .user_login("new@invite.test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            login.and_then(|l| l.password_hash).as_deref(),
            Some("$argon2id$hash")
        );
        let members = store
            .list_members(&account.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            members
                .iter()
                .any(|m| m.user_id == accepted.user_id && m.role == Role::Viewer)
        );
        assert_eq!(raw.audit_rows(&account.id, action::MEMBER_ADDED).await, 1);
        assert!(
            store
                .list_invitations(&account.id)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );

        // Used: a second acceptance, or a revocation, finds nothing.
        support::assert_not_found(
            store
                .accept_invitation(
                    "hash-of-t1",
                    invitee("x@invite.test", None),
                    support::audit(),
                )
                .await,
        );
        support::assert_not_found(
            store
                .revoke_invitation(&account.id, &sent.id, support::audit())
                .await,
        );
        assert_eq!(raw.audit_rows(&account.id, action::MEMBER_ADDED).await, 1);
    }
);

both_backends!(
    existing_people_keep_their_role_and_their_password,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "lead@invite.test").await;
        let added = support::new_member("dev@invite.test", Role::Developer);
        store
            .add_member(&account.id, added, support::audit())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // A member already: invited as admin, they stay a developer.
        invite(
            &store,
            invitation(
                &account.id,
                &owner.id,
                "dev@invite.test",
                Role::Admin,
                "t2",
                later(),
            ),
        )
        .await;
        let again = store
            .accept_invitation(
                "hash-of-t2",
                invitee("dev@invite.test", Some("new-hash")),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((again.role, again.already_member), (Role::Developer, true));
        // They had no password (added by the API): the one chosen on accepting is set.
        let login = store
            .user_login("dev@invite.test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            login.and_then(|l| l.password_hash).as_deref(),
            Some("new-hash")
        );

        // Someone with a password, from another account: joins; their password stays.
        let (_, other) = support::account(&store, "elsewhere@invite.test").await;
        store
            .set_user_password(&other.id, "their-own-hash", support::audit())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        invite(
            &store,
            invitation(
                &account.id,
                &owner.id,
                "elsewhere@invite.test",
                Role::Viewer,
                "t3",
                later(),
            ),
        )
        .await;
        let joined = store
            .accept_invitation(
                "hash-of-t3",
                invitee("elsewhere@invite.test", Some("attacker-hash")),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (joined.user_id.as_str(), joined.role, joined.already_member),
            (other.id.as_str(), Role::Viewer, false)
        );
        let login = store
            .user_login("elsewhere@invite.test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            login.and_then(|l| l.password_hash).as_deref(),
            Some("their-own-hash")
        );
    }
);

both_backends!(
    expired_revoked_and_foreign_invitations_do_nothing,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "keeper@invite.test").await;
        let (other, _) = support::account(&store, "stranger@invite.test").await;
        let mut raw = Raw::connect(&db).await;
        let users = raw.count("users", &[]).await;
        let past = easel_core::time::now_ms() - 1;
        invite(
            &store,
            invitation(
                &account.id,
                &owner.id,
                "late@invite.test",
                Role::Viewer,
                "old",
                past,
            ),
        )
        .await;
        support::assert_not_found(
            store
                .accept_invitation(
                    "hash-of-old",
                    invitee("late@invite.test", None),
                    support::audit(),
                )
                .await,
        );
        let sent = invite(
            &store,
            invitation(
                &account.id,
                &owner.id,
                "gone@invite.test",
                Role::Viewer,
                "rev",
                later(),
            ),
        )
        .await;
        // Another account cannot revoke it.
        support::assert_not_found(
            store
                .revoke_invitation(&other.id, &sent.id, support::audit())
                .await,
        );
        let revoked = store
            .revoke_invitation(&account.id, &sent.id, support::audit())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(revoked.revoked_at.is_some());
        assert_eq!(
            raw.audit_rows(&account.id, action::MEMBER_INVITATION_REVOKED)
                .await,
            1
        );
        support::assert_not_found(
            store
                .accept_invitation(
                    "hash-of-rev",
                    invitee("gone@invite.test", None),
                    support::audit(),
                )
                .await,
        );
        support::assert_not_found(
            store
                .accept_invitation(
                    "hash-of-nothing",
                    invitee("who@invite.test", None),
                    support::audit(),
                )
                .await,
        );
        // Nobody was created, nothing was added; the expired one is still listed as such.
        assert_eq!(raw.count("users", &[]).await, users);
        assert_eq!(raw.audit_rows(&account.id, action::MEMBER_ADDED).await, 0);
        let listed = store
            .list_invitations(&account.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.len(), 1);
        assert!(listed[0].expires_at < easel_core::time::now_ms());
        // An unknown account cannot be invited to.
        support::assert_not_found(
            store
                .create_invitation(
                    invitation(
                        "acc_01kbx0000000000000000000zz",
                        &owner.id,
                        "a@invite.test",
                        Role::Viewer,
                        "nope",
                        later(),
                    ),
                    support::audit(),
                )
                .await,
        );
    }
);

both_backends!(
    racing_acceptances_of_one_link_make_one_member,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "host@invite.test").await;
        invite(
            &store,
            invitation(
                &account.id,
                &owner.id,
                "twice@invite.test",
                Role::Developer,
                "race",
                later(),
            ),
        )
        .await;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .accept_invitation(
                        "hash-of-race",
                        invitee("twice@invite.test", Some("h")),
                        support::audit(),
                    )
                    .await
            }));
        }
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(_) => won += 1,
                Err(easel_db::DbError::NotFound) => {}
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        assert_eq!(won, 1);
        let mut raw = Raw::connect(&db).await;
        assert_eq!(
            raw.count("users WHERE email = $1", &["twice@invite.test"])
                .await,
            1
        );
        assert_eq!(raw.audit_rows(&account.id, action::MEMBER_ADDED).await, 1);
    }
);
