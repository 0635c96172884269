//! The autopilot thread: approvals, promotions and pruning (a validation can take minutes; the
//! watch goes on meanwhile), and the notifications the owner asked for: an item waits for
//! review, a job failed for good, an item was promoted, a host went silent, the free-space
//! guard tripped, and a daily digest.

use super::{Status, HOUSEKEEPING, TICK};
use mediaforce::runner::Unreported;
use mediaforce_app::notify::Notification;
use mediaforce_app::App;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the digest is sent.
const DIGEST_EVERY: Duration = Duration::from_secs(24 * 3600);

/// What the autopilot remembers between passes (so each thing is told once).
#[derive(Debug, Default)]
pub(super) struct Pilot {
    /// The newest failed job already told of.
    last_failed: Option<i64>,
    /// Hosts by name: whether each was alive at the last look.
    alive: BTreeMap<String, bool>,
    /// The free-space guard's reason at the last look.
    free: Option<String>,
    next_digest: Option<Instant>,
    /// When the schedules were last looked at (epoch seconds).
    schedules_seen: i64,
}

fn note(event: &str, title: String, body: String) -> Notification {
    Notification {
        event: event.into(),
        title,
        body,
    }
}

impl Pilot {
    /// Pass after pass, every few seconds, until `stop`.
    pub(super) fn run(mut self, app: &App, stop: &AtomicBool, status: &Status) {
        let mut next = Instant::now();
        self.next_digest = Some(Instant::now() + DIGEST_EVERY);
        // Jobs that failed before this start were told of (or not) by an earlier run.
        self.last_failed = app
            .jobs_list(Some("failed"), 1)
            .ok()
            .and_then(|j| j.first().map(|j| j.id))
            .or(Some(0));
        match app.resume_promotions() {
            Ok(steps) => {
                for s in steps {
                    status.push(
                        &s.action,
                        format!("{} (item {}): {}", s.source.display(), s.item, s.detail),
                    );
                }
            }
            Err(e) => status.push("error", e.message),
        }
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() < next {
                std::thread::sleep(TICK);
                continue;
            }
            let mut told = Vec::new();
            self.schedules(app, status);
            self.pass(app, stop, status, &mut told);
            self.watch_queue(app, &mut told);
            for n in told {
                if let Err(e) = app.notify(&n) {
                    status.push("error", format!("notification not queued: {}", e.message));
                }
            }
            next = Instant::now() + HOUSEKEEPING;
        }
    }

    /// The campaigns whose schedules came due since the last look (none that fell while the
    /// service was down: the next comes at its time).
    fn schedules(&mut self, app: &App, status: &Status) {
        let now = mediaforce::db::now();
        if self.schedules_seen == 0 {
            self.schedules_seen = now;
            return;
        }
        match app.scheduled_campaigns(self.schedules_seen, now) {
            Ok(runs) => {
                for r in runs {
                    status.push(
                        "scheduled",
                        format!(
                            "{} ({} {}): {}",
                            r.folder.display(),
                            r.action,
                            r.schedule,
                            r.outcome
                        ),
                    );
                }
            }
            Err(e) => status.push("error", format!("scheduled campaign: {}", e.message)),
        }
        self.schedules_seen = now;
    }

    fn pass(
        &mut self,
        app: &App,
        stop: &AtomicBool,
        status: &Status,
        told: &mut Vec<Notification>,
    ) {
        let free = app.free_space_hold();
        if free.is_some() && self.free.is_none() {
            told.push(note(
                "free_space",
                "mediaforce: free-space guard".into(),
                free.clone().unwrap_or_default(),
            ));
        }
        self.free = free.clone();
        match app.autopilot(stop, &Unreported, free.as_deref()) {
            Ok(steps) => {
                for s in steps.into_iter().filter(|s| s.action != "waiting") {
                    let name = s.source.display().to_string();
                    match s.action.as_str() {
                        "held" | "invalid" => told.push(note(
                            "review",
                            format!("mediaforce: {name} waits for review"),
                            s.detail.clone(),
                        )),
                        "promoted" => told.push(note(
                            "promoted",
                            format!("mediaforce: promoted {name}"),
                            s.detail.clone(),
                        )),
                        _ => {}
                    }
                    let kind = if s.action == "held" {
                        "held_for_review"
                    } else {
                        s.action.as_str()
                    };
                    status.push(kind, format!("{name} (item {}): {}", s.item, s.detail));
                }
            }
            Err(e) => status.push("error", e.message),
        }
        match app.prune_archives(mediaforce::db::now()) {
            Ok(pruned) => {
                for p in pruned {
                    status.push(
                        "pruned",
                        format!(
                            "{} ({} bytes), the original of {}",
                            p.original.display(),
                            p.bytes,
                            p.library.display()
                        ),
                    );
                }
            }
            Err(e) => status.push("error", e.message),
        }
    }

    /// Jobs that failed for good since the last look, hosts that went silent, the digest.
    fn watch_queue(&mut self, app: &App, told: &mut Vec<Notification>) {
        if let Ok(failed) = app.jobs_list(Some("failed"), 50) {
            let last = self.last_failed.unwrap_or(0);
            for j in failed
                .iter()
                .filter(|j| j.id > last && j.kind != mediaforce_app::notify::JOB_KIND)
            {
                told.push(note(
                    "failed",
                    format!("mediaforce: job {} failed", j.id),
                    format!(
                        "{} after {} attempt(s): {}",
                        j.kind,
                        j.attempts,
                        j.last_error.clone().unwrap_or_default()
                    ),
                ));
            }
            if let Some(newest) = failed.iter().map(|j| j.id).max() {
                self.last_failed = Some(newest.max(last));
            }
        }
        if let Ok(hosts) = app.hosts_list() {
            for h in hosts {
                let was = self.alive.insert(h.name.clone(), h.alive);
                if was == Some(true) && !h.alive {
                    told.push(note(
                        "host_silent",
                        format!("mediaforce: host {} went silent", h.name),
                        format!(
                            "no heartbeat since {} (its running jobs return to the queue when their leases run out)",
                            mediaforce::manifest::utc_timestamp(h.last_seen_ms / 1000)
                        ),
                    ));
                }
            }
        }
        if self.next_digest.is_some_and(|t| Instant::now() >= t) {
            self.next_digest = Some(Instant::now() + DIGEST_EVERY);
            if let Some(n) = digest(app) {
                told.push(n);
            }
        }
    }
}

/// The daily digest: saved so far, queued, failed, waiting for review.
fn digest(app: &App) -> Option<Notification> {
    let saved = app.catalog.saved_bytes().ok()?;
    let count = |state: &str| app.jobs_list(Some(state), 100_000).map_or(0, |j| j.len());
    let review = app
        .catalog
        .items_in_states(&[
            mediaforce::domain::ItemState::Validated,
            mediaforce::domain::ItemState::Invalid,
        ])
        .map_or(0, |i| i.iter().filter(|i| i.decision.is_none()).count());
    Some(note(
        "digest",
        "mediaforce: daily digest".into(),
        format!(
            "saved {} in all; {} job(s) queued, {} failed; {} item(s) waiting for review",
            mediaforce_app::human_bytes(saved.max(0) as u64),
            count("queued"),
            count("failed"),
            review
        ),
    ))
}
