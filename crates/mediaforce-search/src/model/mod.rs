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

mod carry;
mod fit;
mod saving;
mod shipped;

pub use carry::*;
pub use fit::*;
pub use saving::*;
pub use shipped::*;

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

    /// The model for what `cfg` searches: its encoder (by adapter id), its preset (the
    /// adapter's default when it names none), statistic and target; `None` as for
    /// [`KnobModel::for_search`].
    pub fn for_config(own: Vec<TuningPoint>, cfg: &crate::search::SearchConfig) -> Option<Self> {
        let adapter = crate::codecs::find(&cfg.encoder).ok();
        let encoder = adapter.as_ref().map_or(cfg.encoder.as_str(), |a| a.id());
        let preset = cfg.preset.clone().unwrap_or_else(|| {
            adapter
                .as_ref()
                .map(|a| a.default_preset().to_string())
                .unwrap_or_default()
        });
        Self::for_search(own, encoder, &preset, cfg.stat, cfg.target)
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
mod tests;
