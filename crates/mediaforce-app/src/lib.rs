//! mediaforce's application layer: one [`App`] opened on the library's state, one method per
//! use case, typed `Serialize` views, and errors that carry a [`ErrorKind`] a server can map to
//! a status code. Front ends (the CLI today; a web server and workers next) parse, call and
//! render; the rules live here.
//!
//! Use cases: settings, scan, policy, report, ls, folder inspection, plan and campaign
//! ([`library`]); encode through the job queue, status, validate, compare, review, pause
//! ([`review`]); approve/reject, promote and rollback over a selection (here).

pub mod automation;
pub mod chunked;
mod conns;
pub mod display;
pub mod email;
pub mod estimate;
pub mod files;
pub mod hooks;
pub mod library;
pub mod notify;
pub mod review;
pub mod scenes;
pub mod search;
pub mod stats;
pub mod transfer;
pub mod tuning;
pub mod web;
pub mod worker;

pub use library::{
    explain, CampaignView, FolderSummary, LsRow, PlanView, PolicyView, ReportView, SettingsView,
};
pub use review::{review_text, EncodeResult, ReviewView, StagedRow, StatusView};

use mediaforce::catalog::{Catalog, CatalogError, ItemRecord};
use mediaforce::domain::Decision;
use mediaforce::manifest::{self, Manifest, ManifestItem};
use mediaforce::policy::PolicySet;
use mediaforce::promote::{PromoteError, PromoteOutcome};
use mediaforce::settings::Settings;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What kind of failure an [`AppError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Something named does not exist (an item, a plan, a folder).
    NotFound,
    /// The state changed under the request (another run moved the item on).
    Conflict,
    /// The request itself is wrong (a bad argument, a bad file).
    Invalid,
    /// The rules refuse it (a state change the table does not allow, an unapproved promotion).
    Refused,
    /// Something it needs cannot be reached (a locked or too-new database).
    Unavailable,
    /// A failure the user cannot act on.
    Internal,
    /// The request carries no valid credentials (a host token, later a session).
    Unauthenticated,
}

/// An error of a use case: its kind and a one-line message naming the file and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct AppError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message.
    pub message: String,
    /// A write of a queued job was refused because its lease was lost (the job is another
    /// worker's now; a conflict).
    #[serde(skip)]
    pub lease_lost: bool,
}

impl AppError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            lease_lost: false,
        }
    }
}

/// The kind of a catalog failure.
fn catalog_kind(e: &CatalogError) -> ErrorKind {
    match e {
        CatalogError::Refused { .. } => ErrorKind::Refused,
        CatalogError::Conflict { .. } | CatalogError::Fenced { .. } => ErrorKind::Conflict,
        CatalogError::Invalid(_) => ErrorKind::Invalid,
        CatalogError::Sql(e) => match e.kind {
            mediaforce::store::ErrorKind::NotFound => ErrorKind::NotFound,
            mediaforce::store::ErrorKind::Conflict => ErrorKind::Conflict,
            mediaforce::store::ErrorKind::Invalid => ErrorKind::Invalid,
            mediaforce::store::ErrorKind::Unavailable => ErrorKind::Unavailable,
            mediaforce::store::ErrorKind::Internal => ErrorKind::Internal,
        },
        _ => ErrorKind::Internal,
    }
}

impl From<CatalogError> for AppError {
    fn from(e: CatalogError) -> Self {
        let mut a = Self::new(catalog_kind(&e), e.to_string());
        a.lease_lost = matches!(e, CatalogError::Fenced { .. });
        a
    }
}

impl From<PromoteError> for AppError {
    fn from(e: PromoteError) -> Self {
        let kind = match &e {
            PromoteError::Refused { .. } => ErrorKind::Refused,
            PromoteError::Catalog(c) => catalog_kind(c),
            _ => ErrorKind::Internal,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<manifest::ManifestError> for AppError {
    fn from(e: manifest::ManifestError) -> Self {
        Self::new(ErrorKind::NotFound, e.to_string())
    }
}

impl From<mediaforce::policy::PolicyError> for AppError {
    fn from(e: mediaforce::policy::PolicyError) -> Self {
        Self::new(ErrorKind::Invalid, e.to_string())
    }
}

impl From<mediaforce::store::sql::SqlError> for AppError {
    fn from(e: mediaforce::store::sql::SqlError) -> Self {
        CatalogError::from(e).into()
    }
}

pub use mediaforce::domain::human_bytes;

/// A name the operator gives a hook, a channel or a token: letters, digits, `-`, `_`, `.`;
/// `what` names the field in the refusal.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorKind::Invalid,
            format!("{what} {name:?}: use letters, digits, '-', '_' or '.'"),
        ))
    }
}

/// Result alias of the application layer.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Where state and configuration live.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The data directory (catalog, plans, queue, operator policy).
    pub data_dir: PathBuf,
    /// A directory with `defaults.toml` / `folder-defaults.toml` replacing the built-in ones.
    pub config_dir: Option<PathBuf>,
    /// The shared store (`postgres://...`: catalog, plans, queue, probe cache, artifacts),
    /// when hosts share one; `None` keeps it all in `<data dir>/catalog.db`.
    pub database: Option<String>,
}

