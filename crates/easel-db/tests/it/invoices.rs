//! Invoices in the store: lines from succeeded generations (by model and price) and fees,
//! issued exactly once per account, mode and period, numbered without gaps even when many
//! issuers race, and never seen from another account or mode.

use std::collections::BTreeSet;
use std::sync::Arc;

use easel_core::audit::Actor;
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::models::ModelKind;
use easel_db::{
    DbError, Invoice, InvoiceIssue, InvoiceLineKind, InvoiceSeller, NewGeneration, NewInvoice,
    NewJob, Page, Store,
};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

/// 2026-10-01T00:00Z and 2026-11-01T00:00Z: the month billed.
const OCT: i64 = 1_790_812_800_000;
const NOV: i64 = 1_793_491_200_000;

fn seller() -> InvoiceSeller {
    InvoiceSeller {
        name: "Easel Operator GmbH".into(),
        address: "Hauptstraße 1, 10115 Berlin, Germany".into(),
        vat_id: "DE123456789".into(),
        email: "billing@operator.test".into(),
    }
}

fn october(account_id: &str, mode: Mode) -> NewInvoice {
    NewInvoice {
        id: IdKind::Invoice.generate(),
        account_id: account_id.into(),
        mode,
        period: "2026-10".into(),
        period_start: OCT,
        period_end: NOV,
        series: "TEST-2026".into(),
        seller: seller(),
        now: NOV + 3_600_000,
    }
}

