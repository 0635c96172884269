//! Analytics: what the library holds and what mediaforce saved over a time range. The store
//! sums (per day, per encoder and host, per root, per mix group); this module rolls days up
//! into weeks and months, adds the forecast and the plan's expectations, and names things.

use crate::{App, AppError, ErrorKind, Result};
use mediaforce::catalog::PlanItemRow;
use mediaforce::catalog::{
    EncodeDay, EncoderHost, HealthCounts, HealthParts, MixGroup, QualityBand, SavingDay, DAY,
};
use mediaforce::store::FailedJobs;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The time ranges every view can be filtered by: name and days (0: everything).
pub const RANGES: &[(&str, i64)] = &[("7d", 7), ("30d", 30), ("90d", 90), ("1y", 365), ("all", 0)];

/// The weights of the health score's parts: codec, bit rate, container, audio.
pub const HEALTH_WEIGHTS: [f64; 4] = [0.40, 0.30, 0.15, 0.15];

/// A range name's days (0 for `all`), or an error naming the choices.
pub fn parse_range(name: &str) -> Result<i64> {
    RANGES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
        .ok_or_else(|| {
            AppError::new(
                ErrorKind::Invalid,
                format!(
                    "range {name:?}: not one of {}",
                    RANGES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// Everything the Analytics page and `mediaforce stats` show.
#[derive(Debug, Clone, Serialize)]
pub struct StatsView {
    /// The range's name (`30d`).
    pub range: String,
    /// Its first day's start, epoch seconds (`None` for `all`).
    pub since: Option<i64>,
    /// The days the range covers, as days since the Unix epoch: from its first day (for
    /// `all`, the first day anything was promoted or encoded) to today.
    pub first_day: i64,
    /// Today, as days since the Unix epoch (UTC).
    pub today: i64,
    /// When these figures were read, epoch seconds.
    pub generated_at: i64,
    /// Bytes saved.
    pub saved: SavedView,
    /// Encoding work done.
    pub encoding: EncodingView,
    /// Quality delivered against the targets.
    pub quality: QualityView,
    /// The library's codec, container, resolution and HDR mix, now and before mediaforce.
    pub mix: MixView,
    /// Per library root.
    pub roots: Vec<RootView>,
    /// The folders holding the most bytes (at most 20), each with its health score.
    pub folders: Vec<FolderStat>,
    /// Health.
    pub health: HealthView,
    /// The saving expected at the measured rate.
    pub forecast: ForecastView,
    /// The plan items with the largest expected savings that nobody has started or queued
    /// (at most 10).
    pub opportunities: Vec<Opportunity>,
}

/// Savings over time.
#[derive(Debug, Clone, Serialize)]
pub struct SavedView {
    /// Net bytes saved, all time (promotions less rollbacks).
    pub total_bytes: i64,
    /// Net bytes saved in the range.
    pub range_bytes: i64,
    /// Promotions in the range.
    pub promotions: i64,
    /// Rollbacks in the range.
    pub rollbacks: i64,
    /// Per UTC day in the range (days with nothing left out).
    pub days: Vec<Period>,
    /// Per week (starting Monday).
    pub weeks: Vec<Period>,
    /// Per calendar month.
    pub months: Vec<Period>,
}

/// One day, week or month of savings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// Its first day, as days since the Unix epoch.
    pub day: i64,
    /// Its first day (`2026-12-01`), or the month (`2026-12`).
    pub start: String,
    /// Promotions.
    pub promoted: i64,
    /// Rollbacks.
    pub rolled_back: i64,
    /// Net bytes saved in it.
    pub saved_bytes: i64,
    /// Net bytes saved up to its end, all time.
    pub cumulative_bytes: i64,
}

/// Encoding work.
#[derive(Debug, Clone, Serialize)]
pub struct EncodingView {
    /// Encodes in the range.
    pub encodes: i64,
    /// Hours of encoding (wall time of search and encode).
    pub hours: f64,
    /// Bytes of source encoded.
    pub source_bytes: i64,
    /// Per UTC day.
    pub days: Vec<EncodePeriod>,
    /// Per encoder and host.
    pub by_encoder_host: Vec<EncoderHost>,
}

/// One day's encodes.
#[derive(Debug, Clone, Serialize)]
pub struct EncodePeriod {
    /// The day, as days since the Unix epoch.
    pub day: i64,
    /// The day (`2026-12-01`).
    pub start: String,
    /// Encodes.
    pub encodes: i64,
    /// Hours.
    pub hours: f64,
}

/// Quality delivered.
#[derive(Debug, Clone, Serialize)]
pub struct QualityView {
    /// Encodes by where their measured statistic fell against their target.
    pub bands: Vec<QualityBand>,
    /// Encodes measured against a recorded target.
    pub measured: i64,
    /// Of those, at or above the target.
    pub met: i64,
    /// Full re-encodes the closed loop made.
    pub corrections: i64,
}

/// A mix, now and before.
#[derive(Debug, Clone, Serialize)]
pub struct MixView {
    /// The library as it is.
    pub now: MixSide,
    /// As it was before mediaforce promoted anything (promoted files counted as their
    /// sources).
    pub before: MixSide,
}

impl MixView {
    /// Each dimension's name with its shares now and before, in the order pages show them.
    pub fn dimensions(&self) -> [(&'static str, &[Share], &[Share]); 4] {
        let (n, b) = (&self.now, &self.before);
        [
            ("codec", &n.codec, &b.codec),
            ("container", &n.container, &b.container),
            ("resolution", &n.resolution, &b.resolution),
            ("dynamic range", &n.hdr, &b.hdr),
        ]
    }
}

/// One side of the mix: each dimension's shares, largest first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MixSide {
    /// By video codec.
    pub codec: Vec<Share>,
    /// By container (the name's extension).
    pub container: Vec<Share>,
    /// By height class.
    pub resolution: Vec<Share>,
    /// By dynamic range (`sdr`, `pq`, `hlg`).
    pub hdr: Vec<Share>,
}

/// Files and bytes of one value of a dimension.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    /// The value (`h264`, `mkv`, `1080p`, `sdr`).
    pub name: String,
    /// Files.
    pub files: i64,
    /// Bytes.
    pub bytes: i64,
}

/// One library root.
#[derive(Debug, Clone, Serialize)]
pub struct RootView {
    /// The root.
    pub root: PathBuf,
    /// Live files.
    pub files: i64,
    /// Their bytes.
    pub bytes: i64,
    /// Files promoted.
    pub promoted: i64,
    /// Bytes those promotions saved.
    pub saved_bytes: i64,
    /// Plan items under it that nobody has started or queued.
    pub candidates: i64,
    /// Their expected saving.
    pub expected_saving_bytes: i64,
    /// The same by the estimates' confidence.
    pub expected_by_confidence: ConfidenceSplit,
    /// Days to encode the candidates at the range's measured throughput (`None` when nothing
    /// was encoded in the range).
    pub backlog_days: Option<f64>,
    /// The health score (0-100) and its parts.
    pub health: HealthScore,
}

/// Expected bytes by the estimates' confidence (`high`: learned from this library).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfidenceSplit {
    /// Learned from this library's own encodes.
    pub high: i64,
    /// From the model.
    pub medium: i64,
    /// From the model with the bit rate unknown.
    pub low: i64,
}

/// A health score and its parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthScore {
    /// The weighted score, 0-100.
    pub score: f64,
    /// The parts, each 0-100.
    #[serde(flatten)]
    pub parts: HealthParts,
}

/// One folder's files, bytes and saving.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FolderStat {
    /// The folder.
    pub folder: PathBuf,
    /// Live files directly in it.
    pub files: i64,
    /// Their bytes.
    pub bytes: i64,
    /// Bytes their promotions saved.
    pub saved_bytes: i64,
    /// The folder's health score and its parts.
    pub health: HealthScore,
}

