//! The one place a search configuration is assembled for a use case: the file's policy (or
//! the adapter's defaults), what the command asked for, and what the store adds (the probe
//! cache, the knob model's first guess). The CLI, MCP and the tuning use cases call it; the
//! encode jobs build theirs from the same `policy::search_config`.

use crate::{App, AppError, ErrorKind, Result};
use mediaforce::policy::{search_config, SearchBase, SearchOverrides};
use mediaforce::search::SearchConfig;
use std::path::Path;

/// A command's search: what it overrides, and what it takes from the store.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Settings the command sets (flags, tool arguments).
    pub overrides: SearchOverrides,
    /// Start from the adapter's defaults instead of the file's policy (measurements that serve
    /// no policy).
    pub plain: bool,
    /// Read and write the probe cache.
    pub cache: bool,
    /// The first probe from the knob model (the store's points and the shipped corpus);
    /// `None`: as the policy says (off on a plain base).
    pub learned_guess: Option<bool>,
}

impl Default for SearchRequest {
    fn default() -> Self {
        Self {
            overrides: SearchOverrides::default(),
            plain: false,
            cache: true,
            learned_guess: None,
        }
    }
}

impl App {
    /// The search configuration for `source` (its video height read from its headers).
    pub fn search_config(&self, source: &Path, req: &SearchRequest) -> Result<SearchConfig> {
        let info = mediaforce::core::probe::probe_headers(source)
            .map_err(|e| AppError::new(ErrorKind::Invalid, format!("{}: {e}", source.display())))?;
        let height = info
            .primary_video()
            .and_then(|s| s.video.as_ref().map(|v| v.height))
            .ok_or_else(|| {
                AppError::new(
                    ErrorKind::Invalid,
                    format!("{}: no video stream", source.display()),
                )
            })?;
        self.search_config_at(source, height, req)
    }

    /// The search configuration for `source`, `height` pixels tall.
    pub fn search_config_at(
        &self,
        source: &Path,
        height: u32,
        req: &SearchRequest,
    ) -> Result<SearchConfig> {
        let policy = (!req.plain).then(|| self.policies().resolve(source).policy);
        let base = policy
            .as_ref()
            .map_or(SearchBase::Plain, SearchBase::Policy);
        let mut cfg = search_config(base, height, &req.overrides);
        if cfg.encoder.is_empty() {
            return Err(AppError::new(
                ErrorKind::Invalid,
                format!("{}: no encoder named for the search", source.display()),
            ));
        }
        mediaforce::codecs::find(&cfg.encoder)
            .map_err(|e| AppError::new(ErrorKind::Invalid, e.to_string()))?;
        if req.cache {
            cfg.cache = Some(self.probe_cache()?);
        }
        let learned = req
            .learned_guess
            .unwrap_or_else(|| policy.as_ref().is_some_and(|p| p.encode.learned_guess));
        if learned {
            cfg.model = mediaforce::model::KnobModel::for_config(self.catalog.all_points()?, &cfg)
                .map(std::sync::Arc::new);
        }
        Ok(cfg)
    }
}