/// The library's state, opened: catalog, policy layers and settings.
#[derive(Debug)]
pub struct App {
    /// Where it lives.
    pub paths: Paths,
    /// The catalog.
    pub catalog: Catalog,
    /// The policy layers (read again when a folder override is saved).
    policies: std::sync::RwLock<std::sync::Arc<PolicySet>>,
    /// Roots, transcode root, ignore patterns (read again after a change).
    settings: std::sync::RwLock<std::sync::Arc<Settings>>,
    /// The store connections it keeps (the `conns` module).
    pub(crate) conns: conns::Conns,
    /// The analytics computed lately, by range (the `stats` module).
    pub(crate) stats_cache: stats::StatsCache,
}

/// Which items of a plan a use case works on.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Item indexes.
    pub index: Vec<usize>,
    /// Every item of the plan.
    pub all: bool,
    /// The plan file; the newest when `None`.
    pub manifest: Option<PathBuf>,
}

/// An item a batch use case did not handle, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemNote {
    /// Index in the plan.
    pub index: usize,
    /// Source file.
    pub source: PathBuf,
    /// Why, naming the file.
    pub reason: String,
    /// What kind of failure (skipped items: refused).
    pub kind: ErrorKind,
}

/// What a use case over a selection did: the items it handled, and those it skipped (not in a
/// state for it) or that failed, each with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct BatchView<T> {
    /// Handled, with what came of each.
    pub done: Vec<T>,
    /// Not in a state for this use case.
    pub skipped: Vec<ItemNote>,
    /// Failed.
    pub failed: Vec<ItemNote>,
    /// Items in the selection.
    pub total: usize,
}

impl<T> BatchView<T> {
    /// An empty view of a selection of `total` items.
    pub fn new(total: usize) -> Self {
        Self {
            done: Vec::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            total,
        }
    }

    /// Note an item that is not in a state for this use case.
    pub fn skip(&mut self, item: &ManifestItem, reason: impl std::fmt::Display) {
        self.skipped.push(note(item, reason, ErrorKind::Refused));
    }

    /// Note an item that failed, with the kind of failure.
    pub fn fail(&mut self, item: &ManifestItem, error: impl Into<AppError>) {
        let e: AppError = error.into();
        self.failed.push(note(item, e.message, e.kind));
    }

    /// Whether the use case succeeded as a whole: failures always fail it; skipped items fail it
    /// only when they were named one by one (`--all` takes what it can and lists the rest).
    /// `done` is the past participle for the message ("approved", "promoted").
    pub fn verdict(&self, sel: &Selection, done: &str) -> Result<()> {
        if let Some(first) = self.failed.first() {
            // One kind for the whole: the failures' own when they agree (all refusals: a
            // refusal), else internal.
            let kind = if self.failed.iter().all(|n| n.kind == first.kind) {
                first.kind
            } else {
                ErrorKind::Internal
            };
            return Err(AppError::new(
                kind,
                format!(
                    "{} of {} items failed, the first: {first}",
                    self.failed.len(),
                    self.total,
                ),
            ));
        }
        if let Some(first) = self.skipped.first().filter(|_| !sel.all) {
            return Err(AppError::new(
                ErrorKind::Refused,
                format!(
                    "{} of {} items not {done}: {first}",
                    self.skipped.len(),
                    self.total,
                ),
            ));
        }
        Ok(())
    }
}

/// A note on `item`.
fn note(item: &ManifestItem, reason: impl std::fmt::Display, kind: ErrorKind) -> ItemNote {
    ItemNote {
        index: item.index,
        source: item.source.clone(),
        reason: reason.to_string(),
        kind,
    }
}

impl std::fmt::Display for ItemNote {
    /// `[index] source: reason`, or `[index] reason` when the reason names the source itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = self.source.display().to_string();
        if self.reason.contains(&source) {
            write!(f, "[{}] {}", self.index, self.reason)
        } else {
            write!(f, "[{}] {source}: {}", self.index, self.reason)
        }
    }
}

/// A decision recorded on an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decided {
    /// Index in the plan.
    pub index: usize,
    /// Source file.
    pub source: PathBuf,
    /// The decision.
    pub decision: Decision,
    /// Whether a damaged source was accepted with it.
    pub damage_accepted: bool,
}

/// A promotion or rollback done on an item.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    /// Index in the plan.
    pub index: usize,
    /// Where the files went.
    #[serde(flatten)]
    pub outcome: PromoteOutcome,
}

