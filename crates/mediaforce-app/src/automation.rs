//! The library running itself: what the service does with files that arrive (planned, queued
//! before the backlog), with finished encodes in folders set to `promote` (validated, judged by
//! the `[approve]` rules, promoted), with archived originals past `archive.keep_days`, and the
//! guards that hold new work (free space on the transcode root, other programs' load).
//!
//! The loop that calls these (watching, timers, local slots) is the server's; each use case
//! here is one pass, safe to repeat and to run beside a person using the CLI.

use crate::{App, AppError, ErrorKind, Result, Selection};
use mediaforce::approve::{judge, Measured, Verdict};
use mediaforce::domain::{Decision, ItemState};
use mediaforce::manifest;
use mediaforce::policy::{ApprovePolicy, AutoMode};
use mediaforce::promote::Pruned;
use mediaforce::runner::Reporter;
use mediaforce::scan::{Changes, ScanOptions, ScanReport};
use mediaforce::validate::ValidationReport;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// The priority of an arrival's encode: above the backlog (0), below urgent jobs.
pub const ARRIVAL_PRIORITY: i64 = 100;

/// The item event recorded when the rules approve an encode.
pub const AUTO_APPROVED: &str = "auto_approved";
/// The item event recorded when an encode misses a rule and waits for review.
pub const AUTO_HELD: &str = "auto_held";

/// What became of one arrived file.
#[derive(Debug, Clone, Serialize)]
pub struct Arrival {
    /// The file.
    pub path: PathBuf,
    /// Its folder's `automation.mode`.
    pub mode: AutoMode,
    /// What was done, in words (`queued`, `planned`, `skip: already efficient (...)`, `gone`).
    pub outcome: String,
    /// The plan item's index, when planned.
    pub index: Option<usize>,
    /// The encode job, when queued.
    pub job: Option<i64>,
}

/// What a batch of arrivals came to.
#[derive(Debug, Clone, Serialize)]
pub struct ArrivalsView {
    /// The scan of exactly these files.
    pub scan: ScanReport,
    /// The plan written for them (none when nothing was a candidate).
    pub manifest: Option<PathBuf>,
    /// Each file.
    pub arrivals: Vec<Arrival>,
}

/// What one automatic step did to an item.
#[derive(Debug, Clone, Serialize)]
pub struct AutoStep {
    /// Item id.
    pub item: i64,
    /// Its source.
    pub source: PathBuf,
    /// `validated`, `invalid`, `approved`, `held`, `promoted`, `failed`.
    pub action: String,
    /// Figures and reasons, in words.
    pub detail: String,
}

/// A recorded automatic decision, as `review` and the item page show it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AutoDecision {
    /// The rules in force.
    pub rules: ApprovePolicy,
    /// What each rule found.
    pub verdict: Verdict,
}

/// One caller's paths, and where its arrivals go.
type Waiting = (Vec<PathBuf>, std::sync::mpsc::Sender<Result<Vec<Arrival>>>);

/// Arrivals reported at the same time (many hook posts at once) taken together: one scan
/// (probes in parallel), one plan and one queue transaction for all, instead of each waiting
/// for the catalog in turn.
#[derive(Debug, Default)]
pub(crate) struct ArrivalBatch {
    pending: std::sync::Mutex<Vec<Waiting>>,
    leader: std::sync::Mutex<()>,
    /// Held while arrivals are planned and queued: the watch and the hooks may report the
    /// same file at once, and it is queued once.
    taking: std::sync::Mutex<()>,
}

