//! Events a job reports, owned and serde-tagged, so they can go anywhere: a terminal renders
//! them, a worker stores them in the job's event log, a server will stream them.

use crate::search::{SampleSpan, SearchEvent};
use serde::{Deserialize, Serialize};

/// One thing that happened in a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The search's samples are placed and decoded.
    SamplesPlaced {
        /// Where each sample starts and how many frames it holds.
        samples: Vec<SampleSpan>,
    },
    /// A probe at this knob value starts.
    ProbeStarted {
        /// Knob value.
        knob: f64,
    },
    /// Frames of the probe under way scored so far.
    ProbeProgress {
        /// Frames scored.
        frames: u64,
        /// Frames in all samples.
        total: u64,
        /// Frames a second.
        fps: f64,
    },
    /// A probe finished.
    ProbeScored {
        /// Knob value.
        knob: f64,
        /// The figure steered by.
        score: f64,
        /// Predicted size as a percentage of the source.
        predicted_percent: f64,
        /// Answered from the probe cache.
        cached: bool,
    },
    /// Decoding the source found damaged data (concealed).
    SourceDamaged {
        /// Damaged packets or frames.
        errors: u64,
        /// Where the first of them were, in seconds.
        seconds: Vec<f64>,
    },
    /// Frames of a full encode or score done.
    FramesDone {
        /// What runs (`"encode"`, `"score"`).
        label: String,
        /// Frames done.
        frames: u64,
        /// Frames expected, when known.
        total: Option<u64>,
        /// Frames a second.
        fps: f64,
        /// Seconds left, when the total is known.
        eta_seconds: Option<f64>,
    },
    /// A plan item moved to a new workflow state.
    StateChanged {
        /// Index in the plan.
        index: usize,
        /// The source file.
        source: std::path::PathBuf,
        /// The state it is in now.
        state: String,
        /// What the move said (knob and scores, the failure).
        detail: Option<String>,
    },
    /// A job failed on a host.
    JobFailed {
        /// The host it ran on.
        host: String,
        /// Why, naming the file.
        cause: String,
    },
}

impl Event {
    /// The short name stored beside the event (the tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::SamplesPlaced { .. } => "samples_placed",
            Event::ProbeStarted { .. } => "probe_started",
            Event::ProbeProgress { .. } => "probe_progress",
            Event::ProbeScored { .. } => "probe_scored",
            Event::SourceDamaged { .. } => "source_damaged",
            Event::FramesDone { .. } => "frames_done",
            Event::StateChanged { .. } => "state_changed",
            Event::JobFailed { .. } => "job_failed",
        }
    }
}

impl From<&SearchEvent<'_>> for Event {
    fn from(e: &SearchEvent<'_>) -> Self {
        match e {
            SearchEvent::SamplesReady(s) => Event::SamplesPlaced {
                samples: s.to_vec(),
            },
            SearchEvent::ProbeStarted(knob) => Event::ProbeStarted { knob: *knob },
            SearchEvent::ProbeProgress { frames, total, fps } => Event::ProbeProgress {
                frames: *frames,
                total: *total,
                fps: *fps,
            },
            SearchEvent::ProbeScored(p) => Event::ProbeScored {
                knob: p.knob,
                score: p.score,
                predicted_percent: p.predicted_percent,
                cached: p.cached,
            },
            SearchEvent::SourceDamaged { errors, seconds } => Event::SourceDamaged {
                errors: *errors,
                seconds: seconds.to_vec(),
            },
        }
    }
}

impl From<(&str, &crate::core::Progress)> for Event {
    fn from((label, p): (&str, &crate::core::Progress)) -> Self {
        Event::FramesDone {
            label: label.to_string(),
            frames: p.frames_done,
            total: p.frames_total,
            fps: p.fps,
            eta_seconds: p.eta.map(|d| d.as_secs_f64()),
        }
    }
}

/// Where events go.
pub trait EventSink {
    /// Take one event.
    fn emit(&mut self, event: Event);
}

#[cfg(test)]
mod tests {
    use super::Event;

    #[test]
    fn events_are_tagged_and_round_trip() {
        let e = Event::ProbeScored {
            knob: 28.0,
            score: 95.2,
            predicted_percent: 41.5,
            cached: false,
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(
            text.starts_with(r#"{"event":"probe_scored","knob":28.0"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
        assert_eq!(e.kind(), "probe_scored");
    }
}