/// Health of the library and the queue.
#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    /// The library's score (files weighted across roots).
    pub score: f64,
    /// Counts.
    #[serde(flatten)]
    pub counts: HealthCounts,
    /// Jobs failed in the range, by worker, kind and cause.
    pub failed_jobs: Vec<FailedJobs>,
}

/// The saving to expect at the range's measured daily rate.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastView {
    /// Net bytes saved per day in the range.
    pub daily_bytes: f64,
    /// Days the rate is measured over.
    pub days_measured: i64,
    /// Total saved 30, 90 and 365 days from now at that rate.
    pub in_30_days: i64,
    /// ... 90 days.
    pub in_90_days: i64,
    /// ... 365 days.
    pub in_365_days: i64,
}

/// A plan item that nobody has started or queued.
#[derive(Debug, Clone, Serialize)]
pub struct Opportunity {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its expected saving.
    pub expected_saving_bytes: u64,
    /// In percent.
    pub expected_saving_percent: f64,
    /// `strong` or `maybe`.
    pub bucket: String,
    /// The estimate's confidence.
    pub confidence: String,
}

/// The day (`2026-12-01`) of a day number.
fn date(day: i64) -> String {
    mediaforce::manifest::utc_timestamp(day * DAY)[..10].to_string()
}

/// Roll days up into periods keyed by `key` (a day's week or month), with the running total
/// carried from `before` (the net saving before the first day).
fn periods(days: &[SavingDay], before: i64, key: impl Fn(i64) -> String) -> Vec<Period> {
    let mut out: Vec<Period> = Vec::new();
    let mut total = before;
    for d in days {
        let net = d.promoted_bytes - d.rolled_back_bytes;
        total += net;
        let k = key(d.day);
        match out.last_mut() {
            Some(p) if p.start == k => {
                p.promoted += d.promoted;
                p.rolled_back += d.rolled_back;
                p.saved_bytes += net;
                p.cumulative_bytes = total;
            }
            _ => out.push(Period {
                day: d.day,
                start: k,
                promoted: d.promoted,
                rolled_back: d.rolled_back,
                saved_bytes: net,
                cumulative_bytes: total,
            }),
        }
    }
    out
}

