//! One struct per config section.

use serde::{Deserialize, Serialize};

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub request_timeout_seconds: u64,
    pub shutdown_grace_seconds: u64,
    /// Seconds a client has, from the first byte of a request, to finish its request line
    /// and headers; trickled or half-sent heads are cut here.
    pub header_read_timeout_seconds: u64,
    /// Seconds a connection may go without any byte read or written while no request is
    /// being handled (an idle keep-alive connection, or a response nobody reads).
    pub idle_timeout_seconds: u64,
    /// Open connections allowed from one TCP peer (an IPv4 address or an IPv6 /64); 0: no cap.
    pub max_connections_per_ip: usize,
    /// Peers (CIDR blocks such as `10.0.0.0/8`) the per-peer cap does not apply to, such as a
    /// load balancer that carries every client's connections.
    pub connection_cap_exempt: Vec<String>,
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
    /// What happens to a key whose secret is reported found in public.
    pub on_leak: OnLeak,
    /// Days before a key's `expires_at` that its `key.expiring` event is sent (0: never).
    pub expiring_notice_days: u32,
}

/// `[api_keys] on_leak`: what a leak report does to a live (or test) key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLeak {
    /// Revoke the key at once (the terms ask for immediate revocation on compromise).
    Revoke,
    /// Keep it working, record the report on it and tell its owners.
    Flag,
}

/// `[secret_scanning]`: leaked-key reports (GitHub's partner program and the keyless API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretScanningConfig {
    /// GitHub's public keys; empty switches `POST /v1/secret_scanning/github` off (404).
    pub github_public_keys: Vec<GithubPublicKey>,
    /// Largest GitHub delivery accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most matches one GitHub delivery may carry.
    pub max_matches: usize,
    /// Keyless `POST /v1/leaked_keys` reports per client address per minute (0: no limit).
    pub reports_per_ip_per_minute: u32,
}

/// One of GitHub's secret-scanning signing keys, as GitHub publishes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubPublicKey {
    /// The `key_identifier` GitHub names in `Github-Public-Key-Identifier`.
    pub key_identifier: String,
    /// The ECDSA P-256 public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub key: String,
}

/// The licence outputs carry (spec clause 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Licence {
    NonCommercial,
    CommercialAttribution,
    WhiteLabel,
}

/// `[pricing]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    /// A decimal such as "1.5"; kept as text so it is never a float.
    pub markup: String,
    /// Credits charged for a live generation request refused as invalid (0: none).
    pub invalid_input_fee: i64,
    /// What a generation whose output moderation blocked costs: `release` (nothing) or
    /// `charge` (its price).
    pub blocked_output_policy: easel_core::credits::BlockedOutputPolicy,
}

/// `[credits]`: what the ledger tells developers about their balance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditsConfig {
    /// The live available balance below which an account gets `credits.low` (0: never).
    pub low_balance_credits: i64,
}

/// `[models.<id>]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub kind: easel_core::models::ModelKind,
    pub engine: String,
    #[serde(default)]
    pub description: String,
    /// Credits per megapixel (images) or per megapixel-second (videos), before the markup.
    pub web_price: u64,
    pub sizes: Vec<String>,
    #[serde(default = "one")]
    pub max_n: u32,
    #[serde(default)]
    pub durations: Vec<u32>,
    #[serde(default)]
    pub fps: Vec<u32>,
    #[serde(default)]
    pub plans: Vec<String>,
    #[serde(default = "default_max_queue_seconds")]
    pub max_queue_seconds: u64,
    /// Jobs run at once on each node; 0 (the default) takes the engine's own default
    /// (1 for AUTOMATIC1111 and ComfyUI, which run one job at a time).
    #[serde(default)]
    pub concurrency: u32,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Engine-specific settings, checked by the engine at start.
    #[serde(default)]
    pub settings: toml::Table,
}

