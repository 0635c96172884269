//! What every kind of staging job shares: how an item ended ([`StageOutcome`]), the errors
//! that stop a batch ([`StageError`]), the item's event sink (progress checkpoints, pause,
//! cancel), and how a failure or a transfer that did not complete ends the item. The encode
//! (the `stage` module) and the repack (the `repack` module) both use them.

use crate::catalog::{Catalog, CatalogError};
use crate::control::{Fence, JobControl};
use crate::domain::human_bytes;
use crate::domain::ItemState;
use crate::events::{Event, EventSink};
use serde::Serialize;
use std::path::PathBuf;

/// What happened to an item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StageOutcome {
    /// Already staged and intact: nothing done.
    AlreadyStaged {
        /// Staged file.
        staging: PathBuf,
    },
    /// Encoded.
    Staged {
        /// Staged file.
        staging: PathBuf,
        /// Chosen knob.
        knob: f64,
        /// Predicted VMAF (search).
        predicted_vmaf: f64,
        /// Measured VMAF of the full output (target statistic).
        measured_vmaf: Option<f64>,
        /// Source size.
        source_bytes: u64,
        /// Output size.
        output_bytes: u64,
        /// Wall time.
        seconds: f64,
        /// Damaged packets or frames of the source concealed in the encode; such an item is
        /// promoted only after the operator accepts it.
        source_damage: u64,
    },
    /// Repacked (a remux or audio item): the picture copied, every stream as the plan said.
    Repacked {
        /// Staged file.
        staging: PathBuf,
        /// `remux` or `audio`.
        kind: String,
        /// Source size.
        source_bytes: u64,
        /// Output size.
        output_bytes: u64,
        /// Wall time.
        seconds: f64,
    },
    /// No encode meets the target within the size limit: nothing staged.
    NoResult {
        /// Why.
        reason: String,
    },
    /// Failed after all retries.
    Failed {
        /// Last error.
        error: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Stopped by the operator; rerun to resume.
    Cancelled,
    /// The item's state does not allow an encode (it is in the library, or a promotion or
    /// rollback is under way): left as it is, with the reason.
    Refused {
        /// Why, and what to do.
        reason: String,
    },
    /// Another run holds the item (its lock in `<data dir>/locks`): left to it.
    Busy {
        /// Who holds it, as that run wrote it (process id and host).
        holder: String,
    },
}

impl StageOutcome {
    /// How it ended, in one word: `staged`, `no_result`, `failed`...
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AlreadyStaged { .. } => "already_staged",
            Self::Staged { .. } => "staged",
            Self::Repacked { .. } => "repacked",
            Self::NoResult { .. } => "no_result",
            Self::Failed { .. } => "failed",
            Self::Cancelled => "cancelled",
            Self::Busy { .. } => "busy",
            Self::Refused { .. } => "refused",
        }
    }

    /// How it ended, for people: what was staged with its scores and sizes, or why not.
    pub fn describe(&self) -> String {
        match self {
            Self::AlreadyStaged { staging } => format!("already staged: {}", staging.display()),
            Self::Staged {
                staging,
                knob,
                predicted_vmaf,
                measured_vmaf,
                source_bytes,
                output_bytes,
                seconds,
                source_damage,
            } => format!(
                "staged {} (knob {knob}): VMAF predicted {predicted_vmaf:.2}, measured {}; {} -> {} ({:+.1}%) in {seconds:.0} s{}",
                staging.display(),
                measured_vmaf.map_or("-".into(), |v| format!("{v:.2}")),
                human_bytes(*source_bytes),
                human_bytes(*output_bytes),
                100.0 * (*output_bytes as f64 - *source_bytes as f64) / (*source_bytes).max(1) as f64,
                if *source_damage > 0 {
                    format!("; WARNING: the source has {source_damage} damaged packet(s) or frame(s), concealed in the encode: it is promoted only after `approve --accept-damaged-source`")
                } else {
                    String::new()
                }
            ),
            Self::Repacked {
                staging,
                kind,
                source_bytes,
                output_bytes,
                seconds,
            } => format!(
                "{kind} staged {}: {} -> {} ({:+.1}%) in {seconds:.0} s; the picture copied",
                staging.display(),
                human_bytes(*source_bytes),
                human_bytes(*output_bytes),
                100.0 * (*output_bytes as f64 - *source_bytes as f64) / (*source_bytes).max(1) as f64,
            ),
            Self::NoResult { reason } => format!("no result: {reason}"),
            Self::Failed { error, attempts } => format!("failed after {attempts} attempts: {error}"),
            Self::Cancelled => "stopped".into(),
            Self::Busy { holder } => format!("left alone: {holder} is encoding it"),
            Self::Refused { reason } => format!("left as it is: {reason}"),
        }
    }
}

/// Errors that stop a batch (not per-item failures, which are outcomes).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// Catalog error.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A transfer-mode download or upload did not complete (the job is retried).
    #[error("{0}")]
    Transfer(String),
}

/// Wraps the caller's event sink for one item's encode: passes every event on, records the
/// full encode's progress checkpoints (every tenth) as item events, holds while the job is
/// paused, and reports the job's control stopping it as cancellation.
pub(crate) struct ItemEvents<'a> {
    pub(crate) inner: &'a mut dyn EventSink,
    pub(crate) catalog: &'a Catalog,
    pub(crate) item: i64,
    pub(crate) control: &'a JobControl,
    pub(crate) next_checkpoint: f64,
}

