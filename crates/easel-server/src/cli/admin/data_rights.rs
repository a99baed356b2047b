//! `easel admin account export|erase`: the operator's side of data rights.

use std::path::PathBuf;

use anyhow::Context;
use easel_core::audit::{Actor, action};
use easel_core::ids::IdKind;
use easel_core::time::now_ms;
use serde::Serialize;

use super::cli_error;
use crate::app::App;
use crate::cli::output::{emit, when};
use crate::services::OrNotFound;

/// What `account export` wrote.
#[derive(Debug, Serialize)]
struct ExportView {
    object: &'static str,
    id: String,
    account_id: String,
    path: String,
    bytes: u64,
    sha256: String,
    counts: serde_json::Value,
}

pub(super) async fn export(
    app: &App,
    account_id: &str,
    out: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    app.store
        .get_account(account_id)
        .await
        .or_not_found("account", account_id)
        .map_err(cli_error)?;
    let id = IdKind::Export.generate();
    let out =
        out.unwrap_or_else(|| PathBuf::from(format!("easel-export-{account_id}-{id}.tar.gz")));
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let now = now_ms();
    let (archive, counts) =
        crate::data_rights::export::write_archive(app, account_id, &id, now, dir.path(), None)
            .await?;
    let (bytes, sha256) = copy(&archive, &out).await?;
    let audit = easel_db::AuditContext::new(Actor::cli(), None)
        .with("via", "cli")
        .with("bytes", bytes)
        .with("sha256", sha256.as_str());
    app.store
        .append_audit(
            Some(account_id),
            action::EXPORT_DOWNLOADED,
            ("export", &id),
            audit,
        )
        .await?;
    let v = ExportView {
        object: "account_export",
        id,
        account_id: account_id.to_string(),
        path: out.display().to_string(),
        bytes,
        sha256,
        counts,
    };
    emit(json, &v, || {
        format!(
            "exported {} to {} ({} bytes, sha256 {}) at {}",
            v.account_id,
            v.path,
            v.bytes,
            v.sha256,
            when(Some(now / 1000))
        )
    })
}

/// Copies the archive to `out` (refusing to overwrite a file), with its size and SHA-256.
async fn copy(from: &std::path::Path, out: &std::path::Path) -> anyhow::Result<(u64, String)> {
    let (from, out) = (from.to_path_buf(), out.to_path_buf());
    tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        use std::io::{Read, Write};
        let mut source = std::fs::File::open(&from)?;
        let mut target = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&out)
            .with_context(|| format!("cannot create {} (it must not exist)", out.display()))?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = source.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            target.write_all(chunk)?;
            size += n as u64;
        }
        target.sync_all()?;
        Ok((size, hex::encode(hasher.finalize())))
    })
    .await?
}

/// What `account erase` did.
#[derive(Debug, Serialize)]
struct ErasureView {
    object: &'static str,
    account_id: String,
    status: String,
    erased_at: Option<i64>,
    counts: easel_db::ScrubCounts,
}

pub(super) async fn erase(
    app: &App,
    account_id: &str,
    yes: bool,
    json: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        yes,
        "erasing {account_id} is final: its outputs, logs and personal data are deleted; pass --yes to do it"
    );
    let (erasure, counts) = crate::data_rights::erasure::erase_now(app, account_id)
        .await
        .map_err(cli_error)?;
    let v = ErasureView {
        object: "account_erasure",
        account_id: erasure.account_id,
        status: erasure.state.as_str().to_string(),
        erased_at: erasure.erased_at.map(|ms| ms / 1000),
        counts,
    };
    emit(json, &v, || {
        format!(
            "erased {} at {}: {} users, {} keys, {} generations, {} audit entries redacted",
            v.account_id,
            when(v.erased_at),
            v.counts.users,
            v.counts.api_keys,
            v.counts.generations,
            v.counts.audit_entries
        )
    })
}
