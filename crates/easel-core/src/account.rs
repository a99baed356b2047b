//! Account (organisation) states and their transitions.

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Where an account stands. Stored as its spelling plus, for `suspended`, reason and until.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountState {
    Active,
    Suspended,
    Terminated,
}

impl AccountState {
    /// The stored and wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Suspended => "suspended",
            AccountState::Terminated => "terminated",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<AccountState> {
        match s {
            "active" => Some(AccountState::Active),
            "suspended" => Some(AccountState::Suspended),
            "terminated" => Some(AccountState::Terminated),
            _ => None,
        }
    }

    /// The state as it applies at `now_ms`: a suspension whose `until` has passed has lapsed.
    pub fn effective(self, suspended_until_ms: Option<i64>, now_ms: i64) -> AccountState {
        match (self, suspended_until_ms) {
            (AccountState::Suspended, Some(until)) if until <= now_ms => AccountState::Active,
            (state, _) => state,
        }
    }

    /// Checks that moving to `to` is allowed. Termination is final.
    pub fn check_transition(self, to: AccountState) -> Result<(), DomainError> {
        match (self, to) {
            (AccountState::Terminated, _) => Err(DomainError::invalid(
                "account",
                "account_terminated",
                "The account is terminated; termination is final.",
            )),
            (AccountState::Active, AccountState::Active) => Err(DomainError::invalid(
                "account",
                "account_not_suspended",
                "The account is not suspended.",
            )),
            _ => Ok(()),
        }
    }
}

/// What an account still lacks before it may use live mode (self-service sign-up). An
/// account the operator created has none; one created through the console starts
/// `Unverified` until its owner proves their e-mail address, then, if the operator reviews
/// new accounts, `Approval` until they approve it. Test mode works throughout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LiveBlock {
    Unverified,
    Approval,
}

impl LiveBlock {
    /// The stored and wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            LiveBlock::Unverified => "unverified",
            LiveBlock::Approval => "approval",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<LiveBlock> {
        match s {
            "unverified" => Some(LiveBlock::Unverified),
            "approval" => Some(LiveBlock::Approval),
            _ => None,
        }
    }

    /// What the developer is told when live mode is refused.
    pub const fn message(self) -> &'static str {
        match self {
            LiveBlock::Unverified => {
                "Live mode opens once the account owner has verified their e-mail address (the link in the sign-up e-mail); test mode works meanwhile."
            }
            LiveBlock::Approval => {
                "Live mode opens once the operator has approved this account; test mode works meanwhile."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_blocks_keep_their_spellings() {
        for b in [LiveBlock::Unverified, LiveBlock::Approval] {
            assert_eq!(LiveBlock::parse(b.as_str()), Some(b));
            assert_eq!(crate::from_wire::<LiveBlock>(b.as_str()), Some(b));
        }
        assert_eq!(LiveBlock::parse("verified"), None);
    }

    #[test]
    fn suspension_lapses_at_until() {
        let s = AccountState::Suspended;
        assert_eq!(s.effective(Some(1_000), 999), AccountState::Suspended);
        assert_eq!(s.effective(Some(1_000), 1_000), AccountState::Active);
        assert_eq!(s.effective(None, i64::MAX), AccountState::Suspended);
        assert_eq!(
            AccountState::Terminated.effective(Some(0), 5),
            AccountState::Terminated
        );
    }

    #[test]
    fn account_states_keep_their_wire_spellings() {
        for (state, spelling) in [
            (AccountState::Active, "active"),
            (AccountState::Suspended, "suspended"),
            (AccountState::Terminated, "terminated"),
        ] {
            assert_eq!(state.as_str(), spelling);
            assert_eq!(AccountState::parse(spelling), Some(state));
            assert_eq!(crate::from_wire::<AccountState>(spelling), Some(state));
        }
        for bad in ["Active", "", "closed"] {
            assert_eq!(AccountState::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_suspension_without_an_end_or_ending_later_still_applies() {
        let s = AccountState::Suspended;
        assert_eq!(s.effective(Some(1_001), 1_000), AccountState::Suspended);
        assert_eq!(
            AccountState::Active.effective(Some(0), 5),
            AccountState::Active
        );
    }

    #[test]
    fn termination_is_final() {
        assert!(
            AccountState::Terminated
                .check_transition(AccountState::Active)
                .is_err()
        );
        assert!(
            AccountState::Active
                .check_transition(AccountState::Active)
                .is_err()
        );
        assert!(
            AccountState::Active
                .check_transition(AccountState::Suspended)
                .is_ok()
        );
        assert!(
            AccountState::Suspended
                .check_transition(AccountState::Terminated)
                .is_ok()
        );
    }
}
