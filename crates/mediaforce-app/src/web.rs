//! What the web page needs of the application layer: the library as pages the database
//! filters and sorts, and the page's sign-in (one password, stored as an argon2 hash; sessions
//! stored hashed, each with its CSRF token).

use crate::{App, AppError, ErrorKind, Result};
use mediaforce::catalog::{LibraryQuery, MediaColumns};
use mediaforce::store::sql::Db;
use mediaforce::store::web as store_web;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use mediaforce::store::web::SCHEMA;

/// How long a session lasts.
pub const SESSION_MS: i64 = 7 * 24 * 3600 * 1000;

/// One file on the library page.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryRow {
    /// The file's catalog id.
    pub id: i64,
    /// Its path.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// Codec, resolution, HDR, bit rate and audio from its probe.
    #[serde(flatten)]
    pub media: MediaColumns,
    /// The ranking's bucket (`candidate`, `efficient`, `policy`, ...).
    pub bucket: &'static str,
    /// The ranking's expected saving.
    pub expected_saving_bytes: u64,
    /// The state of its newest plan item (`None`: never planned).
    pub state: Option<String>,
    /// Its newest plan item (the item page), if planned.
    pub item_id: Option<i64>,
}

/// A page of the library.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryPage {
    /// The files on this page.
    pub rows: Vec<LibraryRow>,
    /// Files matching the filters in all.
    pub total: u64,
    /// Where this page starts.
    pub offset: u64,
    /// Rows a page holds.
    pub limit: u64,
    /// The query, as understood.
    pub query: LibraryQuery,
}

/// A signed-in session: its cookie value (shown once) and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie value.
    pub token: String,
    /// What every state-changing request of the session must carry.
    pub csrf: String,
}

fn now_ms() -> i64 {
    mediaforce::hosts::now_ms()
}

fn salt() -> argon2::password_hash::SaltString {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random source");
    argon2::password_hash::SaltString::encode_b64(&bytes).expect("16 bytes make a salt")
}

impl App {
    /// Run `f` on the kept connection to the web page's tables.
    fn with_web_db<R>(&self, f: impl FnOnce(&mut Db) -> Result<R>) -> Result<R> {
        let mut guard = self.conns.web.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let location = mediaforce::batch::queue_location(
                &self.paths.data_dir,
                self.paths.database.as_deref(),
            );
            *guard = Some(Db::open(&location, &SCHEMA)?);
        }
        let r = f(guard.as_mut().expect("opened"));
        if r.is_err() {
            *guard = None;
        }
        r
    }

    /// One page of the library, filtered and sorted by the database; buckets and expected
    /// savings are ranked for the page's rows only.
    pub fn library(&self, q: &LibraryQuery) -> Result<LibraryPage> {
        let (files, total) = self.catalog.library_page(q)?;
        // Ratios learned per (source codec, encoder), read once per page, not once per row.
        let seen = std::cell::RefCell::new(std::collections::HashMap::new());
        let learned = |src: &str, enc: &str| {
            seen.borrow_mut()
                .entry((src.to_string(), enc.to_string()))
                .or_insert_with(|| self.catalog.learned_ratios(src, enc).unwrap_or_default())
                .clone()
        };
        let policies = self.policies();
        let sizes = mediaforce::rank::SizeModels::new(&self.catalog);
        let rows = files
            .into_iter()
            .map(|f| {
                let policy = policies.resolve(&f.file.path).policy;
                let ranking = mediaforce::rank::rank_with(
                    &f.file,
                    &policy,
                    &mediaforce::rank::Evidence {
                        learned: &learned,
                        sizes: &|p| sizes.for_policy(p),
                    },
                );
                LibraryRow {
                    id: f.file.id,
                    path: f.file.path.clone(),
                    size_bytes: f.file.size,
                    media: f.media,
                    bucket: ranking.bucket.label(),
                    expected_saving_bytes: ranking.expected_saving_bytes,
                    state: f.state,
                    item_id: f.item_id,
                }
            })
            .collect();
        Ok(LibraryPage {
            rows,
            total,
            offset: q.offset.unwrap_or(0),
            limit: q.limit.unwrap_or(100).clamp(1, 1000),
            query: q.clone(),
        })
    }

    /// Set the web page's password (at least 8 characters); every session ends.
    pub fn web_set_password(&self, password: &str) -> Result<()> {
        use argon2::PasswordHasher;
        if password.chars().count() < 8 {
            return Err(AppError::new(
                ErrorKind::Invalid,
                "the password needs at least 8 characters",
            ));
        }
        let hash = argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt())
            .map_err(|e| AppError::new(ErrorKind::Internal, format!("argon2: {e}")))?
            .to_string();
        self.with_web_db(|db| Ok(store_web::set_password(db, &hash, now_ms())?))
    }

    /// Whether a password is set (without one, nobody can sign in).
    pub fn web_password_set(&self) -> Result<bool> {
        self.with_web_db(|db| Ok(store_web::password_hash(db)?.is_some()))
    }

    /// Sign in with `password`: a new session, or unauthenticated.
    pub fn web_login(&self, password: &str) -> Result<Session> {
        use argon2::PasswordVerifier;
        let refused = || AppError::new(ErrorKind::Unauthenticated, "wrong password");
        let stored = self.with_web_db(|db| Ok(store_web::password_hash(db)?))?;
        let Some(hash) = stored else {
            return Err(AppError::new(
                ErrorKind::Unauthenticated,
                "no password is set: run `mediaforce web-password` on the server",
            ));
        };
        let parsed = argon2::PasswordHash::new(&hash)
            .map_err(|e| AppError::new(ErrorKind::Internal, format!("stored hash: {e}")))?;
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .map_err(|_| refused())?;
        let session = Session {
            token: mediaforce::transfer::new_token(),
            csrf: mediaforce::transfer::new_token(),
        };
        let now = now_ms();
        self.with_web_db(|db| {
            Ok(store_web::open_session(
                db,
                &mediaforce::transfer::token_hash(&session.token),
                &session.csrf,
                now,
                now + SESSION_MS,
            )?)
        })?;
        Ok(session)
    }

    /// The CSRF token of the live session `token` names; unauthenticated when none.
    pub fn web_session(&self, token: &str) -> Result<String> {
        let csrf = self.with_web_db(|db| {
            Ok(store_web::session_csrf(
                db,
                &mediaforce::transfer::token_hash(token),
                now_ms(),
            )?)
        })?;
        csrf.ok_or_else(|| AppError::new(ErrorKind::Unauthenticated, "not signed in"))
    }

    /// End the session `token` names.
    pub fn web_logout(&self, token: &str) -> Result<()> {
        self.with_web_db(|db| {
            Ok(store_web::close_session(
                db,
                &mediaforce::transfer::token_hash(token),
            )?)
        })
    }
}

