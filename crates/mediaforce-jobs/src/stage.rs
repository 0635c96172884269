//! Staged encodes: one plan item at a time, target search then full encode into the item's
//! staging path under the transcode root, with telemetry and append-only events in the catalog.
//!
//! Resumable by construction: the encoder writes `.name.partial-<pid>` beside the staging path,
//! fsyncs and renames it only when complete, so a killed run leaves nothing that looks finished;
//! a rerun removes stale partials and skips items whose staged file is there and matches the
//! recorded encode. Failures are retried with exponential backoff. The job's control
//! ([`JobControl`]: cancel and pause) is honoured between probes and frames; a queued job's
//! writes are fenced by its lease.

use crate::catalog::{Catalog, EncodeRow};
use crate::control::JobControl;
use crate::domain::ItemState;
use crate::events::EventSink;
pub use crate::hosts::host_name;
use crate::item::{fail, put_staged, transfer_failed, ItemEvents, Transfer};
pub use crate::item::{StageError, StageOutcome};
pub use crate::lock::{ItemLock, LockError};
use crate::manifest::ManifestItem;
pub use crate::partials::remove_stale_partials;
use crate::partials::{private_output, remove_own_partials};
use crate::search::{encode_to_target, SearchError};
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

/// How to run staged encodes.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Retries after a failure (the policy's `encode.retries` by default).
    pub retries: Option<u32>,
    /// First backoff delay; doubles on each retry.
    pub backoff: Duration,
    /// The probe cache (in the store); `None` disables caching.
    pub cache: Option<std::sync::Arc<crate::cache::ProbeCache>>,
    /// Data directory (per-file locks; the store's SQLite file unless `database` is set).
    pub data_dir: PathBuf,
    /// Score the whole output after encoding (closed loop).
    pub verify: bool,
    /// Where this host reaches the library's paths (files are read and written through it;
    /// the catalog keeps the paths as planned).
    pub paths: crate::hosts::PathMap,
    /// The shared store (`postgres://...`) holding the catalog and the job queue; `None`
    /// keeps them in `<data dir>/catalog.db`.
    pub database: Option<String>,
    /// CPU (nice) and I/O priority for a queued job's work, set on its thread when the job
    /// starts (the encoder's threads inherit them; the lease keeper keeps its own).
    pub priority: Option<(i32, crate::priority::IoPriority)>,
    /// A queued job that makes no progress for this long is failed back to the queue
    /// (`None`: never); see [`crate::lease::hold_lease`].
    pub stuck_after: Option<Duration>,
    /// Transfer mode: this host has no access to the library; a queued job downloads its
    /// source from (and uploads its result to) the file endpoint of the host that holds it,
    /// working in `<data dir>/transfer/`.
    pub transfer: Option<crate::transfer::TransferClient>,
}

impl StageOptions {
    /// Defaults for a data directory.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            retries: None,
            backoff: Duration::from_secs(2),
            cache: None,
            data_dir: data_dir.to_path_buf(),
            verify: true,
            database: None,
            paths: crate::hosts::PathMap::default(),
            transfer: None,
            stuck_after: Some(Duration::from_secs(600)),
            priority: None,
        }
    }
}

/// Whether the start knob `policy` gives this encoder at `height` was set for the file's
/// folder (a `calibrate` result or an operator's folder rule: it differs from the policy
/// outside every folder rule). Such a knob was measured or chosen for exactly these files, so
/// the search starts from it rather than from the knob model.
fn knob_set_for_folder(policy: &crate::policy::Policy, data_dir: &Path, height: u32) -> bool {
    let encoder = &policy.encode.encoder;
    crate::policy::PolicySet::load_from_env(None, data_dir)
        .map(|set| set.defaults().start_knob(encoder, height) != policy.start_knob(encoder, height))
        .unwrap_or(false)
}

