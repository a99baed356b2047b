//! The console's generations pages and playground, on both databases: the playground
//! generates through the API's own checks with the member's "Console playground" key, the
//! list and detail show what the API stores (outputs at working signed URLs, events), cancel
//! and delete are the API's, live mode shows the price before anything is held, and a
//! viewer or a suspended account is refused.

use easel_core::mode::Mode;
use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use crate::console_pages::{owner_session, set_password};
use crate::generations::{create, grant, start};
use crate::support::console::{Console, Page, Session};
use crate::support::{TestApp, eventually};

/// Submits the playground form; `extra` adds or overrides fields.
async fn play(console: &Console, cookies: &[&str], csrf: &str, extra: &[(&str, &str)]) -> Page {
    let mut form: Vec<(&str, &str)> = vec![
        ("csrf", csrf),
        ("model", "sandbox-image"),
        ("prompt", "a red lighthouse at dusk"),
        ("size", "256x256"),
        ("n", "1"),
    ];
    for (name, value) in extra {
        form.retain(|(n, _)| n != name);
        form.push((name, value));
    }
    console
        .post("/console/playground", cookies, &[], &form)
        .await
}

/// The generation id a playground redirect points at.
fn generation_of(page: &Page) -> String {
    assert_eq!(page.status, 303, "{}", page.html);
    let id = page
        .location()
        .strip_prefix("/console/generations/")
        .unwrap_or_else(|| panic!("redirected to {}", page.location()));
    id.to_string()
}

/// Waits until the detail page says `status`; returns that page.
async fn detail_when(console: &Console, cookies: &[&str], id: &str, status: &str) -> Page {
    let path = format!("/console/generations/{id}");
    let wanted = format!("id=\"status\">{status}");
    let reached = eventually(20_000, || async {
        console.get(&path, cookies).await.html.contains(&wanted)
    })
    .await;
    let page = console.get(&path, cookies).await;
    assert!(reached, "never {status}: {}", page.html);
    page
}

async fn playground_keys(app: &TestApp, account_id: &str, mode: Mode) -> Vec<easel_db::ApiKey> {
    app.state
        .store
        .list_keys(account_id, Some(mode), easel_db::Page::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|k| k.name == "Console playground")
        .collect()
}

