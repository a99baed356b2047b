//! The operator's API-format workflow and its bindings: loaded and checked once when the
//! server starts (so a typo refuses to start with the file, the binding and the reason,
//! instead of failing every generation), then copied and filled for each run.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Node classes whose results are files Easel can collect. `PreviewImage` writes to the
/// `temp` folder and only counts when nothing else saves.
pub const OUTPUT_CLASSES: &[&str] = &[
    "SaveImage",
    "SaveVideo",
    "SaveWEBM",
    "SaveAnimatedWEBP",
    "SaveAnimatedPNG",
    "VHS_VideoCombine",
    "PreviewImage",
];

const PREVIEW_CLASS: &str = "PreviewImage";

/// Which node input receives each request value, as `"<node_id>.<input_name>"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bindings {
    pub prompt: Option<String>,
    pub negative_prompt: Option<String>,
    pub seed: Option<String>,
    pub width: Option<String>,
    pub height: Option<String>,
    pub batch_size: Option<String>,
    pub input_image: Option<String>,
    pub frames: Option<String>,
    pub fps: Option<String>,
    pub duration: Option<String>,
}

/// One checked binding: a node id and one of its input names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub node: String,
    pub input: String,
}

/// The checked bindings; only `prompt` is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub prompt: Target,
    pub negative_prompt: Option<Target>,
    pub seed: Option<Target>,
    pub width: Option<Target>,
    pub height: Option<Target>,
    pub batch_size: Option<Target>,
    pub input_image: Option<Target>,
    pub frames: Option<Target>,
    pub fps: Option<Target>,
    pub duration: Option<Target>,
}

/// What one run puts into the graph; `None` leaves the workflow's own value.
#[derive(Debug, Clone, Default)]
pub struct Values<'a> {
    pub prompt: &'a str,
    pub negative_prompt: &'a str,
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub batch_size: u32,
    pub input_image: Option<&'a str>,
    pub frames: Option<u32>,
    pub fps: Option<u32>,
    pub duration: Option<u32>,
}

/// A loaded, checked workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    graph: Map<String, Value>,
    pub bound: Bound,
    collect: Vec<String>,
}

impl Workflow {
    /// Reads and checks `path`; errors name `shown` (the path as the operator wrote it).
    pub fn load(
        path: &Path,
        shown: &str,
        bindings: &Bindings,
        output_nodes: &[String],
    ) -> Result<Workflow, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("workflow `{shown}` cannot be read: {e}"))?;
        Workflow::parse(&text, bindings, output_nodes)
            .map_err(|e| format!("workflow `{shown}`: {e}"))
    }

    /// Checks a workflow's text.
    pub fn parse(
        text: &str,
        bindings: &Bindings,
        output_nodes: &[String],
    ) -> Result<Workflow, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            format!(
                "not valid JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            )
        })?;
        let graph = api_graph(value)?;
        let collect = output_nodes_of(&graph, output_nodes)?;
        let bound = bind(&graph, bindings)?;
        Ok(Workflow {
            graph,
            bound,
            collect,
        })
    }

    /// Every node class the workflow uses, for the probe.
    pub fn class_types(&self) -> BTreeSet<&str> {
        self.graph.values().filter_map(class_type).collect()
    }

    /// The nodes whose outputs are collected, in id order.
    pub fn output_nodes(&self) -> &[String] {
        &self.collect
    }

    /// `(node id, class, input name, value)` of every literal string input not bound to a
    /// request value: the model files and choices the backend must have.
    pub fn fixed_choices(&self) -> Vec<(&str, &str, &str, &str)> {
        let mut out = Vec::new();
        for (id, node) in &self.graph {
            let (Some(class), Some(inputs)) = (class_type(node), inputs_of(node)) else {
                continue;
            };
            for (input, value) in inputs {
                if let Some(text) = value.as_str()
                    && !self.is_bound(id, input)
                {
                    out.push((id.as_str(), class, input.as_str(), text));
                }
            }
        }
        out
    }

    fn is_bound(&self, node: &str, input: &str) -> bool {
        self.bound.all().any(|t| t.node == node && t.input == input)
    }

    /// A copy of the graph with `values` put into the bound inputs.
    pub fn fill(&self, values: &Values<'_>) -> Value {
        let mut graph = self.graph.clone();
        let b = &self.bound;
        set(&mut graph, Some(&b.prompt), Value::from(values.prompt));
        set(
            &mut graph,
            b.negative_prompt.as_ref(),
            Value::from(values.negative_prompt),
        );
        set(&mut graph, b.seed.as_ref(), Value::from(values.seed));
        set(&mut graph, b.width.as_ref(), Value::from(values.width));
        set(&mut graph, b.height.as_ref(), Value::from(values.height));
        set(
            &mut graph,
            b.batch_size.as_ref(),
            Value::from(values.batch_size),
        );
        if let Some(name) = values.input_image {
            set(&mut graph, b.input_image.as_ref(), Value::from(name));
        }
        for (target, value) in [
            (&b.frames, values.frames),
            (&b.fps, values.fps),
            (&b.duration, values.duration),
        ] {
            if let Some(v) = value {
                set(&mut graph, target.as_ref(), Value::from(v));
            }
        }
        Value::Object(graph)
    }
}

