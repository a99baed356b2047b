//! Prefixed, sortable ids: `acct_01hz…`, `key_01hz…`.
//!
//! A ULID sorts by creation time, so `ORDER BY id DESC` is newest first and cursor pagination
//! needs no separate time column. The prefix tells a human (and a log search) what an id
//! names, the way Stripe and Svix ids do.

use std::sync::Mutex;

use ulid::{Generator, Ulid};

static GENERATOR: Mutex<Generator> = Mutex::new(Generator::new());

/// 80 random bits for a ULID made at a given time.
fn rand_bits() -> u128 {
    Ulid::new().random()
}

/// The kinds of objects that carry an id, each with its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Account,
    User,
    ApiKey,
    Audit,
    Operator,
    Request,
    Job,
    Generation,
    Event,
    LedgerEntry,
    Invoice,
    Strike,
    AbuseReport,
    RequestLog,
    WebhookEndpoint,
    WebhookDelivery,
    WebhookAttempt,
    Worker,
    Lease,
    Invitation,
    Maintenance,
    Incident,
    IncidentUpdate,
    /// An export of an account's data (clause 13).
    Export,
}

impl IdKind {
    /// The prefix before the underscore.
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Account => "acct",
            IdKind::User => "user",
            IdKind::ApiKey => "key",
            IdKind::Audit => "aud",
            IdKind::Operator => "op",
            IdKind::Request => "req",
            IdKind::Job => "job",
            IdKind::Generation => "gen",
            IdKind::Event => "evt",
            IdKind::LedgerEntry => "led",
            IdKind::Invoice => "inv",
            IdKind::Strike => "strk",
            IdKind::AbuseReport => "abr",
            IdKind::RequestLog => "rlog",
            IdKind::WebhookEndpoint => "whk",
            IdKind::WebhookDelivery => "whd",
            IdKind::WebhookAttempt => "wha",
            IdKind::Worker => "wrk",
            IdKind::Lease => "lease",
            IdKind::Invitation => "invite",
            IdKind::Maintenance => "mnt",
            IdKind::Incident => "inc",
            IdKind::IncidentUpdate => "incu",
            IdKind::Export => "exp",
        }
    }

    /// A new id of this kind. Ids made by one process sort in the order they were made,
    /// even within one millisecond (a monotonic generator), so FIFO claims and newest-first
    /// lists follow creation order.
    #[expect(
        clippy::unwrap_or_default,
        reason = "Ulid::default() is the nil id, not a fresh one"
    )]
    pub fn generate(self) -> String {
        let ulid = GENERATOR
            .lock()
            .ok()
            .and_then(|mut generator| generator.generate().ok())
            // Only if 2^80 ids were made in one millisecond, or the lock was poisoned.
            .unwrap_or_else(Ulid::new);
        format!("{}_{}", self.prefix(), ulid.to_string().to_lowercase())
    }

    /// A new id of this kind made at `ms` (unix milliseconds), for records written with a
    /// time of their own (imports, tests).
    pub fn generate_at(self, ms: u64) -> String {
        let ulid = Ulid::from_parts(ms, rand_bits());
        format!("{}_{}", self.prefix(), ulid.to_string().to_lowercase())
    }

    /// The smallest id of this kind made at `ms` or later: ids sort by time, so
    /// `id < floor(t)` selects exactly the records made before `t`.
    pub fn floor(self, ms: u64) -> String {
        let ulid = Ulid::from_parts(ms, 0);
        format!("{}_{}", self.prefix(), ulid.to_string().to_lowercase())
    }

    /// Whether `id` is well-formed for this kind (prefix and a valid ULID).
    ///
    /// Checked before a lookup so that garbage never reaches the database and a 404 can
    /// name the resource precisely.
    pub fn is_valid(self, id: &str) -> bool {
        id.strip_prefix(self.prefix())
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|ulid| ulid.len() == 26 && Ulid::from_string(ulid).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_split_ids_by_time() {
        let t = 1_800_000_000_000;
        let floor = IdKind::RequestLog.floor(t);
        let before = IdKind::RequestLog.generate_at(t - 1);
        let at = IdKind::RequestLog.generate_at(t);
        let after = IdKind::RequestLog.generate_at(t + 1);
        assert!(
            before < floor && floor <= at && at < after,
            "{before} {floor} {at} {after}"
        );
        assert!(IdKind::RequestLog.is_valid(&floor) && IdKind::RequestLog.is_valid(&at));
        assert!(IdKind::RequestLog.generate() < IdKind::RequestLog.floor(u64::MAX >> 16));
    }

    #[test]
    fn generated_ids_validate_and_sort_by_time() {
        let a = IdKind::Account.generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = IdKind::Account.generate();
        assert!(a.starts_with("acct_"));
        assert!(IdKind::Account.is_valid(&a));
        assert!(a < b, "ids must sort by creation time: {a} !< {b}");
    }

    #[test]
    fn ids_made_in_the_same_millisecond_still_sort_in_order() {
        let ids: Vec<String> = (0..1_000).map(|_| IdKind::Job.generate()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    /// Ids made in one millisecond (by one process, and at a given time) never collide.
    #[test]
    fn ids_made_in_the_same_millisecond_are_unique() {
        let ids: Vec<String> = (0..10_000).map(|_| IdKind::Job.generate()).collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        // The ULID's first 10 characters are its millisecond: prove some ids shared one,
        // or the test would say nothing about uniqueness within a millisecond.
        let millis: std::collections::HashSet<&str> = ids
            .iter()
            .map(|id| &id["job_".len().."job_".len() + 10])
            .collect();
        assert!(millis.len() < ids.len(), "every id had its own millisecond");

        let at: Vec<String> = (0..1_000)
            .map(|_| IdKind::Job.generate_at(1_800_000_000_000))
            .collect();
        let unique: std::collections::HashSet<&String> = at.iter().collect();
        assert_eq!(unique.len(), at.len());
        assert!(
            at.iter()
                .all(|id| id.starts_with("job_01") && IdKind::Job.is_valid(id))
        );
    }

    #[test]
    fn every_kind_has_its_own_prefix() {
        use IdKind::*;
        let kinds = [
            Account,
            User,
            ApiKey,
            Audit,
            Operator,
            Request,
            Job,
            Generation,
            Event,
            LedgerEntry,
            Invoice,
            Strike,
            AbuseReport,
            RequestLog,
            WebhookEndpoint,
            WebhookDelivery,
            WebhookAttempt,
            Worker,
            Lease,
            Invitation,
            Maintenance,
            Incident,
            IncidentUpdate,
            Export,
        ];
        let prefixes: std::collections::HashSet<&str> = kinds.iter().map(|k| k.prefix()).collect();
        assert_eq!(prefixes.len(), kinds.len());
        for kind in kinds {
            let id = kind.generate();
            assert!(id.starts_with(&format!("{}_", kind.prefix())), "{id}");
            assert!(kind.is_valid(&id), "{id}");
        }
    }

    #[test]
    fn malformed_ids_are_rejected() {
        let key = IdKind::ApiKey.generate();
        assert!(!IdKind::Account.is_valid(&key), "wrong prefix");
        assert!(!IdKind::ApiKey.is_valid("key_"));
        assert!(!IdKind::ApiKey.is_valid("key_uuuuuuuuuuuuuuuuuuuuuuuuuu"));
        assert!(!IdKind::ApiKey.is_valid(&format!("{key}x")));
        assert!(!IdKind::ApiKey.is_valid("key_01hz'; drop table x;--"));
    }
}
