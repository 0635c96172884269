//! Encode to a target VMAF: find the cheapest quality-knob value whose encode still meets a VMAF
//! target, by encoding frame-exact samples in memory, decoding them in memory and scoring them
//! against the source frames. Nothing is written to disk.
//!
//! The search works on any [`CodecAdapter`]: it moves along the
//! adapter's knob in its own steps, starting from the adapter's default for the source height,
//! then interpolating between the measured (knob, score) points that bracket the target.

use crate::codecs::{self, Better, CodecAdapter};
use crate::core::decode::{
    DecodeOptions, FrameConverter, PacketDecoder, ScaleAlgorithm, VideoDecoder,
};
use crate::core::encode::{EncoderOutput, VideoEncoder, VideoEncoderConfig};
use crate::core::ffmpeg_next as ff;
use crate::metrics::{FrameScorer, Pooled, Scale};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use crate::stat::TargetStat;

/// Parse a gate `STAT>=VALUE`, e.g. `p5>=90`.
pub fn parse_gate(s: &str) -> Result<(TargetStat, f64), String> {
    let (stat, value) = s
        .split_once(">=")
        .ok_or_else(|| format!("expected STAT>=VALUE, got '{s}'"))?;
    let stat: TargetStat = stat.parse()?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("'{value}' is not a number"))?;
    Ok((stat, value))
}

/// How to search.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Codec adapter id (`"libsvtav1"`).
    pub encoder: String,
    /// Encoder preset; the adapter's default when `None`.
    pub preset: Option<String>,
    /// Target VMAF for [`stat`](Self::stat).
    pub target: f64,
    /// Statistic that must meet the target.
    pub stat: TargetStat,
    /// Further conditions every result must meet, e.g. `(P5, 90.0)` and `(Min, 80.0)` beside a
    /// mean target of 95.
    pub gates: Vec<(TargetStat, f64)>,
    /// Accept a result in `[target, target + tolerance]` at once.
    pub tolerance: f64,
    /// Number of samples; `None` scales with duration (see [`default_sample_count`]).
    pub samples: Option<usize>,
    /// Length of each sample in seconds (see [`DEFAULT_SAMPLE_SECONDS`]).
    pub sample_seconds: f64,
    /// First knob to try; `None` uses the adapter's default for the resolution.
    pub start_knob: Option<f64>,
    /// Narrow the knob range.
    pub min_knob: Option<f64>,
    /// Narrow the knob range.
    pub max_knob: Option<f64>,
    /// Refuse results whose predicted size exceeds this percentage of the source file.
    pub max_encoded_percent: f64,
    /// VMAF scoring resolution policy.
    pub scale: Scale,
    /// Give up after this many probes.
    pub max_probes: usize,
    /// Upper bound for reference frames held in memory, in bytes; samples are shortened to fit.
    pub memory_budget: u64,
    /// libvmaf threads (0: one per core).
    pub threads: u32,
    /// The probe cache (opened by the caller on the store); `None` disables caching.
    pub cache: Option<std::sync::Arc<crate::cache::ProbeCache>>,
    /// After the full encode, score the whole output and correct the knob if it missed
    /// ([`encode_to_target`] only).
    pub verify: bool,
    /// Closed loop scoring density: score every N-th frame of the full output (1: every frame;
    /// 4 scores a dense sample at about a quarter of libvmaf's cost).
    pub verify_every: u32,
    /// Verify by decoding the source again after the encode (the old way) instead of scoring
    /// the output in the same pass as it is encoded (see [`crate::passverify`]).
    pub verify_separately: bool,
    /// Probe exactly these knob values, in order, instead of searching (the corpus grid of
    /// `mediaforce grid`); empty: search.
    pub knobs: Vec<f64>,
    /// Encode the samples scaled down to this picture height (the width keeps the aspect
    /// ratio) and score them upscaled back to the source's size, as a player shows them (the
    /// ladder's points); `None` or a height at or above the source's: the source's size.
    pub resolution: Option<u32>,
    /// Extra libvmaf metrics each probe also measures (user names of
    /// [`crate::metrics::score::FEATURES`]: `psnr`, `ssim`...).
    pub metrics: Vec<String>,
    /// A knob model: the first probe is its prediction from the source's features (measured
    /// on the samples), instead of `start_knob`.
    pub model: Option<std::sync::Arc<crate::model::KnobModel>>,
}

impl SearchConfig {
    /// The figure the search steers by: with no gates, the target statistic itself; with
    /// gates, the target plus the smallest margin over the target and every gate, so a result
    /// passes exactly when all of them pass and the interpolation still has one number to use.
    pub fn score_of(&self, p: &Pooled) -> f64 {
        let margin = std::iter::once((self.stat, self.target))
            .chain(self.gates.iter().copied())
            .map(|(stat, threshold)| stat.of(p) - threshold)
            .fold(f64::INFINITY, f64::min);
        self.target + margin
    }

    /// Search `encoder` for `target` mean VMAF with defaults elsewhere.
    pub fn new(encoder: &str, target: f64) -> Self {
        Self {
            encoder: encoder.into(),
            preset: None,
            target,
            stat: TargetStat::Mean,
            gates: Vec::new(),
            tolerance: 1.0,
            samples: None,
            sample_seconds: DEFAULT_SAMPLE_SECONDS,
            start_knob: None,
            min_knob: None,
            max_knob: None,
            max_encoded_percent: 80.0,
            scale: Scale::Auto,
            max_probes: 8,
            memory_budget: 2 << 30,
            threads: 0,
            cache: None,
            verify: true,
            verify_every: 1,
            verify_separately: false,
            knobs: Vec::new(),
            resolution: None,
            metrics: Vec::new(),
            model: None,
        }
    }
}

/// Default sample length: 2 s windows. Frames held in memory and cut frame-exactly need no
/// long stretch, and many short windows spread over the film see every kind of scene it has.
/// On an input assembled from nine different clips (`scripts/bench-sampling.sh`, 129 s at
/// 720p), 16 windows of 2 s predicted the whole file's VMAF within 0.2 and its size within
/// 5-16% for x264 and SVT-AV1, where one 20 s window missed the size by 13-39% (the miss that
/// made a size guard refuse an encode the whole file would have passed).
pub const DEFAULT_SAMPLE_SECONDS: f64 = 2.0;

/// Default number of samples for a source of `duration` seconds: one every 8 s, at least one
/// and at most 30 (a minute of 2 s windows for anything over four minutes; a feature film
/// is sampled at 60 s instead of the 200 s ten 20 s windows took).
pub fn default_sample_count(duration: f64) -> usize {
    ((duration / 8.0).round() as usize).clamp(1, 30)
}

/// Where a sample lies in the source.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct SampleSpan {
    /// Start in seconds.
    pub start_seconds: f64,
    /// Frames in the sample.
    pub frames: u64,
}

/// How the samples of a search were placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// One sample covering the whole source (the windows would have covered 85% of it).
    FullPass,
    /// Windows at typical byte rate starting on keyframes, from the container's index.
    KeyframeIndex,
    /// Windows spread evenly (no usable index).
    Even,
}

/// One measured knob value.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Probe {
    /// Knob value.
    pub knob: f64,
    /// Whether this result came from the probe cache.
    #[serde(default)]
    pub cached: bool,
    /// The figure steered by: the target statistic over all sample frames (with gates, the
    /// target plus the smallest margin; see [`SearchConfig::score_of`]).
    pub score: f64,
    /// Pooled VMAF over all sample frames.
    pub vmaf: Pooled,
    /// Mean VMAF of each sample (the spread shows how uneven the content is).
    pub sample_means: Vec<f64>,
    /// Encoded bytes of each sample, in order.
    #[serde(default)]
    pub sample_sizes: Vec<u64>,
    /// Encoded bytes of all samples.
    pub sample_bytes: u64,
    /// Predicted size of the full encode in bytes.
    pub predicted_bytes: u64,
    /// Predicted size as a percentage of the source file.
    pub predicted_percent: f64,
    /// Predicted wall time of the full video encode, in seconds, from the samples' encode speed.
    pub predicted_encode_seconds: f64,
    /// How much the samples disagree: the standard error of the predicted VMAF mean and of the
    /// predicted size (in percentage points of the source), from the spread between samples.
    /// `None` with a single sample (a full pass has nothing to disagree with).
    #[serde(default)]
    pub uncertainty: Option<Uncertainty>,
    /// Means of the extra metrics asked for ([`SearchConfig::metrics`]) over all sample frames,
    /// by libvmaf's output name (`psnr_y`, `float_ssim`...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// The standard errors of a probe's predictions, from the spread between its samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Uncertainty {
    /// Standard error of the predicted VMAF mean, in VMAF points.
    pub vmaf: f64,
    /// Standard error of the predicted size, in percentage points of the source.
    pub percent: f64,
}

