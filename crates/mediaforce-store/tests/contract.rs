//! One contract for the job queue, run against both backends: SQLite (a temporary file) and
//! PostgreSQL (a fresh database per test in the cluster `scripts/test.sh` starts, named by
//! `MEDIAFORCE_TEST_DATABASE_URL`). Without that variable the PostgreSQL half fails: it never
//! skips.

use mediaforce_store::{
    ErrorKind, JobState, JobStore, NewJob, SqlStore, StoreError, QUEUE_SCHEMA, URGENT,
};
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Opens connections to one store (several, for the concurrency tests).
type Opener = Box<dyn Fn() -> Box<dyn JobStore> + Send + Sync>;

/// A fresh SQLite store; the directory lives as long as the opener.
fn sqlite() -> Opener {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    Box::new(move || {
        Box::new(SqlStore::open(&dir.path().join("store.db").to_string_lossy()).unwrap())
            as Box<dyn JobStore>
    })
}

/// The URL of a new, empty database `mf_<test>_<pid>` in the test cluster.
fn fresh_database(test: &str) -> String {
    let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
        "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
    );
    mediaforce_store::create_database(&admin, &format!("mf_{test}_{}", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot make a test database: {e}"))
}

/// A fresh PostgreSQL database in the test cluster.
fn postgres(test: &str) -> Opener {
    let url = fresh_database(test);
    Box::new(move || Box::new(SqlStore::open(&url).unwrap()) as Box<dyn JobStore>)
}

/// Run `contract` on both backends.
fn both(test: &str, contract: impl Fn(&Opener)) {
    contract(&sqlite());
    contract(&postgres(test));
}

const LEASE: Duration = Duration::from_secs(30);

#[test]
fn claims_follow_priority_then_age_and_kinds() {
    both("order", |open| {
        let mut s = open();
        let a = s
            .enqueue(&NewJob::new("encode", json!({"item": 1})))
            .unwrap();
        let mut urgent = NewJob::new("encode", json!({"item": 2}));
        urgent.priority = 5;
        let b = s.enqueue(&urgent).unwrap();
        let c = s
            .enqueue(&NewJob::new("validate", json!({"item": 3})))
            .unwrap();
        // Only the kinds asked for.
        let v = s.claim("w1", &["validate"], LEASE).unwrap().unwrap();
        assert_eq!((v.job, v.kind.as_str(), v.attempt), (c, "validate", 1));
        let first = s.claim("w1", &[], LEASE).unwrap().unwrap();
        assert_eq!(first.job, b, "priority first");
        assert_eq!(first.payload, json!({"item": 2}));
        let second = s.claim("w1", &["encode"], LEASE).unwrap().unwrap();
        assert_eq!(second.job, a, "then the oldest");
        assert!(s.claim("w1", &[], LEASE).unwrap().is_none());
        // Progress events and the result, under the lease.
        s.event(&second, "progress", "50%").unwrap();
        s.complete(&second, &json!({"bytes": 123})).unwrap();
        let row = s.job(a).unwrap();
        assert_eq!(row.state, JobState::Done);
        assert_eq!(row.result, Some(json!({"bytes": 123})));
        let kinds: Vec<String> = s
            .events(a, 0)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["claimed", "progress", "completed"]);
        // Reading on from the last event seen.
        let all = s.events(a, 0).unwrap();
        assert_eq!(s.events(a, all[0].id).unwrap().len(), 2);
        assert!(matches!(s.job(9999), Err(StoreError::NotFound(9999))));
    });
}

