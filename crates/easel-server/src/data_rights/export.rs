//! Exports of an account's data: asked for by an owner (API, console), built by the node
//! that claims it, downloaded once from a signed URL, then deleted.
//!
//! The archive is written to a temporary directory first (one JSON-lines file per record
//! kind, a page of records at a time), compressed there and then stored in the object
//! store in parts, so neither a large account nor its archive is ever held in memory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use easel_core::audit::Actor;
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::time::now_ms;
use easel_db::{AuditContext, DataExport, EXPORT_KINDS, ExportOutcome, ExportState};
use serde_json::json;

use super::archive::{self, Part};
use crate::app::App;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mail;
use crate::services::OrNotFound;

/// Records read from the database per query.
const PAGE: i64 = 1000;

/// Asks for an export of `account_id` (the owner's right is checked by the caller).
pub async fn request(
    app: &App,
    account_id: &str,
    requested_by: &str,
    audit: AuditContext,
) -> ApiResult<DataExport> {
    let id = IdKind::Export.generate();
    let export = app
        .store
        .create_export(&id, account_id, requested_by, audit)
        .await
        .or_not_found("account", account_id)?;
    super::wake();
    Ok(export)
}

/// The path of an export's download (what its URL's signature covers).
pub fn download_path(export_id: &str) -> String {
    format!("/v1/account/exports/{export_id}/download")
}

/// A signed download URL and its expiry (ms) for a ready export, valid for the configured
/// URL lifetime but never past the export's own expiry.
pub fn download_url(app: &App, export: &DataExport, now: i64) -> Option<(String, i64)> {
    let expires_at = export.expires_at?;
    (export.state == ExportState::Ready && expires_at > now).then(|| {
        app.outputs
            .signed_url(&download_path(&export.id), now, expires_at)
    })
}

/// [`download_url`] without the origin, for the console's own links.
pub fn download_link(app: &App, export: &DataExport, now: i64) -> Option<String> {
    let expires_at = export.expires_at?;
    (export.state == ExportState::Ready && expires_at > now).then(|| {
        app.outputs
            .signed_path(&download_path(&export.id), now, expires_at)
            .0
    })
}

/// Why an export cannot be downloaded, as an API error.
pub fn refusal(export: &DataExport, now: i64) -> ApiError {
    match export.state {
        ExportState::Pending | ExportState::Building => ApiError::new(
            ErrorCode::export_not_ready,
            "This export is still being prepared; fetch it again in a moment.",
        ),
        ExportState::Downloaded => ApiError::new(
            ErrorCode::export_already_downloaded,
            "This export was downloaded already; it can be downloaded once. Ask for a new export.",
        ),
        ExportState::Failed => ApiError::new(
            ErrorCode::export_failed,
            "This export could not be prepared. Ask for a new export.",
        ),
        ExportState::Ready if export.expires_at.is_some_and(|at| at > now) => ApiError::new(
            ErrorCode::export_not_ready,
            "This export is not available right now; retry.",
        ),
        ExportState::Ready | ExportState::Expired => ApiError::new(
            ErrorCode::export_expired,
            "This export was not downloaded in time and is deleted. Ask for a new export.",
        ),
    }
}

/// Claims one export waiting to be built and builds it. Whether one was claimed.
pub async fn build_next(app: &App, now: i64) -> anyhow::Result<bool> {
    let dr = &app.config.data_rights;
    let owner = super::node();
    let Some(export) = app
        .store
        .claim_export(
            owner,
            now.saturating_add(dr.lease_ms()),
            i64::from(dr.export_max_attempts),
            now,
        )
        .await?
    else {
        return Ok(false);
    };
    let outcome = match build(app, &export, owner).await {
        Ok(outcome) => outcome,
        Err(e) if export.attempts >= i64::from(dr.export_max_attempts) => {
            tracing::error!(export.id = %export.id, error = %format!("{e:#}"), "could not build an export; giving up");
            ExportOutcome::Failed {
                reason: "The archive could not be built or stored; ask for a new export.".into(),
            }
        }
        Err(e) => {
            // Left under its lease: another attempt starts once it lapses.
            tracing::warn!(export.id = %export.id, error = %format!("{e:#}"), "could not build an export; it will be retried");
            return Ok(true);
        }
    };
    let audit = AuditContext::new(Actor::system(), None);
    let ready = matches!(outcome, ExportOutcome::Ready { .. });
    if !app
        .store
        .finish_export(&export.id, owner, outcome, audit)
        .await?
    {
        tracing::warn!(export.id = %export.id, "lost the lease of an export while building it");
        return Ok(true);
    }
    if ready {
        tell_owners(app, &export).await;
    }
    Ok(true)
}

/// Builds an export's archive and stores it.
async fn build(app: &App, export: &DataExport, owner: &str) -> anyhow::Result<ExportOutcome> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let now = now_ms();
    let lease = Lease {
        app,
        owner,
        id: &export.id,
        renewed_at: now,
    };
    let (archive, counts) = write_archive(
        app,
        &export.account_id,
        &export.id,
        now,
        dir.path(),
        Some(lease),
    )
    .await?;
    let path = export
        .object_path
        .clone()
        .unwrap_or_else(|| easel_db::export_object_path(&export.account_id, &export.id));
    let (bytes, sha256) = app.outputs.put_file(&path, &archive).await?;
    Ok(ExportOutcome::Ready {
        object_path: path,
        bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
        sha256,
        counts,
        expires_at: now_ms().saturating_add(app.config.data_rights.export_ttl_ms()),
    })
}

