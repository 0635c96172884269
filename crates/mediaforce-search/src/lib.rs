//! mediaforce's target-quality search: find the smallest encode that meets a VMAF target by
//! searching the encoder's quality knob on in-memory samples of the source.
//!
//! - [`search`]: the search itself (samples, probes, the closed loop, events).
//! - [`model`], [`features`], [`point`], [`tuning`]: the learned first guess and what it learns from.
//! - [`passverify`]: scoring the encode in the same pass that writes it.
//! - [`cache`]: measured probes kept in the store so a rerun is instant.
//! - [`ladder`]: a bit-rate ladder from the same probes.
//! - [`events`]: the owned event stream that reporters subscribe to.
//! - [`stat`], [`db`]: the target statistic; the clock and the quick content hash.

pub mod allocate;
pub mod events;
pub mod features;
pub mod ladder;
pub mod model;
pub mod passverify;
pub mod point;
pub mod search;
pub mod stat;
pub mod tuning;

pub use mediaforce_codecs as codecs;
pub use mediaforce_core as core;
pub use mediaforce_metrics as metrics;
pub use mediaforce_store as store;
pub use mediaforce_store::{cache, db};
