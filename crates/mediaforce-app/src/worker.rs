//! Workers and hosts: `mediaforce worker` registers its host in the store and runs jobs any
//! host queued (encodes, validations, review material), each under its lease; the operator
//! sees and steers hosts (`hosts list|show|set|remove`) through the same store. The database's
//! row locks and transactions are the only coordinator.

use crate::review::store_error;
use crate::{App, AppError, ErrorKind, Result, Selection};
use mediaforce::batch::queue_location;
use mediaforce::events::Event;
use mediaforce::hosts::{HostError, HostInfo, HostRow, HostState, Hosts};
use mediaforce::manifest;
use mediaforce::runner::Reporter;
use mediaforce::runner::{run_claims, ClaimLoop, Gate, Next, Until};
use mediaforce::stage::{StageOptions, StageOutcome};
use mediaforce::store::{JobStore, Lease, StoreError};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        store_error(e)
    }
}

impl From<HostError> for AppError {
    fn from(e: HostError) -> Self {
        let kind = match &e {
            HostError::Taken { .. } | HostError::Lost(_) | HostError::Removed(_) => {
                ErrorKind::Conflict
            }
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
    /// Transfer mode: no library access here; sources and results move through this
    /// client of the library host's file endpoint (path mappings are not used).
    pub transfer: Option<mediaforce::transfer::TransferClient>,
    /// Fail a job back to the queue after this long without progress (`None`: never).
    pub stuck_after: Option<Duration>,
    /// While set, claim nothing new (the service's free-space and load guards); running
    /// jobs go on.
    pub hold: Option<std::sync::Arc<AtomicBool>>,
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

/// A worker's thread name in leases and events: the host and the slot.
fn slot_name(host: &str, slot: usize) -> String {
    format!("{host}/{slot}")
}

impl App {
    /// Queue the selected items' encodes (one `stage` job each, at most one live per item,
    /// requiring the item's encoder) for workers on any host to run; returns the job ids.
    pub fn enqueue(&self, sel: &Selection) -> Result<Vec<i64>> {
        let mpath = self.plan_path(sel.manifest.as_deref())?;
        let m = manifest::load(&self.catalog, &mpath)?;
        let items = self.selection(&m, sel, &mpath)?;
        self.with_queue(|q| {
            let mut ids = Vec::new();
            for item in items {
                ids.push(
                    q.enqueue(&mediaforce::batch::stage_job(&mpath, item, None))
                        .map_err(store_error)?,
                );
            }
            Ok(ids)
        })
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
        self.with_queue(|q| q.list(state, limit).map_err(store_error))
    }

    /// A job's events, oldest first.
    pub fn job_events(&self, job: i64) -> Result<Vec<mediaforce::store::JobEvent>> {
        self.with_queue(|q| {
            q.job(job).map_err(store_error)?;
            q.events(job, 0).map_err(store_error)
        })
    }

    /// Put a failed or cancelled job back in the queue.
    pub fn job_retry(&self, job: i64) -> Result<()> {
        self.with_queue(|q| q.retry(job).map_err(store_error))
    }

    /// Cancel a job (a running one stops at its next heartbeat).
    pub fn job_cancel(&self, job: i64) -> Result<()> {
        self.with_queue(|q| q.cancel(job).map_err(store_error))
    }

    /// Change a queued or running job's priority (higher runs first).
    pub fn job_priority(&self, job: i64, priority: i64) -> Result<()> {
        self.with_queue(|q| q.set_priority(job, priority).map_err(store_error))
    }

    /// Run a job as soon as any capable host is free, its schedule window or not: it goes
    /// ahead of the queue at the urgent priority.
    pub fn job_run_now(&self, job: i64) -> Result<()> {
        self.job_priority(job, mediaforce::store::URGENT)
    }

    /// The plan and item an encode (stage) job works on.
    fn job_item(&self, job: i64) -> Result<(PathBuf, mediaforce::manifest::ManifestItem)> {
        let row = self.with_queue(|q| q.job(job).map_err(store_error))?;
        let p: mediaforce::batch::StagePayload = serde_json::from_value(row.payload)
            .map_err(|_| AppError::new(ErrorKind::Invalid, format!("job {job}: not an encode")))?;
        let m = manifest::load(&self.catalog, &p.manifest)?;
        let item = m
            .items
            .into_iter()
            .find(|i| i.index == p.index)
            .ok_or_else(|| {
                AppError::new(
                    ErrorKind::NotFound,
                    format!("job {job}: its plan has no item {}", p.index),
                )
            })?;
        Ok((p.manifest, item))
    }

    /// Skip a job's file for good: a queued job is cancelled, and the file's path joins the
    /// ignore patterns so no later plan takes it (`settings remove-ignore PATH` undoes that).
    /// Refused while the job runs (cancel it first). Returns the file.
    pub fn job_skip(&self, job: i64) -> Result<PathBuf> {
        use mediaforce::store::JobState;
        let state = self.with_queue(|q| q.job(job).map_err(store_error))?.state;
        if state == JobState::Running {
            return Err(AppError::new(
                ErrorKind::Conflict,
                format!("job {job}: running; cancel it first"),
            ));
        }
        let (_, item) = self.job_item(job)?;
        if state == JobState::Queued {
            self.job_cancel(job)?;
        }
        self.add_ignore(&item.source.to_string_lossy())?;
        Ok(item.source)
    }

    /// Encode a job's file again from the start, as a new job (the queue's "re-encode"); see
    /// [`App::reencode_item`].
    pub fn job_reencode(&self, job: i64) -> Result<i64> {
        let (manifest, item) = self.job_item(job)?;
        self.reencode_item(&manifest, &item, None)
    }

    /// Encode a plan item again from the start, at `target_vmaf` instead of its policy's
    /// target when given: the staged encode (ours, under the transcode root) is discarded
    /// with an event saying so, and a new job is queued. Refused for an item whose encode is
    /// in the library (roll it back first), and while a job for the item is live. Returns the
    /// new job.
    pub fn reencode_item(
        &self,
        manifest: &Path,
        item: &mediaforce::manifest::ManifestItem,
        target_vmaf: Option<f64>,
    ) -> Result<i64> {
        if let Some(t) = target_vmaf {
            if !(t.is_finite() && t > 0.0 && t <= 100.0) {
                return Err(AppError::new(
                    ErrorKind::Invalid,
                    format!("target VMAF {t}: must lie in (0, 100]"),
                ));
            }
        }
        let mut q = self.queue()?;
        let same_item = |j: &mediaforce::store::JobRow| {
            serde_json::from_value::<mediaforce::batch::StagePayload>(j.payload.clone())
                .is_ok_and(|p| p.manifest == manifest && p.index == item.index)
        };
        if let Some(live) = q
            .list(Some(mediaforce::store::JobState::Queued), 10_000)
            .map_err(store_error)?
            .into_iter()
            .chain(
                q.list(Some(mediaforce::store::JobState::Running), 10_000)
                    .map_err(store_error)?,
            )
            .find(same_item)
        {
            return Err(AppError::new(
                ErrorKind::Conflict,
                format!(
                    "{}: job {} for it is {}",
                    item.source.display(),
                    live.id,
                    live.state.as_str()
                ),
            ));
        }
        if let Some(rec) = self.catalog.item(manifest, item.index)? {
            mediaforce::domain::transition(rec.state, mediaforce::domain::ItemState::Encoding)
                .map_err(|r| {
                    AppError::new(
                        ErrorKind::Refused,
                        format!("{}: {r}", item.source.display()),
                    )
                })?;
            let settings = self.settings();
            let ours = item.staging.starts_with(&settings.transcode_root)
                && !item
                    .staging
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
            if ours && item.staging.exists() {
                std::fs::remove_file(&item.staging).map_err(|e| {
                    AppError::new(
                        ErrorKind::Unavailable,
                        format!("{}: {e}", item.staging.display()),
                    )
                })?;
            }
            let detail = match target_vmaf {
                Some(t) => format!("at target VMAF {t}; the staged encode was discarded"),
                None => "the staged encode was discarded".to_string(),
            };
            self.catalog.event(rec.id, "re-encode", Some(&detail))?;
        }
        q.enqueue(&mediaforce::batch::stage_job(manifest, item, target_vmaf))
            .map_err(store_error)
    }

    /// Put every failed job back in the queue; returns how many.
    pub fn jobs_retry_failed(&self) -> Result<usize> {
        self.with_queue(|q| q.retry_failed().map_err(store_error))
    }

    /// Delete every failed job; returns how many.
    pub fn jobs_clear_failed(&self) -> Result<usize> {
        self.with_queue(|q| q.clear_failed().map_err(store_error))
    }

    /// The registered hosts.
    pub fn hosts_list(&self) -> Result<Vec<HostRow>> {
        // The registry's connection is kept: the web page lists hosts on every refresh.
        self.with_hosts(Hosts::list)
    }

    /// One host.
    pub fn host(&self, name: &str) -> Result<HostRow> {
        self.with_hosts(|h| h.get(name))
    }

    /// Change a host's state (active, paused, draining), jobs at once, schedule or path
    /// mappings.
    pub fn host_set(
        &self,
        name: &str,
        change: &mediaforce::hosts::HostSettings,
    ) -> Result<HostRow> {
        let change = mediaforce::hosts::checked(name, change)?;
        self.with_hosts(|h| h.set(name, &change))
    }

    /// Forget a host.
    pub fn host_remove(&self, name: &str) -> Result<()> {
        self.with_hosts(|h| h.remove(name))
    }

    /// Remove what transfer-mode jobs of this host left in `<data dir>/transfer` when its
    /// worker died (a job's copy of its source can be large); another host's running jobs
    /// sharing the data directory keep theirs.
    fn sweep_transfer_scratch(&self, host: &str) {
        let dir = self.paths.data_dir.join("transfer");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let Ok(mut queue) = self.queue() else { return };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let job = name
                .strip_prefix("job-")
                .and_then(|r| r.split_once("-e"))
                .and_then(|(j, _)| j.parse::<i64>().ok());
            let elsewhere = job.and_then(|j| queue.job(j).ok()).is_some_and(|row| {
                row.state == mediaforce::store::JobState::Running
                    && row
                        .worker
                        .as_deref()
                        .is_some_and(|w| w.split('/').next() != Some(host))
            });
            if !elsewhere {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
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
        reporter: &dyn Reporter,
    ) -> Result<WorkerSummary> {
        let hosts = self.open_hosts()?;
        let info = this_host(opts)?;
        if let Some(client) = &opts.transfer {
            check_token(client, &opts.name)?;
        }
        hosts.register(&info)?;
        if opts.transfer.is_some() {
            self.sweep_transfer_scratch(&opts.name);
        }
        let queue = queue_location(&self.paths.data_dir, self.paths.database.as_deref());
        let mut options = StageOptions::new(&self.paths.data_dir);
        options.database = self.paths.database.clone();
        options.transfer = opts.transfer.clone();
        options.stuck_after = opts.stuck_after;
        options.cache = Some(std::sync::Arc::new(
            mediaforce::cache::ProbeCache::open(&queue)
                .map_err(|e| AppError::new(ErrorKind::Unavailable, e.to_string()))?,
        ));
        let worker = Worker {
            // The host's row as of its last heartbeat, kept fresh by `keep_alive`.
            latest: std::sync::Mutex::new(hosts.heartbeat(&info)?),
            info,
            queue,
            options,
            opts,
            cancel,
            reporter,
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            left: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            failure: std::sync::Mutex::new(None),
        };
        let finished = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| worker.keep_alive(&hosts, &finished));
            std::thread::scope(|slots| {
                for slot in 0..opts.jobs.max(1) {
                    let worker = &worker;
                    slots.spawn(move || {
                        if let Err(e) = worker.run_slot(slot) {
                            worker.stop.store(true, Ordering::Relaxed);
                            *worker.failure.lock().expect("failure lock") = Some(e);
                        }
                    });
                }
            });
            finished.store(true, Ordering::Relaxed);
        });
        let _ = hosts.release(&worker.info);
        if let Some(e) = worker.failure.into_inner().expect("failure lock") {
            return Err(e);
        }
        Ok(WorkerSummary {
            host: opts.name.clone(),
            done: worker.done.into_inner(),
            failed: worker.failed.into_inner(),
            left: worker.left.into_inner(),
        })
    }
}

/// This machine as a host of `opts.name`, its encoders narrowed to `--encoders` (each of which
/// it must have).
fn this_host(opts: &WorkerOptions) -> Result<HostInfo> {
    let mut info = mediaforce::hosts::this_machine(&opts.name);
    if let Some(only) = &opts.encoders {
        let unknown: Vec<&str> = only
            .iter()
            .filter(|e| !info.encoders.contains(e))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(AppError::new(
                ErrorKind::Invalid,
                format!(
                    "host {}: --encoders names {} not available here (available: {})",
                    opts.name,
                    unknown.join(", "),
                    info.encoders.join(", ")
                ),
            ));
        }
        info.encoders.retain(|e| only.contains(e));
    }
    Ok(info)
}

