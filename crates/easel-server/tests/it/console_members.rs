//! Members in the console, on both databases: an owner invites by e-mail, the invitee
//! joins from the mailed link (choosing a password), and then sees but changes nothing as a
//! viewer; roles change and members leave with the API's rules (owners only for owners, the
//! last owner stays); invitations can be revoked and work once; "sign out other sessions"
//! ends the others and keeps this one.

use std::path::Path;

use easel_test_utils::{TestDb, both_backends};

use crate::console_pages::owner_session;
use crate::console_signup::links;
use crate::support::TestApp;
use crate::support::console::{Console, Page, Session};

async fn start(db: &TestDb) -> TestApp {
    let mail_dir = db.dir.join("mail");
    TestApp::start_with(db, move |c| {
        c.mail.transport = easel_server::config::MailTransport::File;
        c.mail.dir = mail_dir.display().to_string();
    })
    .await
}

/// The path (with its token) of the last invitation mailed to `to`.
fn invite_path(dir: &Path, to: &str) -> String {
    let all = links(dir, to, "/console/invite?token=");
    let last = all
        .last()
        .unwrap_or_else(|| panic!("no invitation mailed to {to}"));
    let at = last.find("/console/invite").unwrap_or(0);
    last[at..].to_string()
}

async fn post(console: &Console, session: &Session, path: &str, form: &[(&str, &str)]) -> Page {
    let mut all = vec![("csrf", session.csrf.as_str())];
    all.extend_from_slice(form);
    console.post(path, &[&session.cookie], &[], &all).await
}

/// Opens an invitation link and submits its form with `password`.
async fn join(console: &Console, path: &str, password: &str) -> Page {
    let form = console.get(path, &[]).await;
    assert_eq!(form.status, 200, "{}", form.html);
    let cookie = form
        .cookie("easel_login")
        .unwrap_or_else(|| panic!("no pre-session cookie: {:?}", form.set_cookies()));
    let token = path.split("token=").nth(1).unwrap_or_default();
    let mut fields = vec![("csrf", form.csrf()), ("token", token.to_string())];
    if !password.is_empty() {
        fields.push(("password", password.to_string()));
    }
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    console
        .post("/console/invite", &[&cookie], &[], &fields)
        .await
}

fn user_of(page: &Page, email: &str) -> String {
    // Each member's row is `id="member-USER_ID"` followed by their address.
    page.html
        .split("id=\"member-")
        .skip(1)
        .find(|row| row.split("</tr>").next().is_some_and(|r| r.contains(email)))
        .and_then(|row| row.split('"').next())
        .unwrap_or_else(|| panic!("{email} not listed: {}", page.html))
        .to_string()
}

both_backends!(
    an_invited_viewer_joins_and_changes_nothing,
    |db: TestDb| async move {
        let app = start(&db).await;
        let mail = db.dir.join("mail");
        let (account_id, _) = app.account("chief@team.example", "test").await;
        let console = Console::new(&app.url);
        let owner = owner_session(
            &app,
            &console,
            &account_id,
            "chief@team.example",
            "lilac tundra beacon 19",
        )
        .await;

        let sent = post(
            &console,
            &owner,
            "/console/members/invite",
            &[("email", "Watcher@Team.example"), ("role", "viewer")],
        )
        .await;
        assert_eq!(sent.status, 200, "{}", sent.html);
        assert!(
            sent.html
                .contains("Invitation sent to watcher@team.example as viewer"),
            "{}",
            sent.html
        );
        assert!(
            sent.html.contains("<table id=\"invitations\">"),
            "{}",
            sent.html
        );
        let path = invite_path(&mail, "watcher@team.example");

        // A weak password is refused on the page; nothing joins.
        let weak = join(&console, &path, "password").await;
        assert_eq!(weak.status, 422, "{}", weak.html);
        let joined = join(&console, &path, "cobalt meadow sparrow 64").await;
        assert_eq!(joined.status, 200, "{}", joined.html);
        assert!(joined.html.contains("You joined"), "{}", joined.html);
        // Once only.
        let again = console.get(&path, &[]).await;
        assert_eq!(again.status, 410, "{}", again.html);
        let forged = console
            .get(
                "/console/invite?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                &[],
            )
            .await;
        assert_eq!(forged.status, 410, "{}", forged.html);

        // The viewer signs in with the password they chose and sees, but changes nothing.
        let viewer = console
            .sign_in("watcher@team.example", "cobalt meadow sparrow 64")
            .await;
        let page = console.get("/console/account", &[&viewer.cookie]).await;
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(page.html.contains("chief@team.example"), "{}", page.html);
        assert!(!page.html.contains("invite-form"), "{}", page.html);
        assert!(!page.html.contains("/remove\""), "{}", page.html);
        let refused = post(
            &console,
            &viewer,
            "/console/members/invite",
            &[("email", "x@team.example"), ("role", "viewer")],
        )
        .await;
        assert_eq!(refused.status, 403, "{}", refused.html);
        let keys = console.get("/console/keys", &[&viewer.cookie]).await;
        assert!(!keys.html.contains("Create a key"), "{}", keys.html);
        assert!(!keys.html.contains("class=\"secret\""), "{}", keys.html);
        let owner_id = user_of(&page, "chief@team.example");
        let demote = post(
            &console,
            &viewer,
            &format!("/console/members/{owner_id}/role"),
            &[("role", "viewer")],
        )
        .await;
        assert_eq!(demote.status, 403, "{}", demote.html);
        app.stop().await;
    }
);