impl Probe {
    /// One line for people: `crf 28: VMAF 94.85 (mean 94.85, p5 90.12, min 88.03), predicted
    /// 19.3% of source`, with `(cached)` when the cache answered.
    pub fn describe(&self, knob_name: &str) -> String {
        format!(
            "{knob_name} {}: VMAF {:.2} (mean {:.2}, p5 {:.2}, min {:.2}), predicted {:.1}% of source{}",
            self.knob,
            self.score,
            self.vmaf.mean,
            self.vmaf.p5,
            self.vmaf.min,
            self.predicted_percent,
            if self.cached { " (cached)" } else { "" }
        )
    }

    /// Whether the samples disagree so much that the size guard's verdict could go either
    /// way: the limit lies within two standard errors below the predicted size.
    pub fn size_uncertain(&self, limit_percent: f64) -> bool {
        self.uncertainty.is_some_and(|u| {
            self.predicted_percent > limit_percent
                && self.predicted_percent - 2.0 * u.percent <= limit_percent
        })
    }
}

/// Standard errors of the mean VMAF and of the size from per-sample figures: each sample's
/// mean VMAF, and its bytes a frame.
fn uncertainty(
    means: &[f64],
    bytes: &[u64],
    frames: &[usize],
    percent: f64,
) -> Option<Uncertainty> {
    let n = means.len();
    if n < 2 || bytes.len() != n || frames.len() != n {
        return None;
    }
    let se = |xs: &[f64]| {
        let m = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        (m, var.sqrt() / (n as f64).sqrt())
    };
    let (_, vmaf) = se(means);
    let rates: Vec<f64> = bytes
        .iter()
        .zip(frames)
        .map(|(b, f)| *b as f64 / (*f).max(1) as f64)
        .collect();
    let (mean_rate, rate_se) = se(&rates);
    Some(Uncertainty {
        vmaf,
        percent: if mean_rate > 0.0 {
            percent * rate_se / mean_rate
        } else {
            0.0
        },
    })
}

/// How a search ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// A knob value met the target and the size guard.
    Found {
        /// The chosen probe.
        chosen: Probe,
    },
    /// A knob value met the target, but its predicted size is over the size guard by less
    /// than the samples disagree: the samples cannot tell, so a full encode decides (and
    /// [`encode_to_target`] applies the guard to the size it measures).
    Uncertain {
        /// The chosen probe.
        chosen: Probe,
        /// What the samples say and why they cannot decide.
        reason: String,
    },
    /// Nothing in range met both; `best` is the attempt that came closest.
    NotFound {
        /// Why.
        reason: String,
        /// The best attempt, if any probe ran.
        best: Option<Probe>,
    },
}

/// The result of [`crf_search`].
#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    /// Source.
    pub input: PathBuf,
    /// Adapter id.
    pub encoder: String,
    /// Preset used.
    pub preset: String,
    /// Knob name (`"crf"`).
    pub knob_name: String,
    /// Target value.
    pub target: f64,
    /// Target statistic.
    pub stat: TargetStat,
    /// Pixel format encoded in.
    pub pixel_format: String,
    /// Samples used.
    pub samples: Vec<SampleSpan>,
    /// How the samples were placed.
    pub placement: Placement,
    /// Every probe in the order run.
    pub probes: Vec<Probe>,
    /// The size the source picture was cropped to for the encoder (see
    /// [`crate::core::encode::encodable_size`]); `None` when encoded whole.
    pub cropped_to: Option<(u32, u32)>,
    /// The picture size the samples were encoded at when scaled down
    /// ([`SearchConfig::resolution`]); scores are of the encode upscaled to the source's size.
    pub scaled_to: Option<(u32, u32)>,
    /// Damaged packets or frames of the source concealed while decoding the samples.
    pub source_decode_errors: u64,
    /// Where the first of them were, in seconds from the start.
    pub source_decode_error_seconds: Vec<f64>,
    /// The outcome.
    pub outcome: Outcome,
    /// Wall time of the search in seconds.
    pub seconds: f64,
    /// The source's features, measured on the samples (SI/TI) and from its headers.
    pub features: Option<crate::features::SourceFeatures>,
}

impl SearchReport {
    /// The chosen probe, when the search found one.
    pub fn chosen(&self) -> Option<&Probe> {
        match &self.outcome {
            Outcome::Found { chosen } | Outcome::Uncertain { chosen, .. } => Some(chosen),
            Outcome::NotFound { .. } => None,
        }
    }
}

