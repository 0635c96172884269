//! The expected size of an encode at a quality target, for a plan: from the same measured
//! points the knob model learns from (the shipped corpus and the store's own searches), each
//! source's size at the target is read off its measured curve (the logarithm of its size,
//! interpolated between the two probes that bracket the target), then a least-squares fit
//! maps what the catalog knows of any file, before a sample is decoded, to that size:
//! `[1, ln bits-per-pixel, ln(height / 1080)]`. Its leave-one-out spread is the uncertainty of
//! a prediction. Bits per pixel carry the source's codec and quality: an old codec or a
//! generous bit rate spends many bits on each pixel, and those files shrink the most.

use super::fit::{brackets, solve};
use super::shipped::{with_shipped, SHIPPED_ORIGIN};
use crate::point::TuningPoint;
use crate::stat::TargetStat;
use serde::Serialize;

/// The terms of the size model, in order.
pub const SIZE_TERMS: [&str; 3] = ["intercept", "ln_bpp", "ln_height/1080"];

/// Sources a size model needs before a plan uses it (else the codec table estimates).
pub const MIN_SIZE_SOURCES: usize = 6;

/// One source's size at the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeObservation {
    /// The source's content fingerprint.
    pub source: String,
    /// Its name (path, or the shipped clip's).
    pub name: String,
    /// Its video codec.
    pub codec: String,
    /// Its bits per pixel.
    pub bits_per_pixel: f64,
    /// Its height.
    pub height: u32,
    /// The size at the target, percent of the source (interpolated).
    pub percent: f64,
    /// Whether it is a shipped public clip.
    pub shipped: bool,
}

/// The terms of a file with these properties.
pub fn size_terms(bits_per_pixel: f64, height: u32) -> [f64; 3] {
    [
        1.0,
        bits_per_pixel.max(1e-4).ln(),
        (f64::from(height.max(1)) / 1080.0).ln(),
    ]
}

/// Each source's size at `target` from its measured points of `encoder` and `preset`
/// (sources whose points do not bracket the target are left out).
pub fn size_observations(
    points: &[TuningPoint],
    encoder: &str,
    preset: &str,
    stat: TargetStat,
    target: f64,
) -> Vec<SizeObservation> {
    brackets(points, encoder, preset, stat, target)
        .into_iter()
        .filter(|(lo, hi, _)| lo.percent > 0.0 && hi.percent > 0.0)
        .map(|(lo, hi, t)| {
            let (la, lb) = (lo.percent.ln(), hi.percent.ln());
            SizeObservation {
                source: lo.source_fingerprint.clone(),
                name: lo.source.display().to_string(),
                codec: lo.source_codec.clone(),
                bits_per_pixel: lo.features.bits_per_pixel,
                height: lo.features.height,
                percent: (la + t * (lb - la)).exp(),
                shipped: lo.origin == SHIPPED_ORIGIN,
            }
        })
        .collect()
}

/// Least squares of ln(size) on [`size_terms`]; `None` with fewer sources than terms + 1 or a
/// singular system.
fn fit_size(obs: &[SizeObservation]) -> Option<[f64; 3]> {
    if obs.len() <= SIZE_TERMS.len() {
        return None;
    }
    let mut a = vec![vec![0.0; 3]; 3];
    let mut b = vec![0.0; 3];
    for o in obs {
        let x = size_terms(o.bits_per_pixel, o.height);
        let y = o.percent.ln();
        for i in 0..3 {
            b[i] += x[i] * y;
            for j in 0..3 {
                a[i][j] += x[i] * x[j];
            }
        }
    }
    // A light ridge on the slopes keeps a fit on few, similar sources from running away.
    for (i, row) in a.iter_mut().enumerate().skip(1) {
        row[i] += 0.01 * obs.len() as f64;
    }
    let beta = solve(a, b)?;
    Some([beta[0], beta[1], beta[2]])
}

fn predict_ln(beta: &[f64; 3], bits_per_pixel: f64, height: u32) -> f64 {
    let x = size_terms(bits_per_pixel, height);
    beta.iter().zip(x).map(|(b, x)| b * x).sum()
}