both_backends!(
    roles_change_and_members_leave_by_the_apis_rules,
    |db: TestDb| async move {
        let app = start(&db).await;
        let mail = db.dir.join("mail");
        let (account_id, _) = app.account("founder@crew.example", "test").await;
        let console = Console::new(&app.url);
        let owner = owner_session(
            &app,
            &console,
            &account_id,
            "founder@crew.example",
            "opal harbour cinder 55",
        )
        .await;
        post(
            &console,
            &owner,
            "/console/members/invite",
            &[("email", "second@crew.example"), ("role", "admin")],
        )
        .await;
        let joined = join(
            &console,
            &invite_path(&mail, "second@crew.example"),
            "jade lantern valley 31",
        )
        .await;
        assert_eq!(joined.status, 200, "{}", joined.html);
        let admin = console
            .sign_in("second@crew.example", "jade lantern valley 31")
            .await;

        // Inviting someone already a member is refused; an admin cannot invite an owner.
        let dup = post(
            &console,
            &owner,
            "/console/members/invite",
            &[("email", "second@crew.example"), ("role", "viewer")],
        )
        .await;
        assert_eq!(dup.status, 409, "{}", dup.html);
        let owner_by_admin = post(
            &console,
            &admin,
            "/console/members/invite",
            &[("email", "boss2@crew.example"), ("role", "owner")],
        )
        .await;
        assert_eq!(owner_by_admin.status, 403, "{}", owner_by_admin.html);
        let bad_role = post(
            &console,
            &owner,
            "/console/members/invite",
            &[("email", "r@crew.example"), ("role", "king")],
        )
        .await;
        assert_eq!(bad_role.status, 400, "{}", bad_role.html);
        let bad_email = post(
            &console,
            &owner,
            "/console/members/invite",
            &[("email", "not an address"), ("role", "viewer")],
        )
        .await;
        assert_eq!(bad_email.status, 400, "{}", bad_email.html);

        let page = console.get("/console/account", &[&owner.cookie]).await;
        let owner_id = user_of(&page, "founder@crew.example");
        let admin_id = user_of(&page, "second@crew.example");
        // The admin cannot touch the owner; the last owner cannot step down.
        let touch = post(
            &console,
            &admin,
            &format!("/console/members/{owner_id}/role"),
            &[("role", "viewer")],
        )
        .await;
        assert_eq!(touch.status, 403, "{}", touch.html);
        let step_down = post(
            &console,
            &owner,
            &format!("/console/members/{owner_id}/role"),
            &[("role", "admin")],
        )
        .await;
        assert_eq!(step_down.status, 409, "{}", step_down.html);
        // The owner makes the admin a developer, then removes them; their key stops working.
        let key = app.key_for(&account_id, &admin_id, "test", None).await;
        let changed = post(
            &console,
            &owner,
            &format!("/console/members/{admin_id}/role"),
            &[("role", "developer")],
        )
        .await;
        assert_eq!(changed.status, 200, "{}", changed.html);
        assert!(
            changed
                .html
                .contains("second@crew.example is now developer"),
            "{}",
            changed.html
        );
        let removed = post(
            &console,
            &owner,
            &format!("/console/members/{admin_id}/remove"),
            &[],
        )
        .await;
        assert_eq!(removed.status, 200, "{}", removed.html);
        assert_eq!(app.get("/v1/models", &key).await.status, 401);
        let gone = console.get("/console/account", &[&admin.cookie]).await;
        assert_eq!(gone.status, 403, "{}", gone.html);

        // A revoked invitation's link does nothing.
        post(
            &console,
            &owner,
            "/console/members/invite",
            &[("email", "late@crew.example"), ("role", "viewer")],
        )
        .await;
        let page = console.get("/console/account", &[&owner.cookie]).await;
        let invitation = page
            .html
            .split("/console/invitations/")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap_or_else(|| panic!("no pending invitation: {}", page.html))
            .to_string();
        let revoked = post(
            &console,
            &owner,
            &format!("/console/invitations/{invitation}/revoke"),
            &[],
        )
        .await;
        assert_eq!(revoked.status, 200, "{}", revoked.html);
        let dead = console
            .get(&invite_path(&mail, "late@crew.example"), &[])
            .await;
        assert_eq!(dead.status, 410, "{}", dead.html);
        let twice = post(
            &console,
            &owner,
            &format!("/console/invitations/{invitation}/revoke"),
            &[],
        )
        .await;
        assert_eq!(twice.status, 404, "{}", twice.html);
        app.stop().await;
    }
);

