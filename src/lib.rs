//! mediaforce: shrink a video library without visible quality loss, safely.
//!
//! This crate re-exports the library layers for programs that embed mediaforce:
//! - [`core`]: probe, decode, encode and mux in-process through FFmpeg's libav*.
//! - [`metrics`]: VMAF and other quality metrics in-process through libvmaf.
//! - [`codecs`]: one adapter per encoder behind one trait.
//! - [`search`] (crate `mediaforce-search`): encode to a target VMAF by searching the quality
//!   knob on in-memory samples, with the learned first guess, the probe cache and the ladder.
//! - [`catalog`], [`scan`], [`policy`], [`rank`], [`manifest`], [`promote`] (crate
//!   `mediaforce-library`): the library in the store, what to do with each file, the plan and
//!   the swap into the library.
//! - [`stage`], [`validate`], [`compare`], [`batch`], [`hosts`] (crate `mediaforce-jobs`): the
//!   work that runs under a lease.
//! - [`store`]: every SQL statement, on SQLite or PostgreSQL.
//!
//! ```no_run
//! use mediaforce::core::transcode::{transcode, TranscodeOptions};
//! let opts = TranscodeOptions::new("libsvtav1").option("crf", 32).option("preset", 8);
//! let report = transcode("in.mkv".as_ref(), "out.mkv".as_ref(), &opts, &mut mediaforce::core::NoProgress)?;
//! println!("{} frames, {} bytes", report.frames, report.output_bytes);
//! # Ok::<(), mediaforce::core::Error>(())
//! ```

pub use mediaforce_jobs::{
    batch, compare, hosts, jobs, lease, priority, runner, schedule, stage, transfer, validate,
};
pub use mediaforce_library::{
    analyze, approve, catalog, control, domain, manifest, policy, promote, rank, repack, scan,
    settings,
};
pub use mediaforce_search::{
    allocate, cache, db, events, features, ladder, model, passverify, point, search, stat, tuning,
};

pub use mediaforce_codecs as codecs;
pub use mediaforce_core as core;
pub use mediaforce_metrics as metrics;
pub use mediaforce_store as store;
