//! Promotion: swap a validated, approved encode into the library, archiving the original under
//! `<transcode root>/_replaced/`, and roll it back. Crash-safe and idempotent.
//!
//! Each run first records, in the journal, the quick content hashes of the original and the
//! encode and the four paths involved. Every step then decides what to do from what is on disk,
//! recognising each file by its hash, so a step interrupted anywhere (even by `kill -9`) is
//! completed by running `promote` again or undone by `rollback`, and a file is never moved onto
//! another or deleted unless its copy is proven identical. A journal row is committed before and
//! after each step. Moves across file systems copy to a temporary name, fsync, rename, verify
//! byte for byte, and only then delete the source. Nothing outside the configured roots and the
//! transcode root is touched; symbolic links and `..` are refused.

use crate::catalog::{Catalog, CatalogError, ItemRecord};
use crate::db::{content_hash, content_hash_as, same_content};
use crate::domain::{Decision, ItemState};
use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// Errors of promotion and rollback. Nothing has been lost when one is returned: the journal
/// and the files say where things are, and rerunning the command continues.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromoteError {
    /// Catalog error.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The item may not be promoted (not validated, not approved, unsafe path...).
    #[error("{}: {reason}", path.display())]
    Refused {
        /// The file concerned.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PromoteError + '_ {
    move |source| PromoteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn refused(path: &Path, reason: impl Into<String>) -> PromoteError {
    PromoteError::Refused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The paths and identities of one promotion, recorded in the journal's first row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromotePlan {
    /// The original's place in the library.
    pub library: PathBuf,
    /// Where the encode goes in the library (same name, the encode's extension).
    pub target: PathBuf,
    /// The staged encode.
    pub staged: PathBuf,
    /// Where the original is kept.
    pub replaced: PathBuf,
    /// Quick hash of the original.
    pub original_hash: String,
    /// Quick hash of the encode.
    pub encode_hash: String,
}

/// What a path holds, by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    Missing,
    Original,
    Encode,
    Other,
}

impl PromotePlan {
    fn holds(&self, p: &Path) -> Result<Holds, PromoteError> {
        match std::fs::symlink_metadata(p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Holds::Missing),
            Err(e) => return Err(io(p)(e)),
            Ok(m) if !m.file_type().is_file() => return Ok(Holds::Other),
            Ok(_) => {}
        }
        // Hashed the way the journal recorded them (a promotion begun before an upgrade).
        let h = content_hash_as(p, &self.original_hash).map_err(io(p))?;
        let h_enc = if self.encode_hash.get(..3) == self.original_hash.get(..3) {
            h.clone()
        } else {
            content_hash_as(p, &self.encode_hash).map_err(io(p))?
        };
        Ok(if h == self.original_hash {
            Holds::Original
        } else if h_enc == self.encode_hash {
            Holds::Encode
        } else {
            Holds::Other
        })
    }
}

/// Test hook: `MEDIAFORCE_FAULT=<action>:<step>:<point>` aborts the process (as `kill -9`
/// would) at that point; `MEDIAFORCE_FORCE_COPY=1` takes the cross-file-system path on one file
/// system. Both exist so the crash-safety tests can reach every step.
fn fault(action: &str, step: &str, point: &str) {
    if let Ok(f) = std::env::var("MEDIAFORCE_FAULT") {
        if f == format!("{action}:{step}:{point}") {
            std::process::abort();
        }
    }
}

/// Every fault point, in execution order, for tests: (action, step, point).
pub const FAULT_POINTS: &[(&str, &str, &str)] = &[
    ("promote", "archive", "before"),
    ("promote", "archive", "copied"),
    ("promote", "archive", "after"),
    ("promote", "install", "before"),
    ("promote", "install", "copied"),
    ("promote", "install", "after"),
    ("rollback", "uninstall", "before"),
    ("rollback", "uninstall", "copied"),
    ("rollback", "uninstall", "after"),
    ("rollback", "restore", "before"),
    ("rollback", "restore", "copied"),
    ("rollback", "restore", "after"),
];

