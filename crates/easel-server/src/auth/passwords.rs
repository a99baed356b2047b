//! Password hashing (argon2id, 19 MiB and tens of milliseconds each) on the blocking pool,
//! at most one per core at a time.
//!
//! Unbounded, a burst of console logins would start as many hashes as tokio's blocking pool
//! has threads (512): each holds 19 MiB, which glibc then keeps in that thread's arena (the
//! benchmark saw 27 MiB at rest grow to about 500 MiB at 25 logins/s), and the hashes take
//! every core from API requests. Queued here, logins wait for a core instead.

use std::sync::LazyLock;

use easel_core::DomainError;
use easel_core::password;
use tokio::sync::Semaphore;

static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())));

async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    // The semaphore is never closed, so acquiring only fails if it were; run unbounded then.
    let _permit = HASHING.acquire().await.ok();
    tokio::task::spawn_blocking(work).await
}

/// Whether `attempt` matches the stored PHC `hash` (false if the task failed).
pub async fn verify(attempt: String, hash: String) -> bool {
    bounded(move || password::verify(&attempt, &hash))
        .await
        .unwrap_or(false)
}

/// Hashes a new password.
pub async fn hash(password: String) -> anyhow::Result<Result<String, DomainError>> {
    Ok(bounded(move || password::hash(&password)).await?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_one_hash_per_core_runs_at_once() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..cores * 4)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(bounded(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= cores, "{most:?} > {cores}");
        assert!(most.load(Ordering::SeqCst) >= 1);
    }

    #[tokio::test]
    async fn verifies_what_it_hashed() {
        let stored = hash("correct horse battery".into()).await.unwrap().unwrap();
        assert!(verify("correct horse battery".into(), stored.clone()).await);
        assert!(!verify("wrong horse battery".into(), stored).await);
        assert!(hash("short".into()).await.unwrap().is_err());
    }
}
