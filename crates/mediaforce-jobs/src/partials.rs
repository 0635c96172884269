//! The hidden partial files an encode writes beside its staging path, their names and their
//! removal (a killed run's, or a queued job's own after a lost lease).

use crate::control::Fence;
use std::path::{Path, PathBuf};

/// Remove `.name.partial-*` files a killed run left beside `staging`.
pub fn remove_stale_partials(staging: &Path) {
    let (Some(dir), Some(name)) = (staging.parent(), staging.file_name()) else {
        return;
    };
    // `.name.partial-<pid>` of a direct encode; `.name.partial-lease-<job>-<epoch>.ext` of a
    // queued one, and that file's own `..name.partial-lease-...partial-<pid>`.
    let prefix = format!(".{}.partial-", name.to_string_lossy());
    let nested = format!(".{prefix}");
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) || n.starts_with(&nested) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Remove a job's own private output and the partial file its encoder writes beside it.
pub(crate) fn remove_own_partials(output: &Path) {
    let _ = std::fs::remove_file(output);
    let (Some(dir), Some(name)) = (output.parent(), output.file_name()) else {
        return;
    };
    let prefix = format!(".{}.partial-", name.to_string_lossy());
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Where a queued job writes its encode before the fenced rename: beside the staging path,
/// named after the lease, with the staging path's extension (the container follows it).
pub(crate) fn private_output(staging: &Path, fence: Fence) -> PathBuf {
    let name = staging
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = staging
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    staging.with_file_name(format!(
        ".{name}.partial-lease-{}-{}{ext}",
        fence.job, fence.epoch
    ))
}
