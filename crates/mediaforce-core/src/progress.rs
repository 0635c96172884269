//! Progress reporting for long operations, without any terminal code.
//!
//! Operations call a [`ProgressSink`]; the CLI implements it with indicatif bars, embedders with
//! whatever they like. [`Progress`] carries the figures so sinks need not compute rates.

use std::time::{Duration, Instant};

/// A snapshot of a long operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Frames done so far.
    pub frames_done: u64,
    /// Total frames expected, when known.
    pub frames_total: Option<u64>,
    /// Frames per second since the start.
    pub fps: f64,
    /// Estimated time left, when the total is known and some work has been done.
    pub eta: Option<Duration>,
    /// Time since the start.
    pub elapsed: Duration,
}

/// Receives progress from long operations.
pub trait ProgressSink {
    /// Called once before work starts, with a short label ("encode", "score") and the total.
    fn start(&mut self, _label: &str, _frames_total: Option<u64>) {}
    /// Called as work advances (throttled by the caller to a few times per second at most).
    fn update(&mut self, progress: &Progress);
    /// Called once when the work ends, successfully or not.
    fn finish(&mut self) {}
    /// Polled as work advances: `true` stops the operation with [`crate::Error::Cancelled`]
    /// (Ctrl-C handlers set a flag that this reads). Nothing half-written is left behind.
    fn cancelled(&self) -> bool {
        false
    }
}

/// A sink that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn update(&mut self, _progress: &Progress) {}
}

/// Computes [`Progress`] figures and throttles updates; used by the operations themselves.
#[derive(Debug)]
pub struct ProgressClock {
    started: Instant,
    last: Option<Instant>,
    total: Option<u64>,
}

impl ProgressClock {
    /// Start timing an operation of `total` frames (if known).
    pub fn new(total: Option<u64>) -> Self {
        Self {
            started: Instant::now(),
            last: None,
            total,
        }
    }

    /// The progress after `done` frames, or `None` if the last update was under 100 ms ago.
    pub fn tick(&mut self, done: u64) -> Option<Progress> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < Duration::from_millis(100))
        {
            return None;
        }
        self.last = Some(now);
        Some(self.snapshot(done))
    }

    /// The progress after `done` frames, unthrottled.
    pub fn snapshot(&self, done: u64) -> Progress {
        let elapsed = self.started.elapsed();
        let secs = elapsed.as_secs_f64();
        let fps = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let eta = match self.total {
            Some(t) if fps > 0.0 && done > 0 => {
                Some(Duration::from_secs_f64(t.saturating_sub(done) as f64 / fps))
            }
            _ => None,
        };
        Progress {
            frames_done: done,
            frames_total: self.total,
            fps,
            eta,
            elapsed,
        }
    }
}
