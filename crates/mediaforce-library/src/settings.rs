//! Library settings: source roots, the transcode (staging) root and ignore patterns, resolved
//! from the shipped defaults (`[library]` in `config/defaults.toml`, or the operator's
//! `policy.toml`) plus runtime settings stored in the catalog by `mediaforce settings`.

use crate::catalog::{Catalog, CatalogError};
use crate::policy::{PathMatcher, Policy};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Resolved library settings.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// The state directory (catalog, manifests, operator policy).
    pub data_dir: PathBuf,
    /// Source roots: shipped ones first, then runtime ones.
    pub roots: Vec<PathBuf>,
    /// Roots that come from the shipped defaults (cannot be removed at runtime).
    pub shipped_roots: Vec<PathBuf>,
    /// Staging root.
    pub transcode_root: PathBuf,
    /// Where the transcode root came from: `defaults`, `runtime` or `data dir`.
    pub transcode_root_source: String,
    /// Ignore patterns (shipped, then runtime).
    pub ignore: Vec<String>,
    /// Extensions probed by scans (lower case, no dot).
    pub extensions: Vec<String>,
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(s: &str) -> PathBuf {
    match (s.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(s),
    }
}

impl Settings {
    /// Combine the shipped library defaults of `policy` with the catalog's runtime settings.
    pub fn resolve(
        catalog: &Catalog,
        policy: &Policy,
        data_dir: &Path,
    ) -> Result<Self, CatalogError> {
        let shipped_roots: Vec<PathBuf> = policy
            .library
            .roots
            .iter()
            .map(|r| expand_home(r))
            .collect();
        let mut roots = shipped_roots.clone();
        for r in catalog.setting_values("root")? {
            let p = PathBuf::from(r);
            if !roots.contains(&p) {
                roots.push(p);
            }
        }
        let runtime_troot = catalog.setting_values("transcode_root")?.into_iter().next();
        let (transcode_root, transcode_root_source) = match runtime_troot {
            Some(t) => (PathBuf::from(t), "runtime".to_string()),
            None if !policy.library.transcode_root.is_empty() => (
                expand_home(&policy.library.transcode_root),
                "defaults".to_string(),
            ),
            None => (data_dir.join("transcode"), "data dir".to_string()),
        };
        let mut ignore = policy.library.ignore.clone();
        ignore.extend(catalog.setting_values("ignore")?);
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            roots,
            shipped_roots,
            transcode_root,
            transcode_root_source,
            ignore,
            extensions: policy
                .library
                .extensions
                .iter()
                .map(|e| e.trim_start_matches('.').to_lowercase())
                .collect(),
        })
    }

    /// Compiled ignore matchers (invalid patterns are reported when added, skipped here).
    pub fn ignore_matchers(&self) -> Vec<PathMatcher> {
        self.ignore
            .iter()
            .filter_map(|p| PathMatcher::new(p).ok())
            .collect()
    }

    /// Whether `path` is ignored: under the transcode root, or matching an ignore pattern
    /// relative to its root (so a root that itself lives under `/home/me/Downloads` still works).
    pub fn is_ignored(&self, path: &Path, matchers: &[PathMatcher]) -> bool {
        if path.starts_with(&self.transcode_root) {
            return true;
        }
        let root = self.root_of(path);
        let rel = root
            .and_then(|r| path.strip_prefix(r).ok())
            .map(|r| Path::new("/").join(r))
            .unwrap_or_else(|| path.to_path_buf());
        matchers.iter().any(|m| {
            if m.is_name_pattern() {
                m.matches(&rel)
            } else {
                m.matches(path)
            }
        })
    }

    /// The root `path` lies under (the longest one).
    pub fn root_of(&self, path: &Path) -> Option<&Path> {
        self.roots
            .iter()
            .filter(|r| path.starts_with(r))
            .max_by_key(|r| r.components().count())
            .map(PathBuf::as_path)
    }

    /// Where the staged encode of `source` goes: the transcode root, the root's folder name, the
    /// path relative to the root, with the container extension.
    pub fn staging_path(&self, source: &Path, container: &str) -> Option<PathBuf> {
        let root = self.root_of(source)?;
        let rel = source.strip_prefix(root).ok()?;
        let name = root
            .file_name()
            .map_or_else(|| "root".into(), |n| n.to_os_string());
        Some(
            self.transcode_root
                .join(name)
                .join(rel)
                .with_extension(container),
        )
    }

    /// Where a replaced original is kept: `<transcode root>/_replaced/<root name>/<relative path>`.
    pub fn replaced_path(&self, source: &Path) -> Option<PathBuf> {
        let root = self.root_of(source)?;
        let rel = source.strip_prefix(root).ok()?;
        let name = root
            .file_name()
            .map_or_else(|| "root".into(), |n| n.to_os_string());
        Some(self.transcode_root.join("_replaced").join(name).join(rel))
    }
}

/// Validate and normalise a directory given to `settings add-root` / `set-transcode-root`.
pub fn canonical_dir(dir: &Path) -> Result<PathBuf, String> {
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

impl Settings {
    /// The folder (or file) a user names: an absolute path as it is; a relative name is looked
    /// for under each library root (`tv/Suits/Season 5`, as the library lays it out) and under
    /// the current directory `cwd`. Exactly one existing match is the answer; several are an
    /// error that lists them; with none, a path under the current directory that lies in a
    /// root is used as named (a folder that has gone since the last scan).
    pub fn resolve_name(&self, given: &Path, cwd: &Path) -> Result<PathBuf, String> {
        if given.is_absolute() {
            return Ok(given.to_path_buf());
        }
        let here = std::path::absolute(cwd.join(given)).unwrap_or_else(|_| cwd.join(given));
        // `.`, `..`, `./x` and `../x` name places relative to the current directory only.
        if matches!(
            given.components().next(),
            Some(std::path::Component::CurDir | std::path::Component::ParentDir)
        ) {
            return Ok(here);
        }
        let mut found: Vec<PathBuf> = Vec::new();
        for candidate in self
            .roots
            .iter()
            .map(|r| r.join(given))
            .chain(std::iter::once(here.clone()))
        {
            if std::fs::symlink_metadata(&candidate).is_err() {
                continue;
            }
            let same = |p: &PathBuf| {
                p == &candidate
                    || std::fs::canonicalize(p).ok() == std::fs::canonicalize(&candidate).ok()
            };
            if !found.iter().any(same) {
                found.push(candidate);
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 if self.roots.iter().any(|r| here.starts_with(r)) => Ok(here),
            0 => Err(format!(
                "{}: no such folder under any library root ({}) or the current directory",
                given.display(),
                self.roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => Err(format!(
                "{}: matches in several places ({}); give the full path",
                given.display(),
                found
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}
