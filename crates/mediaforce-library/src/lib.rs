//! mediaforce's library domain: what the library holds and what may happen to each file.
//!
//! - [`domain`]: item states, decisions and the one table of allowed state changes.
//! - [`catalog`], [`scan`]: the library in the store, scanned incrementally.
//! - [`policy`], [`settings`], [`rank`], [`manifest`]: what to do with each file, and the plan.
//! - [`promote`]: the crash-safe, fenced, reversible swap into the library.
//! - [`control`]: the job control (cancel, pause, the lease's fence) jobs read.

pub mod catalog;
pub mod control;
pub mod domain;
pub mod manifest;
pub mod policy;
pub mod promote;
pub mod rank;
pub mod scan;
pub mod settings;

pub use mediaforce_codecs as codecs;
pub use mediaforce_core as core;
pub(crate) use mediaforce_search::{db, metrics, point, search};
pub use mediaforce_store as store;