/// A running job as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunningJob {
    /// The job.
    pub id: i64,
    /// Its kind.
    pub kind: String,
    /// What it works on.
    pub payload: serde_json::Value,
    /// The worker holding it (`host/slot`).
    pub worker: Option<String>,
    /// What it does, in words (`Encode Films/Harbour (2019).mkv`).
    pub what: String,
    /// The host running it, by name.
    pub host: Option<String>,
    /// Which attempt.
    pub attempts: i64,
    /// Its last reported progress (a `frames_done` event), if any.
    pub progress: Option<serde_json::Value>,
}

/// What the dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardView {
    /// Jobs by state (`queued`, `running`, `done`, `failed`, `cancelled`).
    pub counts: std::collections::BTreeMap<String, usize>,
    /// Running jobs with their progress.
    pub running: Vec<RunningJob>,
    /// The hosts.
    pub hosts: Vec<mediaforce::hosts::HostRow>,
    /// Bytes saved by promoted encodes.
    pub saved_bytes: i64,
    /// The newest failed jobs, with cause and host.
    pub failures: Vec<mediaforce::store::JobRow>,
    /// The newest event id: a page's live stream starts after it.
    pub last_event: i64,
}

impl App {
    /// The dashboard: queue counts, running jobs with progress, hosts, savings, failures.
    pub fn dashboard(&self) -> Result<DashboardView> {
        let (counted, running, failures, last_event) = self.with_queue(|q| {
            let e = crate::review::store_error;
            let counted = q.counts().map_err(e)?;
            let mut running = Vec::new();
            for j in q
                .list(Some(mediaforce::store::JobState::Running), 1000)
                .map_err(e)?
            {
                let progress = q
                    .latest_event(j.id, "frames_done")
                    .map_err(e)?
                    .and_then(|ev| serde_json::from_str(&ev.detail).ok());
                running.push((j, progress));
            }
            let failures = q
                .list(Some(mediaforce::store::JobState::Failed), 10)
                .map_err(e)?;
            let last = q.last_event_id().map_err(e)?;
            Ok((counted, running, failures, last))
        })?;
        let rows: Vec<mediaforce::store::JobRow> = running.iter().map(|r| r.0.clone()).collect();
        let running = running
            .into_iter()
            .zip(self.describe_jobs(&rows))
            .map(|((j, progress), words)| RunningJob {
                id: j.id,
                kind: j.kind,
                payload: j.payload,
                worker: j.worker,
                what: words.what,
                host: words.host,
                attempts: j.attempts,
                progress,
            })
            .collect();
        let mut counts = std::collections::BTreeMap::new();
        for s in ["queued", "running", "done", "failed", "cancelled"] {
            counts.insert(s.to_string(), 0);
        }
        for (state, n) in counted {
            counts.insert(state.as_str().to_string(), n as usize);
        }
        Ok(DashboardView {
            counts,
            running,
            hosts: self.hosts_list()?,
            saved_bytes: self.catalog.saved_bytes()?,
            failures,
            last_event,
        })
    }