impl App {
    /// [`take_arrivals`](Self::take_arrivals) for a caller among many at once (the hooks):
    /// whichever caller finds the batch free takes every request waiting, its own included;
    /// each gets the arrivals of its own paths. A path outside the roots fails its request
    /// alone.
    pub fn take_arrivals_batched(&self, paths: &[PathBuf]) -> Result<Vec<Arrival>> {
        let roots = self.settings().roots.clone();
        if let Some(p) = paths
            .iter()
            .find(|p| !roots.iter().any(|r| p.starts_with(r)))
        {
            return Err(AppError::new(
                ErrorKind::Invalid,
                format!(
                    "{}: not under any library root (check the hook's path mapping)",
                    p.display()
                ),
            ));
        }
        let batch = &self.conns.arrivals;
        let (tx, rx) = std::sync::mpsc::channel();
        batch
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((paths.to_vec(), tx));
        loop {
            if let Ok(r) = rx.try_recv() {
                return r;
            }
            let _leader = batch.leader.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(r) = rx.try_recv() {
                return r;
            }
            let work =
                std::mem::take(&mut *batch.pending.lock().unwrap_or_else(|p| p.into_inner()));
            let all: Vec<PathBuf> = work.iter().flat_map(|(p, _)| p.iter().cloned()).collect();
            let taken = self.take_arrivals(&all);
            for (mine, tx) in work {
                let _ = tx.send(match &taken {
                    Ok(v) => Ok(v
                        .arrivals
                        .iter()
                        .filter(|a| mine.contains(&a.path))
                        .cloned()
                        .collect()),
                    Err(e) => Err(e.clone()),
                });
            }
        }
    }

    /// What a walk of the roots finds different from the catalog (nothing read or probed).
    pub fn library_changes(&self) -> Result<Changes> {
        self.need_roots()?;
        Ok(mediaforce::scan::changes(&self.catalog, &self.settings())?)
    }

    /// Take files that arrived (settled after a watch event, found by a rescan, or reported by
    /// a hook): scan exactly them (a missing one is marked gone), plan those whose folder's
    /// `automation.mode` is not `off`, and queue the encodes of those set to `encode` or
    /// `promote`, ahead of the backlog. Files mediaforce wrote are catalogued as its own and
    /// never planned.
    pub fn take_arrivals(&self, paths: &[PathBuf]) -> Result<ArrivalsView> {
        self.need_roots()?;
        let opts = ScanOptions {
            files: paths.to_vec(),
            ..ScanOptions::default()
        };
        let scan = mediaforce::scan::scan(&self.catalog, &self.settings(), &opts, &|_| {})?;
        let policies = self.policies();
        let mode_of = |p: &Path| policies.resolve(p).policy.automation.mode;
        let mut arrivals: Vec<Arrival> = paths
            .iter()
            .map(|p| Arrival {
                path: p.clone(),
                mode: mode_of(p),
                outcome: if p.exists() { "catalogued" } else { "gone" }.into(),
                index: None,
                job: None,
            })
            .collect();
        let wanted: Vec<PathBuf> = arrivals
            .iter()
            .filter(|a| a.mode != AutoMode::Off && a.outcome != "gone")
            .map(|a| a.path.clone())
            .collect();
        if wanted.is_empty() {
            return Ok(ArrivalsView {
                scan,
                manifest: None,
                arrivals,
            });
        }
        let plan = manifest::plan_files(&self.catalog, &self.settings(), &policies, &wanted)?;
        for skipped in &plan.skipped {
            if let Some(a) = arrivals.iter_mut().find(|a| a.path == skipped.source) {
                a.outcome = format!("{} ({})", skipped.bucket, skipped.reason);
            }
        }
        if plan.items.is_empty() {
            return Ok(ArrivalsView {
                scan,
                manifest: None,
                arrivals,
            });
        }
        let _taking = self
            .conns
            .arrivals
            .taking
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // A file already waiting in the queue (the watch and a hook both saw it, or it was
        // queued by hand) is not queued again. Plans from before their items were kept in
        // brief are recorded first, so their jobs are found too.
        self.record_plan_briefs()?;
        self.with_queue(|_| Ok(()))?;
        let mut live = std::collections::BTreeMap::new();
        for item in &plan.items {
            if let Some(job) = self
                .catalog
                .live_job_for_source(&item.source.to_string_lossy())?
            {
                live.insert(item.source.clone(), job);
            }
        }
        let mpath = manifest::write(&plan, &self.paths.data_dir, &self.catalog)?;
        self.with_queue(|q| {
            for item in &plan.items {
                let Some(a) = arrivals.iter_mut().find(|a| a.path == item.source) else {
                    continue;
                };
                a.index = Some(item.index);
                a.outcome = "planned".into();
                if let Some(job) = live.get(&item.source) {
                    a.job = Some(*job);
                    a.outcome = format!("already queued as job {job}");
                    continue;
                }
                if matches!(a.mode, AutoMode::Encode | AutoMode::Promote) {
                    let mut job = mediaforce::batch::stage_job(&mpath, item, None);
                    job.priority = ARRIVAL_PRIORITY;
                    a.job = Some(q.enqueue(&job).map_err(AppError::from)?);
                    a.outcome = "queued".into();
                }
            }
            Ok(())
        })?;
        Ok(ArrivalsView {
            scan,
            manifest: Some(mpath),
            arrivals,
        })
    }

