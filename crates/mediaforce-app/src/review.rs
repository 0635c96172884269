//! Workflow use cases on plan items: encode through the job queue, status, validate, compare
//! and review. Review material and per-frame scores are recorded as artifacts in the catalog,
//! so another process (a web page, another host) finds them by id.

use crate::{human_bytes, App, AppError, BatchView, ErrorKind, Result, Selection};
use mediaforce::catalog::ItemRecord;
use mediaforce::compare::{compare, default_cache_dir, CompareOptions, CompareReport};
use mediaforce::domain::ItemState;
use mediaforce::events::{Event, EventSink, Frames, Tee};
use mediaforce::jobs::JobFailure;
use mediaforce::manifest::{self, ManifestItem};
use mediaforce::runner::Reporter;
use mediaforce::stage::{StageOptions, StageOutcome};
use mediaforce::validate::{validate, ValidationReport};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// The work of a queued job on one item: the app, the plan's key, the item, the job's
/// control, its events (into the job's log and the run's reporter) and the job's arguments.
type ItemJob<'a, T> = dyn FnMut(
        &App,
        &Path,
        &ManifestItem,
        &mediaforce::control::JobControl,
        &mut dyn EventSink,
        &serde_json::Value,
    ) -> Result<T>
    + 'a;

/// An item of a plan as status, report and review show it.
#[derive(Debug, Clone, Serialize)]
pub struct StagedRow {
    /// Index in the plan.
    pub index: usize,
    /// Source file.
    pub source: PathBuf,
    /// Where its encode is staged.
    pub staging: PathBuf,
    /// Workflow state (`queued` before work starts).
    pub state: String,
    /// Review decision.
    pub decision: Option<String>,
    /// Source size.
    pub source_bytes: Option<u64>,
    /// Encode size.
    pub staged_bytes: Option<u64>,
    /// Saving in percent.
    pub saving_percent: Option<f64>,
    /// VMAF the search predicted.
    pub predicted_vmaf: Option<f64>,
    /// VMAF measured on the whole encode.
    pub measured_vmaf: Option<f64>,
    /// `passed` or `failed`.
    pub validation: Option<String>,
    /// The newest event.
    pub last_event: Option<String>,
    /// Damaged packets or frames of the source concealed in the encode.
    pub source_damage: u64,
    /// The operator accepted promoting despite the damage.
    pub damage_accepted: bool,
}

/// A plan's items and whether encodes are paused.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    /// The plan's key.
    pub manifest: PathBuf,
    /// Running encodes wait between frames.
    pub paused: bool,
    /// Every item of the plan.
    pub items: Vec<StagedRow>,
}

/// An item encoded (or not) by `encode`.
#[derive(Debug, Clone, Serialize)]
pub struct EncodeResult {
    /// Index in the plan.
    pub index: usize,
    /// Source file.
    pub source: PathBuf,
    /// What came of it.
    #[serde(flatten)]
    pub outcome: StageOutcome,
}

/// An item reviewed: its row, validation, review material and the text that says it all.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewView {
    /// The item.
    #[serde(flatten)]
    pub row: StagedRow,
    /// Its latest validation (without per-frame scores).
    pub validation: Option<ValidationReport>,
    /// Its latest compare report.
    pub review_material: Option<serde_json::Value>,
    /// The recorded artifacts (clips, stills, plot, scores), by id.
    pub artifacts: Vec<mediaforce::catalog::Artifact>,
    /// The newest automatic decision (`automation.mode = "promote"`): approved by rule, or
    /// held for review, with every rule's wanted and measured value.
    pub auto_decision: Option<AutoDecisionView>,
    /// In plain English.
    pub text: String,
}

/// A recorded automatic decision.
#[derive(Debug, Clone, Serialize)]
pub struct AutoDecisionView {
    /// When (epoch seconds).
    pub at: i64,
    /// Approved by rule (else held for review).
    pub approved: bool,
    /// The rules and what each found.
    #[serde(flatten)]
    pub decision: crate::automation::AutoDecision,
}