/// How well a way of estimating did on sources it was not fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SizeAccuracy {
    /// Sources predicted.
    pub sources: usize,
    /// Mean |predicted saving - measured saving|, in percentage points of the source.
    pub mean_abs_error_points: f64,
    /// Root mean square error of ln(size) (the spread used as the uncertainty).
    pub rms_ln_error: f64,
    /// Spearman's rank correlation between predicted and measured savings.
    pub rank_correlation: f64,
}

/// Score predictions `(predicted percent, measured percent)` of the same sources.
pub fn accuracy(pairs: &[(f64, f64)]) -> Option<SizeAccuracy> {
    if pairs.len() < 2 {
        return None;
    }
    let n = pairs.len() as f64;
    let mae = pairs.iter().map(|(p, m)| (p - m).abs()).sum::<f64>() / n;
    let rms = (pairs
        .iter()
        .map(|(p, m)| (p.max(1e-6).ln() - m.max(1e-6).ln()).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let predicted: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let measured: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    Some(SizeAccuracy {
        sources: pairs.len(),
        mean_abs_error_points: mae,
        rms_ln_error: rms,
        rank_correlation: spearman(&predicted, &measured),
    })
}

/// Ranks (1-based, ties averaged).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = rank;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation of `a` and `b` (Pearson's on their ranks).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// A fitted size model for one encoder, preset, statistic and target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeModel {
    /// Encoder adapter id.
    pub encoder: String,
    /// Preset.
    pub preset: String,
    /// The statistic the target is for.
    pub stat: TargetStat,
    /// The target.
    pub target: f64,
    /// Coefficients of ln(size percent), one per [`SIZE_TERMS`] entry.
    pub coefficients: [f64; 3],
    /// Sources it was fitted on.
    pub sources: usize,
    /// How many of them are the shipped corpus's public clips.
    pub shipped_sources: usize,
    /// Its accuracy on each source left out in turn; its `rms_ln_error` is a prediction's
    /// uncertainty.
    pub leave_one_out: SizeAccuracy,
    /// The sources, for `plan --explain`.
    pub observations: Vec<SizeObservation>,
}

/// A predicted size: the estimate and its plausible range (about 80% of sources fall inside).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SizeEstimate {
    /// Expected size, percent of the source.
    pub percent: f64,
    /// The optimistic end (smaller).
    pub low_percent: f64,
    /// The pessimistic end (larger).
    pub high_percent: f64,
}

