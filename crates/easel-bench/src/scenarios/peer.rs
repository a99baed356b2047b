//! A peer on the same machine, as a reference line: the LiteLLM proxy (from PyPI) answering
//! `POST /v1/images/generations` by forwarding to a fake OpenAI image API that answers at
//! once, next to Easel's own OpenAI-compatible `POST /v1/images/generations` (which really
//! queues, renders a 256x256 sandbox PNG, stores it and answers with its URL).

use std::path::Path;
use std::time::Instant;

use crate::ctx::Ctx;
use crate::easel::{Easel, Setup};
use crate::load::{self, Call, Load};
use crate::procs::{self, Proc};

const BODY: &str = r#"{"model":"bench-image","prompt":"a lighthouse on a cliff at dusk","n":1,"size":"256x256","response_format":"b64_json"}"#;

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let script = Path::new("scripts/peer-litellm");
    if !script.exists() {
        ctx.report
            .note("peer: scripts/peer-litellm missing, LiteLLM not measured");
        return Ok(());
    }
    ctx.log("peer: LiteLLM proxy (installing on first use) vs Easel, POST /v1/images/generations");
    let backend = ctx
        .start_bench("mock-openai", &["mock-openai"], "/readyz")
        .await?;
    let addr = procs::free_addr()?;
    let mut litellm = Proc::spawn(
        "litellm",
        Path::new("bash"),
        &[
            script.display().to_string(),
            addr.port().to_string(),
            format!("http://{}/v1", backend.addr),
        ],
        &[],
        &ctx.work.join("litellm"),
        addr,
    )?;
    litellm
        .wait_ready("/health/readiness", Instant::now())
        .await?;
    let dir = ctx.work.join("peer-easel");
    let setup = Setup::new(
        "peer-easel",
        &format!("sqlite://{}/easel.db", dir.display()),
        &dir,
    );
    let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
    let closed = Load::closed(ctx.connections, ctx.window);
    let peer_call =
        load::same(Call::post_json("/v1/images/generations", BODY).bearer("sk-bench-master"));
    let easel_call = load::same(
        Call::post_json(
            "/v1/images/generations",
            BODY.replace("bench-image", "sandbox-image"),
        )
        .bearer(&easel.test_key),
    );
    for run in 0..ctx.runs {
        ctx.log(&format!("peer: run {}/{}", run + 1, ctx.runs));
        ctx.window(
            "peer.litellm",
            "LiteLLM proxy → instant fake backend",
            &litellm,
            closed,
            peer_call.clone(),
            false,
        )
        .await?;
        ctx.window(
            "peer.easel",
            "Easel /v1/images/generations (sandbox renders)",
            &easel.proc,
            closed,
            easel_call.clone(),
            false,
        )
        .await?;
    }
    easel.stop().await?;
    litellm.stop().await?;
    drop(backend);
    Ok(())
}
