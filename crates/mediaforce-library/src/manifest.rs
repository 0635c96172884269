//! Run manifests: the reviewable plan, items in priority order with everything later commands
//! need (source, resolved policy, staging path, stream summaries). A plan is a row of the
//! catalog (so every host sharing the catalog sees it) and a versioned JSON export in
//! `<data dir>/manifests/`, whose path is the plan's key. Later commands use the newest plan
//! (the newest row, not the newest file) unless told otherwise.

use crate::catalog::{Catalog, CatalogError, FileRecord};
use crate::core::probe::StreamKind;
use crate::policy::{Policy, PolicySet};
use crate::rank::{Bucket, Ranking};
use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Format version written into every manifest.
pub const MANIFEST_VERSION: u32 = 1;

/// Errors reading or writing manifests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// File system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not a manifest, or a newer version.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No manifest yet.
    #[error("no plan in {}: run `mediaforce plan` (or `mediaforce campaign PREFIX`) first", dir.display())]
    NoneYet {
        /// Manifest directory.
        dir: PathBuf,
    },
    /// Catalog error.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

pub use crate::item_kind::{ItemKind, StreamStep};

/// One planned item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestItem {
    /// What the item does: `encode` (the default, and every item of older plans), `remux` or
    /// `audio`.
    #[serde(default)]
    pub kind: ItemKind,
    /// A remux or audio item's streams and what happens to each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamStep>,
    /// Position in the plan (what `--index` refers to).
    pub index: usize,
    /// Catalog file id.
    pub file_id: i64,
    /// Source path.
    pub source: PathBuf,
    /// Source size.
    pub source_bytes: u64,
    /// Bucket label.
    pub bucket: String,
    /// Why.
    pub reason: String,
    /// Priority score (expected bytes saved).
    pub score: f64,
    /// Expected output size.
    pub expected_bytes: u64,
    /// Expected saving, percent.
    pub expected_saving_percent: f64,
    /// Confidence of the estimate.
    pub confidence: String,
    /// Where the encode is staged.
    pub staging: PathBuf,
    /// The resolved policy.
    pub policy: Policy,
    /// Video summary (`h264 1920x1080 23.976 fps 8-bit`).
    pub video: String,
    /// One line per audio stream.
    pub audio: Vec<String>,
    /// One line per subtitle stream.
    pub subtitles: Vec<String>,
}

/// A file the plan leaves out, with its label.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkippedItem {
    /// Path.
    pub source: PathBuf,
    /// Bucket label.
    pub bucket: String,
    /// Why.
    pub reason: String,
}

/// A plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Creation time, UTC (`2026-11-22T07:33:00Z`).
    pub created_at: String,
    /// Folder the plan was restricted to.
    pub prefix: Option<PathBuf>,
    /// Staging root at planning time.
    pub transcode_root: PathBuf,
    /// Items, best first.
    pub items: Vec<ManifestItem>,
    /// Everything else under the prefix, labelled.
    pub skipped: Vec<SkippedItem>,
    /// Sum of source sizes of the items.
    pub total_source_bytes: u64,
    /// Sum of expected savings of the items.
    pub total_expected_saving_bytes: u64,
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (proleptic Gregorian, UTC).
pub fn utc_timestamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A catalogued file with its resolved policy and ranking.
#[derive(Debug, Clone)]
pub struct Ranked {
    /// The file.
    pub file: FileRecord,
    /// Its policy.
    pub policy: Policy,
    /// Its ranking.
    pub ranking: Ranking,
}

/// Rank every catalogued file under `prefix` (gone files included, labelled), best first.
pub fn rank_files(
    catalog: &Catalog,
    policies: &PolicySet,
    prefix: Option<&Path>,
) -> Result<Vec<Ranked>, CatalogError> {
    rank_records(catalog, policies, catalog.files_under(prefix)?)
}