/// A folder's first guess from the knobs its encodes settled on: the median and the spread
/// (largest less smallest), once there are at least two.
pub fn folder_guess(knobs: &[f64]) -> Option<(f64, f64)> {
    if knobs.len() < 2 {
        return None;
    }
    let mut k = knobs.to_vec();
    k.sort_by(f64::total_cmp);
    let n = k.len();
    let median = if n % 2 == 1 {
        k[n / 2]
    } else {
        (k[n / 2 - 1] + k[n / 2]) / 2.0
    };
    Some((median, k[n - 1] - k[0]))
}

/// Encode one plan item into its staging path.
pub fn stage_item(
    catalog: &Catalog,
    manifest: &Path,
    item: &ManifestItem,
    options: &StageOptions,
    control: &JobControl,
    events: &mut dyn EventSink,
) -> Result<StageOutcome, StageError> {
    let planned = item;
    let (mapped, transfer, _scratch) = match local_paths(item, options, control) {
        Ok(paths) => paths,
        Err(outcome) => return Ok(outcome),
    };
    let item = &mapped;
    let _hold = match take_item_lock(item, options) {
        Ok(hold) => hold,
        Err(outcome) => return Ok(outcome),
    };
    let rec = catalog.item_for(
        manifest,
        item.index,
        Some(item.file_id),
        &planned.source,
        &planned.staging,
    )?;
    if let Some(done) = already_staged(catalog, &rec, item, &planned.staging, transfer)? {
        return Ok(done);
    }
    // An item whose encode is in the library (or on its way in or out) is not encoded again:
    // the batch goes on with the others.
    if let Err(refusal) = crate::domain::transition(rec.state, ItemState::Encoding) {
        return Ok(StageOutcome::Refused {
            reason: refusal.to_string(),
        });
    }
    if let Some((client, fence)) = transfer {
        let fetched = item
            .source
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(|e| crate::transfer::TransferError::Io {
                path: item.source.clone(),
                source: e,
            })
            .and_then(|()| client.download(fence, &item.source, control));
        match fetched {
            Ok(t) => catalog.event(
                rec.id,
                "downloaded",
                Some(&t.describe(&format!("source from {}:", client.base()))),
            )?,
            Err(e) => return transfer_failed(catalog, rec.id, fence, e),
        }
    }
    // The plan is a snapshot: refuse to encode a source that changed since.
    if let Some(reason) = source_changed(item) {
        return fail(catalog, rec.id, reason);
    }
    if !item.kind.is_encode() {
        let job = crate::repack::RepackJob {
            catalog,
            item_id: rec.id,
            item,
            planned_source: &planned.source,
            planned_staging: &planned.staging,
            transfer,
            control,
        };
        return job.run(events);
    }
    // The source's picture height and codec, read once (the first guess and the measured
    // points need them).
    let headers = crate::core::probe::probe_headers(&item.source).ok();
    let video = headers.as_ref().and_then(|i| i.primary_video());
    let height = video
        .and_then(|s| s.video.as_ref().map(|v| v.height))
        .unwrap_or(1080);
    let source_codec = video.map(|s| s.codec.clone()).unwrap_or_default();
    let cfg = item_search_config(catalog, rec.id, item, options, height)?;
    if let Some(dir) = item.staging.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return fail(catalog, rec.id, format!("{}: {e}", dir.display()));
        }
    }
    let job = Job {
        catalog,
        item_id: rec.id,
        item,
        planned_source: &planned.source,
        planned_staging: &planned.staging,
        transfer,
        control,
        cfg: &cfg,
        source_codec: &source_codec,
    };
    job.encode_with_retries(options, events)
}