/// What a search reports as it goes.
#[derive(Debug)]
pub enum SearchEvent<'a> {
    /// Samples were placed and their reference frames decoded.
    SamplesReady(&'a [SampleSpan]),
    /// A probe at this knob value starts.
    ProbeStarted(f64),
    /// Frames of the probe under way encoded, decoded and scored so far (about twice a
    /// second), out of all sample frames, at `fps` frames a second.
    ProbeProgress {
        /// Frames scored.
        frames: u64,
        /// Frames in all samples.
        total: u64,
        /// Frames a second since the probe started.
        fps: f64,
    },
    /// A probe finished.
    ProbeScored(&'a Probe),
    /// Decoding the samples found damaged data in the source (concealed, as players do).
    SourceDamaged {
        /// Damaged packets or frames.
        errors: u64,
        /// Where the first of them were, in seconds.
        seconds: &'a [f64],
    },
}

/// Damage concealed while decoding the samples: how much and where.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
struct Concealed {
    errors: u64,
    seconds: Vec<f64>,
}

/// The decoded samples' spans as the probe cache keeps them.
#[derive(Debug, Serialize, serde::Deserialize)]
struct CachedSpans {
    spans: Vec<SampleSpan>,
    concealed: Concealed,
}

/// Receives [`SearchEvent`]s (progress bars, logs, GUIs).
pub trait SearchObserver {
    /// Called for each event.
    fn event(&mut self, event: &SearchEvent<'_>);
    /// Polled before each probe: `true` stops the search with [`SearchError::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl SearchObserver for Quiet {
    fn event(&mut self, _event: &SearchEvent<'_>) {}
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The observer asked to stop.
    #[error("{}: cancelled", path.display())]
    Cancelled {
        /// The source.
        path: PathBuf,
    },
    /// Media layer.
    #[error(transparent)]
    Media(#[from] crate::core::Error),
    /// Metrics layer.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::Error),
    /// Probe cache.
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    /// Codec adapter.
    #[error(transparent)]
    Codec(#[from] codecs::Error),
    /// The adapter's encoder is missing from this build.
    #[error("{encoder}: not available: {reason}")]
    Unavailable {
        /// Adapter id.
        encoder: String,
        /// Why.
        reason: String,
    },
    /// The source cannot be searched.
    #[error("{}: {reason}", path.display())]
    Source {
        /// Source path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The in-memory decode of a probe lost or gained frames.
    #[error("{encoder} at {knob}: {got} frames decoded from {sent} encoded")]
    FrameCount {
        /// Encoder.
        encoder: String,
        /// Knob value.
        knob: f64,
        /// Frames sent.
        sent: usize,
        /// Frames decoded.
        got: usize,
    },
}

impl From<crate::passverify::PassError> for SearchError {
    fn from(e: crate::passverify::PassError) -> Self {
        match e {
            crate::passverify::PassError::Media(e) => Self::Media(e),
            crate::passverify::PassError::Metrics(e) => Self::Metrics(e),
        }
    }
}

struct Sample {
    span: SampleSpan,
    frames: Vec<ff::frame::Video>,
}

struct Source<'a> {
    path: &'a Path,
    /// Pixel format the samples are encoded in.
    pixel: ff::format::Pixel,
    width: u32,
    height: u32,
    /// The picture size the encoder is given (the source's unless a resolution was asked).
    encode_width: u32,
    encode_height: u32,
    depth: u8,
    fps: ff::Rational,
    total_frames: f64,
    size_bytes: u64,
}

/// Place samples: `count` windows of `len` seconds spread evenly, or one full pass when the
/// windows would cover 85% of the source anyway.
pub fn place_samples(duration: f64, count: usize, len: f64) -> Vec<(f64, Option<f64>)> {
    let count = count.max(1);
    if duration <= 0.0 || count as f64 * len >= 0.85 * duration {
        return vec![(0.0, None)];
    }
    (0..count)
        .map(|i| {
            let centre = (i as f64 + 0.5) / count as f64 * duration;
            let start = (centre - len / 2.0).clamp(0.0, (duration - len).max(0.0));
            (start, Some(len))
        })
        .collect()
}

/// Place samples where the content is typical, using the container's keyframe index (see
/// [`crate::core::probe::keyframe_index`]) instead of reading the media.
///
/// The source encoder spent bits where the picture was hard, so the bytes between keyframes
/// measure difficulty for free. The source is split into `count` equal regions as in
/// [`place_samples`]; in each, the window of `len` seconds that starts on a keyframe (a scene
/// cut, when the source encoder placed keyframes at cuts) and whose byte rate is nearest the
/// median window of the whole source is chosen. That keeps samples off credits, black and
/// static stretches, and off the odd burst, and the decode starts on a keyframe instead of
/// decoding up to a GOP of frames it throws away. Windows never overlap. Without a usable index
/// (fewer than three keyframes, or no keyframe in a region), the even placement is used.
pub fn place_samples_indexed(
    duration: f64,
    count: usize,
    len: f64,
    index: &[crate::core::probe::SeekPoint],
) -> (Vec<(f64, Option<f64>)>, Placement) {
    let even = place_samples(duration, count, len);
    if even.len() == 1 && even[0].1.is_none() {
        return (even, Placement::FullPass);
    }
    let last = index.last().map_or(0.0, |p| p.seconds);
    // A partial index (a stream without one gets a few entries from the probe's first
    // seconds) would make the opening minutes look typical: only a complete one is used.
    if index.len() < 3 || last < 0.75 * duration {
        return (even, Placement::Even);
    }
    // Bytes from the start to `t`, interpolated between keyframes; unknown past the last one.
    let bytes_at = |t: f64| -> Option<f64> {
        let i = index.partition_point(|p| p.seconds <= t);
        if i == 0 || i == index.len() {
            return (i == index.len() && (t - last).abs() < 1e-9)
                .then(|| index[index.len() - 1].byte_offset as f64);
        }
        let (a, b) = (index[i - 1], index[i]);
        let f = (t - a.seconds) / (b.seconds - a.seconds).max(1e-9);
        Some(a.byte_offset as f64 + f * (b.byte_offset as f64 - a.byte_offset as f64))
    };
    let rate = |start: f64| -> Option<f64> {
        let end = start + len;
        if end > duration.min(last) + 1e-9 {
            return None;
        }
        Some((bytes_at(end)? - bytes_at(start)?) / len)
    };
    let windows: Vec<(f64, f64)> = index
        .iter()
        .filter_map(|p| rate(p.seconds).map(|r| (p.seconds, r)))
        .filter(|(_, r)| *r > 0.0)
        .collect();
    if windows.is_empty() {
        return (even, Placement::Even);
    }
    let region = duration / even.len() as f64;
    let mut placed = Vec::with_capacity(even.len());
    let mut free_from = 0.0f64;
    for (i, &(even_start, _)) in even.iter().enumerate() {
        let (lo, hi) = (i as f64 * region, (i + 1) as f64 * region);
        let here: Vec<&(f64, f64)> = windows
            .iter()
            .filter(|(s, _)| *s >= lo && *s < hi && *s >= free_from - 1e-9)
            .collect();
        // Typical of this region, not of the whole source: each region stands for its own
        // stretch of the film, so a hard stretch is sampled as hard.
        let mut rates: Vec<f64> = here.iter().map(|w| w.1).collect();
        rates.sort_by(f64::total_cmp);
        let typical = rates.get(rates.len() / 2).copied().unwrap_or(1.0);
        let best = here.into_iter().min_by(|a, b| {
            // Nearest the typical rate; among equals, nearest the even placement.
            let da = (a.1 / typical).ln().abs() + 1e-6 * (a.0 - even_start).abs() / region;
            let db = (b.1 / typical).ln().abs() + 1e-6 * (b.0 - even_start).abs() / region;
            da.total_cmp(&db)
        });
        let start = match best {
            Some(&(s, _)) => s,
            None if even_start >= free_from - 1e-9 => even_start,
            None => continue,
        };
        placed.push((start, Some(len)));
        free_from = start + len;
    }
    if placed.is_empty() {
        (even, Placement::Even)
    } else {
        (placed, Placement::KeyframeIndex)
    }
}

/// Search `input` for the cheapest knob value meeting the target.
///
/// ```no_run
/// use mediaforce_search::search::{crf_search, Quiet, SearchConfig};
/// let report = crf_search("movie.mkv".as_ref(), &SearchConfig::new("libsvtav1", 95.0), &mut Quiet)?;
/// if let Some(p) = report.chosen() {
///     println!("crf {} -> VMAF {:.2}, ~{:.0}% of source", p.knob, p.score, p.predicted_percent);
/// }
/// # Ok::<(), mediaforce_search::search::SearchError>(())
/// ```
pub fn crf_search(
    input: &Path,
    cfg: &SearchConfig,
    observer: &mut dyn SearchObserver,
) -> Result<SearchReport, SearchError> {
    let started = Instant::now();
    let adapter = codecs::find(&cfg.encoder)?;
    adapter
        .availability()
        .map_err(|reason| SearchError::Unavailable {
            encoder: cfg.encoder.clone(),
            reason,
        })?;
    let preset = cfg
        .preset
        .clone()
        .unwrap_or_else(|| adapter.default_preset().to_string());
    // Validate preset and range up front, with the adapter's own error.
    adapter.options(&preset, adapter.default_knob(1080))?;

    let info = crate::core::probe::probe_headers(input)?;
    let stream = info.primary_video().ok_or_else(|| SearchError::Source {
        path: input.to_path_buf(),
        reason: "no video stream".into(),
    })?;
    let v = stream.video.clone().expect("video stream has video info");
    let src_fmt: ff::format::Pixel = v
        .pixel_format
        .as_deref()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| SearchError::Source {
            path: input.to_path_buf(),
            reason: "unknown pixel format".into(),
        })?;
    let fps_f = v.fps.unwrap_or(24.0);
    let fps = ff::Rational::new((fps_f * 1000.0).round() as i32, 1000);
    let duration = info
        .duration_seconds
        .or(stream.duration_seconds)
        .unwrap_or(0.0);
    let pixel = adapter.pick_pixel_format(src_fmt);
    let (width, height) =
        crate::core::encode::encodable_size(adapter.libav_name(), pixel, v.width, v.height);
    let cropped_to = ((width, height) != (v.width, v.height)).then_some((width, height));
    let scaled_to = cfg
        .resolution
        .and_then(|h| scaled_size(adapter.libav_name(), pixel, width, height, h));
    let (encode_width, encode_height) = scaled_to.unwrap_or((width, height));
    let source = Source {
        path: input,
        pixel,
        width,
        height,
        encode_width,
        encode_height,
        depth: v.bit_depth.unwrap_or(8),
        fps,
        total_frames: (duration * fps_f).max(1.0),
        size_bytes: info.size_bytes,
    };

    // Samples, decoded once and reused by every probe.
    let mut count = cfg
        .samples
        .unwrap_or_else(|| default_sample_count(duration));
    // Reference frames are held as decoded: luma plus two chroma planes at the source's
    // subsampling, one or two bytes a sample.
    let sample_bytes =
        crate::core::probe::bit_depth(src_fmt).map_or(2.0, |d| if d > 8 { 2.0 } else { 1.0 });
    let planes = match crate::core::probe::chroma_subsampling(src_fmt).as_deref() {
        Some("4:2:0") => 1.5,
        Some("4:2:2") => 2.0,
        _ => 3.0,
    };
    let bytes_per_frame = (sample_bytes * planes * f64::from(v.width) * f64::from(v.height)) as u64;
    let budget_frames = (cfg.memory_budget / bytes_per_frame.max(1)).max(1);
    let mut sample_len = cfg.sample_seconds;
    // Over the memory budget: fewer windows first (they keep their length, so each still holds
    // a few GOPs), and shorter ones only when a single window does not fit.
    // At 4K a frame is tens of MB: keep at least six windows (or as many as asked, if fewer)
    // and shorten them instead, so the spread between samples still says something.
    let window_frames = (sample_len * fps_f).max(1.0);
    if (count as f64 * window_frames) as u64 > budget_frames {
        let floor = count.min(6);
        count = ((budget_frames as f64 / window_frames) as usize).max(floor);
        if (count as f64 * window_frames) as u64 > budget_frames {
            sample_len = budget_frames as f64 / fps_f / count as f64;
        }
    }
    // The index is an optimisation: a container without one gets the even placement.
    let index = crate::core::probe::keyframe_index(input, stream.index).unwrap_or_default();
    let (windows, placement) = place_samples_indexed(duration, count, sample_len, &index);
    // Each window as decoded: start and frame limit (a full pass is held to the budget).
    let plan: Vec<(f64, u64)> = windows
        .iter()
        .map(|&(start, len)| {
            let max_frames = len.map_or(budget_frames, |l| (l * fps_f).round().max(1.0) as u64);
            (start, max_frames)
        })
        .collect();

    let k = adapter.knob();
    let axis = Axis::new(k, cfg);
    let (lo, hi) = (axis.lo, axis.hi);
    let snap = |x: f64| axis.snap(x);
    let to_u = |knob: f64| axis.to_u(knob);

    let cache = cfg.cache.clone();
    // Keyed by the planned windows, not the decoded frames, so that a rerun answered from the
    // cache does not decode anything.
    // The decoder's version is in the key: the samples' frames come from it.
    let key_base = format!(
        "v3|{}|{}|{}|{:?}|{:?}|{}|{}|{}|{:?}",
        crate::core::version::ffmpeg()
            .libraries
            .iter()
            .find(|(name, _)| name == "libavcodec")
            .map_or_else(String::new, |(_, v)| v.clone()),
        crate::cache::source_fingerprint(input).map_err(|e| SearchError::Source {
            path: input.to_path_buf(),
            reason: e.to_string(),
        })?,
        plan.iter()
            .map(|(start, frames)| format!("{start:.3}+{frames}"))
            .collect::<Vec<_>>()
            .join(","),
        cfg.scale,
        pixel,
        crate::metrics::score::model_for(v.width, v.height),
        crate::metrics::vmaf::version(),
        source.size_bytes,
        cropped_to,
    );
    let spans_key = format!("{key_base}|spans");
    // "features2": packed-RGB sources were measured as flat before, and their cached
    // features are measured again.
    let features_key = format!("{key_base}|features2");
    let stream_bits = stream
        .bit_rate
        .or(info.bit_rate)
        .map(|b| b as f64)
        .or_else(|| (duration > 0.0).then(|| info.size_bytes as f64 * 8.0 / duration));
    let measure = |samples: &[Sample]| -> crate::features::SourceFeatures {
        let depth = u32::from(v.bit_depth.unwrap_or(8));
        let planar = samples
            .first()
            .and_then(|s| s.frames.first())
            .is_some_and(|f| f.planes() >= 2);
        // Packed pictures (RGB, palettes: old animation and screen captures) are measured on
        // their luma, converted to 8-bit 4:2:0 (limited range, like the planar sources').
        let converted: Vec<Vec<ff::frame::Video>> = if planar {
            Vec::new()
        } else {
            let mut to_yuv = FrameConverter::new(
                v.width,
                v.height,
                ff::format::Pixel::YUV420P,
                ScaleAlgorithm::Bicubic,
            );
            samples
                .iter()
                .map(|s| {
                    s.frames
                        .iter()
                        .filter_map(|f| to_yuv.convert(f).ok())
                        .collect()
                })
                .collect()
        };
        fn luma(f: &ff::frame::Video, depth: u32) -> crate::features::Luma<'_> {
            crate::features::Luma {
                data: f.data(0),
                stride: f.stride(0),
                width: f.width() as usize,
                height: f.height() as usize,
                depth,
            }
        }
        let runs: Vec<Vec<crate::features::Luma<'_>>> = if planar {
            samples
                .iter()
                .map(|s| s.frames.iter().map(|f| luma(f, depth)).collect())
                .collect()
        } else {
            converted
                .iter()
                .map(|run| run.iter().map(|f| luma(f, 8)).collect())
                .collect()
        };
        let (si, si_mean, ti, ti_mean, frames) = crate::features::si_ti(&runs, FEATURE_FRAMES);
        crate::features::SourceFeatures {
            si,
            si_mean,
            ti,
            ti_mean,
            frames,
            bits_per_pixel: stream_bits.map_or(0.0, |b| {
                b / (f64::from(v.width) * f64::from(v.height) * fps_f.max(1.0))
            }),
            width: v.width,
            height: v.height,
            fps: fps_f,
            duration_seconds: duration,
            bit_depth: depth,
            hdr: v.hdr.is_some(),
        }
    };
    let decode_samples = || -> Result<(Vec<Sample>, Concealed), SearchError> {
        let mut samples = Vec::new();
        let mut concealed = Concealed::default();
        for &(start, max_frames) in &plan {
            let mut decoder = VideoDecoder::open(
                input,
                DecodeOptions {
                    stream: Some(stream.index),
                    start_seconds: (start > 0.0).then_some(start),
                    max_frames: Some(max_frames),
                    crop: cropped_to,
                    ..DecodeOptions::default()
                },
            )?;
            let mut frames: Vec<ff::frame::Video> = Vec::new();
            while let Some(f) = decoder.next_frame()? {
                frames.push(f.frame);
            }
            concealed.errors += decoder.decode_errors();
            let room = crate::core::decode::MAX_ERROR_TIMES.saturating_sub(concealed.seconds.len());
            concealed
                .seconds
                .extend(decoder.decode_error_seconds().iter().take(room));
            if frames.is_empty() {
                continue;
            }
            samples.push(Sample {
                span: SampleSpan {
                    start_seconds: start,
                    frames: frames.len() as u64,
                },
                frames,
            });
        }
        if samples.is_empty() {
            return Err(SearchError::Source {
                path: input.to_path_buf(),
                reason: "no frames could be decoded for samples".into(),
            });
        }
        Ok((samples, concealed))
    };
    // Samples are decoded once, and only when a probe is not in the cache.
    let cached_spans: Option<CachedSpans> = match &cache {
        Some(c) => c.get_json(&spans_key)?,
        None => None,
    };
    let mut samples: Option<Vec<Sample>> = None;
    let (spans, concealed) = match cached_spans {
        Some(c) => (c.spans, c.concealed),
        None => {
            let (decoded, concealed) = decode_samples()?;
            let spans: Vec<SampleSpan> = decoded.iter().map(|s| s.span).collect();
            if let Some(c) = &cache {
                c.put_json(
                    &spans_key,
                    &CachedSpans {
                        spans: spans.clone(),
                        concealed: concealed.clone(),
                    },
                )?;
            }
            samples = Some(decoded);
            (spans, concealed)
        }
    };
    if concealed.errors > 0 {
        observer.event(&SearchEvent::SourceDamaged {
            errors: concealed.errors,
            seconds: &concealed.seconds,
        });
    }
    observer.event(&SearchEvent::SamplesReady(&spans));
    let cached_features: Option<crate::features::SourceFeatures> = match &cache {
        Some(c) => c.get_json(&features_key)?,
        None => None,
    };
    let features = match cached_features {
        Some(f) => f,
        None => {
            if samples.is_none() {
                samples = Some(decode_samples()?.0);
            }
            let f = measure(samples.as_deref().expect("decoded above"));
            if let Some(c) = &cache {
                c.put_json(&features_key, &f)?;
            }
            f
        }
    };

    let mut probes: Vec<Probe> = Vec::new();
    let grid = !cfg.knobs.is_empty();
    // With a knob model, a first probe that misses is corrected by the slope measured on the
    // sources nearest this one, and the next probe stays within twice the model's uncertainty
    // of its prediction (where the truth lies for nearly every source it knows).
    let learned = cfg.model.as_ref().map(|m| {
        let (knob, sd) = m.predict(&features);
        let mut steer = axis;
        let slope = m.slope(&features);
        if slope.is_finite() && slope > 0.01 {
            steer.knob.vmaf_per_unit = slope;
        }
        (steer, knob, sd)
    });
    let mut fixed: std::collections::VecDeque<f64> = cfg.knobs.iter().map(|&k| snap(k)).collect();
    let mut next = if grid {
        fixed.pop_front()
    } else {
        Some(snap(
            learned
                .map(|(_, knob, _)| knob)
                .or(cfg.start_knob)
                .unwrap_or_else(|| adapter.default_knob(v.height)),
        ))
    };
    while let Some(knob) = next.take() {
        if grid {
            if probes.iter().any(|p| p.knob == knob) {
                next = fixed.pop_front();
                continue;
            }
        } else if probes.len() >= cfg.max_probes || probes.iter().any(|p| p.knob == knob) {
            break;
        }
        if observer.cancelled() {
            return Err(SearchError::Cancelled {
                path: input.to_path_buf(),
            });
        }
        observer.event(&SearchEvent::ProbeStarted(knob));
        let mut key = format!("{key_base}|{}", adapter.fingerprint(&preset, knob)?);
        if let Some((w, h)) = scaled_to {
            key.push_str(&format!("|to{w}x{h}"));
        }
        if !cfg.metrics.is_empty() {
            key.push_str(&format!("|m:{}", cfg.metrics.join(",")));
        }
        let cached: Option<Probe> = match &cache {
            Some(c) => c.get_json(&key)?,
            None => None,
        };
        let p = match cached {
            Some(mut p) => {
                p.cached = true;
                p.score = cfg.score_of(&p.vmaf);
                p
            }
            None => {
                if samples.is_none() {
                    samples = Some(decode_samples()?.0);
                }
                let p = run_probe(
                    adapter.as_ref(),
                    &preset,
                    knob,
                    samples.as_deref().expect("decoded above"),
                    &source,
                    cfg,
                    observer,
                )?;
                if let Some(c) = &cache {
                    c.put_json(&key, &p)?;
                }
                p
            }
        };
        observer.event(&SearchEvent::ProbeScored(&p));
        probes.push(p);
        next = if grid {
            fixed.pop_front()
        } else {
            let points: Vec<Point> = probes.iter().map(Point::of).collect();
            match &learned {
                Some((steer, predicted, sd)) if points.len() == 1 => {
                    next_knob(steer, cfg.target, cfg.tolerance, &points).map(|k| {
                        let reach = (2.0 * sd).max(steer.knob.step);
                        snap(k.clamp(predicted - reach, predicted + reach))
                    })
                }
                _ => next_knob(&axis, cfg.target, cfg.tolerance, &points),
            }
        };
    }

    let passing = probes
        .iter()
        .filter(|p| p.score >= cfg.target)
        .min_by(|a, b| to_u(a.knob).total_cmp(&to_u(b.knob)))
        .cloned();
    let outcome = match passing {
        Some(p) if p.predicted_percent <= cfg.max_encoded_percent => Outcome::Found { chosen: p },
        Some(p) if p.size_uncertain(cfg.max_encoded_percent) => Outcome::Uncertain {
            reason: format!(
                "VMAF {:.2} needs {} {}, predicted at {:.1}% of the source (above the {:.0}% limit), but the samples disagree (standard error {:.1} points of size, {:.2} of VMAF; sample means {:.1}..{:.1}): a full encode decides",
                p.score,
                k.name,
                p.knob,
                p.predicted_percent,
                cfg.max_encoded_percent,
                p.uncertainty.map_or(0.0, |u| u.percent),
                p.uncertainty.map_or(0.0, |u| u.vmaf),
                p.sample_means.iter().copied().fold(f64::INFINITY, f64::min),
                p.sample_means.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ),
            chosen: p,
        },
        Some(p) => Outcome::NotFound {
            reason: format!(
                "VMAF {:.2} needs {} {}, predicted at {:.1}% of the source, above the {:.0}% limit",
                p.score, k.name, p.knob, p.predicted_percent, cfg.max_encoded_percent
            ),
            best: Some(p),
        },
        None => Outcome::NotFound {
            reason: format!("no {} in {lo}..={hi} reached VMAF {}", k.name, cfg.target),
            best: probes
                .iter()
                .max_by(|a, b| a.score.total_cmp(&b.score))
                .cloned(),
        },
    };
    Ok(SearchReport {
        input: input.to_path_buf(),
        encoder: adapter.id().into(),
        preset,
        knob_name: k.name.into(),
        target: cfg.target,
        stat: cfg.stat,
        pixel_format: pixel
            .descriptor()
            .map(|d| d.name().to_string())
            .unwrap_or_default(),
        samples: spans,
        placement,
        probes,
        cropped_to,
        scaled_to,
        source_decode_errors: concealed.errors,
        source_decode_error_seconds: concealed.seconds,
        outcome,
        seconds: started.elapsed().as_secs_f64(),
        features: Some(features),
    })
}

/// The encoder's picture size for `height` lines from a `width`x`source_height` source: the
/// width keeps the aspect ratio, both rounded to even and to what the encoder takes. `None` when
/// `height` is not below the source's (nothing to scale).
pub fn scaled_size(
    encoder: &str,
    pixel: ff::format::Pixel,
    width: u32,
    source_height: u32,
    height: u32,
) -> Option<(u32, u32)> {
    if height >= source_height || height < 16 {
        return None;
    }
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let w = even(f64::from(width) * f64::from(height) / f64::from(source_height));
    let h = even(f64::from(height));
    Some(crate::core::encode::encodable_size(encoder, pixel, w, h))
}

/// Frames whose spatial and temporal information a search measures (spread over its samples).
pub const FEATURE_FRAMES: usize = 48;

/// One measured point of a search: a knob value and the figure steered by there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Knob value.
    pub knob: f64,
    /// The figure steered by (see [`SearchConfig::score_of`]).
    pub score: f64,
}

impl Point {
    fn of(p: &Probe) -> Self {
        Self {
            knob: p.knob,
            score: p.score,
        }
    }
}

/// The next knob value to probe, given the points measured so far (in probe order), or `None`
/// when the search is done: the last point landed in `[target, target + tolerance]`, the
/// passing and failing points are one step apart, or the value it would pick was measured
/// already. A pure decision, the same for every encoder:
///
/// - between the cheapest passing point and the best failing one, interpolate linearly to
///   `target + tolerance / 2` and stay strictly inside the bracket, so each probe narrows it;
/// - with points on one side only, step by the measured slope (or the adapter's typical
///   VMAF per knob unit), at least one knob step and at most a quarter of the knob's range.
pub fn next_knob(axis: &Axis, target: f64, tolerance: f64, points: &[Point]) -> Option<f64> {
    let last = points.last()?;
    if last.score >= target && last.score <= target + tolerance {
        return None;
    }
    let k = &axis.knob;
    let to_u = |knob: f64| axis.to_u(knob);
    let from_u = |u: f64| axis.knob_at(u);
    let snap = |x: f64| axis.snap(x);
    // Cheapest passing point and the best failing point below it.
    let good = points
        .iter()
        .filter(|p| p.score >= target)
        .min_by(|a, b| to_u(a.knob).total_cmp(&to_u(b.knob)));
    let bad = points
        .iter()
        .filter(|p| p.score < target)
        .max_by(|a, b| to_u(a.knob).total_cmp(&to_u(b.knob)));
    let aim = target + tolerance / 2.0;
    let next = match (good, bad) {
        (Some(g), Some(b)) => {
            let (ug, ub) = (to_u(g.knob), to_u(b.knob));
            if (ug - ub).abs() <= k.step + 1e-9 {
                return None;
            }
            let t = ((aim - b.score) / (g.score - b.score)).clamp(0.0, 1.0);
            let mut x = snap(from_u(ub + t * (ug - ub)));
            if (to_u(x) - ub).abs() < 1e-9 {
                x = snap(from_u(ub + k.step));
            } else if (to_u(x) - ug).abs() < 1e-9 {
                x = snap(from_u(ug - k.step));
            }
            x
        }
        (Some(g), None) => snap(from_u(to_u(g.knob) - jump(points, g, aim, k, to_u))),
        (None, Some(b)) => snap(from_u(to_u(b.knob) + jump(points, b, aim, k, to_u))),
        (None, None) => return None,
    };
    (!points.iter().any(|p| p.knob == next)).then_some(next)
}

/// The knob as the search moves along it: `u` is the knob oriented so that larger `u` means
/// better quality (and bigger files), whichever end the encoder calls better, limited to the
/// range a search may use.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    knob: codecs::Knob,
    lo: f64,
    hi: f64,
}