/// Rank the catalogued `files`, best first.
fn rank_records(
    catalog: &Catalog,
    policies: &PolicySet,
    files: Vec<crate::catalog::FileRecord>,
) -> Result<Vec<Ranked>, CatalogError> {
    let learned_cache: std::cell::RefCell<HashMap<(String, String), Vec<f64>>> = Default::default();
    let learned = |src: &str, enc: &str| -> Vec<f64> {
        learned_cache
            .borrow_mut()
            .entry((src.to_string(), enc.to_string()))
            .or_insert_with(|| catalog.learned_ratios(src, enc).unwrap_or_default())
            .clone()
    };
    let sizes = crate::rank::SizeModels::new(catalog);
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let policy = policies.resolve(&file.path).policy;
        let ranking = crate::rank::rank_with(
            &file,
            &policy,
            &crate::rank::Evidence {
                learned: &learned,
                sizes: &|p| sizes.for_policy(p),
            },
        );
        out.push(Ranked {
            file,
            policy,
            ranking,
        });
    }
    out.sort_by(|a, b| {
        a.ranking
            .bucket
            .is_candidate()
            .cmp(&b.ranking.bucket.is_candidate())
            .reverse()
            .then(b.ranking.score.total_cmp(&a.ranking.score))
            .then(a.file.path.cmp(&b.file.path))
    });
    Ok(out)
}

/// One-line summaries of the streams of a probe record: (video, audio, subtitles).
pub fn stream_summaries(file: &FileRecord) -> (String, Vec<String>, Vec<String>) {
    let Some(info) = file.probe() else {
        return (String::new(), Vec::new(), Vec::new());
    };
    let video = info
        .primary_video()
        .and_then(|s| s.video.as_ref().map(|v| (s, v)))
        .map(|(s, v)| {
            let mut t = format!("{} {}x{}", s.codec, v.width, v.height);
            if let Some(f) = v.fps {
                t += &format!(" {f:.3} fps");
            }
            if let Some(b) = v.bit_depth {
                t += &format!(" {b}-bit");
            }
            if let Some(h) = v.hdr {
                t += &format!(" {h:?}").to_uppercase();
            }
            if v.interlaced {
                t += " interlaced";
            }
            t
        })
        .unwrap_or_default();
    let lang =
        |s: &crate::core::probe::StreamInfo| s.language.clone().unwrap_or_else(|| "und".into());
    let audio = info
        .streams_of(StreamKind::Audio)
        .map(|s| {
            let ch = s.audio.as_ref().map_or(0, |a| a.channels);
            let kbps = s
                .bit_rate
                .map_or(String::new(), |b| format!(" {} kb/s", b / 1000));
            format!("{} {} {ch} ch{kbps}", lang(s), s.codec)
        })
        .collect();
    let subtitles = info
        .streams_of(StreamKind::Subtitle)
        .map(|s| format!("{} {}", lang(s), s.codec))
        .collect();
    (video, audio, subtitles)
}

/// Build a plan from the ranked files under `prefix`: candidates in priority order (at most
/// `limit`), everything else listed as skipped with its label.
pub fn plan(
    catalog: &Catalog,
    settings: &Settings,
    policies: &PolicySet,
    prefix: Option<&Path>,
    limit: Option<usize>,
) -> Result<Manifest, CatalogError> {
    let ranked = rank_files(catalog, policies, prefix)?;
    Ok(plan_ranked(ranked, settings, prefix, limit))
}

/// Build a plan of exactly the catalogued `files` (new arrivals a watcher or a hook reported;
/// paths the catalog does not hold are left out).
pub fn plan_files(
    catalog: &Catalog,
    settings: &Settings,
    policies: &PolicySet,
    files: &[PathBuf],
) -> Result<Manifest, CatalogError> {
    let mut records = Vec::new();
    for path in files {
        if let Some(f) = catalog.file_by_path(path)? {
            records.push(f);
        }
    }
    let ranked = rank_records(catalog, policies, records)?;
    Ok(plan_ranked(ranked, settings, None, None))
}

