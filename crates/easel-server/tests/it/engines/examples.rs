//! The shipped example models (`config/examples/engines.toml`) load and build, and a
//! model whose settings are wrong stops the start with the reason.

use std::path::{Path, PathBuf};

use easel_server::config;
use easel_server::engines::Secrets;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples")
}

/// The examples with their secrets' variables renamed to one that is always set (tests
/// cannot set variables), in a copy next to the workflow files they name.
fn examples_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let text = std::fs::read_to_string(examples_dir().join("engines.toml"))
        .unwrap_or_else(|e| panic!("engines.toml: {e}"));
    let text = text
        .replace("\"OPENAI_API_KEY\"", "\"PATH\"")
        .replace("\"FORGE_API_PASSWORD\"", "\"PATH\"");
    std::fs::write(dir.path().join("engines.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    let workflows = examples_dir().join("comfyui");
    if workflows.is_dir() {
        let to = dir.path().join("comfyui");
        std::fs::create_dir_all(&to).unwrap_or_else(|e| panic!("{e}"));
        for entry in std::fs::read_dir(&workflows).unwrap_or_else(|e| panic!("{e}")) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    dir
}

#[test]
fn every_example_model_loads_and_builds() {
    let dir = examples_copy();
    let loaded = config::load(Some(&dir.path().join("engines.toml")), &[])
        .unwrap_or_else(|e| panic!("the examples must load: {e}"));
    for engine in ["openai", "automatic1111", "comfyui"] {
        assert!(
            loaded.models.values().any(|m| m.engine == engine),
            "an example of the {engine} engine"
        );
    }
    assert!(
        loaded
            .models
            .values()
            .any(|m| m.engine == "comfyui" && m.kind == easel_core::models::ModelKind::Video),
        "a ComfyUI video example"
    );
    for (id, model) in &loaded.models {
        easel_server::engines::build(&loaded, id, model, None, Secrets::Required)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
}

#[test]
fn a_missing_secret_variable_stops_a_serving_node_but_not_the_admin_tools() {
    let dir = examples_copy();
    let path = dir.path().join("engines.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let unset = "EASEL_TEST_SURELY_UNSET_OPENAI_KEY";
    std::fs::write(
        &path,
        text.replacen(
            "api_key_env = \"PATH\"",
            &format!("api_key_env = \"{unset}\""),
            1,
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The config loads (the admin commands read it and never call a backend)…
    let loaded = config::load(Some(&path), &[]).unwrap_or_else(|e| panic!("loads: {e}"));
    let model = &loaded.models["gpt-image"];
    easel_server::engines::build(&loaded, "gpt-image", model, None, Secrets::Placeholder)
        .unwrap_or_else(|e| panic!("a tool needs only the name: {e}"));
    // …but a node that would call the backend refuses to start, naming the variable.
    let err = easel_server::engines::build(&loaded, "gpt-image", model, None, Secrets::Required)
        .map(|_| ())
        .unwrap_err();
    assert!(err.contains(unset) && err.contains("not set"), "{err}");
}