impl ModelConfig {
    /// Jobs this model runs at once on a node.
    pub fn slots(&self) -> u32 {
        if self.concurrency == 0 {
            easel_engines::registry::default_concurrency(&self.engine)
        } else {
            self.concurrency
        }
    }
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_max_queue_seconds() -> u64 {
    600
}
fn default_max_attempts() -> u32 {
    3
}
fn default_timeout_seconds() -> u64 {
    300
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
    /// The Stripe Price (`price_…`, recurring monthly, EUR) a member subscribes to for this
    /// plan from the console; absent: the plan cannot be bought (the operator sets it).
    #[serde(default)]
    pub stripe_price: Option<String>,
    /// What that price costs a month, in whole euros, as the plans page shows it (Stripe's
    /// price is what is charged; keep the two equal).
    #[serde(default)]
    pub price_eur_month: Option<u64>,
}

impl PlanConfig {
    /// Whether members can subscribe to this plan through Stripe.
    pub fn sold(&self) -> bool {
        self.stripe_price.is_some()
    }
}

/// `[generations]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationsConfig {
    /// The image model of OpenAI-compatible calls that name none.
    pub default_image_model: String,
    /// Longest prompt (and negative prompt), in characters.
    pub max_prompt_chars: usize,
    /// Largest decoded `input_image`, in bytes.
    pub max_input_image_bytes: usize,
    /// Longest `Prefer: wait=N` honoured, in seconds.
    pub max_wait_seconds: u64,
    /// How long an `Idempotency-Key` remembers its response.
    pub idempotency_hours: u64,
    /// Largest output a backend may return, in bytes.
    pub max_output_bytes: usize,
}

/// `[engines]`: how backends that fail are paused and probed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnginesConfig {
    pub breaker_failures: u32,
    pub breaker_cooldown_seconds: u64,
    pub breaker_max_cooldown_seconds: u64,
    pub probe_interval_seconds: u64,
}

impl EnginesConfig {
    /// The breaker settings of every model.
    pub fn breaker(&self) -> easel_engines::breaker::BreakerConfig {
        easel_engines::breaker::BreakerConfig {
            failures: self.breaker_failures,
            cooldown: std::time::Duration::from_secs(self.breaker_cooldown_seconds),
            max_cooldown: std::time::Duration::from_secs(self.breaker_max_cooldown_seconds),
            probe_interval: std::time::Duration::from_secs(self.probe_interval_seconds),
        }
    }
}

/// `[queue]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// How long a claimed job is held without a heartbeat; a dead node's jobs are taken
    /// over this long after its last heartbeat.
    pub lease_ms: u64,
    /// How often a running job renews its lease and looks for a cancel request.
    pub heartbeat_ms: u64,
    /// How often an idle worker looks for work queued by other nodes.
    pub poll_ms: u64,
    /// First retry delay after an engine failure; doubles per attempt up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How often a node settles generations whose job ended on a node that died, and
    /// deletes outputs past their retention.
    pub sweep_ms: u64,
}

/// `[workers]`: remote pull workers (`easel worker`) and their leases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    /// A lease lapses this long after the last claim or heartbeat; the job then goes
    /// back to the queue (its attempt counted).
    pub lease_ms: u64,
    /// How often workers are told to heartbeat (at most a third of the lease).
    pub heartbeat_ms: u64,
    /// The longest a claim waits for work before answering 204.
    pub max_claim_wait_ms: u64,
    /// The most jobs one claim hands out.
    pub max_jobs_per_claim: u32,
    /// How often a waiting claim looks for work enqueued by other nodes or due for a
    /// retry (work enqueued on the same node wakes it at once).
    pub poll_ms: u64,
    /// A worker counts as serving its models while it was seen this recently.
    pub presence_seconds: u64,
    /// A worker that loses this many leases within `quarantine_window_seconds` is refused
    /// claims for `quarantine_seconds`.
    pub quarantine_after_lost: u32,
    pub quarantine_window_seconds: u64,
    pub quarantine_seconds: u64,
}

impl WorkersConfig {
    /// The heartbeat interval handed to workers: the setting, but never more than a third
    /// of the lease (two heartbeats may be lost before the lease lapses).
    pub fn heartbeat_interval_ms(&self) -> u64 {
        self.heartbeat_ms.min(self.lease_ms / 3).max(1)
    }
}