fn plan_ranked(
    ranked: Vec<Ranked>,
    settings: &Settings,
    prefix: Option<&Path>,
    limit: Option<usize>,
) -> Manifest {
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    // Files catalogued before a pattern ignored them (a file skipped from the queue, say).
    let matchers = settings.ignore_matchers();
    for r in ranked {
        if settings.is_ignored(&r.file.path, &matchers) {
            skipped.push(SkippedItem {
                source: r.file.path.clone(),
                bucket: "skip: ignored".into(),
                reason: "matches an ignore pattern (settings show)".into(),
            });
            continue;
        }
        let take = r.ranking.bucket.is_candidate() && limit.is_none_or(|l| items.len() < l);
        let staging = settings.staging_path(&r.file.path, &r.policy.encode.container);
        match (take, staging) {
            (true, Some(staging)) => {
                let (video, audio, subtitles) = stream_summaries(&r.file);
                items.push(ManifestItem {
                    kind: ItemKind::Encode,
                    streams: Vec::new(),
                    index: items.len(),
                    file_id: r.file.id,
                    source: r.file.path.clone(),
                    source_bytes: r.file.size,
                    bucket: r.ranking.bucket.label().into(),
                    reason: r.ranking.reason.clone(),
                    score: r.ranking.score,
                    expected_bytes: r.ranking.expected_bytes,
                    expected_saving_percent: r.ranking.expected_saving_percent,
                    confidence: r.ranking.confidence.into(),
                    staging,
                    policy: r.policy,
                    video,
                    audio,
                    subtitles,
                });
            }
            (true, None) => skipped.push(SkippedItem {
                source: r.file.path.clone(),
                bucket: "skip: outside roots".into(),
                reason: "not under a configured root any more".into(),
            }),
            (false, _) if limit.is_none_or(|l| items.len() < l) => {
                match repack_item(&r, settings, items.len()) {
                    Some(item) => items.push(item),
                    None => skipped.push(SkippedItem {
                        source: r.file.path.clone(),
                        bucket: r.ranking.bucket.label().into(),
                        reason: r.ranking.reason.clone(),
                    }),
                }
            }
            (false, _) => skipped.push(SkippedItem {
                source: r.file.path.clone(),
                bucket: if r.ranking.bucket.is_candidate() {
                    "skip: over limit".into()
                } else {
                    r.ranking.bucket.label().into()
                },
                reason: r.ranking.reason.clone(),
            }),
        }
    }
    Manifest {
        version: MANIFEST_VERSION,
        created_at: utc_timestamp(crate::db::now()),
        prefix: prefix.map(Path::to_path_buf),
        transcode_root: settings.transcode_root.clone(),
        total_source_bytes: items.iter().map(|i| i.source_bytes).sum(),
        total_expected_saving_bytes: items
            .iter()
            .map(|i| i.source_bytes.saturating_sub(i.expected_bytes))
            .sum(),
        items,
        skipped,
    }
}

/// A remux or audio item for a file the plan does not re-encode (already efficient, or too
/// small for an encode to pay), when its policy asks for one (see [`crate::repack`]).
fn repack_item(r: &Ranked, settings: &Settings, index: usize) -> Option<ManifestItem> {
    use crate::rank::Bucket;
    if !matches!(
        r.ranking.bucket,
        Bucket::AlreadyEfficient | Bucket::TooSmall
    ) {
        return None;
    }
    let info = r.file.probe()?;
    let plan = crate::repack::repack_plan(&info, r.file.size, &r.policy)?;
    let staging = settings.staging_path(&r.file.path, "mkv")?;
    let (video, audio, subtitles) = stream_summaries(&r.file);
    let saved = r.file.size.saturating_sub(plan.expected_bytes);
    Some(ManifestItem {
        kind: plan.kind,
        streams: plan.steps,
        index,
        file_id: r.file.id,
        source: r.file.path.clone(),
        source_bytes: r.file.size,
        bucket: plan.kind.as_str().into(),
        reason: format!("{} (an encode: {})", plan.reason, r.ranking.reason),
        score: saved as f64,
        expected_bytes: plan.expected_bytes,
        expected_saving_percent: 100.0 * saved as f64 / r.file.size.max(1) as f64,
        confidence: plan.confidence.into(),
        staging,
        policy: r.policy.clone(),
        video,
        audio,
        subtitles,
    })
}