impl Bound {
    fn all(&self) -> impl Iterator<Item = &Target> {
        [
            Some(&self.prompt),
            self.negative_prompt.as_ref(),
            self.seed.as_ref(),
            self.width.as_ref(),
            self.height.as_ref(),
            self.batch_size.as_ref(),
            self.input_image.as_ref(),
            self.frames.as_ref(),
            self.fps.as_ref(),
            self.duration.as_ref(),
        ]
        .into_iter()
        .flatten()
    }
}

fn set(graph: &mut Map<String, Value>, target: Option<&Target>, value: Value) {
    let Some(t) = target else { return };
    if let Some(inputs) = graph
        .get_mut(&t.node)
        .and_then(|n| n.get_mut("inputs"))
        .and_then(Value::as_object_mut)
    {
        inputs.insert(t.input.clone(), value);
    }
}

fn class_type(node: &Value) -> Option<&str> {
    node.get("class_type").and_then(Value::as_str)
}

fn inputs_of(node: &Value) -> Option<&Map<String, Value>> {
    node.get("inputs").and_then(Value::as_object)
}

/// The graph of an API-format export: `{id: {class_type, inputs}}`.
fn api_graph(value: Value) -> Result<Map<String, Value>, String> {
    let Value::Object(graph) = value else {
        return Err("is not a JSON object of nodes (expected ComfyUI's API format)".to_owned());
    };
    if graph.contains_key("nodes") && graph.contains_key("links") {
        return Err("is in ComfyUI's UI format (it has `nodes` and `links`); \
             export it with \"Export (API)\" in ComfyUI and point `workflow` at that file"
            .to_owned());
    }
    if graph.is_empty() {
        return Err("has no nodes".to_owned());
    }
    for (id, node) in &graph {
        if class_type(node).is_none() {
            return Err(format!(
                "node {id} has no `class_type` (is this an API-format export?)"
            ));
        }
        if inputs_of(node).is_none() {
            return Err(format!("node {id} has no `inputs` object"));
        }
    }
    Ok(graph)
}

/// The nodes to collect outputs from: `output_nodes` when given, else every known output
/// class, previews only when nothing saves.
fn output_nodes_of(graph: &Map<String, Value>, listed: &[String]) -> Result<Vec<String>, String> {
    if !listed.is_empty() {
        for id in listed {
            if !graph.contains_key(id) {
                return Err(format!(
                    "`output_nodes` names node {id}, which does not exist"
                ));
            }
        }
        return Ok(sorted(listed.to_vec()));
    }
    let known = |keep_preview: bool| -> Vec<String> {
        graph
            .iter()
            .filter(|(_, n)| {
                class_type(n).is_some_and(|c| {
                    OUTPUT_CLASSES.contains(&c) && (keep_preview || c != PREVIEW_CLASS)
                })
            })
            .map(|(id, _)| id.clone())
            .collect()
    };
    let saving = known(false);
    let nodes = if saving.is_empty() {
        known(true)
    } else {
        saving
    };
    if nodes.is_empty() {
        return Err(format!(
            "has no output node (one of {}); add one, or list the nodes to collect in `output_nodes`",
            OUTPUT_CLASSES.join(", ")
        ));
    }
    Ok(sorted(nodes))
}

/// Numeric ids in numeric order, then the rest.
fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort_by_key(|id| (id.parse::<u64>().unwrap_or(u64::MAX), id.clone()));
    ids
}