impl SizeModel {
    /// Fit on `points`; `None` with fewer than [`MIN_SIZE_SOURCES`] sources bracketing the
    /// target (a plan then falls back to the codec table).
    pub fn fit(
        points: &[TuningPoint],
        encoder: &str,
        preset: &str,
        stat: TargetStat,
        target: f64,
    ) -> Option<Self> {
        let obs = size_observations(points, encoder, preset, stat, target);
        if obs.len() < MIN_SIZE_SOURCES {
            return None;
        }
        let coefficients = fit_size(&obs)?;
        let pairs: Vec<(f64, f64)> = (0..obs.len())
            .filter_map(|i| {
                let rest: Vec<SizeObservation> = obs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, o)| o.clone())
                    .collect();
                let beta = fit_size(&rest)?;
                let o = &obs[i];
                Some((
                    predict_ln(&beta, o.bits_per_pixel, o.height).exp(),
                    o.percent,
                ))
            })
            .collect();
        let leave_one_out = accuracy(&pairs)?;
        Some(Self {
            encoder: encoder.to_string(),
            preset: preset.to_string(),
            stat,
            target,
            coefficients,
            sources: obs.len(),
            shipped_sources: obs.iter().filter(|o| o.shipped).count(),
            leave_one_out,
            observations: obs,
        })
    }

    /// The model a plan uses: fitted on the store's own points and the shipped corpus.
    pub fn for_plan(
        own: Vec<TuningPoint>,
        encoder: &str,
        preset: &str,
        stat: TargetStat,
        target: f64,
    ) -> Option<Self> {
        Self::fit(&with_shipped(own), encoder, preset, stat, target)
    }

    /// The expected size of a file with this bits per pixel and height.
    pub fn predict(&self, bits_per_pixel: f64, height: u32) -> SizeEstimate {
        let ln = predict_ln(&self.coefficients, bits_per_pixel, height);
        // 1.28 standard deviations: 80% of sources inside, 10% above the pessimistic end.
        let spread = 1.28 * self.leave_one_out.rms_ln_error;
        SizeEstimate {
            percent: ln.exp(),
            low_percent: (ln - spread).exp(),
            high_percent: (ln + spread).exp(),
        }
    }

    /// The sources nearest to a file (by the model's terms), for explaining an estimate.
    pub fn neighbours(&self, bits_per_pixel: f64, height: u32, n: usize) -> Vec<&SizeObservation> {
        let x = size_terms(bits_per_pixel, height);
        let mut by: Vec<(f64, &SizeObservation)> = self
            .observations
            .iter()
            .map(|o| {
                let y = size_terms(o.bits_per_pixel, o.height);
                ((x[1] - y[1]).powi(2) + (x[2] - y[2]).powi(2), o)
            })
            .collect();
        by.sort_by(|a, b| a.0.total_cmp(&b.0));
        by.into_iter().take(n).map(|(_, o)| o).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points of one source: sizes and scores falling with the knob as `percent0 * 0.8^k`.
    fn source(i: usize, bpp: f64, height: u32, percent0: f64) -> Vec<TuningPoint> {
        let base: TuningPoint = serde_json::from_str(
            super::super::shipped::shipped_points()
                .first()
                .map(|p| serde_json::to_string(p).unwrap())
                .unwrap()
                .as_str(),
        )
        .unwrap();
        (0..6)
            .map(|k| {
                let mut p = base.clone();
                p.origin = "search".into();
                p.source_fingerprint = format!("src{i}");
                p.encoder = "libx264".into();
                p.preset = "medium".into();
                p.features.bits_per_pixel = bpp;
                p.features.height = height;
                p.height = height;
                p.knob = 20.0 + 4.0 * k as f64;
                p.percent = percent0 * 0.8f64.powi(k);
                p.vmaf_mean = 100.0 - 3.0 * k as f64;
                p
            })
            .collect()
    }

    #[test]
    fn sizes_at_the_target_are_read_off_each_curve_and_fitted() {
        // The size at VMAF 94 (two knob steps in) follows ln(size) = 3 + 0.5 ln(bpp).
        let truth = |bpp: f64| (3.0 + 0.5 * bpp.ln()).exp();
        let mut points = Vec::new();
        for (i, bpp) in [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2].into_iter().enumerate() {
            points.extend(source(i, bpp, 1080, truth(bpp) / 0.64));
        }
        let obs = size_observations(&points, "libx264", "medium", TargetStat::Mean, 94.0);
        assert_eq!(obs.len(), 7);
        for o in &obs {
            assert!((o.percent - truth(o.bits_per_pixel)).abs() < 1e-6, "{o:?}");
        }
        let m = SizeModel::fit(&points, "libx264", "medium", TargetStat::Mean, 94.0).unwrap();
        assert!(
            (m.coefficients[0] - 3.0).abs() < 0.05,
            "{:?}",
            m.coefficients
        );
        assert!(
            (m.coefficients[1] - 0.5).abs() < 0.05,
            "{:?}",
            m.coefficients
        );
        assert!(m.leave_one_out.rms_ln_error < 0.05, "{:?}", m.leave_one_out);
        assert!(m.leave_one_out.rank_correlation > 0.99);
        let e = m.predict(0.3, 1080);
        assert!((e.percent - truth(0.3)).abs() / truth(0.3) < 0.05, "{e:?}");
        assert!(e.low_percent <= e.percent && e.percent <= e.high_percent);
        // A target no source brackets: no observations, no model.
        assert!(SizeModel::fit(&points, "libx264", "medium", TargetStat::Mean, 100.5).is_none());
        // Too few sources: no model either (the plan falls back to the codec table).
        let few: Vec<TuningPoint> = points
            .iter()
            .filter(|p| p.source_fingerprint.as_str() < "src4")
            .cloned()
            .collect();
        assert!(SizeModel::fit(&few, "libx264", "medium", TargetStat::Mean, 94.0).is_none());
    }

    #[test]
    fn rank_correlation_is_spearmans() {
        let table: [(&[f64], &[f64], f64); 4] = [
            (&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0], 1.0),
            (&[1.0, 2.0, 3.0], &[30.0, 20.0, 10.0], -1.0),
            (&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0], 0.8),
            (&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0], 0.0),
        ];
        for (a, b, want) in table {
            assert!((spearman(a, b) - want).abs() < 1e-9, "{a:?} {b:?}");
        }
    }
}