/// The savings view of `all` days (oldest first) over the range starting at `first_day`.
pub fn saved_view(all: &[SavingDay], first_day: i64) -> SavedView {
    let net = |d: &SavingDay| d.promoted_bytes - d.rolled_back_bytes;
    let before: i64 = all.iter().filter(|d| d.day < first_day).map(net).sum();
    let range: Vec<SavingDay> = all.iter().filter(|d| d.day >= first_day).cloned().collect();
    // 1970-01-01 was a Thursday: a week starts 3 days before a multiple of 7.
    let monday = |d: i64| date(d - (d + 3).rem_euclid(7));
    SavedView {
        total_bytes: all.iter().map(net).sum(),
        range_bytes: range.iter().map(net).sum(),
        promotions: range.iter().map(|d| d.promoted).sum(),
        rollbacks: range.iter().map(|d| d.rolled_back).sum(),
        days: periods(&range, before, date),
        weeks: periods(&range, before, monday),
        months: periods(&range, before, |d| date(d)[..7].to_string()),
    }
}

/// The forecast at the range's rate: `days` days measured (at least 1).
pub fn forecast(saved: &SavedView, days: i64) -> ForecastView {
    let days = days.max(1);
    let rate = saved.range_bytes as f64 / days as f64;
    let at = |n: f64| saved.total_bytes + (rate * n).round() as i64;
    ForecastView {
        daily_bytes: rate,
        days_measured: days,
        in_30_days: at(30.0),
        in_90_days: at(90.0),
        in_365_days: at(365.0),
    }
}

/// The weighted health score of a root's parts.
pub fn health_score(p: &HealthParts) -> f64 {
    let [c, b, k, a] = HEALTH_WEIGHTS;
    c * p.codec + b * p.bit_rate.min(100.0) + k * p.container + a * p.audio
}

/// A codec as an encoder produces it (`libsvtav1` makes `av1`).
fn codec_of_encoder(encoder: &str) -> String {
    let e = encoder.to_ascii_lowercase();
    if e.contains("av1") {
        "av1"
    } else if e.contains("265") || e.contains("hevc") {
        "hevc"
    } else if e.contains("264") {
        "h264"
    } else if e.contains("vp9") {
        "vp9"
    } else {
        return e;
    }
    .to_string()
}

/// The container of a name's last five characters (`e.mkv` is `mkv`).
fn container_of(tail: &str) -> String {
    tail.rsplit_once('.')
        .map_or_else(|| "none".to_string(), |(_, ext)| ext.to_string())
}