/// The item with the paths this host works on: through this host's mapping, or (transfer
/// mode) copies in a scratch directory of the job's (removed when the job ends); the catalog
/// keeps the planned paths.
fn local_paths<'a>(
    item: &ManifestItem,
    options: &'a StageOptions,
    control: &JobControl,
) -> Result<(ManifestItem, Transfer<'a>, Option<Scratch>), StageOutcome> {
    let mut mapped = item.clone();
    let transfer = match (&options.transfer, control.fence()) {
        (Some(client), Some(fence)) => Some((client, fence)),
        (Some(_), None) => {
            return Err(StageOutcome::Failed {
                error: format!(
                    "{}: transfer mode runs queued jobs only",
                    item.source.display()
                ),
                attempts: 0,
            })
        }
        _ => None,
    };
    let scratch = match transfer {
        Some((_, fence)) => {
            let dir = options
                .data_dir
                .join("transfer")
                .join(format!("job-{}-e{}", fence.job, fence.epoch));
            let name = |p: &Path| p.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            mapped.source = dir.join("source").join(name(&item.source));
            mapped.staging = dir.join("staged").join(name(&item.staging));
            Some(Scratch(dir))
        }
        None => {
            mapped.source = options.paths.local(&item.source);
            mapped.staging = options.paths.local(&item.staging);
            None
        }
    };
    Ok((mapped, transfer, scratch))
}

/// A per-file lock keeps a second run off an item this one holds (and off one the second run
/// holds), queued or not.
fn take_item_lock(item: &ManifestItem, options: &StageOptions) -> Result<ItemLock, StageOutcome> {
    match ItemLock::try_take(&ItemLock::path(
        &options.data_dir,
        Some(item.file_id),
        &item.source,
    )) {
        Ok(hold) => Ok(hold),
        Err(LockError::Held(holder)) => Err(StageOutcome::Busy { holder }),
        Err(LockError::Io(e)) => Err(StageOutcome::Failed {
            error: format!(
                "{}: cannot take its lock in {}: {e}",
                item.source.display(),
                options.data_dir.join("locks").display()
            ),
            attempts: 0,
        }),
    }
}

/// Whether the item's encode is done already: a staged file of the recorded size (or one
/// promoted, or being promoted). A staged file that went missing or changed is encoded again.
fn already_staged(
    catalog: &Catalog,
    rec: &crate::catalog::ItemRecord,
    item: &ManifestItem,
    planned_staging: &Path,
    transfer: Transfer<'_>,
) -> Result<Option<StageOutcome>, StageError> {
    if !(rec.state.has_encode() || rec.state == ItemState::Promoting) {
        return Ok(None);
    }
    let staged_len = match transfer {
        Some((client, fence)) => client.result_state(fence).ok().and_then(|(_, n)| n),
        None => std::fs::metadata(&item.staging).ok().map(|m| m.len()),
    };
    let intact = catalog
        .last_encode(rec.id)?
        .zip(staged_len)
        .is_some_and(|(e, n)| e.output_bytes == n);
    if intact || rec.state == ItemState::Promoted || rec.state == ItemState::Promoting {
        return Ok(Some(StageOutcome::AlreadyStaged {
            staging: planned_staging.to_path_buf(),
        }));
    }
    catalog.event(rec.id, "restaged", Some("staged file missing or changed"))?;
    Ok(None)
}

/// Why the source cannot be encoded as planned: gone, or a different size than the plan saw.
fn source_changed(item: &ManifestItem) -> Option<String> {
    match std::fs::metadata(&item.source) {
        Ok(m) if m.len() == item.source_bytes => None,
        Ok(m) => Some(format!(
            "{}: changed since planning ({} -> {} bytes); rescan and plan again",
            item.source.display(),
            item.source_bytes,
            m.len()
        )),
        Err(e) => Some(format!("{}: {e}", item.source.display())),
    }
}

