//! mediaforce's jobs: the work that runs under a lease, on this host or another.
//!
//! - [`runner`]: the one claim loop every way of running queued jobs uses.
//! - [`batch`], [`jobs`], [`lease`]: what encode, validate and compare jobs do under it, and
//!   keeping their leases.
//! - [`stage`]: search, encode and stage one plan item for review; [`repack`]: a remux or
//!   audio item instead; [`item`]: what both share (outcomes, the item's event sink).
//! - [`validate`], [`compare`]: machine validation and side-by-side review clips.
//! - [`hosts`], [`schedule`], [`priority`], [`transfer`]: workers, their windows and file transfers.

pub mod batch;
pub mod compare;
pub mod hosts;
pub mod item;
pub mod jobs;
pub mod lease;
pub mod lock;
pub mod partials;
pub mod priority;
pub mod repack;
pub mod runner;
pub mod schedule;
pub mod stage;
pub mod transfer;
pub mod validate;

pub use mediaforce_codecs as codecs;
pub use mediaforce_core as core;
pub(crate) use mediaforce_library::{catalog, control, domain, manifest, policy};
pub use mediaforce_metrics as metrics;
pub(crate) use mediaforce_search::{cache, events, model, search, tuning};
pub use mediaforce_store as store;