    /// One pass over finished encodes in folders set to `promote`: validate the staged ones,
    /// judge the validated ones by the `[approve]` rules (recording the decision and the rule
    /// values behind it; one that misses a rule waits for review), and promote the approved
    /// ones, unless `hold` names a reason not to start promotions (the free-space guard).
    pub fn autopilot(
        &self,
        cancel: &AtomicBool,
        reporter: &dyn Reporter,
        hold: Option<&str>,
    ) -> Result<Vec<AutoStep>> {
        let mut steps = Vec::new();
        let items = self
            .catalog
            .items_in_states(&[ItemState::Staged, ItemState::Validated])?;
        for it in items {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let policy = self.policies().resolve(&it.source).policy;
            if policy.automation.mode != AutoMode::Promote
                || it.decision == Some(Decision::Rejected)
            {
                continue;
            }
            let step = |action: &str, detail: String| AutoStep {
                item: it.id,
                source: it.source.clone(),
                action: action.into(),
                detail,
            };
            let sel = Selection {
                index: vec![it.index],
                all: false,
                manifest: Some(it.manifest.clone()),
            };
            if it.state == ItemState::Staged {
                let mut report = None;
                let view = self.validate(&sel, cancel, reporter, &mut |_, r| {
                    report = Some(r.clone());
                });
                steps.push(match (view, report) {
                    (Ok(_), Some(r)) if r.passed => {
                        step("validated", format!("saving {:.1}%", r.saving_percent))
                    }
                    (Ok(_), Some(r)) => step("invalid", failed_checks(&r)),
                    (Ok(v), None) => step(
                        "failed",
                        v.failed
                            .first()
                            .map_or_else(|| "not validated".into(), |n| n.reason.clone()),
                    ),
                    (Err(e), _) => step("failed", e.message),
                });
                continue;
            }
            if it.decision.is_none() {
                if self.held_since_validation(it.id)? {
                    continue;
                }
                let verdict = self.judge_item(&it, &policy)?;
                let record = serde_json::to_string(&AutoDecision {
                    rules: policy.approve.clone(),
                    verdict: verdict.clone(),
                })
                .expect("decision serialises");
                if verdict.approved {
                    self.catalog.set_decision(it.id, Decision::Approved)?;
                    self.catalog.event(it.id, AUTO_APPROVED, Some(&record))?;
                    steps.push(step("approved", "every [approve] rule held".into()));
                } else {
                    self.catalog.event(it.id, AUTO_HELD, Some(&record))?;
                    steps.push(step("held", verdict.missed().join("; ")));
                    continue;
                }
            }
            if let Some(reason) = hold {
                steps.push(step("waiting", reason.to_string()));
                continue;
            }
            match self.promote(&sel) {
                Ok(v) if !v.done.is_empty() => {
                    let saved = v.done[0].outcome.saved_bytes;
                    steps.push(step(
                        "promoted",
                        format!("saved {}", crate::human_bytes(saved.max(0) as u64)),
                    ));
                }
                Ok(v) => steps.push(step(
                    "failed",
                    v.failed
                        .iter()
                        .chain(&v.skipped)
                        .map(|n| n.reason.clone())
                        .next()
                        .unwrap_or_default(),
                )),
                Err(e) => steps.push(step("failed", e.message)),
            }
        }
        Ok(steps)
    }

    /// Finish the promotions in folders set to `promote` that a stop left half-way (the
    /// service killed mid-move): each is completed from its journal. Run when the service
    /// starts, before it begins any promotion of its own.
    pub fn resume_promotions(&self) -> Result<Vec<AutoStep>> {
        let mut steps = Vec::new();
        for it in self.catalog.items_in_states(&[ItemState::Promoting])? {
            let policy = self.policies().resolve(&it.source).policy;
            if policy.automation.mode != AutoMode::Promote {
                continue;
            }
            let sel = Selection {
                index: vec![it.index],
                all: false,
                manifest: Some(it.manifest.clone()),
            };
            let (action, detail) = match self.promote(&sel) {
                Ok(v) if !v.done.is_empty() => (
                    "promoted",
                    format!(
                        "an interrupted promotion completed from its journal; saved {}",
                        crate::human_bytes(v.done[0].outcome.saved_bytes.max(0) as u64)
                    ),
                ),
                Ok(v) => (
                    "failed",
                    v.failed
                        .iter()
                        .chain(&v.skipped)
                        .map(|n| n.reason.clone())
                        .next()
                        .unwrap_or_default(),
                ),
                Err(e) => ("failed", e.message),
            };
            steps.push(AutoStep {
                item: it.id,
                source: it.source.clone(),
                action: action.into(),
                detail,
            });
        }
        Ok(steps)
    }