impl Axis {
    fn new(knob: codecs::Knob, cfg: &SearchConfig) -> Self {
        Self::within(knob, cfg.min_knob, cfg.max_knob)
    }

    /// The knob limited to `min..=max` where given (and always to its own range).
    pub fn within(knob: codecs::Knob, min: Option<f64>, max: Option<f64>) -> Self {
        Self {
            knob,
            lo: min.unwrap_or(knob.min).max(knob.min),
            hi: max.unwrap_or(knob.max).min(knob.max),
        }
    }

    fn to_u(self, value: f64) -> f64 {
        if self.knob.better == Better::Lower {
            -value
        } else {
            value
        }
    }

    fn knob_at(self, u: f64) -> f64 {
        self.to_u(u)
    }

    /// Round to the knob's step and clamp to the allowed range.
    fn snap(self, value: f64) -> f64 {
        ((value / self.knob.step).round() * self.knob.step).clamp(self.lo, self.hi)
    }
}

/// VMAF points per oriented knob unit around `from`: measured against another probe when there
/// is one, else the adapter's typical figure ([`codecs::Knob::vmaf_per_unit`]).
fn slope_at(probes: &[Point], from: &Point, knob: &codecs::Knob, to_u: impl Fn(f64) -> f64) -> f64 {
    probes
        .iter()
        .filter(|p| p.knob != from.knob)
        .map(|p| (p.score - from.score) / (to_u(p.knob) - to_u(from.knob)))
        .find(|s| s.is_finite() && *s > 0.01)
        .unwrap_or(knob.vmaf_per_unit.max(0.01))
}

