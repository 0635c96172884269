//! How to search: the plain-data configuration and its defaults.

use crate::metrics::{Pooled, Scale};

use crate::stat::TargetStat;

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
    /// ([`encode_to_target`](crate::search::encode_to_target) only).
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
