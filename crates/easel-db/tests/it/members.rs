//! Members: adding (new or existing users), roles, the last-owner rule, removal.

use easel_core::audit::action;
use easel_core::mode::Mode;
use easel_core::roles::Role;
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

both_backends!(
    add_member_creates_new_users_and_reuses_known_ones,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "owner-a@acme.test").await;
        let (b, owner_b) = support::account(&store, "owner-b@acme.test").await;
        let mut raw = Raw::connect(&db).await;
        let users = raw.count("users", &[]).await;

        let new = support::new_member("grace@acme.test", Role::Developer);
        let new_user_id = new.user.id.clone();
        let grace = store
            .add_member(&a.id, new, support::audit())
            .await
            .unwrap_or_else(|e| panic!("add_member new: {e}"));
        assert_eq!(grace.user_id, new_user_id, "a new email creates the user");
        assert_eq!(
            (grace.account_id.as_str(), grace.email.as_str(), grace.role),
            (a.id.as_str(), "grace@acme.test", Role::Developer)
        );
        assert_eq!(raw.count("users", &[]).await, users + 1);

        // B's owner joins A: the existing user is reused, not duplicated.
        let known = support::new_member("owner-b@acme.test", Role::Viewer);
        let unused_id = known.user.id.clone();
        let joined = store
            .add_member(&a.id, known, support::audit())
            .await
            .unwrap_or_else(|e| panic!("add_member known: {e}"));
        assert_eq!(joined.user_id, owner_b.id);
        assert_ne!(joined.user_id, unused_id);
        assert_eq!(joined.role, Role::Viewer);
        assert_eq!(raw.count("users", &[]).await, users + 1);
        assert_eq!(raw.count("users WHERE id = $1", &[&unused_id]).await, 0);

        let members = store
            .list_members(&a.id)
            .await
            .unwrap_or_else(|e| panic!("list_members: {e}"));
        let mut emails: Vec<(&str, Role)> =
            members.iter().map(|m| (m.email.as_str(), m.role)).collect();
        emails.sort_by_key(|(email, _)| *email);
        assert_eq!(
            emails,
            vec![
                ("grace@acme.test", Role::Developer),
                ("owner-a@acme.test", Role::Owner),
                ("owner-b@acme.test", Role::Viewer),
            ]
        );
        // B's own membership is untouched.
        let of_b = store
            .list_members(&b.id)
            .await
            .unwrap_or_else(|e| panic!("list_members b: {e}"));
        assert_eq!(of_b.len(), 1);
        assert_eq!(of_b[0].role, Role::Owner);
        assert_eq!(raw.audit_rows(&a.id, action::MEMBER_ADDED).await, 2);
        raw.close().await;
    }
);

both_backends!(adding_a_member_twice_conflicts, |db: TestDb| async move {
    let store = support::store(&db).await;
    let (account, owner) = support::account(&store, "twice@acme.test").await;
    store
        .add_member(
            &account.id,
            support::new_member("dev@acme.test", Role::Developer),
            support::audit(),
        )
        .await
        .unwrap_or_else(|e| panic!("add_member: {e}"));
    let mut raw = Raw::connect(&db).await;
    let before = raw.table_counts().await;
    support::assert_conflict(
        store
            .add_member(
                &account.id,
                support::new_member("dev@acme.test", Role::Admin),
                support::audit(),
            )
            .await,
        "members_pkey",
    );
    // The owner cannot be added again either, under any role.
    support::assert_conflict(
        store
            .add_member(
                &account.id,
                support::new_member(&owner.email, Role::Viewer),
                support::audit(),
            )
            .await,
        "members_pkey",
    );
    assert_eq!(raw.table_counts().await, before);
    let roles: Vec<Role> = store
        .list_members(&account.id)
        .await
        .unwrap_or_else(|e| panic!("list_members: {e}"))
        .into_iter()
        .map(|m| m.role)
        .collect();
    assert!(roles.contains(&Role::Developer) && !roles.contains(&Role::Admin));
    // Unknown account: not found, and no user is created for it.
    support::assert_not_found(
        store
            .add_member(
                &easel_core::ids::IdKind::Account.generate(),
                support::new_member("stray@acme.test", Role::Viewer),
                support::audit(),
            )
            .await,
    );
    assert_eq!(raw.table_counts().await, before);
    raw.close().await;
});

