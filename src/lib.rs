//! mediaforce: shrink a video library without visible quality loss, safely.
//!
//! This crate re-exports the library layers for programs that embed mediaforce:
//! - [`core`]: probe, decode, encode and mux in-process through FFmpeg's libav*.
//! - [`metrics`]: VMAF and other quality metrics in-process through libvmaf.
//! - [`codecs`]: one adapter per encoder behind one trait.
//! - [`search`]: encode to a target VMAF by searching the quality knob on in-memory samples.
//! - [`catalog`], [`scan`], [`settings`]: the library in SQLite, scanned incrementally.
//! - [`policy`], [`rank`], [`manifest`]: what to do with each file, and the reviewable plan.
//! - [`domain`]: item states, decisions and the one table of allowed state changes.
//!
//! ```no_run
//! use mediaforce::core::transcode::{transcode, TranscodeOptions};
//! let opts = TranscodeOptions::new("libsvtav1").option("crf", 32).option("preset", 8);
//! let report = transcode("in.mkv".as_ref(), "out.mkv".as_ref(), &opts, &mut mediaforce::core::NoProgress)?;
//! println!("{} frames, {} bytes", report.frames, report.output_bytes);
//! # Ok::<(), mediaforce::core::Error>(())
//! ```

pub mod batch;
pub mod cache;
pub mod catalog;
pub mod compare;
pub mod control;
pub mod db;
pub mod domain;
pub mod events;
pub mod features;
pub mod hosts;
pub mod jobs;
pub mod ladder;
pub mod lease;
pub mod manifest;
pub mod model;
pub mod passverify;
pub mod point;
pub mod policy;
pub mod priority;
pub mod promote;
pub mod rank;
pub mod scan;
pub mod schedule;
pub mod search;
pub mod settings;
pub mod stage;
pub mod stat;
pub mod transfer;
pub mod tuning;
pub mod validate;

pub use mediaforce_codecs as codecs;
pub use mediaforce_core as core;
pub use mediaforce_metrics as metrics;
pub use mediaforce_store as store;