/// How far (in oriented knob units) to move from a one-sided point to reach `aim`: at least one
/// step, at most a quarter of the knob's range.
fn jump(
    probes: &[Point],
    from: &Point,
    aim: f64,
    knob: &codecs::Knob,
    to_u: impl Fn(f64) -> f64,
) -> f64 {
    let range = (knob.max - knob.min).max(knob.step);
    let slope = slope_at(probes, from, knob, to_u);
    ((from.score - aim).abs() / slope).clamp(knob.step, (range / 4.0).max(knob.step))
}

fn run_probe(
    adapter: &dyn CodecAdapter,
    preset: &str,
    knob: f64,
    samples: &[Sample],
    source: &Source<'_>,
    cfg: &SearchConfig,
    observer: &mut dyn SearchObserver,
) -> Result<Probe, SearchError> {
    let mut scorer = FrameScorer::new(
        source.width,
        source.height,
        source.depth,
        cfg.scale,
        None,
        cfg.threads,
    )?
    .with_features(&cfg.metrics)?;
    let mut sample_bytes = 0u64;
    let mut sample_sizes = Vec::new();
    let mut sample_means = Vec::new();
    let mut frames_total = 0usize;
    let mut encode_seconds = 0.0;
    let mut meter = ProbeMeter {
        started: Instant::now(),
        done: 0,
        total: samples.iter().map(|s| s.frames.len() as u64).sum(),
        last_report: Instant::now(),
    };
    for s in samples {
        let mut config = VideoEncoderConfig::new(
            adapter.libav_name(),
            source.encode_width,
            source.encode_height,
            source.pixel,
            source.fps,
        );
        config.options = adapter.options(preset, knob)?;
        config.global_header = false;
        config.source = Some(source.path.to_path_buf());
        let (bytes, seconds, got) =
            encode_and_score(config, &s.frames, &mut scorer, source, observer, &mut meter)?;
        sample_bytes += bytes;
        sample_sizes.push(bytes);
        encode_seconds += seconds;
        if got != s.frames.len() {
            return Err(SearchError::FrameCount {
                encoder: adapter.id().into(),
                knob,
                sent: s.frames.len(),
                got,
            });
        }
        frames_total += got;
        sample_means.push(0.0);
    }
    let scores = scorer.finish()?;
    // Per-sample means from the per-frame scores, in push order.
    let mut offset = 0usize;
    for (mean, s) in sample_means.iter_mut().zip(samples) {
        let n = s.frames.len();
        let slice = &scores.per_frame[offset..offset + n];
        *mean = slice.iter().sum::<f64>() / n as f64;
        offset += n;
    }
    let frames = frames_total.max(1) as f64;
    let predicted_bytes = (sample_bytes as f64 / frames * source.total_frames) as u64;
    let predicted_percent = 100.0 * predicted_bytes as f64 / source.size_bytes.max(1) as f64;
    let sample_frames: Vec<usize> = samples.iter().map(|s| s.frames.len()).collect();
    Ok(Probe {
        knob,
        cached: false,
        score: cfg.score_of(&scores.vmaf),
        vmaf: scores.vmaf,
        uncertainty: uncertainty(
            &sample_means,
            &sample_sizes,
            &sample_frames,
            predicted_percent,
        ),
        sample_means,
        sample_sizes,
        sample_bytes,
        predicted_bytes,
        predicted_percent,
        predicted_encode_seconds: encode_seconds / frames * source.total_frames,
        metrics: scores.features,
    })
}

