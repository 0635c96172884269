//! The catalog: one SQLite database (`<data dir>/catalog.db`) holding runtime settings, every
//! file found under the library roots with its probe record, and the work done on them
//! (plan items, append-only item events, encode telemetry, validations, the promotion journal).
//!
//! The schema is versioned (see [`MIGRATIONS`]) and brought up to date on open; tables are
//! STRICT, foreign keys are enforced, and the database runs in WAL mode with a busy timeout so a
//! `status` during an `encode --all` waits instead of failing.

use crate::control::Fence;
use crate::db;
use crate::domain::{Decision, ItemState};
use mediaforce_store::params;
use mediaforce_store::sql::{Backend, Db, Row, Schema, SqlError};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

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
", "
CREATE TABLE plan (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
) STRICT;

CREATE TABLE artifact (
    -- AUTOINCREMENT: an id is never reused, so a link to a replaced artifact cannot serve
    -- another file.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('clip', 'still', 'plot', 'frame_scores', 'report')),
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL CHECK (bytes >= 0),
    created_at INTEGER NOT NULL,
    detail TEXT
) STRICT;
CREATE INDEX artifact_item ON artifact (item_id, id);
", "
-- What the library page filters and sorts on, taken out of the probe record when it is
-- written (and once, for files probed before).
ALTER TABLE file ADD COLUMN video_codec TEXT;
ALTER TABLE file ADD COLUMN width INTEGER;
ALTER TABLE file ADD COLUMN height INTEGER;
ALTER TABLE file ADD COLUMN hdr TEXT;
ALTER TABLE file ADD COLUMN bit_rate INTEGER;
ALTER TABLE file ADD COLUMN audio TEXT;
CREATE INDEX file_codec ON file (video_codec);
CREATE INDEX file_height ON file (height);
CREATE INDEX file_size ON file (size);
", "
-- The library page at 100,000 files: every column it filters and sorts on in one narrow
-- index, so counts and a page's ids are read from it alone (the rows, with their probe
-- records, are kilobytes each); items by file for their state.
DROP INDEX file_codec;
DROP INDEX file_height;
DROP INDEX file_size;
CREATE INDEX file_live ON file (status);
CREATE INDEX file_page ON file (path, status, size, video_codec, height, hdr, bit_rate);
CREATE INDEX item_file ON item (file_id, id);
", "
-- Measured (source, encoder, knob, VMAF) points: every probe of every search, and the rows of
-- `mediaforce grid`; what a knob model is fitted on.
CREATE TABLE tuning_point (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    origin TEXT NOT NULL,
    source_fingerprint TEXT NOT NULL,
    encoder TEXT NOT NULL,
    preset TEXT NOT NULL,
    knob REAL NOT NULL,
    vmaf_mean REAL NOT NULL,
    row TEXT NOT NULL
) STRICT;
CREATE INDEX tuning_point_source ON tuning_point (source_fingerprint, encoder, preset, knob);
"];

/// The same schema for PostgreSQL (one migration: it had no earlier versions to carry).
pub const PG_MIGRATIONS: &[&str] = &["
CREATE TABLE setting (
    seq BIGSERIAL,
    key TEXT NOT NULL CHECK (key IN ('root', 'ignore', 'transcode_root')),
    value TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (key, value)
);

CREATE TABLE file (
    id BIGSERIAL PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    dev BIGINT NOT NULL,
    inode BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'gone')),
    error TEXT,
    probe TEXT,
    ours BIGINT NOT NULL DEFAULT 0,
    first_seen BIGINT NOT NULL,
    scanned_at BIGINT NOT NULL,
    probed_at BIGINT
);
CREATE INDEX file_fingerprint ON file (fingerprint);