/// An account with live and test credits and a key; returns (account id, key id).
async fn funded(store: &Arc<dyn Store>, email: &str) -> (String, String) {
    let (account, owner) = support::account(store, email).await;
    let (key, _) = support::key(store, &account.id, &owner.id, Mode::Live).await;
    for mode in [Mode::Live, Mode::Test] {
        store
            .add_credits(easel_db::NewCredit {
                account_id: account.id.clone(),
                mode,
                entry_type: easel_core::credits::LedgerType::Grant,
                amount: 1_000_000,
                reference: None,
                reason: None,
                audit: support::audit(),
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    (account.id, key.id)
}

/// A generation of `model` that succeeded at `at`, charged `credits`; its own queue, so
/// the claim takes exactly it.
async fn succeeded(
    store: &Arc<dyn Store>,
    (account_id, key_id): (&str, &str),
    mode: Mode,
    model: &str,
    credits: i64,
    at: i64,
) {
    let id = IdKind::Generation.generate();
    let queue = format!("invoice-test:{id}");
    let new = NewGeneration {
        id,
        account_id: account_id.into(),
        api_key_id: key_id.into(),
        mode,
        model: model.into(),
        kind: ModelKind::Image,
        input: serde_json::json!({"prompt": "billed"}),
        end_user: None,
        metadata: None,
        licence: "non_commercial".into(),
        credits_estimated: credits,
        spend_cap: None,
        max_open: None,
        job: NewJob {
            id: IdKind::Job.generate(),
            queue: queue.clone(),
            kind: "generation.run".into(),
            payload: "{}".into(),
            max_attempts: 1,
            run_at: at - 10,
            expires_at: None,
            now: at - 10,
        },
    };
    store
        .create_generation(new, at - 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let job = store
        .claim(&queue, "w", at + 60_000, at - 5)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the job is claimable"));
    store
        .succeed_generation(&job.id, "w", vec![], credits, None, at)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the lease is held"));
}

async fn issue(store: &Arc<dyn Store>, new: NewInvoice) -> InvoiceIssue {
    store
        .issue_invoice(new)
        .await
        .unwrap_or_else(|e| panic!("issue: {e}"))
}

fn issued(outcome: InvoiceIssue) -> Invoice {
    match outcome {
        InvoiceIssue::Issued(invoice) => invoice,
        other => panic!("expected a new invoice, got {other:?}"),
    }
}

both_backends!(
    an_invoice_bills_the_month_by_model_and_price_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, key) = funded(&store, "billed@acme.test").await;
        let who = (account.as_str(), key.as_str());
        succeeded(&store, who, Mode::Live, "m-a", 8, OCT + 1_000).await;
        succeeded(&store, who, Mode::Live, "m-a", 8, NOV - 1).await;
        succeeded(&store, who, Mode::Live, "m-a", 12, OCT + 86_400_000).await;
        succeeded(&store, who, Mode::Live, "m-b", 30, OCT + 2 * 86_400_000).await;
        // Not October's: the month before and after, and test mode.
        succeeded(&store, who, Mode::Live, "m-a", 8, OCT - 1).await;
        succeeded(&store, who, Mode::Live, "m-b", 30, NOV).await;
        succeeded(&store, who, Mode::Test, "m-a", 8, OCT + 5_000).await;
        let actor = Actor::system();
        let charged = store
            .charge_invalid_input_fee(&account, Mode::Live, 5, "req_1", &actor, OCT + 9_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(charged, 5);

        let invoice = issued(issue(&store, october(&account, Mode::Live)).await);
        assert_eq!(invoice.number, "TEST-2026-000001");
        assert_eq!(
            (
                invoice.period.as_str(),
                invoice.period_start,
                invoice.period_end
            ),
            ("2026-10", OCT, NOV)
        );
        let lines: Vec<(InvoiceLineKind, Option<&str>, i64, i64, i64)> = invoice
            .lines
            .iter()
            .map(|l| {
                (
                    l.kind,
                    l.model.as_deref(),
                    l.quantity,
                    l.unit_price_credits,
                    l.amount_credits,
                )
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                (InvoiceLineKind::Generation, Some("m-a"), 2, 8, 16),
                (InvoiceLineKind::Generation, Some("m-a"), 1, 12, 12),
                (InvoiceLineKind::Generation, Some("m-b"), 1, 30, 30),
                (InvoiceLineKind::InvalidInputFee, None, 1, 5, 5),
            ]
        );
        assert_eq!(
            invoice.lines.iter().map(|l| l.idx).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(
            (invoice.subtotal_credits, invoice.subtotal_eur.as_str()),
            (63, "0.063")
        );
        assert_eq!(invoice.lines[0].amount_eur, "0.016");
        assert_eq!(invoice.lines[0].unit_price_eur, "0.008");
        assert_eq!(invoice.seller, seller());
        assert_eq!(invoice.buyer.account_id, account);
        assert_eq!(invoice.buyer.legal_name.as_deref(), Some("Org GmbH"));
        assert_eq!(invoice.buyer.country.as_deref(), Some("DE"));

        // The same period again: the stored invoice, nothing new.
        match issue(&store, october(&account, Mode::Live)).await {
            InvoiceIssue::AlreadyIssued(again) => assert_eq!(again, invoice),
            other => panic!("expected the existing invoice, got {other:?}"),
        }
        let got = store
            .get_invoice(&account, Mode::Live, &invoice.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, invoice);
        let listed = store
            .list_invoices(&account, Mode::Live, Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed, vec![invoice.clone()]);
        let events = store
            .list_events(&account, Mode::Live, Page::first(100))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let created: Vec<_> = events
            .iter()
            .filter(|e| e.event_type == "invoice.created")
            .collect();
        assert_eq!(created.len(), 1, "one event for one invoice");
        assert_eq!(created[0].data["number"], "TEST-2026-000001");
        assert_eq!(created[0].data["total_eur"], "0.063");

        // Never from another mode or account.
        support::assert_not_found(store.get_invoice(&account, Mode::Test, &invoice.id).await);
        let (other, _) = funded(&store, "other@acme.test").await;
        support::assert_not_found(store.get_invoice(&other, Mode::Live, &invoice.id).await);
        assert!(
            store
                .list_invoices(&other, Mode::Live, Page::first(10))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        // Test mode had a generation: its own invoice and number, if asked for.
        let test_invoice = issued(issue(&store, october(&account, Mode::Test)).await);
        assert_eq!(test_invoice.number, "TEST-2026-000002");
        assert_eq!(test_invoice.subtotal_credits, 8);
    }
);

both_backends!(
    an_empty_period_gets_no_invoice_and_uses_no_number,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (idle, _) = funded(&store, "idle@acme.test").await;
        assert_eq!(
            issue(&store, october(&idle, Mode::Live)).await,
            InvoiceIssue::NothingToInvoice
        );
        // Generations charged nothing bill nothing either.
        let (free, free_key) = funded(&store, "free@acme.test").await;
        succeeded(&store, (&free, &free_key), Mode::Live, "m-a", 0, OCT + 1).await;
        assert_eq!(
            issue(&store, october(&free, Mode::Live)).await,
            InvoiceIssue::NothingToInvoice
        );
        let (busy, key) = funded(&store, "busy@acme.test").await;
        succeeded(&store, (&busy, &key), Mode::Live, "m-a", 8, OCT + 1).await;
        let invoice = issued(issue(&store, october(&busy, Mode::Live)).await);
        assert_eq!(
            invoice.number, "TEST-2026-000001",
            "no number was used before"
        );
        // A later issue for an earlier month: listed newest (last issued) first, by pages.
        const SEP: i64 = 1_788_220_800_000;
        succeeded(&store, (&busy, &key), Mode::Live, "m-a", 8, SEP + 1).await;
        let september = NewInvoice {
            period: "2026-09".into(),
            period_start: SEP,
            period_end: OCT,
            ..october(&busy, Mode::Live)
        };
        let september = issued(issue(&store, september).await);
        assert_eq!(september.number, "TEST-2026-000002");
        let first = store
            .list_invoices(&busy, Mode::Live, Page::first(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            first.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            [september.id.as_str(), invoice.id.as_str()],
            "one more than asked, to tell there is another page"
        );
        let next = Page {
            limit: 1,
            starting_after: Some(september.id.clone()),
        };
        let second = store
            .list_invoices(&busy, Mode::Live, next)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second, vec![invoice.clone()]);
        let missing = store
            .issue_invoice(october("acct_01m864a045xwwke0zd48j6933p", Mode::Live))
            .await;
        assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");
        let mut raw = Raw::connect(&db).await;
        assert_eq!(raw.count("invoices", &[]).await, 2);
        raw.close().await;
    }
);

both_backends!(
    concurrent_issuers_issue_one_invoice,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, key) = funded(&store, "race@acme.test").await;
        succeeded(&store, (&account, &key), Mode::Live, "m-a", 8, OCT + 1).await;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                let new = october(&account, Mode::Live);
                tokio::spawn(async move { store.issue_invoice(new).await })
            })
            .collect();
        let mut numbers = BTreeSet::new();
        let mut new_ones = 0;
        for task in tasks {
            match task.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(InvoiceIssue::Issued(i)) => {
                    new_ones += 1;
                    numbers.insert(i.number);
                }
                Ok(InvoiceIssue::AlreadyIssued(i)) => {
                    numbers.insert(i.number);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(new_ones, 1, "exactly one issuer wins");
        assert_eq!(
            numbers.into_iter().collect::<Vec<_>>(),
            ["TEST-2026-000001"]
        );
        let mut raw = Raw::connect(&db).await;
        assert_eq!(raw.count("invoices", &[]).await, 1);
        assert_eq!(
            raw.count("events WHERE type = 'invoice.created'", &[])
                .await,
            1
        );
        assert_eq!(
            raw.scalar(
                "SELECT next_number FROM invoice_counters WHERE series = $1",
                &["TEST-2026"]
            )
            .await,
            Some(2),
            "the losers' numbers were given back"
        );
        raw.close().await;
    }
);

both_backends!(
    numbers_stay_gapless_when_many_accounts_are_invoiced_at_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let mut accounts = Vec::new();
        for i in 0..12 {
            let (account, key) = funded(&store, &format!("many{i}@acme.test")).await;
            succeeded(&store, (&account, &key), Mode::Live, "m-a", 8 + i, OCT + 1).await;
            accounts.push(account);
        }
        // An account with nothing to bill races along and must not take a number.
        let (idle, _) = funded(&store, "idle@acme.test").await;
        accounts.push(idle);
        // Two issuers per account (two nodes' sweeps), all at once.
        let tasks: Vec<_> = accounts
            .iter()
            .chain(accounts.iter())
            .map(|account| {
                let store = Arc::clone(&store);
                let new = october(account, Mode::Live);
                tokio::spawn(async move { store.issue_invoice(new).await })
            })
            .collect();
        let mut issued_numbers = Vec::new();
        for task in tasks {
            match task.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(InvoiceIssue::Issued(i)) => issued_numbers.push(i.number),
                Ok(InvoiceIssue::AlreadyIssued(_) | InvoiceIssue::NothingToInvoice) => {}
                Err(e) => panic!("{e}"),
            }
        }
        issued_numbers.sort();
        let expected: Vec<String> = (1..=12).map(|n| format!("TEST-2026-{n:06}")).collect();
        assert_eq!(issued_numbers, expected, "1 to 12, each once, no gap");
        let mut raw = Raw::connect(&db).await;
        assert_eq!(raw.count("invoices", &[]).await, 12);
        assert_eq!(
            raw.scalar(
                "SELECT next_number FROM invoice_counters WHERE series = $1",
                &["TEST-2026"]
            )
            .await,
            Some(13)
        );
        raw.close().await;
    }
);