    /// Every job's events after `after` (at most `limit`), for a page's live stream.
    pub fn events_since(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<mediaforce::store::JobEvent>> {
        self.with_queue(|q| {
            q.events_since(after, limit)
                .map_err(crate::review::store_error)
        })
    }
}

/// Everything the item page shows.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    /// The item's id.
    pub id: i64,
    /// Its plan.
    pub manifest: PathBuf,
    /// Its index in the plan.
    pub index: usize,
    /// Numbers, validation, review material and artifacts (as `mediaforce review`).
    pub review: crate::ReviewView,
    /// Its source's streams: video, audio tracks, subtitles.
    pub video: String,
    /// Audio tracks.
    pub audio: Vec<String>,
    /// Subtitle tracks.
    pub subtitles: Vec<String>,
    /// Its history, oldest first: (epoch seconds, kind, detail).
    pub events: Vec<(i64, String, Option<String>)>,
    /// What the operator may do now: `approve`, `reject`, `promote`, `rollback`.
    pub actions: Vec<&'static str>,
    /// Whether it may be encoded again now (its encode is not in the library).
    pub reencode: bool,
    /// The VMAF target its policy names (a re-encode may name another).
    pub target_vmaf: f64,
    /// What the plan's expected saving rests on, a line each (as `plan --explain`); `None`
    /// when the file is no longer catalogued or readable.
    pub estimate: Option<Vec<String>>,
}

/// An artifact to serve: its file and what it is.
#[derive(Debug, Clone)]
pub struct ArtifactFile {
    /// The file.
    pub path: PathBuf,
    /// `clip`, `still`, `plot`, `frame_scores` or `report`.
    pub kind: String,
}

impl App {
    fn item_by_id(&self, id: i64) -> Result<mediaforce::catalog::ItemRecord> {
        self.catalog
            .item_by_id(id)?
            .ok_or_else(|| AppError::new(ErrorKind::NotFound, format!("no item {id}")))
    }

    fn item_selection(it: &mediaforce::catalog::ItemRecord) -> crate::Selection {
        crate::Selection {
            index: vec![it.index],
            all: false,
            manifest: Some(it.manifest.clone()),
        }
    }

    /// The item page's view of item `id`.
    pub fn item_view(&self, id: i64) -> Result<ItemView> {
        use mediaforce::domain::ItemState as S;
        let it = self.item_by_id(id)?;
        let review = self
            .review(&Self::item_selection(&it))?
            .into_iter()
            .next()
            .ok_or_else(|| AppError::new(ErrorKind::NotFound, format!("no item {id}")))?;
        let file = match it.file_id {
            Some(f) => self.catalog.file(f)?,
            None => None,
        };
        let (video, audio, subtitles) = file
            .as_ref()
            .map(mediaforce::manifest::stream_summaries)
            .unwrap_or_default();
        let decided = it.decision.map(|d| d.as_str());
        let actions = match it.state {
            S::Validated | S::Staged | S::Invalid => match decided {
                Some("approved") => vec!["reject", "promote"],
                Some("rejected") => vec!["approve"],
                _ => vec!["approve", "reject"],
            },
            S::Promoted => vec!["rollback"],
            _ => Vec::new(),
        };
        Ok(ItemView {
            id,
            manifest: it.manifest.clone(),
            index: it.index,
            review,
            video,
            audio,
            subtitles,
            events: self.catalog.item_events(id)?,
            actions,
            reencode: mediaforce::domain::transition(it.state, S::Encoding).is_ok(),
            target_vmaf: self.plan_item(&it)?.policy.encode.target_vmaf,
            estimate: self
                .explain_estimate(Some(&it.manifest), it.index)
                .ok()
                .map(|e| e.lines()),
        })
    }

