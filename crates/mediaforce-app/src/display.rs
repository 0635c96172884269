//! Paths and jobs as people read them: a library file relative to its root (the root named
//! once, by the page), a job as "Encode Films/Harbour (2019).mkv", a worker by its host's name.

use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A path shown to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownPath {
    /// The library root it lies under, when it lies under one.
    pub root: Option<PathBuf>,
    /// The path below that root (`Films/Harbour (2019).mkv`), or the whole path when it lies
    /// under no root.
    pub relative: String,
}

/// `path` relative to the deepest of `roots` that holds it.
pub fn shown(path: &Path, roots: &[PathBuf]) -> ShownPath {
    let best = roots
        .iter()
        .filter(|r| path.starts_with(r) && path != r.as_path())
        .max_by_key(|r| r.components().count());
    match best {
        Some(root) => ShownPath {
            root: Some(root.clone()),
            relative: path
                .strip_prefix(root)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        },
        None => ShownPath {
            root: None,
            relative: path.display().to_string(),
        },
    }
}

/// The host a worker runs on. Workers name themselves `host/slot` (`mediaforce worker`) or
/// `host:pid:...` (jobs run by a command on this host).
pub fn worker_host(worker: &str) -> &str {
    let end = worker.find([':', '/']).unwrap_or(worker.len());
    &worker[..end]
}

/// What a job kind does, as a verb: `stage:<plan>` encodes, `validate:<plan>` validates,
/// `compare:<plan>` makes review material.
pub fn job_verb(kind: &str) -> &str {
    match kind.split(':').next().unwrap_or_default() {
        "stage" => "Encode",
        "validate" => "Validate",
        "compare" => "Review clips for",
        _ => "Job",
    }
}

/// A job in words: its verb and the file it works on (relative to its root), or, when the
/// file is not known, its verb and the item's number.
pub fn describe(kind: &str, payload: &serde_json::Value, file: Option<&ShownPath>) -> String {
    let verb = job_verb(kind);
    match (file, payload["index"].as_u64()) {
        (Some(f), _) => format!("{verb} {}", f.relative),
        (None, Some(i)) => format!("{verb} item {i}"),
        (None, None) => kind.split(':').next().unwrap_or(kind).to_string(),
    }
}

/// One job as a person reads it.
#[derive(Debug, Clone, Serialize)]
pub struct JobWords {
    /// The job.
    pub id: i64,
    /// `Encode Films/Harbour (2019).mkv`.
    pub what: String,
    /// The file it works on, relative to its root.
    pub file: Option<ShownPath>,
    /// The host it runs (or last ran) on, by name.
    pub host: Option<String>,
}

impl crate::App {
    /// `path` relative to the library root that holds it.
    pub fn shown_path(&self, path: &Path) -> ShownPath {
        shown(path, &self.settings().roots)
    }

    /// `jobs` in words: what each works on (its plan item's source, relative to its root) and
    /// the host by name. Each plan is read once.
    pub fn describe_jobs(&self, jobs: &[mediaforce::store::JobRow]) -> Vec<JobWords> {
        let roots = self.settings().roots.clone();
        let mut plans: HashMap<PathBuf, Option<mediaforce::manifest::Manifest>> = HashMap::new();
        jobs.iter()
            .map(|j| {
                let source = j.payload["manifest"].as_str().and_then(|m| {
                    let index = j.payload["index"].as_u64()? as usize;
                    let plan = plans
                        .entry(PathBuf::from(m))
                        .or_insert_with(|| {
                            mediaforce::manifest::load(&self.catalog, Path::new(m)).ok()
                        })
                        .as_ref()?;
                    plan.items
                        .iter()
                        .find(|i| i.index == index)
                        .map(|i| shown(&i.source, &roots))
                });
                JobWords {
                    id: j.id,
                    what: describe(&j.kind, &j.payload, source.as_ref()),
                    file: source,
                    host: j.worker.as_deref().map(|w| worker_host(w).to_string()),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_shown_below_the_deepest_root_that_holds_them() {
        let roots = vec![
            PathBuf::from("/srv/media"),
            PathBuf::from("/srv/media/Shows"),
        ];
        for (path, root, relative) in [
            (
                "/srv/media/Films/Harbour (2019).mkv",
                Some("/srv/media"),
                "Films/Harbour (2019).mkv",
            ),
            (
                "/srv/media/Shows/S01/e1.mkv",
                Some("/srv/media/Shows"),
                "S01/e1.mkv",
            ),
            ("/srv/mediaX/a.mkv", None, "/srv/mediaX/a.mkv"),
            ("/srv/media", None, "/srv/media"),
            ("/tmp/x.mkv", None, "/tmp/x.mkv"),
        ] {
            let s = shown(Path::new(path), &roots);
            assert_eq!(s.root.as_deref(), root.map(Path::new), "{path}");
            assert_eq!(s.relative, relative, "{path}");
        }
    }

    #[test]
    fn workers_are_named_by_their_host() {
        for (worker, host) in [
            ("nas/0", "nas"),
            ("vm:23684:compare:/tmp/x/plan.json", "vm"),
            ("desktop:812:1", "desktop"),
            ("plain", "plain"),
        ] {
            assert_eq!(worker_host(worker), host);
        }
    }

    #[test]
    fn jobs_are_described_by_what_they_do_to_which_file() {
        let file = ShownPath {
            root: Some("/srv/media".into()),
            relative: "Films/Harbour (2019).mkv".into(),
        };
        let p = serde_json::json!({"manifest": "/d/plan.json", "index": 3});
        for (kind, f, words) in [
            (
                "stage:/d/plan.json",
                Some(&file),
                "Encode Films/Harbour (2019).mkv",
            ),
            (
                "validate:/d/plan.json",
                Some(&file),
                "Validate Films/Harbour (2019).mkv",
            ),
            (
                "compare:/d/plan.json",
                Some(&file),
                "Review clips for Films/Harbour (2019).mkv",
            ),
            ("stage:/d/plan.json", None, "Encode item 3"),
        ] {
            assert_eq!(describe(kind, &p, f), words);
        }
        assert_eq!(describe("stage", &serde_json::json!({}), None), "stage");
    }
}
