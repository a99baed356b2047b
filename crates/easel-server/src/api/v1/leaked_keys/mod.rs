//! Leaked keys, reported without an API key: by GitHub's secret scanning
//! (`POST /v1/secret_scanning/github`) or by anyone holding one (`POST /v1/leaked_keys`).

pub mod dto;
pub mod github;
pub mod report;
