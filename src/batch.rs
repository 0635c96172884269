//! Staging plan items through the job queue: the local `encode --all --jobs N` enqueues one
//! `stage` job per item and runs N workers that claim them, so one host and many hosts take
//! the same path (see [`crate::store`]).
//!
//! A worker holds its job under a lease it renews every few seconds from a thread of its own;
//! when the lease is lost (the job was re-claimed after this process stalled) or the operator
//! cancels the job, the encode is stopped and nothing it would still write is accepted. The
//! queue lives in `<data dir>/jobs.db`.

use crate::catalog::Catalog;
use crate::core::ProgressSink;
use crate::events::Event;
use crate::manifest::ManifestItem;
use crate::search::SearchObserver;
use crate::stage::{stage_item, StageError, StageOptions, StageOutcome};
use crate::store::{JobStore, Lease, NewJob, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The job kind of a staged encode of an item of the plan at `manifest`: workers of one plan
/// claim only that plan's jobs.
pub fn stage_kind(manifest: &Path) -> String {
    format!("stage:{}", manifest.display())
}

/// How long a lease lasts without a heartbeat: 60 s, or `MEDIAFORCE_LEASE_MS` (tests make it
/// short to see a killed worker's job come back quickly). Renewed six times a lease.
fn lease_length() -> Duration {
    std::env::var("MEDIAFORCE_LEASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

/// What a `stage` job runs: one item of one plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StagePayload {
    /// The plan file.
    pub manifest: PathBuf,
    /// The item's index in it.
    pub index: usize,
}

/// Errors that stop a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The job queue.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The catalog.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The catalog could not be opened.
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
}

/// What the front end shows while a batch runs; called from the worker threads.
pub trait BatchUi: Sync {
    /// An item's encode starts.
    fn started(&self, item: &ManifestItem);
    /// An item's encode ended.
    fn finished(&self, item: &ManifestItem, outcome: &StageOutcome);
    /// The search observer for this item's encode.
    fn observer(&self, item: &ManifestItem) -> Box<dyn SearchObserver + '_>;
    /// The progress sink for this item's full encode.
    fn progress(&self, item: &ManifestItem) -> Box<dyn ProgressSink + '_>;
}

/// The queue file in a data directory.
pub fn queue_path(data_dir: &Path) -> PathBuf {
    data_dir.join("jobs.db")
}

/// Where the queue lives: `database` (a `postgres://` URL shared by hosts, from `--database`
/// or `MEDIAFORCE_DATABASE_URL`), else the SQLite file in the data directory.
pub fn queue_location(data_dir: &Path, database: Option<&str>) -> String {
    database.map_or_else(
        || queue_path(data_dir).to_string_lossy().into_owned(),
        str::to_string,
    )
}

/// The stable key of an item's stage job: at most one is queued or running.
fn key(manifest: &Path, index: usize) -> String {
    format!("{}:{index}", stage_kind(manifest))
}

/// Stage `items` of the plan at `manifest` (whose items are `plan`) through the queue with
/// `jobs` workers; returns each item's outcome, in the order they finished (a job of this run
/// that ended in the queue without a result here is a failed outcome). The workers also take
/// this plan's jobs that an earlier, interrupted run left queued. `cancel` (Ctrl-C) stops them
/// between and inside encodes; interrupted and unstarted jobs stay queued for the next run.
pub fn run(
    manifest: &Path,
    plan: &[ManifestItem],
    items: &[ManifestItem],
    options: &StageOptions,
    jobs: usize,
    cancel: &AtomicBool,
    ui: &dyn BatchUi,
) -> Result<Vec<(usize, StageOutcome)>, BatchError> {
    let queue = queue_location(&options.data_dir, options.database.as_deref());
    let mut store = crate::store::open(&queue)?;
    let mut mine = Vec::new();
    for item in items {
        let payload = StagePayload {
            manifest: manifest.to_path_buf(),
            index: item.index,
        };
        let mut job = NewJob::new(
            &stage_kind(manifest),
            serde_json::to_value(&payload).expect("payload serialises"),
        );
        job.key = Some(key(manifest, item.index));
        mine.push(store.enqueue(&job)?);
    }
    let results = std::sync::Mutex::new(Vec::new());
    let failure = std::sync::Mutex::new(None::<BatchError>);
    let host = crate::stage::host_name();
    let kind = stage_kind(manifest);
    let mine = &mine;
    std::thread::scope(|s| {
        for w in 0..jobs.max(1) {
            let (results, failure, queue, host, kind) = (&results, &failure, &queue, &host, &kind);
            s.spawn(move || {
                let worker = format!("{host}:{}:{w}", std::process::id());
                let run = || -> Result<(), BatchError> {
                    let mut store = crate::store::open(queue)?;
                    let catalog = Catalog::open_in(&options.data_dir, options.database.as_deref())?;
                    while !cancel.load(Ordering::Relaxed) {
                        while crate::stage::pause_file(&options.data_dir).exists()
                            && !cancel.load(Ordering::Relaxed)
                        {
                            std::thread::sleep(Duration::from_millis(250));
                        }
                        store.requeue_expired()?;
                        let Some(lease) = store.claim(&worker, &[kind.as_str()], lease_length())?
                        else {
                            // Nothing to claim now. This run is done when none of its jobs is
                            // waiting out a backoff or held by a worker that may still finish
                            // or lose its lease.
                            let pending = mine.iter().any(|id| {
                                store.job(*id).is_ok_and(|j| {
                                    matches!(
                                        j.state,
                                        crate::store::JobState::Queued
                                            | crate::store::JobState::Running
                                    )
                                })
                            });
                            if !pending {
                                return Ok(());
                            }
                            std::thread::sleep(Duration::from_millis(250));
                            continue;
                        };
                        let outcome = run_job(
                            store.as_mut(),
                            &catalog,
                            &lease,
                            plan,
                            manifest,
                            options,
                            cancel,
                            ui,
                        )?;
                        if let Some(o) = outcome {
                            results.lock().expect("results lock").push(o);
                        }
                    }
                    Ok(())
                };
                if let Err(e) = run() {
                    cancel.store(true, Ordering::Relaxed);
                    *failure.lock().expect("failure lock") = Some(e);
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("failure lock") {
        return Err(e);
    }
    // Jobs of this run that ended without a result here (failed after lost leases elsewhere,
    // cancelled by the operator) are reported as failures, never silently dropped. Jobs left
    // queued by Ctrl-C stay queued: the next run resumes them.
    let mut results = results.into_inner().expect("results lock");
    for &id in mine {
        let Ok(job) = store.job(id) else { continue };
        let payload: Option<StagePayload> = serde_json::from_value(job.payload.clone()).ok();
        let Some(index) = payload.map(|p| p.index) else {
            continue;
        };
        if results.iter().any(|(i, _)| *i == index) {
            continue;
        }
        let error = match job.state {
            crate::store::JobState::Failed => job
                .last_error
                .unwrap_or_else(|| "failed in the job queue".into()),
            crate::store::JobState::Cancelled => "cancelled in the job queue".into(),
            _ => continue,
        };
        results.push((
            index,
            StageOutcome::Failed {
                error,
                attempts: job.attempts.max(0) as u32,
            },
        ));
    }
    Ok(results)
}

/// Why a job's encode was told to stop.
const STOP_NONE: u8 = 0;
const STOP_CANCELLED: u8 = 1;
const STOP_LOST: u8 = 2;
const STOP_INTERRUPTED: u8 = 3;

/// Run one claimed job under its lease; `None` when it names no item of the plan (it fails).
#[allow(clippy::too_many_arguments)]
fn run_job(
    store: &mut dyn JobStore,
    catalog: &Catalog,
    lease: &Lease,
    plan: &[ManifestItem],
    manifest: &Path,
    options: &StageOptions,
    cancel: &AtomicBool,
    ui: &dyn BatchUi,
) -> Result<Option<(usize, StageOutcome)>, BatchError> {
    let payload: Option<StagePayload> = serde_json::from_value(lease.payload.clone()).ok();
    let item = payload
        .filter(|p| p.manifest == manifest)
        .and_then(|p| plan.iter().find(|i| i.index == p.index));
    let Some(item) = item else {
        let _ = store.fail(lease, "names no item of the plan");
        return Ok(None);
    };
    let stop = Arc::new(AtomicBool::new(false));
    let why = Arc::new(std::sync::atomic::AtomicU8::new(STOP_NONE));
    let done = Arc::new(AtomicBool::new(false));
    let queue = queue_location(&options.data_dir, options.database.as_deref());
    let outcome = std::thread::scope(|s| {
        // The lease's keeper: renews it, and stops the encode when the job is cancelled, the
        // lease is lost, or the operator presses Ctrl-C.
        let keeper = {
            let (stop, why, done, queue) = (
                Arc::clone(&stop),
                Arc::clone(&why),
                Arc::clone(&done),
                queue.clone(),
            );
            let lease = lease.clone();
            s.spawn(move || {
                let halt = |reason: u8| {
                    let _ = why.compare_exchange(
                        STOP_NONE,
                        reason,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    stop.store(true, Ordering::Relaxed);
                };
                let mut store: Option<Box<dyn JobStore>> = None;
                let mut last = Instant::now();
                let period = lease_length() / 6;
                while !done.load(Ordering::Relaxed) {
                    if cancel.load(Ordering::Relaxed) {
                        halt(STOP_INTERRUPTED);
                    }
                    if last.elapsed() >= period {
                        last = Instant::now();
                        // A database blip is retried at the next period; only a lost lease or
                        // the operator's cancel stops the encode.
                        if store.is_none() {
                            store = crate::store::open(&queue).ok();
                        }
                        if let Some(st) = store.as_mut() {
                            match st.heartbeat(&lease, lease_length()) {
                                Ok(c) if c.cancel => halt(STOP_CANCELLED),
                                Ok(_) => {}
                                Err(StoreError::Fenced { .. }) => halt(STOP_LOST),
                                Err(_) => store = None,
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        ui.started(item);
        let log = JobLog {
            store: std::cell::RefCell::new(&mut *store),
            lease,
            lost: &stop,
            last: std::cell::Cell::new(None),
        };
        let mut observer = Logged {
            inner: ui.observer(item),
            log: &log,
        };
        let mut progress = Logged {
            inner: ui.progress(item),
            log: &log,
        };
        let staged = stage_item(
            catalog,
            manifest,
            item,
            options,
            &stop,
            &mut observer,
            &mut progress,
        );
        done.store(true, Ordering::Relaxed);
        let _ = keeper.join();
        staged
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = store.fail(lease, &e.to_string());
            return Err(e.into());
        }
    };
    ui.finished(item, &outcome);
    let result = serde_json::to_value(&outcome).unwrap_or(serde_json::Value::Null);
    let recorded = match (&outcome, why.load(Ordering::Relaxed)) {
        (StageOutcome::Cancelled, STOP_CANCELLED) => store.finish_cancelled(lease),
        // Ctrl-C: the job goes back to the queue as it was, for the next run.
        (StageOutcome::Cancelled, STOP_INTERRUPTED) => store.release(lease),
        // Lost: another worker holds it now; nothing of this run's is recorded.
        (_, STOP_LOST) => Ok(()),
        _ => store.complete(lease, &result),
    };
    match recorded {
        Ok(()) => {}
        // The lease was lost while the encode ran; another worker has (or will) run it again.
        Err(StoreError::Fenced { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Some((item.index, outcome)))
}

/// A job's event log under its lease: the events the front end shows are also stored, so a
/// page or another host can follow the job. A refused write means the lease was lost, which
/// stops the encode.
struct JobLog<'a> {
    store: std::cell::RefCell<&'a mut dyn JobStore>,
    lease: &'a Lease,
    lost: &'a AtomicBool,
    /// When a progress event was last stored (they are stored every few seconds).
    last: std::cell::Cell<Option<Instant>>,
}

impl JobLog<'_> {
    fn record(&self, event: &Event) {
        let frequent = matches!(
            event,
            Event::ProbeProgress { .. } | Event::FramesDone { .. }
        );
        if frequent {
            if self
                .last
                .get()
                .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
            {
                return;
            }
            self.last.set(Some(Instant::now()));
        }
        let detail = serde_json::to_string(event).unwrap_or_default();
        let written = self
            .store
            .borrow_mut()
            .event(self.lease, event.kind(), &detail);
        if let Err(StoreError::Fenced { .. }) = written {
            self.lost.store(true, Ordering::Relaxed);
        }
    }
}

/// A front end's observer or progress sink whose events also go to the job's log.
struct Logged<'a, T: ?Sized> {
    inner: Box<T>,
    log: &'a JobLog<'a>,
}

impl SearchObserver for Logged<'_, dyn SearchObserver + '_> {
    fn event(&mut self, e: &crate::search::SearchEvent<'_>) {
        self.inner.event(e);
        self.log.record(&Event::from(e));
    }

    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

impl ProgressSink for Logged<'_, dyn ProgressSink + '_> {
    fn start(&mut self, label: &str, total: Option<u64>) {
        self.inner.start(label, total);
    }

    fn update(&mut self, p: &crate::core::Progress) {
        self.inner.update(p);
        self.log.record(&Event::from(("encode", p)));
    }

    fn finish(&mut self) {
        self.inner.finish();
    }

    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}
