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

/// The file name (with its version) of a shared library loaded into this process whose name
/// starts with `stem`, e.g. `"libx264"` → `"libx264.so.164"`, `"libSvtAv1Enc"` →
/// `"libSvtAv1Enc.so.1.4.1"`. Read from the process's own memory map (Linux), so it names the
/// library actually linked, not one on disk. `None` when not loaded or not on Linux.
pub fn loaded_library(stem: &str) -> Option<String> {
    crate::init();
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let prefix = format!("{stem}.so");
    maps.lines()
        .filter_map(|l| l.rsplit('/').next())
        .find(|name| name.starts_with(&prefix))
        .map(str::to_string)
}