/// Both sides of the mix from the store's groups.
pub fn mix_view(groups: &[MixGroup]) -> MixView {
    #[derive(Default)]
    struct Side(BTreeMap<(usize, String), (i64, i64)>);
    impl Side {
        fn add(&mut self, dim: usize, name: String, files: i64, bytes: i64) {
            let e = self.0.entry((dim, name)).or_default();
            e.0 += files;
            e.1 += bytes;
        }
        fn done(self) -> MixSide {
            let mut side = MixSide::default();
            for ((dim, name), (files, bytes)) in self.0 {
                let s = Share { name, files, bytes };
                match dim {
                    0 => side.codec.push(s),
                    1 => side.container.push(s),
                    2 => side.resolution.push(s),
                    _ => side.hdr.push(s),
                }
            }
            for v in [
                &mut side.codec,
                &mut side.container,
                &mut side.resolution,
                &mut side.hdr,
            ] {
                v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
            }
            side
        }
    }
    let (mut now, mut before) = (Side::default(), Side::default());
    for g in groups {
        let hdr = if g.hdr.is_empty() {
            "sdr".to_string()
        } else {
            g.hdr.clone()
        };
        let codec_now = match (&g.encoder, g.promoted) {
            (Some(e), true) => codec_of_encoder(e),
            _ => g.codec.clone().unwrap_or_else(|| "unknown".into()),
        };
        let codec_before = match (&g.source_codec, g.promoted) {
            (Some(c), true) => c.clone(),
            _ => g.codec.clone().unwrap_or_else(|| "unknown".into()),
        };
        let container_before = match (&g.source_tail, g.promoted) {
            (Some(t), true) => container_of(t),
            _ => container_of(&g.tail),
        };
        for (side, codec, container, bytes) in [
            (&mut now, codec_now, container_of(&g.tail), g.bytes),
            (&mut before, codec_before, container_before, g.bytes_before),
        ] {
            side.add(0, codec, g.files, bytes);
            side.add(1, container, g.files, bytes);
            side.add(
                2,
                mediaforce::analyze::resolution_class(g.height).to_string(),
                g.files,
                bytes,
            );
            side.add(3, hdr.clone(), g.files, bytes);
        }
    }
    MixView {
        now: now.done(),
        before: before.done(),
    }
}

impl App {
    /// The analytics over `range` (`7d`, `30d`, `90d`, `1y`, `all`).
    ///
    /// A view computed lately for the same range is served again while the store has not
    /// changed (no promotion, rollback, item state change, encode, validation, plan or new or
    /// removed file: a marker of the store, read off indexes) and it is under [`STATS_FRESH`]
    /// old; a server keeps the ranges people look at fresh in the background with
    /// [`App::refresh_stats`].
    pub fn stats(&self, range: &str) -> Result<StatsView> {
        parse_range(range)?;
        let marker = self.catalog.stats_marker()?;
        if let Some(view) = self.stats_cache.fresh(range, &marker) {
            return Ok(view);
        }
        let view = self.compute_stats(range)?;
        self.stats_cache.put(range, marker, &view);
        Ok(view)
    }

    /// Compute again every range asked for in the last ten minutes whose view the store has
    /// changed under (or that is half [`STATS_FRESH`] old), so the next request finds it
    /// ready; the ranges computed.
    pub fn refresh_stats(&self) -> Result<usize> {
        let marker = self.catalog.stats_marker()?;
        let stale = self.stats_cache.stale(&marker);
        for range in &stale {
            let view = self.compute_stats(range)?;
            self.stats_cache.put(range, marker.clone(), &view);
        }
        Ok(stale.len())
    }

