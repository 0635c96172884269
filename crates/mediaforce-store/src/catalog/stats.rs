//! What the library holds and what mediaforce saved, summed by the database: savings and
//! encodes per day, throughput per encoder and host, quality delivered against the target, the
//! library's mix now and before mediaforce changed it, per-root totals, and health counts.
//! Every figure is one grouped statement, the same text on SQLite and PostgreSQL.

use crate::params;
use serde::Serialize;

use super::records::*;
use super::Catalog;

/// Seconds in a day: days are UTC days since the Unix epoch.
pub const DAY: i64 = 86_400;

/// One UTC day's promotions and rollbacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SavingDay {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// Promotions that day.
    pub promoted: i64,
    /// Bytes they saved (source less encode).
    pub promoted_bytes: i64,
    /// Rollbacks that day.
    pub rolled_back: i64,
    /// Bytes the rollbacks gave back.
    pub rolled_back_bytes: i64,
}

/// One UTC day's encodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EncodeDay {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// Encodes finished that day.
    pub encodes: i64,
    /// Their wall time (search and encode), seconds.
    pub seconds: f64,
    /// Bytes of source they encoded.
    pub source_bytes: i64,
}

/// Throughput of one encoder on one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EncoderHost {
    /// Encoder adapter (`libsvtav1`).
    pub encoder: String,
    /// Host name.
    pub host: String,
    /// Encodes.
    pub encodes: i64,
    /// Mean encode frames per second.
    pub mean_fps: f64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Encodes whose measured statistic fell in one band around their target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityBand {
    /// `below`, `under_1` (within 1 below; the tolerance may allow it), `0_to_1`, `1_to_2`,
    /// `2_to_3`, `over_3` (points above the target), `unmeasured`, `no_target` (rows from
    /// before targets were recorded).
    pub band: String,
    /// Encodes in the band.
    pub encodes: i64,
    /// Full re-encodes the closed loop made for them.
    pub corrections: i64,
}

/// Live files grouped by what a mix is drawn on; a promoted file counted as it is now (its
/// encode) and as it was (its source).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixGroup {
    /// A promoted file (its encode is in the library).
    pub promoted: bool,
    /// The file's video codec as catalogued (`None` when unknown).
    pub codec: Option<String>,
    /// For a promoted file: the encoder that made it and the source's codec.
    pub encoder: Option<String>,
    /// The source's codec (promoted files).
    pub source_codec: Option<String>,
    /// The video's height (classed by the caller).
    pub height: Option<i64>,
    /// `pq`, `hlg` or empty (SDR).
    pub hdr: String,
    /// The last five characters of the file's name, lower case (the container comes from its
    /// extension).
    pub tail: String,
    /// The same of the source's name (promoted files).
    pub source_tail: Option<String>,
    /// Files.
    pub files: i64,
    /// Bytes now.
    pub bytes: i64,
    /// Bytes before (the sources' sizes for promoted files).
    pub bytes_before: i64,
}

/// One library root's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RootTotals {
    /// The root.
    pub root: String,
    /// Live files.
    pub files: i64,
    /// Their bytes now.
    pub bytes: i64,
    /// Files promoted (their encode is in place).
    pub promoted: i64,
    /// Bytes saved by those promotions.
    pub saved_bytes: i64,
}

/// One folder's live files (directly in it), bytes and saving.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FolderTotals {
    /// The folder (no trailing `/`).
    pub folder: String,
    /// Live files directly in it.
    pub files: i64,
    /// Their bytes now.
    pub bytes: i64,
    /// Bytes saved by their promotions.
    pub saved_bytes: i64,
}

/// Health counts over the library and the queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthCounts {
    /// Items whose newest validation failed.
    pub failed_validations: i64,
    /// Items whose source had damage concealed while encoding.
    pub damaged_sources: i64,
    /// Catalogued files that could not be read (probe or verify errors).
    pub unreadable_files: i64,
    /// Items that ended without a result (no encode met the target within the size guard).
    pub no_result: i64,
    /// Items whose encode failed.
    pub failed_items: i64,
}