impl AutoDecisionView {
    /// In words: `approved by rule (validated, target, saving...)` or `held for review: ...`.
    pub fn text(&self) -> String {
        if self.approved {
            let rules: Vec<String> = self
                .decision
                .verdict
                .checks
                .iter()
                .map(|c| format!("{} {} ({})", c.rule, c.measured, c.wanted))
                .collect();
            format!("Approved by rule: {}.", rules.join("; "))
        } else {
            format!(
                "Held for review by the [approve] rules: {}.",
                self.decision.verdict.missed().join("; ")
            )
        }
    }
}

/// The compare folder of an item (in the review cache); a queued job's is named after its
/// lease, so a worker that lost the lease never writes into the current holder's folder.
fn compare_dir(item: i64, fence: Option<mediaforce::control::Fence>) -> PathBuf {
    default_cache_dir().join(match fence {
        Some(f) => format!("item-{item}-job{}-e{}", f.job, f.epoch),
        None => format!("item-{item}"),
    })
}

/// An event sink that holds while the job is paused and reports its cancellation.
pub(crate) struct Controlled<'a> {
    pub(crate) inner: &'a mut dyn EventSink,
    pub(crate) control: &'a mediaforce::control::JobControl,
}

impl EventSink for Controlled<'_> {
    fn emit(&mut self, event: Event) {
        self.inner.emit(event);
        self.control.wait_while_paused();
    }

    fn cancelled(&self) -> bool {
        self.control.is_stopped() || self.inner.cancelled()
    }
}

impl App {
    /// The conventional per-frame score file of an item (data directories from before
    /// artifacts were recorded).
    fn scores_path(&self, item: i64) -> PathBuf {
        self.paths
            .data_dir
            .join("scores")
            .join(format!("item-{item}.json"))
    }

    /// Why an item has no staged encode to work on (its state), or `None` when it has one.
    pub fn not_staged(&self, manifest: &Path, item: &ManifestItem) -> Result<Option<String>> {
        let state = self.catalog.item(manifest, item.index)?.map(|i| i.state);
        let staged = state.is_some_and(|s| s.has_encode() && item.staging.is_file());
        Ok((!staged).then(|| match state {
            Some(s) => format!("no staged encode (state {s})"),
            None => format!("not encoded yet (mediaforce encode --index {})", item.index),
        }))
    }

    fn item_record(&self, manifest: &Path, item: &ManifestItem) -> Result<ItemRecord> {
        self.catalog.item(manifest, item.index)?.ok_or_else(|| {
            AppError::new(
                ErrorKind::NotFound,
                format!(
                    "{}: item {} has not been encoded yet (mediaforce encode --index {})",
                    item.source.display(),
                    item.index,
                    item.index
                ),
            )
        })
    }

    /// Stage the selected items through the job queue, `jobs` at a time; `cancel` stops
    /// between frames (jobs are given back), `reporter` hears each item's events. Returns the outcomes by
    /// index and whether the run was cancelled.
    pub fn encode(
        &self,
        sel: &Selection,
        jobs: usize,
        retries: Option<u32>,
        cancel: &AtomicBool,
        reporter: &dyn Reporter,
    ) -> Result<Vec<EncodeResult>> {
        let mpath = self.plan_path(sel.manifest.as_deref())?;
        let m = manifest::load(&self.catalog, &mpath)?;
        let items: Vec<ManifestItem> = self
            .selection(&m, sel, &mpath)?
            .into_iter()
            .cloned()
            .collect();
        let mut options = StageOptions::new(&self.paths.data_dir);
        options.retries = retries;
        options.database = self.paths.database.clone();
        let location = mediaforce::cache::ProbeCache::location(
            &self.paths.data_dir,
            self.paths.database.as_deref(),
        );
        options.cache = Some(std::sync::Arc::new(
            mediaforce::cache::ProbeCache::open(&location)
                .map_err(|e| AppError::new(ErrorKind::Unavailable, e.to_string()))?,
        ));
        let jobs = jobs.max(1).min(items.len().max(1));
        let outcomes =
            mediaforce::batch::run(&mpath, &m.items, &items, &options, jobs, cancel, reporter)
                .map_err(|e| AppError::new(ErrorKind::Unavailable, e.to_string()))?;
        let mut results: Vec<EncodeResult> = outcomes
            .into_iter()
            .filter_map(|(index, outcome)| {
                let item = m.items.iter().find(|i| i.index == index)?;
                Some(EncodeResult {
                    index,
                    source: item.source.clone(),
                    outcome,
                })
            })
            .collect();
        results.sort_by_key(|r| r.index);
        Ok(results)
    }