/// The lease of the export being built, renewed as the build goes.
pub struct Lease<'a> {
    app: &'a App,
    owner: &'a str,
    id: &'a str,
    renewed_at: i64,
}

impl Lease<'_> {
    /// Renews the lease once a third of it has passed; fails if it was lost.
    async fn keep(&mut self) -> anyhow::Result<()> {
        let lease_ms = self.app.config.data_rights.lease_ms();
        let now = now_ms();
        if now - self.renewed_at < lease_ms / 3 {
            return Ok(());
        }
        let kept = self
            .app
            .store
            .renew_export_lease(self.id, self.owner, now.saturating_add(lease_ms))
            .await?;
        anyhow::ensure!(kept, "the export's lease was lost");
        self.renewed_at = now;
        Ok(())
    }
}

/// Writes the archive of `account_id`'s data into `dir`; its path and the records per
/// kind. `lease`, when building for the loop, is renewed as it goes.
pub async fn write_archive(
    app: &App,
    account_id: &str,
    export_id: &str,
    now: i64,
    dir: &Path,
    mut lease: Option<Lease<'_>>,
) -> anyhow::Result<(PathBuf, serde_json::Value)> {
    let mut parts = Vec::new();
    let mut counts = serde_json::Map::new();
    let mut files = Vec::new();
    for (i, kind) in EXPORT_KINDS.iter().enumerate() {
        let name = format!("{}.jsonl", kind.name);
        let path = dir.join(&name);
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        let mut records = 0u64;
        let modes: &[Option<Mode>] = if kind.by_mode {
            &[Some(Mode::Test), Some(Mode::Live)]
        } else {
            &[None]
        };
        for mode in modes {
            let mut after: Option<String> = None;
            loop {
                let page = app
                    .store
                    .export_page(i, account_id, *mode, after.as_deref(), PAGE)
                    .await
                    .with_context(|| format!("cannot read the account's {}", kind.name))?;
                let full = page.len() as i64 == PAGE;
                records += page.len() as u64;
                after = page.last().map(|(k, _)| k.clone());
                let file = name.clone();
                writer = tokio::task::spawn_blocking(move || archive::append(writer, page))
                    .await?
                    .with_context(|| format!("cannot write {file}"))?;
                if let Some(lease) = lease.as_mut() {
                    lease.keep().await?;
                }
                if !full {
                    break;
                }
            }
        }
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            writer.flush()
        })
        .await??;
        counts.insert(kind.name.to_string(), records.into());
        files.push(json!({"name": name, "records": records, "description": kind.description}));
        parts.push(Part { name, path });
    }
    let manifest = json!({
        "format": "easel-account-export",
        "version": 1,
        "export_id": export_id,
        "account_id": account_id,
        "exported_at": crate::cli::output::when(Some(now.div_euclid(1000))),
        "exported_at_ms": now,
        "counts": counts,
        "files": files,
        "not_included": [
            "API key secrets and their hashes (each key's first characters are in api_keys.jsonl)",
            "webhook endpoint signing secrets",
            "password hashes, session tokens and invitation link tokens",
            "the responses replayed for idempotency keys",
            "the output and input files themselves (their metadata is in generations.jsonl; download them from the API while they are retained)",
            "the address of whoever reported the account for abuse"
        ],
    });
    let manifest = serde_json::to_vec_pretty(&manifest)?;
    let out = dir.join("export.tar.gz");
    let folder = export_id.to_string();
    let target = out.clone();
    let mtime = u64::try_from(now.div_euclid(1000)).unwrap_or(0);
    tokio::task::spawn_blocking(move || archive::write(&target, &folder, &manifest, &parts, mtime))
        .await?
        .context("cannot write the archive")?;
    Ok((out, serde_json::Value::Object(counts)))
}

/// Mails every owner that the export is ready (where to get it, and for how long).
async fn tell_owners(app: &App, export: &DataExport) {
    let members = match app.store.list_members(&export.account_id).await {
        Ok(members) => members,
        Err(e) => {
            tracing::warn!(export.id = %export.id, error = %e, "could not mail the export's owners");
            return;
        }
    };
    let hours = app.config.data_rights.export_ttl_hours;
    let console = format!("{}/console/account", app.config.public_url());
    for owner in members
        .iter()
        .filter(|m| m.role == easel_core::roles::Role::Owner)
    {
        app.mailer
            .send(Mail {
                to: owner.email.clone(),
                subject: "Your Easel data export is ready".into(),
                body: format!(
                    "The export of your account's data ({}) is ready.\n\n\
                     Download it from the Account page of the console within {hours} hours: {console}\n\
                     It can be downloaded once; after that, or after {hours} hours, it is deleted.\n",
                    export.id
                ),
            })
            .await;
    }
}

/// Deletes the archives of exports that were downloaded, failed or expired.
pub async fn purge(app: &App, now: i64) {
    let due = match app.store.exports_to_purge(now, 100).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for export archives to delete");
            return;
        }
    };
    for export in due {
        if let Some(path) = &export.object_path
            && let Err(e) = app.outputs.delete(path).await
        {
            tracing::warn!(export.id = %export.id, error = %format!("{e:#}"), "could not delete an export's archive; will retry");
            continue;
        }
        if let Err(e) = app.store.mark_export_purged(&export.id, now).await {
            tracing::warn!(export.id = %export.id, error = %e, "could not record an export's archive deleted");
        }
    }
}
