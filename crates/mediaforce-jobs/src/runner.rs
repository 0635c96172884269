//! The one claim loop. Every way mediaforce runs queued jobs (`encode --all`'s workers,
//! `validate`/`compare --all`, a `mediaforce worker`'s slots) is this loop with a different
//! [`ClaimLoop`]: which kinds and capabilities it claims, what holds it (the operator's pause,
//! a host's window or state), and when it ends (its own jobs ended, or the whole queue idle).
//! Claiming, expiry, waiting and ending are decided here once; what a claimed job does is the
//! caller's.
//!
//! What the jobs do is reported as one stream of [`Event`]s: each job's events go to its log
//! in the store (which the web page streams) and to the run's [`Reporter`] (the terminal,
//! `--json`, MCP, a test).

use crate::control::{JobControl, Stop};
use crate::events::{Event, EventSink};
use crate::manifest::ManifestItem;
use crate::store::{JobState, JobStore, Lease, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where a run's events go; called from the job threads.
pub trait Reporter: Sync {
    /// The sink for one plan item's job: its events from [`Event::ItemStarted`] to
    /// [`Event::ItemFinished`].
    fn item(&self, item: &ManifestItem) -> Box<dyn EventSink + '_>;
    /// An event of no one item (a job that could not run on this host).
    fn event(&self, _event: Event) {}
}

/// The event of `item`'s job starting (with its encoder's knob name).
pub fn item_started(item: &ManifestItem) -> Event {
    Event::ItemStarted {
        index: item.index,
        source: item.source.clone(),
        knob: crate::codecs::find(&item.policy.encode.encoder)
            .map_or("knob", |a| a.knob().name)
            .into(),
    }
}

/// A reporter that shows nothing (the events still go to the jobs' logs).
#[derive(Debug, Default, Clone, Copy)]
pub struct Unreported;

impl Reporter for Unreported {
    fn item(&self, _item: &ManifestItem) -> Box<dyn EventSink + '_> {
        Box::new(crate::events::Quiet)
    }
}

/// A job's event log under its lease: what the job reports is stored, so a page or another
/// host can follow it (progress at most every few seconds). Every event counts as progress
/// for the stuck-job keeper; a refused write means the lease was lost, which stops the job.
pub struct JobLog<'a> {
    store: &'a mut dyn JobStore,
    lease: &'a Lease,
    control: &'a JobControl,
    /// When a progress event was last stored.
    last: Option<Instant>,
}

impl std::fmt::Debug for JobLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobLog")
            .field("job", &self.lease.job)
            .finish()
    }
}

impl<'a> JobLog<'a> {
    /// The log of the job under `lease`, whose control stops it when a write is refused.
    pub fn new(store: &'a mut dyn JobStore, lease: &'a Lease, control: &'a JobControl) -> Self {
        Self {
            store,
            lease,
            control,
            last: None,
        }
    }

    /// A note of `kind` that is not an [`Event`] (a priority that could not be applied).
    pub fn note(&mut self, kind: &str, detail: &str) {
        self.write(kind, detail);
    }

    fn write(&mut self, kind: &str, detail: &str) {
        if let Err(StoreError::Fenced { .. }) = self.store.event(self.lease, kind, detail) {
            self.control.stop(Stop::LeaseLost);
        }
    }
}

impl EventSink for JobLog<'_> {
    fn emit(&mut self, event: Event) {
        self.control.touch();
        if event.is_progress() {
            if self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
            {
                return;
            }
            self.last = Some(Instant::now());
        }
        let detail = serde_json::to_string(&event).unwrap_or_default();
        self.write(event.kind(), &detail);
    }

    fn cancelled(&self) -> bool {
        self.control.is_stopped()
    }
}

/// What the loop may do now, asked before each claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Stop the loop (a draining host, another slot's failure).
    Stop,
    /// Claim nothing now (the queue or the host is paused, the slot is over the host's
    /// limit); `held` keeps the loop from ending as idle meanwhile.
    Wait {
        /// Whether waiting here keeps the loop from ending as idle.
        held: bool,
    },
    /// Claim jobs of at least `min_priority` (`None`: any).
    Claim {
        /// The lowest priority claimed (a host outside its window takes only urgent jobs).
        min_priority: Option<i64>,
        /// Whether the loop must not end as idle (outside the window, work may come later).
        held: bool,
    },
}

/// When a loop with nothing to claim is done.
#[derive(Debug)]
pub enum Until<'a> {
    /// When none of these jobs is queued or running any more (a job waiting out a backoff,
    /// or held by a worker that may still lose it, is waited for), leaving out those the
    /// caller marked as not waited for.
    Ended {
        /// The run's own jobs.
        jobs: &'a [i64],
        /// Jobs given back that this run does not wait for (their item is held elsewhere).
        skip: Option<&'a std::sync::Mutex<std::collections::HashSet<i64>>>,
    },
    /// When nothing this loop could claim has been queued or running for this long; `None`:
    /// never (a worker that runs until stopped).
    Idle(Option<Duration>),
}