/// `[outputs]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    /// How long a signed output URL stays valid (never past the output's retention).
    pub url_ttl_seconds: u64,
}

/// `[s3]`: credentials and endpoint for an `s3://bucket/prefix` object store URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub region: String,
    /// Empty: AWS itself. Set for S3-compatible stores (MinIO, R2, …).
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allows a plain-HTTP endpoint (a store on the same host or network).
    pub allow_http: bool,
}

/// `[payments]`: payment providers that sell credits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsConfig {
    pub stripe: StripeConfig,
}

/// `[payments.stripe]`: credit top-ups paid through Stripe Checkout, announced by its
/// `checkout.session.completed` webhook.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// The webhook endpoint's signing secret (`whsec_…`); empty disables the endpoint.
    pub webhook_secret: String,
    /// Largest difference between a signature's timestamp and now, in seconds.
    pub tolerance_seconds: u64,
    /// Credits bought per euro paid (1 credit = €0.001, so 1000 sells them at face value).
    pub credits_per_eur: u64,
    /// The secret API key (`sk_…` or a restricted `rk_…`) that creates Checkout Sessions;
    /// empty hides "buy credits" in the console.
    pub secret_key: String,
    /// Where Stripe's API answers (another address only for a proxy or a test double).
    pub api_base: String,
    /// The top-ups the console offers, in whole euros.
    pub top_up_eur: Vec<u64>,
    /// Smallest and largest top-up a member may type in, in whole euros.
    pub min_top_up_eur: u64,
    pub max_top_up_eur: u64,
    /// Days a subscription's payment may stay failed before the account is suspended
    /// (notices go out when it fails, halfway and the day before).
    pub past_due_suspend_days: u32,
}

impl StripeConfig {
    /// Whether the webhook endpoint is enabled.
    pub fn enabled(&self) -> bool {
        !self.webhook_secret.is_empty()
    }

    /// Whether members can buy credits: sessions can be created and their payment is
    /// heard (without the webhook a paid session would never be credited).
    pub fn checkout_enabled(&self) -> bool {
        self.enabled() && !self.secret_key.is_empty()
    }
}

// The secret never reaches a log line.
impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = if self.enabled() { "<redacted>" } else { "" };
        f.debug_struct("StripeConfig")
            .field("webhook_secret", &secret)
            .field("tolerance_seconds", &self.tolerance_seconds)
            .field("credits_per_eur", &self.credits_per_eur)
            .field(
                "secret_key",
                &if self.secret_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("api_base", &self.api_base)
            .field("top_up_eur", &self.top_up_eur)
            .field("min_top_up_eur", &self.min_top_up_eur)
            .field("max_top_up_eur", &self.max_top_up_eur)
            .field("past_due_suspend_days", &self.past_due_suspend_days)
            .finish()
    }
}

/// `[invoicing]`: monthly invoices, and the seller details printed on them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoicingConfig {
    /// The operator's (legal) name.
    pub seller_name: String,
    /// Postal address; lines separated by `\n`.
    pub seller_address: String,
    /// VAT identification number; empty if none.
    pub seller_vat_id: String,
    pub seller_email: String,
    /// Numbers are `<prefix>-<year>-<000001>`.
    pub number_prefix: String,
    /// How long after a month ends its invoices are issued, in seconds.
    pub issue_delay_seconds: u64,
}

/// `[moderation]`: checks on what goes into and comes out of the models.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModerationConfig {
    /// The built-in rules applied to every prompt, negative prompt and input image's
    /// metadata (they extend the embedded policy; see the `easel-moderation` crate).
    #[serde(default)]
    pub input: easel_moderation::PolicyConfig,
    pub classifier: ClassifierConfig,
    pub output: OutputModerationConfig,
    pub strikes: StrikesConfig,
    /// Whether the request log keeps generation prompts (off: never).
    pub log_prompts: bool,
}

