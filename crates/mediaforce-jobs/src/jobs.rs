//! Queued jobs run in this process, one at a time: validation and review material go through
//! the same queue as encodes (leases, heartbeats, fenced writes, cancel and pause from the
//! store), so a page or another host sees them, can cancel or pause them, and a killed run's
//! job is taken over by the next.

use crate::batch::{hold_lease, BatchError};
use crate::catalog::{Catalog, CatalogError};
use crate::control::{Fence, JobControl, Stop};
use crate::events::Event;
use crate::events::EventSink;
use crate::runner::{run_claims, unless_paused, ClaimLoop, JobLog, Next, Until};
use crate::store::{JobStore, Lease, NewJob, StoreError};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// What came of one job of a run.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// The job.
    pub job: i64,
    /// What it was asked to do.
    pub payload: serde_json::Value,
    /// Its result, or why it failed (naming the file).
    pub result: Result<serde_json::Value, JobFailure>,
}

/// Why a job's work failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// Why, naming the file.
    pub message: String,
    /// A write was refused because the lease was lost: the job is another worker's now.
    pub fenced: bool,
}

impl From<CatalogError> for JobFailure {
    fn from(e: CatalogError) -> Self {
        Self {
            fenced: matches!(e, CatalogError::Fenced { .. }),
            message: e.to_string(),
        }
    }
}

impl JobFailure {
    /// A failure that is not a lost lease.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            fenced: false,
        }
    }
}

/// The work of one job run here: its lease, its control and its log; its result or failure.
pub type Handle<'a> = dyn FnMut(&Lease, &JobControl, &mut dyn EventSink) -> Result<serde_json::Value, JobFailure>
    + 'a;

/// Enqueue `jobs` (all of kind `kind`) in the queue at `queue` and run them, and any job of
/// that kind an interrupted run left queued, here, each under its lease: `handle` does the
/// work (its catalog writes fenced by the lease through `catalog`) and returns the job's
/// result, reporting into the job's log (the [`EventSink`] it is given). Ctrl-C (`cancel`) gives the job back to the queue and ends the run. Returns what
/// came of this run's jobs, in the order they ended.
pub fn run_here(
    queue: &str,
    catalog: &Catalog,
    kind: &str,
    jobs: &[NewJob],
    cancel: &AtomicBool,
    handle: &mut Handle<'_>,
) -> Result<Vec<JobOutcome>, BatchError> {
    let mut store = crate::store::open(queue)?;
    let mut mine = Vec::new();
    for j in jobs {
        mine.push(store.enqueue(j)?);
    }
    let spec = ClaimLoop {
        worker: format!(
            "{}:{}:{kind}",
            crate::hosts::host_name(),
            std::process::id()
        ),
        kinds: vec![kind.to_string()],
        capabilities: None,
        until: Until::Ended {
            jobs: &mine,
            skip: None,
        },
        cancel,
        poll: Duration::from_millis(250),
    };
    let mut out = Vec::new();
    run_claims(
        store.as_mut(),
        &spec,
        &mut unless_paused,
        &mut |store: &mut dyn JobStore, lease: Lease| {
            let (result, interrupted) = run_claimed(store, queue, catalog, &lease, cancel, handle)?;
            out.push(JobOutcome {
                job: lease.job,
                payload: lease.payload,
                result,
            });
            Ok::<_, BatchError>(if interrupted {
                Next::Stop
            } else {
                Next::Continue
            })
        },
    )?;
    Ok(out)
}

/// Run one claimed job here under its lease (see [`run_here`]) and record how it ended:
/// its result, its failure (with host and cause in its events), a cancel, or, on Ctrl-C, the
/// job given back. Returns the work's result and whether the process is stopping.
pub fn run_claimed(
    store: &mut dyn JobStore,
    queue: &str,
    catalog: &Catalog,
    lease: &Lease,
    cancel: &AtomicBool,
    handle: &mut Handle<'_>,
) -> Result<(Result<serde_json::Value, JobFailure>, bool), BatchError> {
    let control = JobControl::fenced(Fence {
        job: lease.job,
        epoch: lease.epoch,
    });
    catalog.set_fence(control.fence());
    let result = hold_lease(queue, lease, cancel, &control, None, || {
        handle(lease, &control, &mut JobLog::new(store, lease, &control))
    });
    catalog.set_fence(None);
    let mut interrupted = false;
    match (control.stopped(), &result) {
        // Lost, or failed back to the queue by the keeper: nothing more is recorded here.
        (Some(Stop::LeaseLost | Stop::Stuck), _) => {}
        (_, Err(e)) if e.fenced => {}
        // The work finished before the interruption took effect: its result stands.
        (Some(Stop::Interrupted), Ok(v)) => {
            interrupted = true;
            ignore_fenced(store.complete(lease, v))?;
        }
        (Some(Stop::Interrupted), Err(_)) => {
            interrupted = true;
            ignore_fenced(store.release(lease, Duration::ZERO))?;
        }
        (Some(Stop::Cancelled), _) => ignore_fenced(store.finish_cancelled(lease))?,
        (None, Ok(v)) => ignore_fenced(store.complete(lease, v))?,
        (None, Err(e)) => {
            let event = Event::JobFailed {
                host: crate::hosts::host_name(),
                cause: e.message.clone(),
            };
            let detail = serde_json::to_string(&event).unwrap_or_default();
            let _ = store.event(lease, event.kind(), &detail);
            ignore_fenced(store.fail(lease, &e.message).map(|_| ()))?;
        }
    }
    Ok((result, interrupted))
}

fn ignore_fenced(r: Result<(), StoreError>) -> Result<(), BatchError> {
    match r {
        Ok(()) | Err(StoreError::Fenced { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
