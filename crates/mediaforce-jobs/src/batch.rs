//! Staging plan items through the job queue: the local `encode --all --jobs N` enqueues one
//! `stage` job per item and runs N workers that claim them, so one host and many hosts take
//! the same path (see [`crate::store`]).
//!
//! A worker holds its job under a lease it renews every few seconds from a thread of its own;
//! when the lease is lost (the job was re-claimed after this process stalled) or the operator
//! cancels the job, the encode is stopped and nothing it would still write is accepted: the
//! job's catalog writes and the rename of its staged file are fenced by the lease's epoch, in
//! the same database (the queue lives beside the catalog: `<data dir>/catalog.db`, or the
//! shared PostgreSQL database). Cancel and pause reach the encode through one
//! [`JobControl`].

use crate::catalog::Catalog;
use crate::control::{Fence, JobControl, Stop};
use crate::events::{Event, EventSink, Tee};
use crate::manifest::ManifestItem;
use crate::runner::{
    item_started, run_claims, unless_paused, ClaimLoop, JobLog, Next, Reporter, Until,
};
use crate::stage::{stage_item, StageError, StageOptions, StageOutcome};
use crate::store::{JobStore, Lease, NewJob, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::catalog::{queue_location, queue_path};
pub use crate::lease::{hold_lease, lease_length};
use std::time::Duration;

/// The job kind of a staged encode of an item of the plan at `manifest`: workers of one plan
/// claim only that plan's jobs.
pub fn stage_kind(manifest: &Path) -> String {
    format!("stage:{}", manifest.display())
}

/// What a `stage` job runs: one item of one plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StagePayload {
    /// The plan file.
    pub manifest: PathBuf,
    /// The item's index in it.
    pub index: usize,
    /// A re-encode at another VMAF target than the item's policy names (the web page's
    /// "re-encode at"); `None` keeps the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_vmaf: Option<f64>,
}

/// The queued job that encodes `item` of the plan `manifest` (at `target_vmaf` instead of its
/// policy's target when given): keyed by plan and index (one live job per item), and claimed
/// only by hosts whose adapters have the item's encoder.
pub fn stage_job(manifest: &Path, item: &ManifestItem, target_vmaf: Option<f64>) -> NewJob {
    let payload = StagePayload {
        manifest: manifest.to_path_buf(),
        index: item.index,
        target_vmaf,
    };
    let mut job = NewJob::new(
        &stage_kind(manifest),
        serde_json::to_value(&payload).expect("payload serialises"),
    );
    job.key = Some(key(manifest, item.index));
    job.requires = Some(encoder_requirement(&item.policy.encode.encoder));
    job
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
    /// The job's thread panicked.
    #[error("job {0}: its thread panicked (a bug; the job's lease runs out and it is retried)")]
    Panicked(i64),
}

impl BatchError {
    /// Whether the store could not be reached (a database restart, a network cut): the job
    /// was not failed by its work, and returns to the queue when its lease runs out.
    pub fn store_unavailable(&self) -> bool {
        use crate::store::ErrorKind as K;
        let sql = |e: &crate::catalog::CatalogError| matches!(e, crate::catalog::CatalogError::Sql(s) if s.kind == K::Unavailable);
        match self {
            BatchError::Store(e) => e.kind() == K::Unavailable,
            BatchError::Catalog(e) => sql(e),
            BatchError::Stage(StageError::Catalog(e)) => sql(e),
            _ => false,
        }
    }
}