/// Counts a probe's scored frames for [`SearchEvent::ProbeProgress`].
struct ProbeMeter {
    started: Instant,
    done: u64,
    total: u64,
    last_report: Instant,
}

impl ProbeMeter {
    /// Report `done` frames, at most twice a second.
    fn report(&mut self, observer: &mut dyn SearchObserver, done: u64) {
        if self.last_report.elapsed() < std::time::Duration::from_millis(500) {
            return;
        }
        self.last_report = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        observer.event(&SearchEvent::ProbeProgress {
            frames: done,
            total: self.total,
            fps: done as f64 / secs,
        });
    }
}

/// What the encoder thread of a probe sends the scoring side.
enum EncoderMsg {
    /// The encoder is open: what a decoder of its packets needs.
    Opened(ff::codec::Parameters, ff::Rational),
    /// One compressed packet, in decode order.
    Packet(ff::Packet),
}

/// Encode one sample's frames on a thread of their own while this thread decodes the packets as
/// they come and scores each decoded frame against its reference, so encoding, decoding and
/// scoring overlap instead of running one after another. Returns (compressed bytes, encoder
/// wall seconds, frames decoded). The encoder's wall time is measured while scoring shares the
/// cores, so on a small machine it overstates a lone encode.
fn encode_and_score(
    config: VideoEncoderConfig,
    frames: &[ff::frame::Video],
    scorer: &mut FrameScorer,
    source: &Source<'_>,
    observer: &mut dyn SearchObserver,
    meter: &mut ProbeMeter,
) -> Result<(u64, f64, usize), SearchError> {
    let (tx, rx) = std::sync::mpsc::channel::<EncoderMsg>();
    let (width, height, pixel) = (source.encode_width, source.encode_height, source.pixel);
    // Set by the scoring side when it stops early (cancelled or failed); the encoder checks it
    // every frame, as an encoder with a long lookahead may not emit a packet for many frames.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let stop = &stop;
    std::thread::scope(|scope| {
        let encoder = scope.spawn(move || -> Result<f64, SearchError> {
            let t0 = Instant::now();
            let mut enc = VideoEncoder::open(&config)?;
            let mut to_encoder = FrameConverter::new(width, height, pixel, ScaleAlgorithm::Bicubic);
            // A failed send means the scoring side gave up (cancelled or failed): stop quietly.
            if tx
                .send(EncoderMsg::Opened(enc.parameters(), enc.time_base()))
                .is_err()
            {
                return Ok(t0.elapsed().as_secs_f64());
            }
            let mut gone = false;
            for (i, f) in frames.iter().enumerate() {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(t0.elapsed().as_secs_f64());
                }
                let mut f = to_encoder.convert(f)?;
                f.set_pts(Some(i as i64));
                f.set_kind(ff::picture::Type::None);
                enc.encode(&f, |p| {
                    gone |= tx.send(EncoderMsg::Packet(p)).is_err();
                    Ok(())
                })?;
                if gone {
                    return Ok(t0.elapsed().as_secs_f64());
                }
            }
            enc.send_eof()?;
            while let EncoderOutput::Packet(p) = enc.receive()? {
                if tx.send(EncoderMsg::Packet(p)).is_err() {
                    break;
                }
            }
            Ok(t0.elapsed().as_secs_f64())
        });
        // `rx` is moved in, so it is dropped (and the encoder told to stop) on any early return.
        let scored = (move || -> Result<(u64, usize), SearchError> {
            struct StopOnExit<'a>(&'a std::sync::atomic::AtomicBool);
            impl Drop for StopOnExit<'_> {
                fn drop(&mut self) {
                    self.0.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let _stop_on_exit = StopOnExit(stop);
            let mut decoder: Option<PacketDecoder> = None;
            let mut bytes = 0u64;
            let got = std::cell::Cell::new(0usize);
            let mut failure: Option<crate::metrics::Error> = None;
            let mut push = |d: ff::frame::Video| {
                if failure.is_some() {
                    return;
                }
                if let Some(r) = frames.get(got.get()) {
                    if let Err(e) = scorer.push(r, &d) {
                        failure = Some(e);
                    }
                }
                got.set(got.get() + 1);
            };
            loop {
                // Ctrl-C is honoured inside a probe too: at 1080p one probe takes many seconds,
                // so the wait for the next packet wakes to check it.
                if observer.cancelled() {
                    return Err(SearchError::Cancelled {
                        path: source.path.to_path_buf(),
                    });
                }
                let msg = match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                    Ok(msg) => msg,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                };
                match msg {
                    EncoderMsg::Opened(parameters, time_base) => {
                        decoder = Some(PacketDecoder::new(parameters, time_base, 0)?);
                    }
                    EncoderMsg::Packet(p) => {
                        bytes += p.size() as u64;
                        if let Some(d) = decoder.as_mut() {
                            d.decode(&p, &mut push)?;
                        }
                    }
                }
                meter.report(observer, meter.done + got.get() as u64);
            }
            if let Some(d) = decoder.as_mut() {
                d.finish(&mut push)?;
            }
            meter.done += got.get() as u64;
            if let Some(e) = failure {
                return Err(e.into());
            }
            Ok((bytes, got.get()))
        })();
        let encoded = encoder.join().map_err(|_| SearchError::Source {
            path: source.path.to_path_buf(),
            reason: "the probe's encoder thread panicked".into(),
        })?;
        // An encoder failure explains a short decode better than the decode side's own error,
        // but a cancellation is reported as such.
        match (scored, encoded) {
            (Err(e @ SearchError::Cancelled { .. }), _) => Err(e),
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
            (Ok((bytes, got)), Ok(seconds)) => Ok((bytes, seconds, got)),
        }
    })
}