/// The transfer token is checked before anything is claimed: a host the endpoint does not know
/// (or knows by another name) would fail every job it took.
fn check_token(client: &mediaforce::transfer::TransferClient, name: &str) -> Result<()> {
    let known = client
        .whoami()
        .map_err(|e| AppError::new(ErrorKind::Unauthenticated, format!("host {name}: {e}")))?;
    if known != name {
        return Err(AppError::new(
            ErrorKind::Refused,
            format!(
                "host {name}: the token given is host {known}'s; run this worker as --name {known} or issue one with: mediaforce hosts token {name}"
            ),
        ));
    }
    Ok(())
}

/// One `mediaforce worker` while it runs: what its slots share.
struct Worker<'a> {
    info: HostInfo,
    /// The host's row as of its last heartbeat (the operator's settings read back).
    latest: std::sync::Mutex<HostRow>,
    queue: String,
    options: StageOptions,
    opts: &'a WorkerOptions,
    cancel: &'a AtomicBool,
    reporter: &'a dyn Reporter,
    done: AtomicUsize,
    failed: AtomicUsize,
    left: AtomicUsize,
    /// Another slot failed, or the host lost its name: every slot stops.
    stop: AtomicBool,
    failure: std::sync::Mutex<Option<AppError>>,
}

impl Worker<'_> {
    /// Keep the host's row fresh (every 5 s, so a host busy for hours stays live and keeps its
    /// name) and read back the operator's settings, until `finished`; losing the name stops
    /// the worker.
    fn keep_alive(&self, hosts: &Hosts, finished: &AtomicBool) {
        let mut last = Instant::now();
        while !finished.load(Ordering::Relaxed) {
            if last.elapsed() >= Duration::from_secs(5) {
                last = Instant::now();
                match hosts.heartbeat(&self.info) {
                    Ok(row) => *self.latest.lock().expect("host lock") = row,
                    Err(
                        e @ (HostError::Lost(_) | HostError::Removed(_) | HostError::NotFound(_)),
                    ) => {
                        self.stop.store(true, Ordering::Relaxed);
                        *self.failure.lock().expect("failure lock") = Some(e.into());
                    }
                    // A database blip: the next beat tries again.
                    Err(_) => {}
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn host(&self) -> HostRow {
        self.latest.lock().expect("host lock").clone()
    }

    /// One slot: the claim loop with this host's gate, until idle, stopped or drained.
    fn run_slot(&self, slot: usize) -> Result<()> {
        let mut store = mediaforce::store::open(&self.queue).map_err(store_error)?;
        let catalog = mediaforce::catalog::Catalog::open_location(&self.queue)?;
        let spec = ClaimLoop {
            worker: slot_name(&self.info.name, slot),
            kinds: Vec::new(),
            capabilities: Some(self.info.encoders.clone()),
            // Idle: nothing claimable, and nothing queued or running on any host that this one
            // could run (a job waiting out a backoff, or held by a host that may still lose
            // it, keeps it waiting).
            until: Until::Idle(self.opts.exit_when_idle),
            cancel: self.cancel,
            poll: Duration::from_millis(250),
        };
        run_claims(
            store.as_mut(),
            &spec,
            &mut |store: &mut dyn JobStore| self.gate(store, slot),
            &mut |store: &mut dyn JobStore, lease: Lease| self.run_job(store, &catalog, lease),
        )
    }

    /// What a slot may do now: stop (the host drains, or the worker stops), wait (paused, or
    /// the slot is over the host's limit), or claim (outside the host's window, only urgent
    /// jobs, and it does not end as idle there).
    fn gate(&self, store: &mut dyn JobStore, slot: usize) -> Result<Gate> {
        let host = self.host();
        if self.stop.load(Ordering::Relaxed) || host.state == HostState::Draining {
            return Ok(Gate::Stop);
        }
        // A schedule that does not parse holds the host (it was checked when set; a newer
        // build's syntax is not guessed at).
        let in_window = host
            .schedule
            .parse::<mediaforce::schedule::Schedule>()
            .is_ok_and(|s| s.allows_now());
        let guarded = self
            .opts
            .hold
            .as_ref()
            .is_some_and(|h| h.load(Ordering::Relaxed));
        let paused = guarded
            || host.state == HostState::Paused
            || store.queue_paused().map_err(store_error)?;
        let held = paused || !in_window;
        Ok(if paused || slot as u64 >= host.max_jobs {
            Gate::Wait { held }
        } else {
            Gate::Claim {
                min_priority: (!in_window).then_some(mediaforce::store::URGENT),
                held,
            }
        })
    }

    /// Run one claimed job on a thread of its own (the host's priorities are set on it, and a
    /// later, higher priority, which an unprivileged thread cannot take back, starts fresh),
    /// and count how it ended. One job's error (recorded on the job) does not stop the host.
    fn run_job(
        &self,
        store: &mut dyn JobStore,
        catalog: &mediaforce::catalog::Catalog,
        lease: Lease,
    ) -> Result<Next> {
        if !lease.kind.starts_with("stage:") {
            // Only encodes are queued for any host; give anything else back to the process
            // that queued it.
            let _ = store.release(&lease, Duration::from_secs(5));
            self.left.fetch_add(1, Ordering::Relaxed);
            return Ok(Next::Continue);
        }
        let host = self.host();
        let mut options = self.options.clone();
        if options.transfer.is_none() {
            options.paths = host.mappings.clone();
        }
        options.priority = Some((host.nice, host.ionice));
        let (cancel, reporter) = (self.cancel, self.reporter);
        let r = std::thread::scope(|job| {
            job.spawn(|| {
                mediaforce::batch::run_claimed(store, catalog, &lease, &options, cancel, reporter)
            })
            .join()
            .unwrap_or(Err(mediaforce::batch::BatchError::Panicked(lease.job)))
        });
        let counter = match r {
            Ok(Some((_, StageOutcome::Failed { .. }))) => &self.failed,
            Ok(Some((_, StageOutcome::Busy { .. }))) | Ok(None) => &self.left,
            Ok(Some(_)) => &self.done,
            // The store went away under the job (a database restart): nothing failed here;
            // the job returns to the queue when its lease runs out.
            Err(e) if e.store_unavailable() => {
                self.reporter.event(Event::JobFailed {
                    host: host.name.clone(),
                    cause: format!(
                        "job {}: given back, the store is unreachable: {e}",
                        lease.job
                    ),
                });
                &self.left
            }
            Err(e) => {
                self.reporter.event(Event::JobFailed {
                    host: host.name.clone(),
                    cause: format!("job {}: {e}", lease.job),
                });
                &self.failed
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(Next::Continue)
    }
}
