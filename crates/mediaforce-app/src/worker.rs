//! Workers and hosts: `mediaforce worker` registers its host in the store and runs jobs any
//! host queued (encodes, validations, review material), each under its lease; the operator
//! sees and steers hosts (`hosts list|show|set|remove`) through the same store. The database's
//! row locks and transactions are the only coordinator.

use crate::review::{store_error, Controlled};
use crate::{App, AppError, ErrorKind, Result, Selection};
use mediaforce::batch::{queue_location, BatchUi, StagePayload};
use mediaforce::hosts::{HostError, HostInfo, HostRow, HostState, Hosts};
use mediaforce::jobs::JobFailure;
use mediaforce::manifest;
use mediaforce::stage::{StageOptions, StageOutcome};
use mediaforce::store::NewJob;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

impl From<HostError> for AppError {
    fn from(e: HostError) -> Self {
        let kind = match &e {
            HostError::Taken { .. } | HostError::Lost(_) => ErrorKind::Conflict,
            HostError::NotFound(_) => ErrorKind::NotFound,
            HostError::Invalid(_) => ErrorKind::Invalid,
            HostError::Sql(s) => match s.kind {
                mediaforce::store::ErrorKind::Unavailable => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            _ => ErrorKind::Internal,
        };
        AppError::new(kind, e.to_string())
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The host's name in the store.
    pub name: String,
    /// Jobs at once (at most the host's `max_jobs` setting).
    pub jobs: usize,
    /// Stop once nothing has been claimable for this long (a drained queue); `None` runs
    /// until stopped.
    pub exit_when_idle: Option<Duration>,
    /// Offer only these encoders (of those available here); `None`: every available one.
    pub encoders: Option<Vec<String>>,
}

/// What a worker did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerSummary {
    /// The host's name.
    pub host: String,
    /// Jobs it ran to a result.
    pub done: usize,
    /// Jobs that failed here.
    pub failed: usize,
    /// Jobs it gave back or lost.
    pub left: usize,
}

/// What a worker tells its front end, from its job threads.
pub trait WorkerUi: BatchUi {
    /// A job of another kind than `stage` ended (`kind`: `validate` or `compare`).
    fn job_ended(
        &self,
        job: i64,
        kind: &str,
        result: &std::result::Result<serde_json::Value, String>,
    );
}

/// A worker's thread name in leases and events: the host and the slot.
fn slot_name(host: &str, slot: usize) -> String {
    format!("{host}/{slot}")
}

impl App {
    fn hosts(&self) -> Result<Hosts> {
        Ok(Hosts::open(&queue_location(
            &self.paths.data_dir,
            self.paths.database.as_deref(),
        ))?)
    }

    /// Queue the selected items' encodes (one `stage` job each, at most one live per item,
    /// requiring the item's encoder) for workers on any host to run; returns the job ids.
    pub fn enqueue(&self, sel: &Selection) -> Result<Vec<i64>> {
        let mpath = self.plan_path(sel.manifest.as_deref())?;
        let m = manifest::load(&self.catalog, &mpath)?;
        let items = self.selection(&m, sel, &mpath)?;
        let mut q = self.queue()?;
        let kind = mediaforce::batch::stage_kind(&mpath);
        let mut ids = Vec::new();
        for item in items {
            let payload = StagePayload {
                manifest: mpath.clone(),
                index: item.index,
            };
            let mut job = NewJob::new(
                &kind,
                serde_json::to_value(&payload).expect("payload serialises"),
            );
            job.key = Some(format!("{kind}:{}", item.index));
            // Only hosts whose adapters have the item's encoder take it.
            job.requires = Some(mediaforce::batch::encoder_requirement(
                &item.policy.encode.encoder,
            ));
            ids.push(q.enqueue(&job).map_err(store_error)?);
        }
        Ok(ids)
    }

