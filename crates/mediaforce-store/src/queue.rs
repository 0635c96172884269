//! The job queue, written once on [`Db`] for both backends.
//!
//! A claim is one `UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING ...` in a transaction:
//! on PostgreSQL the selection adds `FOR UPDATE SKIP LOCKED`, so concurrent workers each take a
//! different row without waiting on one another; on SQLite the transaction is `BEGIN
//! IMMEDIATE`, so the selection and the update cannot interleave with another claim (SQLite has
//! one writer at a time; a busy timeout makes the others wait). Everything else is the same
//! statement text on both; the few places they differ are the [`Dialect`]'s.
//!
//! Time is the database's clock ([`Db::now_sql`]), so hosts with skewed clocks agree on leases.
//! Every write under a lease is conditional on its epoch: a worker that lost its lease can
//! never write again (its late writes are refused as [`StoreError::Fenced`]).

use crate::sql::{Backend, Db, Legacy, Row, Schema, Value};
use crate::{
    after_failure, params, Control, JobEvent, JobRow, JobState, JobStore, Lease, NewJob, Result,
    StoreError, URGENT,
};
use std::time::Duration;

/// The queue's schema. Versions carry over from the `store_schema` table that earlier builds
/// kept (read once, kept current for them).
pub const SCHEMA: Schema<'static> = Schema {
    name: "job_queue",
    sqlite: SQLITE,
    postgres: POSTGRES,
    legacy: Legacy::Table("store_schema"),
};

const SQLITE: &[&str] = &[
    "
CREATE TABLE job (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    epoch INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until_ms INTEGER,
    not_before_ms INTEGER NOT NULL DEFAULT 0,
    cancel INTEGER NOT NULL DEFAULT 0 CHECK (cancel IN (0, 1)),
    pause INTEGER NOT NULL DEFAULT 0 CHECK (pause IN (0, 1)),
    last_error TEXT,
    result TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX job_runnable ON job (state, priority DESC, id);
CREATE TABLE job_event (
    id INTEGER PRIMARY KEY,
    job INTEGER NOT NULL REFERENCES job (id) ON DELETE CASCADE,
    at_ms INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
CREATE INDEX job_event_job ON job_event (job, id);
",
    "
ALTER TABLE job ADD COLUMN key TEXT;
CREATE UNIQUE INDEX job_active_key ON job (key) WHERE state IN ('queued', 'running');
",
    "
CREATE TABLE queue_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1))
) STRICT;
INSERT INTO queue_state (id, paused) VALUES (1, 0);
",
    "
ALTER TABLE job ADD COLUMN requires TEXT;
",
    // Job ids are never reused (a cleared job's id could otherwise come back with epoch 1, and
    // a stale worker's fence would match it): the table is rebuilt with AUTOINCREMENT. The
    // events are rebuilt beside it, so that dropping the old job table (with foreign keys on,
    // as every migration runs) cascades to no event.
    "
CREATE TABLE job_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    epoch INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until_ms INTEGER,
    not_before_ms INTEGER NOT NULL DEFAULT 0,
    cancel INTEGER NOT NULL DEFAULT 0 CHECK (cancel IN (0, 1)),
    pause INTEGER NOT NULL DEFAULT 0 CHECK (pause IN (0, 1)),
    last_error TEXT,
    result TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    key TEXT,
    requires TEXT
) STRICT;
INSERT INTO job_new (id, kind, payload, state, priority, attempts, max_attempts, epoch, worker,
    lease_until_ms, not_before_ms, cancel, pause, last_error, result, created_ms, updated_ms,
    key, requires)
SELECT id, kind, payload, state, priority, attempts, max_attempts, epoch, worker,
    lease_until_ms, not_before_ms, cancel, pause, last_error, result, created_ms, updated_ms,
    key, requires FROM job;
CREATE TABLE job_event_new (
    id INTEGER PRIMARY KEY,
    job INTEGER NOT NULL REFERENCES job_new (id) ON DELETE CASCADE,
    at_ms INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
INSERT INTO job_event_new (id, job, at_ms, epoch, kind, detail)
SELECT id, job, at_ms, epoch, kind, detail FROM job_event;
DROP TABLE job_event;
DROP TABLE job;
ALTER TABLE job_new RENAME TO job;
ALTER TABLE job_event_new RENAME TO job_event;
CREATE INDEX job_runnable ON job (state, priority DESC, id);
CREATE UNIQUE INDEX job_active_key ON job (key) WHERE state IN ('queued', 'running');
CREATE INDEX job_event_job ON job_event (job, id);
",
];

