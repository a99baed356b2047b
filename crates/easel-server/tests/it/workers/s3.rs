//! Workers with outputs on S3: presigned URLs carry the bytes both ways, and Easel still
//! checks every upload before it accepts a completion.

use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use super::support::{Client, config, id, register, render};
use crate::generations::{create, download, funded, until};
use crate::support::TestApp;

both_backends!(
    on_s3_a_worker_uses_presigned_urls_and_easel_checks_what_arrived,
    |db: TestDb| async move {
        let prefix = format!("workers-{}", easel_core::ids::IdKind::Request.generate());
        let app = TestApp::start_with(&db, |c| {
            config(c);
            crate::s3::s3_config(c, &prefix, None);
        })
        .await;
        let (_, key) = funded(&app, "s3-worker@example.com").await;
        let (_, token) = register(&app, "cloud-gpu", &["gpu-image"]).await;
        let w = Client { app: &app, token };
        let (png, encoded) = crate::engines::support::input_png(64, 64);
        let body = json!({"model": "gpu-image", "prompt": "repaint", "width": 64, "height": 64, "input_image": encoded});
        let created = create(&app, &key, body, None).await.expect(202).body;
        let lease = w.lease(&["gpu-image"]).await;

        let input_url = lease["input_image_url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            input_url.starts_with("http") && input_url.contains("X-Amz-Signature"),
            "{lease}"
        );
        let (status, _, fetched) = download(&input_url).await;
        assert_eq!(
            (status, fetched == png),
            (200, true),
            "the input image, straight from the bucket"
        );
        let target = &lease["outputs"][0];
        assert_eq!(target["presigned"], true, "{lease}");
        let url = target["url"].as_str().unwrap_or_default().to_string();

        // Nothing uploaded yet: the completion is refused and the lease kept.
        w.complete(&lease, json!({"outputs": [{"index": 0}]}))
            .await
            .expect_error(400, "output_missing");
        let client = reqwest::Client::new();
        let put = |bytes: Vec<u8>, url: String| {
            let client = client.clone();
            async move {
                client
                    .put(url)
                    .header("content-type", "image/png")
                    .body(bytes)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("PUT: {e}"))
                    .status()
                    .as_u16()
            }
        };
        // One hex digit of the signature changed.
        let at = url
            .find("X-Amz-Signature=")
            .map_or(0, |i| i + "X-Amz-Signature=".len());
        let flipped = if url[at..].starts_with('0') { "1" } else { "0" };
        let tampered = format!("{}{flipped}{}", &url[..at], &url[at + 1..]);
        assert_eq!(
            put(vec![1, 2, 3], tampered).await,
            403,
            "the store checks the signature"
        );
        // A file that is not the requested image: Easel decodes it at completion.
        assert_eq!(
            put(easel_test_utils::fakes::images::png(32, 32, 1), url.clone()).await,
            200
        );
        let rejected = w
            .complete(&lease, json!({"outputs": [{"index": 0}]}))
            .await
            .expect_error(422, "outputs_rejected");
        assert_eq!(
            rejected.body["error"]["details"]["status"], "queued",
            "a failed attempt, retried"
        );
        let lease = w.lease(&["gpu-image"]).await;
        assert_eq!(lease["attempt"], 2);
        let (bytes, seed) = render(&lease).await.into_iter().next().unwrap_or_default();
        let url = lease["outputs"][0]["url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(put(bytes, url).await, 200);
        w.complete(&lease, json!({"outputs": [{"index": 0, "seed": seed}]}))
            .await
            .expect(200);
        let g = until(
            &app,
            &key,
            created["id"].as_str().unwrap_or_default(),
            &["succeeded"],
        )
        .await;
        let (status, content_type, _) =
            download(g["outputs"][0]["url"].as_str().unwrap_or_default()).await;
        assert_eq!((status, content_type.as_str()), (200, "image/png"));
        let upload = easel_server::outputs::Outputs::upload_path(&id(&lease), 0);
        assert!(
            matches!(
                app.state.outputs.get(&upload).await,
                Err(object_store::Error::NotFound { .. })
            ),
            "the upload is removed once stored at its final path"
        );
        app.stop().await;
    }
);
