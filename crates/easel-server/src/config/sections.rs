//! One struct per config section.

use serde::{Deserialize, Serialize};

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub request_timeout_seconds: u64,
    pub shutdown_grace_seconds: u64,
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
}

/// `[api_keys]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeysConfig {
    pub prefix: String,
    pub rotation_grace_hours: u32,
    pub invalidation_poll_ms: u64,
    pub last_used_flush_seconds: u64,
}

/// The licence outputs carry (spec clause 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Licence {
    NonCommercial,
    CommercialAttribution,
    WhiteLabel,
}

/// `[plans.<name>]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    pub requests_per_minute: u32,
    pub requests_per_day: u32,
    pub concurrent_jobs: u32,
    pub licence: Licence,
    pub retention_days: u32,
    pub monthly_credits: i64,
}
