//! The health probe: is the server up, which version, and is everything the workflow
//! needs installed there (node classes through `/object_info/<class>`, which answers `{}`
//! for a missing one, and the model files and choices it names).

use std::collections::BTreeMap;

use serde_json::Value;

use super::client::Client;
use super::workflow::Workflow;
use crate::engine::{EngineError, ProbeReport};

/// Asks the server for its version and GPUs, every node class the workflow uses, and
/// every fixed choice (model files, sampler names) the workflow names.
pub(super) async fn probe(
    client: &Client,
    workflow: &Workflow,
) -> Result<ProbeReport, EngineError> {
    let stats = client.system_stats().await?;
    let mut report = ProbeReport {
        version: stats.system.comfyui_version,
        ..ProbeReport::default()
    };
    for device in &stats.devices {
        let vram = device.vram_total.unwrap_or(0) / (1024 * 1024);
        report
            .facts
            .push(format!("device {} ({vram} MiB)", device.name));
    }
    let mut infos = BTreeMap::new();
    for class in workflow.class_types() {
        let info = client.object_info(class).await?;
        match info.get(class) {
            Some(spec) => {
                infos.insert(class, spec.clone());
            }
            None => report.problems.push(format!(
                "node class `{class}` is not installed on the backend"
            )),
        }
    }
    if report.problems.is_empty() {
        report
            .facts
            .push(format!("all {} node classes present", infos.len()));
    }
    for (node, class, input, value) in workflow.fixed_choices() {
        let Some(choices) = infos.get(class).and_then(|spec| choices(spec, input)) else {
            continue;
        };
        if choices.contains(&value) {
            report
                .facts
                .push(format!("{class}.{input} `{value}` present"));
        } else {
            report.problems.push(format!(
                "node {node} ({class}): `{input}` = `{value}` is not available on the backend"
            ));
        }
    }
    Ok(report)
}

/// The choices of a COMBO input in `/object_info`: `[[...choices], {...}]`, or the newer
/// `["COMBO", {"options": [...]}]`.
fn choices<'a>(spec: &'a Value, input: &str) -> Option<Vec<&'a str>> {
    let inputs = spec.get("input")?;
    let entry = ["required", "optional"]
        .iter()
        .find_map(|group| inputs.get(group)?.get(input))?;
    let first = entry.get(0)?;
    let list = match first {
        Value::Array(list) => list,
        Value::String(kind) if kind == "COMBO" => entry.get(1)?.get("options")?.as_array()?,
        _ => return None,
    };
    Some(list.iter().filter_map(Value::as_str).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combo_choices_in_both_shapes() {
        let old = serde_json::json!({"input": {"required": {"ckpt_name": [["a.safetensors", "b.ckpt"], {}]}}});
        assert_eq!(
            choices(&old, "ckpt_name"),
            Some(vec!["a.safetensors", "b.ckpt"])
        );
        let new =
            serde_json::json!({"input": {"optional": {"x": ["COMBO", {"options": ["one"]}]}}});
        assert_eq!(choices(&new, "x"), Some(vec!["one"]));
        let int = serde_json::json!({"input": {"required": {"steps": ["INT", {"default": 20}]}}});
        assert_eq!(choices(&int, "steps"), None);
    }
}
