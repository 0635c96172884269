//! One job-control value: what a running job is told from outside (cancel, pause) and the
//! lease it runs under. The media jobs read it between probes and frames; whoever holds the
//! job's lease (a keeper thread renewing it, the CLI's Ctrl-C handler, a worker's heartbeat)
//! writes it. Replaces the separate cancel flags, pause file and progress-sink checks.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

/// Why a job was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The operator cancelled the job (it ends cancelled).
    Cancelled,
    /// The process is stopping (Ctrl-C): the job goes back to the queue as it was.
    Interrupted,
    /// The lease was lost: another worker holds the job now; nothing more may be written.
    LeaseLost,
    /// No progress for longer than the stuck limit: the job was failed back to the queue.
    Stuck,
}

impl Stop {
    fn code(self) -> u8 {
        match self {
            Stop::Cancelled => 1,
            Stop::Interrupted => 2,
            Stop::LeaseLost => 3,
            Stop::Stuck => 4,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(Stop::Cancelled),
            2 => Some(Stop::Interrupted),
            3 => Some(Stop::LeaseLost),
            4 => Some(Stop::Stuck),
            _ => None,
        }
    }
}

pub use crate::store::Fence;

/// Cancel and pause for one running job, and its fence.
#[derive(Debug, Default)]
pub struct JobControl {
    stop: AtomicU8,
    pause: AtomicBool,
    fence: Option<Fence>,
    /// When the job last made progress (on [`mono_ms`]'s clock; 0: not yet watched).
    progress_ms: AtomicU64,
}

/// Milliseconds on a monotonic clock (since the first call in this process, plus one so that
/// zero stays "not watched"): a clock step or a suspend does not look like a stuck job.
fn mono_ms() -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    BASE.get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
        + 1
}

impl JobControl {
    /// A control for a job run outside the queue (no fence).
    pub fn new() -> Self {
        Self::default()
    }

    /// A control for a job holding `fence`'s lease.
    pub fn fenced(fence: Fence) -> Self {
        Self {
            fence: Some(fence),
            ..Self::default()
        }
    }

    /// The lease this job runs under, if it came from the queue.
    pub fn fence(&self) -> Option<Fence> {
        self.fence
    }

    /// Tell the job to stop; the first reason given is kept.
    pub fn stop(&self, why: Stop) {
        let _ = self
            .stop
            .compare_exchange(0, why.code(), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Why the job was told to stop, if it was.
    pub fn stopped(&self) -> Option<Stop> {
        Stop::from_code(self.stop.load(Ordering::SeqCst))
    }

    /// Whether the job should stop now.
    pub fn is_stopped(&self) -> bool {
        self.stopped().is_some()
    }

    /// Hold (or release) the job between frames.
    pub fn set_paused(&self, paused: bool) {
        self.pause.store(paused, Ordering::SeqCst);
    }

    /// Whether the job is held.
    pub fn is_paused(&self) -> bool {
        self.pause.load(Ordering::SeqCst)
    }

    /// The job made progress (a frame, a probe, a chunk moved).
    pub fn touch(&self) {
        self.progress_ms.store(mono_ms(), Ordering::Relaxed);
    }

    /// How long since the job last made progress (zero before it is first touched).
    pub fn idle(&self) -> Duration {
        match self.progress_ms.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            t => Duration::from_millis(mono_ms().saturating_sub(t)),
        }
    }

    /// Wait while paused (and not stopped); returns whether it waited.
    pub fn wait_while_paused(&self) -> bool {
        let mut waited = false;
        while self.is_paused() && !self.is_stopped() {
            waited = true;
            std::thread::sleep(Duration::from_millis(100));
        }
        waited
    }

    /// Wait `delay` (a retry's backoff) unless the job is told to stop first; returns whether
    /// the whole delay passed.
    pub fn wait_unless_stopped(&self, delay: Duration) -> bool {
        let until = std::time::Instant::now() + delay;
        loop {
            if self.is_stopped() {
                return false;
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stop_reason_wins_and_a_stop_ends_a_pause() {
        let c = JobControl::fenced(Fence { job: 3, epoch: 2 });
        assert_eq!(c.fence(), Some(Fence { job: 3, epoch: 2 }));
        assert!(!c.is_stopped() && !c.is_paused());
        c.set_paused(true);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| c.wait_while_paused());
            std::thread::sleep(Duration::from_millis(150));
            c.stop(Stop::LeaseLost);
            c.stop(Stop::Cancelled);
            assert!(waiter.join().unwrap(), "it waited");
        });
        assert_eq!(c.stopped(), Some(Stop::LeaseLost));
        assert!(!JobControl::new().wait_while_paused());
    }

    #[test]
    fn a_backoff_wait_ends_early_on_a_stop() {
        let c = JobControl::new();
        assert!(
            c.wait_unless_stopped(Duration::from_millis(20)),
            "nothing stopped it"
        );
        std::thread::scope(|s| {
            let waiter = s.spawn(|| c.wait_unless_stopped(Duration::from_secs(60)));
            c.stop(Stop::Cancelled);
            assert!(!waiter.join().unwrap(), "the stop ended the wait");
        });
        assert!(
            !c.wait_unless_stopped(Duration::ZERO),
            "a stopped job does not wait"
        );
    }
}