    /// Items of the newest plan that work has started on, under `prefix`.
    pub fn staged_rows(&self, prefix: Option<&Path>) -> Result<Vec<StagedRow>> {
        let Ok(mpath) = manifest::latest(&self.catalog, &self.paths.data_dir) else {
            return Ok(Vec::new());
        };
        let mut rows = Vec::new();
        for it in self.catalog.items(&mpath)? {
            if prefix.is_some_and(|p| !it.source.starts_with(p)) {
                continue;
            }
            rows.push(self.staged_row(&it)?);
        }
        Ok(rows)
    }

    fn staged_row(&self, it: &ItemRecord) -> Result<StagedRow> {
        let enc = self.catalog.last_encode(it.id)?;
        let val = self.catalog.last_validation(it.id)?;
        let events = self.catalog.item_events(it.id)?;
        let (source_bytes, staged_bytes) = match &enc {
            Some(e) => (Some(e.source_bytes), Some(e.output_bytes)),
            None => (None, None),
        };
        Ok(StagedRow {
            index: it.index,
            source: it.source.clone(),
            staging: it.staging.clone(),
            state: it.state.to_string(),
            decision: it.decision.map(|d| d.to_string()),
            source_bytes,
            staged_bytes,
            saving_percent: source_bytes
                .zip(staged_bytes)
                .map(|(s, o)| 100.0 * (s as f64 - o as f64) / s.max(1) as f64),
            predicted_vmaf: enc.as_ref().and_then(|e| e.predicted_vmaf),
            measured_vmaf: enc.as_ref().and_then(|e| e.measured_vmaf),
            validation: val.map(|(ok, _)| if ok { "passed".into() } else { "failed".into() }),
            source_damage: it.source_damage,
            damage_accepted: it.damage_accepted,
            last_event: events.last().map(|(_, k, d)| match d {
                Some(d) => format!("{k}: {d}"),
                None => k.clone(),
            }),
        })
    }

    /// Every item of a plan (the newest unless named) with its state.
    pub fn status(&self, manifest: Option<&Path>) -> Result<StatusView> {
        let mpath = self.plan_path(manifest)?;
        let m = manifest::load(&self.catalog, &mpath)?;
        let mut items = Vec::new();
        for item in &m.items {
            match self.catalog.item(&mpath, item.index)? {
                Some(it) => items.push(self.staged_row(&it)?),
                None => items.push(StagedRow {
                    index: item.index,
                    source: item.source.clone(),
                    staging: item.staging.clone(),
                    state: "queued".into(),
                    decision: None,
                    source_bytes: Some(item.source_bytes),
                    staged_bytes: None,
                    saving_percent: None,
                    predicted_vmaf: None,
                    measured_vmaf: None,
                    validation: None,
                    last_event: None,
                    source_damage: 0,
                    damage_accepted: false,
                }),
            }
        }
        Ok(StatusView {
            manifest: mpath,
            paused: self.with_queue(|q| q.queue_paused().map_err(store_error))?,
            items,
        })
    }

    /// An item's latest validation with its per-frame scores (from its recorded artifact).
    fn load_validation(&self, it: &ItemRecord) -> Result<Option<ValidationReport>> {
        let Some((_, json)) = self.catalog.last_validation(it.id)? else {
            return Ok(None);
        };
        let mut r: ValidationReport = serde_json::from_str(&json).map_err(|e| {
            AppError::new(
                ErrorKind::Internal,
                format!("{}: stored validation unreadable: {e}", it.source.display()),
            )
        })?;
        let scores = self
            .catalog
            .artifacts(it.id)?
            .into_iter()
            .rev()
            .find(|a| a.kind == "frame_scores")
            .map_or_else(|| self.scores_path(it.id), |a| a.path);
        if let Ok(text) = std::fs::read_to_string(scores) {
            r.per_frame = serde_json::from_str(&text).unwrap_or_default();
        }
        Ok(Some(r))
    }

