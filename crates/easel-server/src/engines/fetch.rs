//! Downloads of URLs a backend answered with (OpenAI's DALL·E `url` outputs), through the
//! webhook delivery client's SSRF guard: a backend, or whoever controls its answers, must
//! not be able to make Easel fetch from its own network. The operator's `webhooks.allow`
//! list applies, as for webhook endpoints.

use async_trait::async_trait;
use easel_core::mode::Mode;
use easel_engines::EngineError;
use easel_engines::registry::Fetch;

use crate::webhooks::Webhooks;

/// [`Fetch`] over the live webhook client.
pub struct GuardedFetch(pub std::sync::Arc<Webhooks>);

#[async_trait]
impl Fetch for GuardedFetch {
    async fn get(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, EngineError> {
        self.0
            .download(url, Mode::Live, max_bytes)
            .await
            .map_err(|e| match e {
                crate::webhooks::DownloadError::Refused(why) => EngineError::permanent_because(
                    "the backend pointed at an address Easel may not fetch from",
                    format!("refused to fetch a backend output from {url}: {why}"),
                ),
                crate::webhooks::DownloadError::TooBig => {
                    EngineError::bad_output(format!("the output is more than {max_bytes} bytes"))
                }
                crate::webhooks::DownloadError::Failed(why) => {
                    EngineError::transient(format!("fetching a backend output from {url}: {why}"))
                }
            })
    }
}

/// A downloader for building engines only to check their settings (at config load): it
/// is never called, since nothing runs.
pub fn unused() -> std::sync::Arc<dyn Fetch> {
    struct Unused;
    #[async_trait]
    impl Fetch for Unused {
        async fn get(&self, _url: &str, _max_bytes: usize) -> Result<Vec<u8>, EngineError> {
            Err(EngineError::misconfigured(
                "an engine built only to check the config was asked to download",
            ))
        }
    }
    std::sync::Arc::new(Unused)
}