    /// The analytics over `range`, computed now.
    fn compute_stats(&self, range: &str) -> Result<StatsView> {
        let days = parse_range(range)?;
        let now = mediaforce::db::now();
        let today = now.div_euclid(DAY);
        let first_day = if days == 0 {
            i64::MIN / 2
        } else {
            today - days + 1
        };
        let since = (days != 0).then(|| first_day * DAY);
        let since_or_zero = since.unwrap_or(0);
        let catalog = &self.catalog;

        let all_days = catalog.savings_by_day(0)?;
        let saved = saved_view(&all_days, first_day);
        let encode_days: Vec<EncodeDay> = catalog.encodes_by_day(since_or_zero)?;
        // The rate is measured from the first day anything happened, within the range.
        let first_seen = all_days
            .iter()
            .map(|d| d.day)
            .find(|d| *d >= first_day)
            .unwrap_or(today);
        let measured_days = if days == 0 {
            today - first_seen + 1
        } else {
            days
        };
        let forecast = forecast(&saved, measured_days);
        let source_bytes: i64 = encode_days.iter().map(|d| d.source_bytes).sum();
        let encoding = EncodingView {
            encodes: encode_days.iter().map(|d| d.encodes).sum(),
            hours: encode_days.iter().map(|d| d.seconds).sum::<f64>() / 3600.0,
            source_bytes,
            days: encode_days
                .iter()
                .map(|d| EncodePeriod {
                    day: d.day,
                    start: date(d.day),
                    encodes: d.encodes,
                    hours: d.seconds / 3600.0,
                })
                .collect(),
            by_encoder_host: catalog.encoder_hosts(since_or_zero)?,
        };
        let bands = catalog.quality_bands(since_or_zero)?;
        let in_bands = |names: &[&str]| -> i64 {
            bands
                .iter()
                .filter(|b| names.contains(&b.band.as_str()))
                .map(|b| b.encodes)
                .sum()
        };
        let quality = QualityView {
            measured: in_bands(&["below", "under_1", "0_to_1", "1_to_2", "2_to_3", "over_3"]),
            met: in_bands(&["0_to_1", "1_to_2", "2_to_3", "over_3"]),
            corrections: bands.iter().map(|b| b.corrections).sum(),
            bands,
        };
        let mix = mix_view(&catalog.mix_groups()?);

        // What is still expected: the current plans' items nobody has started or queued.
        let waiting = self.waiting_plan_items()?;
        let roots_of = self.settings().roots.clone();
        let rate_bytes_per_day = source_bytes as f64 / measured_days.max(1) as f64;
        let parts = catalog.health_parts(None)?;
        let mut roots: Vec<RootView> = Vec::new();
        for t in catalog.root_totals()? {
            let root = PathBuf::from(&t.root);
            let mine: Vec<&PlanItemRow> = waiting
                .iter()
                .filter(|i| {
                    roots_of
                        .iter()
                        .filter(|r| Path::new(&i.source).starts_with(r))
                        .max_by_key(|r| r.as_os_str().len())
                        == Some(&root)
                })
                .collect();
            let bytes: i64 = mine.iter().map(|i| i.source_bytes).sum();
            let saving = |i: &PlanItemRow| (i.source_bytes - i.expected_bytes).max(0);
            let by_confidence = |c: &str| -> i64 {
                mine.iter()
                    .filter(|i| i.confidence == c)
                    .map(|i| saving(i))
                    .sum()
            };
            let part = parts
                .iter()
                .find(|p| p.key == t.root)
                .cloned()
                .unwrap_or_default();
            roots.push(RootView {
                files: t.files,
                bytes: t.bytes,
                promoted: t.promoted,
                saved_bytes: t.saved_bytes,
                candidates: mine.len() as i64,
                expected_saving_bytes: mine.iter().map(|i| saving(i)).sum(),
                expected_by_confidence: ConfidenceSplit {
                    high: by_confidence("high"),
                    medium: by_confidence("medium"),
                    low: by_confidence("low"),
                },
                backlog_days: (rate_bytes_per_day > 0.0).then(|| bytes as f64 / rate_bytes_per_day),
                health: HealthScore {
                    score: health_score(&part),
                    parts: part,
                },
                root,
            });
        }
        let scored: i64 = roots.iter().map(|r| r.health.parts.files).sum();
        let health = HealthView {
            score: if scored == 0 {
                100.0
            } else {
                roots
                    .iter()
                    .map(|r| r.health.score * r.health.parts.files as f64)
                    .sum::<f64>()
                    / scored as f64
            },
            counts: catalog.health_counts()?,
            failed_jobs: self.with_queue(|q| {
                q.failed_by_cause(since_or_zero.saturating_mul(1000))
                    .map_err(crate::review::store_error)
            })?,
        };
        let mut best: Vec<&PlanItemRow> = waiting.iter().collect();
        best.sort_by_key(|i| std::cmp::Reverse(i.source_bytes - i.expected_bytes));
        let opportunities = best
            .iter()
            .take(10)
            .map(|i| Opportunity {
                path: PathBuf::from(&i.source),
                bytes: i.source_bytes.max(0) as u64,
                expected_saving_bytes: (i.source_bytes - i.expected_bytes).max(0) as u64,
                expected_saving_percent: i.saving_percent,
                bucket: i.bucket.clone(),
                confidence: i.confidence.clone(),
            })
            .collect();
        let first_encode = encoding.days.first().map_or(today, |d| d.day);
        Ok(StatsView {
            range: range.to_string(),
            since,
            first_day: if days == 0 {
                first_seen.min(first_encode)
            } else {
                first_day
            },
            today,
            generated_at: now,
            saved,
            encoding,
            quality,
            mix,
            roots,
            folders: {
                let top = catalog.folder_totals(20)?;
                let names: Vec<String> = top.iter().map(|t| t.folder.clone()).collect();
                let health = catalog.health_parts(Some(&names))?;
                top.into_iter()
                    .map(|t| {
                        let parts = health
                            .iter()
                            .find(|p| p.key == t.folder)
                            .cloned()
                            .unwrap_or_default();
                        FolderStat {
                            folder: PathBuf::from(&t.folder),
                            files: t.files,
                            bytes: t.bytes,
                            saved_bytes: t.saved_bytes,
                            health: HealthScore {
                                score: health_score(&parts),
                                parts,
                            },
                        }
                    })
                    .collect()
            },
            health,
            forecast,
            opportunities,
        })
    }

