//! `WorkerStore`: worker tokens and leases. STUB — being written (issue 19).

macro_rules! impl_worker_store {
    ($Store:ty, $Db:ty, $lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::WorkerStore for $Store {
            async fn create_worker(
                &self,
                _new: $crate::NewWorker,
                _audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Worker> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn list_workers(&self) -> $crate::DbResult<Vec<$crate::Worker>> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn get_worker(&self, _id_or_name: &str) -> $crate::DbResult<$crate::Worker> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn revoke_worker(
                &self,
                _id_or_name: &str,
                _audit: $crate::AuditContext,
                _now: i64,
            ) -> $crate::DbResult<$crate::Worker> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn find_worker(
                &self,
                _token_hash: &str,
            ) -> $crate::DbResult<Option<$crate::Worker>> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn touch_worker(
                &self,
                _worker_id: &str,
                _version: Option<&str>,
                _serving: Option<&[String]>,
                _min_gap_ms: i64,
                _now: i64,
            ) -> $crate::DbResult<()> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn claim_for_worker(
                &self,
                _claim: $crate::WorkerClaim,
            ) -> $crate::DbResult<Vec<($crate::WorkerLease, $crate::Job)>> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn get_lease(
                &self,
                _lease_id: &str,
            ) -> $crate::DbResult<Option<$crate::WorkerLease>> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn open_lease_of_job(
                &self,
                _job_id: &str,
            ) -> $crate::DbResult<Option<$crate::WorkerLease>> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn latest_lease_of_job(
                &self,
                _job_id: &str,
            ) -> $crate::DbResult<Option<$crate::WorkerLease>> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn heartbeat_lease(
                &self,
                _lease: &$crate::WorkerLease,
                _lease_until: i64,
                _progress: Option<f64>,
                _message: Option<&str>,
                _now: i64,
            ) -> $crate::DbResult<$crate::Heartbeat> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn end_lease(
                &self,
                _lease_id: &str,
                _outcome: $crate::LeaseOutcome,
                _completion_digest: Option<&str>,
                _now: i64,
            ) -> $crate::DbResult<bool> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn sweep_lost_leases(
                &self,
                _policy: $crate::QuarantinePolicy,
                _now: i64,
            ) -> $crate::DbResult<$crate::LostLeases> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
            async fn job_progress(
                &self,
                _job_id: &str,
            ) -> $crate::DbResult<Option<(f64, Option<String>)>> {
                Err($crate::DbError::Config("workers: not yet".into()))
            }
        }
    };
}
