//! The ledger entry and balance objects.

use easel_core::credits::LedgerType;
use easel_core::time::ms_to_secs;
use easel_db::LedgerEntry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a ledger entry refers to.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerReference {
    /// `generation`, `payment`, `plan_period`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// Who made a movement.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerActor {
    /// `operator`, `user`, `api_key` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// One movement of credits. `amount` changes the balance; `held_change` changes what open
/// holds reserve; available = balance − held.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryObject {
    /// Always `ledger_entry`.
    #[schema(value_type = String, example = "ledger_entry")]
    pub object: &'static str,
    /// `led_…`
    pub id: String,
    #[serde(rename = "type")]
    pub entry_type: LedgerType,
    /// Whole credits (1 credit = €0.001); negative when spent.
    pub amount: i64,
    pub held_change: i64,
    pub balance_after: i64,
    pub held_after: i64,
    pub reference: Option<LedgerReference>,
    pub actor: LedgerActor,
    pub reason: Option<String>,
    pub livemode: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<LedgerEntry> for LedgerEntryObject {
    fn from(e: LedgerEntry) -> Self {
        let reference = match (e.reference_type, e.reference_id) {
            (Some(kind), Some(id)) => Some(LedgerReference { kind, id }),
            _ => None,
        };
        LedgerEntryObject {
            object: "ledger_entry",
            id: e.id,
            entry_type: e.entry_type,
            amount: e.amount,
            held_change: e.held_change,
            balance_after: e.balance_after,
            held_after: e.held_after,
            reference,
            actor: LedgerActor {
                kind: e.actor_type.as_str().to_string(),
                id: e.actor_id,
            },
            reason: e.reason,
            livemode: e.mode.is_live(),
            created_at: ms_to_secs(e.created_at),
        }
    }
}

/// Where an account's credits stand, in the key's mode (test mode: always zero).
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceObject {
    /// Always `balance`.
    #[schema(value_type = String, example = "balance")]
    pub object: &'static str,
    pub livemode: bool,
    /// Credits owned (1 credit = €0.001).
    pub balance: i64,
    /// Reserved by generations still queued or running.
    pub held: i64,
    /// What new generations can use: balance − held.
    pub available: i64,
    /// `available` in euros, excluding tax.
    pub available_eur: String,
}

/// `?limit=&starting_after=&type=&from=&to=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListLedgerParams {
    /// Entries to return, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// An entry id from the previous page; this page starts after it.
    pub starting_after: Option<String>,
    /// Only entries of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub entry_type: Option<LedgerType>,
    /// Entries at or after this time (unix seconds).
    pub from: Option<i64>,
    /// Entries before this time (unix seconds).
    pub to: Option<i64>,
}