/// A file's folder, with its trailing `/`: kept in `file.folder` by the statements that write a
/// path (the path with every character after its last `/` trimmed: `rtrim` with the set of the
/// path's other characters, the same on both backends), computed for a row written otherwise.
const FOLDER_OF_PATH: &str = "COALESCE(f.folder, rtrim(f.path, replace(f.path, '/', '')))";

/// Live files (`f`), each with the newest item promoted into it (`i`) and that item's newest
/// encode (`e`), both NULL for a file mediaforce has not replaced.
const LIVE_FILES: &str = "FROM file f
             LEFT JOIN item i
               ON i.id = (SELECT MAX(id) FROM item WHERE file_id = f.id AND state = 'promoted')
             LEFT JOIN encode e ON e.id = (SELECT MAX(id) FROM encode WHERE item_id = i.id)
             WHERE f.status = 'ok'";

/// A live file's bytes now: its encode's when promoted.
const BYTES_NOW: &str = "CASE WHEN e.id IS NULL THEN f.size ELSE e.output_bytes END";

/// What a live file's promotion saved (0 when not promoted).
const SAVED: &str = "CASE WHEN e.id IS NULL THEN 0 ELSE e.source_bytes - e.output_bytes END";

impl Catalog {
    /// Promotions and rollbacks per UTC day from `since` (epoch seconds), oldest first; each
    /// counted with the newest encode the item had when it happened.
    pub fn savings_by_day(&self, since: i64) -> Result<Vec<SavingDay>, CatalogError> {
        let rows = self.query(
            // PostgreSQL sums BIGINTs as NUMERIC: cast back to a 64-bit integer.
            "SELECT ev.at / 86400,
                    SUM(CASE WHEN ev.kind = 'promoted' THEN 1 ELSE 0 END),
                    CAST(SUM(CASE WHEN ev.kind = 'promoted'
                             THEN e.source_bytes - e.output_bytes ELSE 0 END) AS BIGINT),
                    SUM(CASE WHEN ev.kind = 'rolled_back' THEN 1 ELSE 0 END),
                    CAST(SUM(CASE WHEN ev.kind = 'rolled_back'
                             THEN e.source_bytes - e.output_bytes ELSE 0 END) AS BIGINT)
             FROM item_event ev
             JOIN encode e ON e.id = (SELECT MAX(id) FROM encode
                                      WHERE item_id = ev.item_id AND at <= ev.at)
             WHERE ev.kind IN ('promoted', 'rolled_back') AND ev.at >= ?1
             GROUP BY ev.at / 86400
             ORDER BY 1",
            params![since],
        )?;
        Ok(rows
            .iter()
            .map(|r| SavingDay {
                day: r.int(0),
                promoted: r.int(1),
                promoted_bytes: r.int(2),
                rolled_back: r.int(3),
                rolled_back_bytes: r.int(4),
            })
            .collect())
    }

    /// Encodes per UTC day from `since`, oldest first.
    pub fn encodes_by_day(&self, since: i64) -> Result<Vec<EncodeDay>, CatalogError> {
        let rows = self.query(
            "SELECT at / 86400, COUNT(*), SUM(wall_seconds), CAST(SUM(source_bytes) AS BIGINT)
             FROM encode
             WHERE at >= ?1 GROUP BY at / 86400 ORDER BY 1",
            params![since],
        )?;
        Ok(rows
            .iter()
            .map(|r| EncodeDay {
                day: r.int(0),
                encodes: r.int(1),
                seconds: r.real(2),
                source_bytes: r.int(3),
            })
            .collect())
    }

    /// Throughput per encoder and host from `since`, most encodes first.
    pub fn encoder_hosts(&self, since: i64) -> Result<Vec<EncoderHost>, CatalogError> {
        let rows = self.query(
            "SELECT encoder, host, COUNT(*), AVG(fps), SUM(wall_seconds) FROM encode
             WHERE at >= ?1 GROUP BY encoder, host ORDER BY 3 DESC, 1, 2",
            params![since],
        )?;
        Ok(rows
            .iter()
            .map(|r| EncoderHost {
                encoder: r.text(0),
                host: r.text(1),
                encodes: r.int(2),
                mean_fps: r.real(3),
                seconds: r.real(4),
            })
            .collect())
    }

