//! Folder rules' patterns: a path prefix, or a glob on the path or on a folder name.

use globset::{GlobBuilder, GlobMatcher};
use std::path::{Component, Path, PathBuf};

/// Matches paths by folder name, absolute prefix or glob, ignoring case.
#[derive(Debug, Clone)]
pub struct PathMatcher {
    pub(super) kind: MatchKind,
}

#[derive(Debug, Clone)]
pub(super) enum MatchKind {
    Glob(GlobMatcher),
    Prefix(PathBuf),
    Names(Vec<String>),
}

impl PathMatcher {
    /// Compile a pattern: glob characters make a glob over the whole path, an absolute path is
    /// a folder prefix, anything else is a sequence of folder names matched at any depth.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let kind = if pattern.contains(['*', '?', '[', '{']) {
            let glob = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("bad glob {pattern:?}: {e}"))?;
            MatchKind::Glob(glob.compile_matcher())
        } else if Path::new(pattern).is_absolute() {
            MatchKind::Prefix(PathBuf::from(pattern.to_lowercase()))
        } else {
            let names: Vec<String> = Path::new(pattern)
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().to_lowercase()),
                    _ => None,
                })
                .collect();
            if names.is_empty() {
                return Err(format!("empty pattern {pattern:?}"));
            }
            MatchKind::Names(names)
        };
        Ok(Self { kind })
    }

    /// Whether the pattern is a bare folder name (matched at any depth).
    pub fn is_name_pattern(&self) -> bool {
        matches!(self.kind, MatchKind::Names(_))
    }

    /// Whether `path` (absolute) matches.
    pub fn matches(&self, path: &Path) -> bool {
        match &self.kind {
            MatchKind::Glob(g) => g.is_match(path),
            MatchKind::Prefix(p) => {
                PathBuf::from(path.to_string_lossy().to_lowercase()).starts_with(p)
            }
            MatchKind::Names(names) => {
                let comps: Vec<String> = path
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(s) => Some(s.to_string_lossy().to_lowercase()),
                        _ => None,
                    })
                    .collect();
                comps.windows(names.len()).any(|w| w == names.as_slice())
            }
        }
    }
}