/// The manifest directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("manifests")
}

/// Store `m` in the catalog and export it as `<data dir>/manifests/plan-<timestamp>.json`
/// (atomically); returns the export's path, the plan's key.
pub fn write(m: &Manifest, data_dir: &Path, catalog: &Catalog) -> Result<PathBuf, ManifestError> {
    let d = dir(data_dir);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManifestError::Io { path, source }
    };
    std::fs::create_dir_all(&d).map_err(io(&d))?;
    let stamp: String = m
        .created_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut path = d.join(format!("plan-{stamp}.json"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = d.join(format!("plan-{stamp}-{n}.json"));
    }
    let tmp = d.join(format!(".plan-{stamp}.json.partial-{}", std::process::id()));
    let text = serde_json::to_string_pretty(m).map_err(|e| ManifestError::Invalid {
        path: path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&tmp, &text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    let id = catalog.save_plan(&path, &text)?;
    catalog.record_plan_items(id, &brief(m))?;
    Ok(path)
}

/// A plan's items in brief, as the catalog keeps them beside the plan for the analytics.
pub fn brief(m: &Manifest) -> Vec<crate::catalog::PlanItemRow> {
    m.items
        .iter()
        .map(|i| crate::catalog::PlanItemRow {
            index: i.index as i64,
            source: i.source.to_string_lossy().into_owned(),
            source_bytes: i.source_bytes as i64,
            expected_bytes: i.expected_bytes as i64,
            saving_percent: i.expected_saving_percent,
            confidence: i.confidence.clone(),
            bucket: i.bucket.clone(),
        })
        .collect()
}

/// The newest plan's key. A data directory from before plans were rows has only export
/// files: the newest of them is taken into the catalog.
pub fn latest(catalog: &Catalog, data_dir: &Path) -> Result<PathBuf, ManifestError> {
    if let Some(p) = catalog.latest_plan()? {
        return Ok(p.key);
    }
    let d = dir(data_dir);
    let mut plans: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&d)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("plan-") && n.ends_with(".json")
                })
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .collect()
        })
        .unwrap_or_default();
    plans.sort();
    let (_, path) = plans.pop().ok_or(ManifestError::NoneYet { dir: d })?;
    let text = read_export(&path)?;
    let m = parse(&path, &text)?;
    let id = catalog.save_plan(&path, &text)?;
    catalog.record_plan_items(id, &brief(&m))?;
    Ok(path)
}

fn read_export(path: &Path) -> Result<String, ManifestError> {
    std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A plan from its JSON text (`path` names it in errors); refused when newer than this build.
pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
    let m: Manifest = serde_json::from_str(text).map_err(|e| ManifestError::Invalid {
        path: path.to_path_buf(),
        message: format!("not a mediaforce plan: {e}"),
    })?;
    if m.version > MANIFEST_VERSION {
        return Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "plan version {} is newer than this build ({MANIFEST_VERSION})",
                m.version
            ),
        });
    }
    Ok(m)
}

/// The plan stored under `key`; a plan file the catalog does not hold (one written elsewhere
/// and named with `--manifest`) is read from disk.
pub fn load(catalog: &Catalog, key: &Path) -> Result<Manifest, ManifestError> {
    match catalog.plan(key)? {
        Some(row) => parse(key, &row.body),
        None => parse(key, &read_export(key)?),
    }
}

/// Bucket counts and sizes for reports.
pub fn bucket_totals(ranked: &[Ranked]) -> Vec<(Bucket, usize, u64, u64)> {
    let mut map: std::collections::BTreeMap<Bucket, (usize, u64, u64)> = Default::default();
    for r in ranked {
        let e = map.entry(r.ranking.bucket).or_default();
        e.0 += 1;
        e.1 += r.file.size;
        e.2 += r.ranking.expected_saving_bytes;
    }
    map.into_iter().map(|(b, (n, s, x))| (b, n, s, x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_795_333_980), "2026-11-22T07:53:00Z");
    }
}