/// One full encode made by [`encode_to_target`].
#[derive(Debug, Clone, Serialize)]
pub struct FullEncode {
    /// Knob value used.
    pub knob: f64,
    /// The target statistic measured on the whole output (`None` when not verified).
    pub achieved: Option<f64>,
    /// Pooled VMAF of the whole output (`None` when not verified).
    pub vmaf: Option<Pooled>,
    /// How the output was verified: `same_pass` (scored while it was encoded, against the
    /// frames the encoder was given) or `separate` (source and output decoded again afterwards);
    /// `None` when not verified.
    pub verified_by: Option<&'static str>,
    /// Why the same-pass score could not be used, when the encode was then scored separately.
    pub same_pass_error: Option<String>,
    /// Wall seconds of the separate verification (0 when verified in the same pass).
    pub verify_seconds: f64,
    /// Output size in bytes.
    pub bytes: u64,
    /// Output size as a percentage of the source.
    pub percent: f64,
    /// Encode wall time in seconds.
    pub encode_seconds: f64,
    /// Damaged packets or frames of the source concealed while decoding it for this encode.
    pub source_decode_errors: u64,
    /// Where the first of them were, in seconds.
    pub source_decode_error_seconds: Vec<f64>,
    /// Set on the last entry when the output is an earlier encode's, kept because it was the
    /// cheapest that met the target (its index; nothing was encoded again).
    pub kept_from: Option<usize>,
}

/// The result of [`encode_to_target`].
#[derive(Debug, Clone, Serialize)]
pub struct EncodeReport {
    /// The sample search.
    pub search: SearchReport,
    /// Full encodes in order; the last one is the output (at most three: one plus two
    /// corrections, then a copy of the kept one when an earlier encode is the output).
    pub encodes: Vec<FullEncode>,
    /// Output path, when an encode was kept.
    pub output: Option<PathBuf>,
    /// Why no encode was kept when the search chose one: the size guard applied to the
    /// measured size after an [`Outcome::Uncertain`] search, or the target missed.
    pub refused: Option<String>,
}

