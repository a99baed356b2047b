//! Moderation and end-user compliance records: strikes, end users, abuse reports and the
//! API request log.

use easel_core::mode::Mode;

/// What happens to an account's open generations when it is suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspendJobs {
    /// Queued and running generations go on to their end (their holds settle as usual).
    Finish,
    /// Queued generations are canceled now and running ones are asked to stop; their
    /// holds are released.
    Cancel,
}

impl SuspendJobs {
    /// The config and CLI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SuspendJobs::Finish => "finish",
            SuspendJobs::Cancel => "cancel",
        }
    }

    /// Parses the config and CLI spelling.
    pub fn parse(s: &str) -> Option<SuspendJobs> {
        match s {
            "finish" => Some(SuspendJobs::Finish),
            "cancel" => Some(SuspendJobs::Cancel),
            _ => None,
        }
    }
}

/// Where a strike comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrikeSource {
    /// A request refused by content moderation.
    Moderation,
    /// An abuse report the operator upheld.
    AbuseReport,
}

impl StrikeSource {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StrikeSource::Moderation => "moderation",
            StrikeSource::AbuseReport => "abuse_report",
        }
    }
}

/// A strike as the account's own console shows it (without the operator's `detail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strike {
    pub id: String,
    pub end_user: Option<String>,
    pub source: StrikeSource,
    pub category: String,
    pub request_id: Option<String>,
    pub abuse_report_id: Option<String>,
    pub created_at: i64,
}

/// When strikes suspend an account: `threshold` live-mode strikes within `window_ms`
/// (0: never), with `jobs` deciding the fate of its open generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrikePolicy {
    pub threshold: u32,
    pub window_ms: i64,
    pub jobs: SuspendJobs,
}

/// A strike to record.
#[derive(Debug, Clone)]
pub struct NewStrike {
    pub account_id: String,
    pub mode: Mode,
    pub end_user: Option<String>,
    pub source: StrikeSource,
    /// The content category (`hate`, `sexual_minors`, …).
    pub category: String,
    /// What matched, for the operator (never shown to other accounts).
    pub detail: String,
    pub request_id: Option<String>,
    pub abuse_report_id: Option<String>,
}

/// What recording a strike led to.
#[derive(Debug, Clone)]
pub struct StrikeOutcome {
    pub strike_id: String,
    /// Live-mode strikes of the account within the policy's window, this one included.
    pub strikes_in_window: i64,
    /// The account, if this strike suspended it.
    pub suspended: Option<crate::Account>,
}

/// An end user (a developer's own user, named by the opaque `user` id of requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUser {
    pub account_id: String,
    pub mode: Mode,
    pub user: String,
    pub blocked_at: Option<i64>,
    pub blocked_reason: Option<String>,
    pub strikes: i64,
    pub last_strike_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which end users to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndUserFilter {
    /// Only blocked ones.
    pub blocked: Option<bool>,
}

/// How an abuse report arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportSource {
    Api,
    Form,
}

impl ReportSource {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportSource::Api => "api",
            ReportSource::Form => "form",
        }
    }
}

/// What the operator did about a report. Everything but `Dismissed` upholds it (a strike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Dismissed,
    Warned,
    OutputRemoved,
    AccountSuspended,
}

impl Resolution {
    /// The stored and CLI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Dismissed => "dismissed",
            Resolution::Warned => "warned",
            Resolution::OutputRemoved => "output_removed",
            Resolution::AccountSuspended => "account_suspended",
        }
    }

    /// Parses the stored and CLI spelling.
    pub fn parse(s: &str) -> Option<Resolution> {
        match s {
            "dismissed" => Some(Resolution::Dismissed),
            "warned" => Some(Resolution::Warned),
            "output_removed" => Some(Resolution::OutputRemoved),
            "account_suspended" => Some(Resolution::AccountSuspended),
            _ => None,
        }
    }

    /// Whether the report was found to be right (and so counts as a strike).
    pub fn upheld(self) -> bool {
        self != Resolution::Dismissed
    }
}

/// A report to file.
#[derive(Debug, Clone)]
pub struct NewAbuseReport {
    pub source: ReportSource,
    pub category: String,
    pub description: String,
    /// The reported generation (a `gen_…` id, possibly taken from an output URL).
    pub generation_id: Option<String>,
    pub output_url: Option<String>,
    pub reporter_email: Option<String>,
    pub reporter_account_id: Option<String>,
    /// The API key that filed it (for the audit log), if any.
    pub reporter_key_id: Option<String>,
    /// When the operator must have answered.
    pub deadline_at: i64,
    pub now: i64,
}

/// An abuse report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseReport {
    pub id: String,
    pub open: bool,
    pub source: ReportSource,
    pub category: String,
    pub description: String,
    pub generation_id: Option<String>,
    pub output_url: Option<String>,
    /// The account that owns the reported generation, when one was found.
    pub account_id: Option<String>,
    pub mode: Option<Mode>,
    pub reporter_email: Option<String>,
    pub reporter_account_id: Option<String>,
    pub deadline_at: i64,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    pub resolution: Option<Resolution>,
    pub resolution_note: Option<String>,
    pub resolved_by: Option<String>,
}

/// The operator's decision on a report.
#[derive(Debug, Clone)]
pub struct ReportDecision {
    pub resolution: Resolution,
    pub note: Option<String>,
    /// Used when the decision upholds the report (a strike) or suspends the account.
    pub policy: StrikePolicy,
}

/// What resolving a report changed.
#[derive(Debug, Clone)]
pub struct ReportResolved {
    pub report: AbuseReport,
    /// The strike, when the report was upheld against a known account.
    pub strike: Option<StrikeOutcome>,
    /// Outputs to remove from the object store (`output_removed`), already marked deleted.
    pub removed_outputs: Vec<String>,
}

/// One API request as its owner sees it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogEntry {
    pub id: String,
    pub request_id: String,
    pub account_id: String,
    pub mode: Mode,
    pub api_key_id: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub end_user: Option<String>,
    pub latency_us: i64,
    pub error_code: Option<String>,
    /// Only when the operator enabled prompt logging.
    pub prompt: Option<String>,
    pub created_at: i64,
}

/// Which logged requests to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLogFilter {
    pub api_key_id: Option<String>,
    pub end_user: Option<String>,
    pub status: Option<u16>,
    /// Only 4xx and 5xx (true) or only 1xx–3xx (false).
    pub failed: Option<bool>,
    pub path: Option<String>,
    pub method: Option<String>,
    /// Created at or after (ms).
    pub since: Option<i64>,
    /// Created before (ms).
    pub until: Option<i64>,
}

/// Calls an account made to a deprecated operation (`method` and route template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeprecatedCall {
    pub account_id: String,
    pub mode: Mode,
    pub method: String,
    pub route: String,
    pub calls: i64,
    pub first_at: i64,
    pub last_at: i64,
}