/// `[moderation.classifier]`: an OpenAI-compatible `/v1/moderations` endpoint.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// The full URL (`https://api.openai.com/v1/moderations`); empty: no classifier.
    pub url: String,
    /// Sent as `Authorization: Bearer <api_key>` when set.
    pub api_key: String,
    /// The `model` field; empty: left out (the service's default).
    pub model: String,
    pub timeout_ms: u64,
    /// What happens when it times out, fails or answers nonsense.
    pub on_error: ModerationFailure,
    /// Whether image outputs are classified too (models that take images).
    pub images: bool,
    /// Category (the classifier's name) → score at or above which it refuses. Empty:
    /// the classifier's own per-category flags decide.
    #[serde(default)]
    pub thresholds: std::collections::BTreeMap<String, f64>,
}

// The key never reaches a log line.
impl std::fmt::Debug for ClassifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = if self.api_key.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("ClassifierConfig")
            .field("url", &self.url)
            .field("api_key", &key)
            .field("model", &self.model)
            .field("timeout_ms", &self.timeout_ms)
            .field("on_error", &self.on_error)
            .field("images", &self.images)
            .field("thresholds", &self.thresholds)
            .finish()
    }
}

/// `[moderation.strikes]`: when strikes suspend an account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrikesConfig {
    /// Live-mode strikes within the window that suspend the account (0: never).
    pub threshold: u32,
    pub window_hours: u64,
    /// What a strike suspension does to open generations: `finish` or `cancel`.
    pub on_suspend: SuspendJobsChoice,
}

/// `finish` or `cancel` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspendJobsChoice {
    Finish,
    Cancel,
}

impl From<SuspendJobsChoice> for easel_db::SuspendJobs {
    fn from(c: SuspendJobsChoice) -> Self {
        match c {
            SuspendJobsChoice::Finish => easel_db::SuspendJobs::Finish,
            SuspendJobsChoice::Cancel => easel_db::SuspendJobs::Cancel,
        }
    }
}

impl StrikesConfig {
    /// The policy the store applies.
    pub fn policy(&self) -> easel_db::StrikePolicy {
        easel_db::StrikePolicy {
            threshold: self.threshold,
            window_ms: i64::try_from(self.window_hours.saturating_mul(3_600_000))
                .unwrap_or(i64::MAX),
            jobs: self.on_suspend.into(),
        }
    }
}

/// `[abuse]`: public abuse reports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbuseConfig {
    /// How long the operator has to answer a report.
    pub response_hours: u64,
    /// Seconds the public form must be open before it is sent (bots send at once).
    pub form_min_seconds: u64,
    /// Anonymous reports (form and keyless API) one node accepts per minute (0: no limit).
    pub anonymous_per_minute: u32,
}

/// `[console]`: console sessions and sign-in throttling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u64,
    /// A session ends this many hours after sign-in, used or not.
    pub session_max_hours: u64,
    /// Wrong passwords per username and per client address before sign-in pauses.
    pub login_free_attempts: u32,
    /// The first pause; each further wrong password doubles it.
    pub login_backoff_seconds: u64,
    /// The longest pause, so nobody can lock an operator out for longer.
    pub login_backoff_max_seconds: u64,
    /// Proxies in front of Easel that append to `X-Forwarded-For` (0: use the peer address).
    pub forwarded_for_hops: u32,
    /// Who may open an account at `/console/signup`.
    pub signup: SignupMode,
    /// Hours a sign-up's e-mail verification link stays valid.
    pub verify_link_hours: u64,
    /// Minutes a password-reset link stays valid.
    pub reset_link_minutes: u64,
    /// Days an invitation to join an account stays valid.
    pub invite_link_days: u64,
}

/// `[console] signup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupMode {
    /// Anyone may sign up; live mode opens once their e-mail address is verified.
    Open,
    /// Anyone may sign up; live mode opens once verified and approved by the operator
    /// (`easel admin account approve`).
    Approval,
    /// Invitation only: the form is closed; the operator creates accounts.
    Closed,
}

/// `[request_log]`: the API request log developers read at `GET /v1/requests`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestLogConfig {
    /// Days entries are kept before they are purged (at least 30).
    pub retention_days: u64,
}

