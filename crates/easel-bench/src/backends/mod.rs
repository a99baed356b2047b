//! The model backends Easel's real engines are measured in front of: the test tree's fakes
//! (`easel_test_utils::fakes`), which speak each backend's own wire format, set to answer
//! at once. Each runs as its own process of this binary (`fake-backend`), like every other
//! target, so its CPU is counted apart from Easel's and the load generator's. Per backend
//! (`openai`, `comfyui`): how to run the fake, the model entry that points Easel at it,
//! and the backend's own time — a bare client doing the same exchange Easel's engine does,
//! which the engines scenario subtracts from Easel's submit-to-succeeded time.

mod comfyui;
mod openai;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::ctx::Ctx;
use crate::procs::Proc;

pub use openai::{KEY, KEY_ENV, upstream_body};

/// Every benchmark image: the cheapest size the sandbox renders, asked of every backend.
pub const SIZE: (u32, u32) = (256, 256);

/// Which backend a fake speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// An OpenAI-compatible images API (`POST /v1/images/generations`, b64_json PNGs).
    Openai,
    /// ComfyUI: `/prompt`, the `/ws` websocket, `/history`, `/view`.
    Comfyui,
}

impl Kind {
    /// The name on the command line and Easel's engine name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Openai => "openai",
            Kind::Comfyui => "comfyui",
        }
    }

    /// A path that answers 200 once the fake is listening.
    fn ready_path(self) -> &'static str {
        match self {
            Kind::Openai => "/v1/models",
            Kind::Comfyui => "/system_stats",
        }
    }
}

/// Runs a fake backend of `kind` on `listen` until the process is killed.
pub async fn serve(kind: Kind, listen: SocketAddr) -> anyhow::Result<()> {
    match kind {
        Kind::Openai => openai::serve(listen).await,
        Kind::Comfyui => comfyui::serve(listen).await,
    }
}

/// Starts a fake backend process named `name` and waits until it answers.
pub async fn start(ctx: &Ctx, kind: Kind, name: &str) -> anyhow::Result<Proc> {
    ctx.start_bench(
        name,
        &["fake-backend", "--kind", kind.name()],
        kind.ready_path(),
    )
    .await
}

/// Writes what a model on `kind` needs beside the config file in `dir` (a ComfyUI
/// workflow); call before Easel starts.
pub fn prepare(kind: Kind, dir: &Path) -> anyhow::Result<()> {
    match kind {
        Kind::Openai => Ok(()),
        Kind::Comfyui => comfyui::write_workflow(dir),
    }
}

/// A `[models.<id>]` entry of Easel's config running on the fake at `addr`, with
/// `concurrency` jobs at once on the node. Priced like the sandbox image model.
pub fn model_toml(kind: Kind, id: &str, addr: SocketAddr, concurrency: u32) -> String {
    let (w, h) = SIZE;
    let settings = match kind {
        Kind::Openai => openai::settings(addr),
        Kind::Comfyui => comfyui::settings(id, addr),
    };
    format!(
        "[models.{id}]\nkind = \"image\"\nengine = \"{}\"\nweb_price = 10\nsizes = [\"{w}x{h}\"]\nmax_n = 4\nconcurrency = {concurrency}\n\n[models.{id}.settings]\n{settings}\n",
        kind.name()
    )
}

/// The backend's own time for one image, in milliseconds per exchange: `count` exchanges
/// one after another by a bare client (reqwest, and tokio-tungstenite for ComfyUI's
/// socket: the clients Easel's engines use), each read to its last byte.
pub async fn direct_ms(kind: Kind, addr: SocketAddr, count: usize) -> anyhow::Result<Vec<f64>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let started = Instant::now();
        match kind {
            Kind::Openai => openai::exchange(&client, addr).await?,
            Kind::Comfyui => comfyui::exchange(&client, addr, i).await?,
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of `toml` is one of `lines` or not checked; each of `lines` is there.
    fn has_lines(toml: &str, lines: &[&str]) {
        for line in lines {
            assert!(toml.lines().any(|l| l == *line), "{line} in {toml}");
        }
    }

    #[test]
    fn model_entries_point_at_their_fake_with_secrets_by_name() {
        let addr: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let toml = model_toml(Kind::Openai, "bench-image", addr, 32);
        assert!(toml.starts_with("[models.bench-image]\n"), "{toml}");
        has_lines(
            &toml,
            &[
                "engine = \"openai\"",
                "sizes = [\"256x256\"]",
                "concurrency = 32",
                "[models.bench-image.settings]",
                "base_url = \"http://127.0.0.1:9000/v1\"",
                "api_key_env = \"BENCH_OPENAI_KEY\"",
            ],
        );
        assert!(!toml.contains(KEY), "the key itself is never in the config");
        let toml = model_toml(Kind::Comfyui, "engine-0", addr, 1);
        has_lines(
            &toml,
            &[
                "engine = \"comfyui\"",
                "concurrency = 1",
                "base_url = \"http://127.0.0.1:9000\"",
                "[models.engine-0.settings.bindings]",
                "width = \"5.width\"",
            ],
        );
    }

    #[tokio::test]
    async fn the_backend_alone_is_timed_against_each_fake() {
        let (addr, _openai) = easel_test_utils::fakes::openai::start(
            easel_test_utils::fakes::openai::FakeOpenAiConfig::instant(),
        )
        .await
        .unwrap();
        let times = direct_ms(Kind::Openai, addr, 3).await.unwrap();
        assert_eq!(times.len(), 3);
        let (addr, comfy) = easel_test_utils::fakes::comfyui::start().await;
        comfy.script(comfyui::instant);
        let times = direct_ms(Kind::Comfyui, addr, 3).await.unwrap();
        assert_eq!(times.len(), 3);
        assert_eq!(
            comfy.recorded().views.len(),
            3,
            "each exchange fetched its image"
        );
    }
}
