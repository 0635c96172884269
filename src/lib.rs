//! mediaforce: shrink a video library without visible quality loss, safely.
//!
//! This crate re-exports the library layers for programs that embed mediaforce:
//! - [`core`]: probe, decode, encode and mux in-process through FFmpeg's libav*.
//! - [`metrics`]: VMAF and other quality metrics in-process through libvmaf.
//! - [`codecs`]: one adapter per encoder behind one trait.
//! - [`search`]: encode to a target VMAF by searching the quality knob on in-memory samples.
//!
//! ```no_run
//! use mediaforce::core::transcode::{transcode, TranscodeOptions};
//! let opts = TranscodeOptions::new("libsvtav1").option("crf", 32).option("preset", 8);
//! let report = transcode("in.mkv".as_ref(), "out.mkv".as_ref(), &opts, &mut mediaforce::core::NoProgress)?;
//! println!("{} frames, {} bytes", report.frames, report.output_bytes);
//! # Ok::<(), mediaforce::core::Error>(())
//! ```

pub mod cache;
pub mod search;

pub use mediaforce_codecs as codecs;
pub use mediaforce_core as core;
pub use mediaforce_metrics as metrics;
