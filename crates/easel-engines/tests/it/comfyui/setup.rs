//! Building a `comfyui` model (the server refuses to start on a bad workflow or binding,
//! with the file, the binding and the reason), proxy headers from the environment, and
//! the probe.

use easel_engines::comfyui::{ComfyUi, ComfyUiSettings};
use easel_engines::registry::{BuildContext, ModelRef};
use easel_engines::{EngineError, ModelKind};
use serde_json::{Value, json};

use easel_engines::Engine;

use super::{addr_of, build, example_settings, examples, fake, real, request, run_checked};

/// Builds `sd15` with `workflow` (the file's text) and `bindings`; returns the error.
fn build_err(workflow: &str, bindings: Value) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("wf.json"), workflow).expect("write");
    let settings =
        json!({"base_url": "http://127.0.0.1:9", "workflow": "wf.json", "bindings": bindings});
    match build("sd15", &settings, dir.path()) {
        Ok(_) => panic!("expected a build error"),
        Err(e) => e,
    }
}

fn sd15_workflow() -> String {
    std::fs::read_to_string(examples().join("comfyui/sd15-text-to-image.json")).expect("example")
}

fn bindings() -> Value {
    example_settings("sd15")["bindings"].clone()
}

#[test]
fn every_example_builds() {
    for model in ["sd15", "sd15-img2img", "wan-video"] {
        let settings = example_settings(model);
        let engine =
            build(model, &settings, &examples()).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert_eq!(engine.name(), "comfyui");
    }
}

#[test]
fn bad_json_names_the_file_line_and_column() {
    let err = build_err("{\n  \"3\": {\"class_type\": \"KSampler\",,\n}", bindings());
    assert!(
        err.contains("wf.json") && err.contains("line 2") && err.contains("column"),
        "{err}"
    );
}

#[test]
fn ui_format_workflows_are_refused_with_a_hint() {
    let err = build_err(
        r#"{"last_node_id": 9, "nodes": [], "links": [], "version": 0.4}"#,
        bindings(),
    );
    assert!(
        err.contains("wf.json") && err.contains("UI format") && err.contains("Export (API)"),
        "{err}"
    );
}

#[test]
fn a_workflow_without_an_output_node_is_refused() {
    let mut graph: Value = serde_json::from_str(&sd15_workflow()).expect("JSON");
    graph.as_object_mut().expect("graph").remove("9");
    let err = build_err(&graph.to_string(), bindings());
    assert!(
        err.contains("wf.json") && err.contains("no output node"),
        "{err}"
    );
}

#[test]
fn bindings_must_point_at_existing_nodes_and_inputs() {
    let mut missing_node = bindings();
    missing_node["seed"] = json!("99.seed");
    let err = build_err(&sd15_workflow(), missing_node);
    assert!(
        err.contains("wf.json") && err.contains("binding `seed`") && err.contains("no node 99"),
        "{err}"
    );

    let mut missing_input = bindings();
    missing_input["width"] = json!("5.w");
    let err = build_err(&sd15_workflow(), missing_input);
    assert!(
        err.contains("binding `width`") && err.contains("no input `w`"),
        "{err}"
    );

    let mut no_prompt = bindings();
    no_prompt.as_object_mut().expect("map").remove("prompt");
    assert!(build_err(&sd15_workflow(), no_prompt).contains("`bindings.prompt` is required"));

    let mut unknown = bindings();
    unknown["steps"] = json!("3.steps");
    assert!(build_err(&sd15_workflow(), unknown).contains("unknown field `steps`"));
}

#[test]
fn a_missing_workflow_file_and_unknown_settings_are_refused() {
    let mut settings = example_settings("sd15");
    settings["workflow"] = json!("comfyui/nope.json");
    let err = build("sd15", &settings, &examples())
        .err()
        .expect("missing file");
    assert!(err.contains("comfyui/nope.json"), "{err}");
    let mut settings = example_settings("sd15");
    settings["timeout"] = json!(5);
    let err = build("sd15", &settings, &examples())
        .err()
        .expect("unknown setting");
    assert!(err.contains("unknown field `timeout`"), "{err}");
}

#[test]
fn a_header_variable_that_is_not_set_is_a_build_error() {
    let mut settings = example_settings("sd15");
    settings["headers_env"] = json!({"Authorization": "EASEL_TEST_COMFYUI_NO_SUCH_VARIABLE"});
    let err = build("sd15", &settings, &examples())
        .err()
        .expect("unset variable");
    assert!(err.contains("EASEL_TEST_COMFYUI_NO_SUCH_VARIABLE"), "{err}");
}

#[tokio::test]
async fn proxy_headers_come_from_the_environment_and_never_show() {
    // Cargo sets this for every test run; its value stands in for a secret.
    let secret = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let (fake, _) = fake("sd15").await;
    fake.script(|s| s.require_authorization = Some(secret.clone()));
    let mut settings = example_settings("sd15");
    settings["base_url"] = json!(fake.url());
    settings["headers_env"] = json!({"Authorization": "CARGO_MANIFEST_DIR"});
    let settings: ComfyUiSettings = serde_json::from_value(settings).expect("settings");
    let ctx = BuildContext {
        config_dir: examples(),
        ..BuildContext::default()
    };
    let model = ModelRef {
        id: "sd15",
        kind: ModelKind::Image,
    };
    let engine = ComfyUi::new(model, settings, &ctx).expect("builds");
    let outputs = run_checked(&engine, &request(ModelKind::Image, (32, 32))).await;
    assert_eq!(outputs.len(), 1);
    assert!(
        engine.probe().await.is_ok(),
        "the probe sends the header too"
    );
    let shown = format!("{engine:?}");
    let addr = addr_of(&fake);
    assert!(shown.contains("sd15"), "{shown}");
    assert!(!shown.contains(&secret), "{shown}");
    assert!(
        !shown.contains(&addr.port().to_string()) && !shown.contains("127.0.0.1"),
        "{shown}"
    );
}

#[tokio::test]
async fn the_probe_reports_version_nodes_and_models() {
    let (_fake, engine) = fake("sd15").await;
    let report = engine.probe().await.expect("probe");
    assert_eq!(report.version.as_deref(), Some("0.3.66"));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let facts = report.facts.join("\n");
    assert!(facts.contains("v1-5-pruned-emaonly.safetensors"), "{facts}");
    assert!(facts.contains("RTX 4090"), "{facts}");
}

#[tokio::test]
async fn the_probe_finds_missing_nodes_and_checkpoints() {
    let (fake, engine) = fake("sd15").await;
    fake.script(|s| {
        s.removed_classes = vec!["VAEDecode".to_owned()];
        s.models = vec!["other.safetensors".to_owned()];
    });
    let report = engine.probe().await.expect("probe");
    let problems = report.problems.join("\n");
    assert!(
        problems.contains("`VAEDecode` is not installed"),
        "{problems}"
    );
    assert!(
        problems.contains("v1-5-pruned-emaonly.safetensors"),
        "{problems}"
    );
}

#[tokio::test]
async fn the_probe_of_a_down_backend_fails() {
    let (fake, engine) = fake("sd15").await;
    fake.script(|s| s.down = true);
    let err = engine.probe().await.expect_err("down");
    assert!(matches!(err, EngineError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn the_probe_of_a_real_server() {
    let Some((_dir, engine)) = real("sd15") else {
        return;
    };
    let report = engine.probe().await.expect("probe");
    assert!(report.version.is_some());
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
