//! The job queue in one SQLite file: claims in immediate transactions (SQLite has one writer at
//! a time, so the selection and the update cannot interleave with another claim), a busy
//! timeout so concurrent workers wait instead of failing, WAL so readers never block.

use crate::{
    after_failure, Control, JobEvent, JobRow, JobState, JobStore, Lease, NewJob, Result,
    StoreError, URGENT,
};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `migrations[i]` moves the schema from version `i` to `i + 1` (table `store_schema`, so the
/// queue can share a file with the catalog, which keeps `PRAGMA user_version`).
const MIGRATIONS: &[&str] = &[
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
    // Job ids are never reused (a cleared job's id could otherwise come back with epoch 1,
    // and a stale worker's fence would match it): the table is rebuilt with AUTOINCREMENT.
    // Foreign keys are off while it runs (see `SqliteStore::open`), so the events stay.
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
DROP TABLE job;
ALTER TABLE job_new RENAME TO job;
CREATE INDEX job_runnable ON job (state, priority DESC, id);
CREATE UNIQUE INDEX job_active_key ON job (key) WHERE state IN ('queued', 'running');
",
];

/// The database's clock in milliseconds.
/// An event row (`id, job, at_ms, epoch, kind, detail`).
fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobEvent> {
    Ok(JobEvent {
        id: r.get(0)?,
        job: r.get(1)?,
        at_ms: r.get(2)?,
        epoch: r.get(3)?,
        kind: r.get(4)?,
        detail: r.get(5)?,
    })
}

const NOW: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// The job queue in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    backoff: Duration,
}

impl SqliteStore {
    /// Open (creating and migrating) the store in the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let location = path.display().to_string();
        let err = |source| StoreError::Sqlite {
            location: location.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(crate::sql::busy_timeout()).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let read_version = |c: &Connection| -> rusqlite::Result<i64> {
            c.execute_batch("CREATE TABLE IF NOT EXISTS store_schema (version INTEGER NOT NULL)")?;
            Ok(
                c.query_row("SELECT version FROM store_schema", [], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0),
            )
        };
        let known = MIGRATIONS.len() as i64;
        let too_new = |found| StoreError::TooNew {
            location: location.clone(),
            found,
            known,
        };
        let version = read_version(&conn).map_err(err)?;
        if version > known {
            return Err(too_new(version));
        }
        if version < known {
            // A migration may rebuild a table that others reference; foreign keys can only be
            // switched off outside a transaction, and are checked again after it.
            conn.pragma_update(None, "foreign_keys", "OFF")
                .map_err(err)?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            // Another process may have migrated while this one waited for the lock.
            let now = read_version(&tx).map_err(err)?;
            if now > known {
                return Err(too_new(now));
            }
            for m in &MIGRATIONS[now.clamp(0, known) as usize..] {
                tx.execute_batch(m).map_err(err)?;
            }
            tx.execute("DELETE FROM store_schema", []).map_err(err)?;
            tx.execute("INSERT INTO store_schema (version) VALUES (?1)", [known])
                .map_err(err)?;
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check(job_event)", [], |r| r.get(0))
                .optional()
                .map_err(err)?;
            if let Some(table) = broken {
                return Err(StoreError::Invalid {
                    job: 0,
                    reason: format!(
                        "{location}: rebuilding the job table left dangling references in {table}"
                    ),
                });
            }
            tx.commit().map_err(err)?;
            conn.pragma_update(None, "foreign_keys", "ON")
                .map_err(err)?;
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            backoff: Duration::from_secs(2),
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            location: self.path.display().to_string(),
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

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    let text = |i: usize| -> rusqlite::Result<serde_json::Value> {
        let s: String = r.get(i)?;
        serde_json::from_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    };
    let state: String = r.get(3)?;
    Ok(JobRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        payload: text(2)?,
        state: JobState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unknown job state {state}").into(),
            )
        })?,
        priority: r.get(4)?,
        attempts: r.get(5)?,
        max_attempts: r.get(6)?,
        epoch: r.get(7)?,
        worker: r.get(8)?,
        last_error: r.get(9)?,
        result: r
            .get::<_, Option<String>>(10)?
            .and_then(|s| serde_json::from_str(&s).ok()),
        cancel: r.get::<_, i64>(11)? != 0,
        pause: r.get::<_, i64>(12)? != 0,
    })
}

