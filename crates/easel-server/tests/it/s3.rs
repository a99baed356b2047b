//! Outputs in an S3-compatible store (s3s-fs over loopback, which checks signatures):
//! stored there, served by Easel at the same signed URLs, deleted there.

use easel_server::config::Config;
use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use crate::generations::{create, download};
use crate::support::TestApp;

/// Points the outputs at the test S3 server, under a prefix of this test's own.
pub fn s3_config(config: &mut Config, prefix: &str, secret: Option<&str>) {
    let s3 = easel_test_utils::s3();
    config.object_store_url = format!("s3://{}/{prefix}", s3.bucket);
    config.s3.endpoint = s3.endpoint;
    config.s3.allow_http = true;
    config.s3.access_key_id = s3.access_key;
    config.s3.secret_access_key = secret.map_or(s3.secret_key, str::to_string);
}

both_backends!(
    outputs_live_in_s3_when_configured,
    |db: TestDb| async move {
        let prefix = format!("run-{}", easel_core::ids::IdKind::Request.generate());
        let app = TestApp::start_with(&db, |c| s3_config(c, &prefix, None)).await;
        let (_, key) = crate::generations::funded(&app, "s3@example.com").await;
        let g = create(
            &app,
            &key,
            json!({"model": "sandbox-image", "prompt": "cloud", "width": 256, "height": 256}),
            Some(20),
        )
        .await
        .expect(200)
        .body;
        assert_eq!(g["status"], "succeeded", "{g}");
        let url = g["outputs"][0]["url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (status, content_type, bytes) = download(&url).await;
        assert_eq!((status, content_type.as_str()), (200, "image/png"));
        assert!(bytes.starts_with(b"\x89PNG"));
        assert!(
            !db.dir.join("outputs").exists(),
            "nothing was written locally"
        );
        let id = g["id"].as_str().unwrap_or_default();
        let stored = app
            .state
            .store
            .get_output(id, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            app.state
                .outputs
                .get(&stored.path)
                .await
                .map(|b| b.len())
                .ok(),
            Some(bytes.len()),
            "the object is in the bucket"
        );
        app.delete(&format!("/v1/generations/{id}"), &key)
            .await
            .expect(200);
        assert!(
            matches!(
                app.state.outputs.get(&stored.path).await,
                Err(object_store::Error::NotFound { .. })
            ),
            "deleting removes the object from the bucket"
        );
        assert_eq!(download(&url).await.0, 404);
        app.stop().await;
    }
);

both_backends!(
    a_store_refusing_writes_fails_the_generation_unbilled,
    |db: TestDb| async move {
        let app =
            TestApp::start_with(&db, |c| s3_config(c, "refused", Some("not-the-secret"))).await;
        let (_, key) = crate::generations::funded(&app, "s3bad@example.com").await;
        let g = create(
            &app,
            &key,
            json!({"model": "sandbox-image", "prompt": "cloud", "width": 256, "height": 256}),
            None,
        )
        .await
        .expect(202)
        .body;
        let id = g["id"].as_str().unwrap_or_default();
        let ended = crate::generations::until(&app, &key, id, &["succeeded", "failed"]).await;
        assert_eq!(ended["status"], "failed");
        assert_eq!(ended["error"]["code"], "output_storage_failed");
        assert_eq!(ended["credits"]["charged"], 0);
        app.stop().await;
    }
);

both_backends!(
    readiness_fails_while_the_object_store_refuses,
    |db: TestDb| async move {
        let prefix = format!("ready-{}", easel_core::ids::IdKind::Request.generate());
        let app = TestApp::start_with(&db, |c| s3_config(c, &prefix, None)).await;
        let res = app
            .send(app.raw(reqwest::Method::GET, "/readyz"))
            .await
            .expect(200);
        assert_eq!(res.body["object_store"], "ok");
        app.stop().await;
        // A wrong secret: S3 refuses every request, so the node cannot store outputs.
        let app = TestApp::start_with(&db, |c| s3_config(c, &prefix, Some("not-the-secret"))).await;
        let res = app
            .send(app.raw(reqwest::Method::GET, "/readyz"))
            .await
            .expect_error(503, "service_unavailable");
        assert!(
            res.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("object store")),
            "{}",
            res.body
        );
        app.stop().await;
    }
);