/// `[data_rights]`: account exports and erasure (clause 13).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRightsConfig {
    /// Days between an owner's erasure request and the erasure.
    pub erasure_cooling_off_days: u32,
    /// Days a terminated account's data is kept before it is erased.
    pub terminated_retention_days: u32,
    /// Hours a built export can be downloaded before its archive is deleted.
    pub export_ttl_hours: u32,
    /// How long a node holds a build or an erasure without renewing it.
    pub lease_seconds: u64,
    /// Builds of one export tried before it fails.
    pub export_max_attempts: u32,
    /// Whether erased accounts' invoices keep the buyer.
    pub keep_invoice_buyer: bool,
}

impl DataRightsConfig {
    /// The cooling-off period, in milliseconds.
    pub fn cooling_off_ms(&self) -> i64 {
        i64::from(self.erasure_cooling_off_days) * 86_400_000
    }

    /// How long a terminated account's data is kept, in milliseconds.
    pub fn terminated_retention_ms(&self) -> i64 {
        i64::from(self.terminated_retention_days) * 86_400_000
    }

    /// How long a built export can be downloaded, in milliseconds.
    pub fn export_ttl_ms(&self) -> i64 {
        i64::from(self.export_ttl_hours) * 3_600_000
    }

    /// The lease of a build or an erasure, in milliseconds.
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

/// `[mail]`: how Easel sends e-mail (abuse report outcomes, notices).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// `log` (written to the log), `file` (one `.eml` file per message in `dir`), `smtp`
    /// (sent to the server `smtp_url` names).
    pub transport: MailTransport,
    pub from: String,
    /// For `file`: the directory; empty: `DATA_DIR/mail`.
    pub dir: String,
    /// For `smtp`: `smtp://user:password@host:port`, `smtps://…` or `smtp://…?tls=required`.
    pub smtp_url: String,
}

// The SMTP password never reaches a log line.
impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("transport", &self.transport)
            .field("from", &self.from)
            .field("dir", &self.dir)
            .field("smtp_url", &redact_password(&self.smtp_url))
            .finish()
    }
}

/// `url` with its password (if any) replaced. A URL that does not parse, or has an `@`
/// past its host, is hidden whole: a mistyped one (`smtp://us/er:pw@host`) can carry the
/// password outside the part a parser calls the password.
fn redact_password(url: &str) -> String {
    if url.is_empty() {
        return String::new();
    }
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "<redacted>".into();
    };
    let stray_at = [Some(parsed.path()), parsed.query(), parsed.fragment()]
        .into_iter()
        .flatten()
        .any(|part| part.contains('@'));
    if stray_at {
        return "<redacted>".into();
    }
    if parsed.password().is_some() {
        // Cannot fail: a URL that has a password can take another.
        let _ = parsed.set_password(Some("redacted"));
    }
    parsed.to_string()
}

/// `[mail] transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    Log,
    File,
    Smtp,
}

/// What a generation gets when output moderation cannot give an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationFailure {
    /// Fail open: deliver the outputs unchecked (and log it).
    Allow,
    /// Fail closed: the generation fails with `moderation_unavailable` and costs nothing.
    Fail,
}

/// `[moderation.output]`: a hook that sees every generation's outputs before it succeeds.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputModerationConfig {
    /// `http(s)://…` the outputs are POSTed to; empty: no hook.
    pub hook_url: String,
    /// Sent as `Authorization: Bearer <hook_token>` when set.
    pub hook_token: String,
    /// Longest wait for the hook's answer, in milliseconds.
    pub timeout_ms: u64,
    /// What happens when the hook times out, fails or answers nonsense.
    pub on_error: ModerationFailure,
}

impl OutputModerationConfig {
    /// Whether a hook is configured.
    pub fn enabled(&self) -> bool {
        !self.hook_url.is_empty()
    }
}

// The token never reaches a log line.
impl std::fmt::Debug for OutputModerationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.hook_token.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("OutputModerationConfig")
            .field("hook_url", &self.hook_url)
            .field("hook_token", &token)
            .field("timeout_ms", &self.timeout_ms)
            .field("on_error", &self.on_error)
            .finish()
    }
}