    /// Encodes from `since` by where their measured statistic fell against their target.
    pub fn quality_bands(&self, since: i64) -> Result<Vec<QualityBand>, CatalogError> {
        let rows = self.query(
            "SELECT CASE
                      WHEN measured_vmaf IS NULL THEN 'unmeasured'
                      WHEN target IS NULL THEN 'no_target'
                      WHEN measured_vmaf < target - 1 THEN 'below'
                      WHEN measured_vmaf < target THEN 'under_1'
                      WHEN measured_vmaf < target + 1 THEN '0_to_1'
                      WHEN measured_vmaf < target + 2 THEN '1_to_2'
                      WHEN measured_vmaf < target + 3 THEN '2_to_3'
                      ELSE 'over_3' END AS band,
                    COUNT(*), CAST(SUM(corrections) AS BIGINT)
             FROM encode WHERE at >= ?1
             GROUP BY band ORDER BY band",
            params![since],
        )?;
        Ok(rows
            .iter()
            .map(|r| QualityBand {
                band: r.text(0),
                encodes: r.int(1),
                corrections: r.int(2),
            })
            .collect())
    }

    /// The live files grouped by codec, encoder, height, HDR and name ending, each
    /// group with its bytes now and before promotion.
    pub fn mix_groups(&self) -> Result<Vec<MixGroup>, CatalogError> {
        let sql = format!(
            "SELECT CASE WHEN i.id IS NULL THEN 0 ELSE 1 END, f.video_codec, e.encoder,
                    e.source_codec,
                    f.height,
                    COALESCE(f.hdr, '') AS hdr,
                    lower(substr(f.path, length(f.path) - 4)) AS tail,
                    lower(substr(e.source, length(e.source) - 4)) AS source_tail,
                    COUNT(*),
                    CAST(SUM({BYTES_NOW}) AS BIGINT),
                    CAST(SUM(CASE WHEN e.id IS NULL THEN f.size ELSE e.source_bytes END) AS BIGINT)
             {LIVE_FILES}
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
             ORDER BY 10 DESC"
        );
        Ok(self
            .query(&sql, &[])?
            .iter()
            .map(|r| MixGroup {
                promoted: r.int(0) == 1,
                codec: r.opt_text(1),
                encoder: r.opt_text(2),
                source_codec: r.opt_text(3),
                height: r.opt_int(4),
                hdr: r.text(5),
                tail: r.text(6),
                source_tail: r.opt_text(7),
                files: r.int(8),
                bytes: r.int(9),
                bytes_before: r.int(10),
            })
            .collect())
    }

    /// Per library root: live files, bytes, promotions and the bytes they saved.
    pub fn root_totals(&self) -> Result<Vec<RootTotals>, CatalogError> {
        let sql = format!(
            "SELECT f.root, COUNT(*),
                    CAST(SUM({BYTES_NOW}) AS BIGINT),
                    SUM(CASE WHEN e.id IS NULL THEN 0 ELSE 1 END),
                    CAST(SUM({SAVED}) AS BIGINT)
             {LIVE_FILES}
             GROUP BY f.root ORDER BY f.root"
        );
        Ok(self
            .query(&sql, &[])?
            .iter()
            .map(|r| RootTotals {
                root: r.text(0),
                files: r.int(1),
                bytes: r.int(2),
                promoted: r.int(3),
                saved_bytes: r.int(4),
            })
            .collect())
    }

    /// The `limit` folders holding the most live bytes, with their files and savings.
    pub fn folder_totals(&self, limit: usize) -> Result<Vec<FolderTotals>, CatalogError> {
        let sql = format!(
            "SELECT {FOLDER_OF_PATH} AS grp, COUNT(*),
                    CAST(SUM({BYTES_NOW}) AS BIGINT),
                    CAST(SUM({SAVED}) AS BIGINT)
             {LIVE_FILES}
             GROUP BY grp ORDER BY 3 DESC, 1 LIMIT ?1"
        );
        Ok(self
            .query(&sql, params![limit])?
            .iter()
            .map(|r| FolderTotals {
                folder: r.text(0).trim_end_matches('/').to_string(),
                files: r.int(1),
                bytes: r.int(2),
                saved_bytes: r.int(3),
            })
            .collect())
    }

