//! Files, plans, plan items and their events, encodes, validations, artifacts and the
//! promotion journal.

use crate::db;
use crate::domain::{Decision, ItemState};
use crate::params;
use crate::sql::Backend;
use std::path::{Path, PathBuf};

use super::records::*;
use super::Catalog;

impl Catalog {
    // ----- files -----

    /// Every file row (any status).
    pub fn files(&self) -> Result<Vec<FileRecord>, CatalogError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM file ORDER BY path");
        Ok(self.query(&sql, &[])?.iter().map(file_from_row).collect())
    }

    /// Files whose path starts with `prefix` (whole folder names), any status.
    pub fn files_under(&self, prefix: Option<&Path>) -> Result<Vec<FileRecord>, CatalogError> {
        let all = self.files()?;
        Ok(match prefix {
            Some(p) => all.into_iter().filter(|f| f.path.starts_with(p)).collect(),
            None => all,
        })
    }

    /// The rows at `paths`, and the rows whose content fingerprint is one of `fingerprints`
    /// (a move's old row), each once: what a scan of a few files compares with, read by the
    /// indexes on path and fingerprint instead of the whole table.
    pub fn files_for(
        &self,
        paths: &[PathBuf],
        fingerprints: &[String],
    ) -> Result<Vec<FileRecord>, CatalogError> {
        let mut out: Vec<FileRecord> = Vec::new();
        for p in paths {
            out.extend(self.file_by_path(p)?);
        }
        let sql = format!("SELECT {FILE_COLUMNS} FROM file WHERE fingerprint = ?1");
        for fp in fingerprints {
            out.extend(
                self.query(&sql, params![fp.as_str()])?
                    .iter()
                    .map(file_from_row),
            );
        }
        out.sort_by_key(|f| f.id);
        out.dedup_by_key(|f| f.id);
        Ok(out)
    }

    /// One file by id.
    pub fn file(&self, id: i64) -> Result<Option<FileRecord>, CatalogError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM file WHERE id = ?1");
        Ok(self
            .query_opt(&sql, params![id])?
            .as_ref()
            .map(file_from_row))
    }

    /// One file by path.
    pub fn file_by_path(&self, path: &Path) -> Result<Option<FileRecord>, CatalogError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM file WHERE path = ?1");
        Ok(self
            .query_opt(&sql, params![path_text(path)])?
            .as_ref()
            .map(file_from_row))
    }

    /// The history of a file (scan events: found, changed, moved, gone, back).
    pub fn file_events(&self, id: i64) -> Result<Vec<(i64, String, Option<String>)>, CatalogError> {
        Ok(self
            .query(
                "SELECT at, kind, detail FROM file_event WHERE file_id = ?1 ORDER BY id",
                params![id],
            )?
            .iter()
            .map(|r| (r.int(0), r.text(1), r.opt_text(2)))
            .collect())
    }

    // ----- plans -----

    /// Store a plan under `key` (the path of its JSON export); returns its row id.
    pub fn save_plan(&self, key: &Path, body: &str) -> Result<i64, CatalogError> {
        // Two processes may take the same export into the catalog at once: the first wins.
        self.lock().execute(
            "INSERT INTO plan (key, created_at, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO NOTHING",
            params![path_text(key), db::now(), body],
        )?;
        Ok(self.plan(key)?.map_or(0, |p| p.id))
    }

    /// The newest plan.
    pub fn latest_plan(&self) -> Result<Option<PlanRow>, CatalogError> {
        Ok(self
            .query_opt(
                "SELECT id, key, created_at, body FROM plan ORDER BY id DESC LIMIT 1",
                &[],
            )?
            .as_ref()
            .map(plan_from_row))
    }

    /// Every plan, oldest first.
    pub fn plans(&self) -> Result<Vec<PlanRow>, CatalogError> {
        Ok(self
            .query(
                "SELECT id, key, created_at, body FROM plan ORDER BY id",
                &[],
            )?
            .iter()
            .map(plan_from_row)
            .collect())
    }

    /// The plan stored under `key`.
    pub fn plan(&self, key: &Path) -> Result<Option<PlanRow>, CatalogError> {
        Ok(self
            .query_opt(
                "SELECT id, key, created_at, body FROM plan WHERE key = ?1",
                params![path_text(key)],
            )?
            .as_ref()
            .map(plan_from_row))
    }

    // ----- items -----

    /// The item for `index` of `manifest`, created in state `planned` if new.
    pub fn item_for(
        &self,
        manifest: &Path,
        index: usize,
        file_id: Option<i64>,
        source: &Path,
        staging: &Path,
    ) -> Result<ItemRecord, CatalogError> {
        self.execute(
            "INSERT INTO item (manifest, idx, file_id, source, staging, state, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'planned', ?6) ON CONFLICT DO NOTHING",
            params![
                path_text(manifest),
                index,
                file_id,
                path_text(source),
                path_text(staging),
                db::now()
            ],
        )?;
        self.item(manifest, index)?
            .ok_or_else(|| CatalogError::Invalid(format!("item {index} vanished")))
    }

    /// The item for `index` of `manifest`, if work on it has started.
    pub fn item(&self, manifest: &Path, index: usize) -> Result<Option<ItemRecord>, CatalogError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM item WHERE manifest = ?1 AND idx = ?2");
        self.query_opt(&sql, params![path_text(manifest), index])?
            .as_ref()
            .map(item_from_row)
            .transpose()
    }

    /// Every item of a manifest, by index.
    pub fn items(&self, manifest: &Path) -> Result<Vec<ItemRecord>, CatalogError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM item WHERE manifest = ?1 ORDER BY idx");
        self.query(&sql, params![path_text(manifest)])?
            .iter()
            .map(item_from_row)
            .collect()
    }

    /// Every item in one of `states`, oldest change first (what the service's automation
    /// looks at: encodes to validate, approve or promote; promotions whose archive may be
    /// pruned).
    pub fn items_in_states(
        &self,
        states: &[crate::domain::ItemState],
    ) -> Result<Vec<ItemRecord>, CatalogError> {
        let mut out = Vec::new();
        for state in states {
            let sql =
                format!("SELECT {ITEM_COLUMNS} FROM item WHERE state = ?1 ORDER BY updated_at, id");
            for row in self.query(&sql, params![state.as_str()])?.iter() {
                out.push(item_from_row(row)?);
            }
        }
        out.sort_by_key(|i| (i.updated_at, i.id));
        Ok(out)
    }

    /// The state of the newest item of each file: file id → state.
    pub fn latest_item_states(
        &self,
    ) -> Result<std::collections::HashMap<i64, String>, CatalogError> {
        Ok(self
            .query(
                "SELECT file_id, state FROM item WHERE id IN
                   (SELECT MAX(id) FROM item WHERE file_id IS NOT NULL GROUP BY file_id)",
                &[],
            )?
            .iter()
            .map(|r| (r.int(0), r.text(1)))
            .collect())
    }

    /// Move an item to `state` and append an event, in one transaction: the change must be
    /// one the [transition table](crate::domain::transition) allows from the state the item is
    /// in, and it is a compare-and-set, so a change another run made in between is a
    /// [`CatalogError::Conflict`], never overwritten.
    pub fn set_state(
        &self,
        item: i64,
        state: ItemState,
        detail: Option<&str>,
    ) -> Result<(), CatalogError> {
        // SQLite: immediate, so the read and the write hold the write lock together and a
        // concurrent writer is waited for. PostgreSQL: the row is locked by the read.
        self.transaction(|tx| {
            let lock = match tx.backend() {
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE",
            };
            let row = tx
                .query_opt(
                    &format!("SELECT source, state FROM item WHERE id = ?1{lock}"),
                    params![item],
                )?
                .ok_or_else(|| CatalogError::Invalid(format!("item {item}: no such item")))?;
            let (source, now) = (row.text(0), row.text(1));
            let from: ItemState = now
                .parse()
                .map_err(|e| CatalogError::Invalid(format!("{source}: {e}")))?;
            crate::domain::transition(from, state).map_err(|refusal| CatalogError::Refused {
                path: PathBuf::from(&source),
                refusal,
            })?;
            // A new encode replaces the one the operator reviewed: its decision goes with it.
            let sql = if state == ItemState::Encoding {
                "UPDATE item SET state = ?3, updated_at = ?4, decision = NULL, damage_accepted = 0
                 WHERE id = ?1 AND state = ?2"
            } else {
                "UPDATE item SET state = ?3, updated_at = ?4 WHERE id = ?1 AND state = ?2"
            };
            let changed =
                tx.execute(sql, params![item, from.as_str(), state.as_str(), db::now()])?;
            if changed == 0 {
                return Err(CatalogError::Conflict {
                    path: PathBuf::from(source),
                    now,
                });
            }
            tx.execute(
                "INSERT INTO item_event (item_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                params![item, db::now(), state.as_str(), detail],
            )?;
            Ok(())
        })
    }

    /// Append an event without changing the state (progress checkpoints, retries).
    pub fn event(&self, item: i64, kind: &str, detail: Option<&str>) -> Result<(), CatalogError> {
        self.execute(
            "INSERT INTO item_event (item_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![item, db::now(), kind, detail],
        )
        .map(|_| ())
    }

    /// An item's events, oldest first.
    pub fn item_events(
        &self,
        item: i64,
    ) -> Result<Vec<(i64, String, Option<String>)>, CatalogError> {
        Ok(self
            .query(
                "SELECT at, kind, detail FROM item_event WHERE item_id = ?1 ORDER BY id",
                params![item],
            )?
            .iter()
            .map(|r| (r.int(0), r.text(1), r.opt_text(2)))
            .collect())
    }

    /// Record the review decision.
    pub fn set_decision(&self, item: i64, decision: Decision) -> Result<(), CatalogError> {
        self.execute(
            "UPDATE item SET decision = ?2, updated_at = ?3 WHERE id = ?1",
            params![item, decision.as_str(), db::now()],
        )?;
        self.event(item, decision.as_str(), None)
    }

    /// Record how much damage the item's last encode concealed in its source (0 clears it, and
    /// a new count withdraws an earlier acceptance), with an event saying where.
    pub fn set_source_damage(
        &self,
        item: i64,
        errors: u64,
        detail: Option<&str>,
    ) -> Result<(), CatalogError> {
        self.execute(
            "UPDATE item SET source_damage = ?2,
                    damage_accepted = CASE WHEN source_damage = ?2 THEN damage_accepted ELSE 0 END,
                    updated_at = ?3
             WHERE id = ?1",
            params![item, errors, db::now()],
        )?;
        if errors > 0 {
            self.event(item, "source_damaged", detail)?;
        }
        Ok(())
    }

    /// The operator accepts promoting an encode of a damaged source.
    pub fn accept_damage(&self, item: i64) -> Result<(), CatalogError> {
        self.execute(
            "UPDATE item SET damage_accepted = 1, updated_at = ?2 WHERE id = ?1",
            params![item, db::now()],
        )?;
        self.event(item, "damage_accepted", None)
    }

    // ----- telemetry -----

    /// Store one encode's telemetry.
    pub fn record_encode(&self, e: &EncodeRow) -> Result<(), CatalogError> {
        self.execute(
            "INSERT INTO encode (item_id, at, host, source, source_bytes, source_codec, encoder,
                encoder_fingerprint, knob, predicted_vmaf, measured_vmaf, output_bytes,
                wall_seconds, fps, target, corrections)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                e.item_id,
                db::now(),
                &e.host,
                &e.source,
                e.source_bytes,
                &e.source_codec,
                &e.encoder,
                &e.encoder_fingerprint,
                e.knob,
                e.predicted_vmaf,
                e.measured_vmaf,
                e.output_bytes,
                e.wall_seconds,
                e.fps,
                e.target,
                i64::from(e.corrections)
            ],
        )
        .map(|_| ())
    }

    /// The latest encode of an item.
    pub fn last_encode(&self, item: i64) -> Result<Option<EncodeRow>, CatalogError> {
        Ok(self
            .query_opt(
                "SELECT item_id, host, source, source_bytes, source_codec, encoder, encoder_fingerprint,
                        knob, predicted_vmaf, measured_vmaf, output_bytes, wall_seconds, fps,
                        target, corrections
                 FROM encode WHERE item_id = ?1 ORDER BY id DESC LIMIT 1",
                params![item],
            )?
            .as_ref()
            .map(encode_from_row))
    }

    /// Output/source size ratios of finished, validated encodes from `source_codec` with
    /// `encoder`: what this library has taught us about that codec pair.
    pub fn learned_ratios(
        &self,
        source_codec: &str,
        encoder: &str,
    ) -> Result<Vec<f64>, CatalogError> {
        Ok(self
            .query(
                "SELECT CAST(e.output_bytes AS DOUBLE PRECISION) / e.source_bytes FROM encode e
                 WHERE e.source_codec = ?1 AND e.encoder = ?2 AND e.source_bytes > 0
                   AND e.id = (SELECT MAX(id) FROM encode WHERE item_id = e.item_id)
                   AND EXISTS (SELECT 1 FROM validation v WHERE v.item_id = e.item_id AND v.passed = 1)",
                params![source_codec, encoder],
            )?
            .iter()
            .map(|r| r.real(0))
            .collect())
    }

    /// Store a validation verdict (report as JSON).
    pub fn record_validation(
        &self,
        item: i64,
        passed: bool,
        report: &str,
    ) -> Result<(), CatalogError> {
        self.execute(
            "INSERT INTO validation (item_id, at, passed, report) VALUES (?1, ?2, ?3, ?4)",
            params![item, db::now(), passed, report],
        )
        .map(|_| ())
    }

    /// The latest validation of an item: (passed, report JSON).
    pub fn last_validation(&self, item: i64) -> Result<Option<(bool, String)>, CatalogError> {
        Ok(self
            .query_opt(
                "SELECT passed, report FROM validation WHERE item_id = ?1 ORDER BY id DESC LIMIT 1",
                params![item],
            )?
            .map(|r| (r.flag(0), r.text(1))))
    }

    // ----- artifacts -----

    /// Record the files a review or validation of `item` wrote, replacing the earlier ones of
    /// the same kinds (a new compare supersedes the last); returns them with their ids.
    pub fn record_artifacts(
        &self,
        item: i64,
        files: &[(&str, &Path, Option<String>)],
    ) -> Result<Vec<Artifact>, CatalogError> {
        let now = db::now();
        self.transaction(|tx| {
            let mut kinds: Vec<&str> = files.iter().map(|f| f.0).collect();
            kinds.sort_unstable();
            kinds.dedup();
            for k in kinds {
                tx.execute(
                    "DELETE FROM artifact WHERE item_id = ?1 AND kind = ?2",
                    params![item, k],
                )?;
            }
            let mut out = Vec::with_capacity(files.len());
            for (kind, path, detail) in files {
                let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                let row = tx
                    .query_opt(
                        "INSERT INTO artifact (item_id, kind, path, bytes, created_at, detail)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                        params![item, *kind, path_text(path), bytes, now, detail.clone()],
                    )?
                    .ok_or_else(|| {
                        CatalogError::Invalid("artifact insert returned no id".into())
                    })?;
                out.push(Artifact {
                    id: row.int(0),
                    item_id: item,
                    kind: kind.to_string(),
                    path: path.to_path_buf(),
                    bytes,
                    created_at: now,
                    detail: detail.clone(),
                });
            }
            Ok(out)
        })
    }

    /// An item's recorded artifacts, oldest first.
    pub fn artifacts(&self, item: i64) -> Result<Vec<Artifact>, CatalogError> {
        Ok(self
            .query(
                "SELECT id, item_id, kind, path, bytes, created_at, detail FROM artifact
                 WHERE item_id = ?1 ORDER BY id",
                params![item],
            )?
            .iter()
            .map(artifact_from_row)
            .collect())
    }

    /// One artifact by id.
    pub fn artifact(&self, id: i64) -> Result<Option<Artifact>, CatalogError> {
        Ok(self
            .query_opt(
                "SELECT id, item_id, kind, path, bytes, created_at, detail FROM artifact WHERE id = ?1",
                params![id],
            )?
            .as_ref()
            .map(artifact_from_row))
    }

    // ----- promotion journal -----

    /// Append a journal row; it is committed before the caller touches the file system.
    pub fn journal(
        &self,
        item: i64,
        action: &str,
        step: &str,
        phase: &str,
        detail: Option<&str>,
    ) -> Result<(), CatalogError> {
        self.execute(
            "INSERT INTO journal (item_id, at, action, step, phase, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![item, db::now(), action, step, phase, detail],
        )
        .map(|_| ())
    }

    /// An item's journal steps with their details: (step, detail), oldest first.
    pub fn journal_details(
        &self,
        item: i64,
    ) -> Result<Vec<(String, Option<String>)>, CatalogError> {
        Ok(self
            .query(
                "SELECT step, detail FROM journal WHERE item_id = ?1 ORDER BY id",
                params![item],
            )?
            .iter()
            .map(|r| (r.text(0), r.opt_text(1)))
            .collect())
    }

    /// An item's journal: (action, step, phase), oldest first.
    pub fn journal_rows(&self, item: i64) -> Result<Vec<(String, String, String)>, CatalogError> {
        Ok(self
            .query(
                "SELECT action, step, phase FROM journal WHERE item_id = ?1 ORDER BY id",
                params![item],
            )?
            .iter()
            .map(|r| (r.text(0), r.text(1), r.text(2)))
            .collect())
    }
}
