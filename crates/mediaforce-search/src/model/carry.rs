//! Borrowing sources across presets: a preset measured on few clips maps another preset's
//! knobs onto its own, fitted on the clips both were measured on, or interpolated between presets.

use super::fit::*;
use crate::point::TuningPoint;
use crate::stat::TargetStat;
use serde::Serialize;

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
pub(super) fn interpolated(
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