#[test]
fn a_lost_lease_fences_every_late_write_and_the_job_runs_again() {
    both("fence", |open| {
        let mut s = open();
        s.set_backoff(Duration::from_millis(1));
        let id = s.enqueue(&NewJob::new("encode", json!({}))).unwrap();
        // Worker 1 claims with a short lease and goes silent (killed mid-job).
        let old = s
            .claim("host-a", &[], Duration::from_millis(200))
            .unwrap()
            .unwrap();
        s.advance_clock(Duration::from_millis(400));
        assert_eq!(s.requeue_expired().unwrap(), 1);
        let row = s.job(id).unwrap();
        assert_eq!(row.state, JobState::Queued);
        assert!(row.last_error.unwrap().contains("lease expired on host-a"));
        s.advance_clock(Duration::from_millis(20));
        // Worker 2 takes it under a new epoch (its clock at the same moment as this one's).
        let mut other = open();
        other.advance_clock(Duration::from_millis(420));
        let new = other.claim("host-b", &[], LEASE).unwrap().unwrap();
        assert_eq!(new.job, id);
        assert_eq!(new.epoch, old.epoch + 1);
        assert_eq!(new.attempt, 2);
        // Every write worker 1 tries now is refused, and changes nothing.
        for e in [
            s.heartbeat(&old, LEASE).map(|_| ()),
            s.event(&old, "progress", "late"),
            s.complete(&old, &json!({"from": "host-a"})),
            s.fail(&old, "late failure").map(|_| ()),
        ] {
            let err = e.expect_err("a stale epoch must be fenced");
            assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
            assert_eq!(err.kind(), ErrorKind::Conflict);
        }
        other.heartbeat(&new, LEASE).unwrap();
        other.complete(&new, &json!({"from": "host-b"})).unwrap();
        let row = s.job(id).unwrap();
        assert_eq!(row.state, JobState::Done);
        assert_eq!(row.result, Some(json!({"from": "host-b"})));
        assert_eq!(row.worker.as_deref(), Some("host-b"));
        let events = s.events(id, 0).unwrap();
        assert!(events.iter().all(|e| e.detail != "late"));
        assert!(events.iter().any(|e| e.kind == "lease_expired"));
    });
}

#[test]
fn failures_back_off_then_fail_for_good_and_can_be_retried() {
    both("backoff", |open| {
        let mut s = open();
        s.set_backoff(Duration::from_millis(300));
        let mut job = NewJob::new("encode", json!({}));
        job.max_attempts = 2;
        let id = s.enqueue(&job).unwrap();
        let l1 = s.claim("w", &[], LEASE).unwrap().unwrap();
        assert_eq!(s.fail(&l1, "encoder refused").unwrap(), JobState::Queued);
        // Not before the backoff has passed.
        assert!(s.claim("w", &[], LEASE).unwrap().is_none());
        s.advance_clock(Duration::from_millis(450));
        let l2 = s.claim("w", &[], LEASE).unwrap().unwrap();
        assert_eq!(l2.attempt, 2);
        assert_eq!(
            s.fail(&l2, "encoder refused again").unwrap(),
            JobState::Failed
        );
        let row = s.job(id).unwrap();
        assert_eq!(row.state, JobState::Failed);
        assert!(row
            .last_error
            .unwrap()
            .contains("encoder refused again (on w, attempt 2)"));
        assert!(s.claim("w", &[], LEASE).unwrap().is_none());
        s.retry(id).unwrap();
        let l3 = s.claim("w", &[], LEASE).unwrap().unwrap();
        assert_eq!(l3.attempt, 1);
        let err = s.retry(id).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    });
}

#[test]
fn cancel_and_pause_reach_the_worker_through_its_heartbeat() {
    both("control", |open| {
        let mut s = open();
        let queued = s.enqueue(&NewJob::new("encode", json!({}))).unwrap();
        s.cancel(queued).unwrap();
        assert_eq!(s.job(queued).unwrap().state, JobState::Cancelled);
        let running = s.enqueue(&NewJob::new("encode", json!({}))).unwrap();
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        assert_eq!(l.job, running);
        let c = s.heartbeat(&l, LEASE).unwrap();
        assert!(!c.cancel && !c.pause);
        s.set_pause(running, true).unwrap();
        assert!(s.heartbeat(&l, LEASE).unwrap().pause);
        s.set_pause(running, false).unwrap();
        // Pausing the whole queue reaches running jobs too, and is kept until resumed.
        assert!(!s.queue_paused().unwrap());
        s.set_queue_paused(true).unwrap();
        assert!(open().queue_paused().unwrap(), "another connection sees it");
        assert!(s.heartbeat(&l, LEASE).unwrap().pause);
        s.set_queue_paused(false).unwrap();
        assert!(!s.heartbeat(&l, LEASE).unwrap().pause);
        s.cancel(running).unwrap();
        assert_eq!(s.job(running).unwrap().state, JobState::Running);
        assert!(s.heartbeat(&l, LEASE).unwrap().cancel);
        s.finish_cancelled(&l).unwrap();
        assert_eq!(s.job(running).unwrap().state, JobState::Cancelled);
        assert_eq!(s.cancel(running).unwrap_err().kind(), ErrorKind::Invalid);
    });
}