    /// Whether the item's newest validation was followed by an automatic hold (it waits for
    /// a person; the rules are not asked again until it is validated again).
    fn held_since_validation(&self, item: i64) -> Result<bool> {
        let events = self.catalog.item_events(item)?;
        Ok(events
            .iter()
            .rev()
            .find(|(_, kind, _)| kind == "validated" || kind == AUTO_HELD)
            .is_some_and(|(_, kind, _)| kind == AUTO_HELD))
    }

    /// Judge an item's newest validation by its folder's rules.
    fn judge_item(
        &self,
        it: &mediaforce::catalog::ItemRecord,
        policy: &mediaforce::policy::Policy,
    ) -> Result<Verdict> {
        let (passed, text) = self.catalog.last_validation(it.id)?.ok_or_else(|| {
            AppError::new(
                ErrorKind::Conflict,
                format!(
                    "{}: validated, but no validation is recorded",
                    it.source.display()
                ),
            )
        })?;
        let report: ValidationReport = serde_json::from_str(&text).map_err(|e| {
            AppError::new(
                ErrorKind::Internal,
                format!("{}: validation record unreadable: {e}", it.source.display()),
            )
        })?;
        let passed_check = |name: &str| {
            report
                .checks
                .iter()
                .find(|c| c.name == name)
                .is_some_and(|c| c.passed)
        };
        let streams_kept = passed_check("streams") && report.streams_left_out == 0;
        let picture_identical = report.picture_copied && passed_check("pictures");
        let measured = Measured {
            validated: passed && report.passed,
            target_stat: report.target_stat.clone(),
            target: policy.encode.target_vmaf,
            achieved: report.achieved,
            saving_percent: report.saving_percent,
            streams_kept,
            source_seconds: report.source_seconds,
            encode_seconds: report.staged_seconds,
            source_damage: it.source_damage,
            picture_identical,
        };
        Ok(judge(&policy.approve, &measured))
    }

    /// The automatic decisions recorded on an item (newest last).
    pub fn auto_decisions(&self, item: i64) -> Result<Vec<(i64, bool, AutoDecision)>> {
        Ok(self
            .catalog
            .item_events(item)?
            .into_iter()
            .filter(|(_, kind, _)| kind == AUTO_APPROVED || kind == AUTO_HELD)
            .filter_map(|(at, kind, detail)| {
                let d = serde_json::from_str(detail.as_deref()?).ok()?;
                Some((at, kind == AUTO_APPROVED, d))
            })
            .collect())
    }

