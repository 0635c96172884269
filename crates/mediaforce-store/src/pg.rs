//! The job queue in PostgreSQL, shared by hosts: a claim is one `UPDATE ... WHERE id = (SELECT
//! ... FOR UPDATE SKIP LOCKED)`, so concurrent workers each take a different row without
//! waiting on one another, and the database's row locks and transactions are the only
//! coordinator.
//!
//! The client is the synchronous `postgres` crate: call it from plain threads (or a blocking
//! task), never from an async runtime's own threads.

use crate::{
    after_failure, redact, Control, JobEvent, JobRow, JobState, JobStore, Lease, NewJob, Result,
    StoreError, URGENT,
};
use postgres::{Client, NoTls, Row};
use std::time::Duration;

/// An event row (`id, job, at_ms, epoch, kind, detail`).
fn event_from_row(r: &postgres::Row) -> JobEvent {
    JobEvent {
        id: r.get(0),
        job: r.get(1),
        at_ms: r.get(2),
        epoch: r.get(3),
        kind: r.get(4),
        detail: r.get(5),
    }
}

/// `MIGRATIONS[i]` moves the schema from version `i` to `i + 1` (table `store_schema`).
const MIGRATIONS: &[&str] = &[
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

/// The database's clock in milliseconds.
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The job queue in a PostgreSQL database.
pub struct PgStore {
    client: Client,
    location: String,
    backoff: Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .finish()
    }
}

impl PgStore {
    /// Connect to `url` (`postgres://user:password@host:port/database`) and create or migrate
    /// the schema; a schema newer than this build is refused.
    pub fn connect(url: &str) -> Result<Self> {
        let location = redact(url);
        let err = |source| StoreError::Postgres {
            location: location.clone(),
            source,
        };
        let mut client = Client::connect(url, NoTls).map_err(err)?;
        let mut tx = client.transaction().map_err(err)?;
        // One migrator at a time across hosts.
        tx.execute("SELECT pg_advisory_xact_lock(7236053)", &[])
            .map_err(err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS store_schema (version BIGINT NOT NULL)")
            .map_err(err)?;
        let version: i64 = tx
            .query_opt("SELECT version FROM store_schema", &[])
            .map_err(err)?
            .map_or(0, |r| r.get(0));
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                location,
                found: version,
                known,
            });
        }
        for m in &MIGRATIONS[version as usize..] {
            tx.batch_execute(m).map_err(err)?;
        }
        if version == 0 {
            tx.execute("INSERT INTO store_schema (version) VALUES ($1)", &[&known])
                .map_err(err)?;
        } else if version < known {
            tx.execute("UPDATE store_schema SET version = $1", &[&known])
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Self {
            client,
            location,
            backoff: Duration::from_secs(2),
        })
    }

    fn err(&self) -> impl Fn(postgres::Error) -> StoreError + '_ {
        move |source| StoreError::Postgres {
            location: self.location.clone(),
            source,
        }
    }

    fn fenced(lease: &Lease) -> StoreError {
        StoreError::Fenced {
            job: lease.job,
            epoch: lease.epoch,
        }
    }
}

/// Create (or empty) the database `name` in the cluster `admin_url` connects to, and return
/// its URL: for test suites and first-time set-up. `name` must be a plain identifier.
pub fn create_database(admin_url: &str, name: &str) -> Result<String> {
    let location = redact(admin_url);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Invalid {
            job: 0,
            reason: format!("'{name}' is not a plain database name"),
        });
    }
    let err = |source| StoreError::Postgres {
        location: location.clone(),
        source,
    };
    let mut client = Client::connect(admin_url, NoTls).map_err(err)?;
    // One statement each: PostgreSQL refuses to drop or create a database in a transaction.
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .map_err(err)?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .map_err(err)?;
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn row_to_job(r: &Row) -> JobRow {
    let state: String = r.get(3);
    JobRow {
        id: r.get(0),
        kind: r.get(1),
        payload: serde_json::from_str(r.get::<_, &str>(2)).unwrap_or(serde_json::Value::Null),
        // The CHECK constraint admits only the five names.
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        priority: r.get(4),
        attempts: r.get(5),
        max_attempts: r.get(6),
        epoch: r.get(7),
        worker: r.get(8),
        last_error: r.get(9),
        result: r
            .get::<_, Option<&str>>(10)
            .and_then(|s| serde_json::from_str(s).ok()),
        cancel: r.get(11),
        pause: r.get(12),
    }
}