    /// The plan item an item record was made from.
    fn plan_item(
        &self,
        it: &mediaforce::catalog::ItemRecord,
    ) -> Result<mediaforce::manifest::ManifestItem> {
        mediaforce::manifest::load(&self.catalog, &it.manifest)?
            .items
            .into_iter()
            .find(|i| i.index == it.index)
            .ok_or_else(|| {
                AppError::new(
                    ErrorKind::NotFound,
                    format!("item {}: its plan has no item {}", it.id, it.index),
                )
            })
    }

    /// Encode item `id` again from the start, at `target_vmaf` when given (the item page's
    /// "re-encode at"); the new job's id. See [`App::reencode_item`].
    pub fn item_reencode(&self, id: i64, target_vmaf: Option<f64>) -> Result<i64> {
        let it = self.item_by_id(id)?;
        let item = self.plan_item(&it)?;
        self.reencode_item(&it.manifest, &item, target_vmaf)
    }

    /// Approve, reject, promote or roll back item `id`.
    pub fn item_action(&self, id: i64, action: &str) -> Result<()> {
        use mediaforce::domain::Decision;
        let it = self.item_by_id(id)?;
        let sel = Self::item_selection(&it);
        match action {
            "approve" => self
                .decide(&sel, Decision::Approved, false)?
                .verdict(&sel, "approved"),
            "reject" => self
                .decide(&sel, Decision::Rejected, false)?
                .verdict(&sel, "rejected"),
            "promote" => self.promote(&sel)?.verdict(&sel, "promoted"),
            "rollback" => self.rollback(&sel)?.verdict(&sel, "rolled back"),
            other => Err(AppError::new(
                ErrorKind::NotFound,
                format!("no item action {other:?}"),
            )),
        }
    }

    /// Artifact `id`'s file, if it lies where review material is written (the review cache
    /// or the data directory): never a path taken from a request, nor one a forged row names
    /// elsewhere.
    pub fn artifact_file(&self, id: i64) -> Result<ArtifactFile> {
        let a = self
            .catalog
            .artifact(id)?
            .ok_or_else(|| AppError::new(ErrorKind::NotFound, format!("no artifact {id}")))?;
        let clean = !a
            .path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
        let under = [
            mediaforce::compare::default_cache_dir(),
            self.paths.data_dir.clone(),
        ]
        .iter()
        .any(|root| a.path.starts_with(root));
        if !clean || !under {
            return Err(AppError::new(
                ErrorKind::Refused,
                format!(
                    "artifact {id}: {} is not where review material is kept",
                    a.path.display()
                ),
            ));
        }
        Ok(ArtifactFile {
            path: a.path,
            kind: a.kind,
        })
    }
}

/// The folder page: the folder's summary and suggested override, and the policy in force
/// there with the layer of each value.
#[derive(Debug, Clone, Serialize)]
pub struct FolderView {
    /// As `inspect-folder`.
    pub summary: crate::FolderSummary,
    /// (dotted key, value, layer).
    pub policy: Vec<(String, String, String)>,
    /// The operator's own rule for exactly this folder, as policy TOML (`[encode]`...).
    pub override_text: Option<String>,
    /// The folder below its library root.
    pub shown: crate::display::ShownPath,
}

/// The settings page: roots, transcode root, ignore patterns, and the defaults in force.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsPage {
    /// As `settings show`.
    pub settings: crate::SettingsView,
    /// The policy at the top of the first root (the defaults before folder rules), with
    /// provenance.
    pub policy: Vec<(String, String, String)>,
}

impl App {
    /// The folder page's view of `folder` (a library folder).
    pub fn folder_view(&self, folder: &Path) -> Result<FolderView> {
        let folder = self.library_folder(folder)?;
        let policy = self.policy(&folder);
        Ok(FolderView {
            shown: self.shown_path(&folder),
            summary: self.inspect_folder(&folder)?,
            policy: mediaforce::policy::provenance_rows(&policy.policy, &policy.sources),
            override_text: mediaforce::policy::folder_override(&self.paths.data_dir, &folder)?,
        })
    }