const JOB_COLUMNS: &str = "id, kind, payload, state, priority, attempts, max_attempts, epoch, \
     worker, last_error, result, cancel, pause";

impl JobStore for SqliteStore {
    fn enqueue(&mut self, job: &NewJob) -> Result<i64> {
        let location = self.path.display().to_string();
        let err = |source| StoreError::Sqlite {
            location: location.clone(),
            source,
        };
        // One transaction: the live job holding the key cannot finish between the two steps.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let sql = format!(
            "INSERT OR IGNORE INTO job
                 (kind, payload, state, priority, max_attempts, key, requires, created_ms,
                  updated_ms)
             VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, {NOW}, {NOW})"
        );
        let n = tx
            .execute(
                &sql,
                params![
                    job.kind,
                    job.payload.to_string(),
                    job.priority,
                    job.max_attempts.max(1),
                    job.key,
                    job.requires
                ],
            )
            .map_err(err)?;
        let id = if n == 0 {
            // The key is taken by a queued or running job: that one stands for this.
            tx.query_row(
                "SELECT id FROM job WHERE key = ?1 AND state IN ('queued', 'running')",
                params![job.key],
                |r| r.get(0),
            )
            .map_err(err)?
        } else {
            tx.last_insert_rowid()
        };
        tx.commit().map_err(err)?;
        Ok(id)
    }

    fn claim_filtered(
        &mut self,
        worker: &str,
        kinds: &[&str],
        capabilities: Option<&[&str]>,
        min_priority: Option<i64>,
        lease: Duration,
    ) -> Result<Option<Lease>> {
        let location = self.path.display().to_string();
        let err = |source| StoreError::Sqlite {
            location: location.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let filter = if kinds.is_empty() {
            String::new()
        } else {
            format!(
                " AND kind IN ({})",
                (0..kinds.len())
                    .map(|i| format!("?{}", i + 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let caps = capabilities.map(|c| serde_json::to_string(c).expect("strings serialise"));
        let capable = if caps.is_some() {
            format!(
                " AND (requires IS NULL OR requires IN (SELECT value FROM json_each(?{})))",
                kinds.len() + 1
            )
        } else {
            String::new()
        };
        // An integer, not a parameter: the numbered parameters above are positional.
        let urgent = min_priority.map_or(String::new(), |p| format!(" AND priority >= {p}"));
        let pick = format!(
            "SELECT id FROM job WHERE state = 'queued' AND not_before_ms <= {NOW}{filter}{capable}{urgent}
             ORDER BY priority DESC, id LIMIT 1"
        );
        let values: Vec<String> = kinds.iter().map(|k| (*k).to_string()).chain(caps).collect();
        let id: Option<i64> = tx
            .query_row(&pick, params_from_iter(values.iter()), |r| r.get(0))
            .optional()
            .map_err(err)?;
        let Some(id) = id else {
            return Ok(None);
        };
        let take = format!(
            "UPDATE job SET state = 'running', epoch = epoch + 1, attempts = attempts + 1,
                 worker = ?2, lease_until_ms = {NOW} + ?3, updated_ms = {NOW}
             WHERE id = ?1 RETURNING epoch, kind, payload, attempts"
        );
        let (epoch, kind, payload, attempt): (i64, String, String, i64) = tx
            .query_row(&take, params![id, worker, lease.as_millis() as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(err)?;
        tx.execute(
            &format!(
                "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                 VALUES (?1, {NOW}, ?2, 'claimed', ?3)"
            ),
            params![id, epoch, format!("by {worker}, attempt {attempt}")],
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
        let sql = format!(
            "UPDATE job SET lease_until_ms = {NOW} + ?3, updated_ms = {NOW}
             WHERE id = ?1 AND epoch = ?2 AND state = 'running'
             RETURNING cancel, pause OR COALESCE((SELECT paused FROM queue_state WHERE id = 1), 0)"
        );
        let flags: Option<(i64, i64)> = self
            .conn
            .query_row(
                &sql,
                params![lease.job, lease.epoch, extend.as_millis() as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let (cancel, pause) = flags.ok_or_else(|| Self::fenced(lease))?;
        Ok(Control {
            cancel: cancel != 0,
            pause: pause != 0,
        })
    }

    fn event(&mut self, lease: &Lease, kind: &str, detail: &str) -> Result<()> {
        let sql = format!(
            "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
             SELECT ?1, {NOW}, ?2, ?3, ?4
             WHERE EXISTS (SELECT 1 FROM job WHERE id = ?1 AND epoch = ?2 AND state = 'running')"
        );
        let n = self
            .conn
            .execute(&sql, params![lease.job, lease.epoch, kind, detail])
            .map_err(self.err())?;
        if n == 0 {
            return Err(Self::fenced(lease));
        }
        Ok(())
    }

    fn complete(&mut self, lease: &Lease, result: &serde_json::Value) -> Result<()> {
        let sql = format!(
            "UPDATE job SET state = 'done', result = ?3, lease_until_ms = NULL, updated_ms = {NOW}
             WHERE id = ?1 AND epoch = ?2 AND state = 'running'"
        );
        let n = self
            .conn
            .execute(&sql, params![lease.job, lease.epoch, result.to_string()])
            .map_err(self.err())?;
        if n == 0 {
            return Err(Self::fenced(lease));
        }
        // Pages that follow the event stream see the job end.
        self.conn
            .execute(
                &format!(
                    "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                     VALUES (?1, {NOW}, ?2, 'completed', ?3)"
                ),
                params![lease.job, lease.epoch, format!("on {}", lease.worker)],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn fail(&mut self, lease: &Lease, error: &str) -> Result<JobState> {
        let row = self.job(lease.job)?;
        if row.epoch != lease.epoch || row.state != JobState::Running {
            return Err(Self::fenced(lease));
        }
        let message = format!("{} (on {}, attempt {})", error, lease.worker, lease.attempt);
        let (state, delay) = after_failure(row.attempts, row.max_attempts, self.backoff);
        let sql = format!(
            "UPDATE job SET state = CASE WHEN cancel = 1 THEN 'cancelled' ELSE ?3 END,
                 last_error = ?4, lease_until_ms = NULL,
                 not_before_ms = {NOW} + ?5, updated_ms = {NOW}
             WHERE id = ?1 AND epoch = ?2 AND state = 'running'"
        );
        let n = self
            .conn
            .execute(
                &sql,
                params![
                    lease.job,
                    lease.epoch,
                    state.as_str(),
                    message,
                    delay.as_millis() as i64
                ],
            )
            .map_err(self.err())?;
        if n == 0 {
            return Err(Self::fenced(lease));
        }
        self.conn
            .execute(
                &format!(
                    "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                     VALUES (?1, {NOW}, ?2, 'failed', ?3)"
                ),
                params![lease.job, lease.epoch, message],
            )
            .map_err(self.err())?;
        Ok(state)
    }

    fn release(&mut self, lease: &Lease, after: Duration) -> Result<()> {
        let sql = format!(
            "UPDATE job SET state = CASE WHEN cancel = 1 THEN 'cancelled' ELSE 'queued' END,
                 attempts = MAX(attempts - 1, 0), lease_until_ms = NULL,
                 not_before_ms = {NOW} + ?3, updated_ms = {NOW}
             WHERE id = ?1 AND epoch = ?2 AND state = 'running'"
        );
        let n = self
            .conn
            .execute(
                &sql,
                params![lease.job, lease.epoch, after.as_millis() as i64],
            )
            .map_err(self.err())?;
        if n == 0 {
            return Err(Self::fenced(lease));
        }
        Ok(())
    }

    fn finish_cancelled(&mut self, lease: &Lease) -> Result<()> {
        let sql = format!(
            "UPDATE job SET state = 'cancelled', lease_until_ms = NULL, updated_ms = {NOW}
             WHERE id = ?1 AND epoch = ?2 AND state = 'running'"
        );
        let n = self
            .conn
            .execute(&sql, params![lease.job, lease.epoch])
            .map_err(self.err())?;
        if n == 0 {
            return Err(Self::fenced(lease));
        }
        Ok(())
    }

    fn requeue_expired(&mut self) -> Result<usize> {
        let location = self.path.display().to_string();
        let err = |source| StoreError::Sqlite {
            location: location.clone(),
            source,
        };
        let backoff = self.backoff;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let expired: Vec<(i64, i64, i64, i64, Option<String>)> = {
            let mut st = tx
                .prepare(&format!(
                    "SELECT id, epoch, attempts, max_attempts, worker FROM job
                     WHERE state = 'running' AND lease_until_ms < {NOW}"
                ))
                .map_err(err)?;
            let rows = st
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(err)?
        };
        for (id, epoch, attempts, max_attempts, worker) in &expired {
            let message = format!(
                "lease expired on {} (attempt {attempts})",
                worker.as_deref().unwrap_or("an unknown worker")
            );
            let (state, delay) = after_failure(*attempts, *max_attempts, backoff);
            tx.execute(
                &format!(
                    "UPDATE job SET state = CASE WHEN cancel = 1 THEN 'cancelled' ELSE ?3 END,
                         last_error = ?4, lease_until_ms = NULL,
                         not_before_ms = {NOW} + ?5, updated_ms = {NOW}
                     WHERE id = ?1 AND epoch = ?2 AND state = 'running'"
                ),
                params![id, epoch, state.as_str(), message, delay.as_millis() as i64],
            )
            .map_err(err)?;
            tx.execute(
                &format!(
                    "INSERT INTO job_event (job, at_ms, epoch, kind, detail)
                     VALUES (?1, {NOW}, ?2, 'lease_expired', ?3)"
                ),
                params![id, epoch, message],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(expired.len())
    }

    fn cancel(&mut self, job: i64) -> Result<()> {
        let row = self.job(job)?;
        let sql = match row.state {
            JobState::Queued => format!(
                "UPDATE job SET state = 'cancelled', updated_ms = {NOW}
                 WHERE id = ?1 AND state = 'queued'"
            ),
            JobState::Running => format!(
                "UPDATE job SET cancel = 1, updated_ms = {NOW} WHERE id = ?1 AND state = 'running'"
            ),
            s => {
                return Err(StoreError::Invalid {
                    job,
                    reason: format!(
                        "it is {}; only a queued or running job can be cancelled",
                        s.as_str()
                    ),
                })
            }
        };
        let n = self.conn.execute(&sql, params![job]).map_err(self.err())?;
        if n == 0 {
            // It moved on between the read and the write: try again on its new state.
            return self.cancel(job);
        }
        Ok(())
    }

    fn set_pause(&mut self, job: i64, pause: bool) -> Result<()> {
        let n = self
            .conn
            .execute(
                &format!("UPDATE job SET pause = ?2, updated_ms = {NOW} WHERE id = ?1"),
                params![job, i64::from(pause)],
            )
            .map_err(self.err())?;
        if n == 0 {
            return Err(StoreError::NotFound(job));
        }
        Ok(())
    }

    fn set_queue_paused(&mut self, paused: bool) -> Result<()> {
        self.conn
            .execute(
                "UPDATE queue_state SET paused = ?1 WHERE id = 1",
                [i64::from(paused)],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn queue_paused(&mut self) -> Result<bool> {
        self.conn
            .query_row("SELECT paused FROM queue_state WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map(|v| v.unwrap_or(0) != 0)
            .map_err(self.err())
    }

    fn list(&mut self, state: Option<JobState>, limit: usize) -> Result<Vec<JobRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM job WHERE ?1 IS NULL OR state = ?1
                 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map(
                params![state.map(JobState::as_str), limit as i64],
                row_to_job,
            )
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>();
        rows.map_err(self.err())
    }

    fn retry_failed(&mut self) -> Result<usize> {
        self.conn
            .execute(
                &format!(
                    "UPDATE job SET state = 'queued', attempts = 0, cancel = 0, pause = 0,
                         not_before_ms = 0, lease_until_ms = NULL, updated_ms = {NOW}
                     WHERE state = 'failed' AND (key IS NULL OR (
                         NOT EXISTS (SELECT 1 FROM job j
                                     WHERE j.key = job.key AND j.state IN ('queued', 'running'))
                         AND id = (SELECT MAX(j.id) FROM job j
                                   WHERE j.key = job.key AND j.state = 'failed')))"
                ),
                [],
            )
            .map_err(self.err())
    }

    fn clear_failed(&mut self) -> Result<usize> {
        self.conn
            .execute("DELETE FROM job WHERE state = 'failed'", [])
            .map_err(self.err())
    }

    fn live_jobs(&mut self, capabilities: Option<&[&str]>) -> Result<u64> {
        let caps = capabilities.map(|c| serde_json::to_string(c).expect("strings serialise"));
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM job WHERE state = 'running'
                     OR (state = 'queued' AND (?1 IS NULL OR requires IS NULL
                         OR requires IN (SELECT value FROM json_each(?1))))",
                params![caps],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.err())
    }

    fn set_priority(&mut self, job: i64, priority: i64) -> Result<()> {
        let n = self
            .conn
            .execute(
                &format!(
                    // An urgent job is also let off the rest of its backoff.
                    "UPDATE job SET priority = ?2, updated_ms = {NOW},
                         not_before_ms = CASE WHEN ?2 >= {URGENT} THEN 0 ELSE not_before_ms END
                     WHERE id = ?1 AND state IN ('queued', 'running')"
                ),
                params![job, priority],
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
        let live: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT o.id, o.state FROM job o JOIN job j ON o.key = j.key
                 WHERE j.id = ?1 AND o.id <> j.id AND o.state IN ('queued', 'running')",
                params![job],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        if let Some((other, state)) = live {
            return Err(StoreError::Conflict {
                job,
                reason: format!(
                    "job {other} for the same work is {state}; cancel it first or let it run"
                ),
            });
        }
        let n = self
            .conn
            .execute(
                &format!(
                    "UPDATE job SET state = 'queued', attempts = 0, cancel = 0, pause = 0,
                         not_before_ms = 0, updated_ms = {NOW}
                     WHERE id = ?1 AND state IN ('failed', 'cancelled')"
                ),
                params![job],
            )
            .map_err(self.err())?;
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
        self.conn
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM job WHERE id = ?1"),
                params![job],
                row_to_job,
            )
            .optional()
            .map_err(self.err())?
            .ok_or(StoreError::NotFound(job))
    }

    fn events(&mut self, job: i64, after: i64) -> Result<Vec<JobEvent>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, job, at_ms, epoch, kind, detail FROM job_event
                 WHERE job = ?1 AND id > ?2 ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![job, after], event_from_row)
            .map_err(self.err())?;
        let out = rows.collect::<rusqlite::Result<Vec<_>>>();
        out.map_err(self.err())
    }

    fn last_event_id(&mut self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM job_event", [], |r| {
                r.get(0)
            })
            .map_err(self.err())
    }

    fn counts(&mut self) -> Result<Vec<(JobState, u64)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT state, COUNT(*) FROM job GROUP BY state ORDER BY state")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        // The CHECK constraint admits only the five names.
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| Some((JobState::parse(&s)?, n as u64)))
            .collect())
    }

    fn latest_event(&mut self, job: i64, kind: &str) -> Result<Option<JobEvent>> {
        self.conn
            .prepare_cached(
                "SELECT id, job, at_ms, epoch, kind, detail FROM job_event
                 WHERE job = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1",
            )
            .map_err(self.err())?
            .query_row(params![job, kind], event_from_row)
            .optional()
            .map_err(self.err())
    }

    fn events_since(&mut self, after: i64, limit: usize) -> Result<Vec<JobEvent>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, job, at_ms, epoch, kind, detail FROM job_event
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![after, limit as i64], event_from_row)
            .map_err(self.err())?;
        let out = rows.collect::<rusqlite::Result<Vec<_>>>();
        out.map_err(self.err())
    }

    fn backoff(&self) -> Duration {
        self.backoff
    }

    fn set_backoff(&mut self, first: Duration) {
        self.backoff = first;
    }
}