    /// What the analytics depend on, cheaply (each figure read off an index): the newest item
    /// event (every state change, promotion and rollback is one) and the number of items, the
    /// newest encode, validation, plan and file, and the number of live files. Two equal
    /// markers mean nothing the analytics count has changed, except in place edits of file
    /// rows by a rescan and jobs' states.
    pub fn stats_marker(&self) -> Result<Vec<i64>, CatalogError> {
        let row = self.query_opt(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM item_event),
                    (SELECT COUNT(*) FROM item),
                    (SELECT COALESCE(MAX(id), 0) FROM encode),
                    (SELECT COALESCE(MAX(id), 0) FROM validation),
                    (SELECT COALESCE(MAX(id), 0) FROM plan),
                    (SELECT COALESCE(MAX(id), 0) FROM file),
                    (SELECT COUNT(*) FROM file WHERE status = 'ok')",
            &[],
        )?;
        Ok(row.map_or_else(Vec::new, |r| (0..7).map(|i| r.int(i)).collect()))
    }

    /// Health counts: failed validations (newest per item), damaged sources, unreadable
    /// files, items without a result and failed items.
    pub fn health_counts(&self) -> Result<HealthCounts, CatalogError> {
        let row = self.query_opt(
            "SELECT
               (SELECT COUNT(*) FROM validation v
                WHERE v.passed = 0
                  AND v.id = (SELECT MAX(id) FROM validation WHERE item_id = v.item_id)),
               (SELECT COUNT(*) FROM item WHERE source_damage > 0),
               (SELECT COUNT(*) FROM file WHERE status = 'error'),
               (SELECT COUNT(*) FROM item WHERE state = 'no_result'),
               (SELECT COUNT(*) FROM item WHERE state = 'failed')",
            &[],
        )?;
        Ok(row.map_or_else(HealthCounts::default, |r| HealthCounts {
            failed_validations: r.int(0),
            damaged_sources: r.int(1),
            unreadable_files: r.int(2),
            no_result: r.int(3),
            failed_items: r.int(4),
        }))
    }
}

/// A library health score's parts (0-100 each, the mean over live files) for one root or
/// folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthParts {
    /// The root, or the folder (no trailing `/`).
    pub key: String,
    /// Live files scored.
    pub files: i64,
    /// How modern the video codec is: AV1 100, HEVC and VP9 85, H.264 60, MPEG-4 part 2, VC-1,
    /// VP8 and WMV 30, older codecs 10.
    pub codec: f64,
    /// Bit rate against the norm for the height (100 at or below it, falling as the norm over
    /// the bit rate above it): 2160p 16, 1440p 10, 1080p 6, 720p 3.5, 576p 2, 480p 1.5, smaller
    /// 1 Mb/s.
    pub bit_rate: f64,
    /// Container: MKV, MP4, WebM, MOV 100; transport streams 70; AVI, WMV/ASF, MPEG-PS, FLV
    /// and others 20.
    pub container: f64,
    /// Audio: AAC, Opus or none 100; AC-3 and E-AC-3 75; DTS 50; PCM, FLAC and TrueHD 30.
    pub audio: f64,
}

