//! Versions of the linked FFmpeg libraries, recorded with results so caches and telemetry can
//! tell builds apart.

use serde::Serialize;

/// The linked FFmpeg build.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FfmpegVersions {
    /// FFmpeg's release string (`"5.1.6-0+deb12u1"`).
    pub release: String,
    /// Library name and `major.minor.micro`.
    pub libraries: Vec<(String, String)>,
}

/// Read the versions of the linked libav libraries.
pub fn ffmpeg() -> FfmpegVersions {
    FfmpegVersions {
        release: crate::ffi::ffmpeg_release(),
        libraries: crate::ffi::lib_versions()
            .iter()
            .map(|(n, v)| {
                (
                    (*n).to_string(),
                    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff),
                )
            })
            .collect(),
    }
}
