//! The catalog's rows as Rust values, and the column lists and converters that read them.

use crate::domain::{Decision, ItemState};
use crate::sql::{Db, Row, SqlError};
use serde::Serialize;
use std::path::{Path, PathBuf};

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
    /// The target the measured statistic was to meet (recorded since analytics; `None` for
    /// older rows).
    pub target: Option<f64>,
    /// Full encodes the closed loop redid to meet the target (0: the first one held).
    pub corrections: u32,
}

pub(super) const FILE_COLUMNS: &str =
    "id, path, root, size, mtime_ns, dev, inode, fingerprint, status, error, probe, ours, scanned_at";

pub(super) fn file_from_row(r: &Row) -> FileRecord {
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

pub(super) const ITEM_COLUMNS: &str =
    "id, manifest, idx, file_id, source, staging, state, decision, updated_at,
     source_damage, damage_accepted";

pub(super) fn item_from_row(r: &Row) -> Result<ItemRecord, CatalogError> {
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

pub(super) fn encode_from_row(r: &Row) -> EncodeRow {
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
        target: r.opt_real(13),
        corrections: r.int(14).max(0) as u32,
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

pub(super) fn plan_from_row(r: &Row) -> PlanRow {
    PlanRow {
        id: r.int(0),
        key: PathBuf::from(r.text(1)),
        created_at: r.int(2),
        body: r.text(3),
    }
}

pub(super) fn artifact_from_row(r: &Row) -> Artifact {
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

    fn values(&self) -> [crate::sql::Value; 6] {
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
    let mut values = vec![crate::sql::Value::from(id)];
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
