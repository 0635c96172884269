//! The one event stream: every job, search and encode reports what happens as owned,
//! serde-tagged [`Event`]s into an [`EventSink`]. The sinks are the reporters: the terminal
//! draws bars and lines, `--json` stays quiet, a worker stores them in the job's log (which
//! the web page streams), MCP forwards them as progress notifications.
//!
//! The media layer below reports frames through [`ProgressSink`](crate::core::ProgressSink);
//! [`Frames`] turns that into [`Event::FramesDone`] so a sink sees one stream.

use crate::search::SampleSpan;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One thing that happened in a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A plan item's job starts on this host.
    ItemStarted {
        /// Index in the plan.
        index: usize,
        /// The source file.
        source: PathBuf,
        /// The name of the encoder's quality knob (`crf`, `qp`...), for lines about probes.
        knob: String,
    },
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
    /// Frames of the probe under way encoded, decoded and scored so far (about twice a
    /// second), out of all sample frames.
    ProbeProgress {
        /// Frames scored.
        frames: u64,
        /// Frames in all samples.
        total: u64,
        /// Frames a second since the probe started.
        fps: f64,
    },
    /// A probe finished.
    ProbeScored {
        /// Knob value.
        knob: f64,
        /// The figure steered by.
        score: f64,
        /// Mean VMAF over the sample frames.
        #[serde(default)]
        mean: f64,
        /// 5th percentile VMAF.
        #[serde(default)]
        p5: f64,
        /// Lowest frame VMAF.
        #[serde(default)]
        min: f64,
        /// Predicted size as a percentage of the source.
        predicted_percent: f64,
        /// Answered from the probe cache.
        cached: bool,
    },
    /// Decoding the source found damaged data (concealed, as players do).
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
        source: PathBuf,
        /// The state it is in now.
        state: String,
        /// What the move said (knob and scores, the failure).
        detail: Option<String>,
    },
    /// A plan item's job ended on this host.
    ItemFinished {
        /// Index in the plan.
        index: usize,
        /// The source file.
        source: PathBuf,
        /// How it ended (`staged`, `no_result`, `failed`, `cancelled`...).
        outcome: String,
        /// The ending for people: sizes, scores, or the cause.
        detail: String,
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
            Event::ItemStarted { .. } => "item_started",
            Event::SamplesPlaced { .. } => "samples_placed",
            Event::ProbeStarted { .. } => "probe_started",
            Event::ProbeProgress { .. } => "probe_progress",
            Event::ProbeScored { .. } => "probe_scored",
            Event::SourceDamaged { .. } => "source_damaged",
            Event::FramesDone { .. } => "frames_done",
            Event::StateChanged { .. } => "state_changed",
            Event::ItemFinished { .. } => "item_finished",
            Event::JobFailed { .. } => "job_failed",
        }
    }

    /// Whether the event reports progress several times a second (logs keep only some).
    pub fn is_progress(&self) -> bool {
        matches!(self, Event::ProbeProgress { .. } | Event::FramesDone { .. })
    }

    /// The event of a scored probe.
    pub fn probe_scored(p: &crate::search::Probe) -> Self {
        Event::ProbeScored {
            knob: p.knob,
            score: p.score,
            mean: p.vmaf.mean,
            p5: p.vmaf.p5,
            min: p.vmaf.min,
            predicted_percent: p.predicted_percent,
            cached: p.cached,
        }
    }

    /// The event of a snapshot of `label`'s frames.
    pub fn frames(label: &str, p: &crate::core::Progress) -> Self {
        Event::FramesDone {
            label: label.to_string(),
            frames: p.frames_done,
            total: p.frames_total,
            fps: p.fps,
            eta_seconds: p.eta.map(|d| d.as_secs_f64()),
        }
    }

    /// A scored probe for people: `crf 28: VMAF 94.85 (mean 94.85, p5 90.12, min 88.03),
    /// predicted 19.3% of source`, with `(cached)` when the cache answered; `None` for other
    /// events.
    pub fn describe_probe(&self, knob_name: &str) -> Option<String> {
        let Event::ProbeScored {
            knob,
            score,
            mean,
            p5,
            min,
            predicted_percent,
            cached,
        } = self
        else {
            return None;
        };
        Some(format!(
            "{knob_name} {knob}: VMAF {score:.2} (mean {mean:.2}, p5 {p5:.2}, min {min:.2}), predicted {predicted_percent:.1}% of source{}",
            if *cached { " (cached)" } else { "" }
        ))
    }
}