/// The capability an encode job requires of the host that claims it: the adapter id of the
/// policy's encoder (what workers report), or the name as given when no adapter knows it.
pub fn encoder_requirement(encoder: &str) -> String {
    crate::codecs::find(encoder).map_or_else(|_| encoder.to_string(), |a| a.id().to_string())
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
    reporter: &dyn Reporter,
) -> Result<Vec<(usize, StageOutcome)>, BatchError> {
    let queue = queue_location(&options.data_dir, options.database.as_deref());
    let mut store = crate::store::open(&queue)?;
    let mut mine = Vec::new();
    for item in items {
        mine.push(store.enqueue(&stage_job(manifest, item, None))?);
    }
    let results = std::sync::Mutex::new(Vec::new());
    // Jobs of this run given back because another run holds their item: not waited for.
    let busy = std::sync::Mutex::new(std::collections::HashSet::<i64>::new());
    let failure = std::sync::Mutex::new(None::<BatchError>);
    let host = crate::hosts::host_name();
    let kind = stage_kind(manifest);
    let mine = &mine;
    std::thread::scope(|s| {
        for w in 0..jobs.max(1) {
            let (results, failure, queue, host, kind, busy) =
                (&results, &failure, &queue, &host, &kind, &busy);
            s.spawn(move || {
                let worker = format!("{host}:{}:{w}", std::process::id());
                let run = || -> Result<(), BatchError> {
                    let mut store = crate::store::open(queue)?;
                    let catalog = Catalog::open_in(&options.data_dir, options.database.as_deref())?;
                    let spec = ClaimLoop {
                        worker,
                        kinds: vec![kind.clone()],
                        capabilities: None,
                        // Done when none of this run's jobs is waiting out a backoff or held
                        // by a worker that may still finish or lose its lease (those given
                        // back because another run holds their item are not waited for).
                        until: Until::Ended {
                            jobs: mine,
                            skip: Some(busy),
                        },
                        cancel,
                        poll: Duration::from_millis(250),
                    };
                    run_claims(
                        store.as_mut(),
                        &spec,
                        &mut unless_paused,
                        &mut |store: &mut dyn JobStore, lease: Lease| {
                            let outcome = run_job(
                                store, &catalog, &lease, plan, manifest, options, cancel, reporter,
                            )?;
                            if let Some(o) = outcome {
                                if matches!(o.1, StageOutcome::Busy { .. }) {
                                    busy.lock().expect("busy lock").insert(lease.job);
                                }
                                results.lock().expect("results lock").push(o);
                            }
                            Ok::<_, BatchError>(Next::Continue)
                        },
                    )
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

/// Run a `stage` job claimed by a worker that did not plan it (another host's `mediaforce
/// worker`): its plan is read from the catalog by the key in the payload. `None` when the job
/// names no plan item (it fails) or its lease was lost.
pub fn run_claimed(
    store: &mut dyn JobStore,
    catalog: &Catalog,
    lease: &Lease,
    options: &StageOptions,
    cancel: &AtomicBool,
    reporter: &dyn Reporter,
) -> Result<Option<(usize, StageOutcome)>, BatchError> {
    let payload: Option<StagePayload> = serde_json::from_value(lease.payload.clone()).ok();
    let plan = payload.as_ref().and_then(|p| {
        crate::manifest::load(catalog, &p.manifest)
            .ok()
            .map(|m| (p, m))
    });
    let Some((payload, plan)) = plan else {
        let _ = store.fail(lease, "names no plan this store holds");
        return Ok(None);
    };
    // A mapped root that is not mounted here: the job goes back for another host (or for
    // this one once the disk is up), with an event saying why; it is not a failure.
    let source = plan
        .items
        .iter()
        .find(|i| i.index == payload.index)
        .map(|i| i.source.clone());
    // Under a mapped root, the file itself must be there: an unmounted mount point is
    // usually an empty directory.
    let unreachable = source.filter(|s| {
        let local = options.paths.local(s);
        local != *s && !local.is_file()
    });
    if let Some(s) = unreachable {
        let root = options
            .paths
            .missing_root(&s)
            .unwrap_or_else(|| options.paths.local(&s));
        let detail = format!(
            "{}: {} is not mounted on this host ({} not found); the job goes back to the queue",
            lease.worker,
            root.display(),
            options.paths.local(&s).display()
        );
        let _ = store.event(lease, "refused", &detail);
        match store.release(lease, UNMOUNTED_RETRY) {
            Ok(()) | Err(StoreError::Fenced { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    run_job(
        store,
        catalog,
        lease,
        &plan.items,
        &payload.manifest,
        options,
        cancel,
        reporter,
    )
}

/// How long a job refused by a host without its library mounted waits in the queue.
const UNMOUNTED_RETRY: Duration = Duration::from_secs(60);

/// How long a job whose item another run holds waits in the queue before it is tried again.
const BUSY_RETRY: Duration = Duration::from_secs(30);

/// Run one claimed job under its lease; `None` when it names no item of the plan (it fails),
/// or when the lease was lost (the job is another worker's now).
#[allow(clippy::too_many_arguments)]
fn run_job(
    store: &mut dyn JobStore,
    catalog: &Catalog,
    lease: &Lease,
    plan: &[ManifestItem],
    manifest: &Path,
    options: &StageOptions,
    cancel: &AtomicBool,
    reporter: &dyn Reporter,
) -> Result<Option<(usize, StageOutcome)>, BatchError> {
    let Some(item) = item_of(lease, plan, manifest) else {
        let _ = store.fail(lease, "names no item of the plan");
        return Ok(None);
    };
    let item = &item;
    let control = JobControl::fenced(Fence {
        job: lease.job,
        epoch: lease.epoch,
    });
    let queue = queue_location(&options.data_dir, options.database.as_deref());
    catalog.set_fence(control.fence());
    let mut shown = reporter.item(item);
    let outcome = hold_lease(&queue, lease, cancel, &control, options.stuck_after, || {
        stage_logged(
            store,
            catalog,
            lease,
            &control,
            item,
            manifest,
            options,
            shown.as_mut(),
        )
    });
    log_ending(store, lease, catalog, manifest, item, &outcome);
    catalog.set_fence(None);
    let (outcome, recorded) = settle(store, lease, &control, item, options, outcome)?;
    // After the ending is recorded, the lease is gone: the front end alone hears it.
    shown.emit(Event::ItemFinished {
        index: item.index,
        source: item.source.clone(),
        outcome: outcome.kind().into(),
        detail: outcome.describe(),
    });
    match recorded {
        // The lease was lost as the job ended; another worker has (or will) run it again.
        Ok(()) | Err(StoreError::Fenced { .. }) => Ok(Some((item.index, outcome))),
        Err(e) => Err(e.into()),
    }
}

/// The plan item a job names (with the job's own target, when it was queued with one).
fn item_of(lease: &Lease, plan: &[ManifestItem], manifest: &Path) -> Option<ManifestItem> {
    let payload: StagePayload = serde_json::from_value(lease.payload.clone()).ok()?;
    if payload.manifest != manifest {
        return None;
    }
    let mut item = plan.iter().find(|i| i.index == payload.index)?.clone();
    if let Some(target) = payload.target_vmaf {
        item.policy.encode.target_vmaf = target;
    }
    Some(item)
}

/// Stage the item with its events shown by the front end and logged under the lease; the host's priorities applied to this thread first (once the keeper runs, so
/// heartbeats are not starved by an idle I/O class).
#[allow(clippy::too_many_arguments)]
fn stage_logged(
    store: &mut dyn JobStore,
    catalog: &Catalog,
    lease: &Lease,
    control: &JobControl,
    item: &ManifestItem,
    manifest: &Path,
    options: &StageOptions,
    shown: &mut dyn EventSink,
) -> Result<StageOutcome, StageError> {
    let mut log = JobLog::new(store, lease, control);
    if let Some((nice, io)) = options.priority {
        if let Err(e) = crate::priority::apply_to_this_thread(nice, io) {
            log.note("priority", &format!("{}: cannot apply {e}", lease.worker));
        }
    }
    let mut events = Tee(&mut log, shown);
    events.emit(item_started(item));
    stage_item(catalog, manifest, item, options, control, &mut events)
}

/// What the job did to its item, in the job's log: the state it left the item in, and a
/// failure with the host and the cause.
fn log_ending(
    store: &mut dyn JobStore,
    lease: &Lease,
    catalog: &Catalog,
    manifest: &Path,
    item: &ManifestItem,
    outcome: &Result<StageOutcome, StageError>,
) {
    let mut log_event = |e: Event| {
        let detail = serde_json::to_string(&e).unwrap_or_default();
        let _ = store.event(lease, e.kind(), &detail);
    };
    if let Some(it) = catalog.item(manifest, item.index).ok().flatten() {
        let events = catalog.item_events(it.id).unwrap_or_default();
        log_event(Event::StateChanged {
            index: item.index,
            source: item.source.clone(),
            state: it.state.to_string(),
            detail: events
                .iter()
                .rev()
                .find(|(_, k, _)| *k == it.state.as_str())
                .and_then(|(_, _, d)| d.clone()),
        });
    }
    let failure = match outcome {
        Err(e) => Some(e.to_string()),
        Ok(StageOutcome::Failed { error, .. }) => Some(error.clone()),
        Ok(_) => None,
    };
    if let Some(cause) = failure {
        log_event(Event::JobFailed {
            host: crate::hosts::host_name(),
            cause,
        });
    }
}

/// How the job ends in the queue, from its outcome and how its control stopped: a stuck job
/// was already failed back by its keeper and a lost lease is another worker's (nothing is
/// recorded for either); a cancel ends it cancelled, Ctrl-C gives it back as it was, an item
/// held by another run gives it back for later, anything else completes it. Returns the
/// item's outcome and whether the queue took the ending.
fn settle(
    store: &mut dyn JobStore,
    lease: &Lease,
    control: &JobControl,
    item: &ManifestItem,
    options: &StageOptions,
    outcome: Result<StageOutcome, StageError>,
) -> Result<(StageOutcome, Result<(), StoreError>), BatchError> {
    if control.stopped() == Some(Stop::Stuck) {
        let stuck = StageOutcome::Failed {
            error: format!(
                "{}: stuck (no progress for {:.0} s); the job goes back to the queue",
                item.source.display(),
                options.stuck_after.unwrap_or_default().as_secs_f64()
            ),
            attempts: lease.attempt as u32,
        };
        return Ok((stuck, Ok(())));
    }
    let lost = control.stopped() == Some(Stop::LeaseLost)
        || matches!(
            &outcome,
            Err(StageError::Catalog(
                crate::catalog::CatalogError::Fenced { .. }
            ))
        );
    if lost {
        let refused = match &outcome {
            Err(e) => format!("; refused: {e}"),
            Ok(_) => "; its heartbeat was refused".into(),
        };
        let busy = StageOutcome::Busy {
            holder: format!(
                "another worker (job {} lost its lease here{refused})",
                lease.job
            ),
        };
        return Ok((busy, Ok(())));
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = store.fail(lease, &e.to_string());
            return Err(e.into());
        }
    };
    let result = serde_json::to_value(&outcome).unwrap_or(serde_json::Value::Null);
    let recorded = match (&outcome, control.stopped()) {
        (StageOutcome::Cancelled, Some(Stop::Cancelled)) => store.finish_cancelled(lease),
        (StageOutcome::Cancelled, Some(Stop::Interrupted)) => store.release(lease, Duration::ZERO),
        (StageOutcome::Busy { .. }, _) => store.release(lease, BUSY_RETRY),
        _ => store.complete(lease, &result),
    };
    Ok((outcome, recorded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::JobState;

    #[test]
    fn a_job_without_progress_is_failed_back_and_one_making_progress_or_paused_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("queue.db").to_string_lossy().into_owned();
        let mut store = crate::store::open(&location).unwrap();
        for _ in 0..3 {
            store
                .enqueue(&NewJob::new("stage", serde_json::json!({})))
                .unwrap();
        }
        let cancel = AtomicBool::new(false);
        let limit = Some(Duration::from_millis(400));
        let claim = |store: &mut Box<dyn JobStore>| {
            let lease = store
                .claim("host/0", &[], Duration::from_secs(30))
                .unwrap()
                .unwrap();
            let control = JobControl::fenced(Fence {
                job: lease.job,
                epoch: lease.epoch,
            });
            (lease, control)
        };
        // Hung: no progress, so the keeper stops it and fails it back to the queue.
        let (lease, control) = claim(&mut store);
        hold_lease(&location, &lease, &cancel, &control, limit, || {
            while !control.is_stopped() {
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        assert_eq!(control.stopped(), Some(Stop::Stuck));
        let row = store.job(lease.job).unwrap();
        assert_eq!(row.state, JobState::Queued, "{row:?}");
        let error = row.last_error.unwrap_or_default();
        assert!(
            error.contains("stuck: no progress for 0.4 s") && error.contains("host/0"),
            "{error}"
        );
        assert!(matches!(
            store.complete(&lease, &serde_json::json!({})),
            Err(StoreError::Fenced { .. })
        ));
        // Making progress for longer than the limit: it keeps its lease.
        let (lease, control) = claim(&mut store);
        hold_lease(&location, &lease, &cancel, &control, limit, || {
            for _ in 0..40 {
                control.touch();
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        assert_eq!(control.stopped(), None);
        store.complete(&lease, &serde_json::json!({})).unwrap();
        // Paused by the operator for longer than the limit: not stuck either.
        let (lease, control) = claim(&mut store);
        control.set_paused(true);
        hold_lease(&location, &lease, &cancel, &control, limit, || {
            std::thread::sleep(Duration::from_millis(1000));
        });
        assert_eq!(control.stopped(), None);
        store.complete(&lease, &serde_json::json!({})).unwrap();
    }
}
