//! Scanning the library roots into the catalog, incrementally.
//!
//! A rescan costs one `stat` per file when nothing changed: a file whose size and modification
//! time match its row is not read at all. When they differ, the quick content fingerprint
//! decides: same fingerprint means "touched" (mtime refreshed, no re-probe; ZFS and backup tools
//! do this), a different one means "changed" (re-probed). A new path whose fingerprint matches a
//! row whose file has disappeared is a move or rename: the row keeps its id and history. Rows
//! under a root that was walked completely but not seen are marked gone; a missing root (an
//! unmounted disk) marks nothing gone. Probing runs in parallel, in-process.

use crate::catalog::{path_text, Catalog, CatalogError, FileRecord};
use crate::db;
use crate::settings::Settings;
use mediaforce_store::params;
use mediaforce_store::sql::{Db, Value};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Only this folder (must lie under a root); everything else is left as it is.
    pub prefix: Option<PathBuf>,
    /// Look at most this many files (in path order); a limited scan marks nothing gone.
    pub limit: Option<usize>,
}

/// Progress of a scan, for a front end.
#[derive(Debug, Clone, Copy)]
pub enum ScanProgress {
    /// Walking: files found so far.
    Walking {
        /// Candidate files found.
        found: usize,
    },
    /// Probing new and changed files.
    Probing {
        /// Probed so far.
        done: usize,
        /// To probe.
        total: usize,
    },
}

/// What a scan found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    /// Roots walked.
    pub roots: Vec<PathBuf>,
    /// Candidate media files seen.
    pub files: usize,
    /// Not seen before.
    pub new: usize,
    /// Content changed: re-probed.
    pub changed: usize,
    /// Modification time changed, content did not: not re-probed.
    pub touched: usize,
    /// Unchanged.
    pub unchanged: usize,
    /// Recognised at a new path by fingerprint.
    pub moved: usize,
    /// No longer present.
    pub gone: usize,
    /// Files that could not be read or probed (recorded with their error).
    pub errors: usize,
    /// Files written by mediaforce.
    pub ours: usize,
    /// Probes run.
    pub probed: usize,
    /// Problems that did not stop the scan (missing roots, loops, unreadable folders).
    pub warnings: Vec<String>,
    /// Wall time.
    pub seconds: f64,
    /// Files seen per second.
    pub files_per_second: f64,
}

/// A file found by the walk.
#[derive(Debug, Clone)]
struct Seen {
    path: PathBuf,
    root: PathBuf,
    size: u64,
    mtime_ns: i64,
    dev: u64,
    inode: u64,
}

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime() * 1_000_000_000 + m.mtime_nsec()
}

/// Walk one root (or the part of it under `prefix`): candidate files, warnings, and whether the
/// walk was complete (no unreadable folder), which gates marking files gone.
fn walk(
    root: &Path,
    start: &Path,
    settings: &Settings,
    matchers: &[crate::policy::PathMatcher],
) -> (Vec<Seen>, Vec<String>, bool) {
    let mut seen = Vec::new();
    let mut warnings = Vec::new();
    let mut complete = true;
    let it = walkdir::WalkDir::new(start)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let p = e.path();
            if e.depth() > 0 && settings.is_ignored(p, matchers) {
                return false;
            }
            // Our own temporary outputs are never library files.
            !e.file_name().to_string_lossy().contains(".partial-")
        });
    for entry in it {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let what = match (e.loop_ancestor(), e.path()) {
                    (Some(a), Some(p)) => format!(
                        "{}: symbolic link loop back to {}; skipped",
                        p.display(),
                        a.display()
                    ),
                    (_, Some(p)) => {
                        complete = false;
                        format!(
                            "{}: {}",
                            p.display(),
                            e.io_error().map_or(e.to_string(), |io| io.to_string())
                        )
                    }
                    _ => {
                        complete = false;
                        e.to_string()
                    }
                };
                warnings.push(what);
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let ext = entry
            .path()
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if !settings.extensions.contains(&ext) {
            continue;
        }
        match entry.metadata() {
            Ok(m) => seen.push(Seen {
                path: entry.path().to_path_buf(),
                root: root.to_path_buf(),
                size: m.len(),
                mtime_ns: mtime_ns(&m),
                dev: m.dev(),
                inode: m.ino(),
            }),
            Err(e) => warnings.push(format!("{}: {e}", entry.path().display())),
        }
    }
    (seen, warnings, complete)
}