/// Search, encode the whole file at the chosen knob, score the whole output, and correct the
/// knob (re-encoding, at most twice) when the measured statistic misses the target or
/// overshoots it by more than the tolerance. `base` supplies everything but the encoder and its
/// options (audio mode, deinterlacing...). On a search without a result nothing is written.
pub fn encode_to_target(
    input: &Path,
    output: &Path,
    cfg: &SearchConfig,
    base: &crate::core::transcode::TranscodeOptions,
    observer: &mut dyn SearchObserver,
    progress: &mut dyn crate::core::ProgressSink,
) -> Result<EncodeReport, SearchError> {
    let search = crf_search(input, cfg, observer)?;
    let Some(chosen) = search.chosen().cloned() else {
        return Ok(EncodeReport {
            search,
            encodes: Vec::new(),
            output: None,
            refused: None,
        });
    };
    let adapter = codecs::find(&cfg.encoder)?;
    let k = adapter.knob();
    let axis = Axis::new(k, cfg);
    let snap = |x: f64| axis.snap(x);
    let to_u = |knob: f64| axis.to_u(knob);
    let from_u = |u: f64| axis.knob_at(u);
    let source_bytes = std::fs::metadata(input)
        .map(|m| m.len())
        .unwrap_or(1)
        .max(1);
    // Encode in the pixel format the samples were measured in.
    let pixel: Option<ff::format::Pixel> = search.pixel_format.parse().ok();

    let make_opts = |knob: f64| -> Result<crate::core::transcode::TranscodeOptions, SearchError> {
        let mut opts = base.clone();
        opts.encoder = adapter.libav_name().into();
        opts.encoder_options = adapter.options(&search.preset, knob)?;
        opts.pixel_format = pixel;
        Ok(opts)
    };
    let mut encodes: Vec<FullEncode> = Vec::new();
    let mut knob = chosen.knob;
    let verify = cfg.verify.then_some(crate::passverify::Verify {
        scale: cfg.scale,
        threads: cfg.threads,
        every: cfg.verify_every.max(1),
        separately: cfg.verify_separately,
        depth: search.features.map(|f| f.bit_depth as u8),
    });
    // The cheapest output that met the target so far is kept aside (a hidden name the stale
    // partial sweep knows) while a correction is encoded, so a correction that overshoots
    // never costs the better file.
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let keep_path = output.with_file_name(format!(".{name}.partial-kept-{}", std::process::id()));
    let mut kept: Option<usize> = None;
    // A failed or cancelled correction leaves nothing behind.
    struct RemoveOnDrop(PathBuf);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _cleanup = RemoveOnDrop(keep_path.clone());
    for _ in 0..3 {
        let opts = make_opts(knob)?;
        let (report, verified) =
            crate::passverify::transcode_verified(input, output, &opts, progress, verify)?;
        let vmaf = verified.as_ref().map(|v| v.vmaf);
        let achieved = vmaf.as_ref().map(|v| cfg.score_of(v));
        encodes.push(FullEncode {
            knob,
            achieved,
            vmaf,
            verified_by: verified.as_ref().map(|v| v.by),
            verify_seconds: verified.as_ref().map_or(0.0, |v| v.seconds),
            same_pass_error: verified.and_then(|v| v.same_pass_error),
            bytes: report.output_bytes,
            percent: 100.0 * report.output_bytes as f64 / source_bytes as f64,
            encode_seconds: report.seconds,
            source_decode_errors: report.decode_errors,
            source_decode_error_seconds: report.decode_error_seconds.clone(),
            kept_from: None,
        });
        let Some(achieved) = achieved else {
            break;
        };
        let this = encodes.len() - 1;
        if achieved >= cfg.target && kept.is_none_or(|k| encodes[this].bytes < encodes[k].bytes) {
            std::fs::rename(output, &keep_path).map_err(|e| SearchError::Source {
                path: output.to_path_buf(),
                reason: format!("cannot keep the encode aside: {e}"),
            })?;
            kept = Some(this);
        }
        let miss = achieved < cfg.target || achieved > cfg.target + cfg.tolerance;
        if !miss {
            break;
        }
        let measured: Vec<Point> = encodes
            .iter()
            .filter_map(|e| {
                Some(Point {
                    knob: e.knob,
                    score: e.achieved?,
                })
            })
            .collect();
        let next = if measured.len() >= 2 {
            // Two whole-file measurements: interpolate on the file's own curve, as the search
            // does on its samples.
            next_knob(&axis, cfg.target, cfg.tolerance, &measured)
        } else {
            // Shift the sampled curve by the measured error and step the knob accordingly.
            let aim = cfg.target + cfg.tolerance / 2.0;
            let points: Vec<Point> = search.probes.iter().map(Point::of).collect();
            let slope = slope_at(&points, &Point::of(&chosen), &k, to_u);
            let quarter = (k.max - k.min) / 4.0;
            let delta = ((aim - achieved) / slope).clamp(-quarter, quarter);
            let delta = if delta.abs() < k.step {
                k.step * delta.signum()
            } else {
                delta
            };
            Some(snap(from_u(to_u(knob) + delta)))
        };
        match next.filter(|&n| n != knob && !encodes.iter().any(|e| e.knob == n)) {
            Some(n) => knob = n,
            None => break,
        }
    }
    if cfg.verify {
        match kept {
            // The output is the cheapest encode that met the target.
            Some(k) => {
                std::fs::rename(&keep_path, output).map_err(|e| SearchError::Source {
                    path: output.to_path_buf(),
                    reason: format!("cannot put the kept encode back: {e}"),
                })?;
                if k + 1 != encodes.len() {
                    let mut again = encodes[k].clone();
                    again.kept_from = Some(k);
                    again.encode_seconds = 0.0;
                    again.verify_seconds = 0.0;
                    encodes.push(again);
                }
            }
            None => {
                let _ = std::fs::remove_file(output);
                let refused = Some(format!(
                    "no full encode met {:?} VMAF {}: {}",
                    cfg.stat,
                    cfg.target,
                    encodes
                        .iter()
                        .map(|e| format!(
                            "{} {} measured {:.2}",
                            k.name,
                            e.knob,
                            e.achieved.unwrap_or(f64::NAN)
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                return Ok(EncodeReport {
                    search,
                    encodes,
                    output: None,
                    refused,
                });
            }
        }
    }
    // The samples could not tell whether the size guard holds: the measured size decides.
    if matches!(search.outcome, Outcome::Uncertain { .. }) {
        if let Some(kept) = encodes
            .last()
            .filter(|e| e.percent > cfg.max_encoded_percent)
        {
            let _ = std::fs::remove_file(output);
            let refused = Some(format!(
                "the full encode at {} {} measured {:.1}% of the source, above the {:.0}% limit",
                k.name, kept.knob, kept.percent, cfg.max_encoded_percent
            ));
            return Ok(EncodeReport {
                search,
                encodes,
                output: None,
                refused,
            });
        }
    }
    Ok(EncodeReport {
        search,
        encodes,
        output: Some(output.to_path_buf()),
        refused: None,
    })
}

#[cfg(test)]
mod tests {
    use super::{next_knob, Axis, Point};

    fn pts(series: &[(f64, f64)]) -> Vec<Point> {
        series
            .iter()
            .map(|&(knob, score)| Point { knob, score })
            .collect()
    }

    #[test]
    fn next_knob_over_recorded_series() {
        // x264: CRF 0..=51 in quarter steps, lower is better.
        let x264 = Axis::within(crate::codecs::find("libx264").unwrap().knob(), None, None);
        let next = |series: &[(f64, f64)]| next_knob(&x264, 95.0, 1.0, &pts(series));
        // Nothing measured: nothing to decide from.
        assert_eq!(next(&[]), None);
        // In [95, 96]: done.
        assert_eq!(next(&[(23.0, 95.4)]), None);
        // Bracketed 97.0 at 23 and 93.0 at 26: interpolate to 95.5, 62.5% of the way from the
        // failing point, 24.125, snapped to the quarter step.
        assert_eq!(next(&[(23.0, 97.0), (26.0, 93.0)]), Some(24.25));
        // A bracket one step wide: the cheaper passing point is the answer.
        assert_eq!(next(&[(24.0, 97.0), (24.25, 93.0)]), None);
        // The interpolation would land on the failing point: one step inside instead.
        assert_eq!(next(&[(23.0, 99.9), (24.0, 94.99)]), Some(23.75));
        // Below the target only: a better (lower) CRF, by the measured slope when there is one:
        // 1 point a CRF unit between 30 and 28, 2.5 points short of 95.5 -> 2.5 lower.
        assert_eq!(next(&[(30.0, 91.0), (28.0, 93.0)]), Some(25.5));
        // Above only: a cheaper (higher) CRF, at least one step, at most a quarter of the range.
        let up = next(&[(20.0, 99.9)]).unwrap();
        assert!(up > 20.0 && up <= 20.0 + 51.0 / 4.0, "{up}");
        // Pinned to one value (--min-crf X --max-crf X): the value measured, nothing next.
        let pinned = Axis::within(x264.knob, Some(28.0), Some(28.0));
        assert_eq!(next_knob(&pinned, 95.0, 1.0, &pts(&[(28.0, 91.0)])), None);
        // At the best end of the range and still short: nothing better to try.
        assert_eq!(next(&[(0.0, 90.0)]), None);
    }

    #[test]
    fn closed_loop_corrects_on_the_whole_files_own_points() {
        // A generated season episode (bench-guess), target 93 with tolerance 1.5: the whole
        // file at crf 19.5 measured 94.69 (above the window), the first correction, stepped by
        // the samples' slope, 92.20 at crf 20.5. The second correction interpolates between
        // those two whole-file measurements (aim 93.75: 62% of the way from 20.5), landing on
        // crf 20, which measured 93.45; the old rule stepped from 19.5 again and chose crf 19
        // (95.74, the dearest of the three).
        let x264 = Axis::within(crate::codecs::find("libx264").unwrap().knob(), None, None);
        let measured = pts(&[(19.5, 94.69), (20.5, 92.20)]);
        assert_eq!(next_knob(&x264, 93.0, 1.5, &measured), Some(20.0));
    }

    #[test]
    fn next_knob_where_higher_is_better() {
        // A knob where higher values are better quality (like a quality level): the same
        // rules, mirrored.
        let mut knob = crate::codecs::find("libx264").unwrap().knob();
        knob.better = crate::codecs::Better::Higher;
        let axis = Axis::within(knob, None, None);
        assert_eq!(
            next_knob(&axis, 95.0, 1.0, &pts(&[(26.0, 97.0), (23.0, 93.0)])),
            Some(25.0)
        );
    }
}
