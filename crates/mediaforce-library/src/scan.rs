//! Scanning the library roots into the catalog, incrementally.
//!
//! A rescan costs one `stat` per file when nothing changed: a file whose size and modification
//! time match its row is not read at all. When they differ, the quick content fingerprint
//! decides: same fingerprint means "touched" (mtime refreshed, no re-probe; ZFS and backup tools
//! do this), a different one means "changed" (re-probed). A new path whose fingerprint matches a
//! row whose file has disappeared is a move or rename: the row keeps its id and history. Rows
//! under a root that was walked completely but not seen are marked gone; a missing root (an
//! unmounted disk) marks nothing gone. Probing runs in parallel, in-process.

use crate::catalog::{
    Catalog, CatalogError, FileProbed as Probed, FileRecord, FileSeen as Seen, FileWriter,
};
use crate::db;
use crate::settings::Settings;
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
    /// Only these files (a watcher's settled paths): each is looked at alone, no folder is
    /// walked, and one of them that no longer exists is marked gone.
    pub files: Vec<PathBuf>,
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
    /// Roots (or folders) that look unmounted: empty, while the catalog has files under them.
    /// Nothing under them was marked gone.
    pub unmounted: Vec<PathBuf>,
    /// Wall time.
    pub seconds: f64,
    /// Files seen per second.
    pub files_per_second: f64,
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
    let existing: Vec<FileRecord> = if options.files.is_empty() {
        catalog.files()?
    } else {
        // A few files (a watcher's, a hook's): their rows, and the rows a move could come
        // from (same content), not the whole catalog.
        let prints: Vec<String> = options
            .files
            .iter()
            .filter_map(|p| db::content_hash(p).ok())
            .collect();
        catalog.files_for(&options.files, &prints)?
    };
    let (files, complete_starts, walk_failed) = if options.files.is_empty() {
        let (walks, mut walk_failed) = starts(settings, options, &existing, &mut report)?;
        report.roots = walks.iter().map(|(_, s)| s.clone()).collect();
        let (files, complete) = walk_all(
            &walks,
            settings,
            &matchers,
            options,
            &mut report,
            &mut walk_failed,
        );
        (files, complete, walk_failed)
    } else {
        let (files, missing) = look_at(settings, &matchers, &options.files, &mut report)?;
        // The missing files themselves are the "starts" walked completely: each is gone.
        (files, missing, Vec::new())
    };
    report.files = files.len();
    progress(ScanProgress::Walking { found: files.len() });

    let work = classify(&files, &existing);
    let plans = plan_changes(&work, &files, &existing);
    let probed = probe_planned(&plans, progress);
    report.probed = probed.len();

    // Write everything in one transaction: a scan is all or nothing.
    let now = db::now();
    catalog.write_files(now, |writer| {
        let mut w = Writer {
            files: writer,
            report: &mut report,
        };
        for r in work.iter().filter_map(Work::unchanged) {
            w.files.scanned(r.id)?;
            w.report.unchanged += 1;
        }
        for (i, plan) in plans.iter().enumerate() {
            w.apply(plan, probed.get(&i))?;
        }
        // Gone: rows under a completely walked start that were neither seen nor moved.
        if options.limit.is_none() {
            let seen: HashSet<&Path> = files.iter().map(|f| f.path.as_path()).collect();
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
                    && !seen.contains(r.path.as_path())
                    && !moved.contains(&r.id)
                    && !settings.is_ignored(&r.path, &matchers)
                {
                    w.gone(r.id)?;
                }
            }
        }
        // Unchanged files keep their earlier verdicts; count them into the totals.
        for r in work.iter().filter_map(Work::unchanged) {
            w.report.ours += usize::from(r.ours);
            w.report.errors += usize::from(r.status == "error");
        }
        Ok::<_, CatalogError>(())
    })?;
    report.seconds = started.elapsed().as_secs_f64();
    report.files_per_second = report.files as f64 / report.seconds.max(1e-9);
    Ok(report)
}

