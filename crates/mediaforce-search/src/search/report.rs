//! What a search measures and reports: probes, outcomes and errors.

use crate::codecs;
use crate::metrics::Pooled;
use serde::Serialize;
use std::path::PathBuf;

use super::samples::{Placement, SampleSpan};
use crate::stat::TargetStat;

/// One measured knob value.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Probe {
    /// Knob value.
    pub knob: f64,
    /// Whether this result came from the probe cache.
    #[serde(default)]
    pub cached: bool,
    /// The figure steered by: the target statistic over all sample frames (with gates, the
    /// target plus the smallest margin; see [`SearchConfig::score_of`](crate::search::SearchConfig::score_of)).
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
    /// Means of the extra metrics asked for ([`SearchConfig::metrics`](crate::search::SearchConfig::metrics)) over all sample frames,
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
pub(super) fn uncertainty(
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
    /// [`encode_to_target`](crate::search::encode_to_target) applies the guard to the size it measures).
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

/// The result of [`crf_search`](crate::search::crf_search).
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
    /// ([`SearchConfig::resolution`](crate::search::SearchConfig::resolution)); scores are of the encode upscaled to the source's size.
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

/// Damage concealed while decoding the samples: how much and where.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub(super) struct Concealed {
    pub(super) errors: u64,
    pub(super) seconds: Vec<f64>,
}

/// The decoded samples' spans as the probe cache keeps them.
#[derive(Debug, Serialize, serde::Deserialize)]
pub(super) struct CachedSpans {
    pub(super) spans: Vec<SampleSpan>,
    pub(super) concealed: Concealed,
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The event sink asked to stop.
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
