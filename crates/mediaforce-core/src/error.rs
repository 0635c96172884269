//! Typed errors of the media layer.
//!
//! Every variant that concerns a file names it, so the CLI can print the error as one line
//! (`path: cause`) without adding context of its own.

use std::path::{Path, PathBuf};

/// Result alias for the media layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the media layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path could not be read or written at the operating-system level.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The path is a directory where a media file was expected.
    #[error("{}: is a directory, not a media file", path.display())]
    IsDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// The file has no bytes at all.
    #[error("{}: file is empty", path.display())]
    Empty {
        /// The file concerned.
        path: PathBuf,
    },
    /// libav could not recognise or parse the container.
    #[error("{}: not a readable media file: {reason}", path.display())]
    NotMedia {
        /// The file concerned.
        path: PathBuf,
        /// Why, in libav's words where it gave any.
        reason: String,
    },
    /// The file has no stream of the kind the operation needs.
    #[error("{}: has no {kind} stream", path.display())]
    NoStream {
        /// The file concerned.
        path: PathBuf,
        /// "video", "audio", ...
        kind: &'static str,
    },
    /// A stream's codec cannot be decoded by the linked FFmpeg.
    #[error("{}: stream {stream}: unsupported codec {codec}", path.display())]
    UnsupportedCodec {
        /// The file concerned.
        path: PathBuf,
        /// Stream index.
        stream: usize,
        /// Codec name as libav reports it ("none" when unknown).
        codec: String,
    },
    /// Decoding found damaged data.
    #[error("{}: corrupt data at {at}: {reason}", path.display())]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// Where: a timestamp or packet position.
        at: String,
        /// libav's message.
        reason: String,
    },
    /// The file ends before what its container or stream declares: a cut-short copy.
    #[error("{}: ends early: the video stops at {ends_at:.2} s of {declared:.2} s declared ({frames} frames decode)", path.display())]
    Truncated {
        /// The file concerned.
        path: PathBuf,
        /// Where the decoded video ends, in seconds.
        ends_at: f64,
        /// The declared duration, in seconds.
        declared: f64,
        /// Frames that decode.
        frames: u64,
    },
    /// The source has a property this operation refuses.
    #[error("{}: unsupported input: {reason}", path.display())]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// What is refused and why.
        reason: String,
    },
    /// A libav call failed; `op` says which step.
    #[error("{}: {op} failed: {source}", path.display())]
    Libav {
        /// The file concerned.
        path: PathBuf,
        /// The step that failed, in words ("open encoder libx264", "write header").
        op: String,
        /// libav's error.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// An encoder refused to open or to take a frame; `reason` gives its own words where it
    /// logged any, else what it was asked to do.
    #[error("{}: encoder {encoder} refused to {op}: {reason}", path.display())]
    Encoder {
        /// The file whose frames were being encoded (the encoder's name when there is none).
        path: PathBuf,
        /// The libav encoder name.
        encoder: String,
        /// The step, in words ("open", "encode a frame").
        op: String,
        /// What the encoder said, or what it was given.
        reason: String,
    },
    /// An encoder is not compiled into the linked FFmpeg.
    #[error("encoder {name} is not available in the linked FFmpeg build")]
    EncoderNotFound {
        /// The libav encoder name.
        name: String,
    },
    /// The caller asked to stop (see [`crate::ProgressSink::cancelled`]).
    #[error("{}: cancelled", path.display())]
    Cancelled {
        /// The file being worked on.
        path: PathBuf,
    },
    /// A caller passed a value outside what the operation accepts.
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// The argument.
        what: &'static str,
        /// Why it is invalid.
        reason: String,
    },
}

impl Error {
    pub(crate) fn libav(path: &Path, op: impl Into<String>, source: ffmpeg_next::Error) -> Self {
        Error::Libav {
            path: path.to_path_buf(),
            op: op.into(),
            source,
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