    /// The items of the current plans (the newest plan holding each source) that nobody has
    /// started (their item is still `planned`, or has no row) or queued. Plans made before
    /// their items were kept in brief are read once and recorded.
    pub fn waiting_plan_items(&self) -> Result<Vec<PlanItemRow>> {
        self.record_plan_briefs()?;
        // The queue's tables are made when it is first opened.
        self.with_queue(|_| Ok(()))?;
        Ok(self
            .catalog
            .waiting_plan_items()?
            .into_iter()
            .map(|(_, i)| i)
            .collect())
    }

    /// Record in brief the items of plans made before plans kept them (read once each).
    pub(crate) fn record_plan_briefs(&self) -> Result<()> {
        for (id, key) in self.catalog.plans_without_items()? {
            if let Ok(m) = mediaforce::manifest::load(&self.catalog, &key) {
                self.catalog
                    .record_plan_items(id, &mediaforce::manifest::brief(&m))?;
            }
        }
        Ok(())
    }

    /// Plan the `count` best opportunities of the whole library and queue them; the job ids.
    pub fn queue_opportunities(&self, count: usize) -> Result<Vec<i64>> {
        let plan = self.plan(None, Some(count))?;
        if plan.plan.items.is_empty() {
            return Ok(Vec::new());
        }
        self.enqueue(&crate::Selection {
            index: Vec::new(),
            all: true,
            manifest: Some(plan.manifest),
        })
    }
}

/// How long a computed [`StatsView`] is served again while the store has not changed.
pub const STATS_FRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// Ranges asked for within this long are kept fresh by [`App::refresh_stats`].
const STATS_KEPT: std::time::Duration = std::time::Duration::from_secs(600);

/// The analytics computed lately, by range, with the store's change marker when computed
/// ([`mediaforce::catalog::Catalog::stats_marker`]: the newest item change, encode,
/// validation, plan and file, and the counts of items and live files).
#[derive(Debug, Default)]
pub(crate) struct StatsCache(std::sync::Mutex<BTreeMap<String, CachedStats>>);

#[derive(Debug)]
struct CachedStats {
    marker: Vec<i64>,
    computed: std::time::Instant,
    asked: std::time::Instant,
    view: StatsView,
}

impl StatsCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CachedStats>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The view of `range` if it was computed under `marker` less than [`STATS_FRESH`] ago.
    fn fresh(&self, range: &str, marker: &[i64]) -> Option<StatsView> {
        let mut cache = self.lock();
        let c = cache.get_mut(range)?;
        c.asked = std::time::Instant::now();
        (c.marker == marker && c.computed.elapsed() < STATS_FRESH).then(|| c.view.clone())
    }

    fn put(&self, range: &str, marker: Vec<i64>, view: &StatsView) {
        let now = std::time::Instant::now();
        let mut cache = self.lock();
        let asked = cache.get(range).map_or(now, |c| c.asked);
        cache.insert(
            range.to_string(),
            CachedStats {
                marker,
                computed: now,
                asked,
                view: view.clone(),
            },
        );
    }

    /// The ranges asked for lately whose view is not current under `marker`.
    fn stale(&self, marker: &[i64]) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, c)| c.asked.elapsed() < STATS_KEPT)
            .filter(|(_, c)| c.marker != marker || c.computed.elapsed() >= STATS_FRESH / 2)
            .map(|(r, _)| r.clone())
            .collect()
    }
}

/// What `GET /metrics` exposes, read in one go.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsView {
    /// Jobs by state and kind verb: (state, kind, jobs).
    pub jobs: Vec<(String, String, u64)>,
    /// Net bytes saved, all time.
    pub saved_bytes: i64,
    /// Promotions, all time.
    pub promotions: i64,
    /// Rollbacks, all time.
    pub rollbacks: i64,
    /// Encodes, mean fps and hours per encoder and host, all time.
    pub encoders: Vec<EncoderHost>,
    /// Hosts and whether each is alive (heartbeat within its lease).
    pub hosts: Vec<(String, bool)>,
    /// Notification delivery attempts kept, by channel and outcome: (channel, ok, attempts).
    pub deliveries: Vec<(String, bool, i64)>,
}

