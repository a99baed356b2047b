//! The bodies of a keyless leak report and its receipt.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/leaked_keys`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportLeakedKeyRequest {
    /// The full secret you found (`vs_live_…`), at most 256 characters.
    pub key: String,
    /// Where you found it: an `http(s)` URL, at most 2048 characters.
    pub url: String,
    /// What kind of place (`commit`, `issue`, `paste`, …), at most 64 characters.
    pub source: Option<String>,
}

/// The answer to every accepted report, whatever the key was.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeakedKeyReportReceipt {
    /// Always `leaked_key_report`.
    #[schema(value_type = String, example = "leaked_key_report")]
    pub object: &'static str,
    /// Always `received`.
    #[schema(value_type = String, example = "received")]
    pub status: &'static str,
    /// What happens next, the same for every report.
    pub message: &'static str,
}

impl LeakedKeyReportReceipt {
    /// The one receipt: it must not differ between real, unknown and malformed keys.
    pub fn received() -> LeakedKeyReportReceipt {
        LeakedKeyReportReceipt {
            object: "leaked_key_report",
            status: "received",
            message: "Thank you. If this is a key issued by this server, it is handled \
                      (revoked or flagged) and its owner is told where it was found.",
        }
    }
}