/// `[limits]`: request limits per key and account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// False: no request limits at all (an operator whose own gateway limits); the
    /// concurrent-jobs limit still applies.
    pub enabled: bool,
    /// Which requests count: `*` or `METHOD /route` patterns.
    pub count: Vec<String>,
    /// Rejections within the window that start a cool-down (0: never).
    pub cooldown_rejections: u32,
    pub cooldown_window_seconds: u64,
    pub cooldown_seconds: u64,
    /// Longest wait for Redis before limiting locally.
    pub redis_timeout_ms: u64,
    /// How long a node limits locally after Redis failed, before trying it again.
    pub redis_retry_ms: u64,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// The scraper's bearer token. Empty: only loopback scrapes (when `loopback`).
    pub token: String,
    /// Whether a scrape from this machine's loopback (not relayed by a proxy) needs no token.
    pub loopback: bool,
    /// How long the figures read from the database are reused by later scrapes (ms).
    pub cache_ms: u64,
}

// The token never reaches a log line.
impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.token.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("MetricsConfig")
            .field("token", &token)
            .field("loopback", &self.loopback)
            .field("cache_ms", &self.cache_ms)
            .finish()
    }
}

/// `[status]`: the public status page and its probes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// The page's name (`page.name` in the JSON).
    pub page_name: String,
    /// Seconds between probe rounds; the probe lease lasts three of them.
    pub probe_interval_seconds: u64,
    /// A due job waiting longer than this makes the queue (and its model) degraded.
    pub queue_degraded_seconds: u64,
    /// A due webhook delivery waiting longer than this makes webhooks degraded.
    pub webhooks_degraded_seconds: u64,
    /// A database probe slower than this makes the database degraded.
    pub database_degraded_ms: u64,
    /// How long a node reuses what it read for the page.
    pub cache_seconds: u64,
}

/// `[webhooks]`: delivery of events to developers' endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Waits after each failed attempt, in seconds.
    pub retry_seconds: Vec<u64>,
    /// An endpoint failing (no 2xx) this long is disabled.
    pub disable_after_seconds: u64,
    /// How long a rotated-out secret keeps signing, by default.
    pub secret_overlap_seconds: u64,
    /// One attempt's limit.
    pub timeout_ms: u64,
    /// Attempts in flight per node.
    pub concurrency: usize,
    /// Attempts in flight per node to one endpoint.
    pub per_endpoint_concurrency: usize,
    /// Idle poll interval.
    pub poll_ms: u64,
    /// Private hosts and ranges the operator allows (see `webhooks::ssrf::Allowances`).
    pub allow: Vec<String>,
    /// Loopback ports test-mode endpoints may be delivered to; empty (the default): none.
    pub test_mode_loopback_ports: Vec<crate::webhooks::ports::PortRange>,
    /// Days ended deliveries and their attempts stay in the delivery log.
    pub log_retention_days: u64,
}

/// `[[deprecations]]`: an API operation on its way out (clause 14). Until `sunset_at` its
/// responses carry `Deprecation`, `Sunset` and `Link: <link>; rel="deprecation"`, the
/// operation is marked `deprecated` in `/openapi.json`, and the console tells the accounts
/// that still call it; from `sunset_at` it answers 410.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeprecationConfig {
    /// `GET`, `POST`, `PATCH`, `PUT` or `DELETE`.
    pub method: String,
    /// The route template as `/openapi.json` names it (`/v1/generations/{id}`).
    pub route: String,
    /// When it is (or was) deprecated, RFC 3339 in the file; Unix milliseconds here.
    #[serde(deserialize_with = "rfc3339_ms")]
    pub deprecated_at: i64,
    /// When it stops working: at least 90 days after `deprecated_at`.
    #[serde(deserialize_with = "rfc3339_ms")]
    pub sunset_at: i64,
    /// The notice that explains what to use instead.
    pub link: String,
}

/// An RFC 3339 time as Unix milliseconds.
fn rfc3339_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let s = String::deserialize(d)?;
    let t = time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "`{s}` is not an RFC 3339 time such as 2027-01-01T00:00:00Z: {e}"
            ))
        })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(serde::de::Error::custom)
}