    /// Validate one staged item (full decode, duration, frames, streams, saving, VMAF),
    /// record the verdict and its per-frame scores, and move its state.
    pub fn validate_item(
        &self,
        mpath: &Path,
        item: &ManifestItem,
        events: &mut dyn EventSink,
    ) -> Result<ValidationReport> {
        let it = self.item_record(mpath, item)?;
        let mut frames = Frames::new("score", events);
        let report = if item.kind.is_encode() {
            validate(&item.source, &item.staging, &item.policy, &mut frames)
        } else {
            mediaforce::validate::validate_repack(
                &item.source,
                &item.staging,
                &item.streams,
                &mut frames,
            )
        };
        let io = |p: &Path, e: std::io::Error| {
            AppError::new(ErrorKind::Internal, format!("{}: {e}", p.display()))
        };
        if !report.per_frame.is_empty() {
            let scores = self.scores_path(it.id);
            let dir = scores.parent().expect("has parent");
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            let text = serde_json::to_string(&report.per_frame).expect("numbers serialise");
            // Written beside it and put in place by a rename that a lost lease cannot make.
            let tmp = scores.with_extension(format!("json.partial-{}", std::process::id()));
            std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
            if let Err(e) = self.catalog.fenced_rename(&tmp, &scores) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
            self.catalog.record_artifacts(
                it.id,
                &[(
                    "frame_scores",
                    &scores,
                    Some(format!("{} frames", report.per_frame.len())),
                )],
            )?;
        }
        let mut stored = report.clone();
        stored.per_frame.clear();
        self.catalog.record_validation(
            it.id,
            report.passed,
            &serde_json::to_string(&stored).expect("report serialises"),
        )?;
        if !it.state.moving() {
            let failed: Vec<&str> = report
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.name.as_str())
                .collect();
            let detail = if failed.is_empty() {
                format!("saving {:.1}%", report.saving_percent)
            } else {
                format!("failed: {}", failed.join(", "))
            };
            self.catalog.set_state(
                it.id,
                if report.passed {
                    ItemState::Validated
                } else {
                    ItemState::Invalid
                },
                Some(&detail),
            )?;
        }
        Ok(report)
    }

    /// Validate the selected items, each as a job in the queue (leased, fenced, cancellable
    /// from the store); items without a staged encode are listed, not failed. `cancel`
    /// (Ctrl-C) gives the running job back and stops; `reporter` hears each job's events.
    pub fn validate(
        &self,
        sel: &Selection,
        cancel: &AtomicBool,
        reporter: &dyn Reporter,
        each: &mut dyn FnMut(&ManifestItem, &ValidationReport),
    ) -> Result<BatchView<ValidationReport>> {
        self.over_staged_queued(
            sel,
            "validate",
            serde_json::Value::Null,
            cancel,
            reporter,
            &mut |app, mpath, item, control, events, _| {
                let mut controlled = Controlled {
                    inner: events,
                    control,
                };
                let r = app.validate_item(mpath, item, &mut controlled)?;
                each(item, &r);
                Ok(r)
            },
        )
    }

    /// Run `f` on every selected item with a staged encode, each as a job of kind
    /// `<verb>:<plan>` in the queue, here, under its lease (`args` travel in the payload);
    /// the others are skipped with their state, failures are noted and the rest still run.
    fn over_staged_queued<T: Serialize>(
        &self,
        sel: &Selection,
        verb: &str,
        args: serde_json::Value,
        cancel: &AtomicBool,
        reporter: &dyn Reporter,
        f: &mut ItemJob<'_, T>,
    ) -> Result<BatchView<T>> {
        let mpath = self.plan_path(sel.manifest.as_deref())?;
        let m = manifest::load(&self.catalog, &mpath)?;
        let items = self.selection(&m, sel, &mpath)?;
        let mut view = BatchView::new(items.len());
        let kind = format!("{verb}:{}", mpath.display());
        let mut jobs = Vec::new();
        for item in &items {
            if let Some(reason) = self.not_staged(&mpath, item)? {
                view.skip(item, reason);
                continue;
            }
            let mut job = mediaforce::store::NewJob::new(
                &kind,
                serde_json::json!({"manifest": mpath, "index": item.index, "args": args}),
            );
            job.key = Some(format!("{kind}:{}", item.index));
            // A failed check is a result; a failure to run is reported, not retried blindly.
            job.max_attempts = 1;
            // Run here (where the files and the review cache are), never by another host's
            // worker: no worker offers this capability.
            job.requires = Some(format!(
                "local:{}:{}",
                mediaforce::stage::host_name(),
                std::process::id()
            ));
            jobs.push(job);
        }
        let queue =
            mediaforce::batch::queue_location(&self.paths.data_dir, self.paths.database.as_deref());
        let mut failed: Vec<(usize, AppError)> = Vec::new();
        let mut done = Vec::new();
        // Results for the items asked for, once each (the run also finishes jobs of the same
        // kind an interrupted run left queued).
        let mut wanted: std::collections::HashSet<usize> = jobs
            .iter()
            .filter_map(|j| j.payload["index"].as_u64().map(|i| i as usize))
            .collect();
        mediaforce::jobs::run_here(
            &queue,
            &self.catalog,
            &kind,
            &jobs,
            cancel,
            &mut |lease, control, log| {
                let index = lease.payload["index"].as_u64().map(|i| i as usize);
                let Some(item) = index.and_then(|i| m.items.iter().find(|it| it.index == i)) else {
                    return Err(JobFailure::new(format!(
                        "{}: job {} names no item of the plan",
                        mpath.display(),
                        lease.job
                    )));
                };
                let asked = wanted.remove(&item.index);
                let mut shown = reporter.item(item);
                let mut events = Tee(log, shown.as_mut());
                events.emit(mediaforce::runner::item_started(item));
                let result = f(
                    self,
                    &mpath,
                    item,
                    control,
                    &mut events,
                    &lease.payload["args"],
                );
                events.emit(Event::ItemFinished {
                    index: item.index,
                    source: item.source.clone(),
                    outcome: if result.is_ok() { "done" } else { "failed" }.into(),
                    detail: result
                        .as_ref()
                        .err()
                        .map_or_else(|| format!("{verb} done"), |e| e.message.clone()),
                });
                match result {
                    Ok(r) => {
                        let v = serde_json::to_value(&r).unwrap_or(serde_json::Value::Null);
                        if asked {
                            done.push(r);
                        }
                        Ok(v)
                    }
                    Err(e) => {
                        let failure = JobFailure {
                            message: e.message.clone(),
                            fenced: e.lease_lost,
                        };
                        if asked {
                            failed.push((item.index, e));
                        }
                        Err(failure)
                    }
                }
            },
        )
        .map_err(|e| AppError::new(ErrorKind::Unavailable, e.to_string()))?;
        view.done = done;
        for (index, e) in failed {
            if let Some(item) = m.items.iter().find(|it| it.index == index) {
                view.fail(item, e);
            }
        }
        Ok(view)
    }

    /// Make review material for one staged item: side-by-side clips, worst-frame stills and
    /// the per-frame VMAF plot, recorded as artifacts.
    pub fn compare_item(
        &self,
        mpath: &Path,
        item: &ManifestItem,
        timestamps: &[f64],
        clip_seconds: f64,
    ) -> Result<CompareReport> {
        let it = self.item_record(mpath, item)?;
        if !item.staging.is_file() {
            return Err(AppError::new(
                ErrorKind::Refused,
                format!(
                    "{}: not staged (state {})",
                    item.staging.display(),
                    it.state
                ),
            ));
        }
        let val = self.load_validation(&it)?;
        let (per_frame, worst) = val
            .as_ref()
            .map(|v| (v.per_frame.clone(), v.worst_frames.clone()))
            .unwrap_or_default();
        let enc = self.catalog.last_encode(it.id)?;
        let label_b = match &enc {
            Some(e) => format!("ENCODE {} {}", e.encoder, e.knob),
            None => "ENCODE".into(),
        };
        let opts = CompareOptions {
            timestamps: timestamps.to_vec(),
            clip_seconds,
            ..CompareOptions::default()
        };
        let report = compare(
            &item.source,
            &item.staging,
            &compare_dir(it.id, self.catalog.fence()),
            ("SOURCE", &label_b),
            &per_frame,
            &worst,
            Some(item.policy.encode.target_vmaf),
            &opts,
        )
        .map_err(|e| AppError::new(ErrorKind::Internal, e.to_string()))?;
        let report_path = report.dir.join("report.json");
        std::fs::write(
            &report_path,
            serde_json::to_string_pretty(&report).expect("report serialises"),
        )
        .map_err(|e| {
            AppError::new(
                ErrorKind::Internal,
                format!("{}: {e}", report_path.display()),
            )
        })?;
        let mut files: Vec<(&str, &Path, Option<String>)> = Vec::new();
        for c in &report.clips {
            files.push(("clip", &c.path, Some(format!("{:.2}", c.start_seconds))));
        }
        for s in &report.stills {
            files.push(("still", &s.path, Some(format!("{:.2}", s.start_seconds))));
        }
        if let Some(p) = &report.plot {
            files.push(("plot", p, None));
        }
        files.push(("report", &report_path, None));
        self.catalog.record_artifacts(it.id, &files)?;
        self.catalog
            .event(it.id, "compared", Some(&report.dir.to_string_lossy()))?;
        Ok(report)
    }

    /// Make review material for the selected items, each as a job in the queue.
    pub fn compare(
        &self,
        sel: &Selection,
        timestamps: &[f64],
        clip_seconds: f64,
        cancel: &AtomicBool,
        reporter: &dyn Reporter,
        each: &mut dyn FnMut(&ManifestItem, &CompareReport),
    ) -> Result<BatchView<CompareReport>> {
        self.over_staged_queued(
            sel,
            "compare",
            serde_json::json!({"timestamps": timestamps, "clip_seconds": clip_seconds}),
            cancel,
            reporter,
            &mut |app, mpath, item, _control, _events, args| {
                let timestamps: Vec<f64> = args["timestamps"]
                    .as_array()
                    .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
                    .unwrap_or_default();
                let clip_seconds = args["clip_seconds"].as_f64().unwrap_or(clip_seconds);
                let r = app.compare_item(mpath, item, &timestamps, clip_seconds)?;
                each(item, &r);
                Ok(r)
            },
        )
    }

    /// The selected items (item 0 when none is named) in plain English, with their material.
    pub fn review(&self, sel: &Selection) -> Result<Vec<ReviewView>> {
        let mpath = self.plan_path(sel.manifest.as_deref())?;
        let m = manifest::load(&self.catalog, &mpath)?;
        let mut sel = sel.clone();
        if sel.index.is_empty() && !sel.all {
            sel.index.push(0);
        }
        let mut views = Vec::new();
        for item in self.selection(&m, &sel, &mpath)? {
            let it = self.item_record(&mpath, item)?;
            let row = self.staged_row(&it)?;
            let mut val = self.load_validation(&it)?;
            let artifacts = self.catalog.artifacts(it.id)?;
            let report = artifacts
                .iter()
                .rev()
                .find(|a| a.kind == "report")
                .map_or_else(
                    || compare_dir(it.id, None).join("report.json"),
                    |a| a.path.clone(),
                );
            let material: Option<serde_json::Value> = std::fs::read_to_string(report)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            let mut text = review_text(item, &row, val.as_ref(), material.as_ref());
            let auto_decision =
                self.auto_decisions(it.id)?
                    .pop()
                    .map(|(at, approved, d)| AutoDecisionView {
                        at,
                        approved,
                        decision: d,
                    });
            if let Some(d) = &auto_decision {
                text.push_str(&d.text());
                text.push('\n');
            }
            if let Some(v) = val.as_mut() {
                v.per_frame.clear();
            }
            views.push(ReviewView {
                row,
                validation: val,
                review_material: material,
                artifacts,
                auto_decision,
                text,
            });
        }
        Ok(views)
    }

    /// Pause the queue: running encodes hold between frames (within a heartbeat, 2 s) and
    /// nothing new is claimed, on every host, until [`resume`](Self::resume).
    pub fn pause(&self) -> Result<()> {
        self.with_queue(|q| q.set_queue_paused(true).map_err(store_error))
    }

    /// Let the queue go on; returns whether it was paused.
    pub fn resume(&self) -> Result<bool> {
        self.with_queue(|q| {
            let was = q.queue_paused().map_err(store_error)?;
            q.set_queue_paused(false).map_err(store_error)?;
            Ok(was)
        })
    }
}