const POSTGRES: &[&str] = &[
    "
CREATE TABLE job (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    priority BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts BIGINT NOT NULL CHECK (max_attempts >= 1),
    epoch BIGINT NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until_ms BIGINT,
    not_before_ms BIGINT NOT NULL DEFAULT 0,
    cancel BOOLEAN NOT NULL DEFAULT FALSE,
    pause BOOLEAN NOT NULL DEFAULT FALSE,
    last_error TEXT,
    result TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX job_runnable ON job (state, priority DESC, id);
CREATE TABLE job_event (
    id BIGSERIAL PRIMARY KEY,
    job BIGINT NOT NULL REFERENCES job (id) ON DELETE CASCADE,
    at_ms BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX job_event_job ON job_event (job, id);
",
    "
ALTER TABLE job ADD COLUMN key TEXT;
CREATE UNIQUE INDEX job_active_key ON job (key) WHERE state IN ('queued', 'running');
",
    "
CREATE TABLE queue_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    paused BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO queue_state (id, paused) VALUES (1, FALSE);
",
    "
ALTER TABLE job ADD COLUMN requires TEXT;
",
];

/// Where the two backends' statements differ, and the clock they read.
#[derive(Debug, Clone)]
struct Dialect {
    /// The database's clock in milliseconds, plus this connection's [offset](JobStore::advance_clock).
    now: String,
    /// Appended to a selection of rows the transaction then changes: PostgreSQL locks them
    /// (skipping rows another claim holds); SQLite's immediate transaction already excludes
    /// every other writer.
    lock: &'static str,
    /// Like `lock`, but waiting for a row another transaction holds.
    lock_wait: &'static str,
}

impl Dialect {
    fn of(db: &Db, offset_ms: i64) -> Self {
        let now = if offset_ms == 0 {
            db.now_sql().to_string()
        } else {
            format!("({} + {offset_ms})", db.now_sql())
        };
        match db.backend() {
            Backend::Sqlite => Self {
                now,
                lock: "",
                lock_wait: "",
            },
            Backend::Postgres => Self {
                now,
                lock: " FOR UPDATE SKIP LOCKED",
                lock_wait: " FOR UPDATE",
            },
        }
    }
}

/// `?{first}, ?{first + 1}, ...` for `n` parameters.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The condition that a queued job's requirement is one of `capabilities` (a job without one
/// runs anywhere), with its parameters numbered from `first`.
fn capable(first: usize, capabilities: &[&str]) -> String {
    if capabilities.is_empty() {
        " AND requires IS NULL".into()
    } else {
        format!(
            " AND (requires IS NULL OR requires IN ({}))",
            placeholders(first, capabilities.len())
        )
    }
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

const JOB_COLUMNS: &str = "id, kind, payload, state, priority, attempts, max_attempts, epoch, \
     worker, last_error, result, cancel, pause";

fn job_from_row(r: &Row) -> JobRow {
    JobRow {
        id: r.int(0),
        kind: r.text(1),
        payload: serde_json::from_str(&r.text(2)).unwrap_or(serde_json::Value::Null),
        // The CHECK constraint admits only the five names.
        state: JobState::parse(&r.text(3)).unwrap_or(JobState::Failed),
        priority: r.int(4),
        attempts: r.int(5),
        max_attempts: r.int(6),
        epoch: r.int(7),
        worker: r.opt_text(8),
        last_error: r.opt_text(9),
        result: r.opt_text(10).and_then(|s| serde_json::from_str(&s).ok()),
        cancel: r.flag(11),
        pause: r.flag(12),
    }
}

const EVENT_COLUMNS: &str = "id, job, at_ms, epoch, kind, detail";

fn event_from_row(r: &Row) -> JobEvent {
    JobEvent {
        id: r.int(0),
        job: r.int(1),
        at_ms: r.int(2),
        epoch: r.int(3),
        kind: r.text(4),
        detail: r.text(5),
    }
}

fn fenced(lease: &Lease) -> StoreError {
    StoreError::Fenced {
        job: lease.job,
        epoch: lease.epoch,
    }
}

/// The job queue in a SQLite file or a PostgreSQL database.
#[derive(Debug)]
pub struct SqlStore {
    db: Db,
    dialect: Dialect,
    /// How far this connection's clock runs ahead of the database's.
    offset_ms: i64,
    backoff: Duration,
}

impl SqlStore {
    /// Open `location` (a `postgres://` URL or a SQLite file path), creating or migrating the
    /// queue's schema; a schema newer than this build is refused.
    pub fn open(location: &str) -> Result<Self> {
        let db = Db::open(location, &SCHEMA)?;
        Ok(Self {
            dialect: Dialect::of(&db, 0),
            db,
            offset_ms: 0,
            backoff: Duration::from_secs(2),
        })
    }

    /// Record an event of the job at `epoch` (inside the caller's statement sequence).
    fn log(db: &mut Db, d: &Dialect, job: i64, epoch: i64, kind: &str, detail: &str) -> Result<()> {
        db.execute(
            &format!(
                "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                 VALUES (?1, {}, ?2, ?3, ?4)",
                d.now
            ),
            params![job, epoch, kind, detail],
        )?;
        Ok(())
    }

    /// A job that failed or lost its lease: back to the queue after a backoff, or failed for
    /// good when out of attempts (cancelled when cancel was asked), with the event `kind`.
    fn end_attempt(
        db: &mut Db,
        d: &Dialect,
        backoff: Duration,
        (job, epoch, attempts, max_attempts): (i64, i64, i64, i64),
        message: &str,
        kind: &str,
    ) -> Result<JobState> {
        let (state, delay) = after_failure(attempts, max_attempts, backoff);
        db.execute(
            &format!(
                "UPDATE job SET state = CASE WHEN cancel THEN 'cancelled' ELSE ?3 END,
                     last_error = ?4, lease_until_ms = NULL,
                     not_before_ms = {now} + ?5, updated_ms = {now}
                 WHERE id = ?1 AND epoch = ?2",
                now = d.now
            ),
            params![job, epoch, state.as_str(), message, ms(delay)],
        )?;
        Self::log(db, d, job, epoch, kind, message)?;
        Ok(state)
    }

    /// Run `sql` under `lease`; fenced when it changed no row.
    fn under_lease(&mut self, lease: &Lease, sql: &str, extra: &[Value]) -> Result<()> {
        let mut values: Vec<Value> = params![lease.job, lease.epoch].to_vec();
        values.extend_from_slice(extra);
        if self.db.execute(sql, &values)? == 0 {
            return Err(fenced(lease));
        }
        Ok(())
    }
}

/// A job kind's verb: `stage:<plan>` is `stage`.
fn verb(kind: &str) -> String {
    kind.split(':').next().unwrap_or_default().to_string()
}

impl JobStore for SqlStore {
    fn enqueue(&mut self, job: &NewJob) -> Result<i64> {
        let now = self.dialect.now.clone();
        // The key's live job, when there is one, comes back from the conflict's update: one
        // statement, so that job cannot finish in between.
        let row = self.db.query_opt(
            &format!(
                "INSERT INTO job
                     (kind, payload, state, priority, max_attempts, key, requires, created_ms,
                      updated_ms)
                 VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, {now}, {now})
                 ON CONFLICT (key) WHERE state IN ('queued', 'running')
                 DO UPDATE SET key = excluded.key
                 RETURNING id"
            ),
            params![
                job.kind.as_str(),
                job.payload.to_string(),
                job.priority,
                job.max_attempts.max(1),
                job.key.clone(),
                job.requires.clone()
            ],
        )?;
        row.map(|r| r.int(0)).ok_or(StoreError::Invalid {
            job: 0,
            reason: "the queue returned no id for an enqueued job".into(),
        })
    }

    fn claim_filtered(
        &mut self,
        worker: &str,
        kinds: &[&str],
        capabilities: Option<&[&str]>,
        min_priority: Option<i64>,
        lease: Duration,
    ) -> Result<Option<Lease>> {
        let d = self.dialect.clone();
        let mut values: Vec<Value> = params![worker, ms(lease)].to_vec();
        let of_kind = if kinds.is_empty() {
            String::new()
        } else {
            format!(
                " AND kind IN ({})",
                placeholders(values.len() + 1, kinds.len())
            )
        };
        values.extend(kinds.iter().map(|k| Value::from(*k)));
        let able = capabilities.map_or(String::new(), |c| capable(values.len() + 1, c));
        values.extend(
            capabilities
                .unwrap_or_default()
                .iter()
                .map(|k| Value::from(*k)),
        );
        // An integer, not a parameter: PostgreSQL could not tell its type in `>=` alone.
        let urgent = min_priority.map_or(String::new(), |p| format!(" AND priority >= {p}"));
        let take = format!(
            "UPDATE job SET state = 'running', epoch = epoch + 1, attempts = attempts + 1,
                 worker = ?1, lease_until_ms = {now} + ?2, updated_ms = {now}
             WHERE id = (
                 SELECT id FROM job
                 WHERE state = 'queued' AND not_before_ms <= {now}{of_kind}{able}{urgent}
                 ORDER BY priority DESC, id
                 LIMIT 1{lock})
             RETURNING id, epoch, kind, payload, attempts",
            now = d.now,
            lock = d.lock,
        );
        self.db.transaction(|db| {
            let Some(r) = db.query_opt(&take, &values)? else {
                return Ok(None);
            };
            let (id, epoch, attempt) = (r.int(0), r.int(1), r.int(4));
            let detail = format!("by {worker}, attempt {attempt}");
            Self::log(db, &d, id, epoch, "claimed", &detail)?;
            Ok(Some(Lease {
                job: id,
                epoch,
                kind: r.text(2),
                payload: serde_json::from_str(&r.text(3)).unwrap_or(serde_json::Value::Null),
                worker: worker.into(),
                attempt,
            }))
        })
    }

    fn heartbeat(&mut self, lease: &Lease, extend: Duration) -> Result<Control> {
        let now = self.dialect.now.clone();
        let row = self.db.query_opt(
            &format!(
                "UPDATE job SET lease_until_ms = {now} + ?3, updated_ms = {now}
                 WHERE id = ?1 AND epoch = ?2 AND state = 'running'
                 RETURNING cancel,
                     pause OR COALESCE((SELECT paused FROM queue_state WHERE id = 1), FALSE)"
            ),
            params![lease.job, lease.epoch, ms(extend)],
        )?;
        let r = row.ok_or_else(|| fenced(lease))?;
        Ok(Control {
            cancel: r.flag(0),
            pause: r.flag(1),
        })
    }

    fn event(&mut self, lease: &Lease, kind: &str, detail: &str) -> Result<()> {
        let sql = format!(
            "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
             SELECT ?1, {}, ?2, ?3, ?4
             WHERE EXISTS (SELECT 1 FROM job WHERE id = ?1 AND epoch = ?2 AND state = 'running')",
            self.dialect.now
        );
        self.under_lease(lease, &sql, params![kind, detail])
    }

    fn complete(&mut self, lease: &Lease, result: &serde_json::Value) -> Result<()> {
        let d = self.dialect.clone();
        self.db.transaction(|db| {
            let n = db.execute(
                &format!(
                    "UPDATE job SET state = 'done', result = ?3, lease_until_ms = NULL,
                         updated_ms = {}
                     WHERE id = ?1 AND epoch = ?2 AND state = 'running'",
                    d.now
                ),
                params![lease.job, lease.epoch, result.to_string()],
            )?;
            if n == 0 {
                return Err(fenced(lease));
            }
            // Pages that follow the event stream see the job end.
            let detail = format!("on {}", lease.worker);
            Self::log(db, &d, lease.job, lease.epoch, "completed", &detail)
        })
    }

    fn fail(&mut self, lease: &Lease, error: &str) -> Result<JobState> {
        let (d, backoff) = (self.dialect.clone(), self.backoff);
        self.db.transaction(|db| {
            let Some(r) = db.query_opt(
                &format!(
                    "SELECT attempts, max_attempts FROM job
                     WHERE id = ?1 AND epoch = ?2 AND state = 'running'{}",
                    d.lock_wait
                ),
                params![lease.job, lease.epoch],
            )?
            else {
                return Err(fenced(lease));
            };
            let message = format!("{} (on {}, attempt {})", error, lease.worker, lease.attempt);
            let attempt = (lease.job, lease.epoch, r.int(0), r.int(1));
            Self::end_attempt(db, &d, backoff, attempt, &message, "failed")
        })
    }

    fn release(&mut self, lease: &Lease, after: Duration) -> Result<()> {
        let sql = format!(
            "UPDATE job SET state = CASE WHEN cancel THEN 'cancelled' ELSE 'queued' END,
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                 lease_until_ms = NULL, not_before_ms = {now} + ?3, updated_ms = {now}
             WHERE id = ?1 AND epoch = ?2 AND state = 'running'",
            now = self.dialect.now
        );
        self.under_lease(lease, &sql, params![ms(after)])
    }

    fn finish_cancelled(&mut self, lease: &Lease) -> Result<()> {
        let sql = format!(
            "UPDATE job SET state = 'cancelled', lease_until_ms = NULL, updated_ms = {}
             WHERE id = ?1 AND epoch = ?2 AND state = 'running'",
            self.dialect.now
        );
        self.under_lease(lease, &sql, &[])
    }

    fn requeue_expired(&mut self) -> Result<usize> {
        let (d, backoff) = (self.dialect.clone(), self.backoff);
        self.db.transaction(|db| {
            let expired = db.query(
                &format!(
                    "SELECT id, epoch, attempts, max_attempts, worker FROM job
                     WHERE state = 'running' AND lease_until_ms < {}{}",
                    d.now, d.lock
                ),
                &[],
            )?;
            for r in &expired {
                let message = format!(
                    "lease expired on {} (attempt {})",
                    r.opt_text(4).as_deref().unwrap_or("an unknown worker"),
                    r.int(2)
                );
                let attempt = (r.int(0), r.int(1), r.int(2), r.int(3));
                Self::end_attempt(db, &d, backoff, attempt, &message, "lease_expired")?;
            }
            Ok(expired.len())
        })
    }

    fn cancel(&mut self, job: i64) -> Result<()> {
        let d = self.dialect.clone();
        self.db.transaction(|db| {
            let state = db
                .query_opt(
                    &format!("SELECT state FROM job WHERE id = ?1{}", d.lock_wait),
                    params![job],
                )?
                .ok_or(StoreError::NotFound(job))?
                .text(0);
            let sql = match state.as_str() {
                "queued" => format!(
                    "UPDATE job SET state = 'cancelled', updated_ms = {} WHERE id = ?1",
                    d.now
                ),
                "running" => format!(
                    "UPDATE job SET cancel = TRUE, updated_ms = {} WHERE id = ?1",
                    d.now
                ),
                s => {
                    return Err(StoreError::Invalid {
                        job,
                        reason: format!("it is {s}; only a queued or running job can be cancelled"),
                    })
                }
            };
            db.execute(&sql, params![job])?;
            Ok(())
        })
    }

    fn set_pause(&mut self, job: i64, pause: bool) -> Result<()> {
        let n = self.db.execute(
            &format!(
                "UPDATE job SET pause = ?2, updated_ms = {} WHERE id = ?1",
                self.dialect.now
            ),
            params![job, pause],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(job));
        }
        Ok(())
    }

    fn set_queue_paused(&mut self, paused: bool) -> Result<()> {
        self.db.execute(
            "UPDATE queue_state SET paused = ?1 WHERE id = 1",
            params![paused],
        )?;
        Ok(())
    }

    fn queue_paused(&mut self) -> Result<bool> {
        Ok(self
            .db
            .query_opt("SELECT paused FROM queue_state WHERE id = 1", &[])?
            .is_some_and(|r| r.flag(0)))
    }

    fn live_jobs(&mut self, capabilities: Option<&[&str]>) -> Result<u64> {
        let able = capabilities.map_or(String::new(), |c| capable(1, c));
        let values: Vec<Value> = capabilities
            .unwrap_or_default()
            .iter()
            .map(|k| Value::from(*k))
            .collect();
        let n = self
            .db
            .query_opt(
                &format!(
                    "SELECT COUNT(*) FROM job
                     WHERE state = 'running' OR (state = 'queued'{able})"
                ),
                &values,
            )?
            .map_or(0, |r| r.int(0));
        Ok(n as u64)
    }

    fn list(&mut self, state: Option<JobState>, limit: usize) -> Result<Vec<JobRow>> {
        let rows = match state {
            Some(s) => self.db.query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM job WHERE state = ?1 ORDER BY id DESC LIMIT ?2"
                ),
                params![s.as_str(), limit],
            )?,
            None => self.db.query(
                &format!("SELECT {JOB_COLUMNS} FROM job ORDER BY id DESC LIMIT ?1"),
                params![limit],
            )?,
        };
        Ok(rows.iter().map(job_from_row).collect())
    }

    fn retry_failed(&mut self) -> Result<usize> {
        let n = self.db.execute(
            &format!(
                "UPDATE job SET state = 'queued', attempts = 0, cancel = FALSE, pause = FALSE,
                     not_before_ms = 0, lease_until_ms = NULL, updated_ms = {}
                 WHERE state = 'failed' AND (key IS NULL OR (
                     NOT EXISTS (SELECT 1 FROM job j
                                 WHERE j.key = job.key AND j.state IN ('queued', 'running'))
                     AND id = (SELECT MAX(j.id) FROM job j
                               WHERE j.key = job.key AND j.state = 'failed')))",
                self.dialect.now
            ),
            &[],
        )?;
        Ok(n as usize)
    }

    fn events_since(&mut self, after: i64, limit: usize) -> Result<Vec<JobEvent>> {
        let rows = self.db.query(
            &format!("SELECT {EVENT_COLUMNS} FROM job_event WHERE id > ?1 ORDER BY id LIMIT ?2"),
            params![after, limit],
        )?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    fn last_event_id(&mut self) -> Result<i64> {
        Ok(self
            .db
            .query_opt(
                "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM job_event",
                &[],
            )?
            .map_or(0, |r| r.int(0)))
    }

    fn counts(&mut self) -> Result<Vec<(JobState, u64)>> {
        let rows = self.db.query(
            "SELECT state, COUNT(*) FROM job GROUP BY state ORDER BY state",
            &[],
        )?;
        // The CHECK constraint admits only the five names.
        Ok(rows
            .iter()
            .filter_map(|r| Some((JobState::parse(&r.text(0))?, r.int(1) as u64)))
            .collect())
    }

    fn counts_by_kind(&mut self) -> Result<Vec<(JobState, String, u64)>> {
        let rows = self.db.query(
            "SELECT state, kind, COUNT(*) FROM job GROUP BY state, kind",
            &[],
        )?;
        // Kinds carry their plan (`stage:<plan>`): summed by verb here.
        let mut by: std::collections::BTreeMap<(String, String), u64> = Default::default();
        for r in &rows {
            let verb = verb(&r.text(1));
            *by.entry((r.text(0), verb)).or_default() += r.int(2) as u64;
        }
        Ok(by
            .into_iter()
            .filter_map(|((state, kind), n)| Some((JobState::parse(&state)?, kind, n)))
            .collect())
    }

    fn failed_by_cause(&mut self, since_ms: i64) -> Result<Vec<crate::FailedJobs>> {
        let rows = self.db.query(
            "SELECT COALESCE(worker, ''), kind, substr(COALESCE(last_error, ''), 1, 400) AS cause,
                    COUNT(*)
             FROM job WHERE state = 'failed' AND updated_ms >= ?1
             GROUP BY COALESCE(worker, ''), kind, cause",
            params![since_ms],
        )?;
        let mut by: std::collections::BTreeMap<(String, String, String), u64> = Default::default();
        for r in &rows {
            // The error without the `(on HOST, attempt N)` the queue adds, so one cause is one
            // row whatever attempt it ended.
            let error = r.text(2);
            let cause = match error.rfind(" (on ") {
                Some(at) if error.ends_with(')') => &error[..at],
                _ => &error,
            };
            let cause: String = cause.chars().take(120).collect();
            *by.entry((r.text(0), verb(&r.text(1)), cause)).or_default() += r.int(3) as u64;
        }
        let mut out: Vec<crate::FailedJobs> = by
            .into_iter()
            .map(|((worker, kind, cause), jobs)| crate::FailedJobs {
                worker,
                kind,
                cause,
                jobs,
            })
            .collect();
        out.sort_by_key(|f| std::cmp::Reverse(f.jobs));
        Ok(out)
    }

    fn latest_event(&mut self, job: i64, kind: &str) -> Result<Option<JobEvent>> {
        Ok(self
            .db
            .query_opt(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM job_event
                     WHERE job = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1"
                ),
                params![job, kind],
            )?
            .as_ref()
            .map(event_from_row))
    }

    fn clear_failed(&mut self) -> Result<usize> {
        // Events go with their job (ON DELETE CASCADE).
        Ok(self
            .db
            .execute("DELETE FROM job WHERE state = 'failed'", &[])? as usize)
    }

    fn set_priority(&mut self, job: i64, priority: i64) -> Result<()> {
        let n = self.db.execute(
            &format!(
                // An urgent job is also let off the rest of its backoff.
                "UPDATE job SET priority = CAST(?2 AS BIGINT), updated_ms = {},
                     not_before_ms = CASE WHEN CAST(?2 AS BIGINT) >= {URGENT} THEN 0
                                          ELSE not_before_ms END
                 WHERE id = ?1 AND state IN ('queued', 'running')",
                self.dialect.now
            ),
            params![job, priority],
        )?;
        if n == 0 {
            let row = self.job(job)?;
            return Err(StoreError::Invalid {
                job,
                reason: format!(
                    "it is {}; only a queued or running job's priority changes",
                    row.state.as_str()
                ),
            });
        }
        Ok(())
    }

    fn retry(&mut self, job: i64) -> Result<()> {
        let live = self.db.query_opt(
            "SELECT o.id, o.state FROM job o JOIN job j ON o.key = j.key
             WHERE j.id = ?1 AND o.id <> j.id AND o.state IN ('queued', 'running')
             LIMIT 1",
            params![job],
        )?;
        if let Some(r) = live {
            return Err(StoreError::Conflict {
                job,
                reason: format!(
                    "job {} for the same work is {}; cancel it first or let it run",
                    r.int(0),
                    r.text(1)
                ),
            });
        }
        let n = self.db.execute(
            &format!(
                "UPDATE job SET state = 'queued', attempts = 0, cancel = FALSE, pause = FALSE,
                     not_before_ms = 0, updated_ms = {}
                 WHERE id = ?1 AND state IN ('failed', 'cancelled')",
                self.dialect.now
            ),
            params![job],
        )?;
        if n == 0 {
            let row = self.job(job)?;
            return Err(StoreError::Invalid {
                job,
                reason: format!(
                    "it is {}; only a failed or cancelled job is retried",
                    row.state.as_str()
                ),
            });
        }
        Ok(())
    }

    fn job(&mut self, job: i64) -> Result<JobRow> {
        self.db
            .query_opt(
                &format!("SELECT {JOB_COLUMNS} FROM job WHERE id = ?1"),
                params![job],
            )?
            .map(|r| job_from_row(&r))
            .ok_or(StoreError::NotFound(job))
    }

    fn events(&mut self, job: i64, after: i64) -> Result<Vec<JobEvent>> {
        let rows = self.db.query(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM job_event WHERE job = ?1 AND id > ?2 ORDER BY id"
            ),
            params![job, after],
        )?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    fn backoff(&self) -> Duration {
        self.backoff
    }

    fn set_backoff(&mut self, first: Duration) {
        self.backoff = first;
    }

    fn advance_clock(&mut self, by: Duration) {
        self.offset_ms = self.offset_ms.saturating_add(ms(by));
        self.dialect = Dialect::of(&self.db, self.offset_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::{capable, placeholders};

    #[test]
    fn parameter_lists_are_numbered_from_where_they_start() {
        assert_eq!(placeholders(3, 2), "?3, ?4");
        assert_eq!(placeholders(1, 0), "");
        assert_eq!(capable(2, &[]), " AND requires IS NULL");
        assert_eq!(
            capable(2, &["gpu", "x265"]),
            " AND (requires IS NULL OR requires IN (?2, ?3))"
        );
    }
}
