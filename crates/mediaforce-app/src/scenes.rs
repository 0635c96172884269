//! The scenes of a file, detected once per content: kept in the store's probe cache under the
//! file's fingerprint (its quick content hash and modification time) and the options, so
//! every host sharing the store reads them instead of decoding the film again.

use crate::{App, AppError, ErrorKind, Result};
use mediaforce::core::scenes::{detect_scenes, SceneOptions, SceneReport};
use mediaforce::core::ProgressSink;
use serde::Serialize;
use std::path::Path;

/// A file's scenes, and whether they came from the cache.
#[derive(Debug, Clone, Serialize)]
pub struct ScenesView {
    /// The scenes.
    #[serde(flatten)]
    pub report: SceneReport,
    /// Read from the store, not detected now.
    pub cached: bool,
}

/// The cache key of `fingerprint`'s scenes under `options`.
fn cache_key(fingerprint: &str, options: &SceneOptions) -> String {
    format!(
        "scenes:v1:{fingerprint}:{}",
        serde_json::to_string(options).expect("options serialise")
    )
}

impl App {
    /// The scenes of `path` under `options`: from the cache when this content was looked at
    /// with the same options (unless `fresh`), else detected (`progress` sees the decode) and
    /// kept.
    pub fn scenes(
        &self,
        path: &Path,
        options: &SceneOptions,
        fresh: bool,
        progress: &mut dyn ProgressSink,
    ) -> Result<ScenesView> {
        let fingerprint = mediaforce::cache::source_fingerprint(path)
            .map_err(|e| AppError::new(ErrorKind::Invalid, format!("{}: {e}", path.display())))?;
        let key = cache_key(&fingerprint, options);
        let cache = self.probe_cache()?;
        if !fresh {
            if let Ok(Some(mut report)) = cache.get_json::<SceneReport>(&key) {
                report.path = path.to_path_buf();
                return Ok(ScenesView {
                    report,
                    cached: true,
                });
            }
        }
        let report = detect_scenes(path, options, progress)
            .map_err(|e| AppError::new(ErrorKind::Invalid, e.to_string()))?;
        cache
            .put_json(&key, &report)
            .map_err(|e| AppError::new(ErrorKind::Internal, format!("{}: {e}", path.display())))?;
        Ok(ScenesView {
            report,
            cached: false,
        })
    }
}
