//! `/v1`: one folder per resource, one file per action, plus the resource's `dto.rs`.

pub mod abuse_reports;
pub mod account;
pub mod audit_log;
pub mod data_rights;
pub mod end_users;
pub mod events;
pub mod generations;
pub mod images;
pub mod invoices;
pub mod keys;
pub mod leaked_keys;
pub mod ledger;
pub mod members;
pub mod models;
pub mod moderations;
pub mod payments;
pub mod requests;
pub mod usage;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

/// The OpenAPI tag of each resource.
pub mod tags {
    pub const ACCOUNT: &str = "Account";
    pub const KEYS: &str = "API keys";
    pub const LEAKED_KEYS: &str = "Leaked keys";
    pub const AUDIT: &str = "Audit log";
    pub const MEMBERS: &str = "Members";
    pub const MODELS: &str = "Models";
    pub const EVENTS: &str = "Events";
    pub const GENERATIONS: &str = "Generations";
    pub const BILLING: &str = "Billing";
    pub const LOGS: &str = "Request log";
    pub const MODERATION: &str = "Moderation";
    pub const WEBHOOKS: &str = "Webhooks";
}