impl App {
    /// The figures `GET /metrics` exposes.
    pub fn metrics(&self) -> Result<MetricsView> {
        let days = self.catalog.savings_by_day(0)?;
        let jobs = self.with_queue(|q| {
            q.counts_by_kind()
                .map_err(crate::review::store_error)
                .map(|rows| {
                    rows.into_iter()
                        .map(|(state, kind, n)| (state.as_str().to_string(), kind, n))
                        .collect::<Vec<_>>()
                })
        })?;
        Ok(MetricsView {
            jobs,
            saved_bytes: days
                .iter()
                .map(|d| d.promoted_bytes - d.rolled_back_bytes)
                .sum(),
            promotions: days.iter().map(|d| d.promoted).sum(),
            rollbacks: days.iter().map(|d| d.rolled_back).sum(),
            encoders: self.catalog.encoder_hosts(0)?,
            hosts: self
                .hosts_list()?
                .into_iter()
                .map(|h| (h.name, h.alive))
                .collect(),
            deliveries: self
                .with_connect_db(|db| Ok(mediaforce::store::connect::attempt_counts(db)?))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: i64, promoted: i64, pb: i64, rolled: i64, rb: i64) -> SavingDay {
        SavingDay {
            day,
            promoted,
            promoted_bytes: pb,
            rolled_back: rolled,
            rolled_back_bytes: rb,
        }
    }

    #[test]
    fn days_roll_up_into_weeks_and_months_with_a_running_total() {
        // 2026-11-29 is a Sunday (day 20786), 2026-11-30 a Monday, 2026-12-01 a Tuesday.
        let sunday = 20_786;
        assert_eq!(date(sunday), "2026-11-29");
        let all = [
            day(sunday - 10, 1, 500, 0, 0),
            day(sunday, 2, 1_000, 0, 0),
            day(sunday + 1, 1, 300, 1, 100),
            day(sunday + 2, 1, 50, 0, 0),
        ];
        let v = saved_view(&all, sunday);
        assert_eq!(v.total_bytes, 1_750);
        assert_eq!(v.range_bytes, 1_250);
        assert_eq!((v.promotions, v.rollbacks), (4, 1));
        assert_eq!(v.days.len(), 3);
        assert_eq!(v.days[0].cumulative_bytes, 1_500);
        // The Sunday closes one week; Monday and Tuesday open the next.
        assert_eq!(
            v.weeks
                .iter()
                .map(|p| (p.start.as_str(), p.saved_bytes, p.cumulative_bytes))
                .collect::<Vec<_>>(),
            [("2026-11-23", 1_000, 1_500), ("2026-11-30", 250, 1_750)]
        );
        assert_eq!(
            v.months
                .iter()
                .map(|p| (p.start.as_str(), p.promoted, p.rolled_back, p.saved_bytes))
                .collect::<Vec<_>>(),
            [("2026-11", 3, 1, 1_200), ("2026-12", 1, 0, 50)]
        );
    }

    #[test]
    fn the_forecast_extends_the_measured_rate() {
        let v = saved_view(&[day(100, 1, 3_000, 0, 0), day(101, 1, 3_000, 0, 0)], 100);
        let f = forecast(&v, 30);
        assert_eq!(f.daily_bytes, 200.0);
        assert_eq!(f.in_30_days, 6_000 + 6_000);
        assert_eq!(f.in_365_days, 6_000 + 73_000);
    }

    #[test]
    fn the_mix_counts_a_promoted_file_as_its_encode_now_and_its_source_before() {
        let g =
            |promoted: bool, codec: &str, tail: &str, files: i64, now: i64, before: i64| MixGroup {
                promoted,
                codec: Some(codec.into()),
                encoder: promoted.then(|| "libsvtav1".to_string()),
                source_codec: promoted.then(|| "mpeg4".to_string()),
                height: Some(720),
                hdr: String::new(),
                tail: tail.into(),
                source_tail: promoted.then(|| "m.avi".to_string()),
                files,
                bytes: now,
                bytes_before: before,
            };
        let m = mix_view(&[
            g(false, "h264", "a.mkv", 3, 900, 900),
            // Rescanned after promotion or not, the encode's codec is what it holds now.
            g(true, "mpeg4", "m.mkv", 2, 100, 1_000),
        ]);
        let names = |v: &[Share]| {
            v.iter()
                .map(|s| (s.name.clone(), s.files, s.bytes))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&m.now.codec),
            [("h264".into(), 3, 900), ("av1".into(), 2, 100)]
        );
        assert_eq!(
            names(&m.before.codec),
            [("mpeg4".into(), 2, 1_000), ("h264".into(), 3, 900)]
        );
        assert_eq!(names(&m.now.container), [("mkv".into(), 5, 1_000)]);
        assert_eq!(
            names(&m.before.container),
            [("avi".into(), 2, 1_000), ("mkv".into(), 3, 900)]
        );
        assert_eq!(names(&m.now.hdr), [("sdr".into(), 5, 1_000)]);
    }

    #[test]
    fn the_health_score_weighs_its_parts_40_30_15_15() {
        let p = HealthParts {
            key: "/r".into(),
            files: 1,
            codec: 60.0,
            bit_rate: 50.0,
            container: 100.0,
            audio: 30.0,
        };
        assert!((health_score(&p) - (24.0 + 15.0 + 15.0 + 4.5)).abs() < 1e-9);
        assert!(parse_range("2w")
            .unwrap_err()
            .message
            .contains("7d, 30d, 90d, 1y, all"));
    }
}

/// A duplicate group: the same content in several places.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateView {
    /// Every copy and its size.
    pub files: Vec<(PathBuf, u64)>,
    /// The copy suggested to keep.
    pub keep: PathBuf,
    /// Bytes freed by removing the others (nothing is removed by mediaforce).
    pub reclaimable_bytes: u64,
    /// Confirmed by duration and decoded frames (else only the fingerprint agrees).
    pub confirmed: bool,
    /// What was compared, or why it could not be.
    pub detail: String,
}

