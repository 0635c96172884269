//! The service's automation loop (`mediaforce serve`): the library roots are watched, a new or
//! changed file is taken once it has settled, every root is rescanned on a timer for what
//! watching misses, finished encodes in folders set to `promote` are validated, judged and
//! promoted, archived originals past their keep time are pruned, and the guards (free space on
//! the transcode root, other programs' load) hold the local slots' new work.
//!
//! Everything it decides is the application layer's ([`App::take_arrivals`],
//! [`App::autopilot`], [`App::prune_archives`]); this module holds the clocks and the watch,
//! and tells the owner what it did through [`Status`] (the service's log and its API).

mod pilot;
pub mod settle;

use mediaforce_app::automation::{foreign_load, LoadGuard};
use mediaforce_app::App;
use notify::Watcher;
use serde::Serialize;
use settle::Settler;
use std::collections::{BTreeSet, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the loop looks at its clocks.
pub(crate) const TICK: Duration = Duration::from_millis(250);
/// How often the guards, the approvals and the pruning run.
pub(crate) const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// Events kept for the page and the API.
const KEPT: usize = 500;

/// One thing the automation did or saw.
#[derive(Debug, Clone, Serialize)]
pub struct AutoEvent {
    /// When (epoch seconds).
    pub at: i64,
    /// `watching`, `arrival`, `ours` (mediaforce's own file, catalogued), `rescan`, `unmounted`, `held`, `resumed`, `validated`,
    /// `approved`, `held_for_review`, `promoted`, `pruned`, `error`...
    pub kind: String,
    /// What, in words, naming the file.
    pub message: String,
}

/// What the automation is doing, shared with the server.
#[derive(Debug, Default)]
pub struct Status {
    events: Mutex<VecDeque<AutoEvent>>,
    /// Paths waiting to settle.
    pub waiting: std::sync::atomic::AtomicUsize,
    /// Why new local work is held (empty: it is not).
    hold: Mutex<String>,
}

impl Status {
    pub(crate) fn push(&self, kind: &str, message: String) {
        eprintln!("mediaforce serve: {kind}: {message}");
        let mut e = self.events.lock().expect("status lock");
        if e.len() == KEPT {
            e.pop_front();
        }
        e.push_back(AutoEvent {
            at: mediaforce::db::now(),
            kind: kind.into(),
            message,
        });
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> Vec<AutoEvent> {
        self.events
            .lock()
            .expect("status lock")
            .iter()
            .cloned()
            .collect()
    }

    /// Why new local work is held, if it is.
    pub fn hold(&self) -> Option<String> {
        let h = self.hold.lock().expect("status lock");
        (!h.is_empty()).then(|| h.clone())
    }
}

/// The running automation: its status, and the flag the local slots read.
#[derive(Debug)]
pub struct Automation {
    /// What it did.
    pub status: Arc<Status>,
    /// Set while the guards hold new local work.
    pub hold: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Automation {
    /// Start the loop on a thread of its own until `stop` is set; `host` is this machine's
    /// name (its local slots' jobs are its own load).
    pub fn start(app: Arc<App>, host: String, stop: Arc<AtomicBool>) -> Self {
        let status = Arc::new(Status::default());
        let hold = Arc::new(AtomicBool::new(false));
        let (s, h) = (status.clone(), hold.clone());
        let (a, st, s2) = (app.clone(), stop.clone(), status.clone());
        let (a3, st3, s3) = (app.clone(), stop.clone(), status.clone());
        let deliverer = format!("{host}/notify");
        let threads = vec![
            // Notifications: delivered from the queue, retried with backoff, one at a time.
            std::thread::Builder::new()
                .name("notify".into())
                .spawn(move || {
                    while !st3.load(Ordering::Relaxed) {
                        if let Err(e) = a3.run_deliveries(&deliverer, &st3, None) {
                            s3.push("error", format!("notifications: {}", e.message));
                            std::thread::sleep(Duration::from_secs(5));
                        }
                    }
                })
                .expect("a thread starts"),
            std::thread::Builder::new()
                .name("automation".into())
                .spawn(move || Loop::new(app, host, stop, s, h).run())
                .expect("a thread starts"),
            std::thread::Builder::new()
                .name("autopilot".into())
                .spawn(move || pilot::Pilot::default().run(&a, &st, &s2))
                .expect("a thread starts"),
        ];
        Self {
            status,
            hold,
            threads,
        }
    }

    /// Wait for the loop to end (after `stop` was set).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

struct Loop {
    app: Arc<App>,
    host: String,
    stop: Arc<AtomicBool>,
    status: Arc<Status>,
    hold: Arc<AtomicBool>,
    started: Instant,
    settler: Settler,
    load: LoadGuard,
    free_hold: Option<String>,
}

impl Loop {
    fn new(
        app: Arc<App>,
        host: String,
        stop: Arc<AtomicBool>,
        status: Arc<Status>,
        hold: Arc<AtomicBool>,
    ) -> Self {
        Self {
            app,
            host,
            stop,
            status,
            hold,
            started: Instant::now(),
            settler: Settler::default(),
            load: LoadGuard::default(),
            free_hold: None,
        }
    }

    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn run(mut self) {
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                if !matches!(ev.kind, notify::EventKind::Access(_)) {
                    for p in ev.paths {
                        let _ = tx.send(p);
                    }
                }
            }
        });
        let mut watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                self.status.push(
                    "error",
                    format!(
                        "cannot watch the roots ({e}); only the periodic rescans find new files"
                    ),
                );
                None
            }
        };
        let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
        // A rescan at start catches what changed while the service was down.
        let mut next_rescan = Some(Instant::now());
        let mut next_housekeeping = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            if let Some(w) = watcher.as_mut() {
                self.rewatch(w, &mut watched);
            }
            while let Ok(p) = rx.try_recv() {
                self.event(&p);
            }
            self.take_settled();
            if next_rescan.is_some_and(|t| Instant::now() >= t) {
                self.rescan();
                next_rescan = self
                    .app
                    .policies()
                    .defaults()
                    .automation
                    .rescan_every()
                    .map(|d| Instant::now() + d);
            }
            if Instant::now() >= next_housekeeping {
                self.housekeeping();
                next_housekeeping = Instant::now() + HOUSEKEEPING;
            }
            std::thread::sleep(TICK);
        }
    }

    /// Watch every root (added since, too); stop watching removed ones.
    fn rewatch(&self, w: &mut notify::RecommendedWatcher, watched: &mut BTreeSet<PathBuf>) {
        let roots: BTreeSet<PathBuf> = self.app.settings().roots.iter().cloned().collect();
        for gone in watched.difference(&roots).cloned().collect::<Vec<_>>() {
            let _ = w.unwatch(&gone);
            watched.remove(&gone);
        }
        for root in roots.difference(&watched.clone()) {
            // A root that is not there yet (an unmounted disk) is tried again next tick; the
            // rescans report it.
            if w.watch(root, notify::RecursiveMode::Recursive).is_ok() {
                watched.insert(root.clone());
                self.status.push("watching", format!("{}", root.display()));
            }
        }
    }

    /// A watch event's path: a candidate file starts (or restarts) its settle clock; a folder
    /// (copied in whole, or moved in) has each of its files looked at.
    fn event(&mut self, path: &Path) {
        let settings = self.app.settings();
        if path.starts_with(&settings.transcode_root)
            || path.to_string_lossy().contains(".partial-")
        {
            return;
        }
        if path.is_dir() {
            for f in files_under(path) {
                self.event(&f);
            }
            return;
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if settings.extensions.contains(&ext) {
            let settle = self.settle_of(path);
            let now = self.now();
            self.settler.observe(path, now, settle);
        }
    }

    fn settle_of(&self, path: &Path) -> f64 {
        self.app
            .policies()
            .resolve(path)
            .policy
            .automation
            .settle_seconds as f64
    }

    fn take_settled(&mut self) {
        let now = self.now();
        let due = self.settler.due(now, look);
        self.status
            .waiting
            .store(self.settler.waiting(), Ordering::Relaxed);
        if !due.is_empty() {
            self.take(&due, "arrival");
        }
    }

    fn take(&mut self, paths: &[PathBuf], kind: &str) {
        match self.app.take_arrivals(paths) {
            Ok(view) => {
                for a in view.arrivals {
                    let what = match (a.job, a.index) {
                        (Some(job), Some(i)) => format!("queued as job {job} (item {i})"),
                        _ => a.outcome.clone(),
                    };
                    // mediaforce's own writes (a promotion's encode) are catalogued, never
                    // work: said as such, not as arrivals.
                    let kind = if a
                        .outcome
                        .starts_with(mediaforce::rank::Bucket::Ours.label())
                    {
                        "ours"
                    } else {
                        kind
                    };
                    self.status.push(
                        kind,
                        format!("{} [{}]: {what}", a.path.display(), a.mode.as_str()),
                    );
                }
            }
            // Not taken (the store unreachable, say): they wait again, and are taken once it
            // answers; nothing reported is dropped.
            Err(e) => {
                self.status.push(
                    "error",
                    format!("{} (tried again after the settle time)", e.message),
                );
                let now = self.now();
                for p in paths {
                    let settle = self.settle_of(p);
                    self.settler.consider(p, now, settle);
                }
            }
        }
    }

    /// The periodic rescan: changed and new files start their settle clocks (a file being
    /// copied onto a share is not caught half-written); missing ones are marked gone; a root
    /// that looks unmounted is reported and nothing under it is touched.
    fn rescan(&mut self) {
        match self.app.library_changes() {
            Ok(c) => {
                for root in &c.unmounted {
                    self.status.push(
                        "unmounted",
                        format!(
                            "{}: empty while the catalog has files under it (not mounted?); nothing marked gone",
                            root.display()
                        ),
                    );
                }
                let now = self.now();
                for p in &c.new_or_changed {
                    let settle = self.settle_of(p);
                    self.settler.consider(p, now, settle);
                }
                if !c.missing.is_empty() {
                    self.take(&c.missing, "rescan");
                }
                self.status.push(
                    "rescan",
                    format!(
                        "{} files; {} new or changed, {} missing",
                        c.files,
                        c.new_or_changed.len(),
                        c.missing.len()
                    ),
                );
            }
            Err(e) => self.status.push("error", format!("rescan: {}", e.message)),
        }
    }

    /// The guards: free space on the transcode root, other programs' load.
    fn housekeeping(&mut self) {
        let defaults = self.app.policies().defaults().automation;
        let free = self.app.free_space_hold();
        if free != self.free_hold {
            match &free {
                Some(reason) => self.status.push("held", reason.clone()),
                None => self.status.push(
                    "resumed",
                    "free space is back above automation.min_free_gb".into(),
                ),
            }
            self.free_hold = free.clone();
        }
        let own = self
            .app
            .jobs_list(Some("running"), 10_000)
            .map(|jobs| {
                let prefix = format!("{}/", self.host);
                jobs.iter()
                    .filter(|j| j.worker.as_deref().is_some_and(|w| w.starts_with(&prefix)))
                    .count()
            })
            .unwrap_or(0);
        if let Some(load) = foreign_load(own) {
            match self
                .load
                .observe(self.now(), load, defaults.max_foreign_load)
            {
                Some(true) => self.status.push(
                    "held",
                    format!(
                        "load guard: other programs' load {load:.2} stayed above automation.max_foreign_load = {}; local jobs pause",
                        defaults.max_foreign_load
                    ),
                ),
                Some(false) => self.status.push(
                    "resumed",
                    format!("load guard: other programs' load fell to {load:.2}; local jobs resume"),
                ),
                None => {}
            }
        }
        let reasons: Vec<String> = free
            .iter()
            .cloned()
            .chain(self.load.held().then(|| "load guard".to_string()))
            .collect();
        self.hold.store(!reasons.is_empty(), Ordering::Relaxed);
        *self.status.hold.lock().expect("status lock") = reasons.join("; ");
    }
}

/// A path's size and modification time, for the settle timer.
fn look(path: &Path) -> settle::Look {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.mtime() * 1_000_000_000 + m.mtime_nsec()))
}

/// Every file under `dir` (a folder that appeared in one event).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    out
}
