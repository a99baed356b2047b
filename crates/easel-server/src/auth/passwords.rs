//! Password hashing (argon2id, 19 MiB and about 20 ms of CPU each) on the blocking pool,
//! at most one per core at a time, each in working memory kept for the next.
//!
//! Unbounded, a burst of console logins would start as many hashes as tokio's blocking pool
//! has threads (512), taking every core from API requests, and each hash's freshly
//! allocated 19 MiB stayed behind in its thread's malloc arena: the benchmark saw 27 MiB at
//! rest grow to about 400-500 MiB at 25 logins/s. Now logins wait for a core, and memory
//! stays at one block per core.

use std::sync::{LazyLock, Mutex};

use easel_core::DomainError;
use easel_core::password::{self, Memory};
use tokio::sync::Semaphore;

struct Pool {
    permits: Semaphore,
    /// Working memories not in use; one per permit once each has been needed.
    memory: Mutex<Vec<Memory>>,
}

static HASHING: LazyLock<Pool> = LazyLock::new(|| Pool {
    permits: Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
    memory: Mutex::new(Vec::new()),
});

async fn bounded<T: Send + 'static>(
    work: impl FnOnce(&mut Memory) -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    // The semaphore is never closed, so acquiring only fails if it were; run unbounded then.
    let _permit = HASHING.permits.acquire().await.ok();
    tokio::task::spawn_blocking(move || {
        let taken = HASHING.memory.lock().ok().and_then(|mut m| m.pop());
        let mut memory = taken.unwrap_or_default();
        let result = work(&mut memory);
        if let Ok(mut free) = HASHING.memory.lock() {
            free.push(memory);
        }
        result
    })
    .await
}

/// Whether `attempt` matches the stored PHC `hash` (false if the task failed).
pub async fn verify(attempt: String, hash: String) -> bool {
    bounded(move |memory| password::verify_in(&attempt, &hash, memory))
        .await
        .unwrap_or(false)
}

/// Hashes a new password.
pub async fn hash(password: String) -> anyhow::Result<Result<String, DomainError>> {
    Ok(bounded(move |memory| password::hash_in(&password, memory)).await?)
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
                tokio::spawn(bounded(move |_| {
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
        // Every working memory went back to the pool, and no more were made than could
        // be in use at once.
        let kept = HASHING.memory.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert!(kept <= cores, "{kept} memories kept");
    }

    #[tokio::test]
    async fn verifies_what_it_hashed() {
        let stored = hash("correct horse battery".into()).await.unwrap().unwrap();
        assert!(verify("correct horse battery".into(), stored.clone()).await);
        assert!(!verify("wrong horse battery".into(), stored).await);
        assert!(hash("short".into()).await.unwrap().is_err());
    }
}