/// The item's search: its policy's, with the first guess from the folder's own encodes (two or
/// more at this resolution class: their median knob), else the knob model (unless the folder
/// has a start knob of its own), each said in the item's events.
fn item_search_config(
    catalog: &Catalog,
    item_id: i64,
    item: &ManifestItem,
    options: &StageOptions,
    height: u32,
) -> Result<crate::search::SearchConfig, StageError> {
    let policy = &item.policy;
    let mut cfg = crate::policy::search_config(
        crate::policy::SearchBase::Policy(policy),
        height,
        &crate::policy::SearchOverrides::default(),
    );
    if let Some(folder) = item.source.parent() {
        let class = crate::policy::resolution_class(height);
        let knobs: Vec<f64> = catalog
            .folder_knobs(folder, &policy.encode.encoder, item_id, 8)?
            .into_iter()
            .filter(|(_, h)| h.is_none_or(|h| crate::policy::resolution_class(h as u32) == class))
            .map(|(k, _)| k)
            .collect();
        if let Some((median, spread)) = folder_guess(&knobs) {
            catalog.event(
                item_id,
                "first_guess",
                Some(&format!(
                    "knob {median} from {} encodes in this folder (spread {spread})",
                    knobs.len()
                )),
            )?;
            cfg.start_knob = Some(median);
        } else if policy.encode.learned_guess
            && !knob_set_for_folder(policy, &options.data_dir, height)
        {
            cfg.model = crate::model::KnobModel::for_config(catalog.all_points()?, &cfg)
                .map(std::sync::Arc::new);
            if let Some(m) = &cfg.model {
                catalog.event(
                    item_id,
                    "first_guess",
                    Some(&format!(
                        "the knob model fitted on {} sources, {} of them shipped public clips \
                         (residual spread {:.2}){}",
                        m.sources,
                        m.shipped_sources,
                        m.residual_sd,
                        m.carried.as_ref().map_or(String::new(), |c| format!(
                            ", {} carried from preset {}",
                            c.carried_sources, c.from_preset
                        ))
                    )),
                )?;
            }
        }
    }
    cfg.cache = options.cache.clone();
    cfg.verify = options.verify;
    Ok(cfg)
}

/// One item's encode as the attempts see it.
struct Job<'a> {
    catalog: &'a Catalog,
    item_id: i64,
    /// The item with this host's paths.
    item: &'a ManifestItem,
    planned_source: &'a Path,
    planned_staging: &'a Path,
    transfer: Transfer<'a>,
    control: &'a JobControl,
    cfg: &'a crate::search::SearchConfig,
    source_codec: &'a str,
}