/// What the analyzers found.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisView {
    /// The same content in two or more places.
    pub duplicates: Vec<DuplicateView>,
    /// Files far below their folder's bit rate for their resolution.
    pub quality_gaps: Vec<mediaforce::analyze::QualityGap>,
    /// Groups of alike files worth a `calibrate` first.
    pub batches: Vec<mediaforce::analyze::Batch>,
    /// Files that cannot be read, with the cause.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// At most this many duplicate groups are confirmed by decoding (each decodes six frames).
const MAX_DUPLICATE_CHECKS: usize = 50;

impl App {
    /// Run the analyzers over the catalog: duplicates (a shared fingerprint, confirmed by
    /// duration and three decoded frames each), quality gaps (under a quarter of the folder's
    /// median bit rate for the resolution, three files at least), batches of five or more
    /// alike files, and unreadable files. Nothing is changed.
    pub fn analyze(&self) -> Result<AnalysisView> {
        use mediaforce::analyze;
        let files = self.catalog.file_facts()?;
        let duration = |id: i64| -> Option<f64> {
            let rec = self.catalog.file(id).ok()??;
            serde_json::from_str::<mediaforce::core::MediaInfo>(rec.probe_json.as_deref()?)
                .ok()?
                .duration_seconds
        };
        let mut duplicates = Vec::new();
        for (n, group) in analyze::duplicate_candidates(&files)
            .into_iter()
            .enumerate()
        {
            let keep = analyze::keep_of(&group);
            let mut confirmed = n < MAX_DUPLICATE_CHECKS;
            let mut details = Vec::new();
            if n >= MAX_DUPLICATE_CHECKS {
                details.push(format!(
                    "not confirmed: only the {MAX_DUPLICATE_CHECKS} largest groups are decoded"
                ));
            }
            for other in group.iter().filter(|f| f.id != keep.id) {
                if !confirmed {
                    break;
                }
                let said = match (duration(keep.id), duration(other.id)) {
                    (Some(a), Some(b)) => analyze::same_picture(
                        (Path::new(&keep.path), a),
                        (Path::new(&other.path), b),
                    )
                    .map_err(|e| e.to_string()),
                    _ => Err("a duration is unknown".to_string()),
                };
                match said {
                    Ok(Some(d)) => details.push(d),
                    Ok(None) => {
                        confirmed = false;
                        details.push(format!(
                            "not confirmed: {} differs in duration or picture",
                            other.path
                        ));
                    }
                    Err(e) => {
                        confirmed = false;
                        details.push(format!("not confirmed: {e}"));
                    }
                }
            }
            duplicates.push(DuplicateView {
                files: group
                    .iter()
                    .map(|f| (PathBuf::from(&f.path), f.size.max(0) as u64))
                    .collect(),
                keep: PathBuf::from(&keep.path),
                reclaimable_bytes: group
                    .iter()
                    .filter(|f| f.id != keep.id)
                    .map(|f| f.size.max(0) as u64)
                    .sum(),
                confirmed,
                detail: details.last().cloned().unwrap_or_default(),
            });
        }
        Ok(AnalysisView {
            duplicates,
            quality_gaps: analyze::quality_gaps(&files, 0.25, 3),
            batches: analyze::batches(&files, 5),
            unreadable: files
                .iter()
                .filter(|f| f.status == "error")
                .map(|f| {
                    (
                        PathBuf::from(&f.path),
                        f.error.clone().unwrap_or_else(|| "unreadable".into()),
                    )
                })
                .collect(),
        })
    }
}