/// What a walk of the roots finds different from the catalog, without reading or probing
/// anything: the service's periodic rescan hands these to its settle timer, so a file still
/// being copied onto a share is not catalogued half-written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Changes {
    /// New paths, and paths whose size or modification time differ from their rows.
    pub new_or_changed: Vec<PathBuf>,
    /// Live rows whose file is no longer there (under folders walked completely).
    pub missing: Vec<PathBuf>,
    /// Roots that look unmounted (nothing under them is missing).
    pub unmounted: Vec<PathBuf>,
    /// Problems met on the way.
    pub warnings: Vec<String>,
    /// Candidate files seen.
    pub files: usize,
}

/// Walk the roots and compare with the catalog (one `stat` per file).
pub fn changes(catalog: &Catalog, settings: &Settings) -> Result<Changes, CatalogError> {
    let mut report = ScanReport::default();
    let matchers = settings.ignore_matchers();
    let existing: Vec<FileRecord> = catalog.files()?;
    let options = ScanOptions::default();
    let (walks, mut walk_failed) = starts(settings, &options, &existing, &mut report)?;
    let (files, complete) = walk_all(
        &walks,
        settings,
        &matchers,
        &options,
        &mut report,
        &mut walk_failed,
    );
    let new_or_changed = classify(&files, &existing)
        .iter()
        .filter_map(|w| match w {
            Work::Unchanged(_) => None,
            Work::Check(f, _) | Work::New(f) => Some(f.path.clone()),
        })
        .collect();
    let seen: HashSet<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    let missing = existing
        .iter()
        .filter(|r| {
            r.status != "gone"
                && complete.iter().any(|s| r.path.starts_with(s))
                && !walk_failed.iter().any(|s| r.path.starts_with(s))
                && !seen.contains(r.path.as_path())
                && !settings.is_ignored(&r.path, &matchers)
        })
        .map(|r| r.path.clone())
        .collect();
    Ok(Changes {
        new_or_changed,
        missing,
        unmounted: report.unmounted,
        warnings: report.warnings,
        files: files.len(),
    })
}

/// Which roots to walk, and from where (the prefix asked for, or the whole root): the starts,
/// and those that cannot be walked (each with a warning; nothing under them is marked gone).
#[allow(clippy::type_complexity)]
fn starts(
    settings: &Settings,
    options: &ScanOptions,
    existing: &[FileRecord],
    report: &mut ScanReport,
) -> Result<(Vec<(PathBuf, PathBuf)>, Vec<PathBuf>), CatalogError> {
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
    let mut walks = Vec::new();
    let mut failed = Vec::new();
    for root in &settings.roots {
        let start = match &options.prefix {
            Some(p) if p.starts_with(root) => p.clone(),
            Some(p) if root.starts_with(p) => root.clone(),
            Some(_) => continue,
            None => root.clone(),
        };
        match std::fs::metadata(&start) {
            Ok(m) if m.is_dir() && looks_unmounted(&start, existing) => {
                report.warnings.push(format!(
                    "{}: empty, while the catalog has files under it (not mounted?); skipped, and nothing under it is marked gone",
                    start.display()
                ));
                report.unmounted.push(start.clone());
                failed.push(start);
            }
            Ok(m) if m.is_dir() => walks.push((root.clone(), start)),
            Ok(_) => {
                report
                    .warnings
                    .push(format!("{}: not a directory; skipped", start.display()));
                failed.push(start);
            }
            Err(e) => {
                report.warnings.push(format!(
                    "{}: {e}; skipped, and nothing under it is marked gone",
                    start.display()
                ));
                failed.push(start);
            }
        }
    }
    Ok((walks, failed))
}