    /// A folder the user named, refused unless it lies under a library root.
    fn library_folder(&self, folder: &Path) -> Result<std::path::PathBuf> {
        let folder = self.folder(folder)?;
        if !self.settings().roots.iter().any(|r| folder.starts_with(r)) {
            return Err(AppError::new(
                ErrorKind::NotFound,
                format!("{}: not under a library root", folder.display()),
            ));
        }
        Ok(folder)
    }

    /// Save `sections` (policy TOML: `[encode]`, `[audio]`...) as the override of exactly
    /// `folder` (under a library root), replacing its earlier one; text with no settings
    /// removes it. Checked as the loader checks policy files (refused as invalid, naming the
    /// line and key, with nothing written); the policy in force is read again. `note` is kept
    /// as a comment above the rule (who saved it, and why). Returns whether an override is in
    /// force.
    pub fn set_folder_override(&self, folder: &Path, sections: &str, note: &str) -> Result<bool> {
        let folder = self.library_folder(folder)?;
        let kept = mediaforce::policy::save_folder_override(
            &self.paths.data_dir,
            &folder,
            sections,
            note,
        )?;
        self.reload_policies()?;
        Ok(kept)
    }

    /// Plan `folder` and, with `queue`, queue its encodes for any host; the plan's items.
    pub fn plan_folder(&self, folder: &Path, queue: bool) -> Result<(usize, usize)> {
        let folder = self.folder(folder)?;
        let plan = self.plan(Some(&folder), None)?;
        let items = plan.plan.items.len();
        let queued = if queue && items > 0 {
            self.enqueue(&crate::Selection {
                all: true,
                manifest: Some(plan.manifest.clone()),
                ..Default::default()
            })?
            .len()
        } else {
            0
        };
        Ok((items, queued))
    }

    /// The settings page's view.
    pub fn settings_page(&self) -> SettingsPage {
        let at = self
            .settings()
            .roots
            .first()
            .cloned()
            .unwrap_or_else(|| self.paths.data_dir.clone());
        let policy = self.policy(&at);
        SettingsPage {
            settings: self.settings_view(),
            policy: mediaforce::policy::provenance_rows(&policy.policy, &policy.sources),
        }
    }
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read every view.
    Read,
    /// Read, and change state (approve, promote, queue actions...).
    Write,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = AppError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            other => Err(AppError::new(
                ErrorKind::Invalid,
                format!("scope {other:?}: expected read or write"),
            )),
        }
    }
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, Serialize)]
pub struct ApiTokenRow {
    /// Its name.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was made (epoch ms).
    pub created_ms: i64,
}

impl App {
    /// Make an API token named `name` with `scope` (replacing one of that name); the token is
    /// shown once, here, and stored hashed.
    pub fn api_token_create(&self, name: &str, scope: Scope) -> Result<String> {
        if name.trim().is_empty() {
            return Err(AppError::new(ErrorKind::Invalid, "a token needs a name"));
        }
        let token = mediaforce::transfer::new_token();
        self.with_web_db(|db| {
            Ok(store_web::put_api_token(
                db,
                name,
                &mediaforce::transfer::token_hash(&token),
                scope.as_str(),
                now_ms(),
            )?)
        })?;
        Ok(token)
    }

    /// The scope of API token `token`; unauthenticated when it is not one.
    pub fn api_token_scope(&self, token: &str) -> Result<Scope> {
        let scope = self.with_web_db(|db| {
            Ok(store_web::api_token_scope(
                db,
                &mediaforce::transfer::token_hash(token),
            )?)
        })?;
        scope
            .ok_or_else(|| AppError::new(ErrorKind::Unauthenticated, "unknown API token"))?
            .parse()
    }

    /// The API tokens, by name.
    pub fn api_tokens(&self) -> Result<Vec<ApiTokenRow>> {
        let rows = self.with_web_db(|db| Ok(store_web::api_tokens(db)?))?;
        rows.into_iter()
            .map(|(name, scope, created_ms)| {
                Ok(ApiTokenRow {
                    name,
                    scope: scope.parse()?,
                    created_ms,
                })
            })
            .collect()
    }

    /// Revoke the API token named `name`.
    pub fn api_token_revoke(&self, name: &str) -> Result<()> {
        let n = self.with_web_db(|db| Ok(store_web::revoke_api_token(db, name)?))?;
        if n == 0 {
            return Err(AppError::new(
                ErrorKind::NotFound,
                format!("no API token named {name}"),
            ));
        }
        Ok(())
    }
}