impl Job<'_> {
    /// Search and encode until an attempt ends the item, retrying failures with a doubling
    /// backoff.
    fn encode_with_retries(
        &self,
        options: &StageOptions,
        events: &mut dyn EventSink,
    ) -> Result<StageOutcome, StageError> {
        let (catalog, item, control) = (self.catalog, self.item, self.control);
        let base = item.policy.transcode_options();
        let retries = options.retries.unwrap_or(item.policy.encode.retries);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The state change is fenced: only the lease's holder clears what earlier runs left.
            catalog.set_state(
                self.item_id,
                ItemState::Encoding,
                Some(&format!("attempt {attempt}")),
            )?;
            remove_stale_partials(&item.staging);
            let started = Instant::now();
            let mut sink = ItemEvents {
                inner: &mut *events,
                catalog,
                item: self.item_id,
                control,
                next_checkpoint: 0.1,
            };
            // A queued job encodes to a name of its own lease and puts it in place with a
            // fenced rename: a worker that lost its lease never replaces the staged file.
            let output = match control.fence() {
                Some(f) => private_output(&item.staging, f),
                None => item.staging.clone(),
            };
            match encode_to_target(&item.source, &output, self.cfg, &base, &mut sink) {
                Ok(report) => return self.finish(&report, &output, started),
                Err(SearchError::Cancelled { .. })
                | Err(SearchError::Media(crate::core::Error::Cancelled { .. })) => {
                    // A queued job removes only its own files: the job may be another worker's
                    // now (a lost lease), writing its own beside them.
                    match control.fence() {
                        Some(_) => remove_own_partials(&output),
                        None => remove_stale_partials(&item.staging),
                    }
                    return self.interrupted();
                }
                Err(e) => {
                    let error = e.to_string();
                    if attempt > retries {
                        catalog.set_state(self.item_id, ItemState::Failed, Some(&error))?;
                        return Ok(StageOutcome::Failed {
                            error,
                            attempts: attempt,
                        });
                    }
                    let delay = options.backoff * 2u32.saturating_pow(attempt - 1);
                    catalog.event(
                        self.item_id,
                        "retry",
                        Some(&format!(
                            "attempt {attempt} failed: {error}; retrying in {:.0} s",
                            delay.as_secs_f64()
                        )),
                    )?;
                    if !control.wait_unless_stopped(delay) {
                        return self.interrupted();
                    }
                }
            }
        }
    }

    /// The operator stopped the item.
    fn interrupted(&self) -> Result<StageOutcome, StageError> {
        self.catalog.set_state(
            self.item_id,
            ItemState::Interrupted,
            Some("stopped by the operator"),
        )?;
        Ok(StageOutcome::Cancelled)
    }

    /// Record what an attempt's search and encode found, put the encode in place and end the
    /// item: staged, or no result with the reason.
    fn finish(
        &self,
        report: &crate::search::EncodeReport,
        output: &Path,
        started: Instant,
    ) -> Result<StageOutcome, StageError> {
        let (catalog, item) = (self.catalog, self.item);
        self.record_search(report)?;
        let Some(chosen) = report.search.chosen().cloned() else {
            let reason = match &report.search.outcome {
                crate::search::Outcome::NotFound { reason, .. } => reason.clone(),
                _ => "no result".into(),
            };
            catalog.set_state(self.item_id, ItemState::NoResult, Some(&reason))?;
            return Ok(StageOutcome::NoResult { reason });
        };
        let Some(last) = report.encodes.last().filter(|_| report.output.is_some()) else {
            let reason = report
                .refused
                .clone()
                .unwrap_or_else(|| no_encode_met(report, &item.policy));
            catalog.set_state(self.item_id, ItemState::NoResult, Some(&reason))?;
            return Ok(StageOutcome::NoResult { reason });
        };
        if let Some(ended) = put_staged(
            catalog,
            self.item_id,
            output,
            &item.staging,
            self.transfer,
            self.control,
        )? {
            return Ok(ended);
        }
        let seconds = started.elapsed().as_secs_f64();
        let output_bytes = std::fs::metadata(&item.staging).map_or(last.bytes, |m| m.len());
        catalog.record_encode(&EncodeRow {
            item_id: self.item_id,
            host: host_name(),
            source: self.planned_source.to_string_lossy().into_owned(),
            source_bytes: item.source_bytes,
            source_codec: self.source_codec.to_string(),
            encoder: self.cfg.encoder.clone(),
            encoder_fingerprint: crate::codecs::find(&self.cfg.encoder)
                .ok()
                .and_then(|a| a.fingerprint(&report.search.preset, last.knob).ok())
                .unwrap_or_default(),
            knob: last.knob,
            predicted_vmaf: Some(chosen.score),
            measured_vmaf: last.achieved,
            output_bytes,
            wall_seconds: seconds,
            fps: report_fps(&item.source, last.encode_seconds.max(1e-9)),
            target: Some(item.policy.encode.target_vmaf),
            // Full encodes after the first; an entry that only keeps an earlier one is not one.
            corrections: report
                .encodes
                .iter()
                .filter(|e| e.kept_from.is_none())
                .count()
                .saturating_sub(1) as u32,
        })?;
        let damage = (last.source_decode_errors > 0).then(|| {
            format!(
                "{} in the source, concealed in the encode",
                crate::core::decode::describe_damage(
                    last.source_decode_errors,
                    &last.source_decode_error_seconds
                )
            )
        });
        catalog.set_source_damage(self.item_id, last.source_decode_errors, damage.as_deref())?;
        catalog.set_state(
            self.item_id,
            ItemState::Staged,
            Some(&format!(
                "{} {}: predicted {:.2}, measured {}, {} -> {} bytes",
                report.search.knob_name,
                last.knob,
                chosen.score,
                last.achieved.map_or("-".into(), |v| format!("{v:.2}")),
                item.source_bytes,
                output_bytes
            )),
        )?;
        Ok(StageOutcome::Staged {
            staging: self.planned_staging.to_path_buf(),
            knob: last.knob,
            predicted_vmaf: chosen.score,
            measured_vmaf: last.achieved,
            source_bytes: item.source_bytes,
            output_bytes,
            seconds,
            source_damage: last.source_decode_errors,
        })
    }

    /// The search in the item's history, probe by probe, and the chosen knob with what the
    /// whole file measured (the item page shows them); every probe a measured point for the
    /// knob model.
    fn record_search(&self, report: &crate::search::EncodeReport) -> Result<(), StageError> {
        let (catalog, search) = (self.catalog, &report.search);
        for p in &search.probes {
            catalog.event(self.item_id, "probe", Some(&p.describe(&search.knob_name)))?;
        }
        if let Some(c) = search.chosen() {
            let full: Vec<String> = report
                .encodes
                .iter()
                .map(|e| match e.achieved {
                    Some(v) => format!("{} {} measured {v:.2}", search.knob_name, e.knob),
                    None => format!("{} {} not measured", search.knob_name, e.knob),
                })
                .collect();
            catalog.event(
                self.item_id,
                "chosen",
                Some(&format!(
                    "{} {} predicted VMAF {:.2} after {} probes; whole file: {}",
                    search.knob_name,
                    c.knob,
                    c.score,
                    search.probes.len(),
                    if full.is_empty() {
                        "not encoded".into()
                    } else {
                        full.join(", ")
                    }
                )),
            )?;
        }
        if let Ok(fingerprint) = crate::cache::source_fingerprint(&self.item.source) {
            catalog.record_points(&crate::tuning::points_of(
                search,
                "search",
                &fingerprint,
                self.source_codec,
                false,
            ))?;
        }
        Ok(())
    }
}

