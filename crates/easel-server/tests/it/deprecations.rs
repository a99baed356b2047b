//! Deprecated operations (clause 14), on both databases: until the sunset every response
//! carries `Deprecation`, `Sunset` and the notice's `Link`, `/openapi.json` marks the
//! operation deprecated, and the console's overview tells the account it still calls it;
//! from the sunset the operation answers 410 in the error envelope, key or not.

use easel_test_utils::{TestDb, both_backends};

use crate::console_pages::owner_session;
use crate::support::TestApp;
use crate::support::console::Console;

const NOTICE: &str = "https://example.com/changelog#models";

async fn start(db: &TestDb) -> TestApp {
    TestApp::start_with(db, |c| {
        c.deprecations = vec![
            easel_server::config::DeprecationConfig {
                method: "GET".into(),
                route: "/v1/models".into(),
                // 2026-01-01 and 2099-01-01.
                deprecated_at: 1_767_225_600_000,
                sunset_at: 4_070_908_800_000,
                link: NOTICE.into(),
            },
            easel_server::config::DeprecationConfig {
                method: "GET".into(),
                route: "/v1/balance".into(),
                // 2020-01-01 and 2020-06-01: gone.
                deprecated_at: 1_577_836_800_000,
                sunset_at: 1_590_969_600_000,
                link: "https://example.com/changelog#balance".into(),
            },
        ];
    })
    .await
}

fn header<'a>(res: &'a crate::support::Res, name: &str) -> Option<&'a str> {
    res.headers.get(name).and_then(|v| v.to_str().ok())
}

both_backends!(
    deprecated_operations_say_so_until_their_sunset_and_then_answer_410,
    |db: TestDb| async move {
        let app = start(&db).await;
        let email = "owner@deprecations.example";
        let (account_id, key) = app.account(email, "test").await;
        for _ in 0..2 {
            let res = app.get("/v1/models", &key).await.expect(200);
            assert_eq!(header(&res, "deprecation"), Some("@1767225600"));
            assert_eq!(
                header(&res, "sunset"),
                Some("Thu, 01 Jan 2099 00:00:00 GMT")
            );
            assert_eq!(
                header(&res, "link"),
                Some(format!("<{NOTICE}>; rel=\"deprecation\"; type=\"text/html\"").as_str())
            );
        }
        // Without a key too; other operations carry nothing.
        let anonymous = app.send(app.raw(reqwest::Method::GET, "/v1/models")).await;
        assert_eq!(header(&anonymous, "deprecation"), Some("@1767225600"));
        let account = app.get("/v1/account", &key).await.expect(200);
        assert_eq!(header(&account, "deprecation"), None);
        assert_eq!(header(&account, "sunset"), None);

        // Past its sunset: 410 for everyone, before authentication.
        let gone = app
            .get("/v1/balance", &key)
            .await
            .expect_error(410, "endpoint_sunset");
        assert!(
            gone.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("removed on 2020-06-01") && m.contains("#balance")),
            "{}",
            gone.body
        );
        assert!(header(&gone, "sunset").is_some());
        let gone_anonymous = app.send(app.raw(reqwest::Method::GET, "/v1/balance")).await;
        assert_eq!(gone_anonymous.status, 410, "{}", gone_anonymous.body);

        let doc = app
            .send(app.raw(reqwest::Method::GET, "/openapi.json"))
            .await;
        assert_eq!(doc.body["paths"]["/v1/models"]["get"]["deprecated"], true);
        assert!(
            doc.body["paths"]["/v1/models"]["get"]["description"]
                .as_str()
                .is_some_and(|d| d.contains(NOTICE)),
            "{}",
            doc.body["paths"]["/v1/models"]["get"]
        );
        assert!(doc.body["paths"]["/v1/account"]["get"]["deprecated"].is_null());

        // The account is told what it still calls: the two keyed calls, not the anonymous one.
        app.state.request_log.flush().await;
        let console = Console::new(&app.url);
        let owner =
            owner_session(&app, &console, &account_id, email, "harbour cinder moss 31").await;
        let overview = console.get("/console", &[owner.cookie.as_str()]).await;
        assert_eq!(overview.status, 200, "{}", overview.html);
        assert!(
            overview.html.contains("id=\"deprecations\""),
            "{}",
            overview.html
        );
        assert!(
            overview.html.contains("GET /v1/models"),
            "{}",
            overview.html
        );
        assert!(overview.html.contains("2 calls"), "{}", overview.html);
        assert!(
            overview.html.contains("stops working on 2099-01-01"),
            "{}",
            overview.html
        );
        let calls = app
            .state
            .store
            .deprecated_calls(&account_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!((calls[0].method.as_str(), calls[0].calls), ("GET", 2));
        app.stop().await;
    }
);