CREATE TABLE file_event (
    id BIGSERIAL PRIMARY KEY,
    file_id BIGINT NOT NULL REFERENCES file (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX file_event_file ON file_event (file_id, id);

CREATE TABLE item (
    id BIGSERIAL PRIMARY KEY,
    manifest TEXT NOT NULL,
    idx BIGINT NOT NULL,
    file_id BIGINT REFERENCES file (id),
    source TEXT NOT NULL,
    staging TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('planned', 'encoding', 'interrupted', 'failed', 'no_result',
        'staged', 'validated', 'invalid', 'promoting', 'promoted', 'rolling_back', 'rolled_back')),
    decision TEXT CHECK (decision IN ('approved', 'rejected')),
    updated_at BIGINT NOT NULL,
    source_damage BIGINT NOT NULL DEFAULT 0 CHECK (source_damage >= 0),
    damage_accepted BIGINT NOT NULL DEFAULT 0 CHECK (damage_accepted IN (0, 1)),
    UNIQUE (manifest, idx)
);

CREATE TABLE item_event (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX item_event_item ON item_event (item_id, id);

CREATE TABLE encode (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    host TEXT NOT NULL,
    source TEXT NOT NULL,
    source_bytes BIGINT NOT NULL,
    source_codec TEXT NOT NULL,
    encoder TEXT NOT NULL,
    encoder_fingerprint TEXT NOT NULL,
    knob DOUBLE PRECISION NOT NULL,
    predicted_vmaf DOUBLE PRECISION,
    measured_vmaf DOUBLE PRECISION,
    output_bytes BIGINT NOT NULL,
    wall_seconds DOUBLE PRECISION NOT NULL,
    fps DOUBLE PRECISION NOT NULL
);

CREATE TABLE validation (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    passed BIGINT NOT NULL CHECK (passed IN (0, 1)),
    report TEXT NOT NULL
);

CREATE TABLE journal (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
    step TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('begin', 'done')),
    detail TEXT
);

CREATE TABLE plan (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE artifact (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('clip', 'still', 'plot', 'frame_scores', 'report')),
    path TEXT NOT NULL,
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    created_at BIGINT NOT NULL,
    detail TEXT
);
CREATE INDEX artifact_item ON artifact (item_id, id);
", "
ALTER TABLE file ADD COLUMN video_codec TEXT;
ALTER TABLE file ADD COLUMN width BIGINT;
ALTER TABLE file ADD COLUMN height BIGINT;
ALTER TABLE file ADD COLUMN hdr TEXT;
ALTER TABLE file ADD COLUMN bit_rate BIGINT;
ALTER TABLE file ADD COLUMN audio TEXT;
CREATE INDEX file_codec ON file (video_codec);
CREATE INDEX file_height ON file (height);
CREATE INDEX file_size ON file (size);
", "
DROP INDEX file_codec;
DROP INDEX file_height;
DROP INDEX file_size;
CREATE INDEX file_live ON file (status);
CREATE INDEX file_page ON file (path, status, size, video_codec, height, hdr, bit_rate);
CREATE INDEX item_file ON item (file_id, id);
", "
CREATE TABLE tuning_point (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    origin TEXT NOT NULL,
    source_fingerprint TEXT NOT NULL,
    encoder TEXT NOT NULL,
    preset TEXT NOT NULL,
    knob DOUBLE PRECISION NOT NULL,
    vmaf_mean DOUBLE PRECISION NOT NULL,
    row TEXT NOT NULL
);
CREATE INDEX tuning_point_source ON tuning_point (source_fingerprint, encoder, preset, knob);
"];

/// The catalog's schema on both backends.
pub const SCHEMA: Schema<'static> = Schema {
    name: "catalog",
    sqlite: MIGRATIONS,
    postgres: PG_MIGRATIONS,
    legacy_user_version: true,
};

