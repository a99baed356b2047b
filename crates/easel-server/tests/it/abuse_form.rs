//! The public abuse form's token is single use on every node: a replayed form (the probe
//! sent one three times) gets the same refusal as a forged token and files nothing.

use easel_test_utils::{TestDb, both_backends};

use crate::support::TestApp;

/// The form's hidden token, from its HTML.
fn token(html: &str) -> String {
    html.split("name=\"t\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no token in the form: {html}"))
        .to_string()
}

/// The page's error paragraph.
fn error(html: &str) -> String {
    html.split("id=\"error\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or_else(|| panic!("no error on the page: {html}"))
        .to_string()
}

async fn post(url: &str, t: &str) -> (u16, String) {
    let fields = [
        ("content", "https://elsewhere.example/x.png"),
        ("category", "harassment"),
        ("description", "threatening text in the image"),
        ("email", ""),
        ("website", ""),
        ("t", t),
    ];
    let res = reqwest::Client::new()
        .post(format!("{url}/abuse"))
        .form(&fields)
        .send()
        .await
        .unwrap_or_else(|e| panic!("post: {e}"));
    let status = res.status().as_u16();
    (
        status,
        res.text().await.unwrap_or_else(|e| panic!("body: {e}")),
    )
}

async fn form_token(url: &str) -> String {
    let html = reqwest::get(format!("{url}/abuse"))
        .await
        .unwrap_or_else(|e| panic!("form: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"));
    token(&html)
}

both_backends!(
    an_abuse_form_token_is_accepted_once_on_any_node,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.abuse.form_min_seconds = 0).await;
        let node = TestApp::start_with(&db, |c| c.abuse.form_min_seconds = 0).await;
        let t = form_token(&app.url).await;
        assert_ne!(
            t,
            form_token(&app.url).await,
            "every form has its own token"
        );
        let (status, html) = post(&app.url, &t).await;
        assert_eq!(status, 201, "{html}");
        let (status, forged) = post(&app.url, "123.abcd.ef").await;
        assert_eq!(status, 400);
        for url in [&app.url, &node.url, &app.url] {
            let (status, html) = post(url, &t).await;
            assert_eq!(status, 400, "a replay on {url}: {html}");
            assert_eq!(
                error(&html),
                error(&forged),
                "the same page as a forged token"
            );
        }
        let reports = app
            .state
            .store
            .list_abuse_reports(false, 100)
            .await
            .unwrap_or_else(|e| panic!("reports: {e}"));
        assert_eq!(reports.len(), 1, "the replays filed nothing");
        // A new form is a new token.
        let (status, html) = post(&node.url, &form_token(&node.url).await).await;
        assert_eq!(status, 201, "{html}");
        node.stop().await;
        app.stop().await;
    }
);

both_backends!(
    no_category_is_chosen_for_the_reporter,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.abuse.form_min_seconds = 0).await;
        let html = reqwest::get(format!("{}/abuse", app.url))
            .await
            .unwrap_or_else(|e| panic!("form: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("body: {e}"));
        // A hurried reporter must pick one: the placeholder is the only selected option,
        // and the browser refuses the form until a category is chosen.
        let selected: Vec<&str> = html
            .split("<option")
            .skip(1)
            .filter(|o| {
                o.split('>')
                    .next()
                    .is_some_and(|tag| tag.contains("selected"))
            })
            .collect();
        assert_eq!(selected.len(), 1, "{html}");
        assert!(selected[0].starts_with(" value=\"\""), "{}", selected[0]);
        assert!(html.contains("name=\"category\" required"), "{html}");
        app.stop().await;
    }
);