/// The application's error for a job-queue failure.
pub(crate) fn store_error(e: mediaforce::store::StoreError) -> AppError {
    use mediaforce::store::ErrorKind as K;
    let kind = match e.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::Conflict => ErrorKind::Conflict,
        K::Invalid => ErrorKind::Invalid,
        K::Unavailable => ErrorKind::Unavailable,
        K::Internal => ErrorKind::Internal,
    };
    AppError::new(kind, e.to_string())
}

/// An item's review in plain English: sizes, damage, scores, validation, material and the
/// next step.
pub fn review_text(
    item: &ManifestItem,
    row: &StagedRow,
    val: Option<&ValidationReport>,
    material: Option<&serde_json::Value>,
) -> String {
    let mut s = format!("Item {}: {}\n", item.index, item.source.display());
    match (row.source_bytes, row.staged_bytes) {
        (Some(a), Some(b)) => {
            s += &format!(
                "The encode at {} is {} against {} for the original: {} {}.\n",
                item.staging.display(),
                human_bytes(b),
                human_bytes(a),
                if b < a { "it saves" } else { "it is LARGER by" },
                human_bytes(a.abs_diff(b))
            );
        }
        _ => s += &format!("Not encoded yet (state {}).\n", row.state),
    }
    if row.source_damage > 0 {
        s += &format!(
            "The SOURCE IS DAMAGED: {} damaged packet(s) or frame(s) were concealed while encoding it{}; the encode carries the concealment. Promote it only if the clips look right: mediaforce approve --index {} --accept-damaged-source\n",
            row.source_damage,
            if row.damage_accepted { " (accepted)" } else { "" },
            item.index
        );
    }
    if let Some(v) = val {
        if let Some(p) = &v.vmaf {
            s += &format!(
                "Against the original it scores VMAF {:.2} on average; 5% of frames score below {:.2} and the worst frame {:.2} (target: {} {}).\n",
                p.mean, p.p5, p.min, item.policy.encode.target_stat, item.policy.encode.target_vmaf
            );
        }
        if !v.worst_frames.is_empty() {
            let w: Vec<String> = v
                .worst_frames
                .iter()
                .take(3)
                .map(|w| format!("{:.1} s ({:.1})", w.seconds, w.vmaf))
                .collect();
            s += &format!("Worst moments: {}.\n", w.join(", "));
        }
        if v.passed {
            s += "Machine validation passed: every frame decodes, duration, frame count and streams match, and the saving meets the policy.\n";
        } else {
            let failed: Vec<String> = v
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{} ({})", c.name, c.detail))
                .collect();
            s += &format!("Machine validation FAILED: {}.\n", failed.join("; "));
        }
    } else {
        s += &format!(
            "Not validated yet: mediaforce validate --index {}\n",
            item.index
        );
    }
    match material {
        Some(m) => {
            let clips: Vec<String> = m["clips"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c["path"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            s += &format!("Look at the side-by-side clips: {}.\n", clips.join(", "));
            if let Some(p) = m["plot"].as_str() {
                s += &format!("Per-frame VMAF plot: {p}\n");
            }
        }
        None => {
            s += &format!(
                "No review clips yet: mediaforce compare --index {}\n",
                item.index
            )
        }
    }
    s += &match (row.decision.as_deref(), row.state.as_str()) {
        (_, "promoted") => format!(
            "It is promoted; undo with: mediaforce rollback --index {}\n",
            item.index
        ),
        (Some("approved"), _) => format!(
            "Approved. Next: mediaforce promote --index {}\n",
            item.index
        ),
        (Some("rejected"), _) => "Rejected: it will not be promoted.\n".to_string(),
        _ if val.is_some_and(|v| v.passed) => format!(
            "Decide: mediaforce approve --index {i}  or  mediaforce reject --index {i}\n",
            i = item.index
        ),
        _ => String::new(),
    };
    s
}
