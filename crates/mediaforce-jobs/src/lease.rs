//! Holding a job's lease while its work runs: a keeper thread renews it, carries the
//! operator's pause and cancel and Ctrl-C into the job's control, and stops the work when the
//! lease is lost or the job is stuck.

use crate::control::{JobControl, Stop};
use crate::store::{JobStore, Lease, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a lease lasts without a heartbeat: 60 s, or `MEDIAFORCE_LEASE_MS` (tests make it
/// short to see a killed worker's job come back quickly). Renewed six times a lease.
pub fn lease_length() -> Duration {
    std::env::var("MEDIAFORCE_LEASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

/// How often a running job's lease is renewed and its cancel and pause flags read: six times
/// a lease, and at least every 2 s so a pause or cancel reaches the encode quickly.
fn heartbeat_period() -> Duration {
    (lease_length() / 6).min(Duration::from_secs(2))
}

/// Run `work` while a keeper thread holds `lease`: it renews the lease every heartbeat period,
/// carries the operator's pause and cancel (from the store) and Ctrl-C (`cancel`) into
/// `control`, and stops the work when the lease is lost.
///
/// With `stuck_after`, a job that makes no progress (see [`JobControl::touch`]) for that long
/// is stopped as [`Stop::Stuck`] and failed back to the queue by the keeper itself, with the
/// host and the cause, so it is retried (after its backoff) even if the work never returns;
/// whatever the work writes after that is refused by its fence. A paused job is not stuck.
pub fn hold_lease<T>(
    queue: &str,
    lease: &Lease,
    cancel: &AtomicBool,
    control: &JobControl,
    stuck_after: Option<Duration>,
    work: impl FnOnce() -> T,
) -> T {
    /// Ends the keeper however `work` ends, a panic included (else the scope would wait for
    /// the keeper forever while it kept the lease alive).
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let done = AtomicBool::new(false);
    control.touch();
    std::thread::scope(|s| {
        let keeper = s.spawn(|| {
            let mut store: Option<Box<dyn JobStore>> = None;
            let mut last = Instant::now();
            let mut renewed = Instant::now();
            while !done.load(Ordering::Relaxed) {
                if control.is_paused() {
                    control.touch();
                }
                let stuck = stuck_after.filter(|l| {
                    control.idle() >= *l
                        && control.stopped().is_none()
                        && !done.load(Ordering::Relaxed)
                });
                if let Some(limit) = stuck {
                    control.stop(Stop::Stuck);
                    let reason = format!(
                        "job {} stuck: no progress for {:.1} s",
                        lease.job,
                        limit.as_secs_f64()
                    );
                    // Failed back now, not when the work returns: it may never.
                    for _ in 0..3 {
                        if store.is_none() {
                            store = crate::store::open(queue).ok();
                        }
                        match store.as_mut().map(|st| st.fail(lease, &reason)) {
                            Some(Ok(_)) | Some(Err(StoreError::Fenced { .. })) => break,
                            _ => {
                                store = None;
                                std::thread::sleep(Duration::from_millis(500));
                            }
                        }
                    }
                    break;
                }
                // No renewal for a whole lease: it has expired and may be another worker's.
                if renewed.elapsed() >= lease_length() {
                    control.stop(Stop::LeaseLost);
                }
                if cancel.load(Ordering::Relaxed) {
                    control.stop(Stop::Interrupted);
                }
                if last.elapsed() >= heartbeat_period() {
                    last = Instant::now();
                    // A database blip is retried at the next period; only a lost lease or
                    // the operator's cancel stops the work.
                    if store.is_none() {
                        store = crate::store::open(queue).ok();
                    }
                    if let Some(st) = store.as_mut() {
                        match st.heartbeat(lease, lease_length()) {
                            Ok(c) => {
                                renewed = Instant::now();
                                if c.cancel {
                                    control.stop(Stop::Cancelled);
                                }
                                control.set_paused(c.pause);
                            }
                            Err(StoreError::Fenced { .. }) => control.stop(Stop::LeaseLost),
                            Err(_) => store = None,
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let out = {
            let _done = Done(&done);
            work()
        };
        let _ = keeper.join();
        out
    })
}