const JOB_COLUMNS: &str = "id, kind, payload, state, priority, attempts, max_attempts, epoch, \
     worker, last_error, result, cancel, pause";

impl JobStore for PgStore {
    fn enqueue(&mut self, job: &NewJob) -> Result<i64> {
        let location = self.location.clone();
        let err = |source| StoreError::Postgres {
            location: location.clone(),
            source,
        };
        let row = self
            .client
            .query_opt(
                &format!(
                    "INSERT INTO job
                         (kind, payload, state, priority, max_attempts, key, requires,
                          created_ms, updated_ms)
                     VALUES ($1, $2, 'queued', $3, $4, $5, $6, {NOW}, {NOW})
                     ON CONFLICT (key) WHERE state IN ('queued', 'running')
                     DO UPDATE SET key = EXCLUDED.key
                     RETURNING id"
                ),
                &[
                    &job.kind,
                    &job.payload.to_string(),
                    &job.priority,
                    &job.max_attempts.max(1),
                    &job.key,
                    &job.requires,
                ],
            )
            .map_err(err)?;
        // The key's live job, when there was one, comes back from the conflict's update.
        row.map(|r| r.get(0)).ok_or(StoreError::Invalid {
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
        let location = self.location.clone();
        let err = |source| StoreError::Postgres {
            location: location.clone(),
            source,
        };
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_string()).collect();
        let caps: Option<Vec<String>> =
            capabilities.map(|c| c.iter().map(|k| (*k).to_string()).collect());
        let mut tx = self.client.transaction().map_err(err)?;
        let take = format!(
            "UPDATE job SET state = 'running', epoch = epoch + 1, attempts = attempts + 1,
                 worker = $1, lease_until_ms = {NOW} + $2, updated_ms = {NOW}
             WHERE id = (
                 SELECT id FROM job
                 WHERE state = 'queued' AND not_before_ms <= {NOW}
                   AND (cardinality($3::text[]) = 0 OR kind = ANY($3))
                   AND ($4::text[] IS NULL OR requires IS NULL OR requires = ANY($4))
                   AND ($5::bigint IS NULL OR priority >= $5)
                 ORDER BY priority DESC, id
                 FOR UPDATE SKIP LOCKED
                 LIMIT 1)
             RETURNING id, epoch, kind, payload, attempts"
        );
        let Some(row) = tx
            .query_opt(&take, &[&worker, &ms(lease), &kinds, &caps, &min_priority])
            .map_err(err)?
        else {
            return Ok(None);
        };
        let (id, epoch, kind, payload, attempt): (i64, i64, String, String, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        tx.execute(
            &format!(
                "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                 VALUES ($1, {NOW}, $2, 'claimed', $3)"
            ),
            &[&id, &epoch, &format!("by {worker}, attempt {attempt}")],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Some(Lease {
            job: id,
            epoch,
            kind,
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            worker: worker.into(),
            attempt,
        }))
    }

    fn heartbeat(&mut self, lease: &Lease, extend: Duration) -> Result<Control> {
        let location = self.location.clone();
        let row = self
            .client
            .query_opt(
                &format!(
                    "UPDATE job SET lease_until_ms = {NOW} + $3, updated_ms = {NOW}
                     WHERE id = $1 AND epoch = $2 AND state = 'running'
                     RETURNING cancel,
                         pause OR COALESCE((SELECT paused FROM queue_state WHERE id = 1), FALSE)"
                ),
                &[&lease.job, &lease.epoch, &ms(extend)],
            )
            .map_err(|source| StoreError::Postgres { location, source })?
            .ok_or_else(|| Self::fenced(lease))?;
        Ok(Control {
            cancel: row.get(0),
            pause: row.get(1),
        })
    }

    fn event(&mut self, lease: &Lease, kind: &str, detail: &str) -> Result<()> {
        let location = self.location.clone();
        let n = self
            .client
            .execute(
                &format!(
                    "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                     SELECT $1, {NOW}, $2, $3, $4
                     WHERE EXISTS (SELECT 1 FROM job WHERE id = $1 AND epoch = $2 AND state = 'running')"
                ),
                &[&lease.job, &lease.epoch, &kind, &detail],
            )
            .map_err(|source| StoreError::Postgres { location, source })?;
        if n == 0 {
            return Err(Self::fenced(lease));
        }
        Ok(())
    }

    fn complete(&mut self, lease: &Lease, result: &serde_json::Value) -> Result<()> {
        let location = self.location.clone();
        let n = self
            .client
            .execute(
                &format!(
                    "UPDATE job SET state = 'done', result = $3, lease_until_ms = NULL, updated_ms = {NOW}
                     WHERE id = $1 AND epoch = $2 AND state = 'running'"
                ),
                &[&lease.job, &lease.epoch, &result.to_string()],
            )
            .map_err(|source| StoreError::Postgres {
                location: location.clone(),
                source,
            })?;
        if n == 0 {
            return Err(Self::fenced(lease));
        }
        // Pages that follow the event stream see the job end.
        self.client
            .execute(
                &format!(
                    "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                     VALUES ($1, {NOW}, $2, 'completed', $3)"
                ),
                &[&lease.job, &lease.epoch, &format!("on {}", lease.worker)],
            )
            .map_err(|source| StoreError::Postgres { location, source })?;
        Ok(())
    }

    fn fail(&mut self, lease: &Lease, error: &str) -> Result<JobState> {
        let backoff = self.backoff;
        let location = self.location.clone();
        let err = |source| StoreError::Postgres {
            location: location.clone(),
            source,
        };
        let mut tx = self.client.transaction().map_err(err)?;
        let Some(row) = tx
            .query_opt(
                "SELECT attempts, max_attempts FROM job
                 WHERE id = $1 AND epoch = $2 AND state = 'running' FOR UPDATE",
                &[&lease.job, &lease.epoch],
            )
            .map_err(err)?
        else {
            return Err(Self::fenced(lease));
        };
        let (attempts, max_attempts): (i64, i64) = (row.get(0), row.get(1));
        let message = format!("{} (on {}, attempt {})", error, lease.worker, lease.attempt);
        let (state, delay) = after_failure(attempts, max_attempts, backoff);
        tx.execute(
            &format!(
                "UPDATE job SET state = CASE WHEN cancel THEN 'cancelled' ELSE $3 END,
                     last_error = $4, lease_until_ms = NULL,
                     not_before_ms = {NOW} + $5, updated_ms = {NOW}
                 WHERE id = $1 AND epoch = $2"
            ),
            &[
                &lease.job,
                &lease.epoch,
                &state.as_str(),
                &message,
                &ms(delay),
            ],
        )
        .map_err(err)?;
        tx.execute(
            &format!(
                "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                 VALUES ($1, {NOW}, $2, 'failed', $3)"
            ),
            &[&lease.job, &lease.epoch, &message],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(state)
    }

    fn release(&mut self, lease: &Lease, after: Duration) -> Result<()> {
        let location = self.location.clone();
        let n = self
            .client
            .execute(
                &format!(
                    "UPDATE job SET state = CASE WHEN cancel THEN 'cancelled' ELSE 'queued' END,
                         attempts = GREATEST(attempts - 1, 0), lease_until_ms = NULL,
                         not_before_ms = {NOW} + $3, updated_ms = {NOW}
                     WHERE id = $1 AND epoch = $2 AND state = 'running'"
                ),
                &[&lease.job, &lease.epoch, &ms(after)],
            )
            .map_err(|source| StoreError::Postgres { location, source })?;
        if n == 0 {
            return Err(Self::fenced(lease));
        }
        Ok(())
    }

    fn finish_cancelled(&mut self, lease: &Lease) -> Result<()> {
        let location = self.location.clone();
        let n = self
            .client
            .execute(
                &format!(
                    "UPDATE job SET state = 'cancelled', lease_until_ms = NULL, updated_ms = {NOW}
                     WHERE id = $1 AND epoch = $2 AND state = 'running'"
                ),
                &[&lease.job, &lease.epoch],
            )
            .map_err(|source| StoreError::Postgres { location, source })?;
        if n == 0 {
            return Err(Self::fenced(lease));
        }
        Ok(())
    }

    fn requeue_expired(&mut self) -> Result<usize> {
        let backoff = self.backoff;
        let location = self.location.clone();
        let err = |source| StoreError::Postgres {
            location: location.clone(),
            source,
        };
        let mut tx = self.client.transaction().map_err(err)?;
        let expired = tx
            .query(
                &format!(
                    "SELECT id, epoch, attempts, max_attempts, worker FROM job
                     WHERE state = 'running' AND lease_until_ms < {NOW}
                     FOR UPDATE SKIP LOCKED"
                ),
                &[],
            )
            .map_err(err)?;
        for r in &expired {
            let (id, epoch, attempts, max_attempts, worker): (i64, i64, i64, i64, Option<String>) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            let message = format!(
                "lease expired on {} (attempt {attempts})",
                worker.as_deref().unwrap_or("an unknown worker")
            );
            let (state, delay) = after_failure(attempts, max_attempts, backoff);
            tx.execute(
                &format!(
                    "UPDATE job SET state = CASE WHEN cancel THEN 'cancelled' ELSE $3 END,
                         last_error = $4, lease_until_ms = NULL,
                         not_before_ms = {NOW} + $5, updated_ms = {NOW}
                     WHERE id = $1 AND epoch = $2"
                ),
                &[&id, &epoch, &state.as_str(), &message, &ms(delay)],
            )
            .map_err(err)?;
            tx.execute(
                &format!(
                    "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                     VALUES ($1, {NOW}, $2, 'lease_expired', $3)"
                ),
                &[&id, &epoch, &message],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(expired.len())
    }

    fn cancel(&mut self, job: i64) -> Result<()> {
        let location = self.location.clone();
        let err = |source| StoreError::Postgres {
            location: location.clone(),
            source,
        };
        let mut tx = self.client.transaction().map_err(err)?;
        let state: String = tx
            .query_opt("SELECT state FROM job WHERE id = $1 FOR UPDATE", &[&job])
            .map_err(err)?
            .ok_or(StoreError::NotFound(job))?
            .get(0);
        let sql = match state.as_str() {
            "queued" => {
                format!("UPDATE job SET state = 'cancelled', updated_ms = {NOW} WHERE id = $1")
            }
            "running" => format!("UPDATE job SET cancel = TRUE, updated_ms = {NOW} WHERE id = $1"),
            s => {
                return Err(StoreError::Invalid {
                    job,
                    reason: format!("it is {s}; only a queued or running job can be cancelled"),
                })
            }
        };
        tx.execute(&sql, &[&job]).map_err(err)?;
        tx.commit().map_err(err)
    }

    fn set_pause(&mut self, job: i64, pause: bool) -> Result<()> {
        let location = self.location.clone();
        let n = self
            .client
            .execute(
                &format!("UPDATE job SET pause = $2, updated_ms = {NOW} WHERE id = $1"),
                &[&job, &pause],
            )
            .map_err(|source| StoreError::Postgres { location, source })?;
        if n == 0 {
            return Err(StoreError::NotFound(job));
        }
        Ok(())
    }

    fn set_queue_paused(&mut self, paused: bool) -> Result<()> {
        self.client
            .execute(
                "UPDATE queue_state SET paused = $1 WHERE id = 1",
                &[&paused],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn queue_paused(&mut self) -> Result<bool> {
        Ok(self
            .client
            .query_opt("SELECT paused FROM queue_state WHERE id = 1", &[])
            .map_err(self.err())?
            .is_some_and(|r| r.get(0)))
    }

    fn list(&mut self, state: Option<JobState>, limit: usize) -> Result<Vec<JobRow>> {
        let state = state.map(JobState::as_str);
        Ok(self
            .client
            .query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM job WHERE $1::text IS NULL OR state = $1
                     ORDER BY id DESC LIMIT $2"
                ),
                &[&state, &(limit as i64)],
            )
            .map_err(self.err())?
            .iter()
            .map(row_to_job)
            .collect())
    }

    fn retry_failed(&mut self) -> Result<usize> {
        let n = self
            .client
            .execute(
                &format!(
                    "UPDATE job SET state = 'queued', attempts = 0, cancel = FALSE, pause = FALSE,
                         not_before_ms = 0, lease_until_ms = NULL, updated_ms = {NOW}
                     WHERE state = 'failed' AND (key IS NULL OR (
                         NOT EXISTS (SELECT 1 FROM job j
                                     WHERE j.key = job.key AND j.state IN ('queued', 'running'))
                         AND id = (SELECT MAX(j.id) FROM job j
                                   WHERE j.key = job.key AND j.state = 'failed')))"
                ),
                &[],
            )
            .map_err(self.err())?;
        Ok(n as usize)
    }

    fn clear_failed(&mut self) -> Result<usize> {
        let n = self
            .client
            .execute("DELETE FROM job WHERE state = 'failed'", &[])
            .map_err(self.err())?;
        Ok(n as usize)
    }

    fn live_jobs(&mut self, capabilities: Option<&[&str]>) -> Result<u64> {
        let caps: Option<Vec<String>> =
            capabilities.map(|c| c.iter().map(|k| (*k).to_string()).collect());
        let n: i64 = self
            .client
            .query_one(
                "SELECT COUNT(*) FROM job WHERE state = 'running'
                     OR (state = 'queued' AND ($1::text[] IS NULL OR requires IS NULL
                         OR requires = ANY($1)))",
                &[&caps],
            )
            .map_err(self.err())?
            .get(0);
        Ok(n as u64)
    }

    fn set_priority(&mut self, job: i64, priority: i64) -> Result<()> {
        let n = self
            .client
            .execute(
                &format!(
                    // An urgent job is also let off the rest of its backoff.
                    "UPDATE job SET priority = $2::bigint, updated_ms = {NOW},
                         not_before_ms = CASE WHEN $2::bigint >= {URGENT} THEN 0 ELSE not_before_ms END
                     WHERE id = $1 AND state IN ('queued', 'running')"
                ),
                &[&job, &priority],
            )
            .map_err(self.err())?;
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
        let live = self
            .client
            .query_opt(
                "SELECT o.id, o.state FROM job o JOIN job j ON o.key = j.key
                 WHERE j.id = $1 AND o.id <> j.id AND o.state IN ('queued', 'running')
                 LIMIT 1",
                &[&job],
            )
            .map_err(self.err())?;
        if let Some(r) = live {
            let (other, state): (i64, String) = (r.get(0), r.get(1));
            return Err(StoreError::Conflict {
                job,
                reason: format!(
                    "job {other} for the same work is {state}; cancel it first or let it run"
                ),
            });
        }
        let location = self.location.clone();
        let n = self
            .client
            .execute(
                &format!(
                    "UPDATE job SET state = 'queued', attempts = 0, cancel = FALSE, pause = FALSE,
                         not_before_ms = 0, updated_ms = {NOW}
                     WHERE id = $1 AND state IN ('failed', 'cancelled')"
                ),
                &[&job],
            )
            .map_err(|source| StoreError::Postgres { location, source })?;
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
        let location = self.location.clone();
        self.client
            .query_opt(
                &format!("SELECT {JOB_COLUMNS} FROM job WHERE id = $1"),
                &[&job],
            )
            .map_err(|source| StoreError::Postgres { location, source })?
            .map(|r| row_to_job(&r))
            .ok_or(StoreError::NotFound(job))
    }

    fn events(&mut self, job: i64, after: i64) -> Result<Vec<JobEvent>> {
        let rows = self
            .client
            .query(
                "SELECT id, job, at_ms, epoch, kind, detail FROM job_event
                 WHERE job = $1 AND id > $2 ORDER BY id",
                &[&job, &after],
            )
            .map_err(self.err())?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    fn last_event_id(&mut self) -> Result<i64> {
        Ok(self
            .client
            .query_one("SELECT COALESCE(MAX(id), 0)::bigint FROM job_event", &[])
            .map_err(self.err())?
            .get(0))
    }

    fn counts(&mut self) -> Result<Vec<(JobState, u64)>> {
        let rows = self
            .client
            .query(
                "SELECT state, COUNT(*) FROM job GROUP BY state ORDER BY state",
                &[],
            )
            .map_err(self.err())?;
        // The CHECK constraint admits only the five names.
        Ok(rows
            .iter()
            .filter_map(|r| Some((JobState::parse(r.get(0))?, r.get::<_, i64>(1) as u64)))
            .collect())
    }

    fn latest_event(&mut self, job: i64, kind: &str) -> Result<Option<JobEvent>> {
        Ok(self
            .client
            .query_opt(
                "SELECT id, job, at_ms, epoch, kind, detail FROM job_event
                 WHERE job = $1 AND kind = $2 ORDER BY id DESC LIMIT 1",
                &[&job, &kind],
            )
            .map_err(self.err())?
            .as_ref()
            .map(event_from_row))
    }

    fn events_since(&mut self, after: i64, limit: usize) -> Result<Vec<JobEvent>> {
        let rows = self
            .client
            .query(
                "SELECT id, job, at_ms, epoch, kind, detail FROM job_event
                 WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &(limit as i64)],
            )
            .map_err(self.err())?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    fn backoff(&self) -> Duration {
        self.backoff
    }

    fn set_backoff(&mut self, first: Duration) {
        self.backoff = first;
    }
}