impl Catalog {
    /// The health score's parts per library root (or per folder, files directly in it, when
    /// `folders` is given: those folders only, without their trailing `/`), averaged over its
    /// live files.
    pub fn health_parts(
        &self,
        folders: Option<&[String]>,
    ) -> Result<Vec<HealthParts>, CatalogError> {
        let group = if folders.is_some() {
            FOLDER_OF_PATH
        } else {
            "f.root"
        };
        let wanted: Vec<crate::sql::Value> = folders
            .unwrap_or_default()
            .iter()
            .map(|f| crate::sql::Value::from(format!("{f}/")))
            .collect();
        let only = match folders {
            Some(_) if wanted.is_empty() => return Ok(Vec::new()),
            Some(_) => format!(
                "WHERE {group} IN ({})",
                (1..=wanted.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        };
        let rows = self.query(
            &format!(
                "SELECT {group} AS grp, COUNT(*),
               CAST(AVG(CASE WHEN video_codec = 'av1' THEN 100.0
                        WHEN video_codec IN ('hevc', 'vp9') THEN 85.0
                        WHEN video_codec = 'h264' THEN 60.0
                        WHEN video_codec IN ('mpeg4', 'msmpeg4v3', 'msmpeg4v2', 'vc1', 'wmv3',
                                             'wmv2', 'vp8', 'theora') THEN 30.0
                        ELSE 10.0 END) AS DOUBLE PRECISION),
               CAST(AVG(CASE WHEN bit_rate IS NULL OR bit_rate <= norm THEN 100.0
                        ELSE 100.0 * norm / bit_rate END) AS DOUBLE PRECISION),
               CAST(AVG(CASE WHEN lower(path) LIKE '%.mkv' OR lower(path) LIKE '%.mp4'
                             OR lower(path) LIKE '%.m4v' OR lower(path) LIKE '%.webm'
                             OR lower(path) LIKE '%.mov' THEN 100.0
                        WHEN lower(path) LIKE '%.ts' OR lower(path) LIKE '%.m2ts'
                             OR lower(path) LIKE '%.mts' THEN 70.0
                        ELSE 20.0 END) AS DOUBLE PRECISION),
               CAST(AVG(CASE WHEN audio IS NULL THEN 100.0
                        WHEN audio LIKE '%pcm%' OR audio LIKE '%flac%'
                             OR audio LIKE '%truehd%' THEN 30.0
                        WHEN audio LIKE '%dts%' THEN 50.0
                        WHEN audio LIKE '%ac3%' THEN 75.0
                        ELSE 100.0 END) AS DOUBLE PRECISION)
             FROM (SELECT root, folder, video_codec, bit_rate, path, audio,
                          CASE WHEN height >= 1800 THEN 16000000.0
                               WHEN height >= 1300 THEN 10000000.0
                               WHEN height >= 1000 THEN 6000000.0
                               WHEN height >= 700 THEN 3500000.0
                               WHEN height >= 540 THEN 2000000.0
                               WHEN height >= 460 THEN 1500000.0
                               ELSE 1000000.0 END AS norm
                   FROM file WHERE status = 'ok') f
             {only}
             GROUP BY grp ORDER BY grp"
            ),
            &wanted,
        )?;
        Ok(rows
            .iter()
            .map(|r| HealthParts {
                key: r.text(0).trim_end_matches('/').to_string(),
                files: r.int(1),
                codec: r.real(2),
                bit_rate: r.real(3),
                container: r.real(4),
                audio: r.real(5),
            })
            .collect())
    }
}

/// What the analyzers read of a catalogued file (not gone): a narrow row, no probe record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileFacts {
    /// Row id.
    pub id: i64,
    /// The file.
    pub path: String,
    /// Its library root.
    pub root: String,
    /// Size in bytes.
    pub size: i64,
    /// Video codec, when probed.
    pub codec: Option<String>,
    /// Width, when probed.
    pub width: Option<i64>,
    /// Height, when probed.
    pub height: Option<i64>,
    /// Container bit rate, when known.
    pub bit_rate: Option<i64>,
    /// Quick content fingerprint.
    pub fingerprint: String,
    /// `ok` or `error`.
    pub status: String,
    /// Why it could not be read (`error`).
    pub error: Option<String>,
    /// mediaforce wrote it (a promoted encode).
    pub ours: bool,
}

impl Catalog {
    /// Every file that is not gone, narrow, by path.
    pub fn file_facts(&self) -> Result<Vec<FileFacts>, CatalogError> {
        Ok(self
            .query(
                "SELECT id, path, root, size, video_codec, width, height, bit_rate, fingerprint,
                        status, error, ours
                 FROM file WHERE status <> 'gone' ORDER BY path",
                &[],
            )?
            .iter()
            .map(|r| FileFacts {
                id: r.int(0),
                path: r.text(1),
                root: r.text(2),
                size: r.int(3),
                codec: r.opt_text(4),
                width: r.opt_int(5),
                height: r.opt_int(6),
                bit_rate: r.opt_int(7),
                fingerprint: r.text(8),
                status: r.text(9),
                error: r.opt_text(10),
                ours: r.int(11) != 0,
            })
            .collect())
    }
}

/// A plan item in brief (`plan_item`): what the analytics sum of what is still expected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanItemRow {
    /// Its index in the plan.
    pub index: i64,
    /// The source file.
    pub source: String,
    /// Its size when planned.
    pub source_bytes: i64,
    /// The expected size of its encode.
    pub expected_bytes: i64,
    /// The expected saving, percent.
    pub saving_percent: f64,
    /// `high`, `medium` or `low`.
    pub confidence: String,
    /// `strong`, `maybe`...
    pub bucket: String,
}

