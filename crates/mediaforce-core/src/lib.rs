//! mediaforce's media layer: probe, decode, encode and mux, in-process through FFmpeg's libav*.
//!
//! Nothing here starts a subprocess. Each libav object is owned by a Rust value that frees it on
//! drop (through `ffmpeg-next`, plus the few raw accesses in the private `ffi` module); errors are
//! typed ([`Error`]) and name the file they concern.
//!
//! Modules, one concept each:
//! - [`probe`](mod@probe): what a file contains.
//! - [`decode`]: video frames out of a file, converted to what the consumer asks for, with
//!   frame-exact seeking.
//! - [`encode`]: frames into any libav encoder, packets out.
//! - [`transcode`]: a whole file re-encoded and remuxed with every other stream carried over.
//! - [`synth`]: deterministic test media generated in-process (tests, demos, benchmarks).
//! - [`progress`]: the trait long operations report through.
//! - [`version`]: the linked libav versions, for telemetry and cache keys.
//! - [`sched`]: encoder threads kept off real-time scheduling.

pub mod chunk;
pub mod compose;
pub mod decode;
pub mod encode;
pub mod error;
mod ffi;
pub mod hw;
pub mod input;
pub mod mux;
pub mod native;
pub mod probe;
pub mod progress;
pub mod repack;
pub mod scenes;
pub mod sched;
pub mod span;
pub mod synth;
pub mod transcode;
pub mod verify;
pub mod version;
pub mod video_config;

pub use error::{Error, Result};
pub use ffmpeg_next;
pub use probe::{probe, MediaInfo};
pub use progress::{NoProgress, Progress, ProgressSink};

/// Prepare libav for use. Idempotent and cheap; every entry point calls it.
///
/// It also silences libav's own logging to stderr: the library reports failures through typed
/// errors, and libav's log lines would break one-line error output. Call
/// [`set_libav_log_verbose`] to get them back when debugging.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // ffmpeg_next::init only registers devices on FFmpeg >= 4; it cannot fail in a way we act on.
        let _ = ffmpeg_next::init();
        // libav's error lines are kept per thread so errors can quote what an encoder refused;
        // MEDIAFORCE_LIBAV_LOG=1 also echoes its warnings and errors to stderr, for debugging.
        ffi::install_log_capture(std::env::var_os("MEDIAFORCE_LIBAV_LOG").is_some());
    });
}

/// Let libav print its warnings and errors to stderr again (debugging aid).
pub fn set_libav_log_verbose() {
    init();
    ffi::install_log_capture(true);
}
