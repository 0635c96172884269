//! The pure step of the search: which knob value to probe next.

use crate::codecs::{self, Better};

use super::config::SearchConfig;
use super::report::Probe;

/// One measured point of a search: a knob value and the figure steered by there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Knob value.
    pub knob: f64,
    /// The figure steered by (see [`SearchConfig::score_of`]).
    pub score: f64,
}

impl Point {
    pub(super) fn of(p: &Probe) -> Self {
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
    pub(super) knob: codecs::Knob,
    pub(super) lo: f64,
    pub(super) hi: f64,
}

impl Axis {
    pub(super) fn new(knob: codecs::Knob, cfg: &SearchConfig) -> Self {
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

    pub(super) fn to_u(self, value: f64) -> f64 {
        if self.knob.better == Better::Lower {
            -value
        } else {
            value
        }
    }

    pub(super) fn knob_at(self, u: f64) -> f64 {
        self.to_u(u)
    }

    /// Round to the knob's step and clamp to the allowed range.
    pub(super) fn snap(self, value: f64) -> f64 {
        ((value / self.knob.step).round() * self.knob.step).clamp(self.lo, self.hi)
    }
}

/// VMAF points per oriented knob unit around `from`: measured against another probe when there
/// is one, else the adapter's typical figure ([`codecs::Knob::vmaf_per_unit`]).
pub(super) fn slope_at(
    probes: &[Point],
    from: &Point,
    knob: &codecs::Knob,
    to_u: impl Fn(f64) -> f64,
) -> f64 {
    probes
        .iter()
        .filter(|p| p.knob != from.knob)
        .map(|p| (p.score - from.score) / (to_u(p.knob) - to_u(from.knob)))
        .find(|s| s.is_finite() && *s > 0.01)
        .unwrap_or(knob.vmaf_per_unit.max(0.01))
}

/// How far (in oriented knob units) to move from a one-sided point to reach `aim`: at least one
/// step, at most a quarter of the knob's range.
pub(super) fn jump(
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
