//! The fake OpenAI images API (`easel_test_utils::fakes::openai`, its instant mode: no
//! recording, pictures encoded once per size): the peer's backend, for LiteLLM and for
//! Easel's `openai` engine alike.

use std::net::SocketAddr;

use easel_test_utils::fakes::openai::{self as fake, FakeOpenAiConfig};

use super::SIZE;

/// The key Easel's models send to the fake (the instant fake accepts any key; one is sent
/// anyway because an operator's gateway wants one, and LiteLLM sends its own).
pub const KEY: &str = "sk-bench";
/// The environment variable that holds [`KEY`] for Easel (`api_key_env`).
pub const KEY_ENV: &str = "BENCH_OPENAI_KEY";
/// The upstream model both Easel and LiteLLM ask the fake for. LiteLLM's config says
/// `openai/dall-e-2`, so Easel's model asks for the same: the same upstream call.
const UPSTREAM_MODEL: &str = "dall-e-2";

pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    // The fake stops when this handle is dropped, so it is held while we wait forever.
    let (_, _fake) = fake::start_on(listen, FakeOpenAiConfig::instant()).await?;
    std::future::pending::<()>().await;
    Ok(())
}

/// The model's `settings` table: base64 answers, as LiteLLM's requests ask.
pub fn settings(addr: SocketAddr) -> String {
    format!(
        "base_url = \"http://{addr}/v1\"\napi_key_env = \"{KEY_ENV}\"\nmodel = \"{UPSTREAM_MODEL}\"\nresponse_format = \"b64_json\"\n"
    )
}

/// The upstream request Easel's engine sends for one benchmark image, as LiteLLM also
/// forwards the peer's request.
pub fn upstream_body(prompt: &str) -> String {
    let (w, h) = SIZE;
    format!(
        r#"{{"model":"{UPSTREAM_MODEL}","prompt":"{prompt}","n":1,"size":"{w}x{h}","response_format":"b64_json"}}"#
    )
}

/// One image the way the engine asks for it.
pub async fn exchange(client: &reqwest::Client, addr: SocketAddr) -> anyhow::Result<()> {
    let answer = client
        .post(format!("http://{addr}/v1/images/generations"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(upstream_body("a lighthouse on a cliff at dusk"))
        .send()
        .await?;
    let status = answer.status();
    let body = answer.bytes().await?;
    if !status.is_success() || body.is_empty() {
        anyhow::bail!("the fake OpenAI API answered {status} to a direct request");
    }
    Ok(())
}
