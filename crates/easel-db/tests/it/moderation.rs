//! Moderation records: strikes suspend exactly once however many race past the threshold,
//! end users are blocked per account and mode, abuse reports resolve once, and the request
//! log filters, pages and purges.

use std::sync::Arc;

use easel_core::account::AccountState;
use easel_core::audit::action;
use easel_core::mode::Mode;
use easel_db::{
    EndUserFilter, NewAbuseReport, NewStrike, Page, ReportDecision, ReportSource, RequestLogEntry,
    RequestLogFilter, Resolution, Store, StrikePolicy, StrikeSource, SuspendJobs,
};
use easel_test_utils::{TestDb, both_backends};

use crate::support;

const POLICY: StrikePolicy = StrikePolicy {
    threshold: 5,
    window_ms: 3_600_000,
    jobs: SuspendJobs::Cancel,
};

fn strike(account_id: &str, mode: Mode, user: Option<&str>) -> NewStrike {
    NewStrike {
        account_id: account_id.into(),
        mode,
        end_user: user.map(str::to_string),
        source: StrikeSource::Moderation,
        category: "hate".into(),
        detail: "word \"x\"".into(),
        request_id: None,
        abuse_report_id: None,
    }
}

async fn audit_count(store: &Arc<dyn Store>, account_id: &str, wanted: &str) -> usize {
    store
        .list_audit(Some(account_id), Page::first(1000))
        .await
        .unwrap_or_else(|e| panic!("list_audit: {e}"))
        .iter()
        .filter(|e| e.action == wanted)
        .count()
}

both_backends!(
    racing_strikes_suspend_an_account_exactly_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "racer@acme.test").await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = Arc::clone(&store);
            let account_id = account.id.clone();
            let user = format!("user-{}", i % 3);
            tasks.push(tokio::spawn(async move {
                store
                    .record_strike(
                        strike(&account_id, Mode::Live, Some(&user)),
                        POLICY,
                        support::audit(),
                    )
                    .await
            }));
        }
        let mut suspended = 0;
        let mut counts = Vec::new();
        for task in tasks {
            let outcome = task
                .await
                .unwrap_or_else(|e| panic!("join: {e}"))
                .unwrap_or_else(|e| panic!("record_strike: {e}"));
            suspended += usize::from(outcome.suspended.is_some());
            counts.push(outcome.strikes_in_window);
        }
        counts.sort_unstable();
        assert_eq!(
            counts,
            (1..=20).collect::<Vec<i64>>(),
            "each strike sees the ones before it"
        );
        assert_eq!(suspended, 1, "exactly one strike suspends");
        assert_eq!(
            audit_count(&store, &account.id, action::ACCOUNT_SUSPENDED).await,
            1
        );
        assert_eq!(
            audit_count(&store, &account.id, action::MODERATION_STRIKE).await,
            20
        );
        let account = store
            .get_account(&account.id)
            .await
            .unwrap_or_else(|e| panic!("get: {e}"));
        assert_eq!(account.state, AccountState::Suspended);
        assert!(
            account
                .suspended_reason
                .as_deref()
                .is_some_and(|r| r.contains("strikes"))
        );
        // Per end user: 7 + 7 + 6.
        let users = store
            .list_end_users(
                &account.id,
                Mode::Live,
                EndUserFilter::default(),
                Page::first(10),
            )
            .await
            .unwrap_or_else(|e| panic!("list_end_users: {e}"));
        let strikes: Vec<i64> = users.iter().map(|u| u.strikes).collect();
        assert_eq!(strikes, [7, 7, 6]);
    }
);