#[test]
fn concurrent_workers_never_run_the_same_job() {
    both("race", |open| {
        let mut s = open();
        let mut ids = HashSet::new();
        for i in 0..60 {
            ids.insert(
                s.enqueue(&NewJob::new("encode", json!({ "n": i })))
                    .unwrap(),
            );
        }
        let claimed = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|scope| {
            for w in 0..4 {
                let claimed = Arc::clone(&claimed);
                let mut store = open();
                scope.spawn(move || {
                    let name = format!("worker-{w}");
                    while let Some(l) = store.claim(&name, &[], LEASE).unwrap() {
                        claimed.lock().unwrap().push(l.job);
                        store.complete(&l, &json!({ "by": name })).unwrap();
                    }
                });
            }
        });
        let claimed = claimed.lock().unwrap();
        assert_eq!(claimed.len(), 60, "every job once");
        assert_eq!(claimed.iter().copied().collect::<HashSet<_>>(), ids);
    });
}

#[test]
fn a_schema_newer_than_the_build_is_refused() {
    let newer = |err: &StoreError| {
        err.kind() == ErrorKind::Unavailable
            && err
                .to_string()
                .contains("job_queue schema version 99 is newer than this build knows")
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let location = path.to_string_lossy().into_owned();
    drop(SqlStore::open(&location).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute(
        "UPDATE schema_version SET version = 99 WHERE component = 'job_queue'",
        [],
    )
    .unwrap();
    let err = SqlStore::open(&location).unwrap_err();
    assert!(newer(&err), "{err}");

    let url = fresh_database("newer");
    drop(SqlStore::open(&url).unwrap());
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.batch_execute("UPDATE schema_version SET version = 99 WHERE component = 'job_queue'")
        .unwrap();
    let err = SqlStore::open(&url).unwrap_err();
    assert!(newer(&err), "{err}");
    assert!(!err.to_string().contains("password"));
    // A server that cannot be reached is unavailable, and the message names it without its
    // password.
    let err = SqlStore::open("postgres://mf:secret@127.0.0.1:1/nothing").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.to_string()
            .contains("postgres://mf@127.0.0.1:1/nothing"),
        "{err}"
    );
    assert!(!err.to_string().contains("secret"));
}

/// Rows as the previous release wrote them: its tables (the same statements), its version in
/// `store_schema`, a finished job with events, a queued job with a key and one running.
const OLD_ROWS: &str = "
INSERT INTO job (kind, payload, state, priority, attempts, max_attempts, epoch, worker,
    lease_until_ms, not_before_ms, last_error, result, created_ms, updated_ms, key, requires)
VALUES
 ('stage', '{\"index\":0}', 'done', 0, 1, 3, 1, 'desk', NULL, 0, NULL, '{\"ok\":true}', 1, 2, 'stage:a', NULL),
 ('stage', '{\"index\":1}', 'queued', 5, 0, 3, 0, NULL, NULL, 0, NULL, NULL, 3, 3, 'stage:b', 'x265'),
 ('validate', '{\"index\":2}', 'running', 0, 1, 3, 4, 'nas', 9000000000000, 0, NULL, NULL, 4, 4, NULL, NULL);
INSERT INTO job_event (job, at_ms, epoch, kind, detail) VALUES
 (1, 1, 1, 'claimed', 'by desk, attempt 1'), (1, 2, 1, 'completed', 'on desk'),
 (3, 4, 4, 'claimed', 'by nas, attempt 1');
";

/// What every store opened on [`OLD_ROWS`] must find.
fn finds_the_old_rows(s: &mut dyn JobStore) {
    let all = s.list(None, 10).unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    let done = s.job(1).unwrap();
    assert_eq!((done.state, done.epoch), (JobState::Done, 1));
    assert_eq!(done.result, Some(json!({"ok": true})));
    assert_eq!(s.events(1, 0).unwrap().len(), 2);
    let running = s.job(3).unwrap();
    assert_eq!(
        (running.state, running.epoch, running.worker.as_deref()),
        (JobState::Running, 4, Some("nas"))
    );
    // The key still names its live job, and the requirement still steers the claim.
    let mut again = NewJob::new("stage", json!({"index": 1}));
    again.key = Some("stage:b".into());
    assert_eq!(s.enqueue(&again).unwrap(), 2);
    assert!(s
        .claim_capable("desk", &[], Some(&["x264"]), LEASE)
        .unwrap()
        .is_none());
    let lease = s
        .claim_capable("box", &[], Some(&["x265"]), LEASE)
        .unwrap()
        .unwrap();
    assert_eq!((lease.job, lease.epoch), (2, 1));
    // New ids do not reuse old ones.
    let id = s
        .enqueue(&NewJob::new("stage", json!({"index": 9})))
        .unwrap();
    assert!(id > 3, "{id}");
}

#[test]
fn a_queue_written_by_the_previous_release_is_found_whole() {
    // SQLite: the previous release kept the version (5) in `store_schema`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "foreign_keys", "OFF").unwrap();
        for step in QUEUE_SCHEMA.sqlite {
            c.execute_batch(step).unwrap();
        }
        c.execute_batch(
            "CREATE TABLE store_schema (version INTEGER NOT NULL);
             INSERT INTO store_schema (version) VALUES (5);",
        )
        .unwrap();
        c.execute_batch(OLD_ROWS).unwrap();
    }
    let mut s = SqlStore::open(&path.to_string_lossy()).unwrap();
    finds_the_old_rows(&mut s);
    drop(s);
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = c
        .query_row(
            "SELECT version FROM schema_version WHERE component = 'job_queue'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, 5);

    // PostgreSQL: version 4 in `store_schema`.
    let url = fresh_database("previous");
    {
        let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        for step in QUEUE_SCHEMA.postgres {
            db.batch_execute(step).unwrap();
        }
        db.batch_execute(
            "CREATE TABLE store_schema (version BIGINT NOT NULL);
             INSERT INTO store_schema (version) VALUES (4);",
        )
        .unwrap();
        db.batch_execute(OLD_ROWS).unwrap();
    }
    let mut s = SqlStore::open(&url).unwrap();
    finds_the_old_rows(&mut s);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let version: i64 = db
        .query_one(
            "SELECT version FROM schema_version WHERE component = 'job_queue'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, 4);
}

#[test]
fn a_key_names_at_most_one_live_job() {
    both("key", |open| {
        let mut s = open();
        let mut job = NewJob::new("stage", json!({"index": 0}));
        job.key = Some("stage:plan-1:0".into());
        let a = s.enqueue(&job).unwrap();
        assert_eq!(s.enqueue(&job).unwrap(), a, "queued: the same job");
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        assert_eq!(s.enqueue(&job).unwrap(), a, "running: the same job");
        s.complete(&l, &json!({})).unwrap();
        let b = s.enqueue(&job).unwrap();
        assert_ne!(b, a, "once done, the key is free again");
        // Retrying a failed job whose key a newer job holds is a conflict, not a crash.
        let mut once = NewJob::new("stage-once", json!({"index": 1}));
        once.key = Some("stage:plan-1:1".into());
        once.max_attempts = 1;
        let old = s.enqueue(&once).unwrap();
        let l = s.claim("w", &["stage-once"], LEASE).unwrap().unwrap();
        assert_eq!(l.job, old);
        assert_eq!(s.fail(&l, "broke").unwrap(), JobState::Failed);
        let newer = s.enqueue(&once).unwrap();
        assert_ne!(newer, old);
        let err = s.retry(old).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert!(
            err.to_string()
                .contains(&format!("job {newer} for the same work is queued")),
            "named: {err}"
        );
        // Jobs without a key never collide.
        let x = s.enqueue(&NewJob::new("stage", json!({}))).unwrap();
        let y = s.enqueue(&NewJob::new("stage", json!({}))).unwrap();
        assert_ne!(x, y);
    });
}

#[test]
fn a_released_job_keeps_its_attempts_and_a_cancelled_one_stays_cancelled_when_its_lease_expires() {
    both("release", |open| {
        let mut s = open();
        let id = s.enqueue(&NewJob::new("encode", json!({}))).unwrap();
        // Ctrl-C: given back as it was, no attempt used.
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        s.release(&l, Duration::ZERO).unwrap();
        let row = s.job(id).unwrap();
        assert_eq!((row.state, row.attempts), (JobState::Queued, 0));
        assert!(matches!(
            s.release(&l, Duration::ZERO),
            Err(StoreError::Fenced { .. })
        ));
        // Given back for later (its item is held elsewhere): not claimable until then.
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        s.release(&l, Duration::from_millis(400)).unwrap();
        assert!(
            s.claim("w", &[], LEASE).unwrap().is_none(),
            "waits out its delay"
        );
        s.advance_clock(Duration::from_millis(500));
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        s.release(&l, Duration::ZERO).unwrap();
        assert_eq!(s.job(id).unwrap().attempts, 0);
        // Cancelled while running, then its worker died: it ends cancelled, not re-run.
        let l = s
            .claim("w", &[], Duration::from_millis(150))
            .unwrap()
            .unwrap();
        assert_eq!(l.attempt, 1);
        s.set_pause(id, true).unwrap();
        s.cancel(id).unwrap();
        s.advance_clock(Duration::from_millis(300));
        assert_eq!(s.requeue_expired().unwrap(), 1);
        let row = s.job(id).unwrap();
        assert_eq!(row.state, JobState::Cancelled);
        assert!(
            row.pause,
            "a claim or an expiry leaves the operator's pause alone"
        );
        assert!(s.claim("w", &[], LEASE).unwrap().is_none());
    });
}

#[test]
fn a_host_never_claims_a_job_that_needs_what_it_lacks() {
    both("capable", |open| {
        let mut s = open();
        let job = |requires: Option<&str>| {
            let mut j = NewJob::new("stage", json!({}));
            j.requires = requires.map(str::to_string);
            j
        };
        let svt = s.enqueue(&job(Some("libsvtav1"))).unwrap();
        let any = s.enqueue(&job(None)).unwrap();
        let x264 = s.enqueue(&job(Some("libx264"))).unwrap();
        let caps: &[&str] = &["libx264", "libx265"];
        let mut got = Vec::new();
        while let Some(l) = s.claim_capable("w", &[], Some(caps), LEASE).unwrap() {
            got.push(l.job);
        }
        assert_eq!(got, [any, x264], "in order, and never the SVT-AV1 job");
        assert_eq!(s.job(svt).unwrap().state, JobState::Queued);
        // What an idle host still waits for: running jobs, and queued ones it could take.
        assert_eq!(s.live_jobs(Some(caps)).unwrap(), 2, "the two it runs");
        assert_eq!(s.live_jobs(None).unwrap(), 3, "and the SVT-AV1 job");
        assert_eq!(s.live_jobs(Some(&["libsvtav1"])).unwrap(), 3);
        // A host with it takes it.
        let l = s
            .claim_capable("gpu", &[], Some(&["libsvtav1"]), LEASE)
            .unwrap()
            .unwrap();
        assert_eq!(l.job, svt);
    });
}

#[test]
fn failed_jobs_are_listed_retried_in_bulk_and_cleared_and_ids_never_come_back() {
    both("bulk", |open| {
        let mut s = open();
        let once = |s: &mut Box<dyn JobStore>| {
            let mut j = NewJob::new("encode", json!({}));
            j.max_attempts = 1;
            s.enqueue(&j).unwrap()
        };
        let ok = once(&mut s);
        let bad = once(&mut s);
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        s.complete(&l, &json!({})).unwrap();
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        assert_eq!(l.job, bad);
        assert_eq!(s.fail(&l, "broken").unwrap(), JobState::Failed);
        let failed = s.list(Some(JobState::Failed), 10).unwrap();
        assert_eq!(failed.iter().map(|j| j.id).collect::<Vec<_>>(), [bad]);
        assert_eq!(s.list(None, 10).unwrap().len(), 2);
        // Retried in bulk: queued again with fresh attempts.
        assert_eq!(s.retry_failed().unwrap(), 1);
        let row = s.job(bad).unwrap();
        assert_eq!((row.state, row.attempts), (JobState::Queued, 0));
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        s.fail(&l, "broken again").unwrap();
        // Cleared: gone with its events; the done one stays; a new job gets a new id.
        assert_eq!(s.clear_failed().unwrap(), 1);
        assert!(matches!(s.job(bad), Err(StoreError::NotFound(_))));
        assert!(s.events(bad, 0).unwrap().is_empty());
        assert_eq!(s.job(ok).unwrap().state, JobState::Done);
        let next = once(&mut s);
        assert!(next > bad, "id {next} reuses a cleared job's");
        // Two failed jobs of one key, and a failed one whose key is live again: only the
        // newest failed one of a key without a live job comes back.
        let keyed = |s: &mut Box<dyn JobStore>, key: &str| {
            let mut j = NewJob::new("keyed", json!({}));
            j.max_attempts = 1;
            j.key = Some(key.into());
            let id = s.enqueue(&j).unwrap();
            let l = s.claim("w", &["keyed"], LEASE).unwrap().unwrap();
            assert_eq!(l.job, id);
            s.fail(&l, "broken").unwrap();
            id
        };
        let (k1, k2) = (keyed(&mut s, "k"), keyed(&mut s, "k"));
        let other = keyed(&mut s, "live");
        let mut live = NewJob::new("keyed", json!({}));
        live.key = Some("live".into());
        let live = s.enqueue(&live).unwrap();
        assert_eq!(s.retry_failed().unwrap(), 1);
        assert_eq!(s.job(k2).unwrap().state, JobState::Queued);
        assert_eq!(s.job(k1).unwrap().state, JobState::Failed);
        assert_eq!(s.job(other).unwrap().state, JobState::Failed);
        assert_eq!(s.job(live).unwrap().state, JobState::Queued);
    });
}

#[test]
fn priority_reorders_the_queue_and_only_urgent_jobs_pass_a_closed_schedule() {
    both("urgent", |open| {
        let mut s = open();
        let a = s.enqueue(&NewJob::new("stage", json!({"n": 1}))).unwrap();
        let b = s.enqueue(&NewJob::new("stage", json!({"n": 2}))).unwrap();
        // A host outside its window takes nothing ordinary...
        let urgent_only = |s: &mut Box<dyn JobStore>| {
            s.claim_filtered("night/0", &[], None, Some(URGENT), LEASE)
                .unwrap()
        };
        assert!(urgent_only(&mut s).is_none());
        // ...but a job the operator runs now.
        s.set_priority(b, URGENT).unwrap();
        let l = urgent_only(&mut s).unwrap();
        assert_eq!(l.job, b);
        assert!(urgent_only(&mut s).is_none());
        s.complete(&l, &json!({})).unwrap();
        let err = s.set_priority(b, 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        assert!(err.to_string().contains("it is done"), "{err}");
        // Run now also lets a job off the rest of its backoff.
        let waiting = s.enqueue(&NewJob::new("stage", json!({"n": 4}))).unwrap();
        s.set_backoff(Duration::from_secs(3600));
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        assert_eq!(l.job, a, "the oldest");
        s.fail(&l, "broke").unwrap();
        let l = s.claim("w", &[], LEASE).unwrap().unwrap();
        assert_eq!(l.job, waiting);
        s.fail(&l, "broke").unwrap();
        assert!(
            s.claim("w", &[], LEASE).unwrap().is_none(),
            "both wait an hour"
        );
        s.set_priority(waiting, URGENT).unwrap();
        assert_eq!(urgent_only(&mut s).unwrap().job, waiting);
        // A raised priority goes ahead of older jobs.
        let c = s.enqueue(&NewJob::new("stage", json!({"n": 3}))).unwrap();
        s.set_priority(c, 10).unwrap();
        s.set_priority(a, 5).unwrap();
        assert_eq!(s.job(a).unwrap().priority, 5);
        let order: Vec<i64> = std::iter::from_fn(|| s.claim("w", &[], LEASE).unwrap())
            .map(|l| l.job)
            .collect();
        assert_eq!(order, [c], "a still waits out its backoff");
        assert_eq!(s.job(c).unwrap().priority, 10);
        // Every job's events in one stream, resumable from the last id seen.
        let all = s.events_since(0, 1000).unwrap();
        assert!(all.windows(2).all(|w| w[0].id < w[1].id));
        assert!(all.iter().any(|e| e.job == c) && all.iter().any(|e| e.job == waiting));
        let tail = s.events_since(all[all.len() - 3].id, 1000).unwrap();
        assert_eq!(tail, all[all.len() - 2..].to_vec());
        assert_eq!(s.events_since(0, 2).unwrap(), all[..2].to_vec());
        assert_eq!(s.last_event_id().unwrap(), all.last().unwrap().id);
        // A job's newest event of one kind, and the jobs counted by state.
        let newest_c = all.iter().rev().find(|e| e.job == c).unwrap();
        assert_eq!(
            s.latest_event(c, &newest_c.kind).unwrap().as_ref(),
            Some(newest_c)
        );
        assert_eq!(s.latest_event(c, "no-such-kind").unwrap(), None);
        let mut by_state = std::collections::BTreeMap::new();
        for j in s.list(None, 1000).unwrap() {
            *by_state.entry(j.state.as_str()).or_insert(0u64) += 1;
        }
        let counted: Vec<(&str, u64)> = s
            .counts()
            .unwrap()
            .into_iter()
            .map(|(st, n)| (st.as_str(), n))
            .collect();
        assert_eq!(counted, by_state.into_iter().collect::<Vec<_>>());
        assert!(counted.len() >= 2, "{counted:?}");
    });
}

/// The web page's sign-in statements, on both backends.
#[test]
fn sign_in_rows_passwords_sessions_and_api_tokens() {
    use mediaforce_store::web;
    let dir = tempfile::tempdir().unwrap();
    let locations = [
        dir.path().join("web.db").to_string_lossy().into_owned(),
        fresh_database("web"),
    ];
    for location in locations {
        let mut db = mediaforce_store::sql::Db::open(&location, &web::SCHEMA).unwrap();
        assert_eq!(web::password_hash(&mut db).unwrap(), None);
        web::set_password(&mut db, "h1", 1_000).unwrap();
        web::open_session(&mut db, "t1", "c1", 1_000, 5_000).unwrap();
        assert_eq!(
            web::session_csrf(&mut db, "t1", 2_000).unwrap().as_deref(),
            Some("c1")
        );
        // Expired: no longer a session.
        assert_eq!(web::session_csrf(&mut db, "t1", 5_000).unwrap(), None);
        // A new password ends every session.
        web::set_password(&mut db, "h2", 3_000).unwrap();
        assert_eq!(web::password_hash(&mut db).unwrap().as_deref(), Some("h2"));
        assert_eq!(web::session_csrf(&mut db, "t1", 3_000).unwrap(), None);
        web::open_session(&mut db, "t2", "c2", 3_000, 9_000).unwrap();
        web::close_session(&mut db, "t2").unwrap();
        assert_eq!(web::session_csrf(&mut db, "t2", 4_000).unwrap(), None);
        // API tokens: replaced by name, listed by name, revoked once.
        web::put_api_token(&mut db, "b", "hb", "read", 10).unwrap();
        web::put_api_token(&mut db, "a", "ha", "read", 11).unwrap();
        web::put_api_token(&mut db, "a", "ha2", "write", 12).unwrap();
        assert_eq!(web::api_token_scope(&mut db, "ha").unwrap(), None);
        assert_eq!(
            web::api_token_scope(&mut db, "ha2").unwrap().as_deref(),
            Some("write")
        );
        assert_eq!(
            web::api_tokens(&mut db).unwrap(),
            [
                ("a".to_string(), "write".to_string(), 12),
                ("b".to_string(), "read".to_string(), 10)
            ]
        );
        assert_eq!(web::revoke_api_token(&mut db, "a").unwrap(), 1);
        assert_eq!(web::revoke_api_token(&mut db, "a").unwrap(), 0);
    }
}
