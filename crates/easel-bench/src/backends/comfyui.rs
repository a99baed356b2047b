//! The fake ComfyUI (`easel_test_utils::fakes::comfyui`: HTTP and the `/ws` websocket,
//! one prompt at a time) running the SD1.5 text-to-image example workflow that Easel
//! ships, with one sampler step that takes no time: a GPU box that answers at once.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use easel_test_utils::fakes::comfyui::{self as fake, Script};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::SIZE;

/// The example workflow operators start from (config/examples/engines.toml `sd15`).
const WORKFLOW: &str = include_str!("../../../../config/examples/comfyui/sd15-text-to-image.json");
/// Its file name beside Easel's config file.
const WORKFLOW_FILE: &str = "bench-sd15-text-to-image.json";
/// The example's bindings: request value → `<node id>.<input>`.
const BINDINGS: &[(&str, &str)] = &[
    ("prompt", "6.text"),
    ("negative_prompt", "7.text"),
    ("seed", "3.seed"),
    ("width", "5.width"),
    ("height", "5.height"),
    ("batch_size", "5.batch_size"),
];
/// Longest wait for one direct exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// One step, no wait: the run's events (start, progress, a preview, executed, success)
/// still go over the socket, so the follow is exercised in full.
pub fn instant(script: &mut Script) {
    script.steps = 1;
    script.step_ms = 0;
}

pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    // The fake stops when this handle is dropped, so it is held while we wait forever.
    let (_, fake) = fake::start_on(listen).await?;
    fake.script(instant);
    std::future::pending::<()>().await;
    Ok(())
}

pub fn write_workflow(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(WORKFLOW_FILE), WORKFLOW)?;
    Ok(())
}

/// The model's `settings` table (the workflow path is relative to the config file).
pub fn settings(id: &str, addr: SocketAddr) -> String {
    let mut toml = format!(
        "base_url = \"http://{addr}\"\nworkflow = \"{WORKFLOW_FILE}\"\n\n[models.{id}.settings.bindings]\n"
    );
    for (value, input) in BINDINGS {
        toml.push_str(&format!("{value} = \"{input}\"\n"));
    }
    toml
}

/// The workflow filled for one image, as the engine fills it through the bindings.
fn graph(prompt: &str, seed: u64) -> anyhow::Result<Value> {
    let mut graph: Value = serde_json::from_str(WORKFLOW)?;
    let (w, h) = SIZE;
    let values = [
        json!(prompt),
        json!(""),
        json!(seed),
        json!(w),
        json!(h),
        json!(1),
    ];
    for ((_, input), value) in BINDINGS.iter().zip(values) {
        let Some((node, name)) = input.split_once('.') else {
            anyhow::bail!("binding {input} is not <node>.<input>");
        };
        graph[node]["inputs"][name] = value;
    }
    Ok(graph)
}

/// One image the way the engine makes it: the socket opened first, `/prompt` with our own
/// ids, the socket followed to `executing` with `node: null`, `/history/{id}`, `/view`.
pub async fn exchange(client: &reqwest::Client, addr: SocketAddr, n: usize) -> anyhow::Result<()> {
    tokio::time::timeout(EXCHANGE_TIMEOUT, run(client, addr, n))
        .await
        .map_err(|_| anyhow::anyhow!("a direct ComfyUI exchange took over 30 s"))?
}

async fn run(client: &reqwest::Client, addr: SocketAddr, n: usize) -> anyhow::Result<()> {
    // ComfyUI wants a canonical UUID; these cannot be Easel's (derived from its ids).
    let prompt_id = format!("be4c0000-0000-4000-8000-{n:012x}");
    let client_id = format!("bench-{prompt_id}");
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws?clientId={client_id}")).await?;
    let body = json!({
        "prompt": graph("a lighthouse on a cliff at dusk", n as u64)?,
        "client_id": client_id,
        "prompt_id": prompt_id,
    });
    let queued = client
        .post(format!("http://{addr}/prompt"))
        .json(&body)
        .send()
        .await?;
    if !queued.status().is_success() {
        anyhow::bail!(
            "the fake ComfyUI refused the prompt: {}",
            queued.text().await?
        );
    }
    wait_until_done(&mut socket, &prompt_id).await?;
    let history: Value = client
        .get(format!("http://{addr}/history/{prompt_id}"))
        .send()
        .await?
        .json()
        .await?;
    let image = first_image(&history[&prompt_id]["outputs"])?;
    let text = |k: &str| image[k].as_str().unwrap_or_default().to_string();
    let bytes = client
        .get(format!("http://{addr}/view"))
        .query(&[
            ("filename", text("filename")),
            ("subfolder", text("subfolder")),
            ("type", text("type")),
        ])
        .send()
        .await?
        .bytes()
        .await?;
    if bytes.is_empty() {
        anyhow::bail!("the fake ComfyUI's /view answered nothing");
    }
    let _ = socket.close(None).await;
    Ok(())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads the socket until the run of `prompt_id` has ended (its history is written).
async fn wait_until_done(socket: &mut Socket, prompt_id: &str) -> anyhow::Result<()> {
    while let Some(message) = socket.next().await {
        // Binary frames are previews; only the text events say where the run is.
        let Message::Text(text) = message? else {
            continue;
        };
        let event: Value = serde_json::from_str(text.as_str())?;
        let data = &event["data"];
        if event["type"] == "executing" && data["node"].is_null() && data["prompt_id"] == prompt_id
        {
            return Ok(());
        }
    }
    anyhow::bail!("the fake ComfyUI closed the socket before the run ended")
}

/// The first `{filename, subfolder, type}` among the outputs' images.
fn first_image(outputs: &Value) -> anyhow::Result<&Value> {
    outputs
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .find_map(|ui| ui["images"].get(0))
        .ok_or_else(|| anyhow::anyhow!("the fake ComfyUI's history has no image: {outputs}"))
}