    /// Delete archived originals promoted more than their folder's `archive.keep_days` ago (as
    /// of `now`, epoch seconds), recording each deletion on its item.
    pub fn prune_archives(&self, now: i64) -> Result<Vec<Pruned>> {
        let mut out = Vec::new();
        for it in self.catalog.items_in_states(&[ItemState::Promoted])? {
            let keep = self.policies().resolve(&it.source).policy.archive.keep_days;
            if let Some(p) = mediaforce::promote::prune_archive(&self.catalog, &it, keep, now)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Why new encodes and promotions must not start now, if they must not: the transcode
    /// root has less free space than `automation.min_free_gb`.
    pub fn free_space_hold(&self) -> Option<String> {
        let min_gb = self.policies().defaults().automation.min_free_gb;
        let root = self.settings().transcode_root.clone();
        let free = free_bytes(&root)?;
        let min = (min_gb * 1e9) as u64;
        (min_gb > 0.0 && free < min).then(|| {
            format!(
                "free-space guard: {} has {} free, under automation.min_free_gb = {min_gb}",
                root.display(),
                crate::human_bytes(free)
            )
        })
    }
}

/// A scheduled campaign that ran.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduledRun {
    /// The root or folder.
    pub folder: PathBuf,
    /// Its cron expression.
    pub schedule: String,
    /// `rescan`, `plan` or `queue`.
    pub action: String,
    /// What it came to, in words.
    pub outcome: String,
}

impl App {
    /// Run the campaigns whose schedule fell in `(last, now]` (epoch seconds): a rescan, a
    /// rescan and plan, or those and the `schedule_count` best items queued.
    pub fn scheduled_campaigns(&self, last: i64, now: i64) -> Result<Vec<ScheduledRun>> {
        let mut out = Vec::new();
        let scheduled = self
            .folder_automation()
            .into_iter()
            .filter(|a| !a.schedule.trim().is_empty());
        for a in scheduled {
            let folder = a.folder.clone();
            let due = mediaforce::policy::next_run(&a.schedule, last).is_ok_and(|t| t <= now);
            if !due || !folder.is_dir() {
                continue;
            }
            let outcome = match a.schedule_action.as_str() {
                "rescan" => {
                    let r = self.scan(Some(&folder), None, &|_| {})?;
                    format!(
                        "{} files, {} new, {} changed, {} gone",
                        r.files, r.new, r.changed, r.gone
                    )
                }
                action => {
                    let limit = (action == "queue").then_some(a.schedule_count as usize);
                    let c = self.campaign(&folder, limit, &|_| {})?;
                    if action == "queue" && c.items > 0 {
                        let ids = self.enqueue(&Selection {
                            index: Vec::new(),
                            all: true,
                            manifest: Some(c.manifest.clone()),
                        })?;
                        format!(
                            "planned {} item(s), queued {} (expected saving {})",
                            c.items,
                            ids.len(),
                            crate::human_bytes(c.expected_saving_bytes)
                        )
                    } else {
                        format!("planned {} item(s)", c.items)
                    }
                }
            };
            out.push(ScheduledRun {
                folder,
                schedule: a.schedule.clone(),
                action: a.schedule_action.clone(),
                outcome,
            });
        }
        Ok(out)
    }
}

/// Bytes free to unprivileged writers on the file system holding `dir` (or its nearest
/// existing parent); `None` when it cannot be read.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let mut d = dir;
    while !d.exists() {
        d = d.parent()?;
    }
    let s = rustix::fs::statvfs(d).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

fn failed_checks(r: &ValidationReport) -> String {
    r.checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The load guard: local work pauses once the load of other programs has stayed above the
/// limit for `hold_after`, and resumes once it has stayed at or below it for `release_after`.
#[derive(Debug, Clone, Default)]
pub struct LoadGuard {
    held: bool,
    /// Since when the load has been on the other side of the limit from `held`.
    crossing_since: Option<f64>,
}

impl LoadGuard {
    /// Seconds the load must stay above the limit before work pauses.
    pub const HOLD_AFTER: f64 = 30.0;
    /// Seconds it must stay at or below it before work resumes.
    pub const RELEASE_AFTER: f64 = 30.0;

    /// Feed one reading at `now` (seconds): the load average less mediaforce's own running
    /// jobs, against `limit` (0: no guard). Returns `Some(held)` when the state changes.
    pub fn observe(&mut self, now: f64, foreign_load: f64, limit: f64) -> Option<bool> {
        if limit <= 0.0 {
            let was = std::mem::take(&mut self.held);
            self.crossing_since = None;
            return was.then_some(false);
        }
        let crossing = if self.held {
            foreign_load <= limit
        } else {
            foreign_load > limit
        };
        if !crossing {
            self.crossing_since = None;
            return None;
        }
        let since = *self.crossing_since.get_or_insert(now);
        let wait = if self.held {
            Self::RELEASE_AFTER
        } else {
            Self::HOLD_AFTER
        };
        if now - since >= wait {
            self.held = !self.held;
            self.crossing_since = None;
            return Some(self.held);
        }
        None
    }

    /// Whether local work is paused.
    pub fn held(&self) -> bool {
        self.held
    }
}

/// The 1-minute load average less `own_jobs` (mediaforce's running encodes each keep about
/// one core busy); `None` where `/proc/loadavg` cannot be read.
pub fn foreign_load(own_jobs: usize) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let one: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some((one - own_jobs as f64).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::LoadGuard;

    #[test]
    fn the_load_guard_pauses_only_on_a_load_that_stays_high_and_resumes_when_it_falls() {
        // (time, foreign load, expected change)
        let table: &[(f64, f64, Option<bool>)] = &[
            (0.0, 5.0, None),        // above the limit of 2: the clock starts
            (10.0, 1.0, None),       // a blip: the clock resets
            (20.0, 5.0, None),       // above again
            (49.0, 5.0, None),       // 29 s above
            (50.0, 5.0, Some(true)), // 30 s above: paused
            (60.0, 9.0, None),       // still high: nothing new
            (70.0, 2.0, None),       // at the limit: the release clock starts
            (90.0, 3.0, None),       // above again: reset
            (100.0, 1.0, None),
            (130.0, 1.0, Some(false)), // 30 s at or below: resumed
        ];
        let mut g = LoadGuard::default();
        for (t, load, want) in table {
            assert_eq!(g.observe(*t, *load, 2.0), *want, "at {t} s, load {load}");
        }
        assert!(!g.held());
        // Turning the guard off releases a held host at once.
        for t in 0..=30 {
            g.observe(t as f64, 9.0, 2.0);
        }
        assert!(g.held());
        assert_eq!(g.observe(31.0, 9.0, 0.0), Some(false));
    }
}

/// A folder's automation as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FolderAutomation {
    /// The folder (a root, or a folder with an override of its own).
    pub folder: PathBuf,
    /// Whether it is a library root.
    pub root: bool,
    /// Its `automation.mode`.
    pub mode: AutoMode,
    /// Its schedule (empty: none), what it runs and how many it queues.
    pub schedule: String,
    /// `rescan`, `plan` or `queue`.
    pub schedule_action: String,
    /// How many a `queue` campaign queues.
    pub schedule_count: u64,
}

impl App {
    /// The roots and the folders the operator's overrides name, with their automation.
    pub fn folder_automation(&self) -> Vec<FolderAutomation> {
        let policies = self.policies();
        let roots = self.settings().roots.clone();
        let mut folders = roots.clone();
        for rule in policies.rules() {
            let p = &rule.pattern;
            if p.starts_with('/') && !p.contains(['*', '?', '[']) {
                folders.push(PathBuf::from(p.trim_end_matches('/')));
            }
        }
        folders.sort();
        folders.dedup();
        folders
            .into_iter()
            .map(|f| {
                let a = policies.resolve(&f.join("x")).policy.automation;
                FolderAutomation {
                    root: roots.contains(&f),
                    folder: f,
                    mode: a.mode,
                    schedule: a.schedule,
                    schedule_action: a.schedule_action,
                    schedule_count: a.schedule_count,
                }
            })
            .collect()
    }