/// What a claim loop takes.
#[derive(Debug)]
pub struct ClaimLoop<'a> {
    /// The name leases are taken under (`host:pid:slot`).
    pub worker: String,
    /// Kinds claimed; all when empty.
    pub kinds: Vec<String>,
    /// The capabilities a claimed job may require (`None`: any).
    pub capabilities: Option<Vec<String>>,
    /// When it ends.
    pub until: Until<'a>,
    /// Ctrl-C: the loop claims nothing more.
    pub cancel: &'a AtomicBool,
    /// How long to wait before looking again when nothing was claimed.
    pub poll: Duration,
}

/// What the loop does after a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Claim the next one.
    Continue,
    /// Stop the loop (the process is stopping).
    Stop,
}

/// Whether `until` says the loop is done, given how long nothing was live.
fn ended(
    store: &mut dyn JobStore,
    until: &Until<'_>,
    idle_since: &mut Instant,
    caps: Option<&[&str]>,
) -> Result<bool, StoreError> {
    match until {
        Until::Ended { jobs, skip } => {
            let skip = skip
                .map(|s| s.lock().expect("skip lock").clone())
                .unwrap_or_default();
            for id in jobs.iter().filter(|id| !skip.contains(id)) {
                let live = store
                    .job(*id)
                    .is_ok_and(|j| matches!(j.state, JobState::Queued | JobState::Running));
                if live {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Until::Idle(grace) => {
            if store.live_jobs(caps)? > 0 {
                *idle_since = Instant::now();
            }
            Ok(grace.is_some_and(|g| idle_since.elapsed() >= g))
        }
    }
}

/// Claim and run jobs as `spec` says until it ends, Ctrl-C, the gate stops it, or `run` says
/// so. Before each claim `gate` is asked what the loop may do now; expired leases are
/// returned to the queue before each claim; with nothing to claim the loop checks
/// [`Until`] and waits [`ClaimLoop::poll`]. Each claimed lease goes to `run`.
pub fn run_claims<E: From<StoreError>>(
    store: &mut dyn JobStore,
    spec: &ClaimLoop<'_>,
    gate: &mut dyn FnMut(&mut dyn JobStore) -> Result<Gate, E>,
    run: &mut dyn FnMut(&mut dyn JobStore, Lease) -> Result<Next, E>,
) -> Result<(), E> {
    let kinds: Vec<&str> = spec.kinds.iter().map(String::as_str).collect();
    let caps: Option<Vec<&str>> = spec
        .capabilities
        .as_ref()
        .map(|c| c.iter().map(String::as_str).collect());
    let mut idle_since = Instant::now();
    while !spec.cancel.load(Ordering::Relaxed) {
        let (lease, held) = match gate(store)? {
            Gate::Stop => return Ok(()),
            Gate::Wait { held } => (None, held),
            Gate::Claim { min_priority, held } => {
                store.requeue_expired()?;
                let lease = store.claim_filtered(
                    &spec.worker,
                    &kinds,
                    caps.as_deref(),
                    min_priority,
                    crate::lease::lease_length(),
                )?;
                (lease, held)
            }
        };
        let Some(lease) = lease else {
            let done = ended(store, &spec.until, &mut idle_since, caps.as_deref())?;
            if done && !held {
                return Ok(());
            }
            std::thread::sleep(spec.poll);
            continue;
        };
        idle_since = Instant::now();
        if run(store, lease)? == Next::Stop {
            return Ok(());
        }
    }
    Ok(())
}

/// The gate of a loop that only the operator's queue-wide pause holds.
pub fn unless_paused<E: From<StoreError>>(store: &mut dyn JobStore) -> Result<Gate, E> {
    Ok(if store.queue_paused()? {
        Gate::Wait { held: true }
    } else {
        Gate::Claim {
            min_priority: None,
            held: false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewJob, SqlStore, URGENT};
    use serde_json::json;
    use std::collections::HashSet;
    use std::sync::Mutex;

    fn store(dir: &tempfile::TempDir) -> SqlStore {
        SqlStore::open(&dir.path().join("q.db").to_string_lossy()).unwrap()
    }

    fn spec<'a>(kinds: &[&str], until: Until<'a>, cancel: &'a AtomicBool) -> ClaimLoop<'a> {
        ClaimLoop {
            worker: "test:1:0".into(),
            kinds: kinds.iter().map(|k| (*k).to_string()).collect(),
            capabilities: None,
            until,
            cancel,
            poll: Duration::from_millis(5),
        }
    }

    /// Run the loop, completing every claimed job; returns the claimed ids in order.
    fn complete_all(
        s: &mut SqlStore,
        spec: &ClaimLoop<'_>,
        gate: &mut dyn FnMut(&mut dyn JobStore) -> Result<Gate, StoreError>,
    ) -> Vec<i64> {
        let mut claimed = Vec::new();
        run_claims(s, spec, gate, &mut |st, lease| {
            claimed.push(lease.job);
            st.complete(&lease, &json!({}))?;
            Ok::<_, StoreError>(Next::Continue)
        })
        .unwrap();
        claimed
    }

    #[test]
    fn a_run_ends_when_its_own_jobs_have_ended_and_claims_only_its_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let a1 = s.enqueue(&NewJob::new("a", json!({}))).unwrap();
        let b = s.enqueue(&NewJob::new("b", json!({}))).unwrap();
        let a2 = s.enqueue(&NewJob::new("a", json!({}))).unwrap();
        let cancel = AtomicBool::new(false);
        let mine = [a1, a2];
        let until = Until::Ended {
            jobs: &mine,
            skip: None,
        };
        let claimed = complete_all(&mut s, &spec(&["a"], until, &cancel), &mut unless_paused);
        assert_eq!(claimed, vec![a1, a2]);
        assert_eq!(
            s.job(b).unwrap().state,
            JobState::Queued,
            "another kind stays queued"
        );
        // A job given back and marked as not waited for does not keep the run alive.
        let a3 = s.enqueue(&NewJob::new("a", json!({}))).unwrap();
        let skip = Mutex::new(HashSet::from([a3]));
        let mine = [a3];
        let until = Until::Ended {
            jobs: &mine,
            skip: Some(&skip),
        };
        let mut gate = |_: &mut dyn JobStore| Ok(Gate::Wait { held: false });
        assert!(complete_all(&mut s, &spec(&["a"], until, &cancel), &mut gate).is_empty());
    }

    #[test]
    fn a_held_loop_claims_nothing_and_does_not_end_until_the_gate_lets_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let job = s.enqueue(&NewJob::new("a", json!({}))).unwrap();
        s.set_queue_paused(true).unwrap();
        let cancel = AtomicBool::new(false);
        // Paused: the gate holds the loop; nothing is claimed, and nothing ends it meanwhile
        // although the queue is idle for it (it is asked again and again).
        let mut asked = 0;
        let mut gate = |st: &mut dyn JobStore| -> Result<Gate, StoreError> {
            asked += 1;
            if asked == 5 {
                st.set_queue_paused(false)?;
            }
            unless_paused(st)
        };
        let mine = [job];
        let until = Until::Ended {
            jobs: &mine,
            skip: None,
        };
        let claimed = complete_all(&mut s, &spec(&[], until, &cancel), &mut gate);
        assert_eq!(claimed, vec![job]);
        assert!(asked >= 6, "asked {asked} times");
        // Stop ends it at once; so does Ctrl-C.
        let other = s.enqueue(&NewJob::new("a", json!({}))).unwrap();
        let mut stop = |_: &mut dyn JobStore| Ok(Gate::Stop);
        let until = Until::Idle(None);
        assert!(complete_all(&mut s, &spec(&[], until, &cancel), &mut stop).is_empty());
        cancel.store(true, Ordering::Relaxed);
        let until = Until::Idle(None);
        assert!(complete_all(&mut s, &spec(&[], until, &cancel), &mut unless_paused).is_empty());
        assert_eq!(s.job(other).unwrap().state, JobState::Queued);
    }

    #[test]
    fn outside_its_window_a_loop_takes_urgent_jobs_only_and_an_idle_one_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let plain = s.enqueue(&NewJob::new("a", json!({}))).unwrap();
        let mut now = NewJob::new("a", json!({}));
        now.priority = URGENT;
        let urgent = s.enqueue(&now).unwrap();
        let cancel = AtomicBool::new(false);
        let mut window = |_: &mut dyn JobStore| {
            Ok(Gate::Claim {
                min_priority: Some(URGENT),
                held: false,
            })
        };
        // Idle for it as soon as nothing is claimable... but the plain job is still queued,
        // so the idle clock keeps restarting: end it with a stop after the urgent job.
        let mut claimed = Vec::new();
        let until = Until::Idle(Some(Duration::ZERO));
        run_claims(
            &mut s,
            &spec(&[], until, &cancel),
            &mut window,
            &mut |st, lease| {
                claimed.push(lease.job);
                st.complete(&lease, &json!({}))?;
                Ok::<_, StoreError>(Next::Stop)
            },
        )
        .unwrap();
        assert_eq!(claimed, vec![urgent]);
        assert_eq!(s.job(plain).unwrap().state, JobState::Queued);
        // A job this host cannot run does not keep an idle loop alive.
        s.cancel(plain).unwrap();
        let mut gpu = NewJob::new("a", json!({}));
        gpu.requires = Some("gpu".into());
        s.enqueue(&gpu).unwrap();
        let mut cpu = spec(&[], Until::Idle(Some(Duration::ZERO)), &cancel);
        cpu.capabilities = Some(vec!["libx264".into()]);
        assert!(complete_all(&mut s, &cpu, &mut unless_paused).is_empty());
    }
}
