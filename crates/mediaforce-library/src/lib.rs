//! mediaforce's library domain: what the library holds and what may happen to each file.
//!
//! - [`domain`]: item states, decisions and the one table of allowed state changes.
//! - [`catalog`], [`scan`]: the library in the store, scanned incrementally.
//!
//! The item states and the catalog's tables are the store crate's (every SQL statement lives
//! there); they are re-exported here under their old names.
//! - [`policy`], [`settings`], [`rank`], [`manifest`]: what to do with each file, and the plan.
//! - [`approve`]: the rules that approve an encode without a person.
//! - [`promote`]: the crash-safe, fenced, reversible swap into the library.
//! - [`control`]: the job control (cancel, pause, the lease's fence) jobs read.

pub mod analyze;
pub mod approve;
pub mod control;
pub mod item_kind;
pub mod manifest;
pub mod policy;
pub mod promote;
pub mod rank;
pub mod repack;
pub mod scan;
pub mod settings;

pub use mediaforce_codecs as codecs;
pub use mediaforce_core as core;
pub(crate) use mediaforce_search::{db, metrics, model, point, search};
pub use mediaforce_store as store;
pub use mediaforce_store::{catalog, domain};