both_backends!(
    the_playground_generates_and_the_pages_show_it,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, _) = app.account("maker@gens.example", "test").await;
        let console = Console::new(&app.url);
        let session: Session = owner_session(
            &app,
            &console,
            &account_id,
            "maker@gens.example",
            "violet harbour engine 42",
        )
        .await;
        let cookies = [session.cookie.as_str()];

        let form = console.get("/console/playground", &cookies).await;
        assert_eq!(form.status, 200, "{}", form.html);
        assert!(
            form.html.contains("<option value=\"sandbox-image\""),
            "{}",
            form.html
        );
        // A model another plan has is not offered.
        assert!(!form.html.contains("value=\"pro-image\""), "{}", form.html);

        let id = generation_of(&play(&console, &cookies, &session.csrf, &[]).await);
        let page = detail_when(&console, &cookies, &id, "succeeded").await;
        assert!(
            page.html.contains("a red lighthouse at dusk"),
            "{}",
            page.html
        );
        assert!(page.html.contains("generation.succeeded"), "{}", page.html);
        // The refresh stops once the generation has ended.
        assert!(
            !page.html.contains("hx-trigger=\"every 2s\""),
            "{}",
            page.html
        );
        let src = page
            .html
            .split("<img src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(|s| s.replace("&amp;", "&"))
            .unwrap_or_else(|| panic!("no output image: {}", page.html));
        assert!(src.starts_with(&format!("/v1/outputs/{id}/0.")), "{src}");
        let image = console.get(&src, &[]).await;
        assert_eq!(image.status, 200, "{src}");
        assert!(
            image
                .header("content-type")
                .unwrap_or_default()
                .starts_with("image/"),
            "{:?}",
            image.header("content-type")
        );

        // The generation is the API's: made with the member's playground key, which has
        // generations scopes only, and is made once.
        let keys = playground_keys(&app, &account_id, Mode::Test).await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        let scopes: Vec<&str> = keys[0].scopes.iter().map(|s| s.as_str()).collect();
        assert_eq!(scopes, ["generations:read", "generations:write"]);
        let stored = app
            .state
            .store
            .get_generation(&account_id, Mode::Test, &id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stored.api_key_id, keys[0].id);
        let second = generation_of(&play(&console, &cookies, &session.csrf, &[]).await);
        assert_eq!(
            playground_keys(&app, &account_id, Mode::Test).await.len(),
            1
        );

        // The list: newest first, with a thumbnail and a link to each.
        let list = console.get("/console/generations", &cookies).await;
        assert_eq!(list.status, 200, "{}", list.html);
        let first_row = list
            .html
            .find(&format!("id=\"{second}\""))
            .unwrap_or(usize::MAX);
        let older_row = list.html.find(&format!("id=\"{id}\"")).unwrap_or(0);
        assert!(first_row < older_row, "{}", list.html);
        assert!(
            list.html.contains("class=\"thumb\" src=\"/v1/outputs/"),
            "{}",
            list.html
        );
        let filtered = console
            .get("/console/generations?status=failed", &cookies)
            .await;
        assert!(!filtered.html.contains(&id), "{}", filtered.html);

        // Bad input gets the API's message, in the form, which keeps what was typed.
        let empty = play(&console, &cookies, &session.csrf, &[("prompt", " ")]).await;
        assert_eq!(empty.status, 400, "{}", empty.html);
        assert!(empty.html.contains("id=\"error\""), "{}", empty.html);
        let bad_n = play(&console, &cookies, &session.csrf, &[("n", "lots")]).await;
        assert_eq!(bad_n.status, 400, "{}", bad_n.html);
        assert!(
            bad_n.html.contains("must be a whole number"),
            "{}",
            bad_n.html
        );
        assert!(
            bad_n.html.contains("a red lighthouse at dusk"),
            "{}",
            bad_n.html
        );
        let bad_size = play(&console, &cookies, &session.csrf, &[("size", "9x9")]).await;
        assert_eq!(bad_size.status, 400, "{}", bad_size.html);

        // Cancel: a slow one stops; an ended one is 409 with the API's reason.
        let slow = generation_of(
            &play(
                &console,
                &cookies,
                &session.csrf,
                &[("model", "slow-image")],
            )
            .await,
        );
        let canceled = console
            .post(
                &format!("/console/generations/{slow}/cancel"),
                &cookies,
                &[],
                &[("csrf", &session.csrf)],
            )
            .await;
        assert_eq!(canceled.status, 303, "{}", canceled.html);
        detail_when(&console, &cookies, &slow, "canceled").await;
        let too_late = console
            .post(
                &format!("/console/generations/{id}/cancel"),
                &cookies,
                &[],
                &[("csrf", &session.csrf)],
            )
            .await;
        assert_eq!(too_late.status, 409, "{}", too_late.html);
        assert!(too_late.html.contains("already ended"), "{}", too_late.html);

        // Delete: the output URL stops working, the page says deleted.
        let deleted = console
            .post(
                &format!("/console/generations/{id}/delete"),
                &cookies,
                &[],
                &[("csrf", &session.csrf)],
            )
            .await;
        assert_eq!(deleted.status, 303, "{}", deleted.html);
        assert_eq!(console.get(&src, &[]).await.status, 404);
        let gone = console
            .get(&format!("/console/generations/{id}"), &cookies)
            .await;
        assert!(gone.html.contains("(deleted)"), "{}", gone.html);
        assert!(!gone.html.contains("<img src="), "{}", gone.html);

        // The overview counts them by status (the deleted one no more).
        let overview = console.get("/console", &cookies).await;
        for (status, n) in [
            ("succeeded", 1),
            ("canceled", 1),
            ("failed", 0),
            ("queued", 0),
        ] {
            let shown = format!("id=\"count-{status}\">{n}<");
            assert!(overview.html.contains(&shown), "{shown}: {}", overview.html);
        }

        // Unknown and malformed ids are 404 pages, not errors.
        let unknown = console
            .get(
                "/console/generations/gen_01kbx0000000000000000000zz",
                &cookies,
            )
            .await;
        assert_eq!(unknown.status, 404, "{}", unknown.html);
        let garbage = console.get("/console/generations/..%2f..", &cookies).await;
        assert_eq!(garbage.status, 404, "{}", garbage.html);
        app.stop().await;
    }
);

