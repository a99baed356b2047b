//! The developer console's self-service sign-up over HTTP, on both databases: the form's
//! checks (weak passwords, missing attestations, a taken address), the first test key shown
//! once and working at once, live mode closed until the e-mailed link is followed (in the
//! console and for live keys at the API), sign-in with the e-mail address, password reset
//! by link (once), and the operator's settings (sign-up closed, approval required).

use std::path::Path;

use easel_test_utils::{TestDb, both_backends};

use crate::support::TestApp;
use crate::support::console::{Console, Page, Session};

const PASSWORD: &str = "marmalade ostrich violin 47";

async fn start(db: &TestDb, signup: &str) -> TestApp {
    let mail_dir = db.dir.join("mail");
    let signup = signup.to_string();
    TestApp::start_with(db, move |c| {
        c.mail.transport = easel_server::config::MailTransport::File;
        c.mail.dir = mail_dir.display().to_string();
        c.console.signup = match signup.as_str() {
            "approval" => easel_server::config::SignupMode::Approval,
            "closed" => easel_server::config::SignupMode::Closed,
            _ => easel_server::config::SignupMode::Open,
        };
    })
    .await
}

/// The links to `path` in every mail sent to `to` so far, oldest first.
pub fn links(dir: &Path, to: &str, path: &str) -> Vec<String> {
    let mut mails: Vec<(std::time::SystemTime, String)> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                let path = e.unwrap_or_else(|e| panic!("mail dir: {e}")).path();
                let modified = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (modified, text)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("mail dir: {e}"),
    };
    mails.sort();
    mails
        .into_iter()
        .filter(|(_, m)| m.contains(&format!("To: {to}")))
        .flat_map(|(_, m)| {
            m.lines()
                .filter(|l| l.contains(path))
                .map(|l| l.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn form<'a>(csrf: &'a str, email: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("email", email),
        ("password", password),
        ("business_name", "Pixel Forge"),
        ("legal_name", "Pixel Forge GmbH"),
        ("country", "de"),
        ("address", "Hauptstr. 1, 10115 Berlin"),
        ("phone", ""),
        ("adult", "yes"),
        ("terms", "yes"),
    ]
}

/// Signs up through the form; the welcome page and the session cookie.
async fn sign_up(console: &Console, fields: &[(&str, &str)]) -> Page {
    post_signup(console, "/console/signup", fields).await
}

/// Posts the sign-up form with the pre-session token of the form at `form_path` (the
/// sign-in page's works too, for where the sign-up page refuses to show its form).
async fn post_signup(console: &Console, form_path: &str, fields: &[(&str, &str)]) -> Page {
    let page = console.get(form_path, &[]).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let nonce = page
        .cookie("easel_login")
        .unwrap_or_else(|| panic!("no pre-session cookie: {:?}", page.set_cookies()));
    let csrf = page.csrf();
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| {
            if *k == "csrf" {
                (*k, csrf.as_str())
            } else {
                (*k, *v)
            }
        })
        .collect();
    console
        .post("/console/signup", &[&nonce], &[], &fields)
        .await
}

/// The secret shown in a page's `secret` field.
fn shown_secret(page: &Page) -> String {
    page.html
        .split("id=\"secret\" class=\"secret\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no secret in the page: {}", page.html))
        .to_string()
}

/// The session of a sign-up's response, with the CSRF token of the overview.
async fn session_of(console: &Console, page: &Page) -> Session {
    let cookie = page
        .cookie("easel_session")
        .unwrap_or_else(|| panic!("no session cookie: {:?}", page.set_cookies()));
    let overview = console.get("/console", &[&cookie]).await;
    assert_eq!(overview.status, 200, "{}", overview.html);
    Session {
        csrf: overview.csrf(),
        cookie,
    }
}