/// Outcome of reading and probing one file.
struct Probed {
    fingerprint: String,
    probe: Option<String>,
    error: Option<String>,
    ours: bool,
}

fn probe_one(path: &Path, fingerprint: Option<String>) -> Probed {
    let fingerprint = match fingerprint.map_or_else(|| db::content_hash(path), Ok) {
        Ok(f) => f,
        Err(e) => {
            return Probed {
                fingerprint: String::new(),
                probe: None,
                error: Some(format!("cannot read: {e}")),
                ours: false,
            }
        }
    };
    match crate::core::probe::probe_quick(path) {
        Ok(info) => {
            let ours = info
                .metadata
                .keys()
                .any(|k| k.eq_ignore_ascii_case(crate::core::transcode::PRODUCED_BY_TAG));
            let error = if info.primary_video().is_none() {
                Some("no video stream".to_string())
            } else {
                None
            };
            Probed {
                fingerprint,
                probe: serde_json::to_string(&info).ok(),
                error,
                ours,
            }
        }
        Err(e) => Probed {
            fingerprint,
            probe: None,
            // The catalog shows the cause; the path is already the row's key.
            error: Some(e.to_string().replace(&format!("{}: ", path.display()), "")),
            ours: false,
        },
    }
}

/// Scan the roots into the catalog.
pub fn scan(
    catalog: &Catalog,
    settings: &Settings,
    options: &ScanOptions,
    progress: &(dyn Fn(ScanProgress) + Sync),
) -> Result<ScanReport, CatalogError> {
    let started = Instant::now();
    let mut report = ScanReport::default();
    let matchers = settings.ignore_matchers();

    // Which roots to walk, and from where.
    let mut walks: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut walk_failed: Vec<PathBuf> = Vec::new();
    for root in &settings.roots {
        let start = match &options.prefix {
            Some(p) if p.starts_with(root) => p.clone(),
            Some(p) if root.starts_with(p) => root.clone(),
            Some(_) => continue,
            None => root.clone(),
        };
        match std::fs::metadata(&start) {
            Ok(m) if m.is_dir() => walks.push((root.clone(), start)),
            Ok(_) => {
                report
                    .warnings
                    .push(format!("{}: not a directory; skipped", start.display()));
                walk_failed.push(start);
            }
            Err(e) => {
                report.warnings.push(format!(
                    "{}: {e}; skipped, and nothing under it is marked gone",
                    start.display()
                ));
                walk_failed.push(start);
            }
        }
    }
    if let Some(p) = &options.prefix {
        if !settings
            .roots
            .iter()
            .any(|r| p.starts_with(r) || r.starts_with(p))
        {
            return Err(CatalogError::Invalid(format!(
                "{}: not under any library root (see `mediaforce settings show`)",
                p.display()
            )));
        }
    }
    report.roots = walks.iter().map(|(_, s)| s.clone()).collect();

    let walked: Vec<(Vec<Seen>, Vec<String>, bool)> = walks
        .par_iter()
        .map(|(root, start)| walk(root, start, settings, &matchers))
        .collect();
    let mut files: Vec<Seen> = Vec::new();
    let mut complete_starts: Vec<PathBuf> = Vec::new();
    for ((_, start), (seen, warnings, complete)) in walks.iter().zip(walked) {
        files.extend(seen);
        report.warnings.extend(warnings);
        if complete {
            complete_starts.push(start.clone());
        } else {
            walk_failed.push(start.clone());
        }
    }
    // The same file reached twice (overlapping roots, links) is catalogued once.
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut inodes = HashSet::new();
    files.retain(|f| inodes.insert((f.dev, f.inode)));
    if let Some(limit) = options.limit {
        files.truncate(limit);
    }
    report.files = files.len();
    progress(ScanProgress::Walking { found: files.len() });

    let existing: Vec<FileRecord> = catalog.files()?;
    let by_path: HashMap<&Path, &FileRecord> =
        existing.iter().map(|f| (f.path.as_path(), f)).collect();
    let seen_paths: HashSet<&Path> = files.iter().map(|f| f.path.as_path()).collect();

    enum Work<'a> {
        Unchanged(&'a FileRecord),
        Check(&'a Seen, &'a FileRecord),
        New(&'a Seen),
    }
    let work: Vec<Work<'_>> = files
        .iter()
        .map(|f| match by_path.get(f.path.as_path()) {
            // An unchanged file keeps its verdict, errors included, except a read failure
            // (permissions change without touching mtime): that one is retried.
            Some(r)
                if r.size == f.size
                    && r.mtime_ns == f.mtime_ns
                    && r.status != "gone"
                    && !(r.status == "error" && r.fingerprint.is_empty()) =>
            {
                Work::Unchanged(r)
            }
            Some(r) => Work::Check(f, r),
            None => Work::New(f),
        })
        .collect();

    // Fingerprints of everything that is not plainly unchanged (cheap: 48 KiB per file), then
    // probes of what really changed or is new, all in parallel.
    let needs: Vec<&Work<'_>> = work
        .iter()
        .filter(|w| !matches!(w, Work::Unchanged(_)))
        .collect();
    let fingerprints: Vec<Option<String>> = needs
        .par_iter()
        .map(|w| match w {
            // A changed file is hashed the way its row was, so an upgrade does not make
            // every touched file look edited.
            Work::Check(f, r) => db::content_hash_as(&f.path, &r.fingerprint).ok(),
            Work::New(f) => db::content_hash(&f.path).ok(),
            Work::Unchanged(_) => None,
        })
        .collect();

    // Rows whose file is not where the row says: candidates for a move.
    let mut vanished: HashMap<&str, Vec<&FileRecord>> = HashMap::new();
    for r in &existing {
        if !seen_paths.contains(r.path.as_path()) && !r.path.exists() {
            vanished.entry(r.fingerprint.as_str()).or_default().push(r);
        }
    }

    enum Plan<'a> {
        Touch(&'a Seen, i64),
        Reprobe(&'a Seen, i64, Option<String>),
        Move(&'a Seen, &'a FileRecord),
        Insert(&'a Seen, Option<String>),
    }
    let mut plans: Vec<Plan<'_>> = Vec::new();
    for (w, fp) in needs.iter().zip(fingerprints) {
        match (w, fp) {
            (Work::Check(f, r), Some(fp)) if r.status == "ok" && fp == r.fingerprint => {
                plans.push(Plan::Touch(f, r.id))
            }
            // A changed file's new fingerprint is taken in the current form.
            (Work::Check(f, r), fp) => plans.push(Plan::Reprobe(
                f,
                r.id,
                fp.filter(|fp| db::is_current_fingerprint(fp)),
            )),
            (Work::New(f), Some(fp)) => {
                let mut candidate = vanished
                    .get_mut(fp.as_str())
                    .and_then(|v| (!v.is_empty()).then(|| v.remove(0)));
                if candidate.is_none() {
                    // A row fingerprinted before an upgrade: compare the old way.
                    let old = vanished
                        .iter()
                        .filter(|(k, v)| !db::is_current_fingerprint(k) && !v.is_empty())
                        .filter(|(_, v)| v[0].size == f.size)
                        .map(|(k, _)| *k)
                        .find(|k| db::content_hash_as(&f.path, k).ok().as_deref() == Some(*k));
                    if let Some(k) = old {
                        candidate = vanished.get_mut(k).map(|v| v.remove(0));
                    }
                }
                match candidate {
                    Some(old) if old.size == f.size => plans.push(Plan::Move(f, old)),
                    _ => plans.push(Plan::Insert(f, Some(fp))),
                }
            }
            (Work::New(f), None) => plans.push(Plan::Insert(f, None)),
            (Work::Unchanged(_), _) => {}
        }
    }
    let to_probe: Vec<(usize, &Path, Option<String>)> = plans
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            Plan::Reprobe(f, _, fp) | Plan::Insert(f, fp) => {
                Some((i, f.path.as_path(), fp.clone()))
            }
            _ => None,
        })
        .collect();
    let total = to_probe.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let probed: HashMap<usize, Probed> = to_probe
        .into_par_iter()
        .map(|(i, path, fp)| {
            let p = probe_one(path, fp);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(ScanProgress::Probing { done: n, total });
            (i, p)
        })
        .collect();
    report.probed = total;

    // Write everything in one transaction: a scan is all or nothing.
    let now = db::now();
    catalog.transaction(|tx| {
    for w in &work {
        if let Work::Unchanged(r) = w {
            tx.execute("UPDATE file SET scanned_at = ?2 WHERE id = ?1", params![r.id, now])?;
            report.unchanged += 1;
        }
    }
    let event = |tx: &mut Db, id: i64, kind: &str, detail: Option<String>| {
        tx.execute(
            "INSERT INTO file_event (file_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![id, now, kind, detail],
        )
        .map(|_| ())
    };
    for (i, plan) in plans.iter().enumerate() {
        match plan {
            Plan::Touch(f, id) => {
                tx.execute(
                    "UPDATE file SET mtime_ns = ?2, dev = ?3, inode = ?4, scanned_at = ?5 WHERE id = ?1",
                    params![*id, f.mtime_ns, f.dev, f.inode, now],
                )
                ?;
                event(tx, *id, "touched", None)?;
                report.touched += 1;
            }
            Plan::Move(f, old) => {
                tx.execute(
                    "UPDATE file SET path = ?2, root = ?3, mtime_ns = ?4, dev = ?5, inode = ?6,
                        status = CASE WHEN status = 'gone' THEN 'ok' ELSE status END, scanned_at = ?7
                     WHERE id = ?1",
                    params![
                        old.id,
                        path_text(&f.path),
                        path_text(&f.root),
                        f.mtime_ns,
                        f.dev,
                        f.inode,
                        now
                    ],
                )
                ?;
                event(
                    tx,
                    old.id,
                    "moved",
                    Some(format!("from {}", old.path.display())),
                )
                ?;
                report.moved += 1;
                if old.status == "error" {
                    report.errors += 1;
                }
                if old.ours {
                    report.ours += 1;
                }
            }
            Plan::Reprobe(f, _, _) | Plan::Insert(f, _) => {
                let p = &probed[&i];
                let status = if p.error.is_some() { "error" } else { "ok" };
                if p.error.is_some() {
                    report.errors += 1;
                }
                if p.ours {
                    report.ours += 1;
                }
                let row = params![
                    path_text(&f.path),
                    path_text(&f.root),
                    f.size,
                    f.mtime_ns,
                    f.dev,
                    f.inode,
                    &p.fingerprint,
                    status,
                    p.error.clone(),
                    p.probe.clone(),
                    p.ours,
                    now
                ];
                match plan {
                    Plan::Reprobe(_, id, _) => {
                        tx.execute(
                            "UPDATE file SET path = ?1, root = ?2, size = ?3, mtime_ns = ?4, dev = ?5,
                                inode = ?6, fingerprint = ?7, status = ?8, error = ?9, probe = ?10,
                                ours = ?11, scanned_at = ?12, probed_at = ?12
                             WHERE id = ?13",
                            &row.iter().cloned().chain([Value::from(*id)]).collect::<Vec<_>>(),
                        )
                        ?;
                        crate::catalog::set_media_columns(tx, *id, p.probe.as_deref())?;
                        event(tx, *id, "changed", p.error.clone())?;
                        report.changed += 1;
                    }
                    _ => {
                        let id = tx
                            .query_opt(
                                "INSERT INTO file (path, root, size, mtime_ns, dev, inode, fingerprint,
                                    status, error, probe, ours, first_seen, scanned_at, probed_at)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?12)
                                 RETURNING id",
                                row,
                            )?
                            .map_or(0, |r| r.int(0));
                        crate::catalog::set_media_columns(tx, id, p.probe.as_deref())?;
                        event(tx, id, "found", p.error.clone())?;
                        report.new += 1;
                    }
                }
            }
        }
    }
    // Gone: rows under a completely walked start that were neither seen nor moved.
    if options.limit.is_none() {
        let moved: HashSet<i64> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Move(_, old) => Some(old.id),
                _ => None,
            })
            .collect();
        for r in &existing {
            let under = complete_starts.iter().any(|s| r.path.starts_with(s))
                && !walk_failed.iter().any(|s| r.path.starts_with(s));
            if r.status != "gone"
                && under
                && !seen_paths.contains(r.path.as_path())
                && !moved.contains(&r.id)
                && !settings.is_ignored(&r.path, &matchers)
            {
                tx.execute(
                    "UPDATE file SET status = 'gone', scanned_at = ?2 WHERE id = ?1",
                    params![r.id, now],
                )
                ?;
                event(tx, r.id, "gone", None)?;
                report.gone += 1;
            }
        }
    }
    // Unchanged files keep their earlier verdicts; count them into the totals.
    for w in &work {
        if let Work::Unchanged(r) = w {
            report.ours += usize::from(r.ours);
            report.errors += usize::from(r.status == "error");
        }
    }
    Ok(())
    })?;
    report.seconds = started.elapsed().as_secs_f64();
    report.files_per_second = report.files as f64 / report.seconds.max(1e-9);
    Ok(report)
}