both_backends!(
    test_mode_and_old_strikes_do_not_suspend,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "tester@acme.test").await;
        for _ in 0..10 {
            let outcome = store
                .record_strike(
                    strike(&account.id, Mode::Test, None),
                    POLICY,
                    support::audit(),
                )
                .await
                .unwrap_or_else(|e| panic!("record_strike: {e}"));
            assert!(outcome.suspended.is_none());
        }
        // Four live strikes long ago and four now: never five within the window.
        for at in [1_000, 2_000, 3_000, 4_000] {
            store
                .record_strike(
                    strike(&account.id, Mode::Live, None),
                    POLICY,
                    support::audit_at(at),
                )
                .await
                .unwrap_or_else(|e| panic!("record_strike: {e}"));
        }
        for _ in 0..4 {
            let outcome = store
                .record_strike(
                    strike(&account.id, Mode::Live, None),
                    POLICY,
                    support::audit(),
                )
                .await
                .unwrap_or_else(|e| panic!("record_strike: {e}"));
            assert!(outcome.suspended.is_none(), "{outcome:?}");
        }
        let off = StrikePolicy {
            threshold: 0,
            ..POLICY
        };
        let outcome = store
            .record_strike(strike(&account.id, Mode::Live, None), off, support::audit())
            .await
            .unwrap_or_else(|e| panic!("record_strike: {e}"));
        assert!(outcome.suspended.is_none(), "threshold 0 never suspends");
        let account = store
            .get_account(&account.id)
            .await
            .unwrap_or_else(|e| panic!("get: {e}"));
        assert_eq!(account.state, AccountState::Active);
    }
);

both_backends!(
    end_users_are_blocked_per_account_and_mode,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "a@acme.test").await;
        let (b, _) = support::account(&store, "b@acme.test").await;
        store
            .set_end_user_blocked(
                &a.id,
                Mode::Live,
                "u1",
                Some(Some("spam".into())),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("block: {e}"));
        let blocked = |account: &str, mode: Mode| {
            let store = Arc::clone(&store);
            let account = account.to_string();
            async move {
                store
                    .end_user_blocked(&account, mode, "u1")
                    .await
                    .unwrap_or_else(|e| panic!("blocked: {e}"))
            }
        };
        assert!(blocked(&a.id, Mode::Live).await);
        assert!(!blocked(&a.id, Mode::Test).await);
        assert!(!blocked(&b.id, Mode::Live).await);
        support::assert_not_found(
            store
                .set_end_user_blocked(&b.id, Mode::Live, "u1", None, support::audit())
                .await,
        );
        let u = store
            .set_end_user_blocked(&a.id, Mode::Live, "u1", None, support::audit())
            .await
            .unwrap_or_else(|e| panic!("unblock: {e}"));
        assert_eq!((u.blocked_at, u.blocked_reason), (None, None));
        assert!(!blocked(&a.id, Mode::Live).await);
        let filtered = store
            .list_end_users(
                &a.id,
                Mode::Live,
                EndUserFilter {
                    blocked: Some(true),
                },
                Page::first(10),
            )
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        assert!(filtered.is_empty());
    }
);

both_backends!(
    abuse_reports_find_their_account_and_resolve_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let report = |generation_id: Option<&str>, deadline_at: i64| NewAbuseReport {
            source: ReportSource::Api,
            category: "hate".into(),
            description: "bad".into(),
            generation_id: generation_id.map(str::to_string),
            output_url: None,
            reporter_email: Some("r@example.com".into()),
            reporter_account_id: None,
            reporter_key_id: None,
            deadline_at,
            now: 1_000,
        };
        let late = store
            .create_abuse_report(report(Some("gen_01jab0c0d0e0f0g0h0j0k0m0n0"), 9_000))
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        let soon = store
            .create_abuse_report(report(None, 5_000))
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        assert_eq!(
            late.account_id, None,
            "an unknown generation has no account"
        );
        let open = store
            .list_abuse_reports(true, 10)
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        let ids: Vec<&str> = open.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [soon.id.as_str(), late.id.as_str()],
            "nearest deadline first"
        );
        let decision = ReportDecision {
            resolution: Resolution::Warned,
            note: Some("ok".into()),
            policy: POLICY,
        };
        let resolved = store
            .resolve_abuse_report(&soon.id, decision.clone(), support::audit())
            .await
            .unwrap_or_else(|e| panic!("resolve: {e}"));
        assert!(!resolved.report.open);
        assert!(resolved.strike.is_none(), "no account, no strike");
        support::assert_rule(
            store
                .resolve_abuse_report(&soon.id, decision.clone(), support::audit())
                .await,
            "abuse_report_resolved",
        );
        support::assert_not_found(
            store
                .resolve_abuse_report("abr_01jab0c0d0e0f0g0h0j0k0m0n0", decision, support::audit())
                .await,
        );
        let open = store
            .list_abuse_reports(true, 10)
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        assert_eq!(open.len(), 1);
    }
);