both_backends!(
    the_last_owner_can_be_neither_demoted_nor_removed,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "last@acme.test").await;
        let mut raw = Raw::connect(&db).await;
        for role in [Role::Admin, Role::Developer, Role::Viewer] {
            support::assert_rule(
                store
                    .set_member_role(&account.id, &owner.id, role, support::audit())
                    .await,
                "last_owner",
            );
        }
        support::assert_rule(
            store
                .remove_member(&account.id, &owner.id, support::audit())
                .await,
            "last_owner",
        );
        let members = store
            .list_members(&account.id)
            .await
            .unwrap_or_else(|e| panic!("list_members: {e}"));
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].role, Role::Owner);
        assert_eq!(
            raw.audit_rows(&account.id, action::MEMBER_ROLE_CHANGED)
                .await,
            0
        );
        assert_eq!(raw.audit_rows(&account.id, action::MEMBER_REMOVED).await, 0);

        // With a second owner, the first may step down; then the second is the last.
        let second = store
            .add_member(
                &account.id,
                support::new_member("second@acme.test", Role::Admin),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("add_member: {e}"));
        let promoted = store
            .set_member_role(&account.id, &second.user_id, Role::Owner, support::audit())
            .await
            .unwrap_or_else(|e| panic!("promote: {e}"));
        assert_eq!(promoted.role, Role::Owner);
        let demoted = store
            .set_member_role(&account.id, &owner.id, Role::Admin, support::audit())
            .await
            .unwrap_or_else(|e| panic!("demote with another owner: {e}"));
        assert_eq!(demoted.role, Role::Admin);
        assert_eq!(
            raw.audit_rows(&account.id, action::MEMBER_ROLE_CHANGED)
                .await,
            2
        );
        support::assert_rule(
            store
                .set_member_role(&account.id, &second.user_id, Role::Viewer, support::audit())
                .await,
            "last_owner",
        );
        support::assert_rule(
            store
                .remove_member(&account.id, &second.user_id, support::audit())
                .await,
            "last_owner",
        );
        // Setting the role a member already has changes and audits nothing.
        let same = store
            .set_member_role(&account.id, &second.user_id, Role::Owner, support::audit())
            .await
            .unwrap_or_else(|e| panic!("same role: {e}"));
        assert_eq!(same.role, Role::Owner);
        assert_eq!(
            raw.audit_rows(&account.id, action::MEMBER_ROLE_CHANGED)
                .await,
            2
        );
        // A non-owner can be removed.
        store
            .remove_member(&account.id, &owner.id, support::audit())
            .await
            .unwrap_or_else(|e| panic!("remove the former owner: {e}"));
        assert_eq!(raw.audit_rows(&account.id, action::MEMBER_REMOVED).await, 1);
        support::assert_not_found(
            store
                .set_member_role(&account.id, &owner.id, Role::Viewer, support::audit())
                .await,
        );
        support::assert_not_found(
            store
                .remove_member(&account.id, &owner.id, support::audit())
                .await,
        );
        raw.close().await;
    }
);

both_backends!(
    remove_member_revokes_only_their_keys,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (a, owner) = support::account(&store, "keys-owner@acme.test").await;
        let (b, _) = support::account(&store, "other-org@acme.test").await;
        let dev = store
            .add_member(
                &a.id,
                support::new_member("leaver@acme.test", Role::Developer),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("add_member: {e}"));
        // The same person is a member of B too.
        store
            .add_member(
                &b.id,
                support::new_member("leaver@acme.test", Role::Developer),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("add_member b: {e}"));
        let (owner_key, _) = support::key(&store, &a.id, &owner.id, Mode::Live).await;
        let (dev_test, dev_test_hash) = support::key(&store, &a.id, &dev.user_id, Mode::Test).await;
        let (dev_live, _) = support::key(&store, &a.id, &dev.user_id, Mode::Live).await;
        let (dev_in_b, _) = support::key(&store, &b.id, &dev.user_id, Mode::Live).await;

        let audit = support::audit();
        let at = audit.now;
        store
            .remove_member(&a.id, &dev.user_id, audit)
            .await
            .unwrap_or_else(|e| panic!("remove_member: {e}"));

        let revoked_at = |account: String, id: String| {
            let store = store.clone();
            async move {
                store
                    .get_key(&account, None, &id)
                    .await
                    .unwrap_or_else(|e| panic!("get_key {id}: {e}"))
                    .revoked_at
            }
        };
        assert_eq!(
            revoked_at(a.id.clone(), dev_test.id.clone()).await,
            Some(at)
        );
        assert_eq!(
            revoked_at(a.id.clone(), dev_live.id.clone()).await,
            Some(at)
        );
        assert_eq!(revoked_at(a.id.clone(), owner_key.id.clone()).await, None);
        assert_eq!(revoked_at(b.id.clone(), dev_in_b.id.clone()).await, None);

        let members = store
            .list_members(&a.id)
            .await
            .unwrap_or_else(|e| panic!("list_members: {e}"));
        assert!(members.iter().all(|m| m.user_id != dev.user_id));
        assert_eq!(
            store
                .list_members(&b.id)
                .await
                .unwrap_or_else(|e| panic!("list_members b: {e}"))
                .len(),
            2
        );
        let credential = store
            .find_credential(&dev_test_hash)
            .await
            .unwrap_or_else(|e| panic!("find_credential: {e}"))
            .unwrap_or_else(|| panic!("credential of a removed member's key is gone"));
        assert_eq!(credential.role, None, "a removed member has no role");
        assert_eq!(credential.key.revoked_at, Some(at));
        let mut raw = Raw::connect(&db).await;
        assert_eq!(raw.audit_rows(&a.id, action::MEMBER_REMOVED).await, 1);
        assert_eq!(raw.audit_rows(&b.id, action::MEMBER_REMOVED).await, 0);
        raw.close().await;
    }
);

both_backends!(list_members_puts_owners_first, |db: TestDb| async move {
    let store = support::store(&db).await;
    let (account, owner) = support::account(&store, "first-owner@acme.test").await;
    for (email, role) in [
        ("admin@acme.test", Role::Admin),
        ("viewer@acme.test", Role::Viewer),
        ("co-owner@acme.test", Role::Owner),
    ] {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        store
            .add_member(
                &account.id,
                support::new_member(email, role),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("add_member {email}: {e}"));
    }
    let members = store
        .list_members(&account.id)
        .await
        .unwrap_or_else(|e| panic!("list_members: {e}"));
    let roles: Vec<Role> = members.iter().map(|m| m.role).collect();
    assert_eq!(
        &roles[..2],
        &[Role::Owner, Role::Owner],
        "AccountStore::list_members promises owners first: {members:?}"
    );
    assert_eq!(members[0].user_id, owner.id);
});
