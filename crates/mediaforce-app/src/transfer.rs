//! The receiving side of transfer mode, for the file endpoint of `mediaforce serve`: which
//! file a host's request may read or deliver, and putting a verified upload in place under
//! the job's lease (see [`mediaforce::transfer`] for the protocol).

use crate::{App, AppError, ErrorKind, Result};
use mediaforce::batch::StagePayload;
use mediaforce::control::Fence;
use mediaforce::store::JobState;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A job's files as one request of a host may reach them: only a running job, held by that
/// host under the epoch the request names.
#[derive(Debug, Clone, Serialize)]
pub struct TransferTarget {
    /// The host the token belongs to.
    pub host: String,
    /// The job and its lease epoch.
    pub job: i64,
    /// The lease epoch.
    pub epoch: i64,
    /// The item's source (as planned, on this host).
    pub source: PathBuf,
    /// Where its staged encode goes.
    pub staging: PathBuf,
}

impl TransferTarget {
    /// The job's lease.
    pub fn fence(&self) -> Fence {
        Fence {
            job: self.job,
            epoch: self.epoch,
        }
    }

    /// Where this lease's upload is received: beside the staging path, hidden, named after
    /// the job and the epoch (a later lease never appends to an earlier one's bytes).
    pub fn upload_path(&self) -> PathBuf {
        let name = self
            .staging
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.staging
            .with_file_name(format!(".{name}.upload-{}-e{}", self.job, self.epoch))
    }

    /// Uploads of this job under earlier leases (a host that lost its lease mid-upload);
    /// never a later lease's.
    fn stale_uploads(&self) -> Vec<PathBuf> {
        let name = self
            .staging
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!(".{name}.upload-{}-e", self.job);
        let Some(dir) = self.staging.parent() else {
            return Vec::new();
        };
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| {
                                n.to_string_lossy()
                                    .strip_prefix(&prefix)
                                    .and_then(|e| e.parse::<i64>().ok())
                            })
                            .is_some_and(|epoch| epoch < self.epoch)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Whether `path` lies under `root`, with no `..` on the way.
fn inside(path: &Path, root: &Path) -> bool {
    !path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
        && path.starts_with(root)
}

fn unauthenticated() -> AppError {
    AppError::new(
        ErrorKind::Unauthenticated,
        "no valid host token (issue one with: mediaforce hosts token NAME)",
    )
}

impl App {
    /// The host a bearer token belongs to; unauthenticated when none.
    pub fn token_host(&self, token: &str) -> Result<String> {
        if token.trim().is_empty() {
            return Err(unauthenticated());
        }
        self.with_hosts(|h| h.token_host(token))?
            .ok_or_else(unauthenticated)
    }

    /// Issue a new file-endpoint token for `host`, replacing its previous one; shown once.
    pub fn host_token(&self, host: &str) -> Result<String> {
        self.with_hosts(|h| h.issue_token(host))
    }