impl Catalog {
    /// Record plan `plan_id`'s items in brief (each once).
    pub fn record_plan_items(
        &self,
        plan_id: i64,
        items: &[PlanItemRow],
    ) -> Result<(), CatalogError> {
        self.transaction(|tx| {
            for i in items {
                tx.execute(
                    "INSERT INTO plan_item (plan_id, idx, source, source_bytes, expected_bytes,
                         saving_percent, confidence, bucket)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (plan_id, idx) DO NOTHING",
                    params![
                        plan_id,
                        i.index,
                        i.source.clone(),
                        i.source_bytes,
                        i.expected_bytes,
                        i.saving_percent,
                        i.confidence.clone(),
                        i.bucket.clone()
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// The queued or running encode job of any plan's item for `source`, if there is one.
    pub fn live_job_for_source(&self, source: &str) -> Result<Option<i64>, CatalogError> {
        Ok(self
            .query_opt(
                "SELECT j.id FROM plan_item pi JOIN plan p ON p.id = pi.plan_id
                 JOIN job j ON j.key = 'stage:' || p.key || ':' || CAST(pi.idx AS TEXT)
                 WHERE pi.source = ?1 AND j.state IN ('queued', 'running')
                 ORDER BY j.id LIMIT 1",
                params![source],
            )?
            .map(|r| r.int(0)))
    }

    /// The plans whose items are not recorded in brief (plans made before they were): their
    /// ids and keys, oldest first.
    pub fn plans_without_items(&self) -> Result<Vec<(i64, std::path::PathBuf)>, CatalogError> {
        Ok(self
            .query(
                "SELECT p.id, p.key FROM plan p
                 WHERE NOT EXISTS (SELECT 1 FROM plan_item WHERE plan_id = p.id)
                 ORDER BY p.id",
                &[],
            )?
            .iter()
            .map(|r| (r.int(0), std::path::PathBuf::from(r.text(1))))
            .collect())
    }

    /// The items of the current plans (the newest plan holding each source) that nobody has
    /// started (no item of that source past `planned`) or queued (no queued or running job for
    /// it), with their plan's key. The job queue lives in the same database.
    pub fn waiting_plan_items(
        &self,
    ) -> Result<Vec<(std::path::PathBuf, PlanItemRow)>, CatalogError> {
        Ok(self
            .query(
                "SELECT p.key, pi.idx, pi.source, pi.source_bytes, pi.expected_bytes,
                        pi.saving_percent, pi.confidence, pi.bucket
                 FROM plan_item pi JOIN plan p ON p.id = pi.plan_id
                 WHERE pi.plan_id = (SELECT MAX(plan_id) FROM plan_item WHERE source = pi.source)
                   AND NOT EXISTS (SELECT 1 FROM item i
                                   WHERE i.source = pi.source AND i.state <> 'planned')
                   AND NOT EXISTS (SELECT 1 FROM job j
                                   WHERE j.key = 'stage:' || p.key || ':' || CAST(pi.idx AS TEXT)
                                     AND j.state IN ('queued', 'running'))
                 ORDER BY pi.source",
                &[],
            )?
            .iter()
            .map(|r| {
                (
                    std::path::PathBuf::from(r.text(0)),
                    PlanItemRow {
                        index: r.int(1),
                        source: r.text(2),
                        source_bytes: r.int(3),
                        expected_bytes: r.int(4),
                        saving_percent: r.real(5),
                        confidence: r.text(6),
                        bucket: r.text(7),
                    },
                )
            })
            .collect())
    }
}