both_backends!(
    live_mode_shows_the_price_before_it_generates,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, live) = app.account("payer@gens.example", "live").await;
        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "payer@gens.example",
            "silver otter compass 17",
        )
        .await;
        let mode = console.switch_mode(&session, "live").await;
        let cookies = [session.cookie.as_str(), mode.as_str()];
        let quote = app
            .post(
                "/v1/generations/quote",
                &live,
                json!({"model": "sandbox-image", "prompt": "a red lighthouse at dusk", "width": 256, "height": 256, "n": 1}),
            )
            .await
            .expect(200)
            .body;
        let price = quote["credits"].as_i64().unwrap_or_default();
        assert!(price > 0, "{quote}");

        // No credits: the price is shown with no way to go on; nothing is created.
        let broke = play(&console, &cookies, &session.csrf, &[]).await;
        assert_eq!(broke.status, 200, "{}", broke.html);
        assert!(
            broke
                .html
                .contains(&format!("id=\"price\">{price} credits")),
            "{}",
            broke.html
        );
        assert!(broke.html.contains("id=\"not-enough\""), "{}", broke.html);
        // Confirming anyway is refused by the store's own balance check.
        let forced = play(&console, &cookies, &session.csrf, &[("confirm", "yes")]).await;
        assert_eq!(forced.status, 402, "{}", forced.html);

        grant(&app, &account_id, 10_000).await;
        let shown = play(&console, &cookies, &session.csrf, &[]).await;
        assert_eq!(shown.status, 200, "{}", shown.html);
        assert!(shown.html.contains("id=\"confirm\""), "{}", shown.html);
        let listed = app.get("/v1/generations", &live).await.expect(200).body;
        assert_eq!(listed["data"].as_array().map(Vec::len), Some(0), "{listed}");
        let confirm_form: Vec<(String, String)> = shown
            .html
            .split("<input type=\"hidden\" name=\"")
            .skip(1)
            .filter_map(|s| {
                let (name, rest) = s.split_once("\" value=\"")?;
                Some((name.to_string(), rest.split('"').next()?.to_string()))
            })
            .filter(|(name, _)| name != "csrf")
            .collect();
        let pairs: Vec<(&str, &str)> = confirm_form
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let id = generation_of(&play(&console, &cookies, &session.csrf, &pairs).await);
        detail_when(&console, &cookies, &id, "succeeded").await;
        let balance = app.get("/v1/balance", &live).await.expect(200).body;
        assert_eq!(balance["available"], json!(10_000 - price), "{balance}");

        // A suspended account's playground is refused with the API's reason.
        app.state
            .store
            .change_account_state(
                &account_id,
                easel_db::StateChange::Suspend {
                    reason: "review".into(),
                    until: None,
                    jobs: easel_db::SuspendJobs::Finish,
                },
                easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = play(&console, &cookies, &session.csrf, &[("confirm", "yes")]).await;
        assert_eq!(refused.status, 403, "{}", refused.html);
        assert!(refused.html.contains("suspended"), "{}", refused.html);
        app.stop().await;
    }
);

both_backends!(
    a_viewer_sees_generations_but_cannot_make_or_end_them,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("lead@gens.example", "test").await;
        let made = create(
            &app,
            &key,
            json!({"model": "sandbox-image", "prompt": "a quiet pier"}),
            Some(20),
        )
        .await
        .expect(200);
        let id = made.body["id"].as_str().unwrap_or_default().to_string();
        let (viewer_id, _) = app
            .member_key(&account_id, "watch@gens.example", "viewer", "test")
            .await;
        set_password(&app, &viewer_id, "amber falcon lantern 90").await;
        let console = Console::new(&app.url);
        let session = console
            .sign_in("watch@gens.example", "amber falcon lantern 90")
            .await;
        let cookies = [session.cookie.as_str()];
        let page = console
            .get(&format!("/console/generations/{id}"), &cookies)
            .await;
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(!page.html.contains("id=\"delete\""), "{}", page.html);
        assert_eq!(
            console.get("/console/playground", &cookies).await.status,
            403
        );
        let refused = play(&console, &cookies, &session.csrf, &[]).await;
        assert_eq!(refused.status, 403, "{}", refused.html);
        let delete = console
            .post(
                &format!("/console/generations/{id}/delete"),
                &cookies,
                &[],
                &[("csrf", &session.csrf)],
            )
            .await;
        assert_eq!(delete.status, 403, "{}", delete.html);
        let still = app
            .get(&format!("/v1/generations/{id}"), &key)
            .await
            .expect(200);
        assert_eq!(still.body["deleted_at"], json!(null), "{}", still.body);
        assert!(
            playground_keys(&app, &account_id, Mode::Test)
                .await
                .is_empty()
        );
        app.stop().await;
    }
);
