//! The regression under the knob model: observations from tuning points, ridge least squares, and
//! nearest neighbours.

use super::shipped::SHIPPED_ORIGIN;
use crate::point::TuningPoint;
use crate::stat::TargetStat;
use serde::Serialize;

/// Features in the order of the coefficients.
pub const TERMS: [&str; 5] = [
    "intercept",
    "ln_bpp",
    "si_mean/100",
    "ti_mean/10",
    "ln_height/1080",
];

pub(super) fn mean_knob(obs: &[Observation]) -> f64 {
    obs.iter().map(|o| o.knob).sum::<f64>() / obs.len() as f64
}

/// Sources the neighbours fit averages.
pub const NEIGHBOURS: usize = 3;

/// The neighbours prediction for `x` from `obs` (which must not be empty).
pub(super) fn neighbours(obs: &[Observation], x: &[f64]) -> f64 {
    neighbours_of(obs, x, |o| o.knob)
}

/// The inverse-distance weighted mean of `value` over the nearest sources to `x`.
pub(super) fn neighbours_of(
    obs: &[Observation],
    x: &[f64],
    value: impl Fn(&Observation) -> f64,
) -> f64 {
    let terms = x.len();
    let spread: Vec<f64> = (1..terms)
        .map(|t| {
            let n = obs.len() as f64;
            let mean = obs.iter().map(|o| o.x[t]).sum::<f64>() / n;
            let var = obs.iter().map(|o| (o.x[t] - mean).powi(2)).sum::<f64>() / n;
            var.sqrt()
        })
        .collect();
    let mut near: Vec<(f64, f64)> = obs
        .iter()
        .map(|o| {
            let d2: f64 = (1..terms)
                .filter(|&t| spread[t - 1] > 1e-9)
                .map(|t| ((o.x[t] - x[t]) / spread[t - 1]).powi(2))
                .sum();
            (d2.sqrt(), value(o))
        })
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    near.truncate(NEIGHBOURS);
    let (mut w, mut k) = (0.0, 0.0);
    for (d, knob) in near {
        let wi = 1.0 / (d + 1e-3);
        w += wi;
        k += wi * knob;
    }
    k / w
}

/// One source's knob at the target, with what it is predicted from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// The source's fingerprint.
    pub source: String,
    /// Whether the source is one of the shipped corpus's public clips (else the store's own).
    pub shipped: bool,
    /// The feature vector (see [`TERMS`]).
    pub x: Vec<f64>,
    /// The knob at which its VMAF reaches the target.
    pub knob: f64,
    /// How much VMAF one knob step costs there (|dVMAF/dknob|).
    pub slope: f64,
}

/// Leave-one-out accuracy of the model on its own sources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    /// The kind of model tried.
    pub kind: ModelKind,
    /// Sources tried.
    pub sources: usize,
    /// Mean |predicted knob - measured knob|.
    pub mean_abs_knob_error: f64,
    /// Root mean square of the knob errors.
    pub rms_knob_error: f64,
    /// Mean VMAF miss that knob error implies (the source's slope times the error).
    pub mean_abs_vmaf_miss: f64,
    /// Share of sources whose implied miss is within 1 VMAF.
    pub within_1_vmaf: f64,
}

/// The feature vector of a source.
pub fn terms(f: &crate::features::SourceFeatures) -> Vec<f64> {
    vec![
        1.0,
        f.bits_per_pixel.max(1e-4).ln(),
        f.si_mean / 100.0,
        f.ti_mean / 10.0,
        (f64::from(f.height.max(1)) / 1080.0).ln(),
    ]
}

pub(super) fn stat_of(p: &TuningPoint, stat: TargetStat) -> f64 {
    match stat {
        TargetStat::Mean => p.vmaf_mean,
        TargetStat::Harmonic => p.vmaf_harmonic,
        TargetStat::P5 => p.vmaf_p5,
        TargetStat::P1 => p.vmaf_p1,
        TargetStat::Min => p.vmaf_min,
    }
}