/// Errors of the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The database failed (cannot be opened, is locked, is too new, refused a statement).
    #[error(transparent)]
    Sql(#[from] SqlError),
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
    /// The job this write belongs to lost its lease (another worker holds it now): the write
    /// did not happen.
    #[error("job {job}: lease lost (epoch {epoch} is no longer current); the write was refused")]
    Fenced {
        /// The job.
        job: i64,
        /// The stale epoch.
        epoch: i64,
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
        matches!(self, CatalogError::Sql(e) if e.busy)
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

/// The catalog database: SQLite (`<data dir>/catalog.db`) or a PostgreSQL database hosts
/// share. One connection behind a lock, so one value serves every thread of a process.
#[derive(Debug)]
pub struct Catalog {
    db: Mutex<Db>,
    /// The lease the writes through this value belong to, when a queued job makes them.
    fence: Mutex<Option<Fence>>,
}

const FILE_COLUMNS: &str =
    "id, path, root, size, mtime_ns, dev, inode, fingerprint, status, error, probe, ours, scanned_at";

fn file_from_row(r: &Row) -> FileRecord {
    FileRecord {
        id: r.int(0),
        path: PathBuf::from(r.text(1)),
        root: PathBuf::from(r.text(2)),
        size: r.int(3) as u64,
        mtime_ns: r.int(4),
        dev: r.int(5) as u64,
        inode: r.int(6) as u64,
        fingerprint: r.text(7),
        status: r.text(8),
        error: r.opt_text(9),
        probe_json: r.opt_text(10),
        ours: r.flag(11),
        scanned_at: r.int(12),
    }
}

const ITEM_COLUMNS: &str =
    "id, manifest, idx, file_id, source, staging, state, decision, updated_at,
     source_damage, damage_accepted";

fn item_from_row(r: &Row) -> Result<ItemRecord, CatalogError> {
    let source = r.text(4);
    let bad = |e: String| CatalogError::Invalid(format!("{source}: {e}"));
    Ok(ItemRecord {
        id: r.int(0),
        manifest: PathBuf::from(r.text(1)),
        index: r.int(2) as usize,
        file_id: r.opt_int(3),
        state: r.text(6).parse().map_err(bad)?,
        decision: r
            .opt_text(7)
            .map(|d| d.parse::<Decision>())
            .transpose()
            .map_err(bad)?,
        source: PathBuf::from(&source),
        staging: PathBuf::from(r.text(5)),
        updated_at: r.int(8),
        source_damage: r.int(9) as u64,
        damage_accepted: r.flag(10),
    })
}

fn encode_from_row(r: &Row) -> EncodeRow {
    EncodeRow {
        item_id: r.int(0),
        host: r.text(1),
        source: r.text(2),
        source_bytes: r.int(3) as u64,
        source_codec: r.text(4),
        encoder: r.text(5),
        encoder_fingerprint: r.text(6),
        knob: r.real(7),
        predicted_vmaf: r.opt_real(8),
        measured_vmaf: r.opt_real(9),
        output_bytes: r.int(10) as u64,
        wall_seconds: r.real(11),
        fps: r.real(12),
    }
}

/// Paths are stored as UTF-8 text; non-UTF-8 names are stored lossily and flagged by the scan.
pub fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A file a review or validation produced, recorded so another process can find it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifact {
    /// Row id: the name front ends use for it (never a path from a request).
    pub id: i64,
    /// The item it belongs to.
    pub item_id: i64,
    /// `clip`, `still`, `plot`, `frame_scores` or `report`.
    pub kind: String,
    /// Where it is, on the host that wrote it.
    pub path: PathBuf,
    /// Its size when recorded.
    pub bytes: u64,
    /// When (epoch seconds).
    pub created_at: i64,
    /// What it shows (a timestamp, a side).
    pub detail: Option<String>,
}

/// A stored plan: its key (the path of its JSON export, which its items are filed under) and
/// its body.
#[derive(Debug, Clone)]
pub struct PlanRow {
    /// Row id (newer plans have larger ids).
    pub id: i64,
    /// The key: the path of the JSON export.
    pub key: PathBuf,
    /// When it was made (epoch seconds).
    pub created_at: i64,
    /// The manifest, as JSON.
    pub body: String,
}

impl Catalog {
    /// The catalog database file in `data_dir`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        mediaforce_store::catalog_file(data_dir)
    }

    /// Open (creating and migrating) the catalog in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, CatalogError> {
        Self::open_location(&path_text(&Self::path_in(data_dir)))
    }

    /// Open the catalog in the shared database `database` (`postgres://...`) when given, else
    /// in `data_dir`.
    pub fn open_in(data_dir: &Path, database: Option<&str>) -> Result<Self, CatalogError> {
        match database {
            Some(url) => Self::open_location(url),
            None => Self::open(data_dir),
        }
    }

    /// Open the catalog at `location`: a `postgres://` URL or a SQLite file path.
    pub fn open_location(location: &str) -> Result<Self, CatalogError> {
        let catalog = Self {
            db: Mutex::new(Db::open(location, &SCHEMA)?),
            fence: Mutex::new(None),
        };
        catalog.backfill_media_columns()?;
        Ok(catalog)
    }

    /// Make every later write through this value conditional on `fence`'s lease (a worker
    /// sets it for the job it runs, and clears it after): a write after the lease was lost is
    /// refused as [`CatalogError::Fenced`], in the same transaction that would have made it.
    /// The job queue must live in the same database (it does: both follow `--database`).
    pub fn set_fence(&self, fence: Option<Fence>) {
        *self.fence.lock().unwrap_or_else(|p| p.into_inner()) = fence;
    }

    /// The lease writes are fenced by.
    pub fn fence(&self) -> Option<Fence> {
        *self.fence.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inside a transaction: refuse when `fence`'s lease is no longer current. On PostgreSQL
    /// the job's row stays locked until the transaction ends, so no other worker can claim the
    /// job in between; on SQLite the transaction holds the write lock.
    fn check_fence(tx: &mut Db, fence: Fence) -> Result<(), CatalogError> {
        let lock = match tx.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        };
        let live = tx.query_opt(
            &format!("SELECT 1 FROM job WHERE id = ?1 AND epoch = ?2 AND state = 'running'{lock}"),
            params![fence.job, fence.epoch],
        )?;
        if live.is_none() {
            return Err(CatalogError::Fenced {
                job: fence.job,
                epoch: fence.epoch,
            });
        }
        Ok(())
    }

    /// Move the file `from` to `to` (a rename in one directory, made durable) only while the
    /// fence's lease is current, holding the job's row while it happens: a worker that lost
    /// its lease can never put a file in place. Without a fence it is a plain rename.
    pub fn fenced_rename(&self, from: &Path, to: &Path) -> Result<(), CatalogError> {
        self.rename_fenced_by(self.fence(), from, to)
    }

    fn rename_fenced_by(
        &self,
        fence: Option<Fence>,
        from: &Path,
        to: &Path,
    ) -> Result<(), CatalogError> {
        let io = |e: std::io::Error| {
            CatalogError::Invalid(format!("{} -> {}: {e}", from.display(), to.display()))
        };
        let rename = || -> Result<(), CatalogError> {
            std::fs::rename(from, to).map_err(io)?;
            if let Some(dir) = to.parent() {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        };
        match fence {
            None => rename(),
            Some(fence) => self.lock().transaction(|tx| {
                Self::check_fence(tx, fence)?;
                rename()
            }),
        }
    }

    /// [`Catalog::fenced_rename`] under `fence` rather than this catalog's own: the
    /// receiving side of a transfer puts a remote host's upload in place only while that
    /// host's lease is current.
    pub fn rename_under(&self, fence: Fence, from: &Path, to: &Path) -> Result<(), CatalogError> {
        self.rename_fenced_by(Some(fence), from, to)
    }

    /// Which backend holds the catalog.
    pub fn backend(&self) -> Backend {
        self.lock().backend()
    }

    /// The database, as shown in messages.
    pub fn location(&self) -> String {
        self.lock().location().to_string()
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the lock leaves the connection usable: SQL state is in the
        // database, and an open transaction was rolled back by `Db::transaction`.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn execute(
        &self,
        sql: &str,
        params: &[mediaforce_store::sql::Value],
    ) -> Result<u64, CatalogError> {
        match self.fence() {
            None => Ok(self.lock().execute(sql, params)?),
            Some(fence) => self.lock().transaction(|tx| {
                Self::check_fence(tx, fence)?;
                Ok(tx.execute(sql, params)?)
            }),
        }
    }

    fn query(
        &self,
        sql: &str,
        params: &[mediaforce_store::sql::Value],
    ) -> Result<Vec<Row>, CatalogError> {
        Ok(self.lock().query(sql, params)?)
    }

    fn query_opt(
        &self,
        sql: &str,
        params: &[mediaforce_store::sql::Value],
    ) -> Result<Option<Row>, CatalogError> {
        Ok(self.lock().query_opt(sql, params)?)
    }

    /// Run `f` in one write transaction (the scan batches its writes in one).
    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let fence = self.fence();
        self.lock().transaction(|tx| {
            if let Some(fence) = fence {
                Self::check_fence(tx, fence)?;
            }
            f(tx)
        })
    }

    // ----- settings -----

    /// Runtime values of a multi-valued setting, in the order they were added.
    pub fn setting_values(&self, key: &str) -> Result<Vec<String>, CatalogError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT value FROM setting WHERE key = ?1 ORDER BY added_at, rowid",
            Backend::Postgres => "SELECT value FROM setting WHERE key = ?1 ORDER BY added_at, seq",
        };
        Ok(self
            .query(sql, params![key])?
            .iter()
            .map(|r| r.text(0))
            .collect())
    }

    /// Add a value to a multi-valued setting; returns false when it was already there.
    pub fn add_setting(&self, key: &str, value: &str) -> Result<bool, CatalogError> {
        let n = self.execute(
            "INSERT INTO setting (key, value, added_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![key, value, db::now()],
        )?;
        Ok(n > 0)
    }

    /// Remove a value; returns false when it was not there.
    pub fn remove_setting(&self, key: &str, value: &str) -> Result<bool, CatalogError> {
        let n = self.execute(
            "DELETE FROM setting WHERE key = ?1 AND value = ?2",
            params![key, value],
        )?;
        Ok(n > 0)
    }

    /// Replace a single-valued setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), CatalogError> {
        self.transaction(|tx| {
            tx.execute("DELETE FROM setting WHERE key = ?1", params![key])?;
            tx.execute(
                "INSERT INTO setting (key, value, added_at) VALUES (?1, ?2, ?3)",
                params![key, value, db::now()],
            )?;
            Ok(())
        })
    }

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
                wall_seconds, fps)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
                e.fps
            ],
        )
        .map(|_| ())
    }

    /// The latest encode of an item.
    pub fn last_encode(&self, item: i64) -> Result<Option<EncodeRow>, CatalogError> {
        Ok(self
            .query_opt(
                "SELECT item_id, host, source, source_bytes, source_codec, encoder, encoder_fingerprint,
                        knob, predicted_vmaf, measured_vmaf, output_bytes, wall_seconds, fps
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

fn plan_from_row(r: &Row) -> PlanRow {
    PlanRow {
        id: r.int(0),
        key: PathBuf::from(r.text(1)),
        created_at: r.int(2),
        body: r.text(3),
    }
}

fn artifact_from_row(r: &Row) -> Artifact {
    Artifact {
        id: r.int(0),
        item_id: r.int(1),
        kind: r.text(2),
        path: PathBuf::from(r.text(3)),
        bytes: r.int(4) as u64,
        created_at: r.int(5),
        detail: r.opt_text(6),
    }
}

/// What the library page shows, filters and sorts on, taken out of a file's probe record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MediaColumns {
    /// Primary video codec.
    pub video_codec: Option<String>,
    /// Its width.
    pub width: Option<i64>,
    /// Its height.
    pub height: Option<i64>,
    /// `pq` or `hlg` when HDR.
    pub hdr: Option<String>,
    /// Container bit rate (bits per second).
    pub bit_rate: Option<i64>,
    /// Audio tracks, e.g. `eng aac 2 ch, fra ac3 6 ch`.
    pub audio: Option<String>,
}

impl MediaColumns {
    /// The columns of a probe record (JSON of [`crate::core::MediaInfo`]).
    pub fn of(probe_json: &str) -> Self {
        let Ok(info) = serde_json::from_str::<crate::core::MediaInfo>(probe_json) else {
            return Self::default();
        };
        let video = info
            .primary_video()
            .and_then(|s| s.video.as_ref().map(|v| (s, v)));
        let audio: Vec<String> = info
            .streams_of(crate::core::probe::StreamKind::Audio)
            .map(|s| {
                format!(
                    "{} {} {} ch",
                    s.language.as_deref().unwrap_or("und"),
                    s.codec,
                    s.audio.as_ref().map_or(0, |a| a.channels)
                )
            })
            .collect();
        Self {
            video_codec: video.map(|(s, _)| s.codec.clone()),
            width: video.map(|(_, v)| i64::from(v.width)),
            height: video.map(|(_, v)| i64::from(v.height)),
            hdr: video
                .and_then(|(_, v)| v.hdr)
                .map(|h| format!("{h:?}").to_lowercase()),
            bit_rate: info.bit_rate.map(|b| b as i64),
            audio: (!audio.is_empty()).then(|| audio.join(", ")),
        }
    }

    fn values(&self) -> [mediaforce_store::sql::Value; 6] {
        [
            self.video_codec.clone().into(),
            self.width.into(),
            self.height.into(),
            self.hdr.clone().into(),
            self.bit_rate.into(),
            self.audio.clone().into(),
        ]
    }
}

/// Set a file row's media columns (inside the scan's transaction).
pub(crate) fn set_media_columns(
    db: &mut Db,
    id: i64,
    probe_json: Option<&str>,
) -> Result<(), SqlError> {
    let cols = probe_json.map(MediaColumns::of).unwrap_or_default();
    let mut values = vec![mediaforce_store::sql::Value::from(id)];
    values.extend(cols.values());
    db.execute(
        "UPDATE file SET video_codec = ?2, width = ?3, height = ?4, hdr = ?5, bit_rate = ?6,
             audio = ?7 WHERE id = ?1",
        &values,
    )?;
    Ok(())
}

/// How the library page asks for files: filters, one sort key and a page.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, Serialize)]
#[serde(default)]
pub struct LibraryQuery {
    /// Only files under this folder.
    pub folder: Option<String>,
    /// Only this video codec.
    pub codec: Option<String>,
    /// Only files at least this tall.
    #[serde(deserialize_with = "blank_is_none")]
    pub min_height: Option<i64>,
    /// Only files at most this tall.
    #[serde(deserialize_with = "blank_is_none")]
    pub max_height: Option<i64>,
    /// `hdr`: only HDR; `sdr`: only SDR.
    pub dynamic_range: Option<String>,
    /// Only files whose newest plan item is in this state (`none`: never planned).
    pub state: Option<String>,
    /// Only files of at least this many bytes.
    #[serde(deserialize_with = "blank_is_none")]
    pub min_bytes: Option<i64>,
    /// Only files of at most this many bytes.
    #[serde(deserialize_with = "blank_is_none")]
    pub max_bytes: Option<i64>,
    /// `path` (default), `size`, `codec`, `height`, `bit_rate` or `state`.
    pub sort: Option<String>,
    /// Largest first.
    pub desc: Option<bool>,
    /// Rows to skip.
    #[serde(deserialize_with = "blank_is_none")]
    pub offset: Option<u64>,
    /// Rows to return (at most 1000; default 100).
    #[serde(deserialize_with = "blank_is_none")]
    pub limit: Option<u64>,
}

/// A number from a form field, where an empty field means none (for `deserialize_with`).
pub fn blank_is_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let v: Option<String> = serde::Deserialize::deserialize(d)?;
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => t.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// A catalogued file as the library page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryFile {
    /// The file's record.
    pub file: FileRecord,
    /// What its probe says.
    pub media: MediaColumns,
    /// The state of its newest plan item.
    pub state: Option<String>,
    /// Its newest plan item's id (the item page).
    pub item_id: Option<i64>,
}

impl Catalog {
    /// Fill the media columns of files probed before they existed (once; cheap after).
    fn backfill_media_columns(&self) -> Result<(), CatalogError> {
        let rows = self.query(
            "SELECT id, probe FROM file WHERE probe IS NOT NULL AND video_codec IS NULL
                 AND audio IS NULL AND bit_rate IS NULL",
            &[],
        )?;
        if rows.is_empty() {
            return Ok(());
        }
        self.lock().transaction(|db| {
            for r in &rows {
                set_media_columns(db, r.int(0), r.opt_text(1).as_deref())?;
            }
            Ok::<_, SqlError>(())
        })?;
        Ok(())
    }

    /// One page of the library as `q` filters and sorts it, done by the database, and how
    /// many files match in all. Files no longer on disk are left out.
    pub fn library_page(&self, q: &LibraryQuery) -> Result<(Vec<LibraryFile>, u64), CatalogError> {
        use mediaforce_store::sql::Value;
        let backend = self.backend();
        let state_expr =
            "(SELECT i.state FROM item i WHERE i.file_id = file.id ORDER BY i.id DESC LIMIT 1)";
        let mut clauses = vec!["status <> 'gone'".to_string()];
        let mut values: Vec<Value> = Vec::new();
        let mut bind = |v: Value| {
            values.push(v);
            format!("?{}", values.len())
        };
        if let Some(f) = q.folder.as_deref().filter(|f| !f.is_empty()) {
            let f = f.trim_end_matches('/').to_string();
            if backend == Backend::Sqlite {
                // Paths under `f/` are those in [`f/`, `f0`) in SQLite's byte order ('0'
                // follows '/'): a range the path index answers.
                let lo = bind(format!("{f}/").into());
                let hi = bind(format!("{f}0").into());
                clauses.push(format!("path >= {lo} AND path < {hi}"));
            } else {
                // PostgreSQL orders text by its collation, where that does not hold.
                let n = bind((f.chars().count() as i64 + 1).into());
                let p = bind(format!("{f}/").into());
                clauses.push(format!("substr(path, 1, {n}) = {p}"));
            }
        }
        if let Some(c) = q.codec.as_deref().filter(|c| !c.is_empty()) {
            clauses.push(format!("video_codec = {}", bind(c.to_string().into())));
        }
        if let Some(h) = q.min_height {
            clauses.push(format!("height >= {}", bind(h.into())));
        }
        if let Some(h) = q.max_height {
            clauses.push(format!("height <= {}", bind(h.into())));
        }
        match q.dynamic_range.as_deref() {
            Some("hdr") => clauses.push("hdr IS NOT NULL".into()),
            Some("sdr") => clauses.push("hdr IS NULL".into()),
            _ => {}
        }
        match q.state.as_deref().filter(|s| !s.is_empty()) {
            Some("none") => clauses.push(format!("{state_expr} IS NULL")),
            Some(s) => clauses.push(format!("{state_expr} = {}", bind(s.to_string().into()))),
            None => {}
        }
        if let Some(b) = q.min_bytes {
            clauses.push(format!("size >= {}", bind(b.into())));
        }
        if let Some(b) = q.max_bytes {
            clauses.push(format!("size <= {}", bind(b.into())));
        }
        let filter = clauses.join(" AND ");
        let key = match q.sort.as_deref() {
            Some("size") => "size",
            Some("codec") => "video_codec",
            Some("height") => "height",
            Some("bit_rate") => "bit_rate",
            Some("state") => state_expr,
            _ => "path",
        };
        let dir = if q.desc.unwrap_or(false) {
            "DESC"
        } else {
            "ASC"
        };
        // Paths are unique and never NULL: sorted by path alone, the path index gives the
        // order; any other key ties on path.
        let order = if key == "path" {
            format!("path {dir}")
        } else {
            format!("{key} {dir} NULLS LAST, path ASC")
        };
        let limit = q.limit.unwrap_or(100).clamp(1, 1000) as i64;
        let offset = q.offset.unwrap_or(0) as i64;
        let total = self
            .query_opt(
                &format!("SELECT COUNT(*) FROM file WHERE {filter}"),
                &values,
            )?
            .map_or(0, |r| r.int(0)) as u64;
        // First the page's ids, sorted and cut from the narrow indexed columns; then the rows
        // (probe records are kilobytes each: sorting them would move them all).
        let mut page_values = values.clone();
        page_values.push(limit.into());
        page_values.push(offset.into());
        let (l, o) = (page_values.len() - 1, page_values.len());
        let ids: Vec<i64> = self
            .query(
                &format!(
                    "SELECT id FROM file WHERE {filter} ORDER BY {order} LIMIT ?{l} OFFSET ?{o}"
                ),
                &page_values,
            )?
            .iter()
            .map(|r| r.int(0))
            .collect();
        if ids.is_empty() {
            return Ok((Vec::new(), total));
        }
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("?{i}")).collect();
        let id_values: Vec<Value> = ids.iter().map(|&i| i.into()).collect();
        let sql = format!(
            "SELECT {FILE_COLUMNS}, video_codec, width, height, hdr, bit_rate, audio,
                 {state_expr} AS state,
                 (SELECT i.id FROM item i WHERE i.file_id = file.id ORDER BY i.id DESC LIMIT 1)
             FROM file WHERE id IN ({})",
            marks.join(", ")
        );
        let mut rows = self.query(&sql, &id_values)?;
        let rank: std::collections::HashMap<i64, usize> =
            ids.iter().enumerate().map(|(n, &id)| (id, n)).collect();
        rows.sort_by_key(|r| rank.get(&r.int(0)).copied().unwrap_or(usize::MAX));
        let n = FILE_COLUMNS.split(',').count();
        let opt_int = |r: &Row, i: usize| r.opt_int(i);
        Ok((
            rows.iter()
                .map(|r| LibraryFile {
                    file: file_from_row(r),
                    media: MediaColumns {
                        video_codec: r.opt_text(n),
                        width: opt_int(r, n + 1),
                        height: opt_int(r, n + 2),
                        hdr: r.opt_text(n + 3),
                        bit_rate: opt_int(r, n + 4),
                        audio: r.opt_text(n + 5),
                    },
                    state: r.opt_text(n + 6),
                    item_id: r.opt_int(n + 7),
                })
                .collect(),
            total,
        ))
    }
}

