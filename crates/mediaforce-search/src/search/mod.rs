//! Encode to a target VMAF: find the cheapest quality-knob value whose encode still meets a VMAF
//! target, by encoding frame-exact samples in memory, decoding them in memory and scoring them
//! against the source frames. Nothing is written to disk.
//!
//! The search works on any [`CodecAdapter`](crate::codecs::CodecAdapter): it moves along the
//! adapter's knob in its own steps, starting from the adapter's default for the source height,
//! then interpolating between the measured (knob, score) points that bracket the target.

mod config;
mod crf;
mod full;
mod knob;
mod probe;
mod report;
mod samples;

pub use crate::stat::TargetStat;
pub use config::{default_sample_count, parse_gate, SearchConfig, DEFAULT_SAMPLE_SECONDS};
pub use crf::crf_search;
pub use full::{encode_to_target, EncodeReport, FullEncode};
pub use knob::{next_knob, Axis, Point};
pub use report::{Outcome, Probe, SearchError, SearchReport, Uncertainty};
pub use samples::{
    place_samples, place_samples_indexed, scaled_size, Placement, SampleSpan, FEATURE_FRAMES,
};

#[cfg(test)]
mod tests;
