//! mediaforce's shared state, on SQLite (one file, the embedded default) or PostgreSQL (many
//! hosts): one connection type over both ([`sql::Db`]), the job queue that the local
//! `encode --all`, remote workers and the web page share ([`SqlStore`], written once), and the
//! web page's sign-in tables ([`web`]), and every other table mediaforce keeps: the catalog of
//! files and the work done on them ([`catalog`], with the item states of [`domain`]), the
//! measured points ([`point`]) and the probe cache ([`cache`]). Every SQL statement lives in
//! this crate.
//!
//! A job is a row. A worker [claims](JobStore::claim) one with a lease (PostgreSQL: `FOR UPDATE
//! SKIP LOCKED`; SQLite: the same selection inside an immediate transaction), keeps it alive
//! with [heartbeats](JobStore::heartbeat), and every write the job makes (events, the result,
//! a failure) is conditional on the lease's epoch: a worker that lost its lease (expired,
//! re-claimed by another host) can never write again, its late writes are refused as
//! [`StoreError::Fenced`]. An expired lease returns the job to the queue with exponential
//! backoff, recording which worker lost it; cancel and pause are flags a heartbeat reports.
//! Time is the database's clock, so hosts with skewed clocks agree on leases.
//!
//! [`open`] picks the backend from a location: a `postgres://` URL or a SQLite file path. One
//! contract test suite (`tests/contract.rs`) runs against both.

pub mod cache;
pub mod catalog;
pub mod connect;
pub mod db;
pub mod domain;
pub mod hosts;
pub mod point;
mod queue;
pub mod sql;
pub mod web;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) use mediaforce_core as core;
pub use queue::{SqlStore, SCHEMA as QUEUE_SCHEMA};
pub use sql::{create_database, SqlError};

/// The SQLite file that holds the catalog, the queue and the caches in a data directory, so a
/// job's catalog writes can be fenced by its lease in one transaction.
pub fn catalog_file(data_dir: &Path) -> PathBuf {
    data_dir.join("catalog.db")
}

/// Where the store lives: `database` (a `postgres://` URL shared by hosts, from `--database`
/// or `MEDIAFORCE_DATABASE_URL`), else [the SQLite file](catalog_file) in the data directory.
pub fn location(data_dir: &Path, database: Option<&str>) -> String {
    database.map_or_else(
        || catalog_file(data_dir).to_string_lossy().into_owned(),
        str::to_string,
    )
}

/// The lease a job runs under: every write that makes its result visible (the staged file's
/// rename, the item's state, the catalog's rows) is conditional on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    /// The job.
    pub job: i64,
    /// Its lease epoch.
    pub epoch: i64,
}

/// The kinds of failure, for front ends that map them to status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such job.
    NotFound,
    /// The row changed under the caller, or the write was fenced.
    Conflict,
    /// A request the store cannot take.
    Invalid,
    /// The database cannot be reached or is too new.
    Unavailable,
    /// A bug or an unexpected database failure.
    Internal,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The lease this write depends on was lost: the job was re-claimed (a newer epoch) or is
    /// no longer running. The write did not happen.
    #[error("job {job}: lease lost (epoch {epoch} is no longer current); the write was refused")]
    Fenced {
        /// The job.
        job: i64,
        /// The stale epoch.
        epoch: i64,
    },
    /// No such job.
    #[error("job {0}: no such job")]
    NotFound(i64),
    /// A request the store refuses (a state change that does not apply).
    #[error("job {job}: {reason}")]
    Invalid {
        /// The job.
        job: i64,
        /// Why.
        reason: String,
    },
    /// Another job stands in the way (a live job of the same key).
    #[error("job {job}: {reason}")]
    Conflict {
        /// The job.
        job: i64,
        /// Why.
        reason: String,
    },
    /// The database failed, could not be reached, or is newer than this build.
    #[error(transparent)]
    Sql(#[from] SqlError),
}