    /// Jobs in the queue (in `state`, or all), newest first.
    pub fn jobs_list(
        &self,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<mediaforce::store::JobRow>> {
        let state = state
            .map(|s| {
                mediaforce::store::JobState::parse(s).ok_or_else(|| {
                    AppError::new(
                        ErrorKind::Invalid,
                        format!(
                            "unknown job state '{s}' (queued, running, done, failed, cancelled)"
                        ),
                    )
                })
            })
            .transpose()?;
        self.queue()?.list(state, limit).map_err(store_error)
    }

    /// A job's events, oldest first.
    pub fn job_events(&self, job: i64) -> Result<Vec<mediaforce::store::JobEvent>> {
        let mut q = self.queue()?;
        q.job(job).map_err(store_error)?;
        q.events(job, 0).map_err(store_error)
    }

    /// Put a failed or cancelled job back in the queue.
    pub fn job_retry(&self, job: i64) -> Result<()> {
        self.queue()?.retry(job).map_err(store_error)
    }

    /// Cancel a job (a running one stops at its next heartbeat).
    pub fn job_cancel(&self, job: i64) -> Result<()> {
        self.queue()?.cancel(job).map_err(store_error)
    }

    /// Put every failed job back in the queue; returns how many.
    pub fn jobs_retry_failed(&self) -> Result<usize> {
        self.queue()?.retry_failed().map_err(store_error)
    }

    /// Delete every failed job; returns how many.
    pub fn jobs_clear_failed(&self) -> Result<usize> {
        self.queue()?.clear_failed().map_err(store_error)
    }

    /// The registered hosts.
    pub fn hosts_list(&self) -> Result<Vec<HostRow>> {
        Ok(self.hosts()?.list()?)
    }

    /// One host.
    pub fn host(&self, name: &str) -> Result<HostRow> {
        Ok(self.hosts()?.get(name)?)
    }

    /// Change a host's state (active, paused, draining), jobs at once, schedule or path
    /// mappings.
    pub fn host_set(
        &self,
        name: &str,
        change: &mediaforce::hosts::HostSettings,
    ) -> Result<HostRow> {
        Ok(self.hosts()?.set(name, change)?)
    }

    /// Forget a host.
    pub fn host_remove(&self, name: &str) -> Result<()> {
        Ok(self.hosts()?.remove(name)?)
    }

    /// Run as a worker: register the host, then claim and run jobs of every kind from the
    /// store with `opts.jobs` slots, honouring the host's state (paused: claim nothing;
    /// draining: finish and stop), its schedule (outside its windows: claim nothing) and the
    /// queue's pause, until `cancel`, a drain, or (with
    /// `exit_when_idle`) an empty queue.
    pub fn run_worker(
        &self,
        opts: &WorkerOptions,
        cancel: &AtomicBool,
        ui: &dyn WorkerUi,
    ) -> Result<WorkerSummary> {
        let hosts = self.hosts()?;
        let mut info = HostInfo::this_machine(&opts.name);
        if let Some(only) = &opts.encoders {
            info.encoders.retain(|e| only.contains(e));
        }
        hosts.register(&info)?;
        let queue = queue_location(&self.paths.data_dir, self.paths.database.as_deref());
        let mut options = StageOptions::new(&self.paths.data_dir);
        options.database = self.paths.database.clone();
        options.cache = Some(std::sync::Arc::new(
            mediaforce::cache::ProbeCache::open(&queue)
                .map_err(|e| AppError::new(ErrorKind::Unavailable, e.to_string()))?,
        ));
        let (done, failed, left) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let stop = AtomicBool::new(false);
        let failure = std::sync::Mutex::new(None::<AppError>);
        let slots = opts.jobs.max(1);
        std::thread::scope(|s| {
            for slot in 0..slots {
                let (hosts, info, queue, options) = (&hosts, &info, &queue, &options);
                let (done, failed, left, stop, failure) = (&done, &failed, &left, &stop, &failure);
                s.spawn(move || {
                    let run = || -> Result<()> {
                        let mut store = mediaforce::store::open(queue).map_err(store_error)?;
                        let catalog = mediaforce::catalog::Catalog::open_location(queue)?;
                        let me = slot_name(&info.name, slot);
                        let mut idle_since = Instant::now();
                        while !cancel.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                            let host = hosts.heartbeat(info)?;
                            if host.state == HostState::Draining {
                                return Ok(());
                            }
                            let in_window = host
                                .schedule
                                .parse::<mediaforce::schedule::Schedule>()
                                .map_or(true, |s| s.allows_now());
                            let held = host.state == HostState::Paused
                                || !in_window
                                || slot as u64 >= host.max_jobs
                                || store.queue_paused().map_err(store_error)?;
                            let lease = if held {
                                None
                            } else {
                                store.requeue_expired().map_err(store_error)?;
                                let caps: Vec<&str> =
                                    info.encoders.iter().map(String::as_str).collect();
                                store
                                    .claim_capable(
                                        &me,
                                        &[],
                                        Some(&caps),
                                        mediaforce::batch::lease_length(),
                                    )
                                    .map_err(store_error)?
                            };
                            let Some(lease) = lease else {
                                // Idle: nothing claimable, and nothing queued or running on
                                // any host (a job waiting out a backoff, or held by a host
                                // that may still lose it, keeps the worker waiting).
                                if store.live_jobs().map_err(store_error)? > 0 {
                                    idle_since = Instant::now();
                                }
                                if opts
                                    .exit_when_idle
                                    .is_some_and(|d| !held && idle_since.elapsed() >= d)
                                {
                                    return Ok(());
                                }
                                std::thread::sleep(Duration::from_millis(250));
                                continue;
                            };
                            let verb = lease.kind.split(':').next().unwrap_or("").to_string();
                            let outcome = if verb == "stage" {
                                let mut options = options.clone();
                                options.paths = host.mappings.clone();
                                let r = mediaforce::batch::run_claimed(
                                    store.as_mut(),
                                    &catalog,
                                    &lease,
                                    &options,
                                    cancel,
                                    ui,
                                )
                                .map_err(|e| AppError::new(ErrorKind::Internal, e.to_string()))?;
                                match r {
                                    Some((_, StageOutcome::Failed { .. })) => Err(()),
                                    Some((_, StageOutcome::Busy { .. })) | None => Ok(false),
                                    Some(_) => Ok(true),
                                }
                            } else {
                                let (r, _) = mediaforce::jobs::run_claimed(
                                    store.as_mut(),
                                    queue,
                                    &catalog,
                                    &lease,
                                    cancel,
                                    &mut |lease, control| self.run_item_job(&verb, lease, control),
                                )
                                .map_err(|e| AppError::new(ErrorKind::Internal, e.to_string()))?;
                                let shown = r.as_ref().map_err(|e| e.message.clone()).cloned();
                                ui.job_ended(lease.job, &verb, &shown);
                                match r {
                                    Ok(_) => Ok(true),
                                    Err(e) if e.fenced => Ok(false),
                                    Err(_) => Err(()),
                                }
                            };
                            match outcome {
                                Ok(true) => done.fetch_add(1, Ordering::Relaxed),
                                Ok(false) => left.fetch_add(1, Ordering::Relaxed),
                                Err(()) => failed.fetch_add(1, Ordering::Relaxed),
                            };
                            idle_since = Instant::now();
                        }
                        Ok(())
                    };
                    if let Err(e) = run() {
                        stop.store(true, Ordering::Relaxed);
                        *failure.lock().expect("failure lock") = Some(e);
                    }
                });
            }
        });
        let _ = hosts.release(&info);
        if let Some(e) = failure.into_inner().expect("failure lock") {
            return Err(e);
        }
        Ok(WorkerSummary {
            host: opts.name.clone(),
            done: done.into_inner(),
            failed: failed.into_inner(),
            left: left.into_inner(),
        })
    }

