//! The catalog: one SQLite database (`<data dir>/catalog.db`) holding runtime settings, every
//! file found under the library roots with its probe record, and the work done on them
//! (plan items, append-only item events, encode telemetry, validations, the promotion journal).
//!
//! The schema is versioned (see [`MIGRATIONS`]) and brought up to date on open; tables are
//! STRICT, foreign keys are enforced, and the database runs in WAL mode with a busy timeout so a
//! `status` during an `encode --all` waits instead of failing.

use crate::db::{self, DbError};
use crate::domain::{Decision, ItemState};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Schema migrations, in order. Never edit one that has shipped; append a new one.
pub const MIGRATIONS: &[&str] = &["
CREATE TABLE setting (
    key TEXT NOT NULL CHECK (key IN ('root', 'ignore', 'transcode_root')),
    value TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (key, value)
) STRICT;

CREATE TABLE file (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'gone')),
    error TEXT,
    probe TEXT,
    ours INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    scanned_at INTEGER NOT NULL,
    probed_at INTEGER
) STRICT;
CREATE INDEX file_fingerprint ON file (fingerprint);

CREATE TABLE file_event (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES file (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
) STRICT;

CREATE TABLE item (
    id INTEGER PRIMARY KEY,
    manifest TEXT NOT NULL,
    idx INTEGER NOT NULL,
    file_id INTEGER REFERENCES file (id),
    source TEXT NOT NULL,
    staging TEXT NOT NULL,
    state TEXT NOT NULL,
    decision TEXT,
    updated_at INTEGER NOT NULL,
    UNIQUE (manifest, idx)
) STRICT;

CREATE TABLE item_event (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
) STRICT;

CREATE TABLE encode (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    host TEXT NOT NULL,
    source TEXT NOT NULL,
    source_bytes INTEGER NOT NULL,
    source_codec TEXT NOT NULL,
    encoder TEXT NOT NULL,
    encoder_fingerprint TEXT NOT NULL,
    knob REAL NOT NULL,
    predicted_vmaf REAL,
    measured_vmaf REAL,
    output_bytes INTEGER NOT NULL,
    wall_seconds REAL NOT NULL,
    fps REAL NOT NULL
) STRICT;

CREATE TABLE validation (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    report TEXT NOT NULL
) STRICT;

CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
    step TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('begin', 'done')),
    detail TEXT
) STRICT;
", "
ALTER TABLE item ADD COLUMN source_damage INTEGER NOT NULL DEFAULT 0 CHECK (source_damage >= 0);
ALTER TABLE item ADD COLUMN damage_accepted INTEGER NOT NULL DEFAULT 0 CHECK (damage_accepted IN (0, 1));
", "
CREATE TRIGGER item_state_insert BEFORE INSERT ON item
WHEN NEW.state NOT IN ('planned', 'encoding', 'interrupted', 'failed', 'no_result', 'staged',
                       'validated', 'invalid', 'promoting', 'promoted', 'rolling_back', 'rolled_back')
  OR NEW.decision IS NOT NULL AND NEW.decision NOT IN ('approved', 'rejected')
BEGIN SELECT RAISE(ABORT, 'item: unknown state or decision'); END;
CREATE TRIGGER item_state_update BEFORE UPDATE OF state, decision ON item
WHEN NEW.state NOT IN ('planned', 'encoding', 'interrupted', 'failed', 'no_result', 'staged',
                       'validated', 'invalid', 'promoting', 'promoted', 'rolling_back', 'rolled_back')
  OR NEW.decision IS NOT NULL AND NEW.decision NOT IN ('approved', 'rejected')
BEGIN SELECT RAISE(ABORT, 'item: unknown state or decision'); END;
"];

/// Errors of the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// Opening or migrating failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A query failed.
    #[error("{}: {}", path.display(), describe(source))]
    Sqlite {
        /// Database path.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A request the catalog cannot satisfy (unknown item, bad setting...).
    #[error("{0}")]
    Invalid(String),
    /// A state change the transition table refuses.
    #[error("{}: {refusal}", path.display())]
    Refused {
        /// The item's source.
        path: PathBuf,
        /// Why, and what to do.
        refusal: crate::domain::Refusal,
    },
    /// The item changed under us (another run moved it on): compare-and-set failed.
    #[error("{}: changed by another run (now {now}); try again", path.display())]
    Conflict {
        /// The item's source.
        path: PathBuf,
        /// Its state now.
        now: String,
    },
}