impl StoreError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Fenced { .. } => ErrorKind::Conflict,
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Invalid { .. } => ErrorKind::Invalid,
            StoreError::Conflict { .. } => ErrorKind::Conflict,
            StoreError::Sql(e) => e.kind,
        }
    }
}

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be claimed (possibly not before a backoff time).
    Queued,
    /// Claimed under a lease.
    Running,
    /// Finished with a result.
    Done,
    /// Failed after its attempts.
    Failed,
    /// Cancelled by the operator.
    Cancelled,
}

impl JobState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The state named `s` (`queued`, `running`, `done`, `failed`, `cancelled`).
    pub fn parse(s: &str) -> Option<Self> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|j| j.as_str() == s)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewJob {
    /// What to run (`"encode"`, `"validate"`, `"compare"`, `"search"`).
    pub kind: String,
    /// What to run it on, as the job kind defines it.
    pub payload: serde_json::Value,
    /// Higher runs first; among equals, the oldest.
    pub priority: i64,
    /// Attempts before the job fails for good.
    pub max_attempts: i64,
    /// At most one queued or running job has a given key (`"stage:<plan>:<index>"`):
    /// enqueueing it again returns the job already there.
    pub key: Option<String>,
    /// A capability a host must have to run it (an encoder id): hosts without it never claim
    /// it.
    pub requires: Option<String>,
}

impl NewJob {
    /// A job of `kind` on `payload`, priority 0, three attempts.
    pub fn new(kind: &str, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            priority: 0,
            max_attempts: 3,
            key: None,
            requires: None,
        }
    }
}

/// A claimed job: what to run and the epoch every write must carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// The job.
    pub job: i64,
    /// Incremented by every claim; writes under an older epoch are refused.
    pub epoch: i64,
    /// The job's kind.
    pub kind: String,
    /// The job's payload.
    pub payload: serde_json::Value,
    /// The worker holding it.
    pub worker: String,
    /// Which attempt this is, from 1.
    pub attempt: i64,
}

/// What a heartbeat reports back: the operator's flags for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Control {
    /// Stop the job; it ends as cancelled.
    pub cancel: bool,
    /// Hold the job between frames until the flag clears.
    pub pause: bool,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRow {
    /// Id.
    pub id: i64,
    /// Kind.
    pub kind: String,
    /// Payload.
    pub payload: serde_json::Value,
    /// State.
    pub state: JobState,
    /// Priority.
    pub priority: i64,
    /// Attempts started.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Current lease epoch.
    pub epoch: i64,
    /// The worker holding (or last holding) it.
    pub worker: Option<String>,
    /// The last failure, with the worker that hit it.
    pub last_error: Option<String>,
    /// The result of a finished job.
    pub result: Option<serde_json::Value>,
    /// Cancel requested.
    pub cancel: bool,
    /// Pause requested.
    pub pause: bool,
}

/// One event a job recorded (progress, a failure, a lost lease), oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobEvent {
    /// Id, increasing: a reader resumes after the last it saw.
    pub id: i64,
    /// The job.
    pub job: i64,
    /// Milliseconds since the Unix epoch, by the database's clock.
    pub at_ms: i64,
    /// The epoch it was written under.
    pub epoch: i64,
    /// What happened (`"progress"`, `"failed"`, `"lease_expired"`...).
    pub kind: String,
    /// Details.
    pub detail: String,
}

/// The priority from which a job bypasses hosts' schedules: the operator's "run now".
pub const URGENT: i64 = 1000;

/// The job queue: one interface, implemented once on both backends ([`SqlStore`]).
/// Jobs that failed for good with one cause on one worker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailedJobs {
    /// The worker slot that last ran them (`host/slot`), or empty.
    pub worker: String,
    /// The kind's verb (`stage`, `validate`, `notify`...).
    pub kind: String,
    /// The first 120 characters of the error.
    pub cause: String,
    /// Jobs.
    pub jobs: u64,
}