impl Catalog {
    /// The knobs the newest encodes of other items in `folder` (files directly in it) settled
    /// on with `encoder`, newest first (at most `limit`), with each source's height: what a
    /// folder's measured first guess is made of.
    pub fn folder_knobs(
        &self,
        folder: &Path,
        encoder: &str,
        except_item: i64,
        limit: usize,
    ) -> Result<Vec<(f64, Option<i64>)>, CatalogError> {
        let prefix = format!("{}/", folder.display().to_string().trim_end_matches('/'));
        let rows = self.query(
            "SELECT e.knob, f.height, i.source FROM encode e
             JOIN item i ON i.id = e.item_id
             LEFT JOIN file f ON f.id = i.file_id
             WHERE e.encoder = ?1 AND i.id <> ?2
               AND substr(i.source, 1, ?3) = ?4
               AND e.id = (SELECT MAX(id) FROM encode WHERE item_id = e.item_id)
             ORDER BY e.id DESC",
            params![
                encoder,
                except_item,
                prefix.chars().count() as i64,
                prefix.clone()
            ],
        )?;
        Ok(rows
            .iter()
            .filter(|r| !r.text(2)[prefix.len()..].contains('/'))
            .take(limit)
            .map(|r| (r.real(0), r.opt_int(1)))
            .collect())
    }
}