/// Whether `start` looks like a mount point with nothing mounted: it holds no entries at all
/// while the catalog has live files under it. (An emptied folder is rescanned once something
/// is put back, or its files are marked gone by `mediaforce scan` after the folder is removed.)
fn looks_unmounted(start: &Path, existing: &[FileRecord]) -> bool {
    let empty = std::fs::read_dir(start).is_ok_and(|mut d| d.next().is_none());
    empty
        && existing
            .iter()
            .any(|f| f.status != "gone" && f.path.starts_with(start))
}

/// Look at the listed files alone: those present (candidates under a root, not ignored), and
/// those that no longer exist (to be marked gone). A file outside every root is refused.
fn look_at(
    settings: &Settings,
    matchers: &[crate::policy::PathMatcher],
    paths: &[PathBuf],
    report: &mut ScanReport,
) -> Result<(Vec<Seen>, Vec<PathBuf>), CatalogError> {
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for path in paths {
        let Some(root) = settings.roots.iter().find(|r| path.starts_with(r)) else {
            return Err(CatalogError::Invalid(format!(
                "{}: not under any library root (see `mediaforce settings show`)",
                path.display()
            )));
        };
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if !settings.extensions.contains(&ext)
            || settings.is_ignored(path, matchers)
            || path.to_string_lossy().contains(".partial-")
        {
            continue;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => files.push(Seen {
                path: path.clone(),
                root: root.clone(),
                size: m.len(),
                mtime_ns: mtime_ns(&m),
                dev: m.dev(),
                inode: m.ino(),
            }),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(path.clone()),
            Err(e) => report.warnings.push(format!("{}: {e}", path.display())),
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    Ok((files, missing))
}

/// Walk every start in parallel: the files found (in path order, each file once however many
/// roots or links reach it, at most the scan's limit) and the starts walked completely.
fn walk_all(
    walks: &[(PathBuf, PathBuf)],
    settings: &Settings,
    matchers: &[crate::policy::PathMatcher],
    options: &ScanOptions,
    report: &mut ScanReport,
    walk_failed: &mut Vec<PathBuf>,
) -> (Vec<Seen>, Vec<PathBuf>) {
    let walked: Vec<(Vec<Seen>, Vec<String>, bool)> = walks
        .par_iter()
        .map(|(root, start)| walk(root, start, settings, matchers))
        .collect();
    let mut files: Vec<Seen> = Vec::new();
    let mut complete = Vec::new();
    for ((_, start), (seen, warnings, whole)) in walks.iter().zip(walked) {
        files.extend(seen);
        report.warnings.extend(warnings);
        if whole {
            complete.push(start.clone());
        } else {
            walk_failed.push(start.clone());
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut inodes = HashSet::new();
    files.retain(|f| inodes.insert((f.dev, f.inode)));
    if let Some(limit) = options.limit {
        files.truncate(limit);
    }
    (files, complete)
}

/// What a found file needs, from its row.
#[derive(Debug)]
enum Work<'a> {
    /// Same size and modification time as its row: not read.
    Unchanged(&'a FileRecord),
    /// Size or time differ: the fingerprint decides.
    Check(&'a Seen, &'a FileRecord),
    /// No row at this path.
    New(&'a Seen),
}

impl<'a> Work<'a> {
    fn unchanged(&self) -> Option<&'a FileRecord> {
        match self {
            Work::Unchanged(r) => Some(r),
            _ => None,
        }
    }
}

/// Each found file against the catalog's row at its path. An unchanged file keeps its
/// verdict, errors included, except a read failure (permissions change without touching
/// mtime): that one is looked at again.
fn classify<'a>(files: &'a [Seen], existing: &'a [FileRecord]) -> Vec<Work<'a>> {
    let by_path: HashMap<&Path, &FileRecord> =
        existing.iter().map(|f| (f.path.as_path(), f)).collect();
    files
        .iter()
        .map(|f| match by_path.get(f.path.as_path()) {
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
        .collect()
}

/// What the scan writes for a file that is not plainly unchanged.
#[derive(Debug)]
enum Plan<'a> {
    /// Same content, new modification time: refreshed, not probed.
    Touch(&'a Seen, i64),
    /// Changed content: probed again (with its new fingerprint, when read).
    Reprobe(&'a Seen, i64, Option<String>),
    /// A vanished row's content at a new path: the row moves, keeping its id and history.
    Move(&'a Seen, &'a FileRecord),
    /// A new file: probed and added.
    Insert(&'a Seen, Option<String>),
}

/// Fingerprint everything that is not plainly unchanged (cheap: 48 KiB a file, in parallel)
/// and decide what each needs: touched, changed, moved (a new path with the fingerprint of a
/// row whose file vanished) or new.
fn plan_changes<'a>(
    work: &[Work<'a>],
    files: &[Seen],
    existing: &'a [FileRecord],
) -> Vec<Plan<'a>> {
    let needs: Vec<&Work<'a>> = work
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
    // Rows whose file is not where the row says: candidates for a move. Only rows with the
    // fingerprint of a new file can be one (or a row fingerprinted the way of an earlier
    // version, compared the old way below), so only those are looked for on disk.
    let seen: HashSet<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    let new_prints: HashSet<&str> = needs
        .iter()
        .zip(&fingerprints)
        .filter(|(w, _)| matches!(w, Work::New(_)))
        .filter_map(|(_, fp)| fp.as_deref())
        .collect();
    let mut vanished: HashMap<&str, Vec<&FileRecord>> = HashMap::new();
    for r in existing {
        let candidate = new_prints.contains(r.fingerprint.as_str())
            || (!new_prints.is_empty() && !db::is_current_fingerprint(&r.fingerprint));
        if candidate && !seen.contains(r.path.as_path()) && !r.path.exists() {
            vanished.entry(r.fingerprint.as_str()).or_default().push(r);
        }
    }
    let mut plans = Vec::new();
    for (w, fp) in needs.into_iter().zip(fingerprints) {
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
            (Work::New(f), Some(fp)) => match moved_from(&mut vanished, f, &fp) {
                Some(old) => plans.push(Plan::Move(f, old)),
                None => plans.push(Plan::Insert(f, Some(fp))),
            },
            (Work::New(f), None) => plans.push(Plan::Insert(f, None)),
            (Work::Unchanged(_), _) => {}
        }
    }
    plans
}

/// The vanished row a new file `f` (fingerprint `fp`) is a move of, taken out of `vanished`:
/// same fingerprint (or, for a row fingerprinted before an upgrade, the same content hashed
/// the old way) and the same size.
fn moved_from<'a>(
    vanished: &mut HashMap<&str, Vec<&'a FileRecord>>,
    f: &Seen,
    fp: &str,
) -> Option<&'a FileRecord> {
    let mut candidate = vanished
        .get_mut(fp)
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
    candidate.filter(|old| old.size == f.size)
}

/// Probe the new and changed files in parallel, by their plan's index.
fn probe_planned(
    plans: &[Plan<'_>],
    progress: &(dyn Fn(ScanProgress) + Sync),
) -> HashMap<usize, Probed> {
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
    to_probe
        .into_par_iter()
        .map(|(i, path, fp)| {
            let p = probe_one(path, fp);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(ScanProgress::Probing { done: n, total });
            (i, p)
        })
        .collect()
}

/// The scan's writes (the store's [`FileWriter`]), inside its one transaction, counted into
/// its report.
struct Writer<'w, 't> {
    files: &'w mut FileWriter<'t>,
    report: &'w mut ScanReport,
}

impl Writer<'_, '_> {
    fn gone(&mut self, id: i64) -> Result<(), CatalogError> {
        self.files.gone(id)?;
        self.report.gone += 1;
        Ok(())
    }

    /// Write one plan (with its probe, for a new or changed file).
    fn apply(&mut self, plan: &Plan<'_>, probed: Option<&Probed>) -> Result<(), CatalogError> {
        match plan {
            Plan::Touch(f, id) => {
                self.files.touched(*id, f)?;
                self.report.touched += 1;
            }
            Plan::Move(f, old) => {
                self.files.moved(old.id, f, &old.path)?;
                self.report.moved += 1;
                self.report.errors += usize::from(old.status == "error");
                self.report.ours += usize::from(old.ours);
            }
            Plan::Reprobe(f, id, _) => {
                let p = probed.expect("every changed file is probed");
                self.count(p);
                self.files.reprobed(*id, f, p)?;
                self.report.changed += 1;
            }
            Plan::Insert(f, _) => {
                let p = probed.expect("every new file is probed");
                self.count(p);
                self.files.found(f, p)?;
                self.report.new += 1;
            }
        }
        Ok(())
    }

    fn count(&mut self, p: &Probed) {
        self.report.errors += usize::from(p.error.is_some());
        self.report.ours += usize::from(p.ours);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(path: &str, size: u64, mtime_ns: i64) -> Seen {
        Seen {
            path: PathBuf::from(path),
            root: PathBuf::from("/lib"),
            size,
            mtime_ns,
            dev: 1,
            inode: size,
        }
    }

    fn row(id: i64, path: &str, size: u64, mtime_ns: i64, status: &str, fp: &str) -> FileRecord {
        FileRecord {
            id,
            path: PathBuf::from(path),
            root: PathBuf::from("/lib"),
            size,
            mtime_ns,
            dev: 1,
            inode: size,
            fingerprint: fp.into(),
            status: status.into(),
            error: None,
            probe_json: None,
            ours: false,
            scanned_at: 0,
        }
    }

    #[test]
    fn a_file_is_read_again_only_when_its_row_cannot_vouch_for_it() {
        let rows = [
            row(1, "/lib/same.mkv", 100, 5, "ok", "q2:a"),
            row(2, "/lib/touched.mkv", 200, 5, "ok", "q2:b"),
            row(3, "/lib/resized.mkv", 300, 5, "ok", "q2:c"),
            row(4, "/lib/back.mkv", 400, 5, "gone", "q2:d"),
            row(5, "/lib/unreadable.mkv", 500, 5, "error", ""),
            row(6, "/lib/broken.mkv", 600, 5, "error", "q2:f"),
        ];
        let files = [
            seen("/lib/same.mkv", 100, 5),
            seen("/lib/touched.mkv", 200, 9),
            seen("/lib/resized.mkv", 301, 5),
            seen("/lib/back.mkv", 400, 5),
            seen("/lib/unreadable.mkv", 500, 5),
            seen("/lib/broken.mkv", 600, 5),
            seen("/lib/new.mkv", 700, 5),
        ];
        // (path, what it needs: the row it is checked against, if any)
        let want = [
            ("/lib/same.mkv", "unchanged", Some(1)),
            ("/lib/touched.mkv", "check", Some(2)),
            ("/lib/resized.mkv", "check", Some(3)),
            // Gone before, back now: its row is checked, not trusted.
            ("/lib/back.mkv", "check", Some(4)),
            // Could not be read last time (no fingerprint): tried again.
            ("/lib/unreadable.mkv", "check", Some(5)),
            // Read but failed to probe: the verdict stands until the file changes.
            ("/lib/broken.mkv", "unchanged", Some(6)),
            ("/lib/new.mkv", "new", None),
        ];
        let got: Vec<(String, &str, Option<i64>)> = classify(&files, &rows)
            .iter()
            .map(|w| match w {
                Work::Unchanged(r) => (r.path.display().to_string(), "unchanged", Some(r.id)),
                Work::Check(f, r) => (f.path.display().to_string(), "check", Some(r.id)),
                Work::New(f) => (f.path.display().to_string(), "new", None),
            })
            .collect();
        let want: Vec<(String, &str, Option<i64>)> = want
            .iter()
            .map(|(p, k, id)| (p.to_string(), *k, *id))
            .collect();
        assert_eq!(got, want);
    }
}