/// Where events go: a reporter. Searches poll [`EventSink::cancelled`] between and inside
/// probes, encodes between frames.
pub trait EventSink {
    /// Take one event.
    fn emit(&mut self, event: Event);
    /// `true` stops the work under way (the search ends with a `Cancelled` error, an encode
    /// removes its partial output). Ctrl-C handlers and job controls set what this reads.
    fn cancelled(&self) -> bool {
        false
    }
}

/// A sink that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl EventSink for Quiet {
    fn emit(&mut self, _event: Event) {}
}

/// Every event to two sinks (a job's log and its front end); cancelled when either says so.
pub struct Tee<'a>(pub &'a mut dyn EventSink, pub &'a mut dyn EventSink);

impl std::fmt::Debug for Tee<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tee")
    }
}

impl EventSink for Tee<'_> {
    fn emit(&mut self, event: Event) {
        self.0.emit(event.clone());
        self.1.emit(event);
    }

    fn cancelled(&self) -> bool {
        self.0.cancelled() || self.1.cancelled()
    }
}

/// The media layer's frame progress as [`Event::FramesDone`] events of one label, into a sink.
pub struct Frames<'a> {
    label: &'static str,
    sink: &'a mut dyn EventSink,
}

impl std::fmt::Debug for Frames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frames")
            .field("label", &self.label)
            .finish()
    }
}

impl<'a> Frames<'a> {
    /// Frames of `label` (`"encode"`, `"score"`) into `sink`.
    pub fn new(label: &'static str, sink: &'a mut dyn EventSink) -> Self {
        Self { label, sink }
    }
}

impl crate::core::ProgressSink for Frames<'_> {
    fn start(&mut self, _label: &str, total: Option<u64>) {
        self.sink.emit(Event::FramesDone {
            label: self.label.to_string(),
            frames: 0,
            total,
            fps: 0.0,
            eta_seconds: None,
        });
    }

    fn update(&mut self, p: &crate::core::Progress) {
        self.sink.emit(Event::frames(self.label, p));
    }

    fn cancelled(&self) -> bool {
        self.sink.cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::Event;

    #[test]
    fn events_are_tagged_and_round_trip() {
        let e = Event::ProbeScored {
            knob: 28.0,
            score: 95.2,
            mean: 95.2,
            p5: 91.0,
            min: 88.5,
            predicted_percent: 41.5,
            cached: true,
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(
            text.starts_with(r#"{"event":"probe_scored","knob":28.0"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
        assert_eq!(e.kind(), "probe_scored");
        assert_eq!(
            e.describe_probe("crf").unwrap(),
            "crf 28: VMAF 95.20 (mean 95.20, p5 91.00, min 88.50), predicted 41.5% of source (cached)"
        );
    }

    #[test]
    fn a_probe_logged_by_the_previous_release_still_reads() {
        let old = r#"{"event":"probe_scored","knob":30.0,"score":93.1,"predicted_percent":20.0,"cached":false}"#;
        let e: Event = serde_json::from_str(old).unwrap();
        assert!(matches!(e, Event::ProbeScored { knob, mean, .. } if knob == 30.0 && mean == 0.0));
    }

    #[test]
    fn frames_turn_media_progress_into_events_and_pass_cancellation_down() {
        use crate::core::ProgressSink;
        struct Keep(Vec<Event>, bool);
        impl super::EventSink for Keep {
            fn emit(&mut self, e: Event) {
                self.0.push(e);
            }
            fn cancelled(&self) -> bool {
                self.1
            }
        }
        let mut keep = Keep(Vec::new(), true);
        let mut frames = super::Frames::new("encode", &mut keep);
        frames.start("ignored", Some(100));
        let mut clock = crate::core::progress::ProgressClock::new(Some(100));
        frames.update(&clock.snapshot(40));
        assert!(frames.cancelled());
        let _ = clock.tick(0);
        let got: Vec<(u64, Option<u64>)> = keep
            .0
            .iter()
            .map(|e| match e {
                Event::FramesDone {
                    label,
                    frames,
                    total,
                    ..
                } if label == "encode" => (*frames, *total),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, vec![(0, Some(100)), (40, Some(100))]);
    }
}