pub trait JobStore: Send {
    /// Add a job to the queue; returns its id (the id of the queued or running job with the
    /// same key, when there is one).
    fn enqueue(&mut self, job: &NewJob) -> Result<i64>;
    /// Claim the next runnable job of one of `kinds` (all kinds when empty): highest priority,
    /// then oldest; none until its backoff has passed. The lease lasts `lease`.
    fn claim(&mut self, worker: &str, kinds: &[&str], lease: Duration) -> Result<Option<Lease>> {
        self.claim_capable(worker, kinds, None, lease)
    }
    /// [`claim`](Self::claim) for a host with `capabilities` (`None`: any): a job that
    /// requires one the host lacks is skipped inside the claim, never taken and given back.
    fn claim_capable(
        &mut self,
        worker: &str,
        kinds: &[&str],
        capabilities: Option<&[&str]>,
        lease: Duration,
    ) -> Result<Option<Lease>> {
        self.claim_filtered(worker, kinds, capabilities, None, lease)
    }
    /// [`claim_capable`](Self::claim_capable) taking only jobs of at least `min_priority`
    /// (`None`: any): a host outside its schedule claims only [`URGENT`] jobs.
    fn claim_filtered(
        &mut self,
        worker: &str,
        kinds: &[&str],
        capabilities: Option<&[&str]>,
        min_priority: Option<i64>,
        lease: Duration,
    ) -> Result<Option<Lease>>;
    /// Change a queued or running job's priority (higher is claimed first; [`URGENT`] and
    /// above bypass hosts' schedules).
    fn set_priority(&mut self, job: i64, priority: i64) -> Result<()>;
    /// Extend the lease by `lease` from now; returns the operator's flags. Fenced when lost.
    fn heartbeat(&mut self, lease: &Lease, extend: Duration) -> Result<Control>;
    /// Record an event under the lease. Fenced when lost.
    fn event(&mut self, lease: &Lease, kind: &str, detail: &str) -> Result<()>;
    /// Finish the job with its result. Fenced when lost.
    fn complete(&mut self, lease: &Lease, result: &serde_json::Value) -> Result<()>;
    /// The job failed on this attempt: back to the queue after a backoff (doubling from
    /// [`JobStore::backoff`]) while attempts remain, else failed. Returns the state it is in.
    /// Fenced when lost.
    fn fail(&mut self, lease: &Lease, error: &str) -> Result<JobState>;
    /// Give the job back to the queue without using an attempt, claimable again `after` from
    /// now (the worker is stopping for a reason of its own: Ctrl-C, shutting down, or the
    /// item is held by another run). Fenced when lost.
    fn release(&mut self, lease: &Lease, after: Duration) -> Result<()>;
    /// The job was cancelled while running (its worker saw the flag): it ends as cancelled.
    fn finish_cancelled(&mut self, lease: &Lease) -> Result<()>;
    /// Return every job whose lease has expired to the queue (or fail it when out of
    /// attempts), recording which worker lost it. Returns how many.
    fn requeue_expired(&mut self) -> Result<usize>;
    /// Cancel a job: a queued one at once, a running one through its next heartbeat.
    fn cancel(&mut self, job: i64) -> Result<()>;
    /// Set or clear the pause flag of a job.
    fn set_pause(&mut self, job: i64, pause: bool) -> Result<()>;
    /// Pause or resume the whole queue: while paused, workers claim nothing and running jobs
    /// hear `pause` at their next heartbeat (the operator's `mediaforce pause`).
    fn set_queue_paused(&mut self, paused: bool) -> Result<()>;
    /// Whether the whole queue is paused.
    fn queue_paused(&mut self) -> Result<bool>;
    /// Jobs running on any host, plus those queued (waiting out a backoff included) that a
    /// host with `capabilities` could claim (`None`: any queued job): what a worker that exits
    /// when idle still waits for.
    fn live_jobs(&mut self, capabilities: Option<&[&str]>) -> Result<u64>;
    /// Jobs in `state` (every state when `None`), newest first, at most `limit`.
    fn list(&mut self, state: Option<JobState>, limit: usize) -> Result<Vec<JobRow>>;
    /// Put failed jobs back in the queue with fresh attempts; returns how many. Of several
    /// failed jobs with one key only the newest is retried, and none whose key has a live job
    /// (at most one live job per key).
    fn retry_failed(&mut self) -> Result<usize>;
    /// Events of every job after the event id `after`, oldest first, at most `limit`: what a
    /// page following the whole queue reads (and resumes from the last id it saw).
    fn events_since(&mut self, after: i64, limit: usize) -> Result<Vec<JobEvent>>;
    /// The newest event's id (0 when there is none): a live stream starts after it.
    fn last_event_id(&mut self) -> Result<i64>;
    /// How many jobs are in each state (states with none are left out), counted by the
    /// database: what a dashboard shows without reading every job.
    fn counts(&mut self) -> Result<Vec<(JobState, u64)>>;
    /// Jobs by state and kind verb (`stage`, `validate`, `notify`: the kind before `:`).
    fn counts_by_kind(&mut self) -> Result<Vec<(JobState, String, u64)>>;
    /// Jobs that failed for good since `since_ms`, by worker, kind verb and cause (the
    /// error's first 120 characters), most first.
    fn failed_by_cause(&mut self, since_ms: i64) -> Result<Vec<FailedJobs>>;
    /// A job's newest event of `kind`, if any (its latest progress, say), found from the
    /// newest end without reading the others.
    fn latest_event(&mut self, job: i64, kind: &str) -> Result<Option<JobEvent>>;
    /// Delete every failed job and its events; returns how many.
    fn clear_failed(&mut self) -> Result<usize>;
    /// Put a failed or cancelled job back in the queue, with its attempts reset; refused
    /// while another job with its key is queued or running.
    fn retry(&mut self, job: i64) -> Result<()>;
    /// One job.
    fn job(&mut self, job: i64) -> Result<JobRow>;
    /// A job's events after event id `after` (0 for all), oldest first.
    fn events(&mut self, job: i64, after: i64) -> Result<Vec<JobEvent>>;
    /// The first backoff delay after a failure or a lost lease.
    fn backoff(&self) -> Duration;
    /// Set the first backoff delay (tests use a short one).
    fn set_backoff(&mut self, first: Duration);
    /// Run this connection's clock `by` further ahead of the database's: leases it writes and
    /// checks, backoffs and event times all move with it. For tests and simulations: a lease
    /// expires or a backoff passes without waiting.
    fn advance_clock(&mut self, by: Duration);
}

