//! Typed errors of the metrics layer.

use std::path::PathBuf;

/// Result alias for the metrics layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while scoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Decoding a source failed (the media layer's error names the file).
    #[error(transparent)]
    Media(#[from] mediaforce_core::Error),
    /// A libvmaf call failed.
    #[error("libvmaf {op} failed (code {code})")]
    Vmaf {
        /// The call.
        op: &'static str,
        /// libvmaf's negative errno.
        code: i32,
    },
    /// A model could not be loaded.
    #[error("VMAF model {name}: {reason}")]
    Model {
        /// Name or path asked for.
        name: String,
        /// Why it failed.
        reason: String,
    },
    /// A feature extractor is unknown to libvmaf or could not run.
    #[error("libvmaf feature {name} is unknown or could not run")]
    Feature {
        /// The name asked for.
        name: String,
    },
    /// Reference and distorted have different frame counts.
    #[error("{}: {distorted} frames, but reference {} has {reference}; refusing to score a partial pairing", distorted_path.display(), reference_path.display())]
    FrameCountMismatch {
        /// Reference path.
        reference_path: PathBuf,
        /// Distorted path.
        distorted_path: PathBuf,
        /// Reference frames.
        reference: u64,
        /// Distorted frames.
        distorted: u64,
    },
    /// Nothing to score.
    #[error("{}: no frames to score", path.display())]
    NoFrames {
        /// The file.
        path: PathBuf,
    },
    /// File I/O failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A decode thread died.
    #[error("decoder thread for {} stopped unexpectedly", path.display())]
    Thread {
        /// The file it decoded.
        path: PathBuf,
    },
}