/// The checkpoint a full encode's frame count reaches when `next` (a fraction) is the next one
/// to record: the item event's text and the checkpoint after it.
fn checkpoint(next: f64, frames: u64, total: Option<u64>, fps: f64) -> Option<(String, f64)> {
    let total = total.filter(|t| *t > 0)?;
    let done = frames as f64 / total as f64;
    (done >= next).then(|| {
        (
            format!("{:.0}% ({frames} frames, {fps:.1} fps)", done * 100.0),
            (done * 10.0).floor() / 10.0 + 0.1,
        )
    })
}

impl EventSink for ItemEvents<'_> {
    fn emit(&mut self, event: Event) {
        if let Event::FramesDone {
            frames, total, fps, ..
        } = &event
        {
            self.control.touch();
            if *frames == 0 {
                self.next_checkpoint = 0.1;
            }
            if let Some((text, next)) = checkpoint(self.next_checkpoint, *frames, *total, *fps) {
                let _ = self.catalog.event(self.item, "progress", Some(&text));
                self.next_checkpoint = next;
            }
        }
        self.inner.emit(event);
        if self.control.is_paused() && !self.control.is_stopped() {
            let _ = self.catalog.event(self.item, "paused", None);
            self.control.wait_while_paused();
            let _ = self.catalog.event(self.item, "resumed", None);
        }
    }

    fn cancelled(&self) -> bool {
        self.control.is_stopped()
    }
}

/// Fail the item now (before any attempt) with `reason`.
pub(crate) fn fail(
    catalog: &Catalog,
    item: i64,
    reason: String,
) -> Result<StageOutcome, StageError> {
    catalog.set_state(item, ItemState::Failed, Some(&reason))?;
    Ok(StageOutcome::Failed {
        error: reason,
        attempts: 0,
    })
}

/// A transfer-mode job's client and lease.
pub(crate) type Transfer<'a> = Option<(&'a crate::transfer::TransferClient, Fence)>;

/// How a transfer that did not complete ends the job: a lost lease as a fenced write (the job
/// is another worker's), a stop as an interruption, anything else (the network, the endpoint,
/// this host's disk) as a failure of this attempt, not of the item: the job goes back to the
/// queue with a backoff, for this host or another, and the item keeps its state (an encode
/// whose upload failed is marked interrupted).
pub(crate) fn transfer_failed(
    catalog: &Catalog,
    item: i64,
    fence: Fence,
    e: crate::transfer::TransferError,
) -> Result<StageOutcome, StageError> {
    use crate::transfer::TransferError;
    let interrupt = |why: &str| match catalog.set_state(item, ItemState::Interrupted, Some(why)) {
        Ok(()) | Err(CatalogError::Refused { .. }) => Ok(()),
        Err(e) => Err(StageError::from(e)),
    };
    match e {
        TransferError::Fenced(_) => Err(CatalogError::Fenced {
            job: fence.job,
            epoch: fence.epoch,
        }
        .into()),
        // Stopped while downloading, before the encode began, the item keeps its state.
        TransferError::Stopped => {
            interrupt("stopped by the operator")?;
            Ok(StageOutcome::Cancelled)
        }
        e => {
            let cause = format!("job {}: {e}", fence.job);
            interrupt(&cause)?;
            Err(StageError::Transfer(cause))
        }
    }
}

/// Put a finished `output` in place as the item's `staging` file (a fenced rename when it was
/// written under the lease's own name: a worker that lost its lease never replaces it) and, in
/// transfer mode, upload it. `Ok(Some(outcome))`: the upload did not complete, and the item
/// ends so.
pub(crate) fn put_staged(
    catalog: &Catalog,
    item: i64,
    output: &std::path::Path,
    staging: &std::path::Path,
    transfer: Transfer<'_>,
    control: &JobControl,
) -> Result<Option<StageOutcome>, StageError> {
    if output != staging {
        if let Err(e) = catalog.fenced_rename(output, staging) {
            let _ = std::fs::remove_file(output);
            return Err(e.into());
        }
    }
    if let Some((client, fence)) = transfer {
        match client.upload(fence, staging, control) {
            Ok(t) => catalog.event(
                item,
                "uploaded",
                Some(&t.describe(&format!("result to {}:", client.base()))),
            )?,
            Err(e) => return transfer_failed(catalog, item, fence, e).map(Some),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::checkpoint;

    #[test]
    fn the_full_encode_records_a_checkpoint_every_tenth() {
        type Row = (f64, u64, Option<u64>, Option<(&'static str, f64)>);
        let table: [Row; 6] = [
            (0.1, 5, Some(100), None),
            (0.1, 10, Some(100), Some(("10% (10 frames, 2.5 fps)", 0.2))),
            // A jump past several tenths records once, and the next is the tenth after.
            (0.2, 47, Some(100), Some(("47% (47 frames, 2.5 fps)", 0.5))),
            (0.5, 49, Some(100), None),
            (0.1, 50, None, None),
            (0.1, 50, Some(0), None),
        ];
        for (next, frames, total, want) in table {
            let got = checkpoint(next, frames, total, 2.5);
            let got = got
                .as_ref()
                .map(|(t, n)| (t.as_str(), (n * 10.0).round() / 10.0));
            assert_eq!(got, want, "next {next}, {frames} of {total:?}");
        }
    }
}