/// Open the store at `location`: a `postgres://` or `postgresql://` URL, or a SQLite file
/// path; the schema is created or migrated, and refused when newer than this build.
pub fn open(location: &str) -> Result<Box<dyn JobStore>> {
    Ok(Box::new(SqlStore::open(location)?))
}

/// Backoff before attempt `attempt + 1` after `attempt` failures: `first` doubled each time,
/// at most an hour.
pub fn backoff_after(first: Duration, attempt: i64) -> Duration {
    let factor = 2u32.saturating_pow(attempt.clamp(1, 20) as u32 - 1);
    first.saturating_mul(factor).min(Duration::from_secs(3600))
}

/// Where a job goes after attempt `attempts` of `max_attempts` failed or lost its lease: back
/// to the queue after [`backoff_after`], or failed for good.
pub(crate) fn after_failure(
    attempts: i64,
    max_attempts: i64,
    first: Duration,
) -> (JobState, Duration) {
    if attempts >= max_attempts {
        (JobState::Failed, Duration::ZERO)
    } else {
        (JobState::Queued, backoff_after(first, attempts))
    }
}

/// A URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{backoff_after, redact};
    use std::time::Duration;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = Duration::from_secs(2);
        assert_eq!(backoff_after(s, 1), Duration::from_secs(2));
        assert_eq!(backoff_after(s, 2), Duration::from_secs(4));
        assert_eq!(backoff_after(s, 4), Duration::from_secs(16));
        assert_eq!(backoff_after(s, 40), Duration::from_secs(3600));
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://mf:secret@db.lan:5432/mediaforce"),
            "postgres://mf@db.lan:5432/mediaforce"
        );
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
    }
}