/// Why no full encode was kept although the search chose a knob: each encode's measured
/// figure against the target.
fn no_encode_met(report: &crate::search::EncodeReport, policy: &crate::policy::Policy) -> String {
    format!(
        "no full encode met {} {}: {}",
        policy.encode.target_stat,
        policy.encode.target_vmaf,
        report
            .encodes
            .iter()
            .map(|e| format!("{} -> {:.2}", e.knob, e.achieved.unwrap_or(f64::NAN)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A transfer-mode job's scratch directory, removed however the job ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Encode frames per second: the source's frame count over encode seconds.
pub(crate) fn report_fps(source: &Path, encode_seconds: f64) -> f64 {
    let frames = crate::core::probe::probe_headers(source)
        .ok()
        .and_then(|i| {
            let v = i.primary_video()?;
            v.frames.or_else(|| {
                let fps = v.video.as_ref()?.fps?;
                Some((i.duration_seconds? * fps).round() as u64)
            })
        })
        .unwrap_or(0);
    frames as f64 / encode_seconds.max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::folder_guess;

    #[test]
    fn a_folder_guess_needs_two_encodes_and_takes_the_median() {
        for (knobs, want) in [
            (&[][..], None),
            (&[30.0][..], None),
            (&[30.0, 34.0][..], Some((32.0, 4.0))),
            (&[35.0, 30.0, 31.0][..], Some((31.0, 5.0))),
            (&[28.0, 28.0, 28.0, 40.0][..], Some((28.0, 12.0))),
        ] {
            assert_eq!(folder_guess(knobs), want, "{knobs:?}");
        }
    }
}
