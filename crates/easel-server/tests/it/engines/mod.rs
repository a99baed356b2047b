//! Real model backends through Easel's HTTP API, each against a fake in the test tree that
//! speaks its wire format (`easel_test_utils::fakes`): create → succeeded with decoded
//! outputs, image-to-image, n > 1, cancel, retries, permanent failures, backend refusals,
//! the breaker, and secrets kept out of logs and answers. On both databases.

mod automatic1111;
mod check;
mod comfyui;
mod examples;
mod openai;
pub mod support;