impl CatalogError {
    /// Whether another process held the database for longer than the busy timeout.
    pub fn is_busy(&self) -> bool {
        let code = match self {
            CatalogError::Sqlite { source, .. } => source.sqlite_error_code(),
            CatalogError::Db(DbError::Sqlite { source, .. }) => source.sqlite_error_code(),
            _ => None,
        };
        matches!(
            code,
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

fn describe(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => format!(
            "database is locked by another mediaforce process (waited {:.1} s); retry when it finishes",
            db::busy_timeout().as_secs_f64()
        ),
        _ => e.to_string(),
    }
}

/// A file as the catalog knows it.
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    /// Row id (stable across renames).
    pub id: i64,
    /// Absolute path.
    pub path: PathBuf,
    /// The library root it was found under.
    pub root: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub inode: u64,
    /// Quick content fingerprint.
    pub fingerprint: String,
    /// `ok`, `error` or `gone`.
    pub status: String,
    /// Last probe error.
    pub error: Option<String>,
    /// Probe record (JSON of [`crate::core::MediaInfo`]).
    #[serde(skip)]
    pub probe_json: Option<String>,
    /// Written by mediaforce (carries its tag).
    pub ours: bool,
    /// Last scan that saw it (epoch seconds).
    pub scanned_at: i64,
}

impl FileRecord {
    /// The parsed probe record.
    pub fn probe(&self) -> Option<crate::core::MediaInfo> {
        self.probe_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
    }
}

/// A plan item being worked on.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRecord {
    /// Row id.
    pub id: i64,
    /// Manifest file the item belongs to.
    pub manifest: PathBuf,
    /// Index in the manifest.
    pub index: usize,
    /// Catalog file id.
    pub file_id: Option<i64>,
    /// Source path.
    pub source: PathBuf,
    /// Staging path.
    pub staging: PathBuf,
    /// Workflow state.
    pub state: ItemState,
    /// Review decision.
    pub decision: Option<Decision>,
    /// Last change (epoch seconds).
    pub updated_at: i64,
    /// Damaged packets or frames of the source concealed by its last encode (0: none).
    pub source_damage: u64,
    /// The operator accepted promoting an encode of a damaged source.
    pub damage_accepted: bool,
}

/// One row of encode telemetry.
#[derive(Debug, Clone, Serialize)]
pub struct EncodeRow {
    /// Item id.
    pub item_id: i64,
    /// Host name.
    pub host: String,
    /// Source path at encode time.
    pub source: String,
    /// Source size at encode time.
    pub source_bytes: u64,
    /// Source video codec.
    pub source_codec: String,
    /// Encoder adapter id.
    pub encoder: String,
    /// Encoder library fingerprint.
    pub encoder_fingerprint: String,
    /// Chosen knob.
    pub knob: f64,
    /// Predicted VMAF (search).
    pub predicted_vmaf: Option<f64>,
    /// Measured VMAF of the full output.
    pub measured_vmaf: Option<f64>,
    /// Output size.
    pub output_bytes: u64,
    /// Wall time of search + encode.
    pub wall_seconds: f64,
    /// Encode frames per second.
    pub fps: f64,
}

/// The catalog database.
#[derive(Debug)]
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

const FILE_COLUMNS: &str =
    "id, path, root, size, mtime_ns, dev, inode, fingerprint, status, error, probe, ours, scanned_at";

fn file_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        id: r.get(0)?,
        path: PathBuf::from(r.get::<_, String>(1)?),
        root: PathBuf::from(r.get::<_, String>(2)?),
        size: r.get::<_, i64>(3)? as u64,
        mtime_ns: r.get(4)?,
        dev: r.get::<_, i64>(5)? as u64,
        inode: r.get::<_, i64>(6)? as u64,
        fingerprint: r.get(7)?,
        status: r.get(8)?,
        error: r.get(9)?,
        probe_json: r.get(10)?,
        ours: r.get::<_, i64>(11)? != 0,
        scanned_at: r.get(12)?,
    })
}