    /// Revoke `host`'s token.
    pub fn host_token_revoke(&self, host: &str) -> Result<()> {
        if self.with_hosts(|h| h.revoke_token(host))? {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorKind::NotFound,
                format!("host {host} has no token"),
            ))
        }
    }

    /// What the request of the holder of `token` for job `job` under `epoch` may reach:
    /// refused unless the job is a running encode held by that host under that epoch.
    pub fn transfer_target(&self, token: &str, job: i64, epoch: i64) -> Result<TransferTarget> {
        let host = self.token_host(token)?;
        let row = self.with_queue(|q| q.job(job).map_err(crate::review::store_error))?;
        let holder = row.worker.clone().unwrap_or_default();
        let held_by_host = holder.split('/').next() == Some(host.as_str());
        if row.state == JobState::Running && !held_by_host {
            return Err(AppError::new(
                ErrorKind::Refused,
                format!("job {job} is held by {holder}, not by host {host}"),
            ));
        }
        if row.state != JobState::Running || row.epoch != epoch {
            let mut e = AppError::new(
                ErrorKind::Conflict,
                format!(
                    "job {job}: host {host}'s lease (epoch {epoch}) is no longer current \
                     (the job is {} under epoch {}, held by {})",
                    row.state.as_str(),
                    row.epoch,
                    if holder.is_empty() { "nobody" } else { &holder }
                ),
            );
            e.lease_lost = true;
            return Err(e);
        }
        let payload: StagePayload = serde_json::from_value(row.payload.clone()).map_err(|_| {
            AppError::new(
                ErrorKind::Invalid,
                format!("job {job} is not an encode ({})", row.kind),
            )
        })?;
        let plan = mediaforce::manifest::load(&self.catalog, &payload.manifest)?;
        let item = plan
            .items
            .iter()
            .find(|i| i.index == payload.index)
            .ok_or_else(|| {
                AppError::new(
                    ErrorKind::NotFound,
                    format!(
                        "job {job}: the plan {} has no item {}",
                        payload.manifest.display(),
                        payload.index
                    ),
                )
            })?;
        // The plan is read from the database every worker can write: its paths are trusted
        // only inside the library's roots and the transcode root.
        if !self
            .settings()
            .roots
            .iter()
            .any(|r| inside(&item.source, r))
        {
            return Err(AppError::new(
                ErrorKind::Refused,
                format!(
                    "job {job}: {} is not under a library root; not served",
                    item.source.display()
                ),
            ));
        }
        if !inside(&item.staging, &self.settings().transcode_root) {
            return Err(AppError::new(
                ErrorKind::Refused,
                format!(
                    "job {job}: {} is not under the transcode root {}; not received",
                    item.staging.display(),
                    self.settings().transcode_root.display()
                ),
            ));
        }
        Ok(TransferTarget {
            host,
            job,
            epoch,
            source: item.source.clone(),
            staging: item.staging.clone(),
        })
    }

    /// Put a received upload in place: its length and BLAKE3 hash (read back from the disk)
    /// must be `len` and `hash` (else it is discarded: invalid), and the rename into the
    /// staging path happens only while the lease is current (else a conflict, and it is
    /// discarded too; any other failure keeps it for another try).
    pub fn transfer_commit(&self, target: &TransferTarget, hash: &str, len: u64) -> Result<()> {
        let upload = target.upload_path();
        let discard = |e: AppError| {
            let _ = std::fs::remove_file(&upload);
            e
        };
        let io = |e: std::io::Error| {
            AppError::new(
                ErrorKind::NotFound,
                format!("job {}: {}: {e}", target.job, upload.display()),
            )
        };
        // A commit repeated after its answer was lost: the file is already in place.
        if !upload.exists()
            && staged_len(&target.staging) == Some(len)
            && mediaforce::transfer::hash_file(&target.staging)
                .is_ok_and(|h| h.eq_ignore_ascii_case(hash.trim()))
        {
            return Ok(());
        }
        let got_len = std::fs::metadata(&upload).map_err(io)?.len();
        if got_len != len {
            return Err(discard(AppError::new(
                ErrorKind::Invalid,
                format!(
                    "job {}: the upload holds {got_len} bytes, the sender has {len}",
                    target.job
                ),
            )));
        }
        let got = mediaforce::transfer::hash_file(&upload).map_err(io)?;
        if !got.eq_ignore_ascii_case(hash.trim()) {
            return Err(discard(AppError::new(
                ErrorKind::Invalid,
                format!(
                    "job {}: hash mismatch: received {got}, the sender has {hash}",
                    target.job
                ),
            )));
        }
        std::fs::File::open(&upload)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        match self
            .catalog
            .rename_under(target.fence(), &upload, &target.staging)
        {
            Ok(()) => {}
            Err(e @ mediaforce::catalog::CatalogError::Fenced { .. }) => {
                return Err(discard(e.into()))
            }
            Err(e) => return Err(e.into()),
        }
        for stale in target.stale_uploads() {
            let _ = std::fs::remove_file(stale);
        }
        Ok(())
    }

    /// Where a received upload goes, made ready: the staging directory exists, and uploads of
    /// this job under earlier leases are removed.
    pub fn transfer_prepare_upload(&self, target: &TransferTarget) -> Result<PathBuf> {
        if let Some(dir) = target.staging.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                AppError::new(ErrorKind::Internal, format!("{}: {e}", dir.display()))
            })?;
        }
        for stale in target.stale_uploads() {
            let _ = std::fs::remove_file(stale);
        }
        Ok(target.upload_path())
    }
}

/// The staged file's length, when one is in place.
pub fn staged_len(staging: &Path) -> Option<u64> {
    std::fs::metadata(staging).ok().map(|m| m.len())
}