/// Each source's two measured points of `encoder` and `preset` (at the source's own size)
/// that bracket `target` in `stat`, and where between them the target lies (0 at the first,
/// 1 at the second); sources whose points do not bracket the target are left out.
pub(super) fn brackets<'a>(
    points: &'a [TuningPoint],
    encoder: &str,
    preset: &str,
    stat: TargetStat,
    target: f64,
) -> Vec<(&'a TuningPoint, &'a TuningPoint, f64)> {
    let mut by_source: std::collections::BTreeMap<&str, Vec<&TuningPoint>> = Default::default();
    for p in points
        .iter()
        .filter(|p| p.encoder == encoder && p.preset == preset && p.native())
    {
        by_source.entry(&p.source_fingerprint).or_default().push(p);
    }
    let mut out = Vec::new();
    for (_, mut ps) in by_source {
        ps.sort_by(|a, b| a.knob.total_cmp(&b.knob));
        ps.dedup_by(|a, b| a.knob == b.knob);
        let found = ps.windows(2).find_map(|w| {
            let (a, b) = (stat_of(w[0], stat), stat_of(w[1], stat));
            ((a >= target && b <= target) || (a <= target && b >= target)).then(|| {
                let t = if (a - b).abs() < 1e-9 {
                    0.0
                } else {
                    (a - target) / (a - b)
                };
                (w[0], w[1], t)
            })
        });
        out.extend(found);
    }
    out
}

/// Each source's knob at `target` from its measured points of `encoder` and `preset`
/// (sources whose points do not bracket the target are left out).
pub fn observations(
    points: &[TuningPoint],
    encoder: &str,
    preset: &str,
    stat: TargetStat,
    target: f64,
) -> Vec<Observation> {
    brackets(points, encoder, preset, stat, target)
        .into_iter()
        .map(|(lo, hi, t)| {
            let slope = (stat_of(lo, stat) - stat_of(hi, stat)) / (hi.knob - lo.knob);
            Observation {
                source: lo.source_fingerprint.clone(),
                shipped: lo.origin == SHIPPED_ORIGIN,
                x: terms(&lo.features),
                knob: lo.knob + t * (hi.knob - lo.knob),
                slope: slope.abs(),
            }
        })
        .collect()
}

/// Ridge regression of knob on features (the intercept is not shrunk). With fewer sources
/// than terms, only the intercept (their mean) is fitted.
pub fn fit(obs: &[Observation], lambda: f64) -> Option<(Vec<f64>, f64)> {
    if obs.is_empty() {
        return None;
    }
    let p = if obs.len() > TERMS.len() + 1 {
        TERMS.len()
    } else {
        1
    };
    let mut a = vec![vec![0.0; p]; p];
    let mut b = vec![0.0; p];
    for o in obs {
        for (i, (row, bi)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
            *bi += o.x[i] * o.knob;
            for (j, cell) in row.iter_mut().enumerate() {
                *cell += o.x[i] * o.x[j];
            }
        }
    }
    for (i, row) in a.iter_mut().enumerate().skip(1) {
        row[i] += lambda * obs.len() as f64;
    }
    let mut beta = solve(a, b)?;
    beta.resize(TERMS.len(), 0.0);
    let sse: f64 = obs
        .iter()
        .map(|o| (predict_with(&beta, &o.x) - o.knob).powi(2))
        .sum();
    let dof = (obs.len() as f64 - p as f64).max(1.0);
    Some((beta, (sse / dof).sqrt()))
}

pub(super) fn predict_with(beta: &[f64], x: &[f64]) -> f64 {
    beta.iter().zip(x).map(|(b, x)| b * x).sum()
}

/// Gaussian elimination with partial pivoting; `None` when singular.
pub(super) fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for c in 0..n {
        let pivot = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[pivot][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, pivot);
        b.swap(c, pivot);
        let (top, rest) = a.split_at_mut(c + 1);
        let pivot_row = &top[c];
        for (r, row) in rest.iter_mut().enumerate() {
            let f = row[c] / pivot_row[c];
            for (cell, p) in row.iter_mut().zip(pivot_row).skip(c) {
                *cell -= f * p;
            }
            b[c + 1 + r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// Sources a model needs before the search trusts it for a first probe.
pub const MIN_SOURCES: usize = 6;

/// The ridge strength used.
pub const LAMBDA: f64 = 1e-2;

/// How a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// The ridge regression over [`TERMS`].
    Linear,
    /// The inverse-distance-weighted knob of the [`NEIGHBOURS`] most similar sources
    /// (features scaled by their spread): follows curved relations the linear fit cannot.
    Neighbours,
    /// The mean knob of the sources, whatever the features: chosen when neither fit predicts
    /// a left-out source better than the others' mean does (the features do not tell the
    /// sources apart), so the guess is never worse than the plain average.
    Mean,
}