both_backends!(
    signing_out_other_sessions_keeps_this_one,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, _) = app.account("roamer@devices.example", "test").await;
        let console = Console::new(&app.url);
        let laptop = owner_session(
            &app,
            &console,
            &account_id,
            "roamer@devices.example",
            "velvet canyon pebble 27",
        )
        .await;
        let phone = console
            .sign_in("roamer@devices.example", "velvet canyon pebble 27")
            .await;
        let page = console.get("/console/account", &[&laptop.cookie]).await;
        let rows = page
            .html
            .split("<table id=\"sessions\">")
            .nth(1)
            .unwrap_or_default();
        let rows = rows.split("</table>").next().unwrap_or_default();
        assert_eq!(rows.matches("<tr><td>").count(), 2, "{}", page.html);
        assert_eq!(rows.matches("(this one)").count(), 1, "{}", page.html);
        let done = post(&console, &laptop, "/console/sessions/others/revoke", &[]).await;
        assert_eq!(done.status, 200, "{}", done.html);
        assert!(
            done.html.contains("Signed out of 1 other sessions"),
            "{}",
            done.html
        );
        assert!(console.opens(&laptop.cookie).await);
        assert!(!console.opens(&phone.cookie).await);
        app.stop().await;
    }
);

both_backends!(
    business_details_are_edited_by_owners_and_admins,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("books@firm.example", "test").await;
        let console = Console::new(&app.url);
        let owner = owner_session(
            &app,
            &console,
            &account_id,
            "books@firm.example",
            "maple engine violet 38",
        )
        .await;
        let form = [
            ("name", "Firm & Co"),
            ("legal_name", "Firm and Company GmbH"),
            ("contact_email", "Billing@Firm.example"),
            ("contact_phone", "+49 30 1234"),
            ("address", "Hauptstraße 1, Berlin"),
            ("country", "de"),
        ];
        let saved = post(&console, &owner, "/console/account/details", &form).await;
        assert_eq!(saved.status, 303, "{}", saved.html);
        let page = console.get(saved.location(), &[&owner.cookie]).await;
        assert!(
            page.html.contains("The business details are saved"),
            "{}",
            page.html
        );
        assert!(
            page.html.contains("value=\"Firm &amp; Co\""),
            "{}",
            page.html
        );
        let api = app.get("/v1/account", &key).await.expect(200).body;
        assert_eq!(api["name"], "Firm & Co", "{api}");
        assert_eq!(api["contact"]["country"], "DE", "{api}");
        assert_eq!(api["contact"]["email"], "billing@firm.example", "{api}");
        let audit = console.get("/console/audit", &[&owner.cookie]).await;
        assert!(
            audit.html.contains("account.details_changed"),
            "{}",
            audit.html
        );

        // Bad values are refused, naming the field; nothing changes.
        for (field, value, says) in [
            ("country", "Germany", "`country` must be at most 2"),
            ("country", "D1", "two-letter"),
            ("name", " ", "name"),
            ("contact_email", "nope", "contact_email"),
        ] {
            let mut bad: Vec<(&str, &str)> =
                form.iter().copied().filter(|(k, _)| *k != field).collect();
            bad.push((field, value));
            let refused = post(&console, &owner, "/console/account/details", &bad).await;
            assert_eq!(refused.status, 400, "{field}: {}", refused.html);
            assert!(refused.html.contains(says), "{field}: {}", refused.html);
        }
        assert_eq!(
            app.get("/v1/account", &key).await.expect(200).body["name"],
            "Firm & Co"
        );

        // A developer sees the details but cannot change them.
        let (dev_id, _) = app
            .member_key(&account_id, "coder@firm.example", "developer", "test")
            .await;
        crate::console_pages::set_password(&app, &dev_id, "saddle prism ocean 12").await;
        let dev = console
            .sign_in("coder@firm.example", "saddle prism ocean 12")
            .await;
        let page = console.get("/console/account", &[&dev.cookie]).await;
        assert!(
            page.html.contains("<table id=\"details\">"),
            "{}",
            page.html
        );
        assert!(!page.html.contains("details-form"), "{}", page.html);
        let refused = post(
            &console,
            &dev,
            "/console/account/details",
            &[("name", "Hijacked")],
        )
        .await;
        assert_eq!(refused.status, 403, "{}", refused.html);
        assert_eq!(
            app.get("/v1/account", &key).await.expect(200).body["name"],
            "Firm & Co"
        );
        app.stop().await;
    }
);