impl App {
    /// Open the state in `paths` (creating and migrating the catalog).
    pub fn open(paths: &Paths) -> Result<Self> {
        let catalog = Catalog::open_in(&paths.data_dir, paths.database.as_deref())?;
        let policies = PolicySet::load_from_env(paths.config_dir.as_deref(), &paths.data_dir)?;
        let settings = Settings::resolve(&catalog, &policies.global(), &paths.data_dir)?;
        Ok(Self {
            paths: paths.clone(),
            catalog,
            policies: std::sync::RwLock::new(std::sync::Arc::new(policies)),
            settings: std::sync::RwLock::new(std::sync::Arc::new(settings)),
            conns: conns::Conns::default(),
            stats_cache: stats::StatsCache::default(),
        })
    }

    /// Read the settings again (after a change).
    pub fn reload_settings(&self) -> Result<()> {
        let fresh = Settings::resolve(
            &self.catalog,
            &self.policies().global(),
            &self.paths.data_dir,
        )?;
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(fresh);
        Ok(())
    }

    /// Roots, transcode root and ignore patterns in force.
    pub fn settings(&self) -> std::sync::Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The policy layers in force.
    pub fn policies(&self) -> std::sync::Arc<PolicySet> {
        self.policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Read the policy files again (after an override was saved).
    pub fn reload_policies(&self) -> Result<()> {
        let fresh =
            PolicySet::load_from_env(self.paths.config_dir.as_deref(), &self.paths.data_dir)?;
        *self.policies.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(fresh);
        Ok(())
    }

    /// A folder or file the user named: absolute, or relative to a library root (as the
    /// library lays it out) or to the current directory; see [`Settings::resolve_name`].
    pub fn folder(&self, given: &Path) -> Result<PathBuf> {
        let cwd = std::env::current_dir().unwrap_or_default();
        self.settings()
            .resolve_name(given, &cwd)
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .map_err(|m| AppError::new(ErrorKind::NotFound, m))
    }

    /// [`folder`](Self::folder) for an optional name.
    pub fn folder_opt(&self, given: Option<&Path>) -> Result<Option<PathBuf>> {
        given.map(|g| self.folder(g)).transpose()
    }

    /// The plan a selection refers to: the one named, or the newest in the data directory.
    pub fn plan_path(&self, manifest: Option<&Path>) -> Result<PathBuf> {
        match manifest {
            Some(m) => Ok(std::path::absolute(m).unwrap_or_else(|_| m.to_path_buf())),
            None => Ok(manifest::latest(&self.catalog, &self.paths.data_dir)?),
        }
    }

    /// The plan and the items a selection names in it.
    pub fn selection<'m>(
        &self,
        m: &'m Manifest,
        sel: &Selection,
        path: &Path,
    ) -> Result<Vec<&'m ManifestItem>> {
        if sel.all {
            return Ok(m.items.iter().collect());
        }
        if sel.index.is_empty() {
            return Err(AppError::new(
                ErrorKind::Invalid,
                "say which items: --index I (repeatable) or --all",
            ));
        }
        sel.index
            .iter()
            .map(|&i| {
                m.items.get(i).ok_or_else(|| {
                    AppError::new(
                        ErrorKind::NotFound,
                        format!(
                            "{}: no item {i} (the plan has {})",
                            path.display(),
                            m.items.len()
                        ),
                    )
                })
            })
            .collect()
    }

    /// Run `each` on every selected item that has a catalog record; items without one (never
    /// encoded) are skipped with `not_encoded`.
    fn over_selection<T>(
        &self,
        sel: &Selection,
        not_encoded: impl Fn(&ManifestItem) -> String,
        mut each: impl FnMut(&ManifestItem, ItemRecord, &mut BatchView<T>) -> Result<()>,
    ) -> Result<BatchView<T>> {
        let mpath = self.plan_path(sel.manifest.as_deref())?;
        let m = manifest::load(&self.catalog, &mpath)?;
        let items = self.selection(&m, sel, &mpath)?;
        let mut view = BatchView::new(items.len());
        for item in items {
            match self.catalog.item(&mpath, item.index)? {
                Some(it) => each(item, it, &mut view)?,
                None => view.skip(item, not_encoded(item)),
            }
        }
        Ok(view)
    }

    /// Approve or reject the selected items. Approval needs a passed validation; with
    /// `accept_damage`, an encode of a damaged source is accepted for promotion too. With
    /// `--all`, items already decided the other way are left as they are.
    pub fn decide(
        &self,
        sel: &Selection,
        decision: Decision,
        accept_damage: bool,
    ) -> Result<BatchView<Decided>> {
        let not_encoded = |item: &ManifestItem| {
            format!("not encoded yet (mediaforce encode --index {})", item.index)
        };
        self.over_selection(sel, not_encoded, |item, it, view| {
            if sel.all && it.decision.is_some() && it.decision != Some(decision) {
                view.skip(
                    item,
                    format!(
                        "{} earlier; name it with --index to change that",
                        it.decision.map_or("decided", Decision::as_str)
                    ),
                );
                return Ok(());
            }
            if decision == Decision::Approved {
                use mediaforce::domain::ItemState;
                // Only the encode the item holds now counts: a validation before a re-encode
                // does not approve the new one.
                let judged = matches!(
                    it.state,
                    ItemState::Validated | ItemState::RolledBack | ItemState::Invalid
                );
                match self.catalog.last_validation(it.id)? {
                    Some((true, _)) if judged => {}
                    Some((false, _)) if judged => {
                        view.skip(item, "failed validation; it cannot be approved");
                        return Ok(());
                    }
                    _ => {
                        view.skip(
                            item,
                            format!(
                                "not validated (state {}); run `mediaforce validate --index {}` first",
                                it.state, item.index
                            ),
                        );
                        return Ok(());
                    }
                }
            }
            self.catalog.set_decision(it.id, decision)?;
            let damage_accepted = accept_damage && it.source_damage > 0;
            if damage_accepted {
                self.catalog.accept_damage(it.id)?;
            }
            view.done.push(Decided {
                index: item.index,
                source: item.source.clone(),
                decision,
                damage_accepted,
            });
            Ok(())
        })
    }

    /// Promote the selected items (validated and approved) into the library, archiving the
    /// originals. With `--all`, items not approved or already promoted are listed, not failed;
    /// an approved item that cannot be promoted is a failure.
    pub fn promote(&self, sel: &Selection) -> Result<BatchView<Moved>> {
        self.over_selection(
            sel,
            |_| "not encoded yet".into(),
            |item, it, view| {
                if sel.all && it.state == mediaforce::domain::ItemState::Promoted {
                    view.skip(item, "already promoted");
                    return Ok(());
                }
                if sel.all && it.decision != Some(Decision::Approved) {
                    view.skip(
                        item,
                        format!(
                            "not approved ({})",
                            it.decision
                                .map_or_else(|| it.state.to_string(), |d| d.to_string())
                        ),
                    );
                    return Ok(());
                }
                match mediaforce::promote::promote(&self.catalog, &self.settings(), &it) {
                    Ok(outcome) => {
                        // A Sonarr/Radarr instance that owns the file rescans it.
                        self.tell_arr(&it.source, &outcome.library);
                        view.done.push(Moved {
                            index: item.index,
                            outcome,
                        })
                    }
                    Err(e) => view.fail(item, e),
                }
                Ok(())
            },
        )
    }

    /// Undo the selected items' promotions: originals back in place, encodes back in staging.
    pub fn rollback(&self, sel: &Selection) -> Result<BatchView<Moved>> {
        self.over_selection(
            sel,
            |_| "not encoded yet".into(),
            |item, it, view| {
                match mediaforce::promote::rollback(&self.catalog, &it) {
                    Ok(outcome) => view.done.push(Moved {
                        index: item.index,
                        outcome,
                    }),
                    Err(e @ PromoteError::Refused { .. }) if sel.all => view.skip(item, e),
                    Err(e) => view.fail(item, e),
                }
                Ok(())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{BatchView, ErrorKind, ItemNote, Selection};
    use std::path::PathBuf;

    fn note(index: usize, reason: &str, kind: ErrorKind) -> ItemNote {
        ItemNote {
            index,
            source: PathBuf::from("/lib/a.mkv"),
            reason: reason.into(),
            kind,
        }
    }

    #[test]
    fn a_batch_fails_on_failures_and_on_skips_of_named_items_only() {
        let all = Selection {
            all: true,
            ..Selection::default()
        };
        let named = Selection {
            index: vec![0, 1],
            ..Selection::default()
        };
        let mut v: BatchView<()> = BatchView::new(2);
        v.done.push(());
        v.skipped.push(note(0, "not validated", ErrorKind::Refused));
        assert!(v.verdict(&all, "approved").is_ok());
        let e = v.verdict(&named, "approved").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused);
        assert_eq!(
            e.message,
            "1 of 2 items not approved: [0] /lib/a.mkv: not validated"
        );
        // A refusal (an unapproved item named for promotion) stays a refusal.
        v.failed
            .push(note(1, "/lib/a.mkv: not approved", ErrorKind::Refused));
        assert_eq!(
            v.verdict(&all, "approved").unwrap_err().kind,
            ErrorKind::Refused
        );
        v.failed
            .push(note(1, "/lib/a.mkv: disk full", ErrorKind::Internal));
        let e = v.verdict(&all, "approved").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(
            e.message.ends_with("[1] /lib/a.mkv: not approved"),
            "{}",
            e.message
        );
    }
}
