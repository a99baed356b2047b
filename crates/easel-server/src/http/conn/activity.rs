//! What a connection has been doing, and when it has outstayed its welcome.
//!
//! hyper's own header-read timer starts as soon as it waits for a request, so an idle
//! keep-alive connection would fall under it too. The header-read timeout and the idle
//! timeout are separate promises, so each connection keeps its own clock instead: the socket
//! wrapper ([`Watched`]) notes every byte read or written, the service notes when a request
//! starts and ends, and a watchdog ([`Activity::expired`]) closes the connection when
//! - a request head was started but not finished within the header-read timeout (trickled
//!   header lines, a half request line), or
//! - nothing moved either way for the idle timeout while no request was being handled (an
//!   idle keep-alive connection, a client that never sends, a response nobody reads).
//!
//! While a handler runs, neither applies: the request timeout of the router bounds it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// `head_started_ms` when no request head is in progress.
const NO_HEAD: u64 = u64::MAX;

/// Why a connection was closed by the watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// A request head took longer than the header-read timeout.
    HeaderRead,
    /// Nothing was read or written for the idle timeout.
    Idle,
}

/// The timeouts a connection lives under.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the first byte of a request to the end of its headers.
    pub header_read: Duration,
    /// Without any byte moving while no request is being handled.
    pub idle: Duration,
}

/// The clock of one connection; times are milliseconds since it was accepted.
#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    last_io_ms: AtomicU64,
    head_started_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// Wakes the watchdog when a head starts: its deadline may be earlier than the one the
    /// watchdog sleeps towards.
    head_began: Notify,
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            origin: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(NO_HEAD),
            in_flight: AtomicUsize::new(0),
            head_began: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(NO_HEAD - 1)
    }

    fn on_read(&self) {
        let now = self.now_ms();
        self.last_io_ms.store(now, Ordering::Relaxed);
        // Bytes arriving while no request is being handled begin the next request's head.
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_started_ms
                .compare_exchange(NO_HEAD, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.head_began.notify_one();
        }
    }

    fn on_write(&self) {
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Marks a request whose head is complete as being handled, until the guard drops.
    pub fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started_ms.store(NO_HEAD, Ordering::Release);
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Resolves once the connection has broken one of `timeouts`; never while a request is
    /// being handled.
    pub async fn expired(&self, timeouts: Timeouts) -> Expired {
        let header_ms = millis(timeouts.header_read);
        let idle_ms = millis(timeouts.idle);
        loop {
            let now = self.now_ms();
            let wake_at = if self.in_flight.load(Ordering::Acquire) > 0 {
                now.saturating_add(idle_ms)
            } else {
                let head = self.head_started_ms.load(Ordering::Acquire);
                let head_deadline = if head == NO_HEAD {
                    u64::MAX
                } else {
                    head.saturating_add(header_ms)
                };
                let idle_deadline = self
                    .last_io_ms
                    .load(Ordering::Relaxed)
                    .saturating_add(idle_ms);
                if now >= head_deadline {
                    return Expired::HeaderRead;
                }
                if now >= idle_deadline {
                    return Expired::Idle;
                }
                head_deadline.min(idle_deadline)
            };
            // Other activity only moves deadlines later; a head that starts brings one
            // nearer, and says so.
            tokio::select! {
                () = tokio::time::sleep_until(self.origin + Duration::from_millis(wake_at)) => {}
                () = self.head_began.notified() => {}
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A request being handled; dropping it (response ready, or request abandoned) ends it.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.on_write();
    }
}

/// A socket that reports every byte it moves to its connection's [`Activity`].
#[derive(Debug)]
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, activity: Arc<Activity>) -> Watched<T> {
        Watched { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real time (tokio's paused clock needs a feature this workspace does not enable), so
    // short timeouts and bounds with room for a busy machine.
    const TIMEOUTS: Timeouts = Timeouts {
        header_read: Duration::from_millis(300),
        idle: Duration::from_millis(800),
    };

    fn about(elapsed: Duration, wanted_ms: u64) -> bool {
        let ms = elapsed.as_millis();
        ms >= u128::from(wanted_ms) && ms < u128::from(wanted_ms) + 400
    }

    #[tokio::test]
    async fn a_silent_connection_expires_as_idle() {
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(activity.expired(TIMEOUTS).await, Expired::Idle);
        assert!(about(started.elapsed(), 800), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_started_head_expires_at_the_header_timeout_even_if_bytes_keep_coming() {
        let activity = Activity::new();
        let started = Instant::now();
        activity.on_read();
        let trickle = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    activity.on_read();
                }
            })
        };
        assert_eq!(activity.expired(TIMEOUTS).await, Expired::HeaderRead);
        assert!(about(started.elapsed(), 300), "{:?}", started.elapsed());
        trickle.abort();
    }

    #[tokio::test]
    async fn a_head_started_while_the_watchdog_sleeps_is_still_cut_in_time() {
        let activity = Activity::new();
        let started = Instant::now();
        let watchdog = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move { activity.expired(TIMEOUTS).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        activity.on_read();
        let why = watchdog.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(why, Expired::HeaderRead);
        assert!(about(started.elapsed(), 400), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn nothing_expires_while_a_request_is_handled() {
        let activity = Activity::new();
        activity.on_read();
        let guard = activity.begin_request();
        let early = tokio::time::timeout(Duration::from_millis(2_000), activity.expired(TIMEOUTS));
        assert!(
            early.await.is_err(),
            "expired while a request was in flight"
        );
        drop(guard);
        let started = Instant::now();
        assert_eq!(activity.expired(TIMEOUTS).await, Expired::Idle);
        assert!(about(started.elapsed(), 800), "{:?}", started.elapsed());
    }
}