const ITEM_COLUMNS: &str =
    "id, manifest, idx, file_id, source, staging, state, decision, updated_at,
     source_damage, damage_accepted";

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemRecord> {
    Ok(ItemRecord {
        id: r.get(0)?,
        manifest: PathBuf::from(r.get::<_, String>(1)?),
        index: r.get::<_, i64>(2)? as usize,
        file_id: r.get(3)?,
        source: PathBuf::from(r.get::<_, String>(4)?),
        staging: PathBuf::from(r.get::<_, String>(5)?),
        state: parse_column(r, 6)?,
        decision: r
            .get::<_, Option<String>>(7)?
            .map(|d| d.parse::<Decision>())
            .transpose()
            .map_err(|e| column_error(7, e))?,
        updated_at: r.get(8)?,
        source_damage: r.get::<_, i64>(9)? as u64,
        damage_accepted: r.get::<_, i64>(10)? != 0,
    })
}

fn column_error(i: usize, e: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
}

fn parse_column<T: std::str::FromStr<Err = String>>(
    r: &rusqlite::Row<'_>,
    i: usize,
) -> rusqlite::Result<T> {
    r.get::<_, String>(i)?
        .parse()
        .map_err(|e| column_error(i, e))
}

/// Paths are stored as UTF-8 text; non-UTF-8 names are stored lossily and flagged by the scan.
pub fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Catalog {
    /// The catalog database file in `data_dir`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("catalog.db")
    }

    /// Open (creating and migrating) the catalog in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, CatalogError> {
        let path = Self::path_in(data_dir);
        Ok(Self {
            conn: db::open(&path, MIGRATIONS)?,
            path,
        })
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
        move |source| CatalogError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Run a query and collect its rows.
    fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, CatalogError> {
        let mut st = self.conn.prepare_cached(sql).map_err(self.err())?;
        let rows = st.query_map(params, row).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    // ----- settings -----

    /// Runtime values of a multi-valued setting, in the order they were added.
    pub fn setting_values(&self, key: &str) -> Result<Vec<String>, CatalogError> {
        self.rows(
            "SELECT value FROM setting WHERE key = ?1 ORDER BY added_at, rowid",
            params![key],
            |r| r.get(0),
        )
    }

    /// Add a value to a multi-valued setting; returns false when it was already there.
    pub fn add_setting(&self, key: &str, value: &str) -> Result<bool, CatalogError> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO setting (key, value, added_at) VALUES (?1, ?2, ?3)",
                params![key, value, db::now()],
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Remove a value; returns false when it was not there.
    pub fn remove_setting(&self, key: &str, value: &str) -> Result<bool, CatalogError> {
        let n = self
            .conn
            .execute(
                "DELETE FROM setting WHERE key = ?1 AND value = ?2",
                params![key, value],
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Replace a single-valued setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), CatalogError> {
        let tx = self.conn.unchecked_transaction().map_err(self.err())?;
        tx.execute("DELETE FROM setting WHERE key = ?1", params![key])
            .map_err(self.err())?;
        tx.execute(
            "INSERT INTO setting (key, value, added_at) VALUES (?1, ?2, ?3)",
            params![key, value, db::now()],
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())
    }

    // ----- files -----

    /// Every file row (any status).
    pub fn files(&self) -> Result<Vec<FileRecord>, CatalogError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM file ORDER BY path");
        self.rows(&sql, [], file_from_row)
    }

    /// Files whose path starts with `prefix` (whole folder names), any status.
    pub fn files_under(&self, prefix: Option<&Path>) -> Result<Vec<FileRecord>, CatalogError> {
        let all = self.files()?;
        Ok(match prefix {
            Some(p) => all.into_iter().filter(|f| f.path.starts_with(p)).collect(),
            None => all,
        })
    }

    /// One file by id.
    pub fn file(&self, id: i64) -> Result<Option<FileRecord>, CatalogError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM file WHERE id = ?1");
        self.conn
            .query_row(&sql, params![id], file_from_row)
            .optional()
            .map_err(self.err())
    }

    /// One file by path.
    pub fn file_by_path(&self, path: &Path) -> Result<Option<FileRecord>, CatalogError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM file WHERE path = ?1");
        self.conn
            .query_row(&sql, params![path_text(path)], file_from_row)
            .optional()
            .map_err(self.err())
    }

    /// The history of a file (scan events: found, changed, moved, gone, back).
    pub fn file_events(&self, id: i64) -> Result<Vec<(i64, String, Option<String>)>, CatalogError> {
        self.rows(
            "SELECT at, kind, detail FROM file_event WHERE file_id = ?1 ORDER BY id",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// Start a write transaction (the scan batches its writes in one).
    pub(crate) fn begin(&self) -> Result<rusqlite::Transaction<'_>, CatalogError> {
        self.conn.unchecked_transaction().map_err(self.err())
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
        self.conn
            .execute(
                "INSERT OR IGNORE INTO item (manifest, idx, file_id, source, staging, state, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'planned', ?6)",
                params![
                    path_text(manifest),
                    index as i64,
                    file_id,
                    path_text(source),
                    path_text(staging),
                    db::now()
                ],
            )
            .map_err(self.err())?;
        self.item(manifest, index)?
            .ok_or_else(|| CatalogError::Invalid(format!("item {index} vanished")))
    }

    /// The item for `index` of `manifest`, if work on it has started.
    pub fn item(&self, manifest: &Path, index: usize) -> Result<Option<ItemRecord>, CatalogError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM item WHERE manifest = ?1 AND idx = ?2");
        self.conn
            .query_row(
                &sql,
                params![path_text(manifest), index as i64],
                item_from_row,
            )
            .optional()
            .map_err(self.err())
    }

    /// Every item of a manifest, by index.
    pub fn items(&self, manifest: &Path) -> Result<Vec<ItemRecord>, CatalogError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM item WHERE manifest = ?1 ORDER BY idx");
        self.rows(&sql, params![path_text(manifest)], item_from_row)
    }

    /// The state of the newest item of each file: file id → state.
    pub fn latest_item_states(
        &self,
    ) -> Result<std::collections::HashMap<i64, String>, CatalogError> {
        self.rows(
            "SELECT file_id, state FROM item WHERE id IN
                   (SELECT MAX(id) FROM item WHERE file_id IS NOT NULL GROUP BY file_id)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(|v| v.into_iter().collect())
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
        // Immediate: the read and the write hold the write lock together, and a concurrent
        // writer (a scan) is waited for (busy timeout) instead of failing the upgrade from a
        // read to a write.
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.err())?;
        let outcome = self.set_state_locked(item, state, detail);
        let end = if outcome.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = self.conn.execute_batch(end).map_err(self.err());
        // A failed COMMIT leaves the transaction open (and the write lock held): end it.
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        outcome.and(ended)
    }

    fn set_state_locked(
        &self,
        item: i64,
        state: ItemState,
        detail: Option<&str>,
    ) -> Result<(), CatalogError> {
        let tx = &self.conn;
        let (source, now): (String, String) = tx
            .query_row(
                "SELECT source, state FROM item WHERE id = ?1",
                params![item],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
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
        let changed = tx
            .execute(sql, params![item, from.as_str(), state.as_str(), db::now()])
            .map_err(self.err())?;
        if changed == 0 {
            return Err(CatalogError::Conflict {
                path: PathBuf::from(source),
                now,
            });
        }
        tx.execute(
            "INSERT INTO item_event (item_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![item, db::now(), state.as_str(), detail],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Append an event without changing the state (progress checkpoints, retries).
    pub fn event(&self, item: i64, kind: &str, detail: Option<&str>) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO item_event (item_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                params![item, db::now(), kind, detail],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// An item's events, oldest first.
    pub fn item_events(
        &self,
        item: i64,
    ) -> Result<Vec<(i64, String, Option<String>)>, CatalogError> {
        self.rows(
            "SELECT at, kind, detail FROM item_event WHERE item_id = ?1 ORDER BY id",
            params![item],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// Record the review decision.
    pub fn set_decision(&self, item: i64, decision: Decision) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE item SET decision = ?2, updated_at = ?3 WHERE id = ?1",
                params![item, decision.as_str(), db::now()],
            )
            .map_err(self.err())?;
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
        self.conn
            .execute(
                "UPDATE item SET source_damage = ?2,
                        damage_accepted = CASE WHEN source_damage = ?2 THEN damage_accepted ELSE 0 END,
                        updated_at = ?3
                 WHERE id = ?1",
                params![item, errors as i64, db::now()],
            )
            .map_err(self.err())?;
        if errors > 0 {
            self.event(item, "source_damaged", detail)?;
        }
        Ok(())
    }

    /// The operator accepts promoting an encode of a damaged source.
    pub fn accept_damage(&self, item: i64) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE item SET damage_accepted = 1, updated_at = ?2 WHERE id = ?1",
                params![item, db::now()],
            )
            .map_err(self.err())?;
        self.event(item, "damage_accepted", None)
    }

    // ----- telemetry -----

    /// Store one encode's telemetry.
    pub fn record_encode(&self, e: &EncodeRow) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO encode (item_id, at, host, source, source_bytes, source_codec, encoder,
                    encoder_fingerprint, knob, predicted_vmaf, measured_vmaf, output_bytes,
                    wall_seconds, fps)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    e.item_id,
                    db::now(),
                    e.host,
                    e.source,
                    e.source_bytes as i64,
                    e.source_codec,
                    e.encoder,
                    e.encoder_fingerprint,
                    e.knob,
                    e.predicted_vmaf,
                    e.measured_vmaf,
                    e.output_bytes as i64,
                    e.wall_seconds,
                    e.fps
                ],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// The latest encode of an item.
    pub fn last_encode(&self, item: i64) -> Result<Option<EncodeRow>, CatalogError> {
        self.conn
            .query_row(
                "SELECT item_id, host, source, source_bytes, source_codec, encoder, encoder_fingerprint,
                        knob, predicted_vmaf, measured_vmaf, output_bytes, wall_seconds, fps
                 FROM encode WHERE item_id = ?1 ORDER BY id DESC LIMIT 1",
                params![item],
                |r| {
                    Ok(EncodeRow {
                        item_id: r.get(0)?,
                        host: r.get(1)?,
                        source: r.get(2)?,
                        source_bytes: r.get::<_, i64>(3)? as u64,
                        source_codec: r.get(4)?,
                        encoder: r.get(5)?,
                        encoder_fingerprint: r.get(6)?,
                        knob: r.get(7)?,
                        predicted_vmaf: r.get(8)?,
                        measured_vmaf: r.get(9)?,
                        output_bytes: r.get::<_, i64>(10)? as u64,
                        wall_seconds: r.get(11)?,
                        fps: r.get(12)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// Output/source size ratios of finished, validated encodes from `source_codec` with
    /// `encoder`: what this library has taught us about that codec pair.
    pub fn learned_ratios(
        &self,
        source_codec: &str,
        encoder: &str,
    ) -> Result<Vec<f64>, CatalogError> {
        self.rows(
                "SELECT CAST(e.output_bytes AS REAL) / e.source_bytes FROM encode e
                 WHERE e.source_codec = ?1 AND e.encoder = ?2 AND e.source_bytes > 0
                   AND e.id = (SELECT MAX(id) FROM encode WHERE item_id = e.item_id)
                   AND EXISTS (SELECT 1 FROM validation v WHERE v.item_id = e.item_id AND v.passed = 1)", params![source_codec, encoder], |r| r.get(0))
    }

    /// Store a validation verdict (report as JSON).
    pub fn record_validation(
        &self,
        item: i64,
        passed: bool,
        report: &str,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO validation (item_id, at, passed, report) VALUES (?1, ?2, ?3, ?4)",
                params![item, db::now(), passed as i64, report],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// The latest validation of an item: (passed, report JSON).
    pub fn last_validation(&self, item: i64) -> Result<Option<(bool, String)>, CatalogError> {
        self.conn
            .query_row(
                "SELECT passed, report FROM validation WHERE item_id = ?1 ORDER BY id DESC LIMIT 1",
                params![item],
                |r| Ok((r.get::<_, i64>(0)? != 0, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())
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
        self.conn
            .execute(
                "INSERT INTO journal (item_id, at, action, step, phase, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![item, db::now(), action, step, phase, detail],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// An item's journal steps with their details: (step, detail), oldest first.
    pub fn journal_details(
        &self,
        item: i64,
    ) -> Result<Vec<(String, Option<String>)>, CatalogError> {
        self.rows(
            "SELECT step, detail FROM journal WHERE item_id = ?1 ORDER BY id",
            params![item],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// An item's journal: (action, step, phase), oldest first.
    pub fn journal_rows(&self, item: i64) -> Result<Vec<(String, String, String)>, CatalogError> {
        self.rows(
            "SELECT action, step, phase FROM journal WHERE item_id = ?1 ORDER BY id",
            params![item],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }
}