    /// Run a claimed `validate` or `compare` job (payload: the plan's key, the item's index
    /// and the arguments it was queued with).
    pub(crate) fn run_item_job(
        &self,
        verb: &str,
        lease: &mediaforce::store::Lease,
        control: &mediaforce::control::JobControl,
    ) -> std::result::Result<serde_json::Value, JobFailure> {
        let fail = |e: AppError| JobFailure {
            message: e.message.clone(),
            fenced: e.lease_lost,
        };
        let mpath = std::path::PathBuf::from(lease.payload["manifest"].as_str().unwrap_or(""));
        let m = manifest::load(&self.catalog, &mpath).map_err(|e| fail(e.into()))?;
        let item = lease.payload["index"]
            .as_u64()
            .and_then(|i| m.items.iter().find(|it| it.index as u64 == i))
            .ok_or_else(|| {
                JobFailure::new(format!(
                    "{}: job {} names no item of the plan",
                    mpath.display(),
                    lease.job
                ))
            })?;
        let args = &lease.payload["args"];
        let value = match verb {
            "validate" => {
                let mut quiet = mediaforce::core::progress::NoProgress;
                let mut sink = Controlled {
                    inner: &mut quiet,
                    control,
                };
                let r = self.validate_item(&mpath, item, &mut sink).map_err(fail)?;
                serde_json::to_value(&r)
            }
            "compare" => {
                let timestamps: Vec<f64> = args["timestamps"]
                    .as_array()
                    .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
                    .unwrap_or_default();
                let clip_seconds = args["clip_seconds"].as_f64().unwrap_or(4.0);
                let r = self
                    .compare_item(&mpath, item, &timestamps, clip_seconds)
                    .map_err(fail)?;
                serde_json::to_value(&r)
            }
            other => return Err(JobFailure::new(format!("unknown job kind {other}"))),
        };
        Ok(value.unwrap_or(serde_json::Value::Null))
    }
}