impl Catalog {
    /// Record measured points (a search's probes, a grid's rows), each once: a point already
    /// held (same source content, encoder and version, preset, knob, whole file or samples)
    /// is skipped. Returns how many were new.
    pub fn record_points(
        &self,
        points: &[crate::point::TuningPoint],
    ) -> Result<usize, CatalogError> {
        let held: std::collections::HashSet<_> = self
            .points_of_sources(
                &points
                    .iter()
                    .map(|p| p.source_fingerprint.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>(),
            )?
            .iter()
            .map(crate::point::TuningPoint::key)
            .collect();
        let fresh: Vec<_> = points.iter().filter(|p| !held.contains(&p.key())).collect();
        self.transaction(|tx| {
            for p in &fresh {
                tx.execute(
                    "INSERT INTO tuning_point
                         (at, origin, source_fingerprint, encoder, preset, knob, vmaf_mean, row)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        db::now(),
                        p.origin.clone(),
                        p.source_fingerprint.clone(),
                        p.encoder.clone(),
                        p.preset.clone(),
                        p.knob,
                        p.vmaf_mean,
                        serde_json::to_string(p).unwrap_or_default()
                    ],
                )?;
            }
            Ok(())
        })?;
        Ok(fresh.len())
    }

    /// The points measured on sources with these fingerprints, oldest first.
    pub fn points_of_sources(
        &self,
        fingerprints: &[String],
    ) -> Result<Vec<crate::point::TuningPoint>, CatalogError> {
        let mut out = Vec::new();
        for f in fingerprints {
            for r in self.query(
                "SELECT row FROM tuning_point WHERE source_fingerprint = ?1 ORDER BY id",
                params![f.clone()],
            )? {
                if let Ok(p) = serde_json::from_str(&r.text(0)) {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// Every measured point, oldest first (what a knob model is fitted on).
    pub fn all_points(&self) -> Result<Vec<crate::point::TuningPoint>, CatalogError> {
        Ok(self
            .query("SELECT row FROM tuning_point ORDER BY id", &[])?
            .iter()
            .filter_map(|r| serde_json::from_str(&r.text(0)).ok())
            .collect())
    }
}

impl Catalog {
    /// One item by its row id.
    pub fn item_by_id(&self, id: i64) -> Result<Option<ItemRecord>, CatalogError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM item WHERE id = ?1");
        self.query_opt(&sql, params![id])?
            .as_ref()
            .map(item_from_row)
            .transpose()
    }

    /// Bytes saved in the library so far: for every promoted item, its source's size less its
    /// newest encode's.
    pub fn saved_bytes(&self) -> Result<i64, CatalogError> {
        Ok(self
            .query_opt(
                // PostgreSQL sums BIGINTs as NUMERIC: cast back to a 64-bit integer.
                "SELECT CAST(COALESCE(SUM(e.source_bytes - e.output_bytes), 0) AS BIGINT) FROM item i
                 JOIN encode e ON e.id = (SELECT MAX(id) FROM encode WHERE item_id = i.id)
                 WHERE i.state = 'promoted'",
                &[],
            )?
            .map_or(0, |r| r.int(0)))
    }
}

pub use mediaforce_store::{catalog_file as queue_path, location as queue_location};