fn entry(
    account_id: &str,
    mode: Mode,
    status: u16,
    user: Option<&str>,
    at: i64,
) -> RequestLogEntry {
    RequestLogEntry {
        id: easel_core::ids::IdKind::RequestLog.generate_at(u64::try_from(at).unwrap_or(0)),
        request_id: "req_1".into(),
        account_id: account_id.into(),
        mode,
        api_key_id: "key_1".into(),
        method: "POST".into(),
        path: "/v1/generations".into(),
        status,
        end_user: user.map(str::to_string),
        latency_us: 1234,
        error_code: (status >= 400).then(|| "parameter_invalid".into()),
        prompt: None,
        created_at: at,
    }
}

both_backends!(
    the_request_log_filters_pages_and_purges,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "log@acme.test").await;
        let mut batch = Vec::new();
        for i in 0..450 {
            let status = if i % 3 == 0 { 400 } else { 200 };
            let user = (i % 5 == 0).then_some("five");
            batch.push(entry(&account.id, Mode::Live, status, user, 10_000 + i));
        }
        batch.push(entry(&account.id, Mode::Test, 200, None, 10_000));
        store
            .insert_request_logs(&batch)
            .await
            .unwrap_or_else(|e| panic!("insert: {e}"));
        let list = |filter: RequestLogFilter, page: Page| {
            let store = Arc::clone(&store);
            let id = account.id.clone();
            async move {
                store
                    .list_request_logs(&id, Mode::Live, &filter, page)
                    .await
                    .unwrap_or_else(|e| panic!("list: {e}"))
            }
        };
        assert_eq!(
            list(RequestLogFilter::default(), Page::first(1000))
                .await
                .len(),
            450
        );
        let failed = RequestLogFilter {
            failed: Some(true),
            ..Default::default()
        };
        assert_eq!(list(failed, Page::first(1000)).await.len(), 150);
        let five = RequestLogFilter {
            end_user: Some("five".into()),
            status: Some(400),
            ..Default::default()
        };
        assert_eq!(list(five, Page::first(1000)).await.len(), 30);
        let window = RequestLogFilter {
            since: Some(10_100),
            until: Some(10_200),
            ..Default::default()
        };
        assert_eq!(list(window, Page::first(1000)).await.len(), 100);
        // Pages: newest first, no overlap, nothing missed.
        let mut seen = Vec::new();
        let mut page = Page::first(100);
        loop {
            let mut rows = list(RequestLogFilter::default(), page.clone()).await;
            let more = rows.len() > 100;
            rows.truncate(100);
            seen.extend(rows.iter().map(|r| r.id.clone()));
            if !more {
                break;
            }
            page = Page {
                limit: 100,
                starting_after: rows.last().map(|r| r.id.clone()),
            };
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        sorted.dedup();
        assert_eq!((seen.len(), sorted), (450, seen.clone()));
        // Purge in bounded batches.
        assert_eq!(
            store
                .purge_request_logs(10_300, 100)
                .await
                .unwrap_or_else(|e| panic!("purge: {e}")),
            100
        );
        assert_eq!(
            store
                .purge_request_logs(10_300, 1000)
                .await
                .unwrap_or_else(|e| panic!("purge: {e}")),
            201
        );
        assert_eq!(
            list(RequestLogFilter::default(), Page::first(1000))
                .await
                .len(),
            150
        );
    }
);
