//! Configuration: embedded defaults → the TOML file → `EASEL_*` environment variables.
//!
//! Loading fails with the file, line and reason (or the environment variable and reason),
//! and the server never starts half-configured: every cross-field rule is checked here, at
//! boot, not when a request first needs the value.

mod load;
mod sections;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

pub use load::{ConfigError, load};
pub use sections::InvoicingConfig;
pub use sections::{
    AbuseConfig, ClassifierConfig, MailConfig, MailTransport, RequestLogConfig, StrikesConfig,
    SuspendJobsChoice,
};
pub use sections::{
    ApiKeysConfig, CreditsConfig, DatabaseConfig, GenerationsConfig, HttpConfig, Licence,
    ModelConfig, OutputsConfig, PaymentsConfig, PlanConfig, PricingConfig, QueueConfig, S3Config,
    StripeConfig,
};
pub use sections::{ConsoleConfig, DataRightsConfig, DeprecationConfig, SignupMode};
pub use sections::{
    EnginesConfig, LimitsConfig, MetricsConfig, StatusConfig, WebhooksConfig, WorkersConfig,
};
pub use sections::{GithubPublicKey, OnLeak, SecretScanningConfig};
pub use sections::{ModerationConfig, ModerationFailure, OutputModerationConfig};

/// The embedded defaults, also the documentation of every key.
pub const DEFAULT_TOML: &str = include_str!("../../../../config/easel.default.toml");

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    pub public_url: String,
    pub database_url: String,
    pub object_store_url: String,
    pub redis_url: String,
    pub default_plan: String,
    pub terms_version: String,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub api_keys: ApiKeysConfig,
    pub plans: std::collections::BTreeMap<String, PlanConfig>,
    pub pricing: PricingConfig,
    pub credits: CreditsConfig,
    pub models: std::collections::BTreeMap<String, ModelConfig>,
    pub generations: GenerationsConfig,
    pub queue: QueueConfig,
    pub outputs: OutputsConfig,
    pub s3: S3Config,
    pub payments: PaymentsConfig,
    pub invoicing: InvoicingConfig,
    pub moderation: ModerationConfig,
    pub abuse: AbuseConfig,
    pub secret_scanning: SecretScanningConfig,
    pub console: ConsoleConfig,
    pub request_log: RequestLogConfig,
    pub data_rights: DataRightsConfig,
    pub mail: MailConfig,
    pub limits: LimitsConfig,
    pub metrics: MetricsConfig,
    pub status: StatusConfig,
    pub webhooks: WebhooksConfig,
    pub engines: EnginesConfig,
    pub workers: WorkersConfig,
    /// Deprecated API operations (`[[deprecations]]`), none by default.
    #[serde(default)]
    pub deprecations: Vec<DeprecationConfig>,
    /// The directory of the config file (the working directory without one): relative
    /// paths in model settings, such as a ComfyUI workflow, are read from there.
    #[serde(skip)]
    pub config_dir: PathBuf,
}

impl Config {
    /// The deprecation of an operation (method and route template), if it has one.
    pub fn deprecation(&self, method: &str, route: &str) -> Option<&DeprecationConfig> {
        self.deprecations
            .iter()
            .find(|d| d.route == route && d.method.eq_ignore_ascii_case(method))
    }

    /// The address to bind (validated at load).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// The database URL, defaulting to the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("easel.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// Where outputs are stored: `file://…` or `s3://bucket/prefix`, defaulting to
    /// `DATA_DIR/outputs`.
    pub fn object_store_url(&self) -> String {
        if self.object_store_url.is_empty() {
            format!("file://{}", self.data_dir.join("outputs").display())
        } else {
            self.object_store_url.clone()
        }
    }

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// The price markup (validated at load, so the default is never used in practice).
    pub fn markup(&self) -> easel_core::models::Markup {
        easel_core::models::Markup::parse(&self.pricing.markup)
            .unwrap_or(easel_core::models::Markup::DEFAULT)
    }

    /// An enabled model.
    pub fn model(&self, id: &str) -> Option<&ModelConfig> {
        self.models.get(id).filter(|m| m.enabled)
    }

    /// The configuration of a plan that exists.
    pub fn plan(&self, name: &str) -> Option<&PlanConfig> {
        self.plans.get(name)
    }
}
