//! Callers that give up: an HTTP handler is dropped when its client disconnects, so any
//! store call can be abandoned at any await. An abandoned write must leave nothing behind
//! that breaks the next one (sqlx 0.8.6's SQLite `begin_with` has an await after its
//! `BEGIN` ran; abandoned there, the write connection stayed inside that transaction and
//! every later write failed with "begin_with at non-zero transaction depth").

use std::task::Poll;
use std::time::Duration;

use easel_db::LeaseOutcome;
use easel_test_utils::{TestDb, both_backends};

use crate::support;

both_backends!(
    writes_abandoned_at_any_point_leave_the_store_writable,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        // Abandon a write transaction after it was polled 1, 2, 3, … times (yielding in
        // between, so the driver's thread moves on): some before BEGIN, some inside it,
        // some between BEGIN and its first statement.
        for i in 0..600_usize {
            let mut write = store.end_lease("lease_unknown", LeaseOutcome::Lost, None, 1);
            for _ in 0..=(i % 60) {
                let polled = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
                if polled.is_ready() {
                    break;
                }
                if i % 2 == 0 {
                    tokio::task::yield_now().await;
                } else {
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
        }
        for _ in 0..3 {
            let ended = store
                .end_lease("lease_unknown", LeaseOutcome::Lost, None, 1)
                .await;
            assert!(
                matches!(ended, Ok(false)),
                "a write after abandoned ones works: {ended:?}"
            );
        }
        // A transaction of several statements too (`account` panics if it fails).
        support::account(&store, "after@acme.test").await;
    }
);