fn sync_dir(p: &Path) {
    if let Some(d) = p.parent() {
        if let Ok(f) = std::fs::File::open(d) {
            let _ = f.sync_all();
        }
    }
}

/// Move `from` to `to` (which must not exist): a rename, or across file systems a copy to a
/// temporary name, fsync, rename, byte-for-byte verification, then deletion of `from`.
fn move_file(from: &Path, to: &Path, action: &str, step: &str) -> Result<(), PromoteError> {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let force_copy = std::env::var_os("MEDIAFORCE_FORCE_COPY").is_some();
    if !force_copy {
        match std::fs::rename(from, to) {
            Ok(()) => {
                sync_dir(to);
                sync_dir(from);
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(18) => {} // EXDEV: another file system
            Err(e) => return Err(io(from)(e)),
        }
    }
    let tmp = temp_copy_name(to);
    let _ = std::fs::remove_file(&tmp);
    std::fs::copy(from, &tmp).map_err(io(&tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, to).map_err(io(to))?;
    sync_dir(to);
    fault(action, step, "copied");
    finish_copy(from, to)
}

/// Both ends exist after a copy: prove them equal, then delete the source.
fn finish_copy(from: &Path, to: &Path) -> Result<(), PromoteError> {
    if !same_content(from, to).map_err(io(to))? {
        return Err(refused(
            to,
            format!(
                "differs from {}; both kept, nothing deleted",
                from.display()
            ),
        ));
    }
    std::fs::remove_file(from).map_err(io(from))?;
    sync_dir(from);
    Ok(())
}

fn temp_copy_name(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    to.with_file_name(format!(".{name}.mf-copy"))
}

/// A path is safe when it is absolute, has no `..`, lies under one of `allowed`, and neither it
/// nor any folder on the way is a symbolic link.
fn check_safe(p: &Path, allowed: &[&Path]) -> Result<(), PromoteError> {
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(refused(p, "not an absolute path without `..`"));
    }
    let Some(base) = allowed.iter().find(|a| p.starts_with(a)) else {
        return Err(refused(
            p,
            "outside the library roots and the transcode root; not touched",
        ));
    };
    let mut cur = PathBuf::new();
    for c in p.components() {
        cur.push(c);
        if cur.as_os_str().len() <= base.as_os_str().len() && base.starts_with(&cur) {
            continue; // the root itself may be reached through a link the operator chose
        }
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refused(
                    p,
                    format!("{} is a symbolic link; refused", cur.display()),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The plan for an item: where everything goes. Refuses unsafe paths and a target name taken by
/// another file.
pub fn plan_for(
    item: &ItemRecord,
    settings: &Settings,
) -> Result<(PathBuf, PathBuf), PromoteError> {
    let library = item.source.clone();
    let ext = item
        .staging
        .extension()
        .ok_or_else(|| refused(&item.staging, "staged file has no extension"))?;
    let target = library.with_extension(ext);
    let replaced = settings
        .replaced_path(&library)
        .ok_or_else(|| refused(&library, "not under a configured library root"))?;
    let roots: Vec<&Path> = settings.roots.iter().map(PathBuf::as_path).collect();
    check_safe(&library, &roots)?;
    check_safe(&target, &roots)?;
    let troot = [settings.transcode_root.as_path()];
    check_safe(&item.staging, &troot)?;
    check_safe(&replaced, &troot)?;
    Ok((target, replaced))
}

fn journal_plan(catalog: &Catalog, item: i64) -> Result<Option<PromotePlan>, PromoteError> {
    // The newest "plan" row describes the files; kept in `detail` as JSON.
    let conn_rows = catalog.journal_details(item)?;
    Ok(conn_rows
        .into_iter()
        .rev()
        .find_map(|(step, detail)| (step == "plan").then_some(detail).flatten())
        .and_then(|d| serde_json::from_str(&d).ok()))
}

/// Outcome of a promotion or rollback.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteOutcome {
    /// Item id.
    pub item: i64,
    /// What is in the library now.
    pub library: PathBuf,
    /// Where the original is.
    pub original: PathBuf,
    /// Where the encode is.
    pub encode: PathBuf,
    /// Bytes saved in the library (negative after a rollback... zero).
    pub saved_bytes: i64,
}

/// Promote one item: it must be validated (last validation passed) and approved.
pub fn promote(
    catalog: &Catalog,
    settings: &Settings,
    item: &ItemRecord,
) -> Result<PromoteOutcome, PromoteError> {
    let existing = journal_plan(catalog, item.id)?;
    let resuming = item.state == ItemState::Promoting && existing.is_some();
    if item.state == ItemState::RollingBack {
        return Err(refused(
            &item.source,
            "a rollback was interrupted; run `mediaforce rollback` to finish it first",
        ));
    }
    if !resuming {
        if item.decision != Some(Decision::Approved) {
            return Err(refused(
                &item.source,
                "not approved (run `mediaforce review` and `mediaforce approve`)",
            ));
        }
        match catalog.last_validation(item.id)? {
            Some((true, _)) => {}
            Some((false, _)) => return Err(refused(&item.source, "its encode failed validation")),
            None => {
                return Err(refused(
                    &item.source,
                    "not validated (run `mediaforce validate`)",
                ))
            }
        }
        if item.state == ItemState::Promoted {
            return Err(refused(&item.source, "already promoted"));
        }
        if item.source_damage > 0 && !item.damage_accepted {
            return Err(refused(
                &item.source,
                format!(
                    "the source has {} damaged packet(s) or frame(s), concealed in the encode; look at the review clips, then accept with `mediaforce approve --index {} --accept-damaged-source`",
                    item.source_damage, item.index
                ),
            ));
        }
    }
    let (target, replaced) = plan_for(item, settings)?;
    let plan = match existing.filter(|_| resuming) {
        Some(p) => p,
        None => {
            // Identify both files now; the library copy must be the one that was validated.
            let original_hash = content_hash(&item.source).map_err(io(&item.source))?;
            let encode_hash = content_hash(&item.staging).map_err(io(&item.staging))?;
            if let Some(f) = item.file_id.and_then(|id| catalog.file(id).ok().flatten()) {
                let scanned =
                    content_hash_as(&item.source, &f.fingerprint).map_err(io(&item.source))?;
                if f.fingerprint != scanned {
                    return Err(refused(
                        &item.source,
                        "changed since it was scanned; rescan, plan and encode again",
                    ));
                }
            }
            if target != item.source && target.exists() {
                return Err(refused(
                    &target,
                    "a different file already has the encode's name",
                ));
            }
            if replaced.exists() {
                return Err(refused(
                    &replaced,
                    "an archived original is already there; not overwritten",
                ));
            }
            let plan = PromotePlan {
                library: item.source.clone(),
                target: target.clone(),
                staged: item.staging.clone(),
                replaced: replaced.clone(),
                original_hash,
                encode_hash,
            };
            catalog.set_state(item.id, ItemState::Promoting, None)?;
            catalog.journal(
                item.id,
                "promote",
                "plan",
                "begin",
                Some(&serde_json::to_string(&plan).unwrap_or_default()),
            )?;
            plan
        }
    };

    // Step 1: archive the original.
    catalog.journal(item.id, "promote", "archive", "begin", None)?;
    fault("promote", "archive", "before");
    let _ = std::fs::remove_file(temp_copy_name(&plan.replaced));
    match (plan.holds(&plan.library)?, plan.holds(&plan.replaced)?) {
        (Holds::Original, Holds::Missing) => {
            move_file(&plan.library, &plan.replaced, "promote", "archive")?
        }
        (Holds::Original, Holds::Original) => finish_copy(&plan.library, &plan.replaced)?,
        (Holds::Missing | Holds::Encode, Holds::Original) => {}
        (l, r) => {
            return Err(refused(
                &plan.library,
                format!(
                    "unexpected state (library holds {l:?}, archive holds {r:?}); nothing changed"
                ),
            ))
        }
    }
    fault("promote", "archive", "after");
    catalog.journal(item.id, "promote", "archive", "done", None)?;

    // Step 2: put the encode in its place.
    catalog.journal(item.id, "promote", "install", "begin", None)?;
    fault("promote", "install", "before");
    let _ = std::fs::remove_file(temp_copy_name(&plan.target));
    match (plan.holds(&plan.staged)?, plan.holds(&plan.target)?) {
        (Holds::Encode, Holds::Missing) => move_file(&plan.staged, &plan.target, "promote", "install")?,
        (Holds::Encode, Holds::Encode) => finish_copy(&plan.staged, &plan.target)?,
        (Holds::Missing, Holds::Encode) => {}
        (s, t) => {
            return Err(refused(
                &plan.target,
                format!("unexpected state (staging holds {s:?}, library holds {t:?}); run `mediaforce rollback`"),
            ))
        }
    }
    fault("promote", "install", "after");
    catalog.journal(item.id, "promote", "install", "done", None)?;
    catalog.set_state(
        item.id,
        ItemState::Promoted,
        Some(&plan.target.to_string_lossy()),
    )?;
    let saved = file_len(&plan.replaced) as i64 - file_len(&plan.target) as i64;
    Ok(PromoteOutcome {
        item: item.id,
        library: plan.target.clone(),
        original: plan.replaced.clone(),
        encode: plan.target,
        saved_bytes: saved,
    })
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// The event kind recorded when an archived original is deleted.
pub const PRUNED: &str = "archive_pruned";

/// When the item's archived original was pruned, if it was.
fn pruned_at(catalog: &Catalog, item: i64) -> Result<Option<i64>, PromoteError> {
    Ok(catalog
        .item_events(item)?
        .into_iter()
        .rev()
        .find(|(_, kind, _)| kind == PRUNED)
        .map(|(at, _, _)| at))
}

/// One archived original deleted by [`prune_archive`].
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    /// Item id.
    pub item: i64,
    /// The library file the original was replaced by.
    pub library: PathBuf,
    /// The archived original that was deleted.
    pub original: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// When the item was promoted (epoch seconds).
    pub promoted_at: i64,
}

/// Delete a promoted item's archived original once `keep_days` have passed since its promotion
/// (as of `now`, epoch seconds), recording the deletion on the item; `None` when it is not due
/// (or was pruned already, or was never promoted). A rollback is refused afterwards.
pub fn prune_archive(
    catalog: &Catalog,
    item: &ItemRecord,
    keep_days: u64,
    now: i64,
) -> Result<Option<Pruned>, PromoteError> {
    if keep_days == 0 || item.state != ItemState::Promoted {
        return Ok(None);
    }
    let Some(plan) = journal_plan(catalog, item.id)? else {
        return Ok(None);
    };
    if pruned_at(catalog, item.id)?.is_some() {
        // Recorded, then interrupted before the delete: finish it.
        if plan.holds(&plan.replaced)? == Holds::Original {
            std::fs::remove_file(&plan.replaced).map_err(io(&plan.replaced))?;
        }
        return Ok(None);
    }
    let promoted_at = item.updated_at;
    if now - promoted_at < keep_days as i64 * 86_400 {
        return Ok(None);
    }
    // Only the file the journal archived, and only while it is that file.
    if plan.holds(&plan.replaced)? != Holds::Original {
        return Ok(None);
    }
    let bytes = file_len(&plan.replaced);
    let detail = serde_json::json!({
        "original": plan.replaced,
        "bytes": bytes,
        "keep_days": keep_days,
        "promoted_at": promoted_at,
    })
    .to_string();
    // Recorded first: a crash between the record and the delete is finished by the next
    // pass; there is never a deletion without a record.
    catalog.event(item.id, PRUNED, Some(&detail))?;
    std::fs::remove_file(&plan.replaced).map_err(io(&plan.replaced))?;
    Ok(Some(Pruned {
        item: item.id,
        library: plan.target,
        original: plan.replaced,
        bytes,
        promoted_at,
    }))
}

/// Undo a promotion (complete or interrupted): the original returns to its place, the encode
/// goes back to staging.
pub fn rollback(catalog: &Catalog, item: &ItemRecord) -> Result<PromoteOutcome, PromoteError> {
    let Some(plan) = journal_plan(catalog, item.id)? else {
        return Err(refused(
            &item.source,
            "never promoted; nothing to roll back",
        ));
    };
    if item.state == ItemState::RolledBack {
        return Err(refused(&item.source, "already rolled back"));
    }
    if let Some(when) = pruned_at(catalog, item.id)? {
        return Err(refused(
            &plan.replaced,
            format!(
                "the original was deleted at {} (archive.keep_days); there is nothing to roll back to",
                crate::manifest::utc_timestamp(when)
            ),
        ));
    }
    catalog.set_state(item.id, ItemState::RollingBack, None)?;

    // Step 1: take the encode out of the library (back to staging).
    catalog.journal(item.id, "rollback", "uninstall", "begin", None)?;
    fault("rollback", "uninstall", "before");
    let _ = std::fs::remove_file(temp_copy_name(&plan.staged));
    let _ = std::fs::remove_file(temp_copy_name(&plan.target));
    match (plan.holds(&plan.target)?, plan.holds(&plan.staged)?) {
        (Holds::Encode, Holds::Missing) => {
            move_file(&plan.target, &plan.staged, "rollback", "uninstall")?
        }
        (Holds::Encode, Holds::Encode) => finish_copy(&plan.target, &plan.staged)?,
        // Not installed (or the library path still holds the original): nothing to take out.
        (Holds::Missing | Holds::Original, _) => {}
        (t, s) => {
            return Err(refused(
                &plan.target,
                format!(
                    "unexpected state (library holds {t:?}, staging holds {s:?}); nothing changed"
                ),
            ))
        }
    }
    fault("rollback", "uninstall", "after");
    catalog.journal(item.id, "rollback", "uninstall", "done", None)?;

    // Step 2: the original back to its place.
    catalog.journal(item.id, "rollback", "restore", "begin", None)?;
    fault("rollback", "restore", "before");
    let _ = std::fs::remove_file(temp_copy_name(&plan.library));
    match (plan.holds(&plan.replaced)?, plan.holds(&plan.library)?) {
        (Holds::Original, Holds::Missing) => {
            move_file(&plan.replaced, &plan.library, "rollback", "restore")?
        }
        (Holds::Original, Holds::Original) => finish_copy(&plan.replaced, &plan.library)?,
        (Holds::Missing, Holds::Original) => {}
        (r, l) => {
            return Err(refused(
                &plan.library,
                format!(
                    "unexpected state (archive holds {r:?}, library holds {l:?}); nothing changed"
                ),
            ))
        }
    }
    fault("rollback", "restore", "after");
    catalog.journal(item.id, "rollback", "restore", "done", None)?;
    catalog.set_state(item.id, ItemState::RolledBack, None)?;
    Ok(PromoteOutcome {
        item: item.id,
        library: plan.library.clone(),
        original: plan.library,
        encode: plan.staged,
        saved_bytes: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("lib");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::write(root.join("real/a.mkv"), b"x").unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let roots = [root.as_path()];
        assert!(check_safe(&root.join("real/a.mkv"), &roots).is_ok());
        let e = check_safe(&root.join("link/a.mkv"), &roots)
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let e = check_safe(&root.join("real/../../etc/passwd"), &roots)
            .unwrap_err()
            .to_string();
        assert!(e.contains(".."), "{e}");
        let e = check_safe(Path::new("/etc/passwd"), &roots)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the library roots"), "{e}");
        // A root reached through a link chosen by the operator is fine.
        let alias = d.path().join("alias");
        std::os::unix::fs::symlink(&root, &alias).unwrap();
        assert!(check_safe(&alias.join("real/a.mkv"), &[alias.as_path()]).is_ok());
    }
}