both_backends!(sign_up_verify_and_open_live_mode, |db: TestDb| async move {
    let app = start(&db, "open").await;
    let console = Console::new(&app.url);
    let mail_dir = db.dir.join("mail");
    let email = "Founder@Pixel-Forge.example";

    // The form's checks, each naming what is wrong; nothing is created.
    for (field, value, says) in [
        ("password", "password123", "too easy to guess"),
        ("password", "pixelforge", "too easy to guess"),
        ("password", "a7$Kq", "at least 8"),
        ("adult", "", "18 or older"),
        ("terms", "", "accept the terms"),
        ("country", "Germany", "at most 2 characters"),
        ("email", "not-an-address", "mail"),
    ] {
        let mut fields = form("", email, PASSWORD);
        if let Some(slot) = fields.iter_mut().find(|(k, _)| *k == field) {
            slot.1 = value;
        }
        // An unticked checkbox is not sent at all.
        fields.retain(|(k, v)| !((*k == "adult" || *k == "terms") && v.is_empty()));
        let page = sign_up(&console, &fields).await;
        assert_eq!(page.status, 422, "{field}={value}: {}", page.html);
        assert!(
            page.html.contains(says),
            "{field}={value} should say {says:?}: {}",
            page.html
        );
        assert!(page.cookie("easel_session").is_none());
        // The form comes back filled in (but never with the password).
        assert!(page.html.contains("Pixel Forge GmbH"));
        assert!(!page.html.contains(PASSWORD));
    }
    assert!(links(&mail_dir, "founder@pixel-forge.example", "/console/verify").is_empty());

    // A good form: the welcome page shows the first test key once, and it works at once.
    let welcome = sign_up(&console, &form("", email, PASSWORD)).await;
    assert_eq!(welcome.status, 201, "{}", welcome.html);
    assert_eq!(welcome.header("cache-control"), Some("no-store"));
    let secret = shown_secret(&welcome);
    assert!(secret.starts_with("vs_test_"), "{secret}");
    app.get("/v1/models", &secret).await.expect(200);
    let account = app.get("/v1/account", &secret).await.expect(200).body;
    assert_eq!(account["name"], "Pixel Forge");
    assert_eq!(account["plan"], app.state.config.default_plan.as_str());
    let session = session_of(&console, &welcome).await;

    // What sign-up recorded: the owner, attestation, terms version with time and address.
    let members = app
        .get("/v1/account/members", &secret)
        .await
        .expect(200)
        .body;
    assert_eq!(members["data"][0]["email"], "founder@pixel-forge.example");
    assert_eq!(members["data"][0]["role"], "owner");
    let login = app
        .state
        .store
        .user_login("founder@pixel-forge.example")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no user"));
    assert!(login.user.adult_attested_at.is_some());
    assert_eq!(
        login.user.terms_version.as_deref(),
        Some(app.state.config.terms_version.as_str())
    );
    assert!(login.user.email_verified_at.is_none());

    // The same address again: refused, saying so.
    let again = sign_up(&console, &form("", "founder@pixel-forge.example", PASSWORD)).await;
    assert_eq!(again.status, 422, "{}", again.html);
    assert!(again.html.contains("exists already"), "{}", again.html);

    // Live mode is closed: the overview says why, live keys cannot be created in the console.
    let overview = console.get("/console", &[&session.cookie]).await;
    assert!(
        overview.html.contains("id=\"live-blocked\""),
        "{}",
        overview.html
    );
    // A member's form without its CSRF token (or with another session's) is refused, and
    // nothing is created.
    let test_cookie = [session.cookie.as_str()];
    for form in [
        vec![("name", "forged")],
        vec![("csrf", "00ff"), ("name", "forged")],
    ] {
        let forged = console
            .post("/console/keys", &test_cookie, &[], &form)
            .await;
        assert_eq!(forged.status, 403, "{}", forged.html);
        assert!(forged.html.contains("id=\"refused\""), "{}", forged.html);
    }
    let keys = app.get("/v1/keys", &secret).await.expect(200).body;
    assert!(!keys.to_string().contains("forged"), "{keys}");
    let mode = console.switch_mode(&session, "live").await;
    let live = [session.cookie.as_str(), mode.as_str()];
    let refused = console
        .post(
            "/console/keys",
            &live,
            &[],
            &[("csrf", &session.csrf), ("name", "prod")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    assert!(
        refused.html.contains("verified their e-mail address"),
        "{}",
        refused.html
    );

    // A live key made anyway (by the operator's tools) does not work at the API yet.
    let (owner_id, account_id) = (
        login.user.id.clone(),
        account["id"].as_str().unwrap_or_default().to_string(),
    );
    let (_, live_secret) = easel_server::services::keys::create(
        &app.state,
        &account_id,
        &owner_id,
        easel_core::mode::Mode::Live,
        easel_server::services::keys::KeySpec {
            name: "ops".into(),
            ..Default::default()
        },
        &easel_core::roles::Role::Owner.scopes(),
        easel_db::AuditContext::new(easel_core::audit::Actor::system(), None),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    app.get("/v1/models", &live_secret)
        .await
        .expect_error(403, "live_mode_unavailable");

    // A forged or altered link does nothing.
    let sent = links(&mail_dir, "founder@pixel-forge.example", "/console/verify");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let link = sent[0].replace(&app.url, "");
    let forged = link.replace("sig=", "sig=00");
    assert_eq!(console.get(&forged, &[]).await.status, 400);
    let later = link.replace("expires=", "expires=9");
    assert_eq!(console.get(&later, &[]).await.status, 400);

    // The link opens live mode: without a session, as from a phone.
    let verified = console.get(&link, &[]).await;
    assert_eq!(verified.status, 200, "{}", verified.html);
    assert!(
        verified.html.contains("live mode is open"),
        "{}",
        verified.html
    );
    // The same link again is harmless.
    assert_eq!(console.get(&link, &[]).await.status, 200);
    app.get("/v1/models", &live_secret).await.expect(200);
    let overview = console.get("/console", &live).await;
    assert!(
        !overview.html.contains("id=\"live-blocked\""),
        "{}",
        overview.html
    );
    let created = console
        .post(
            "/console/keys",
            &live,
            &[],
            &[
                ("csrf", &session.csrf),
                ("name", "prod"),
                ("scopes", "generations:read"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.html);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let prod = shown_secret(&created);
    assert!(prod.starts_with("vs_live_"), "{prod}");
    app.get("/v1/models", &prod).await.expect(200);
    // Only the scopes asked for: reading keys is refused as the API refuses it.
    app.get("/v1/keys", &prod)
        .await
        .expect_error(403, "insufficient_scope");
    // The listing never shows a secret again.
    let listed = console.get("/console/keys", &live).await;
    assert!(!listed.html.contains(&prod), "the secret is shown again");
    assert!(listed.html.contains("prod"));

    // Revoking through the console: the key stops working at once.
    let key_id = app.get("/v1/keys", &live_secret).await.expect(200).body["data"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["name"] == "prod").cloned())
        .and_then(|k| k["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no prod key"));
    let revoked = console
        .post(
            &format!("/console/keys/{key_id}/revoke"),
            &live,
            &[],
            &[("csrf", &session.csrf)],
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.html);
    app.get("/v1/models", &prod)
        .await
        .expect_error(401, "api_key_revoked");

    // The audit log names the member who acted through the console.
    let audit = app
        .get("/v1/audit_log?limit=100", &live_secret)
        .await
        .expect(200)
        .body;
    let by_member = audit["data"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["action"] == "key.revoked" && e["actor"]["type"] == "user")
                .count()
        })
        .unwrap_or_default();
    assert_eq!(by_member, 1, "{audit}");
    app.stop().await;
});

both_backends!(
    a_member_signs_in_with_their_address_and_resets_the_password_once,
    |db: TestDb| async move {
        let app = start(&db, "open").await;
        let console = Console::new(&app.url);
        let mail_dir = db.dir.join("mail");
        let welcome = sign_up(&console, &form("", "dev@shop.example", PASSWORD)).await;
        assert_eq!(welcome.status, 201, "{}", welcome.html);
        let first = session_of(&console, &welcome).await;

        // Sign-in takes the address in any case.
        let signed_in = console.sign_in("DEV@shop.example", PASSWORD).await;
        assert!(console.opens(&signed_in.cookie).await);
        let wrong = console
            .try_sign_in("dev@shop.example", "not the password at all", &[])
            .await;
        assert_eq!(wrong.status, 401, "{}", wrong.html);

        // Forgot: the same answer for a known and an unknown address; one mail, to the known.
        for address in ["dev@shop.example", "nobody@shop.example"] {
            let page = console.get("/console/password/forgot", &[]).await;
            let nonce = page
                .cookie("easel_login")
                .unwrap_or_else(|| panic!("no nonce"));
            let sent = console
                .post(
                    "/console/password/forgot",
                    &[&nonce],
                    &[],
                    &[("csrf", &page.csrf()), ("email", address)],
                )
                .await;
            assert_eq!(sent.status, 200, "{}", sent.html);
            assert!(sent.html.contains("If an account uses that address"));
        }
        assert!(links(&mail_dir, "nobody@shop.example", "/console/password/reset").is_empty());
        let sent = links(&mail_dir, "dev@shop.example", "/console/password/reset");
        assert_eq!(sent.len(), 1, "{sent:?}");
        let link = sent[0].replace(&app.url, "");

        let form_page = console.get(&link, &[]).await;
        assert_eq!(form_page.status, 200, "{}", form_page.html);
        let nonce = form_page
            .cookie("easel_login")
            .unwrap_or_else(|| panic!("no nonce"));
        let hidden = |name: &str| {
            form_page
                .html
                .split(&format!("name=\"{name}\" value=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let (user, expires, sig, csrf) = (
            hidden("user"),
            hidden("expires"),
            hidden("sig"),
            form_page.csrf(),
        );
        let submit = |password: &'static str| {
            let fields = [
                ("csrf", csrf.clone()),
                ("user", user.clone()),
                ("expires", expires.clone()),
                ("sig", sig.clone()),
                ("password", password.to_string()),
            ];
            let console = &console;
            let nonce = nonce.clone();
            async move {
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                console
                    .post("/console/password/reset", &[&nonce], &[], &fields)
                    .await
            }
        };
        let weak = submit("letmein2024").await;
        assert_eq!(weak.status, 422, "{}", weak.html);
        let done = submit("quiet lantern orbit 93").await;
        assert_eq!(done.status, 200, "{}", done.html);
        // Every session ended; the old password is refused, the new one works.
        assert!(!console.opens(&first.cookie).await);
        assert!(!console.opens(&signed_in.cookie).await);
        assert_eq!(
            console
                .try_sign_in("dev@shop.example", PASSWORD, &[])
                .await
                .status,
            401
        );
        console
            .sign_in("dev@shop.example", "quiet lantern orbit 93")
            .await;
        // The link worked once.
        assert_eq!(console.get(&link, &[]).await.status, 400);
        assert_eq!(submit("another fine phrase 12").await.status, 400);
        app.stop().await;
    }
);

both_backends!(
    operators_can_close_sign_up_or_review_it,
    |db: TestDb| async move {
        let closed = start(&db, "closed").await;
        let console = Console::new(&closed.url);
        let page = console.get("/console/signup", &[]).await;
        assert_eq!(page.status, 403);
        assert!(page.html.contains("invitation only"));
        let refused = post_signup(
            &console,
            "/console/login",
            &form("", "a@b.example", PASSWORD),
        )
        .await;
        assert_eq!(refused.status, 403, "{}", refused.html);
        closed.stop().await;

        let app = start(&db, "approval").await;
        let console = Console::new(&app.url);
        let welcome = sign_up(&console, &form("", "owner@review.example", PASSWORD)).await;
        assert_eq!(welcome.status, 201, "{}", welcome.html);
        let link = links(
            &db.dir.join("mail"),
            "owner@review.example",
            "/console/verify",
        )
        .pop()
        .unwrap_or_else(|| panic!("no link"))
        .replace(&app.url, "");
        let verified = console.get(&link, &[]).await;
        assert!(verified.html.contains("approved"), "{}", verified.html);
        let accounts = app
            .state
            .store
            .list_accounts(easel_db::Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let account = accounts
            .iter()
            .find(|a| a.name == "Pixel Forge")
            .unwrap_or_else(|| panic!("no account"));
        assert_eq!(
            account.live_blocked,
            Some(easel_core::account::LiveBlock::Approval)
        );
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::system(), None);
        let approved = app
            .state
            .store
            .approve_account(&account.id, audit.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(approved.live_blocked, None);
        // Approving twice says it was not waiting.
        assert!(
            app.state
                .store
                .approve_account(&account.id, audit)
                .await
                .is_err()
        );
        app.stop().await;
    }
);

both_backends!(
    two_sign_ups_racing_for_one_address_make_one_account,
    |db: TestDb| async move {
        let app = start(&db, "open").await;
        let console = Console::new(&app.url);
        let fields = form("", "race@twins.example", PASSWORD);
        let (a, b) = tokio::join!(sign_up(&console, &fields), sign_up(&console, &fields));
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 422], "{}\n{}", a.html, b.html);
        let loser = if a.status == 422 { &a } else { &b };
        assert!(loser.html.contains("exists already"), "{}", loser.html);
        let accounts = app
            .state
            .store
            .list_accounts(easel_db::Page::first(100))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let made = accounts.iter().filter(|a| a.name == "Pixel Forge").count();
        assert_eq!(made, 1, "one account, no half-made second");
        app.stop().await;
    }
);
