//! Staged repacks: a remux or audio plan item carried into its staging path (see
//! [`crate::core::repack`]), under the same lock, lease, fence and item states as an encode, so
//! it goes through the same validation, review, approval and promotion. A repack is
//! deterministic, so a failure fails the item at once (no retries).

use crate::catalog::{Catalog, EncodeRow};
use crate::control::JobControl;
use crate::core::repack::{repack, RepackOptions};
use crate::domain::ItemState;
use crate::events::{EventSink, Frames};
use crate::hosts::host_name;
use crate::item::{fail, put_staged, ItemEvents, StageError, StageOutcome, Transfer};
use crate::manifest::ManifestItem;
use crate::partials::{private_output, remove_own_partials, remove_stale_partials};
use std::path::Path;

/// One repack item as its job sees it.
pub(crate) struct RepackJob<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) item_id: i64,
    /// The item with this host's paths.
    pub(crate) item: &'a ManifestItem,
    pub(crate) planned_source: &'a Path,
    pub(crate) planned_staging: &'a Path,
    pub(crate) transfer: Transfer<'a>,
    pub(crate) control: &'a JobControl,
}

/// The repack's options from the plan item: each stream's action, the policy's Opus rates.
pub fn repack_options(item: &ManifestItem) -> RepackOptions {
    RepackOptions {
        actions: item.streams.iter().map(|s| (s.index, s.action)).collect(),
        opus_bitrates: item.policy.opus_bitrates(),
    }
}

impl RepackJob<'_> {
    /// Repack the item, record it as its encode (encoder `remux` or `audio`, no knob, no
    /// score) and stage it.
    pub(crate) fn run(&self, events: &mut dyn EventSink) -> Result<StageOutcome, StageError> {
        let (catalog, item, control) = (self.catalog, self.item, self.control);
        let kind = item.kind.as_str();
        if let Some(dir) = item.staging.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                return fail(catalog, self.item_id, format!("{}: {e}", dir.display()));
            }
        }
        catalog.set_state(self.item_id, ItemState::Encoding, Some(kind))?;
        remove_stale_partials(&item.staging);
        let output = match control.fence() {
            Some(f) => private_output(&item.staging, f),
            None => item.staging.clone(),
        };
        let mut sink = ItemEvents {
            inner: events,
            catalog,
            item: self.item_id,
            control,
            next_checkpoint: 0.1,
        };
        let started = std::time::Instant::now();
        let mut frames = Frames::new("encode", &mut sink);
        let report = match repack(&item.source, &output, &repack_options(item), &mut frames) {
            Ok(r) => r,
            Err(crate::core::Error::Cancelled { .. }) => {
                match control.fence() {
                    Some(_) => remove_own_partials(&output),
                    None => remove_stale_partials(&item.staging),
                }
                catalog.set_state(
                    self.item_id,
                    ItemState::Interrupted,
                    Some("stopped by the operator"),
                )?;
                return Ok(StageOutcome::Cancelled);
            }
            Err(e) => {
                let error = e.to_string();
                catalog.set_state(self.item_id, ItemState::Failed, Some(&error))?;
                return Ok(StageOutcome::Failed { error, attempts: 1 });
            }
        };
        if let Some(ended) = put_staged(
            catalog,
            self.item_id,
            &output,
            &item.staging,
            self.transfer,
            control,
        )? {
            return Ok(ended);
        }
        let seconds = started.elapsed().as_secs_f64();
        let output_bytes =
            std::fs::metadata(&item.staging).map_or(report.output_bytes, |m| m.len());
        let source_codec = item.video.split(' ').next().unwrap_or_default().to_string();
        catalog.record_encode(&EncodeRow {
            item_id: self.item_id,
            host: host_name(),
            source: self.planned_source.to_string_lossy().into_owned(),
            source_bytes: item.source_bytes,
            source_codec,
            encoder: kind.into(),
            encoder_fingerprint: format!("mediaforce {}", env!("CARGO_PKG_VERSION")),
            knob: 0.0,
            predicted_vmaf: None,
            measured_vmaf: None,
            output_bytes,
            wall_seconds: seconds,
            fps: report.video_packets as f64 / seconds.max(1e-9),
            target: None,
            corrections: 0,
        })?;
        let steps: Vec<&str> = item.streams.iter().map(|s| s.what.as_str()).collect();
        catalog.event(self.item_id, "repacked", Some(&steps.join("; ")))?;
        catalog.set_state(
            self.item_id,
            ItemState::Staged,
            Some(&format!(
                "{kind}: {} streams copied, {} audio to Opus, {} left out, {} -> {output_bytes} bytes",
                report.streams_copied,
                report.audio_converted,
                report.streams_dropped,
                item.source_bytes
            )),
        )?;
        Ok(StageOutcome::Repacked {
            staging: self.planned_staging.to_path_buf(),
            kind: kind.into(),
            source_bytes: item.source_bytes,
            output_bytes,
            seconds,
        })
    }
}
