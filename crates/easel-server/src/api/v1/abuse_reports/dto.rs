//! The abuse report object, as its reporter sees it.

use easel_core::time::ms_to_secs;
use easel_db::AbuseReport;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/abuse_reports`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAbuseReportRequest {
    /// The reported generation (`gen_…`); or give `output_url`.
    pub generation_id: Option<String>,
    /// The URL of the reported output, as served by Easel.
    pub output_url: Option<String>,
    /// `sexual_minors`, `non_consensual_imagery`, `violence`, `hate`, `harassment`,
    /// `fraud`, `intellectual_property` or `other`.
    pub category: String,
    /// What is wrong, up to 5,000 characters.
    pub description: String,
    /// Where to send the outcome (optional).
    pub email: Option<String>,
}

/// A filed abuse report.
#[derive(Debug, Serialize, ToSchema)]
pub struct AbuseReportObject {
    /// Always `abuse_report`.
    #[schema(value_type = String, example = "abuse_report")]
    pub object: &'static str,
    /// `abr_…`
    pub id: String,
    /// `open` or `resolved`.
    pub status: &'static str,
    pub category: String,
    pub generation_id: Option<String>,
    /// When the operator will have answered (unix seconds).
    pub response_due_at: i64,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<AbuseReport> for AbuseReportObject {
    fn from(r: AbuseReport) -> Self {
        AbuseReportObject {
            object: "abuse_report",
            status: if r.open { "open" } else { "resolved" },
            id: r.id,
            category: r.category,
            generation_id: r.generation_id,
            response_due_at: ms_to_secs(r.deadline_at),
            created_at: ms_to_secs(r.created_at),
        }
    }
}