    /// Set a folder's automation (mode, and schedule with its action and count) in its
    /// override, keeping the rest of the override; checked as policy files are (a mode or
    /// action not known, a schedule that does not parse, are refused naming the key) before
    /// anything is written.
    pub fn set_folder_automation(
        &self,
        folder: &Path,
        mode: &str,
        schedule: &str,
        action: &str,
        count: u64,
    ) -> Result<bool> {
        let folder = self.folder(folder)?;
        if !self.settings().roots.iter().any(|r| folder.starts_with(r)) {
            return Err(AppError::new(
                ErrorKind::Invalid,
                format!("folder {}: not under a library root", folder.display()),
            ));
        }
        let current =
            mediaforce::policy::folder_override(&self.paths.data_dir, &folder)?.unwrap_or_default();
        let mut table: toml::Table = toml::from_str(&current).unwrap_or_default();
        let section = table
            .entry("automation")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = section {
            t.insert("mode".into(), toml::Value::String(mode.trim().into()));
            t.insert(
                "schedule".into(),
                toml::Value::String(schedule.trim().into()),
            );
            t.insert(
                "schedule_action".into(),
                toml::Value::String(action.trim().into()),
            );
            t.insert("schedule_count".into(), toml::Value::Integer(count as i64));
        }
        let text = toml::to_string(&table).unwrap_or_default();
        let note = format!(
            "automation set on the web page on {}",
            mediaforce::manifest::utc_timestamp(mediaforce::db::now())
        );
        self.set_folder_override(&folder, &text, &note)
    }
}