fn bind(graph: &Map<String, Value>, b: &Bindings) -> Result<Bound, String> {
    let one = |name: &str, raw: &Option<String>| -> Result<Option<Target>, String> {
        raw.as_deref().map(|r| target(graph, name, r)).transpose()
    };
    let prompt = one("prompt", &b.prompt)?.ok_or_else(|| {
        "`bindings.prompt` is required (the node input that receives the prompt, e.g. \"6.text\")"
            .to_owned()
    })?;
    Ok(Bound {
        prompt,
        negative_prompt: one("negative_prompt", &b.negative_prompt)?,
        seed: one("seed", &b.seed)?,
        width: one("width", &b.width)?,
        height: one("height", &b.height)?,
        batch_size: one("batch_size", &b.batch_size)?,
        input_image: one("input_image", &b.input_image)?,
        frames: one("frames", &b.frames)?,
        fps: one("fps", &b.fps)?,
        duration: one("duration", &b.duration)?,
    })
}

/// Checks one `"<node_id>.<input_name>"` against the graph.
fn target(graph: &Map<String, Value>, name: &str, raw: &str) -> Result<Target, String> {
    let wrong = |why: String| format!("binding `{name}` = \"{raw}\": {why}");
    let (node, input) = raw
        .split_once('.')
        .filter(|(n, i)| !n.is_empty() && !i.is_empty())
        .ok_or_else(|| wrong("expected \"<node_id>.<input_name>\", e.g. \"6.text\"".to_owned()))?;
    let Some(found) = graph.get(node) else {
        return Err(wrong(format!("there is no node {node}")));
    };
    let inputs = inputs_of(found).map(|i| i.keys().map(String::as_str).collect::<Vec<_>>());
    let inputs = inputs.unwrap_or_default();
    if !inputs.contains(&input) {
        return Err(wrong(format!(
            "node {node} ({}) has no input `{input}` (its inputs: {})",
            class_type(found).unwrap_or("?"),
            inputs.join(", ")
        )));
    }
    Ok(Target {
        node: node.to_owned(),
        input: input.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRAPH: &str = r#"{
      "3": {"class_type": "KSampler", "inputs": {"seed": 1, "model": ["4", 0]}},
      "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}},
      "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "x"}},
      "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI"}},
      "10": {"class_type": "PreviewImage", "inputs": {}}
    }"#;

    fn bindings() -> Bindings {
        Bindings {
            prompt: Some("6.text".to_owned()),
            seed: Some("3.seed".to_owned()),
            ..Bindings::default()
        }
    }

    #[test]
    fn fill_sets_only_the_bound_inputs() {
        let wf = Workflow::parse(GRAPH, &bindings(), &[]).expect("valid");
        let filled = wf.fill(&Values {
            prompt: "a cat",
            seed: 7,
            ..Values::default()
        });
        assert_eq!(filled["6"]["inputs"]["text"], "a cat");
        assert_eq!(filled["3"]["inputs"]["seed"], 7);
        assert_eq!(filled["3"]["inputs"]["model"], serde_json::json!(["4", 0]));
        assert_eq!(
            wf.output_nodes(),
            ["9"],
            "previews skipped when something saves"
        );
    }

    #[test]
    fn fixed_choices_skip_bound_inputs() {
        let wf = Workflow::parse(GRAPH, &bindings(), &[]).expect("valid");
        let choices = wf.fixed_choices();
        assert!(choices.contains(&("4", "CheckpointLoaderSimple", "ckpt_name", "a.safetensors")));
        assert!(!choices.iter().any(|c| c.0 == "6"), "{choices:?}");
    }

    #[test]
    fn bad_bindings_say_what_is_wrong() {
        let err = |b: Bindings| Workflow::parse(GRAPH, &b, &[]).expect_err("invalid");
        let missing_input = err(Bindings {
            seed: Some("3.noise_seed".to_owned()),
            ..bindings()
        });
        assert!(missing_input.contains("binding `seed`") && missing_input.contains("noise_seed"));
        assert!(err(Bindings::default()).contains("`bindings.prompt` is required"));
        assert!(
            err(Bindings {
                prompt: Some("6text".to_owned()),
                ..bindings()
            })
            .contains("expected")
        );
    }
}
